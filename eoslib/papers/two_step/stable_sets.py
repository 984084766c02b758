"""The stable set of Damian et al. on the paper's toy functions: Propositions 5-7 and Figure 3.

Damian, Nichani and Lee's stable set is ``M = {theta : S(theta) <= 2/eta, grad L(theta) . u(theta) = 0}``
with ``(S, u)`` the top Hessian eigenpair. Chen & Bruna argue that ``M`` cannot describe GD
beyond the EoS: for ``1/4 (x^2 - 1)^2`` it is empty near the minimum once ``eta > 1``
(Proposition 5); for ``1/2 (xy - 1)^2`` its minimisers form a short arc below the EoS
(Proposition 6) and vanish beyond it (Proposition 7). The statements of Propositions 5-7 were
rebuilt from the paper's prose (see the book's Reconstructions page).

References:
  L. Chen and J. Bruna, "Beyond the Edge of Stability via Two-step Gradient Updates",
  ICML 2023, arXiv:2206.04172: Section 6.2, Propositions 5-7, Figure 3.
  A. Damian, E. Nichani, J. D. Lee, "Self-Stabilization: The Implicit Bias of Gradient Descent
  at the Edge of Stability", ICLR 2023 (the stable set M).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from eoslib.validation import default_float as _float, real as _real

__all__ = [
    "quartic_stable_set",
    "product_2d_hessian",
    "stable_set_2d",
    "product_2d_stable_set",
    "stable_arc",
    "project_onto_arc",
]


def quartic_stable_set(x, eta) -> np.ndarray:
    """Membership of ``x`` in ``M = {S <= 2/eta, f'(x) u = 0}`` for ``f = 1/4 (x^2 - 1)^2``.

    In 1-D ``S = f'' = 3x^2 - 1`` and ``u = +-1``, so ``M = {f'(x) = 0, 3x^2 - 1 <= 2/eta}``.
    Grid points are taken as stationary when ``|f'(x)| <= 1e-12``.

    Args:
      x: point(s).
      eta: learning rate in (0, inf).

    Returns:
      Boolean array shaped like ``x``.

    References:
      Chen & Bruna (2023), Proposition 5 (reconstructed); Damian et al. (2023) (definition of M).
    """
    e = _real("eta", eta, 0.0)
    x = np.asarray(x, dtype=float)
    grad = x ** 3 - x
    return (np.abs(grad) <= 1e-12) & (3 * x * x - 1 <= 2.0 / e)


def product_2d_hessian(x, y, mu: float = 1.0) -> np.ndarray:
    """Hessian (Eq. 14) of ``1/2 (xy - mu)^2`` in closed form: ``[[y^2, 2xy - mu], [2xy - mu, x^2]]``.

    Args:
      x, y: coordinates (broadcastable arrays).
      mu: target in (0, inf).

    Returns:
      Array of shape ``(..., 2, 2)``.

    References:
      Chen & Bruna (2023), Eq. 14.
    """
    m = _real("mu", mu, 0.0)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    off = 2 * x * y - m
    return np.stack([np.stack([y * y, off], -1), np.stack([off, x * x], -1)], -2)


@jax.jit
def _stable_set_kernel(mu, x, y):
    def one(x, y):
        th = jnp.stack([x, y])
        obj = lambda t: 0.5 * (t[0] * t[1] - mu) ** 2  # noqa: E731
        g = jax.grad(obj)(th)
        w, v = jnp.linalg.eigh(jax.hessian(obj)(th))
        return w[1], w[0], jnp.abs(g @ v[:, 1]), jnp.linalg.norm(g)

    return jax.vmap(one)(x, y)


def stable_set_2d(x, y, mu: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Quantities defining the stable set M = {S <= 2/eta, grad L . u = 0} of 1/2 (xy - mu)^2.

    Args:
      x, y: coordinates (broadcastable arrays).
      mu: target in (0, inf).

    Returns:
      ``(S, S2, dot, gnorm)``: top and second Hessian eigenvalue (autodiff Hessian,
      ``eigh``), ``|grad L . u1|`` with u1 the top eigenvector, and ``|grad L|``. On the
      minimum set both dot and gnorm vanish (to round-off), so ``dot / gnorm`` is only
      meaningful off it.

    References:
      Chen & Bruna (2023), Sec. 6.2 and Figure 3 (the set of Damian et al.).
    """
    mu = _real("mu", mu, 0.0)
    xb, yb = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    f = _float()
    out = _stable_set_kernel(jnp.asarray(mu, f), jnp.asarray(xb.ravel(), f), jnp.asarray(yb.ravel(), f))
    return tuple(np.asarray(a, dtype=float).reshape(xb.shape) for a in out)


def product_2d_stable_set(x, y, eta, *, mu: float = 1.0, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Damian et al.'s set ``M = {S <= 2/eta, grad L . u = 0}`` for ``1/2 (xy - mu)^2`` on a grid.

    ``S, u`` come from :func:`stable_set_2d`. On a grid the condition ``grad L . u = 0`` is
    tested as ``|grad L . u| <= tol (1 + |grad L|)``; the minimum set ``xy = mu`` satisfies it
    exactly (``grad L = 0``).

    Args:
      x, y: arrays of points (broadcastable).
      eta: learning rate in (0, inf).
      mu: target in (0, inf).
      tol: tolerance of the orthogonality test, in (0, 1).

    Returns:
      ``(in_M, S)`` arrays of the broadcast shape.

    References:
      Chen & Bruna (2023), Propositions 6-7 (reconstructed), Figure 3; Damian et al. (2023).
    """
    e = _real("eta", eta, 0.0)
    tol = _real("tol", tol, 0.0, 1.0)
    S, _, dot, gnorm = stable_set_2d(x, y, mu)
    return (dot <= tol * (1.0 + gnorm)) & (S <= 2.0 / e), S


def stable_arc(eta: float, mu: float = 1.0) -> tuple[float, float] | None:
    """The part {xy = mu, x > 0, x^2 + y^2 <= 2/eta} of the minimum set inside M, as an x-range.

    On the minimum set the Hessian is (y, x)(y, x)^T, so S = x^2 + mu^2/x^2; the arc is
    x^2 in [1/eta -+ sqrt(1/eta^2 - mu^2)].

    Args:
      eta: step size in (0, inf); mu: target in (0, inf).

    Returns:
      ``(x_lo, x_hi)``, or None if eta mu > 1 (no minimiser is in M, Proposition 7; a single
      point at eta mu = 1).

    References:
      Chen & Bruna (2023), Propositions 6-7 (reconstructed) and Figure 3.
    """
    eta = _real("eta", eta, 0.0)
    mu = _real("mu", mu, 0.0)
    disc = 1 / eta**2 - mu**2
    if disc < 0:
        return None
    r = math.sqrt(disc)
    return math.sqrt(1 / eta - r), math.sqrt(1 / eta + r)


def project_onto_arc(points, arc: tuple[float, float], mu: float = 1.0) -> np.ndarray:
    """Nearest point of the arc {(t, mu/t): t in arc} to each point (Euclidean).

    The stationarity condition of |(t, mu/t) - (a, b)|^2 is the quartic
    t^4 - a t^3 + b mu t - mu^2 = 0; its real roots inside the arc and the two endpoints
    are compared.

    Args:
      points: shape ``(n, 2)``.
      arc: ``(t_lo, t_hi)`` with 0 < t_lo <= t_hi (e.g. from :func:`stable_arc`).
      mu: target in (0, inf).

    Returns:
      Shape ``(n, 2)``.

    References:
      Figure 3(b): the projection used by the theory of Damian et al.
    """
    mu = _real("mu", mu, 0.0)
    lo, hi = (float(v) for v in arc)
    if not 0 < lo <= hi < math.inf:
        raise ValueError(f"arc must satisfy 0 < t_lo <= t_hi < inf, got {arc!r}")
    pts = np.atleast_2d(np.asarray(points, dtype=float))
    if pts.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {pts.shape}")
    out = np.empty_like(pts)
    for i, (a, b) in enumerate(pts):
        roots = np.roots([1.0, -a, 0.0, b * mu, -mu * mu])
        cand = [lo, hi] + [float(r.real) for r in roots if abs(r.imag) < 1e-12 and lo <= r.real <= hi]
        cand = np.asarray(cand)
        dist = (cand - a) ** 2 + (mu / cand - b) ** 2
        t = cand[int(np.argmin(dist))]
        out[i] = (t, mu / t)
    return out
