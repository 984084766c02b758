"""Unit tests of eoslib.papers.two_step.base_models: closed forms vs autodiff, Prop 1 and 2."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from eoslib.losses import product_stability
from eoslib.papers.two_step import base_models as bm
from eoslib.papers.two_step import one_d as od


MODELS = [
    (bm.base_model("square"), [0.5, 1.3]),
    (bm.base_model("sin"), [-0.4, 0.9]),
    (bm.base_model("tanh"), [-0.7, 0.3]),
    (bm.base_model("monomial", k=3.0), [0.6, 1.4]),
    (bm.base_model("monomial", k=0.9), [0.6, 1.4]),
    (bm.base_model("exp"), [-0.5, 0.8]),
    (bm.base_model("log"), [0.4, 2.5]),
    (bm.base_model("sigmoid"), [-2.0, 0.7]),
    (bm.base_model("softplus"), [-1.0, 1.5]),
    (bm.base_model("gaussian"), [0.3, 1.7]),
    (bm.base_model("cubic", coeffs=(1.0, -0.375, 1 / 3)), [-0.4, 0.6]),
]


@pytest.mark.parametrize("model,xs", MODELS, ids=[m.name for m, _ in MODELS])
def test_base_model_closed_forms_match_autodiff(model, xs):
    for x in xs:
        auto = od.derivatives_at(model, x, 3)
        closed = np.array(model.derivs(x), dtype=float)
        np.testing.assert_allclose(auto, closed, rtol=1e-12, atol=1e-13)


def test_prop_1_identity_and_sheet_values():
    sheet = {"Corollary 3": 27.0, "Corollary 4": 32.90625, "Corollary 5": 114048.0,
             "Corollary 6": 1280.0, "Corollary 7": 64 * math.exp(-1.8), "Corollary 8": 0.0379627}
    for name, (model, y) in bm.COROLLARY_MODELS.items():
        f = bm.squared_loss_on(model, y)
        _, g1, g2, g3 = model.derivs(f.z_star)
        np.testing.assert_allclose(od.derivatives_at(f)[2:], bm.prop_1_derivatives(g1, g2, g3), rtol=1e-11)
        c = float(product_stability(f))
        assert c == pytest.approx(float(bm.prop_1_stability(g1, g2, g3)), rel=1e-11)
        assert c > 0 and bool(bm.prop_1_condition(g1, g2, g3))
        if name in sheet:
            assert c == pytest.approx(sheet[name], rel=1e-6)
    # Cor 5's exception: k in [4/5, 1] gives C < 0
    f = bm.squared_loss_on(bm.base_model("monomial", k=0.9), 1.0)
    assert float(product_stability(f)) == pytest.approx(-0.52488, rel=1e-6)


def test_base_model_rejects_bad_input():
    with pytest.raises(ValueError, match="kind"):
        bm.base_model("relu")
    with pytest.raises(ValueError, match="k must"):
        bm.base_model("monomial", k=-1.0)
    with pytest.raises(ValueError, match="coeffs"):
        bm.base_model("cubic", coeffs=(0.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="y must"):
        bm.squared_loss_on(bm.base_model("sigmoid"), 1.2)


# --------------------------------------------------------------------------- Proposition 2


def test_prop_2_counterexample():
    h, g, f = bm.prop_2_counterexample()
    assert float(product_stability(f)) == pytest.approx(-6.0, rel=1e-12)
    hd = h.derivs(0.0)[1:]
    gd_ = g.derivs(0.0)[1:]
    assert bool(bm.prop_1_condition(*hd)) and bool(bm.prop_1_condition(*gd_))
    F1, F2, F3 = bm.composition_derivatives(hd, gd_)
    auto = od.derivatives_at(lambda x: h(g(x)), 0.0, 3)
    np.testing.assert_allclose(auto[1:], [F1, F2, F3], rtol=1e-12)
    assert float(F1 * F3) == pytest.approx(0.75) and float(6 * F2**2) == pytest.approx(0.375)
    terms = bm.composition_margin_terms(hd, gd_)
    assert float(sum(terms)) == pytest.approx(float(6 * F2**2 - F1 * F3), rel=1e-12)
    assert not bool(bm.repaired_composition_condition(hd, gd_))


def test_repaired_condition_implies_positive_stability():
    rng = np.random.default_rng(1)
    h1, h2, g1, g2 = rng.normal(size=(4, 20000))
    # h' h''' = 3/2 h''^2 - s with slack s >= 0 (likewise for g): the repaired condition
    h3 = (1.5 * h2**2 - rng.uniform(0, 2, 20000)) / h1
    g3 = (1.5 * g2**2 - rng.uniform(0, 2, 20000)) / g1
    ok = bm.repaired_composition_condition((h1, h2, h3), (g1, g2, g3))
    assert ok.mean() > 0.99
    F1, F2, F3 = bm.composition_derivatives((h1, h2, h3), (g1, g2, g3))
    C = bm.prop_1_stability(F1, F2, F3)
    assert np.all(C[ok] > 0)


def test_squared_loss_derivatives_vectorised_matches_scalar_path():
    model = bm.base_model("tanh")
    ys = np.array([-0.5, 0.2, 0.7])
    xb, d = bm.squared_loss_derivatives(model, ys)
    for i, y in enumerate(ys):
        f = bm.squared_loss_on(model, y)
        assert xb[i] == pytest.approx(f.z_star, abs=1e-15)
        np.testing.assert_allclose(d[i], od.derivatives_at(f), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="y must"):
        bm.squared_loss_derivatives(model, [1.5])


def test_squared_loss_stability_matches_prop_1():
    model = bm.base_model("sin")
    ys = np.array([-0.5, 0.1, 0.6])
    xb, c = bm.squared_loss_stability(model, ys)
    _, g1, g2, g3 = model.derivs(xb)
    np.testing.assert_allclose(c, bm.prop_1_stability(g1, g2, g3), rtol=1e-10)
    for x, y, ci in zip(xb, ys, c):
        assert ci == pytest.approx(float(product_stability(bm.squared_loss_on(model, y))), rel=1e-12)
