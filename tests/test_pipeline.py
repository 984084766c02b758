"""The `eoslib run/build` pipeline: parameter validation, atomic outputs, staleness, provenance."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from eoslib.book import catalog as cat
from eoslib.book import ledger, manifest, parameters, provenance, runner

ROOT = Path(__file__).resolve().parent.parent

DEMO = textwrap.dedent('''\
    ---
    jupytext:
      text_representation: {extension: .md, format_name: myst, format_version: 0.13}
    kernelspec: {display_name: Python 3, language: python, name: python3}
    eos: {paper: demo, item: ["Lemma 0", "Lemma 00"], kind: lemma, title: "demo"}
    ---
    # Demo

    ```{code-cell} ipython3
    :tags: [parameters]
    eta = 0.5           # learning rate (K = eta * mu); range (0, inf)
    num_steps = 10      # steps; range [1, 100]
    mode = "book"       # scale; choices book|paper
    fail = False        # raise on purpose
    ```

    ```{code-cell} ipython3
    import jax.numpy as jnp
    import matplotlib.pyplot as plt
    from eoslib import checks, plotting, session
    assert not fail, "failing on purpose"
    assert jnp.ones(1).dtype == jnp.float64, "the injected cell enables float64"
    checks.check("eta*steps", eta * num_steps, eta * num_steps, kind="claim", rtol=1e-12)
    checks.check_true("steps positive", num_steps > 0, kind="regression")
    print("SESSION", session.current().rerun, session.current().key[:12])
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, eta])
    plotting.save_figure(fig, show=False)
    print("FOOTER", fig.texts[-1].get_text().replace("\\n", " || "))
    checks.verdict("Lemma 0")
    checks.verdict("Lemma 00", "reproduced as reconstructed")
    ```
    ''')

CATALOG = textwrap.dedent('''\
    papers: {demo: {title: Demo}}
    items:
      - {paper: demo, item: "Lemma 0", kind: lemma, title: demo, notebook: notebooks/demo/lemma_0.md, status: done}
      - {paper: demo, item: "Lemma 00", kind: lemma, title: demo, notebook: notebooks/demo/lemma_0.md, status: done}
    ''')


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A throwaway checkout: a copy of eoslib, pyproject, and one demo notebook serving two items."""
    shutil.copytree(ROOT / "eoslib", tmp_path / "eoslib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "notebooks" / "demo").mkdir(parents=True)
    (tmp_path / "notebooks" / "demo" / "lemma_0.md").write_text(DEMO)
    (tmp_path / "notebooks" / "catalog.yml").write_text(CATALOG)
    (tmp_path / "book").mkdir()
    return tmp_path


def run_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(project))
    return subprocess.run([sys.executable, "-m", "eoslib", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)


def _outputs(path: Path) -> str:
    nb = json.loads(path.read_text())
    return "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))


# --- parameters -----------------------------------------------------------------------------------

def test_parameter_specs_are_parsed_from_comments():
    specs = parameters.parameter_specs(
        'eta = 0.5  # learning rate; range (0, inf)\nn = 3  # count; range [1, 10]\ns = "a"  # x; choices a|b\n'
    )
    assert specs["eta"].low == 0 and specs["eta"].low_open and specs["eta"].high is None
    assert specs["n"].low == 1 and not specs["n"].low_open and specs["n"].high == 10
    assert specs["s"].choices == ("a", "b")
    assert specs["n"].allowed() == "an int in [1, 10]"
    assert specs["eta"].allowed() == "a number in (0, inf)"


def test_default_violating_its_declaration_is_rejected():
    with pytest.raises(ValueError, match="default of 'eta'"):
        parameters.parameter_specs("eta = -1.0  # lr; range (0, inf)\n")


def test_non_default_and_rerun_command():
    specs = parameters.parameter_specs('eta = 0.5  # lr; range (0, inf)\nmode = "book"  # m; choices book|paper\n')
    assert parameters.non_default(specs, {"eta": 0.5, "mode": "book"}) == {}
    assert parameters.non_default(specs, {"eta": 0.25}) == {"eta": 0.25}
    assert parameters.rerun_command("notebooks/x/y.md", {"eta": 0.25, "mode": "paper"}) == \
        "eoslib run notebooks/x/y.md -p eta 0.25 -p mode paper"
    assert parameters.rerun_command("notebooks/x/y.md", {"grid": [1, 2]}) == \
        "eoslib run notebooks/x/y.md -p grid '[1, 2]'"


@pytest.mark.parametrize(
    "name,value,message",
    [
        ("etta", "0.1", "unknown parameter 'etta'"),
        ("eta", "abc", "parameter 'eta' must be a number in (0, inf), got 'abc'"),
        ("eta", "-0.1", "parameter 'eta' must be a number in (0, inf), got -0.1"),
        ("num_steps", "0.5", "parameter 'num_steps' must be an int in [1, 100], got 0.5"),
        ("num_steps", "1000", "parameter 'num_steps' must be an int in [1, 100], got 1000"),
        ("mode", "huge", "parameter 'mode' must be one of book|paper, got 'huge'"),
    ],
)
def test_bad_parameters_fail_before_running_and_keep_output(project: Path, name: str, value: str, message: str):
    out = project / "_runs" / "demo" / "lemma_0.ipynb"
    out.parent.mkdir(parents=True)
    out.write_text("previous output")
    proc = run_cli(project, "run", "notebooks/demo/lemma_0.md", "-p", name, value, "-o", str(out))
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
    if name == "etta":  # the error lists the allowed parameters
        assert "eta = 0.5" in proc.stderr and "num_steps" in proc.stderr
    assert out.read_text() == "previous output"


def test_validation_runs_inside_the_kernel_too():
    """Plain papermill on an executed page reaches the injected session cell, which validates."""
    from eoslib import session

    declared = "width = 12.0  # inches; range [6, 20]\n"
    with pytest.raises(parameters.ParameterError, match=r"'width' must be a number in \[6, 20\], got 'abc'"):
        session.begin("notebooks/x/figure_1.md", declared, {"width": "abc"})
    with pytest.raises(parameters.ParameterError, match="got 1000"):
        session.begin("notebooks/x/figure_1.md", declared, {"width": 1000})
    s = session.begin("notebooks/x/figure_1.md", declared, {"width": 10}, key="k" * 64, commit="abc1234",
                      keyed_overrides={})
    # The runner keyed the default run; this one has width=10, so key and commit do not describe it.
    assert s.overrides == {"width": 10.0} and s.key == "" and s.commit == ""
    assert s.rerun == "eoslib run notebooks/x/figure_1.md -p width 10.0"


# --- run ------------------------------------------------------------------------------------------

def test_failed_run_keeps_previous_output(project: Path):
    out = project / "scratch" / "lemma_0.ipynb"
    out.parent.mkdir(parents=True)
    out.write_text("previous output")
    proc = run_cli(project, "run", "notebooks/demo/lemma_0.md", "-p", "fail", "True", "-o", str(out))
    assert proc.returncode != 0 and "failing on purpose" in proc.stderr
    assert "AssertionError" in proc.stderr
    assert out.read_text() == "previous output"
    assert not list(out.parent.glob(".*tmp*")), "temporary output left behind"


def test_run_refuses_to_write_into_book_without_into_book(project: Path):
    page = project / "book" / "demo" / "lemma_0.ipynb"
    proc = run_cli(project, "run", "notebooks/demo/lemma_0.md", "-p", "eta", "0.25", "-o", str(page))
    assert proc.returncode != 0 and "--into-book" in proc.stderr
    assert not page.exists()
    # Without -o a run goes to _runs/, never to book/.
    proc = run_cli(project, "run", "notebooks/demo/lemma_0.md", "-p", "eta", "0.25")
    assert proc.returncode == 0, proc.stderr
    assert (project / "_runs" / "demo" / "lemma_0-eta=0.25.ipynb").is_file()
    assert not page.exists() and not (project / "book" / "_manifest.json").exists()
    assert "Unable to parse line" not in proc.stderr  # papermill's guess at `K = eta * mu`
    assert "without encryption" not in proc.stderr   # kernels talk over IPC


@pytest.mark.slow
def test_build_then_nothing_is_stale_and_non_default_pages_are_stale(project: Path):
    first = run_cli(project, "build", "--no-html", "--jobs", "1")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "notebooks: 1, 1 to execute" in first.stdout
    out = project / "book" / "demo" / "lemma_0.ipynb"
    run = json.loads(out.read_text())["metadata"]["eos"]["run"]
    assert run["source"] == "notebooks/demo/lemma_0.md" and run["defaults"] is True
    rec = json.loads((project / "book" / "_manifest.json").read_text())["notebooks/demo/lemma_0.md"]
    assert rec["status"] == "pass" and rec["checks"] == 2 and rec["defaults"] is True
    assert rec["kinds"] == {"claim": 1, "reconstructed": 0, "regression": 1, "finding": 0}
    assert rec["verdicts"] == {"Lemma 0": {"outcome": "reproduced", "reason": ""},
                               "Lemma 00": {"outcome": "reproduced as reconstructed", "reason": ""}}
    # Provenance: the key the runner computed is in the metadata, the session and the footer.
    assert run["key"] == rec["key"] == provenance.notebook_key(cat.Project(project), project / "notebooks/demo/lemma_0.md")
    text = _outputs(out)
    assert f"SESSION eoslib run notebooks/demo/lemma_0.md {rec['key'][:12]}" in text
    footer = next(ln for ln in text.splitlines() if ln.startswith("FOOTER"))
    assert "eoslib run notebooks/demo/lemma_0.md ||" in footer and f"key {rec['key'][:12]}" in footer
    assert "commit" not in footer  # the throwaway checkout is not a clean git tree
    ledger_md = (project / "book" / "ledger.md").read_text()
    assert "| Lemma 0 | lemma |" in ledger_md and "| Lemma 00 | lemma |" in ledger_md
    assert "reproduced as reconstructed" in ledger_md and "(shared by 2 items)" in ledger_md
    second = run_cli(project, "build", "--no-html")
    assert second.returncode == 0 and "notebooks: 1, 0 to execute" in second.stdout
    # A book page made with other parameters is recorded as such, and the next build re-runs it.
    other = run_cli(project, "run", "notebooks/demo/lemma_0.md", "-p", "eta", "0.25", "--into-book")
    assert other.returncode == 0, other.stderr
    assert "non-default parameters" in other.stderr
    rec = json.loads((project / "book" / "_manifest.json").read_text())["notebooks/demo/lemma_0.md"]
    assert rec["defaults"] is False and rec["parameters"] == {"eta": 0.25}
    strict = run_cli(project, "build", "--no-execute", "--no-html", "--strict")
    assert strict.returncode != 0 and "made with non-default parameters" in strict.stderr
    third = run_cli(project, "build", "--no-html")
    assert "notebooks: 1, 1 to execute" in third.stdout, third.stdout


# --- staleness ------------------------------------------------------------------------------------

def test_changing_imported_eoslib_code_makes_a_notebook_stale(project: Path):
    proj = cat.Project(project)
    src = project / "notebooks" / "demo" / "lemma_0.md"
    key = provenance.notebook_key(proj, src)
    # The demo imports checks, plotting and session: an unrelated module does not matter ...
    (project / "eoslib" / "orbits.py").write_text((project / "eoslib" / "orbits.py").read_text() + "\n# edit\n")
    assert provenance.notebook_key(proj, src) == key
    # ... nor does the pipeline (it cannot change what a kernel computes) ...
    (project / "eoslib" / "book" / "cli.py").write_text((project / "eoslib" / "book" / "cli.py").read_text() + "\n#\n")
    assert provenance.notebook_key(proj, src) == key
    # ... nor a comment or a docstring in an imported one (they cannot change the output) ...
    checks_py = project / "eoslib" / "checks.py"
    original = checks_py.read_text()
    assert original.startswith('"""')
    checks_py.write_text('"""Edited module docstring."""\n' + original.split('"""', 2)[2] + "\n# edit\n")
    assert provenance.notebook_key(proj, src) == key
    # ... but its code does, and so do the parameters and a pin.
    checks_py.write_text(original + "\n_EDIT = 1\n")
    key2 = provenance.notebook_key(proj, src)
    assert key2 != key
    assert provenance.notebook_key(proj, src, {"eta": 0.25}) != key2
    pyproject = project / "pyproject.toml"
    # A test or sweep pin cannot change an executed notebook; a core or book pin can.
    pyproject.write_text(pyproject.read_text().replace('"pytest==', '"pytest>='))
    assert provenance.notebook_key(proj, src) == key2
    pyproject.write_text(pyproject.read_text().replace("numpy==", "numpy>="))
    assert provenance.notebook_key(proj, src) != key2


def test_code_fingerprint_ignores_docstrings_comments_and_blank_lines_only():
    base = 'def f(x):\n    """Doc."""\n    return x + 1  # why\n'
    same = 'def f(x):\n    """Another\n    doc.\n    """\n\n    # a comment\n    return x + 1\n'
    assert provenance.code_fingerprint(base) == provenance.code_fingerprint(same)
    # A string that is not a docstring, a "#" inside a string, and the code itself all count.
    assert provenance.code_fingerprint(base) != provenance.code_fingerprint(base.replace("x + 1", "x + 2"))
    s1 = 'def f():\n    x = 1\n    "not a docstring"\n'
    assert provenance.code_fingerprint(s1) != provenance.code_fingerprint(s1.replace("not a", "no"))
    s2 = 'URL = "a#b"\n'
    assert provenance.code_fingerprint(s2) != provenance.code_fingerprint('URL = "a#c"\n')
    # A one-line `def f(): "doc"; return 1` keeps its line: the code on it counts.
    s3 = 'def f(): "doc"; return 1\n'
    assert provenance.code_fingerprint(s3) != provenance.code_fingerprint(s3.replace("1", "2"))
    assert provenance.code_fingerprint("def (:\n") == b"def (:\n"


def test_dependencies_follow_transitive_imports_and_parent_packages():
    deps = provenance.eoslib_dependencies("from eoslib.papers.two_step import quartic\n", ROOT / "eoslib")
    names = {p.relative_to(ROOT / "eoslib").as_posix() for p in deps}
    assert "papers/two_step/quartic.py" in names
    assert "papers/two_step/__init__.py" in names  # Python runs the package first
    assert not any(n.startswith("papers/product_stability") for n in names)
    session = {p.relative_to(ROOT / "eoslib").as_posix()
               for p in provenance.eoslib_dependencies(provenance.INJECTED_IMPORTS, ROOT / "eoslib")}
    assert {"session.py", "book/parameters.py", "plotting.py"} <= session
    assert "book/cli.py" not in session


def test_stale_reasons(tmp_path: Path):
    proj = cat.Project(tmp_path)
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "x.ipynb").write_text("{}")
    ok = {"status": "pass", "defaults": True, "key": "k", "output": "book/x.ipynb"}
    assert manifest.stale_reason(proj, "n.md", ok, "k") == ""
    assert manifest.stale_reason(proj, "n.md", None, "k") == "never executed"
    assert "failed" in manifest.stale_reason(proj, "n.md", {**ok, "status": "fail"}, "k")
    assert "non-default" in manifest.stale_reason(proj, "n.md", {**ok, "defaults": False}, "k")
    assert "older runner" in manifest.stale_reason(proj, "n.md", {k: v for k, v in ok.items() if k != "defaults"}, "k")
    assert "changed" in manifest.stale_reason(proj, "n.md", ok, "other")


