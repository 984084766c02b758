"""GD on f(x, y) = l(xy) and on l itself, in the phase-space variables of Gan (2026).

Every loop runs through :func:`eoslib.gd.iterate` / :func:`eoslib.gd.iterate_batched` (or the
GD wrapper :func:`eoslib.gd.sweep_final`): one divergence convention for the library. An
iterate is invalid once it is non-finite or leaves the ball sqrt(x^2 + y^2) <= max_norm;
``diverged_at`` is the first invalid step (-1 if none) and the state is frozen at the last
valid iterate, so no array contains NaN.

* Eqs. 2-3: :func:`gd_product` records GD on l(xy) as (x, y, z, s).
* Theorems 4.3 and 5.2: :func:`limit_runs` runs many EoS starts to convergence at once.
* Eq. 5 and Theorem 4.2: :func:`gd_scalar_final`, the last iterates of 1-D GD.
* Eqs. 7-8: :func:`eos_init`, the edge-of-stability start (its printed form was lost).
* Section 5: :func:`~eoslib.papers.product_stability.dynamics.phase_space_run`, a trajectory in (z, lambda = eta s).

References:
  E. Gan, "Product-Stability", arXiv:2604.02653 (2026), Eqs. 1-9, Theorems 4.3 and 5.2.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from eoslib import gd
from eoslib.losses import ScalarLoss
from eoslib.validation import integer as _int, real as _real

from ._common import as_loss as _loss, default_float as _float_dtype, step_sizes as _etas
from .closed_forms import minimum_derivatives, product_sharpness

__all__ = [
    "ProductTrajectory",
    "gd_product",
    "gd_product_until",
    "LimitRuns",
    "limit_runs",
    "gd_scalar_final",
    "eos_init",
    "PhaseSpaceRun",
    "phase_space_run",
]

# Convergence of a run to the minimum manifold is tested every ``chunk`` steps; one call of
# the core iteration covers this many tests, so Python is entered once per block.
_TESTS_PER_BLOCK = 128


@dataclasses.dataclass(frozen=True)
class _ProductGDStep:
    """One GD step x' = x - eta y l'(xy), y' = y - eta x l'(xy) (Eqs. 2-3); hashable per loss."""

    fn: Callable[[Array], Array]

    def __call__(self, xy: tuple[Array, Array], eta: Array) -> tuple[Array, Array]:
        x, y = xy
        g = jax.grad(self.fn)(x * y)
        return x - eta * y * g, y - eta * x * g


class ProductTrajectory(NamedTuple):
    """Recorded GD iterates on f(x, y) = l(xy).

    Attributes:
      x, y: parameters, shape (num_steps // record_every + 1,).
      z: product xy.
      s: sharpness multiplier x^2 + y^2 (eta s is the effective step lambda).
      diverged_at: first step whose iterate was non-finite or left the ball
        x^2 + y^2 <= max_norm^2, -1 if never; the state is frozen from then on.
    """

    x: Array
    y: Array
    z: Array
    s: Array
    diverged_at: Array

    def report(self) -> str:
        """``"diverged at step k"`` or ``"ran N steps"``."""
        k = int(self.diverged_at)
        return f"diverged at step {k}" if k >= 0 else f"ran {self.x.shape[0] - 1} recorded intervals without diverging"



def gd_product(
    l: ScalarLoss, eta: float, x0, y0, num_steps: int, *, record_every: int = 1, max_norm: float = 1e8
) -> ProductTrajectory:
    """GD on f(x, y) = l(xy) (Eqs. 2-3), recorded in phase-space variables.

    x' = x - eta y l'(xy), y' = y - eta x l'(xy), iterated by :func:`eoslib.gd.iterate`.
    Float64 needs x64 enabled by the caller.

    Args:
      l: scalar loss.
      eta: learning rate, in (0, inf).
      x0, y0: initial point (see :func:`eos_init`).
      num_steps: GD steps, integer in [1, 10^8], a multiple of ``record_every``.
      record_every: record one iterate in this many, integer in [1, num_steps].
      max_norm: divergence radius on sqrt(x^2 + y^2), in (0, inf).

    Returns:
      :class:`ProductTrajectory` with ``num_steps // record_every + 1`` records.

    References:
      Gan (2026), Eqs. 1-3.
    """
    l = _loss(l)
    eta = _real("eta", eta, 0.0)
    num_steps = _int("num_steps", num_steps, 1, 10**8)
    record_every = _int("record_every", record_every, 1, num_steps)
    if num_steps % record_every:
        raise ValueError(f"num_steps must be a multiple of record_every={record_every}, got {num_steps}")
    max_norm = _real("max_norm", max_norm, 0.0)
    dt = _float_dtype()
    it = gd.iterate(_ProductGDStep(l.fn), (jnp.asarray(x0, dt), jnp.asarray(y0, dt)), num_steps,
                    args=(jnp.asarray(eta, dt),), record_every=record_every, max_norm=max_norm,
                    unroll=min(record_every, 8))
    xs, ys = it.params
    return ProductTrajectory(xs, ys, xs * ys, xs * xs + ys * ys, it.diverged_at)


def _run_to_manifold(fn, etas: np.ndarray, x0: np.ndarray, y0: np.ndarray, *, max_steps: int,
                     grad_tol: float, chunk: int, max_norm: float):
    """Batched GD on l(xy) until |l'(xy)| < grad_tol (tested every ``chunk`` steps), divergence or the cap.

    A run stops at the first multiple of ``chunk`` where the test holds, as a loop that tests
    between chunks would. Blocks of ``_TESTS_PER_BLOCK`` chunks go through
    :func:`eoslib.gd.iterate_batched` with a record every ``chunk`` steps; a finished run is
    held still by a zero step size (``x - 0 * y * g`` is exactly ``x``), so the live runs keep
    the arithmetic of an uninterrupted loop.

    Returns:
      (x, y, steps, diverged_at) as numpy arrays; ``steps`` is a multiple of ``chunk``.
    """
    dt = _float_dtype()
    lp = jax.vmap(jax.vmap(jax.grad(fn)))
    n = etas.size
    x, y = np.array(x0, dtype=dt), np.array(y0, dtype=dt)
    steps = np.zeros(n, np.int64)
    diverged = np.full(n, -1, np.int64)
    live = ~(np.abs(np.asarray(jax.vmap(jax.grad(fn))(jnp.asarray(x * y)))) < grad_tol)  # test at t = 0
    cap = -(-max_steps // chunk) * chunk  # the loop tests at chunk multiples, so it stops at or past the cap
    block = _TESTS_PER_BLOCK * chunk
    t = 0
    step = _ProductGDStep(fn)
    while live.any() and t < cap:
        eta_live = jnp.asarray(np.where(live, etas, 0.0), dt)
        it = gd.iterate_batched(step, (jnp.asarray(x), jnp.asarray(y)), block, args=(eta_live,),
                                batch_args=True, record_every=chunk, max_norm=max_norm, unroll=8)
        xs, ys = (np.asarray(a) for a in it.params)  # (n, tests + 1), record k at t + k chunk
        div = np.asarray(it.diverged_at)
        g = np.abs(np.asarray(lp(jnp.asarray(xs * ys))))
        k = np.arange(1, xs.shape[1])
        for i in np.flatnonzero(live):
            ok = (g[i, 1:] < grad_tol) & (t + k * chunk <= cap)
            if div[i] >= 0:  # records from the chunk of the divergence on are frozen copies
                ok &= k * chunk < div[i]
            hit = np.flatnonzero(ok)
            if hit.size:
                j = int(hit[0]) + 1
                x[i], y[i], steps[i], live[i] = xs[i, j], ys[i, j], t + j * chunk, False
            elif div[i] >= 0:
                diverged[i] = t + int(div[i])
                x[i], y[i] = xs[i, -1], ys[i, -1]
                steps[i], live[i] = t + -(-int(div[i]) // chunk) * chunk, False
            elif t + block >= cap:
                j = (cap - t) // chunk
                x[i], y[i], steps[i], live[i] = xs[i, j], ys[i, j], cap, False
            else:
                x[i], y[i] = xs[i, -1], ys[i, -1]
        t += block
    return x, y, steps, diverged


def gd_product_until(
    l: ScalarLoss, eta: float, x0, y0, *, max_steps: int = 3_000_000, grad_tol: float = 1e-13, chunk: int = 1000
) -> tuple[Array, Array, int]:
    """Continue GD on l(xy) without recording until |l'(xy)| < grad_tol or max_steps.

    Convergence is tested every ``chunk`` steps, so the run may go up to chunk - 1
    steps past the first iterate that meets the tolerance (which only tightens it).
    Non-finite iterates stop the run (divergence test of :mod:`eoslib.gd` with
    ``max_norm = inf``).

    Args:
      l: scalar loss.
      eta: learning rate, in (0, inf).
      x0, y0: starting point.
      max_steps: step budget, integer in [1, 10^9].
      grad_tol: stop once |l'(x y)| < grad_tol, in (0, inf).
      chunk: steps between convergence tests, integer in [1, 100000].

    Returns:
      (x, y, steps_taken).

    References:
      Gan (2026), Theorem 4.3 (convergence to the minimum manifold).
    """
    l = _loss(l)
    eta = _real("eta", eta, 0.0)
    max_steps = _int("max_steps", max_steps, 1, 10**9)
    grad_tol = _real("grad_tol", grad_tol, 0.0)
    chunk = _int("chunk", chunk, 1, 100000)
    x, y, steps, _ = _run_to_manifold(l.fn, np.array([eta]), np.array([float(x0)]), np.array([float(y0)]),
                                      max_steps=max_steps, grad_tol=grad_tol, chunk=chunk, max_norm=math.inf)
    dt = _float_dtype()
    return jnp.asarray(x[0], dt), jnp.asarray(y[0], dt), int(steps[0])


class LimitRuns(NamedTuple):
    """Final states of many GD runs on l(xy) from :func:`eos_init` starts (see :func:`limit_runs`).

    All arrays share the broadcast shape of (etas, mu0s, dz0s).

    Attributes:
      eta, mu0, dz0: the settings of each run.
      x, y: final parameters (the last valid iterate for a diverged run).
      z: final product x y.
      s: final x^2 + y^2.
      sharpness: top Hessian eigenvalue at the final iterate (:func:`~eoslib.papers.product_stability.closed_forms.product_sharpness`).
      limit_sharpness: s l''(z*), the sharpness of the limit point on the minimum manifold
        (Lemma 3.1). The final iterate sits a round-off distance u ~ 1e-11 from z*, which
        moves ``sharpness`` by O(s l3 u) but s only by O(u^2): this is the number to compare
        with Theorem 5.2 at small eta.
      grad: final |l'(x y)|.
      steps: GD steps taken (a multiple of ``chunk``; the step cap if never converged).
      converged: |l'(x y)| < grad_tol and no divergence.
      diverged_at: first step whose iterate was non-finite or left the ball of radius
        max_norm, -1 if never.
    """

    eta: np.ndarray
    mu0: np.ndarray
    dz0: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    s: np.ndarray
    sharpness: np.ndarray
    limit_sharpness: np.ndarray
    grad: np.ndarray
    steps: np.ndarray
    converged: np.ndarray
    diverged_at: np.ndarray

    def reports(self) -> list[str]:
        """One line per run: ``"converged after k steps"``, ``"diverged at step k"`` or ``"not converged"``."""
        out = []
        for c, d, k in zip(self.converged.ravel(), self.diverged_at.ravel(), self.steps.ravel()):
            out.append(f"diverged at step {int(d)}" if d >= 0 else
                       f"converged after {int(k)} steps" if c else f"not converged after {int(k)} steps")
        return out



def limit_runs(
    l: ScalarLoss,
    etas,
    mu0s,
    dz0s,
    *,
    max_steps: int = 3_000_000,
    grad_tol: float = 1e-13,
    chunk: int = 1000,
    max_norm: float = 1e8,
) -> LimitRuns:
    """Run GD on l(xy) to convergence (or divergence) from EoS starts, all settings in one vmapped loop.

    Each run starts at :func:`eos_init` (eta, mu0, dz0) and stops once |l'(x y)| < grad_tol
    (tested every ``chunk`` steps), once it diverges, or at ``max_steps`` (rounded up to a
    multiple of ``chunk``). The loop is :func:`eoslib.gd.iterate_batched`. Below about
    |l'| ~ 1e-12 the iteration can stall in round-off (the large coordinate x ~ eta^(-1/2)
    stops changing in its last bit); such runs use up the step cap, which is harmless
    because the final state no longer moves.

    Args:
      l: scalar loss.
      etas, mu0s, dz0s: learning rates in (0, inf), initial excesses eta s0 l2 - 2 in
        (-2, inf) and offsets x0 y0 - z*; broadcast against each other.
      max_steps: step cap per run, integer in [1, 10^9].
      grad_tol: convergence test |l'(xy)| < grad_tol, in (0, inf).
      chunk: steps between tests, integer in [1, 100000].
      max_norm: divergence radius on sqrt(x^2 + y^2), in (0, inf).

    Returns:
      :class:`LimitRuns` with numpy arrays of the broadcast shape.

    References:
      Gan (2026), Theorems 4.3 and 5.2.
    """
    l = _loss(l)
    e = _etas("etas", etas, 0.0)
    mu = np.asarray(mu0s, dtype=float)
    if mu.size == 0 or not np.all(np.isfinite(mu)) or not np.all(mu > -2):
        raise ValueError(f"mu0s must be real number(s) in (-2, inf), got {mu0s!r}")
    dz = np.asarray(dz0s, dtype=float)
    if dz.size == 0 or not np.all(np.isfinite(dz)):
        raise ValueError(f"dz0s must be finite real number(s), got {dz0s!r}")
    max_steps = _int("max_steps", max_steps, 1, 10**9)
    grad_tol = _real("grad_tol", grad_tol, 0.0)
    chunk = _int("chunk", chunk, 1, 100000)
    max_norm = _real("max_norm", max_norm, 0.0)
    e, mu, dz = np.broadcast_arrays(e, mu, dz)
    shape = e.shape
    starts = np.array([eos_init(l, float(a), float(b), float(c)) for a, b, c in zip(e.ravel(), mu.ravel(), dz.ravel())])
    x, y, t, div = _run_to_manifold(l.fn, e.ravel(), starts[:, 0], starts[:, 1], max_steps=max_steps,
                                    grad_tol=grad_tol, chunk=chunk, max_norm=max_norm)
    g = np.abs(np.asarray(jax.vmap(jax.grad(l.fn))(jnp.asarray(x * y))))
    S = np.asarray(product_sharpness(l, x, y))
    return LimitRuns(
        eta=e.copy(), mu0=mu.copy(), dz0=dz.copy(),
        x=x.reshape(shape), y=y.reshape(shape), z=(x * y).reshape(shape), s=(x * x + y * y).reshape(shape),
        sharpness=S.reshape(shape), limit_sharpness=((x * x + y * y) * minimum_derivatives(l).l2).reshape(shape),
        grad=g.reshape(shape), steps=np.asarray(t).reshape(shape),
        converged=((g < grad_tol) & (div < 0)).reshape(shape), diverged_at=div.reshape(shape),
    )


def gd_scalar_final(
    l: ScalarLoss, eta, z0: float, num_steps: int, *, max_norm: float = 1e8
) -> tuple[Array, Array, Array]:
    """Final two iterates of 1-D GD z -> z - eta l'(z) (Eq. 5), vectorised over eta.

    A thin wrapper of :func:`eoslib.gd.sweep_final` (one compiled, vmapped loop).

    Args:
      l: scalar loss.
      eta: learning rate(s), each in (0, inf).
      z0: starting point, a real number.
      num_steps: GD steps T, integer in [1, 10^9].
      max_norm: |z| above this (or non-finite) counts as diverged/escaped; the state is
        frozen at the last valid iterate. In (0, inf).

    Returns:
      (z_T, z_{T+1}, diverged_at), each shaped like ``eta``: the last iterate, one more
      step (together one period of a 2-cycle), and the first step whose iterate was
      invalid (-1 if none).

    References:
      Gan (2026), Eq. 5 and Theorem 4.2.
    """
    l = _loss(l)
    e = _etas("eta", eta, 0.0)
    z0 = _real("z0", z0)
    num_steps = _int("num_steps", num_steps, 1, 10**9)
    max_norm = _real("max_norm", max_norm, 0.0)
    dt = _float_dtype()
    zt, div = gd.sweep_final(l.fn, jnp.asarray(z0, dt), jnp.asarray(e.ravel(), dt), num_steps, max_norm=max_norm)
    lp = jax.vmap(jax.grad(l.fn))
    zt1 = zt - jnp.asarray(e.ravel(), dt) * lp(zt)
    return zt.reshape(e.shape), zt1.reshape(e.shape), div.reshape(e.shape)


def eos_init(l: ScalarLoss, eta: float, mu0: float, dz0: float) -> tuple[float, float]:
    """Edge-of-stability initialisation with eta (x0^2 + y0^2) l2 = 2 + mu0 and x0 y0 = z* + dz0.

    s0 = (2 + mu0) / (eta l2), z0 = z* + dz0,
    x0 = (sqrt(s0 + 2 z0) + sqrt(s0 - 2 z0)) / 2, y0 = (sqrt(s0 + 2 z0) - sqrt(s0 - 2 z0)) / 2.

    Args:
      l: scalar loss.
      eta: learning rate, in (0, inf).
      mu0: initial normalised excess lambda_0 l2 - 2, in (-2, inf).
      dz0: initial offset of the product from z*, real; needs s0 > 2 |z0|.

    Returns:
      (x0, y0) as Python floats.

    Raises:
      ValueError: on out-of-range input, or if s0 <= 2 |z* + dz0| (no real solution).

    References:
      Gan (2026), Theorem 4.3 (Eqs. 7-8; their printed form was lost, this is our realisation).
    """
    eta = _real("eta", eta, 0.0)
    mu0 = _real("mu0", mu0, -2.0)
    dz0 = _real("dz0", dz0)
    m = minimum_derivatives(l)
    s0 = (2 + mu0) / (eta * m.l2)
    z0 = m.z_star + dz0
    if not s0 > 2 * abs(z0):
        raise ValueError(
            f"dz0 must keep |z* + dz0| < s0 / 2 = {s0 / 2:.6g} (x0, y0 real), got dz0={dz0!r}"
        )
    a, b = math.sqrt(s0 + 2 * z0), math.sqrt(s0 - 2 * z0)
    return 0.5 * (a + b), 0.5 * (a - b)


class PhaseSpaceRun(NamedTuple):
    """GD on l(xy) from an EoS start, in phase-space coordinates (z, lambda = eta s).

    Attributes:
      z: product x_t y_t for every step t = 0..record_steps (numpy).
      lam: effective step eta (x_t^2 + y_t^2), same length.
      z_final: product after the continuation run.
      lam_final: effective step after the continuation run.
      steps: total GD steps (recorded + continuation).
      converged: whether |l'(z_final)| < grad_tol was reached within the budget.
    """

    z: np.ndarray
    lam: np.ndarray
    z_final: float
    lam_final: float
    steps: int
    converged: bool


def phase_space_run(
    l: ScalarLoss,
    eta: float,
    mu0: float,
    dz0: float,
    *,
    record_steps: int = 200_000,
    max_steps: int = 3_000_000,
    grad_tol: float = 1e-10,
) -> PhaseSpaceRun:
    """Record every step of GD on l(xy) from :func:`eos_init`, then run on to convergence.

    Args:
      l: scalar loss.
      eta: learning rate, in (0, inf).
      mu0: initial excess eta s0 l2 - 2, in (-2, inf).
      dz0: initial offset x0 y0 - z*.
      record_steps: steps recorded in full (Phases I-II), integer in [1, 10^8].
      max_steps: budget of the continuation run (Phase III), integer in [1, 10^9].
      grad_tol: convergence test |l'(xy)| < grad_tol of the continuation, in (0, inf).
        Below about 1e-12 round-off in the large coordinate x ~ eta^(-1/2) stalls the
        iteration, so smaller values only exhaust the budget.

    Returns:
      :class:`PhaseSpaceRun`.

    References:
      Gan (2026), Section 5 and Figure 2.
    """
    x0, y0 = eos_init(l, eta, mu0, dz0)
    tr = gd_product(l, eta, x0, y0, record_steps)
    x, y, k = gd_product_until(l, eta, tr.x[-1], tr.y[-1], max_steps=max_steps, grad_tol=grad_tol)
    g = float(jax.grad(l.fn)(x * y))
    return PhaseSpaceRun(
        np.asarray(tr.z), eta * np.asarray(tr.s), float(x * y), float(eta * (x * x + y * y)),
        record_steps + k, bool(abs(g) < grad_tol),
    )
