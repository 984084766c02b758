"""Top eigenpairs of a symmetric operator from matrix-vector products: Lanczos and block methods.

Three solvers for the largest *algebraic* eigenpairs of a symmetric linear map given only by
its action ``v -> A v`` (for a loss, Hessian-vector products; :func:`eoslib.curvature.top_eigenpairs`
builds them):

* :func:`lanczos` -- single-vector Lanczos with partial reorthogonalisation (Simon 1984): a
  running estimate of the loss of orthogonality triggers a full Gram-Schmidt pass only when
  needed, so an iteration costs one matvec plus a few vector operations, whatever the basis
  size. The basis is allocated in stages, so an early exit never pays for ``max_iter x dim``.
* :func:`augmented_lanczos` -- the block warm start for tracking: Rayleigh-Ritz on a block
  of previous eigenvectors, then a Krylov space grown from the residual (Davidson without
  preconditioner, thick restarts); it keeps ``A V`` so its residuals are exact and its
  restarts free. A near-exact block converges after its own ``p`` matvecs.
* :func:`lobpcg_top_k` -- a thin wrapper of ``jax.experimental``'s LOBPCG, for blocks.

Lanczos counts matvecs exactly, tests ``||A v - theta v|| <= tol * max(1, |theta|)`` after every
matvec, runs inside ``jax.jit`` and solves the small tridiagonal problem on the host (LAPACK).

References:
  C. Lanczos, J. Res. NBS 45 (1950). C. Paige, Linear Algebra Appl. 34 (1980).
  H. D. Simon, "The Lanczos algorithm with partial reorthogonalization", Math. Comp. 42
  (1984) 115-142. R. M. Larsen, PROPACK (1998) (the omega recurrence as implemented there).
  Golub & Van Loan, "Matrix Computations", 4th ed., Sec. 10.1. E. R. Davidson, J. Comput.
  Phys. 17 (1975). K. Wu & H. Simon, SIAM J. Matrix Anal. Appl. 22 (2000) (thick restart).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from .validation import integer as _check_int, nonnegative as _check_nonneg, positive as _check_pos

__all__ = ["EigResult", "lanczos", "augmented_lanczos", "lobpcg_top_k", "fix_signs"]

MatVec = Callable[[Float[Array, " dim"]], Float[Array, " dim"]]
#: A warm start: one vector or a block of ``p`` vectors.
StartBlock = Float[ArrayLike, " dim"] | Float[ArrayLike, "dim p"]

# Default size of the random component mixed into a Lanczos warm start (see `lanczos`).
DEFAULT_V0_NOISE = 1e-3

# Rows per block of the stored basis: projections cost ceil(n / _ROWS) blocks for n vectors.
_ROWS = 16

# First-stage basis bytes: below glibc's mmap threshold (32 MiB), so calls reuse heap memory.
_FIRST_STAGE_BYTES = 16 * 2**20

# Default largest basis of `augmented_lanczos` before a thick restart (rows of V and of A V).
DEFAULT_BASIS_SIZE = 24


class EigResult(NamedTuple):
    """Top eigenpairs of a symmetric operator.

    Attributes:
      eigenvalues: ``(k,)`` largest algebraic eigenvalues, in descending order.
      eigenvectors: ``(dim, k)`` orthonormal Ritz vectors; column ``i`` belongs to
        ``eigenvalues[i]``. Signs are arbitrary (see :func:`~eoslib.eigsolve.fix_signs`).
      num_iterations: number of matrix-vector products (HVPs) used, int scalar.
      converged: bool scalar, True when every one of the ``k`` pairs met the tolerance.
      residuals: ``(k,)`` residual norms ``||A v - theta v||`` (for `lanczos` the Ritz
        estimates ``beta_j |e_j^T y|``, equal to the true norms up to rounding).
    """

    eigenvalues: Float[Array, " k"]
    eigenvectors: Float[Array, "dim k"]
    num_iterations: Int[Array, ""]
    converged: Bool[Array, ""]
    residuals: Float[Array, " k"]


# --- shared pieces ---


@dataclass(frozen=True)
class MatvecOp:
    """``(operand, v) -> matvec(v)``: a plain matvec as a static operator (hash: matvec)."""

    matvec: Callable

    def __call__(self, operand: Any, v: Array) -> Array:
        return self.matvec(v)


def _apply(op: Callable, operand: Any, v: Array, dim: int, dtype: Any) -> Array:
    w = jnp.asarray(op(operand, v))
    if w.shape != (dim,):
        raise ValueError(f"matvec must map shape ({dim},) to ({dim},), got output shape {w.shape}")
    return w.astype(dtype)


def fix_signs(vectors: Float[ArrayLike, "d k"],
              reference: Float[ArrayLike, "d p"] | None = None) -> Float[Array, "d k"]:
    """Eigenvector columns with a deterministic sign.

    With a ``reference`` block (e.g. the previous eigenvectors along a trajectory) column
    ``i < p`` is flipped to have a non-negative inner product with reference column ``i``,
    so tracked vectors move continuously; the other columns (and all of them without a
    reference) get their entry of largest magnitude positive.

    Args:
      vectors: ``(d, k)`` eigenvectors (columns).
      reference: optional ``(d, p)`` block (or ``(d,)`` vector).

    Returns:
      ``vectors`` with some columns negated.
    """
    vectors = jnp.asarray(vectors)
    idx = jnp.argmax(jnp.abs(vectors), axis=0)
    pivot = vectors[idx, jnp.arange(vectors.shape[1])]
    if reference is not None:
        ref = jnp.asarray(reference, vectors.dtype).reshape(vectors.shape[0], -1)
        p = min(ref.shape[1], vectors.shape[1])
        overlap = jnp.sum(vectors[:, :p] * ref[:, :p], axis=0)
        pivot = pivot.at[:p].set(jnp.where(overlap != 0, overlap, pivot[:p]))
    return vectors * jnp.where(pivot < 0, -1.0, 1.0).astype(vectors.dtype)


def _rows(n: Array) -> Array:
    return (n + _ROWS - 1) // _ROWS


def _coefficients(basis: Array, w: Array, n: Array) -> Array:
    """``basis[:n] @ w`` (zero beyond n), reading only the blocks that hold rows < n."""
    m = basis.shape[0]

    def body(i, c):
        blk = lax.dynamic_slice_in_dim(basis, i * _ROWS, _ROWS, axis=0)
        return lax.dynamic_update_slice_in_dim(c, blk @ w, i * _ROWS, axis=0)

    c = lax.fori_loop(0, _rows(n), body, jnp.zeros((m,) + w.shape[1:], w.dtype))
    mask = (jnp.arange(m, dtype=jnp.int32) < n).reshape((m,) + (1,) * (w.ndim - 1))
    return jnp.where(mask, c, jnp.zeros_like(c))


def _combine(basis: Array, c: Array, n: Array) -> Array:
    """``basis[:n].T @ c[:n]``, reading only the blocks that hold rows < n."""

    def body(i, acc):
        blk = lax.dynamic_slice_in_dim(basis, i * _ROWS, _ROWS, axis=0)
        ci = lax.dynamic_slice_in_dim(c, i * _ROWS, _ROWS, axis=0)
        return acc + blk.T @ ci

    return lax.fori_loop(0, _rows(n), body, jnp.zeros((basis.shape[1],) + c.shape[1:], basis.dtype))


def _orthogonalize(basis: Array, w: Array, n: Array) -> Array:
    # Classical Gram-Schmidt twice ("twice is enough", Giraud et al. 2005) against the
    # first n rows.
    for _ in range(2):
        w = w - _combine(basis, _coefficients(basis, w, n), n)
    return w


def _unit(v: Array) -> Array:
    n = jnp.linalg.norm(v)
    return v / jnp.where(n > 0, n, jnp.ones_like(n))


def _pad_rows(m: int) -> int:
    return -(-m // _ROWS) * _ROWS


def _stage_rows(dim: int, m_total: int, itemsize: int) -> int:
    first = max(_ROWS, (_FIRST_STAGE_BYTES // (dim * itemsize)) // _ROWS * _ROWS)
    return min(m_total, min(first, 64))


def _is_traced() -> bool:
    """True inside a jit/vmap trace (then the staged Python driver cannot branch on values)."""
    try:
        from jax._src import core

        return not core.trace_state_clean()
    except (ImportError, AttributeError):  # private API moved: take the always-safe path
        return True


def default_dtype(v0: Any, dtype: Any) -> Any:
    if dtype is not None:
        return jnp.dtype(dtype)
    if v0 is not None and jnp.issubdtype(jnp.asarray(v0).dtype, jnp.floating):
        return jnp.asarray(v0).dtype
    # float64 under x64, float32 otherwise.
    return jnp.zeros(()).dtype


def check_v0(v0: Any, dim: int) -> None:
    if v0 is None:
        return
    shape = jnp.shape(v0)
    if not (shape == (dim,) or (len(shape) == 2 and shape[0] == dim and shape[1] >= 1)):
        raise ValueError(f"v0 must have shape ({dim},) or ({dim}, p) with p >= 1, got {shape}")


def check_common(dim: int, k: int, tol: Any, max_iter: int, v0: Any, v0_noise: Any, *,
                 min_dim: int = 1, max_k: int | None = None,
                 min_iter: int | None = None) -> tuple[int, int, int]:
    dim = _check_int("dim", dim, min_dim)
    k = _check_int("k", k, 1, dim if max_k is None else max_k(dim))
    max_iter = _check_int("max_iter", max_iter, k if min_iter is None else min_iter)
    _check_pos("tol", tol, traced_ok=True)
    _check_nonneg("v0_noise", v0_noise, traced_ok=True)
    check_v0(v0, dim)
    return dim, k, max_iter


class Prepared(NamedTuple):
    """A solver call's validated arguments (see `prepare`)."""

    dim: int
    k: int
    max_iter: int
    dtype: Any
    key: Array
    v0: Array | None


