"""The figures of the product-stability notebooks (Gan, 2026), one function per page.

Each function takes what its notebook computed (runs, check quantities) and returns the
Matplotlib figure; the notebook stamps it with :func:`eoslib.plotting.save_figure`. A panel
that needs a curve the checks did not compute (a fine grid, a short trajectory) computes it
here with the public functions of the topic modules.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

from eoslib import gd, plotting
from eoslib.losses import ScalarLoss

from .closed_forms import (eta_from_mu, minimum_derivatives, minimum_sharpness_formula,
                           two_step_contraction)
from .cycles import bifurcation_cycle, cycle_amplitude_prediction, inverse_bifurcation, inverse_bifurcation_curvature
from .dynamics import LimitRuns, PhaseSpaceRun, eos_init, gd_product
from .families import eq13_ratio
from .limits import (PhaseSummary, lag_profile, limit_gap_coefficient, predicted_limit_lambda,
                     predicted_phase3_rate)

__all__ = [
    "lemma_3_1", "theorem_4_2", "theorem_4_3", "lemma_5_1", "theorem_5_2", "lemma_6_1", "lemma_6_2",
    "lemma_6_4", "lemma_6_5", "figure_1", "figure_2", "figure_3", "figure_4", "figure_5",
]


def _mu_trajectories(ax, losses_: Sequence[ScalarLoss], colors, eta, mu0, dz0, num_steps, y_clip):
    """mu_t = eta s_t l2 - 2 of one EoS start per loss, cut at a divergence (marked by a cross)."""
    for l, color in zip(losses_, colors):
        m = minimum_derivatives(l)
        tr = gd_product(l, eta, *eos_init(l, eta, mu0, dz0), num_steps)
        mu_t = eta * np.asarray(tr.s) * m.l2 - 2
        k = int(tr.diverged_at)
        stop = k if k >= 0 else num_steps + 1
        ax.plot(np.arange(1, stop), mu_t[1:stop], color=color, lw=1.3, label=f"{l.name} ($\\alpha$={m.alpha:.3g})")
        if k >= 0:
            ax.plot([stop - 1], [min(mu_t[stop - 1], y_clip)], "x", color=color, ms=9, mew=2)
            ax.annotate(f"diverged at step {k}", (stop - 1, y_clip), xytext=(8, -4), textcoords="offset points",
                        fontsize=8, color=color)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("step $t$")
    ax.set_ylabel(r"$\mu_t=\eta\,(x_t^2+y_t^2)\,l_2-2$")


def lemma_3_1(loss: ScalarLoss, z, lam, dlam, bound, remainder, eta: float) -> plt.Figure:
    """(a) the minimum manifold coloured by sharpness, (b) z_t and lambda_t, (c) |dlambda| vs its bound."""
    md = minimum_derivatives(loss)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.9))
    ax = axes[0]
    xh = jnp.geomspace(0.12, 12.0, 400)
    S_h = minimum_sharpness_formula(loss, xh, loss.z_star / xh)
    sc = ax.scatter(xh, loss.z_star / xh, c=S_h, s=6, norm=LogNorm())
    ax.scatter(-xh, -loss.z_star / xh, c=S_h, s=6, norm=LogNorm())
    fig.colorbar(sc, ax=ax, label=r"sharpness $S=(x^2+y^2)\,l_2$")
    ax.set(xlim=(-12, 12), ylim=(-12, 12), xlabel="$x$", ylabel="$y$", title=f"(a) minima $xy=z^*$ = {loss.z_star:.3f}")
    ax = axes[1]
    t = np.arange(len(z))
    show = min(len(z) - 1, 100)
    ax.plot(t[: show + 1], np.asarray(z[: show + 1]), ".-", ms=3, lw=0.5, color="C0")
    ax.axhline(loss.z_star, color="C0", ls=":", lw=1)
    ax.set_xlabel("step $t$")
    ax.set_ylabel(r"$z_t=x_ty_t$ (dotted: $z^*$)", color="C0")
    ax.set_title(f"(b) product, eta={eta:g}, first {show} steps")
    ax2 = ax.twinx()
    ax2.plot(t[: show + 1], np.asarray(lam[: show + 1]), color="C1", lw=1.2)
    ax2.axhline(2 / md.l2, color="C1", ls="--", lw=0.8)
    ax2.set_ylabel(r"$\lambda_t=\eta s_t$ (dashed: $2/l_2$)", color="C1")
    ax2.grid(False)
    ax2.spines["right"].set_visible(True)
    ax = axes[2]
    even = slice(0, None, 2)  # even steps only: the odd ones interleave and blur the curves
    for y, label in ((dlam, r"$|\lambda_{t+1}-\lambda_t|$"), (bound, r"$4\eta^2(|zl'|+\lambda l'^2)$"),
                     (jnp.abs(remainder), r"Eq. 9 remainder $\eta^2|z|l'^2$")):
        ax.semilogy(t[:-1][even], np.asarray(y)[even], lw=1, label=label)
    ax.set(xlabel="step $t$ (even)", ylabel="per-step size", title="(c) $\\lambda$ moves by $O(\\eta^2)$")
    ax.legend(loc="lower left")
    return fig


def theorem_4_2(loss: ScalarLoss, neg: ScalarLoss, mus, gd_plus, gd_minus, mu_sweep, err_a, err_m,
                dz0: float, short: int = 400) -> plt.Figure:
    """(a) the 2-cycle and its asymptotic shape, (b) the formulas' error vs mu, (c) cycle vs escape."""
    md = minimum_derivatives(loss)
    mu_fine = np.linspace(1e-4, float(np.max(mu_sweep)), 300)
    eta_fine = eta_from_mu(loss, mu_fine)
    pm_f, pp_f = bifurcation_cycle(loss, eta_fine)
    pr_f = cycle_amplitude_prediction(loss, eta_fine)
    mu_mid = float(mus[min(1, len(mus) - 1)])
    traj = {name: gd.gd_trajectory(l.fn, jnp.asarray(l.z_star + dz0), eta_from_mu(l, mu_mid), short)
            for name, l in (("bce", loss), ("neg", neg))}
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.9))
    ax = axes[0]
    ax.plot(mu_fine, pp_f, color="C0", label=r"$p_\pm$ solved")
    ax.plot(mu_fine, pm_f, color="C0")
    for sign, label in ((1, r"$z^*+m\pm a$"), (-1, None)):
        ax.plot(mu_fine, md.z_star + pr_f.offset + sign * pr_f.half_amplitude, "--", color="C1", label=label)
    ax.axhline(md.z_star, color="0.5", lw=1, ls=":", label=r"$z^*$ (unstable)")
    ax.plot(mus, gd_plus, "ko", ms=4, label="GD tail")
    ax.plot(mus, gd_minus, "ko", ms=4)
    ax.set(xlabel=r"$\mu=\eta l_2-2$", ylabel="cycle points $z$", title=f"(a) 2-cycle of Eq. 5, {loss.name}")
    ax.legend(loc="center right")
    ax = axes[1]
    ax.loglog(mu_sweep, err_a, "o-", label="half-amplitude $a$")
    ax.loglog(mu_sweep, err_m, "s-", label="offset $m$")
    ax.loglog(mu_sweep, 0.5 * err_a[0] * np.sqrt(mu_sweep / mu_sweep[0]), ":", color="0.4", label=r"slope $1/2$")
    ax.loglog(mu_sweep, 0.5 * err_a[0] * mu_sweep / mu_sweep[0], "--", color="0.4", label="slope 1")
    ax.set(xlabel=r"$\mu$", ylabel="relative error of formula", title="(b) asymptotic formulas: error vs $\\mu$")
    ax.legend(loc="upper left")
    ax = axes[2]
    t = np.arange(short + 1)
    ax.semilogy(t, np.abs(np.asarray(traj["bce"].params) - md.z_star), label=rf"{loss.name}, $\alpha$={md.alpha:.3g}")
    k_esc = int(traj["neg"].diverged_at) if traj["neg"].diverged else short + 1
    ax.semilogy(t[:k_esc], np.abs(np.asarray(traj["neg"].params) - neg.z_star)[:k_esc], label=r"control, $\alpha=-6$")
    if traj["neg"].diverged:
        ax.axvline(k_esc, color="C1", ls=":", lw=1)
        ax.annotate(f"diverged at step {k_esc}", (k_esc, 1e3), xytext=(6, 0), textcoords="offset points",
                    fontsize=8, color="C1")
    ax.set(xlabel="step $t$", ylabel=r"$|z_t-z^*|$", title=f"(c) mu = {mu_mid:g}: cycle vs escape")
    ax.legend(loc="center right")
    return fig


