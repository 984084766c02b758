"""The predicted dynamics (Definitions 7-8, App. F), beta_{s->t} (A8) and Lemma 4's scalar form.

With the Taylor data at ``theta^dagger_t`` (``u_t``, ``grad S_t^perp``, ``delta_t``, ``S_t``)
and ``A_k = (I - eta nabla^2 L_k) P_{u_k}^perp``:

* **Definition 7 / eq. (6)** (paper form, default)::

      v_{t+1} = P_{u_{t+1}}^perp [A_t v_t + eta grad S_t^perp (delta_t^2 - x_t^2)/2]
                - (1 + eta y_t) x_t u_{t+1},

  computed in two halves: :func:`def7_partial` at time ``t`` (one HVP) and :func:`finish` once
  ``u_{t+1}`` is known. Definition 8's ``step_t`` is the same map (:func:`step_map`).
* **Reference-code form**: ``v <- v - eta [(x^2 - delta_t^2)/2 grad S_t^perp + H_t v + u_t x y]``
  (:func:`code_form_step`; no re-projection on ``u_{t+1}``).
* **Generalised form (App. F, Lemma 5)**: the ``u``-row becomes
  ``x_{t+1} = -(1 + eta y_t) x_t - eta F_t'(x_t)`` with
  ``F_t'(x) = u_t . grad L(theta^dagger_t + x u_t) - S_t x`` (one extra gradient).
* **beta_{s->t}** (Definition 4): ``grad S_{t+1}^perp . A_t ... A_{s+1} grad S_s^perp``;
  :func:`propagate` applies ``A_k`` to a block of vectors, and :func:`lemma4_y` evaluates the
  scalar recursion (5), ``y_{t+1} = eta sum_{s<=t} beta_{s->t} (delta_s^2 - x_s^2)/2`` (plus the
  term of the initial ``v_0^perp``).

All functions take the Hessian through a callable ``hvp(v)`` at ``theta^dagger_t``, so they
serve dense toy models and networks alike.

References:
  Damian, Nichani, Lee (2023), Definitions 4, 7, 8, Lemmas 4 and 5, Appendices C and F; the
  authors' ``main.py`` (predicted dynamics update).
"""

from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from eoslib import curvature
from eoslib.papers.self_stabilization.oracles import Taylor, perp

__all__ = [
    "coordinates",
    "Partial",
    "def7_partial",
    "finish",
    "step_map",
    "code_form_step",
    "F_prime",
    "propagate",
    "propagate_network",
    "lemma4_y",
    "network_partials",
    "dense_prediction",
]

HVP = Callable[[Array], Array]


def coordinates(v: Array, q: Taylor) -> tuple[Array, Array]:
    """``(x, y) = (u_t . v, grad S_t^perp . v)`` (Definition 5)."""
    return jnp.vdot(q.u, v), jnp.vdot(q.grad_S_perp, v)


def _delta2(q: Taylor) -> Array:
    # delta_t^2 = 2 alpha_t / beta_t with alpha_t = -grad L_t . grad S_t (Definition 4)
    return 2.0 * q.alpha / q.beta


class Partial(NamedTuple):
    """The time-``t`` half of Definition 7: ``w = A_t v + eta grad S_t^perp (delta_t^2 - x^2)/2``.

    Attributes:
      w: that vector.
      x, y: the coordinates of ``v`` at time ``t``.
    """

    w: Array
    x: Array
    y: Array


def def7_partial(v: Array, q: Taylor, eta: float, hvp: HVP) -> Partial:
    """The part of Definition 7 (eq. 6) that uses only time-``t`` quantities."""
    x, y = coordinates(v, q)
    vp = v - x * q.u
    w = vp - eta * hvp(vp) + eta * q.grad_S_perp * (_delta2(q) - x**2) / 2.0
    return Partial(w, x, y)


def finish(part: Partial, u_next: Array, eta: float, x_next: Array | None = None) -> Array:
    """``v_{t+1} = P_{u_{t+1}}^perp w + x_{t+1} u_{t+1}``, with ``x_{t+1} = -(1 + eta y) x`` by default."""
    if x_next is None:
        x_next = -(1.0 + eta * part.y) * part.x
    return perp(part.w, u_next) + x_next * u_next


