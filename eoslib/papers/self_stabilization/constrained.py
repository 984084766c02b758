"""Run to instability (A3), projection onto the stable set (A4), the constrained trajectory (A5).

* :func:`run_to_instability` -- GD in float32 (through :func:`eoslib.train.train_gd`) with the
  sharpness checked at the midpoint ``(theta_t + theta_{t+1}) / 2`` on a schedule in time
  ``eta t``: every 1 time unit, every 0.1 once ``S >= 1/eta``, every 0.01 once
  ``S >= 1.5/eta``; when ``S >= 2/eta`` is first seen at a coarse interval, GD restarts from the
  last checkpoint checking every step. ``theta_0`` is the first iterate whose midpoint sharpness
  reaches ``2/eta``; it is returned in float64. The float32 phase matters: it seeds the
  oscillation along ``u`` at float32 round-off size, which times the first cycle the way the
  paper's runs do.
* :func:`project` -- the linearised projection onto
  ``M = {S <= 2/eta, grad L . u = 0}``, repeated until it is accepted:

      p <- p - max(0, S - 2/eta) grad S^perp / ||grad S^perp||^2 - (u . grad L / S) u .

  The first term is the first-order step that lowers ``S`` to ``2/eta`` along
  ``grad S^perp``; the second a Newton step for ``u . grad L(p + c u) = 0``. The reference
  code makes three passes; here passes repeat until ``S <= (2/eta)(1 + s_rtol)`` and
  ``|u . grad L| <= u_rtol ||grad L||`` (typically three evaluations per step), and the
  evaluation that accepts is the Taylor data at ``theta^dagger`` that the predicted dynamics
  needs, so nothing is computed twice.
* :func:`constrained_step` -- ``theta^dagger_{t+1} = proj(theta^dagger_t - eta grad L_t)``.

References:
  Damian, Nichani, Lee (2023), eqs. (1)-(2), Lemma 13, Appendix D (protocol); the authors'
  ``main.py`` (``linear_project``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from eoslib import curvature, train
from eoslib.papers.self_stabilization.oracles import Evaluator, Taylor
from eoslib.papers.self_stabilization.problems import Problem
from eoslib.validation import integer as _int, positive as _pos

__all__ = ["Onset", "run_to_instability", "Projection", "project", "constrained_step",
           "check_interval"]


class Onset(NamedTuple):
    """The first unstable iterate of GD (algorithm A3).

    Attributes:
      theta0: ``theta_0`` in float64 (a float32 iterate cast up), shape ``(d,)``.
      step: its GD step index.
      check_steps: steps at which the midpoint sharpness was measured.
      mid_sharpness: the measured midpoint sharpness values.
      loss: float32 training loss at ``check_steps``.
      hvps: Hessian-vector products spent on the checks.
      restarts: how often GD went back to a checkpoint to check every step.
    """

    theta0: np.ndarray
    step: int
    check_steps: np.ndarray
    mid_sharpness: np.ndarray
    loss: np.ndarray
    hvps: int
    restarts: int


def check_interval(sharpness: float, eta: float) -> int:
    """Steps until the next midpoint check: 1, 0.1 or 0.01 time units (``eta t``), at least 1."""
    tau = 1.0 if sharpness < 1.0 / eta else (0.1 if sharpness < 1.5 / eta else 0.01)
    return max(1, int(math.floor(tau / eta)))


def _advance(f32, w, eta, n):
    run = train.train_gd(f32, w, eta, n, log_every=n, progress=False)
    if run.diverged:
        raise RuntimeError(f"GD diverged at step {run.diverged_at} before reaching the EoS")
    return jnp.asarray(run.w)


def run_to_instability(problem: Problem, eta: float, *, max_steps: int = 20000,
                       tol: float = 1e-5, max_iter: int = 200) -> Onset:
    """GD in float32 until the midpoint sharpness first reaches ``2/eta`` (algorithm A3).

    Args:
      problem: the training problem (its ``f32`` loss and ``w0``).
      eta: learning rate, in (0, inf).
      max_steps: give up after this many steps, in [1, inf).
      tol: Lanczos tolerance of the float32 sharpness checks, in (0, inf).
      max_iter: Lanczos cap per check, in [1, inf).

    Returns:
      :class:`Onset`.

    Raises:
      RuntimeError: GD diverged, or no instability within ``max_steps``.
    """
    eta = _pos("eta", eta)
    max_steps = _int("max_steps", max_steps, 1)
    f32 = problem.f32
    w = jnp.asarray(problem.w0, jnp.float32)
    thr = 2.0 / eta
    key = jax.random.PRNGKey(0)
    v = jnp.asarray(np.random.default_rng(0).standard_normal(w.shape[0]), jnp.float32)
    t, hvps, restarts, fine = 0, 0, 0, False
    ckpt = (0, w)
    steps, sharp, losses = [], [], []
    loss_jit = jax.jit(f32)
    while t < max_steps:
        w1 = _advance(f32, w, eta, 1)
        mid = 0.5 * (w + w1)
        # a small Lanczos basis first (its cost grows with the cap), the full cap if needed
        res = curvature.top_eigenpairs(f32, mid, 1, v0=v, tol=tol, max_iter=min(40, max_iter), key=key)
        if not bool(res.converged):
            hvps += int(res.num_iterations)
            res = curvature.top_eigenpairs(f32, mid, 1, v0=res.eigenvectors, tol=tol,
                                           max_iter=max_iter, key=key)
        v = res.eigenvectors[:, 0]
        hvps += int(res.num_iterations)
        s_mid = float(res.eigenvalues[0])
        steps.append(t)
        sharp.append(s_mid)
        losses.append(float(loss_jit(w)))
        interval = 1 if fine else check_interval(s_mid, eta)
        if s_mid >= thr:
            if t - ckpt[0] > 1 and not fine:
                # first seen at a coarse interval: redo the last stretch checking every step
                t, w = ckpt
                fine, restarts = True, restarts + 1
                continue
            return Onset(theta0=np.asarray(w, np.float64), step=t, check_steps=np.asarray(steps),
                         mid_sharpness=np.asarray(sharp), loss=np.asarray(losses), hvps=hvps,
                         restarts=restarts)
        ckpt = (t, w)
        w = w1 if interval == 1 else _advance(f32, w1, eta, interval - 1)
        t += interval
    raise RuntimeError(f"no instability within max_steps={max_steps} (last midpoint sharpness "
                       f"{sharp[-1]:.4g} < 2/eta = {thr:.4g}); raise eta or max_steps")


class Projection(NamedTuple):
    """Result of :func:`project`.

    Attributes:
      taylor: :class:`~eoslib.papers.self_stabilization.oracles.Taylor` at the accepted point.
      passes: number of evaluations (the last one accepted).
      corrections: number of linearised corrections applied.
    """

    taylor: Taylor
    passes: int
    corrections: int


def _accepted(q: Taylor, eta: float, s_rtol: float, u_rtol: float) -> bool:
    s_ok = float(q.sharpness) <= (2.0 / eta) * (1.0 + s_rtol)
    ug = abs(float(jnp.vdot(q.u, q.grad)))
    return s_ok and ug <= u_rtol * float(jnp.linalg.norm(q.grad))


def _correction(q: Taylor, eta: float, direction: Array) -> Array:
    viol = jnp.maximum(q.sharpness - 2.0 / eta, 0.0)
    return (-viol * direction / jnp.vdot(direction, direction)
            - jnp.vdot(q.u, q.grad) / q.sharpness * q.u)


def project(evaluator: Evaluator, p: Array, eta: float, *, s_rtol: float = 1e-6,
            u_rtol: float = 3e-7, max_passes: int = 20, lambda2_tol: float = 1e-4,
            refine_noise: float = 1e-8, refresh_above: float = 0.01) -> Projection:
    """Linearised projection onto the stable set, repeated until accepted (algorithm A4).

    The first evaluation is full (top eigenpair and ``grad S``). The corrections that follow
    are checked by light evaluations (loss, gradient, top eigenpair): over these tiny steps
    ``grad S^perp`` changes by a few percent, which only slows the (already fast) contraction
    of the violation, so the first direction is reused. The accepted point then gets
    ``grad S`` and ``lambda_2`` (:meth:`~eoslib.papers.self_stabilization.oracles.Evaluator.complete`): the Taylor data that the
    constrained trajectory and the predicted dynamics need there.

    Args:
      evaluator: warm-started oracle (its stored eigenvectors are the warm start).
      p: point to project, shape ``(d,)``.
      eta: learning rate, in (0, inf).
      s_rtol: accept when ``S <= (2/eta)(1 + s_rtol)``, in (0, inf).
      u_rtol: accept when ``|u . grad L| <= u_rtol ||grad L||``, in (0, inf). The offset along
        ``u`` it leaves, ``u_rtol ||grad L|| / S``, must stay far below the oscillation ``x``
        (on the book's run about 1e-9 against ``|x_0|`` near 1e-7). It cannot usefully go much
        below the accuracy of ``u`` itself (Lanczos tolerance 1e-7): at 1e-7 the third
        evaluation ends at 1.0-1.3e-7 and a fourth one is spent on that noise.
      max_passes: evaluation cap, in [1, inf).
      lambda2_tol: Lanczos tolerance of ``lambda_2``, in (0, inf).
      refine_noise: random component of the warm start of the evaluations after the first,
        in [0, inf).
      refresh_above: a correction made at a relative violation ``|S eta / 2 - 1|`` above this
        is followed by a full evaluation (a fresh ``grad S^perp``), in (0, inf).

    Returns:
      :class:`Projection`.

    Raises:
      RuntimeError: not accepted after ``max_passes`` evaluations.
    """
    eta = _pos("eta", eta)
    max_passes = _int("max_passes", max_passes, 1)
    q = evaluator(p, 1)
    direction = q.grad_S_perp
    passes = corrections = 1
    corrections = 0
    while not _accepted(q, eta, s_rtol, u_rtol):
        if passes >= max_passes:
            raise RuntimeError(f"projection not accepted after {passes} evaluations: "
                               f"S eta / 2 - 1 = {float(q.sharpness) * eta / 2 - 1:.3g}")
        p = q.point + _correction(q, eta, direction)
        corrections += 1
        # A small remaining violation is removed with the same direction (light evaluation);
        # a large one (far from M, e.g. the first projection of a coarse onset) needs a fresh
        # grad S^perp. The stored vector is an accurate warm start either way, so only a trace
        # of randomness is mixed in.
        far = abs(float(q.sharpness) * eta / 2.0 - 1.0) > refresh_above
        q = evaluator(p, 1, v0_noise=refine_noise, with_grad_S=far)
        if far:
            direction = q.grad_S_perp
        passes += 1
    return Projection(evaluator.complete(q, lambda2_tol), passes, corrections)


def constrained_step(evaluator: Evaluator, q: Taylor, eta: float, **kw) -> Projection:
    """``theta^dagger_{t+1} = proj(theta^dagger_t - eta grad L(theta^dagger_t))`` (eq. 2, A5).

    Args:
      evaluator: warm-started oracle.
      q: Taylor data at ``theta^dagger_t``.
      eta: learning rate.
      **kw: passed to :func:`project`.
    """
    return project(evaluator, q.point - eta * q.grad, eta, **kw)
