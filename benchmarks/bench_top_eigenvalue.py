"""Top Hessian eigenvalue of a network: eoslib (JAX Lanczos) vs the locuslab method.

Setting (Cohen et al.'s fully connected net at book scale): scikit-learn digits, first
1000 images standardised per feature, one-hot targets, MLP 64-200-200-10 with tanh and
biases (55,210 parameters), PyTorch-default initialisation (seed 0), MSE
``mean_i 1/2 ||f(x_i) - y_i||^2``. float64 on both sides.

Baseline ("locuslab"): the method of locuslab/edge-of-stability, re-implemented here
from its description: Hessian-vector products by double backprop in PyTorch (grad with
``create_graph=True``, dot with the vector, grad again), fed as a ``LinearOperator`` to
``scipy.sparse.linalg.eigsh(k=1, which='LA')`` with a cold (random) start and the same
tolerance as eoslib. Both networks hold the same weights, so both compute the same
eigenvalue.

Parts:
1. one top eigenvalue at the GD iterate of step 100 of the eta = 0.4 trajectory, cold
   start on both sides, at each tolerance of ``--tols``: time per call (min and median of
   interleaved repeats, after a warm-up; JAX compilation reported separately) and HVPs,
   and eoslib's cost per Lanczos iteration outside the HVP, ``(call - n_HVP * HVP) / n_HVP``
   (goal: at most 10% of an HVP);
2. tracking along two 200-step GD trajectories, one stable (eta = 0.1, the sharpness
   stays below 2/eta) and one at the Edge of Stability (eta = 0.4, 2/eta = 5 is reached
   near step 60), every ``--every`` steps: eoslib warm-started from the previous
   eigenvector (``callbacks.TopEigenvalues``), the same with ``block_warm_start=True``
   (``eigsolve.augmented_lanczos`` from the previous two calls' eigenvectors), eoslib cold
   starts and locuslab cold starts; HVPs and time per evaluation. The eigenvector moves slowly along a stable trajectory and a lot from
   step to step at the Edge of Stability, so warm starts pay off very differently.

The tolerance is the relative residual ``||H v - theta v|| <= tol |theta|`` on both sides
(ARPACK's ``tol`` and eoslib's ``tol``); the eigenvalue error is at most that and
typically its square over the spectral gap.

Fairness: both sides run on one CPU thread (XLA_FLAGS single-thread Eigen and
intra-op parallelism; ``torch.set_num_threads(1)``), both in float64, same tolerance,
same weights (checked: the two HVPs agree to rounding). The machine may be shared, so
timings are interleaved and the minimum is the headline. torch is optional
(``pip install torch``); without it the script says so and prints eoslib numbers only.

Usage: python benchmarks/bench_top_eigenvalue.py [--tols 1e-3 1e-6] [--every 1]
"""

from __future__ import annotations

import os

# Single-threaded XLA, set before jax is imported (fair against torch on one thread).
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eoslib import callbacks, curvature, data, gd, nets  # noqa: E402
from jax import lax  # noqa: E402

try:
    import torch
except ImportError:  # optional extra for this benchmark only
    torch = None

# Lanczos basis size (HVP cap per call). The basis is MAX_ITER x D floats, allocated per
# call; 100 is eoslib.train's default and ample for these tolerances (<= 30 HVPs needed).
MAX_ITER = 100


def build_problem(n: int, width: int):
    ds = data.load_dataset("digits", n=n, target="onehot")
    net = nets.make_network("mlp", widths=(width, width), activation="tanh", num_outputs=10,
                            input_shape=(64,), key=0)
    f, w0 = nets.flat_loss(net, net.init_params, ds.x, ds.y, "mse")
    _, unravel = nets.flatten_params(net.init_params)
    return ds, f, w0, unravel


