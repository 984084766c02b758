"""A sweep's results: the check lines of each point, its record on disk, and the tidy table.

Every grid point of ``eoslib sweep`` ends as one JSON *record* under
``_runs/sweeps/<name>/points/<key>.json``, written atomically by the worker that ran it (so a
worker that dies later loses nothing). The record holds the point's parameters, its status,
its runtime, the executed notebook's path and the checks it printed, parsed from the lines of
:mod:`eoslib.checks`::

    PASS claim <name>: measured=0.9815 expected=1 tol=atol=0.02
    FAIL claim <name>: measured=0.9512345 expected=1 tol=atol=0.02 exceeded by 0.0288
    FAIL claim <name>: 2 of 5 entries off; worst at [3]: measured=... expected=... tol=... exceeded by ...
    FAIL regression <name>: measured=max 3.1e-10 <= bound=1e-10
    PASS finding <name>: measured=min 0.05 >= bound=0.01
    PASS claim <name>: measured=min 0.3 > 0
    PASS claim <name>: non-increasing over 4 values, violations=0 worst=~0
    PASS claim <name>: <detail of check_true>

:func:`write_table` turns the records into one tidy table, one row per grid point and check
(a point that printed no check gets one row with an empty check), as Parquet and CSV.
Standard library only, except pyarrow for the Parquet file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

__all__ = [
    "STATUSES",
    "DONE",
    "TABLE_COLUMNS",
    "parse_check_line",
    "parse_checks",
    "notebook_text",
    "write_json_atomic",
    "read_record",
    "table_rows",
    "write_table",
]

#: ``pass``: the notebook ran to the end; ``fail``: a check failed (``CheckFailed``);
#: ``error``: another exception in a cell; ``crashed``: the run did not finish (kernel died,
#: timeout, worker lost, the worker's checkout differs from the client's).
STATUSES = ("pass", "fail", "error", "crashed")
#: Outcomes that depend only on the point's key: a rerun skips them. ``crashed`` points are
#: retried; ``fail``/``error`` points too with ``--retry-failed``.
DONE = ("pass", "fail", "error")

#: Columns after the parameter columns, in order.
TABLE_COLUMNS = (
    "status", "check", "kind", "relation", "measured", "expected", "tolerance", "verdict", "detail",
    "measured_text", "expected_text", "runtime_s", "notebook", "error", "key",
)

_HEAD = re.compile(r"^(?P<verdict>PASS|FAIL) (?:(?P<kind>claim|reconstructed|regression|finding) )?(?P<rest>.*)$")
_CLOSE = re.compile(r"^(?P<name>.*?)(?:: (?P<off>\d+ of \d+ entries off; worst at \[[^\]]*\]))?: "
                    r"measured=(?P<m>.*?) expected=(?P<e>.*?) tol=(?P<tol>.*?)(?: exceeded by (?P<by>\S+))?$")
_BOUND = re.compile(r"^(?P<name>.*): measured=(?P<m>.*) (?P<rel><=|>=) bound=(?P<e>.*)$")
_SIGN = re.compile(r"^(?P<name>.*): measured=(?P<m>.*) (?P<rel>[<>]) 0$")
_MONO = re.compile(r"^(?P<name>.*): (?P<dir>increasing|non-increasing) over (?P<n>\d+) values, "
                   r"violations=(?P<v>\d+) worst=(?P<w>\S+)$")


def _number(text: str) -> float:
    """The float in a printed check value (``"~0.98"``, ``"max 1e-12"``), NaN for arrays/text."""
    t = text.strip()
    for prefix in ("max ", "min "):
        if t.startswith(prefix):
            t = t[len(prefix):]
    t = t.lstrip("~")
    try:
        return float(t)
    except ValueError:
        return math.nan


def parse_check_line(line: str) -> dict[str, Any] | None:
    """One check line of :mod:`eoslib.checks` as a dict, or ``None`` if it is not one.

    Returns:
      ``{"check", "kind", "verdict", "relation", "measured", "expected", "tolerance", "detail",
      "measured_text", "expected_text"}``. ``detail`` says how a failed
      :func:`~eoslib.checks.check` missed (``"exceeded by 0.07"``, which entry of an array). ``measured``/``expected`` are floats (NaN for an
      array or a non-numeric value; the printed text is kept beside them). ``relation`` is
      ``"close"`` (:func:`~eoslib.checks.check`), ``"<="``, ``">="``, ``"> 0"``, ``"< 0"``,
      ``"monotone"`` or ``"true"`` (:func:`~eoslib.checks.check_true`, whose detail is in
      ``measured_text``).
    """
    head = _HEAD.match(line.rstrip())
    if head is None:
        return None
    rest = head.group("rest")
    row: dict[str, Any] = {"kind": head.group("kind") or "", "verdict": head.group("verdict"),
                           "tolerance": "", "expected": math.nan, "expected_text": "", "detail": ""}
    if m := _CLOSE.match(rest):
        detail = "; ".join(t for t in (f"exceeded by {m['by']}" if m["by"] else "", m["off"] or "") if t)
        row.update(check=m["name"], relation="close", measured_text=m["m"], expected_text=m["e"],
                   tolerance=m["tol"].strip(), detail=detail)
    elif m := _BOUND.match(rest):
        row.update(check=m["name"], relation=m["rel"], measured_text=m["m"], expected_text=m["e"])
    elif m := _SIGN.match(rest):
        row.update(check=m["name"], relation=f"{m['rel']} 0", measured_text=m["m"], expected_text="0")
    elif m := _MONO.match(rest):
        row.update(check=m["name"], relation="monotone", measured_text=f"violations={m['v']} of {m['n']}",
                   expected_text="violations=0")
        row["measured"], row["expected"] = float(m["v"]), 0.0
        return row
    elif ": " in rest:
        name, detail = rest.split(": ", 1)
        row.update(check=name, relation="true", measured_text=detail, measured=math.nan)
        return row
    else:
        return None
    row["measured"] = _number(row["measured_text"])
    row["expected"] = _number(row["expected_text"])
    return row


def parse_checks(text: str) -> list[dict[str, Any]]:
    """Every check line in some printed text, in order."""
    return [r for line in text.splitlines() if line.startswith(("PASS ", "FAIL ")) and (r := parse_check_line(line))]


def notebook_text(path: str | os.PathLike[str]) -> str:
    """The stdout of an executed ``.ipynb`` (its stream outputs, concatenated)."""
    nb = json.loads(Path(path).read_text())
    parts: list[str] = []
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                text = out.get("text", "")
                parts.append(text if isinstance(text, str) else "".join(text))
    return "".join(parts)


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON beside ``path`` and rename it into place (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=repr) + "\n")
    os.replace(tmp, path)


def read_record(path: Path) -> dict[str, Any] | None:
    """A point's record, or ``None`` if it does not exist (or is unreadable)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _cell(value: Any) -> Any:
    """A parameter value as a table cell: lists and dicts become JSON text."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return value


def table_rows(records: Sequence[Mapping[str, Any]], parameter_names: Sequence[str]) -> list[dict[str, Any]]:
    """The tidy rows of some point records: one per point and check, points in the given order.

    Args:
      records: point records (see :mod:`eoslib.book.sweep`), each with ``point``,
        ``parameters``, ``status``, ``checks``, ``runtime_s``, ``notebook``, ``error``, ``key``.
      parameter_names: the swept parameters, one column each (a name that clashes with a
        fixed column gets the prefix ``param_``).
    """
    cols = [f"param_{n}" if n in TABLE_COLUMNS or n == "point" else n for n in parameter_names]
    rows: list[dict[str, Any]] = []
    for rec in records:
        base: dict[str, Any] = {"point": rec["point"]}
        base.update({c: _cell(rec["parameters"].get(n)) for c, n in zip(cols, parameter_names)})
        common = {"status": rec.get("status", ""), "runtime_s": rec.get("runtime_s"),
                  "notebook": rec.get("notebook", ""), "error": rec.get("error", ""), "key": rec.get("key", "")}
        if "check_lines" in rec:
            checks = [c for ln in rec["check_lines"] if (c := parse_check_line(ln))] or [{}]
        else:
            checks = rec.get("checks") or [{}]
        for chk in checks:
            row = dict(base)
            row.update({c: None for c in TABLE_COLUMNS})
            row.update(common)
            row.update({k: chk.get(k) for k in ("check", "kind", "relation", "measured", "expected", "tolerance",
                                                  "verdict", "detail", "measured_text", "expected_text")})
            rows.append(row)
    return rows


def _arrow_type(values: Iterable[Any]) -> Any:
    import pyarrow as pa

    kinds = {type(v) for v in values if v is not None}
    if kinds <= {bool} and kinds:
        return pa.bool_()
    if kinds <= {int} and kinds:
        return pa.int64()
    if kinds <= {int, float} and kinds:
        return pa.float64()
    return pa.string()


def write_table(rows: Sequence[Mapping[str, Any]], folder: Path, stem: str = "results") -> tuple[Path, Path]:
    """Write the tidy table as ``<stem>.parquet`` and ``<stem>.csv``, each atomically.

    Returns:
      The two paths.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    names: list[str] = list(rows[0].keys()) if rows else ["point", *TABLE_COLUMNS]
    columns = {}
    for name in names:
        values = [r.get(name) for r in rows]
        typ = pa.float64() if name in ("measured", "expected", "runtime_s") else _arrow_type(values)
        if typ == pa.string():
            values = [None if v is None else str(v) for v in values]
        columns[name] = pa.array(values, type=typ)
    table = pa.table(columns)
    parquet, csv_path = folder / f"{stem}.parquet", folder / f"{stem}.csv"
    tmp = folder / f".{stem}.{os.getpid()}.tmp.parquet"
    pq.write_table(table, tmp)
    os.replace(tmp, parquet)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(names)
    for r in rows:
        writer.writerow(["" if (v := r.get(n)) is None or (isinstance(v, float) and math.isnan(v)) else v
                         for n in names])
    tmp = folder / f".{stem}.{os.getpid()}.tmp.csv"
    tmp.write_text(buf.getvalue())
    os.replace(tmp, csv_path)
    return parquet, csv_path
