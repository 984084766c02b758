"""Chen & Bruna (2023), squared loss on base models: Proposition 1, Corollaries 2-8, Proposition 2.

For ``f(x) = (g(x) - y)^2`` at a minimum ``x_bar = g^{-1}(y)`` the stability number is
``C = 16 g'^2 (6 g''^2 - g' g''')`` (Proposition 1). A :class:`BaseModel` carries closed-form
``g', g'', g'''`` (independent of autodiff) for every model the paper lists, so the notebooks can
compare the closed forms with autodiff. Proposition 2 (the composition rule) is false as
stated; :func:`prop_2_counterexample` and :func:`repaired_composition_condition` make that
concrete.

References:
  L. Chen and J. Bruna, "Beyond the Edge of Stability via Two-step Gradient Updates",
  ICML 2023, arXiv:2206.04172: Proposition 1, Corollaries 1-8, Proposition 2, App. E.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from eoslib.losses import ScalarLoss, derivatives, product_stability
from eoslib.validation import default_float as _float, integer as _int, real as _real

__all__ = [
    "BaseModel",
    "base_model",
    "BASE_MODEL_KINDS",
    "COROLLARY_MODELS",
    "squared_loss_on",
    "squared_loss_derivatives",
    "squared_loss_stability",
    "prop_1_derivatives",
    "prop_1_stability",
    "prop_1_condition",
    "composed_squared_loss",
    "composition_derivatives",
    "composition_margin_terms",
    "repaired_composition_condition",
    "prop_2_counterexample",
]


# --------------------------------------------------------------------------- Proposition 1, Corollaries

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
#: Corollaries 3-8 onto the listed models is our most probable reading of the text, not a
#: certain one (see the Reconstructions page of the book).
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


def squared_loss_on(model: BaseModel, y: float) -> ScalarLoss:
    """f(x) = (g(x) - y)^2 with its minimum x_bar = g^{-1}(y).

    Args:
      model: base model g (:func:`base_model`).
      y: target in ``model.target_range()``.

    Returns:
      A :class:`ScalarLoss`.

    References:
      Chen & Bruna (2023), Proposition 1.
    """
    if not isinstance(model, BaseModel):
        raise ValueError(f"model must be an eoslib BaseModel, got {type(model).__name__}")
    x_bar = model.minimum(y)
    return ScalarLoss(f"({model.name}-{float(y):g})^2", _SquaredOn(model, float(y)), x_bar,
                          rf"({model.latex}-{float(y):g})^2")


@functools.partial(jax.jit, static_argnames=("model", "max_order"))
def _squared_derivs_kernel(model, xs, ys, max_order):
    def one(x, y):
        return derivatives(lambda z: (model(z) - y) ** 2, x, max_order)

    return jax.vmap(one)(xs, ys)


def squared_loss_derivatives(model: BaseModel, ys, max_order: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Autodiff derivatives of (g(x) - y)^2 at its minimum, vectorised over targets y.

    One compiled kernel per base model (the target is traced), so a grid of targets costs
    one compilation, unlike building a :class:`ScalarLoss` per target.

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


@functools.partial(jax.jit, static_argnames=("model",))
def _squared_stability_kernel(model, xs, ys):
    return jax.vmap(lambda x, y: product_stability(lambda z: (model(z) - y) ** 2, x))(xs, ys)


def squared_loss_stability(model: BaseModel, ys) -> tuple[np.ndarray, np.ndarray]:
    """Stability number of (g(x) - y)^2 at its minimum by autodiff, vectorised over targets y.

    It is :func:`eoslib.losses.product_stability` of each squared loss (one compiled kernel per
    base model), the quantity Proposition 1's closed form :func:`prop_1_stability` predicts.

    Args:
      model: base model g.
      ys: targets (1-D array), each in ``model.target_range()``.

    Returns:
      ``(x_bar, C)``.

    References:
      Chen & Bruna (2023), Proposition 1.
    """
    if not isinstance(model, BaseModel):
        raise ValueError(f"model must be an eoslib BaseModel, got {type(model).__name__}")
    y = np.atleast_1d(np.asarray(ys, dtype=float))
    if y.ndim != 1:
        raise ValueError(f"ys must be a 1-D array, got shape {y.shape}")
    xb = np.array([model.minimum(float(v)) for v in y])
    out = _squared_stability_kernel(model, jnp.asarray(xb, _float()), jnp.asarray(y, _float()))
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


def composed_squared_loss(h: BaseModel, g: BaseModel, x_bar: float) -> ScalarLoss:
    """f(x) = (h(g(x)) - y)^2 with y = h(g(x_bar)), so that x_bar is a minimum.

    Args:
      h, g: base models (:func:`base_model`).
      x_bar: the minimum, a finite real where g and h are defined.

    Returns:
      A :class:`ScalarLoss`.

    References:
      Chen & Bruna (2023), Proposition 2.
    """
    if not (isinstance(h, BaseModel) and isinstance(g, BaseModel)):
        raise ValueError("h and g must be eoslib BaseModel instances")
    x_bar = _real("x_bar", x_bar)
    y = float(h.derivs(g.derivs(x_bar)[0])[0])
    if not math.isfinite(y):
        raise ValueError(f"x_bar must lie in the domain of h o g, got {x_bar!r}")
    return ScalarLoss(f"({h.name}o{g.name}-{y:g})^2", _ComposedSquared(h, g, y), x_bar,
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
    positive; the cross term 9ab can be negative and dominate (why the rule is false).

    Args:
      h_derivs: ``(h1, h2, h3)``; g_derivs: ``(g1, g2, g3)``.

    Returns:
      ``(outer, cross, inner)``; their sum is 6 F''^2 - F' F''' and
      C(h o g) = 16 F'^2 * sum.

    References:
      Chen & Bruna (2023), Proposition 2 (the decomposition is derived here).
    """
    h1, h2, h3 = (np.asarray(v, dtype=float) for v in h_derivs)
    g1, g2, g3 = (np.asarray(v, dtype=float) for v in g_derivs)
    a, b = h2 * g1**2, h1 * g2
    return g1**4 * (6 * h2**2 - h1 * h3), 9 * a * b, h1**2 * (6 * g2**2 - g1 * g3)


