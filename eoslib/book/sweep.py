"""``eoslib sweep``: one notebook over a grid of parameters, each point a papermill run on Dask.

Usage::

    eoslib sweep notebooks/two_step/theorem_2.md -p eta 0.5,0.9,1.1 -p num_steps 1000:5000:3
    eoslib sweep notebooks/... -p eta 1e-3:1e-1:5:log --cluster tcp://10.0.0.5:8786 --name big
    eoslib sweep notebooks/... -p etas "[0.1,0.05],[0.05,0.025]" --cluster slurm.yaml

A grid axis is ``-p NAME VALUES``: comma-separated values (``0.1,0.2``; a list-valued
parameter takes bracketed lists, ``[0.1,0.05],[0.2]``), or ``a:b:n`` for ``n`` evenly spaced
values from ``a`` to ``b`` (``a:b:n:log`` for geometric spacing; values are rounded to 12
significant digits). The grid is the Cartesian product of the axes, the last one varying
fastest. Every value is checked against the notebook's ``parameters`` cell (type, range,
choices; :mod:`eoslib.book.parameters`) before any cluster starts.

Each point is one execution of :func:`eoslib.book.runner.execute` (papermill, with the
runner's injected session cells) inside a Dask task; where it runs is the ``--cluster``
option (:mod:`eoslib.book.sweep_cluster`). Everything lands in ``_runs/sweeps/<name>/``:

* ``<slug>-<params>.ipynb``: the executed notebook of each point;
* ``points/<key>.json``: each point's record, written atomically by the worker the moment
  the point finishes (:mod:`eoslib.book.sweep_table`), so a worker that dies later loses
  nothing, and a point whose worker dies mid-run is re-run by the scheduler on another worker;
* ``results.parquet`` and ``results.csv``: the tidy table, one row per point and check;
* ``sweep.json``: the grid, the command, the cluster and the counts.

A point's key is its manifest key (:func:`eoslib.book.provenance.notebook_key`: source,
non-default parameters, imported ``eoslib`` modules, pins). A rerun skips the points whose
record has the current key and an outcome (``pass``, ``fail``, ``error``); ``crashed``
points (kernel died, timeout, worker lost) are retried, and ``--retry-failed`` retries the
failed ones too. Editing an imported module re-runs every point; adding values to an axis runs
only the new points.

The exit status is 0 when every point has an outcome (a point whose checks fail is an
outcome: the table holds it), 1 when some point crashed (run the command again to retry it),
2 for a usage error (nothing ran).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import itertools
import json
import os
import re
import shlex
import socket
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from eoslib.book.parameters import ParameterError, ParameterSpec, non_default, parse_cli_value, validate_values
from eoslib.book.sweep_table import (
    DONE,
    notebook_text,
    parse_checks,
    read_record,
    table_rows,
    write_json_atomic,
    write_table,
)

__all__ = [
    "GridError",
    "split_values",
    "parse_axis",
    "SweepPoint",
    "SweepPlan",
    "plan_sweep",
    "run_point",
    "SweepResult",
    "run_sweep",
    "add_sweep_parser",
    "cmd_sweep",
]

_RANGE = re.compile(r"^\s*([-+]?[0-9.]+(?:[eE][-+]?\d+)?)\s*:\s*([-+]?[0-9.]+(?:[eE][-+]?\d+)?)\s*:\s*(\d+)"
                    r"\s*(?::\s*(lin|log))?\s*$")
_OPEN, _CLOSE = "[({", "])}"


class GridError(ValueError):
    """A grid axis is malformed (syntax, empty, repeated values or a parameter given twice)."""


def split_values(text: str) -> list[str]:
    """Split ``"0.1,0.2"`` or ``"[1,2],[3]"`` at the commas outside brackets and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _range_values(spec: ParameterSpec, m: re.Match[str]) -> list[Any]:
    a, b, n, scale = float(m.group(1)), float(m.group(2)), int(m.group(3)), m.group(4) or "lin"
    if n < 1:
        raise GridError(f"-p {spec.name} {m.group(0).strip()}: the number of values n must be >= 1")
    if n == 1:
        raw = [a]
    elif scale == "log":
        if a <= 0 or b <= 0:
            raise GridError(f"-p {spec.name} {m.group(0).strip()}: a log grid needs a, b > 0")
        raw = [a * (b / a) ** (i / (n - 1)) for i in range(n)]
    else:
        raw = [a + (b - a) * i / (n - 1) for i in range(n)]
    if type(spec.default) is int:
        out = []
        for v in raw:
            if abs(v - round(v)) > 1e-9 * max(1.0, abs(v)):
                raise GridError(f"-p {spec.name} {m.group(0).strip()}: {spec.name!r} is an int but the "
                                f"grid gives {v:g}; choose a, b, n so that the values are integers")
            out.append(int(round(v)))
        return out
    return [float(f"{v:.12g}") for v in raw]


