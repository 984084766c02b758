"""Full-batch GD on networks with curvature tracking, and a cache of finished runs.

:func:`train_gd` runs gradient descent ``w <- w - eta grad f(w)`` on a flat parameter
vector (build ``f`` with :func:`eoslib.nets.flat_loss`). Between logging points the steps
run inside one jit-compiled ``lax.scan``; at logging points it records the loss (and an
optional accuracy), and every ``eig_every`` steps the top-``k`` Hessian eigenvalues by
Lanczos on Hessian-vector products (:func:`eoslib.curvature.top_eigenpairs`),
warm-started from the previous eigenvectors. Along a GD trajectory the top eigenvectors
move slowly, so a warm start needs a fraction of the HVPs of a cold one (see
``benchmarks/bench_top_eigenvalue.py``); the HVP count of every evaluation is recorded.

Divergence follows :mod:`eoslib.gd`: an iterate is invalid once it has a non-finite entry
or ``||w|| > max_norm``; the run then stops, ``diverged_at`` is the first invalid step and
the returned ``w`` is the last valid iterate.

A run is identified by a settings dict that the caller passes (dataset, network, loss,
seed, ...), combined with every argument of :func:`train_gd` that changes the result and a
digest of ``w0``. Its SHA-256 names an ``.npz`` file in the cache directory, so several
notebooks can share one run without retraining. Files are written atomically (temporary
file + rename), so an interrupted run never leaves a truncated cache entry.

Importing this module has no side effects (in particular it does not enable x64).
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import curvature
from .validation import integer as _check_int, positive as _check_pos

Array = jax.Array

__all__ = [
    "TrainRun",
    "train_gd",
    "cache_key",
    "cache_path",
    "default_cache_dir",
    "CACHE_ENV_VAR",
]

CACHE_ENV_VAR = "EOSLIB_CACHE"

# Bumped whenever the meaning of a cached field changes, so old files are not reused.
_FORMAT_VERSION = 1


# ----------------------------------------------------------------------------- result


@dataclass(frozen=True, eq=False)
class TrainRun:
    """A tracked full-batch GD run.

    Attributes:
      steps: ``(n_log,)`` step indices of the loss/accuracy records (``0, log_every, ...``
        and the last step).
      loss: ``(n_log,)`` training loss at ``steps``.
      accuracy: ``(n_log,)`` accuracy at ``steps``; NaN when no accuracy function was given.
      eig_steps: ``(n_eig,)`` step indices of the eigenvalue records.
      eigenvalues: ``(n_eig, k)`` top-``k`` Hessian eigenvalues, descending.
      hvp_counts: ``(n_eig,)`` Hessian-vector products spent on each Lanczos call.
      eig_converged: ``(n_eig,)`` whether each Lanczos call met its tolerance.
      diverged_at: first invalid step, ``-1`` if the run never diverged.
      w: final parameters (the last valid iterate).
      eta: learning rate.
      num_steps: number of steps requested.
      settings: the full settings dict that keys the cache (caller settings plus the
        training arguments).
      key: SHA-256 hex digest of ``settings`` (the cache key).
      wall_time: seconds spent training (of the original run when loaded from cache).
      from_cache: True when this object was loaded from an ``.npz`` file.
    """

    steps: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray
    eig_steps: np.ndarray
    eigenvalues: np.ndarray
    hvp_counts: np.ndarray
    eig_converged: np.ndarray
    diverged_at: int
    w: np.ndarray
    eta: float
    num_steps: int
    settings: dict = field(default_factory=dict)
    key: str = ""
    wall_time: float = 0.0
    from_cache: bool = False

    @property
    def sharpness(self) -> np.ndarray:
        """``(n_eig,)`` the top Hessian eigenvalue at ``eig_steps``."""
        return self.eigenvalues[:, 0] if self.eigenvalues.size else np.zeros((0,))

    @property
    def diverged(self) -> bool:
        """True if the run stopped because an iterate became invalid."""
        return self.diverged_at >= 0

    @property
    def total_hvps(self) -> int:
        """Total Hessian-vector products spent on eigenvalue tracking."""
        return int(np.sum(self.hvp_counts))

    def report(self) -> str:
        """One line: ``"ran N steps"`` or ``"diverged at step k of N"``, plus the HVP total."""
        head = (f"diverged at step {self.diverged_at} of {self.num_steps}" if self.diverged
                else f"ran {self.num_steps} steps without diverging")
        tail = (f"; {len(self.eig_steps)} eigenvalue evaluations, {self.total_hvps} HVPs"
                if len(self.eig_steps) else "")
        return head + tail

    def save(self, path: str | os.PathLike) -> Path:
        """Write the run to ``path`` (an ``.npz`` file), atomically.

        Args:
          path: destination; its directory is created if needed.

        Returns:
          The path written.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {
            "steps": np.asarray(self.steps, np.int64),
            "loss": np.asarray(self.loss),
            "accuracy": np.asarray(self.accuracy),
            "eig_steps": np.asarray(self.eig_steps, np.int64),
            "eigenvalues": np.asarray(self.eigenvalues),
            "hvp_counts": np.asarray(self.hvp_counts, np.int64),
            "eig_converged": np.asarray(self.eig_converged, bool),
            "diverged_at": np.asarray(self.diverged_at, np.int64),
            "w": np.asarray(self.w),
            "eta": np.asarray(self.eta, np.float64),
            "num_steps": np.asarray(self.num_steps, np.int64),
            # A unicode array, so loading never needs pickle.
            "settings_json": np.asarray(_canonical_json(self.settings)),
            "key": np.asarray(self.key),
            "wall_time": np.asarray(self.wall_time, np.float64),
            "format_version": np.asarray(_FORMAT_VERSION, np.int64),
        }
        # Temporary file in the destination directory, then rename: os.replace is atomic
        # on POSIX and Windows, so readers see either the old file or the complete new one.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
                fh.flush()
                os.fsync(fh.fileno())
            # mkstemp creates the file 0600; give it the permissions of an ordinary file.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TrainRun":
        """Read a run written by :meth:`save`.

        Args:
          path: an ``.npz`` file.

        Returns:
          The run, with ``from_cache=True``.

        Raises:
          ValueError: the file was written by an incompatible version of this module.
        """
        with np.load(path, allow_pickle=False) as z:
            version = int(z["format_version"])
            if version != _FORMAT_VERSION:
                raise ValueError(f"{path}: cache format version {version}, this eoslib reads "
                                 f"version {_FORMAT_VERSION}; delete the file to retrain")
            return cls(
                steps=z["steps"], loss=z["loss"], accuracy=z["accuracy"],
                eig_steps=z["eig_steps"], eigenvalues=z["eigenvalues"],
                hvp_counts=z["hvp_counts"], eig_converged=z["eig_converged"],
                diverged_at=int(z["diverged_at"]), w=z["w"], eta=float(z["eta"]),
                num_steps=int(z["num_steps"]), settings=json.loads(str(z["settings_json"])),
                key=str(z["key"]), wall_time=float(z["wall_time"]), from_cache=True,
            )


