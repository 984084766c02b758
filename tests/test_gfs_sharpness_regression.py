"""Kreisler et al. (2023), squared regression model: dual-Newton GFS against GF integration and the
primal predictor (Eq. 7); closed-form GFS sharpness against the autodiff Hessian; S_flat."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from eoslib.papers.gfs_sharpness import regression as rg


@pytest.fixture(scope="module")
def problem():
    return rg.make_problem(0, n=6, d=15)


def _start(d, rng, scale=0.3):
    return jnp.asarray(np.concatenate([scale * np.exp(0.3 * rng.standard_normal(d)),
                                       scale * np.exp(0.3 * rng.standard_normal(d))]))


def test_dual_newton_matches_gradient_flow(problem):
    rng = np.random.default_rng(0)
    w0 = jnp.stack([_start(problem.d, rng) for _ in range(3)])
    w_inf, it, res = rg.gfs_dual(w0, *problem)
    assert np.all(np.asarray(res) < 1e-12) and np.all(np.asarray(it) < 60)
    w_ode, _ = rg.gradient_flow_ode(w0, *problem)
    np.testing.assert_allclose(w_inf, w_ode, atol=1e-8)
    # u * v is conserved along GF (Azulay et al.)
    u, v = rg.split(w_inf)
    u0, v0 = rg.split(w0)
    np.testing.assert_allclose(u * v, u0 * v0, rtol=1e-12)


def test_dual_matches_primal_predictor(problem):
    rng = np.random.default_rng(1)
    w0 = _start(problem.d, rng)
    w_inf, _, _ = rg.gfs_dual(w0, *problem)
    u, v = rg.split(w_inf)
    beta_primal = rg.gfs_primal(w0, *problem)
    np.testing.assert_allclose(u * u - v * v, beta_primal, atol=1e-6)


def test_gfs_sharpness_is_the_hessian_top_eigenvalue_at_the_gfs(problem):
    rng = np.random.default_rng(2)
    w0 = _start(problem.d, rng)
    w_inf, _, _ = rg.gfs_dual(w0, *problem)
    dense = np.linalg.eigvalsh(np.asarray(rg.hessian(w_inf, *(jnp.asarray(a) for a in problem))))[-1]
    np.testing.assert_allclose(rg.gfs_sharpness(w0, *problem), dense, rtol=1e-10)


def test_flattest_sharpness_is_below_every_interpolator(problem):
    s_flat, beta = rg.flattest_sharpness(*problem)
    np.testing.assert_allclose(problem.X @ beta, problem.y, atol=1e-9)
    rng = np.random.default_rng(3)
    for _ in range(3):
        w0 = _start(problem.d, rng, scale=float(rng.uniform(0.05, 1.0)))
        assert float(rg.gfs_sharpness(w0, *problem)) >= s_flat * (1 - 1e-9)


def test_gd_run_and_validation(problem):
    w0 = jnp.full(2 * problem.d, 0.1)
    phi0 = float(rg.gfs_sharpness(w0, *problem))
    run = rg.gd_run(problem, w0, 1.0 / phi0, 200, sharpness_every=10)
    assert run.phi.shape == (201,) and run.sharpness.shape == (21,)
    np.testing.assert_allclose(run.phi[0], phi0, rtol=1e-12)
    with pytest.raises(ValueError, match="n <= d"):
        rg.gfs_dual(w0, np.ones((5, 3)), np.ones(5))
    with pytest.raises(ValueError, match="2d"):
        rg.gfs_dual(jnp.ones(3), *problem)
    with pytest.raises(ValueError, match="n must"):
        rg.make_problem(0, n=20, d=10)


def test_closed_form_hessian_matches_autodiff(problem):
    rng = np.random.default_rng(4)
    X, y = (jnp.asarray(a) for a in problem)
    w = _start(problem.d, rng, scale=0.7)
    np.testing.assert_allclose(rg.hessian_closed_form(w, X, y), rg.hessian(w, X, y), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(rg.sharpness(w, X, y), np.linalg.eigvalsh(np.asarray(rg.hessian(w, X, y)))[-1],
                               rtol=1e-12)
