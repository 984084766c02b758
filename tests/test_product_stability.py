"""Unit tests of eoslib.papers.product_stability: closed forms against autodiff and real GD steps."""

import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import losses
from eoslib.papers import product_stability as ps

BCE = losses.soft_bce(0.2)
L2 = losses.multilayer_squared(2)


def _rel(a, b, scale=None):
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = np.maximum(np.abs(b), 1e-300) if scale is None else scale
    return float(np.max(np.abs(a - b) / scale))


# --------------------------------------------------------------------------- Table 1, Section 6


def test_table_1_autodiff_matches_closed_forms():
    for loss, (z_star, l2, l3, l4) in ps.table_1_rows():
        m = ps.minimum_derivatives(loss)
        assert m.z_star == pytest.approx(z_star, abs=1e-15)
        got = np.array([m.l2, m.l3, m.l4])
        want = np.array([l2, l3, l4])
        assert np.all(np.abs(got - want) <= 1e-10 * np.maximum(np.abs(want), 1.0)), loss.name
        assert m.alpha == pytest.approx(3 * l3**2 - l2 * l4, rel=1e-10, abs=1e-12)


def test_table_1_printed_numbers():
    # Values printed in the sheet's Table 1.
    assert ps.minimum_derivatives(BCE).alpha == pytest.approx(0.026624, rel=1e-12)
    assert ps.limit_gap_coefficient(BCE) == pytest.approx(0.0738462, rel=1e-6)
    assert ps.minimum_derivatives(L2).alpha == pytest.approx(96.0, rel=1e-12)
    assert ps.limit_gap_coefficient(losses.multilayer_squared(3)) == pytest.approx(0.690341, rel=1e-6)


def test_bce_alpha_closed_form_matches_autodiff_on_grid():
    zs = np.linspace(-20.0, 20.0, 41)
    closed = ps.bce_closed_form(jnp.asarray(zs))
    for y in (0.2, 0.7):
        loss = losses.soft_bce(y)
        auto = np.asarray(ps.product_stability_at(loss, zs))
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
            assert auto == pytest.approx(ps.multilayer_alpha_closed_form(n, c), rel=1e-12, abs=1e-12)
    at_c1 = [ps.multilayer_alpha_closed_form(n, 1.0) for n in range(1, 7)]
    assert at_c1 == [0, 1536, 28512, 196608, 840000, 2695680]


# --------------------------------------------------------------------------- Lemma 3.1


@pytest.mark.parametrize("loss", [BCE, L2], ids=["bce", "l2"])
def test_hessian_and_trace_formulas_match_autodiff(loss):
    rng = np.random.default_rng(0)
    pts = rng.uniform(-3, 3, size=(20, 2))
    f = ps.product_objective(loss)
    hess = jax.jit(jax.hessian(f))
    for x, y in pts:
        h_auto = np.asarray(hess(jnp.array([x, y])))
        h_form = np.asarray(ps.hessian_formula(loss, x, y))
        scale = np.linalg.norm(h_auto)
        assert np.max(np.abs(h_auto - h_form)) <= 1e-12 * scale
        tr = float(ps.hessian_trace_formula(loss, x, y))
        assert abs(np.trace(h_auto) - tr) <= 1e-12 * max(scale, abs(tr))


def test_rank_one_hessian_on_minimum_manifold():
    f = ps.product_objective(BCE)
    for x in (0.5, -2.0, 7.0, 40.0):
        y = BCE.z_star / x
        h_auto = np.asarray(jax.hessian(f)(jnp.array([x, y])))
        h_form = np.asarray(ps.minimum_hessian_formula(BCE, x, y))
        ev = np.linalg.eigvalsh(h_auto)
        S = float(ps.minimum_sharpness_formula(BCE, x, y))
        assert np.max(np.abs(h_auto - h_form)) <= 1e-12 * S
        assert ev[-1] == pytest.approx(S, rel=1e-12)
        assert abs(ev[0]) <= 1e-10 * S


# --------------------------------------------------------------------------- App. A exact updates


