"""Unit tests of eoslib.papers.self_stabilization: toy model, ODE, derivative oracles."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import curvature
from eoslib.papers.self_stabilization import ode, oracles, problems, toy


# ----------------------------------------------------------------------------- toy model


def test_toy_gd_is_eq3_exactly():
    m = toy.ToyModel(eta=0.01, alpha=1.0, beta=1.0)
    run = toy.toy_gd(m, 0.01, 1200)
    # one-step residual of eq. (3) evaluated on GD's own iterates
    x, y = run.x, run.y
    x_pred = -(1 + m.eta * y[:-1]) * x[:-1]
    y_pred = y[:-1] + m.eta * (m.alpha - m.beta * x[:-1] ** 2 / 2)
    assert np.max(np.abs(x_pred - x[1:])) < 1e-12
    assert np.max(np.abs(y_pred - y[1:])) < 1e-12
    xs, ys, d = toy.simplified_dynamics(m, 0.01, 1200)
    assert d == -1 and np.max(np.abs(xs - x)) < 1e-11


def test_toy_stage_sequence_and_sign_flips():
    m = toy.ToyModel(eta=0.01)
    run = toy.toy_gd(m, 0.01, 1200)
    changes = toy.stage_changes(toy.stage_labels(run.x, run.y, m.delta))
    assert [s for _, s in changes][:6] == [2, 3, 4, 1, 2, 3]
    assert np.all(np.sign(run.x[1:]) == -np.sign(run.x[:-1]))


def test_damped_toy_converges_to_fixed_point():
    m = toy.ToyModel(eta=0.01, lam=1.0)
    run = toy.toy_gd(m, 0.01, 60000)
    assert abs(abs(run.x[-1]) - m.delta) < 1e-6
    assert abs(run.y[-1]) < 1e-9


def test_toy_taylor_quantities_generic_code():
    m = toy.ToyModel(eta=0.01, alpha=0.7, beta=2.0, lam=0.5)
    q = oracles.dense_taylor(m.loss, jnp.asarray([0.0, 0.0, 3.0]), jnp.asarray([1.0, 0, 0]))
    np.testing.assert_allclose(q.grad, [0, -0.7 / math.sqrt(2), -1], atol=1e-12)
    np.testing.assert_allclose(q.grad_S, [0, math.sqrt(2), 0], atol=1e-12)
    assert abs(float(q.alpha) - 0.7) < 1e-12 and abs(float(q.beta) - 2.0) < 1e-12
    assert abs(float(q.sharpness) - 200.0) < 1e-9


def test_toy_model_validation():
    with pytest.raises(ValueError, match="eta"):
        toy.ToyModel(eta=-1.0)
    with pytest.raises(ValueError, match="lam"):
        toy.ToyModel(eta=0.1, lam=30.0)


# ----------------------------------------------------------------------------- ODE


@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (2.0, 0.5), (0.3, 3.0)])
def test_conserved_quantity_along_ode(alpha, beta):
    for X0 in (1e-3, 0.1, 1.0):
        sol = ode.solve_ode(X0, 0.0, alpha, beta, 60.0)
        g = ode.conserved_quantity(sol.X, sol.Y, alpha, beta)
        assert np.max(np.abs(g - g[0])) / g[0] < 1e-8


def test_orbit_extrema_match_ode_and_cor1_bounds():
    ext = ode.orbit_extrema(0.01, 0.0, 1.0, 1.0)
    assert abs(ext.X_max - 4.98460) < 1e-5 and abs(ext.Y_max - 2.98388) < 1e-5
    assert abs(ext.X_min - 0.01) < 1e-12
    xb, yb = ode.corollary1_explicit(0.01, 1.0, 1.0)
    assert xb >= ext.X_max and yb >= ext.Y_max
    xl, yl = ode.corollary1_literal(0.01, 1.0, 1.0)
    assert yl < ext.Y_max and xl < ext.X_max  # the garbled print is false
    sol = ode.solve_ode(0.01, 0.0, 1.0, 1.0, 30.0, num_points=200001)
    assert abs(sol.X.max() - ext.X_max) / ext.X_max < 1e-6
    assert abs(np.abs(sol.Y).max() - ext.Y_max) / ext.Y_max < 1e-6


def test_orbit_period():
    assert abs(ode.orbit_period(1.414, 1.0, 1.0) - ode.small_orbit_period(1.0)) < 1e-4
    # large orbits are slower
    assert ode.orbit_period(0.01, 1.0, 1.0) > ode.orbit_period(0.5, 1.0, 1.0)


def test_ode_validation():
    with pytest.raises(ValueError, match="X0"):
        ode.solve_ode(-1.0, 0.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="fixed point"):
        ode.orbit_extrema(math.sqrt(2.0), 0.0, 1.0, 1.0)


# ----------------------------------------------------------------------------- oracles


def test_grad_sharpness_dense_fd():
    for seed in range(3):
        f = oracles.RandomSmoothLoss(seed)
        th = jnp.asarray(np.random.default_rng(seed + 10).standard_normal(8)) * 0.5
        q = oracles.dense_taylor(f, th)
        fd = oracles.sharpness_fd(lambda t: curvature.sharpness(f, t), th, jnp.eye(8), 1e-5)
        assert np.max(np.abs(fd - np.asarray(q.grad_S))) / np.linalg.norm(q.grad_S) < 1e-6


def test_grad_sharpness_mlp_fd_and_signs():
    pb = problems.make_problem(n=60, widths=(8, 8))
    w = pb.w0
    q = oracles.evaluate(pb.f, w, jnp.ones((pb.dim, 1)), k=1, tol=1e-11, max_iter=300)
    assert bool(q.converged)
    # sign aligned with the reference
    assert float(jnp.sum(q.u)) > 0
    E = jax.random.normal(jax.random.PRNGKey(3), (pb.dim, 3))
    E = E / jnp.linalg.norm(E, axis=0)

    def S(x):
        return oracles.evaluate(pb.f, x, q.vectors, k=1, tol=1e-12, max_iter=300).sharpness

    fd = oracles.sharpness_fd(S, w, E, 1e-4)
    an = np.asarray(E.T @ q.grad_S)
    assert np.max(np.abs(fd - an)) / np.linalg.norm(q.grad_S) < 1e-4
    q2 = oracles.evaluate(pb.f, w, -q.vectors, k=1, tol=1e-11, max_iter=300)
    assert float(jnp.vdot(q2.u, q.u)) < -0.999999


def test_tensor_norms_on_cubic_and_quartic():
    # f = (a.x)^3/6 + (b.x)^4/24: D^3 = a a a (on the a direction), D^4 = b b b b.
    a = jnp.asarray([3.0, 0.0, 0.0, 0.0])
    b = jnp.asarray([0.0, 0.0, 2.0, 0.0])

    def f(x):
        return (a @ x) ** 3 / 6 + (b @ x) ** 4 / 24

    x0 = jnp.zeros(4)
    r3 = oracles.tensor_norm(f, x0, jnp.asarray([1.0, 0.3, 0.2, 0.1]), 3, 20)
    assert abs(float(r3.value) - 27.0) < 1e-9
    r4 = oracles.tensor_norm(f, x0, jnp.asarray([0.1, 0.3, 1.0, 0.1]), 4, 20)
    assert abs(float(r4.value) - 16.0) < 1e-9
    v = jnp.asarray([0.2, 0.1, 0.5, 0.3])
    np.testing.assert_allclose(oracles.fourth_derivative_vvv(f, x0, v), b * (b @ v) ** 3, atol=1e-12)


def test_fourth_derivative_vs_fd():
    f = oracles.RandomSmoothLoss(2, d=5)
    th = jnp.asarray(np.random.default_rng(0).standard_normal(5)) * 0.3
    v = jnp.asarray(np.random.default_rng(1).standard_normal(5))
    an = np.asarray(oracles.fourth_derivative_vvv(f, th, v))
    h = 1e-4
    d3 = lambda t: curvature.directional_derivative(f, t, v, 3)  # noqa: E731
    fd = np.array([(float(d3(th + h * e)) - float(d3(th - h * e))) / (2 * h) for e in np.eye(5)])
    assert np.max(np.abs(fd - an)) / np.linalg.norm(an) < 1e-6


# ----------------------------------------------------------------------------- projection, prediction

from eoslib.papers.self_stabilization import (analysis, constrained, diagnostics, experiments,  # noqa: E402
                                              predicted, scale_invariant, tracking)


def test_check_interval_schedule():
    eta = 0.01
    assert constrained.check_interval(50.0, eta) == 100   # S < 1/eta: 1 time unit
    assert constrained.check_interval(120.0, eta) == 10   # 1/eta <= S < 1.5/eta: 0.1
    assert constrained.check_interval(160.0, eta) == 1    # S >= 1.5/eta: 0.01
    assert constrained.check_interval(160.0, 0.25) == 1   # never below one step


def test_projection_on_toy_is_exact():
    m = toy.ToyModel(eta=0.01, lam=0.3, rho=0.1)
    ev = oracles.DenseEvaluator(m.loss, jnp.eye(3)[:, 0])
    # from a point off M: x != 0 (u . grad L != 0) and S > 2/eta (y > 0)
    pr = constrained.project(ev, jnp.asarray([1e-3, 0.02, 0.5]), m.eta)
    q = pr.taylor
    assert abs(float(q.sharpness) * m.eta / 2 - 1) < 1e-6
    assert abs(float(q.u @ q.grad)) < 1e-7 * float(jnp.linalg.norm(q.grad))
    q = ev.complete(ev(jnp.asarray([0.0, 0.0, 0.0])))
    for t in range(3):
        q = constrained.constrained_step(ev, q, m.eta).taylor
    np.testing.assert_allclose(np.asarray(q.point), [0.0, 0.0, 0.03], atol=1e-12)


def test_step_map_rows_definition8():
    m = toy.ToyModel(eta=0.01, lam=0.5)
    f = oracles.RandomSmoothLoss(3, d=6)
    th = jnp.asarray(np.random.default_rng(0).standard_normal(6)) * 0.3
    q = oracles.dense_taylor(f, th)
    q2 = oracles.dense_taylor(f, th + 0.01, q.vectors[:, :1])
    H = curvature.hessian(f, th)
    v = jnp.asarray(np.random.default_rng(1).standard_normal(6))
    out = predicted.step_map(v, q, q2.u, m.eta, lambda w: H @ w)
    x, y = predicted.coordinates(v, q)
    # eq. (8): the u_{t+1} row
    assert abs(float(q2.u @ out) + (1 + m.eta * y) * x) < 1e-12
    # eq. (7): the rest
    d2 = 2 * q.alpha / q.beta
    rest = (v - x * q.u) - m.eta * H @ (v - x * q.u) + m.eta * q.grad_S_perp * (d2 - x**2) / 2
    np.testing.assert_allclose(oracles.perp(out, q2.u), oracles.perp(rest, q2.u), atol=1e-12)


@pytest.mark.parametrize("form,lam,rho", [("def7", 0.0, 0.0), ("def7", 0.5, 0.0), ("code", 0.5, 0.0),
                                          ("generalized", 0.05, 0.3)])
def test_dense_prediction_equals_gd_on_toys(form, lam, rho):
    m = toy.ToyModel(eta=0.01, lam=lam, rho=rho)
    run = toy.toy_gd(m, 0.01, 600)
    dag = m.constrained(600)
    vh = predicted.dense_prediction(m.loss, dag, run.theta[0] - dag[0], m.eta, form=form)
    assert np.abs(vh - (run.theta - dag)).max() < 1e-12 * max(1.0, np.abs(run.x).max())


def test_lemma4_y_closed_form_beta():
    m = toy.ToyModel(eta=0.01, lam=0.5)
    T = 400
    run = toy.toy_gd(m, 0.01, T)
    s, t = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
    B = np.where(s <= t, m.beta_s_to_t(s, t), 0.0)
    y = predicted.lemma4_y(B, np.full(T, m.delta**2), run.x[:-1], m.eta)
    np.testing.assert_allclose(y, run.y[1:], atol=1e-12)
    with pytest.raises(ValueError, match="form"):
        predicted.dense_prediction(m.loss, m.constrained(3), np.zeros(3), m.eta, form="other")


def test_F_samples_on_quartic_toy():
    m = toy.ToyModel(eta=0.01, rho=0.3)
    q = oracles.dense_taylor(m.loss, jnp.asarray([0.0, 0.0, 0.0]), jnp.eye(3)[:, 0])
    xs, F = diagnostics.F_samples(m.loss, q, m.eta, m.delta, num=11)
    np.testing.assert_allclose(F, -0.3 * xs**4 / 24, atol=1e-9)


# ----------------------------------------------------------------------------- analysis helpers


def test_analysis_helpers():
    S = np.array([1.0, 3.0, np.nan, np.nan, 2.0, 4.0])
    t, two = analysis.two_step_sharpness(S)
    assert t.tolist() == [0, 4] and two.tolist() == [2.0, 3.0]
    m = toy.ToyModel(eta=0.01)
    run = toy.toy_gd(m, 0.01, 1200)
    assert analysis.first_cycle_end(run.x, run.y, np.full(run.x.size, m.delta)) == 765
    assert analysis.first_peak(run.x, 765)[0] == int(np.argmax(np.abs(run.x[:765])))
    st, c = analysis.sliding_correlation(run.y, run.y, 100)
    np.testing.assert_allclose(c, 1.0)
    assert experiments.first_cycle_end(np.arange(6), np.array([0, 2, 0, 2, 0, 2.0]), 1.0) == 3


def test_problem_soft_labels_and_validation():
    pb = problems.make_problem(n=40, classes=(3, 5), target="01", loss="bce_with_logits", soft_labels=0.2,
                               widths=(4,))
    assert pb.settings["soft_labels"] == 0.2 and "smoothed" in pb.data_note
    with pytest.raises(ValueError, match="soft_labels"):
        problems.make_problem(n=10, soft_labels=1.5)
    with pytest.raises(ValueError, match="scale"):
        problems.digits_mlp(scale="huge")


# ----------------------------------------------------------------------------- Appendix H and Lemma 1


def test_scale_invariant_lemmas():
    f = scale_invariant.TanhSphereLoss(0)
    bar = scale_invariant.critical_point(f)
    L = scale_invariant.WeightDecayed(f, 0.05)
    th = jnp.asarray(scale_invariant.scale_to_edge(f, bar, 0.05, 0.1))
    q = oracles.dense_taylor(L, th)
    assert abs(float(q.sharpness) - 20.0) < 1e-9
    assert abs(float(q.alpha) - scale_invariant.lemma10_alpha(float(q.sharpness), 0.05)) < 1e-8
    np.testing.assert_allclose(q.grad_S, scale_invariant.lemma8_grad_S(f, th, 0.05), atol=1e-8)
    with pytest.raises(ValueError):
        scale_invariant.scale_to_edge(f, bar, 30.0, 0.1)


def test_descent_slack_nonnegative():
    from eoslib.papers.self_stabilization import descent

    q = descent.LogCoshLoss(0)
    th = np.random.default_rng(0).standard_normal((50, q.d))
    assert descent.descent_slack(q, th, 1.9 / q.ell, q.ell).min() > -1e-12


# ----------------------------------------------------------------------------- the tracked run


@pytest.mark.slow
def test_tracked_run_small_network_and_cache(tmp_path):
    pb = problems.make_problem(n=100, widths=(16, 16))
    kw = dict(cache_dir=tmp_path, heavy_every=3, beta_every=2, store_states=3)
    run = tracking.tracked_run(pb, 0.6, 6, **kw)
    a = run.arrays
    assert not run.from_cache and a["gd_loss"].size >= 2
    assert np.all(a["dag_sharpness"] * 0.6 / 2 <= 1 + 1e-6)
    assert tracking.tracked_run(pb, 0.6, 6, **kw).from_cache
    cost = analysis.hvp_equivalents(a, run.meta["cost_ratios"])
    assert cost.size == a["proj_passes"].size and np.all(cost > 0)
