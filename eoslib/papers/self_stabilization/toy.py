"""The toy model of Appendix B (and its damped and quartic variants) and the simplified dynamics.

The toy loss of Damian, Nichani and Lee (2023), Appendix B, on ``theta = (x, y, z)``:

    L(x, y, z) = (2/eta + sqrt(beta) y) x^2 / 2 - (alpha / sqrt(beta)) y - z
                 [+ lam y^2 / 2]          (B.1, damped; our extension)
                 [- rho x^4 / 24]         (App. F, a quartic non-quadratic part F(x); ours)

GD on it is *exactly* the simplified dynamics (eq. 3) in the coordinates ``x`` and
``Y = sqrt(beta) y`` (``Y = S - 2/eta`` on the slice ``x = 0``):

    x_{t+1} = -(1 + eta Y_t) x_t - eta F'(x_t),
    Y_{t+1} = (1 - eta lam) Y_t + eta (alpha - beta x_t^2 / 2).

The constrained trajectory is known in closed form, ``theta^dagger_t = (0, 0, z_0 + eta t)``
(the ``-z`` term moves ``z`` at unit speed; the paper prints ``-eta t``, a sign that does not
matter since ``z`` is decoupled), with ``u_t = e_1``, ``S_t = 2/eta``, ``grad S_t = (0, sqrt(beta), 0)``,
``alpha_t = alpha``, ``beta_t = beta`` and ``beta_{s->t} = beta (1 - eta lam)^{t-s}``.

Every trajectory runs through :func:`eoslib.gd.iterate` (jit + ``lax.scan``).

References:
  A. Damian, E. Nichani, J. D. Lee, "Self-Stabilization: The Implicit Bias of Gradient
  Descent at the Edge of Stability", ICLR 2023, Appendix B (toy model), eq. (3), App. F.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from eoslib import curvature, gd
from eoslib.validation import integer as _int, positive as _pos, real as _real

__all__ = [
    "ToyModel",
    "ToyRun",
    "toy_gd",
    "simplified_dynamics",
    "stage_labels",
    "stage_changes",
    "STAGE_NAMES",
    "toy_sharpness",
]

#: Names of the four stages of Section 4.1, indexed by the labels of :func:`stage_labels`.
STAGE_NAMES = {1: "progressive sharpening", 2: "blow-up", 3: "self-stabilization",
               4: "return to stability"}


@dataclass(frozen=True)
class ToyModel:
    """The Appendix B toy loss with optional damping (B.1) and quartic part (App. F).

    Attributes:
      eta: learning rate, in (0, inf).
      alpha: progressive sharpening coefficient, in (0, inf).
      beta: ``||grad S||^2``, in (0, inf).
      lam: damping ``lam y^2 / 2`` (App. B.1, ours), in [0, 2/eta); 0 is the paper's toy.
      rho: quartic part ``F(x) = -rho x^4 / 24`` (App. F), real; ``rho > 0`` is
        sub-quadratic, ``rho < 0`` super-quadratic, 0 the paper's toy.
    """

    eta: float
    alpha: float = 1.0
    beta: float = 1.0
    lam: float = 0.0
    rho: float = 0.0

    def __post_init__(self):
        _pos("eta", self.eta)
        _pos("alpha", self.alpha)
        _pos("beta", self.beta)
        _real("lam", self.lam, 0.0, 2.0 / self.eta, lo_open=False)
        _real("rho", self.rho)

    @property
    def delta(self) -> float:
        """Fixed-point amplitude ``delta = sqrt(2 alpha / beta)``."""
        return math.sqrt(2.0 * self.alpha / self.beta)

    @property
    def epsilon(self) -> float:
        """Error parameter ``epsilon = eta sqrt(alpha)`` (Definition 6)."""
        return self.eta * math.sqrt(self.alpha)

    def args(self) -> tuple[Array, ...]:
        """The traced parameters ``(eta, alpha, beta, lam, rho)`` as float arrays."""
        return tuple(jnp.asarray(v, dtype=jnp.zeros(()).dtype)
                     for v in (self.eta, self.alpha, self.beta, self.lam, self.rho))

    def loss(self, theta: Array) -> Array:
        """The toy loss at ``theta = (x, y, z)``."""
        return _toy_loss(theta, *self.args())

    def F(self, x: Array) -> Array:
        """The non-quadratic part along ``u = e_1``: ``F(x) = -rho x^4 / 24``."""
        return -self.rho * x**4 / 24.0

    def F_prime(self, x: Array) -> Array:
        """``F'(x) = -rho x^3 / 6``."""
        return -self.rho * x**3 / 6.0

    def constrained(self, num_steps: int, z0: float = 0.0) -> np.ndarray:
        """The constrained trajectory ``theta^dagger_t = (0, 0, z0 + eta t)``, ``t = 0..num_steps``."""

        n = _int("num_steps", num_steps, 0) + 1
        # z accumulated step by step, exactly as GD adds eta to it (bitwise equal iterates)
        z = np.cumsum(np.concatenate([[z0], np.full(n - 1, self.eta)]))
        return np.stack([np.zeros(n), np.zeros(n), z], axis=1)

    def beta_s_to_t(self, s: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Closed form ``beta_{s->t} = beta (1 - eta lam)^{t-s}`` (``s <= t``)."""
        return self.beta * (1.0 - self.eta * self.lam) ** (np.asarray(t) - np.asarray(s))


def _toy_loss(theta, eta, alpha, beta, lam, rho):
    x, y, z = theta[0], theta[1], theta[2]
    sb = jnp.sqrt(beta)
    return ((2.0 / eta + sb * y) * x**2 / 2.0 - alpha / sb * y - z
            + lam * y**2 / 2.0 - rho * x**4 / 24.0)


class _ToyGDStep:
    """Hashable GD step on the toy loss, parameters traced through ``args``."""

    def __call__(self, theta, eta, alpha, beta, lam, rho):
        g = jax.grad(_toy_loss)(theta, eta, alpha, beta, lam, rho)
        return theta - eta * g

    def __hash__(self):
        return hash(type(self))

    def __eq__(self, other):
        return type(other) is type(self)


class _Eq3Step:
    """Hashable step of the simplified dynamics (eq. 3, with damping and F')."""

    def __call__(self, state, eta, alpha, beta, lam, rho):
        x, y = state
        x_new = -(1.0 + eta * y) * x + eta * rho * x**3 / 6.0
        y_new = (1.0 - eta * lam) * y + eta * (alpha - beta * x**2 / 2.0)
        return (x_new, y_new)

    def __hash__(self):
        return hash(type(self))

    def __eq__(self, other):
        return type(other) is type(self)


class ToyRun(NamedTuple):
    """A GD run on the toy model.

    Attributes:
      theta: ``(T+1, 3)`` iterates.
      x: ``(T+1,)`` first coordinate (the unstable direction ``u = e_1``).
      y: ``(T+1,)`` the paper's ``y = grad S . (theta - theta^dagger) = sqrt(beta) * theta[1]``.
      diverged_at: first invalid step, -1 if none.
    """

    theta: np.ndarray
    x: np.ndarray
    y: np.ndarray
    diverged_at: int


def toy_gd(model: ToyModel, x0: float, num_steps: int, *, y0: float = 0.0, z0: float = 0.0,
           max_norm: float = 1e6) -> ToyRun:
    """GD on the toy loss from ``(x0, y0 / sqrt(beta), z0)`` (``y0`` in the paper's units).

    Args:
      model: the toy model.
      x0: initial unstable coordinate (the paper's small ``epsilon``), real.
      num_steps: number of GD steps, in [1, inf).
      y0: initial ``y = S - 2/eta``, real.
      z0: initial ``z``, real.
      max_norm: divergence bound on ``||theta||``, in (0, inf].

    Returns:
      A :class:`ToyRun`.
    """
    num_steps = _int("num_steps", num_steps, 1)
    theta0 = jnp.asarray([_real("x0", x0), _real("y0", y0) / math.sqrt(model.beta), _real("z0", z0)])
    run = gd.iterate(_ToyGDStep(), theta0, num_steps, args=model.args(), record_every=1,
                     max_norm=max_norm)
    th = np.asarray(run.params)
    return ToyRun(theta=th, x=th[:, 0], y=math.sqrt(model.beta) * th[:, 1],
                  diverged_at=int(run.diverged_at))


def simplified_dynamics(model: ToyModel, x0: float, num_steps: int, *, y0: float = 0.0,
                        max_norm: float = 1e6) -> tuple[np.ndarray, np.ndarray, int]:
    """Iterate eq. (3) (with the damping and ``F'`` terms of ``model``) from ``(x0, y0)``.

    Args:
      model: supplies ``eta, alpha, beta, lam, rho``.
      x0, y0: initial state, real.
      num_steps: number of steps, in [1, inf).
      max_norm: divergence bound, in (0, inf].

    Returns:
      ``(x, y, diverged_at)`` with ``x, y`` of shape ``(num_steps + 1,)``.
    """
    num_steps = _int("num_steps", num_steps, 1)
    dt = jnp.zeros(()).dtype
    state = (jnp.asarray(_real("x0", x0), dt), jnp.asarray(_real("y0", y0), dt))
    run = gd.iterate(_Eq3Step(), state, num_steps, args=model.args(), record_every=1,
                     max_norm=max_norm)
    return np.asarray(run.params[0]), np.asarray(run.params[1]), int(run.diverged_at)


def stage_labels(x: np.ndarray, y: np.ndarray, delta: float | np.ndarray) -> np.ndarray:
    """The stage (1-4) of Section 4.1 of each point, by quadrant around ``(delta, 0)``.

    1: ``|x| < delta, y < 0`` (progressive sharpening); 2: ``|x| < delta, y >= 0`` (blow-up);
    3: ``|x| >= delta, y > 0`` (self-stabilization); 4: ``|x| >= delta, y <= 0`` (return to
    stability). The cycle is 1 -> 2 -> 3 -> 4 -> 1.

    Args:
      x, y: coordinates (same shape).
      delta: ``sqrt(2 alpha / beta)``, positive (scalar or per point).

    Returns:
      int array of labels.
    """
    ax = np.abs(np.asarray(x))
    y = np.asarray(y)
    small = ax < delta
    return np.where(small, np.where(y < 0, 1, 2), np.where(y > 0, 3, 4)).astype(int)


def stage_changes(labels: np.ndarray) -> list[tuple[int, int]]:
    """``[(step, new_label), ...]``: the steps where the stage label changes (first entry: step 0)."""
    labels = np.asarray(labels)
    idx = [0] + [int(i) for i in np.flatnonzero(np.diff(labels)) + 1]
    return [(i, int(labels[i])) for i in idx]


def toy_sharpness(model: ToyModel, theta: np.ndarray) -> np.ndarray:
    """Dense sharpness ``S(theta_t)`` of the toy loss along a trajectory ``(T, 3)``."""
    f = model.loss
    return np.asarray(jax.vmap(lambda th: curvature.sharpness(f, th))(jnp.asarray(theta)))

