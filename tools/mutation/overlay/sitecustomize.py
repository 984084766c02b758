"""Mutation overlay: serve one module's source from a file instead of the checkout.

Put this folder first on ``PYTHONPATH`` and set ``EOSLIB_MUTANT_MODULE`` (dotted name) and
``EOSLIB_MUTANT_SOURCE`` (path of the mutated source): every Python process started with that
environment (pytest, a papermill kernel) imports the mutant, while the checkout stays untouched.
``__file__`` stays the real path, so package-relative resources still resolve. Without the two
variables this file does nothing (and another ``sitecustomize`` is not shadowed: there is none
in the project's environment).
"""

import importlib.abc
import importlib.util
import os
import sys


class MutantFinder(importlib.abc.MetaPathFinder):
    """Finds the modules of :attr:`sources` (name -> source text) before every other finder."""

    def __init__(self) -> None:
        self.sources: dict[str, str] = {}

    def find_spec(self, name, path=None, target=None):
        if name not in self.sources:
            return None
        origin = os.path.join(os.environ.get("EOSLIB_MUTANT_ROOT", os.getcwd()),
                              *name.split(".")) + ".py"
        return importlib.util.spec_from_file_location(name, origin, loader=_Loader(self.sources[name], origin))


class _Loader(importlib.abc.Loader):
    def __init__(self, source: str, origin: str) -> None:
        self.source, self.origin = source, origin

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        exec(compile(self.source, self.origin, "exec"), module.__dict__)


def install() -> MutantFinder:
    for f in sys.meta_path:
        if isinstance(f, MutantFinder) or type(f).__name__ == "MutantFinder":
            return f
    finder = MutantFinder()
    sys.meta_path.insert(0, finder)
    return finder


_mod, _src = os.environ.get("EOSLIB_MUTANT_MODULE"), os.environ.get("EOSLIB_MUTANT_SOURCE")
if _mod and _src:
    with open(_src) as _fh:
        install().sources[_mod] = _fh.read()
