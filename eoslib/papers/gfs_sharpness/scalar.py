"""Scalar linear networks ``L(w) = 1/2 (w_1 w_2 ... w_D - 1)^2``: GD, GF solution, GPGD.

Everything here acts on the last axis of an array of weights ``w`` of shape ``(..., D)``
with ``D >= 2`` and broadcasts over the leading axes, so one call evaluates a whole
trajectory or a whole grid of initialisations.

* Loss, gradient (Eq. 8), Hessian (Eqs. 9-10), sharpness, one GD step (Eq. 13), the product
  after a step (Eq. 14), the balances ``b_ij = w_i^2 - w_j^2`` and their one-step factor
  ``1 - c_ij`` with ``c_ij = eta^2 (pi - 1)^2 pi_{-ij}^2`` (Eq. 15).
* The GF equivalence class of ``w`` is the curve ``sign(w) sqrt(w^2 + s)``: gradient flow
  keeps every balance (Remark 3.5). A point of the curve is fixed by the log-shift
  ``u = log(min_i w_i^2 + s)``; with ``d_i = w_i^2 - min_j w_j^2`` its squared weights are
  ``d_i + e^u``. The point with product ``p > 0`` solves
  ``g(u) = sum_i log(d_i + e^u) - 2 log p = 0``. ``g`` is increasing and convex in ``u``
  with ``g' in [1, D]``, so a Newton iteration safeguarded by a bracket ``[lo, hi]``
  (``g(lo) <= 0 <= g(hi)``, both explicit) converges for every input, and it is vectorised
  over the leading axes.
* The GF solution (GFS) ``S(w)`` is the class point with product 1 and the GFS sharpness is
  ``phi(w) = sum_i 1 / S(w)_i^2`` (Eq. 12). Closed forms for checking: ``D = 2`` gives
  ``sqrt((w_1^2 - w_2^2)^2 + 4)``, the slice ``(x, x, y, y)`` of Zhu et al. gives
  ``2 sqrt((x^2 - y^2)^2 + 4)``.
* GPGD (Eq. 3) moves along the class to the product of one GD step; on a fixed class the
  product follows the 1-D map ``h(p) = p prod_i (1 - eta (p - 1) p / x_i(p)^2)``.

The theory assumes ``pi(w) > 0`` (the sign pattern then never matters, App. D.2.2); the
GF-related functions return NaN where ``pi(w) <= 0``. Nothing here enables float64: the
checks assume ``jax.config.update("jax_enable_x64", True)``.

References:
  I. Kreisler, M. Shpigel Nacson, D. Soudry, Y. Carmon, "Gradient Descent Monotonically
  Decreases the Sharpness of Gradient Flow Solutions in Scalar Networks and Beyond",
  ICML 2023, arXiv:2305.13064 (Eqs. 1-3, 8-15, App. D).
  X. Zhu, Z. Wang, X. Wang, M. Zhou, R. Ge, "Understanding Edge-of-Stability Training
  Dynamics with a Minimalist Example", ICLR 2023 (the depth-4 slice).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from eoslib.validation import integer as _integer, positive as _positive

__all__ = [
    "loss",
    "product",
    "leave_one_out_products",
    "leave_two_out_products",
    "gradient",
    "hessian",
    "sharpness",
    "gd_step",
    "gd_product",
    "balances",
    "balance_factors",
    "class_gaps",
    "class_log_shift",
    "class_point",
    "gfs",
    "gfs_sharpness",
    "gfs_sharpness_depth2",
    "slice_sharpness",
    "slice_point",
    "gpgd",
    "gpgd_product_map",
    "check_weights",
    "gradient_flow_ode",
    "top_eigen_alignment",
]


# ----------------------------------------------------------------------------- validation


def _concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def check_weights(w, name: str = "w") -> Array:
    """``w`` as a floating JAX array of shape ``(..., D)`` with ``D >= 2``.

    Args:
      w: weights; the last axis holds the ``D`` layers.
      name: the parameter name used in error messages.

    Returns:
      ``jnp.asarray(w)`` (integer input promoted to the default float).

    Raises:
      ValueError: ``w`` is 0-d or has fewer than two weights on its last axis.
    """
    if not _concrete(w):
        return w
    arr = jnp.asarray(w)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.zeros(()).dtype)
    if arr.ndim == 0 or arr.shape[-1] < 2:
        raise ValueError(f"{name} must have shape (..., D) with D in [2, inf), got shape {arr.shape}")
    return arr


def _check_eta(eta):
    if _concrete(eta) and np.ndim(eta) == 0:
        _positive("eta", eta)
    return eta


# ----------------------------------------------------------------------------- loss and derivatives


def product(w) -> Array:
    """``pi(w) = prod_i w_i`` over the last axis."""
    return jnp.prod(check_weights(w), axis=-1)


def loss(w) -> Array:
    """``L(w) = 1/2 (pi(w) - 1)^2`` (Eq. 1)."""
    return 0.5 * jnp.square(product(w) - 1.0)


def leave_one_out_products(w) -> Array:
    """``pi_{-i} = prod_{j != i} w_j`` for every ``i`` (prefix times suffix products).

    Exact at ``w_i = 0``, unlike ``pi / w_i``.
    """
    w = check_weights(w)
    ones = jnp.ones_like(w[..., :1])
    prefix = jnp.cumprod(jnp.concatenate([ones, w[..., :-1]], axis=-1), axis=-1)
    suffix = jnp.flip(jnp.cumprod(jnp.concatenate([ones, jnp.flip(w[..., 1:], -1)], -1), -1), -1)
    return prefix * suffix


def leave_two_out_products(w) -> Array:
    """``pi_{-ij} = prod_{k != i, j} w_k`` as a ``(..., D, D)`` array (diagonal: ``pi_{-i}``)."""
    w = check_weights(w)
    dim = w.shape[-1]
    eye = jnp.eye(dim, dtype=bool)
    drop = eye[:, None, :] | eye[None, :, :]  # drop[i, j, k]: k is i or j
    return jnp.prod(jnp.where(drop, jnp.ones((), w.dtype), w[..., None, None, :]), axis=-1)


def gradient(w) -> Array:
    """``dL/dw_i = (pi - 1) pi_{-i}`` (Eq. 8)."""
    w = check_weights(w)
    return (product(w) - 1.0)[..., None] * leave_one_out_products(w)


def hessian(w) -> Array:
    """The Hessian of Eqs. 9-10: ``pi_{-i}^2`` on the diagonal, ``pi_{-ij} (2 pi - 1)`` off it."""
    w = check_weights(w)
    p = product(w)
    off = leave_two_out_products(w) * (2.0 * p - 1.0)[..., None, None]
    diag = jnp.square(leave_one_out_products(w))
    eye = jnp.eye(w.shape[-1], dtype=bool)
    return jnp.where(eye, diag[..., :, None], off)


def sharpness(w) -> Array:
    """``lambda_max`` of the Hessian of Eqs. 9-10 (dense ``eigh``; D is small)."""
    return jnp.linalg.eigvalsh(hessian(w))[..., -1]


def gd_step(w, eta) -> Array:
    """One GD step ``w - eta (pi - 1) pi_{-i}`` (Eq. 13).

    Args:
      w: weights ``(..., D)``.
      eta: step size, in ``(0, inf)``; may be an array broadcasting against ``w[..., 0]``.

    Returns:
      ``GD_eta(w)``, same shape as ``w``.
    """
    eta = _check_eta(eta)
    return w - jnp.asarray(eta)[..., None] * gradient(w)


def gd_product(w, eta) -> Array:
    """``pi(GD_eta(w)) = pi prod_i (1 - eta (pi - 1) pi / w_i^2)`` (Eq. 14; needs ``w_i != 0``)."""
    w = check_weights(w)
    eta = _check_eta(eta)
    p = product(w)
    c = (jnp.asarray(eta) * (p - 1.0) * p)[..., None]
    return p * jnp.prod(1.0 - c / jnp.square(w), axis=-1)


def balances(w) -> Array:
    """``b_ij = w_i^2 - w_j^2`` as a ``(..., D, D)`` array (Def. D.1)."""
    w2 = jnp.square(check_weights(w))
    return w2[..., :, None] - w2[..., None, :]


def balance_factors(w, eta) -> Array:
    """``c_ij = eta^2 (pi - 1)^2 pi_{-ij}^2``, so that ``b_ij(GD(w)) = (1 - c_ij) b_ij(w)`` (Eq. 15).

    Returns a ``(..., D, D)`` array; its diagonal (``i = j``) carries no meaning.
    """
    w = check_weights(w)
    eta = _check_eta(eta)
    scale = jnp.square(jnp.asarray(eta) * (product(w) - 1.0))
    return scale[..., None, None] * jnp.square(leave_two_out_products(w))


# ----------------------------------------------------------------------------- the class curve


def class_gaps(w) -> Array:
    """``d_i = w_i^2 - min_j w_j^2 >= 0``: the GF class of ``w`` without its position on it.

    Clamped at 0: inside a fused XLA kernel ``w_i^2`` may be rounded differently in the two
    places it appears, and a gap of ``-1e-18`` would make ``d_i + e^u`` negative far out on
    the curve.
    """
    w2 = jnp.square(check_weights(w))
    return jnp.maximum(w2 - jnp.min(w2, axis=-1, keepdims=True), 0.0)


_gaps = class_gaps


_MAX_ITER = 200


@jax.custom_jvp
def _log_shift(d: Array, target: Array) -> Array:
    """``u`` with ``sum_i log(d_i + e^u) = target``; differentiable (implicit function theorem)."""
    return _log_shift_solve(d, jnp.broadcast_to(target, d.shape[:-1]))


@_log_shift.defjvp
def _log_shift_jvp(primals, tangents):
    d, target = primals
    dd, dt = tangents
    u = _log_shift(d, target)
    x2 = d + jnp.exp(u)[..., None]
    # d/d(.) of sum_i log(d_i + e^u) = target:  du sum_i e^u / x2_i = dt - sum_i dd_i / x2_i
    du = (jnp.broadcast_to(dt, u.shape) - jnp.sum(dd / x2, -1)) / jnp.sum(jnp.exp(u)[..., None] / x2, -1)
    return u, du


@jax.jit
def _log_shift_solve(d: Array, target: Array) -> Array:
    """Solve ``sum_i log(d_i + e^u) = target`` for ``u`` (vectorised over leading axes).

    ``g(u) = sum_i log(d_i + e^u) - target`` is increasing and convex with ``g' in [1, D]``
    (at least one ``d_i`` is 0). Bracket: ``hi = target / D`` has ``g(hi) >= 0`` because
    ``log(d_i + e^u) >= u``; for ``u <= hi`` every term is at most its value at ``hi`` and
    the ``d_i = 0`` term equals ``u``, so ``lo = target - (sum_i log(d_i + e^hi) - hi)``
    has ``g(lo) <= 0``. Newton steps that leave the bracket are replaced by bisection.
    """
    dim = d.shape[-1]
    # No infinities (log 0): XLA's fused CPU kernels do not keep -inf arithmetic exact.
    zero = d <= 0
    logd = jnp.log(jnp.where(zero, 1.0, d))
    eps = jnp.finfo(d.dtype).eps

    def lse(u):  # log(d_i + e^u)
        return jnp.where(zero, u[..., None], jnp.logaddexp(logd, u[..., None]))

    def g_dg(u):
        l = lse(u)
        return jnp.sum(l, -1) - target, jnp.sum(jnp.exp(u[..., None] - l), -1)

    hi = target / dim
    lo = target - (jnp.sum(lse(hi), -1) - hi)
    done0 = ~(jnp.isfinite(hi) & jnp.isfinite(lo))

    def body(state):
        u, lo, hi, done, it = state
        g, dg = g_dg(u)
        lo = jnp.where(g <= 0, u, lo)
        hi = jnp.where(g >= 0, u, hi)
        step = u - g / dg
        inside = (step >= lo) & (step <= hi)
        u_new = jnp.where(inside, step, 0.5 * (lo + hi))
        conv = (jnp.abs(u_new - u) <= 2 * eps * (1.0 + jnp.abs(u))) | (g == 0) | (hi - lo <= 2 * eps * (1.0 + jnp.abs(u)))
        u_new = jnp.where(done, u, u_new)
        return u_new, lo, hi, done | conv, it + 1

    def cond(state):
        return (~jnp.all(state[3])) & (state[4] < _MAX_ITER)

    u, *_ = lax.while_loop(cond, body, (hi, lo, hi, done0, jnp.asarray(0)))
    return u


def class_log_shift(w, p) -> Array:
    """Log-shift ``u`` of the point of the GF class of ``w`` whose product is ``p``.

    Args:
      w: weights ``(..., D)``; only ``w^2`` matters.
      p: target products, ``> 0``; ``w[..., 0]`` and ``p`` broadcast together.

    Returns:
      ``u`` with ``prod_i (d_i + e^u) = p^2``, ``d_i = w_i^2 - min_j w_j^2``; NaN where
      ``p <= 0``.
    """
    w = check_weights(w)
    p = jnp.asarray(p, w.dtype)
    lead = jnp.broadcast_shapes(w.shape[:-1], p.shape)
    w, p = jnp.broadcast_to(w, lead + w.shape[-1:]), jnp.broadcast_to(p, lead)
    safe = jnp.where(p > 0, p, 1.0)
    u = _log_shift(_gaps(w), 2.0 * jnp.log(safe))
    return jnp.where(p > 0, u, jnp.nan)


def class_point(w, p) -> Array:
    """The point ``sign(w) sqrt(w^2 + s)`` of the GF class of ``w`` with product ``p``.

    Args:
      w: weights ``(..., D)`` with ``pi(w) > 0``.
      p: target products, ``> 0``.

    Returns:
      The class point, NaN where ``pi(w) <= 0`` or ``p <= 0``.
    """
    w = check_weights(w)
    u = class_log_shift(w, p)
    w = jnp.broadcast_to(w, u.shape + w.shape[-1:])
    x = jnp.sign(w) * jnp.sqrt(_gaps(w) + jnp.exp(u)[..., None])
    return jnp.where((product(w) > 0)[..., None], x, jnp.nan)


def gfs(w) -> Array:
    """The gradient-flow solution ``S(w) = sign(w) sqrt(w^2 + s*)`` with ``pi(S(w)) = 1``.

    NaN where ``pi(w) <= 0`` (GF then crosses ``pi = 0``; outside the theory).
    """
    w = check_weights(w)
    return class_point(w, jnp.ones(w.shape[:-1], w.dtype))


def gfs_sharpness(w) -> Array:
    """``phi(w) = sum_i 1 / S(w)_i^2``, the sharpness of the GF solution (Def. 1.1, Eq. 12).

    NaN where ``pi(w) <= 0``.
    """
    w = check_weights(w)
    d = _gaps(w)
    u = _log_shift(d, jnp.zeros(w.shape[:-1], w.dtype))
    phi = jnp.sum(1.0 / (d + jnp.exp(u)[..., None]), axis=-1)
    return jnp.where(product(w) > 0, phi, jnp.nan)


def gfs_sharpness_depth2(w) -> Array:
    """``phi = sqrt((w_1^2 - w_2^2)^2 + 4)`` for ``D = 2`` (closed form, no root finding)."""
    w = check_weights(w)
    if _concrete(w) and w.shape[-1] != 2:
        raise ValueError(f"w must have D = 2 weights on its last axis, got shape {w.shape}")
    b = jnp.square(w[..., 0]) - jnp.square(w[..., 1])
    return jnp.where(product(w) > 0, jnp.sqrt(b * b + 4.0), jnp.nan)


def slice_sharpness(w) -> Array:
    """``phi = 2 sqrt((x^2 - y^2)^2 + 4)`` on Zhu et al.'s slice ``w = (x, x, y, y)``.

    Raises:
      ValueError: ``w`` is not ``(..., 4)`` or (concrete input) not of the form ``(x, x, y, y)``.
    """
    w = check_weights(w)
    if _concrete(w):
        if w.shape[-1] != 4:
            raise ValueError(f"w must have D = 4 weights (x, x, y, y), got shape {w.shape}")
        if not bool(jnp.all((w[..., 0] == w[..., 1]) & (w[..., 2] == w[..., 3]))):
            raise ValueError("w must lie on the slice (x, x, y, y)")
    b = jnp.square(w[..., 0]) - jnp.square(w[..., 2])
    return jnp.where(product(w) > 0, 2.0 * jnp.sqrt(b * b + 4.0), jnp.nan)


def slice_point(phi0, pi0) -> Array:
    """The slice point ``(x, x, y, y)`` (``x >= y > 0``) with GFS sharpness ``phi0`` and product ``pi0``.

    ``b = x^2 - y^2 = sqrt(phi0^2 / 4 - 4)``, ``y^2 = (-b + sqrt(b^2 + 4 pi0)) / 2``.

    Args:
      phi0: GFS sharpness(es), in ``[4, inf)`` (4 is the balanced minimum).
      pi0: product(s), in ``(0, inf)``.

    Returns:
      Array of shape ``broadcast(phi0, pi0).shape + (4,)``.
    """
    phi0a, pi0a = np.asarray(phi0, float), np.asarray(pi0, float)
    if not (np.all(np.isfinite(phi0a)) and np.all(phi0a >= 4.0)):
        raise ValueError(f"phi0 must be in [4, inf), got {phi0!r}")
    if not (np.all(np.isfinite(pi0a)) and np.all(pi0a > 0.0)):
        raise ValueError(f"pi0 must be in (0, inf), got {pi0!r}")
    phi0, pi0 = np.broadcast_arrays(phi0a, pi0a)
    b = np.sqrt(np.maximum(phi0 * phi0 / 4.0 - 4.0, 0.0))
    y2 = 0.5 * (-b + np.sqrt(b * b + 4.0 * pi0))
    x, y = np.sqrt(y2 + b), np.sqrt(y2)
    return jnp.asarray(np.stack([x, x, y, y], axis=-1))


# ----------------------------------------------------------------------------- GPGD


def gpgd(w, eta) -> Array:
    """GFS-preserving GD (Eq. 3): the point of the class of ``w`` with product ``pi(GD_eta(w))``.

    Args:
      w: weights ``(..., D)`` with ``pi(w) > 0``.
      eta: step size in ``(0, inf)``.

    Returns:
      ``GPGD_eta(w)``; NaN where ``pi(GD_eta(w)) <= 0`` (GPGD is undefined there).
    """
    w = check_weights(w)
    return class_point(w, product(gd_step(w, eta)))


def gpgd_product_map(w, p, eta) -> Array:
    """``h(p) = p prod_i (1 - eta (p - 1) p / x_i(p)^2)``: GPGD's product map on the class of ``w``.

    ``x(p)`` is the class point with product ``p`` (Eq. 14 applied on the class), so
    ``h(pi(x)) = pi(GPGD(x))`` for every ``x`` in the class. ``h(1) = 1`` and
    ``h'(1) = 1 - eta phi(w)``.

    Args:
      w: weights ``(..., D)`` fixing the class.
      p: products in ``(0, inf)``, broadcasting against ``w[..., 0]``.
      eta: step size in ``(0, inf)``.
    """
    w = check_weights(w)
    eta = _check_eta(eta)
    p = jnp.asarray(p, w.dtype)
    x2 = _gaps(w) + jnp.exp(class_log_shift(w, p))[..., None]
    c = (jnp.asarray(eta) * (p - 1.0) * p)[..., None]
    return p * jnp.prod(1.0 - c / x2, axis=-1)


# ----------------------------------------------------------------------------- ODE reference


_ODE_SOLVERS = ("dopri8", "tsit5", "kvaerno5")


def gradient_flow_ode(w0, *, t_final: float = 200.0, rtol: float = 1e-13, atol: float = 1e-15,
                      solver: str = "dopri8", max_steps: int = 100_000) -> tuple[Array, Array]:
    """Gradient flow ``w' = -grad L(w)`` integrated by diffrax to time ``t_final``: the reference
    the closed-form GFS is checked against.

    The vector field is ``jax.grad`` of :func:`loss` (not Eq. 8), so the check is independent
    of the hand-derived gradient. Near the GFS the flow contracts at rate ``phi >= D``, so
    ``t_final = 200`` leaves ``|pi - 1|`` at round-off for starts with ``pi`` of order 1.

    Args:
      w0: starts ``(D,)`` or ``(B, D)`` (vmapped).
      t_final: integration time, in ``(0, inf)``.
      rtol, atol: tolerances of the PID step-size controller, in ``(0, inf)``.
      solver: ``"dopri8"`` (default), ``"tsit5"`` or ``"kvaerno5"``.
      max_steps: step budget per start, in ``[1, inf)``.

    Returns:
      ``(w_T, num_steps)``: the state at ``t_final`` and the accepted steps of each start.

    References:
      P. Kidger, "On Neural Differential Equations", 2021 (diffrax); J. R. Dormand,
      P. J. Prince, "A family of embedded Runge-Kutta formulae", 1980 (Dopri8).
    """
    w0 = check_weights(w0, "w0")
    t_final = _positive("t_final", t_final)
    rtol, atol = _positive("rtol", rtol), _positive("atol", atol)
    if solver not in _ODE_SOLVERS:
        raise ValueError(f"solver must be one of {'|'.join(_ODE_SOLVERS)}, got {solver!r}")
    max_steps = _integer("max_steps", max_steps, 1)
    batch = w0 if w0.ndim > 1 else w0[None]
    w_t, steps = _ode_solve(batch.reshape(-1, batch.shape[-1]), t_final, rtol, atol, solver, max_steps)
    if w0.ndim == 1:
        return w_t[0], steps[0]
    return w_t.reshape(w0.shape), steps.reshape(w0.shape[:-1])


@partial(jax.jit, static_argnames=("t_final", "rtol", "atol", "solver", "max_steps"))
def _ode_solve(w0, t_final, rtol, atol, solver, max_steps):
    import diffrax

    grad = jax.grad(loss)
    term = diffrax.ODETerm(lambda t, y, args: -grad(y))
    method = {"dopri8": diffrax.Dopri8, "tsit5": diffrax.Tsit5, "kvaerno5": diffrax.Kvaerno5}[solver]()

    def one(y0):
        sol = diffrax.diffeqsolve(
            term, method, 0.0, t_final, 1e-3, y0,
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
            saveat=diffrax.SaveAt(t1=True), max_steps=max_steps, throw=False)
        return sol.ys[-1], sol.stats["num_accepted_steps"]

    return jax.vmap(one)(w0)


def top_eigen_alignment(w) -> tuple[Array, Array]:
    """``|cos angle(grad pi, u_1)|`` and ``lambda_max``: the stable set of Damian et al. (App. A).

    ``grad L = (pi - 1) grad pi``, so ``grad L . u_1 = 0`` away from the minima exactly when
    ``grad pi`` is orthogonal to the top Hessian eigenvector ``u_1``.

    Args:
      w: weights ``(..., D)``.

    Returns:
      ``(cosine, sharpness)``, each over the leading axes (``u_1`` from a dense ``eigh``).
    """
    w = check_weights(w)
    lam, vec = jnp.linalg.eigh(hessian(w))
    g = leave_one_out_products(w)
    cos = jnp.abs(jnp.sum(g * vec[..., :, -1], -1)) / jnp.linalg.norm(g, axis=-1)
    return cos, lam[..., -1]
