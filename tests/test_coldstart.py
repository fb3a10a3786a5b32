"""Cold-start items: torch_cf's text side features, the content → CF map, the warm-item
validation carve-out and CF-space pairs — shapes, train-only fitting and no cold-item leakage,
on tiny synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recutils.embeddings.items import ItemEmbeddings, normalize_rows
from recutils.errors import ConfigError, RecutilsError
from recutils.models.coldstart import ContentToCF, content_matrix, ridge_cold_scores, warm_mask
from recutils.splits import Split, cold_item_split

GENRES = ["Action", "Comedy", "Drama", "Horror"]


def _ratings(n_users=40, n_items=30, per_user=12, seed=0) -> pd.DataFrame:
    """Users like the items of their genre group; item quality adds a popular tilt."""
    rng = np.random.default_rng(seed)
    taste = rng.choice([-1, 1], n_users)
    group = np.arange(n_items) % 2 * 2 - 1
    rows = []
    for u in range(n_users):
        p = np.exp(1.5 * taste[u] * group)
        for i in rng.choice(n_items, per_user, replace=False, p=p / p.sum()):
            r = 3.0 + 1.0 * taste[u] * group[i] + rng.normal(scale=0.3)
            rows.append((u + 1, int(i) + 101, float(np.clip(np.round(r * 2) / 2, 0.5, 5.0)), u * 100 + len(rows)))
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])


def _table(n_items=30, seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.arange(101, 101 + n_items)
    has = ids % 7 != 0
    return pd.DataFrame({
        "movieId": ids,
        "genres": [[GENRES[k % 2], GENRES[2 + (k // 2) % 2]] for k in range(n_items)],
        "has_tmdb": has,
        "vote_average": np.where(has, rng.uniform(4, 8, n_items), np.nan),
        "vote_count": np.where(has, rng.integers(1, 5000, n_items), np.nan).astype(float),
        "popularity": np.where(has, rng.uniform(0.5, 50, n_items), np.nan),
    })


def _text(n_items=30, dim=6, seed=2, drop=(105,)) -> ItemEmbeddings:
    """Text embeddings that carry the genre group in their first coordinate (one movie has none)."""
    rng = np.random.default_rng(seed)
    ids = np.arange(101, 101 + n_items)
    M = rng.normal(scale=0.3, size=(n_items, dim))
    M[:, 0] += np.arange(n_items) % 2 * 2 - 1
    keep = ~np.isin(ids, drop)
    return ItemEmbeddings(ids[keep], normalize_rows(M[keep]), "toy")


@pytest.fixture(scope="module")
def cold():
    return cold_item_split(_ratings(), share=0.2, rng=0)


def _with_test(split: Split, test: pd.DataFrame) -> Split:
    return Split(split.name, split.train, test, split.users, split.items, split.cold_items, split.info)


# --- content vectors ------------------------------------------------------------------------
def test_content_matrix_shapes_and_warm_only_scaling(cold):
    warm = ~cold.cold_items
    C = content_matrix(cold.items, warm, _table(), _text())
    assert C.matrix.shape == (cold.n_items, len(C.names)) and C.n_text == 6
    np.testing.assert_allclose(C.matrix[warm].mean(0), 0, atol=1e-9)
    # the scaling ignores cold rows: changing a cold movie's embedding changes only its own row
    e = _text()
    e.matrix[np.flatnonzero(np.isin(e.movie_ids, cold.items[cold.cold_items]))[0]] *= -1
    C2 = content_matrix(cold.items, warm, _table(), e)
    changed = np.flatnonzero(np.abs(C2.matrix - C.matrix).sum(1) > 1e-12)
    assert len(changed) == 1 and cold.cold_items[changed[0]]
    # a movie without an embedding: zero text row before scaling, flagged
    i = np.flatnonzero(cold.items == 105)
    if len(i):
        assert C.matrix[i[0], C.names.index("missing_text")] > 0
    assert C.text_coverage < 1.0


def test_constant_columns_are_exactly_zero_but_a_cold_movies_own_value_stays(cold):
    """A dimension the warm movies hold constant (MiniLM has two, at ~1e-32) is centred to exact
    zeros, not to its rounding residue (denormal gradients: a slow path in the CPU); a cold movie
    that differs from that constant keeps its value."""
    warm = ~cold.cold_items
    e = _text(drop=())  # every movie has a text row
    e.matrix[:, 2] = np.where(np.arange(len(e.movie_ids)) % 3, 1e-32, -2.5e-32)  # a dead dimension
    e.matrix[:, 4] = 0.25  # constant for every movie
    cold_ids = set(cold.items[cold.cold_items])
    first_cold = next(j for j, m in enumerate(e.movie_ids) if m in cold_ids)
    e.matrix[:, 5] = 0.1
    e.matrix[first_cold, 5] = 0.9  # constant on the warm movies only
    C = content_matrix(cold.items, warm, _table(), e)
    col = {j: C.names.index(f"text_{j}") for j in (2, 4, 5)}
    assert not C.matrix[:, col[2]].any() and not C.matrix[:, col[4]].any()
    row = np.flatnonzero(cold.items == e.movie_ids[first_cold])[0]
    assert C.matrix[row, col[5]] == pytest.approx(0.8) and np.count_nonzero(C.matrix[:, col[5]]) == 1
    varying = C.matrix[:, col[2] - 2]  # text_0 carries the genre group: scaled as before
    assert np.std(varying[warm]) == pytest.approx(1.0)


def test_content_matrix_without_tmdb_numbers_keeps_genres(cold):
    C = content_matrix(cold.items, ~cold.cold_items, _table(), _text(), tmdb_numbers=False)
    assert not any(n in C.names for n in ("vote_average", "log_vote_count", "missing_tmdb"))
    assert any(n.startswith("genre_") for n in C.names) and C.n_text == 6


def test_content_matrix_needs_something_to_describe_a_movie(cold):
    with pytest.raises(RecutilsError, match="neither metadata nor text"):
        content_matrix(cold.items, ~cold.cold_items, _table(), None, metadata=False)
    only_text = content_matrix(cold.items, ~cold.cold_items, None, _text(), metadata=False, text_weight=0.5)
    assert only_text.names[0] == "text_0"
    assert only_text.matrix[~cold.cold_items, 0].std() == pytest.approx(0.5)


# --- the ridge map ------------------------------------------------------------------------------
def test_ridge_scores_equal_the_explicit_item_vector_map():
    rng = np.random.default_rng(0)
    U, Y = rng.normal(size=(7, 3)), rng.normal(size=(20, 3))
    C, C_new = rng.normal(size=(20, 4)), rng.normal(size=(5, 4))
    lam = 2.0
    c_bar, y_bar = C.mean(0), Y.mean(0)
    M = np.linalg.solve((C - c_bar).T @ (C - c_bar) + lam * np.eye(4), (C - c_bar).T @ (Y - y_bar))
    Y_new = y_bar + (C_new - c_bar) @ M
    np.testing.assert_allclose(ridge_cold_scores(U @ Y.T, C, C_new, lam), U @ Y_new.T, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("params", [
    {"target": "ease", "mapper": "ridge", "ease_lambda": 5.0, "ridge_lambda": 1.0},
    {"target": "als", "mapper": "ridge", "als_factors": 4, "als_iterations": 3},
    {"target": "als", "mapper": "mlp", "als_factors": 4, "als_iterations": 3, "mlp_hidden": 8, "mlp_epochs": 30},
])
def test_mapping_scores_cold_items_and_keeps_warm_cf_scores(cold, params):
    m = ContentToCF(item_table=_table(), embeddings=_text(), **params).fit(cold)
    s = m.score(np.arange(cold.n_users))
    assert s.shape == (cold.n_users, cold.n_items) and np.isfinite(s).all()
    assert np.unique(np.round(s[0, cold.cold_items], 8)).size > 1  # cold items told apart by content
    r = m.rank(np.arange(5), 3, candidates=cold.cold_items)
    assert np.isin(r, np.flatnonzero(cold.cold_items)).all()


def test_the_cf_target_is_fitted_once_per_training_data_and_setting(cold, monkeypatch):
    from recutils.models.coldstart import mapping

    mapping._TARGETS.clear()  # other tests fitted targets on the same fixture
    calls = []
    real = ContentToCF._fit_target
    monkeypatch.setattr(ContentToCF, "_fit_target", lambda self, split, warm: calls.append(1) or real(self, split, warm))
    train = cold.without_test()
    p = dict(item_table=_table(), embeddings=_text(), ease_lambda=5.0)
    a = ContentToCF(ridge_lambda=1.0, **p).fit(train).score(np.arange(4))
    ContentToCF(ridge_lambda=10.0, **p).fit(train)
    assert len(calls) == 1
    ContentToCF(ridge_lambda=1.0, **{**p, "ease_lambda": 6.0}).fit(train)
    assert len(calls) == 2
    mapping._TARGETS.clear()
    np.testing.assert_array_equal(ContentToCF(ridge_lambda=1.0, **p).fit(train).score(np.arange(4)), a)
    assert len(calls) == 3


def test_mapping_learns_the_genre_group_on_toy_data():
    """Users like one genre group; the content (genres, text) tells a cold item's group: the
    mapped scores rank a user's group above the other group for most users."""
    split = cold_item_split(_ratings(n_users=60, per_user=14), share=0.3, rng=1)
    m = ContentToCF(item_table=_table(), embeddings=_text(), ease_lambda=5.0, ridge_lambda=1.0).fit(split)
    s = m.score(np.arange(split.n_users))[:, split.cold_items]
    group = (split.items[split.cold_items] - 101) % 2
    tr = split.train
    liked_odd = tr.assign(odd=(tr["movieId"] - 101) % 2).groupby("uidx")["odd"].mean().reindex(range(split.n_users))
    pref = np.where(liked_odd.to_numpy() > 0.5, 1, 0)
    diff = np.array([s[u, group == pref[u]].mean() - s[u, group != pref[u]].mean() for u in range(split.n_users)])
    assert (diff > 0).mean() > 0.8


