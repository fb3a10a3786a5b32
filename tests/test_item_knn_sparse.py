"""The sparse neighbour build of ``similarity.item_cosine`` gives the numbers of the dense
items × block computation it replaced: the same neighbour lists (ties by item index), the same
similarities to the bit, with and without shrinkage / minimum support, on toy data with ties,
negative values and empty columns, and on ml-latest-small (integration).

The oracle below is the dense path as it was (``cosine_to`` blocks + ``top_k``), kept here."""

import numpy as np
import pytest
import scipy.sparse as sp

from recutils.evaluation.metrics import top_k
from recutils.similarity import cosine_to, item_cosine, item_similarity, unit_columns


def dense_item_cosine(X, B, n_neighbors, shrinkage, block=1024, min_support=1):
    """The dense item_cosine this project used until issue 23 (test oracle, unchanged)."""
    Xn = unit_columns(X)
    n = Xn.shape[1]
    XnT = Xn.T.tocsr()
    Bc = sp.csc_matrix(B, dtype=np.float64)
    BT = Bc.T.tocsr()
    rows, cols, vals = [], [], []
    for s in range(0, n, block):
        e = min(n, s + block)
        S = cosine_to(Xn, XnT, Bc, BT, slice(s, e), shrinkage, min_support)
        S[np.arange(s, e), np.arange(e - s)] = 0.0
        if n_neighbors and n_neighbors < n:
            top = top_k(S.T, n_neighbors).T
            v = np.take_along_axis(S, top, axis=0)
            r, c = top.ravel(), np.broadcast_to(np.arange(s, e), top.shape).ravel()
            v = v.ravel()
        else:
            r, c = np.nonzero(S)
            v = S[r, c]
            c = c + s
        keep = v != 0
        rows.append(r[keep])
        cols.append(c[keep])
        vals.append(v[keep])
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def assert_same(a: sp.csr_matrix, b: sp.csr_matrix):
    """Same stored pattern and bit-identical values."""
    a, b = sp.csr_matrix(a), sp.csr_matrix(b)
    a.sort_indices()
    b.sort_indices()
    assert a.shape == b.shape
    assert np.array_equal(a.indptr, b.indptr), "neighbour counts differ"
    assert np.array_equal(a.indices, b.indices), "neighbour lists differ"
    np.testing.assert_array_equal(a.data, b.data)


def _binary(rng, n_users, n_items, density):
    X = sp.random(n_users, n_items, density=density, format="csr", random_state=rng, dtype=np.float64)
    X.data[:] = 1.0
    return X


def _tied_matrix():
    """Duplicate columns, equal-count items and an empty column: many exact ties at the cut."""
    base = np.array([[1, 1, 0, 1, 1, 0, 0, 1],
                     [1, 1, 1, 0, 0, 1, 0, 0],
                     [0, 0, 1, 1, 1, 0, 0, 1],
                     [1, 1, 0, 0, 0, 1, 0, 0],
                     [0, 0, 1, 1, 1, 1, 0, 1]], dtype=float)
    return sp.csr_matrix(np.hstack([base, base[:, ::-1], base]))  # 24 items, each pattern 3×, column 6 empty


CASES = [(k, shr, ms) for k in (1, 2, 3, 5) for shr in (0.0, 10.0, 2.5) for ms in (1, 2, 3)]


@pytest.mark.parametrize("k,shrinkage,min_support", CASES)
def test_ties_and_shrinkage_match_dense(k, shrinkage, min_support):
    X = _tied_matrix()
    B = X.copy()
    dense = dense_item_cosine(X, B, k, shrinkage, block=7, min_support=min_support)
    assert_same(item_cosine(X, B, k, shrinkage, min_support=min_support), dense)
    assert_same(item_cosine(X, B, k, shrinkage, block=5, min_support=min_support), dense)


def test_the_tie_case_really_has_ties_at_the_cut():
    # a test of ties must contain them: for k=2, several items have ≥ 3 neighbours at the 2nd value
    S = dense_item_cosine(_tied_matrix(), _tied_matrix(), 0, 0.0).toarray()
    col = np.sort(S[:, 0])[::-1]
    assert col[1] == col[2] > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shrinkage", [0.0, 10.0])
def test_random_binary_and_ratings_match_dense(seed, shrinkage):
    rng = np.random.default_rng(seed)
    X = _binary(rng, 60, 45, 0.15)
    R = X.copy()
    R.data = rng.integers(1, 11, size=R.nnz) / 2.0  # half stars: ties in the cosine too
    for values, k in ((X, 5), (R, 5), (X, 44), (R, 1)):
        assert_same(item_cosine(values, X, k, shrinkage), dense_item_cosine(values, X, k, shrinkage, block=16))


