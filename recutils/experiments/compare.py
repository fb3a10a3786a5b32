"""Comparing several models on one protocol: fit each on the split's training part (test part
withheld) and evaluate it, optionally restricted to candidate items — e.g. the cold-item
protocol, where only the held-out movies are ranked. Both are :class:`~.experiment.Experiment`."""

from __future__ import annotations

from typing import Mapping

from ..constants import K
from ..errors import RecutilsError
from .experiment import Experiment


def fit_and_evaluate(models: Mapping[str, object], split, k: int = K, candidates=None, fit: bool = True) -> dict:
    """``{label: EvalResult}``: each model fitted on ``split.without_test()`` (unless
    ``fit=False``: already fitted on it) and evaluated at ``k`` on its test part."""
    return Experiment(split, models, k, candidates=candidates, fit=fit).run()


def cold_item_comparison(models: Mapping[str, object], cold_split, k: int = K, fit: bool = True) -> dict:
    """:func:`fit_and_evaluate` on a :func:`~recutils.splits.cold_item_split`, ranking only its
    cold items (movies with no training rating)."""
    if not cold_split.cold_items.any():
        raise RecutilsError(f"split {cold_split.name!r} has no cold items: use cold_item_split()")
    return fit_and_evaluate(models, cold_split, k, candidates=cold_split.cold_items, fit=fit)
