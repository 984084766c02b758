"""Single-neuron ReLU network of Chen & Bruna (2023), Section 5: population loss and GD beyond EoS.

Model ``f(x; v, w) = v relu(w . x)`` with ``x ~ Unif(S^{d-1})``, teacher ``relu(w~ . x)`` with
``||w~|| = 1``, loss ``L = E_x (f - y)^2`` (no 1/2; this is the convention that puts the EoS
threshold of the flattest minimum at ``eta = d``). The closed form

    L = (1/d) [ v^2 ||w||^2 / 2 - (v ||w|| / pi) (sin a + (pi - a) cos a) + 1/2 ],

with ``a`` the angle between ``w`` and ``w~``, depends on ``w`` only through its components
``w_x = <w, w~>`` and ``w_y`` (the signed coordinate of ``w`` along the fixed unit direction
orthogonal to ``w~`` in ``span(w~, w0)``; GD never leaves that plane). With ``K = eta / d`` the
GD map in ``(v, w_x, w_y)`` does not depend on ``d`` (:func:`reduced_step`).

Sign convention: the paper's ``w_y`` is the length of the orthogonal part. Near the period-2
orbit the coordinate ``w_y`` changes sign every step (its one-step factor ``1 - K v^2`` is
negative at the larger orbit point), so we keep the signed coordinate and report ``|w_y|``;
``L`` depends on ``|w_y|`` only.

References:
  L. Chen and J. Bruna, "Beyond the Edge of Stability via Two-step Gradient Updates",
  ICML 2023, arXiv:2206.04172: Section 5 (Eq. 5-7), Theorem 4, Proposition 4, Figure 5,
  Appendix I.
  Y. Cho and L. Saul, "Kernel Methods for Deep Learning", NeurIPS 2009 (the arc-cosine kernel
  behind the closed form).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from eoslib import gd
from eoslib.papers.two_step.quartic import orbit_deltas
from eoslib.validation import default_float as _fdtype, integer as _int, real as _real, reals as _reals

__all__ = [
    "population_loss",
    "population_loss_reduced",
    "monte_carlo_loss",
    "reduced_gradient",
    "reduced_step",
    "NeuronRun",
    "reduced_run",
    "reduced_final",
    "minimum_hessian",
    "theorem4_t1",
    "theorem4_bound",
    "wy_two_step_factor",
    "sphere_samples",
    "empirical_loss",
    "effective_k",
]


# --------------------------------------------------------------------------- population loss


def _bracket(v, wx, wy):
    """``v ||w|| (sin a + (pi - a) cos a) = v (|w_y| + (pi - a) w_x)`` with ``a = atan2(|w_y|, w_x)``."""
    ay = jnp.abs(wy)
    a = jnp.arctan2(ay, wx)
    return v * (ay + (jnp.pi - a) * wx)


def population_loss_reduced(v, wx, wy, d: int = 1) -> Array:
    """Closed-form population loss in the reduced coordinates ``(v, w_x, w_y)``.

    Args:
      v: output weight(s).
      wx: component(s) of ``w`` along the teacher ``w~``.
      wy: signed orthogonal coordinate(s) (the loss depends on ``|w_y|``).
      d: input dimension, an integer >= 1 (the loss carries a factor ``1/d``).

    Returns:
      ``L`` with the broadcast shape of the inputs.

    References:
      Chen & Bruna (2023), Section 5 (population loss, gradient Eq. 5-7).
    """
    d = _int("d", d, 1)
    n2 = wx * wx + wy * wy
    return (0.5 * v * v * n2 - _bracket(v, wx, wy) / jnp.pi + 0.5) / d


def population_loss(v, w, w_teacher) -> Array:
    """Closed-form ``E_x (v relu(w.x) - relu(w~.x))^2`` for ``x ~ Unif(S^{d-1})``.

    Uses ``E[relu(a.x) relu(b.x)] = ||a|| ||b|| (sin phi + (pi - phi) cos phi) / (2 pi d)``.

    Args:
      v: output weight (scalar).
      w: first-layer weights, shape ``(d,)``.
      w_teacher: teacher direction ``w~``, shape ``(d,)``, unit norm.

    Returns:
      The population loss (scalar).

    Raises:
      ValueError: if shapes differ or ``||w~||`` is not 1 (within 1e-8).

    References:
      Chen & Bruna (2023), Section 5.
    """
    w = jnp.asarray(w)
    wt = jnp.asarray(w_teacher, dtype=w.dtype)
    if w.ndim != 1 or wt.shape != w.shape:
        raise ValueError(f"w and w_teacher must both have shape (d,), got {w.shape} and {wt.shape}")
    if not isinstance(w_teacher, jax.core.Tracer):
        nrm = float(np.linalg.norm(np.asarray(w_teacher, dtype=float)))
        if abs(nrm - 1.0) > 1e-8:
            raise ValueError(f"w_teacher must have norm 1 (range [1 - 1e-8, 1 + 1e-8]), got {nrm}")
    wx = jnp.dot(w, wt)
    perp = w - wx * wt
    wy = jnp.sqrt(jnp.sum(perp * perp))
    return population_loss_reduced(v, wx, wy, w.shape[0])


def sphere_samples(key: Array, num: int, d: int) -> Array:
    """``num`` points uniform on the unit sphere ``S^{d-1}`` (normalised Gaussians).

    Args:
      key: a ``jax.random`` key.
      num: number of points, an integer >= 1.
      d: dimension, an integer >= 2.

    Returns:
      Array ``(num, d)``.
    """
    num = _int("num", num, 1)
    d = _int("d", d, 2)
    g = jax.random.normal(key, (num, d), _fdtype())
    return g / jnp.linalg.norm(g, axis=1, keepdims=True)


def monte_carlo_loss(v, w, w_teacher, key: Array, num_samples: int,
                     batch: int = 200_000) -> tuple[float, float]:
    """Monte Carlo estimate of the population loss and its standard error.

    Args:
      v: output weight.
      w: first-layer weights ``(d,)``.
      w_teacher: teacher ``(d,)``.
      key: ``jax.random`` key.
      num_samples: number of sphere samples, an integer >= 2.
      batch: samples drawn per batch (memory), an integer >= 1.

    Returns:
      ``(mean, standard_error)`` of ``(v relu(w.x) - relu(w~.x))^2``.
    """
    num_samples = _int("num_samples", num_samples, 2)
    batch = _int("batch", batch, 1)
    w = jnp.asarray(w, _fdtype())
    wt = jnp.asarray(w_teacher, _fdtype())
    d = w.shape[0]
    s1 = s2 = 0.0
    done = 0
    while done < num_samples:
        key, sub = jax.random.split(key)
        m = min(batch, num_samples - done)
        x = sphere_samples(sub, m, d)
        r = jnp.asarray(v, w.dtype) * jax.nn.relu(x @ w) - jax.nn.relu(x @ wt)
        sq = r * r
        s1 += float(jnp.sum(sq))
        s2 += float(jnp.sum(sq * sq))
        done += m
    mean = s1 / num_samples
    var = max(s2 / num_samples - mean * mean, 0.0)
    return mean, math.sqrt(var / (num_samples - 1))


# --------------------------------------------------------------------------- reduced GD map


def reduced_gradient(state: Array) -> Array:
    """``d * grad L`` in the reduced coordinates (analytic; exact at ``w_y = 0``).

    ``dv = v n^2 - (|w_y| + (pi - a) w_x)/pi``, ``dw_x = v^2 w_x - (v/pi)(pi - a + w_x |w_y| / n^2)``,
    ``dw_y = v^2 w_y - (v/pi) w_y |w_y| / n^2``, with ``n^2 = w_x^2 + w_y^2``, ``a = atan2(|w_y|, w_x)``.
    Autodiff through the angle would give NaN (``arccos``) or a 1e-17 floor (``atan2``) at ``w_y = 0``.

    Args:
      state: ``(..., 3)`` array ``(v, w_x, w_y)``.

    Returns:
      Array of the same shape.

    References:
      Chen & Bruna (2023), Eq. 5-7 (gradient of the population loss).
    """
    v, wx, wy = state[..., 0], state[..., 1], state[..., 2]
    ay = jnp.abs(wy)
    n2 = wx * wx + wy * wy
    a = jnp.arctan2(ay, wx)
    gv = v * n2 - (ay + (jnp.pi - a) * wx) / jnp.pi
    gx = v * v * wx - v / jnp.pi * (jnp.pi - a + wx * ay / n2)
    gy = v * v * wy - v / jnp.pi * wy * ay / n2
    return jnp.stack([gv, gx, gy], axis=-1)


def reduced_step(state: Array, K) -> Array:
    """One GD step on the population loss with ``eta = K d``: ``state - K * reduced_gradient(state)``.

    Args:
      state: ``(..., 3)`` array ``(v, w_x, w_y)``.
      K: ``eta / d``, scalar or broadcastable to ``state[..., 0]``.

    Returns:
      The next state.

    References:
      Chen & Bruna (2023), Section 5 (the dynamics depend on ``d`` only through ``eta / d``).
    """
    K = jnp.asarray(K, state.dtype)
    return state - K[..., None] * reduced_gradient(state)


class NeuronRun(NamedTuple):
    """A recorded reduced run (leading batch axes if ``K``/``state0`` were batched).

    Attributes:
      states: ``(..., T + 1, 3)`` iterates ``(v, w_x, w_y)``.
      diverged_at: first step with a non-finite state or ``||state|| > 1e6``, ``-1`` if never.
    """

    states: np.ndarray
    diverged_at: np.ndarray


#: Divergence bound on the Euclidean norm of ``(v, w_x, w_y)`` (the orbit has norm ~ 1.5).
_MAX_NORM = 1e6


def _iterate(s: Array, k: Array, num_steps: int, record_every: int) -> tuple[gd.Iterates, tuple[int, ...]]:
    """One :func:`eoslib.gd.iterate_batched` call over the flattened batch of ``(s, k)``."""
    batch = s.shape[:-1]
    flat_s, flat_k = s.reshape((-1, 3)), k.reshape((-1,))
    run = gd.iterate_batched(reduced_step, flat_s, num_steps, args=(flat_k,), batch_args=True,
                             record_every=record_every, max_norm=_MAX_NORM)
    return run, batch


def _batch_inputs(state0, K):
    s = jnp.asarray(state0, _fdtype())
    if s.shape[-1:] != (3,):
        raise ValueError(f"state0 must have shape (..., 3) = (v, w_x, w_y), got {s.shape}")
    k = _reals("K", K, 0.0, math.inf)
    if not np.all(np.isfinite(np.asarray(s))):
        raise ValueError("state0 must be finite")
    shape = np.broadcast_shapes(s.shape[:-1], k.shape)
    s = jnp.broadcast_to(s, shape + (3,))
    return s, jnp.broadcast_to(jnp.asarray(k, s.dtype), shape)


def reduced_run(state0, K, num_steps: int) -> NeuronRun:
    """GD on the population loss in reduced coordinates, every iterate recorded.

    Args:
      state0: ``(..., 3)`` initial ``(v, w_x, w_y)``.
      K: ``eta / d``, real number(s) in (0, inf), broadcast against ``state0[..., 0]``.
      num_steps: number of steps, an integer >= 1.

    Returns:
      :class:`NeuronRun` with ``states`` of shape ``(..., num_steps + 1, 3)``; after a divergence
      the state is frozen at the last finite iterate (no NaN in the output).

    References:
      Chen & Bruna (2023), Theorem 4 and Proposition 4.
    """
    num_steps = _int("num_steps", num_steps, 1)
    s, k = _batch_inputs(state0, K)
    run, batch = _iterate(s, k, num_steps, 1)
    states = np.asarray(run.params).reshape(batch + (num_steps + 1, 3))
    return NeuronRun(states, np.asarray(run.diverged_at).reshape(batch))


def reduced_final(state0, K, num_steps: int, keep_last: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The last ``keep_last`` iterates of a reduced run (cheaper than recording everything).

    Args:
      state0: ``(..., 3)`` initial states.
      K: ``eta / d``, real number(s) in (0, inf).
      num_steps: number of steps, an integer >= ``keep_last``.
      keep_last: number of final iterates kept, an integer >= 1.

    Returns:
      ``(tail, diverged_at)`` with ``tail`` of shape ``(..., keep_last, 3)``.
    """
    keep_last = _int("keep_last", keep_last, 1)
    num_steps = _int("num_steps", num_steps, keep_last)
    s, k = _batch_inputs(state0, K)
    head = num_steps - keep_last
    head_div = np.full(s.shape[:-1], -1)
    if head:
        run, _ = _iterate(s, k, head, 0)
        s = run.final.reshape(s.shape)
        head_div = np.asarray(run.diverged_at).reshape(s.shape[:-1])
    run, batch = _iterate(s, k, keep_last, 1)
    tail = np.asarray(run.params)[:, 1:].reshape(batch + (keep_last, 3))
    tail_div = np.asarray(run.diverged_at).reshape(batch)
    div = np.where(head_div >= 0, head_div, np.where(tail_div >= 0, tail_div + head, -1))
    # A run that diverged in the head stays frozen at its last valid state (eoslib.gd convention).
    tail = np.where((head_div >= 0)[..., None, None], np.asarray(s)[..., None, :], tail)
    return tail, div


