"""The catalog of paper items, the execution manifest, the ledger page and the toc.

* The **catalog** (``notebooks/catalog.yml``) lists every paper item that needs a
  notebook, with its status (``todo`` or ``done``).
* The **manifest** (``book/_manifest.json``) records, for each executed notebook,
  the key it was executed under, its status, its number of checks and runtime.
  The key hashes the notebook source, its parameters, the ``eoslib`` modules it
  imports (transitively) and the pinned dependencies, because Jupyter Book's own
  cache cannot see a change inside an imported library.
* The **ledger** (``book/ledger.md``) and ``_toc.yml`` are generated from both.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

__all__ = [
    "Project",
    "CatalogEntry",
    "load_catalog",
    "eoslib_dependencies",
    "notebook_key",
    "load_manifest",
    "save_manifest",
    "update_manifest",
    "count_checks",
    "render_ledger",
    "render_toc",
    "done_notebooks",
    "eoslib_calls",
    "render_items",
    "PAPER_ORDER",
]

PAPER_ORDER = ("product_stability", "gfs_sharpness", "self_stabilization", "two_step")


@dataclass(frozen=True)
class Project:
    """Paths of a checkout (everything is relative to ``root``)."""

    root: Path

    @classmethod
    def find(cls, start: Path | None = None) -> "Project":
        """The enclosing checkout: the first parent holding ``_toc.yml`` and ``eoslib/``."""
        here = (start or Path.cwd()).resolve()
        for p in (here, *here.parents):
            if (p / "eoslib").is_dir() and (p / "notebooks").is_dir():
                return cls(p)
        # Fall back to the package's own checkout (editable install).
        return cls(Path(__file__).resolve().parent.parent)

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def book(self) -> Path:
        return self.root / "book"

    @property
    def catalog(self) -> Path:
        return self.notebooks / "catalog.yml"

    @property
    def manifest(self) -> Path:
        return self.book / "_manifest.json"

    @property
    def package(self) -> Path:
        return self.root / "eoslib"

    def sources(self) -> list[Path]:
        """All notebook sources, sorted."""
        return sorted(self.notebooks.glob("*/*.md"))


@dataclass(frozen=True)
class CatalogEntry:
    """One paper item."""

    paper: str
    item: str
    kind: str
    title: str
    notebook: str
    status: str
    includes: tuple[str, ...] = ()


def load_catalog(project: Project) -> tuple[dict[str, Any], list[CatalogEntry]]:
    """Read the catalog.

    Returns:
      ``(papers, entries)``: paper metadata by key, and the item entries in file order.
    """
    data = yaml.safe_load(project.catalog.read_text())
    entries = [
        CatalogEntry(
            paper=e["paper"], item=e["item"], kind=e["kind"], title=e.get("title", ""),
            notebook=e["notebook"], status=e.get("status", "todo"), includes=tuple(e.get("includes") or ()),
        )
        for e in data["items"]
    ]
    return data.get("papers", {}), entries


# --- staleness -----------------------------------------------------------------------------------

def _imported_eoslib_modules(code: str) -> set[str]:
    """Names ``eoslib.x[.y]`` imported by a piece of code (``import eoslib`` means the whole package)."""
    mods: set[str] = set()
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return {"eoslib"}  # cannot tell: depend on everything
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods.update(a.name for a in node.names if a.name.split(".")[0] == "eoslib")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "eoslib":
                # `from eoslib import checks` needs checks.py; `from eoslib import some_function`
                # needs whatever __init__ re-exports it from, i.e. the package ("eoslib").
                if node.module != "eoslib":
                    mods.add(node.module)
                mods.update(f"{node.module}.{a.name}" for a in node.names)
    return mods


def _module_file(package_root: Path, module: str) -> Path | None:
    rel = Path(*module.split(".")[1:])
    for cand in (package_root / rel.with_suffix(".py"), package_root / rel / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _relative_imports(path: Path, package_root: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    pkg = ["eoslib", *path.relative_to(package_root).parent.parts]
    mods: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = pkg[: len(pkg) - (node.level - 1)]
            mod = ".".join(base + ([node.module] if node.module else []))
            mods.add(mod)
            mods.update(f"{mod}.{a.name}" for a in node.names)
    return mods


def eoslib_dependencies(code: str, package_root: Path) -> list[Path]:
    """The ``eoslib`` source files a notebook depends on, following imports transitively.

    ``from eoslib.papers import two_step`` depends on ``papers/two_step.py`` and what
    it imports, not on unrelated papers. A bare ``import eoslib`` (or any use of
    the package ``__init__``) depends on the whole package, because ``__init__``
    re-exports everything.

    Args:
      code: the notebook's code cells, concatenated.
      package_root: the ``eoslib/`` directory.

    Returns:
      Sorted source paths.
    """
    todo = list(_imported_eoslib_modules(code))
    seen_mods: set[str] = set()
    files: set[Path] = set()
    while todo:
        mod = todo.pop()
        if mod in seen_mods:
            continue
        seen_mods.add(mod)
        if mod == "eoslib":
            files.update(package_root.rglob("*.py"))
            continue
        path = _module_file(package_root, mod)
        if path is None:
            parent = mod.rpartition(".")[0]
            if parent == "eoslib":  # a name re-exported by the package __init__
                todo.append("eoslib")
            continue
        if path in files:
            continue
        files.add(path)
        tree_mods = _imported_eoslib_modules(path.read_text()) | _relative_imports(path, package_root)
        todo.extend(m for m in tree_mods if m != "eoslib")
    return sorted(files)


def _dependency_lock(project: Project) -> str:
    """The pinned dependencies (the ``[project]`` tables of pyproject.toml)."""
    import tomllib

    data = tomllib.loads((project.root / "pyproject.toml").read_text())
    proj = data.get("project", {})
    return json.dumps({"deps": proj.get("dependencies", []), "extras": proj.get("optional-dependencies", {})},
                      sort_keys=True)


def notebook_key(project: Project, source_path: Path, parameters: dict[str, Any] | None = None) -> str:
    """The staleness key of a notebook: source, parameters, eoslib dependencies, dependency lock."""
    import jupytext

    text = source_path.read_bytes()
    nb = jupytext.reads(text.decode(), fmt="md:myst")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    h = hashlib.sha256()
    h.update(b"source\0" + text)
    h.update(b"params\0" + json.dumps(parameters or {}, sort_keys=True).encode())
    for dep in eoslib_dependencies(code, project.package):
        h.update(b"dep\0" + dep.relative_to(project.root).as_posix().encode() + b"\0" + dep.read_bytes())
    h.update(b"lock\0" + _dependency_lock(project).encode())
    return h.hexdigest()


def load_manifest(project: Project) -> dict[str, dict[str, Any]]:
    """The manifest: notebook source (posix, relative) -> record."""
    if not project.manifest.is_file():
        return {}
    return json.loads(project.manifest.read_text())


def save_manifest(project: Project, manifest: dict[str, dict[str, Any]]) -> None:
    """Write the manifest atomically (sorted, stable diffs)."""
    tmp = project.manifest.with_suffix(".json.tmp")
    project.manifest.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    tmp.replace(project.manifest)


def update_manifest(project: Project, source: str, record: dict[str, Any]) -> None:
    """Set one notebook's record, merging with what is on disk under a file lock.

    Several builds (or ``eoslib run`` calls) may finish at the same time; each rewrites only
    its own entry, so none loses another's.
    """
    import fcntl

    project.manifest.parent.mkdir(parents=True, exist_ok=True)
    lock = project.manifest.with_suffix(".json.lock")
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            manifest = load_manifest(project)
            manifest[source] = record
            save_manifest(project, manifest)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


_CHECK_LINE = re.compile(r"^(PASS|FAIL) ", re.M)


def count_checks(executed: Path) -> tuple[int, int]:
    """(passed, failed) check lines printed in an executed notebook."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    passed = failed = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            for m in _CHECK_LINE.finditer(text if isinstance(text, str) else "".join(text)):
                if m.group(1) == "PASS":
                    passed += 1
                else:
                    failed += 1
    return passed, failed


