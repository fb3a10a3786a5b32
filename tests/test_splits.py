import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from recutils.splits import cold_item_split, study_split, temporal_split, validation_split


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


def test_temporal_split_puts_latest_in_test(toy_ratings):
    s = temporal_split(toy_ratings)
    last_train = s.train.groupby("userId").timestamp.max()
    first_test = s.test.groupby("userId").timestamp.min()
    assert (last_train.loc[first_test.index] <= first_test).all()


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
