"""Notebook sources: front matter, declared parameters, validation and execution.

A notebook source is a jupytext MyST file ``notebooks/<paper>/<item>.md``. Its
front matter names the paper item (``eos: {paper, item, kind, title}``) and one
code cell tagged ``parameters`` holds every knob, one per line, each with a
comment that states its meaning and its allowed values::

    eta = 0.05          # learning rate; range (0, inf)
    num_steps = 200000  # GD steps; range [1, 10000000]
    scale = "book"      # book-scale or paper-scale settings; choices book|paper

:func:`parameter_specs` reads those declarations, :func:`validate_parameters`
checks user overrides against them (so ``eoslib run -p eta -1`` fails before a
kernel starts), and :func:`execute` runs the notebook with papermill and
replaces the output only if the run succeeded.
"""

from __future__ import annotations

import ast
import datetime as _dt
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

__all__ = [
    "ParameterError",
    "ParameterSpec",
    "NotebookSource",
    "read_source",
    "parameter_specs",
    "validate_parameters",
    "parse_cli_value",
    "output_path",
    "execute",
    "SINGLE_THREAD_XLA",
]

#: Multi-threaded CPU reductions are not bit-stable, so regression runs pin XLA to one thread.
SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

_RANGE = re.compile(r"range\s*([\[(])\s*([^,\]\)]+?)\s*,\s*([^,\]\)]+?)\s*([\])])")
_CHOICES = re.compile(r"choices\s+([^;#]+)")


class ParameterError(ValueError):
    """A parameter override is unknown, of the wrong type or out of range."""


@dataclass(frozen=True)
class ParameterSpec:
    """One declared notebook parameter.

    Attributes:
      name: the variable name.
      default: the default value in the source.
      description: the comment text before the ``;``.
      low, high: bounds of ``range`` (``None`` if unbounded).
      low_open, high_open: whether each bound is excluded.
      choices: allowed values for a string parameter, if declared.
    """

    name: str
    default: Any
    description: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None

    @property
    def type_name(self) -> str:
        return type(self.default).__name__

    def allowed(self) -> str:
        """Human-readable allowed values, for error messages."""
        if self.choices:
            return "one of " + "|".join(self.choices)
        parts = [self.type_name]
        if self.low is not None or self.high is not None:
            lo = "-inf" if self.low is None else _num(self.low)
            hi = "inf" if self.high is None else _num(self.high)
            parts.append(f"in {'(' if self.low_open or self.low is None else '['}{lo}, {hi}"
                         f"{')' if self.high_open or self.high is None else ']'}")
        return " ".join(parts)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


@dataclass
class NotebookSource:
    """A parsed notebook source.

    Attributes:
      path: the ``.md`` file.
      notebook: the in-memory nbformat notebook (from ``jupytext.read``).
      eos: the ``eos`` front-matter block (paper, item, kind, title).
      parameters: declared parameters, by name, in source order.
    """

    path: Path
    notebook: Any
    eos: dict[str, Any]
    parameters: dict[str, ParameterSpec] = field(default_factory=dict)

    @property
    def paper(self) -> str:
        return str(self.eos.get("paper") or self.path.parent.name)

    @property
    def slug(self) -> str:
        return self.path.stem


def read_source(path: str | os.PathLike[str]) -> NotebookSource:
    """Read a jupytext MyST notebook and its declared parameters.

    Args:
      path: ``notebooks/<paper>/<item>.md``.

    Returns:
      The parsed :class:`NotebookSource`.

    Raises:
      FileNotFoundError: if the file does not exist.
      ValueError: if the notebook has no ``parameters`` cell or no ``eos`` front matter.
    """
    import jupytext

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"notebook source not found: {p}")
    nb = jupytext.read(p)
    eos = dict(nb.metadata.get("eos") or {})
    if not eos:
        raise ValueError(f"{p}: front matter has no 'eos: {{paper, item, kind, title}}' block")
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{p}: expected exactly one code cell tagged 'parameters', found {len(cells)}")
    return NotebookSource(path=p, notebook=nb, eos=eos, parameters=parameter_specs(cells[0].source, str(p)))


def parameter_specs(cell_source: str, where: str = "<parameters>") -> dict[str, ParameterSpec]:
    """Parse the declarations of a ``parameters`` cell.

    Args:
      cell_source: the cell's code; one ``name = literal  # text; range (lo, hi)`` per line.
      where: file name for error messages.

    Returns:
      Specs by name, in source order.

    Raises:
      ValueError: if a value is not a literal or a range/choices comment is malformed.
    """
    specs: dict[str, ParameterSpec] = {}
    lines = cell_source.splitlines()
    tree = ast.parse(cell_source)
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise ValueError(f"{where}: the parameters cell may only hold 'name = literal' lines (line {node.lineno})")
        name = node.targets[0].id
        try:
            default = ast.literal_eval(node.value)
        except ValueError as err:
            raise ValueError(f"{where}: parameter {name!r} must have a literal default") from err
        line = lines[node.end_lineno - 1]
        comment = line.split("#", 1)[1].strip() if "#" in line else ""
        specs[name] = _spec_from_comment(name, default, comment, where)
    return specs


