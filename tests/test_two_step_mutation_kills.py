"""Unit tests that kill mutants of two_step prediction functions the other tests let survive.

Each test names the surviving mutant (``tools/mutation``, ``book/mutation.md``) and checks the
function against an independent oracle (a Hessian, a brute-force search) or a second closed form,
in the regime the existing tests did not reach.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib.papers.two_step import base_models as bm
from eoslib.papers.two_step import matrix_factorization as mf
from eoslib.papers.two_step import one_d as od
from eoslib.papers.two_step import stable_sets as ss


@pytest.mark.parametrize("alpha", [1.25, 2.0])
def test_eq9_above_alpha_one_matches_the_hessian(alpha):
    """Eq. 9 for alpha > 1, where the other branch of the max is active.

    Kills ``eq9_max_k``: ``a2 + s / a2 -> a2 - s / a2`` (the test at alpha = 0.8 only reaches
    the first branch).
    """
    lam = np.array([3.0, 2.0, 0.5])
    Q = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]
    X0 = Q * np.sqrt(lam)[None, :]
    C = X0 @ X0.T
    z = jnp.concatenate([jnp.asarray(alpha * X0).ravel(), jnp.asarray(X0 / alpha).ravel()])
    H = jax.jit(jax.hessian(lambda v: mf.mf_loss(v[:9].reshape(3, 3), v[9:].reshape(3, 3), jnp.asarray(C))))(z)
    ev = np.sort(np.linalg.eigvalsh(np.asarray(H)))[::-1]
    np.testing.assert_allclose(ev[:9], mf.unbalanced_minimum_spectrum(lam, alpha), rtol=1e-10)
    eta = 0.3
    # the sharpness restricted to the top two modes of C: the larger of the two cross terms
    top = max(lam[0] / alpha**2 + alpha**2 * lam[1], alpha**2 * lam[0] + lam[1] / alpha**2)
    assert float(mf.eq9_value(eta, alpha, 3.0, 2.0)) == pytest.approx(eta * top, rel=1e-12)
    assert float(mf.eq9_max_k(2.0 / 3.0, alpha)) == pytest.approx(2 * 3.0 / top, rel=1e-12)
    assert np.isclose(ev[:9], top, rtol=1e-10).any()  # and it is a Hessian eigenvalue


def test_eq9_max_k_is_where_eq9_value_reaches_two():
    """The two forms of Eq. 9 agree on both sides of alpha = 1 and for every s."""
    for alpha in (0.5, 0.8, 1.0, 1.25, 2.0):
        for s in (0.1, 0.5, 1.0):
            k = float(mf.eq9_max_k(s, alpha))
            assert float(mf.eq9_value(k / 2.0, alpha, 2.0, 2.0 * s)) == pytest.approx(2.0, rel=1e-13)


@pytest.mark.parametrize("g3,holds", [(5.9, True), (6.5, False), (-1.0, True)])
def test_prop_1_condition_at_its_boundary(g3, holds):
    """g' g''' < 6 g''^2 near equality, and its agreement with the sign of Eq. 32-33.

    Kills ``prop_1_condition``: ``6 -> 7`` (the other tests use points far inside).
    """
    assert bool(bm.prop_1_condition(1.0, 1.0, g3)) is holds
    assert (float(bm.prop_1_stability(1.0, 1.0, g3)) > 0) is holds


@pytest.mark.parametrize("mu", [0.5, 2.0])
def test_projection_onto_the_arc_is_the_nearest_point(mu):
    """Brute force over the arc ``t -> (t, mu/t)``, for mu != 1.

    Kills ``project_onto_arc``: ``b * mu -> b / mu`` in the stationarity quartic (the other test
    has mu = 1, where both agree).
    """
    lo, hi = 0.6 * np.sqrt(mu), 1.5 * np.sqrt(mu)
    pts = np.array([[0.9, 0.4], [1.2, 0.7], [0.2, 2.5], [2.0, 2.0]]) * np.sqrt(mu)
    t = np.linspace(lo, hi, 400001)  # grid step ~2e-6: its distance error is far below 1e-9
    for (a, b), p in zip(pts, ss.project_onto_arc(pts, (lo, hi), mu)):
        d = (t - a) ** 2 + (mu / t - b) ** 2
        assert p[1] == pytest.approx(mu / p[0], rel=1e-14) and lo <= p[0] <= hi
        assert (p[0] - a) ** 2 + (p[1] - b) ** 2 == pytest.approx(d.min(), abs=1e-9)


def test_lemma_1_window_fifth_order_value():
    """k = 5: the window is (2/f'', 2/(f'' - f^(5) eps^3)).

    Kills ``lemma_1_window``: ``eps ** (k - 2) -> eps * (k - 2)`` (the other tests check k = 4,
    where ``eps ** 2`` and ``2 eps`` differ, but only the root's existence for k = 5).
    """
    f = od.taylor_polynomial((1.0, 0.0, 0.0, 1.0, -1.0))
    assert od.lemma_1_window(f, 0.1, 5) == pytest.approx((2.0, 2.0 / (1.0 - 0.1**3)), rel=1e-13)


def test_quasi_symmetric_init_without_noise_is_the_unbalanced_point():
    """Definition 3 with zero noise: exactly (alpha X0, X0 / alpha).

    Kills the ``ret`` mutant of ``quasi_symmetric_init`` (no test read its value).
    """
    X0 = jnp.asarray(np.random.default_rng(0).normal(size=(3, 2)))
    Y, Z = mf.quasi_symmetric_init(X0, 1.5, 0.0, jax.random.PRNGKey(0))
    np.testing.assert_allclose(np.asarray(Y), 1.5 * np.asarray(X0), rtol=1e-15)
    np.testing.assert_allclose(np.asarray(Z), np.asarray(X0) / 1.5, rtol=1e-15)
    Y, Z = mf.quasi_symmetric_init(X0, 1.5, 1e-3, jax.random.PRNGKey(0))
    assert 0 < float(jnp.max(jnp.abs(Y - 1.5 * X0))) < 1e-2  # the noise is there, and small


def test_theorem4_t1_is_the_ceiling_of_its_log_ratio():
    """T1 = ceil(log_2.56(1.35 / (pi beta^2))), beta = (1 + 1.1/pi) eps, on a dense grid of eps.

    The ceiling hides small changes at any single eps; on a grid some eps sits near a jump.
    Kills ``theorem4_t1``: ``1.35 -> 1.4175`` and ``2.56 -> 2.688``.
    """
    from eoslib.papers.two_step import relu_neuron as rn

    for eps in np.geomspace(1e-4, 0.1, 400):
        beta = (1.0 + 1.1 / np.pi) * eps
        ratio = 1.35 / (np.pi * beta * beta)
        t1 = rn.theorem4_t1(float(eps))
        assert 2.56**t1 >= ratio * (1 - 1e-12) and (t1 == 0 or 2.56 ** (t1 - 1) < ratio * (1 + 1e-12))


@pytest.mark.parametrize("eta,stable", [(0.98, True), (1.02, False)])
def test_quartic_stable_set_at_the_threshold(eta, stable):
    """At the minimum x = 1 of (x^2 - 1)^2 / 4, f'' = 2: stable iff eta <= 1 (2 <= 2/eta).

    Kills ``quartic_stable_set``: ``2.0 / e -> 2.1 / e`` (the other tests use eta = 0.9, 1.1).
    """
    assert bool(ss.quartic_stable_set(np.array([1.0]), eta)[0]) is stable
