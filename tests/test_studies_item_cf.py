"""The study behind notebook 01 (recutils.experiments.studies.item_cf), on tiny synthetic data."""

import numpy as np
import pandas as pd
import pytest

from recutils.errors import RecutilsError
from recutils.experiments import Candidate, Choice, Experiment, grid_search, multi_seed
from recutils.experiments.studies.item_cf import (
    best_on_validation,
    best_per,
    chosen_by_seed,
    ci_table,
    model_configs,
    seed_claims,
    side_by_side,
    similar_tables,
    tune_and_evaluate,
    tune_itemcf,
    user_recommendations,
    without_per_seed,
)
from recutils.models import create
from recutils.models.item_cf import ItemCF
from recutils.similarity import item_similarity
from recutils.splits import global_time_split, study_split


def _ratings(n_users=40, n_items=24, per_user=12, seed=0) -> pd.DataFrame:
    """Two taste groups over two halves of the catalogue, with a popular tilt."""
    rng = np.random.default_rng(seed)
    taste = rng.choice([-1, 1], n_users)
    group = np.arange(n_items) % 2 * 2 - 1
    rows = []
    for u in range(n_users):
        p = np.exp(1.5 * taste[u] * group) * np.linspace(2.0, 1.0, n_items)
        for i in rng.choice(n_items, per_user, replace=False, p=p / p.sum()):
            r = 3.0 + 1.2 * taste[u] * group[i] + rng.normal(scale=0.4)
            rows.append((u + 1, int(i) + 101, float(np.clip(np.round(r * 2) / 2, 0.5, 5.0)), u * 100 + len(rows)))
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])


@pytest.fixture(scope="module")
def ratings_():
    return _ratings()


@pytest.fixture(scope="module")
def split(ratings_):
    return study_split(ratings_)


@pytest.fixture(scope="module")
def movies():
    ids = np.arange(101, 125)
    return pd.DataFrame({"movieId": ids, "title": [f"Movie {i}" for i in ids]})


def _choice(rows, metric="ndcg"):
    return Choice({}, float("nan"), rows, metric)


def test_best_per_picks_the_first_best_row_of_each_group():
    rows = [{"kind": "a", "c": 1, "ndcg": 0.2}, {"kind": "a", "c": 2, "ndcg": 0.3},
            {"kind": "b", "c": 1, "ndcg": 0.5}, {"kind": "b", "c": 2, "ndcg": 0.5},
            {"kind": "a", "c": 3, "ndcg": 0.3}]
    got = best_per(_choice(rows), "kind", ["kind", "c"])
    assert list(got) == ["a", "b"]
    assert got["a"].best == {"kind": "a", "c": 2} and got["a"].score == 0.3  # the earliest of tied rows
    assert got["b"].best == {"kind": "b", "c": 1} and got["b"].rows == rows[2:4]
    low = best_per(_choice(rows), "kind", ["c"], lower_is_better=True)
    assert low["a"].best == {"c": 1} and low["b"].best == {"c": 1}
    with pytest.raises(RecutilsError):
        best_per(_choice([]), "kind", ["c"])


def test_best_on_validation_keeps_the_first_of_ties_and_never_nan():
    assert best_on_validation({"A": 0.1, "B": 0.3, "C": 0.3}) == "B"
    assert best_on_validation({"A": float("nan"), "B": 0.01}) == "B"
    with pytest.raises(RecutilsError):
        best_on_validation({"A": float("nan")})


def test_tune_itemcf_is_each_kind_searched_alone(split):
    grid = {"centre": ["user", 2.0], "normalize": [True, False]}
    fixed = {"shrinkage": 10.0, "min_support": 2}
    tuned = tune_itemcf(split, ["cosine", "pearson"], grid, fixed, k=5)
    assert len(tuned.rows) == 8 and [r["kind"] for r in tuned.rows] == ["cosine"] * 4 + ["pearson"] * 4
    for kind in ("cosine", "pearson"):  # one search over kind × grid == a search per kind
        best, rows = grid_search("itemcf", split, grid, k=5, fixed={**fixed, "kind": kind})
        assert tuned.by_kind[kind].rows == rows
        assert tuned.best()[kind] == {**fixed, "kind": kind, **best}
        assert tuned.scores()[f"ItemCF {kind}"] == max(r["ndcg"] for r in rows)
    models = tuned.models()
    assert list(models) == ["ItemCF cosine", "ItemCF pearson"]
    assert all(isinstance(m, ItemCF) for m in models.values())
    assert models["ItemCF pearson"].config_dict()["kind"] == "pearson"


