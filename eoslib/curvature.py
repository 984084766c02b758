"""Curvature of a loss: Hessians, sharpness, top eigenpairs and directional derivatives.

Everything here works on a scalar function ``f: R^d -> R`` of a *flat* parameter
vector ``x`` of shape ``(d,)`` (use ``jax.flatten_util.ravel_pytree`` for pytrees).
Two families of tools:

* dense (``hessian``, ``sharpness``): exact, ``O(d^2)`` memory, for toy models;
* matrix-free (``hvp``, ``lanczos``, ``top_eigenpairs``, ``lobpcg_top_k``): only
  Hessian-vector products, for networks.

``directional_derivative`` and ``third_derivative_vv`` give the higher-order
Taylor quantities that the Edge-of-Stability papers are written in:
``D^k f(x)[v, ..., v]`` and ``nabla^3 f(x)(v, v)`` (the gradient of the
sharpness, self-stabilization Lemma 2).

Importing this module has no side effects (in particular it does not enable x64).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from .validation import (flat_point, floating_array, integer as _check_int, nonnegative as _check_nonneg,
                         positive as _check_pos)

# Shape annotations (jaxtyping; documentation only, nothing is checked at run time).
ScalarFn = Callable[[Float[Array, " d"]], Float[Array, ""]]
MatVec = Callable[[Float[Array, " dim"]], Float[Array, " dim"]]
#: A warm start: one vector or a block of ``p`` vectors.
StartBlock = Float[ArrayLike, " dim"] | Float[ArrayLike, "dim p"]

__all__ = [
    "EigResult",
    "hessian",
    "sharpness",
    "hvp",
    "lanczos",
    "lobpcg_top_k",
    "top_eigenpairs",
    "directional_derivative",
    "third_derivative_vv",
]

# Default size of the random component mixed into a warm start (see `lanczos`).
_DEFAULT_V0_NOISE = 1e-3


class EigResult(NamedTuple):
    """Top eigenpairs of a symmetric operator.

    Attributes:
      eigenvalues: ``(k,)`` largest algebraic eigenvalues, in descending order.
      eigenvectors: ``(dim, k)`` orthonormal Ritz vectors; column ``i`` belongs to
        ``eigenvalues[i]``. Signs are arbitrary.
      num_iterations: number of matrix-vector products (HVPs) used, int scalar.
      converged: bool scalar, True when every one of the ``k`` pairs met the
        residual tolerance.
      residuals: ``(k,)`` residual norms ``||A v - theta v||`` (for `lanczos` the
        Ritz estimates ``beta_j |e_j^T y|``, equal to the true norms up to
        ``O(eps ||A||)`` thanks to full reorthogonalisation).
    """

    eigenvalues: Float[Array, " k"]
    eigenvectors: Float[Array, "dim k"]
    num_iterations: Int[Array, ""]
    converged: Bool[Array, ""]
    residuals: Float[Array, " k"]


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
# Lanczos
# --------------------------------------------------------------------------- #


def _ritz_numpy(
    alphas: np.ndarray, betas: np.ndarray, r: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k eigenpairs of the leading r x r tridiagonal block, on the host."""
    import scipy.linalg

    m = alphas.shape[0]
    r = int(r)
    d = np.asarray(alphas[:r], np.float64)
    e = np.asarray(betas[: r - 1], np.float64)
    kk = min(k, r)
    if r == 1:
        w, y = d, np.ones((1, 1))
    else:
        try:
            # MRRR computes only the selected (top kk) pairs: O(r kk) work.
            w, y = scipy.linalg.eigh_tridiagonal(
                d, e, select="i", select_range=(r - kk, r - 1), lapack_driver="stemr"
            )
        except (np.linalg.LinAlgError, ValueError):
            # MRRR can (rarely) fail to converge; the dense solver cannot.
            w, y = np.linalg.eigh(np.diag(d) + np.diag(e, 1) + np.diag(e, -1))
            w, y = w[r - kk :], y[:, r - kk :]
    theta = np.full((k,), w[0])  # rows beyond r (r < k) are never used: convergence needs r >= k
    theta[:kk] = w[::-1]
    ytop = np.zeros((m, k))
    ytop[:r, :kk] = y[:, ::-1]
    return theta.astype(alphas.dtype), ytop.astype(alphas.dtype)


