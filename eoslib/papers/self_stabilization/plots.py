"""Figures of the self-stabilization notebooks (the long plotting code lives here).

Every function returns a matplotlib ``Figure``; the notebook stamps and shows it with
:func:`eoslib.plotting.save_figure`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from eoslib import plotting
from eoslib.papers.self_stabilization.toy import STAGE_NAMES, stage_labels

__all__ = ["STAGE_COLORS", "shade_stages", "stages_figure", "orbits_figure", "tracking_figure",
           "drift_figure", "diagnostics_figure"]

#: Background colour of each stage.
STAGE_COLORS = {1: "#dbe9f6", 2: "#fde2c8", 3: "#f9d3d3", 4: "#dcefd9"}


def shade_stages(ax: plt.Axes, t: np.ndarray, labels: np.ndarray) -> None:
    """Shade the background of ``ax`` by stage label (1-4) over the steps ``t``."""
    start = 0
    for i in range(1, len(t) + 1):
        if i == len(t) or labels[i] != labels[start]:
            ax.axvspan(t[start], t[min(i, len(t) - 1)], color=STAGE_COLORS[int(labels[start])],
                       lw=0, zorder=0)
            start = i


def stages_figure(t, x, y, delta, *, alpha=1.0, eta=0.01, note: str = "") -> plt.Figure:
    """Figure 2: ``x_t`` and ``y_t`` of the toy model with the four stages shaded."""
    labels = stage_labels(x, y, delta)
    fig, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True, layout="constrained")
    for ax in axes:
        shade_stages(ax, t, labels)
    axes[0].plot(t, x, "k", lw=0.6)
    axes[0].plot(t, np.abs(x), "C0", lw=1.2, label=r"$|x_t|$")
    axes[0].axhline(delta, color="C3", ls="--", lw=1, label=r"$\delta=\sqrt{2\alpha/\beta}$")
    axes[0].set(ylabel=r"$x_t$ (unstable direction)")
    axes[0].legend(fontsize=8, loc="upper left")
    axes[1].plot(t, y, "C2", lw=1.2, label=r"$y_t=S(\theta_t)-2/\eta$ on $x=0$")
    axes[1].axhline(0, color="k", lw=0.8)
    axes[1].set(xlabel="step t", ylabel=r"$y_t$")
    handles = [plt.Rectangle((0, 0), 1, 1, color=STAGE_COLORS[k]) for k in (1, 2, 3, 4)]
    axes[1].legend(handles, [f"{k}: {STAGE_NAMES[k]}" for k in (1, 2, 3, 4)], fontsize=7,
                   loc="lower left", ncol=2)
    axes[0].set_title(rf"Toy model (App. B): $\alpha={alpha:g}$, $\eta={eta:g}$")
    if note:
        plotting.data_note(axes[1], note)
    return fig


def orbits_figure(solutions, extrema, stage_solution, delta: float, note: str = "") -> plt.Figure:
    """Figure 3: nested orbits of eq. (4) (left) and one orbit coloured by stage (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    ax = axes[0]
    for i, (sol, ext) in enumerate(zip(solutions, extrema)):
        ax.plot(sol.X, sol.Y, color=f"C{i}", lw=1.4, label=rf"$X(0)={sol.X[0]:g}$")
        ax.plot([ext.X_max], [0], "o", color=f"C{i}", ms=3)
    ax.plot([delta], [0], "k*", ms=10, label=r"fixed point $(\delta,0)$")
    ax.set(xlabel=r"$X=|x|$", ylabel="$Y$", title="orbits of eq. (4): closed and nested")
    ax.legend(fontsize=7)
    ax = axes[1]
    sol = stage_solution
    labels = stage_labels(sol.X, sol.Y, delta)
    for k in (1, 2, 3, 4):
        mask = labels == k
        ax.scatter(sol.X[mask], sol.Y[mask], s=2, color=plt.cm.tab10(k - 1), label=f"{k}: {STAGE_NAMES[k]}")
    ax.axvline(delta, color="0.5", ls=":", lw=0.8)
    ax.axhline(0, color="0.5", ls=":", lw=0.8)
    ax.set(xscale="log", xlabel=r"$X$ (log scale)", ylabel="$Y$", title=rf"one orbit, $X(0)={sol.X[0]:g}$, by stage")
    ax.legend(fontsize=7, markerscale=4)
    if note:
        plotting.data_note(ax, note)
    return fig
