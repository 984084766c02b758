"""GD trajectories of scalar networks with their GFS sharpness, grids of runs, GPGD orbits.

Every loop goes through :func:`eoslib.gd.iterate` / :func:`eoslib.gd.iterate_batched`
(jit + ``lax.scan``; a diverged run is frozen at its last valid iterate and reported by the
index of its first invalid step). The GD map is the closed form of Eq. 13
(:func:`~eoslib.papers.gfs_sharpness.scalar.gd_step`); the GFS sharpness comes from the
class root-find (:func:`~eoslib.papers.gfs_sharpness.scalar.gfs_sharpness`) or, on Zhu et
al.'s slice, from the closed form ``2 sqrt((x^2 - y^2)^2 + 4)``.

References:
  Kreisler et al., ICML 2023, Sections 3.2 and 3.6, Appendix B.1-B.2.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from eoslib import gd
from eoslib.validation import integer as _integer, positive as _positive, real as _real

from . import scalar as sc

__all__ = [
    "ScalarRun",
    "gd_run",
    "gd_runs",
    "scheduled_gd_run",
    "GridSummary",
    "slice_grid",
    "crossing",
    "gpgd_orbits",
    "detect_period",
    "max_relative_rise",
    "GRID_CLASSES",
    "classify_grid",
    "ConvergenceAnalysis",
    "convergence_analysis",
]


class ScalarRun(NamedTuple):
    """A recorded GD run on a scalar network (a leading batch axis for :func:`gd_runs`).

    Attributes:
      params: iterates ``w_t`` at ``times``, shape ``(T + 1, D)``.
      loss: ``L(w_t)``.
      sharpness: ``lambda_max(w_t)`` (dense Hessian of Eqs. 9-10).
      phi: GFS sharpness ``phi(w_t)``.
      product: ``pi(w_t)``.
      diverged_at: first invalid step, ``-1`` if none.
      times: step index of each record.
      eta: the step size (or the schedule's steps, for :func:`scheduled_gd_run`).
    """

    params: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    phi: np.ndarray
    product: np.ndarray
    diverged_at: np.ndarray
    times: np.ndarray
    eta: np.ndarray


def _gd_map(w: Array, eta: Array) -> Array:
    return sc.gd_step(w, eta)


def _measure(params: Array, diverged_at, times, eta) -> ScalarRun:
    params = jnp.asarray(params)
    return ScalarRun(
        params=np.asarray(params), loss=np.asarray(sc.loss(params)),
        sharpness=np.asarray(sc.sharpness(params)), phi=np.asarray(sc.gfs_sharpness(params)),
        product=np.asarray(sc.product(params)), diverged_at=np.asarray(diverged_at),
        times=np.asarray(times), eta=np.asarray(eta))


def gd_run(w0, eta: float, num_steps: int, *, record_every: int = 1,
           max_norm: float = 1e6) -> ScalarRun:
    """GD on ``L(w) = 1/2 (pi(w) - 1)^2`` from ``w0``, with loss, sharpness and GFS sharpness.

    Args:
      w0: initial weights ``(D,)``, ``D >= 2``.
      eta: step size in ``(0, inf)``.
      num_steps: steps in ``[1, inf)``.
      record_every: recording stride in ``[1, num_steps]``, dividing ``num_steps``.
      max_norm: divergence bound on ``||w||``, in ``(0, inf]``.

    Returns:
      A :class:`ScalarRun`.
    """
    w0 = sc.check_weights(w0, "w0")
    if w0.ndim != 1:
        raise ValueError(f"w0 must have shape (D,), got {w0.shape}")
    eta = _positive("eta", eta)
    res = gd.iterate(_gd_map, w0, num_steps, args=(jnp.asarray(eta, w0.dtype),),
                     record_every=record_every, max_norm=max_norm)
    return _measure(res.params, res.diverged_at, res.times, eta)


def gd_runs(w0s, etas, num_steps: int, *, record_every: int = 1,
            max_norm: float = 1e6) -> ScalarRun:
    """:func:`gd_run` for a batch of starts ``(B, D)`` with one step size each ``(B,)``."""
    w0s = sc.check_weights(w0s, "w0s")
    if w0s.ndim != 2:
        raise ValueError(f"w0s must have shape (B, D), got {w0s.shape}")
    etas = jnp.broadcast_to(jnp.asarray(etas, w0s.dtype), w0s.shape[:1])
    if not bool(jnp.all(etas > 0)):
        raise ValueError("etas must all be in (0, inf)")
    res = gd.iterate_batched(_gd_map, w0s, num_steps, args=(etas,), batch_args=True,
                             record_every=record_every, max_norm=max_norm)
    return _measure(res.params, res.diverged_at, res.times, etas)


def _scheduled_map(state, etas):
    w, t = state
    eta = etas[jnp.minimum(t.astype(jnp.int32), etas.shape[0] - 1)]  # t is a float leaf
    return sc.gd_step(w, eta), t + 1


def scheduled_gd_run(w0, etas, *, max_norm: float = 1e6) -> ScalarRun:
    """GD with a step-size schedule: step ``t`` uses ``etas[t]`` (``len(etas)`` steps).

    Args:
      w0: initial weights ``(D,)``.
      etas: step sizes, each in ``(0, inf)``.
      max_norm: divergence bound on ``||w||``.
    """
    w0 = sc.check_weights(w0, "w0")
    etas = jnp.asarray(etas, w0.dtype)
    if etas.ndim != 1 or etas.shape[0] < 1 or not bool(jnp.all(etas > 0)):
        raise ValueError("etas must be a non-empty 1-D array of values in (0, inf)")
    n = int(etas.shape[0])
    # The step counter rides along in the state; its norm is negligible next to max_norm.
    res = gd.iterate(_scheduled_map, (w0, jnp.zeros((), w0.dtype)), n, args=(etas,),
                     record_every=1, max_norm=max_norm + n)
    return _measure(res.params[0], res.diverged_at, res.times, etas)


def _slice_step(state, eta, thr, c1):
    """One GD step on the slice, tracking phi's worst rise, the first crossing below thr, and
    delta = 2 - eta phi at the first step with 0 < L <= c1 delta^2 (Theorem 3.3's hypothesis)."""
    w, phi_prev, worst, cross_t, cross_loss, cross_phi, hyp_delta, t = state
    w_new = sc.gd_step(w, eta)
    b = jnp.square(w_new[0]) - jnp.square(w_new[2])
    phi = 2.0 * jnp.sqrt(b * b + 4.0)  # Zhu et al.'s closed form; GD stays on the slice
    worst = jnp.maximum(worst, (phi - phi_prev) / phi_prev)
    first = (cross_t < 0) & (phi < thr)
    cross_t = jnp.where(first, t + 1.0, cross_t)
    cross_loss = jnp.where(first, sc.loss(w_new), cross_loss)
    cross_phi = jnp.where(first, phi, cross_phi)
    delta = 2.0 - eta * phi
    hyp = (hyp_delta <= 0) & (delta > 0) & (sc.loss(w_new) <= c1 * delta * delta)
    hyp_delta = jnp.where(hyp, delta, hyp_delta)
    return w_new, phi, worst, cross_t, cross_loss, cross_phi, hyp_delta, t + 1.0


class GridSummary(NamedTuple):
    """Final state of GD from every slice initialisation of a ``(phi0, pi0)`` grid.

    Attributes:
      phi0, pi0: the grid (broadcast), shape ``G``.
      w_final: last valid iterate, ``G + (4,)``.
      loss: final loss.
      sharpness: final ``lambda_max``.
      phi: final GFS sharpness.
      worst_rise: largest relative one-step increase of ``phi`` along the run.
      cross_step: first step with ``phi < 2/eta`` (-1 if none, 0 if already below).
      cross_loss: loss at that step (NaN if none).
      cross_phi: ``phi`` at that step (NaN if none).
      hypothesis_delta: ``delta_t = 2 - eta phi_t`` at the first step with ``delta_t > 0`` and
        ``L_t <= c1 delta_t^2`` (Theorem 3.3's hypothesis), NaN if none.
      diverged_at: first invalid step, -1 if none.
      num_steps: steps run.
    """

    phi0: np.ndarray
    pi0: np.ndarray
    w_final: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    phi: np.ndarray
    worst_rise: np.ndarray
    cross_step: np.ndarray
    cross_loss: np.ndarray
    cross_phi: np.ndarray
    hypothesis_delta: np.ndarray
    diverged_at: np.ndarray
    num_steps: int


def slice_grid(phi0s, pi0s, eta: float, num_steps: int, *, c1: float = 0.1, max_norm: float = 1e4) -> GridSummary:
    """GD from every slice point ``(x, x, y, y)`` of a grid of initial ``(phi0, pi0)``.

    The GFS sharpness is tracked at every step by the slice closed form, so the summary
    records its largest one-step rise and the first step where it is below ``2 / eta``
    (with the loss there), without storing trajectories.

    Args:
      phi0s, pi0s: broadcastable arrays; ``phi0 >= 4``, ``pi0 > 0``.
      eta: step size in ``(0, inf)``.
      num_steps: steps in ``[1, inf)``.
      c1: constant of Theorem 3.3's hypothesis ``L <= c1 delta^2``, in ``(0, inf)``.
      max_norm: divergence bound on the norm of the state.

    Returns:
      A :class:`GridSummary`.
    """
    eta = _positive("eta", eta)
    c1 = _positive("c1", c1)
    num_steps = _integer("num_steps", num_steps, 1)
    phi0, pi0 = np.broadcast_arrays(np.asarray(phi0s, float), np.asarray(pi0s, float))
    w0 = sc.slice_point(phi0, pi0).reshape(-1, 4)
    n = w0.shape[0]
    phi_init = sc.slice_sharpness(w0)
    thr = 2.0 / eta
    below = phi_init < thr
    zeros = jnp.zeros(n, w0.dtype)
    # Not-yet-crossed runs carry 0 in cross_loss / cross_phi (a NaN would read as divergence).
    d0 = 2.0 - eta * phi_init
    hyp0 = (d0 > 0) & (sc.loss(w0) <= c1 * d0 * d0)
    state = (w0, phi_init, zeros - 1.0, jnp.where(below, 0.0, -1.0),
             jnp.where(below, sc.loss(w0), 0.0), jnp.where(below, phi_init, 0.0), jnp.where(hyp0, d0, 0.0), zeros)
    res = gd.iterate_batched(_slice_step, state, num_steps,
                             args=(jnp.asarray(eta, w0.dtype), jnp.asarray(thr, w0.dtype), jnp.asarray(c1, w0.dtype)),
                             max_norm=max_norm + 2 * num_steps)
    w, phi, worst, cross_t, cross_loss, cross_phi, hyp_delta, _ = res.final
    shape = phi0.shape
    cross_t = np.asarray(cross_t).astype(int)
    return GridSummary(
        phi0=phi0, pi0=pi0, w_final=np.asarray(w).reshape(shape + (4,)),
        loss=np.asarray(sc.loss(w)).reshape(shape), sharpness=np.asarray(sc.sharpness(w)).reshape(shape),
        phi=np.asarray(phi).reshape(shape), worst_rise=np.asarray(worst).reshape(shape),
        cross_step=cross_t.reshape(shape),
        cross_loss=np.where(cross_t >= 0, np.asarray(cross_loss), np.nan).reshape(shape),
        cross_phi=np.where(cross_t >= 0, np.asarray(cross_phi), np.nan).reshape(shape),
        hypothesis_delta=np.where(np.asarray(hyp_delta) > 0, np.asarray(hyp_delta), np.nan).reshape(shape),
        diverged_at=np.asarray(res.diverged_at).reshape(shape), num_steps=num_steps)


def crossing(run: ScalarRun, threshold: float) -> tuple[int, float]:
    """First recorded step with ``phi < threshold`` and the loss there (``(-1, nan)`` if none)."""
    idx = np.flatnonzero(run.phi < threshold)
    if idx.size == 0:
        return -1, math.nan
    return int(run.times[idx[0]]), float(run.loss[idx[0]])


def max_relative_rise(values) -> float:
    """``max_t (v_{t+1} - v_t) / v_t`` over the last axis (``-inf`` for fewer than 2 values)."""
    v = np.asarray(values, float)
    if v.shape[-1] < 2:
        return -math.inf
    return float(np.max((v[..., 1:] - v[..., :-1]) / v[..., :-1]))


def _gpgd_map(p, w, eta):
    return sc.gpgd_product_map(w, p, eta)


def gpgd_orbits(ws, eta, *, burn_in: int = 3000, keep: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Products of the GPGD orbit from every ``w`` in ``ws``, after a burn-in.

    GPGD keeps the class of ``w`` (so ``phi``) fixed and iterates the product map
    ``h`` of :func:`~eoslib.papers.gfs_sharpness.scalar.gpgd_product_map` from ``pi(w)``.

    Args:
      ws: weights ``(B, D)`` with ``pi > 0``.
      eta: step size in ``(0, inf)``, or one per row ``(B,)``.
      burn_in: GPGD steps discarded, in ``[0, inf)``.
      keep: GPGD steps recorded after the burn-in, in ``[1, inf)``.

    Returns:
      ``(products, diverged)``: ``(B, keep + 1)`` products ``pi(GPGD^{burn_in + k}(w))``,
      ``k = 0..keep``, and a ``(B,)`` flag for orbits that left ``pi > 0`` (GPGD undefined
      there; the orbit is frozen at its last valid product).
    """
    ws = sc.check_weights(ws, "ws")
    if ws.ndim != 2:
        raise ValueError(f"ws must have shape (B, D), got {ws.shape}")
    etas = jnp.broadcast_to(jnp.asarray(eta, ws.dtype), ws.shape[:1])
    if not bool(jnp.all(etas > 0)):
        raise ValueError(f"eta must be in (0, inf), got {eta!r}")
    burn_in = _integer("burn_in", burn_in, 0)
    keep = _integer("keep", keep, 1)
    p0 = sc.product(ws)
    args = (ws, etas)
    diverged = np.zeros(ws.shape[0], bool)
    if burn_in:
        first = gd.iterate_batched(_gpgd_map, p0, burn_in, args=args, batch_args=True)
        p0, diverged = first.final, np.asarray(first.diverged_at) >= 0
    rec = gd.iterate_batched(_gpgd_map, p0, keep, args=args, batch_args=True, record_every=1)
    return np.asarray(rec.params), diverged | (np.asarray(rec.diverged_at) >= 0)


def detect_period(orbits, *, max_period: int = 32, tol: float = 1e-7) -> np.ndarray:
    """Smallest period ``k <= max_period`` of each orbit (0: none, i.e. chaotic or not settled).

    An orbit ``(p_1, ..., p_K)`` has period ``k`` if ``|p_{t+k} - p_t| <= tol`` for every
    ``t`` in the window; ``K`` must be at least ``2 max_period``.

    Args:
      orbits: ``(B, K)`` array.
      max_period: largest period tested, in ``[1, K / 2]``.
      tol: absolute tolerance, in ``(0, inf)``.
    """
    o = np.asarray(orbits, float)
    if o.ndim != 2:
        raise ValueError(f"orbits must have shape (B, K), got {o.shape}")
    max_period = _integer("max_period", max_period, 1, o.shape[1] // 2)
    tol = _positive("tol", tol)
    period = np.zeros(o.shape[0], int)
    for k in range(max_period, 0, -1):  # descending: the smallest matching k wins
        ok = np.all(np.abs(o[:, k:] - o[:, :-k]) <= tol, axis=1)
        period = np.where(ok, k, period)
    return period


class ConvergenceAnalysis(NamedTuple):
    """Theorem 3.3's quantities along one GD run (see :func:`convergence_analysis`).

    Attributes:
      crossed: ``phi`` ends below ``2 / eta``.
      converged: the final loss is below ``loss_converged``.
      delta: ``delta_t = 2 - eta phi_t``.
      delta_inf: ``delta`` at the last step.
      hypothesis: steps with ``delta_t > 0``, ``L_t <= c1 delta_t^2`` and ``L_t >= loss_floor``.
      k_values: ``K_t = (delta_inf - delta_t) delta_t / L_t`` on those steps.
      k_ratio: ``L_t / delta_t^2`` on those steps.
      first_delta: ``delta_t`` at the first such step (NaN if none).
      rate_excess: ``max_{t' >= t} L_t' / (L_t (1 - delta_t/2)^(2 (t' - t)))`` over the tested
        steps ``t`` (every ``rate_stride``-th hypothesis step), with ``t'`` restricted to where
        the bound exceeds ``rate_floor``; 1.0 if nothing was tested.
    """

    crossed: bool
    converged: bool
    delta: np.ndarray
    delta_inf: float
    hypothesis: np.ndarray
    k_values: np.ndarray
    k_ratio: np.ndarray
    first_delta: float
    rate_excess: float


def convergence_analysis(phi, loss, eta: float, *, c1: float = 0.1, loss_floor: float = 1e-12,
                         loss_converged: float = 1e-20, rate_floor: float = 1e-24,
                         rate_stride: int = 5) -> ConvergenceAnalysis:
    """Theorem 3.3 (as rebuilt) measured along one run: after the GFS sharpness crosses below
    ``2 / eta`` with a small loss, how far it still drops, and how fast the loss decays.

    Args:
      phi, loss: ``phi_t`` and ``L_t`` at every step ``t = 0..T``.
      eta: step size.
      c1: the hypothesis ``L_t <= c1 delta_t^2``, in ``(0, inf)``.
      loss_floor: smallest ``L_t`` used for ``K_t``, in ``(0, inf)``: below it the round-off of
        ``delta_inf - delta_t`` (about ``1e-15``) would dominate ``K_t``.
      loss_converged: final-loss level that counts as converged.
      rate_floor: the rate test ignores ``t'`` where the bound is below this value (the loss
        of a float64 product is only resolved down to about ``1e-30``).
      rate_stride: test every this many hypothesis steps, in ``[1, inf)``.
    """
    phi, loss = np.asarray(phi, float), np.asarray(loss, float)
    eta = _positive("eta", eta)
    c1 = _positive("c1", c1)
    rate_stride = _integer("rate_stride", rate_stride, 1)
    delta = 2.0 - eta * phi
    d_inf = float(delta[-1])
    hyp = (delta > 0) & (loss <= c1 * delta**2) & (loss >= loss_floor)
    k_values = (d_inf - delta[hyp]) * delta[hyp] / loss[hyp]
    log_l = np.log(np.maximum(loss, 1e-300))
    steps = np.arange(loss.size)
    excess = 0.0
    for t in np.flatnonzero(hyp)[::rate_stride]:
        bound = log_l[t] + 2.0 * np.log1p(-delta[t] / 2) * (steps - t)
        m = (steps >= t) & (bound > np.log(rate_floor))
        if m.any():
            excess = max(excess, float(np.max(log_l[m] - bound[m])))
    first = np.flatnonzero(hyp)
    return ConvergenceAnalysis(
        crossed=bool(d_inf > 0), converged=bool(loss[-1] < loss_converged), delta=delta,
        delta_inf=d_inf, hypothesis=hyp, k_values=k_values, k_ratio=loss[hyp] / delta[hyp] ** 2,
        first_delta=float(delta[first[0]]) if first.size else math.nan, rate_excess=math.exp(excess))


#: Class names of :func:`classify_grid`, in the order of their codes.
GRID_CLASSES = ("in S", "monotone phi, not in S", "phi rises somewhere", "diverged", "not converged")


def classify_grid(summary: GridSummary, member, *, rise_tol: float = 1e-12,
                  loss_converged: float = 1e-12) -> np.ndarray:
    """Code of every grid start (see :data:`GRID_CLASSES`).

    Args:
      summary: from :func:`slice_grid`.
      member: boolean array, the start is in ``S`` (same shape as the grid).
      rise_tol: a relative one-step rise of ``phi`` above this is a rise.
      loss_converged: a run converged if its final loss is below this.
    """
    member = np.asarray(member, bool)
    diverged = summary.diverged_at >= 0
    mono = summary.worst_rise <= rise_tol
    conv = summary.loss < loss_converged
    code = np.where(mono, 1, 2)
    code = np.where(member & mono, 0, code)
    code = np.where(~conv, 4, code)
    return np.where(diverged, 3, code)
