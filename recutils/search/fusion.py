"""Reciprocal-rank fusion (RRF) of several searchers.

Each method ranks the documents; a document's fused score is ``Σ_m 1 / (c + rank_m)``
over the methods that rank it within their top ``depth`` (rank counted from 1;
Cormack et al. 2009 use ``c = 60``). Scores are never mixed, only ranks, so TF-IDF and
cosine scales do not matter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from ..evaluation import top_k
from .base import Searcher


@dataclass(frozen=True)
class FusionConfig:
    """RRF constant ``c`` and how deep each method's ranking is read."""

    c: float = 60.0
    depth: int = 100


def rrf_scores(score_matrices: Sequence[np.ndarray], c: float = 60.0, depth: int = 100, floors=None) -> np.ndarray:
    """Fuse several ``(n_queries, n_docs)`` score matrices by reciprocal rank.

    ``floors[m]`` (optional) is the score at or below which method ``m`` does not rank a
    document at all (e.g. 0 for TF-IDF: no word in common). Returns float32 fused scores,
    0 for documents no method ranks.
    """
    mats = [np.asarray(s) for s in score_matrices]
    n_q, n_docs = mats[0].shape
    if any(s.shape != (n_q, n_docs) for s in mats):
        raise ValueError("all score matrices must have the same shape")
    floors = [None] * len(mats) if floors is None else floors
    fused = np.zeros((n_q, n_docs), dtype=np.float32)
    rows = np.arange(n_q)[:, None]
    contrib = (1.0 / (c + np.arange(1, min(depth, n_docs) + 1))).astype(np.float32)
    for s, floor in zip(mats, floors):
        idx = top_k(s, depth)  # (n_q, depth), best first; rows have distinct indices
        w = np.broadcast_to(contrib[: idx.shape[1]], idx.shape)
        if floor is not None and np.isfinite(floor):
            w = np.where(np.take_along_axis(s, idx, axis=1) > floor, w, 0.0)
        fused[rows, idx] += w
    return fused


class FusionSearch(Searcher):
    """RRF over several searchers built on the same corpus (same movies, same order)."""

    @property
    def determinism(self) -> str:
        return "kernel" if any(s.determinism == "kernel" for s in self.searchers) else "exact"

    def __init__(self, searchers: Sequence[Searcher], config: FusionConfig = FusionConfig()):
        if len(searchers) < 2:
            raise ValueError("fusion needs at least two searchers")
        first = searchers[0]
        for s in searchers[1:]:
            if not np.array_equal(s.movie_ids, first.movie_ids):
                raise ValueError("fused searchers must index the same movies in the same order")
        super().__init__(first.movie_ids, first.titles)
        self.searchers = list(searchers)
        self.config = config
        self.name = "rrf(" + "+".join(s.name for s in searchers) + ")"

    def config_dict(self) -> dict:
        return {"method": self.name, **asdict(self.config)}

    def fuse(self, score_matrices: Sequence[np.ndarray]) -> np.ndarray:
        """Fuse already computed per-searcher score matrices (same order as ``searchers``)."""
        floors = [s.min_score() for s in self.searchers]
        return rrf_scores(score_matrices, self.config.c, self.config.depth, floors)

    def score_matrix(self, queries: Sequence[str]) -> np.ndarray:
        return self.fuse([s.score_matrix(queries) for s in self.searchers])

    def score_one(self, query: str) -> np.ndarray:
        return self.fuse([s.score_one(query)[None, :] for s in self.searchers])[0]

    def min_score(self) -> float:
        return 0.0
