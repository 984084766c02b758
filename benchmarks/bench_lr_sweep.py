"""Learning-rate sweep benchmark: eoslib vs a vectorized numpy loop.

Problem: GD on f(x, y) = BCE_{y=0.2}(x y) (soft label 0.2), float64, 1000 learning rates x
100k steps, final state only (plus the divergence step). Three numbers:

(a) eoslib: ``eoslib.gd.sweep_final`` (the library's own vmapped ``lax.scan`` path);
(b) numpy: arrays over the learning rates, a python loop over the steps, with the same
    semantics (freeze on divergence, record the step); also timed without the divergence
    bookkeeping, the cheapest numpy loop possible, which gives the conservative ratio;
(c) the physical cost in ns per element-step = wall time / (n_lr * n_steps).

Usage:
    python benchmarks/bench_lr_sweep.py            # full size (1000 x 100k)
    python benchmarks/bench_lr_sweep.py --quick    # 1000 x 10k
    python benchmarks/bench_lr_sweep.py --explore  # also scan unroll and the x/y layout

Run on an otherwise idle machine: the timings are wall-clock minima over --repeats runs.
"""

import os

# One XLA thread, for comparability with single-threaded numpy (set before importing jax).
os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from eoslib.gd import sweep_final  # noqa: E402
from eoslib.losses import soft_bce  # noqa: E402

LABEL = 0.2
X0, Y0 = 3.0, -0.3  # z0 = -0.9 (z* = -1.386), sharpness ~1.9 at the start
MAX_NORM = 1e8
LOSS = soft_bce(LABEL)


def objective(p):
    """f(x, y) = l(x y); p is (x, y) as a tuple or as an array of shape (2,)."""
    return LOSS(p[0] * p[1])


def run_eoslib(etas, num_steps, *, unroll, chunk, layout):
    x0 = (X0, Y0) if layout == "separate" else jnp.array([X0, Y0])
    xf, div = sweep_final(objective, x0, etas, num_steps, max_norm=MAX_NORM, unroll=unroll,
                          chunk=chunk)
    jax.block_until_ready((xf, div))
    if layout == "separate":
        return np.asarray(xf[0]), np.asarray(xf[1]), np.asarray(div)
    return np.asarray(xf[:, 0]), np.asarray(xf[:, 1]), np.asarray(div)


def _sigmoid(z):
    # Overflow of exp(-z) for z < -709 gives 1/inf = 0, the right limit.
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def run_numpy(etas, num_steps):
    """Same semantics as eoslib: freeze on divergence and record the step."""
    etas = np.asarray(etas)
    x = np.full(etas.shape, X0)
    y = np.full(etas.shape, Y0)
    alive = np.ones(etas.shape, bool)
    count = np.zeros(etas.shape, np.int64)
    max_sq = MAX_NORM**2
    with np.errstate(invalid="ignore", over="ignore"):
        for _ in range(num_steps):
            g = etas * (_sigmoid(x * y) - LABEL)
            xn = x - g * y
            yn = y - g * x
            alive &= xn * xn + yn * yn <= max_sq
            x = np.where(alive, xn, x)
            y = np.where(alive, yn, y)
            count += alive
    div = np.where(alive, -1, count + 1)
    return x, y, div


