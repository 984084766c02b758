"""Which functions of ``eoslib/papers/<paper>/`` are *prediction functions*.

A prediction function is one whose value a ``claim`` or ``reconstructed`` check depends on. We find
them statically, without importing anything:

1. Each notebook ``notebooks/<paper>/*.md`` is cut into its code cells, and the cells are parsed
   together as one program.
2. For every ``checks.check*(...)`` call whose ``kind=`` is ``"claim"`` or ``"reconstructed"`` (or
   not a literal: counted, to be safe), we take a *backward slice*: the names the call reads, the
   loop headers and ``if`` tests that enclose it, then every statement that assigns one of those
   names, transitively. The slice is flow-insensitive (it over-approximates; it never misses).
3. Every ``<alias>.<name>`` (or imported ``<name>``) in the slice that resolves to a top-level
   function, a method's class, or a module-level constant of ``eoslib.papers.<paper>`` is a *root*.
4. The roots' callees inside the same paper package (same-module names and siblings' public names),
   transitively, are added: a mutant of a helper of a closed form is a mutant of the closed form.
   The plotting modules (``plots*.py``) are never targets.

Nothing here imports jax or eoslib.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PREDICTION_KINDS = ("claim", "reconstructed")
_MUTATORS = {"append", "extend", "update", "add", "insert", "setdefault", "pop", "remove", "clear", "sort",
             "fill", "put"}
_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.S | re.M)


@dataclass(frozen=True, order=True)
class Target:
    """One mutation target: a top-level function (or class method, ``Class.method``) or constant."""

    module: str  # dotted, e.g. eoslib.papers.two_step.quartic
    qualname: str  # "orbit_deltas", "Class.method" or a constant's name
    kind: str = "function"  # "function" | "constant"

    @property
    def path(self) -> Path:
        return ROOT / (self.module.replace(".", "/") + ".py")

    @property
    def key(self) -> str:
        return f"{self.module}:{self.qualname}"


@dataclass
class Selection:
    paper: str
    targets: dict[str, Target] = field(default_factory=dict)  # key -> target
    used_by: dict[str, set[str]] = field(default_factory=dict)  # key -> notebooks (roots only)
    roots: set[str] = field(default_factory=set)


def code_cells(md: str) -> list[str]:
    """The code cells of a jupytext MyST notebook, without their ``:option:`` lines and magics."""
    cells = []
    for body in _CELL.findall(md):
        lines = body.splitlines()
        while lines and (lines[0].startswith(":") or not lines[0].strip()):
            lines.pop(0)
        if lines and lines[0].strip() == "---":  # YAML cell options
            end = next((i for i, ln in enumerate(lines[1:], 1) if ln.strip() == "---"), 0)
            lines = lines[end + 1:]
        lines = [("pass  # " + ln) if ln.lstrip().startswith(("%", "!")) else ln for ln in lines]
        cells.append("\n".join(lines))
    return cells


def _parse_cells(md: str) -> list[ast.stmt]:
    stmts: list[ast.stmt] = []
    for cell in code_cells(md):
        try:
            stmts.extend(ast.parse(cell).body)
        except SyntaxError:
            continue
    return stmts


def _names_read(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _targets_of(stmt: ast.stmt) -> set[str]:
    """Names a statement binds (assignments, loop/with targets, function/class defs, imports)."""
    out: set[str] = set()
    if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        tgts = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        for t in tgts:
            out |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
            # x[k] = v / x.a = v: mutates x
    elif isinstance(stmt, (ast.For, ast.AsyncFor)):
        out |= {n.id for n in ast.walk(stmt.target) if isinstance(n, ast.Name)}
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        for item in stmt.items:
            if item.optional_vars is not None:
                out |= {n.id for n in ast.walk(item.optional_vars) if isinstance(n, ast.Name)}
    elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        out.add(stmt.name)
    elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        f = stmt.value.func  # x.append(...), x.update(...): x is written
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.attr in _MUTATORS:
            out.add(f.value.id)
    return out


def _is_prediction_check(call: ast.Call) -> bool:
    f = call.func
    if not (isinstance(f, ast.Attribute) and f.attr.startswith("check") and isinstance(f.value, ast.Name)
            and f.value.id == "checks"):
        return False
    for kw in call.keywords:
        if kw.arg == "kind":
            if isinstance(kw.value, ast.Constant):
                return kw.value.value in PREDICTION_KINDS
            return True  # not a literal: keep
    return True


def _flatten(stmts: list[ast.stmt]):
    """(statement, enclosing headers) for every simple statement, in order."""
    def walk(body, ctx):
        for s in body:
            if isinstance(s, (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try)):
                head = s.iter if isinstance(s, (ast.For, ast.AsyncFor)) else getattr(s, "test", None)
                hdr = ctx + ([(s, head)] if head is not None else [(s, None)])
                yield s, ctx  # the compound statement itself binds its targets
                for sub in ("body", "orelse", "finalbody"):
                    yield from walk(getattr(s, sub, []) or [], hdr)
                for h in getattr(s, "handlers", []) or []:
                    yield from walk(h.body, hdr)
            else:
                yield s, ctx
    yield from walk(stmts, [])


def notebook_slice(stmts: list[ast.stmt]) -> list[ast.AST]:
    """The statements/expressions the prediction checks of a notebook depend on."""
    flat = list(_flatten(stmts))
    binders: dict[str, list[tuple[ast.stmt, list]]] = {}
    for s, ctx in flat:
        for name in _targets_of(s):
            binders.setdefault(name, []).append((s, ctx))
    seeds: list[ast.AST] = []
    for s, ctx in flat:
        if isinstance(s, (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try)):
            continue
        calls = [n for n in ast.walk(s) if isinstance(n, ast.Call) and _is_prediction_check(n)]
        for c in calls:
            seeds.append(c)
            seeds.extend(h for _, h in ctx if h is not None)
    out: list[ast.AST] = []
    seen_nodes: set[int] = set()
    todo = list(seeds)
    seen_names: set[str] = set()
    while todo:
        node = todo.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        out.append(node)
        for name in _names_read(node) - seen_names:
            seen_names.add(name)
            for s, ctx in binders.get(name, []):
                if isinstance(s, (ast.For, ast.AsyncFor)):
                    todo.append(s.iter)
                elif isinstance(s, (ast.With, ast.AsyncWith)):
                    todo.extend(i.context_expr for i in s.items)
                else:
                    todo.append(s)
                todo.extend(h for _, h in ctx if h is not None)
    return out


# --- the paper package -----------------------------------------------------------------------

def _module_path(module: str) -> Path:
    p = ROOT / module.replace(".", "/")
    return p / "__init__.py" if p.is_dir() else p.with_suffix(".py")


def _resolve_from(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    pkg = module.split(".") if _module_path(module).name == "__init__.py" else module.split(".")[:-1]
    base = pkg[: len(pkg) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


class PackageIndex:
    """Top-level definitions and import tables of the modules of one paper package."""

    def __init__(self, paper: str):
        self.paper = paper
        self.pkg = f"eoslib.papers.{paper}"
        self.trees: dict[str, ast.Module] = {}
        for path in sorted((ROOT / "eoslib" / "papers" / paper).glob("*.py")):
            mod = self.pkg if path.name == "__init__.py" else f"{self.pkg}.{path.stem}"
            self.trees[mod] = ast.parse(path.read_text())

    def is_module(self, name: str) -> bool:
        return name in self.trees

    def defs(self, module: str) -> dict[str, ast.AST]:
        out: dict[str, ast.AST] = {}
        for s in self.trees[module].body:
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out[s.name] = s
            elif isinstance(s, (ast.Assign, ast.AnnAssign)):
                tgts = s.targets if isinstance(s, ast.Assign) else [s.target]
                for t in tgts:
                    if isinstance(t, ast.Name) and t.id != "__all__":
                        out[t.id] = s
        return out

    def imports(self, module: str) -> dict[str, tuple[str, str | None]]:
        """local name -> (module, attribute or None for a module alias), paper-internal only."""
        out: dict[str, tuple[str, str | None]] = {}
        for s in self.trees[module].body:
            if isinstance(s, ast.ImportFrom):
                src = _resolve_from(module, s)
                for a in s.names:
                    if a.name == "*":
                        if src in self.trees:
                            for name in self.defs(src):
                                out.setdefault(name, (src, name))
                        continue
                    full = f"{src}.{a.name}"
                    if full in self.trees:
                        out[a.asname or a.name] = (full, None)
                    elif src in self.trees:
                        out[a.asname or a.name] = (src, a.name)
            elif isinstance(s, ast.Import):
                for a in s.names:
                    if a.name in self.trees and a.asname:
                        out[a.asname] = (a.name, None)
        return out

    def resolve(self, module: str, name: str, depth: int = 0) -> Target | None:
        """The definition ``module.name`` refers to (following re-exports), or None."""
        if module not in self.trees or depth > 5:
            return None
        d = self.defs(module).get(name)
        if d is not None:
            if _is_plots(module):
                return None
            kind = "constant" if isinstance(d, (ast.Assign, ast.AnnAssign)) else "function"
            return Target(module, name, kind)
        imp = self.imports(module).get(name)
        if imp and imp[1] is not None:
            return self.resolve(imp[0], imp[1], depth + 1)
        return None

    def node(self, t: Target) -> ast.AST:
        return self.defs(t.module)[t.qualname.split(".")[0]]

    def callees(self, t: Target) -> set[Target]:
        """Paper-internal definitions a target's body refers to."""
        node = self.node(t)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body  # decorators and defaults are not the closed form
        else:
            body = [node]
        imps = self.imports(t.module)
        local = self.defs(t.module)
        out: set[Target] = set()
        for b in body:
            for n in ast.walk(b):
                if isinstance(n, ast.Name):
                    if n.id in local and n.id != t.qualname:
                        r = self.resolve(t.module, n.id)
                    elif n.id in imps and imps[n.id][1] is not None:
                        r = self.resolve(*imps[n.id])
                    else:
                        r = None
                    if r:
                        out.add(r)
                elif isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
                    imp = imps.get(n.value.id)
                    if imp and imp[1] is None:
                        r = self.resolve(imp[0], n.attr)
                        if r:
                            out.add(r)
        return out


