"""eoslib.eigsolve: staged Lanczos with partial reorthogonalisation, sign fixing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import eigsolve as E


@pytest.fixture(scope="module")
def clustered():
    # 160 x 160 with a slowly decaying spectrum: Lanczos needs several stages of 16 rows at
    # tol 1e-10, and orthogonality is lost (and restored) along the way.
    rng = np.random.default_rng(11)
    q, _ = np.linalg.qr(rng.standard_normal((160, 160)))
    w = np.concatenate([[10.0, 9.9, 9.8], 9.0 * np.exp(-np.linspace(0, 4, 157))])
    a = jnp.asarray((q * w) @ q.T)
    return a, np.sort(w)[::-1], q[:, np.argsort(-w)]


def test_staged_run_equals_the_single_stage_run_and_stays_orthogonal(clustered, monkeypatch):
    a, w, _ = clustered

    def mv(u):
        return a @ u

    # A first stage of 16 rows (as for a large network), then 64.
    monkeypatch.setattr(E, "_FIRST_STAGE_BYTES", 16 * 160 * 8)
    eager = E.lanczos(mv, 160, 3, tol=1e-10, max_iter=64)
    assert int(eager.num_iterations) > 16  # crossed at least one stage boundary
    assert bool(eager.converged)
    np.testing.assert_allclose(eager.eigenvalues, w[:3], rtol=1e-12)
    # Inside a trace the whole basis is one stage: same iterations, same numbers.
    traced = jax.jit(lambda: E.lanczos(mv, 160, 3, tol=1e-10, max_iter=64))()
    assert int(traced.num_iterations) == int(eager.num_iterations)
    np.testing.assert_allclose(traced.eigenvalues, eager.eigenvalues, rtol=1e-13)
    vecs = np.asarray(eager.eigenvectors)
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(3), atol=1e-11)
    true_res = np.linalg.norm(np.asarray(a) @ vecs - vecs * np.asarray(eager.eigenvalues), axis=0)
    assert np.all(true_res <= 1e-10 * w[:3] + 1e-12)


def test_partial_reorthogonalisation_keeps_the_basis_semi_orthogonal(clustered):
    a, _, _ = clustered
    op = E.MatvecOp(lambda u: a @ u)
    st, noise = E._lanczos_start_jit(None, jax.random.PRNGKey(0), 0.0, dim=160, m=64, k=1,
                                     dtype=jnp.float64)
    # tol below reach: run all 64 iterations, past the loss of orthogonality.
    st = E._lanczos_run_jit(op, None, st, noise, 1e-300, m_limit=64, k=1)
    v = np.asarray(st.basis[:64])
    loss = np.abs(v @ v.T - np.eye(64)).max()
    assert loss < 1e-7  # semi-orthogonal: sqrt(eps) ~ 1.5e-8, with the estimate's slack
    assert 0 < int(st.reorths) < 32  # reorthogonalised, but not at every step


def test_fix_signs():
    v = np.array([[0.1, -0.9], [-0.8, 0.2], [0.3, 0.1]])
    np.testing.assert_array_equal(np.asarray(E.fix_signs(v)), -v)  # largest entry positive
    ref = np.array([[0.0, -1.0], [1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(np.asarray(E.fix_signs(v, ref)), v * np.array([-1.0, 1.0]))
    np.testing.assert_array_equal(np.asarray(E.fix_signs(v, ref[:, :1])), -v)


# --------------------------------------------------------------------------- #
# augmented_lanczos: the block warm start
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def small_model():
    # A two-layer tanh net on 12 points: 26 parameters, dense Hessian with mixed signs.
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.standard_normal((12, 3)))
    y = jnp.asarray(rng.standard_normal(12))

    def f(w):
        h = jnp.tanh(x @ w[:15].reshape(3, 5) + w[15:20])
        return 0.5 * jnp.mean((h @ w[20:25] + w[25] - y) ** 2)

    w = jnp.asarray(rng.standard_normal(26))
    lam, vec = np.linalg.eigh(np.asarray(jax.hessian(f)(w)))
    return f, w, lam[::-1], vec[:, ::-1]


def test_augmented_matches_dense_eigh_on_a_small_model(small_model):
    from eoslib import curvature

    f, w, lam, _ = small_model
    for v0 in (None, jnp.asarray(np.random.default_rng(0).standard_normal((26, 2)))):
        res = curvature.top_eigenpairs(f, w, 3, v0=v0, tol=1e-10, method="augmented")
        assert bool(res.converged)
        np.testing.assert_allclose(res.eigenvalues, lam[:3], rtol=1e-9, atol=1e-12)
        h = np.asarray(jax.hessian(f)(w))
        vecs = np.asarray(res.eigenvectors)
        true_res = np.linalg.norm(h @ vecs - vecs * np.asarray(res.eigenvalues), axis=0)
        np.testing.assert_allclose(true_res, res.residuals, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(vecs.T @ vecs, np.eye(3), atol=1e-10)


def test_augmented_from_the_exact_block_needs_only_the_block(clustered):
    a, w, q = clustered
    mv = lambda u: a @ u  # noqa: E731
    # The exact top-3 block, perturbed at rounding level: one Rayleigh-Ritz step, no expansion.
    block = q[:, :3] + 1e-12 * np.random.default_rng(1).standard_normal((160, 3))
    res = E.augmented_lanczos(mv, 160, 3, v0=jnp.asarray(block), tol=1e-8)
    assert bool(res.converged) and int(res.num_iterations) == 3
    np.testing.assert_allclose(res.eigenvalues, w[:3], rtol=1e-12)
    # Sign-fixed against the block: each vector has a positive overlap with its start.
    assert np.all(np.sum(np.asarray(res.eigenvectors) * block, axis=0) > 0.999)
    # A block that is a rotation of the top 3 (what close eigenvalues do to a warm start):
    # single-vector Lanczos must resolve the rotation, the augmented method does not.
    rot, _ = np.linalg.qr(np.random.default_rng(2).standard_normal((3, 3)))
    res = E.augmented_lanczos(mv, 160, 1, v0=jnp.asarray(q[:, :3] @ rot), tol=1e-8)
    single = E.lanczos(mv, 160, 1, v0=jnp.asarray((q[:, :3] @ rot)[:, 0]), tol=1e-8)
    assert int(res.num_iterations) == 3 < int(single.num_iterations)
    np.testing.assert_allclose(res.eigenvalues, w[:1], rtol=1e-12)


def test_augmented_thick_restarts_dependent_columns_and_guard_pairs(clustered):
    a, w, q = clustered
    mv = lambda u: a @ u  # noqa: E731
    # A basis of 12 rows restarts several times and still converges (no matvec is lost).
    res = E.augmented_lanczos(mv, 160, 3, tol=1e-9, max_iter=400, basis_size=12)
    assert bool(res.converged) and int(res.num_iterations) > 12
    np.testing.assert_allclose(res.eigenvalues, w[:3], rtol=1e-12)
    # A repeated column adds nothing: it is replaced by a random direction.
    block = np.stack([q[:, 0], q[:, 0], q[:, 1]], axis=1)
    res = E.augmented_lanczos(mv, 160, 2, v0=jnp.asarray(block), tol=1e-8, guard=1)
    assert bool(res.converged) and res.eigenvalues.shape == (3,)
    np.testing.assert_allclose(res.eigenvalues[:2], w[:2], rtol=1e-12)
    assert res.eigenvectors.shape == (160, 3)


def test_augmented_bad_arguments(clustered):
    a, _, _ = clustered
    mv = lambda u: a @ u  # noqa: E731
    block = jnp.ones((160, 4))
    with pytest.raises(ValueError, match="max_iter"):
        E.augmented_lanczos(mv, 160, 1, v0=block, max_iter=3)
    with pytest.raises(ValueError, match="basis_size"):
        E.augmented_lanczos(mv, 160, 1, v0=block, basis_size=4)
    with pytest.raises(ValueError, match="guard"):
        E.augmented_lanczos(mv, 160, 2, guard=-1)
    with pytest.raises(ValueError, match="guard"):
        E.augmented_lanczos(mv, 160, 2, guard=30)
    with pytest.raises(ValueError, match="v0"):
        E.augmented_lanczos(mv, 160, 1, v0=jnp.ones((159, 2)))
    with pytest.raises(ValueError, match="tol"):
        E.augmented_lanczos(mv, 160, 1, tol=0.0)
    with pytest.raises(ValueError, match="k"):
        E.augmented_lanczos(mv, 160, 161)


def test_top_eigenpairs_method_and_guard_are_checked():
    from eoslib import curvature

    f = lambda w: jnp.sum(w ** 4)  # noqa: E731
    with pytest.raises(ValueError, match="method='arnoldi' is not allowed"):
        curvature.top_eigenpairs(f, jnp.ones(8), method="arnoldi")
    with pytest.raises(ValueError, match="guard"):
        curvature.top_eigenpairs(f, jnp.ones(8), guard=1)  # lanczos has no guard pairs
