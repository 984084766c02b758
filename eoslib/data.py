"""Datasets for the real-data figures: scikit-learn digits, and CIFAR-10 / MNIST / SVHN from local files.

One entry point, :func:`load_dataset`, returns a :class:`Dataset` of NumPy arrays ready
for full-batch gradient descent: class selection, a deterministic subset (the first ``n``
examples, as Cohen et al. and Damian et al. do), standardisation and targets in the
encoding the loss needs.

* ``"digits"`` is scikit-learn's bundled 8x8 digits set (1797 images, 16 grey levels). It
  ships with scikit-learn, so every notebook can run offline; it is the book-scale default.
* ``"cifar10"``, ``"mnist"`` and ``"svhn"`` are read from the official file formats in a
  local directory: the ``root`` argument, else the environment variable ``EOSLIB_DATA``,
  else ``~/.eoslib/data``. Nothing is ever downloaded; a missing file raises
  ``FileNotFoundError`` saying which paths were tried and what to put there. CIFAR-10 is
  the paper-scale data of gfs_sharpness Figure 6 and of the self_stabilization and
  product_stability network figures; SVHN is needed by gfs_sharpness Figure 13 (Figure 6
  on an SVHN subset) only.

Expected layout under the data root (archive names as distributed)::

    <root>/cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch
                                         (extract cifar-10-python.tar.gz)
    <root>/train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
    <root>/t10k-images-idx3-ubyte[.gz],  t10k-labels-idx1-ubyte[.gz]
                                         (or the same under <root>/mnist/ or <root>/MNIST/raw/;
                                          a Keras-style mnist.npz is accepted too)
    <root>/train_32x32.mat, test_32x32.mat[, extra_32x32.mat]
                                         (or under <root>/svhn/; the "cropped digits" format)

Preprocessing conventions (documented because sharpness values depend on them):

* ``standardize="feature"`` centres every pixel/channel position and divides by its
  standard deviation (Cohen et al.'s ``center`` + ``standardize``); ``"channel"`` uses one
  mean/std per colour channel (Damian et al.; the per-channel convention quoted by
  Kreisler et al.). ``True`` picks the dataset default: per feature for the grey-scale
  sets (digits, MNIST), per channel for the colour sets (CIFAR-10, SVHN). ``"scale"``
  divides by the maximum grey level (16 or 255) and ``False``/``"none"`` keeps raw values.
* ``stats="full"`` (default) takes the statistics over the whole training pool before
  any class or subset selection (Cohen et al. standardise the full 50k CIFAR-10 train set
  and then take the first ``n``; for digits this is all 1797 images). ``stats="subset"``
  uses the returned examples only (Damian et al.). Test splits always use training-pool
  statistics with ``"full"``.
* Zero-variance features (digits has three always-blank pixels) are centred but not
  scaled, instead of producing NaN.

References:
  J. Cohen, S. Kaur, Y. Li, J. Z. Kolter, A. Talwalkar, "Gradient Descent on Neural
  Networks Typically Occurs at the Edge of Stability", ICLR 2021 (src/cifar.py, src/data.py).
  A. Damian, E. Nichani, J. D. Lee, "Self-Stabilization: The Implicit Bias of Gradient
  Descent at the Edge of Stability", ICLR 2023.
  A. Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009 (CIFAR-10
  python format). Y. LeCun et al., MNIST IDX format. Y. Netzer et al., "Reading Digits in
  Natural Images with Unsupervised Feature Learning", 2011 (SVHN format 2).
"""

from __future__ import annotations

import gzip
import math
import numbers
import os
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import numpy.typing as npt

from .validation import choice as _choice, integer as _check_int

__all__ = [
    "Dataset",
    "DATASETS",
    "TARGETS",
    "CIFAR10_CLASSES",
    "ENV_VAR",
    "DEFAULT_ROOT",
    "load_dataset",
    "load_digits",
    "data_root",
    "read_idx",
]

