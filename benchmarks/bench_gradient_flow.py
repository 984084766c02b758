"""Gradient-flow solution of a network: adaptive solvers vs fixed-step RK4 (step alpha/S).

Setting: scikit-learn digits, first 1000 images standardised per feature, one-hot targets,
MLP 64-200-200-10 tanh with biases (55,210 parameters), PyTorch-default initialisation
(seed 0), MSE ``mean_i 1/2 ||f(x_i) - y_i||^2``, float64, one CPU thread. The flow starts
at the GD iterate of step 200 (eta = 0.4, the trajectory of bench_top_eigenvalue.py) and
runs until the loss reaches ``--threshold``; the quantity of interest is the sharpness
of the gradient-flow solution (Kreisler et al.'s GFS sharpness).

Reference: a tight-tolerance adaptive solve (diffrax Tsit5, rtol 1e-8, atol 1e-10).
For every method the cheapest setting whose final sharpness is within 1e-3 (relative) of
the reference is found on a grid (loosest tolerance / largest alpha first), and the
gradient evaluations it needed are compared. Hessian-vector products (sharpness
estimates for the step size of RK4 and the stage count of RKC, plus the final sharpness)
are counted separately and also folded in at their measured cost in gradients.

Methods: ``rk4`` (Cohen et al. / Kreisler et al.: classical RK4, h = alpha / S, S
refreshed every 100 steps), ``rkc`` (eoslib's default adaptive solver, second-order
Runge-Kutta-Chebyshev), ``tsit5`` (diffrax, for comparison).

Usage: python benchmarks/bench_gradient_flow.py [--threshold 1e-2]
"""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import median_time  # noqa: E402

from eoslib import curvature, data, flow, gd, nets  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="digits examples; range [10, 1797]")
    ap.add_argument("--width", type=int, default=200, help="hidden width")
    ap.add_argument("--threshold", type=float, default=1e-2, help="loss threshold of the flow")
    ap.add_argument("--accuracy", type=float, default=1e-3, help="target relative sharpness error")
    args = ap.parse_args()

    ds = data.load_dataset("digits", n=args.n, target="onehot")
    net = nets.make_network("mlp", widths=(args.width, args.width), activation="tanh",
                            num_outputs=10, input_shape=(64,), key=0)
    f, w_init = nets.flat_loss(net, net.init_params, ds.x, ds.y, "mse")
    w0, _ = gd.gd_final(f, w_init, 0.4, 200)
    dim = int(w0.shape[0])
    loss0 = float(jax.jit(f)(w0))
    if loss0 <= args.threshold:
        # Every flow would stop at once, with nothing to compare.
        ap.error(f"--threshold must lie below the starting loss {loss0:.4g} "
                 f"(digits n={args.n}, GD step 200); got {args.threshold:g}")
    print(f"setting: digits n={args.n}, MLP 64-{args.width}-{args.width}-10 tanh, MSE, D={dim}, "
          f"float64, 1 CPU thread; start = GD step 200 at eta=0.4 "
          f"(loss {loss0:.4g}); "
          f"flow until loss = {args.threshold:g}")

    g = jax.jit(jax.grad(f))
    hv = jax.jit(lambda w, u: curvature.hvp(f, w, u))
    u = jnp.ones_like(w0)
    t_grad = median_time(lambda: g(w0).block_until_ready())
    t_hvp = median_time(lambda: hv(w0, u).block_until_ready())
    hvp_cost = t_hvp / t_grad
    print(f"cost: gradient {t_grad * 1e3:.2f} ms, HVP {t_hvp * 1e3:.2f} ms "
          f"(1 HVP = {hvp_cost:.2f} gradients)")

    def run(name, fn, **kw):
        t = time.perf_counter()
        r = fn(f, w0, loss_threshold=args.threshold, **kw)
        wall = time.perf_counter() - t
        print(f"  {name:6s} {kw!s:38s} S_GF={r.sharpness:.7g}  grads={r.num_grad_evals:6d}  "
              f"HVPs={r.num_hvps:4d}  steps={r.num_steps:5d} (+{r.num_rejected} rej)  "
              f"t={r.time:.5g}  {wall:6.1f} s  [{r.message}]", flush=True)
        return r, wall

    print("\nreference:")
    ref, _ = run("tsit5", flow.gradient_flow, method="tsit5", rtol=1e-8, atol=1e-10)
    s_ref = ref.sharpness

    def cheapest(label, trials):
        print(f"\n{label}:")
        found = None
        for name, fn, kw in trials:
            r, wall = run(name, fn, **kw)
            err = abs(r.sharpness - s_ref) / s_ref
            ok = r.reached and err <= args.accuracy
            print(f"         rel. error {err:.2e} -> {'OK' if ok else 'not accurate enough'}")
            if ok:
                found = (kw, r, wall)
                break
        return found

    rk4 = cheapest("fixed-step RK4, h = alpha/S (largest alpha first)",
                   [("rk4", flow.gradient_flow_rk4, {"alpha": a}) for a in (2.0, 1.5, 1.0, 0.5)])
    rkc = cheapest("adaptive RKC (eoslib default; loosest tolerance first)",
                   [("rkc", flow.gradient_flow, {"method": "rkc", "rtol": r, "atol": r * 1e-2})
                    for r in (1e-1, 3e-2, 1e-2, 1e-3, 1e-4)])
    tsit = cheapest("adaptive Tsit5 (diffrax; loosest tolerance first)",
                    [("tsit5", flow.gradient_flow, {"method": "tsit5", "rtol": r, "atol": r * 1e-2})
                     for r in (1e-4, 1e-6)])

    print(f"\nsummary (cheapest setting within {args.accuracy:g} of the reference sharpness "
          f"{s_ref:.7g}):")
    rows = [("rk4", rk4), ("rkc", rkc), ("tsit5", tsit)]
    for name, found in rows:
        if found is None:
            print(f"  {name:6s}: no setting on the grid reached the accuracy")
            continue
        kw, r, wall = found
        eq = r.num_grad_evals + hvp_cost * r.num_hvps
        print(f"  {name:6s} {kw!s:38s} grads={r.num_grad_evals:6d}  HVPs={r.num_hvps:4d}  "
              f"gradient-equivalents={eq:8.0f}  wall {wall:6.1f} s")
    if rk4 is not None:
        base = rk4[1]
        base_eq = base.num_grad_evals + hvp_cost * base.num_hvps
        for name, found in rows[1:]:
            if found is None:
                continue
            _, r, wall = found
            eq = r.num_grad_evals + hvp_cost * r.num_hvps
            ratio = base.num_grad_evals / r.num_grad_evals
            print(f"  RATIO rk4/{name}: gradient evaluations {ratio:.1f}x, "
                  f"gradient-equivalents incl. HVPs {base_eq / eq:.1f}x, wall time "
                  f"{rk4[2] / wall:.1f}x")


if __name__ == "__main__":
    main()
