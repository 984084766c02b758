"""The book as a reader sees it: a Sphinx extension (listed in ``_config.yml``).

* **MathJax on every page**, with the ``mathtools`` package (``psmallmatrix``, ``coloneqq``) and
  with HTML cell outputs typeset too (myst-nb tells MathJax to skip everything but math nodes;
  a table a notebook displays as HTML is an output, not a math node).
* **Plain-text titles.** A page heading may hold math (``Lemma 3.1: $f'''=0$``). Sphinx uses
  the heading's text for the tab title, the search index, the previous/next buttons and
  ``{doc}`` links, none of which MathJax typesets; there the math becomes Unicode
  (``Lemma 3.1: f'''=0``, ``2/η-3η l''⁴/α``) by :func:`tex_to_text`. The heading itself and the
  sidebar keep typeset math.
* **Figures** in cell outputs get alt text: the caption that :func:`eoslib.plotting.save_figure`
  writes under them, else "Figure n: <page title>".
* **Downloads**: the notebook's jupytext source (``.md``) beside the executed ``.ipynb``.
* **Launch buttons** (Binder, Colab, JupyterHub) are the theme's; they need the public
  repository (``repository: url:`` in ``_config.yml``) and stay off while it is Jupyter Book's
  placeholder, so that no button points at someone else's repository.
* **Search**: each chapter page is an index entry under its paper's key in words
  (``product-stability``), so searching a paper's name finds its chapter first.
* ``book/_static/eoslib.css`` and ``eoslib.js``: code and outputs wrap, wide equations and tables
  scroll inside their block, check lines fold into one summary line per cell, figures enlarge
  on click, search summaries show math as text.

Nothing here imports JAX.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

__all__ = ["tex_to_text", "MATHJAX_CLASSES", "setup"]

#: Elements MathJax typesets: myst's math nodes, and HTML outputs of notebook cells.
MATHJAX_CLASSES = "tex2jax_process|mathjax_process|math|output_area|text_html"

_STATIC = Path(__file__).resolve().parents[2] / "book" / "_static"
_JB_PLACEHOLDER_REPO = "https://github.com/executablebooks/jupyter-book"

_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ϵ", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ",
    "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ",
    "tau": "τ", "upsilon": "υ", "phi": "ϕ", "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ",
    "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω", "ell": "ℓ", "infty": "∞", "partial": "∂", "nabla": "∇",
    "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "ne": "≠", "neq": "≠", "approx": "≈",
    "sim": "∼", "simeq": "≃", "equiv": "≡", "propto": "∝", "to": "→", "rightarrow": "→",
    "mapsto": "↦", "Rightarrow": "⇒", "implies": "⇒", "iff": "⇔", "in": "∈", "notin": "∉",
    "subset": "⊂", "subseteq": "⊆", "cup": "∪", "cap": "∩", "times": "×", "cdot": "·",
    "pm": "±", "mp": "∓", "circ": "∘", "star": "⋆", "ast": "∗", "sum": "∑", "prod": "∏",
    "int": "∫", "sqrt": "√", "ldots": "…", "dots": "…", "cdots": "⋯", "top": "ᵀ",
    "prime": "′", "langle": "⟨", "rangle": "⟩", "lvert": "|", "rvert": "|", "vert": "|",
    "lVert": "‖", "rVert": "‖", "Vert": "‖", "mid": "|", "forall": "∀", "exists": "∃",
    "emptyset": "∅", "setminus": "∖", "perp": "⊥", "parallel": "∥", "lfloor": "⌊",
    "rfloor": "⌋", "lceil": "⌈", "rceil": "⌉", "ll": "≪", "gg": "≫", "quad": " ", "qquad": "  ",
    "colon": ":", "coloneqq": "≔", "lesssim": "≲", "gtrsim": "≳", "downarrow": "↓",
    "uparrow": "↑", "searrow": "↘", "nearrow": "↗", "dagger": "†", "natural": "♮",
}
_WORDS = {"log", "ln", "exp", "sin", "cos", "tan", "tanh", "sinh", "cosh", "max", "min", "sup",
          "inf", "lim", "det", "tr", "arg", "sign", "sgn", "deg", "dim", "ker", "Pr", "mod"}
_STYLE = {"mathrm", "mathbf", "mathit", "mathsf", "mathtt", "mathcal", "mathbb", "mathfrak",
          "boldsymbol", "bm", "text", "textrm", "textbf", "textit", "operatorname", "mbox",
          "hat", "tilde", "bar", "overline", "widehat", "widetilde", "vec", "dot", "ddot",
          "underline", "displaystyle", "textstyle", "scriptstyle"}
_DROP = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr",
         "biggl", "biggr", "limits", "nolimits", "!", ",", ";", ":", " "}
_SUP = str.maketrans("0123456789+-=()nijkTtᵀ*′,", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱʲᵏᵀᵗᵀ*′,")
_SUB = str.maketrans("0123456789+-=()aeijklmnoprstuvx,", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ,")
_ACCENT = {"hat": "\u0302", "tilde": "\u0303", "bar": "\u0304", "overline": "\u0305", "vec": "\u20d7",
           "dot": "\u0307", "ddot": "\u0308", "widehat": "\u0302", "widetilde": "\u0303"}


def _group(tex: str, i: int) -> tuple[str, int]:
    """The argument starting at ``tex[i]`` (a braced group, a command or one character) and the index after it."""
    while i < len(tex) and tex[i] == " ":
        i += 1
    if i >= len(tex):
        return "", i
    if tex[i] == "{":
        depth, j = 0, i
        while j < len(tex):
            if tex[j] == "{" and (j == 0 or tex[j - 1] != "\\"):
                depth += 1
            elif tex[j] == "}" and tex[j - 1] != "\\":
                depth -= 1
                if depth == 0:
                    return tex[i + 1:j], j + 1
            j += 1
        return tex[i + 1:], len(tex)
    if tex[i] == "\\":
        m = re.match(r"\\([A-Za-z]+|.)", tex[i:])
        assert m is not None
        return m.group(0), i + m.end()
    return tex[i], i + 1


def _script(text: str, table: dict[int, int], mark: str) -> str:
    if text and all(ord(c) in table for c in text):
        return text.translate(table)
    return f"{mark}{text}" if len(text) == 1 else f"{mark}({text})"


def _needs_parens(text: str) -> bool:
    return bool(re.search(r"[+\-−·× /]", text.strip()))


def tex_to_text(tex: str) -> str:
    """Plain Unicode for a piece of TeX math, for places MathJax does not reach.

    ``2/\\eta-3\\eta\\,l''^4/\\alpha`` -> ``2/η-3η l''⁴/α``; ``\\frac{a+b}{2}`` -> ``(a+b)/2``;
    unknown commands lose their backslash. Not a TeX parser: titles and short formulas only.
    """
    out: list[str] = []
    i = 0
    while i < len(tex):
        c = tex[i]
        if c == "\\":
            m = re.match(r"\\([A-Za-z]+|.)", tex[i:])
            name = m.group(1) if m else ""
            i += m.end() if m else 1
            if name in _DROP:
                if name in (",", ";", ":", " "):
                    out.append(" ")
                continue
            if name in ("{", "}", "|", "_", "%", "$", "&", "#"):
                out.append("‖" if name == "|" else name)
            elif name in ("frac", "tfrac", "dfrac", "cfrac"):
                num, i = _group(tex, i)
                den, i = _group(tex, i)
                num, den = tex_to_text(num), tex_to_text(den)
                out.append(f"{f'({num})' if _needs_parens(num) else num}/{f'({den})' if _needs_parens(den) else den}")
            elif name == "sqrt":
                arg, i = _group(tex, i)
                arg = tex_to_text(arg)
                out.append(f"√({arg})" if len(arg) > 1 else f"√{arg}")
            elif name in _ACCENT:
                arg, i = _group(tex, i)
                arg = tex_to_text(arg)
                out.append(arg + _ACCENT[name] if len(arg) == 1 else arg)
            elif name in _STYLE:
                if name not in ("displaystyle", "textstyle", "scriptstyle"):
                    arg, i = _group(tex, i)
                    out.append(tex_to_text(arg))
            elif name in _SYMBOLS:
                out.append(_SYMBOLS[name])
            elif name in _WORDS:
                out.append(name + (" " if i < len(tex) and tex[i].isalnum() else ""))
            elif name in ("begin", "end"):
                _, i = _group(tex, i)
            else:
                out.append(name)
        elif c in "^_":
            arg, i = _group(tex, i + 1)
            arg = tex_to_text(arg)
            out.append(_script(arg, _SUP if c == "^" else _SUB, c))
        elif c in "{}":
            i += 1
        elif c == "~":
            out.append(" ")
            i += 1
        else:
            out.append(c)
            i += 1
    return re.sub(r" {2,}", " ", "".join(out)).strip()


# --- plain-text titles ----------------------------------------------------------------------

def _plain_title(node: Any) -> None:
    from docutils import nodes

    for math in list(node.findall(nodes.math)):
        math.replace_self(nodes.Text(tex_to_text(math.astext())))


def _plain_titles(app: Any, doctree: Any) -> None:
    env = app.env
    for table in (env.titles, env.longtitles):
        title = table.get(env.docname)
        if title is not None:
            _plain_title(title)


# --- figures: alt text --------------------------------------------------------------------------

_CAPTION_P = re.compile(r'<div class="eoslib-figure-caption"><p>(.*?)</p>', re.S)


def _caption_text(html: str) -> str:
    """The plain text of the caption paragraph that :func:`eoslib.plotting.save_figure` writes."""
    import html as html_lib

    m = _CAPTION_P.search(html)
    if m is None:
        return ""
    text = re.sub(r"\\\((.*?)\\\)", lambda g: tex_to_text(html_lib.unescape(g.group(1))), m.group(1))
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", "", text)).split())


def _figure_alt_text(app: Any, doctree: Any) -> None:
    """Alt text of each output image: its caption, else "Figure n: <page title>" (not a file path)."""
    from docutils import nodes

    title = app.env.titles.get(app.env.docname)
    page = title.astext() if title is not None else app.env.docname
    count = 0
    last: Any = None
    for node in doctree.findall(lambda n: isinstance(n, (nodes.image, nodes.raw))):
        if isinstance(node, nodes.image):
            if not any("cell_output" in a.get("classes", []) for a in _ancestors(node)):
                continue
            count += 1
            node["alt"] = f"Figure {count}: {page}"
            last = node
        elif last is not None and "eoslib-figure-caption" in node.astext():
            text = _caption_text(node.astext())
            if text:
                last["alt"] = text
            last = None


def _ancestors(node: Any) -> list[Any]:
    out = []
    while node.parent is not None:
        node = node.parent
        out.append(node)
    return out


# --- references to unnumbered results: "Definition 1.1: GFS sharpness", not "Definition " ----------

def _collect_proof_titles(app: Any, doctree: Any) -> None:
    from docutils import nodes

    titles = _proof_titles(app.env)
    for label in [k for k, v in titles.items() if v[0] == app.env.docname]:
        del titles[label]
    for node in doctree.findall(nodes.Element):
        label, realtype = node.get("label"), node.get("realtype")
        if not label or not realtype or not len(node.children) or not isinstance(node[0], nodes.title):
            continue
        title = node[0].deepcopy()
        _plain_title(title)
        text = " ".join(title.astext().split())
        if text.startswith("(") and text.endswith(")"):  # sphinx-proof's "(1.1: GFS sharpness)"
            text = text[1:-1].strip()
        if text:
            titles[label] = (app.env.docname, str(realtype), text)


def _proof_titles(env: Any) -> dict[str, tuple[str, str, str]]:
    if not hasattr(env, "eoslib_proof_titles"):
        env.eoslib_proof_titles = {}
    return env.eoslib_proof_titles


def _merge_proof_titles(app: Any, env: Any, docnames: Any, other: Any) -> None:
    _proof_titles(env).update(getattr(other, "eoslib_proof_titles", {}))


def _name_unnumbered_references(app: Any, doctree: Any, docname: str) -> None:
    """sphinx-proof writes a reference to a ``:nonumber:`` result as its type alone ("Definition ");
    give it the result's own title, which carries the paper's number."""
    from docutils import nodes

    titles = _proof_titles(app.env)
    for ref in list(doctree.findall(nodes.reference)):
        target = (ref.get("refuri") or "").rpartition("#")[2] or ref.get("refid") or ""
        if target not in titles or len(ref.children) != 1 or not isinstance(ref[0], nodes.Text):
            continue
        word = ref.astext().strip()
        _, realtype, title = titles[target]
        if word.lower() == realtype.lower():
            ref.replace(ref[0], nodes.Text(f"{word} {title}"))


# --- search: chapter pages under their paper's key ------------------------------------------------

def _chapter_index_entry(app: Any, doctree: Any) -> None:
    from docutils import nodes
    from sphinx import addnodes

    parts = app.env.docname.split("/")
    if len(parts) != 3 or parts[0] != "book" or parts[2] != "index":
        return
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None or not section["ids"]:
        return
    key = parts[1].replace("_", "-")
    entries = [("single", key, section["ids"][0], "main", None)]
    section.insert(1, addnodes.index(entries=entries, inline=False))
    domain = app.env.get_domain("index")
    domain.entries.setdefault(app.env.docname, []).extend(entries)


# --- MathJax ------------------------------------------------------------------------------------

def _configure_mathjax(app: Any) -> None:
    """After myst-parser has set ``processHtmlClass`` (builder-inited, default priority)."""
    cfg = dict(app.config.mathjax3_config or {})
    options = dict(cfg.get("options") or {})
    options["processHtmlClass"] = MATHJAX_CLASSES
    cfg["options"] = options
    loader = dict(cfg.get("loader") or {})
    loader["load"] = sorted(set(loader.get("load", [])) | {"[tex]/mathtools"})
    cfg["loader"] = loader
    tex = dict(cfg.get("tex") or {})
    packages = dict(tex.get("packages") or {}) if isinstance(tex.get("packages"), dict) else {}
    packages["[+]"] = sorted(set(packages.get("[+]", [])) | {"mathtools"})
    tex["packages"] = packages
    cfg["tex"] = tex
    app.config.mathjax3_config = cfg


# --- pages: downloads and launch buttons ----------------------------------------------------

def _source_md(app: Any, pagename: str) -> Path | None:
    """``book/<paper>/<slug>`` -> ``notebooks/<paper>/<slug>.md``, if it exists."""
    parts = pagename.split("/")
    if len(parts) != 3 or parts[0] != "book":
        return None
    src = Path(app.srcdir) / "notebooks" / parts[1] / f"{parts[2]}.md"
    return src if src.is_file() else None


def _page_buttons(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    src = _source_md(app, pagename)
    if src is None:
        return
    target = Path(app.outdir) / "_sources" / "book" / pagename.split("/")[1] / src.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    for group in context.get("header_buttons", []):
        if group.get("label") != "download-buttons":
            continue
        buttons = group["buttons"]
        at = next((i + 1 for i, b in enumerate(buttons) if b.get("text") == ".ipynb"), 0)
        buttons.insert(at, {
            "type": "link",
            "url": f"{context['pathto']('_sources', 1)}/book/{pagename.split('/')[1]}/{src.name}",
            "text": ".md",
            "tooltip": "Download the notebook's source (jupytext MyST; run it with `eoslib run`)",
            "icon": "fab fa-markdown",
            "label": "download-md-button",
        })


def _launch_buttons_need_a_repository(app: Any, config: Any) -> None:
    """Keep the theme's launch buttons off until the book names its own public repository."""
    options = config.html_theme_options or {}
    launch = dict(options.get("launch_buttons") or {})
    repo = (options.get("repository_url") or "").rstrip("/")
    if not repo or repo == _JB_PLACEHOLDER_REPO:
        for key in ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url"):
            launch[key] = ""
        options["launch_buttons"] = launch
    config.html_theme_options = options
    # pydata-sphinx-theme reads the default colour mode from the context; left empty, a first
    # visit logs "Got invalid theme mode" as a console error.
    config.html_context = {**(config.html_context or {})}
    config.html_context.setdefault("default_mode", "light")


def _static_files(app: Any, config: Any) -> None:
    path = str(_STATIC)
    if path not in config.html_static_path:
        config.html_static_path.append(path)


def setup(app: Any) -> dict[str, Any]:
    app.set_html_assets_policy("always")  # MathJax on every page: the sidebar titles hold math
    app.connect("config-inited", _static_files)
    app.connect("config-inited", _launch_buttons_need_a_repository, priority=900)
    app.connect("builder-inited", _configure_mathjax, priority=900)
    # After the title collector (priority 500) has stored the page's title.
    app.connect("doctree-read", _plain_titles, priority=900)
    app.connect("doctree-read", _figure_alt_text, priority=950)
    app.connect("doctree-read", _chapter_index_entry, priority=960)
    app.connect("doctree-read", _collect_proof_titles, priority=970)
    app.connect("env-merge-info", _merge_proof_titles)
    app.connect("doctree-resolved", _name_unnumbered_references, priority=900)
    # After the theme has made its download group (priority 501).
    app.connect("html-page-context", _page_buttons, priority=600)
    app.add_css_file("eoslib.css")
    app.add_js_file("eoslib.js", defer="defer")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
