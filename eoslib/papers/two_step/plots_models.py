"""Plotting code of the two_step notebooks on the models: single neuron, matrix factorisation, networks.

Conventions and references: see :mod:`eoslib.papers.two_step.plots`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from eoslib import plotting
from eoslib.papers.two_step import matrix_factorization as mf
from eoslib.papers.two_step import quartic as qu
from eoslib.papers.two_step import relu_neuron as rn

__all__ = ["figure_1", "figure_2", "figure_5", "figure_6", "figure_8", "mlp_eos", "observation_1",
           "observation_2", "proposition_4", "proposition_7", "theorem_4", "theorem_6"]


def figure_1(classes: dict, bounds: dict, ss, Ks, dK: float, alpha: float) -> plt.Figure:
    """Figure 1: the (s, K) phase diagram per initialisation, with 2/(1+s), sqrt5-1 and Eq. 9.

    Args:
      classes: ``{panel name: classes (len(ss), len(Ks))}``; bounds: ``{panel name: (last period-2 K, first diverging K)}``.
      ss, Ks, dK: the grid; alpha: the quasi-symmetric panel's imbalance.
    """
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(["#0072B2", "#009E73", "#D55E00"])
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.6))
    s_line = np.linspace(ss[0] - 0.025, ss[-1] + 0.025, 200)
    titles = ["(a) generic init", f"(b) quasi-symmetric, alpha={alpha:g}", "(c) symmetric, alpha=1"]
    for ax, (name, cls), title in zip(axes, classes.items(), titles):
        ds = ss[1] - ss[0] if ss.size > 1 else 0.05
        ax.imshow(cls.T, origin="lower", aspect="auto", cmap=cmap, vmin=-0.5, vmax=2.5, interpolation="nearest",
                  extent=(ss[0] - ds / 2, ss[-1] + ds / 2, Ks[0] - dK / 2, Ks[-1] + dK / 2))
        ax.plot(s_line, 2 / (1 + s_line), "k-", lw=1.5, label=r"$K=2/(1+s)$, i.e. $\eta(\lambda_1+\lambda_2)=2$")
        ax.axhline(np.sqrt(5) - 1, color="k", ls="-.", lw=1, label=r"$K=\sqrt{5}-1$")
        if name.startswith("quasi"):
            ax.plot(s_line, mf.eq9_max_k(s_line, alpha), "k--", lw=1.5, label="Eq. (9) bound")
        fd = bounds[name][1]
        ax.plot(ss[np.isfinite(fd)], fd[np.isfinite(fd)], "o", mfc="w", mec="k", ms=6, label="first diverging K")
        if name.startswith("quasi"):  # show where Eq. 9 lies: below K = 1 there are no runs (grey)
            ax.axhspan(0.85, Ks[0] - dK / 2, color="0.85", zorder=0)
            ax.set_ylim(0.9, Ks[-1] + dK / 2)
        else:
            ax.set_ylim(Ks[0] - dK / 2, Ks[-1] + dK / 2)
        ax.set_xlabel(r"$s=\lambda_2/\lambda_1$")
        ax.set_ylabel(r"$K=\eta\lambda_1$")
        ax.set_title(title)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in cmap.colors]
    axes[0].legend(handles + axes[1].get_lines(), ["period 2", "bounded, not period 2", "diverged"]
                   + [ln.get_label() for ln in axes[1].get_lines()], loc="upper right", fontsize=7, frameon=True,
                   framealpha=0.95)
    return fig


def figure_2(run, sx, sy, Ks_arr, periods) -> plt.Figure:
    """Figure 2: the last 64 top singular values of both factors and the loss, per K.

    Args:
      run: the batched :class:`~eoslib.papers.two_step.matrix_factorization.MFRun`; sx, sy: its top singular values.
      Ks_arr: the K values; periods: the detected period per K (0: none).
    """
    fig, axes = plt.subplots(2, len(Ks_arr), figsize=(4.3 * len(Ks_arr), 6.0), sharex=True)
    axes = np.atleast_2d(axes.T).T if axes.ndim == 1 else axes
    t = run.times[-64:]
    for j, k in enumerate(Ks_arr):
        ax = axes[0, j]
        ax.plot(t, sx[j, -64:], "o-", ms=3, lw=0.8, label=r"$\sigma_1(X_t)$")
        ax.plot(t, sy[j, -64:], "x", ms=5, color="C1", label=r"$\sigma_1(Y_t)$")
        if periods[j]:
            for v in np.unique(np.round(sx[j], 9)):
                ax.axhline(v, color="0.5", ls=":", lw=1)
        ax.set_title(f"K = {k:g}: " + (f"period {periods[j]}" if periods[j] else "aperiodic (chaotic)"))
        ax.set_ylabel("top singular value")
        axes[1, j].semilogy(t, run.loss[j, -64:], "o-", ms=3, lw=0.8, color="C2")
        axes[1, j].set_xlabel("step $t$")
        axes[1, j].set_ylabel(r"loss $\frac{1}{2}\|XY^\top-C\|_F^2$")
    axes[0, 0].legend(loc="center right", frameon=True, framealpha=0.9)
    return fig


def figure_5(P, pop, orbit_eff, num_points: int, seed: int) -> plt.Figure:
    """Figure 5: v, w_x, w_y and |v - w_x| of the empirical run (first and last steps) and residuals vs the population run.

    Args:
      P: empirical iterates ``(T + 1, 3)``; pop: population iterates from the same start.
      orbit_eff: delta_{1,2}(K_eff); num_points, seed: the sample (for the data note).
    """
    v, wx, wy = P[:, 0], P[:, 1], P[:, 2]
    num_steps = P.shape[0] - 1
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9))
    t = np.arange(num_steps + 1)
    for ax, sl, title in ((axes[0], slice(0, 61), "(a) first 60 steps"),
                          (axes[1], slice(num_steps - 9, num_steps + 1), "(b) last 10 steps")):
        ax.plot(t[sl], v[sl], "o-", ms=3, label="$v$")
        ax.plot(t[sl], wx[sl], "s-", ms=3, label="$w_x$")
        ax.plot(t[sl], wy[sl], "^-", ms=3, label="$w_y$")
        ax.plot(t[sl], np.abs(v[sl] - wx[sl]), "d-", ms=3, label="$|v-w_x|$")
        for x in orbit_eff:
            ax.axhline(x, color="0.5", ls=":", lw=1)
        ax.set_xlabel("step $t$")
        ax.set_ylabel("value")
        ax.set_title(title)
    axes[0].legend(loc="center right")
    axes[2].semilogy(t[:400], np.abs(wy[:400]), color="C2", label="$|w_y|$ empirical")
    axes[2].semilogy(t[:400], np.abs(v[:400] - wx[:400]), color="C3", label="$|v-w_x|$ empirical")
    axes[2].semilogy(t[:400], np.maximum(np.abs(pop[:400, 2]), 1e-300), "--", color="C2", label="$|w_y|$ population")
    axes[2].semilogy(t[:400], np.maximum(np.abs(pop[:400, 0] - pop[:400, 1]), 1e-300), "--", color="C3",
                     label="$|v-w_x|$ population")
    axes[2].set_ylim(1e-16, 1)
    axes[2].set_xlabel("step $t$")
    axes[2].set_ylabel("residual")
    axes[2].set_title(f"(c) N={num_points} sample vs population")
    axes[2].legend(loc="lower left")
    plotting.data_note(axes[2], f"data: {num_points} points uniform on $S^1$ (seed {seed})")
    return fig


def figure_6(run, sY, sZ, s_pred, names, alpha: float) -> plt.Figure:
    """Figure 6: (a) loss of both runs, (b, c) top singular values of both factors per run.

    Args:
      run: the two-run :class:`~eoslib.papers.two_step.matrix_factorization.MFRun`; sY, sZ: top singular values.
      s_pred: Eq. 8's values; names: the two runs' labels; alpha: the quasi-symmetric start's imbalance.
    """
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 3.9))
    t = run.times
    sl0 = slice(0, 600)
    for j, name in enumerate(names):
        axes[0].semilogy(t[sl0], run.loss[j, sl0], lw=0.8, color=f"C{j}", label=name)
    axes[0].set_xlabel("step $t$ (first 600)")
    axes[0].set_ylabel(r"loss $\frac{1}{2}\|YZ^\top-C\|_F^2$")
    axes[0].set_title("(a) loss")
    axes[0].legend(loc="lower left")
    sl = slice(0, 400)
    for ax, j, title in ((axes[1], 0, "(b) symmetric start"), (axes[2], 1, f"(c) quasi-symmetric start, alpha={alpha:g}")):
        ax.plot(t[sl], sY[j, sl], lw=0.8, label=r"$\sigma_1(Y_t)$")
        ax.plot(t[sl], sZ[j, sl], lw=0.8, label=r"$\sigma_1(Z_t)$")
        for v in s_pred:
            ax.axhline(v, color="0.3", ls=":", lw=1)
        ax.set_xlabel("step $t$")
        ax.set_ylabel("top singular value")
        ax.set_title(title)
        ax.legend(loc="lower left" if j == 0 else "upper right", frameon=True, framealpha=0.9)
    return fig


def figure_8(loss_small, loss_large, t_small, sharp_small, sharp_large, ratios_small, ratios_large, k_wide, S_wide,
             k_fine, S_fine, kappa_star: float, S_min: float, lr_small: float, lr_large: float, T: int,
             num_samples: int, data_seed: int) -> plt.Figure:
    """Figure 8: (a) loss, (b) sharpness, (c) ratios over time, (d) ratios at the end, (e, f) sharpness of the family.

    Args:
      loss_small, loss_large: losses of the small-rate run and of the large-rate run followed by the decay.
      t_small, sharp_small: steps and sharpness of the small-rate run; sharp_large: every step of the large run.
      ratios_small, ratios_large: ``(steps, 16)`` ratios kappa_i of both runs.
      k_wide, S_wide, k_fine, S_fine: sharpness of the uniform-ratio minimum, wide and zoomed.
      kappa_star, S_min: the flattest ratio and sharpness; lr_small, lr_large, T: the runs.
      num_samples, data_seed: the data set (for the data note).
    """
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    def plain_log_ticks(axis, ticks):
        axis.set_major_locator(FixedLocator(ticks))
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_locator(NullLocator())

    fig, axes = plt.subplots(2, 3, figsize=(14, 7.6))
    t_s = np.arange(T + 1)
    t_l = np.arange(loss_large.size)
    ax = axes[0, 0]
    ax.semilogy(t_s, loss_small, label=f"lr {lr_small:g}")
    ax.semilogy(t_l, loss_large, label=f"lr {lr_large:g}, then {lr_small:g}")
    ax.axvline(T, color="0.5", ls=":", lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (MSE)")
    ax.set_title("(a) loss")
    ax.legend(loc="lower left")
    ax = axes[0, 1]
    ax.plot(t_small, sharp_small, "o-", ms=2, label=f"lr {lr_small:g} (every 5th step)")
    ax.plot(t_l, sharp_large, lw=0.8, label=f"lr {lr_large:g}, then {lr_small:g}")
    ax.axhline(2 / lr_large, color="C1", ls="--", lw=1, label=f"2/{lr_large:g}")
    ax.axhline(S_min, color="k", ls=":", lw=1, label=r"flattest $\lambda_{\min}$")
    ax.axvline(T, color="0.5", ls=":", lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("sharpness")
    ax.set_title(f"(b) sharpness (2/{lr_small:g} = {2 / lr_small:g} is off the scale)")
    ax.legend(loc="upper right")
    ax = axes[0, 2]
    ax.plot(t_l, ratios_large, lw=0.8)
    ax.axhline(kappa_star, color="k", ls=":", lw=1.2)
    ax.axvline(T, color="0.5", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(r"$\kappa_i=\|w_i\|/v_i$")
    ax.set_title(f"(c) ratios of the 16 neurons, lr {lr_large:g}")
    plain_log_ticks(ax.yaxis, [0.5, 0.75, 1.0, 1.5, 2.0])
    ax = axes[1, 0]
    idx = np.arange(1, ratios_small.shape[1] + 1)
    ax.plot(idx, ratios_small[0], "o", mfc="none", color="0.4", label="initial")
    ax.plot(idx, ratios_small[-1], "x", color="C0", label=f"final, lr {lr_small:g}")
    ax.plot(idx, ratios_large[T], "s", ms=4, color="C1", label=f"final, lr {lr_large:g}")
    ax.axhline(kappa_star, color="k", ls=":", lw=1, label=rf"$\kappa^*$={kappa_star:.2f}")
    ax.set_yscale("log")
    ax.set_xlabel("neuron $i$")
    ax.set_ylabel(r"$\kappa_i$")
    ax.set_title("(d) ratios at the end")
    plain_log_ticks(ax.yaxis, [0.5, 0.75, 1.0, 1.5, 2.0])
    ax.legend(loc="upper left", ncol=2)
    ax = axes[1, 1]
    ax.plot(k_wide, S_wide, "o-", ms=3)
    ax.axhline(2 / lr_large, color="C1", ls="--", lw=1, label=f"2/{lr_large:g}")
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis, [0.25, 0.5, 1.0, 2.0, 4.0])
    ax.set_xlabel(r"$\kappa$ (all neurons)")
    ax.set_ylabel("sharpness of the minimum")
    ax.set_title("(e) sharpness along the minimum family")
    ax.legend(loc="upper center")
    ax = axes[1, 2]
    ax.plot(k_fine, S_fine, "o-", ms=3)
    ax.plot([kappa_star], [S_min], "r*", ms=10, label=rf"$\kappa^*$={kappa_star:.2f}, $\lambda_{{\min}}$={S_min:.4f}")
    ax.set_xlabel(r"$\kappa$")
    ax.set_ylabel("sharpness of the minimum")
    ax.set_title("(f) zoom: the flattest minimum")
    ax.legend(loc="upper center")
    plotting.data_note(axes[1, 0], f"data: {num_samples} points on $S^{{15}}$, teacher sum relu(x_i), seed {data_seed}")
    return fig


def mlp_eos(run, summ, lr: float, description: str, small=None, lr_small: float | None = None) -> plt.Figure:
    """Figures 9-11: (a) loss, (b) sharpness, (c) |cos(grad, u_1)|, (d) C at the line-search minimum, vs eta t.

    Args:
      run, summ: the large-rate :class:`~eoslib.papers.two_step.experiments.TrackedRun` and its
        :class:`~eoslib.papers.two_step.experiments.EoSSummary` (EoS steps are shaded).
      lr: its rate; description: the data set (for the data note).
      small, lr_small: an optional small-rate comparison run, drawn thinner.
    """
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.2))
    t = run.steps * lr
    for ax in axes.flat:
        for k in summ.eos_steps:
            ax.axvspan(k * lr, (k + 1) * lr, color="C1", alpha=0.12, lw=0)
    runs = [(run, t, lr, {})]
    if small is not None:
        runs.append((small, small.steps * lr_small, lr_small, {"lw": 0.8}))
    for r, tr, rate, kw in runs:
        axes[0, 0].semilogy(tr, r.loss, label=f"lr {rate:g}", **kw)
        axes[0, 1].plot(tr, r.sharpness, label=f"lr {rate:g}", **kw)
        axes[1, 0].plot(tr, r.grad_cos, ".-" if r is run else ".", ms=3, lw=0.8, label=f"lr {rate:g}")
    axes[0, 0].set_ylabel("training loss")
    axes[0, 0].set_title("(a) loss")
    axes[0, 0].legend(loc="upper right")
    axes[0, 1].axhline(2 / lr, color="C0", ls="--", lw=1, label=f"2/{lr:g}")
    axes[0, 1].set_ylabel("sharpness")
    axes[0, 1].set_title("(b) sharpness (shaded: beyond the EoS)")
    axes[0, 1].legend(loc="upper right")
    axes[1, 0].set_ylim(0, 1.02)
    axes[1, 0].set_ylabel(r"$|\cos(\nabla L, u_1)|$")
    axes[1, 0].set_title("(c) gradient vs top eigenvector")
    axes[1, 0].legend(loc="lower right")
    ax = axes[1, 1]
    c = run.ls_stability
    ax.plot(t[c > 0], c[c > 0], "o", ms=3, color="C2", label=r"$\mathcal{C}>0$")
    ax.plot(t[c <= 0], c[c <= 0], "x", ms=4, color="C3", label=r"$\mathcal{C}\leq 0$")
    ax.set_yscale("symlog", linthresh=1e-2)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel(r"$3\phi'''^2-\phi''\phi''''$ at $\theta^*$")
    ax.set_title("(d) stability number at the line-search minimum")
    ax.legend(loc="lower right")
    for ax in axes.flat:
        ax.set_xlabel(r"$\eta t$ (learning rate x step)")
    plotting.data_note(axes[0, 0], description.split(", n=")[0])
    return fig


def observation_1(X0, Y0, C, eta: float, s_pred, s_list, targets: dict, k_star, n: int, K: float) -> plt.Figure:
    """Observation 1: (a) top singular values along GD, (b) Floquet multipliers vs K, (c) K* vs s.

    Args:
      X0, Y0: the generic 0.01 start; C, eta: target and step; s_pred: Eq. 8's values.
      s_list, targets, k_star: the stability scan (``targets[s]`` is its C, ``k_star`` the measured K*).
      n, K: size and K of the run in (a).
    """
    rec = mf.mf_gd(X0, Y0, C, eta, 150)
    sxr = np.linalg.svd(rec.X, compute_uv=False)[:, 0]
    syr = np.linalg.svd(rec.Y, compute_uv=False)[:, 0]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9))
    axes[0].plot(rec.times, sxr, "o-", ms=2, label=r"$\sigma_1(X_t)$")
    axes[0].plot(rec.times, syr, "s-", ms=2, alpha=0.7, label=r"$\sigma_1(Y_t)$")
    for v_ in s_pred:
        axes[0].axhline(v_, color="0.4", ls=":", lw=1)
    axes[0].set_xlabel("step $t$")
    axes[0].set_ylabel("top singular value")
    axes[0].set_title(f"(a) n={n}, K={K}, generic init")
    axes[0].legend(loc="lower right")
    K_grid = np.linspace(1.005, 1.3, 90)
    for j, s_ in enumerate(s_list):
        mods = [np.abs(mf.cross_mode_multipliers(targets[s_], k_)).max() for k_ in K_grid]  # lambda_1 = 1: eta = K
        axes[1].plot(K_grid, mods, color=f"C{j % 8}", label=f"s={s_:g}")
        axes[1].axvline(k_star[j], color=f"C{j % 8}", ls=":", lw=1)
    axes[1].axhline(1.0, color="k", lw=1)
    axes[1].set_ylim(0.8, 1.3)
    axes[1].set_xlabel(r"$K=\eta\lambda_1$")
    axes[1].set_ylabel("max |non-neutral multiplier|")
    axes[1].set_title("(b) Floquet multipliers of the orbit")
    axes[1].legend(loc="upper left", ncol=2)
    s_line = np.linspace(0.2, 0.99, 200)
    axes[2].plot(s_line, 2 / (1 + s_line), color="C0", label=r"$2/(1+s)$")
    axes[2].axhline(np.sqrt(5) - 1, color="C1", ls="--", label=r"$\sqrt{5}-1$")
    axes[2].plot(s_list, k_star, "ko", ms=5, label="multipliers reach 1")
    axes[2].set_xlabel(r"$s=\lambda_2/\lambda_1$")
    axes[2].set_ylabel(r"$K^*$")
    axes[2].set_title("(c) loss of stability of the 2-cycle")
    axes[2].legend(loc="upper right")
    return fig


def observation_2(rec, sig1: float, rho, alpha: float, eps: float, K: float, eps_list, dists: dict, Ks, scan_s,
                  scans: dict) -> plt.Figure:
    """Observation 2: (a) balancing of the top singular values, (b) distance to gamma_eta vs eps, (c, d) the scans.

    Args:
      rec: a recorded :class:`~eoslib.papers.two_step.matrix_factorization.MFRun` (one run) for (a).
      sig1, rho: sigma_1 of X0 and the orbit ratios; alpha, eps, K: its settings.
      eps_list, dists: the perturbation sizes and ``{instance: distance per eps}``.
      Ks, scan_s, scans: the scan grid and ``{alpha: classes (len(scan_s), len(Ks))}``.
    """
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.0))
    ax = axes[0]
    ax.plot(rec.times, np.linalg.svd(rec.X, compute_uv=False)[:, 0], "o-", ms=2, label=r"$\sigma_1(Y_t)$")
    ax.plot(rec.times, np.linalg.svd(rec.Y, compute_uv=False)[:, 0], "s-", ms=2, label=r"$\sigma_1(Z_t)$")
    for r in rho:
        ax.axhline(sig1 * r, color="0.4", ls=":", lw=1)
    ax.set_xlabel("step $t$")
    ax.set_ylabel("top singular value")
    ax.set_title(rf"(a) $\alpha$={alpha}, $\epsilon$={eps:g}, K={K}")
    ax.legend(loc="lower right")

    ax = axes[1]
    e = np.asarray(eps_list)
    for name, d in dists.items():
        ax.loglog(e, d, "o-", label=f"instance {name}")
    ax.loglog(e, 2 * e, "k:", lw=1, label=r"slope 1 ($2\epsilon$)")
    ax.set_xlabel(r"$\epsilon$")
    ax.set_ylabel(r"distance of the limit to $\gamma_\eta$")
    ax.set_title(r"(b) is the limit within $O(\epsilon)$ of $\gamma_\eta$?")
    ax.legend(loc="lower right", fontsize=7)

    colors = {mf.PERIOD2: "C0", mf.BOUNDED: "C2", mf.DIVERGED: "C1"}
    labels = {mf.PERIOD2: "period 2", mf.BOUNDED: "bounded, not periodic", mf.DIVERGED: "diverged"}
    s_arr = np.asarray(scan_s)
    s_line = np.linspace(s_arr.min() - 0.05, s_arr.max() + 0.05, 100)
    for ax, (a_, cls) in zip(axes[2:], scans.items()):
        for c_, col in colors.items():
            ii, kk = np.nonzero(cls == c_)
            ax.scatter(s_arr[ii], Ks[kk], s=10, color=col, label=labels[c_])
        ax.plot(s_line, 2 / (1 + s_line), "k-", lw=1.2, label=r"$2/(1+s)$")
        ax.plot(s_line, mf.eq9_max_k(s_line, a_), "k--", lw=1.2, label="Eq. 9 bound")
        ax.set_ylim(0.9, 1.31)
        ax.set_xlabel(r"$s=\lambda_2/\lambda_1$")
        ax.set_ylabel(r"$K=\eta\lambda_1$")
        ax.set_title(rf"({'c' if ax is axes[2] else 'd'}) measured boundary vs Eq. 9, $\alpha$={a_:g}")
        ax.legend(loc="upper right", fontsize=7)
    return fig


def proposition_4(st, K: float, K_bif, tail_bif, bif_K_max: float) -> plt.Figure:
    """Proposition 4: (a) v, w_x, |w_y| from w0 orthogonal to the teacher, (b) the rates, (c) limit set of v vs K.

    Args:
      st: one recorded run ``(T + 1, 3)`` at K; K_bif, tail_bif: the bifurcation runs and their last 8 states.
      bif_K_max: right end of (c).
    """
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9))
    tt = np.arange(61)
    axes[0].plot(tt, st[:61, 0], "o-", ms=3, label="$v$")
    axes[0].plot(tt, st[:61, 1], "s-", ms=3, label="$w_x$")
    axes[0].plot(tt, np.abs(st[:61, 2]), "^-", ms=3, label="$|w_y|$")
    for x in qu.orbit_deltas(1.1):
        axes[0].axhline(x, color="0.5", ls=":", lw=1)
    axes[0].set_xlabel("step $t$")
    axes[0].set_ylabel("value")
    axes[0].set_title(f"(a) K={K:g}, start $w_0\\perp\\tilde w$")
    axes[0].legend(loc="center right")

    t_all = np.arange(301)
    imb = np.maximum(np.abs(st[:301, 0] - st[:301, 1]), 1e-300)
    axes[1].semilogy(t_all, imb, label=r"$|v-w_x|$")
    axes[1].semilogy(t_all, np.maximum(np.abs(st[:301, 2]), 1e-300), label=r"$|w_y|$")
    k = K
    axes[1].semilogy(t_all, imb[60] * abs(3 - 2 * k) ** ((t_all - 60) / 2), "--", color="C0", lw=1,
                     label=r"$|3-2K|^{t/2}$")
    axes[1].semilogy(t_all, 1e-3 * abs(1 - k) ** ((t_all - 10) / 2), "--", color="C1", lw=1, label=r"$|1-K|^{t/2}$")
    axes[1].set_ylim(1e-30, 10)
    axes[1].set_xlabel("step $t$")
    axes[1].set_ylabel("distance to the orbit's invariant set")
    axes[1].set_title("(b) balancing and alignment rates")
    axes[1].legend(loc="upper right")

    axes[2].plot(np.repeat(K_bif, 8), tail_bif[..., 0].ravel(), ".", ms=2, color="k", zorder=3, label="GD, last 8 steps")
    K_line = np.linspace(1.0, bif_K_max, 300)
    a_line, b_line = qu.orbit_deltas(K_line)
    axes[2].plot(K_line, a_line, color="C1", lw=1, label=r"$\delta_1(K),\ \delta_2(K)$ (Eq. 6)")
    axes[2].plot(K_line, b_line, color="C1", lw=1)
    axes[2].axvline(np.sqrt(5) - 1, color="C3", ls=":", lw=1, label=r"$K=\sqrt{5}-1$")
    axes[2].set_xlabel(r"$K=\eta/d$")
    axes[2].set_ylabel("$v$ (last 8 steps)")
    axes[2].set_title("(c) limit set of $v$")
    axes[2].legend(loc="lower left")
    return fig


def proposition_7(tops, lam1: float, K_list, n: int) -> plt.Figure:
    """Proposition 7: histogram of S / (2 lambda_1) over random minimisers with the membership thresholds of M.

    Args:
      tops: sharpness of the random minimisers; lam1: lambda_1; K_list: the K of the thresholds; n: size.
    """
    fig, ax = plt.subplots(figsize=(6.5, 3.9))
    ratio = tops / (2 * lam1)
    ax.hist(ratio, bins=np.geomspace(1.0, max(ratio.max(), 1.1) * 1.05, 40), color="C0", alpha=0.8,
            label=f"{tops.size} random minimisers")
    ax.axvline(1.0, color="k", lw=1.5, label=r"balanced minima: $S=2\lambda_1$")
    for j, K in enumerate(K_list):
        ax.axvline(1 / K, color=f"C{j + 1}", ls="--", lw=1.2, label=rf"$\mathcal{{M}}$ needs $S/(2\lambda_1)\leq 1/K$, K={K:g}")
    ax.set_xscale("log")
    ax.set_xlabel(r"$S/(2\lambda_1)$ at a minimiser")
    ax.set_ylabel("count")
    ax.set_title(f"Sharpness of minimisers of MF, n={n}")
    ax.legend(loc="upper right", fontsize=7)
    return fig


def theorem_4(wy, alpha, ratio, Ks, eps, angles, t) -> plt.Figure:
    """Theorem 4: (a) decay of |w_y| with the bound, (b) worst ratio per run vs K, (c) the angle to the teacher.

    Args:
      wy, alpha: ``|w_y|`` and the angle per run ``(K, eps, angle, t)``; ratio: worst |w_y|/bound per run.
      Ks, eps, angles: the sweep axes; t: the step indices.
    """
    ik = int(np.argmin(np.abs(Ks - 1.05)))
    ia = int(np.argmin(np.abs(angles - np.pi / 4)))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9))
    tt = t[:121]
    for j, e in enumerate(eps):
        y = np.maximum(wy[ik, j, ia], 1e-300)
        axes[0].semilogy(tt, y[: tt.size], color=f"C{j}", label=rf"$\epsilon$={e:g}")
        b = rn.theorem4_bound(tt, Ks[ik], e)
        axes[0].semilogy(tt[np.isfinite(b)], b[np.isfinite(b)], "--", color=f"C{j}", lw=1)
        axes[2].plot(t[:40], np.degrees(alpha[ik, j, ia][:40]), color=f"C{j}", label=rf"$\epsilon$={e:g}")
    axes[0].set_ylim(1e-25, 1)
    axes[0].set_xlabel("step $t$")
    axes[0].set_ylabel(r"$|w_y^{(t)}|$ (solid), bound (dashed)")
    axes[0].set_title(f"(a) decay of $w_y$, K={Ks[ik]:.3f}")
    axes[0].legend(loc="upper right")
    for j, e in enumerate(eps):
        axes[1].semilogy(Ks, ratio[:, j, :].max(axis=1), "o-", ms=3, color=f"C{j}", label=rf"$\epsilon$={e:g}")
    axes[1].axhline(1.0, color="C3", lw=1, label="theorem: ratio < 1")
    axes[1].set_xlabel(r"$K=\eta/d$")
    axes[1].set_ylabel(r"max$_t$ $|w_y|$ / bound (over angles)")
    axes[1].set_title("(b) worst ratio per run")
    axes[1].set_ylim(top=30)
    axes[1].legend(loc="upper left", ncol=3)
    axes[2].set_xlabel("step $t$")
    axes[2].set_ylabel(r"angle $\alpha_t$ to the teacher (deg)")
    axes[2].set_title(f"(c) alignment, start at {np.degrees(angles[ia]):.0f} deg")
    axes[2].legend(loc="upper right")
    return fig


def theorem_6(results, tt, gd_steps: int, gd_excess: float) -> plt.Figure:
    """Theorem 6: (a) the loss along the top eigenvector vs (At + Bt^2)^2/2, (b) 1-D GD on that slice.

    Args:
      results: per factorisation ``(m, p, q, Theorem6, lambda_max, cos, C, ts, f_t, f_q)``.
      tt: the slice GD iterates; gd_steps, gd_excess: its length and step excess.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9))
    for j, (m, p, q, t6j, _, _, _, ts, f_t, f_q) in enumerate(results):
        axes[0].plot(ts, f_q, color=f"C{j}", label=f"(m,p,q)=({m},{p},{q}): A²={t6j.A2:.2f}, B={t6j.B:.3f}")
        axes[0].plot(ts[::3], f_t[::3], "o", ms=3, color=f"C{j}")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("$t$ (unit step along $\\Delta$)")
    axes[0].set_ylabel(r"$f_\Delta(t)$")
    axes[0].set_title(r"(a) loss along the top eigenvector: dots = $L$, lines = $(At+Bt^2)^2/2$")
    axes[0].legend(loc="upper center", fontsize=7)
    axes[0].set_ylim(top=400)
    steps = np.arange(gd_steps - 39, gd_steps + 1)
    axes[1].plot(steps, tt[-40:], "o-", ms=3)
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("$t$")
    axes[1].set_title(f"(b) 1-D GD on $f_\\Delta$ at $\\eta$={1 + gd_excess:g} x 2/A²")
    return fig
