"""The limiting sharpness of Theorem 5.2 and the phases of Appendix B.

* Theorem 5.2: the gap coefficient G = 3 l2^4 / alpha, S_inf = 2/eta - G eta + o(eta) and
  lambda_inf = 2/l2 - 3 eta^2 l2^3 / alpha (printed form lost; rebuilt, see the book's
  Reconstructions page).
* Lemmas B.3-B.8: the Phase II lag, the Phase III rate, and the phase statistics of a
  recorded trajectory.
* :func:`richardson_remainder`: the size of an O(h^p) remainder estimated from two step sizes,
  the tolerance of every check of a first-order formula against runs at one eta.

References:
  E. Gan, "Product-Stability", arXiv:2604.02653 (2026), Theorem 5.2 and Appendix B.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from eoslib.losses import ScalarLoss
from eoslib.validation import integer as _int, real as _real

from ._common import require_product_stable, step_sizes as _etas
from .closed_forms import minimum_derivatives
from .cycles import inverse_bifurcation
from .dynamics import PhaseSpaceRun

__all__ = [
    "limit_gap_coefficient",
    "predicted_limit_sharpness",
    "predicted_limit_lambda",
    "phase2_lag",
    "predicted_phase3_rate",
    "fit_log_rate",
    "richardson_remainder",
    "PhaseSummary",
    "phase_summary",
    "lag_profile",
]


def limit_gap_coefficient(l: ScalarLoss) -> float:
    """G = 3 l2^4 / alpha: the predicted gap 2/eta - S_inf is G eta + o(eta).

    Args:
      l: product-stable scalar loss.

    Returns:
      G.

    References:
      Gan (2026), Theorem 5.2 (printed form lost; rebuilt from the slow-fast reduction and
      validated by its O(eta^2) convergence rate, see the book's Reconstructions page).
    """
    m = minimum_derivatives(l)
    require_product_stable(m.alpha, "limit_gap_coefficient")
    return 3 * m.l2**4 / m.alpha


def predicted_limit_sharpness(l: ScalarLoss, eta) -> float | np.ndarray:
    """S_inf = 2/eta - 3 eta l2^4 / alpha + o(eta): the sharpness GD on l(xy) converges to.

    Args:
      l: product-stable scalar loss (alpha > 0).
      eta: learning rate(s), in (0, inf).

    Returns:
      The leading-order prediction (float or array like ``eta``).

    References:
      Gan (2026), Theorem 5.2.
    """
    e = _etas("eta", eta, 0.0)
    out = 2 / e - limit_gap_coefficient(l) * e
    return float(out) if out.ndim == 0 else out


def predicted_limit_lambda(l: ScalarLoss, eta) -> float | np.ndarray:
    """lambda_inf = eta s_inf = 2 / l2 - 3 eta^2 l2^3 / alpha (Theorem 5.2 in phase-space units).

    Args:
      l: product-stable scalar loss.
      eta: learning rate(s), in (0, inf).

    Returns:
      The predicted limit of eta (x^2 + y^2).

    References:
      Gan (2026), Theorem 5.2.
    """
    m = minimum_derivatives(l)
    require_product_stable(m.alpha, "predicted_limit_lambda")
    e = _etas("eta", eta, 0.0)
    out = 2 / m.l2 - 3 * e**2 * m.l2**3 / m.alpha
    return float(out) if out.ndim == 0 else out


def phase2_lag(l: ScalarLoss, eta) -> float | np.ndarray:
    """Predicted lag lambda_t - lambda(z_t) = -3 eta^2 l2^3 / alpha of GD behind the diagram.

    Args:
      l: product-stable scalar loss.
      eta: learning rate(s), in (0, inf).

    Returns:
      The (negative) lag; it equals lambda_inf - 2 / l2.

    References:
      Gan (2026), Lemmas B.4-B.7 (slow-fast reduction; exact statements not recovered).
    """
    m = minimum_derivatives(l)
    require_product_stable(m.alpha, "phase2_lag")
    e = _etas("eta", eta, 0.0)
    out = -3 * e**2 * m.l2**3 / m.alpha
    return float(out) if out.ndim == 0 else out


def predicted_phase3_rate(l: ScalarLoss, eta) -> float | np.ndarray:
    """log(1 + mu_inf) with mu_inf = -3 eta^2 l2^4 / alpha: the per-step log-rate of Phase III.

    Near the limit, one step maps u = z - z* to -(1 + mu) u with mu = lambda l2 - 2, so
    |u_t| ~ (1 + mu_inf)^t once lambda has settled at lambda_inf.

    Args:
      l: product-stable scalar loss.
      eta: learning rate(s), in (0, inf) with 3 eta^2 l2^4 / alpha < 1.

    Returns:
      The (negative) rate per step, float or array like ``eta``.

    References:
      Gan (2026), Lemma B.8 (linear convergence in Phase III).
    """
    m = minimum_derivatives(l)
    require_product_stable(m.alpha, "predicted_phase3_rate")
    e = _etas("eta", eta, 0.0)
    mu_inf = -3 * e**2 * m.l2**4 / m.alpha
    if np.any(mu_inf <= -1):
        raise ValueError(f"eta must keep 3 eta^2 l2^4 / alpha in (0, 1), got eta={eta!r}")
    out = np.log1p(mu_inf)
    return float(out) if out.ndim == 0 else out


def fit_log_rate(u, *, lo: float = 1e-10, hi: float = 1e-4, record_every: int = 1) -> tuple[float, int]:
    """Least-squares slope of log|u_t| per step over the tail where lo <= |u_t| <= hi.

    The window starts after the last record with |u_t| > hi, so transients that come back
    above ``hi`` are excluded, and ends at the first record below ``lo`` (round-off floor).

    Args:
      u: recorded deviations z_t - z* (1-D), one every ``record_every`` steps.
      lo, hi: window on |u|, 0 < lo < hi.
      record_every: steps between records, integer in [1, inf).

    Returns:
      (slope per step, number of records used).

    Raises:
      ValueError: if fewer than 3 records fall in the window.

    References:
      Gan (2026), Lemma B.8.
    """
    lo = _real("lo", lo, 0.0)
    hi = _real("hi", hi, lo)
    record_every = _int("record_every", record_every, 1)
    a = np.abs(np.asarray(u, dtype=float).ravel())
    above = np.nonzero(a > hi)[0]
    start = int(above[-1]) + 1 if above.size else 0
    below = np.nonzero(a[start:] < lo)[0]
    stop = start + int(below[0]) if below.size else a.size
    t = np.arange(start, stop)
    if t.size < 3:
        raise ValueError(f"u must have at least 3 records with lo <= |u| <= hi after the last |u| > hi, got {t.size}")
    slope = np.polyfit(t * record_every, np.log(a[start:stop]), 1)[0]
    return float(slope), int(t.size)



def richardson_remainder(value_h, value_half, order: int = 2) -> float | np.ndarray:
    """Size of the O(h^p) remainder of ``value_h``, from the same quantity at h and h/2.

    If ``v(h) = v0 + c h^p + o(h^p)``, then ``v(h) - v(h/2) = c h^p (1 - 2^-p)``, so
    ``|c| h^p = |v(h) - v(h/2)| 2^p / (2^p - 1)``. A first-order prediction ``v0`` then holds
    at step h when ``|v(h) - v0| <= k |c| h^p`` with a safety factor ``k`` for the next order;
    a wrong ``v0`` fails that test even though ``v(h)`` and ``v(h/2)`` agree with each other.

    Args:
      value_h: the quantity at step h (scalar or array).
      value_half: the same at step h / 2.
      order: the order p of the remainder, an integer in [1, 8].

    Returns:
      ``|c| h^p`` (float or array).
    """
    order = _int("order", order, 1, 8)
    diff = np.abs(np.asarray(value_h, dtype=float) - np.asarray(value_half, dtype=float))
    out = diff * 2.0**order / (2.0**order - 1.0)
    return float(out) if out.ndim == 0 else out


class PhaseSummary(NamedTuple):
    """The Figure 2 statistics of a :class:`PhaseSpaceRun`.

    Attributes:
      lag: predicted Phase II lag lambda_t - lambda(z_t) = -3 eta^2 l2^3 / alpha.
      t_reach: first t (searched in the first ``reach_window`` steps) with
        |lambda_t - lambda(z_t)| <= band |lag|; -1 if none (Phase I, Lemma B.3).
      deviation_at: {t: (lambda_t - lambda(z_t)) / |lag|} at the requested steps.
      t_end: last recorded t with lambda_t > 2 / l2 (end of Phase II).
      phase2_recorded: True if lambda is below 2 / l2 at the end of the record.
      max_two_step_increase: max over t >= monotone_from with lambda_t > 2/l2 of
        (s_{t+2} - s_t) / s_t; negative means s decreased every two steps (Lemma B.5).
      num_increases: number of such t with s_{t+2} > s_t.
      max_straddle: max over t in [t_reach, t_end) of (z_t - z*)(z_{t+1} - z*); negative
        means the iterates alternate sides of z* throughout Phase II.
      final_offset: |z_T - z*| at the end of the continuation.
      final_lag_ratio: (lambda_T - 2/l2) / lag; Theorem 5.2 predicts 1 + O(eta^2).
    """

    lag: float
    t_reach: int
    deviation_at: dict
    t_end: int
    phase2_recorded: bool
    max_two_step_increase: float
    num_increases: int
    max_straddle: float
    final_offset: float
    final_lag_ratio: float


def phase_summary(
    l: ScalarLoss,
    eta: float,
    run: PhaseSpaceRun,
    *,
    band: float = 2.0,
    reach_window: int = 2000,
    monotone_from: int = 20,
    deviation_steps: tuple[int, ...] = (100, 1000, 5000),
) -> PhaseSummary:
    """Phase I-III statistics of a phase-space run against the diagram lambda(z).

    Args:
      l: product-stable scalar loss.
      eta: the run's learning rate, in (0, inf).
      run: output of :func:`~eoslib.papers.product_stability.dynamics.phase_space_run`.
      band: Phase I has ended once |lambda_t - lambda(z_t)| <= band |lag|, in (0, inf).
      reach_window: steps searched for that event, integer in [1, len(run.z)].
      monotone_from: first step of the two-step monotonicity test, integer >= 0.
      deviation_steps: steps at which lambda_t - lambda(z_t) is reported (those beyond
        the record are skipped).

    Returns:
      :class:`PhaseSummary`.

    References:
      Gan (2026), Lemmas B.1, B.3-B.8 and Theorem 5.2 (statements reconstructed).
    """
    m = minimum_derivatives(l)
    lag = phase2_lag(l, eta)
    band = _real("band", band, 0.0)
    n = run.z.shape[0]
    reach_window = _int("reach_window", reach_window, 1, n)
    monotone_from = _int("monotone_from", monotone_from, 0, n)
    lam_c = 2 / m.l2
    lam_z = np.asarray(inverse_bifurcation(l, run.z[:reach_window]))
    dev = np.abs(run.lam[:reach_window] - lam_z)
    hit = np.nonzero(dev <= band * abs(lag))[0]
    t_reach = int(hit[0]) if hit.size else -1
    steps = [t for t in deviation_steps if 0 <= t < n]
    lam_at = np.asarray(inverse_bifurcation(l, run.z[steps])) if steps else np.zeros(0)
    deviation_at = {t: float((run.lam[t] - v) / abs(lag)) for t, v in zip(steps, lam_at)}
    above = np.nonzero(run.lam > lam_c)[0]
    t_end = int(above[-1]) if above.size else -1
    s = run.lam / eta
    t = np.arange(monotone_from, n - 2)
    mask = run.lam[t] > lam_c
    inc = (s[t + 2] - s[t]) / s[t]
    max_inc = float(inc[mask].max()) if mask.any() else -math.inf
    lo = max(t_reach, 0)
    u = run.z - m.z_star
    straddle = u[lo:t_end] * u[lo + 1 : t_end + 1] if t_end > lo else np.full(1, -math.inf)
    return PhaseSummary(
        lag=lag,
        t_reach=t_reach,
        deviation_at=deviation_at,
        t_end=t_end,
        phase2_recorded=bool(run.lam[-1] <= lam_c),
        max_two_step_increase=max_inc,
        num_increases=int(np.sum(inc[mask] > 0)),
        max_straddle=float(straddle.max()),
        final_offset=abs(run.z_final - m.z_star),
        final_lag_ratio=(run.lam_final - lam_c) / lag,
    )


def lag_profile(l: ScalarLoss, eta: float, run: PhaseSpaceRun, t) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lambda - lambda(z)) / |predicted lag| at steps t and t + 1, and their mean over that period.

    Within one period of the cycle lambda itself alternates by about as much as the lag, so
    the slow quantity the Phase II lemmas are about is the mean over one period.

    Args:
      l: product-stable scalar loss.
      eta: the run's learning rate, in (0, inf).
      run: output of :func:`eoslib.papers.product_stability.dynamics.phase_space_run`.
      t: recorded steps (integers with t + 1 recorded as well).

    Returns:
      (at t, at t + 1, mean), arrays shaped like ``t``.

    References:
      Gan (2026), Lemmas B.4-B.7 (statements reconstructed).
    """
    t = np.asarray(t, dtype=int)
    if t.size and (t.min() < 0 or t.max() + 1 >= run.z.shape[0]):
        raise ValueError(f"t must lie in [0, {run.z.shape[0] - 2}] (t + 1 must be recorded), got {t!r}")
    tt = np.stack([t, t + 1])
    lam_z = np.asarray(inverse_bifurcation(l, run.z[tt]))
    dev = (run.lam[tt] - lam_z) / abs(phase2_lag(l, eta))
    return dev[0], dev[1], dev.mean(axis=0)