def parse_axis(spec: ParameterSpec, text: str, where: str = "<notebook>") -> list[Any]:
    """The values of one grid axis, validated against the parameter's declaration.

    Args:
      spec: the declared parameter.
      text: ``"V1,V2,..."`` or ``"a:b:n"`` / ``"a:b:n:log"`` (numeric parameters only).
      where: the notebook, for messages.

    Returns:
      The values, coerced to the declared type, in the given order.

    Raises:
      GridError: a malformed axis or a repeated value.
      eoslib.book.parameters.ParameterError: values outside the declaration (all of them are
        listed, with the allowed values).
    """
    numeric = type(spec.default) in (int, float)
    m = _RANGE.match(text) if numeric else None
    raw = _range_values(spec, m) if m else [parse_cli_value(p) for p in split_values(text)]
    values, bad = [], []
    for v in raw:
        try:
            values.append(validate_values({spec.name: spec}, {spec.name: v}, where=where)[spec.name])
        except ParameterError:
            bad.append(v)
    if bad:
        shown = ", ".join(repr(v) for v in bad)
        raise ParameterError(f"-p {spec.name} {text}: {len(bad)} grid value(s) rejected ({shown}); "
                             f"{spec.name!r} must be {spec.allowed()} ({where})")
    seen: list[Any] = []
    for v in values:
        if v in seen:
            raise GridError(f"-p {spec.name} {text}: the value {v!r} is listed twice")
        seen.append(v)
    return values


@dataclass
class SweepPoint:
    """One grid point.

    Attributes:
      index: position in the grid (row-major over the axes as given).
      parameters: the swept parameters' values.
      overrides: those that differ from the declared defaults (what the key hashes).
      key: the manifest key of the run.
      output: the executed notebook.
      record: the point's JSON record.
    """

    index: int
    parameters: dict[str, Any]
    overrides: dict[str, Any]
    key: str
    output: Path
    record: Path


@dataclass
class SweepPlan:
    """A validated sweep: the notebook, the grid, and where each point's results go."""

    root: Path
    source_path: Path
    notebook: str
    name: str
    folder: Path
    commit: str
    axes: dict[str, list[Any]]
    points: list[SweepPoint] = field(default_factory=list)


def _tag(params: Mapping[str, Any]) -> str:
    def text(v: Any) -> str:
        if isinstance(v, (list, tuple)):
            return "_".join(text(x) for x in v) or "none"
        return f"{v:g}" if isinstance(v, float) else str(v)

    raw = "-".join(f"{k}={text(v)}" for k, v in params.items())
    return re.sub(r"[^A-Za-z0-9._=+-]", "_", raw)


