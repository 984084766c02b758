"""One house style for every figure, and a provenance footer on each.

Every figure in the book is traceable (showyourwork-style) to the notebook that
made it, the parameters it ran with, the commit of the code and the date:
:func:`save_figure` writes that footer into the image itself, so a figure
copied out of the book still says where it came from.
"""

from __future__ import annotations

import datetime as _dt
import os
import subprocess
from pathlib import Path
from typing import Any, Mapping

import matplotlib as mpl
import matplotlib.pyplot as plt

__all__ = ["HOUSE_STYLE", "use_house_style", "provenance", "save_figure", "data_note", "git_commit"]

HOUSE_STYLE: dict[str, Any] = {
    # ~100 dpi keeps the committed notebooks in book/ small (DESIGN: repository lean).
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (7.0, 4.2),
    "figure.constrained_layout.use": True,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "lines.linewidth": 1.5,
    "image.cmap": "viridis",
    "axes.prop_cycle": mpl.cycler(
        color=["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
    ),
}


def use_house_style() -> None:
    """Apply the house matplotlib style (and PNG output at 100 dpi in notebooks)."""
    mpl.rcParams.update(HOUSE_STYLE)
    try:  # inline backend: PNG, not SVG, so that book/ stays small and diff-friendly
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
    except ImportError:  # pragma: no cover - outside IPython
        pass


def git_commit(short: bool = True) -> str:
    """The commit of the working tree that produced a figure (``"unknown"`` outside git).

    A ``+dirty`` suffix marks uncommitted changes, so a footer never claims a
    commit that did not make the figure.
    """
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short" if short else "--verify", "HEAD"],
            cwd=root, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "eoslib", "notebooks"],
            cwd=root, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def provenance(notebook: str, params: Mapping[str, Any]) -> str:
    """The footer text: notebook, parameters, commit and date.

    Args:
      notebook: the notebook source path, e.g. ``"notebooks/two_step/figure_7.md"``.
      params: the parameters the figure was made with.

    Returns:
      One or two lines of text.
    """
    date = os.environ.get("EOSLIB_DATE") or _dt.date.today().isoformat()
    shown = ", ".join(f"{k}={_short(v)}" for k, v in params.items())
    return f"{notebook} | {shown}\neoslib commit {git_commit()} | {date}"


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    text = str(v)
    return text if len(text) <= 40 else text[:37] + "..."


def save_figure(
    fig: plt.Figure,
    *,
    notebook: str | None = None,
    params: Mapping[str, Any] | None = None,
    path: str | os.PathLike[str] | None = None,
    show: bool = True,
) -> None:
    """Stamp the provenance footer on a figure, optionally save it, and show it.

    Returns nothing on purpose: a returned Figure at the end of a notebook cell would be
    displayed a second time and stored twice in the executed notebook.

    Args:
      fig: the figure.
      notebook: path of the notebook source that made it; default: the running
        notebook's :mod:`eoslib.session` (set by the runner's injected cell).
      params: the parameters it was made with (shown in the footer); default: the session's.
      path: if given, also write a PNG there.
      show: display it inline (``plt.show()``).
    """
    from eoslib import session

    sess = session.current()
    if notebook is None or params is None:
        if sess is None:
            raise ValueError("save_figure: give notebook= and params=, or run the notebook "
                             "through the eoslib runner (which records them)")
        notebook = sess.notebook if notebook is None else notebook
        params = sess.parameters if params is None else params
    fig.text(
        0.005, 0.002, provenance(notebook, params),
        fontsize=6, color="0.45", ha="left", va="bottom", transform=fig.transFigure,
    )
    # Leave room for the footer under the axes.
    if fig.get_layout_engine() is not None and hasattr(fig.get_layout_engine(), "set"):
        try:
            fig.get_layout_engine().set(rect=(0, 0.05, 1, 0.95))
        except TypeError:  # pragma: no cover - older layout engines
            pass
    if path is not None:
        fig.savefig(path, dpi=100)
    if show:
        plt.show()


def data_note(ax: plt.Axes, text: str) -> None:
    """Write a small note in the lower-right corner of ``ax``, e.g. ``"data: scikit-learn digits"``."""
    ax.text(0.99, 0.01, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.35")
