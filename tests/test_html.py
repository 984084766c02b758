"""The built book loads nothing from outside the build, and shows math and every figure.

Runs after `eoslib build` (``make test`` builds first); skipped only outside CI when no build exists.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

from eoslib.book import catalog as cat

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"

if not (HTML / "index.html").is_file():
    if os.environ.get("CI"):
        raise RuntimeError("_build/html is missing: `make test` builds the book before the tests")
    pytest.skip("book not built (run `make book`)", allow_module_level=True)

from bs4 import BeautifulSoup  # noqa: E402

# _static/*.html are theme templates, not pages.
PAGES = sorted(p for p in HTML.rglob("*.html") if "_static" not in p.relative_to(HTML).parts)
# Tags/attributes a browser fetches on page load (links in <a href> are navigation, not loads).
LOADS = [("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src"), ("source", "src"),
         ("video", "src"), ("audio", "src"), ("embed", "src"), ("object", "data")]
CSS_URL = re.compile(r"url\(\s*['\"]?((?:https?:)?//[^'\")]+)")


def _external(url: str) -> bool:
    parsed = urlparse(url)
    return bool(parsed.scheme in ("http", "https") or url.startswith("//"))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(HTML).as_posix())
def test_page_loads_nothing_external(page: Path):
    soup = BeautifulSoup(page.read_text(), "html.parser")
    bad = []
    for tag, attr in LOADS:
        for el in soup.find_all(tag):
            url = el.get(attr)
            if tag == "link" and set(el.get("rel") or []) & {"canonical", "alternate"}:
                continue
            if url and _external(url):
                bad.append(f"<{tag} {attr}={url}>")
            elif url and not url.startswith("data:") and not url.startswith("#"):
                target = (page.parent / urlparse(url).path).resolve()
                if not target.exists():
                    bad.append(f"<{tag} {attr}={url}> (missing in build)")
    for style in soup.find_all("style"):
        bad += [f"css url {u}" for u in CSS_URL.findall(style.get_text())]
    assert not bad, bad


def test_css_loads_nothing_external():
    bad = []
    for css in HTML.rglob("*.css"):
        bad += [f"{css.relative_to(HTML)}: {u}" for u in CSS_URL.findall(css.read_text(errors="ignore"))]
    assert not bad, bad


def test_mathjax_is_served_locally():
    page = (HTML / "book" / "intro.html").read_text()
    assert "../mathjax/tex-chtml.js" in page
    assert (HTML / "mathjax" / "tex-chtml.js").is_file()


def test_every_done_notebook_is_a_page_and_figures_are_shown():
    _, entries = cat.load_catalog(cat.Project(ROOT))
    for e in entries:
        if e.status != "done":
            continue
        page = HTML / "book" / Path(e.notebook).relative_to("notebooks").with_suffix(".html")
        assert page.is_file(), f"{e.item}: {page.relative_to(HTML)} not built"
        text = page.read_text()
        if e.kind == "figure":
            soup = BeautifulSoup(text, "html.parser")
            imgs = [i for i in soup.find_all("img") if "_images/" in (i.get("src") or "")]
            assert imgs, f"{e.item}: no figure on {page.name}"
        assert "VERDICT" in text, f"{e.item}: no verdict on {page.name}"


def _anchor_exists(page: Path, href: str) -> bool:
    path, _, frag = href.partition("#")
    target = (page.parent / path).resolve() if path else page
    if not target.is_file():
        return False
    return not frag or f'id="{frag}"' in target.read_text()


@pytest.mark.parametrize("paper", [p for p in cat.PAPER_ORDER if (HTML / "book" / p / "index.html").is_file()])
def test_item_tables_link_pages_and_documented_source(paper: str):
    """Each item on a chapter page links to its page and to the API entries of the functions it calls."""
    page = HTML / "book" / paper / "index.html"
    soup = BeautifulSoup(page.read_text(), "html.parser")
    api_links = [a["href"] for a in soup.select("table a[href]") if "api" in a["href"]]
    _, entries = cat.load_catalog(cat.Project(ROOT))
    if not any(e.paper == paper and e.status == "done" for e in entries):
        pytest.skip(f"{paper}: no notebook yet")
    assert api_links, f"{paper}: the item table links no eoslib function"
    broken = [h for h in dict.fromkeys(api_links) if not _anchor_exists(page, h)]
    assert not broken, broken
    # Every linked API entry shows its highlighted source one click away.
    for href in list(dict.fromkeys(api_links))[:20]:
        path, _, frag = href.partition("#")
        api = BeautifulSoup((page.parent / path).resolve().read_text(), "html.parser")
        dt = api.find(id=frag)
        source = [a["href"] for a in dt.find_all("a", href=True) if "_modules/" in a["href"]]
        assert source and _anchor_exists((page.parent / path).resolve(), source[0]), f"{frag}: no [source] link"


@pytest.mark.parametrize("page", PAGES[:: max(1, len(PAGES) // 12)], ids=lambda p: p.relative_to(HTML).as_posix())
def test_no_script_is_included_twice(page: Path):
    """A repeated inline script re-declares its `const`s: the browser logs an error on every page."""
    soup = BeautifulSoup(page.read_text(), "html.parser")
    scripts = [(s.get("src") or "", s.get_text()) for s in soup.find_all("script")]
    repeated = {s for s in scripts if scripts.count(s) > 1}
    assert not repeated, repeated
