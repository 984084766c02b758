"""One house style for every figure, and a provenance footer on each.

Every figure in the book is traceable to the run that made it: :func:`save_figure` writes a
footer into the image itself with the exact command that reproduces it
(``eoslib run notebooks/<paper>/<slug>.md [-p name value ...]``), the run's manifest key, the
commit if the code was committed, and the date. A figure copied out of the book still says
where it came from.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any, Mapping

import matplotlib as mpl
import matplotlib.pyplot as plt

__all__ = ["HOUSE_STYLE", "use_house_style", "provenance", "save_figure", "data_note"]

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


def provenance(notebook: str, params: Mapping[str, Any] | None = None, *, key: str = "", commit: str = "") -> str:
    """The footer text: the exact rerun command, the run's key, the commit (if clean) and the date.

    Args:
      notebook: the notebook source path, e.g. ``"notebooks/two_step/figure_7.md"``.
      params: the parameters that differ from the notebook's defaults (all of them if unknown).
      key: the manifest key of the run (shown to 12 digits), or ``""``.
      commit: the commit the code was clean at, or ``""``: then no commit is named, because
        the figure was not made by any commit.

    Returns:
      Two or more lines of text.
    """
    import textwrap

    from eoslib.book.parameters import rerun_command

    date = os.environ.get("EOSLIB_DATE") or _dt.date.today().isoformat()
    command = textwrap.wrap(rerun_command(notebook, params), width=150, break_on_hyphens=False,
                            subsequent_indent="    ")
    ident = [f"key {key[:12]}" if key else "key unknown (not run by the eoslib runner)"]
    if commit:
        ident.append(f"commit {commit}")
    ident.append(date)
    return "\n".join([*command, " | ".join(ident)])


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
      params: the parameters it was made with, shown as ``-p`` options of the rerun command;
        default: the session's non-default parameters.
      path: if given, also write a PNG there.
      show: display it inline (``plt.show()``).

    Raises:
      ValueError: outside a runner-executed notebook, if ``notebook`` is not given.
    """
    from eoslib import session

    sess = session.current()
    key = commit = ""
    if notebook is None:
        if sess is None:
            raise ValueError("save_figure: give notebook= (and params=), or run the notebook "
                             "through the eoslib runner (which records them)")
        notebook = sess.notebook
    if sess is not None and sess.notebook == notebook:
        key, commit = sess.key, sess.commit
        if params is None:
            params = sess.overrides
    fig.text(
        0.005, 0.002, provenance(notebook, params, key=key, commit=commit),
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
