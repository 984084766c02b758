"""Run one notebook: read its source, inject the session cells, execute with papermill, atomically.

A notebook source is a jupytext MyST file ``notebooks/<paper>/<slug>.md``. Its front matter
names the paper items it serves (``eos: {paper, item, kind, title}``, ``item`` a string or a
list) and one code cell tagged ``parameters`` declares every knob (see
:mod:`eoslib.book.parameters`).

:func:`execute` runs a copy of the notebook with two hidden cells injected
(:func:`with_session_cells`): float64 on before any array exists, and, after the parameters,
``eoslib.session.begin(...)``, which validates the values inside the kernel and records the
notebook, its parameters, the run's key and commit for the figures' provenance footers. The
output is written beside its destination and renamed only if every cell succeeded, so a failed
run leaves the previous output untouched.
"""

from __future__ import annotations

import copy
import datetime as _dt
import logging
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from eoslib.book.parameters import ParameterSpec, non_default, parameter_specs, validate_values

__all__ = [
    "SINGLE_THREAD_ENV",
    "SETUP_TAG",
    "SESSION_TAG",
    "NotebookSource",
    "read_source",
    "validate_parameters",
    "output_path",
    "with_session_cells",
    "execute",
    "describe_failure",
]

#: Multi-threaded CPU reductions are not bit-stable, so every executed notebook runs XLA and
#: OpenBLAS on one thread (the Makefile exports the same for nbval).
SINGLE_THREAD_ENV = {
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "OPENBLAS_NUM_THREADS": "1",
}

SETUP_TAG = "eos-setup"
SESSION_TAG = "eos-session"

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


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

    @property
    def parameters_cell(self) -> str:
        return next(c.source for c in self.notebook.cells if "parameters" in c.metadata.get("tags", []))


def read_source(path: str | os.PathLike[str]) -> NotebookSource:
    """Read a jupytext MyST notebook and its declared parameters.

    Args:
      path: ``notebooks/<paper>/<slug>.md``.

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


def validate_parameters(source: NotebookSource, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Check user overrides against the notebook's declarations.

    Returns:
      The overrides coerced to the declared types (``1`` -> ``1.0`` for a float).

    Raises:
      eoslib.book.parameters.ParameterError: naming the parameter and its allowed values.
    """
    return validate_values(source.parameters, overrides, where=str(source.path))


def output_path(source_path: str | os.PathLike[str], notebooks_dir: Path, book_dir: Path) -> Path:
    """``notebooks/<paper>/<slug>.md`` -> ``book/<paper>/<slug>.ipynb``."""
    rel = Path(source_path).resolve().relative_to(notebooks_dir.resolve())
    return book_dir / rel.with_suffix(".ipynb")


def with_session_cells(source: NotebookSource, *, notebook: str | None = None, key: str = "",
                       commit: str = "", overrides: Mapping[str, Any] | None = None) -> Any:
    """A copy of the notebook with the runner's two hidden cells (see :mod:`eoslib.session`).

    Args:
      source: the parsed notebook.
      notebook: the path the session records (default: the source path as given).
      key: the run's manifest key, stamped on figures.
      commit: the clean commit, or ``""`` if the code was not committed.
      overrides: the non-default parameters ``key`` was computed for.
    """
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
    names = ", ".join(f"{n!r}: {n}" for n in source.parameters)
    shown = notebook if notebook is not None else source.path.as_posix()
    session = nbformat.v4.new_code_cell(
        "# Injected by the eoslib runner: validate the parameters, record the session.\n"
        f"_eos_session.begin(notebook={shown!r}, declared={source.parameters_cell!r},\n"
        f"                   values={{{names}}},\n"
        f"                   key={key!r}, commit={commit!r}, keyed_overrides={dict(overrides or {})!r});",
        metadata={"tags": ["remove-cell", SESSION_TAG]},
    )
    nb.cells.insert(index + 1, session)
    nb.cells.insert(0, setup)
    return nb


class _QuietPapermill(logging.Filter):
    """Drop papermill messages that our own validation makes redundant.

    papermill guesses parameter types by splitting the parameters cell on ``=``, so a
    declaration whose comment holds an ``=`` gives "Unable to parse line"; unknown names are
    rejected by :func:`validate_parameters` before papermill runs.
    """

    NOISE = ("Unable to parse line", "Passed unknown parameter")

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(record.getMessage().startswith(n) for n in self.NOISE)


def _silence_papermill() -> None:
    for name in ("papermill", "papermill.translators"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _QuietPapermill) for f in logger.filters):
            logger.addFilter(_QuietPapermill())


