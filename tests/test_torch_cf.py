"""TorchCF (hybrid PyTorch rating model) and the rating baselines, on tiny synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from recutils.errors import RecutilsError  # noqa: E402
from recutils.models import create  # noqa: E402
from recutils.models.rating_baselines import BiasBaseline, CornacMF, GlobalMean  # noqa: E402
from recutils.models.torch_cf import TorchCF, build_item_features  # noqa: E402
from recutils.splits import cold_item_split, make_split  # noqa: E402

GENRES = ["Action", "Comedy", "Drama", "Horror"]
FAST = dict(embedding_dim=4, feature_dim=4, hidden=[8], batch_size=64, max_epochs=4, patience=2,
            dropout=0.0, refit=False, implicit=False, progress=False)


def _ratings(n_users=40, n_items=24, per_user=12, seed=0) -> pd.DataFrame:
    """Ratings with structure: user taste × item genre group + item quality + noise."""
    rng = np.random.default_rng(seed)
    taste = rng.normal(size=n_users)
    group = np.arange(n_items) % 2 * 2 - 1  # ±1
    quality = rng.normal(scale=0.7, size=n_items)
    rows = []
    for u in range(n_users):
        for i in rng.choice(n_items, per_user, replace=False):
            r = 3.2 + 0.8 * taste[u] * group[i] + quality[i] + rng.normal(scale=0.2)
            rows.append((u + 1, i + 101, float(np.clip(np.round(r * 2) / 2, 0.5, 5.0)), u * 100 + len(rows)))
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])


def _table(n_items=24, seed=1) -> pd.DataFrame:
    """A movie table like ``movie_table()``: every 5th movie has no TMDB row, one has 0 votes."""
    rng = np.random.default_rng(seed)
    ids = np.arange(101, 101 + n_items)
    has = ids % 5 != 0
    df = pd.DataFrame({
        "movieId": ids,
        "genres": [[GENRES[k % 2], GENRES[2 + (k // 2) % 2]] if k % 7 else [] for k in range(n_items)],
        "has_tmdb": has,
        "vote_average": np.where(has, rng.uniform(4, 8, n_items), np.nan),
        "vote_count": np.where(has, rng.integers(1, 5000, n_items), np.nan).astype(float),
        "popularity": np.where(has, rng.uniform(0.5, 50, n_items), np.nan),
    })
    df.loc[df["movieId"] == 102, ["vote_count", "vote_average"]] = [0.0, 0.0]
    return df


@pytest.fixture(scope="module")
def toy_split():
    r = _ratings()
    n = len(r)
    test = np.zeros(n, bool)
    test[np.random.default_rng(3).choice(n, n // 5, replace=False)] = True
    return make_split("toy", r[~test], r[test])


@pytest.fixture(scope="module")
def fitted(toy_split):
    return TorchCF(item_table=_table(), **FAST).fit(toy_split)


# --- features -------------------------------------------------------------------------
def test_scaler_uses_training_items_only():
    t = _table()
    items = t["movieId"].to_numpy()
    train = np.ones(len(items), bool)
    train[-3:] = False  # the last three items are test-only
    a = build_item_features(t, items, train)
    t2 = t.copy()
    t2.loc[t2.index[-3:], ["vote_count", "popularity", "vote_average"]] = [1e7, 1e5, 10.0]
    b = build_item_features(t2, items, train)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.std, b.std)
    np.testing.assert_array_equal(a.numeric[:-3], b.numeric[:-3])
    assert a.genre_names == b.genre_names
    # the statistics are those of the training items
    has = t["has_tmdb"].to_numpy() & train
    np.testing.assert_allclose(a.mean[2], np.log1p(t["popularity"].to_numpy()[has]).mean())


def test_missing_tmdb_is_flagged_and_imputed_with_the_training_mean():
    t = _table()
    items = np.r_[t["movieId"].to_numpy(), 999]  # 999: not in the table at all
    f = build_item_features(t, items, np.r_[np.ones(len(t), bool), False])
    names = f.numeric_names
    miss = f.numeric[:, names.index("missing_tmdb")]
    no_votes = f.numeric[:, names.index("missing_votes")]
    no_tmdb = np.r_[~t["has_tmdb"].to_numpy(), True]
    np.testing.assert_array_equal(miss.astype(bool), no_tmdb)
    assert np.all(f.numeric[no_tmdb, :3] == 0.0)  # imputed: the training mean, scaled
    assert np.isfinite(f.numeric).all()
    # movie 102 has TMDB metadata but 0 votes: its vote_average is missing, not 0
    r = int(np.flatnonzero(items == 102)[0])
    assert no_votes[r] == 1 and miss[r] == 0 and f.numeric[r, 0] == 0.0
    # genres: multi-hot over the training vocabulary plus a no-genre flag
    assert f.genre_names[-1] == "no_genre"
    assert f.genres[-1, -1] == 1 and f.genres[-1, :-1].sum() == 0
    assert set(f.genre_names[:-1]) == set(GENRES)


def test_item_table_without_movie_id_is_a_clear_error():
    with pytest.raises(RecutilsError, match="movieId"):
        build_item_features(pd.DataFrame({"x": [1]}), np.array([1]), np.array([True]))


# --- model ----------------------------------------------------------------------------
def test_shapes_and_rating_range(fitted, toy_split):
    users = np.arange(5)
    s = fitted.score(users)
    assert s.shape == (5, toy_split.n_items) and np.isfinite(s).all()
    t = toy_split.test
    p = fitted.predict(t["uidx"].to_numpy(), t["iidx"].to_numpy())
    assert p.shape == (len(t),)
    assert p.min() >= 0.5 and p.max() <= 5.0
    top = fitted.rank(users, k=3)
    assert top.shape == (5, 3)
    rec = fitted.recommend(toy_split.users[0], k=3)
    assert list(rec.columns) == ["movieId", "score", "rank"] and len(rec) == 3


def test_factored_score_equals_network_forward(fitted, toy_split):
    u = np.repeat(np.arange(3), toy_split.n_items)
    i = np.tile(np.arange(toy_split.n_items), 3)
    with torch.no_grad():
        direct = fitted.net_(torch.as_tensor(u), torch.as_tensor(i)).numpy().reshape(3, -1)
    import dataclasses

    for chunk in (5, 24, 50, 10_000):  # item slices of one user, one user, several users
        m = dataclasses.replace(fitted.config, score_chunk=chunk)
        with_chunk = TorchCF(m)
        with_chunk.net_, with_chunk.split_ = fitted.net_, fitted.split_
        np.testing.assert_allclose(with_chunk.score(np.arange(3)), direct, rtol=1e-5, atol=1e-5)


def test_training_loss_falls_on_a_toy_set(toy_split):
    m = TorchCF(item_table=_table(), **{**FAST, "max_epochs": 15, "patience": 15, "lr": 1e-2,
                                       "emb_l2": 0.0}).fit(toy_split)
    train = [h["train_rmse"] for h in m.history_]
    assert len(train) == 15
    assert train[-1] < 0.6 * train[0]
    assert all("val_rmse" in h for h in m.history_)


def test_fit_is_deterministic_and_leaves_the_global_rng_alone(toy_split):
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = TorchCF(item_table=_table(), **FAST).fit(toy_split)
    after = torch.rand(1)
    assert before == after
    b = TorchCF(item_table=_table(), **FAST).fit(toy_split)
    np.testing.assert_array_equal(a.score(np.arange(4)), b.score(np.arange(4)))


def test_dropout_layers_train_as_torch_nn_dropout(toy_split, monkeypatch):
    """The network's dropout layers (recutils.torch_dropout.Dropout) give the weights and the
    history that torch.nn.Dropout gives, to the bit, with the early stopping and the refit."""
    import recutils.models.torch_cf.net as net
    from recutils.torch_dropout import Dropout, available

    assert available()
    opts = {**FAST, "dropout": 0.3, "hidden": [8, 6], "implicit": True, "refit": True, "max_epochs": 5}
    ours = TorchCF(item_table=_table(), **opts).fit(toy_split)
    assert sum(isinstance(m, Dropout) for m in ours.net_.modules()) == 4
    monkeypatch.setattr(net, "Dropout", torch.nn.Dropout)
    theirs = TorchCF(item_table=_table(), **opts).fit(toy_split)
    assert not any(isinstance(m, Dropout) for m in theirs.net_.modules())
    untimed = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
    assert untimed(ours.history_) == untimed(theirs.history_)
    assert any(e.get("phase") == "refit" for e in ours.history_)
    a, b = ours.net_.state_dict(), theirs.net_.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_save_load_round_trip(fitted, toy_split, tmp_path):
    fitted.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    m2 = TorchCF.load(tmp_path / "m")
    t = toy_split.test
    u, i = t["uidx"].to_numpy(), t["iidx"].to_numpy()
    np.testing.assert_array_equal(fitted.predict(u, i), m2.predict(u, i))
    np.testing.assert_array_equal(fitted.score(np.arange(7)), m2.score(np.arange(7)))
    pd.testing.assert_frame_equal(fitted.recommend(toy_split.users[2], k=5), m2.recommend(toy_split.users[2], k=5))
    assert m2.config == fitted.config
    with pytest.raises(RecutilsError, match="not a saved torch_cf model"):
        TorchCF.load(tmp_path / "nowhere")


def test_implicit_user_term_factors_and_round_trips(toy_split, tmp_path):
    m = TorchCF(item_table=_table(), **{**FAST, "implicit": True}).fit(toy_split)
    u = np.repeat(np.arange(3), toy_split.n_items)
    i = np.tile(np.arange(toy_split.n_items), 3)
    with torch.no_grad():
        direct = m.net_(torch.as_tensor(u), torch.as_tensor(i)).numpy().reshape(3, -1)
    np.testing.assert_allclose(m.score(np.arange(3)), direct, rtol=1e-5, atol=1e-5)
    # |N(u)|^-1/2 Σ y_j by hand for user 0
    tr = m.split_.train
    items0 = tr.loc[tr["uidx"] == 0, "iidx"].to_numpy()
    y = m.net_.implicit_emb.weight.detach().numpy()
    with torch.no_grad():
        got = m.net_.implicit_vectors()[0].numpy()
    np.testing.assert_allclose(got, y[items0].sum(0) / np.sqrt(len(items0)), rtol=1e-5, atol=1e-6)
    m.save(tmp_path / "imp")
    np.testing.assert_array_equal(TorchCF.load(tmp_path / "imp").score(np.arange(5)), m.score(np.arange(5)))


def test_cold_items_are_scored_from_side_features():
    split = cold_item_split(_ratings(), share=0.25, rng=0)
    assert split.cold_items.sum() == 6
    m = TorchCF(item_table=_table(), **FAST).fit(split)
    s = m.score(np.arange(split.n_users))
    cold = s[:, split.cold_items]
    assert np.isfinite(cold).all()
    # different features → different scores; the CF part of every cold item is the same
    assert len(np.unique(np.round(cold[0], 6))) > 1
    q = m.net_.item_emb.weight.detach().numpy()
    np.testing.assert_allclose(q[split.cold_items], q[~split.cold_items].mean(0, keepdims=True).repeat(6, 0),
                               rtol=1e-5, atol=1e-6)
    from recutils.evaluation import evaluate_ranking

    r = evaluate_ranking(m, split, k=3, candidates=split.cold_items)
    assert r.metrics["n_users"] > 0 and np.isin(r.topk, np.flatnonzero(split.cold_items)).all()


@pytest.mark.parametrize("bad, match", [
    ({"dropout": 1.5}, "dropout"),
    ({"hidden": []}, "hidden"),
    ({"embedding_dim": 0}, "embedding_dim"),
    ({"batch_size": 1}, "batch_size"),
    ({"lr": -1.0}, "lr"),
])
def test_bad_config_is_a_clear_error(bad, match):
    with pytest.raises(RecutilsError, match=match):
        TorchCF(**bad)


def test_registered_and_unknown_parameter_is_a_clear_error():
    assert isinstance(create("torch_cf", embedding_dim=8), TorchCF)
    with pytest.raises(RecutilsError, match="no parameter"):
        create("torch_cf", embeding_dim=8)


def test_too_few_ratings_for_early_stopping_is_a_clear_error():
    r = _ratings(n_users=5, per_user=3)
    with pytest.raises(RecutilsError, match="validation carve-out"):
        TorchCF(item_table=_table(), **FAST).fit(make_split("tiny", r, r.iloc[:0]))


def test_unfitted_model_is_a_clear_error():
    with pytest.raises(RecutilsError, match="fit"):
        TorchCF().score([0])


# --- rating baselines -----------------------------------------------------------------
def test_bias_baseline_closed_form(toy_split):
    m = BiasBaseline(reg_user=0.0, reg_item=0.0, n_sweeps=200).fit(toy_split)
    tr = toy_split.train
    # unregularised, converged: residuals sum to zero per item and per user
    res = tr["rating"].to_numpy() - (m.mu_ + m.bu_[tr["uidx"]] + m.bi_[tr["iidx"]])
    np.testing.assert_allclose(np.bincount(tr["iidx"], res), 0, atol=1e-6)
    np.testing.assert_allclose(np.bincount(tr["uidx"], res), 0, atol=1e-6)
    big = BiasBaseline(reg_user=1e9, reg_item=1e9).fit(toy_split)
    assert np.abs(big.bi_).max() < 1e-6  # heavy regularisation → global mean
    assert GlobalMean().fit(toy_split).predict([0, 1], [0, 1]).tolist() == [m.mu_] * 2
    with pytest.raises(RecutilsError):
        BiasBaseline(reg_user=-1)


def test_cornac_mf_predict_matches_score(toy_split):
    m = CornacMF(k=4, max_iter=5).fit(toy_split)
    s = m.score([0, 1])
    raw = m._raw(np.array([0, 0, 1]), np.array([0, 3, 5]))
    np.testing.assert_allclose(raw, [s[0, 0], s[0, 3], s[1, 5]])
    p = m.predict(toy_split.test["uidx"], toy_split.test["iidx"])
    assert p.min() >= 0.5 and p.max() <= 5.0


def test_without_side_features_cold_items_are_indistinguishable():
    split = cold_item_split(_ratings(), share=0.25, rng=0)
    m = TorchCF(item_table=_table(), **{**FAST, "side_features": False}).fit(split)
    assert float(m.net_.item_numeric.abs().sum()) == 0.0 and float(m.net_.item_genres.abs().sum()) == 0.0
    cold = m.score([0, 1])[:, split.cold_items]
    np.testing.assert_allclose(cold, cold[:, :1].repeat(cold.shape[1], 1), rtol=1e-5)


def test_refit_retrains_on_all_training_ratings_for_the_best_epoch_count(toy_split):
    m = TorchCF(item_table=_table(), **{**FAST, "refit": True, "implicit": True}).fit(toy_split)
    refit = [h for h in m.history_ if h.get("phase") == "refit"]
    assert len(refit) == m.best_epoch_ and all("val_rmse" not in h for h in refit)
    # every training item is known to the refitted network, N(u) covers every training rating
    assert bool(m.net_.known_items.all()) == bool((np.bincount(toy_split.train["iidx"], minlength=toy_split.n_items) > 0).all())
    assert m.net_.implicit_items.shape[0] == len(toy_split.train)
