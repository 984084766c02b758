"""Mutation testing of the prediction functions of eoslib/papers.

    .venv/bin/python -m tools.mutation run two_step [--jobs 2] [--budget 60] [--notebooks] [--only quartic]
    .venv/bin/python -m tools.mutation list two_step     # targets and mutant counts, nothing run
    .venv/bin/python -m tools.mutation page              # rewrite book/mutation.md from results/*.json
"""

from __future__ import annotations

import argparse
import sys
import time

from . import mutants as mm
from . import report
from .runner import run_paper, write_results
from .select import select


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.mutation")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("paper")
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--budget", type=float, default=60.0, help="minutes for the unit-test stage")
    r.add_argument("--notebooks", action="store_true", help="also run survivors' notebooks")
    r.add_argument("--notebook-budget", type=float, default=20.0)
    r.add_argument("--only", default=None, help="substring of the targets to run")
    ls = sub.add_parser("list")
    ls.add_argument("paper")
    sub.add_parser("page")
    tr = sub.add_parser("try", help="run chosen mutants against chosen tests (e.g. a proposed test)")
    tr.add_argument("paper")
    tr.add_argument("--mutant", action="append", required=True, help="substring of a mutant id (repeatable)")
    tr.add_argument("nodeids", nargs="+")
    a = ap.parse_args(argv)
    if a.cmd == "list":
        s = select(a.paper)
        for k in sorted(s.targets):
            t = s.targets[k]
            n = len(mm.generate(t.module, t.qualname, t.path.read_text()))
            print(f"{'*' if k in s.roots else ' '} {k} ({t.kind}): {n} mutants; notebooks: "
                  f"{', '.join(sorted(x.rsplit('/', 1)[1] for x in s.used_by.get(k, ())))}")
        return 0
    if a.cmd == "try":
        from .runner import try_mutants

        for mid, ans in try_mutants(a.paper, a.mutant, a.nodeids):
            print(f"{mid}: {'KILLED by ' + str(ans[1]) if ans[0] else 'survived'}")
        return 0
    if a.cmd == "page":
        print(report.write_page())
        return 0
    t0 = time.monotonic()
    s = run_paper(a.paper, jobs=a.jobs, budget_minutes=a.budget, notebooks=a.notebooks,
                  notebook_budget_minutes=a.notebook_budget, only=a.only,
                  log=lambda msg: print(msg, flush=True))
    if not a.only:
        print("results:", write_results(s))
    c = s["counts"]
    print(f"{a.paper}: {c.get('killed', 0)}/{c.get('run', 0)} killed (kill rate {s['kill_rate']}), "
          f"{c.get('not run', 0)} not run, {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
