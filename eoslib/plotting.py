"""One house style for every figure, a provenance footer on each, and a numbered caption.

Every figure in the book is traceable to the run that made it: :func:`save_figure` writes a
footer into the image itself with the exact command that reproduces it
(``eoslib run notebooks/<paper>/<slug>.md [-p name value ...]``), the run's manifest key, the
commit if the code was committed, and the date. A figure copied out of the book still says
where it came from.

Under the image, :func:`save_figure` prints a caption a reader can read and copy from:
"**Figure n.** <what it shows>. Regenerates Figure k of <paper>." and the same provenance as
text. Figures are PNG at twice their nominal resolution ("retina"), displayed at their nominal
size, so they stay sharp when the book enlarges them on click.
"""

from __future__ import annotations

import datetime as _dt
import html as _html
import os
import re
from pathlib import Path
from typing import Any, Mapping

import matplotlib as mpl
import matplotlib.pyplot as plt

__all__ = ["HOUSE_STYLE", "DISPLAY_WIDTH_IN", "use_house_style", "provenance", "figure_caption",
           "save_figure", "data_note"]

#: The book's reading column at 1280 px is about 690 px, i.e. 6.9 in at the house 100 dpi: a
#: figure up to this wide is shown at its own size; a wider one is scaled down to the column
#: (and enlarges on click), so its text shrinks with it. Size multi-panel figures to this
#: width, or stack their panels.
DISPLAY_WIDTH_IN = 6.9

