"""House style and provenance footer."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from eoslib import plotting  # noqa: E402


def test_footer_names_notebook_parameters_commit_and_date(tmp_path, monkeypatch):
    monkeypatch.setenv("EOSLIB_DATE", "2026-11-23")
    plotting.use_house_style()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    out = tmp_path / "f.png"
    assert plotting.save_figure(fig, notebook="notebooks/x/figure_1.md", params={"eta": 0.05}, path=out,
                                show=False) is None
    texts = [t.get_text() for t in fig.texts]
    footer = next(t for t in texts if "notebooks/x/figure_1.md" in t)
    assert "eta=0.05" in footer and "2026-11-23" in footer and "eoslib commit" in footer
    assert out.stat().st_size > 1000
    plt.close(fig)


def test_long_parameter_values_are_shortened():
    text = plotting.provenance("nb.md", {"grid": list(range(100))})
    assert "..." in text and len(text.splitlines()[0]) < 120
