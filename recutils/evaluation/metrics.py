"""Ranking and rating metrics, computed for all users at once.

Every ranking metric is fed by one helper, :func:`topk_hits`: given each user's top-k
item indices (``n_users × k``, best first) and the relevance matrix (``n_users × n_items``
CSR of 0/1), it returns the ``n_users × k`` boolean hit matrix. Metrics are then sums and
dot products over that matrix: no per-user loop anywhere.

Conventions: a user's relevant set ``R_u`` is their test items rated ≥ 4.0 that exist in the
item universe; users with ``|R_u| = 0`` are not evaluable and are left out of averages.
Each function returns a per-user array (one value per row) so that paired comparisons
(:mod:`recutils.evaluation.bootstrap`) are one call.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores per row, best first.

    Ties are broken by lower item index first — also at the k-th place, so that *which* tied
    items make the cut never depends on the CPU: ``np.argpartition`` picks an arbitrary subset
    of the items tied at the boundary, and which one depends on the SIMD kernel numpy
    dispatches to (AVX-512, AVX2 or baseline pick differently; MostPop's equal counts are
    such ties). Rows where ``argpartition`` left out an item tied with the k-th value are
    redone by :func:`_top_k_set`, which takes tied items in index order.
    ``-inf`` scores (excluded items) sort last; NaN counts as ``-inf``. Float rows go through a
    compiled one-pass heap (:mod:`~recutils.evaluation.topk_kernel`, the same lists).
    """
    scores = np.asarray(scores)
    n_rows, n_items = scores.shape
    k = min(k, n_items)
    if k <= 0:
        return np.zeros((n_rows, 0), dtype=np.int64)
    if scores.dtype in (np.float32, np.float64) and n_rows and n_items:
        from .topk_kernel import top_k_rows

        return top_k_rows(scores, k)
    return _top_k_numpy(scores, k)


def _top_k_numpy(scores: np.ndarray, k: int) -> np.ndarray:
    """:func:`top_k` without the compiled kernel (other dtypes; the kernel's oracle in the tests)."""
    n_rows, n_items = scores.shape
    k = min(k, n_items)
    if k <= 0:
        return np.zeros((n_rows, 0), dtype=np.int64)
    if np.issubdtype(scores.dtype, np.floating) and np.isnan(scores).any():
        scores = np.where(np.isnan(scores), -np.inf, scores)
    if k < n_items:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # fast, but arbitrary among boundary ties
        picked = np.take_along_axis(scores, part, axis=1)
        kth = picked.min(axis=1, keepdims=True)
        # rows where items tied with the k-th value were left out: redo them deterministically
        ambiguous = np.flatnonzero((scores == kth).sum(axis=1) > (picked == kth).sum(axis=1))
        if len(ambiguous):
            part[ambiguous] = _top_k_set(scores[ambiguous], k)
    else:
        part = np.broadcast_to(np.arange(n_items), scores.shape).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    # sort by score desc, then item index asc
    order = np.lexsort((part, -part_scores), axis=1)
    return np.take_along_axis(part, order, axis=1)