def _ritz_host(alphas: Array, betas: Array, r: Array, k: int) -> tuple[Array, Array]:
    """Top-k Ritz pairs of T_r, returned as (theta (k,), Y (m, k) zero-padded).

    The tridiagonal problem is tiny and its size r grows every iteration. Inside
    XLA it would need a static size (a padded m x m eigh: O(m^3) per step, plus
    slow compiles); on the host, LAPACK's MRRR solves exactly the r x r problem
    for the k wanted pairs in O(r k). One host round trip per matvec is cheap
    next to an HVP.
    """
    m = alphas.shape[0]
    shapes = (
        jax.ShapeDtypeStruct((k,), alphas.dtype),
        jax.ShapeDtypeStruct((m, k), alphas.dtype),
    )
    return jax.pure_callback(
        functools.partial(_ritz_numpy, k=k), shapes, alphas, betas, r, vmap_method="sequential"
    )


def _gram_schmidt2(basis: Array, w: Array) -> Array:
    # Classical Gram-Schmidt twice ("twice is enough", Giraud et al. 2005):
    # full reorthogonalisation, so no ghost copies of converged eigenvalues.
    for _ in range(2):
        w = w - basis.T @ (basis @ w)
    return w


def _orthogonalize(basis: Array, w: Array, r: Array) -> Array:
    """Orthogonalise w against the first r rows of basis (later rows are zero)."""
    m = basis.shape[0]
    # Projecting on all m stored rows would cost 4 m dim flops from the first
    # iteration on (for m=200, dim=1e6 more than a small net's HVP). Static
    # prefixes 16, 64, 256, ... >= r cost at most 4x the exact 4 r dim; factor 4
    # rather than 2 keeps the number of branches (compile time) small.
    sizes = []
    b = 16
    while b < m:
        sizes.append(b)
        b *= 4
    sizes.append(m)
    if len(sizes) == 1:
        return _gram_schmidt2(basis, w)
    branches = [functools.partial(lambda b_, bas, vec: _gram_schmidt2(bas[:b_], vec), b_) for b_ in sizes]
    i = jnp.searchsorted(jnp.asarray(sizes, r.dtype), r).astype(jnp.int32)
    return jax.lax.switch(i, branches, basis, w)


def _unit(v: Array) -> Array:
    n = jnp.linalg.norm(v)
    return v / jnp.where(n > 0, n, jnp.ones_like(n))


def _start_vector(v0: Array | None, dim: int, dtype: Any, noise: Array, v0_noise: Array) -> Array:
    if v0 is None:
        return _unit(noise)
    v0 = jnp.asarray(v0).astype(dtype)
    if v0.ndim == 2:
        # A block of previous eigenvectors: their (normalised) sum has a large
        # component on each, so a Krylov space started there contains all of
        # them after a few steps.
        cols = v0 / jnp.maximum(jnp.linalg.norm(v0, axis=0, keepdims=True), jnp.finfo(dtype).tiny)
        v0 = jnp.sum(cols, axis=1)
    s = _unit(v0) + v0_noise * _unit(noise)
    norm = jnp.linalg.norm(s)
    # A zero v0 (with no noise) would stall Lanczos; fall back to a cold start.
    return jnp.where(norm > 0, s / jnp.where(norm > 0, norm, jnp.ones_like(norm)), _unit(noise))


