"""Multi-panel figures of the GFS-sharpness chapter (each returns the figure; notebooks save it).

References:
  Kreisler et al., ICML 2023, Figures 1-13.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "theorem_3_2_figure",
    "symlog_hist",
    "figure_1",
    "ordered_gaps_figure",
    "lemmas_3_10_3_12_figure",
    "lemmas_3_13_3_14_figure",
    "theorem_3_3_figure",
    "figure_2",
    "figure_8",
    "runs_figure",
    "final_sharpness_map",
    "bifurcation_figure",
    "figure_5",
    "network_figure",
]


def symlog_hist(ax: plt.Axes, values: np.ndarray, *, label: str, color: str, linthresh: float = 1e-14,
                bins: int = 60) -> None:
    """Histogram of signed values on a symmetric-log axis (one-step relative changes)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    lo, hi = np.log10(linthresh), np.log10(max(np.max(np.abs(v)), 10 * linthresh))
    pos = np.logspace(lo, hi, bins // 2)
    edges = np.concatenate([-pos[::-1], [0.0], pos])
    ax.hist(np.clip(v, edges[0], edges[-1]), bins=edges, histtype="step", color=color, label=label)
    ax.set_xscale("symlog", linthresh=linthresh)
    top = int(np.ceil(hi))
    ticks = [10.0**k for k in range(int(np.log10(linthresh)) + 2, top + 1, 4)]
    ax.set_xticks([-t for t in ticks[::-1]] + [0.0] + ticks)
    ax.tick_params(axis="x", labelrotation=45)


def theorem_3_2_figure(trajectories: Sequence[tuple[np.ndarray, float, int]],
                       rises_in: np.ndarray, rises_out: np.ndarray,
                       schedule_runs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> plt.Figure:
    """Three panels: (a) ``eta phi_t / 2`` along GD from ``S``; (b) one-step relative change of
    ``phi`` in and outside ``S``; (c) GD with a decreasing step-size schedule.

    Args:
      trajectories: ``(phi_t, eta, depth)`` per run.
      rises_in, rises_out: ``(phi(GD(w)) - phi(w)) / phi(w)`` for ``w`` in / not in ``S``.
      schedule_runs: ``(phi_t, eta_t, phi_t at constant eta_0)`` per scheduled run.
    """
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.2))
    ax = axes[0]
    for phi, eta, depth in trajectories:
        ax.plot(np.arange(phi.size), phi * eta / 2, lw=0.8, color=f"C{(depth - 2) % 8}")
    for depth in sorted({t[2] for t in trajectories}):
        ax.plot([], [], color=f"C{(depth - 2) % 8}", label=f"D = {depth}")
    ax.axhline(1.0, color="k", lw=0.8, ls="--", label=r"$2/\eta$")
    ax.axhline(np.sqrt(2), color="0.5", lw=0.8, ls=":", label=r"$2\sqrt{2}/\eta$")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(0, None)
    ax.set_xlabel("GD step $t$")
    ax.set_ylabel(r"$\eta\,\phi(\mathbf{w}^{(t)})/2$")
    ax.set_title(f"(a) GFS sharpness along {len(trajectories)} runs from $\\mathbb{{S}}$")
    ax.legend(loc="upper right", ncol=2)

    ax = axes[1]
    symlog_hist(ax, rises_in, label=r"$\mathbf{w}\in\mathbb{S}$", color="C0")
    symlog_hist(ax, rises_out, label=r"$\mathbf{w}\notin\mathbb{S}$", color="C1")
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel(r"$(\phi(\mathrm{GD}(\mathbf{w}))-\phi(\mathbf{w}))/\phi(\mathbf{w})$")
    ax.set_ylabel("samples")
    ax.set_title("(b) one GD step: change of the GFS sharpness")
    ax.legend(loc="upper center")

    ax = axes[2]
    for k, (phi, etas, phi_const) in enumerate(schedule_runs):
        ax.plot(phi * etas[0] / 2, color=f"C{k}", lw=1.0, label="decreasing $\\eta_t$" if k == 0 else None)
        ax.plot(phi_const * etas[0] / 2, color=f"C{k}", lw=0.8, ls=":", label="constant $\\eta_0$" if k == 0 else None)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(0, None)
    ax.set_xlabel("GD step $t$")
    ax.set_ylabel(r"$\eta_0\,\phi(\mathbf{w}^{(t)})/2$")
    ax.set_title("(c) step sizes decreasing to $0.3\\,\\eta_0$")
    ax.legend(loc="upper right")
    return fig


