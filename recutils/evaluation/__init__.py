"""Evaluation: vectorised metrics, the all-users evaluation loop, paired bootstrap."""

from .bootstrap import PairedCI, paired_bootstrap_ci
from .evaluator import EvalResult, evaluate_ranking, evaluate_rating
from .metrics import (
    RANKING_METRICS,
    average_precision_at_k,
    coverage_at_k,
    hit_rate_at_k,
    mae,
    ndcg_at_k,
    ndcg_study_variant_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    rmse,
    top_k,
    topk_hits,
)

__all__ = [
    "PairedCI", "paired_bootstrap_ci", "EvalResult", "evaluate_ranking", "evaluate_rating",
    "RANKING_METRICS", "average_precision_at_k", "coverage_at_k", "hit_rate_at_k", "mae",
    "ndcg_at_k", "ndcg_study_variant_at_k", "precision_at_k", "ranking_metrics", "recall_at_k",
    "rmse", "top_k", "topk_hits",
]
