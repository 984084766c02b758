"""eoslib.checks: prints one rounded line, records, and raises on failure."""

from __future__ import annotations

import numpy as np
import pytest

from eoslib import checks


@pytest.fixture(autouse=True)
def _clean():
    checks.reset()
    yield
    checks.reset()


def test_check_passes_and_prints_rounded_line(capsys):
    checks.check("a", 0.1234567891, 0.1234567, rtol=1e-6)
    assert capsys.readouterr().out.strip() == "PASS a: measured=0.123457 expected=0.123457 tol=rtol=1e-06"


def test_check_fails_loudly():
    with pytest.raises(checks.CheckFailed, match="FAIL a: measured=1.05 expected=1"):
        checks.check("a", 1.05, 1.0, rtol=0.01)
    assert not checks.results()[-1].passed


def test_nan_never_passes():
    with pytest.raises(checks.CheckFailed):
        checks.check("nan", float("nan"), 1.0, atol=1e9)
    with pytest.raises(checks.CheckFailed):
        checks.check_le("nan", float("nan"), 1.0)


def test_tolerance_is_required():
    with pytest.raises(ValueError, match="rtol and/or atol"):
        checks.check("a", 1.0, 1.0)
    with pytest.raises(ValueError, match="rtol must be >= 0"):
        checks.check("a", 1.0, 1.0, rtol=-1)


def test_bounds_sign_monotone():
    checks.check_le("le", np.array([0.1, 0.2]), 0.2)
    checks.check_ge("ge", 3, 2)
    checks.check_sign("pos", np.array([1e-9, 2.0]))
    checks.check_monotone("dec", [3, 2, 2, 1])
    with pytest.raises(checks.CheckFailed, match="violations=1"):
        checks.check_monotone("dec strict", [3, 2, 2, 1], strict=True)
    with pytest.raises(checks.CheckFailed):
        checks.check_sign("neg", [-1.0, 0.5], sign=-1)
    with pytest.raises(checks.CheckFailed):
        checks.check_ge("ge", 1, 2)


def test_verdict_requires_checks(capsys):
    with pytest.raises(checks.CheckFailed, match="no checks"):
        checks.verdict("Lemma 0")
    checks.check_true("ok", True)
    checks.verdict("Lemma 0")
    assert capsys.readouterr().out.strip().endswith("VERDICT Lemma 0: all 1 checks passed")


def test_long_arrays_are_summarised(capsys):
    checks.check("many", np.linspace(1.0, 2.0, 20), np.linspace(1.0, 2.0, 20), rtol=1e-12)
    assert "measured=[20 values in 1..2]" in capsys.readouterr().out