def test_exact_updates_match_one_gd_step():
    rng = np.random.default_rng(1)
    eta = 0.05
    grad = jax.grad(ps.product_objective(BCE))
    for x, y in rng.uniform(-4, 4, size=(20, 2)):
        w = jnp.array([x, y])
        w1 = w - eta * grad(w)
        z, s, d = x * y, x * x + y * y, x * x - y * y
        z1, s1 = ps.exact_update(BCE, eta, z, s)
        assert float(z1) == pytest.approx(float(w1[0] * w1[1]), rel=1e-12, abs=1e-14)
        assert float(s1) == pytest.approx(float(w1 @ w1), rel=1e-12)
        d1 = float(w1[0] ** 2 - w1[1] ** 2)
        assert float(ps.imbalance_update(BCE, eta, z, d)) == pytest.approx(d1, rel=1e-11, abs=1e-13 * s)
        # Lemma A.4: s^2 - 4 z^2 = d^2 scales by the squared factor.
        lhs = float(s1**2 - 4 * z1**2)
        rhs = float(ps.contraction_factor(BCE, eta, z) ** 2 * (s**2 - 4 * z**2))
        assert lhs == pytest.approx(rhs, rel=1e-10, abs=1e-12 * s**2)
        # Eq. 9: the exact update differs from z - lambda l'(z) by eta^2 z l'(z)^2.
        g = float(jax.grad(BCE.fn)(z))
        dropped = float(z1 - ps.first_order_update(BCE, z, eta * s))
        assert dropped == pytest.approx(eta**2 * z * g * g, rel=1e-8, abs=1e-15)


def test_gd_product_matches_python_loop_and_detects_divergence():
    x0, y0 = ps.eos_init(BCE, 0.05, 0.1, 0.05)
    tr = ps.gd_product(BCE, 0.05, x0, y0, 60, record_every=3)
    grad = jax.grad(ps.product_objective(BCE))
    w = jnp.array([x0, y0])
    for _ in range(60):
        w = w - 0.05 * grad(w)
    assert tr.x.shape == (21,)
    assert float(tr.x[-1]) == pytest.approx(float(w[0]), rel=1e-13)
    assert float(tr.z[-1]) == pytest.approx(float(w[0] * w[1]), rel=1e-12)
    assert int(tr.diverged_at) == -1
    bad = ps.gd_product(L2, 0.5, 3.0, 3.0, 50)
    assert int(bad.diverged_at) >= 1 and np.all(np.isfinite(np.asarray(bad.x)))


def test_eos_init():
    x0, y0 = ps.eos_init(BCE, 0.05, 0.1, 0.05)
    m = ps.minimum_derivatives(BCE)
    assert x0 * y0 == pytest.approx(BCE.z_star + 0.05, rel=1e-13)
    assert 0.05 * (x0**2 + y0**2) * m.l2 == pytest.approx(2.1, rel=1e-13)


# --------------------------------------------------------------------------- Section 4: two-step map and cycle


@pytest.mark.parametrize("loss", [BCE, L2, losses.log_cosh()], ids=["bce", "l2", "logcosh"])
@pytest.mark.parametrize("kappa", [1.5, 2.0, 2.1])
def test_two_step_coeffs_match_autodiff_taylor(loss, kappa):
    m = ps.minimum_derivatives(loss)
    eta = kappa / m.l2
    lp = jax.grad(loss.fn)

    def g(z):  # z_t - z_{t+2}
        z1 = z - eta * lp(z)
        return z - (z1 - eta * lp(z1))

    d1 = jax.grad(g)
    d2 = jax.grad(d1)
    d3 = jax.grad(d2)
    taylor = np.array([float(d1(m.z_star)), float(d2(m.z_star)) / 2, float(d3(m.z_star)) / 6])
    coeffs = ps.two_step_coeffs(loss, eta)
    assert np.allclose(coeffs, taylor, rtol=1e-9, atol=1e-10 * max(1.0, np.abs(taylor).max()))
    if kappa == 2.0:
        assert coeffs[2] == pytest.approx(2 * m.alpha / (3 * m.l2**2), rel=1e-12)


def test_lemma_a2_h_at_threshold():
    for loss, _ in ps.table_1_rows():
        m = ps.minimum_derivatives(loss)
        assert ps.lemma_a2_h(loss, 2 / m.l2) == pytest.approx(2 * m.alpha / m.l2, rel=1e-12, abs=1e-14)


