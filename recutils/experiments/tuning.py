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


def _ranking_score(model: str, val, k: int, item_table, params: dict) -> dict:
    """P/R/NDCG/MAP@k of ``model(**params)`` fitted on ``val``'s training part (one grid point)."""
    from ..evaluation import evaluate_ranking
    from ..models import create

    r = evaluate_ranking(create(model, item_table=item_table, **params).fit(val.without_test()), val, k)
    return {x: r.metrics[x] for x in RANKING_METRICS}


def check_workers(workers) -> int:
    """``workers`` as given when it is an integer ≥ 1; otherwise a one-line :class:`RecutilsError`."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise RecutilsError(f"workers must be an integer ≥ 1, got {workers!r}")
    return workers


def in_workers(fn, jobs: list[tuple], workers: int):
    """``fn(*job)`` for every job, in order: in ``min(workers, len(jobs))`` loky processes (one
    BLAS / OpenMP thread each) as a generator when ``workers`` > 1 and there are several jobs,
    else lazily in this process."""
    if workers > 1 and len(jobs) > 1:
        from joblib import Parallel, delayed

        return Parallel(n_jobs=min(workers, len(jobs)), backend="loky", return_as="generator")(
            delayed(fn)(*job) for job in jobs)
    return (fn(*job) for job in jobs)


def grid_search(model: str, split, grid: dict[str, list], k: int = K, metric: str = "ndcg",
                fixed: dict | None = None, item_table=None, workers: int = 1) -> Choice:
    """Rank with ``model`` for every combination of ``grid`` (plus ``fixed``) on the validation
    split; the best by ``metric``@k (:func:`~.choose.choose_on_validation`). ``rows``: the
    parameters and P/R/NDCG/MAP of each; ``best``: the grid's keys only.

    ``workers`` > 1 fits the grid points in that many worker processes (joblib's loky backend,
    which gives each one BLAS / OpenMP thread): the same choice and rows for models whose fit
    does not depend on the thread count (notebook 07's numpy ALS pins one BLAS thread itself)."""
    from ..splits import validation_split

    if metric not in RANKING_METRICS:
        raise RecutilsError(f"metric must be one of {', '.join(RANKING_METRICS)}, got {metric!r}")
    check_workers(workers)
    keys, options = _options(model, grid, fixed)
    val = validation_split(split)
    # choose_on_validation scores the options in order, as in_workers yields them
    pending = in_workers(_ranking_score, [(model, val, k, item_table, params) for params in options], workers)
    return choose_on_validation(options, lambda params: next(pending), metric, keys=keys)


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
