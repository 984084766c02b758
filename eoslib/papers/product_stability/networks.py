"""Section 7 and Figure 5 of Gan (2026): full-batch GD on a network, sharpness, and Definition 7.1.

* :func:`track_network_eos`: GD through the core driver :func:`eoslib.train.train_gd`, with the
  multivariate product-stability evaluated along the run by a callback.
* :func:`alpha_spectral_profile`: Definition 7.1 with the pseudoinverse truncated to the top
  k Hessian eigenpairs, for every k at once (the cutoff sensitivity of Figure 5).

The full and the top-k pseudoinverse solvers are :func:`eoslib.stability.multivariate_product_stability`.

References:
  E. Gan, "Product-Stability", arXiv:2604.02653 (2026), Section 7, Def. 7.1 and Figure 5.
  R. Mulayoff, S. Stich, "Exact mean square linear stability analysis for SGD", COLT 2026
  (arXiv 2602.14789), Thm 7.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array

from eoslib import curvature, stability, train
from eoslib.validation import integer as _int, real as _real

__all__ = ["AlphaTerms", "NetworkEoSRun", "track_network_eos", "AlphaProfile", "alpha_spectral_profile"]


class AlphaTerms(NamedTuple):
    """Definition 7.1 at one point, as recorded along a run: the value and its two terms.

    Attributes:
      alpha: ``third_term - fourth_term``.
      third_term: ``3 T_vv^T H^+ T_vv`` with the evaluator's pseudoinverse.
      fourth_term: ``Q_vvvv = D^4 L(w)[v, v, v, v]``.
      lambda_max: top Hessian eigenvalue.
    """

    alpha: float
    third_term: float
    fourth_term: float
    lambda_max: float


class NetworkEoSRun(NamedTuple):
    """Full-batch GD on a network with sharpness tracking and product-stability evaluations.

    Attributes:
      eta: learning rate.
      steps, loss: loss records (``steps`` are GD step indices).
      eig_steps, sharpness: top Hessian eigenvalue (Lanczos) at ``eig_steps``.
      alpha_steps: steps at which Definition 7.1 was evaluated.
      alpha: one evaluation per ``alpha_steps`` entry: an :class:`AlphaProfile` when the
        evaluator returns one, else the :class:`AlphaTerms` of its result.
      weights: ``(len(alpha_steps), D)`` parameters at ``alpha_steps`` (for follow-up
        evaluations, e.g. the full pseudoinverse at one of them).
      diverged_at: first invalid step, -1 if none (the run stops there).
      from_cache: True if the run came from the ``eoslib.train`` cache.
    """

    eta: float
    steps: np.ndarray
    loss: np.ndarray
    eig_steps: np.ndarray
    sharpness: np.ndarray
    alpha_steps: np.ndarray
    alpha: list
    weights: np.ndarray
    diverged_at: int
    from_cache: bool

    def alpha_array(self, field: str = "alpha") -> np.ndarray:
        """One attribute of every evaluation as an array, e.g. ``"third_term"`` or ``"fourth_term"``."""
        return np.array([getattr(a, field) for a in self.alpha], dtype=float)


class _ProductStabilityCallback:
    """A :func:`eoslib.train.train_gd` callback: ``evaluate(w)`` every ``every`` steps (not at step 0)."""

    name = "product_stability"

    def __init__(self, evaluate: Callable[[Array], object], every: int):
        self.evaluate = evaluate
        self.every = every

    def settings(self) -> dict:
        return {}  # what evaluate computes is named in the caller's settings

    def __call__(self, step: int, w: Array) -> dict | None:
        if step == 0:
            return None
        res = self.evaluate(w)
        rec = {f: np.asarray(float(getattr(res, f))) for f in AlphaTerms._fields}
        if isinstance(res, AlphaProfile):
            rec.update(eigenvalues=res.eigenvalues, overlaps=res.overlaps, alpha_by_k=res.alpha_by_k,
                       num_hvps=np.asarray(res.num_hvps), converged=np.asarray(res.converged))
        rec["w"] = np.asarray(w)
        return rec


def _evaluations(rec: dict) -> list:
    n = len(rec.get("step", ()))
    if "alpha_by_k" in rec:
        return [AlphaProfile(rec["eigenvalues"][i], rec["overlaps"][i], rec["alpha_by_k"][i],
                             float(rec["fourth_term"][i]), int(rec["num_hvps"][i]), bool(rec["converged"][i]))
                for i in range(n)]
    return [AlphaTerms(*(float(rec[f][i]) for f in AlphaTerms._fields)) for i in range(n)]


def track_network_eos(
    f: Callable[[Array], Array],
    w0,
    eta: float,
    num_steps: int,
    *,
    eig_every: int = 20,
    alpha_every: int = 200,
    evaluate: Callable[[Array], object] | None = None,
    eig_tol: float = 1e-5,
    eig_max_iter: int = 100,
    settings: dict | None = None,
    cache_dir=None,
    progress: bool = False,
) -> NetworkEoSRun:
    """GD on a flat-parameter loss, with Definition 7.1 evaluated every ``alpha_every`` steps.

    One run of the core driver :func:`eoslib.train.train_gd`: the sharpness by its
    warm-started Lanczos every ``eig_every`` steps, and ``evaluate(w)`` as a callback every
    ``alpha_every`` steps (not at step 0). The evaluations and the parameters at them are
    recorded with the run, so a cached run (``settings`` given) needs no re-evaluation.

    Args:
      f: training loss of the flat parameters (e.g. from :func:`eoslib.nets.flat_loss`).
      w0: initial parameters, shape (D,).
      eta: learning rate, in (0, inf).
      num_steps: GD steps, integer in [1, 10^8], a multiple of ``alpha_every``.
      eig_every: sharpness stride, integer in [1, alpha_every].
      alpha_every: product-stability stride, integer in [1, num_steps].
      evaluate: ``w -> result`` with attributes ``alpha``, ``third_term``, ``fourth_term``
        and ``lambda_max`` (an :class:`eoslib.stability.ProductStability` or an
        :class:`AlphaProfile`); default
        ``multivariate_product_stability(f, w, solver="topk", k=20)``.
      eig_tol, eig_max_iter: Lanczos settings of the sharpness tracking.
      settings: JSON-like dict naming the dataset, network, loss, seed and what ``evaluate``
        computes (solver, cutoff); enables the cache.
      cache_dir: cache directory (default: ``eoslib.train.default_cache_dir()``).
      progress: progress bar.

    Returns:
      :class:`NetworkEoSRun` (``alpha_steps`` = alpha_every, 2 alpha_every, ..., num_steps,
      fewer if the run diverged).

    References:
      Gan (2026), Section 7, Definition 7.1 and Figure 5.
    """
    eta = _real("eta", eta, 0.0)
    num_steps = _int("num_steps", num_steps, 1, 10**8)
    alpha_every = _int("alpha_every", alpha_every, 1, num_steps)
    if num_steps % alpha_every:
        raise ValueError(f"num_steps must be a multiple of alpha_every={alpha_every}, got {num_steps}")
    eig_every = _int("eig_every", eig_every, 1, alpha_every)
    if evaluate is None:
        def evaluate(w):
            return stability.multivariate_product_stability(f, w, solver="topk", k=20)
    cb = _ProductStabilityCallback(evaluate, alpha_every)
    run = train.train_gd(f, jnp.asarray(w0), eta, num_steps, log_every=eig_every, eig_every=eig_every,
                         eig_tol=eig_tol, eig_max_iter=eig_max_iter, progress=progress, settings=settings,
                         cache_dir=cache_dir, callbacks=[cb])
    rec = run.records.get(cb.name, {})
    dim = int(np.shape(w0)[0])
    steps = np.asarray(rec.get("step", np.zeros(0)), np.int64)
    return NetworkEoSRun(
        eta=eta, steps=run.steps, loss=run.loss, eig_steps=run.eig_steps, sharpness=run.sharpness,
        alpha_steps=steps, alpha=_evaluations(rec),
        weights=np.asarray(rec["w"]) if steps.size else np.zeros((0, dim)),
        diverged_at=int(run.diverged_at), from_cache=bool(run.from_cache),
    )


class AlphaProfile(NamedTuple):
    """Definition 7.1 with the pseudoinverse truncated to the top k Hessian eigenpairs, for every k.

    Attributes:
      eigenvalues: top K Hessian eigenvalues (descending).
      overlaps: T_vv . v_i for the eigenvectors v_i.
      alpha_by_k: alpha(k) = 3 sum_{i <= k} (T_vv . v_i)^2 / lambda_i - Q_vvvv, k = 1..K.
      fourth_term: Q_vvvv.
      num_hvps: Hessian-vector products of the Lanczos call.
      converged: whether Lanczos met its tolerance.
    """

    eigenvalues: np.ndarray
    overlaps: np.ndarray
    alpha_by_k: np.ndarray
    fourth_term: float
    num_hvps: int
    converged: bool

    @property
    def alpha(self) -> float:
        """alpha(K): the pseudoinverse truncated to all K pairs (= ``solver="topk"`` of eoslib.stability)."""
        return float(self.alpha_by_k[-1])

    @property
    def third_term(self) -> float:
        """3 T_vv^T H_K^+ T_vv with the K-pair truncated pseudoinverse."""
        return float(self.alpha_by_k[-1] + self.fourth_term)

    @property
    def lambda_max(self) -> float:
        """Top Hessian eigenvalue."""
        return float(self.eigenvalues[0])


def alpha_spectral_profile(
    f: Callable[[Array], Array], w, k: int, *, tol: float = 1e-6, max_iter: int = 300
) -> AlphaProfile:
    """The cutoff dependence of the multivariate product-stability, from one Lanczos call.

    With the top k eigenpairs (lambda_i, v_i) of the Hessian at w, the spectral
    pseudoinverse truncated after i pairs gives alpha(i) = 3 sum_{j <= i} (T_vv . v_j)^2 /
    lambda_j - Q_vvvv. Every term with lambda_j > 0 is positive, so alpha(i) grows as
    smaller eigenvalues are kept: the value depends on the cutoff, and this profile shows
    by how much.

    Args:
      f: scalar loss of flat parameters.
      w: point, shape (D,).
      k: number of eigenpairs, integer in [1, D].
      tol: Lanczos relative residual tolerance, in (0, inf).
      max_iter: Lanczos HVP cap, integer in [k, inf).

    Returns:
      :class:`AlphaProfile`.

    References:
      Gan (2026), Def. 7.1 and Appendix D (pseudoinverse); Mulayoff & Stich (2026), Thm 7.
    """
    w = jnp.asarray(w)
    k = _int("k", k, 1, int(w.shape[0]))
    tol = _real("tol", tol, 0.0)
    max_iter = _int("max_iter", max_iter, k)
    res = curvature.top_eigenpairs(f, w, k, tol=tol, max_iter=max_iter)
    lam = np.asarray(res.eigenvalues, dtype=float)
    if not lam[0] > 0:
        raise ValueError(f"the top Hessian eigenvalue at w is {lam[0]:.6g}; product-stability needs it in (0, inf)")
    vecs = res.eigenvectors
    v = vecs[:, 0]
    # Eager on purpose: two evaluations per call, not worth a jit cache keyed on f.
    t = curvature.third_derivative_vv(f, w, v)
    q = float(curvature.directional_derivative(f, w, v, 4))
    overlaps = np.asarray(vecs.T @ t, dtype=float)
    alpha_by_k = 3 * np.cumsum(overlaps**2 / lam) - q
    return AlphaProfile(lam, overlaps, alpha_by_k, q, int(res.num_iterations), bool(res.converged))