def _spec_from_comment(name: str, default: Any, comment: str, where: str) -> ParameterSpec:
    description = comment.split(";", 1)[0].strip()
    kw: dict[str, Any] = {}
    if m := _RANGE.search(comment):
        lo, hi = m.group(2).strip(), m.group(3).strip()
        kw["low"] = None if lo in ("-inf", "") else float(lo)
        kw["high"] = None if hi in ("inf", "+inf", "") else float(hi)
        kw["low_open"], kw["high_open"] = m.group(1) == "(", m.group(4) == ")"
    if m := _CHOICES.search(comment):
        kw["choices"] = tuple(c.strip() for c in m.group(1).strip().split("|") if c.strip())
    spec = ParameterSpec(name=name, default=default, description=description, **kw)
    # A default that violates its own declaration is a bug in the notebook, not in the user's input.
    try:
        _check_value(spec, default)
    except ParameterError as err:
        raise ValueError(f"{where}: the default of {name!r} violates its declaration: {err}") from err
    return spec


def parse_cli_value(text: str) -> Any:
    """Turn a command-line string into a Python value (literal if it parses, else the string)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        lowered = text.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return text


def _check_value(spec: ParameterSpec, value: Any) -> Any:
    want = type(spec.default)
    if want is bool:
        if not isinstance(value, bool):
            raise ParameterError(f"parameter {spec.name!r} must be a bool (True/False), got {value!r}")
        return value
    if want is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ParameterError(f"parameter {spec.name!r} must be an int {spec.allowed()}, got {value!r}")
    elif want is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"parameter {spec.name!r} must be a number {spec.allowed()}, got {value!r}")
        value = float(value)
    elif want is str:
        if not isinstance(value, str):
            raise ParameterError(f"parameter {spec.name!r} must be a string, got {value!r}")
    elif want in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ParameterError(f"parameter {spec.name!r} must be a list, got {value!r}")
        value = want(value)
    elif spec.default is None:
        pass
    if spec.choices is not None and value not in spec.choices:
        raise ParameterError(f"parameter {spec.name!r} must be {spec.allowed()}, got {value!r}")
    _check_range(spec, value)
    return value


def _check_range(spec: ParameterSpec, value: Any) -> None:
    if spec.low is None and spec.high is None:
        return
    items = value if isinstance(value, (list, tuple)) else [value]
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
            raise ParameterError(f"parameter {spec.name!r} must be {spec.allowed()}, got {value!r}")
        too_low = spec.low is not None and (v <= spec.low if spec.low_open else v < spec.low)
        too_high = spec.high is not None and (v >= spec.high if spec.high_open else v > spec.high)
        if too_low or too_high:
            raise ParameterError(f"parameter {spec.name!r} must be {spec.allowed()}, got {value!r}")


def validate_parameters_values(specs: Mapping[str, ParameterSpec], values: Mapping[str, Any],
                               where: str = "<notebook>") -> dict[str, Any]:
    """Check values against parameter declarations (the in-notebook half of validation).

    Args:
      specs: the declarations, from :func:`parameter_specs`.
      values: name -> value; unknown names are rejected.
      where: the notebook, for messages.

    Returns:
      The values, coerced to the declared types.

    Raises:
      ParameterError: naming the parameter and its allowed values.
    """
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in specs:
            listing = "\n".join(f"  {s.name} = {s.default!r}  ({s.allowed()}) {s.description}"
                                for s in specs.values())
            raise ParameterError(f"unknown parameter {name!r} for {where}. Allowed parameters:\n{listing}")
        out[name] = _check_value(specs[name], value)
    return out


def validate_parameters(source: NotebookSource, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Check user overrides against the notebook's declarations.

    Args:
      source: the parsed notebook.
      overrides: name -> value.

    Returns:
      The overrides, coerced to the declared types (e.g. ``1`` -> ``1.0`` for a float).

    Raises:
      ParameterError: naming the parameter and listing the allowed parameters or values.
    """
    out: dict[str, Any] = {}
    for name, value in overrides.items():
        if name not in source.parameters:
            listing = "\n".join(
                f"  {s.name} = {s.default!r}  ({s.allowed()}) {s.description}" for s in source.parameters.values()
            )
            raise ParameterError(
                f"unknown parameter {name!r} for {source.path}. Allowed parameters:\n{listing}"
            )
        out[name] = _check_value(source.parameters[name], value)
    return out


