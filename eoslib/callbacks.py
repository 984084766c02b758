"""Callbacks of the network training driver :func:`eoslib.train.train_gd`.

A callback is any object with

* ``every: int`` -- its stride in GD steps (``>= 1``);
* ``name: str`` (optional) -- the key of its records in ``TrainRun.records``; default the
  class name in snake case (``TopEigenvalues`` -> ``"top_eigenvalues"``);
* ``__call__(step: int, w: Array) -> Mapping[str, Any] | None`` -- what to record at
  ``step`` (numbers or arrays of a fixed shape; ``None`` records nothing);

and optionally ``start(f)`` (called once before a run with the training loss: a reused
object starts afresh, and a callback built without its own loss uses the training loss)
and ``settings() -> dict`` (JSON-like description of its parameters, hashed into the cache
key of the run). ``train_gd`` calls it at step 0, every ``every`` steps and at the last
step, with the current parameters, and stacks what it returns.

Ready callbacks:

* :class:`TopEigenvalues` -- top-``k`` Hessian eigenvalues by warm-started Lanczos on
  HVPs (or, opt-in, a block warm start), with sign-fixed eigenvectors (the sharpness of
  Cohen et al.);
* :class:`GFSSharpness` -- gradient flow from the current iterate to a loss threshold
  (:mod:`eoslib.flow`) and the sharpness at its end (Kreisler et al.);
* :class:`Checkpoints` -- the parameters themselves;
* :class:`Metric` -- any ``w -> value`` (or ``w -> dict``), jit-compiled.

Importing this module has no side effects (in particular it does not enable x64).

References:
  J. Cohen et al., "Gradient Descent on Neural Networks Typically Occurs at the Edge of
  Stability", ICLR 2021 (sharpness along GD).
  C. Kreisler, M. Shpigel Nacson, D. Soudry, Y. Carmon, "Gradient Descent Monotonically
  Decreases the Sharpness of Gradient Flow Solutions in Scalar Networks and Beyond",
  ICML 2023 (GFS sharpness along GD).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from . import curvature
from .eigsolve import fix_signs
from .validation import choice as _choice, integer as _check_int, positive as _check_pos

__all__ = [
    "Callback",
    "TopEigenvalues",
    "GFSSharpness",
    "Checkpoints",
    "Metric",
    "callback_name",
    "fix_signs",
]


@runtime_checkable
class Callback(Protocol):
    """What :func:`eoslib.train.train_gd` needs of a callback (see the module docstring)."""

    every: int

    def __call__(self, step: int, w: Array) -> Mapping[str, Any] | None: ...


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def callback_name(cb: Any) -> str:
    """``cb.name`` if set, else the class name in snake case.

    Raises:
      ValueError: the name is not an identifier (it keys the records and the cache file).
    """
    name = getattr(cb, "name", None)
    if name is None:
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(cb).__name__).lower()
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"callback name must be a Python identifier, got {name!r}")
    return name


class TopEigenvalues:
    """Top-``k`` Hessian eigenvalues by Lanczos on HVPs, warm-started along the run.

    Each call runs :func:`eoslib.curvature.top_eigenpairs` at the current iterate (on the
    training loss, or on ``f`` when given), started
    from the previous call's eigenvectors (``warm_start=True``) or from a fresh Gaussian
    block (the cold start, for comparison). The eigenvectors are sign-fixed against the
    previous ones (:func:`~eoslib.eigsolve.fix_signs`), so the warm start and ``vectors`` move continuously.

    With ``block_warm_start=True`` a warm call instead runs
    :func:`eoslib.eigsolve.augmented_lanczos` from the block of the previous *two* calls'
    sign-fixed eigenvectors (``2k`` columns; ``k`` at the second call): its span holds the
    last eigenvectors and their change, so a rotation among close top eigenvalues or the
    period-two oscillation at the Edge of Stability is resolved by one Rayleigh-Ritz step
    instead of through the small gap. It costs at least ``2k`` HVPs per call, so it pays
    only where single-vector warm starts need more (``benchmarks/README.md``). The default
    (False) keeps the single-vector Lanczos records of existing runs unchanged; both meet
    the same residual tolerance, so their eigenvalues agree to it.

    Records: ``eigenvalues (k,)`` descending, ``hvps`` (HVPs spent), ``converged`` and
    ``residuals (k,)``; with ``keep_vectors`` also ``eigenvectors (D, k)``.

    Args:
      every: stride in steps, in ``[1, inf)``.
      k: number of eigenvalues, in ``[1, D]``.
      tol: Lanczos relative residual tolerance, in ``(0, inf)``; the eigenvalue error is at
        most ``tol * |lambda|`` (typically its square).
      warm_start: start from the previous eigenvectors.
      block_warm_start: warm-start with `augmented_lanczos` from the previous two calls'
        eigenvector blocks (see above) instead of single-vector Lanczos.
      f: the loss ``R^D -> R`` whose Hessian is meant; default the training loss.
      max_iter: maximum HVPs per call, in ``[k, inf)``.
      seed: seed of the cold-start blocks and of the Lanczos key.
      keep_vectors: also record the eigenvectors.
      name: record key; default ``"top_eigenvalues"``.

    Attributes:
      vectors: the latest ``(D, k)`` sign-fixed eigenvectors (None before the first call).

    Raises:
      ValueError: an argument outside its allowed range.

    References:
      Ghorbani, Krishnan & Xiao, ICML 2019 (Lanczos on HVPs); Cohen et al., ICLR 2021.
    """

    def __init__(self, every: int, k: int = 1, tol: float = 1e-4, warm_start: bool = True, *,
                 f: Callable[[Array], Array] | None = None, max_iter: int = 100, seed: int = 0,
                 keep_vectors: bool = False, name: str = "top_eigenvalues",
                 block_warm_start: bool = False):
        if f is not None and not callable(f):
            raise ValueError("f must be None or a callable R^D -> R")
        self.every = _check_int("every", every, 1)
        self.f = f
        self._loss = f
        self.k = _check_int("k", k, 1)
        self.tol = _check_pos("tol", tol)
        self.max_iter = _check_int("max_iter", max_iter, self.k)
        self.warm_start = bool(warm_start)
        if not isinstance(block_warm_start, (bool, np.bool_)):
            raise ValueError(f"block_warm_start must be True or False, got {block_warm_start!r}")
        self.block_warm_start = bool(block_warm_start)
        self.seed = _check_int("seed", seed, 0)
        self.keep_vectors = bool(keep_vectors)
        self.name = name
        self.start(f)

    def start(self, f: Callable[[Array], Array] | None = None) -> None:
        """Forget the warm start (a new run starts cold); use ``f`` unless one was given."""
        self._loss = self.f if self.f is not None else f
        self.vectors: Array | None = None
        self._before: Array | None = None  # the eigenvectors of the call before the last
        self._rng = np.random.default_rng(self.seed)
        self._key = jax.random.PRNGKey(self.seed)

    def settings(self) -> dict:
        """The parameters that change the records (for the cache key)."""
        out = {"k": self.k, "tol": self.tol, "max_iter": self.max_iter,
               "warm_start": self.warm_start, "seed": self.seed,
               "keep_vectors": self.keep_vectors}
        if self.block_warm_start:  # only when set: the default keeps earlier cache keys
            out["block_warm_start"] = True
        return out

    def __call__(self, step: int, w: Float[Array, " D"]) -> dict[str, Any]:
        if self._loss is None:
            raise ValueError("TopEigenvalues has no loss: pass f=..., or run it in train_gd")
        dim = int(w.shape[0])
        if self.k > dim:
            raise ValueError(f"k must be an integer in [1, {dim}], got {self.k}")
        warm = self.warm_start and self.vectors is not None
        if warm and self.block_warm_start:
            blocks = [self.vectors] if self._before is None else [self.vectors, self._before]
            res = curvature.top_eigenpairs(self._loss, w, self.k, v0=jnp.concatenate(blocks, 1),
                                           tol=self.tol, max_iter=max(self.max_iter, 2 * self.k),
                                           key=self._key, method="augmented")
        else:
            # Always a (D, k) block, so the warm and cold calls share one compilation.
            v0 = (self.vectors if warm else
                  jnp.asarray(self._rng.standard_normal((dim, self.k)), w.dtype))
            res = curvature.top_eigenpairs(self._loss, w, self.k, v0=v0, tol=self.tol,
                                           max_iter=self.max_iter, key=self._key)
        self._before = self.vectors
        self.vectors = fix_signs(res.eigenvectors, self.vectors)
        out = {"eigenvalues": np.asarray(res.eigenvalues), "hvps": int(res.num_iterations),
               "converged": bool(res.converged), "residuals": np.asarray(res.residuals)}
        if self.keep_vectors:
            out["eigenvectors"] = np.asarray(self.vectors)
        return out


class GFSSharpness:
    """Sharpness of the gradient-flow solution (GFS) started at the current iterate.

    Each call runs gradient flow ``w' = -grad f(w)`` from the iterate until the loss reaches
    ``loss_threshold`` on ``f`` (default the training loss) (:func:`eoslib.flow.gradient_flow`, or
    :func:`eoslib.flow.gradient_flow_rk4` with ``method="rk4"``) and records the top Hessian
    eigenvalue at its end: the quantity that Kreisler et al. prove GD decreases
    monotonically (gfs_sharpness Figures 1, 6, 12 and 13).

    Records: ``sharpness``, ``loss``, ``time``, ``reached``, ``grad_evals``, ``hvps``; with
    ``keep_solution`` also ``w_gf (D,)``.

    Args:
      every: stride in steps, in ``[1, inf)``.
      f: the loss ``R^D -> R``; default (None) the training loss.
      loss_threshold: where the flow stops, in ``(0, inf)``; it defines the GFS.
      method: ``"rkc"`` (default), ``"tsit5"``, ``"dopri5"``, ``"bosh3"`` or ``"rk4"``.
      keep_solution: also record the GF solution.
      name: record key; default ``"gfs_sharpness"``.
      **solver_options: passed to the flow solver (``rtol``, ``atol``, ``max_grad_evals``,
        ``sharpness_tol``, ``alpha`` for RK4, ...).

    Raises:
      ValueError: an argument outside its allowed range.

    References:
      Kreisler et al., ICML 2023.
    """

    def __init__(self, every: int, f: Callable[[Array], Array] | None = None, *,
                 loss_threshold: float, method: str = "rkc", keep_solution: bool = False,
                 name: str = "gfs_sharpness", **solver_options: Any):
        from . import flow

        if f is not None and not callable(f):
            raise ValueError("f must be None or a callable R^D -> R")
        _choice("method", method, flow.METHODS + ("rk4",))
        self.every = _check_int("every", every, 1)
        self.f = f
        self.loss_threshold = _check_pos("loss_threshold", loss_threshold)
        self.method = method
        self.keep_solution = bool(keep_solution)
        self.options = dict(solver_options)
        self.name = name
        self.start(f)

    def start(self, f: Callable[[Array], Array] | None = None) -> None:
        """Use ``f`` (the training loss) unless a loss was given; forget the last result."""
        self._loss = self.f if self.f is not None else f
        self.last = None  # the latest eoslib.flow.FlowResult

    def settings(self) -> dict:
        """The parameters that change the records (for the cache key)."""
        return {"loss_threshold": self.loss_threshold, "method": self.method,
                "keep_solution": self.keep_solution, "options": self.options}

    def __call__(self, step: int, w: Float[Array, " D"]) -> dict[str, Any]:
        from . import flow

        if self._loss is None:
            raise ValueError("GFSSharpness has no loss: pass f=..., or run it in train_gd")
        if self.method == "rk4":
            r = flow.gradient_flow_rk4(self._loss, w, loss_threshold=self.loss_threshold,
                                       **self.options)
        else:
            r = flow.gradient_flow(self._loss, w, loss_threshold=self.loss_threshold,
                                   method=self.method, **self.options)
        self.last = r
        out = {"sharpness": r.sharpness, "loss": r.loss, "time": r.time, "reached": r.reached,
               "grad_evals": r.num_grad_evals, "hvps": r.num_hvps}
        if self.keep_solution:
            out["w_gf"] = np.asarray(r.w)
        return out


class Checkpoints:
    """The parameters every ``every`` steps (records ``w (D,)``, stacked to ``(n, D)``).

    Args:
      every: stride in steps, in ``[1, inf)``.
      name: record key; default ``"checkpoints"``.
    """

    def __init__(self, every: int, *, name: str = "checkpoints"):
        self.every = _check_int("every", every, 1)
        self.name = name

    def settings(self) -> dict:
        return {}

    def __call__(self, step: int, w: Float[Array, " D"]) -> dict[str, Any]:
        return {"w": np.asarray(w)}


class Metric:
    """Any function of the parameters, jit-compiled, every ``every`` steps.

    ``fn(w)`` may return a number or array (recorded as ``value``) or a dict of them
    (recorded key by key), e.g. a test accuracy or the product-stability terms.

    Args:
      every: stride in steps, in ``[1, inf)``.
      fn: JAX-traceable ``w -> value | dict`` (with ``jit=False``, any Python function).
      name: record key (required: it also names ``fn`` in the cache key).
      jit: compile ``fn`` with ``jax.jit``.
    """

    def __init__(self, every: int, fn: Callable[[Array], Any], *, name: str, jit: bool = True):
        if not callable(fn):
            raise ValueError("fn must be a callable w -> value or dict")
        self.every = _check_int("every", every, 1)
        self.fn = jax.jit(fn) if jit else fn
        self.name = name
        self.jit = bool(jit)

    def settings(self) -> dict:
        return {"jit": self.jit}

    def __call__(self, step: int, w: Float[Array, " D"]) -> dict[str, Any]:
        out = self.fn(w)
        if isinstance(out, Mapping):
            return {k: np.asarray(v) for k, v in out.items()}
        return {"value": np.asarray(out)}