# --------------------------------------------------------------------------- theory


def minimum_hessian(v, w) -> Array:
    """Hessian (Eq. 5) of the population loss at a minimiser ``v w = w~``.

    ``H = (1/d) [[||w||^2, v w^T], [v w, v^2 I]]`` in the coordinates ``(v, w)``; its
    eigenvalues are ``(||w||^2 + v^2)/d``, ``v^2/d`` (``d - 1`` times) and ``0``.

    Args:
      v: output weight (nonzero).
      w: first-layer weights ``(d,)`` with ``v w = w~``.

    Returns:
      ``(d + 1, d + 1)`` array.

    References:
      Chen & Bruna (2023), Eq. 5.
    """
    w = jnp.asarray(w)
    d = w.shape[0]
    v = jnp.asarray(v, w.dtype)
    top = jnp.concatenate([jnp.dot(w, w)[None], v * w])
    rest = jnp.concatenate([(v * w)[:, None], v * v * jnp.eye(d, dtype=w.dtype)], axis=1)
    return jnp.concatenate([top[None], rest], axis=0) / d


def theorem4_t1(eps) -> int:
    """Theorem 4's bound on the length of phase 1: ``ceil(log_2.56(1.35 / (pi beta^2)))``.

    Args:
      eps: initial scale ``||w0|| = v0``, real number in (0, 0.1].

    Returns:
      The integer bound on ``T_1`` (``beta = (1 + 1.1/pi) eps``); at least 0.

    References:
      Chen & Bruna (2023), Theorem 4.
    """
    e = _real("eps", eps, 0.0, 0.1, hi_open=False)
    beta = (1.0 + 1.1 / math.pi) * e
    return max(0, math.ceil(math.log(1.35 / (math.pi * beta * beta)) / math.log(2.56)))


