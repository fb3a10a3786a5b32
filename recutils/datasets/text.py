"""Movie texts for content models (TF-IDF, sentence embeddings), in one place.

- :func:`study_movie_texts`: the hybrid study's exact text (title without year, genres
  space-joined, *all* the movie's tags lower-cased in file order, ``"movie"`` when empty);
- :class:`TextBuilder`: a configurable builder over the movie table (clean title, genres,
  distinct tags, TMDB overview; ``style="plain"`` space-joined, ``"labelled"`` with field names)
  whose ``key`` names the exact text an embedding was computed from;
- :func:`movie_texts`: a text spec (``"study"``, ``"study+overview"`` or fields joined by ``+``)
  → texts indexed by ``movieId``; :func:`text_key` names them for caches.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..constants import COL_ITEM
from ..errors import RecutilsError

FIELDS = ("title", "genres", "tags", "overview")


@dataclass(frozen=True)
class TextBuilder:
    """Which fields go into an item's text, and how.

    ``fields`` is an ordered subset of ``title`` (clean title, no year), ``genres``
    (MovieLens genres), ``tags`` (distinct lower-cased MovieLens tags) and ``overview``
    (TMDB). ``style="plain"`` joins them with spaces (genres and tags space-joined; close to
    the study's text, which :func:`study_movie_texts` reproduces exactly: all tags, raw title);
    ``style="labelled"`` writes ``"Title: … . Genres: … . Tags: … . Overview: …"``.
    """

    fields: tuple[str, ...] = ("title", "genres", "tags")
    style: str = "plain"
    max_tags: int = 20
    max_chars: int = 2000

    def __post_init__(self):
        bad = [f for f in self.fields if f not in FIELDS]
        if bad or not self.fields:
            raise ValueError(f"unknown text fields {bad}; choose from {FIELDS}")
        if self.style not in ("plain", "labelled"):
            raise ValueError("style must be 'plain' or 'labelled'")

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
                parts.append(("Genres", " ".join(g) if self.style == "plain" else ", ".join(g)))
            elif f == "tags":
                t = list(row["tags"])[: self.max_tags]
                parts.append(("Tags", " ".join(t) if self.style == "plain" else ", ".join(t)))
            elif f == "overview":
                parts.append(("Overview", str(row["overview"] or "")))
        return [(k, v.strip()) for k, v in parts if v and v.strip()]

    def build_one(self, row) -> str:
        parts = self._parts(row)
        if self.style == "plain":
            text = " ".join(v for _, v in parts)
        else:
            text = ". ".join(f"{k}: {v}" for k, v in parts)
        return text[: self.max_chars]

    def build(self, movies: pd.DataFrame) -> list[str]:
        """Texts for every row of a movie table, in row order."""
        return [self.build_one(r) for r in movies.to_dict("records")]


def study_movie_texts(movies: pd.DataFrame, tags: pd.DataFrame) -> pd.Series:
    """The hybrid study's movie text, indexed by ``movieId`` (``movies`` / ``tags`` are the raw
    MovieLens frames of :func:`~recutils.datasets.load_movies` / :func:`~recutils.datasets.load_tags`).

    ``f"{title} {genres} {tags}".strip()`` with ``title = title.rsplit("(", 1)[0].strip()``,
    ``genres = genres.replace("|", " ").replace("(no genres listed)", "")`` and ``tags`` every
    tag of the movie lower-cased and space-joined in file order (duplicates kept); ``"movie"``
    when the result is empty.
    """
    tag_text = tags.groupby(COL_ITEM, sort=False)["tag"].agg(lambda x: " ".join(x.astype(str).str.lower()))
    titles = movies["title"].astype(str).str.rsplit("(", n=1).str[0].str.strip()
    genres = movies["genres"].astype(str).str.replace("|", " ", regex=False).str.replace(
        "(no genres listed)", "", regex=False)
    tg = movies[COL_ITEM].map(tag_text).fillna("")
    text = (titles + " " + genres + " " + tg).str.strip()
    text = text.where(text != "", "movie")
    return pd.Series(text.to_numpy(), index=pd.Index(movies[COL_ITEM].to_numpy(), name=COL_ITEM), name="text")


TEXT_CHOICES = ("study", "study+overview", "<fields joined by '+' from title, genres, tags, overview>")


def valid_text_spec(text) -> bool:
    """Whether :func:`movie_texts` accepts ``text`` (checked without loading any data)."""
    if not isinstance(text, str):
        return False
    fields = [f for f in text.split("+") if f]
    return text in ("study", "study+overview") or (bool(fields) and all(f in FIELDS for f in fields))


def movie_texts(text: str = "study", data_dir=None) -> pd.Series:
    """Item texts indexed by ``movieId`` for every MovieLens movie.

    ``text``: ``"study"`` (:func:`study_movie_texts`), ``"study+overview"`` (the study text, then
    the TMDB overview where there is one) or ``TextBuilder`` fields joined by ``+`` (e.g.
    ``"title+genres+tags+overview"``, labelled style).
    """
    from .movielens import load_movies, load_tags, movie_table

    if text in ("study", "study+overview"):
        s = study_movie_texts(load_movies(data_dir), load_tags(data_dir))
        if text == "study+overview":
            ov = movie_table(data_dir).set_index(COL_ITEM)["overview"].reindex(s.index).fillna("")
            s = (s + " " + ov.astype(str)).str.strip()
        return s
    fields = tuple(f for f in text.split("+") if f)
    try:
        builder = TextBuilder(fields=fields, style="labelled")
    except ValueError as exc:
        raise RecutilsError(f"invalid text spec {text!r}: {exc}; choose one of {TEXT_CHOICES}") from None
    mt = movie_table(data_dir)
    return pd.Series(builder.build(mt), index=pd.Index(mt[COL_ITEM].to_numpy(), name=COL_ITEM), name="text")


def text_key(text: str, texts: pd.Series) -> str:
    """A cache key naming the text spec and a hash of the exact texts and their movie ids."""
    h = hashlib.sha256()
    h.update(np.asarray(texts.index, dtype=np.int64).tobytes())
    for t in texts:
        h.update(t.encode())
        h.update(b"\0")
    return f"{text.replace('+', '-')}-{h.hexdigest()[:10]}"