def test_bifurcation_cycle_satisfies_cycle_conditions_and_attracts_gd():
    etas = ps.eta_from_mu(BCE, np.array([0.01, 0.04, 0.1]))
    pm, pp = ps.bifurcation_cycle(BCE, etas)
    r1, r2 = ps.cycle_residuals(BCE, etas, pm, pp)
    assert np.max(np.abs(np.asarray(r1))) < 1e-12 and np.max(np.abs(np.asarray(r2))) < 1e-12
    assert np.all(np.asarray(pm) < BCE.z_star) and np.all(np.asarray(pp) > BCE.z_star)
    # Sheet, Theorem 4.2 table: measured half-amplitudes.
    assert np.asarray((pp - pm) / 2) == pytest.approx([0.16976, 0.33909, 0.53488], abs=1e-5)
    a_pred = ps.cycle_amplitude_prediction(BCE, etas).half_amplitude
    assert np.allclose(a_pred, [0.16984, 0.33968, 0.53709], atol=1e-5)
    zT, zT1, esc = ps.gd_scalar_final(BCE, etas, BCE.z_star + 0.01, 20000)
    assert np.all(np.asarray(esc) == -1)
    hi, lo = np.maximum(zT, zT1), np.minimum(zT, zT1)
    assert np.allclose(hi, pp, atol=1e-10) and np.allclose(lo, pm, atol=1e-10)
    # The cycle points lie on the inverse bifurcation curve lambda(z) = eta.
    assert np.allclose(ps.inverse_bifurcation(BCE, pp), etas, rtol=1e-12)
    assert np.allclose(ps.inverse_bifurcation(BCE, pm), etas, rtol=1e-12)


def test_negative_control_escapes():
    neg = losses.quartic_negative_control()
    assert ps.minimum_derivatives(neg).alpha == pytest.approx(-6.0)
    _, _, esc = ps.gd_scalar_final(neg, 2.04, 1.01, 5000)
    assert int(esc) > 0


@pytest.mark.parametrize("loss,eps", [(BCE, 0.01), (L2, 0.002)], ids=["bce", "l2"])
def test_inverse_bifurcation_curvature(loss, eps):
    # Lemma B.1: lambda(z) = 2/l2 + (alpha / (3 l2^3)) u^2 + O(u^3); the +-u average cancels u^3.
    m = ps.minimum_derivatives(loss)
    lam = np.asarray(ps.inverse_bifurcation(loss, jnp.array([m.z_star + eps, m.z_star - eps, m.z_star])))
    assert lam[2] == 2 / m.l2
    ratio = np.mean(lam[:2] - 2 / m.l2) / eps**2
    assert ratio == pytest.approx(ps.inverse_bifurcation_curvature(loss) / 2, rel=1e-3)


def test_predicted_limit_sharpness():
    m = ps.minimum_derivatives(BCE)
    assert ps.predicted_limit_sharpness(BCE, 0.05) == pytest.approx(40 - 3 * 0.05 * m.l2**4 / m.alpha, rel=1e-15)
    assert ps.predicted_limit_sharpness(BCE, 0.05) == pytest.approx(39.99630769, abs=1e-8)
    assert ps.predicted_limit_lambda(BCE, 0.05) == pytest.approx(0.05 * ps.predicted_limit_sharpness(BCE, 0.05) / m.l2)
    assert ps.phase2_lag(BCE, 0.05) == pytest.approx(ps.predicted_limit_lambda(BCE, 0.05) - 2 / m.l2, rel=1e-9)
    assert ps.phase2_lag(BCE, 0.05) == pytest.approx(-1.1538e-3, rel=1e-4)


# --------------------------------------------------------------------------- bad input