def prepare(dim: int, k: int, tol: Any, max_iter: int, v0: Any, v0_noise: Any, key: Any,
            dtype: Any, **bounds: Any) -> Prepared:
    """The prologue every solver shares: validate, pick the dtype and key, cast ``v0``.

    Args:
      dim, k, tol, max_iter, v0, v0_noise: as in `lanczos` (``bounds`` are passed to
        ``check_common``: ``min_dim``, ``max_k``, ``min_iter``).
      key: PRNG key, or None for ``jax.random.PRNGKey(0)``.
      dtype: iteration dtype, or None for `default_dtype`.

    Raises:
      ValueError: an argument outside its allowed range.
    """
    dim, k, max_iter = check_common(dim, k, tol, max_iter, v0, v0_noise, **bounds)
    dtype = jnp.dtype(default_dtype(v0, dtype))
    key = jax.random.PRNGKey(0) if key is None else key
    v0 = None if v0 is None else jnp.asarray(v0).astype(dtype)
    return Prepared(dim, k, max_iter, dtype, key, v0)


# --- small eigenproblems on the host ---


def _ritz_numpy(alphas: np.ndarray, betas: np.ndarray, r: np.ndarray,
                k: int) -> tuple[np.ndarray, np.ndarray]:
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
                d, e, select="i", select_range=(r - kk, r - 1), lapack_driver="stemr")
        except (np.linalg.LinAlgError, ValueError):
            # MRRR can (rarely) fail to converge; the dense solver cannot.
            w, y = np.linalg.eigh(np.diag(d) + np.diag(e, 1) + np.diag(e, -1))
            w, y = w[r - kk:], y[:, r - kk:]
    theta = np.full((k,), w[0])  # rows beyond r (r < k) are never used: convergence needs r >= k
    theta[:kk] = w[::-1]
    ytop = np.zeros((m, k))
    ytop[:r, :kk] = y[:, ::-1]
    return theta.astype(alphas.dtype), ytop.astype(alphas.dtype)


