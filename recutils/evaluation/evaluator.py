"""Evaluate any :class:`~recutils.models.base.Recommender` on a :class:`~recutils.splits.Split`
for all evaluable users at once (scores in user batches, one top-k, one hit matrix)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..constants import K, RELEVANCE_THRESHOLD
from .metrics import coverage_at_k, mae, ranking_metrics, rmse


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

    def as_dict(self) -> dict:
        return {"model": self.model, "protocol": self.protocol, "k": self.k, **self.metrics,
                "eval_seconds": round(self.eval_seconds, 4)}


def evaluate_ranking(model, split, k: int = K, users: np.ndarray | None = None,
                     candidates: np.ndarray | None = None, threshold: float = RELEVANCE_THRESHOLD,
                     exclude_seen: bool = True, batch_size: int = 2048, name: str | None = None) -> EvalResult:
    """Top-``k`` ranking metrics of a fitted model.

    ``users`` defaults to every evaluable user (≥ 1 relevant test item). ``candidates`` is an
    optional boolean item mask: only those items may be recommended, and relevance is
    restricted to them (e.g. ``split.cold_items`` for the cold-item protocol).
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
    tops = []
    for s in range(0, len(users), batch_size):
        ub = users[s: s + batch_size]
        tops.append(model.rank(ub, k, exclude_seen=exclude_seen, candidates=candidates))
    topk = np.vstack(tops) if tops else np.zeros((0, k), dtype=np.int64)
    per_user = ranking_metrics(topk, rel[users], k)
    n_cand = int(candidates.sum()) if candidates is not None else split.n_items
    metrics = {m: float(np.nanmean(v)) if len(v) else float("nan") for m, v in per_user.items()}
    metrics["coverage"] = coverage_at_k(topk, n_cand)
    metrics["n_users"] = int(len(users))
    return EvalResult(name or getattr(model, "name", type(model).__name__), split.name, k, metrics,
                      per_user, users, topk, time.perf_counter() - t0)


def evaluate_rating(model, split) -> dict[str, float]:
    """RMSE / MAE of ``model.predict(uidx, iidx)`` on the split's test ratings."""
    from ..constants import COL_RATING

    t = split.test
    pred = model.predict(t["uidx"].to_numpy(), t["iidx"].to_numpy())
    y = t[COL_RATING].to_numpy()
    return {"rmse": rmse(y, pred), "mae": mae(y, pred), "n_ratings": int(len(t))}
