"""eoslib.callbacks: top-k eigenvalues, GFS sharpness, checkpoints, metrics, sign fixing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import callbacks as cbm
from eoslib import data, nets, train


@pytest.fixture(scope="module")
def small_mlp():
    # digits, 50 images, MLP 64-8-10 tanh: 610 parameters, dense Hessian affordable.
    ds = data.load_dataset("digits", n=50, target="onehot")
    net = nets.make_network("mlp", widths=(8,), activation="tanh", num_outputs=10,
                            input_shape=(64,), key=0)
    f, w0 = nets.flat_loss(net, net.init_params, ds.x, ds.y, "mse")
    return f, w0


def test_top_eigenvalues_track_the_dense_spectrum_with_fixed_signs(small_mlp):
    f, w0 = small_mlp
    tol = 1e-6
    top = cbm.TopEigenvalues(10, k=2, tol=tol, keep_vectors=True)
    run = train.train_gd(f, w0, 0.5, 40, log_every=40, progress=False, callbacks=[top])
    rec = run.records["top_eigenvalues"]
    np.testing.assert_array_equal(rec["step"], [0, 10, 20, 30, 40])
    assert np.all(rec["converged"]) and np.all(rec["hvps"] > 0)
    # The residual bound |theta - lambda| <= tol * |theta| against dense eigh at the end.
    dense = np.linalg.eigvalsh(np.asarray(jax.jit(jax.hessian(f))(jnp.asarray(run.w))))[::-1][:2]
    np.testing.assert_allclose(rec["eigenvalues"][-1], dense, rtol=2 * tol)
    # Sign-fixed vectors: consecutive eigenvectors have positive overlaps, and the last
    # ones are the callback's warm start.
    v = rec["eigenvectors"]
    assert np.all(np.einsum("tdk,tdk->tk", v[1:], v[:-1]) > 0)
    np.testing.assert_allclose(top.vectors, v[-1])
    # Warm starts along the run need fewer HVPs than cold ones at the same points.
    cold = cbm.TopEigenvalues(10, k=2, tol=tol, warm_start=False)
    cold_run = train.train_gd(f, w0, 0.5, 40, log_every=40, progress=False, callbacks=[cold])
    crec = cold_run.records["top_eigenvalues"]
    np.testing.assert_allclose(crec["eigenvalues"], rec["eigenvalues"], rtol=2 * tol)
    assert crec["hvps"][1:].sum() > rec["hvps"][1:].sum(), (crec["hvps"], rec["hvps"])


def test_block_warm_start_tracks_the_same_spectrum(small_mlp):
    f, w0 = small_mlp
    tol = 1e-6
    block = cbm.TopEigenvalues(10, k=2, tol=tol, keep_vectors=True, block_warm_start=True)
    run = train.train_gd(f, w0, 0.5, 40, log_every=40, progress=False, callbacks=[block])
    rec = run.records["top_eigenvalues"]
    assert np.all(rec["converged"])
    dense = np.linalg.eigvalsh(np.asarray(jax.jit(jax.hessian(f))(jnp.asarray(run.w))))[::-1][:2]
    np.testing.assert_allclose(rec["eigenvalues"][-1], dense, rtol=2 * tol)
    v = rec["eigenvectors"]
    assert np.all(np.einsum("tdk,tdk->tk", v[1:], v[:-1]) > 0)  # sign-fixed along the run
    # The same eigenvalues as the default single-vector warm start, to the tolerance; the
    # option is in the cache key only when set (earlier runs keep their keys).
    plain = cbm.TopEigenvalues(10, k=2, tol=tol)
    prec = train.train_gd(f, w0, 0.5, 40, log_every=40, progress=False,
                          callbacks=[plain]).records["top_eigenvalues"]
    np.testing.assert_allclose(rec["eigenvalues"], prec["eigenvalues"], rtol=2 * tol)
    assert "block_warm_start" not in plain.settings() and block.settings()["block_warm_start"]
    with pytest.raises(ValueError, match="block_warm_start"):
        cbm.TopEigenvalues(1, block_warm_start="yes")


def test_builtin_tracking_is_the_same_callback(small_mlp):
    f, w0 = small_mlp
    builtin = train.train_gd(f, w0, 0.5, 20, eig_every=10, k=2, eig_tol=1e-6, progress=False)
    cb = train.train_gd(f, w0, 0.5, 20, progress=False,
                        callbacks=[cbm.TopEigenvalues(10, k=2, tol=1e-6)]).records["top_eigenvalues"]
    np.testing.assert_array_equal(builtin.eig_steps, cb["step"])
    np.testing.assert_array_equal(builtin.eigenvalues, cb["eigenvalues"])
    np.testing.assert_array_equal(builtin.hvp_counts, cb["hvps"])


def test_fix_signs():
    v = np.array([[0.1, -0.9], [-0.8, 0.2], [0.3, 0.1]])
    fixed = np.asarray(cbm.fix_signs(v))
    np.testing.assert_array_equal(fixed, v * np.array([-1.0, -1.0]))  # largest entry positive
    ref = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(np.asarray(cbm.fix_signs(v, ref)), v * np.array([-1.0, -1.0]))
    np.testing.assert_array_equal(np.asarray(cbm.fix_signs(-v, ref)), v * np.array([-1.0, -1.0]))


def _scalar_net(w):
    return 0.5 * (w[0] * w[1] - 1.0) ** 2


def test_gfs_sharpness_matches_the_conserved_quantity_and_decreases():
    # Gradient flow of l(xy), l(z) = (z - 1)^2 / 2, conserves d = x^2 - y^2 and ends on xy = 1
    # with sharpness sqrt(d^2 + 4). At loss 1e-16, |xy - 1| = sqrt(2e-16) ~ 1.4e-8, so the
    # flow's end is within ~1e-8 (relative) of that limit: rtol 1e-7 below.
    w0 = jnp.asarray([2.8, 0.2])  # sharpness 8.05 > 2/eta = 8 at eta = 0.25
    gfs = cbm.GFSSharpness(5, loss_threshold=1e-16, rtol=1e-12, atol=1e-14, keep_solution=True)
    run = train.train_gd(_scalar_net, w0, 0.25, 20, log_every=20, progress=False,
                         callbacks=[gfs, cbm.Checkpoints(5)])
    w = run.records["checkpoints"]["w"]
    d = w[:, 0] ** 2 - w[:, 1] ** 2
    g = run.records["gfs_sharpness"]
    assert np.all(g["reached"]) and g["w_gf"].shape == (5, 2)
    np.testing.assert_allclose(g["sharpness"], np.sqrt(d * d + 4.0), rtol=1e-7)
    np.testing.assert_allclose(g["loss"], 1e-16, rtol=1e-5)
    # Kreisler et al., Theorem 3.2: GD decreases the GFS sharpness monotonically.
    assert np.all(np.diff(g["sharpness"]) < 0)
    assert gfs.last is not None and gfs.last.reached
    # The RK4 baseline gives the same GFS sharpness (its own error ~ (alpha)^4 per unit time).
    rk4 = cbm.GFSSharpness(1, _scalar_net, loss_threshold=1e-16, method="rk4", alpha=0.05)
    np.testing.assert_allclose(rk4(0, w0)["sharpness"], g["sharpness"][0], rtol=1e-7)


def test_metric_and_bad_arguments():
    m = cbm.Metric(3, lambda w: {"s": jnp.sum(w), "v": 2 * w}, name="m")
    out = m(0, jnp.arange(3.0))
    assert float(out["s"]) == 3.0 and out["v"].shape == (3,)
    assert cbm.Metric(1, jnp.sum, name="total")(0, jnp.ones(2))["value"] == 2.0
    assert cbm.callback_name(cbm.Checkpoints(2)) == "checkpoints"
    assert cbm.callback_name(type("MyProbe", (), {"every": 1})()) == "my_probe"
    assert isinstance(cbm.Checkpoints(2), cbm.Callback)
    with pytest.raises(ValueError, match="every"):
        cbm.TopEigenvalues(0)
    with pytest.raises(ValueError, match="tol"):
        cbm.TopEigenvalues(1, tol=0.0)
    with pytest.raises(ValueError, match="method='euler' is not allowed"):
        cbm.GFSSharpness(1, loss_threshold=1e-3, method="euler")
    with pytest.raises(ValueError, match="loss_threshold"):
        cbm.GFSSharpness(1, loss_threshold=0.0)
    with pytest.raises(ValueError, match="no loss"):
        cbm.TopEigenvalues(1)(0, jnp.ones(3))
