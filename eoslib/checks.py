"""Claim checks: a notebook is a claim, and these are its assertions.

Each check prints one rounded line that nbval compares across runs,

    PASS <kind> <name>: measured=<digits the tolerance supports> expected=<...> tol=<...>

records the result in a per-process register, and raises :class:`CheckFailed`
on failure so that papermill (and therefore ``eoslib run``/``eoslib build``)
fails loudly instead of rendering a wrong figure.

Check functions return ``None`` on purpose: a returned object at the end of a notebook
cell would be displayed again under the printed line. :func:`results` gives the record.

Every check declares its *kind*, printed on its line and counted on the ledger:

* ``claim``: the paper's statement as printed, with a tolerance derived from its theory
  (an error order, a bound) or from float64 round-off;
* ``reconstructed``: a statement whose printed form was lost, rebuilt and validated here
  (it is listed on the paper's Reconstructions page);
* ``regression``: a value recorded from an earlier run of our own, kept to catch drift;
  never presented as the paper's;
* ``finding``: the companion's own result (a counterexample, a repaired condition).

What nbval compares must be the same on every CPU. A measured value is therefore printed
with only the significant digits its tolerance supports (at most six, see
:func:`digits_for`), and a value that chaos or ill-conditioning makes machine-dependent is
passed with ``stable=False``: it is still asserted, but printed as ``~<value>``, which the
nbval sanitize file masks. A ``FAIL`` line is never compared (the run stops there), so it
prints :data:`FAIL_DIGITS` digits and by how much the tolerance was exceeded: a failure
always shows why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = [
    "KINDS",
    "CheckFailed",
    "CheckResult",
    "check",
    "check_le",
    "check_ge",
    "check_true",
    "check_monotone",
    "check_sign",
    "results",
    "reset",
    "verdict",
    "kind_counts",
    "digits_for",
    "fmt",
    "OUTCOMES",
    "FAIL_DIGITS",
]


KINDS = ("claim", "reconstructed", "regression", "finding")

#: The outcomes a notebook can record for a paper item with :func:`verdict`.
OUTCOMES = ("reproduced", "reproduced as reconstructed", "refuted", "not reproducible here")


#: Significant digits of the values on a ``FAIL`` line.
FAIL_DIGITS = 10


class CheckFailed(AssertionError):
    """A claim check did not hold."""


@dataclass(frozen=True)
class CheckResult:
    """One recorded check.

    Attributes:
      name: what was checked.
      passed: whether it held.
      line: the printed line.
    """

    name: str
    passed: bool
    line: str
    kind: str = "claim"


_RESULTS: list[CheckResult] = []


def digits_for(rtol: float | None, atol: float | None, expected: object) -> int:
    """Significant digits a tolerance supports: one more than the digits it resolves, in [2, 6].

    A check with ``rtol=0.05`` resolves about one digit of the measured value, so printing six
    would make nbval compare noise that the check itself calls irrelevant.
    """
    e = np.asarray(expected, dtype=float)
    scale = float(np.max(np.abs(e))) if e.size and np.all(np.isfinite(e)) else 0.0
    rel = []
    if rtol:
        rel.append(float(rtol))
    if atol and scale > 0:
        rel.append(float(atol) / scale)
    if not rel:
        return 6
    tau = max(rel)
    if tau <= 0:
        return 6
    return int(min(6, max(2, np.floor(-np.log10(tau)) + 1)))


#: Below this magnitude a measured float is round-off: exactly 0 on one CPU, 1e-16 on another.
ROUNDOFF_LEVEL = 1e-10


def fmt(x: object, digits: int = 6, roundoff: bool = False) -> str:
    """Format a number (or array) with ``digits`` significant digits for a check line.

    With ``roundoff=True`` (measured values) every float of magnitude below
    :data:`ROUNDOFF_LEVEL`, exact zeros included, prints as ``<1e-10``, so that a residual
    prints the same on every CPU.
    """
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    arr = np.asarray(x)
    if arr.ndim == 0:
        v = arr.item()
        if isinstance(v, (int, np.integer)):
            return str(v)
        v = float(v)
        if roundoff and abs(v) < ROUNDOFF_LEVEL:
            return "<1e-10"
        if v == 0.0:
            return "0"  # avoid "-0" flapping between runs
        out = f"{v:.{digits}g}"
        return "0" if out in ("-0", "0") else out
    flat = arr.ravel()
    if flat.size > 8:  # a check line must stay one readable line
        finite = flat[np.isfinite(flat.astype(float))] if flat.dtype.kind in "fiu" else flat
        if finite.size == 0:
            return f"[{flat.size} values, none finite]"
        lo, hi = fmt(finite.min(), digits, roundoff), fmt(finite.max(), digits, roundoff)
        return f"[{flat.size} values in {lo}..{hi}]"
    return "[" + ", ".join(fmt(v, digits, roundoff) for v in flat) + "]"


def _kind(name: str, kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"check {name!r}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind


def _shown(x: object, digits: int, stable: bool) -> str:
    # "~" marks a machine-dependent value: asserted, but masked from the nbval comparison.
    return fmt(x, digits, roundoff=True) if stable else "~" + fmt(x, digits, roundoff=True)


def _finish(name: str, kind: str, passed: bool, body: str) -> None:
    line = f"{'PASS' if passed else 'FAIL'} {kind} {name}: {body}"
    print(line, flush=True)
    result = CheckResult(name=name, passed=passed, line=line, kind=kind)
    _RESULTS.append(result)
    if not passed:
        raise CheckFailed(line)


def check(
    name: str,
    measured: object,
    expected: object,
    *,
    kind: str,
    rtol: float | None = None,
    atol: float | None = None,
    stable: bool = True,
) -> None:
    """Check ``|measured - expected| <= atol + rtol * |expected|`` elementwise.

    Args:
      name: what is being checked, e.g. ``"amplitude a, mu=0.01"``.
      measured: the computed value (scalar or array).
      expected: the value the theory predicts (broadcastable to ``measured``).
      kind: one of :data:`KINDS`: ``"claim"``, ``"reconstructed"``, ``"regression"`` or
        ``"finding"``.
      rtol: relative tolerance, ``>= 0``.
      atol: absolute tolerance, ``>= 0``. At least one of ``rtol``/``atol`` is required:
        every claim states how close is close enough.
      stable: ``False`` for a value that chaos or ill-conditioning makes CPU-dependent; it
        is asserted as usual but printed as ``~value`` and masked from the regression.

    Raises:
      CheckFailed: if the values disagree or ``measured`` is not finite.
      ValueError: if the kind is unknown, or no or a negative tolerance is given.
    """
    _kind(name, kind)
    if rtol is None and atol is None:
        raise ValueError(f"check {name!r}: give rtol and/or atol (each >= 0)")
    for label, tol in (("rtol", rtol), ("atol", atol)):
        if tol is not None and not tol >= 0:
            raise ValueError(f"check {name!r}: {label} must be >= 0, got {tol}")
    m = np.asarray(measured, dtype=float)
    e = np.asarray(expected, dtype=float)
    r, a = rtol or 0.0, atol or 0.0
    passed = bool(np.all(np.isfinite(m)) and np.all(np.abs(m - e) <= a + r * np.abs(e)))
    tol = " ".join(s for s in (f"rtol={r:g}" if rtol is not None else "", f"atol={a:g}" if atol is not None else "") if s)
    if not passed:
        return _finish(name, kind, passed, _failure_body(m, e, r, a, tol))
    d = digits_for(rtol, atol, e)
    return _finish(name, kind, passed, f"measured={_shown(m, d, stable)} expected={fmt(e, d)} tol={tol}")


def _failure_body(m: np.ndarray, e: np.ndarray, r: float, a: float, tol: str) -> str:
    """A FAIL line's body: the worst entry with FAIL_DIGITS digits and by how much it missed."""
    mb, eb = np.broadcast_arrays(m, e)
    with np.errstate(invalid="ignore"):
        excess = np.where(np.isfinite(mb), np.abs(mb - eb) - (a + r * np.abs(eb)), np.inf)
    if excess.size <= 1:
        return (f"measured={fmt(m, FAIL_DIGITS)} expected={fmt(e, FAIL_DIGITS)} tol={tol} "
                f"exceeded by {fmt(excess.max() if excess.size else 0.0, 3)}")
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape)
    where = worst[0] if len(worst) == 1 else tuple(int(i) for i in worst)
    return (f"{int((excess > 0).sum())} of {excess.size} entries off; worst at [{where}]: "
            f"measured={fmt(mb[worst], FAIL_DIGITS)} expected={fmt(eb[worst], FAIL_DIGITS)} tol={tol} "
            f"exceeded by {fmt(excess[worst], 3)}")