DATASETS = ("digits", "cifar10", "mnist", "svhn")
TARGETS = ("onehot", "pm1", "01", "index")
STANDARDIZE = ("feature", "channel", "scale", "none")
STATS = ("full", "subset")
ENV_VAR = "EOSLIB_DATA"
DEFAULT_ROOT = Path("~/.eoslib/data")

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

# Per dataset: display name, allowed splits, default split, grey levels (for "scale"),
# default standardisation, class names.
_INFO = {
    "digits": ("scikit-learn digits", ("all", "train", "test"), "all", 16.0, "feature",
               tuple(str(i) for i in range(10))),
    "cifar10": ("CIFAR-10", ("train", "test"), "train", 255.0, "channel", CIFAR10_CLASSES),
    "mnist": ("MNIST", ("train", "test"), "train", 255.0, "feature",
              tuple(str(i) for i in range(10))),
    "svhn": ("SVHN", ("train", "test", "extra"), "train", 255.0, "channel",
             tuple(str(i) for i in range(10))),
}

# scikit-learn ships no split; these sizes follow the self-stabilization sheet's proposal.
_DIGITS_TRAIN = 1000

# Rows per chunk when accumulating statistics over a large uint8 pool in float64,
# so that e.g. the 73k SVHN images never exist as one float64 array.
_CHUNK = 4096


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled dataset held in memory as NumPy arrays.

    Attributes:
      x: inputs, float, shape ``(n, d)`` when flattened (pixel order H, W, C) or
        ``(n, H, W, C)`` (NHWC) otherwise.
      y: targets in the requested encoding: ``(n, K)`` one-hot float, ``(n,)`` float
        ``+-1`` or ``{0, 1}``, or ``(n,)`` int64 class positions (``"index"``).
      name: dataset name, one of :data:`DATASETS`.
      classes: the original class labels kept, in target order (position ``k`` in a
        one-hot/index target is class ``classes[k]``; for ``"pm1"``/``"01"`` the first
        class is ``-1``/``0`` and the second ``+1``/``1``).
      description: one-line note for figures, e.g.
        ``"data: scikit-learn digits, classes 0/1, n=500, standardized per feature"``.
      labels: original integer labels of the examples, shape ``(n,)``.
      target: the target encoding, one of :data:`TARGETS`.
    """

    # Arrays stay out of the repr: notebooks print datasets, and outputs are committed.
    x: npt.NDArray[np.floating] = field(repr=False)
    y: npt.NDArray = field(repr=False)
    name: str
    classes: tuple[int, ...]
    description: str
    labels: npt.NDArray[np.int64] = field(repr=False)
    target: str

    @property
    def n(self) -> int:
        """Number of examples."""
        return int(self.x.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, ``(d,)`` or ``(H, W, C)``."""
        return tuple(int(s) for s in self.x.shape[1:])

    @property
    def num_outputs(self) -> int:
        """Network outputs this target needs: ``K`` for one-hot/index, 1 for ``+-1``/``{0,1}``."""
        return len(self.classes) if self.target in ("onehot", "index") else 1


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The directory searched for dataset files.

    Args:
      root: explicit directory; wins over the environment.

    Returns:
      ``root`` if given, else ``$EOSLIB_DATA`` if set, else ``~/.eoslib/data``.
    """
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return DEFAULT_ROOT.expanduser()


def _missing(what: str, looked: Sequence[Path], howto: str, root: Path) -> FileNotFoundError:
    paths = "\n  ".join(str(p) for p in looked)
    return FileNotFoundError(
        f"{what} not found. Looked for:\n  {paths}\n{howto}\n"
        f"The data root is the `root` argument, else ${ENV_VAR}, else {DEFAULT_ROOT} "
        f"(used here: {root}). eoslib never downloads data; "
        f"use load_dataset('digits', ...) for the bundled offline dataset."
    )


# ----------------------------------------------------------------------------- file readers

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (the MNIST format), plain or gzip-compressed.

    The header is two zero bytes, a type code (0x08 ubyte, 0x09 byte, 0x0B short,
    0x0C int, 0x0D float, 0x0E double), the number of dimensions, then each dimension as
    a big-endian uint32; the data follow in C order, big-endian.

    Args:
      path: the file; a ``.gz`` suffix means gzip.

    Returns:
      The array, native byte order, shape given by the header.

    Raises:
      ValueError: bad magic number, unknown type code, or a size that does not match
        the header.

    References:
      Y. LeCun, C. Cortes, C. J. C. Burges, "The MNIST database" (file format section).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (magic must start with two zero bytes)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X}; "
                         f"allowed {sorted(hex(c) for c in _IDX_DTYPES)}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _IDX_DTYPES[code]
    count = math.prod(dims)
    if len(raw) - header != count * dtype.itemsize:
        raise ValueError(f"{path}: IDX header says {dims} x {dtype.itemsize} bytes, "
                         f"file holds {len(raw) - header} data bytes")
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def _digits_raw(split: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    images = np.asarray(bunch.images, dtype=np.float64)[..., None]  # (1797, 8, 8, 1), 0..16
    labels = np.asarray(bunch.target, dtype=np.int64)
    if split == "train":
        return images[:_DIGITS_TRAIN], labels[:_DIGITS_TRAIN]
    if split == "test":
        return images[_DIGITS_TRAIN:], labels[_DIGITS_TRAIN:]
    return images, labels


def _cifar10_raw(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    names = ["test_batch"] if split == "test" else [f"data_batch_{i}" for i in range(1, 6)]
    candidates = [root / "cifar-10-batches-py", root]
    for folder in candidates:
        if all((folder / name).is_file() for name in names):
            break
    else:
        looked = [c / name for c in candidates for name in names if not (c / name).is_file()]
        raise _missing(
            f"CIFAR-10 {split} split", looked,
            "Put the official CIFAR-10 python version there: extract cifar-10-python.tar.gz "
            "(https://www.cs.toronto.edu/~kriz/cifar.html) into the data root so that "
            "<root>/cifar-10-batches-py/ holds data_batch_1 ... data_batch_5 and test_batch.",
            root)
    images, labels = [], []
    for name in names:
        # The official batches are Python pickles of a dict with bytes keys; this reads a
        # local file the user placed there (pickle must never be used on untrusted data).
        with open(folder / name, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        # Rows are 1024 red, then 1024 green, then 1024 blue values, each row-major 32x32.
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def _mnist_raw(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    prefix = "t10k" if split == "test" else "train"
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    candidates = [root, root / "mnist", root / "MNIST" / "raw"]
    looked: list[Path] = []
    for folder in candidates:
        found = []
        for stem in stems:
            options = [folder / stem, folder / (stem + ".gz")]
            hit = next((p for p in options if p.is_file()), None)
            if hit is None:
                looked.extend(options)
            found.append(hit)
        if all(p is not None for p in found):
            images = read_idx(found[0])
            labels = read_idx(found[1]).astype(np.int64)
            if images.ndim != 3 or labels.shape != (images.shape[0],):
                raise ValueError(f"{found[0]}, {found[1]}: expected images (N, H, W) and "
                                 f"labels (N,), got {images.shape} and {labels.shape}")
            return images.astype(np.uint8)[..., None], labels
    for folder in candidates:
        npz = folder / "mnist.npz"
        if npz.is_file():
            with np.load(npz) as archive:
                key = "test" if split == "test" else "train"
                return (np.asarray(archive[f"x_{key}"], dtype=np.uint8)[..., None],
                        np.asarray(archive[f"y_{key}"], dtype=np.int64))
        looked.append(npz)
    raise _missing(
        f"MNIST {split} split", looked,
        f"Put the official MNIST IDX files ({stems[0]}.gz and {stems[1]}.gz, gzipped or "
        "not, from the MNIST distribution) directly in the data root (or in <root>/mnist/).",
        root)


def _svhn_raw(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    # Needed by gfs_sharpness Figure 13 (Figure 6 on an SVHN subset), paper scale.
    import scipy.io

    name = f"{split}_32x32.mat"
    candidates = [root / name, root / "svhn" / name, root / "SVHN" / name]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise _missing(
            f"SVHN {split} split", candidates,
            f"Put the official SVHN cropped-digits file {name} (format 2, "
            "http://ufldl.stanford.edu/housenumbers/) in the data root or in <root>/svhn/.",
            root)
    mat = scipy.io.loadmat(path, variable_names=["X", "y"])
    images = np.asarray(mat["X"], dtype=np.uint8).transpose(3, 0, 1, 2)  # (32,32,3,N) -> NHWC
    labels = np.asarray(mat["y"]).reshape(-1).astype(np.int64)
    labels[labels == 10] = 0  # SVHN stores digit 0 as label 10
    return images, labels


def _raw(name: str, split: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    if name == "digits":
        return _digits_raw(split)
    if name == "cifar10":
        return _cifar10_raw(root, split)
    if name == "mnist":
        return _mnist_raw(root, split)
    return _svhn_raw(root, split)


# ----------------------------------------------------------------------------- preprocessing

def _moments(images: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) std per feature (H, W, C) or per channel (C,), chunked in float64."""
    axes = (0,) if mode == "feature" else (0, 1, 2)
    total = np.zeros(images.shape[1:] if mode == "feature" else images.shape[-1:], np.float64)
    count = 0
    for start in range(0, images.shape[0], _CHUNK):
        chunk = images[start:start + _CHUNK].astype(np.float64)
        total += chunk.sum(axis=axes)
        count += chunk.size // total.size
    mean = total / count
    # Second pass around the mean: no cancellation even for large grey levels.
    sq = np.zeros_like(total)
    for start in range(0, images.shape[0], _CHUNK):
        chunk = images[start:start + _CHUNK].astype(np.float64) - mean
        sq += np.square(chunk).sum(axis=axes)
    return mean, np.sqrt(sq / count)