def _is_plots(module: str) -> bool:
    return module.rsplit(".", 1)[-1].startswith("plots")


def _notebook_refs(stmts: list[ast.stmt], nodes: list[ast.AST], index: PackageIndex) -> set[Target]:
    """Paper definitions referenced by ``nodes``, given the notebook's imports ``stmts``."""
    aliases: dict[str, tuple[str, str | None]] = {}
    for s in stmts:
        if isinstance(s, ast.ImportFrom) and s.module and s.module.startswith(index.pkg):
            for a in s.names:
                full = f"{s.module}.{a.name}"
                if index.is_module(full):
                    aliases[a.asname or a.name] = (full, None)
                elif index.is_module(s.module):
                    aliases[a.asname or a.name] = (s.module, a.name)
        elif isinstance(s, ast.Import):
            for a in s.names:
                if index.is_module(a.name):
                    aliases[a.asname or a.name] = (a.name, None)
    out: set[Target] = set()
    for node in nodes:
        for n in ast.walk(node):
            r = None
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in aliases:
                mod, attr = aliases[n.value.id]
                if attr is None:
                    r = index.resolve(mod, n.attr)
            elif isinstance(n, ast.Name) and n.id in aliases and aliases[n.id][1] is not None:
                r = index.resolve(*aliases[n.id])
            if r:
                out.add(r)
    return out


