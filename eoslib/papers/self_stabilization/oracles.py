"""Derivative oracles of the self-stabilization analysis, matrix-free (algorithm A1-A2).

On a flat parameter vector ``theta`` and a scalar loss ``f``:

* ``grad S = nabla^3 L(u, u)`` (Lemma 2) -- :func:`grad_sharpness`, through
  :func:`eoslib.curvature.third_derivative_vv` (reverse over forward-over-reverse);
* the vector ``nabla^4 L(v, v, v)`` -- :func:`fourth_derivative_vvv`, the gradient of
  ``D^3 L[v, v, v]`` from :func:`eoslib.curvature.directional_derivative`;
* ``rho_3 ~ ||nabla^3 L||_op`` and ``rho_4 ~ ||nabla^4 L||_op`` by the symmetric tensor power
  iteration ``w <- T(w, .., w, .) / ||.||`` (Assumption 3, App. E) -- :func:`tensor_norm`;
* warm-started, sign-fixed top Hessian eigenpairs by Lanczos on HVPs
  (:func:`eoslib.eigsolve.lanczos`), with the loss, gradient and ``grad S`` at the same point
  in one compiled call -- :func:`evaluate` and :class:`Evaluator`. The sign of each eigenvector
  is aligned with the previous one (:func:`eoslib.eigsolve.fix_signs`), so that
  ``x_t = u_t . v_t`` never flips spuriously;
* :func:`dense_taylor` -- the same quantities by dense ``eigh`` for toy models.

References:
  Damian, Nichani, Lee (2023), Lemma 2, Assumption 3, Appendix E; the authors' ``taylor.py``.
  B. A. Pearlmutter, "Fast exact multiplication by the Hessian", Neural Computation 1994.
  L. De Lathauwer, B. De Moor, J. Vandewalle, "On the best rank-1 and rank-(R1,...,RN)
  approximation of higher-order tensors", SIAM J. Matrix Anal. Appl. 2000 (power method).
"""

from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from eoslib import curvature
from eoslib.callbacks import fix_signs
from eoslib.validation import integer as _int, positive as _pos

__all__ = [
    "grad_sharpness",
    "perp",
    "fourth_derivative_vvv",
    "tensor_norm",
    "TensorNorm",
    "Taylor",
    "evaluate",
    "Evaluator",
    "DenseEvaluator",
    "dense_taylor",
    "RandomSmoothLoss",
    "sharpness_fd",
]

Loss = Callable[[Array], Array]


def grad_sharpness(f: Loss, theta: Array, u: Array) -> Array:
    """``grad S(theta) = nabla^3 L(theta)(u, u)`` for the unit top eigenvector ``u`` (Lemma 2)."""
    return curvature.third_derivative_vv(f, theta, u)


def perp(v: Array, u: Array) -> Array:
    """``P_u^perp v = v - u (u . v)`` for a unit vector ``u``."""
    return v - u * jnp.vdot(u, v)


def fourth_derivative_vvv(f: Loss, theta: Array, v: Array) -> Array:
    """The vector ``nabla^4 L(theta)(v, v, v) = grad_theta D^3 L(theta)[v, v, v]``."""
    v = jnp.asarray(v).astype(jnp.asarray(theta).dtype)
    return jax.grad(lambda q: curvature.directional_derivative(f, q, v, 3))(theta)


class TensorNorm(NamedTuple):
    """Result of the tensor power iteration.

    Attributes:
      value: ``max_i |T(w_i, ..., w_i)|`` over the iterates, a lower bound of ``||T||_op``.
      vector: the last unit iterate ``w``.
      history: ``(num_iter,)`` values ``|T(w_i, ..., w_i)|``.
    """

    value: Array
    vector: Array
    history: Array


@partial(jax.jit, static_argnames=("f", "order", "num_iter"))
def _tensor_norm(f, theta, w0, *, order, num_iter):
    def contract(w):
        # T(w, .., w, .) and T(w, .., w) for the order-3 or order-4 derivative tensor.
        if order == 3:
            vec = curvature.third_derivative_vv(f, theta, w)
        else:
            vec = fourth_derivative_vvv(f, theta, w)
        return vec, jnp.vdot(vec, w)

    def body(w, _):
        vec, val = contract(w)
        n = jnp.linalg.norm(vec)
        w_new = jnp.where(n > 0, vec / jnp.where(n > 0, n, 1.0), w)
        return w_new, jnp.abs(val)

    w0 = w0 / jnp.linalg.norm(w0)
    w, hist = jax.lax.scan(body, w0, None, length=num_iter)
    return TensorNorm(jnp.max(hist), w, hist)