def figure_1(params: np.ndarray, gfs_points: np.ndarray, phi: np.ndarray, sharpness: np.ndarray,
             eta: float, *, num_arrows: int = 12) -> plt.Figure:
    """Figure 1: depth-2 weight plane with GD iterates, GF classes and GF solutions; phi along GD.

    Args:
      params: GD iterates ``(T + 1, 2)`` (positive weights).
      gfs_points: their GF solutions ``(T + 1, 2)``.
      phi, sharpness: ``phi(w_t)`` and ``lambda_max(w_t)``.
      eta: step size.
      num_arrows: iterates (the first ones) drawn with an arrow to their GF solution.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.6), gridspec_kw={"width_ratios": [1.15, 1]})
    ax = axes[0]
    shown = np.concatenate([params[:num_arrows], gfs_points[:num_arrows]])
    lo, hi = shown.min(axis=0), shown.max(axis=0)
    pad = 0.15 * (hi - lo)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], 400)
    ax.plot(xs, 1.0 / xs, color="k", lw=1.5, label=r"minima $w_1w_2=1$")
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], 400)
    for t in range(min(num_arrows, len(params))):
        b = params[t, 0] ** 2 - params[t, 1] ** 2  # the GF curve through w_t
        ax.plot(np.sqrt(np.maximum(ys**2 + b, 0.0)), ys, color="0.7", lw=0.7, ls="--",
                label=r"GF curves $w_1^2-w_2^2=$ const" if t == 0 else None)
    ax.plot(params[:, 0], params[:, 1], "-", color="C1", lw=0.6, alpha=0.6)
    ax.plot(params[:, 0], params[:, 1], "o", color="C1", ms=3, label="GD iterates")
    for t in range(min(num_arrows, len(params))):
        ax.annotate("", xy=gfs_points[t], xytext=params[t],
                    arrowprops=dict(arrowstyle="->", color="C0", lw=0.8, alpha=0.8))
    ax.plot(gfs_points[:, 0], gfs_points[:, 1], "s", color="C0", ms=3, label=r"GF solutions $\mathcal{S}(\mathbf{w}^{(t)})$")
    ax.annotate("$t=0$", params[0], textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.set_title(rf"(a) the first {num_arrows} GD iterates and their GF solutions, $D=2$")
    ax.legend(loc="upper right", frameon=True, framealpha=0.9)

    ax = axes[1]
    t = np.arange(len(phi))
    ax.plot(t, sharpness, color="C1", lw=1.0, label=r"sharpness $\lambda_{\max}(\mathbf{w}^{(t)})$")
    ax.plot(t, phi, color="C0", lw=1.5, label=r"GFS sharpness $\phi(\mathbf{w}^{(t)})$")
    ax.axhline(2 / eta, color="k", ls="--", lw=0.8, label=r"$2/\eta$")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(0, None)
    ax.set_xlabel("GD step $t$")
    ax.set_title(rf"(b) $\eta={eta:g}$")
    ax.legend(loc="lower left")
    return fig


def ordered_gaps_figure(panels: Sequence[tuple[str, dict[str, np.ndarray]]], *, xlabel: str,
                        linthresh: float = 1e-6) -> plt.Figure:
    """One panel per group: sorted values of each series (empirical CDFs) on a symlog axis.

    Args:
      panels: ``(title, {label: values})`` per panel.
      xlabel: label of the value axis.
      linthresh: linear range of the symlog axis.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, (title, series) in zip(axes[0], panels):
        for label, values in series.items():
            v = np.sort(np.asarray(values, float))
            ax.plot(v, np.linspace(0, 1, v.size), label=label)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xscale("symlog", linthresh=linthresh)
        top = int(np.ceil(np.log10(max(np.max(np.abs(np.concatenate([np.ravel(v) for v in series.values()]))), linthresh))))
        ticks = [10.0**k for k in range(top, int(np.log10(linthresh)) - 1, -2)][::-1]
        ax.set_xticks([-t for t in ticks[::-1]] + [0.0] + ticks)
        ax.tick_params(axis="x", labelrotation=45)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("fraction of samples (sorted)")
        ax.set_title(title)
        ax.legend(loc="upper left")
    return fig


