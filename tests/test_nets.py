"""eoslib.nets: architectures, parameter counts, flat-vector losses, loss values, bad input."""

from __future__ import annotations

import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import nets
from eoslib.nets import (
    accuracy,
    bce_with_logits,
    categorical_mse,
    cross_entropy,
    flat_loss,
    flatten_params,
    logistic,
    make_network,
    mse,
)

RNG = np.random.default_rng(0)


# XLA's backend optimisations off: these tests check values, and compiling a 20-layer
# float64 conv net (forward and gradient) at full optimisation takes longer than running it.
_FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def _fast_jit(fn):
    """``jax.jit(fn)`` compiled with :data:`_FAST_COMPILE`, once per argument shapes."""
    compiled = {}

    def call(*args):
        key = tuple((jnp.shape(a), jnp.result_type(a)) for a in jax.tree_util.tree_leaves(args))
        if key not in compiled:
            compiled[key] = jax.jit(fn).lower(*args).compile(compiler_options=_FAST_COMPILE)
        return compiled[key](*args)

    return call


def _fd_check(f, w, num_dirs=3, h=1e-5, rtol=1e-6, jit=jax.jit):
    """Directional derivatives of jax.grad(f) vs central differences (float64)."""
    value_and_grad = jit(jax.value_and_grad(f))
    _, g = value_and_grad(w)
    assert np.all(np.isfinite(np.asarray(g)))
    for i in range(num_dirs):
        v = jnp.asarray(np.random.default_rng(i).standard_normal(w.shape))
        fd = (value_and_grad(w + h * v)[0] - value_and_grad(w - h * v)[0]) / (2 * h)
        np.testing.assert_allclose(float(g @ v), float(fd), rtol=rtol, atol=1e-9)
    return g


# ----------------------------------------------------------------------------- MLP

def test_param_counts_of_the_sheets():
    # product_stability Fig 5: 3072-200-200-1 tanh MLP.
    assert make_network("mlp", input_shape=(3072,), num_outputs=1).num_params == 655_001
    # self_stabilization: Damian et al. CIFAR MLP (~657k) and the digits MLP 64-64-64-10 (8 970).
    assert make_network("mlp", activation="swish").num_params == 656_810
    assert make_network("mlp", widths=(64, 64), input_shape=(64,)).num_params == 8_970
    assert make_network("mlp", widths=(64, 64), input_shape=(64,), bias=False).num_params == 8_832
    # Damian et al.'s CNN on CIFAR (~30.6k).
    assert make_network("cnn").num_params == 30_634


def test_mlp_forward_matches_numpy_and_pytorch_init_bounds():
    net = make_network("mlp", widths=(5, 4), input_shape=(3,), num_outputs=2, activation="tanh", key=3)
    params = net.init_params
    for layer, fan_in in zip(params, (3, 5, 4)):
        for leaf in layer.values():
            assert float(jnp.max(jnp.abs(leaf))) <= 1 / math.sqrt(fan_in)
    x = RNG.standard_normal((6, 3))
    h = x
    for layer in params[:-1]:
        h = np.tanh(h @ np.asarray(layer["w"]) + np.asarray(layer["b"]))
    ref = h @ np.asarray(params[-1]["w"]) + np.asarray(params[-1]["b"])
    np.testing.assert_allclose(np.asarray(net.apply(params, x)), ref, rtol=1e-12)
    # Image inputs are flattened by the MLP.
    img = make_network("mlp", widths=(4,), input_shape=(2, 2, 1))
    assert img.apply(img.init_params, RNG.standard_normal((3, 2, 2, 1))).shape == (3, 10)
    # Same key, same parameters; other key, other parameters; init(key) reproduces init_params.
    again = make_network("mlp", widths=(5, 4), input_shape=(3,), num_outputs=2, key=3)
    np.testing.assert_array_equal(flatten_params(again.init_params)[0], flatten_params(params)[0])
    np.testing.assert_array_equal(flatten_params(net.init(jax.random.PRNGKey(3)))[0],
                                  flatten_params(params)[0])
    other = make_network("mlp", widths=(5, 4), input_shape=(3,), num_outputs=2, key=4)
    assert not np.array_equal(flatten_params(other.init_params)[0], flatten_params(params)[0])


