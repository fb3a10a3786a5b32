"""Item-based collaborative filtering on explicit ratings (the recsys app's "ItemBased"
notebook, rebuilt with sparse matrix products and minimum-support shrinkage).

Definitions (``R`` users × items ratings, ``U_ij`` the users who rated both ``i`` and ``j``,
``n_ij = |U_ij|`` the co-rating count):

- **cosine**: ``cos(i, j) = Σ_u r_ui r_uj / (‖r_i‖ ‖r_j‖)``, missing ratings count as 0, so the
  dot product runs over the co-raters and the norms over each item's raters
  (:func:`recutils.similarity.item_cosine`).
- **pearson**: the correlation of the two rating columns on the co-raters only, each item
  centred on its mean *over* ``U_ij`` (what ``pandas.DataFrame.corr`` / the app's
  ``corrwith`` compute); undefined (0) where ``n_ij < 2`` or a column is constant on ``U_ij``.
- **shrinkage**: ``sim · n_ij / (n_ij + shrinkage)`` (instead of the app's vote-count cut);
  pairs with ``n_ij < min_support`` get similarity 0.

Recommendation (:class:`ItemCF`): for user ``u`` with rated items ``I_u`` and centre ``c_u``,
``score(u, i) = Σ_{j∈I_u} s_ji (r_uj − c_u) / Σ_{j∈I_u} |s_ji|`` (``normalize=True``; items with
no similar rated item cannot be scored: ``-inf``), or the un-normalised numerator
(``normalize=False``, the app's aggregation when ``centre=2.0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..constants import COL_ITEM, COL_TITLE
from ..errors import RecutilsError
from ..similarity import KINDS, binary_pattern, check_kind, item_similarity
from .base import Recommender
from .registry import register
from ..config import param

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
    B = binary_pattern(split.train_binary)
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
    #: subtract from r_uj: "user" (the user's train mean), "none", or a constant (2.0, the app's)
    centre: Literal["user", "none"] | float = 2.0
    normalize: bool = False  #: divide by Σ|sim| (weighted average) or not (weighted sum)


@register
class ItemCF(Recommender):
    """Item-based CF on explicit ratings: a similarity-weighted aggregate of the user's
    (centred) ratings of the items similar to each candidate (see the module docstring)."""

    name = "itemcf"
    Config = ItemCFConfig

    def _centre_values(self, R: sp.csr_matrix) -> np.ndarray:
        c = self.config.centre  # "user", "none" or a finite number: checked when the config was built
        if c == "user":
            counts = np.diff(R.indptr)
            return np.asarray(R.sum(1)).ravel() / np.maximum(counts, 1)
        if c == "none":
            return np.zeros(R.shape[0])
        return np.full(R.shape[0], float(c))

    def _fit(self, split):
        c = self.config
        check_kind(c.kind)
        R = split.train_ratings.tocsr()
        self.sim_ = item_similarity(R, c.kind, c.shrinkage, c.min_support, c.n_neighbors)
        self.abs_sim_ = abs(self.sim_)
        centre = self._centre_values(R)
        Rc = R.copy()
        Rc.data = Rc.data - np.repeat(centre, np.diff(R.indptr))
        self.centred_ = Rc
        self.binary_ = binary_pattern(R).tocsr()
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
