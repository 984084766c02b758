"""The catalog covers every notebook; the generated pages and the committed book pages are current."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jupytext
import pytest
import yaml

from eoslib.book import catalog as cat
from eoslib.book import ledger, manifest, provenance, runner

ROOT = Path(__file__).resolve().parent.parent
PROJECT = cat.Project(ROOT)
PAPERS, ENTRIES = cat.load_catalog(PROJECT)
KINDS = {"theorem", "lemma", "proposition", "corollary", "observation", "figure"}
MANIFEST = manifest.load_manifest(PROJECT)
DONE = cat.done_notebooks(ENTRIES)
BY_NOTEBOOK = cat.entries_by_notebook(ENTRIES)


def test_catalog_entries_are_well_formed():
    assert ENTRIES, "empty catalog"
    seen = set()
    for e in ENTRIES:
        assert e.paper in cat.PAPER_ORDER, e
        assert e.kind in KINDS, e
        assert e.status in ("todo", "done"), e
        assert e.notebook.startswith(f"notebooks/{e.paper}/") and e.notebook.endswith(".md"), e
        assert (e.paper, e.item) not in seen, f"duplicate entry {e.paper} {e.item}"
        seen.add((e.paper, e.item))
    # Several items may share one notebook (Corollaries 1-8, Figures 10 and 11), within one paper.
    for nb, entries in BY_NOTEBOOK.items():
        assert len({e.status for e in entries}) == 1, f"{nb}: its items disagree on status"


def test_catalog_points_only_at_files_in_the_project():
    text = PROJECT.catalog.read_text()
    assert "../" not in text, "notebooks/catalog.yml points outside the project"
    for paper, meta in PAPERS.items():
        for key, value in meta.items():
            if isinstance(value, str) and value.endswith((".md", ".ipynb", ".pdf")):
                assert (PROJECT.notebooks / value).resolve().is_relative_to(ROOT), (paper, key, value)
    readme = (ROOT / "README.md").read_text()
    assert "../shared" not in readme and "DESIGN.md" not in readme


def test_every_paper_has_figures_and_results():
    for paper in cat.PAPER_ORDER:
        kinds = {e.kind for e in ENTRIES if e.paper == paper}
        assert "figure" in kinds and kinds - {"figure"}, f"{paper}: catalog looks incomplete ({kinds})"


@pytest.mark.parametrize("source", PROJECT.sources(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_notebook_is_in_the_catalog_and_matches_its_front_matter(source: Path):
    rel = source.relative_to(ROOT).as_posix()
    entries = BY_NOTEBOOK.get(rel)
    assert entries, f"{rel} is not in notebooks/catalog.yml"
    eos = jupytext.read(source).metadata.get("eos", {})
    assert eos.get("paper") == entries[0].paper
    named = cat.front_matter_items(eos)
    assert sorted(named) == sorted(e.item for e in entries), \
        f"{rel}: front matter item {eos.get('item')!r} must list exactly its catalog items {[e.item for e in entries]}"
    assert all(e.status == "done" for e in entries), f"{rel} exists but its catalog entry is not done"


def _toc_files() -> set[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.add(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc)
    return files


def test_every_notebook_and_reconstructions_page_is_in_the_toc():
    files = _toc_files()
    for source in PROJECT.sources():
        doc = "book/" + source.relative_to(PROJECT.notebooks).with_suffix("").as_posix()
        assert doc in files, f"{doc} is missing from _toc.yml"
    for page in PROJECT.book.glob("*/reconstructions.md"):
        assert f"book/{page.parent.name}/reconstructions" in files


def test_done_entries_have_executed_notebooks_with_a_verdict_per_item():
    for nb in DONE:
        assert (ROOT / nb).is_file(), f"{nb} is marked done but has no source"
        out = runner.output_path(ROOT / nb, PROJECT.notebooks, PROJECT.book)
        assert out.is_file(), f"{nb} is marked done but {out.relative_to(ROOT)} is missing"
        summary = manifest.summarize_output(out)
        assert summary.passed > 0 and summary.failed == 0, f"{out.name}: {summary.passed} passed, {summary.failed} failed"
        assert summary.kinds.get("unlabelled", 0) == 0, f"{out.name}: check lines without a kind (re-execute it)"
        for e in BY_NOTEBOOK[nb]:
            assert e.item in summary.verdicts, f"{out.name}: no `checks.verdict({e.item!r})` line"


def test_generated_pages_are_current():
    assert ledger.outdated_generated(PROJECT) == [], "run `eoslib ledger` and commit"


def test_todo_items_show_as_missing_on_the_ledger():
    text = (ROOT / "book" / "ledger.md").read_text()
    todo = [e for e in ENTRIES if e.status == "todo"]
    for e in todo:
        assert f"`{e.notebook}` (missing)" in text, e
    assert f"{len(todo)} todo" in text


@pytest.mark.parametrize("nb", DONE)
def test_manifest_is_current_for_done_notebooks(nb: str):
    rec = MANIFEST.get(nb)
    assert rec is not None, f"{nb}: never executed by `eoslib build`"
    reason = manifest.stale_reason(PROJECT, nb, rec, provenance.notebook_key(PROJECT, ROOT / nb))
    assert not reason, f"{nb} is stale ({reason}): run `eoslib build {Path(nb).stem}` and commit"


@pytest.mark.parametrize("nb", DONE)
def test_committed_page_provenance_matches_the_manifest(nb: str):
    """The key on the page (metadata, and the session cell that stamps the figure footers) is the manifest's."""
    rec = MANIFEST.get(nb)
    out = runner.output_path(ROOT / nb, PROJECT.notebooks, PROJECT.book)
    if rec is None or not out.is_file():
        pytest.fail(f"{nb}: not executed into the book")
    page = json.loads(out.read_text())
    run = page["metadata"].get("eos", {}).get("run", {})
    assert run.get("key") == rec["key"], f"{out.name}: metadata key differs from book/_manifest.json"
    assert run.get("defaults") is True and run.get("source") == nb, run
    session = [c for c in page["cells"] if runner.SESSION_TAG in c.get("metadata", {}).get("tags", [])]
    assert len(session) == 1, f"{out.name}: not executed by the eoslib runner"
    keys = re.findall(r"key='([0-9a-f]*)'", "".join(session[0]["source"]))
    assert keys == [rec["key"]], f"{out.name}: the figure footers carry another key than the manifest"


def test_book_stays_small():
    size = sum(p.stat().st_size for p in (ROOT / "book").rglob("*") if p.is_file())
    assert size < 40 * 2**20, f"book/ is {size / 2**20:.1f} MB (cap 40 MB)"
