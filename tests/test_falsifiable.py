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

__all__ = ["run_mutation", "ROOT"]


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


# (notebook, exact substring, replacement, why it must fail)
MUTATIONS: list[tuple[str, str, str, str]] = [
    ("notebooks/product_stability/lemma_3_1.md",
     "max_rel(z_pred, z[1:])", "max_rel(1.05 * z_pred, z[1:])",
     "Prop A.1's exact z-update scaled by 5%"),
    ("notebooks/product_stability/lemma_6_1.md",
     "[z_star, l2, l3, l4, alpha_c]", "[z_star, l2, l3, l4, 1.05 * alpha_c]",
     "Table 1's closed-form alpha scaled by 5%"),
    ("notebooks/product_stability/lemma_6_2.md",
     "np.full(len(mu0s), G2 * eta), rtol=0.03)", "np.full(len(mu0s), 1.05 * G2 * eta), rtol=0.03)",
     "the limiting-sharpness gap G*eta scaled by 5%"),
    ("notebooks/product_stability/theorem_4_2.md",
     "pred.half_amplitude[small], rtol=0.01)", "pred.half_amplitude[small] * 1.05, rtol=0.01)",
     "Theorem 4.2's amplitude sqrt(3 l2^2 mu / alpha) scaled by 5%"),
    ("notebooks/product_stability/figure_2.md",
     "sm.final_lag_ratio, 1.0, atol=tol)", "sm.final_lag_ratio, 1.05, atol=tol)",
     "the predicted final lambda_infinity shifted by 5% of the gap"),
    # product_stability: the rest of the paper
    ("notebooks/product_stability/theorem_4_3.md",
     "normal_form = (1 - at_c[small]) / (2 * C * u_grid[small] ** 2)",
     "normal_form = (1 - at_c[small]) / (2 * 1.05 * C * u_grid[small] ** 2)",
     "the two-step normal-form coefficient C scaled by 5%"),
    ("notebooks/product_stability/lemma_5_1.md",
     "half_curv = ps.inverse_bifurcation_curvature(l) / 2",
     "half_curv = 1.05 * ps.inverse_bifurcation_curvature(l) / 2",
     "Lemma B.1's curvature 2 alpha / (3 l2^3) scaled by 5%"),
    ("notebooks/product_stability/theorem_5_2.md",
     "r.limit_sharpness) / (ps.limit_gap_coefficient(l) * eta_arr)",
     "r.limit_sharpness) / (1.05 * ps.limit_gap_coefficient(l) * eta_arr)",
     "Theorem 5.2's gap 3 eta l2^4 / alpha scaled by 5%"),
    ("notebooks/product_stability/lemma_6_4.md",
     "alpha, -d[4], rtol=1e-12)", "alpha, -1.05 * d[4], rtol=1e-12)",
     "alpha = -l4(0) scaled by 5%"),
    ("notebooks/product_stability/lemma_6_5.md",
     "3 * Cs * P * (P - 2)", "1.05 * 3 * Cs * P * (P - 2)",
     "the family's fourth derivative scaled by 5%"),
    ("notebooks/product_stability/figure_1.md",
     "ps.limit_gap_coefficient(bce) * eta, rtol=0.01)", "1.05 * ps.limit_gap_coefficient(bce) * eta, rtol=0.01)",
     "the predicted BCE gap scaled by 5%"),
    ("notebooks/product_stability/figure_3.md",
     "ratio = (2 / eta - sweep.limit_sharpness) / (G * eta)",
     "ratio = (2 / eta - sweep.limit_sharpness) / (1.05 * G * eta)",
     "the predicted gap scaled by 5%"),
    ("notebooks/product_stability/figure_4.md",
     "gap[l.name] / (ps.limit_gap_coefficient(l) * eta_arr)",
     "gap[l.name] / (1.05 * ps.limit_gap_coefficient(l) * eta_arr)",
     "the predicted gap scaled by 5%"),
    ("notebooks/product_stability/figure_5.md",
     "r.sharpness.max() * eta / 2, 1.0)", "r.sharpness.max() * eta / 2, 1.05)",
     "the edge of stability placed 5% above 2/eta"),
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