def _ritz_host(alphas: Array, betas: Array, r: Array, k: int) -> tuple[Array, Array]:
    """Top-k Ritz pairs of T_r, returned as (theta (k,), Y (m, k) zero-padded).

    The tridiagonal problem is tiny and its size r grows every iteration. Inside XLA it
    would need a static size (a padded m x m eigh: O(m^3) per step, plus slow compiles); on
    the host, LAPACK's MRRR solves exactly the r x r problem for the k wanted pairs.
    """
    m = alphas.shape[0]
    shapes = (jax.ShapeDtypeStruct((k,), alphas.dtype), jax.ShapeDtypeStruct((m, k), alphas.dtype))
    return jax.pure_callback(functools.partial(_ritz_numpy, k=k), shapes, alphas, betas, r,
                             vmap_method="sequential")


# --- Lanczos with partial reorthogonalisation ---


class _LanczosState(NamedTuple):
    j: Array          # iterations done = index of the vector expanded next
    v: Array          # (dim,) that vector, v_j (stored into basis[j] when expanded)
    basis: Array      # (m, dim) v_0 .. v_j (row j is v; dropped when j == m)
    alphas: Array     # (m,)
    betas: Array      # (m,)  betas[i] couples v_i and v_{i+1}
    theta: Array      # (k,) current Ritz values
    y: Array          # (m, k) their coordinates in the basis
    residuals: Array  # (k,)
    converged: Array
    anorm: Array      # running estimate of ||A||
    om_cur: Array     # (m,) omega_{j, i} ~ v_j . v_i (om_cur[j] = 1)
    om_prev: Array    # (m,) omega_{j-1, i}
    force: Array      # reorthogonalise the next vector regardless (second of a pair)
    reorths: Array    # number of full reorthogonalisations (diagnostic)


def _lanczos_init(start: Array, noise: Array, m: int, k: int, dtype: Any) -> _LanczosState:
    del noise
    z = jnp.zeros((m,), dtype)
    return _LanczosState(
        j=jnp.asarray(0, jnp.int32), v=start,
        basis=jnp.zeros((m, start.shape[0]), dtype).at[0].set(start),
        alphas=z, betas=z, theta=jnp.zeros((k,), dtype), y=jnp.zeros((m, k), dtype),
        residuals=jnp.full((k,), jnp.inf, dtype), converged=jnp.asarray(False),
        anorm=jnp.zeros((), dtype), om_cur=z.at[0].set(1.0), om_prev=z,
        force=jnp.asarray(False), reorths=jnp.asarray(0, jnp.int32))


def _lanczos_grow(st: _LanczosState, m: int) -> _LanczosState:
    pad = m - st.basis.shape[0]
    p1 = lambda a: jnp.pad(a, [(0, pad)] + [(0, 0)] * (a.ndim - 1))  # noqa: E731
    return st._replace(basis=p1(st.basis).at[st.j].set(st.v), alphas=p1(st.alphas),
                       betas=p1(st.betas), y=p1(st.y), om_cur=p1(st.om_cur),
                       om_prev=p1(st.om_prev))


