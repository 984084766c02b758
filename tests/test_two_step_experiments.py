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
])
def test_experiments_bad_input(call):
    with pytest.raises(ValueError):
        call()