def _lanczos_impl(
    matvec: MatVec,
    dim: int,
    k: int,
    v0: Array | None,
    tol: Array | float,
    max_iter: int,
    key: Array,
    v0_noise: Array | float,
    dtype: Any,
) -> EigResult:
    # tol and v0_noise may arrive traced or as numpy scalars; pin their dtype so
    # strict promotion never sees float64 mixed into a float32 iteration.
    tol = jnp.asarray(tol, dtype)
    v0_noise = jnp.asarray(v0_noise, dtype)
    m = min(max_iter, dim)
    eps = float(jnp.finfo(dtype).eps)

    # One Gaussian draw serves the cold start (row 0) and every breakdown restart
    # (row 1, rolled by the iteration index): each extra threefry call would add
    # noticeable compile time, and after orthogonalisation against the basis
    # any generic vector will do.
    noise = jax.random.normal(key, (2, dim), dtype)
    start = _start_vector(v0, dim, dtype, noise[0], v0_noise)
    basis = jnp.zeros((m, dim), dtype).at[0].set(start)

    def apply(v: Array) -> Array:
        w = jnp.asarray(matvec(v))
        if w.shape != (dim,):
            raise ValueError(f"matvec must map shape ({dim},) to ({dim},), got output shape {w.shape}")
        return w.astype(dtype)

    def restart(args: tuple[Array, Array, Array]) -> Array:
        # Krylov space became invariant (breakdown): continue with a fresh random
        # direction orthogonal to it, so that k larger than the number of
        # eigenvalues reachable from the start vector still works.
        # Rare path: project on the full stored basis (no bucket switch to compile).
        basis_, _, j = args
        return _unit(_gram_schmidt2(basis_, jnp.roll(noise[1], j)))

    def proceed(args: tuple[Array, Array, Array]) -> Array:
        _, w, _ = args
        return _unit(w)

    def cond(state: tuple[Array, ...]) -> Array:
        j, _, _, _, _, _, _, converged, _ = state
        return jnp.logical_and(jnp.logical_not(converged), j < m)

    def body(state: tuple[Array, ...]) -> tuple[Array, ...]:
        j, basis_, alphas, betas, _, _, _, _, anorm = state
        v = basis_[j]
        w = apply(v)
        alpha = jnp.vdot(v, w)
        w = _orthogonalize(basis_, w, j + 1)
        beta = jnp.linalg.norm(w)
        beta_prev = jnp.where(j > 0, betas[jnp.maximum(j - 1, 0)], jnp.zeros_like(beta))
        anorm = jnp.maximum(anorm, jnp.abs(alpha) + beta + beta_prev)
        # With full reorthogonalisation, w after exhausting an invariant subspace
        # is rounding noise of size ~eps*||A||; treat it as exactly zero.
        breakdown = beta <= 100.0 * eps * anorm
        alphas = alphas.at[j].set(alpha)
        betas = betas.at[j].set(jnp.where(breakdown, jnp.zeros_like(beta), beta))
        theta, y = _ritz_host(alphas, betas, j + 1, k)
        # Ritz residual ||A V y - theta V y|| = beta_j |e_j^T y| (Paige); exact in
        # exact arithmetic and accurate to O(eps ||A||) with full reorthogonalisation.
        residuals = beta * jnp.abs(y[j])  # y has m rows, j < m
        ok = residuals <= tol * jnp.maximum(jnp.ones_like(theta), jnp.abs(theta))
        converged = jnp.logical_and(j + 1 >= k, jnp.all(ok))
        v_next = jax.lax.cond(breakdown, restart, proceed, (basis_, w, j))
        # Index m (basis full) is dropped rather than clamped onto the last row.
        basis_ = basis_.at[j + 1].set(v_next, mode="drop")
        return (j + 1, basis_, alphas, betas, theta, y, residuals, converged, anorm)

    state = (
        jnp.asarray(0, jnp.int32),
        basis,
        jnp.zeros((m,), dtype),
        jnp.zeros((m,), dtype),
        jnp.zeros((k,), dtype),
        jnp.zeros((m, k), dtype),
        jnp.full((k,), jnp.inf, dtype),
        jnp.asarray(False),
        jnp.zeros((), dtype),
    )
    # The loop always runs at least once, and its last body already solved the
    # final tridiagonal problem: reuse (theta, y) instead of a second eigh.
    j, basis, _, _, theta, y, residuals, converged, _ = jax.lax.while_loop(cond, body, state)
    vectors = basis.T @ y
    # Ritz vectors are unit up to rounding; renormalise for downstream projections.
    vectors = vectors / jnp.linalg.norm(vectors, axis=0, keepdims=True)
    return EigResult(theta, vectors, j, converged, residuals)