def _lanczos_run(op: Callable, operand: Any, st: _LanczosState, restart_noise: Array,
                 tol: Array, m_limit: int, k: int) -> _LanczosState:
    """Lanczos iterations until convergence or ``j == m_limit`` (<= the stage's rows)."""
    m, dim = st.basis.shape
    dtype = st.basis.dtype
    eps = float(jnp.finfo(dtype).eps)
    eps1 = float(eps * np.sqrt(dim) / 2.0)
    tol = jnp.asarray(tol, dtype)
    # Reorthogonalise when the estimated loss of orthogonality exceeds sqrt(eps) (semi-
    # orthogonality keeps the tridiagonal matrix A's projection to working precision, Simon
    # 1984), or 0.01 tol, down to eps^(3/4), so tight tolerances get orthogonal Ritz vectors.
    thresh = jnp.clip(0.01 * tol, eps ** 0.75, float(np.sqrt(eps))).astype(dtype)
    ks = jnp.arange(m, dtype=jnp.int32)

    def cond(s: _LanczosState) -> Array:
        return ~s.converged & (s.j < m_limit)

    def body(s: _LanczosState) -> _LanczosState:
        j, v = s.j, s.v
        basis = s.basis  # holds v_j already: written below, last, so XLA updates it in place
        w = _apply(op, operand, v, dim, dtype)
        alpha = jnp.vdot(v, w)
        has_prev = j > 0
        jm1 = jnp.maximum(j - 1, 0)
        beta_prev = jnp.where(has_prev, s.betas[jm1], jnp.zeros((), dtype))
        w = w - alpha * v - beta_prev * basis[jm1]
        w = w - jnp.vdot(v, w) * v  # local reorthogonalisation against v_j: two dots' cost
        beta = jnp.linalg.norm(w)
        anorm = jnp.maximum(s.anorm, jnp.abs(alpha) + beta + beta_prev)
        alphas = s.alphas.at[j].set(alpha)
        # omega recurrence (Simon 1984; PROPACK's update_mu): estimate v_{j+1} . v_i, i < j.
        up = jnp.roll(s.om_cur, -1)  # omega_{j, i+1} (omega_{j, j} = 1)
        down = jnp.where(ks > 0, jnp.roll(s.om_cur, 1), 0.0)  # omega_{j, i-1}
        b_im1 = jnp.where(ks > 0, jnp.roll(s.betas, 1), 0.0)
        raw = (s.betas * up + (alphas - alpha) * s.om_cur + b_im1 * down - beta_prev * s.om_prev)
        raw = raw + jnp.sign(raw) * eps1 * (s.betas + beta)
        safe_beta = jnp.where(beta > 0, beta, jnp.ones_like(beta))
        om_new = jnp.where(ks < j, raw / safe_beta, 0.0).at[j].set(eps1)
        need = s.force | (jnp.max(jnp.abs(om_new)) > thresh)

        def reorth(w_):
            return _orthogonalize(basis, w_, j + 1)

        w = lax.cond(need, reorth, lambda w_: w_, w)
        beta = jnp.where(need, jnp.linalg.norm(w), beta)
        om_new = jnp.where(need & (ks <= j), eps1, om_new)
        # With full reorthogonalisation, w after exhausting an invariant subspace is
        # rounding noise of size ~eps ||A||; treat it as exactly zero.
        breakdown = beta <= 100.0 * eps * anorm
        betas = s.betas.at[j].set(jnp.where(breakdown, jnp.zeros_like(beta), beta))
        theta, y = _ritz_host(alphas, betas, j + 1, k)
        # Ritz residual ||A V y - theta V y|| = beta_j |e_j^T y| (Paige).
        residuals = beta * jnp.abs(y[j])
        ok = residuals <= tol * jnp.maximum(jnp.ones_like(theta), jnp.abs(theta))
        converged = (j + 1 >= k) & jnp.all(ok)

        def restart(_):
            # Breakdown (invariant Krylov space): go on along a fresh orthogonal random
            # direction, so k above the eigenvalues reachable from the start still works.
            return _unit(_orthogonalize(basis, jnp.roll(restart_noise, j), j + 1))

        v_next = lax.cond(breakdown, restart, lambda _: w / jnp.where(beta > 0, beta, 1.0), None)
        om_new = jnp.where(breakdown & (ks <= j), eps1, om_new)
        om_new = om_new.at[j + 1].set(1.0, mode="drop")
        # A pair: a reorthogonalisation triggered by the estimate is repeated for the next
        # vector (its recurrence still carries the old loss); a forced one is not.
        force = need & ~s.force & ~breakdown
        # The only write to the basis, after every read of it: each read feeds v_next, so
        # the update is ordered after them and needs no copy of the (m, dim) buffer.
        basis = basis.at[j + 1].set(v_next, mode="drop")
        return _LanczosState(j + 1, v_next, basis, alphas, betas, theta, y, residuals, converged,
                             anorm, om_new, s.om_cur, force, s.reorths + need.astype(jnp.int32))

    return lax.while_loop(cond, body, st)


def _lanczos_finish(st: _LanczosState) -> EigResult:
    vectors = _combine(st.basis, st.y, st.j)
    # Ritz vectors are unit up to rounding; renormalise for downstream projections.
    vectors = vectors / jnp.linalg.norm(vectors, axis=0, keepdims=True)
    return EigResult(st.theta, vectors, st.j, st.converged, st.residuals)


def _start_vector(v0: Array | None, dtype: Any, noise: Array, v0_noise: Array) -> Array:
    if v0 is None:
        return _unit(noise)
    v0 = jnp.asarray(v0).astype(dtype)
    if v0.ndim == 2:
        # A block of previous eigenvectors: their (normalised) sum has a large component
        # on each, so a Krylov space started there contains all of them after a few steps.
        cols = v0 / jnp.maximum(jnp.linalg.norm(v0, axis=0, keepdims=True), jnp.finfo(dtype).tiny)
        v0 = jnp.sum(cols, axis=1)
    s = _unit(v0) + v0_noise * _unit(noise)
    norm = jnp.linalg.norm(s)
    # A zero v0 (with no noise) would stall Lanczos; fall back to a cold start.
    return jnp.where(norm > 0, s / jnp.where(norm > 0, norm, jnp.ones_like(norm)), _unit(noise))


def _lanczos_start(v0, key, v0_noise, dim, m, k, dtype):
    # One Gaussian draw serves the cold start (row 0) and every breakdown restart (row 1).
    noise = jax.random.normal(key, (2, dim), dtype)
    start = _start_vector(v0, dtype, noise[0], jnp.asarray(v0_noise, dtype))
    return _lanczos_init(start, None, m, k, dtype), noise[1]


@functools.partial(jax.jit, static_argnames=("dim", "m", "k", "dtype"))
def _lanczos_start_jit(v0, key, v0_noise, *, dim, m, k, dtype):
    return _lanczos_start(v0, key, v0_noise, dim, m, k, dtype)


