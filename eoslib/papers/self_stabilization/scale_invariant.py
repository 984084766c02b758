"""Scale-invariant losses with weight decay (Appendix H: Lemma 6 and Lemmas 7-11).

For ``f(c theta) = f(theta)`` (``c > 0``) and ``L(theta) = f(theta) + lam ||theta||^2 / 2``,
with ``theta_bar = theta / ||theta||`` and ``S_f`` the sharpness of ``f``:

* Lemma 7: ``grad f(theta) = P_theta^perp grad f(theta_bar) / ||theta||`` and, at critical
  points of ``f``, ``nabla^2 f(theta) = nabla^2 f(theta_bar) / ||theta||^2`` (Corollary 2);
  there ``u(theta) perp theta`` and ``grad L = lam theta`` (Corollary 3).
* Lemma 8: ``grad S(theta) = P_theta^perp grad S_f(theta_bar) / ||theta||^3
  - 2 (S(theta) - lam) theta_bar / ||theta||`` (the factor 2 comes from
  ``grad ||theta||^{-2}``; our reading, the print drops it).
* Lemma 10: at a stationary point of ``f``, ``alpha = 2 lam (S - lam)`` (factor 2 as above).
* Lemma 11: ``alpha / (||grad L|| ||grad S||) = (1 + ||P^perp grad S_f(theta_bar)||^2 /
  (4 S_f(theta_bar)^2))^{-1/2}``, independent of the scale.
* Lemma 9: on ``{S <= 4/eta}``, ``rho_3 = Theta(eta^{-3/2})`` and ``rho_4 = Theta(eta^{-2})``, so
  ``rho_4 = O(eta rho_3^2)``.

The test loss is ``f(theta) = ||tanh(A theta_bar) - b||^2 / 2`` on ``R^d``.

References:
  Damian, Nichani, Lee (2023), Appendix H (Lemmas 6-11, Corollaries 2-3).
  K. Lyu, Z. Li, S. Arora, "Understanding the Generalization Benefit of Normalization Layers:
  Sharpness Reduction", NeurIPS 2022.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from scipy.optimize import minimize

from eoslib import curvature
from eoslib.validation import integer as _int, positive as _pos

__all__ = ["TanhSphereLoss", "WeightDecayed", "critical_point", "scale_to_edge",
           "lemma8_grad_S", "lemma10_alpha", "lemma11_ratio", "sphere_sharpness"]


class TanhSphereLoss:
    """``f(theta) = ||tanh(A theta / ||theta||) - b||^2 / 2``: scale invariant, smooth off 0.

    Args:
      seed: integer seed.
      d: dimension, in [2, inf).
      m: number of outputs, in [1, inf).
    """

    def __init__(self, seed: int, d: int = 6, m: int = 8):
        self.seed, self.d, self.m = _int("seed", seed, 0), _int("d", d, 2), _int("m", m, 1)
        rng = np.random.default_rng(self.seed)
        self.A = rng.standard_normal((self.m, self.d))
        w = rng.standard_normal(self.d)
        self.b = np.tanh(self.A @ (w / np.linalg.norm(w))) + 0.1 * rng.standard_normal(self.m)

    def __call__(self, theta: Array) -> Array:
        bar = theta / jnp.linalg.norm(theta)
        r = jnp.tanh(jnp.asarray(self.A, theta.dtype) @ bar) - jnp.asarray(self.b, theta.dtype)
        return 0.5 * r @ r

    def __hash__(self):
        return hash((type(self), self.seed, self.d, self.m))

    def __eq__(self, other):
        return type(other) is type(self) and (other.seed, other.d, other.m) == (self.seed, self.d, self.m)


class WeightDecayed:
    """``L(theta) = f(theta) + lam ||theta||^2 / 2`` (hashable when ``f`` is).

    Args:
      f: scale-invariant loss.
      lam: weight decay, in (0, inf).
    """

    def __init__(self, f, lam: float):
        self.f, self.lam = f, _pos("lam", lam)

    def __call__(self, theta: Array) -> Array:
        return self.f(theta) + 0.5 * self.lam * theta @ theta

    def __hash__(self):
        return hash((type(self), self.f, self.lam))

    def __eq__(self, other):
        return type(other) is type(self) and other.f == self.f and other.lam == self.lam


def critical_point(f, seed: int = 0, *, gtol: float = 1e-13) -> np.ndarray:
    """A local minimiser ``theta_bar`` of ``f`` on the unit sphere (a second-order stationary point).

    BFGS on ``w -> f(w)`` (scale invariance makes the radial direction flat), then Newton
    polishing in the tangent space until ``||grad f(theta_bar)|| <= gtol``.

    Returns:
      unit vector ``(d,)``.
    """
    g = jax.jit(jax.value_and_grad(f))
    w0 = np.random.default_rng(seed + 1).standard_normal(f.d)

    def fun(w):
        v, gr = g(jnp.asarray(w))
        return float(v), np.asarray(gr)

    res = minimize(fun, w0 / np.linalg.norm(w0), jac=True, method="BFGS",
                   options={"gtol": 1e-12, "maxiter": 10000})
    w = res.x / np.linalg.norm(res.x)
    hess = jax.jit(partial(curvature.hessian, f))
    for _ in range(20):
        _, gr = fun(w)
        if np.linalg.norm(gr) <= gtol:
            break
        H = np.asarray(hess(jnp.asarray(w)))
        P = np.eye(f.d) - np.outer(w, w)
        step = np.linalg.lstsq(P @ H @ P, -P @ gr, rcond=None)[0]
        w = w + P @ step
        w = w / np.linalg.norm(w)
    return w


def sphere_sharpness(f, theta_bar: Array) -> float:
    """``S_f(theta_bar)``, the top Hessian eigenvalue of ``f`` at a unit vector (dense)."""
    return float(curvature.sharpness(f, jnp.asarray(theta_bar)))


def scale_to_edge(f, theta_bar: Array, lam: float, eta: float) -> np.ndarray:
    """``theta = r theta_bar`` with ``S(theta) = S_f(theta_bar) / r^2 + lam = 2 / eta``.

    Raises:
      ValueError: if ``2 / eta <= lam`` or ``S_f(theta_bar) <= 0``.
    """
    lam, eta = _pos("lam", lam), _pos("eta", eta)
    sf = sphere_sharpness(f, theta_bar)
    if not (sf > 0 and 2.0 / eta > lam):
        raise ValueError(f"need S_f(theta_bar) > 0 and 2/eta > lam, got S_f={sf}, 2/eta={2 / eta}")
    return np.sqrt(sf / (2.0 / eta - lam)) * np.asarray(theta_bar)


def lemma8_grad_S(f, theta: Array, lam: float) -> Array:
    """Lemma 8's closed form of ``grad S(theta)`` (with the factor 2)."""
    return _lemma8(f, jnp.asarray(theta), lam)


