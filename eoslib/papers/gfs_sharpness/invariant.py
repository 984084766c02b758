"""The positive invariant set ``S^D_eta`` (Def. 3.1, App. I), the balance quasi-order (Def. 3.4)
and log-majorisation (Def. 3.6).

**Membership test (App. I).** On the GF class of ``w`` (the curve of
:mod:`~eoslib.papers.gfs_sharpness.scalar`, parametrised by the log-shift ``u``, squared
weights ``d_i + e^u``, product ``p(u)``, GFS at ``u_1`` where ``p = 1``):

* ``pi_bar = sup {pi(GD(x)) : x in E_(0,1)(w)}``. For ``p < 1`` every GD factor
  ``1 + eta (1 - p) p / x_i^2`` exceeds 1. The supremum is taken over a uniform grid in
  ``u`` (dense near ``s -> -min w^2`` in the original parameter), refined by golden-section
  search around the best grid point, and compared with the limit
  ``eta prod_{j != argmin} d_j`` as ``u -> -inf``.
* ``pi_under``: the product ``p > 1`` at which the smallest GD factor
  ``1 - eta (p - 1) p / x_min^2`` reaches 0. ``log(eta (p - 1) p) - u`` is strictly
  increasing for ``u > u_1`` (its derivative is at least ``1 / (2 (p - 1))``), so the root
  is unique; it is found by bisection on a doubled bracket.

Then ``w`` is in ``S`` iff ``pi(w) > 0``, ``phi(w) <= 2 sqrt(2) / eta`` and
``max(pi(w), pi_bar) < pi_under``: ``B`` cannot exceed ``pi_under`` (the class point there
is sent to product 0), and if any ``B`` works then ``B = pi_under`` works, because a
``B <= 1`` fails whenever ``eta phi > 1`` and products in ``[1, pi_under)`` only shrink
under GD.

References:
  Kreisler et al., ICML 2023, Definitions 3.1, 3.4, 3.6 and Appendix I.
  A. W. Marshall, I. Olkin, B. C. Arnold, "Inequalities: Theory of Majorization and Its
  Applications", Springer 2011 (majorisation).
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from eoslib.validation import integer as _integer, positive as _positive, real as _real

from .scalar import check_weights, class_gaps, class_log_shift, product

__all__ = [
    "Membership",
    "invariant_set_test",
    "in_invariant_set",
    "PHI_FACTOR",
    "less_unbalanced",
    "log_majorized",
    "max_gap_ratio",
]

#: Condition 3 of Definition 3.1: ``phi <= PHI_FACTOR / eta`` (sqrt(2) times the threshold 2/eta).
PHI_FACTOR = 2.0 * math.sqrt(2.0)

_BLOCK = 512

_GOLDEN = 0.5 * (math.sqrt(5.0) - 1.0)


class Membership(NamedTuple):
    """The result of :func:`invariant_set_test` (arrays over the leading axes of ``w``).

    Attributes:
      member: ``w in S^D_eta``.
      product: ``pi(w)``.
      phi: GFS sharpness ``phi(w)``.
      pi_bar: largest product after one GD step from the class segment ``E_(0,1)(w)``.
      pi_under: the product ``p > 1`` on the class where GD first sends a point to
        product 0; the best ``B`` of Definition 3.1.
    """

    member: Array
    product: Array
    phi: Array
    pi_bar: Array
    pi_under: Array


def _curve(d: Array, u: Array) -> tuple[Array, Array]:
    """Squared weights ``d + e^u`` and product ``p(u)`` (``u`` broadcasts as ``d[..., 0]``)."""
    x2 = d + jnp.exp(u)[..., None]
    return x2, jnp.exp(0.5 * jnp.sum(jnp.log(x2), axis=-1))


def _gd_product_on_curve(d: Array, u: Array, eta: Array) -> Array:
    x2, p = _curve(d, u)
    c = (eta * (1.0 - p) * p)[..., None]
    return p * jnp.prod(1.0 + c / x2, axis=-1)


@partial(jax.jit, static_argnums=3)
def _pi_bar(d: Array, u1: Array, eta: Array, num_grid: int) -> Array:
    """``sup_{u < u_1} pi(GD(x(u)))`` on a grid, refined by golden section, and the u -> -inf limit."""
    # No infinities here: XLA's fused CPU kernels do not keep inf arithmetic exact.
    big = jnp.finfo(d.dtype).max
    has_gap = jnp.any(d > 0, axis=-1)
    dmin = jnp.min(jnp.where(d > 0, d, big), axis=-1)
    # Below log(min positive gap) - 40 the curve is in its asymptotic regime to round-off.
    u_lo = jnp.minimum(u1, jnp.where(has_gap, jnp.log(jnp.where(has_gap, dmin, 1.0)), u1)) - 40.0
    n = num_grid
    step = (u1 - u_lo) / n

    def scan_grid(i, best):
        val, idx = best
        v = _gd_product_on_curve(d, u_lo + step * jnp.asarray(i, u1.dtype), eta)
        better = v > val
        return jnp.where(better, v, val), jnp.where(better, i, idx)

    # A running maximum instead of a (..., n) array: grids of 10^4 points stay cheap.
    val, k = lax.fori_loop(0, n, scan_grid, (jnp.full_like(u1, -big), jnp.zeros(u1.shape, jnp.int32)))
    a = u_lo + step * jnp.maximum(k - 1, 0).astype(u1.dtype)
    b = jnp.minimum(a + 2.0 * step, u1)

    def golden(_, ab):
        a, b = ab
        c1 = b - _GOLDEN * (b - a)
        c2 = a + _GOLDEN * (b - a)
        left = _gd_product_on_curve(d, c1, eta) >= _gd_product_on_curve(d, c2, eta)
        return jnp.where(left, a, c1), jnp.where(left, c2, b)

    a, b = lax.fori_loop(0, 80, golden, (a, b))
    refined = _gd_product_on_curve(d, 0.5 * (a + b), eta)
    # u -> -inf: p -> 0 and pi(GD) -> eta prod_{j != argmin} d_j (0 if the minimum is tied).
    w2_others = jnp.sort(d, axis=-1)[..., 1:]
    limit = eta * jnp.prod(w2_others, axis=-1)
    return jnp.maximum(jnp.maximum(val, refined), limit)


@jax.jit
def _pi_under(d: Array, u1: Array, eta: Array) -> Array:
    """The product where ``eta (p - 1) p = x_min^2 = e^u`` first holds for ``u > u_1``."""

    def k(u):
        _, p = _curve(d, u)
        return eta * (p - 1.0) * p - jnp.exp(u)

    # Grow the bracket until k(hi) > 0 (k(u_1) = -e^{u_1} < 0).
    def grow(_, hi_width):
        hi, width = hi_width
        need = k(hi) <= 0
        return jnp.where(need, hi + width, hi), jnp.where(need, 2.0 * width, width)

    hi, _ = lax.fori_loop(0, 200, grow, (u1 + 1.0, jnp.ones_like(u1)))

    def bisect(_, lohi):
        lo, hi = lohi
        mid = 0.5 * (lo + hi)
        pos = k(mid) > 0
        return jnp.where(pos, lo, mid), jnp.where(pos, mid, hi)

    lo, hi = lax.fori_loop(0, 120, bisect, (u1, hi))
    return _curve(d, 0.5 * (lo + hi))[1]


def invariant_set_test(w, eta, *, num_grid: int = 2000) -> Membership:
    """Test ``w in S^D_eta`` (Definition 3.1) with the criterion of Appendix I.

    Args:
      w: weights ``(..., D)``.
      eta: step size in ``(0, inf)`` (a scalar, or an array broadcasting against ``w[..., 0]``).
      num_grid: grid points in ``u`` for the supremum ``pi_bar``, in ``[16, 10^6]``.

    Returns:
      A :class:`Membership` (points with ``pi(w) <= 0`` are never members; their
      ``pi_bar``/``pi_under`` are NaN).

    Raises:
      ValueError: ``eta`` or ``num_grid`` outside its range.
    """
    w = check_weights(w)
    num_grid = _integer("num_grid", num_grid, 16, 10**6)
    eta_arr = np.asarray(eta, dtype=float)
    if not (np.all(np.isfinite(eta_arr)) and np.all(eta_arr > 0)):
        raise ValueError(f"eta must be in (0, inf), got {eta!r}")
    eta_j = jnp.broadcast_to(jnp.asarray(eta_arr, w.dtype), w.shape[:-1])
    lead, dim = w.shape[:-1], w.shape[-1]
    flat_w, flat_eta = w.reshape(-1, dim), eta_j.reshape(-1)
    n = flat_w.shape[0]
    # Fixed blocks of _BLOCK rows (the last one padded): one compilation per depth, whatever
    # the batch shape (compiling the test costs seconds, running a block milliseconds).
    pad = (-n) % _BLOCK
    if pad:
        flat_w = jnp.concatenate([flat_w, jnp.broadcast_to(flat_w[-1:], (pad, dim))])
        flat_eta = jnp.concatenate([flat_eta, jnp.broadcast_to(flat_eta[-1:], (pad,))])
    parts = [_membership(flat_w[i:i + _BLOCK], flat_eta[i:i + _BLOCK], num_grid)
             for i in range(0, n + pad, _BLOCK)]
    return Membership(*(jnp.concatenate(cols)[:n].reshape(lead) for cols in zip(*parts)))


@partial(jax.jit, static_argnums=2)
def _membership(w: Array, eta: Array, num_grid: int):
    d = class_gaps(w)
    p = product(w)
    u1 = class_log_shift(w, jnp.ones(w.shape[:-1], w.dtype))  # the GFS on the curve
    phi = jnp.where(p > 0, jnp.sum(1.0 / (d + jnp.exp(u1)[..., None]), -1), jnp.nan)  # as gfs_sharpness
    pi_bar = _pi_bar(d, u1, eta, num_grid)
    pi_under = _pi_under(d, u1, eta)
    ok = p > 0
    member = ok & (phi <= PHI_FACTOR / eta) & (p < pi_under) & (pi_bar < pi_under)
    nan = jnp.asarray(jnp.nan, w.dtype)
    return member, p, phi, jnp.where(ok, pi_bar, nan), jnp.where(ok, pi_under, nan)


def in_invariant_set(w, eta, *, num_grid: int = 2000) -> Array:
    """``invariant_set_test(w, eta).member``."""
    return invariant_set_test(w, eta, num_grid=num_grid).member


# ----------------------------------------------------------------------------- orders


def less_unbalanced(w_new, w, *, form: str = "consecutive", rtol: float = 1e-12) -> Array:
    """``w_new <=_b w`` (Definition 3.4): the sorted squares of ``w_new`` have smaller gaps.

    Args:
      w_new, w: weights ``(..., D)`` (same ``D``).
      form: ``"consecutive"`` (``gap_i = (w^2)_[i] - (w^2)_[i+1]``, Def. 3.4 as rebuilt) or
        ``"all_pairs"`` (``(w^2)_[i] - (w^2)_[j]`` for all ``i < j``, what the proofs use).
      rtol: slack relative to the largest square, in ``[0, 1)`` (round-off of one GD step).

    Returns:
      Boolean array over the leading axes.
    """
    if form not in ("consecutive", "all_pairs"):
        raise ValueError(f"form must be one of consecutive|all_pairs, got {form!r}")
    _real("rtol", rtol, 0.0, 1.0, lo_open=False)
    a = -jnp.sort(-jnp.square(check_weights(w_new, "w_new")), axis=-1)  # descending
    b = -jnp.sort(-jnp.square(check_weights(w)), axis=-1)
    if form == "consecutive":
        ga, gb = a[..., :-1] - a[..., 1:], b[..., :-1] - b[..., 1:]
    else:
        iu = np.triu_indices(a.shape[-1], 1)
        ga = (a[..., :, None] - a[..., None, :])[..., iu[0], iu[1]]
        gb = (b[..., :, None] - b[..., None, :])[..., iu[0], iu[1]]
    scale = jnp.maximum(a[..., :1], b[..., :1])
    return jnp.all(ga <= gb + rtol * scale, axis=-1)


def max_gap_ratio(w_new, w) -> Array:
    """``max_i gap_i(w_new) / gap_i(w)`` over the consecutive sorted-square gaps (Def. 3.4).

    ``<= 1`` means ``w_new <=_b w``; gaps of ``w`` that are exactly 0 are skipped.
    """
    a = -jnp.sort(-jnp.square(check_weights(w_new, "w_new")), axis=-1)
    b = -jnp.sort(-jnp.square(check_weights(w)), axis=-1)
    ga, gb = a[..., :-1] - a[..., 1:], b[..., :-1] - b[..., 1:]
    ratio = jnp.where(gb > 0, ga / jnp.where(gb > 0, gb, 1.0), 0.0)
    return jnp.max(ratio, axis=-1)


def log_majorized(x, y, *, rtol: float = 1e-12) -> Array:
    """``x <_log y`` (Definition 3.6) for positive vectors: partial products of the sorted
    entries of ``x`` are at most those of ``y``, and the full products are equal.

    Compared in logs: ``sum_{i <= k} log x_[i] <= sum_{i <= k} log y_[i]`` for ``k < D`` and
    equality at ``k = D``, each to ``rtol`` times ``sum_i |log y_i|`` (plus 1).

    Args:
      x, y: positive arrays ``(..., D)``; non-positive entries make the result False.
      rtol: relative slack, in ``[0, 1)``.

    Returns:
      Boolean array over the leading axes.
    """
    _real("rtol", rtol, 0.0, 1.0, lo_open=False)
    x, y = jnp.asarray(x), jnp.asarray(y)
    positive = jnp.all(x > 0, -1) & jnp.all(y > 0, -1)
    lx = -jnp.sort(-jnp.log(jnp.where(x > 0, x, 1.0)), axis=-1)
    ly = -jnp.sort(-jnp.log(jnp.where(y > 0, y, 1.0)), axis=-1)
    cx, cy = jnp.cumsum(lx, -1), jnp.cumsum(ly, -1)
    tol = rtol * (1.0 + jnp.sum(jnp.abs(ly), -1, keepdims=True))
    partial_ok = jnp.all(cx[..., :-1] <= cy[..., :-1] + tol, axis=-1)
    equal = jnp.abs(cx[..., -1] - cy[..., -1]) <= tol[..., 0]
    return positive & partial_ok & equal
