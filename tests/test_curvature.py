"""Tests for eoslib.curvature: dense curvature, Lanczos / LOBPCG, higher derivatives."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from eoslib import curvature as C

# --------------------------------------------------------------------------- #
# fixtures
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def sym200():
    """Random symmetric 200x200 matrix, eigenvalues of both signs.

    The most negative eigenvalue (-50) is the largest in magnitude, so a
    largest-magnitude solver would return it instead of the top one (12).
    """
    rng = np.random.default_rng(0)
    n = 200
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = rng.uniform(-10.0, 10.0, n)
    lam[:4] = [-50.0, 12.0, 11.5, 11.0]
    a = (q * lam) @ q.T
    a = 0.5 * (a + a.T)
    w, v = np.linalg.eigh(a)
    a = jnp.asarray(a)
    # One matvec object for the whole module: lanczos caches its compilation on it.
    return a, w[::-1], v[:, ::-1], (lambda u: a @ u)


def _mlp_problem():
    """Squared loss of a 5-16-8-1 tanh MLP (241 parameters) on 12 random points."""
    key = jax.random.PRNGKey(1)
    kx, ky, k1, k2, k3 = jax.random.split(key, 5)
    xs = jax.random.normal(kx, (12, 5), jnp.float64)
    ys = jax.random.normal(ky, (12,), jnp.float64)
    params = {
        "w1": jax.random.normal(k1, (5, 16), jnp.float64) / jnp.sqrt(5.0),
        "b1": jnp.zeros((16,), jnp.float64),
        "w2": jax.random.normal(k2, (16, 8), jnp.float64) / jnp.sqrt(16.0),
        "b2": jnp.zeros((8,), jnp.float64),
        "w3": jax.random.normal(k3, (8, 1), jnp.float64) / jnp.sqrt(8.0),
        "b3": jnp.zeros((1,), jnp.float64),
    }
    flat, unravel = ravel_pytree(params)

    def loss(theta):
        p = unravel(theta)
        h = jnp.tanh(xs @ p["w1"] + p["b1"])
        h = jnp.tanh(h @ p["w2"] + p["b2"])
        out = (h @ p["w3"] + p["b3"])[:, 0]
        return 0.5 * jnp.mean((out - ys) ** 2)

    return loss, flat


@pytest.fixture(scope="module")
def mlp():
    loss, flat = _mlp_problem()
    hess = jax.jit(lambda y: C.hessian(loss, y))  # compiled once, reused for finite differences
    h = np.asarray(hess(flat))
    w, v = np.linalg.eigh(0.5 * (h + h.T))
    return loss, flat, w[::-1], v[:, ::-1], hess


def _abs_cos(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return abs(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b))


# --------------------------------------------------------------------------- #
# dense curvature
# --------------------------------------------------------------------------- #


def _l(z):
    # soft-label logistic-type loss: l'(z) = sigmoid(z) - 0.3, l''(z) = s(1-s)
    return jnp.logaddexp(0.0, z) - 0.3 * z


def test_hessian_and_sharpness_closed_form():
    x, y = 0.7, -1.3
    f = lambda p: _l(p[0] * p[1])  # noqa: E731
    z = x * y
    s = 1.0 / (1.0 + np.exp(-z))
    l1, l2 = s - 0.3, s * (1.0 - s)
    expected = np.array([[y * y * l2, l1 + z * l2], [l1 + z * l2, x * x * l2]])
    p = jnp.array([x, y])
    np.testing.assert_allclose(C.hessian(f, p), expected, rtol=1e-13, atol=1e-15)
    a, b, c = expected[0, 0], expected[0, 1], expected[1, 1]
    top = 0.5 * (a + c) + np.sqrt(0.25 * (a - c) ** 2 + b * b)
    np.testing.assert_allclose(C.sharpness(f, p), top, rtol=1e-13)
    # hvp agrees with the dense Hessian
    v = jnp.array([0.3, -2.0])
    np.testing.assert_allclose(C.hvp(f, p, v), expected @ np.asarray(v), rtol=1e-13)


def test_sharpness_scalar_parameter():
    # a scalar x is treated as a 1-vector: sharpness of l(z) is l''(z)
    z = 0.4
    s = 1.0 / (1.0 + np.exp(-z))
    np.testing.assert_allclose(C.sharpness(_l, jnp.asarray(z)), s * (1 - s), rtol=1e-13)
    assert C.hessian(_l, jnp.asarray(z)).shape == (1, 1)


# --------------------------------------------------------------------------- #
# Lanczos
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("k", [1, 3])
def test_lanczos_random_symmetric(sym200, k):
    a, w, v, mv = sym200
    res = C.lanczos(mv, 200, k, tol=1e-10)
    assert bool(res.converged)
    assert res.eigenvalues.shape == (k,) and res.eigenvectors.shape == (200, k)
    # largest ALGEBRAIC: 12 (not -50, the largest in magnitude)
    np.testing.assert_allclose(res.eigenvalues, w[:k], rtol=1e-12)
    for i in range(k):
        assert _abs_cos(res.eigenvectors[:, i], v[:, i]) > 1 - 1e-12
    # reported residuals are the true ones, and meet the tolerance
    vecs = np.asarray(res.eigenvectors)
    true_res = np.linalg.norm(np.asarray(a) @ vecs - vecs * np.asarray(res.eigenvalues), axis=0)
    np.testing.assert_allclose(res.residuals, true_res, atol=1e-12)
    assert np.all(true_res <= 1e-10 * np.maximum(1.0, np.abs(w[:k])) + 1e-12)
    assert 0 < int(res.num_iterations) < 200
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(k), atol=1e-12)


def test_lanczos_hits_max_iter_without_convergence(sym200):
    _, _, _, mv = sym200
    res = C.lanczos(mv, 200, 1, max_iter=5)
    assert int(res.num_iterations) == 5
    assert not bool(res.converged)
    assert float(res.residuals[0]) > 1e-8


def test_lanczos_breakdown_restarts():
    # diag(5, 3, 3, 1, ...) started exactly at e_2: the Krylov space is invariant
    # after one step; the restart must still find the top eigenvalues 5 and 3.
    d = jnp.array([3.0, 5.0, 3.0, 1.0, 0.5, -7.0, 2.0, 0.0])
    v0 = jnp.zeros(8).at[0].set(1.0)
    res = C.lanczos(lambda u: d * u, 8, 2, v0=v0, v0_noise=0.0, tol=1e-12)
    assert bool(res.converged)
    np.testing.assert_allclose(res.eigenvalues, [5.0, 3.0], rtol=1e-13)
    # tiny k = dim problem: full Krylov space
    res = C.lanczos(lambda u: d * u, 8, 8, tol=1e-12)
    np.testing.assert_allclose(res.eigenvalues, np.sort(np.asarray(d))[::-1], atol=1e-12)
    assert int(res.num_iterations) <= 8


def test_lanczos_float32():
    # the iteration stays in the operator's dtype (strict promotion would fail otherwise)
    rng = np.random.default_rng(3)
    b = rng.standard_normal((40, 40))
    a = jnp.asarray(b + b.T, jnp.float32)
    res = C.lanczos(lambda u: a @ u, 40, 2, tol=1e-5, dtype=jnp.float32)
    assert res.eigenvalues.dtype == jnp.float32 and res.eigenvectors.dtype == jnp.float32
    w = np.linalg.eigvalsh(np.asarray(a, np.float64))[::-1]
    np.testing.assert_allclose(res.eigenvalues, w[:2], rtol=1e-5)


def test_lanczos_inside_jit_and_vmap():
    # matvec closing over traced values: usable inside a user's jit/vmap
    ds = jnp.array([[1.0, 4.0, -9.0, 2.0, 0.5, 3.0], [2.0, -1.0, 0.0, 7.0, 6.5, 1.0]])

    def top(d):
        return C.lanczos(lambda u: d * u, 6, 2, tol=1e-12).eigenvalues

    np.testing.assert_allclose(jax.jit(jax.vmap(top))(ds), [[4.0, 3.0], [7.0, 6.5]], rtol=1e-12)


def test_top_eigenpairs_mlp_vs_dense(mlp):
    k = 3
    loss, flat, w, v, _ = mlp
    assert 100 <= flat.size <= 300
    assert w[-1] < 0  # the MLP Hessian is indefinite here
    res = C.top_eigenpairs(loss, flat, k, tol=1e-10)
    assert bool(res.converged)
    np.testing.assert_allclose(res.eigenvalues, w[:k], rtol=1e-8)
    for i in range(k):
        assert _abs_cos(res.eigenvectors[:, i], v[:, i]) > 1 - 1e-8


def test_warm_start_fewer_iterations(sym200, capsys):
    a, _, _, mv_a = sym200
    rng = np.random.default_rng(7)
    e = rng.standard_normal((200, 200))
    a2 = a + 1e-4 * jnp.asarray((e + e.T) / np.sqrt(2 * 200))
    w2 = np.linalg.eigvalsh(np.asarray(a2))[::-1]
    mv = lambda u: a2 @ u  # noqa: E731
    counts = {}
    for k in (1, 3):
        prev = C.lanczos(mv_a, 200, k)
        v0 = prev.eigenvectors[:, 0] if k == 1 else prev.eigenvectors
        # cold start through an explicit random v0 of the warm start's shape:
        # statistically the same as v0=None, and it reuses the warm compilation
        cold = C.lanczos(mv, 200, k, v0=jax.random.normal(jax.random.PRNGKey(5), v0.shape, jnp.float64))
        warm = C.lanczos(mv, 200, k, v0=v0)
        exact = C.lanczos(mv, 200, k, v0=v0, v0_noise=0.0)
        for r in (cold, warm, exact):
            assert bool(r.converged)
            np.testing.assert_allclose(r.eigenvalues, w2[:k], rtol=1e-12)
        counts[k] = (int(cold.num_iterations), int(warm.num_iterations), int(exact.num_iterations))
        assert counts[k][1] < counts[k][0]
        assert counts[k][2] <= counts[k][1]
    with capsys.disabled():
        print(f"\n[lanczos 200x200, perturbation 1e-4] (cold, warm, warm noise=0) HVPs: {counts}")


def test_warm_start_mlp_along_gd(mlp, capsys):
    # warm start from the previous GD iterate's eigenvectors: the realistic use
    loss, flat, _, _, _ = mlp
    # k=3 as in test_top_eigenpairs_mlp_vs_dense, so only the warm call compiles
    x1 = flat - 0.05 * jax.jit(jax.grad(loss))(flat)
    prev = C.top_eigenpairs(loss, flat, 3)
    cold = C.top_eigenpairs(loss, x1, 3)
    warm = C.top_eigenpairs(loss, x1, 3, v0=prev.eigenvectors)
    assert bool(cold.converged) and bool(warm.converged)
    np.testing.assert_allclose(warm.eigenvalues, cold.eigenvalues, rtol=1e-9)
    assert int(warm.num_iterations) < int(cold.num_iterations)
    with capsys.disabled():
        print(f"\n[MLP GD step] cold {int(cold.num_iterations)} HVPs, warm {int(warm.num_iterations)} HVPs")


def test_lobpcg_top_k(sym200):
    _, w, v, mv = sym200
    res = C.lobpcg_top_k(mv, 200, 2, tol=1e-9, max_iter=500)
    assert bool(res.converged)
    np.testing.assert_allclose(res.eigenvalues, w[:2], rtol=1e-9)
    assert _abs_cos(res.eigenvectors[:, 0], v[:, 0]) > 1 - 1e-9


# --------------------------------------------------------------------------- #
# higher derivatives
# --------------------------------------------------------------------------- #


def test_directional_derivative_polynomial():
    rng = np.random.default_rng(11)
    a, b, c, x, v = (jnp.asarray(rng.standard_normal(4)) for _ in range(5))

    def f(y):
        return (a @ y) ** 4 + (b @ y) ** 3 + (c @ y) ** 2 + jnp.sum(y)

    s, sb, sc = float(a @ x), float(b @ x), float(c @ x)
    p, pb, pc = float(a @ v), float(b @ v), float(c @ v)
    expected = {
        1: 4 * p * s**3 + 3 * pb * sb**2 + 2 * pc * sc + float(jnp.sum(v)),
        2: 12 * p**2 * s**2 + 6 * pb**2 * sb + 2 * pc**2,
        3: 24 * p**3 * s + 6 * pb**3,
        4: 24 * p**4,
    }
    dd = jax.jit(C.directional_derivative, static_argnums=(0, 3))
    for order, value in expected.items():
        np.testing.assert_allclose(dd(f, x, v, order), value, rtol=1e-12)
    np.testing.assert_allclose(C.directional_derivative(f, x, v, 4), expected[4], rtol=1e-12)
    # scalar parameter
    np.testing.assert_allclose(
        C.directional_derivative(lambda z: z**4, jnp.asarray(2.0), jnp.asarray(1.0), 3), 48.0, rtol=1e-14
    )


def _smooth(y):
    w = jnp.array([[1.0, -0.5, 0.3], [0.2, 0.8, -1.1], [0.7, 0.1, 0.4]])
    return jnp.sum(jnp.log(jnp.cosh(w @ y))) + jnp.sin(y[0] * y[1]) + 0.1 * y[2] ** 4


def test_directional_derivative_finite_differences():
    x = jnp.array([0.3, -0.7, 0.5])
    v = jnp.array([0.6, 0.2, -0.9])
    h = 1e-4
    dd = jax.jit(C.directional_derivative, static_argnums=(0, 3))
    # order 1 and 2 from central differences of f itself
    fp, f0, fm = _smooth(x + h * v), _smooth(x), _smooth(x - h * v)
    np.testing.assert_allclose(dd(_smooth, x, v, 1), (fp - fm) / (2 * h), rtol=1e-7)
    np.testing.assert_allclose(dd(_smooth, x, v, 2), (fp - 2 * f0 + fm) / h**2, rtol=1e-5)
    # order k from central differences of order k-1
    for order in (2, 3, 4):
        fd = (dd(_smooth, x + h * v, v, order - 1) - dd(_smooth, x - h * v, v, order - 1)) / (2 * h)
        np.testing.assert_allclose(dd(_smooth, x, v, order), fd, rtol=1e-6)


def test_third_derivative_vv_finite_differences():
    x = jnp.array([0.3, -0.7, 0.5])
    v = jnp.array([0.6, 0.2, -0.9])
    t = C.third_derivative_vv(_smooth, x, v)
    assert t.shape == x.shape
    q = jax.jit(lambda y: jnp.vdot(v, C.hvp(_smooth, y, v)))
    h = 1e-5
    fd = np.array([(q(x + h * e) - q(x - h * e)) / (2 * h) for e in jnp.eye(3)])
    np.testing.assert_allclose(t, fd, rtol=1e-7, atol=1e-9)
    # contraction with v is the third directional derivative
    np.testing.assert_allclose(t @ v, C.directional_derivative(_smooth, x, v, 3), rtol=1e-12)


def test_grad_sharpness_is_third_derivative_at_top_eigenvector(mlp):
    # self-stabilization Lemma 2: grad S(x) = nabla^3 L(x)(u, u)
    loss, flat, w, _, hess = mlp
    assert w[0] - w[1] > 1e-3 * abs(w[0])  # simple top eigenvalue
    u = C.top_eigenpairs(loss, flat, 3, tol=1e-12).eigenvectors[:, 0]
    grad_s = jax.jit(C.third_derivative_vv, static_argnums=0)(loss, flat, u)
    s_fn = lambda y: np.linalg.eigvalsh(np.asarray(hess(y)))[-1]  # noqa: E731
    h = 1e-4
    for seed in range(3):
        d = jax.random.normal(jax.random.PRNGKey(100 + seed), flat.shape, jnp.float64)
        d = d / jnp.linalg.norm(d)
        fd = (s_fn(flat + h * d) - s_fn(flat - h * d)) / (2 * h)
        np.testing.assert_allclose(grad_s @ d, fd, rtol=1e-5, atol=1e-8 * abs(w[0]))


# --------------------------------------------------------------------------- #
# bad input and import hygiene
# --------------------------------------------------------------------------- #


def test_bad_input_raises():
    f = lambda y: jnp.sum(y**2)  # noqa: E731
    x = jnp.ones(5)
    mv = lambda u: u  # noqa: E731
    with pytest.raises(ValueError, match=r"order.*\[1, 4\]"):
        C.directional_derivative(f, x, x, 0)
    with pytest.raises(ValueError, match=r"order.*\[1, 4\]"):
        C.directional_derivative(f, x, x, 5)
    with pytest.raises(ValueError, match="order"):
        C.directional_derivative(f, x, x, 2.0)
    with pytest.raises(ValueError, match="order"):
        C.directional_derivative(f, x, x, True)
    with pytest.raises(ValueError, match=r"k.*\[1, 5\]"):
        C.lanczos(mv, 5, 0)
    with pytest.raises(ValueError, match=r"k.*\[1, 5\]"):
        C.lanczos(mv, 5, 6)
    with pytest.raises(ValueError, match=r"k.*\[1, 5\]"):
        C.top_eigenpairs(f, x, 6)
    with pytest.raises(ValueError, match=r"tol.*\(0, inf\)"):
        C.lanczos(mv, 5, 1, tol=0.0)
    with pytest.raises(ValueError, match=r"tol.*\(0, inf\)"):
        C.top_eigenpairs(f, x, 1, tol=-1e-3)
    with pytest.raises(ValueError, match="max_iter"):
        C.lanczos(mv, 5, 3, max_iter=2)
    with pytest.raises(ValueError, match="dim"):
        C.lanczos(mv, 0)
    with pytest.raises(ValueError, match="v0"):
        C.lanczos(mv, 5, 1, v0=jnp.ones(4))
    with pytest.raises(ValueError, match="v0"):
        C.top_eigenpairs(f, x, 1, v0=jnp.ones((4, 2)))
    with pytest.raises(ValueError, match="v0_noise"):
        C.lanczos(mv, 5, 1, v0_noise=-1.0)
    with pytest.raises(ValueError, match="matvec"):
        C.lanczos(lambda u: u[:3], 5, 1)
    with pytest.raises(ValueError, match=r"v must have the shape of x"):
        C.hvp(f, x, jnp.ones(4))
    with pytest.raises(ValueError, match=r"v must have the shape of x"):
        C.directional_derivative(f, x, jnp.ones(3), 1)
    with pytest.raises(ValueError, match=r"v must have the shape of x"):
        C.third_derivative_vv(f, x, jnp.ones((5, 1)))
    with pytest.raises(ValueError, match="x must be a flat floating-point vector"):
        C.top_eigenpairs(f, jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="x must be a flat floating-point vector"):
        C.sharpness(f, jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="x must be a flat floating-point"):
        C.hessian(f, jnp.arange(3))
    with pytest.raises(ValueError, match="x must be a floating-point array"):
        C.directional_derivative(f, jnp.arange(3), jnp.ones(3), 2)
    with pytest.raises(ValueError, match=r"k.*\[1, 39\]"):
        C.lobpcg_top_k(mv, 200, 40)


def test_import_does_not_enable_x64():
    code = "import jax, eoslib.curvature; assert not jax.config.jax_enable_x64; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