def check_le(name: str, measured: object, bound: object, *, kind: str, digits: int = 4,
             stable: bool = True) -> None:
    """Check ``measured <= bound`` (elementwise; all must hold).

    Args:
      name: what is being checked.
      measured: computed value(s).
      bound: upper bound.
      kind: one of :data:`KINDS`.
      digits: significant digits printed for the measured value, in [1, 6]. A bound says
        nothing about the digits of the value, so fewer are printed than for :func:`check`.
      stable: ``False`` masks a CPU-dependent value from the regression (see :func:`check`).
    """
    _kind(name, kind)
    m = np.asarray(measured, dtype=float)
    passed = bool(np.all(np.isfinite(m)) and np.all(m <= np.asarray(bound, dtype=float)))
    shown = _shown(np.max(m) if m.ndim else m, digits if passed else FAIL_DIGITS, stable or not passed)
    return _finish(name, kind, passed, f"measured={'max ' if m.ndim else ''}{shown} <= bound={fmt(bound, 6 if passed else FAIL_DIGITS)}")


def check_ge(name: str, measured: object, bound: object, *, kind: str, digits: int = 4,
             stable: bool = True) -> None:
    """Check ``measured >= bound`` (elementwise; all must hold). Arguments as :func:`check_le`."""
    _kind(name, kind)
    m = np.asarray(measured, dtype=float)
    passed = bool(np.all(np.isfinite(m)) and np.all(m >= np.asarray(bound, dtype=float)))
    shown = _shown(np.min(m) if m.ndim else m, digits if passed else FAIL_DIGITS, stable or not passed)
    return _finish(name, kind, passed, f"measured={'min ' if m.ndim else ''}{shown} >= bound={fmt(bound, 6 if passed else FAIL_DIGITS)}")


