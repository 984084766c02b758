"""The execution manifest ``book/_manifest.json``, and what an executed notebook reports.

One record per notebook source (posix path relative to the checkout)::

    {"key": <staleness key>, "defaults": true, "parameters": {}, "status": "pass",
     "checks": 12, "failed_checks": 0,
     "kinds": {"claim": 9, "reconstructed": 0, "regression": 2, "finding": 1},
     "verdicts": {"Theorem 2": {"outcome": "reproduced", "reason": ""}},
     "runtime_s": 31.4, "output": "book/two_step/theorem_2.ipynb"}

A page is *current* when its record passed, was made with the default parameters, and its
key equals the key of the present sources (:func:`stale_reason`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eoslib.book.catalog import Project

__all__ = ["CHECK_KINDS", "OUTCOMES", "OutputSummary", "summarize_output", "summarize_text",
           "load_manifest", "save_manifest", "update_manifest", "stale_reason"]

#: Mirrors :data:`eoslib.checks.KINDS` (the pipeline does not import the science package).
CHECK_KINDS = ("claim", "reconstructed", "regression", "finding")
#: Mirrors :data:`eoslib.checks.OUTCOMES`.
OUTCOMES = ("reproduced", "reproduced as reconstructed", "refuted", "not reproducible here")

_CHECK = re.compile(r"^(PASS|FAIL) (?:(claim|reconstructed|regression|finding) )?", re.M)
_VERDICT = re.compile(
    r"^VERDICT (?P<item>.+?): (?P<outcome>reproduced as reconstructed|reproduced|refuted|not reproducible here);"
    r" all (?P<n>\d+) checks passed \((?P<counts>[^)]*)\)(?: \((?P<reason>.*)\))?[ \t]*$",
    re.M,
)


@dataclass
class OutputSummary:
    """The check and verdict lines printed by an executed notebook.

    Attributes:
      passed: number of ``PASS`` lines.
      failed: number of ``FAIL`` lines.
      kinds: passed checks by kind (every kind present; ``"unlabelled"`` for lines without one).
      verdicts: item -> ``{"outcome", "reason"}`` from the ``VERDICT`` lines.
    """

    passed: int = 0
    failed: int = 0
    kinds: dict[str, int] = field(default_factory=lambda: {k: 0 for k in CHECK_KINDS})
    verdicts: dict[str, dict[str, str]] = field(default_factory=dict)


def summarize_text(text: str, summary: OutputSummary | None = None) -> OutputSummary:
    """Add the check and verdict lines of some printed text to a summary."""
    s = summary or OutputSummary()
    for m in _CHECK.finditer(text):
        if m.group(1) == "PASS":
            s.passed += 1
            kind = m.group(2) or "unlabelled"
            s.kinds[kind] = s.kinds.get(kind, 0) + 1
        else:
            s.failed += 1
    for m in _VERDICT.finditer(text):
        s.verdicts[m.group("item")] = {"outcome": m.group("outcome"), "reason": m.group("reason") or ""}
    return s


def summarize_output(executed: Path) -> OutputSummary:
    """The check and verdict lines of an executed ``.ipynb`` (stream outputs)."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    summary = OutputSummary()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = out.get("text", "")
                summarize_text(text if isinstance(text, str) else "".join(text), summary)
    return summary


def load_manifest(project: Project) -> dict[str, dict[str, Any]]:
    """The manifest: notebook source (posix, relative) -> record."""
    if not project.manifest.is_file():
        return {}
    return json.loads(project.manifest.read_text())


def save_manifest(project: Project, manifest: dict[str, dict[str, Any]]) -> None:
    """Write the manifest atomically (sorted, stable diffs)."""
    tmp = project.manifest.with_suffix(".json.tmp")
    project.manifest.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    tmp.replace(project.manifest)


def update_manifest(project: Project, source: str, record: dict[str, Any]) -> None:
    """Set one notebook's record, merging with what is on disk under a file lock.

    Several builds (or ``eoslib run --into-book`` calls) may finish at the same time; each
    rewrites only its own entry, so none loses another's.
    """
    import fcntl

    project.manifest.parent.mkdir(parents=True, exist_ok=True)
    lock = project.manifest.with_suffix(".json.lock")
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            manifest = load_manifest(project)
            manifest[source] = record
            save_manifest(project, manifest)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def stale_reason(project: Project, source: str, record: dict[str, Any] | None, current_key: str) -> str:
    """Why a book page is not current, or ``""`` if it is.

    Args:
      project: the checkout.
      source: the notebook source, relative to the checkout.
      record: its manifest record (``None`` if never executed into the book).
      current_key: the key of the present sources with the default parameters.
    """
    if record is None:
        return "never executed"
    if record.get("status") != "pass":
        return "its last run failed"
    if "defaults" not in record:
        return "executed by an older runner"
    if record.get("defaults") is not True:
        return "made with non-default parameters"
    output = record.get("output") or ""
    if not output or not (project.root / output).is_file():
        return "executed notebook missing"
    if record.get("key") != current_key:
        return "source, imported eoslib code or pins changed"
    return ""
