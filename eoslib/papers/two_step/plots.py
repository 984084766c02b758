"""Plotting code of the two_step notebooks on 1-D functions: one function per figure, returning it.

The notebooks compute and check; these functions only draw what they are given (and, where a
panel needs a short illustrative run that no check depends on, run it through :mod:`eoslib.gd`).
Each returns a :class:`matplotlib.figure.Figure` for :func:`eoslib.plotting.save_figure`.

References:
  L. Chen and J. Bruna, "Beyond the Edge of Stability via Two-step Gradient Updates",
  ICML 2023, arXiv:2206.04172.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from eoslib import gd, orbits
from eoslib.losses import product_stability
from eoslib.papers.two_step import base_models as bm
from eoslib.papers.two_step import one_d as od
from eoslib.papers.two_step import quartic as qu

__all__ = ["corollaries", "figure_12", "figure_13", "figure_4", "lemma_1", "proposition_1",
           "proposition_2", "theorem_1", "theorem_2"]


def corollaries(results: dict, samples: dict, gd_factor: float, gd_offset: float) -> plt.Figure:
    """Corollaries 2-8: C(y) per base model (autodiff dots over the closed form) and GD at the sample targets.

    Args:
      results: ``{row: (model, ys, C_autodiff, closed_form, f_at_sample, eta)}``.
      samples: ``{row: sample target y}``.
      gd_factor: GD step in units of 2/f''; gd_offset: GD start offset.
    """
    fig, axes = plt.subplots(2, 5, figsize=(15, 6))
    for ax, (row, (model, ys, c_auto, c_form, f, _)) in zip(axes.flat, results.items()):
        fine = np.linspace(ys[0], ys[-1], 400)
        ax.plot(fine, c_form(fine), color="0.3", lw=1.2)
        ax.plot(ys, c_auto, "o", ms=3, color="C0")
        ax.plot([samples[row]], [float(product_stability(f))], "*", ms=11, color="C1")
        ax.set_yscale("log")
        ax.set_title(f"{row}: $g={model.latex}$", fontsize=9)
        ax.set_xlabel("target $y$")
    axes[0, 0].set_ylabel(r"$\mathcal{C}(y)$")
    axes[1, 0].set_ylabel(r"$\mathcal{C}(y)$")
    ax = axes.flat[-1]
    for row, (_, _, _, _, f, eta) in results.items():
        tr = gd.gd_trajectory(f.fn, np.asarray(f.z_star - gd_offset), eta, 400)
        dist = np.abs(np.asarray(tr.params) - f.z_star)
        ax.semilogy(np.arange(0, 401, 2), dist[::2], lw=1, label=row.replace("Corollary", "Cor"))  # one branch
    ax.set_ylim(2e-3, 0.5)
    ax.set_xlabel("step $t$ (even)")
    ax.set_ylabel(r"$|x_t-\bar x|$")
    ax.set_title(f"GD at {gd_factor:g} x EoS", fontsize=9)
    ax.legend(fontsize=6, loc="lower right", ncol=2)
    return fig


def figure_12(K_two: float, K_four: float, two, four, tail_two, tail_four, m2: float, m2u: float, x0: float, show_steps: int) -> plt.Figure:
    """Figure 12: (a) GD iterates at the two K, (b) cobwebs of the last iterates, (c) the 2-cycle multiplier vs K.

    Args:
      K_two, K_four: the two steps; two, four: their orbits; tail_two, tail_four: the last GD iterates.
      m2, m2u: the 2-cycle multiplier at K_two and K_four; x0, show_steps: the run drawn in (a).
    """
    q = od.quartic(1.0)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.3))
    ax = axes[0]
    for K, pts, col in ((K_two, two, "C0"), (K_four, np.sort(four), "C1")):
        xs = np.asarray(gd.gd_trajectory(q.fn, jnp.asarray(x0), K, show_steps).params)
        ax.plot(xs, "-o", ms=2.5, lw=0.7, color=col, label=f"K={K:g} (period {len(pts)})")
        for p in pts:
            ax.axhline(p, color=col, ls="--", lw=0.6)
    ax.set_xlabel("step $t$")
    ax.set_ylabel("$x_t$")
    ax.set_title("(a) GD iterates")
    ax.legend(loc="lower right")

    ax = axes[1]
    grid = np.linspace(0.5, 1.25, 300)
    ax.plot(grid, grid, color="0.6", lw=0.8, label="$y=x$")
    for K, tail, col in ((K_two, tail_two, "C0"), (K_four, tail_four, "C1")):
        ax.plot(grid, grid - K * grid * (grid**2 - 1), color=col, lw=1, label=f"$F$ at K={K:g}")
        cx, cy = [tail[0]], [tail[0]]
        for a, b in zip(tail[:-1], tail[1:]):
            cx += [a, b]
            cy += [b, b]
        ax.plot(cx, cy, "-", color=col, lw=1.6, alpha=0.8)
    ax.set_xlim(0.5, 1.25)
    ax.set_ylim(0.5, 1.25)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_t$")
    ax.set_ylabel("$x_{t+1}$")
    ax.set_title("(b) cobweb of the last iterates")
    ax.legend(loc="lower right", fontsize=7)

    ax = axes[2]
    Kg = np.linspace(1.0, 1.3, 200)
    ax.plot(Kg, 9 - 2 * (1 + Kg) ** 2, color="0.2", label="$9-2(1+K)^2$")
    ax.axhline(-1, color="k", lw=0.8)
    ax.axvline(qu.K_FLIP, color="C3", ls=":", label=r"$\sqrt{5}-1$")
    ax.plot([K_two, K_four], [m2, m2u], "o", color="C2", ms=7, label="Newton + autodiff")
    ax.set_xlabel(r"$K=\eta\mu$")
    ax.set_ylabel("2-cycle multiplier")
    ax.set_title("(c) loss of stability of the 2-cycle")
    ax.legend(loc="lower left")
    return fig


def figure_13(nodes: dict, edges, corollaries, width: float, height: float) -> plt.Figure:
    """Figure 13: the roadmap diagram, boxes of catalog items joined by arrows.

    Args:
      nodes: ``{key: (x, y, heading, items)}`` in axes coordinates; edges: ``[(from_key, to_key)]``.
      corollaries: the item names shown together as "Corollaries 1-8"; width, height: figure size in inches.
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(0, 1.0)
    ax.set_ylim(0.05, 1.0)
    ax.axis("off")
    box_w, box_h = 0.25, 0.26
    for x, y, heading, items in nodes.values():
        ax.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h, boxstyle="round,pad=0.01",
                                    fc="#E8F1FA", ec="0.3", lw=1.2))
        ax.text(x, y + 0.03, heading, ha="center", va="center", fontsize=9)
        shown = ", ".join(items).replace(", ".join(corollaries), "Corollaries 1-8")
        ax.text(x, y - 0.08, shown, ha="center", va="center", fontsize=7, color="0.3")

    def ends(a, b):
        """Arrow from box a to box b: side to side, top to bottom, or (diagonal) side to bottom."""
        (x, y, *_), (tx, ty, *_) = nodes[a], nodes[b]
        sx, sy = np.sign(tx - x), np.sign(ty - y)
        gap_x, gap_y = box_w / 2 + 0.012, box_h / 2 + 0.015
        if sy == 0:
            return (x + sx * gap_x, y), (tx - sx * gap_x, ty)
        if sx == 0:
            return (x, y + sy * gap_y), (tx, ty - sy * gap_y)
        return (x + sx * gap_x, y + sy * box_h / 4), (tx - sx * box_w / 4, ty - sy * gap_y)

    for a, b in edges:
        start, end = ends(a, b)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color="0.25", lw=1.2))
    ax.set_title("Roadmap of Chen and Bruna (2023): how the results build on each other")
    return fig