def plan_sweep(notebook: str | os.PathLike[str], axes: Sequence[tuple[str, str]], *, name: str | None = None,
               out: str | os.PathLike[str] | None = None, root: str | os.PathLike[str] | None = None) -> SweepPlan:
    """Validate a grid against a notebook and lay out its points; nothing runs.

    Args:
      notebook: the jupytext source, e.g. ``notebooks/two_step/theorem_2.md``.
      axes: ``(name, values)`` pairs as given to ``-p`` (see :func:`parse_axis`).
      name: the sweep's name (default: the notebook's slug).
      out: the sweep's folder (default: ``<checkout>/_runs/sweeps/<name>``).
      root: the checkout (default: the one enclosing the working directory).

    Returns:
      The :class:`SweepPlan`, every point with its key.

    Raises:
      FileNotFoundError: no such notebook.
      GridError, eoslib.book.parameters.ParameterError: a bad axis (see :func:`parse_axis`),
        an unknown parameter, a parameter given twice, or no axis at all.
    """
    from eoslib.book import provenance as prov
    from eoslib.book import runner
    from eoslib.book.catalog import Project

    project = Project(Path(root).resolve()) if root is not None else Project.find()
    source = runner.read_source(notebook)
    where = str(source.path)
    if not axes:
        raise GridError("give at least one grid axis: -p NAME V1,V2,... or -p NAME a:b:n")
    grid: dict[str, list[Any]] = {}
    for pname, text in axes:
        if pname in grid:
            raise GridError(f"parameter {pname!r} is given twice; put all its values in one -p")
        if pname not in source.parameters:
            validate_values(source.parameters, {pname: None}, where=where)  # raises, listing the allowed ones
        grid[pname] = parse_axis(source.parameters[pname], text, where)
    sweep_name = name or source.slug
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", sweep_name):
        raise GridError(f"--name must be letters, digits, '.', '_' or '-', got {sweep_name!r}")
    folder = Path(out) if out is not None else project.root / "_runs" / "sweeps" / sweep_name
    try:
        shown = project.rel(source.path)
        commit = prov.clean_commit(project)
    except ValueError:  # a notebook outside the checkout
        shown, commit = source.path.resolve().as_posix(), ""
    plan = SweepPlan(root=project.root, source_path=source.path.resolve(), notebook=shown, name=sweep_name,
                     folder=folder.resolve(), commit=commit, axes=grid)
    names = list(grid)
    outputs: dict[str, int] = {}
    for index, values in enumerate(itertools.product(*grid.values())):
        params = dict(zip(names, values))
        runner.validate_parameters(source, params)  # every point as a whole, before anything runs
        overrides = non_default(source.parameters, params)
        key = prov.notebook_key(project, source.path, overrides)
        stem = f"{source.slug}-{_tag(params)}"
        if len(stem) > 120 or stem in outputs:
            stem = f"{source.slug}-{index:04d}-{key[:12]}"
        outputs[stem] = index
        plan.points.append(SweepPoint(index=index, parameters=params, overrides=overrides, key=key,
                                      output=plan.folder / f"{stem}.ipynb",
                                      record=plan.folder / "points" / f"{key}.json"))
    return plan


# --- one point, on a worker -----------------------------------------------------------------------

def _execute_kwargs(failed_output: Path) -> dict[str, Any]:
    """Keep a failed point's partial notebook if the runner can (its check lines up to the failure)."""
    import inspect

    from eoslib.book import runner

    return {"failed_output": failed_output} if "failed_output" in inspect.signature(runner.execute).parameters else {}


def _classify(err: BaseException) -> str:
    ename = getattr(err, "ename", None)
    if ename is None:
        return "crashed"  # kernel died, cell timeout, lost files: not an outcome of the point
    return "fail" if ename == "CheckFailed" else "error"


