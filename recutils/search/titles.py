"""Fuzzy title lookup with rapidfuzz: "star wars" → "Star Wars: Episode IV - A New Hope (1977)".

Each title is scored with ``token_set_ratio`` (word order and extra words do not hurt:
"star wars" fully matches "Star Wars: Episode IV …"). Equal scores are broken by, in
order: an exact title match (ignoring case, punctuation and a leading article), a
matching year when the query ends with one ("heat 1995"), and popularity (e.g. the number
of ratings), so the best-known of several equally good matches comes first.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process, utils

from ..constants import COL_ITEM, COL_TITLE
from ..errors import RecutilsError
from .base import check_k

_YEAR_RE = re.compile(r"\s*\(?\b(18[89]\d|19\d\d|20\d\d)\)?\s*$")
_ARTICLE_RE = re.compile(r"^(the|a|an)\s+")


def _norm(s: str) -> str:
    return _ARTICLE_RE.sub("", utils.default_process(s))


class TitleIndex:
    """Fuzzy lookup of movie titles (``clean_titles`` without year; ``years`` may be NaN)."""

    def __init__(self, movie_ids, titles, clean_titles, years=None, popularity=None):
        self.movie_ids = np.asarray(movie_ids, dtype=np.int64)
        self.titles = np.asarray(titles, dtype=object)
        self.clean = [str(t) for t in clean_titles]
        n = len(self.movie_ids)
        self.years = np.full(n, np.nan) if years is None else np.asarray(years, dtype=np.float64)
        self.popularity = np.zeros(n) if popularity is None else np.nan_to_num(np.asarray(popularity, dtype=np.float64))
        self._exact = np.array([_norm(t) for t in self.clean], dtype=object)
        #: rows per exact key, for the short cut in :meth:`find`
        self._exact_rows: dict[str, np.ndarray] = {
            key: np.asarray(rows) for key, rows in pd.Series(range(n)).groupby(self._exact, sort=False).groups.items()}
        #: the titles as ``utils.default_process`` leaves them, computed once (not per query)
        self._processed = [utils.default_process(t) for t in self.clean]
        #: threads of one lookup (rapidfuzz ``workers``; it releases the GIL): 1, or -1 for every core
        self.workers = 1
        #: answer from the exact-title rows when there are at least k of them (same result;
        #: ``False`` scores every title, as tests do to check that)
        self.shortcut = True

    @classmethod
    def from_movies(cls, movies: pd.DataFrame, popularity: Sequence[float] | None = None):
        """From a movie table; ``popularity`` (one per row) breaks ties, e.g. rating counts."""
        return cls(movies[COL_ITEM], movies[COL_TITLE], movies["clean_title"], movies["year"], popularity)

    def find(self, query: str, k: int = 5, min_score: float = 60.0) -> pd.DataFrame:
        """The ``k`` best-matching titles: ``DataFrame(movieId, title, score)`` (score 0–100).

        Empty when nothing scores at least ``min_score``; :class:`RecutilsError` for a query
        without letters or digits.
        """
        idx, scores = self.find_rows(query, k, min_score)
        return pd.DataFrame({COL_ITEM: self.movie_ids[idx], COL_TITLE: self.titles[idx], "score": scores})

    def find_rows(self, query: str, k: int = 5, min_score: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
        """What :meth:`find` returns, as ``(rows, scores)`` arrays (row positions in this index)."""
        k = check_k(k)
        if not isinstance(query, str) or not utils.default_process(query):
            raise RecutilsError(f"title query {query!r} has no letters or digits: type (part of) a movie title")
        m = _YEAR_RE.search(query)
        year = float(m.group(1)) if m and m.start() > 0 else np.nan
        text = query[: m.start()] if m and m.start() > 0 else query
        processed, key = utils.default_process(text), _norm(text)
        exact_rows = self._exact_rows.get(key, ()) if self.shortcut else ()
        exact_scores = [fuzz.token_set_ratio(processed, self._processed[i], processor=None) for i in exact_rows]
        year_match = self.years == year
        if len(exact_rows) >= k and min(exact_scores) == 100.0 and min_score <= 100.0:
            # Short cut, same answer: a title equal to the query (ignoring case, punctuation
            # and a leading article) scores 100 (one token set contains the other) and, being
            # exact, is ordered before every other title of score 100, so the k best are
            # exact rows, ordered by year match, popularity and row as below.
            keep = np.asarray(exact_rows)
            scores = np.zeros(len(self.clean))
            scores[keep] = exact_scores
            exact = np.zeros(len(self.clean), dtype=bool)
            exact[keep] = True
        else:
            # titles under min_score come back as 0 (rapidfuzz stops early on them)
            scores = process.cdist([processed], self._processed, scorer=fuzz.token_set_ratio, processor=None,
                                   score_cutoff=min_score, workers=self.workers)[0]
            scores = np.asarray(scores, dtype=np.float64)
            exact = self._exact == key
            keep = np.flatnonzero(scores >= min_score)
        order = np.lexsort((
            keep,  # last resort: row order
            -self.popularity[keep],
            ~year_match[keep],
            ~exact[keep],
            -np.round(scores[keep]),
        ))
        idx = keep[order[:k]]
        return idx, scores[idx]

    def resolve(self, query: str, min_score: float = 60.0) -> pd.Series:
        """The single best match (a row of :meth:`find`), or :class:`RecutilsError` if none."""
        hits = self.find(query, k=1, min_score=min_score)
        if hits.empty:
            raise RecutilsError(f"no movie title looks like {query!r}; check the spelling or try fewer words")
        return hits.iloc[0]


def title_key(text: str) -> str:
    """The comparable form of a title or title query: a trailing year dropped, case,
    punctuation and a leading article removed ("The Matrix (1999)" → "matrix")."""
    m = _YEAR_RE.search(text)
    return _norm(text[: m.start()] if m and m.start() > 0 else text)
