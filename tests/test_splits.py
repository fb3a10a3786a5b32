import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from recutils.errors import RecutilsError
from recutils.splits import (
    cold_item_split,
    get_protocol,
    global_time_split,
    per_user_last_split,
    study_split,
    temporal_split,
    validation_split,
)


def _sklearn_loop(ratings, seed=42):
    tr, te = [], []
    for _, g in ratings.groupby("userId"):
        if len(g) < 5:
            tr.append(g)
            continue
        a, b = train_test_split(g, test_size=0.2, random_state=seed)
        tr.append(a)
        te.append(b)
    return pd.concat(tr), pd.concat(te)


def test_study_split_equals_sklearn_per_user_loop_including_order():
    rng = np.random.default_rng(3)
    n = 400
    df = pd.DataFrame({
        "userId": rng.integers(1, 40, n), "movieId": rng.integers(1, 300, n),
        "rating": rng.integers(1, 6, n).astype(float), "timestamp": rng.integers(0, 10**6, n),
    }).drop_duplicates(["userId", "movieId"]).reset_index(drop=True)
    s = study_split(df)
    tr, te = _sklearn_loop(df)
    cols = ["userId", "movieId", "rating", "timestamp"]
    assert s.train[cols].reset_index(drop=True).equals(tr[cols].reset_index(drop=True))
    assert len(s.info) and s.info["n_test_raw"] == len(te)
    assert set(map(tuple, s.test[cols[:2]].values)) <= set(map(tuple, te[cols[:2]].values))


def test_study_split_on_movielens_matches_the_study(study):
    summ = study.summary()
    assert (summ["n_train"], summ["n_test"], summ["n_items"], summ["n_evaluable_users"]) == (80419, 20417, 8965, 600)


def test_validation_split_is_inside_train_and_aligned(study):
    v = validation_split(study)
    assert np.array_equal(v.users, study.users) and np.array_equal(v.items, study.items)
    key = lambda d: set(zip(d.userId, d.movieId))  # noqa: E731
    assert key(v.train) | key(v.test) == key(study.train)
    assert not key(v.test) & key(study.test)


def test_per_user_last_split_puts_latest_in_test(toy_ratings):
    s = per_user_last_split(toy_ratings)
    assert s.name == "per-user-last" and temporal_split(toy_ratings).test.equals(s.test)
    last_train = s.train.groupby("userId").timestamp.max()
    first_test = s.test.groupby("userId").timestamp.min()
    assert (last_train.loc[first_test.index] <= first_test).all()


def test_per_user_last_ties_by_seeded_shuffle_not_file_order():
    # user 1: 10 ratings at the same second, movieIds in increasing file order (user 2 rated
    # movies 0-19 earlier and only 18, 19 go to its test, so movies 0-9 stay in the universe)
    r = pd.concat([pd.DataFrame({"userId": 2, "movieId": np.arange(20), "rating": 4.0, "timestamp": np.arange(20)}),
                   pd.DataFrame({"userId": 1, "movieId": np.arange(10), "rating": 4.0, "timestamp": 100})])
    tests = {seed: sorted(per_user_last_split(r, seed=seed).test.query("userId == 1").movieId) for seed in range(6)}
    assert all(len(t) == 2 for t in tests.values())
    assert len({tuple(t) for t in tests.values()}) > 1  # the seed decides, not the file order
    assert tests[0] == sorted(per_user_last_split(r, seed=0).test.query("userId == 1").movieId)  # reproducible


def test_global_time_split_one_cutoff_and_unseen_counted():
    r = pd.DataFrame({
        "userId":    [1, 1, 2, 2, 1, 2, 3, 1, 2, 1],
        "movieId":   [10, 11, 10, 12, 12, 11, 10, 13, 14, 10],
        "rating":    [4.0] * 10,
        "timestamp": [1, 2, 3, 4, 5, 6, 7, 8, 8, 9],
    })
    s = global_time_split(r, test_size=0.4)  # 60 % of 10 ratings before the cut: cut-off = 7
    assert s.info["cutoff"] == 7 and s.train.timestamp.max() < 7 <= s.test.timestamp.min()
    assert (s.info["n_test_new_users"], s.info["n_test_rows_new_users"]) == (1, 1)  # user 3
    assert (s.info["n_test_new_items"], s.info["n_test_rows_new_items"]) == (2, 2)  # 13, 14
    assert len(s.test) == 1 and s.summary()["n_test"] == 4  # only (user 1, movie 10) at t=9 can be scored
    assert set(s.users) == {1, 2} and set(s.items) == {10, 11, 12}
    with pytest.raises(RecutilsError, match="empty"):
        global_time_split(r, cutoff=1)


def test_validation_follows_the_time_rule(ratings):
    g = global_time_split(ratings)
    v = validation_split(g)
    assert v.info["time"] == "global" and v.train.timestamp.max() < v.info["cutoff"] <= v.test.timestamp.min()
    assert v.test.timestamp.max() < g.info["cutoff"]
    assert np.array_equal(v.users, g.users) and np.array_equal(v.items, g.items)
    p = per_user_last_split(ratings)
    vp = validation_split(p)
    last_train = vp.train.groupby("userId").timestamp.max()
    first_val = vp.test.groupby("userId").timestamp.min()
    assert (last_train.loc[first_val.index] <= first_val).all()
    assert 0.2 < p.info["train_after_median_test"] < 0.6  # the leak it documents


def test_protocol_names():
    with pytest.raises(RecutilsError, match="global-time.*per-user-last"):
        get_protocol("temporal", pd.DataFrame())


def test_cold_item_split_holds_items_out(ratings):
    s = cold_item_split(ratings, share=0.1, rng=np.random.default_rng(0))
    cold = s.items[s.cold_items]
    assert not set(cold) & set(s.train.movieId)
    assert set(s.test.movieId) == set(cold) & set(s.test.movieId)
    assert s.train_binary[:, s.cold_items].nnz == 0
    s2 = cold_item_split(ratings, share=0.1, rng=np.random.default_rng(0))
    assert np.array_equal(s2.items, s.items)


def test_matrices_and_index_maps(toy_ratings):
    s = study_split(toy_ratings)
    assert s.train_ratings.shape == (s.n_users, s.n_items)
    assert s.train_binary.nnz == len(s.train)
    assert s.uidx([s.users[2], -99]).tolist() == [2, -1]
    rel = s.relevant()
    assert rel.sum() == (s.test.rating >= 4).sum()
    from recutils.splits import TrainData

    train = s.without_test()
    assert isinstance(train, TrainData) and not hasattr(train, "test") and not s.test.empty
    assert s.without_test() is train  # one object per split: parts fitted on it are recognised
    assert train.train_binary.nnz == s.train_binary.nnz and train.n_items == s.n_items


def test_sample_users_is_seeded_and_keeps_whole_users(ratings):
    from recutils.splits import sample_users

    a = sample_users(ratings, 40, rng=42)
    assert a.userId.nunique() == 40 and a.equals(sample_users(ratings, 40, rng=42))
    assert len(a) == ratings.userId.isin(a.userId.unique()).sum()
    assert sample_users(ratings, 0) is ratings
