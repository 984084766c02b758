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
    # two_step: 1-D and 2-D theory
    ("notebooks/two_step/theorem_1.md",
     "pred = c * eps_arr**2 / (3 * d[2] ** 3)", "pred = 1.05 * c * eps_arr**2 / (3 * d[2] ** 3)",
     "the root's offset from 2/f'' scaled by 5%"),
    ("notebooks/two_step/lemma_1.md",
     "d[k] * eps ** (k - 2) / math.factorial(k - 1))", "d[k] * eps ** (k - 2) / math.factorial(k))",
     "the higher-order window with the wrong factorial"),
    ("notebooks/two_step/proposition_1.md",
     "    closed = np.stack(sc.prop_1_derivatives(g1, g2, g3), axis=1)",
     "    closed = 1.05 * np.stack(sc.prop_1_derivatives(g1, g2, g3), axis=1)",
     "Prop 1's derivative formulas scaled by 5%"),
    ("notebooks/two_step/proposition_2.md",
     "sc.stability_number(f), -6.0, rtol=1e-12)", "sc.stability_number(f), -6.3, rtol=1e-12)",
     "the counterexample's stability number off by 5%"),
    ("notebooks/two_step/corollaries.md",
     "lambda y: 16 * (1 - y**2) * (1 + 5 * y**2)", "lambda y: 16 * (1 - y**2) * (1 + 5.2 * y**2)",
     "one corollary's closed form perturbed"),
    ("notebooks/two_step/theorem_2.md",
     "m, sc.orbit_multiplier(K), atol=1e-12)", "m, 1.05 * sc.orbit_multiplier(K), atol=1e-12)",
     "the two-step multiplier 9 - 2(1+K)^2 scaled by 5%"),
    ("notebooks/two_step/theorem_3.md",
     "det.late_ratio, sc.imbalance_rate(rate_Ks_arr),", "det.late_ratio, 1.05 * sc.imbalance_rate(rate_Ks_arr),",
     "the late-time balancing rate 3 - 2K scaled by 5%"),
    ("notebooks/two_step/proposition_3.md",
     "pair, [d1, d2], atol=1e-12)", "pair, [d1, 1.001 * d2], atol=1e-12)",
     "the balanced orbit's delta_2 moved by 0.1%"),
    ("notebooks/two_step/figure_3.md",
     "ends, arc, atol=1e-12)", "ends, 1.01 * np.asarray(arc), atol=1e-12)",
     "the stable arc's endpoints moved by 1%"),
    ("notebooks/two_step/figure_4.md",
     "np.array(sc.orbit_deltas(eta, 1.0))", "np.array(sc.orbit_deltas(1.001 * eta, 1.0))",
     "the orbit predicted at a 0.1% different step"),
    ("notebooks/two_step/figure_7.md",
     "pred_b = float(np.prod(1 + K_b * (c**2 - 1)))", "pred_b = float(np.prod(1 + 1.05 * K_b * (c**2 - 1)))",
     "the 4-cycle contraction factor perturbed"),
    ("notebooks/two_step/figure_12.md",
     "m2, sc.orbit_multiplier(K_two), atol=1e-12)", "m2, 1.05 * sc.orbit_multiplier(K_two), atol=1e-12)",
     "the 2-cycle multiplier scaled by 5%"),
    ("notebooks/two_step/figure_13.md",
     "\"Observation 2\", \"Theorem 6\"]", "\"Observation 2\", \"Theorem 16\"]",
     "the roadmap names an item that does not exist"),
    # two_step: single neuron, matrix factorisation, Appendix B networks
    ("notebooks/two_step/theorem_4.md",
     "b = rn.theorem4_bound(t, KK[idx], EE[idx])", "b = 0.01 * rn.theorem4_bound(t, KK[idx], EE[idx])",
     "Theorem 4's bound on |w_y| made 100x tighter"),
    ("notebooks/two_step/proposition_4.md",
     "d1, d2 = rn.orbit_points(Ks_arr)", "d1, d2 = rn.orbit_points(1.01 * Ks_arr)",
     "the limit orbit predicted at a 1% different K"),
    ("notebooks/two_step/figure_5.md",
     "K_eff = rn.effective_k(eta, X, wt)", "K_eff = 1.05 * rn.effective_k(eta, X, wt)",
     "the empirical effective K scaled by 5%"),
    ("notebooks/two_step/observation_1.md",
     "s_pred = np.array(mf.orbit_singular_values(eta, lam[0]))",
     "s_pred = np.array(mf.orbit_singular_values(1.01 * eta, lam[0]))",
     "eq (8)'s singular values at a 1% different step"),
    ("notebooks/two_step/figure_6.md",
     "s_pred = np.array(mf.orbit_singular_values(eta, lam[0]))",
     "s_pred = np.array(mf.orbit_singular_values(1.01 * eta, lam[0]))",
     "eq (8)'s singular values at a 1% different step"),
    ("notebooks/two_step/observation_2.md",
     "rho = np.array(mf.orbit_singular_values(eta, lam[0])) / sig1",
     "rho = np.array(mf.orbit_singular_values(1.01 * eta, lam[0])) / sig1",
     "the flattest-orbit ratios at a 1% different step"),
    ("notebooks/two_step/theorem_6.md",
     "c_ad, 96 * t6.A2 * t6.B**2, rtol=1e-10)", "c_ad, 100 * t6.A2 * t6.B**2, rtol=1e-10)",
     "96 A^2 B^2 replaced by 100 A^2 B^2"),
    ("notebooks/two_step/proposition_5.md",
     "    if eta <= 1:", "    if eta <= 1.05:",
     "the stable-set threshold moved by 5%"),
    ("notebooks/two_step/proposition_6.md",
     "lo, hi = mf.product_2d_arc(eta)", "lo, hi = mf.product_2d_arc(0.95 * eta)",
     "the stable arc computed at a 5% different step"),
    ("notebooks/two_step/proposition_7.md",
     "np.array(bal), np.full(5, 2 * lam[0])", "np.array(bal), np.full(5, 2.05 * lam[0])",
     "the balanced-minimiser sharpness 2 lambda_1 scaled by 2.5%"),
    ("notebooks/two_step/figure_1.md",
     "K_star = np.minimum(2 / (1 + ss), np.sqrt(5) - 1)", "K_star = np.minimum(2 / (1 + 1.1 * ss), np.sqrt(5) - 1)",
     "the measured stability boundary eta(l1 + l2) = 2 perturbed"),
    ("notebooks/two_step/figure_2.md",
     "rn.orbit_points(1.1), atol=1e-9)", "rn.orbit_points(1.11), atol=1e-9)",
     "the period-2 orbit predicted at K = 1.11 instead of 1.1"),
    ("notebooks/two_step/figure_8.md",
     "kappa_star, 1.2, atol=0.05)", "kappa_star, 1.0, atol=0.05)",
     "the flattest ratio expected at 1.0 instead of 1.2"),
    ("notebooks/two_step/figure_9.md",
     "run.sharpness[-1] / small.sharpness[-1], 1.0)", "small.sharpness[-1] / run.sharpness[-1], 1.0)",
     "the EoS run's final sharpness claimed above the small-lr run's"),
    ("notebooks/two_step/figure_10.md",
     "summ.median_cos, 0.95)", "summ.median_cos_off, 0.95)",
     "the gradient/top-eigenvector cosine measured off the EoS window"),
    ("notebooks/two_step/figure_11.md",
     "summ.median_cos, 0.95)", "summ.median_cos_off, 0.95)",
     "the gradient/top-eigenvector cosine measured off the EoS window"),
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
