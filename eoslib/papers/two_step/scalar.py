"""Chen & Bruna (2023), 1-D and 2-D theory: two-step fixed points, base models, the quartic, balancing.

The paper studies GD beyond the edge of stability through the two-step map
``F_eta^2 = F_eta o F_eta`` with ``F_eta(x) = x - eta f'(x)``. This module holds the
objects its one- and two-dimensional statements are made of, so that the notebooks only
compare them with autodiff, root finding and long GD runs:

* Theorem 1 / Lemma 1: the stability number ``C = 3 f'''^2 - f'' f''''`` at a minimum, the
  learning-rate windows of the two statements and a bracketing root search for
  ``F_eta^2(x0) = x0`` inside them.
* Proposition 1 and Corollaries 1-8: squared loss ``(g(x) - y)^2`` on the base models
  (x^2, sin, tanh, x^k, exp, log, sigmoid, softplus, gaussian), with closed-form
  derivatives of every ``g`` (independent of autodiff).
* Proposition 2: chain-rule derivatives of ``h o g`` and the terms of the composition
  margin ``6 F''^2 - F' F'''`` (the rule is false as stated; see the sheet's flag).
* Theorem 2: ``f = 1/4 (x^2 - mu)^2``, its period-2 orbit ``delta_{1,2}`` in closed form,
  the orbit multiplier ``9 - 2 (1 + K)^2`` and the period-doubling cascade beyond it.
* Theorem 3, Lemma 2, Proposition 3: ``f = 1/2 (xy - mu)^2``, balancing statistics of many
  runs at once, and the Damian et al. stable set of this function (Figure 3).

Conventions: a 1-D objective is a :class:`ScalarFunction` (a hashable callable plus the
minimum ``x_bar`` of interest), so compiled kernels are cached per function. ``K = eta mu``
is the learning rate in units of the flattest minimum's EoS threshold. Nothing here enables
float64: call ``jax.config.update("jax_enable_x64", True)`` first for the precision the
checks assume.

References:
  L. Chen and J. Bruna, "Beyond the Edge of Stability via Two-step Gradient Updates",
  ICML 2023, arXiv:2206.04172.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax
from scipy.optimize import brentq

from eoslib import gd, orbits
from eoslib.losses import derivatives as _derivatives
from eoslib.validation import integer as _int, real as _real, reals as _reals

__all__ = [
    # 1-D objectives and the stability number
    "ScalarFunction",
    "taylor_polynomial",
    "quartic",
    "scaled_sine",
    "derivatives_at",
    "stability_number",
    # Theorem 1 / Lemma 1
    "theorem_1_window",
    "lemma_1_window",
    "two_step_residual",
    "TwoStepRoot",
    "two_step_root",
    "two_cycle_indicator",
    "GDTail",
    "gd_tail",
    "tail_period",
    # Proposition 1, Corollaries
    "BaseModel",
    "base_model",
    "BASE_MODEL_KINDS",
    "COROLLARY_MODELS",
    "squared_loss_on",
    "squared_loss_derivatives",
    "prop_1_derivatives",
    "prop_1_stability",
    "prop_1_condition",
    # Proposition 2
    "composed_squared_loss",
    "composition_derivatives",
    "composition_margin_terms",
    "repaired_composition_condition",
    "prop_2_counterexample",
    # Theorem 2
    "K_MONOTONE",
    "K_FLIP",
    "orbit_deltas",
    "eta_from_delta",
    "orbit_multiplier",
    "QuarticMap",
    "quartic_map",
    "DoublingPoint",
    "period_doubling_point",
    "lyapunov_exponent",
    # Theorem 3, Lemma 2, Proposition 3
    "Product2D",
    "product_2d",
    "Product2DMap",
    "product_2d_map",
    "imbalance_rate",
    "init_from_product_imbalance",
    "BalancingStats",
    "balancing_stats",
    # Figure 3 (stable set of Damian et al.)
    "stable_set_2d",
    "stable_arc",
    "project_onto_arc",
]

#: Upper end of Theorem 2's range: the orbit multiplier 9 - 2 (1 + K)^2 is positive below it.
K_MONOTONE: float = math.sqrt(4.5) - 1.0
#: The orbit multiplier 9 - 2 (1 + K)^2 reaches -1 here (flip to period 4; App. L).
K_FLIP: float = math.sqrt(5.0) - 1.0


# --------------------------------------------------------------------------- validation








def _float():
    return jnp.result_type(float)


# --------------------------------------------------------------------------- 1-D objectives


@dataclass(frozen=True)
class ScalarFunction:
    """A 1-D objective f: R -> R with a local minimum ``x_bar`` of interest.

    Attributes:
      name: short identifier used in check lines, e.g. ``"quartic_mu1"``.
      fn: JAX-traceable, hashable callable of a scalar array (a frozen dataclass), so that
        compiled kernels are cached per function.
      x_bar: the local minimum (f'(x_bar) = 0, f''(x_bar) > 0).
      latex: formula for plot labels and tables.
    """

    name: str
    fn: Callable[[Array], Array]
    x_bar: float
    latex: str

    def __call__(self, x: Array) -> Array:
        return self.fn(x)


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


def taylor_polynomial(derivs, center: float = 0.0, name: str | None = None) -> ScalarFunction:
    """f(x) = sum_{k>=2} d_k (x - c)^k / k!: a test function with prescribed derivatives at c.

    Args:
      derivs: ``(f''(c), f'''(c), f''''(c), ...)``, at least one entry; ``f''(c)`` must be
        in (0, inf) so that c is a strict local minimum.
      center: the minimum c.
      name: identifier (default built from the coefficients).

    Returns:
      A :class:`ScalarFunction` with ``x_bar = center``; e.g. ``(1, a, b)`` gives stability
      number ``3 a^2 - b``, ``(1,)`` the quadratic (Remark 2 of Theorem 1).

    References:
      Chen & Bruna (2023), Theorem 1 and Lemma 1 (test functions of the sheet, Sec. 8).
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
    return ScalarFunction(label, _Taylor(d, center), center, "".join(terms).lstrip("+"))


@dataclass(frozen=True)
class _Quartic:
    mu: float

    def __call__(self, x):
        return 0.25 * (x * x - self.mu) ** 2


def quartic(mu: float = 1.0) -> ScalarFunction:
    """f(x) = 1/4 (x^2 - mu)^2 with the minimum sqrt(mu) (f'' = 2 mu, f''' = 6 sqrt(mu), f'''' = 6).

    Args:
      mu: target, in (0, inf).

    Returns:
      A :class:`ScalarFunction`; its EoS threshold at sqrt(mu) is eta = 1/mu and its
      stability number is 3 (6 sqrt(mu))^2 - 2 mu * 6 = 96 mu.

    References:
      Chen & Bruna (2023), Theorem 2 and Figure 4.
    """
    mu = _real("mu", mu, 0.0)
    return ScalarFunction(f"quartic_mu{mu:g}", _Quartic(mu), math.sqrt(mu),
                          rf"\tfrac14(x^2-{mu:g})^2")


@dataclass(frozen=True)
class _ScaledSine:
    a: float

    def __call__(self, x):
        return self.a * jnp.sin(x)


def scaled_sine(a: float = 1.0) -> ScalarFunction:
    """f(x) = a sin x at its minimum -pi/2 (f'' = a, f''' = 0, f'''' = -a).

    Args:
      a: amplitude, in (0, inf); a = 2 is the function of Figure 4 (EoS threshold 1).

    Returns:
      A :class:`ScalarFunction`. Theorem 1's condition (i) fails (f''' = 0), Lemma 1 with
      k = 4 applies.

    References:
      Chen & Bruna (2023), Corollary 1, Lemma 1, Figure 4.
    """
    a = _real("a", a, 0.0)
    return ScalarFunction(f"sin_a{a:g}", _ScaledSine(a), -math.pi / 2,
                          (rf"{a:g}\sin x" if a != 1 else r"\sin x"))


def _fn(f) -> Callable:
    return f.fn if isinstance(f, ScalarFunction) else f


def _x_bar(f, x) -> float:
    if x is None:
        if not isinstance(f, ScalarFunction):
            raise ValueError("x must be given (a real number) when f is not a ScalarFunction")
        return f.x_bar
    return _real("x", x)


def derivatives_at(f, x: float | None = None, max_order: int = 4) -> np.ndarray:
    """``[f(x), f'(x), ..., f^(max_order)(x)]`` by nested ``jax.grad`` (float64 numpy array).

    Args:
      f: a :class:`ScalarFunction` or any differentiable scalar callable.
      x: evaluation point (default ``f.x_bar``).
      max_order: highest order, an integer in [0, 12].

    Returns:
      Array of shape (max_order + 1,).
    """
    max_order = _int("max_order", max_order, 0, 12)
    x = _x_bar(f, x)
    return np.asarray(_derivatives(_fn(f), jnp.asarray(x, _float()), max_order), dtype=float)


def stability_number(f, x: float | None = None) -> float:
    """The stability number C = 3 f'''(x)^2 - f''(x) f''''(x) (autodiff).

    Args:
      f: a :class:`ScalarFunction` or differentiable scalar callable.
      x: the minimum (default ``f.x_bar``).

    Returns:
      C as a float. C > 0: a stable 2-cycle is born just beyond eta = 2/f''.

    References:
      Chen & Bruna (2023), Theorem 1 (condition ii); the first Lyapunov coefficient of
      the flip bifurcation, up to a positive factor.
    """
    d = derivatives_at(f, x, 4)
    return float(3.0 * d[3] ** 2 - d[2] * d[4])


# --------------------------------------------------------------------------- Theorem 1, Lemma 1


def theorem_1_window(f, eps: float, x: float | None = None) -> tuple[float, float]:
    """The learning-rate window (2/f'', 2/(f'' - eps f''')) of Theorem 1.

    Args:
      f: objective (:class:`ScalarFunction` or callable).
      eps: offset of the starting point x0 = x_bar - eps; must be a nonzero real with
        ``eps * f'''(x_bar) > 0`` and ``f'' - eps f''' > 0``.
      x: the minimum (default ``f.x_bar``).

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
      the lemma asserts a root when ``f^(k+1) < 0``.
    * k even: ``(2/f'', 2/(f'' + f^(k) eps^(k-2)))``, needs ``f^(k) < 0``.

    Args:
      f: objective; eps: offset of x0 = x_bar - eps (nonzero real); k: integer in [4, 10].
      x: the minimum (default ``f.x_bar``).

    Returns:
      ``(eta_lo, eta_hi)``.

    Raises:
      ValueError: if the sign condition on eps or f^(k) fails, or the window is not
        a bounded interval above 2/f''.

    References:
      Chen & Bruna (2023), Lemma 1 (form of the ICLR draft; sheet Sec. 1).
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
      f: objective; x0: starting point (finite real); etas: step size(s), any shape, > 0.

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
      window: ``(eta_lo, eta_hi)`` with 0 < eta_lo < eta_hi.
      num_scan: number of scan points, an integer in [2, 100000]; the scan counts sign
        changes so that "no root" is a statement about the whole window, not only its ends.

    Returns:
      :class:`TwoStepRoot`. If G changes sign, ``brentq`` (xtol 1e-15) refines the first
      sign change (the whole window if it brackets).

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
      Q at ``xs`` (NaN where F(x) = x exactly).

    References:
      Chen & Bruna (2023), Definition 2.
    """
    eta = _real("eta", eta, 0.0)
    x = np.asarray(xs, dtype=float)
    out = _cycle_indicator_kernel(_fn(f), jnp.asarray(eta, _float()), jnp.asarray(x.ravel(), _float()))
    return np.asarray(out, dtype=float).reshape(x.shape)


class GDTail(NamedTuple):
    """Last iterates of GD runs (see :func:`gd_tail`).

    Attributes:
      tail: shape ``(n, keep)``: iterates ``x_T, ..., x_{T+keep-1}``; NaN for diverged runs.
      diverged_at: shape ``(n,)``, first invalid step (-1: never), as in :mod:`eoslib.gd`.
    """

    tail: np.ndarray
    diverged_at: np.ndarray


@functools.partial(jax.jit, static_argnames=("fn", "keep"))
def _continue_kernel(fn, x, etas, keep):
    fp = jax.grad(fn)

    def body(c, _):
        c = c - etas * jax.vmap(fp)(c)
        return c, c

    _, xs = lax.scan(body, x, None, length=keep - 1)
    return jnp.concatenate([x[None], xs]).T


def gd_tail(f, eta, x0, num_steps: int, keep: int = 8, max_norm: float = 1e8) -> GDTail:
    """GD on a 1-D objective for many (eta, x0) pairs; return the last ``keep`` iterates.

    Runs are grouped by step size and each group is one vmapped
    :func:`eoslib.gd.sweep_initial_points` call.

    Args:
      f: objective (:class:`ScalarFunction` or hashable callable).
      eta: step size(s) in (0, inf), broadcast against ``x0``.
      x0: starting point(s), finite.
      num_steps: GD steps before the tail, an integer >= 1.
      keep: tail length, an integer in [1, 4096].
      max_norm: divergence threshold on |x| (see :mod:`eoslib.gd`).

    Returns:
      :class:`GDTail` with flattened leading axis.
    """
    num_steps = _int("num_steps", num_steps, 1)
    keep = _int("keep", keep, 1, 4096)
    e, x = np.broadcast_arrays(_reals("eta", eta, 0.0), np.asarray(x0, dtype=float))
    e, x = e.ravel(), x.ravel()
    if not np.all(np.isfinite(x)):
        raise ValueError("x0 must be finite")
    fn = _fn(f)
    final = np.empty_like(x)
    div = np.empty(x.shape, dtype=np.int64)
    for val in np.unique(e):
        idx = np.nonzero(e == val)[0]
        traj = gd.sweep_initial_points(fn, jnp.asarray(x[idx]), float(val), num_steps,
                                       max_norm=max_norm)
        final[idx] = np.asarray(traj.params)[:, -1]
        div[idx] = np.asarray(traj.diverged_at)
    tail = np.array(_continue_kernel(fn, jnp.asarray(final), jnp.asarray(e), keep), dtype=float)
    tail[div >= 0] = np.nan
    return GDTail(tail, div)


def tail_period(tail, tol: float = 1e-9) -> np.ndarray:
    """Smallest period p (p <= keep/2) with ``|x_{j+p} - x_j| <= tol`` along each tail.

    Args:
      tail: shape ``(n, keep)`` (e.g. ``GDTail.tail``).
      tol: absolute tolerance in (0, inf).

    Returns:
      Integer array ``(n,)``: the period, 0 if none up to keep/2 (aperiodic or not yet
      converged), -1 for a diverged (NaN) run.
    """
    tol = _real("tol", tol, 0.0)
    t = np.atleast_2d(np.asarray(tail, dtype=float))
    out = np.zeros(t.shape[0], dtype=np.int64)
    done = np.zeros(t.shape[0], dtype=bool)
    bad = ~np.all(np.isfinite(t), axis=1)
    out[bad], done[bad] = -1, True
    for p in range(1, t.shape[1] // 2 + 1):
        ok = np.all(np.abs(t[:, p:] - t[:, :-p]) <= tol, axis=1) & ~done
        out[ok], done[ok] = p, True
    return out


# --------------------------------------------------------------------------- Prop 1, Corollaries

#: Kinds of base model g accepted by :func:`base_model`.
BASE_MODEL_KINDS = ("square", "sin", "tanh", "monomial", "exp", "log", "sigmoid", "softplus",
                    "gaussian", "cubic")


@dataclass(frozen=True)
class BaseModel:
    """A base model g: R -> R with closed-form g', g'', g''' and inverse (Prop 1, App. E).

    Build one with :func:`base_model`.

    Attributes:
      kind: one of :data:`BASE_MODEL_KINDS`.
      k: exponent of the monomial x^k (unused otherwise).
      coeffs: ``(c1, c2, c3)`` of the cubic ``c1 x + c2 x^2 + c3 x^3`` (unused otherwise).
    """

    kind: str
    k: float = 0.0
    coeffs: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def latex(self) -> str:
        c1, c2, c3 = self.coeffs
        return {
            "square": "x^2", "sin": r"\sin x", "tanh": r"\tanh x", "monomial": f"x^{{{self.k:g}}}",
            "exp": "e^x", "log": r"\log x", "sigmoid": r"\sigma(x)", "softplus": r"\log(1+e^x)",
            "gaussian": r"e^{-x^2/2}", "cubic": f"{c1:g}x{c2:+g}x^2{c3:+g}x^3",
        }[self.kind]

    @property
    def name(self) -> str:
        if self.kind == "monomial":
            return f"x^{self.k:g}"
        if self.kind == "cubic":
            return "cubic(" + ",".join(f"{c:g}" for c in self.coeffs) + ")"
        return self.kind

    def __call__(self, x):
        """g(x), JAX-traceable."""
        kind = self.kind
        if kind == "square":
            return x * x
        if kind == "sin":
            return jnp.sin(x)
        if kind == "tanh":
            return jnp.tanh(x)
        if kind == "monomial":
            return x ** self.k
        if kind == "exp":
            return jnp.exp(x)
        if kind == "log":
            return jnp.log(x)
        if kind == "sigmoid":
            return jax.nn.sigmoid(x)
        if kind == "softplus":
            return jnp.logaddexp(x, jnp.zeros_like(x))
        if kind == "gaussian":
            return jnp.exp(-0.5 * x * x)
        c1, c2, c3 = self.coeffs
        return c1 * x + c2 * x * x + c3 * x * x * x

    def target_range(self) -> tuple[float, float]:
        """Open interval of targets y with a minimum x_bar = g^{-1}(y) where g'(x_bar) != 0."""
        return {
            "square": (0.0, math.inf), "sin": (-1.0, 1.0), "tanh": (-1.0, 1.0),
            "monomial": (0.0, math.inf), "exp": (0.0, math.inf), "log": (-math.inf, math.inf),
            "sigmoid": (0.0, 1.0), "softplus": (0.0, math.inf), "gaussian": (0.0, 1.0),
            "cubic": (-math.inf, math.inf),
        }[self.kind]

    def minimum(self, y: float) -> float:
        """The minimum x_bar of (g(x) - y)^2, i.e. the branch of g^{-1}(y) used in App. E.

        Args:
          y: target in :meth:`target_range` (for ``cubic`` only y = 0, with x_bar = 0).

        Returns:
          x_bar (sqrt(y), arcsin y, artanh y, y^(1/k), log y, e^y, logit y, log(e^y - 1),
          sqrt(-2 log y) respectively).
        """
        lo, hi = self.target_range()
        y = _real("y", y, lo, hi)
        kind = self.kind
        if kind == "cubic":
            if y != 0.0:
                raise ValueError(f"y must be 0 for the cubic base model (x_bar = 0), got {y!r}")
            return 0.0
        if kind == "gaussian" and y == 1.0:
            raise ValueError("y must be in (0, 1) for the gaussian")
        return {
            "square": lambda: math.sqrt(y), "sin": lambda: math.asin(y), "tanh": lambda: math.atanh(y),
            "monomial": lambda: y ** (1.0 / self.k), "exp": lambda: math.log(y),
            "log": lambda: math.exp(y), "sigmoid": lambda: math.log(y / (1.0 - y)),
            "softplus": lambda: math.log(math.expm1(y)), "gaussian": lambda: math.sqrt(-2.0 * math.log(y)),
        }[kind]()

    def derivs(self, x) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Closed-form ``(g, g', g'', g''')`` at x (numpy; independent of autodiff).

        Args:
          x: point(s), float or array.

        Returns:
          Four arrays shaped like ``x``.
        """
        x = np.asarray(x, dtype=float)
        kind = self.kind
        if kind == "square":
            return x * x, 2 * x, np.full_like(x, 2.0), np.zeros_like(x)
        if kind == "sin":
            return np.sin(x), np.cos(x), -np.sin(x), -np.cos(x)
        if kind == "tanh":
            t = np.tanh(x)
            s = 1 - t * t
            return t, s, -2 * t * s, s * (6 * t * t - 2)
        if kind == "monomial":
            k = self.k
            return x**k, k * x ** (k - 1), k * (k - 1) * x ** (k - 2), k * (k - 1) * (k - 2) * x ** (k - 3)
        if kind == "exp":
            e = np.exp(x)
            return e, e, e, e
        if kind == "log":
            return np.log(x), 1 / x, -1 / x**2, 2 / x**3
        if kind == "sigmoid":
            s = 1 / (1 + np.exp(-x))
            q = s * (1 - s)
            return s, q, q * (1 - 2 * s), q * (1 - 6 * q)
        if kind == "softplus":
            s = 1 / (1 + np.exp(-x))
            q = s * (1 - s)
            return np.logaddexp(x, 0.0), s, q, q * (1 - 2 * s)
        if kind == "gaussian":
            g = np.exp(-0.5 * x * x)
            return g, -x * g, (x * x - 1) * g, x * (3 - x * x) * g
        c1, c2, c3 = self.coeffs
        return c1 * x + c2 * x**2 + c3 * x**3, c1 + 2 * c2 * x + 3 * c3 * x**2, 2 * c2 + 6 * c3 * x, np.full_like(x, 6 * c3)


def base_model(kind: str, k: float | None = None, coeffs=None) -> BaseModel:
    """A base model g for Proposition 1 and Corollaries 2-8.

    Args:
      kind: one of :data:`BASE_MODEL_KINDS`: ``square`` (x^2, Cor 2), ``sin`` (Cor 3),
        ``tanh`` (Cor 4), ``monomial`` (x^k, Cor 5), ``exp`` (Cor 6), ``log`` (Cor 7),
        ``sigmoid`` (Cor 8), ``softplus`` and ``gaussian`` (listed in the text, no number),
        ``cubic`` (c1 x + c2 x^2 + c3 x^3, for Prop 2's counterexample).
      k: exponent of the monomial, a real number in (0, inf) (required for ``monomial``).
      coeffs: ``(c1, c2, c3)`` of the cubic, c1 != 0 (required for ``cubic``).

    Returns:
      A :class:`BaseModel` (hashable, so compiled kernels are reused).

    References:
      Chen & Bruna (2023), Proposition 1, Corollaries 2-8, App. E.
    """
    if kind not in BASE_MODEL_KINDS:
        raise ValueError(f"kind must be one of {'|'.join(BASE_MODEL_KINDS)}, got {kind!r}")
    if kind == "monomial":
        return BaseModel(kind, k=_real("k", k, 0.0))
    if kind == "cubic":
        c = tuple(float(v) for v in np.asarray(coeffs if coeffs is not None else (), dtype=float).ravel())
        if len(c) != 3 or not all(math.isfinite(v) for v in c) or c[0] == 0:
            raise ValueError(f"coeffs must be three finite reals (c1, c2, c3) with c1 != 0, got {coeffs!r}")
        return BaseModel(kind, coeffs=c)
    return BaseModel(kind)


#: Corollary number -> (base model, sample target y) used by the notebooks. The mapping of
#: Corollaries 3-8 onto the listed models is the sheet's best reading (flagged uncertain).
COROLLARY_MODELS: dict[str, tuple[BaseModel, float]] = {
    "Corollary 2": (BaseModel("square"), 2.0),
    "Corollary 3": (BaseModel("sin"), 0.5),
    "Corollary 4": (BaseModel("tanh"), 0.5),
    "Corollary 5": (BaseModel("monomial", k=3.0), 2.0),
    "Corollary 6": (BaseModel("exp"), 2.0),
    "Corollary 7": (BaseModel("log"), 0.3),
    "Corollary 8": (BaseModel("sigmoid"), 0.3),
}


@dataclass(frozen=True)
class _SquaredOn:
    model: BaseModel
    y: float

    def __call__(self, x):
        return (self.model(x) - self.y) ** 2


def squared_loss_on(model: BaseModel, y: float) -> ScalarFunction:
    """f(x) = (g(x) - y)^2 with its minimum x_bar = g^{-1}(y).

    Args:
      model: base model g (:func:`base_model`).
      y: target in ``model.target_range()``.

    Returns:
      A :class:`ScalarFunction`.

    References:
      Chen & Bruna (2023), Proposition 1.
    """
    if not isinstance(model, BaseModel):
        raise ValueError(f"model must be an eoslib BaseModel, got {type(model).__name__}")
    x_bar = model.minimum(y)
    return ScalarFunction(f"({model.name}-{float(y):g})^2", _SquaredOn(model, float(y)), x_bar,
                          rf"({model.latex}-{float(y):g})^2")


@functools.partial(jax.jit, static_argnames=("model", "max_order"))
def _squared_derivs_kernel(model, xs, ys, max_order):
    def one(x, y):
        g = lambda z: (model(z) - y) ** 2  # noqa: E731
        out = []
        for _ in range(max_order + 1):
            out.append(g(x))
            g = jax.grad(g)
        return jnp.stack(out)

    return jax.vmap(one)(xs, ys)


def squared_loss_derivatives(model: BaseModel, ys, max_order: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Autodiff derivatives of (g(x) - y)^2 at its minimum, vectorised over targets y.

    One compiled kernel per base model (the target is traced), so a grid of targets costs
    one compilation, unlike building a :class:`ScalarFunction` per target.

    Args:
      model: base model g.
      ys: targets (1-D array), each in ``model.target_range()``.
      max_order: highest derivative order, an integer in [0, 8].

    Returns:
      ``(x_bar, derivs)`` with ``derivs[i] = [f, f', ..., f^(max_order)]`` at x_bar[i].

    References:
      Chen & Bruna (2023), Proposition 1 (Eqs. 29-31 are what these are compared with).
    """
    if not isinstance(model, BaseModel):
        raise ValueError(f"model must be an eoslib BaseModel, got {type(model).__name__}")
    max_order = _int("max_order", max_order, 0, 8)
    y = np.atleast_1d(np.asarray(ys, dtype=float))
    if y.ndim != 1:
        raise ValueError(f"ys must be a 1-D array, got shape {y.shape}")
    xb = np.array([model.minimum(float(v)) for v in y])
    out = _squared_derivs_kernel(model, jnp.asarray(xb, _float()), jnp.asarray(y, _float()), max_order)
    return xb, np.asarray(out, dtype=float)


def prop_1_derivatives(g1, g2, g3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f'', f''', f'''' of f = (g - y)^2 at x_bar with g(x_bar) = y (Eqs. 29-31).

    Args:
      g1, g2, g3: g', g'', g''' at x_bar (floats or arrays).

    Returns:
      ``(2 g'^2, 6 g' g'', 8 g' g''' + 6 g''^2)``.

    References:
      Chen & Bruna (2023), Proposition 1, App. E.
    """
    g1, g2, g3 = (np.asarray(v, dtype=float) for v in (g1, g2, g3))
    return 2 * g1**2, 6 * g1 * g2, 8 * g1 * g3 + 6 * g2**2


def prop_1_stability(g1, g2, g3) -> np.ndarray:
    """C = 16 g'^2 (6 g''^2 - g' g''') for f = (g - y)^2 at x_bar.

    Args:
      g1, g2, g3: g', g'', g''' at x_bar.

    Returns:
      The stability number.

    References:
      Chen & Bruna (2023), Proposition 1 (Eqs. 32-33).
    """
    g1, g2, g3 = (np.asarray(v, dtype=float) for v in (g1, g2, g3))
    return 16 * g1**2 * (6 * g2**2 - g1 * g3)


def prop_1_condition(g1, g2, g3) -> np.ndarray:
    """Proposition 1's hypotheses: g' != 0, g'' != 0 and g' g''' < 6 g''^2.

    Args:
      g1, g2, g3: g', g'', g''' at x_bar.

    Returns:
      Boolean (array).

    References:
      Chen & Bruna (2023), Proposition 1, conditions (i)-(iii).
    """
    g1, g2, g3 = (np.asarray(v, dtype=float) for v in (g1, g2, g3))
    return (g1 != 0) & (g2 != 0) & (g1 * g3 < 6 * g2**2)


# --------------------------------------------------------------------------- Proposition 2


@dataclass(frozen=True)
class _ComposedSquared:
    h: BaseModel
    g: BaseModel
    y: float

    def __call__(self, x):
        return (self.h(self.g(x)) - self.y) ** 2


def composed_squared_loss(h: BaseModel, g: BaseModel, x_bar: float) -> ScalarFunction:
    """f(x) = (h(g(x)) - y)^2 with y = h(g(x_bar)), so that x_bar is a minimum.

    Args:
      h, g: base models (:func:`base_model`).
      x_bar: the minimum, a finite real where g and h are defined.

    Returns:
      A :class:`ScalarFunction`.

    References:
      Chen & Bruna (2023), Proposition 2.
    """
    if not (isinstance(h, BaseModel) and isinstance(g, BaseModel)):
        raise ValueError("h and g must be eoslib BaseModel instances")
    x_bar = _real("x_bar", x_bar)
    y = float(h.derivs(g.derivs(x_bar)[0])[0])
    if not math.isfinite(y):
        raise ValueError(f"x_bar must lie in the domain of h o g, got {x_bar!r}")
    return ScalarFunction(f"({h.name}o{g.name}-{y:g})^2", _ComposedSquared(h, g, y), x_bar,
                          rf"(h(g(x))-{y:g})^2")


def composition_derivatives(h_derivs, g_derivs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chain rule: F', F'', F''' of F = h o g from (h', h'', h''') at g(x) and (g', g'', g''') at x.

    Args:
      h_derivs: ``(h1, h2, h3)``; g_derivs: ``(g1, g2, g3)`` (floats or arrays).

    Returns:
      ``(h1 g1, h2 g1^2 + h1 g2, h3 g1^3 + 3 h2 g1 g2 + h1 g3)``.

    References:
      Chen & Bruna (2023), Proposition 2 (proof sketch).
    """
    h1, h2, h3 = (np.asarray(v, dtype=float) for v in h_derivs)
    g1, g2, g3 = (np.asarray(v, dtype=float) for v in g_derivs)
    return h1 * g1, h2 * g1**2 + h1 * g2, h3 * g1**3 + 3 * h2 * g1 * g2 + h1 * g3


def composition_margin_terms(h_derivs, g_derivs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three terms of 6 F''^2 - F' F''' = g'^4 (6h''^2 - h'h''') + 9ab + h'^2 (6g''^2 - g'g''').

    Here a = h'' g'^2 and b = h' g''. Prop 1 for h and g makes the first and last terms
    positive; the cross term 9ab can be negative and dominate (the sheet's flag).

    Args:
      h_derivs: ``(h1, h2, h3)``; g_derivs: ``(g1, g2, g3)``.

    Returns:
      ``(outer, cross, inner)``; their sum is 6 F''^2 - F' F''' and
      C(h o g) = 16 F'^2 * sum.

    References:
      Chen & Bruna (2023), Proposition 2; companion sheet, flag [derived].
    """
    h1, h2, h3 = (np.asarray(v, dtype=float) for v in h_derivs)
    g1, g2, g3 = (np.asarray(v, dtype=float) for v in g_derivs)
    a, b = h2 * g1**2, h1 * g2
    return g1**4 * (6 * h2**2 - h1 * h3), 9 * a * b, h1**2 * (6 * g2**2 - g1 * g3)


def repaired_composition_condition(h_derivs, g_derivs) -> np.ndarray:
    """The companion's sufficient condition: h'h''' <= 3/2 h''^2 and g'g''' <= 3/2 g''^2, one strict.

    With g' h' != 0 it gives 6 F''^2 - F' F''' >= 9/2 (a + b)^2 + (strict slack) > 0, hence
    C(h o g) > 0. It is the companion's repair, not the paper's statement.

    Args:
      h_derivs: ``(h1, h2, h3)``; g_derivs: ``(g1, g2, g3)``.

    Returns:
      Boolean (array).

    References:
      Companion sheet, Proposition 2 flag ("a sufficient repaired condition [derived]").
    """
    h1, h2, h3 = (np.asarray(v, dtype=float) for v in h_derivs)
    g1, g2, g3 = (np.asarray(v, dtype=float) for v in g_derivs)
    ch = h1 * h3 - 1.5 * h2**2
    cg = g1 * g3 - 1.5 * g2**2
    return (h1 != 0) & (g1 != 0) & (ch <= 0) & (cg <= 0) & ((ch < 0) | (cg < 0))


def prop_2_counterexample() -> tuple[BaseModel, BaseModel, ScalarFunction]:
    """The sheet's counterexample to Proposition 2: h = exp at 0, g = x - 3/8 x^2 + 1/3 x^3 at 0.

    Each piece satisfies Proposition 1 (h'h''' = 1 < 6, g'g''' = 2 < 27/8), but F = h o g has
    F'F''' = 3/4 > 6 F''^2 = 3/8, so C((F - 1)^2) = -6.

    Returns:
      ``(h, g, f)`` with f = (exp(g(x)) - 1)^2 and x_bar = 0.

    References:
      Companion sheet, Proposition 2 flag.
    """
    h = base_model("exp")
    g = base_model("cubic", coeffs=(1.0, -3.0 / 8.0, 1.0 / 3.0))
    return h, g, composed_squared_loss(h, g, 0.0)


# --------------------------------------------------------------------------- Theorem 2


def orbit_deltas(eta, mu=1.0) -> tuple[np.ndarray, np.ndarray]:
    """Period-2 orbit of GD on 1/4 (x^2 - mu)^2: delta_{1,2} = (sqrt(mu + 3/eta) -+ sqrt(mu - 1/eta)) / 2.

    Args:
      eta: step size(s) with eta * mu > 1 (beyond the EoS of the minimum sqrt(mu)).
      mu: target(s) in (0, inf), broadcast against eta.

    Returns:
      ``(delta_1, delta_2)`` with delta_1 < sqrt(mu) < delta_2, delta_1 delta_2 = 1/eta.

    References:
      Chen & Bruna (2023), Theorem 2, Eq. 4 (closed form of the sheet, Sec. 0).
    """
    mu = _reals("mu", mu, 0.0)
    eta = _reals("eta", eta, 0.0)
    eta, mu = np.broadcast_arrays(eta, mu)
    if not np.all(eta * mu > 1):
        raise ValueError(f"eta * mu must be in (1, inf), got {eta * mu!r}")
    a, b = np.sqrt(mu + 3 / eta), np.sqrt(mu - 1 / eta)
    d1, d2 = 0.5 * (a - b), 0.5 * (a + b)
    return (float(d1), float(d2)) if d1.ndim == 0 else (d1, d2)


def eta_from_delta(delta, mu=1.0):
    """Eq. 4: eta = 1 / (delta^2 (sqrt(mu/delta^2 - 3/4) + 1/2)), the step whose orbit contains delta.

    Args:
      delta: orbit point(s) with 0 < delta < sqrt(4 mu / 3).
      mu: target in (0, inf).

    Returns:
      eta (float or array). The "+" branch; valid for K = eta mu <= 3/2.

    References:
      Chen & Bruna (2023), Theorem 2, Eq. 4 (ICLR Eq. 5).
    """
    mu = _real("mu", mu, 0.0)
    d = _reals("delta", delta, 0.0, math.sqrt(4 * mu / 3))
    out = 1.0 / (d**2 * (np.sqrt(mu / d**2 - 0.75) + 0.5))
    return float(out) if out.ndim == 0 else out


def orbit_multiplier(K):
    """Two-step multiplier of the period-2 orbit: (F^2)' = 9 - 2 (1 + K)^2, K = eta mu.

    Args:
      K: learning rate(s) in units of the EoS threshold, each in (1, inf).

    Returns:
      The multiplier (float or array): in (0, 1) for K < sqrt(4.5) - 1, reaching -1 at
      K = sqrt(5) - 1.

    References:
      Chen & Bruna (2023), Theorem 2 and App. L; companion sheet [derived].
    """
    k = _reals("K", K, 1.0)
    out = 9 - 2 * (1 + k) ** 2
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class QuarticMap:
    """``eta -> F_eta`` for GD on 1/4 (x^2 - mu)^2 (traceable in eta; for :mod:`eoslib.orbits`)."""

    mu: float

    def __call__(self, eta):
        mu = self.mu

        def step(x):
            return x - eta * x * (x * x - mu)

        return step


def quartic_map(mu: float = 1.0) -> QuarticMap:
    """The map factory ``eta -> (x -> x - eta x (x^2 - mu))`` for continuation and diagrams.

    Args:
      mu: target in (0, inf).

    Returns:
      A hashable :class:`QuarticMap` (compiled orbit kernels are cached per mu).

    References:
      Chen & Bruna (2023), Theorem 2, App. L.
    """
    return QuarticMap(_real("mu", mu, 0.0))


class DoublingPoint(NamedTuple):
    """A period-doubling point of the quartic's GD map (see :func:`period_doubling_point`).

    Attributes:
      K: where the period-p orbit's multiplier equals -1 (a period-2p orbit is born).
      period: p.
      grid: the continuation grid of K values.
      multipliers: multiplier of D(F^p) along the grid (NaN where Newton failed).
      orbit: the p orbit points at K.
    """

    K: float
    period: int
    grid: np.ndarray
    multipliers: np.ndarray
    orbit: np.ndarray


def _min_gap(points: np.ndarray) -> float:
    p = np.asarray(points, dtype=float).ravel()
    return float(np.min(np.abs(p[:, None] - p[None, :])[~np.eye(p.size, dtype=bool)])) if p.size > 1 else math.inf


def period_doubling_point(period: int, K_lo: float, K_hi: float, x_guess: float, mu: float = 1.0,
                          num_grid: int = 41) -> DoublingPoint:
    """K at which the period-``period`` orbit's multiplier crosses -1 (root finding on the multiplier).

    Continues the orbit through ``x_guess`` along a grid of K in [K_lo, K_hi] by Newton on
    F^p(x) = x (:func:`eoslib.orbits.continue_orbit`, one point at a time), finds the first grid
    interval where multiplier + 1 changes sign, and refines it with ``brentq``; every
    evaluation inside ``brentq`` is a fresh Newton solve seeded from the nearest grid orbit.

    Args:
      period: p, an integer in [1, 64].
      K_lo, K_hi: the K range, 1 < K_lo < K_hi < 2; ``x_guess`` should lie near the attracting
        p-orbit at ``K_lo`` (e.g. the tail of a GD run there).
      x_guess: finite real.
      mu: target in (0, inf); K = eta mu.
      num_grid: grid size, an integer in [3, 10000].

    Returns:
      :class:`DoublingPoint`.

    Raises:
      ValueError: on bad input, or if the multiplier does not cross -1 on the grid along a
        converged, genuinely period-p branch.

    References:
      Chen & Bruna (2023), App. L (period doubling of the 1-D quartic); companion sheet Sec. 7.
    """
    period = _int("period", period, 1, 64)
    K_lo = _real("K_lo", K_lo, 1.0, 2.0)
    K_hi = _real("K_hi", K_hi, K_lo, 2.0)
    x_guess = _real("x_guess", x_guess)
    mu = _real("mu", mu, 0.0)
    num_grid = _int("num_grid", num_grid, 3, 10000)
    qmap = quartic_map(mu)
    grid = np.linspace(K_lo, K_hi, num_grid)
    one = jnp.asarray([0.0], _float())

    def solve_from(K, x):
        # A one-point continue_orbit is a Newton solve whose map is traced in eta: every solve
        # (grid and brentq alike) reuses one compiled kernel per period.
        return orbits.continue_orbit(qmap, one + K / mu, jnp.asarray(x, _float()), period)

    # natural continuation along the grid, each solve seeded by the last converged orbit point
    pts = np.full((num_grid, period), np.nan)
    conv = np.zeros(num_grid, dtype=bool)
    mult = np.full(num_grid, np.nan)
    seed = x_guess
    for j, K in enumerate(grid):
        b = solve_from(K, seed)
        pts[j] = np.asarray(b.points, dtype=float).reshape(period)
        conv[j] = bool(np.asarray(b.converged)[0])
        mult[j] = float(np.real(np.asarray(b.multipliers)).ravel()[0])
        if conv[j]:
            seed = pts[j, 0]
    gaps = np.array([_min_gap(p) if np.all(np.isfinite(p)) else 0.0 for p in pts])
    good = conv & (gaps > 1e-6)
    mult = np.where(good, mult, np.nan)
    s = mult + 1.0
    cross = np.nonzero(good[:-1] & good[1:] & (s[:-1] > 0) & (s[1:] <= 0))[0]
    if cross.size == 0:
        raise ValueError(f"the period-{period} multiplier does not cross -1 on K in [{K_lo:g}, {K_hi:g}]")
    i = int(cross[0])

    def solve(K):
        seed = pts[i] if abs(K - grid[i]) <= abs(K - grid[i + 1]) else pts[i + 1]
        return solve_from(K, seed[0])

    def h(K):
        b = solve(K)
        if not bool(np.asarray(b.converged)[0]):
            raise ValueError(f"Newton failed for the period-{period} orbit at K = {K!r}")
        return float(np.real(np.asarray(b.multipliers)).ravel()[0]) + 1.0

    Kc = brentq(h, grid[i], grid[i + 1], xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=200)
    orb = np.asarray(solve(Kc).points, dtype=float).reshape(period)
    return DoublingPoint(float(Kc), period, grid, mult, orb)


@functools.partial(jax.jit, static_argnames=("num_steps", "burn"))
def _lyapunov_kernel(Ks, mu, x0, num_steps, burn):
    def one(K):
        eta = K / mu

        def step(x, _):
            return x - eta * x * (x * x - mu), None

        x, _ = lax.scan(step, x0, None, length=burn)

        def acc(c, _):
            x, s = c
            d = jnp.log(jnp.abs(1.0 - eta * (3.0 * x * x - mu)))
            return (x - eta * x * (x * x - mu), s + d), None

        (_, s), _ = lax.scan(acc, (x, jnp.zeros_like(x)), None, length=num_steps)
        return s / num_steps

    return jax.vmap(one)(Ks)


def lyapunov_exponent(K, mu: float = 1.0, x0: float = 0.5, num_steps: int = 20000,
                      burn: int = 2000) -> np.ndarray:
    """Lyapunov exponent (1/T) sum log|F'(x_t)| of GD on 1/4 (x^2 - mu)^2 at K = eta mu.

    Negative on attracting periodic orbits, positive in the chaotic regime beyond the
    accumulation point of the period-doubling cascade.

    Args:
      K: learning rate(s) in (0, 2) (the iterates from (0, sqrt(mu)) stay bounded there).
      mu: target in (0, inf); x0: start in (0, sqrt(mu)).
      num_steps: averaging steps, an integer >= 1; burn: transient steps, an integer >= 0.

    Returns:
      Array shaped like ``K``.

    References:
      Chen & Bruna (2023), App. L; companion sheet Sec. 7 (chaos beyond K ~ 1.3025).
    """
    mu = _real("mu", mu, 0.0)
    Ks = _reals("K", K, 0.0, 2.0)
    x0 = _real("x0", x0, 0.0, math.sqrt(mu))
    num_steps = _int("num_steps", num_steps, 1)
    burn = _int("burn", burn, 0)
    out = _lyapunov_kernel(jnp.asarray(Ks.ravel(), _float()), jnp.asarray(mu, _float()),
                           jnp.asarray(x0, _float()), num_steps, burn)
    return np.asarray(out, dtype=float).reshape(Ks.shape)


# --------------------------------------------------------------------------- Theorem 3, Lemma 2, Prop 3


@dataclass(frozen=True)
class Product2D:
    """f(theta) = 1/2 (theta_0 theta_1 - mu)^2 on a 2-vector (x, y) (Sec. 4.2)."""

    mu: float

    def __call__(self, theta):
        return 0.5 * (theta[0] * theta[1] - self.mu) ** 2


def product_2d(mu: float = 1.0) -> Product2D:
    """The 2-D function 1/2 (xy - mu)^2 as a hashable objective of a (2,) array.

    Args:
      mu: target in (0, inf).

    Returns:
      :class:`Product2D`. On x = y its GD is the 1-D GD of Theorem 2 with the same mu.

    References:
      Chen & Bruna (2023), Sec. 4.2, Eqs. 13-16.
    """
    return Product2D(_real("mu", mu, 0.0))


@dataclass(frozen=True)
class Product2DMap:
    """``eta -> F_eta`` for GD on 1/2 (xy - mu)^2 over a (2,) array (traceable in eta; for :mod:`eoslib.orbits`)."""

    mu: float

    def __call__(self, eta):
        mu = self.mu

        def step(theta):
            r = theta[0] * theta[1] - mu
            return jnp.stack([theta[0] - eta * theta[1] * r, theta[1] - eta * theta[0] * r])

        return step


def product_2d_map(mu: float = 1.0) -> Product2DMap:
    """The map factory ``eta -> ((x, y) -> (x - eta y r, y - eta x r))``, r = xy - mu (Eq. 13).

    Args:
      mu: target in (0, inf).

    Returns:
      A hashable :class:`Product2DMap` (compiled orbit kernels are cached per mu).

    References:
      Chen & Bruna (2023), Eq. 13.
    """
    return Product2DMap(_real("mu", mu, 0.0))


def imbalance_rate(K):
    """Asymptotic two-step factor of x - y near the balanced orbit: 3 - 2K.

    Args:
      K: eta mu, each in (1, inf) (the orbit exists for K > 1).

    Returns:
      (1 + K(delta_1^2 - 1)) (1 + K(delta_2^2 - 1)) = 3 - 2K: in (0, 1) exactly for
      K in (1, 3/2), Theorem 3's range.

    References:
      Chen & Bruna (2023), Theorem 3; companion sheet [derived].
    """
    k = _reals("K", K, 1.0)
    out = 3 - 2 * k
    return float(out) if out.ndim == 0 else out


def init_from_product_imbalance(product, imbalance) -> tuple[np.ndarray, np.ndarray]:
    """(x0, y0) with x0 y0 = product, x0 - y0 = imbalance, both positive.

    Args:
      product: x0 y0, in (0, inf); imbalance: x0 - y0, real (arrays broadcast).

    Returns:
      ``(x0, y0)``.

    References:
      Chen & Bruna (2023), Lemma 2 (the bound is stated in these two quantities).
    """
    p = _reals("product", product, 0.0)
    d = np.asarray(imbalance, dtype=float)
    if not np.all(np.isfinite(d)):
        raise ValueError("imbalance must be finite real number(s)")
    x = 0.5 * (d + np.sqrt(d * d + 4 * p))
    return x, x - d


class BalancingStats(NamedTuple):
    """Per-run statistics of GD on 1/2 (xy - mu)^2 (see :func:`balancing_stats`).

    Attributes:
      positive: x_t, y_t > 0 at every step (Theorem 3's assumption).
      p_visits: number of steps t in P = {t : x_t y_t > mu} (while |x - y| > floor).
      p_violations: successive visits t1 < t2 of P with |x - y|_{t2} >= |x - y|_{t1}.
      off_p_increases: steps t not in P with |x - y|_{t+1} > |x - y|_t (Eq. 54 says none).
      eq66_violations: steps in P, while the run is still positive, with
        eta (xy - mu) >= min(x/y, y/x) (Eq. 66: exactly the steps after which x or y is <= 0).
      final_imbalance: |x_T - y_T|.
      final_x, final_y: the last iterate.
      t_below: first t with |x_t - y_t| < threshold (-1: never).
      late_ratio: |x - y|_t / |x - y|_{t-2} at the last t where both exceed floor.
      diverged: the run left |x|, |y| < 1e8 (frozen from then on).
    """

    positive: np.ndarray
    p_visits: np.ndarray
    p_violations: np.ndarray
    off_p_increases: np.ndarray
    eq66_violations: np.ndarray
    final_imbalance: np.ndarray
    final_x: np.ndarray
    final_y: np.ndarray
    t_below: np.ndarray
    late_ratio: np.ndarray
    diverged: np.ndarray


@functools.partial(jax.jit, static_argnames=("num_steps",))
def _balancing_kernel(mu, K, x0, y0, floor, threshold, num_steps):
    def one(mu, K, x0, y0):
        eta = K / mu
        zero = jnp.zeros((), jnp.int32)
        inf = jnp.asarray(jnp.inf, x0.dtype)
        init = dict(x=x0, y=y0, pos=(x0 > 0) & (y0 > 0), alive=jnp.asarray(True),
                    last_p=inf, visits=zero, pviol=zero, offinc=zero, e66=zero,
                    t_below=jnp.where(jnp.abs(x0 - y0) < threshold, zero, -1),
                    d1=jnp.abs(x0 - y0), d2=inf, ratio=jnp.asarray(jnp.nan, x0.dtype))

        def body(c, t):
            x, y = c["x"], c["y"]
            d = jnp.abs(x - y)
            r = x * y - mu
            active = c["alive"] & c["pos"] & (d > floor)
            in_p = r > 0
            xn, yn = x - eta * y * r, y - eta * x * r
            dn = jnp.abs(xn - yn)
            # strict decrease along P: compare with the previous visit of P
            p_now = active & in_p
            viol = p_now & (d >= c["last_p"])
            last_p = jnp.where(p_now, d, c["last_p"])
            offinc = active & ~in_p & (dn > d)
            # Eq. 66 is the exact one-step positivity condition, so it is counted on every step
            # of P while the run is positive (no imbalance floor).
            e66 = c["alive"] & c["pos"] & in_p & (eta * r >= jnp.minimum(x / y, y / x))
            alive = c["alive"] & (jnp.abs(xn) < 1e8) & (jnp.abs(yn) < 1e8) & jnp.isfinite(xn) & jnp.isfinite(yn)
            xn = jnp.where(alive, xn, x)
            yn = jnp.where(alive, yn, y)
            pos = c["pos"] & (xn > 0) & (yn > 0)
            dn = jnp.abs(xn - yn)
            t_below = jnp.where((c["t_below"] < 0) & (dn < threshold), t + 1, c["t_below"])
            # two-step ratio, kept at the last step where both imbalances exceed the floor
            ok = (dn > floor) & (c["d2"] > floor) & jnp.isfinite(c["d2"])
            ratio = jnp.where(ok, dn / c["d2"], c["ratio"])
            return dict(x=xn, y=yn, pos=pos, alive=alive, last_p=last_p,
                        visits=c["visits"] + p_now.astype(jnp.int32),
                        pviol=c["pviol"] + viol.astype(jnp.int32),
                        offinc=c["offinc"] + offinc.astype(jnp.int32),
                        e66=c["e66"] + e66.astype(jnp.int32),
                        t_below=t_below, d1=dn, d2=c["d1"], ratio=ratio), None

        c, _ = lax.scan(body, init, jnp.arange(num_steps, dtype=jnp.int32))
        return (c["pos"], c["visits"], c["pviol"], c["offinc"], c["e66"], jnp.abs(c["x"] - c["y"]),
                c["x"], c["y"], c["t_below"], c["ratio"], ~c["alive"])

    return jax.vmap(one)(mu, K, x0, y0)


def balancing_stats(mu, K, x0, y0, num_steps: int, *, floor: float = 1e-9,
                    threshold: float = 1e-8) -> BalancingStats:
    """Run GD on 1/2 (xy - mu)^2 for many runs at once and collect Theorem 3's statistics.

    One ``lax.scan`` over time, vmapped over runs; no trajectory is stored, so thousands of
    long runs fit in memory.

    Args:
      mu: target(s) in (0, inf); K: eta mu, real(s) in (0, 2); x0, y0: starting points (finite);
        all four broadcast to a common 1-D shape.
      num_steps: GD steps, an integer >= 1.
      floor: imbalance below which the monotonicity counters stop (round-off of x - y is
        ~1e-16 |x|, so below ~1e-12 relative comparisons are noise), in (0, inf).
      threshold: imbalance level for ``t_below``, in (0, inf).

    Returns:
      :class:`BalancingStats` with one entry per run.

    References:
      Chen & Bruna (2023), Theorem 3 (strict decrease along P, Eq. 54), Lemma 2 (Eq. 66).
    """
    num_steps = _int("num_steps", num_steps, 1)
    floor = _real("floor", floor, 0.0)
    threshold = _real("threshold", threshold, 0.0)
    mu = _reals("mu", mu, 0.0)
    K = _reals("K", K, 0.0, 2.0)
    x0, y0 = np.asarray(x0, dtype=float), np.asarray(y0, dtype=float)
    if not (np.all(np.isfinite(x0)) and np.all(np.isfinite(y0))):
        raise ValueError("x0 and y0 must be finite")
    mu, K, x0, y0 = (np.ravel(a) for a in np.broadcast_arrays(mu, K, x0, y0))
    f = _float()
    out = _balancing_kernel(jnp.asarray(mu, f), jnp.asarray(K, f), jnp.asarray(x0, f), jnp.asarray(y0, f),
                            jnp.asarray(floor, f), jnp.asarray(threshold, f), num_steps)
    return BalancingStats(*(np.asarray(a) for a in out))


# --------------------------------------------------------------------------- Figure 3


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


def stable_arc(eta: float, mu: float = 1.0) -> tuple[float, float] | None:
    """The part {xy = mu, x > 0, x^2 + y^2 <= 2/eta} of the minimum set inside M, as an x-range.

    On the minimum set the Hessian is (y, x)(y, x)^T, so S = x^2 + mu^2/x^2; the arc is
    x^2 in [1/eta -+ sqrt(1/eta^2 - mu^2)].

    Args:
      eta: step size in (0, inf); mu: target in (0, inf).

    Returns:
      ``(x_lo, x_hi)``, or None if eta mu > 1 (no minimiser is in M; a single point at
      eta mu = 1).

    References:
      Chen & Bruna (2023), Props 6-7 and Figure 3 (reconstructed; companion sheet).
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
