"""Unit tests of eoslib.papers.product_stability.networks: Section 7 helpers on a tiny network."""

import jax
import numpy as np
import pytest

from eoslib import losses
from eoslib.papers.product_stability import networks

BCE = losses.soft_bce(0.2)
L2 = losses.multilayer_squared(2)


def _tiny_net_loss():
    from eoslib import nets

    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 5))
    y = 0.2 + 0.6 * (x[:, 0] > 0)
    net = nets.make_network("mlp", widths=(8, 8), input_shape=(5,), num_outputs=1, key=0)
    return nets.flat_loss(net, net.init_params, x, y, "bce_with_logits")


def test_alpha_profile_matches_stability_topk_and_dense():
    from eoslib import stability

    f, w0 = _tiny_net_loss()
    prof = networks.alpha_spectral_profile(f, w0, 6, tol=1e-10, max_iter=200)
    ref = stability.multivariate_product_stability(f, w0, solver="topk", k=6, eig_tol=1e-10, eig_max_iter=200)
    assert prof.alpha == pytest.approx(ref.alpha, rel=1e-8)
    assert prof.third_term == pytest.approx(ref.third_term, rel=1e-8)
    assert prof.fourth_term == pytest.approx(ref.fourth_term, rel=1e-8)
    assert prof.lambda_max == pytest.approx(ref.lambda_max, rel=1e-10)
    # alpha(1) only needs the top pair: 3 (T_vv . v)^2 / lambda_max - Q.
    assert prof.alpha_by_k[0] == pytest.approx(3 * prof.overlaps[0] ** 2 / prof.eigenvalues[0] - prof.fourth_term)
    assert prof.alpha_by_k.shape == (6,)


def test_track_network_eos_through_train_gd():
    f, w0 = _tiny_net_loss()
    calls = []

    def evaluate(w):
        calls.append(np.asarray(w))
        return networks.alpha_spectral_profile(f, w, 3, tol=1e-8, max_iter=100)

    r = networks.track_network_eos(f, w0, 0.5, 40, eig_every=5, alpha_every=20, evaluate=evaluate)
    assert list(r.alpha_steps) == [20, 40] and len(calls) == 2
    assert list(r.eig_steps) == list(range(0, 41, 5))  # no duplicated segment boundaries
    assert list(r.steps) == list(range(0, 41, 5))
    assert r.weights.shape == (2, w0.shape[0]) and r.diverged_at == -1
    assert r.alpha_array().shape == (2,) and np.all(np.isfinite(r.alpha_array("fourth_term")))
    # Same trajectory as one uninterrupted GD run.
    w = w0
    g = jax.jit(jax.grad(f))
    for _ in range(40):
        w = w - 0.5 * g(w)
    assert np.allclose(r.weights[-1], np.asarray(w), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="alpha_every"):
        networks.track_network_eos(f, w0, 0.5, 30, alpha_every=20)


def test_track_network_eos_default_evaluator_and_cache(tmp_path):
    f, w0 = _tiny_net_loss()
    settings = {"net": "tiny", "evaluate": "topk20"}
    r = networks.track_network_eos(f, w0, 0.5, 20, eig_every=5, alpha_every=10, settings=settings,
                                   cache_dir=tmp_path)
    assert isinstance(r.alpha[0], networks.AlphaTerms) and not r.from_cache
    again = networks.track_network_eos(f, w0, 0.5, 20, eig_every=5, alpha_every=10, settings=settings,
                                       cache_dir=tmp_path)
    assert again.from_cache and np.array_equal(again.alpha_array(), r.alpha_array())
    assert np.array_equal(again.weights, r.weights)
