"""Claim checks: a notebook is a claim, and these are its assertions.

Each check prints one rounded line that nbval compares across runs,

    PASS <name>: measured=<6 significant digits> expected=<...> tol=<...>

records the result in a per-process register, and raises :class:`CheckFailed`
on failure so that papermill (and therefore ``eoslib run``/``eoslib build``)
fails loudly instead of rendering a wrong figure.

Check functions return ``None`` on purpose: a returned object at the end of a notebook
cell would be displayed again under the printed line. :func:`results` gives the record.

Numbers are printed with six significant digits: enough to catch a regression,
coarse enough that single-threaded float64 runs on the same kind of machine
reproduce them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = [
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
    "fmt",
]


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


_RESULTS: list[CheckResult] = []


def fmt(x: object) -> str:
    """Format a number (or array) with six significant digits for a check line."""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    arr = np.asarray(x)
    if arr.ndim == 0:
        v = arr.item()
        if isinstance(v, (int, np.integer)):
            return str(v)
        v = float(v)
        if v == 0.0:
            return "0"  # avoid "-0" flapping between runs
        return f"{v:.6g}"
    flat = arr.ravel()
    if flat.size > 8:  # a check line must stay one readable line
        finite = flat[np.isfinite(flat.astype(float))] if flat.dtype.kind in "fiu" else flat
        if finite.size == 0:
            return f"[{flat.size} values, none finite]"
        return f"[{flat.size} values in {fmt(finite.min())}..{fmt(finite.max())}]"
    return "[" + ", ".join(fmt(v) for v in flat) + "]"


def _finish(name: str, passed: bool, body: str) -> None:
    line = f"{'PASS' if passed else 'FAIL'} {name}: {body}"
    print(line, flush=True)
    result = CheckResult(name=name, passed=passed, line=line)
    _RESULTS.append(result)
    if not passed:
        raise CheckFailed(line)


def check(
    name: str,
    measured: object,
    expected: object,
    *,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Check ``|measured - expected| <= atol + rtol * |expected|`` elementwise.

    Args:
      name: what is being checked, e.g. ``"amplitude a, mu=0.01"``.
      measured: the computed value (scalar or array).
      expected: the value the theory predicts (broadcastable to ``measured``).
      rtol: relative tolerance, ``>= 0``.
      atol: absolute tolerance, ``>= 0``. At least one of ``rtol``/``atol`` is required:
        every claim states how close is close enough.

    Raises:
      CheckFailed: if the values disagree or ``measured`` is not finite.
      ValueError: if no tolerance or a negative tolerance is given.
    """
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
    return _finish(name, passed, f"measured={fmt(m)} expected={fmt(e)} tol={tol}")


def check_le(name: str, measured: object, bound: object) -> None:
    """Check ``measured <= bound`` (elementwise; all must hold).

    Args:
      name: what is being checked.
      measured: computed value(s).
      bound: upper bound.
    """
    m = np.asarray(measured, dtype=float)
    passed = bool(np.all(np.isfinite(m)) and np.all(m <= np.asarray(bound, dtype=float)))
    shown = fmt(np.max(m)) if m.ndim else fmt(m)
    return _finish(name, passed, f"measured={'max ' if m.ndim else ''}{shown} <= bound={fmt(bound)}")


def check_ge(name: str, measured: object, bound: object) -> None:
    """Check ``measured >= bound`` (elementwise; all must hold).

    Args:
      name: what is being checked.
      measured: computed value(s).
      bound: lower bound.
    """
    m = np.asarray(measured, dtype=float)
    passed = bool(np.all(np.isfinite(m)) and np.all(m >= np.asarray(bound, dtype=float)))
    shown = fmt(np.min(m)) if m.ndim else fmt(m)
    return _finish(name, passed, f"measured={'min ' if m.ndim else ''}{shown} >= bound={fmt(bound)}")


def check_true(name: str, condition: object, detail: str = "") -> None:
    """Check a boolean condition; ``detail`` (rounded numbers, not timings) is printed with it."""
    return _finish(name, bool(condition), detail or str(bool(condition)))


def check_sign(name: str, value: object, sign: int = +1) -> None:
    """Check that every entry of ``value`` is strictly positive (``sign=+1``) or negative (``-1``)."""
    if sign not in (-1, 1):
        raise ValueError(f"check {name!r}: sign must be +1 or -1, got {sign}")
    v = np.asarray(value, dtype=float)
    passed = bool(np.all(np.isfinite(v)) and np.all(sign * v > 0))
    shown = fmt(np.min(v) if sign > 0 else np.max(v)) if v.ndim else fmt(v)
    word = "> 0" if sign > 0 else "< 0"
    return _finish(name, passed, f"measured={'min ' if v.ndim and sign > 0 else 'max ' if v.ndim else ''}{shown} {word}")


def check_monotone(
    name: str,
    values: Sequence[float] | np.ndarray,
    *,
    increasing: bool = False,
    strict: bool = False,
    atol: float = 0.0,
) -> None:
    """Check that a sequence is monotone.

    Args:
      name: what is being checked.
      values: the sequence.
      increasing: direction; ``False`` checks a non-increasing sequence.
      strict: require strict monotonicity.
      atol: slack allowed against the direction (round-off), ``>= 0``.

    The line reports the number of violations and the worst one.
    """
    if atol < 0:
        raise ValueError(f"check {name!r}: atol must be >= 0, got {atol}")
    v = np.asarray(values, dtype=float).ravel()
    diffs = np.diff(v) if increasing else -np.diff(v)
    bad = diffs <= atol if strict else diffs < -atol
    worst = float(-diffs.min()) if diffs.size else 0.0
    passed = bool(np.all(np.isfinite(v)) and not bad.any())
    direction = "increasing" if increasing else "non-increasing"
    return _finish(
        name, passed, f"{direction} over {v.size} values, violations={int(bad.sum())} worst={fmt(max(worst, 0.0))}"
    )


def results() -> list[CheckResult]:
    """The checks recorded so far in this process."""
    return list(_RESULTS)


def reset() -> None:
    """Forget the recorded checks (tests use this)."""
    _RESULTS.clear()


def verdict(item: str) -> None:
    """Print the notebook's closing verdict.

    Args:
      item: the paper item, e.g. ``"Theorem 4.2"``.

    Raises:
      CheckFailed: if no check was recorded (a notebook that asserts nothing
        is not a claim) or one failed.
    """
    n = len(_RESULTS)
    failed = [r for r in _RESULTS if not r.passed]
    if n == 0:
        raise CheckFailed(f"VERDICT {item}: no checks were recorded")
    if failed:
        raise CheckFailed(f"VERDICT {item}: {len(failed)} of {n} checks failed: {failed[0].line}")
    print(f"VERDICT {item}: all {n} checks passed", flush=True)
