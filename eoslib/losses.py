"""Scalar losses l(z) of the model output z, their derivatives, and product-stability.

Every loss is a :class:`ScalarLoss`: a plain JAX-traceable function of one scalar together
with its minimiser ``z_star`` and a LaTeX label. Derivatives are taken by nested
``jax.grad``, so any differentiable ``Callable[[Array], Array]`` works with
:func:`derivatives` and :func:`product_stability`, not only the losses defined here.

References:
  E. Gan, "Product-Stability", arXiv:2604.02653 (2026), Def. 4.1 and Table 1.
  L. Chen and J. Bruna, "Beyond the Edge of Stability via Two-step Gradient Updates",
  ICML 2023, arXiv:2206.04172 (stability number 3 f'''^2 - f'' f'''').
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .validation import integer as _check_int, positive as _check_pos, real as _check_real

__all__ = [
    "ScalarLoss",
    "squared",
    "soft_bce",
    "multilayer_squared",
    "log_cosh",
    "sqrt_one_plus_sq",
    "quartic_negative_control",
    "derivatives",
    "product_stability",
    "TABLE_1",
]


@dataclass(frozen=True)
class ScalarLoss:
    """A scalar loss l: R -> R with a known local minimiser.

    Attributes:
      name: short identifier, e.g. ``"bce_y0.2"``.
      fn: JAX-traceable function of a scalar array, returning a scalar array.
      z_star: the local minimum of interest (l'(z_star) = 0, l''(z_star) > 0).
      latex: LaTeX formula of the loss, for plot labels and tables.
    """

    name: str
    fn: Callable[[Float[Array, "*shape"]], Float[Array, "*shape"]]
    z_star: float
    latex: str

    def __call__(self, z: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        return self.fn(z)


# Derivative chain of the logistic losses, built for speed of GD and accuracy of l'' etc.:
#
#   softplus'(z) = sigmoid_fast(z) = 1/2 + 1/2 tanh(z/2)     (what a GD step evaluates)
#   sigmoid_fast'(z) = s(z) s(-z),  with s the exp-based logistic function,
#   s'(z) = s(z) s(-z)  again, so every higher derivative is a polynomial in s(z), s(-z).
#
# Why: on XLA:CPU one f64 tanh costs less than exp + divide, and GD on BCE spends most of
# its time there (benchmarks/bench_lr_sweep.py). The tanh form is accurate to ~1e-16
# *absolutely*, all that l'(z) = s(z) - y needs, but not relatively in the far left tail
# (s(z) < 1e-16); from the second derivative on we switch to s(z) s(-z), relatively
# accurate in both tails (unlike jax.nn.sigmoid's own rule s (1 - s)) and overflow-free.


@jax.custom_jvp
def _logistic(z: Array) -> Array:
    return jax.nn.sigmoid(z)


@_logistic.defjvp
def _logistic_jvp(primals, tangents):
    (z,), (t,) = primals, tangents
    s = _logistic(z)
    return s, s * _logistic(-z) * t


@jax.custom_jvp
def _sigmoid_fast(z: Array) -> Array:
    return 0.5 + 0.5 * jnp.tanh(0.5 * z)


@_sigmoid_fast.defjvp
def _sigmoid_fast_jvp(primals, tangents):
    (z,), (t,) = primals, tangents
    return _sigmoid_fast(z), _logistic(z) * _logistic(-z) * t


@jax.custom_jvp
def _softplus(z: Array) -> Array:
    return jnp.logaddexp(z, jnp.zeros_like(z))


@_softplus.defjvp
def _softplus_jvp(primals, tangents):
    (z,), (t,) = primals, tangents
    return _softplus(z), _sigmoid_fast(z) * t


# The loss functions are module-level functions or frozen dataclasses (equal when their
# parameters are equal), so two calls such as soft_bce(0.2) give equal, equally hashed
# ScalarLoss objects and jit caches keyed on the loss are reused.


def _squared(z: Array) -> Array:
    return 0.5 * (z - 1.0) ** 2


def squared() -> ScalarLoss:
    """Squared loss l(z) = 1/2 (z - 1)^2 with z* = 1 (product-stability 0)."""
    return ScalarLoss("squared", _squared, 1.0, r"\tfrac12 (z-1)^2")


@dataclass(frozen=True)
class _SoftBCE:
    y: float

    def __call__(self, z: Array) -> Array:
        return _softplus(z) - self.y * z


@dataclass(frozen=True)
class _Multilayer:
    n: int
    c: float

    def __call__(self, z: Array) -> Array:
        return self.c * (z**self.n - 1.0) ** 2


def soft_bce(y: float) -> ScalarLoss:
    """Binary cross-entropy with soft label y on the logit z.

    l(z) = -y log sigma(z) - (1-y) log(1 - sigma(z)) = softplus(z) - y z, evaluated in the
    softplus form so that it is finite and accurate for every finite z.

    Args:
      y: soft label, in the open interval (0, 1).

    Returns:
      The loss, with z* = log(y / (1 - y)).

    References:
      Gan (2026), Table 1 and Lemma 6.1: alpha = 2 q^2 (1 - 3 q) with q = y (1 - y).
    """
    y = _check_real("y", y, 0.0, 1.0)
    return ScalarLoss(
        f"bce_y{y:g}",
        _SoftBCE(y),
        math.log(y / (1.0 - y)),
        rf"-{y:g}\log\sigma(z)-{1.0 - y:g}\log(1-\sigma(z))",
    )


def multilayer_squared(n: int, c: float = 0.25) -> ScalarLoss:
    """Multilayer squared loss l_n(z) = c (z^n - 1)^2 with z* = 1.

    Args:
      n: depth exponent, an integer >= 1 (n = 1 is the squared loss, n = 2 is
        Zhu et al.'s 1/4 (x^2 y^2 - 1)^2 along the diagonal).
      c: positive normalisation; 1/4 reproduces Table 1 of Gan (2026).

    Returns:
      The loss; its product-stability at z* is 16 c^2 n^4 (n - 1)(5 n - 4).
    """
    n = _check_int("n", n, 1)
    c = _check_pos("c", c)
    return ScalarLoss(f"l_{n}", _Multilayer(n, c), 1.0, rf"{c:g}\,(z^{n}-1)^2")


def _log_cosh(z: Array) -> Array:
    # z + softplus(-2z) - log 2 is smooth (no |z|, whose autodiff kills l'' at 0) and
    # does not overflow for large |z|, unlike log(cosh(z)).
    return z + _softplus(-2.0 * z) - math.log(2.0)


def log_cosh() -> ScalarLoss:
    """l(z) = log cosh z with z* = 0 (Ahn-type loss, product-stability 2)."""
    return ScalarLoss("log_cosh", _log_cosh, 0.0, r"\log\cosh z")


def _sqrt_one_plus_sq(z: Array) -> Array:
    return jnp.sqrt(1.0 + z * z)


def sqrt_one_plus_sq() -> ScalarLoss:
    """l(z) = sqrt(1 + z^2) with z* = 0 (Ahn-type loss, product-stability 3)."""
    return ScalarLoss("sqrt_one_plus_sq", _sqrt_one_plus_sq, 0.0, r"\sqrt{1+z^2}")


def _quartic(z: Array) -> Array:
    u = z - 1.0
    return 0.5 * u**2 + 0.25 * u**4


def quartic_negative_control() -> ScalarLoss:
    """l(z) = 1/2 (z-1)^2 + 1/4 (z-1)^4, z* = 1: product-stability -6 (subcritical flip)."""
    return ScalarLoss("quartic_negative_control", _quartic, 1.0,
                      r"\tfrac12(z-1)^2+\tfrac14(z-1)^4")


def _as_float_scalar(z) -> Array:
    z = jnp.asarray(z)
    if not jnp.issubdtype(z.dtype, jnp.floating):
        z = z.astype(jnp.result_type(float))
    return z


def derivatives(l: Callable[[Float[Array, ""]], Float[Array, ""]], z: float | Float[ArrayLike, ""],
                max_order: int = 4) -> Float[Array, " order"]:
    """[l(z), l'(z), ..., l^(max_order)(z)] by nested ``jax.grad``.

    Args:
      l: scalar function (a :class:`ScalarLoss` or any differentiable callable).
      z: scalar point (python number or 0-d array; integers are promoted to float).
      max_order: highest derivative order, an integer >= 0.

    Returns:
      Array of shape (max_order + 1,).
    """
    max_order = _check_int("max_order", max_order, 0)
    z = _as_float_scalar(z)
    if z.ndim != 0:
        raise ValueError(f"z must be a scalar, got shape {z.shape}")
    try:
        hash(l)
    except TypeError:
        return _derivatives(l, z, max_order)
    return _derivatives_jit(l, z, max_order)


def _derivatives(l, z: Array, max_order: int) -> Array:
    g = l
    values = []
    for _ in range(max_order + 1):
        values.append(jnp.asarray(g(z), z.dtype))
        g = jax.grad(g)
    return jnp.stack(values)


# Compiled once per (loss, order, dtype): eager nested grads re-trace on every call.
_derivatives_jit = jax.jit(_derivatives, static_argnums=(0, 2))


def product_stability(l: Callable[[Float[Array, ""]], Float[Array, ""]],
                      z_star: float | Float[ArrayLike, ""] | None = None,
                      normalized: bool = False) -> Float[Array, ""]:
    """Product-stability alpha = 3 l'''(z*)^2 - l''(z*) l''''(z*).

    Args:
      l: scalar loss; if ``z_star`` is None it must be a :class:`ScalarLoss`.
      z_star: evaluation point (default ``l.z_star``).
      normalized: return alpha / l''(z*) = 3 l'''^2 / l'' - l'''' instead (the form of
        Mulayoff & Stich Eq. 6; same sign whenever l'' > 0).

    Returns:
      Scalar array. Positive means a stable period-2 orbit is born at eta = 2 / l''(z*).

    References:
      Gan (2026), Def. 4.1; Chen & Bruna (2023), stability number.
    """
    if z_star is None:
        if not isinstance(l, ScalarLoss):
            raise ValueError("z_star must be given (a real number) when l is not a ScalarLoss")
        z_star = l.z_star
    d = derivatives(l, z_star, max_order=4)
    alpha = 3.0 * d[3] ** 2 - d[2] * d[4]
    return alpha / d[2] if normalized else alpha


TABLE_1: dict[str, ScalarLoss] = {
    loss.name: loss
    for loss in (
        soft_bce(0.2),
        soft_bce(0.5),
        multilayer_squared(1),
        multilayer_squared(2),
        multilayer_squared(3),
        log_cosh(),
        sqrt_one_plus_sq(),
    )
}
"""The losses of Table 1 of Gan (2026), keyed by name: ``bce_y0.2``, ``bce_y0.5``,
``l_1``, ``l_2``, ``l_3``, ``log_cosh``, ``sqrt_one_plus_sq``."""
