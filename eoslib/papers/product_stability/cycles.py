"""The period-2 cycle of z -> z - eta l'(z) and its bifurcation diagram (Theorem 4.2, Lemmas 5.1, B.1).

* Theorem 4.2: the cycle {p_-, p_+} solved from its defining equations, and its asymptotic
  half-amplitude and offset (reconstructed; see the book's Reconstructions page).
* Lemma 5.1: implicit-function slopes of the branches p_+-(eta).
* Lemma B.1: the inverse map lambda(z) and its curvature 2 alpha / (3 l2^3) at z*.

References:
  E. Gan, "Product-Stability", arXiv:2604.02653 (2026), Sections 4-5 and Appendix B.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from eoslib.losses import ScalarLoss
from eoslib.validation import integer as _int, real as _real

from ._common import (as_loss as _loss, default_float as _float_dtype, require_product_stable,
                      step_sizes as _etas)
from .closed_forms import minimum_derivatives

__all__ = [
    "CyclePrediction",
    "cycle_amplitude_prediction",
    "bifurcation_cycle",
    "cycle_residuals",
    "branch_slopes",
    "inverse_bifurcation",
    "inverse_bifurcation_curvature",
]


# --------------------------------------------------------------------------- Theorem 4.2: 2-cycle


class CyclePrediction(NamedTuple):
    """Leading-order shape of the 2-cycle: p_+- = z* + offset +- half_amplitude.

    Attributes:
      half_amplitude: a = sqrt(3 l2^2 mu / alpha), relative error O(sqrt(mu)).
      offset: m = -l3 a^2 / (2 l2).
    """

    half_amplitude: float | np.ndarray
    offset: float | np.ndarray


def cycle_amplitude_prediction(l: ScalarLoss, eta) -> CyclePrediction:
    """Asymptotic half-amplitude and centre offset of the period-2 cycle just above 2 / l2.

    Args:
      l: product-stable scalar loss (alpha > 0).
      eta: learning rate(s), in (2 / l2, inf); mu = eta l2 - 2.

    Returns:
      :class:`CyclePrediction` (a, m), floats or arrays like ``eta``.

    References:
      Gan (2026), Theorem 4.2 (the printed shape was lost; rebuilt from the cubic normal
      form u -> u - 2 C u^3 with C = alpha / (3 l2^2), see the book's Reconstructions page).
    """
    m = minimum_derivatives(l)
    require_product_stable(m.alpha, "cycle_amplitude_prediction")
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
    require_product_stable(m.alpha, "bifurcation_cycle")
    e = _etas("eta", eta, 2.0 / m.l2)
    max_ratio = _real("max_ratio", max_ratio, 0.0)
    grid_size = _int("grid_size", grid_size, 2, 100000)
    bisect_iters = _int("bisect_iters", bisect_iters, 1, 200)
    a = np.ravel(cycle_amplitude_prediction(l, e).half_amplitude)
    dt = _float_dtype()
    z_star, ratio = jnp.asarray(m.z_star, dt), jnp.asarray(max_ratio, dt)
    kern = jax.vmap(lambda et, ag: _cycle_kernel(l.fn, z_star, et, ag, ratio, grid_size, bisect_iters))
    pm, pp = kern(jnp.asarray(np.ravel(e), dt), jnp.asarray(a, dt))
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