class TorchHVP:
    """locuslab-style HVP: double backprop through a torch copy of the network."""

    def __init__(self, ds, params):
        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
        layers = []
        for i, layer in enumerate(params):
            lin = torch.nn.Linear(*np.asarray(layer["w"]).shape, dtype=torch.float64)
            layers.append(lin)
            if i + 1 < len(params):
                layers.append(torch.nn.Tanh())
        self.model = torch.nn.Sequential(*layers)
        self.linears = [m for m in self.model if isinstance(m, torch.nn.Linear)]
        self.x = torch.tensor(ds.x, dtype=torch.float64)
        self.y = torch.tensor(ds.y, dtype=torch.float64)
        self.n = self.x.shape[0]
        self.count = 0

    def load(self, params) -> None:
        with torch.no_grad():
            for lin, layer in zip(self.linears, params):
                # eoslib stores (in, out); torch.nn.Linear stores (out, in).
                lin.weight.copy_(torch.tensor(np.asarray(layer["w"]).T))
                lin.bias.copy_(torch.tensor(np.asarray(layer["b"])))

    def __call__(self, vec: np.ndarray) -> np.ndarray:
        self.count += 1
        ps = list(self.model.parameters())
        v = torch.tensor(np.ravel(vec), dtype=torch.float64)
        loss = 0.5 * ((self.model(self.x) - self.y) ** 2).sum() / self.n
        grads = torch.autograd.grad(loss, ps, create_graph=True)
        flat = torch.cat([g.reshape(-1) for g in grads])
        hv = torch.autograd.grad(torch.dot(flat, v), ps)
        return torch.cat([h.reshape(-1) for h in hv]).detach().numpy()


def torch_order(unravel, dim: int) -> np.ndarray:
    """Index map: torch's flat parameter vector = eoslib's flat vector[perm]."""
    # Unravel the positions themselves (exact in float64 below 2**53).
    idx = unravel(jnp.arange(dim, dtype=jnp.float64))
    parts = []
    for layer in idx:
        parts.append(np.asarray(layer["w"]).T.reshape(-1))  # torch weight is (out, in)
        parts.append(np.asarray(layer["b"]))
    return np.concatenate(parts).astype(np.int64)


