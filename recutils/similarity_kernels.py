"""Compiled kernels behind :func:`recutils.similarity.item_cosine` (numba, imported on first use).

Each item's neighbour list is built from the items it shares a user with only — a dense
accumulator of ``n_items`` floats per thread, reset through the list of items touched, the way
implicit's ``all_pairs_knn`` does it — so no items × block dense matrix and no dense top-k exist.
:func:`knn` builds each list on its own (every pair is summed twice, once from each item);
:func:`knn_upper`, for positive values, sums each pair once and offers it to both lists.

Same numbers as the dense path (``tests/test_item_knn_sparse.py`` checks it against that path):

- each dot product is summed over the shared users in the stored order of the item's column,
  starting from 0.0, as scipy's sparse product sums it (that product is bitwise symmetric:
  every column stores its users in the same relative order), and the term is the same product;
- shrinkage is ``s · (n_ij / (n_ij + shrinkage))`` then zero below ``min_support``, as there;
- the ``k`` kept per item are the largest values, ties at the ``k``-th place to the lower item
  index (:func:`recutils.evaluation.metrics.top_k`'s rule); a negative similarity is kept only
  where the item has fewer than ``k`` positive and zero entries together (the dense top-k ranks
  every implicit zero above it); zeros are never kept.
"""

from __future__ import annotations

import numba as nb
import numpy as np

@nb.njit(cache=True, nogil=True)
def _select(vals, ids, m, k, out_v, out_i, at):
    """Write the ``k`` largest of ``vals[:m]`` (ties: lower ``ids`` first) at ``out[at:]``;
    ``m > k``. Returns the new end."""
    part = np.partition(vals[:m].copy(), m - k)
    kth = part[m - k]
    n_above = 0
    n_tied = 0
    for t in range(m):
        if vals[t] > kth:
            out_v[at + n_above] = vals[t]
            out_i[at + n_above] = ids[t]
            n_above += 1
        elif vals[t] == kth:
            n_tied += 1
    tied = np.empty(n_tied, np.int64)
    c = 0
    for t in range(m):
        if vals[t] == kth:
            tied[c] = ids[t]
            c += 1
    tied.sort()
    end = at + n_above
    for t in range(k - n_above):
        out_v[end] = kth
        out_i[end] = tied[t]
        end += 1
    return end


@nb.njit(cache=True, nogil=True, inline="always")
def _worse(av, ai, bv, bi):
    """Whether (value ``av``, item ``ai``) ranks below (``bv``, ``bi``): lower value, or the
    same value and a higher item index."""
    return av < bv or (av == bv and ai > bi)


@nb.njit(cache=True, nogil=True)
def _heap_push(hv, hi, size, k, v, i):
    """Offer (v, i) to the bounded heap of the ``k`` best (root: the worst kept); returns the
    new size."""
    if size < k:
        pos = size
        size += 1
        while pos > 0:  # sift up
            parent = (pos - 1) >> 1
            if _worse(v, i, hv[parent], hi[parent]):
                hv[pos] = hv[parent]
                hi[pos] = hi[parent]
                pos = parent
            else:
                break
        hv[pos] = v
        hi[pos] = i
        return size
    if not _worse(hv[0], hi[0], v, i):
        return size
    pos = 0  # replace the root, sift down
    while True:
        c = 2 * pos + 1
        if c >= size:
            break
        if c + 1 < size and _worse(hv[c + 1], hi[c + 1], hv[c], hi[c]):
            c += 1
        if _worse(hv[c], hi[c], v, i):
            hv[pos] = hv[c]
            hi[pos] = hi[c]
            pos = c
        else:
            break
    hv[pos] = v
    hi[pos] = i
    return size


