"""Every result notebook can fail: perturb one predicted value or formula and the run goes red.

Each case edits a copy of a notebook source (one exact substring, which must still exist, so a
case cannot go stale silently), runs it with `eoslib run`, and requires a non-zero exit whose
message names a failed check. The committed notebooks themselves pass (tests/test_catalog.py,
nbval), so together these show the checks discriminate.

The harness is :func:`run_mutation`; each paper keeps its cases in
``tests/test_falsifiable_<paper>.py``::

    import pytest
    from test_falsifiable import run_mutation

    @pytest.mark.slow
    @pytest.mark.parametrize("notebook,old,new,why", CASES, ids=[c[0].split("/", 1)[1] for c in CASES])
    def test_perturbed_notebook_fails(tmp_path, notebook, old, new, why):
        run_mutation(notebook, old, new, why=why, tmp_path=tmp_path)

The cases below are the ones whose paper has no such file yet; a paper's own file takes them over.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["run_mutation", "assert_every_notebook_has_a_case", "ROOT"]


def run_mutation(notebook: str, old: str, new: str, *, why: str = "", tmp_path: Path | None = None,
                 timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """Run a copy of ``notebook`` with ``old`` replaced by ``new``; assert that a check fails.

    Args:
      notebook: the source, relative to the checkout (``"notebooks/two_step/theorem_2.md"``).
      old: an exact substring of the source that occurs exactly once.
      new: its replacement (e.g. the prediction scaled by 1.05).
      why: what the mutation breaks, for the failure message.
      tmp_path: where the mutated copy and its output go (default: a fresh temporary folder).
      timeout: seconds before the run is abandoned.

    Returns:
      The finished ``eoslib run`` process (its ``stderr`` names the failed check).

    Raises:
      AssertionError: if ``old`` does not occur exactly once, the mutated notebook runs clean,
        it fails for another reason than a check, or it leaves an output behind.
    """
    source = (ROOT / notebook).read_text()
    assert source.count(old) == 1, f"{notebook}: mutation target {old!r} must occur exactly once"
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(tmp_path) if tmp_path is not None else Path(scratch)
        mutated = folder / Path(notebook).name
        mutated.write_text(source.replace(old, new))
        out = folder / "out.ipynb"
        proc = subprocess.run(
            [sys.executable, "-m", "eoslib", "run", str(mutated), "-o", str(out), "--no-progress"],
            cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=dict(os.environ),
        )
        assert proc.returncode != 0, f"{notebook}: perturbation not detected ({why})"
        assert "FAIL " in proc.stderr or "CheckFailed" in proc.stderr, \
            f"{notebook}: failed, but not by a check ({why}):\n{proc.stderr[-2000:]}"
        assert not out.exists()
    return proc


def assert_every_notebook_has_a_case(folder: str, mutations: list[tuple[str, str, str, str]]) -> None:
    """Every notebook in ``folder`` has a case, and every case's target occurs exactly once.

    A paper's fast test: a new notebook cannot be added without its falsifiability case, and a
    case cannot go stale silently when its notebook is edited.
    """
    notebooks = sorted(p.name for p in (ROOT / folder).glob("*.md"))
    assert sorted({Path(m[0]).name for m in mutations}) == notebooks
    for notebook, old, _, _ in mutations:
        assert (ROOT / notebook).read_text().count(old) == 1, (notebook, old)


# (notebook, exact substring, replacement, why it must fail)
MUTATIONS: list[tuple[str, str, str, str]] = [
    # product_stability: its cases are in tests/test_falsifiable_product_stability.py
]


def _taken_over(notebook: str) -> bool:
    """Whether the notebook's paper keeps its own cases in tests/test_falsifiable_<paper>.py."""
    paper = notebook.split("/")[1]
    return (ROOT / "tests" / f"test_falsifiable_{paper}.py").is_file()


CASES = [m for m in MUTATIONS if not _taken_over(m[0])]


@pytest.mark.slow
@pytest.mark.parametrize("notebook,old,new,why", CASES, ids=[m[0].split("/", 1)[1] for m in CASES])
def test_perturbed_notebook_fails(tmp_path: Path, notebook: str, old: str, new: str, why: str):
    run_mutation(notebook, old, new, why=why, tmp_path=tmp_path)


def test_the_harness_catches_a_mutation_that_changes_nothing(tmp_path: Path):
    """A no-op "mutation" runs clean, and the harness says so (it cannot pass vacuously)."""
    notebook = tmp_path / "notebooks" / "demo" / "lemma_0.md"
    notebook.parent.mkdir(parents=True)
    notebook.write_text(_DEMO)
    rel = os.path.relpath(notebook, ROOT)
    with pytest.raises(AssertionError, match="perturbation not detected"):
        run_mutation(rel, "rtol=1e-12", "rtol=1e-12 ")
    proc = run_mutation(rel, "eta * num_steps, eta", "1.05 * eta * num_steps, eta")
    assert "FAIL claim eta*steps" in proc.stderr


_DEMO = """---
jupytext: {text_representation: {extension: .md, format_name: myst, format_version: 0.13}}
kernelspec: {display_name: Python 3, language: python, name: python3}
eos: {paper: demo, item: "Lemma 0", kind: lemma, title: demo}
---
```{code-cell} ipython3
:tags: [parameters]
eta = 0.5  # learning rate; range (0, inf)
num_steps = 10  # steps; range [1, 100]
```

```{code-cell} ipython3
from eoslib import checks
checks.check("eta*steps", eta * num_steps, eta * num_steps, kind="claim", rtol=1e-12)
checks.verdict("Lemma 0")
```
"""
