"""eoslib.checks: one line per check with its kind and the digits its tolerance supports;
records, raises on failure, and closes a notebook with a verdict."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from eoslib import checks
from eoslib.book import manifest

SANITIZE = Path(__file__).resolve().parent / "nbval_sanitize.cfg"


@pytest.fixture(autouse=True)
def _clean():
    checks.reset()
    yield
    checks.reset()


def _out(capsys) -> str:
    """The last printed line."""
    return capsys.readouterr().out.strip().splitlines()[-1]


def _sanitize(text: str) -> str:
    """Apply tests/nbval_sanitize.cfg the way nbval does (each regex, in file order)."""
    rules = re.findall(r"^regex: (.*)\nreplace: (.*)$", SANITIZE.read_text(), re.M)
    assert rules, "no rules parsed from nbval_sanitize.cfg"
    for pattern, repl in rules:
        text = re.sub(pattern, repl, text)
    return text


# --- kinds ----------------------------------------------------------------------------------------

def test_check_prints_its_kind_and_rounded_line(capsys):
    checks.check("a", 0.1234567891, 0.1234567, kind="claim", rtol=1e-6)
    assert _out(capsys) == "PASS claim a: measured=0.123457 expected=0.123457 tol=rtol=1e-06"
    assert checks.results()[-1].kind == "claim"


@pytest.mark.parametrize("call", [
    lambda: checks.check("a", 1.0, 1.0, kind="theorem", rtol=0.1),
    lambda: checks.check_le("a", 1.0, 2.0, kind="Claim"),
    lambda: checks.check_ge("a", 1.0, 0.0, kind=""),
    lambda: checks.check_true("a", True, kind="proof"),
    lambda: checks.check_sign("a", 1.0, kind="regresion"),
    lambda: checks.check_monotone("a", [1, 2], kind="findings", increasing=True),
])
def test_a_wrong_kind_raises(call):
    with pytest.raises(ValueError, match="kind must be one of claim, reconstructed, regression, finding"):
        call()
    assert checks.results() == []


def test_every_check_requires_a_kind():
    with pytest.raises(TypeError):
        checks.check("a", 1.0, 1.0, rtol=0.1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        checks.check_true("a", True)  # type: ignore[call-arg]


def test_kind_counts(capsys):
    checks.check("a", 1.0, 1.0, kind="claim", rtol=0.1)
    checks.check("b", 1.0, 1.0, kind="regression", atol=0.1)
    checks.check_true("c", True, kind="finding")
    assert checks.kind_counts() == {"claim": 1, "reconstructed": 0, "regression": 1, "finding": 1}


# --- tolerances and digits ------------------------------------------------------------------------

def test_a_missing_or_negative_tolerance_raises():
    with pytest.raises(ValueError, match="rtol and/or atol"):
        checks.check("a", 1.0, 1.0, kind="claim")
    with pytest.raises(ValueError, match="rtol must be >= 0"):
        checks.check("a", 1.0, 1.0, kind="claim", rtol=-1)
    with pytest.raises(ValueError, match="atol must be >= 0"):
        checks.check("a", 1.0, 1.0, kind="claim", atol=-1e-3)
    with pytest.raises(ValueError, match="atol must be >= 0"):
        checks.check_monotone("a", [1, 2], kind="claim", atol=-1)


@pytest.mark.parametrize("rtol,atol,expected,digits", [
    (1e-6, None, 1.0, 6), (1e-3, None, 1.0, 4), (0.05, None, 1.0, 2), (0.5, None, 1.0, 2),
    (None, 1e-4, 10.0, 6), (None, 0.01, 10.0, 4), (None, 0.01, 0.0, 6), (1e-12, None, 1.0, 6),
])
def test_digits_follow_the_tolerance(rtol, atol, expected, digits):
    assert checks.digits_for(rtol, atol, expected) == digits


def test_loose_tolerance_prints_few_digits(capsys):
    checks.check("loose", 1.0234567, 1.0, kind="claim", rtol=0.05)
    assert _out(capsys) == "PASS claim loose: measured=1 expected=1 tol=rtol=0.05"
    checks.check("abs", 10.001234, 10.0, kind="regression", atol=0.002)
    assert _out(capsys) == "PASS regression abs: measured=10 expected=10 tol=atol=0.002"


def test_bounds_print_four_digits_by_default(capsys):
    checks.check_le("le", 0.123456789, 0.2, kind="claim")
    assert _out(capsys) == "PASS claim le: measured=0.1235 <= bound=0.2"
    checks.check_ge("ge", np.array([3.14159265, 4.0]), 2, kind="claim", digits=2)
    assert _out(capsys) == "PASS claim ge: measured=min 3.1 >= bound=2"


def test_long_arrays_are_summarised(capsys):
    checks.check("many", np.linspace(1.0, 2.0, 20), np.linspace(1.0, 2.0, 20), kind="claim", rtol=1e-12)
    assert "measured=[20 values in 1..2]" in _out(capsys)


# --- stable=False and what nbval compares ----------------------------------------------------------

def test_unstable_values_are_asserted_but_masked(capsys):
    checks.check("lyapunov", 0.145869, 0.15, kind="regression", atol=0.01, stable=False)
    line = _out(capsys)
    assert line == "PASS regression lyapunov: measured=~0.15 expected=0.15 tol=atol=0.01"
    # Another CPU prints another value; after sanitising, the lines agree.
    checks.check("lyapunov", 0.1412, 0.15, kind="regression", atol=0.01, stable=False)
    other = _out(capsys)
    assert line != other and _sanitize(line) == _sanitize(other)
    with pytest.raises(checks.CheckFailed):
        checks.check("lyapunov", 0.2, 0.15, kind="regression", atol=0.01, stable=False)


def test_unstable_values_at_round_off_level_are_masked_on_both_sides(capsys):
    """One CPU measures 8e-11 (printed ``~<1e-10``), another 3e-10: nbval must see one line."""
    checks.check_le("phi vs dense", 8e-11, 1e-6, kind="reconstructed", stable=False)
    checks.check_le("phi vs dense", 3.2e-10, 1e-6, kind="reconstructed", stable=False)
    first, second = capsys.readouterr().out.splitlines()
    assert first != second
    assert _sanitize(first) == _sanitize(second) == "PASS reconstructed phi vs dense: measured=~MASKED <= bound=1e-06"


def test_unstable_bounds_are_masked(capsys):
    checks.check_le("frac", 0.952556, 1.0, kind="finding", stable=False)
    checks.check_sign("alpha", -6192.84, -1, kind="finding", stable=False)
    text = capsys.readouterr().out
    assert "~0.9526" in text and "~-6193" in text
    assert "~MASKED" in _sanitize(text) and "0.9526" not in _sanitize(text)


def test_roundoff_and_signed_zero_are_masked():
    assert _sanitize("measured=-1.2e-13 expected=0") == "measured=ROUNDOFF expected=0"
    assert _sanitize("measured=-0 expected=0") == "measured=0 expected=0"


# --- failures -------------------------------------------------------------------------------------

def test_check_fails_loudly_with_the_digits_that_show_why():
    with pytest.raises(checks.CheckFailed, match=r"FAIL claim a: measured=1\.05 expected=1 tol=rtol=0\.01 exceeded by 0\.04"):
        checks.check("a", 1.05, 1.0, kind="claim", rtol=0.01)
    assert not checks.results()[-1].passed
    # A value off by less than the printed digits of a PASS line still shows the difference.
    with pytest.raises(checks.CheckFailed, match=r"measured=1\.0000004 expected=1 "):
        checks.check("b", 1.0000004, 1.0, kind="claim", rtol=1e-7)
    with pytest.raises(checks.CheckFailed, match=r"worst at \[19\]: measured=1\.01 expected=1 "):
        checks.check("c", np.linspace(0, 1, 20) * 1.01, np.linspace(0, 1, 20), kind="claim", rtol=1e-3)
    with pytest.raises(checks.CheckFailed, match=r"measured=1\.00000001 <= bound=1"):
        checks.check_le("d", 1.00000001, 1.0, kind="claim")


def test_nan_never_passes():
    with pytest.raises(checks.CheckFailed):
        checks.check("nan", float("nan"), 1.0, kind="claim", atol=1e9)
    with pytest.raises(checks.CheckFailed):
        checks.check_le("nan", float("nan"), 1.0, kind="claim")
    with pytest.raises(checks.CheckFailed):
        checks.check_sign("nan", [1.0, float("nan")], kind="claim")


def test_bounds_sign_monotone():
    checks.check_le("le", np.array([0.1, 0.2]), 0.2, kind="claim")
    checks.check_ge("ge", 3, 2, kind="claim")
    checks.check_sign("pos", np.array([1e-9, 2.0]), kind="claim")
    checks.check_monotone("dec", [3, 2, 2, 1], kind="claim")
    with pytest.raises(checks.CheckFailed, match="violations=1"):
        checks.check_monotone("dec strict", [3, 2, 2, 1], kind="claim", strict=True)
    with pytest.raises(checks.CheckFailed):
        checks.check_sign("neg", [-1.0, 0.5], sign=-1, kind="claim")
    with pytest.raises(checks.CheckFailed):
        checks.check_ge("ge", 1, 2, kind="claim")
    with pytest.raises(ValueError, match="sign must be"):
        checks.check_sign("zero", 1.0, sign=0, kind="claim")


# --- verdicts -------------------------------------------------------------------------------------

def test_verdict_requires_checks_and_no_failure():
    with pytest.raises(checks.CheckFailed, match="no checks"):
        checks.verdict("Lemma 0")
    with pytest.raises(checks.CheckFailed):
        checks.check("a", 2.0, 1.0, kind="claim", rtol=0.1)
    with pytest.raises(checks.CheckFailed, match="1 of 1 checks failed"):
        checks.verdict("Lemma 0")


def test_default_verdicts(capsys):
    checks.check_true("rebuilt", True, kind="reconstructed")
    checks.verdict("Lemma 0")
    assert _out(capsys) == "VERDICT Lemma 0: reproduced as reconstructed; all 1 checks passed (1 reconstructed)"
    checks.check("a", 1.0, 1.0, kind="claim", rtol=0.1)
    checks.check("b", 1.0, 1.0, kind="regression", rtol=0.1)
    checks.verdict("Theorem 1")
    assert _out(capsys) == ("VERDICT Theorem 1: reproduced; all 3 checks passed "
                            "(1 claim, 1 reconstructed, 1 regression)")


def test_refuted_needs_a_finding_and_a_reason(capsys):
    checks.check("bound", 1.0, 1.0, kind="claim", rtol=0.1)
    with pytest.raises(ValueError, match="needs a finding"):
        checks.verdict("Lemma 2", "refuted", reason="the bound fails at K=1.3")
    checks.check_true("counterexample at K=1.3", True, kind="finding")
    with pytest.raises(ValueError, match="needs a reason"):
        checks.verdict("Lemma 2", "refuted")
    checks.verdict("Lemma 2", "refuted", reason="the bound fails at K=1.3")
    line = _out(capsys)
    assert line == ("VERDICT Lemma 2: refuted; all 2 checks passed (1 claim, 1 finding) "
                    "(the bound fails at K=1.3)")
    # The ledger reads the verdict back from the printed line.
    assert manifest.summarize_text(line).verdicts == {"Lemma 2": {"outcome": "refuted",
                                                                  "reason": "the bound fails at K=1.3"}}


def test_not_reproducible_needs_a_reason_and_unknown_outcomes_raise(capsys):
    checks.check_true("setup", True, kind="regression")
    with pytest.raises(ValueError, match="needs a reason"):
        checks.verdict("Figure 12", "not reproducible here")
    with pytest.raises(ValueError, match="outcome must be one of"):
        checks.verdict("Figure 12", "confirmed")
    checks.verdict("Figure 12", "not reproducible here", reason="needs CIFAR-10 and a GPU")
    assert _out(capsys).startswith("VERDICT Figure 12: not reproducible here; all 1 checks passed")


def test_verdict_lines_are_what_nbval_and_the_ledger_agree_on():
    assert manifest.OUTCOMES == checks.OUTCOMES and manifest.CHECK_KINDS == checks.KINDS


def test_roundoff_level_measured_values_print_the_same_on_every_cpu(capsys):
    # exact 0 on one CPU and 1e-16 on another must print identically
    checks.reset()
    checks.check("r0", 0.0, 0.0, kind="claim", atol=1e-12)
    checks.check("r1", 1e-16, 0.0, kind="claim", atol=1e-12)
    checks.check_le("r2", [0.0, -2e-17], 1e-12, kind="claim")
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split("measured=")[1].split()[0] for ln in lines[:2]] == ["<1e-10", "<1e-10"]
    assert "measured=max <1e-10" in lines[2]
    checks.reset()
