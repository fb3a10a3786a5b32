"""Grid search on the validation carve-out (never on test), for ranking and rating metrics.

:func:`grid_search` ranks (P/R/NDCG/MAP@k, higher is better); :func:`rating_grid_search`
predicts ratings (RMSE/MAE, lower is better). Both fit every combination on
``validation_split(split)``'s training part, score its validation part, check every
combination's config before fitting anything, and keep the first of tied best rows.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

from ..constants import K
from ..errors import RecutilsError

RANKING_METRICS = ("precision", "recall", "ndcg", "map")
RATING_METRICS = ("rmse", "mae")


class GridResult(NamedTuple):
    """The chosen parameters and one row per combination (``best, rows = grid_search(...)``)."""

    best: dict
    rows: list[dict]


def _combos(model: str, grid: dict, fixed: dict | None) -> tuple[list[str], list[dict]]:
    from ..models import check_params

    keys = list(grid)
    combos = [{**(fixed or {}), **dict(zip(keys, combo))} for combo in itertools.product(*(grid[k_] for k_ in keys))]
    if not combos:
        raise RecutilsError("empty grid")
    for params in combos:  # every config first: a bad value fails before anything is fitted
        check_params(model, **params)
    return keys, combos


def grid_search(model: str, split, grid: dict[str, list], k: int = K, metric: str = "ndcg",
                fixed: dict | None = None, item_table=None) -> GridResult:
    """Rank with ``model`` for every combination of ``grid`` (plus ``fixed``) on the validation
    split; the best by ``metric``@k. ``rows``: the parameters and P/R/NDCG/MAP of each.
    ``item_table`` goes to models that need the movie table."""
    from ..evaluation import evaluate_ranking
    from ..models import create
    from ..splits import validation_split

    if metric not in RANKING_METRICS:
        raise RecutilsError(f"metric must be one of {', '.join(RANKING_METRICS)}, got {metric!r}")
    keys, combos = _combos(model, grid, fixed)
    val = validation_split(split)
    rows = []
    for params in combos:
        m = create(model, item_table=item_table, **params).fit(val.without_test())
        r = evaluate_ranking(m, val, k)
        rows.append({**params, **{x: r.metrics[x] for x in RANKING_METRICS}})
    best = max(rows, key=lambda r: r[metric])
    return GridResult({k_: best[k_] for k_ in keys}, rows)


def rating_grid_search(model: str, split, grid: dict[str, list], metric: str = "rmse",
                       fixed: dict | None = None, item_table=None) -> GridResult:
    """Predict ratings with ``model`` for every combination of ``grid`` (plus ``fixed``) on the
    validation split; the lowest ``metric``. ``rows``: the parameters, RMSE and MAE of each."""
    from ..evaluation import evaluate_rating
    from ..models import create
    from ..splits import validation_split

    if metric not in RATING_METRICS:
        raise RecutilsError(f"metric must be one of {', '.join(RATING_METRICS)}, got {metric!r}")
    keys, combos = _combos(model, grid, fixed)
    val = validation_split(split)
    rows = []
    for params in combos:
        r = evaluate_rating(create(model, item_table=item_table, **params).fit(val.without_test()), val)
        rows.append({**params, **{x: r[x] for x in RATING_METRICS}})
    best = min(rows, key=lambda r: r[metric])
    return GridResult({k_: best[k_] for k_ in keys}, rows)
