"""Unit tests of eoslib.papers.product_stability.limits: Theorem 5.2 and the phases."""

import math

import numpy as np
import pytest

from eoslib import losses
from eoslib.papers.product_stability import closed_forms, limits

BCE = losses.soft_bce(0.2)
L2 = losses.multilayer_squared(2)


def test_predicted_limit_sharpness():
    m = closed_forms.minimum_derivatives(BCE)
    assert limits.predicted_limit_sharpness(BCE, 0.05) == pytest.approx(40 - 3 * 0.05 * m.l2**4 / m.alpha, rel=1e-15)
    assert limits.predicted_limit_sharpness(BCE, 0.05) == pytest.approx(39.99630769, abs=1e-8)
    assert limits.predicted_limit_lambda(BCE, 0.05) == pytest.approx(0.05 * limits.predicted_limit_sharpness(BCE, 0.05) / m.l2)
    assert limits.phase2_lag(BCE, 0.05) == pytest.approx(limits.predicted_limit_lambda(BCE, 0.05) - 2 / m.l2, rel=1e-9)
    assert limits.phase2_lag(BCE, 0.05) == pytest.approx(-1.1538e-3, rel=1e-4)


def test_phase3_rate_and_fit():
    G = limits.limit_gap_coefficient(BCE)
    assert limits.predicted_phase3_rate(BCE, 0.05) == pytest.approx(math.log1p(-G * 0.05**2), rel=1e-14)
    t = np.arange(5000)
    u = 0.3 * (-(1 - 2e-3)) ** t  # alternating geometric decay
    slope, n = limits.fit_log_rate(u, lo=1e-4, hi=1e-1, record_every=1)
    assert slope == pytest.approx(math.log(1 - 2e-3), rel=1e-10)
    assert n > 100
    slope2, _ = limits.fit_log_rate(u[::10], lo=1e-4, hi=1e-1, record_every=10)
    assert slope2 == pytest.approx(math.log(1 - 2e-3), rel=1e-10)
    with pytest.raises(ValueError, match="at least 3"):
        limits.fit_log_rate(u, lo=1e-30, hi=1e-29)
    with pytest.raises(ValueError, match="alpha"):
        limits.predicted_phase3_rate(losses.squared(), 0.05)


def test_richardson_remainder_recovers_second_order_term():
    c, v0 = -7.3, 0.25
    for h in (0.1, 0.05):
        est = limits.richardson_remainder(v0 + c * h**2 + 5 * h**3, v0 + c * (h / 2) ** 2 + 5 * (h / 2) ** 3)
        assert est == pytest.approx(abs(c) * h**2, rel=0.2)
    arr = limits.richardson_remainder(np.array([1.0, 2.0]), np.array([0.25, 2.0]), order=1)
    assert np.allclose(arr, [1.5, 0.0])
    with pytest.raises(ValueError, match="order"):
        limits.richardson_remainder(1.0, 0.5, order=0)