@functools.partial(jax.jit, static_argnames=("op", "m_limit", "k"))
def _lanczos_run_jit(op, operand, st, noise, tol, *, m_limit, k):
    return _lanczos_run(op, operand, st, noise, tol, m_limit, k)


@functools.partial(jax.jit, static_argnames=("m",))
def _lanczos_grow_jit(st, *, m):
    return _lanczos_grow(st, m)


_lanczos_finish_jit = jax.jit(_lanczos_finish)


@functools.partial(jax.jit, static_argnames=("op", "dim", "k", "m", "dtype"))
def _lanczos_whole_jit(op, operand, v0, key, tol, v0_noise, *, dim, k, m, dtype):
    st, noise = _lanczos_start(v0, key, v0_noise, dim, _pad_rows(m), k, dtype)
    return _lanczos_finish(_lanczos_run(op, operand, st, noise, tol, m, k))


def lanczos_solve(op: Callable, operand: Any, dim: int, k: int, v0: Array | None, tol: Any,
                  max_iter: int, key: Array, v0_noise: Any, dtype: Any) -> EigResult:
    """Lanczos on ``v -> op(operand, v)`` (validated arguments; ``op`` hashable, static).

    Outside any trace the basis grows in stages (a few dozen rows, then x4) and the run
    continues where the previous stage stopped; inside a jit/vmap trace one stage of
    ``min(max_iter, dim)`` rows runs.
    """
    m_total = min(max_iter, dim)
    if _is_traced():
        return _lanczos_whole_jit(op, operand, v0, key, tol, v0_noise, dim=dim, k=k, m=m_total,
                                  dtype=dtype)
    m_stage = _stage_rows(dim, m_total, jnp.dtype(dtype).itemsize)
    st, noise = _lanczos_start_jit(v0, key, v0_noise, dim=dim, m=_pad_rows(m_stage), k=k,
                                   dtype=dtype)
    while True:
        st = _lanczos_run_jit(op, operand, st, noise, tol, m_limit=m_stage, k=k)
        if m_stage >= m_total or bool(st.converged):
            break
        m_stage = min(m_total, 4 * m_stage)
        st = _lanczos_grow_jit(st, m=_pad_rows(m_stage))
    return _lanczos_finish_jit(st)


def lanczos(matvec: MatVec, dim: int, k: int = 1, *, v0: StartBlock | None = None,
            tol: float = 1e-8, max_iter: int = 200, key: PRNGKeyArray | None = None,
            v0_noise: float = DEFAULT_V0_NOISE, dtype: Any = None) -> EigResult:
    """The ``k`` largest algebraic eigenpairs of a symmetric operator, by Lanczos.

    Lanczos with partial reorthogonalisation (see the module docstring): the basis is kept
    semi-orthogonal (and, for ``tol`` below ``1e-6``, orthogonal to about ``0.01 tol``), so
    there are no spurious copies of converged eigenvalues. The Ritz values are the top ``k``
    *algebraic* eigenvalues of the tridiagonal projection: a Hessian with a large negative
    eigenvalue still yields its top positive one. The iteration stops as soon as the Ritz
    residuals of the top ``k`` pairs satisfy ``||A v - theta v|| <= tol * max(1, |theta|)``
    (the residual bounds the eigenvalue error, ``|theta - lambda| <= residual``), or when the
    Krylov space reaches ``min(max_iter, dim)`` vectors. One iteration is one matvec.

    Warm start: ``v0`` may be a vector ``(dim,)`` (e.g. the previous top eigenvector) or a
    block ``(dim, p)`` (e.g. the previous ``k`` eigenvectors). A block is turned into one
    start vector, the sum of its normalised columns. The start vector then gets a random
    component of relative size ``v0_noise`` so that it overlaps every eigenvector: without
    it, an eigenvector orthogonal to the warm start (e.g. after two eigenvalues cross) would
    be missed. Set ``v0_noise=0`` to start the Krylov space exactly at ``v0`` (as ARPACK
    does).

    The loop is a ``jax.lax.while_loop`` inside ``jax.jit`` with ``matvec`` static; each
    step's tridiagonal eigenproblem is solved on the host (LAPACK's MRRR, exactly ``j x j``).
    It works inside ``jit``/``vmap`` (not under reverse-mode ``grad``, nor ``jax.export``).
    Calls with the same ``matvec`` object, ``k``, ``max_iter``, ``dtype`` and ``v0`` shape
    reuse the compilation (``tol``, ``v0_noise`` and ``key`` are traced); a fresh lambda per
    call recompiles. Memory: at most ``min(max_iter, dim) * dim``, allocated in stages.

    Limitations: single-vector Lanczos sees one direction per eigenspace, so an exactly
    repeated eigenvalue is reported once unless rounding or a breakdown restart brings in
    its other copies.

    Args:
      matvec: symmetric linear map ``(dim,) -> (dim,)``.
      dim: dimension of the space, ``>= 1``.
      k: number of eigenpairs, in ``[1, dim]``.
      v0: optional warm start, shape ``(dim,)`` or ``(dim, p)``.
      tol: relative residual tolerance, in ``(0, inf)``. Below the rounding floor (e.g. the
        default 1e-8 in float32) the Ritz estimate still converges, but the pairs are then
        only accurate to ``~eps ||A||``.
      max_iter: maximum number of matvecs, in ``[k, inf)`` (capped at ``dim``).
      key: PRNG key for the random start; default ``jax.random.PRNGKey(0)``.
      v0_noise: relative size of the random component added to ``v0``, in ``[0, inf)``.
      dtype: floating dtype of the iteration; default ``v0``'s dtype, else the default float
        dtype (float64 under x64).

    Returns:
      An `EigResult`; ``num_iterations`` is the number of matvecs and ``residuals`` are the
      Ritz residual norms at exit.

    Raises:
      ValueError: an argument outside its allowed range, or a matvec of the wrong shape.

    References:
      Lanczos (1950); Paige (1980); Simon (1984); Golub & Van Loan, Sec. 10.1.
    """
    a = prepare(dim, k, tol, max_iter, v0, v0_noise, key, dtype)
    return lanczos_solve(MatvecOp(matvec), None, a.dim, a.k, a.v0, tol, a.max_iter, a.key,
                         v0_noise, a.dtype)


