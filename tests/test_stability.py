"""Multivariate product-stability (eoslib.stability): closed forms and a dense pseudoinverse."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import losses, nets, stability


def _l_beta(beta: float):
    # Mulayoff & Stich's example: alpha(L_beta, 0) = 60 beta^2 - 2.4.
    def f(x):
        return 0.5 * x[0] ** 2 + 0.1 * x[1] ** 2 + beta * x[0] ** 2 * x[1] + 0.1 * x[0] ** 4

    return f


@pytest.mark.parametrize("beta", [0.1, 0.2, 0.3])
def test_mulayoff_stich_example_every_solver(beta):
    f = _l_beta(beta)
    expected = 60.0 * beta**2 - 2.4
    for solver in stability.SOLVERS:
        r = stability.multivariate_product_stability(f, jnp.zeros(2), solver=solver, k=2)
        assert r.solver == solver
        assert abs(r.alpha - expected) <= 1e-10, (solver, r.describe())
        # The two terms separately: Q = D^4 L[e1]^4 = 24/10, 3 T'H^+T = 60 beta^2.
        assert abs(r.fourth_term - 2.4) <= 1e-10
        assert abs(r.third_term - 60.0 * beta**2) <= 1e-10
        assert abs(r.lambda_max - 1.0) <= 1e-12
        assert r.converged and r.num_hvps > 0


def test_mulayoff_stich_example_lanczos_path():
    # Same example with v (and the top-k pairs) from Lanczos instead of the dense eigh
    # that eig_solver="auto" uses for toy dimensions.
    beta = 0.3
    f = _l_beta(beta)
    for solver in ("lsqr", "topk"):
        r = stability.multivariate_product_stability(f, jnp.zeros(2), solver=solver, k=2,
                                                     eig_solver="lanczos")
        assert abs(r.alpha - (60.0 * beta**2 - 2.4)) <= 1e-10, r.describe()


@pytest.mark.parametrize(
    "loss, s, expected",
    [
        (losses.multilayer_squared(2), 16.0, 12432.75),  # the sheet's exact value
        (losses.soft_bce(0.2), 64.0, None),  # formula below; sheet: 678.387585
    ],
)
def test_link_to_scalar_product_stability(loss, s, expected):
    # L(x, y) = l(xy) at xy = z*, x^2 + y^2 = s: H is rank one, so H^+ is needed, and
    # alpha = s^2 alpha_hat + 24 l3 z* + 96 l2 z*^2 / s^2.
    z = loss.z_star
    d = losses.derivatives(loss, z, max_order=4)
    l2, l3, l4 = float(d[2]), float(d[3]), float(d[4])
    alpha_hat = (3 * l3**2 - l2 * l4) / l2
    formula = s**2 * alpha_hat + 24 * l3 * z + 96 * l2 * z**2 / s**2
    if expected is not None:
        assert formula == pytest.approx(expected, rel=1e-13)
    else:
        assert formula == pytest.approx(678.387585, abs=1e-6)
    x = 0.5 * (math.sqrt(s + 2 * z) + math.sqrt(s - 2 * z))
    y = 0.5 * (math.sqrt(s + 2 * z) - math.sqrt(s - 2 * z))
    w = jnp.asarray([x, y])

    def f(v):
        return loss(v[0] * v[1])

    for solver in stability.SOLVERS:
        r = stability.multivariate_product_stability(f, w, solver=solver, k=2)
        assert r.alpha == pytest.approx(formula, rel=1e-9), (solver, r.describe())
        assert r.lambda_max == pytest.approx(s * l2, rel=1e-12)
        if solver != "lsqr":
            assert r.num_kept == 1  # the zero eigenvalue is cut off


def test_lsqr_matches_dense_pseudoinverse_on_tiny_mlp():
    # 5-8-8-1 tanh MLP (129 parameters), BCE on 40 random points with soft labels from a
    # teacher of the same architecture: the teacher weights are an exact minimum with a
    # rank-40 Hessian, where the pseudoinverse is well defined.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5))
    net = nets.make_network("mlp", widths=(8, 8), activation="tanh", num_outputs=1,
                            input_shape=(5,), key=1)
    w_teacher, unravel = nets.flatten_params(net.init_params)
    w_teacher = 2.0 * w_teacher
    y = np.asarray(jax.nn.sigmoid(net.apply(unravel(w_teacher), x)[:, 0]))
    f, _ = nets.flat_loss(net, net.init_params, x, y, "bce_with_logits")
    assert w_teacher.shape == (129,)

    dense = stability.multivariate_product_stability(f, w_teacher, solver="dense", cutoff=1e-8)
    lsqr = stability.multivariate_product_stability(f, w_teacher, solver="lsqr", tol=1e-10)
    assert dense.num_kept == 40
    assert lsqr.converged and lsqr.iterations > 0
    assert lsqr.grad_norm < 1e-12
    assert lsqr.alpha == pytest.approx(dense.alpha, rel=1e-6)
    assert lsqr.third_term == pytest.approx(dense.third_term, rel=1e-6)
    assert lsqr.fourth_term == pytest.approx(dense.fourth_term, rel=1e-9)
    # The report carries the solver, the cutoff and both terms.
    text = lsqr.describe()
    for part in ("solver=lsqr", "atol=btol=1e-10", "3T'H+T=", "Q="):
        assert part in text
    # Truncating H^+ to a few top pairs changes alpha: the sensitivity the sheet warns about.
    # (dense top-k pairs: the Lanczos top-k path is covered above; this saves a compile)
    top = stability.multivariate_product_stability(f, w_teacher, solver="topk", k=5,
                                                   eig_solver="dense")
    assert top.num_kept == 5
    assert abs(top.third_term - dense.third_term) > 1e-3 * abs(dense.third_term)


def test_bad_input():
    f = _l_beta(0.1)
    with pytest.raises(ValueError, match="solver"):
        stability.multivariate_product_stability(f, jnp.zeros(2), solver="minres")
    with pytest.raises(ValueError, match="cutoff"):
        stability.multivariate_product_stability(f, jnp.zeros(2), solver="dense", cutoff=0.0)
    with pytest.raises(ValueError, match="tol"):
        stability.multivariate_product_stability(f, jnp.zeros(2), tol=-1.0)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, "):
        stability.multivariate_product_stability(f, jnp.zeros(2), solver="topk", k=3)
    with pytest.raises(ValueError, match="eig_solver"):
        stability.multivariate_product_stability(f, jnp.zeros(2), eig_solver="arpack")
    with pytest.raises(ValueError, match="w must be"):
        stability.multivariate_product_stability(f, jnp.zeros((2, 1)))
    with pytest.raises(ValueError, match="lambda_max > 0"):
        stability.multivariate_product_stability(lambda x: -jnp.sum(x**2), jnp.ones(2),
                                                 solver="dense")
