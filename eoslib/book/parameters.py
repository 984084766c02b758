"""A notebook's ``parameters`` cell: the declarations and their validation.

One code cell of every notebook is tagged ``parameters``. It holds every knob, one per line,
each with a comment that states its meaning and its allowed values::

    eta = 0.05          # learning rate; range (0, inf)
    num_steps = 200000  # GD steps; range [1, 10000000]
    scale = "book"      # book-scale or paper-scale settings; choices book|paper

:func:`parameter_specs` reads those declarations and :func:`validate_values` checks values
against them. Both ``eoslib run`` (before a kernel starts) and the runner's injected session
cell (inside the kernel, so plain papermill gets the same errors) use them. This module uses
the standard library only.
"""

from __future__ import annotations

import ast
import math
import re
import shlex
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = [
    "ParameterError",
    "ParameterSpec",
    "parameter_specs",
    "parse_cli_value",
    "validate_values",
    "non_default",
    "rerun_command",
]

_RANGE = re.compile(r"range\s*([\[(])\s*([^,\]\)]+?)\s*,\s*([^,\]\)]+?)\s*([\])])")
_CHOICES = re.compile(r"choices\s+([^;#]+)")


class ParameterError(ValueError):
    """A parameter value is unknown, of the wrong type or out of its declared range."""


@dataclass(frozen=True)
class ParameterSpec:
    """One declared notebook parameter.

    Attributes:
      name: the variable name.
      default: the default value in the source.
      description: the comment text before the ``;``.
      low: lower bound of ``range`` (``None`` if unbounded).
      high: upper bound of ``range`` (``None`` if unbounded).
      low_open: whether the lower bound is excluded.
      high_open: whether the upper bound is excluded.
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

    def range_text(self) -> str:
        """``"in [1, 100]"``, ``"in (0, inf)"``, or ``""`` without a declared range."""
        if self.low is None and self.high is None:
            return ""
        lo = "-inf" if self.low is None else _num(self.low)
        hi = "inf" if self.high is None else _num(self.high)
        left = "(" if self.low_open or self.low is None else "["
        right = ")" if self.high_open or self.high is None else "]"
        return f"in {left}{lo}, {hi}{right}"

    def allowed(self) -> str:
        """The allowed values, as they read in an error message (``"an int in [1, 100]"``)."""
        if self.choices:
            return "one of " + "|".join(self.choices)
        kind = type(self.default)
        noun = {bool: "a bool (True/False)", int: "an int", float: "a number", str: "a string",
                list: "a list", tuple: "a list"}.get(kind, "a value")
        if kind in (list, tuple) and self.range_text():
            noun = "a list of numbers"
        return " ".join(s for s in (noun, self.range_text()) if s)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def parameter_specs(cell_source: str, where: str = "<parameters>") -> dict[str, ParameterSpec]:
    """Parse the declarations of a ``parameters`` cell.

    Args:
      cell_source: the cell's code; one ``name = literal  # text; range (lo, hi)`` per line.
      where: the notebook, for error messages.

    Returns:
      Specs by name, in source order.

    Raises:
      ValueError: if a line is not ``name = literal``, or a default violates its own declaration.
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
    """Turn a command-line string into a Python value (a literal if it parses, else the string)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        lowered = text.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return text


def _bad(spec: ParameterSpec, value: Any) -> ParameterError:
    return ParameterError(f"parameter {spec.name!r} must be {spec.allowed()}, got {value!r}")


def _check_value(spec: ParameterSpec, value: Any) -> Any:
    want = type(spec.default)
    if want is bool:
        if not isinstance(value, bool):
            raise _bad(spec, value)
        return value
    if want is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise _bad(spec, value)
    elif want is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(spec, value)
        value = float(value)
    elif want is str:
        if not isinstance(value, str):
            raise _bad(spec, value)
    elif want in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _bad(spec, value)
        value = want(value)
    if spec.choices is not None and value not in spec.choices:
        raise _bad(spec, value)
    _check_range(spec, value)
    return value


def _check_range(spec: ParameterSpec, value: Any) -> None:
    if spec.low is None and spec.high is None:
        return
    items = value if isinstance(value, (list, tuple)) else [value]
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
            raise _bad(spec, value)
        too_low = spec.low is not None and (v <= spec.low if spec.low_open else v < spec.low)
        too_high = spec.high is not None and (v >= spec.high if spec.high_open else v > spec.high)
        if too_low or too_high:
            raise _bad(spec, value)


def validate_values(specs: Mapping[str, ParameterSpec], values: Mapping[str, Any],
                    where: str = "<notebook>") -> dict[str, Any]:
    """Check values against parameter declarations.

    Args:
      specs: the declarations, from :func:`parameter_specs`.
      values: name -> value; unknown names are rejected.
      where: the notebook, for messages.

    Returns:
      The values, coerced to the declared types (e.g. ``1`` -> ``1.0`` for a float).

    Raises:
      ParameterError: naming the parameter and its allowed values (for an unknown name,
        listing every declared parameter).
    """
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in specs:
            listing = "\n".join(f"  {s.name} = {s.default!r}  ({s.allowed()}) {s.description}"
                                for s in specs.values())
            raise ParameterError(f"unknown parameter {name!r} for {where}. Allowed parameters:\n{listing}")
        out[name] = _check_value(specs[name], value)
    return out


def non_default(specs: Mapping[str, ParameterSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """The values that differ from their declared defaults, in declaration order.

    A run is a *default run* exactly when this is empty; it is what a rerun command needs
    (``eoslib run <notebook> -p name value ...``) and what the staleness key hashes.
    """
    out: dict[str, Any] = {}
    for name, spec in specs.items():
        if name not in values:
            continue
        value, default = values[name], spec.default
        if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
            same = list(value) == list(default)
        else:
            same = type(value) is type(default) and value == default
        if not same:
            out[name] = value
    return out


def rerun_command(notebook: str, overrides: Mapping[str, Any] | None = None) -> str:
    """The command that reproduces a run: ``eoslib run <notebook> [-p name value ...]``.

    Args:
      notebook: the source path relative to the checkout, e.g. ``"notebooks/two_step/figure_7.md"``.
      overrides: the non-default parameters of the run (see :func:`non_default`).
    """
    parts = ["eoslib", "run", notebook]
    for name, value in (overrides or {}).items():
        # A string that would parse as another literal ("1.5") keeps its quotes.
        text = value if isinstance(value, str) and parse_cli_value(value) == value else repr(value)
        parts += ["-p", name, text]
    return " ".join(shlex.quote(p) for p in parts)
