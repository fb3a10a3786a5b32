"""Evaluation: vectorised metrics, the all-users evaluation loop, paired bootstrap, and
beyond-accuracy metrics (:mod:`recutils.evaluation.beyond`: MRR, popularity bias, novelty,
diversity, segment means)."""

from .beyond import (
    average_popularity,
    beyond_accuracy,
    exposure_gini,
    intra_list_diversity,
    novelty,
    reciprocal_rank_at_k,
    segment_means,
)
from .bootstrap import PairedCI, paired_bootstrap_ci
from .evaluator import EvalResult, evaluate_ranking, evaluate_rating, iter_top_scores, iter_topk, recommend_all
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
    "PairedCI", "paired_bootstrap_ci", "EvalResult", "evaluate_ranking", "evaluate_rating", "iter_top_scores", "iter_topk",
    "recommend_all",
    "RANKING_METRICS", "average_precision_at_k", "coverage_at_k", "hit_rate_at_k", "mae",
    "ndcg_at_k", "ndcg_study_variant_at_k", "precision_at_k", "ranking_metrics", "recall_at_k",
    "rmse", "top_k", "topk_hits",
    "average_popularity", "beyond_accuracy", "exposure_gini", "intra_list_diversity", "novelty",
    "reciprocal_rank_at_k", "segment_means",
]
