"""Plotting code of the two_step notebooks on the 2-D function 1/2 (xy - mu)^2 and the stable sets.

Conventions and references: see :mod:`eoslib.papers.two_step.plots`.
"""

from __future__ import annotations

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from eoslib import gd
from eoslib.papers.two_step import product_2d as p2
from eoslib.papers.two_step import quartic as qu
from eoslib.papers.two_step import stable_sets as ss

__all__ = ["figure_3", "figure_7", "proposition_3", "proposition_5", "proposition_6", "theorem_3"]


def _xy_quadrant(ax: plt.Axes, title: str) -> None:
    """Frame a panel of the (x, y) plane: [0, 2.2]^2 at equal aspect (it holds xy = 1 and x = y)."""
    ax.set_xlim(0, 2.2)
    ax.set_ylim(0, 2.2)
    ax.set_aspect("equal")
    ax.set_xlabel("$x$")
    ax.set_ylabel("$y$")
    ax.set_title(title)


def figure_3(GX, GY, S, align, traj, proj, first_flat: int, eta_a: float, eta_b: float, x0: float, y0: float) -> plt.Figure:
    """Figure 3: log10 |grad L . u| / |grad L| where S <= 2/eta, with the set M, for eta_a (a) and eta_b (b) with GD.

    Args:
      GX, GY, S, align: the grid, the top eigenvalue and the alignment on it.
      traj, proj: GD iterates in (b) and their projections onto the arc; first_flat: first step with S <= 2/eta.
      eta_a, eta_b, x0, y0: the panels' steps and the start.
    """
    last = traj[-1]
    S_last = float(ss.stable_set_2d(last[0], last[1])[0])
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 5.6))
    tt = np.linspace(1 / 3, 3, 400)
    for ax, eta, label in ((axes[0], eta_a, "(a)"), (axes[1], eta_b, "(b)")):
        val = np.log10(np.clip(align, 1e-8, 1))
        val = np.where(S <= 2 / eta, val, np.nan)
        ax.set_facecolor("0.85")
        pc = ax.pcolormesh(GX, GY, val, cmap="viridis", vmin=-8, vmax=0, shading="auto")
        ax.plot(tt, 1 / tt, "--", color="0.3", lw=1, label="minima $xy=1$")
        seg = np.linspace(0, 1 / np.sqrt(2), 50)
        ax.plot(seg, seg, color="C2", lw=4, label=r"$\mathcal{M}$: $x=y<1/\sqrt{2}$")
        a_ = ss.stable_arc(eta)
        if a_ is not None:
            ta = np.linspace(a_[0], a_[1], 100)
            ax.plot(ta, 1 / ta, color="C1", lw=4, label=r"$\mathcal{M}$: minima with $S\leq2/\eta$")
        ax.set_xlim(-0.1 if label == "(a)" else -0.6, 3)
        ax.set_ylim(-0.1 if label == "(a)" else -0.6, 3)
        ax.set_aspect("equal")
        ax.set_xlabel("$x$")
        ax.set_ylabel("$y$")
        ax.set_title(f"{label} $\\eta$={eta:g}" + (": no minimiser in $\\mathcal{M}$" if a_ is None else ""))
    ax = axes[1]
    ax.plot(traj[:40, 0], traj[:40, 1], "-o", color="C3", ms=3, lw=0.7, label=f"GD from ({x0:g}, {y0:g}), 40 steps")
    for k in range(max(first_flat, 1)):
        ax.plot([traj[k, 0], proj[k, 0]], [traj[k, 1], proj[k, 1]], ":", color="k", lw=0.8)
    ax.plot(proj[0, 0], proj[0, 1], "D", color="k", ms=6, label="projection of the early iterates")
    ax.plot(last[0], last[1], "*", color="w", mec="k", ms=15, label=f"GD limit, S={S_last:.3f}")
    axes[0].legend(loc="upper right", fontsize=7)
    ax.legend(loc="upper right", fontsize=7)
    fig.colorbar(pc, ax=axes, label=r"$\log_{10}\,|\nabla L\cdot u|/|\nabla L|$ (where $S\leq2/\eta$)", shrink=0.8)
    return fig


