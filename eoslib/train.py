"""Full-batch GD on networks: the one training driver, with callbacks and a run cache.

:func:`train_gd` runs gradient descent ``w <- w - eta_t grad f(w)`` on a flat parameter
vector (build ``f`` with :func:`eoslib.nets.flat_loss`); ``eta_t`` is a constant or a
per-step schedule. Between the steps at which something is recorded, the steps run through
the core iteration primitive :func:`eoslib.gd.iterate` (one jit-compiled ``lax.scan``). At
the recording points it logs the loss (and an optional accuracy), every ``eig_every`` steps
the top-``k`` Hessian eigenvalues (a built-in :class:`eoslib.callbacks.TopEigenvalues`:
warm-started Lanczos on HVPs), and whatever its ``callbacks`` return (sharpness, top-k
eigenvalues, GFS sharpness, checkpoints, any metric: see :mod:`eoslib.callbacks`). Along a
GD trajectory the top eigenvectors move slowly, so a warm start needs a fraction of the
HVPs of a cold one (``benchmarks/bench_top_eigenvalue.py``).

Divergence follows :mod:`eoslib.gd`: an iterate is invalid once it has a non-finite entry
or ``||w|| > max_norm``; the run then stops, ``diverged_at`` is the first invalid step and
the returned ``w`` is the last valid iterate.

A run is identified by a settings dict that the caller passes (dataset, network, loss,
seed, ...), combined with every argument of :func:`train_gd` that changes the result (the
callbacks' ``settings()`` included) and a digest of ``w0``. Its SHA-256 names an ``.npz``
file in the cache directory, so several notebooks can share one run without retraining.
Files are written atomically (temporary file + rename), so an interrupted run never leaves
a truncated cache entry.

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
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from . import gd
from .callbacks import Callback, TopEigenvalues, callback_name
from .validation import flat_point as _check_point, integer as _check_int, positive as _check_pos

__all__ = [
    "TrainRun",
    "train_gd",
    "cache_key",
    "cache_path",
    "default_cache_dir",
    "CACHE_ENV_VAR",
    "Callback",
]

CACHE_ENV_VAR = "EOSLIB_CACHE"

# Bumped whenever the meaning of a cached field changes, so old files are not reused.
# (Version 1 files without callback records or schedules still load: those fields are new.)
_FORMAT_VERSION = 1

# Separator of the npz keys of callback records: "rec::<callback>::<field>".
_REC = "rec::"

#: A learning rate: constant, one value per step, or a function of the step index.
Schedule = float | Float[ArrayLike, " num_steps"] | Sequence[float] | Callable[[int], float]


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
      eta: learning rate: a float, or the ``(num_steps,)`` schedule.
      num_steps: number of steps requested.
      settings: the full settings dict that keys the cache (caller settings plus the
        training arguments).
      key: SHA-256 hex digest of ``settings`` (the cache key).
      wall_time: seconds spent training (of the original run when loaded from cache).
      from_cache: True when this object was loaded from an ``.npz`` file.
      records: one dict per callback, keyed by the callback's name: ``"step"`` (the steps
        at which it returned a record) and one stacked array per field it returned.
    """

    steps: Int[np.ndarray, " n_log"]
    loss: Float[np.ndarray, " n_log"]
    accuracy: Float[np.ndarray, " n_log"]
    eig_steps: Int[np.ndarray, " n_eig"]
    eigenvalues: Float[np.ndarray, "n_eig k"]
    hvp_counts: Int[np.ndarray, " n_eig"]
    eig_converged: Bool[np.ndarray, " n_eig"]
    diverged_at: int
    w: Float[np.ndarray, " D"]
    eta: float | Float[np.ndarray, " num_steps"]
    num_steps: int
    settings: dict = field(default_factory=dict)
    key: str = ""
    wall_time: float = 0.0
    from_cache: bool = False
    records: dict = field(default_factory=dict)

    @property
    def sharpness(self) -> Float[np.ndarray, " n_eig"]:
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
        for name, rec in self.records.items():
            for fld, value in rec.items():
                arrays[f"{_REC}{name}::{fld}"] = np.asarray(value)
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
            records: dict = {}
            for key in z.files:
                if key.startswith(_REC):
                    name, fld = key[len(_REC):].split("::", 1)
                    records.setdefault(name, {})[fld] = z[key]
            eta = z["eta"]
            return cls(
                steps=z["steps"], loss=z["loss"], accuracy=z["accuracy"],
                eig_steps=z["eig_steps"], eigenvalues=z["eigenvalues"],
                hvp_counts=z["hvp_counts"], eig_converged=z["eig_converged"],
                diverged_at=int(z["diverged_at"]), w=z["w"],
                eta=float(eta) if eta.ndim == 0 else eta,
                num_steps=int(z["num_steps"]), settings=json.loads(str(z["settings_json"])),
                key=str(z["key"]), wall_time=float(z["wall_time"]), from_cache=True,
                records=records,
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


# ----------------------------------------------------------------------------- GD steps


@dataclass(frozen=True)
class _GDStep:
    """``w -> w - eta grad f(w)``; hashable by ``f``, so gd.iterate reuses its compilation."""

    f: Callable[[Array], Array]

    def __call__(self, w: Array, eta: Array) -> Array:
        return w - eta * jax.grad(self.f)(w)


@dataclass(frozen=True)
class _ScheduledGDStep:
    """``w -> w - etas[t] grad f(w)`` (an indexed step of gd.iterate)."""

    f: Callable[[Array], Array]

    def __call__(self, w: Array, t: Array, etas: Array) -> Array:
        return w - etas[t] * jax.grad(self.f)(w)


def _gd_chunk(f, w, eta, length: int, start: int, max_norm: float) -> gd.Iterates:
    """``length`` GD steps from ``w`` (global step ``start``) through gd.iterate."""
    if jnp.ndim(eta) == 0:
        return gd.iterate(_GDStep(f), w, length, args=(eta,), max_norm=max_norm)
    return gd.iterate(_ScheduledGDStep(f), w, length, args=(eta,), max_norm=max_norm,
                      indexed=True, start=start)


# Jitted: an eager network forward pass dispatches (and compiles) op by op.
_loss_value = jax.jit(lambda f, w: f(w), static_argnums=0)


# ----------------------------------------------------------------------------- arguments


def _event_steps(num_steps: int, every: int) -> list[int]:
    if every <= 0:
        return []
    pts = list(range(0, num_steps + 1, every))
    if pts[-1] != num_steps:
        pts.append(num_steps)
    return pts


def _schedule(eta: Schedule, num_steps: int) -> tuple[float | np.ndarray, Any]:
    """(eta as a float or a float64 (num_steps,) array, its JSON description for the key)."""
    if callable(eta):
        values = []
        for t in range(num_steps):
            v = eta(t)
            values.append(_check_pos(f"eta({t})", v))
        eta = np.asarray(values, np.float64)
    elif isinstance(eta, (numbers.Real, np.number)) or np.ndim(eta) == 0:
        return _check_pos("eta", eta), None
    arr = np.asarray(eta, dtype=np.float64)
    if arr.shape != (num_steps,):
        raise ValueError(f"eta must be a float, a callable step -> float or a schedule of "
                         f"shape ({num_steps},) (num_steps), got shape {arr.shape}")
    if not (np.all(np.isfinite(arr)) and np.all(arr > 0)):
        raise ValueError("eta must lie in (0, inf) at every step")
    desc = {"schedule_sha256": hashlib.sha256(arr.tobytes()).hexdigest(),
            "min": float(arr.min()), "max": float(arr.max())}
    return arr, desc


def _callback_list(callbacks: Sequence[Any], num_steps: int) -> list[tuple[str, Any, int]]:
    out: list[tuple[str, Any, int]] = []
    seen: set[str] = set()
    for cb in callbacks:
        if not callable(cb):
            raise ValueError(f"callbacks must be callables (step, w) -> dict | None, got "
                             f"{type(cb).__name__}")
        name = callback_name(cb)
        if name in seen:
            raise ValueError(f"callback names must be unique; {name!r} appears twice "
                             "(pass name=... to tell them apart)")
        seen.add(name)
        every = _check_int(f"callback {name!r} every", getattr(cb, "every", None), 1)
        out.append((name, cb, every))
    return out


def _callback_settings(name: str, cb: Any, every: int) -> dict:
    desc = {"name": name, "every": every,
            "type": f"{type(cb).__module__}.{type(cb).__qualname__}"}
    if hasattr(cb, "settings"):
        desc["settings"] = _jsonable(cb.settings(), f"callback {name!r} settings()")
    return desc


def _stack_records(name: str, rows: list[tuple[int, Mapping[str, Any]]]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {"step": np.asarray([t for t, _ in rows], np.int64)}
    if not rows:
        return out
    keys = list(rows[0][1].keys())
    for t, rec in rows:
        if list(rec.keys()) != keys:
            raise ValueError(f"callback {name!r} returned fields {sorted(rec)} at step {t} "
                             f"but {sorted(keys)} before: every record needs the same fields")
    for key in keys:
        if not isinstance(key, str) or not key.isidentifier() or key == "step":
            raise ValueError(f"callback {name!r}: record fields must be identifiers other "
                             f"than 'step', got {key!r}")
        try:
            arr = np.stack([np.asarray(rec[key]) for _, rec in rows])
        except ValueError as err:
            raise ValueError(f"callback {name!r}: field {key!r} changes shape between "
                             f"records ({err})") from None
        if arr.dtype == object:
            raise ValueError(f"callback {name!r}: field {key!r} must hold numbers, booleans, "
                             "strings or arrays of them")
        out[key] = arr
    return out


# ----------------------------------------------------------------------------- driver


def train_gd(
    f: Callable[[Array], Array],
    w0: Float[ArrayLike, " D"],
    eta: Schedule,
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
    callbacks: Sequence[Callback] = (),
) -> TrainRun:
    """Full-batch GD with loss/accuracy logging, eigenvalue tracking and callbacks.

    The recording points are the multiples of ``log_every``, of ``eig_every`` and of every
    callback's ``every``, plus the last step. Between consecutive points the GD steps run
    through :func:`eoslib.gd.iterate` (one jit-compiled ``lax.scan``), so Python is entered
    only at recording points. Every ``eig_every`` steps the top ``k`` eigenpairs of the
    Hessian come from Lanczos on HVPs, started from the previous eigenvectors
    (``warm_start=True``) or from a fresh random block (``warm_start=False``, the cold
    start, for comparison).

    Callbacks (see :mod:`eoslib.callbacks` for the ready ones): each is called as
    ``cb(step, w)`` at step 0, every ``cb.every`` steps and at ``num_steps``; the dicts it
    returns are stacked into ``TrainRun.records[name]`` (with the steps under ``"step"``)
    and cached with the run. A callback's optional ``start(f)`` is called once before the
    run (it resets its state and receives the training loss). After a divergence the run
    stops and nothing is recorded past the last point before it.

    Caching: when ``settings`` is given, the run is looked up in (and saved to) the cache
    directory under the hash of ``settings`` merged with the training arguments, the
    callbacks' names, strides and ``settings()``, and a digest of ``w0`` (so a different
    initialisation never hits a stale entry). ``f`` and the functions inside callbacks
    cannot be hashed: ``settings`` must name everything that defines them (dataset, subset
    size, network, loss, dtype, ...). Without ``settings`` nothing is cached.

    Args:
      f: training loss of the flat parameters, ``R^D -> R`` (e.g. from
        :func:`eoslib.nets.flat_loss`). Pass the same function object to several calls
        to reuse compilations.
      w0: initial parameters, floating, shape ``(D,)``, finite, ``||w0|| <= max_norm``;
        its dtype is the training dtype.
      eta: learning rate: a float in ``(0, inf)``, a sequence of ``num_steps`` such values
        (``eta[t]`` is used for the step ``w_t -> w_{t+1}``), or a callable
        ``t -> eta_t`` (evaluated once per step before the run).
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
      callbacks: objects with ``every``, an optional ``name`` (unique) and
        ``__call__(step, w) -> dict | None`` (:class:`eoslib.callbacks.Callback`).

    Returns:
      A :class:`TrainRun`. ``from_cache`` tells whether it was loaded.

    Raises:
      ValueError: an argument outside its allowed range (the message names it), or a
        callback record that cannot be stacked.

    References:
      Cohen et al., "Gradient Descent on Neural Networks Typically Occurs at the Edge of
      Stability", ICLR 2021 (full-batch GD, sharpness by Lanczos every few steps).
      Ghorbani, Krishnan & Xiao, "An Investigation into Neural Net Optimization via
      Hessian Eigenvalue Density", ICML 2019 (Lanczos on HVPs).
    """
    w0 = _check_point("w0", w0)
    dim = int(w0.shape[0])
    num_steps = _check_int("num_steps", num_steps, 1)
    eta_v, eta_desc = _schedule(eta, num_steps)
    log_every = _check_int("log_every", log_every, 1)
    eig_every = _check_int("eig_every", eig_every, 0)
    k = _check_int("k", k, 1, dim)
    eig_tol = _check_pos("eig_tol", eig_tol)
    eig_max_iter = _check_int("eig_max_iter", eig_max_iter, k)
    max_norm = _check_pos("max_norm", max_norm, allow_inf=True)
    if not float(jnp.linalg.norm(w0)) <= max_norm:
        raise ValueError(f"w0 must have norm <= max_norm={max_norm:g}")
    seed = _check_int("seed", seed, 0)
    if accuracy is not None and not callable(accuracy):
        raise ValueError("accuracy must be a callable w -> scalar or None")
    cbs = _callback_list(callbacks, num_steps)

    full_settings: dict | None = None
    path: Path | None = None
    if settings is not None:
        w0_host = np.asarray(w0)
        train_settings = {
            "eta": eta_v if eta_desc is None else eta_desc, "num_steps": num_steps,
            "log_every": log_every, "eig_every": eig_every, "k": k, "eig_tol": eig_tol,
            "eig_max_iter": eig_max_iter, "warm_start": bool(warm_start),
            "max_norm": max_norm, "seed": seed, "accuracy": accuracy is not None,
            "dtype": str(w0_host.dtype), "dim": dim,
            "w0_sha256": hashlib.sha256(w0_host.tobytes()).hexdigest(),
        }
        if cbs:  # absent without callbacks, so the keys of earlier runs stay valid
            train_settings["callbacks"] = [_callback_settings(*c) for c in cbs]
        full_settings = {"user": _jsonable(dict(settings), "settings"), "train": train_settings,
                         "format_version": _FORMAT_VERSION}
        path = cache_path(full_settings, cache_dir)
        if path.exists() and not refresh:
            run = TrainRun.load(path)
            # Guards against a (astronomically unlikely) prefix collision and hand edits.
            if run.settings == json.loads(_canonical_json(full_settings)):
                return run

    t_start = time.perf_counter()
    eta_a = jnp.asarray(eta_v, w0.dtype)
    acc_fn = jax.jit(accuracy) if accuracy is not None else None
    eig_cb = (TopEigenvalues(eig_every, k, eig_tol, warm_start, max_iter=eig_max_iter,
                             seed=seed) if eig_every else None)
    # Internal keys are not identifiers, so they never clash with a callback's name.
    every_cb = ([("<eig>", eig_cb, eig_every)] if eig_cb is not None else []) + cbs
    for _, cb, _ in every_cb:
        if hasattr(cb, "start"):
            cb.start(f)
    schedule = {"<log>": _event_steps(num_steps, log_every)}
    schedule.update({name: _event_steps(num_steps, every) for name, _, every in every_cb})
    due = {name: set(pts) for name, pts in schedule.items()}
    events = sorted(set().union(*due.values()))

    steps_l: list[int] = []
    loss_l: list[float] = []
    acc_l: list[float] = []
    eig_rows: list[tuple[int, Mapping[str, Any]]] = []
    rows: dict[str, list[tuple[int, Mapping[str, Any]]]] = {name: [] for name, _, _ in cbs}
    diverged_at = -1

    try:
        from tqdm import tqdm
        bar = tqdm(total=num_steps, desc="GD", unit="step", disable=not progress, leave=False)
    except ImportError:  # tqdm is a dependency, but the bar is cosmetic
        bar = None

    w = w0
    try:
        for i, t in enumerate(events):
            if t in due["<log>"]:
                steps_l.append(t)
                loss_l.append(float(_loss_value(f, w)))
                acc_l.append(float(acc_fn(w)) if acc_fn is not None else math.nan)
            for name, cb, _ in every_cb:
                if t not in due[name]:
                    continue
                rec = cb(t, w)
                if rec is not None:
                    (eig_rows if name == "<eig>" else rows[name]).append((t, rec))
            if bar is not None and (loss_l or eig_rows):
                post = {}
                if loss_l:
                    post["loss"] = f"{loss_l[-1]:.4g}"
                if eig_rows:
                    post["S"] = f"{float(eig_rows[-1][1]['eigenvalues'][0]):.4g}"
                bar.set_postfix(post, refresh=False)
            if i + 1 == len(events):
                break
            length = events[i + 1] - t
            it = _gd_chunk(f, w, eta_a, length, t, max_norm)
            w = it.final
            if bar is not None:
                bar.update(length)
            if it.diverged:
                diverged_at = t + int(it.diverged_at)
                break
    finally:
        if bar is not None:
            bar.close()

    eig = _stack_records("eigenvalues", eig_rows)
    run = TrainRun(
        steps=np.asarray(steps_l, np.int64),
        loss=np.asarray(loss_l, np.float64),
        accuracy=np.asarray(acc_l, np.float64),
        eig_steps=eig["step"],
        eigenvalues=(eig["eigenvalues"].astype(np.float64) if eig_rows else np.zeros((0, k))),
        hvp_counts=np.asarray(eig.get("hvps", np.zeros(0)), np.int64),
        eig_converged=np.asarray(eig.get("converged", np.zeros(0)), bool),
        diverged_at=int(diverged_at),
        w=np.asarray(w),
        eta=eta_v,
        num_steps=num_steps,
        settings=json.loads(_canonical_json(full_settings)) if full_settings is not None else {},
        key=cache_key(full_settings) if full_settings is not None else "",
        wall_time=time.perf_counter() - t_start,
        from_cache=False,
        records={name: _stack_records(name, r) for name, r in rows.items()},
    )
    if path is not None:
        run.save(path)
    return run