def run_point(task: Mapping[str, Any]) -> dict[str, Any]:
    """Execute one grid point and write its record atomically (runs inside a Dask task).

    Args:
      task: ``root``, ``source``, ``notebook``, ``commit``, ``point``, ``parameters``,
        ``overrides``, ``key``, ``output``, ``record``, ``timeout``, ``sweep``, ``run_id`` and
        ``skip`` (statuses of an existing record that make the run unnecessary).

    Returns:
      The point's record (see :mod:`eoslib.book.sweep_table`).
    """
    from eoslib.book import provenance as prov
    from eoslib.book import runner
    from eoslib.book.catalog import Project

    record_path, output = Path(task["record"]), Path(task["output"])
    previous = read_record(record_path)
    if previous and previous.get("key") == task["key"] and (
            previous.get("run_id") == task["run_id"] or previous.get("status") in task["skip"]):
        return previous  # finished by an earlier attempt whose worker died before reporting
    root = Path(task["root"])
    rec: dict[str, Any] = {
        "point": task["point"], "key": task["key"], "parameters": dict(task["parameters"]),
        "overrides": dict(task["overrides"]), "sweep": task["sweep"], "run_id": task["run_id"],
        "notebook": _rel(output, root), "worker": f"{socket.gethostname()}:{os.getpid()}",
        "started": _dt.datetime.now().isoformat(timespec="seconds"), "checks": [], "verdicts": {}, "error": "",
    }
    start = time.perf_counter()
    failed = output.with_name(f"{output.stem}.failed.ipynb")
    try:
        if not root.is_dir():
            raise FileNotFoundError(f"the worker on {socket.gethostname()} cannot see the checkout {root} "
                                    "(workers need it on a shared filesystem)")
        source = runner.read_source(task["source"])
        here = prov.notebook_key(Project(root), source.path, task["overrides"])
        if here != task["key"]:
            raise RuntimeError(f"the checkout on {socket.gethostname()} gives key {here[:12]}, the client "
                               f"{task['key'][:12]}: its notebook, eoslib code or pins differ")
        params = runner.validate_parameters(source, task["parameters"])
        failed.unlink(missing_ok=True)
        # Each kernel runs in its own scratch folder: whatever a notebook writes beside itself
        # neither piles up in the sweep's folder nor collides with a point running next to it.
        with tempfile.TemporaryDirectory(prefix="eos-sweep-") as work:
            runner.execute(source, output, params, notebook=task["notebook"], key=task["key"],
                           commit=task["commit"], cwd=work, timeout=task["timeout"],
                           extra_metadata={"sweep": task["sweep"], "point": task["point"]},
                           **_execute_kwargs(failed))
        rec["status"] = "pass"
        text = notebook_text(output)
    except Exception as err:  # noqa: BLE001 - every failure becomes the point's recorded outcome
        rec["status"] = _classify(err)
        rec["error"] = runner.describe_failure(err) if getattr(err, "ename", None) else f"{type(err).__name__}: {err}"
        if failed.is_file():
            rec["notebook"] = _rel(failed, root)
            text = notebook_text(failed)
        else:
            rec["notebook"] = ""
            text = str(getattr(err, "evalue", ""))
    rec["runtime_s"] = round(time.perf_counter() - start, 2)
    # The raw lines too: a table rebuilt later re-parses them (see sweep_table.table_rows).
    rec["check_lines"] = [ln for ln in text.splitlines() if ln.startswith(("PASS ", "FAIL "))]
    rec["checks"] = parse_checks(text)
    rec["verdicts"] = _verdicts(text)
    rec["finished"] = _dt.datetime.now().isoformat(timespec="seconds")
    write_json_atomic(record_path, rec)
    return rec


def _verdicts(text: str) -> dict[str, dict[str, str]]:
    from eoslib.book.manifest import summarize_text

    return summarize_text(text).verdicts


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


# --- the sweep, on the client ---------------------------------------------------------------------

@dataclass
class SweepResult:
    """What a sweep produced.

    Attributes:
      plan: the plan it ran.
      records: one record per grid point, in grid order (a point interrupted before it
        finished has none and is missing).
      ran: points executed by this call; skipped: points already done.
      table: the Parquet and CSV paths.
      wall_s: wall-clock seconds of the call.
    """

    plan: SweepPlan
    records: list[dict[str, Any]]
    ran: int
    skipped: int
    table: tuple[Path, Path]
    wall_s: float

    def counts(self) -> dict[str, int]:
        """Points by status."""
        out: dict[str, int] = {}
        for r in self.records:
            out[r["status"]] = out.get(r["status"], 0) + 1
        return out


def _pending(plan: SweepPlan, retry_failed: bool) -> tuple[list[SweepPoint], dict[int, dict[str, Any]]]:
    keep = ("pass",) if retry_failed else DONE
    done: dict[int, dict[str, Any]] = {}
    todo = []
    for p in plan.points:
        rec = read_record(p.record)
        if rec and rec.get("key") == p.key and rec.get("status") in keep:
            done[p.index] = {**rec, "point": p.index}
        else:
            todo.append(p)
    return todo, done