def figure_7(runs: dict, limits: dict, K_a: float, K_b: float, pred_b: float, x0: float, y0: float, num_steps: int) -> plt.Figure:
    """Figure 7: x_t, y_t and |x_t - y_t| with the predicted decay, for the period-2 (a) and period-4 (b) runs.

    Args:
      runs: ``{K: iterates (T + 1, 2)}``; limits: ``{K: orbit points}``; K_a, K_b: the panels' K.
      pred_b: the 4-cycle's four-step imbalance factor; x0, y0: the start; num_steps: the run length.
    """
    fig, axes = plt.subplots(2, 2, figsize=(12, 7), height_ratios=[1.2, 1])
    show = min(num_steps, 120)
    for col, (K, label, every, rate) in enumerate(((K_a, "(a)", 2, p2.imbalance_rate(K_a)), (K_b, "(b)", 4, pred_b))):
        p = runs[K]
        t = np.arange(p.shape[0])
        ax = axes[0, col]
        ax.plot(t[:show], p[:show, 0], "-o", ms=2.5, lw=0.7, label="$x_t$")
        ax.plot(t[:show], p[:show, 1], "-s", ms=2.5, lw=0.7, label="$y_t$")
        for v in limits[K]:
            ax.axhline(v, color="0.4", ls="--", lw=0.6)
        ax.set_xlabel("step $t$")
        ax.set_ylabel("parameter value")
        ax.set_title(f"{label} K={K:g}: period {len(limits[K])}, start ({x0:g}, {y0:g})")
        ax.legend(loc="lower right")
        ax = axes[1, col]
        imb = np.abs(p[:, 0] - p[:, 1])
        ok = imb > 0
        ax.semilogy(t[ok][: show * 3], imb[ok][: show * 3], ".", ms=3, label="$|x_t-y_t|$")
        anchor = int(np.argmax(imb < 1e-4))
        tt = np.arange(anchor, min(anchor + 200, t.size))
        lab = "$(3-2K)^{t/2}$" if every == 2 else r"$\left[\prod_i(1+K(c_i^2-1))\right]^{t/4}$"
        ax.semilogy(tt, imb[anchor] * rate ** ((tt - anchor) / every), "k--", lw=1, label=lab)
        ax.set_ylim(1e-17, 10)
        ax.set_xlabel("step $t$")
        ax.set_ylabel(r"$|x_t-y_t|$")
        ax.legend(loc="upper right")
    return fig


def proposition_3(K: float, mu: float, K_r, st, keep, K_b, st_b, kb) -> plt.Figure:
    """Proposition 3: (a) trajectories in the plane, (b) balancing then the orbit, (c) end points vs K.

    Args:
      K, mu: the headline runs' K and target.
      K_r, st, keep: K, :class:`~eoslib.papers.two_step.product_2d.BalancingStats` and "stayed positive" of
        the random runs in the range; K_b, st_b, kb: the same beyond sqrt(4.5) - 1.
    """
    f2d = p2.product_2d(mu)
    d1, d2 = qu.orbit_deltas(K / mu, mu)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4))
    ax = axes[0]
    xx = np.linspace(0.05, 2.2, 300)
    ax.plot(xx, mu / xx, color="0.5", lw=1, label=r"minima $xy=\mu$")
    ax.plot([0, 2.2], [0, 2.2], color="0.7", lw=0.8, ls=":")
    for x0 in ([0.2, 1.0], [0.1, 0.5], [0.5, 1.5], [1.4, 0.6]):
        tr = gd.gd_trajectory(f2d, jnp.asarray(x0) * np.sqrt(mu), K / mu, 60)
        p = np.asarray(tr.params)
        ax.plot(p[:, 0], p[:, 1], "-o", ms=2, lw=0.6, alpha=0.8, label=f"from {tuple(x0)}")
    ax.plot([d1, d2], [d1, d2], "k*", ms=12, label=r"$(\delta_i,\delta_i)$")
    _xy_quadrant(ax, f"(a) first 60 steps, K={K:g}")
    ax.legend(fontsize=7, loc="upper right")

    ax = axes[1]
    tr = gd.gd_trajectory(f2d, jnp.asarray([0.2, 1.0]) * np.sqrt(mu), K / mu, 400)
    p = np.asarray(tr.params)
    orbit_pts = np.array([[d1, d1], [d2, d2]])
    dist = np.min(np.linalg.norm(p[:, None, :] - orbit_pts[None], axis=2), axis=1)
    ax.semilogy(np.maximum(np.abs(p[:, 0] - p[:, 1]), 1e-17), label=r"$|x_t-y_t|$")
    ax.semilogy(np.maximum(dist, 1e-17), label="distance to nearest orbit point")
    ax.semilogy(np.arange(400), 0.5 * (3 - 2 * K) ** (np.arange(400) / 2), "k:", lw=1, label=r"$(3-2K)^{t/2}$")
    ax.set_ylim(1e-17, 10)
    ax.set_xlabel("step $t$")
    ax.set_title("(b) balancing, then the orbit, from (0.2, 1.0)")
    ax.legend(loc="upper right")

    ax = axes[2]
    kk = np.linspace(1.001, qu.K_FLIP, 200)
    e1, e2 = qu.orbit_deltas(kk, 1.0)
    ax.plot(kk, e1, "k-", lw=1, label=r"$\delta_{1,2}(K)$")
    ax.plot(kk, e2, "k-", lw=1)
    ax.plot(K_r[keep], st.final_x[keep], ".", ms=2, label="random runs, end point")
    ax.plot(K_b[kb], st_b.final_x[kb], ".", ms=2, color="C1", label=r"beyond $\sqrt{4.5}-1$")
    ax.axvline(qu.K_MONOTONE, color="C2", ls="--", lw=0.8, label=r"$\sqrt{4.5}-1$")
    ax.set_xlabel(r"$K=\eta\mu$")
    ax.set_ylabel(r"$x_T$ ($=y_T$)")
    ax.set_title(r"(c) end points, $\mu=1$")
    ax.legend(loc="upper left", fontsize=7)
    return fig