HOUSE_STYLE: dict[str, Any] = {
    # 100 dpi nominal; notebooks store PNGs at 2x (retina) for sharp display and zoom.
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
    """Apply the house matplotlib style, and 2x PNG ("retina") output in notebooks.

    Retina PNGs are drawn at twice the figure's dpi and carry their nominal size as display
    metadata, so the book shows them at that size, sharp on high-density screens and when
    enlarged. PNG rather than SVG: a scatter of thousands of points stays small.
    """
    mpl.rcParams.update(HOUSE_STYLE)
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina")
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


_FIGURES: dict[str, int] = {}  # figures shown so far, per notebook (one kernel runs one notebook)


def _project_root(start: Path) -> Path | None:
    for p in (start, *start.parents):
        if (p / "notebooks").is_dir() and (p / "eoslib").is_dir():
            return p
    return None


def _front_matter(notebook: str) -> tuple[dict[str, Any], Path | None]:
    """``paper`` and ``item`` of a notebook's ``eos`` front matter, and the checkout root.

    Read with a regular expression, not YAML: the core package does not depend on pyyaml
    (the ``book`` extra's). The front matter is one flow mapping,
    ``eos: {paper: two_step, item: "Figure 1", kind: figure, title: "..."}``, or a block.
    Returns ``({}, root)`` when it cannot be read: a caption without the paper's name is
    better than no figure.
    """
    root = _project_root(Path.cwd().resolve()) or _project_root(Path(__file__).resolve().parent)
    try:
        path = Path(notebook) if Path(notebook).is_absolute() else (root or Path.cwd()) / notebook
        text = path.read_text()
    except OSError:
        return {}, root
    if not text.startswith("---"):
        return {}, root
    head = text.split("---", 2)[1]
    eos: dict[str, Any] = {}
    if m := re.search(r"\bpaper:\s*[\"']?([\w-]+)", head):
        eos["paper"] = m.group(1)
    if m := re.search(r"\bitem:\s*(\[[^\]]*\]|\"[^\"]*\"|'[^']*'|[^,}\n]+)", head):
        value = m.group(1).strip()
        if value.startswith("["):
            eos["item"] = [v.strip().strip("\"'") for v in value[1:-1].split(",") if v.strip()]
        else:
            eos["item"] = value.strip("\"'")
    return eos, root


def _paper_label(root: Path | None, paper: str) -> str:
    """``"Chen and Bruna (2023)"``, from notebooks/catalog.yml; ``"the paper"`` if unknown."""
    try:
        text = (root / "notebooks" / "catalog.yml").read_text()  # type: ignore[operator]
        block = re.search(rf"^(\s+){re.escape(paper)}:\s*\n((?:\1\s+.*\n)+)", text, re.M)
        authors = re.search(r"authors:\s*[\"']?([^\"'\n]+)", block.group(2)).group(1)  # type: ignore[union-attr]
        year = re.search(r"year:\s*(\d{4})", block.group(2)).group(1)  # type: ignore[union-attr]
    except (OSError, AttributeError, TypeError):
        return "the paper"
    names = [a.strip().split()[-1] for a in re.split(r",|\band\b", authors) if a.strip()]
    who = names[0] if len(names) == 1 else (" and ".join(names) if len(names) == 2 else f"{names[0]} et al.")
    return f"{who} ({year})"


def _regenerated(notebook: str) -> str:
    """``"Figure 10 of Chen and Bruna (2023)"`` for a figure notebook, else ``""``."""
    eos, root = _front_matter(notebook)
    items = eos.get("item") or []
    items = [str(i) for i in (items if isinstance(items, (list, tuple)) else [items])]
    figures = [i for i in items if i.lower().startswith("figure")]
    if not figures:
        return ""
    numbers = [f.split(None, 1)[1] for f in figures if len(f.split(None, 1)) == 2]
    if len(figures) == 1 or len(numbers) != len(figures):
        names = ", ".join(figures)
    else:
        names = "Figures " + ", ".join(numbers[:-1]) + " and " + numbers[-1]
    return f"{names} of {_paper_label(root, str(eos.get('paper', '')))}"


def _text_with_math(text: str) -> str:
    """HTML-escape ``text``; ``$...$`` becomes ``\\(...\\)`` for MathJax (book and Jupyter)."""
    parts = re.split(r"(\$[^$]+\$)", text)
    return "".join(f"\\({_html.escape(p[1:-1], quote=False)}\\)" if p.startswith("$") and p.endswith("$") and len(p) > 1
                   else _html.escape(p, quote=False) for p in parts)


def _default_caption(fig: plt.Figure) -> str:
    sup = getattr(fig, "_suptitle", None)
    if sup is not None and sup.get_text().strip():
        return sup.get_text().strip()
    titles = [ax.get_title().strip() for ax in fig.axes if ax.get_title().strip()]
    return "; ".join(titles)


def figure_caption(number: int, caption: str, regenerates: str, provenance_text: str) -> str:
    """The HTML caption shown under a figure.

    Args:
      number: the figure's number on its page.
      caption: what the figure shows (``$...$`` is math); may be empty.
      regenerates: e.g. ``"Figure 10 of Chen and Bruna (2023)"``, or ``""``.
      provenance_text: the footer text (:func:`provenance`); its first line is the rerun command.

    Returns:
      A ``<div class="eoslib-figure-caption">`` with the caption paragraph and the provenance line.
    """
    sentence = caption.strip()
    if sentence and not sentence.endswith((".", "!", "?")):
        sentence += "."
    body = f"<strong>Figure {number}.</strong> {_text_with_math(sentence)}"
    if regenerates:
        body += f" Regenerates {_html.escape(regenerates, quote=False)}."
    lines = [ln.strip() for ln in provenance_text.splitlines() if ln.strip()]
    # The rerun command may be wrapped over several lines; the last line is "key | commit | date".
    command, ident = " ".join(lines[:-1]), lines[-1] if lines else ""
    prov = (f'<p class="eoslib-provenance">Made by <code>{_html.escape(command, quote=False)}</code>'
            f' &middot; {_html.escape(ident, quote=False)}</p>')
    return f'<div class="eoslib-figure-caption"><p>{body}</p>{prov}</div>'


def save_figure(
    fig: plt.Figure,
    *,
    caption: str | None = None,
    regenerates: str | None = None,
    notebook: str | None = None,
    params: Mapping[str, Any] | None = None,
    path: str | os.PathLike[str] | None = None,
    show: bool = True,
) -> None:
    """Stamp the provenance footer on a figure, optionally save it, show it and its caption.

    The caption under the figure reads "**Figure n.** <caption>. Regenerates Figure k of
    <paper>." followed by the rerun command, key, commit and date as text. The book uses the
    caption as the image's alt text.

    Returns nothing on purpose: a returned Figure at the end of a notebook cell would be
    displayed a second time and stored twice in the executed notebook.

    Args:
      fig: the figure.
      caption: what the figure shows, one or two sentences (``$...$`` for math); default: the
        figure's suptitle, else its axes titles.
      regenerates: the paper's figure it regenerates, e.g. ``"Figure 10 of Chen and Bruna
        (2023)"``; default: the notebook's front matter (its ``Figure`` items), ``""`` for none.
      notebook: path of the notebook source that made it; default: the running
        notebook's :mod:`eoslib.session` (set by the runner's injected cell).
      params: the parameters it was made with, shown as ``-p`` options of the rerun command;
        default: the session's non-default parameters.
      path: if given, also write a PNG there (at twice the figure's dpi).
      show: display it inline (``plt.show()``) with its caption.

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
    footer = provenance(notebook, params, key=key, commit=commit)
    fig.text(
        0.005, 0.002, footer,
        fontsize=6, color="0.45", ha="left", va="bottom", transform=fig.transFigure,
    )
    # Leave room for the footer under the axes.
    if fig.get_layout_engine() is not None and hasattr(fig.get_layout_engine(), "set"):
        try:
            fig.get_layout_engine().set(rect=(0, 0.05, 1, 0.95))
        except TypeError:  # pragma: no cover - older layout engines
            pass
    if path is not None:
        fig.savefig(path, dpi=2 * fig.dpi)
    if show:
        number = _FIGURES[notebook] = _FIGURES.get(notebook, 0) + 1
        text = _default_caption(fig) if caption is None else caption
        again = _regenerated(notebook) if regenerates is None else regenerates
        plt.show()
        try:
            from IPython.display import HTML, display

            display(HTML(figure_caption(number, text, again, footer)))
        except ImportError:  # pragma: no cover - outside IPython
            pass


def data_note(ax: plt.Axes, text: str) -> None:
    """Write a small note in the lower-right corner of ``ax``, e.g. ``"data: scikit-learn digits"``."""
    ax.text(0.99, 0.01, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.35")
