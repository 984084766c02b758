"""eoslib: an executable companion to four papers on gradient descent at the Edge of Stability.

The shared core (one topic per module) and one subpackage per paper:

* :mod:`eoslib.gd` -- the iteration primitive (jit + lax.scan, divergence as a step index),
  GD trajectories, vmapped sweeps, k-step maps.
* :mod:`eoslib.curvature` -- Hessians, sharpness, Lanczos/LOBPCG on Hessian-vector products,
  directional derivatives.
* :mod:`eoslib.orbits` -- period-k orbits by Newton on the k-step map, multipliers, bifurcation diagrams.
* :mod:`eoslib.losses` -- scalar losses and the product-stability number.
* :mod:`eoslib.checks` -- claim checks that print, record and raise; the closing verdict.
* :mod:`eoslib.plotting` -- house style and provenance footers; :mod:`eoslib.session` -- the
  running notebook (set up by the runner's injected cell).
* :mod:`eoslib.data`, :mod:`eoslib.nets`, :mod:`eoslib.train`, :mod:`eoslib.flow`,
  :mod:`eoslib.stability` -- datasets, networks, full-batch GD with tracking, gradient-flow
  solutions and multivariate product-stability for the real-data figures.
* :mod:`eoslib.papers` -- ``product_stability``, ``gfs_sharpness``, ``self_stabilization``, ``two_step``.
* :mod:`eoslib.book` -- the pipeline behind the ``eoslib`` command (catalog, runner, provenance,
  ledger); it imports no jax and needs the ``book`` extra.

Importing :mod:`eoslib` is cheap: the submodules load on first use (PEP 562), so
``eoslib --help`` does not pay for jax. Notebooks, tests and benchmarks import the
submodules (``from eoslib import checks, gd``), which is what this package re-exports.

Importing eoslib never enables float64: notebooks and tests do that first, before any array exists.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: The public submodules, loaded on first attribute access.
_SUBMODULES = (
    "callbacks",
    "checks",
    "curvature",
    "data",
    "eigsolve",
    "flow",
    "gd",
    "losses",
    "nets",
    "orbits",
    "papers",
    "plotting",
    "session",
    "stability",
    "tables",
    "train",
)

__all__ = ["__version__", *_SUBMODULES]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from eoslib import (  # noqa: F401
        callbacks,
        checks,
        curvature,
        data,
        eigsolve,
        flow,
        gd,
        losses,
        nets,
        orbits,
        papers,
        plotting,
        session,
        stability,
        tables,
        train,
    )


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f"eoslib.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'eoslib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