def lemmas_3_10_3_12_figure(ratio_in: tuple[np.ndarray, np.ndarray], ratio_out: tuple[np.ndarray, np.ndarray],
                            lemma_3_12: tuple[np.ndarray, np.ndarray, np.ndarray],
                            f1: tuple[np.ndarray, np.ndarray, np.ndarray]) -> plt.Figure:
    """(a) Lemma 3.10: largest gap ratio after one step vs ``eta phi / 2``, in and outside ``S``;
    (b) Lemma 3.12: ``phi(GD(w)) / phi(w)`` against the bound ``(1 - c_max)^(D-1)`` and against
    ``1 - c_max``; (c) Lemma F.1: ``c_max`` against ``eta^2 phi^2 / 4``.

    Args:
      ratio_in, ratio_out: ``(eta phi / 2, max gap ratio)`` for points in / outside ``S``.
      lemma_3_12: ``(phi ratio, (1 - c_max)^(D-1), 1 - c_max)``.
      f1: ``(eta^2 phi^2 / 4, c_max, pi)``.
    """
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.3))
    ax = axes[0]
    ax.scatter(*ratio_out, s=3, color="C1", alpha=0.5, label=r"$\mathbf{w}\notin\mathbb{S}$")
    ax.scatter(*ratio_in, s=3, color="C0", alpha=0.5, label=r"$\mathbf{w}\in\mathbb{S}$")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel(r"$\eta\,\phi(\mathbf{w})/2$")
    ax.set_ylabel(r"$\max_i$ gap$_i(\mathrm{GD}(\mathbf{w}))/$gap$_i(\mathbf{w})$")
    ax.set_title(r"(a) Lemma 3.10: gaps never grow in $\mathbb{S}$")
    ax.legend(loc="lower left", markerscale=4)

    ax = axes[1]
    ratio, bound, loose = lemma_3_12
    ax.scatter(loose, ratio, s=3, color="C1", alpha=0.5, label=r"against $1-c_{\max}$ (too strong)")
    ax.scatter(bound, ratio, s=3, color="C0", alpha=0.5, label=r"against $(1-c_{\max})^{D-1}$")
    lo = float(min(np.min(bound), np.min(ratio)))
    ax.plot([lo, 1], [lo, 1], color="k", lw=0.8, label="equality")
    ax.set_xlabel("lower bound")
    ax.set_ylabel(r"$\phi(\mathrm{GD}(\mathbf{w}))/\phi(\mathbf{w})$")
    ax.set_title(r"(b) Lemma 3.12: one-step decrease of $\phi$")
    ax.legend(loc="lower right", markerscale=4)

    ax = axes[2]
    x, c, p = f1
    low = p <= 1
    ax.scatter(x[~low], c[~low] / x[~low], s=3, color="C1", alpha=0.5, label=r"$\pi>1$ (outside F.1)")
    ax.scatter(x[low], c[low] / x[low], s=3, color="C0", alpha=0.5, label=r"$\pi\leq 1$")
    ax.axhline(1.0, color="k", lw=0.8, label="F.1's bound")
    ax.set_xlabel(r"$\eta^2\phi^2/4$ ($\leq 2$)")
    ax.set_ylabel(r"$c_{\max}\,/\,(\eta^2\phi^2/4)$")
    ax.set_yscale("log")
    ax.set_title("(c) Lemma F.1")
    ax.legend(loc="lower right", markerscale=4)
    return fig


