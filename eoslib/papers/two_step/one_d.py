"""Chen & Bruna (2023), one-dimensional theory: the two-step fixed point of Theorem 1 and Lemma 1.

GD on a 1-D function ``f`` is the map ``F_eta(x) = x - eta f'(x)``; a period-2 point is a fixed
point of ``F_eta^2`` that is not a fixed point of ``F_eta``. This module holds the objects the
statements are made of, so that the notebooks only compare them with autodiff, root finding
and long GD runs:

* test functions as :class:`eoslib.losses.ScalarLoss` (a hashable callable with its minimum
  ``z_star``): Taylor polynomials with prescribed derivatives, the quartic
  ``1/4 (x^2 - mu)^2`` and ``a sin x``;
* the learning-rate windows of Theorem 1 and Lemma 1 and a bracketing root search for
  ``F_eta^2(x0) = x0`` inside them;
* GD tails (:func:`gd_tail`, through :func:`eoslib.gd.iterate_batched`) and their period.

The stability number ``C = 3 f'''^2 - f'' f''''`` is :func:`eoslib.losses.product_stability`
(Gan's product-stability is the same quantity). Nothing here enables float64.

References:
  L. Chen and J. Bruna, "Beyond the Edge of Stability via Two-step Gradient Updates",
  ICML 2023, arXiv:2206.04172: Definition 2, Theorem 1, Lemma 1, App. C.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from scipy.optimize import brentq

from eoslib import gd
from eoslib.losses import ScalarLoss, derivatives
from eoslib.validation import default_float as _float, integer as _int, real as _real, reals as _reals

__all__ = [
    "taylor_polynomial",
    "quartic",
    "scaled_sine",
    "derivatives_at",
    "theorem_1_window",
    "lemma_1_window",
    "two_step_residual",
    "TwoStepRoot",
    "two_step_root",
    "two_cycle_indicator",
    "GDStep",
    "GDTail",
    "gd_tail",
    "tail_period",
]


# --------------------------------------------------------------------------- test functions


@dataclass(frozen=True)
class _Taylor:
    coeffs: tuple[float, ...]  # f''(c), f'''(c), ... at the centre
    center: float

    def __call__(self, x):
        u = x - self.center
        out = jnp.zeros_like(u)
        for k, c in enumerate(self.coeffs, start=2):
            out = out + (c / math.factorial(k)) * u**k
        return out


def taylor_polynomial(derivs, center: float = 0.0, name: str | None = None) -> ScalarLoss:
    """f(x) = sum_{k>=2} d_k (x - c)^k / k!: a test function with prescribed derivatives at c.

    Args:
      derivs: ``(f''(c), f'''(c), f''''(c), ...)``, at least one entry; ``f''(c)`` must be
        in (0, inf) so that c is a strict local minimum.
      center: the minimum c, a finite real.
      name: identifier (default built from the coefficients).

    Returns:
      A :class:`~eoslib.losses.ScalarLoss` with ``z_star = center``; e.g. ``(1, a, b)`` has
      stability number ``3 a^2 - b`` and ``(1,)`` is the quadratic (Remark 2 of Theorem 1).

    Raises:
      ValueError: a non-finite coefficient or ``f''(c) <= 0``.

    References:
      Chen & Bruna (2023), Theorem 1 and Lemma 1.
    """
    d = tuple(float(v) for v in np.atleast_1d(np.asarray(derivs, dtype=float)))
    if not d or not all(math.isfinite(v) for v in d) or not d[0] > 0:
        raise ValueError(f"derivs must be finite with derivs[0] = f''(center) in (0, inf), got {derivs!r}")
    center = _real("center", center)
    terms = []
    for k, c in enumerate(d, start=2):
        if c:
            terms.append(f"{c:+g}\\,x^{k}/{math.factorial(k)}" if k > 2 else f"{c:g}\\,x^2/2")
    label = name or "taylor_" + "_".join(f"{c:g}" for c in d)
    return ScalarLoss(label, _Taylor(d, center), center, "".join(terms).lstrip("+"))


@dataclass(frozen=True)
class _Quartic:
    mu: float

    def __call__(self, x):
        return 0.25 * (x * x - self.mu) ** 2


def quartic(mu: float = 1.0) -> ScalarLoss:
    """f(x) = 1/4 (x^2 - mu)^2 with the minimum sqrt(mu) (f'' = 2 mu, f''' = 6 sqrt(mu), f'''' = 6).

    Args:
      mu: target, in (0, inf).

    Returns:
      A :class:`~eoslib.losses.ScalarLoss`; its EoS threshold at sqrt(mu) is eta = 1/mu and its
      stability number is 3 (6 sqrt(mu))^2 - 2 mu * 6 = 96 mu.

    References:
      Chen & Bruna (2023), Theorem 2 and Figure 4.
    """
    mu = _real("mu", mu, 0.0)
    return ScalarLoss(f"quartic_mu{mu:g}", _Quartic(mu), math.sqrt(mu), rf"\tfrac14(x^2-{mu:g})^2")


@dataclass(frozen=True)
class _ScaledSine:
    a: float

    def __call__(self, x):
        return self.a * jnp.sin(x)


def scaled_sine(a: float = 1.0) -> ScalarLoss:
    """f(x) = a sin x at its minimum -pi/2 (f'' = a, f''' = 0, f'''' = -a).

    Args:
      a: amplitude, in (0, inf); a = 2 is the function of Figure 4 (EoS threshold 1).

    Returns:
      A :class:`~eoslib.losses.ScalarLoss`. Theorem 1's condition (i) fails (f''' = 0);
      Lemma 1 with k = 4 applies.

    References:
      Chen & Bruna (2023), Corollary 1, Lemma 1, Figure 4.
    """
    a = _real("a", a, 0.0)
    return ScalarLoss(f"sin_a{a:g}", _ScaledSine(a), -math.pi / 2, (rf"{a:g}\sin x" if a != 1 else r"\sin x"))


def _fn(f) -> Callable:
    return f.fn if isinstance(f, ScalarLoss) else f


def _minimum(f, x) -> float:
    if x is None:
        if not isinstance(f, ScalarLoss):
            raise ValueError("x must be given (a real number) when f is not a ScalarLoss")
        return f.z_star
    return _real("x", x)


def derivatives_at(f, x: float | None = None, max_order: int = 4) -> np.ndarray:
    """``[f(x), f'(x), ..., f^(max_order)(x)]`` as a float64 numpy array (:func:`eoslib.losses.derivatives`).

    Args:
      f: a :class:`~eoslib.losses.ScalarLoss` or any differentiable scalar callable.
      x: evaluation point, a finite real (default ``f.z_star``).
      max_order: highest order, an integer in [0, 12].

    Returns:
      Array of shape (max_order + 1,).
    """
    max_order = _int("max_order", max_order, 0, 12)
    x = _minimum(f, x)
    return np.asarray(derivatives(_fn(f), jnp.asarray(x, _float()), max_order), dtype=float)


# --------------------------------------------------------------------------- Theorem 1, Lemma 1


def theorem_1_window(f, eps: float, x: float | None = None) -> tuple[float, float]:
    """The learning-rate window (2/f'', 2/(f'' - eps f''')) of Theorem 1.

    Args:
      f: objective (:class:`~eoslib.losses.ScalarLoss` or callable).
      eps: offset of the starting point x0 = x_bar - eps; a nonzero real with
        ``eps * f'''(x_bar) > 0`` and ``f'' - eps f''' > 0``.
      x: the minimum (default ``f.z_star``).

    Returns:
      ``(eta_lo, eta_hi)`` with eta_lo < eta_hi.

    Raises:
      ValueError: if eps does not satisfy the sign condition (e.g. f''' = 0, where the
        window is empty: the case of sin that motivates Lemma 1).

    References:
      Chen & Bruna (2023), Theorem 1.
    """
    eps = _real("eps", eps)
    d = derivatives_at(f, x, 3)
    if not d[2] > 0:
        raise ValueError(f"f''(x_bar) must be in (0, inf), got {d[2]!r}")
    # f''' at a point like -pi/2 comes out as ~1e-17, not 0: treat round-off as zero.
    if abs(d[3]) <= 1e-12 * d[2]:
        raise ValueError(f"f'''(x_bar) must be nonzero (Theorem 1 (i)); got {d[3]:.3g}, zero to round-off")
    if not eps * d[3] > 0:
        raise ValueError(f"eps must satisfy eps * f'''(x_bar) in (0, inf); f''' = {d[3]:.6g}, eps = {eps!r}")
    if not d[2] - eps * d[3] > 0:
        raise ValueError(f"eps must satisfy eps * f'''(x_bar) < f''(x_bar) = {d[2]:.6g}, got eps = {eps!r}")
    return 2.0 / d[2], 2.0 / (d[2] - eps * d[3])


def lemma_1_window(f, eps: float, k: int, x: float | None = None) -> tuple[float, float]:
    """The learning-rate window of Lemma 1 (lowest nonzero derivative f^(k), k >= 4, after f'').

    * k odd: ``(2/f'', 2/(f'' - f^(k) eps^(k-2)))``, needs ``eps f^(k) > 0``;
      the lemma asserts a root when ``f^(k+1) < 0`` (reconstructed condition).
    * k even: ``(2/f'', 2/(f'' + f^(k) eps^(k-2)))``, needs ``f^(k) < 0``.

    Args:
      f: objective; eps: offset of x0 = x_bar - eps (nonzero real); k: integer in [4, 10].
      x: the minimum (default ``f.z_star``).

    Returns:
      ``(eta_lo, eta_hi)``.

    Raises:
      ValueError: if the sign condition on eps or f^(k) fails, or the window is not
        a bounded interval above 2/f''.

    References:
      Chen & Bruna (2023), Lemma 1 (the form of the ICLR 2023 submission).
    """
    eps = _real("eps", eps)
    k = _int("k", k, 4, 10)
    d = derivatives_at(f, x, k)
    f2, fk = d[2], d[k]
    if k % 2:
        if not eps * fk > 0:
            raise ValueError(f"eps must satisfy eps * f^({k})(x_bar) in (0, inf); f^({k}) = {fk:.6g}")
        den = f2 - fk * eps ** (k - 2)
    else:
        if not fk < 0:
            raise ValueError(f"k = {k} even needs f^({k})(x_bar) in (-inf, 0), got {fk:.6g}")
        den = f2 + fk * eps ** (k - 2)
    if not 0 < den < f2:
        raise ValueError(f"eps = {eps!r} too large: the window's upper end 2/{den:.6g} is not finite")
    return 2.0 / f2, 2.0 / den


@functools.partial(jax.jit, static_argnames=("fn",))
def _two_step_kernel(fn, x0, etas):
    fp = jax.grad(fn)

    def g(eta):
        x1 = x0 - eta * fp(x0)
        return x1 - eta * fp(x1) - x0

    return jax.vmap(g)(etas)


def two_step_residual(f, x0: float, etas) -> np.ndarray:
    """G(eta) = F_eta^2(x0) - x0 for every eta (vectorised).

    Args:
      f: objective; x0: starting point (finite real); etas: step size(s), any shape, each > 0.

    Returns:
      G with the shape of ``etas``.

    References:
      Chen & Bruna (2023), App. C (the proof evaluates G at both ends of the window).
    """
    x0 = _real("x0", x0)
    e = _reals("etas", etas, 0.0)
    out = _two_step_kernel(_fn(f), jnp.asarray(x0, _float()), jnp.asarray(e.ravel(), _float()))
    return np.asarray(out, dtype=float).reshape(e.shape)


class TwoStepRoot(NamedTuple):
    """Result of :func:`two_step_root`.

    Attributes:
      eta: the root eta* of G(eta) = F_eta^2(x0) - x0 in the window (NaN if none found).
      window: the searched interval.
      bracketed: G(eta_lo) G(eta_hi) < 0, the intermediate-value argument of App. C.
      g_lo, g_hi: G at the window's ends.
      sign_changes: number of sign changes of G on the scan grid.
      one_step_gap: |F_eta*(x0) - x0| at the root: nonzero means a genuine 2-cycle
        (x0 is not a fixed point of F).
    """

    eta: float
    window: tuple[float, float]
    bracketed: bool
    g_lo: float
    g_hi: float
    sign_changes: int
    one_step_gap: float


def two_step_root(f, x0: float, window: tuple[float, float], num_scan: int = 401) -> TwoStepRoot:
    """Root of ``F_eta^2(x0) = x0`` inside a learning-rate window (scan + ``brentq``).

    Args:
      f: objective; x0: the point that should lie on a 2-cycle.
      window: ``(eta_lo, eta_hi)`` with 0 < eta_lo < eta_hi < inf.
      num_scan: number of scan points, an integer in [2, 100000]; the scan counts sign
        changes of G, so that "exactly one root" can be asserted.

    Returns:
      :class:`TwoStepRoot`. If G changes sign, ``brentq`` (xtol 1e-15) refines the first
      sign change (the whole window when its ends bracket).

    References:
      Chen & Bruna (2023), Theorem 1 and Lemma 1.
    """
    x0 = _real("x0", x0)
    lo, hi = (float(v) for v in window)
    if not (0 < lo < hi < math.inf):
        raise ValueError(f"window must satisfy 0 < eta_lo < eta_hi < inf, got {window!r}")
    num_scan = _int("num_scan", num_scan, 2, 100000)
    grid = np.linspace(lo, hi, num_scan)
    g = two_step_residual(f, x0, grid)
    s = np.sign(g)
    changes = int(np.sum(s[:-1] * s[1:] < 0))
    bracketed = bool(g[0] * g[-1] < 0)

    def G(e):
        return float(two_step_residual(f, x0, np.array([e]))[0])

    eta = math.nan
    if bracketed:
        eta = brentq(G, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200)
    elif changes:
        i = int(np.argmax(s[:-1] * s[1:] < 0))
        eta = brentq(G, grid[i], grid[i + 1], xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200)
    gap = math.nan
    if math.isfinite(eta):
        fp = float(jax.grad(_fn(f))(jnp.asarray(x0, _float())))
        gap = abs(eta * fp)
    return TwoStepRoot(eta, (lo, hi), bracketed, float(g[0]), float(g[-1]), changes, gap)


@functools.partial(jax.jit, static_argnames=("fn",))
def _cycle_indicator_kernel(fn, eta, xs):
    fp = jax.grad(fn)

    def q(x):
        x1 = x - eta * fp(x)
        x2 = x1 - eta * fp(x1)
        return (x2 - x) / (x1 - x)

    return jax.vmap(q)(xs)


def two_cycle_indicator(f, eta: float, xs) -> np.ndarray:
    """Q(x) = (F^2(x) - x) / (F(x) - x): its zeros are exactly the genuine 2-cycle points.

    Dividing out F(x) - x removes the fixed points of F (in particular the minimum),
    where F^2(x) - x also vanishes. Near a minimum Q(x_bar) = 2 - eta f''(x_bar).

    Args:
      f: objective; eta: step size in (0, inf); xs: points (any shape) where F(x) != x.

    Returns:
      Q at ``xs`` (NaN where F(x) = x exactly: 0/0 is not a value of Q).

    References:
      Chen & Bruna (2023), Definition 2.
    """
    eta = _real("eta", eta, 0.0)
    x = np.asarray(xs, dtype=float)
    out = _cycle_indicator_kernel(_fn(f), jnp.asarray(eta, _float()), jnp.asarray(x.ravel(), _float()))
    return np.asarray(out, dtype=float).reshape(x.shape)


# --------------------------------------------------------------------------- GD tails


@dataclass(frozen=True)
class GDStep:
    """The GD map ``(x, eta) -> x - eta f'(x)`` as a hashable step for :func:`eoslib.gd.iterate`.

    Attributes:
      fn: the objective (a hashable JAX-traceable callable).
    """

    fn: Callable[[Array], Array]

    def __call__(self, x: Array, eta: Array) -> Array:
        return x - eta * jax.grad(self.fn)(x)


class GDTail(NamedTuple):
    """Last iterates of GD runs (see :func:`gd_tail`).

    Attributes:
      tail: shape ``(n, keep)``: iterates ``x_T, ..., x_{T+keep-1}``. A diverged run repeats
        its last valid iterate (the :mod:`eoslib.gd` convention: never NaN).
      diverged_at: shape ``(n,)``, first invalid step (-1: never), as in :mod:`eoslib.gd`.
    """

    tail: np.ndarray
    diverged_at: np.ndarray

    def report(self) -> str:
        """``"k of n runs diverged (earliest at step t)"`` or ``"no run diverged"``."""
        bad = self.diverged_at >= 0
        if not bad.any():
            return f"none of {bad.size} runs diverged"
        return f"{int(bad.sum())} of {bad.size} runs diverged (earliest at step {int(self.diverged_at[bad].min())})"


def gd_tail(f, eta, x0, num_steps: int, keep: int = 8, max_norm: float = 1e8) -> GDTail:
    """GD on a 1-D objective for many (eta, x0) pairs; return the last ``keep`` iterates.

    One :func:`eoslib.gd.iterate_batched` call runs ``num_steps`` steps of every run, a second
    records ``keep - 1`` more.

    Args:
      f: objective (:class:`~eoslib.losses.ScalarLoss` or hashable callable).
      eta: step size(s) in (0, inf), broadcast against ``x0``.
      x0: starting point(s), finite.
      num_steps: GD steps before the tail, an integer >= 1.
      keep: tail length, an integer in [1, 4096].
      max_norm: divergence threshold on |x|, in (0, inf] (see :mod:`eoslib.gd`).

    Returns:
      :class:`GDTail` with flattened leading axis.
    """
    num_steps = _int("num_steps", num_steps, 1)
    keep = _int("keep", keep, 1, 4096)
    e, x = np.broadcast_arrays(_reals("eta", eta, 0.0), np.asarray(x0, dtype=float))
    e, x = e.ravel(), x.ravel()
    if not np.all(np.isfinite(x)):
        raise ValueError("x0 must be finite")
    step = GDStep(_fn(f))
    etas = jnp.asarray(e, _float())
    head = gd.iterate_batched(step, jnp.asarray(x, _float()), num_steps, args=(etas,),
                              batch_args=True, max_norm=max_norm)
    div = np.array(head.diverged_at, dtype=np.int64)
    if keep == 1:
        return GDTail(np.asarray(head.final, dtype=float)[:, None], div)
    rest = gd.iterate_batched(step, head.final, keep - 1, args=(etas,), batch_args=True,
                              record_every=1, max_norm=max_norm)
    tail = np.array(rest.params, dtype=float)
    # A run that diverged in the head stays frozen at its last valid iterate.
    frozen = div >= 0
    tail[frozen] = np.asarray(head.final, dtype=float)[frozen, None]
    late = (~frozen) & (np.asarray(rest.diverged_at) >= 0)
    div[late] = num_steps + np.asarray(rest.diverged_at)[late]
    return GDTail(tail, div)


def tail_period(tail, tol: float = 1e-9) -> np.ndarray:
    """Smallest period p (p <= keep/2) with ``|x_{j+p} - x_j| <= tol`` along each tail.

    Args:
      tail: a :class:`GDTail` (diverged runs get -1), or an array of shape ``(n, keep)``.
      tol: absolute tolerance in (0, inf).

    Returns:
      Integer array ``(n,)``: the period, 0 if none up to keep/2 (aperiodic or not yet
      converged), -1 for a diverged run (or a non-finite tail).
    """
    tol = _real("tol", tol, 0.0)
    diverged = None
    if isinstance(tail, GDTail):
        tail, diverged = tail.tail, np.asarray(tail.diverged_at) >= 0
    t = np.atleast_2d(np.asarray(tail, dtype=float))
    out = np.zeros(t.shape[0], dtype=np.int64)
    bad = ~np.all(np.isfinite(t), axis=1)
    if diverged is not None:
        bad |= diverged
    done = bad.copy()
    out[bad] = -1
    for p in range(1, t.shape[1] // 2 + 1):
        ok = np.all(np.abs(t[:, p:] - t[:, :-p]) <= tol, axis=1) & ~done
        out[ok], done[ok] = p, True
    return out
