"""Appendix B experiments of Chen & Bruna (2023): the 16-neuron teacher-student net and ReLU MLPs.

* **Teacher-student (Appendix B.3.1, Figure 8).** Teacher ``f*(x) = sum_i relu(e_i . x)`` on
  ``x ~ Unif(S^{d-1})``, ``d = 16``; student ``sum_i v_i relu(w_i . x)`` with 16 neurons, loss
  ``mean (f - f*)^2`` (no 1/2) over ``N`` samples. Every ``{v_i w_i = e_i}`` is a minimum; the
  ratios ``kappa_i = ||w_i|| / v_i`` parametrise the family and set its sharpness.
* **ReLU MLPs (Appendix B.3.2, Figures 9-11).** Full-batch GD (:func:`eoslib.train.train_gd`) on a
  2-class subset with one-hot targets and ``1/(2N) sum ||f - y||^2``, tracked with the sharpness (Lanczos on
  Hessian-vector products, warm-started), the alignment ``|cos(grad L, u_1)|`` of the gradient
  with the top Hessian eigenvector, and the stability number ``3 phi'''^2 - phi'' phi''''`` of
  the loss along the gradient at the line-search minimum (Definition 5).

References:
  L. Chen and J. Bruna, "Beyond the Edge of Stability via Two-step Gradient Updates",
  ICML 2023, arXiv:2206.04172: Appendix B.3 (Eq. 21-24), Definition 5, Figures 8-11.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from eoslib import callbacks, curvature, train
from eoslib.losses import derivatives, product_stability
from eoslib.papers.two_step.relu_neuron import sphere_samples
from eoslib.validation import default_float as _fdtype, integer as _int, real as _real, reals as _reals

__all__ = [
    "teacher_student_data",
    "student_output",
    "student_loss",
    "student_params",
    "student_ratios",
    "student_objective",
    "uniform_ratio_sharpness",
    "trajectory_sharpness",
    "line_search_minimum",
    "slice_stability",
    "EoSDiagnostics",
    "TrackedRun",
    "tracked_gd",
    "EoSSummary",
    "eos_summary",
    "mnist_like_binary",
]


# --------------------------------------------------------------------------- teacher-student


def teacher_student_data(key: Array, num_samples: int, d: int = 16) -> tuple[Array, Array]:
    """Inputs uniform on ``S^{d-1}`` and labels ``f*(x) = sum_i relu(x_i)`` (teacher ``w_i = e_i``).

    Args:
      key: ``jax.random`` key.
      num_samples: ``N``, an integer >= 1.
      d: input dimension = number of teacher neurons, an integer >= 2.

    Returns:
      ``(x, y)`` with shapes ``(N, d)`` and ``(N,)``.

    References:
      Chen & Bruna (2023), Appendix B.3.1.
    """
    x = sphere_samples(key, num_samples, d)
    return x, jnp.sum(jax.nn.relu(x), axis=1)


def _split(params: Array, m: int) -> tuple[Array, Array]:
    return params[:m], params[m:].reshape(m, -1)


def student_output(params: Array, x: Array, num_neurons: int = 16) -> Array:
    """``f(x) = sum_i v_i relu(w_i . x)`` for a flat ``params = (v (m,), W (m, d) row-major)``."""
    v, W = _split(params, num_neurons)
    return jax.nn.relu(x @ W.T) @ v


def student_loss(params: Array, x: Array, y: Array, num_neurons: int = 16) -> Array:
    """``mean_i (f(x_i) - y_i)^2`` (no 1/2; Appendix B.3.1's convention, threshold eta ~ 2.5)."""
    r = student_output(params, x, num_neurons) - y
    return jnp.mean(r * r)


def student_params(ratios, *, noise: float = 0.0, key: Array | None = None) -> Array:
    """A point of the minimum family ``v_i w_i = e_i`` with ``||w_i|| / v_i = kappa_i``, plus noise.

    ``w_i = sqrt(kappa_i) e_i`` and ``v_i = 1 / sqrt(kappa_i)``; then i.i.d. ``N(0, noise^2)``
    is added to every coordinate (Eq. 22).

    Args:
      ratios: ``(m,)`` ratios ``kappa_i`` in (0, inf); ``m`` is the number of neurons (= ``d``).
      noise: standard deviation of the perturbation, in [0, inf).
      key: ``jax.random`` key, required when ``noise > 0``.

    Returns:
      Flat ``(m + m^2,)`` parameters.

    References:
      Chen & Bruna (2023), Eq. 21-22.
    """
    k = _reals("ratios", ratios, 0.0)
    if k.ndim != 1:
        raise ValueError(f"ratios must be a 1-D array, got shape {k.shape}")
    sd = _real("noise", noise, 0.0, lo_open=False)
    m = k.size
    dt = _fdtype()
    kj = jnp.asarray(k, dt)
    p = jnp.concatenate([1.0 / jnp.sqrt(kj), (jnp.sqrt(kj)[:, None] * jnp.eye(m, dtype=dt)).ravel()])
    if sd > 0:
        if key is None:
            raise ValueError("key is required when noise > 0")
        p = p + sd * jax.random.normal(key, p.shape, dt)
    return p


def student_ratios(params: Array, num_neurons: int = 16) -> Array:
    """``kappa_i = ||w_i|| / v_i`` of every neuron (batched over leading axes of ``params``)."""
    v = params[..., :num_neurons]
    W = params[..., num_neurons:].reshape(params.shape[:-1] + (num_neurons, -1))
    return jnp.linalg.norm(W, axis=-1) / v


def uniform_ratio_sharpness(kappas, x: Array, y: Array, *, tol: float = 1e-9) -> np.ndarray:
    """Sharpness of the noiseless minimum with all ``kappa_i = kappa`` (Lanczos on HVPs).

    Args:
      kappas: ratio(s) in (0, inf).
      x, y: the training set (``d`` = number of neurons = ``x.shape[1]``).
      tol: relative Lanczos residual tolerance, in (0, 1); the eigenvalue error is of order
        ``tol^2`` times the spectral scale over the gap.

    Returns:
      Sharpness for every ``kappa``.

    References:
      Chen & Bruna (2023), Figure 8 (e, f).
    """
    ks = np.atleast_1d(_reals("kappas", kappas, 0.0))
    tol = _real("tol", tol, 0.0, 1.0)
    m = int(x.shape[1])
    dt = _fdtype()
    f = _StudentLoss(jnp.asarray(x, dt), jnp.asarray(y, dt), m)
    out, v0 = [], None
    for kappa in ks:
        eig = curvature.top_eigenpairs(f, student_params(np.full(m, kappa)), k=1, v0=v0, tol=tol, max_iter=272)
        v0 = eig.eigenvectors[:, 0]  # neighbouring kappas have nearby eigenvectors
        out.append(float(eig.eigenvalues[0]))
    return np.asarray(out)


class _StudentLoss:
    """``student_loss`` closed over a data set, hashable by identity (one compilation per data set)."""

    def __init__(self, x: Array, y: Array, m: int):
        self.x, self.y, self.m = x, y, m

    def __call__(self, p: Array) -> Array:
        return student_loss(p, self.x, self.y, self.m)


def student_objective(x: Array, y: Array) -> Callable[[Array], Array]:
    """The training loss ``p -> student_loss(p, x, y)`` as one reusable (hashable) callable.

    Pass the same object to :mod:`eoslib.gd` / :mod:`eoslib.curvature` to reuse compilations.
    """
    dt = _fdtype()
    return _StudentLoss(jnp.asarray(x, dt), jnp.asarray(y, dt), int(x.shape[1]))


def trajectory_sharpness(f: Callable[[Array], Array], params, *, tol: float = 1e-8,
                         max_iter: int = 200, warm_lag: int = 2) -> np.ndarray:
    """Top Hessian eigenvalue at every row of ``params`` (Lanczos on HVPs, warm-started).

    Row ``t`` starts Lanczos from the top eigenvector of row ``t - warm_lag``. Beyond the EoS
    the iterates alternate between two sides of a valley, so the default lag 2 (same side)
    gives a closer start than the previous row.

    Args:
      f: loss of a flat parameter vector (pass one reusable object, e.g. :func:`student_objective`).
      params: ``(T, D)`` iterates.
      tol: relative Lanczos residual tolerance, in (0, 1).
      max_iter: maximum HVPs per row, an integer >= 2.
      warm_lag: warm-start from the eigenvector this many rows back, an integer >= 1.

    Returns:
      ``(T,)`` sharpness values.
    """
    tol = _real("tol", tol, 0.0, 1.0)
    max_iter = _int("max_iter", max_iter, 2)
    P = jnp.asarray(params, _fdtype())
    if P.ndim != 2:
        raise ValueError(f"params must have shape (T, D), got {P.shape}")
    lag = _int("warm_lag", warm_lag, 1)
    out, vecs = [], []
    for t, row in enumerate(P):
        v0 = vecs[t - lag] if t >= lag else (vecs[-1] if vecs else None)
        eig = curvature.top_eigenpairs(f, row, k=1, v0=v0, tol=tol, max_iter=max_iter)
        vecs.append(eig.eigenvectors[:, 0])
        out.append(float(eig.eigenvalues[0]))
    return np.asarray(out)


# --------------------------------------------------------------------------- Definition 5


def line_search_minimum(f: Callable[[Array], Array], w: Array, eta, *, num_points: int = 401,
                        refine: int = 40, grad: Array | None = None) -> tuple[Array, Array]:
    """Definition 5: ``theta* = theta - eta* grad L`` with ``eta* = argmin_{[0, eta]} L(theta - eta' grad L)``.

    A grid of ``num_points`` step sizes on ``[0, eta]`` locates the minimum; ``refine``
    golden-section steps then polish it inside the neighbouring grid cells. Traceable (use
    under ``jit``).

    Args:
      f: loss of a flat parameter vector.
      w: point ``theta``.
      eta: learning rate ``eta`` (upper end of the search).
      num_points: grid size, >= 3.
      refine: golden-section iterations, >= 0.
      grad: ``grad L(theta)`` if already computed (saves one gradient).

    Returns:
      ``(theta_star, eta_star)``.

    References:
      Chen & Bruna (2023), Definition 5, Eq. 23-24.
    """
    g = jax.grad(f)(w) if grad is None else grad
    eta = jnp.asarray(eta, w.dtype)
    grid = jnp.linspace(0.0, 1.0, num_points, dtype=w.dtype) * eta
    vals = jax.vmap(lambda e: f(w - e * g))(grid)
    i = jnp.argmin(vals)
    h = eta / (num_points - 1)
    lo = jnp.maximum(grid[i] - h, 0.0)
    hi = jnp.minimum(grid[i] + h, eta)
    r = jnp.asarray((math.sqrt(5.0) - 1.0) / 2.0, w.dtype)

    def body(_, ab):
        a, b = ab
        c, d = b - r * (b - a), a + r * (b - a)
        left = f(w - c * g) < f(w - d * g)
        return jnp.where(left, a, c), jnp.where(left, d, b)

    a, b = jax.lax.fori_loop(0, refine, body, (lo, hi))
    e_star = 0.5 * (a + b)
    # Keep the grid minimum if polishing did not improve on it (flat or kinked slices).
    e_star = jnp.where(f(w - e_star * g) <= vals[i], e_star, grid[i])
    return w - e_star * g, e_star


def slice_stability(f: Callable[[Array], Array], w: Array, direction: Array) -> tuple[Array, Array]:
    """``3 phi'''(0)^2 - phi''(0) phi''''(0)`` of ``phi(s) = f(w + s u)``, ``u = direction / |direction|``.

    The stability number is :func:`eoslib.losses.product_stability` of the slice (nested
    ``jax.grad`` in the scalar ``s``): exact inside a ReLU activation region, where the loss is a
    polynomial in ``s``. Traceable (use under ``jit``).

    Args:
      f: loss of a flat parameter vector.
      w: base point (e.g. the line-search minimum).
      direction: slice direction (e.g. the gradient at the original point).

    Returns:
      ``(stability_number, [phi'', phi''', phi''''])``.

    References:
      Chen & Bruna (2023), Theorem 1 condition, Definition 5 and Figures 9-11 (d).
    """
    u = direction / jnp.linalg.norm(direction)

    def phi(s):
        return f(w + s * u)

    s0 = jnp.zeros((), w.dtype)
    return product_stability(phi, s0), derivatives(phi, s0, 4)[2:]


# --------------------------------------------------------------------------- tracked GD


@partial(jax.jit, static_argnames=("f", "num_points"))
def _diagnostics(f, w, eta, u, *, num_points):
    g = jax.grad(f)(w)
    cos = jnp.abs(jnp.dot(g, u)) / (jnp.linalg.norm(g) * jnp.linalg.norm(u))
    w_star, e_star = line_search_minimum(f, w, eta, num_points=num_points, grad=g)
    c, vals = slice_stability(f, w_star, g)
    return cos, c, eta * vals[0], e_star


class EoSDiagnostics:
    """A :func:`eoslib.train.train_gd` callback: the curvature diagnostics of Figures 9-11.

    At each call, at ``theta_t``: the sharpness and top eigenvector (a warm-started
    :class:`eoslib.callbacks.TopEigenvalues`), ``|cos(grad L, u_1)|``, and Definition 5's
    line-search minimum with the stability number of the gradient slice through it.

    Records: ``sharpness``, ``grad_cos``, ``ls_stability``, ``ls_curvature`` (``eta phi''``),
    ``ls_eta`` (``eta*``) and ``eta`` (the rate of the step from ``theta_t``).

    Args:
      every: stride in steps, an integer >= 1.
      etas: the run's learning-rate schedule, ``T >= 1`` values in (0, inf); the point after
        the last step uses the last value.
      lanczos_tol: relative residual tolerance of Lanczos, in (0, 1).
      lanczos_iter: maximum HVPs per Lanczos call, an integer >= 2.
      line_search_points: grid size of the line search, an integer >= 3.
      name: record key.
    """

    def __init__(self, every: int, etas, *, lanczos_tol: float = 1e-6, lanczos_iter: int = 100,
                 line_search_points: int = 401, name: str = "eos_diagnostics"):
        self.every = _int("every", every, 1)
        self.etas = _reals("etas", etas, 0.0)
        if self.etas.ndim != 1:
            raise ValueError(f"etas must be a 1-D schedule, got shape {self.etas.shape}")
        self.tol = _real("lanczos_tol", lanczos_tol, 0.0, 1.0)
        self.max_iter = _int("lanczos_iter", lanczos_iter, 2)
        self.num_points = _int("line_search_points", line_search_points, 3)
        self.name = name
        self.eig = callbacks.TopEigenvalues(self.every, 1, self.tol, max_iter=self.max_iter)
        self._f = None

    def start(self, f: Callable[[Array], Array]) -> None:
        """Use the training loss ``f``; restart the eigenvector warm start."""
        self._f = f
        self.eig.start(f)

    def settings(self) -> dict:
        """The parameters that change the records (for the cache key)."""
        return {"tol": self.tol, "max_iter": self.max_iter, "num_points": self.num_points}

    def __call__(self, step: int, w: Array) -> dict:
        top = self.eig(step, w)
        eta = jnp.asarray(self.etas[min(step, self.etas.size - 1)], w.dtype)
        cos, c, curv, e_star = _diagnostics(self._f, w, eta, self.eig.vectors[:, 0], num_points=self.num_points)
        return {"sharpness": float(top["eigenvalues"][0]), "grad_cos": float(cos), "ls_stability": float(c),
                "ls_curvature": float(curv), "ls_eta": float(e_star), "eta": float(eta)}


class TrackedRun(NamedTuple):
    """A full-batch GD run with the curvature diagnostics of :class:`EoSDiagnostics` at ``steps``.

    Attributes:
      steps: ``(n,)`` step indices of the diagnostics: ``0, every, 2 every, ...`` and the last
        step (after a divergence, only the steps before it).
      loss: ``(n,)`` loss at ``theta_t``.
      sharpness: ``(n,)`` top Hessian eigenvalue at ``theta_t`` (Lanczos).
      grad_cos: ``(n,)`` ``|cos(grad L(theta_t), u_1(theta_t))|``.
      ls_stability: ``(n,)`` stability number of the gradient slice at the line-search minimum.
      ls_curvature: ``(n,)`` ``eta phi''(0)`` at the line-search minimum.
      ls_eta: ``(n,)`` the line-search step ``eta*``.
      eta: ``(n,)`` the learning rate of the step from ``theta_t``.
      params: ``(n, D)`` iterates at ``steps`` if recorded, else ``(1, D)``: the last valid one.
      diverged_at: first step whose iterate was non-finite or had ``||theta|| > 1e8``, ``-1``
        if never (the :func:`eoslib.train.train_gd` convention: the run stops there).
      num_steps: number of steps requested.
    """

    steps: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    grad_cos: np.ndarray
    ls_stability: np.ndarray
    ls_curvature: np.ndarray
    ls_eta: np.ndarray
    eta: np.ndarray
    params: np.ndarray
    diverged_at: int
    num_steps: int

    def report(self) -> str:
        """``"ran N steps without diverging"`` or ``"diverged at step k of N"``."""
        if self.diverged_at >= 0:
            return f"diverged at step {self.diverged_at} of {self.num_steps}"
        return f"ran {self.num_steps} steps without diverging"


def tracked_gd(f: Callable[[Array], Array], w0: Array, etas, *, lanczos_tol: float = 1e-6,
               lanczos_iter: int = 100, line_search_points: int = 401, record_params: bool = False,
               diagnostics_every: int = 1) -> TrackedRun:
    """Full-batch GD with a learning-rate schedule and :class:`EoSDiagnostics` every few steps.

    A thin use of the core driver :func:`eoslib.train.train_gd` (GD steps through
    :func:`eoslib.gd.iterate`; divergence is a step index, never NaN).

    Args:
      f: loss of a flat parameter vector (pass the same object to reuse compilations).
      w0: initial parameters ``(D,)``, finite.
      etas: learning rate per step, a sequence of ``T >= 1`` values in (0, inf).
      lanczos_tol, lanczos_iter, line_search_points: as in :class:`EoSDiagnostics`.
      record_params: also keep the iterate of every diagnostic step.
      diagnostics_every: diagnostic stride, an integer >= 1 (the last step is always included).

    Returns:
      :class:`TrackedRun`.

    References:
      Chen & Bruna (2023), Appendix B.3, Definition 5.
    """
    eta_arr = _reals("etas", etas, 0.0)
    if eta_arr.ndim != 1:
        raise ValueError(f"etas must be a 1-D schedule, got shape {eta_arr.shape}")
    every = _int("diagnostics_every", diagnostics_every, 1)
    diag = EoSDiagnostics(every, eta_arr, lanczos_tol=lanczos_tol, lanczos_iter=lanczos_iter,
                          line_search_points=line_search_points)
    cbs = [diag] + ([callbacks.Checkpoints(every)] if record_params else [])
    run = train.train_gd(f, jnp.asarray(w0, _fdtype()), eta_arr, eta_arr.size, log_every=every,
                         callbacks=cbs, max_norm=1e8, progress=False)
    rec = run.records[diag.name]
    n = rec["step"].size
    params = run.records["checkpoints"]["w"] if record_params else np.asarray(run.w)[None]
    return TrackedRun(np.asarray(rec["step"]), run.loss[:n], *(np.asarray(rec[k]) for k in (
        "sharpness", "grad_cos", "ls_stability", "ls_curvature", "ls_eta", "eta")), params,
        run.diverged_at, eta_arr.size)


class EoSSummary(NamedTuple):
    """Statistics of a :class:`TrackedRun` over its edge-of-stability steps.

    Attributes:
      eos_steps: step indices ``t`` (of steps taken) with ``sharpness > 2 / eta``.
      median_cos: median ``|cos(grad L, u_1)|`` over those steps (NaN if there are none).
      frac_positive: fraction of those steps with a positive stability number at the
        line-search minimum (NaN if none).
      median_curvature: median ``eta phi''`` at the line-search minimum over those steps.
      median_cos_off: median ``|cos|`` over the other diagnostic steps (NaN if none).
    """

    eos_steps: np.ndarray
    median_cos: float
    frac_positive: float
    median_curvature: float
    median_cos_off: float


def eos_summary(run: TrackedRun) -> EoSSummary:
    """Summarise the diagnostics of Figures 9-11 over the steps beyond the EoS (``sharpness > 2/eta``).

    Args:
      run: a :class:`TrackedRun` (the final point, which takes no step, is excluded).

    Returns:
      :class:`EoSSummary`.

    References:
      Chen & Bruna (2023), Appendix B.3.2, Figures 9-11 (c, d).
    """
    took_step = run.steps < run.num_steps
    eos = took_step & (run.sharpness > 2.0 / run.eta)
    idx = np.flatnonzero(eos)
    off = np.flatnonzero(took_step & ~eos)

    def med(a):
        return float(np.median(a)) if a.size else float("nan")

    frac = float(np.mean(run.ls_stability[idx] > 0)) if idx.size else float("nan")
    return EoSSummary(run.steps[idx], med(run.grad_cos[idx]), frac, med(run.ls_curvature[idx]),
                      med(run.grad_cos[off]))


# --------------------------------------------------------------------------- data


def mnist_like_binary(dataset: str = "digits", *, classes=(0, 1), n_per_class: int | None = None,
                      min_std: float | None = None, root=None, fallback: str | None = None):
    """The two-class pixel-selected data of Appendix B.3.2 (MNIST) or its offline stand-in (digits).

    Protocol: the first ``n_per_class`` images of each class; keep pixels whose standard
    deviation over these images, on the raw grey-level scale, is ``>= min_std``; scale by the
    maximal grey level (1/255 for MNIST, 1/16 for digits); one-hot 2-dim targets.

    Defaults per dataset: MNIST 1000 per class and ``min_std = 110`` (the paper keeps 79
    inputs); digits all 360 images of classes 0/1 and ``min_std = 4`` (30 inputs; the
    MNIST threshold scaled to 16 grey levels would keep only 5).

    Args:
      dataset: ``"digits"`` (scikit-learn, offline) or ``"mnist"`` (local files, see
        :func:`eoslib.data.load_dataset`); choices digits|mnist.
      classes: the two classes.
      n_per_class: images per class, an integer >= 1 or None (dataset default).
      min_std: pixel-selection threshold on the raw grey-level scale, >= 0, or None (default).
      root: data directory for MNIST.
      fallback: ``"digits"`` to load that data set (with its defaults, and a printed line
        saying so) when the files of ``dataset`` are missing, or None (default) to raise
        ``FileNotFoundError``; choices digits|None.

    Returns:
      An :class:`eoslib.data.Dataset`.

    References:
      Chen & Bruna (2023), Appendix B.3.2.
    """
    from eoslib import data

    if dataset not in ("digits", "mnist"):
        raise ValueError(f"dataset={dataset!r} is not allowed; choices: digits|mnist")
    if fallback not in (None, "digits"):
        raise ValueError(f"fallback={fallback!r} is not allowed; choices: digits|None")
    if fallback is not None:
        try:
            return mnist_like_binary(dataset, classes=classes, n_per_class=n_per_class, min_std=min_std,
                                     root=root)
        except FileNotFoundError as err:
            print(f"MNIST files not found ({str(err).splitlines()[0]}); falling back to the scikit-learn "
                  "digits data")
            return mnist_like_binary(fallback, classes=classes)
    if dataset == "mnist":
        n_per_class = 1000 if n_per_class is None else n_per_class
        min_std = 110.0 if min_std is None else min_std
    else:
        min_std = 4.0 if min_std is None else min_std
    return data.load_dataset(dataset, classes=tuple(classes), n_per_class=n_per_class, min_std=min_std,
                             standardize="scale", target="onehot", root=root)
