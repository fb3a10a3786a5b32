"""Item × item similarity, in one place: the cosine behind ItemKNN, ItemCF and the service's
"similar to this title", and ItemCF's co-rater Pearson.

- :func:`item_cosine`: sparse cosine of the columns of a users × items matrix with support
  shrinkage ``s_ij · n_ij / (n_ij + shrinkage)``, pruned per column to the largest entries
  (ties by item index, the same on every CPU);
- :func:`cosine_to`: the same cosine for a few items as a dense block (one request of the
  service is one column);
- :func:`gram`: the dense ``XᵀX`` (EASE's Gram matrix), each pair summed once;
- :func:`item_similarity`: ``"cosine"`` or ``"pearson"`` (on co-raters, centred on each
  item's mean over them) with shrinkage and minimum support, for ItemCF.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .errors import RecutilsError

KINDS = ("cosine", "pearson")


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise RecutilsError(f"unknown similarity kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    return kind


def cosine_to(Xn: sp.csc_matrix, XnT: sp.csr_matrix, B: sp.csc_matrix, BT: sp.csr_matrix, cols,
              shrinkage: float = 0.0, min_support: int = 1) -> np.ndarray:
    """Dense ``n_items × len(cols)`` block of the shrunk cosine between every item and the items
    ``cols``: ``Xn`` holds unit-norm columns (:func:`unit_columns`), ``B`` the 0/1 pattern
    (co-counts ``n_ij``); ``s_ij · n_ij / (n_ij + shrinkage)``, 0 below ``min_support``. The
    diagonal is *not* zeroed (the caller knows which rows are the items themselves)."""
    S = (XnT @ Xn[:, cols]).toarray()
    if shrinkage > 0 or min_support > 1:
        co = (BT @ B[:, cols]).toarray()
        if shrinkage > 0:
            S *= co / (co + shrinkage)
        if min_support > 1:
            S[co < min_support] = 0.0
    return S


def unit_columns(X) -> sp.csc_matrix:
    """``X`` (CSC, float64) with each column scaled to unit L2 norm (all-zero columns unchanged)."""
    X = sp.csc_matrix(X, dtype=np.float64)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(0)).ravel())
    norms[norms == 0] = 1.0
    return (X @ sp.diags(1.0 / norms)).tocsc()


def item_cosine(X: sp.csr_matrix, B: sp.csr_matrix, n_neighbors: int, shrinkage: float,
                block: int = 1024, min_support: int = 1) -> sp.csr_matrix:
    """Sparse item×item cosine of the columns of ``X`` with support shrinkage
    s_ij · n_ij / (n_ij + shrinkage) (co-counts n_ij from binary ``B``), zero diagonal,
    each column pruned to its ``n_neighbors`` largest entries (0 keeps all). Pairs with fewer
    than ``min_support`` co-interactions get 0 (1 keeps all).

    Ties at the ``n_neighbors``-th place go to the lower item index (the same on every CPU), and
    zeros are never stored. With ``n_neighbors`` set and ``B`` the pattern of ``X`` (ItemKNN,
    ItemCF), the lists are built sparsely, one item at a time in compiled code
    (:mod:`recutils.similarity_kernels`, all cores); otherwise in sparse column blocks of
    ``block`` items. Both give the numbers of the dense items × ``block`` computation this
    replaced, bit for bit (``tests/test_item_knn_sparse.py``)."""
    Xn = unit_columns(X)
    n = Xn.shape[1]
    Bc = sp.csc_matrix(B, dtype=np.float64)
    k = int(n_neighbors) if n_neighbors and n_neighbors < n else 0
    if k and _same_pattern(Xn, Bc):
        return _item_cosine_kernel(Xn, k, float(shrinkage), int(min_support))
    return _item_cosine_blocks(Xn, Bc, k, float(shrinkage), int(min_support), block)


def _same_pattern(Xn: sp.csc_matrix, Bc: sp.csc_matrix) -> bool:
    """Whether the stored non-zeros of ``Xn`` are exactly those of ``Bc`` (then the co-counts
    are counted on ``Xn``'s pattern)."""
    if Xn.shape != Bc.shape or Xn.nnz != np.count_nonzero(Bc.data):
        return False
    a = Xn.copy()
    a.eliminate_zeros()
    a.data[:] = 1.0
    b = Bc.copy()
    b.eliminate_zeros()
    b.data[:] = 1.0
    return a.nnz == Xn.nnz and (a != b).nnz == 0


def _item_cosine_kernel(Xn: sp.csc_matrix, k: int, shrinkage: float, min_support: int,
                        upper: bool | None = None, chunks: int | None = None) -> sp.csr_matrix:
    """The compiled neighbour build; both kernels give the same lists and values.

    ``upper`` computes each pair once (:func:`recutils.similarity_kernels.knn_upper`) and offers
    it to both lists. It needs positive values and every column storing its users in one
    common order (ascending or descending: a pair's sum then runs in the same order from either
    item). It saves half the multiply-adds but offers half the pairs to a list other than the
    current item's (a scattered memory access), so by default (``None``) it is taken where it
    applies and the data have more multiply-adds than item pairs: Σ_u n_u(n_u − 1)/2 >
    n(n − 1)/2 (ml-latest-small: 19M < 40M, the synthetic 1M: 125M > 7M). Otherwise each item's
    list is built on its own (:func:`~recutils.similarity_kernels.knn`). ``chunks``: parallel
    workers (default: from numba's thread count)."""
    import numba

    from .similarity_kernels import knn, knn_upper, row_positions

    n = Xn.shape[1]
    R = Xn.tocsr()  # rows sorted by item (the upper path relies on it)
    threads = numba.get_num_threads()
    # c / (c + shrinkage) for every co-count c, computed as the dense path computes it
    co = np.arange(int(np.diff(Xn.indptr).max(initial=0)) + 1, dtype=np.float64)
    factor = co / (co + shrinkage) if shrinkage > 0 else np.zeros(0)
    indptr, indices = Xn.indptr.astype(np.int64), Xn.indices.astype(np.int64)
    r_indptr = R.indptr.astype(np.int64)
    applies = bool(Xn.nnz == 0 or Xn.data.min() > 0) and _one_user_order(Xn)
    if upper is None:
        per_user = np.diff(r_indptr).astype(np.float64)
        upper = applies and float((per_user * (per_user - 1)).sum()) > n * (n - 1.0)
    elif upper and not applies:
        raise ValueError("the upper-triangle kernel needs positive values and one user order in every column")
    if upper:
        rowpos = row_positions(indptr, indices, r_indptr, n)
        vals, items, lens = knn_upper(indptr, indices, Xn.data, rowpos, r_indptr, R.indices, R.data, n, k,
                                      factor, int(min_support), max(1, min(n, chunks or threads)))
    else:
        vals, items, lens = knn(indptr, indices, Xn.data, r_indptr, R.indices.astype(np.int64), R.data, n, k, factor,
                                int(min_support), max(1, min(n, chunks or 8 * threads)))
    keep = np.arange(k)[None, :] < lens[:, None]
    cols = np.broadcast_to(np.arange(n)[:, None], keep.shape)[keep]
    return sp.csr_matrix((vals[keep], (items[keep], cols)), shape=(n, n))


def _one_user_order(Xn: sp.csc_matrix) -> bool:
    """Whether every column stores its users strictly ascending, or every column descending."""
    d = np.diff(Xn.indices.astype(np.int64))
    inside = np.ones(len(d), bool)
    ends = Xn.indptr[1:-1] - 1  # the step from one column's last entry to the next column's first
    inside[ends[(ends >= 0) & (ends < len(d))]] = False
    d = d[inside]
    return bool(np.all(d > 0) or np.all(d < 0))


def _item_cosine_blocks(Xn: sp.csc_matrix, Bc: sp.csc_matrix, k: int, shrinkage: float, min_support: int,
                        block: int) -> sp.csr_matrix:
    """The general path: sparse ``n_items × block`` products (the same products, so the same
    sums, as the dense path), shrinkage on their stored entries, each column's top ``k``
    (0: all) by value then item index, negatives only after every zero of the column."""
    n = Xn.shape[1]
    XnT = Xn.T.tocsr()
    BT = Bc.T.tocsr()
    rows, cols, vals = [], [], []
    for s in range(0, n, block):
        e = min(n, s + block)
        S = (XnT @ Xn[:, s:e]).tocsc()
        if shrinkage > 0 or min_support > 1:
            co = (BT @ Bc[:, s:e]).tocsc()
            if shrinkage > 0:
                f = co.copy()
                f.data = co.data / (co.data + shrinkage)
                S = S.multiply(f).tocsc()
            if min_support > 1:
                S = S.multiply((co >= min_support).astype(np.float64)).tocsc()
        S = S.tocoo()
        r, c, v = S.row.astype(np.int64), S.col.astype(np.int64), S.data
        keep = (r != c + s) & (v != 0)
        r, c, v = r[keep], c[keep], v[keep]
        if k:
            order = np.lexsort((r, -v, c))  # by column, then value desc, then item index
            r, c, v = r[order], c[order], v[order]
            counts = np.bincount(c, minlength=e - s)
            starts = np.r_[0, np.cumsum(counts)[:-1]]
            rank = np.arange(len(c)) - starts[c]
            zeros = n - counts  # the diagonal and every pair without a stored similarity
            rank = np.where(v < 0, rank + zeros[c], rank)
            keep = rank < k
            r, c, v = r[keep], c[keep], v[keep]
        rows.append(r)
        cols.append(c + s)
        vals.append(v)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def gram(X) -> np.ndarray:
    """Dense ``XᵀX`` (items × items, float64) of a sparse users × items matrix: bit for bit
    ``(X.T @ X).toarray()`` (each entry summed over the shared users in ascending order, as
    scipy's product of the canonical matrices sums it), each pair summed once in compiled code
    (:func:`recutils.similarity_kernels.gram_upper`), without scipy's sparse result of up to
    items² entries. ``gram(X.T)`` is ``X Xᵀ``."""
    from .similarity_kernels import gram_upper

    C = sp.csc_matrix(X, dtype=np.float64)
    R = C.tocsr()  # canonical: every row's items ascending
    C = R.tocsc()  # and every column's users ascending
    i64 = np.int64
    return gram_upper(C.indptr.astype(i64), C.indices.astype(i64), C.data, R.indptr.astype(i64), R.indices, R.data,
                      C.shape[1])


def binary_pattern(matrix: sp.spmatrix) -> sp.csc_matrix:
    """0/1 matrix of the stored non-zero entries of ``matrix`` (CSC, float64)."""
    m = sp.csc_matrix(matrix, dtype=np.float64, copy=True)
    m.eliminate_zeros()
    m.data[:] = 1.0
    return m


def _pearson_block(XT, BT, X2T, X, B, X2, J: np.ndarray, min_support: int, shrinkage: float) -> sp.csc_matrix:
    """Shrunk Pearson similarities between every item and the items ``J`` (sparse, n_items × |J|).

    Every sum over the co-raters ``U_ij`` is one sparse product (``n = BᵀB``, ``Σx = XᵀB``,
    ``Σy = BᵀX``, ``Σx² = (X²)ᵀB``, ``Σy² = Bᵀ(X²)``, ``Σxy = XᵀX``); with strictly positive
    ratings all six share the sparsity pattern of ``n``, so the formula
    ``cov / sqrt(var_x var_y)`` with ``cov = Σxy − Σx Σy / n``, ``var_x = Σx² − (Σx)² / n``
    runs on their ``data`` arrays.
    """
    XJ, BJ, X2J = X[:, J], B[:, J], X2[:, J]
    prods = [BT @ BJ, XT @ XJ, XT @ BJ, BT @ XJ, X2T @ BJ, BT @ X2J]
    prods = [sp.csc_matrix(m) for m in prods]
    for m in prods:
        m.sort_indices()
    n = prods[0]
    for m in prods[1:]:
        if not (np.array_equal(m.indptr, n.indptr) and np.array_equal(m.indices, n.indices)):
            raise AssertionError("co-rating sums do not share a sparsity pattern (non-positive ratings?)")
    cnt, sxy, sx, sy, sxx, syy = (m.data for m in prods)
    cov = sxy - sx * sy / cnt
    vx = sxx - sx * sx / cnt
    vy = syy - sy * sy / cnt
    # a column constant on U_ij has zero variance up to rounding: treat as undefined
    tol = 1e-9 * np.maximum(np.maximum(sxx, syy), 1.0)
    ok = (cnt >= max(int(min_support), 2)) & (vx > tol) & (vy > tol)
    sim = np.zeros_like(cnt)
    sim[ok] = np.clip(cov[ok] / np.sqrt(vx[ok] * vy[ok]), -1.0, 1.0)
    if shrinkage > 0:
        sim *= cnt / (cnt + shrinkage)
    col = np.repeat(np.arange(len(J)), np.diff(n.indptr))
    sim[n.indices == J[col]] = 0.0  # diagonal
    out = sp.csc_matrix((sim, n.indices, n.indptr), shape=n.shape)
    out.eliminate_zeros()
    return out


def _prune_columns(S: sp.csc_matrix, k: int) -> sp.csc_matrix:
    """Keep the ``k`` largest entries of each column of a sparse matrix (vectorised)."""
    S = sp.csc_matrix(S)
    lens = np.diff(S.indptr)
    if lens.max(initial=0) <= k:
        return S
    col = np.repeat(np.arange(S.shape[1]), lens)
    order = np.lexsort((S.indices, -S.data, col))  # by column, then value desc, then row
    rank = np.arange(len(order)) - np.repeat(S.indptr[:-1], lens)
    keep = order[rank < k]
    return sp.csc_matrix((S.data[keep], (S.indices[keep], col[keep])), shape=S.shape)


def item_similarity(matrix: sp.spmatrix, kind: str = "cosine", shrinkage: float = 0.0, min_support: int = 1,
                    n_neighbors: int = 0, block_size: int = 2048) -> sp.csr_matrix:
    """Item × item similarity of the columns of a users × items rating ``matrix``.

    ``kind`` is ``"cosine"`` or ``"pearson"`` (see the module docstring); ``shrinkage``
    multiplies each similarity by ``n_ij / (n_ij + shrinkage)``; pairs with fewer than
    ``min_support`` co-raters are dropped; ``n_neighbors > 0`` keeps only the largest
    ``n_neighbors`` similarities of each column (item). The diagonal is zero. Column ``i`` of
    the result holds the neighbours of item ``i`` (symmetric when nothing is pruned).
    Pearson is computed in column blocks of ``block_size`` items (bounded memory); it is
    invariant to shifting all ratings, so non-positive ratings are shifted to be positive.
    """
    check_kind(kind)
    if shrinkage < 0:
        raise RecutilsError(f"shrinkage must be >= 0, got {shrinkage}")
    X = sp.csc_matrix(matrix, dtype=np.float64, copy=True)
    X.eliminate_zeros()
    B = binary_pattern(X)
    if kind == "cosine":
        return item_cosine(X, B, n_neighbors, shrinkage, min_support=min_support)
    if X.nnz and X.data.min() <= 0:
        X.data = X.data - X.data.min() + 1.0
    X2 = X.multiply(X).tocsc()
    XT, BT, X2T = X.T.tocsr(), B.T.tocsr(), X2.T.tocsr()
    n_items = X.shape[1]
    blocks = []
    for start in range(0, n_items, block_size):
        J = np.arange(start, min(start + block_size, n_items))
        S = _pearson_block(XT, BT, X2T, X, B, X2, J, min_support, float(shrinkage))
        if n_neighbors and n_neighbors > 0:
            S = _prune_columns(S, n_neighbors)
        blocks.append(S)
    S = sp.hstack(blocks, format="csr") if blocks else sp.csr_matrix((n_items, n_items))
    S.sort_indices()
    return S
