"""A long-lived pytest process that runs one mutant after another (jax is imported once).

Protocol: one JSON request per stdin line, one JSON answer per line on the original stdout
(pytest's own output goes to the log file given as ``argv[1]``).

Requests:
  ``{"cmd": "run", "module": m|null, "source": path|null, "nodeids": [...], "probe": path|null}``
    runs the nodes (``-x``) with module ``m`` served from ``source``; answers
    ``{"rc": int, "failed": nodeid|null, "seconds": float}``.
  ``{"cmd": "coverage", "include": [files], "nodeids": [...], "out": path}``
    runs the nodes unmutated under coverage with one context per test, writes
    ``{file: {line: [nodeid, ...]}}`` plus ``{"__failed__": [...], "__durations__": {...}}`` to
    ``out``; answers ``{"rc": int}``.

Between requests every ``eoslib.papers`` module and every test module is dropped from
``sys.modules``, so that each run imports the (mutated) paper package afresh; eoslib's core
modules, jax and their compilation caches stay.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_overlay():
    spec = importlib.util.spec_from_file_location("_eoslib_mutation_overlay",
                                                  Path(__file__).parent / "overlay" / "sitecustomize.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.install()


def _purge() -> None:
    tests = str(ROOT / "tests")
    for name in list(sys.modules):
        mod = sys.modules[name]
        f = getattr(mod, "__file__", None) or ""
        if name.startswith("eoslib.papers") or (f.startswith(tests) and name != "conftest"):
            del sys.modules[name]
    pkg = sys.modules.get("eoslib")
    if pkg is not None and "papers" in vars(pkg):
        delattr(pkg, "papers")


class _Recorder:
    """pytest plugin: first failure, per-test durations, and the coverage context switch."""

    def __init__(self, cov=None):
        self.failed: list[str] = []
        self.durations: dict[str, float] = {}
        self.cov = cov

    def pytest_runtest_setup(self, item):
        if self.cov is not None:
            self.cov.switch_context(item.nodeid)

    def pytest_runtest_logreport(self, report):
        self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + report.duration
        if report.failed and report.nodeid not in self.failed:
            self.failed.append(report.nodeid)


BASE_ARGS = ["-q", "-p", "no:cacheprovider", "--no-header", "-p", "no:randomly", "-m",
             "not slow and not paper_scale", "--rootdir", str(ROOT), "-W", "ignore"]


def main() -> None:
    log = open(sys.argv[1], "a", buffering=1)
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    os.chdir(ROOT)
    import pytest  # noqa: E402

    finder = _load_overlay()
    for line in sys.stdin:
        req = json.loads(line)
        finder.sources.clear()
        _purge()
        t0 = time.monotonic()
        if req["cmd"] == "run":
            if req.get("module"):
                finder.sources[req["module"]] = Path(req["source"]).read_text()
            if req.get("probe"):
                os.environ["EOSLIB_MUTANT_PROBE"] = req["probe"]
            else:
                os.environ.pop("EOSLIB_MUTANT_PROBE", None)
            rec = _Recorder()
            args = BASE_ARGS + (["-x"] if req.get("exitfirst", True) else []) + list(req["nodeids"])
            print(f"\n=== {req.get('id', '')}", flush=True)
            rc = int(pytest.main(args, plugins=[rec]))
            proto.write(json.dumps({"rc": rc, "failed": rec.failed[0] if rec.failed else None,
                                    "seconds": round(time.monotonic() - t0, 2)}) + "\n")
        elif req["cmd"] == "coverage":
            import coverage

            cov = coverage.Coverage(data_file=None, include=req["include"], branch=False)
            rec = _Recorder(cov)
            cov.start()
            try:
                rc = int(pytest.main(BASE_ARGS + list(req["nodeids"]), plugins=[rec]))
            finally:
                cov.stop()
            data = cov.get_data()
            out: dict = {}
            for f in data.measured_files():
                by_line: dict[str, list[str]] = {}
                for ln, ctxs in data.contexts_by_lineno(f).items():
                    by_line[str(ln)] = sorted(c for c in ctxs if c)
                out[str(Path(f).resolve().relative_to(ROOT))] = by_line
            out["__failed__"] = rec.failed
            out["__durations__"] = rec.durations
            Path(req["out"]).write_text(json.dumps(out))
            proto.write(json.dumps({"rc": rc, "seconds": round(time.monotonic() - t0, 2)}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