def output_path(source_path: str | os.PathLike[str], notebooks_dir: Path, book_dir: Path) -> Path:
    """``notebooks/<paper>/<item>.md`` -> ``book/<paper>/<item>.ipynb``."""
    rel = Path(source_path).resolve().relative_to(notebooks_dir.resolve())
    return book_dir / rel.with_suffix(".ipynb")


def execute(
    source: NotebookSource,
    output: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    cwd: str | os.PathLike[str] | None = None,
    timeout: int | None = 1800,
    extra_metadata: Mapping[str, Any] | None = None,
    key: str = "",
) -> float:
    """Execute a notebook with papermill and write it atomically.

    The run writes to a temporary file beside ``output`` and renames it only on
    success, so a failed run leaves the previous output untouched.

    Args:
      source: the parsed notebook.
      output: the ``.ipynb`` to write.
      parameters: validated overrides (see :func:`validate_parameters`).
      cwd: working directory of the kernel (default: the output's folder).
      timeout: per-cell timeout in seconds.
      extra_metadata: merged into ``metadata.eos.run`` of the output.
      key: the manifest key of this run, stamped on the figures' provenance lines.

    Returns:
      The wall-clock runtime in seconds.

    Raises:
      papermill.PapermillExecutionError: if a cell fails (e.g. a failed check).
    """
    import nbformat
    import papermill

    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.ipynb")
    params = dict(parameters or {})
    env_xla = os.environ.get("XLA_FLAGS")
    os.environ["XLA_FLAGS"] = SINGLE_THREAD_XLA
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            with_session_cells(source, key=key),
            str(tmp),
            parameters=params,
            kernel_name="python3",
            cwd=str(cwd or out.parent),
            progress_bar=False,
            execution_timeout=timeout,
            report_mode=False,
        )
        runtime = time.perf_counter() - start
        nb = nbformat.read(tmp, as_version=4)
        _finalise(nb, source, params, runtime, extra_metadata or {})
        nbformat.write(nb, tmp)
        os.replace(tmp, out)
        return runtime
    finally:
        if env_xla is None:
            os.environ.pop("XLA_FLAGS", None)
        else:
            os.environ["XLA_FLAGS"] = env_xla
        tmp.unlink(missing_ok=True)


SETUP_TAG = "eos-setup"
SESSION_TAG = "eos-session"


def with_session_cells(source: NotebookSource, key: str = "") -> Any:
    """A copy of the notebook with the runner's two hidden cells (see :mod:`eoslib.session`).

    The first enables float64 before any array exists; the second, right after the
    ``parameters`` cell, validates the values inside the kernel and records the session.
    """
    import copy

    import nbformat

    nb = copy.deepcopy(source.notebook)
    nb.cells = [c for c in nb.cells if not ({SETUP_TAG, SESSION_TAG} & set(c.metadata.get("tags", [])))]
    setup = nbformat.v4.new_code_cell(
        "# Injected by the eoslib runner: float64 before any array exists.\n"
        "import jax\n"
        "jax.config.update(\"jax_enable_x64\", True)\n"
        "from eoslib import session as _eos_session",
        metadata={"tags": ["remove-cell", SETUP_TAG]},
    )
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    declared = nb.cells[index].source
    names = ", ".join(f"{n!r}: {n}" for n in source.parameters)
    session = nbformat.v4.new_code_cell(
        "# Injected by the eoslib runner: validate the parameters, record the session.\n"
        f"_eos_session.begin(notebook={source.path.as_posix()!r}, declared={declared!r},\n"
        f"                   values={{{names}}}, key={key!r});",
        metadata={"tags": ["remove-cell", SESSION_TAG]},
    )
    nb.cells.insert(index + 1, session)
    nb.cells.insert(0, setup)
    return nb


def _finalise(nb: Any, source: NotebookSource, params: dict[str, Any], runtime: float, extra: Mapping[str, Any]) -> None:
    """Tidy an executed notebook for the book: hide papermill's injected cell, record the run."""
    from eoslib.plotting import git_commit

    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-input" not in tags:
            tags.append("remove-input")
        # papermill's per-cell timing metadata changes every run; it is noise in git diffs.
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nb.metadata.pop("papermill", None)
    eos = dict(nb.metadata.get("eos") or source.eos)
    eos["run"] = {
        "source": source.path.as_posix(),
        "parameters": params,
        "runtime_s": round(runtime, 1),
        "commit": git_commit(),
        "date": _dt.date.today().isoformat(),
        **dict(extra),
    }
    nb.metadata["eos"] = eos
