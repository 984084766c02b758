"""Unit tests of eoslib.papers.two_step.scalar: known orbits, multipliers, closed forms vs autodiff."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import gd, orbits
from eoslib.papers.two_step import scalar as sc

QUARTIC = sc.quartic(1.0)


# --------------------------------------------------------------------------- 1-D objectives


def test_taylor_polynomial_has_prescribed_derivatives():
    f = sc.taylor_polynomial((1.5, 0.7, -2.0, 3.0), center=0.3)
    d = sc.derivatives_at(f, max_order=6)
    np.testing.assert_allclose(d, [0, 0, 1.5, 0.7, -2.0, 3.0, 0.0], atol=1e-12)
    assert sc.stability_number(f) == pytest.approx(3 * 0.7**2 - 1.5 * (-2.0), rel=1e-12)
    assert sc.stability_number(sc.taylor_polynomial((1, 1, 2))) == pytest.approx(1.0, rel=1e-12)


def test_quartic_and_sine_constants():
    for mu in (1.0, 2.0):
        f = sc.quartic(mu)
        d = sc.derivatives_at(f)
        np.testing.assert_allclose(d[1:], [0, 2 * mu, 6 * math.sqrt(mu), 6], rtol=1e-12, atol=1e-12)
        assert sc.stability_number(f) == pytest.approx(96 * mu, rel=1e-12)
    s = sc.scaled_sine(2.0)
    np.testing.assert_allclose(sc.derivatives_at(s)[1:], [0, 2, 0, -2], atol=1e-12)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, "a"])
def test_quartic_rejects_bad_mu(bad):
    with pytest.raises(ValueError, match="mu"):
        sc.quartic(bad)


def test_taylor_rejects_non_minimum():
    with pytest.raises(ValueError, match="derivs"):
        sc.taylor_polynomial((-1.0, 2.0))


# --------------------------------------------------------------------------- Theorem 1, Lemma 1


def test_theorem_1_root_for_quartic_matches_sheet():
    lo, hi = sc.theorem_1_window(QUARTIC, 1e-2)
    assert (lo, hi) == pytest.approx((1.0, 2 / 1.94), rel=1e-14)
    r = sc.two_step_root(QUARTIC, 1.0 - 1e-2, (lo, hi))
    assert r.bracketed and r.sign_changes == 1
    assert r.eta == pytest.approx(1.000389, abs=5e-7)
    assert abs(sc.two_step_residual(QUARTIC, 0.99, r.eta)) < 1e-15
    assert r.one_step_gap > 1e-3  # a genuine 2-cycle, not the fixed point


def test_theorem_1_no_root_when_stability_number_negative():
    f = sc.taylor_polynomial((1.0, 1.0, 4.0))  # C = -1
    w = sc.theorem_1_window(f, 1e-2)
    r = sc.two_step_root(f, -1e-2, w)
    assert not r.bracketed and r.sign_changes == 0 and math.isnan(r.eta)
    # the unstable (subcritical) cycle sits below the threshold instead
    below = sc.two_step_root(f, -1e-2, (2 / 1.01, 2.0))
    assert below.bracketed and 2 / 1.01 < below.eta < 2.0


def test_theorem_1_window_rejects_bad_eps():
    with pytest.raises(ValueError, match="eps"):
        sc.theorem_1_window(QUARTIC, -1e-2)  # f''' > 0 needs eps > 0
    with pytest.raises(ValueError, match="eps"):
        sc.theorem_1_window(QUARTIC, 0.5)  # f'' - eps f''' < 0
    with pytest.raises(ValueError, match="f'''"):
        sc.theorem_1_window(sc.scaled_sine(1.0), 1e-2)  # f''' = 0 (round-off), Lemma 1's case


def test_lemma_1_sine_and_fifth_order():
    s = sc.scaled_sine(1.0)
    w = sc.lemma_1_window(s, 0.1, 4)
    assert w == pytest.approx((2.0, 2 / 0.99), rel=1e-13)
    r = sc.two_step_root(s, s.x_bar - 0.1, w)
    assert r.eta == pytest.approx(2.00334, abs=5e-6)
    for f6, has_root in ((-1.0, True), (1.0, False)):
        f = sc.taylor_polynomial((1.0, 0.0, 0.0, 1.0, f6))
        w = sc.lemma_1_window(f, 0.1, 5)
        r = sc.two_step_root(f, -0.1, w)
        assert r.bracketed is has_root


def test_lemma_1_window_rejects():
    with pytest.raises(ValueError, match="k"):
        sc.lemma_1_window(sc.scaled_sine(1.0), 0.1, 3)
    with pytest.raises(ValueError, match="f\\^\\(4\\)"):
        sc.lemma_1_window(sc.taylor_polynomial((1.0, 0.0, 6.0)), 0.1, 4)  # f'''' > 0
    with pytest.raises(ValueError, match="eps"):
        sc.lemma_1_window(sc.taylor_polynomial((1.0, 0.0, 0.0, 1.0, -1.0)), -0.1, 5)


def test_two_step_root_rejects_bad_window():
    with pytest.raises(ValueError, match="window"):
        sc.two_step_root(QUARTIC, 0.99, (1.1, 1.0))


def test_two_cycle_indicator_vanishes_on_the_orbit():
    d1, d2 = sc.orbit_deltas(1.05, 1.0)
    q = sc.two_cycle_indicator(QUARTIC, 1.05, [d1, d2, 1.0 + 1e-7])
    assert abs(q[0]) < 1e-12 and abs(q[1]) < 1e-12
    assert q[2] == pytest.approx(2 - 1.05 * 2, abs=1e-5)  # Q(x_bar) = 2 - eta f''


def test_gd_tail_and_period():
    tail = sc.gd_tail(QUARTIC, 1.01, [0.8, 1.02], 3000, keep=4)
    assert np.all(tail.diverged_at == -1)
    np.testing.assert_array_equal(sc.tail_period(tail.tail), [2, 2])
    np.testing.assert_allclose(np.sort(tail.tail[0, :2]), sc.orbit_deltas(1.01, 1.0), atol=1e-12)
    quad = sc.gd_tail(sc.taylor_polynomial((1.0,)), 2.02, 0.01, 2000, keep=4)
    assert quad.diverged_at[0] > 0 and sc.tail_period(quad.tail)[0] == -1
    with pytest.raises(ValueError, match="eta"):
        sc.gd_tail(QUARTIC, -1.0, 0.5, 10)


# --------------------------------------------------------------------------- Prop 1, Corollaries


MODELS = [
    (sc.base_model("square"), [0.5, 1.3]),
    (sc.base_model("sin"), [-0.4, 0.9]),
    (sc.base_model("tanh"), [-0.7, 0.3]),
    (sc.base_model("monomial", k=3.0), [0.6, 1.4]),
    (sc.base_model("monomial", k=0.9), [0.6, 1.4]),
    (sc.base_model("exp"), [-0.5, 0.8]),
    (sc.base_model("log"), [0.4, 2.5]),
    (sc.base_model("sigmoid"), [-2.0, 0.7]),
    (sc.base_model("softplus"), [-1.0, 1.5]),
    (sc.base_model("gaussian"), [0.3, 1.7]),
    (sc.base_model("cubic", coeffs=(1.0, -0.375, 1 / 3)), [-0.4, 0.6]),
]


@pytest.mark.parametrize("model,xs", MODELS, ids=[m.name for m, _ in MODELS])
def test_base_model_closed_forms_match_autodiff(model, xs):
    for x in xs:
        auto = sc.derivatives_at(model, x, 3)
        closed = np.array(model.derivs(x), dtype=float)
        np.testing.assert_allclose(auto, closed, rtol=1e-12, atol=1e-13)


def test_prop_1_identity_and_sheet_values():
    sheet = {"Corollary 3": 27.0, "Corollary 4": 32.90625, "Corollary 5": 114048.0,
             "Corollary 6": 1280.0, "Corollary 7": 64 * math.exp(-1.8), "Corollary 8": 0.0379627}
    for name, (model, y) in sc.COROLLARY_MODELS.items():
        f = sc.squared_loss_on(model, y)
        _, g1, g2, g3 = model.derivs(f.x_bar)
        np.testing.assert_allclose(sc.derivatives_at(f)[2:], sc.prop_1_derivatives(g1, g2, g3), rtol=1e-11)
        c = sc.stability_number(f)
        assert c == pytest.approx(float(sc.prop_1_stability(g1, g2, g3)), rel=1e-11)
        assert c > 0 and bool(sc.prop_1_condition(g1, g2, g3))
        if name in sheet:
            assert c == pytest.approx(sheet[name], rel=1e-6)
    # Cor 5's exception: k in [4/5, 1] gives C < 0
    f = sc.squared_loss_on(sc.base_model("monomial", k=0.9), 1.0)
    assert sc.stability_number(f) == pytest.approx(-0.52488, rel=1e-6)


def test_base_model_rejects_bad_input():
    with pytest.raises(ValueError, match="kind"):
        sc.base_model("relu")
    with pytest.raises(ValueError, match="k must"):
        sc.base_model("monomial", k=-1.0)
    with pytest.raises(ValueError, match="coeffs"):
        sc.base_model("cubic", coeffs=(0.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="y must"):
        sc.squared_loss_on(sc.base_model("sigmoid"), 1.2)


# --------------------------------------------------------------------------- Proposition 2


def test_prop_2_counterexample():
    h, g, f = sc.prop_2_counterexample()
    assert sc.stability_number(f) == pytest.approx(-6.0, rel=1e-12)
    hd = h.derivs(0.0)[1:]
    gd_ = g.derivs(0.0)[1:]
    assert bool(sc.prop_1_condition(*hd)) and bool(sc.prop_1_condition(*gd_))
    F1, F2, F3 = sc.composition_derivatives(hd, gd_)
    auto = sc.derivatives_at(lambda x: h(g(x)), 0.0, 3)
    np.testing.assert_allclose(auto[1:], [F1, F2, F3], rtol=1e-12)
    assert float(F1 * F3) == pytest.approx(0.75) and float(6 * F2**2) == pytest.approx(0.375)
    terms = sc.composition_margin_terms(hd, gd_)
    assert float(sum(terms)) == pytest.approx(float(6 * F2**2 - F1 * F3), rel=1e-12)
    assert not bool(sc.repaired_composition_condition(hd, gd_))


def test_repaired_condition_implies_positive_stability():
    rng = np.random.default_rng(1)
    h1, h2, g1, g2 = rng.normal(size=(4, 20000))
    # h' h''' = 3/2 h''^2 - s with slack s >= 0 (likewise for g): the repaired condition
    h3 = (1.5 * h2**2 - rng.uniform(0, 2, 20000)) / h1
    g3 = (1.5 * g2**2 - rng.uniform(0, 2, 20000)) / g1
    ok = sc.repaired_composition_condition((h1, h2, h3), (g1, g2, g3))
    assert ok.mean() > 0.99
    F1, F2, F3 = sc.composition_derivatives((h1, h2, h3), (g1, g2, g3))
    C = sc.prop_1_stability(F1, F2, F3)
    assert np.all(C[ok] > 0)


# --------------------------------------------------------------------------- Theorem 2


@pytest.mark.parametrize("K,mu", [(1.01, 1.0), (1.1, 1.0), (1.2, 2.0)])
def test_orbit_deltas_are_a_gd_two_cycle(K, mu):
    eta = K / mu
    d1, d2 = sc.orbit_deltas(eta, mu)
    assert d1 < math.sqrt(mu) < d2
    assert d1 * d2 == pytest.approx(1 / eta, rel=1e-14)
    assert d1**2 + d2**2 == pytest.approx(mu + 1 / eta, rel=1e-14)
    step = gd.gd_step(sc.quartic(mu).fn, eta)
    assert float(step(jnp.asarray(d1))) == pytest.approx(d2, abs=1e-14)
    assert float(step(jnp.asarray(d2))) == pytest.approx(d1, abs=1e-14)
    assert sc.eta_from_delta(np.array([d1, d2]), mu) == pytest.approx([eta, eta], rel=1e-13)
    m = orbits.stability_multipliers(step, jnp.asarray(d1), 2)
    assert float(m[0]) == pytest.approx(sc.orbit_multiplier(K), abs=1e-12)


def test_orbit_functions_reject_bad_input():
    with pytest.raises(ValueError, match="eta \\* mu"):
        sc.orbit_deltas(0.9, 1.0)
    with pytest.raises(ValueError, match="K"):
        sc.orbit_multiplier(0.5)
    with pytest.raises(ValueError, match="delta"):
        sc.eta_from_delta(2.0, 1.0)


def test_period_doubling_of_the_two_cycle_is_sqrt5_minus_1():
    d1, _ = sc.orbit_deltas(1.2, 1.0)
    p = sc.period_doubling_point(2, 1.2, 1.26, d1, num_grid=7)
    assert p.K == pytest.approx(sc.K_FLIP, abs=1e-12)
    np.testing.assert_allclose(np.sort(p.orbit), sc.orbit_deltas(sc.K_FLIP, 1.0), atol=1e-10)
    with pytest.raises(ValueError, match="does not cross"):
        sc.period_doubling_point(2, 1.05, 1.2, sc.orbit_deltas(1.05, 1.0)[0], num_grid=5)


def test_lyapunov_sign():
    lam = sc.lyapunov_exponent([1.1, 1.35], num_steps=4000, burn=1000)
    assert lam[0] == pytest.approx(0.5 * math.log(abs(sc.orbit_multiplier(1.1))), abs=1e-6)
    assert lam[1] > 0.05


# --------------------------------------------------------------------------- 2-D function


def test_two_d_orbit_multipliers_are_flip_and_imbalance_rates():
    K = 1.1
    f = sc.product_2d(1.0)
    d1, _ = sc.orbit_deltas(K, 1.0)
    orb = orbits.periodic_orbit(gd.gd_step(f, K), jnp.asarray([d1, d1]), 2)
    assert bool(orb.converged)
    m = np.sort(np.real(np.asarray(orb.multipliers)))
    np.testing.assert_allclose(m, np.sort([sc.orbit_multiplier(K), sc.imbalance_rate(K)]), atol=1e-12)


def test_balancing_stats_small_batch():
    x0, y0 = sc.init_from_product_imbalance([0.2, 0.2], [-0.8, -0.8])
    assert x0 * y0 == pytest.approx([0.2, 0.2]) and x0 - y0 == pytest.approx([-0.8, -0.8])
    st = sc.balancing_stats(1.0, [1.1, 1.2], x0, y0, 3000)
    assert np.all(st.positive) and not np.any(st.diverged)
    assert np.all(st.p_violations == 0) and np.all(st.off_p_increases == 0) and np.all(st.eq66_violations == 0)
    np.testing.assert_allclose(st.late_ratio, sc.imbalance_rate(np.array([1.1, 1.2])), rtol=1e-4)
    assert st.final_imbalance.max() < 1e-12
    np.testing.assert_allclose(np.sort([st.final_x[0], st.final_y[0]]), 2 * [st.final_x[0]], atol=1e-13)
    bad = sc.balancing_stats(1.0, 1.1, 2.0, 0.55, 200)  # large imbalance: loses positivity
    assert not bad.positive[0] and bad.eq66_violations[0] > 0
    with pytest.raises(ValueError, match="K"):
        sc.balancing_stats(1.0, 2.5, 1.0, 1.0, 10)


def test_stable_arc_and_projection():
    lo, hi = sc.stable_arc(0.9)
    assert (lo, hi) == pytest.approx((0.7917001, 1.2631046), abs=1e-7)  # sheet: [0.792, 1.263]
    S, _, dot, gnorm = sc.stable_set_2d(np.array([lo, hi]), 1 / np.array([lo, hi]))
    np.testing.assert_allclose(S, 2 / 0.9, rtol=1e-12)
    assert np.all(dot <= 1e-15) and np.all(gnorm <= 1e-15)  # minimisers: grad L = 0
    assert sc.stable_arc(1.1) is None
    # diagonal x = y < 1/sqrt2: gradient orthogonal to the top eigenvector, S = 1 - x^2
    S, _, dot, gnorm = sc.stable_set_2d(0.5, 0.5)
    assert float(S) == pytest.approx(0.75, rel=1e-12) and float(dot / gnorm) < 1e-12
    _, _, dot, gnorm = sc.stable_set_2d(0.9, 0.9)  # x = y > 1/sqrt2: gradient along u1
    assert float(dot / gnorm) == pytest.approx(1.0, abs=1e-12)
    p = sc.project_onto_arc([[1.8, 0.6], [1.0, 1.0]], (lo, hi))
    np.testing.assert_allclose(p[0], [hi, 1 / hi], rtol=1e-12)
    np.testing.assert_allclose(p[1], [1.0, 1.0], atol=1e-12)


def test_squared_loss_derivatives_vectorised_matches_scalar_path():
    model = sc.base_model("tanh")
    ys = np.array([-0.5, 0.2, 0.7])
    xb, d = sc.squared_loss_derivatives(model, ys)
    for i, y in enumerate(ys):
        f = sc.squared_loss_on(model, y)
        assert xb[i] == pytest.approx(f.x_bar, abs=1e-15)
        np.testing.assert_allclose(d[i], sc.derivatives_at(f), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="y must"):
        sc.squared_loss_derivatives(model, [1.5])


def test_product_2d_map_is_the_gd_step():
    rng = np.random.default_rng(3)
    f = sc.product_2d(1.5)
    step = sc.product_2d_map(1.5)(0.7)
    for th in rng.uniform(0.1, 2.0, size=(5, 2)):
        np.testing.assert_allclose(step(jnp.asarray(th)), gd.gd_step(f, 0.7)(jnp.asarray(th)), rtol=1e-14)
    with pytest.raises(ValueError, match="mu"):
        sc.product_2d_map(-1.0)
