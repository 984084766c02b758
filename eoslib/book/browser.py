"""The built book as a reader sees it: every page loaded in headless Chromium at 1280 px.

For each page of ``_build/html`` this reports what a reader would meet:

* **raw TeX**: TeX delimiters or commands in the rendered text, the tab title or an image's
  alt text (code and program output are exempt);
* **MathJax errors** (red ``merror`` boxes such as "Unknown environment");
* **console errors** and uncaught exceptions, failed loads, and any request that leaves the
  build (the book must work offline);
* **clipping**: an element that reaches outside the reading column and is not inside a
  horizontally scrolling block, or content cut off by ``overflow: hidden``;
* **broken images** and **broken links** (a missing file or a missing ``#anchor``);
* the book's own reading aids missing: check lines not folded into their cell's summary
  line, an output figure without alt text or that does not enlarge on click.

It also searches the book for :data:`SEARCH_QUERY` and records the rank of the chapter page,
and writes screenshots of :data:`SCREENSHOT_PAGES` (the test uploads them as CI artifacts).

The browser is Playwright's Python client driving the system Chromium (Debian's ``chromium``
package, installed by ``make browser``): Playwright's own browser download needs a CDN that the
build machines cannot reach. This module does not import JAX.

Command line::

    python -m eoslib.book.browser [--html _build/html] [--screenshots _build/screenshots]
                                  [--json report.json] [--pages GLOB]
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import http.server
import json
import os
import re
import shutil
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence
from urllib.parse import unquote, urlparse

__all__ = [
    "VIEWPORT",
    "SCREENSHOT_PAGES",
    "SEARCH_QUERY",
    "SEARCH_TARGET",
    "PageReport",
    "BookReport",
    "BookBrowser",
    "find_chromium",
    "book_pages",
    "check_book",
    "main",
]

#: A laptop screen, as in the issue that asked for this check.
VIEWPORT = {"width": 1280, "height": 900}

#: Pages whose screenshots are kept (paths relative to the HTML root; missing ones are skipped).
SCREENSHOT_PAGES = (
    "book/intro.html",
    "book/ledger.html",
    "book/product_stability/index.html",
    "book/product_stability/theorem_5_2.html",
    "book/product_stability/lemma_6_1.html",
    "book/product_stability/figure_5.html",
    "book/two_step/theorem_1.html",
    "book/two_step/theorem_2.html",
    "book/two_step/proposition_6.html",
    "book/product_stability/figure_3.html",
    "book/two_step/figure_10_11.html",
    "book/gfs_sharpness/index.html",
    "book/self_stabilization/lemma_1.html",
)

#: The search the issue asked to work, and the page it must find among the first 4 results.
SEARCH_QUERY = "product-stability"
SEARCH_TARGET = "book/product_stability/index.html"
SEARCH_TOP = 4

# Text a reader should never see: TeX delimiters \( \) \[ \] $$, a TeX command of two or more
# letters (\eta, \frac), a spacing command (\, \;), or $...$ with TeX inside.
_RAW_TEX = r"\\[()\[\]]|\$\$|\\[A-Za-z]{2,}|\\[,;!]|\$[^$\n]{0,80}[\\^_{][^$\n]{0,80}\$"

# Runs in the page once MathJax has finished: collects every finding except console errors.
_INSPECT_JS = r"""
async ([rawTexSource]) => {
  const RAW_TEX = new RegExp(rawTexSource);
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    try { await MathJax.startup.promise; } catch (e) {}
    // Content the book's own script adds after load is typeset through MathJax.typesetPromise,
    // which chains onto this promise.
    if (MathJax.startup.document && MathJax.startup.promise) { try { await MathJax.startup.promise; } catch (e) {} }
  }
  await Promise.all([...document.images].map((img) => {
    img.loading = 'eager';
    return img.decode ? img.decode().catch(() => null) : null;
  }));
  const out = {rawTex: [], mathjaxErrors: [], clipped: [], scrolling: 0, wide: 0, scrollingSamples: [],
               unfolded: [], figures: [], shrunk: 0,
               brokenImages: [], links: [], title: document.title, mathjax: !!window.MathJax};
  const describe = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    const cls = [...el.classList].slice(0, 3).join('.');
    if (cls) s += '.' + cls;
    const text = (el.innerText || el.textContent || '').replace(/\s+/g, ' ').trim();
    return s + (text ? ' "' + text.slice(0, 80) + '"' : '');
  };
  // Exempt: code and program output (a reader expects backslashes there), MathJax's own output.
  const EXEMPT = 'script, style, noscript, template, pre, code, textarea, mjx-container, ' +
                 '.highlight, .MathJax, .math-exempt, [data-tex-exempt]';
  // 1. raw TeX in text
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seenParents = new Set();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement;
    if (!p || p.closest(EXEMPT) || seenParents.has(p)) continue;
    const m = n.nodeValue.match(RAW_TEX);
    if (m) {
      seenParents.add(p);
      const t = n.nodeValue.replace(/\s+/g, ' ');
      const i = Math.max(0, t.indexOf(m[0]) - 40);
      out.rawTex.push(describe(p).split(' "')[0] + ': ' + t.slice(i, i + 120).trim());
    }
  }
  if (RAW_TEX.test(document.title)) out.rawTex.push('<title>: ' + document.title);
  for (const img of document.images) {
    const alt = img.getAttribute('alt') || '';
    if (RAW_TEX.test(alt)) out.rawTex.push('img alt: ' + alt.slice(0, 120));
  }
  // 2. MathJax errors
  for (const el of document.querySelectorAll('mjx-merror, [data-mjx-error], .MathJax_Error')) {
    out.mathjaxErrors.push((el.getAttribute('data-mjx-error') || el.textContent || '').slice(0, 160));
  }
  // 3. clipping in the reading column
  const col = document.querySelector('article.bd-article') || document.querySelector('[role="main"]')
              || document.querySelector('main');
  const SKIP = 'mjx-assistive-mml, .sr-only, .visually-hidden, script, style, template';
  const isInline = (cs) => /^(inline|contents)$/.test(cs.display);
  const scrollsX = (cs) => !isInline(cs) && (cs.overflowX === 'auto' || cs.overflowX === 'scroll');
  const clipsX = (cs) => !isInline(cs) && (cs.overflowX === 'hidden' || cs.overflowX === 'clip');
  // How far the visible content of `el` reaches left and right. Content inside a nested
  // scrolling block counts only as that block's own box; hidden and fixed elements not at all.
  const extent = (el) => {
    let left = Infinity, right = -Infinity;
    const visit = (node) => {
      for (const c of node.children) {
        if (c.matches(SKIP)) continue;
        const cs = getComputedStyle(c);
        if (cs.display === 'none' || cs.visibility === 'hidden' || cs.position === 'fixed') continue;
        const r = c.getBoundingClientRect();
        if (r.width >= 1 && r.height >= 1) { left = Math.min(left, r.left); right = Math.max(right, r.right); }
        if (!scrollsX(cs) && !clipsX(cs)) visit(c);
      }
    };
    visit(el);
    return [left, right];
  };
  if (col) {
    const cr = col.getBoundingClientRect();
    const bad = [];
    const inside = (r) => r.left >= cr.left - 1 && r.right <= cr.right + 1;
    for (const el of col.querySelectorAll('*')) {
      if (el.closest(SKIP)) continue;
      if (bad.some((b) => b.contains(el))) continue;
      const cs = getComputedStyle(el);
      if (cs.display === 'none' || cs.visibility === 'hidden' || cs.position === 'fixed') continue;
      const r = el.getBoundingClientRect();
      if (r.width < 2 || r.height < 2) continue;
      if (scrollsX(cs)) {
        if (el.scrollWidth > el.clientWidth + 1) {
          out.scrolling += 1;
          if (out.scrollingSamples.length < 5) out.scrollingSamples.push(describe(el).slice(0, 120));
          if (el.scrollWidth > cr.width + 1) out.wide += 1;
        }
      } else if (clipsX(cs) && el.scrollWidth > el.clientWidth + 1) {
        const [left, right] = extent(el);
        const cut = Math.max(right - r.right, r.left - left);
        if (cut > 2) {
          bad.push(el);
          out.clipped.push('content cut off by ' + Math.round(cut) + ' px inside ' + describe(el));
          continue;
        }
      }
      if (inside(r)) continue;
      // Outside the column: fine only inside a scrolling block that itself fits the column.
      let a = el.parentElement, scrolls = false;
      while (a && a !== col) {
        const acs = getComputedStyle(a);
        if (scrollsX(acs)) { scrolls = inside(a.getBoundingClientRect()); break; }
        if (clipsX(acs)) {  // cut here, unless the element fits this box (then look further up)
          const ar = a.getBoundingClientRect();
          if (r.left < ar.left - 1 || r.right > ar.right + 1) break;
        }
        a = a.parentElement;
      }
      if (!scrolls) {
        bad.push(el);
        out.clipped.push(describe(el) + ' (' + Math.round(r.width) + ' px wide, column ' +
                         Math.round(cr.width) + ' px, right edge ' + Math.round(r.right - cr.right) + ' px out)');
      }
    }
  }
  // 4. book features: check lines folded, figures described and enlargeable
  for (const pre of document.querySelectorAll('.cell_output pre')) {
    const block = pre.closest('.eoslib-checks');
    const folded = block && block.classList.contains('eoslib-folded');
    if (!folded && /^PASS /m.test(pre.textContent)) {
      out.unfolded.push('check lines not folded: ' + pre.textContent.split('\n')[0].slice(0, 100));
    }
  }
  for (const img of document.querySelectorAll('.cell_output img')) {
    // nominal size: the style width (retina PNGs) or the file's own width
    const nominal = parseFloat(img.style.width) || img.naturalWidth;
    if (nominal && img.width / nominal < 0.6) out.shrunk += 1;
    const alt = img.getAttribute('alt') || '';
    if (!alt.trim() || /\.(png|svg|jpe?g)$/i.test(alt)) out.figures.push('no alt text: ' + img.getAttribute('src'));
    else if (!img.classList.contains('eoslib-zoomable')) out.figures.push('does not enlarge: ' + alt.slice(0, 80));
  }
  // 5. images and links
  for (const img of document.images) {
    if (img.complete && img.naturalWidth === 0 && img.getAttribute('src')) {
      out.brokenImages.push(img.getAttribute('src'));
    }
  }
  for (const a of document.querySelectorAll('a[href]')) {
    out.links.push(a.href);
  }
  return out;
}
"""


@dataclass
class PageReport:
    """What one page shows a reader that it should not (every list empty: the page is fine)."""

    page: str
    raw_tex: list[str] = field(default_factory=list)
    mathjax_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    clipped: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    broken_links: list[str] = field(default_factory=list)
    external_loads: list[str] = field(default_factory=list)
    #: Check lines (``PASS ...``) shown instead of folded into their cell's summary line.
    unfolded_checks: list[str] = field(default_factory=list)
    #: Output figures without alt text, or that do not enlarge on click.
    figures: list[str] = field(default_factory=list)
    #: Blocks that scroll horizontally (allowed; reported for information).
    scrolling_blocks: int = 0
    #: Of those, blocks whose content is wider than the whole column.
    wider_than_column: int = 0
    #: Output figures shown at less than 60% of their nominal size (their text shrinks with
    #: them; they enlarge on click). Reported, not a failure: figure widths are the notebooks'.
    shrunk_figures: int = 0
    #: A few of the scrolling blocks, described.
    scrolling_samples: list[str] = field(default_factory=list)
    title: str = ""

    PROBLEMS = ("raw_tex", "mathjax_errors", "console_errors", "clipped", "broken_images",
                "broken_links", "external_loads", "unfolded_checks", "figures")

    def problems(self) -> list[str]:
        """One line per finding, prefixed by its kind."""
        return [f"{kind}: {item}" for kind in self.PROBLEMS for item in getattr(self, kind)]


@dataclass
class BookReport:
    """Every page's report, the search result and the screenshots written."""

    pages: list[PageReport]
    search_rank: int | None = None
    search_results: list[str] = field(default_factory=list)
    search_raw_tex: list[str] = field(default_factory=list)
    screenshots: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Totals over the book: pages checked and the number of findings of each kind."""
        c = {"pages": len(self.pages)}
        for kind in PageReport.PROBLEMS:
            c[kind] = sum(len(getattr(p, kind)) for p in self.pages)
        c["pages_with_problems"] = sum(1 for p in self.pages if p.problems())
        c["scrolling_blocks"] = sum(p.scrolling_blocks for p in self.pages)
        c["wider_than_column"] = sum(p.wider_than_column for p in self.pages)
        c["shrunk_figures"] = sum(p.shrunk_figures for p in self.pages)
        c["search_raw_tex"] = len(self.search_raw_tex)
        return c

    def summary(self) -> str:
        """A few lines for a terminal."""
        c = self.counts()
        lines = [f"pages checked: {c['pages']} at {VIEWPORT['width']} px; "
                 f"{c['pages_with_problems']} with problems"]
        lines.append("  " + ", ".join(f"{k.replace('_', ' ')} {c[k]}" for k in PageReport.PROBLEMS))
        lines.append(f"  horizontally scrolling blocks {c['scrolling_blocks']} "
                     f"(content wider than the column: {c['wider_than_column']}); "
                     f"figures shown below 60% of their size {c['shrunk_figures']}")
        rank = "not found" if self.search_rank is None else f"#{self.search_rank}"
        lines.append(f"  search {SEARCH_QUERY!r}: {SEARCH_TARGET} {rank}; raw TeX in results "
                     f"{c['search_raw_tex']}")
        return "\n".join(lines)


def find_chromium() -> str | None:
    """The Chromium executable: ``$EOSLIB_CHROMIUM``, else the first of chromium,
    chromium-browser, google-chrome on the PATH, else None."""
    env = os.environ.get("EOSLIB_CHROMIUM")
    if env:
        return env
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def book_pages(html: Path) -> list[str]:
    """Every HTML page of a build, relative to its root (theme templates under ``_static`` excluded)."""
    return sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html")
                  if "_static" not in p.relative_to(html).parts)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


class _Server:
    """A static file server for the build on 127.0.0.1 (a random free port), in a thread."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "_Server":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Links:
    """Resolves links inside the build, caching each target file's ids."""

    def __init__(self, html: Path, base: str) -> None:
        self.html, self.base = html, base
        self._ids: dict[Path, set[str]] = {}

    def _ids_of(self, path: Path) -> set[str]:
        if path not in self._ids:
            text = path.read_text(errors="replace")
            self._ids[path] = set(re.findall(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""", text))
        return self._ids[path]

    def broken(self, url: str) -> str | None:
        """Why ``url`` is broken, or None (links that leave the build are not followed)."""
        if not url.startswith(self.base):
            return None
        parsed = urlparse(url)
        rel = unquote(parsed.path)[len(urlparse(self.base).path):]
        target = self.html / rel
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            return f"{rel} (no such file)"
        frag = unquote(parsed.fragment)
        if frag and target.suffix == ".html" and frag not in self._ids_of(target):
            return f"{rel}#{frag} (no such anchor)"
        return None


def _launch(playwright, executable: str):  # noqa: ANN001, ANN202 - playwright types are optional
    return playwright.chromium.launch(
        executable_path=executable, headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--font-render-hinting=none"])


def _check_page(context, server: _Server, links: _Links, rel: str, shots: Path | None) -> PageReport:  # noqa: ANN001
    report = PageReport(page=rel)
    page = context.new_page()
    local = server.base

    def on_console(msg) -> None:  # noqa: ANN001
        if msg.type == "error" and not ("Failed to load resource" in msg.text
                                        and (msg.location or {}).get("url", "").endswith("/favicon.ico")):
            report.console_errors.append(msg.text[:300])

    def on_request(route, request) -> None:  # noqa: ANN001
        url = request.url
        if url.startswith(local) or url.startswith("data:") or url.startswith("blob:"):
            route.continue_()
        else:
            report.external_loads.append(url[:200])
            route.abort()

    def on_response(response) -> None:  # noqa: ANN001
        # Chromium asks every site for /favicon.ico by itself; the book declares none.
        if response.status >= 400 and response.url.startswith(local) and not response.url.endswith("/favicon.ico"):
            report.console_errors.append(f"HTTP {response.status} {response.url[len(local):]}")

    source = (links.html / rel).read_text(errors="replace") if (links.html / rel).is_file() else ""
    refresh = re.search(r'<meta[^>]+http-equiv=["\']refresh["\'][^>]+url=([^"\'>]+)', source, re.I)
    if refresh:  # a redirect (the root index.html): its target is checked as a page of its own
        target = server.base + str(Path(rel).parent / refresh.group(1).strip()).lstrip("./")
        if (why := links.broken(target)) is not None:
            report.broken_links.append(f"redirect to {why}")
        page.close()
        return report
    page.on("console", on_console)
    page.on("pageerror", lambda exc: report.console_errors.append(f"uncaught: {exc}"[:300]))
    page.on("response", on_response)
    page.route("**/*", on_request)
    try:
        page.goto(local + rel, wait_until="load", timeout=60_000)
        found = page.evaluate(_INSPECT_JS, [_RAW_TEX])
    except Exception as exc:  # a page that cannot load is itself the finding
        report.console_errors.append(f"page did not load: {exc}"[:300])
        page.close()
        return report
    report.title = found["title"]
    report.raw_tex = found["rawTex"]
    report.mathjax_errors = found["mathjaxErrors"]
    report.clipped = found["clipped"]
    report.scrolling_blocks = found["scrolling"]
    report.wider_than_column = found["wide"]
    report.scrolling_samples = found["scrollingSamples"]
    report.unfolded_checks = found["unfolded"]
    report.shrunk_figures = found["shrunk"]
    report.figures = found["figures"]
    report.broken_images = found["brokenImages"]
    report.broken_links = sorted({b for u in found["links"] if (b := links.broken(u))})
    # Failed loads of resources are reported by Chromium as console errors too; the request
    # we aborted on purpose is reported once, as an external load.
    report.console_errors = [e for e in report.console_errors
                             if not (report.external_loads and "net::ERR_FAILED" in e)]
    if shots is not None and rel in SCREENSHOT_PAGES:
        out = shots / (rel.replace("/", "__").removesuffix(".html") + ".png")
        page.screenshot(path=str(out), full_page=True)
    page.close()
    return report


def _check_search(context, server: _Server, report: BookReport, shots: Path | None) -> None:  # noqa: ANN001
    page = context.new_page()
    page.route("**/*", lambda route, request: route.continue_() if request.url.startswith(server.base)
               else route.abort())
    page.goto(f"{server.base}search.html?q={SEARCH_QUERY}", wait_until="load", timeout=60_000)
    try:
        page.wait_for_function(
            "() => { const s = document.querySelector('#search-results .search-summary, "
            "#search-results p'); return s && /finished|did not match|Search finished/i.test(s.textContent); }",
            timeout=60_000)
        page.wait_for_timeout(1500)  # the summaries of the first results are fetched after
    except Exception:
        pass
    hrefs = page.eval_on_selector_all("#search-results ul.search li > a",
                                      "els => els.map(a => a.getAttribute('href'))")
    report.search_results = [h.split("#")[0] for h in hrefs]
    report.search_rank = next((i + 1 for i, h in enumerate(report.search_results[:SEARCH_TOP * 5])
                               if h.endswith(SEARCH_TARGET)), None)
    texts = page.eval_on_selector_all(
        "#search-results ul.search li", "els => els.slice(0, 20).map(li => li.innerText)")
    pattern = re.compile(_RAW_TEX)
    report.search_raw_tex = [t.replace("\n", " ")[:160] for t in texts if pattern.search(t)]
    if shots is not None:
        page.screenshot(path=str(shots / "search.png"), full_page=False)
    page.close()


class BookBrowser:
    """A served build and one headless Chromium, to check pages one by one (a context manager).

    Args:
      html: the build's root, e.g. ``_build/html``.
      executable: the Chromium to drive; default :func:`find_chromium`.

    Raises:
      FileNotFoundError: ``html`` has no ``index.html``, or no Chromium is installed.
    """

    def __init__(self, html: Path, executable: str | None = None) -> None:
        self.html = Path(html).resolve()
        if not (self.html / "index.html").is_file():
            raise FileNotFoundError(f"html: {self.html} holds no built book (no index.html)")
        self.executable = executable or find_chromium()
        if self.executable is None:
            raise FileNotFoundError("no Chromium found: run `make browser` (Debian's chromium package)")

    def __enter__(self) -> "BookBrowser":
        from playwright.sync_api import sync_playwright

        self._server = _Server(self.html).__enter__()
        self._manager = sync_playwright()
        self._pw = self._manager.__enter__()
        self._browser = _launch(self._pw, self.executable)
        self._context = self._browser.new_context(viewport=VIEWPORT, device_scale_factor=1,
                                                  reduced_motion="reduce")
        self._links = _Links(self.html, self._server.base)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._browser.close()
        finally:
            self._manager.__exit__(*exc)
            self._server.__exit__(*exc)

    def check(self, rel: str, screenshots: Path | None = None) -> PageReport:
        """Load one page (relative to the build root) and report; screenshot it if it is one of
        :data:`SCREENSHOT_PAGES` and ``screenshots`` is given."""
        return _check_page(self._context, self._server, self._links, rel, screenshots)

    def search(self, report: BookReport, screenshots: Path | None = None) -> BookReport:
        """Search for :data:`SEARCH_QUERY`; fills ``report.search_*`` and returns it."""
        _check_search(self._context, self._server, report, screenshots)
        return report


def check_book(html: Path, *, pages: Sequence[str] | None = None, screenshots: Path | None = None,
               executable: str | None = None, progress: bool = False,
               on_page: Callable[[PageReport], None] | None = None) -> BookReport:
    """Load pages of a built book in Chromium and collect what a reader would see wrong.

    Args:
      html: the build's root, e.g. ``_build/html``.
      pages: pages relative to ``html``; default: every page (:func:`book_pages`), and then
        the search is checked too.
      screenshots: where to write the screenshots of :data:`SCREENSHOT_PAGES` and of the
        search page; None: none.
      executable: the Chromium to drive; default :func:`find_chromium`.
      progress: print one character per page (``.`` fine, ``x`` with problems).
      on_page: called with each page's report as soon as it is checked.

    Returns:
      The :class:`BookReport`.

    Raises:
      FileNotFoundError: ``html`` has no ``index.html``, or no Chromium is installed.
    """
    html = Path(html).resolve()
    every = book_pages(html) if (html / "index.html").is_file() else []
    pages = list(pages) if pages is not None else every
    if screenshots is not None:
        screenshots = Path(screenshots)
        screenshots.mkdir(parents=True, exist_ok=True)
    book = BookReport(pages=[])
    with BookBrowser(html, executable) as browser:
        for rel in pages:
            book.pages.append(browser.check(rel, screenshots))
            if on_page is not None:
                on_page(book.pages[-1])
            if progress:
                print("." if not book.pages[-1].problems() else "x", end="", flush=True)
        if progress:
            print(flush=True)
        if pages == every:
            browser.search(book, screenshots)
    if screenshots is not None:
        book.screenshots = sorted(p.name for p in screenshots.glob("*.png"))
    return book


def _iter_problem_lines(report: BookReport, limit: int) -> Iterator[str]:
    shown = 0
    for p in report.pages:
        for line in p.problems():
            if shown >= limit:
                return
            shown += 1
            yield f"{p.page}: {line}"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: check a build, print a summary; exit 1 if any page has a problem."""
    parser = argparse.ArgumentParser(prog="python -m eoslib.book.browser", description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", default="_build/html", help="the built book (default: _build/html)")
    parser.add_argument("--screenshots", default=None, help="write screenshots here")
    parser.add_argument("--json", default=None, help="write the full report as JSON here")
    parser.add_argument("--pages", default=None, help="only pages matching this glob")
    parser.add_argument("--show", type=int, default=60, help="problem lines to print (default 60)")
    args = parser.parse_args(argv)
    html = Path(args.html)
    pages = None
    if args.pages:
        pages = [p for p in book_pages(html) if fnmatch.fnmatch(p, args.pages)]
    stream = None
    if args.json:  # one line per page as it is checked, so that an interrupted run still tells
        stream = open(Path(args.json).with_suffix(".pages.jsonl"), "w")  # noqa: SIM115
    try:
        report = check_book(html, pages=pages, screenshots=Path(args.screenshots) if args.screenshots else None,
                            progress=True, on_page=(lambda p: (stream.write(json.dumps(asdict(p)) + "\n"),
                                                               stream.flush())) if stream else None)
    finally:
        if stream is not None:
            stream.close()
    for line in _iter_problem_lines(report, args.show):
        print(line)
    print(report.summary())
    if args.json:
        data = {"counts": report.counts(), "search_rank": report.search_rank,
                "search_results": report.search_results[:10], "search_raw_tex": report.search_raw_tex,
                "pages": [asdict(p) for p in report.pages]}
        Path(args.json).write_text(json.dumps(data, indent=1))
    bad_search = report.search_rank is None or report.search_rank > SEARCH_TOP or report.search_raw_tex
    return 1 if any(p.problems() for p in report.pages) or bad_search else 0


if __name__ == "__main__":
    sys.exit(main())