@nb.njit(cache=True, parallel=True)
def knn(indptr, indices, data, r_indptr, r_indices, r_data, n, k, shrink_factor, min_support, n_chunks):
    """Top-``k`` shrunk cosine neighbours of each column of a unit-column matrix given as CSC
    (``indptr, indices, data``) and CSR (``r_*``); ``shrink_factor[c]`` is the factor for a
    co-count ``c`` (``c / (c + shrinkage)``, or empty for no shrinkage). Returns (values, items,
    lengths): row j of the first two holds item j's neighbours (``lengths[j]`` of them, in no
    order)."""
    out_v = np.zeros((n, k), np.float64)
    out_i = np.zeros((n, k), np.int64)
    out_len = np.zeros(n, np.int64)
    shrink = len(shrink_factor) > 0
    for c in nb.prange(n_chunks):
        acc = np.zeros(n, np.float64)
        cnt = np.zeros(n, np.int64)
        touched = np.empty(n + 1, np.int64)
        nv = np.empty(n, np.float64)
        ni = np.empty(n, np.int64)
        for j in range(c, n, n_chunks):
            m = 0
            for p in range(indptr[j], indptr[j + 1]):
                u = indices[p]
                x = data[p]
                for q in range(r_indptr[u], r_indptr[u + 1]):
                    i = r_indices[q]
                    co = cnt[i]
                    touched[m] = i  # kept only when i is new: no branch to mispredict
                    m += co == 0
                    cnt[i] = co + 1
                    acc[i] += r_data[q] * x
            ov = out_v[j]
            oi = out_i[j]
            npos = 0
            nneg = 0
            for t in range(m):
                i = touched[t]
                s = acc[i]
                co = cnt[i]
                acc[i] = 0.0
                cnt[i] = 0
                if i == j:
                    continue
                if shrink:
                    s *= shrink_factor[co]
                if co < min_support:
                    continue
                if s > 0:
                    if npos < k or _worse(ov[0], oi[0], s, i):  # most candidates stop here
                        npos = _heap_push(ov, oi, npos, k, s, i)
                elif s < 0:
                    nv[nneg] = s
                    ni[nneg] = i
                    nneg += 1
            end = npos
            # the dense top-k reaches negative similarities only after every zero
            room = k - npos - (n - npos - nneg)
            if room > 0 and nneg:
                if nneg <= room:
                    for t in range(nneg):
                        ov[end] = nv[t]
                        oi[end] = ni[t]
                        end += 1
                else:
                    end = _select(nv, ni, nneg, room, ov, oi, end)
            out_len[j] = end
    return out_v, out_i, out_len


@nb.njit(cache=True, nogil=True)
def row_positions(indptr, indices, r_indptr, n):
    """For each stored entry (u, j) of the CSC matrix, its position in row u of the CSR matrix
    (rows sorted by item: visiting the columns in order, each row's next slot is that entry)."""
    nxt = r_indptr[:-1].copy()
    pos = np.empty(len(indices), np.int64)
    for j in range(n):
        for p in range(indptr[j], indptr[j + 1]):
            u = indices[p]
            pos[p] = nxt[u]
            nxt[u] += 1
    return pos


@nb.njit(cache=True, nogil=True, inline="always")
def _offer(hv, hi, hs, tv, ti, j, k, s, i):
    """Offer (s, i) to item ``j``'s bounded heap (``hs[j]`` entries so far); ``tv[j], ti[j]``
    mirror its root once full (−inf before: every positive ``s`` enters), one contiguous array
    to test most offers against."""
    if s > tv[j] or (s == tv[j] and i < ti[j]):
        size = _heap_push(hv[j], hi[j], hs[j], k, s, i)
        hs[j] = size
        if size == k:
            tv[j] = hv[j, 0]
            ti[j] = hi[j, 0]


