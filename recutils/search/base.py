"""What every prompt-search method shares: prompt checks, the corpus, top-k results.

A searcher holds a corpus (``movieId`` and ``title`` per document, in row order) and
implements :meth:`Searcher.score_matrix` (queries × documents, higher is better). The
single-prompt :meth:`Searcher.search` and the benchmark are built on that one method.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..constants import COL_ITEM, COL_TITLE
from ..datasets import TextBuilder
from ..config import check_k  # noqa: F401  (re-exported: the one k rule)
from ..errors import RecutilsError
from ..evaluation import top_k

#: The index texts of every search method: title, genres and TMDB overview — never tags
#: (tags are the benchmark's queries, so indexing them would leak the answers).
SEARCH_TEXT = TextBuilder(fields=("title", "genres", "overview"), style="plain")

#: Prompts longer than this are cut (at a word boundary) before searching.
MAX_PROMPT_CHARS = 1000


def clean_prompt(prompt, max_chars: int = MAX_PROMPT_CHARS) -> str:
    """A search prompt, checked and tidied: whitespace collapsed, cut to ``max_chars``.

    Raises :class:`RecutilsError` for a non-string, an empty / whitespace-only prompt, or
    one without a single letter or digit (e.g. only emoji or punctuation).
    """
    if not isinstance(prompt, str):
        raise RecutilsError(f"a search prompt must be text, got {type(prompt).__name__}")
    text = " ".join(prompt.split())
    if not text:
        raise RecutilsError("the search prompt is empty: describe the movie you are looking for in a few words")
    if len(text) > max_chars:
        cut = text[:max_chars]
        text = cut.rsplit(" ", 1)[0] if " " in cut else cut
    if not any(ch.isalnum() for ch in text):
        raise RecutilsError(
            f"the search prompt {prompt[:40]!r} has no letters or digits to search for: describe the movie in words"
        )
    return text


class Searcher:
    """Base class: a corpus of movies plus a query × document scoring function."""

    name = "searcher"
    max_prompt_chars = MAX_PROMPT_CHARS
    #: "exact" (closed form: TF-IDF) or "kernel" (text embeddings: recutils.provenance)
    determinism = "exact"

    def __init__(self, movie_ids: Sequence[int], titles: Sequence[str]):
        self.movie_ids = np.asarray(movie_ids, dtype=np.int64)
        self.titles = np.asarray(titles, dtype=object)
        if len(self.movie_ids) != len(self.titles):
            raise ValueError("movie_ids and titles must have the same length")
        if len(self.movie_ids) == 0:
            raise RecutilsError("cannot search an empty corpus: give at least one movie")

    @property
    def n_docs(self) -> int:
        return len(self.movie_ids)

    def score_matrix(self, queries: Sequence[str]) -> np.ndarray:
        """Scores ``(len(queries), n_docs)``, float32, higher is better (queries already cleaned)."""
        raise NotImplementedError

    def score_one(self, query: str) -> np.ndarray:
        """Scores ``(n_docs,)`` for one cleaned prompt (what :meth:`search` uses)."""
        return self.score_matrix([query])[0]

    def min_score(self) -> float:
        """Documents scoring at or below this are not returned by :meth:`search`."""
        return -np.inf

    def _top_rows(self, scores: np.ndarray, k: int) -> np.ndarray:
        """Rows of the top-``k`` documents of one score vector that score above :meth:`min_score`."""
        idx = top_k(scores[None, :], k)[0]
        return idx[scores[idx] > self.min_score()]

    def top(self, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The top-``k`` documents of one score vector: ``(movie_ids, scores)`` arrays, best first."""
        idx = self._top_rows(scores, k)
        return self.movie_ids[idx], scores[idx].astype(np.float64)

    def results(self, scores: np.ndarray, k: int) -> pd.DataFrame:
        """The top-``k`` rows of one score vector as ``DataFrame(movieId, title, score)``."""
        idx = self._top_rows(scores, k)
        return pd.DataFrame(
            {COL_ITEM: self.movie_ids[idx], COL_TITLE: self.titles[idx], "score": scores[idx].astype(np.float64)}
        )

    def search_top(self, prompt: str, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """What :meth:`search` finds, as ``(movie_ids, scores)`` arrays (no DataFrame: the
        service's per-request path)."""
        k = check_k(k)
        return self.top(self.score_one(clean_prompt(prompt, self.max_prompt_chars)), k)

    def search(self, prompt: str, k: int = 10) -> pd.DataFrame:
        """The ``k`` best movies for a free-text prompt: ``DataFrame(movieId, title, score)``.

        Fewer than ``k`` rows when fewer documents match at all (e.g. no word in common).
        """
        k = check_k(k)
        text = clean_prompt(prompt, self.max_prompt_chars)
        return self.results(self.score_one(text), k)


def corpus_texts(movies: pd.DataFrame, builder: TextBuilder = SEARCH_TEXT) -> list[str]:
    """The index text of every movie (row order) — see :data:`SEARCH_TEXT`."""
    if "tags" in builder.fields:
        raise RecutilsError("search texts must not include tags: the tag benchmark would leak its answers")
    return builder.build(movies)
