"""Datasets: a registry (URL + SHA-256), fetching into a cache, and loaders.

``python -m recutils.datasets fetch|verify|where`` (or ``make data``) fetches and
verifies; the loaders below only read from a directory, and verify each registered file
before parsing it (size every time, SHA-256 once per file state; see :mod:`.integrity`).
"""

from .fetch import check, fetch, resolve_data_dir, sha256_file, verify
from .movielens import (
    load_links,
    load_movie_table,
    load_movies,
    load_ratings,
    load_tags,
    load_tmdb,
    locate,
    movie_table,
    split_title_year,
)
from .registry import DATASETS, MOVIELENS_SMALL, TMDB, DatasetSpec, FileSpec
from .text import TextBuilder
from .validate import DataPolicy

__all__ = [
    "DATASETS", "DataPolicy", "MOVIELENS_SMALL", "TMDB", "DatasetSpec", "FileSpec", "TextBuilder",
    "check", "fetch", "resolve_data_dir", "sha256_file", "verify",
    "load_links", "load_movie_table", "load_movies", "load_ratings", "load_tags", "load_tmdb", "locate",
    "movie_table", "split_title_year",
]