# --- generated pages -----------------------------------------------------------------------------

def _doc_of(notebook: str) -> str:
    """``notebooks/<paper>/<item>.md`` -> the book document ``book/<paper>/<item>``."""
    return "book/" + Path(notebook).relative_to("notebooks").with_suffix("").as_posix()


def render_ledger(project: Project) -> str:
    """The ledger page: every catalog item with its notebook, status, checks and runtime."""
    papers, entries = load_catalog(project)
    manifest = load_manifest(project)
    lines = [
        "# Ledger",
        "",
        "Every numbered result and figure of the four papers, with the notebook that checks or",
        "regenerates it. *pass*: the notebook ran and all its checks held; *fail*: its last run failed",
        "(the book keeps the previous output); *todo*: not implemented yet. This page is generated by",
        "`eoslib ledger` from `notebooks/catalog.yml` and `book/_manifest.json`.",
        "",
    ]
    totals = {"pass": 0, "fail": 0, "todo": 0}
    for paper in _paper_order(entries):
        meta = papers.get(paper, {})
        lines += [f"## {meta.get('title', paper)}", ""]
        lines += ["| item | kind | notebook | status | checks | runtime (s) |", "|---|---|---|---|---|---|"]
        for e in (e for e in entries if e.paper == paper):
            rec = manifest.get(e.notebook)
            if e.status != "done" or rec is None:
                status, checks, runtime, link = "todo", "–", "–", f"`{e.notebook}` (missing)"
            else:
                status = rec.get("status", "fail")
                checks = str(rec.get("checks", 0))
                runtime = f"{rec.get('runtime_s', 0):.0f}"
                link = f"{{doc}}`{e.item} <{_rel_doc(_doc_of(e.notebook))}>`"
            totals[status] = totals.get(status, 0) + 1
            extra = f" (with {', '.join(e.includes)})" if e.includes else ""
            lines.append(f"| {e.item}{extra} | {e.kind} | {link} | {status} | {checks} | {runtime} |")
        lines.append("")
    summary = ", ".join(f"{v} {k}" for k, v in totals.items())
    lines.insert(7, f"**Totals:** {summary}.\n")
    return "\n".join(lines) + "\n"


