"""Fast tests of the mutation harness (tools/mutation) on tiny sources the tests write; no jax."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.mutation import mutants as mm  # noqa: E402
from tools.mutation import runner, select  # noqa: E402

SOURCE = '''"""A tiny paper module."""

K_EDGE = 2.0 ** 0.5 - 1


def helper(x):
    return -x


def closed_form(eta: float, mu: float = 1.0) -> float:
    """The closed form (docstring: not mutated)."""
    if eta <= 0:
        raise ValueError(f"eta must be in (0, inf), got {eta}")
    a = mu + 3 / eta
    if a > 1 and mu >= 0:
        a -= 1
    return 0.5 * a + helper(mu)


def label(x) -> str:
    return "x" if not x else "y"
'''


def _ops(ms):
    return sorted(m.op for m in ms)


def test_mutants_are_deterministic_and_skip_guards_docstrings_and_defaults():
    ms = mm.generate("pkg.mod", "closed_form", SOURCE)
    assert [m.id for m in ms] == [m.id for m in mm.generate("pkg.mod", "closed_form", SOURCE)]
    assert len({m.id for m in ms}) == len(ms)
    lines = {m.line for m in ms}
    assert 12 not in lines and 13 not in lines  # the guard and its raise
    assert 10 not in lines  # the default mu = 1.0
    assert _ops(ms) == sorted([
        "arith +->-", "const 3->4", "arith /->*",  # a = mu + 3 / eta
        "cmp >-><=", "const 1->2", "cmp >=-><", "const 0->1", "bool ->or",  # the if
        "arith -=->+=", "const 1->2",  # a -= 1
        "ret", "arith +->-", "arith *->/", "const 0.5->0.525",  # the return
    ])


def test_every_mutant_compiles_and_changes_the_code():
    base = ast.dump(ast.parse(SOURCE))
    for name in ("closed_form", "helper", "label", "K_EDGE"):
        for m in mm.generate("pkg.mod", name, SOURCE):
            new = m.apply(SOURCE)
            assert ast.dump(ast.parse(new)) != base, m.id


def test_a_constant_target_mutates_its_value_only():
    ms = mm.generate("pkg.mod", "K_EDGE", SOURCE)
    assert _ops(ms) == sorted(["arith -->+", "arith **->*", "const 2.0->2.1", "const 0.5->0.525", "const 1->2"])


def _exec(src: str) -> dict:
    ns: dict = {}
    exec(compile(src, "<m>", "exec"), ns)
    return ns


def test_mutants_change_the_value_as_described():
    ref = _exec(SOURCE)["closed_form"](1.0, 2.0)  # a = 5 -> 4; 0.5 * 4 - 2 = 0
    got = {m.op + f"@{m.start}": _exec(m.apply(SOURCE))["closed_form"](1.0, 2.0)
           for m in mm.generate("pkg.mod", "closed_form", SOURCE)}
    assert ref == 0.0
    ret = next(v for k, v in got.items() if k.startswith("ret@"))
    assert ret == pytest.approx(0.0)  # 1.05 * 0.0: a scaled zero; the probe still says "scaled"
    assert got[next(k for k in got if k.startswith("const 3->4"))] == pytest.approx(0.5)


def test_return_scaling_scales_floats_and_records_it(tmp_path, monkeypatch):
    src = "import collections\nP = collections.namedtuple('P', 'a n')\n" \
          "def f():\n    return P(2.0, 3)\n\ndef g():\n    return str(1)\n"
    probe = tmp_path / "probe"
    monkeypatch.setenv("EOSLIB_MUTANT_PROBE", str(probe))
    (mf,) = [m for m in mm.generate("m", "f", src) if m.op == "ret"]
    out = _exec(mf.apply(src))["f"]()
    assert out.a == pytest.approx(2.1) and out.n == 3 and type(out).__name__ == "P"
    assert probe.read_text().split() == ["scaled"]
    (mg,) = [m for m in mm.generate("m", "g", src) if m.op == "ret"]
    assert _exec(mg.apply(src))["g"]() == "1"
    assert probe.read_text().split() == ["scaled", "noop"]


def test_splice_respects_utf8_columns():
    src = 'def f(x):\n    s = "α"; return x * 2.0\n'
    (m,) = [m for m in mm.generate("m", "f", src) if m.op.startswith("const")]
    assert _exec(m.apply(src))["f"](1.0) == pytest.approx(2.1)


def test_overlay_serves_the_mutant_without_touching_the_file(tmp_path):
    pkg = tmp_path / "tinypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text(SOURCE)
    (m,) = [m for m in mm.generate("tinypkg.mod", "closed_form", SOURCE) if m.op == "const 3->4"]
    mutated = tmp_path / "mutant.py"
    mutated.write_text(m.apply(SOURCE))
    overlay = ROOT / "tools" / "mutation" / "overlay"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(overlay), str(tmp_path)]),
               EOSLIB_MUTANT_MODULE="tinypkg.mod", EOSLIB_MUTANT_SOURCE=str(mutated),
               EOSLIB_MUTANT_ROOT=str(tmp_path))
    code = "import tinypkg.mod as m; print(m.closed_form(1.0, 2.0), m.__file__)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    value, path = out.split()
    assert float(value) == pytest.approx(0.5) and Path(path) == pkg / "mod.py"
    assert (pkg / "mod.py").read_text() == SOURCE
    env.pop("EOSLIB_MUTANT_MODULE")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert float(out.split()[0]) == 0.0


NOTEBOOK = '''---
eos: {paper: demo}
---

```{code-cell} ipython3
:tags: [parameters]

K = 1.1  # step; range (1, 2)
```

```{code-cell} ipython3
from eoslib import checks
from eoslib.papers.demo import quartic as qu
%matplotlib inline
```

```{code-cell} ipython3
:tags: [nbval-check-output]

d1, d2 = qu.orbit(K)
m = qu.multiplier(K)
w = qu.unused(K)
for mu in qu.targets():
    checks.check("orbit", d1, qu.expected(mu), atol=1e-12, kind="claim")
checks.check("multiplier", m, 0.5, atol=1e-12, kind="finding")
checks.check_true("kind not a literal", w > 0, kind=KIND)
```
'''


def test_notebook_slice_finds_what_prediction_checks_read():
    stmts = select._parse_cells(NOTEBOOK)
    nodes = select.notebook_slice(stmts)
    used = {n.attr for node in nodes for n in ast.walk(node)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "qu"}
    # claim: orbit (via d1), expected, targets (the loop); non-literal kind: unused (kept, to be safe);
    # the finding's multiplier is not a prediction
    assert used == {"orbit", "expected", "targets", "unused"}


def test_killed_reads_pytest_exit_codes():
    assert runner._killed(None) == (True, "timeout")
    assert runner._killed({"rc": 0}) == (False, "")
    assert runner._killed({"rc": 5}) == (False, "")  # nothing collected is not a kill
    assert runner._killed({"rc": 1, "failed": "t::x"}) == (True, "t::x")


def test_two_step_selection_includes_its_closed_forms():
    sel = select.select("two_step")
    assert "eoslib.papers.two_step.quartic:orbit_deltas" in sel.roots
    assert all(not t.module.rsplit(".", 1)[1].startswith("plots") for t in sel.targets.values())


def test_survivor_contexts_are_recognised():
    src = ('def f(x, tol=1e-9):\n    x = _real("x", x, 0.0, 2.0)\n    y = brentq(g, 0, 1, xtol=1e-15)\n'
           '    s = "a" if x != 1 else "b"\n    return x * 2.0 + 1e8\n\n'
           'def label(a):\n    return f"{a + 1}"\n')
    ctx = {(m.line, m.op): m.context for m in mm.generate("m", "f", src)}
    assert ctx[(2, "const 2.0->2.1")] == "validation"
    assert ctx[(3, "const 1e-15->1.0500000000000001e-15")] == "setting"
    assert ctx[(4, "cmp !=->==")] == "display"
    assert ctx[(5, "const 2.0->2.1")] == ""
    assert ctx[(5, "const 100000000.0->105000000.0")] == "setting"