def test_bad_mapping_configs_are_clear_errors():
    with pytest.raises(ConfigError, match="nothing to map from"):
        ContentToCF(metadata=False, text=False)
    ContentToCF(mapper="mlp", target="ease")  # the MLP onto EASE maps onto a low-rank SVD of its scores (issue 24)
    with pytest.raises(ConfigError, match="target"):
        ContentToCF(target="svd")


def test_text_without_embeddings_computes_them_from_the_config(cold, monkeypatch):
    import recutils.embeddings.items as items

    asked = []
    monkeypatch.setattr(items, "compute_item_embeddings", lambda model, text, **kw: asked.append((model, text)) or _text())
    m = ContentToCF(item_table=_table(), ease_lambda=5.0, text_spec="title+overview").fit(cold)
    assert asked == [("all-MiniLM-L6-v2", "title+overview")] and m.content_.n_text == 6
    with pytest.raises(ConfigError, match="text_spec"):
        ContentToCF(text_spec="plot")


# --- no cold-item leakage ---------------------------------------------------------------------
def test_cold_scores_do_not_depend_on_the_cold_items_held_out_ratings(cold):
    """Fitting sees the training part only: rewriting every held-out rating of the cold items
    (values, which users, how many) leaves every score unchanged."""
    params = dict(item_table=_table(), embeddings=_text(), ease_lambda=5.0, ridge_lambda=1.0)
    a = ContentToCF(**params).fit(cold).score(np.arange(cold.n_users))
    t = cold.test.copy()
    t["rating"] = 6.0 - t["rating"]
    t = pd.concat([t, t.assign(uidx=(t["uidx"] + 1) % cold.n_users)])
    b = ContentToCF(**params).fit(_with_test(cold, t)).score(np.arange(cold.n_users))
    np.testing.assert_array_equal(a, b)


