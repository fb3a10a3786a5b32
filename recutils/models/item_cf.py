"""Item-based collaborative filtering on explicit ratings (the recsys app's "ItemBased"
notebook, rebuilt with sparse matrix products and minimum-support shrinkage).

Definitions (``R`` users × items ratings, ``U_ij`` the users who rated both ``i`` and ``j``,
``n_ij = |U_ij|`` the co-rating count):

- **cosine**: ``cos(i, j) = Σ_u r_ui r_uj / (‖r_i‖ ‖r_j‖)``, missing ratings count as 0, so the
  dot product runs over the co-raters and the norms over each item's raters
  (:func:`recutils.models.baselines.item_cosine`).
- **pearson**: the correlation of the two rating columns on the co-raters only, each item
  centred on its mean *over* ``U_ij`` (what ``pandas.DataFrame.corr`` / the app's
  ``corrwith`` compute); undefined (0) where ``n_ij < 2`` or a column is constant on ``U_ij``.
- **shrinkage**: ``sim · n_ij / (n_ij + shrinkage)`` (instead of the app's vote-count cut);
  pairs with ``n_ij < min_support`` get similarity 0.

Recommendation (:class:`ItemCF`): for user ``u`` with rated items ``I_u`` and centre ``c_u``,
``score(u, i) = Σ_{j∈I_u} s_ji (r_uj − c_u) / Σ_{j∈I_u} |s_ji|`` (``normalize=True``; items with
no similar rated item cannot be scored: ``-inf``), or the un-normalised numerator
(``normalize=False``, the app's aggregation when ``centre="2"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..constants import COL_ITEM, COL_TITLE
from ..errors import RecutilsError
from .base import Recommender
from .registry import register
from .baselines import item_cosine
from .config import param

KINDS = ("cosine", "pearson")


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise RecutilsError(f"unknown similarity kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    return kind


def _centre_value(centre) -> str | float | None:
    """``"user"``, ``"none"`` or the number a ``centre`` setting names (None: not valid)."""
    c = str(centre).strip().lower()
    if c in ("user", "none"):
        return c
    try:
        v = float(c)
    except ValueError:
        return None
    return v if np.isfinite(v) else None


def _pattern(matrix: sp.spmatrix) -> sp.csc_matrix:
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
    _check_kind(kind)
    if shrinkage < 0:
        raise RecutilsError(f"shrinkage must be >= 0, got {shrinkage}")
    X = sp.csc_matrix(matrix, dtype=np.float64, copy=True)
    X.eliminate_zeros()
    B = _pattern(X)
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


def similar_items(sim: sp.spmatrix, split, movie_id, k: int = 10, movies: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``k`` items most similar to one raw ``movie_id`` under the item × item ``sim``.

    Returns ``movieId, [title,] similarity, n_co`` (``n_co`` = users in ``split.train`` who
    rated both), best first; only items with a non-zero similarity are listed. ``movies``
    (any frame with ``movieId`` and ``title``) adds the titles.
    """
    j = int(split.iidx(movie_id)[0])
    if j < 0:
        raise RecutilsError(f"movie {movie_id!r} is not in the training data of split {split.name!r}")
    col = np.asarray(sp.csc_matrix(sim)[:, j].toarray()).ravel()
    col[j] = 0.0
    nz = np.flatnonzero(col)
    order = nz[np.lexsort((nz, -col[nz]))][:k]
    B = _pattern(split.train_binary)
    n_co = np.asarray((B.T @ B[:, j]).toarray()).ravel()
    out = pd.DataFrame({COL_ITEM: split.items[order], "similarity": col[order], "n_co": n_co[order].astype(np.int64)})
    if movies is not None:
        titles = movies.drop_duplicates(COL_ITEM).set_index(COL_ITEM)[COL_TITLE]
        out.insert(1, COL_TITLE, out[COL_ITEM].map(titles).to_numpy())
    return out


@dataclass
class ItemCFConfig:
    """Defaults: the configuration chosen on the study split's validation carve-out by
    notebooks/01_item_cf (NDCG@25 over kind × centre × normalize, shrinkage 10, min_support 5)."""

    kind: str = param("cosine", choices=KINDS)  #: "cosine" or "pearson" (on co-raters)
    shrinkage: float = param(10.0, ge=0)  #: sim · n_ij / (n_ij + shrinkage)
    min_support: int = param(5, ge=1)  #: drop pairs with fewer co-raters
    n_neighbors: int = param(0, ge=0)  #: keep the top-n similarities per item (0 = all)
    #: subtract from r_uj: "user" (user's train mean), "none", or a number ("2", the app's)
    centre: str = param("2", check=lambda v: _centre_value(v) is not None,
                        expect="'user', 'none' or a finite number")
    normalize: bool = False  #: divide by Σ|sim| (weighted average) or not (weighted sum)


@register
class ItemCF(Recommender):
    """Item-based CF on explicit ratings: a similarity-weighted aggregate of the user's
    (centred) ratings of the items similar to each candidate (see the module docstring)."""

    name = "itemcf"
    Config = ItemCFConfig

    def _centre_values(self, R: sp.csr_matrix) -> np.ndarray:
        c = str(self.config.centre).strip().lower()
        if c == "user":
            counts = np.diff(R.indptr)
            return np.asarray(R.sum(1)).ravel() / np.maximum(counts, 1)
        if c == "none":
            return np.zeros(R.shape[0])
        try:
            return np.full(R.shape[0], float(c))
        except ValueError:
            raise RecutilsError(f"itemcf centre must be 'user', 'none' or a number, got {self.config.centre!r}") from None

    def _fit(self, split):
        c = self.config
        _check_kind(c.kind)
        R = split.train_ratings.tocsr()
        self.sim_ = item_similarity(R, c.kind, c.shrinkage, c.min_support, c.n_neighbors)
        self.abs_sim_ = abs(self.sim_)
        centre = self._centre_values(R)
        Rc = R.copy()
        Rc.data = Rc.data - np.repeat(centre, np.diff(R.indptr))
        self.centred_ = Rc
        self.binary_ = _pattern(R).tocsr()
        self.centre_ = centre

    def score(self, user_indices):
        self._check_fitted()
        u = np.atleast_1d(user_indices)
        num = (self.centred_[u] @ self.sim_).toarray()
        if not self.config.normalize:
            return num
        den = (self.binary_[u] @ self.abs_sim_).toarray()
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), -np.inf)
