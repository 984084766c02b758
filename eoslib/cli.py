"""The ``eoslib`` command: run one notebook, build the book, write the ledger.

Usage::

    eoslib run notebooks/two_step/theorem_2.md -p eta 0.9 -o out.ipynb
    eoslib build [--jobs N] [--force] [PATTERN]
    eoslib ledger

``run`` validates parameters against the notebook's declarations before any
kernel starts and writes its output atomically. ``build`` re-executes only the
notebooks whose staleness key changed (see :mod:`eoslib.catalog`), in parallel,
then compiles the HTML book with Jupyter Book 1.x (execution off).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Sequence

from eoslib import catalog as cat
from eoslib import notebook as nbk

__all__ = ["main"]

MATHJAX = Path(".vendor/web/mathjax/tex-chtml.js")


def _err(msg: str) -> int:
    print(f"eoslib: error: {msg}", file=sys.stderr)
    return 2


# --- run ------------------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    project = cat.Project.find()
    try:
        source = nbk.read_source(args.notebook)
        overrides = {name: nbk.parse_cli_value(value) for name, value in args.parameter or []}
        params = nbk.validate_parameters(source, overrides)
    except (FileNotFoundError, ValueError) as err:
        return _err(str(err))
    try:
        default_out: Path | None = nbk.output_path(source.path, project.notebooks, project.book)
    except ValueError:  # a source outside notebooks/ (e.g. a scratch copy) has no book page
        default_out = None
    if args.output:
        out = Path(args.output)
    elif params:
        # A run with non-default parameters must not silently replace the book's page.
        tag = "-".join(f"{k}={v}" for k, v in params.items()).replace("/", "_").replace(" ", "")
        out = project.root / "_runs" / source.paper / f"{source.slug}-{tag}.ipynb"
    elif default_out is not None:
        out = default_out
    else:
        return _err(f"{source.path} is not under {project.notebooks}: give -o OUT")
    if out.suffix != ".ipynb":
        return _err(f"output {out} must end in .ipynb")
    if not args.quiet:
        print(f"running {source.path} -> {out}" + (f" with {params}" if params else ""), flush=True)
    try:
        shown = _rel(project, source.path) if default_out is not None else source.path.as_posix()
        runtime = nbk.execute(source, out, params, extra_metadata={"source": shown})
    except Exception as err:  # papermill raises its own error types; all mean "the run failed"
        msg = str(err).strip().splitlines()
        tail = "\n".join(msg[-15:])
        return _err(f"{source.path} failed; {out} was left untouched.\n{tail}")
    if default_out is not None and out.resolve() == default_out.resolve():
        cat.update_manifest(project, _rel(project, source.path),
                            _record(project, source.path, out, runtime, "pass"))
    if not args.quiet:
        print(f"ok: {out} ({runtime:.1f} s)")
    return 0


def _rel(project: cat.Project, path: Path) -> str:
    return Path(path).resolve().relative_to(project.root).as_posix()


def _record(project: cat.Project, src: Path, out: Path, runtime: float, status: str) -> dict:
    passed, failed = cat.count_checks(out) if out.is_file() and status == "pass" else (0, 0)
    return {
        "key": cat.notebook_key(project, src),
        "status": status,
        "checks": passed,
        "failed_checks": failed,
        "runtime_s": round(runtime, 1),
        "output": _rel(project, out),
    }


# --- build ----------------------------------------------------------------------------------------

def _stale(project: cat.Project, sources: list[Path], force: bool) -> list[Path]:
    manifest = cat.load_manifest(project)
    stale = []
    for src in sources:
        rec = manifest.get(_rel(project, src))
        out = nbk.output_path(src, project.notebooks, project.book)
        if (force or rec is None or rec.get("status") != "pass" or not out.is_file()
                or rec.get("key") != cat.notebook_key(project, src)):
            stale.append(src)
    return stale


def _execute_child(project: cat.Project, src: Path) -> tuple[Path, int, float, str]:
    out = nbk.output_path(src, project.notebooks, project.book)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "eoslib", "run", _rel(project, src), "-o", str(out), "--quiet"],
        cwd=project.root, capture_output=True, text=True,
    )
    return src, proc.returncode, time.perf_counter() - start, proc.stderr


def cmd_build(args: argparse.Namespace) -> int:
    project = cat.Project.find()
    os.chdir(project.root)
    sources = project.sources()
    if args.pattern:
        sources = [s for s in sources if fnmatch.fnmatch(_rel(project, s), f"*{args.pattern}*")]
        if not sources:
            return _err(f"no notebook matches {args.pattern!r}")
    failures: list[str] = []
    if not args.no_execute:
        stale = _stale(project, sources, args.force)
        print(f"{len(sources)} notebooks, {len(stale)} stale", flush=True)
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = [pool.submit(_execute_child, project, s) for s in stale]
            for i, fut in enumerate(as_completed(futures), 1):
                src, code, runtime, stderr = fut.result()
                out = nbk.output_path(src, project.notebooks, project.book)
                status = "pass" if code == 0 else "fail"
                rec = _record(project, src, out, runtime, status)
                # after each notebook, so an interrupted build keeps its work
                cat.update_manifest(project, _rel(project, src), rec)
                print(f"[{i}/{len(stale)}] {status:4} {_rel(project, src)}  {runtime:6.1f} s"
                      + (f"  checks={rec['checks']}" if code == 0 else ""), flush=True)
                if code != 0:
                    failures.append(_rel(project, src))
                    print("      " + "\n      ".join(stderr.strip().splitlines()[-12:]), flush=True)
    if args.strict:
        # CI builds the committed tree: generated pages must already be current, not rewritten.
        stale_pages = outdated_generated(project)
        if stale_pages:
            return _err(f"{', '.join(stale_pages)} out of date: run `eoslib ledger` and commit")
    else:
        write_generated(project)
    code = 0
    if not args.no_html:
        code = build_html(project, strict=args.strict)
    if failures:
        print(f"{len(failures)} notebook(s) failed and kept their previous output: {', '.join(failures)}",
              file=sys.stderr)
        return 1
    return code


def _generated(project: cat.Project) -> dict[Path, str]:
    pages = {
        project.book / "ledger.md": cat.render_ledger(project),
        project.root / "_toc.yml": cat.render_toc(project),
    }
    for paper in cat.PAPER_ORDER:
        if (project.book / paper / "index.md").is_file():
            pages[project.book / paper / "_items.md"] = cat.render_items(project, paper)
    return pages


def write_generated(project: cat.Project) -> None:
    """Regenerate the ledger page and ``_toc.yml`` (only files whose content changed)."""
    for path, text in _generated(project).items():
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)


def outdated_generated(project: cat.Project) -> list[str]:
    """Generated files whose committed content differs from what the catalog and manifest give."""
    return [_rel(project, p) for p, text in _generated(project).items()
            if not p.is_file() or p.read_text() != text]


def build_html(project: cat.Project, *, strict: bool = False) -> int:
    """Compile ``_build/html`` with Jupyter Book 1.x; returns its exit code."""
    if not (project.root / MATHJAX).is_file():
        print(f"warning: {MATHJAX} is missing (run `make vendor`); math will not typeset offline", file=sys.stderr)
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-book")
    if jb is None:
        return _err("jupyter-book is not installed (pip install -e '.[book]')")
    cmd = [jb, "build", str(project.root), "--builder", "html"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    start = time.perf_counter()
    code = subprocess.run(cmd, cwd=project.root).returncode
    index = project.root / "_build" / "html" / "index.html"
    if code == 0:
        print(f"book built in {time.perf_counter() - start:.0f} s: open {index}")
    return code


# --- ledger ---------------------------------------------------------------------------------------

def cmd_ledger(args: argparse.Namespace) -> int:
    project = cat.Project.find()
    write_generated(project)
    print(f"wrote {project.book / 'ledger.md'} and {project.root / '_toc.yml'}")
    return 0


# --- entry point ----------------------------------------------------------------------------------

def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eoslib", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute one notebook with papermill")
    run.add_argument("notebook", help="notebooks/<paper>/<item>.md")
    run.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                     help="override a declared parameter (repeatable)")
    run.add_argument("-o", "--output", help="output .ipynb (default: book/<paper>/<item>.ipynb, "
                                            "or _runs/... when parameters are given)")
    run.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    run.set_defaults(func=cmd_run)

    build = sub.add_parser("build", help="execute stale notebooks and build the HTML book")
    build.add_argument("pattern", nargs="?", help="only notebooks whose path contains this glob")
    build.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="parallel notebooks")
    build.add_argument("--force", action="store_true", help="re-execute even fresh notebooks")
    build.add_argument("--no-execute", action="store_true", help="only regenerate pages and build HTML")
    build.add_argument("--no-html", action="store_true", help="only execute notebooks")
    build.add_argument("--strict", action="store_true", help="warnings are errors (-W -n --keep-going)")
    build.set_defaults(func=cmd_build)

    ledger = sub.add_parser("ledger", help="regenerate book/ledger.md and _toc.yml")
    ledger.set_defaults(func=cmd_ledger)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    if getattr(args, "jobs", 1) < 1:
        return _err(f"--jobs must be >= 1, got {args.jobs}")
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
