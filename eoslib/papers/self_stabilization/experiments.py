"""Plain GD runs for Figures 1, 5 and 6: sharpness tracking, entry times, the ``1/S`` schedule.

These runs need no constrained trajectory: they go through the core driver
:func:`eoslib.train.train_gd` (cached on disk under the problem's settings) with the top-``k``
Hessian eigenvalues by warm-started Lanczos every ``eig_every`` steps. Like the paper's runs,
they are in float32 by default.

References:
  Damian, Nichani, Lee (2023), Figures 1, 5 and 6 (Appendix G.1).
  J. Cohen et al., "Gradient Descent on Neural Networks Typically Occurs at the Edge of
  Stability", ICLR 2021 (progressive sharpening, top eigenvalues along GD).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from eoslib import callbacks, curvature, train
from eoslib.papers.self_stabilization.problems import Problem
from eoslib.validation import integer as _int, positive as _pos

__all__ = ["eos_run", "entry_steps", "after_onset", "first_cycle_end", "ScheduleRun",
           "inverse_sharpness_run"]


def _start(problem: Problem, dtype: str):
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32|float64, got {dtype!r}")
    if dtype == "float32":
        return problem.f32, jnp.asarray(problem.w0, jnp.float32)
    return problem.f, jnp.asarray(problem.w0)


def eos_run(problem: Problem, eta: float, num_steps: int, *, k: int = 1, eig_every: int = 10,
            eig_tol: float = 1e-4, log_every: int = 10, dtype: str = "float32",
            accuracy: bool = False, test_every: int = 0) -> train.TrainRun:
    """GD with the top-``k`` Hessian eigenvalues every ``eig_every`` steps (cached by settings).

    Args:
      problem: the training problem.
      eta: learning rate, in (0, inf).
      num_steps: GD steps, in [1, inf).
      k: eigenvalues tracked, in [1, 10].
      eig_every: eigenvalue stride, in [1, inf).
      eig_tol: Lanczos tolerance, in (0, inf).
      log_every: loss stride, in [1, inf).
      dtype: ``"float32"`` (the paper's runs) or ``"float64"``.
      accuracy: also log the training accuracy.
      test_every: stride of the test accuracy and loss (record ``"test"``), 0 for none.

    Returns:
      :class:`eoslib.train.TrainRun` (``from_cache`` says whether it was loaded).
    """
    f, w0 = _start(problem, dtype)
    acc = None
    if accuracy and problem.accuracy is not None:
        acc = lambda w: problem.accuracy(jnp.asarray(w, jnp.float64))  # noqa: E731
    cbs = []
    if test_every and problem.test_accuracy is not None:
        def test(w):
            w64 = jnp.asarray(w, jnp.float64)
            return {"accuracy": problem.test_accuracy(w64), "loss": problem.test_loss(w64)}

        cbs.append(callbacks.Metric(_int("test_every", test_every, 1), test, name="test"))
    return train.train_gd(f, w0, _pos("eta", eta), _int("num_steps", num_steps, 1),
                          log_every=log_every, eig_every=eig_every, k=_int("k", k, 1, 10),
                          eig_tol=eig_tol, progress=False, accuracy=acc, callbacks=cbs,
                          settings={"problem": problem.settings, "dtype": dtype,
                                    "purpose": "self_stabilization eos_run"})


def entry_steps(run: train.TrainRun, eta: float) -> np.ndarray:
    """For each tracked eigenvalue, the first recorded step with ``lambda_i >= 2/eta`` (-1: never)."""
    ev = np.asarray(run.eigenvalues)
    out = []
    for j in range(ev.shape[1]):
        hit = np.flatnonzero(ev[:, j] >= 2.0 / eta)
        out.append(int(run.eig_steps[hit[0]]) if hit.size else -1)
    return np.asarray(out)


def after_onset(run: train.TrainRun, eta: float, index: int = 0) -> np.ndarray:
    """The values of ``lambda_{index+1}`` recorded from its first entry into the EoS on."""
    t0 = entry_steps(run, eta)[index]
    if t0 < 0:
        return np.zeros(0)
    return np.asarray(run.eigenvalues)[np.asarray(run.eig_steps) >= t0, index]


def first_cycle_end(steps: np.ndarray, values: np.ndarray, threshold: float) -> int:
    """Step at which ``values`` crosses ``threshold`` upwards for the second time (end of the
    first EoS cycle: up through ``2/eta``, down below it, and up again); the last step if never."""
    above = np.asarray(values) >= threshold
    up = np.flatnonzero(above[1:] & ~above[:-1]) + 1
    first = np.flatnonzero(above)
    starts = ([first[0]] if first.size else []) + [i for i in up if not first.size or i > first[0]]
    return int(np.asarray(steps)[starts[1]]) if len(starts) > 1 else int(np.asarray(steps)[-1])


class ScheduleRun(NamedTuple):
    """A GD run with the step size ``eta_t = 1 / S(theta_t)``.

    Attributes:
      steps: steps of the records.
      loss: training loss.
      sharpness: sharpness at the records.
      eta: the step size used from each record on.
      test_accuracy: test accuracy at the records (NaN without a test set).
    """

    steps: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    eta: np.ndarray
    test_accuracy: np.ndarray


def inverse_sharpness_run(problem: Problem, num_steps: int, every: int = 40, *,
                          dtype: str = "float32", tol: float = 1e-4) -> ScheduleRun:
    """GD with ``eta_t = 1/S(theta_t)``, ``S`` re-measured every ``every`` steps (Figure 6).

    The sharpness comes from warm-started Lanczos; between two measurements the steps run
    through :func:`eoslib.train.train_gd` (one chunk, constant ``eta``).

    Args:
      problem: the training problem.
      num_steps: GD steps, in [1, inf).
      every: steps between sharpness measurements, in [1, inf).
      dtype: ``"float32"`` or ``"float64"``.
      tol: Lanczos tolerance.
    """
    num_steps = _int("num_steps", num_steps, 1)
    every = _int("every", every, 1)
    f, w = _start(problem, dtype)
    v = None
    rec: dict[str, list] = {k: [] for k in ScheduleRun._fields}
    t = 0
    loss_fn = jax.jit(f)
    while True:
        res = curvature.top_eigenpairs(f, w, 1, v0=v, tol=tol, max_iter=100)
        v = res.eigenvectors
        S = float(res.eigenvalues[0])
        eta = 1.0 / S
        rec["steps"].append(t), rec["loss"].append(float(loss_fn(w)))
        rec["sharpness"].append(S), rec["eta"].append(eta)
        w64 = jnp.asarray(w, jnp.float64)
        rec["test_accuracy"].append(float(problem.test_accuracy(w64)) if problem.test_accuracy else math.nan)
        if t >= num_steps:
            break
        n = min(every, num_steps - t)
        run = train.train_gd(f, w, eta, n, log_every=n, progress=False)
        if run.diverged:
            raise RuntimeError(f"GD with eta = 1/S diverged at step {t + run.diverged_at}")
        w = jnp.asarray(run.w)
        t += n
    return ScheduleRun(**{k: np.asarray(v_) for k, v_ in rec.items()})