def test_output_summary_counts_kinds_and_verdicts():
    text = ("PASS claim a: measured=1 expected=1 tol=rtol=0.01\n"
            "PASS regression b: measured=2 expected=2 tol=atol=0.1\n"
            "PASS finding c: True\n"
            "VERDICT Lemma 9: refuted; all 3 checks passed (1 claim, 1 regression, 1 finding) "
            "(the bound fails at K=1.3 (see the counterexample))\n"
            "VERDICT Lemma 10: reproduced; all 3 checks passed (1 claim, 1 regression, 1 finding)\n")
    s = manifest.summarize_text(text)
    assert s.passed == 3 and s.failed == 0
    assert s.kinds == {"claim": 1, "reconstructed": 0, "regression": 1, "finding": 1}
    assert s.verdicts["Lemma 9"] == {"outcome": "refuted",
                                     "reason": "the bound fails at K=1.3 (see the counterexample)"}
    assert s.verdicts["Lemma 10"]["outcome"] == "reproduced"


def test_session_cells_are_injected_after_the_parameters(project: Path):
    src = runner.read_source(project / "notebooks" / "demo" / "lemma_0.md")
    nb = runner.with_session_cells(src, notebook="notebooks/demo/lemma_0.md", key="abc", commit="")
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert runner.SETUP_TAG in tags[0] and "jax_enable_x64" in nb.cells[0].source
    i = next(i for i, t in enumerate(tags) if "parameters" in t)
    assert runner.SESSION_TAG in tags[i + 1] and "key='abc'" in nb.cells[i + 1].source


