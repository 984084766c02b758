"""Gradient-flow solutions (eoslib.flow): conserved quantity, agreement between integrators."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import data, flow, losses, nets

W0 = (2.8, 0.2)  # the gfs sheet's depth-2 example, phi_0 = 8.05 > 2/eta = 8 at eta = 0.25


def _scalar_net():
    loss = losses.squared()

    def f(w):
        return loss(w[0] * w[1])

    return f


@pytest.fixture(scope="module")
def scalar_f():
    # One function object for the whole module: compilations are cached per objective.
    return _scalar_net()


def _gf_limit(x0: float, y0: float) -> tuple[float, float]:
    # Gradient flow of l(xy) conserves d = x^2 - y^2; the limit is on xy = 1, so
    # x^2 = (d + sqrt(d^2 + 4)) / 2 and the sharpness there is x^2 + y^2 = sqrt(d^2 + 4).
    d = x0**2 - y0**2
    x2 = 0.5 * (d + math.sqrt(d * d + 4.0))
    return math.sqrt(x2), math.sqrt(d * d + 4.0)


@pytest.mark.parametrize(
    "method, kwargs",
    [
        ("rkc", {"rtol": 1e-12, "atol": 1e-14}),
        ("tsit5", {"rtol": 1e-10, "atol": 1e-12}),
        ("rk4", {"alpha": 0.05}),
    ],
)
def test_scalar_network_conserves_imbalance(scalar_f, method, kwargs):
    d0 = W0[0] ** 2 - W0[1] ** 2
    if method == "rk4":
        r = flow.gradient_flow_rk4(scalar_f, jnp.asarray(W0), loss_threshold=1e-16, **kwargs)
    else:
        r = flow.gradient_flow(scalar_f, jnp.asarray(W0), loss_threshold=1e-16, method=method,
                               **kwargs)
    assert r.reached, r.report()
    assert r.method == method
    x, y = (float(v) for v in np.asarray(r.w))
    assert abs((x * x - y * y) - d0) <= 1e-8, r.report()
    assert r.loss == pytest.approx(1e-16, rel=1e-5)  # stopped *at* the threshold
    x_lim, s_lim = _gf_limit(*W0)
    assert x == pytest.approx(x_lim, rel=1e-7)
    assert r.sharpness == pytest.approx(s_lim, rel=1e-7)
    assert r.num_grad_evals > 0 and r.num_steps > 0


def test_rk4_counts_and_time(scalar_f):
    r = flow.gradient_flow_rk4(scalar_f, jnp.asarray(W0), loss_threshold=1e-8, alpha=0.5,
                               sharpness_every=1000)
    # One gradient at w0, then four per step (the fourth stage's point is the next k1).
    assert r.num_grad_evals == 4 * r.num_steps + 1
    # One sharpness for the whole run: h = alpha / S(w0), S from the Hessian of l(xy):
    # [[y^2, l' + xy l''], [l' + xy l'', x^2]] with l' = xy - 1, l'' = 1.
    x, y = W0
    hess = np.array([[y * y, 2 * x * y - 1.0], [2 * x * y - 1.0, x * x]])
    h = 0.5 / np.linalg.eigvalsh(hess)[-1]
    # The located crossing lies inside the last step.
    assert (r.num_steps - 1) * h < r.time <= r.num_steps * h + 1e-12


@pytest.fixture(scope="module")
def small_mlp():
    ds = data.load_dataset("digits", n=50, target="onehot")
    net = nets.make_network("mlp", widths=(16, 16), activation="tanh", num_outputs=10,
                            input_shape=(64,), key=0)
    f, w0 = nets.flat_loss(net, net.init_params, ds.x, ds.y, "mse")
    return f, w0


def test_adaptive_and_rk4_agree_on_small_network(small_mlp):
    # Reference: RKC at a tolerance 1000x tighter than the solves it checks. (diffrax's Tsit5
    # is checked against the closed form above; compiling it for a network costs more than
    # this whole test.)
    f, w0 = small_mlp
    thr = 0.05
    ref = flow.gradient_flow(f, w0, loss_threshold=thr, method="rkc", rtol=1e-10, atol=1e-12)
    rkc = flow.gradient_flow(f, w0, loss_threshold=thr, method="rkc", rtol=1e-7, atol=1e-9)
    rk4 = flow.gradient_flow_rk4(f, w0, loss_threshold=thr, alpha=0.5)
    for r in (ref, rkc, rk4):
        assert r.reached, r.report()
        assert r.loss == pytest.approx(thr, rel=1e-6)
    for r in (rkc, rk4):
        dist = float(jnp.linalg.norm(r.w - ref.w) / jnp.linalg.norm(ref.w))
        assert dist < 1e-4, (r.report(), dist)
        assert r.sharpness == pytest.approx(ref.sharpness, rel=1e-4), r.report()
        assert r.time == pytest.approx(ref.time, rel=1e-3), r.report()


def test_already_below_threshold_and_budget(scalar_f):
    w = jnp.asarray([1.0, 1.0])  # a minimum: loss 0
    r = flow.gradient_flow(scalar_f, w, loss_threshold=1e-3)
    assert r.reached and r.time == 0.0 and r.num_steps == 0
    r = flow.gradient_flow(scalar_f, jnp.asarray(W0), loss_threshold=1e-16, method="rkc",
                           rtol=1e-12, atol=1e-14, max_grad_evals=50)
    assert not r.reached and "max_grad_evals" in r.message
    r = flow.gradient_flow_rk4(scalar_f, jnp.asarray(W0), loss_threshold=1e-16, alpha=0.1,
                               max_time=0.1)
    assert not r.reached and r.time == pytest.approx(0.1, rel=0.2)


def test_bad_input(scalar_f):
    w = jnp.asarray(W0)
    with pytest.raises(ValueError, match="method"):
        flow.gradient_flow(scalar_f, w, loss_threshold=1e-3, method="euler")
    with pytest.raises(ValueError, match="loss_threshold"):
        flow.gradient_flow(scalar_f, w, loss_threshold=0.0)
    with pytest.raises(ValueError, match="rtol"):
        flow.gradient_flow(scalar_f, w, loss_threshold=1e-3, rtol=-1.0)
    with pytest.raises(ValueError, match="rho_safety"):
        flow.gradient_flow(scalar_f, w, loss_threshold=1e-3, rho_safety=0.5)
    with pytest.raises(ValueError, match="alpha"):
        flow.gradient_flow_rk4(scalar_f, w, loss_threshold=1e-3, alpha=3.0)
    with pytest.raises(ValueError, match="sharpness_every"):
        flow.gradient_flow_rk4(scalar_f, w, loss_threshold=1e-3, sharpness_every=0)
    with pytest.raises(ValueError, match="w0"):
        flow.gradient_flow(scalar_f, jnp.zeros((2, 2)), loss_threshold=1e-3)


def test_power_refresh_is_three_power_iterations():
    # On a quadratic the refresh sees H = A exactly. Three iterations from a unit v return
    # A^3 v / ||A^3 v|| and ||A^3 v|| / ||A^2 v||, a lower bound on rho(A) = 10 (the negative
    # eigenvalue must not cancel: the estimate is of max |lambda|).
    eigs = jnp.asarray([10.0, 3.0, -9.0, 0.5])
    quad = lambda w: 0.5 * jnp.sum(eigs * w * w)  # noqa: E731
    v = jnp.asarray([1.0, 0.3, 0.3, 0.3])
    v = v / jnp.linalg.norm(v)
    v_new, rho = flow._power_refresh(quad, jnp.zeros(4), v)
    a2, a3 = eigs**2 * v, eigs**3 * v
    assert flow._RHO_POWER_ITERS == 3
    assert float(rho) == pytest.approx(float(jnp.linalg.norm(a3) / jnp.linalg.norm(a2)), rel=1e-12)
    np.testing.assert_allclose(v_new, a3 / jnp.linalg.norm(a3), rtol=1e-12)
    assert float(rho) <= 10.0


def test_rkc_stays_accurate_with_rare_refreshes_and_no_safety_margin():
    # Stiff quadratic (eigenvalues 1e3 .. 1): with one refresh per 1000 steps and rho_safety 1,
    # the stage count rests on the power estimates alone; the flow must still follow the closed
    # form w_i(t) = w_i(0) exp(-lambda_i t).
    eigs = jnp.asarray([1e3, 3e2, 10.0, 1.0])
    quad = lambda w: 0.5 * jnp.sum(eigs * w * w)  # noqa: E731
    w0 = jnp.ones(4)
    thr = 1e-3
    r = flow.gradient_flow(quad, w0, loss_threshold=thr, rtol=1e-8, atol=1e-12, rho_every=1000,
                           rho_safety=1.0)
    assert r.reached, r.report()
    np.testing.assert_allclose(r.w, w0 * jnp.exp(-eigs * r.time), rtol=1e-5, atol=1e-9)
    assert float(quad(w0 * jnp.exp(-eigs * r.time))) == pytest.approx(thr, rel=1e-5)


def test_rkc_never_exceeds_its_gradient_budget(scalar_f):
    for budget in (3, 50, 777):
        r = flow.gradient_flow(scalar_f, jnp.asarray(W0), loss_threshold=1e-16, rtol=1e-12,
                               atol=1e-14, max_grad_evals=budget)
        assert not r.reached and "max_grad_evals" in r.message
        # It stops only before a step it cannot afford, and no step costs more than the cap.
        assert budget - flow._RKC_MAX_STAGES < r.num_grad_evals <= budget
