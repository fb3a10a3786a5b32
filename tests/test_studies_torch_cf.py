"""recutils.experiments.studies.torch_cf (notebook 04's study logic), on tiny synthetic data."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from recutils.experiments.studies.torch_cf import (choose_torch_candidate, fit_timed, ranking_table, rating_goal,
                                                   rating_table, snapshot_correlation, torch_settings, torch_summary,
                                                   tune_rating_models)
from recutils.models.rating_baselines import BiasBaseline, GlobalMean
from recutils.splits import make_split


def _ratings(n_users=30, n_items=20, per_user=10, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    quality = rng.normal(scale=0.8, size=n_items)
    rows = []
    for u in range(n_users):
        for i in rng.choice(n_items, per_user, replace=False):
            r = np.clip(np.round((3.3 + quality[i] + rng.normal(scale=0.3)) * 2) / 2, 0.5, 5.0)
            rows.append((u + 1, int(i) + 101, float(r), u * 100 + len(rows)))
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])


@pytest.fixture(scope="module")
def split():
    r = _ratings()
    test = np.zeros(len(r), bool)
    test[np.random.default_rng(1).choice(len(r), len(r) // 5, replace=False)] = True
    return make_split("toy", r[~test], r[test])


def _movies() -> pd.DataFrame:
    ids = np.arange(101, 121)
    return pd.DataFrame({"movieId": ids, "genres": [["Drama"] if i % 2 else ["Comedy"] for i in ids],
                         "has_tmdb": ids % 5 != 0, "vote_average": np.where(ids % 5 != 0, 6.0, np.nan),
                         "vote_count": np.where(ids % 5 != 0, ids * 10.0, np.nan),
                         "popularity": np.where(ids % 5 != 0, ids / 10.0, np.nan)})


class FakeTorch:
    """Stands in for TorchCF: its validation RMSE is given by a setting."""

    def __init__(self, item_table=None, **settings):
        self.settings = settings
        self.item_table = item_table

    def fit(self, train):
        self.best_val_rmse_ = self.settings["val"]
        self.best_epoch_ = self.settings.get("epochs", 1)
        self.history_ = [{"epoch": 1, "val_rmse": self.best_val_rmse_}]
        return self


def test_tune_rating_models_keeps_the_lowest_validation_rmse_and_rows_of_grids_only(split):
    t = tune_rating_models(split, {"globalmean": ({}, {}),
                                   "bias": ({"reg_user": [0.5, 50.0], "reg_item": [0.5, 50.0]}, {})})
    assert list(t.best) == ["globalmean", "bias"] and t.best["globalmean"] == {}
    bias_rows = [r for r in t.rows if r["model"] == "bias"]
    assert len(t.rows) == len(bias_rows) == 4
    assert set(bias_rows[0]) == {"model", "params", "val_rmse"}
    assert t.val_rmse["bias"] == min(r["val_rmse"] for r in bias_rows)
    best_row = next(r for r in bias_rows if r["val_rmse"] == t.val_rmse["bias"])
    assert t.best["bias"] == best_row["params"]
    assert t.val_rmse["bias"] < t.val_rmse["globalmean"]  # item biases help on this data


def test_fit_timed_fits_in_order_and_times_each(split):
    fitted, secs = fit_timed({"mean": GlobalMean(), "bias": BiasBaseline()}, split.without_test())
    assert list(fitted) == list(secs) == ["mean", "bias"]
    assert all(s >= 0 for s in secs.values())
    assert np.isfinite(fitted["bias"].predict(np.array([0]), np.array([0]))).all()


def test_choose_torch_candidate_keeps_the_lowest_and_the_first_of_ties():
    cands = {"a": {"val": 0.9}, "b": {"val": 0.8, "epochs": 3}, "c": {"val": 0.8}, "d": {"val": 1.1}}
    ch = choose_torch_candidate("train", cands, {"val": 5.0, "lr": 0.1}, seed=7, progress=False,
                                item_table="movies", model_cls=FakeTorch)
    assert ch.label == "b" and ch.params == {"val": 0.8, "epochs": 3}
    assert ch.model.settings == {"val": 0.8, "lr": 0.1, "epochs": 3, "seed": 7, "progress": False}
    assert ch.model.item_table == "movies" and ch.model.best_epoch_ == 3
    assert list(ch.models) == list(cands) and ch.total_seconds >= ch.fit_seconds >= 0
    rows = ch.tuning_rows()
    assert [r["label"] for r in rows] == list(cands)
    assert list(rows[0]) == ["model", "label", "params", "val_rmse", "best_epoch", "fit_seconds"]
    assert rows[0]["model"] == "torch_cf" and rows[1]["val_rmse"] == 0.8
    assert [r["candidate"] for r in ch.table()] == list(cands)


def test_torch_settings_seed_and_progress_come_last():
    s = torch_settings({"lr": 1, "seed": 0}, {"lr": 2}, seed=5, progress=True)
    assert s == {"lr": 2, "seed": 5, "progress": True}


def test_rating_table_and_goal(split):
    fitted, secs = fit_timed({"global mean": GlobalMean(), "bias": BiasBaseline()}, split.without_test())
    torch_like = fitted["bias"]
    rows = rating_table(fitted, split, {"global mean": 1.5}, secs)
    assert [r["model"] for r in rows] == ["global mean", "bias"]
    assert rows[0]["val_rmse"] == 1.5 and np.isnan(rows[1]["val_rmse"])  # no val RMSE known for "bias"
    assert rows[0]["n_ratings"] == len(split.test) and rows[1]["rmse"] < rows[0]["rmse"]
    torch_like.best_val_rmse_ = 0.7
    assert rating_table({"bias": torch_like}, split, {}, {"bias": 0.0})[0]["val_rmse"] == 0.7
    rows = [{"model": "torch_cf", "rmse": 0.85}, {"model": "cornac MF (biased)", "rmse": 0.84}]
    assert rating_goal(rows) == {"rmse_at_most_0.86": True, "better_than_cornac_mf": False}
    assert rating_goal(rows, target=0.8) == {"rmse_at_most_0.8": False, "better_than_cornac_mf": False}


def test_ranking_table_rows():
    res = {"A": SimpleNamespace(metrics={"precision": 0.1, "recall": 0.2, "ndcg": 0.3, "coverage": 0.5,
                                         "n_users": 4})}
    assert ranking_table(res, 5) == [{"model": "A", "precision@5": 0.1, "recall@5": 0.2, "ndcg@5": 0.3,
                                      "coverage": 0.5, "n_users": 4}]


def test_snapshot_correlation_over_cold_movies_with_tmdb():
    from scipy.stats import spearmanr

    items = np.array([1, 2, 3, 4, 5, 6])
    cold = SimpleNamespace(items=items, cold_items=np.array([True, True, True, True, True, False]),
                           test=pd.DataFrame({"movieId": [1, 1, 1, 2, 2, 3, 5, 6, 6]}))
    movies = pd.DataFrame({"movieId": items, "vote_count": [30.0, 20.0, 5.0, np.nan, 1.0, 99.0]})
    got = snapshot_correlation(cold, movies)
    # cold movies with TMDB data: 1, 2, 3, 5 (4 has none, 6 is not cold); held-out counts 3, 2, 1, 1
    expect = spearmanr([30.0, 20.0, 5.0, 1.0], [3, 2, 1, 1]).statistic
    assert got == {"spearman_vote_count_vs_held_out_ratings": pytest.approx(expect), "n_cold_movies_with_tmdb": 4}
    movies["vote_count"] = [1.0, np.nan, np.nan, np.nan, 2.0, 3.0]
    assert np.isnan(snapshot_correlation(cold, movies)["spearman_vote_count_vs_held_out_ratings"])


def test_torch_summary_of_the_chosen_candidate():
    ch = choose_torch_candidate("train", {"x": {"val": 0.9}}, {}, seed=1, model_cls=FakeTorch)
    s = torch_summary(ch, 1.234, {"rmse": 1.0}, {"rmse": 1.1})
    assert s["chosen"] == "x" and s["best_val_rmse"] == 0.9 and s["cold_fit_seconds"] == 1.23
    assert list(s) == ["chosen", "best_epoch", "best_val_rmse", "fit_seconds", "history", "cold_fit_seconds",
                       "cold_rmse", "cold_bias_rmse"]


def test_choose_torch_candidate_trains_real_torch_models(split):
    pytest.importorskip("torch")
    fast = dict(embedding_dim=4, feature_dim=4, hidden=[8], batch_size=64, max_epochs=2, patience=2, dropout=0.0,
                refit=False, implicit=False, side_features=False, metadata=False, num_threads=1)
    movies = _movies()
    ch = choose_torch_candidate(split.without_test(), {"lr 0.01": {"lr": 0.01}, "lr 0.0001": {"lr": 0.0001}}, fast,
                                seed=0, item_table=movies)
    vals = {r["label"]: r["val_rmse"] for r in ch.choice.rows}
    assert ch.label == min(vals, key=vals.get)
    assert ch.model.config.lr == ch.params["lr"] and ch.model.config.seed == 0


def test_choose_torch_candidate_in_workers_trains_the_same_models(split):
    """workers=2: each candidate trained in a loky process gives the weights, the history and the
    choice of the in-process run (dropout on, one thread); a bad worker count is one clear error."""
    torch = pytest.importorskip("torch")
    from recutils.errors import RecutilsError

    fast = dict(embedding_dim=4, feature_dim=4, hidden=[8, 6], batch_size=64, max_epochs=3, patience=2, dropout=0.2,
                refit=True, implicit=True, num_threads=1)
    cands = {"lr 0.01": {"lr": 0.01}, "lr 0.003": {"lr": 0.003}, "lr 0.0001": {"lr": 0.0001}}
    one = choose_torch_candidate(split.without_test(), cands, fast, seed=3, item_table=_movies())
    two = choose_torch_candidate(split.without_test(), cands, fast, seed=3, item_table=_movies(), workers=2)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "fit_seconds"} for r in rows]  # noqa: E731
    assert strip(one.choice.rows) == strip(two.choice.rows) and one.label == two.label
    assert list(two.models) == list(cands)
    for label in cands:
        a, b = one.models[label], two.models[label]
        untimed = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
        assert untimed(a.history_) == untimed(b.history_)
        sa, sb = a.net_.state_dict(), b.net_.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    np.testing.assert_array_equal(one.model.score(np.arange(3)), two.model.score(np.arange(3)))
    for bad in (0, True, 1.5):
        with pytest.raises(RecutilsError, match="workers must be an integer"):
            choose_torch_candidate(split.without_test(), cands, fast, seed=3, workers=bad)


def test_choose_torch_candidate_in_workers_keeps_the_order_and_the_first_of_ties():
    cands = {"a": {"val": 0.9}, "b": {"val": 0.8, "epochs": 3}, "c": {"val": 0.8}, "d": {"val": 1.1}}
    ch = choose_torch_candidate("train", cands, {"val": 5.0}, seed=7, item_table="movies", model_cls=FakeTorch,
                                workers=2)
    assert ch.label == "b" and list(ch.models) == list(cands) == [r["label"] for r in ch.choice.rows]
    assert ch.model.settings == {"val": 0.8, "epochs": 3, "seed": 7, "progress": False}
