"""The catalog covers every notebook; the toc and ledger are generated from it and current."""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest
import yaml

from eoslib import catalog as cat

ROOT = Path(__file__).resolve().parent.parent
PROJECT = cat.Project(ROOT)
PAPERS, ENTRIES = cat.load_catalog(PROJECT)
KINDS = {"theorem", "lemma", "proposition", "corollary", "observation", "figure"}


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


def test_every_paper_has_figures_and_results():
    for paper in cat.PAPER_ORDER:
        kinds = {e.kind for e in ENTRIES if e.paper == paper}
        assert "figure" in kinds and kinds - {"figure"}, f"{paper}: catalog looks incomplete ({kinds})"


@pytest.mark.parametrize("source", PROJECT.sources(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_notebook_is_in_the_catalog_and_matches_its_front_matter(source: Path):
    rel = source.relative_to(ROOT).as_posix()
    entries = [e for e in ENTRIES if e.notebook == rel]
    assert entries, f"{rel} is not in notebooks/catalog.yml"
    eos = jupytext.read(source).metadata.get("eos", {})
    assert eos.get("paper") == entries[0].paper
    assert eos.get("item") in {e.item for e in entries} | {" / ".join(e.item for e in entries)}, eos
    assert all(e.status == "done" for e in entries), f"{rel} exists but its catalog entry is not done"


def test_every_notebook_is_in_the_toc():
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
    for source in PROJECT.sources():
        doc = "book/" + source.relative_to(PROJECT.notebooks).with_suffix("").as_posix()
        assert doc in files, f"{doc} is missing from _toc.yml"


def test_done_entries_have_executed_notebooks_and_sources():
    for nb in cat.done_notebooks(ENTRIES):
        assert (ROOT / nb).is_file(), f"{nb} is marked done but has no source"
        out = ROOT / "book" / Path(nb).relative_to("notebooks").with_suffix(".ipynb")
        assert out.is_file(), f"{nb} is marked done but {out.relative_to(ROOT)} is missing"
        passed, failed = cat.count_checks(out)
        assert passed > 0 and failed == 0, f"{out.name}: {passed} passed, {failed} failed checks"


def test_generated_pages_are_current():
    from eoslib.cli import outdated_generated

    assert outdated_generated(PROJECT) == [], "run `eoslib ledger` and commit"


def test_item_map_names_the_paper_functions_first():
    code = "from eoslib.papers import two_step as ts\nfrom eoslib import gd, checks\n" \
           "gd.gd_final(f)\nts.orbit(1)\nchecks.check('a', 1, 1, rtol=0)\nts.T.items()\n"
    assert cat.eoslib_calls(code) == ["papers.two_step.orbit", "gd.gd_final"]


def test_todo_items_show_as_missing_on_the_ledger():
    ledger = (ROOT / "book" / "ledger.md").read_text()
    todo = [e for e in ENTRIES if e.status == "todo"]
    for e in todo:
        assert f"`{e.notebook}` (missing)" in ledger, e
    assert f"{len(todo)} todo" in ledger


def test_manifest_is_current_for_done_notebooks():
    manifest = cat.load_manifest(PROJECT)
    for nb in cat.done_notebooks(ENTRIES):
        rec = manifest.get(nb)
        assert rec is not None and rec["status"] == "pass", f"{nb}: not executed by `eoslib build`"
        assert rec["key"] == cat.notebook_key(PROJECT, ROOT / nb), f"{nb} is stale: run `make book`"


def test_book_stays_small():
    size = sum(p.stat().st_size for p in (ROOT / "book").rglob("*") if p.is_file())
    assert size < 40 * 2**20, f"book/ is {size / 2**20:.1f} MB (cap 40 MB)"
