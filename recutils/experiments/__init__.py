"""Experiments: model selection and comparisons built on models, evaluation and splits.

- :mod:`.tuning`: :func:`grid_search` (ranking metrics) and :func:`rating_grid_search`
  (RMSE / MAE) on the validation carve-out;
- :mod:`.blends`: choosing α and the base normalisation of a CF + content blend
  (:func:`select_blend`), and a learned blend;
- :mod:`.compare`: fitting and evaluating several models on one protocol (cold items included);
- :mod:`.seeds`: the same comparison on repeated splits (:func:`multi_seed`), tables with
  intervals across seeds, pooled paired bootstrap, the best model chosen on validation.

Notebooks call these and plot; every choice here is made on validation, never on test.
"""

from .blends import BlendChoice, LearnedBlend, apply_learned_blend, fit_learned_blend, select_blend, tune_alpha
from .compare import cold_item_comparison, fit_and_evaluate
from .seeds import BlendCandidate, Candidate, MultiSeedResult, PooledComparison, multi_seed, t_interval
from .provenance import Provenance
from .tuning import GridResult, grid_search, rating_grid_search

__all__ = ["BlendChoice", "GridResult", "LearnedBlend", "apply_learned_blend", "cold_item_comparison",
           "fit_and_evaluate", "fit_learned_blend", "grid_search", "rating_grid_search", "select_blend", "tune_alpha",
           "BlendCandidate", "Candidate", "MultiSeedResult", "PooledComparison", "Provenance", "multi_seed", "t_interval"]
