"""eoslib.validation: errors name the parameter and the allowed range."""

import math

import numpy as np
import pytest

from eoslib import validation as v


def test_real_accepts_and_rejects():
    assert v.real("eta", 1, 0.0) == 1.0
    for bad in (0.0, -1.0, math.nan, True, "1", np.ones(2)):
        with pytest.raises(ValueError, match=r"eta must be a real number in \(0, inf\)"):
            v.real("eta", bad, 0.0)
    assert v.real("cap", math.inf, 0.0, hi_open=False) == math.inf


def test_reals_and_integer():
    assert v.reals("K", [1.0, 1.1], 1.0, lo_open=False).shape == (2,)
    with pytest.raises(ValueError, match=r"K must be real number\(s\) in \[1, inf\)"):
        v.reals("K", [0.5, 1.1], 1.0, lo_open=False)
    assert v.integer("n", np.int64(3), 1) == 3
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, 10\]"):
        v.integer("n", 11, 1, 10)
    with pytest.raises(ValueError, match="n must be an integer"):
        v.integer("n", 2.0, 1)
