"""Tracked full-batch GD (eoslib.train): progressive sharpening, warm starts, cache, divergence."""

import os

import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import data, gd, nets, train

ETA = 0.25  # 2/eta = 8


@pytest.fixture(scope="module")
def digits_problem():
    # The self-stabilization sheet's prototype: digits, first 500 images standardised,
    # MLP 64-64-64-10 swish (8,970 parameters), categorical MSE (no 1/2).
    ds = data.load_dataset("digits", n=500, target="onehot")
    net = nets.make_network("mlp", widths=(64, 64), activation="swish", num_outputs=10,
                            input_shape=(64,), key=0)
    f, w0 = nets.flat_loss(net, net.init_params, ds.x, ds.y, "categorical_mse")
    _, unravel = nets.flatten_params(net.init_params)
    x, y = jnp.asarray(ds.x), jnp.asarray(ds.y)

    def accuracy(w):
        return nets.accuracy(net.apply(unravel(w), x), y)

    assert w0.shape == (8970,)
    return f, w0, accuracy


@pytest.fixture(scope="module")
def sharpening_run(digits_problem):
    f, w0, accuracy = digits_problem
    return train.train_gd(f, w0, ETA, 1500, log_every=50, eig_every=25, accuracy=accuracy,
                          eig_tol=1e-4, progress=False)


def test_progressive_sharpening_then_edge_of_stability(sharpening_run):
    run = sharpening_run
    s, steps = run.sharpness, run.eig_steps
    threshold = 2.0 / ETA
    assert not run.diverged and run.report().startswith("ran 1500 steps")
    assert steps[0] == 0 and steps[-1] == 1500 and len(steps) == 61
    assert s[0] < 0.7 * threshold  # sheet: 2.48 at initialisation
    reached = np.nonzero(s >= threshold)[0]
    assert reached.size, f"sharpness never reached 2/eta: max {s.max():.3f}"
    last_third = steps >= 1000
    assert steps[reached[0]] < 1000  # reaches 2/eta before the last third (sheet: ~t=750)
    med = float(np.median(s[last_third]))
    assert abs(med - threshold) <= 0.1 * threshold, (med, s[last_third])
    # Training goes on at the edge of stability: the loss keeps falling on average.
    assert run.loss[-1] < 0.2 * run.loss[0]
    assert run.accuracy[-1] > 0.9 and np.all(np.isfinite(run.accuracy))
    assert np.all(run.eig_converged) and np.all(run.hvp_counts > 0)


def test_warm_start_needs_fewer_hvps(digits_problem, sharpening_run):
    f, w0, _ = digits_problem
    cold = train.train_gd(f, w0, ETA, 600, log_every=100, eig_every=25, warm_start=False,
                          eig_tol=1e-4, progress=False)
    warm = sharpening_run  # same deterministic trajectory, same evaluation points
    n = len(cold.eig_steps)
    np.testing.assert_array_equal(cold.eig_steps, warm.eig_steps[:n])
    np.testing.assert_allclose(cold.sharpness, warm.sharpness[:n], rtol=1e-6)
    # The first warm evaluation is itself a cold start; compare the tracked ones. (Every
    # 25 steps at tol 1e-4 the gain is modest, ~1.6x here; it grows with the tracking
    # frequency and looser tolerances, see benchmarks/bench_top_eigenvalue.py.)
    warm_hvps = int(np.sum(warm.hvp_counts[1:n]))
    cold_hvps = int(np.sum(cold.hvp_counts[1:n]))
    assert cold_hvps >= 1.3 * warm_hvps, (cold.hvp_counts, warm.hvp_counts[:n])


