"""Every self-stabilization notebook can fail: perturb one prediction and the run goes red.

Each case edits a copy of a notebook source (one exact substring, which must occur exactly
once, so a case cannot go stale silently), runs it with ``eoslib run``, and requires a
non-zero exit whose message names a failed check, with the output file left untouched.
The four notebooks on the shared tracked run load it from the cache when it exists.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_falsifiable import assert_every_notebook_has_a_case, run_mutation

NB = "notebooks/self_stabilization/"

# (notebook, exact substring, replacement, why it must fail)
MUTATIONS: list[tuple[str, str, str, str]] = [
    (NB + "lemma_1.md", "ratios[el], 1 - el / 2,", "ratios[el], 1 - 1.05 * el / 2,",
     "the descent-lemma constant (2 - eta ell) / 2 perturbed by 5%"),
    (NB + "lemma_2.md", "fd - np.asarray(E.T @ q.grad_S)", "fd - 1.05 * np.asarray(E.T @ q.grad_S)",
     "grad S = nabla^3 L(u, u) scaled by 5% on the network"),
    (NB + "lemma_3.md", "g = ode.conserved_quantity(sol.X, sol.Y, a, b)",
     "g = ode.conserved_quantity(sol.X, 1.05 * sol.Y, a, b)",
     "the Y^2 / alpha term of the conserved quantity weighted by 1.05^2"),
    (NB + "corollary_1.md", "[ext.X_min, ext.X_max, ext.Y_max], list(ev)",
     "[ext.X_min, ext.X_max, 1.05 * ext.Y_max], list(ev)",
     "the exact Y_max of Corollary 1 scaled by 5%"),
    (NB + "lemma_4.md", 'y7 = a["p7_y"][1 : len(y5) + 1]', 'y7 = 1.05 * a["p7_y"][1 : len(y5) + 1]',
     "Lemma 4's y-row compared with a 5%-scaled Definition 7"),
    (NB + "theorem_1.md", "res_L = np.abs(L_gd - L_dag - xs**2 / e)", "res_L = np.abs(L_gd - L_dag - 1.05 * xs**2 / e)",
     "Theorem 1's loss term x^2/eta scaled by 5%"),
    (NB + "lemma_5.md", "- eta * (-rho * xh[:-1] ** 3 / 6)", "- eta * (-1.05 * rho * xh[:-1] ** 3 / 6)",
     "F'(x) of Lemma 5's x-row scaled by 5%"),
    (NB + "lemma_6.md", 'si.lemma10_alpha(float(q.sharpness), lam), kind="reconstructed", rtol=1e-6)',
     '1.05 * si.lemma10_alpha(float(q.sharpness), lam), kind="reconstructed", rtol=1e-6)',
     "Lemma 10's alpha = 2 lam (S - lam) scaled by 5%"),
    (NB + "figure_1.md", 'np.median(after) * eta / 2, 1.0, kind="claim", rtol=0.05',
     'np.median(after) * eta / 2, 1.08, kind="claim", rtol=0.05', "the edge of stability placed 8% above 2/eta"),
    (NB + "figure_2.md", "np.diff(y[:100]) / (eta * alpha)", "np.diff(y[:100]) / (1.05 * eta * alpha)",
     "the progressive-sharpening slope eta alpha scaled by 5%"),
    (NB + "figure_3.md", "/ ode.small_orbit_period(alpha)", "/ (1.05 * ode.small_orbit_period(alpha))",
     "the small-orbit period 2 pi / sqrt(2 alpha) scaled by 5%"),
    (NB + "figure_4.md", 'np.abs(a["dag_sharpness"] * eta / 2 - 1)', 'np.abs(a["dag_sharpness"] * 1.05 * eta / 2 - 1)',
     "the constrained trajectory's sharpness compared with a 2/eta off by 5%"),
    (NB + "figure_5.md", 'np.median(after) * eta / 2, 1.0, kind="claim", rtol=0.05',
     'np.median(after) * eta / 2, 1.06, kind="claim", rtol=0.05', "the edge of stability placed 6% above 2/eta"),
    (NB + "figure_6.md", "np.median(late) * eta / 2, 1.1,", "np.median(late) * 1.07 * eta / 2, 1.1,",
     "the edge 2/eta placed 7% lower"),
    (NB + "appendix_e_figures.md", 'checks.check_le("max_t eta lambda_2(theta+_t)", a["lambda2"] * eta, 1.9,',
     'checks.check_le("max_t eta lambda_2(theta+_t)", 1.2 * a["lambda2"] * eta, 1.9,',
     "lambda_2 scaled by 20% crosses Assumption 2's 1.9/eta"),
    (NB + "appendix_g_2_figures.md", 'err["pg"] < err["p7"]', 'err["p7"] < err["pg"]',
     "the claim that the generalized prediction is the closer one reversed"),
]


def test_every_notebook_has_a_case():
    assert_every_notebook_has_a_case(NB, MUTATIONS)


@pytest.mark.slow
@pytest.mark.parametrize("notebook,old,new,why", MUTATIONS, ids=[Path(m[0]).stem for m in MUTATIONS])
def test_perturbed_notebook_fails(tmp_path: Path, notebook: str, old: str, new: str, why: str):
    run_mutation(notebook, old, new, why=why, tmp_path=tmp_path, timeout=1200)
