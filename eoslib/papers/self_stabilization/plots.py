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
           "drift_figure", "diagnostics_figure", "F_figure"]

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


def _tracking_row(axes, a, eta, sl, *, legend: bool):
    from eoslib.papers.self_stabilization.analysis import two_step_sharpness

    t = np.arange(len(a["gd_loss"]))
    ax = axes[0]
    ax.plot(t[sl], a["gd_loss"][sl], "k", lw=1.6, label="GD")
    ax.plot(t[sl], a["p7_loss"][sl], "C1", lw=1, label=r"Predicted $\theta^\dagger+\hat v$")
    ax.plot(t[sl], a["dag_loss"][sl], "C0", lw=1.2, label=r"Constrained $\theta^\dagger$")
    ax.plot(t[sl], a["gf_loss"][sl], "C2", lw=1, label="Gradient flow")
    ax.plot(t[sl], (a["cf_loss"] + a["cf_sigma2"] / eta)[sl], "C4--", lw=1,
            label=r"central flow $L+\sigma^2/\eta$ (ours)")
    ax.set(yscale="log", ylabel="train loss")
    ax = axes[1]
    ts, two = two_step_sharpness(a["gd_sharpness"])
    keep = (ts >= t[sl][0]) & (ts <= t[sl][-1])
    ax.plot(ts[keep], two[keep], "k.-", lw=1, ms=3, label="GD (two-step avg.)")
    pred = a["dag_sharpness"] + a["p7_y"]
    ax.plot(t[sl], pred[sl], "C1", lw=1, label=r"Predicted $S_t+\nabla S_t^\perp\cdot\hat v_t$")
    every = 10 if len(t) > 10 else 1
    gf_t = t[sl][t[sl] % every == 0]  # the flow's sharpness is refreshed every 10 steps
    ax.plot(gf_t, a["gf_sharpness"][gf_t], "C2.-", lw=1, ms=3, label="Gradient flow")
    ax.plot(t[sl], a["cf_sharpness"][sl], "C4--", lw=1, label="central flow (ours)")
    ax.axhline(2 / eta, color="0.4", ls="--", lw=0.8, label=r"$2/\eta$")
    ax.set(ylabel="sharpness")
    ax = axes[2]
    ax.plot(t[sl], a["v_norm"][sl], "k", lw=1.4, label=r"GD $\|\theta_t-\theta^\dagger_t\|$")
    ax.plot(t[sl], a["p7_norm"][sl], "C1", lw=1, label=r"Predicted $\|\hat v_t\|$")
    ax.plot(t[sl], a["delta"][sl], "C3", ls=":", lw=1.2, label=r"$\delta_t$")
    ax.plot(t[sl], a["gf_dist"][sl], "C2", lw=1, label=r"GF $\|\theta^{GF}_t-\theta^\dagger_t\|$")
    ax.plot(t[sl], a["cf_dist"][sl], "C4--", lw=1, label=r"central flow $\|w_t-\theta^\dagger_t\|$")
    ax.set(yscale="log", ylabel="distance to the constrained trajectory")
    if legend:
        for ax in axes:
            ax.legend(fontsize=6.5, loc="best")


def tracking_figure(a: dict, eta: float, zoom: tuple[int, int], note: str = "") -> plt.Figure:
    """Figure 4: loss, sharpness and distance (GD, predicted, constrained, GF, central flow).

    Top row: the steps ``zoom``; bottom row: the whole tracked run.
    """
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), layout="constrained")
    _tracking_row(axes[0], a, eta, slice(*zoom), legend=True)
    _tracking_row(axes[1], a, eta, slice(0, len(a["gd_loss"])), legend=False)
    for ax in axes[1]:
        ax.set_xlabel("tracked step t (after the first instability)")
    axes[0, 1].set_title(f"first cycle, steps {zoom[0]}-{zoom[1]}")
    axes[1, 1].set_title("whole tracked run")
    if note:
        plotting.data_note(axes[1, 2], note)
    return fig


