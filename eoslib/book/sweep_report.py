"""A sweep's summary and figure, for a book page: ``python -m eoslib.book.sweep_report``.

Usage::

    python -m eoslib.book.sweep_report _runs/sweeps/theorem_5_2_grid \\
        --check "fitted exponent" --check "remainder" --x ns --series etas --out book/_sweeps/theorem_5_2_grid

reads the sweep's ``results.parquet`` and ``sweep.json`` (see :mod:`eoslib.book.sweep`) and writes

* ``summary.csv``: one row per grid point: the swept parameters (axes with more than one
  value), the status, the checks
  passed out of those printed, the runtime, and for each ``--check`` (a substring of the
  check's name; the first matching check of the point) its measured value and verdict;
* ``figure.png`` (with ``--x``): the first ``--check``'s measured value against the
  parameter ``--x``, one line per value of ``--series``; passed checks are filled markers,
  failed ones open red markers; the check's expected value and tolerance band (or its bound)
  are drawn, and a footer names the sweep's command, date and commit.

A list-valued parameter on the x axis is reduced to one number with ``--reduce``
(``first``, ``min``, ``max`` or ``len``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import textwrap
from pathlib import Path
from typing import Any, Sequence

__all__ = ["load", "summary_rows", "write_summary", "plot", "main"]

_REDUCE = {"first": lambda v: v[0], "min": min, "max": max, "len": len}


def load(folder: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The tidy rows of ``results.parquet`` and the ``sweep.json`` of a sweep folder."""
    import pyarrow.parquet as pq

    rows = pq.read_table(folder / "results.parquet").to_pylist()
    meta = json.loads((folder / "sweep.json").read_text())
    return rows, meta


def _value(text: Any) -> Any:
    if isinstance(text, str) and text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _x(cell: Any, reduce: str) -> Any:
    """A parameter cell as an x coordinate (a list reduced to one number)."""
    v = _value(cell)
    return _REDUCE[reduce](v) if isinstance(v, list) else v


def summary_rows(rows: Sequence[dict[str, Any]], params: Sequence[str], checks: Sequence[str]) -> list[dict[str, Any]]:
    """One row per grid point (see the module docs)."""
    points: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        points.setdefault(r["point"], []).append(r)
    out = []
    for point in sorted(points):
        rs = points[point]
        first = rs[0]
        printed = [r for r in rs if r.get("check")]
        row: dict[str, Any] = {"point": point + 1}
        row.update({p: first.get(p) for p in params})
        row["status"] = first["status"]
        row["checks passed"] = f"{sum(r['verdict'] == 'PASS' for r in printed)}/{len(printed)}"
        for sub in checks:
            hit = next((r for r in printed if sub in r["check"]), None)
            row[sub] = "" if hit is None else (hit["measured_text"] or "")
            row[f"{sub}: verdict"] = "" if hit is None else hit["verdict"]
        failing = next((r for r in printed if r["verdict"] == "FAIL"), None)
        row["first failure"] = (failing["check"] if failing else
                                (first.get("error") or "").splitlines()[0] if first["status"] != "pass" else "")
        row["runtime (s)"] = "" if first.get("runtime_s") is None else f"{first['runtime_s']:.0f}"
        out.append(row)
    return out