def check_true(name: str, condition: object, detail: str = "", *, kind: str) -> None:
    """Check a boolean condition.

    Args:
      name: what is being checked.
      condition: the condition.
      detail: rounded numbers (never timings or machine-dependent digits) printed with it.
      kind: one of :data:`KINDS`.
    """
    _kind(name, kind)
    return _finish(name, kind, bool(condition), detail or str(bool(condition)))


def check_sign(name: str, value: object, sign: int = +1, *, kind: str, digits: int = 4,
               stable: bool = True) -> None:
    """Check that every entry of ``value`` is strictly positive (``sign=+1``) or negative (``-1``)."""
    _kind(name, kind)
    if sign not in (-1, 1):
        raise ValueError(f"check {name!r}: sign must be +1 or -1, got {sign}")
    v = np.asarray(value, dtype=float)
    passed = bool(np.all(np.isfinite(v)) and np.all(sign * v > 0))
    digits, stable = (digits, stable) if passed else (FAIL_DIGITS, True)
    shown = _shown(np.min(v) if sign > 0 else np.max(v), digits, stable) if v.ndim else _shown(v, digits, stable)
    word = "> 0" if sign > 0 else "< 0"
    prefix = ("min " if sign > 0 else "max ") if v.ndim else ""
    return _finish(name, kind, passed, f"measured={prefix}{shown} {word}")


