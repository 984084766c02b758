"""Unit tests of eoslib.papers.product_stability.dynamics: GD on l(xy) through eoslib.gd."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import losses
from eoslib.papers.product_stability import closed_forms, dynamics, limits

BCE = losses.soft_bce(0.2)
L2 = losses.multilayer_squared(2)


def test_gd_product_matches_python_loop_and_detects_divergence():
    x0, y0 = dynamics.eos_init(BCE, 0.05, 0.1, 0.05)
    tr = dynamics.gd_product(BCE, 0.05, x0, y0, 60, record_every=3)
    grad = jax.grad(closed_forms.product_objective(BCE))
    w = jnp.array([x0, y0])
    for _ in range(60):
        w = w - 0.05 * grad(w)
    assert tr.x.shape == (21,)
    assert float(tr.x[-1]) == pytest.approx(float(w[0]), rel=1e-13)
    assert float(tr.z[-1]) == pytest.approx(float(w[0] * w[1]), rel=1e-12)
    assert int(tr.diverged_at) == -1
    bad = dynamics.gd_product(L2, 0.5, 3.0, 3.0, 50)
    assert int(bad.diverged_at) >= 1 and np.all(np.isfinite(np.asarray(bad.x)))


def test_eos_init():
    x0, y0 = dynamics.eos_init(BCE, 0.05, 0.1, 0.05)
    m = closed_forms.minimum_derivatives(BCE)
    assert x0 * y0 == pytest.approx(BCE.z_star + 0.05, rel=1e-13)
    assert 0.05 * (x0**2 + y0**2) * m.l2 == pytest.approx(2.1, rel=1e-13)


def test_limit_runs_matches_single_runs_and_reports_divergence():
    r = dynamics.limit_runs(L2, np.array([0.1, 0.05]), np.array([[0.05], [0.2]]), 0.05, max_steps=200_000, grad_tol=1e-12)
    assert r.s.shape == (2, 2) and r.eta.shape == (2, 2)
    x0, y0 = dynamics.eos_init(L2, 0.05, 0.2, 0.05)
    x, y, k = dynamics.gd_product_until(L2, 0.05, x0, y0, max_steps=200_000, grad_tol=1e-12)
    assert float(r.x[1, 1]) == pytest.approx(float(x), rel=1e-14)
    assert int(r.steps[1, 1]) == k
    assert np.all(r.converged) and np.all(r.diverged_at == -1)
    assert np.allclose(r.limit_sharpness, r.s * closed_forms.minimum_derivatives(L2).l2)
    assert np.allclose(r.limit_sharpness, r.sharpness, rtol=1e-9)
    # Theorem 5.2 at eta = 0.05: regression against the recorded ratio 0.9801.
    G = limits.limit_gap_coefficient(L2)
    assert (2 / 0.05 - r.limit_sharpness[0, 1]) / (G * 0.05) == pytest.approx(0.9801, abs=1e-4)
    neg = dynamics.limit_runs(losses.quartic_negative_control(), 0.05, np.array([0.03, 0.1]), 0.05, max_steps=10_000)
    assert np.all(neg.diverged_at > 0) and not np.any(neg.converged)
    assert all(s.startswith("diverged at step") for s in neg.reports())
    assert np.all(np.isfinite(neg.x))
    with pytest.raises(ValueError, match="mu0s"):
        dynamics.limit_runs(L2, 0.05, -3.0, 0.0)
    with pytest.raises(ValueError, match="etas"):
        dynamics.limit_runs(L2, [0.05, -1.0], 0.1, 0.0)


def test_run_to_manifold_stops_at_first_chunk_multiple_and_caps():
    # A plain Python loop with the same test every `chunk` steps gives the same state and count.
    x0, y0 = dynamics.eos_init(L2, 0.1, 0.05, 0.05)
    lp = jax.grad(L2.fn)
    step = jax.jit(lambda x, y: (x - 0.1 * y * lp(x * y), y - 0.1 * x * lp(x * y)))
    x, y, t = jnp.asarray(x0), jnp.asarray(y0), 0
    while not abs(float(lp(x * y))) < 1e-9:
        for _ in range(50):
            x, y = step(x, y)
        t += 50
    xu, yu, k = dynamics.gd_product_until(L2, 0.1, x0, y0, grad_tol=1e-9, chunk=50)
    assert k == t and float(xu) == float(x) and float(yu) == float(y)
    # The cap is rounded up to a multiple of chunk; an unconverged run reports it.
    _, _, k_cap = dynamics.gd_product_until(L2, 0.1, x0, y0, max_steps=120, grad_tol=1e-300, chunk=50)
    assert k_cap == 150
    r = dynamics.limit_runs(L2, 0.1, 0.05, 0.05, max_steps=120, grad_tol=1e-300, chunk=50)
    assert int(r.steps) == 150 and not bool(r.converged) and int(r.diverged_at) == -1


def test_limit_runs_divergence_step_follows_gd_convention():
    # The first invalid iterate is the one whose norm exceeds max_norm; the state is the one before.
    neg = losses.quartic_negative_control()
    r = dynamics.limit_runs(neg, 0.05, 0.1, 0.05, max_steps=10_000, max_norm=1e3)
    tr = dynamics.gd_product(neg, 0.05, *dynamics.eos_init(neg, 0.05, 0.1, 0.05), 1000, max_norm=1e3)
    k = int(tr.diverged_at)
    assert k > 0 and int(r.diverged_at) == k
    assert float(r.x) == float(tr.x[k - 1]) and np.sqrt(float(r.s)) <= 1e3