# --- Block warm start: a Krylov space augmented with the previous eigenvector block ---


class _BlockState(NamedTuple):
    n: Array          # vectors in the basis
    hvps: Array       # matvecs spent
    basis: Array      # (m, dim) orthonormal rows V
    images: Array     # (m, dim) their images W = A V (kept, so restarts cost no matvec)
    proj: Array       # (m, m) V A V^T
    theta: Array      # (q,) top Ritz values, descending
    y: Array          # (m, q) their coordinates
    residuals: Array  # (k,)
    converged: Array
    expand: Array     # (dim,) residual of the first unconverged wanted pair


def _block_orthonormal(block: Array, noise: Array) -> Array:
    """Rows: ``block``'s columns made orthonormal; a (near-)dependent one becomes noise."""
    dim, p = block.shape
    rows = jnp.zeros((_pad_rows(p), dim), block.dtype)
    for i in range(p):  # p is small and static
        c = _unit(block[:, i])
        w = _orthogonalize(rows, c, jnp.asarray(i, jnp.int32))
        # Less than sqrt(eps) of the column is new: it adds nothing but rounding.
        dep = jnp.linalg.norm(w) <= float(np.sqrt(jnp.finfo(block.dtype).eps))
        fresh = _orthogonalize(rows, jnp.roll(noise, 7 * i + 1), jnp.asarray(i, jnp.int32))
        rows = rows.at[i].set(_unit(jnp.where(dep, fresh, w)))
    return rows[:p]


def _block_ritz(s: _BlockState, tol: Array, k: int, k_out: int) -> _BlockState:
    """Rayleigh-Ritz on the basis: top Ritz pairs, residuals of the top ``k_out``.

    Convergence concerns the wanted ``k``; the others are guard pairs.
    """
    m, q = s.y.shape
    used = jnp.arange(m, dtype=jnp.int32) < s.n
    g = jnp.where(used[:, None] & used[None, :], 0.5 * (s.proj + s.proj.T), 0.0)
    # Unused rows get an eigenvalue below every used one (|lambda| <= ||G||_F).
    low = -2.0 * jnp.linalg.norm(g) - 1.0
    lam, vec = jnp.linalg.eigh(g + jnp.diag(jnp.where(used, 0.0, low)))
    theta, y = lam[::-1][:q], vec[:, ::-1][:, :q]
    y = jnp.where(used[:, None], y, 0.0)
    yk = y[:, :k_out]
    r = _combine(s.images, yk, s.n) - _combine(s.basis, yk, s.n) * theta[None, :k_out]
    res = jnp.linalg.norm(r, axis=0)
    ok = (res <= tol * jnp.maximum(jnp.ones_like(res), jnp.abs(theta[:k_out])))[:k]
    first = jnp.argmin(ok)  # first unconverged wanted pair (0 when all converged)
    return s._replace(theta=theta, y=y, residuals=res, converged=jnp.all(ok), expand=r[:, first])


def _block_restart(s: _BlockState) -> _BlockState:
    """Thick restart: keep the top q Ritz vectors and their images (no matvec needed)."""
    m, q = s.y.shape
    u = _combine(s.basis, s.y, s.n)
    au = _combine(s.images, s.y, s.n)
    z = jnp.zeros_like(s.basis)
    return s._replace(n=jnp.asarray(q, jnp.int32), basis=z.at[:q].set(u.T),
                      images=z.at[:q].set(au.T),
                      proj=jnp.zeros_like(s.proj).at[jnp.arange(q), jnp.arange(q)].set(s.theta))


