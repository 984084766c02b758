"""Gradient-flow solutions ``w_GF`` of networks and small models.

Gradient flow ``dw/dt = -grad f(w)`` is run from ``w0`` until the loss first reaches
``loss_threshold``; the point reached is the gradient-flow solution (GFS) of Kreisler et
al., and its sharpness is what their theory is about. Two integrators, one result type:

* :func:`gradient_flow` -- adaptive, with error control (``rtol``, ``atol``):

  - ``method="rkc"`` (default): the second-order Runge-Kutta-Chebyshev method of
    Sommeijer, Shampine & Verwer (1998), implemented here in JAX. The Jacobian of a
    gradient flow is ``-H``, symmetric, so its spectrum is real; explicit solvers such as
    Tsit5 or RK4 are then held to steps ``h ~ 3 / lambda_max`` by *stability* long after
    accuracy would allow more (the flow is stiff: ``lambda_max`` is the sharpness, the
    slow directions have eigenvalues orders of magnitude smaller). RKC uses ``s`` stages
    whose stability interval ``[-0.65 s^2, 0]`` grows quadratically, so a step of length
    ``h`` costs only ``s ~ sqrt(1.54 h lambda_max)`` gradients and the step size is set by
    accuracy alone. The spectral radius ``lambda_max`` comes from Lanczos on HVPs
    at the start, then from a few warm-started power iterations inside the compiled loop,
    every ``rho_every`` steps and after every rejected step.
  - ``method="tsit5" | "dopri5" | "bosh3"``: ``diffrax`` solvers with a
    ``PIDController``; the loss threshold is a ``diffrax.Event`` whose crossing time is
    located by Newton's method on the dense output.

* :func:`gradient_flow_rk4` -- fixed-step classical RK4 with step ``alpha / S``, ``S``
  the current sharpness recomputed every ``sharpness_every`` steps (Cohen et al.,
  ``alpha = 1``; Kreisler et al.). The baseline of ``benchmarks/bench_gradient_flow.py``.

Both stop *at* the threshold: for RKC and RK4 the crossing inside the last step is
located on the cubic Hermite interpolant of that step, so results do not depend on where
a step happened to end (on a network the sharpness still moves along the flow, so an
overshoot of one step shows up in ``sharpness`` directly).

Gradient evaluations (``num_grad_evals``) are counted exactly; Hessian-vector products
spent on step-size control and on the final sharpness are counted separately
(``num_hvps``; one HVP costs about two gradients).

Where it is used: the GFS sharpness along GD of gfs_sharpness Figures 6, 12 and 13
(FC nets, VGG11-BN and ResNet20 on CIFAR-10, and an SVHN subset; through
:class:`eoslib.callbacks.GFSSharpness`), and the gradient-flow curve ("GF") that
self_stabilization Figure 4 compares with GD. Scalar networks, whose gradient flow has a
conserved quantity, use the closed form of the gfs_sharpness package instead.

Importing this module has no side effects (in particular it does not enable x64).

References:
  C. Kreisler, M. Shpigel Nacson, D. Soudry, Y. Carmon, "Gradient Descent Monotonically
  Decreases the Sharpness of Gradient Flow Solutions in Scalar Networks and Beyond",
  ICML 2023 (GF solutions).
  J. Cohen, S. Kaur, Y. Li, J. Z. Kolter, A. Talwalkar, "Gradient Descent on Neural
  Networks Typically Occurs at the Edge of Stability", ICLR 2021 (RK4 with step 1/S).
  B. P. Sommeijer, L. F. Shampine, J. G. Verwer, "RKC: An explicit solver for parabolic
  PDEs", J. Comput. Appl. Math. 88 (1998) 315-326.
  C. Tsitouras, "Runge-Kutta pairs of order 5(4) satisfying only the first column
  simplifying assumption", Comput. Math. Appl. 62 (2011) (Tsit5).
  P. Kidger, "On Neural Differential Equations", 2021 (diffrax).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Float

from . import curvature, gd
from .validation import choice as _choice, flat_point, integer as _check_int, positive as _check_pos

# Shape annotations (jaxtyping; documentation only, nothing is checked at run time).
Objective = Callable[[Float[Array, " D"]], Float[Array, ""]]

__all__ = ["FlowResult", "gradient_flow", "gradient_flow_rk4", "METHODS"]

METHODS = ("rkc", "tsit5", "dopri5", "bosh3")

# Gradient evaluations per attempted step and fixed overhead of the diffrax solvers
# (first-same-as-last pairs); measured with a counting callback in the vector field.
_DIFFRAX_EVALS = {"tsit5": (6, 1), "dopri5": (6, 1), "bosh3": (3, 2)}

# RKC damping (Sommeijer et al.): stability interval ~ [-0.653 s^2, 0] with eps = 2/13.
_RKC_EPS = 2.0 / 13.0
# Rounding errors of the Chebyshev recursion grow with s; rkc.f caps s similarly.
_RKC_MAX_STAGES = 250

# Lanczos tolerance of RKC's first spectral-radius estimate: the stage count only needs the
# sharpness to a few percent (rho_safety covers it), and Ritz values never overshoot.
_RHO_TOL = 1e-2
# Power iterations per in-loop refresh. Warm-started from the previous vector, which tracks the
# top eigenvector as it drifts. They estimate max |eigenvalue| of H (what the stability interval
# needs), from below; rho_safety covers the gap, and a rejected step triggers another refresh,
# whose estimate can only be larger (||H^(k+1) v|| / ||H^k v|| never decreases).
_RHO_POWER_ITERS = 3
# The in-loop gradient budget is an int32.
_MAX_BUDGET = 2**31 - 1
# Accepted RKC steps per compiled call: returns to Python only to check for interrupts.
_RKC_CHUNK = 2000

# Below this dimension the dense Hessian is cheaper to compile and run than Lanczos.
_DENSE_DIM = 64


@dataclass(frozen=True, eq=False)
class FlowResult:
    """A gradient-flow solve from ``w0`` to the loss threshold.

    Attributes:
      w: the gradient-flow solution (the point where the loss reaches the threshold), or
        the last point if the threshold was not reached.
      loss: ``f(w)``.
      sharpness: top Hessian eigenvalue at ``w``.
      time: gradient-flow time reached.
      num_grad_evals: gradient evaluations of the integrator (exact).
      num_hvps: Hessian-vector products for step-size control (RK4, RKC) and for the
        final sharpness (a dense Hessian counts as ``D``).
      num_steps: accepted steps.
      num_rejected: rejected steps (adaptive methods).
      reached: True when the loss reached ``loss_threshold``.
      method: ``"rkc"``, ``"tsit5"``, ``"dopri5"``, ``"bosh3"`` or ``"rk4"``.
      options: the integrator settings (tolerances or ``alpha``), for reports.
      message: why the solve stopped.
    """

    w: Float[Array, " D"]
    loss: float
    sharpness: float
    time: float
    num_grad_evals: int
    num_hvps: int
    num_steps: int
    num_rejected: int
    reached: bool
    method: str
    options: dict = field(default_factory=dict)
    message: str = ""

    def report(self) -> str:
        """One line summary."""
        opts = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in self.options.items())
        return (f"{self.method} ({opts}): {self.message}; t={self.time:.6g}, "
                f"loss={self.loss:.6g}, sharpness={self.sharpness:.6g}, "
                f"{self.num_grad_evals} gradient evaluations, {self.num_hvps} HVPs, "
                f"{self.num_steps} steps ({self.num_rejected} rejected)")


# ----------------------------------------------------------------------------- helpers


@partial(jax.jit, static_argnums=0)
def _value_and_grad(f: Objective, w: Array) -> tuple[Array, Array]:
    return jax.value_and_grad(f)(w)


@partial(jax.jit, static_argnums=0)
def _value(f: Objective, w: Array) -> Array:
    # Jitted: an eager network forward pass dispatches (and compiles) op by op.
    return f(w)


@partial(jax.jit, static_argnums=0)
def _dense_top(f: Objective, w: Array) -> tuple[Array, Array]:
    h = jax.hessian(f)(w)
    lam, vec = jnp.linalg.eigh(0.5 * (h + h.T))
    return lam[-1], vec[:, -1:]


class _Sharpness:
    """Top Hessian eigenvalue along a path, warm-started, with an HVP count."""

    def __init__(self, f: Objective, w: Array, seed: int = 0):
        self.f = f
        self.dim = int(w.shape[0])
        self.dense = self.dim <= _DENSE_DIM
        self.v = jnp.asarray(np.random.default_rng(seed).standard_normal((self.dim, 1)), w.dtype)
        self.hvps = 0

    def __call__(self, w: Array, tol: float) -> float:
        if self.dense:
            lam, vec = _dense_top(self.f, w)
            self.hvps += self.dim
            self.v = vec
            return float(lam)
        # Always a (D, 1) warm start: one compilation for the whole solve.
        res = curvature.top_eigenpairs(self.f, w, 1, v0=self.v, tol=tol, max_iter=200)
        self.hvps += int(res.num_iterations)
        self.v = res.eigenvectors
        return float(res.eigenvalues[0])


def _hermite(y0: Array, f0: Array, y1: Array, f1: Array, h: Array, th: Array) -> Array:
    """Cubic Hermite interpolant of one step at fraction th in [0, 1]."""
    th2, th3 = th * th, th * th * th
    return ((2 * th3 - 3 * th2 + 1) * y0 + (th3 - 2 * th2 + th) * h * f0
            + (-2 * th3 + 3 * th2) * y1 + (th3 - th2) * h * f1)


@partial(jax.jit, static_argnums=0)
def _locate(f: Objective, y0: Array, f0: Array, y1: Array, f1: Array, h: Array,
            thr: Array, l0: Array, l1: Array) -> tuple[Array, Array]:
    """Fraction th of the last step where the interpolated loss equals thr.

    Illinois (modified regula falsi) on g(th) = f(p(th)) - thr, which brackets the root
    from l0 >= thr > l1; forward passes only.
    """
    one = jnp.ones_like(h)

    def g(th: Array) -> Array:
        return f(_hermite(y0, f0, y1, f1, h, th)) - thr

    def body(state):
        a, b, ga, gb, side, it = state
        c = (a * gb - b * ga) / (gb - ga)
        c = jnp.clip(c, a, b)
        gc = g(c)
        left = gc * ga > 0  # root in [c, b]
        a_new = jnp.where(left, c, a)
        ga_new = jnp.where(left, gc, jnp.where(side == -1, 0.5 * ga, ga))
        b_new = jnp.where(left, b, c)
        gb_new = jnp.where(left, jnp.where(side == 1, 0.5 * gb, gb), gc)
        side_new = jnp.where(left, 1, -1)
        return a_new, b_new, ga_new, gb_new, side_new, it + 1

    def cond(state):
        a, b, ga, gb, _, it = state
        small = jnp.minimum(jnp.abs(ga), jnp.abs(gb)) <= 1e-12 * jnp.abs(thr)
        return (it < 60) & (b - a > 1e-14) & ~small

    state = (0.0 * one, one, l0 - thr, l1 - thr, jnp.asarray(0), jnp.asarray(0))
    a, b, ga, gb, _, _ = lax.while_loop(cond, body, state)
    th = jnp.where(jnp.abs(ga) < jnp.abs(gb), a, b)
    return th, _hermite(y0, f0, y1, f1, h, th)


def _finish(f: Objective, method: str, options: dict, sharp: _Sharpness, w: Array,
            t: float, evals: int, steps: int, rejected: int, reached: bool, message: str,
            sharpness_tol: float) -> FlowResult:
    s = sharp(w, sharpness_tol)
    return FlowResult(w=w, loss=float(_value(f, w)), sharpness=s, time=float(t),
                      num_grad_evals=int(evals), num_hvps=int(sharp.hvps), num_steps=int(steps),
                      num_rejected=int(rejected), reached=bool(reached), method=method,
                      options=options, message=message)


# ----------------------------------------------------------------------------- RKC


def _rkc_step(f: Objective, y: Array, f0: Array, h: Array, s: Array) -> tuple[Array, Array]:
    """One RKC step of s stages (s >= 2, traced) for y' = -grad f(y); returns (y_new, evals).

    Coefficients from the damped Chebyshev polynomials (Sommeijer et al. 1998, Eq. 2.7):
    w0 = 1 + eps/s^2, w1 = T_s'(w0)/T_s''(w0), b_j = T_j''(w0)/T_j'(w0)^2 (b0 = b1 = b2).
    The recursions for T_j, T_j', T_j'' run alongside the stages.
    """
    dt = y.dtype
    sf = s.astype(dt)
    w0 = 1.0 + _RKC_EPS / (sf * sf)
    one, zero = jnp.ones((), dt), jnp.zeros((), dt)

    def cheb(_, c):
        t1, t0, d1, d0, dd1, dd0 = c
        return (2 * w0 * t1 - t0, t1, 2 * t1 + 2 * w0 * d1 - d0, d1,
                4 * d1 + 2 * w0 * dd1 - dd0, dd1)

    # T_s'(w0), T_s''(w0): iterate j = 2..s from (T_1, T_0, T_1', T_0', T_1'', T_0'').
    c = lax.fori_loop(2, s + 1, cheb, (w0, one, one, zero, zero, zero))
    w1 = c[2] / c[4]
    b2 = 1.0 / (4.0 * w0 * w0)  # T_2''/T_2'^2 = 4 / (4 w0)^2
    y1 = y + (b2 * w1) * h * f0

    def stage(carry):
        j, yj1, yj2, t1, t0, d1, d0, dd1, dd0, bj1, bj2 = carry
        t2, d2, dd2 = 2 * w0 * t1 - t0, 2 * t1 + 2 * w0 * d1 - d0, 4 * d1 + 2 * w0 * dd1 - dd0
        bj = dd2 / (d2 * d2)
        mu = 2 * w0 * bj / bj1
        nu = -bj / bj2
        mut = 2 * w1 * bj / bj1
        gamt = -(1.0 - bj1 * t1) * mut  # a_{j-1} = 1 - b_{j-1} T_{j-1}(w0)
        fj1 = -jax.grad(f)(yj1)
        yj = (1.0 - mu - nu) * y + mu * yj1 + nu * yj2 + mut * h * fj1 + gamt * h * f0
        return (j + 1, yj, yj1, t2, t1, d2, d1, dd2, dd1, bj, bj1)

    carry = (jnp.asarray(2, s.dtype), y1, y, w0, one, one, zero, zero, zero, b2, b2)
    carry = lax.while_loop(lambda cr: cr[0] <= s, stage, carry)
    return carry[1], s - 1


def _power_refresh(f: Objective, y: Array, v: Array) -> tuple[Array, Array]:
    """``_RHO_POWER_ITERS`` power iterations on the Hessian at y from the unit vector v.

    Returns the new unit vector and ``||H v_last||``, a lower bound on the spectral radius
    that converges to it; ``rho_safety`` covers the gap (the nonlinear power method of
    rkc.f, here with exact HVPs).
    """
    tiny = jnp.asarray(1e-30, y.dtype)

    def it(_, c):
        u = jax.jvp(jax.grad(f), (y,), (c[0],))[1]
        nu = jnp.linalg.norm(u)
        return u / jnp.maximum(nu, tiny), nu

    return lax.fori_loop(0, _RHO_POWER_ITERS, it, (v, jnp.zeros((), y.dtype)))


# Not through gd.iterate: RKC is adaptive. A step is accepted or rejected by the error
# estimate and its size and stage count change every step, so the number of iterations is
# data-dependent (a while loop), not a fixed-step iteration.
@partial(jax.jit, static_argnames=("f", "max_accept", "rho_every"))
def _rkc_chunk(f, y, l, g, h, h_old, err_old, v, rho, rho_safety, thr, rtol, atol, t, t_max,
               n_left, *, max_accept, rho_every):
    """Up to max_accept accepted RKC steps; stops early at the loss threshold, at t_max or
    before a step that would exceed the gradient budget n_left (``out_of_budget``).

    The spectral radius is refreshed inside the loop (:func:`_power_refresh` from the
    carried vector v) every ``rho_every`` accepted steps and after every rejected step, so a
    refresh costs a few HVPs and no return to Python. ``err_old <= 0`` means there is no
    previous accepted step (I-control on the first one). Returns the new state, the last
    accepted step (y_prev, g_prev, l_prev, h_prev) from which the threshold crossing is
    located, and the vector and spectral radius for the next chunk.
    """
    dt = y.dtype
    tiny = jnp.asarray(1e-10, dt)
    cap = jnp.asarray(0.653 * (_RKC_MAX_STAGES**2 - 1), dt)

    def cond(st):
        y, l, g, h, h_old, err_old, t, nacc, nrej, nev, nhvp, since, rejected, broke = st[:14]
        return (l > thr) & (nacc < max_accept) & jnp.isfinite(l) & (t < t_max) & ~broke

    def body(st):
        (y, l, g, h, h_old, err_old, t, nacc, nrej, nev, nhvp, since, rejected, _, v, rho,
         yp, gp, lp, hp) = st
        refresh = (since >= rho_every) | rejected
        v, rho = lax.cond(refresh, lambda: _power_refresh(f, y, v), lambda: (v, rho))
        nhvp = nhvp + jnp.where(refresh, _RHO_POWER_ITERS, 0)
        since = jnp.where(refresh, 0, since)
        rho_s = rho_safety * jnp.maximum(rho, jnp.asarray(1e-12, dt))
        h = jnp.minimum(jnp.minimum(h, cap / rho_s), t_max - t)
        s = 1 + jnp.floor(jnp.sqrt(1.0 + 1.54 * h * rho_s)).astype(jnp.int32)
        s = jnp.clip(s, 2, _RKC_MAX_STAGES)
        # A step costs s gradients (s - 1 stages and the gradient at its end).
        broke = nev + s > n_left
        return lax.cond(broke, lambda: (y, l, g, h, h_old, err_old, t, nacc, nrej, nev, nhvp, since,
                                        rejected, broke, v, rho, yp, gp, lp, hp),
                        lambda: step(y, l, g, h, h_old, err_old, t, nacc, nrej, nev, nhvp, since,
                                     v, rho, yp, gp, lp, hp, s))

    def step(y, l, g, h, h_old, err_old, t, nacc, nrej, nev, nhvp, since, v, rho, yp, gp, lp, hp, s):
        y_new, ev = _rkc_step(f, y, -g, h, s)
        l_new, g_new = jax.value_and_grad(f)(y_new)
        # Local error estimate of rkc.f: 0.8 (y_n - y_{n+1}) + 0.4 h (F_n + F_{n+1}).
        est = 0.8 * (y - y_new) + 0.4 * h * (-g - g_new)
        scale = atol + rtol * jnp.maximum(jnp.abs(y), jnp.abs(y_new))
        err = jnp.sqrt(jnp.mean(jnp.square(est / scale)))
        err = jnp.where(jnp.isfinite(err), jnp.maximum(err, tiny), jnp.asarray(1e10, dt))
        acc = err <= 1.0
        # Step-size control of rkc.f: PI (Gustafsson) after an accepted step, else I.
        fac_i = 0.8 / jnp.cbrt(err)
        fac_pi = 0.8 * (h / h_old) * jnp.cbrt(err_old) / err ** (2.0 / 3.0)
        fac_acc = jnp.where(err_old > 0, jnp.minimum(fac_pi, fac_i), fac_i)
        fac = jnp.where(acc, jnp.clip(fac_acc, 0.1, 10.0), jnp.clip(fac_i, 0.1, 0.9))
        pick = lambda a, b: jnp.where(acc, a, b)  # noqa: E731
        return (pick(y_new, y), pick(l_new, l), pick(g_new, g), h * fac,
                pick(h, h_old), pick(err, err_old), t + pick(h, jnp.zeros_like(h)),
                nacc + acc.astype(jnp.int32), nrej + (~acc).astype(jnp.int32),
                nev + ev + 1, nhvp, since + acc.astype(jnp.int32), ~acc, jnp.asarray(False), v, rho,
                pick(y, yp), pick(g, gp), pick(l, lp), pick(h, hp))

    zero_i, no = jnp.asarray(0, jnp.int32), jnp.asarray(False)
    st = (y, l, g, h, h_old, err_old, t, zero_i, zero_i, zero_i, zero_i, zero_i, no, no, v, rho,
          y, g, l, jnp.zeros_like(h))
    return lax.while_loop(cond, body, st)


# ----------------------------------------------------------------------------- RK4


@dataclass(frozen=True)
class _RK4Step:
    """One classical RK4 step of fixed size h while the loss is above thr; then a no-op.

    A fixed-step iteration, so it runs through the core primitive :func:`eoslib.gd.iterate`
    (a non-finite state is its divergence: frozen at the last valid state). The state is
    ``(y, loss, grad, t, n, y_prev, grad_prev, loss_prev)``: the previous point is kept for
    locating the threshold crossing inside the last step.
    """

    f: Objective

    def __call__(self, st: tuple, h: Array, thr: Array) -> tuple:
        def advance(st):
            y, l, g, t, n, _, _, _ = st
            grad = jax.grad(self.f)
            k1 = -g
            k2 = -grad(y + 0.5 * h * k1)
            k3 = -grad(y + 0.5 * h * k2)
            k4 = -grad(y + h * k3)
            y_new = y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            # k1 of the next step, and the loss there for free.
            l_new, g_new = jax.value_and_grad(self.f)(y_new)
            return (y_new, l_new, g_new, t + h, n + 1, y, g, l)

        return lax.cond(st[1] > thr, advance, lambda st: st, st)


def _rk4_chunk(f, y, l, g, h, thr, t, *, max_steps):
    """Up to max_steps RK4 steps of size h; the state stops changing once the loss reaches
    thr. Returns the state and whether it stayed finite."""
    z = jnp.zeros((), y.dtype)
    run = gd.iterate(_RK4Step(f), (y, l, g, t, z, y, g, l), max_steps, args=(h, thr))
    return run.final, not run.diverged


# ----------------------------------------------------------------------------- public


def _common_checks(f: Any, loss_threshold: Any, max_time: Any, max_grad_evals: Any,
                   sharpness_tol: Any) -> tuple[float, float, int, float]:
    if not callable(f):
        raise ValueError("f must be a callable R^D -> R")
    thr = _check_pos("loss_threshold", loss_threshold)
    t_max = _check_pos("max_time", max_time, allow_inf=True)
    n_max = _check_int("max_grad_evals", max_grad_evals, 1)
    s_tol = _check_pos("sharpness_tol", sharpness_tol)
    return thr, t_max, n_max, s_tol


def gradient_flow(
    f: Objective,
    w0: Float[ArrayLike, " D"],
    *,
    loss_threshold: float,
    method: str = "rkc",
    rtol: float = 1e-6,
    atol: float = 1e-9,
    max_time: float = math.inf,
    max_grad_evals: int = 1_000_000,
    rho_every: int = 10,
    rho_safety: float = 1.2,
    sharpness_tol: float = 1e-8,
) -> FlowResult:
    """Gradient flow ``w' = -grad f(w)`` from ``w0`` until ``f(w) = loss_threshold``, adaptively.

    Args:
      f: loss of a flat parameter vector, ``R^D -> R`` (JAX-traceable). Pass the same
        function object to several calls to reuse compilations.
      w0: starting point, shape ``(D,)`` floating (float64 advised for tight tolerances).
      loss_threshold: stop when the loss reaches this value, in ``(0, inf)``. It defines
        the gradient-flow solution, so it has no default; on networks the sharpness still
        drifts along the flow near the threshold.
      method: ``"rkc"`` (default, stabilized explicit, see the module docstring),
        ``"tsit5"``, ``"dopri5"`` or ``"bosh3"`` (``diffrax``).
      rtol: relative tolerance of the local error control, in ``(0, inf)``.
      atol: absolute tolerance, in ``(0, inf)``; the error of component ``i`` is scaled by
        ``atol + rtol |w_i|``.
      max_time: largest flow time, in ``(0, inf]``.
      max_grad_evals: budget of gradient evaluations, in ``[1, inf)``.
      rho_every: ``"rkc"`` only: accepted steps between spectral-radius (sharpness)
        refreshes, in ``[1, inf)``; a rejected step also triggers a refresh. A refresh is
        three warm-started power iterations (three HVPs) inside the compiled loop.
      rho_safety: ``"rkc"`` only: the stage count is chosen for ``rho_safety * S``, in
        ``[1, inf)``, because the sharpness can grow between refreshes.
      sharpness_tol: Lanczos tolerance of the final sharpness, in ``(0, inf)``.

    Returns:
      A :class:`FlowResult`.

    Raises:
      ValueError: an argument outside its allowed range (the message names it).

    References:
      Sommeijer, Shampine & Verwer, J. Comput. Appl. Math. 88 (1998) (RKC).
      Kreisler et al., ICML 2023 (gradient-flow solutions).
    """
    if method not in METHODS:
        _choice("method", method, METHODS)
    thr, t_max, n_max, s_tol = _common_checks(f, loss_threshold, max_time, max_grad_evals,
                                              sharpness_tol)
    rtol = _check_pos("rtol", rtol)
    atol = _check_pos("atol", atol)
    rho_every = _check_int("rho_every", rho_every, 1)
    rho_safety = _check_pos("rho_safety", rho_safety)
    if rho_safety < 1.0:
        raise ValueError(f"rho_safety must be in [1, inf), got {rho_safety!r}")
    w0 = flat_point("w0", w0)
    options: dict = {"rtol": rtol, "atol": atol, "loss_threshold": thr}
    sharp = _Sharpness(f, w0)
    if method == "rkc":
        options.update(rho_every=rho_every, rho_safety=rho_safety)
        return _gradient_flow_rkc(f, w0, thr, rtol, atol, t_max, n_max, rho_every, rho_safety,
                                  sharp, s_tol, options)
    return _gradient_flow_diffrax(f, w0, method, thr, rtol, atol, t_max, n_max, sharp, s_tol,
                                  options)


def _gradient_flow_rkc(f, w0, thr, rtol, atol, t_max, n_max, rho_every, rho_safety, sharp,
                       s_tol, options) -> FlowResult:
    dt = w0.dtype
    l, g = _value_and_grad(f, w0)
    evals = 1
    if float(l) <= thr:
        return _finish(f, "rkc", options, sharp, w0, 0.0, evals, 0, 0, True,
                       "loss already below the threshold", s_tol)
    rho = max(sharp(w0, _RHO_TOL), 0.0)
    v = sharp.v[:, 0]
    # First step: a stable explicit-Euler-sized step; the controller grows it (x10 per step).
    h = 1.0 / max(rho, 1e-12)
    h_old, err_old = h, -1.0
    y, t = w0, 0.0
    steps = rejected = 0
    thr_a, rtol_a, atol_a, tmax_a, safety_a = (jnp.asarray(x, dt) for x in (thr, rtol, atol, t_max, rho_safety))
    rho_a = jnp.asarray(rho, dt)
    message = ""
    while True:
        out = _rkc_chunk(f, y, l, g, jnp.asarray(h, dt), jnp.asarray(h_old, dt),
                         jnp.asarray(err_old, dt), v, rho_a, safety_a, thr_a, rtol_a, atol_a,
                         jnp.asarray(t, dt), tmax_a, jnp.asarray(min(n_max - evals, _MAX_BUDGET), jnp.int32),
                         max_accept=_RKC_CHUNK, rho_every=rho_every)
        (y_c, l_c, g_c, h_c, h_old_c, err_old_c, t_c, nacc, nrej, nev, nhvp, _, _, broke, v,
         rho_a, yp, gp, lp, hp) = out
        evals += int(nev)
        steps += int(nacc)
        rejected += int(nrej)
        sharp.hvps += int(nhvp)
        # The final sharpness warm-starts from the vector the refreshes have tracked.
        sharp.v = v[:, None]
        if not bool(jnp.isfinite(l_c)):
            # Rejected steps never replace y, so a non-finite loss cannot be accepted;
            # kept as a guard against a non-finite f.
            return _finish(f, "rkc", options, sharp, y, t, evals, steps, rejected, False,
                           "non-finite loss", s_tol)
        if float(l_c) <= thr:
            th, y_star = _locate(f, yp, -gp, y_c, -g_c, hp, thr_a, lp, l_c)
            t_star = float(t_c) - float(hp) * (1.0 - float(th))
            return _finish(f, "rkc", options, sharp, y_star, t_star, evals, steps, rejected,
                           True, "reached the loss threshold", s_tol)
        y, l, g, t = y_c, l_c, g_c, float(t_c)
        h, h_old, err_old = float(h_c), float(h_old_c), float(err_old_c)
        if t >= t_max:
            message = "reached max_time"
            break
        if bool(broke):
            message = "reached max_grad_evals"
            break
    return _finish(f, "rkc", options, sharp, y, t, evals, steps, rejected, False, message, s_tol)


def _gradient_flow_diffrax(f, w0, method, thr, rtol, atol, t_max, n_max, sharp, s_tol,
                           options) -> FlowResult:
    import diffrax
    import optimistix as optx

    per_step, overhead = _DIFFRAX_EVALS[method]
    solver = {"tsit5": diffrax.Tsit5, "dopri5": diffrax.Dopri5, "bosh3": diffrax.Bosh3}[method]()
    l0 = float(_value(f, w0))
    if l0 <= thr:
        return _finish(f, method, options, sharp, w0, 0.0, 0, 0, 0, True,
                       "loss already below the threshold", s_tol)
    s0 = max(sharp(w0, 1e-3), 1e-12)
    dt = w0.dtype
    max_steps = max(1, (n_max - overhead) // per_step)
    # diffrax needs a finite end time; the event stops the solve long before it.
    t1 = t_max if math.isfinite(t_max) else 1e12

    def vector_field(t, y, args):
        return -jax.grad(f)(y)

    def cond_fn(t, y, args, **kwargs):
        # Relative form, so the root finder's tolerances mean the same for any threshold.
        # In the default float dtype: diffrax compares it with a python-float 0.0.
        return (f(y) / jnp.asarray(thr, dt) - 1.0).astype(jnp.zeros(()).dtype)

    # Root-finder tolerances on the relative loss, above the rounding level of dt.
    eps = float(jnp.finfo(dt).eps)
    root_tol = max(1e-10, 100.0 * eps)
    event = diffrax.Event(cond_fn, root_finder=optx.Newton(rtol=root_tol, atol=root_tol))
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(vector_field), solver, jnp.asarray(0.0, dt), jnp.asarray(t1, dt),
        # An explicit dt0 (the stability scale 1/S) spares diffrax's initial-step search.
        jnp.asarray(1.0 / s0, dt), w0,
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        saveat=diffrax.SaveAt(t1=True), event=event, max_steps=max_steps, throw=False)
    w = sol.ys[-1]
    stats = {k: int(v) for k, v in sol.stats.items()}
    evals = overhead + per_step * stats["num_steps"]
    reached = bool(sol.result == diffrax.RESULTS.event_occurred)
    if bool(sol.result == diffrax.RESULTS.nonlinear_max_steps_reached):
        # Newton on the dense output stalls when the loss itself is only known to a
        # relative precision worse than its tolerance (tiny thresholds); the event time
        # is still located to that precision.
        reached = abs(float(_value(f, w)) / thr - 1.0) < max(1e-6, 1000.0 * eps)
    if reached:
        message = "reached the loss threshold"
    elif bool(sol.result == diffrax.RESULTS.max_steps_reached):
        message = "reached max_grad_evals"
    elif float(sol.ts[-1]) >= t1:
        message = "reached max_time"
    else:
        text = str(sol.result)
        # "diffrax._solution.RESULTS<message>" -> "message"
        message = "diffrax stopped: " + (text[text.find("<") + 1:-1] if "<" in text else text)
    return _finish(f, method, options, sharp, w, float(sol.ts[-1]), evals,
                   stats["num_accepted_steps"], stats["num_rejected_steps"], reached,
                   message, s_tol)


def gradient_flow_rk4(
    f: Objective,
    w0: Float[ArrayLike, " D"],
    *,
    loss_threshold: float,
    alpha: float = 1.0,
    sharpness_every: int = 100,
    max_time: float = math.inf,
    max_grad_evals: int = 1_000_000,
    sharpness_tol: float = 1e-8,
) -> FlowResult:
    """Gradient flow by classical RK4 with step ``alpha / S``, ``S`` the current sharpness.

    ``S`` is recomputed (Lanczos, warm-started) every ``sharpness_every`` steps, as in Cohen
    et al. (``alpha = 1``) and Kreisler et al. RK4 is stable for ``h S < 2.785`` on a
    quadratic, so ``alpha`` must stay below that with a margin for the sharpness growing
    between refreshes. The crossing of the threshold inside the last step is located on
    the cubic Hermite interpolant.

    Args:
      f: loss of a flat parameter vector, ``R^D -> R``.
      w0: starting point, shape ``(D,)`` floating.
      loss_threshold: stop when the loss reaches this value, in ``(0, inf)``.
      alpha: step in units of ``1 / S``, in ``(0, 2.785)``.
      sharpness_every: steps between sharpness refreshes, in ``[1, inf)``.
      max_time: largest flow time, in ``(0, inf]``.
      max_grad_evals: budget of gradient evaluations, in ``[1, inf)``.
      sharpness_tol: Lanczos tolerance of the final sharpness, in ``(0, inf)``.

    Returns:
      A :class:`FlowResult` with ``method="rk4"``.

    Raises:
      ValueError: an argument outside its allowed range (the message names it).

    References:
      Cohen et al., ICLR 2021, Appendix (gradient flow by RK4 with step 1/S).
      Kreisler et al., ICML 2023, Sec. 4.2.
    """
    thr, t_max, n_max, s_tol = _common_checks(f, loss_threshold, max_time, max_grad_evals,
                                              sharpness_tol)
    alpha = _check_pos("alpha", alpha)
    if alpha >= 2.785:
        raise ValueError(f"alpha must be in (0, 2.785) (RK4 stability), got {alpha!r}")
    sharpness_every = _check_int("sharpness_every", sharpness_every, 1)
    w0 = flat_point("w0", w0)
    options = {"alpha": alpha, "sharpness_every": sharpness_every, "loss_threshold": thr}
    sharp = _Sharpness(f, w0)
    dt = w0.dtype
    l, g = _value_and_grad(f, w0)
    evals, steps, t = 1, 0, 0.0
    if float(l) <= thr:
        return _finish(f, "rk4", options, sharp, w0, 0.0, evals, 0, 0, True,
                       "loss already below the threshold", s_tol)
    y = w0
    thr_a = jnp.asarray(thr, dt)
    while True:
        s = max(sharp(y, 1e-3), 1e-12)
        h = alpha / s
        n = sharpness_every
        if math.isfinite(t_max):
            n = min(n, max(1, math.ceil((t_max - t) / h)))
        n = min(n, max(1, (n_max - evals) // 4))
        (y_c, l_c, g_c, t_c, n_c, yp, gp, lp), finite = _rk4_chunk(
            f, y, l, g, jnp.asarray(h, dt), thr_a, jnp.asarray(t, dt), max_steps=n)
        # After a non-finite state the chunk is frozen at the last finite one; the step
        # that failed still cost its four gradients.
        evals += 4 * (int(n_c) + (not finite))
        steps += int(n_c)
        if not finite:
            return _finish(f, "rk4", options, sharp, y_c, float(t_c), evals, steps, 0, False,
                           "diverged (non-finite loss): alpha too large", s_tol)
        if float(l_c) <= thr:
            th, y_star = _locate(f, yp, -gp, y_c, -g_c, jnp.asarray(h, dt), thr_a, lp, l_c)
            t_star = float(t_c) - h * (1.0 - float(th))
            return _finish(f, "rk4", options, sharp, y_star, t_star, evals, steps, 0, True,
                           "reached the loss threshold", s_tol)
        y, l, g, t = y_c, l_c, g_c, float(t_c)
        if t >= t_max:
            return _finish(f, "rk4", options, sharp, y, t, evals, steps, 0, False,
                           "reached max_time", s_tol)
        if evals + 4 > n_max:
            return _finish(f, "rk4", options, sharp, y, t, evals, steps, 0, False,
                           "reached max_grad_evals", s_tol)