def proposition_5(etas, tail, end: float, eta_gd: float) -> plt.Figure:
    """Proposition 5: (a) the two conditions defining M for 1/4 (x^2 - 1)^2, (b) GD beyond vs below the EoS.

    Args:
      etas: the step sizes drawn as 2/eta levels; tail: the GD 2-cycle at eta_gd; end: the limit at eta = 0.9.
    """
    def f(z):
        return 0.25 * (z**2 - 1.0) ** 2

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9))
    xs = np.linspace(0.01, 1.6, 400)
    axes[0].plot(xs, 3 * xs**2 - 1, "k", label=r"$S(x)=f''(x)=3x^2-1$")
    for j, eta in enumerate(etas):
        axes[0].axhline(2 / eta, color=f"C{j}", ls="--", lw=1, label=rf"$2/\eta$, $\eta$={eta:g}")
    axes[0].axvline(1.0, color="0.4", ls=":", lw=1, label=r"$f'(x)=0$")
    axes[0].plot([1.0], [2.0], "ko", ms=6)
    axes[0].set_ylim(-1.2, 4.5)
    axes[0].set_xlabel("$x$")
    axes[0].set_ylabel("sharpness")
    axes[0].set_title(r"(a) $\mathcal{M}$ = {$f'=0$, $S\leq 2/\eta$}: $x=1$ only if $\eta\leq 1$")
    axes[0].legend(loc="lower right", ncol=2, fontsize=7)
    axes[1].plot(xs, f(xs), "k")
    axes[1].plot(tail, f(tail), "o", color="C1", ms=7, label=f"2-cycle of GD, $\\eta$={eta_gd:g} (not in $\\mathcal{{M}}$)")
    axes[1].plot([end], [f(end)], "*", color="C0", ms=12, label=r"limit of GD, $\eta$=0.9 (in $\mathcal{M}$)")
    axes[1].set_xlim(0.8, 1.2)
    axes[1].set_ylim(-0.001, 0.012)
    axes[1].set_xlabel("$x$")
    axes[1].set_ylabel(r"$f(x)=\frac{1}{4}(x^2-1)^2$")
    axes[1].set_title("(b) GD beyond vs below the EoS")
    axes[1].legend(loc="upper center")
    return fig


