"""Loading: verify, then read a data directory into tidy DataFrames.

Loaders take a data directory (default: the resolved data directory) and never download.
Where a file is looked for, and whether it is checked against the registry first:

* ``<dir>/ml-latest-small/ratings.csv`` (the registered layout, as ``fetch`` and the
  mirror have it): verified before it is parsed — size every time, SHA-256 once per file
  state (:mod:`.integrity`). A mismatch is a :class:`~recutils.errors.DataError` that says
  how to restore the file.
* otherwise ``<dir>/ratings.csv`` (your own data, flat), or a file path given directly
  to a single-file loader: read without a checksum.

``verify=True`` / ``verify=False`` forces / skips the registry check (``False``: e.g. tests'
tiny hand-made files in the registered layout). Whatever the source, the parsed columns and
dtypes are checked and a bad file gives a one-line DataError naming it and the first bad
line (:mod:`.parse`). A file read without a checksum has its content checked too — rating
scale, duplicated pairs, rated movies present in the movies file beside it, plausible
timestamps, a last line cut short (:mod:`.validate`; ``policy=`` declares another scale or
how duplicates / unknown movies are handled).
"""

from __future__ import annotations

import ast
import os
import re
from functools import lru_cache
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from ..constants import COL_GENRES, COL_ITEM, COL_RATING, COL_TIMESTAMP, COL_TITLE, COL_USER
from ..errors import DataError
from .fetch import _missing_message, check_root, resolve_data_dir
from .integrity import file_problem, problems_error
from .parse import Col, read_csv, read_dat_movies, read_dat_ratings, read_parquet
from .registry import DATASETS, MOVIELENS_SMALL, RELEASES, TMDB
from .validate import DataPolicy, check_movies, check_ratings

_ML = "ml-latest-small"
_RATINGS, _MOVIES, _TAGS, _LINKS = (f"{_ML}/{n}.csv" for n in ("ratings", "movies", "tags", "links"))
_TMDB = "tmdb/movie_data.parquet"
_SPECS = {_RATINGS: MOVIELENS_SMALL, _MOVIES: MOVIELENS_SMALL, _TAGS: MOVIELENS_SMALL, _LINKS: MOVIELENS_SMALL,
          _TMDB: TMDB}
_SPECS.update({f.path: spec for spec in RELEASES for f in spec.files})
#: the datasets :func:`load_ratings` / :func:`load_movies` read (``dataset=``)
RATINGS_DATASETS = ("ml-latest-small", *(spec.name for spec in RELEASES))

_RATINGS_COLS = [Col(COL_USER, "int"), Col(COL_ITEM, "int"), Col(COL_RATING, "float"), Col(COL_TIMESTAMP, "int")]
_MOVIES_COLS = [Col(COL_ITEM, "int"), Col(COL_TITLE, "str"), Col(COL_GENRES, "str")]
_TAGS_COLS = [Col(COL_USER, "int"), Col(COL_ITEM, "int"), Col("tag", "str", required=False), Col(COL_TIMESTAMP, "int")]
_LINKS_COLS = [Col(COL_ITEM, "int"), Col("imdbId", "int"), Col("tmdbId", "float", required=False)]
_TMDB_COLS = ["imdb_id", "title", "overview", "genres", "vote_average", "vote_count", "popularity", "runtime",
              "release_date", "original_language", "poster_path"]


def locate(data_dir, rel: str, verify: bool | None = None) -> Path:
    """The file a loader reads for the registry path ``rel``, verified when it is registered.

    ``verify=None`` verifies the registered layout (``<dir>/<rel>``) and not a flat custom
    file (``<dir>/<name>``) or a file given directly; True / False force / skip it.
    """
    spec = _SPECS[rel]
    f = spec.file(rel)
    root = resolve_data_dir(data_dir)
    if data_dir is not None and root.is_file():  # a file given directly
        path, is_registered = root, False
    else:
        check_root(root, data_dir)
        registered, flat = root / rel, root / PurePosixPath(rel).name
        if registered.is_file():
            path, is_registered = registered, True
        elif flat.is_file():
            path, is_registered = flat, False
        else:
            raise DataError(_missing_message(spec, f, root))
    if is_registered if verify is None else verify:
        problem = file_problem(f, path)  # size, then the SHA-256 remembered for this file state
        if problem is not None:
            raise problems_error([problem], root if is_registered else path.parent, data_dir is not None, [spec.url])
    return path