def _select(labels: np.ndarray, classes: tuple[int, ...], n: int | None,
            n_per_class: int | None, seed: int | None) -> np.ndarray:
    pool = np.flatnonzero(np.isin(labels, classes))
    if seed is not None:
        pool = np.random.default_rng(seed).permutation(pool)
    if n_per_class is not None:
        taken = []
        for c in classes:
            where = np.flatnonzero(labels[pool] == c)  # positions in the pool, pool order
            if where.size < n_per_class:
                raise ValueError(f"n_per_class={n_per_class} but class {c} has only "
                                 f"{where.size} examples in this split; allowed range [1, {where.size}]")
            taken.append(where[:n_per_class])
        # Sorting positions keeps the pool order, so classes stay interleaved as in the file.
        return pool[np.sort(np.concatenate(taken))]
    if n is not None:
        if n > pool.size:
            raise ValueError(f"n={n} but only {pool.size} examples of classes {list(classes)} "
                             f"exist in this split; allowed range [1, {pool.size}]")
        return pool[:n]
    return pool


def _encode_targets(labels: np.ndarray, classes: tuple[int, ...], target: str,
                    dtype: np.dtype) -> np.ndarray:
    lookup = np.full(10, -1, dtype=np.int64)
    lookup[list(classes)] = np.arange(len(classes))
    position = lookup[labels]  # original label -> position in `classes`
    if target == "index":
        return position.astype(np.int64)
    if target == "onehot":
        return np.eye(len(classes), dtype=dtype)[position]
    if target == "pm1":
        return np.where(position == 1, 1.0, -1.0).astype(dtype)
    return position.astype(dtype)  # "01"


