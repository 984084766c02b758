"""Provenance: what made an executed notebook, and whether it is still current.

The **key** of a notebook run hashes everything that can change its output: the notebook
source, its non-default parameters, the ``eoslib`` modules it imports (followed transitively,
including the modules of the runner's injected session cell) and the pinned dependencies.
Jupyter Book's own cache cannot see a change inside an imported library; this key can.

The **commit** is stamped on a figure only when the code and notebooks were clean in git, so a
footer never names a commit that did not make it.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import subprocess
import tokenize
from pathlib import Path
from typing import Any, Mapping

from eoslib.book.catalog import Project

__all__ = [
    "INJECTED_IMPORTS",
    "eoslib_dependencies",
    "dependency_lock",
    "code_fingerprint",
    "notebook_key",
    "clean_commit",
    "short_key",
]

#: The imports of the runner's injected cells (see :func:`eoslib.book.runner.with_session_cells`);
#: every executed notebook depends on them.
INJECTED_IMPORTS = "from eoslib import session\n"

#: Paths whose uncommitted changes make a figure's commit meaningless.
CODE_PATHS = ("eoslib", "notebooks", "pyproject.toml")


def _imported_eoslib_modules(code: str) -> set[str]:
    """Modules ``eoslib.x[.y]`` imported by a piece of code (``import eoslib`` means the whole package)."""
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
                # `from eoslib import checks` needs checks.py; `from eoslib.x import f` needs x.
                if node.module != "eoslib":
                    mods.add(node.module)
                mods.update(f"{node.module}.{a.name}" for a in node.names)
    return mods


def _relative_imports(path: Path, package_root: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    rel = path.relative_to(package_root)
    pkg = ["eoslib", *rel.parent.parts]
    mods: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = pkg[: len(pkg) - (node.level - 1)]
            mod = ".".join(base + ([node.module] if node.module else []))
            mods.add(mod)
            mods.update(f"{mod}.{a.name}" for a in node.names)
    return mods


def _module_file(package_root: Path, module: str) -> Path | None:
    rel = Path(*module.split(".")[1:])
    for cand in (package_root / rel.with_suffix(".py"), package_root / rel / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _parents(module: str) -> list[str]:
    """``eoslib.a.b.c`` -> ``[eoslib.a, eoslib.a.b]``: Python runs those packages' ``__init__`` first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def eoslib_dependencies(code: str, package_root: Path) -> list[Path]:
    """The ``eoslib`` source files some code depends on, following imports transitively.

    ``from eoslib.papers import two_step`` depends on the ``two_step`` package and what it
    imports, not on unrelated papers. Importing ``eoslib.a.b`` also runs ``eoslib/a/__init__.py``.
    A bare ``import eoslib`` depends on the whole science package. The package's own lazy
    ``__init__`` and the pipeline (``eoslib/book/``, except what the kernel imports) are not
    dependencies: they cannot change a notebook's output.

    Args:
      code: the notebook's code cells, concatenated.
      package_root: the ``eoslib/`` directory.

    Returns:
      Sorted source paths.
    """
    todo = list(_imported_eoslib_modules(code))
    seen: set[str] = set()
    files: set[Path] = set()
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        if mod == "eoslib":
            files.update(p for p in package_root.rglob("*.py")
                         if p.relative_to(package_root).parts[0] not in ("book", "__init__.py", "__main__.py"))
            continue
        todo.extend(_parents(mod))
        path = _module_file(package_root, mod)
        if path is None:
            parent = mod.rpartition(".")[0]
            if parent == "eoslib":  # a name the package __init__ would have to provide
                todo.append("eoslib")
            continue
        if path in files:
            continue
        files.add(path)
        found = _imported_eoslib_modules(path.read_text()) | _relative_imports(path, package_root)
        todo.extend(m for m in found if m != "eoslib")
    return sorted(files)