def test_a_cold_items_rating_in_training_is_refused(cold):
    """The leakage guard: a split whose training part holds a rating of an item flagged cold
    (e.g. a protocol bug that forgot to remove it) cannot be fitted."""
    j = int(np.flatnonzero(cold.cold_items)[0])
    leak = cold.train.iloc[:1].copy()
    leak["movieId"], leak["iidx"] = cold.items[j], j
    leaky = Split(cold.name, pd.concat([cold.train, leak], ignore_index=True), cold.test, cold.users, cold.items,
                  cold.cold_items, cold.info)
    with pytest.raises(RecutilsError, match="flagged cold have training ratings"):
        warm_mask(leaky)
    with pytest.raises(RecutilsError, match="reached training"):
        ContentToCF(item_table=_table(), embeddings=_text(), ease_lambda=5.0).fit(leaky)
    assert warm_mask(cold).sum() == (~cold.cold_items).sum()


# --- torch_cf text side features --------------------------------------------------------------
torch_fast = dict(embedding_dim=4, feature_dim=4, hidden=[8], batch_size=64, max_epochs=3, patience=2,
                  dropout=0.0, refit=False, implicit=False, progress=False)


def test_torch_cf_default_has_no_text_parts(cold):
    pytest.importorskip("torch")
    from recutils.models.torch_cf import TorchCF

    m = TorchCF(item_table=_table(), **torch_fast).fit(cold)
    keys = set(m.net_.state_dict())
    assert not any(k.startswith("text_mlp") or k == "item_text" for k in keys)
    assert m.net_.first_item.in_features == 4 + 2 * 4


