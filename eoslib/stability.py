"""Multivariate product-stability ``alpha = 3 T_vv^T H^+ T_vv - Q_vvvv`` at a point.

For a loss ``L: R^D -> R`` with Hessian ``H`` at ``w`` and unit top eigenvector ``v``
(eigenvalue ``lambda_max``), Definition 7.1 of Gan (after Mulayoff & Stich, Thm 7) is

    alpha(L, w) = D^3 L(w)[v, v, q] - D^4 L(w)[v, v, v, v],   q = 3 H^{-1} T_vv,
    T_vv = D^3 L(w)[v, v, .] = grad_w (v^T H(w) v),

i.e. ``alpha = 3 T_vv^T H^{-1} T_vv - Q_vvvv``. At a minimum with positive definite ``H``
a stable period-2 orbit exists just above ``eta = 2 / lambda_max`` iff ``alpha > 0``. In the
network experiments ``H`` is singular or indefinite and the point is not stationary, so
``H^{-1}`` becomes a pseudoinverse ``H^+`` and the value depends on how ``H^+`` is cut
off: small ``|lambda_i|`` dominate the sum ``3 sum_i (T_vv . v_i)^2 / lambda_i``. Hence
every result reports the solver, its cutoff, and the two terms separately.

Solvers for ``q = H^+ (3 T_vv)``:

* ``"dense"``: ``eigh`` of the dense Hessian; eigenpairs with
  ``|lambda_i| <= cutoff * lambda_max`` are dropped. Exact; ``O(D^2)`` memory.
* ``"lsqr"``: ``scipy.sparse.linalg.lsqr`` (minimum-norm least squares) on a
  ``LinearOperator`` of HVPs; the implicit cutoff is the stopping tolerance
  ``atol = btol = tol`` together with the condition limit ``conlim``. Iterations are
  reported. (MINRES is not offered: on a singular ``H`` with ``T_vv`` only numerically
  in its range it divides by rounding noise, e.g. ``alpha ~ -7e14`` instead of 12432.75
  on ``l_2(xy)``; LSQR converges to the minimum-norm solution.)
* ``"topk"``: truncated spectral pseudoinverse with the top ``k`` Lanczos pairs (and the
  same relative ``cutoff``). Cheap, but it misses every small eigenvalue, which is where
  ``alpha`` usually comes from: use it to show the truncation effect.

Importing this module has no side effects (in particular it does not enable x64).

References:
  E. Gan, "Product-Stability", arXiv 2604.02653 (2026), Sec. 7, Def. 7.1.
  R. Mulayoff, S. Stich, "Exact mean square linear stability analysis for SGD",
  COLT 2026 (arXiv 2602.14789), Thm 7.
  C. Paige, M. Saunders, "LSQR: An algorithm for sparse linear equations and sparse
  least squares", ACM TOMS 1982.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from . import curvature
from .validation import choice as _choice, flat_point, integer as _check_int, positive as _check_pos


__all__ = ["ProductStability", "multivariate_product_stability", "SOLVERS", "EIG_SOLVERS"]

SOLVERS = ("dense", "lsqr", "topk")
EIG_SOLVERS = ("auto", "lanczos", "dense")

# Up to this dimension "auto" takes the top eigenpairs from a dense eigh: exact, and far
# cheaper than compiling a Lanczos loop (seconds) for a toy model.
_DENSE_DIM = 64


@dataclass(frozen=True, eq=False)
class ProductStability:
    """Multivariate product-stability at one point, with its ingredients.

    Attributes:
      alpha: ``third_term - fourth_term``.
      third_term: ``3 T_vv^T H^+ T_vv`` (with the solver's cutoff).
      fourth_term: ``Q_vvvv = D^4 L(w)[v, v, v, v]``.
      lambda_max: top Hessian eigenvalue.
      solver: one of :data:`SOLVERS`.
      cutoff: the cutoff used: relative eigenvalue cutoff (``dense``, ``topk``) or the
        LSQR stopping tolerance (``lsqr``).
      cutoff_rule: the cutoff in words, e.g. ``"dropped |lambda_i| <= 1e-08 * lambda_max"``.
      num_hvps: Hessian-vector products spent (Lanczos + solve; ``D`` for the dense Hessian).
      iterations: LSQR iterations (0 for the spectral solvers).
      num_kept: eigenpairs kept in the spectral pseudoinverse (-1 for LSQR).
      grad_norm: ``||grad L(w)||``; the definition assumes 0, the experiments do not.
      eigenvector: the unit top eigenvector ``v`` (NumPy, sign arbitrary).
      solve_info: LSQR exit status ``istop`` (0 for the spectral solvers).
      converged: False only when LSQR stopped at its iteration cap (``istop == 7``): the
        value is then not the pseudoinverse one. On ill-conditioned Hessians (e.g. at
        non-stationary points, smallest ``|lambda_i| / lambda_max ~ 1e-7``) LSQR works on
        ``H^2`` and may not converge in ``max_iter``; use ``"dense"`` or raise ``max_iter``.
    """

    alpha: float
    third_term: float
    fourth_term: float
    lambda_max: float
    solver: str
    cutoff: float
    cutoff_rule: str
    num_hvps: int
    iterations: int
    num_kept: int
    grad_norm: float
    eigenvector: Float[np.ndarray, " D"]
    solve_info: int = 0
    converged: bool = True

    def describe(self) -> str:
        """One line with every number needed to interpret ``alpha``."""
        it = f", {self.iterations} iterations" if self.solver == "lsqr" else ""
        kept = f", {self.num_kept} eigenpairs kept" if self.num_kept >= 0 else ""
        warn = "" if self.converged else " [NOT CONVERGED: LSQR hit max_iter]"
        return (f"alpha={self.alpha:.6g} (3T'H+T={self.third_term:.6g}, Q={self.fourth_term:.6g}), "
                f"lambda_max={self.lambda_max:.6g}, solver={self.solver}, "
                f"{self.cutoff_rule}{kept}{it}, {self.num_hvps} HVPs, "
                f"|grad|={self.grad_norm:.3g}{warn}")


# jit once per objective (f static); w and directions are traced.
_hvp = jax.jit(curvature.hvp, static_argnums=0)
_t_vv = jax.jit(curvature.third_derivative_vv, static_argnums=0)
_q4 = jax.jit(partial(curvature.directional_derivative, order=4), static_argnums=0)


@partial(jax.jit, static_argnums=0)
def _grad_norm(f: Callable[[Array], Array], w: Array) -> Array:
    return jnp.linalg.norm(jax.grad(f)(w))


@partial(jax.jit, static_argnums=0)
def _dense_eigh(f: Callable[[Array], Array], w: Array) -> tuple[Array, Array]:
    h = jax.hessian(f)(w)
    # Autodiff Hessians are symmetric only up to rounding.
    return jnp.linalg.eigh(0.5 * (h + h.T))


def _spectral_third(t: np.ndarray, lam: np.ndarray, vecs: np.ndarray, lam_max: float,
                    cutoff: float) -> tuple[float, int]:
    keep = np.abs(lam) > cutoff * lam_max
    coef = vecs[:, keep].T @ t
    return float(3.0 * np.sum(coef * coef / lam[keep])), int(np.sum(keep))


def multivariate_product_stability(
    f: Callable[[Float[Array, " D"]], Float[Array, ""]],
    w: Float[ArrayLike, " D"],
    *,
    solver: str = "lsqr",
    cutoff: float = 1e-8,
    tol: float = 1e-10,
    conlim: float = 1e8,
    k: int = 20,
    max_iter: int | None = None,
    v0: Float[ArrayLike, " D"] | Float[ArrayLike, "D p"] | None = None,
    eig_tol: float = 1e-10,
    eig_max_iter: int = 300,
    eig_solver: str = "auto",
) -> ProductStability:
    """Multivariate product-stability ``alpha = 3 T_vv^T H^+ T_vv - Q_vvvv`` of ``f`` at ``w``.

    ``v`` is the top Hessian eigenvector (Lanczos on HVPs via
    :func:`eoslib.curvature.top_eigenpairs`; dense ``eigh`` for ``solver="dense"`` and, with
    ``eig_solver="auto"``, for toy models with ``D <= 64``), ``T_vv`` comes from
    :func:`eoslib.curvature.third_derivative_vv` and ``Q_vvvv`` from
    :func:`eoslib.curvature.directional_derivative` (order 4). The result does not
    depend on the sign of ``v``.

    Args:
      f: scalar loss of a flat parameter vector, ``R^D -> R``, at least ``C^4``.
      w: point, shape ``(D,)``; float64 (x64) is strongly advised: ``alpha`` is a
        difference of large terms.
      solver: ``"dense"``, ``"lsqr"`` or ``"topk"`` (see the module docstring).
      cutoff: relative eigenvalue cutoff for ``"dense"`` and ``"topk"``, in ``(0, inf)``:
        pairs with ``|lambda_i| <= cutoff * lambda_max`` are dropped from ``H^+``. It must
        exceed the rounding level of the Hessian (about ``1e-13`` in float64, ``1e-5`` in
        float32), and ``alpha`` can depend strongly on it: report it.
      tol: LSQR stopping tolerance (``atol = btol = tol``), in ``(0, inf)``.
      conlim: LSQR condition-number limit, in ``(0, inf)`` (LSQR stops once its estimate
        of ``cond(H)`` exceeds it; scipy's default 1e8).
      k: number of Lanczos pairs for ``"topk"``, in ``[1, D]``.
      max_iter: LSQR iteration cap, in ``[1, inf)``; default ``10 D``.
      v0: optional warm start for the Lanczos eigenvector (e.g. from the previous step
        of a trajectory), shape ``(D,)`` or ``(D, p)``.
      eig_tol: Lanczos relative residual tolerance, in ``(0, inf)``.
      eig_max_iter: Lanczos HVP cap, in ``[k, inf)``.
      eig_solver: how ``v`` (and the ``"topk"`` pairs) are found: ``"lanczos"``,
        ``"dense"`` (``eigh`` of the dense Hessian) or ``"auto"`` (dense for ``D <= 64`` or
        ``solver="dense"``, else Lanczos).

    Returns:
      A :class:`ProductStability`; print ``.describe()`` next to any plot of ``alpha``.

    Raises:
      ValueError: bad argument (named), or a non-positive top eigenvalue (the
        definition needs ``lambda_max > 0``).

    References:
      E. Gan, "Product-Stability", arXiv 2604.02653 (2026), Def. 7.1.
      R. Mulayoff, S. Stich, COLT 2026 (arXiv 2602.14789), Thm 7.
    """
    _choice("solver", solver, SOLVERS)
    _choice("eig_solver", eig_solver, EIG_SOLVERS)
    # Not required finite: a caller may probe any point (the result then says so).
    w = flat_point("w", w, finite=False)
    dim = int(w.shape[0])
    cutoff = _check_pos("cutoff", cutoff)
    tol = _check_pos("tol", tol)
    conlim = _check_pos("conlim", conlim)
    k = _check_int("k", k, 1, dim if solver == "topk" else None)
    max_iter = 10 * dim if max_iter is None else _check_int("max_iter", max_iter, 1)
    eig_tol = _check_pos("eig_tol", eig_tol)
    eig_max_iter = _check_int("eig_max_iter", eig_max_iter, k if solver == "topk" else 1)

    num_hvps = 0
    use_dense = (solver == "dense" or eig_solver == "dense"
                 or (eig_solver == "auto" and dim <= _DENSE_DIM))
    if use_dense:
        lam_j, vec_j = _dense_eigh(f, w)
        # Descending order, as Lanczos returns them.
        lam = np.asarray(lam_j, np.float64)[::-1]
        vecs = np.asarray(vec_j, np.float64)[:, ::-1]
        if solver == "topk":
            lam, vecs = lam[:k], vecs[:, :k]
        lam_max = float(lam[0])
        v = vec_j[:, -1]
        num_hvps += dim  # forward-over-reverse Hessian = D HVPs
    else:
        n_pairs = k if solver == "topk" else 1
        res = curvature.top_eigenpairs(f, w, n_pairs, v0=v0, tol=eig_tol, max_iter=eig_max_iter)
        num_hvps += int(res.num_iterations)
        lam = np.asarray(res.eigenvalues, np.float64)
        vecs = np.asarray(res.eigenvectors, np.float64)
        lam_max = float(lam[0])
        v = res.eigenvectors[:, 0]
    if not lam_max > 0:
        raise ValueError(f"the top Hessian eigenvalue at w is {lam_max:.6g}; product-stability "
                         "needs lambda_max > 0")

    t = np.asarray(_t_vv(f, w, v), np.float64)
    q4 = float(_q4(f, w, v))
    num_hvps += 2  # T_vv is the gradient of one HVP, Q_vvvv a nested jvp: ~1 HVP each

    iterations, kept, info = 0, -1, 0
    if solver in ("dense", "topk"):
        third, kept = _spectral_third(t, lam, vecs, lam_max, cutoff)
        used = cutoff
        rule = f"dropped |lambda_i| <= {cutoff:.3g} * lambda_max"
        if solver == "topk":
            rule += f" (top {k} {'dense' if use_dense else 'Lanczos'} pairs only)"
    else:
        import scipy.sparse.linalg as spla

        counter = [0]
        dtype = w.dtype

        def matvec(u: np.ndarray) -> np.ndarray:
            counter[0] += 1
            out = _hvp(f, w, jnp.asarray(np.ravel(u), dtype))
            return np.asarray(out, np.float64)

        op = spla.LinearOperator((dim, dim), matvec=matvec, rmatvec=matvec, dtype=np.float64)
        out = spla.lsqr(op, 3.0 * t, atol=tol, btol=tol, conlim=conlim, iter_lim=max_iter)
        q, info, iterations = out[0], int(out[1]), int(out[2])
        rule = f"LSQR atol=btol={tol:.3g}, conlim={conlim:.3g} (istop={info})"
        third = float(np.dot(t, q))
        used = tol
        num_hvps += counter[0]

    return ProductStability(
        alpha=third - q4,
        third_term=third,
        fourth_term=q4,
        lambda_max=lam_max,
        solver=solver,
        cutoff=used,
        cutoff_rule=rule,
        num_hvps=num_hvps,
        iterations=iterations,
        num_kept=kept,
        grad_norm=float(_grad_norm(f, w)),
        eigenvector=np.asarray(v),
        solve_info=info,
        converged=not (solver == "lsqr" and info == 7),
    )