def proposition_6(lo: float, hi: float, P, eta: float) -> plt.Figure:
    """Proposition 6: the stable set of 1/2 (xy - 1)^2 in the plane, with the arc and a GD run.

    Args:
      lo, hi: the arc's x-range; P: the GD iterates ``(T + 1, 2)``; eta: the step.
    """
    xe, ye = P[-1]
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    xx = np.linspace(0.3, 3.0, 400)
    ax.plot(xx, 1 / xx, color="0.6", lw=1.5, label="minima $xy=1$")
    xa = np.linspace(lo, hi, 200)
    ax.plot(xa, 1 / xa, color="C0", lw=4, label=rf"$\mathcal{{M}}\cap\{{xy=1\}}$, x in [{lo:.3f}, {hi:.3f}]")
    d = np.linspace(0.0, 1 / np.sqrt(2), 50)
    ax.plot(d, d, "--", color="C2", lw=2, label=r"$\mathcal{M}$ off the minima: $x=y<1/\sqrt{2}$")
    ax.plot(P[:60, 0], P[:60, 1], "o-", ms=3, lw=0.6, color="C1", label=f"GD, $\\eta$={eta:g}")
    ax.plot([xe], [ye], "*", color="C3", ms=12, label="GD limit")
    _xy_quadrant(ax, rf"Stable set of $\frac{{1}}{{2}}(xy-1)^2$ at $\eta$={eta:g}")
    ax.legend(loc="upper right", fontsize=7)
    return fig


def theorem_3(rate_Ks, K_r, late_ratio, keep, prods, imbs, positive, d_star, examples, examples_positive,
              lemma_K: float) -> plt.Figure:
    """Theorem 3 and Lemma 2: (a) imbalance along P, (b) late two-step ratios, (c) the positivity map.

    Args:
      rate_Ks: K of the deterministic runs from (0.2, 1.0) (mu = 1).
      K_r, late_ratio, keep: K, late ratio and "stayed positive" of the random runs.
      prods, imbs, positive: the grid of x0 y0 and |x0 - y0| and the positivity map on it.
      d_star: the empirical bound per product; examples, examples_positive: the four marked starts.
      lemma_K: K of the map.
    """
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4))
    ax = axes[0]
    for K in rate_Ks:
        xy = np.asarray(gd.gd_trajectory(p2.product_2d(1.0), jnp.asarray([0.2, 1.0]), K, 300).params)
        imb = np.abs(xy[:, 0] - xy[:, 1])
        t = np.arange(xy.shape[0])
        ok = (xy[:, 0] * xy[:, 1] > 1) & (imb > 1e-15)
        line, = ax.semilogy(t[ok], imb[ok], "o", ms=2.5, label=f"K={K:g}")
        t0 = t[ok][3]
        ax.semilogy(t[t >= t0], imb[t0] * (3 - 2 * K) ** ((t[t >= t0] - t0) / 2), ":", color=line.get_color(), lw=1)
    ax.set(ylim=(1e-17, 10), xlabel="step $t$ (in $P$)", ylabel=r"$|x_t-y_t|$",
           title="(a) imbalance along $P$, start (0.2, 1.0)")
    ax.legend(loc="upper right")

    ax = axes[1]
    ok = keep & np.isfinite(late_ratio)
    ax.plot(K_r[ok], late_ratio[ok], ".", ms=2, alpha=0.6, label=f"{ok.sum()} positive runs")
    kk = np.linspace(1, 1.5, 50)
    ax.plot(kk, 3 - 2 * kk, "k-", lw=1, label="$3-2K$")
    ax.axvline(qu.K_FLIP, color="C1", ls="--", lw=0.8, label=r"$\sqrt{5}-1$")
    ax.set_xlabel(r"$K=\eta\mu$")
    ax.set_ylabel(r"late $|x-y|_t/|x-y|_{t-2}$")
    ax.set_title("(b) two-step contraction of the imbalance")
    ax.legend(loc="lower left")

    ax = axes[2]
    PP, DD = np.meshgrid(prods, imbs, indexing="ij")
    ax.pcolormesh(PP, DD, positive.astype(float), cmap="RdYlBu", vmin=-0.3, vmax=1.3, shading="auto")
    fin = np.isfinite(d_star)
    ax.plot(prods[fin], d_star[fin], "k-", lw=1, label="empirical bound $d^*$")
    for (x0_, y0_), pos_ in zip(examples, examples_positive):
        ax.plot(x0_ * y0_, abs(x0_ - y0_), "*" if pos_ else "X", ms=10, color="k", mfc="w" if pos_ else "k")
    ax.plot([], [], "*", color="k", mfc="w", ms=9, label="example: stays positive")
    ax.plot([], [], "X", color="k", ms=9, label="example: loses positivity")
    ax.set_xlabel(r"$x_0y_0$")
    ax.set_ylabel(r"$|x_0-y_0|$")
    ax.set_title(f"(c) Lemma 2: positive (blue) vs not (red), K={lemma_K:g}")
    ax.legend(loc="upper right", fontsize=7)
    return fig
