"""Gradient-descent trajectories: jit + ``lax.scan``, divergence detection, vmapped sweeps.

Parameters may be a single array (the usual ``(d,)`` vector, or a scalar) or any pytree of
arrays, e.g. a tuple ``(x, y)``. Under a sweep each leaf gets a leading batch axis, so a
tuple keeps the coordinates in separate contiguous arrays, which XLA vectorises better
than an interleaved ``(n, 2)`` array (see ``benchmarks/bench_lr_sweep.py``).

Divergence convention (all functions that take ``max_norm``):

* iterate ``x_t`` (after ``t`` steps) is *invalid* if any entry is non-finite or
  ``||x_t||_2 > max_norm`` (the norm over all leaves together; with a finite
  ``max_norm``, a squared norm that overflows also counts as invalid; ``max_norm = inf``
  checks finiteness only);
* ``diverged_at`` is the first ``t`` with ``x_t`` invalid, or ``-1`` if there is none;
* from then on the state is frozen at the last valid iterate ``x_{t-1}``, so every
  recorded parameter, loss and sharpness after the divergence repeats the values at step
  ``diverged_at - 1`` and the returned arrays never contain NaN (provided ``x0`` is valid
  and ``f`` is finite on valid points).

Functions are cached per objective: ``f`` is a static argument of ``jax.jit``, so pass the
same function object (not a fresh lambda) to avoid recompiling in a loop.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PyTree as _PyTree

from .validation import (floating_tree as _floating_tree, integer as _check_int,
                         positive as _check_pos, reals as _check_reals,
                         static_callable as _static)

__all__ = [
    "Trajectory",
    "gd_step",
    "k_step_map",
    "gd_trajectory",
    "gd_final",
    "sweep_learning_rates",
    "sweep_initial_points",
    "sweep_final",
    "Iterates",
    "iterate",
    "iterate_batched",
]

# Shape annotations (jaxtyping; documentation only, nothing is checked at run time).
PyTree = Any
#: The state of an iteration: an array (any shape) or a pytree of arrays.
State = _PyTree[Float[ArrayLike, "..."]]
#: A batch of states: a leading axis ``batch`` on every leaf.
BatchedState = _PyTree[Float[Array, "batch ..."]]
#: A learning rate: a positive scalar (or a traced 0-d array).
LearningRate = float | Float[ArrayLike, ""]
Objective = Callable[[State], Float[Array, ""]]


def _step_grid(steps: int, every: int) -> Int[np.ndarray, " n"] | None:
    """Steps ``0, every, 2 every, ..., steps``; None if ``every == 0`` (nothing recorded)."""
    return np.arange(steps // every + 1) * every if every else None


class Trajectory(NamedTuple):
    """A recorded GD run (or a batch of runs, with a leading sweep axis on every array).

    Attributes:
      params: iterates at steps ``0, r, 2r, ..., num_steps`` (``r = record_every``), shape
        ``(num_steps // r + 1, *x0.shape)``; a pytree of such arrays if ``x0`` is a pytree.
      loss: ``f`` at the recorded iterates, shape ``(num_steps // r + 1,)``.
      sharpness: largest Hessian eigenvalue (dense ``eigh``) at steps ``0, k, 2k, ...``
        (``k = sharpness_every``), or None if ``sharpness_every == 0``.
      diverged_at: int32, first invalid step, ``-1`` if the run never diverged.
      steps: number of GD steps requested (``num_steps``).
      record_every: recording stride ``r``.
      sharpness_every: sharpness stride ``k`` (0 if not computed).
    """

    params: _PyTree[Float[Array, "*batch n_rec ..."]]
    loss: Float[Array, "*batch n_rec"]
    sharpness: Float[Array, "*batch n_sharp"] | None
    diverged_at: Int[Array, "*batch"]
    steps: int
    record_every: int = 1
    sharpness_every: int = 0

    @property
    def diverged(self) -> bool | Bool[np.ndarray, " batch"]:
        """True if the run diverged (a boolean array for a sweep)."""
        d = np.asarray(self.diverged_at) >= 0
        return bool(d) if d.ndim == 0 else d

    @property
    def times(self) -> Int[np.ndarray, " n_rec"]:
        """Step index of every recorded iterate."""
        return _step_grid(self.steps, self.record_every)

    @property
    def sharpness_times(self) -> Int[np.ndarray, " n_sharp"] | None:
        """Step index of every sharpness value (None if not computed)."""
        return _step_grid(self.steps, self.sharpness_every)

    def report(self) -> str:
        """One line: ``"ran N steps"`` or ``"diverged at step k of N"`` (counts for sweeps)."""
        d = np.asarray(self.diverged_at)
        if d.ndim == 0:
            if d < 0:
                return f"ran {self.steps} steps without diverging"
            return f"diverged at step {int(d)} of {self.steps}"
        bad = d >= 0
        if not bad.any():
            return f"all {d.size} runs ran {self.steps} steps without diverging"
        return (
            f"{int(bad.sum())} of {d.size} runs diverged (earliest at step {int(d[bad].min())}); "
            f"{int((~bad).sum())} ran {self.steps} steps"
        )


# ----------------------------------------------------------------------------- validation


def _check_eta(eta) -> None:
    # Traced learning rates (gd_final under a user's vmap) have no value to check.
    _check_pos("eta", eta, traced_ok=True)


def _check_etas(etas) -> None:
    _check_reals("etas", etas, 0.0, ndim=1, traced_ok=True)


def _prepare_x0(x0, *, name: str = "x0") -> tuple[PyTree, np.dtype]:
    """Leaves as jax arrays of one common floating dtype (strict promotion needs it)."""
    return _floating_tree(name, x0)


def _max_sq(max_norm, dtype) -> tuple[float, bool]:
    """(squared threshold, finite_only). max_norm = inf means: only non-finite is invalid."""
    m = _check_pos("max_norm", max_norm, allow_inf=True)
    if math.isinf(m):
        return float(np.finfo(dtype).max), True
    # Capped so that a squared norm that overflows to inf still fails the test.
    return min(m * m, float(np.finfo(dtype).max)), False


# ----------------------------------------------------------------------------- maps


def _gd_update(f: Objective, x: PyTree, eta: Array) -> PyTree:
    g = jax.grad(f)(x)
    return jax.tree_util.tree_map(lambda a, b: a - jnp.asarray(eta, a.dtype) * b, x, g)


def gd_step(f: Objective, eta: LearningRate) -> Callable[[State], State]:
    """The GD map ``x -> x - eta * grad f(x)``.

    Args:
      f: scalar objective of the parameters (array or pytree).
      eta: learning rate, in (0, inf); may be a traced value.

    Returns:
      The map, jit-compatible and differentiable (used by :mod:`eoslib.orbits`).
    """
    _check_eta(eta)
    return lambda x: _gd_update(f, x, eta)


def k_step_map(f: Objective, eta: LearningRate, k: int) -> Callable[[State], State]:
    """The k-fold composition of :func:`gd_step` (k = 2 is the two-step map of Chen & Bruna).

    Args:
      f: scalar objective.
      eta: learning rate, in (0, inf).
      k: number of steps, an integer >= 1.

    Returns:
      ``x -> F^k(x)``; forward- and reverse-differentiable.
    """
    k = _check_int("k", k, 1)
    step = gd_step(f, eta)
    if k <= 8:
        # A python loop keeps jacfwd/jacrev of short compositions simple and fast.
        def fk(x):
            for _ in range(k):
                x = step(x)
            return x

        return fk
    return lambda x: lax.fori_loop(0, k, lambda i, y: step(y), x)


def _dense_sharpness(f: Objective, x: PyTree) -> Array:
    # Local on purpose (no import of eoslib.curvature): dense eigh of the full Hessian.
    flat, unravel = ravel_pytree(x)
    h = jax.hessian(lambda v: f(unravel(v)))(flat)
    h = 0.5 * (h + h.T)
    return jnp.linalg.eigvalsh(h)[-1]


# ----------------------------------------------------------------------------- cores


def _sq_norm(x: PyTree) -> Array:
    leaves = jax.tree_util.tree_leaves(x)
    total = jnp.sum(jnp.square(leaves[0]))
    for leaf in leaves[1:]:
        total = total + jnp.sum(jnp.square(leaf))
    return total


def _valid(x: PyTree, max_sq: Array, finite_only: bool) -> Array:
    if finite_only:
        return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(x)]))
    # NaN and inf fail the comparison, so this one test covers both kinds of invalid.
    return _sq_norm(x) <= max_sq


def _guarded(step, carry, args, max_sq, n: int, unroll: int, finite_only: bool, t0=None):
    """n frozen-on-divergence steps of ``x -> step(x, *args)``. carry = (x, alive, count).

    This is the one iteration primitive: every trajectory in eoslib (GD on a function, a
    closed-form map of a paper, a chunk of network training) runs through it, so the
    divergence convention of the module docstring holds everywhere. With ``t0`` (a traced
    int32) the step is called as ``step(x, t, *args)`` with ``t = t0, t0 + 1, ...``.
    """

    def body(c, t):
        x, alive, count = c
        x_new = step(x, *args) if t0 is None else step(x, t, *args)
        alive = alive & _valid(x_new, max_sq, finite_only)
        x = jax.tree_util.tree_map(lambda a, b: jnp.where(alive, a, b), x_new, x)
        return (x, alive, count + alive.astype(jnp.int32)), None

    if n == 0:
        return carry
    ts = None if t0 is None else t0 + jnp.arange(n, dtype=jnp.int32)
    carry, _ = lax.scan(body, carry, ts, length=n, unroll=max(1, min(unroll, n)))
    return carry


def _guarded_steps(f, carry, eta, max_sq, n: int, unroll: int, finite_only: bool):
    """n frozen-on-divergence GD steps on ``f``."""
    return _guarded(lambda x, e: _gd_update(f, x, e), carry, (eta,), max_sq, n, unroll, finite_only)


def _initial_carry(x0, max_sq, finite_only):
    alive = _valid(x0, max_sq, finite_only)
    return (x0, alive, jnp.zeros((), jnp.int32)), alive


def _diverged_at(alive0, alive, count) -> Array:
    # count = number of valid steps taken; the first invalid iterate is the next one.
    return jnp.where(alive, -1, jnp.where(alive0, count + 1, 0)).astype(jnp.int32)


def _bwhere(mask: Array, a: Array, b: Array) -> Array:
    """where() with a (B,) mask against (B, ...) leaves."""
    return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)


def _run_final_batched(f, x0, etas, max_sq, *, num_steps: int, chunk: int, unroll: int,
                       finite_only: bool):
    """Final iterates of a batch of runs (leading axis B on x0 leaves and on etas).

    Same arithmetic and semantics as vmapping the per-step path :func:`_guarded_steps`
    (what :func:`gd_trajectory` runs), but faster: inside a chunk of
    ``chunk`` steps the per-step validity is only accumulated (one flag per run), and runs
    that have already diverged are held still by a zero learning rate instead of a select on
    every leaf. Only when some run turns invalid inside a chunk (rare: at most once per
    run) is that chunk recomputed from its start with the exact per-step freezing.
    """
    update = jax.vmap(partial(_gd_update, f))
    valid = jax.vmap(lambda x: _valid(x, max_sq, finite_only))
    exact = jax.vmap(
        lambda c, e, n: _guarded_steps(f, c, e, max_sq, n, unroll, finite_only),
        in_axes=(0, 0, None),
    )

    alive0 = valid(x0)
    carry = (x0, alive0, jnp.zeros(etas.shape, jnp.int32))

    def chunk_body(c, _):
        x, alive, count = c
        eta_live = jnp.where(alive, etas, jnp.zeros_like(etas))

        def inner(ic, _):
            q, ok = ic
            q = update(q, eta_live)
            return (q, ok & valid(q)), None

        (q, ok), _ = lax.scan(inner, (x, alive), None, length=chunk, unroll=unroll)

        def accept(_):
            x_new = jax.tree_util.tree_map(lambda a, b: _bwhere(alive, a, b), q, x)
            return x_new, alive, count + chunk * alive.astype(jnp.int32)

        def replay(_):
            # (arithmetic identical to the fast path for the runs that stay valid)
            return exact(c, etas, chunk)

        return lax.cond(jnp.any(alive & ~ok), replay, accept, None), None

    n_chunks, rest = divmod(num_steps, chunk)
    if n_chunks:
        carry, _ = lax.scan(chunk_body, carry, None, length=n_chunks)
    if rest:
        carry = exact(carry, etas, rest)
    x, alive, count = carry
    return x, _diverged_at(alive0, alive, count)


def _run_recorded(f, x0, eta, max_sq, *, num_steps: int, record_every: int, sharpness_stride: int,
                  unroll: int, finite_only: bool):
    carry, alive0 = _initial_carry(x0, max_sq, finite_only)

    def chunk(c, _):
        c = _guarded_steps(f, c, eta, max_sq, record_every, unroll, finite_only)
        return c, c[0]

    (_, alive, count), xs = lax.scan(chunk, carry, None, length=num_steps // record_every)
    params = jax.tree_util.tree_map(lambda a0, a: jnp.concatenate([a0[None], a]), x0, xs)
    loss = jax.vmap(f)(params)
    sharp = None
    if sharpness_stride:
        sub = jax.tree_util.tree_map(lambda a: a[::sharpness_stride], params)
        sharp = jax.vmap(partial(_dense_sharpness, f))(sub)
    return params, loss, sharp, _diverged_at(alive0, alive, count)


_STATIC = ("f", "num_steps", "record_every", "sharpness_stride", "unroll", "finite_only")


@partial(jax.jit, static_argnames=_STATIC)
def _recorded_jit(f, x0, eta, max_sq, *, num_steps, record_every, sharpness_stride, unroll,
                  finite_only):
    return _run_recorded(f, x0, eta, max_sq, num_steps=num_steps, record_every=record_every,
                         sharpness_stride=sharpness_stride, unroll=unroll, finite_only=finite_only)


@partial(jax.jit, static_argnames=_STATIC + ("over",))
def _recorded_sweep_jit(f, x0, eta, max_sq, *, num_steps, record_every, sharpness_stride, unroll,
                        finite_only, over):
    run = partial(_run_recorded, f, num_steps=num_steps, record_every=record_every,
                  sharpness_stride=sharpness_stride, unroll=unroll, finite_only=finite_only)
    axes = (None, 0, None) if over == "eta" else (0, None, None)
    return jax.vmap(run, in_axes=axes)(x0, eta, max_sq)


@partial(jax.jit, static_argnames=("f", "num_steps", "chunk", "unroll", "finite_only"))
def _final_batched_jit(f, x0, etas, max_sq, *, num_steps, chunk, unroll, finite_only):
    return _run_final_batched(f, x0, etas, max_sq, num_steps=num_steps, chunk=chunk,
                              unroll=unroll, finite_only=finite_only)


def _strides(num_steps, record_every, sharpness_every) -> tuple[int, int, int]:
    num_steps = _check_int("num_steps", num_steps, 1)
    record_every = _check_int("record_every", record_every, 1)
    sharpness_every = _check_int("sharpness_every", sharpness_every, 0)
    if num_steps % record_every:
        raise ValueError(
            f"record_every must divide num_steps (num_steps={num_steps}, "
            f"record_every={record_every})"
        )
    if sharpness_every and sharpness_every % record_every:
        raise ValueError(
            f"sharpness_every must be 0 or a multiple of record_every={record_every}, "
            f"got {sharpness_every}"
        )
    stride = sharpness_every // record_every
    return num_steps, record_every, stride


# ----------------------------------------------------------------------------- devices


def _spread_batch(tree: PyTree, n: int) -> PyTree:
    """Place a batch (leading axis of length ``n`` on every leaf) split over all devices.

    The batch is padded to a multiple of the device count by repeating its last entry (the
    padded runs are real runs, so they cannot produce NaN or a spurious divergence) and laid
    out with ``PartitionSpec("batch")`` on a 1-D mesh of every device; jit then runs each
    device's slice where it lives. With one device the tree is returned unchanged. The runs
    of a sweep never interact, except through the batch-wide ``any`` of
    :func:`_run_final_batched`, so the results equal a single-device run.
    """
    devices = jax.devices()
    if len(devices) < 2:
        return tree
    pad = -n % len(devices)
    sharding = jax.sharding.NamedSharding(jax.sharding.Mesh(np.array(devices), ("batch",)),
                                          jax.sharding.PartitionSpec("batch"))

    def place(a):
        a = jnp.asarray(a)
        if pad:
            a = jnp.concatenate([a, jnp.repeat(a[-1:], pad, axis=0)])
        return jax.device_put(a, sharding)

    return jax.tree_util.tree_map(place, tree)


def _unpad(tree: PyTree, n: int) -> PyTree:
    """Drop the padding :func:`_spread_batch` added (``None`` leaves stay ``None``)."""
    return jax.tree_util.tree_map(lambda a: a if a.shape[0] == n else a[:n], tree)


# ----------------------------------------------------------------------------- public API


def gd_trajectory(
    f: Objective,
    x0: State,
    eta: LearningRate,
    num_steps: int,
    *,
    record_every: int = 1,
    sharpness_every: int = 0,
    max_norm: float = 1e8,
    unroll: int = 1,
) -> Trajectory:
    """Run ``num_steps`` steps of GD ``x <- x - eta grad f(x)`` and record the iterates.

    Args:
      f: scalar objective of the parameters (array or pytree of arrays).
      x0: finite initial point; integer input is promoted to the default float dtype.
      eta: learning rate, in (0, inf).
      num_steps: number of steps, an integer >= 1.
      record_every: record every r-th iterate; r must divide ``num_steps``.
      sharpness_every: if k > 0, also compute the sharpness (dense Hessian, small d only)
        at steps 0, k, 2k, ...; k must be a multiple of ``record_every``.
      max_norm: divergence threshold on ``||x||_2``, in (0, inf] (see the module docs).
      unroll: ``lax.scan`` unroll factor of the inner loop, an integer >= 1.

    Returns:
      A :class:`Trajectory`. After a divergence the state is frozen at the last valid
      iterate, so the recorded arrays stay finite.
    """
    _check_eta(eta)
    num_steps, record_every, stride = _strides(num_steps, record_every, sharpness_every)
    unroll = _check_int("unroll", unroll, 1)
    x0, dtype = _prepare_x0(x0)
    max_sq, finite_only = _max_sq(max_norm, dtype)
    params, loss, sharp, div = _recorded_jit(
        _static(f), x0, jnp.asarray(eta, dtype), jnp.asarray(max_sq, dtype),
        num_steps=num_steps, record_every=record_every, sharpness_stride=stride, unroll=unroll,
        finite_only=finite_only,
    )
    return Trajectory(params, loss, sharp, div, num_steps, record_every, stride * record_every)


def _final_args(num_steps, unroll, chunk, x0, max_norm):
    """Checked arguments of :func:`gd_final` and :func:`sweep_final`."""
    num_steps = _check_int("num_steps", num_steps, 1)
    unroll = _check_int("unroll", unroll, 1)
    chunk = _check_int("chunk", chunk, 1)
    x0, dtype = _prepare_x0(x0)
    max_sq, finite_only = _max_sq(max_norm, dtype)
    return num_steps, unroll, chunk, x0, dtype, max_sq, finite_only


def gd_final(
    f: Objective,
    x0: State,
    eta: LearningRate,
    num_steps: int,
    *,
    max_norm: float = 1e8,
    unroll: int = 1,
    chunk: int = 64,
) -> tuple[State, Int[Array, ""]]:
    """Final iterate of GD without any history (cheap; for long runs and big sweeps).

    Args:
      f: scalar objective; x0: finite initial point; eta: learning rate in (0, inf);
      num_steps: integer >= 1; max_norm: divergence threshold in (0, inf].
      unroll: ``lax.scan`` unroll factor of the inner loop, integer >= 1.
      chunk: steps between the cheap batch-level divergence tests, integer >= 1. Affects
        speed only: every ``chunk`` and ``unroll`` performs the same per-step arithmetic and
        the same exact divergence semantics as :func:`gd_trajectory`.

    Returns:
      ``(x_final, diverged_at)``; after a divergence ``x_final`` is the last valid iterate
      ``x_{diverged_at - 1}``.
    """
    _check_eta(eta)
    num_steps, unroll, chunk, x0, dtype, max_sq, finite_only = _final_args(
        num_steps, unroll, chunk, x0, max_norm)
    xb = jax.tree_util.tree_map(lambda a: a[None], x0)
    x, div = _final_batched_jit(
        _static(f), xb, jnp.asarray(eta, dtype)[None], jnp.asarray(max_sq, dtype),
        num_steps=num_steps, chunk=chunk, unroll=unroll, finite_only=finite_only,
    )
    return jax.tree_util.tree_map(lambda a: a[0], x), div[0]


def sweep_final(
    f: Objective,
    x0: State,
    etas: Float[ArrayLike, " batch"],
    num_steps: int,
    *,
    max_norm: float = 1e8,
    unroll: int = 1,
    chunk: int = 64,
) -> tuple[BatchedState, Int[Array, " batch"]]:
    """:func:`gd_final` for many learning rates at once (one compiled, batched loop).

    Passing ``x0`` as a tuple of arrays (e.g. ``(x, y)``) keeps each coordinate in its own
    contiguous ``(n_eta,)`` array, which is faster than one interleaved ``(n_eta, d)`` array.

    Args:
      f: scalar objective; x0: shared finite initial point;
      etas: 1-D array of learning rates, each in (0, inf);
      num_steps, max_norm, unroll, chunk: as in :func:`gd_final`.

    Returns:
      ``(x_final, diverged_at)`` with a leading axis of length ``len(etas)`` on every leaf.
    """
    _check_etas(etas)
    num_steps, unroll, chunk, x0, dtype, max_sq, finite_only = _final_args(
        num_steps, unroll, chunk, x0, max_norm)
    etas = jnp.asarray(etas, dtype)
    n = etas.shape[0]
    xb = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, etas.shape + a.shape), x0)
    xb, etas = _spread_batch((xb, etas), n)
    return _unpad(_final_batched_jit(
        _static(f), xb, etas, jnp.asarray(max_sq, dtype),
        num_steps=num_steps, chunk=chunk, unroll=unroll, finite_only=finite_only,
    ), n)


def _sweep(f, x0, eta, num_steps, record_every, sharpness_every, max_norm, unroll, over, dtype):
    if record_every is None:
        record_every = num_steps  # endpoints only: sweeps are usually too big for history
    num_steps, record_every, stride = _strides(num_steps, record_every, sharpness_every)
    unroll = _check_int("unroll", unroll, 1)
    max_sq, finite_only = _max_sq(max_norm, dtype)
    eta = jnp.asarray(eta, dtype)
    if over == "eta":
        n = eta.shape[0]
        eta = _spread_batch(eta, n)
    else:
        n = jax.tree_util.tree_leaves(x0)[0].shape[0]
        x0 = _spread_batch(x0, n)
    params, loss, sharp, div = _unpad(_recorded_sweep_jit(
        _static(f), x0, eta, jnp.asarray(max_sq, dtype),
        num_steps=num_steps, record_every=record_every, sharpness_stride=stride, unroll=unroll,
        finite_only=finite_only, over=over,
    ), n)
    return Trajectory(params, loss, sharp, div, num_steps, record_every, stride * record_every)


def sweep_learning_rates(
    f: Objective,
    x0: State,
    etas: Float[ArrayLike, " batch"],
    num_steps: int,
    *,
    record_every: int | None = None,
    sharpness_every: int = 0,
    max_norm: float = 1e8,
    unroll: int = 1,
) -> Trajectory:
    """:func:`gd_trajectory` from one ``x0`` for every learning rate in ``etas`` (vmap).

    Args:
      etas: 1-D array of learning rates, each in (0, inf).
      record_every: recording stride; None (default) records only steps 0 and
        ``num_steps``.
      Other arguments as in :func:`gd_trajectory`.

    Returns:
      A :class:`Trajectory` whose arrays have a leading axis of length ``len(etas)``.
    """
    _check_etas(etas)
    x0, dtype = _prepare_x0(x0)
    return _sweep(f, x0, etas, num_steps, record_every, sharpness_every, max_norm, unroll,
                  "eta", dtype)


def sweep_initial_points(
    f: Objective,
    x0s: BatchedState,
    eta: LearningRate,
    num_steps: int,
    *,
    record_every: int | None = None,
    sharpness_every: int = 0,
    max_norm: float = 1e8,
    unroll: int = 1,
) -> Trajectory:
    """:func:`gd_trajectory` at one learning rate from every initial point in ``x0s`` (vmap).

    Args:
      x0s: initial points stacked along a leading axis (on every leaf), all finite.
      eta: learning rate, in (0, inf).
      record_every: recording stride; None (default) records only steps 0 and
        ``num_steps``.
      Other arguments as in :func:`gd_trajectory`.

    Returns:
      A :class:`Trajectory` whose arrays have a leading axis over the initial points.
    """
    _check_eta(eta)
    x0s, dtype = _prepare_x0(x0s, name="x0s")
    sizes = {jnp.shape(leaf)[0] if jnp.ndim(leaf) else None
             for leaf in jax.tree_util.tree_leaves(x0s)}
    if None in sizes or len(sizes) != 1:
        raise ValueError("x0s must have one common leading (batch) axis on every leaf")
    return _sweep(f, x0s, eta, num_steps, record_every, sharpness_every, max_norm, unroll,
                  "x0", dtype)


class Iterates(NamedTuple):
    """The result of :func:`iterate` (a leading batch axis on every array for
    :func:`iterate_batched`).

    Attributes:
      final: the last valid iterate (after ``steps`` steps, or at ``diverged_at - 1``).
      params: the iterates at steps ``0, r, 2r, ..., steps`` (``r = record_every``), with
        the frozen last valid iterate repeated after a divergence; None if ``r == 0``.
      diverged_at: int32, the first invalid step, ``-1`` if the run never diverged.
      steps: number of steps requested.
      record_every: recording stride ``r`` (0: only the final iterate was kept).
    """

    final: _PyTree[Float[Array, "*batch ..."]]
    params: _PyTree[Float[Array, "*batch n_rec ..."]] | None
    diverged_at: Int[Array, "*batch"]
    steps: int
    record_every: int = 0

    diverged = Trajectory.diverged  # same field, same meaning (an array for a batch)

    @property
    def times(self) -> Int[np.ndarray, " n_rec"] | None:
        """Step index of every recorded iterate (None if nothing was recorded)."""
        return _step_grid(self.steps, self.record_every)

    def report(self) -> str:
        """One line: ``"ran N steps"`` or ``"diverged at step k of N"`` (counts for batches)."""
        return Trajectory.report(self)  # same fields, same wording


def _iterate_impl(step, x0, args, max_sq, start, *, num_steps, record_every, unroll, finite_only,
                  indexed):
    carry, alive0 = _initial_carry(x0, max_sq, finite_only)
    if not record_every:
        x, alive, count = _guarded(step, carry, args, max_sq, num_steps, unroll, finite_only,
                                   start if indexed else None)
        return x, None, _diverged_at(alive0, alive, count)

    def chunk(c, i):
        t0 = start + i * record_every if indexed else None
        c = _guarded(step, c, args, max_sq, record_every, unroll, finite_only, t0)
        return c, c[0]

    n_chunks = num_steps // record_every
    (x, alive, count), xs = lax.scan(chunk, carry, jnp.arange(n_chunks, dtype=jnp.int32))
    params = jax.tree_util.tree_map(lambda a0, a: jnp.concatenate([a0[None], a]), x0, xs)
    return x, params, _diverged_at(alive0, alive, count)


_ITER_STATIC = ("step", "num_steps", "record_every", "unroll", "finite_only", "indexed")


@partial(jax.jit, static_argnames=_ITER_STATIC)
def _iterate_jit(step, x0, args, max_sq, start, *, num_steps, record_every, unroll, finite_only,
                 indexed):
    return _iterate_impl(step, x0, args, max_sq, start, num_steps=num_steps,
                         record_every=record_every, unroll=unroll, finite_only=finite_only,
                         indexed=indexed)


@partial(jax.jit, static_argnames=_ITER_STATIC + ("in_axes",))
def _iterate_batched_jit(step, x0, args, max_sq, start, *, num_steps, record_every, unroll,
                         finite_only, indexed, in_axes):
    run = partial(_iterate_impl, step, num_steps=num_steps, record_every=record_every,
                  unroll=unroll, finite_only=finite_only, indexed=indexed)
    return jax.vmap(run, in_axes=(in_axes[0], in_axes[1], None, None))(x0, args, max_sq, start)


def _iterate_args(step, num_steps, record_every, unroll, max_norm, x0, start):
    if not callable(step):
        raise ValueError(f"step must be a callable x, *args -> x, got {type(step).__name__}")
    num_steps = _check_int("num_steps", num_steps, 1)
    record_every = _check_int("record_every", record_every, 0)
    unroll = _check_int("unroll", unroll, 1)
    start = _check_int("start", start, 0)
    if record_every and num_steps % record_every:
        raise ValueError(f"record_every must be 0 or divide num_steps (num_steps={num_steps}, "
                         f"record_every={record_every})")
    x0, dtype = _prepare_x0(x0)
    max_sq, finite_only = _max_sq(max_norm, dtype)
    return (num_steps, record_every, unroll, x0, jnp.asarray(max_sq, dtype), finite_only,
            jnp.asarray(start, jnp.int32))


def iterate(
    step: Callable[..., State],
    x0: State,
    num_steps: int,
    *,
    args: tuple = (),
    record_every: int = 0,
    max_norm: float = math.inf,
    unroll: int = 1,
    indexed: bool = False,
    start: int = 0,
) -> Iterates:
    """Iterate ``x_{t+1} = step(x_t, *args)`` with divergence detection (jit + ``lax.scan``).

    The core's one iteration primitive. Paper modules supply their step function (a GD
    update, a closed-form two-step map, a reparameterised update) and get the module's
    divergence convention: the first invalid step index, never a NaN.

    Args:
      step: JAX-traceable map ``(x, *args) -> x`` with ``x`` an array or pytree. It is a
        static argument of ``jax.jit``: pass the same function object to reuse the
        compilation, and put values that change between calls (a learning rate) in
        ``args``, which are traced.
      x0: initial state, finite.
      num_steps: number of steps, an integer in ``[1, inf)``.
      args: extra (traced) arguments of ``step``.
      record_every: recording stride, an integer in ``[0, inf)`` dividing ``num_steps``;
        0 keeps only the final iterate.
      max_norm: divergence bound on the Euclidean norm of the state over all leaves, in
        ``(0, inf]``; ``inf`` checks finiteness only.
      unroll: ``lax.scan`` unroll factor, an integer in ``[1, inf)``.
      indexed: call ``step(x, t, *args)`` with the (traced, int32) index ``t`` of the step
        ``x_t -> x_{t+1}``, counted from ``start``: a learning-rate schedule
        ``eta_t = etas[t]`` with ``etas`` in ``args``.
      start: index of the first step when ``indexed`` (so that a run continued in chunks
        sees one global step count), an integer in ``[0, inf)``.

    Returns:
      :class:`Iterates`.

    Raises:
      ValueError: an argument outside its range (the message names it).
    """
    num_steps, record_every, unroll, x0, max_sq, finite_only, start = _iterate_args(
        step, num_steps, record_every, unroll, max_norm, x0, start)
    final, params, d = _iterate_jit(_static(step), x0, tuple(args), max_sq, start,
                                    num_steps=num_steps, record_every=record_every, unroll=unroll,
                                    finite_only=finite_only, indexed=bool(indexed))
    return Iterates(final, params, d, num_steps, record_every)


def iterate_batched(
    step: Callable[..., State],
    x0: State | BatchedState,
    num_steps: int,
    *,
    args: tuple = (),
    batch_x0: bool = True,
    batch_args: bool | tuple[bool, ...] = False,
    record_every: int = 0,
    max_norm: float = math.inf,
    unroll: int = 1,
    indexed: bool = False,
    start: int = 0,
) -> Iterates:
    """:func:`iterate` vmapped over a batch of initial points and/or of ``args``.

    Args:
      step, num_steps, record_every, max_norm, unroll, indexed, start: as in :func:`iterate`
        (the step index is shared by the whole batch).
      x0: initial states; with ``batch_x0`` every leaf has a leading batch axis.
      args: extra arguments of ``step``.
      batch_x0: whether ``x0`` carries the batch axis.
      batch_args: whether each entry of ``args`` carries it (one bool for all, or one each).

    Returns:
      :class:`Iterates` with a leading batch axis on ``final``, ``params`` and ``diverged_at``.
    """
    args = tuple(args)
    if isinstance(batch_args, bool):
        batch_args = (batch_args,) * len(args)
    if len(batch_args) != len(args):
        raise ValueError(f"batch_args must have one entry per arg ({len(args)}), got {len(batch_args)}")
    if not batch_x0 and not any(batch_args):
        raise ValueError("iterate_batched needs batch_x0=True or some batch_args=True")
    num_steps, record_every, unroll, x0, max_sq, finite_only, start = _iterate_args(
        step, num_steps, record_every, unroll, max_norm, x0, start)
    in_axes = (0 if batch_x0 else None, tuple(0 if b else None for b in batch_args))
    final, params, d = _iterate_batched_jit(
        _static(step), x0, args, max_sq, start, num_steps=num_steps, record_every=record_every,
        unroll=unroll, finite_only=finite_only, indexed=bool(indexed), in_axes=in_axes)
    return Iterates(final, params, d, num_steps, record_every)
