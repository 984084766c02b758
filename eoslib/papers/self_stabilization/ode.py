"""The ODE limit of the simplified dynamics (eq. 4), its conserved quantity (Lemma 3) and Corollary 1.

In the time ``tau = eta t``:

    X' = X Y,        Y' = alpha - beta X^2 / 2,

with fixed point ``(delta, 0)``, ``delta = sqrt(2 alpha / beta)``. With ``h(z) = z - log z - 1``,

    g(X, Y) = h(X^2 / delta^2) + Y^2 / alpha

is conserved (Lemma 3), so every orbit is closed and its extrema are implicit in ``g``: from
``(X0, 0)`` with ``X0 < delta``, ``X`` ranges over ``[X0, X_max]`` with
``h(X_max^2/delta^2) = h(X0^2/delta^2)``, ``X_max > delta``, and ``|Y| <= Y_max = sqrt(alpha g)``
(attained at ``X = delta``). This is the exact form of Corollary 1, whose printed constants are
garbled; :func:`corollary1_explicit` gives the explicit bounds that follow from it, and
:func:`corollary1_literal` the literal reading of the garbled print (which is false).

Trajectories come from ``scipy.integrate.solve_ivp`` (DOP853, tight tolerances); the extrema
from root finding on ``g``, never from the sampled trajectory.

References:
  Damian, Nichani, Lee (2023), Section 4.2: eq. (4), Lemma 3, Corollary 1, Figure 3.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from eoslib.validation import integer as _int, positive as _pos, real as _real

__all__ = [
    "h",
    "conserved_quantity",
    "ODESolution",
    "solve_ode",
    "OrbitExtrema",
    "orbit_extrema",
    "corollary1_explicit",
    "corollary1_literal",
    "small_orbit_period",
    "orbit_period",
    "extrema_by_events",
]


def h(z: np.ndarray | float) -> np.ndarray:
    """``h(z) = z - log z - 1`` (``>= 0``, zero only at ``z = 1``), for ``z > 0``."""
    z = np.asarray(z, dtype=float)
    return z - np.log(z) - 1.0


def conserved_quantity(X, Y, alpha: float, beta: float) -> np.ndarray:
    """Lemma 3's ``g(X, Y) = h(beta X^2 / (2 alpha)) + Y^2 / alpha``.

    Args:
      X: ``|x|`` values, positive.
      Y: ``y`` values.
      alpha, beta: positive constants.

    Returns:
      ``g`` with the broadcast shape of ``X`` and ``Y``.
    """
    alpha, beta = _pos("alpha", alpha), _pos("beta", beta)
    X = np.asarray(X, dtype=float)
    return h(beta * X**2 / (2.0 * alpha)) + np.asarray(Y, dtype=float) ** 2 / alpha


class ODESolution(NamedTuple):
    """A solution of eq. (4) sampled at ``tau``.

    Attributes:
      tau: ``(n,)`` times.
      X: ``(n,)`` values of ``X``.
      Y: ``(n,)`` values of ``Y``.
      alpha, beta: the constants.
    """

    tau: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    alpha: float
    beta: float


def solve_ode(X0: float, Y0: float, alpha: float, beta: float, tau_max: float, *,
              num_points: int = 2001, rtol: float = 1e-12, atol: float = 1e-14) -> ODESolution:
    """Integrate eq. (4) from ``(X0, Y0)`` on ``[0, tau_max]`` with DOP853.

    Args:
      X0: initial ``X``, in (0, inf).
      Y0: initial ``Y``, real.
      alpha, beta: positive constants.
      tau_max: final time, in (0, inf).
      num_points: number of output times (uniform), in [2, inf).
      rtol, atol: solver tolerances, in (0, inf).

    Returns:
      An :class:`ODESolution`.

    Raises:
      ValueError: an argument out of range.
      RuntimeError: the solver failed.
    """
    X0, alpha, beta = _pos("X0", X0), _pos("alpha", alpha), _pos("beta", beta)
    Y0, tau_max = _real("Y0", Y0), _pos("tau_max", tau_max)
    num_points = _int("num_points", num_points, 2)

    def rhs(_, s):
        return [s[0] * s[1], alpha - beta * s[0] ** 2 / 2.0]

    tau = np.linspace(0.0, tau_max, num_points)
    sol = solve_ivp(rhs, (0.0, tau_max), [X0, Y0], method="DOP853", t_eval=tau,
                    rtol=_pos("rtol", rtol), atol=_pos("atol", atol))
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return ODESolution(tau=sol.t, X=sol.y[0], Y=sol.y[1], alpha=alpha, beta=beta)


class OrbitExtrema(NamedTuple):
    """Extrema of the closed orbit through ``(X0, Y0)``, from the conserved quantity.

    Attributes:
      g: the orbit's value of the conserved quantity.
      X_min, X_max: range of ``X`` (``X_min < delta < X_max``).
      Y_max: largest ``|Y|`` (at ``X = delta``).
      delta: ``sqrt(2 alpha / beta)``.
    """

    g: float
    X_min: float
    X_max: float
    Y_max: float
    delta: float


def orbit_extrema(X0: float, Y0: float, alpha: float, beta: float) -> OrbitExtrema:
    """The exact (implicit) extrema of the orbit of eq. (4) through ``(X0, Y0)``.

    Solves ``h(z) = g`` for ``z = X^2/delta^2`` on ``(0, 1)`` and ``(1, inf)`` by Brent's method
    (to ``xtol = 1e-15``) and takes ``Y_max = sqrt(alpha g)``.

    Args:
      X0: in (0, inf); Y0: real; alpha, beta: positive.

    Returns:
      :class:`OrbitExtrema`.

    Raises:
      ValueError: an argument out of range, or the orbit is the fixed point (``g = 0``).
    """
    X0, alpha, beta = _pos("X0", X0), _pos("alpha", alpha), _pos("beta", beta)
    Y0 = _real("Y0", Y0)
    g = float(conserved_quantity(X0, Y0, alpha, beta))
    if not g > 0:
        raise ValueError("(X0, Y0) is the fixed point (delta, 0): the orbit has no extent")
    delta = math.sqrt(2.0 * alpha / beta)

    def eq(z):
        return z - math.log(z) - 1.0 - g

    # h -> inf at 0 and at inf, h(1) = 0: one root on each side of 1.
    lo = 1.0
    while eq(lo) <= 0:  # pragma: no branch - h(lo) grows as lo -> 0
        lo *= 0.5
    z_lo = brentq(eq, lo, 1.0, xtol=1e-300, rtol=1e-15, maxiter=500)
    hi = 2.0
    while eq(hi) <= 0:
        hi *= 2.0
    z_hi = brentq(eq, 1.0, hi, xtol=1e-15, rtol=1e-15, maxiter=500)
    return OrbitExtrema(g=g, X_min=delta * math.sqrt(z_lo), X_max=delta * math.sqrt(z_hi),
                        Y_max=math.sqrt(alpha * g), delta=delta)


def corollary1_explicit(X0: float, alpha: float, beta: float) -> tuple[float, float]:
    """Explicit bounds that follow from Lemma 3 (start ``(X0, 0)``, ``X0 < delta``).

    ``X(tau) <= delta (1 + sqrt(2 log(delta / X0)))`` and
    ``|Y(tau)| <= sqrt(2 alpha log(delta / X0))``, from ``h(z) <= -log z`` on ``(0, 1]`` and
    ``h((1 + s)^2) >= s^2``.

    Args:
      X0: in (0, delta); alpha, beta: positive.

    Returns:
      ``(X_bound, Y_bound)``.
    """
    alpha, beta = _pos("alpha", alpha), _pos("beta", beta)
    delta = math.sqrt(2.0 * alpha / beta)
    X0 = _real("X0", X0, 0.0, delta)
    L = math.log(delta / X0)
    return delta * (1.0 + math.sqrt(2.0 * L)), math.sqrt(2.0 * alpha * L)


def corollary1_literal(X0: float, alpha: float, beta: float) -> tuple[float, float]:
    """The literal reading of Corollary 1 as printed (garbled): NOT a valid bound.

    The print reads ``X(t) <= delta + sqrt(log(delta/X(0)))`` and
    ``|Y(t)| <= sqrt(alpha log(delta/X(0)))``; both are below the true extrema (e.g. at
    ``alpha = beta = 1``, ``X0 = 0.01``: 3.64 < 4.98 and 2.23 < 2.98), see the
    Reconstructions page.

    Returns:
      ``(X_bound, Y_bound)`` of the literal reading.
    """
    alpha, beta = _pos("alpha", alpha), _pos("beta", beta)
    delta = math.sqrt(2.0 * alpha / beta)
    X0 = _real("X0", X0, 0.0, delta)
    L = math.log(delta / X0)
    return delta + math.sqrt(L), math.sqrt(alpha * L)


def small_orbit_period(alpha: float) -> float:
    """Period ``2 pi / sqrt(2 alpha)`` (in ``tau``) of small orbits around ``(delta, 0)``."""
    return 2.0 * math.pi / math.sqrt(2.0 * _pos("alpha", alpha))


def orbit_period(X0: float, alpha: float, beta: float, *, rtol: float = 1e-12) -> float:
    """Period (in ``tau``) of the orbit through ``(X0, 0)``, by the quadrature
    ``T = 2 int_{X_min}^{X_max} dX / (X |Y(X)|)`` with ``|Y(X)| = sqrt(alpha (g - h(X^2/delta^2)))``.

    Computed in ``q = log X`` with the substitution ``q = q_mid + a sin(phi)`` type endpoints
    handled by ``scipy.integrate.quad``'s algebraic weight (the integrand has inverse-square-root
    singularities at both turning points).

    Args:
      X0: in (0, inf), not ``delta``; alpha, beta: positive.
      rtol: quadrature tolerance.

    Returns:
      The period.
    """
    from scipy.integrate import quad

    ext = orbit_extrema(X0, 0.0, alpha, beta)
    a, b = math.log(ext.X_min), math.log(ext.X_max)
    d2 = ext.delta**2

    def w(q):
        # 1 / |Y| times sqrt((q-a)(b-q)): smooth on [a, b].
        gap = ext.g - float(h(math.exp(2 * q) / d2))
        gap = max(gap, 1e-300)
        return math.sqrt((q - a) * (b - q) / (alpha * gap)) if a < q < b else _limit(q, a, b, ext, alpha)

    val, _ = quad(w, a, b, weight="alg", wvar=(-0.5, -0.5), epsrel=rtol, limit=200)
    return 2.0 * val


def _limit(q, a, b, ext, alpha):
    # Endpoint value of sqrt((q-a)(b-q)/(alpha (g - h))) by l'Hopital: g - h ~ h'(q_e) |q - q_e|.
    d2 = ext.delta**2
    qe = a if abs(q - a) < abs(q - b) else b
    z = math.exp(2 * qe) / d2
    slope = abs(2 * z - 2)  # d/dq h(e^{2q}/d2) = 2z - 2
    return math.sqrt((b - a) / (alpha * slope))


def extrema_by_events(X0: float, Y0: float, alpha: float, beta: float, tau_max: float, *,
                      rtol: float = 1e-12, atol: float = 1e-14) -> tuple[float, float, float]:
    """Extrema of an ODE solution located by events (independent of the conserved quantity).

    ``X`` is extremal where ``Y = 0`` and ``|Y|`` where ``X = delta``; DOP853 locates these
    events on its dense output, so the extrema are accurate to the solver tolerance.

    Args:
      X0, Y0, alpha, beta: as in :func:`solve_ode`.
      tau_max: integration time, in (0, inf); should cover at least one period.

    Returns:
      ``(X_min, X_max, Y_max)`` over the events (and the start).
    """
    X0, alpha, beta = _pos("X0", X0), _pos("alpha", alpha), _pos("beta", beta)
    Y0, tau_max = _real("Y0", Y0), _pos("tau_max", tau_max)
    delta = math.sqrt(2.0 * alpha / beta)

    def rhs(_, s):
        return [s[0] * s[1], alpha - beta * s[0] ** 2 / 2.0]

    def y_zero(_, s):
        return s[1]

    def x_delta(_, s):
        return s[0] - delta

    sol = solve_ivp(rhs, (0.0, tau_max), [X0, Y0], method="DOP853", rtol=rtol, atol=atol,
                    events=(y_zero, x_delta))
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    xs = np.concatenate([[X0], sol.y_events[0][:, 0]]) if sol.y_events[0].size else np.array([X0])
    ys = np.abs(sol.y_events[1][:, 1]) if sol.y_events[1].size else np.array([abs(Y0)])
    return float(xs.min()), float(xs.max()), float(ys.max())

