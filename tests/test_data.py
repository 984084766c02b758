"""eoslib.data: digits defaults and the CIFAR-10 / MNIST / SVHN readers on tiny files in the official formats."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
import scipy.io

from eoslib import data
from eoslib.data import load_dataset, read_idx

RNG = np.random.default_rng(0)


# ----------------------------------------------------------------------------- writers

def _write_cifar(root, n_per_batch=4, n_test=3):
    """Official layout: <root>/cifar-10-batches-py/data_batch_1..5, test_batch (pickled dicts)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    images, labels = {}, {}
    for name, n in [(f"data_batch_{i}", n_per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        nhwc = RNG.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        lab = [int(v) for v in RNG.integers(0, 10, size=n)]
        # Official rows: 1024 red values, then green, then blue, each 32x32 row-major.
        rows = nhwc.transpose(0, 3, 1, 2).reshape(n, 3072)
        with open(folder / name, "wb") as fh:
            pickle.dump({b"batch_label": name.encode(), b"labels": lab, b"data": rows,
                         b"filenames": [b"x.png"] * n}, fh)
        images[name], labels[name] = nhwc, np.array(lab)
    train_x = np.concatenate([images[f"data_batch_{i}"] for i in range(1, 6)])
    train_y = np.concatenate([labels[f"data_batch_{i}"] for i in range(1, 6)])
    return train_x, train_y, images["test_batch"], labels["test_batch"]


def _idx_bytes(arr: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[arr.dtype]
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.tobytes()


def _write_mnist(folder, *, gz: bool, n=12, n_test=5):
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for prefix, count in (("train", n), ("t10k", n_test)):
        images = RNG.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = np.arange(count, dtype=np.uint8) % 10
        for stem, arr in ((f"{prefix}-images-idx3-ubyte", images),
                          (f"{prefix}-labels-idx1-ubyte", labels)):
            raw = _idx_bytes(arr)
            if gz:
                with gzip.open(folder / (stem + ".gz"), "wb") as fh:
                    fh.write(raw)
            else:
                (folder / stem).write_bytes(raw)
        out[prefix] = (images, labels)
    return out


def _write_svhn(root, n=12):
    images = RNG.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)  # official (H, W, C, N)
    labels = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(n, 1)    # 1..10, 10 = digit 0
    scipy.io.savemat(root / "train_32x32.mat", {"X": images, "y": labels})
    return images, labels


# ----------------------------------------------------------------------------- digits

def test_digits_defaults():
    ds = load_dataset("digits")
    assert ds.x.shape == (1797, 64) and ds.x.dtype == np.float64
    assert ds.y.shape == (1797, 10) and set(np.unique(ds.y)) == {0.0, 1.0}
    np.testing.assert_array_equal(ds.y.argmax(1), ds.labels)
    assert ds.classes == tuple(range(10)) and ds.num_outputs == 10 and ds.input_shape == (64,)
    # Per-feature standardisation over the full set; blank pixels stay 0, not NaN.
    np.testing.assert_allclose(ds.x.mean(0), 0, atol=1e-12)
    std = ds.x.std(0)
    assert np.all(np.isfinite(ds.x))
    assert np.sum(std == 0) == 3 and np.allclose(std[std > 0], 1)
    assert ds.description == "data: scikit-learn digits, 10 classes, n=1797, standardized per feature"


def test_digits_subset_is_first_n_with_full_set_statistics():
    full = load_dataset("digits")
    sub = load_dataset("digits", n=500)
    np.testing.assert_array_equal(sub.x, full.x[:500])
    sub2 = load_dataset("digits", n=500, stats="subset")
    np.testing.assert_allclose(sub2.x.mean(0), 0, atol=1e-12)
    assert "n=500" in sub.description and "subset stats" in sub2.description


def test_digits_two_class_targets_and_pixel_filter():
    # two_step sheet, MNIST stand-in: digits 0/1 give 360 images; std >= 4 keeps 30 pixels.
    ds = load_dataset("digits", classes=(0, 1), min_std=4.0, standardize="scale", target="pm1")
    assert ds.x.shape == (360, 30) and ds.num_outputs == 1
    assert ds.x.min() >= 0 and ds.x.max() <= 1
    np.testing.assert_array_equal(ds.y, np.where(ds.labels == 1, 1.0, -1.0))
    assert ds.description == ("data: scikit-learn digits, classes 0/1, n=360, "
                              "30 of 64 pixels (std >= 4), scaled by 1/16")
    ds01 = load_dataset("digits", classes=(3, 5), target="01", n=50)
    assert set(ds01.labels) == {3, 5}
    np.testing.assert_array_equal(ds01.y, (ds01.labels == 5).astype(float))
    idx = load_dataset("digits", classes=(5, 3), target="index", n=50)
    np.testing.assert_array_equal(idx.y, np.where(idx.labels == 5, 0, 1))
    assert idx.y.dtype == np.int64
    oh = load_dataset("digits", classes=(5, 3), n=50)
    assert oh.y.shape == (50, 2)
    np.testing.assert_array_equal(oh.y.argmax(1), idx.y)


def test_digits_per_class_shuffle_splits_and_images():
    ds = load_dataset("digits", classes=(3, 5), n_per_class=20, target="index")
    assert ds.n == 40 and np.sum(ds.labels == 3) == 20 and np.sum(ds.labels == 5) == 20
    a = load_dataset("digits", n=100, seed=1)
    b = load_dataset("digits", n=100, seed=1)
    c = load_dataset("digits", n=100)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.labels, c.labels) and "seed 1" in a.description
    train, test = load_dataset("digits", split="train"), load_dataset("digits", split="test")
    assert train.n == 1000 and test.n == 797 and "test split" in test.description
    img = load_dataset("digits", n=7, flatten=False, standardize=False, dtype=np.float32)
    assert img.x.shape == (7, 8, 8, 1) and img.x.dtype == np.float32 and img.x.max() == 16
    assert img.input_shape == (8, 8, 1)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(name="imagenet"), "name"),
        (dict(name="digits", target="softmax"), "target"),
        (dict(name="digits", split="valid"), "split"),
        (dict(name="cifar10", split="all"), "split"),
        (dict(name="digits", n=0), r"n must be an integer in \[1, inf\)"),
        (dict(name="digits", n=2.5), "n must be an integer"),
        (dict(name="digits", n=5000), "n=5000"),
        (dict(name="digits", classes=(0, 10)), "classes"),
        (dict(name="digits", classes=(1, 1)), "classes"),
        (dict(name="digits", classes=(0, 1, 2), target="pm1"), "two classes"),
        (dict(name="digits", target="01"), "two classes"),
        (dict(name="digits", standardize="whiten"), "standardize"),
        (dict(name="digits", standardize=1), "standardize"),
        (dict(name="digits", stats="test"), "stats"),
        (dict(name="digits", n=10, n_per_class=5), "exclusive"),
        (dict(name="digits", classes=(0, 1), n_per_class=500), "n_per_class"),
        (dict(name="digits", min_std=1.0, flatten=False), "min_std"),
        (dict(name="digits", min_std=100.0), "min_std"),
        (dict(name="digits", dtype=np.int32), "dtype"),
        (dict(name="digits", seed=1.5), "seed"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, word):
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=word):
        load_dataset(name, **kwargs)


