"""A configurable text builder for content models (TF-IDF, sentence embeddings).

Every content model builds its item texts through :class:`TextBuilder`, so the exact
text an embedding was computed from is named (``builder.key``) and cached with it.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import pandas as pd

FIELDS = ("title", "genres", "tags", "overview")


@dataclass(frozen=True)
class TextBuilder:
    """Which fields go into an item's text, and how.

    ``fields`` is an ordered subset of ``title`` (clean title, no year), ``genres``
    (MovieLens genres), ``tags`` (distinct lower-cased MovieLens tags) and ``overview``
    (TMDB). ``style="study"`` reproduces the hybrid study's builder
    (``"{title} {genres} {tags}"`` with genres space-joined); ``style="labelled"`` writes
    ``"Title: … . Genres: … . Tags: … . Overview: …"``.
    """

    fields: tuple[str, ...] = ("title", "genres", "tags")
    style: str = "study"
    max_tags: int = 20
    max_chars: int = 2000

    def __post_init__(self):
        bad = [f for f in self.fields if f not in FIELDS]
        if bad or not self.fields:
            raise ValueError(f"unknown text fields {bad}; choose from {FIELDS}")
        if self.style not in ("study", "labelled"):
            raise ValueError("style must be 'study' or 'labelled'")

    @property
    def key(self) -> str:
        """A short stable name for caches: fields, style and a hash of the settings."""
        h = hashlib.sha256(repr(sorted(asdict(self).items())).encode()).hexdigest()[:8]
        return f"{'+'.join(self.fields)}-{self.style}-{h}"

    def _parts(self, row) -> list[tuple[str, str]]:
        parts = []
        for f in self.fields:
            if f == "title":
                parts.append(("Title", str(row["clean_title"])))
            elif f == "genres":
                g = row["genres"] if len(row["genres"]) else row.get("tmdb_genres", [])
                parts.append(("Genres", " ".join(g) if self.style == "study" else ", ".join(g)))
            elif f == "tags":
                t = list(row["tags"])[: self.max_tags]
                parts.append(("Tags", " ".join(t) if self.style == "study" else ", ".join(t)))
            elif f == "overview":
                parts.append(("Overview", str(row["overview"] or "")))
        return [(k, v.strip()) for k, v in parts if v and v.strip()]

    def build_one(self, row) -> str:
        parts = self._parts(row)
        if self.style == "study":
            text = " ".join(v for _, v in parts)
        else:
            text = ". ".join(f"{k}: {v}" for k, v in parts)
        return text[: self.max_chars]

    def build(self, movies: pd.DataFrame) -> list[str]:
        """Texts for every row of a movie table, in row order."""
        return [self.build_one(r) for r in movies.to_dict("records")]
