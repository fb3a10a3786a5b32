"""Item-based CF (recutils.models.item_cf) on hand-made toy matrices."""

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recutils.errors import RecutilsError
from recutils.models import create
from recutils.models.item_cf import ItemCF, similar_items
from recutils.similarity import item_similarity
from recutils.splits import make_split

# users × items, 0 = not rated
R = np.array(
    [
        [5, 3, 4, 0, 0],
        [4, 2, 0, 1, 3],
        [1, 5, 2, 4, 0],
        [0, 4, 5, 3, 3],
        [2, 0, 3, 3, 0],
    ],
    dtype=float,
)


def _toy_split(R=R):
    u, i = np.nonzero(R)
    df = pd.DataFrame({"userId": u + 1, "movieId": (i + 1) * 10, "rating": R[u, i], "timestamp": 0})
    return make_split("toy", df, df.iloc[:0])


def _dense_cosine(R):
    G = R.T @ R
    norms = np.sqrt(np.diag(G))
    S = G / np.outer(norms, norms)
    np.fill_diagonal(S, 0.0)
    return S


def _co_counts(R):
    B = (R != 0).astype(float)
    return B.T @ B


def test_cosine_matches_numpy_on_dense_toy():
    S = item_similarity(sp.csr_matrix(R), "cosine").toarray()
    np.testing.assert_allclose(S, _dense_cosine(R), atol=1e-12)


def test_pearson_hand_computed_pair():
    # items 0 and 1, co-raters users 0, 1, 2: x = (5, 4, 1), y = (3, 2, 5), both mean 10/3
    # cov = -48/9, var_x = 78/9, var_y = 42/9
    S = item_similarity(sp.csr_matrix(R), "pearson").toarray()
    assert S[0, 1] == pytest.approx(-48 / math.sqrt(78 * 42))
    assert S[1, 0] == pytest.approx(S[0, 1])


def test_pearson_matches_pandas_pairwise_corr():
    df = pd.DataFrame(np.where(R == 0, np.nan, R))
    expected = df.corr(min_periods=2).fillna(0.0).to_numpy(copy=True)
    np.fill_diagonal(expected, 0.0)
    S = item_similarity(sp.csr_matrix(R), "pearson").toarray()
    np.testing.assert_allclose(S, expected, atol=1e-12)


def test_pearson_constant_column_on_co_raters_is_zero():
    # items 3 and 4 share users 1 and 3; item 4 is 3 for both -> zero variance -> undefined -> 0
    S = item_similarity(sp.csr_matrix(R), "pearson").toarray()
    assert S[3, 4] == 0.0 and S[4, 3] == 0.0


def test_pearson_is_shift_invariant_and_accepts_non_positive_ratings():
    Rs = np.where(R != 0, R - 3.0, 0.0)  # would put explicit zeros / negatives in a sparse matrix
    Rs[R == 3] = -0.5  # keep every rating stored (0 would read as "missing")
    Rref = np.where(R != 0, Rs + 10.0, 0.0)
    a = item_similarity(sp.csr_matrix(Rs), "pearson").toarray()
    b = item_similarity(sp.csr_matrix(Rref), "pearson").toarray()
    np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("kind", ["cosine", "pearson"])
def test_shrinkage_multiplies_by_support_ratio(kind):
    plain = item_similarity(sp.csr_matrix(R), kind).toarray()
    shrunk = item_similarity(sp.csr_matrix(R), kind, shrinkage=2.0).toarray()
    n = _co_counts(R)
    np.testing.assert_allclose(shrunk, plain * n / (n + 2.0), atol=1e-12)


@pytest.mark.parametrize("kind", ["cosine", "pearson"])
def test_min_support_drops_thin_pairs(kind):
    n = _co_counts(R)
    plain = item_similarity(sp.csr_matrix(R), kind).toarray()
    cut = item_similarity(sp.csr_matrix(R), kind, min_support=3).toarray()
    np.testing.assert_array_equal(cut[n < 3], 0.0)
    np.testing.assert_allclose(cut[n >= 3], plain[n >= 3])


