"""EASE's Gram matrix and inverse (issue 23): ``similarity.gram`` is scipy's ``(X.T @ X).toarray()``
bit for bit (each pair summed once in compiled code, the same sums), whatever the thread count
and the input's index order; ``spd_inverse`` (Cholesky, in place) is the inverse to rounding;
both EASE paths keep the closed form."""

import numba
import numpy as np
import pytest
import scipy.sparse as sp

from recutils.models.baselines import EASE, spd_inverse
from recutils.similarity import gram
from recutils.splits import study_split


def _graded(seed, n_users=80, n_items=60, density=0.12):
    rng = np.random.default_rng(seed)
    X = sp.random(n_users, n_items, density=density, format="csr", random_state=rng, dtype=np.float64)
    X.data = (rng.integers(1, 11, size=X.nnz) / 10.0) ** 2  # graded: rounding depends on the order
    return X


def _shuffled(X: sp.csr_matrix, seed: int) -> sp.csr_matrix:
    """The same matrix with every row's entries stored in a random order."""
    rng = np.random.default_rng(seed)
    idx, dat = X.indices.copy(), X.data.copy()
    for r in range(X.shape[0]):
        a, b = X.indptr[r], X.indptr[r + 1]
        o = rng.permutation(b - a) + a
        idx[a:b], dat[a:b] = idx[o], dat[o]
    return sp.csr_matrix((dat, idx, X.indptr.copy()), shape=X.shape)


@pytest.mark.parametrize("seed", [0, 1])
def test_gram_is_scipys_product_bit_for_bit(seed):
    X = _graded(seed)
    for M in (X, X.T.tocsr(), X.tocsc(), _shuffled(X, seed)):
        want = (M.T @ M).toarray()
        got = gram(M)
        assert got.shape == want.shape and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)
    B = X.copy()
    B.data[:] = 1.0
    np.testing.assert_array_equal(gram(B), (B.T @ B).toarray())
    np.testing.assert_array_equal(gram(sp.csr_matrix((5, 4))), np.zeros((4, 4)))


def test_gram_does_not_depend_on_the_thread_count():
    X = _graded(2, 200, 150, 0.1)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = gram(X)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = gram(X)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one, many)


def test_spd_inverse_inverts_in_place_and_refuses_an_indefinite_matrix():
    X = _graded(3).toarray()
    G = X.T @ X + 2.0 * np.eye(X.shape[1])
    want = np.linalg.inv(G)
    work = G.copy()
    P = spd_inverse(work)
    assert P.flags.c_contiguous and np.shares_memory(P, work)  # no n × n copy
    np.testing.assert_array_equal(P, P.T)
    np.testing.assert_allclose(P, want, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(G @ P, np.eye(len(G)), atol=1e-10)
    with pytest.raises(np.linalg.LinAlgError, match="positive definite"):
        spd_inverse(np.array([[1.0, 2.0], [2.0, 1.0]]))


@pytest.mark.parametrize("solver", ["woodbury", "items"])
def test_both_ease_paths_keep_the_closed_form(toy_ratings, solver):
    split = study_split(toy_ratings)
    lam = 3.0
    m = EASE(lambda_=lam, solver=solver).fit(split)
    assert m.path_ == solver
    X = split.train_binary.toarray()
    P = np.linalg.inv(X.T @ X + lam * np.eye(X.shape[1]))
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    np.testing.assert_allclose(m.score(np.arange(split.n_users)), X @ B, atol=1e-5)
    np.testing.assert_allclose(m.item_weights([0, 3]), B[:, [0, 3]], atol=1e-6)
