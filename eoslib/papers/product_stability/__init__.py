"""Gan (2026), "Product-Stability": GD on f(x, y) = l(xy) and the 1-D map z -> z - eta l'(z).

The paper reduces GD on the two-parameter product model to the phase-space variables
z = xy (the product), s = x^2 + y^2 (the sharpness multiplier) and lambda = eta s (the
effective step of the z-dynamics). The code is split by topic:

* :mod:`.closed_forms`: derivatives at z* and alpha (Def. 4.1), Lemma 3.1, the exact updates
  of Appendix A, the two-step expansion (Eq. 6, Lemmas A.2, A.5);
* :mod:`.cycles`: the period-2 cycle (Theorem 4.2), its branches (Lemma 5.1) and the inverse
  map lambda(z) (Lemma B.1);
* :mod:`.dynamics`: GD on l(xy) and on l, through :mod:`eoslib.gd` (Theorems 4.3, 5.2);
* :mod:`.limits`: the limiting sharpness (Theorem 5.2) and the phases of Appendix B;
* :mod:`.families`: which losses qualify (Section 6, Table 1);
* :mod:`.networks`: Section 7 and Figure 5 (Definition 7.1 along network GD);
* :mod:`.plots`: the figures of the notebooks.

Product-stability itself is :func:`eoslib.losses.product_stability`, the multivariate one
:func:`eoslib.stability.multivariate_product_stability`. Nothing here enables float64: the
checks assume ``jax.config.update("jax_enable_x64", True)``.

References:
  E. Gan, "Product-Stability: Provable Convergence for Gradient Descent on the Edge
  of Stability", arXiv:2604.02653 (2026).
"""

from __future__ import annotations

from . import closed_forms, cycles, dynamics, families, limits, networks
from .closed_forms import *  # noqa: F401,F403
from .cycles import *  # noqa: F401,F403
from .dynamics import *  # noqa: F401,F403
from .families import *  # noqa: F401,F403
from .limits import *  # noqa: F401,F403
from .networks import *  # noqa: F401,F403

__all__ = [
    *closed_forms.__all__,
    *cycles.__all__,
    *dynamics.__all__,
    *limits.__all__,
    *families.__all__,
    *networks.__all__,
]