# Static matvec: repeated calls with the same matvec object reuse the compiled
# loop. A matvec closing over traced values (lanczos inside a user's jit/vmap)
# also works: jit lifts the closed-over tracers.
# tol and v0_noise are traced, so changing them does not recompile.
_lanczos_jit = jax.jit(_lanczos_impl, static_argnames=("matvec", "dim", "k", "max_iter", "dtype"))


def _default_dtype(v0: Array | None, dtype: Any) -> Any:
    if dtype is not None:
        return jnp.dtype(dtype)
    if v0 is not None and jnp.issubdtype(jnp.asarray(v0).dtype, jnp.floating):
        return jnp.asarray(v0).dtype
    # float64 under x64, float32 otherwise.
    return jnp.zeros(()).dtype


def _check_v0(v0: Any, dim: int) -> None:
    if v0 is None:
        return
    shape = jnp.shape(v0)
    if not (shape == (dim,) or (len(shape) == 2 and shape[0] == dim and shape[1] >= 1)):
        raise ValueError(f"v0 must have shape ({dim},) or ({dim}, p) with p >= 1, got {shape}")


def _check_common(dim: int, k: int, tol: Any, max_iter: int, v0: Any, v0_noise: Any) -> tuple[int, int, int]:
    dim = _check_int("dim", dim, 1)
    k = _check_int("k", k, 1, dim)
    max_iter = _check_int("max_iter", max_iter, k)
    _check_pos("tol", tol, traced_ok=True)
    _check_nonneg("v0_noise", v0_noise, traced_ok=True)
    _check_v0(v0, dim)
    return dim, k, max_iter


def lanczos(
    matvec: MatVec,
    dim: int,
    k: int = 1,
    *,
    v0: StartBlock | None = None,
    tol: float = 1e-8,
    max_iter: int = 200,
    key: PRNGKeyArray | None = None,
    v0_noise: float = _DEFAULT_V0_NOISE,
    dtype: Any = None,
) -> EigResult:
    """The ``k`` largest algebraic eigenpairs of a symmetric operator, by Lanczos.

    Lanczos with full reorthogonalisation (every new vector is orthogonalised
    twice against the whole stored basis), so there are no spurious copies of
    converged eigenvalues. The Ritz values are the top ``k`` *algebraic*
    eigenvalues of the tridiagonal projection: a Hessian with a large negative
    eigenvalue still yields its top positive one. The iteration stops as soon as
    the Ritz residuals of the top ``k`` pairs satisfy
    ``||A v - theta v|| <= tol * max(1, |theta|)`` (the residual bounds the
    eigenvalue error, ``|theta - lambda| <= residual``), or when the Krylov space
    reaches ``min(max_iter, dim)`` vectors. One iteration is one matvec.

    Warm start: ``v0`` may be a vector ``(dim,)`` (e.g. the previous top
    eigenvector) or a block ``(dim, p)`` (e.g. the previous ``k`` eigenvectors).
    A block is turned into one start vector, the sum of its normalised columns.
    The start vector then gets a random component of relative size ``v0_noise``
    so that it overlaps every eigenvector: without it, an eigenvector orthogonal
    to the warm start (e.g. after two eigenvalues cross) would be missed.
    Set ``v0_noise=0`` to start the Krylov space exactly at ``v0`` (as ARPACK does).

    The loop is a ``jax.lax.while_loop`` inside ``jax.jit`` with ``matvec``
    static; the small tridiagonal eigenproblem of each step is solved on the
    host (``jax.pure_callback`` to LAPACK's MRRR, exactly ``j x j``, top ``k``
    pairs only). It can be used inside ``jit``/``vmap`` (not under reverse-mode
    ``grad``, nor ``jax.export``). Repeated calls with the same ``matvec`` object
    and the same ``k``, ``max_iter``, ``dtype`` and ``v0`` shape reuse the
    compilation (``tol``, ``v0_noise`` and ``key`` are traced); a fresh lambda
    per call recompiles. Memory is ``min(max_iter, dim) * dim`` for the basis.

    Limitations: single-vector Lanczos sees one direction per eigenspace, so an
    exactly repeated eigenvalue is reported once unless rounding or a breakdown
    restart brings in its other copies.

    Args:
      matvec: symmetric linear map ``(dim,) -> (dim,)``.
      dim: dimension of the space, ``>= 1``.
      k: number of eigenpairs, in ``[1, dim]``.
      v0: optional warm start, shape ``(dim,)`` or ``(dim, p)``.
      tol: relative residual tolerance, in ``(0, inf)``. Below the rounding
        floor (e.g. the default 1e-8 in float32) the Ritz estimate still
        converges, but the pairs are then only accurate to ``~eps ||A||``.
      max_iter: maximum number of matvecs, in ``[k, inf)`` (capped at ``dim``).
      key: PRNG key for the random start; default ``jax.random.PRNGKey(0)``.
      v0_noise: relative size of the random component added to ``v0``, in
        ``[0, inf)``.
      dtype: floating dtype of the iteration; default ``v0``'s dtype, else the
        default float dtype (float64 under x64).

    Returns:
      An `EigResult`; ``num_iterations`` is the number of matvecs and
      ``residuals`` are the Ritz residual norms at exit.

    References:
      Lanczos, "An iteration method for the solution of the eigenvalue problem of
      linear differential and integral operators", J. Res. NBS 1950.
      Golub & Van Loan, "Matrix Computations", 4th ed., Sec. 10.1.
      Paige, "Accuracy and effectiveness of the Lanczos algorithm for the
      symmetric eigenproblem", Linear Algebra Appl. 1980.
    """
    dim, k, max_iter = _check_common(dim, k, tol, max_iter, v0, v0_noise)
    dtype = _default_dtype(v0, dtype)
    if key is None:
        key = jax.random.PRNGKey(0)
    return _lanczos_jit(matvec, dim, k, v0, tol, max_iter, key, v0_noise, jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnames=("f", "k", "max_iter"))