# --- the command itself ---------------------------------------------------------------------------

def test_help_is_fast_and_imports_no_jax():
    code = ("import sys, time; t = time.perf_counter(); from eoslib.book.cli import make_parser; "
            "make_parser(); print(time.perf_counter() - t, 'jax' in sys.modules, 'yaml' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1:] == ["False", "False"], out
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "eoslib", "--help"], capture_output=True, check=True)
    assert time.perf_counter() - start < 2.0  # < 0.5 s on an idle machine; generous under load


def test_pipeline_imports_no_science():
    code = ("import sys; import eoslib.book.cli, eoslib.book.ledger, eoslib.book.runner, eoslib.book.manifest; "
            "print(sorted(m for m in sys.modules if m.startswith(('jax', 'matplotlib', 'numpy'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_item_links_resolve_to_the_defining_module(tmp_path: Path):
    pkg = tmp_path / "eoslib"
    (pkg / "papers" / "demo").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "gd.py").write_text("__all__ = ['iterate']\ndef iterate():\n    pass\ndef _private():\n    pass\n")
    (pkg / "papers" / "__init__.py").write_text("")
    (pkg / "papers" / "demo" / "__init__.py").write_text("from .forms import *\nfrom .forms import helper as h\n")
    (pkg / "papers" / "demo" / "forms.py").write_text(
        "from eoslib.gd import iterate\n__all__ = ['orbit', 'iterate']\nTABLE = {}\n"
        "def orbit():\n    pass\ndef helper():\n    pass\n")
    code = ("from eoslib.papers import demo as dm\nfrom eoslib import gd, checks\nfrom eoslib.gd import iterate\n"
            "gd.iterate(f)\ndm.orbit(1)\nchecks.check('a', 1, 1, rtol=0)\ndm.TABLE.items()\niterate(g)\ndm.h()\n")
    calls = ledger.eoslib_calls(code, pkg)
    assert calls == ["eoslib.papers.demo.orbit", "eoslib.papers.demo.h", "eoslib.gd.iterate"]
    assert ledger.resolve_target(pkg, "eoslib.papers.demo.orbit") == "eoslib.papers.demo.forms.orbit"
    assert ledger.resolve_target(pkg, "eoslib.papers.demo.forms.iterate") == "eoslib.gd.iterate"
    assert ledger.resolve_target(pkg, "eoslib.papers.demo.h") is None  # not in forms.__all__: no API entry
    proj = cat.Project(tmp_path)
    groups = ledger.api_modules(proj)
    assert [m.name for m in groups["core"]] == ["eoslib.gd"]
    assert [(m.name, m.members) for m in groups["demo"]] == [("eoslib.papers.demo", ()),
                                                            ("eoslib.papers.demo.forms", ("orbit",))]


def test_second_openblas_kernel_set_is_one_the_cpu_runs():
    from eoslib.book import blas

    assert blas.second_kernel("SkylakeX", "x86_64") == "Haswell"
    assert blas.second_kernel("Zen", "x86_64") == "Sandybridge"  # Zen runs the Haswell kernels
    assert blas.second_kernel("Haswell", "x86_64") == "Sandybridge"
    assert blas.second_kernel("NeoverseN1", "aarch64") == "ARMV8"
    assert blas.second_kernel("", "x86_64") == ""
    default = blas.default_kernel()
    assert default and blas.second_kernel(default) not in ("", default)