def test_bad_input_raises_value_error_naming_parameter():
    m = ps.minimum_derivatives(BCE)
    with pytest.raises(ValueError, match=r"eta .*\(12\.5, inf\)"):
        ps.bifurcation_cycle(BCE, 12.0)
    with pytest.raises(ValueError, match="alpha"):
        ps.cycle_amplitude_prediction(losses.squared(), 2.1)
    with pytest.raises(ValueError, match="alpha"):
        ps.predicted_limit_sharpness(losses.quartic_negative_control(), 0.1)
    with pytest.raises(ValueError, match="dz0"):
        ps.eos_init(BCE, 0.05, 0.1, 1e3)
    with pytest.raises(ValueError, match="mu0"):
        ps.eos_init(BCE, 0.05, -3.0, 0.0)
    with pytest.raises(ValueError, match=r"eta .*\(0, inf\)"):
        ps.gd_product(BCE, -0.1, 1.0, 1.0, 10)
    with pytest.raises(ValueError, match="num_steps"):
        ps.gd_product(BCE, 0.1, 1.0, 1.0, 0)
    with pytest.raises(ValueError, match="record_every"):
        ps.gd_product(BCE, 0.1, 1.0, 1.0, 10, record_every=3)
    with pytest.raises(ValueError, match="y must"):
        ps.bce_minimum_closed_form(1.0)
    with pytest.raises(ValueError, match="n must"):
        ps.multilayer_alpha_closed_form(0)
    with pytest.raises(ValueError, match="max_ratio"):
        ps.inverse_bifurcation(BCE, m.z_star, max_ratio=-1.0)
    with pytest.raises(ValueError, match="l must"):
        ps.minimum_derivatives(lambda z: z**2)
    with pytest.raises(ValueError, match="mu must"):
        ps.eta_from_mu(BCE, math.nan)


def test_import_does_not_enable_x64():
    code = "import jax, eoslib.papers.product_stability; assert not jax.config.jax_enable_x64"
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- additions: sharpness, Lemma A.5, Lemma 5.1


def test_product_sharpness_matches_dense_eigh():
    rng = np.random.default_rng(3)
    for loss in (BCE, L2):
        hess = jax.jit(jax.hessian(ps.product_objective(loss)))
        pts = rng.uniform(-3, 3, size=(20, 2))
        got = np.asarray(ps.product_sharpness(loss, pts[:, 0], pts[:, 1]))
        want = np.array([np.linalg.eigvalsh(np.asarray(hess(jnp.asarray(p))))[-1] for p in pts])
        scale = np.array([np.linalg.norm(np.asarray(hess(jnp.asarray(p)))) for p in pts])
        assert np.all(np.abs(got - want) <= 1e-12 * scale)
    # On the manifold it is s l2 (Lemma 3.1).
    x = 7.0
    assert float(ps.product_sharpness(BCE, x, BCE.z_star / x)) == pytest.approx(
        (x * x + (BCE.z_star / x) ** 2) * ps.minimum_derivatives(BCE).l2, rel=1e-13)


def test_two_step_contraction_normal_form():
    for loss in (BCE, L2):
        m = ps.minimum_derivatives(loss)
        C = m.alpha / (3 * m.l2**2)
        u = np.array([-1e-3, 1e-3])
        r = np.asarray(ps.two_step_contraction(loss, 2 / m.l2, m.z_star + u))
        assert np.allclose((1 - r) / (2 * C * u**2), 1.0, atol=0.01)
        below = np.asarray(ps.two_step_contraction(loss, 0.95 * 2 / m.l2, m.z_star + np.linspace(0.001, 0.05, 20)))
        assert np.all(below < 1)
    neg = losses.quartic_negative_control()
    assert float(ps.two_step_contraction(neg, 2.0, 1.001)) > 1


def test_branch_slopes_match_finite_differences():
    etas = ps.eta_from_mu(BCE, np.array([0.01, 0.1, 0.3]))
    pm, pp = ps.bifurcation_cycle(BCE, etas)
    dm, dp, fm, fp = (np.asarray(a) for a in ps.branch_slopes(BCE, etas, pm, pp))
    h = 1e-3 * np.array([0.01, 0.1, 0.3]) / ps.minimum_derivatives(BCE).l2
    pm_hi, pp_hi = ps.bifurcation_cycle(BCE, etas + h)
    pm_lo, pp_lo = ps.bifurcation_cycle(BCE, etas - h)
    assert np.allclose((np.asarray(pp_hi) - np.asarray(pp_lo)) / (2 * h), dp, rtol=1e-5)
    assert np.allclose((np.asarray(pm_hi) - np.asarray(pm_lo)) / (2 * h), dm, rtol=1e-5)
    assert np.all(dp > 0) and np.all(dm < 0) and np.all(fp > 0) and np.all(fm > 0)


# --------------------------------------------------------------------------- additions: limit runs, Phase III