def step_map(v: Array, q: Taylor, u_next: Array, eta: float, hvp: HVP) -> Array:
    """Definition 8's ``step_t(v)`` (equal to one step of Definition 7)."""
    return finish(def7_partial(v, q, eta, hvp), u_next, eta)


def code_form_step(v: Array, q: Taylor, eta: float, hvp: HVP) -> Array:
    """The reference code's update ``v - eta [(x^2 - delta_t^2)/2 grad S^perp + H v + u x y]``."""
    x, y = coordinates(v, q)
    return v - eta * ((x**2 - _delta2(q)) / 2.0 * q.grad_S_perp + hvp(v) + q.u * x * y)


def F_prime(grad_fn: Callable[[Array], Array], q: Taylor, x: Array) -> Array:
    """``F_t'(x) = u_t . grad L(theta^dagger_t + x u_t) - S_t x`` (App. F)."""
    return jnp.vdot(q.u, grad_fn(q.point + x * q.u)) - q.sharpness * x


def propagate(R: Array, q: Taylor, eta: float, hvp: HVP) -> Array:
    """``A_k R = (I - eta H_k) P_{u_k}^perp R`` for a block ``R`` of shape ``(d, m)``."""
    Rp = R - jnp.outer(q.u, q.u @ R)
    HR = jax.lax.map(hvp, Rp.T).T
    return Rp - eta * HR


@partial(jax.jit, static_argnames=("f",))
def propagate_network(f, point: Array, u: Array, r: Array, eta) -> Array:
    """``(I - eta H) P_u^perp r`` for one vector on a network (one HVP at ``point``)."""
    rp = perp(r, u)
    return rp - eta * curvature.hvp(f, point, rp)


def lemma4_y(beta: np.ndarray, delta2: np.ndarray, x: np.ndarray, eta: float,
             init: np.ndarray | None = None) -> np.ndarray:
    """Lemma 4's ``y_{t+1} = eta sum_{s<=t} beta_{s->t} (delta_s^2 - x_s^2)/2 [+ init_t]``.

    Args:
      beta: ``(T, T)`` with ``beta[s, t] = beta_{s->t}`` for ``s <= t`` (upper triangle).
      delta2: ``(T,)`` ``delta_s^2``.
      x: ``(T,)`` ``x_s``.
      eta: learning rate.
      init: ``(T,)`` the term ``grad S_{t+1}^perp . A_t ... A_1 v_0^perp`` of an initial
        displacement not parallel to ``u_0`` (None: zero).

    Returns:
      ``(T,)`` the values ``y_1, ..., y_T``.
    """
    c = eta * (np.asarray(delta2) - np.asarray(x) ** 2) / 2.0
    B = np.triu(np.asarray(beta))
    y = c @ B
    return y if init is None else y + np.asarray(init)


class _DenseStep:
    """One step of the predicted dynamics on stacked dense Taylor data (for gd.iterate)."""

    def __init__(self, form: str):
        self.form = form

    def __hash__(self):
        return hash((type(self), self.form))

    def __eq__(self, other):
        return type(other) is type(self) and other.form == self.form

    def __call__(self, v, t, eta, data):
        pick = lambda a: jax.lax.dynamic_index_in_dim(a, t, keepdims=False)  # noqa: E731
        pick1 = lambda a: jax.lax.dynamic_index_in_dim(a, t + 1, keepdims=False)  # noqa: E731
        q = Taylor(pick(data["point"]), pick(data["loss"]), pick(data["grad"]),
                   pick(data["eigenvalues"]), pick(data["vectors"]), pick(data["grad_S"]),
                   pick(data["grad_S_perp"]), jnp.asarray(0), jnp.asarray(True))
        H = pick(data["hessian"])
        u_next = pick1(data["vectors"])[:, 0]
        hvp = lambda w: H @ w  # noqa: E731
        if self.form == "code":
            return code_form_step(v, q, eta, hvp)
        part = def7_partial(v, q, eta, hvp)
        x_next = None
        if self.form == "generalized":
            x_next = -(1.0 + eta * part.y) * part.x - eta * F_prime(data["grad_fn"], q, part.x)
        return finish(part, u_next, eta, x_next)


