"""Chen & Bruna (2023), the quartic 1/4 (x^2 - mu)^2: Theorem 2, its period-2 orbit and the cascade beyond.

GD on ``f(x) = 1/4 (x^2 - mu)^2`` is the cubic map ``x -> x - eta x (x^2 - mu)``. With
``K = eta mu`` (the step in units of the EoS threshold of the minimum ``sqrt(mu)``) its period-2
orbit is ``delta_{1,2}`` in closed form (:func:`orbit_deltas`). The same orbit appears all over
the paper: the balanced 2-D function (``mu``), the single neuron (``K = eta/d``, ``mu = 1``) and
the top singular values in matrix factorisation (``mu = lambda_1``), so it lives here once.

References:
  L. Chen and J. Bruna, "Beyond the Edge of Stability via Two-step Gradient Updates",
  ICML 2023, arXiv:2206.04172: Theorem 2 (Eq. 4), App. F, App. L.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array
from scipy.optimize import brentq

from eoslib import gd, orbits
from eoslib.validation import default_float as _float, integer as _int, real as _real, reals as _reals

__all__ = [
    "K_MONOTONE",
    "K_FLIP",
    "orbit_deltas",
    "eta_from_delta",
    "orbit_multiplier",
    "QuarticMap",
    "quartic_map",
    "DoublingPoint",
    "period_doubling_point",
    "lyapunov_exponent",
]

#: Upper end of Theorem 2's range: the orbit multiplier 9 - 2 (1 + K)^2 is positive below it.
K_MONOTONE: float = math.sqrt(4.5) - 1.0
#: The orbit multiplier 9 - 2 (1 + K)^2 reaches -1 here: the 2 -> 4 period doubling (App. L).
K_FLIP: float = math.sqrt(5.0) - 1.0


def orbit_deltas(eta, mu=1.0):
    """Period-2 orbit of GD on 1/4 (x^2 - mu)^2: delta_{1,2} = (sqrt(mu + 3/eta) -+ sqrt(mu - 1/eta)) / 2.

    Equivalently ``delta_i(eta, mu) = sqrt(mu) delta_i(K, 1)`` with ``K = eta mu``; and
    ``delta_1 delta_2 = 1/eta``, ``delta_1^2 + delta_2^2 = mu + 1/eta``. For the single neuron call
    it with ``eta = K = eta_neuron / d`` and ``mu = 1``; for matrix factorisation with
    ``mu = lambda_1`` (Eq. 8).

    Args:
      eta: step size(s) with eta * mu in [1, inf) (at eta mu = 1 both points equal sqrt(mu):
        the orbit is born there).
      mu: target(s) in (0, inf), broadcast against eta.

    Returns:
      ``(delta_1, delta_2)`` with delta_1 <= sqrt(mu) <= delta_2: floats for scalar input,
      arrays of the broadcast shape otherwise.

    Raises:
      ValueError: eta * mu < 1 (no orbit) or a non-positive argument.

    References:
      Chen & Bruna (2023), Theorem 2 (Eq. 4), Proposition 4 (Eq. 6), Observation 1 (Eq. 8).
    """
    mu = _reals("mu", mu, 0.0)
    eta = _reals("eta", eta, 0.0)
    eta, mu = np.broadcast_arrays(eta, mu)
    if not np.all(eta * mu >= 1):
        raise ValueError(f"eta * mu must be in [1, inf), got {eta * mu!r}")
    a, b = np.sqrt(mu + 3 / eta), np.sqrt(np.maximum(mu - 1 / eta, 0.0))
    d1, d2 = 0.5 * (a - b), 0.5 * (a + b)
    return (float(d1), float(d2)) if d1.ndim == 0 else (d1, d2)


def eta_from_delta(delta, mu=1.0):
    """Eq. 4: eta = 1 / (delta^2 (sqrt(mu/delta^2 - 3/4) + 1/2)), the step whose orbit contains delta.

    Args:
      delta: orbit point(s) with 0 < delta < sqrt(4 mu / 3).
      mu: target in (0, inf).

    Returns:
      eta (float or array). The "+" branch; valid for K = eta mu <= 3/2.

    References:
      Chen & Bruna (2023), Theorem 2, Eq. 4.
    """
    mu = _real("mu", mu, 0.0)
    d = _reals("delta", delta, 0.0, math.sqrt(4 * mu / 3))
    out = 1.0 / (d**2 * (np.sqrt(mu / d**2 - 0.75) + 0.5))
    return float(out) if out.ndim == 0 else out


def orbit_multiplier(K):
    """Two-step multiplier of the period-2 orbit: (F^2)' = 9 - 2 (1 + K)^2, K = eta mu.

    Args:
      K: learning rate(s) in units of the EoS threshold, each in (1, inf).

    Returns:
      The multiplier (float or array): in (0, 1) for K < sqrt(4.5) - 1, reaching -1 at
      K = sqrt(5) - 1.

    References:
      Chen & Bruna (2023), Theorem 2 and App. L (the closed form is derived here).
    """
    k = _reals("K", K, 1.0)
    out = 9 - 2 * (1 + k) ** 2
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class QuarticMap:
    """``eta -> F_eta`` for GD on 1/4 (x^2 - mu)^2 (traceable in eta; for :mod:`eoslib.orbits`)."""

    mu: float

    def __call__(self, eta):
        mu = self.mu

        def step(x):
            return x - eta * x * (x * x - mu)

        return step


def quartic_map(mu: float = 1.0) -> QuarticMap:
    """The map factory ``eta -> (x -> x - eta x (x^2 - mu))`` for continuation and diagrams.

    Args:
      mu: target in (0, inf).

    Returns:
      A hashable :class:`QuarticMap` (compiled orbit kernels are cached per mu).

    References:
      Chen & Bruna (2023), Theorem 2, App. L.
    """
    return QuarticMap(_real("mu", mu, 0.0))


class DoublingPoint(NamedTuple):
    """A period-doubling point of the quartic's GD map (see :func:`period_doubling_point`).

    Attributes:
      K: where the period-p orbit's multiplier equals -1 (a period-2p orbit is born).
      period: p.
      grid: the continuation grid of K values.
      multipliers: multiplier of D(F^p) along the grid (NaN where Newton failed).
      orbit: the p orbit points at K.
    """

    K: float
    period: int
    grid: np.ndarray
    multipliers: np.ndarray
    orbit: np.ndarray


def _min_gap(points: np.ndarray) -> float:
    p = np.asarray(points, dtype=float).ravel()
    return float(np.min(np.abs(p[:, None] - p[None, :])[~np.eye(p.size, dtype=bool)])) if p.size > 1 else math.inf


def period_doubling_point(period: int, K_lo: float, K_hi: float, x_guess: float, mu: float = 1.0,
                          num_grid: int = 41) -> DoublingPoint:
    """K at which the period-``period`` orbit's multiplier crosses -1 (root finding on the multiplier).

    Continues the orbit through ``x_guess`` along a grid of K in [K_lo, K_hi] by Newton on
    F^p(x) = x (:func:`eoslib.orbits.continue_orbit`, one point at a time), finds the first grid
    interval where multiplier + 1 changes sign, and refines it with ``brentq``; every
    evaluation inside ``brentq`` is a fresh Newton solve seeded from the nearest grid orbit.

    Args:
      period: p, an integer in [1, 64].
      K_lo, K_hi: the K range, 1 < K_lo < K_hi < 2; ``x_guess`` should lie near the attracting
        p-orbit at ``K_lo`` (e.g. the tail of a GD run there).
      x_guess: finite real.
      mu: target in (0, inf); K = eta mu.
      num_grid: grid size, an integer in [3, 10000].

    Returns:
      :class:`DoublingPoint`.

    Raises:
      ValueError: on bad input, or if the multiplier does not cross -1 on the grid along a
        converged, genuinely period-p branch.

    References:
      Chen & Bruna (2023), App. L (period doubling of the 1-D quartic).
    """
    period = _int("period", period, 1, 64)
    K_lo = _real("K_lo", K_lo, 1.0, 2.0)
    K_hi = _real("K_hi", K_hi, K_lo, 2.0)
    x_guess = _real("x_guess", x_guess)
    mu = _real("mu", mu, 0.0)
    num_grid = _int("num_grid", num_grid, 3, 10000)
    qmap = quartic_map(mu)
    grid = np.linspace(K_lo, K_hi, num_grid)
    one = jnp.asarray([0.0], _float())

    def solve_from(K, x):
        # A one-point continue_orbit is a Newton solve whose map is traced in eta: every solve
        # (grid and brentq alike) reuses one compiled kernel per period.
        return orbits.continue_orbit(qmap, one + K / mu, jnp.asarray(x, _float()), period)

    # natural continuation along the grid, each solve seeded by the last converged orbit point
    pts = np.full((num_grid, period), np.nan)
    conv = np.zeros(num_grid, dtype=bool)
    mult = np.full(num_grid, np.nan)
    seed = x_guess
    for j, K in enumerate(grid):
        b = solve_from(K, seed)
        pts[j] = np.asarray(b.points, dtype=float).reshape(period)
        conv[j] = bool(np.asarray(b.converged)[0])
        mult[j] = float(np.real(np.asarray(b.multipliers)).ravel()[0])
        if conv[j]:
            seed = pts[j, 0]
    gaps = np.array([_min_gap(p) if np.all(np.isfinite(p)) else 0.0 for p in pts])
    good = conv & (gaps > 1e-6)
    mult = np.where(good, mult, np.nan)
    s = mult + 1.0
    cross = np.nonzero(good[:-1] & good[1:] & (s[:-1] > 0) & (s[1:] <= 0))[0]
    if cross.size == 0:
        raise ValueError(f"the period-{period} multiplier does not cross -1 on K in [{K_lo:g}, {K_hi:g}]")
    i = int(cross[0])

    def solve(K):
        seed = pts[i] if abs(K - grid[i]) <= abs(K - grid[i + 1]) else pts[i + 1]
        return solve_from(K, seed[0])

    def h(K):
        b = solve(K)
        if not bool(np.asarray(b.converged)[0]):
            raise ValueError(f"Newton failed for the period-{period} orbit at K = {K!r}")
        return float(np.real(np.asarray(b.multipliers)).ravel()[0]) + 1.0

    Kc = brentq(h, grid[i], grid[i + 1], xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=200)
    orb = np.asarray(solve(Kc).points, dtype=float).reshape(period)
    return DoublingPoint(float(Kc), period, grid, mult, orb)


@dataclass(frozen=True)
class _QuarticStep:
    """``x -> x - eta x (x^2 - mu)``, with (eta, mu) traced arguments (one compilation)."""

    def __call__(self, x: Array, eta: Array, mu: Array) -> Array:
        return x - eta * x * (x * x - mu)


@dataclass(frozen=True)
class _LogDerivativeStep:
    """``(x, s) -> (F(x), s + log|F'(x)|)``: a GD step that accumulates the Lyapunov sum."""

    def __call__(self, state, eta: Array, mu: Array):
        x, s = state
        return x - eta * x * (x * x - mu), s + jnp.log(jnp.abs(1.0 - eta * (3.0 * x * x - mu)))


def lyapunov_exponent(K, mu: float = 1.0, x0: float = 0.5, num_steps: int = 20000,
                      burn: int = 2000) -> np.ndarray:
    """Lyapunov exponent (1/T) sum log|F'(x_t)| of GD on 1/4 (x^2 - mu)^2 at K = eta mu.

    Negative on attracting periodic orbits, positive in the chaotic regime beyond the
    accumulation point of the period-doubling cascade. In the chaotic regime the value
    depends on round-off (different CPUs give different digits): compare it by tolerance only.

    Args:
      K: learning rate(s) in (0, 2) (the iterates from (0, sqrt(mu)) stay bounded there).
      mu: target in (0, inf); x0: start in (0, sqrt(mu)).
      num_steps: averaging steps, an integer >= 1; burn: transient steps, an integer >= 0.

    Returns:
      Array shaped like ``K``.

    References:
      Chen & Bruna (2023), App. L (chaos beyond the period-doubling cascade, K ~ 1.3025).
    """
    mu = _real("mu", mu, 0.0)
    Ks = _reals("K", K, 0.0, 2.0)
    x0 = _real("x0", x0, 0.0, math.sqrt(mu))
    num_steps = _int("num_steps", num_steps, 1)
    burn = _int("burn", burn, 0)
    f = _float()
    etas = jnp.asarray(Ks.ravel() / mu, f)
    mus = jnp.full(etas.shape, mu, f)
    x = jnp.full(etas.shape, x0, f)
    if burn:
        x = gd.iterate_batched(_QuarticStep(), x, burn, args=(etas, mus), batch_args=True).final
    run = gd.iterate_batched(_LogDerivativeStep(), (x, jnp.zeros_like(x)), num_steps, args=(etas, mus),
                             batch_args=True)
    return (np.asarray(run.final[1], dtype=float) / num_steps).reshape(Ks.shape)
