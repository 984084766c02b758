"""Sweep benchmark: `eoslib sweep` on 2 local Dask workers vs the same points as sequential `eoslib run`.

Problem: a small notebook (written by this script into a temporary folder) with the runner's
usual cost, a kernel that imports jax (the injected float64 cell) and eoslib.checks, then
``work`` seconds of single-threaded CPU work (numpy matrix products, OpenBLAS on one thread),
and two checks. The grid is ``seed = 0..7``: 8 points.

Timed, wall clock, each as a fresh command (what a user types):

(a) sequential: 8 x ``eoslib run nb.md -p seed i -p work W -o out/i.ipynb``;
(b) sweep: ``eoslib sweep nb.md -p seed 0:7:8 -p work W --workers 2`` (cluster start included);

and the per-point overhead (kernel start plus imports), from runs with ``work = 0``:

(c) of an ``eoslib run`` command: its wall time (python start, the pipeline's imports,
    kernel start, jax import);
(d) of a sweep point: the point's runtime in its record (kernel start and jax import only:
    the worker process is already up), and the sweep's fixed cost (cluster start, planning,
    table) = wall time - sum of point times / workers.

Usage:
    python benchmarks/bench_sweep.py                 # work = 5 s per point
    python benchmarks/bench_sweep.py --work 2 --points 8

The machine is shared: the script prints the load average before and after, and the speed-up
is limited by the cores the other processes leave free.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EOSLIB = [sys.executable, "-m", "eoslib"]

NOTEBOOK = textwrap.dedent('''\
    ---
    jupytext:
      text_representation: {extension: .md, format_name: myst, format_version: 0.13}
    kernelspec: {display_name: Python 3, language: python, name: python3}
    eos: {paper: bench, item: "Benchmark", kind: observation, title: "sweep benchmark"}
    ---
    # Sweep benchmark

    ```{code-cell} ipython3
    :tags: [parameters]
    seed = 0       # random seed; range [0, 1000]
    work = 5.0     # seconds of CPU work; range [0, 600]
    ```

    ```{code-cell} ipython3
    import time
    import numpy as np
    from eoslib import checks
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((160, 160)) / 160 ** 0.5
    products, start = 0, time.process_time()
    while time.process_time() - start < work:  # CPU seconds: fair under load
        a = np.tanh(a @ a) + 0.01 * rng.standard_normal(a.shape) / 160 ** 0.5
        products += 1
    checks.check_true("finite", bool(np.all(np.isfinite(a))), kind="regression")
    checks.check_ge("matrix products done", products, 1 if work > 0 else 0, kind="regression")
    checks.verdict("Benchmark")
    ```
    ''')


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


def _run(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    return wall


def sequential(nb: Path, out: Path, points: int, work: float) -> float:
    out.mkdir(parents=True, exist_ok=True)
    total = 0.0
    for i in range(points):
        total += _run([*EOSLIB, "run", str(nb), "-p", "seed", str(i), "-p", "work", str(work),
                       "-o", str(out / f"{i}.ipynb"), "--quiet", "--no-progress"])
    return total


def swept(nb: Path, out: Path, points: int, work: float, workers: int) -> tuple[float, list[float]]:
    wall = _run([*EOSLIB, "sweep", str(nb), "-p", "seed", f"0:{points - 1}:{points}", "-p", "work", str(work),
                  "--workers", str(workers), "--out", str(out), "--no-progress"])
    times = [json.loads(p.read_text())["runtime_s"] for p in (out / "points").glob("*.json")]
    return wall, times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=float, default=5.0, help="CPU seconds of work per point")
    ap.add_argument("--points", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        nb = tmp / "bench.md"
        nb.write_text(NOTEBOOK)
        print(f"before: {_load()}")
        # Warm the file cache and the kernel's first imports, so neither side pays for them.
        _run([*EOSLIB, "run", str(nb), "-p", "work", "0", "-o", str(tmp / "warm.ipynb"), "--quiet", "--no-progress"])
        seq = sequential(nb, tmp / "seq", args.points, args.work)
        sw, times = swept(nb, tmp / "sweep", args.points, args.work, args.workers)
        print(f"(a) {args.points} sequential `eoslib run` ({args.work:g} s of work each): {seq:6.1f} s")
        print(f"(b) `eoslib sweep`, {args.workers} local workers:                  {sw:6.1f} s"
              f"   -> {seq / sw:.2f}x faster (goal >= 1.8x on 2 cores)")
        print(f"    sweep point runtimes: {min(times):.1f}..{max(times):.1f} s (mean {sum(times) / len(times):.1f})")
        seq0 = sequential(nb, tmp / "seq0", 4, 0.0) / 4
        sw0, times0 = swept(nb, tmp / "sweep0", 4, 0.0, args.workers)
        point0 = sum(times0) / len(times0)
        fixed = sw0 - sum(times0) / args.workers
        print(f"(c) overhead of one `eoslib run` (work = 0):  {seq0:5.2f} s per point")
        print(f"(d) overhead of one sweep point (work = 0):   {point0:5.2f} s per point "
              f"(kernel start + imports); sweep fixed cost about {fixed:4.1f} s (cluster start, plan, table)")
        print(f"after: {_load()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
