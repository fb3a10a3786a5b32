"""Evaluate any :class:`~recutils.models.base.Recommender` on a :class:`~recutils.splits.Split`
for all evaluable users at once (scores in user batches, one top-k, one hit matrix).

Memory is bounded by ``batch_size``: only one ``batch_size × n_items`` score matrix exists at a
time; what is kept is each user's top-k. Scores are ranked in float64 by default (exactly the
numbers the goldens hold: ItemCF's validation rows moved by up to 0.002 NDCG in float32, near-ties
ranking differently); ``dtype=np.float32`` halves the batch (at ml-32m's 87k items a batch of
2,048 users is 0.7 GB instead of 1.4 GB) and is what the scale benchmark and notebook 07 use. For
most registered models the top-k lists are identical either way on ml-latest-small
(``tests/test_scale_eval.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..constants import K, RELEVANCE_THRESHOLD
from .metrics import coverage_at_k, mae, ranking_metrics, rmse, top_k


@dataclass
class EvalResult:
    """Mean metrics plus the per-user arrays behind them (aligned with ``users``)."""

    model: str
    protocol: str
    k: int
    metrics: dict[str, float]
    per_user: dict[str, np.ndarray] = field(repr=False)
    users: np.ndarray = field(repr=False)
    topk: np.ndarray = field(repr=False)
    eval_seconds: float = 0.0
    #: the evaluated model's ``determinism`` ("exact" / "kernel": recutils.provenance)
    determinism: str = "exact"
    #: items that could be recommended (the catalogue, or the candidate mask's size)
    n_candidates: int = 0

    def as_dict(self) -> dict:
        return {"model": self.model, "protocol": self.protocol, "k": self.k, **self.metrics,
                "eval_seconds": round(self.eval_seconds, 4)}


def _check_batch(batch_size) -> int:
    from ..errors import ConfigError

    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def iter_topk(model, users, k: int = K, batch_size: int = 2048, exclude_seen: bool = True,
              candidates: np.ndarray | None = None, dtype=np.float64):
    """Yield ``(user indices, top-k item indices)`` for ``users`` in batches of ``batch_size``
    (one ``batch_size × n_items`` score matrix of ``dtype`` at a time)."""
    batch_size = _check_batch(batch_size)
    users = np.asarray(users, dtype=np.int64)
    for s in range(0, len(users), batch_size):
        ub = users[s: s + batch_size]
        yield ub, model.rank(ub, k, exclude_seen=exclude_seen, candidates=candidates, dtype=dtype)


def iter_top_scores(model, users: np.ndarray | None = None, k: int = K, batch_size: int = 2048,
                    exclude_seen: bool = True, dtype=np.float64):
    """Yield ``(user indices, top-k item indices, their scores)`` for ``users`` (default: every
    user) in batches of ``batch_size``; a score of ``-inf`` marks an item the user cannot get."""
    users = np.arange(model.split_.n_users) if users is None else np.asarray(users, dtype=np.int64)
    batch_size = _check_batch(batch_size)
    for a in range(0, len(users), batch_size):
        ub = users[a: a + batch_size]
        s = model.masked_scores(ub, exclude_seen, None, dtype)
        top = top_k(s, k)
        yield ub, top, np.take_along_axis(s, top, axis=1)


def recommend_all(model, users: np.ndarray | None = None, k: int = K, batch_size: int = 2048,
                  exclude_seen: bool = True, dtype=np.float64):
    """Top-``k`` movies for every user (or the given user indices), in user batches: a DataFrame
    ``userId, movieId, score, rank`` (``n_users · k`` rows; items a user cannot get — all scores
    ``-inf`` — are left out)."""
    import pandas as pd

    from ..constants import COL_ITEM, COL_USER

    data = model.split_
    parts = []
    for ub, top, sc in iter_top_scores(model, users, k, batch_size, exclude_seen, dtype):
        rows, cols = np.nonzero(np.isfinite(sc))
        parts.append(pd.DataFrame({COL_USER: data.users[ub[rows]], COL_ITEM: data.items[top[rows, cols]],
                                   "score": sc[rows, cols], "rank": cols + 1}))
    if not parts:
        return pd.DataFrame(columns=[COL_USER, COL_ITEM, "score", "rank"])
    return pd.concat(parts, ignore_index=True)


def evaluate_ranking(model, split, k: int = K, users: np.ndarray | None = None,
                     candidates: np.ndarray | None = None, threshold: float = RELEVANCE_THRESHOLD,
                     exclude_seen: bool = True, batch_size: int = 2048, name: str | None = None,
                     dtype=np.float64) -> EvalResult:
    """Top-``k`` ranking metrics of a fitted model.

    ``users`` defaults to every evaluable user (≥ 1 relevant test item). ``candidates`` is an
    optional boolean item mask: only those items may be recommended, and relevance is
    restricted to them (e.g. ``split.cold_items`` for the cold-item protocol). Scores are ranked
    ``batch_size`` users at a time as ``dtype`` (see the module docstring).
    """
    t0 = time.perf_counter()
    rel = split.relevant(threshold)
    if candidates is not None:
        candidates = np.asarray(candidates, bool)
        rel = rel.multiply(candidates[None, :].astype(float)).tocsr()
        rel.eliminate_zeros()
    if users is None:
        users = np.flatnonzero(np.diff(rel.indptr) > 0)
    users = np.asarray(users, dtype=np.int64)
    tops = [top for _, top in iter_topk(model, users, k, batch_size, exclude_seen, candidates, dtype)]
    topk = np.vstack(tops) if tops else np.zeros((0, k), dtype=np.int64)
    per_user = ranking_metrics(topk, rel[users], k)
    n_cand = int(candidates.sum()) if candidates is not None else split.n_items
    metrics = {m: float(np.nanmean(v)) if len(v) else float("nan") for m, v in per_user.items()}
    metrics["coverage"] = coverage_at_k(topk, n_cand)
    metrics["n_users"] = int(len(users))
    return EvalResult(name or getattr(model, "name", type(model).__name__), split.name, k, metrics,
                      per_user, users, topk, time.perf_counter() - t0,
                      str(getattr(model, "determinism", "exact")), n_cand)


def evaluate_rating(model, split) -> dict[str, float]:
    """RMSE / MAE of ``model.predict(uidx, iidx)`` on the split's test ratings."""
    from ..constants import COL_RATING

    t = split.test
    pred = model.predict(t["uidx"].to_numpy(), t["iidx"].to_numpy())
    y = t[COL_RATING].to_numpy()
    return {"rmse": rmse(y, pred), "mae": mae(y, pred), "n_ratings": int(len(t))}
