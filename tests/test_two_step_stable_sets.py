"""Unit tests of eoslib.papers.two_step.stable_sets: the stable set of Damian et al. (Props 5-7)."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from eoslib.papers.two_step import stable_sets as ss


def test_stable_arc_and_projection():
    lo, hi = ss.stable_arc(0.9)
    assert (lo, hi) == pytest.approx((0.7917001, 1.2631046), abs=1e-7)
    S, _, dot, gnorm = ss.stable_set_2d(np.array([lo, hi]), 1 / np.array([lo, hi]))
    np.testing.assert_allclose(S, 2 / 0.9, rtol=1e-12)
    assert np.all(dot <= 1e-15) and np.all(gnorm <= 1e-15)  # minimisers: grad L = 0
    assert ss.stable_arc(1.1) is None
    # diagonal x = y < 1/sqrt2: gradient orthogonal to the top eigenvector, S = 1 - x^2
    S, _, dot, gnorm = ss.stable_set_2d(0.5, 0.5)
    assert float(S) == pytest.approx(0.75, rel=1e-12) and float(dot / gnorm) < 1e-12
    _, _, dot, gnorm = ss.stable_set_2d(0.9, 0.9)  # x = y > 1/sqrt2: gradient along u1
    assert float(dot / gnorm) == pytest.approx(1.0, abs=1e-12)
    p = ss.project_onto_arc([[1.8, 0.6], [1.0, 1.0]], (lo, hi))
    np.testing.assert_allclose(p[0], [hi, 1 / hi], rtol=1e-12)
    np.testing.assert_allclose(p[1], [1.0, 1.0], atol=1e-12)


def test_stable_sets_propositions_5_to_7():
    x = np.linspace(0.01, 3, 3000)
    assert not ss.quartic_stable_set(np.array([1.0]), 1.1).any()
    assert ss.quartic_stable_set(np.array([1.0]), 0.9).all()
    assert not ss.quartic_stable_set(x, 1.1).any()
    lo, hi = ss.stable_arc(0.9)
    np.testing.assert_allclose(np.array([lo, hi]) ** 2 + np.array([lo, hi]) ** -2, 2 / 0.9, rtol=1e-13)
    inside, S = ss.product_2d_stable_set(np.array([1.0, 1.2, 1.3]), 1 / np.array([1.0, 1.2, 1.3]), 0.9)
    np.testing.assert_array_equal(inside, [True, True, False])
    assert not ss.product_2d_stable_set(np.array([1.0]), np.array([1.0]), 1.1)[0].any()


def test_closed_form_hessian_matches_autodiff():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0.1, 2.0, size=(6, 2))
    H = ss.product_2d_hessian(pts[:, 0], pts[:, 1], 1.3)
    S, S2, _, _ = ss.stable_set_2d(pts[:, 0], pts[:, 1], 1.3)
    ev = np.linalg.eigvalsh(H)
    np.testing.assert_allclose(ev[:, 1], S, rtol=1e-12)
    np.testing.assert_allclose(ev[:, 0], S2, rtol=1e-10, atol=1e-12)


def test_stable_set_rejects_bad_input():
    with pytest.raises(ValueError, match="eta"):
        ss.stable_arc(-1.0)
    with pytest.raises(ValueError, match="tol"):
        ss.product_2d_stable_set(1.0, 1.0, 0.9, tol=2.0)
    with pytest.raises(ValueError, match="arc"):
        ss.project_onto_arc([[1.0, 1.0]], (2.0, 1.0))
