"""A Sphinx extension: render eoslib docstrings as the plain text they are written in.

eoslib docstrings follow the Google style (read by ``sphinx.ext.napoleon``) and use RST only
for ````literals````, roles (``:func:`...```) , ``*emphasis*`` and bullet lists. Their
mathematics is plain text: ``|z - z*|``, ``x**2``, ``l''``. Read as RST, ``|...|`` is a
substitution, a lone ``*`` opens emphasis and ``word_`` is a link, so the strict book build
would fail on correct docstrings. This extension escapes those characters outside literals,
roles, emphasis, literal blocks and tables, after napoleon has run.

It also drops the docstring that a module-level constant inherits from its type (a ``dict``'s
constructor documentation is not the documentation of ``HOUSE_STYLE``).
"""

from __future__ import annotations

import inspect
import re
from typing import Any

__all__ = ["escape_plain_text", "setup"]

# Segments left alone: inline literals, roles and interpreted text, emphasis and strong emphasis.
_PROTECTED = re.compile(
    r"``.+?``"
    r"|:[\w.+-]+(?::[\w.+-]+)*:`[^`]*`"
    r"|`[^`]+`_{0,2}"
    r"|(?<![\w*\\])\*\*(?=\S)[^*]+?(?<=\S)\*\*(?![\w*])"
    r"|(?<![\w*\\])\*(?=[^\s*])[^*]*?(?<=[^\s*\\])\*(?![\w*])"
)
_BULLET = re.compile(r"^(\s*)([*+-]\s+)")
_TABLE_ROW = re.compile(r"^\s*[|+].*[|+]\s*$")
_FIELD = re.compile(r"^(\s*:[^:`]+:)(\s|$)")
_LEADING_ROLE = re.compile(r"^(\s*)(:[\w.+-]+:`)")


def _escape_segment(text: str) -> str:
    text = re.sub(r"(?<!\\)([|*])", r"\\\1", text)
    # `word_` is a hyperlink reference in RST.
    return re.sub(r"(?<=\w)_(?=\W|$)", r"\\_", text)


def _escape_line(line: str) -> str:
    prefix = ""
    if m := _BULLET.match(line):
        prefix, line = line[: m.end()], line[m.end():]
    elif m := _FIELD.match(line):  # napoleon's `:param x:` / `:returns:` fields
        prefix, line = line[: m.end(1)], line[m.end(1):]
    out, pos = [], 0
    for m in _PROTECTED.finditer(line):
        out.append(_escape_segment(line[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_escape_segment(line[pos:]))
    # A line that starts with a role would start a field list; an escaped space prevents it.
    return _LEADING_ROLE.sub(r"\1\\ \2", prefix + "".join(out), count=1)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def escape_plain_text(lines: list[str]) -> list[str]:
    """Escape RST-significant plain-text characters in docstring lines (see the module doc).

    Literal blocks (after a line ending in ``::``, including directives such as ``.. math::``),
    doctest blocks and table rows are kept verbatim.
    """
    out: list[str] = []
    verbatim_indent: int | None = None  # inside a literal block deeper than this indent
    doctest = False
    for line in lines:
        stripped = line.strip()
        if verbatim_indent is not None:
            if not stripped or _indent(line) > verbatim_indent:
                out.append(line)
                continue
            verbatim_indent = None
        if doctest:
            if stripped:
                out.append(line)
                continue
            doctest = False
        if stripped.startswith(">>>"):
            doctest = True
            out.append(line)
            continue
        if stripped.startswith(".. ") or _TABLE_ROW.match(line):
            out.append(line)
        else:
            out.append(_escape_line(line))
        if stripped.endswith("::"):
            verbatim_indent = _indent(line)
    return out


def _process_docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    if what in ("data", "attribute") and lines:
        inherited = inspect.getdoc(type(obj)) or ""
        if inherited and "\n".join(lines).strip() == inherited.strip():
            lines[:] = []
            return
    if name.startswith("eoslib."):
        lines[:] = escape_plain_text(lines)


def setup(app: Any) -> dict[str, Any]:
    # After napoleon (priority 500), so that its generated field lists are what gets escaped.
    app.connect("autodoc-process-docstring", _process_docstring, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
