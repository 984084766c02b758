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
1. one top eigenvalue at the GD iterate of step 100 (cold start on both sides): time
   per call after a warm-up call (JAX compilation reported separately) and HVP counts;
2. tracking along a 200-step GD trajectory (eta = 0.4), every ``--every`` steps:
   eoslib warm-started from the previous eigenvector vs eoslib cold starts vs the
   locuslab cold starts; total HVPs and time.

Fairness: both sides run on one CPU thread (XLA_FLAGS single-thread Eigen and
intra-op parallelism; ``torch.set_num_threads(1)``), both in float64, same tolerance,
same weights. torch is optional (``pip install torch``); without it only the eoslib
numbers are printed.

Usage: python benchmarks/bench_top_eigenvalue.py [--tol 1e-6] [--every 5]
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

from eoslib import curvature, data, gd, nets  # noqa: E402

try:
    import torch
except ImportError:  # optional extra for this benchmark only
    torch = None


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
    ap.add_argument("--tol", type=float, default=1e-6, help="relative residual tolerance")
    ap.add_argument("--eta", type=float, default=0.4, help="GD learning rate of the trajectory")
    ap.add_argument("--steps", type=int, default=200, help="GD steps of the trajectory")
    ap.add_argument("--every", type=int, default=5, help="eigenvalue stride along the trajectory")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats (median)")
    args = ap.parse_args()

    ds, f, w0, unravel = build_problem(args.n, args.width)
    dim = int(w0.shape[0])
    print(f"setting: digits n={args.n}, MLP 64-{args.width}-{args.width}-10 tanh, MSE, D={dim}, "
          f"float64, 1 CPU thread (XLA single-thread flags; torch.set_num_threads(1)), "
          f"tol={args.tol:g}")

    # The GD trajectory (eoslib.gd; jit + scan).
    traj = gd.gd_trajectory(f, w0, args.eta, args.steps, record_every=1)
    ws = np.asarray(traj.params)
    print(f"trajectory: {args.steps} GD steps at eta={args.eta:g}, loss {float(traj.loss[0]):.4g} "
          f"-> {float(traj.loss[-1]):.4g}")
    rng = np.random.default_rng(1)

    def cold_v0() -> jax.Array:
        return jnp.asarray(rng.standard_normal((dim, 1)))

    # ---------------------------------------------------------------- part 1
    w_mid = jnp.asarray(ws[args.steps // 2])
    t = time.perf_counter()
    res = curvature.top_eigenpairs(f, w_mid, 1, v0=cold_v0(), tol=args.tol, max_iter=300)
    res.eigenvalues.block_until_ready()
    t_first = time.perf_counter() - t
    times, hvps = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        res = curvature.top_eigenpairs(f, w_mid, 1, v0=cold_v0(), tol=args.tol, max_iter=300)
        lam_jax = float(res.eigenvalues[0])
        times.append(time.perf_counter() - t)
        hvps.append(int(res.num_iterations))
    t_jax = statistics.median(times)
    print("\n[1] one top eigenvalue at GD step", args.steps // 2, "(cold starts)")
    print(f"  eoslib   : lambda={lam_jax:.10g}  {t_jax * 1e3:8.1f} ms/call  HVPs={hvps}  "
          f"(first call incl. compilation {t_first:.2f} s)")

    th = None
    if torch is None:
        print("  locuslab : SKIPPED -- torch is not installed (pip install torch); "
              "the comparison needs it")
    else:
        th = TorchHVP(ds, unravel(jnp.asarray(ws[0])))
        th.load(unravel(w_mid))
        locuslab_top(th, dim, args.tol, 0)  # warm-up
        times_t, hvps_t = [], []
        for r in range(args.repeats):
            t = time.perf_counter()
            lam_t, c = locuslab_top(th, dim, args.tol, 100 + r)
            times_t.append(time.perf_counter() - t)
            hvps_t.append(c)
        t_torch = statistics.median(times_t)
        # Same operator on both sides: check one HVP against eoslib's.
        perm = torch_order(unravel, dim)
        u = np.random.default_rng(5).standard_normal(dim)
        hv_j = np.asarray(curvature.hvp(f, w_mid, jnp.asarray(u)))
        inv = np.empty_like(perm)
        inv[perm] = np.arange(dim)
        hv_t = th(u[perm])[inv]
        print(f"  locuslab : lambda={lam_t:.10g}  {t_torch * 1e3:8.1f} ms/call  HVPs={hvps_t}")
        print(f"  HVP agreement torch vs jax: rel. diff {np.linalg.norm(hv_t - hv_j) / np.linalg.norm(hv_j):.2e}; "
              f"eigenvalue rel. diff {abs(lam_t - lam_jax) / lam_jax:.2e}")
        t_hvp_j = _time_hvp_jax(f, w_mid, dim)
        t_hvp_t = _time(lambda: th(u), 5)
        print(f"  one HVP: eoslib {t_hvp_j * 1e3:.2f} ms, torch double-backprop {t_hvp_t * 1e3:.2f} ms")
        print(f"  RATIO time locuslab/eoslib = {t_torch / t_jax:.2f}x  "
              f"(HVPs {statistics.median(hvps_t):.0f} vs {statistics.median(hvps):.0f})")

    # ---------------------------------------------------------------- part 2
    pts = list(range(0, args.steps + 1, args.every))
    print(f"\n[2] tracking along the trajectory: {len(pts)} evaluations (every {args.every} steps)")
    v = cold_v0()
    warm_h, warm_l, t = 0, [], time.perf_counter()
    for i in pts:
        res = curvature.top_eigenpairs(f, jnp.asarray(ws[i]), 1, v0=v, tol=args.tol, max_iter=300)
        v = res.eigenvectors
        warm_h += int(res.num_iterations)
        warm_l.append(float(res.eigenvalues[0]))
    t_warm = time.perf_counter() - t
    cold_h, cold_l, t = 0, [], time.perf_counter()
    for i in pts:
        res = curvature.top_eigenpairs(f, jnp.asarray(ws[i]), 1, v0=cold_v0(), tol=args.tol,
                                       max_iter=300)
        cold_h += int(res.num_iterations)
        cold_l.append(float(res.eigenvalues[0]))
    t_cold = time.perf_counter() - t
    dev = max(abs(a - b) / b for a, b in zip(warm_l, cold_l))
    print(f"  sharpness {warm_l[0]:.4g} -> {max(warm_l):.4g} (max) -> {warm_l[-1]:.4g}; "
          f"warm vs cold max rel. diff {dev:.1e}")
    print(f"  eoslib warm : {warm_h:6d} HVPs ({warm_h / len(pts):.1f}/eval)  {t_warm:7.2f} s")
    print(f"  eoslib cold : {cold_h:6d} HVPs ({cold_h / len(pts):.1f}/eval)  {t_cold:7.2f} s")
    print(f"  RATIO HVPs eoslib cold/warm = {cold_h / warm_h:.2f}x")
    if th is not None:
        loc_h, t = 0, time.perf_counter()
        for j, i in enumerate(pts):
            th.load(unravel(jnp.asarray(ws[i])))
            _, c = locuslab_top(th, dim, args.tol, 1000 + j)
            loc_h += c
        t_loc = time.perf_counter() - t
        print(f"  locuslab    : {loc_h:6d} HVPs ({loc_h / len(pts):.1f}/eval)  {t_loc:7.2f} s")
        print(f"  RATIO HVPs locuslab/eoslib-warm = {loc_h / warm_h:.2f}x; "
              f"RATIO time locuslab/eoslib-warm = {t_loc / t_warm:.2f}x")


def _time(fn, repeats: int) -> float:
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def _time_hvp_jax(f, w, dim: int) -> float:
    hv = jax.jit(lambda u: curvature.hvp(f, w, u))
    u = jnp.asarray(np.random.default_rng(6).standard_normal(dim))
    return _time(lambda: hv(u).block_until_ready(), 5)


if __name__ == "__main__":
    main()