def test_cache_round_trip(digits_problem, tmp_path, monkeypatch):
    f, w0, _ = digits_problem
    settings = {"dataset": "digits", "n": 500, "network": "mlp 64-64 swish", "seed": 0,
                "loss": "categorical_mse", "classes": (0, 1, 2)}
    kw = dict(log_every=5, eig_every=10, eig_tol=1e-4, progress=False, settings=settings,
              cache_dir=tmp_path)
    first = train.train_gd(f, w0, ETA, 20, **kw)
    assert not first.from_cache
    files = sorted(os.listdir(tmp_path))
    assert len(files) == 1 and files[0].endswith(".npz")  # no temporary file left behind
    assert train.cache_path(first.settings, tmp_path).name == files[0]

    def no_training(*args, **kwargs):
        raise AssertionError("trained although the run is cached")

    monkeypatch.setattr(train, "_gd_chunk", no_training)
    second = train.train_gd(f, w0, ETA, 20, **kw)
    assert second.from_cache
    for name in ("steps", "loss", "accuracy", "eig_steps", "eigenvalues", "hvp_counts", "w"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    assert second.settings == first.settings and second.key == first.key
    assert second.settings["user"]["classes"] == [0, 1, 2]
    # Any change of the settings or of the training arguments is a different run.
    with pytest.raises(AssertionError, match="cached"):
        train.train_gd(f, w0, 0.2, 20, **kw)
    with pytest.raises(AssertionError, match="cached"):
        train.train_gd(f, w0, ETA, 20, **{**kw, "settings": {**settings, "seed": 1}})
    with pytest.raises(AssertionError, match="cached"):
        train.train_gd(f, w0 * 1.0001, ETA, 20, **kw)
    with pytest.raises(AssertionError, match="cached"):
        train.train_gd(f, w0, ETA, 20, **{**kw, "refresh": True})
    monkeypatch.undo()
    # The default directory follows EOSLIB_CACHE.
    monkeypatch.setenv("EOSLIB_CACHE", str(tmp_path / "env"))
    assert train.default_cache_dir() == tmp_path / "env"


def test_divergence_is_reported(digits_problem):
    f, w0, _ = digits_problem
    run = train.train_gd(f, w0, 50.0, 200, log_every=10, progress=False, max_norm=1e6)
    assert run.diverged and 0 < run.diverged_at <= 200
    assert f"diverged at step {run.diverged_at}" in run.report()
    assert np.all(np.isfinite(run.w)) and np.linalg.norm(run.w) <= 1e6
    assert run.steps[-1] < run.diverged_at and np.all(np.isfinite(run.loss))
    # Without a norm bound, divergence means a non-finite iterate.
    run = train.train_gd(f, w0, 1e4, 200, log_every=10, progress=False, max_norm=float("inf"))
    assert run.diverged and np.all(np.isfinite(run.w))


def test_bad_input(digits_problem):
    f, w0, _ = digits_problem
    with pytest.raises(ValueError, match="eta"):
        train.train_gd(f, w0, -0.1, 10, progress=False)
    with pytest.raises(ValueError, match="num_steps"):
        train.train_gd(f, w0, ETA, 0, progress=False)
    with pytest.raises(ValueError, match="eig_every"):
        train.train_gd(f, w0, ETA, 10, eig_every=-1, progress=False)
    with pytest.raises(ValueError, match="k must be"):
        train.train_gd(f, w0, ETA, 10, k=0, progress=False)
    with pytest.raises(ValueError, match="w0"):
        train.train_gd(f, w0.reshape(2, -1), ETA, 10, progress=False)
    with pytest.raises(ValueError, match="settings"):
        train.train_gd(f, w0, ETA, 10, progress=False, settings={"net": object()})


# ----------------------------------------------------------------------------- callbacks
# (the ready callbacks themselves are tested in test_callbacks.py)


def _scalar_net(w):
    return 0.5 * (w[0] * w[1] - 1.0) ** 2


W_SCALAR = jnp.asarray([2.8, 0.2])


def test_callbacks_are_called_at_their_strides_and_cached(tmp_path):
    from eoslib import callbacks as cbm

    seen = []

    class Probe:
        every = 7
        name = "probe"

        def __call__(self, step, w):
            seen.append(step)
            return {"norm": float(np.linalg.norm(w)), "pair": np.asarray(w)} if step % 2 == 0 else None

    kw = dict(log_every=10, progress=False, settings={"net": "scalar l(xy)"}, cache_dir=tmp_path,
              callbacks=[Probe(), cbm.Checkpoints(5), cbm.Metric(4, _scalar_net, name="loss4")])
    run = train.train_gd(_scalar_net, W_SCALAR, 0.25, 20, **kw)
    assert seen == [0, 7, 14, 20]  # step 0, every 7 steps, and the last step
    probe = run.records["probe"]
    np.testing.assert_array_equal(probe["step"], [0, 14, 20])  # None records nothing
    assert probe["pair"].shape == (3, 2) and probe["norm"].shape == (3,)
    ck = run.records["checkpoints"]
    np.testing.assert_array_equal(ck["step"], [0, 5, 10, 15, 20])
    # The checkpoints are the GD iterates of the core primitive.
    ref = gd.gd_trajectory(_scalar_net, W_SCALAR, 0.25, 20, record_every=5)
    np.testing.assert_allclose(ck["w"], ref.params, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(run.records["loss4"]["value"][::5], ref.loss[::4], rtol=1e-14)
    # Cached with the run, records included; a different stride is a different run.
    again = train.train_gd(_scalar_net, W_SCALAR, 0.25, 20, **kw)
    assert again.from_cache and seen == [0, 7, 14, 20]
    for name in run.records:
        for fld in run.records[name]:
            np.testing.assert_array_equal(again.records[name][fld], run.records[name][fld])
    other = train.train_gd(_scalar_net, W_SCALAR, 0.25, 20,
                           **{**kw, "callbacks": [Probe(), cbm.Checkpoints(4)]})
    assert not other.from_cache


def test_bad_callbacks():
    from eoslib import callbacks as cbm

    def run(cbs):
        return train.train_gd(_scalar_net, W_SCALAR, 0.1, 4, progress=False, callbacks=cbs)

    class Flaky:
        every = 1

        def __call__(self, step, w):
            return {"a": 1.0} if step else {"b": 1.0}

    class Never:
        every = 0

        def __call__(self, step, w):
            return None

    with pytest.raises(ValueError, match="unique"):
        run([cbm.Checkpoints(1), cbm.Checkpoints(2)])
    with pytest.raises(ValueError, match="every"):
        run([Never()])
    with pytest.raises(ValueError, match="same fields"):
        run([Flaky()])
    with pytest.raises(ValueError, match="identifier"):
        run([cbm.Checkpoints(1, name="bad name")])
    with pytest.raises(ValueError, match="must hold numbers"):
        run([cbm.Metric(1, lambda w: {"obj": object()}, name="obj", jit=False)])


def test_learning_rate_schedules():
    etas = np.where(np.arange(30) < 10, 0.1, 0.2)
    run = train.train_gd(_scalar_net, W_SCALAR, etas, 30, log_every=30, progress=False)
    run_fn = train.train_gd(_scalar_net, W_SCALAR, lambda t: 0.1 if t < 10 else 0.2, 30,
                            log_every=7, progress=False)  # chunks cross the switch at 10
    w10, _ = gd.gd_final(_scalar_net, W_SCALAR, 0.1, 10)
    w30, _ = gd.gd_final(_scalar_net, w10, 0.2, 20)
    np.testing.assert_allclose(run.w, w30, rtol=1e-14)
    np.testing.assert_allclose(run_fn.w, w30, rtol=1e-14)
    np.testing.assert_array_equal(run.eta, etas)
    const = train.train_gd(_scalar_net, W_SCALAR, np.full(30, 0.1), 30, progress=False)
    ref = train.train_gd(_scalar_net, W_SCALAR, 0.1, 30, progress=False)
    np.testing.assert_array_equal(const.w, ref.w)
    with pytest.raises(ValueError, match=r"shape \(30,\)"):
        train.train_gd(_scalar_net, W_SCALAR, etas[:5], 30, progress=False)
    with pytest.raises(ValueError, match="eta"):
        train.train_gd(_scalar_net, W_SCALAR, -etas, 30, progress=False)