def repaired_composition_condition(h_derivs, g_derivs) -> np.ndarray:
    """A repaired sufficient condition: h'h''' <= 3/2 h''^2 and g'g''' <= 3/2 g''^2, one strict.

    With g' h' != 0 it gives 6 F''^2 - F' F''' >= 9/2 (a + b)^2 + (strict slack) > 0, hence
    C(h o g) > 0. It is our repair (derived here), not the paper's statement.

    Args:
      h_derivs: ``(h1, h2, h3)``; g_derivs: ``(g1, g2, g3)``.

    Returns:
      Boolean (array).

    References:
      Chen & Bruna (2023), Proposition 2 (repair derived here, not in the paper).
    """
    h1, h2, h3 = (np.asarray(v, dtype=float) for v in h_derivs)
    g1, g2, g3 = (np.asarray(v, dtype=float) for v in g_derivs)
    ch = h1 * h3 - 1.5 * h2**2
    cg = g1 * g3 - 1.5 * g2**2
    return (h1 != 0) & (g1 != 0) & (ch <= 0) & (cg <= 0) & ((ch < 0) | (cg < 0))


def prop_2_counterexample() -> tuple[BaseModel, BaseModel, ScalarLoss]:
    """A counterexample to Proposition 2: h = exp at 0, g = x - 3/8 x^2 + 1/3 x^3 at 0.

    Each piece satisfies Proposition 1 (h'h''' = 1 < 6, g'g''' = 2 < 27/8), but F = h o g has
    F'F''' = 3/4 > 6 F''^2 = 3/8, so C((F - 1)^2) = -6.

    Returns:
      ``(h, g, f)`` with f = (exp(g(x)) - 1)^2 and x_bar = 0.

    References:
      Chen & Bruna (2023), Proposition 2 (the counterexample is ours).
    """
    h = base_model("exp")
    g = base_model("cubic", coeffs=(1.0, -3.0 / 8.0, 1.0 / 3.0))
    return h, g, composed_squared_loss(h, g, 0.0)
