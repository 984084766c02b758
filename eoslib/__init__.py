"""eoslib: an executable companion to four papers on gradient descent at the Edge of Stability.

The shared core (one topic per module) and one module per paper:

* :mod:`eoslib.gd` -- GD trajectories (jit + lax.scan), vmapped sweeps, k-step maps, divergence detection.
* :mod:`eoslib.curvature` -- Hessians, sharpness, Lanczos on Hessian-vector products, directional derivatives.
* :mod:`eoslib.orbits` -- period-k orbits by Newton on the k-step map, multipliers, bifurcation diagrams.
* :mod:`eoslib.losses` -- scalar losses and the product-stability number.
* :mod:`eoslib.checks` -- claim checks that print, record and raise.
* :mod:`eoslib.plotting` -- house style and provenance footers.
* :mod:`eoslib.data`, :mod:`eoslib.nets`, :mod:`eoslib.train`, :mod:`eoslib.flow`,
  :mod:`eoslib.stability` -- datasets, networks, tracked full-batch GD, gradient-flow solutions and
  multivariate product-stability for the real-data figures (imported on demand, e.g.
  ``from eoslib import data``, so that ``import eoslib`` stays light).
* :mod:`eoslib.notebook`, :mod:`eoslib.catalog`, :mod:`eoslib.cli` -- the ``eoslib`` command.
* :mod:`eoslib.papers` -- ``product_stability``, ``gfs_sharpness``, ``self_stabilization``, ``two_step``.

Importing eoslib never enables float64: notebooks and tests do that first, before any array exists.
"""

from eoslib import checks, curvature, gd, losses, orbits, plotting
from eoslib.checks import CheckFailed, check, check_ge, check_le, check_monotone, check_sign, check_true, verdict
from eoslib.curvature import (
    EigResult,
    directional_derivative,
    hessian,
    hvp,
    lanczos,
    sharpness,
    third_derivative_vv,
    top_eigenpairs,
)
from eoslib.gd import (
    Trajectory,
    gd_final,
    gd_step,
    gd_trajectory,
    k_step_map,
    iterate,
    iterate_batched,
    Iterates,
    sweep_final,
    sweep_initial_points,
    sweep_learning_rates,
)
from eoslib.losses import (
    TABLE_1,
    ScalarLoss,
    derivatives,
    log_cosh,
    multilayer_squared,
    product_stability,
    quartic_negative_control,
    soft_bce,
    sqrt_one_plus_sq,
    squared,
)
from eoslib.orbits import Orbit, OrbitBranch, bifurcation_by_gd, continue_orbit, periodic_orbit, stability_multipliers

__version__ = "0.1.0"

__all__ = [
    # modules
    "checks",
    "curvature",
    "gd",
    "losses",
    "orbits",
    "plotting",
    # checks
    "CheckFailed",
    "check",
    "check_ge",
    "check_le",
    "check_monotone",
    "check_sign",
    "check_true",
    "verdict",
    # curvature
    "EigResult",
    "directional_derivative",
    "hessian",
    "hvp",
    "lanczos",
    "sharpness",
    "third_derivative_vv",
    "top_eigenpairs",
    # gd
    "Trajectory",
    "gd_final",
    "gd_step",
    "gd_trajectory",
    "k_step_map",
    "iterate",
    "iterate_batched",
    "Iterates",
    "sweep_final",
    "sweep_initial_points",
    "sweep_learning_rates",
    # losses
    "TABLE_1",
    "ScalarLoss",
    "derivatives",
    "log_cosh",
    "multilayer_squared",
    "product_stability",
    "quartic_negative_control",
    "soft_bce",
    "sqrt_one_plus_sq",
    "squared",
    # orbits
    "Orbit",
    "OrbitBranch",
    "bifurcation_by_gd",
    "continue_orbit",
    "periodic_orbit",
    "stability_multipliers",
]
