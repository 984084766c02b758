"""Run the mutants of a paper's prediction functions against its unit tests (and notebooks).

Stages, for each mutant (the first that fails kills it):

1. the unit tests that *execute a line of the mutated node* (per-test line coverage, recorded once
   per paper by :func:`coverage_map` in the same worker, cached on the tests' and sources' hashes);
2. the unit tests that execute any line of the mutated function (a jitted function is traced once
   per process, so the per-line map can miss a test that would also reach the node);
3. optionally (``--notebooks``) the notebooks whose prediction checks use the function, run by
   ``eoslib run`` on a copy with the mutant served from the overlay (:mod:`.overlay.sitecustomize`).

A mutant that makes a run exceed its timeout is killed (``timeout``). Unit tests run in at most
``jobs`` long-lived pytest workers (:mod:`.worker`), recycled every :data:`RECYCLE` runs. Every
result is cached in ``_build/mutation/cache_<paper>.json`` under (mutant id, hash of the target's
source, hash of the paper's test files), so a rerun only redoes what changed.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import select as _select
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

from . import mutants as mm
from .select import ROOT, Selection, Target, select

CACHE_DIR = ROOT / "_build" / "mutation"
RESULTS_DIR = Path(__file__).parent / "results"
RECYCLE = 40


def env_for_children() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    env["EOSLIB_MUTANT_ROOT"] = str(ROOT)
    return env


def test_files(paper: str) -> list[Path]:
    """Unit-test files of a paper: ``tests/test_<paper>*.py`` and any other test importing it."""
    out = []
    for p in sorted((ROOT / "tests").glob("test_*.py")):
        if p.name.startswith("test_falsifiable") or p.name == "test_mutation_harness.py":
            continue
        if p.name.startswith(f"test_{paper}") or f"eoslib.papers.{paper}" in p.read_text():
            out.append(p)
    return out


def _hash_files(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p).encode())
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


class Worker:
    """One :mod:`.worker` process; ``run`` returns its answer or ``None`` on timeout."""

    def __init__(self, log: Path):
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.runs = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tools.mutation.worker", str(self.log)], cwd=ROOT, env=env_for_children(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
        self.runs = 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self.proc = None

    def request(self, req: dict, timeout: float) -> dict | None:
        if self.proc is None or self.proc.poll() is not None or self.runs >= RECYCLE:
            self.stop()
            self.start()
        self.runs += 1
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = _select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.stop()
            return None
        line = self.proc.stdout.readline()
        if not line:  # the worker died (a mutant that crashes the interpreter)
            self.stop()
            return {"rc": -1, "failed": "worker crashed", "seconds": 0.0}
        return json.loads(line)


def coverage_map(paper: str, workers: list[Worker], log=print) -> dict:
    """Per-test line coverage of the paper package by its unit tests (cached)."""
    files = test_files(paper)
    srcs = sorted((ROOT / "eoslib" / "papers" / paper).glob("*.py"))
    key = _hash_files(files + srcs)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"coverage_{paper}_{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    include = [str(p) for p in srcs]
    halves = [[str(f) for f in files[i::len(workers)]] for i in range(len(workers))]
    outs: list[Path] = [CACHE_DIR / f".cov_{paper}_{i}.json" for i in range(len(workers))]
    answers: list = [None] * len(workers)

    def go(i):
        if halves[i]:
            answers[i] = workers[i].request({"cmd": "coverage", "include": include, "nodeids": halves[i],
                                             "out": str(outs[i])}, timeout=3600)

    log(f"coverage of eoslib/papers/{paper} by {len(files)} test files ...")
    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    merged: dict = {"__failed__": [], "__durations__": {}}
    for i, o in enumerate(outs):
        if not halves[i]:
            continue
        if answers[i] is None:
            raise RuntimeError(f"coverage run {i} timed out")
        part = json.loads(o.read_text())
        merged["__failed__"] += part.pop("__failed__")
        merged["__durations__"].update(part.pop("__durations__"))
        for f, lines in part.items():
            dst = merged.setdefault(f, {})
            for ln, ctxs in lines.items():
                dst[ln] = sorted(set(dst.get(ln, [])) | set(ctxs))
        o.unlink()
    path.write_text(json.dumps(merged))
    log(f"coverage done; failing unmutated tests: {merged['__failed__'] or 'none'}")
    return merged


def _target_lines(t: Target) -> tuple[int, int]:
    tree = ast.parse(t.path.read_text())
    for s in tree.body:
        name = getattr(s, "name", None)
        tgts = [x.id for x in getattr(s, "targets", []) if isinstance(x, ast.Name)]
        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name):
            tgts = [s.target.id]
        if name == t.qualname or t.qualname in tgts:
            return s.lineno, s.end_lineno
    raise KeyError(t.key)


def _nodes_for(cov: dict, t: Target, lo: int, hi: int) -> list[str]:
    lines = cov.get(str(t.path.relative_to(ROOT)), {})
    bad = set(cov["__failed__"])
    out: set[str] = set()
    for ln in range(lo, hi + 1):
        out |= set(lines.get(str(ln), []))
    return sorted(out - bad)


def _module_nodes(cov: dict, module_path: Path) -> list[str]:
    lines = cov.get(str(module_path.relative_to(ROOT)), {})
    bad = set(cov["__failed__"])
    return sorted({n for v in lines.values() for n in v} - bad)


def _timeout(cov: dict, nodes: list[str]) -> float:
    d = cov["__durations__"]
    return 90.0 + 4.0 * sum(d.get(n, 5.0) for n in nodes)


def _stamp(rec: dict, tests_hash: str) -> str:
    """What a cached result depends on: the killing test's file, or (survived) all the test files.

    Adding or strengthening tests can only kill more: a kill stays valid while the file of the
    test that made it is unchanged; a survivor is rerun whenever any of the paper's tests changes.
    """
    by = rec.get("by", "")
    if rec["status"] == "killed" and by.startswith("tests/") and "::" in by:
        f = ROOT / by.split("::", 1)[0]
        return "file:" + (_hash_files([f]) if f.exists() else "gone")
    return "all:" + tests_hash


def _valid(rec: dict | None, tests_hash: str) -> bool:
    if rec is None or "tests_hash" not in rec:
        return False
    stamp = rec["tests_hash"]
    if stamp.startswith("file:"):
        return stamp == _stamp(rec, tests_hash)
    if rec.get("notebooks_tried") is not None and rec["status"] == "killed":
        return True  # killed by a notebook: valid while the function is unchanged
    return stamp == "all:" + tests_hash


def _killed(ans: dict | None) -> tuple[bool, str]:
    if ans is None:
        return True, "timeout"
    rc = ans["rc"]
    if rc == 0 or rc == 5:  # passed / nothing collected
        return False, ""
    return True, ans.get("failed") or f"pytest exit {rc}"


def run_paper(paper: str, *, jobs: int = 2, budget_minutes: float = 60.0, notebooks: bool = False,
              notebook_budget_minutes: float = 20.0, only: str | None = None, log=print) -> dict:
    """Run (or read from the cache) every mutant of the paper's prediction functions."""
    sel = select(paper)
    files = test_files(paper)
    tests_hash = _hash_files(files)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    cache_path = CACHE_DIR / f"cache_{paper}.json"
    cache: dict = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    lock = threading.Lock()
    logs = [CACHE_DIR / f"worker_{paper}_{i}.log" for i in range(jobs)]
    workers = [Worker(lg) for lg in logs]
    deadline = time.monotonic() + 60 * budget_minutes
    try:
        cov = coverage_map(paper, workers, log=log)
        # roots (used directly by a prediction check) first, then their helpers
        order = sorted(sel.targets.values(), key=lambda t: (t.key not in sel.roots, t.key))
        if only:
            order = [t for t in order if only in t.key]
        plan: list[tuple[Target, mm.Mutant, str, list[str], list[str]]] = []
        for t in order:
            src = t.path.read_text()
            seg = mm.segment_hash(src, t.qualname)
            lo, hi = _target_lines(t)
            fn_nodes = _module_nodes(cov, t.path) if t.kind == "constant" else _nodes_for(cov, t, lo, hi)
            for m in mm.generate(t.module, t.qualname, src):
                key = f"{m.id}|{seg}"
                line_nodes = fn_nodes if t.kind == "constant" else _nodes_for(cov, t, m.start[0], m.end[0])
                plan.append((t, m, key, line_nodes, [n for n in fn_nodes if n not in line_nodes]))
        # a deterministic, hash-ordered sample: a run cut by its budget is an unbiased sample
        # stale results (survivors after a test change) first, so the sample stays the same one
        todo = sorted((p for p in plan if not _valid(cache.get(p[2]), tests_hash)),
                      key=lambda p: (p[2] not in cache, hashlib.sha1(p[1].id.encode()).hexdigest()))
        log(f"{paper}: {len(sel.targets)} targets, {len(plan)} mutants, {len(plan) - len(todo)} cached")
        queue = list(todo)
        done = [0]
        tmp = Path(tempfile.mkdtemp(prefix=f"mut_{paper}_"))

        def work(w: Worker) -> None:
            while True:
                with lock:
                    if not queue or time.monotonic() > deadline:
                        return
                    t, m, key, n1, n2 = queue.pop(0)
                src_file = tmp / f"{abs(hash(m.id))}.py"
                src_file.write_text(m.apply(t.path.read_text()))
                probe = tmp / f"{abs(hash(m.id))}.probe"
                probe.unlink(missing_ok=True)
                rec = {"status": "survived", "by": "", "stage": "", "covered": bool(n1 or n2)}
                t0 = time.monotonic()
                for stage, nodes in (("unit", n1), ("unit-fn", n2)):
                    if not nodes:
                        continue
                    nodes = sorted(nodes, key=lambda n: cov["__durations__"].get(n, 5.0))  # cheapest first (-x)
                    ans = w.request({"cmd": "run", "id": m.id, "module": t.module, "source": str(src_file),
                                     "nodeids": nodes, "probe": str(probe)}, timeout=_timeout(cov, nodes))
                    k, by = _killed(ans)
                    if k:
                        rec.update(status="killed", by=by, stage=stage)
                        break
                if m.op == "ret" and probe.exists():
                    hits = set(probe.read_text().split())
                    rec["probe"] = "scaled" if "scaled" in hits else "noop"
                rec["seconds"] = round(time.monotonic() - t0, 1)
                rec["tests_hash"] = _stamp(rec, tests_hash)
                with lock:
                    cache[key] = rec
                    done[0] += 1
                    cache_path.write_text(json.dumps(cache))
                    if done[0] % 10 == 0:
                        left = len(queue)
                        log(f"  {done[0]}/{len(todo)} run, {left} queued, last {m.id} -> {rec['status']}")

        threads = [threading.Thread(target=work, args=(w,)) for w in workers]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        cache_path.write_text(json.dumps(cache))
    finally:
        for w in workers:
            w.stop()
    if notebooks:
        run_notebooks(paper, sel, plan, cache, cache_path, budget_minutes=notebook_budget_minutes, log=log)
    return summarize(paper, sel, plan, cache)