def lemmas_3_13_3_14_figure(delta: np.ndarray, rate: np.ndarray, orbit_examples: Sequence[tuple[np.ndarray, float]],
                            gpgd2: tuple[np.ndarray, np.ndarray], gpgd2_no_overshoot: tuple[np.ndarray, np.ndarray]
                            ) -> plt.Figure:
    """(a) GPGD errors ``|pi_k - 1|`` of a few orbits with the envelopes ``(1 - delta/2)^k`` and
    ``(1 - delta)^k``; (b) measured per-step contraction against ``delta``; (c) Lemma 3.14:
    ``pi(GD^2(w))`` against ``pi(GPGD^2(w))``, with and without the overshoot condition.

    Args:
      delta, rate: ``delta = 2 - eta phi`` and ``(|e_K| / |e_0|)^(1/K)`` per sample.
      orbit_examples: ``(pi_k - 1, delta)`` for a few samples.
      gpgd2, gpgd2_no_overshoot: ``(pi(GPGD^2(w)), pi(GD^2(w)))`` per sample.
    """
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.3))
    ax = axes[0]
    for k, (err, d) in enumerate(orbit_examples):
        steps = np.arange(err.size)
        ax.semilogy(steps, np.abs(err), color=f"C{k}", lw=1.0, label=rf"$\delta={d:.2f}$")
        ax.semilogy(steps, np.abs(err[0]) * (1 - d / 2) ** steps, color=f"C{k}", lw=0.8, ls="--")
        ax.semilogy(steps, np.abs(err[0]) * (1 - d) ** steps, color=f"C{k}", lw=0.8, ls=":")
    ax.plot([], [], color="0.4", ls="--", label=r"$(1-\delta/2)^k|e_0|$")
    ax.plot([], [], color="0.4", ls=":", label=r"$(1-\delta)^k|e_0|$")
    ax.set_ylim(1e-16, 1.0)
    ax.set_xlabel("GPGD step $k$")
    ax.set_ylabel(r"$|\pi(\tilde{\mathbf{w}}^{(k)})-1|$")
    ax.set_title("(a) Lemma 3.13: GPGD below the threshold")
    ax.legend(loc="upper right")

    ax = axes[1]
    ax.scatter(delta, rate, s=3, color="C0", alpha=0.5, label="measured")
    d = np.linspace(0, max(1.0, float(np.max(delta))), 100)
    ax.plot(d, 1 - d / 2, color="k", lw=0.8, ls="--", label=r"$1-\delta/2$ (the lemma)")
    ax.plot(d, 1 - d, color="k", lw=0.8, ls=":", label=r"$1-\delta$ (linearisation)")
    ax.set_xlabel(r"$\delta=2-\eta\phi$")
    ax.set_ylabel(r"per-step contraction $(|e_K|/|e_0|)^{1/K}$")
    ax.set_title("(b) contraction rate")
    ax.legend(loc="lower left", markerscale=4)

    ax = axes[2]
    ax.scatter(*gpgd2_no_overshoot, s=3, color="C1", alpha=0.5, label=r"$\pi(\mathrm{GD}(\mathbf{w}))<1$ (no overshoot)")
    ax.scatter(*gpgd2, s=3, color="C0", alpha=0.5, label=r"$\pi(\mathbf{w})\leq 1\leq\pi(\mathrm{GD}(\mathbf{w}))$")
    lo = float(min(np.min(gpgd2[0]), np.min(gpgd2_no_overshoot[0])))
    ax.plot([lo, 1], [lo, 1], color="k", lw=0.8, label="equality")
    ax.set_xlabel(r"$\pi(\mathrm{GPGD}^2(\mathbf{w}))$")
    ax.set_ylabel(r"$\pi(\mathrm{GD}^2(\mathbf{w}))$")
    ax.set_title("(c) Lemma 3.14: two GD steps beat two GPGD steps")
    ax.legend(loc="lower right", markerscale=4)
    return fig