def test_init_statistics():
    big = make_network("mlp", widths=(400,), input_shape=(300,), key=0)
    w = np.asarray(big.init_params[0]["w"])
    np.testing.assert_allclose(w.std(), 1 / math.sqrt(300) / math.sqrt(3), rtol=0.02)  # U(+-1/sqrt(300))
    lecun = make_network("mlp", widths=(400,), input_shape=(300,), init="lecun_normal", key=0)
    np.testing.assert_allclose(np.asarray(lecun.init_params[0]["w"]).std(), 1 / math.sqrt(300), rtol=0.02)
    assert not np.any(np.asarray(lecun.init_params[0]["b"]))
    zero_b = make_network("mlp", widths=(4,), input_shape=(3,), zero_bias=True)
    assert not np.any(np.asarray(zero_b.init_params[0]["b"]))


@pytest.mark.parametrize("activation", sorted(nets.ACTIVATIONS))
def test_flat_loss_gradient_matches_finite_differences(activation):
    net = make_network("mlp", widths=(6, 5), input_shape=(4,), num_outputs=3,
                       activation=activation, key=1)
    x = RNG.standard_normal((7, 4))
    y = np.eye(3)[RNG.integers(0, 3, 7)]
    f, w0 = flat_loss(net, net.init_params, x, y, "mse")
    assert w0.shape == (net.num_params,) and w0.dtype == jnp.float64
    _fd_check(f, w0)


def test_activations_values():
    z = jnp.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    act = nets.ACTIVATIONS
    np.testing.assert_allclose(act["hardtanh"](z), [-1, -0.5, 0, 0.5, 1])
    np.testing.assert_allclose(act["relu"](z), [0, 0, 0, 0.5, 2])
    np.testing.assert_allclose(act["swish"](z), z / (1 + np.exp(-z)), rtol=1e-12)
    np.testing.assert_allclose(act["tanh"](z), np.tanh(z), rtol=1e-12)
    np.testing.assert_array_equal(act["identity"](z), z)


def test_float32_params_with_float64_data_under_strict_promotion():
    net = make_network("mlp", widths=(4,), input_shape=(3,), num_outputs=1, dtype=jnp.float32)
    f, w0 = flat_loss(net, net.init_params, RNG.standard_normal((5, 3)), np.sign(RNG.standard_normal(5)),
                      "logistic")
    value, grad = jax.jit(jax.value_and_grad(f))(w0)
    assert w0.dtype == jnp.float32 and value.dtype == jnp.float32 and grad.dtype == jnp.float32


# ----------------------------------------------------------------------------- CNN

def test_conv_and_pool_match_direct_computation():
    x = RNG.standard_normal((2, 5, 4, 3))
    k = RNG.standard_normal((3, 3, 3, 2))
    out = np.asarray(nets._conv(jnp.asarray(x), jnp.asarray(k)))
    pad = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    ref = np.zeros((2, 5, 4, 2))
    for i in range(5):
        for j in range(4):
            ref[:, i, j, :] = np.einsum("nhwc,hwco->no", pad[:, i:i + 3, j:j + 3, :], k)
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    strided = np.asarray(nets._conv(jnp.asarray(x), jnp.asarray(k), stride=2))
    np.testing.assert_allclose(strided, ref[:, ::2, ::2, :], rtol=1e-12)  # PyTorch padding 1
    img = jnp.arange(2 * 5 * 4 * 1, dtype=jnp.float64).reshape(2, 5, 4, 1)
    avg = np.asarray(nets._pool(img, "avg"))
    mx = np.asarray(nets._pool(img, "max"))
    assert avg.shape == (2, 2, 2, 1)  # odd edge dropped, as PyTorch
    np.testing.assert_allclose(avg[0, 0, 0, 0], (0 + 1 + 4 + 5) / 4)
    np.testing.assert_allclose(mx[0, 1, 1, 0], 15)


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_cnn_forward_backward(pooling):
    net = make_network("cnn", widths=(4, 4), input_shape=(8, 8, 1), pooling=pooling,
                       num_outputs=3, key=0)
    assert net.num_params == (9 * 4 + 4) + (9 * 16 + 4) + (4 * 2 * 2 * 3 + 3)
    x = RNG.standard_normal((5, 8, 8, 1))
    assert net.apply(net.init_params, x).shape == (5, 3)
    f, w0 = flat_loss(net, net.init_params, x, RNG.integers(0, 3, 5), "cross_entropy")
    _fd_check(f, w0, num_dirs=1)


# ----------------------------------------------------------------------------- paper scale