def figure_4(functions, orbits_found: dict, eta: float, start_offset: float, show_steps: int) -> plt.Figure:
    """Figure 4: GD iterates on the graph of each 1-D function, and against time.

    Args:
      functions: ``[(f, title)]``; orbits_found: ``{f.name: the two orbit points}``.
      eta, start_offset, show_steps: the run and how many iterates to draw.
    """
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.4), height_ratios=[1.4, 1])
    for col, (f, title) in enumerate(functions):
        tr = gd.gd_trajectory(f.fn, jnp.asarray(f.z_star - start_offset), eta, max(show_steps, 200))
        xs = np.asarray(tr.params)
        ax = axes[0, col]
        lo, hi = f.z_star - 1.6 * start_offset, f.z_star + 1.6 * start_offset
        grid = np.linspace(lo, hi, 400)
        fv = np.asarray(jax.vmap(f.fn)(jnp.asarray(grid)))
        ax.plot(grid, fv, color="0.35", lw=1.2, label="$f$")
        s = ax.scatter(xs[:show_steps], np.asarray(jax.vmap(f.fn)(jnp.asarray(xs[:show_steps]))), c=np.arange(show_steps),
                       s=14, zorder=3, label=f"GD, steps 0-{show_steps - 1}")
        pts = orbits_found[f.name]
        ax.plot(pts, np.asarray(jax.vmap(f.fn)(jnp.asarray(pts))), "s", ms=9, mfc="none", mec="C1", mew=2, label="final 2-cycle")
        ax.axvline(f.z_star, color="0.6", ls=":", lw=1)
        ax.set_xlabel("$x$")
        ax.set_ylabel("$f(x)$")
        ax.set_title(f"({'ab'[col]}) {title}, $\\eta$={eta:g} (EoS 1)")
        ax.legend(loc="upper center", fontsize=7)
        fig.colorbar(s, ax=ax, label="step $t$")
        ax = axes[1, col]
        ax.plot(np.arange(xs.size), xs, "-o", ms=2, lw=0.6)
        for p in pts:
            ax.axhline(p, color="C1", ls="--", lw=0.8)
        ax.axhline(f.z_star, color="0.6", ls=":", lw=1)
        ax.set_xlabel("step $t$")
        ax.set_ylabel("$x_t$")
    return fig


