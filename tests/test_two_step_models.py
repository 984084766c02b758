"""Unit tests of the two_step model modules: single ReLU neuron, matrix factorisation, Appendix B nets.

Closed forms against autodiff and Monte Carlo, known orbits, Theorem 6's 96 A^2 B^2, bad input.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib.papers.two_step import experiments as ex
from eoslib.papers.two_step import matrix_factorization as mf
from eoslib.papers.two_step import relu_neuron as rn

# ----------------------------------------------------------------------------- orbit helper


def test_orbit_points_identities():
    K = np.array([1.0, 1.05, 1.1, 1.2])
    for mu in (1.0, 2.5):
        d1, d2 = rn.orbit_points(K, mu)
        eta = K / mu
        np.testing.assert_allclose(d1 * d2, 1 / eta, rtol=1e-14)
        np.testing.assert_allclose(d1 + d2, np.sqrt(mu + 3 / eta), rtol=1e-14)
        np.testing.assert_allclose(d1**2 + d2**2, mu + 1 / eta, rtol=1e-14)
        # period 2 of x -> x - eta x (x^2 - mu)
        f = lambda x: x - eta * x * (x * x - mu)  # noqa: E731
        np.testing.assert_allclose(f(d1), d2, rtol=1e-13)
        np.testing.assert_allclose(f(d2), d1, rtol=1e-13)


# ----------------------------------------------------------------------------- ReLU neuron


def test_population_loss_matches_monte_carlo():
    w = jnp.array([0.7, 0.4, -0.3])
    wt = jnp.array([1.0, 0.0, 0.0])
    closed = float(rn.population_loss(0.9, w, wt))
    mean, se = rn.monte_carlo_loss(0.9, w, wt, jax.random.PRNGKey(3), 200_000)
    assert abs(mean - closed) < 5 * se  # 5 standard errors: false-alarm rate ~6e-7


def test_population_loss_at_minimum_and_known_values():
    wt = jnp.array([0.0, 1.0])
    assert abs(float(rn.population_loss(2.0, 0.5 * wt, wt))) < 1e-15  # v w = w~
    # v = 0: L = E relu(w~.x)^2 = 1/(2d)
    assert float(rn.population_loss(0.0, jnp.array([0.3, 0.1]), wt)) == pytest.approx(0.25, rel=1e-14)


def test_reduced_gradient_matches_autodiff_in_d_dimensions():
    d = 5
    wt = jnp.eye(d)[0]
    e2 = jnp.eye(d)[1]

    def L(p):
        return rn.population_loss(p[0], p[1:], wt)

    for v, wx, wy in [(0.8, 0.6, 0.3), (1.2, -0.2, 0.5), (0.3, 0.9, -0.05)]:
        p = jnp.concatenate([jnp.array([v]), wx * wt + wy * e2])
        g = jax.jit(jax.grad(L))(p) * d
        gr = rn.reduced_gradient(jnp.array([v, wx, wy]))
        np.testing.assert_allclose(np.asarray(g[:3]), np.asarray(gr), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(np.asarray(g[3:]), 0.0, atol=1e-14)


def test_minimum_hessian_formula_and_autodiff():
    d = 4
    wt = jnp.eye(d)[0]
    v = 0.8
    w = wt / v
    # Autodiff Hessian at the minimum, with w perturbed off the teacher ray by nothing: use the
    # closed form with the sqrt of a strictly positive perpendicular part replaced by its limit
    # via a tiny offset (the loss is C^2 across w_y = 0 in the signed coordinate).
    H = np.asarray(rn.minimum_hessian(v, w))
    ev = np.sort(np.linalg.eigvalsh(H))[::-1]
    n2 = float(jnp.dot(w, w))
    np.testing.assert_allclose(ev[0], (n2 + v * v) / d, rtol=1e-13)
    np.testing.assert_allclose(ev[1:d], v * v / d, rtol=1e-13)
    assert abs(ev[-1]) < 1e-14

    def Lr(p):  # reduced coordinates: (v, w_x, w_y)
        return rn.population_loss_reduced(p[0], p[1], p[2], d)

    Hr = np.asarray(jax.jit(jax.hessian(Lr))(jnp.array([v, 1 / v, 1e-30])))
    np.testing.assert_allclose(Hr, H[:3, :3], rtol=1e-10, atol=1e-12)


def test_reduced_run_limit_orbit_proposition_4():
    run = rn.reduced_run(jnp.array([0.1, 0.0, 0.1]), 1.1, 400)
    tail = run.states[-2:]
    d1, d2 = rn.orbit_points(1.1)
    np.testing.assert_allclose(np.sort(tail[:, 0]), [d1, d2], atol=1e-12)
    np.testing.assert_allclose(tail[:, 0], tail[:, 1], atol=1e-12)
    assert np.max(np.abs(tail[:, 2])) < 1e-50
    assert run.diverged_at == -1
    np.testing.assert_allclose([d1, d2], [0.814552, 1.116063], atol=1e-6)


def test_reduced_final_matches_reduced_run():
    s0 = jnp.array([[0.05, 0.02, 0.04], [0.1, 0.1, 0.0]])
    run = rn.reduced_run(s0, jnp.array([1.05, 1.08]), 300)
    tail, div = rn.reduced_final(s0, jnp.array([1.05, 1.08]), 300, keep_last=2)
    np.testing.assert_array_equal(tail, run.states[:, -2:])
    np.testing.assert_array_equal(div, [-1, -1])


def test_wy_factor_and_theorem4_bound():
    np.testing.assert_allclose(rn.wy_two_step_factor(np.array([1.05, 1.1])), [-0.05, -0.1], atol=1e-14)
    assert rn.theorem4_t1(0.1) == 4
    b = rn.theorem4_bound(np.arange(12), 1.1, 0.1)
    assert np.all(np.isinf(b[:8])) and b[8] == pytest.approx(0.1)
    assert b[9] == pytest.approx(0.1 * (1 - 0.033))


def test_effective_k_on_the_ray():
    x = rn.sphere_samples(jax.random.PRNGKey(0), 4000, 2)
    wt = jnp.array([1.0, 0.0])
    k = rn.effective_k(2.2, x, wt)
    assert k == pytest.approx(1.1, rel=0.05)  # population value 2 eta / (2 d) = 1.1


@pytest.mark.parametrize("call", [
    lambda: rn.orbit_points(0.9),
    lambda: rn.orbit_points(1.1, mu=0.0),
    lambda: rn.population_loss_reduced(1.0, 1.0, 0.0, d=0),
    lambda: rn.population_loss(1.0, jnp.ones(2), jnp.ones(2)),
    lambda: rn.theorem4_t1(0.2),
    lambda: rn.theorem4_bound(10, 1.2, 0.1),
    lambda: rn.reduced_run(jnp.zeros(2), 1.1, 10),
    lambda: rn.reduced_run(jnp.zeros(3), -1.0, 10),
    lambda: rn.reduced_final(jnp.zeros(3), 1.1, 1, keep_last=2),
])
def test_neuron_bad_input(call):
    with pytest.raises(ValueError):
        call()


def test_neuron_error_names_parameter():
    with pytest.raises(ValueError, match=r"eps .*\(0, 0.1\]"):
        rn.theorem4_t1(0.5)


# ----------------------------------------------------------------------------- matrix factorisation


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


def test_stable_sets_propositions_5_to_7():
    x = np.linspace(0.01, 3, 3000)
    assert not mf.quartic_stable_set(np.array([1.0]), 1.1).any()
    assert mf.quartic_stable_set(np.array([1.0]), 0.9).all()
    assert not mf.quartic_stable_set(x, 1.1).any()
    lo, hi = mf.product_2d_arc(0.9)
    assert (lo, hi) == pytest.approx((0.792, 1.263), abs=1e-3)  # the sheet's x in [0.792, 1.263]
    np.testing.assert_allclose(np.array([lo, hi]) ** 2 + np.array([lo, hi]) ** -2, 2 / 0.9, rtol=1e-13)
    inside, S = mf.product_2d_stable_set(np.array([1.0, 1.2, 1.3]), 1 / np.array([1.0, 1.2, 1.3]), 0.9)
    np.testing.assert_array_equal(inside, [True, True, False])
    assert not mf.product_2d_stable_set(np.array([1.0]), np.array([1.0]), 1.1)[0].any()
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
    lambda: mf.product_2d_arc(1.5),
    lambda: mf.theorem6_direction(jnp.ones((3, 2)), jnp.ones((3, 2))),
    lambda: mf.quasi_symmetric_init(jnp.eye(2), 0.0, 1e-3, jax.random.PRNGKey(0)),
])
def test_mf_bad_input(call):
    with pytest.raises(ValueError):
        call()


# ----------------------------------------------------------------------------- Appendix B nets


def test_student_minimum_family_and_ratios():
    x, y = ex.teacher_student_data(jax.random.PRNGKey(0), 500, d=4)
    kap = np.array([0.5, 1.0, 1.5, 2.0])
    p = ex.student_params(kap)
    assert float(ex.student_loss(p, x, y, 4)) < 1e-28
    np.testing.assert_allclose(np.asarray(ex.student_ratios(p, 4)), kap, rtol=1e-14)
    s = ex.uniform_ratio_sharpness([0.5, 1.0, 2.0], x, y)
    assert s[1] < s[0] and s[1] < s[2]


def test_line_search_minimum_and_slice_stability_on_a_quartic():
    # f(w) = 1/4 (w^2 - 1)^2 in 1-D: slice along the gradient is f itself (up to sign).
    f = lambda w: 0.25 * (w[0] ** 2 - 1.0) ** 2  # noqa: E731
    w = jnp.array([1.3])
    w_star, e_star = ex.line_search_minimum(f, w, 1.0)
    assert float(w_star[0]) == pytest.approx(1.0, abs=1e-7)
    c, vals = ex.slice_stability(f, jnp.array([1.0]), jnp.array([1.0]))
    np.testing.assert_allclose(np.asarray(vals), [2.0, 6.0, 6.0], rtol=1e-12)
    assert float(c) == pytest.approx(96.0, rel=1e-12)


def test_tracked_gd_reports_divergence_and_diagnostics():
    f = lambda w: 0.5 * jnp.sum(jnp.array([3.0, 1.0]) * w * w)  # noqa: E731
    run = ex.tracked_gd(f, jnp.array([1.0, 1.0]), [0.5] * 5)
    np.testing.assert_allclose(run.sharpness, 3.0, rtol=1e-8)
    assert run.diverged_at == -1
    run = ex.tracked_gd(f, jnp.array([1.0, 1.0]), [1.0] * 200)
    assert run.diverged_at > 0 and "diverged at step" in run.report()


@pytest.mark.parametrize("call", [
    lambda: ex.student_params(np.array([1.0, -1.0])),
    lambda: ex.student_params(np.array([1.0]), noise=0.1),
    lambda: ex.teacher_student_data(jax.random.PRNGKey(0), 0),
    lambda: ex.tracked_gd(lambda w: jnp.sum(w * w), jnp.ones(2), [0.1, -0.1]),
    lambda: ex.mnist_like_binary("cifar10"),
])
def test_experiments_bad_input(call):
    with pytest.raises(ValueError):
        call()
