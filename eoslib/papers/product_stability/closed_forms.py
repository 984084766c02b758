"""Closed forms of Gan (2026) on GD over f(x, y) = l(xy): derivatives at z*, Hessian, exact updates.

* Definition 4.1: derivatives of l at its minimum and the product-stability alpha
  (through :func:`eoslib.losses.product_stability`, the library's one alpha).
* Lemma 3.1: Hessian, trace, rank-one Hessian on the minimum manifold, sharpness.
* Prop. A.1, Lemmas A.3 and A.4: exact one-step updates of (z, s, d); Eq. 9.
* Eq. 6 and Lemmas A.2, A.5: the two-step expansion of z -> z - eta l'(z) and its contraction.

Conventions: ``l`` is an :class:`eoslib.losses.ScalarLoss`; ``l_k`` is ``l^(k)(l.z_star)``;
z = xy, s = x^2 + y^2, lambda = eta s, d = x^2 - y^2. Nothing here enables float64.

References:
  E. Gan, "Product-Stability: Provable Convergence for Gradient Descent on the Edge
  of Stability", arXiv:2604.02653 (2026).
  L. Chen and J. Bruna, "Beyond the Edge of Stability via Two-step Gradient Updates",
  ICML 2023, arXiv:2206.04172.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from eoslib.losses import ScalarLoss, derivatives, product_stability
from eoslib.validation import real as _real

from ._common import as_loss as _loss, default_float as _float_dtype, step_sizes as _etas

__all__ = [
    "MinimumDerivatives",
    "minimum_derivatives",
    "product_stability_at",
    "threshold_step",
    "eta_from_mu",
    "mu_from_eta",
    "product_objective",
    "hessian_formula",
    "hessian_trace_formula",
    "minimum_hessian_formula",
    "minimum_sharpness_formula",
    "product_sharpness",
    "exact_update",
    "imbalance_update",
    "contraction_factor",
    "first_order_update",
    "two_step_coeffs",
    "lemma_a2_h",
    "two_step_contraction",
]


# --------------------------------------------------------------------------- derivatives at z*


class MinimumDerivatives(NamedTuple):
    """Derivatives of l at its minimum, as Python floats.

    Attributes:
      z_star: the minimum.
      l2, l3, l4: l''(z*), l'''(z*), l''''(z*).
      alpha: product-stability 3 l3^2 - l2 l4 (raw form of Def. 4.1).
    """

    z_star: float
    l2: float
    l3: float
    l4: float
    alpha: float


def minimum_derivatives(l: ScalarLoss) -> MinimumDerivatives:
    """Second to fourth derivative of ``l`` at ``l.z_star`` (nested ``jax.grad``) and alpha.

    alpha comes from :func:`eoslib.losses.product_stability`.

    Args:
      l: a scalar loss with a minimum ``z_star`` (l''(z*) > 0).

    Returns:
      :class:`MinimumDerivatives` with Python floats.

    Raises:
      ValueError: if l''(z*) is not positive (z* is not a strict minimum).

    References:
      Gan (2026), Def. 4.1.
    """
    l = _loss(l)
    d = np.asarray(derivatives(l, l.z_star, 4), dtype=float)
    if not d[2] > 0:
        raise ValueError(f"l''(z_star) must be in (0, inf) for loss {l.name!r}, got {d[2]!r}")
    alpha = float(product_stability(l))  # the library's one alpha (same nested grads, cached)
    return MinimumDerivatives(float(l.z_star), float(d[2]), float(d[3]), float(d[4]), alpha)


def product_stability_at(l: ScalarLoss, z, normalized: bool = False) -> Array:
    """alpha(l, z) = 3 l3(z)^2 - l2(z) l4(z) by autodiff (l_k(z) = k-th derivative at z), vectorised over ``z``.

    Args:
      l: scalar loss.
      z: evaluation point(s), any shape.
      normalized: divide by l''(z) (the form 3 l3^2 / l2 - l4).

    Returns:
      alpha at every point, shaped like ``z``.

    References:
      Gan (2026), Def. 4.1 and Lemma 6.1 (alpha as a function of the point).
    """
    l = _loss(l)
    z = jnp.asarray(z)
    if not jnp.issubdtype(z.dtype, jnp.floating):
        z = z.astype(_float_dtype())
    return _alpha_kernel(l.fn, z.ravel(), bool(normalized)).reshape(z.shape)


@functools.partial(jax.jit, static_argnames=("fn", "normalized"))
def _alpha_kernel(fn, z, normalized):
    return jax.vmap(lambda zz: product_stability(fn, z_star=zz, normalized=normalized))(z)


def threshold_step(l: ScalarLoss) -> float:
    """The edge-of-stability threshold lambda_c = 2 / l''(z*) of the map z -> z - lambda l'(z).

    Args:
      l: scalar loss.

    Returns:
      2 / l2.

    References:
      Gan (2026), Section 4 (flip bifurcation at eta = 2 / l2).
    """
    return 2.0 / minimum_derivatives(l).l2


def eta_from_mu(l: ScalarLoss, mu):
    """Step size with normalised excess ``mu``: eta = (2 + mu) / l2.

    Args:
      l: scalar loss.
      mu: normalised excess over the threshold, real number(s) in (-2, inf).

    Returns:
      eta (float or array, like ``mu``).
    """
    mu_arr = np.asarray(mu, dtype=float)
    if mu_arr.size == 0 or not np.all(np.isfinite(mu_arr)) or not np.all(mu_arr > -2):
        raise ValueError(f"mu must be real number(s) in (-2, inf), got {mu!r}")
    out = (2.0 + mu_arr) / minimum_derivatives(l).l2
    return float(out) if out.ndim == 0 else out


def mu_from_eta(l: ScalarLoss, eta):
    """Normalised excess mu = eta l2 - 2 of a step (or of lambda = eta s for the product model).

    Args:
      l: scalar loss.
      eta: step size(s), real number(s) in (0, inf).

    Returns:
      mu (float or array, like ``eta``).
    """
    out = _etas("eta", eta, 0.0) * minimum_derivatives(l).l2 - 2.0
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------- Lemma 3.1


def product_objective(l: ScalarLoss) -> Callable[[Array], Array]:
    """The objective f(w) = l(w[0] w[1]) of Eq. 1 as a function of a 2-vector, for autodiff.

    Args:
      l: scalar loss.

    Returns:
      f: R^2 -> R.

    References:
      Gan (2026), Eq. 1.
    """
    fn = _loss(l).fn
    return lambda w: fn(w[0] * w[1])


def _l_derivs(fn, z):
    lp = jax.grad(fn)
    return lp(z), jax.grad(lp)(z)


def hessian_formula(l: ScalarLoss, x: Array, y: Array) -> Array:
    """Closed-form Hessian of f(x, y) = l(xy) at any point.

    [[y^2 l'', l' + xy l''], [l' + xy l'', x^2 l'']] with l', l'' evaluated at z = xy.

    Args:
      l: scalar loss.
      x, y: scalar coordinates (traceable).

    Returns:
      Array of shape (2, 2).

    References:
      Gan (2026), Lemma 3.1.
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    g1, g2 = _l_derivs(_loss(l).fn, x * y)
    off = g1 + x * y * g2
    return jnp.stack([jnp.stack([y * y * g2, off]), jnp.stack([off, x * x * g2])])