def test_negative_values_rank_after_every_zero():
    # centred values give negative cosines: the dense top-k keeps one only when fewer than k
    # positive and zero entries exist, so with k close to n_items negatives enter the lists
    rng = np.random.default_rng(3)
    X = _binary(rng, 30, 12, 0.4)
    V = X.copy()
    V.data = rng.normal(size=V.nnz)
    for k in (3, 8, 10, 11):
        for shr in (0.0, 5.0):
            got = item_cosine(V, X, k, shr)
            assert_same(got, dense_item_cosine(V, X, k, shr, block=5))
    assert (item_cosine(V, X, 11, 0.0).data < 0).any()  # the case is exercised


def test_keep_all_and_other_pattern_use_the_block_path_and_match():
    rng = np.random.default_rng(4)
    X = _binary(rng, 40, 30, 0.2)
    B = X.copy()
    B.data[::3] = 0.0  # B's pattern ≠ X's: co-counts from B
    B.eliminate_zeros()
    for k in (0, 4, 30):
        for shr, ms in ((0.0, 1), (10.0, 2)):
            assert_same(item_cosine(X, B, k, shr, min_support=ms, block=8),
                        dense_item_cosine(X, B, k, shr, block=8, min_support=ms))


def test_item_similarity_cosine_matches_dense_path():
    rng = np.random.default_rng(5)
    R = _binary(rng, 50, 40, 0.2)
    R.data = rng.integers(1, 11, size=R.nnz) / 2.0
    B = R.copy()
    B.data[:] = 1.0
    for k in (0, 6):
        assert_same(item_similarity(R, "cosine", 10.0, 3, k), dense_item_cosine(R, B, k, 10.0, min_support=3))


@pytest.mark.integration
@pytest.mark.parametrize("binary,k,shrinkage", [(True, 50, 0.0), (True, 100, 10.0), (False, 100, 10.0)])
def test_ml_latest_small_matches_dense(study, binary, k, shrinkage):
    X = study.train_binary if binary else study.train_ratings
    assert_same(item_cosine(X, study.train_binary, k, shrinkage), dense_item_cosine(X, study.train_binary, k, shrinkage))


def _kernel(values, k, shrinkage, min_support, upper, chunks):
    from recutils.similarity import _item_cosine_kernel

    return _item_cosine_kernel(unit_columns(values), k, shrinkage, min_support, upper=upper, chunks=chunks)


@pytest.mark.parametrize("upper", [True, False])
@pytest.mark.parametrize("chunks", [1, 3])
def test_both_kernels_any_worker_count_match_dense(upper, chunks):
    # the upper-triangle kernel sums each pair once and offers it to both lists; with several
    # workers each keeps its own heaps, merged per item: the lists must not depend on either
    X = _tied_matrix()
    for k, shr, ms in CASES:
        assert_same(_kernel(X, k, shr, ms, upper, chunks), dense_item_cosine(X, X, k, shr, block=7, min_support=ms))
    rng = np.random.default_rng(6)
    B = _binary(rng, 70, 50, 0.2)
    R = B.copy()
    R.data = rng.integers(1, 11, size=R.nnz) / 2.0
    for values in (B, R):
        for k, shr, ms in ((1, 0.0, 1), (7, 10.0, 2), (49, 2.5, 1)):
            assert_same(_kernel(values, k, shr, ms, upper, chunks), dense_item_cosine(values, B, k, shr, block=16,
                                                                                      min_support=ms))


def test_upper_kernel_refuses_what_it_cannot_compute():
    from recutils.similarity import _one_user_order

    rng = np.random.default_rng(7)
    X = _binary(rng, 30, 12, 0.4)
    V = X.copy()
    V.data = rng.normal(size=V.nnz)  # negative similarities: only the per-item kernel ranks them
    with pytest.raises(ValueError, match="positive"):
        _kernel(V, 3, 0.0, 1, True, 1)
    assert_same(_kernel(V, 11, 0.0, 1, None, 1), dense_item_cosine(V, X, 11, 0.0))
    Xn = unit_columns(X)
    assert _one_user_order(Xn)
    mixed = Xn.copy()
    mixed.sort_indices()
    a, b = mixed.indptr[0], mixed.indptr[1]
    mixed.indices[a:b] = mixed.indices[a:b][::-1]  # column 0 descending, the others ascending
    mixed.data[a:b] = mixed.data[a:b][::-1]
    assert b - a > 1 and not _one_user_order(mixed)


@pytest.mark.integration
@pytest.mark.parametrize("binary,k,shrinkage", [(True, 50, 0.0), (False, 100, 10.0)])
def test_ml_latest_small_upper_kernel_matches_dense(study, binary, k, shrinkage):
    # ml-latest-small takes the per-item kernel by default: the upper one is checked here
    X = study.train_binary if binary else study.train_ratings
    assert_same(_kernel(X, k, shrinkage, 1, True, 2), dense_item_cosine(X, study.train_binary, k, shrinkage))
