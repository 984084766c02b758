/* eoslib book: what the reader sees (loaded on every page by eoslib.book.sphinx_reader).
 *
 * 1. Check lines fold: in each cell output, the "PASS <kind> ..." lines printed by eoslib.checks
 *    are hidden behind one summary line ("27 checks passed: 20 claim, 5 reconstructed, 2
 *    regression"), one click away. Other printed lines (tables, VERDICT) stay visible, and a
 *    FAIL line is never hidden. This only changes the rendered page: the executed notebook, and
 *    so what nbval compares, is untouched.
 * 2. Figures enlarge on click (Escape or a click closes), at the image's full resolution.
 * 3. Search results show math as text: Sphinx builds result summaries from the raw page text,
 *    where math is still TeX source.
 */
(function () {
  "use strict";

  // ---- 1. check lines --------------------------------------------------------------------------
  var CHECK = /^(PASS|FAIL)(?: (claim|reconstructed|regression|finding))?\b/;
  var KINDS = ["claim", "reconstructed", "regression", "finding"];

  function summaryText(counts, passed, failed) {
    var parts = KINDS.filter(function (k) { return counts[k]; })
      .map(function (k) { return counts[k] + " " + k; });
    var n = passed + failed;
    var head = failed ? (passed + " of " + n + " checks passed, " + failed + " FAILED")
      : (n === 1 ? "1 check passed" : n + " checks passed");
    return parts.length ? head + ": " + parts.join(", ") : head;
  }

  function foldChecks(pre) {
    var text = pre.textContent;
    var lines = text.split("\n");
    if (lines.length && lines[lines.length - 1] === "") lines.pop();
    var counts = {}, passed = 0, failed = 0, others = 0;
    lines.forEach(function (line) {
      var m = CHECK.exec(line);
      if (!m) { if (line.trim()) others += 1; return; }
      if (m[1] === "PASS") passed += 1; else failed += 1;
      if (m[2]) counts[m[2]] = (counts[m[2]] || 0) + 1;
    });
    if (passed < 1) return;
    // Rebuild the block as one span per line, so that check lines can be hidden in place
    // (the order of the other lines, e.g. a table printed between checks, is kept).
    var frag = document.createDocumentFragment();
    lines.forEach(function (line) {
      var span = document.createElement("span");
      span.className = "eoslib-line";
      var m = CHECK.exec(line);
      if (m && m[1] === "PASS") span.className += " eoslib-check-line";
      if (m && m[1] === "FAIL") span.className += " eoslib-fail-line";
      span.textContent = line + "\n";
      frag.appendChild(span);
    });
    pre.textContent = "";
    pre.appendChild(frag);
    var block = pre.closest(".output") || pre.parentNode;
    block.classList.add("eoslib-checks", "eoslib-folded");
    if (!others && !failed) block.classList.add("eoslib-only-checks");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "eoslib-checks-toggle";
    button.setAttribute("aria-expanded", "false");
    var label = document.createElement("span");
    label.className = "eoslib-checks-summary";
    label.textContent = summaryText(counts, passed, failed);
    var hint = document.createElement("span");
    hint.className = "eoslib-checks-hint";
    hint.textContent = "show lines";
    button.appendChild(label);
    button.appendChild(hint);
    button.addEventListener("click", function () {
      var folded = block.classList.toggle("eoslib-folded");
      button.setAttribute("aria-expanded", folded ? "false" : "true");
      hint.textContent = folded ? "show lines" : "hide lines";
    });
    block.insertBefore(button, block.firstChild);
  }

  // ---- 2. figures ---------------------------------------------------------------------------
  var overlay = null;

  function closeOverlay() {
    if (overlay) { overlay.remove(); overlay = null; document.body.classList.remove("eoslib-noscroll"); }
  }

  function openOverlay(img) {
    closeOverlay();
    overlay = document.createElement("div");
    overlay.className = "eoslib-lightbox";
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-modal", "true");
    overlay.setAttribute("aria-label", img.alt || "Figure");
    var big = document.createElement("img");
    big.src = img.currentSrc || img.src;
    big.alt = img.alt;
    overlay.appendChild(big);
    if (img.alt) {  // the caption sentence (the book sets it as the alt text)
      var cap = document.createElement("div");
      cap.className = "eoslib-lightbox-caption";
      cap.textContent = img.alt;
      overlay.appendChild(cap);
    }
    var close = document.createElement("button");
    close.type = "button";
    close.className = "eoslib-lightbox-close";
    close.setAttribute("aria-label", "Close");
    close.textContent = "\u00d7";
    overlay.appendChild(close);
    overlay.addEventListener("click", closeOverlay);
    document.body.appendChild(overlay);
    document.body.classList.add("eoslib-noscroll");
    close.focus();
  }

  function figureCaption(img) {
    // The caption save_figure writes is the next output of the same cell.
    var out = img.closest(".output, .cell_output > *");
    for (var el = out && out.nextElementSibling; el; el = el.nextElementSibling) {
      var cap = el.classList.contains("eoslib-figure-caption") ? el : el.querySelector(".eoslib-figure-caption");
      if (cap) return cap;
      if (el.querySelector("img")) return null;
    }
    return null;
  }

  function setupFigure(img) {
    // Sphinx links a scaled image to its file; keep the link for readers without scripts,
    // open the overlay instead of leaving the page.
    var link = img.closest("a");
    if (link && !link.classList.contains("image-reference")) return;
    if (link) {
      link.addEventListener("click", function (e) { e.preventDefault(); openOverlay(img); });
      link.title = "Click to enlarge";
    }
    img.classList.add("eoslib-zoomable");
    img.title = "Click to enlarge";
    if (!link) {  // the image itself is the control (a link is focusable already)
      img.setAttribute("tabindex", "0");
      img.setAttribute("role", "button");
      img.addEventListener("click", function () { openOverlay(img); });
      img.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openOverlay(img); }
      });
    }
    var cap = figureCaption(img);
    if (cap) {
      var out = img.closest(".output, .cell_output > *");
      if (out) out.classList.add("eoslib-has-caption");
    }
  }

  document.addEventListener("keydown", function (e) { if (e.key === "Escape") closeOverlay(); });

  // ---- 3. search: math as text ----------------------------------------------------------------
  var SYMBOLS = {
    alpha: "\u03b1", beta: "\u03b2", gamma: "\u03b3", delta: "\u03b4", epsilon: "\u03f5",
    varepsilon: "\u03b5", zeta: "\u03b6", eta: "\u03b7", theta: "\u03b8", kappa: "\u03ba",
    lambda: "\u03bb", mu: "\u03bc", nu: "\u03bd", xi: "\u03be", pi: "\u03c0", rho: "\u03c1",
    sigma: "\u03c3", tau: "\u03c4", phi: "\u03d5", varphi: "\u03c6", chi: "\u03c7", psi: "\u03c8",
    omega: "\u03c9", Gamma: "\u0393", Delta: "\u0394", Theta: "\u0398", Lambda: "\u039b",
    Sigma: "\u03a3", Phi: "\u03a6", Psi: "\u03a8", Omega: "\u03a9", ell: "\u2113",
    infty: "\u221e", partial: "\u2202", nabla: "\u2207", le: "\u2264", leq: "\u2264",
    ge: "\u2265", geq: "\u2265", ne: "\u2260", neq: "\u2260", approx: "\u2248", sim: "\u223c",
    to: "\u2192", rightarrow: "\u2192", in: "\u2208", times: "\u00d7", cdot: "\u00b7",
    pm: "\u00b1", sum: "\u2211", prod: "\u220f", sqrt: "\u221a", ldots: "\u2026",
    dots: "\u2026", cdots: "\u22ef", top: "\u1d40", langle: "\u27e8", rangle: "\u27e9",
    quad: " ", qquad: " ", mid: "|", Vert: "\u2016", vert: "|", ll: "\u226a", gg: "\u226b",
    circ: "\u2218", star: "\u22c6", equiv: "\u2261", propto: "\u221d", forall: "\u2200",
    exists: "\u2203"
  };
  var SUP = { "0": "\u2070", "1": "\u00b9", "2": "\u00b2", "3": "\u00b3", "4": "\u2074",
    "5": "\u2075", "6": "\u2076", "7": "\u2077", "8": "\u2078", "9": "\u2079", "-": "\u207b",
    "+": "\u207a", "n": "\u207f", "T": "\u1d40" };
  var SUB = { "0": "\u2080", "1": "\u2081", "2": "\u2082", "3": "\u2083", "4": "\u2084",
    "5": "\u2085", "6": "\u2086", "7": "\u2087", "8": "\u2088", "9": "\u2089", "i": "\u1d62",
    "j": "\u2c7c", "k": "\u2096", "n": "\u2099", "t": "\u209c" };

  function script(arg, table, mark) {
    var out = "";
    for (var i = 0; i < arg.length; i++) {
      if (!table[arg[i]]) return arg.length === 1 ? mark + arg : mark + "(" + arg + ")";
      out += table[arg[i]];
    }
    return out;
  }

  function texToText(tex) {
    var s = tex;
    // \frac{a}{b} -> a/b (innermost first), styles and accents -> their argument
    for (var k = 0; k < 5; k++) {
      s = s.replace(/\\[td]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}/g, function (_, a, b) {
        var pa = /[+\-\s]/.test(a.trim()) ? "(" + a + ")" : a, pb = /[+\-\s]/.test(b.trim()) ? "(" + b + ")" : b;
        return pa + "/" + pb;
      });
      s = s.replace(/\\(?:mathrm|mathbf|mathit|mathsf|mathcal|mathbb|boldsymbol|bm|text|textrm|operatorname|hat|tilde|bar|overline|vec|dot|widehat|widetilde)\s*\{([^{}]*)\}/g, "$1");
    }
    s = s.replace(/\\(?:left|right|big|Big|bigg|Bigg|bigl|bigr|Bigl|Bigr|displaystyle|textstyle|limits)\b/g, "");
    s = s.replace(/\\[,;:!]/g, " ").replace(/\\([{}_%$&#|])/g, "$1");
    s = s.replace(/\^\{([^{}]*)\}|\^(\\?[A-Za-z0-9])/g, function (_, a, b) { return script(a !== undefined ? a : b, SUP, "^"); });
    s = s.replace(/_\{([^{}]*)\}|_(\\?[A-Za-z0-9])/g, function (_, a, b) { return script(a !== undefined ? a : b, SUB, "_"); });
    s = s.replace(/\\([A-Za-z]+)/g, function (_, name) { return SYMBOLS.hasOwnProperty(name) ? SYMBOLS[name] : name; });
    return s.replace(/[{}]/g, "").replace(/\s{2,}/g, " ").trim();
  }

  function mathToText(root) {
    root.querySelectorAll(".math").forEach(function (el) {
      var tex = el.textContent.trim().replace(/^\\\(|\\\)$/g, "").replace(/^\\\[|\\\]$/g, "")
        .replace(/^\$\$?|\$\$?$/g, "");
      el.textContent = texToText(tex);
    });
    root.querySelectorAll("mjx-container, script").forEach(function (el) { el.remove(); });
  }

  function patchSearch() {
    if (typeof Search === "undefined" || !Search.htmlToText || Search._eoslibPatched) return;
    var original = Search.htmlToText;
    Search.htmlToText = function (htmlString, anchor) {
      var doc = new DOMParser().parseFromString(htmlString, "text/html");
      mathToText(doc);
      // Folded check lines are part of the page text; summaries should show prose first.
      return original(doc.documentElement.outerHTML, anchor);
    };
    Search._eoslibPatched = true;
    var results = document.getElementById("search-results");
    if (results && window.MutationObserver) {
      new MutationObserver(function () {
        results.querySelectorAll("ul.search li > a").forEach(function (a) {
          if (/\\[A-Za-z]|\\[()]/.test(a.textContent)) a.textContent = texToText(a.textContent);
        });
      }).observe(results, { childList: true, subtree: true });
    }
  }
  patchSearch();

  // ---- start -------------------------------------------------------------------------------
  function start() {
    patchSearch();
    document.querySelectorAll(".cell_output .output pre, .cell_output pre").forEach(function (pre) {
      if (!pre.closest(".eoslib-checks")) foldChecks(pre);
    });
    document.querySelectorAll(".cell_output img").forEach(setupFigure);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
