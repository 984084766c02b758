"""First-order mutants of one target, generated from the AST, deterministic and enumerable.

Operators (each mutant changes one node; ids are ``<module>:<qualname>:<line>:<col>:<op>``):

* ``arith``: ``+ <-> -``, ``* <-> /``, ``** -> *``, ``// -> /`` (also in ``x op= y``);
* ``const``: a number ``c`` becomes ``c * 1.05`` (floats; ``0.0 -> 1.0``) or ``n + 1`` (ints);
* ``cmp``: a comparison is negated (``< -> >=``, ``== -> !=``, ...);
* ``bool``: ``and <-> or``;
* ``sign``: unary ``-x -> x`` and ``not x -> x``;
* ``ret``: ``return e -> return scale(e)``, every float leaf of ``e`` (arrays, tuples, NamedTuples,
  dicts) times 1.05 (the helper is appended to the mutated module; it records on the probe file
  whether it scaled anything, so a return that carries no float is reported as equivalent).

Not mutated (not the closed form): docstrings, strings and f-strings, annotations, decorators,
default argument values, ``dtype=`` arguments, ``raise``/``assert`` statements and input guards
(``if <cond>: raise ...``).
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass

_ARITH = {ast.Add: (ast.Sub, "-"), ast.Sub: (ast.Add, "+"), ast.Mult: (ast.Div, "/"), ast.Div: (ast.Mult, "*"),
          ast.Pow: (ast.Mult, "*"), ast.FloorDiv: (ast.Div, "/")}
_SYM = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.FloorDiv: "//"}
_CMP = {ast.Lt: ">=", ast.LtE: ">", ast.Gt: "<=", ast.GtE: "<", ast.Eq: "!=", ast.NotEq: "=="}
_CMP_SYM = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
SCALE = 1.05

HELPER = '''

def __mut_scale__(value):  # appended by tools.mutation: scale every float leaf by 1.05
    import os
    import numpy as _np
    hit = []
    def scale(v):
        if isinstance(v, bool) or v is None:
            return v
        if isinstance(v, float):
            hit.append(1)
            return v * 1.05
        dt = getattr(v, "dtype", None)
        if dt is not None and hasattr(v, "shape"):
            try:
                if _np.issubdtype(_np.dtype(dt), _np.inexact):
                    hit.append(1)
                    return v * 1.05
            except TypeError:
                return v
            return v
        if isinstance(v, tuple) and hasattr(v, "_fields"):
            return type(v)(*[scale(x) for x in v])
        if isinstance(v, (tuple, list)):
            return type(v)(scale(x) for x in v)
        if isinstance(v, dict):
            return type(v)((k, scale(x)) for k, x in v.items())
        return v
    out = scale(value)
    probe = os.environ.get("EOSLIB_MUTANT_PROBE")
    if probe:
        with open(probe, "a") as fh:
            fh.write("scaled\\n" if hit else "noop\\n")
    return out
'''


@dataclass(frozen=True)
class Mutant:
    id: str
    module: str
    qualname: str
    line: int
    op: str  # e.g. "arith +->-"
    before: str  # the original source segment (shortened)
    after: str  # its replacement (shortened)
    start: tuple[int, int]  # (line, col) 1-based line, utf-8 byte col
    end: tuple[int, int]
    replacement: str
    context: str = ""  # "display" | "validation" | "setting" | "" (see :func:`_context`)

    def apply(self, source: str) -> str:
        """The module source with this mutant applied (and the scaling helper appended)."""
        return splice(source, self.start, self.end, self.replacement) + (HELPER if self.op == "ret" else "")


def _offset(lines_b: list[bytes], line: int, col: int) -> int:
    return sum(len(b) for b in lines_b[: line - 1]) + col


def splice(source: str, start: tuple[int, int], end: tuple[int, int], text: str) -> str:
    b = source.encode()
    lines_b = b.splitlines(keepends=True)
    i, j = _offset(lines_b, *start), _offset(lines_b, *end)
    return (b[:i] + text.encode() + b[j:]).decode()


def _segment(source_lines_b: list[bytes], node: ast.AST) -> str:
    i = _offset(source_lines_b, node.lineno, node.col_offset)
    j = _offset(source_lines_b, node.end_lineno, node.end_col_offset)
    return b"".join(source_lines_b)[i:j].decode()


def _short(s: str, n: int = 70) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 3] + "..."


def _is_guard(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.If) and all(isinstance(s, ast.Raise) for s in stmt.body) and not stmt.orelse


def _skipped_subtrees(root: ast.AST) -> set[int]:
    """ids of nodes (and their descendants) that are not mutated."""
    skip: list[ast.AST] = []
    for n in ast.walk(root):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = n.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                skip.append(body[0])
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            skip.extend(n.args.defaults)
            skip.extend(d for d in n.args.kw_defaults if d is not None)
            if not isinstance(n, ast.Lambda):
                skip.extend(n.decorator_list)
                if n.returns is not None:
                    skip.append(n.returns)
            for a in n.args.args + n.args.kwonlyargs + n.args.posonlyargs:
                if a.annotation is not None:
                    skip.append(a.annotation)
        elif isinstance(n, ast.ClassDef):
            skip.extend(n.decorator_list)
            skip.extend(n.bases)
        elif isinstance(n, ast.AnnAssign):
            skip.append(n.annotation)
        elif isinstance(n, (ast.Raise, ast.Assert, ast.JoinedStr)):
            skip.append(n)
        elif isinstance(n, ast.If) and _is_guard(n):
            skip.append(n)
        elif isinstance(n, ast.keyword) and n.arg == "dtype":
            skip.append(n)
    out: set[int] = set()
    for s in skip:
        out |= {id(x) for x in ast.walk(s)}
    return out


_VALIDATORS = ("_real", "_reals", "_int", "_float", "_check", "_validate", "_positive", "_pos")
_SETTING_KW = ("tol", "xtol", "rtol", "atol", "maxiter", "max_norm", "max_iter", "num_", "n_", "seed", "steps")


def _is_str(n: ast.AST) -> bool:
    return isinstance(n, ast.JoinedStr) or (isinstance(n, ast.Constant) and isinstance(n.value, str))


def _context(node: ast.AST, parents: dict[int, ast.AST], fn: ast.AST) -> str:
    """Why a mutant may not touch a prediction: display text, an input range, a numerical setting.

    Only used to explain survivors; every mutant is run and counted.
    """
    rets = [r.value for r in ast.walk(fn) if isinstance(r, ast.Return) and r.value is not None] \
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) else []
    if rets and all(_is_str(v) for v in rets):
        return "display"
    n = node
    while id(n) in parents:
        p = parents[id(n)]
        if isinstance(p, ast.IfExp) and n is p.test and _is_str(p.body) and _is_str(p.orelse):
            return "display"
        if isinstance(p, ast.Call):
            f = p.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name.startswith(_VALIDATORS) and n is not f:
                return "validation"
            if name == "append" and p.args and _is_str(p.args[0]):
                return "display"
        if isinstance(p, ast.keyword) and p.arg and any(p.arg.startswith(k) or p.arg.endswith(k) for k in _SETTING_KW):
            return "setting"
        if isinstance(p, ast.stmt):
            break
        n = p
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        v = abs(node.value)
        if v >= 1000 or 0 < v <= 1e-6:
            return "setting"
    return ""


def _const_mutation(v: object) -> object | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if isinstance(v, int):
        return v + 1
    if v == 0.0:
        return 1.0
    return v * SCALE


def target_node(tree: ast.Module, qualname: str) -> ast.AST:
    for s in tree.body:
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and s.name == qualname:
            return s
        if isinstance(s, (ast.Assign, ast.AnnAssign)):
            tgts = s.targets if isinstance(s, ast.Assign) else [s.target]
            if any(isinstance(t, ast.Name) and t.id == qualname for t in tgts):
                return s.value  # a constant: its value expression only
    raise KeyError(qualname)


def generate(module: str, qualname: str, source: str) -> list[Mutant]:
    """Every mutant of ``qualname`` (a top-level function, class, or constant) of ``source``."""
    tree = ast.parse(source)
    root = target_node(tree, qualname)
    lines_b = source.encode().splitlines(keepends=True)
    seg = lambda n: _segment(lines_b, n)  # noqa: E731
    skip = _skipped_subtrees(root)
    # a class: only its methods (field annotations and defaults of a container are not a formula)
    nodes = list(ast.walk(root))
    if isinstance(root, ast.ClassDef):
        methods = [b for b in root.body if isinstance(b, (ast.FunctionDef, ast.AsyncFunctionDef))]
        nodes = [n for m in methods for n in ast.walk(m)]
    out: list[Mutant] = []
    parents = {id(c): p for p in ast.walk(root) for c in ast.iter_child_nodes(p)}
    owner: dict[int, ast.AST] = {}
    for f in ast.walk(root):
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for c in ast.walk(f):
                owner[id(c)] = f  # innermost wins: walk order visits outer functions first

    def add(node: ast.AST, op: str, text: str, *, start=None, end=None) -> None:
        s = start or (node.lineno, node.col_offset)
        e = end or (node.end_lineno, node.end_col_offset)
        mid = f"{module}:{qualname}:{s[0]}:{s[1]}:{op}"
        before = _segment(lines_b, node) if start is None else "return " + seg(node)
        ctx = _context(node, parents, owner.get(id(node), root))
        out.append(Mutant(mid, module, qualname, s[0], op, _short(before), _short(text), s, e, text, ctx))

    for n in nodes:
        if id(n) in skip:
            continue
        if isinstance(n, ast.BinOp) and type(n.op) in _ARITH:
            new = _ARITH[type(n.op)][1]
            add(n, f"arith {_SYM[type(n.op)]}->{new}", f"(({seg(n.left)}) {new} ({seg(n.right)}))")
        elif isinstance(n, ast.AugAssign) and type(n.op) in _ARITH:
            new = _ARITH[type(n.op)][1]
            add(n, f"arith {_SYM[type(n.op)]}=->{new}=", f"{seg(n.target)} {new}= ({seg(n.value)})")
        elif isinstance(n, ast.Compare) and len(n.ops) == 1 and type(n.ops[0]) in _CMP:
            new = _CMP[type(n.ops[0])]
            add(n, f"cmp {_CMP_SYM[type(n.ops[0])]}->{new}",
                f"(({seg(n.left)}) {new} ({seg(n.comparators[0])}))")
        elif isinstance(n, ast.BoolOp):
            new = "or" if isinstance(n.op, ast.And) else "and"
            add(n, f"bool ->{new}", "(" + f" {new} ".join(f"({seg(v)})" for v in n.values) + ")")
        elif isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.Not)):
            add(n, "sign -x->x" if isinstance(n.op, ast.USub) else "sign not x->x", f"({seg(n.operand)})")
        elif isinstance(n, ast.Constant):
            new = _const_mutation(n.value)
            if new is not None:
                add(n, f"const {n.value!r}->{new!r}", f"({new!r})")
        elif isinstance(n, ast.Return) and n.value is not None and not (
                isinstance(n.value, ast.Constant) and not isinstance(n.value.value, float)):
            v = n.value
            add(v, "ret", f"__mut_scale__(({seg(v)}))",
                start=(v.lineno, v.col_offset), end=(v.end_lineno, v.end_col_offset))
    out.sort(key=lambda m: (m.start, m.end, m.op))
    valid = []
    seen = set()
    for m in out:
        if m.id in seen:
            continue
        seen.add(m.id)
        try:
            compile(m.apply(source), "<mutant>", "exec")
        except SyntaxError:
            continue
        valid.append(m)
    return valid


def source_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def segment_hash(source: str, qualname: str) -> str:
    """Hash of a target's own source (its mutants' cache key does not move when others change)."""
    tree = ast.parse(source)
    node = target_node(tree, qualname)
    lines_b = source.encode().splitlines(keepends=True)
    return source_hash(_segment(lines_b, node))
