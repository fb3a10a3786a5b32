"""The compiled top-k behind :func:`recutils.evaluation.metrics.top_k` (numba, imported on use).

One pass per row with a size-``k`` heap ordered by (score, then item index): an item enters only
when it beats the heap's worst **strictly** — items arrive in index order, so at equal scores
the one already kept (the lower index) stays — and the ``k`` kept are finally sorted by score
descending, then index ascending. NaN counts as ``-inf``. That is exactly the total order
``top_k`` defines (``tests/test_topk_kernel.py`` checks it against the numpy path on ties,
``-inf``, NaN, ``-0.0``, ``k`` ≥ the number of items and any number of threads), in one pass over
the scores instead of a partition, a copy and several masks — rows are independent (``prange``),
so the thread count never changes a list.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True, inline="always")
def _worse(s_a, i_a, s_b, i_b):
    """Whether (s_a, i_a) ranks below (s_b, i_b): a lower score, or the same and a higher index."""
    return s_a < s_b or (s_a == s_b and i_a > i_b)


@nb.njit(cache=True, nogil=True)
def _sift_down(hs, hi, k, pos):
    """Restore the min-heap (worst item at the root) below ``pos``."""
    while True:
        left = 2 * pos + 1
        if left >= k:
            return
        child = left
        right = left + 1
        if right < k and _worse(hs[right], hi[right], hs[left], hi[left]):
            child = right
        if _worse(hs[child], hi[child], hs[pos], hi[pos]):
            hs[pos], hs[child] = hs[child], hs[pos]
            hi[pos], hi[child] = hi[child], hi[pos]
            pos = child
        else:
            return


@nb.njit(cache=True, nogil=True, parallel=True)
def top_k_rows(scores, k):
    """``(n_rows, k)`` int64 item indices, best first (``0 < k ≤ n_items``)."""
    n_rows, n_items = scores.shape
    out = np.empty((n_rows, k), np.int64)
    for r in nb.prange(n_rows):
        hs = np.empty(k, np.float64)
        hi = np.empty(k, np.int64)
        for j in range(k):
            v = np.float64(scores[r, j])
            hs[j] = -np.inf if v != v else v
            hi[j] = j
        for j in range(k // 2 - 1, -1, -1):
            _sift_down(hs, hi, k, j)
        for j in range(k, n_items):
            v = np.float64(scores[r, j])
            if v != v:
                v = -np.inf
            if v > hs[0]:  # strictly better than the worst kept (equal: the lower index stays)
                hs[0] = v
                hi[0] = j
                _sift_down(hs, hi, k, 0)
        # pop worst first into the back: best first at the front
        n = k
        while n > 0:
            out[r, n - 1] = hi[0]
            n -= 1
            hs[0] = hs[n]
            hi[0] = hi[n]
            _sift_down(hs, hi, n, 0)
    return out