def run_notebooks(paper: str, sel: Selection, plan, cache: dict, cache_path: Path, *, budget_minutes: float,
                  log=print) -> None:
    """Stage 3: survivors against the notebooks whose prediction checks use their function."""
    deadline = time.monotonic() + 60 * budget_minutes
    tmp = Path(tempfile.mkdtemp(prefix=f"mutnb_{paper}_"))
    # survivors no unit test executes first; display/validation/setting mutants are not worth a notebook
    cands = [(t, m, key) for t, m, key, _, _ in plan
             if (r := cache.get(key)) is not None and r["status"] == "survived" and not r.get("notebooks_tried")
             and not m.context and sel.used_by.get(t.key)]
    cands.sort(key=lambda c: (cache[c[2]].get("covered", True), c[0].key not in sel.roots, c[1].id))
    for t, m, key in cands:
        rec = cache[key]
        if time.monotonic() > deadline:
            log("notebook budget spent")
            break
        src_file = tmp / "mutant.py"
        src_file.write_text(m.apply(t.path.read_text()))
        env = env_for_children()
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent / "overlay"), env.get("PYTHONPATH", "")])
        env["EOSLIB_MUTANT_MODULE"], env["EOSLIB_MUTANT_SOURCE"] = t.module, str(src_file)
        tried = []
        for nb in sorted(sel.used_by.get(t.key, ())):
            copy = tmp / Path(nb).name
            copy.write_text((ROOT / nb).read_text())
            out = tmp / "out.ipynb"
            try:
                proc = subprocess.run([sys.executable, "-m", "eoslib", "run", str(copy), "-o", str(out),
                                       "--no-progress"], cwd=ROOT, env=env, capture_output=True, text=True,
                                      timeout=600)
                failed = proc.returncode != 0
                why = "check" if ("FAIL " in proc.stderr or "CheckFailed" in proc.stderr) else "error"
            except subprocess.TimeoutExpired:
                failed, why = True, "timeout"
            tried.append(nb)
            if failed:
                rec.update(status="killed", by=f"{nb} ({why})", stage="notebook")
                break
        rec["notebooks_tried"] = tried
        cache_path.write_text(json.dumps(cache))
        log(f"  notebooks for {m.id}: {rec['status']} {rec['by']}")


