"""eoslib.orbits: Chen & Bruna Theorem 2 orbit, multipliers, continuation, bifurcation by GD."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import gd, orbits
from eoslib.losses import soft_bce

K_MAX = math.sqrt(4.5) - 1  # Theorem 2: 1 < K < sqrt(4.5) - 1


def delta(eta, mu):
    """Closed-form period-2 orbit of GD on 1/4 (x^2 - mu)^2 (two_step sheet, section 0)."""
    a, b = math.sqrt(mu + 3 / eta), math.sqrt(mu - 1 / eta)
    return 0.5 * (a - b), 0.5 * (a + b)


class Quartic:
    """f(x) = 1/4 (x^2 - mu)^2 (hashable by mu, so jit caches are shared between tests)."""

    def __init__(self, mu):
        self.mu = mu

    def __call__(self, x):
        return 0.25 * (x**2 - self.mu) ** 2

    def __eq__(self, other):
        return isinstance(other, Quartic) and other.mu == self.mu

    def __hash__(self):
        return hash(("Quartic", self.mu))


def gd_map(f):
    return lambda eta: gd.gd_step(f, eta)


@pytest.mark.parametrize("K,mu", [(1.01, 1.0), (1.05, 2.0), (1.1, 1.0), (1.12, 2.0)])
def test_theorem_2_orbit_by_newton(K, mu):
    assert 1 < K < K_MAX
    eta = K / mu
    # Newton from 3% off the orbit (a guess near sqrt(mu) would find the fixed point).
    orb = orbits.periodic_orbit(gd.gd_step(Quartic(mu), eta), 0.97 * delta(eta, mu)[0])
    assert bool(orb.converged) and float(orb.residual) < 1e-13
    np.testing.assert_allclose(np.sort(orb.points), delta(eta, mu), rtol=1e-12)
    # Eq. (4): eta = 1 / (delta^2 (sqrt(mu / delta^2 - 3/4) + 1/2)) at both points.
    for d in np.asarray(orb.points):
        assert 1 / (d * d * (math.sqrt(mu / (d * d) - 0.75) + 0.5)) == pytest.approx(eta, rel=1e-12)
    # Two-step multiplier 9 - 2 (1 + K)^2 (positive: monotone convergence for K < sqrt(4.5) - 1).
    np.testing.assert_allclose(orb.multipliers, [9 - 2 * (1 + K) ** 2], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        orbits.stability_multipliers(gd.gd_step(Quartic(mu), eta), orb.points[1], 2),
        orb.multipliers, rtol=1e-12)


@pytest.mark.parametrize("K", [1.02, 1.08, 1.12])
def test_theorem_2_orbit_reached_by_long_gd_runs(K):
    mu = 2.0
    eta = K / mu
    f = Quartic(mu)
    # 37 starting points in (0, sqrt(mu)); none of them hits sqrt(mu) exactly.
    x0s = jnp.linspace(0.02, 0.98, 37) * math.sqrt(mu)
    run = gd.sweep_initial_points(f, x0s, eta, 4000)
    assert not np.any(run.diverged)
    x_T = run.params[:, -1]
    x_T1 = jax.vmap(gd.gd_step(f, eta))(x_T)
    pairs = np.sort(np.stack([x_T, x_T1], axis=1), axis=1)
    np.testing.assert_allclose(pairs, np.broadcast_to(delta(eta, mu), pairs.shape), rtol=1e-10)
    # The same orbit as Newton's.
    orb = orbits.periodic_orbit(gd.gd_step(f, eta), float(x_T[0]))
    np.testing.assert_allclose(np.sort(orb.points), pairs[0], rtol=1e-12)


def test_two_dimensional_balanced_orbit():
    """Proposition 3: GD on 1/2 (xy - mu)^2 has the balanced orbit (d1, d1), (d2, d2)."""
    mu, K = 1.0, 1.1
    eta = K / mu
    f = lambda p: 0.5 * (p[0] * p[1] - mu) ** 2  # noqa: E731
    x_T, div = gd.gd_final(f, jnp.array([0.2, 1.0]), eta, 3000)
    assert int(div) == -1
    orb = orbits.periodic_orbit(gd.gd_step(f, eta), x_T)
    assert bool(orb.converged)
    d1, d2 = delta(eta, mu)
    np.testing.assert_allclose(np.sort(orb.points, axis=0), [[d1, d1], [d2, d2]], rtol=1e-12)
    np.testing.assert_allclose(sorted(np.asarray(orb.points)[:, 0]), [0.814552, 1.116063], atol=1e-6)
    # Multipliers: 9 - 2 (1+K)^2 along the diagonal, 3 - 2K across it (two_step sheet).
    m = np.asarray(orb.multipliers)
    assert m.dtype == np.complex128 and np.allclose(m.imag, 0.0)
    np.testing.assert_allclose(np.sort(m.real), sorted([9 - 2 * (1 + K) ** 2, 3 - 2 * K]), rtol=1e-10)


@pytest.mark.parametrize("predictor", ["previous", "secant"])
def test_continuation_follows_the_closed_form_branch(predictor):
    mu = 2.0
    Ks = np.linspace(1.02, 1.2, 19)
    guess = 1.01 * delta(Ks[0] / mu, mu)[1]
    branch = orbits.continue_orbit(gd_map(Quartic(mu)), Ks / mu, guess, predictor=predictor)
    points, converged, mult = branch  # unpacks as a 3-tuple
    assert points.shape == (19, 2) and mult.shape == (19, 1)
    assert np.all(converged)
    expected = np.array([delta(K / mu, mu) for K in Ks])
    np.testing.assert_allclose(np.sort(points, axis=1), expected, rtol=1e-12)
    np.testing.assert_allclose(mult[:, 0], 9 - 2 * (1 + Ks) ** 2, rtol=1e-9, atol=1e-12)
    # The branch is followed continuously (no label swaps between neighbours).
    assert np.all(np.abs(np.diff(points[:, 0])) < 0.1)


def test_bce_flip_orbit_matches_sheet_table():
    """Product-stability sheet, Theorem 4.2 table: half-amplitude of the 1-D 2-cycle."""
    loss = soft_bce(0.2)
    dl = jax.grad(loss)
    measured = {0.01: 0.16976, 0.04: 0.33909, 0.1: 0.53488}  # from 2e5 GD steps
    for mu_exc, a_table in measured.items():
        eta = (2 + mu_exc) / 0.16
        z0 = loss.z_star + a_table
        orb = orbits.periodic_orbit(lambda z, eta=eta: z - eta * dl(z), z0)
        assert bool(orb.converged)
        p = np.asarray(orb.points)
        assert abs(0.5 * abs(p[0] - p[1]) - a_table) < 1e-5
        assert abs(float(dl(p[0]) + dl(p[1]))) < 1e-15  # l'(p+) + l'(p-) = 0
        assert 0 < float(orb.multipliers[0]) < 1  # the cycle is attracting (alpha > 0)


def test_bifurcation_by_gd():
    mu = 2.0
    etas = jnp.array([0.9, 1.1, 1.2, 3.0]) / mu  # converge, 2-cycle, 2-cycle, diverge
    tails = orbits.bifurcation_by_gd(gd_map(Quartic(mu)), etas, 0.5, 3000, 4)
    assert tails.shape == (4, 4)
    np.testing.assert_allclose(tails[0], math.sqrt(mu), rtol=1e-12)
    for i in (1, 2):
        np.testing.assert_allclose(np.sort(tails[i, :2]), delta(float(etas[i]), mu), rtol=1e-10)
        np.testing.assert_allclose(tails[i, 2:], tails[i, :2], rtol=1e-12)  # period 2
    assert np.all(np.isnan(tails[3]))


def test_failure_is_reported_not_raised():
    f = Quartic(2.0)
    orb = orbits.periodic_orbit(gd.gd_step(f, 0.55), 0.3, max_iter=1)
    assert not bool(orb.converged) and int(orb.iterations) == 1


def test_period_one_and_pytree_states():
    f = Quartic(2.0)
    fixed = orbits.periodic_orbit(gd.gd_step(f, 0.3), 1.3, period=1)
    np.testing.assert_allclose(fixed.points, [math.sqrt(2.0)], rtol=1e-14)
    np.testing.assert_allclose(fixed.multipliers, [1 - 0.3 * 4.0], rtol=1e-12)  # 1 - eta f''
    g = lambda p: 0.5 * (p[0] * p[1] - 1.0) ** 2  # noqa: E731
    orb = orbits.periodic_orbit(gd.gd_step(g, 1.1), (jnp.asarray(0.8), jnp.asarray(0.82)))
    assert bool(orb.converged)
    assert orb.points[0].shape == (2,) and orb.points[1].shape == (2,)
    np.testing.assert_allclose(np.sort(orb.points[0]), delta(1.1, 1.0), rtol=1e-12)


def test_validation():
    step = gd.gd_step(Quartic(2.0), 0.55)
    cases = [
        (lambda: orbits.periodic_orbit(step, 1.0, period=0), r"period must be an integer in \[1, inf\)"),
        (lambda: orbits.periodic_orbit(step, 1.0, tol=0.0), r"tol must be .*\(0, inf\)"),
        (lambda: orbits.periodic_orbit(step, 1.0, max_iter=0), r"max_iter must be an integer in \[1, inf\)"),
        (lambda: orbits.stability_multipliers(step, 1.0, 0), r"period must be"),
        (lambda: orbits.continue_orbit(gd_map(Quartic(2.0)), jnp.ones((2, 2)), 1.0), r"etas must be"),
        (lambda: orbits.continue_orbit(gd_map(Quartic(2.0)), jnp.ones(2), 1.0, predictor="x"),
         r"predictor=.x. is not allowed; choices: previous\|secant"),
        (lambda: orbits.bifurcation_by_gd(gd_map(Quartic(2.0)), jnp.ones(2), 1.0, 5, 10),
         r"num_steps must be >= keep_last"),
        (lambda: orbits.bifurcation_by_gd(gd_map(Quartic(2.0)), jnp.ones(2), 1.0, 5, 0),
         r"keep_last must be an integer in \[1, inf\)"),
        (lambda: orbits.bifurcation_by_gd(gd_map(Quartic(2.0)), jnp.ones(2), 1.0, 5, 2, max_norm=-1.0),
         r"max_norm must be .*\(0, inf\]"),
    ]
    for call, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            call()
