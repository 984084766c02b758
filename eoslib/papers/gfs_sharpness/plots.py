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
    top = float(np.max(params)) * 1.08
    grid = np.linspace(1e-3, top, 600)
    ax.plot(grid, 1.0 / grid, color="k", lw=1.5, label=r"minima $w_1w_2=1$")
    b0 = params[0, 0] ** 2 - params[0, 1] ** 2
    for k, b in enumerate(np.linspace(0.0, b0, 5)):
        w2 = np.linspace(0, top, 400)
        ax.plot(np.sqrt(w2**2 + b), w2, color="0.7", lw=0.8, ls="--",
                label=r"GF curves $w_1^2-w_2^2=$ const" if k == 0 else None)
    ax.plot(params[:, 0], params[:, 1], "-", color="C1", lw=0.6, alpha=0.6)
    ax.plot(params[:, 0], params[:, 1], "o", color="C1", ms=3, label="GD iterates")
    for t in range(min(num_arrows, len(params))):
        ax.annotate("", xy=gfs_points[t], xytext=params[t],
                    arrowprops=dict(arrowstyle="->", color="C0", lw=0.8, alpha=0.8))
    ax.plot(gfs_points[:, 0], gfs_points[:, 1], "s", color="C0", ms=3, label=r"GF solutions $\mathcal{S}(\mathbf{w}^{(t)})$")
    ax.set_xlim(0, top)
    ax.set_ylim(0, min(top, 3.0))
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.set_title(r"(a) GD iterates and their GF solutions, $D=2$")
    ax.legend(loc="upper right")

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