def drift_figure(a: dict, corr_steps, corr: dict, width: int, note: str = "") -> plt.Figure:
    """GD's ``x_t``, ``y_t`` against the three predicted dynamics, and their sliding correlation."""
    t = np.arange(len(a["x"]))
    fig, axes = plt.subplots(3, 1, figsize=(11, 8), sharex=True, layout="constrained")
    styles = (("p7", "C1", "Definition 7"), ("pc", "C0", "reference-code form"),
              ("pg", "C2", "generalized (App. F)"))
    axes[0].plot(t, np.abs(a["x"]), "k", lw=1.6, label=r"GD $|x_t|$")
    axes[1].plot(t, a["y"], "k", lw=1.6, label=r"GD $y_t$")
    for tag, c, name in styles:
        axes[0].plot(t, np.abs(a[f"{tag}_x"]), c, lw=0.9, label=name)
        axes[1].plot(t, a[f"{tag}_y"], c, lw=0.9, label=name)
        axes[2].plot(corr_steps + width / 2, corr[tag], "o-", color=c, ms=4, label=name)
    axes[0].plot(t, a["delta"], "C3", ls=":", label=r"$\delta_t$")
    axes[0].set(yscale="log", ylabel=r"$|x_t|=|u_t\cdot v_t|$")
    axes[1].axhline(0, color="0.5", lw=0.8)
    axes[1].set(ylabel=r"$y_t=\nabla S_t^\perp\cdot v_t$")
    axes[2].axhline(0, color="0.5", lw=0.8)
    axes[2].set(ylabel=f"corr(GD, pred.) of $y$\nin {width}-step windows", xlabel="tracked step t",
                ylim=(-1.05, 1.05))
    for ax in axes:
        ax.legend(fontsize=7, ncol=2)
    if note:
        plotting.data_note(axes[2], note)
    return fig


def diagnostics_figure(a: dict, eta: float, note: str = "") -> plt.Figure:
    """Appendix E: the assumption diagnostics along the constrained trajectory, 3 x 3 panels."""
    t = np.arange(len(a["alpha"]))
    h = a["heavy_steps"]
    fig, axes = plt.subplots(3, 3, figsize=(13, 8.5), layout="constrained")
    panels = [
        (t, a["alpha"], r"$\alpha_t$ (Asm. 1: $>0$)", None),
        (t, a["epsilon"], r"$\epsilon_t=\eta\sqrt{\alpha_t}$ (Def. 6: small)", None),
        (t, a["gamma"], r"$\alpha_t/(\|\nabla L_t\|\|\nabla S_t^\perp\|)$ (Asm. 4)", None),
        (h, np.sqrt(a["beta"][h]) / a["rho3"], r"$\|\nabla S_t^\perp\|/\rho_3$ (Asm. 4)", None),
        (h, a["rho4"] / (eta * a["rho3"] ** 2), r"$\rho_4/(\eta\rho_3^2)$ (Asm. 3)", None),
        (h, a["asm5_v"], r"$\|\nabla^3L_t(v^\perp,v^\perp)\|/(\rho_3\|v^\perp\|^2)$ (Asm. 5)", None),
        (h, a["asm5_grad"], r"$\|\nabla^3L_t(\nabla L^\perp,\nabla L^\perp)\|/(\rho_3\|\nabla L^\perp\|^2)$", None),
        (h, a["asm5_hess"], r"$|\nabla^2L_t(v^\perp,v^\perp)|/(\|\nabla^2L_t\|\|v^\perp\|^2)$ (Asm. 5)", None),
        (t, a["lambda2"] * eta, r"$\eta\lambda_2(\theta^\dagger_t)$ (Asm. 2: $<1.9$)", 1.9),
    ]
    for ax, (x, y, title, line) in zip(axes.ravel(), panels):
        ax.plot(x, y, "o-" if len(x) < 50 else "-", ms=3, lw=1)
        if line is not None:
            ax.axhline(line, color="C3", ls="--", lw=0.8)
        ax.set_title(title, fontsize=8.5)
        ax.set_ylim(bottom=0)
    for ax in axes[-1]:
        ax.set_xlabel("tracked step t")
    if note:
        plotting.data_note(axes[-1, -1], note)
    return fig


def F_figure(a: dict, eta: float, note: str = "") -> plt.Figure:
    """``F_t(x)`` (the non-quadratic part of the loss along ``u_t``) at the sampled steps."""
    fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
    for i, s in enumerate(a["heavy_steps"]):
        d = a["delta"][s]
        ax.plot(a["F_x"][i] / d, a["F_vals"][i] / (d**2 / eta), lw=1,
                color=plt.cm.viridis(i / max(1, len(a["heavy_steps"]) - 1)), label=f"t = {s}")
    ax.axhline(0, color="k", lw=0.8)
    ax.set(xlabel=r"$x/\delta_t$", ylabel=r"$F_t(x)/(\delta_t^2/\eta)$",
           title=r"$F_t(x)=L(\theta^\dagger_t+xu_t)-L(\theta^\dagger_t)-x^2/\eta$")
    ax.legend(fontsize=6, ncol=2)
    if note:
        plotting.data_note(ax, note)
    return fig
