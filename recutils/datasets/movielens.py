"""Loading: read verified files from a data directory into tidy DataFrames.

Loaders take a directory (default: the resolved data directory) and never download.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..constants import COL_GENRES, COL_ITEM, COL_RATING, COL_TIMESTAMP, COL_TITLE, COL_USER
from ..errors import DataError
from .fetch import resolve_data_dir
from .registry import MOVIELENS_SMALL, TMDB

_ML = "ml-latest-small"


def _path(data_dir, rel: str, spec) -> Path:
    root = resolve_data_dir(data_dir)
    p = root / rel
    if not p.is_file():
        from .fetch import _missing_message

        f = next(f for f in spec.files if f.path == rel)
        raise DataError(_missing_message(spec, f, root))
    return p


def load_ratings(data_dir=None) -> pd.DataFrame:
    """MovieLens ratings: ``userId, movieId, rating, timestamp`` in file order."""
    df = pd.read_csv(
        _path(data_dir, f"{_ML}/ratings.csv", MOVIELENS_SMALL),
        dtype={COL_USER: np.int64, COL_ITEM: np.int64, COL_RATING: np.float64, COL_TIMESTAMP: np.int64},
    )
    return df


def load_movies(data_dir=None) -> pd.DataFrame:
    """MovieLens movies: ``movieId, title, genres`` (genres as the raw ``A|B`` string)."""
    return pd.read_csv(_path(data_dir, f"{_ML}/movies.csv", MOVIELENS_SMALL), dtype={COL_ITEM: np.int64})


def load_tags(data_dir=None) -> pd.DataFrame:
    """MovieLens tags: ``userId, movieId, tag, timestamp``."""
    return pd.read_csv(_path(data_dir, f"{_ML}/tags.csv", MOVIELENS_SMALL), dtype={COL_ITEM: np.int64, "tag": str})


def load_links(data_dir=None) -> pd.DataFrame:
    """MovieLens links: ``movieId, imdbId, tmdbId`` (imdbId an int without ``tt``)."""
    return pd.read_csv(_path(data_dir, f"{_ML}/links.csv", MOVIELENS_SMALL), dtype={COL_ITEM: np.int64, "imdbId": np.int64})


def _parse_genre_names(s) -> list[str]:
    if not isinstance(s, str) or not s.strip():
        return []
    try:
        val = ast.literal_eval(s)
    except (ValueError, SyntaxError):
        return []
    return [g["name"] for g in val if isinstance(g, dict) and "name" in g]


def load_tmdb(data_dir=None) -> pd.DataFrame:
    """TMDB metadata, one row per movie (the source file has one row per rating).

    Columns: ``imdbId`` (int), ``tmdb_title``, ``overview``, ``tmdb_genres`` (list of names),
    ``vote_average``, ``vote_count``, ``popularity``, ``runtime``, ``release_year``,
    ``original_language``, ``poster_path``.
    """
    raw = pd.read_parquet(_path(data_dir, "tmdb/movie_data.parquet", TMDB))
    raw = raw.drop_duplicates("imdb_id").copy()
    imdb = pd.to_numeric(raw["imdb_id"].astype(str).str.removeprefix("tt"), errors="coerce")
    raw = raw.assign(imdbId=imdb).dropna(subset=["imdbId"])
    raw["imdbId"] = raw["imdbId"].astype(np.int64)
    year = pd.to_datetime(raw["release_date"], errors="coerce").dt.year
    out = pd.DataFrame(
        {
            "imdbId": raw["imdbId"].to_numpy(),
            "tmdb_title": raw["title"].to_numpy(),
            "overview": raw["overview"].fillna("").astype(str).str.strip().to_numpy(),
            "tmdb_genres": [_parse_genre_names(g) for g in raw["genres"]],
            "vote_average": pd.to_numeric(raw["vote_average"], errors="coerce").to_numpy(),
            "vote_count": pd.to_numeric(raw["vote_count"], errors="coerce").to_numpy(),
            "popularity": pd.to_numeric(raw["popularity"], errors="coerce").to_numpy(),
            "runtime": pd.to_numeric(raw["runtime"], errors="coerce").to_numpy(),
            "release_year": year.to_numpy(dtype="float64"),
            "original_language": raw["original_language"].to_numpy(),
            "poster_path": raw["poster_path"].to_numpy(),
        }
    )
    return out.drop_duplicates("imdbId").reset_index(drop=True)


_YEAR_RE = re.compile(r"\s*\((\d{4})(?:[-–]\d{0,4})?\)\s*$")


def split_title_year(title: str) -> tuple[str, float]:
    """``"Heat (1995)"`` → ``("Heat", 1995.0)``; also moves a trailing ``", The"`` to the front."""
    t = str(title).strip()
    m = _YEAR_RE.search(t)
    year = float(m.group(1)) if m else np.nan
    if m:
        t = t[: m.start()].strip()
    for art in ("The", "A", "An", "Les", "La", "Le", "Il", "El", "Das", "Die", "Der"):
        suffix = f", {art}"
        if t.endswith(suffix):
            t = f"{art} {t[: -len(suffix)]}"
            break
    return t, year


def load_movie_table(data_dir=None) -> pd.DataFrame:
    """One row per MovieLens movie, joined with TMDB metadata and aggregated tags.

    Columns: ``movieId, title`` (MovieLens, with year), ``clean_title`` (no year, article
    moved to the front), ``year``, ``genres`` (list of MovieLens genres, no
    ``(no genres listed)``), ``tags`` (list of distinct lower-cased tags, most used first),
    ``imdbId``, ``has_tmdb`` (bool), and the TMDB columns of :func:`load_tmdb` (NaN / empty
    where a movie has no TMDB row).
    """
    movies = load_movies(data_dir)
    links = load_links(data_dir)
    tags = load_tags(data_dir)
    tmdb = load_tmdb(data_dir)

    tv = tags.assign(tag=tags["tag"].astype(str).str.strip().str.lower())
    tv = tv[tv["tag"] != ""]
    counts = tv.groupby([COL_ITEM, "tag"], sort=False).size().rename("n").reset_index()
    counts = counts.sort_values([COL_ITEM, "n", "tag"], ascending=[True, False, True])
    tag_lists = counts.groupby(COL_ITEM, sort=False)["tag"].agg(list)

    ty = [split_title_year(t) for t in movies[COL_TITLE]]
    df = pd.DataFrame(
        {
            COL_ITEM: movies[COL_ITEM].to_numpy(),
            COL_TITLE: movies[COL_TITLE].to_numpy(),
            "clean_title": [t for t, _ in ty],
            "year": np.array([y for _, y in ty], dtype="float64"),
            COL_GENRES: [[g for g in str(s).split("|") if g and g != "(no genres listed)"] for s in movies[COL_GENRES]],
        }
    )
    df["tags"] = df[COL_ITEM].map(tag_lists)
    df["tags"] = [v if isinstance(v, list) else [] for v in df["tags"]]
    df = df.merge(links[[COL_ITEM, "imdbId"]], on=COL_ITEM, how="left")
    df = df.merge(tmdb, on="imdbId", how="left")
    df["has_tmdb"] = df["tmdb_title"].notna()
    df["overview"] = df["overview"].fillna("").astype(str)
    df["tmdb_genres"] = [v if isinstance(v, list) else [] for v in df["tmdb_genres"]]
    return df.sort_values(COL_ITEM).reset_index(drop=True)


@lru_cache(maxsize=4)
def _cached_movie_table(root: str) -> pd.DataFrame:
    return load_movie_table(root)


def movie_table(data_dir=None) -> pd.DataFrame:
    """:func:`load_movie_table`, memoised per data directory (returns a copy)."""
    return _cached_movie_table(str(resolve_data_dir(data_dir))).copy()
