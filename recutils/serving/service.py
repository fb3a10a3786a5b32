"""The recommendation service's logic, independent of HTTP (so it is unit-testable).

Built at start-up from the data directory — nothing pickled is loaded: the CF model is fitted
on all ratings (EASE fits in well under a second) and the prompt index is built from the
movie table (dense embeddings come from the on-disk embedding cache).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from rapidfuzz import fuzz

from ..constants import COL_ITEM, COL_TITLE, COL_USER
from ..errors import NotFoundError, RecutilsError
from ..config import param, validate_config
from ..similarity import cosine_to, unit_columns

MODES = ("auto", "title", "prompt")
SEARCH_METHODS = ("tfidf", "dense", "fusion")


def _is_model(name) -> bool:
    from ..models import available

    return name in available()


@dataclass
class ServiceConfig:
    model: str = param("ease", check=_is_model, expect="a registered model")  #: any registered model (python -m recutils.models list)
    #: "tfidf", "dense" or "fusion" (tfidf + dense, reciprocal-rank fusion)
    search: str = param("tfidf", choices=SEARCH_METHODS)
    dense_model: str = param("sentence-transformers/all-MiniLM-L6-v2", check=lambda v: bool(v.strip()),
                             expect="a model name")
    max_k: int = param(100, ge=1)
    #: in ``auto`` mode a query is taken as a title when its best fuzzy title match has a
    #: full-string similarity (rapidfuzz ``ratio``) at least this high
    title_threshold: float = param(85.0, ge=0, le=100)
    #: support shrinkage of the item-to-item cosine behind "similar to this title"
    similar_shrinkage: float = param(20.0, gt=0)


class RecService:
    """User recommendations and title-or-prompt search over MovieLens + TMDB."""

    def __init__(self, config: ServiceConfig | None = None, data_dir=None, ratings: pd.DataFrame | None = None,
                 movies: pd.DataFrame | None = None):
        from ..datasets import load_ratings, movie_table
        from ..models import create
        from ..search import TitleIndex
        from ..splits import make_split

        self.config = validate_config(config or ServiceConfig(), "service config")
        t0 = time.perf_counter()
        ratings = load_ratings(data_dir) if ratings is None else ratings
        self.movies = (movie_table(data_dir) if movies is None else movies).reset_index(drop=True)
        self.split = make_split("all", ratings, ratings.iloc[:0])
        self.model = create(self.config.model, item_table=self.movies).fit(self.split)
        self._Xn = unit_columns(self.split.train_ratings)
        self._XnT = self._Xn.T.tocsr()
        self._B = self.split.train_binary.tocsc()
        self._BT = self._B.T.tocsr()
        counts = ratings[COL_ITEM].value_counts()
        self.titles = TitleIndex.from_movies(self.movies, popularity=self.movies[COL_ITEM].map(counts).fillna(0).to_numpy())
        self.searcher = self._build_searcher(data_dir)
        self._title_of = pd.Series(self.movies[COL_TITLE].to_numpy(), index=self.movies[COL_ITEM].to_numpy())
        self.startup_seconds = time.perf_counter() - t0

    def _build_searcher(self, data_dir):
        from ..search import DenseConfig, DenseSearch, FusionSearch, TfidfSearch

        kind = self.config.search
        if kind not in SEARCH_METHODS:
            raise RecutilsError(f"unknown search method {kind!r}; choose tfidf, dense or fusion")
        tfidf = TfidfSearch.from_movies(self.movies) if kind in ("tfidf", "fusion") else None
        dense = DenseSearch.from_movies(self.movies, DenseConfig(self.config.dense_model)) if kind != "tfidf" else None
        if kind == "fusion":
            return FusionSearch([tfidf, dense])
        return tfidf or dense

    # --- helpers -----------------------------------------------------------------------
    def _k(self, k) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= self.config.max_k:
            raise RecutilsError(f"k must be a whole number from 1 to {self.config.max_k}, got {k!r}")
        return int(k)

    def _rows(self, movie_ids, scores) -> list[dict]:
        return [
            {"rank": r + 1, COL_ITEM: int(m), COL_TITLE: str(self._title_of.get(m, "")), "score": round(float(s), 6)}
            for r, (m, s) in enumerate(zip(movie_ids, scores))
        ]

    # --- endpoints' logic --------------------------------------------------------------
    def info(self) -> dict:
        return {"status": "ok", "config": asdict(self.config), "n_users": int(self.split.n_users),
                "n_items": int(self.split.n_items), "n_movies": int(len(self.movies)),
                "startup_seconds": round(self.startup_seconds, 3)}

    def user_recommend(self, user_id: int, k: int = 10) -> dict:
        """Top-``k`` unseen movies for a known user."""
        k = self._k(k)
        if self.split.uidx(user_id)[0] < 0:
            raise NotFoundError(f"unknown user {user_id}: user ids run from {self.split.users.min()} to {self.split.users.max()}")
        recs = self.model.recommend(user_id, k=k)
        return {COL_USER: int(user_id), "model": self.model.name, "items": self._rows(recs[COL_ITEM], recs["score"])}

    def similar_to(self, movie_id: int, k: int = 10) -> list[dict]:
        """Movies most similar to one movie: rating cosine with support shrinkage
        (s · n_co / (n_co + shrinkage)) when it has ratings, else content similarity from the
        prompt index. One sparse column product per request — no item × item matrix is kept."""
        j = self.split.iidx(movie_id)[0]
        if j >= 0 and self._Xn[:, j].nnz:
            sims = cosine_to(self._Xn, self._XnT, self._B, self._BT, [j], self.config.similar_shrinkage)[:, 0]
            sims[j] = 0.0
            idx = np.flatnonzero(sims > 0)
            idx = idx[np.lexsort((idx, -sims[idx]))][:k]
            return self._rows(self.split.items[idx], sims[idx])
        from ..search import corpus_texts

        row = self.movies.index[self.movies[COL_ITEM] == movie_id]
        if not len(row):
            raise NotFoundError(f"unknown movie {movie_id}")
        res = self.searcher.search(corpus_texts(self.movies.loc[row])[0], k + 1)
        res = res[res[COL_ITEM] != movie_id].head(k)
        return self._rows(res[COL_ITEM], res["score"])

    def _is_title(self, query: str, clean_title: str) -> bool:
        """A query is a title when, ignoring case, punctuation, a leading article and a
        trailing year, the matched title starts with it or is close to it as a whole."""
        from ..search.titles import title_key

        q, t = title_key(query), title_key(clean_title)
        return (len(q) >= 3 and t.startswith(q)) or fuzz.ratio(q, t) >= self.config.title_threshold

    def title_or_prompt(self, q: str, k: int = 10, mode: str = "auto") -> dict:
        """A title ("star wars") gives movies similar to it; anything else is a prompt search."""
        from ..search import clean_prompt

        k = self._k(k)
        if mode not in MODES:
            raise RecutilsError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        text = clean_prompt(q)
        if mode in ("auto", "title"):
            hits = self.titles.find(text, k=1, min_score=60.0)
            if not hits.empty:
                best = hits.iloc[0]
                clean = self.movies.loc[self.movies[COL_ITEM] == best[COL_ITEM], "clean_title"].iloc[0]
                if mode == "title" or self._is_title(text, str(clean)):
                    return {"query": text, "mode": "title",
                            "matched": {COL_ITEM: int(best[COL_ITEM]), COL_TITLE: str(best[COL_TITLE])},
                            "items": self.similar_to(int(best[COL_ITEM]), k)}
            elif mode == "title":
                raise NotFoundError(f"no movie title looks like {text!r}")
        res = self.searcher.search(text, k)
        return {"query": text, "mode": "prompt", "method": self.searcher.name,
                "items": self._rows(res[COL_ITEM], res["score"])}
