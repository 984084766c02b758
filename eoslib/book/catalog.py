"""The checkout's layout and the catalog of paper items.

The **catalog** (``notebooks/catalog.yml``) lists every paper item that needs a notebook, with
its status (``todo`` or ``done``). Several items may share one notebook (Corollaries 1-8, or
two figures drawn from one run); the notebook's front matter then lists them all
(``item: ["Figure 10", "Figure 11"]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

__all__ = [
    "PAPER_ORDER",
    "Project",
    "CatalogEntry",
    "load_catalog",
    "done_notebooks",
    "entries_by_notebook",
    "front_matter_items",
    "doc_of",
]

PAPER_ORDER = ("product_stability", "gfs_sharpness", "self_stabilization", "two_step")


@dataclass(frozen=True)
class Project:
    """Paths of a checkout (everything is relative to ``root``)."""

    root: Path

    @classmethod
    def find(cls, start: Path | None = None) -> "Project":
        """The enclosing checkout: the first parent holding ``eoslib/`` and ``notebooks/``."""
        here = (start or Path.cwd()).resolve()
        for p in (here, *here.parents):
            if (p / "eoslib").is_dir() and (p / "notebooks").is_dir():
                return cls(p)
        # Fall back to the package's own checkout (editable install).
        return cls(Path(__file__).resolve().parents[2])

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def book(self) -> Path:
        return self.root / "book"

    @property
    def catalog(self) -> Path:
        return self.notebooks / "catalog.yml"

    @property
    def manifest(self) -> Path:
        return self.book / "_manifest.json"

    @property
    def package(self) -> Path:
        return self.root / "eoslib"

    @property
    def logs(self) -> Path:
        return self.root / "_build" / "logs"

    def sources(self) -> list[Path]:
        """All notebook sources, sorted."""
        return sorted(self.notebooks.glob("*/*.md"))

    def rel(self, path: str | Path) -> str:
        """``path`` relative to the root, in posix form."""
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()


@dataclass(frozen=True)
class CatalogEntry:
    """One paper item.

    Attributes:
      paper: the paper key, e.g. ``"two_step"``.
      item: the item as the paper numbers it, e.g. ``"Theorem 2"``.
      kind: theorem, lemma, proposition, corollary, observation or figure.
      title: a short title.
      notebook: the notebook source that serves it (possibly shared with other items).
      status: ``"todo"`` or ``"done"``.
      includes: proof lemmas checked in the same notebook.
    """

    paper: str
    item: str
    kind: str
    title: str
    notebook: str
    status: str
    includes: tuple[str, ...] = ()


def load_catalog(project: Project) -> tuple[dict[str, Any], list[CatalogEntry]]:
    """Read the catalog.

    Returns:
      ``(papers, entries)``: paper metadata by key, and the item entries in file order.
    """
    import yaml

    data = yaml.safe_load(project.catalog.read_text())
    entries = [
        CatalogEntry(
            paper=e["paper"], item=e["item"], kind=e["kind"], title=e.get("title", ""),
            notebook=e["notebook"], status=e.get("status", "todo"), includes=tuple(e.get("includes") or ()),
        )
        for e in data["items"]
    ]
    return data.get("papers", {}), entries


def done_notebooks(entries: Iterable[CatalogEntry]) -> list[str]:
    """Distinct notebook paths of done entries, in catalog order."""
    out: list[str] = []
    for e in entries:
        if e.status == "done" and e.notebook not in out:
            out.append(e.notebook)
    return out


def entries_by_notebook(entries: Iterable[CatalogEntry]) -> dict[str, list[CatalogEntry]]:
    """Notebook path -> the entries it serves, in catalog order."""
    out: dict[str, list[CatalogEntry]] = {}
    for e in entries:
        out.setdefault(e.notebook, []).append(e)
    return out


def front_matter_items(eos: dict[str, Any]) -> list[str]:
    """The items a notebook's front matter names: ``item: "Theorem 2"`` or a list of them."""
    item = eos.get("item")
    if item is None:
        return []
    if isinstance(item, (list, tuple)):
        return [str(i) for i in item]
    return [s.strip() for s in str(item).split(" / ")]


def doc_of(notebook: str) -> str:
    """``notebooks/<paper>/<slug>.md`` -> the book document ``book/<paper>/<slug>``."""
    return "book/" + Path(notebook).relative_to("notebooks").with_suffix("").as_posix()