# ----------------------------------------------------------------------------- cache


def default_cache_dir() -> Path:
    """The cache directory: ``$EOSLIB_CACHE`` if set, else ``<repo>/_cache``.

    ``<repo>`` is the directory that contains the ``eoslib`` package (the repository root
    for an editable install). ``.npz`` files are git-ignored.
    """
    env = os.environ.get(CACHE_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "_cache"


def _jsonable(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (numbers.Integral, np.integer)):
        return int(value)
    if isinstance(value, (numbers.Real, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return repr(v)  # JSON has no inf/nan; the string form still hashes uniquely
        return v
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"settings keys must be strings, got {k!r} in {where}")
            out[k] = _jsonable(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (np.ndarray, jax.Array)) and np.ndim(value) == 0:
        return _jsonable(np.asarray(value).item(), where)
    raise ValueError(
        f"settings must hold only str, int, float, bool, None, lists/tuples and dicts "
        f"(JSON values); {where} is {type(value).__name__}: describe it by name or number")


def _canonical_json(settings: Mapping[str, Any]) -> str:
    return json.dumps(_jsonable(settings, "settings"), sort_keys=True, separators=(",", ":"))


def cache_key(settings: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of a settings dict (canonical JSON, sorted keys).

    Args:
      settings: JSON-like dict (str keys; str, int, float, bool, None, list, tuple, dict
        values; tuples hash like lists).

    Returns:
      64 hex characters.

    Raises:
      ValueError: a value is not JSON-like.
    """
    if not isinstance(settings, Mapping):
        raise ValueError(f"settings must be a dict, got {type(settings).__name__}")
    return hashlib.sha256(_canonical_json(settings).encode()).hexdigest()


def cache_path(settings: Mapping[str, Any], cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the run with these (full) settings is cached.

    Args:
      settings: the full settings dict (``TrainRun.settings``).
      cache_dir: directory; default :func:`default_cache_dir`.

    Returns:
      ``<cache_dir>/train-<first 20 hex digits of the key>.npz``.
    """
    root = default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()
    return root / f"train-{cache_key(settings)[:20]}.npz"


# ----------------------------------------------------------------------------- GD core


def _guarded_scan(f: Callable[[Array], Array], w: Array, eta: Array, max_sq: Array,
                  length: int, finite_only: bool) -> tuple[Array, Array, Array]:
    """``length`` GD steps; freezes at the last valid iterate. Returns (w, alive, count)."""

    def valid(x: Array) -> Array:
        if finite_only:
            return jnp.all(jnp.isfinite(x))
        # NaN and inf fail the comparison, so one test covers both kinds of invalid.
        return jnp.vdot(x, x) <= max_sq

    def body(carry, _):
        x, alive, count = carry
        x_new = x - eta * jax.grad(f)(x)
        alive = alive & valid(x_new)
        x = jnp.where(alive, x_new, x)
        return (x, alive, count + alive.astype(jnp.int32)), None

    carry = (w, jnp.asarray(True), jnp.zeros((), jnp.int32))
    (w, alive, count), _ = lax.scan(body, carry, None, length=length)
    return w, alive, count


@partial(jax.jit, static_argnames=("f", "length", "finite_only"))
def _gd_chunk(f, w, eta, max_sq, *, length, finite_only):
    return _guarded_scan(f, w, eta, max_sq, length, finite_only)


@partial(jax.jit, static_argnames=("f",))
def _loss_jit(f, w):
    return f(w)


# ----------------------------------------------------------------------------- validation


def _event_steps(num_steps: int, every: int) -> list[int]:
    if every <= 0:
        return []
    pts = list(range(0, num_steps + 1, every))
    if pts[-1] != num_steps:
        pts.append(num_steps)
    return pts


# ----------------------------------------------------------------------------- driver


def train_gd(
    f: Callable[[Array], Array],
    w0: Array,
    eta: float,
    num_steps: int,
    *,
    log_every: int = 10,
    eig_every: int = 0,
    k: int = 1,
    accuracy: Callable[[Array], Array] | None = None,
    eig_tol: float = 1e-4,
    eig_max_iter: int = 100,
    warm_start: bool = True,
    max_norm: float = 1e8,
    seed: int = 0,
    progress: bool = True,
    settings: Mapping[str, Any] | None = None,
    cache_dir: str | os.PathLike | None = None,
    refresh: bool = False,
) -> TrainRun:
    """Full-batch GD with loss/accuracy logging and top-``k`` Hessian eigenvalue tracking.

    Between consecutive logging points (multiples of ``log_every`` or ``eig_every``, and
    the last step) the GD steps run in one jit-compiled ``lax.scan``, so Python is entered
    only at logging points. Every ``eig_every`` steps the top ``k`` eigenpairs of the
    Hessian come from Lanczos on HVPs, started from the previous eigenvectors
    (``warm_start=True``) or from a fresh random vector (``warm_start=False``, the cold
    start, for comparison).

    Caching: when ``settings`` is given, the run is looked up in (and saved to) the cache
    directory under the hash of ``settings`` merged with the training arguments and a
    digest of ``w0`` (so a different initialisation never hits a stale entry). ``f``
    itself cannot be hashed: ``settings`` must name everything that defines it (dataset,
    subset size, network, loss, dtype, ...). Without ``settings`` nothing is cached.

    Args:
      f: training loss of the flat parameters, ``R^D -> R`` (e.g. from
        :func:`eoslib.nets.flat_loss`). Pass the same function object to several calls
        to reuse compilations.
      w0: initial parameters, floating, shape ``(D,)``; its dtype is the training dtype.
      eta: learning rate, in ``(0, inf)``.
      num_steps: number of GD steps, in ``[1, inf)``.
      log_every: loss/accuracy logging stride, in ``[1, inf)``.
      eig_every: eigenvalue stride, in ``[0, inf)``; 0 disables eigenvalue tracking.
      k: number of top eigenvalues, in ``[1, D]``.
      accuracy: optional JAX-traceable ``w -> scalar`` (e.g. training accuracy); it is
        jit-compiled and evaluated at the logging points.
      eig_tol: Lanczos relative residual tolerance, in ``(0, inf)``; the eigenvalue error
        is at most ``eig_tol * |lambda|`` (and typically its square).
      eig_max_iter: maximum HVPs per Lanczos call, in ``[k, inf)``.
      warm_start: start each Lanczos call from the previous eigenvectors.
      max_norm: divergence bound on ``||w||``, in ``(0, inf]``; ``inf`` checks finiteness only.
      seed: seed of the random Lanczos start vectors.
      progress: show a tqdm progress bar (on stderr).
      settings: JSON-like dict describing the run (dataset, network, loss, seed, ...);
        enables the cache.
      cache_dir: cache directory; default :func:`default_cache_dir` (``$EOSLIB_CACHE`` or
        ``<repo>/_cache``).
      refresh: retrain and overwrite even if a cached run exists.

    Returns:
      A :class:`TrainRun`. ``from_cache`` tells whether it was loaded.

    Raises:
      ValueError: an argument outside its allowed range (the message names it).

    References:
      Cohen et al., "Gradient Descent on Neural Networks Typically Occurs at the Edge of
      Stability", ICLR 2021 (full-batch GD, sharpness by Lanczos every few steps).
      Ghorbani, Krishnan & Xiao, "An Investigation into Neural Net Optimization via
      Hessian Eigenvalue Density", ICML 2019 (Lanczos on HVPs).
    """
    w0 = jnp.asarray(w0)
    if w0.ndim != 1 or not jnp.issubdtype(w0.dtype, jnp.floating):
        raise ValueError(f"w0 must be a flat floating vector of shape (D,), got shape "
                         f"{w0.shape} and dtype {w0.dtype}")
    if not bool(jnp.all(jnp.isfinite(w0))):
        raise ValueError("w0 must be finite")
    dim = int(w0.shape[0])
    eta_f = _check_pos("eta", eta)
    num_steps = _check_int("num_steps", num_steps, 1)
    log_every = _check_int("log_every", log_every, 1)
    eig_every = _check_int("eig_every", eig_every, 0)
    k_integral = isinstance(k, (numbers.Integral, np.integer)) and not isinstance(k, bool)
    if not k_integral or not 1 <= k <= dim:
        raise ValueError(f"k must be an integer in [1, {dim}], got {k!r}")
    k = int(k)
    eig_tol = _check_pos("eig_tol", eig_tol)
    eig_max_iter = _check_int("eig_max_iter", eig_max_iter, k)
    max_norm = _check_pos("max_norm", max_norm, allow_inf=True)
    seed = _check_int("seed", seed, 0)
    if accuracy is not None and not callable(accuracy):
        raise ValueError("accuracy must be a callable w -> scalar or None")

    full_settings: dict | None = None
    path: Path | None = None
    if settings is not None:
        w0_host = np.asarray(w0)
        full_settings = {
            "user": _jsonable(dict(settings), "settings"),
            "train": {
                "eta": eta_f, "num_steps": num_steps, "log_every": log_every,
                "eig_every": eig_every, "k": k, "eig_tol": eig_tol,
                "eig_max_iter": eig_max_iter, "warm_start": bool(warm_start),
                "max_norm": max_norm, "seed": seed, "accuracy": accuracy is not None,
                "dtype": str(w0_host.dtype), "dim": dim,
                "w0_sha256": hashlib.sha256(w0_host.tobytes()).hexdigest(),
            },
            "format_version": _FORMAT_VERSION,
        }
        path = cache_path(full_settings, cache_dir)
        if path.exists() and not refresh:
            run = TrainRun.load(path)
            # Guards against a (astronomically unlikely) prefix collision and hand edits.
            if run.settings == json.loads(_canonical_json(full_settings)):
                return run

    t_start = time.perf_counter()
    dtype = w0.dtype
    if math.isinf(max_norm):
        max_sq, finite_only = float(np.finfo(dtype).max), True
    else:
        # Capped so that a squared norm overflowing to inf still counts as invalid.
        max_sq, finite_only = min(max_norm * max_norm, float(np.finfo(dtype).max)), False
    eta_a = jnp.asarray(eta_f, dtype)
    max_sq_a = jnp.asarray(max_sq, dtype)
    acc_fn = jax.jit(accuracy) if accuracy is not None else None

    log_pts = _event_steps(num_steps, log_every)
    eig_pts = _event_steps(num_steps, eig_every)
    log_set, eig_set = set(log_pts), set(eig_pts)
    events = sorted(log_set | eig_set)

    rng = np.random.default_rng(seed)
    lanczos_key = jax.random.PRNGKey(seed)
    steps_l: list[int] = []
    loss_l: list[float] = []
    acc_l: list[float] = []
    eig_steps_l: list[int] = []
    eig_l: list[np.ndarray] = []
    hvp_l: list[int] = []
    conv_l: list[bool] = []
    vectors: Array | None = None
    diverged_at = -1

    try:
        from tqdm import tqdm
        bar = tqdm(total=num_steps, desc="GD", unit="step", disable=not progress, leave=False)
    except ImportError:  # tqdm is a dependency, but the bar is cosmetic
        bar = None

    w = w0
    try:
        for i, t in enumerate(events):
            if t in log_set:
                steps_l.append(t)
                loss_l.append(float(_loss_jit(f, w)))
                acc_l.append(float(acc_fn(w)) if acc_fn is not None else math.nan)
            if t in eig_set:
                if warm_start and vectors is not None:
                    v0 = vectors
                else:
                    # Always a (D, k) block, so the warm and cold calls share one compilation.
                    v0 = jnp.asarray(rng.standard_normal((dim, k)), dtype)
                res = curvature.top_eigenpairs(f, w, k, v0=v0, tol=eig_tol,
                                               max_iter=eig_max_iter, key=lanczos_key)
                vectors = res.eigenvectors
                eig_steps_l.append(t)
                eig_l.append(np.asarray(res.eigenvalues))
                hvp_l.append(int(res.num_iterations))
                conv_l.append(bool(res.converged))
            if bar is not None and (loss_l or eig_l):
                post = {}
                if loss_l:
                    post["loss"] = f"{loss_l[-1]:.4g}"
                if eig_l:
                    post["S"] = f"{eig_l[-1][0]:.4g}"
                bar.set_postfix(post, refresh=False)
            if i + 1 == len(events):
                break
            length = events[i + 1] - t
            w_new, alive, count = _gd_chunk(f, w, eta_a, max_sq_a, length=length,
                                            finite_only=finite_only)
            w = w_new
            if bar is not None:
                bar.update(length)
            if not bool(alive):
                # count = valid steps taken in this chunk; the next iterate is the bad one.
                diverged_at = t + int(count) + 1
                break
    finally:
        if bar is not None:
            bar.close()

    k_out = k
    run = TrainRun(
        steps=np.asarray(steps_l, np.int64),
        loss=np.asarray(loss_l, np.float64),
        accuracy=np.asarray(acc_l, np.float64),
        eig_steps=np.asarray(eig_steps_l, np.int64),
        eigenvalues=(np.stack(eig_l).astype(np.float64) if eig_l else np.zeros((0, k_out))),
        hvp_counts=np.asarray(hvp_l, np.int64),
        eig_converged=np.asarray(conv_l, bool),
        diverged_at=int(diverged_at),
        w=np.asarray(w),
        eta=eta_f,
        num_steps=num_steps,
        settings=json.loads(_canonical_json(full_settings)) if full_settings is not None else {},
        key=cache_key(full_settings) if full_settings is not None else "",
        wall_time=time.perf_counter() - t_start,
        from_cache=False,
    )
    if path is not None:
        run.save(path)
    return run