def _block_run(op: Callable, operand: Any, block: Array, key: Array, tol: Array, max_iter: int,
               k: int, k_out: int, m: int, q: int) -> EigResult:
    """The iteration; the basis restarts at ``m`` rows (allocated: a multiple of _ROWS)."""
    dim, p = block.shape
    dtype = block.dtype
    eps = float(jnp.finfo(dtype).eps)
    tol = jnp.asarray(tol, dtype)
    noise = jax.random.normal(key, (dim,), dtype)
    rows = _block_orthonormal(block, noise)
    m_alloc = _pad_rows(m)
    basis = jnp.zeros((m_alloc, dim), dtype).at[:p].set(rows)
    images = jnp.zeros((m_alloc, dim), dtype)
    images = lax.fori_loop(0, p, lambda i, im: im.at[i].set(_apply(op, operand, basis[i], dim, dtype)),
                           images)
    proj = _coefficients(basis, images.T, jnp.asarray(p, jnp.int32))  # V (A V)^T
    st = _BlockState(jnp.asarray(p, jnp.int32), jnp.asarray(p, jnp.int32), basis, images, proj,
                     jnp.zeros((q,), dtype), jnp.zeros((m_alloc, q), dtype), jnp.zeros((k_out,), dtype),
                     jnp.asarray(False), jnp.zeros((dim,), dtype))
    st = _block_ritz(st, tol, k, k_out)

    def cond(s: _BlockState) -> Array:
        return ~s.converged & (s.hvps < max_iter)

    def body(s: _BlockState) -> _BlockState:
        s = lax.cond(s.n >= m, _block_restart, lambda s_: s_, s)
        w = _orthogonalize(s.basis, s.expand, s.n)
        # The residual is orthogonal to the basis in exact arithmetic; if rounding left
        # (almost) nothing of it, continue with a random direction instead.
        small = jnp.linalg.norm(w) <= 100.0 * eps * jnp.linalg.norm(s.expand) + jnp.finfo(dtype).tiny
        fresh = _orthogonalize(s.basis, jnp.roll(noise, s.hvps), s.n)
        v = _unit(jnp.where(small, fresh, w))
        av = _apply(op, operand, v, dim, dtype)
        basis = s.basis.at[s.n].set(v)
        col = _coefficients(basis, av, s.n + 1)  # V A v (the new column of the projection)
        proj = s.proj.at[:, s.n].set(col).at[s.n, :].set(col)
        s = s._replace(n=s.n + 1, hvps=s.hvps + 1, basis=basis, images=s.images.at[s.n].set(av),
                       proj=proj)
        return _block_ritz(s, tol, k, k_out)

    st = lax.while_loop(cond, body, st)
    vectors = _combine(st.basis, st.y[:, :k_out], st.n)
    vectors = vectors / jnp.linalg.norm(vectors, axis=0, keepdims=True)
    return EigResult(st.theta[:k_out], fix_signs(vectors, block), st.hvps, st.converged,
                     st.residuals)


@functools.partial(jax.jit, static_argnames=("op", "max_iter", "k", "k_out", "m", "q"))
def _block_run_jit(op, operand, block, key, tol, *, max_iter, k, k_out, m, q):
    return _block_run(op, operand, block, key, tol, max_iter, k, k_out, m, q)


