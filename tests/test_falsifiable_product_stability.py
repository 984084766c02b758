"""Every product-stability notebook can fail: perturb one prediction and the run goes red.

Each case replaces one exact substring of a notebook source (it must occur exactly once, so a
case cannot go stale silently) so that a prediction is off by about 5%, runs the copy with
``eoslib run`` and requires a failed check (harness: :func:`test_falsifiable.run_mutation`).
Where a check's tolerance is estimated from runs at two step sizes, the mutation scales the
prediction at both, so that the estimate cannot absorb it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from test_falsifiable import assert_every_notebook_has_a_case, run_mutation

NB = "notebooks/product_stability/"

# (notebook, exact substring, replacement, why it must fail)
CASES: list[tuple[str, str, str, str]] = [
    (NB + "lemma_3_1.md",
     "max_rel(z_pred, z[1:])", "max_rel(1.05 * z_pred, z[1:])",
     "Prop A.1's exact z-update scaled by 5%"),
    (NB + "theorem_4_2.md",
     "r_a = (pp_b - pm_b) / 2 / pred.half_amplitude", "r_a = (pp_b - pm_b) / 2 / (1.05 * pred.half_amplitude)",
     "Theorem 4.2's amplitude sqrt(3 l2^2 mu / alpha) scaled by 5% at mu and mu/2"),
    (NB + "theorem_4_3.md",
     "normal_form = (1 - at_c[small]) / (2 * C * u_grid[small] ** 2)",
     "normal_form = (1 - at_c[small]) / (2 * 1.05 * C * u_grid[small] ** 2)",
     "the two-step normal-form coefficient C scaled by 5%"),
    (NB + "lemma_5_1.md",
     "half_curv = cycles.inverse_bifurcation_curvature(l) / 2",
     "half_curv = 1.05 * cycles.inverse_bifurcation_curvature(l) / 2",
     "Lemma B.1's curvature 2 alpha / (3 l2^3) scaled by 5%"),
    (NB + "theorem_5_2.md",
     "r.limit_sharpness) / (limits.limit_gap_coefficient(l) * eta_arr)",
     "r.limit_sharpness) / (1.05 * limits.limit_gap_coefficient(l) * eta_arr)",
     "Theorem 5.2's gap 3 eta l2^4 / alpha scaled by 5% at every eta"),
    (NB + "lemma_6_1.md",
     "[z_star, l2, l3, l4, alpha_c]", "[z_star, l2, l3, l4, 1.05 * alpha_c]",
     "Table 1's closed-form alpha scaled by 5%"),
    (NB + "lemma_6_2.md",
     "G2 = limits.limit_gap_coefficient(l2loss)", "G2 = 1.05 * limits.limit_gap_coefficient(l2loss)",
     "the limiting-sharpness gap G eta of l_2 scaled by 5% at eta and eta/2"),
    (NB + "lemma_6_4.md",
     "alphas[l.name], -d[4], rtol=1e-12", "alphas[l.name], -1.05 * d[4], rtol=1e-12",
     "alpha = -l4(0) scaled by 5%"),
    (NB + "lemma_6_5.md",
     "3 * Cs * P * (P - 2)", "1.05 * 3 * Cs * P * (P - 2)",
     "the candidate family's fourth derivative scaled by 5%"),
    (NB + "figure_1.md",
     "limits.limit_gap_coefficient(bce) * eta, rtol=0.01", "1.05 * limits.limit_gap_coefficient(bce) * eta, rtol=0.01",
     "the predicted BCE gap scaled by 5%"),
    (NB + "figure_2.md",
     "/ limits.phase2_lag(l, np.array([eta, eta / 2])))", "/ (1.05 * limits.phase2_lag(l, np.array([eta, eta / 2]))))",
     "the predicted lambda_infinity - 2/l2 scaled by 5% at eta and eta/2"),
    (NB + "figure_3.md",
     "G = limits.limit_gap_coefficient(loss)", "G = 1.05 * limits.limit_gap_coefficient(loss)",
     "the predicted gap scaled by 5% at eta and eta/2"),
    (NB + "figure_4.md",
     "gap[l.name] / (limits.limit_gap_coefficient(l) * eta_arr)",
     "gap[l.name] / (1.05 * limits.limit_gap_coefficient(l) * eta_arr)",
     "the predicted gap scaled by 5% at every eta"),
    (NB + "figure_5.md",
     "r.sharpness.max() * eta / 2, 1.0", "r.sharpness.max() * eta / 2, 1.05",
     "the edge of stability placed 5% above 2/eta"),
]


def test_every_product_stability_result_notebook_has_a_case():
    assert_every_notebook_has_a_case(NB, CASES)


@pytest.mark.slow
@pytest.mark.parametrize("notebook,old,new,why", CASES, ids=[c[0].split("/", 1)[1] for c in CASES])
def test_perturbed_notebook_fails(tmp_path: Path, notebook: str, old: str, new: str, why: str):
    run_mutation(notebook, old, new, why=why, tmp_path=tmp_path)