def theorem_4_3(grid: Mapping[str, LimitRuns], stable, excluded, etas, mu0s, dz0: float,
                lemma_delta: float) -> plt.Figure:
    """(a) the limit over the (eta, mu0) grid, (b) one start per loss, (c) Lemma A.5 at the threshold."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.1))
    ax = axes[0]
    styles = {stable[0].name: ("-", "o"), stable[1].name: ("--", "s"), excluded[0].name: (":", "^")}
    for name, (ls, mk) in styles.items():
        r = grid[name]
        for i in range(len(etas)):
            ax.loglog(mu0s, 1 - r.eta[i] * r.limit_sharpness[i] / 2, ls, marker=mk, ms=4, color=f"C{i}")
    for i, e in enumerate(etas):
        ax.plot([], [], "s", color=f"C{i}", label=f"$\\eta$={e:g}")
    for name, (ls, mk) in styles.items():
        ax.plot([], [], ls, marker=mk, color="0.3", label=name)
    ax.set(xlabel=r"initial excess $\mu_0=\eta s_0 l_2-2$", ylabel=r"relative gap $1-\eta S_\infty/2$",
           title="(a) limit over the grid (quartic: all diverged)", ylim=(1e-8, 1))
    ax.legend(loc="lower center", fontsize=7, ncol=4, columnspacing=0.8)
    ax = axes[1]
    _mu_trajectories(ax, list(stable) + list(excluded), ["C0", "C2", "C1", "C3"], 0.05, 0.1, dz0, 30000, 0.6)
    ax.set(ylim=(-0.2, 0.7), title="(b) one start: $\\eta$=0.05, $\\mu_0$=0.1")
    ax.legend(loc="lower left", fontsize=7)
    ax = axes[2]
    u_pos = np.geomspace(1e-3, lemma_delta, 80)
    u_plot = np.concatenate([-u_pos[::-1], u_pos])
    for l, color in ((stable[0], "C0"), (stable[1], "C2"), (excluded[1], "C3")):
        m = minimum_derivatives(l)
        r2 = np.asarray(two_step_contraction(l, 2 / m.l2, m.z_star + u_plot))
        ax.plot(u_plot, 1 - r2, color=color, label=l.name)
        ax.plot(u_plot, 2 * m.alpha / (3 * m.l2**2) * u_plot**2, ":", color=color, lw=1)
    ax.plot([], [], ":", color="0.4", label=r"normal form $2Cu^2$")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_xticks([-0.1, -0.05, 0, 0.05, 0.1])
    ax.set(xlabel=r"$u=z-z^*$", ylabel=r"$1-|z_2-z^*|/|z_0-z^*|$ at $\lambda=2/l_2$",
           title="(c) Lemma A.5: two-step contraction")
    ax.legend(loc="lower left", fontsize=7)
    return fig


def lemma_5_1(family: Sequence[ScalarLoss], neg: ScalarLoss, mu, branches: Mapping) -> plt.Figure:
    """(a) scaled branches p_+-(eta), (b) the inverse map lambda(z) normalised, (c) the quotient g of B.2."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.0))
    ax = axes[0]
    for i, l in enumerate(family):
        m = minimum_derivatives(l)
        _, pm, pp = branches[l.name]
        scale = np.sqrt(3 * m.l2**2 / m.alpha)
        ax.plot(mu, (pp - m.z_star) / scale, color=f"C{i}", label=l.name)
        ax.plot(mu, (pm - m.z_star) / scale, color=f"C{i}")
    ax.plot(mu, np.sqrt(mu), "--", color="k", lw=1, label=r"$\pm\sqrt{\mu}$")
    ax.plot(mu, -np.sqrt(mu), "--", color="k", lw=1)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xlabel=r"$\mu=\eta l_2-2$", ylabel=r"$(p_\pm-z^*)\,/\sqrt{3l_2^2/\alpha}$",
           title="(a) branches $p_\\pm(\\eta)$, Lemma 5.1")
    ax.legend(loc="lower left", fontsize=8)
    ax = axes[1]
    v_plot = np.linspace(-0.5, 0.5, 241)  # scaled offset v = u sqrt(|C|), C = alpha / (3 l2^2)
    for i, l in enumerate(list(family) + [neg]):
        m = minimum_derivatives(l)
        C = m.alpha / (3 * m.l2**2)
        lam_u = np.asarray(inverse_bifurcation(l, jnp.asarray(m.z_star + v_plot / np.sqrt(abs(C)))))
        ax.plot(v_plot, lam_u * m.l2 / 2 - 1, color=f"C{i}" if l is not neg else "C5",
                label=f"{l.name} ($\\alpha$={m.alpha:.3g})")
    ax.plot(v_plot, v_plot**2 / 2, ":", color="k", lw=1.2, label=r"Lemma B.1: $\pm v^2/2$")
    ax.plot(v_plot, -v_plot**2 / 2, ":", color="k", lw=1.2)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(ylim=(-0.2, 0.45), xlabel=r"$v=(z-z^*)\sqrt{|\alpha|/(3l_2^2)}$", ylabel=r"$\lambda(z)\,l_2/2-1$",
           title="(b) inverse map $\\lambda(z)$, Lemma B.1")
    ax.legend(loc="upper left", fontsize=7)
    ax = axes[2]
    v_g = np.concatenate([np.linspace(-0.4, -0.004, 100), np.linspace(0.004, 0.4, 100)])
    for i, l in enumerate(family):
        m = minimum_derivatives(l)
        g0 = inverse_bifurcation_curvature(l) / 2
        u_g = v_g / np.sqrt(m.alpha / (3 * m.l2**2))
        lam_u = np.asarray(inverse_bifurcation(l, jnp.asarray(m.z_star + u_g)))
        ax.plot(v_g, (lam_u - 2 / m.l2) / u_g**2 / g0, color=f"C{i}", label=l.name)
        ax.plot([0], [1.0], "o", color=f"C{i}", mfc="white", ms=6)
    ax.set(xlabel=r"$v=(z-z^*)\sqrt{\alpha/(3l_2^2)}$", ylabel=r"$g(z)/g(z^*)$, $g=(\lambda(z)-2/l_2)/(z-z^*)^2$",
           title="(c) Lemma B.2: removable singularity")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def theorem_5_2(study, eta_arr, ratio: Mapping, loss: ScalarLoss, phase_eta: float, run: PhaseSpaceRun,
                sm: PhaseSummary) -> plt.Figure:
    """(a) |ratio - 1| vs eta, (b) the Phase II lag along one run, (c) Phase III convergence."""
    m = minimum_derivatives(loss)
    u = run.z - m.z_star
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.1))
    ax = axes[0]
    for i, l in enumerate(study):
        err = np.abs(ratio[l.name] - 1)
        ax.loglog(eta_arr, err, "o-", color=f"C{i}", label=l.name)
        ax.loglog(eta_arr, err[-1] * (eta_arr / eta_arr[-1]) ** 2, ":", color=f"C{i}", lw=1)
    ax.plot([], [], ":", color="0.4", label=r"slope 2 ($O(\eta^2)$)")
    ax.set_xticks(eta_arr, [f"{e:g}" for e in eta_arr])
    ax.minorticks_off()
    ax.set(xlabel=r"learning rate $\eta$", ylabel=r"$|\mathrm{ratio}-1|$ (measured / predicted gap)",
           title="(a) Theorem 5.2: error vs $\\eta$")
    ax.legend(loc="upper left", fontsize=7)
    ax = axes[1]
    t_end_plot = max(3, int(np.argmax(np.abs(u) < 1e-6)))
    t_plot = np.unique(np.geomspace(1, t_end_plot, 400).astype(int) // 2 * 2)
    dev_even, dev_odd, dev_mean = lag_profile(loss, phase_eta, run, t_plot)
    ax.semilogx(t_plot, dev_even, color="C0", lw=0.8, alpha=0.4, label="even step $t$")
    ax.semilogx(t_plot, dev_odd, color="C1", lw=0.8, alpha=0.4, label="odd step $t+1$")
    ax.semilogx(t_plot, dev_mean, color="k", lw=1.6, label="mean over one period")
    ax.axhline(-1, color="C3", ls="--", lw=1.2, label=r"predicted $-3\eta^2l_2^3/\alpha$")
    ax.axvspan(1, max(sm.t_reach, 1), color="0.9", zorder=0)
    ax.text(1.3, 0.6, "Phase I", fontsize=8, color="0.3")
    ax.text(max(sm.t_reach, 1) * 1.5, 0.6, "Phase II", fontsize=8, color="0.3")
    ax.axvline(sm.t_end, color="0.5", ls=":", lw=1)
    ax.text(sm.t_end * 1.15, 0.6, "III", fontsize=8, color="0.3")
    ax.set(ylim=(-3, 1), xlabel="step $t$", ylabel=r"$(\lambda_t-\lambda(z_t))\,/\,|$predicted lag$|$",
           title=f"(b) lag behind the diagram, {loss.name}, $\\eta$={phase_eta:g}")
    ax.legend(loc="lower right", fontsize=7)
    ax = axes[2]
    i_floor = int(np.argmax(np.abs(u) < 3e-11)) if np.any(np.abs(u) < 3e-11) else len(u) - 1
    t_max = min(len(u) - 1, int(1.15 * i_floor))
    t_all = np.arange(0, t_max, max(1, t_max // 4000))
    ax.semilogy(t_all / 1e3, np.abs(u[t_all]), color="C0", lw=1, label=r"$|z_t-z^*|$")
    i0 = int(np.argmax(np.abs(u) < 1e-4))
    ref = np.abs(u[i0]) * np.exp(predicted_phase3_rate(loss, phase_eta) * (t_all - i0))
    ax.semilogy(t_all / 1e3, ref, "--", color="C1", label=r"slope $\log(1+\mu_\infty)$ per step")
    ax.axvspan(0, sm.t_end / 1e3, color="0.93", zorder=0)
    ax.text(sm.t_end / 2e3, 1e-9, "Phase II", fontsize=8, color="0.3", ha="center", rotation=90)
    ax.text(t_max / 2e3, 1e-2, "Phase III", fontsize=8, color="0.3", ha="left")
    ax.set(ylim=(1e-12, 1), xlabel="step $t$ (thousands)", ylabel=r"$|z_t-z^*|$",
           title="(c) Phase III: linear convergence (floor: round-off)")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def lemma_6_1(zs, alpha_closed, alpha_auto: Mapping, factor) -> plt.Figure:
    """(a) alpha(l_y, z) closed form and autodiff, (b) the factor 1 - 3p + 3p^2."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.9))
    ax = axes[0]
    ax.semilogy(zs, alpha_closed, color="k", lw=2, label=r"$2p^2(1-p)^2(1-3p+3p^2)$")
    step = max(1, len(zs) // 60)
    for i, (y, auto) in enumerate(alpha_auto.items()):
        ax.semilogy(zs[i::step], auto[i::step], "o", ms=3.5, mfc="none", label=f"autodiff, y={y:g}")
    for edge in (-10, 10):
        ax.axvline(edge, color="0.6", ls=":", lw=1)
    ax.set(xlabel="$z$ (logit)", ylabel=r"$\alpha(l_y,z)=3l'''^2-l''l''''$",
           title=r"(a) $\alpha>0$ everywhere, for every soft label")
    ax.legend(loc="lower center")
    ax = axes[1]
    ax.plot(zs, factor, color="C0", label=r"$1-3p+3p^2$, $p=\sigma(z)$")
    ax.axhline(0.25, color="C3", ls="--", lw=1, label=r"$1/4$")
    ax.set(xlim=(-8, 8), xlabel="$z$ (logit)", ylabel="factor", title="(b) the factor is at least 1/4")
    ax.legend(loc="center right")
    return fig


def lemma_6_2(ns, alpha_formula, alpha_auto, by_n: Mapping[int, ScalarLoss], c: float, eta: float, mu0s,
              dz0: float, record_steps: int = 30000) -> plt.Figure:
    """(a) alpha(l_n, 1) against n, (b) eta s_t l2 / 2 along GD on l_n(xy) for n = 1, 2."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.9))
    ax = axes[0]
    pos = alpha_formula > 0
    ax.semilogy(ns[pos], alpha_formula[pos], "-", color="0.5", label=r"$16c^2n^4(n-1)(5n-4)$")
    ax.semilogy(ns[pos], alpha_auto[pos], "o", color="C0", label="autodiff")
    ax.plot([1], [alpha_formula[pos].min() / 30], "x", color="C3", ms=9, label=r"$n=1$: $\alpha=0$")
    ax.set(xlabel="$n$", ylabel=r"$\alpha(l_n,1)$", title=f"(a) product-stability of $l_n$, c={c:g}")
    ax.legend(loc="lower right")
    ax = axes[1]
    for n, ls in ((1, "--"), (2, "-")):
        l = by_n[n]
        m = minimum_derivatives(l)
        for i, mu0 in enumerate(mu0s):
            tr = gd_product(l, eta, *eos_init(l, eta, mu0, dz0), record_steps, record_every=10)
            ax.plot(np.arange(tr.s.shape[0]) * 10, eta * np.asarray(tr.s) * m.l2 / 2, ls, color=f"C{i}", lw=1.3,
                    label=f"n={n}, $\\mu_0$={mu0:g}")
    ax.axhline(1.0, color="k", lw=0.8, label=r"$\eta S/2=1$ (i.e. $S=2/\eta$)")
    ax.axhline(1 - limit_gap_coefficient(by_n[2]) * eta**2 / 2, color="k", ls=":", lw=1, label="Thm 5.2 limit, n=2")
    ax.set_xscale("symlog", linthresh=100)
    ax.set(xlim=(0, record_steps), xlabel="step $t$", ylabel=r"$\eta s_t l_2/2$", title=f"(b) GD on $l_n(xy)$, eta={eta:g}")
    ax.legend(loc="upper right", ncol=2, fontsize=7)
    return fig


def lemma_6_4(ahn: Sequence[ScalarLoss], flat: ScalarLoss, alphas: Mapping[str, float], eta_arr,
              runs: Mapping[str, LimitRuns], gap_flat) -> plt.Figure:
    """(a) the Eq. 13 ratio with beta = 2, (b) the gap 2/eta - S_inf: alpha > 0 vs alpha = 0."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.0))
    ax = axes[0]
    s_plot = np.geomspace(1e-2, 1.0, 200)
    for i, l in enumerate(list(ahn) + [flat]):
        ax.loglog(s_plot, np.asarray(eq13_ratio(l, s_plot, 2.0)), color=f"C{i}", label=l.name)
    for i, l in enumerate(ahn):
        ax.axhline(alphas[l.name] / 6, color=f"C{i}", ls=":", lw=1)
    ax.loglog(s_plot, 0.15 * s_plot**2, "--", color="C2", lw=1, label=r"$0.15\,s^2$ ($\beta=4$)")
    ax.plot([], [], ":", color="0.4", label=r"$\alpha/6=-l''''(0)/6$")
    ax.set(xlabel="$s$", ylabel=r"$(1-l'(s)/s)\,/\,s^2$", title=r"(a) Eq. 13 with $\beta=2$")
    ax.legend(loc="lower right", fontsize=8)
    ax = axes[1]
    for i, l in enumerate(ahn):
        ax.loglog(eta_arr, 2 / eta_arr - runs[l.name].limit_sharpness, "o", color=f"C{i}", label=f"{l.name} (GD)")
        ax.loglog(eta_arr, limit_gap_coefficient(l) * eta_arr, "--", color=f"C{i}", lw=1)
    ax.loglog(eta_arr, gap_flat, "s-", color="C2", label=r"beta4_even, $\alpha=0$ (GD)")
    ax.loglog(eta_arr, gap_flat[-1] * (eta_arr / eta_arr[-1]) ** (1 / 3), ":", color="C2", lw=1, label="slope 1/3")
    ax.plot([], [], "--", color="0.4", label=r"Thm 5.2: $3\eta l_2^4/\alpha$")
    ax.set_xticks(eta_arr, [f"{e:g}" for e in eta_arr])
    ax.minorticks_off()
    ax.set(xlabel=r"learning rate $\eta$", ylabel=r"gap $2/\eta-S_\infty$", title="(b) limiting sharpness: $\\alpha>0$ vs $\\alpha=0$")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def lemma_6_5(P, alpha, Cs, family: Sequence[ScalarLoss], mu0: float, dz0: float) -> plt.Figure:
    """(a) alpha / c^2 against p, (b) one EoS start per exponent p."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.0))
    ax = axes[0]
    p_fine = np.linspace(0.05, 4.0, 200)
    ax.plot(p_fine, 3 * p_fine**2 * (2 - p_fine), color="k", lw=1.5, label=r"$3p^2(2-p)$")
    ax.plot(P.ravel(), (alpha / Cs**2).ravel(), "o", color="C0", ms=5, mfc="none", label=r"autodiff $\alpha/c^2$, all $(c,\mu)$")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.axvline(2, color="C3", ls=":", lw=1)
    ax.text(2.05, 3, r"$p=2$: $\alpha=0$", color="C3", fontsize=8)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set(xlabel="exponent $p$ (degree of regularity, candidate)", ylabel=r"$\alpha(l_{p,c,\mu},\mu)\,/\,c^2$",
           title=r"(a) $\alpha>0$ iff $p<2$")
    ax.legend(loc="lower left", fontsize=8)
    ax = axes[1]
    _mu_trajectories(ax, family, [f"C{i}" for i in range(len(family))], 0.05, mu0, dz0, 20000, 0.35)
    ax.set(ylim=(-0.15, 0.4), title=f"(b) GD on $l_p(xy)$, $\\eta$=0.05, $\\mu_0$={mu0:g}")
    ax.legend(loc="lower left", fontsize=8)
    return fig


def figure_1(pair: Sequence[ScalarLoss], traces: Mapping, eta: float, labels: Mapping[str, str]) -> plt.Figure:
    """(a) Hessian sharpness and s l''(z*) along GD on l(xy), (b) |l'(z_t)|."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw=dict(width_ratios=[1.5, 1]))
    for i, l in enumerate(pair):
        S, S_bar, grad = traces[l.name]
        t = np.arange(1, len(S) + 1)
        axes[0].plot(t, S, color=f"C{i}", lw=0.3, alpha=0.35)
        axes[0].plot(t, S_bar, color=f"C{i}", lw=2, label=labels[l.name])
        axes[1].semilogy(t, np.maximum(grad, 1e-18), color=f"C{i}", lw=0.8, label=labels[l.name])
    ax = axes[0]
    ax.plot([], [], color="0.5", lw=0.6, label=r"faint: $\lambda_{\max}(\nabla^2 f)$ at each step")
    ax.axhline(2 / eta, color="k", ls="--", lw=1.2, label=r"$2/\eta$")
    ax.set_xscale("log")
    ax.set(xlabel="step $t$", ylabel="sharpness",
           title=f"(a) GD on $l(xy)$, $\\eta$={eta:g}: bold $\\bar S_t=(x_t^2+y_t^2)\\,l''(z^*)$")
    ax.legend(loc="lower left", fontsize=8)
    ax = axes[1]
    ax.set_xscale("log")
    ax.set(ylim=(1e-17, 1), xlabel="step $t$", ylabel=r"$|l'(x_ty_t)|$", title="(b) convergence of the product $z_t=x_ty_t$")
    ax.legend(loc="lower left", fontsize=8)
    return fig


def _shown_steps(n: int, t_end: int) -> np.ndarray:
    """Every step of Phase I, then pairs (t, t + 1) thinned logarithmically."""
    dense = np.arange(0, min(300, n - 1))
    sparse = np.unique(np.geomspace(300, max(t_end, 301) * 1.2, 400).astype(int) // 2 * 2)
    sparse = sparse[sparse < n - 1]
    return np.unique(np.concatenate([dense, sparse, sparse + 1]))


def figure_2(panel_losses, titles, etas, mu0s, runs: Sequence[PhaseSpaceRun],
             summaries: Sequence[PhaseSummary]) -> plt.Figure:
    """Four phase-space panels: the diagram lambda(z), 2/l2, lambda_inf and the GD iterates."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.2))
    norm = LogNorm(vmin=1, vmax=max(sm.t_end for sm in summaries) * 1.2)
    for ax, name, l, eta, mu0, run, sm in zip(axes.flat, titles, panel_losses, etas, mu0s, runs, summaries):
        m = minimum_derivatives(l)
        t_idx = _shown_steps(len(run.z), sm.t_end)
        r = 1.08 * np.max(np.abs(run.z[t_idx] - m.z_star))
        z_curve = np.linspace(m.z_star - r, m.z_star + r, 401)
        ax.plot(z_curve, np.asarray(inverse_bifurcation(l, jnp.asarray(z_curve))), color="k", lw=1.5,
                label=r"diagram $\lambda(z)$")
        ax.axhline(2 / m.l2, color="0.3", ls="--", lw=1, label=r"$2/l_2$")
        ax.axhline(predicted_limit_lambda(l, eta), color="C3", ls=":", lw=1.2, label=r"$\lambda_\infty$ (Thm 5.2)")
        even, odd = t_idx[t_idx % 2 == 0], t_idx[t_idx % 2 == 1]
        sc = ax.scatter(run.z[even], run.lam[even], c=np.maximum(even, 1), norm=norm, s=9, marker="o", label="even $t$")
        ax.scatter(run.z[odd], run.lam[odd], c=np.maximum(odd, 1), norm=norm, s=11, marker="^", label="odd $t$")
        ax.plot([run.z_final], [run.lam_final], "*", color="C3", ms=13, mec="k", label="final point")
        lam_hi = run.lam[0]  # the start; the diagram continues above it, out of the frame
        ax.set_ylim(2 / m.l2 - 0.08 * (lam_hi - 2 / m.l2), lam_hi + 0.3 * (lam_hi - 2 / m.l2))
        ax.set(xlabel="$z=xy$", ylabel=r"$\lambda=\eta\,(x^2+y^2)$", title=f"{name}: $\\eta$={eta:g}, $\\mu_0$={mu0:g}")
    axes[0, 0].legend(loc="upper center", ncol=2, fontsize=7)
    fig.colorbar(sc, ax=axes, label="step $t$", shrink=0.6)
    return fig


def figure_3(loss: ScalarLoss, eta: float, mu_arr, dz0s, sweep: LimitRuns, mu0_out: float, mu_show,
             runs: Mapping) -> plt.Figure:
    """(a) eta S_inf / 2 against mu0, (b)-(c) phase-space trajectories inside and outside the gap condition."""
    m = minimum_derivatives(loss)
    G = limit_gap_coefficient(loss)
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.2))
    ax = axes[0]
    for j, dz0 in enumerate(dz0s):
        ax.semilogx(mu_arr, eta * sweep.limit_sharpness[:, j] / 2, "o-", color=f"C{j}", ms=5, label=f"$\\Delta z_0$ = {dz0:+g}")
    ax.axhline(1 - G * eta**2 / 2, color="k", ls="--", lw=1.2, label=r"Thm 5.2: $1-G\eta^2/2$")
    ax.axhline(1.0, color="0.5", lw=0.8, label=r"threshold $S=2/\eta$")
    ax.axvspan(mu_arr.min() * 0.7, mu0_out * 1.2, color="C3", alpha=0.08, lw=0)
    ax.axvline(G * eta**2, color="C3", ls=":", lw=1)
    ax.text(G * eta**2 * 1.1, 1 - 2.2 * G * eta**2, r"$|\mu_\infty|$", color="C3", fontsize=9)
    ax.set(xlabel=r"initial excess $\mu_0=\eta s_0l_2-2$", ylabel=r"$\eta S_\infty/2$",
           title=f"(a) limit vs $\\mu_0$, {loss.name}, $\\eta$={eta:g}")
    ax.legend(loc="lower right", fontsize=8)
    for ax, mu0, tag in ((axes[1], mu_show[1], "(b) inside"), (axes[2], mu_show[0], "(c) outside")):
        zs = np.concatenate([runs[(mu0, d)].z for d in dz0s])
        r = 1.1 * np.max(np.abs(zs - m.z_star))
        z_curve = np.linspace(m.z_star - r, m.z_star + r, 400)
        ax.plot(z_curve, np.asarray(inverse_bifurcation(loss, jnp.asarray(z_curve))), color="k", lw=1.4,
                label=r"diagram $\lambda(z)$")
        ax.axhline(2 / m.l2, color="0.4", ls="--", lw=1, label=r"$2/l_2$")
        ax.axhline(predicted_limit_lambda(loss, eta), color="C3", ls=":", lw=1.2, label=r"$\lambda_\infty$ (Thm 5.2)")
        for j, dz0 in enumerate(dz0s):
            run = runs[(mu0, dz0)]
            idx = _shown_steps(len(run.z), int(len(run.z) / 1.2))
            ax.scatter(run.z[idx[idx % 2 == 0]], run.lam[idx[idx % 2 == 0]], s=6, marker="o", color=f"C{j}",
                       label=f"$\\Delta z_0$ = {dz0:+g}")
            ax.scatter(run.z[idx[idx % 2 == 1]], run.lam[idx[idx % 2 == 1]], s=8, marker="^", color=f"C{j}")
            sel = mu_arr == mu0
            ax.plot([sweep.z[sel, j][0]], [eta * sweep.s[sel, j][0]], "*", color=f"C{j}", ms=12, mec="k")
        lo = min(float(np.min(eta * sweep.s[mu_arr == mu0])), predicted_limit_lambda(loss, eta))
        hi = max((2 + mu0) / m.l2, 2 / m.l2)
        ax.set(ylim=(lo - 0.15 * (hi - lo), hi + 0.7 * (hi - lo)), xlabel="$z=xy$", ylabel=r"$\lambda=\eta\,(x^2+y^2)$",
               title=f"{tag}: $\\mu_0$ = {mu0:g}")
        ax.legend(loc="upper center", fontsize=7, ncol=3, columnspacing=0.8)
    return fig


def figure_4(pair: Sequence[ScalarLoss], runs: Mapping[str, PhaseSpaceRun], eta: float, eta_arr,
             gap: Mapping) -> plt.Figure:
    """(a) the end of training in units of G eta, (b) Phase III decay, (c) the gap against eta."""
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.1))
    for i, l in enumerate(pair):
        m = minimum_derivatives(l)
        run = runs[l.name]
        G = limit_gap_coefficient(l)
        t = np.arange(len(run.z))
        tau = t * G * eta**2
        sel = slice(0, None, max(1, len(t) // 6000))
        axes[0].plot(tau[sel], (run.lam[sel] / eta * m.l2 - 2 / eta) / (G * eta), color=f"C{i}", lw=1.3, label=l.name)
        u = np.abs(run.z - m.z_star)
        axes[1].semilogy(tau[sel], u[sel], color=f"C{i}", lw=1, label=l.name)
        i0 = int(np.argmax(u < 1e-4))
        ref = u[i0] * np.exp(predicted_phase3_rate(l, eta) * (t - i0))
        axes[1].semilogy(tau[sel], ref[sel], "--", color=f"C{i}", lw=1)
        axes[2].loglog(eta_arr, gap[l.name], "o", color=f"C{i}", ms=7, label=f"{l.name}: GD")
        axes[2].loglog(eta_arr, G * eta_arr, "--", color=f"C{i}", lw=1.2, label=f"{l.name}: $G\\eta$, G={G:.3g}")
    ax = axes[0]
    ax.axhline(0, color="k", lw=0.8, label=r"threshold $2/\eta$")
    ax.axhline(-1, color="C3", ls="--", lw=1.2, label=r"Thm 5.2: $-3\eta l_2^4/\alpha$")
    ax.set(xlim=(0, 30), ylim=(-1.6, 2.5), xlabel=r"$\tau=t\,|\mu_\infty|$ (Phase III time scale)",
           ylabel=r"$(\bar S_t-2/\eta)\,/\,(G\eta)$", title=f"(a) limiting sharpness, $\\eta$={eta:g}")
    ax.legend(loc="upper right", fontsize=8)
    ax = axes[1]
    ax.plot([], [], "--", color="0.4", label=r"slope $\log(1+\mu_\infty)$ per step")
    ax.set(xlim=(0, 30), ylim=(1e-13, 1), xlabel=r"$\tau=t\,|\mu_\infty|$", ylabel=r"$|z_t-z^*|$",
           title="(b) Phase III: linear convergence")
    ax.legend(loc="upper right", fontsize=8)
    ax = axes[2]
    ax.set_xticks(eta_arr, [f"{e:g}" for e in eta_arr])
    ax.minorticks_off()
    ax.set(xlabel=r"learning rate $\eta$", ylabel=r"gap $2/\eta-S_\infty$", title="(c) limiting sharpness vs $\\eta$ (slope 1)")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def figure_5(runs: Mapping, num_steps: int, data_description: str, alpha_solver: str, alpha_k: int,
             lsqr=None) -> plt.Figure:
    """(a) sharpness vs 2/eta, (b) alpha and its two terms, (c) the cutoff profile alpha(k)."""
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.2))
    for i, (eta, r) in enumerate(runs.items()):
        ax = axes[0]
        ax.plot(r.eig_steps, r.sharpness, color=f"C{i}", lw=1.5, label=f"$\\eta$ = {eta:g}")
        ax.axhline(2 / eta, color=f"C{i}", ls="--", lw=1)
        ax.axhspan(0.8 * 2 / eta, 1.2 * 2 / eta, color=f"C{i}", alpha=0.08, lw=0)
        ax.text(num_steps, 2 / eta, f"  2/$\\eta$={2 / eta:g}", color=f"C{i}", va="bottom", ha="right", fontsize=8)
        ax = axes[1]
        ax.plot(r.alpha_steps, r.alpha_array(), "o-", color=f"C{i}", label=f"$\\alpha$, $\\eta$ = {eta:g}")
        ax.plot(r.alpha_steps, r.alpha_array("third_term"), "^:", color=f"C{i}", ms=5, lw=1,
                label=r"$3T_{vv}^\top H^+T_{vv}$" if i == 0 else None)
        ax.plot(r.alpha_steps, r.alpha_array("fourth_term"), "s--", color=f"C{i}", ms=5, lw=1,
                label=r"$Q_{vvvv}$" if i == 0 else None)
        if alpha_solver == "topk":
            a = r.alpha[-1]
            axes[2].loglog(a.eigenvalues / a.eigenvalues[0], a.alpha_by_k, "o-", color=f"C{i}", ms=4,
                           label=f"$\\eta$ = {eta:g}, t = {r.alpha_steps[-1]}")
    ax = axes[0]
    ax.set(xlabel="GD step", ylabel=r"sharpness $\lambda_{\max}(\nabla^2L)$", title="(a) sharpness vs $2/\\eta$")
    ax.legend(loc="lower right", fontsize=8)
    plotting.data_note(ax, f"data: {data_description.removeprefix('data: ')}")
    ax = axes[1]
    ax.axhline(0, color="k", lw=0.8)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set(xlabel="GD step", ylabel="multivariate product-stability",
           title=f"(b) Def. 7.1, $H^+$: {'top ' + str(alpha_k) + ' pairs' if alpha_solver == 'topk' else 'LSQR'}")
    ax.legend(loc="center right", fontsize=7, ncol=2)
    ax = axes[2]
    if alpha_solver == "topk":
        ax.invert_xaxis()
        ax.set(xlabel=r"relative cutoff $\lambda_k/\lambda_{\max}$ (k = 1 at the left)",
               ylabel=r"$\alpha(k)$: $H^+$ from the top $k$ pairs")
        if lsqr is not None:
            ax.text(0.03, 0.95, f"full pseudoinverse (LSQR): $\\alpha<0$\n(e.g. {lsqr.alpha:.2g}, ill-conditioned)",
                    transform=ax.transAxes, va="top", fontsize=8)
        ax.legend(loc="lower right", fontsize=8)
    ax.set_title("(c) cutoff sensitivity")
    return fig