def run_numpy_plain(etas, num_steps):
    """Cheapest numpy loop: the bare update, no divergence bookkeeping."""
    etas = np.asarray(etas)
    x = np.full(etas.shape, X0)
    y = np.full(etas.shape, Y0)
    for _ in range(num_steps):
        g = etas * (_sigmoid(x * y) - LABEL)
        x, y = x - g * y, y - g * x
    return x, y


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10k steps instead of 100k")
    ap.add_argument("--n-lr", type=int, default=1000, help="number of learning rates")
    ap.add_argument("--steps", type=int, default=None, help="override the number of steps")
    ap.add_argument("--unroll", type=int, default=1, help="lax.scan unroll of the eoslib run")
    ap.add_argument("--chunk", type=int, default=64, help="steps between divergence tests")
    ap.add_argument("--layout", choices=["separate", "stacked"], default="separate",
                    help="x, y as two (n_lr,) arrays or one (n_lr, 2) array")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats (minimum is kept)")
    ap.add_argument("--explore", action="store_true", help="also time other unroll/chunk/layouts")
    args = ap.parse_args(argv)

    n_lr = args.n_lr
    num_steps = args.steps or (10_000 if args.quick else 100_000)
    etas = np.linspace(0.01, 1.5, n_lr)
    elems = n_lr * num_steps
    ns = lambda t: t / elems * 1e9  # noqa: E731
    print(f"jax {jax.__version__}, numpy {np.__version__}, float64, "
          f"XLA_FLAGS={os.environ['XLA_FLAGS']!r}")
    print(f"problem: GD on BCE_{{y={LABEL}}}(x*y), x0=({X0}, {Y0}), {n_lr} learning rates in "
          f"[{etas[0]}, {etas[-1]}], {num_steps} steps, final state only")

    configs = [(args.unroll, args.chunk, args.layout)]
    if args.explore:
        configs += [(u, c, lay) for lay in ("separate", "stacked") for c in (1, 16, 64)
                    for u in (1, 2, 8) if (u, c, lay) != configs[0]]
    runners = {
        cfg: (lambda cfg=cfg: run_eoslib(etas, num_steps, unroll=cfg[0], chunk=cfg[1],
                                         layout=cfg[2]))
        for cfg in configs
    }
    compile_s = {}
    for cfg, run in runners.items():
        t0 = time.perf_counter()
        run()  # compile + warm up
        compile_s[cfg] = time.perf_counter() - t0
    runners["numpy"] = lambda: run_numpy(etas, num_steps)
    runners["numpy-bare"] = lambda: run_numpy_plain(etas, num_steps)

    # Interleaved repeats, minimum kept: fair to both sides on a machine with other load.
    best, outputs = {k: math.inf for k in runners}, {}
    for _ in range(args.repeats):
        for key, run in runners.items():
            t0 = time.perf_counter()
            outputs[key] = run()
            best[key] = min(best[key], time.perf_counter() - t0)

    for cfg in configs:
        unroll, chunk, layout = cfg
        print(f"(a) eoslib sweep_final unroll={unroll:<2d} chunk={chunk:<3d} layout={layout:8s}: "
              f"{best[cfg]:8.3f} s  ({ns(best[cfg]):5.2f} ns/element-step; first call incl. "
              f"compile {compile_s[cfg]:.2f} s)")
    t_jax = best[configs[0]]
    t_np, t_np0 = best["numpy"], best["numpy-bare"]
    print(f"(b) numpy, same semantics (freeze + step)        : {t_np:8.3f} s  "
          f"({ns(t_np):5.2f} ns/element-step)")
    print(f"(b) numpy, bare update (no divergence handling)  : {t_np0:8.3f} s  "
          f"({ns(t_np0):5.2f} ns/element-step)")

    # Agreement: identical divergence steps, final states up to accumulated rounding.
    xj, yj, dj = outputs[configs[0]]
    xn, yn, dn = outputs["numpy"]
    assert np.array_equal(dj, dn), "divergence steps differ"
    err = max(np.max(np.abs(xj - xn) / (1 + np.abs(xn))),
              np.max(np.abs(yj - yn) / (1 + np.abs(yn))))
    print(f"agreement: max relative difference of final states {err:.2e} (tolerance 1e-8); "
          f"diverged runs {int(np.sum(dj >= 0))} of {n_lr}, identical steps")
    assert err < 1e-8, f"final states differ by {err:.2e}"

    print(f"ratio numpy(same semantics) / eoslib = {t_np / t_jax:5.1f}x   (goal >= 10x)")
    print(f"ratio numpy(bare update)    / eoslib = {t_np0 / t_jax:5.1f}x")
    print(f"(c) eoslib: {ns(t_jax):.2f} ns/element-step   (goal <= 8)")


if __name__ == "__main__":
    main()
