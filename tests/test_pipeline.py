"""The `eoslib run/build` pipeline: parameter validation, atomic outputs, staleness."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from eoslib import catalog as cat
from eoslib import notebook as nbk

ROOT = Path(__file__).resolve().parent.parent

DEMO = textwrap.dedent('''\
    ---
    jupytext:
      text_representation: {extension: .md, format_name: myst, format_version: 0.13}
    kernelspec: {display_name: Python 3, language: python, name: python3}
    eos: {paper: demo, item: "Lemma 0", kind: lemma, title: "demo"}
    ---
    # Demo

    ```{code-cell} ipython3
    :tags: [parameters]
    eta = 0.5           # learning rate; range (0, inf)
    num_steps = 10      # steps; range [1, 100]
    mode = "book"       # scale; choices book|paper
    fail = False        # raise on purpose
    ```

    ```{code-cell} ipython3
    from eoslib import checks
    assert not fail, "failing on purpose"
    checks.check("eta*steps", eta * num_steps, eta * num_steps, rtol=1e-12)
    checks.verdict("Lemma 0")
    ```
    ''')

CATALOG = textwrap.dedent('''\
    papers: {demo: {title: Demo}}
    items:
      - {paper: demo, item: "Lemma 0", kind: lemma, title: demo, notebook: notebooks/demo/lemma_0.md, status: done}
    ''')


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A throwaway checkout: a copy of eoslib, pyproject, and one demo notebook."""
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


def test_parameter_specs_are_parsed_from_comments():
    specs = nbk.parameter_specs(
        'eta = 0.5  # learning rate; range (0, inf)\nn = 3  # count; range [1, 10]\ns = "a"  # x; choices a|b\n'
    )
    assert specs["eta"].low == 0 and specs["eta"].low_open and specs["eta"].high is None
    assert specs["n"].low == 1 and not specs["n"].low_open and specs["n"].high == 10
    assert specs["s"].choices == ("a", "b")


def test_default_violating_its_declaration_is_rejected():
    with pytest.raises(ValueError, match="default of 'eta'"):
        nbk.parameter_specs("eta = -1.0  # lr; range (0, inf)\n")


@pytest.mark.parametrize(
    "name,value,message",
    [
        ("etta", "0.1", "unknown parameter 'etta'"),
        ("eta", "abc", "parameter 'eta' must be a number"),
        ("eta", "-0.1", "parameter 'eta' must be float in (0, inf)"),
        ("num_steps", "0.5", "parameter 'num_steps' must be an int"),
        ("num_steps", "1000", "parameter 'num_steps' must be int in [1, 100]"),
        ("mode", "huge", "parameter 'mode' must be one of book|paper"),
    ],
)
def test_bad_parameters_fail_before_running_and_keep_output(project: Path, name: str, value: str, message: str):
    out = project / "book" / "demo" / "lemma_0.ipynb"
    out.parent.mkdir(parents=True)
    out.write_text("previous output")
    proc = run_cli(project, "run", "notebooks/demo/lemma_0.md", "-p", name, value)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
    if name == "etta":  # the error lists the allowed parameters
        assert "eta = 0.5" in proc.stderr and "num_steps" in proc.stderr
    assert out.read_text() == "previous output"


def test_failed_run_keeps_previous_output(project: Path):
    out = project / "book" / "demo" / "lemma_0.ipynb"
    out.parent.mkdir(parents=True)
    out.write_text("previous output")
    proc = run_cli(project, "run", "notebooks/demo/lemma_0.md", "-p", "fail", "True", "-o", str(out))
    assert proc.returncode != 0 and "failing on purpose" in proc.stderr
    assert out.read_text() == "previous output"
    assert not list(out.parent.glob(".*tmp*")), "temporary output left behind"


def test_build_executes_once_then_nothing_is_stale(project: Path):
    first = run_cli(project, "build", "--no-html", "--jobs", "1")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "1 notebooks, 1 stale" in first.stdout
    out = project / "book" / "demo" / "lemma_0.ipynb"
    meta = json.loads(out.read_text())["metadata"]["eos"]["run"]
    assert meta["source"] == "notebooks/demo/lemma_0.md"
    manifest = json.loads((project / "book" / "_manifest.json").read_text())
    assert manifest["notebooks/demo/lemma_0.md"]["status"] == "pass"
    assert manifest["notebooks/demo/lemma_0.md"]["checks"] == 1
    assert "| pass | 1 |" in (project / "book" / "ledger.md").read_text()
    second = run_cli(project, "build", "--no-html")
    assert second.returncode == 0 and "1 notebooks, 0 stale" in second.stdout


def test_changing_imported_eoslib_code_makes_a_notebook_stale(project: Path):
    proj = cat.Project(project)
    src = project / "notebooks" / "demo" / "lemma_0.md"
    key = cat.notebook_key(proj, src)
    # The demo imports eoslib.checks only: an unrelated module does not matter ...
    (project / "eoslib" / "plotting.py").write_text((project / "eoslib" / "plotting.py").read_text() + "\n# edit\n")
    assert cat.notebook_key(proj, src) == key
    # ... but the imported one does, and so does a pin.
    (project / "eoslib" / "checks.py").write_text((project / "eoslib" / "checks.py").read_text() + "\n# edit\n")
    key2 = cat.notebook_key(proj, src)
    assert key2 != key
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("numpy==", "numpy>="))
    assert cat.notebook_key(proj, src) != key2


def test_dependencies_follow_transitive_imports():
    deps = cat.eoslib_dependencies("from eoslib.papers import product_stability\n", ROOT / "eoslib")
    names = {p.relative_to(ROOT / "eoslib").as_posix() for p in deps}
    assert "papers/product_stability.py" in names
    assert "losses.py" in names  # imported by the paper module
    assert "papers/two_step.py" not in names