def _single_file_only(data_dir, what: str) -> None:
    if data_dir is not None and Path(data_dir).expanduser().is_file():
        raise DataError(f"{what} needs a data folder, got the file {data_dir}")


def _release_file(dataset: str, what: str) -> tuple[str, str]:
    """(registry path, format) of ``what`` ("ratings" / "movies") in ``dataset``."""
    if dataset == "ml-latest-small":
        return (_RATINGS if what == "ratings" else _MOVIES), "csv"
    spec = DATASETS.get(dataset)
    if spec is None or spec not in RELEASES:
        raise DataError(f"unknown MovieLens dataset {dataset!r}; known: {', '.join(RATINGS_DATASETS)}")
    return next(f.path for f in spec.files if PurePosixPath(f.path).stem == what), spec.fmt


def load_ratings(data_dir=None, *, verify: bool | None = None, dataset: str = "ml-latest-small",
                 policy: DataPolicy | None = None) -> pd.DataFrame:
    """MovieLens ratings: ``userId, movieId, rating, timestamp`` in file order.

    ``dataset``: ``ml-latest-small`` (default) or a larger release (``ml-1m``, ``ml-10m``:
    ``::``-separated ``ratings.dat``; ``ml-20m``, ``ml-25m``, ``ml-32m``: ``ratings.csv``), read from
    ``<dir>/<release folder>/`` (verified) or flat from ``<dir>/`` (e.g. a synthetic data set
    from ``python -m recutils.datasets synth``). Same columns and dtypes for every release.
    Unless verified by checksum, the content is checked (:mod:`.validate`) as ``policy`` says
    (default: MovieLens half stars; duplicated pairs and unknown movies are errors).
    """
    rel, fmt = _release_file(dataset, "ratings")
    path = locate(data_dir, rel, verify)
    if fmt == "dat":
        df = read_dat_ratings(path)
    else:
        df = read_csv(
            path, _RATINGS_COLS,
            dtype={COL_USER: np.int64, COL_ITEM: np.int64, COL_RATING: np.float64, COL_TIMESTAMP: np.int64},
        )
    if _checksummed(path, rel, verify):
        return df
    movies = None
    if not (data_dir is not None and Path(data_dir).expanduser().is_file()):  # a folder: its movies file
        movies = path.with_name(PurePosixPath(_release_file(dataset, "movies")[0]).name)
    ids = _movie_ids(movies, fmt) if movies is not None and movies.is_file() else None
    return check_ratings(df, path, policy, ids, movies if ids is not None else None)


def _checksummed(path: Path, rel: str, verify: bool | None) -> bool:
    """Whether :func:`locate` verified ``path`` against the registry (else its content is checked)."""
    return verify if verify is not None else path.as_posix().endswith("/" + rel)


def _movie_ids(path: Path, fmt: str) -> np.ndarray:
    df = read_dat_movies(path) if fmt == "dat" else read_csv(path, _MOVIES_COLS, dtype={COL_ITEM: np.int64})
    return check_movies(df, path)[COL_ITEM].to_numpy()


def load_movies(data_dir=None, *, verify: bool | None = None, dataset: str = "ml-latest-small") -> pd.DataFrame:
    """MovieLens movies: ``movieId, title, genres`` (genres as the raw ``A|B`` string); ``dataset``
    as in :func:`load_ratings` (``movies.dat`` for ml-1m / ml-10m)."""
    rel, fmt = _release_file(dataset, "movies")
    path = locate(data_dir, rel, verify)
    df = read_dat_movies(path) if fmt == "dat" else read_csv(path, _MOVIES_COLS, dtype={COL_ITEM: np.int64})
    return df if _checksummed(path, rel, verify) else check_movies(df, path)