def select(paper: str) -> Selection:
    """The prediction functions of ``paper`` and the notebooks whose prediction checks use them."""
    index = PackageIndex(paper)
    sel = Selection(paper)
    for nb in sorted((ROOT / "notebooks" / paper).glob("*.md")):
        stmts = _parse_cells(nb.read_text())
        refs = _notebook_refs(stmts, notebook_slice(stmts), index)
        rel = str(nb.relative_to(ROOT))
        for t in refs:
            sel.targets[t.key] = t
            sel.roots.add(t.key)
            sel.used_by.setdefault(t.key, set()).add(rel)
    # callee closure; a callee inherits the notebooks of its callers
    todo = list(sel.targets.values())
    while todo:
        t = todo.pop()
        for c in index.callees(t):
            nbs = sel.used_by.setdefault(c.key, set())
            before = len(nbs)
            nbs |= sel.used_by.get(t.key, set())
            if c.key not in sel.targets or len(nbs) != before:
                sel.targets[c.key] = c
                todo.append(c)
    return sel


if __name__ == "__main__":  # pragma: no cover - a quick listing
    import sys

    s = select(sys.argv[1])
    for k in sorted(s.targets):
        print(("* " if k in s.roots else "  ") + k, s.targets[k].kind, len(s.used_by.get(k, ())))