def theorem4_bound(t, K, eps) -> np.ndarray:
    """Theorem 4's bound ``0.1 (1 - 0.030 K)^(t - T1 - 4)`` on ``|w_y^(t)|`` (defined for ``t >= T1 + 4``).

    Args:
      t: step(s), integers.
      K: ``eta / d``, real number in (1, 1.1].
      eps: initial scale, real number in (0, 0.1].

    Returns:
      The bound at each ``t`` (``inf`` where ``t < T1 + 4``: the theorem says nothing there).

    References:
      Chen & Bruna (2023), Theorem 4.
    """
    k = _real("K", K, 1.0, 1.1, hi_open=False)
    t = np.asarray(t)
    start = theorem4_t1(eps) + 4
    expo = np.maximum(t - start, 0).astype(float)
    return np.where(t >= start, 0.1 * (1.0 - 0.030 * k) ** expo, np.inf)


def wy_two_step_factor(K) -> np.ndarray:
    """Asymptotic two-step factor of ``w_y`` on the orbit: ``(1 - K delta_1^2)(1 - K delta_2^2) = 1 - K``.

    Args:
      K: ``eta / d``, real number(s) in [1, inf).

    Returns:
      ``1 - K`` (negative: ``w_y`` changes sign every two steps as well as every step pair).

    References:
      Chen & Bruna (2023), Theorem 4 (phase 3; the factor is derived here).
    """
    k = _reals("K", K, 1.0, math.inf, lo_open=False)
    d1, d2 = orbit_deltas(k)
    return (1.0 - k * d1 * d1) * (1.0 - k * d2 * d2)


