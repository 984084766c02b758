"""Unit tests of eoslib.papers.product_stability.cycles: the 2-cycle, its branches and lambda(z)."""

import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import losses
from eoslib.papers.product_stability import closed_forms, cycles, dynamics

BCE = losses.soft_bce(0.2)
L2 = losses.multilayer_squared(2)


def test_bifurcation_cycle_satisfies_cycle_conditions_and_attracts_gd():
    etas = closed_forms.eta_from_mu(BCE, np.array([0.01, 0.04, 0.1]))
    pm, pp = cycles.bifurcation_cycle(BCE, etas)
    r1, r2 = cycles.cycle_residuals(BCE, etas, pm, pp)
    assert np.max(np.abs(np.asarray(r1))) < 1e-12 and np.max(np.abs(np.asarray(r2))) < 1e-12
    assert np.all(np.asarray(pm) < BCE.z_star) and np.all(np.asarray(pp) > BCE.z_star)
    # Regression: half-amplitudes recorded in an earlier run (Theorem 4.2 page).
    assert np.asarray((pp - pm) / 2) == pytest.approx([0.16976, 0.33909, 0.53488], abs=1e-5)
    a_pred = cycles.cycle_amplitude_prediction(BCE, etas).half_amplitude
    assert np.allclose(a_pred, [0.16984, 0.33968, 0.53709], atol=1e-5)
    zT, zT1, esc = dynamics.gd_scalar_final(BCE, etas, BCE.z_star + 0.01, 20000)
    assert np.all(np.asarray(esc) == -1)
    hi, lo = np.maximum(zT, zT1), np.minimum(zT, zT1)
    assert np.allclose(hi, pp, atol=1e-10) and np.allclose(lo, pm, atol=1e-10)
    # The cycle points lie on the inverse bifurcation curve lambda(z) = eta.
    assert np.allclose(cycles.inverse_bifurcation(BCE, pp), etas, rtol=1e-12)
    assert np.allclose(cycles.inverse_bifurcation(BCE, pm), etas, rtol=1e-12)


def test_negative_control_escapes():
    neg = losses.quartic_negative_control()
    assert closed_forms.minimum_derivatives(neg).alpha == pytest.approx(-6.0)
    _, _, esc = dynamics.gd_scalar_final(neg, 2.04, 1.01, 5000)
    assert int(esc) > 0


@pytest.mark.parametrize("loss,eps", [(BCE, 0.01), (L2, 0.002)], ids=["bce", "l2"])
def test_inverse_bifurcation_curvature(loss, eps):
    # Lemma B.1: lambda(z) = 2/l2 + (alpha / (3 l2^3)) u^2 + O(u^3); the +-u average cancels u^3.
    m = closed_forms.minimum_derivatives(loss)
    lam = np.asarray(cycles.inverse_bifurcation(loss, jnp.array([m.z_star + eps, m.z_star - eps, m.z_star])))
    assert lam[2] == 2 / m.l2
    ratio = np.mean(lam[:2] - 2 / m.l2) / eps**2
    assert ratio == pytest.approx(cycles.inverse_bifurcation_curvature(loss) / 2, rel=1e-3)


def test_branch_slopes_match_finite_differences():
    etas = closed_forms.eta_from_mu(BCE, np.array([0.01, 0.1, 0.3]))
    pm, pp = cycles.bifurcation_cycle(BCE, etas)
    dm, dp, fm, fp = (np.asarray(a) for a in cycles.branch_slopes(BCE, etas, pm, pp))
    h = 1e-3 * np.array([0.01, 0.1, 0.3]) / closed_forms.minimum_derivatives(BCE).l2
    pm_hi, pp_hi = cycles.bifurcation_cycle(BCE, etas + h)
    pm_lo, pp_lo = cycles.bifurcation_cycle(BCE, etas - h)
    assert np.allclose((np.asarray(pp_hi) - np.asarray(pp_lo)) / (2 * h), dp, rtol=1e-5)
    assert np.allclose((np.asarray(pm_hi) - np.asarray(pm_lo)) / (2 * h), dm, rtol=1e-5)
    assert np.all(dp > 0) and np.all(dm < 0) and np.all(fp > 0) and np.all(fm > 0)


def test_bifurcation_cycle_keeps_the_shape_of_eta():
    etas = closed_forms.eta_from_mu(BCE, np.array([[0.01, 0.04], [0.02, 0.08]]))
    pm, pp = cycles.bifurcation_cycle(BCE, etas)
    assert pm.shape == (2, 2) and pp.shape == (2, 2)
    pm1, pp1 = cycles.bifurcation_cycle(BCE, etas[1])
    assert np.array_equal(np.asarray(pp[1]), np.asarray(pp1))


def test_cycle_centre_offset_converges_to_the_prediction_at_rate_mu():
    # Theorem 4.2: the cycle centre sits at z* + m with m = -l3 a^2 / (2 l2), up to a relative O(mu).
    mus = np.array([1e-3, 4e-3])
    etas = closed_forms.eta_from_mu(BCE, mus)
    pm, pp = cycles.bifurcation_cycle(BCE, etas)
    offset = np.asarray(cycles.cycle_amplitude_prediction(BCE, etas).offset)
    err = np.abs(((np.asarray(pp) + np.asarray(pm)) / 2 - BCE.z_star) / offset - 1)
    assert np.all(err < 2 * mus) and err[0] < err[1]
