"""The training problems of the figures: a network, a dataset and a loss, in float32 and float64.

A :class:`Problem` bundles the full-batch training loss of a flat parameter vector in both
precisions (algorithm A3 runs float32 until the first instability and float64 afterwards),
the initial parameters, and a JSON ``settings`` dict that names everything defining the loss
(it keys the caches of :mod:`eoslib.papers.self_stabilization.tracking` and
:func:`eoslib.train.train_gd`).

Book scale (default): scikit-learn digits, the first ``n`` images standardised per feature,
an MLP 64-64 with swish and zero initial biases (the reference code's init), categorical MSE
``||f - e_y||^2`` without the factor 1/2. Paper scale: CIFAR-10 (first 5000 training images,
per-channel standardisation over the subset) with the width-200 MLP or the small CNN; the
files must be present locally (see :mod:`eoslib.data`).

The parameters are initialised in float32 (the precision of the first phase) and the float64
loss starts from the same values cast up, so both phases see one initialisation.

References:
  Damian, Nichani, Lee (2023), Appendix D (architectures, data, losses, protocol).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import jax
from jax.flatten_util import ravel_pytree
import jax.numpy as jnp
import numpy as np
from jax import Array

from eoslib import data, nets
from eoslib.validation import integer as _int

__all__ = ["Problem", "make_problem", "digits_mlp", "SCALES"]

SCALES = ("book", "paper")


@dataclass(frozen=True, eq=False)
class Problem:
    """A full-batch training problem in two precisions.

    Attributes:
      f: float64 training loss of the flat parameters.
      f32: float32 training loss (same layout).
      w0: initial parameters, float64 (a float32 draw cast up).
      settings: JSON dict naming the dataset, network, loss and seed.
      data_note: one line for figures (``"data: scikit-learn digits, ..."``).
      net_note: one line describing the network.
      accuracy: ``w -> training accuracy`` (float64), or None.
      test_loss: ``w -> test loss``, or None.
      test_accuracy: ``w -> test accuracy``, or None.
    """

    f: Callable[[Array], Array] = field(repr=False)
    f32: Callable[[Array], Array] = field(repr=False)
    w0: Array = field(repr=False)
    settings: dict
    data_note: str
    net_note: str
    accuracy: Callable[[Array], Array] | None = field(default=None, repr=False)
    test_loss: Callable[[Array], Array] | None = field(default=None, repr=False)
    test_accuracy: Callable[[Array], Array] | None = field(default=None, repr=False)

    @property
    def dim(self) -> int:
        """Number of parameters."""
        return int(self.w0.shape[0])


def make_problem(*, dataset: str = "digits", n: int = 500, network: str = "mlp",
                 widths: tuple[int, ...] = (64, 64), activation: str = "swish",
                 loss: str = "categorical_mse", classes: tuple[int, ...] | None = None,
                 target: str = "onehot", seed: int = 0, split: str | None = None,
                 test: bool = False, soft_labels: float = 0.0,
                 standardize: str | bool = True, stats: str = "full") -> Problem:
    """Build a :class:`Problem`.

    Args:
      dataset: ``"digits"`` (bundled) or ``"cifar10"`` (local files).
      n: number of training examples (the first ``n``), in [1, inf).
      network: ``"mlp"`` or ``"cnn"`` (see :func:`eoslib.nets.make_network`).
      widths: hidden widths (MLP) or conv channels (CNN).
      activation: a name in :data:`eoslib.nets.ACTIVATIONS`.
      loss: a name in :data:`eoslib.nets.LOSSES`.
      classes: class subset, e.g. ``(0, 1)``; None keeps all.
      target: target encoding (``"onehot"``, ``"pm1"``, ...).
      seed: initialisation seed, in [0, inf).
      split: dataset split (digits: ``"all"``, ``"train"`` = first 1000, ``"test"``).
      test: also build the test loss/accuracy (digits: train on ``"train"``, test on ``"test"``).
      soft_labels: label smoothing ``s`` in [0, 1): ``{0, 1}`` targets become
        ``{s/2, 1 - s/2}`` (for ``"bce_with_logits"``: the logistic loss with soft labels),
        ``+-1`` targets ``+-(1 - s)``, one-hot rows ``(1 - s) e_y + s / K``.
      standardize, stats: passed to :func:`eoslib.data.load_dataset`.

    Returns:
      :class:`Problem`.
    """
    n = _int("n", n, 1)
    seed = _int("seed", seed, 0)
    if not 0.0 <= soft_labels < 1.0:
        raise ValueError(f"soft_labels must be in [0, 1), got {soft_labels!r}")
    flatten = network == "mlp"
    if test and split is None:
        split = "train"
    kw = dict(classes=classes, target=target, standardize=standardize, stats=stats,
              flatten=flatten)
    ds = data.load_dataset(dataset, n=n, split=split, **kw)
    y = _soften(ds.y, target, soft_labels)
    num_out = ds.num_outputs
    common = dict(widths=tuple(widths), activation=activation, num_outputs=num_out,
                  input_shape=ds.input_shape, key=seed, zero_bias=True)
    net32 = nets.make_network(network, dtype=jnp.float32, **common)
    net64 = nets.make_network(network, dtype=jnp.float64, **common)
    f32, w32 = nets.flat_loss(net32, net32.init_params, ds.x, y, loss)
    w0 = jnp.asarray(w32, jnp.float64)
    f, _ = nets.flat_loss(net64, net64.init_params, ds.x, y, loss)
    _, unravel = ravel_pytree(net64.init_params)
    x64 = jnp.asarray(ds.x, jnp.float64)
    yl = jnp.asarray(ds.y)

    def acc(w):
        return nets.accuracy(net64.apply(unravel(w), x64), yl)

    test_loss = test_acc = None
    note = ds.description
    if test:
        dt = data.load_dataset(dataset, split="test", **kw)
        xt = jnp.asarray(dt.x, jnp.float64)
        yt = jnp.asarray(_soften(dt.y, target, soft_labels))
        ytl = jnp.asarray(dt.y)
        loss_fn = nets.get_loss(loss)

        def test_loss(w):
            return loss_fn(net64.apply(unravel(w), xt), yt)

        def test_acc(w):
            return nets.accuracy(net64.apply(unravel(w), xt), ytl)

        note = f"{ds.description}; test: {dt.n} images"
    settings: dict[str, Any] = {
        "dataset": dataset, "n": n, "network": network, "widths": list(widths),
        "activation": activation, "loss": loss, "classes": None if classes is None else list(classes),
        "target": target, "seed": seed, "split": split, "soft_labels": soft_labels,
        "standardize": standardize, "stats": stats, "init": "float32 draw, zero biases",
    }
    if soft_labels:
        note += f", labels smoothed by {soft_labels:g}"
    return Problem(f=f, f32=f32, w0=w0, settings=settings, data_note=note,
                   net_note=net64.description, accuracy=acc, test_loss=test_loss,
                   test_accuracy=test_acc)


def _soften(y: np.ndarray, target: str, s: float) -> np.ndarray:
    if not s:
        return y
    if target == "01":
        return s / 2.0 + (1.0 - s) * y
    if target == "onehot":
        return (1.0 - s) * y + s / y.shape[1]
    return (1.0 - s) * y


def digits_mlp(n: int = 500, *, scale: str = "book", **kw) -> Problem:
    """The Figure 1/4 problem: digits MLP 64-64 swish, categorical MSE (book) or CIFAR-10 5k,
    MLP 200-200 swish (paper; needs the CIFAR-10 files).

    Args:
      n: training examples at book scale, in [1, 1797].
      scale: ``"book"`` or ``"paper"``.
      **kw: overrides passed to :func:`make_problem`.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {'|'.join(SCALES)}, got {scale!r}")
    if scale == "paper":
        base = dict(dataset="cifar10", n=5000, widths=(200, 200), standardize="channel",
                    stats="subset")
    else:
        base = dict(dataset="digits", n=n)
    base.update(kw)
    return make_problem(**base)
