
import numpy as np
import pandas as pd
import pytest

from recutils.errors import ConfigError, NotFoundError, RecutilsError
from recutils.models import available, create
from recutils.models.baselines import EASE, ItemKNN, MostPop
from recutils.splits import make_split, study_split


@pytest.fixture
def toy_split(toy_ratings):
    return study_split(toy_ratings)


def test_ease_woodbury_equals_dense_closed_form(toy_split):
    lam = 3.0
    m = EASE(lambda_=lam).fit(toy_split)
    X = toy_split.train_binary.toarray()
    P = np.linalg.inv(X.T @ X + lam * np.eye(X.shape[1]))
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    assert np.allclose(m.score(np.arange(toy_split.n_users)), X @ B, atol=1e-5)
    assert np.allclose(m.item_weights([0, 3]), B[:, [0, 3]], atol=1e-10)


def test_itemknn_equals_dense_cosine_without_pruning(toy_split):
    m = ItemKNN(n_neighbors=0, shrinkage=0.0).fit(toy_split)
    X = toy_split.train_binary.toarray()
    n = np.linalg.norm(X, axis=0)
    n[n == 0] = 1
    S = (X / n).T @ (X / n)
    np.fill_diagonal(S, 0)
    assert np.allclose(m.sim_.toarray(), S)
    pruned = ItemKNN(n_neighbors=2, shrinkage=0.0).fit(toy_split)
    assert (np.diff(pruned.sim_.tocsc().indptr) <= 2).all()


def test_itemknn_shrinkage_scales_by_support(toy_split):
    a = ItemKNN(n_neighbors=0, shrinkage=0.0).fit(toy_split).sim_.toarray()
    b = ItemKNN(n_neighbors=0, shrinkage=2.0).fit(toy_split).sim_.toarray()
    X = toy_split.train_binary.toarray()
    co = X.T @ X
    assert np.allclose(b, a * co / (co + 2.0))


def test_recommend_excludes_seen_and_maps_ids(toy_split):
    m = MostPop().fit(toy_split)
    user = toy_split.users[0]
    recs = m.recommend(user, k=3)
    seen = set(toy_split.train.loc[toy_split.train.userId == user, "movieId"])
    assert len(recs) <= 3 and not set(recs.movieId) & seen
    assert recs["rank"].tolist() == list(range(1, len(recs) + 1))
    with_seen = m.recommend(user, k=100, exclude_seen=False)
    assert len(with_seen) == toy_split.n_items


def test_recommend_clear_errors(toy_split):
    m = MostPop()
    with pytest.raises(RecutilsError):
        m.recommend(1)  # not fitted
    m.fit(toy_split)
    with pytest.raises(NotFoundError, match="unknown user"):
        m.recommend(123456)
    with pytest.raises(RecutilsError, match="k must"):
        m.recommend(toy_split.users[0], k=0)


def test_registry_and_create():
    assert {"mostpop", "itemknn", "ease", "pmf", "als"} <= set(available())
    m = create("ease", lambda_=10.0)
    assert m.config.lambda_ == 10.0 and m.config_dict()["model"] == "ease"
    with pytest.raises(RecutilsError, match="valid models"):
        create("nope")
    with pytest.raises(RecutilsError, match="no parameter"):
        create("ease", alpha=1)
    with pytest.raises(ConfigError, match="lambda_ must be > 0"):  # at construction, not a ValueError in fit
        EASE(lambda_=0)


@pytest.mark.parametrize("name", ["mostpop", "itemknn", "ease", "als", "pmf"])
def test_every_baseline_scores_all_items(name, toy_split):
    params = {"max_iter": 5, "k": 4} if name == "pmf" else ({"factors": 4, "iterations": 2} if name == "als" else {})
    m = create(name, **params).fit(toy_split.without_test())
    s = m.score(np.arange(toy_split.n_users))
    assert s.shape == (toy_split.n_users, toy_split.n_items)
    top = m.rank(np.arange(toy_split.n_users), k=2)
    seen = toy_split.train_binary.toarray().astype(bool)
    assert not seen[np.arange(toy_split.n_users)[:, None], top].any()


def test_baselines_on_movielens(study):
    """Cheap models on the real split: the published relationships hold."""
    from recutils.evaluation import evaluate_ranking

    pop = evaluate_ranking(MostPop().fit(study.without_test()), study, 25).metrics
    ease = evaluate_ranking(EASE().fit(study.without_test()), study, 25).metrics
    assert pop["n_users"] == 600
    # 1,314 hits in 600 × 25 slots; ties in popularity are broken by item index on every CPU
    assert pop["precision"] == pytest.approx(1314 / 15000, abs=1e-12)
    assert ease["precision"] >= 0.150 and ease["recall"] > pop["recall"]


def test_models_reading_the_movie_table_get_it_and_never_load_it_in_fit(toy_split):
    """metadata_pop and torch_cf declare needs_item_table: create() hands the table over, and
    fit without one is a clear error (no hidden load of a default data folder)."""
    import pandas as pd

    from recutils.models import get_model_class

    needs = [n for n in ("metadata_pop", "torch_cf") if get_model_class(n).needs_item_table]
    assert needs == ["metadata_pop", "torch_cf"]
    assert not get_model_class("ease").needs_item_table
    with pytest.raises(RecutilsError, match="needs the movie table|movie-table column"):
        create("metadata_pop").fit(toy_split)
    table = pd.DataFrame({"movieId": toy_split.items, "vote_count": np.arange(toy_split.n_items, dtype=float)})
    m = create("metadata_pop", item_table=table).fit(toy_split)
    assert m.rank([0], k=1).shape == (1, 1)


def _dense_rank(model, users, k, exclude_seen=True, candidates=None, dtype=np.float64):
    """Recommender.rank's dense path (masked users × items scores + top_k): MostPop's oracle."""
    from recutils.models.base import Recommender

    return Recommender.rank(model, users, k, exclude_seen, candidates, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mostpop_rank_without_a_dense_block_gives_the_dense_lists(dtype):
    # equal counts everywhere (ties by item index), users who saw most of the catalogue (fewer
    # than k items left: the -inf tail), candidate masks, k beyond the catalogue
    rng = np.random.default_rng(0)
    n_users, n_items = 40, 30
    rows = []
    for u in range(n_users):
        n_seen = 28 if u % 7 == 0 else int(rng.integers(1, 12))
        for i in rng.choice(n_items, size=n_seen, replace=False, p=np.r_[np.full(10, 0.06), np.full(20, 0.02)]):
            rows.append((u + 1, int(i) + 100, 4.0, u))
    df = pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])
    split = make_split("toy", df, df.iloc[:0])
    m = MostPop().fit(split)
    assert len(np.unique(m.popularity_)) < n_items  # ties exist
    users = np.arange(split.n_users)
    cand = rng.random(split.n_items) < 0.7
    for k in (1, 5, 25, 40):
        for excl in (True, False):
            for c in (None, cand):
                np.testing.assert_array_equal(m.rank(users, k, excl, c, dtype), _dense_rank(m, users, k, excl, c, dtype))


@pytest.mark.integration
def test_mostpop_rank_matches_the_dense_path_on_ml_latest_small(study):
    m = MostPop().fit(study.without_test())
    users = np.arange(study.n_users)
    for dtype in (np.float64, np.float32):
        np.testing.assert_array_equal(m.rank(users, 25, dtype=dtype), _dense_rank(m, users, 25, dtype=dtype))
