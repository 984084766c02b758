"""Result tables in notebooks, as Markdown: the book typesets their math and scrolls them if wide.

A table shown with ``display(HTML(...))`` is opaque to the book: its ``\\(...\\)`` stays raw TeX
unless the page's MathJax is told to look inside outputs, and its columns cannot adapt. A
Markdown table is parsed by the book like the page's own text (``$...$`` is math, typeset by
MathJax), is rendered by Jupyter, JupyterLab and Colab alike, and sits in a block that scrolls
horizontally when the table is wider than the reading column::

    from eoslib import tables
    tables.show_table([[0.2, 0.99936, 1.0003], [0.1, 0.99984, 1.00076]],
                      headers=[r"$\\eta$", "BCE $y=0.2$", "BCE $y=0.5$"],
                      caption=r"Ratio of the measured gap $2/\\eta-S_\\infty$ to the predicted gap.",
                      digits=5)

Table cells are **not** compared by nbval (only the check lines of tagged cells are): a number
in a table is a view; the check that asserts it is the test.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any, Sequence

__all__ = ["format_cell", "markdown_table", "show_table"]


def format_cell(value: Any, digits: int = 6, fmt: str | None = None) -> str:
    """One cell as Markdown: numbers to ``digits`` significant digits, or with the format spec
    ``fmt`` (e.g. ``".5f"``) if given (``inf``, ``nan`` as ``$\\infty$``, ``nan``); strings as
    they are (``$...$`` is math, so a column can be pre-formatted); ``|`` escaped.

    Raises:
      ValueError: ``digits`` outside [1, 17].
    """
    if not 1 <= digits <= 17:
        raise ValueError(f"digits must be in [1, 17], got {digits}")
    if isinstance(value, bool):
        text = str(value)
    elif isinstance(value, numbers.Integral):
        text = str(int(value))
    elif isinstance(value, numbers.Real):
        x = float(value)
        if math.isnan(x):
            text = "nan"
        elif math.isinf(x):
            text = "$\\infty$" if x > 0 else "$-\\infty$"
        elif fmt is not None:
            text = format(x, fmt)
        else:
            text = f"{x:.{digits}g}"
            text = re.sub(r"e([+-])0*(\d+)$", lambda m: f"e{'-' if m.group(1) == '-' else ''}{m.group(2)}", text)
    elif value is None:
        text = ""
    else:
        text = str(value)
    return _escape(text)


def _escape(text: str) -> str:
    """Escape ``|`` (a column separator even inside math) and newlines."""
    out = []
    for i, part in enumerate(re.split(r"(\$[^$]*\$)", text)):
        if i % 2:  # math: a bar is \vert, which MathJax reads like |
            out.append(part.replace("\\|", "\\Vert ").replace("|", "\\vert "))
        else:
            out.append(part.replace("|", "\\|"))
    return " ".join("".join(out).split("\n"))


def markdown_table(rows: Sequence[Sequence[Any]], headers: Sequence[Any], *, caption: str = "",
                   align: str | Sequence[str] | None = None, digits: int = 6, fmt: str | None = None) -> str:
    """A Markdown (GFM pipe) table.

    Args:
      rows: the rows; each as long as ``headers``.
      headers: the column headings (``$...$`` is math).
      caption: a sentence shown above the table (Markdown; ``$...$`` is math), or ``""``.
      align: per column ``"l"``, ``"c"`` or ``"r"`` (a string like ``"lrrr"`` or a list);
        default: numbers right, text left, by the first row.
      digits: significant digits of floating-point cells.
      fmt: a format spec for every floating-point cell instead (e.g. ``".5f"``).

    Returns:
      The Markdown text.

    Raises:
      ValueError: no headers, a row of the wrong length, or a bad ``align``.
    """
    headers = list(headers)
    if not headers:
        raise ValueError("headers must name at least one column")
    rows = [list(r) for r in rows]
    for i, r in enumerate(rows):
        if len(r) != len(headers):
            raise ValueError(f"rows[{i}] has {len(r)} cells; headers has {len(headers)} columns")
    if align is None:
        first = rows[0] if rows else [""] * len(headers)
        align = ["r" if isinstance(v, numbers.Number) and not isinstance(v, bool) else "l" for v in first]
    align = list(align)
    if len(align) != len(headers) or any(a not in ("l", "c", "r") for a in align):
        raise ValueError(f"align must give one of l|c|r per column ({len(headers)}), got {align!r}")
    rule = {"l": ":--", "c": ":-:", "r": "--:"}
    lines = []
    if caption:
        lines += [caption.strip(), ""]
    lines.append("| " + " | ".join(format_cell(h, digits) for h in headers) + " |")
    lines.append("|" + "|".join(rule[a] for a in align) + "|")
    lines += ["| " + " | ".join(format_cell(v, digits, fmt) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def show_table(rows: Sequence[Sequence[Any]], headers: Sequence[Any], *, caption: str = "",
               align: str | Sequence[str] | None = None, digits: int = 6, fmt: str | None = None) -> None:
    """Display :func:`markdown_table` as the cell's output (returns None: nothing shown twice).

    Same arguments and errors as :func:`markdown_table`.
    """
    from IPython.display import Markdown, display

    display(Markdown(markdown_table(rows, headers, caption=caption, align=align, digits=digits, fmt=fmt)))