def theorem_3_3_figure(k_points: tuple[np.ndarray, np.ndarray], deltas: tuple[np.ndarray, np.ndarray],
                       negative: tuple[float, float], rate_curves: Sequence[tuple[np.ndarray, np.ndarray]],
                       k_bound: float = 2.0) -> plt.Figure:
    """(a) ``K_t = (delta_inf - delta_t) delta_t / L_t`` against ``L_t / delta_t^2``; (b) final
    ``delta_inf`` against ``delta_t`` at the first step satisfying the hypothesis, with the
    bound ``delta_inf <= 2 delta_t`` and a start that violates the hypothesis; (c) the loss
    normalised by ``L_t (1 - delta_t/2)^(2(t' - t))``.
    """
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.3))
    ax = axes[0]
    ax.scatter(*k_points, s=2, color="C0", alpha=0.4)
    ax.axhline(k_bound, color="k", lw=0.8, label=f"$K={k_bound:g}$")
    ax.set_xscale("log")
    ax.set_xlabel(r"$\mathcal{L}_t/\delta_t^2$ (hypothesis: $\leq 0.1$)")
    ax.set_ylabel(r"$K_t=(\delta_\infty-\delta_t)\,\delta_t/\mathcal{L}_t$")
    ax.set_title(r"(a) decrease of $\phi$ after the crossing")
    ax.legend(loc="upper left")

    ax = axes[1]
    ax.scatter(*deltas, s=8, color="C0", label="runs from $\\mathbb{S}$")
    ax.scatter([negative[0]], [negative[1]], s=30, color="C1", marker="x",
               label=r"large loss at the crossing (Figure 9)")
    d = np.linspace(0, max(float(np.max(deltas[0])), negative[0]) * 1.1, 50)
    ax.plot(d, 2 * d, color="k", lw=0.8, label=r"$\delta_\infty=2\delta_t$")
    ax.plot(d, d, color="0.5", lw=0.8, ls=":", label=r"$\delta_\infty=\delta_t$")
    ax.set_xlabel(r"$\delta_t=2-\eta\phi_t$ at the first step with $\mathcal{L}_t\leq\delta_t^2/10$")
    ax.set_ylabel(r"$\delta_\infty=2-\eta\phi_\infty$")
    ax.set_title(r"(b) final distance below $2/\eta$")
    ax.legend(loc="upper left")

    ax = axes[2]
    for k, (steps, ratio) in enumerate(rate_curves):
        ax.semilogy(steps, ratio, lw=0.8, color=f"C{k % 8}")
    ax.axhline(1.1, color="k", lw=0.8, label=r"$C'=1.1$")
    ax.set_xlabel(r"$t'-t$")
    ax.set_ylabel(r"$\mathcal{L}_{t'}\,/\,(\mathcal{L}_t(1-\delta_t/2)^{2(t'-t)})$")
    ax.set_title("(c) geometric decay of the loss")
    ax.legend(loc="lower left")
    return fig


_CLASS_COLORS = ("#0072B2", "#56B4E9", "#E69F00", "#D55E00", "0.85")


def _runs_panels(ax_loss: plt.Axes, ax_sharp: plt.Axes, runs: Sequence[tuple[str, object]], eta: float,
                 linthresh: float = 100.0) -> None:
    for k, (label, run) in enumerate(runs):
        t = run.times
        ax_loss.semilogy(t, np.maximum(run.loss, 1e-300), color=f"C{k}", lw=0.8, label=label)
        ax_sharp.plot(t, run.sharpness, color=f"C{k}", lw=0.5, alpha=0.5)
        ax_sharp.plot(t, run.phi, color=f"C{k}", lw=1.8, label=rf"$\phi$, {label}")
    ax_sharp.plot([], [], color="0.5", lw=0.5, label=r"$\lambda_{\max}$ (thin)")
    ax_sharp.axhline(2 / eta, color="k", ls="--", lw=0.8, label=r"$2/\eta$")
    ax_loss.set_ylim(1e-32, None)
    for ax in (ax_loss, ax_sharp):
        ax.set_xscale("symlog", linthresh=linthresh)
        ax.set_xlim(0, None)
        ax.set_xlabel("GD step $t$")
    ax_loss.set_ylabel(r"loss $\mathcal{L}(\mathbf{w}^{(t)})$")
    ax_sharp.set_ylabel("sharpness")