def tensor_norm(f: Loss, theta: Array, w0: Array, order: int, num_iter: int = 20) -> TensorNorm:
    """``||nabla^k L(theta)||_op`` (``k = 3, 4``) by the symmetric power iteration (App. E, A9).

    Iterates ``w <- nabla^k L(w, .., w, .) / ||.||`` from ``w0`` (the paper starts from
    ``u_t``) and reports ``max |nabla^k L(w, .., w)|`` over the iterates. For a symmetric tensor
    ``||T||_op = max_{||w||=1} |T(w, .., w)|`` (Banach), so the value is a lower bound that the
    iteration drives up to a local maximum.

    Args:
      f: scalar loss of a flat vector.
      theta: point, shape ``(d,)``.
      w0: start direction, shape ``(d,)``, nonzero.
      order: 3 (``rho_3``) or 4 (``rho_4``).
      num_iter: power iterations, in [1, inf).

    Returns:
      :class:`TensorNorm`.
    """
    if order not in (3, 4):
        raise ValueError(f"order must be 3 or 4, got {order!r}")
    num_iter = _int("num_iter", num_iter, 1)
    theta = jnp.asarray(theta)
    return _tensor_norm(f, theta, jnp.asarray(w0).astype(theta.dtype), order=order,
                        num_iter=num_iter)


class Taylor(NamedTuple):
    """Loss, gradient, top eigenpairs and ``grad S`` at one point.

    Attributes:
      point: ``theta``, shape ``(d,)``.
      loss: ``L(theta)``.
      grad: ``grad L(theta)``.
      eigenvalues: ``(k,)`` top Hessian eigenvalues, descending (``[0]`` is ``S``).
      vectors: ``(d, k)`` unit eigenvectors, signs aligned with the reference.
      grad_S: ``grad S = nabla^3 L(u, u)``.
      grad_S_perp: ``P_u^perp grad S``.
      hvps: Hessian-vector products spent by Lanczos.
      converged: whether Lanczos met its tolerance.

    ``grad_S`` and ``grad_S_perp`` are None for a light evaluation (see :class:`Evaluator`).
    """

    point: Array
    loss: Array
    grad: Array
    eigenvalues: Array
    vectors: Array
    grad_S: Array
    grad_S_perp: Array
    hvps: Array
    converged: Array

    @property
    def sharpness(self) -> Array:
        """``S = lambda_max``."""
        return self.eigenvalues[0]

    @property
    def u(self) -> Array:
        """Top unit eigenvector."""
        return self.vectors[:, 0]

    @property
    def alpha(self) -> Array:
        """``alpha = -grad L . grad S`` (Definitions 2 and 4)."""
        return -jnp.vdot(self.grad, self.grad_S)

    @property
    def beta(self) -> Array:
        """``beta = ||grad S^perp||^2`` (Definition 4)."""
        return jnp.vdot(self.grad_S_perp, self.grad_S_perp)


@partial(jax.jit, static_argnames=("f", "k", "max_iter", "with_grad_S"))
def _evaluate(f, p, v0, reference, tol, v0_noise, key, *, k, max_iter, with_grad_S=True):
    loss, g = jax.value_and_grad(f)(p)
    res = curvature.lanczos(lambda v: curvature.hvp(f, p, v), p.shape[0], k, v0=v0, tol=tol,
                            max_iter=max_iter, key=key, v0_noise=v0_noise, dtype=p.dtype)
    V = fix_signs(res.eigenvectors, reference)
    u = V[:, 0]
    if with_grad_S:
        gs = curvature.third_derivative_vv(f, p, u)
        gsp = perp(gs, u)
    else:
        gs = gsp = None
    return Taylor(p, loss, g, res.eigenvalues, V, gs, gsp, res.num_iterations, res.converged)