@pytest.mark.parametrize("metadata", [True, False])
def test_torch_cf_text_features_score_cold_items_and_round_trip(cold, tmp_path, metadata):
    torch = pytest.importorskip("torch")
    from recutils.models.torch_cf import TorchCF

    m = TorchCF(item_table=_table(), item_text=_text(), text_dim=3, metadata=metadata, **torch_fast).fit(cold)
    assert m.net_.first_item.in_features == 4 + 2 * 4 + 3
    assert tuple(m.net_.item_text.shape) == (cold.n_items, 6)
    # the buffer holds each movie's embedding (zero for the one without)
    e = _text()
    j = int(np.flatnonzero(cold.items == e.movie_ids[0])[0])
    np.testing.assert_allclose(m.net_.item_text[j].numpy(), e.matrix[0], rtol=1e-6)
    s = m.score(np.arange(cold.n_users))
    assert np.isfinite(s).all() and np.unique(np.round(s[0, cold.cold_items], 6)).size > 1
    u = np.repeat(np.arange(2), cold.n_items)
    i = np.tile(np.arange(cold.n_items), 2)
    with torch.no_grad():
        direct = m.net_(torch.as_tensor(u), torch.as_tensor(i)).numpy().reshape(2, -1)
    np.testing.assert_allclose(s[:2], direct, rtol=1e-5, atol=1e-5)
    m.save(tmp_path / "t")
    # the same users in the same batch: the same kernels, so the reloaded model scores bit for bit
    # alike (s[:4] came from a batch of every user: another shape may take another kernel and move
    # the last float bit on some CPUs, e.g. AVX-512)
    np.testing.assert_array_equal(TorchCF.load(tmp_path / "t").score(np.arange(4)), m.score(np.arange(4)))


def test_torch_cf_text_config_errors(cold):
    pytest.importorskip("torch")
    from recutils.models.torch_cf import TorchCF

    with pytest.raises(ConfigError, match="metadata=False leaves no side features"):
        TorchCF(metadata=False)
    with pytest.raises(ConfigError, match="text_dim"):
        TorchCF(text_dim=-1)
    with pytest.raises(RecutilsError, match="needs the movies' text embeddings"):
        TorchCF(item_table=_table(), text_dim=2, **torch_fast).fit(cold)


def test_torch_cf_cold_scores_do_not_depend_on_held_out_ratings(cold):
    pytest.importorskip("torch")
    from recutils.models.torch_cf import TorchCF

    params = dict(item_table=_table(), item_text=_text(), text_dim=3, **torch_fast)
    a = TorchCF(**params).fit(cold).score(np.arange(cold.n_users))
    t = cold.test.assign(rating=6.0 - cold.test["rating"])
    b = TorchCF(**params).fit(_with_test(cold, t)).score(np.arange(cold.n_users))
    np.testing.assert_array_equal(a, b)


