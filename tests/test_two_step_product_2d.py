"""Unit tests of eoslib.papers.two_step.product_2d: balancing statistics and the 2-D map."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import gd, orbits
from eoslib.papers.two_step import product_2d as p2
from eoslib.papers.two_step import quartic as qu


def test_two_d_orbit_multipliers_are_flip_and_imbalance_rates():
    K = 1.1
    f = p2.product_2d(1.0)
    d1, _ = qu.orbit_deltas(K, 1.0)
    orb = orbits.periodic_orbit(gd.gd_step(f, K), jnp.asarray([d1, d1]), 2)
    assert bool(orb.converged)
    m = np.sort(np.real(np.asarray(orb.multipliers)))
    np.testing.assert_allclose(m, np.sort([qu.orbit_multiplier(K), p2.imbalance_rate(K)]), atol=1e-12)


def test_balancing_stats_small_batch():
    x0, y0 = p2.init_from_product_imbalance([0.2, 0.2], [-0.8, -0.8])
    assert x0 * y0 == pytest.approx([0.2, 0.2]) and x0 - y0 == pytest.approx([-0.8, -0.8])
    st = p2.balancing_stats(1.0, [1.1, 1.2], x0, y0, 3000)
    assert np.all(st.positive) and not np.any(st.diverged)
    assert np.all(st.p_violations == 0) and np.all(st.off_p_increases == 0) and np.all(st.eq66_violations == 0)
    np.testing.assert_allclose(st.late_ratio, p2.imbalance_rate(np.array([1.1, 1.2])), rtol=1e-4)
    assert st.final_imbalance.max() < 1e-12
    np.testing.assert_allclose(np.sort([st.final_x[0], st.final_y[0]]), 2 * [st.final_x[0]], atol=1e-13)
    bad = p2.balancing_stats(1.0, 1.1, 2.0, 0.55, 200)  # large imbalance: loses positivity
    assert not bad.positive[0] and bad.eq66_violations[0] > 0
    with pytest.raises(ValueError, match="K"):
        p2.balancing_stats(1.0, 2.5, 1.0, 1.0, 10)


def test_product_2d_map_is_the_gd_step():
    rng = np.random.default_rng(3)
    f = p2.product_2d(1.5)
    step = p2.product_2d_map(1.5)(0.7)
    for th in rng.uniform(0.1, 2.0, size=(5, 2)):
        np.testing.assert_allclose(step(jnp.asarray(th)), gd.gd_step(f, 0.7)(jnp.asarray(th)), rtol=1e-14)
    with pytest.raises(ValueError, match="mu"):
        p2.product_2d_map(-1.0)
