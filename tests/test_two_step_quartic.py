"""Unit tests of eoslib.papers.two_step.quartic: the period-2 orbit, its multiplier, the cascade."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import gd, orbits
from eoslib.papers.two_step import one_d as od
from eoslib.papers.two_step import quartic as qu


@pytest.mark.parametrize("K,mu", [(1.01, 1.0), (1.1, 1.0), (1.2, 2.0)])
def test_orbit_deltas_are_a_gd_two_cycle(K, mu):
    eta = K / mu
    d1, d2 = qu.orbit_deltas(eta, mu)
    assert d1 < math.sqrt(mu) < d2
    assert d1 * d2 == pytest.approx(1 / eta, rel=1e-14)
    assert d1**2 + d2**2 == pytest.approx(mu + 1 / eta, rel=1e-14)
    step = gd.gd_step(od.quartic(mu).fn, eta)
    assert float(step(jnp.asarray(d1))) == pytest.approx(d2, abs=1e-14)
    assert float(step(jnp.asarray(d2))) == pytest.approx(d1, abs=1e-14)
    assert qu.eta_from_delta(np.array([d1, d2]), mu) == pytest.approx([eta, eta], rel=1e-13)
    m = orbits.stability_multipliers(step, jnp.asarray(d1), 2)
    assert float(m[0]) == pytest.approx(qu.orbit_multiplier(K), abs=1e-12)


def test_orbit_functions_reject_bad_input():
    with pytest.raises(ValueError, match="eta \\* mu"):
        qu.orbit_deltas(0.9, 1.0)
    with pytest.raises(ValueError, match="K"):
        qu.orbit_multiplier(0.5)
    with pytest.raises(ValueError, match="delta"):
        qu.eta_from_delta(2.0, 1.0)


def test_period_doubling_of_the_two_cycle_is_sqrt5_minus_1():
    d1, _ = qu.orbit_deltas(1.2, 1.0)
    p = qu.period_doubling_point(2, 1.2, 1.26, d1, num_grid=7)
    assert p.K == pytest.approx(qu.K_FLIP, abs=1e-12)
    np.testing.assert_allclose(np.sort(p.orbit), qu.orbit_deltas(qu.K_FLIP, 1.0), atol=1e-10)
    with pytest.raises(ValueError, match="does not cross"):
        qu.period_doubling_point(2, 1.05, 1.2, qu.orbit_deltas(1.05, 1.0)[0], num_grid=5)


def test_lyapunov_sign():
    lam = qu.lyapunov_exponent([1.1, 1.35], num_steps=4000, burn=1000)
    assert lam[0] == pytest.approx(0.5 * math.log(abs(qu.orbit_multiplier(1.1))), abs=1e-6)
    assert lam[1] > 0.05


def test_orbit_points_identities():
    K = np.array([1.0, 1.05, 1.1, 1.2])
    for mu in (1.0, 2.5):
        d1, d2 = qu.orbit_deltas(K / mu, mu)
        eta = K / mu
        np.testing.assert_allclose(d1 * d2, 1 / eta, rtol=1e-14)
        np.testing.assert_allclose(d1 + d2, np.sqrt(mu + 3 / eta), rtol=1e-14)
        np.testing.assert_allclose(d1**2 + d2**2, mu + 1 / eta, rtol=1e-14)
        # period 2 of x -> x - eta x (x^2 - mu)
        f = lambda x: x - eta * x * (x * x - mu)  # noqa: E731
        np.testing.assert_allclose(f(d1), d2, rtol=1e-13)
        np.testing.assert_allclose(f(d2), d1, rtol=1e-13)
