"""The experiments layer: grid searches (ranking and rating), blend selection, comparisons."""

import numpy as np
import pytest

from recutils.errors import ConfigError, RecutilsError
from recutils.experiments import (
    cold_item_comparison,
    fit_and_evaluate,
    grid_search,
    rating_grid_search,
    select_blend,
    tune_alpha,
)
from recutils.models import create
from recutils.splits import cold_item_split, study_split, validation_split


@pytest.fixture(scope="module")
def small(ratings):
    from recutils.splits import sample_users

    return sample_users(ratings, 60, rng=0)


@pytest.fixture(scope="module")
def split(small):
    return study_split(small)


def test_rating_grid_search_picks_the_lowest_validation_rmse(split):
    from recutils.evaluation import evaluate_rating

    grid = {"reg_user": [0.5, 20.0], "reg_item": [2.0]}
    best, rows = rating_grid_search("bias", split, grid)
    val = validation_split(split)
    by_hand = [evaluate_rating(create("bias", reg_user=u, reg_item=2.0).fit(val.without_test()), val)["rmse"]
               for u in grid["reg_user"]]
    assert [r["rmse"] for r in rows] == by_hand
    assert best == {"reg_user": grid["reg_user"][int(np.argmin(by_hand))], "reg_item": 2.0}
    with pytest.raises(ConfigError, match="reg_user must be ≥ 0"):  # checked before anything is fitted
        rating_grid_search("bias", None, {"reg_user": [1.0, -1.0]})
    with pytest.raises(RecutilsError, match="metric must be one of"):
        rating_grid_search("bias", split, grid, metric="ndcg")


def test_grid_search_returns_named_result(split):
    res = grid_search("ease", split, {"lambda_": [50.0, 500.0]}, k=10)
    assert res.best == {"lambda_": max(res.rows, key=lambda r: r["ndcg"])["lambda_"]}
    assert [r["lambda_"] for r in res.rows] == [50.0, 500.0]
    best, rows = res  # unpacks like a tuple
    assert best is res.best


def test_grid_search_in_worker_processes_gives_the_same_rows(split):
    grid = {"regularization": [0.03, 0.3, 3.0]}
    fixed = {"factors": 8, "iterations": 3, "weighted_regularization": True}
    one = grid_search("exact_als", split, grid, k=10, fixed=fixed)
    two = grid_search("exact_als", split, grid, k=10, fixed=fixed, workers=2)
    assert two.rows == one.rows and two.best == one.best
    assert len({r["ndcg"] for r in one.rows}) == 3  # the points differ: rows in another order would fail
    with pytest.raises(RecutilsError, match="workers must be an integer ≥ 1"):
        grid_search("exact_als", split, grid, workers=0)


def test_select_blend_tries_each_normalisation_and_keeps_the_best(split):
    val = validation_split(split)
    base = create("ease", lambda_=100.0).fit(val.without_test()).score(np.arange(val.n_users))
    rng = np.random.default_rng(0)
    content = rng.random(base.shape)
    choice = select_blend(val, base, content, [0.5, 1.0], k=10)
    per_norm = {n: tune_alpha(val, base, content, [0.5, 1.0], k=10, base_norm=n) for n in ("all", "candidates")}
    scores = {n: next(r["ndcg"] for r in rows if r["alpha"] == a) for n, (a, rows) in per_norm.items()}
    winner = max(scores, key=lambda n: (scores[n], n == "all"))  # ties keep the first ("all")
    assert (choice.base_norm, choice.alpha, choice.score) == (winner, per_norm[winner][0], scores[winner])
    assert [r["base_norm"] for r in choice.rows] == ["all", "all", "candidates", "candidates"]


def test_fit_and_evaluate_and_cold_items(small, split):
    res = fit_and_evaluate({"pop": create("mostpop"), "ease": create("ease", lambda_=100.0)}, split, k=10)
    assert set(res) == {"pop", "ease"} and res["ease"].metrics["n_users"] == len(split.evaluable_users())
    with pytest.raises(RecutilsError, match="no cold items"):
        cold_item_comparison({"pop": create("mostpop")}, split)
    cold = cold_item_split(small, share=0.2, rng=1)
    out = cold_item_comparison({"random": create("random")}, cold, k=10)
    assert out["random"].metrics["n_users"] > 0