def evaluate(f: Loss, p: Array, v0: Array, *, k: int = 1, tol: float = 1e-7, max_iter: int = 100,
             v0_noise: float = 1e-3, key: Array | None = None, with_grad_S: bool = True) -> Taylor:
    """Loss, gradient, top-``k`` eigenpairs (warm-started Lanczos) and ``grad S`` at ``p``.

    The eigenvectors' signs are aligned with the columns of ``v0`` (the previous eigenvectors),
    so that coordinates along ``u`` keep their sign between calls.

    Args:
      f: scalar loss of a flat vector (the same object between calls: it keys the compilation).
      p: point, shape ``(d,)``.
      v0: warm start and sign reference, shape ``(d, k)`` (a ``(d,)`` vector for ``k = 1``).
      k: number of eigenpairs, in [1, d].
      tol: Lanczos relative residual tolerance, in (0, inf).
      max_iter: Lanczos iteration cap, in [k, inf).
      v0_noise: random component mixed into the warm start (see :func:`eoslib.eigsolve.lanczos`).
      key: PRNG key of that component.
      with_grad_S: also compute ``grad S`` (else ``grad_S`` and ``grad_S_perp`` are None).

    Returns:
      :class:`Taylor`.
    """
    p = jnp.asarray(p)
    v0 = jnp.asarray(v0).astype(p.dtype).reshape(p.shape[0], -1)
    if v0.shape[1] != k:
        raise ValueError(f"v0 must have shape ({p.shape[0]}, {k}), got {v0.shape}")
    _pos("tol", tol)
    max_iter = _int("max_iter", max_iter, k)
    key = jax.random.PRNGKey(0) if key is None else key
    return _evaluate(f, p, v0, v0, jnp.asarray(tol, p.dtype), jnp.asarray(v0_noise, p.dtype), key,
                     k=int(k), max_iter=max_iter, with_grad_S=bool(with_grad_S))


class Evaluator:
    """Stateful warm-started :func:`evaluate`: remembers the last eigenvectors and counts HVPs.

    Lanczos keeps a ``max_iter x d`` basis, and its cost per iteration grows with that size, so
    warm-started calls use a small ``max_iter``; a call that does not converge is repeated from
    its own result with ``max_iter_cold``.

    Args:
      f: scalar loss.
      v0: initial warm start ``(d, k_max)`` (random or from a previous run).
      tol: Lanczos tolerance.
      max_iter: Lanczos cap of warm-started calls.
      max_iter_cold: Lanczos cap of the retries (and of cold starts).
      v0_noise: random component of the warm starts.
    """

    def __init__(self, f: Loss, v0: Array, *, tol: float = 1e-7, max_iter: int = 40,
                 max_iter_cold: int = 300, v0_noise: float = 1e-3):
        self.f = f
        self.vectors = jnp.asarray(v0).reshape(v0.shape[0], -1)
        self.tol = tol
        self.max_iter = max_iter
        self.max_iter_cold = max_iter_cold
        self.v0_noise = v0_noise
        self.hvps = 0
        self.calls = 0
        self.grad_S_evals = 0
        self.retries = 0
        self._key = jax.random.PRNGKey(0)

    def __call__(self, p: Array, k: int = 1, v0_noise: float | None = None, *,
                 with_grad_S: bool = True) -> Taylor:
        """Evaluate at ``p`` with ``k`` eigenpairs, warm-started from the stored vectors.

        ``v0_noise`` overrides the random component of the warm start for this call (a
        re-evaluation after a tiny move needs almost none); ``with_grad_S=False`` skips
        ``grad S`` (a "light" evaluation: loss, gradient and eigenpairs only).
        """
        self._key, sub = jax.random.split(self._key)
        v0 = self.vectors[:, :k]
        if v0.shape[1] < k:
            extra = jax.random.normal(sub, (v0.shape[0], k - v0.shape[1]), v0.dtype)
            v0 = jnp.concatenate([v0, extra], axis=1)
        noise = self.v0_noise if v0_noise is None else v0_noise
        q = evaluate(self.f, p, v0, k=k, tol=self.tol, max_iter=self.max_iter, v0_noise=noise,
                     key=sub, with_grad_S=with_grad_S)
        if not bool(q.converged):
            self.retries += 1
            self.hvps += int(q.hvps)
            q = evaluate(self.f, p, q.vectors, k=k, tol=self.tol, max_iter=self.max_iter_cold,
                         v0_noise=noise, key=sub, with_grad_S=with_grad_S)
        self.hvps += int(q.hvps)
        self.calls += 1
        self.grad_S_evals += int(with_grad_S)
        self.vectors = jnp.concatenate([q.vectors, self.vectors[:, k:]], axis=1)
        return q

    def complete(self, q: Taylor, lambda2_tol: float = 1e-4) -> Taylor:
        """Add ``grad S`` (if missing) and ``lambda_2`` to an evaluation with one eigenpair.

        ``lambda_2`` is the top eigenvalue of the deflated Hessian ``P H P``
        (``P = I - u u^T``) by Lanczos from the stored second vector, at the looser tolerance
        ``lambda2_tol`` (it only monitors Assumption 2).
        """
        self._key, sub = jax.random.split(self._key)
        v2 = self.vectors[:, 1] if self.vectors.shape[1] > 1 else jax.random.normal(sub, q.u.shape, q.u.dtype)
        need = q.grad_S is None
        tol = jnp.asarray(lambda2_tol, q.point.dtype)
        out = _complete(self.f, q, v2, tol, sub, max_iter=self.max_iter, need_grad_S=need)
        if not bool(out.converged):
            self.retries += 1
            self.hvps += int(out.hvps) - int(q.hvps)
            out = _complete(self.f, q, out.vectors[:, 1], tol, sub, max_iter=self.max_iter_cold,
                            need_grad_S=need)
        self.hvps += int(out.hvps) - int(q.hvps)
        self.grad_S_evals += int(need)
        self.vectors = out.vectors if self.vectors.shape[1] <= 2 else jnp.concatenate(
            [out.vectors, self.vectors[:, 2:]], axis=1)
        return out


