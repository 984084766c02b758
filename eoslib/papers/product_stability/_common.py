"""Argument checks shared by the product-stability modules (internal to the package).

Bad input raises ``ValueError`` naming the parameter and its allowed range.
"""

from __future__ import annotations

import numpy as np

from eoslib.losses import ScalarLoss
from eoslib.validation import default_float

__all__ = ["as_loss", "step_sizes", "default_float", "require_product_stable"]


def as_loss(l: object) -> ScalarLoss:
    """``l`` itself if it is an :class:`eoslib.losses.ScalarLoss`, else ``ValueError``."""
    if not isinstance(l, ScalarLoss):
        raise ValueError(f"l must be an eoslib.losses.ScalarLoss, got {type(l).__name__}")
    return l


def step_sizes(name: str, eta: object, lo: float) -> np.ndarray:
    """A scalar or array of step sizes, all in ``(lo, inf)``, as a float array."""
    arr = np.asarray(eta, dtype=float)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or not np.all(arr > lo):
        raise ValueError(f"{name} must be real number(s) in ({lo:.10g}, inf), got {eta!r}")
    return arr


def require_product_stable(alpha: float, what: str) -> None:
    """``ValueError`` unless ``alpha`` (the product-stability) is in ``(0, inf)``."""
    if not alpha > 0:
        raise ValueError(
            f"{what} needs a product-stable minimum: alpha = 3 l3^2 - l2 l4 must be in (0, inf), "
            f"got {alpha:.6g}")