def test_limit_runs_matches_single_runs_and_reports_divergence():
    r = ps.limit_runs(L2, np.array([0.1, 0.05]), np.array([[0.05], [0.2]]), 0.05, max_steps=200_000, grad_tol=1e-12)
    assert r.s.shape == (2, 2) and r.eta.shape == (2, 2)
    x0, y0 = ps.eos_init(L2, 0.05, 0.2, 0.05)
    x, y, k = ps.gd_product_until(L2, 0.05, x0, y0, max_steps=200_000, grad_tol=1e-12)
    assert float(r.x[1, 1]) == pytest.approx(float(x), rel=1e-14)
    assert int(r.steps[1, 1]) == k
    assert np.all(r.converged) and np.all(r.diverged_at == -1)
    assert np.allclose(r.limit_sharpness, r.s * ps.minimum_derivatives(L2).l2)
    assert np.allclose(r.limit_sharpness, r.sharpness, rtol=1e-9)
    # Theorem 5.2 at eta = 0.05 (sheet: ratio 0.9801).
    G = ps.limit_gap_coefficient(L2)
    assert (2 / 0.05 - r.limit_sharpness[0, 1]) / (G * 0.05) == pytest.approx(0.9801, abs=1e-4)
    neg = ps.limit_runs(losses.quartic_negative_control(), 0.05, np.array([0.03, 0.1]), 0.05, max_steps=10_000)
    assert np.all(neg.diverged_at > 0) and not np.any(neg.converged)
    assert all(s.startswith("diverged at step") for s in neg.reports())
    assert np.all(np.isfinite(neg.x))
    with pytest.raises(ValueError, match="mu0s"):
        ps.limit_runs(L2, 0.05, -3.0, 0.0)
    with pytest.raises(ValueError, match="etas"):
        ps.limit_runs(L2, [0.05, -1.0], 0.1, 0.0)


def test_phase3_rate_and_fit():
    G = ps.limit_gap_coefficient(BCE)
    assert ps.predicted_phase3_rate(BCE, 0.05) == pytest.approx(math.log1p(-G * 0.05**2), rel=1e-14)
    t = np.arange(5000)
    u = 0.3 * (-(1 - 2e-3)) ** t  # alternating geometric decay
    slope, n = ps.fit_log_rate(u, lo=1e-4, hi=1e-1, record_every=1)
    assert slope == pytest.approx(math.log(1 - 2e-3), rel=1e-10)
    assert n > 100
    slope2, _ = ps.fit_log_rate(u[::10], lo=1e-4, hi=1e-1, record_every=10)
    assert slope2 == pytest.approx(math.log(1 - 2e-3), rel=1e-10)
    with pytest.raises(ValueError, match="at least 3"):
        ps.fit_log_rate(u, lo=1e-30, hi=1e-29)
    with pytest.raises(ValueError, match="alpha"):
        ps.predicted_phase3_rate(losses.squared(), 0.05)


# --------------------------------------------------------------------------- additions: Section 6 losses


def test_eq13_and_beta4_loss():
    lc = losses.log_cosh()
    assert float(ps.eq13_ratio(lc, 1e-3, 2.0)) == pytest.approx(1 / 3, rel=1e-5)
    c = ps.eq13_constant(lc, 2.0, 0.3, s_min=1e-3)
    assert 0 < c <= 1 / 3
    flat = ps.beta4_even_loss()
    d = np.asarray(losses.derivatives(flat, 0.0, 4))
    assert np.allclose(d[2:], [1.0, 0.0, 0.0], atol=1e-12)
    assert float(losses.product_stability(flat)) == pytest.approx(0.0, abs=1e-12)
    assert ps.eq13_constant(flat, 4.0, 0.3, s_min=1e-2) > 0.1
    assert float(ps.eq13_ratio(flat, 0.01, 2.0)) == pytest.approx(0.15e-4, rel=0.01)
    with pytest.raises(ValueError, match="s_min"):
        ps.eq13_constant(lc, 2.0, 0.1, s_min=0.5)


