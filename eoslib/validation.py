"""Argument validation shared by the paper modules.

Bad input raises ``ValueError`` naming the parameter and the allowed range, so a
notebook rerun with a wrong parameter says what to change.
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["real", "reals", "integer", "positive", "flat_point", "is_tracer"]


def is_tracer(value) -> bool:
    """True if any leaf of ``value`` is a JAX tracer (its value cannot be checked eagerly)."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(value))


def _interval(lo: float, hi: float, lo_open: bool, hi_open: bool) -> str:
    return f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def real(name: str, value, lo: float = -math.inf, hi: float = math.inf, *, lo_open: bool = True,
         hi_open: bool = True) -> float:
    """``value`` as a float if it is a real scalar in the interval, else ``ValueError``.

    Args:
      name: the parameter's name, used in the message.
      value: the value to check (Python, numpy or 0-d JAX number; not bool).
      lo, hi: the interval's ends.
      lo_open, hi_open: whether each end is excluded. ``inf`` itself is accepted only
        for ``hi = inf`` with ``hi_open=False``.

    Returns:
      ``float(value)``.
    """
    bad_type = isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer))
    if not bad_type and isinstance(value, (jax.Array, np.ndarray)):
        bad_type = np.ndim(value) != 0
    v = math.nan if bad_type else float(value)
    ok = math.isfinite(v) or (v == math.inf and hi == math.inf and not hi_open)
    ok = ok and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:
        raise ValueError(f"{name} must be a real number in {_interval(lo, hi, lo_open, hi_open)}, got {value!r}")
    return v


def reals(name: str, value, lo: float = -math.inf, hi: float = math.inf, *, lo_open: bool = True,
          hi_open: bool = True) -> np.ndarray:
    """Array version of :func:`real`: a non-empty float array, every finite entry in the interval."""
    arr = np.asarray(value, dtype=float)
    ok = arr.size > 0 and bool(np.all(np.isfinite(arr)))
    if ok:
        ok = bool(np.all(arr > lo if lo_open else arr >= lo)) and bool(np.all(arr < hi if hi_open else arr <= hi))
    if not ok:
        raise ValueError(f"{name} must be real number(s) in {_interval(lo, hi, lo_open, hi_open)}, got {value!r}")
    return arr


def integer(name: str, value, lo: int, hi: int | None = None) -> int:
    """``value`` as an int if it is an integer (not bool) in ``[lo, hi]``, else ``ValueError``."""
    if (isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < lo
            or (hi is not None and value > hi)):
        interval = f"[{lo}, {'inf)' if hi is None else str(hi) + ']'}"
        raise ValueError(f"{name} must be an integer in {interval}, got {value!r}")
    return int(value)


def positive(name: str, value, *, allow_inf: bool = False) -> float:
    """``value`` as a float in ``(0, inf)`` (or ``(0, inf]`` with ``allow_inf``), else ``ValueError``."""
    return real(name, value, 0.0, math.inf, hi_open=not allow_inf)


def flat_point(name: str, value) -> jax.Array:
    """``value`` as a JAX array if it is a finite floating vector of shape ``(D,)``.

    Finiteness is not checked on a traced value.

    Raises:
      ValueError: naming ``name``, for another shape, an integer dtype or a non-finite entry.
    """
    x = jnp.asarray(value)
    if x.ndim != 1 or not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"{name} must be a flat floating vector of shape (D,), got shape "
                         f"{x.shape} and dtype {x.dtype}")
    if not is_tracer(x) and not bool(jnp.all(jnp.isfinite(x))):
        raise ValueError(f"{name} must be finite")
    return x
