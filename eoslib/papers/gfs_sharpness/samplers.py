"""Random scalar networks for the checks of Theorem 3.2 and Lemmas 3.7-3.14.

A sample is built from its GF solution: a random *GFS shape* ``z`` (positive, product 1,
so ``phi = sum_i z_i^{-2}``), a product ``pi0`` that places the point on the class curve of
``z``, a random sign pattern with ``pi > 0``, and a step size given by the ratio
``r = eta phi / 2`` (``r > 1``: the GFS is beyond the edge of stability). Points are grouped
by depth ``D`` because arrays of different ``D`` do not stack.

References:
  Kreisler et al., ICML 2023, Sections 3.2-3.5 and Appendices F-G.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax.numpy as jnp
import numpy as np

from eoslib.validation import integer as _integer, real as _real

from . import scalar as sc
from .invariant import invariant_set_test

__all__ = [
    "Sample",
    "gfs_shapes",
    "random_signs",
    "sample_points",
    "sample_invariant",
    "sample_gpgd_contraction",
    "doubly_stochastic",
    "log_majorized_pair",
    "less_unbalanced_pair",
]


class Sample(NamedTuple):
    """Points of one depth.

    Attributes:
      depth: ``D``.
      w: weights ``(N, D)``.
      eta: step sizes ``(N,)``.
      B: the bound ``B = pi_under`` of Definition 3.1 for points of ``S`` (NaN otherwise).
    """

    depth: int
    w: np.ndarray
    eta: np.ndarray
    B: np.ndarray


def _range(name: str, pair: Sequence[float], lo: float = 0.0) -> tuple[float, float]:
    a, b = (float(v) for v in pair)
    _real(f"{name}[0]", a, lo, np.inf, lo_open=False)
    _real(f"{name}[1]", b, a, np.inf, lo_open=False)
    return a, b


def gfs_shapes(rng: np.random.Generator, n: int, depth: int, spread: tuple[float, float] = (0.2, 1.0)) -> np.ndarray:
    """``n`` random positive vectors of product 1: ``exp(sigma (g - mean g))``, ``g ~ N(0, I)``.

    Args:
      rng: NumPy generator.
      n: number of shapes, in ``[1, inf)``.
      depth: ``D`` in ``[2, 64]``.
      spread: range of ``sigma`` (drawn uniformly per shape), ``0 <= lo <= hi``.
    """
    n = _integer("n", n, 1)
    depth = _integer("depth", depth, 2, 64)
    s0, s1 = _range("spread", spread)
    g = rng.standard_normal((n, depth))
    g -= g.mean(axis=1, keepdims=True)
    return np.exp(rng.uniform(s0, s1, (n, 1)) * g)


def random_signs(rng: np.random.Generator, n: int, depth: int) -> np.ndarray:
    """``(n, D)`` sign patterns with an even number of minus signs (so ``pi > 0``)."""
    s = rng.choice([-1.0, 1.0], size=(n, depth))
    s[:, 0] *= np.prod(s, axis=1)  # fix the parity on the first coordinate
    return s


def sample_points(rng: np.random.Generator, n: int, depth: int, *, pi_range=(0.2, 1.6),
                  ratio_range=(1.02, 1.4), spread=(0.2, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points with ``pi0 ~ U(pi_range)`` and ``eta`` set by ``eta phi / 2 ~ U(ratio_range)``.

    Returns:
      ``(w, eta)`` of shapes ``(n, D)`` and ``(n,)``.
    """
    p0, p1 = _range("pi_range", pi_range)
    r0, r1 = _range("ratio_range", ratio_range)
    z = gfs_shapes(rng, n, depth, spread)
    pi0 = rng.uniform(p0, p1, n)
    w = np.asarray(sc.class_point(jnp.asarray(z), jnp.asarray(pi0)))
    w = w * random_signs(rng, n, depth)
    phi = np.sum(z**-2.0, axis=1)
    eta = 2.0 * rng.uniform(r0, r1, n) / phi
    return w, eta


