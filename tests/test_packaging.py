"""pyproject.toml is the one place pins live; environment.yml mirrors it."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _pins(reqs):
    out = {}
    for r in reqs:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", r.strip())
        assert m, f"not an exact pin: {r!r}"
        out[m.group(1).lower()] = m.group(2)
    return out


#: Extras for one kind of hardware: exact pins too, but not in environment.yml (see pyproject.toml).
HARDWARE_EXTRAS = ("cuda",)


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for name, extra in project["optional-dependencies"].items():
        if name in HARDWARE_EXTRAS:
            _pins(extra)  # still exact pins
        else:
            reqs += extra
    pins = _pins(reqs)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    env_pins = _pins([p for p in pip if not p.startswith("-e")])
    assert env_pins == pins


def test_importing_eoslib_does_not_enable_x64():
    code = "import eoslib, jax; import jax.numpy as jnp; print(jnp.ones(1).dtype)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "float32"


def test_core_install_needs_no_pipeline_dependency():
    """pyyaml, jupytext, papermill, nbformat belong to the `book` extra; only eoslib/book imports them."""
    import ast

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = set(_pins(project["dependencies"]))
    assert not core & {"pyyaml", "jupytext", "papermill", "nbformat", "jupyter-book"}, core
    pipeline_only = {"yaml", "jupytext", "papermill", "nbformat", "nbclient", "sphinx"}
    offenders = []
    for path in (ROOT / "eoslib").rglob("*.py"):
        rel = path.relative_to(ROOT / "eoslib")
        if rel.parts[0] == "book":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            offenders += [f"{rel}: {n}" for n in names if n.split(".")[0] in pipeline_only]
    assert not offenders, offenders


def test_the_package_namespace_is_small_and_lazy():
    code = ("import sys, eoslib; print('jax' in sys.modules, sorted(eoslib.__all__)); "
            "print(eoslib.gd.__name__, 'jax' in sys.modules, hasattr(eoslib, 'product_stability'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].startswith("False ")  # importing eoslib loads no jax
    exported = eval(out[0].split(" ", 1)[1])  # noqa: S307 - our own printed list
    assert "papers" in exported and "checks" in exported and "product_stability" not in exported
    # Submodules load on first use; the function alias that shadowed eoslib.papers.product_stability is gone.
    assert out[1] == "eoslib.gd True False"
