"""Curvature of a loss: Hessians, sharpness, top eigenpairs and directional derivatives.

Everything here works on a scalar function ``f: R^d -> R`` of a *flat* parameter
vector ``x`` of shape ``(d,)`` (use ``jax.flatten_util.ravel_pytree`` for pytrees).
Two families of tools:

* dense (``hessian``, ``sharpness``): exact, ``O(d^2)`` memory, for toy models;
* matrix-free (``hvp``, ``top_eigenpairs``; the solvers ``lanczos``, ``augmented_lanczos``
  and ``lobpcg_top_k`` live in :mod:`eoslib.eigsolve` and are re-exported here): only
  Hessian-vector products, for networks.

``directional_derivative`` and ``third_derivative_vv`` give the higher-order
Taylor quantities that the Edge-of-Stability papers are written in:
``D^k f(x)[v, ..., v]`` and ``nabla^3 f(x)(v, v)`` (the gradient of the
sharpness, self-stabilization Lemma 2).

Importing this module has no side effects (in particular it does not enable x64).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .eigsolve import (DEFAULT_V0_NOISE, EigResult, StartBlock, augmented_lanczos, augmented_solve,
                       fix_signs, lanczos, lanczos_solve, lobpcg_top_k, prepare)
from .validation import choice as _choice, flat_point, floating_array, integer as _check_int, static_callable

# Shape annotations (jaxtyping; documentation only, nothing is checked at run time).
ScalarFn = Callable[[Float[Array, " d"]], Float[Array, ""]]

#: The solvers of `top_eigenpairs`.
TOP_EIGENPAIRS_METHODS = ("lanczos", "augmented")

__all__ = [
    "EigResult",
    "hessian",
    "sharpness",
    "hvp",
    "lanczos",
    "augmented_lanczos",
    "lobpcg_top_k",
    "top_eigenpairs",
    "fix_signs",
    "directional_derivative",
    "third_derivative_vv",
]


# --------------------------------------------------------------------------- #
# input validation
# --------------------------------------------------------------------------- #


def _flat_point(name: str, x: Any) -> Array:
    # No finiteness check: a caller may want the curvature at any point.
    return flat_point(name, x, finite=False)


def _direction(name: str, v: Any, x: Array) -> Array:
    v = jnp.asarray(v)
    if v.shape != x.shape:
        raise ValueError(f"{name} must have the shape of x {x.shape}, got {v.shape}")
    # jvp demands tangent dtype == primal dtype; casting here keeps callers free
    # to pass e.g. a float64 numpy direction with a float32 point.
    return v.astype(x.dtype)


def _as_flat(f: ScalarFn, x: Any) -> tuple[ScalarFn, Array]:
    """Lets dense routines accept a scalar parameter as a 1-vector."""
    x = jnp.asarray(x)
    if x.ndim == 0:
        return (lambda y: f(y[0])), _flat_point("x", x.reshape(1))
    return f, _flat_point("x", x)


# --------------------------------------------------------------------------- #
# dense curvature
# --------------------------------------------------------------------------- #


def hessian(f: ScalarFn, x: Float[ArrayLike, " d"] | Float[ArrayLike, ""]) -> Float[Array, "d d"]:
    """Dense Hessian of a scalar function at a flat point.

    Args:
      f: scalar function ``R^d -> R``.
      x: point, shape ``(d,)`` (a scalar is treated as ``(1,)``).

    Returns:
      The ``(d, d)`` Hessian ``nabla^2 f(x)``.
    """
    g, x = _as_flat(f, x)
    return jax.hessian(g)(x)


def sharpness(f: ScalarFn, x: Float[ArrayLike, " d"] | Float[ArrayLike, ""]) -> Float[Array, ""]:
    """Largest eigenvalue of the Hessian, by dense ``eigh``.

    This is the exact sharpness ``S(x) = lambda_max(nabla^2 f(x))`` for small
    problems (``d`` up to a few thousand); use `top_eigenpairs` beyond that.

    Args:
      f: scalar function ``R^d -> R``.
      x: point, shape ``(d,)`` (a scalar is treated as ``(1,)``).

    Returns:
      Scalar largest algebraic eigenvalue of ``nabla^2 f(x)``.

    References:
      Cohen et al., "Gradient Descent on Neural Networks Typically Occurs at the
      Edge of Stability", ICLR 2021.
    """
    h = hessian(f, x)
    # Symmetrise: autodiff Hessians are symmetric only up to rounding.
    return jnp.linalg.eigvalsh(0.5 * (h + h.T))[-1]


def hvp(f: ScalarFn, x: Float[Array, " d"], v: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
    """Hessian-vector product ``nabla^2 f(x) v``, forward-over-reverse.

    Forward-over-reverse costs about one gradient evaluation (times a small
    constant) and never forms the Hessian.

    Args:
      f: scalar function ``R^d -> R``.
      x: point, shape ``(d,)``.
      v: direction, same shape as ``x``.

    Returns:
      ``nabla^2 f(x) v``, same shape as ``x``.

    References:
      Pearlmutter, "Fast exact multiplication by the Hessian", Neural
      Computation 1994.
    """
    x = jnp.asarray(x)
    v = _direction("v", v, x)
    return jax.jvp(jax.grad(f), (x,), (v,))[1]


# --------------------------------------------------------------------------- #
# top eigenpairs from HVPs
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _HVPOp:
    """``(x, v) -> hvp(f, x, v)``: the Hessian of ``f`` as a static operator (hash: ``f``)."""

    f: ScalarFn

    def __call__(self, x: Array, v: Array) -> Array:
        return hvp(self.f, x, v)


def top_eigenpairs(f: ScalarFn, x: Float[ArrayLike, " d"], k: int = 1, *,
                   v0: StartBlock | None = None, tol: float = 1e-8, max_iter: int = 200,
                   key: PRNGKeyArray | None = None, v0_noise: float = DEFAULT_V0_NOISE,
                   method: str = "lanczos", guard: int = 0) -> EigResult:
    """Top ``k`` Hessian eigenpairs of ``f`` at ``x`` from Hessian-vector products.

    `lanczos` (or, with ``method="augmented"``, `augmented_lanczos`) with `hvp` as the
    matvec, jit-compiled once per ``f`` (``f`` is a static argument: pass the same function
    object to reuse the compilation, e.g. along a trajectory). ``eigenvalues[0]`` is the
    sharpness. Use ``"augmented"`` to warm-start from a block of previous eigenvectors where
    the top eigenvalues are close (tracking at the Edge of Stability); `lanczos` is cheaper
    from a cold start or a single good vector.

    Args:
      f: scalar function ``R^d -> R``.
      x: flat point, shape ``(d,)``.
      k: number of eigenpairs, in ``[1, d]``.
      v0: warm start, ``(d,)`` or ``(d, p)``, e.g. the previous call's ``eigenvectors``.
      tol: relative residual tolerance, in ``(0, inf)``.
      max_iter: maximum number of HVPs, in ``[k, inf)``.
      key: PRNG key for the random start; default ``jax.random.PRNGKey(0)``.
      v0_noise: relative random component added to a warm start, in ``[0, inf)``
        (``"lanczos"`` only: the augmented method keeps the block's whole span instead).
      method: ``"lanczos"`` (default) or ``"augmented"``.
      guard: with ``"augmented"``, further unconverged Ritz pairs returned after the top
        ``k`` (see `augmented_lanczos`), in ``[0, 23 - k]`` (its default basis of 24 rows;
        fewer when ``d < 24``); must be 0 for ``"lanczos"``.

    Returns:
      An `EigResult`; ``num_iterations`` is the number of HVPs.

    Raises:
      ValueError: an argument outside its allowed range.

    References:
      Ghorbani, Krishnan & Xiao, "An Investigation into Neural Net Optimization
      via Hessian Eigenvalue Density", ICML 2019 (Lanczos on HVPs).
    """
    _choice("method", method, TOP_EIGENPAIRS_METHODS)
    x = _flat_point("x", x)
    a = prepare(x.shape[0], k, tol, max_iter, v0, v0_noise, key, x.dtype)
    if method == "augmented":
        return augmented_solve(_HVPOp(static_callable(f)), x, a.dim, a.k, a.v0, tol, a.max_iter,
                               a.key, a.dtype, guard=guard)
    _check_int("guard", guard, 0, 0)
    return lanczos_solve(_HVPOp(static_callable(f)), x, a.dim, a.k, a.v0, tol, a.max_iter, a.key,
                         v0_noise, a.dtype)


# --------------------------------------------------------------------------- #
# higher derivatives
# --------------------------------------------------------------------------- #


def directional_derivative(f: Callable[[Float[Array, "*shape"]], Float[Array, ""]],
                           x: Float[ArrayLike, "*shape"], v: Float[ArrayLike, "*shape"],
                           order: int) -> Float[Array, ""]:
    """``d^k/dt^k f(x + t v)`` at ``t = 0``, i.e. ``D^k f(x)[v, ..., v]``.

    Nested forward-mode ``jax.jvp``: each level differentiates the previous
    directional derivative along ``v``, so no ``d^k`` tensor is formed.

    Args:
      f: scalar function of ``x``.
      x: point (any shape, floating dtype).
      v: direction, same shape as ``x``.
      order: derivative order ``k``, in ``[1, 4]``.

    Returns:
      Scalar ``D^k f(x)[v]^k``.

    References:
      Mulayoff & Stich, "Exact mean square linear stability analysis for SGD"
      (multivariate product-stability uses ``D^3 L[v,v,.]`` and ``D^4 L[v]^4``);
      Gan, "Product-Stability", Sec. 7.
    """
    order = _check_int("order", order, 1, 4)
    x = floating_array("x", x)
    v = _direction("v", v, x)

    def along(g: ScalarFn) -> ScalarFn:
        return lambda y: jax.jvp(g, (y,), (v,))[1]

    g = f
    for _ in range(order):
        g = along(g)
    return g(x)


def third_derivative_vv(f: Callable[[Float[Array, "*shape"]], Float[Array, ""]],
                        x: Float[ArrayLike, "*shape"],
                        v: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
    """``nabla^3 f(x)(v, v) = grad_x (v^T nabla^2 f(x) v)`` with ``v`` held fixed.

    For ``v = u`` the unit top Hessian eigenvector (simple eigenvalue) this is
    the gradient of the sharpness, ``nabla S(x) = nabla^3 f(x)(u, u)``
    (first-order eigenvalue perturbation).

    Args:
      f: scalar function ``R^d -> R``.
      x: point (any shape, floating dtype).
      v: direction, same shape as ``x``.

    Returns:
      Array of the shape of ``x``.

    References:
      Damian, Nichani & Lee, "Self-Stabilization: The Implicit Bias of Gradient
      Descent at the Edge of Stability", ICLR 2023, Lemma 2.
    """
    x = floating_array("x", x)
    v = _direction("v", v, x)
    return jax.grad(lambda y: jnp.vdot(v, hvp(f, y, v)))(x)
