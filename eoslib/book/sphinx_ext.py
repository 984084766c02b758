"""The book's Sphinx extension (listed in _config.yml): plain-text docstrings, one copy of each script.

**Docstrings.** 
eoslib docstrings follow the Google style (read by ``sphinx.ext.napoleon``) and use RST only
for ````literals````, roles (``:func:`...```) , ``*emphasis*`` and bullet lists. Their
mathematics is plain text: ``|z - z*|``, ``x**2``, ``l''``. Read as RST, ``|...|`` is a
substitution, a lone ``*`` opens emphasis and ``word_`` is a link, so the strict book build
would fail on correct docstrings. This extension escapes those characters outside literals,
roles, emphasis, literal blocks and tables, after napoleon has run.

It also drops the docstring that a module-level constant inherits from its type (a ``dict``'s
constructor documentation is not the documentation of ``HOUSE_STYLE``).

**Scripts.** sphinx-thebe (loaded by Jupyter Book even with launch buttons off) registers its
configuration script once per read, so pages declared ``const THEBE_JS_URL`` twice and every page
logged a JavaScript error; each page now gets one copy of every script.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

__all__ = ["escape_plain_text", "unique_scripts", "setup"]

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


_ENUMERATOR = re.compile(r"^(\s*)\((\w)\) ")


def tidy_google_sections(lines: list[str]) -> list[str]:
    """Fix two plain-text habits of our docstrings before napoleon parses them.

    A sentence such as "Other arguments as in :func:`gd_trajectory`." written inside an ``Args:``
    block ends napoleon's field list without a blank line; it moves after the block. A line that
    starts with "(b) ..." reads as an enumerated list in reST; its parenthesis is escaped.
    """
    out: list[str] = []
    moved: list[str] = []
    for line in lines:
        if line.strip().startswith("Other arguments as in"):
            moved.append(line.strip())
            continue
        out.append(_ENUMERATOR.sub(r"\1\\(\2) ", line))
    if moved:
        out += [""] + moved
    return out


def _tidy_docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    if name.startswith("eoslib."):
        lines[:] = tidy_google_sections(lines)


def _script_key(js: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    attributes = getattr(js, "attributes", {}) or {}
    # An inline script has filename None or "" depending on who added it.
    return str(getattr(js, "filename", js) or ""), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def unique_scripts(scripts: list[Any]) -> list[Any]:
    """The scripts in order, without repeats (same file or inline body, same attributes)."""
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    out = []
    for js in scripts:
        key = _script_key(js)
        if key not in seen:
            seen.add(key)
            out.append(js)
    return out


def _dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    # In place: the list is the builder's, which later handlers append to. Early: the event stops
    # at the first handler that returns a template (the themes' do).
    scripts = context.get("script_files")
    if isinstance(scripts, list):
        scripts[:] = unique_scripts(scripts)


def setup(app: Any) -> dict[str, Any]:
    # After napoleon (priority 500), so that its generated field lists are what gets escaped.
    app.connect("autodoc-process-docstring", _tidy_docstring, priority=400)  # before napoleon (500)
    app.connect("autodoc-process-docstring", _process_docstring, priority=600)
    app.connect("html-page-context", _dedupe_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