# --- the study's helpers --------------------------------------------------------------------------
def test_warm_item_validation_holds_out_warm_items_only(cold):
    from recutils.experiments.coldstart import warm_item_validation

    val = warm_item_validation(cold, share=0.25, seed=5)
    test_cold = set(cold.items[cold.cold_items])
    assert not test_cold & set(val.items)  # the real cold movies are not even in the universe
    assert set(val.items[val.cold_items]) <= set(cold.items[~cold.cold_items])
    assert val.cold_items.sum() == round(0.25 * (~cold.cold_items).sum())
    assert not set(val.train["movieId"]) & set(val.items[val.cold_items])
    assert len(val.train) + len(val.test) == len(cold.train)


def test_cold_table_rows_cis_and_popularity(cold):
    from recutils.experiments.coldstart import cold_table, held_out_popularity
    from recutils.models.feature_baselines import MetadataPopularity, RandomScores

    models = {"random": RandomScores(seed=1).fit(cold), "votes": MetadataPopularity(item_table=_table()).fit(cold),
              "map": ContentToCF(item_table=_table(), embeddings=_text(), ease_lambda=5.0).fit(cold)}
    rows, res = cold_table(models, cold, "votes", k=3, n_boot=100, own_reference={"map": "random"})
    by = {r["model"]: r for r in rows}
    assert list(by) == ["random", "votes", "map"]
    assert by["votes"]["ndcg_diff"] == 0.0 and by["votes"]["ci_low"] is None
    r = by["random"]
    assert r["ci_low"] <= r["ndcg_diff"] <= r["ci_high"]
    assert r["ndcg_diff"] == pytest.approx(r["ndcg@3"] - by["votes"]["ndcg@3"])
    assert by["map"]["own_reference"] == "random" and "own_diff" not in by["random"]
    pop = held_out_popularity(cold)
    assert pop[~cold.cold_items].sum() == 0 and pop.sum() == len(cold.test)
    top = res["votes"].topk
    assert by["votes"]["avg_popularity"] == pytest.approx(float((pop[top] / cold.n_users).mean()))
    assert 0 < by["votes"]["coverage"] <= 1 and 0 <= by["votes"]["gini"] <= 1
    with pytest.raises(RecutilsError, match="reference"):
        cold_table(models, cold, "nope", k=3, n_boot=10)


def test_cf_space_pairs_are_warm_and_predictive(cold):
    from recutils.experiments.coldstart import cf_space_pairs

    pairs = cf_space_pairs(cold, n_pairs=10, min_ratings=3, ease_lambda=5.0, rng=0)
    assert pairs.ndim == 2 and pairs.shape[1] == 2 and 0 < len(pairs) <= 10
    assert not cold.cold_items[pairs].any()
    assert (pairs[:, 0] != pairs[:, 1]).all()
    assert len({tuple(sorted(p)) for p in pairs.tolist()}) == len(pairs)
    # on this data EASE links movies of one genre group: partners share the anchor's group mostly
    same = ((cold.items[pairs[:, 0]] - 101) % 2) == ((cold.items[pairs[:, 1]] - 101) % 2)
    assert same.mean() >= 0.7
    np.testing.assert_array_equal(pairs, cf_space_pairs(cold, n_pairs=10, min_ratings=3, ease_lambda=5.0, rng=0))


def test_cf_finetune_refuses_pairs_with_a_cold_item(cold):
    from recutils.experiments.coldstart import cf_finetuned_embeddings

    j = int(np.flatnonzero(cold.cold_items)[0])
    texts = pd.Series([f"movie {i}" for i in cold.items], index=cold.items)
    with pytest.raises(RecutilsError, match="include a cold item"):
        cf_finetuned_embeddings("all-MiniLM-L6-v2", texts, "toy", cold, np.array([[0, j]]))


def test_genre_popularity_scores_cold_items_from_genres(cold):
    from recutils.models.coldstart import GenrePopularity

    m = GenrePopularity(item_table=_table()).fit(cold)
    s = m.score(np.arange(3))
    assert np.allclose(s[0], s[1])  # global: the same list for everyone
    assert np.isfinite(s).all() and np.unique(np.round(s[0, cold.cold_items], 9)).size > 1
    p = GenrePopularity(item_table=_table(), personal=True, shrinkage=0.0).fit(cold).score(np.arange(cold.n_users))
    assert not np.allclose(p[0], p[1])