def hessian_trace_formula(l: ScalarLoss, x: Array, y: Array) -> Array:
    """tr Hessian of l(xy) = (x^2 + y^2) l''(xy), at every point.

    Args:
      l: scalar loss.
      x, y: coordinates (scalars or broadcastable arrays).

    Returns:
      The trace, shaped like ``x * y``.

    References:
      Gan (2026), Lemma 3.1.
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    l2 = jax.grad(jax.grad(_loss(l).fn))
    z = x * y
    return (x * x + y * y) * jnp.vectorize(l2)(z)


def minimum_hessian_formula(l: ScalarLoss, x: Array, y: Array) -> Array:
    """Rank-one Hessian l''(xy) (y, x)^T (y, x), exact where l'(xy) = 0.

    Args:
      l: scalar loss.
      x, y: scalar coordinates of a point with l'(xy) = 0 (not checked: the formula is
        the Lemma's claim and is what the notebooks test).

    Returns:
      Array of shape (2, 2).

    References:
      Gan (2026), Lemma 3.1.
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    g2 = jax.grad(jax.grad(_loss(l).fn))(x * y)
    v = jnp.stack([y, x])
    return g2 * jnp.outer(v, v)


def minimum_sharpness_formula(l: ScalarLoss, x: Array, y: Array) -> Array:
    """Sharpness S = (x^2 + y^2) l''(xy) at a point of the minimum manifold xy = z*.

    Args:
      l: scalar loss.
      x, y: coordinates (scalars or broadcastable arrays) with l'(xy) = 0.

    Returns:
      S, shaped like ``x * y``. It is unbounded along xy = z* (x -> inf).

    References:
      Gan (2026), Lemma 3.1.
    """
    return hessian_trace_formula(l, x, y)


