"""Chen & Bruna (2023), the 2-D function 1/2 (xy - mu)^2: balancing (Theorem 3, Lemma 2, Proposition 3).

GD on ``f(x, y) = 1/2 (xy - mu)^2`` is ``x+ = x - eta y r``, ``y+ = y - eta x r`` with
``r = xy - mu`` (Eq. 13). On ``x = y`` it is the 1-D GD of Theorem 2; off it, the imbalance
``x - y`` is multiplied by ``1 + eta r`` every step, and Theorem 3 says it decays along the steps
with ``xy > mu``. :func:`balancing_stats` runs thousands of runs at once (through
:func:`eoslib.gd.iterate_batched`) and counts every event the theorem speaks about.

References:
  L. Chen and J. Bruna, "Beyond the Edge of Stability via Two-step Gradient Updates",
  ICML 2023, arXiv:2206.04172: Section 4.2 (Eqs. 13-16), Theorem 3, Lemma 2, Proposition 3,
  App. H.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from eoslib import gd
from eoslib.validation import default_float as _float, integer as _int, real as _real, reals as _reals

__all__ = [
    "Product2D",
    "product_2d",
    "Product2DMap",
    "product_2d_map",
    "imbalance_rate",
    "init_from_product_imbalance",
    "BalancingStats",
    "balancing_stats",
]


@dataclass(frozen=True)
class Product2D:
    """f(theta) = 1/2 (theta_0 theta_1 - mu)^2 on a 2-vector (x, y) (Sec. 4.2)."""

    mu: float

    def __call__(self, theta):
        return 0.5 * (theta[0] * theta[1] - self.mu) ** 2


def product_2d(mu: float = 1.0) -> Product2D:
    """The 2-D function 1/2 (xy - mu)^2 as a hashable objective of a (2,) array.

    Args:
      mu: target in (0, inf).

    Returns:
      :class:`Product2D`. On x = y its GD is the 1-D GD of Theorem 2 with the same mu.

    References:
      Chen & Bruna (2023), Sec. 4.2, Eqs. 13-16.
    """
    return Product2D(_real("mu", mu, 0.0))


@dataclass(frozen=True)
class Product2DMap:
    """``eta -> F_eta`` for GD on 1/2 (xy - mu)^2 over a (2,) array (traceable in eta; for :mod:`eoslib.orbits`)."""

    mu: float

    def __call__(self, eta):
        mu = self.mu

        def step(theta):
            r = theta[0] * theta[1] - mu
            return jnp.stack([theta[0] - eta * theta[1] * r, theta[1] - eta * theta[0] * r])

        return step


def product_2d_map(mu: float = 1.0) -> Product2DMap:
    """The map factory ``eta -> ((x, y) -> (x - eta y r, y - eta x r))``, r = xy - mu (Eq. 13).

    Args:
      mu: target in (0, inf).

    Returns:
      A hashable :class:`Product2DMap` (compiled orbit kernels are cached per mu).

    References:
      Chen & Bruna (2023), Eq. 13.
    """
    return Product2DMap(_real("mu", mu, 0.0))


def imbalance_rate(K):
    """Asymptotic two-step factor of x - y near the balanced orbit: 3 - 2K.

    Args:
      K: eta mu, each in (1, inf) (the orbit exists for K > 1).

    Returns:
      (1 + K(delta_1^2 - 1)) (1 + K(delta_2^2 - 1)) = 3 - 2K: in (0, 1) exactly for
      K in (1, 3/2), Theorem 3's range.

    References:
      Chen & Bruna (2023), Theorem 3 (the rate is derived here).
    """
    k = _reals("K", K, 1.0)
    out = 3 - 2 * k
    return float(out) if out.ndim == 0 else out


def init_from_product_imbalance(product, imbalance) -> tuple[np.ndarray, np.ndarray]:
    """(x0, y0) with x0 y0 = product, x0 - y0 = imbalance, both positive.

    Args:
      product: x0 y0, in (0, inf); imbalance: x0 - y0, real (arrays broadcast).

    Returns:
      ``(x0, y0)``.

    References:
      Chen & Bruna (2023), Lemma 2 (the bound is stated in these two quantities).
    """
    p = _reals("product", product, 0.0)
    d = np.asarray(imbalance, dtype=float)
    if not np.all(np.isfinite(d)):
        raise ValueError("imbalance must be finite real number(s)")
    x = 0.5 * (d + np.sqrt(d * d + 4 * p))
    return x, x - d


class BalancingStats(NamedTuple):
    """Per-run statistics of GD on 1/2 (xy - mu)^2 (see :func:`balancing_stats`).

    Attributes:
      positive: x_t, y_t > 0 at every step (Theorem 3's assumption).
      p_visits: number of steps t in P = {t : x_t y_t > mu} (while |x - y| > floor).
      p_violations: successive visits t1 < t2 of P with |x - y|_{t2} >= |x - y|_{t1}.
      off_p_increases: steps t not in P with |x - y|_{t+1} > |x - y|_t (Eq. 54 says none).
      eq66_violations: steps in P, while the run is still positive, with
        eta (xy - mu) >= min(x/y, y/x) (Eq. 66: exactly the steps after which x or y is <= 0).
      final_imbalance: |x_T - y_T|.
      final_x, final_y: the last iterate.
      t_below: first t with |x_t - y_t| < threshold (-1: never).
      late_ratio: |x - y|_t / |x - y|_{t-2} at the last t where both exceed floor (NaN: never).
      diverged: the run overflowed (frozen at its last finite iterate from then on).
      diverged_at: the first non-finite step (-1: never), as in :mod:`eoslib.gd`.
    """

    positive: np.ndarray
    p_visits: np.ndarray
    p_violations: np.ndarray
    off_p_increases: np.ndarray
    eq66_violations: np.ndarray
    final_imbalance: np.ndarray
    final_x: np.ndarray
    final_y: np.ndarray
    t_below: np.ndarray
    late_ratio: np.ndarray
    diverged: np.ndarray
    diverged_at: np.ndarray


@dataclass(frozen=True)
class _BalancingStep:
    """One GD step on 1/2 (xy - mu)^2 that also updates Theorem 3's counters.

    The state is a dict of float arrays (:func:`eoslib.gd.iterate` keeps one float dtype for
    every leaf): counters are exact integers in float64, flags are 0.0 / 1.0.
    """

    def __call__(self, c, mu, eta, floor, threshold):
        x, y, t = c["x"], c["y"], c["t"]
        pos, seen_p, has_ratio = c["pos"] > 0.5, c["seen_p"] > 0.5, c["has_ratio"] > 0.5
        d = jnp.abs(x - y)
        r = x * y - mu
        active = pos & (d > floor)
        in_p = r > 0
        xn, yn = x - eta * y * r, y - eta * x * r
        dn = jnp.abs(xn - yn)
        # strict decrease along P: compare with the previous visit of P
        p_now = active & in_p
        viol = p_now & seen_p & (d >= c["last_p"])
        offinc = active & ~in_p & (dn > d)
        # Eq. 66 is the exact one-step positivity condition, so it is counted on every step
        # of P while the run is positive (no imbalance floor).
        e66 = pos & in_p & (eta * r >= jnp.minimum(x / y, y / x))
        pos_n = pos & (xn > 0) & (yn > 0)
        t_below = jnp.where((c["t_below"] < 0) & (dn < threshold), t + 1, c["t_below"])
        # two-step ratio, kept at the last step where both imbalances exceed the floor
        # (d2 < 0: no iterate two steps back yet)
        ok = (dn > floor) & (c["d2"] > floor)

        def flag(b):
            return jnp.where(b, 1.0, 0.0)

        return dict(x=xn, y=yn, t=t + 1, pos=flag(pos_n), seen_p=flag(seen_p | p_now),
                    last_p=jnp.where(p_now, d, c["last_p"]),
                    visits=c["visits"] + flag(p_now), pviol=c["pviol"] + flag(viol),
                    offinc=c["offinc"] + flag(offinc), e66=c["e66"] + flag(e66),
                    t_below=t_below, d1=dn, d2=c["d1"],
                    ratio=jnp.where(ok, dn / jnp.where(ok, c["d2"], 1.0), c["ratio"]),
                    has_ratio=flag(has_ratio | ok))


def balancing_stats(mu, K, x0, y0, num_steps: int, *, floor: float = 1e-9,
                    threshold: float = 1e-8) -> BalancingStats:
    """Run GD on 1/2 (xy - mu)^2 for many runs at once and collect Theorem 3's statistics.

    One :func:`eoslib.gd.iterate_batched` call (jit + ``lax.scan``, vmapped over runs); no
    trajectory is stored, so thousands of long runs fit in memory. A run diverges when an
    iterate overflows to a non-finite value; its counters stop there.

    Args:
      mu: target(s) in (0, inf); K: eta mu, real(s) in (0, 2); x0, y0: starting points (finite);
        all four broadcast to a common 1-D shape.
      num_steps: GD steps, an integer >= 1.
      floor: imbalance below which the monotonicity counters stop (round-off of x - y is
        ~1e-16 |x|, so below ~1e-12 relative comparisons are noise), in (0, inf).
      threshold: imbalance level for ``t_below``, in (0, inf).

    Returns:
      :class:`BalancingStats` with one entry per run.

    References:
      Chen & Bruna (2023), Theorem 3 (strict decrease along P, Eq. 54), Lemma 2 (Eq. 66).
    """
    num_steps = _int("num_steps", num_steps, 1)
    floor = _real("floor", floor, 0.0)
    threshold = _real("threshold", threshold, 0.0)
    mu = _reals("mu", mu, 0.0)
    K = _reals("K", K, 0.0, 2.0)
    x0, y0 = np.asarray(x0, dtype=float), np.asarray(y0, dtype=float)
    if not (np.all(np.isfinite(x0)) and np.all(np.isfinite(y0))):
        raise ValueError("x0 and y0 must be finite")
    mu, K, x0, y0 = (np.ravel(a) for a in np.broadcast_arrays(mu, K, x0, y0))
    f = _float()
    n = x0.size
    zero = jnp.zeros(n, f)
    xj, yj = jnp.asarray(x0, f), jnp.asarray(y0, f)
    state = dict(x=xj, y=yj, t=zero, pos=jnp.where((xj > 0) & (yj > 0), 1.0, 0.0), seen_p=zero,
                 last_p=zero, visits=zero, pviol=zero, offinc=zero, e66=zero,
                 t_below=jnp.where(jnp.abs(xj - yj) < threshold, 0.0, -1.0),
                 d1=jnp.abs(xj - yj), d2=zero - 1.0, ratio=zero, has_ratio=zero)
    mu_j = jnp.asarray(mu, f)
    run = gd.iterate_batched(_BalancingStep(), state, num_steps,
                             args=(mu_j, jnp.asarray(K, f) / mu_j, jnp.full(n, floor, f), jnp.full(n, threshold, f)),
                             batch_args=True)
    c = {k: np.asarray(v) for k, v in run.final.items()}
    div = np.asarray(run.diverged_at)
    count = {k: c[k].astype(np.int64) for k in ("visits", "pviol", "offinc", "e66", "t_below")}
    return BalancingStats(c["pos"] > 0.5, count["visits"], count["pviol"], count["offinc"], count["e66"],
                          np.abs(c["x"] - c["y"]), c["x"], c["y"], count["t_below"],
                          np.where(c["has_ratio"] > 0.5, c["ratio"], np.nan), div >= 0, div)