def _kernel_config() -> Any:
    """Kernels talk over IPC sockets: no TCP ports to race for, and no plain-text TCP warning.

    The socket files go to a private temporary folder, not the kernel's working directory
    (which is a book folder): otherwise ``kernel-ipc-*`` files pile up beside the pages.
    """
    import tempfile

    from traitlets.config import Config

    sockets = Path(tempfile.mkdtemp(prefix="eoslib-kernel-")) / "kernel-ipc"
    return Config({"KernelManager": {"transport": "ipc", "ip": str(sockets)}})


def execute(
    source: NotebookSource,
    output: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    notebook: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: int | None = 1800,
    key: str = "",
    commit: str = "",
    progress: bool = False,
    extra_metadata: Mapping[str, Any] | None = None,
    failed_output: str | os.PathLike[str] | None = None,
) -> float:
    """Execute a notebook with papermill and write it atomically.

    Args:
      source: the parsed notebook.
      output: the ``.ipynb`` to write.
      parameters: validated overrides (see :func:`validate_parameters`).
      notebook: the source path to record (relative to the checkout for book notebooks).
      cwd: working directory of the kernel (default: the output's folder).
      timeout: per-cell timeout in seconds.
      key: the manifest key of this run (see :func:`eoslib.book.provenance.notebook_key`),
        stamped on the figures' provenance footers and recorded in the metadata.
      commit: the clean commit (see :func:`eoslib.book.provenance.clean_commit`), or ``""``.
      progress: show a ``cell i/N`` progress bar on stderr.
      extra_metadata: merged into ``metadata.eos.run`` of the output.
      failed_output: if given, a failed run's partial notebook (every output up to the failing
        cell) is moved there instead of being discarded; ``output`` is still left untouched.

    Returns:
      The wall-clock runtime in seconds.

    Raises:
      papermill.PapermillExecutionError: if a cell fails (e.g. a failed check); see
        :func:`describe_failure`.
    """
    import nbformat
    import papermill

    _silence_papermill()
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.ipynb")
    params = dict(parameters or {})
    saved = {k: os.environ.get(k) for k in SINGLE_THREAD_ENV}
    os.environ.update(SINGLE_THREAD_ENV)
    bar: bool | dict[str, Any] = False
    if progress:
        bar = {"bar_format": "  cell {n_fmt}/{total_fmt} |{bar:24}| {elapsed}", "file": sys.stderr,
               "leave": False}
    overrides = non_default(source.parameters, params)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            with_session_cells(source, notebook=notebook, key=key, commit=commit, overrides=overrides),
            str(tmp),
            parameters=params,
            kernel_name="python3",
            cwd=str(cwd or out.parent),
            progress_bar=bar,
            execution_timeout=timeout,
            report_mode=False,
            config=_kernel_config(),
        )
        runtime = time.perf_counter() - start
        nb = nbformat.read(tmp, as_version=4)
        run = {
            "source": notebook if notebook is not None else source.path.as_posix(),
            "parameters": overrides,
            "defaults": not overrides,
            "key": key,
            "commit": commit,
            "runtime_s": round(runtime, 1),
            "date": _dt.date.today().isoformat(),
            **dict(extra_metadata or {}),
        }
        _finalise(nb, source, run)
        nbformat.write(nb, tmp)
        os.replace(tmp, out)
        return runtime
    except Exception:
        if failed_output is not None and tmp.is_file():
            Path(failed_output).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, failed_output)
        raise
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        tmp.unlink(missing_ok=True)


def _finalise(nb: Any, source: NotebookSource, run: dict[str, Any]) -> None:
    """Tidy an executed notebook for the book: hide papermill's injected cell, record the run."""
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-input" not in tags:
            tags.append("remove-input")
        # papermill's per-cell timing metadata changes every run; it is noise in git diffs.
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nb.metadata.pop("papermill", None)
    eos = dict(nb.metadata.get("eos") or source.eos)
    eos["run"] = run
    nb.metadata["eos"] = eos


def describe_failure(err: BaseException, max_lines: int = 12) -> str:
    """A short account of a failed run: the failed check lines first, then the error's tail."""
    ename = getattr(err, "ename", None)
    if ename is None:
        lines = str(err).strip().splitlines()
        return "\n".join(lines[-max_lines:])
    tb = _ANSI.sub("", "\n".join(getattr(err, "traceback", []) or [])).splitlines()
    evalue = _ANSI.sub("", str(getattr(err, "evalue", "")))
    fails = [ln for ln in evalue.splitlines() if ln.startswith(("FAIL ", "VERDICT "))]
    head = f"cell [{getattr(err, 'exec_count', '?')}] raised {ename}: {evalue.splitlines()[0] if evalue else ''}"
    tail = [ln for ln in tb if ln.strip()][-max_lines:]
    return "\n".join([head, *(f for f in fails[1:]), "", *tail])