@pytest.mark.paper_scale
def test_paper_scale_defaults_param_counts():
    # Paper scale: builds the 9.8M-parameter VGG-11-BN (gfs_sharpness Figure 6).
    # Cohen et al.'s vgg11_nodropout_bn and the Fixup repo's resnet20 / fixup_resnet20 on CIFAR-10.
    assert make_network("vgg11_bn").num_params == 9_756_426
    assert make_network("resnet20").num_params == 269_818
    assert make_network("fixup_resnet20").num_params == 268_393


def test_vgg11_bn_forward_backward_and_batch_statistics():
    # Reduced widths keep the test fast; swish keeps finite differences clean (ReLU kinks
    # and max-pool switches make them unreliable, not the gradient).
    net = make_network("vgg11_bn", widths=(4, 8, 8, 8, 8, 8, 8, 8), activation="swish", key=0)
    apply = _fast_jit(net.apply)
    x = RNG.standard_normal((2, 32, 32, 3))
    params = net.init_params
    logits = apply(params, x)
    assert logits.shape == (2, 10)
    f, w0 = flat_loss(net, params, x, RNG.integers(0, 10, 2), "cross_entropy")
    _fd_check(f, w0, num_dirs=1, h=1e-6, rtol=1e-6, jit=_fast_jit)
    # Batch norm uses this batch's statistics: rescaling a conv layer changes nothing (up to
    # the BN epsilon)...
    scaled = dict(params, convs=list(params["convs"]))
    scaled["convs"][0] = dict(params["convs"][0], w=3 * params["convs"][0]["w"],
                              b=3 * params["convs"][0]["b"])
    np.testing.assert_allclose(apply(scaled, x), logits, rtol=1e-4, atol=1e-8)
    # ...and the output of an example depends on the rest of the batch (full-batch GD semantics).
    other = x.copy()
    other[1] = RNG.standard_normal((32, 32, 3))
    assert not np.allclose(apply(params, other)[0], logits[0])


def test_resnet20_forward_backward_and_identity_blocks_at_init():
    net = make_network("resnet20", widths=(4, 8, 8), activation="swish", key=0)
    act = nets.ACTIVATIONS["swish"]
    x = jnp.asarray(RNG.standard_normal((2, 32, 32, 3)))
    params = net.init_params
    logits = _fast_jit(net.apply)(params, x)
    assert logits.shape == (2, 10)

    @_fast_jit
    def reference(params, x):
        # Reference init zeroes each block's last BN scale: every block is act(shortcut(h)).
        bn = nets._batch_norm
        h = act(bn(nets._conv(x, params["stem"]["w"]), params["stem"]["bn"]))
        for stage in params["stages"]:
            for block in stage:
                if "bn_down" in block:
                    s = bn(h[:, ::2, ::2, :], block["bn_down"])
                    pad = block["conv1"].shape[-1] - s.shape[-1]
                    h = jnp.concatenate([s, jnp.zeros(s.shape[:-1] + (pad,))], axis=-1)
                h = act(h)
        return jnp.mean(h, axis=(1, 2)) @ params["fc"]["w"] + params["fc"]["b"]

    np.testing.assert_allclose(logits, reference(params, x), rtol=1e-10, atol=1e-12)
    # Move away from the identity init so every parameter matters, then check the gradient.
    w0, _ = flatten_params(params)
    w1 = w0 + 0.1 * jnp.asarray(RNG.standard_normal(w0.shape))
    f, _ = flat_loss(net, params, x, np.eye(10)[[1, 7]], "mse")
    _fd_check(f, w1, num_dirs=1, h=1e-6, rtol=1e-6, jit=_fast_jit)


def test_fixup_resnet20_forward_backward():
    net = make_network("fixup_resnet20", widths=(4, 8, 8), activation="swish", key=0,
                       num_outputs=1)
    x = RNG.standard_normal((2, 32, 32, 3))
    # Fixup zero-initialises the classifier: the initial output is exactly 0.
    np.testing.assert_array_equal(_fast_jit(net.apply)(net.init_params, x), np.zeros((2, 1)))
    w0, _ = flatten_params(net.init_params)
    w1 = w0 + 0.1 * jnp.asarray(RNG.standard_normal(w0.shape))
    f, _ = flat_loss(net, net.init_params, x, np.array([1.0, -1.0]), "logistic")
    _fd_check(f, w1, num_dirs=1, h=1e-6, rtol=1e-6, jit=_fast_jit)