def sample_invariant(rng: np.random.Generator, n: int, *, depths: Sequence[int] = (2, 3, 4, 5, 6),
                     pi_range=(0.2, 1.6), ratio_range=(1.02, 1.4), spread=(0.2, 1.0),
                     inside: bool = True, num_grid: int = 1000, max_rounds: int = 50) -> list[Sample]:
    """About ``n`` points in (``inside=True``) or outside the invariant set, spread over ``depths``.

    Candidates come from :func:`sample_points` and are kept when the membership test of
    Appendix I agrees with ``inside``.

    Args:
      rng: NumPy generator.
      n: total number of points wanted, in ``[1, inf)`` (split evenly over the depths).
      depths: depths ``D >= 2``.
      pi_range, ratio_range, spread: as in :func:`sample_points`.
      inside: keep members of ``S`` (True) or non-members (False).
      num_grid: grid of the membership test.
      max_rounds: rounds of candidates per depth before giving up, in ``[1, inf)``.

    Returns:
      One :class:`Sample` per depth.

    Raises:
      RuntimeError: too few candidates were accepted in ``max_rounds`` rounds.
    """
    n = _integer("n", n, 1)
    per = -(-n // len(depths))
    out = []
    for depth in depths:
        ws, etas, bs, have = [], [], [], 0
        for _ in range(_integer("max_rounds", max_rounds, 1)):
            w, eta = sample_points(rng, 2 * per, depth, pi_range=pi_range,
                                   ratio_range=ratio_range, spread=spread)
            m = invariant_set_test(jnp.asarray(w), jnp.asarray(eta), num_grid=num_grid)
            keep = np.asarray(m.member) == inside
            ws.append(w[keep])
            etas.append(eta[keep])
            bs.append(np.where(np.asarray(m.member), np.asarray(m.pi_under), np.nan)[keep])
            have += int(keep.sum())
            if have >= per:
                break
        if have < per:
            raise RuntimeError(f"only {have} of {per} points accepted at D={depth}")
        out.append(Sample(depth, np.concatenate(ws)[:per], np.concatenate(etas)[:per],
                          np.concatenate(bs)[:per]))
    return out


def sample_gpgd_contraction(rng: np.random.Generator, n: int, depth: int, *, delta_range=(0.05, 0.9),
                            c: float = 0.1, spread=(0.2, 1.0)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points with ``phi = (2 - delta) / eta`` and ``|pi - 1| <= c delta`` (Lemma 3.13's setting).

    Returns:
      ``(w, eta, delta)`` of shapes ``(n, D)``, ``(n,)``, ``(n,)``.
    """
    d0, d1 = _range("delta_range", delta_range)
    if not d1 < 2.0:
        raise ValueError(f"delta_range must lie in [0, 2), got {delta_range!r}")
    c = _real("c", c, 0.0, 1.0)
    z = gfs_shapes(rng, n, depth, spread)
    delta = rng.uniform(d0, d1, n)
    phi = np.sum(z**-2.0, axis=1)
    eta = (2.0 - delta) / phi
    pi0 = 1.0 + c * delta * rng.uniform(-1.0, 1.0, n)
    w = np.asarray(sc.class_point(jnp.asarray(z), jnp.asarray(pi0)))
    return w * random_signs(rng, n, depth), eta, delta


def doubly_stochastic(rng: np.random.Generator, depth: int, num_permutations: int = 4) -> np.ndarray:
    """A random doubly stochastic ``D x D`` matrix: a convex combination of permutation matrices."""
    k = _integer("num_permutations", num_permutations, 1)
    weights = rng.dirichlet(np.ones(k))
    eye = np.eye(depth)
    return sum(wt * eye[rng.permutation(depth)] for wt in weights)


def log_majorized_pair(rng: np.random.Generator, n: int, depth: int, *, spread=(0.2, 1.5)) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs ``x <_log y`` of positive vectors: ``log x = P log y`` with ``P`` doubly stochastic.

    ``y`` is ``exp(sigma g)`` (its product is free, unlike :func:`gfs_shapes`).

    Returns:
      ``(x, y)``, each ``(n, D)``.
    """
    s0, s1 = _range("spread", spread)
    y = np.exp(rng.uniform(s0, s1, (n, 1)) * rng.standard_normal((n, depth)))
    x = np.stack([np.exp(doubly_stochastic(rng, depth) @ np.log(yi)) for yi in y])
    return x, y


def less_unbalanced_pair(rng: np.random.Generator, n: int, depth: int, *, shrink=(0.0, 1.0),
                         spread=(0.2, 1.5)) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs ``x <=_b y`` with ``pi(x) = pi(y)`` (Lemma 3.7's hypothesis).

    The sorted-square gaps of ``y`` are multiplied by factors ``~ U(shrink)``; the result is
    moved along its own GF class to the product of ``y``. With ``shrink`` reaching above 1
    some gaps grow and ``x <=_b y`` can fail (a negative control).

    Returns:
      ``(x, y)``, each ``(n, D)``, positive.
    """
    f0, f1 = _range("shrink", shrink)
    s0, s1 = _range("spread", spread)
    y = np.exp(rng.uniform(s0, s1, (n, 1)) * rng.standard_normal((n, depth)))
    y2 = -np.sort(-y * y, axis=1)  # descending squares
    gaps = (y2[:, :-1] - y2[:, 1:]) * rng.uniform(f0, f1, (n, depth - 1))
    x2 = y2[:, -1:] + np.concatenate([np.cumsum(gaps[:, ::-1], axis=1)[:, ::-1], np.zeros((n, 1))], axis=1)
    x = np.asarray(sc.class_point(jnp.asarray(np.sqrt(x2)), jnp.asarray(np.prod(y, axis=1))))
    return x, y
