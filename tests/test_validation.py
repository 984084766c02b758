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


def test_traced_values_pass_unchecked_and_arrays_are_scalars():
    import jax
    import jax.numpy as jnp

    assert v.positive("eta", np.float32(0.5)) == 0.5 and v.positive("eta", jnp.asarray(0.5)) == 0.5
    with pytest.raises(ValueError, match=r"eta must be a real number in \(0, inf\)"):
        v.positive("eta", jnp.asarray([0.5]))
    # Under jit the value does not exist yet: traced_ok hands it back untouched.
    out = jax.jit(lambda e: v.positive("eta", e, traced_ok=True) * 2.0)(0.25)
    assert float(out) == 0.5
    with pytest.raises(ValueError, match="eta"):
        jax.jit(lambda e: v.positive("eta", e))(0.25)
    assert v.nonnegative("v0_noise", 0.0) == 0.0
    with pytest.raises(ValueError, match=r"v0_noise must be a real number in \[0, inf\)"):
        v.nonnegative("v0_noise", -1e-3)
    with pytest.raises(ValueError, match="etas must be a non-empty 1-D array"):
        v.reals("etas", np.ones((2, 2)), 0.0, ndim=1)


def test_choice_points_and_trees():
    import jax.numpy as jnp

    v.choice("method", "rkc", ("rkc", "rk4"))
    with pytest.raises(ValueError, match=r"method='euler' is not allowed; choices: rkc\|rk4"):
        v.choice("method", "euler", ("rkc", "rk4"))
    assert v.flat_point("w0", [1.0, 2.0]).shape == (2,)
    for bad, msg in (([[1.0]], "flat floating-point vector"), ([1, 2], "flat floating-point"),
                     ([1.0, math.inf], "w0 must be finite")):
        with pytest.raises(ValueError, match=msg):
            v.flat_point("w0", bad)
    assert v.flat_point("x", [math.nan], finite=False).shape == (1,)
    tree, dtype = v.floating_tree("x0", (jnp.ones(1, jnp.float32), jnp.ones(2, jnp.float32)))
    assert dtype == np.float32 and tree[1].dtype == np.float32
    tree, dtype = v.floating_tree("x0", {"a": 1, "b": jnp.arange(2)})  # integers -> float
    assert dtype == np.float64 and tree["b"].dtype == np.float64
    with pytest.raises(ValueError, match="x0 must contain at least one array"):
        v.floating_tree("x0", ())
    wrapped = v.static_callable(type("F", (), {"__eq__": lambda s, o: True, "__hash__": None,
                                               "__call__": lambda s, x: x + 1})())
    assert hash(wrapped) is not None and wrapped(1) == 2
