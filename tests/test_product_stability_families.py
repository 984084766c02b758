"""Unit tests of eoslib.papers.product_stability.families: Section 6 and Table 1."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import losses
from eoslib.papers.product_stability import closed_forms, families, limits

BCE = losses.soft_bce(0.2)
L2 = losses.multilayer_squared(2)


def test_table_1_autodiff_matches_closed_forms():
    for loss, (z_star, l2, l3, l4) in families.table_1_rows():
        m = closed_forms.minimum_derivatives(loss)
        assert m.z_star == pytest.approx(z_star, abs=1e-15)
        got = np.array([m.l2, m.l3, m.l4])
        want = np.array([l2, l3, l4])
        assert np.all(np.abs(got - want) <= 1e-10 * np.maximum(np.abs(want), 1.0)), loss.name
        assert m.alpha == pytest.approx(3 * l3**2 - l2 * l4, rel=1e-10, abs=1e-12)


def test_table_1_printed_numbers():
    # Table 1 as rebuilt (alpha exact, G rounded to 6 digits).
    assert closed_forms.minimum_derivatives(BCE).alpha == pytest.approx(0.026624, rel=1e-12)
    assert limits.limit_gap_coefficient(BCE) == pytest.approx(0.0738462, rel=1e-6)
    assert closed_forms.minimum_derivatives(L2).alpha == pytest.approx(96.0, rel=1e-12)
    assert limits.limit_gap_coefficient(losses.multilayer_squared(3)) == pytest.approx(0.690341, rel=1e-6)


def test_bce_alpha_closed_form_matches_autodiff_on_grid():
    zs = np.linspace(-20.0, 20.0, 41)
    closed = families.bce_closed_form(jnp.asarray(zs))
    for y in (0.2, 0.7):
        loss = losses.soft_bce(y)
        auto = np.asarray(closed_forms.product_stability_at(loss, zs))
        assert auto[20] == pytest.approx(float(losses.product_stability(loss, z_star=0.0)), rel=1e-14)
        # Autodiff goes through 1 - sigmoid(z), which cancels for z >> 0: relative error ~ eps / q.
        tol = np.maximum(1e-10, 10 * np.finfo(float).eps / np.asarray(closed["q"]))
        assert np.all(np.abs(auto - closed["alpha"]) <= tol * closed["alpha"])
        assert np.all(auto > 0)
    assert np.all(np.asarray(closed["alpha"]) > 0)
    assert float(jnp.min(closed["factor"])) == pytest.approx(0.25, abs=1e-15)  # at z = 0


def test_multilayer_alpha_closed_form():
    for n in range(1, 7):
        for c in (0.25, 1.0):
            auto = float(losses.product_stability(losses.multilayer_squared(n, c)))
            assert auto == pytest.approx(families.multilayer_alpha_closed_form(n, c), rel=1e-12, abs=1e-12)
    at_c1 = [families.multilayer_alpha_closed_form(n, 1.0) for n in range(1, 7)]
    assert at_c1 == [0, 1536, 28512, 196608, 840000, 2695680]


def test_eq13_and_beta4_loss():
    lc = losses.log_cosh()
    assert float(families.eq13_ratio(lc, 1e-3, 2.0)) == pytest.approx(1 / 3, rel=1e-5)
    c = families.eq13_constant(lc, 2.0, 0.3, s_min=1e-3)
    assert 0 < c <= 1 / 3
    flat = families.beta4_even_loss()
    d = np.asarray(losses.derivatives(flat, 0.0, 4))
    assert np.allclose(d[2:], [1.0, 0.0, 0.0], atol=1e-12)
    assert float(losses.product_stability(flat)) == pytest.approx(0.0, abs=1e-12)
    assert families.eq13_constant(flat, 4.0, 0.3, s_min=1e-2) > 0.1
    assert float(families.eq13_ratio(flat, 0.01, 2.0)) == pytest.approx(0.15e-4, rel=0.01)
    with pytest.raises(ValueError, match="s_min"):
        families.eq13_constant(lc, 2.0, 0.1, s_min=0.5)


def test_regularity_family_alpha():
    for p in (0.5, 1.0, 1.5, 2.0, 3.0):
        for c in (0.3, 2.0):
            loss = families.regularity_family(p, c, mu=0.7)
            m = closed_forms.minimum_derivatives(loss)
            assert m.z_star == 0.7
            assert m.l2 == pytest.approx(c * p, rel=1e-12)
            assert m.alpha == pytest.approx(families.regularity_family_alpha(p, c), rel=1e-10, abs=1e-10)
    assert np.all(np.sign(families.regularity_family_alpha(np.array([1.0, 2.5]))) == [1, -1])
    # Same parameters -> equal losses (jit caches are reused).
    assert families.regularity_family(1.5, 1.0, 0.0) == families.regularity_family(1.5, 1.0, 0.0)
    with pytest.raises(ValueError, match="p must"):
        families.regularity_family(0.0)
    with pytest.raises(ValueError, match="c must"):
        families.regularity_family_alpha(1.0, -1.0)


def test_regularity_family_derivatives_vectorised():
    p = np.array([0.5, 1.0, 2.0, 3.0])
    d = families.regularity_family_derivatives(p[:, None], np.array([0.5, 2.0])[None, :], -1.0)
    assert d["alpha"].shape == (4, 2)
    assert np.allclose(d["alpha"], families.regularity_family_alpha(p[:, None], np.array([0.5, 2.0])[None, :]),
                       rtol=1e-10, atol=1e-10)
    m = closed_forms.minimum_derivatives(families.regularity_family(3.0, 2.0, -1.0))
    assert d["l4"][3, 1] == pytest.approx(m.l4, rel=1e-12)
    with pytest.raises(ValueError, match="p must"):
        families.regularity_family_derivatives(-1.0, 1.0, 0.0)


def test_rescaled_loss_keeps_curvature_and_scales_lipschitz():
    flat = families.beta4_even_loss()
    lip = 3 * math.pi / 2 - 2  # sup |l'| = lim_{z -> inf} l'(z), l' increasing
    scaled = families.rescaled_loss(flat, 1 / lip)
    d = np.asarray(losses.derivatives(scaled, 0.0, 4))
    assert np.allclose(d[2:], [1.0, 0.0, 0.0], atol=1e-12)
    zs = jnp.linspace(-1e3, 1e3, 2001)
    g = np.abs(np.asarray(jax.vmap(jax.grad(scaled.fn))(zs)))
    assert g.max() <= 1.0 and g.max() > 0.99
    # k-th derivative scales by b^(2 - k).
    b = 2.0
    lc = losses.log_cosh()
    d1 = np.asarray(losses.derivatives(families.rescaled_loss(lc, b), 0.0, 4))
    d0 = np.asarray(losses.derivatives(lc, 0.0, 4))
    assert np.allclose(d1[2:], d0[2:] * b ** (2.0 - np.arange(2, 5)), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="b must"):
        families.rescaled_loss(lc, 0.0)


def test_regularity_alpha_comes_from_losses_product_stability():
    d = families.regularity_family_derivatives(np.array([0.7, 2.5]), 1.3, 0.2)
    for i, p in enumerate((0.7, 2.5)):
        want = float(losses.product_stability(families.regularity_family(p, 1.3, 0.2)))
        assert d["alpha"][i] == pytest.approx(want, rel=1e-12)


def test_bce_closed_form_matches_autodiff_derivatives():
    # l'', l''', l'''' of soft-label BCE do not depend on the label: compare with autodiff of l_y.
    loss = losses.soft_bce(0.2)
    zs = np.linspace(-3.0, 3.0, 13)
    closed = families.bce_closed_form(jnp.asarray(zs))
    auto = np.stack([np.asarray(losses.derivatives(loss.fn, z, 4)) for z in zs])
    for k, key in ((2, "l2"), (3, "l3"), (4, "l4")):
        np.testing.assert_allclose(np.asarray(closed[key]), auto[:, k], rtol=1e-10, atol=1e-13, err_msg=key)