class _FolderLock:
    """One sweep per folder at a time (two would race on the same records and table)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / ".lock"
        self.fh: Any = None

    def __enter__(self) -> "_FolderLock":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "w")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            self.fh.close()
            raise RuntimeError(f"another sweep is writing {self.path.parent}; wait for it or use --name") from err
        # Temporary files of runs that a killed worker left behind.
        for stale in itertools.chain(self.path.parent.glob(".*.tmp.ipynb"), self.path.parent.glob("points/.*.tmp")):
            stale.unlink(missing_ok=True)
        return self

    def __exit__(self, *exc: object) -> None:
        import fcntl

        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def _describe(p: SweepPoint) -> str:
    return " ".join(f"{k}={json.dumps(v) if isinstance(v, (list, tuple)) else v}" for k, v in p.parameters.items())


def _line(rec: Mapping[str, Any], p: SweepPoint, total: int) -> str:
    status = rec["status"]
    n = len(rec.get("checks") or [])
    head = f"{'pass ' if status == 'pass' else status.upper():5s} point {p.index + 1}/{total}  {_describe(p)}  " \
           f"{rec.get('runtime_s', 0):5.1f} s  {n} checks"
    if status != "pass":
        first = next((c for c in rec.get("checks") or [] if c.get("verdict") == "FAIL"), None)
        why = f"FAIL {first['kind']} {first['check']}" if first else (rec.get("error") or "").splitlines()[0:1]
        head += f"  ({why if isinstance(why, str) else ''.join(why)})"
    return head


def run_sweep(
    plan: SweepPlan,
    *,
    cluster: str | None = "local",
    workers: int | None = None,
    client: Any = None,
    retry_failed: bool = False,
    timeout: int = 1800,
    command: str = "",
    log: Callable[[str], None] | None = print,
    progress: bool | None = None,
    table_every_s: float = 10.0,
) -> SweepResult:
    """Run the pending points of a plan on Dask and write the table.

    Args:
      plan: from :func:`plan_sweep`.
      cluster: ``--cluster`` (see :mod:`eoslib.book.sweep_cluster`); ignored if ``client``.
      workers: ``--workers``: workers of a local or jobqueue cluster.
      client: an existing :class:`distributed.Client` to use (and leave open).
      retry_failed: also re-run points whose record says ``fail`` or ``error``.
      timeout: per-cell timeout of each papermill run, in seconds.
      command: the command line, recorded in ``sweep.json``.
      log: where progress lines go (``None``: silent).
      progress: a progress bar on a terminal (default: when stdout is one).
      table_every_s: rewrite the table at most this often while points finish.

    Returns:
      The :class:`SweepResult`.

    Raises:
      RuntimeError: another sweep is writing the same folder, or the cluster did not start.

    A script that calls this must do so under ``if __name__ == "__main__":``: a local cluster
    starts its workers with ``multiprocessing``'s spawn method, which re-imports the script.
    """
    from eoslib.book.sweep_cluster import check_cluster_spec, open_cluster

    say = log or (lambda _msg: None)
    spec = None if client is not None else check_cluster_spec(cluster, workers)
    start = time.perf_counter()
    run_id = uuid.uuid4().hex[:12]
    records: dict[int, dict[str, Any]] = {}
    ran = 0
    with _FolderLock(plan.folder):
        todo, records = _pending(plan, retry_failed)
        skipped = len(records)
        meta = _sweep_meta(plan, command, spec.source if spec else "client", run_id)
        write_json_atomic(plan.folder / "sweep.json", meta)
        say(f"sweep {plan.name}: {len(plan.points)} points of {plan.notebook}, {skipped} already done, "
            f"{len(todo)} to run -> {_shown(plan.folder)}")
        table_at = time.perf_counter()
        if todo:
            opened = None
            if client is None:
                opened = open_cluster(spec, len(todo))
                client = opened.client
                say(f"cluster: {opened.description}")
                meta["cluster"] = f"{meta['cluster']}: {opened.description}"
                if opened.dashboard:
                    say(f"dashboard: {opened.dashboard}")
            bar = _progress(len(todo), log, progress)
            try:
                for p, rec in _submit_and_collect(client, plan, todo, run_id, retry_failed, timeout):
                    records[p.index] = rec
                    ran += 1
                    bar(_line(rec, p, len(plan.points)))
                    if time.perf_counter() - table_at > table_every_s:
                        _write(plan, records)
                        table_at = time.perf_counter()
            finally:
                bar(None)
                _write(plan, records)
                if opened is not None:
                    opened.close()
        paths = _write(plan, records)
        result = SweepResult(plan=plan, records=[records[i] for i in sorted(records)], ran=ran, skipped=skipped,
                             table=paths, wall_s=time.perf_counter() - start)
        meta.update(counts=result.counts(), ran=ran, skipped=skipped, wall_s=round(result.wall_s, 1),
                    finished=_dt.datetime.now().isoformat(timespec="seconds"))
        write_json_atomic(plan.folder / "sweep.json", meta)
    counts = ", ".join(f"{n} {s}" for s, n in result.counts().items())
    say(f"sweep {plan.name}: {counts} ({ran} run, {skipped} skipped) in {result.wall_s:.0f} s; "
        f"table: {_shown(paths[0])} and .csv")
    return result


def _submit_and_collect(client: Any, plan: SweepPlan, todo: list[SweepPoint], run_id: str, retry_failed: bool,
                        timeout: int):
    """Submit every pending point and yield ``(point, record)`` as they finish."""
    from distributed import as_completed

    skip = ["pass"] if retry_failed else list(DONE)
    futures = {}
    for p in todo:
        task = {"root": str(plan.root), "source": str(plan.source_path), "notebook": plan.notebook,
                "commit": plan.commit, "point": p.index, "parameters": p.parameters, "overrides": p.overrides,
                "key": p.key, "output": str(p.output), "record": str(p.record), "timeout": timeout,
                "sweep": plan.name, "run_id": run_id, "skip": skip}
        fut = client.submit(run_point, task, key=f"eoslib-sweep-{plan.name}-{p.index:05d}-{run_id}", pure=False)
        futures[fut.key] = (fut, p)
    try:
        for fut in as_completed([f for f, _ in futures.values()]):
            p = futures[fut.key][1]
            try:
                rec = fut.result()
            except Exception as err:  # noqa: BLE001 - KilledWorker, lost scheduler: the point crashed
                rec = read_record(p.record)
                if not (rec and rec.get("key") == p.key and rec.get("run_id") == run_id):
                    rec = {"point": p.index, "key": p.key, "parameters": p.parameters, "overrides": p.overrides,
                           "sweep": plan.name, "run_id": run_id, "status": "crashed", "notebook": "",
                           "error": f"{type(err).__name__}: {err}", "checks": [], "verdicts": {}, "runtime_s": None}
                    write_json_atomic(p.record, rec)
            fut.release()
            yield p, {**rec, "point": p.index}
    except BaseException:
        for fut, _ in futures.values():
            fut.cancel()
        raise


def _write(plan: SweepPlan, records: Mapping[int, Mapping[str, Any]]) -> tuple[Path, Path]:
    recs = [records[i] for i in sorted(records)]
    return write_table(table_rows(recs, list(plan.axes)), plan.folder)


def _sweep_meta(plan: SweepPlan, command: str, cluster: str, run_id: str) -> dict[str, Any]:
    return {"notebook": plan.notebook, "name": plan.name, "axes": plan.axes, "points": len(plan.points),
            "command": command, "cluster": cluster, "commit": plan.commit, "run_id": run_id,
            "host": socket.gethostname(), "cpus": os.cpu_count(),
            "started": _dt.datetime.now().isoformat(timespec="seconds")}


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _progress(total: int, log: Callable[[str], None] | None, progress: bool | None) -> Callable[[str | None], None]:
    """A callable taking one line per finished point (``None`` closes it)."""
    if log is None:
        return lambda _line: None
    if progress is None:
        progress = sys.stdout.isatty()
    if not progress:
        done = [0]

        def plain(line: str | None) -> None:
            if line is not None:
                done[0] += 1
                log(f"  [{done[0]}/{total}] {line}")

        return plain
    from eoslib.book.cli import _Progress  # the same bar as `eoslib build`

    bar = _Progress(total)

    def fancy(line: str | None) -> None:
        bar.close() if line is None else bar.update(line)

    return fancy


# --- command line ---------------------------------------------------------------------------------

def add_sweep_parser(sub: Any) -> None:
    """Register ``eoslib sweep`` on the subparsers of :func:`eoslib.book.cli.make_parser`."""
    p = sub.add_parser(
        "sweep", help="run one notebook over a grid of parameters on Dask",
        description="Run one notebook over the Cartesian product of the -p axes, each point a papermill run "
                    "in a Dask task. Results: _runs/sweeps/<name>/results.{parquet,csv}, one row per point and "
                    "check. Rerunning skips finished points.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="axes: -p eta 0.1,0.2,0.5 | -p eta 0.1:0.5:5 | -p eta 1e-3:1e-1:5:log | "
               "-p etas '[0.1,0.05],[0.2]' | -p scale book,paper\n"
               "exit status: 0 every point has an outcome (pass or fail), 1 some point crashed, 2 usage error")
    p.add_argument("notebook", help="notebooks/<paper>/<slug>.md")
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUES"), default=[],
                   help="a grid axis: V1,V2,... or a:b:n[:log] (repeatable; the grid is their product)")
    p.add_argument("--cluster", default="local",
                   help="'local' (default: one single-threaded worker process per core), a scheduler address "
                        "tcp://HOST:PORT, or a dask-jobqueue cluster .yaml (SLURM, PBS, ...)")
    p.add_argument("--workers", type=int, help="workers of a local or jobqueue cluster (default: one per core)")
    p.add_argument("--name", help="the sweep's name, its folder _runs/sweeps/<name> (default: the notebook's slug)")
    p.add_argument("--out", help="the sweep's folder (default: _runs/sweeps/<name>)")
    p.add_argument("--retry-failed", action="store_true", help="also re-run points whose checks failed or raised")
    p.add_argument("--timeout", type=int, default=1800, help="per-cell timeout of each run, seconds (default 1800)")
    p.add_argument("--dry-run", action="store_true", help="validate the grid and list the points; run nothing")
    p.add_argument("--export", metavar="DIR", help="also copy results.{parquet,csv} and sweep.json into DIR")
    p.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="progress bar (default: on a terminal)")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(func=cmd_sweep)


def _err(msg: str) -> int:
    print(f"eoslib: error: {msg}", file=sys.stderr)
    return 2


def cmd_sweep(args: argparse.Namespace) -> int:
    """``eoslib sweep``: validate, plan, run, write the table (see the module docs)."""
    from importlib.util import find_spec

    from eoslib.book.sweep_cluster import check_cluster_spec

    missing = [m for m in ("dask", "distributed", "pyarrow") if find_spec(m) is None]
    if missing:
        return _err(f"`eoslib sweep` needs the 'sweep' extra ({', '.join(missing)} missing): "
                    "pip install -e '.[book,sweep]'")
    try:
        check_cluster_spec(args.cluster, args.workers)
        if args.timeout < 1:
            raise ValueError(f"--timeout must be >= 1 s, got {args.timeout}")
        plan = plan_sweep(args.notebook, [tuple(a) for a in args.parameter], name=args.name, out=args.out)
    except (FileNotFoundError, ValueError) as err:
        return _err(str(err))
    command = " ".join(shlex.quote(a) for a in ["eoslib", *sys.argv[1:]]) if sys.argv else ""
    if args.dry_run:
        todo, done = _pending(plan, args.retry_failed)
        waiting = {p.index for p in todo}
        print(f"sweep {plan.name}: {len(plan.points)} points of {plan.notebook} -> {_shown(plan.folder)}")
        for p in plan.points:
            state = "run " if p.index in waiting else f"done ({done[p.index]['status']})"
            print(f"  {p.index + 1:4d} {state:12s} {_describe(p)}  key {p.key[:12]}")
        return 0
    try:
        result = run_sweep(plan, cluster=args.cluster, workers=args.workers, retry_failed=args.retry_failed,
                           timeout=args.timeout, command=command, progress=args.progress)
    except (RuntimeError, OSError, ValueError) as err:  # a busy folder, a cluster that did not start
        return _err(str(err))
    except KeyboardInterrupt:
        print("interrupted: finished points are kept; run the same command to go on", file=sys.stderr)
        return 130
    if args.export:
        import shutil

        dest = Path(args.export)
        dest.mkdir(parents=True, exist_ok=True)
        for f in (*result.table, plan.folder / "sweep.json"):
            shutil.copy2(f, dest / f.name)
        print(f"exported: {_shown(dest)}")
    return 1 if result.counts().get("crashed") else 0


if __name__ == "__main__":  # pragma: no cover
    ap = argparse.ArgumentParser(prog="eoslib")
    add_sweep_parser(ap.add_subparsers(dest="command", required=True))
    ns = ap.parse_args()
    raise SystemExit(ns.func(ns))
