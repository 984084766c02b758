"""Which losses are product-stable: the closed forms of Section 6 and Table 1 of Gan (2026).

* Lemma 6.1 and Table 1: soft-label binary cross-entropy, in p = sigma(z), at every z.
* Lemma 6.2: the multilayer squared losses l_n = c (z^n - 1)^2 (c = 1/4 proposed).
* Assumption 6.3 and Lemma 6.4: Ahn et al.'s Eq. 13, an even convex loss with alpha = 0 that
  meets Eq. 13 only with beta = 4, and the rescaling b^2 l(z / b).
* Lemma 6.5: a candidate for Wang et al.'s family (Eq. 14 was not recovered).

alpha is always :func:`eoslib.losses.product_stability` (or a closed form that a notebook
compares with it).

References:
  E. Gan, "Product-Stability", arXiv:2604.02653 (2026), Section 6 and Appendix C.
  K. Ahn, S. Bubeck, S. Chewi, Y. T. Lee, F. Suarez, Y. Zhang, "Learning threshold neurons
  via the edge of stability", NeurIPS 2023.
  Y. Wang et al., "Good regularity creates large learning rate implicit biases", 2023.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from eoslib.losses import (ScalarLoss, log_cosh, multilayer_squared, product_stability, soft_bce,
                           sqrt_one_plus_sq)
from eoslib.validation import integer as _int, real as _real

from ._common import as_loss as _loss, default_float as _float_dtype

__all__ = [
    "bce_closed_form",
    "bce_minimum_closed_form",
    "multilayer_minimum_closed_form",
    "multilayer_alpha_closed_form",
    "table_1_rows",
    "eq13_ratio",
    "eq13_constant",
    "beta4_even_loss",
    "rescaled_loss",
    "regularity_family",
    "regularity_family_alpha",
    "regularity_family_derivatives",
]


def bce_closed_form(z: Array) -> dict[str, Array]:
    """Closed forms for soft-label BCE at any z, in p = sigma(z) (independent of the label y).

    l'' = q, l''' = q (1 - 2p), l'''' = q (1 - 6p + 6p^2), alpha = 2 q^2 (1 - 3q),
    with q = p (1 - p) = exp(log_sigmoid(z) + log_sigmoid(-z)) evaluated in log space
    so that it stays accurate for large |z|; 1 - 3p + 3p^2 = 1 - 3q >= 1/4.

    Args:
      z: logit(s), any shape.

    Returns:
      dict with keys ``p``, ``q``, ``l2``, ``l3``, ``l4``, ``factor`` (= 1 - 3q) and ``alpha``.

    References:
      Gan (2026), Lemma 6.1 and Table 1.
    """
    z = jnp.asarray(z)
    if not jnp.issubdtype(z.dtype, jnp.floating):
        z = z.astype(_float_dtype())
    p = jax.nn.sigmoid(z)
    q = jnp.exp(jax.nn.log_sigmoid(z) + jax.nn.log_sigmoid(-z))
    factor = 1 - 3 * q
    return {
        "p": p,
        "q": q,
        "l2": q,
        "l3": q * jnp.tanh(-z / 2),  # 1 - 2p without cancellation
        "l4": q * (1 - 6 * q),  # 1 - 6p + 6p^2 = 1 - 6q
        "factor": factor,
        "alpha": 2 * q * q * factor,
    }


def bce_minimum_closed_form(y: float) -> tuple[float, float, float, float]:
    """(z*, l2, l3, l4) of soft-label BCE at its minimum: (log(y/(1-y)), q, q(1-2y), q(1-6q)), q = y(1-y).

    Args:
      y: soft label, in (0, 1).

    Returns:
      The four floats.

    References:
      Gan (2026), Table 1.
    """
    y = _real("y", y, 0.0, 1.0)
    q = y * (1 - y)
    return math.log(y / (1 - y)), q, q * (1 - 2 * y), q * (1 - 6 * q)


def multilayer_minimum_closed_form(n: int, c: float = 0.25) -> tuple[float, float, float, float]:
    """(z*, l2, l3, l4) of l_n(z) = c (z^n - 1)^2 at z* = 1: (1, 2cn^2, 6cn^2(n-1), 2cn^2(n-1)(7n-11)).

    Args:
      n: exponent, integer in [1, inf).
      c: normalisation, in (0, inf).

    Returns:
      The four floats.

    References:
      Gan (2026), Lemma 6.2 and Table 1 (c = 1/4 proposed).
    """
    n = _int("n", n, 1)
    c = _real("c", c, 0.0)
    return 1.0, 2 * c * n**2, 6 * c * n**2 * (n - 1), 2 * c * n**2 * (n - 1) * (7 * n - 11)


def multilayer_alpha_closed_form(n: int, c: float = 0.25) -> float:
    """alpha(l_n, 1) = 16 c^2 n^4 (n - 1)(5n - 4): zero for n = 1, positive for n >= 2.

    Args:
      n: exponent, integer in [1, inf).
      c: normalisation, in (0, inf).

    Returns:
      The product-stability at z* = 1.

    References:
      Gan (2026), Lemma 6.2.
    """
    n = _int("n", n, 1)
    c = _real("c", c, 0.0)
    return 16 * c**2 * n**4 * (n - 1) * (5 * n - 4)


def table_1_rows() -> list[tuple[ScalarLoss, tuple[float, float, float, float]]]:
    """The Table 1 losses with their closed-form (z*, l2, l3, l4).

    Returns:
      List of (loss, closed form) for BCE y = 0.2, 0.5; l_1, l_2, l_3 (c = 1/4);
      log cosh; sqrt(1 + z^2). alpha and G follow from the four numbers.

    References:
      Gan (2026), Table 1.
    """
    rows = [(soft_bce(y), bce_minimum_closed_form(y)) for y in (0.2, 0.5)]
    rows += [(multilayer_squared(n), multilayer_minimum_closed_form(n)) for n in (1, 2, 3)]
    rows += [(log_cosh(), (0.0, 1.0, 0.0, -2.0)), (sqrt_one_plus_sq(), (0.0, 1.0, 0.0, -3.0))]
    return rows


def eq13_ratio(l: ScalarLoss, s, beta: float) -> Array:
    """(1 - l'(s)/s) / |s|^beta: Eq. 13 holds on a set of s with constant c iff this is >= c there.

    l'(s) is a difference of nearly equal numbers for small s, so the value carries a
    round-off error of about eps / |s|^(beta + 1); keep |s| well above eps^(1/(beta+1)).

    Args:
      l: even scalar loss with minimum 0 and l''(0) = 1.
      s: nonzero point(s), any shape.
      beta: exponent, in (0, inf).

    Returns:
      The ratio, shaped like ``s``. As s -> 0 it tends to -l^(4)(0)/6 for beta = 2.

    References:
      Gan (2026), Assumption 6.3 (Eq. 13) and Lemma 6.4; Ahn et al. (2023).
    """
    l = _loss(l)
    beta = _real("beta", beta, 0.0)
    s = jnp.asarray(s)
    if not jnp.issubdtype(s.dtype, jnp.floating):
        s = s.astype(_float_dtype())
    g = jnp.vectorize(jax.grad(l.fn))(s)
    return (1 - g / s) / jnp.abs(s) ** beta


def eq13_constant(l: ScalarLoss, beta: float, delta: float, *, s_min: float | None = None, num: int = 400) -> float:
    """Largest c with l'(s)/s <= 1 - c |s|^beta on s_min <= |s| <= delta (Eq. 13), on a log grid.

    Ahn et al.'s Assumption 6.3 asks for some c > 0 on a neighbourhood of 0. The value
    returned is the minimum of :func:`eq13_ratio` over +-s on a log grid of [s_min, delta];
    a non-positive value means Eq. 13 fails with this beta there. Below s_min the ratio is
    its Taylor limit up to O(s_min^2) (for beta = 2: -l^(4)(0)/6), which round-off would
    otherwise swamp.

    Args:
      l: even scalar loss with minimum 0 and l''(0) = 1.
      beta: exponent, in (0, inf).
      delta: half-width of the neighbourhood, in (0, inf).
      s_min: smallest |s| of the grid, in (0, delta); default delta / 100.
      num: grid points per side, integer in [2, 10^7].

    Returns:
      The constant c (float).

    References:
      Gan (2026), Assumption 6.3 and Lemma 6.4; Ahn et al. (2023).
    """
    delta = _real("delta", delta, 0.0)
    s_min = delta / 100 if s_min is None else _real("s_min", s_min, 0.0, delta)
    num = _int("num", num, 2, 10**7)
    s = np.geomspace(s_min, delta, num)
    s = jnp.asarray(np.concatenate([-s[::-1], s]), _float_dtype())
    return float(jnp.min(eq13_ratio(l, s, beta)))


def _beta4_even(z: Array) -> Array:
    # 3 (z arctan z - log(1 + z^2) / 2) - 2 (sqrt(1 + z^2) - 1): l'' = (1+z^2)^(-3/2) (3 sqrt(1+z^2) - 2) > 0.
    r = jnp.sqrt(1.0 + z * z)
    return 3.0 * (z * jnp.arctan(z) - jnp.log(r)) - 2.0 * (r - 1.0)


def beta4_even_loss() -> ScalarLoss:
    """An even convex loss with l''(0) = 1 and l^(4)(0) = 0, hence alpha(l, 0) = 0.

    l(z) = 3 (z arctan z - log(1 + z^2) / 2) - 2 (sqrt(1 + z^2) - 1). Its Taylor series is
    z^2 / 2 - z^6 / 40 + ..., so l'(s)/s = 1 - 0.15 s^4 + ...: it meets Eq. 13 with beta = 4
    but with no c > 0 for beta = 2. l'' = (1+z^2)^(-3/2) (3 sqrt(1+z^2) - 2) > 0 and
    |l'| < 3 pi / 2 - 2, so it is convex and Lipschitz with constant 3 pi / 2 - 2 ~ 2.71;
    ``rescaled_loss(beta4_even_loss(), 1 / (3 pi / 2 - 2))`` is 1-Lipschitz with the same
    l''(0) = 1 and l''''(0) = 0.

    Returns:
      The loss, with z* = 0.

    References:
      Gan (2026), caveat to Lemma 6.4 (Ahn et al.'s Assumption 6.3 with beta > 2).
    """
    return ScalarLoss("beta4_even", _beta4_even, 0.0,
                      r"3\left(z\arctan z-\tfrac12\log(1+z^2)\right)-2\left(\sqrt{1+z^2}-1\right)")


@dataclasses.dataclass(frozen=True)
class _Rescaled:
    fn: Callable[[Array], Array]
    b: float

    def __call__(self, z: Array) -> Array:
        return self.b * self.b * self.fn(z / self.b)


def rescaled_loss(l: ScalarLoss, b: float) -> ScalarLoss:
    """The loss b^2 l(z / b): the same second derivative, the Lipschitz constant times b.

    The k-th derivative of b^2 l(z / b) is b^(2-k) l^(k)(z / b): l'' is unchanged, the
    Lipschitz constant sup |l'| is multiplied by b, and l'''' by b^-2. With b = 1 / sup |l'|
    an even loss with l''(0) = 1 becomes 1-Lipschitz and keeps l''(0) = 1 (and l''''(0) = 0
    if it was 0), as Assumption 6.3 asks.

    Args:
      l: scalar loss.
      b: scale, in (0, inf).

    Returns:
      The loss, with minimum b z*.

    References:
      Gan (2026), Assumption 6.3 and Lemma 6.4.
    """
    l = _loss(l)
    b = _real("b", b, 0.0)
    return ScalarLoss(f"{l.name}_scaled{b:.6g}", _Rescaled(l.fn, b), b * l.z_star,
                      rf"{b:.4g}^2\,l(z/{b:.4g})")


def _regularity_value(z, p, c, mu):
    u = z - mu
    return c * (u * u + 1.0) ** (0.5 * p)


@dataclasses.dataclass(frozen=True)
class _Regularity:
    p: float
    c: float
    mu: float

    def __call__(self, z: Array) -> Array:
        return _regularity_value(z, self.p, self.c, self.mu)


def regularity_family(p: float, c: float = 1.0, mu: float = 0.0) -> ScalarLoss:
    """Candidate for Wang et al.'s family (Eq. 14): l(z) = c ((z - mu)^2 + 1)^(p/2), minimum z* = mu.

    Eq. 14 was not recovered from the source; this is our candidate (see the book's
    Reconstructions page).
    l2 = c p, l3 = 0, l4 = 3 c p (p - 2), so alpha = 3 c^2 p^2 (2 - p): positive iff p < 2.

    Args:
      p: exponent, in (0, inf) (p <= 0 has no minimum at mu).
      c: scale, in (0, inf).
      mu: location of the minimum, real.

    Returns:
      The loss.

    References:
      Gan (2026), Eq. 14 and Lemma 6.5 (family uncertain); Wang et al. (2023).
    """
    p = _real("p", p, 0.0)
    c = _real("c", c, 0.0)
    mu = _real("mu", mu)
    return ScalarLoss(f"reg_p{p:g}_c{c:g}_mu{mu:g}", _Regularity(p, c, mu), mu,
                      rf"{c:g}\,((z-{mu:g})^2+1)^{{{p:g}/2}}")


def regularity_family_alpha(p, c=1.0):
    """alpha = 3 c^2 p^2 (2 - p) of :func:`regularity_family` at its minimum (independent of mu).

    Args:
      p: exponent(s), in (0, inf).
      c: scale(s), in (0, inf).

    Returns:
      alpha (float or array, broadcast of ``p`` and ``c``).

    References:
      Gan (2026), Lemma 6.5 (for the candidate family).
    """
    p_arr, c_arr = np.asarray(p, dtype=float), np.asarray(c, dtype=float)
    if p_arr.size == 0 or not np.all(p_arr > 0) or not np.all(np.isfinite(p_arr)):
        raise ValueError(f"p must be real number(s) in (0, inf), got {p!r}")
    if c_arr.size == 0 or not np.all(c_arr > 0) or not np.all(np.isfinite(c_arr)):
        raise ValueError(f"c must be real number(s) in (0, inf), got {c!r}")
    out = 3 * c_arr**2 * p_arr**2 * (2 - p_arr)
    return float(out) if out.ndim == 0 else out


def regularity_family_derivatives(p, c, mu) -> dict[str, np.ndarray]:
    """(l2, l3, l4, alpha) of :func:`regularity_family` at z* = mu by nested autodiff, vectorised.

    The parameters are traced (one compilation for a whole grid), unlike building one
    :class:`ScalarLoss` per point, which compiles per point. The function differentiated
    is the same one :func:`regularity_family` wraps.

    Args:
      p, c, mu: exponents in (0, inf), scales in (0, inf) and locations; broadcast together.

    Returns:
      dict with keys ``l2``, ``l3``, ``l4``, ``alpha``, arrays of the broadcast shape.

    References:
      Gan (2026), Lemma 6.5 (candidate family).
    """
    p_a, c_a, mu_a = np.broadcast_arrays(np.asarray(p, float), np.asarray(c, float), np.asarray(mu, float))
    if p_a.size == 0 or not np.all(p_a > 0) or not np.all(np.isfinite(p_a)):
        raise ValueError(f"p must be real number(s) in (0, inf), got {p!r}")
    if not np.all(c_a > 0) or not np.all(np.isfinite(c_a)):
        raise ValueError(f"c must be real number(s) in (0, inf), got {c!r}")
    if not np.all(np.isfinite(mu_a)):
        raise ValueError(f"mu must be finite real number(s), got {mu!r}")
    dt = _float_dtype()
    d = _regularity_derivs(jnp.asarray(p_a.ravel(), dt), jnp.asarray(c_a.ravel(), dt), jnp.asarray(mu_a.ravel(), dt))
    l2, l3, l4, alpha = (np.asarray(v).reshape(p_a.shape) for v in d)
    return {"l2": l2, "l3": l3, "l4": l4, "alpha": alpha}


@jax.jit
def _regularity_derivs(p, c, mu):
    def one(pp, cc, mm):
        g = lambda z: _regularity_value(z, pp, cc, mm)  # noqa: E731
        d2 = jax.grad(jax.grad(g))
        d3 = jax.grad(d2)
        d4 = jax.grad(d3)
        return d2(mm), d3(mm), d4(mm), product_stability(g, z_star=mm)

    return jax.vmap(one)(p, c, mu)
