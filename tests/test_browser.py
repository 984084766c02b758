"""The built book in a real browser: every page of ``_build/html`` in headless Chromium at 1280 px.

A page fails on raw TeX in its rendered text, tab title or alt text; a MathJax error; a console
error or uncaught exception; an element reaching outside the reading column (outside a block
that scrolls); content cut off; a broken image or link; a request that leaves the build; check
lines not folded into their cell's summary line; an output figure without alt text or that
does not enlarge on click.
The search for "product-stability" must rank the chapter page in the top 4. Screenshots of a
fixed set of pages go to ``_build/screenshots/`` (CI artifacts).

``make test`` builds the book first and installs Chromium (``make browser``: Debian's
``chromium``; Playwright's own browser download needs a CDN the build machines cannot reach).
Outside CI the module is skipped when there is no build or no Chromium. Another build can be
checked with ``EOSLIB_HTML=/path/to/html``; the same check runs from the command line as
``python -m eoslib.book.browser``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from eoslib.book import browser as bb

ROOT = Path(__file__).resolve().parent.parent
HTML = Path(os.environ.get("EOSLIB_HTML") or ROOT / "_build" / "html")
SCREENSHOTS = Path(os.environ.get("EOSLIB_SCREENSHOTS") or ROOT / "_build" / "screenshots")


def _unavailable() -> str | None:
    if not (HTML / "index.html").is_file():
        return f"book not built ({HTML} has no index.html; run `make book`)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if bb.find_chromium() is None:
        return "no Chromium (run `make browser`)"
    return None


_why = _unavailable()
if _why:
    if os.environ.get("CI"):
        raise RuntimeError(f"tests/test_browser.py cannot run in CI: {_why}")
    pytest.skip(_why, allow_module_level=True)

PAGES = bb.book_pages(HTML)


@pytest.fixture(scope="module")
def browser():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    with bb.BookBrowser(HTML) as b:
        yield b


@pytest.mark.parametrize("page", PAGES)
def test_page_as_a_reader_sees_it(browser, page: str):
    report = browser.check(page, SCREENSHOTS)
    problems = report.problems()
    assert not problems, f"{page}: {len(problems)} problem(s):\n  " + "\n  ".join(problems[:40])


def test_search_ranks_the_chapter_page_first(browser):
    report = browser.search(bb.BookReport(pages=[]), SCREENSHOTS)
    assert report.search_rank is not None and report.search_rank <= bb.SEARCH_TOP, (
        f"searching {bb.SEARCH_QUERY!r}: {bb.SEARCH_TARGET} is "
        f"{'missing' if report.search_rank is None else f'#{report.search_rank}'}; "
        f"first results: {report.search_results[:6]}")
    assert not report.search_raw_tex, report.search_raw_tex


def test_screenshots_of_the_fixed_pages(browser):
    """Runs last in this module: the page tests wrote the screenshots of the fixed pages."""
    wanted = [p for p in bb.SCREENSHOT_PAGES if (HTML / p).is_file()]
    missing = [p for p in wanted
               if not (SCREENSHOTS / (p.replace("/", "__").removesuffix(".html") + ".png")).is_file()]
    for page in missing:  # e.g. when only some pages were selected with -k
        browser.check(page, SCREENSHOTS)
    shots = sorted(SCREENSHOTS.glob("*.png"))
    assert len(shots) >= len(wanted), [s.name for s in shots]
    assert all(s.stat().st_size > 10_000 for s in shots), [(s.name, s.stat().st_size) for s in shots]


def test_every_page_is_checked():
    """The book's own pages are all in the list (a page the toc drops would fail test_html.py)."""
    assert "index.html" in PAGES and "search.html" in PAGES
    assert any(p.startswith("book/") for p in PAGES)
