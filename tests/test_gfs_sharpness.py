"""Kreisler et al. (2023), scalar networks: closed forms against autodiff, GF integration and
independent closed forms; the invariant-set test; the orders; samplers; GD/GPGD runs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import gd
from eoslib.papers.gfs_sharpness import dynamics as dyn
from eoslib.papers.gfs_sharpness import invariant as inv
from eoslib.papers.gfs_sharpness import samplers as sp
from eoslib.papers.gfs_sharpness import scalar as sc

FIG2_W0 = np.array([4.19, 2.59, 0.253, 0.183])


def _random_weights(rng, n, depth, spread=0.6, positive_product=True):
    w = np.exp(spread * rng.standard_normal((n, depth)))
    w *= sp.random_signs(rng, n, depth) if positive_product else rng.choice([-1.0, 1.0], (n, depth))
    return w


# ----------------------------------------------------------------------------- derivatives


@pytest.mark.parametrize("depth", [2, 3, 4, 6])
def test_gradient_and_hessian_match_autodiff(depth):
    rng = np.random.default_rng(depth)
    w = _random_weights(rng, 20, depth, positive_product=False)
    w[0, 1] = 0.0  # a zero weight: pi_{-i} must not divide by it
    for wi in w:
        wi = jnp.asarray(wi)
        np.testing.assert_allclose(sc.gradient(wi), jax.grad(sc.loss)(wi), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(sc.hessian(wi), jax.hessian(sc.loss)(wi), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(sc.sharpness(w[1]), np.linalg.eigvalsh(jax.hessian(sc.loss)(jnp.asarray(w[1])))[-1],
                               rtol=1e-12)


def test_product_map_and_balance_factors():
    rng = np.random.default_rng(1)
    w = jnp.asarray(_random_weights(rng, 50, 5))
    eta = 0.05
    w1 = sc.gd_step(w, eta)
    np.testing.assert_allclose(sc.gd_product(w, eta), sc.product(w1), rtol=1e-12)  # Eq. 14
    b0, b1 = sc.balances(w), sc.balances(w1)
    c = sc.balance_factors(w, eta)
    np.testing.assert_allclose(b1, (1.0 - c) * b0, rtol=1e-10, atol=1e-12)  # Eq. 15
    # c_ij = 2 eta^2 L pi_{-ij}^2
    np.testing.assert_allclose(c, 2 * eta**2 * sc.loss(w)[:, None, None] * sc.leave_two_out_products(w) ** 2,
                               rtol=1e-12)


# ----------------------------------------------------------------------------- GFS


@pytest.mark.parametrize("depth", [2, 3, 4, 5, 6])
def test_gfs_matches_gradient_flow_integration(depth):
    rng = np.random.default_rng(10 + depth)
    w = jnp.asarray(_random_weights(rng, 10, depth))
    w_ode, _ = sc.gradient_flow_ode(w)
    np.testing.assert_allclose(sc.gfs(w), w_ode, atol=1e-10, rtol=0)
    np.testing.assert_allclose(sc.gfs_sharpness(w), sc.sharpness(w_ode), rtol=1e-10)


def test_gfs_is_a_minimum_on_the_class_with_phi_its_sharpness():
    rng = np.random.default_rng(2)
    w = jnp.asarray(_random_weights(rng, 200, 4, spread=1.5))
    s = sc.gfs(w)
    np.testing.assert_allclose(sc.product(s), 1.0, rtol=1e-13)
    np.testing.assert_allclose(sc.balances(s), sc.balances(w), atol=1e-10 * float(jnp.max(w**2)))
    np.testing.assert_array_equal(jnp.sign(s), jnp.sign(w))
    dense = jnp.linalg.eigvalsh(jax.vmap(jax.hessian(sc.loss))(s))[:, -1]
    np.testing.assert_allclose(sc.gfs_sharpness(w), dense, rtol=1e-11)


def test_closed_forms_depth2_and_zhu_slice():
    rng = np.random.default_rng(3)
    w2 = _random_weights(rng, 500, 2, spread=2.0)
    np.testing.assert_allclose(sc.gfs_sharpness(w2), sc.gfs_sharpness_depth2(w2), rtol=1e-13)
    w4 = sc.slice_point(rng.uniform(4, 60, 500), rng.uniform(1e-3, 20, 500))
    np.testing.assert_allclose(sc.gfs_sharpness(w4), sc.slice_sharpness(w4), rtol=1e-13)
    np.testing.assert_allclose(sc.slice_sharpness(sc.slice_point(25.0, 0.8)), 25.0, rtol=1e-14)
    np.testing.assert_allclose(sc.product(sc.slice_point(25.0, 0.8)), 0.8, rtol=1e-14)


def test_root_find_extremes_and_non_positive_product():
    w = jnp.array([[1e3, 1e-3], [1e-8, 1e8], [1.0, 1.0], [1e-5, 1e-5], [3.0, 3.0]])
    np.testing.assert_allclose(sc.gfs_sharpness(w), sc.gfs_sharpness_depth2(w), rtol=1e-13)
    assert np.isnan(sc.gfs_sharpness(jnp.array([-1.0, 2.0])))
    assert np.all(np.isnan(sc.gfs(jnp.array([0.0, 2.0, 1.0]))))
    # ties in the smallest |w_i| (several d_i = 0) and D = 6
    w6 = jnp.array([0.5, 0.5, -0.5, -2.0, 3.0, 1.0])
    assert abs(float(sc.product(sc.gfs(w6))) - 1.0) < 1e-13


def test_class_point_and_gpgd():
    rng = np.random.default_rng(4)
    w = jnp.asarray(_random_weights(rng, 100, 4))
    x = sc.class_point(w, 0.7)
    np.testing.assert_allclose(sc.product(x), 0.7, rtol=1e-13)
    np.testing.assert_allclose(sc.gfs_sharpness(x), sc.gfs_sharpness(w), rtol=1e-12)
    eta = 1.2 / sc.gfs_sharpness(w)  # eta phi = 1.2
    g = sc.gpgd(w, eta)
    ok = sc.product(sc.gd_step(w, eta)) > 0
    np.testing.assert_allclose(sc.product(g)[ok], sc.product(sc.gd_step(w, eta))[ok], rtol=1e-12)
    np.testing.assert_allclose(sc.gfs_sharpness(g)[ok], sc.gfs_sharpness(w)[ok], rtol=1e-12)
    np.testing.assert_allclose(sc.gpgd_product_map(w, sc.product(w), eta), sc.gd_product(w, eta), rtol=1e-12)
    # h(1) = 1 and h'(1) = 1 - eta phi (autodiff through the root-find)
    w0 = w[0]
    e0 = eta[0]
    h = lambda p: sc.gpgd_product_map(w0, p, e0)  # noqa: E731
    assert abs(float(h(1.0)) - 1.0) < 1e-14
    np.testing.assert_allclose(jax.grad(h)(1.0), 1 - e0 * sc.gfs_sharpness(w0), rtol=1e-9)


def test_validation_errors():
    with pytest.raises(ValueError, match="D in"):
        sc.gfs(jnp.array([1.0]))
    with pytest.raises(ValueError, match="eta"):
        sc.gd_step(jnp.array([1.0, 2.0]), -0.1)
    with pytest.raises(ValueError, match="phi0"):
        sc.slice_point(3.0, 0.5)
    with pytest.raises(ValueError, match="pi0"):
        sc.slice_point(10.0, 0.0)
    with pytest.raises(ValueError, match="slice"):
        sc.slice_sharpness(jnp.array([1.0, 2.0, 3.0, 4.0]))
    with pytest.raises(ValueError, match="solver"):
        sc.gradient_flow_ode(jnp.array([1.0, 2.0]), solver="euler")
    with pytest.raises(ValueError, match="num_grid"):
        inv.invariant_set_test(jnp.array([1.0, 2.0]), 0.1, num_grid=3)
    with pytest.raises(ValueError, match="form"):
        inv.less_unbalanced(jnp.ones(3), jnp.ones(3), form="pairs")


# ----------------------------------------------------------------------------- invariant set


def test_membership_of_the_figure_2_start():
    m = inv.invariant_set_test(jnp.asarray(FIG2_W0), 0.1)
    assert bool(m.member)
    # values recorded when the test was first built (regression, 3 decimals)
    np.testing.assert_allclose([m.pi_bar, m.pi_under], [1.262, 1.831], atol=6e-4)


def test_pi_bar_against_dense_sampling_of_the_class():
    rng = np.random.default_rng(5)
    for w in _random_weights(rng, 5, 4, spread=0.8):
        w = np.abs(w)
        eta = 2.4 / float(sc.gfs_sharpness(jnp.asarray(w)))
        m = inv.invariant_set_test(jnp.asarray(w), eta)
        u1 = float(sc.class_log_shift(jnp.asarray(w), 1.0))
        d = w**2 - np.min(w**2)
        us = np.linspace(u1 - 60, u1, 400001)[:-1]
        x = np.sqrt(d[None] + np.exp(us)[:, None])
        brute = float(np.max(np.asarray(sc.gd_product(jnp.asarray(x), eta))))
        assert float(m.pi_bar) >= brute - 1e-12 * brute
        assert float(m.pi_bar) <= brute + 1e-6 * brute
        # pi_under: the smallest GD factor vanishes there
        xu = sc.class_point(jnp.asarray(w), m.pi_under)
        c = eta * (m.pi_under - 1) * m.pi_under
        np.testing.assert_allclose(c / float(jnp.min(xu**2)), 1.0, rtol=1e-10)


def test_membership_is_monotone_in_eta_on_samples():
    # Lemma I.1 on a small sample: S_eta is contained in S_eta' for eta' < eta.
    rng = np.random.default_rng(6)
    (s,) = sp.sample_invariant(rng, 100, depths=(4,))
    assert s.w.shape == (100, 4)
    smaller = inv.in_invariant_set(jnp.asarray(s.w), jnp.asarray(s.eta * rng.uniform(0.2, 1.0, 100)))
    assert bool(jnp.all(smaller))


def test_orders():
    y = jnp.array([3.0, 2.0, 1.0])
    assert bool(inv.less_unbalanced(jnp.array([2.5, 2.0, 1.5]), y))
    assert not bool(inv.less_unbalanced(jnp.array([4.0, 2.0, 1.0]), y))
    # consecutive gaps shrink => all pairs shrink
    assert bool(inv.less_unbalanced(jnp.array([2.5, 2.0, 1.5]), y, form="all_pairs"))
    assert bool(inv.log_majorized(jnp.array([2.0, 2.0]), jnp.array([4.0, 1.0])))
    assert not bool(inv.log_majorized(jnp.array([4.0, 1.0]), jnp.array([2.0, 2.0])))
    assert not bool(inv.log_majorized(jnp.array([2.0, 2.1]), jnp.array([4.0, 1.0])))  # products differ
    rng = np.random.default_rng(7)
    x, yy = sp.log_majorized_pair(rng, 200, 5)
    assert bool(jnp.all(inv.log_majorized(x, yy)))
    x, yy = sp.less_unbalanced_pair(rng, 200, 5)
    assert bool(jnp.all(inv.less_unbalanced(x, yy)))
    np.testing.assert_allclose(np.prod(x, 1), np.prod(yy, 1), rtol=1e-12)


# ----------------------------------------------------------------------------- runs


def test_gd_run_and_scheduled_run():
    run = dyn.gd_run(FIG2_W0, 0.1, 400)
    ref = gd.gd_trajectory(sc.loss, jnp.asarray(FIG2_W0), 0.1, 400)
    np.testing.assert_allclose(run.params, ref.params, rtol=1e-10, atol=1e-12)
    assert run.phi.shape == (401,) and int(run.diverged_at) == -1
    assert dyn.max_relative_rise(run.phi) <= 1e-12
    sched = dyn.scheduled_gd_run(FIG2_W0, np.full(400, 0.1))
    np.testing.assert_allclose(sched.params, run.params, rtol=1e-12)
    batch = dyn.gd_runs(np.stack([FIG2_W0, FIG2_W0]), np.array([0.1, 0.1]), 400)
    np.testing.assert_allclose(batch.phi[1], run.phi, rtol=1e-12)


def test_slice_grid_agrees_with_single_runs():
    g = dyn.slice_grid(np.array([25.0, 24.5]), np.array([0.8, 2.679]), 0.1, 2000)
    for k, (phi0, pi0) in enumerate([(25.0, 0.8), (24.5, 2.679)]):
        run = dyn.gd_run(sc.slice_point(phi0, pi0), 0.1, 2000)
        np.testing.assert_allclose(g.phi[k], run.phi[-1], rtol=1e-10)
        t, loss = dyn.crossing(run, 20.0)
        assert g.cross_step[k] == t
        np.testing.assert_allclose(g.cross_loss[k], loss, rtol=1e-10)
        np.testing.assert_allclose(g.worst_rise[k], dyn.max_relative_rise(run.phi), atol=1e-12)


def test_gpgd_orbits_and_periods():
    w = jnp.asarray(sc.slice_point(np.array([19.0, 21.0]), 0.9))  # below / above 2/eta = 20
    orbits, diverged = dyn.gpgd_orbits(w, 0.1, burn_in=2000, keep=64)
    assert not diverged.any()
    periods = dyn.detect_period(orbits)
    assert periods[0] == 1 and abs(orbits[0, -1] - 1.0) < 1e-10
    assert periods[1] == 2
    with pytest.raises(ValueError, match="max_period"):
        dyn.detect_period(orbits, max_period=40)


def test_results_are_the_same_inside_a_fused_jit():
    # A fused XLA kernel may round w_i^2 differently in two places; a gap of -1e-18 once made
    # d_i + e^u negative and the root-find return its first bracket end (no iteration).
    rng = np.random.default_rng(8)
    w = jnp.asarray(_random_weights(rng, 512, 3, spread=0.8))
    eta = jnp.asarray(rng.uniform(0.1, 0.4, 512))
    np.testing.assert_allclose(jax.jit(sc.gfs_sharpness)(w), sc.gfs_sharpness(w), rtol=1e-13)
    np.testing.assert_allclose(jax.jit(lambda v: sc.class_log_shift(v, 1.0))(w), sc.class_log_shift(w, 1.0),
                               rtol=1e-12, atol=1e-14)
    w1 = jax.jit(sc.gd_step)(w, eta)
    m = inv.invariant_set_test(w1, eta)
    ok = sc.product(w1) > 0  # elsewhere NaN by design
    assert bool(jnp.all(jnp.isfinite(m.pi_bar[ok]))) and bool(jnp.all(jnp.isfinite(m.pi_under[ok])))
    idx = np.flatnonzero(np.asarray(ok))[:3]
    single = [inv.invariant_set_test(w1[k], eta[k]) for k in idx]
    np.testing.assert_allclose([float(s.pi_bar) for s in single], m.pi_bar[idx], rtol=1e-12)
    np.testing.assert_allclose([float(s.phi) for s in single], sc.gfs_sharpness(w1[idx]), rtol=1e-12)
