"""TF-IDF prompt search (scikit-learn) over title + genres + overview."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from ..constants import COL_ITEM, COL_TITLE
from ..datasets import TextBuilder
from ..errors import RecutilsError
from .base import SEARCH_TEXT, Searcher, corpus_texts


@dataclass(frozen=True)
class TfidfConfig:
    """TF-IDF settings: word uni+bi-grams, English stop words, sub-linear tf, L2-normalised rows."""

    ngram_max: int = 2
    min_df: int = 1
    max_df: float = 0.5
    sublinear_tf: bool = True
    stop_words: str | None = "english"


class TfidfSearch(Searcher):
    """Cosine similarity between the prompt's and each movie's TF-IDF vector."""

    name = "tfidf"

    def __init__(self, texts: Sequence[str], movie_ids, titles, config: TfidfConfig = TfidfConfig()):
        super().__init__(movie_ids, titles)
        if len(texts) != self.n_docs:
            raise ValueError("one text per movie is needed")
        self.config = config
        self.vectorizer = TfidfVectorizer(
            ngram_range=(1, config.ngram_max),
            min_df=config.min_df,
            max_df=config.max_df if len(texts) > 1 else 1.0,
            sublinear_tf=config.sublinear_tf,
            stop_words=config.stop_words,
            strip_accents="unicode",
            dtype=np.float32,
        )
        try:
            self.doc_matrix = self.vectorizer.fit_transform(list(texts)).tocsr()
        except ValueError as exc:  # e.g. every text empty or only stop words
            raise RecutilsError(f"cannot build a TF-IDF index from these texts: {exc}") from None

    @classmethod
    def from_movies(cls, movies: pd.DataFrame, builder: TextBuilder = SEARCH_TEXT, config: TfidfConfig = TfidfConfig()):
        """Index a movie table (as from :func:`recutils.datasets.movie_table`)."""
        return cls(corpus_texts(movies, builder), movies[COL_ITEM].to_numpy(), movies[COL_TITLE].to_numpy(), config)

    def config_dict(self) -> dict:
        return {"method": self.name, **asdict(self.config), "vocabulary": len(self.vectorizer.vocabulary_)}

    def score_matrix(self, queries: Sequence[str]) -> np.ndarray:
        q = self.vectorizer.transform(list(queries))
        return np.asarray((q @ self.doc_matrix.T).toarray(), dtype=np.float32)

    def min_score(self) -> float:
        return 0.0  # no word in common: not a match
