"""The ``eoslib`` command: run one notebook, build the book, write the generated pages.

Usage::

    eoslib run notebooks/two_step/theorem_2.md -p eta 0.9        # -> _runs/two_step/theorem_2-eta=0.9.ipynb
    eoslib run notebooks/two_step/theorem_2.md --into-book       # -> book/two_step/theorem_2.ipynb
    eoslib build [--jobs N] [--force] [--no-execute] [--no-html] [--strict] [PATTERN]
    eoslib ledger

``run`` validates parameters against the notebook's declarations before any kernel starts
and writes its output atomically; it writes into ``book/`` only with ``--into-book``, and a
book page made with non-default parameters is recorded as such (``build`` re-runs it).
``build`` re-executes only the notebooks whose key changed (see
:mod:`eoslib.book.provenance`), in parallel, then compiles the HTML book with Jupyter Book 1.x
(execution off); full logs go to ``_build/logs/``.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from eoslib.book.catalog import Project

__all__ = ["main", "make_parser"]

MATHJAX = Path(".vendor/web/mathjax/tex-chtml.js")


def _err(msg: str) -> int:
    print(f"eoslib: error: {msg}", file=sys.stderr)
    return 2


def _need_book_extra() -> str | None:
    """An error message if the ``book`` extra is missing, else ``None``."""
    from importlib.util import find_spec

    missing = [m for m in ("yaml", "jupytext", "papermill", "nbformat") if find_spec(m) is None]
    if missing:
        return (f"the pipeline needs the 'book' extra ({', '.join(missing)} missing): "
                "pip install -e '.[book]'")
    return None


# --- run ------------------------------------------------------------------------------------------

def _runs_path(project: "Project", paper: str, slug: str, overrides: dict[str, Any]) -> Path:
    tag = "-".join(f"{k}={v}" for k, v in overrides.items()).replace("/", "_").replace(" ", "")
    return project.root / "_runs" / paper / (f"{slug}-{tag}.ipynb" if tag else f"{slug}.ipynb")


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def cmd_run(args: argparse.Namespace) -> int:
    from eoslib.book import manifest as man
    from eoslib.book import provenance as prov
    from eoslib.book import runner
    from eoslib.book.catalog import Project
    from eoslib.book.parameters import non_default, parse_cli_value

    project = Project.find()
    try:
        source = runner.read_source(args.notebook)
        given = {name: parse_cli_value(value) for name, value in args.parameter or []}
        params = runner.validate_parameters(source, given)
    except (FileNotFoundError, ValueError) as err:
        return _err(str(err))
    overrides = non_default(source.parameters, params)
    in_project = _inside(source.path, project.notebooks)
    book_page = runner.output_path(source.path, project.notebooks, project.book) if in_project else None
    if args.into_book:
        if book_page is None:
            return _err(f"{source.path} is not under {project.notebooks}: it has no book page")
        if args.output and Path(args.output).resolve() != book_page.resolve():
            return _err(f"--into-book writes {project.rel(book_page)}; drop -o")
        out = book_page
    elif args.output:
        out = Path(args.output)
        if _inside(out, project.book):
            return _err(f"{out} is inside book/, whose pages `eoslib build` manages: "
                        "use --into-book to replace the book page, or write elsewhere")
    elif in_project:
        out = _runs_path(project, source.paper, source.slug, overrides)
    else:
        return _err(f"{source.path} is not under {project.notebooks}: give -o OUT")
    if out.suffix != ".ipynb":
        return _err(f"output {out} must end in .ipynb")
    shown = project.rel(source.path) if in_project else source.path.as_posix()
    key = prov.notebook_key(project, source.path, overrides)
    commit = prov.clean_commit(project) if in_project else ""
    if not args.quiet:
        print(f"running {shown} -> {out}" + (f" with {overrides}" if overrides else ""), flush=True)
    progress = args.progress if args.progress is not None else (not args.quiet and sys.stderr.isatty())
    try:
        runtime = runner.execute(source, out, params, notebook=shown, key=key, commit=commit, progress=progress)
    except Exception as err:  # papermill raises its own error types; all mean "the run failed"
        return _err(f"{shown} failed; {out} was left untouched.\n{runner.describe_failure(err)}")
    if args.into_book:
        summary = man.summarize_output(out)
        record = {
            "key": key,
            "defaults": not overrides,
            "parameters": overrides,
            "status": "pass",
            "checks": summary.passed,
            "failed_checks": summary.failed,
            "kinds": summary.kinds,
            "verdicts": summary.verdicts,
            "runtime_s": round(runtime, 1),
            "output": project.rel(out),
        }
        man.update_manifest(project, shown, record)
        if overrides:
            print(f"warning: {project.rel(out)} was made with non-default parameters {overrides}; "
                  "`eoslib build` treats it as stale and re-runs it with the defaults", file=sys.stderr)
    if not args.quiet:
        print(f"ok: {out} ({runtime:.1f} s)")
    return 0


# --- build ----------------------------------------------------------------------------------------

def stale_notebooks(project: "Project", sources: list[Path], force: bool = False) -> dict[Path, str]:
    """Source -> why it must be (re-)executed, for the sources that are not current."""
    from eoslib.book import manifest as man
    from eoslib.book import provenance as prov

    manifest = man.load_manifest(project)
    out: dict[Path, str] = {}
    for src in sources:
        rel = project.rel(src)
        reason = "forced" if force else man.stale_reason(project, rel, manifest.get(rel),
                                                          prov.notebook_key(project, src))
        if reason:
            out[src] = reason
    return out


def _log_path(logs: Path, project: "Project", src: Path) -> Path:
    rel = src.resolve().relative_to(project.notebooks.resolve()).with_suffix(".log")
    return logs / "notebooks" / rel


def _execute_child(project: "Project", src: Path, log: Path) -> tuple[Path, int, float, str]:
    start = time.perf_counter()
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "eoslib", "run", project.rel(src), "--into-book", "--quiet", "--no-progress"],
        cwd=project.root, capture_output=True, text=True,
    )
    log.write_text(f"$ eoslib run {project.rel(src)} --into-book\n{proc.stdout}{proc.stderr}")
    return src, proc.returncode, time.perf_counter() - start, proc.stderr


def _record_failure(project: "Project", src: Path, runtime: float) -> None:
    from eoslib.book import manifest as man
    from eoslib.book.runner import output_path

    rel = project.rel(src)
    previous = man.load_manifest(project).get(rel) or {}
    record = {**previous, "status": "fail", "runtime_s": round(runtime, 1),
              "output": project.rel(output_path(src, project.notebooks, project.book))}
    man.update_manifest(project, rel, record)


class _Progress:
    """A progress bar on a terminal, one line per notebook otherwise (CI logs)."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0
        self.bar = None
        if sys.stdout.isatty() and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="nb", file=sys.stdout, dynamic_ncols=True,
                            bar_format="  {bar:30} {n_fmt}/{total_fmt} [{elapsed}<{remaining}] {postfix}")

    def update(self, line: str) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.write(f"  {line}")
            self.bar.update(1)
        else:
            print(f"  [{self.done}/{self.total}] {line}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_build(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from eoslib.book import ledger
    from eoslib.book import manifest as man
    from eoslib.book.catalog import Project, done_notebooks, load_catalog

    project = Project.find()
    os.chdir(project.root)
    logs = Path(args.log_dir) if args.log_dir else project.logs
    logs.mkdir(parents=True, exist_ok=True)
    sources = project.sources()
    if args.pattern:
        sources = [s for s in sources if fnmatch.fnmatch(project.rel(s), f"*{args.pattern}*")]
        if not sources:
            return _err(f"no notebook matches {args.pattern!r}")
    failures: list[str] = []
    if not args.no_execute:
        stale = stale_notebooks(project, sources, args.force)
        print(f"notebooks: {len(sources)}, {len(stale)} to execute (logs: {_shown_path(project, logs)})",
              flush=True)
        progress = _Progress(len(stale))
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = [pool.submit(_execute_child, project, s, _log_path(logs, project, s)) for s in stale]
            for fut in as_completed(futures):
                src, code, runtime, stderr = fut.result()
                rel = project.rel(src)
                if code == 0:
                    rec = man.load_manifest(project).get(rel, {})
                    verdicts = ", ".join(v["outcome"] for v in (rec.get("verdicts") or {}).values())
                    progress.update(f"pass  {rel}  {runtime:5.0f} s  {rec.get('checks', 0)} checks"
                                    + (f"; {verdicts}" if verdicts else ""))
                else:
                    _record_failure(project, src, runtime)
                    failures.append(rel)
                    tail = "\n".join("        " + ln for ln in stderr.strip().splitlines()[-8:])
                    progress.update(f"FAIL  {rel}  {runtime:5.0f} s  (log: "
                                    f"{_shown_path(project, _log_path(logs, project, src))})\n{tail}")
        progress.close()
    if args.strict:
        # CI checks the committed tree: pages must be current, generated files up to date.
        problems = []
        if args.no_execute:
            done = set(done_notebooks(load_catalog(project)[1]))
            stale = stale_notebooks(project, [s for s in sources if project.rel(s) in done])
            problems += [f"{project.rel(s)} is stale ({why})" for s, why in stale.items()]
        problems += [f"{p} is out of date" for p in ledger.outdated_generated(project)]
        if problems:
            shown = "\n  ".join(problems[:40]) + ("\n  ..." if len(problems) > 40 else "")
            _err(f"{len(problems)} problem(s); run `make book` (or `eoslib build PATTERN` and "
                 f"`eoslib ledger`) and commit:\n  {shown}")
            failures.append("strict checks")
    else:
        changed = ledger.write_generated(project)
        if changed:
            print(f"pages: regenerated {', '.join(project.rel(p) for p in changed)}", flush=True)
    code = 0
    if not args.no_html:
        code = build_html(project, strict=args.strict, log=logs / "html.log", verbose=args.verbose)
    if "strict checks" in failures:
        return 2
    if failures:
        print(f"{len(failures)} notebook(s) failed and kept their previous page: {', '.join(failures)}",
              file=sys.stderr)
        return 1
    return code


def _shown_path(project: "Project", path: Path) -> str:
    try:
        return project.rel(path)
    except ValueError:
        return str(path)


def build_html(project: "Project", *, strict: bool = False, log: Path | None = None, verbose: bool = False) -> int:
    """Compile ``_build/html`` with Jupyter Book 1.x; the full output goes to ``log``.

    Returns:
      jupyter-book's exit code.
    """
    import shutil

    if not (project.root / MATHJAX).is_file():
        print(f"warning: {MATHJAX} is missing (run `make vendor`); math will not typeset offline", file=sys.stderr)
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-book")
    if jb is None:
        return _err("jupyter-book is not installed (pip install -e '.[book]')")
    cmd = [jb, "build", str(project.root), "--builder", "html"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    env = dict(os.environ, NO_COLOR="1", TERM="dumb")
    start = time.perf_counter()
    print("html: building" + (" (strict)" if strict else "")
          + (f" (log: {_shown_path(project, log)})" if log and not verbose else "") + " ...", flush=True)
    if verbose or log is None:
        code = subprocess.run(cmd, cwd=project.root, env=env).returncode
    else:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as fh:
            code = subprocess.run(cmd, cwd=project.root, env=env, stdout=fh, stderr=subprocess.STDOUT).returncode
        text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", log.read_text(errors="replace"))
        log.write_text(text)  # jupyter-book colours its output even into a file
        problems = [ln.rstrip() for ln in text.splitlines() if "WARNING" in ln or "ERROR" in ln or "Traceback" in ln]
        if problems:
            print(f"html: {len(problems)} warning/error line(s):", file=sys.stderr)
            print("  " + "\n  ".join(problems[:40]), file=sys.stderr)
    index = project.root / "_build" / "html" / "index.html"
    if code == 0:
        print(f"html: built in {time.perf_counter() - start:.0f} s; open {index}")
    else:
        print(f"html: failed (exit {code}) after {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return code


# --- ledger ---------------------------------------------------------------------------------------

def cmd_ledger(args: argparse.Namespace) -> int:
    from eoslib.book import ledger
    from eoslib.book.catalog import Project

    project = Project.find()
    changed = ledger.write_generated(project)
    print("regenerated: " + (", ".join(project.rel(p) for p in changed) or "nothing (all current)"))
    return 0


# --- entry point ----------------------------------------------------------------------------------

def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eoslib", description="Run one notebook, build the book, "
                                     "write the generated pages (ledger, toc, item tables, API reference).")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute one notebook with papermill",
                         description="Execute one notebook. Without -o the output goes to _runs/<paper>/; "
                                     "book pages are written only with --into-book.")
    run.add_argument("notebook", help="notebooks/<paper>/<slug>.md")
    run.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                     help="override a declared parameter (repeatable)")
    run.add_argument("-o", "--output", help="output .ipynb (default: _runs/<paper>/<slug>[-<params>].ipynb)")
    run.add_argument("--into-book", action="store_true",
                     help="replace the book page book/<paper>/<slug>.ipynb and its manifest record")
    run.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="show a cell i/N progress bar (default: on a terminal)")
    run.add_argument("--no-progress", dest="progress", action="store_false")
    run.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    run.set_defaults(func=cmd_run)

    build = sub.add_parser("build", help="execute stale notebooks and build the HTML book")
    build.add_argument("pattern", nargs="?", help="only notebooks whose path contains this glob")
    build.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="parallel notebooks")
    build.add_argument("--force", action="store_true", help="re-execute even current notebooks")
    build.add_argument("--no-execute", action="store_true", help="only regenerate pages and build HTML")
    build.add_argument("--no-html", action="store_true", help="only execute notebooks")
    build.add_argument("--strict", action="store_true",
                       help="CI: fail on stale pages or outdated generated files; "
                            "HTML warnings are errors (-W -n --keep-going)")
    build.add_argument("--log-dir", help="where the full logs go (default: _build/logs)")
    build.add_argument("--verbose", "-v", action="store_true", help="stream the HTML build's output")
    build.set_defaults(func=cmd_build)

    ledger = sub.add_parser("ledger", help="regenerate the ledger, _toc.yml, item tables and API pages")
    ledger.set_defaults(func=cmd_ledger)

    from eoslib.book.sweep import add_sweep_parser  # `eoslib sweep`: a grid of runs on Dask

    add_sweep_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    if getattr(args, "jobs", 1) < 1:
        return _err(f"--jobs must be >= 1, got {args.jobs}")
    if (problem := _need_book_extra()) is not None:
        return _err(problem)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
