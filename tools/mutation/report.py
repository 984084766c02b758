"""Write ``book/mutation.md`` from ``tools/mutation/results/<paper>.json``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from .select import ROOT

RESULTS = Path(__file__).parent / "results"
PAGE = ROOT / "book" / "mutation.md"
PAPERS = ("product_stability", "gfs_sharpness", "self_stabilization", "two_step")

METHOD = """\
# Mutation coverage of the prediction functions

A check that cannot fail tests nothing. The falsifiability tests perturb one prediction per
notebook page; this page asks the finer question, per function: if a closed form in
`eoslib/papers/` were wrong, would any unit test or notebook notice?

## Method

**Which functions.** A *prediction function* is one whose value a `claim` or `reconstructed`
check depends on. They are found statically: for every such `checks.check*(...)` call of a
paper's notebooks we take the backward slice of the call (the names it reads, the loops and
tests around it, and every statement assigning those names, transitively) and keep the names
it reaches in `eoslib.papers.<paper>` (functions, classes, module constants). Their helpers in
the same package are added, transitively. Plotting modules are never targets.

**Which mutants.** Each mutant changes one node of one target's source (generated from its
syntax tree, in a fixed order, one mutant per run):

| operator | change |
|---|---|
| `arith` | `+` ↔ `-`, `*` ↔ `/`, `**` → `*`, `//` → `/` (also in `x op= y`) |
| `const` | a float `c` → `1.05 c` (`0.0` → `1.0`), an integer `n` → `n + 1` |
| `cmp` | a comparison negated (`<` → `>=`, `==` → `!=`, ...) |
| `bool` | `and` ↔ `or` |
| `sign` | `-x` → `x`, `not x` → `x` |
| `ret` | every float in the returned value (arrays, tuples, named tuples, dicts) times 1.05 |

Docstrings, strings, annotations, decorators, default argument values, `dtype=` arguments and
input guards (`if ...: raise ValueError(...)`, `raise`, `assert`) are not mutated: they are not
the closed form.

**Kill.** The mutated module is served to a fresh import from a temporary source file (an import
hook placed first on the module search path); the checkout is never modified. A mutant is
*killed* when a run fails or exceeds its timeout:

1. the unit tests that execute a line of the mutated node (per-test line coverage, recorded once);
2. then the unit tests that execute any line of the function;
3. then, optionally, the notebooks whose prediction checks use the function.

A `ret` mutant whose returned value holds no float (the helper records whether it scaled
anything) is an *equivalent* mutant: it is listed, but it cannot be killed.
The harness is `tools/mutation/`; results are cached per mutant on the hashes of the function's
source and of the paper's test files, so a rerun only redoes what changed:

```bash
.venv/bin/python -m tools.mutation run two_step --budget 60   # unit-test stages
.venv/bin/python -m tools.mutation run two_step --notebooks   # + survivors' notebooks
.venv/bin/python -m tools.mutation page                      # rewrite this page
```

When a run is cut by its time budget, the mutants that were run are a deterministic,
hash-ordered sample of all of them; the page says how many ran.
"""


def _load() -> dict[str, dict]:
    out = {}
    for p in PAPERS:
        f = RESULTS / f"{p}.json"
        if f.exists():
            out[p] = json.loads(f.read_text())
    return out


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "–"


def render() -> str:
    res = _load()
    lines = [METHOD, "## Kill rate", "",
             "| paper | functions | mutants | run | killed | survived | kill rate | "
             "kill rate, formula mutants only |",
             "|---|---|---|---|---|---|---|---|"]
    tot = Counter()
    for p, r in res.items():
        c = r["counts"]
        eq = sum(1 for s in r["survivors"] if s["reason"].startswith("equivalent"))
        run, killed = c.get("run", 0), c.get("killed", 0)
        frun, fkilled = c.get("run (formula)", 0) - eq, c.get("killed (formula)", 0)
        tot.update({"functions": len(r["targets"]), "mutants": c.get("mutants", 0), "run": run, "killed": killed,
                    "survived": c.get("survived", 0), "frun": frun, "fkilled": fkilled})
        lines.append(f"| {p} | {len(r['targets'])} | {c.get('mutants', 0)} | {run} | {killed} | "
                     f"{c.get('survived', 0)} | {_pct(killed, run)} | {_pct(fkilled, frun)} |")
    if len(res) > 1:
        lines.append(f"| **all** | {tot['functions']} | {tot['mutants']} | {tot['run']} | {tot['killed']} | "
                     f"{tot['survived']} | {_pct(tot['killed'], tot['run'])} | {_pct(tot['fkilled'], tot['frun'])} |")
    missing = [p for p in PAPERS if p not in res]
    if missing:
        lines += ["", "Not run yet: " + ", ".join(missing) + "."]
    lines += ["", "The goal is a kill rate of at least 90%. *Formula mutants* leave out the mutants of display "
              "text, input-validation bounds and numerical settings (tolerances, caps, sample sizes), and the "
              "equivalent `ret` mutants; the plain kill rate counts every mutant that was run."]
    if not any(r["counts"].get("notebook stage tried") for r in res.values()):
        lines += ["", "The notebook stage (3) was not part of these runs: every kill below is by a unit test, "
                  "and a survivor may still be caught by a notebook."]
    for p, r in res.items():
        lines += ["", f"## {p}", "", "### Prediction functions", "",
                  "Marked ◆: used directly by a prediction check; the others are their helpers.", "",
                  "| function | mutants | run | killed |", "|---|---|---|---|"]
        roots = set(r["roots"])
        for k, v in r["targets"].items():
            lines.append(f"| {'◆ ' if k in roots else ''}`{k}` | {v['mutants']} | {v['run']} | {v['killed']} |")
        lines += ["", f"### Survivors ({len(r['survivors'])})", ""]
        if not r["survivors"]:
            lines.append("None.")
            continue
        why = Counter(s["reason"] for s in r["survivors"])
        lines += [f"- {n}: {w}" for w, n in why.most_common()] + [""]
        lines += ["| function | line | mutation | original → mutant | why it survives |", "|---|---|---|---|---|"]
        for s in sorted(r["survivors"], key=lambda s: (s["function"], s["line"], s["op"])):
            before = s["before"].replace("|", "\\|")
            after = s["after"].replace("|", "\\|")
            op = s["op"].replace("|", "\\|")
            lines.append(f"| `{s['function']}` | {s['line']} | {op} | "
                         f"`{before}` → `{after}` | {s['reason']} |")
    return "\n".join(lines) + "\n"


def write_page() -> Path:
    PAGE.write_text(render())
    return PAGE
