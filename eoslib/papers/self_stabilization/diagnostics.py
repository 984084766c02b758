"""Assumption diagnostics of Appendix E (algorithm A9) along the constrained trajectory.

Per tracked step (cheap, from the Taylor data at ``theta^dagger_t``):

* ``alpha_t = -grad L_t . grad S_t`` (Assumption 1: positive);
* ``epsilon_t = eta sqrt(alpha_t)`` (Definition 6: small);
* ``gamma_t = alpha_t / (||grad L_t|| ||grad S_t^perp||)`` (Assumption 4: Theta(1)).

Every few steps (:func:`heavy_diagnostics`, a few hundred HVP-equivalents):

* ``rho_3``, ``rho_4`` by 20 power iterations from ``u_t`` (Assumption 3), and the ratios
  ``||grad S_t^perp|| / rho_3`` (Assumption 4) and ``rho_4 / (eta rho_3^2)`` (Assumption 3);
* the three ratios of Assumption 5 with ``v_t = theta_t - theta^dagger_t`` (GD) and
  ``grad L_t`` projected off ``u_t``;
* ``lambda_min`` (for ``||nabla^2 L_t|| = max(S_t, |lambda_min|)``);
* ``F_t(x) = L(theta^dagger_t + x u_t) - L(theta^dagger_t) - x^2/eta`` on a grid of
  ``[-5 delta_t, 5 delta_t]`` (App. F: sub- or super-quadratic).

References:
  Damian, Nichani, Lee (2023), Assumptions 1-5, Definition 6, Appendices E and F.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from eoslib import curvature
from eoslib.papers.self_stabilization.oracles import Taylor, perp, tensor_norm

__all__ = ["cheap_diagnostics", "heavy_diagnostics", "F_samples", "HEAVY_KEYS"]

#: Keys of :func:`heavy_diagnostics`, in order.
HEAVY_KEYS = ("rho3", "rho4", "lambda_min", "asm5_v", "asm5_grad", "asm5_hess")


def cheap_diagnostics(q: Taylor, eta: float) -> dict[str, float]:
    """``alpha_t``, ``epsilon_t``, ``gamma_t``, ``beta_t``, ``delta_t`` from the Taylor data."""
    alpha = float(q.alpha)
    beta = float(q.beta)
    gn = float(jnp.linalg.norm(q.grad))
    return {"alpha": alpha, "beta": beta, "delta": float(np.sqrt(2 * max(alpha, 0.0) / beta)),
            "epsilon": eta * float(np.sqrt(max(alpha, 0.0))),
            "gamma": alpha / (gn * float(np.sqrt(beta)))}


@partial(jax.jit, static_argnames=("f",))
def _asm5(f, q: Taylor, v):
    vp = perp(v, q.u)
    gp = perp(q.grad, q.u)
    t_v = curvature.third_derivative_vv(f, q.point, vp)
    t_g = curvature.third_derivative_vv(f, q.point, gp)
    h_v = jnp.vdot(vp, curvature.hvp(f, q.point, vp))
    return jnp.linalg.norm(t_v), jnp.vdot(vp, vp), jnp.linalg.norm(t_g), jnp.vdot(gp, gp), h_v


# Lanczos steps for lambda_min. It only enters ||nabla^2 L|| = max(S, |lambda_min|), and
# at the edge of stability |lambda_min| is hundreds of times smaller than S (about 0.015 vs
# 8 on the book's run), so a short solve suffices: its Ritz value is an upper bound of
# lambda_min (a lower bound of |lambda_min|, hence of the norm), which can only make the
# Hessian ratio of Assumption 5 larger. Compile time and cost grow with the cap (200 steps
# converged on the book's run, at about 10x the time of 40).
_LAMBDA_MIN_STEPS = 40


@partial(jax.jit, static_argnames=("f",))
def _lambda_min(f, point, key):
    res = curvature.lanczos(lambda w: -curvature.hvp(f, point, w), point.shape[0], 1,
                            tol=1e-4, max_iter=_LAMBDA_MIN_STEPS, key=key, dtype=point.dtype)
    return -res.eigenvalues[0]


def heavy_diagnostics(f, q: Taylor, v: Array, eta: float, *, num_iter: int = 20,
                      key: Array | None = None) -> dict[str, float]:
    """``rho_3``, ``rho_4``, ``lambda_min`` and the three Assumption 5 ratios at ``theta^dagger_t``.

    Args:
      f: training loss (float64).
      q: Taylor data at ``theta^dagger_t``.
      v: GD's displacement ``theta_t - theta^dagger_t``.
      eta: learning rate.
      num_iter: power iterations for ``rho_3`` and ``rho_4``.
      key: PRNG key of the ``lambda_min`` Lanczos start.

    Returns:
      dict with the keys of :data:`HEAVY_KEYS`. ``lambda_min`` is the Ritz value of a short
      Lanczos solve (an upper bound of the smallest eigenvalue); ``||nabla^2 L||`` in
      ``asm5_hess`` is ``max(S, |lambda_min|)``, a lower bound of the norm, so the ratio is
      never understated.
    """
    rho3 = float(tensor_norm(f, q.point, q.u, 3, num_iter).value)
    rho4 = float(tensor_norm(f, q.point, q.u, 4, num_iter).value)
    key = jax.random.PRNGKey(1) if key is None else key
    lam_min = float(_lambda_min(f, q.point, key))
    tv, vv, tg, gg, hv = (float(a) for a in _asm5(f, q, v))
    hnorm = max(float(q.sharpness), abs(lam_min))
    return {"rho3": rho3, "rho4": rho4, "lambda_min": lam_min,
            "asm5_v": tv / (rho3 * vv), "asm5_grad": tg / (rho3 * gg),
            "asm5_hess": abs(hv) / (hnorm * vv)}


def F_samples(f, q: Taylor, eta: float, delta: float, num: int = 101,
              width: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """``F_t(x) = L(theta^dagger_t + x u_t) - L(theta^dagger_t) - x^2/eta`` on ``[-width delta, width delta]``.

    Returns:
      ``(x, F)`` of shape ``(num,)``.
    """
    xs = jnp.linspace(-width * delta, width * delta, num)
    vals = _line(f, q.point, q.u, xs)
    return np.asarray(xs), np.asarray(vals - q.loss - xs**2 / eta)


@partial(jax.jit, static_argnames=("f",))
def _line(f, point, u, xs):
    return jax.lax.map(lambda x: f(point + x * u), xs)
