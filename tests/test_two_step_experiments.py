"""Unit tests of eoslib.papers.two_step.experiments: teacher-student family, line search, tracked GD."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib.papers.two_step import experiments as ex


def test_student_minimum_family_and_ratios():
    x, y = ex.teacher_student_data(jax.random.PRNGKey(0), 500, d=4)
    kap = np.array([0.5, 1.0, 1.5, 2.0])
    p = ex.student_params(kap)
    assert float(ex.student_loss(p, x, y, 4)) < 1e-28
    np.testing.assert_allclose(np.asarray(ex.student_ratios(p, 4)), kap, rtol=1e-14)
    s = ex.uniform_ratio_sharpness([0.5, 1.0, 2.0], x, y)
    assert s[1] < s[0] and s[1] < s[2]


def test_line_search_minimum_and_slice_stability_on_a_quartic():
    # f(w) = 1/4 (w^2 - 1)^2 in 1-D: slice along the gradient is f itself (up to sign).
    f = lambda w: 0.25 * (w[0] ** 2 - 1.0) ** 2  # noqa: E731
    w = jnp.array([1.3])
    w_star, e_star = ex.line_search_minimum(f, w, 1.0)
    assert float(w_star[0]) == pytest.approx(1.0, abs=1e-7)
    c, vals = ex.slice_stability(f, jnp.array([1.0]), jnp.array([1.0]))
    np.testing.assert_allclose(np.asarray(vals), [2.0, 6.0, 6.0], rtol=1e-12)
    assert float(c) == pytest.approx(96.0, rel=1e-12)


def test_tracked_gd_reports_divergence_and_diagnostics():
    f = lambda w: 0.5 * jnp.sum(jnp.array([3.0, 1.0]) * w * w)  # noqa: E731
    run = ex.tracked_gd(f, jnp.array([1.0, 1.0]), [0.5] * 5)
    np.testing.assert_allclose(run.sharpness, 3.0, rtol=1e-8)
    assert run.diverged_at == -1
    run = ex.tracked_gd(f, jnp.array([1.0, 1.0]), [1.0] * 200)
    assert run.diverged_at > 0 and "diverged at step" in run.report()


@pytest.mark.parametrize("call", [
    lambda: ex.student_params(np.array([1.0, -1.0])),
    lambda: ex.student_params(np.array([1.0]), noise=0.1),
    lambda: ex.teacher_student_data(jax.random.PRNGKey(0), 0),
    lambda: ex.tracked_gd(lambda w: jnp.sum(w * w), jnp.ones(2), [0.1, -0.1]),
    lambda: ex.mnist_like_binary("cifar10"),
    lambda: ex.mnist_like_binary("mnist", fallback="cifar10"),
])
def test_experiments_bad_input(call):
    with pytest.raises(ValueError):
        call()


def test_tracked_gd_records_on_the_diagnostic_steps_and_never_nan():
    f = lambda w: 0.25 * jnp.sum((w * w - 1.0) ** 2)  # noqa: E731
    w0 = jnp.array([0.8, 1.3, 0.5])
    run = ex.tracked_gd(f, w0, [0.3] * 7 + [0.2] * 5, diagnostics_every=4, record_params=True)
    np.testing.assert_array_equal(run.steps, [0, 4, 8, 12])
    np.testing.assert_allclose(run.eta, [0.3, 0.3, 0.2, 0.2])
    assert run.params.shape == (4, 3) and np.all(np.isfinite(run.loss))
    # the schedule changes at step 7: the iterate at step 8 is 7 steps at 0.3 and one at 0.2
    w = np.asarray(w0)
    for eta in [0.3] * 7 + [0.2]:
        w = w - eta * (w**3 - w)
    np.testing.assert_allclose(run.params[2], w, rtol=1e-12)
    summ = ex.eos_summary(run)
    assert summ.eos_steps.size == 0  # sharpness 3 w^2 - 1 <= 2/eta on these steps


def test_eos_diagnostics_callback_in_train_gd():
    from eoslib import train

    f = lambda w: 0.5 * jnp.sum(jnp.array([3.0, 1.0]) * w * w)  # noqa: E731
    cb = ex.EoSDiagnostics(2, [0.5] * 4)
    run = train.train_gd(f, jnp.array([1.0, 1.0]), 0.5, 4, log_every=2, callbacks=[cb], progress=False)
    rec = run.records[cb.name]
    np.testing.assert_array_equal(rec["step"], [0, 2, 4])
    np.testing.assert_allclose(rec["sharpness"], 3.0, rtol=1e-8)
    with pytest.raises(ValueError, match="etas"):
        ex.EoSDiagnostics(1, [[0.1, 0.2]])


def test_mnist_like_binary_falls_back_to_digits_when_the_files_are_missing(tmp_path, capsys):
    with pytest.raises(FileNotFoundError):
        ex.mnist_like_binary("mnist", root=tmp_path)
    ds = ex.mnist_like_binary("mnist", root=tmp_path, fallback="digits")
    assert "falling back to the scikit-learn digits data" in capsys.readouterr().out
    ref = ex.mnist_like_binary("digits")
    np.testing.assert_array_equal(np.asarray(ds.x), np.asarray(ref.x))