@pytest.mark.parametrize("kind", ["cosine", "pearson"])
def test_n_neighbors_keeps_largest_per_column(kind):
    full = item_similarity(sp.csr_matrix(R), kind).toarray()
    top = item_similarity(sp.csr_matrix(R), kind, n_neighbors=2).toarray()
    for j in range(R.shape[1]):
        kept = np.flatnonzero(top[:, j])
        assert len(kept) <= 2
        np.testing.assert_allclose(top[kept, j], full[kept, j])
        others = np.setdiff1d(np.flatnonzero(full[:, j]), kept)  # stored similarities that were dropped
        if len(kept):
            assert full[others, j].max(initial=-np.inf) <= top[kept, j].min() + 1e-12


def test_similarity_pearson_blocks_give_the_same_matrix():
    rng = np.random.default_rng(0)
    M = rng.integers(1, 6, size=(30, 17)).astype(float) * (rng.random((30, 17)) < 0.5)
    a = item_similarity(sp.csr_matrix(M), "pearson", shrinkage=3.0, block_size=4).toarray()
    b = item_similarity(sp.csr_matrix(M), "pearson", shrinkage=3.0, block_size=100).toarray()
    np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(a, a.T, atol=1e-12)


def test_bad_kind_and_shrinkage_are_user_errors():
    with pytest.raises(RecutilsError, match="kind"):
        item_similarity(sp.csr_matrix(R), "jaccard")
    with pytest.raises(RecutilsError, match="shrinkage"):
        item_similarity(sp.csr_matrix(R), "cosine", shrinkage=-1)


def _expected_scores(R, S, centre, normalize):
    B = (R != 0).astype(float)
    Rc = np.where(R != 0, R - centre[:, None], 0.0)
    num = Rc @ S
    if not normalize:
        return num
    den = B @ np.abs(S)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, -np.inf)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("kind", ["cosine", "pearson"])
def test_itemcf_scores_are_the_weighted_aggregate(kind, normalize):
    split = _toy_split()
    m = ItemCF(kind=kind, shrinkage=0.0, min_support=1, centre="user", normalize=normalize).fit(split)
    S = item_similarity(sp.csr_matrix(R), kind).toarray()
    user_mean = R.sum(1) / (R != 0).sum(1)
    np.testing.assert_allclose(m.score(np.arange(R.shape[0])), _expected_scores(R, S, user_mean, normalize), atol=1e-12)


def test_itemcf_constant_centre_and_none():
    split = _toy_split()
    S = item_similarity(sp.csr_matrix(R), "cosine").toarray()
    for centre, value in ((2.0, 2.0), ("none", 0.0)):
        m = ItemCF(kind="cosine", shrinkage=0.0, min_support=1, centre=centre, normalize=False).fit(split)
        np.testing.assert_allclose(m.score([0, 3]), _expected_scores(R, S, np.full(5, value), False)[[0, 3]])
    with pytest.raises(RecutilsError, match="centre"):
        ItemCF(centre="median")  # rejected where the config is built


def test_itemcf_recommend_excludes_seen_items_and_is_registered():
    split = _toy_split()
    m = create("itemcf", kind="cosine", shrinkage=0.0, min_support=1, normalize=False).fit(split)
    for uid in split.users:
        rec = m.recommend(uid, k=5)
        seen = split.train.loc[split.train["userId"] == uid, "movieId"].to_numpy()
        assert not set(rec["movieId"]) & set(seen)
        assert list(rec["rank"]) == list(range(1, len(rec) + 1))
        assert (np.diff(rec["score"].to_numpy()) <= 0).all()
    # user 0 rated items 0, 1, 2: only items 3 and 4 are left
    assert set(m.recommend(split.users[0], k=5)["movieId"]) <= {40, 50}


def test_similar_items_with_titles_best_first():
    split = _toy_split()
    S = item_similarity(split.train_ratings, "cosine")
    movies = pd.DataFrame({"movieId": [10, 20, 30, 40, 50], "title": list("ABCDE")})
    out = similar_items(S, split, 10, k=3, movies=movies)
    assert list(out.columns) == ["movieId", "title", "similarity", "n_co"]
    assert 10 not in set(out["movieId"])
    assert (np.diff(out["similarity"].to_numpy()) <= 0).all()
    dense = _dense_cosine(R)[:, 0]
    assert out["similarity"].iloc[0] == pytest.approx(dense.max())
    n = _co_counts(R)[:, 0]
    np.testing.assert_array_equal(out["n_co"].to_numpy(), n[split.iidx(out["movieId"].to_numpy())])
    with pytest.raises(RecutilsError, match="not in the training data"):
        similar_items(S, split, 999, movies=movies)
