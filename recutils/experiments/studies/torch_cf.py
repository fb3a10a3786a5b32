"""The study behind notebook 04 (``04_torch_cf``): a PyTorch rating model with side features
beside rating baselines, on rating accuracy, ranking and cold items.

What the notebook would otherwise hold in loops and hand-built dicts:

- :func:`tune_rating_models`: one :func:`~recutils.experiments.rating_grid_search` per baseline
  (global mean, bias, cornac MF) → the chosen settings, their validation RMSE and tuning rows;
- :func:`fit_timed` / :func:`timed_fit`: fit models on a training part, timing each fit;
- :func:`choose_torch_candidate`: every labelled ``TorchCF`` candidate trained (early stopping
  on its own validation carve-out) and the lowest *validation* RMSE kept, through
  :func:`~recutils.experiments.choose_on_validation`;
- :func:`rating_table`, :func:`rating_goal`, :func:`ranking_table`: the result tables;
- :func:`snapshot_correlation`: how much a later TMDB snapshot knows about held-out ratings;
- :func:`torch_summary`: the ``torch_cf`` entry of the result record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from ..choose import Choice, choose_on_validation
from ..tuning import check_workers, in_workers, rating_grid_search

__all__ = ["RatingTuning", "TorchCandidates", "choose_torch_candidate", "fit_timed", "ranking_table", "rating_goal",
           "rating_table", "snapshot_correlation", "timed_fit", "torch_settings", "torch_summary",
           "tune_rating_models"]


# --- rating baselines ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RatingTuning:
    """Per model name: the chosen settings (``best``), the lowest validation RMSE (``val_rmse``)
    and one row per grid combination of the models that have a grid (``rows``)."""

    best: dict
    val_rmse: dict
    rows: list


def tune_rating_models(split, searches: Mapping[str, tuple[Mapping, Mapping]], metric: str = "rmse",
                       item_table=None) -> RatingTuning:
    """:func:`~recutils.experiments.rating_grid_search` for each ``model → (grid, fixed)`` of
    ``searches``, in order, on ``split``'s validation carve-out. Tuning rows
    (``{"model", "params", "val_rmse"}``) are kept for models with a non-empty grid."""
    best, val_rmse, rows = {}, {}, []
    for name, (grid, fixed) in searches.items():
        choice = rating_grid_search(name, split, dict(grid), metric=metric, fixed=dict(fixed), item_table=item_table)
        best[name] = choice.best
        val_rmse[name] = min(r[metric] for r in choice.rows)
        if grid:
            rows += [{"model": name, "params": {p: r[p] for p in grid}, f"val_{metric}": r[metric]}
                     for r in choice.rows]
    return RatingTuning(best, val_rmse, rows)


def timed_fit(model, train) -> tuple[object, float]:
    """``(model.fit(train), wall-clock seconds of the fit)``."""
    t0 = time.perf_counter()
    fitted = model.fit(train)
    return fitted, time.perf_counter() - t0


def fit_timed(models: Mapping[str, object], train) -> tuple[dict, dict]:
    """Fit every model on ``train`` in order: ``({label: fitted}, {label: seconds})``."""
    fitted, seconds = {}, {}
    for label, model in models.items():
        fitted[label], seconds[label] = timed_fit(model, train)
    return fitted, seconds


# --- the torch candidates ------------------------------------------------------------------------
def torch_settings(shared: Mapping, overrides: Mapping, seed: int, progress: bool = False) -> dict:
    """A candidate's ``TorchCF`` settings: the shared ones, its overrides, then seed and progress."""
    return {**shared, **overrides, "seed": seed, "progress": progress}


@dataclass(frozen=True)
class TorchCandidates:
    """Every candidate trained (``models``, ``seconds``: label → fitted model / fit time) and the
    choice among them (``choice.best``: ``{"label", "params"}``; ``choice.rows``: one per
    candidate with ``val_rmse``, ``best_epoch`` and ``fit_seconds``)."""

    choice: Choice
    models: dict
    seconds: dict

    @property
    def label(self) -> str:
        return self.choice.best["label"]

    @property
    def params(self) -> dict:
        """The chosen candidate's overrides of the shared settings."""
        return self.choice.best["params"]

    @property
    def model(self):
        return self.models[self.label]

    @property
    def fit_seconds(self) -> float:
        return self.seconds[self.label]

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    def tuning_rows(self, model: str = "torch_cf") -> list[dict]:
        """The tuning rows of every candidate, labelled with ``model``."""
        return [{"model": model, **row} for row in self.choice.rows]

    def table(self) -> list[dict]:
        """One display row per candidate (validation RMSE to 4 decimals)."""
        return [{"candidate": r["label"], "val_rmse": round(r["val_rmse"], 4), "best_epoch": r["best_epoch"],
                 "fit_seconds": r["fit_seconds"]} for r in self.choice.rows]


def _fit_in_worker(model_cls, item_table, settings: dict, train) -> tuple[object, float]:
    """One candidate in a worker process (no bars there: its events still reach the runner)."""
    from ...progress import no_bars

    no_bars()
    return timed_fit(model_cls(item_table=item_table, **settings), train)


