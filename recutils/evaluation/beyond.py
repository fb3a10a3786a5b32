"""Beyond accuracy: rank of the first hit, popularity bias, novelty, diversity, segments.

All functions take the top-k lists (``topk``: ``n_users × k`` item indices, best first) that
:func:`recutils.evaluation.evaluate_ranking` returns, plus what the definition needs (the
training interactions for popularity, an item × genre matrix or item embeddings for
diversity). Per-user metrics return one value per row, so that paired bootstrap intervals
(:mod:`recutils.evaluation.bootstrap`) and segment means (:func:`segment_means`) are one call.

Definitions (``L_u`` = user u's top-k list, ``pop_i`` = number of training users who
interacted with item ``i``, ``U`` = number of training users):

- **MRR@k** (:func:`reciprocal_rank_at_k`): ``1 / rank`` of the first relevant item in
  ``L_u`` (ranks from 1), 0 when none is; NaN for users without relevant items.
- **Catalogue coverage**: :func:`recutils.evaluation.coverage_at_k`.
- **Average recommended popularity** (:func:`average_popularity`): ``mean_{i∈L_u} pop_i / U``
  per user — the share of users who know the recommended movies (Abdollahpouri et al. 2019).
- **Popularity Gini** (:func:`exposure_gini`): Gini coefficient of how often each candidate
  item appears across all lists (0: every item recommended equally often; → 1: a few items
  get all exposures). Items never recommended count as zeros.
- **Novelty** (:func:`novelty`): mean self-information ``mean_{i∈L_u} −log2 p_i`` with
  ``p_i = (pop_i + 1) / (U + 1)`` (add-one so that items nobody rated are finite; Zhou et al.
  2010 without smoothing).
- **Intra-list diversity** (:func:`intra_list_diversity`): mean pairwise distance over the
  ``k(k−1)/2`` pairs of ``L_u``; with a binary item × genre matrix the distance is the
  Jaccard distance ``1 − |G_i ∩ G_j| / |G_i ∪ G_j|`` (0 when both have no genre), with
  L2-normalised embeddings it is the cosine distance ``1 − cos``.

References
----------
Zhou, T. et al. (2010). Solving the apparent diversity–accuracy dilemma of recommender
systems. PNAS 107(10).
Abdollahpouri, H. et al. (2019). The unfairness of popularity bias in recommendation. RMSE
workshop, RecSys.
Ziegler, C.-N. et al. (2005). Improving recommendation lists through topic diversification. WWW.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = [
    "reciprocal_rank_at_k", "item_popularity", "average_popularity", "exposure_gini", "novelty",
    "intra_list_diversity", "beyond_accuracy", "SegmentMean", "segment_means", "activity_terciles",
    "popularity_bins", "genre_matrix", "metrics_by_k", "recall_by_item_bin", "mean_ci",
]


def reciprocal_rank_at_k(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    """MRR@k per user: ``1 / (1 + position of the first hit)``, 0 without a hit, NaN where
    ``|R_u| = 0`` (``hits``: the ``n_users × k`` boolean matrix of :func:`topk_hits`)."""
    hits = np.asarray(hits, bool)
    first = np.argmax(hits, axis=1)
    rr = np.where(hits.any(axis=1), 1.0 / (first + 1.0), 0.0)
    return np.where(np.asarray(n_rel) > 0, rr, np.nan)


def item_popularity(train: sp.spmatrix) -> np.ndarray:
    """``pop_i``: how many users (rows of ``train``, any nonzero) interacted with each item."""
    X = sp.csr_matrix(train)
    return np.bincount(X.indices, minlength=X.shape[1]).astype(np.int64) if X.nnz else np.zeros(X.shape[1], np.int64)


def _check_topk(topk: np.ndarray, n_items: int) -> np.ndarray:
    topk = np.asarray(topk)
    if topk.ndim != 2:
        raise ValueError(f"topk must be a 2-d array (users × k), got shape {topk.shape}")
    if topk.size and (topk.min() < 0 or topk.max() >= n_items):
        raise ValueError(f"topk holds item indices outside 0..{n_items - 1}")
    return topk.astype(np.int64, copy=False)


def average_popularity(topk: np.ndarray, popularity: np.ndarray, n_users: int) -> np.ndarray:
    """Per user: mean of ``popularity[i] / n_users`` over the items of their list."""
    pop = np.asarray(popularity, float)
    topk = _check_topk(topk, len(pop))
    if topk.shape[1] == 0:
        return np.full(topk.shape[0], np.nan)
    return (pop[topk] / max(int(n_users), 1)).mean(axis=1)


def exposure_gini(topk: np.ndarray, n_items: int, candidates: np.ndarray | None = None) -> float:
    """Gini coefficient of item exposure over all lists: ``Σ_j (2j − n − 1) x_(j) / (n Σ x)``
    with ``x_(1) ≤ … ≤ x_(n)`` the exposure counts of the ``n`` candidate items (all items, or
    those where the boolean mask ``candidates`` is true). 0 when nothing is recommended."""
    topk = _check_topk(topk, n_items)
    counts = np.bincount(topk.ravel(), minlength=n_items).astype(float)
    if candidates is not None:
        counts = counts[np.asarray(candidates, bool)]
    n, total = len(counts), counts.sum()
    if n == 0 or total == 0:
        return 0.0
    x = np.sort(counts)
    j = np.arange(1, n + 1)
    return float(((2 * j - n - 1) * x).sum() / (n * total))


def novelty(topk: np.ndarray, popularity: np.ndarray, n_users: int) -> np.ndarray:
    """Per user: mean self-information ``−log2((pop_i + 1) / (n_users + 1))`` of their list."""
    pop = np.asarray(popularity, float)
    topk = _check_topk(topk, len(pop))
    if topk.shape[1] == 0:
        return np.full(topk.shape[0], np.nan)
    info = -np.log2((pop + 1.0) / (max(int(n_users), 0) + 1.0))
    return info[topk].mean(axis=1)


def intra_list_diversity(topk: np.ndarray, features, metric: str = "jaccard", batch_size: int = 4096) -> np.ndarray:
    """Per user: mean pairwise distance within the list (NaN for lists shorter than 2).

    ``features``: for ``metric="jaccard"`` a binary item × genre matrix (dense or sparse);
    for ``metric="cosine"`` item embeddings (rows are L2-normalised here). Users are processed
    in batches of ``batch_size`` (memory ``batch · k² `` floats).
    """
    if metric not in ("jaccard", "cosine"):
        raise ValueError(f"metric must be 'jaccard' or 'cosine', got {metric!r}")
    F = features.toarray() if sp.issparse(features) else np.asarray(features)
    F = F.astype(np.float64)
    topk = _check_topk(topk, F.shape[0])
    n_users, k = topk.shape
    if k < 2:
        return np.full(n_users, np.nan)
    if metric == "cosine":
        norms = np.linalg.norm(F, axis=1, keepdims=True)
        F = F / np.where(norms > 0, norms, 1.0)
    else:
        F = (F > 0).astype(np.float64)
    iu = np.triu_indices(k, 1)
    out = np.empty(n_users)
    for s in range(0, n_users, batch_size):
        L = F[topk[s:s + batch_size]]  # b × k × d
        inner = L @ L.transpose(0, 2, 1)  # b × k × k
        if metric == "cosine":
            dist = 1.0 - inner
        else:
            size = L.sum(axis=2)
            union = size[:, :, None] + size[:, None, :] - inner
            dist = np.where(union > 0, 1.0 - inner / np.where(union > 0, union, 1.0), 0.0)
        out[s:s + batch_size] = dist[:, iu[0], iu[1]].mean(axis=1)
    return out


def beyond_accuracy(topk: np.ndarray, train: sp.spmatrix, genres=None, embeddings=None,
                    candidates: np.ndarray | None = None) -> dict[str, float]:
    """The list-level metrics of one model's top-k lists as means over users: coverage, average
    popularity, popularity Gini, novelty and (when ``genres`` / ``embeddings`` are given)
    intra-list diversity. ``train``: users × items training interactions (popularity)."""
    from .metrics import coverage_at_k

    X = sp.csr_matrix(train)
    n_users, n_items = X.shape
    pop = item_popularity(X)
    n_cand = int(np.asarray(candidates, bool).sum()) if candidates is not None else n_items
    out = {
        "coverage": coverage_at_k(topk, n_cand),
        "avg_popularity": float(np.nanmean(average_popularity(topk, pop, n_users))),
        "popularity_gini": exposure_gini(topk, n_items, candidates),
        "novelty": float(np.nanmean(novelty(topk, pop, n_users))),
    }
    if genres is not None:
        out["ild_genre"] = float(np.nanmean(intra_list_diversity(topk, genres, "jaccard")))
    if embeddings is not None:
        out["ild_embedding"] = float(np.nanmean(intra_list_diversity(topk, embeddings, "cosine")))
    return out


def genre_matrix(movies, items) -> sp.csr_matrix:
    """Binary ``len(items) × n_genres`` matrix of each item's MovieLens genres (``movies``: a
    frame with ``movieId`` and ``genres`` as ``"A|B"`` strings or lists; ``"(no genres listed)"``
    and unknown movies have no genre), columns in sorted genre order."""
    g = movies.set_index("movieId")["genres"].reindex(np.asarray(items))
    lists = [[x for x in (v.split("|") if isinstance(v, str) else list(v) if isinstance(v, (list, tuple, np.ndarray))
                          else []) if x and x != "(no genres listed)"] for v in g]
    vocab = sorted({x for lst in lists for x in lst})
    pos = {x: j for j, x in enumerate(vocab)}
    rows = [r for r, lst in enumerate(lists) for _ in lst]
    cols = [pos[x] for lst in lists for x in lst]
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(lists), len(vocab)))


def metrics_by_k(topk: np.ndarray, relevant: sp.spmatrix, ks) -> dict[str, list[float]]:
    """Mean P/R/NDCG/MAP and MRR at each cut-off in ``ks`` from one deep ``topk`` (its width ≥
    max(ks); rows aligned with ``relevant``'s rows; users without relevant items left out)."""
    from .metrics import ranking_metrics, topk_hits

    rel = sp.csr_matrix(relevant)
    n_rel = np.diff(rel.indptr)
    keep = n_rel > 0
    ks = [int(k) for k in ks]
    if max(ks) > topk.shape[1]:
        raise ValueError(f"topk has {topk.shape[1]} columns, fewer than the largest cut-off {max(ks)}")
    out: dict[str, list[float]] = {m: [] for m in ("precision", "recall", "ndcg", "map", "mrr")}
    for k in ks:
        per = ranking_metrics(topk[keep, :k], rel[keep], k)
        per["mrr"] = reciprocal_rank_at_k(topk_hits(topk[keep, :k], rel[keep]), n_rel[keep])
        for m in out:
            out[m].append(float(np.nanmean(per[m])) if keep.any() else float("nan"))
    return out


# --- segments --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SegmentMean:
    segment: str
    n: int  #: users (or rows) with a value in the segment
    mean: float
    low: float  #: percentile bootstrap interval of the mean
    high: float


def segment_means(values, segments, n_boot: int = 1000, level: float = 0.95,
                  rng: np.random.Generator | int | None = 0) -> list[SegmentMean]:
    """Mean of ``values`` within each segment label, with a percentile bootstrap CI
    (rows resampled with replacement within the segment). NaN values are dropped; segments
    appear in sorted label order."""
    values = np.asarray(values, float)
    segments = np.asarray(segments)
    if values.shape != segments.shape:
        raise ValueError(f"values and segments differ in shape: {values.shape} vs {segments.shape}")
    rng = np.random.default_rng(rng)
    alpha = (1 - level) / 2
    out = []
    for label in sorted(set(segments.tolist())):
        v = values[(segments == label) & ~np.isnan(values)]
        if len(v) == 0:
            out.append(SegmentMean(str(label), 0, float("nan"), float("nan"), float("nan")))
            continue
        means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
        lo, hi = np.quantile(means, [alpha, 1 - alpha])
        out.append(SegmentMean(str(label), int(len(v)), float(v.mean()), float(lo), float(hi)))
    return out


def activity_terciles(train: sp.spmatrix, users: np.ndarray) -> np.ndarray:
    """``"1 low" / "2 mid" / "3 high"`` activity tercile of each of ``users`` (by their number
    of training interactions; cut points are the 1/3 and 2/3 quantiles over ``users``)."""
    X = sp.csr_matrix(train)
    counts = np.diff(X.indptr)[np.asarray(users, np.int64)]
    if len(counts) == 0:
        return np.zeros(0, dtype=object)
    q1, q2 = np.quantile(counts, [1 / 3, 2 / 3])
    return np.where(counts <= q1, "1 low", np.where(counts <= q2, "2 mid", "3 high")).astype(object)


def popularity_bins(popularity: np.ndarray, edges=(0.2, 0.5)) -> np.ndarray:
    """Each item's popularity bin by its share of all interactions, most popular first:
    ``"head"`` items together hold the first ``edges[0]`` of interactions, ``"mid"`` up to
    ``edges[1]``, the rest ``"tail"`` (never-rated items are tail)."""
    pop = np.asarray(popularity, float)
    order = np.argsort(-pop, kind="stable")
    total = pop.sum()
    share = np.cumsum(pop[order]) / total if total > 0 else np.ones(len(pop))
    before = share - (pop[order] / total if total > 0 else 0)  # share held by more popular items
    lab = np.where(before < edges[0], "head", np.where(before < edges[1], "mid", "tail")).astype(object)
    out = np.empty(len(pop), dtype=object)
    out[order] = lab
    return out


def recall_by_item_bin(topk: np.ndarray, relevant: sp.spmatrix, bins: np.ndarray) -> dict[str, np.ndarray]:
    """Per user, recall@k restricted to the relevant items of each item bin (e.g.
    :func:`popularity_bins`): ``{bin: per-user array}``, NaN for users with no relevant item in
    that bin. Shows whether a model finds only the head or also the tail."""
    from .metrics import n_relevant, topk_hits

    rel = sp.csr_matrix(relevant)
    bins = np.asarray(bins)
    if len(bins) != rel.shape[1]:
        raise ValueError(f"bins has {len(bins)} labels for {rel.shape[1]} items")
    out = {}
    for label in sorted(set(bins.tolist())):
        mask = sp.diags((bins == label).astype(float))
        rb = (rel @ mask).tocsr()
        rb.eliminate_zeros()
        nr = n_relevant(rb)
        hits = topk_hits(topk, rb).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[str(label)] = np.where(nr > 0, hits / np.maximum(nr, 1), np.nan)
    return out


def mean_ci(values, n_boot: int = 1000, level: float = 0.95, rng: np.random.Generator | int | None = 0
            ) -> tuple[float, float, float]:
    """Mean of ``values`` (NaN dropped) with a percentile bootstrap interval: the error bar of
    one bar in a chart."""
    (s,) = segment_means(values, np.zeros(len(np.asarray(values)), dtype=int), n_boot, level, rng)
    return s.mean, s.low, s.high
