"""The OpenBLAS kernel sets the regression runs under.

OpenBLAS picks its kernels per CPU (``SkylakeX`` on AVX-512 machines, ``Haswell`` on AVX2, ...),
and a chaotic or ill-conditioned quantity can print different digits under two kernel sets.
``make test`` therefore runs the nbval regression twice: under the kernels this CPU picks, and
under a second set it also supports (``OPENBLAS_CORETYPE``). ::

    python -m eoslib.book.blas      # prints "<default> <second>", e.g. "SkylakeX Haswell"

numpy and scipy (whose LAPACK jax's CPU linear algebra also calls) both read
``OPENBLAS_CORETYPE``.
"""

from __future__ import annotations

import platform
import sys

__all__ = ["default_kernel", "second_kernel", "main"]

# On x86-64 a CPU runs every older kernel set; this is the fallback order.
_X86 = ("SapphireRapids", "Cooperlake", "SkylakeX", "Haswell", "Sandybridge", "Nehalem", "Prescott")
# Kernel names OpenBLAS reports that run the same code as an entry of _X86.
_X86_ALIASES = {"Zen": "Haswell", "Excavator": "Haswell", "Skylake": "Haswell", "Atom": "Prescott"}


def default_kernel() -> str:
    """The kernel set OpenBLAS picked for this CPU (``""`` if numpy/scipy do not use OpenBLAS)."""
    import numpy  # noqa: F401  (load the libraries threadpoolctl inspects)
    import scipy.linalg  # noqa: F401

    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        return ""
    archs = [i.get("architecture") or "" for i in threadpool_info() if i.get("internal_api") == "openblas"]
    return archs[0] if archs else ""


def second_kernel(default: str, machine: str | None = None) -> str:
    """A second kernel set this CPU can run, different from ``default`` (``""`` if none is known).

    On x86-64 it is the next older set (``SkylakeX`` -> ``Haswell``, ``Haswell`` -> ``Sandybridge``);
    on 64-bit ARM the generic ``ARMV8`` kernels.
    """
    machine = (machine or platform.machine()).lower()
    if machine in ("x86_64", "amd64"):
        name = _X86_ALIASES.get(default, default)
        if name in _X86:
            i = _X86.index(name)
            return _X86[i + 1] if i + 1 < len(_X86) else ""
        return "Haswell" if default else ""
    if machine in ("aarch64", "arm64"):
        return "ARMV8" if default.upper() != "ARMV8" else ""
    return ""


def main() -> int:
    default = default_kernel()
    print(default or "none", second_kernel(default) or "none")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
