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
