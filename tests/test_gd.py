"""eoslib.gd: trajectories, divergence detection, sweeps, maps, validation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import gd
from eoslib.losses import soft_bce

CURV = jnp.array([1.0, 3.0])


def quad(x):
    return 0.5 * jnp.sum(CURV * x**2)


def quad1(x):
    return 2.0 * x**2  # L = 4


_BCE = soft_bce(0.2)


def bce_xy(p):
    return _BCE(p[0] * p[1])


def test_gd_step_and_k_step_map():
    x = jnp.array([0.7, -1.2])
    np.testing.assert_allclose(gd.gd_step(quad, 0.1)(x), x - 0.1 * CURV * x, rtol=1e-15)
    step = jax.jit(gd.gd_step(bce_xy, 0.3))
    for k in [3, 10]:  # 10 takes the fori_loop path
        y = x
        for _ in range(k):
            y = step(y)
        np.testing.assert_allclose(jax.jit(gd.k_step_map(bce_xy, 0.3, k))(x), y, rtol=1e-14)


def test_convergent_quadratic_matches_closed_form():
    eta = 0.6  # eta * L = 0.6, 1.8 < 2
    x0 = jnp.array([1.0, -2.0])
    tr = gd.gd_trajectory(quad, x0, eta, 60)
    t = np.arange(61)[:, None]
    expected = np.asarray(x0) * (1 - eta * np.asarray(CURV)) ** t
    np.testing.assert_allclose(tr.params, expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(tr.loss, jax.vmap(quad)(jnp.asarray(expected)), rtol=1e-12)
    assert int(tr.diverged_at) == -1 and not tr.diverged
    assert tr.report() == "ran 60 steps without diverging"
    np.testing.assert_array_equal(tr.times, np.arange(61))


@pytest.mark.parametrize("x0,max_norm", [(1.0, 1e8), (0.37, 1e3), (-2.5, 1e12)])
def test_divergence_step_is_exact(x0, max_norm):
    # quad1 has L = 4; eta = 1 gives x_t = (1 - 4)^t x0, |x_t| = 3^t |x0|.
    q = 3.0
    expected = math.floor(math.log(max_norm / abs(x0)) / math.log(q)) + 1
    assert abs(x0) * q ** (expected - 1) <= max_norm < abs(x0) * q**expected  # no tie
    num_steps = expected + 20
    tr = gd.gd_trajectory(quad1, jnp.asarray(x0), 1.0, num_steps, max_norm=max_norm)
    assert int(tr.diverged_at) == expected
    assert tr.diverged and tr.report() == f"diverged at step {expected} of {num_steps}"
    params = np.asarray(tr.params)
    last_valid = x0 * (-q) ** (expected - 1)
    np.testing.assert_allclose(params[expected - 1], last_valid, rtol=1e-12)
    np.testing.assert_array_equal(params[expected:], params[expected - 1])  # frozen
    assert np.all(np.isfinite(params)) and np.all(np.isfinite(tr.loss))
    assert np.all(np.abs(params) <= max_norm)
    x_final, div = gd.gd_final(quad1, jnp.asarray(x0), 1.0, num_steps, max_norm=max_norm)
    assert int(div) == expected
    assert float(x_final) == params[-1]


def _numpy_first_nonfinite(step, x0, n):
    x = x0
    with np.errstate(all="ignore"):
        for t in range(1, n + 1):
            x = step(x)
            if not np.isfinite(x):
                return t
    return -1


def test_overflow_to_inf_is_detected_with_infinite_max_norm():
    # f = x^4: x <- x - 4 eta x^3 explodes doubly exponentially and overflows to inf/nan.
    eta, x0 = 0.5, 1.5
    expected = _numpy_first_nonfinite(lambda x: x - 4 * eta * x**3, np.float64(x0), 50)
    assert 3 <= expected < 50
    tr = gd.gd_trajectory(lambda x: x**4, jnp.asarray(x0), eta, 50, max_norm=math.inf)
    assert int(tr.diverged_at) == expected
    assert np.all(np.isfinite(tr.params))  # (the loss x^4 itself overflows at 6e210)
    x_final, div = gd.gd_final(lambda x: x**4, jnp.asarray(x0), eta, 50, max_norm=math.inf)
    assert int(div) == expected and float(x_final) == float(tr.params[-1])
    # A finite max_norm also flags the overflow of the squared norm, one step earlier.
    tr = gd.gd_trajectory(lambda x: x**4, jnp.asarray(x0), eta, 50, max_norm=1e300)
    assert int(tr.diverged_at) == expected - 1


def test_nan_is_detected():
    # f = x^(3/2): the step overshoots to x < 0, where the gradient sqrt(x) is NaN.
    eta, x0 = 1.0, 2.0
    step = lambda x: x - eta * 1.5 * np.sqrt(x)  # noqa: E731
    expected = _numpy_first_nonfinite(step, np.float64(x0), 30)
    assert expected > 1
    x_final, div = gd.gd_final(lambda x: x**1.5, jnp.asarray(x0), eta, 30)
    assert int(div) == expected
    assert np.isfinite(float(x_final)) and float(x_final) < 0  # last valid iterate


def test_record_every_and_sharpness():
    x0 = jnp.array([2.0, 0.1])
    full = gd.gd_trajectory(bce_xy, x0, 0.4, 60)
    thin = gd.gd_trajectory(bce_xy, x0, 0.4, 60, record_every=5, sharpness_every=20, unroll=4)
    np.testing.assert_allclose(thin.params, full.params[::5], rtol=1e-13)
    np.testing.assert_allclose(thin.loss, full.loss[::5], rtol=1e-13)
    np.testing.assert_array_equal(thin.times, np.arange(0, 61, 5))
    np.testing.assert_array_equal(thin.sharpness_times, [0, 20, 40, 60])
    hess = jax.jit(jax.hessian(bce_xy))
    ref = [np.linalg.eigvalsh(np.asarray(hess(x)))[-1] for x in full.params[::20]]
    np.testing.assert_allclose(thin.sharpness, ref, rtol=1e-12)
    assert full.sharpness is None


def test_pytree_params_match_array_params():
    arr = gd.gd_trajectory(bce_xy, jnp.array([2.0, 0.1]), 0.4, 40, record_every=4)
    tup = gd.gd_trajectory(bce_xy, (2.0, 0.1), 0.4, 40, record_every=4)
    np.testing.assert_allclose(tup.params[0], arr.params[:, 0], rtol=1e-14)
    np.testing.assert_allclose(tup.params[1], arr.params[:, 1], rtol=1e-14)
    np.testing.assert_allclose(tup.loss, arr.loss, rtol=1e-14)


def test_float32_is_preserved():
    tr = gd.gd_trajectory(lambda x: 0.5 * jnp.sum(x**2), jnp.array([1.0, 1.0], jnp.float32), 0.1, 5)
    assert tr.params.dtype == jnp.float32 and tr.loss.dtype == jnp.float32


def test_sweep_learning_rates_agrees_with_single_runs():
    etas = jnp.array([0.2, 0.5, 0.66, 0.7, 1.0])  # the last two diverge (eta * 3 > 2)
    x0 = jnp.array([1.0, 0.5])
    sw = gd.sweep_learning_rates(quad, x0, etas, 200, record_every=10, max_norm=1e3)
    assert sw.params.shape == (5, 21, 2) and sw.loss.shape == (5, 21)
    for i, eta in enumerate(etas):
        one = gd.gd_trajectory(quad, x0, float(eta), 200, record_every=10, max_norm=1e3)
        np.testing.assert_allclose(sw.params[i], one.params, rtol=1e-13)
        assert int(sw.diverged_at[i]) == int(one.diverged_at)
    assert list(np.asarray(sw.diverged_at) >= 0) == [False, False, False, True, True]
    assert sw.report().startswith("2 of 5 runs diverged")
    # Default: only the endpoints.
    ends = gd.sweep_learning_rates(quad, x0, etas, 200, max_norm=1e3)
    np.testing.assert_allclose(ends.params, sw.params[:, ::20], rtol=1e-13)


def test_sweep_final_agrees_with_gd_final():
    etas = jnp.linspace(0.1, 1.5, 6)
    x0 = (2.0, 0.1)
    xs, div = gd.sweep_final(bce_xy, x0, etas, 300)
    for i, eta in enumerate(etas):
        (x, y), d = gd.gd_final(bce_xy, x0, float(eta), 300)
        np.testing.assert_allclose([xs[0][i], xs[1][i]], [x, y], rtol=1e-13)
        assert int(div[i]) == int(d)


def test_sweep_initial_points_agrees_with_single_runs():
    x0s = jnp.array([[2.0, 0.1], [1.0, -0.5], [0.3, 3.0]])
    sw = gd.sweep_initial_points(bce_xy, x0s, 0.3, 50, record_every=25, sharpness_every=25)
    assert sw.params.shape == (3, 3, 2) and sw.sharpness.shape == (3, 3)
    for i in range(3):
        one = gd.gd_trajectory(bce_xy, x0s[i], 0.3, 50, record_every=25, sharpness_every=25)
        np.testing.assert_allclose(sw.params[i], one.params, rtol=1e-13)
        np.testing.assert_allclose(sw.sharpness[i], one.sharpness, rtol=1e-12)


def test_map_trajectory_matches_python_loop():
    eta = 2.02 / 0.16
    dl = jax.grad(_BCE)
    step = lambda z: z - eta * dl(z)  # noqa: E731
    zs = gd.iterate(lambda z: step(z), _BCE.z_star + 0.01, 30, record_every=1).params
    z, ref = jnp.asarray(_BCE.z_star + 0.01), []
    for _ in range(31):
        ref.append(float(z))
        z = step(z)
    np.testing.assert_allclose(zs, ref, rtol=1e-13)


@pytest.mark.parametrize("eta", [0.0, -0.1, math.nan, math.inf, "0.1", [0.1, 0.2]])
def test_bad_eta(eta):
    with pytest.raises(ValueError, match=r"eta must be .*\(0, inf\)"):
        gd.gd_trajectory(quad, jnp.ones(2), eta, 10)
    with pytest.raises(ValueError, match=r"eta must"):
        gd.gd_final(quad, jnp.ones(2), eta, 10)


def test_other_validation():
    x0 = jnp.ones(2)
    cases = [
        (lambda: gd.gd_trajectory(quad, x0, 0.1, 0), r"num_steps must be an integer in \[1, inf\)"),
        (lambda: gd.gd_trajectory(quad, x0, 0.1, 10.0), r"num_steps must be an integer in \[1, inf\)"),
        (lambda: gd.gd_trajectory(quad, x0, 0.1, 10, record_every=3), r"record_every must divide"),
        (lambda: gd.gd_trajectory(quad, x0, 0.1, 10, record_every=0), r"record_every must be"),
        (lambda: gd.gd_trajectory(quad, x0, 0.1, 10, record_every=2, sharpness_every=3),
         r"sharpness_every must be 0 or a multiple"),
        (lambda: gd.gd_trajectory(quad, x0, 0.1, 10, max_norm=0.0), r"max_norm must .*\(0, inf\]"),
        (lambda: gd.gd_trajectory(quad, x0, 0.1, 10, unroll=0), r"unroll must be an integer in \[1, inf\)"),
        (lambda: gd.gd_trajectory(quad, jnp.array([1.0, jnp.nan]), 0.1, 10), r"x0 must be finite"),
        (lambda: gd.sweep_learning_rates(quad, x0, jnp.ones((2, 2)), 10),
         r"etas must be a non-empty 1-D"),
        (lambda: gd.sweep_learning_rates(quad, x0, jnp.array([0.1, -0.1]), 10),
         r"etas must be real number\(s\) in \(0, inf\)"),
        (lambda: gd.sweep_final(quad, x0, jnp.array([0.1, 0.0]), 10), r"etas must be real number"),
        (lambda: gd.sweep_initial_points(bce_xy, (jnp.ones(2), jnp.ones(3)), 0.1, 10),
         r"x0s must have one common leading"),
        (lambda: gd.gd_final(quad, x0, 0.1, 10, chunk=0), r"chunk must be an integer in \[1, inf\)"),
        (lambda: gd.k_step_map(quad, 0.1, 0), r"k must be an integer in \[1, inf\)"),
        (lambda: gd.iterate(lambda x: x, 0.0, 0), r"num_steps must be an integer in \[1, inf\)"),
    ]
    for call, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            call()


def test_gd_final_is_vmappable_by_users():
    # Validation is skipped for traced values, so gd_final composes with jax.vmap.
    etas = jnp.array([0.1, 0.2])
    xs, div = jax.vmap(lambda e: gd.gd_final(quad, jnp.ones(2), e, 20))(etas)
    ref, _ = gd.sweep_final(quad, jnp.ones(2), etas, 20)
    np.testing.assert_allclose(xs, ref, rtol=1e-14)


def _reference_final(f, x0, etas, num_steps, max_norm):
    """Per-step exact path (gd_trajectory), one run at a time."""
    xs, divs = [], []
    for eta in etas:
        tr = gd.gd_trajectory(f, x0, float(eta), num_steps, record_every=num_steps, max_norm=max_norm)
        xs.append(np.asarray(tr.params[-1]))
        divs.append(int(tr.diverged_at))
    return np.array(xs), np.array(divs)


@pytest.mark.parametrize("chunk,unroll", [(1, 1), (3, 1), (16, 1), (16, 3), (64, 2)])
def test_final_is_exact_for_every_chunk_and_unroll(chunk, unroll):
    # Divergence at many different steps (inside chunks, at chunk ends, in the remainder).
    etas = np.concatenate([np.linspace(0.1, 0.6, 4), [0.7017], np.linspace(0.68, 1.2, 12)])
    x0 = jnp.array([1.0, 0.5])
    ref_x, ref_div = _reference_final(quad, x0, etas, 101, 1e4)
    assert len(set(ref_div[ref_div >= 0])) >= 8 and np.sum(ref_div < 0) >= 4
    assert np.any(ref_div > 96)  # in the remainder after the last full chunk of 16
    xs, div = gd.sweep_final(quad, x0, jnp.asarray(etas), 101, max_norm=1e4, chunk=chunk,
                             unroll=unroll)
    np.testing.assert_array_equal(div, ref_div)
    np.testing.assert_array_equal(xs, ref_x)  # bit for bit


def test_final_freezes_runs_whose_gradient_is_nan_at_the_frozen_point():
    # f = x^(3/2) overshoots to x < 0 where sqrt gives NaN: the last valid iterate has a NaN
    # gradient, so a frozen run must be held by a select, not by a zero step.
    f = lambda x: x**1.5  # noqa: E731
    etas = np.geomspace(0.012, 1.0, 9)
    ref_x, ref_div = _reference_final(f, jnp.asarray(2.0), etas, 200, 1e8)
    # All diverge, at different steps, several of them chunks apart.
    assert np.all(ref_div > 0) and len(set(ref_div)) >= 6 and ref_div.max() > 64
    xs, div = gd.sweep_final(f, 2.0, jnp.asarray(etas), 200, chunk=16)
    np.testing.assert_array_equal(div, ref_div)
    np.testing.assert_array_equal(xs, ref_x)
    assert np.all(np.isfinite(xs)) and np.all(np.asarray(xs) < 0)


def test_iterate_reports_divergence_step_and_freezes():
    # x -> 2x from 1 leaves the ball of radius 100 at step 7 (2^7 = 128).
    run = gd.iterate(lambda x: 2.0 * x, jnp.asarray(1.0), 10, record_every=1, max_norm=100.0)
    assert int(run.diverged_at) == 7
    np.testing.assert_array_equal(np.asarray(run.params)[6:], 64.0)
    assert float(run.final) == 64.0
    assert run.report() == "diverged at step 7 of 10"


def test_iterate_batched_over_args_matches_single_runs():
    step = lambda x, a: a * x * (1.0 - x)  # noqa: E731 - the logistic map
    rs = jnp.asarray([2.5, 3.2, 3.9])
    batch = gd.iterate_batched(step, jnp.asarray(0.3), 50, args=(rs,), batch_x0=False, batch_args=True)
    for i, r in enumerate(rs):
        one = gd.iterate(step, jnp.asarray(0.3), 50, args=(r,))
        np.testing.assert_allclose(np.asarray(batch.final)[i], np.asarray(one.final), rtol=1e-15)
    assert not np.any(batch.diverged)


def test_iterate_rejects_bad_stride():
    with pytest.raises(ValueError, match="record_every must be 0 or divide num_steps"):
        gd.iterate(lambda x: x, 0.0, 10, record_every=3)


def test_indexed_iterate_follows_a_schedule_across_chunks():
    # x_{t+1} = x_t - etas[t] x_t on f = x^2 / 2: x_T = prod_t (1 - etas[t]) x_0.
    etas = jnp.linspace(0.1, 0.5, 12)

    def step(x, t, e):
        return x - e[t] * x

    whole = gd.iterate(step, jnp.ones(()), 12, args=(etas,), indexed=True, record_every=4)
    np.testing.assert_allclose(whole.final, np.prod(1.0 - np.asarray(etas)), rtol=1e-14)
    np.testing.assert_allclose(whole.params[1], np.prod(1.0 - np.asarray(etas[:4])), rtol=1e-14)
    # Continued in two chunks with a global step offset: the same iterate.
    first = gd.iterate(step, jnp.ones(()), 5, args=(etas,), indexed=True)
    second = gd.iterate(step, first.final, 7, args=(etas,), indexed=True, start=5)
    np.testing.assert_allclose(second.final, whole.final, rtol=1e-15)
    batch = gd.iterate_batched(step, jnp.ones(3), 12, args=(etas,), indexed=True)
    np.testing.assert_allclose(batch.final, np.full(3, float(whole.final)), rtol=1e-15)
    with pytest.raises(ValueError, match="start"):
        gd.iterate(step, jnp.ones(()), 5, args=(etas,), indexed=True, start=-1)
