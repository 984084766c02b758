"""The notebook session: which notebook is running, with which parameters, from which code.

The notebook runner (``eoslib run`` / ``eoslib build``, see ``eoslib.book.runner``) injects
two hidden cells into every notebook it executes, so that the notebook sources carry none of
this boilerplate:

1. before everything: float64 on (before any array exists) and this module imported;
2. right after the ``parameters`` cell (and papermill's injected overrides)::

       session.begin(notebook="notebooks/two_step/figure_7.md", declared=<parameters cell>,
                     values={...every declared name...}, key=<manifest key>, commit=<clean commit>)

:func:`begin` validates the values against the declarations (so plain papermill on an
executed book notebook gets the same clear errors as ``eoslib run``), applies the house
plotting style, and records the identity that :func:`eoslib.plotting.save_figure` stamps on
every figure: the rerun command, the key and, if the code was committed, the commit.
Importing this module has no side effects.
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
      overrides: the parameters whose value differs from the declared default.
      key: the manifest key of the run (source, parameters, imported eoslib modules, pins),
        or ``""`` outside the runner.
      commit: the commit the code was clean at, or ``""`` (uncommitted code, or outside git).
    """

    notebook: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    overrides: Mapping[str, Any] = field(default_factory=dict)
    key: str = ""
    commit: str = ""

    @property
    def defaults(self) -> bool:
        """Whether every parameter has its declared default."""
        return not self.overrides

    @property
    def rerun(self) -> str:
        """The command that reproduces this run, e.g. ``eoslib run notebooks/x/y.md -p eta 0.1``."""
        from eoslib.book.parameters import rerun_command

        return rerun_command(self.notebook, self.overrides)


_CURRENT: Session | None = None


def begin(notebook: str, declared: str, values: Mapping[str, Any], key: str = "", commit: str = "",
          keyed_overrides: Mapping[str, Any] | None = None) -> Session:
    """Validate the parameters, apply the house style and record the session.

    Args:
      notebook: the notebook source path.
      declared: the source of the notebook's ``parameters`` cell (the declarations).
      values: the value of every declared name in this run.
      key: the manifest key, if the runner computed one.
      commit: the clean commit, if the runner found one.
      keyed_overrides: the non-default parameters the runner computed ``key`` for. If the
        run's own differ (plain papermill with ``-p`` on an executed notebook), the key and
        commit do not describe this run and are dropped.

    Returns:
      The :class:`Session`.

    Raises:
      ValueError: (``eoslib.book.parameters.ParameterError``) a value of the wrong type or out of its
        declared range.
    """
    global _CURRENT
    from eoslib.book.parameters import non_default, parameter_specs, validate_values

    specs = parameter_specs(declared, notebook)
    checked = validate_values(specs, dict(values), where=notebook)
    from eoslib import plotting

    plotting.use_house_style()
    overrides = non_default(specs, checked)
    if keyed_overrides is not None and dict(keyed_overrides) != overrides:
        key = commit = ""
    _CURRENT = Session(notebook=notebook, parameters=checked, overrides=overrides, key=key, commit=commit)
    return _CURRENT


def current() -> Session | None:
    """The running notebook's session, or None outside a runner-executed notebook."""
    return _CURRENT