def write_summary(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Write the summary rows as CSV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _tolerance(text: str, expected: float) -> float:
    vals = dict(re.findall(r"(rtol|atol)=([0-9.eE+-]+)", text or ""))
    return float(vals.get("atol", 0.0)) + float(vals.get("rtol", 0.0)) * abs(expected)


def plot(rows: Sequence[dict[str, Any]], meta: dict[str, Any], *, check: str, x: str, series: str | None,
         reduce: str = "first", logx: bool = False, path: Path) -> None:
    """Draw the figure described in the module docs and save it as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eoslib import plotting

    plotting.use_house_style()
    hits = [r for r in rows if r.get("check") and check in r["check"]]
    if not hits:
        raise ValueError(f"no check whose name contains {check!r} in the sweep's table")
    fig, ax = plt.subplots(figsize=(7.2, 4.2), layout="constrained")
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in hits:
        groups.setdefault("" if series is None else str(r[series]), []).append(r)
    for i, (label, rs) in enumerate(groups.items()):
        xs = [_x(r[x], reduce) for r in rs]
        order = sorted(range(len(rs)), key=lambda k: xs[k])
        xs, ys = [xs[k] for k in order], [rs[k]["measured"] for k in order]
        passed = [rs[k]["verdict"] == "PASS" for k in order]
        color = f"C{i}"
        name = f"{series} = {label}" if series else None
        ax.plot(xs, ys, "-", color=color, lw=1.2, label=name)
        ax.plot([a for a, p in zip(xs, passed) if p], [b for b, p in zip(ys, passed) if p], "o", color=color)
        ax.plot([a for a, p in zip(xs, passed) if not p], [b for b, p in zip(ys, passed) if not p], "o",
                mfc="white", mec="C3", mew=1.5)
    ticks = sorted({_x(r[x], reduce) for r in hits})
    if logx:
        ax.set_xscale("log")
    if len(ticks) <= 8:
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
    ref = hits[0]
    if ref["relation"] == "close" and not math.isnan(ref["expected"]):
        tol = _tolerance(ref["tolerance"], ref["expected"])
        ax.axhline(ref["expected"], color="k", lw=1, ls="--", label=f"expected {ref['expected_text']}")
        ax.axhspan(ref["expected"] - tol, ref["expected"] + tol, color="C2", alpha=0.15, zorder=0,
                   label=f"tolerance ({ref['tolerance']})")
    elif ref["relation"] in ("<=", ">=") and not math.isnan(ref["expected"]):
        ax.axhline(ref["expected"], color="k", lw=1, ls="--", label=f"bound ({ref['relation']} {ref['expected_text']})")
    ax.plot([], [], "o", mfc="white", mec="C3", mew=1.5, label="check failed")
    ax.set_xlabel(x if reduce == "first" or not isinstance(_value(hits[0][x]), list) else f"{reduce}({x})")
    ax.set_ylabel("measured value")
    short = re.sub(r"^\[[^\]]*\]\s*", "", ref["check"])
    ax.set_title(f"{meta['notebook'].rsplit('/', 1)[-1]}: {short}", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    plotting.data_note(ax, f"sweep {meta['name']}: {meta['points']} points")
    footer = f"{meta.get('command') or 'eoslib sweep'}  |  {meta.get('finished', meta.get('started', ''))[:10]}"
    footer += f"  |  commit {meta['commit']}" if meta.get("commit") else "  |  uncommitted code"
    footer = textwrap.fill(footer, 150, break_long_words=False, break_on_hyphens=False)
    fig.text(0.005, 0.002, footer, fontsize=5.5, color="0.45", ha="left", va="bottom")
    fig.get_layout_engine().set(rect=(0, 0.03 * (footer.count("\n") + 1.5), 1, 1 - 0.03 * (footer.count("\n") + 1.5)))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eoslib.book.sweep_report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep", help="the sweep's folder (with results.parquet and sweep.json)")
    ap.add_argument("--check", action="append", default=[], help="substring of a check's name (repeatable)")
    ap.add_argument("--x", help="parameter on the x axis of the figure")
    ap.add_argument("--series", help="parameter whose values are the figure's lines")
    ap.add_argument("--reduce", choices=sorted(_REDUCE), default="first", help="for a list-valued --x")
    ap.add_argument("--logx", action="store_true", help="logarithmic x axis")
    ap.add_argument("--out", help="output folder (default: the sweep's folder)")
    args = ap.parse_args(argv)
    folder = Path(args.sweep)
    rows, meta = load(folder)
    out = Path(args.out) if args.out else folder
    # Axes with one value are the same for every point: they belong in the caption, not in a column.
    params = [name for name, values in meta["axes"].items() if len(values) > 1]
    write_summary(summary_rows(rows, params, args.check), out / "summary.csv")
    print(f"wrote {out / 'summary.csv'}")
    if args.x:
        if not args.check:
            ap.error("--x needs a --check to plot")
        plot(rows, meta, check=args.check[0], x=args.x, series=args.series, reduce=args.reduce,
             logx=args.logx, path=out / "figure.png")
        print(f"wrote {out / 'figure.png'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