def _paper_order(entries: list[CatalogEntry]) -> list[str]:
    """The four papers in book order, then any other paper in catalog order."""
    named = [p for p in PAPER_ORDER if any(e.paper == p for e in entries)]
    return named + list(dict.fromkeys(e.paper for e in entries if e.paper not in PAPER_ORDER))


def _rel_doc(doc: str) -> str:
    """A ``{doc}`` target relative to ``book/ledger.md``."""
    return doc.removeprefix("book/")


def render_toc(project: Project) -> str:
    """``_toc.yml``: intro, then per paper its chapter page and its done notebooks, then ledger and references."""
    papers, entries = load_catalog(project)
    lines = [
        "# Generated by `eoslib ledger` from notebooks/catalog.yml; tests/test_catalog.py checks it is current.",
        "format: jb-book",
        "root: book/intro",
        "parts:",
        "  - caption: Papers",
        "    chapters:",
    ]
    for paper in _paper_order(entries):
        done = done_notebooks(e for e in entries if e.paper == paper)
        if not (project.book / paper / "index.md").is_file():
            # A paper without a chapter page cannot host notebook pages: list them flat.
            lines += [f"      - file: {_doc_of(nb)}" for nb in done]
            continue
        lines.append(f"      - file: book/{paper}/index")
        if done:
            lines.append("        sections:")
            lines += [f"          - file: {_doc_of(nb)}" for nb in done]
    lines += [
        "  - caption: Reference",
        "    chapters:",
        "      - file: book/ledger",
        "      - file: book/bibliography",
    ]
    return "\n".join(lines) + "\n"


def done_notebooks(entries: Iterable[CatalogEntry]) -> list[str]:
    """Distinct notebook paths of done entries, in catalog order."""
    out: list[str] = []
    for e in entries:
        if e.status == "done" and e.notebook not in out:
            out.append(e.notebook)
    return out


# --- item -> notebook -> eoslib map ---------------------------------------------------------------

def eoslib_calls(code: str) -> list[str]:
    """The ``eoslib`` functions a notebook calls, as ``module.function``.

    Follows ``from eoslib.papers import product_stability as ps`` / ``from eoslib import gd`` style
    imports and records every ``alias.name(...)`` call, the paper module's first, so that a reader
    can jump from a page to the code behind it. ``checks`` and ``plotting`` calls are left out:
    every notebook uses them.
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "eoslib":
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "eoslib" and a.asname:
                    aliases[a.asname] = a.name
    found: list[tuple[bool, int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            parts: list[str] = []
            f = node.func
            while isinstance(f, ast.Attribute):
                parts.append(f.attr)
                f = f.value
            # `alias.f(...)` only: `losses.TABLE_1.items()` is a method of data, not an eoslib function.
            if isinstance(f, ast.Name) and f.id in aliases and len(parts) == 1:
                full = f"{aliases[f.id]}.{parts[0]}".removeprefix("eoslib.")
                if full.split(".")[0] not in ("checks", "plotting"):
                    found.append((not full.startswith("papers."), node.lineno, node.col_offset, full))
    # The paper's own functions first, then the shared core, each in source order.
    return list(dict.fromkeys(name for *_, name in sorted(found)))


def render_items(project: Project, paper: str) -> str:
    """The generated item map of one chapter page: item, notebook page, status, eoslib functions."""
    import jupytext

    _, entries = load_catalog(project)
    manifest = load_manifest(project)
    lines = ["| item | page | status | eoslib functions it calls |", "|---|---|---|---|"]
    for e in (e for e in entries if e.paper == paper):
        rec = manifest.get(e.notebook)
        if e.status == "done" and rec is not None and (project.root / e.notebook).is_file():
            page = f"{{doc}}`{Path(e.notebook).stem} <{Path(e.notebook).stem}>`"
            nb = jupytext.read(project.root / e.notebook)
            code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
            funcs = ", ".join(f"`{c}`" for c in eoslib_calls(code)[:8]) or "–"
            status = rec.get("status", "fail")
        else:
            page, funcs, status = f"`{e.notebook}` (missing)", "–", "todo"
        lines.append(f"| {e.item} | {page} | {status} | {funcs} |")
    return ("<!-- Generated by `eoslib ledger`; do not edit. -->\n\n" + "\n".join(lines) + "\n")
