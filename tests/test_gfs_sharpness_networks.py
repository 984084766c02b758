"""Kreisler et al. (2023), networks: table loader, setup, GFS tracking through train_gd, acceptance."""

from __future__ import annotations

import numpy as np
import pytest

from eoslib.papers.gfs_sharpness import networks as nw


def test_load_table():
    tab = nw.load_table("wine", 50)
    assert tab.x.shape == (50, 13) and tab.y.shape == (50, 3)
    np.testing.assert_allclose(tab.y.sum(axis=1), 1.0)
    full = nw.load_table("breast_cancer")
    assert full.x.shape == (569, 30)
    np.testing.assert_allclose(full.x.mean(axis=0), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="choices"):
        nw.load_table("iris")
    with pytest.raises(ValueError, match="n must"):
        nw.load_table("wine", 1000)


def test_tracking_and_acceptance():
    setup = nw.make_setup("wine", n=30, widths=(4,), activation="tanh")
    track = nw.track_gfs_sharpness(setup, 0.5, 20, gfs_every=10, eig_every=5, log_every=5, loss_threshold=1e-3,
                                   rtol=1e-4, atol=1e-7, checkpoint_every=10)
    assert track.phi.shape == (3,) and track.gf_reached.all()
    assert track.checkpoints.shape == (3, setup.w0.shape[0])
    comp = nw.compare_solvers(setup, track.checkpoints[:1], [("rkc", "rkc", dict(rtol=1e-6, atol=1e-9)),
                                                              ("rk4", "rk4", dict(alpha=1.0))], loss_threshold=1e-3)
    np.testing.assert_allclose(comp.phi[0], comp.phi[1], rtol=1e-2)
    np.testing.assert_allclose(comp.phi[0, 0], track.phi[0], rtol=1e-3)
    # the run's own flows from its checkpoints are exactly a re-solve with the same solver
    same = nw.compare_solvers(setup, track.checkpoints[1:], [("own", "rkc", dict(rtol=1e-4, atol=1e-7))],
                              loss_threshold=1e-3)
    own = nw.track_solver(track, "own", track.checkpoint_steps[1:])
    np.testing.assert_array_equal(own.phi, same.phi)
    np.testing.assert_array_equal(own.grad_evals, same.grad_evals)
    np.testing.assert_array_equal(own.time, same.time)
    both = nw.join_comparisons(own, same)
    assert both.methods == ("own", "own") and both.phi.shape == (2, 2) and both.time.shape == (2, 2)
    with pytest.raises(ValueError, match="not a GFS step"):
        nw.track_solver(track, "own", [5])
    with pytest.raises(ValueError, match="same points"):
        nw.join_comparisons(own, comp)


def test_acceptance_statistics():
    base = dict(steps=np.arange(0, 50, 10), loss=np.array([1.0, 0.5, 0.7, 0.3, 0.2]), eig_steps=np.arange(0, 50, 10),
                sharpness=np.array([1.0, 1.5, 2.5, 2.4, 2.6]), gfs_steps=np.arange(0, 50, 10),
                phi=np.array([3.0, 3.0, 2.9, 2.95, 2.5]), gf_reached=np.ones(5, bool), gf_grad_evals=np.ones(5),
                gf_time=np.ones(5), eta=1.0, diverged_at=-1, wall_time=0.0, checkpoint_steps=np.zeros(0),
                checkpoints=np.zeros((0, 1)))
    acc = nw.acceptance(nw.GFSTrack(**base))
    assert acc.edge_step == 20 and acc.num_changes == 2
    assert acc.fraction_nonincreasing == 0.5
    np.testing.assert_allclose(acc.max_rise, 0.05 / 2.9)
    np.testing.assert_allclose(acc.final_ratio, 1.25)
    assert acc.loss_rises == 1 and acc.flat_deviation == 0.0
    assert nw.acceptance(nw.GFSTrack(**base), tol=0.02).fraction_nonincreasing == 1.0
