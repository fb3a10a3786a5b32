"""Experiments: every choice and comparison a study makes, built on models, evaluation and splits.

- :mod:`.choose`: :func:`choose_on_validation`, the one "choose on validation" loop (a model's
  grid, a blend's α and normalisation, a cold-start mapper, a cold scorer) → a :class:`Choice`;
- :mod:`.tuning`: :func:`grid_search` (ranking metrics) and :func:`rating_grid_search`
  (RMSE / MAE) on the validation carve-out, both through :func:`choose_on_validation`;
- :mod:`.blends`: :func:`tune_blend` (α and the base normalisation chosen on validation, applied
  to test), :func:`select_blend`, and a learned blend;
- :mod:`.experiment`: :class:`Experiment` ``(split, models, k).run()`` → an
  :class:`ExperimentResult` with tables, paired intervals and beyond-accuracy columns;
- :mod:`.seeds`: :func:`multi_seed`, the one repeated-split runner (warm and cold protocols,
  :class:`Candidate` / :class:`Scorer` / :class:`BlendCandidate`), tables with intervals across
  seeds, pooled paired bootstrap, the best model chosen on validation;
- :mod:`.record`: :class:`Record`, the one result record (``metrics.json`` / ``config.json`` with
  provenance, :mod:`.provenance`).

Notebooks call these and plot; every choice here is made on validation, never on test.
"""

from .blends import (BlendChoice, LearnedBlend, TunedBlend, apply_learned_blend, fit_learned_blend, select_blend,
                     tune_alpha, tune_blend)
from .choose import Choice, choose_on_validation, expand_grid
from .compare import cold_item_comparison, fit_and_evaluate
from .experiment import Experiment, ExperimentResult
from .provenance import Provenance
from .record import Record, jsonable
from .seeds import (BlendCandidate, Candidate, MultiSeedResult, PooledComparison, Scorer, SplitProtocol, multi_seed,
                    t_interval)
from .tuning import GridResult, grid_search, rating_grid_search

__all__ = ["BlendCandidate", "BlendChoice", "Candidate", "Choice", "Experiment", "ExperimentResult", "GridResult",
           "LearnedBlend", "MultiSeedResult", "PooledComparison", "Provenance", "Record", "Scorer", "SplitProtocol",
           "TunedBlend", "apply_learned_blend", "choose_on_validation", "cold_item_comparison", "expand_grid",
           "fit_and_evaluate", "fit_learned_blend", "grid_search", "jsonable", "multi_seed", "rating_grid_search",
           "select_blend", "t_interval", "tune_alpha", "tune_blend"]
