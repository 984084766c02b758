"""Argument validation shared by the core and the paper modules.

Bad input raises ``ValueError`` naming the parameter and the allowed range, so a
notebook rerun with a wrong parameter says what to change.

JAX is imported only by the helpers that build JAX arrays, so numpy-only modules
(:mod:`eoslib.data`) can validate without paying for the JAX import.
"""

from __future__ import annotations

import math
import numbers
import sys

import numpy as np

__all__ = ["real", "reals", "integer", "choice", "positive", "nonnegative", "floating_array",
           "flat_point", "floating_tree", "is_tracer", "static_callable", "default_float"]


def default_float() -> np.dtype:
    """The default floating dtype of JAX (float64 once x64 is enabled, else float32)."""
    import jax.numpy as jnp

    return jnp.result_type(float)


def is_tracer(value) -> bool:
    """True if any leaf of ``value`` is a JAX tracer (its value cannot be checked eagerly)."""
    if "jax" not in sys.modules:  # no JAX, no tracers
        return False
    import jax

    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(value))


def _interval(lo: float, hi: float, lo_open: bool, hi_open: bool) -> str:
    return f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def _is_real_scalar(value) -> bool:
    if isinstance(value, bool) or is_tracer(value):
        return False
    if isinstance(value, (numbers.Real, np.floating, np.integer)):
        return True
    if isinstance(value, np.ndarray) or (hasattr(value, "dtype") and hasattr(value, "ndim")):
        dtype = np.dtype(value.dtype)
        return np.ndim(value) == 0 and dtype != np.bool_ and (
            np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer))
    return False


def real(name: str, value, lo: float = -math.inf, hi: float = math.inf, *, lo_open: bool = True,
         hi_open: bool = True, traced_ok: bool = False):
    """``value`` as a float if it is a real scalar in the interval, else ``ValueError``.

    Args:
      name: the parameter's name, used in the message.
      value: the value to check (Python, numpy or 0-d JAX number; not bool).
      lo, hi: the interval's ends.
      lo_open, hi_open: whether each end is excluded. ``inf`` itself is accepted only
        for ``hi = inf`` with ``hi_open=False``.
      traced_ok: return a traced value (inside ``jit``/``vmap``) unchecked: it has no
        value yet, so the check is the caller's business.

    Returns:
      ``float(value)`` (a traced value unchanged).
    """
    if traced_ok and is_tracer(value):
        return value
    v = float(value) if _is_real_scalar(value) else math.nan
    ok = math.isfinite(v) or (v == math.inf and hi == math.inf and not hi_open)
    ok = ok and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:
        raise ValueError(f"{name} must be a real number in {_interval(lo, hi, lo_open, hi_open)}, got {value!r}")
    return v


def reals(name: str, value, lo: float = -math.inf, hi: float = math.inf, *, lo_open: bool = True,
          hi_open: bool = True, ndim: int | None = None, traced_ok: bool = False):
    """Array version of :func:`real`: a non-empty float array, every finite entry in the interval.

    Args:
      name, lo, hi, lo_open, hi_open, traced_ok: as in :func:`real`.
      value: the values (anything ``np.asarray`` takes).
      ndim: required number of dimensions (None: any).

    Returns:
      A float64 numpy array (a traced value unchanged).
    """
    if traced_ok and is_tracer(value):
        return value
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be real number(s) in {_interval(lo, hi, lo_open, hi_open)}, "
                         f"got {value!r}") from None
    if ndim is not None and (arr.ndim != ndim or arr.size == 0):
        raise ValueError(f"{name} must be a non-empty {ndim}-D array, got shape {arr.shape}")
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


def choice(name: str, value, allowed) -> None:
    """``ValueError`` (``name=value is not allowed; choices: a|b``) unless ``value in allowed``."""
    if isinstance(value, (list, dict, set)) or value not in tuple(allowed):
        raise ValueError(f"{name}={value!r} is not allowed; choices: "
                         + "|".join(str(a) for a in allowed))


def positive(name: str, value, *, allow_inf: bool = False, traced_ok: bool = False):
    """``value`` as a float in ``(0, inf)`` (or ``(0, inf]`` with ``allow_inf``), else ``ValueError``."""
    return real(name, value, 0.0, math.inf, hi_open=not allow_inf, traced_ok=traced_ok)


def nonnegative(name: str, value, *, traced_ok: bool = False):
    """``value`` as a float in ``[0, inf)``, else ``ValueError``."""
    return real(name, value, 0.0, math.inf, lo_open=False, traced_ok=traced_ok)


def floating_array(name: str, value):
    """``value`` as a JAX array if its dtype is floating, else ``ValueError``."""
    import jax.numpy as jnp

    x = jnp.asarray(value)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"{name} must be a floating-point array, got dtype {x.dtype}")
    return x


def flat_point(name: str, value, *, finite: bool = True):
    """``value`` as a JAX array if it is a floating vector of shape ``(D,)`` (and finite).

    Finiteness is not checked on a traced value, nor with ``finite=False``.

    Raises:
      ValueError: naming ``name``, for another shape, an integer dtype or a non-finite entry.
    """
    import jax.numpy as jnp

    x = jnp.asarray(value)
    if x.ndim != 1 or not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"{name} must be a flat floating-point vector of shape (D,), got shape "
                         f"{x.shape} and dtype {x.dtype}; flatten pytrees with "
                         "jax.flatten_util.ravel_pytree")
    if finite and not is_tracer(x) and not bool(jnp.all(jnp.isfinite(x))):
        raise ValueError(f"{name} must be finite")
    return x


def floating_tree(name: str, value, *, finite: bool = True):
    """The leaves of a pytree as JAX arrays of one common floating dtype.

    Strict dtype promotion needs one dtype across the state of an iteration: integer input
    becomes the default float dtype, mixed float widths the widest.

    Args:
      name: the parameter's name, used in the message.
      value: an array, a scalar or a pytree of them.
      finite: also require every entry to be finite (not checked on traced values).

    Returns:
      ``(tree, dtype)``.

    Raises:
      ValueError: an empty pytree, or a non-finite entry with ``finite``.
    """
    import jax
    import jax.numpy as jnp

    leaves, treedef = jax.tree_util.tree_flatten(value)
    if not leaves:
        raise ValueError(f"{name} must contain at least one array")
    leaves = [jnp.asarray(leaf) for leaf in leaves]
    dtype = np.result_type(*[np.dtype(leaf.dtype) for leaf in leaves])
    if not np.issubdtype(dtype, np.floating):
        dtype = np.dtype(float)
    dtype = np.dtype(jax.dtypes.canonicalize_dtype(dtype))
    leaves = [leaf.astype(dtype) for leaf in leaves]
    if finite and not is_tracer(leaves):
        if not all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in leaves):
            raise ValueError(f"{name} must be finite")
    return jax.tree_util.tree_unflatten(treedef, leaves), dtype


class _Unhashable:
    """A hashable (by identity) wrapper of an unhashable callable."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)


def static_callable(fn):
    """``fn`` itself if it is hashable (a ``jax.jit`` static argument), else a wrapper.

    A wrapped callable is hashed by identity, so its compilation is not reused.
    """
    try:
        hash(fn)
        return fn
    except TypeError:
        return _Unhashable(fn)