#: The extras that run in or around a notebook's kernel; pins of the others (test, sweep) cannot
#: change an executed notebook.
KERNEL_EXTRAS = ("book",)


def dependency_lock(project: Project) -> str:
    """The pins a notebook run depends on (core dependencies and the ``book`` extra), as JSON."""
    import tomllib

    data = tomllib.loads((project.root / "pyproject.toml").read_text())
    proj = data.get("project", {})
    extras = {k: v for k, v in proj.get("optional-dependencies", {}).items() if k in KERNEL_EXTRAS}
    return json.dumps({"deps": proj.get("dependencies", []), "extras": extras}, sort_keys=True)


def _docstring_lines(tree: ast.Module, lines: list[str]) -> set[int]:
    """1-based line numbers that hold only a docstring (module, class or function)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body = node.body
        if not (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            continue
        doc = body[0]
        end = doc.end_lineno or doc.lineno
        # Only a docstring that has its lines to itself (not `def f(): "doc"; x = 1`).
        if lines[doc.lineno - 1][: doc.col_offset].strip() or lines[end - 1][doc.end_col_offset or 0:].strip():
            continue
        found.update(range(doc.lineno, end + 1))
    return found


def code_fingerprint(source: str) -> bytes:
    """A module's source without its docstrings, comments and blank lines.

    Editing a docstring or a comment cannot change a notebook's output, so it must not make the
    notebook stale. Docstrings are found with :mod:`ast` and comments with :mod:`tokenize`; both
    report positions that every supported Python version agrees on, and the result is source text
    (not an ``ast.dump``), so the key is the same under any Python that runs the book.

    Args:
      source: Python source text.

    Returns:
      The code lines, right-stripped, joined by newlines (UTF-8). Unparsable source is returned
      unchanged, so that any edit to it still changes the key.
    """
    try:
        tree = ast.parse(source)
        comments = [tok.start for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                    if tok.type == tokenize.COMMENT]
    except (SyntaxError, tokenize.TokenError):
        return source.encode()
    lines = source.splitlines()
    for row, col in comments:
        lines[row - 1] = lines[row - 1][:col]
    skip = _docstring_lines(tree, source.splitlines())
    kept = [line.rstrip() for i, line in enumerate(lines, start=1) if i not in skip and line.strip()]
    return "\n".join(kept).encode()


def notebook_key(project: Project, source_path: Path, parameters: Mapping[str, Any] | None = None) -> str:
    """The staleness key of a notebook run.

    Args:
      project: the checkout.
      source_path: the jupytext source.
      parameters: the run's *non-default* parameters (see
        :func:`eoslib.book.parameters.non_default`); a default run passes none.

    Returns:
      A sha256 hex digest of the source, the parameters, the code (see
      :func:`code_fingerprint`) of the eoslib modules the notebook and the injected cells import,
      and the dependency pins.
    """
    import jupytext

    text = Path(source_path).read_bytes()
    nb = jupytext.reads(text.decode(), fmt="md:myst")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code") + "\n" + INJECTED_IMPORTS
    h = hashlib.sha256()
    h.update(b"source\0" + text)
    h.update(b"params\0" + json.dumps(dict(parameters or {}), sort_keys=True, default=repr).encode())
    for dep in eoslib_dependencies(code, project.package):
        h.update(b"dep\0" + dep.relative_to(project.root).as_posix().encode() + b"\0"
                 + code_fingerprint(dep.read_text()))
    h.update(b"lock\0" + dependency_lock(project).encode())
    return h.hexdigest()


def short_key(key: str) -> str:
    """The first 12 hex digits of a key, as shown on figures and pages."""
    return key[:12]


def clean_commit(project: Project) -> str:
    """The short commit of ``HEAD`` if the code, notebooks and pins are committed, else ``""``.

    An executed notebook made from uncommitted code is identified by its key alone.
    """
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=project.root,
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *CODE_PATHS], cwd=project.root,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return "" if dirty else rev