def _top_k_set(scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` highest scores' indices per row (in index order), ties at the k-th value
    taken in index order: the k-th largest value from ``np.partition`` (a value, the same on
    every CPU), every item above it, then the tied ones by index."""
    n_rows, n_items = scores.shape
    kth = np.partition(scores, n_items - k, axis=1)[:, n_items - k][:, None]
    above = scores > kth
    tied = scores == kth
    need = k - above.sum(axis=1, keepdims=True)  # ≥ 1: how many tied items make the cut
    keep = above | (tied & (np.cumsum(tied, axis=1) <= need))
    return np.nonzero(keep)[1].reshape(n_rows, k)


def topk_hits(topk: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """``hits[u, j]`` is True when item ``topk[u, j]`` is relevant for user ``u``.

    Vectorised: relevance is looked up by sorted search in the CSR rows' index arrays
    via a single flattened key ``u * n_items + item``.
    """
    relevant = sp.csr_matrix(relevant)
    relevant.sort_indices()
    n_users, n_items = relevant.shape
    rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(relevant.indptr))
    keys = rows * n_items + relevant.indices.astype(np.int64)  # sorted: rows asc, cols asc
    q = (np.arange(topk.shape[0], dtype=np.int64)[:, None] * n_items + topk.astype(np.int64)).ravel()
    pos = np.searchsorted(keys, q)
    pos = np.minimum(pos, max(len(keys) - 1, 0))
    hit = (keys[pos] == q) if len(keys) else np.zeros_like(q, dtype=bool)
    return hit.reshape(topk.shape)


def n_relevant(relevant: sp.csr_matrix) -> np.ndarray:
    """``|R_u|`` per user."""
    return np.diff(sp.csr_matrix(relevant).indptr)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def precision_at_k(hits: np.ndarray, k: int | None = None) -> np.ndarray:
    """P@k = |top-k ∩ R_u| / k (k is the cut-off even when fewer items were recommended)."""
    k = hits.shape[1] if k is None else k
    return hits[:, :k].sum(1) / k


def recall_at_k(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    """R@k = |top-k ∩ R_u| / |R_u| (NaN where |R_u| = 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_rel > 0, hits.sum(1) / np.maximum(n_rel, 1), np.nan)


def ndcg_at_k(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    """NDCG@k with binary gains: DCG = Σ_j hit_j / log2(j + 2) (j from 0);
    IDCG = Σ_{j < min(|R_u|, k)} 1 / log2(j + 2). NaN where |R_u| = 0."""
    k = hits.shape[1]
    d = _discounts(k)
    dcg = hits @ d
    cum = np.r_[0.0, np.cumsum(d)]
    idcg = cum[np.minimum(n_rel, k)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_rel > 0, dcg / np.where(idcg > 0, idcg, 1), np.nan)


def ndcg_study_variant_at_k(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    """The hybrid study's NDCG: the ideal DCG is built from the *hits found* (re-sorted to
    the top), not from |R_u|. So it equals 1 whenever all hits sit at the top, however many
    relevant items were missed, and 0 when there is no hit. Only for comparing with the
    study's published numbers; it is not a standard NDCG."""
    k = hits.shape[1]
    d = _discounts(k)
    dcg = hits @ d
    cum = np.r_[0.0, np.cumsum(d)]
    idcg = cum[hits.sum(1)]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1), 0.0)
    return np.where(n_rel > 0, out, np.nan)


def average_precision_at_k(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    """AP@k = (1 / min(|R_u|, k)) Σ_j P@(j+1) · hit_j. NaN where |R_u| = 0."""
    k = hits.shape[1]
    prec = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_rel > 0, (prec * hits).sum(1) / np.maximum(np.minimum(n_rel, k), 1), np.nan)


def hit_rate_at_k(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    """HR@k = 1 if at least one relevant item is in the top-k, else 0 (NaN where |R_u| = 0)."""
    return np.where(n_rel > 0, hits.any(1).astype(float), np.nan)


def coverage_at_k(topk: np.ndarray, n_items: int) -> float:
    """Catalogue coverage: share of the ``n_items`` items that appear in anyone's top-k."""
    return float(len(np.unique(topk)) / n_items) if n_items else 0.0


def rmse(y_true, y_pred) -> float:
    """Root mean squared error."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def mae(y_true, y_pred) -> float:
    """Mean absolute error."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    return float(np.mean(np.abs(y_true - y_pred)))


RANKING_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "ndcg_study")


def ranking_metrics(topk: np.ndarray, relevant: sp.csr_matrix, k: int | None = None) -> dict[str, np.ndarray]:
    """Per-user arrays of every ranking metric for the rows of ``topk`` / ``relevant``."""
    k = topk.shape[1] if k is None else k
    topk = topk[:, :k]
    hits = topk_hits(topk, relevant)
    nr = n_relevant(relevant)
    return {
        "precision": precision_at_k(hits, k),
        "recall": recall_at_k(hits, nr),
        "ndcg": ndcg_at_k(hits, nr),
        "map": average_precision_at_k(hits, nr),
        "hit_rate": hit_rate_at_k(hits, nr),
        "ndcg_study": ndcg_study_variant_at_k(hits, nr),
    }