# ----------------------------------------------------------------------------- CIFAR-10

def test_cifar10_pickle_batches(tmp_path):
    train_x, train_y, test_x, test_y = _write_cifar(tmp_path)
    raw = load_dataset("cifar10", root=tmp_path, standardize=False, flatten=False, target="index")
    np.testing.assert_array_equal(raw.x, train_x)  # CHW rows -> NHWC
    np.testing.assert_array_equal(raw.y, train_y)
    assert raw.x.shape == (20, 32, 32, 3) and "CIFAR-10, train split, 10 classes" in raw.description

    # Default: per-channel standardisation with the whole training pool's statistics.
    std = load_dataset("cifar10", root=tmp_path, flatten=False)
    np.testing.assert_allclose(std.x.mean(axis=(0, 1, 2)), 0, atol=1e-10)
    np.testing.assert_allclose(std.x.std(axis=(0, 1, 2)), 1, rtol=1e-10)
    flat = load_dataset("cifar10", root=tmp_path)
    np.testing.assert_array_equal(flat.x, std.x.reshape(20, -1))  # flattening order H, W, C

    per_feature = load_dataset("cifar10", root=tmp_path, standardize="feature")
    np.testing.assert_allclose(per_feature.x.mean(0), 0, atol=1e-10)
    np.testing.assert_allclose(per_feature.x.std(0), 1, rtol=1e-10)

    test = load_dataset("cifar10", root=tmp_path, split="test", standardize=False, target="index")
    np.testing.assert_array_equal(test.x.reshape(-1, 32, 32, 3), test_x)
    np.testing.assert_array_equal(test.y, test_y)
    # Test split standardised with training statistics (Cohen et al.).
    test_std = load_dataset("cifar10", root=tmp_path, split="test", flatten=False)
    pool = train_x.astype(float)
    expected = (test_x - pool.mean((0, 1, 2))) / pool.std((0, 1, 2))
    np.testing.assert_allclose(test_std.x, expected, rtol=1e-12)


