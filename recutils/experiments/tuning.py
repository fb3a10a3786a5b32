"""Grid search on the validation carve-out (never on test), for ranking and rating metrics.

:func:`grid_search` ranks (P/R/NDCG/MAP@k, higher is better); :func:`rating_grid_search`
predicts ratings (RMSE/MAE, lower is better). Both fit every combination on
``validation_split(split)``'s training part, score its validation part, check every
combination's config before fitting anything, and keep the first of tied best rows.
"""

from __future__ import annotations

from ..constants import K
from ..errors import RecutilsError
from .choose import Choice, choose_on_validation, expand_grid

RANKING_METRICS = ("precision", "recall", "ndcg", "map")
RATING_METRICS = ("rmse", "mae")


GridResult = Choice  # the older name: ``best, rows = grid_search(...)`` still unpacks


def _options(model: str, grid: dict, fixed: dict | None) -> tuple[list[str], list[dict]]:
    from ..models import check_params

    options = expand_grid(grid, fixed)
    for params in options:  # every config first: a bad value fails before anything is fitted
        check_params(model, **params)
    return list(grid), options


def grid_search(model: str, split, grid: dict[str, list], k: int = K, metric: str = "ndcg",
                fixed: dict | None = None, item_table=None) -> Choice:
    """Rank with ``model`` for every combination of ``grid`` (plus ``fixed``) on the validation
    split; the best by ``metric``@k (:func:`~.choose.choose_on_validation`). ``rows``: the
    parameters and P/R/NDCG/MAP of each; ``best``: the grid's keys only."""
    from ..evaluation import evaluate_ranking
    from ..models import create
    from ..splits import validation_split

    if metric not in RANKING_METRICS:
        raise RecutilsError(f"metric must be one of {', '.join(RANKING_METRICS)}, got {metric!r}")
    keys, options = _options(model, grid, fixed)
    val = validation_split(split)

    def score(params):
        r = evaluate_ranking(create(model, item_table=item_table, **params).fit(val.without_test()), val, k)
        return {x: r.metrics[x] for x in RANKING_METRICS}

    return choose_on_validation(options, score, metric, keys=keys)


def rating_grid_search(model: str, split, grid: dict[str, list], metric: str = "rmse",
                       fixed: dict | None = None, item_table=None) -> Choice:
    """Predict ratings with ``model`` for every combination of ``grid`` (plus ``fixed``) on the
    validation split; the lowest ``metric``. ``rows``: the parameters, RMSE and MAE of each."""
    from ..evaluation import evaluate_rating
    from ..models import create
    from ..splits import validation_split

    if metric not in RATING_METRICS:
        raise RecutilsError(f"metric must be one of {', '.join(RATING_METRICS)}, got {metric!r}")
    keys, options = _options(model, grid, fixed)
    val = validation_split(split)

    def score(params):
        r = evaluate_rating(create(model, item_table=item_table, **params).fit(val.without_test()), val)
        return {x: r[x] for x in RATING_METRICS}

    return choose_on_validation(options, score, metric, lower_is_better=True, keys=keys)
