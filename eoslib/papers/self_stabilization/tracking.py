"""The tracked run: GD, the constrained trajectory, three predicted dynamics, gradient flow,
the central flow, beta_{s->t} and the Appendix E diagnostics, side by side, cached on disk.

:func:`tracked_run` first runs GD in float32 to the first instability (A3), then, in float64,
for ``num_steps`` steps, at every step ``t``:

* **GD**: ``theta_{t+1} = theta_t - eta grad L(theta_t)`` (through :func:`eoslib.gd.iterate`),
  its loss and sharpness (Lanczos, warm-started from the iterate of the same parity);
* **constrained trajectory** (A4-A5): ``theta^dagger_{t+1} = proj(theta^dagger_t - eta grad L_t)``
  with the Taylor data at ``theta^dagger_t`` (loss, gradient, top-2 eigenpairs, ``grad S``);
* **predicted dynamics** (A6): Definition 7 (paper form), the reference-code form and the
  generalised form of App. F, all started at ``v_0 = theta_0 - theta^dagger_0``;
* **gradient flow** (A7): per GD step ``m = ceil(eta S)`` Euler steps of size ``eta/m`` from
  ``theta^dagger_0``, ``S`` refreshed every GD step;
* **central flow (ours, not in the paper)**: ``dw/dt = -eta (grad L + sigma^2 grad S / 2)``
  with ``sigma^2`` chosen so that ``S(w) = 2/eta`` is kept (``sigma^2 -> delta^2 =
  2 alpha / ||grad S||^2`` in continuous time); explicit steps of ``eta / cf_substeps`` with
  ``sigma^2`` from the linearised constraint, ``sigma^2 = 2 (S - 2/eta + h alpha) / (h ||grad S||^2)``
  clipped at 0. Its prediction of the time-averaged GD loss is ``L(w) + sigma^2 / eta``;
* **beta_{s->t}** (A8): every ``beta_every`` steps a column ``grad S_s^perp`` is propagated by
  ``A_k = (I - eta H_k) P_{u_k}^perp`` and read against ``grad S_{k}^perp`` (Definition 4);
* **diagnostics** (A9): ``alpha_t, epsilon_t, gamma_t`` every step; ``rho_3, rho_4``, the
  Assumption 5 ratios, ``lambda_min`` and ``F_t`` every ``heavy_every`` steps.

The run stops early if ``lambda_2(theta^dagger_t) > 1.9/eta`` (the paper's Assumption 2 cut).

The result is cached in ``<cache dir>/selfstab-<key>.npz`` (the directory of
:func:`eoslib.train.default_cache_dir`, ``$EOSLIB_CACHE`` or ``<repo>/_cache``), keyed on the
SHA-256 of the problem's settings and every argument (:func:`eoslib.train.cache_key`). The
computation holds a file lock, so two notebooks that need the same run compute it once.

References:
  Damian, Nichani, Lee (2023), Section 5, Appendices C-G; the authors' ``main.py``.
  J. Cohen, A. Damian, A. Talwalkar, J. Z. Kolter, J. D. Lee, "Understanding Optimization in
  Deep Learning with Central Flows", ICLR 2025 (the central flow).
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from eoslib import curvature, gd, train
from eoslib.papers.self_stabilization import constrained, diagnostics, predicted
from eoslib.papers.self_stabilization.oracles import Evaluator, evaluate
from eoslib.papers.self_stabilization.problems import Problem, digits_mlp
from eoslib.validation import integer as _int, positive as _pos

__all__ = ["TrackedRun", "tracked_run", "shared_run", "cache_file", "FORMAT_VERSION", "cost_ratios",
           "PAPER_SETTING"]

#: The paper's setting of Figure 4 (MLP, CIFAR-10 5k): learning rate and tracked steps.
PAPER_SETTING = {"eta": 0.02, "num_steps": 2000}

#: GD steps computed ahead per compiled call in the tracked loop.
_GD_CHUNK = 50

#: Bumped whenever a cached field changes meaning (2: GD's sharpness through the projection's
#: compiled evaluation, GD run ahead in chunks, a shorter lambda_min Lanczos).
FORMAT_VERSION = 2


class TrackedRun:
    """A cached tracked run: arrays (attribute access) and ``meta`` (JSON dict).

    Per-step arrays have length ``T + 1`` (steps ``0..T`` after the onset); see the module
    docstring and :func:`tracked_run` for their meaning.
    """

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict[str, Any], from_cache: bool = False):
        self.arrays = arrays
        self.meta = meta
        self.from_cache = from_cache

    def __getattr__(self, name: str) -> np.ndarray:
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(name)

    @property
    def steps(self) -> np.ndarray:
        """Tracked step index ``t = 0..T`` (GD step ``onset + t``)."""
        return np.arange(self.arrays["gd_loss"].size)

    @property
    def eta(self) -> float:
        """Learning rate."""
        return float(self.meta["eta"])

    def save(self, path: Path) -> None:
        """Write atomically to ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, meta_json=np.asarray(json.dumps(self.meta)), **self.arrays)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: Path) -> "TrackedRun":
        """Read a run written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta_json"]))
            arrays = {k: z[k] for k in z.files if k != "meta_json"}
        return cls(arrays, meta, from_cache=True)


def cache_file(settings: dict, cache_dir: str | os.PathLike | None = None) -> Path:
    """``<cache dir>/selfstab-<first 20 hex digits of the settings' SHA-256>.npz``."""
    root = train.default_cache_dir() if cache_dir is None else Path(cache_dir)
    return root / f"selfstab-{train.cache_key(settings)[:20]}.npz"


