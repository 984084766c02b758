"""Every result notebook can fail: perturb one predicted value or formula and the run goes red.

Each case edits a copy of a notebook source (one exact substring, which must still exist, so a
case cannot go stale silently), runs it with `eoslib run`, and requires a non-zero exit whose
message names a failed check. The committed notebooks themselves pass (tests/test_catalog.py,
nbval), so together these show the checks discriminate.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

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
]


@pytest.mark.slow
@pytest.mark.parametrize("notebook,old,new,why", MUTATIONS, ids=[m[0].split("/", 1)[1] for m in MUTATIONS])
def test_perturbed_notebook_fails(tmp_path: Path, notebook: str, old: str, new: str, why: str):
    source = (ROOT / notebook).read_text()
    assert source.count(old) == 1, f"{notebook}: mutation target {old!r} must occur exactly once"
    mutated = tmp_path / Path(notebook).name
    mutated.write_text(source.replace(old, new))
    out = tmp_path / "out.ipynb"
    proc = subprocess.run(
        [sys.executable, "-m", "eoslib", "run", str(mutated), "-o", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=dict(os.environ),
    )
    assert proc.returncode != 0, f"{notebook}: perturbation not detected ({why})"
    assert "FAIL " in proc.stderr or "CheckFailed" in proc.stderr, proc.stderr[-2000:]
    assert not out.exists()