def figure_2(runs: Sequence[tuple[str, object]], eta: float, phi0: np.ndarray, pi0: np.ndarray,
             classes: np.ndarray, class_names: Sequence[str]) -> plt.Figure:
    """Figure 2: (a) loss, (b) sharpness and GFS sharpness of GD runs; (c) the slice grid of
    initialisations coloured by class (in ``S`` / monotone ``phi`` / not monotone / diverged / ...).

    Args:
      runs: ``(label, ScalarRun)`` pairs.
      eta: step size.
      phi0, pi0: 1-D grid axes; ``classes`` has shape ``(len(pi0), len(phi0))`` with values
        indexing ``class_names``.
    """
    from matplotlib.colors import ListedColormap

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    _runs_panels(axes[0], axes[1], runs, eta)
    axes[0].set_title("(a) training loss")
    axes[0].legend(loc="lower left")
    axes[1].set_title(r"(b) sharpness and GFS sharpness")
    axes[1].legend(loc="upper right")
    ax = axes[2]
    cmap = ListedColormap(_CLASS_COLORS[:len(class_names)])
    ax.pcolormesh(phi0 * eta / 2, pi0, classes, cmap=cmap, vmin=-0.5, vmax=len(class_names) - 0.5, shading="nearest")
    for k, name in enumerate(class_names):
        ax.scatter([], [], marker="s", color=_CLASS_COLORS[k], label=f"{name} ({int(np.sum(classes == k))})")
    ax.set_xlabel(r"$\eta\,\phi(\mathbf{w}^{(0)})/2$")
    ax.set_ylabel(r"$\pi(\mathbf{w}^{(0)})$")
    ax.set_title("(c) initialisations on the slice $(x,x,y,y)$")
    ax.legend(loc="upper right", fontsize=7, frameon=True, framealpha=0.9)
    return fig


def figure_8(runs: Sequence[tuple[str, object]], eta: float, start: int, stop: int | None = None) -> plt.Figure:
    """Figure 8: ``eta lambda_max / 2`` and ``eta phi / 2`` for steps in ``[start, stop]`` (zoom of 2b)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for k, (label, run) in enumerate(runs):
        m = (run.times >= start) & (run.times <= (stop if stop is not None else run.times[-1]))
        ax.plot(run.times[m], run.sharpness[m] * eta / 2, color=f"C{k}", lw=0.5, alpha=0.6)
        ax.plot(run.times[m], run.phi[m] * eta / 2, color=f"C{k}", lw=1.8, label=rf"$\eta\phi/2$, {label}")
    ax.plot([], [], color="0.5", lw=0.5, label=r"$\eta\lambda_{\max}/2$ (thin)")
    ax.axhline(1.0, color="k", ls="--", lw=0.8, label=r"$2/\eta$")
    ax.set_ylim(0.994, 1.002)
    ax.set_xlabel("GD step $t$")
    ax.set_ylabel(r"sharpness $\times\,\eta/2$")
    ax.set_title("Figure 8: the final sharpness is just below $2/\\eta$")
    ax.legend(loc="lower right")
    return fig


def runs_figure(runs: Sequence[tuple[str, object]], eta: float, title: str, *, linthresh: float = 100.0) -> plt.Figure:
    """Loss and (GFS) sharpness of scalar-network GD runs, side by side (symlog step axis)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    _runs_panels(axes[0], axes[1], runs, eta, linthresh)
    axes[0].set_title(f"(a) {title}: loss")
    axes[1].set_title("(b) sharpness and GFS sharpness")
    axes[1].legend(loc="upper right")
    return fig


