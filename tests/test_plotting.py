"""House style and provenance footer."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from eoslib import plotting, session  # noqa: E402


def test_footer_names_rerun_command_key_commit_and_date(tmp_path, monkeypatch):
    monkeypatch.setenv("EOSLIB_DATE", "2026-11-23")
    monkeypatch.setattr(session, "_CURRENT", None)
    s = session.begin("notebooks/x/figure_1.md", "eta = 0.05  # lr; range (0, 1)\nn = 3  # n; range [1, 9]\n",
                      {"eta": 0.1, "n": 3}, key="0123456789abcdef" * 4, commit="abc1234",
                      keyed_overrides={"eta": 0.1})
    assert s.overrides == {"eta": 0.1}
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    out = tmp_path / "f.png"
    assert plotting.save_figure(fig, path=out, show=False) is None
    footer = fig.texts[-1].get_text().splitlines()
    assert footer == ["eoslib run notebooks/x/figure_1.md -p eta 0.1",
                      "key 0123456789ab | commit abc1234 | 2026-11-23"]
    assert out.stat().st_size > 1000
    plt.close(fig)


def test_footer_names_no_commit_for_uncommitted_code(monkeypatch):
    monkeypatch.setenv("EOSLIB_DATE", "2026-11-23")
    text = plotting.provenance("notebooks/x/figure_1.md", {}, key="f" * 64, commit="")
    assert text.splitlines() == ["eoslib run notebooks/x/figure_1.md", "key ffffffffffff | 2026-11-23"]
    assert "commit" not in text


def test_outside_the_runner_the_notebook_must_be_named(monkeypatch):
    monkeypatch.setattr(session, "_CURRENT", None)
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="notebook="):
        plotting.save_figure(fig, show=False)
    plotting.save_figure(fig, notebook="nb.md", params={"grid": list(range(100))}, show=False)
    lines = fig.texts[-1].get_text().splitlines()
    assert lines[0].startswith("eoslib run nb.md -p grid '[0, 1, 2") and "key unknown" in lines[-1]
    assert all(len(line) <= 150 for line in lines)  # the exact command, wrapped
    plt.close(fig)
