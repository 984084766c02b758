"""Falsifiability of the two_step notebooks: perturb one prediction per result and the run must fail.

Each case replaces one exact substring of a notebook source (it must occur exactly once, so a case
cannot go stale silently) so that a prediction is off by a few percent, and runs the copy with
``eoslib run`` through the shared harness :func:`test_falsifiable.run_mutation`: the run must fail
on a check and leave no output behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_falsifiable import assert_every_notebook_has_a_case, run_mutation

NB = "notebooks/two_step/"

# (notebook, exact substring, replacement, why it must fail)
CASES: list[tuple[str, str, str, str]] = [
    # 1-D and 2-D theory
    (NB + "theorem_1.md",
     "pred = c * eps_arr**2 / (3 * d[2] ** 3)", "pred = 1.05 * c * eps_arr**2 / (3 * d[2] ** 3)",
     "the root's offset from 2/f'' scaled by 5%"),
    (NB + "lemma_1.md",
     "d[k] * eps ** (k - 2) / math.factorial(k - 1))", "d[k] * eps ** (k - 2) / math.factorial(k))",
     "the higher-order window with the wrong factorial"),
    (NB + "proposition_1.md",
     "    closed = np.stack(bm.prop_1_derivatives(g1, g2, g3), axis=1)",
     "    closed = 1.05 * np.stack(bm.prop_1_derivatives(g1, g2, g3), axis=1)",
     "Prop 1's derivative formulas scaled by 5%"),
    (NB + "proposition_2.md",
     "float(losses.product_stability(f)), -6.0, rtol=1e-12", "float(losses.product_stability(f)), -6.3, rtol=1e-12",
     "the counterexample's stability number off by 5%"),
    (NB + "corollaries.md",
     "lambda y: 16 * (1 - y**2) * (1 + 5 * y**2)", "lambda y: 16 * (1 - y**2) * (1 + 5.2 * y**2)",
     "one corollary's closed form perturbed"),
    (NB + "theorem_2.md",
     "m, qu.orbit_multiplier(K), atol=1e-12", "m, 1.05 * qu.orbit_multiplier(K), atol=1e-12",
     "the two-step multiplier 9 - 2(1+K)^2 scaled by 5%"),
    (NB + "theorem_3.md",
     "det.late_ratio, p2.imbalance_rate(rate_Ks_arr),", "det.late_ratio, 1.05 * p2.imbalance_rate(rate_Ks_arr),",
     "the late-time balancing rate 3 - 2K scaled by 5%"),
    (NB + "proposition_3.md",
     "pair, [d1, d2], atol=1e-12", "pair, [d1, 1.001 * d2], atol=1e-12",
     "the balanced orbit's delta_2 moved by 0.1%"),
    (NB + "figure_3.md",
     "ends, arc, atol=1e-12", "ends, 1.01 * np.asarray(arc), atol=1e-12",
     "the stable arc's endpoints moved by 1%"),
    (NB + "figure_4.md",
     "np.array(qu.orbit_deltas(eta, 1.0))", "np.array(qu.orbit_deltas(1.001 * eta, 1.0))",
     "the orbit predicted at a 0.1% different step"),
    (NB + "figure_7.md",
     "pred_b = float(np.prod(1 + K_b * (c**2 - 1)))", "pred_b = float(np.prod(1 + 1.05 * K_b * (c**2 - 1)))",
     "the 4-cycle contraction factor perturbed"),
    (NB + "figure_12.md",
     "m2, qu.orbit_multiplier(K_two), atol=1e-12", "m2, 1.05 * qu.orbit_multiplier(K_two), atol=1e-12",
     "the 2-cycle multiplier scaled by 5%"),
    (NB + "figure_13.md",
     "\"Observation 2\", \"Theorem 6\"]", "\"Observation 2\", \"Theorem 16\"]",
     "the roadmap names an item that does not exist"),
    # single neuron, matrix factorisation, Appendix B networks
    (NB + "theorem_4.md",
     "b = rn.theorem4_bound(t, KK[idx], EE[idx])", "b = 0.01 * rn.theorem4_bound(t, KK[idx], EE[idx])",
     "Theorem 4's bound on |w_y| made 100x tighter"),
    (NB + "proposition_4.md",
     "d1, d2 = qu.orbit_deltas(Ks_arr)", "d1, d2 = qu.orbit_deltas(1.01 * Ks_arr)",
     "the limit orbit predicted at a 1% different K"),
    (NB + "figure_5.md",
     "K_eff = rn.effective_k(eta, X, wt)", "K_eff = 1.05 * rn.effective_k(eta, X, wt)",
     "the empirical effective K scaled by 5%"),
    (NB + "observation_1.md",
     "s_pred = np.array(mf.orbit_singular_values(eta, lam[0]))",
     "s_pred = np.array(mf.orbit_singular_values(1.01 * eta, lam[0]))",
     "eq (8)'s singular values at a 1% different step"),
    (NB + "figure_6.md",
     "s_pred = np.array(mf.orbit_singular_values(eta, lam[0]))",
     "s_pred = np.array(mf.orbit_singular_values(1.01 * eta, lam[0]))",
     "eq (8)'s singular values at a 1% different step"),
    (NB + "observation_2.md",
     "rho_ = np.array(mf.orbit_singular_values(eta_, lam1))",
     "rho_ = np.array(mf.orbit_singular_values(1.01 * eta_, lam1))",
     "the flattest-orbit top components at a 1% different step"),
    (NB + "theorem_6.md",
     "c_ad, 96 * t6.A2 * t6.B**2, rtol=1e-10", "c_ad, 100 * t6.A2 * t6.B**2, rtol=1e-10",
     "96 A^2 B^2 replaced by 100 A^2 B^2"),
    (NB + "proposition_5.md",
     "    if eta <= 1:", "    if eta <= 1.05:",
     "the stable-set threshold moved by 5%"),
    (NB + "proposition_6.md",
     "lo, hi = ss.stable_arc(eta)", "lo, hi = ss.stable_arc(0.95 * eta)",
     "the stable arc computed at a 5% different step"),
    (NB + "proposition_7.md",
     "np.array(bal), np.full(5, 2 * lam[0])", "np.array(bal), np.full(5, 2.05 * lam[0])",
     "the balanced-minimiser sharpness 2 lambda_1 scaled by 2.5%"),
    (NB + "figure_1.md",
     "K_star = np.minimum(2 / (1 + ss), np.sqrt(5) - 1)", "K_star = np.minimum(2 / (1 + 1.1 * ss), np.sqrt(5) - 1)",
     "the stability boundary eta(l1 + l2) = 2 perturbed"),
    (NB + "figure_2.md",
     "qu.orbit_deltas(1.1), atol=1e-9", "qu.orbit_deltas(1.11), atol=1e-9",
     "the period-2 orbit predicted at K = 1.11 instead of 1.1"),
    (NB + "figure_8.md",
     "sharp_large[-1], S_min, rtol=0.02", "sharp_large[-1], 1.05 * S_min, rtol=0.02",
     "the flattest minimum's sharpness predicted 5% higher"),
    (NB + "figure_9.md",
     "run.sharpness[-1] / small.sharpness[-1], 1.0,", "small.sharpness[-1] / run.sharpness[-1], 1.0,",
     "the EoS run's final sharpness claimed above the small-lr run's"),
    (NB + "figure_10_11.md",
     "summ.median_cos, 0.95, kind=kind", "summ.median_cos_off, 0.95, kind=kind",
     "the gradient/top-eigenvector cosine measured off the EoS window"),
]


def test_every_two_step_result_has_a_case():
    assert_every_notebook_has_a_case(NB, CASES)


@pytest.mark.slow
@pytest.mark.parametrize("notebook,old,new,why", CASES, ids=[c[0].split("/", 1)[1] for c in CASES])
def test_perturbed_notebook_fails(tmp_path: Path, notebook: str, old: str, new: str, why: str):
    run_mutation(notebook, old, new, why=why, tmp_path=tmp_path)
