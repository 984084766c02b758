"""eoslib.losses: Table 1 of the product-stability sheet, closed forms vs nested autodiff."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import losses as L

# Table 1 of shared/papers/product_stability.md: (name, z*, l2, l3, l4, alpha).
TABLE_1_ROWS = [
    ("bce_y0.2", math.log(0.25), 0.16, 0.096, 0.0064, 0.026624),
    ("bce_y0.5", 0.0, 0.25, 0.0, -0.125, 0.03125),
    ("l_1", 1.0, 0.5, 0.0, 0.0, 0.0),
    ("l_2", 1.0, 2.0, 6.0, 6.0, 96.0),
    ("l_3", 1.0, 4.5, 27.0, 90.0, 1782.0),
    ("log_cosh", 0.0, 1.0, 0.0, -2.0, 2.0),
    ("sqrt_one_plus_sq", 0.0, 1.0, 0.0, -3.0, 3.0),
]


def close(measured, expected, rtol=1e-10, atol=1e-13):
    np.testing.assert_allclose(np.asarray(measured), expected, rtol=rtol, atol=atol)


def test_table_1_keys():
    assert set(L.TABLE_1) == {row[0] for row in TABLE_1_ROWS}


@pytest.mark.parametrize("name,z_star,l2,l3,l4,alpha", TABLE_1_ROWS, ids=[r[0] for r in TABLE_1_ROWS])
def test_table_1_row(name, z_star, l2, l3, l4, alpha):
    loss = L.TABLE_1[name]
    assert loss.z_star == pytest.approx(z_star, rel=1e-15, abs=1e-15)
    d = L.derivatives(loss, loss.z_star)
    assert d.dtype == jnp.float64
    close(d[1], 0.0, atol=1e-14)  # z* is a critical point
    close(d[2:], [l2, l3, l4])
    close(L.product_stability(loss), alpha)
    close(L.product_stability(loss, normalized=True), alpha / l2)


def test_bce_table_formula_in_q():
    for y in [0.05, 0.2, 0.3, 0.5, 0.7, 0.95]:
        loss = L.soft_bce(y)
        q = y * (1 - y)
        d = L.derivatives(loss, loss.z_star)
        close(d[2:], [q, q * (1 - 2 * y), q * (1 - 6 * q)])
        close(L.product_stability(loss), 2 * q**2 * (1 - 3 * q))


def test_bce_closed_forms_in_p():
    """Derivatives at a general z in terms of p = sigmoid(z) (sheet, below Table 1).

    With q = 1 - p = sigmoid(-z): l2 = pq, l3 = pq(1 - 2p) = pq(q - p), l4 = pq(1 - 6pq)
    and alpha = 2 p^2 q^2 (1 - 3pq) > 0. Relative accuracy is required in both tails, far
    beyond |z| = 10 where p(1 - p) computed naively loses all digits.
    """
    for y in [0.2, 0.5]:
        loss = L.soft_bce(y)
        for z in np.linspace(-40.0, 40.0, 41):
            p, q = 1.0 / (1.0 + math.exp(-z)), 1.0 / (1.0 + math.exp(z))
            s = p * q
            d = L.derivatives(loss, z)
            value = y * np.logaddexp(0.0, -z) + (1 - y) * np.logaddexp(0.0, z)
            close(d[:2], [value, p - y], rtol=1e-14, atol=1e-15)
            close(d[2:], [s, s * (q - p), s * (1 - 6 * s)], rtol=1e-13, atol=0.0)
            alpha = L.product_stability(loss, z)
            close(alpha, 2 * s * s * (1 - 3 * s), rtol=1e-13, atol=0.0)
            assert float(alpha) > 0.0  # Lemma 6.1, for every z


def test_bce_is_numerically_stable_in_the_tails():
    loss = L.soft_bce(0.2)
    for z in [-800.0, -40.0, 40.0, 800.0]:
        d = np.asarray(L.derivatives(loss, z))
        assert np.all(np.isfinite(d))
        # softplus(z) - y z: ~ (1-y) z for z >> 0 and ~ -y z for z << 0.
        close(d[0], 0.8 * z if z > 0 else -0.2 * z, rtol=1e-12)
        close(d[1], 0.8 if z > 0 else -0.2, rtol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_multilayer_squared_closed_forms(n):
    loss = L.multilayer_squared(n)  # c = 1/4
    d = L.derivatives(loss, 1.0)
    close(d[2:], [n**2 / 2, 1.5 * n**2 * (n - 1), 0.5 * n**2 * (n - 1) * (7 * n - 11)])
    close(L.product_stability(loss), n**4 * (n - 1) * (5 * n - 4))
    # Lemma 6.2 values at c = 1.
    c1 = [0.0, 1536.0, 28512.0, 196608.0, 840000.0, 2695680.0]
    close(L.product_stability(L.multilayer_squared(n, c=1.0)), c1[n - 1])
    # l'(z) = 2 c n z^(n-1) (z^n - 1) at a general point.
    for z in [-1.3, 0.4, 2.1]:
        close(L.derivatives(loss, z, max_order=1)[1], 0.5 * n * z ** (n - 1) * (z**n - 1))


def test_log_cosh_and_sqrt_closed_forms():
    for z in np.linspace(-4.0, 4.0, 17):
        t = math.tanh(z)
        sech2 = 1 - t * t
        close(L.derivatives(L.log_cosh(), z),
              [math.log(math.cosh(z)), t, sech2, -2 * t * sech2, sech2 * (6 * t * t - 2)])
        r = 1 + z * z
        close(L.derivatives(L.sqrt_one_plus_sq(), z),
              [math.sqrt(r), z / math.sqrt(r), r**-1.5, -3 * z * r**-2.5, (12 * z * z - 3) * r**-3.5])
    # log cosh does not overflow where cosh does.
    close(L.log_cosh()(jnp.asarray(1000.0)), 1000.0 - math.log(2.0), rtol=1e-15)


def test_squared_and_negative_control():
    close(L.derivatives(L.squared(), 1.0), [0.0, 0.0, 1.0, 0.0, 0.0])
    close(L.product_stability(L.squared()), 0.0)
    neg = L.quartic_negative_control()
    close(L.derivatives(neg, neg.z_star)[2:], [1.0, 0.0, 6.0])
    close(L.product_stability(neg), -6.0)


def test_losses_are_jax_friendly():
    loss = L.soft_bce(0.2)
    z = jnp.linspace(-3.0, 3.0, 7)
    np.testing.assert_allclose(jax.vmap(loss)(z), jax.jit(jax.vmap(loss.fn))(z), rtol=1e-15)
    assert loss(jnp.asarray(0.0)).dtype == jnp.float64
    # float32 in, float32 out (no silent promotion).
    assert L.log_cosh()(jnp.asarray(0.5, jnp.float32)).dtype == jnp.float32
    # product_stability accepts any callable with an explicit z_star.
    # cos at pi: l'' = 1, l''' = 0, l'''' = -1, so alpha = 1.
    close(L.product_stability(lambda z: jnp.cos(z), math.pi), 1.0)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5, float("nan"), True, "0.2"])
def test_soft_bce_rejects_bad_label(bad):
    with pytest.raises(ValueError, match=r"y must .*\(0, 1\)"):
        L.soft_bce(bad)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "3"])
def test_multilayer_rejects_bad_n(bad):
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, inf\)"):
        L.multilayer_squared(bad)


def test_other_validation():
    with pytest.raises(ValueError, match=r"c must .*\(0, inf\)"):
        L.multilayer_squared(2, c=0.0)
    with pytest.raises(ValueError, match=r"max_order must be an integer in \[0, inf\)"):
        L.derivatives(L.squared(), 1.0, max_order=-1)
    with pytest.raises(ValueError, match=r"z_star"):
        L.product_stability(lambda z: z**2)
    with pytest.raises(ValueError, match=r"z must be a scalar"):
        L.derivatives(L.squared(), jnp.ones(2))


def test_equal_parameters_give_equal_losses():
    # Equal (and equally hashed) losses reuse jit caches keyed on the loss.
    assert L.soft_bce(0.2) == L.soft_bce(0.2) and hash(L.soft_bce(0.2)) == hash(L.soft_bce(0.2))
    assert L.multilayer_squared(3) == L.TABLE_1["l_3"]
    assert L.soft_bce(0.2) != L.soft_bce(0.3)
