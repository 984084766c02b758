"""Unit tests of eoslib.papers.two_step.one_d: Theorem 1 and Lemma 1 windows, roots, GD tails."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from eoslib.losses import product_stability
from eoslib.papers.two_step import one_d as od
from eoslib.papers.two_step import quartic as qu

QUARTIC = od.quartic(1.0)


def test_taylor_polynomial_has_prescribed_derivatives():
    f = od.taylor_polynomial((1.5, 0.7, -2.0, 3.0), center=0.3)
    d = od.derivatives_at(f, max_order=6)
    np.testing.assert_allclose(d, [0, 0, 1.5, 0.7, -2.0, 3.0, 0.0], atol=1e-12)
    assert float(product_stability(f)) == pytest.approx(3 * 0.7**2 - 1.5 * (-2.0), rel=1e-12)
    assert float(product_stability(od.taylor_polynomial((1, 1, 2)))) == pytest.approx(1.0, rel=1e-12)


def test_quartic_and_sine_constants():
    for mu in (1.0, 2.0):
        f = od.quartic(mu)
        d = od.derivatives_at(f)
        np.testing.assert_allclose(d[1:], [0, 2 * mu, 6 * math.sqrt(mu), 6], rtol=1e-12, atol=1e-12)
        assert float(product_stability(f)) == pytest.approx(96 * mu, rel=1e-12)
    s = od.scaled_sine(2.0)
    np.testing.assert_allclose(od.derivatives_at(s)[1:], [0, 2, 0, -2], atol=1e-12)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, "a"])
def test_quartic_rejects_bad_mu(bad):
    with pytest.raises(ValueError, match="mu"):
        od.quartic(bad)


def test_taylor_rejects_non_minimum():
    with pytest.raises(ValueError, match="derivs"):
        od.taylor_polynomial((-1.0, 2.0))


# --------------------------------------------------------------------------- Theorem 1, Lemma 1


def test_theorem_1_root_for_quartic_matches_sheet():
    lo, hi = od.theorem_1_window(QUARTIC, 1e-2)
    assert (lo, hi) == pytest.approx((1.0, 2 / 1.94), rel=1e-14)
    r = od.two_step_root(QUARTIC, 1.0 - 1e-2, (lo, hi))
    assert r.bracketed and r.sign_changes == 1
    assert r.eta == pytest.approx(1.000389, abs=5e-7)
    assert abs(od.two_step_residual(QUARTIC, 0.99, r.eta)) < 1e-15
    assert r.one_step_gap > 1e-3  # a genuine 2-cycle, not the fixed point


def test_theorem_1_no_root_when_stability_number_negative():
    f = od.taylor_polynomial((1.0, 1.0, 4.0))  # C = -1
    w = od.theorem_1_window(f, 1e-2)
    r = od.two_step_root(f, -1e-2, w)
    assert not r.bracketed and r.sign_changes == 0 and math.isnan(r.eta)
    # the unstable (subcritical) cycle sits below the threshold instead
    below = od.two_step_root(f, -1e-2, (2 / 1.01, 2.0))
    assert below.bracketed and 2 / 1.01 < below.eta < 2.0


def test_theorem_1_window_rejects_bad_eps():
    with pytest.raises(ValueError, match="eps"):
        od.theorem_1_window(QUARTIC, -1e-2)  # f''' > 0 needs eps > 0
    with pytest.raises(ValueError, match="eps"):
        od.theorem_1_window(QUARTIC, 0.5)  # f'' - eps f''' < 0
    with pytest.raises(ValueError, match="f'''"):
        od.theorem_1_window(od.scaled_sine(1.0), 1e-2)  # f''' = 0 (round-off), Lemma 1's case


def test_lemma_1_sine_and_fifth_order():
    s = od.scaled_sine(1.0)
    w = od.lemma_1_window(s, 0.1, 4)
    assert w == pytest.approx((2.0, 2 / 0.99), rel=1e-13)
    r = od.two_step_root(s, s.z_star - 0.1, w)
    assert r.eta == pytest.approx(2.00334, abs=5e-6)
    for f6, has_root in ((-1.0, True), (1.0, False)):
        f = od.taylor_polynomial((1.0, 0.0, 0.0, 1.0, f6))
        w = od.lemma_1_window(f, 0.1, 5)
        r = od.two_step_root(f, -0.1, w)
        assert r.bracketed is has_root


def test_lemma_1_window_rejects():
    with pytest.raises(ValueError, match="k"):
        od.lemma_1_window(od.scaled_sine(1.0), 0.1, 3)
    with pytest.raises(ValueError, match="f\\^\\(4\\)"):
        od.lemma_1_window(od.taylor_polynomial((1.0, 0.0, 6.0)), 0.1, 4)  # f'''' > 0
    with pytest.raises(ValueError, match="eps"):
        od.lemma_1_window(od.taylor_polynomial((1.0, 0.0, 0.0, 1.0, -1.0)), -0.1, 5)


def test_two_step_root_rejects_bad_window():
    with pytest.raises(ValueError, match="window"):
        od.two_step_root(QUARTIC, 0.99, (1.1, 1.0))


def test_two_cycle_indicator_vanishes_on_the_orbit():
    d1, d2 = qu.orbit_deltas(1.05, 1.0)
    q = od.two_cycle_indicator(QUARTIC, 1.05, [d1, d2, 1.0 + 1e-7])
    assert abs(q[0]) < 1e-12 and abs(q[1]) < 1e-12
    assert q[2] == pytest.approx(2 - 1.05 * 2, abs=1e-5)  # Q(x_bar) = 2 - eta f''


def test_gd_tail_and_period():
    tail = od.gd_tail(QUARTIC, 1.01, [0.8, 1.02], 3000, keep=4)
    assert np.all(tail.diverged_at == -1)
    np.testing.assert_array_equal(od.tail_period(tail.tail), [2, 2])
    np.testing.assert_allclose(np.sort(tail.tail[0, :2]), qu.orbit_deltas(1.01, 1.0), atol=1e-12)
    quad = od.gd_tail(od.taylor_polynomial((1.0,)), 2.02, 0.01, 2000, keep=4)
    assert quad.diverged_at[0] > 0 and od.tail_period(quad)[0] == -1
    assert np.all(np.isfinite(quad.tail))  # frozen at the last valid iterate, never NaN
    with pytest.raises(ValueError, match="eta"):
        od.gd_tail(QUARTIC, -1.0, 0.5, 10)
