"""Section 7 and Figure 5 of Gan (2026): full-batch GD on a network, sharpness, and Definition 7.1.

* :func:`track_network_eos`: GD through the core driver :func:`eoslib.train.train_gd`, with the
  multivariate product-stability evaluated along the run.
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

__all__ = ["NetworkEoSRun", "track_network_eos", "AlphaProfile", "alpha_spectral_profile"]


class NetworkEoSRun(NamedTuple):
    """Full-batch GD on a network with sharpness tracking and product-stability evaluations.

    Attributes:
      eta: learning rate.
      steps, loss: loss records (``steps`` are GD step indices).
      eig_steps, sharpness: top Hessian eigenvalue (Lanczos) at ``eig_steps``.
      alpha_steps: steps at which Definition 7.1 was evaluated.
      alpha: one :class:`eoslib.stability.ProductStability` per ``alpha_steps`` entry.
      weights: ``(len(alpha_steps), D)`` parameters at ``alpha_steps`` (for follow-up
        evaluations, e.g. a cutoff profile).
      diverged_at: first invalid step, -1 if none (the run stops there).
      from_cache: True if every training segment came from the ``eoslib.train`` cache.
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

    Training runs in segments of ``alpha_every`` steps through the core driver
    :func:`eoslib.train.train_gd` (sharpness by warm-started Lanczos every ``eig_every``
    steps; each segment is cached when ``settings`` is given, keyed by the settings, the
    segment index and the segment's starting point). At the end of every segment it calls
    ``evaluate(w)``. (Once ``train_gd`` takes ``callbacks=``, ``evaluate`` becomes one
    callback with ``every = alpha_every`` and the segments go away; the results are the
    same, since segments restart exactly where the previous one stopped.)

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
      settings: JSON-like dict naming the dataset, network, loss and seed; enables the cache.
      cache_dir: cache directory (default: ``eoslib.train.default_cache_dir()``).
      progress: progress bars.

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
    w = jnp.asarray(w0)
    steps, loss, eig_steps, sharp, a_steps, alphas, weights = [], [], [], [], [], [], []
    diverged_at, cached = -1, True
    for seg in range(num_steps // alpha_every):
        t0 = seg * alpha_every
        seg_settings = None if settings is None else {**settings, "segment": seg, "segment_start": t0}
        run = train.train_gd(f, w, eta, alpha_every, log_every=eig_every, eig_every=eig_every, eig_tol=eig_tol,
                             eig_max_iter=eig_max_iter, progress=progress, settings=seg_settings,
                             cache_dir=cache_dir)
        cached = cached and run.from_cache
        keep = slice(None) if seg == 0 else slice(1, None)  # a segment's start repeats the previous end
        steps.append(run.steps[keep] + t0)
        loss.append(run.loss[keep])
        eig_steps.append(run.eig_steps[keep] + t0)
        sharp.append(run.sharpness[keep])
        w = jnp.asarray(run.w)
        if run.diverged:
            diverged_at = t0 + run.diverged_at
            break
        a_steps.append(t0 + alpha_every)
        alphas.append(evaluate(w))
        weights.append(np.asarray(w))
    return NetworkEoSRun(
        eta=eta, steps=np.concatenate(steps), loss=np.concatenate(loss), eig_steps=np.concatenate(eig_steps),
        sharpness=np.concatenate(sharp), alpha_steps=np.asarray(a_steps, dtype=np.int64), alpha=alphas,
        weights=np.stack(weights) if weights else np.zeros((0, int(w.shape[0]))),
        diverged_at=int(diverged_at), from_cache=bool(cached),
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