class RandomSmoothLoss:
    """A random smooth test loss on ``R^d``: tanh features plus a quadratic and a quartic.

    ``L(theta) = sum_i c_i tanh(a_i . theta + b_i) + theta^T Q theta / 2 + kappa sum_j theta_j^4 / 4``
    with Gaussian ``a_i, b_i, c_i``, a random positive semi-definite ``Q`` and ``kappa = 0.1``.
    Hashable (by seed and dimension), so it can key jit compilations.

    Args:
      seed: integer seed, in [0, inf).
      d: dimension, in [2, inf).
      num_features: number of tanh features, in [1, inf).
    """

    def __init__(self, seed: int, d: int = 8, num_features: int = 12):
        self.seed = _int("seed", seed, 0)
        self.d = _int("d", d, 2)
        self.num_features = _int("num_features", num_features, 1)
        rng = np.random.default_rng(self.seed)
        self.A = rng.standard_normal((self.num_features, self.d))
        self.b = rng.standard_normal(self.num_features)
        self.c = rng.standard_normal(self.num_features)
        M = rng.standard_normal((self.d, self.d))
        self.Q = M @ M.T / self.d

    def __call__(self, theta: Array) -> Array:
        A = jnp.asarray(self.A, theta.dtype)
        z = A @ theta + jnp.asarray(self.b, theta.dtype)
        quad = 0.5 * theta @ (jnp.asarray(self.Q, theta.dtype) @ theta)
        return jnp.asarray(self.c, theta.dtype) @ jnp.tanh(z) + quad + 0.025 * jnp.sum(theta**4)

    def __hash__(self):
        return hash((type(self), self.seed, self.d, self.num_features))

    def __eq__(self, other):
        return (type(other) is type(self) and (other.seed, other.d, other.num_features)
                == (self.seed, self.d, self.num_features))


def sharpness_fd(sharpness: Callable[[Array], Array], theta: Array, directions: Array,
                 h: float = 1e-5) -> np.ndarray:
    """Central differences ``(S(theta + h e) - S(theta - h e)) / (2h)`` along each column ``e``.

    Args:
      sharpness: ``theta -> S(theta)`` (dense ``eigvalsh`` or an accurate Lanczos).
      theta: point ``(d,)``.
      directions: ``(d, m)`` directions (unit columns for a gradient in those directions).
      h: step, in (0, inf).

    Returns:
      ``(m,)`` directional derivatives; ``O(h^2)`` truncation error.
    """
    h = _pos("h", h)
    theta = jnp.asarray(theta)
    E = jnp.asarray(directions).reshape(theta.shape[0], -1)
    out = [(float(sharpness(theta + h * E[:, j])) - float(sharpness(theta - h * E[:, j]))) / (2 * h)
           for j in range(E.shape[1])]
    return np.asarray(out)