def lemma_1(scaling: dict, gd_factor: float, gd_offset: float) -> plt.Figure:
    """Lemma 1: (a) the root's distance to the threshold vs eps; (b) GD on sin x settling on its 2-cycle.

    Args:
      scaling: ``{name: (eps, excess, exponent)}`` per function where the condition holds.
      gd_factor: GD step in units of the threshold 2; gd_offset: start offset from -pi/2.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    for name, (eps, excess, want) in scaling.items():
        line, = ax.loglog(eps, excess, "o-", ms=4, lw=1, label=f"{name} (slope {want})")
        ax.loglog(eps, excess[0] * (eps / eps[0]) ** want, ":", color=line.get_color(), lw=1)
    ax.set_xlabel(r"$\epsilon$")
    ax.set_ylabel(r"$\eta^*-2/f''$")
    ax.set_title("(a) root of $F^2_\\eta(x_0)=x_0$ vs $\\epsilon$")
    ax.legend(loc="lower right", fontsize=7)

    ax = axes[1]
    f = od.scaled_sine(1.0)
    eta = 2 * gd_factor
    xs = np.asarray(gd.gd_trajectory(f.fn, np.asarray(f.z_star - gd_offset), eta, 400).params)
    grid = np.linspace(f.z_star - 0.6, f.z_star + 0.6, 300)
    ax.plot(grid, np.sin(grid), color="0.3", lw=1.2, label=r"$f=\sin x$")
    pts = ax.scatter(xs, np.sin(xs), c=np.arange(xs.size), cmap="viridis", s=8, zorder=3, label="GD iterates")
    fig.colorbar(pts, ax=ax, label="step $t$")
    ax.plot(xs[-2:], np.sin(xs[-2:]), "s", color="C0", ms=8, label=f"final 2-cycle ({xs[-2]:.4f}, {xs[-1]:.4f})")
    ax.axvline(f.z_star, color="0.5", ls=":", lw=1)
    ax.set_xlabel("$x$")
    ax.set_ylabel("$f(x)$")
    ax.set_title(f"(b) GD on $\\sin x$ at $\\eta$={eta:g} (threshold 2)")
    ax.legend(loc="upper center", fontsize=7)
    return fig


def proposition_1(table, g1, g2, g3, c_rand, runs, gd_factor: float, gd_offset: float) -> plt.Figure:
    """Proposition 1: (a) C on the base models, (b) the sign rule on random cubics, (c) GD runs.

    Args:
      table: ``[(name, ys, C, margin)]`` per base model.
      g1, g2, g3: derivatives of the random cubic models at 0; c_rand: their C by autodiff.
      runs: ``[(f, condition_holds, eta)]`` of the GD section.
      gd_factor: GD step in units of 2/f''; gd_offset: GD start offset.
    """
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.2))
    ax = axes[0]
    for i, (name, ys, c, _) in enumerate(table):
        ax.plot(ys, c, marker="os^vDPX*h<>"[i % 11], ms=3.5, lw=1, color=f"C{i % 8}", ls="-" if i < 8 else "--",
                label=name)
    ax.set_yscale("symlog", linthresh=1e-2)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("target $y$")
    ax.set_ylabel(r"$\mathcal{C}=16g'^2(6g''^2-g'g''')$")
    ax.set_title("(a) base models")
    ax.legend(fontsize=6, ncol=2, loc="lower left")

    ax = axes[1]
    ratio = g1 * g3 / g2**2
    ax.scatter(np.clip(ratio, -50, 50), c_rand, s=3, c=np.where(c_rand > 0, "C0", "C1"))
    ax.set_xscale("symlog", linthresh=1)
    ax.set_yscale("symlog", linthresh=1e-2)
    ax.axvline(6, color="k", ls="--", lw=1, label=r"$g'g'''=6g''^2$")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel(r"$g'g'''/g''^2$ (clipped to $\pm50$)")
    ax.set_ylabel(r"$\mathcal{C}$ (autodiff)")
    ax.set_title(f"(b) {c_rand.size} random cubic models")
    ax.legend(loc="upper right")

    ax = axes[2]
    for f, holds, eta in runs:
        tr = gd.gd_trajectory(f.fn, np.asarray(f.z_star - gd_offset), eta, 600)
        k = int(tr.diverged_at) if tr.diverged else 601
        ax.semilogy(np.arange(601)[:k], np.abs(np.asarray(tr.params) - f.z_star)[:k], "-" if holds else "--", lw=1,
                    color="C0" if holds else "C1")
    ax.plot([], [], "-", color="C0", label="(iii) holds")
    ax.plot([], [], "--", color="C1", label="(iii) fails")
    ax.set_ylim(1e-3, 1e3)
    ax.set_xlabel("step $t$")
    ax.set_ylabel(r"$|x_t-\bar x|$")
    ax.set_title(f"(c) GD at {gd_factor:g} x EoS, random cubics")
    ax.legend(loc="upper left")
    return fig


def proposition_2(f, near: dict, mus, hc, gc, hyp, c_closed, gd_factor: float, gd_offset: float) -> plt.Figure:
    """Proposition 2: (a) GD on the counterexample, (b) nearest 2-cycle vs mu, (c) the cross term on random pairs.

    Args:
      f: the counterexample's loss (a ScalarLoss); near: ``{name: distance per mu}``; mus: the excesses.
      hc, gc: random derivative triples ``(n, 3)``; hyp: where Proposition 2's hypothesis holds;
      c_closed: their C by the chain rule. gd_factor, gd_offset: the GD run of (a).
    """
    d = od.derivatives_at(f)
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.2))
    ax = axes[0]
    xs = np.asarray(gd.gd_trajectory(f.fn, np.asarray(f.z_star - gd_offset), gd_factor * 2 / d[2], 300).params)
    grid = np.linspace(-0.7, 0.5, 400)
    ax.plot(grid, np.asarray(jax.vmap(f.fn)(jnp.asarray(grid))), color="0.3", lw=1.2, label=r"$(e^{g(x)}-1)^2$")
    pts = ax.scatter(xs, np.asarray(jax.vmap(f.fn)(jnp.asarray(xs))), c=np.arange(xs.size), s=8, zorder=3,
                     label="GD iterates")
    fig.colorbar(pts, ax=ax, label="step $t$")
    ax.set_xlabel("$x$")
    ax.set_ylabel("$f(x)$")
    ax.set_title(f"(a) counterexample, GD at {gd_factor:g} x EoS")
    ax.legend(loc="upper center")

    ax = axes[1]
    for name, dist in near.items():
        ax.loglog(mus, dist, "o-", label=name)
    ref = list(near.values())[-1]
    ax.loglog(mus, ref[0] * np.sqrt(np.asarray(mus) / mus[0]), "k:", lw=1, label=r"$\propto\sqrt{\mu}$")
    ax.set_xlabel(r"$\mu=\eta f''-2$")
    ax.set_ylabel(r"distance of nearest 2-cycle point to $\bar x$")
    ax.set_title("(b) is a small orbit born at the threshold?")
    ax.legend(loc="lower right")

    ax = axes[2]
    tt = bm.composition_margin_terms(hc.T, gc.T)
    pos_terms = tt[0] + tt[2]
    good, bad = hyp & (c_closed >= 0), hyp & (c_closed < 0)
    ax.scatter(pos_terms[good], tt[1][good], s=2, color="C0", alpha=0.4, label=r"$\mathcal{C}>0$")
    ax.scatter(pos_terms[bad], tt[1][bad], s=6, color="C1", label=r"$\mathcal{C}<0$")
    xx = np.geomspace(1e-2, pos_terms[hyp].max(), 50)
    ax.plot(xx, -xx, "k--", lw=1, label="$9ab=-$(sum of the two)")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-2)
    ax.set_xlabel("sum of the two Prop. 1 terms (each > 0)")
    ax.set_ylabel("cross term $9ab$")
    ax.legend(loc="upper left", markerscale=2)
    ax.set_title(f"(c) hypothesis holds: {float(np.mean(c_closed[hyp] < 0)):.1%} have C < 0 (orange)")
    return fig


def theorem_1(tests, flat, epsilons, eps_arr, rate_rows, gd_factor: float, gd_offset: float,
              show=("quartic_mu1", "(sin-0.5)^2", "(sigmoid-0.3)^2", "cubic_quartic_C-1", "(x^0.9-1)^2",
                    "quadratic")) -> plt.Figure:
    """Theorem 1: (a) G(eta) near the threshold in normal-form units, (b) the root's rate, (c) GD.

    Args:
      tests: ``[(f, C)]`` test functions with f''' != 0 and their stability numbers.
      flat: functions with f''' = 0 (shown in (c) only).
      epsilons: the |eps| values; (a) uses the first.
      eps_arr: |eps| sorted in decreasing order; rate_rows: ``[(name, rel_error(eps_arr))]``.
      gd_factor: GD step in units of 2/f''; gd_offset: GD start offset.
      show: the function names drawn in (c).
    """
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    ax = axes[0]
    for f, c in tests:
        d = od.derivatives_at(f)
        eps = epsilons[0] * np.sign(d[3])
        u = abs(c) * eps**2 / (3 * d[2] ** 3)
        grid = np.linspace(-3, 3, 241)
        G = od.two_step_residual(f, f.z_star - eps, 2 / d[2] + u * grid)
        ax.plot(grid, G / G[120], color="C0" if c > 0 else "C1", lw=1, alpha=0.8)
    ax.plot([], [], color="C0", label=rf"$\mathcal{{C}}>0$ ({sum(c > 0 for _, c in tests)} functions)")
    ax.plot([], [], color="C1", label=rf"$\mathcal{{C}}<0$ ({sum(c < 0 for _, c in tests)} functions)")
    ax.axhline(0, color="k", lw=0.8)
    ax.axvline(0, color="0.5", lw=0.8, ls=":")
    ax.set_xlabel(r"$(\eta-2/f'')\,/\,u$,  $u=|\mathcal{C}|\epsilon^2/(3f''^3)$")
    ax.set_ylabel(r"$G(\eta)/G(2/f'')$")
    ax.set_title(f"(a) $F^2_\\eta(x_0)-x_0$ near the threshold, $|\\epsilon|$={epsilons[0]:g}")
    ax.legend(loc="upper right")

    ax = axes[1]
    for _, rel in rate_rows:
        ax.loglog(eps_arr, rel, "o-", ms=3, lw=0.8)
    ax.loglog(eps_arr, 3 * eps_arr, "k--", lw=1.2, label=r"slope 1 ($3|\epsilon|$)")
    ax.set_xlabel(r"$|\epsilon|$")
    ax.set_ylabel(r"relative error of $\mathcal{C}\epsilon^2/(3f''^3)$")
    ax.set_title(f"(b) root vs normal form ({len(rate_rows)} functions)")
    ax.legend(loc="upper left")

    ax = axes[2]
    for f, c in list(tests) + [(g, float(product_stability(g))) for g in flat]:
        if f.name not in show:
            continue
        d = od.derivatives_at(f)
        T = 400
        tr = gd.gd_trajectory(f.fn, np.asarray(f.z_star - gd_offset), gd_factor * 2 / d[2], T)
        k = int(tr.diverged_at) if tr.diverged else T + 1
        ax.semilogy(np.arange(T + 1)[:k], np.abs(np.asarray(tr.params) - f.z_star)[:k],
                    ls="-" if c > 0 and f.name != "quadratic" else "--", lw=1, label=f"{f.name}, C={c:.3g}")
    ax.set_xlabel("step $t$")
    ax.set_ylabel(r"$|x_t-\bar x|$")
    ax.set_ylim(1e-3, 1e3)
    ax.set_title(f"(c) GD at {gd_factor:g} x EoS from $\\bar x-${gd_offset:g}")
    ax.legend(loc="upper right", fontsize=7)
    return fig


def theorem_2(sweep_err: dict, dp: dict, Ks, K_inf: float, num_steps: int, bif_K: tuple[float, float, int],
              bif_steps: int) -> plt.Figure:
    """Theorem 2: (a) approach to the orbit, (b) global sweep, (c) bifurcation diagram, (d) multipliers.

    Args:
      sweep_err: ``{(mu, K): (x0s, distance to the orbit)}`` of the global sweep.
      dp: ``{p: DoublingPoint}`` for p = 2, 4, 8, 16; Ks: the K of the Newton multipliers.
      K_inf: extrapolated accumulation point; num_steps: steps of the sweep.
      bif_K: ``(K_min, K_max, number)`` of the diagram; bif_steps: GD steps per K in it.
    """
    q1 = od.quartic(1.0)
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.4))
    ax = axes[0, 0]
    for K, ls in ((1.05, "-"), (1.2, "--")):
        xs = np.asarray(gd.gd_trajectory(q1.fn, np.asarray(0.5), K, 200).params)
        d1, d2 = qu.orbit_deltas(K, 1.0)
        even = xs[::2]
        side = even - d1 if abs(even[-1] - d1) < abs(even[-1] - d2) else even - d2
        ax.semilogy(np.arange(0, 201, 2)[5:], np.abs(side[5:]), ls,
                    label=f"K={K:g}, multiplier {qu.orbit_multiplier(K):+.3f}")
        sgn = np.sign(side[5:60])
        ax.plot(np.arange(0, 201, 2)[5:60][sgn < 0], np.abs(side[5:60])[sgn < 0], "v", ms=3, color="k", alpha=0.5)
    ax.plot([], [], "v", color="k", ms=3, label="below the orbit point")
    ax.set_xlabel("step $t$ (even)")
    ax.set_ylabel(r"$|x_t-\delta_i|$ (nearest orbit point)")
    ax.set_title(r"(a) approach to the orbit, $\mu=1$")
    ax.legend(loc="upper right")

    ax = axes[0, 1]
    for (mu, K), (x0s_, err) in sweep_err.items():
        ax.semilogy(x0s_ / np.sqrt(mu), np.maximum(err, 1e-17), lw=0.8, label=f"mu={mu:g}, K={K:g}")
    ax.axhline(1e-6, color="C3", lw=1, ls=":", label="criterion $10^{-6}$")
    ax.set_xlabel(r"$x_0/\sqrt{\mu}$")
    ax.set_ylabel(f"distance to orbit after {num_steps} steps")
    ax.set_title(f"(b) global convergence, {next(iter(sweep_err.values()))[0].size} starts per run")
    ax.legend(fontsize=6, ncol=2, loc="upper left")

    ax = axes[1, 0]
    K_b = np.linspace(*bif_K)
    tb = np.asarray(orbits.bifurcation_by_gd(qu.quartic_map(1.0), jnp.asarray(K_b), jnp.asarray(0.5), bif_steps, 64))
    ax.plot(np.repeat(K_b, 64), tb.ravel(), ",", color="k", alpha=0.5)
    Kd = np.linspace(1.0001, bif_K[1], 400)
    dd1, dd2 = qu.orbit_deltas(Kd, 1.0)
    stable = Kd < qu.K_FLIP
    ax.plot(Kd[stable], dd1[stable], color="C0", lw=1.2, label=r"$\delta_{1,2}$ (stable)")
    ax.plot(Kd[stable], dd2[stable], color="C0", lw=1.2)
    ax.plot(Kd[~stable], dd1[~stable], ":", color="C0", lw=1, label=r"$\delta_{1,2}$ (unstable)")
    ax.plot(Kd[~stable], dd2[~stable], ":", color="C0", lw=1)
    marks = ((qu.K_MONOTONE, r"$\sqrt{4.5}-1$", "C2"), (dp[2].K, "$K_2$: 2→4", "C1"), (dp[4].K, "$K_3$: 4→8", "C1"),
             (dp[8].K, "$K_4$: 8→16", "C1"), (K_inf, r"$K_\infty$", "C3"))
    for Kx, lab, col in marks:
        ax.axvline(Kx, color=col, lw=0.8, ls="--")
        ax.text(Kx, 0.99, lab, rotation=90, fontsize=7, va="top", ha="right", color=col,
                transform=ax.get_xaxis_transform())
    ax.set_xlim(bif_K[0], bif_K[1])
    ax.set_xlabel(r"$K=\eta\mu$")
    ax.set_ylabel("last 64 GD iterates")
    ax.set_title(r"(c) bifurcation diagram of GD on $\frac{1}{4}(x^2-1)^2$")
    ax.legend(loc="lower left")

    ax = axes[1, 1]
    Km = np.linspace(1.0, 1.3, 300)
    ax.plot(Km, 9 - 2 * (1 + Km) ** 2, color="C0", label="period 2: $9-2(1+K)^2$")
    ax.plot(Ks, [qu.orbit_multiplier(K) for K in Ks], "o", color="C0", ms=5, label="period 2: Newton")
    ax.plot(dp[4].grid, dp[4].multipliers, "s-", ms=3, color="C1", label="period 4: continuation")
    ax.plot(dp[8].grid, dp[8].multipliers, "^-", ms=3, color="C2", label="period 8: continuation")
    ax.axhline(-1, color="k", lw=0.8)
    ax.axhline(0, color="0.5", lw=0.8, ls=":")
    ax.set_xlabel(r"$K=\eta\mu$")
    ax.set_ylabel("multiplier of $F^p$ on the orbit")
    ax.set_title("(d) multipliers cross $-1$ at each doubling")
    ax.legend(loc="lower left")
    return fig
