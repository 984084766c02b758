"""Cost of one tracked constrained step (projection, grad S, top-2 eigenpairs), in HVP-equivalents.

    python benchmarks/bench_constrained_step.py            # 40 steps of the book-scale run
    python benchmarks/bench_constrained_step.py --steps 10

Problem: the book-scale run of the self-stabilization Figure 4 (digits n=500, MLP 64-64 swish,
categorical MSE, eta = 0.25), from the first unstable iterate (float32 phase, then float64).

Compared, over the same ``--steps`` constrained steps theta+_{t+1} = proj(theta+_t - eta grad L_t):

* (a) eoslib: ``constrained.constrained_step`` -- one full evaluation (Lanczos k=1 at tol 1e-7,
  grad S), light re-evaluations (Lanczos k=1 and a gradient, reusing the first grad S^perp
  direction) until accepted, then grad S and lambda_2 (deflated Lanczos at tol 1e-4);
* (b) the reference code's scheme: three full linearised passes, each with top-2 eigenpairs
  (Lanczos k=2 at tol 1e-7), grad S and a gradient.

Costs are counted exactly (Lanczos HVPs, grad S evaluations, gradients) and converted to
HVP-equivalents with the measured time of a gradient and of grad S relative to an HVP (minimum
of 20 calls). Both schemes must end on the stable set (|S eta/2 - 1| <= 1e-4) and agree on
theta+ to 1e-6 relative before a ratio is printed. Wall times depend on the machine's load.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from eoslib.papers.self_stabilization import constrained, oracles, problems, tracking  # noqa: E402


def reference_step(ev: oracles.Evaluator, q: oracles.Taylor, eta: float, passes: int = 3):
    p = q.point - eta * q.grad
    for _ in range(passes):
        r = ev(p, 2)
        viol = max(float(r.sharpness) - 2 / eta, 0.0)
        gsp = r.grad_S_perp
        p = p - viol * gsp / jnp.vdot(gsp, gsp) - jnp.vdot(r.u, r.grad) / r.sharpness * r.u
    return ev(p, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args()
    eta = 0.25
    pb = problems.digits_mlp(500)
    onset = constrained.run_to_instability(pb, eta)
    ratios = tracking.cost_ratios(pb.f, jnp.asarray(onset.theta0))
    rng = np.random.default_rng(0)
    results = {}
    for name in ("eoslib", "reference"):
        ev = oracles.Evaluator(pb.f, jnp.asarray(rng.standard_normal((pb.dim, 2))))
        q = constrained.project(ev, jnp.asarray(onset.theta0), eta).taylor
        step = constrained.constrained_step if name == "eoslib" else reference_step
        step(ev, q, eta)  # compile
        c0 = (ev.hvps, ev.grad_S_evals, ev.calls)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            out = step(ev, q, eta)
            q = out.taylor if name == "eoslib" else out
        wall = (time.perf_counter() - t0) / args.steps
        hv, gs, gr = ((ev.hvps - c0[0]) / args.steps, (ev.grad_S_evals - c0[1]) / args.steps,
                      (ev.calls - c0[2]) / args.steps)
        eq = hv + ratios["grad_S"] * gs + ratios["grad"] * gr
        results[name] = (q, eq, wall)
        print(f"{name:9s}: {hv:5.1f} HVPs + {gs:.1f} grad S + {gr:.1f} gradients = {eq:5.1f} HVP-equivalents "
              f"per step; {wall * 1e3:6.1f} ms per step; |S eta/2 - 1| = {abs(float(q.sharpness) * eta / 2 - 1):.1e}")
    qa, qb = results["eoslib"][0], results["reference"][0]
    for q in (qa, qb):
        assert abs(float(q.sharpness) * eta / 2 - 1) <= 1e-4
    rel = float(jnp.linalg.norm(qa.point - qb.point) / jnp.linalg.norm(qb.point))
    assert rel <= 1e-6, rel
    print(f"theta+ agree to {rel:.1e}; cost ratios measured: grad = {ratios['grad']:.2f} HVP, "
          f"grad S = {ratios['grad_S']:.2f} HVP (HVP {ratios['hvp_seconds'] * 1e3:.2f} ms)")
    print(f"reference / eoslib: {results['reference'][1] / results['eoslib'][1]:.2f}x HVP-equivalents, "
          f"{results['reference'][2] / results['eoslib'][2]:.2f}x wall time")


if __name__ == "__main__":
    main()