def choose_torch_candidate(train, candidates: Mapping[str, Mapping], shared: Mapping, seed: int,
                           progress: bool = False, item_table=None,
                           model_cls: Callable[..., object] | None = None, workers: int = 1) -> TorchCandidates:
    """Train ``model_cls(item_table=..., **torch_settings(shared, overrides, seed, progress))``
    for every ``label → overrides`` of ``candidates`` on ``train`` (each model stops early on its
    own validation carve-out, ``best_val_rmse_``) and keep the lowest validation RMSE (the first
    of ties) through :func:`~recutils.experiments.choose_on_validation`.

    ``workers`` > 1 trains the candidates in that many worker processes (joblib's loky backend):
    the same models, as long as each trains with a fixed thread count (``num_threads``, as
    notebook 04's settings do: a seeded fit at one thread is the same in any process)."""
    check_workers(workers)
    if model_cls is None:
        from ...models.torch_cf import TorchCF as model_cls
    models, seconds = {}, {}
    options = [{"label": label, "params": overrides} for label, overrides in candidates.items()]
    if workers > 1 and len(options) > 1:
        from ...progress import task

        with task("torch_cf candidates", total=len(options), unit="fits", show=progress) as bar:
            fits = in_workers(_fit_in_worker, [(model_cls, item_table, torch_settings(shared, o["params"], seed, progress),
                                                train) for o in options], workers)
            for o, (m, sec) in zip(options, fits):
                models[o["label"]], seconds[o["label"]] = m, sec
                bar.update(1)

    def score(option: dict) -> dict:
        label = option["label"]
        if label not in models:
            m = model_cls(item_table=item_table, **torch_settings(shared, option["params"], seed, progress))
            models[label], seconds[label] = timed_fit(m, train)
        return {"val_rmse": models[label].best_val_rmse_, "best_epoch": models[label].best_epoch_,
                "fit_seconds": round(seconds[label], 2)}

    choice = choose_on_validation(options, score, "val_rmse", lower_is_better=True, keys=["label", "params"])
    return TorchCandidates(choice, models, seconds)


# --- tables --------------------------------------------------------------------------------------
def rating_table(models: Mapping[str, object], split, val_rmse: Mapping[str, float],
                 fit_seconds: Mapping[str, float]) -> list[dict]:
    """RMSE / MAE of each fitted model on ``split``'s test ratings, with its validation RMSE
    (``val_rmse``, else the model's own ``best_val_rmse_``, else NaN) and fit time."""
    from ...evaluation import evaluate_rating

    rows = []
    for label, m in models.items():
        r = evaluate_rating(m, split)
        rows.append({"model": label, "rmse": float(r["rmse"]), "mae": float(r["mae"]),
                     "val_rmse": float(val_rmse.get(label, getattr(m, "best_val_rmse_", np.nan))),
                     "n_ratings": r["n_ratings"], "fit_seconds": round(fit_seconds[label], 2)})
    return rows


def rating_goal(rows: Sequence[Mapping], model: str = "torch_cf", reference: str = "cornac MF (biased)",
                target: float = 0.86) -> dict:
    """Whether ``model``'s test RMSE is at most ``target`` and below ``reference``'s."""
    by = {r["model"]: r for r in rows}
    return {f"rmse_at_most_{target}": by[model]["rmse"] <= target,
            "better_than_cornac_mf": by[model]["rmse"] < by[reference]["rmse"]}


def ranking_table(results: Mapping, k: int, metrics: Sequence[str] = ("precision", "recall", "ndcg")) -> list[dict]:
    """One row per ``label → EvalResult``: ``metric@k`` of each metric, coverage and users."""
    return [{"model": label, **{f"{x}@{k}": float(r.metrics[x]) for x in metrics},
             "coverage": float(r.metrics["coverage"]), "n_users": r.metrics["n_users"]}
            for label, r in results.items()]


# --- the cold items' metadata snapshot -----------------------------------------------------------
def snapshot_correlation(cold, movies, column: str = "vote_count") -> dict:
    """Spearman correlation, over the cold movies with TMDB data, between TMDB ``column`` and
    the number of held-out MovieLens ratings of each cold movie (NaN with fewer than 3 movies)."""
    from scipy.stats import spearmanr

    cold_ids = cold.items[cold.cold_items]
    held_out = cold.test.groupby("movieId").size().reindex(cold_ids).fillna(0)
    tmdb = movies.set_index("movieId")[column].reindex(cold_ids)
    has = tmdb.notna().to_numpy()
    rho = float(spearmanr(tmdb[has], held_out[has]).statistic) if has.sum() > 2 else float("nan")
    return {f"spearman_{column}_vs_held_out_ratings": rho, "n_cold_movies_with_tmdb": int(has.sum())}


# --- the record's torch_cf entry -----------------------------------------------------------------
def torch_summary(chosen: TorchCandidates, cold_fit_seconds: float, cold_rmse: Mapping,
                  cold_bias_rmse: Mapping) -> dict:
    """The chosen model's epoch, validation RMSE, fit times, loss history and cold-item errors."""
    m = chosen.model
    return {"chosen": chosen.label, "best_epoch": m.best_epoch_, "best_val_rmse": m.best_val_rmse_,
            "fit_seconds": round(chosen.fit_seconds, 2), "history": m.history_,
            "cold_fit_seconds": round(cold_fit_seconds, 2), "cold_rmse": cold_rmse,
            "cold_bias_rmse": cold_bias_rmse}
