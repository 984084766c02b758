"""Unit tests of eoslib.papers.product_stability.closed_forms: Lemma 3.1, Appendix A, the two-step map."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import losses
from eoslib.papers.product_stability import closed_forms, families

BCE = losses.soft_bce(0.2)
L2 = losses.multilayer_squared(2)


@pytest.mark.parametrize("loss", [BCE, L2], ids=["bce", "l2"])
def test_hessian_and_trace_formulas_match_autodiff(loss):
    rng = np.random.default_rng(0)
    pts = rng.uniform(-3, 3, size=(20, 2))
    f = closed_forms.product_objective(loss)
    hess = jax.jit(jax.hessian(f))
    for x, y in pts:
        h_auto = np.asarray(hess(jnp.array([x, y])))
        h_form = np.asarray(closed_forms.hessian_formula(loss, x, y))
        scale = np.linalg.norm(h_auto)
        assert np.max(np.abs(h_auto - h_form)) <= 1e-12 * scale
        tr = float(closed_forms.hessian_trace_formula(loss, x, y))
        assert abs(np.trace(h_auto) - tr) <= 1e-12 * max(scale, abs(tr))


def test_rank_one_hessian_on_minimum_manifold():
    f = closed_forms.product_objective(BCE)
    for x in (0.5, -2.0, 7.0, 40.0):
        y = BCE.z_star / x
        h_auto = np.asarray(jax.hessian(f)(jnp.array([x, y])))
        h_form = np.asarray(closed_forms.minimum_hessian_formula(BCE, x, y))
        ev = np.linalg.eigvalsh(h_auto)
        S = float(closed_forms.minimum_sharpness_formula(BCE, x, y))
        assert np.max(np.abs(h_auto - h_form)) <= 1e-12 * S
        assert ev[-1] == pytest.approx(S, rel=1e-12)
        assert abs(ev[0]) <= 1e-10 * S


def test_exact_updates_match_one_gd_step():
    rng = np.random.default_rng(1)
    eta = 0.05
    grad = jax.grad(closed_forms.product_objective(BCE))
    for x, y in rng.uniform(-4, 4, size=(20, 2)):
        w = jnp.array([x, y])
        w1 = w - eta * grad(w)
        z, s, d = x * y, x * x + y * y, x * x - y * y
        z1, s1 = closed_forms.exact_update(BCE, eta, z, s)
        assert float(z1) == pytest.approx(float(w1[0] * w1[1]), rel=1e-12, abs=1e-14)
        assert float(s1) == pytest.approx(float(w1 @ w1), rel=1e-12)
        d1 = float(w1[0] ** 2 - w1[1] ** 2)
        assert float(closed_forms.imbalance_update(BCE, eta, z, d)) == pytest.approx(d1, rel=1e-11, abs=1e-13 * s)
        # Lemma A.4: s^2 - 4 z^2 = d^2 scales by the squared factor.
        lhs = float(s1**2 - 4 * z1**2)
        rhs = float(closed_forms.contraction_factor(BCE, eta, z) ** 2 * (s**2 - 4 * z**2))
        assert lhs == pytest.approx(rhs, rel=1e-10, abs=1e-12 * s**2)
        # Eq. 9: the exact update differs from z - lambda l'(z) by eta^2 z l'(z)^2.
        g = float(jax.grad(BCE.fn)(z))
        dropped = float(z1 - closed_forms.first_order_update(BCE, z, eta * s))
        assert dropped == pytest.approx(eta**2 * z * g * g, rel=1e-8, abs=1e-15)


@pytest.mark.parametrize("loss", [BCE, L2, losses.log_cosh()], ids=["bce", "l2", "logcosh"])
@pytest.mark.parametrize("kappa", [1.5, 2.0, 2.1])
def test_two_step_coeffs_match_autodiff_taylor(loss, kappa):
    m = closed_forms.minimum_derivatives(loss)
    eta = kappa / m.l2
    lp = jax.grad(loss.fn)

    def g(z):  # z_t - z_{t+2}
        z1 = z - eta * lp(z)
        return z - (z1 - eta * lp(z1))

    d1 = jax.grad(g)
    d2 = jax.grad(d1)
    d3 = jax.grad(d2)
    taylor = np.array([float(d1(m.z_star)), float(d2(m.z_star)) / 2, float(d3(m.z_star)) / 6])
    coeffs = closed_forms.two_step_coeffs(loss, eta)
    assert np.allclose(coeffs, taylor, rtol=1e-9, atol=1e-10 * max(1.0, np.abs(taylor).max()))
    if kappa == 2.0:
        assert coeffs[2] == pytest.approx(2 * m.alpha / (3 * m.l2**2), rel=1e-12)


def test_lemma_a2_h_at_threshold():
    for loss, _ in families.table_1_rows():
        m = closed_forms.minimum_derivatives(loss)
        assert closed_forms.lemma_a2_h(loss, 2 / m.l2) == pytest.approx(2 * m.alpha / m.l2, rel=1e-12, abs=1e-14)


def test_product_sharpness_matches_dense_eigh():
    rng = np.random.default_rng(3)
    for loss in (BCE, L2):
        hess = jax.jit(jax.hessian(closed_forms.product_objective(loss)))
        pts = rng.uniform(-3, 3, size=(20, 2))
        got = np.asarray(closed_forms.product_sharpness(loss, pts[:, 0], pts[:, 1]))
        want = np.array([np.linalg.eigvalsh(np.asarray(hess(jnp.asarray(p))))[-1] for p in pts])
        scale = np.array([np.linalg.norm(np.asarray(hess(jnp.asarray(p)))) for p in pts])
        assert np.all(np.abs(got - want) <= 1e-12 * scale)
    # On the manifold it is s l2 (Lemma 3.1).
    x = 7.0
    assert float(closed_forms.product_sharpness(BCE, x, BCE.z_star / x)) == pytest.approx(
        (x * x + (BCE.z_star / x) ** 2) * closed_forms.minimum_derivatives(BCE).l2, rel=1e-13)


def test_two_step_contraction_normal_form():
    for loss in (BCE, L2):
        m = closed_forms.minimum_derivatives(loss)
        C = m.alpha / (3 * m.l2**2)
        u = np.array([-1e-3, 1e-3])
        r = np.asarray(closed_forms.two_step_contraction(loss, 2 / m.l2, m.z_star + u))
        assert np.allclose((1 - r) / (2 * C * u**2), 1.0, atol=0.01)
        below = np.asarray(closed_forms.two_step_contraction(loss, 0.95 * 2 / m.l2, m.z_star + np.linspace(0.001, 0.05, 20)))
        assert np.all(below < 1)
    neg = losses.quartic_negative_control()
    assert float(closed_forms.two_step_contraction(neg, 2.0, 1.001)) > 1