def test_similar_items_views(split, movies):
    R = split.train_ratings
    sims = {"cosine": item_similarity(R, "cosine", shrinkage=0.0, min_support=1),
            "pearson": item_similarity(R, "pearson", shrinkage=0.0, min_support=2)}
    ids = [int(split.items[0]), int(split.items[1])]
    tables = similar_tables(split, sims, ids, movies, k=3)
    assert list(tables) == [f"Movie {ids[0]} (cosine)", f"Movie {ids[0]} (pearson)",
                            f"Movie {ids[1]} (cosine)", f"Movie {ids[1]} (pearson)"]
    rows = tables[f"Movie {ids[0]} (cosine)"]
    assert 0 < len(rows) <= 3 and set(rows[0]) == {"title", "similarity", "n_co"}
    sims_ = [r["similarity"] for r in rows]
    assert sims_ == sorted(sims_, reverse=True) and isinstance(rows[0]["n_co"], int)
    wide = side_by_side(split, sims, ids[0], 3, movies, width=5)
    assert list(wide.columns.get_level_values(0).unique()) == ["cosine", "pearson"]
    assert wide[("cosine", "title")].dropna().tolist() == [r["title"][:5] for r in rows]
    assert wide[("cosine", "sim")].dropna().tolist() == [round(r, 3) for r in sims_]


def test_user_recommendations_average_and_sum(split, movies):
    user = int(split.users[0])
    recs = user_recommendations(split.without_test(), user, movies, k=4, kind="cosine", shrinkage=0.0,
                                min_support=1, centre="user")
    assert list(recs) == ["weighted average", "weighted sum"]
    for top in recs.values():
        assert list(top.columns) == ["rank", "movieId", "title", "score"] and len(top) == 4
        assert (top["title"] == "Movie " + top["movieId"].astype(str)).all()
    by_hand = ItemCF(kind="cosine", shrinkage=0.0, min_support=1, centre="user", normalize=False).fit(
        split.without_test()).recommend(user, k=4)
    assert recs["weighted sum"]["movieId"].tolist() == by_hand["movieId"].tolist()


def test_tune_and_evaluate_is_grid_search_then_refit(ratings_):
    # every user rates before and after the cut-off
    gsplit = global_time_split(ratings_.assign(timestamp=np.random.default_rng(0).permutation(len(ratings_))))
    assert gsplit.summary()["n_evaluable_users"] > 5
    cands = {"MostPop": Candidate("mostpop"), "EASE": Candidate("ease", {"lambda_": [1.0, 500.0]})}
    tuned = tune_and_evaluate(gsplit, cands, k=5)
    best, rows = grid_search("ease", gsplit, {"lambda_": [1.0, 500.0]}, k=5)
    assert tuned.chosen == {"MostPop": {}, "EASE": best} and tuned.grids["EASE"] == rows
    assert tuned.validation["EASE"] == max(r["ndcg"] for r in rows)
    by_hand = Experiment(gsplit, {"EASE": create("ease", **best)}, 5).run()["EASE"]
    assert tuned.results["EASE"].metrics["ndcg"] == by_hand.metrics["ndcg"]
    assert tuned.results["EASE"].model == "EASE" and tuned.results.k == 5
    table = ci_table(tuned.results, ("precision", "ndcg"), n_boot=50, rng=1)
    assert [r["model"] for r in table] == ["MostPop", "EASE"]
    row = table[1]
    assert list(row) == ["model", "n_users", "precision@5", "precision@5_low", "precision@5_high",
                         "ndcg@5", "ndcg@5_low", "ndcg@5_high"]
    assert row["ndcg@5"] == pytest.approx(np.nanmean(tuned.results["EASE"].per_user["ndcg"]))
    assert row["ndcg@5_low"] <= row["ndcg@5"] <= row["ndcg@5_high"]


def test_seed_views_and_claims(ratings_):
    cands = {"MostPop": Candidate("mostpop"), "EASE": Candidate("ease", {"lambda_": [50.0]}),
             "EASE-r": Candidate("ease_r", {"lambda_": [50.0], "power": [2.0]})}
    ms = multi_seed(lambda sd: study_split(ratings_, seed=sd), [1, 2], cands, k=5)
    claims = seed_claims(ms, "EASE", ("precision", "ndcg"), extra=[("EASE-r", "EASE", "precision")], n_boot=50, rng=3)
    assert list(claims) == ["EASE vs MostPop (precision@5)", "EASE vs MostPop (ndcg@5)",
                            "EASE vs EASE-r (precision@5)", "EASE vs EASE-r (ndcg@5)", "EASE-r vs EASE (precision@5)"]
    assert claims["EASE vs MostPop (ndcg@5)"] == ms.compare("EASE", "MostPop", "ndcg", n_boot=50, rng=3)
    # the extra pair is not repeated when the best model already makes it, nor made without its models
    assert "EASE-r vs EASE (precision@5)" in seed_claims(ms, "EASE-r", ("precision",), extra=[
        ("EASE-r", "EASE", "precision"), ("ALS", "EASE", "precision")], n_boot=20)
    assert len(seed_claims(ms, "EASE-r", ("precision",), extra=[("EASE-r", "EASE", "precision")], n_boot=20)) == 2
    rows = without_per_seed(ms.table(("precision",)))
    assert rows and not any(key.endswith("_per_seed") for row in rows for key in row)
    assert chosen_by_seed(ms) == {"1": ms.runs[0].chosen, "2": ms.runs[1].chosen}
    assert model_configs({"E": create("ease", lambda_=7.0)})["E"]["lambda_"] == 7.0
