"""A retrieval benchmark built from MovieLens tags.

Every tag (lower-cased, stripped) that users applied to at least ``min_movies`` distinct
movies of the index becomes a query; its relevant set is the movies carrying it. The
index texts never contain tags (:data:`recutils.search.base.SEARCH_TEXT`), so a method
can only find the movies from their title, genres and overview.

Evaluation is vectorised: all queries are scored at once (one ``queries × movies``
matrix), the top-k taken with ``argpartition`` (:func:`recutils.evaluation.top_k`) and
the metrics computed by :func:`recutils.evaluation.ranking_metrics`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..constants import COL_ITEM
from ..errors import RecutilsError
from ..evaluation import ranking_metrics, top_k
from .base import Searcher


@dataclass
class TagBenchmark:
    """Queries (tag strings) and their relevant movies (CSR ``n_queries × n_movies`` of 0/1,
    columns in the index's movie order)."""

    queries: list[str]
    relevant: sp.csr_matrix
    movie_ids: np.ndarray

    @property
    def n_queries(self) -> int:
        return len(self.queries)

    def summary(self) -> dict:
        sizes = np.diff(self.relevant.indptr)
        return {
            "n_queries": self.n_queries,
            "n_movies": int(len(self.movie_ids)),
            "relevant_per_query_median": float(np.median(sizes)) if len(sizes) else 0.0,
            "relevant_per_query_max": int(sizes.max()) if len(sizes) else 0,
        }


def tag_benchmark(tags: pd.DataFrame, movie_ids, min_movies: int = 3, max_queries: int | None = None) -> TagBenchmark:
    """Build the tag benchmark over the movies ``movie_ids`` (the index, in its order).

    ``tags`` has ``movieId`` and ``tag`` columns (as from :func:`recutils.datasets.load_tags`).
    Queries are sorted by number of relevant movies (most first), then alphabetically;
    ``max_queries`` keeps the first ones.
    """
    movie_ids = np.asarray(movie_ids, dtype=np.int64)
    pos = pd.Series(np.arange(len(movie_ids)), index=movie_ids)
    t = pd.DataFrame({"tag": tags["tag"].astype(str).str.strip().str.lower(), "col": tags[COL_ITEM].map(pos)})
    t = t[(t["tag"] != "") & (t["tag"] != "nan") & t["col"].notna()].drop_duplicates()
    counts = t.groupby("tag")["col"].size()
    counts = counts[counts >= min_movies]
    if counts.empty:
        raise RecutilsError(f"no tag is applied to {min_movies}+ of these {len(movie_ids)} movies: index more movies")
    order = sorted(counts.index, key=lambda q: (-counts[q], q))
    if max_queries is not None:
        order = order[:max_queries]
    qpos = pd.Series(np.arange(len(order)), index=order)
    t = t[t["tag"].isin(qpos.index)]
    rows = t["tag"].map(qpos).to_numpy()
    cols = t["col"].to_numpy(dtype=np.int64)
    rel = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(order), len(movie_ids)))
    rel.sort_indices()
    return TagBenchmark(list(order), rel, movie_ids)


def evaluate_scores(scores: np.ndarray, bench: TagBenchmark, k: int = 10) -> dict[str, np.ndarray]:
    """Per-query ``ndcg@k`` and ``recall@k`` for a ``(n_queries, n_movies)`` score matrix."""
    if scores.shape != bench.relevant.shape:
        raise ValueError(f"scores {scores.shape} do not match the benchmark {bench.relevant.shape}")
    m = ranking_metrics(top_k(scores, k), bench.relevant, k)
    return {f"ndcg@{k}": m["ndcg"], f"recall@{k}": m["recall"]}


def evaluate_searcher(searcher: Searcher, bench: TagBenchmark, k: int = 10, scores: np.ndarray | None = None) -> dict:
    """One table row: method, n_queries, ndcg@k, recall@k (means) and the scoring time.

    ``scores`` may be passed when already computed (e.g. to fuse them afterwards).
    """
    if not np.array_equal(searcher.movie_ids, bench.movie_ids):
        raise ValueError("the searcher and the benchmark must index the same movies in the same order")
    t0 = time.perf_counter()
    if scores is None:
        scores = searcher.score_matrix(bench.queries)
    seconds = time.perf_counter() - t0
    per_query = evaluate_scores(scores, bench, k)
    row = {"method": searcher.name, "n_queries": bench.n_queries}
    row.update({name: float(np.nanmean(v)) for name, v in per_query.items()})
    row["score_seconds"] = seconds
    return row


def most_tagged(movies: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` movies with the most distinct tags (ties: lower ``movieId``), in ``movieId`` order.

    For small, fast runs whose tag benchmark still has queries; ``n <= 0`` keeps every movie.
    """
    if n <= 0 or n >= len(movies):
        return movies.reset_index(drop=True)
    n_tags = movies["tags"].map(len).to_numpy()
    order = np.lexsort((movies[COL_ITEM].to_numpy(), -n_tags))[:n]
    return movies.iloc[np.sort(order)].reset_index(drop=True)