class _GDStep:
    """Hashable GD step ``(w, eta) -> w - eta grad f(w)`` for :func:`eoslib.gd.iterate`."""

    def __init__(self, f):
        self.f = f

    def __call__(self, w, eta):
        return w - eta * jax.grad(self.f)(w)

    def __hash__(self):
        return hash((type(self), self.f))

    def __eq__(self, other):
        return type(other) is type(self) and other.f is self.f


def _top(f, w, v0, tol, key):
    """Warm-started, sign-fixed top eigenpair ``(value, (d, 1) vector, Lanczos iterations)``.

    Through :func:`~eoslib.papers.self_stabilization.oracles.evaluate` without ``grad S``:
    the same compiled program as the projection's light evaluations, so GD's and gradient
    flow's sharpness cost no compilation of their own. A small Lanczos basis first (its cost
    grows with the cap), the full cap if needed.
    """
    q = evaluate(f, w, v0, k=1, tol=tol, max_iter=40, key=key, with_grad_S=False)
    its = int(q.hvps)
    if not bool(q.converged):
        q = evaluate(f, w, q.vectors, k=1, tol=tol, max_iter=300, key=key, with_grad_S=False)
        its += int(q.hvps)
    return float(q.eigenvalues[0]), q.vectors, its


@partial(jax.jit, static_argnames=("f",))
def _vg(f, w):
    return jax.value_and_grad(f)(w)


@partial(jax.jit, static_argnames=("f",))
def _loss(f, w):
    return f(w)


def cost_ratios(f, w, repeats: int = 20) -> dict[str, float]:
    """Wall time of a gradient and of ``grad S = nabla^3 L(u, u)`` in units of one HVP.

    Measured (and machine dependent: the minimum over ``repeats`` calls); used to express a
    step's cost in HVP-equivalents.
    """
    u = jnp.ones_like(w) / math.sqrt(w.shape[0])
    hv = jax.jit(partial(curvature.hvp, f))
    ds = jax.jit(partial(curvature.third_derivative_vv, f))

    def timed(fn, *a):
        # the minimum over repeats: robust to other processes sharing the CPU
        jax.block_until_ready(fn(*a))
        best = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*a))
            best = min(best, time.perf_counter() - t0)
        return best

    t_h = timed(hv, w, u)
    return {"hvp_seconds": t_h, "grad": timed(partial(_vg, f), w) / t_h, "grad_S": timed(ds, w, u) / t_h}