def _reason(t: Target, m: mm.Mutant, rec: dict) -> str:
    if m.op == "ret" and rec.get("probe") == "noop":
        return "equivalent: the return value carries no float"
    if m.context == "display":
        return "display text only (a label or description), not a prediction"
    if m.context == "validation":
        return "an input-validation bound, not a prediction"
    if m.context == "setting":
        return "a numerical setting (tolerance, cap, sample size, bracket)"
    if not rec.get("covered"):
        return "no unit test executes this code"
    if m.op.startswith("cmp") and "==" not in m.op:
        return "executed; the negated branch is not asserted"
    return "executed; the change is not asserted"


def summarize(paper: str, sel: Selection, plan, cache: dict) -> dict:
    tests_hash = _hash_files(test_files(paper))
    per: dict[str, dict] = defaultdict(lambda: {"mutants": 0, "killed": 0, "run": 0})
    survivors = []
    counts = defaultdict(int)
    for t, m, key, _, _ in plan:
        rec = cache.get(key)
        stale = rec is not None and not _valid(rec, tests_hash)  # tests changed since: counted, marked
        counts["stale (tests changed since the run)"] += stale
        p = per[t.key]
        p["mutants"] += 1
        counts["mutants"] += 1
        if rec is None:
            counts["not run"] += 1
            continue
        p["run"] += 1
        counts["run"] += 1
        formula = not m.context  # not display text, an input-validation bound or a numerical setting
        counts["run (formula)"] += formula
        if rec.get("notebooks_tried") is not None:
            counts["notebook stage tried"] += 1
        if rec["status"] == "killed":
            p["killed"] += 1
            counts["killed"] += 1
            counts["killed (formula)"] += formula
            counts[f"killed by {rec['stage']}"] += 1
        else:
            counts["survived"] += 1
            survivors.append({"id": m.id, "function": t.key.split(":", 1)[1], "module": t.module.rsplit(".", 1)[1],
                              "line": m.line, "op": m.op, "before": m.before, "after": m.after,
                              "reason": _reason(t, m, rec) + (" (tests changed since; not rerun)" if stale else ""),
                              "notebooks_tried": rec.get("notebooks_tried", [])})
    run = counts["run"]
    return {
        "paper": paper,
        "counts": dict(counts),
        "kill_rate": round(counts["killed"] / run, 4) if run else None,
        "roots": sorted(k.replace(f"eoslib.papers.{paper}.", "") for k in sel.roots),
        "targets": {k.replace(f"eoslib.papers.{paper}.", ""): v for k, v in sorted(per.items())},
        "survivors": survivors,
    }


def write_results(summary: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{summary['paper']}.json"
    path.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return path


def try_mutants(paper: str, patterns: list[str], nodeids: list[str]) -> list[tuple[str, tuple[bool, str]]]:
    """Run the mutants whose id contains one of ``patterns`` against ``nodeids`` (one worker)."""
    sel = select(paper)
    chosen = []
    for t in sel.targets.values():
        src = t.path.read_text()
        chosen += [(t, m) for m in mm.generate(t.module, t.qualname, src) if any(p in m.id for p in patterns)]
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    w = Worker(CACHE_DIR / f"try_{paper}.log")
    out = []
    tmp = Path(tempfile.mkdtemp(prefix="mut_try_"))
    try:
        for t, m in chosen:
            f = tmp / "m.py"
            f.write_text(m.apply(t.path.read_text()))
            ans = w.request({"cmd": "run", "id": m.id, "module": t.module, "source": str(f), "nodeids": nodeids},
                            timeout=600)
            out.append((m.id, _killed(ans)))
    finally:
        w.stop()
    return out


__all__ = ["try_mutants", "run_paper", "run_notebooks", "summarize", "write_results", "coverage_map", "test_files", "Worker",
           "asdict"]