def augmented_solve(op: Callable, operand: Any, dim: int, k: int, v0: Array | None, tol: Any,
                    max_iter: int, key: Array, dtype: Any, basis_size: int | None = None,
                    guard: int = 0) -> EigResult:
    """`augmented_lanczos` on ``v -> op(operand, v)`` (validated arguments; ``op`` static)."""
    if v0 is None:
        block = jax.random.normal(jax.random.fold_in(key, 1), (dim, k), dtype)
    else:
        block = jnp.asarray(v0, dtype).reshape(dim, -1)
    p = block.shape[1]
    if p > dim:
        raise ValueError(f"v0 must have at most dim = {dim} columns, got {p}")
    if p < k:  # fill the block up to k columns with random ones
        extra = jax.random.normal(jax.random.fold_in(key, 1), (dim, k - p), dtype)
        block, p = jnp.concatenate([block, extra], axis=1), k
    if max_iter < p:
        raise ValueError(f"max_iter must be an integer in [{p}, inf) for a block of {p} "
                         f"columns, got {max_iter}")
    if basis_size is None:
        basis_size = max(DEFAULT_BASIS_SIZE, 2 * p + 2)
    m = min(dim, _check_int("basis_size", basis_size, p + 1))
    guard = _check_int("guard", guard, 0, m - 1 - k)
    q = max(k + guard, min(m - 1, max(p, m // 2)))  # Ritz vectors kept by a thick restart
    return _block_run_jit(op, operand, block, key, tol, max_iter=max_iter, k=k, k_out=k + guard,
                          m=m, q=q)


def augmented_lanczos(matvec: MatVec, dim: int, k: int = 1, *, v0: StartBlock | None = None,
                  tol: float = 1e-8, max_iter: int = 200, key: PRNGKeyArray | None = None,
                  dtype: Any = None, basis_size: int | None = None,
                  guard: int = 0) -> EigResult:
    """Top ``k`` eigenpairs from a warm-start *block*: the block's span plus a Krylov space.

    For tracking along a trajectory where the top eigenvalues are close (the Edge of
    Stability), a single warm-start vector is a poor start: the new top eigenvector is
    mostly a rotation inside the span of the previous top few, and single-vector Lanczos
    must resolve that rotation through the small gap. Here the whole previous block enters
    the basis: Rayleigh-Ritz on it (one matvec per column) finds the rotation at once, and
    the basis then grows, one matvec per iteration, by the residual of the first wanted
    pair that has not converged -- the Krylov space of the current Ritz vector, augmented by
    the block (Davidson's method without preconditioner; a thick-restarted Lanczos whose
    first restart is the block, Wu & Simon 2000). The images ``A v`` of the basis are
    kept, so the projected matrix and the true residuals need no further matvecs, and a
    full basis is restarted (to the top ``basis_size // 2`` Ritz vectors) for free.
    Every new vector is orthogonalised against the whole basis (it is small).

    Convergence, like `lanczos`: the *true* residuals of the top ``k`` Ritz pairs satisfy
    ``||A v - theta v|| <= tol * max(1, |theta|)``. A near-exact block converges after its
    own ``p`` matvecs. Columns of ``v0`` that add less than ``sqrt(eps)`` to the span of
    the ones before are replaced by random directions; a block of ``p < k`` columns is
    filled up with random ones; without ``v0`` the block is ``k`` random columns (a cold
    start, slower than `lanczos`). The eigenvectors are sign-fixed against ``v0``'s
    columns (:func:`~eoslib.eigsolve.fix_signs`), so tracked vectors move continuously.

    Args:
      matvec: symmetric linear map ``(dim,) -> (dim,)``.
      dim: dimension of the space, ``>= 1``.
      k: number of eigenpairs, in ``[1, dim]``.
      v0: warm-start block ``(dim, p)`` (e.g. the previous top eigenvectors, and the ones of
        the call before) or one vector ``(dim,)``; ``p <= dim``.
      tol: relative residual tolerance, in ``(0, inf)``.
      max_iter: maximum number of matvecs, in ``[max(k, p), inf)`` (the block's ``p``
        matvecs included).
      key: PRNG key for random directions; default ``jax.random.PRNGKey(0)``.
      dtype: floating dtype; default as in `lanczos`.
      basis_size: largest basis before a thick restart, in ``[p + 1, inf)`` (capped at
        ``dim``); default ``max(24, 2 p + 2)``. Memory: two ``basis_size x dim`` arrays.
      guard: number of further Ritz pairs returned after the ``k`` wanted ones, in
        ``[0, basis_size - 1 - k]``; they need not converge (``converged`` concerns the
        first ``k``). Pass them back in the next warm-start block: they hold the directions
        that can overtake the top ``k`` when eigenvalues cross.

    Returns:
      An `EigResult` with ``k + guard`` pairs; ``num_iterations`` is the number of matvecs
      and ``residuals`` the true residual norms of the returned pairs.

    Raises:
      ValueError: an argument outside its allowed range, or a matvec of the wrong shape.

    References:
      E. R. Davidson, J. Comput. Phys. 17 (1975). K. Wu & H. Simon, "Thick-restart Lanczos
      method for large symmetric eigenvalue problems", SIAM J. Matrix Anal. Appl. 22
      (2000). Y. Saad, "Numerical Methods for Large Eigenvalue Problems", 2nd ed., Ch. 8.
    """
    a = prepare(dim, k, tol, max_iter, v0, 0.0, key, dtype)
    return augmented_solve(MatvecOp(matvec), None, a.dim, a.k, a.v0, tol, a.max_iter, a.key,
                           a.dtype, basis_size, guard)


# --- LOBPCG (jax.experimental) ---


def lobpcg_top_k(matvec: MatVec, dim: int, k: int = 1, *, v0: StartBlock | None = None,
                 tol: float = 1e-8, max_iter: int = 200, key: PRNGKeyArray | None = None,
                 dtype: Any = None) -> EigResult:
    """The ``k`` largest algebraic eigenpairs by LOBPCG (``jax.experimental``).

    A thin wrapper around ``jax.experimental.sparse.linalg.lobpcg_standard``, which returns the
    largest algebraic eigenvalues. It applies the operator to whole blocks, ``4k`` matvecs per
    iteration, so for a single eigenpair `lanczos` usually needs fewer HVPs; LOBPCG pays off for
    blocks on accelerators. Its internal stopping rule is scaled to approximate ours; the
    reported ``residuals`` and ``converged`` are recomputed here with ``k`` extra matvecs, using
    the same criterion as `lanczos`.

    Args:
      matvec: symmetric linear map ``(dim,) -> (dim,)``.
      dim: dimension, with ``5 k < dim`` (a LOBPCG requirement).
      k: number of eigenpairs, in ``[1, (dim - 1) // 5]``.
      v0: optional start, ``(dim,)`` (first column) or ``(dim, p)`` (first ``min(p, k)``
        columns); remaining columns are random.
      tol: relative residual tolerance, in ``(0, inf)``.
      max_iter: maximum number of LOBPCG iterations, in ``[1, inf)``.
      key: PRNG key for random columns; default ``jax.random.PRNGKey(0)``.
      dtype: floating dtype; default as in `lanczos`.

    Returns:
      An `EigResult`; ``num_iterations`` counts matvecs, ``k (4 i + 2)`` for ``i`` iterations.

    References:
      Knyazev, "Toward the optimal preconditioned eigensolver: Locally optimal block
      preconditioned conjugate gradient method", SIAM J. Sci. Comput. 2001.
    """
    from jax.experimental.sparse.linalg import lobpcg_standard

    dim, k, max_iter, dtype, key, v0 = prepare(dim, k, tol, max_iter, v0, 0.0, key, dtype,
                                               min_dim=6, max_k=lambda d: (d - 1) // 5,
                                               min_iter=1)
    x0 = jax.random.normal(key, (dim, k), dtype)
    if v0 is not None:
        block = v0.reshape(dim, -1)[:, :k]
        x0 = x0.at[:, : block.shape[1]].set(block)

    def block_matvec(xs: Array) -> Array:
        return jax.vmap(lambda v: jnp.asarray(matvec(v)).astype(dtype), in_axes=1, out_axes=1)(xs)

    # lobpcg_standard stops at ||r|| < tol' 10 dim (||A x|| + theta) ~ tol' 20 dim |theta|: match tol |theta|.
    theta, vectors, iters = lobpcg_standard(block_matvec, x0, m=max_iter, tol=tol / (20.0 * dim))
    residuals = jnp.linalg.norm(block_matvec(vectors) - vectors * theta[None, :], axis=0)
    converged = jnp.all(residuals <= tol * jnp.maximum(jnp.ones_like(theta), jnp.abs(theta)))
    iters = jnp.asarray(iters, jnp.int32)
    return EigResult(theta, vectors, k * (4 * iters + 2), converged, residuals)