def product_sharpness(l: ScalarLoss, x, y) -> Array:
    """Sharpness (largest Hessian eigenvalue) of f(x, y) = l(xy) at any point, in closed form.

    The Hessian [[y^2 l'', l' + xy l''], [l' + xy l'', x^2 l'']] is 2 x 2, so its top
    eigenvalue is tr/2 + sqrt((x^2 - y^2)^2 l''^2 / 4 + (l' + xy l'')^2). Off the minimum
    manifold this differs from s l''(xy) by O(|l'|); on it, it equals s l''(z*) (Lemma 3.1).

    Args:
      l: scalar loss.
      x, y: coordinates (scalars or broadcastable arrays).

    Returns:
      lambda_max of the Hessian, shaped like ``x * y``.

    References:
      Gan (2026), Lemma 3.1 (Hessian of l(xy)).
    """
    fn = _loss(l).fn
    x, y = jnp.asarray(x), jnp.asarray(y)
    z = x * y
    lp = jnp.vectorize(jax.grad(fn))(z)
    lpp = jnp.vectorize(jax.grad(jax.grad(fn)))(z)
    half_tr = 0.5 * (x * x + y * y) * lpp
    half_diff = 0.5 * (x * x - y * y) * lpp
    off = lp + z * lpp
    return half_tr + jnp.sqrt(half_diff * half_diff + off * off)


# --------------------------------------------------------------------------- exact updates (App. A)


def exact_update(l: ScalarLoss, eta, z: Array, s: Array) -> tuple[Array, Array]:
    """One GD step on l(xy) written in (z, s): exact, no expansion.

    z' = z - eta s l'(z) + eta^2 z l'(z)^2,   s' = s - 4 eta z l'(z) + eta^2 s l'(z)^2.

    Args:
      l: scalar loss.
      eta: learning rate (traceable scalar).
      z: product xy (scalar or array).
      s: x^2 + y^2 (same shape).

    Returns:
      (z_next, s_next).

    References:
      Gan (2026), Proposition A.1 (Eqs. 15-16 in one-step form).
    """
    g = jnp.vectorize(jax.grad(_loss(l).fn))(jnp.asarray(z))
    return z - eta * s * g + eta**2 * z * g * g, s - 4 * eta * z * g + eta**2 * s * g * g


def contraction_factor(l: ScalarLoss, eta, z: Array) -> Array:
    """1 - eta^2 l'(z)^2: the factor by which one step multiplies the imbalance d = x^2 - y^2.

    Args:
      l: scalar loss.
      eta: learning rate.
      z: product xy (scalar or array).

    Returns:
      The factor, shaped like ``z``. Squared, it also multiplies s^2 - 4 z^2 (Lemma A.4).

    References:
      Gan (2026), Lemmas A.3 and A.4.
    """
    g = jnp.vectorize(jax.grad(_loss(l).fn))(jnp.asarray(z))
    return 1 - (eta * g) ** 2


def imbalance_update(l: ScalarLoss, eta, z: Array, d: Array) -> Array:
    """d_{t+1} = (1 - eta^2 l'(z_t)^2) d_t for the imbalance d = x^2 - y^2.

    Args:
      l: scalar loss.
      eta: learning rate.
      z: product xy.
      d: imbalance x^2 - y^2.

    Returns:
      The next imbalance.

    References:
      Gan (2026), Lemma A.3.
    """
    return contraction_factor(l, eta, z) * d


