"""Smoke tests of the two_step plotting modules: each figure function draws from small inputs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from eoslib.papers.two_step import experiments as ex  # noqa: E402
from eoslib.papers.two_step import plots, plots_2d, plots_models  # noqa: E402


def test_figure_functions_return_figures():
    tops = np.array([2.0, 2.4, 3.1, 5.0])
    fig = plots_models.proposition_7(tops, 1.0, [0.99, 1.2], 4)
    assert isinstance(fig, plt.Figure) and len(fig.axes) == 1
    nodes = {"a": (0.2, 0.5, "A", ["Theorem 1"]), "b": (0.7, 0.5, "B", ["Theorem 2"])}
    fig13 = plots.figure_13(nodes, [("a", "b")], [], 6.0, 3.0)
    assert len(fig13.axes[0].patches) == 3  # two boxes and one arrow
    fig6 = plots_2d.proposition_6(0.8, 1.25, np.array([[1.8, 0.6], [1.2, 0.8], [1.0, 1.0]]), 0.9)
    assert isinstance(fig6, plt.Figure)
    plt.close("all")


def test_mlp_eos_draws_a_tracked_run():
    import jax.numpy as jnp

    f = lambda w: 0.25 * jnp.sum((w * w - 1.0) ** 2)  # noqa: E731
    run = ex.tracked_gd(f, jnp.array([0.9, 1.1]), [1.2] * 6)
    fig = plots_models.mlp_eos(run, ex.eos_summary(run), 1.2, "toy")
    assert len(fig.axes) == 4
    plt.close("all")