# --------------------------------------------------------------------------- empirical loss (Figure 5)


def empirical_loss(params: Array, x: Array, w_teacher: Array) -> Array:
    """Mean squared error ``mean_i (v relu(w.x_i) - relu(w~.x_i))^2`` (no 1/2) of the single neuron.

    Args:
      params: flat ``(1 + d,)`` vector ``(v, w)``.
      x: inputs ``(N, d)``.
      w_teacher: teacher ``(d,)``.

    Returns:
      Scalar loss.

    References:
      Chen & Bruna (2023), Figure 5 (empirical version of the Section 5 model).
    """
    v, w = params[0], params[1:]
    r = v * jax.nn.relu(x @ w) - jax.nn.relu(x @ w_teacher)
    return jnp.mean(r * r)


def effective_k(eta, x: Array, w_teacher: Array) -> float:
    """``K_eff = 2 eta mean(relu(w~.x)^2)``: the step in units of the threshold of the empirical loss.

    On the ray ``w = c w~`` the empirical loss is ``m (v c - 1)^2`` with ``m = mean relu(w~.x)^2``,
    i.e. ``2m * 1/2 (vc - 1)^2``, the 2-D function with ``mu = 1`` and step ``2 m eta``.

    Args:
      eta: learning rate, real number in (0, inf).
      x: inputs ``(N, d)``.
      w_teacher: teacher ``(d,)``.

    Returns:
      ``K_eff`` as a float.

    References:
      Chen & Bruna (2023), Figure 5 (derived here).
    """
    e = _real("eta", eta, 0.0)
    z = jax.nn.relu(jnp.asarray(x) @ jnp.asarray(w_teacher))
    return 2.0 * e * float(jnp.mean(z * z))
