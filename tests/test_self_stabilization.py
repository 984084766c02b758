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
