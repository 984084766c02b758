"""Models of Gan (2026), "Product-Stability": GD on f(x, y) = l(xy) and the 1-D map z -> z - eta l'(z).

The paper reduces GD on the two-parameter product model to the phase-space
variables z = xy (the product), s = x^2 + y^2 (the sharpness multiplier) and
lambda = eta s (the effective step of the z-dynamics). This module holds the
closed forms the paper's statements are made of, so that the notebooks only
compare them against autodiff and against long GD runs:

* Lemma 3.1: Hessian, trace, rank-one Hessian on the minimum manifold, sharpness.
* Prop. A.1, Lemmas A.3 and A.4: exact one-step updates of (z, s, d).
* Eq. 6 / Lemmas A.2, A.5: two-step expansion and contraction of the 1-D map.
* Theorem 4.2 / Lemma 5.1: the period-2 cycle {p_-, p_+}, its shape and branch slopes.
* Lemma B.1: the inverse bifurcation map lambda(z).
* Theorems 4.3 and 5.2: vmapped GD runs to the limit; the limiting sharpness
  2/eta - 3 eta l2^4 / alpha; the Phase II lag and the Phase III rate (Lemmas B.3-B.8).
* Section 6 and Table 1: closed forms of the product-stability; Eq. 13 of Ahn et al.;
  a beta = 4 even loss with alpha = 0; a candidate for Wang et al.'s family (Eq. 14).
* Section 7 / Figure 5: GD on a network with Definition 7.1 evaluated along the run,
  and the cutoff profile of the truncated pseudoinverse.

Conventions: ``l`` is an :class:`eoslib.losses.ScalarLoss`; the minimum used is
``l.z_star`` and ``l_k`` denotes ``l^(k)(z_star)``. Product-stability is the raw
alpha = 3 l3^2 - l2 l4 (Def. 4.1; the sign does not depend on the normalisation).
Nothing here enables float64: call ``jax.config.update("jax_enable_x64", True)``
first for the precision the checks assume.

References:
  E. Gan, "Product-Stability: Provable Convergence for Gradient Descent on the Edge
  of Stability", arXiv:2604.02653 (2026).
  L. Chen and J. Bruna, "Beyond the Edge of Stability via Two-step Gradient
  Updates", ICML 2023, arXiv:2206.04172.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from eoslib.losses import (
    ScalarLoss,
    derivatives,
    log_cosh,
    multilayer_squared,
    product_stability,
    soft_bce,
    sqrt_one_plus_sq,
)
from eoslib.validation import integer as _int, real as _real

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
    "CyclePrediction",
    "cycle_amplitude_prediction",
    "bifurcation_cycle",
    "cycle_residuals",
    "branch_slopes",
    "inverse_bifurcation",
    "inverse_bifurcation_curvature",
    "ProductTrajectory",
    "gd_product",
    "gd_product_until",
    "LimitRuns",
    "limit_runs",
    "gd_scalar_final",
    "eos_init",
    "PhaseSpaceRun",
    "phase_space_run",
    "PhaseSummary",
    "phase_summary",
    "limit_gap_coefficient",
    "predicted_limit_sharpness",
    "predicted_limit_lambda",
    "phase2_lag",
    "predicted_phase3_rate",
    "fit_log_rate",
    "bce_closed_form",
    "bce_minimum_closed_form",
    "multilayer_minimum_closed_form",
    "multilayer_alpha_closed_form",
    "table_1_rows",
    "eq13_ratio",
    "eq13_constant",
    "beta4_even_loss",
    "regularity_family",
    "regularity_family_alpha",
    "regularity_family_derivatives",
    "NetworkEoSRun",
    "track_network_eos",
    "AlphaProfile",
    "alpha_spectral_profile",
]


# --------------------------------------------------------------------------- validation






def _loss(l) -> ScalarLoss:
    if not isinstance(l, ScalarLoss):
        raise ValueError(f"l must be an eoslib.losses.ScalarLoss, got {type(l).__name__}")
    return l


def _etas(name: str, eta, lo: float) -> np.ndarray:
    """Validate a scalar or array of step sizes, all in (lo, inf)."""
    arr = np.asarray(eta, dtype=float)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or not np.all(arr > lo):
        raise ValueError(f"{name} must be real number(s) in ({lo:.10g}, inf), got {eta!r}")
    return arr


def _float_dtype():
    return jnp.result_type(float)


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
    alpha = float(3 * d[3] ** 2 - d[2] * d[4])
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


# --------------------------------------------------------------------------- Theorem 4.2: 2-cycle


class CyclePrediction(NamedTuple):
    """Leading-order shape of the 2-cycle: p_+- = z* + offset +- half_amplitude.

    Attributes:
      half_amplitude: a = sqrt(3 l2^2 mu / alpha), relative error O(sqrt(mu)).
      offset: m = -l3 a^2 / (2 l2).
    """

    half_amplitude: float | np.ndarray
    offset: float | np.ndarray


def _require_stable(m: MinimumDerivatives, what: str) -> None:
    if not m.alpha > 0:
        raise ValueError(
            f"{what} needs a product-stable minimum: alpha = 3 l3^2 - l2 l4 must be in (0, inf), got {m.alpha:.6g}"
        )


def cycle_amplitude_prediction(l: ScalarLoss, eta) -> CyclePrediction:
    """Asymptotic half-amplitude and centre offset of the period-2 cycle just above 2 / l2.

    Args:
      l: product-stable scalar loss (alpha > 0).
      eta: learning rate(s), in (2 / l2, inf); mu = eta l2 - 2.

    Returns:
      :class:`CyclePrediction` (a, m), floats or arrays like ``eta``.

    References:
      Gan (2026), Theorem 4.2 (shape derived in the companion sheet from the cubic
      normal form u -> u - 2 C u^3 with C = alpha / (3 l2^2)).
    """
    m = minimum_derivatives(l)
    _require_stable(m, "cycle_amplitude_prediction")
    e = _etas("eta", eta, 2.0 / m.l2)
    mu = e * m.l2 - 2
    a = np.sqrt(3 * m.l2**2 * mu / m.alpha)
    off = -m.l3 * a**2 / (2 * m.l2)
    if a.ndim == 0:
        return CyclePrediction(float(a), float(off))
    return CyclePrediction(a, off)


def _first_crossing_bisect(g: Callable[[Array], Array], t: Array, sign0: Array, iters: int) -> tuple[Array, Array]:
    """Root of g on the first grid cell of ``t`` where sign(g) leaves ``sign0``; bisection.

    Returns (t_root, found). t[0] must satisfy sign(g(t[0])) == sign0 (or g(t[0]) == 0 by design).
    """
    vals = jax.vmap(g)(t[1:])
    flip = jnp.sign(vals) == -sign0
    found = jnp.any(flip)
    k = jnp.argmax(flip) + 1
    lo, hi = t[k - 1], t[k]

    def body(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        same = jnp.sign(g(mid)) == sign0
        return jnp.where(same, mid, lo), jnp.where(same, hi, mid)

    lo, hi = lax.fori_loop(0, iters, body, (lo, hi))
    return 0.5 * (lo + hi), found


@functools.partial(jax.jit, static_argnames=("fn", "grid_size", "bisect_iters"))
def _cycle_kernel(fn, z_star, eta, a_guess, max_ratio, grid_size, bisect_iters):
    lp = jax.grad(fn)

    def phi(t):  # l'(p) + l'(p - eta l'(p)) along p = z* + a_guess t
        p = z_star + a_guess * t
        return lp(p) + lp(p - eta * lp(p))

    dtype = a_guess.dtype
    t = jnp.linspace(jnp.zeros((), dtype), max_ratio, grid_size + 1)
    # Above the threshold phi < 0 between z* and p_+ (the linear term -mu l2 u dominates).
    root, found = _first_crossing_bisect(phi, t, -jnp.ones((), dtype), bisect_iters)
    p_plus = z_star + a_guess * root
    p_minus = p_plus - eta * lp(p_plus)
    nan = jnp.full((), jnp.nan, dtype)
    return jnp.where(found, p_minus, nan), jnp.where(found, p_plus, nan)


def bifurcation_cycle(
    l: ScalarLoss, eta, *, max_ratio: float = 4.0, grid_size: int = 64, bisect_iters: int = 80
) -> tuple[Array, Array]:
    """The period-2 cycle {p_-, p_+} of z -> z - eta l'(z) born at eta = 2 / l2.

    Solves the cycle conditions p_+ - p_- = eta l'(p_+), l'(p_+) + l'(p_-) = 0 by
    eliminating p_- = p_+ - eta l'(p_+) and bracketing the first root of
    l'(p) + l'(p - eta l'(p)) on p = z* + a t, t in (0, max_ratio], where a is the
    asymptotic half-amplitude; bisection to machine precision. Vectorised over ``eta``.

    Args:
      l: product-stable scalar loss (alpha > 0).
      eta: learning rate(s), in (2 / l2, inf).
      max_ratio: search p_+ up to z* + max_ratio * a, in (0, inf).
      grid_size: sign-scan cells before bisection, integer in [2, 100000].
      bisect_iters: bisection steps, integer in [1, 200].

    Returns:
      (p_minus, p_plus), arrays shaped like ``eta``; NaN where no cycle was bracketed
      (eta too far above the threshold for the branch to exist in the search window).

    Raises:
      ValueError: if alpha <= 0 or eta is not above 2 / l2.

    References:
      Gan (2026), Theorem 4.2 and Lemma 5.1.
    """
    m = minimum_derivatives(l)
    _require_stable(m, "bifurcation_cycle")
    e = _etas("eta", eta, 2.0 / m.l2)
    max_ratio = _real("max_ratio", max_ratio, 0.0)
    grid_size = _int("grid_size", grid_size, 2, 100000)
    bisect_iters = _int("bisect_iters", bisect_iters, 1, 200)
    a = np.atleast_1d(cycle_amplitude_prediction(l, e).half_amplitude)
    dt = _float_dtype()
    z_star, ratio = jnp.asarray(m.z_star, dt), jnp.asarray(max_ratio, dt)
    kern = jax.vmap(lambda et, ag: _cycle_kernel(l.fn, z_star, et, ag, ratio, grid_size, bisect_iters))
    pm, pp = kern(jnp.asarray(np.atleast_1d(e), dt), jnp.asarray(a, dt))
    return pm.reshape(e.shape), pp.reshape(e.shape)


def cycle_residuals(l: ScalarLoss, eta, p_minus: Array, p_plus: Array) -> tuple[Array, Array]:
    """Residuals of the 2-cycle conditions: (p_+ - p_- - eta l'(p_+), l'(p_+) + l'(p_-)).

    Args:
      l: scalar loss.
      eta: learning rate (scalar or array broadcastable with the points).
      p_minus, p_plus: candidate cycle points.

    Returns:
      Both residuals; zero on an exact cycle.

    References:
      Gan (2026), Theorem 4.2.
    """
    lp = jnp.vectorize(jax.grad(_loss(l).fn))
    p_minus, p_plus = jnp.asarray(p_minus), jnp.asarray(p_plus)
    eta = jnp.asarray(eta, p_plus.dtype)
    return p_plus - p_minus - eta * lp(p_plus), lp(p_plus) + lp(p_minus)


def branch_slopes(l: ScalarLoss, eta, p_minus: Array, p_plus: Array) -> tuple[Array, Array, Array, Array]:
    """Implicit-function slopes dp_-/deta and dp_+/deta of the 2-cycle branches.

    Each branch point p solves F(p, eta) = l'(p) + l'(q) = 0 with its partner
    q = p - eta l'(p). Then dp/deta = -F_eta / F_p with F_eta = -l''(q) l'(p) and
    F_p = l''(p) + l''(q) (1 - eta l''(p)). A branch is smooth and monotone as long as
    F_p does not vanish on it (the argument of Lemma 5.1).

    Args:
      l: scalar loss.
      eta: learning rate(s), broadcastable with the points.
      p_minus, p_plus: the cycle (e.g. from :func:`bifurcation_cycle`).

    Returns:
      (dp_minus, dp_plus, Fp_minus, Fp_plus).

    References:
      Gan (2026), Lemma 5.1 (proof via the implicit function theorem).
    """
    fn = _loss(l).fn
    lp = jnp.vectorize(jax.grad(fn))
    lpp = jnp.vectorize(jax.grad(jax.grad(fn)))
    p_minus, p_plus = jnp.asarray(p_minus), jnp.asarray(p_plus)
    eta = jnp.asarray(eta, p_plus.dtype)

    def slope(p):
        g = lp(p)
        q = p - eta * g
        f_eta = -lpp(q) * g
        f_p = lpp(p) + lpp(q) * (1 - eta * lpp(p))
        return -f_eta / f_p, f_p

    dm, fm = slope(p_minus)
    dp, fp = slope(p_plus)
    return dm, dp, fm, fp


# --------------------------------------------------------------------------- Lemma B.1: lambda(z)


@functools.partial(jax.jit, static_argnames=("fn", "grid_size", "bisect_iters"))
def _inverse_kernel(fn, z_star, lam_c, z, max_ratio, grid_size, bisect_iters):
    lp = jax.grad(fn)
    dtype = z.dtype
    u = z - z_star
    side = jnp.where(u >= 0, jnp.ones((), dtype), -jnp.ones((), dtype))
    gz = lp(z)

    def g(t):  # l'(z) + l'(w) at the candidate partner w = z* - side |u| t
        return gz + lp(z_star - side * jnp.abs(u) * t)

    t = jnp.linspace(jnp.zeros((), dtype), max_ratio, grid_size + 1)
    root, found = _first_crossing_bisect(g, t, jnp.sign(gz), bisect_iters)
    w = z_star - side * jnp.abs(u) * root
    lam = (z - w) / gz
    lam = jnp.where(found & (gz != 0), lam, jnp.full((), jnp.nan, dtype))
    return jnp.where(u == 0, lam_c, lam)


def inverse_bifurcation(
    l: ScalarLoss, z, *, max_ratio: float = 4.0, grid_size: int = 64, bisect_iters: int = 80
) -> Array:
    """lambda(z): the step at which z is a point of the 2-cycle of z -> z - lambda l'(z).

    The non-trivial root of l'(z) + l'(z - lambda l'(z)) = 0: the partner point
    w = z - lambda l'(z) is the first root of l'(z) + l'(w) met when w moves from z*
    away to the other side, searched up to distance max_ratio |z - z*|, then
    lambda = (z - w) / l'(z). lambda(z*) := 2 / l2. In phase-space coordinates
    (z, lambda = eta s) this curve is the bifurcation diagram of the product model; it
    does not depend on eta.

    Args:
      l: scalar loss.
      z: point(s), any shape.
      max_ratio: partner search range relative to |z - z*|, in (0, inf).
      grid_size: sign-scan cells before bisection, integer in [2, 100000].
      bisect_iters: bisection steps, integer in [1, 200].

    Returns:
      lambda(z), shaped like ``z``; NaN where z has no partner (e.g. beyond an
      inflection point of l).

    References:
      Gan (2026), Lemma B.1 (lambda'(z*) = 0, lambda''(z*) = 2 alpha / (3 l2^3)).
    """
    m = minimum_derivatives(l)
    max_ratio = _real("max_ratio", max_ratio, 0.0)
    grid_size = _int("grid_size", grid_size, 2, 100000)
    bisect_iters = _int("bisect_iters", bisect_iters, 1, 200)
    z = jnp.asarray(z)
    if not jnp.issubdtype(z.dtype, jnp.floating):
        z = z.astype(_float_dtype())
    dt = z.dtype
    z_star, lam_c, ratio = jnp.asarray(m.z_star, dt), jnp.asarray(2.0 / m.l2, dt), jnp.asarray(max_ratio, dt)
    kern = jax.vmap(lambda zz: _inverse_kernel(l.fn, z_star, lam_c, zz, ratio, grid_size, bisect_iters))
    return kern(z.ravel()).reshape(z.shape)


def inverse_bifurcation_curvature(l: ScalarLoss) -> float:
    """lambda''(z*) = 2 alpha / (3 l2^3), the curvature of the bifurcation diagram at its tip.

    Args:
      l: scalar loss.

    Returns:
      The second derivative of lambda(z) at z*.

    References:
      Gan (2026), Lemma B.1.
    """
    m = minimum_derivatives(l)
    return 2 * m.alpha / (3 * m.l2**3)


# --------------------------------------------------------------------------- GD on l(xy)


class ProductTrajectory(NamedTuple):
    """Recorded GD iterates on f(x, y) = l(xy).

    Attributes:
      x, y: parameters, shape (num_steps // record_every + 1,).
      z: product xy.
      s: sharpness multiplier x^2 + y^2 (eta s is the effective step lambda).
      diverged_at: first step whose iterate was non-finite or left the ball
        x^2 + y^2 <= max_norm^2, -1 if never; the state is frozen from then on.
    """

    x: Array
    y: Array
    z: Array
    s: Array
    diverged_at: Array

    def report(self) -> str:
        """``"diverged at step k"`` or ``"ran N steps"``."""
        k = int(self.diverged_at)
        return f"diverged at step {k}" if k >= 0 else f"ran {self.x.shape[0] - 1} recorded intervals without diverging"


def _guarded_step(lp, eta, max_norm2):
    def step(state):
        x, y, div, t = state
        g = lp(x * y)
        xn, yn = x - eta * y * g, y - eta * x * g
        bad = ~(jnp.isfinite(xn) & jnp.isfinite(yn) & (xn * xn + yn * yn <= max_norm2))
        frozen = div >= 0
        newly = bad & ~frozen
        keep = frozen | bad
        return (
            jnp.where(keep, x, xn),
            jnp.where(keep, y, yn),
            jnp.where(newly, t + 1, div),
            t + 1,
        )

    return step


@functools.partial(jax.jit, static_argnames=("fn", "num_records", "record_every"))
def _gd_product_kernel(fn, eta, x0, y0, max_norm2, num_records, record_every):
    step = _guarded_step(jax.grad(fn), eta, max_norm2)

    def outer(state, _):
        state = lax.fori_loop(0, record_every, lambda _, s: step(s), state, unroll=min(record_every, 8))
        return state, (state[0], state[1])

    init = (x0, y0, jnp.asarray(-1, jnp.int32), jnp.asarray(0, jnp.int32))
    final, (xs, ys) = lax.scan(outer, init, None, length=num_records, unroll=4 if record_every == 1 else 1)
    xs = jnp.concatenate([x0[None], xs])
    ys = jnp.concatenate([y0[None], ys])
    return xs, ys, final[2]


def gd_product(
    l: ScalarLoss, eta: float, x0, y0, num_steps: int, *, record_every: int = 1, max_norm: float = 1e8
) -> ProductTrajectory:
    """GD on f(x, y) = l(xy) (Eqs. 2-3), recorded in phase-space variables.

    x' = x - eta y l'(xy), y' = y - eta x l'(xy); jit + ``lax.scan``. Float64 needs
    x64 enabled by the caller.

    Args:
      l: scalar loss.
      eta: learning rate, in (0, inf).
      x0, y0: initial point (see :func:`eos_init`).
      num_steps: GD steps, integer in [1, 10^8], a multiple of ``record_every``.
      record_every: record one iterate in this many, integer in [1, num_steps].
      max_norm: divergence radius on sqrt(x^2 + y^2), in (0, inf).

    Returns:
      :class:`ProductTrajectory` with ``num_steps // record_every + 1`` records.

    References:
      Gan (2026), Eqs. 1-3.
    """
    l = _loss(l)
    eta = _real("eta", eta, 0.0)
    num_steps = _int("num_steps", num_steps, 1, 10**8)
    record_every = _int("record_every", record_every, 1, num_steps)
    if num_steps % record_every:
        raise ValueError(f"num_steps must be a multiple of record_every={record_every}, got {num_steps}")
    max_norm = _real("max_norm", max_norm, 0.0)
    dt = _float_dtype()
    xs, ys, div = _gd_product_kernel(
        l.fn, jnp.asarray(eta, dt), jnp.asarray(x0, dt), jnp.asarray(y0, dt),
        jnp.asarray(max_norm**2, dt), num_steps // record_every, record_every,
    )
    return ProductTrajectory(xs, ys, xs * ys, xs * xs + ys * ys, div)


@functools.partial(jax.jit, static_argnames=("fn", "chunk"))
def _gd_until_kernel(fn, eta, x0, y0, max_steps, grad_tol, chunk):
    lp = jax.grad(fn)

    def one(_, xy):
        x, y = xy
        g = lp(x * y)
        return x - eta * y * g, y - eta * x * g

    def cond(state):
        x, y, t = state
        g = lp(x * y)
        return (t < max_steps) & ~(jnp.abs(g) < grad_tol) & jnp.isfinite(g)

    def body(state):
        x, y, t = state
        x, y = lax.fori_loop(0, chunk, one, (x, y), unroll=8)
        return x, y, t + chunk

    return lax.while_loop(cond, body, (x0, y0, jnp.asarray(0, jnp.int32)))


def gd_product_until(
    l: ScalarLoss, eta: float, x0, y0, *, max_steps: int = 3_000_000, grad_tol: float = 1e-13, chunk: int = 1000
) -> tuple[Array, Array, int]:
    """Continue GD on l(xy) without recording until |l'(xy)| < grad_tol or max_steps.

    Convergence is tested every ``chunk`` steps, so the run may go up to chunk - 1
    steps past the first iterate that meets the tolerance (which only tightens it).

    Args:
      l: scalar loss.
      eta: learning rate, in (0, inf).
      x0, y0: starting point.
      max_steps: step budget, integer in [1, 10^9].
      grad_tol: stop once |l'(x y)| < grad_tol, in (0, inf).
      chunk: steps between convergence tests, integer in [1, 100000].

    Returns:
      (x, y, steps_taken).

    References:
      Gan (2026), Theorem 4.3 (convergence to the minimum manifold).
    """
    l = _loss(l)
    eta = _real("eta", eta, 0.0)
    max_steps = _int("max_steps", max_steps, 1, 10**9)
    grad_tol = _real("grad_tol", grad_tol, 0.0)
    chunk = _int("chunk", chunk, 1, 100000)
    dt = _float_dtype()
    x, y, t = _gd_until_kernel(
        l.fn, jnp.asarray(eta, dt), jnp.asarray(x0, dt), jnp.asarray(y0, dt), jnp.asarray(max_steps, jnp.int32),
        jnp.asarray(grad_tol, dt), chunk,
    )
    return x, y, int(t)


class LimitRuns(NamedTuple):
    """Final states of many GD runs on l(xy) from :func:`eos_init` starts (see :func:`limit_runs`).

    All arrays share the broadcast shape of (etas, mu0s, dz0s).

    Attributes:
      eta, mu0, dz0: the settings of each run.
      x, y: final parameters (the last valid iterate for a diverged run).
      z: final product x y.
      s: final x^2 + y^2.
      sharpness: top Hessian eigenvalue at the final iterate (:func:`product_sharpness`).
      limit_sharpness: s l''(z*), the sharpness of the limit point on the minimum manifold
        (Lemma 3.1). The final iterate sits a round-off distance u ~ 1e-11 from z*, which
        moves ``sharpness`` by O(s l3 u) but s only by O(u^2): this is the number to compare
        with Theorem 5.2 at small eta.
      grad: final |l'(x y)|.
      steps: GD steps taken (a multiple of ``chunk``; the step cap if never converged).
      converged: |l'(x y)| < grad_tol and no divergence.
      diverged_at: first step whose iterate was non-finite or left the ball of radius
        max_norm, -1 if never.
    """

    eta: np.ndarray
    mu0: np.ndarray
    dz0: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    s: np.ndarray
    sharpness: np.ndarray
    limit_sharpness: np.ndarray
    grad: np.ndarray
    steps: np.ndarray
    converged: np.ndarray
    diverged_at: np.ndarray

    def reports(self) -> list[str]:
        """One line per run: ``"converged after k steps"``, ``"diverged at step k"`` or ``"not converged"``."""
        out = []
        for c, d, k in zip(self.converged.ravel(), self.diverged_at.ravel(), self.steps.ravel()):
            out.append(f"diverged at step {int(d)}" if d >= 0 else
                       f"converged after {int(k)} steps" if c else f"not converged after {int(k)} steps")
        return out


@functools.partial(jax.jit, static_argnames=("fn", "chunk"))
def _limit_kernel(fn, eta, x0, y0, max_steps, grad_tol, max_norm2, chunk):
    lp = jax.grad(fn)

    def single(et, xa, ya):
        step = _guarded_step(lp, et, max_norm2)

        def cond(st):
            x, y, div, t = st
            return (t < max_steps) & ~(jnp.abs(lp(x * y)) < grad_tol) & (div < 0)

        def body(st):
            return lax.fori_loop(0, chunk, lambda _, s: step(s), st, unroll=8)

        init = (xa, ya, jnp.asarray(-1, jnp.int32), jnp.asarray(0, jnp.int32))
        return lax.while_loop(cond, body, init)

    # vmap of a while_loop runs until every lane is done; finished lanes are frozen.
    return jax.vmap(single)(eta, x0, y0)


def limit_runs(
    l: ScalarLoss,
    etas,
    mu0s,
    dz0s,
    *,
    max_steps: int = 3_000_000,
    grad_tol: float = 1e-13,
    chunk: int = 1000,
    max_norm: float = 1e8,
) -> LimitRuns:
    """Run GD on l(xy) to convergence (or divergence) from EoS starts, all settings in one vmapped loop.

    Each run starts at :func:`eos_init` (eta, mu0, dz0) and stops once |l'(x y)| < grad_tol
    (tested every ``chunk`` steps), once it diverges, or at ``max_steps``. Below about
    |l'| ~ 1e-12 the iteration can stall in round-off (the large coordinate x ~ eta^(-1/2)
    stops changing in its last bit); such runs use up the step cap, which is harmless
    because the final state no longer moves.

    Args:
      l: scalar loss.
      etas, mu0s, dz0s: learning rates in (0, inf), initial excesses eta s0 l2 - 2 in
        (-2, inf) and offsets x0 y0 - z*; broadcast against each other.
      max_steps: step cap per run, integer in [1, 10^9].
      grad_tol: convergence test |l'(xy)| < grad_tol, in (0, inf).
      chunk: steps between tests, integer in [1, 100000].
      max_norm: divergence radius on sqrt(x^2 + y^2), in (0, inf).

    Returns:
      :class:`LimitRuns` with numpy arrays of the broadcast shape.

    References:
      Gan (2026), Theorems 4.3 and 5.2.
    """
    l = _loss(l)
    e = _etas("etas", etas, 0.0)
    mu = np.asarray(mu0s, dtype=float)
    if mu.size == 0 or not np.all(np.isfinite(mu)) or not np.all(mu > -2):
        raise ValueError(f"mu0s must be real number(s) in (-2, inf), got {mu0s!r}")
    dz = np.asarray(dz0s, dtype=float)
    if dz.size == 0 or not np.all(np.isfinite(dz)):
        raise ValueError(f"dz0s must be finite real number(s), got {dz0s!r}")
    max_steps = _int("max_steps", max_steps, 1, 10**9)
    grad_tol = _real("grad_tol", grad_tol, 0.0)
    chunk = _int("chunk", chunk, 1, 100000)
    max_norm = _real("max_norm", max_norm, 0.0)
    e, mu, dz = np.broadcast_arrays(e, mu, dz)
    shape = e.shape
    starts = np.array([eos_init(l, float(a), float(b), float(c)) for a, b, c in zip(e.ravel(), mu.ravel(), dz.ravel())])
    dt = _float_dtype()
    x, y, div, t = _limit_kernel(
        l.fn, jnp.asarray(e.ravel(), dt), jnp.asarray(starts[:, 0], dt), jnp.asarray(starts[:, 1], dt),
        jnp.asarray(max_steps, jnp.int32), jnp.asarray(grad_tol, dt), jnp.asarray(max_norm**2, dt), chunk,
    )
    g = np.abs(np.asarray(jax.vmap(jax.grad(l.fn))(x * y)))
    div = np.asarray(div)
    S = np.asarray(product_sharpness(l, x, y))
    x, y = np.asarray(x), np.asarray(y)
    return LimitRuns(
        eta=e.copy(), mu0=mu.copy(), dz0=dz.copy(),
        x=x.reshape(shape), y=y.reshape(shape), z=(x * y).reshape(shape), s=(x * x + y * y).reshape(shape),
        sharpness=S.reshape(shape), limit_sharpness=((x * x + y * y) * minimum_derivatives(l).l2).reshape(shape),
        grad=g.reshape(shape), steps=np.asarray(t).reshape(shape),
        converged=((g < grad_tol) & (div < 0)).reshape(shape), diverged_at=div.reshape(shape),
    )


def gd_scalar_final(
    l: ScalarLoss, eta, z0: float, num_steps: int, *, max_norm: float = 1e8
) -> tuple[Array, Array, Array]:
    """Final two iterates of 1-D GD z -> z - eta l'(z) (Eq. 5), vectorised over eta.

    A thin wrapper of :func:`eoslib.gd.sweep_final` (one compiled, vmapped loop).

    Args:
      l: scalar loss.
      eta: learning rate(s), each in (0, inf).
      z0: starting point, a real number.
      num_steps: GD steps T, integer in [1, 10^9].
      max_norm: |z| above this (or non-finite) counts as diverged/escaped; the state is
        frozen at the last valid iterate. In (0, inf).

    Returns:
      (z_T, z_{T+1}, diverged_at), each shaped like ``eta``: the last iterate, one more
      step (together one period of a 2-cycle), and the first step whose iterate was
      invalid (-1 if none).

    References:
      Gan (2026), Eq. 5 and Theorem 4.2.
    """
    from eoslib import gd  # local: eoslib.gd is a sibling module with its own jit caches

    l = _loss(l)
    e = _etas("eta", eta, 0.0)
    z0 = _real("z0", z0)
    num_steps = _int("num_steps", num_steps, 1, 10**9)
    max_norm = _real("max_norm", max_norm, 0.0)
    dt = _float_dtype()
    zt, div = gd.sweep_final(l.fn, jnp.asarray(z0, dt), jnp.asarray(e.ravel(), dt), num_steps, max_norm=max_norm)
    lp = jax.vmap(jax.grad(l.fn))
    zt1 = zt - jnp.asarray(e.ravel(), dt) * lp(zt)
    return zt.reshape(e.shape), zt1.reshape(e.shape), div.reshape(e.shape)


def eos_init(l: ScalarLoss, eta: float, mu0: float, dz0: float) -> tuple[float, float]:
    """Edge-of-stability initialisation with eta (x0^2 + y0^2) l2 = 2 + mu0 and x0 y0 = z* + dz0.

    s0 = (2 + mu0) / (eta l2), z0 = z* + dz0,
    x0 = (sqrt(s0 + 2 z0) + sqrt(s0 - 2 z0)) / 2, y0 = (sqrt(s0 + 2 z0) - sqrt(s0 - 2 z0)) / 2.

    Args:
      l: scalar loss.
      eta: learning rate, in (0, inf).
      mu0: initial normalised excess lambda_0 l2 - 2, in (-2, inf).
      dz0: initial offset of the product from z*, real; needs s0 > 2 |z0|.

    Returns:
      (x0, y0) as Python floats.

    Raises:
      ValueError: on out-of-range input, or if s0 <= 2 |z* + dz0| (no real solution).

    References:
      Gan (2026), Theorem 4.3 (Eqs. 7-8; exact form uncertain, this is the sheet's realisation).
    """
    eta = _real("eta", eta, 0.0)
    mu0 = _real("mu0", mu0, -2.0)
    dz0 = _real("dz0", dz0)
    m = minimum_derivatives(l)
    s0 = (2 + mu0) / (eta * m.l2)
    z0 = m.z_star + dz0
    if not s0 > 2 * abs(z0):
        raise ValueError(
            f"dz0 must keep |z* + dz0| < s0 / 2 = {s0 / 2:.6g} (x0, y0 real), got dz0={dz0!r}"
        )
    a, b = math.sqrt(s0 + 2 * z0), math.sqrt(s0 - 2 * z0)
    return 0.5 * (a + b), 0.5 * (a - b)


# --------------------------------------------------------------------------- Figure 2: phase space


class PhaseSpaceRun(NamedTuple):
    """GD on l(xy) from an EoS start, in phase-space coordinates (z, lambda = eta s).

    Attributes:
      z: product x_t y_t for every step t = 0..record_steps (numpy).
      lam: effective step eta (x_t^2 + y_t^2), same length.
      z_final: product after the continuation run.
      lam_final: effective step after the continuation run.
      steps: total GD steps (recorded + continuation).
      converged: whether |l'(z_final)| < grad_tol was reached within the budget.
    """

    z: np.ndarray
    lam: np.ndarray
    z_final: float
    lam_final: float
    steps: int
    converged: bool


def phase_space_run(
    l: ScalarLoss,
    eta: float,
    mu0: float,
    dz0: float,
    *,
    record_steps: int = 200_000,
    max_steps: int = 3_000_000,
    grad_tol: float = 1e-10,
) -> PhaseSpaceRun:
    """Record every step of GD on l(xy) from :func:`eos_init`, then run on to convergence.

    Args:
      l: scalar loss.
      eta: learning rate, in (0, inf).
      mu0: initial excess eta s0 l2 - 2, in (-2, inf).
      dz0: initial offset x0 y0 - z*.
      record_steps: steps recorded in full (Phases I-II), integer in [1, 10^8].
      max_steps: budget of the continuation run (Phase III), integer in [1, 10^9].
      grad_tol: convergence test |l'(xy)| < grad_tol of the continuation, in (0, inf).
        Below about 1e-12 round-off in the large coordinate x ~ eta^(-1/2) stalls the
        iteration, so smaller values only exhaust the budget.

    Returns:
      :class:`PhaseSpaceRun`.

    References:
      Gan (2026), Section 5 and Figure 2.
    """
    x0, y0 = eos_init(l, eta, mu0, dz0)
    tr = gd_product(l, eta, x0, y0, record_steps)
    x, y, k = gd_product_until(l, eta, tr.x[-1], tr.y[-1], max_steps=max_steps, grad_tol=grad_tol)
    g = float(jax.grad(l.fn)(x * y))
    return PhaseSpaceRun(
        np.asarray(tr.z), eta * np.asarray(tr.s), float(x * y), float(eta * (x * x + y * y)),
        record_steps + k, bool(abs(g) < grad_tol),
    )


class PhaseSummary(NamedTuple):
    """The Figure 2 statistics of a :class:`PhaseSpaceRun`.

    Attributes:
      lag: predicted Phase II lag lambda_t - lambda(z_t) = -3 eta^2 l2^3 / alpha.
      t_reach: first t (searched in the first ``reach_window`` steps) with
        |lambda_t - lambda(z_t)| <= band |lag|; -1 if none (Phase I, Lemma B.3).
      deviation_at: {t: (lambda_t - lambda(z_t)) / |lag|} at the requested steps.
      t_end: last recorded t with lambda_t > 2 / l2 (end of Phase II).
      phase2_recorded: True if lambda is below 2 / l2 at the end of the record.
      max_two_step_increase: max over t >= monotone_from with lambda_t > 2/l2 of
        (s_{t+2} - s_t) / s_t; negative means s decreased every two steps (Lemma B.5).
      num_increases: number of such t with s_{t+2} > s_t.
      max_straddle: max over t in [t_reach, t_end) of (z_t - z*)(z_{t+1} - z*); negative
        means the iterates alternate sides of z* throughout Phase II.
      final_offset: |z_T - z*| at the end of the continuation.
      final_lag_ratio: (lambda_T - 2/l2) / lag; Theorem 5.2 predicts 1 + O(eta^2).
    """

    lag: float
    t_reach: int
    deviation_at: dict
    t_end: int
    phase2_recorded: bool
    max_two_step_increase: float
    num_increases: int
    max_straddle: float
    final_offset: float
    final_lag_ratio: float


def phase_summary(
    l: ScalarLoss,
    eta: float,
    run: PhaseSpaceRun,
    *,
    band: float = 2.0,
    reach_window: int = 2000,
    monotone_from: int = 20,
    deviation_steps: tuple[int, ...] = (100, 1000, 5000),
) -> PhaseSummary:
    """Phase I-III statistics of a phase-space run against the diagram lambda(z).

    Args:
      l: product-stable scalar loss.
      eta: the run's learning rate, in (0, inf).
      run: output of :func:`phase_space_run`.
      band: Phase I has ended once |lambda_t - lambda(z_t)| <= band |lag|, in (0, inf).
      reach_window: steps searched for that event, integer in [1, len(run.z)].
      monotone_from: first step of the two-step monotonicity test, integer >= 0.
      deviation_steps: steps at which lambda_t - lambda(z_t) is reported (those beyond
        the record are skipped).

    Returns:
      :class:`PhaseSummary`.

    References:
      Gan (2026), Lemmas B.1, B.3-B.8 and Theorem 5.2 (statements reconstructed).
    """
    m = minimum_derivatives(l)
    lag = phase2_lag(l, eta)
    band = _real("band", band, 0.0)
    n = run.z.shape[0]
    reach_window = _int("reach_window", reach_window, 1, n)
    monotone_from = _int("monotone_from", monotone_from, 0, n)
    lam_c = 2 / m.l2
    lam_z = np.asarray(inverse_bifurcation(l, run.z[:reach_window]))
    dev = np.abs(run.lam[:reach_window] - lam_z)
    hit = np.nonzero(dev <= band * abs(lag))[0]
    t_reach = int(hit[0]) if hit.size else -1
    steps = [t for t in deviation_steps if 0 <= t < n]
    lam_at = np.asarray(inverse_bifurcation(l, run.z[steps])) if steps else np.zeros(0)
    deviation_at = {t: float((run.lam[t] - v) / abs(lag)) for t, v in zip(steps, lam_at)}
    above = np.nonzero(run.lam > lam_c)[0]
    t_end = int(above[-1]) if above.size else -1
    s = run.lam / eta
    t = np.arange(monotone_from, n - 2)
    mask = run.lam[t] > lam_c
    inc = (s[t + 2] - s[t]) / s[t]
    max_inc = float(inc[mask].max()) if mask.any() else -math.inf
    lo = max(t_reach, 0)
    u = run.z - m.z_star
    straddle = u[lo:t_end] * u[lo + 1 : t_end + 1] if t_end > lo else np.full(1, -math.inf)
    return PhaseSummary(
        lag=lag,
        t_reach=t_reach,
        deviation_at=deviation_at,
        t_end=t_end,
        phase2_recorded=bool(run.lam[-1] <= lam_c),
        max_two_step_increase=max_inc,
        num_increases=int(np.sum(inc[mask] > 0)),
        max_straddle=float(straddle.max()),
        final_offset=abs(run.z_final - m.z_star),
        final_lag_ratio=(run.lam_final - lam_c) / lag,
    )


# --------------------------------------------------------------------------- Theorem 5.2


def limit_gap_coefficient(l: ScalarLoss) -> float:
    """G = 3 l2^4 / alpha: the predicted gap 2/eta - S_inf is G eta + o(eta).

    Args:
      l: product-stable scalar loss.

    Returns:
      G.

    References:
      Gan (2026), Theorem 5.2 (value validated numerically in the sheet; printed form unknown).
    """
    m = minimum_derivatives(l)
    _require_stable(m, "limit_gap_coefficient")
    return 3 * m.l2**4 / m.alpha


def predicted_limit_sharpness(l: ScalarLoss, eta) -> float | np.ndarray:
    """S_inf = 2/eta - 3 eta l2^4 / alpha + o(eta): the sharpness GD on l(xy) converges to.

    Args:
      l: product-stable scalar loss (alpha > 0).
      eta: learning rate(s), in (0, inf).

    Returns:
      The leading-order prediction (float or array like ``eta``).

    References:
      Gan (2026), Theorem 5.2.
    """
    e = _etas("eta", eta, 0.0)
    out = 2 / e - limit_gap_coefficient(l) * e
    return float(out) if out.ndim == 0 else out


def predicted_limit_lambda(l: ScalarLoss, eta) -> float | np.ndarray:
    """lambda_inf = eta s_inf = 2 / l2 - 3 eta^2 l2^3 / alpha (Theorem 5.2 in phase-space units).

    Args:
      l: product-stable scalar loss.
      eta: learning rate(s), in (0, inf).

    Returns:
      The predicted limit of eta (x^2 + y^2).

    References:
      Gan (2026), Theorem 5.2.
    """
    m = minimum_derivatives(l)
    _require_stable(m, "predicted_limit_lambda")
    e = _etas("eta", eta, 0.0)
    out = 2 / m.l2 - 3 * e**2 * m.l2**3 / m.alpha
    return float(out) if out.ndim == 0 else out


def phase2_lag(l: ScalarLoss, eta) -> float | np.ndarray:
    """Predicted lag lambda_t - lambda(z_t) = -3 eta^2 l2^3 / alpha of GD behind the diagram.

    Args:
      l: product-stable scalar loss.
      eta: learning rate(s), in (0, inf).

    Returns:
      The (negative) lag; it equals lambda_inf - 2 / l2.

    References:
      Gan (2026), Lemmas B.4-B.7 (slow-fast reduction; exact statements not recovered).
    """
    m = minimum_derivatives(l)
    _require_stable(m, "phase2_lag")
    e = _etas("eta", eta, 0.0)
    out = -3 * e**2 * m.l2**3 / m.alpha
    return float(out) if out.ndim == 0 else out


def predicted_phase3_rate(l: ScalarLoss, eta) -> float | np.ndarray:
    """log(1 + mu_inf) with mu_inf = -3 eta^2 l2^4 / alpha: the per-step log-rate of Phase III.

    Near the limit, one step maps u = z - z* to -(1 + mu) u with mu = lambda l2 - 2, so
    |u_t| ~ (1 + mu_inf)^t once lambda has settled at lambda_inf.

    Args:
      l: product-stable scalar loss.
      eta: learning rate(s), in (0, inf) with 3 eta^2 l2^4 / alpha < 1.

    Returns:
      The (negative) rate per step, float or array like ``eta``.

    References:
      Gan (2026), Lemma B.8 (linear convergence in Phase III).
    """
    m = minimum_derivatives(l)
    _require_stable(m, "predicted_phase3_rate")
    e = _etas("eta", eta, 0.0)
    mu_inf = -3 * e**2 * m.l2**4 / m.alpha
    if np.any(mu_inf <= -1):
        raise ValueError(f"eta must keep 3 eta^2 l2^4 / alpha in (0, 1), got eta={eta!r}")
    out = np.log1p(mu_inf)
    return float(out) if out.ndim == 0 else out


def fit_log_rate(u, *, lo: float = 1e-10, hi: float = 1e-4, record_every: int = 1) -> tuple[float, int]:
    """Least-squares slope of log|u_t| per step over the tail where lo <= |u_t| <= hi.

    The window starts after the last record with |u_t| > hi, so transients that come back
    above ``hi`` are excluded, and ends at the first record below ``lo`` (round-off floor).

    Args:
      u: recorded deviations z_t - z* (1-D), one every ``record_every`` steps.
      lo, hi: window on |u|, 0 < lo < hi.
      record_every: steps between records, integer in [1, inf).

    Returns:
      (slope per step, number of records used).

    Raises:
      ValueError: if fewer than 3 records fall in the window.

    References:
      Gan (2026), Lemma B.8.
    """
    lo = _real("lo", lo, 0.0)
    hi = _real("hi", hi, lo)
    record_every = _int("record_every", record_every, 1)
    a = np.abs(np.asarray(u, dtype=float).ravel())
    above = np.nonzero(a > hi)[0]
    start = int(above[-1]) + 1 if above.size else 0
    below = np.nonzero(a[start:] < lo)[0]
    stop = start + int(below[0]) if below.size else a.size
    t = np.arange(start, stop)
    if t.size < 3:
        raise ValueError(f"u must have at least 3 records with lo <= |u| <= hi after the last |u| > hi, got {t.size}")
    slope = np.polyfit(t * record_every, np.log(a[start:stop]), 1)[0]
    return float(slope), int(t.size)


# --------------------------------------------------------------------------- Section 6 and Table 1


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
    |l'| < 3 pi / 2 - 2, so it is convex and Lipschitz (constant about 2.71, not 1).

    Returns:
      The loss, with z* = 0.

    References:
      Gan (2026), caveat to Lemma 6.4 (Ahn et al.'s Assumption 6.3 with beta > 2).
    """
    return ScalarLoss("beta4_even", _beta4_even, 0.0,
                      r"3\left(z\arctan z-\tfrac12\log(1+z^2)\right)-2\left(\sqrt{1+z^2}-1\right)")


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

    Eq. 14 was not recovered from the source; this is the companion sheet's candidate.
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
    l2, l3, l4 = (np.asarray(v).reshape(p_a.shape) for v in d)
    return {"l2": l2, "l3": l3, "l4": l4, "alpha": 3 * l3**2 - l2 * l4}


@jax.jit
def _regularity_derivs(p, c, mu):
    def one(pp, cc, mm):
        g = lambda z: _regularity_value(z, pp, cc, mm)  # noqa: E731
        d2 = jax.grad(jax.grad(g))
        d3 = jax.grad(d2)
        d4 = jax.grad(d3)
        return d2(mm), d3(mm), d4(mm)

    return jax.vmap(one)(p, c, mu)


# --------------------------------------------------------------------------- Section 7 and Figure 5: networks


class NetworkEoSRun(NamedTuple):
    """Full-batch GD on a network with sharpness tracking and product-stability evaluations.

    Attributes:
      eta: learning rate.
      steps, loss: loss records (``steps`` are GD step indices).
      eig_steps, sharpness: top Hessian eigenvalue (Lanczos) at ``eig_steps``.
      alpha_steps: steps at which Definition 7.1 was evaluated.
      alpha: one :class:`eoslib.stability.ProductStability` per ``alpha_steps`` entry.
      weights: ``(len(alpha_steps), D)`` parameters at ``alpha_steps`` (for follow-up
        evaluations, e.g. a cutoff profile).
      diverged_at: first invalid step, -1 if none (the run stops there).
      from_cache: True if every training segment came from the ``eoslib.train`` cache.
    """

    eta: float
    steps: np.ndarray
    loss: np.ndarray
    eig_steps: np.ndarray
    sharpness: np.ndarray
    alpha_steps: np.ndarray
    alpha: list
    weights: np.ndarray
    diverged_at: int
    from_cache: bool

    def alpha_array(self, field: str = "alpha") -> np.ndarray:
        """One attribute of every evaluation as an array, e.g. ``"third_term"`` or ``"fourth_term"``."""
        return np.array([getattr(a, field) for a in self.alpha], dtype=float)


def track_network_eos(
    f: Callable[[Array], Array],
    w0,
    eta: float,
    num_steps: int,
    *,
    eig_every: int = 20,
    alpha_every: int = 200,
    evaluate: Callable[[Array], object] | None = None,
    eig_tol: float = 1e-5,
    eig_max_iter: int = 100,
    settings: dict | None = None,
    cache_dir=None,
    progress: bool = False,
) -> NetworkEoSRun:
    """GD on a flat-parameter loss, with Definition 7.1 evaluated every ``alpha_every`` steps.

    Training runs in segments of ``alpha_every`` steps through :func:`eoslib.train.train_gd`
    (sharpness by warm-started Lanczos every ``eig_every`` steps; each segment is cached
    when ``settings`` is given, keyed by the settings, the segment index and the segment's
    starting point). At the end of every segment it calls ``evaluate(w)``.

    Args:
      f: training loss of the flat parameters (e.g. from :func:`eoslib.nets.flat_loss`).
      w0: initial parameters, shape (D,).
      eta: learning rate, in (0, inf).
      num_steps: GD steps, integer in [1, 10^8], a multiple of ``alpha_every``.
      eig_every: sharpness stride, integer in [1, alpha_every].
      alpha_every: product-stability stride, integer in [1, num_steps].
      evaluate: ``w -> result`` with attributes ``alpha``, ``third_term``, ``fourth_term``
        and ``lambda_max`` (an :class:`eoslib.stability.ProductStability` or an
        :class:`AlphaProfile`); default
        ``multivariate_product_stability(f, w, solver="topk", k=20)``.
      eig_tol, eig_max_iter: Lanczos settings of the sharpness tracking.
      settings: JSON-like dict naming the dataset, network, loss and seed; enables the cache.
      cache_dir: cache directory (default: ``eoslib.train.default_cache_dir()``).
      progress: progress bars.

    Returns:
      :class:`NetworkEoSRun` (``alpha_steps`` = alpha_every, 2 alpha_every, ..., num_steps,
      fewer if the run diverged).

    References:
      Gan (2026), Section 7, Definition 7.1 and Figure 5.
    """
    from eoslib import stability, train  # local: heavy optional dependencies of Figure 5 only

    eta = _real("eta", eta, 0.0)
    num_steps = _int("num_steps", num_steps, 1, 10**8)
    alpha_every = _int("alpha_every", alpha_every, 1, num_steps)
    if num_steps % alpha_every:
        raise ValueError(f"num_steps must be a multiple of alpha_every={alpha_every}, got {num_steps}")
    eig_every = _int("eig_every", eig_every, 1, alpha_every)
    if evaluate is None:
        def evaluate(w):
            return stability.multivariate_product_stability(f, w, solver="topk", k=20)
    w = jnp.asarray(w0)
    steps, loss, eig_steps, sharp, a_steps, alphas, weights = [], [], [], [], [], [], []
    diverged_at, cached = -1, True
    for seg in range(num_steps // alpha_every):
        t0 = seg * alpha_every
        seg_settings = None if settings is None else {**settings, "segment": seg, "segment_start": t0}
        run = train.train_gd(f, w, eta, alpha_every, log_every=eig_every, eig_every=eig_every, eig_tol=eig_tol,
                             eig_max_iter=eig_max_iter, progress=progress, settings=seg_settings,
                             cache_dir=cache_dir)
        cached = cached and run.from_cache
        keep = slice(None) if seg == 0 else slice(1, None)  # a segment's start repeats the previous end
        steps.append(run.steps[keep] + t0)
        loss.append(run.loss[keep])
        eig_steps.append(run.eig_steps[keep] + t0)
        sharp.append(run.sharpness[keep])
        w = jnp.asarray(run.w)
        if run.diverged:
            diverged_at = t0 + run.diverged_at
            break
        a_steps.append(t0 + alpha_every)
        alphas.append(evaluate(w))
        weights.append(np.asarray(w))
    return NetworkEoSRun(
        eta=eta, steps=np.concatenate(steps), loss=np.concatenate(loss), eig_steps=np.concatenate(eig_steps),
        sharpness=np.concatenate(sharp), alpha_steps=np.asarray(a_steps, dtype=np.int64), alpha=alphas,
        weights=np.stack(weights) if weights else np.zeros((0, int(w.shape[0]))),
        diverged_at=int(diverged_at), from_cache=bool(cached),
    )


class AlphaProfile(NamedTuple):
    """Definition 7.1 with the pseudoinverse truncated to the top k Hessian eigenpairs, for every k.

    Attributes:
      eigenvalues: top K Hessian eigenvalues (descending).
      overlaps: T_vv . v_i for the eigenvectors v_i.
      alpha_by_k: alpha(k) = 3 sum_{i <= k} (T_vv . v_i)^2 / lambda_i - Q_vvvv, k = 1..K.
      fourth_term: Q_vvvv.
      num_hvps: Hessian-vector products of the Lanczos call.
      converged: whether Lanczos met its tolerance.
    """

    eigenvalues: np.ndarray
    overlaps: np.ndarray
    alpha_by_k: np.ndarray
    fourth_term: float
    num_hvps: int
    converged: bool

    @property
    def alpha(self) -> float:
        """alpha(K): the pseudoinverse truncated to all K pairs (= ``solver="topk"`` of eoslib.stability)."""
        return float(self.alpha_by_k[-1])

    @property
    def third_term(self) -> float:
        """3 T_vv^T H_K^+ T_vv with the K-pair truncated pseudoinverse."""
        return float(self.alpha_by_k[-1] + self.fourth_term)

    @property
    def lambda_max(self) -> float:
        """Top Hessian eigenvalue."""
        return float(self.eigenvalues[0])


def alpha_spectral_profile(
    f: Callable[[Array], Array], w, k: int, *, tol: float = 1e-6, max_iter: int = 300
) -> AlphaProfile:
    """The cutoff dependence of the multivariate product-stability, from one Lanczos call.

    With the top k eigenpairs (lambda_i, v_i) of the Hessian at w, the spectral
    pseudoinverse truncated after i pairs gives alpha(i) = 3 sum_{j <= i} (T_vv . v_j)^2 /
    lambda_j - Q_vvvv. Every term with lambda_j > 0 is positive, so alpha(i) grows as
    smaller eigenvalues are kept: the value depends on the cutoff, and this profile shows
    by how much.

    Args:
      f: scalar loss of flat parameters.
      w: point, shape (D,).
      k: number of eigenpairs, integer in [1, D].
      tol: Lanczos relative residual tolerance, in (0, inf).
      max_iter: Lanczos HVP cap, integer in [k, inf).

    Returns:
      :class:`AlphaProfile`.

    References:
      Gan (2026), Def. 7.1 and Appendix D (pseudoinverse); Mulayoff & Stich (2026), Thm 7.
    """
    from eoslib import curvature  # local: keeps the scalar part of this module light

    w = jnp.asarray(w)
    k = _int("k", k, 1, int(w.shape[0]))
    tol = _real("tol", tol, 0.0)
    max_iter = _int("max_iter", max_iter, k)
    res = curvature.top_eigenpairs(f, w, k, tol=tol, max_iter=max_iter)
    lam = np.asarray(res.eigenvalues, dtype=float)
    if not lam[0] > 0:
        raise ValueError(f"the top Hessian eigenvalue at w is {lam[0]:.6g}; product-stability needs it in (0, inf)")
    vecs = res.eigenvectors
    v = vecs[:, 0]
    t = _t_vv_jit(f, w, v)
    q = float(_q4_jit(f, w, v))
    overlaps = np.asarray(vecs.T @ t, dtype=float)
    alpha_by_k = 3 * np.cumsum(overlaps**2 / lam) - q
    return AlphaProfile(lam, overlaps, alpha_by_k, q, int(res.num_iterations), bool(res.converged))


@functools.partial(jax.jit, static_argnums=0)
def _t_vv_jit(f, w, v):
    from eoslib import curvature

    return curvature.third_derivative_vv(f, w, v)


@functools.partial(jax.jit, static_argnums=0)
def _q4_jit(f, w, v):
    from eoslib import curvature

    return curvature.directional_derivative(f, w, v, 4)
