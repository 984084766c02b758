"""What the reader sees, without a browser: plain-text titles, figure captions, Markdown tables."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from eoslib import plotting, session, tables  # noqa: E402
from eoslib.book.sphinx_reader import _caption_text, tex_to_text  # noqa: E402


@pytest.mark.parametrize("tex, text", [
    (r"2/\eta-3\eta\,l''^4/\alpha", "2/η-3η l''⁴/α"),
    (r"f'''=0", "f'''=0"),
    (r"\frac{a+b}{2}", "(a+b)/2"),
    (r"\tfrac12\|XY^\top-C\|_F^2", "1/2‖XYᵀ-C‖_F²"),
    (r"\delta_{1,2}", "δ₁,₂"),
    (r"\mathrm{GFS}(\theta)\le 2/\eta", "GFS(θ)≤ 2/η"),
    (r"\hat\alpha=\alpha/l_2", "α̂=α/l₂"),
    (r"\operatorname{foo}_{x}", "fooₓ"),
])
def test_titles_lose_their_tex(tex: str, text: str):
    assert tex_to_text(tex) == text
    assert "\\" not in tex_to_text(tex)


def test_figure_caption_numbers_names_the_paper_figure_and_keeps_provenance(monkeypatch):
    monkeypatch.setenv("EOSLIB_DATE", "2026-11-23")
    footer = plotting.provenance("notebooks/two_step/figure_10_11.md", {"width": 10}, key="ab" * 32)
    html = plotting.figure_caption(3, r"Sharpness $S(\theta)$ < 2/eta", "Figure 10 of Chen and Bruna (2023)", footer)
    assert "<strong>Figure 3.</strong> Sharpness \\(S(\\theta)\\) &lt; 2/eta." in html
    assert "Regenerates Figure 10 of Chen and Bruna (2023)." in html
    assert "<code>eoslib run notebooks/two_step/figure_10_11.md -p width 10</code>" in html
    assert "key abababababab | 2026-11-23" in html
    # The book's alt text is the caption sentence, math as text, without the provenance.
    assert _caption_text(html) == ("Figure 3. Sharpness S(θ) < 2/eta. "
                                   "Regenerates Figure 10 of Chen and Bruna (2023).")


def test_figure_notebooks_say_which_paper_figure_they_regenerate():
    assert plotting._regenerated("notebooks/two_step/figure_10_11.md") == "Figures 10 and 11 of Chen and Bruna (2023)"
    assert plotting._regenerated("notebooks/two_step/theorem_1.md") == ""
    assert plotting._regenerated("notebooks/no_such/figure_1.md") == ""


def test_save_figure_shows_a_numbered_caption(monkeypatch):
    shown = []
    monkeypatch.setattr(session, "_CURRENT", None)
    monkeypatch.setattr(plotting, "_FIGURES", {})
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj.data))
    for _ in range(2):
        fig, ax = plt.subplots()
        ax.set_title("the sharpness")
        plotting.save_figure(fig, notebook="notebooks/two_step/figure_10_11.md")
        plt.close(fig)
    assert "<strong>Figure 1.</strong> the sharpness. Regenerates Figures 10 and 11" in shown[0]
    assert "<strong>Figure 2.</strong>" in shown[1]


def test_markdown_table_typesets_math_and_escapes_bars():
    md = tables.markdown_table([[0.2, 0.999364, float("inf")], [0.1, 1.5e-12, 3]],
                               [r"$\eta$", "a|b", r"$|x|$"], caption=r"Ratio $2/\eta$.", digits=4)
    assert md.splitlines() == [
        r"Ratio $2/\eta$.", "",
        r"| $\eta$ | a\|b | $\vert x\vert $ |",
        "|--:|--:|--:|",
        r"| 0.2 | 0.9994 | $\infty$ |",
        "| 0.1 | 1.5e-12 | 3 |",
    ]


def test_markdown_table_rejects_ragged_rows_and_bad_alignment():
    with pytest.raises(ValueError, match="rows\\[1\\]"):
        tables.markdown_table([[1, 2], [3]], ["a", "b"])
    with pytest.raises(ValueError, match="align"):
        tables.markdown_table([[1, 2]], ["a", "b"], align="lx")
    with pytest.raises(ValueError, match="digits"):
        tables.format_cell(1.0, digits=0)


def test_launch_buttons_wait_for_the_public_repository():
    from types import SimpleNamespace

    from eoslib.book.sphinx_reader import _launch_buttons_need_a_repository

    launch = {"binderhub_url": "https://mybinder.org", "colab_url": "https://colab.research.google.com"}
    for repo, shown in [("", False), ("https://github.com/executablebooks/jupyter-book", False),
                        ("https://github.com/someone/eoslib", True)]:
        config = SimpleNamespace(html_theme_options={"launch_buttons": dict(launch), "repository_url": repo},
                                 html_context={})
        _launch_buttons_need_a_repository(None, config)
        got = config.html_theme_options["launch_buttons"]
        assert (got["binderhub_url"] == launch["binderhub_url"]) is shown
        assert (got["colab_url"] == launch["colab_url"]) is shown
        assert config.html_context["default_mode"] == "light"
