"""Small JAX networks and losses for the real-data figures, with a flat-vector interface.

Networks are plain functions over parameter pytrees (no framework beyond JAX):

* book scale: fully connected nets (``"mlp"``; tanh, hardtanh, relu, swish or identity,
  any widths, optional bias) and Cohen et al.'s small CNN (``"cnn"``: two 3x3 SAME
  convolutions of width 32, each followed by the activation and a 2x2 average or max
  pool, then one dense layer), on NHWC images;
* paper scale: VGG-11 with batch norm (``"vgg11_bn"``, Cohen et al.'s no-dropout
  variant) and the CIFAR ResNet-20 (``"resnet20"``, 3 stages x 3 basic blocks, widths
  16/32/64, as in the Fixup repository's ``resnet_cifar.py``; ``"fixup_resnet20"`` is the
  normalisation-free Fixup variant of the same repository). No notebook runs them at book
  scale; they are here for gfs_sharpness Figure 6 (GD and GFS sharpness of VGG11-BN and
  ResNet20 on CIFAR-10) and Figure 13 (the same on an SVHN subset), at the paper's scale.

**Batch norm under full-batch GD.** There are no running averages: every batch-norm layer
normalises with the mean and (biased) variance of the batch it is given, i.e. PyTorch
training mode. With full-batch GD the batch is the whole training set, so the training loss
is a deterministic function of the parameters and its Hessian is well defined. Calling
``apply`` on another batch (a test set, a single example) normalises with *that* batch's
statistics.

Curvature code works on flat vectors: :func:`flat_loss` turns ``(network, params, x, y,
loss)`` into ``f: R^D -> R`` and the starting point ``w0`` via
``jax.flatten_util.ravel_pytree``.

Dtypes: parameters are created in ``dtype`` (default: JAX's default float, float64 when x64
is enabled) and ``apply`` casts the inputs to the parameters' dtype, so float64 NumPy data
work with float32 parameters and vice versa, also under strict dtype promotion.

References:
  J. Cohen, S. Kaur, Y. Li, J. Z. Kolter, A. Talwalkar, "Gradient Descent on Neural
  Networks Typically Occurs at the Edge of Stability", ICLR 2021 (src/archs.py, src/vgg.py).
  K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition", CVPR 2016.
  H. Zhang, Y. N. Dauphin, T. Ma, "Fixup Initialization", ICLR 2019
  (github.com/hongyi-zhang/Fixup, cifar/models/resnet_cifar.py, fixup_resnet_cifar.py).
  K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks", ICLR 2015 (configuration A).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from .validation import choice as _choice, integer as _check_int

Array = jax.Array
Params = Any
LossFn = Callable[[Array, Array], Array]

__all__ = [
    "Network",
    "NETWORKS",
    "ACTIVATIONS",
    "INITS",
    "LOSSES",
    "make_network",
    "flat_loss",
    "flatten_params",
    "count_params",
    "mse",
    "categorical_mse",
    "cross_entropy",
    "logistic",
    "bce_with_logits",
    "accuracy",
    "get_loss",
]

NETWORKS = ("mlp", "cnn", "vgg11_bn", "resnet20", "fixup_resnet20")
INITS = ("pytorch", "lecun_normal", "reference")


def _hardtanh(x: Array) -> Array:
    return jnp.clip(x, -1.0, 1.0)


def _identity(x: Array) -> Array:
    return x


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "tanh": jnp.tanh,
    "hardtanh": _hardtanh,  # PyTorch nn.Hardtanh: clip to [-1, 1]
    "relu": jax.nn.relu,
    "swish": jax.nn.swish,  # x * sigmoid(x), a.k.a. SiLU
    "identity": _identity,
}

# VGG configuration "A" (11 weight layers: 8 conv + 3 dense); "M" is a 2x2 max pool.
_VGG11_WIDTHS = (64, 128, 256, 256, 512, 512, 512, 512)
_VGG11_POOL_AFTER = (0, 1, 3, 5, 7)  # conv indices followed by a max pool
_BN_EPS = 1e-5  # PyTorch BatchNorm2d default


@dataclass(frozen=True, eq=False)
class Network:
    """A network as plain functions.

    Attributes:
      name: architecture name, one of :data:`NETWORKS`.
      init: ``key -> params``; a fresh parameter pytree for another seed (a host function:
        loop over keys, do not ``jit``/``vmap`` it).
      apply: ``(params, x) -> logits`` for a batch ``x`` of shape ``(N, *input_shape)``
        (an MLP also accepts NHWC images and flattens them); logits are ``(N, num_outputs)``.
      init_params: the parameters created from the ``key`` given to :func:`make_network`.
      num_params: number of scalar parameters ``D``.
      input_shape: shape of one input.
      num_outputs: logits per example.
      description: one-line summary for figure notes, e.g.
        ``"MLP 64-200-200-10, tanh, bias, pytorch init (52,610 params)"``.
    """

    name: str
    init: Callable[[Array], Params] = field(repr=False)
    apply: Callable[[Params, Array], Array] = field(repr=False)
    init_params: Params = field(repr=False)
    num_params: int
    input_shape: tuple[int, ...]
    num_outputs: int
    description: str


# ----------------------------------------------------------------------------- initialisers

class _Rng:
    """Hands out consecutive slices of pre-drawn random vectors, one per distribution.

    Drawing every tensor with its own ``jax.random`` call makes XLA compile one threefry
    sampler per tensor (11 s for ResNet-20 on a CPU core). Here a first pass only records
    the sizes, each distribution is drawn once with ``jax.random``, and the parameter
    tensors are cut and scaled on the host with NumPy. So ``init`` is a host function:
    loop over keys rather than ``vmap``/``jit`` it.
    """

    KINDS = ("uniform", "normal", "truncated")

    def __init__(self, dtype: Any, pools: dict[str, np.ndarray] | None = None):
        self.dtype = np.dtype(dtype)
        self.pools = pools
        self.used = dict.fromkeys(self.KINDS, 0)

    def draw(self, kind: str, shape: tuple[int, ...]) -> np.ndarray:
        size = math.prod(shape)
        start = self.used[kind]
        self.used[kind] += size
        if self.pools is None:
            return np.broadcast_to(np.zeros((), self.dtype), shape)  # size pass, no memory
        return self.pools[kind][start:start + size].reshape(shape)

    def zeros(self, shape: tuple[int, ...], value: float = 0.0) -> np.ndarray:
        return np.full(shape, value, self.dtype)

    @staticmethod
    def make_init(build: Callable[["_Rng"], Params], dtype: Any) -> Callable[[Array], Params]:
        def init(key: Array) -> Params:
            recorder = _Rng(dtype)
            build(recorder)
            sizes = recorder.used
            k_u, k_n, k_t = jax.random.split(key, 3)
            pools = {
                "uniform": jax.random.uniform(k_u, (sizes["uniform"],), dtype, -1.0, 1.0),
                "normal": jax.random.normal(k_n, (sizes["normal"],), dtype),
                "truncated": jax.random.truncated_normal(k_t, -2.0, 2.0, (sizes["truncated"],),
                                                         dtype),
            }
            params = build(_Rng(dtype, {k: np.asarray(v) for k, v in pools.items()}))
            return jax.tree_util.tree_map(jnp.asarray, params)

        return init


def _uniform(rng: _Rng, shape: tuple[int, ...], fan_in: int) -> Array:
    # PyTorch's default for Linear/Conv weights (kaiming_uniform with a=sqrt(5)) and biases
    # both reduce to U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    return rng.draw("uniform", shape) * (1.0 / math.sqrt(fan_in))


def _weight(rng: _Rng, shape: tuple[int, ...], fan_in: int, init: str) -> Array:
    if init == "lecun_normal":
        # As jax.nn.initializers.lecun_normal: normal truncated to +-2 std, rescaled to
        # variance 1/fan_in (0.8796... is the std of the standard normal truncated to [-2, 2]).
        return rng.draw("truncated", shape) * (math.sqrt(1.0 / fan_in) / 0.87962566103423978)
    return _uniform(rng, shape, fan_in)


def _bias(rng: _Rng, size: int, fan_in: int, init: str, zero: bool) -> Array:
    if zero or init == "lecun_normal":
        return rng.zeros((size,))
    return _uniform(rng, (size,), fan_in)


def _dense_init(rng: _Rng, n_in: int, n_out: int, *, bias: bool, init: str,
                zero_bias: bool) -> dict[str, Array]:
    layer = {"w": _weight(rng, (n_in, n_out), n_in, init)}
    if bias:
        layer["b"] = _bias(rng, n_out, n_in, init, zero_bias)
    return layer


def _conv_kernel(rng: _Rng, c_in: int, c_out: int, init: str) -> Array:
    shape = (3, 3, c_in, c_out)
    if init == "reference":
        # Cohen et al.'s VGG and the Fixup repo's ResNet: normal(0, sqrt(2 / (k*k*c_out))),
        # i.e. kaiming_normal with mode="fan_out".
        return rng.draw("normal", shape) * math.sqrt(2.0 / (9 * c_out))
    return _weight(rng, shape, 9 * c_in, init)


def _bn_init(rng: _Rng, channels: int, gamma: float = 1.0) -> dict[str, np.ndarray]:
    return {"gamma": rng.zeros((channels,), gamma), "beta": rng.zeros((channels,))}


# ----------------------------------------------------------------------------- layers

def _dense(layer: dict[str, Array], x: Array) -> Array:
    out = x @ layer["w"]
    return out + layer["b"] if "b" in layer else out


def _conv(x: Array, kernel: Array, stride: int = 1) -> Array:
    # Explicit symmetric padding 1 as PyTorch (TF "SAME" pads stride-2 convs asymmetrically).
    return lax.conv_general_dilated(x, kernel, (stride, stride), ((1, 1), (1, 1)),
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _pool(x: Array, kind: str) -> Array:
    # 2x2 windows, stride 2, odd edges dropped (PyTorch's floor mode). A reshape keeps
    # both pools differentiable to any order (reduce_window is not, for nested jvp/vjp).
    n, h, w, c = x.shape
    x = x[:, : h - h % 2, : w - w % 2, :].reshape(n, h // 2, 2, w // 2, 2, c)
    return jnp.max(x, axis=(2, 4)) if kind == "max" else jnp.mean(x, axis=(2, 4))


def _batch_norm(x: Array, bn: dict[str, Array]) -> Array:
    # Training-mode batch norm with the statistics of this batch (full batch under GD);
    # biased variance, as PyTorch uses for normalisation.
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axis=axes)
    var = jnp.mean(jnp.square(x - mean), axis=axes)
    return (x - mean) * lax.rsqrt(var + _BN_EPS) * bn["gamma"] + bn["beta"]


def _as_input(params: Params, x: Array) -> Array:
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    return jnp.asarray(x, dtype=dtype)


# ----------------------------------------------------------------------------- architectures

def _mlp(input_shape, widths, num_outputs, act, bias, init, zero_bias, dtype):
    sizes = (math.prod(input_shape), *widths, num_outputs)

    def build(rng):
        return [_dense_init(rng, a, b, bias=bias, init=init, zero_bias=zero_bias)
                for a, b in zip(sizes[:-1], sizes[1:])]

    def apply(params, x):
        h = _as_input(params, x)
        h = h.reshape(h.shape[0], -1)
        for layer in params[:-1]:
            h = act(_dense(layer, h))
        return _dense(params[-1], h)

    desc = f"MLP {'-'.join(str(s) for s in sizes)}"
    return _Rng.make_init(build, dtype), apply, desc


def _cnn(input_shape, widths, num_outputs, act, bias, init, zero_bias, dtype, pooling):
    height, width, channels = input_shape
    for _ in widths:
        height, width = height // 2, width // 2
    if height < 1 or width < 1:
        raise ValueError(f"input_shape={input_shape} is too small for {len(widths)} 2x2 pools; "
                         f"need H, W >= {2 ** len(widths)}")
    flat = widths[-1] * height * width

    def build(rng):
        convs, c_in = [], channels
        for c_out in widths:
            layer = {"w": _conv_kernel(rng, c_in, c_out, init)}
            if bias:
                layer["b"] = _bias(rng, c_out, 9 * c_in, init, zero_bias)
            convs.append(layer)
            c_in = c_out
        head = _dense_init(rng, flat, num_outputs, bias=bias, init=init, zero_bias=zero_bias)
        return {"convs": convs, "dense": head}

    def apply(params, x):
        h = _as_input(params, x)
        for layer in params["convs"]:
            h = _conv(h, layer["w"])
            if "b" in layer:
                h = h + layer["b"]
            h = _pool(act(h), pooling)
        return _dense(params["dense"], h.reshape(h.shape[0], -1))

    desc = f"CNN conv{'-'.join(str(w) for w in widths)} ({pooling} pool), dense {num_outputs}"
    return _Rng.make_init(build, dtype), apply, desc


def _vgg11_bn(input_shape, widths, num_outputs, act, init, dtype):
    # Needed by gfs_sharpness Figures 6 (CIFAR-10) and 13 (SVHN), paper scale.
    height, width, channels = input_shape
    if height % 32 or width % 32:
        raise ValueError(f"input_shape={input_shape}: vgg11_bn needs H and W divisible by 32 "
                         "(five 2x2 max pools), e.g. (32, 32, 3)")
    flat = widths[-1] * (height // 32) * (width // 32)
    hidden = widths[-1]  # the classifier width equals the last conv width (512 by default)
    dense_init = "pytorch" if init == "reference" else init

    def build(rng):
        convs, c_in = [], channels
        for c_out in widths:
            kernel = _conv_kernel(rng, c_in, c_out, init)
            # Conv layers keep their bias even before BN, as torchvision/Cohen et al.
            bias = (rng.zeros((c_out,)) if init == "reference"
                    else _bias(rng, c_out, 9 * c_in, init, False))
            convs.append({"w": kernel, "b": bias, "bn": _bn_init(rng, c_out)})
            c_in = c_out
        dense = [_dense_init(rng, n_in, n_out, bias=True, init=dense_init, zero_bias=False)
                 for n_in, n_out in ((flat, hidden), (hidden, hidden), (hidden, num_outputs))]
        return {"convs": convs, "dense": dense}

    def apply(params, x):
        h = _as_input(params, x)
        for i, layer in enumerate(params["convs"]):
            h = act(_batch_norm(_conv(h, layer["w"]) + layer["b"], layer["bn"]))
            if i in _VGG11_POOL_AFTER:
                h = _pool(h, "max")
        h = h.reshape(h.shape[0], -1)
        for layer in params["dense"][:-1]:
            h = act(_dense(layer, h))
        return _dense(params["dense"][-1], h)

    desc = f"VGG-11-BN conv{'-'.join(str(w) for w in widths)}, dense {hidden}-{hidden}-{num_outputs}"
    return _Rng.make_init(build, dtype), apply, desc


def _resnet20(input_shape, widths, num_outputs, act, init, dtype, fixup):
    # Needed by gfs_sharpness Figures 6 (CIFAR-10) and 13 (SVHN), paper scale.
    _, _, channels = input_shape
    blocks_per_stage = 3
    num_blocks = blocks_per_stage * len(widths)
    dense_init = "pytorch" if init == "reference" else init

    def build(rng):
        # The stem conv keeps PyTorch's default init in Fixup (it is not re-initialised there).
        stem_init = "pytorch" if (fixup and init == "reference") else init
        params: dict[str, Any] = {"stem": {"w": _conv_kernel(rng, channels, widths[0], stem_init)}}
        if fixup:
            params["stem"]["bias"] = rng.zeros((1,))
        else:
            params["stem"]["bn"] = _bn_init(rng, widths[0])
        stages, c_in = [], widths[0]
        for stage, c_out in enumerate(widths):
            blocks = []
            for b in range(blocks_per_stage):
                stride = 2 if (stage > 0 and b == 0) else 1
                if fixup and init == "reference":
                    # Fixup: He-normal first conv scaled by L^(-1/2) (L = number of residual
                    # branches, m = 2 layers each), zero second conv.
                    w1 = (rng.draw("normal", (3, 3, c_in, c_out))
                          * (math.sqrt(2.0 / (9 * c_out)) * num_blocks ** -0.5))
                    w2 = rng.zeros((3, 3, c_out, c_out))
                else:
                    w1 = _conv_kernel(rng, c_in, c_out, init)
                    w2 = _conv_kernel(rng, c_out, c_out, init)
                block: dict[str, Any] = {"conv1": w1, "conv2": w2}
                if fixup:
                    for name in ("bias1a", "bias1b", "bias2a", "bias2b"):
                        block[name] = rng.zeros((1,))
                    block["scale"] = rng.zeros((1,), 1.0)
                else:
                    block["bn1"] = _bn_init(rng, c_out)
                    # Reference init zeroes the last BN scale of each branch (Goyal et al.),
                    # so every block starts as the identity.
                    block["bn2"] = _bn_init(rng, c_out, 0.0 if init == "reference" else 1.0)
                    if stride != 1:
                        block["bn_down"] = _bn_init(rng, c_in)
                blocks.append(block)
                c_in = c_out
            stages.append(blocks)
        params["stages"] = stages
        if fixup and init == "reference":
            params["fc"] = {"w": rng.zeros((widths[-1], num_outputs)),
                            "b": rng.zeros((num_outputs,))}
            params["fc_bias"] = rng.zeros((1,))
        else:
            params["fc"] = _dense_init(rng, widths[-1], num_outputs, bias=True,
                                       init=dense_init, zero_bias=False)
            if fixup:
                params["fc_bias"] = rng.zeros((1,))
        return params

    def shortcut(x, c_out, stride, block):
        if stride == 1 and x.shape[-1] == c_out:
            return x
        # Option A of He et al. as in the Fixup repo: subsample (AvgPool2d(1, stride)),
        # then zero-pad the new channels; the BN variant normalises the subsampled input.
        s = x[:, ::stride, ::stride, :]
        if "bn_down" in block:
            s = _batch_norm(s, block["bn_down"])
        pad = c_out - s.shape[-1]
        return jnp.concatenate([s, jnp.zeros(s.shape[:-1] + (pad,), s.dtype)], axis=-1)

    def apply(params, x):
        h = _as_input(params, x)
        h = _conv(h, params["stem"]["w"])
        h = act(h + params["stem"]["bias"]) if fixup else act(_batch_norm(h, params["stem"]["bn"]))
        for stage, blocks in enumerate(params["stages"]):
            for b, block in enumerate(blocks):
                stride = 2 if (stage > 0 and b == 0) else 1
                c_out = block["conv1"].shape[-1]
                if fixup:
                    inp = h + block["bias1a"]
                    out = act(_conv(inp, block["conv1"], stride) + block["bias1b"])
                    out = _conv(out + block["bias2a"], block["conv2"])
                    out = out * block["scale"] + block["bias2b"]
                    # As the Fixup code: bias1a enters the shortcut only when it downsamples.
                    identity = shortcut(inp, c_out, stride, block) if stride != 1 else h
                else:
                    out = act(_batch_norm(_conv(h, block["conv1"], stride), block["bn1"]))
                    out = _batch_norm(_conv(out, block["conv2"]), block["bn2"])
                    identity = shortcut(h, c_out, stride, block)
                h = act(out + identity)
        h = jnp.mean(h, axis=(1, 2))  # global average pool
        if fixup:
            h = h + params["fc_bias"]
        return _dense(params["fc"], h)

    kind = "Fixup-ResNet-20" if fixup else "ResNet-20 (BN)"
    desc = f"{kind} widths {'/'.join(str(w) for w in widths)}, {num_outputs} outputs"
    return _Rng.make_init(build, dtype), apply, desc


# ----------------------------------------------------------------------------- public API

def count_params(params: Params) -> int:
    """Number of scalar parameters in a pytree."""
    return int(sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(params)))


def _check_widths(widths: object, name: str) -> tuple[int, ...]:
    try:
        out = tuple(int(w) for w in widths)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"widths={widths!r} must be a sequence of positive integers") from None
    if any(w < 1 for w in out) or any(not isinstance(w, numbers.Integral) for w in widths):  # type: ignore[union-attr]
        raise ValueError(f"widths={widths!r} must be positive integers")
    if name in ("cnn", "resnet20", "fixup_resnet20") and not out:
        raise ValueError(f"widths=() is not allowed for {name}: give at least one width")
    return out


def make_network(
    name: str,
    *,
    widths: Sequence[int] | None = None,
    activation: str | None = None,
    num_outputs: int = 10,
    input_shape: Sequence[int] | None = None,
    key: Array | int | None = None,
    bias: bool = True,
    init: str | None = None,
    zero_bias: bool = False,
    pooling: str = "avg",
    dtype: Any = None,
) -> Network:
    """Build a network by name.

    Defaults are the papers' settings; book-scale notebooks override ``widths`` and
    ``input_shape``.

    ============== ===================================== ============ ==================
    name           ``widths`` (default)                  activation   init (default)
    ============== ===================================== ============ ==================
    mlp            hidden layer widths ``(200, 200)``    tanh         pytorch
    cnn            conv channels ``(32, 32)``            swish        pytorch
    vgg11_bn       8 conv widths ``(64, 128, 256, 256,   relu         reference
                   512, 512, 512, 512)``
    resnet20       stage widths ``(16, 32, 64)``         relu         reference
    fixup_resnet20 stage widths ``(16, 32, 64)``         relu         reference
    ============== ===================================== ============ ==================

    Args:
      name: one of :data:`NETWORKS`.
      widths: layer/stage widths as in the table (reduce them for fast tests). ResNet stage
        widths must not decrease (the shortcut zero-pads channels).
      activation: one of :data:`ACTIVATIONS`; ``None`` gives the table's default.
      num_outputs: logits per example (10 classes; 1 for ``+-1``/``{0,1}`` targets).
      input_shape: shape of one input; default ``(3072,)`` for ``mlp`` (any shape, flattened)
        and ``(32, 32, 3)`` (NHWC, CIFAR) for the convolutional nets.
      key: a ``jax.random`` key or an integer seed for ``init_params``; ``None`` means 0.
      bias: dense/conv biases in ``mlp`` and ``cnn``.
      init: ``"pytorch"`` (weights and biases ``U(+-1/sqrt(fan_in))``, PyTorch's default),
        ``"lecun_normal"`` (truncated normal, variance ``1/fan_in``, zero biases) or
        ``"reference"`` (the reference code's init: for VGG conv ``N(0, 2/(9 c_out))`` with
        zero bias; for ResNet-20 the same He fan-out normal and zero-initialised last BN scale
        of each block; for Fixup-ResNet-20 the Fixup rule; dense layers PyTorch default;
        for ``mlp``/``cnn`` it equals ``"pytorch"``).
      zero_bias: with ``"pytorch"`` init, start biases at 0 (Damian et al.) instead of uniform.
      pooling: ``"avg"`` (Damian et al., Cohen's ``cnn-avgpool-*``) or ``"max"`` (Cohen's
        ``cnn-*``); ``cnn`` only.
      dtype: parameter dtype; ``None`` means JAX's default float (float64 under x64).

    Returns:
      A :class:`Network`.

    Raises:
      ValueError: unknown name, activation, init or pooling, bad widths or input shape.

    References:
      Cohen et al. (2021), src/archs.py (``fc-*``, ``cnn-*``, ``vgg11-bn`` = VGGNoDropout + BN).
      Zhang, Dauphin, Ma (2019), cifar/models/resnet_cifar.py and fixup_resnet_cifar.py.
    """
    _choice("name", name, NETWORKS)
    defaults = {"mlp": ((200, 200), "tanh", "pytorch"), "cnn": ((32, 32), "swish", "pytorch"),
                "vgg11_bn": (_VGG11_WIDTHS, "relu", "reference"),
                "resnet20": ((16, 32, 64), "relu", "reference"),
                "fixup_resnet20": ((16, 32, 64), "relu", "reference")}[name]
    widths_t = defaults[0] if widths is None else _check_widths(widths, name)
    activation = defaults[1] if activation is None else activation
    init = defaults[2] if init is None else init
    _choice("activation", activation, ACTIVATIONS)
    _choice("init", init, INITS)
    _choice("pooling", pooling, ("avg", "max"))
    _check_int("num_outputs", num_outputs, 1)
    if input_shape is None:
        input_shape = (3072,) if name == "mlp" else (32, 32, 3)
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise ValueError(f"input_shape={input_shape!r} must be a tuple of positive integers") from None
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"input_shape={input_shape!r} must be a tuple of positive integers")
    if name != "mlp" and len(shape) != 3:
        raise ValueError(f"input_shape={input_shape!r}: {name} takes NHWC images, give (H, W, C)")
    if name == "vgg11_bn" and len(widths_t) != len(_VGG11_WIDTHS):
        raise ValueError(f"widths={widths!r}: vgg11_bn needs {len(_VGG11_WIDTHS)} conv widths")
    if name in ("resnet20", "fixup_resnet20") and any(b < a for a, b in zip(widths_t, widths_t[1:])):
        raise ValueError(f"widths={widths!r}: ResNet stage widths must not decrease")
    dtype = jnp.asarray(0.0).dtype if dtype is None else jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"dtype={dtype} must be a floating dtype")
    act = ACTIVATIONS[activation]
    if name in ("mlp", "cnn") and init == "reference":
        init = "pytorch"  # Cohen et al.'s fc/cnn nets use PyTorch's default init

    if name == "mlp":
        init_fn, apply, desc = _mlp(shape, widths_t, num_outputs, act, bias, init, zero_bias, dtype)
        extras = f", {activation}{', bias' if bias else ', no bias'}"
    elif name == "cnn":
        init_fn, apply, desc = _cnn(shape, widths_t, num_outputs, act, bias, init, zero_bias,
                                    dtype, pooling)
        extras = f", {activation}"
    elif name == "vgg11_bn":
        init_fn, apply, desc = _vgg11_bn(shape, widths_t, num_outputs, act, init, dtype)
        extras = f", {activation}, batch-stat BN"
    else:
        init_fn, apply, desc = _resnet20(shape, widths_t, num_outputs, act, init, dtype,
                                         fixup=name == "fixup_resnet20")
        extras = f", {activation}" + ("" if name == "fixup_resnet20" else ", batch-stat BN")

    if key is None:
        key = jax.random.PRNGKey(0)
    elif isinstance(key, numbers.Integral) and not isinstance(key, bool):
        key = jax.random.PRNGKey(int(key))
    params = init_fn(key)
    num = count_params(params)
    description = f"{desc}{extras}, {init} init ({num:,} params)"
    return Network(name=name, init=init_fn, apply=apply, init_params=params, num_params=num,
                   input_shape=shape, num_outputs=int(num_outputs), description=description)


def flatten_params(params: Params) -> tuple[Array, Callable[[Array], Params]]:
    """Flatten a parameter pytree: ``(w, unravel)`` with ``unravel(w)`` rebuilding the tree."""
    return ravel_pytree(params)


# ----------------------------------------------------------------------------- losses

def _align(logits: Array, y: Array) -> tuple[Array, Array]:
    logits = jnp.asarray(logits)
    y = jnp.asarray(y)
    # A single-output network gives (N, 1); scalar targets come as (N,).
    if logits.ndim == y.ndim + 1 and logits.shape[-1] == 1:
        logits = logits[..., 0]
    # Integer class labels against K > 1 outputs: compare with the one-hot encoding.
    if jnp.issubdtype(y.dtype, jnp.integer) and logits.ndim == y.ndim + 1:
        y = jax.nn.one_hot(y, logits.shape[-1], dtype=logits.dtype)
    y = jnp.asarray(y, dtype=logits.dtype)  # explicit cast: clean under strict promotion
    if logits.shape != y.shape:
        raise ValueError(f"logits shape {logits.shape} does not match targets shape {y.shape}")
    return logits, y


def _per_example_sq(logits: Array, y: Array) -> Array:
    logits, y = _align(logits, y)
    sq = jnp.square(logits - y)
    return sq.reshape(sq.shape[0], -1).sum(axis=1) if sq.ndim > 1 else sq


def mse(logits: Array, y: Array) -> Array:
    """Squared loss with one half, averaged over examples: ``mean_i 1/2 ||f_i - y_i||^2``.

    Cohen et al.'s convention (also Kreisler et al. and Chen & Bruna's MNIST runs).

    Args:
      logits: network outputs ``(N, K)`` (or ``(N, 1)`` / ``(N,)``).
      y: targets of the same shape, ``(N,)`` for one output, or integer labels ``(N,)``
        (one-hot encoded here).

    Returns:
      Scalar loss.
    """
    return 0.5 * jnp.mean(_per_example_sq(logits, y))


def categorical_mse(logits: Array, y: Array) -> Array:
    """Squared loss without the half: ``mean_i ||f_i - y_i||^2`` (Damian et al.).

    Its Hessian, hence the sharpness, is twice that of :func:`mse`.

    Args:
      logits: network outputs.
      y: targets, as for :func:`mse`.

    Returns:
      Scalar loss.

    References:
      Damian, Nichani, Lee (2023), code ``loss.py`` (categorical and binary MSE).
    """
    return jnp.mean(_per_example_sq(logits, y))


def cross_entropy(logits: Array, y: Array) -> Array:
    """Softmax cross-entropy averaged over examples.

    Args:
      logits: ``(N, K)``.
      y: integer labels ``(N,)`` in ``[0, K)`` or one-hot / soft labels ``(N, K)``.

    Returns:
      Scalar loss.
    """
    logits = jnp.asarray(logits)
    y = jnp.asarray(y)
    logp = jax.nn.log_softmax(logits, axis=-1)
    if jnp.issubdtype(y.dtype, jnp.integer):
        if y.shape != logits.shape[:-1]:
            raise ValueError(f"integer labels shape {y.shape} must be {logits.shape[:-1]}")
        return -jnp.mean(jnp.take_along_axis(logp, y[..., None], axis=-1))
    if y.shape != logits.shape:
        raise ValueError(f"one-hot targets shape {y.shape} must match logits {logits.shape}")
    return -jnp.mean(jnp.sum(jnp.asarray(y, logp.dtype) * logp, axis=-1))


def logistic(logits: Array, y: Array) -> Array:
    """Logistic loss for ``+-1`` labels: ``mean_i log(1 + exp(-y_i f_i))``.

    Uses ``softplus``, stable for large ``|f|``.

    Args:
      logits: one output per example, ``(N, 1)`` or ``(N,)``.
      y: labels in ``{-1, +1}``, ``(N,)``.

    Returns:
      Scalar loss.
    """
    f, y = _align(logits, y)
    return jnp.mean(jax.nn.softplus(-y * f))


def bce_with_logits(logits: Array, y: Array) -> Array:
    """Binary cross-entropy on logits for labels in ``{0, 1}`` (or soft labels in ``[0, 1]``).

    ``mean_i softplus(f_i) - y_i f_i``, equal to ``-y log s(f) - (1-y) log(1-s(f))`` and
    stable for large ``|f|``.

    Args:
      logits: one output per example, ``(N, 1)`` or ``(N,)``.
      y: labels ``(N,)``.

    Returns:
      Scalar loss.
    """
    f, y = _align(logits, y)
    return jnp.mean(jax.nn.softplus(f) - y * f)


def accuracy(logits: Array, y: Array) -> Array:
    """Fraction of correct predictions.

    With ``K > 1`` outputs the prediction is ``argmax`` and ``y`` holds integer labels or
    one-hot rows; with one output the prediction is ``f > 0`` and the truth ``y > 0``
    (works for both ``+-1`` and ``{0, 1}`` labels).

    Args:
      logits: ``(N, K)``, ``(N, 1)`` or ``(N,)``.
      y: labels.

    Returns:
      Scalar in ``[0, 1]``.
    """
    logits = jnp.asarray(logits)
    y = jnp.asarray(y)
    if logits.ndim == 1 or logits.shape[-1] == 1:
        f = logits.reshape(logits.shape[0])
        return jnp.mean((f > 0) == (y.reshape(y.shape[0]) > 0))
    pred = jnp.argmax(logits, axis=-1)
    truth = y if jnp.issubdtype(y.dtype, jnp.integer) else jnp.argmax(y, axis=-1)
    return jnp.mean(pred == truth)


LOSSES: dict[str, LossFn] = {
    "mse": mse,
    "categorical_mse": categorical_mse,
    "cross_entropy": cross_entropy,
    "logistic": logistic,
    "bce_with_logits": bce_with_logits,
}


def get_loss(loss: str | LossFn) -> LossFn:
    """A loss function ``(logits, y) -> scalar`` from its name in :data:`LOSSES` (callables pass)."""
    if callable(loss):
        return loss
    _choice("loss", loss, LOSSES)
    return LOSSES[loss]


def flat_loss(network: Network, params_template: Params, x: Any, y: Any,
              loss: str | LossFn) -> tuple[Callable[[Array], Array], Array]:
    """The training loss as a function of a flat parameter vector.

    Args:
      network: from :func:`make_network`.
      params_template: a parameter pytree (e.g. ``network.init_params``); it fixes the
        layout and dtype of the flat vector and gives the starting point.
      x: the full batch of inputs (NumPy or JAX), cast to the parameter dtype once.
      y: the targets (float targets are cast to the parameter dtype; integer labels kept).
      loss: a name in :data:`LOSSES` or a callable ``(logits, y) -> scalar``.

    Returns:
      ``(f, w0)``: ``f: R^D -> R`` (JAX-traceable, closes over the data; pass it to
      ``eoslib.gd`` and ``eoslib.curvature``) and ``w0`` the flattened ``params_template``.
      The data become compile-time constants of any ``jit`` of ``f``; that costs a little
      compile time for a few thousand CIFAR images, nothing at book scale.
    """
    loss_fn = get_loss(loss)
    w0, unravel = ravel_pytree(params_template)
    x = jnp.asarray(x, dtype=w0.dtype)
    y = jnp.asarray(y)
    if jnp.issubdtype(y.dtype, jnp.floating):
        y = jnp.asarray(y, dtype=w0.dtype)

    def f(w: Array) -> Array:
        return loss_fn(network.apply(unravel(w), x), y)

    return f, w0