def dense_prediction(f: Callable[[Array], Array], points: Array, v0: Array, eta: float, *,
                     form: str = "def7", reference: Array | None = None) -> np.ndarray:
    """The predicted dynamics on a small model from its constrained trajectory ``points``.

    Args:
      f: scalar loss of a ``(d,)`` vector.
      points: ``(T + 1, d)`` the constrained trajectory ``theta^dagger_0..T``.
      v0: initial displacement ``theta_0 - theta^dagger_0``.
      eta: learning rate.
      form: ``"def7"`` (Definition 7), ``"generalized"`` (App. F) or ``"code"``.
      reference: sign reference of ``u_0`` (default ``e_1``).

    Returns:
      ``(T + 1, d)`` the predicted ``v_0..T``.
    """
    if form not in ("def7", "generalized", "code"):
        raise ValueError(f"form must be def7|generalized|code, got {form!r}")
    from eoslib import gd
    from eoslib.papers.self_stabilization.oracles import dense_taylor

    points = jnp.asarray(points)
    ref = jnp.eye(points.shape[1])[:, 0] if reference is None else jnp.asarray(reference)
    data = _dense_data(f, points, ref)
    T = points.shape[0] - 1
    step = _DenseStep(form)
    if form == "generalized":
        step = _GeneralizedDenseStep(f)
    run = gd.iterate(step, jnp.asarray(v0), T, args=(jnp.asarray(eta), data), record_every=1,
                     indexed=True)
    return np.asarray(run.params)


@partial(jax.jit, static_argnames=("f",))
def _dense_data(f, points, ref):
    from eoslib.papers.self_stabilization.oracles import dense_taylor

    qs = jax.vmap(lambda p: dense_taylor(f, p))(points)
    # continuous signs along the trajectory: align u_0 with ref, then each u_t with u_{t-1}
    u = qs.vectors[:, :, 0]
    dots = jnp.concatenate([(u[:1] @ ref), jnp.sum(u[1:] * u[:-1], axis=1)])
    signs = jnp.cumprod(jnp.where(dots < 0, -1.0, 1.0))
    vec = qs.vectors.at[:, :, 0].multiply(signs[:, None])
    gs = qs.grad_S * signs[:, None] ** 2  # grad S = nabla^3 L(u, u) is even in u
    data = {"point": qs.point, "loss": qs.loss, "grad": qs.grad, "eigenvalues": qs.eigenvalues,
            "vectors": vec, "grad_S": gs, "grad_S_perp": qs.grad_S_perp}
    data["hessian"] = jax.vmap(lambda p: curvature.hessian(f, p))(points)
    return data


class _GeneralizedDenseStep(_DenseStep):
    def __init__(self, f):
        super().__init__("generalized")
        self.f = f

    def __hash__(self):
        return hash((type(self), self.f))

    def __eq__(self, other):
        return type(other) is type(self) and other.f is self.f

    def __call__(self, v, t, eta, data):
        data = dict(data, grad_fn=jax.grad(self.f))
        return super().__call__(v, t, eta, data)


@partial(jax.jit, static_argnames=("f",))
def network_partials(f, q: Taylor, eta, v7, vcode, vgen):
    """The time-``t`` halves of the three predicted dynamics on a network, in one call.

    Returns:
      ``(part7, vcode_next, partgen, x_gen_next)``: Definition 7's half, the reference-code
      form's next vector, the generalised form's half and its next ``x`` (App. F).
    """
    hvp = partial(curvature.hvp, f, q.point)
    part7 = def7_partial(v7, q, eta, hvp)
    vc = code_form_step(vcode, q, eta, hvp)
    partg = def7_partial(vgen, q, eta, hvp)
    fp = F_prime(jax.grad(f), q, partg.x)
    x_gen = -(1.0 + eta * partg.y) * partg.x - eta * fp
    return part7, vc, partg, x_gen