def final_sharpness_map(phi0: np.ndarray, pi0: np.ndarray, ratio: np.ndarray, eta: float,
                        marks: Sequence[tuple[float, float, str]] = ()) -> plt.Figure:
    """Figure 3: final ``eta lambda_max / 2`` over the grid of slice initialisations (NaN: diverged)."""
    fig, ax = plt.subplots(figsize=(7.5, 5))
    mesh = ax.pcolormesh(phi0 * eta / 2, pi0, ratio, cmap="viridis", vmin=0.2, vmax=1.0, shading="nearest")
    fig.colorbar(mesh, ax=ax, label=r"final $\eta\,\lambda_{\max}/2$ (white: diverged)")
    ax.axvline(1.0, color="w", lw=0.8, ls="--")
    for x, y, label in marks:
        ax.plot([x * eta / 2], [y], "x", color="C1", ms=8)
        ax.annotate(label, (x * eta / 2, y), textcoords="offset points", xytext=(6, 4), color="C1", fontsize=8)
    ax.set_xlabel(r"$\eta\,\phi(\mathbf{w}^{(0)})/2$")
    ax.set_ylabel(r"$\pi(\mathbf{w}^{(0)})$")
    ax.set_title("Figure 3: sharpness at convergence")
    return fig


def bifurcation_figure(phi: np.ndarray, products: np.ndarray, orbits: np.ndarray, eta: float, *,
                       xlim: tuple[float, float] | None = None, highlight: np.ndarray | None = None,
                       highlight_label: str = "", title: str = "") -> plt.Figure:
    """GPGD bifurcation diagram: the orbit products of GPGD from each GD iterate, plotted at
    that iterate's ``eta phi / 2``, overlaid with the GD pairs ``(eta phi_t / 2, pi_t)``.

    Args:
      phi, products: ``phi_t`` and ``pi_t`` of the GD iterates ``(T,)``.
      orbits: ``(T, K)`` GPGD products after the burn-in.
      eta: step size.
      xlim: optional range of ``eta phi / 2``.
      highlight: optional boolean ``(T,)`` mask of GD iterates to mark.
    """
    fig, ax = plt.subplots(figsize=(9, 5))
    x = np.repeat(phi[:, None] * eta / 2, orbits.shape[1], axis=1)
    ax.scatter(x.ravel(), orbits.ravel(), s=0.3, color="0.35", alpha=0.6, rasterized=True)
    ax.scatter([], [], s=8, color="0.35", label="GPGD periodic or chaotic points")
    ax.scatter(phi * eta / 2, products, s=5, color="C1", label=r"GD iterates $(\eta\phi_t/2,\ \pi_t)$", zorder=3)
    if highlight is not None and np.any(highlight):
        ax.scatter(phi[highlight] * eta / 2, products[highlight], s=18, facecolors="none", edgecolors="C2",
                   lw=0.8, label=highlight_label, zorder=4)
    ax.axvline(1.0, color="k", ls="--", lw=0.8)
    if xlim is not None:
        ax.set_xlim(*xlim)
        sel = (phi * eta / 2 >= xlim[0]) & (phi * eta / 2 <= xlim[1])
        if np.any(sel):
            vals = np.concatenate([orbits[sel].ravel(), products[sel]])
            pad = 0.05 * (vals.max() - vals.min() + 1e-9)
            ax.set_ylim(vals.min() - pad, vals.max() + pad)
    ax.set_xlabel(r"$\eta\,\phi/2$")
    ax.set_ylabel(r"product $\pi$")
    ax.set_title(title)
    ax.legend(loc="upper left", markerscale=2)
    return fig