def _top_eigenpairs_jit(
    f: ScalarFn,
    x: Array,
    v0: Array | None,
    key: Array,
    tol: Array | float,
    v0_noise: Array | float,
    *,
    k: int,
    max_iter: int,
) -> EigResult:
    return _lanczos_impl(lambda v: hvp(f, x, v), x.shape[0], k, v0, tol, max_iter, key, v0_noise, x.dtype)


def top_eigenpairs(
    f: ScalarFn,
    x: Float[ArrayLike, " d"],
    k: int = 1,
    *,
    v0: StartBlock | None = None,
    tol: float = 1e-8,
    max_iter: int = 200,
    key: PRNGKeyArray | None = None,
    v0_noise: float = _DEFAULT_V0_NOISE,
) -> EigResult:
    """Top ``k`` Hessian eigenpairs of ``f`` at ``x`` from Hessian-vector products.

    `lanczos` with `hvp` as the matvec, jit-compiled once per ``f`` (``f`` is a
    static argument: pass the same function object to reuse the compilation,
    e.g. along a trajectory). ``eigenvalues[0]`` is the sharpness.

    Args:
      f: scalar function ``R^d -> R``.
      x: flat point, shape ``(d,)``.
      k: number of eigenpairs, in ``[1, d]``.
      v0: warm start, ``(d,)`` or ``(d, p)``, e.g. the previous call's
        ``eigenvectors`` (see `lanczos`).
      tol: relative residual tolerance, in ``(0, inf)``.
      max_iter: maximum number of HVPs, in ``[k, inf)``.
      key: PRNG key for the random start; default ``jax.random.PRNGKey(0)``.
      v0_noise: relative random component added to a warm start, in ``[0, inf)``.

    Returns:
      An `EigResult`; ``num_iterations`` is the number of HVPs.

    References:
      Ghorbani, Krishnan & Xiao, "An Investigation into Neural Net Optimization
      via Hessian Eigenvalue Density", ICML 2019 (Lanczos on HVPs).
    """
    x = _flat_point("x", x)
    dim, k, max_iter = _check_common(x.shape[0], k, tol, max_iter, v0, v0_noise)
    if key is None:
        key = jax.random.PRNGKey(0)
    if v0 is not None:
        v0 = jnp.asarray(v0).astype(x.dtype)
    return _top_eigenpairs_jit(f, x, v0, key, tol, v0_noise, k=k, max_iter=max_iter)