def load_tags(data_dir=None, *, verify: bool | None = None) -> pd.DataFrame:
    """MovieLens tags: ``userId, movieId, tag, timestamp``."""
    return read_csv(locate(data_dir, _TAGS, verify), _TAGS_COLS, require_rows=False,
                    dtype={COL_ITEM: np.int64, "tag": str})


def load_links(data_dir=None, *, verify: bool | None = None) -> pd.DataFrame:
    """MovieLens links: ``movieId, imdbId, tmdbId`` (imdbId an int without ``tt``)."""
    return read_csv(locate(data_dir, _LINKS, verify), _LINKS_COLS, require_rows=False,
                    dtype={COL_ITEM: np.int64, "imdbId": np.int64})


def _parse_genre_names(s) -> list[str]:
    if not isinstance(s, str) or not s.strip():
        return []
    try:
        val = ast.literal_eval(s)
    except (ValueError, SyntaxError):
        return []
    return [g["name"] for g in val if isinstance(g, dict) and "name" in g]


def load_tmdb(data_dir=None, *, verify: bool | None = None) -> pd.DataFrame:
    """TMDB metadata, one row per movie (the source file has one row per rating).

    Columns: ``imdbId`` (int), ``tmdb_title``, ``overview``, ``tmdb_genres`` (list of names),
    ``vote_average``, ``vote_count``, ``popularity``, ``runtime``, ``release_year``,
    ``original_language``, ``poster_path``.
    """
    raw = read_parquet(locate(data_dir, _TMDB, verify), _TMDB_COLS)
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


def load_movie_table(data_dir=None, *, verify: bool | None = None) -> pd.DataFrame:
    """One row per MovieLens movie, joined with TMDB metadata and aggregated tags.

    Columns: ``movieId, title`` (MovieLens, with year), ``clean_title`` (no year, article
    moved to the front), ``year``, ``genres`` (list of MovieLens genres, no
    ``(no genres listed)``), ``tags`` (list of distinct lower-cased tags, most used first),
    ``imdbId``, ``has_tmdb`` (bool), and the TMDB columns of :func:`load_tmdb` (NaN / empty
    where a movie has no TMDB row).
    """
    _single_file_only(data_dir, "load_movie_table")
    movies = load_movies(data_dir, verify=verify)
    links = load_links(data_dir, verify=verify)
    tags = load_tags(data_dir, verify=verify)
    tmdb = load_tmdb(data_dir, verify=verify)

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


def _states(root: Path) -> tuple:
    """Size, mtime and inode of each file the movie table reads (registered or flat), for the memo key."""
    out = []
    for rel in (_MOVIES, _LINKS, _TAGS, _TMDB):
        for p in (root / rel, root / PurePosixPath(rel).name):
            try:
                st = os.stat(p)
            except OSError:
                continue
            out.append((str(p), st.st_size, st.st_mtime_ns, st.st_ino))
            break
    return tuple(out)


@lru_cache(maxsize=4)
def _cached_movie_table(root: str, verify: bool | None, states: tuple) -> pd.DataFrame:
    return load_movie_table(root, verify=verify)


def movie_table(data_dir=None, *, verify: bool | None = None) -> pd.DataFrame:
    """:func:`load_movie_table`, memoised per data directory and file states (returns a copy)."""
    _single_file_only(data_dir, "movie_table")
    root = resolve_data_dir(data_dir)
    check_root(root, data_dir)
    for rel in (_MOVIES, _LINKS, _TAGS, _TMDB):  # verify before use, memoised or not (cheap once remembered)
        locate(data_dir, rel, verify)
    return _cached_movie_table(str(root), verify, _states(root)).copy()