@nb.njit(cache=True, parallel=True)
def knn_upper(indptr, indices, data, rowpos, r_indptr, r_indices, r_data, n, k, shrink_factor, min_support,
              n_chunks):
    """:func:`knn` for a matrix of positive values (no similarity is negative, so none ever
    enters a list), each pair's dot product computed once: column ``j`` is multiplied with
    the items ``i > j`` only (the rows' entries after ``rowpos``, rows sorted by item) and the
    result offered to both lists, ``(s, i)`` to ``j``'s and ``(s, j)`` to ``i``'s.

    The sum is the one :func:`knn` computes for either item (column ``j``'s stored users, in
    order, from 0.0; the same product per term), and each list is the top ``k`` of the same
    candidates under a total order (value, then lower item index), so the lists do not depend
    on the order of the offers: ``n_chunks`` workers keep their own heaps over a share of the
    columns, merged item by item at the end. Returns (values, items, lengths) as :func:`knn`."""
    hv = np.zeros((n_chunks, n, k), np.float64)
    hi = np.zeros((n_chunks, n, k), np.int64)
    hs = np.zeros((n_chunks, n), np.int64)
    shrink = len(shrink_factor) > 0
    for c in nb.prange(n_chunks):
        cv = hv[c]
        ci = hi[c]
        cs = hs[c]
        acc = np.zeros(n, np.float64)
        cnt = np.zeros(n, np.int32)
        touched = np.empty(n + 1, np.int32)
        tv = np.full(n, -np.inf)
        ti = np.zeros(n, np.int64)
        for j in range(c, n, n_chunks):
            m = 0
            for p in range(indptr[j], indptr[j + 1]):
                u = indices[p]
                x = data[p]
                for q in range(rowpos[p] + 1, r_indptr[u + 1]):
                    i = r_indices[q]
                    co = cnt[i]
                    touched[m] = i
                    m += co == 0
                    cnt[i] = co + 1
                    acc[i] += r_data[q] * x
            for t in range(m):
                i = touched[t]
                s = acc[i]
                co = cnt[i]
                acc[i] = 0.0
                cnt[i] = 0
                if shrink:
                    s *= shrink_factor[co]
                if co < min_support or not s > 0:
                    continue
                _offer(cv, ci, cs, tv, ti, j, k, s, i)
                _offer(cv, ci, cs, tv, ti, i, k, s, j)
    if n_chunks == 1:
        return hv[0], hi[0], hs[0]
    out_v = np.zeros((n, k), np.float64)
    out_i = np.zeros((n, k), np.int64)
    out_len = np.zeros(n, np.int64)
    for j in nb.prange(n):
        ov = out_v[j]
        oi = out_i[j]
        size = 0
        for c in range(n_chunks):
            for t in range(hs[c, j]):
                s = hv[c, j, t]
                i = hi[c, j, t]
                if size < k or _worse(ov[0], oi[0], s, i):
                    size = _heap_push(ov, oi, size, k, s, i)
        out_len[j] = size
    return out_v, out_i, out_len


@nb.njit(cache=True, parallel=True)
def gram_upper(indptr, indices, data, r_indptr, r_indices, r_data, n):
    """Dense ``XᵀX`` (n × n) of a matrix given as CSC with each column's users ascending
    (``indptr, indices, data``) and CSR with each row's items ascending (``r_*``): entry (j, i)
    sums ``x_uj · x_ui`` over column ``j``'s users in order from 0.0 — the sum scipy's sparse
    product ``X.T @ X`` computes, bit for bit — for ``i ≥ j`` only (row ``j`` is contiguous),
    mirrored below the diagonal: with ascending users in every column both items give the same
    sum. Rows are independent: the result does not depend on the thread count."""
    G = np.zeros((n, n), np.float64)
    rowpos = row_positions(indptr, indices, r_indptr, n)
    for j in nb.prange(n):
        g = G[j]
        for p in range(indptr[j], indptr[j + 1]):
            u = indices[p]
            x = data[p]
            for q in range(rowpos[p], r_indptr[u + 1]):
                g[r_indices[q]] += x * r_data[q]
    mirror_upper(G)
    return G


@nb.njit(cache=True, parallel=True)
def mirror_upper(G):
    """Copy the upper triangle of the square ``G`` onto its lower one, in place (in 64 × 64
    tiles: both sides stay in cache)."""
    n = G.shape[0]
    t = 64
    for bj in nb.prange((n + t - 1) // t):
        j0 = bj * t
        for i0 in range(0, j0 + 1, t):
            for j in range(j0, min(n, j0 + t)):
                for i in range(i0, min(j, i0 + t)):
                    G[j, i] = G[i, j]
