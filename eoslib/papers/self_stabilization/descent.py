"""The descent lemma (Lemma 1) and its test losses.

Lemma 1: if ``S(theta) <= ell`` everywhere, one GD step satisfies

    L(theta - eta grad L) <= L(theta) - eta (2 - eta ell) / 2 ||grad L||^2,

so the loss decreases for ``eta < 2/ell``. The bound is attained by a quadratic along its top
eigenvector, and for ``eta > 2/ell`` a quadratic diverges along that eigenvector by the factor
``|1 - eta ell|`` per step.

References:
  Damian, Nichani, Lee (2023), Lemma 1; Y. Nesterov, "Introductory Lectures on Convex
  Optimization", 2004, Lemma 1.2.3.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from eoslib.validation import integer as _int, positive as _pos

__all__ = ["descent_slack", "QuadraticLoss", "LogCoshLoss"]


def descent_slack(f: Callable[[Array], Array], thetas: Array, eta: float, ell: float) -> np.ndarray:
    """``bound - L(theta_1)`` for one GD step from each row of ``thetas`` (``>= 0`` by Lemma 1).

    Args:
      f: scalar loss of a ``(d,)`` vector.
      thetas: ``(n, d)`` starting points.
      eta: step size, in (0, inf).
      ell: global bound on the sharpness, in (0, inf).

    Returns:
      ``(n,)`` slacks ``L(theta) - eta (2 - eta ell)/2 ||grad L||^2 - L(theta - eta grad L)``.
    """
    eta, ell = _pos("eta", eta), _pos("ell", ell)

    def one(th):
        loss, g = jax.value_and_grad(f)(th)
        nxt = f(th - eta * g)
        return loss - eta * (2.0 - eta * ell) / 2.0 * jnp.vdot(g, g) - nxt

    return np.asarray(jax.vmap(one)(jnp.asarray(thetas)))


class QuadraticLoss:
    """``L(theta) = theta^T H theta / 2`` with a random positive definite ``H`` (hashable).

    Args:
      seed: integer seed.
      d: dimension, in [2, inf).
    """

    def __init__(self, seed: int, d: int = 10):
        self.seed, self.d = _int("seed", seed, 0), _int("d", d, 2)
        rng = np.random.default_rng(self.seed)
        M = rng.standard_normal((self.d, self.d))
        self.H = M @ M.T / self.d + 0.1 * np.eye(self.d)
        w, V = np.linalg.eigh(self.H)
        self.ell, self.top = float(w[-1]), V[:, -1]

    def __call__(self, theta: Array) -> Array:
        return 0.5 * theta @ (jnp.asarray(self.H, theta.dtype) @ theta)

    def __hash__(self):
        return hash((type(self), self.seed, self.d))

    def __eq__(self, other):
        return type(other) is type(self) and (other.seed, other.d) == (self.seed, self.d)


class LogCoshLoss:
    """``L(theta) = sum_i log cosh(a_i . theta - b_i)``: non-quadratic, ``S <= ell = lambda_max(A^T A)``.

    The Hessian ``sum_i sech^2(.) a_i a_i^T`` is bounded by ``A^T A``, so Lemma 1 applies with
    ``ell = lambda_max(A^T A)``.

    Args:
      seed: integer seed.
      d: dimension, in [2, inf).
      n: number of terms, in [1, inf).
    """

    def __init__(self, seed: int, d: int = 10, n: int = 20):
        self.seed, self.d, self.n = _int("seed", seed, 0), _int("d", d, 2), _int("n", n, 1)
        rng = np.random.default_rng(self.seed)
        self.A = rng.standard_normal((self.n, self.d)) / np.sqrt(self.d)
        self.b = rng.standard_normal(self.n)
        self.ell = float(np.linalg.eigvalsh(self.A.T @ self.A)[-1])

    def __call__(self, theta: Array) -> Array:
        z = jnp.asarray(self.A, theta.dtype) @ theta - jnp.asarray(self.b, theta.dtype)
        # log cosh z = |z| + log1p(exp(-2|z|)) - log 2, stable for large |z|
        az = jnp.abs(z)
        return jnp.sum(az + jnp.log1p(jnp.exp(-2.0 * az)) - jnp.log(2.0))

    def __hash__(self):
        return hash((type(self), self.seed, self.d, self.n))

    def __eq__(self, other):
        return type(other) is type(self) and (other.seed, other.d, other.n) == (self.seed, self.d, self.n)