def lobpcg_top_k(
    matvec: MatVec,
    dim: int,
    k: int = 1,
    *,
    v0: StartBlock | None = None,
    tol: float = 1e-8,
    max_iter: int = 200,
    key: PRNGKeyArray | None = None,
    dtype: Any = None,
) -> EigResult:
    """The ``k`` largest algebraic eigenpairs by LOBPCG (``jax.experimental``).

    A thin wrapper around ``jax.experimental.sparse.linalg.lobpcg_standard``,
    which returns the largest algebraic eigenvalues. It applies the operator to
    whole blocks, ``4k`` matvecs per iteration, so for a single eigenpair
    `lanczos` usually needs fewer HVPs; LOBPCG pays off for blocks on
    accelerators. Its internal stopping rule is scaled to approximate ours; the
    reported ``residuals`` and ``converged`` are recomputed here with ``k``
    extra matvecs, using the same criterion as `lanczos`.

    Args:
      matvec: symmetric linear map ``(dim,) -> (dim,)``.
      dim: dimension, with ``5 k < dim`` (a LOBPCG requirement).
      k: number of eigenpairs, in ``[1, (dim - 1) // 5]``.
      v0: optional start, ``(dim,)`` (first column) or ``(dim, p)`` (first
        ``min(p, k)`` columns); remaining columns are random.
      tol: relative residual tolerance, in ``(0, inf)``.
      max_iter: maximum number of LOBPCG iterations, in ``[1, inf)``.
      key: PRNG key for random columns; default ``jax.random.PRNGKey(0)``.
      dtype: floating dtype; default as in `lanczos`.

    Returns:
      An `EigResult`; ``num_iterations`` counts matvecs, ``k (4 i + 2)`` for
      ``i`` LOBPCG iterations.

    References:
      Knyazev, "Toward the optimal preconditioned eigensolver: Locally optimal
      block preconditioned conjugate gradient method", SIAM J. Sci. Comput. 2001.
    """
    from jax.experimental.sparse.linalg import lobpcg_standard

    dim = _check_int("dim", dim, 6)
    k = _check_int("k", k, 1, (dim - 1) // 5)
    max_iter = _check_int("max_iter", max_iter, 1)
    _check_pos("tol", tol, traced_ok=True)
    _check_v0(v0, dim)
    dtype = _default_dtype(v0, dtype)
    if key is None:
        key = jax.random.PRNGKey(0)
    x0 = jax.random.normal(key, (dim, k), dtype)
    if v0 is not None:
        block = jnp.asarray(v0).astype(dtype).reshape(dim, -1)[:, :k]
        x0 = x0.at[:, : block.shape[1]].set(block)

    def block_matvec(xs: Array) -> Array:
        return jax.vmap(lambda v: jnp.asarray(matvec(v)).astype(dtype), in_axes=1, out_axes=1)(xs)

    # lobpcg_standard stops when ||r|| < tol' * 10 * dim * (||A x|| + theta)
    # ~ tol' * 20 * dim * |theta|; rescale so this matches tol * |theta|.
    theta, vectors, iters = lobpcg_standard(block_matvec, x0, m=max_iter, tol=tol / (20.0 * dim))
    residuals = jnp.linalg.norm(block_matvec(vectors) - vectors * theta[None, :], axis=0)
    converged = jnp.all(residuals <= tol * jnp.maximum(jnp.ones_like(theta), jnp.abs(theta)))
    iters = jnp.asarray(iters, jnp.int32)
    return EigResult(theta, vectors, k * (4 * iters + 2), converged, residuals)


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