def test_regularity_family_alpha():
    for p in (0.5, 1.0, 1.5, 2.0, 3.0):
        for c in (0.3, 2.0):
            loss = ps.regularity_family(p, c, mu=0.7)
            m = ps.minimum_derivatives(loss)
            assert m.z_star == 0.7
            assert m.l2 == pytest.approx(c * p, rel=1e-12)
            assert m.alpha == pytest.approx(ps.regularity_family_alpha(p, c), rel=1e-10, abs=1e-10)
    assert np.all(np.sign(ps.regularity_family_alpha(np.array([1.0, 2.5]))) == [1, -1])
    # Same parameters -> equal losses (jit caches are reused).
    assert ps.regularity_family(1.5, 1.0, 0.0) == ps.regularity_family(1.5, 1.0, 0.0)
    with pytest.raises(ValueError, match="p must"):
        ps.regularity_family(0.0)
    with pytest.raises(ValueError, match="c must"):
        ps.regularity_family_alpha(1.0, -1.0)


# --------------------------------------------------------------------------- additions: Section 7 helpers


def _tiny_net_loss():
    from eoslib import nets

    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 5))
    y = 0.2 + 0.6 * (x[:, 0] > 0)
    net = nets.make_network("mlp", widths=(8, 8), input_shape=(5,), num_outputs=1, key=0)
    return nets.flat_loss(net, net.init_params, x, y, "bce_with_logits")


def test_alpha_profile_matches_stability_topk_and_dense():
    from eoslib import stability

    f, w0 = _tiny_net_loss()
    prof = ps.alpha_spectral_profile(f, w0, 6, tol=1e-10, max_iter=200)
    ref = stability.multivariate_product_stability(f, w0, solver="topk", k=6, eig_tol=1e-10, eig_max_iter=200)
    assert prof.alpha == pytest.approx(ref.alpha, rel=1e-8)
    assert prof.third_term == pytest.approx(ref.third_term, rel=1e-8)
    assert prof.fourth_term == pytest.approx(ref.fourth_term, rel=1e-8)
    assert prof.lambda_max == pytest.approx(ref.lambda_max, rel=1e-10)
    # alpha(1) only needs the top pair: 3 (T_vv . v)^2 / lambda_max - Q.
    assert prof.alpha_by_k[0] == pytest.approx(3 * prof.overlaps[0] ** 2 / prof.eigenvalues[0] - prof.fourth_term)
    assert prof.alpha_by_k.shape == (6,)


def test_track_network_eos_segments():
    f, w0 = _tiny_net_loss()
    calls = []

    def evaluate(w):
        calls.append(np.asarray(w))
        return ps.alpha_spectral_profile(f, w, 3, tol=1e-8, max_iter=100)

    r = ps.track_network_eos(f, w0, 0.5, 40, eig_every=5, alpha_every=20, evaluate=evaluate)
    assert list(r.alpha_steps) == [20, 40] and len(calls) == 2
    assert list(r.eig_steps) == list(range(0, 41, 5))  # no duplicated segment boundaries
    assert list(r.steps) == list(range(0, 41, 5))
    assert r.weights.shape == (2, w0.shape[0]) and r.diverged_at == -1
    assert r.alpha_array().shape == (2,) and np.all(np.isfinite(r.alpha_array("fourth_term")))
    # Same trajectory as one uninterrupted GD run.
    w = w0
    g = jax.jit(jax.grad(f))
    for _ in range(40):
        w = w - 0.5 * g(w)
    assert np.allclose(r.weights[-1], np.asarray(w), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="alpha_every"):
        ps.track_network_eos(f, w0, 0.5, 30, alpha_every=20)


def test_regularity_family_derivatives_vectorised():
    p = np.array([0.5, 1.0, 2.0, 3.0])
    d = ps.regularity_family_derivatives(p[:, None], np.array([0.5, 2.0])[None, :], -1.0)
    assert d["alpha"].shape == (4, 2)
    assert np.allclose(d["alpha"], ps.regularity_family_alpha(p[:, None], np.array([0.5, 2.0])[None, :]),
                       rtol=1e-10, atol=1e-10)
    m = ps.minimum_derivatives(ps.regularity_family(3.0, 2.0, -1.0))
    assert d["l4"][3, 1] == pytest.approx(m.l4, rel=1e-12)
    with pytest.raises(ValueError, match="p must"):
        ps.regularity_family_derivatives(-1.0, 1.0, 0.0)