def test_cold_multi_seed_chooses_on_validation_and_never_sees_the_cold_items(monkeypatch):
    """Per seed: the grid is scored on that seed's warm-item carve-out, the best is refitted on the
    cold split's training part and evaluated on its cold items; a one-entry grid is not scored;
    no fit ever sees a test cold movie; the result pools like any multi-seed result."""
    from recutils.evaluation import evaluate_ranking
    from recutils.experiments.coldstart import ColdCandidate, cold_multi_seed, warm_item_validation
    from recutils.models.feature_baselines import MetadataPopularity

    ratings, table = _ratings(n_users=60), _table()
    seen = []
    real_fit = ContentToCF.fit

    def spy(self, data, *a, **kw):
        seen.append(set(data.train["movieId"]) if hasattr(data, "train") else set())
        return real_fit(self, data, *a, **kw)

    monkeypatch.setattr(ContentToCF, "fit", spy)
    grid = ({"ridge_lambda": 0.1}, {"ridge_lambda": 10.0}, {"ridge_lambda": 1000.0})
    cands = {"votes": ColdCandidate(lambda: MetadataPopularity(item_table=table)),
             "map": ColdCandidate(lambda **p: ContentToCF(item_table=table, embeddings=_text(), ease_lambda=5.0, **p), grid)}
    res = cold_multi_seed(ratings, [3, 4], cands, k=3, cold_share=0.2, val_share=0.2)
    fits = list(seen)  # the fits cold_multi_seed made (the checks below fit more)
    assert res.seeds == [3, 4] and res.labels == ["votes", "map"]
    for run in res.runs:
        cold = cold_item_split(ratings, share=0.2, rng=run.seed)
        val = warm_item_validation(cold, share=0.2, seed=run.seed + 1)
        by_hand = [evaluate_ranking(ContentToCF(item_table=table, embeddings=_text(), ease_lambda=5.0, **p).fit(
            val.without_test()), val, 3, candidates=val.cold_items).metrics["ndcg"] for p in grid]
        assert [r["val_ndcg"] for r in run.grids["map"]] == pytest.approx(by_hand)
        assert run.chosen["map"] == grid[int(np.argmax(by_hand))] and run.validation["map"] == pytest.approx(max(by_hand))
        assert np.isnan(run.validation["votes"]) and run.grids["votes"] == []
        test = evaluate_ranking(ContentToCF(item_table=table, embeddings=_text(), ease_lambda=5.0, **run.chosen["map"]).fit(
            cold.without_test()), cold, 3, candidates=cold.cold_items)
        assert run.results["map"].metrics["ndcg"] == pytest.approx(test.metrics["ndcg"])
    assert len(fits) == 8 and all(fits)  # 3 validation fits + 1 test fit per seed, each with training data
    for s, movies in zip((3, 4), [fits[:4], fits[4:]]):
        held = cold_item_split(ratings, share=0.2, rng=s)
        assert all(not (m & set(held.items[held.cold_items])) for m in movies)
    cmp = res.compare("map", "votes", "ndcg", n_boot=200)
    assert cmp.low <= cmp.mean_diff <= cmp.high and len(cmp.per_seed) == 2
    rows = res.table(("ndcg",))
    assert rows[1]["ndcg@3_per_seed"] == [r.results["map"].metrics["ndcg"] for r in res.runs]
    import matplotlib

    matplotlib.use("Agg")
    fig = res.plot("ndcg", title="t")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["votes", "map"] and ax.get_ylabel() == "ndcg@3"
    assert sum(len(c.get_offsets()) for c in ax.collections if hasattr(c, "get_offsets")) >= 4  # 2 seeds × 2 models
    with pytest.raises(RecutilsError, match="distinct"):
        cold_multi_seed(ratings, [3, 3], cands)
    with pytest.raises(RecutilsError, match="ColdCandidate"):
        cold_multi_seed(ratings, [3], {"x": ColdCandidate(lambda: None, ())})
