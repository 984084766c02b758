"""Matrix factorisation beyond the EoS (Chen & Bruna 2023, Section 6 and Appendix A.2/J).

Loss (Eq. 7) ``L(X, Y) = 1/2 ||X Y^T - C||_F^2`` with ``X, Y in R^{n x p}`` and ``C`` symmetric
positive definite with eigenpairs ``(lambda_i, u_i)``, ``lambda_1 > lambda_2 >= ...``. GD is
``X+ = X - eta R Y``, ``Y+ = Y - eta R^T X`` with ``R = X Y^T - C``. ``K = eta lambda_1`` and
``s = lambda_2 / lambda_1``.

What this module provides:

* targets ``C`` with a prescribed spectrum, and the Gaussian ``C = X0 X0^T`` of Figure 6;
* batched GD (:func:`eoslib.gd.iterate_batched`) with tail recording, and the classification
  of a run's tail used for the phase diagram of Figure 1;
* the exact period-2 orbit of Observation 1 (Eq. 8) and its Floquet multipliers, which locate
  the loss of stability at ``eta (lambda_1 + lambda_2) = 2``;
* Observation 2's condition Eq. (9) and the spectrum ``{alpha^2 lambda_i + lambda_j / alpha^2}``
  of the Hessian at an unbalanced minimum;
* Theorem 6: the top Hessian eigenvector ``Delta`` at a minimiser of ``1/2 ||X Y - C||^2`` and the
  closed form ``96 A^2 B^2`` of the stability number along it;
* Proposition 7: the sharpness of MF minimisers (the toy stable sets are in
  :mod:`eoslib.papers.two_step.stable_sets`).

References:
  L. Chen and J. Bruna, "Beyond the Edge of Stability via Two-step Gradient Updates",
  ICML 2023, arXiv:2206.04172: Section 6 (Eq. 7-12, Observations 1-2, Propositions 5-7,
  Definitions 3-4), Appendix A.2.1 (Theorem 6, Eq. 17, Eq. 153), Figures 1, 2, 6.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from eoslib import gd
from eoslib.losses import derivatives, product_stability
from eoslib.papers.two_step.quartic import orbit_deltas
from eoslib.validation import default_float as _fdtype, integer as _int, real as _real, reals as _reals

__all__ = [
    "mf_loss",
    "mf_step",
    "spectrum_target",
    "gaussian_target",
    "top_singular_values",
    "orbit_singular_values",
    "exact_orbit",
    "orbit_multipliers",
    "cross_mode_multipliers",
    "loss_of_stability_k",
    "MFRun",
    "mf_gd",
    "PERIOD2",
    "BOUNDED",
    "DIVERGED",
    "classify_tail",
    "unbalanced_minimum_spectrum",
    "eq9_value",
    "eq9_max_k",
    "quasi_symmetric_init",
    "quasi_symmetric_orbit",
    "orbit_distance",
    "Theorem6",
    "theorem6_direction",
    "product_loss",
    "stability_number_along",
    "minimiser_sharpness",
]


# --------------------------------------------------------------------------- loss and targets


def mf_loss(X: Array, Y: Array, C: Array) -> Array:
    """``1/2 ||X Y^T - C||_F^2`` (Eq. 7).

    Args:
      X: ``(n, p)``.
      Y: ``(n, p)``.
      C: ``(n, n)`` target.

    Returns:
      Scalar loss.

    References:
      Chen & Bruna (2023), Eq. 7.
    """
    R = X @ Y.T - C
    return 0.5 * jnp.sum(R * R)


def mf_step(X: Array, Y: Array, C: Array, eta) -> tuple[Array, Array]:
    """One GD step on :func:`mf_loss`: ``(X - eta R Y, Y - eta R^T X)``, ``R = X Y^T - C``.

    Works on batches: all arrays may carry the same leading axes.

    Args:
      X, Y: ``(..., n, p)``.
      C: ``(..., n, n)``.
      eta: learning rate(s), broadcast against the leading axes.

    Returns:
      The next ``(X, Y)``.
    """
    R = X @ jnp.swapaxes(Y, -1, -2) - C
    e = jnp.asarray(eta, X.dtype)[..., None, None]
    return X - e * (R @ Y), Y - e * (jnp.swapaxes(R, -1, -2) @ X)


def spectrum_target(eigenvalues, key: Array) -> tuple[Array, Array]:
    """``C = Q diag(eigenvalues) Q^T`` with a random orthogonal ``Q`` (QR of a Gaussian, sign-fixed).

    Args:
      eigenvalues: ``(n,)`` positive, strictly decreasing in the first two entries.
      key: ``jax.random`` key for ``Q``.

    Returns:
      ``(C, Q)``; column ``i`` of ``Q`` is ``u_i``.

    Raises:
      ValueError: if an eigenvalue is not positive or ``lambda_1 <= lambda_2``.
    """
    lam = _reals("eigenvalues", eigenvalues, 0.0)
    if lam.ndim != 1 or lam.size < 2 or not lam[0] > lam[1]:
        raise ValueError(f"eigenvalues must be a 1-D array (n >= 2) with lambda_1 > lambda_2, got {lam}")
    n = lam.size
    g = jax.random.normal(key, (n, n), _fdtype())
    q, r = jnp.linalg.qr(g)
    q = q * jnp.sign(jnp.diag(r))[None, :]
    lam_j = jnp.asarray(lam, q.dtype)
    C = (q * lam_j[None, :]) @ q.T
    return 0.5 * (C + C.T), q


def gaussian_target(n: int, key: Array) -> tuple[Array, Array]:
    """``C = X0 X0^T`` with ``X0`` an ``n x n`` standard Gaussian matrix (Figure 6, Observation 1).

    Args:
      n: size, an integer >= 2.
      key: ``jax.random`` key.

    Returns:
      ``(C, X0)``.
    """
    n = _int("n", n, 2)
    X0 = jax.random.normal(key, (n, n), _fdtype())
    return X0 @ X0.T, X0


def top_singular_values(X: Array) -> Array:
    """Largest singular value of each matrix in a batch ``(..., n, p)``."""
    return jnp.linalg.svd(X, compute_uv=False)[..., 0]


def orbit_singular_values(eta, lam1) -> tuple[np.ndarray, np.ndarray]:
    """Eq. (8): the top singular values ``s_{1,2} = sqrt(lambda_1) delta_{1,2}(eta lambda_1)`` on the orbit.

    They are the positive roots of ``s^2 - sqrt(lambda_1 + 3/eta) s + 1/eta = 0``.

    Args:
      eta: learning rate(s) with ``eta lambda_1 >= 1``.
      lam1: ``lambda_1 > 0``.

    Returns:
      ``(s_1, s_2)`` with ``s_1 <= sqrt(lambda_1) <= s_2``.

    References:
      Chen & Bruna (2023), Observation 1, Eq. 8.
    """
    lam1 = _real("lam1", lam1, 0.0)
    e = _reals("eta", eta, 0.0)
    return orbit_deltas(e, lam1)


def exact_orbit(C: Array, eta) -> tuple[tuple[Array, Array], tuple[Array, Array]]:
    """The balanced period-2 orbit of Observation 1 for a square factorisation (``p = n``).

    ``X_i = Y_i = U diag(s_i, sqrt(lambda_2), ..., sqrt(lambda_n))`` with ``C = U diag(lambda) U^T``
    and ``s_i`` from Eq. (8) (``v = e_1`` in the paper's notation; every other unit ``v`` gives
    an orthogonally equivalent orbit).

    Args:
      C: ``(n, n)`` symmetric positive definite with a simple top eigenvalue.
      eta: learning rate with ``eta lambda_1 >= 1``.

    Returns:
      ``((X_1, Y_1), (X_2, Y_2))``, one GD step apart.

    References:
      Chen & Bruna (2023), Observation 1.
    """
    lam, U = jnp.linalg.eigh(C)
    lam, U = lam[::-1], U[:, ::-1]
    if not float(lam[-1]) > 0:
        raise ValueError(f"C must be positive definite; smallest eigenvalue {float(lam[-1])} is not in (0, inf)")
    s1, s2 = orbit_singular_values(_real("eta", eta, 0.0), float(lam[0]))
    out = []
    for s in (float(s1), float(s2)):
        d = jnp.sqrt(lam).at[0].set(s)
        X = U * d[None, :]
        out.append((X, X))
    return out[0], out[1]


def orbit_multipliers(C: Array, eta) -> Array:
    """Floquet multipliers of the exact period-2 orbit: eigenvalues of ``D(F^2)`` (full Jacobian).

    The factorisation has a continuous symmetry ``(X, Y) -> (X A, Y A^{-T})``, so the orbit comes
    in a family and ``D(F^2)`` has multipliers equal to 1 along it; they are returned too.

    Args:
      C: ``(n, n)`` target.
      eta: learning rate.

    Returns:
      Complex ``(2 n^2,)`` multipliers sorted by decreasing modulus.

    References:
      Chen & Bruna (2023), Observation 1 (learning-rate range of the orbit).
    """
    (X1, Y1), _ = exact_orbit(C, eta)
    J = np.asarray(_two_step_jacobian(X1, Y1, jnp.asarray(C, X1.dtype), jnp.asarray(eta, X1.dtype)))
    m = np.linalg.eigvals(J)
    return m[np.argsort(-np.abs(m))]


@jax.jit
def _two_step_jacobian(X1, Y1, C, eta):
    n, p = X1.shape

    def f2(z):
        X, Y = z[: n * p].reshape(n, p), z[n * p:].reshape(n, p)
        for _ in range(2):
            X, Y = mf_step(X, Y, C, eta)
        return jnp.concatenate([X.ravel(), Y.ravel()])

    return jax.jacfwd(f2)(jnp.concatenate([X1.ravel(), Y1.ravel()]))


def cross_mode_multipliers(C: Array, eta, *, neutral_tol: float = 1e-7) -> Array:
    """Multipliers of the orbit with the neutral (symmetry) ones removed.

    Drops multipliers within ``neutral_tol`` of ``+1``; what is left decides stability: the orbit
    attracts (modulo the symmetry) iff all have modulus < 1.

    Args:
      C: ``(n, n)`` target.
      eta: learning rate.
      neutral_tol: distance to ``+1`` below which a multiplier counts as neutral, in (0, 1).

    Returns:
      Complex array, sorted by decreasing modulus.
    """
    tol = _real("neutral_tol", neutral_tol, 0.0, 1.0)
    m = np.asarray(orbit_multipliers(C, eta))
    return m[np.abs(m - 1.0) > tol]


def loss_of_stability_k(C: Array, *, k_lo: float = 1.0 + 1e-6, k_hi: float | None = None,
                        tol: float = 1e-12) -> float:
    """The ``K = eta lambda_1`` at which the orbit's largest non-neutral multiplier reaches modulus 1.

    Bisection on ``max |m| - 1`` between ``k_lo`` (stable) and ``k_hi`` (unstable); ``k_hi``
    defaults to ``sqrt(5) - 1``, where the 1-D period doubling destabilises the orbit anyway.

    Args:
      C: ``(n, n)`` target.
      k_lo: a stable ``K``, real number in (1, k_hi).
      k_hi: an unstable ``K``; default ``sqrt(5) - 1``.
      tol: bisection tolerance on ``K``, in (0, 1).

    Returns:
      The threshold ``K``; for ``s = lambda_2/lambda_1 > sqrt(5) - 2`` it is ``2 / (1 + s)``.

    Raises:
      ValueError: if the multiplier does not change side across ``[k_lo, k_hi]``.

    References:
      Chen & Bruna (2023), Observation 1 (``eta < 2/(lambda_1 + lambda_2)``).
    """
    lam1 = float(jnp.linalg.eigvalsh(C)[-1])
    hi = math.sqrt(5.0) - 1.0 if k_hi is None else _real("k_hi", k_hi, 1.0)
    lo = _real("k_lo", k_lo, 1.0, hi)
    tol = _real("tol", tol, 0.0, 1.0)

    def g(k):
        return float(np.max(np.abs(cross_mode_multipliers(C, k / lam1)))) - 1.0

    glo, ghi = g(lo), g(hi)
    if not (glo < 0 < ghi):
        raise ValueError(f"k_lo/k_hi must bracket the loss of stability: max|m| - 1 = {glo:.3g} at "
                         f"k_lo={lo}, {ghi:.3g} at k_hi={hi}")
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if g(mid) < 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


# --------------------------------------------------------------------------- batched GD


class MFRun(NamedTuple):
    """Batched MF runs (leading batch axes ``B...`` as broadcast from the inputs).

    Attributes:
      X, Y: recorded iterates ``(B..., R, n, p)`` at steps ``times``.
      loss: ``(B..., R)``.
      times: ``(R,)`` step index of each record.
      diverged_at: ``(B...)`` first step whose iterate was non-finite or had a norm above
        ``max_norm`` (the state is frozen at the last valid iterate), ``-1`` if never.
    """

    X: np.ndarray
    Y: np.ndarray
    loss: np.ndarray
    times: np.ndarray
    diverged_at: np.ndarray

    def report(self) -> str:
        """``"ran N steps"`` / ``"diverged at step k"`` (counts for a batch)."""
        d = np.asarray(self.diverged_at)
        n = int(self.times[-1])
        if d.ndim == 0:
            return f"diverged at step {int(d)}" if d >= 0 else f"ran {n} steps without diverging"
        bad = d >= 0
        return f"{int(bad.sum())} of {d.size} runs diverged" + (
            f" (earliest at step {int(d[bad].min())})" if bad.any() else "")


def _mf_map(state: tuple[Array, Array], C: Array, eta: Array) -> tuple[Array, Array]:
    """:func:`mf_step` as a step of :func:`eoslib.gd.iterate` (state ``(X, Y)``)."""
    return mf_step(state[0], state[1], C, eta)


def mf_gd(X0, Y0, C, eta, num_steps: int, *, record_from: int | None = None, record_every: int = 1,
          max_norm: float = 1e4) -> MFRun:
    """Batched GD on :func:`mf_loss`, recording the tail of every run.

    Args:
      X0, Y0: initial factors ``(B..., n, p)``.
      C: targets ``(B..., n, n)`` (or ``(n, n)``, broadcast).
      eta: learning rate(s), broadcast against the batch axes ``B...``; each in (0, inf).
      num_steps: total number of steps, an integer >= 1.
      record_from: first recorded step is ``record_from + record_every``; default: record every
        step from step ``record_every`` on (``record_from = 0``), i.e. not the initial point.
        An integer in ``[0, num_steps - record_every]``.
      record_every: stride between records, an integer >= 1; ``num_steps - record_from`` must be
        a multiple of it (so that the last record is step ``num_steps``).
      max_norm: divergence bound on the Frobenius norm of ``(X, Y)`` together, in (0, inf]
        (the :mod:`eoslib.gd` convention: the state freezes at the last valid iterate).

    Returns:
      :class:`MFRun`.

    References:
      Chen & Bruna (2023), Eq. 7 (GD on MF), Figures 1, 2, 6.
    """
    num_steps = _int("num_steps", num_steps, 1)
    record_every = _int("record_every", record_every, 1, num_steps)
    record_from = 0 if record_from is None else _int("record_from", record_from, 0, num_steps - record_every)
    if (num_steps - record_from) % record_every:
        raise ValueError(f"num_steps - record_from must be a multiple of record_every={record_every}, "
                         f"got {num_steps - record_from}")
    max_norm = _real("max_norm", max_norm, 0.0, hi_open=False)
    dt = _fdtype()
    X0 = jnp.asarray(X0, dt)
    Y0 = jnp.asarray(Y0, dt)
    C = jnp.asarray(C, dt)
    if X0.ndim < 2 or X0.shape != Y0.shape or C.shape[-1] != X0.shape[-2] or C.shape[-2] != X0.shape[-2]:
        raise ValueError(f"X0, Y0 must be (..., n, p) of equal shape and C (..., n, n); got {X0.shape}, "
                         f"{Y0.shape}, {C.shape}")
    e = _reals("eta", eta, 0.0)
    batch = np.broadcast_shapes(X0.shape[:-2], C.shape[:-2], e.shape)
    X0 = jnp.broadcast_to(X0, batch + X0.shape[-2:])
    Y0 = jnp.broadcast_to(Y0, batch + Y0.shape[-2:])
    C = jnp.broadcast_to(C, batch + C.shape[-2:])
    flat = (-1,) + X0.shape[-2:]
    state = (X0.reshape(flat), Y0.reshape(flat))
    args = (C.reshape((-1,) + C.shape[-2:]), jnp.broadcast_to(jnp.asarray(e, dt), batch).reshape(-1))
    div = np.full(args[1].shape, -1)
    if record_from:
        head = gd.iterate_batched(_mf_map, state, record_from, args=args, batch_args=True, max_norm=max_norm)
        state, div = head.final, np.asarray(head.diverged_at)
    rec = gd.iterate_batched(_mf_map, state, num_steps - record_from, args=args, batch_args=True,
                             record_every=record_every, max_norm=max_norm)
    later = np.asarray(rec.diverged_at)
    Xs, Ys = (np.asarray(a)[:, 1:] for a in rec.params)
    if record_from and np.any(div >= 0):  # diverged before the records: frozen there
        frozen = (div >= 0)[:, None, None, None]
        Xs = np.where(frozen, np.asarray(state[0])[:, None], Xs)
        Ys = np.where(frozen, np.asarray(state[1])[:, None], Ys)
    div = np.where(div >= 0, div, np.where(later >= 0, later + record_from, -1)).reshape(batch)
    Xs = Xs.reshape(batch + Xs.shape[1:])
    Ys = Ys.reshape(batch + Ys.shape[1:])
    R = Xs @ np.swapaxes(Ys, -1, -2) - np.asarray(C)[..., None, :, :]
    loss = 0.5 * np.sum(R * R, axis=(-1, -2))
    times = record_from + record_every * (1 + np.arange(Xs.shape[len(batch)]))
    return MFRun(Xs, Ys, loss, times, div)


PERIOD2, BOUNDED, DIVERGED = 0, 1, 2


def classify_tail(run: MFRun, *, tol: float = 1e-6) -> np.ndarray:
    """Classify runs by their last three records: period 2, bounded other, or diverged.

    A run is period-2 when ``max |z_T - z_{T-2}| <= tol * max|z_T|`` and
    ``max |z_T - z_{T-1}| > 1e3 tol * max|z_T|`` (it is not at a fixed point), with ``z = (X, Y)``
    and records one step apart.

    Args:
      run: from :func:`mf_gd` with ``record_every = 1`` and at least three records.
      tol: relative tolerance of the two-step return, in (0, 1e-3).

    Returns:
      Integer array over the batch: :data:`PERIOD2`, :data:`BOUNDED` or :data:`DIVERGED`.
    """
    tol = _real("tol", tol, 0.0, 1e-3)
    if run.times.size < 3 or np.any(np.diff(run.times[-3:]) != 1):
        raise ValueError("run must have at least 3 records one step apart (record_every=1)")
    b = run.X.ndim - 3
    Z = np.concatenate([run.X, run.Y], axis=-1)
    zT, z1, z2 = Z[..., -1, :, :], Z[..., -2, :, :], Z[..., -3, :, :]
    scale = np.max(np.abs(zT), axis=(-1, -2))
    two = np.max(np.abs(zT - z2), axis=(-1, -2))
    one = np.max(np.abs(zT - z1), axis=(-1, -2))
    cls = np.full(Z.shape[:b], BOUNDED, dtype=int)
    cls[(two <= tol * scale) & (one > 1e3 * tol * scale)] = PERIOD2
    cls[np.asarray(run.diverged_at) >= 0] = DIVERGED
    return cls


# --------------------------------------------------------------------------- Observation 2


def unbalanced_minimum_spectrum(lams, alpha) -> np.ndarray:
    """Nonzero Hessian eigenvalues at ``(alpha X0, X0/alpha)``: ``{alpha^2 lambda_i + lambda_j/alpha^2}``.

    Args:
      lams: eigenvalues of ``C = X0 X0^T``, positive.
      alpha: imbalance, in (0, inf).

    Returns:
      All ``n^2`` values ``alpha^2 lambda_i + lambda_j / alpha^2`` sorted in decreasing order.

    References:
      Chen & Bruna (2023), Definition 3 (the spectrum is derived here).
    """
    lam = _reals("lams", lams, 0.0)
    a2 = _real("alpha", alpha, 0.0) ** 2
    return np.sort((a2 * lam[:, None] + lam[None, :] / a2).ravel())[::-1]


def eq9_value(eta, alpha, lam1, lam2) -> np.ndarray:
    """Left side of Eq. (9): ``eta max(lambda_1/alpha^2 + alpha^2 lambda_2, alpha^2 lambda_1 + lambda_2/alpha^2)``.

    Args:
      eta: learning rate(s) in (0, inf).
      alpha: imbalance in (0, inf).
      lam1, lam2: top two eigenvalues of ``C``, ``lam1 >= lam2 > 0``.

    Returns:
      The value; Observation 2 assumes it is ``<= 2``.

    References:
      Chen & Bruna (2023), Observation 2, Eq. 9.
    """
    e = _reals("eta", eta, 0.0)
    a2 = _real("alpha", alpha, 0.0) ** 2
    l1 = _real("lam1", lam1, 0.0)
    l2 = _real("lam2", lam2, 0.0, l1, hi_open=False)
    return e * max(l1 / a2 + a2 * l2, a2 * l1 + l2 / a2)


def eq9_max_k(s, alpha) -> np.ndarray:
    """Largest ``K = eta lambda_1`` allowed by Eq. (9): ``2 / max(1/alpha^2 + alpha^2 s, alpha^2 + s/alpha^2)``.

    Args:
      s: ``lambda_2 / lambda_1`` in (0, 1].
      alpha: imbalance in (0, inf).

    Returns:
      The bound, shaped like ``s``.
    """
    s = _reals("s", s, 0.0, 1.0, hi_open=False)
    a2 = _real("alpha", alpha, 0.0) ** 2
    return 2.0 / np.maximum(1.0 / a2 + a2 * s, a2 + s / a2)


def quasi_symmetric_init(X0: Array, alpha, noise: float, key: Array) -> tuple[Array, Array]:
    """``(alpha X0 + dY, X0/alpha + dZ)`` with i.i.d. ``N(0, noise^2)`` perturbations (Definition 3).

    Args:
      X0: ``(..., n, p)`` base factor.
      alpha: imbalance in (0, inf).
      noise: perturbation scale in [0, inf).
      key: ``jax.random`` key.

    Returns:
      ``(Y0, Z0)``.

    References:
      Chen & Bruna (2023), Definition 3, Observation 2.
    """
    a = _real("alpha", alpha, 0.0)
    sd = _real("noise", noise, 0.0, lo_open=False)
    X0 = jnp.asarray(X0, _fdtype())
    k1, k2 = jax.random.split(key)
    return (a * X0 + sd * jax.random.normal(k1, X0.shape, X0.dtype),
            X0 / a + sd * jax.random.normal(k2, X0.shape, X0.dtype))


def quasi_symmetric_orbit(X0: Array, alpha, eta) -> list[tuple[np.ndarray, np.ndarray]]:
    """Observation 2's limit orbit ``gamma_eta`` of quasi-symmetric MF from ``(alpha X0, X0/alpha)``.

    ``gamma_eta = {(alpha X0 + (rho_i - alpha) sigma_1 u_1 v_1^T, X0/alpha + (rho_i - 1/alpha) sigma_1 u_1 v_1^T)}``
    with ``rho_i = delta_i(eta lambda_1)``: only the top component moves, to the balanced value
    ``rho_i sigma_1`` in both factors; every other component keeps its imbalance ``alpha``.

    Args:
      X0: ``(n, p)`` base factor with a simple top singular value.
      alpha: imbalance in (0, inf).
      eta: learning rate with ``eta lambda_1`` in [1, inf).

    Returns:
      ``[(Y_1, Z_1), (Y_2, Z_2)]``, one GD step apart.

    References:
      Chen & Bruna (2023), Observation 2.
    """
    a = _real("alpha", alpha, 0.0)
    X0 = np.asarray(X0, dtype=float)
    U, sig, Vt = np.linalg.svd(X0)
    top = sig[0] * np.outer(U[:, 0], Vt[0])
    d1, d2 = orbit_deltas(_real("eta", eta, 0.0), sig[0] ** 2)
    return [(a * X0 + (r / sig[0] - a) * top, X0 / a + (r / sig[0] - 1 / a) * top) for r in (d1, d2)]


def orbit_distance(Y, Z, orbit) -> np.ndarray:
    """Entrywise distance ``min_i max(|Y - Y_i|_max, |Z - Z_i|_max)`` of iterates to a 2-point orbit.

    Args:
      Y, Z: ``(..., n, p)`` iterates (batched over leading axes).
      orbit: ``[(Y_1, Z_1), (Y_2, Z_2)]``, e.g. from :func:`quasi_symmetric_orbit`.

    Returns:
      Array over the leading axes.
    """
    Y, Z = np.asarray(Y, dtype=float), np.asarray(Z, dtype=float)
    per = [np.maximum(np.abs(Y - a).max(axis=(-1, -2)), np.abs(Z - b).max(axis=(-1, -2))) for a, b in orbit]
    return np.minimum(*per)


# --------------------------------------------------------------------------- Theorem 6


class Theorem6(NamedTuple):
    """Theorem 6 quantities at a minimiser ``X Y = C`` of ``1/2 ||X Y - C||^2``.

    Attributes:
      dX, dY: the unit direction ``Delta = (sigma_y1 u_x1 u_y1^T, sigma_x1 v_x1 v_y1^T) / A``.
      A2: ``A^2 = sigma_x1^2 + sigma_y1^2`` (the predicted top Hessian eigenvalue).
      B: ``sigma_x1 sigma_y1 <u_y1, v_x1> / A^2``.
      C_pred: ``96 A^2 B^2`` (Eq. 17).
    """

    dX: Array
    dY: Array
    A2: float
    B: float
    C_pred: float


def theorem6_direction(X: Array, Y: Array) -> Theorem6:
    """Top Hessian eigenvector and the predicted stability number at a minimiser (Theorem 6).

    Paper form: ``X in R^{m x p}``, ``Y in R^{p x q}``, loss ``1/2 ||X Y - C||^2`` (our ``mf_loss``
    with ``Y`` transposed). SVDs ``X = sum sigma_x u_x v_x^T``, ``Y = sum sigma_y u_y v_y^T``.

    Args:
      X: ``(m, p)``.
      Y: ``(p, q)``.

    Returns:
      :class:`Theorem6`.

    Raises:
      ValueError: on incompatible shapes.

    References:
      Chen & Bruna (2023), Theorem 6, Eq. 17 and Eq. 153.
    """
    X = jnp.asarray(X, _fdtype())
    Y = jnp.asarray(Y, _fdtype())
    if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[0]:
        raise ValueError(f"X must be (m, p) and Y (p, q); got {X.shape} and {Y.shape}")
    ux, sx, vxt = jnp.linalg.svd(X, full_matrices=False)
    uy, sy, vyt = jnp.linalg.svd(Y, full_matrices=False)
    ux1, vx1, sx1 = ux[:, 0], vxt[0], sx[0]
    uy1, vy1, sy1 = uy[:, 0], vyt[0], sy[0]
    A2 = sx1 ** 2 + sy1 ** 2
    A = jnp.sqrt(A2)
    dX = sy1 * jnp.outer(ux1, uy1) / A
    dY = sx1 * jnp.outer(vx1, vy1) / A
    B = sx1 * sy1 * jnp.dot(uy1, vx1) / A2
    # Orient B >= 0: the sign of Delta is arbitrary and C depends on B^2 only.
    sgn = jnp.where(B < 0, -1.0, 1.0)
    return Theorem6(dX * sgn, dY * sgn, float(A2), float(jnp.abs(B)), float(96.0 * A2 * B * B))


def product_loss(X: Array, Y: Array, C: Array) -> Array:
    """``1/2 ||X Y - C||_F^2`` (the paper's form of the MF loss in Theorem 6)."""
    R = X @ Y - C
    return 0.5 * jnp.sum(R * R)


@dataclass(frozen=True, eq=False)
class _Slice:
    """``t -> product_loss(X + t dX, Y + t dY, C)`` (hashed by identity, as a static jit argument)."""

    X: Array
    Y: Array
    C: Array
    dX: Array
    dY: Array

    def __call__(self, t):
        return product_loss(self.X + t * self.dX, self.Y + t * self.dY, self.C)


def stability_number_along(X: Array, Y: Array, C: Array, dX: Array, dY: Array) -> tuple[float, np.ndarray]:
    """The stability number of ``f(t) = product_loss(X + t dX, Y + t dY, C)`` at ``t = 0``.

    ``3 f'''^2 - f'' f''''`` of the 1-D slice is :func:`eoslib.losses.product_stability`.

    Args:
      X, Y, C: the point and target of :func:`product_loss`.
      dX, dY: the direction.

    Returns:
      ``(stability_number, [f'', f''', f''''])``.

    References:
      Chen & Bruna (2023), Theorem 1 condition evaluated along the top eigenvector (Theorem 6).
    """
    dt = _fdtype()
    phi = _Slice(*(jnp.asarray(a, dt) for a in (X, Y, C, dX, dY)))
    t0 = jnp.zeros((), dt)
    vals = np.asarray(derivatives(phi, t0, 4), dtype=float)[2:]
    return float(product_stability(phi, t0)), vals


# --------------------------------------------------------------------------- Proposition 7


def minimiser_sharpness(X: Array, C: Array) -> tuple[float, float]:
    """Sharpness of the MF minimiser ``(X, Y = C X^{-T})`` by a dense Hessian, and ``sigma_1(X)^2 + sigma_1(Y)^2``.

    Args:
      X: ``(n, n)`` invertible.
      C: ``(n, n)`` target.

    Returns:
      ``(lambda_max(Hessian), sigma_1(X)^2 + sigma_1(Y)^2)``.

    References:
      Chen & Bruna (2023), Proposition 7 and Theorem 6.
    """
    X = jnp.asarray(X, _fdtype())
    C = jnp.asarray(C, X.dtype)
    n, p = X.shape
    if n != p:
        raise ValueError(f"X must be square (n, n), got {X.shape}")
    top, pred = _minimiser_sharpness(X, C)
    return float(top), float(pred)


@jax.jit
def _minimiser_sharpness(X, C):
    n = X.shape[0]
    Y = jnp.linalg.solve(X, C).T  # X Y^T = C
    z = jnp.concatenate([X.ravel(), Y.ravel()])
    H = jax.hessian(lambda v: mf_loss(v[: n * n].reshape(n, n), v[n * n:].reshape(n, n), C))(z)
    top = jnp.linalg.eigvalsh(0.5 * (H + H.T))[-1]
    sv = jnp.linalg.svd(X, compute_uv=False)[0] ** 2 + jnp.linalg.svd(Y, compute_uv=False)[0] ** 2
    return top, sv