@partial(jax.jit, static_argnames=("f",))
def _lemma8(f, theta, lam):
    r = jnp.linalg.norm(theta)
    bar = theta / r
    q = curvature.hessian(f, bar)
    w, V = jnp.linalg.eigh(0.5 * (q + q.T))
    u = V[:, -1]
    gsf = curvature.third_derivative_vv(f, bar, u)
    S = w[-1] / r**2 + lam
    return (gsf - bar * (bar @ gsf)) / r**3 - 2.0 * (S - lam) * bar / r


def lemma10_alpha(S: float, lam: float, factor: float = 2.0) -> float:
    """``alpha = factor lam (S - lam)``; ``factor = 2`` is Lemma 10 as derived (1: the garbled print)."""
    return factor * lam * (S - lam)


def lemma11_ratio(f, theta_bar: Array) -> float:
    """``(1 + ||P^perp grad S_f(theta_bar)||^2 / (4 S_f(theta_bar)^2))^{-1/2}``."""
    bar = jnp.asarray(theta_bar)
    q = curvature.hessian(f, bar)
    w, V = jnp.linalg.eigh(0.5 * (q + q.T))
    gsf = curvature.third_derivative_vv(f, bar, V[:, -1])
    gp = gsf - bar * (bar @ gsf)
    return float(1.0 / jnp.sqrt(1.0 + (gp @ gp) / (4.0 * w[-1] ** 2)))