@partial(jax.jit, static_argnames=("f", "max_iter", "need_grad_S"))
def _complete(f, q, v2, tol, key, *, max_iter, need_grad_S):
    p, u = q.point, q.vectors[:, 0]
    if need_grad_S:
        gs = curvature.third_derivative_vv(f, p, u)
        gsp = perp(gs, u)
    else:
        gs, gsp = q.grad_S, q.grad_S_perp
    # lambda_2 = top eigenvalue of the deflated operator P H P, P = I - u u^T
    res = curvature.lanczos(lambda v: perp(curvature.hvp(f, p, perp(v, u)), u), p.shape[0], 1,
                            v0=perp(v2, u), tol=tol, max_iter=max_iter, key=key, dtype=p.dtype)
    u2 = fix_signs(res.eigenvectors, v2[:, None])[:, 0]
    vals = jnp.stack([q.eigenvalues[0], res.eigenvalues[0]])
    return Taylor(p, q.loss, q.grad, vals, jnp.stack([u, u2], axis=1), gs, gsp,
                  q.hvps + res.num_iterations, q.converged & res.converged)


class DenseEvaluator:
    """:class:`Evaluator`'s interface by dense Hessians (toy models): same calls, exact eigenpairs.

    Args:
      f: scalar loss of a small flat vector.
      v0: sign reference ``(d,)`` or ``(d, k)``.
    """

    def __init__(self, f: Loss, v0: Array):
        self.f = f
        self.vectors = jnp.asarray(v0).reshape(v0.shape[0], -1)
        self.hvps = self.calls = self.grad_S_evals = self.retries = 0

    def __call__(self, p: Array, k: int = 1, v0_noise: float | None = None, *,
                 with_grad_S: bool = True) -> Taylor:
        q = dense_taylor(self.f, p, self.vectors)
        self.vectors = q.vectors[:, : max(k, self.vectors.shape[1])]
        self.calls += 1
        q = q._replace(eigenvalues=q.eigenvalues[:k], vectors=q.vectors[:, :k])
        return q if with_grad_S else q._replace(grad_S=None, grad_S_perp=None)

    def complete(self, q: Taylor, lambda2_tol: float = 1e-4) -> Taylor:
        full = dense_taylor(self.f, q.point, self.vectors)
        return full._replace(eigenvalues=full.eigenvalues[:2], vectors=full.vectors[:, :2])


def dense_taylor(f: Loss, theta: Array, reference: Array | None = None) -> Taylor:
    """:class:`Taylor` by dense Hessian and ``eigh`` (toy models; all eigenpairs, descending).

    Compiled once per ``f`` (which must be hashable, e.g. a module-level function or a frozen
    dataclass's method).

    Args:
      f: scalar loss.
      theta: point ``(d,)``.
      reference: ``(d,)`` or ``(d, m)`` sign reference for the leading eigenvectors.
    """
    theta = jnp.asarray(theta)
    ref = None if reference is None else jnp.asarray(reference).reshape(theta.shape[0], -1)
    return _dense_taylor(f, theta, ref)


@partial(jax.jit, static_argnames=("f",))
def _dense_taylor(f, theta, ref):
    loss, g = jax.value_and_grad(f)(theta)
    H = curvature.hessian(f, theta)
    w, V = jnp.linalg.eigh(0.5 * (H + H.T))
    w, V = w[::-1], V[:, ::-1]
    if ref is not None:
        V = V.at[:, : ref.shape[1]].set(fix_signs(V[:, : ref.shape[1]], ref.astype(V.dtype)))
    u = V[:, 0]
    gs = curvature.third_derivative_vv(f, theta, u)
    return Taylor(theta, loss, g, w, V, gs, perp(gs, u), jnp.asarray(0), jnp.asarray(True))
