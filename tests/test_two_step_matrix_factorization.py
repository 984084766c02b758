"""Unit tests of eoslib.papers.two_step.matrix_factorization: orbit, multipliers, Theorem 6's 96 A^2 B^2."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib.papers.two_step import matrix_factorization as mf


def _target(s=0.7, key=0):
    return mf.spectrum_target(np.array([1.0, s, 0.3 * s, 0.2 * s, 0.1 * s]), jax.random.PRNGKey(key))


def test_spectrum_target():
    C, Q = _target(0.6)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(np.asarray(C)))[::-1],
                               [1, 0.6, 0.18, 0.12, 0.06], atol=1e-14)
    np.testing.assert_allclose(np.asarray(Q.T @ Q), np.eye(5), atol=1e-14)


def test_exact_orbit_is_period_two_with_eq8_values():
    C, _ = _target(0.6)
    eta = 1.1
    (X1, Y1), (X2, Y2) = mf.exact_orbit(C, eta)
    A, B = mf.mf_step(X1, Y1, C, eta)
    np.testing.assert_allclose(np.asarray(A), np.asarray(X2), atol=1e-14)
    A, B = mf.mf_step(A, B, C, eta)
    np.testing.assert_allclose(np.asarray(A), np.asarray(X1), atol=1e-14)
    np.testing.assert_allclose(np.asarray(B), np.asarray(Y1), atol=1e-14)
    s = sorted([float(mf.top_singular_values(X1)), float(mf.top_singular_values(X2))])
    # eq (8): roots of s^2 - sqrt(lam1 + 3/eta) s + 1/eta
    roots = np.sort(np.roots([1, -math.sqrt(1 + 3 / eta), 1 / eta]).real)
    np.testing.assert_allclose(s, roots, rtol=1e-13)


def test_generic_gd_reaches_the_orbit():
    C, _ = _target(0.5, key=1)
    k1, k2 = jax.random.split(jax.random.PRNGKey(2))
    X0 = 0.01 * jax.random.normal(k1, (5, 5))
    Y0 = 0.01 * jax.random.normal(k2, (5, 5))
    run = mf.mf_gd(X0, Y0, C, 1.1, 4000, record_from=3996)
    assert run.diverged_at == -1
    sx = np.linalg.svd(run.X[-2:], compute_uv=False)[:, 0]
    sy = np.linalg.svd(run.Y[-2:], compute_uv=False)[:, 0]
    np.testing.assert_allclose(np.sort(sx), mf.orbit_singular_values(1.1, 1.0), atol=1e-10)
    np.testing.assert_allclose(sx, sy, atol=1e-10)
    assert mf.classify_tail(run) == mf.PERIOD2


def test_mf_gd_batched_and_divergence():
    C, _ = _target(0.7)
    X0 = 0.01 * jnp.eye(5)
    run = mf.mf_gd(X0, X0, C, np.array([1.05, 3.0]), 500, record_from=497)
    assert run.diverged_at[0] == -1 and run.diverged_at[1] > 0
    assert np.all(np.isfinite(run.X))
    np.testing.assert_array_equal(mf.classify_tail(run), [mf.PERIOD2, mf.DIVERGED])
    assert "1 of 2 runs diverged" in run.report()


def test_loss_of_stability_at_two_over_one_plus_s():
    for s in (0.7, 0.9):
        C, _ = _target(s)
        k = mf.loss_of_stability_k(C, tol=1e-10)
        assert k == pytest.approx(2 / (1 + s), abs=1e-9)
        m = mf.cross_mode_multipliers(C, 1.01 * k)
        top = m[np.argmax(np.abs(m))]
        assert abs(top.imag) > 1e-3  # a complex pair leaves the unit circle (Neimark-Sacker)


def test_unbalanced_spectrum_and_eq9():
    lam = np.array([3.0, 2.0, 0.5])
    Q = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    X0 = Q * np.sqrt(lam)[None, :]
    C = X0 @ X0.T
    alpha = 0.8
    Y, Z = alpha * X0, X0 / alpha
    z = jnp.concatenate([jnp.asarray(Y).ravel(), jnp.asarray(Z).ravel()])
    H = jax.jit(jax.hessian(lambda v: mf.mf_loss(v[:9].reshape(3, 3), v[9:].reshape(3, 3), jnp.asarray(C))))(z)
    ev = np.sort(np.linalg.eigvalsh(np.asarray(H)))[::-1]
    np.testing.assert_allclose(ev[:9], mf.unbalanced_minimum_spectrum(lam, alpha), rtol=1e-10)
    eta = 0.3
    assert float(mf.eq9_value(eta, alpha, 3.0, 2.0)) == pytest.approx(eta * ev[1], rel=1e-10)
    assert float(mf.eq9_max_k(2.0 / 3.0, alpha)) * 1.0 == pytest.approx(2 * 3.0 / ev[1], rel=1e-10)


@pytest.mark.parametrize("shape,seed", [((4, 3, 5), 0), ((3, 5, 4), 2)])  # the notebook also runs (6, 6, 6)
def test_theorem6_top_direction_and_96_A2_B2(shape, seed):
    m, p, q = shape
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    X = jax.random.normal(k1, (m, p))
    Y = jax.random.normal(k2, (p, q))
    C = X @ Y
    t6 = mf.theorem6_direction(X, Y)
    z = jnp.concatenate([X.ravel(), Y.ravel()])
    H = jax.jit(jax.hessian(lambda v: mf.product_loss(v[: m * p].reshape(m, p), v[m * p:].reshape(p, q), C)))(z)
    ev, V = np.linalg.eigh(np.asarray(H))
    assert ev[-1] == pytest.approx(t6.A2, rel=1e-12)
    delta = np.concatenate([np.asarray(t6.dX).ravel(), np.asarray(t6.dY).ravel()])
    assert abs(np.dot(V[:, -1], delta)) == pytest.approx(1.0, abs=1e-8)
    c, vals = mf.stability_number_along(X, Y, C, t6.dX, t6.dY)
    assert c == pytest.approx(t6.C_pred, rel=1e-10)
    np.testing.assert_allclose(vals, [t6.A2, 6 * math.sqrt(t6.A2) * t6.B, 12 * t6.B**2], rtol=1e-10)


def test_minimiser_sharpness_proposition_7():
    C, _ = _target(0.6)
    X = jax.random.normal(jax.random.PRNGKey(4), (5, 5))
    top, pred = mf.minimiser_sharpness(X, C)
    assert top == pytest.approx(pred, rel=1e-10)
    assert top >= 2.0 - 1e-12


@pytest.mark.parametrize("call", [
    lambda: mf.spectrum_target(np.array([1.0, 1.0]), jax.random.PRNGKey(0)),
    lambda: mf.spectrum_target(np.array([1.0, -0.5]), jax.random.PRNGKey(0)),
    lambda: mf.gaussian_target(1, jax.random.PRNGKey(0)),
    lambda: mf.orbit_singular_values(0.5, 1.0),
    lambda: mf.mf_gd(jnp.zeros((3, 2)), jnp.zeros((3, 2)), jnp.eye(3), -1.0, 10),
    lambda: mf.mf_gd(jnp.zeros((3, 2)), jnp.zeros((2, 3)), jnp.eye(3), 1.0, 10),
    lambda: mf.mf_gd(jnp.zeros((3, 2)), jnp.zeros((3, 2)), jnp.eye(3), 1.0, 10, record_every=3),
    lambda: mf.eq9_value(1.0, 0.8, 1.0, 2.0),
    lambda: mf.eq9_max_k(1.5, 0.8),
    lambda: mf.theorem6_direction(jnp.ones((3, 2)), jnp.ones((3, 2))),
    lambda: mf.quasi_symmetric_init(jnp.eye(2), 0.0, 1e-3, jax.random.PRNGKey(0)),
])
def test_mf_bad_input(call):
    with pytest.raises(ValueError):
        call()


def test_quasi_symmetric_orbit_is_a_gd_two_cycle():
    X0 = jax.random.normal(jax.random.PRNGKey(1), (4, 4))
    C = X0 @ X0.T
    lam1 = float(np.linalg.svd(np.asarray(X0), compute_uv=False)[0] ** 2)
    eta = 1.05 / lam1
    orb = mf.quasi_symmetric_orbit(X0, 0.8, eta)
    (Y1, Z1), (Y2, Z2) = orb
    A, B = mf.mf_step(jnp.asarray(Y1), jnp.asarray(Z1), C, eta)
    np.testing.assert_allclose(np.asarray(A), Y2, atol=1e-12)
    np.testing.assert_allclose(np.asarray(B), Z2, atol=1e-12)
    s = np.sort([np.linalg.svd(Y1, compute_uv=False)[0], np.linalg.svd(Y2, compute_uv=False)[0]])
    np.testing.assert_allclose(s, mf.orbit_singular_values(eta, lam1), rtol=1e-12)
    d = mf.orbit_distance(np.stack([Y1, Y2 + 1e-3]), np.stack([Z1, Z2]), orb)
    np.testing.assert_allclose(d, [0.0, 1e-3], atol=1e-12)