# ----------------------------------------------------------------------------- losses

def test_loss_values_by_hand():
    f = jnp.array([[1.0, 2.0], [0.0, -1.0]])
    y = jnp.array([[0.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(mse(f, y), 0.5 * (5 + 4) / 2)
    np.testing.assert_allclose(categorical_mse(f, y), (5 + 4) / 2)
    np.testing.assert_allclose(mse(f, jnp.array([1, 0])), 0.5 * ((1 + 1) + (1 + 1)) / 2)  # int -> one-hot
    ln3 = math.log(3.0)
    logits = jnp.array([[0.0, ln3], [ln3, 0.0]])
    ce = -(math.log(0.75) + math.log(0.25)) / 2
    np.testing.assert_allclose(cross_entropy(logits, jnp.array([1, 1])), ce, rtol=1e-12)
    np.testing.assert_allclose(cross_entropy(logits, jnp.eye(2)[jnp.array([1, 1])]), ce, rtol=1e-12)
    z = jnp.array([[0.0], [2.0]])
    expected = (math.log(2.0) + math.log1p(math.exp(2.0))) / 2
    np.testing.assert_allclose(logistic(z, jnp.array([1.0, -1.0])), expected, rtol=1e-12)
    np.testing.assert_allclose(bce_with_logits(z, jnp.array([1.0, 0.0])), expected, rtol=1e-12)
    np.testing.assert_allclose(mse(z, jnp.array([1.0, 1.0])), 0.5 * (1 + 1) / 2)  # (N,1) vs (N,)
    # Stable for large margins.
    np.testing.assert_allclose(logistic(jnp.array([1000.0]), jnp.array([-1.0])), 1000.0)
    np.testing.assert_allclose(bce_with_logits(jnp.array([-1000.0]), jnp.array([1.0])), 1000.0)
    np.testing.assert_allclose(logistic(jnp.array([1000.0]), jnp.array([1.0])), 0.0, atol=1e-300)


def test_accuracy():
    logits = jnp.array([[2.0, 1.0, 0.0], [0.0, 1.0, 3.0], [0.0, 5.0, 1.0]])
    assert float(accuracy(logits, jnp.array([0, 2, 2]))) == pytest.approx(2 / 3)
    assert float(accuracy(logits, jnp.eye(3)[jnp.array([0, 2, 1])])) == 1.0
    z = jnp.array([[0.5], [-0.2], [1.0], [-3.0]])
    assert float(accuracy(z, jnp.array([1.0, -1.0, -1.0, -1.0]))) == 0.75
    assert float(accuracy(z, jnp.array([1.0, 0.0, 1.0, 1.0]))) == 0.75


def test_loss_shape_mismatch_and_names():
    with pytest.raises(ValueError, match="shape"):
        mse(jnp.zeros((3, 2)), jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match="loss="):
        nets.get_loss("hinge")
    assert nets.get_loss("categorical_mse") is categorical_mse
    assert nets.get_loss(mse) is mse


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize(
    "name, kwargs, word",
    [
        ("transformer", {}, "name="),
        ("mlp", dict(activation="gelu"), "activation="),
        ("mlp", dict(init="xavier"), "init="),
        ("cnn", dict(pooling="sum"), "pooling="),
        ("mlp", dict(widths=(0, 3)), "widths="),
        ("mlp", dict(widths=(2.5,)), "widths="),
        ("mlp", dict(num_outputs=0), "num_outputs must be"),
        ("cnn", dict(input_shape=(64,)), "input_shape="),
        ("cnn", dict(widths=(4, 4, 4), input_shape=(4, 4, 1)), "input_shape="),
        ("vgg11_bn", dict(input_shape=(28, 28, 1)), "input_shape="),
        ("vgg11_bn", dict(widths=(8, 8)), "widths="),
        ("resnet20", dict(widths=(16, 8, 32)), "widths="),
        ("mlp", dict(dtype=jnp.int32), "dtype="),
    ],
)
def test_make_network_bad_input(name, kwargs, word):
    with pytest.raises(ValueError, match=word):
        make_network(name, **kwargs)


def test_import_does_not_enable_x64():
    code = ("import jax, eoslib.nets, eoslib.data; "
            "assert not jax.config.jax_enable_x64; "
            "n = eoslib.nets.make_network('mlp', widths=(3,), input_shape=(2,)); "
            "assert eoslib.nets.flatten_params(n.init_params)[0].dtype.name == 'float32'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
