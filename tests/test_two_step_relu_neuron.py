"""Unit tests of eoslib.papers.two_step.relu_neuron: closed forms vs autodiff and Monte Carlo, Prop 4 orbit."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib.papers.two_step import quartic as qu
from eoslib.papers.two_step import relu_neuron as rn


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
    d1, d2 = qu.orbit_deltas(1.1)
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