def tracked_run(problem: Problem, eta: float, num_steps: int, *, lanczos_tol: float = 1e-7,
                gd_tol: float = 1e-6, gd_sharpness_every: int = 4, gf_sharpness_every: int = 10,
                cf_substeps: int = 1, central_flow: bool = True, beta_every: int = 50,
                heavy_every: int = 50, store_states: int = 80, lambda2_stop: float = 1.9,
                max_onset_steps: int = 20000, cache: bool = True, refresh: bool = False,
                cache_dir: str | os.PathLike | None = None, progress: bool = False) -> TrackedRun:
    """Run (or load) the tracked run of the module docstring.

    Args:
      problem: the training problem.
      eta: learning rate, in (0, inf).
      num_steps: tracked steps after the onset, in [1, inf).
      lanczos_tol: Lanczos tolerance of the constrained trajectory's eigenpairs, in (0, inf).
      gd_tol: Lanczos tolerance of GD's own sharpness, in (0, inf).
      gd_sharpness_every: GD's sharpness is measured at the pairs of steps ``t, t + 1`` with
        ``t`` a multiple of this, in [2, inf) (NaN elsewhere); pairs give the two-step average.
      gf_sharpness_every: stride of the gradient-flow sharpness (it sets the Euler sub-steps),
        in [1, inf).
      cf_substeps: central-flow steps per GD step, in [1, inf).
      central_flow: run the central flow (ours) alongside; its records are NaN otherwise.
      beta_every: stride of new ``beta_{s->t}`` columns, in [0, inf); 0 disables them.
      heavy_every: stride of the expensive diagnostics, in [1, inf).
      store_states: number of first steps whose ``theta^dagger_t``, ``u_t`` and
        ``grad S_t^perp`` are kept (for Lemma 4's check), in [0, inf).
      lambda2_stop: stop when ``eta lambda_2(theta^dagger_t)`` exceeds this, in (0, 2].
      max_onset_steps: cap of the float32 phase, in [1, inf).
      cache, refresh: use / overwrite the on-disk cache.
      cache_dir: cache directory (default :func:`eoslib.train.default_cache_dir`).
      progress: print one line every 50 steps.

    Returns:
      :class:`TrackedRun`.
    """
    eta = _pos("eta", eta)
    num_steps = _int("num_steps", num_steps, 1)
    cf_substeps = _int("cf_substeps", cf_substeps, 1)
    beta_every = _int("beta_every", beta_every, 0)
    heavy_every = _int("heavy_every", heavy_every, 1)
    store_states = _int("store_states", store_states, 0)
    settings = {"problem": problem.settings, "eta": eta, "num_steps": num_steps,
                "lanczos_tol": lanczos_tol, "gd_tol": gd_tol, "cf_substeps": cf_substeps,
                "gd_sharpness_every": _int("gd_sharpness_every", gd_sharpness_every, 2),
                "gf_sharpness_every": _int("gf_sharpness_every", gf_sharpness_every, 1),
                "beta_every": beta_every, "heavy_every": heavy_every,
                "central_flow": bool(central_flow),
                "store_states": store_states, "lambda2_stop": lambda2_stop,
                "max_onset_steps": max_onset_steps, "format_version": FORMAT_VERSION}
    path = cache_file(settings, cache_dir)
    if not cache:
        return _compute(problem, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second notebook waits for the first one's run
        if path.exists() and not refresh:
            run = TrackedRun.load(path)
            if run.meta.get("settings") == json.loads(json.dumps(settings)):
                return run
        run = _compute(problem, settings, progress=progress)
        run.save(path)
        return run


@partial(jax.jit, static_argnames=("f",))
def _scalars(f, q, theta, v7, vcode, vgen, w_gf):
    # every per-step scalar that needs no eigen-solve, in one compiled call
    v = theta - q.point
    gn = jnp.linalg.norm(q.grad)
    out = {"x": q.u @ v, "y": q.grad_S_perp @ v, "v_norm": jnp.linalg.norm(v), "gradS_v": q.grad_S @ v,
           "dag_loss": q.loss, "dag_sharpness": q.eigenvalues[0], "lambda2": q.eigenvalues[1],
           "grad_norm": gn, "gradS_dot_u": q.grad_S @ q.u, "ug_rel": (q.u @ q.grad) / gn,
           "alpha": -(q.grad @ q.grad_S), "beta": q.grad_S_perp @ q.grad_S_perp,
           "gf_loss": f(w_gf), "gf_dist": jnp.linalg.norm(w_gf - q.point),
           "gf_dist_gd": jnp.linalg.norm(w_gf - theta)}
    out["gamma"] = out["alpha"] / (gn * jnp.sqrt(out["beta"]))
    for tag, vh in (("p7", v7), ("pc", vcode), ("pg", vgen)):
        out[f"{tag}_x"] = q.u @ vh
        out[f"{tag}_y"] = q.grad_S_perp @ vh
        out[f"{tag}_norm"] = jnp.linalg.norm(vh)
        out[f"{tag}_loss"] = f(q.point + vh)
        out[f"{tag}_gradS_v"] = q.grad_S @ vh
        out[f"{tag}_dist_gd"] = jnp.linalg.norm(v - vh)
    return out


@jax.jit
def _central_flow_step(qc, w, eta, h):
    """One step of the central flow; the stiff ``u`` component of the gradient is taken
    linearly implicitly (factor ``1 / (1 + h S)``), the rest explicitly, and ``sigma^2`` keeps
    ``S = 2/eta`` to first order (clipped at 0)."""
    gu = qc.u @ qc.grad
    g = qc.grad - gu * qc.u * (1.0 - 1.0 / (1.0 + h * qc.sharpness))
    gs2 = qc.grad_S @ qc.grad_S
    alpha = -(qc.grad_S @ g)
    sigma2 = jnp.maximum(2.0 * (qc.sharpness - 2.0 / eta + h * alpha) / (h * gs2), 0.0)
    return w - h * (g + 0.5 * sigma2 * qc.grad_S), sigma2, 2.0 * alpha / gs2


def shared_run(scale: str = "book", n: int = 500, eta: float = 0.25, num_steps: int = 400,
               **kw) -> TrackedRun:
    """The one tracked run that the Figure 4, Theorem 1, Lemma 4 and Appendix E notebooks share.

    Args:
      scale: ``"book"`` (digits, the first ``n`` images, MLP 64-64 swish, categorical MSE) or
        ``"paper"`` (CIFAR-10 first 5000 images, MLP 200-200 swish, ``eta = 0.02``, 2000
        tracked steps; needs the CIFAR-10 files, see :mod:`eoslib.data`).
      n, eta, num_steps: the book-scale setting (ignored at paper scale).
      **kw: passed to :func:`tracked_run`.
    """
    if scale == "paper":
        return tracked_run(digits_mlp(scale="paper"), PAPER_SETTING["eta"],
                           PAPER_SETTING["num_steps"], **kw)
    return tracked_run(digits_mlp(n), eta, num_steps, **kw)


def _compute(problem: Problem, s: dict, progress: bool = False) -> TrackedRun:
    eta, T = s["eta"], s["num_steps"]
    f = problem.f
    t_start = time.perf_counter()
    onset = constrained.run_to_instability(problem, eta, max_steps=s["max_onset_steps"])
    t_onset = time.perf_counter() - t_start
    d = onset.theta0.shape[0]
    rng = np.random.default_rng(0)
    ev = Evaluator(f, jnp.asarray(rng.standard_normal((d, 2))), tol=s["lanczos_tol"])
    step = _GDStep(f)
    eta_a = jnp.asarray(eta)
    theta = jnp.asarray(onset.theta0)
    q = constrained.project(ev, theta, eta).taylor
    v7 = vcode = vgen = theta - q.point
    v0 = np.asarray(v7)
    ev_cf = Evaluator(f, q.vectors[:, :1], tol=1e-6)
    parity = [q.vectors[:, :1], q.vectors[:, :1]]
    w_gf = w_cf = q.point
    v_gf = q.vectors[:, :1]
    s_gf = float(q.sharpness)
    rec: dict[str, list] = {}
    heavy: dict[str, list] = {}
    states = {"states_dag": [], "states_u": [], "states_gsp": []}
    columns: list[tuple[int, jnp.ndarray]] = []
    beta_rec: list[tuple[int, int, float]] = []
    cost: list[tuple[int, int, int, int]] = []
    key = jax.random.PRNGKey(0)
    t_loop = time.perf_counter()
    t_proj = 0.0
    stop = -1
    h_cf = eta / s["cf_substeps"]

    def put(name, value):
        rec.setdefault(name, []).append(float(value))

    secs: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name):
        # wall time per part of the loop (meta["seconds"]["parts"]), for profiling
        now = time.perf_counter()
        secs[name] = secs.get(name, 0.0) + now - clock[0]
        clock[0] = now

    for t in range(T + 1):
        lap("other")
        # ---- GD's own sharpness on pairs of consecutive steps (warm start: same parity)
        sc = jax.device_get(_scalars(f, q, theta, v7, vcode, vgen, w_gf))
        sc.update(gd_loss=_loss(f, theta), gd_sharpness=np.nan, gd_hvps=0, gf_sharpness=s_gf)
        if t % s["gd_sharpness_every"] in (0, 1):
            lam, parity[t % 2], its = _top(f, theta, parity[t % 2], s["gd_tol"], key)
            sc.update(gd_sharpness=lam, gd_hvps=its)
        lap("scalars_gd_sharpness")
        for name, val in sc.items():
            put(name, val)
        alpha, beta = float(sc["alpha"]), float(sc["beta"])
        put("delta", math.sqrt(2 * max(alpha, 0.0) / beta)), put("epsilon", eta * math.sqrt(max(alpha, 0.0)))
        # ---- central flow (ours): record at t, then advance cf_substeps steps
        for i in range(s["cf_substeps"] if s["central_flow"] else 0):
            qc = ev_cf(w_cf, 1)
            w_new, sigma2, d2 = _central_flow_step(qc, w_cf, eta_a, jnp.asarray(h_cf))
            if i == 0:
                put("cf_loss", qc.loss), put("cf_sharpness", qc.sharpness), put("cf_sigma2", sigma2)
                put("cf_delta2", d2), put("cf_dist", jnp.linalg.norm(w_cf - q.point))
                put("cf_dist_gd", jnp.linalg.norm(w_cf - theta))
            w_cf = w_new
        lap("central_flow")
        if not s["central_flow"]:
            for name in ("cf_loss", "cf_sharpness", "cf_sigma2", "cf_delta2", "cf_dist", "cf_dist_gd"):
                put(name, np.nan)
        # ---- beta_{s -> t-1}, then propagate by A_t (Definition 4, A8)
        if columns:
            vals = [float(q.grad_S_perp @ c) for _, c in columns]
            beta_rec.extend((s0, t - 1, b) for (s0, _), b in zip(columns, vals))
            columns = [(s0, predicted.propagate_network(f, q.point, q.u, c, eta_a)) for s0, c in columns]
        if s["beta_every"] and t % s["beta_every"] == 0 and t < T:
            columns.append((t, q.grad_S_perp))
        lap("beta")
        # ---- expensive diagnostics
        if t % s["heavy_every"] == 0:
            hd = diagnostics.heavy_diagnostics(f, q, theta - q.point, eta)
            xs, Fs = diagnostics.F_samples(f, q, eta, max(rec["delta"][-1], 1e-12))
            heavy.setdefault("heavy_steps", []).append(t)
            for k_, v_ in hd.items():
                heavy.setdefault(k_, []).append(v_)
            heavy.setdefault("F_x", []).append(xs), heavy.setdefault("F_vals", []).append(Fs)
            lap("heavy")
        if t < s["store_states"]:
            states["states_dag"].append(np.asarray(q.point)), states["states_u"].append(np.asarray(q.u))
            states["states_gsp"].append(np.asarray(q.grad_S_perp))
        if progress and t % 50 == 0:
            print(f"t={t}: L={rec['gd_loss'][-1]:.5g} S={rec['gd_sharpness'][-1]:.4g} "
                  f"x={rec['x'][-1]:.3g} ({time.perf_counter() - t_loop:.0f} s)", flush=True)
        if eta * float(q.eigenvalues[1]) > s["lambda2_stop"]:
            stop = t
            break
        if t == T:
            break
        # ---- advance GD, the constrained trajectory, the predictions and gradient flow
        part7, vcode, partg, xg = predicted.network_partials(f, q, eta_a, v7, vcode, vgen)
        if t % _GD_CHUNK == 0:
            # GD does not depend on the tracking: run it ahead in chunks (one compiled scan
            # instead of a dispatch per step; chunks bound the memory at the paper's scale)
            chunk = gd.iterate(step, theta, _GD_CHUNK, args=(eta_a,), record_every=1)
            chunk_start, chunk_div = t, int(chunk.diverged_at)
        if 0 <= chunk_div <= t + 1 - chunk_start:
            raise RuntimeError(f"GD diverged at tracked step {t + 1}")
        theta = chunk.params[t + 1 - chunk_start]
        lap("predicted_gd")
        tp = time.perf_counter()
        before = (ev.hvps, ev.grad_S_evals, ev.calls)
        proj = constrained.constrained_step(ev, q, eta)
        t_proj += time.perf_counter() - tp
        cost.append((proj.passes, ev.hvps - before[0], ev.grad_S_evals - before[1], ev.calls - before[2]))
        q = proj.taylor
        lap("projection")
        v7 = predicted.finish(part7, q.u, eta_a)
        vgen = predicted.finish(partg, q.u, eta_a, xg)
        m = max(1, math.ceil(eta * s_gf))
        w_gf = gd.iterate(step, w_gf, m, args=(jnp.asarray(eta / m),)).final
        if (t + 1) % s["gf_sharpness_every"] == 0:
            s_gf, v_gf, _ = _top(f, w_gf, v_gf, 1e-4, key)
        put("gf_substeps", m)
        lap("gradient_flow")
    lap("other")
    t_total = time.perf_counter() - t_start
    n = len(rec["gd_loss"])
    arrays = {k: np.asarray(v_) for k, v_ in rec.items()}
    arrays["gf_substeps"] = np.concatenate([arrays.get("gf_substeps", np.zeros(0)), np.zeros(n - len(rec.get("gf_substeps", [])))])
    c = np.asarray(cost, dtype=float).reshape(-1, 4)
    arrays["proj_passes"], arrays["proj_hvps"], arrays["proj_grad_S"], arrays["proj_grads"] = c.T
    arrays["beta_s"] = np.asarray([b[0] for b in beta_rec], int)
    arrays["beta_t"] = np.asarray([b[1] for b in beta_rec], int)
    arrays["beta_val"] = np.asarray([b[2] for b in beta_rec])
    for k_, v_ in heavy.items():
        arrays[k_] = np.asarray(v_)
    for k_, v_ in states.items():
        arrays[k_] = np.asarray(v_).reshape(len(v_), d)
    arrays["v0"] = v0
    arrays["onset_check_steps"] = onset.check_steps
    arrays["onset_mid_sharpness"] = onset.mid_sharpness
    arrays["onset_loss"] = onset.loss
    t_loop_total = time.perf_counter() - t_loop
    meta = {"settings": json.loads(json.dumps(s)), "eta": eta, "onset_step": onset.step,
            "onset_hvps": onset.hvps, "onset_restarts": onset.restarts, "stopped_at": stop,
            "num_tracked": n - 1, "dim": d, "data_note": problem.data_note, "net_note": problem.net_note,
            "seconds": {"total": t_total, "onset": t_onset, "tracked_loop": t_loop_total,
                        "projection": t_proj, "parts": secs}}
    meta["cost_ratios"] = cost_ratios(f, theta)
    return TrackedRun(arrays, meta)