def test_cifar10_class_filter_and_env_root(tmp_path, monkeypatch):
    train_x, train_y, _, _ = _write_cifar(tmp_path)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    a, b = (int(c) for c in np.unique(train_y)[:2])
    keep = np.isin(train_y, (a, b))
    ds = load_dataset("cifar10", classes=(a, b), target="pm1", stats="subset", flatten=False)
    assert ds.n == keep.sum() and ds.num_outputs == 1
    np.testing.assert_array_equal(ds.labels, train_y[keep])
    np.testing.assert_array_equal(ds.y, np.where(train_y[keep] == b, 1.0, -1.0))
    np.testing.assert_allclose(ds.x.mean(axis=(0, 1, 2)), 0, atol=1e-10)
    names = data.CIFAR10_CLASSES
    assert f"classes {a}/{b} ({names[a]}/{names[b]})" in ds.description


def test_cifar10_missing_file_message(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("cifar10", root=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_1") in msg
    assert "cifar-10-python.tar.gz" in msg and data.ENV_VAR in msg


def test_cifar10_test_split_needs_training_files_for_full_stats(tmp_path):
    _write_cifar(tmp_path)
    for i in range(1, 6):
        (tmp_path / "cifar-10-batches-py" / f"data_batch_{i}").unlink()
    with pytest.raises(FileNotFoundError, match="training-set statistics"):
        load_dataset("cifar10", root=tmp_path, split="test")
    assert load_dataset("cifar10", root=tmp_path, split="test", stats="subset").n == 3


# ----------------------------------------------------------------------------- MNIST

@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx(tmp_path, gz):
    files = _write_mnist(tmp_path / "mnist", gz=gz)
    images, labels = files["train"]
    ds = load_dataset("mnist", root=tmp_path, standardize=False, flatten=False, target="index")
    np.testing.assert_array_equal(ds.x[..., 0], images)
    np.testing.assert_array_equal(ds.y, labels)
    assert ds.x.shape == (12, 28, 28, 1)
    test = load_dataset("mnist", root=tmp_path, split="test", standardize="scale")
    np.testing.assert_allclose(test.x, files["t10k"][0].reshape(5, -1) / 255.0)
    two = load_dataset("mnist", root=tmp_path, classes=(0, 1), target="onehot", stats="subset")
    assert two.n == 4 and two.y.shape == (4, 2)  # labels 0,1,..,9,0,1
    np.testing.assert_allclose(two.x.mean(0), 0, atol=1e-10)
    nonconstant = two.x.std(0) > 0
    np.testing.assert_allclose(two.x.std(0)[nonconstant], 1, rtol=1e-10)


def test_read_idx_header(tmp_path):
    arr = np.arange(24, dtype=">i4").reshape(2, 3, 4)
    (tmp_path / "ok").write_bytes(_idx_bytes(arr))
    out = read_idx(tmp_path / "ok")
    assert out.shape == (2, 3, 4) and out.dtype == np.dtype(np.int32)
    np.testing.assert_array_equal(out, np.arange(24).reshape(2, 3, 4))
    (tmp_path / "magic").write_bytes(b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "magic")
    (tmp_path / "short").write_bytes(_idx_bytes(arr)[:-3])
    with pytest.raises(ValueError, match="header says"):
        read_idx(tmp_path / "short")


def test_mnist_missing_file_message(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("mnist", root=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in msg
    assert "train-labels-idx1-ubyte.gz" in msg and data.ENV_VAR in msg


# ----------------------------------------------------------------------------- SVHN

def test_svhn_mat(tmp_path):
    images, labels = _write_svhn(tmp_path)
    ds = load_dataset("svhn", root=tmp_path, standardize=False, flatten=False, target="index")
    np.testing.assert_array_equal(ds.x, images.transpose(3, 0, 1, 2))
    expected = labels.ravel() % 10  # label 10 means digit 0
    np.testing.assert_array_equal(ds.y, expected)
    assert 0 in ds.y and 10 not in ds.y
    sub = load_dataset("svhn", root=tmp_path, classes=(0, 1), target="01")
    np.testing.assert_array_equal(sub.labels, [1, 0, 1])  # y = 1, 10, 1 in file order
    np.testing.assert_array_equal(sub.y, [1.0, 0.0, 1.0])
    full = load_dataset("svhn", root=tmp_path, flatten=False)
    np.testing.assert_allclose(full.x.mean(axis=(0, 1, 2)), 0, atol=1e-10)
    np.testing.assert_allclose(full.x.std(axis=(0, 1, 2)), 1, rtol=1e-10)
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("svhn", root=tmp_path, split="test")
    assert str(tmp_path / "test_32x32.mat") in str(err.value)