def first_order_update(l: ScalarLoss, z: Array, lam: Array) -> Array:
    """z - lambda l'(z): Eq. 9, the z-dynamics as GD on l with the adaptive step lambda = eta s.

    The exact update (Prop. A.1) adds eta^2 z l'(z)^2.

    Args:
      l: scalar loss.
      z: product xy.
      lam: effective step eta (x^2 + y^2).

    Returns:
      The first-order prediction of z_{t+1}.

    References:
      Gan (2026), Eq. 9.
    """
    g = jnp.vectorize(jax.grad(_loss(l).fn))(jnp.asarray(z))
    return z - lam * g


# --------------------------------------------------------------------------- two-step map (Sec. 4.1)


def two_step_coeffs(l: ScalarLoss, eta: float) -> np.ndarray:
    """Coefficients (c1, c2, c3) of z_t - z_{t+2} = c1 u + c2 u^2 + c3 u^3 + O(u^4), u = z_t - z*.

    For 1-D GD z -> z - eta l'(z) with kappa = eta l2:
    c1 = -kappa (kappa - 2), c2 = eta l3 (kappa - 1)(kappa - 2) / 2,
    c3 = eta (kappa - 1) [3 eta l3^2 - l4 ((kappa - 1)^2 + 1)] / 6.
    At kappa = 2: c1 = c2 = 0 and c3 = 2 alpha / (3 l2^2).

    Args:
      l: scalar loss.
      eta: learning rate, in (0, inf).

    Returns:
      numpy array of shape (3,).

    References:
      Gan (2026), Eq. 6; Chen & Bruna (2023), two-step expansion.
    """
    eta = _real("eta", eta, 0.0)
    m = minimum_derivatives(l)
    k = eta * m.l2
    c1 = -k * (k - 2)
    c2 = eta * m.l3 * (k - 1) * (k - 2) / 2
    c3 = eta * (k - 1) * (3 * eta * m.l3**2 - m.l4 * ((k - 1) ** 2 + 1)) / 6
    return np.array([c1, c2, c3])


def lemma_a2_h(l: ScalarLoss, eta):
    """h(eta) = 3 eta l3^2 - l4 ((eta l2 - 1)^2 + 1), the bracket of the cubic two-step coefficient.

    h(2 / l2) = 2 alpha / l2, so alpha > 0 makes h positive just above the threshold.

    Args:
      l: scalar loss.
      eta: learning rate(s), in (0, inf).

    Returns:
      h (float or array, like ``eta``).

    References:
      Gan (2026), Lemma A.2.
    """
    e = _etas("eta", eta, 0.0)
    m = minimum_derivatives(l)
    out = 3 * e * m.l3**2 - m.l4 * ((e * m.l2 - 1) ** 2 + 1)
    return float(out) if out.ndim == 0 else out


def two_step_contraction(l: ScalarLoss, lam, z) -> Array:
    """|z_2 - z*| / |z_0 - z*| for two steps of 1-D GD z -> z - lam l'(z) started at ``z``.

    Below 1 means the two-step map pulls z towards the minimum. For alpha > 0 this holds
    for steps at or slightly below the threshold 2 / l2, near z*: at lam = 2 / l2 the
    two-step map is u -> u - 2 C u^3 with C = alpha / (3 l2^2) > 0.

    Args:
      l: scalar loss.
      lam: step(s) of the z-dynamics (lambda = eta s for GD on l(xy)), broadcastable with ``z``.
      z: starting point(s), different from z*.

    Returns:
      The ratio, with the broadcast shape of ``lam`` and ``z``.

    References:
      Gan (2026), Lemma A.5 (statement not recovered; this is the two-step descent it
      provides in the regime lambda <= 2 / l2).
    """
    l = _loss(l)
    lp = jnp.vectorize(jax.grad(l.fn))
    z = jnp.asarray(z)
    if not jnp.issubdtype(z.dtype, jnp.floating):
        z = z.astype(_float_dtype())
    lam = jnp.asarray(lam, z.dtype)
    z1 = z - lam * lp(z)
    z2 = z1 - lam * lp(z1)
    return jnp.abs(z2 - l.z_star) / jnp.abs(z - l.z_star)

