"""Periodic orbits of iterated maps: Newton on F^k(x) - x, Floquet multipliers, continuation.

A period-k orbit of a map F (typically the GD map ``gd.gd_step(f, eta)`` or the 1-D map
``z -> z - eta l'(z)``) is a fixed point of the k-step map F^k. We find it by Newton's
method with the Jacobian from ``jax.jacfwd`` and classify it by its stability multipliers,
the eigenvalues of D(F^k) at the orbit (|m| < 1 for all m: locally attracting).

Newton also converges to orbits of any period dividing k (e.g. the fixed point of F for
k = 2): start near the orbit you want and check that the returned points are distinct.

References:
  L. Chen and J. Bruna, "Beyond the Edge of Stability via Two-step Gradient Updates",
  ICML 2023, arXiv:2206.04172 (Definition 2, Theorem 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, ArrayLike, Bool, Float, Inexact, Int, PyTree as _PyTree

from . import gd
from .validation import choice as _choice, floating_tree, integer as _check_int, positive as _check_pos, static_callable

__all__ = [
    "Orbit",
    "OrbitBranch",
    "periodic_orbit",
    "stability_multipliers",
    "continue_orbit",
    "bifurcation_by_gd",
]

# Shape annotations (jaxtyping; documentation only, nothing is checked at run time).
PyTree = Any
#: A point of the state space: an array (any shape) or a pytree of arrays.
State = _PyTree[Float[ArrayLike, "..."]]
Map = Callable[[State], State]

# Backtracking halvings tried when a full Newton step does not reduce the residual.
_MAX_HALVINGS = 8


class Orbit(NamedTuple):
    """A periodic orbit found by :func:`periodic_orbit`.

    Attributes:
      points: the orbit ``x*, F(x*), ..., F^(k-1)(x*)``, shape ``(period, *x0.shape)``.
      residual: ``max |F^k(x*) - x*|``.
      converged: residual <= tol * (1 + max |x*|).
      multipliers: eigenvalues of D(F^k)(x*), ordered by decreasing modulus; real with shape
        ``(1,)`` for a one-dimensional state, complex ``(d,)`` otherwise.
      iterations: Newton iterations used.
    """

    points: _PyTree[Float[Array, "period ..."]]
    residual: Float[Array, ""]
    converged: Bool[Array, ""]
    multipliers: Inexact[Array, " d"]
    iterations: Int[Array, ""]


class OrbitBranch(NamedTuple):
    """A branch of orbits over a learning-rate grid (unpacks as a 3-tuple).

    Attributes:
      points: shape ``(n_eta, period, *x0.shape)``; rows with ``converged == False`` hold
        the last Newton iterate and are not orbits.
      converged: bool, shape ``(n_eta,)``.
      multipliers: shape ``(n_eta, d)`` (see :class:`Orbit`).
    """

    points: _PyTree[Float[Array, "n_eta period ..."]]
    converged: Bool[Array, " n_eta"]
    multipliers: Inexact[Array, "n_eta d"]


def _as_float(x0: PyTree) -> PyTree:
    return floating_tree("x0", x0, finite=False)[0]


def _compose(step_map: Map, period: int) -> Map:
    def fk(x):
        for _ in range(period):
            x = step_map(x)
        return x

    return fk


def _flat_map(step_map: Map, period: int, x0: PyTree):
    _, unravel = ravel_pytree(x0)
    fk = _compose(step_map, period)
    return lambda v: ravel_pytree(fk(unravel(v)))[0], unravel


def _multipliers(jac: Array) -> Array:
    if jac.shape == (1, 1):
        return jac[0]
    ev = jnp.linalg.eigvals(jac)
    return ev[jnp.argsort(-jnp.abs(ev))]


def _orbit_points(step_map: Map, x: PyTree, period: int) -> PyTree:
    pts = [x]
    for _ in range(period - 1):
        pts.append(step_map(pts[-1]))
    return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *pts)


def _newton(step_map: Map, x0: PyTree, period: int, tol: Array, max_iter: int) -> Orbit:
    """Traceable Newton solve (no python control flow on values)."""
    fk_flat, unravel = _flat_map(step_map, period, x0)
    v0 = ravel_pytree(x0)[0]

    def resid(v):
        return fk_flat(v) - v

    def is_done(v, r):
        return jnp.max(jnp.abs(r)) <= tol * (1.0 + jnp.max(jnp.abs(v)))

    def cond(state):
        v, r, it, ok = state
        return (it < max_iter) & ok & ~is_done(v, r)

    def body(state):
        v, r, it, _ = state
        jac = jax.jacfwd(resid)(v)
        dv = jnp.linalg.solve(jac, -r)
        rn = jnp.max(jnp.abs(r))

        # Backtracking: first step length 2^-j that lowers the residual, else the full step.
        def try_step(carry):
            j, _, _ = carry
            t = jnp.asarray(0.5, v.dtype) ** j.astype(v.dtype)
            v_new = v + t * dv
            r_new = resid(v_new)
            return j + 1, v_new, r_new

        def keep_trying(carry):
            j, _, r_new = carry
            better = jnp.max(jnp.abs(r_new)) < rn
            return (j <= _MAX_HALVINGS) & ~better

        j0 = jnp.zeros((), jnp.int32)
        j, v_new, r_new = try_step((j0, v, r))
        j, v_new, r_new = lax.while_loop(keep_trying, try_step, (j, v_new, r_new))
        improved = jnp.max(jnp.abs(r_new)) < rn
        v_full = v + dv
        v_new = jnp.where(improved, v_new, v_full)
        r_new = jnp.where(improved, r_new, resid(v_full))
        ok = jnp.all(jnp.isfinite(v_new)) & jnp.all(jnp.isfinite(r_new))
        v_new = jnp.where(ok, v_new, v)
        r_new = jnp.where(ok, r_new, r)
        return v_new, r_new, it + 1, ok

    state = (v0, resid(v0), jnp.zeros((), jnp.int32), jnp.asarray(True))
    v, r, it, _ = lax.while_loop(cond, body, state)
    # One polishing step: near the solution Newton squares the error, so this usually takes
    # the residual from ~tol to rounding level. Kept only if it helps.
    dv = jnp.linalg.solve(jax.jacfwd(resid)(v), -r)
    v_pol = v + dv
    r_pol = resid(v_pol)
    better = jnp.all(jnp.isfinite(v_pol)) & (jnp.max(jnp.abs(r_pol)) < jnp.max(jnp.abs(r)))
    v = jnp.where(better, v_pol, v)
    r = jnp.where(better, r_pol, r)
    x = unravel(v)
    return Orbit(
        points=_orbit_points(step_map, x, period),
        residual=jnp.max(jnp.abs(r)),
        converged=is_done(v, r),
        multipliers=_multipliers(jax.jacfwd(fk_flat)(v)),
        iterations=it,
    )


@partial(jax.jit, static_argnames=("step_map", "period", "max_iter"))
def _newton_jit(step_map, x0, tol, *, period, max_iter):
    return _newton(step_map, x0, period, tol, max_iter)


def periodic_orbit(step_map: Map, x0: State, period: int = 2, *, tol: float = 1e-12,
                   max_iter: int = 50) -> Orbit:
    """Period-k orbit through a point near ``x0``: Newton on ``F^k(x) - x``.

    Args:
      step_map: the map F (JAX-traceable, forward-differentiable), e.g.
        ``gd.gd_step(f, eta)``.
      x0: initial guess for one orbit point (scalar, array or pytree).
      period: k, an integer >= 1.
      tol: convergence tolerance in (0, inf) on ``max |F^k(x) - x| / (1 + max |x|)``.
      max_iter: Newton iteration cap, an integer >= 1.

    Returns:
      An :class:`Orbit`; check ``converged`` (no exception is raised on failure).

    References:
      Chen & Bruna (2023), Definition 2 (period-2 orbit = fixed point of F^2).
    """
    period = _check_int("period", period, 1)
    max_iter = _check_int("max_iter", max_iter, 1)
    tol = _check_pos("tol", tol)
    x0 = _as_float(x0)
    dtype = jax.tree_util.tree_leaves(x0)[0].dtype
    return _newton_jit(static_callable(step_map), x0, jnp.asarray(tol, dtype), period=period,
                       max_iter=max_iter)


def stability_multipliers(step_map: Map, x: State, period: int) -> Inexact[Array, " d"]:
    """Eigenvalues of D(F^k)(x), ordered by decreasing modulus.

    Args:
      step_map: the map F; x: a point of the orbit; period: k, an integer >= 1.

    Returns:
      Real array of shape (1,) for a one-dimensional state, complex (d,) otherwise.
      All moduli < 1 means the orbit is locally attracting.
    """
    period = _check_int("period", period, 1)
    x = _as_float(x)
    fk_flat, _ = _flat_map(step_map, period, x)
    return _multipliers(jax.jacfwd(fk_flat)(ravel_pytree(x)[0]))


@partial(jax.jit, static_argnames=("make_map", "period", "max_iter", "secant"))
def _continue_jit(make_map, etas, x0, tol, *, period, max_iter, secant):
    v0, unravel = ravel_pytree(x0)

    def body(carry, i):
        v_prev, v_last, n_ok = carry  # last two converged solutions (flat), how many so far
        eta = etas[i]
        guess = v_last
        if secant:
            # Linear extrapolation in eta through the last two converged solutions.
            e_last, e_prev = etas[jnp.maximum(i - 1, 0)], etas[jnp.maximum(i - 2, 0)]
            slope = (v_last - v_prev) / jnp.where(e_last == e_prev, 1.0, e_last - e_prev)
            guess = jnp.where(n_ok >= 2, v_last + slope * (eta - e_last), v_last)
        orb = _newton(make_map(eta), unravel(guess), period, tol, max_iter)
        first = ravel_pytree(jax.tree_util.tree_map(lambda p: p[0], orb.points))[0]
        # A failed solve must not poison the next initial guess.
        ok = orb.converged
        carry = (jnp.where(ok, v_last, v_prev), jnp.where(ok, first, v_last),
                 n_ok + ok.astype(jnp.int32))
        if secant:
            # The secant needs consecutive grid points; restart it after a failure.
            carry = (carry[0], carry[1], jnp.where(ok, carry[2], 0))
        return carry, (orb.points, orb.converged, orb.multipliers)

    carry0 = (v0, v0, jnp.zeros((), jnp.int32))
    _, (pts, conv, mult) = lax.scan(body, carry0, jnp.arange(etas.shape[0]))
    return OrbitBranch(pts, conv, mult)


def continue_orbit(make_map: Callable[[Float[Array, ""]], Map], etas: Float[ArrayLike, " n_eta"],
                   x0: State, period: int = 2, *,
                   tol: float = 1e-12, max_iter: int = 50,
                   predictor: str = "previous") -> OrbitBranch:
    """Follow a period-k orbit along a learning-rate grid by natural continuation.

    Each solve starts from the previous converged orbit point (``x0`` for the first one),
    so order ``etas`` from where the orbit is known and keep the grid fine enough for
    Newton's basin. Close to a flip bifurcation the orbit opens like sqrt(eta - eta_c)
    while the fixed point of F (also a solution of F^2(x) = x) stays put, so steps must
    be small there; ``predictor="secant"`` extrapolates linearly through the last two
    solutions and tolerates coarser grids on smooth stretches.

    Args:
      make_map: ``eta -> F_eta``; must be JAX-traceable in ``eta`` (it is called under
        ``lax.scan``).
      etas: 1-D array of parameter values.
      x0: initial guess for the first orbit point.
      period: k, an integer >= 1; tol, max_iter: as in :func:`periodic_orbit`.
      predictor: initial guess for the next solve; choices previous|secant.

    Returns:
      :class:`OrbitBranch` ``(points, converged, multipliers)``.
    """
    _choice("predictor", predictor, ("previous", "secant"))
    period = _check_int("period", period, 1)
    max_iter = _check_int("max_iter", max_iter, 1)
    tol = _check_pos("tol", tol)
    x0 = _as_float(x0)
    dtype = jax.tree_util.tree_leaves(x0)[0].dtype
    etas = jnp.asarray(etas, dtype)
    if etas.ndim != 1 or etas.size == 0:
        raise ValueError(f"etas must be a non-empty 1-D array, got shape {etas.shape}")
    return _continue_jit(static_callable(make_map), etas, x0, jnp.asarray(tol, dtype), period=period,
                         max_iter=max_iter, secant=predictor == "secant")


@dataclass(frozen=True)
class _ParamStep:
    """``(x, eta) -> make_map(eta)(x)``: one map of a family as a gd.iterate step."""

    make_map: Callable[[Array], Map]

    def __call__(self, x: PyTree, eta: Array) -> PyTree:
        return self.make_map(eta)(x)


def bifurcation_by_gd(make_map: Callable[[Float[Array, ""]], Map],
                      etas: Float[ArrayLike, " n_eta"], x0: State, num_steps: int,
                      keep_last: int, *,
                      max_norm: float = 1e8) -> _PyTree[Float[Array, "n_eta keep_last ..."]]:
    """Bifurcation diagram by brute force: the last iterates of a long run for every eta.

    The runs go through :func:`eoslib.gd.iterate_batched` (one batched ``lax.scan``; its
    divergence convention), first ``num_steps - keep_last`` steps keeping only the final
    state, then ``keep_last`` recorded steps.

    Args:
      make_map: ``eta -> F_eta``, JAX-traceable in ``eta`` (vmapped over ``etas``).
      etas: 1-D array of parameter values.
      x0: shared initial point, finite.
      num_steps: total iterations, an integer >= ``keep_last``.
      keep_last: number of final iterates kept, an integer >= 1.
      max_norm: a run whose state is non-finite or exceeds this 2-norm counts as diverged,
        in ``(0, inf]``.

    Returns:
      Iterates ``x_{T-keep_last+1}, ..., x_T`` with shape ``(n_eta, keep_last, *x0.shape)``.
      Rows of diverged runs are all NaN (so they simply do not show in a scatter plot).
    """
    keep_last = _check_int("keep_last", keep_last, 1)
    num_steps = _check_int("num_steps", num_steps, 1)
    if num_steps < keep_last:
        raise ValueError(f"num_steps must be >= keep_last={keep_last}, got {num_steps}")
    _check_pos("max_norm", max_norm, allow_inf=True)
    x0, dtype = floating_tree("x0", x0)
    etas = jnp.asarray(etas, dtype)
    if etas.ndim != 1 or etas.size == 0:
        raise ValueError(f"etas must be a non-empty 1-D array, got shape {etas.shape}")
    step = _ParamStep(static_callable(make_map))
    kw = dict(args=(etas,), batch_args=True, max_norm=max_norm)
    xs = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, etas.shape + a.shape), x0)
    diverged = jnp.zeros(etas.shape, bool)
    if num_steps > keep_last:
        head = gd.iterate_batched(step, xs, num_steps - keep_last, **kw)
        xs, diverged = head.final, head.diverged_at >= 0
    tail = gd.iterate_batched(step, xs, keep_last, record_every=1, **kw)
    diverged = diverged | (tail.diverged_at >= 0)
    mask = lambda a: jnp.where(diverged.reshape((-1,) + (1,) * (a.ndim - 1)), jnp.nan, a)  # noqa: E731
    return jax.tree_util.tree_map(lambda a: mask(a[:, 1:]), tail.params)
