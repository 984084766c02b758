"""The notebook session: who is running, with which parameters.

The notebook runner (``eoslib run`` / ``eoslib build``) injects two hidden cells into every
notebook it executes, so that the notebook sources carry none of this boilerplate:

1. before everything: float64 on (before any array exists) and this module imported;
2. right after the ``parameters`` cell (and papermill's injected overrides)::

       session.begin(notebook="notebooks/two_step/figure_7.md", declared=<parameters cell>,
                     values={...every declared name...}, key=<manifest key>)

:func:`begin` validates the values against the declarations (so plain papermill on an
executed book notebook gets the same clear errors as ``eoslib run``), applies the house
plotting style, and records the identity that :func:`eoslib.plotting.save_figure` stamps on
every figure. Importing this module has no side effects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["Session", "begin", "current"]


@dataclass(frozen=True)
class Session:
    """The running notebook.

    Attributes:
      notebook: the source path, e.g. ``"notebooks/two_step/figure_7.md"``.
      parameters: every declared parameter with the value it has in this run.
      defaults: whether every value equals its declared default.
      key: the manifest key of the run (source, parameters, imported eoslib modules, pins),
        or ``""`` outside the runner.
    """

    notebook: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    defaults: bool = True
    key: str = ""


_CURRENT: Session | None = None


def begin(notebook: str, declared: str, values: Mapping[str, Any], key: str = "") -> Session:
    """Validate the parameters, apply the house style and record the session.

    Args:
      notebook: the notebook source path.
      declared: the source of the notebook's ``parameters`` cell (the declarations).
      values: the value of every declared name in this run.
      key: the manifest key, if the runner computed one.

    Returns:
      The :class:`Session`.

    Raises:
      eoslib.notebook.ParameterError: a value of the wrong type or out of its declared range.
    """
    global _CURRENT
    from eoslib.notebook import parameter_specs, validate_parameters_values

    specs = parameter_specs(declared, notebook)
    checked = validate_parameters_values(specs, dict(values), where=notebook)
    defaults = all(checked[name] == spec.default or (isinstance(spec.default, (list, tuple))
                   and list(checked[name]) == list(spec.default)) for name, spec in specs.items())
    from eoslib import plotting

    plotting.use_house_style()
    _CURRENT = Session(notebook=notebook, parameters=checked, defaults=defaults, key=key)
    return _CURRENT


def current() -> Session | None:
    """The running notebook's session, or None outside a runner-executed notebook."""
    return _CURRENT