def figure_5(runs: Sequence[tuple[str, object, float]], example: int = 0) -> plt.Figure:
    """Figure 5: (a) sharpness, GFS sharpness and ``2/eta`` of one run, with ``S_flat``; (b) the
    GFS sharpness of every run in units of ``2/eta``; (c) the normalised changes
    ``(phi_{t+1} - phi_t) / phi_t`` against ``t``, coloured by run.

    Args:
      runs: ``(label, RegressionRun, S_flat)`` per run; each run is cut at its ``stop`` step.
      example: index of the run shown in panel (a).
    """
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    label, run, s_flat = runs[example]
    end = run.stop if run.stop > 0 else len(run.phi) - 1
    ax = axes[0]
    m = run.sharpness_steps <= end
    ax.plot(run.sharpness_steps[m], run.sharpness[m], color="C0", lw=0.8, label=r"sharpness $\lambda_{\max}$")
    ax.plot(np.arange(end + 1), run.phi[:end + 1], color="C1", lw=1.8, label=r"GFS sharpness $\phi$")
    ax.axhline(2 / run.eta, color="C2", ls="--", lw=1.0, label=r"$2/\eta$")
    ax.axhline(s_flat, color="0.4", ls=":", lw=1.0, label=r"$S_{\rm flat}$")
    ax.set_xlabel("GD step $t$")
    ax.set_title(f"(a) one run ({label})")
    ax.legend(loc="lower right")
    ax = axes[1]
    for k, (label, run, _) in enumerate(runs):
        end = run.stop if run.stop > 0 else len(run.phi) - 1
        ax.plot(np.arange(end + 1), run.phi[:end + 1] * run.eta / 2, color=f"C{k % 8}", lw=1.0, label=label)
    ax.axhline(1.0, color="k", ls="--", lw=0.8)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(0, None)
    ax.set_xlabel("GD step $t$")
    ax.set_ylabel(r"$\eta\,\phi/2$")
    ax.set_title(f"(b) GFS sharpness, {len(runs)} runs")
    ax.legend(loc="upper right", fontsize=6, ncol=2)
    ax = axes[2]
    for k, (label, run, _) in enumerate(runs):
        end = run.stop if run.stop > 0 else len(run.phi) - 1
        d = np.diff(run.phi[:end + 1]) / run.phi[:end]
        ax.scatter(np.arange(d.size), d, s=2, color=f"C{k % 8}")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_yscale("symlog", linthresh=1e-8)
    ax.set_xlim(0, None)
    ax.set_xlabel("GD step $t$")
    ax.set_ylabel(r"$(\phi_{t+1}-\phi_t)/\phi_t$")
    ax.set_title("(c) normalised one-step change")
    return fig


def network_figure(tracks: Sequence[tuple[str, object]], *, data_note: str = "") -> plt.Figure:
    """Figures 6, 12 and 13: one column per run; rows: training loss, sharpness with ``2/eta``,
    GFS sharpness with ``2/eta``.

    Args:
      tracks: ``(title, GFSTrack)`` per column.
    """
    fig, axes = plt.subplots(3, len(tracks), figsize=(4.6 * len(tracks), 8.4), squeeze=False, sharex="col")
    for j, (title, tr) in enumerate(tracks):
        thr = 2.0 / tr.eta
        ax = axes[0, j]
        ax.semilogy(tr.steps, tr.loss, color="C0", lw=0.8)
        ax.set_title(title)
        ax.set_ylabel("train loss" if j == 0 else "")
        ax = axes[1, j]
        ax.plot(tr.eig_steps, tr.sharpness, color="C0", lw=0.8, label=r"$\lambda_{\max}$")
        ax.axhline(thr, color="k", ls="--", lw=0.8, label=r"$2/\eta$")
        ax.set_ylabel("sharpness" if j == 0 else "")
        ax.legend(loc="lower right")
        ax = axes[2, j]
        ax.plot(tr.gfs_steps, tr.phi, "o-", color="C1", ms=3, lw=1.0, label=r"GFS sharpness $\phi$")
        ax.axhline(thr, color="k", ls="--", lw=0.8, label=r"$2/\eta$")
        ax.set_ylabel("GFS sharpness" if j == 0 else "")
        ax.set_xlabel("GD step")
        ax.legend(loc="upper right")
    if data_note:
        axes[2, 0].text(0.01, 0.01, data_note, transform=axes[2, 0].transAxes, fontsize=7, color="0.35")
    return fig
