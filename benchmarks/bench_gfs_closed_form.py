"""GF solution of scalar networks: the closed-form root-find against ODE integration of gradient flow.

Setting: ``L(w) = 1/2 (w_1 ... w_D - 1)^2`` with ``D`` in {2, ..., 6}; random starts with a
random sign pattern of positive product, ``|w_i| = exp(N(0, 0.6^2))`` moved along their GF
class to a product ``~ U(0.2, 3)`` (``eoslib.papers.gfs_sharpness.samplers``). float64, one
XLA thread.

Methods (all vectorised over the starts of one depth, jit-compiled, compile time excluded):

* ``closed form``: ``scalar.gfs`` -- the class point with product 1, by the bracketed
  Newton root-find on ``sum_i log(w_i^2 + s) = 0`` (the method of the book);
* ``dopri8``: ``scalar.gradient_flow_ode`` -- diffrax Dopri8 with a PID controller
  (rtol 1e-13, atol 1e-15) on ``w' = -grad L`` to ``t = 200``, the reference of Figure 1's
  check, vmapped over the starts;
* ``rkc``: ``eoslib.flow.gradient_flow`` (the network solver, RKC, rtol 1e-12, atol 1e-14)
  to loss 1e-26, one start at a time (it is not vectorised; a handful of starts).

Agreement is checked before a ratio is printed: max |closed form - dopri8| <= 1e-10.
The goal: the closed form >= 100x faster than the ODE at that agreement.

Usage: python benchmarks/bench_gfs_closed_form.py [--starts 50] [--repeats 7]
"""

from __future__ import annotations

import os

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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import median_time  # noqa: E402

from eoslib import flow  # noqa: E402
from eoslib.papers.gfs_sharpness import samplers as sp, scalar as sc  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--starts", type=int, default=50, help="random starts per depth; range [1, 100000]")
    ap.add_argument("--repeats", type=int, default=7, help="timed repeats (median); range [1, 100]")
    ap.add_argument("--rkc-starts", type=int, default=3, help="starts per depth for the RKC solver; range [0, 100]")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    gfs = jax.jit(sc.gfs)
    print(f"{'D':>2} {'starts':>6} {'closed form':>14} {'dopri8':>12} {'ratio':>8} {'max |diff|':>11} "
          f"{'rkc / start':>12} {'rkc |diff|':>11}")
    total_cf = total_ode = 0.0
    for depth in (2, 3, 4, 5, 6):
        w, _ = sp.sample_points(rng, args.starts, depth, pi_range=(0.2, 3.0))
        w = jnp.asarray(w)
        t_cf = median_time(lambda: gfs(w), args.repeats)
        t_ode = median_time(lambda: sc.gradient_flow_ode(w)[0], max(1, args.repeats // 3))
        diff = float(jnp.max(jnp.abs(gfs(w) - sc.gradient_flow_ode(w)[0])))
        if diff > 1e-10:
            raise SystemExit(f"D={depth}: closed form and ODE disagree by {diff:.2e} > 1e-10")
        rkc_t, rkc_d = [], []
        for k in range(min(args.rkc_starts, args.starts)):
            t = time.perf_counter()
            r = flow.gradient_flow(sc.loss, w[k], loss_threshold=1e-26, rtol=1e-12, atol=1e-14)
            rkc_t.append(time.perf_counter() - t)
            rkc_d.append(float(jnp.max(jnp.abs(r.w - gfs(w[k])))))
        rkc = f"{statistics.median(rkc_t):10.3f} s {max(rkc_d):11.1e}" if rkc_t else ""
        total_cf += t_cf
        total_ode += t_ode
        print(f"{depth:>2} {args.starts:>6} {t_cf * 1e6:11.1f} us {t_ode * 1e3:9.2f} ms {t_ode / t_cf:7.0f}x "
              f"{diff:11.1e} {rkc}")
    print(f"all depths: closed form {total_cf * 1e3:.3f} ms, dopri8 {total_ode:.3f} s, "
          f"ratio {total_ode / total_cf:.0f}x (goal >= 100x at agreement <= 1e-10)")


if __name__ == "__main__":
    main()