def locuslab_top(hvp: TorchHVP, dim: int, tol: float, seed: int) -> tuple[float, int]:
    from scipy.sparse.linalg import LinearOperator, eigsh

    hvp.count = 0
    op = LinearOperator((dim, dim), matvec=hvp, dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(dim)  # cold start (random, as ARPACK's)
    vals = eigsh(op, k=1, which="LA", tol=tol, v0=v0, return_eigenvectors=False)
    return float(vals[-1]), hvp.count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="digits examples; range [10, 1797]")
    ap.add_argument("--width", type=int, default=200, help="hidden width; range [1, inf)")
    ap.add_argument("--tols", type=float, nargs="+", default=[1e-3, 1e-6],
                    help="relative residual tolerances of part 1")
    ap.add_argument("--track-tol", type=float, default=1e-3, help="tolerance of part 2")
    ap.add_argument("--etas", type=float, nargs="+", default=[0.1, 0.4],
                    help="learning rates of the part-2 trajectories")
    ap.add_argument("--steps", type=int, default=200, help="GD steps of each trajectory")
    ap.add_argument("--every", type=int, default=1, help="eigenvalue stride along a trajectory")
    ap.add_argument("--cold-every", type=int, default=10,
                    help="stride of the cold-start baselines (their cost per evaluation does "
                         "not depend on the previous point, so a subsample estimates it)")
    ap.add_argument("--repeats", type=int, default=5, help="timing repeats (min and median)")
    args = ap.parse_args()

    ds, f, w0, unravel = build_problem(args.n, args.width)
    dim = int(w0.shape[0])
    print(f"setting: digits n={args.n}, MLP 64-{args.width}-{args.width}-10 tanh, MSE, D={dim}, "
          f"float64 on both sides, 1 CPU thread each (XLA single-thread flags; "
          f"torch.set_num_threads(1))")
    if torch is None:
        print("NOTE: torch is not installed (pip install torch): the locuslab comparison is "
              "SKIPPED, only eoslib numbers are printed")
    rng = np.random.default_rng(1)

    def cold_v0() -> jax.Array:
        return jnp.asarray(rng.standard_normal((dim, 1)))

    trajs = {}
    for eta in args.etas:
        traj = gd.gd_trajectory(f, w0, eta, args.steps, record_every=1)
        trajs[eta] = np.asarray(traj.params)
        print(f"trajectory eta={eta:g} (2/eta={2 / eta:g}): {args.steps} GD steps, loss "
              f"{float(traj.loss[0]):.4g} -> {float(traj.loss[-1]):.4g}")

    th = TorchHVP(ds, unravel(jnp.asarray(trajs[args.etas[-1]][0]))) if torch is not None else None

    # ---------------------------------------------------------------- part 1
    ws = trajs[args.etas[-1]]
    w_mid = jnp.asarray(ws[args.steps // 2])
    print(f"\n[1] one top eigenvalue, cold start on both sides, at step {args.steps // 2} of the "
          f"eta={args.etas[-1]:g} trajectory")
    t = time.perf_counter()
    curvature.top_eigenpairs(f, w_mid, 1, v0=cold_v0(), tol=args.tols[0], max_iter=MAX_ITER
                             ).eigenvalues.block_until_ready()
    print(f"  eoslib compilation (once per objective): {time.perf_counter() - t:.2f} s")
    hvp_j = jax.jit(lambda w, v: curvature.hvp(f, w, v))

    # An HVP as Lanczos pays for it: inside a compiled loop at a fixed point, where XLA
    # hoists the loop-invariant forward and backward pass out of the loop (a standalone
    # call pays them every time, about 1.6x more here).
    @jax.jit
    def ten_hvps(w, v):
        return lax.fori_loop(0, 10, lambda i, u: curvature.hvp(f, w, u) / 8.0, v)
    u = np.random.default_rng(5).standard_normal(dim)
    uj = jnp.asarray(u)
    if th is not None:
        th.load(unravel(w_mid))
        perm = torch_order(unravel, dim)
        inv = np.empty_like(perm)
        inv[perm] = np.arange(dim)
        hv_j = np.asarray(curvature.hvp(f, w_mid, jnp.asarray(u)))
        hv_t = th(u[perm])[inv]
        print(f"  same operator: torch vs jax HVP rel. diff "
              f"{np.linalg.norm(hv_t - hv_j) / np.linalg.norm(hv_j):.1e}")
        tj = _times(lambda: hvp_j(w_mid, uj).block_until_ready(), args.repeats)
        tt = _times(lambda: th(u), args.repeats)
        print(f"  one HVP: eoslib {min(tj) * 1e3:.1f} ms (median {statistics.median(tj) * 1e3:.1f}), "
              f"torch double backprop {min(tt) * 1e3:.1f} ms (median {statistics.median(tt) * 1e3:.1f})")
    ten_hvps(w_mid, uj).block_until_ready()  # compile
    for tol in args.tols:
        tj, hj, tt, ht, th_, cj, ch, ct = [], [], [], [], [], [], [], []
        lam_j = lam_t = float("nan")
        # Interleaved repeats: the machine is shared, so both sides see the same load.
        for r in range(args.repeats):
            t, c = time.perf_counter(), time.process_time()
            ten_hvps(w_mid, uj).block_until_ready()
            th_.append((time.perf_counter() - t) / 10)
            ch.append((time.process_time() - c) / 10)
            t, c = time.perf_counter(), time.process_time()
            res = curvature.top_eigenpairs(f, w_mid, 1, v0=cold_v0(), tol=tol, max_iter=MAX_ITER)
            lam_j = float(res.eigenvalues[0])
            tj.append(time.perf_counter() - t)
            cj.append(time.process_time() - c)
            hj.append(int(res.num_iterations))
            if th is not None:
                t, c0 = time.perf_counter(), time.process_time()
                lam_t, c = locuslab_top(th, dim, tol, 100 + r)
                tt.append(time.perf_counter() - t)
                ct.append(time.process_time() - c0)
                ht.append(c)
        n_h = statistics.median(hj)
        over = (min(tj) - n_h * min(th_)) / n_h
        # The same from process CPU time (one XLA thread): far less sensitive to other jobs.
        h_cpu = statistics.median(ch)
        over_cpu = (statistics.median(cj) - n_h * h_cpu) / n_h
        line = (f"  tol={tol:g}: eoslib lambda={lam_j:.10g} {min(tj) * 1e3:7.0f} ms "
                f"(median {statistics.median(tj) * 1e3:.0f}) HVPs {n_h:.0f}, outside the HVP "
                f"{over * 1e3:.2f} ms/iteration = {100 * over / min(th_):.0f}% of an in-loop HVP "
                f"({min(th_) * 1e3:.1f} ms); CPU time: {over_cpu * 1e3:.2f} ms/iteration = "
                f"{100 * over_cpu / h_cpu:.0f}% of an HVP ({h_cpu * 1e3:.1f} ms), "
                f"call {statistics.median(cj) * 1e3:.0f} ms CPU")
        if th is not None:
            line += (f" | locuslab lambda={lam_t:.10g} {min(tt) * 1e3:7.0f} ms "
                     f"(median {statistics.median(tt) * 1e3:.0f}; CPU {statistics.median(ct) * 1e3:.0f}"
                     f") HVPs {statistics.median(ht):.0f}"
                     f" | RATIO time {min(tt) / min(tj):.2f}x (medians "
                     f"{statistics.median(tt) / statistics.median(tj):.2f}x; CPU-time medians "
                     f"{statistics.median(ct) / statistics.median(cj):.2f}x)")
        print(line)

    # ---------------------------------------------------------------- part 2
    tol = args.track_tol
    print(f"\n[2] tracking the sharpness along each trajectory every {args.every} step(s), "
          f"tol={tol:g}; cold baselines on every {args.cold_every}th point")
    for eta, ws in trajs.items():
        pts = list(range(0, args.steps + 1, args.every))
        sub = list(range(0, args.steps + 1, args.cold_every))
        # Both warm starts are the shipped callback (eoslib.callbacks.TopEigenvalues), the
        # default single-vector Lanczos one and the block one (augmented Lanczos from the
        # previous two calls' eigenvectors).
        runs = {}
        for label, block in (("warm", False), ("block", True)):
            cb = callbacks.TopEigenvalues(1, 1, tol, f=f, max_iter=MAX_ITER, seed=3,
                                          block_warm_start=block)
            hs, ls, t = [], {}, time.perf_counter()
            for i in pts:
                out = cb(i, jnp.asarray(ws[i]))
                assert out["converged"], (label, i)
                hs.append(out["hvps"])
                ls[i] = float(out["eigenvalues"][0])
            runs[label] = (hs, ls, (time.perf_counter() - t) / len(pts))
        warm_h, warm_l, t_warm = runs["warm"]
        block_h, block_l, t_block = runs["block"]
        cold_h, t = [], time.perf_counter()
        dev = 0.0
        for i in sub:
            res = curvature.top_eigenpairs(f, jnp.asarray(ws[i]), 1, v0=cold_v0(), tol=tol,
                                           max_iter=MAX_ITER)
            cold_h.append(int(res.num_iterations))
            dev = max(dev, abs(float(res.eigenvalues[0]) - warm_l[i]) / warm_l[i],
                      abs(float(res.eigenvalues[0]) - block_l[i]) / block_l[i])
        t_cold = (time.perf_counter() - t) / len(sub)
        s = list(warm_l.values())
        hw, hc = float(np.mean(warm_h)), float(np.mean(cold_h))
        # The first warm evaluation is itself a cold start; report the steady state too.
        hw_ss = float(np.mean(warm_h[1:]))
        print(f"  eta={eta:g}: sharpness {s[0]:.4g} -> max {max(s):.4g} -> {s[-1]:.4g} "
              f"(2/eta={2 / eta:g}); warm/block vs cold eigenvalue max rel. diff {dev:.1e}")
        print(f"    eoslib warm : {hw:5.1f} HVPs/eval (after the first: {hw_ss:.1f}), "
              f"{t_warm * 1e3:6.0f} ms/eval, {sum(warm_h)} HVPs over {len(pts)} evaluations")
        hb = float(np.mean(block_h))
        print(f"    eoslib block: {hb:5.1f} HVPs/eval (after the first: "
              f"{float(np.mean(block_h[1:])):.1f}), {t_block * 1e3:6.0f} ms/eval, "
              f"{sum(block_h)} HVPs over {len(pts)} evaluations")
        print(f"    eoslib cold : {hc:5.1f} HVPs/eval, {t_cold * 1e3:6.0f} ms/eval  "
              f"-> RATIO HVPs cold/warm {hc / hw:.1f}x, cold/block {hc / hb:.1f}x")
        if th is not None:
            loc_h, t = [], time.perf_counter()
            for j, i in enumerate(sub):
                th.load(unravel(jnp.asarray(ws[i])))
                _, c = locuslab_top(th, dim, tol, 1000 + j)
                loc_h.append(c)
            t_loc = (time.perf_counter() - t) / len(sub)
            hl = float(np.mean(loc_h))
            print(f"    locuslab    : {hl:5.1f} HVPs/eval, {t_loc * 1e3:6.0f} ms/eval  "
                  f"-> RATIO HVPs locuslab/eoslib-warm {hl / hw:.1f}x, "
                  f"RATIO time {t_loc / t_warm:.1f}x")


def _times(fn, repeats: int) -> list[float]:
    """Wall times of ``repeats`` calls of ``fn``, after one warm-up call."""
    fn()
    return [_timed(fn) for _ in range(repeats)]


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