def check_monotone(
    name: str,
    values: Sequence[float] | np.ndarray,
    *,
    kind: str,
    increasing: bool = False,
    strict: bool = False,
    atol: float = 0.0,
) -> None:
    """Check that a sequence is monotone.

    Args:
      name: what is being checked.
      values: the sequence.
      kind: one of :data:`KINDS`.
      increasing: direction; ``False`` checks a non-increasing sequence.
      strict: require strict monotonicity.
      atol: slack allowed against the direction (round-off), ``>= 0``.

    The line reports the number of violations; the size of the worst one is round-off
    dependent and is printed masked (``~``).
    """
    _kind(name, kind)
    if atol < 0:
        raise ValueError(f"check {name!r}: atol must be >= 0, got {atol}")
    v = np.asarray(values, dtype=float).ravel()
    diffs = np.diff(v) if increasing else -np.diff(v)
    bad = diffs <= atol if strict else diffs < -atol
    worst = float(-diffs.min()) if diffs.size else 0.0
    passed = bool(np.all(np.isfinite(v)) and not bad.any())
    direction = "increasing" if increasing else "non-increasing"
    return _finish(
        name, kind, passed,
        f"{direction} over {v.size} values, violations={int(bad.sum())} worst={_shown(max(worst, 0.0), 2, False)}",
    )


def results() -> list[CheckResult]:
    """The checks recorded so far in this process."""
    return list(_RESULTS)


def reset() -> None:
    """Forget the recorded checks (tests use this)."""
    _RESULTS.clear()


def kind_counts(records: Sequence[CheckResult] | None = None) -> dict[str, int]:
    """Number of recorded checks of each kind (all kinds present, in :data:`KINDS` order)."""
    recs = _RESULTS if records is None else records
    return {k: sum(1 for r in recs if r.kind == k) for k in KINDS}


def verdict(item: str, outcome: str | None = None, *, reason: str = "") -> None:
    """Print the notebook's closing verdict for one paper item.

    Args:
      item: the paper item, e.g. ``"Theorem 4.2"``. A notebook that serves several items
        calls this once per item.
      outcome: one of :data:`OUTCOMES`. By default ``"reproduced"`` if some ``claim`` check
        was recorded, else ``"reproduced as reconstructed"``. ``"refuted"`` needs a
        ``finding`` check (the counterexample); ``"not reproducible here"`` needs a reason.
      reason: one short sentence for ``"refuted"`` / ``"not reproducible here"``.

    Raises:
      CheckFailed: if no check was recorded (a notebook that asserts nothing is not a
        claim) or one failed.
      ValueError: an unknown outcome, or one without the evidence it needs.
    """
    n = len(_RESULTS)
    failed = [r for r in _RESULTS if not r.passed]
    if n == 0:
        raise CheckFailed(f"VERDICT {item}: no checks were recorded")
    if failed:
        raise CheckFailed(f"VERDICT {item}: {len(failed)} of {n} checks failed: {failed[0].line}")
    counts = kind_counts()
    if outcome is None:
        outcome = "reproduced" if counts["claim"] else "reproduced as reconstructed"
    if outcome not in OUTCOMES:
        raise ValueError(f"verdict {item!r}: outcome must be one of {OUTCOMES}, got {outcome!r}")
    if outcome == "refuted" and not counts["finding"]:
        raise ValueError(f"verdict {item!r}: 'refuted' needs a finding check (the counterexample)")
    if outcome in ("refuted", "not reproducible here") and not reason:
        raise ValueError(f"verdict {item!r}: outcome {outcome!r} needs a reason")
    shown = ", ".join(f"{c} {k}" for k, c in counts.items() if c)
    tail = f" ({reason})" if reason else ""
    print(f"VERDICT {item}: {outcome}; all {n} checks passed ({shown}){tail}", flush=True)