def _check_count(param: str, value: object) -> None:
    if value is not None:
        _check_int(param, value, 1)


def load_dataset(
    name: str,
    *,
    n: int | None = None,
    classes: Sequence[int] | None = None,
    target: str = "onehot",
    root: str | os.PathLike | None = None,
    split: str | None = None,
    standardize: bool | str = True,
    flatten: bool = True,
    seed: int | None = None,
    stats: str = "full",
    n_per_class: int | None = None,
    min_std: float | None = None,
    dtype: npt.DTypeLike = np.float64,
) -> Dataset:
    """Load a dataset subset, preprocessed for full-batch training.

    Order of operations: read the split; keep the examples of ``classes`` (file order);
    optionally shuffle them with ``seed``; take the first ``n`` (or the first
    ``n_per_class`` of each class); drop low-variance pixels (``min_std``); standardise;
    flatten; encode targets.

    Args:
      name: ``"digits"`` (bundled with scikit-learn), ``"cifar10"``, ``"mnist"`` or ``"svhn"``.
      n: number of examples to keep (the first ``n`` after class filtering); ``None`` keeps all.
      classes: original class labels to keep, e.g. ``(0, 1)`` or ``(3, 5)`` (CIFAR cat/dog);
        their order sets the target order. ``None`` keeps all ten classes.
      target: ``"onehot"`` (MSE, cross-entropy), ``"index"`` (int labels for cross-entropy),
        ``"pm1"`` (logistic loss, +-1) or ``"01"`` (BCE); the last two need exactly two classes
        (first class -> -1/0, second -> +1/1).
      root: data directory for the file datasets (see :func:`data_root`); unused for digits.
      split: ``"train"`` or ``"test"`` (SVHN also ``"extra"``); digits has no official split:
        ``"all"`` (default, 1797 images), ``"train"`` (first 1000) or ``"test"`` (last 797).
        ``None`` means ``"all"`` for digits and ``"train"`` otherwise.
      standardize: ``True`` (dataset default: per feature for digits/MNIST, per channel for
        CIFAR-10/SVHN), ``"feature"``, ``"channel"``, ``"scale"`` (divide by the maximum grey
        level, 16 or 255), or ``False``/``"none"`` (raw grey levels as floats).
      flatten: return ``(n, H*W*C)`` vectors (pixel order H, W, C) for MLPs; ``False`` keeps
        NHWC images ``(n, H, W, C)`` for CNNs.
      seed: ``None`` takes the first examples in file order (deterministic, as the papers);
        an integer shuffles the class-filtered pool with ``numpy.random.default_rng(seed)`` first.
      stats: ``"full"`` standardises with statistics of the whole training pool (all classes,
        before subsetting; Cohen et al.), ``"subset"`` with those of the returned examples
        (Damian et al.).
      n_per_class: take the first ``n_per_class`` examples of every class instead of the first
        ``n`` overall (e.g. 2500 cats + 2500 dogs); exclusive with ``n``.
      min_std: drop pixels whose standard deviation over the selected examples, on the raw
        grey-level scale, is below this value (Chen & Bruna's MNIST protocol keeps std >= 110);
        needs ``flatten=True``.
      dtype: floating dtype of ``x`` and of float targets.

    Returns:
      A :class:`Dataset`.

    Raises:
      ValueError: a parameter outside its allowed values (the message names it).
      FileNotFoundError: the dataset files are not under the data root (the message lists
        the full paths tried and the expected layout).

    References:
      Cohen et al. (2021), src/cifar.py (per-feature, full-train-set standardisation, first n).
      Damian et al. (2023), per-channel standardisation over the subset.
    """
    _choice("name", name, DATASETS)
    _choice("target", target, TARGETS)
    _choice("stats", stats, STATS)
    display, splits, default_split, grey_max, default_std, class_names = _INFO[name]
    split = default_split if split is None else split
    _choice("split", split, splits)
    _check_count("n", n)
    _check_count("n_per_class", n_per_class)
    if n is not None and n_per_class is not None:
        raise ValueError("n and n_per_class are exclusive; give one of them (or neither)")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ValueError(f"seed={seed!r} must be an integer or None")
    if standardize is True:
        mode = default_std
    elif standardize is False:
        mode = "none"
    elif isinstance(standardize, str) and standardize in STANDARDIZE:
        mode = standardize
    else:
        raise ValueError(f"standardize={standardize!r} is not allowed; choices: "
                         f"True|False|{'|'.join(STANDARDIZE)}")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype={dtype} must be a floating dtype, e.g. float32|float64")
    if min_std is not None:
        if not flatten:
            raise ValueError("min_std drops pixels and needs flatten=True")
        if not isinstance(min_std, numbers.Real) or not min_std >= 0:
            raise ValueError(f"min_std={min_std!r} must be a number in [0, inf) or None")

    if classes is None:
        classes_t = tuple(range(10))
    else:
        try:
            classes_t = tuple(int(c) for c in classes)
        except (TypeError, ValueError):
            raise ValueError(f"classes={classes!r} must be a sequence of integers in [0, 9]") from None
        if (not classes_t or len(set(classes_t)) != len(classes_t)
                or any(c < 0 or c > 9 for c in classes_t)
                or any(not isinstance(c, numbers.Integral) for c in classes)):
            raise ValueError(f"classes={classes!r} must be distinct integers in [0, 9]")
    if target in ("pm1", "01") and len(classes_t) != 2:
        raise ValueError(f"target={target!r} needs exactly two classes, e.g. classes=(0, 1); "
                         f"got classes={classes!r}")

    root_path = data_root(root)
    images, labels = _raw(name, split, root_path)
    idx = _select(labels, classes_t, n, n_per_class, seed)
    if idx.size == 0:
        raise ValueError(f"no examples of classes {list(classes_t)} in the {split} split")
    chosen = images[idx]
    labels = labels[idx]

    feature_shape = chosen.shape[1:]
    keep = None
    if min_std is not None:
        raw_std = _moments(chosen, "feature")[1].reshape(-1)
        keep = np.flatnonzero(raw_std >= min_std)
        if keep.size == 0:
            raise ValueError(f"min_std={min_std} drops every pixel (largest std "
                             f"{raw_std.max():.4g}); allowed range [0, {raw_std.max():.4g}]")

    x = chosen.astype(np.float64)
    if mode in ("feature", "channel"):
        if stats == "full":
            if name == "digits":
                pool = _digits_raw("all")[0]
            elif split == "train":
                pool = images
            else:
                try:
                    pool = _raw(name, "train", root_path)[0]
                except FileNotFoundError as err:
                    raise FileNotFoundError(
                        f"stats='full' standardises the {split} split with training-set "
                        f"statistics, so the training files are needed too (or pass "
                        f"stats='subset'). {err}") from None
        else:
            pool = chosen
        mean, std = _moments(pool, mode)
        # Blank pixels have std 0: centre them (they become 0) instead of dividing by zero.
        std = np.where(std > 0, std, 1.0)
        x = (x - mean) / std
    elif mode == "scale":
        x = x / grey_max

    if flatten:
        x = x.reshape(x.shape[0], -1)
        if keep is not None:
            x = x[:, keep]
    x = np.ascontiguousarray(x, dtype=dtype)
    y = _encode_targets(labels, classes_t, target, dtype)

    if classes is None:
        class_note = "10 classes"
    else:
        class_note = "classes " + "/".join(str(c) for c in classes_t)
        if name == "cifar10":
            class_note += " (" + "/".join(class_names[c] for c in classes_t) + ")"
    parts = [f"data: {display}"]
    if split != default_split or name != "digits":
        parts.append(f"{split} split")
    parts.append(class_note)
    if n_per_class is not None:
        parts.append(f"n={x.shape[0]} ({n_per_class} per class)")
    else:
        parts.append(f"n={x.shape[0]}")
    if seed is not None:
        parts.append(f"shuffled (seed {seed})")
    if keep is not None:
        parts.append(f"{keep.size} of {math.prod(feature_shape)} pixels (std >= {min_std:g})")
    parts.append({"feature": "standardized per feature", "channel": "standardized per channel",
                  "scale": f"scaled by 1/{grey_max:g}", "none": "raw grey levels"}[mode]
                 + (" (subset stats)" if mode in ("feature", "channel") and stats == "subset"
                    else ""))
    return Dataset(x=x, y=y, name=name, classes=classes_t, description=", ".join(parts),
                   labels=labels.astype(np.int64), target=target)


def load_digits(**kwargs) -> Dataset:
    """Shorthand for ``load_dataset("digits", **kwargs)`` (bundled, offline)."""
    return load_dataset("digits", **kwargs)
