"""gfs_sharpness: every result notebook can fail. One exact substring of a copy of the notebook is
replaced so that a prediction is off by about 5%, and `eoslib run` must then fail on a check
(same harness as tests/test_falsifiable.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_falsifiable import assert_every_notebook_has_a_case, run_mutation

NB = "notebooks/gfs_sharpness/"

# (notebook, exact substring, replacement, why it must fail)
MUTATIONS: list[tuple[str, str, str, str]] = [
    (NB + "theorem_3_2.md",
     "rise.append(np.asarray((sc.gfs_sharpness(w1) - ", "rise.append(np.asarray((1.05 * sc.gfs_sharpness(w1) - ",
     "the GFS sharpness after a GD step overstated by 5%: it rises"),
    (NB + "theorem_3_3.md",
     "r.loss[i], float(eta), c1=c1)", "r.loss[i], float(1.05 * eta), c1=c1)",
     "the threshold 2/eta placed 5% too low: runs no longer cross it"),
    (NB + "lemmas_3_7_3_9.md",
     'counts["item 1"][0] += violations(psi(x), psi(y))', 'counts["item 1"][0] += violations(psi(x), 0.95 * psi(y))',
     "Lemma 3.9 item 1 with psi(y) understated by 5%"),
    (NB + "lemmas_3_10_3_12.md",
     "b1, b2 = (1 - cm) ** (D - 1) * phi,", "b1, b2 = 1.05 * (1 - cm) ** (D - 1) * phi,",
     "Lemma 3.12's lower bound raised by 5%"),
    (NB + "lemmas_3_13_3_14.md",
     "(1 - eta * np.asarray(sc.gfs_sharpness(w)))", "(1 - 1.05 * eta * np.asarray(sc.gfs_sharpness(w)))",
     "h'(1) = 1 - eta phi with phi 5% too large"),
    (NB + "figure_1.md",
     "np.abs(w_ode - sc.gfs(w))", "np.abs(w_ode - sc.gfs(1.05 * w))",
     "the closed-form GFS of a start scaled by 5%"),
    (NB + "figure_2.md",
     "    ratio = run.sharpness[-1] * eta / 2\n", "    ratio = 1.05 * run.sharpness[-1] * eta / 2\n",
     "the final sharpness placed 5% higher: above 2/eta"),
    (NB + "figure_3.md",
     "ratio = np.where(converged, grid.sharpness * eta / 2, np.nan)",
     "ratio = np.where(converged, 1.05 * grid.sharpness * eta / 2, np.nan)",
     "the final sharpness over the grid placed 5% higher"),
    (NB + "figure_4.md",
     "dist = np.min(np.abs(orbits - prod[:, None]), axis=1)", "dist = np.min(np.abs(orbits - 1.05 * prod[:, None]), axis=1)",
     "GD products compared with the GPGD points 5% off"),
    (NB + "figure_5.md",
     "finals = np.array([r.run.phi[r.run.stop] * r.run.eta / 2 for r in runs])",
     "finals = np.array([1.05 * r.run.phi[r.run.stop] * r.run.eta / 2 for r in runs])",
     "the final GFS sharpness placed 5% higher: above 2/eta"),
    (NB + "figure_6.md",
     "acc.final_ratio, 1.05,", "1.05 * acc.final_ratio, 1.05,",
     "the final GFS sharpness placed 5% higher"),
    (NB + "figure_7.md",
     "prod = W.prod(axis=1)", "prod = 1.05 * W.prod(axis=1)",
     "the products of the stable set overstated by 5%: above 1/2"),
    (NB + "figure_9.md",
     "run.phi[-1], 12.33, atol=0.005", "1.05 * run.phi[-1], 12.33, atol=0.005",
     "the final GFS sharpness off by 5%"),
    (NB + "figure_12.md",
     "acc = nw.acceptance(tr, flat_from=int(tr.gfs_steps[1]), tol=2 * resolution[act])",
     "acc = nw.acceptance(tr._replace(phi=tr.phi * 1.05 ** np.arange(tr.phi.size)), flat_from=int(tr.gfs_steps[1]), "
     "tol=2 * resolution[act])",
     "a GFS sharpness that grows by 5% per evaluation"),
    (NB + "figure_13.md",
     "acc = nw.acceptance(track, flat_from=gfs_every, tol=resolution)",
     "acc = nw.acceptance(track._replace(phi=track.phi * 1.05 ** np.arange(track.phi.size)), flat_from=gfs_every, tol=resolution)",
     "a GFS sharpness that grows by 5% per evaluation"),
]


@pytest.mark.slow
@pytest.mark.parametrize("notebook,old,new,why", MUTATIONS, ids=[m[0].split("/")[-1] for m in MUTATIONS])
def test_perturbed_notebook_fails(tmp_path: Path, notebook: str, old: str, new: str, why: str):
    run_mutation(notebook, old, new, why=why, tmp_path=tmp_path, timeout=1800)


def test_every_notebook_has_a_case():
    assert_every_notebook_has_a_case(NB, MUTATIONS)

