"""The squared regression model of Section 4.1: ``f(x; u, v) = <u*u - v*v, x>``.

Loss ``L(u, v) = ||X beta - y||^2 / (2n)`` with ``beta = u^2 - v^2`` (the ``1/(2n)``
normalisation is our choice; the paper's was not recovered). Gradient flow conserves
``u * v`` elementwise (Azulay et al.) and moves ``u = u0 e^nu``, ``v = v0 e^-nu`` with
``nu = X^T mu`` in the row space of ``X``. Its limit (the GFS) interpolates, so ``mu`` solves

    min_mu G(mu) = 1/2 sum_i (a_i e^{2 nu_i} + b_i e^{-2 nu_i}) - mu^T y,   nu = X^T mu,

with ``a = u0^2``, ``b = v0^2``: ``grad G = X beta(nu) - y``. ``G`` is smooth and strictly
convex in ``n`` variables (``X`` of full row rank), so Newton's method with backtracking
finds it to round-off (:func:`gfs_dual`). The paper's route is the primal problem (Eq. 7),
``beta_hat = argmin_{X beta = y} Q(beta)`` with ``Q' = 1/2 arcsinh(beta / (2|u0 v0|)) -
1/2 log|u0 / v0|`` (:func:`gfs_primal`, used as a check). At an interpolating point the
Hessian is ``(1/n) J^T J`` with ``J = [2 X diag(u), -2 X diag(v)]``, so the GFS sharpness is

    phi = (4/n) lambda_max(X diag(u_inf^2 + v_inf^2) X^T).

The flattest interpolator ``S_flat = min_{X beta = y} (4/n) lambda_max(X diag|beta| X^T)``
(since ``u^2 + v^2 >= |u^2 - v^2|``) is a convex problem (:func:`flattest_sharpness`).

References:
  Kreisler et al., ICML 2023, Section 4.1, Appendices B.3 and C.
  S. Azulay, E. Moroshko, M. S. Nacson, B. Woodworth, N. Srebro, A. Globerson, D. Soudry,
  "On the Implicit Bias of Initialization Shape: Beyond Infinitesimal Mirror Descent",
  ICML 2021 (Eq. 7, the conserved quantity).
  B. Woodworth et al., "Kernel and Rich Regimes in Overparametrized Models", COLT 2020.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from eoslib import gd
from eoslib.validation import integer as _integer, positive as _positive, real as _real

__all__ = [
    "RegressionProblem",
    "make_problem",
    "split",
    "loss",
    "gd_map",
    "hessian",
    "hessian_closed_form",
    "sharpness",
    "gfs_dual",
    "gfs_sharpness",
    "gfs_primal",
    "gradient_flow_ode",
    "flattest_sharpness",
    "RegressionRun",
    "gd_run",
    "EoSRun",
    "eos_runs",
]


class RegressionProblem(NamedTuple):
    """Data of the squared regression model.

    Attributes:
      X: inputs ``(n, d)``, ``n <= d``.
      y: labels ``(n,)``.
    """

    X: np.ndarray
    y: np.ndarray

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def d(self) -> int:
        return int(self.X.shape[1])


def make_problem(seed: int, n: int = 20, d: int = 100, mu: float = 1.0, sigma: float = 1.0) -> RegressionProblem:
    """Synthetic data of App. B.3: ``x_i ~ N(mu 1, sigma^2 I_d)`` i.i.d., labels ``y ~ N(0, 1)``.

    Args:
      seed: NumPy seed, in ``[0, inf)``.
      n: examples, in ``[1, d]``.
      d: dimension, in ``[1, inf)``.
      mu: mean of every input coordinate.
      sigma: standard deviation, in ``(0, inf)``.
    """
    seed = _integer("seed", seed, 0)
    d = _integer("d", d, 1)
    n = _integer("n", n, 1, d)
    _real("mu", mu)
    sigma = _positive("sigma", sigma)
    rng = np.random.default_rng(seed)
    return RegressionProblem(mu + sigma * rng.standard_normal((n, d)), rng.standard_normal(n))


def split(w: Array) -> tuple[Array, Array]:
    """``(u, v)`` from the flat parameters ``w = (u, v)`` of shape ``(..., 2d)``."""
    d = w.shape[-1] // 2
    return w[..., :d], w[..., d:]


def loss(w: Array, X: Array, y: Array) -> Array:
    """``||X (u^2 - v^2) - y||^2 / (2n)`` for flat ``w = (u, v)``."""
    u, v = split(w)
    r = (u * u - v * v) @ X.T - y
    return 0.5 * jnp.mean(r * r, axis=-1)


def gd_map(w: Array, eta: Array, X: Array, y: Array) -> Array:
    """One GD step on :func:`loss` (autodiff gradient)."""
    return w - eta * jax.grad(loss)(w, X, y)


def hessian(w: Array, X: Array, y: Array) -> Array:
    """Dense Hessian of :func:`loss` (``2d x 2d``), by autodiff."""
    return jax.hessian(loss)(w, X, y)


def hessian_closed_form(w: Array, X: Array, y: Array) -> Array:
    """The Hessian ``(1/n) J^T J + (2/n) diag(X^T r, -X^T r)``, ``J = [2 X diag(u), -2 X diag(v)]``,
    ``r = X beta - y`` (App. C)."""
    u, v = split(w)
    n = X.shape[0]
    r = X @ (u * u - v * v) - y
    J = jnp.concatenate([2 * X * u, -2 * X * v], axis=1)
    g = X.T @ r
    return (J.T @ J + 2.0 * jnp.diag(jnp.concatenate([g, -g]))) / n


_hessians = jax.jit(jax.vmap(hessian_closed_form, in_axes=(0, None, None)))


def sharpness(w, X, y) -> np.ndarray:
    """``lambda_max`` of the Hessian (closed form; vmapped over leading axes of ``w``).

    The eigenvalues come from NumPy's LAPACK ``eigvalsh`` on the host: for a batch of
    ``200 x 200`` matrices it was 20x faster than ``jnp.linalg.eigvalsh`` on the CPU.
    """
    w = jnp.asarray(w)
    flat = w.reshape(-1, w.shape[-1])
    lam = np.linalg.eigvalsh(np.asarray(_hessians(flat, jnp.asarray(X), jnp.asarray(y))))[:, -1]
    return lam.reshape(w.shape[:-1])


def _g_value(mu: Array, a: Array, b: Array, X: Array, y: Array) -> Array:
    nu = mu @ X
    return 0.5 * jnp.sum(a * jnp.exp(2 * nu) + b * jnp.exp(-2 * nu)) - mu @ y


def _g_terms(mu: Array, a: Array, b: Array, X: Array, y: Array):
    nu = mu @ X
    ep, em = a * jnp.exp(2 * nu), b * jnp.exp(-2 * nu)
    g = 0.5 * jnp.sum(ep + em) - mu @ y
    grad = X @ (ep - em) - y
    hess = (X * (2 * (ep + em))) @ X.T
    return g, grad, hess


_POLISH = 2  # plain Newton steps after the tolerance is met: quadratic convergence to round-off
_FULL_STEPS = 1e-6  # below this relative gradient norm Newton takes full steps


def _newton_dual(a: Array, b: Array, X: Array, y: Array, tol: Array, max_iter: int):
    """Damped Newton on G (one problem); returns (mu, iterations, final gradient norm).

    Stops ``_POLISH`` full steps after ``||grad G|| <= tol (1 + ||y||)``, or at ``max_iter``.
    """
    n = X.shape[0]
    scale = 1.0 + jnp.linalg.norm(y)

    def cond(state):
        mu, it, gnorm, extra = state
        return (extra < _POLISH) & (it < max_iter)

    def body(state):
        mu, it, _, extra = state
        g, grad, hess = _g_terms(mu, a, b, X, y)
        step = -jnp.linalg.solve(hess, grad)
        slope = grad @ step
        gn = jnp.linalg.norm(grad)
        # Near the optimum the Armijo test on G is lost in round-off; there Newton is
        # quadratically convergent and takes full steps.
        quadratic = gn <= _FULL_STEPS * scale

        def ls_cond(t):
            return (~(_g_value(mu + t * step, a, b, X, y) <= g + 0.25 * t * slope)) & (t > 1e-12) & ~quadratic

        t = lax.while_loop(ls_cond, lambda t: 0.5 * t, jnp.ones((), mu.dtype))
        mu_new = mu + t * step
        gnorm = jnp.linalg.norm(_g_terms(mu_new, a, b, X, y)[1])
        return mu_new, it + 1, gnorm, extra + (gn <= tol * scale).astype(jnp.int32)

    mu0 = jnp.zeros(n, a.dtype)
    gnorm0 = jnp.linalg.norm(_g_terms(mu0, a, b, X, y)[1])
    zero = jnp.zeros((), jnp.int32)
    mu, it, gnorm, _ = lax.while_loop(cond, body, (mu0, zero, gnorm0, zero))
    return mu, it, gnorm


@partial(jax.jit, static_argnames=("max_iter",))
def _gfs_dual_batch(w: Array, X: Array, y: Array, tol: Array, max_iter: int):
    u, v = split(w)

    def one(ui, vi):
        mu, it, gnorm = _newton_dual(ui * ui, vi * vi, X, y, tol, max_iter)
        nu = mu @ X
        return ui * jnp.exp(nu), vi * jnp.exp(-nu), it, gnorm

    return jax.vmap(one)(u, v)


def _check_problem(X, y) -> tuple[Array, Array]:
    X, y = jnp.asarray(X), jnp.asarray(y)
    if X.ndim != 2 or y.shape != X.shape[:1] or X.shape[0] > X.shape[1]:
        raise ValueError(f"X must be (n, d) with n <= d and y (n,), got X {X.shape} and y {y.shape}")
    return X, y


def gfs_dual(w, X, y, *, tol: float = 1e-13, max_iter: int = 100) -> tuple[Array, Array, Array]:
    """The GF solution ``(u_inf, v_inf)`` from ``w = (u0, v0)`` by Newton on the convex dual.

    Args:
      w: flat parameters ``(..., 2d)``; every ``u0_i v0_i`` must be non-zero.
      X, y: the data (``n <= d``, ``X`` of full row rank).
      tol: stop when ``||X beta - y|| <= tol (1 + ||y||)``, in ``(0, 1)``.
      max_iter: Newton iterations, in ``[1, 10000]``.

    Returns:
      ``(w_inf, iterations, residual)``: the GFS as flat ``(u_inf, v_inf)``, the Newton
      iterations used, and ``||X beta_inf - y||``.
    """
    X, y = _check_problem(X, y)
    w = jnp.asarray(w)
    if w.shape[-1] != 2 * X.shape[1]:
        raise ValueError(f"w must have 2d = {2 * X.shape[1]} entries on its last axis, got {w.shape}")
    _real("tol", tol, 0.0, 1.0)
    max_iter = _integer("max_iter", max_iter, 1, 10000)
    flat = w.reshape(-1, w.shape[-1])
    u, v, it, gnorm = _gfs_dual_batch(flat, X, y, jnp.asarray(tol, w.dtype), max_iter)
    w_inf = jnp.concatenate([u, v], axis=-1).reshape(w.shape)
    return w_inf, it.reshape(w.shape[:-1]), gnorm.reshape(w.shape[:-1])


@jax.jit
def _interp_sharpness(w_inf: Array, X: Array) -> Array:
    u, v = split(w_inf)
    n = X.shape[0]
    k = jax.vmap(lambda s: (X * s) @ X.T)(u * u + v * v)
    return 4.0 / n * jnp.linalg.eigvalsh(k)[:, -1]


def gfs_sharpness(w, X, y, *, tol: float = 1e-13) -> Array:
    """``phi(w) = (4/n) lambda_max(X diag(u_inf^2 + v_inf^2) X^T)`` with the GFS from :func:`gfs_dual`."""
    X, y = _check_problem(X, y)
    w_inf, _, _ = gfs_dual(w, X, y, tol=tol)
    flat = w_inf.reshape(-1, w_inf.shape[-1])
    return _interp_sharpness(flat, X).reshape(w_inf.shape[:-1])


def gfs_primal(w0, X, y) -> np.ndarray:
    """The GF predictor ``beta_hat`` of Eq. 7, ``argmin_{X beta = y} Q(beta)``, by SciPy (SLSQP).

    ``Q(beta) = sum_i q_{k_i}(beta_i) - 1/2 beta_i arcsinh(2 beta0_i / sqrt(k_i))`` with
    ``k_i = 16 u0_i^2 v0_i^2`` and
    ``q_k(z) = sqrt(k)/4 (1 - sqrt(1 + 4 z^2 / k) + 2z/sqrt(k) arcsinh(2z / sqrt(k)))``.

    Args:
      w0: flat ``(u0, v0)`` of shape ``(2d,)``.
      X, y: the data.

    Returns:
      ``beta_hat`` ``(d,)``.
    """
    from scipy.optimize import minimize

    X, y = (np.asarray(a, float) for a in (X, y))
    u0, v0 = np.split(np.asarray(w0, float), 2)
    sk = 4.0 * np.abs(u0 * v0)  # sqrt(k)
    shift = 0.5 * np.arcsinh(2 * (u0**2 - v0**2) / sk)

    def q(beta):
        z = 2 * beta / sk
        return np.sum(sk / 4 * (1 - np.sqrt(1 + z * z) + z * np.arcsinh(z)) - beta * shift)

    def dq(beta):
        return 0.5 * np.arcsinh(2 * beta / sk) - shift

    beta0 = np.linalg.lstsq(X, y, rcond=None)[0]
    res = minimize(q, beta0, jac=dq, method="SLSQP",
                   constraints=[{"type": "eq", "fun": lambda b: X @ b - y, "jac": lambda b: X}],
                   options={"ftol": 1e-15, "maxiter": 1000})
    return res.x


@partial(jax.jit, static_argnames=("t_final", "rtol", "atol", "max_steps"))
def _ode(w0, X, y, t_final, rtol, atol, max_steps):
    import diffrax

    grad = jax.grad(loss)
    term = diffrax.ODETerm(lambda t, w, args: -grad(w, X, y))

    def one(w):
        sol = diffrax.diffeqsolve(term, diffrax.Dopri8(), 0.0, t_final, 1e-3, w,
                                  stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
                                  saveat=diffrax.SaveAt(t1=True), max_steps=max_steps, throw=False)
        return sol.ys[-1], sol.stats["num_accepted_steps"]

    return jax.vmap(one)(w0)


def gradient_flow_ode(w0, X, y, *, t_final: float = 2000.0, rtol: float = 1e-12, atol: float = 1e-14,
                      max_steps: int = 200_000) -> tuple[Array, Array]:
    """Gradient flow of :func:`loss` by diffrax (Dopri8) to time ``t_final``: the reference for
    :func:`gfs_dual`. Batched over the leading axis of ``w0`` ``(B, 2d)``.

    Returns:
      ``(w_T, accepted_steps)``.
    """
    X, y = _check_problem(X, y)
    w0 = jnp.atleast_2d(jnp.asarray(w0))
    return _ode(w0, X, y, _positive("t_final", t_final), _positive("rtol", rtol), _positive("atol", atol),
                _integer("max_steps", max_steps, 1))


def flattest_sharpness(X, y, *, smoothing: tuple[float, ...] = (1e-2, 1e-4, 1e-6),
                       temperatures: tuple[float, ...] = (30.0, 1000.0, 30000.0)) -> tuple[float, np.ndarray]:
    """``S_flat = min_{X beta = y} (4/n) lambda_max(X diag|beta| X^T)``, the sharpness of the flattest
    interpolator (a convex problem).

    Route: ``beta = beta_p + N z`` (``N`` a null-space basis of ``X``), ``|beta|`` smoothed as
    ``sqrt(beta^2 + eps^2)`` and ``lambda_max`` as the log-sum-exp of the eigenvalues at
    temperature ``tau`` (relative to the current scale), both sharpened in stages, each stage
    solved by L-BFGS with autodiff gradients (SciPy). The paper used projected GD with
    Dykstra projections. The result is the exact objective at the final ``beta``, so it is an
    upper bound on ``S_flat``.

    Returns:
      ``(S_flat, beta)``.
    """
    from scipy.linalg import null_space
    from scipy.optimize import minimize

    if len(smoothing) != len(temperatures) or not smoothing:
        raise ValueError("smoothing and temperatures must be non-empty and of equal length")
    X, y = (np.asarray(a, float) for a in (X, y))
    n = X.shape[0]
    beta_p = np.linalg.lstsq(X, y, rcond=None)[0]
    N = null_space(X)
    Xj, bpj, Nj = jnp.asarray(X), jnp.asarray(beta_p), jnp.asarray(N)

    def exact(beta):
        return 4.0 / n * float(np.linalg.eigvalsh((X * np.abs(beta)) @ X.T)[-1])

    @jax.jit
    def smooth(z, eps, tau):
        beta = bpj + Nj @ z
        lam = jnp.linalg.eigvalsh((Xj * jnp.sqrt(beta * beta + eps * eps)) @ Xj.T)
        top = lam[-1]
        return 4.0 / n * (top + jnp.log(jnp.sum(jnp.exp(tau * (lam - top) / top))) * top / tau)

    value_grad = jax.jit(jax.value_and_grad(smooth))

    def fun(v, eps, tau):
        val, g = value_grad(jnp.asarray(v), eps, tau)
        return float(val), np.asarray(g)

    z = np.zeros(N.shape[1])
    for eps, tau in zip(smoothing, temperatures):
        z = minimize(fun, z, args=(eps, tau), jac=True, method="L-BFGS-B",
                     options={"maxiter": 1000, "gtol": 1e-9}).x
    beta = beta_p + N @ z
    return exact(beta), beta


class RegressionRun(NamedTuple):
    """A GD run on the squared regression model.

    Attributes:
      params: iterates ``(T + 1, 2d)``.
      loss: ``L`` at every step.
      phi: GFS sharpness at every step.
      sharpness: ``lambda_max`` at the steps ``sharpness_steps``.
      sharpness_steps: where the sharpness was computed.
      stop: first step with ``L < loss_stop`` and ``lambda_max < 2 / eta`` (at a sharpness
        step), or ``-1``.
      eta: step size.
      diverged_at: first invalid step, ``-1`` if none.
    """

    params: np.ndarray
    loss: np.ndarray
    phi: np.ndarray
    sharpness: np.ndarray
    sharpness_steps: np.ndarray
    stop: int
    eta: float
    diverged_at: int


def gd_run(problem: RegressionProblem, w0, eta: float, num_steps: int, *, sharpness_every: int = 5,
           loss_stop: float = 1e-10) -> RegressionRun:
    """GD on the squared regression model with the GFS sharpness at every step.

    Args:
      problem: the data.
      w0: flat ``(u0, v0)``.
      eta: step size in ``(0, inf)``.
      num_steps: steps in ``[1, inf)``.
      sharpness_every: stride of the (dense) sharpness, in ``[1, num_steps]``.
      loss_stop: the paper's stopping rule is ``L < loss_stop`` (and here also
        ``lambda_max < 2/eta``, without which a run can stop before the unstable direction
        is excited).
    """
    eta = _positive("eta", eta)
    sharpness_every = _integer("sharpness_every", sharpness_every, 1, num_steps)
    X, y = (jnp.asarray(a) for a in problem)
    w0 = jnp.asarray(w0)
    res = gd.iterate(gd_map, w0, num_steps, args=(jnp.asarray(eta, w0.dtype), X, y), record_every=1,
                     max_norm=1e6)
    params = res.params
    losses = np.asarray(jax.vmap(loss, in_axes=(0, None, None))(params, X, y))
    phi = np.asarray(gfs_sharpness(params, X, y))
    steps = np.arange(0, num_steps + 1, sharpness_every)
    sharp = np.asarray(sharpness(params[steps], X, y))
    ok = (losses[steps] < loss_stop) & (sharp < 2 / eta)
    stop = int(steps[np.argmax(ok)]) if ok.any() else -1
    return RegressionRun(np.asarray(params), losses, phi, sharp, steps, stop, eta, int(res.diverged_at))


class EoSRun(NamedTuple):
    """One run of Figure 5.

    Attributes:
      label: e.g. ``"seed 1, f=0.3"``.
      problem: its data.
      run: the GD run.
      s_flat: sharpness of the flattest interpolator of ``problem``.
      phi0: GFS sharpness at initialisation.
    """

    label: str
    problem: RegressionProblem
    run: RegressionRun
    s_flat: float
    phi0: float


def eos_runs(seed: int, fractions: tuple[float, ...] = (0.3, 0.6), *, n: int = 20, d: int = 100,
             init_scale: float = 0.1, num_steps: int = 3000, sharpness_every: int = 10) -> list[EoSRun]:
    """GD runs of Figure 5 on one random dataset: ``u0 = v0 = init_scale * 1`` and
    ``2 / eta = S_flat + f (phi0 - S_flat)`` for each ``f`` in ``fractions`` (so the
    threshold lies between the flattest interpolator and the initial GFS sharpness).

    Args:
      seed: data seed.
      fractions: the ``f`` values, each in ``(0, 1)``.
      n, d, init_scale, num_steps, sharpness_every: data size, initial weight, GD steps,
        stride of the (dense) sharpness.
    """
    problem = make_problem(seed, n=n, d=d)
    w0 = jnp.full(2 * d, _positive("init_scale", init_scale))
    s_flat, _ = flattest_sharpness(*problem)
    phi0 = float(gfs_sharpness(w0, *problem))
    out = []
    for f in fractions:
        _real("fraction", f, 0.0, 1.0)
        eta = 2.0 / (s_flat + f * (phi0 - s_flat))
        run = gd_run(problem, w0, eta, num_steps, sharpness_every=sharpness_every)
        out.append(EoSRun(f"seed {seed}, f={f:g}", problem, run, s_flat, phi0))
    return out
