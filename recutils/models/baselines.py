"""Strong, simple baselines: MostPop, ItemKNN, EASE (exact, via the Woodbury identity)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..evaluation.metrics import top_k
from .base import Recommender
from .registry import register
from .config import param


@dataclass
class MostPopConfig:
    pass


@register
class MostPop(Recommender):
    """Scores every item by its number of training interactions (same list for everyone)."""

    name = "mostpop"
    Config = MostPopConfig

    def _fit(self, split):
        self.popularity_ = np.asarray(split.train_binary.sum(0)).ravel()

    def score(self, user_indices):
        self._check_fitted()
        return np.broadcast_to(self.popularity_, (len(np.atleast_1d(user_indices)), len(self.popularity_)))


@dataclass
class ItemKNNConfig:
    n_neighbors: int = param(100, ge=0)  #: keep the top-``n_neighbors`` similarities per item (0 = all)
    shrinkage: float = param(10.0, ge=0)  #: s_ij · n_ij / (n_ij + shrinkage), n_ij = co-interaction count
    binary: bool = True  #: cosine on 0/1 interactions (True) or on ratings (False)


@register
class ItemKNN(Recommender):
    """Item-based CF: cosine similarity between item columns, pruned to the top
    ``n_neighbors`` per item, shrunk by support; score(u) = x_u · S."""

    name = "itemknn"
    Config = ItemKNNConfig

    def _fit(self, split):
        c = self.config
        X = split.train_binary if c.binary else split.train_ratings
        self.sim_ = item_cosine(X, split.train_binary, c.n_neighbors, c.shrinkage)
        self.X_ = X.tocsr()

    def score(self, user_indices):
        self._check_fitted()
        return (self.X_[np.atleast_1d(user_indices)] @ self.sim_).toarray()


def item_cosine(X: sp.csr_matrix, B: sp.csr_matrix, n_neighbors: int, shrinkage: float,
                block: int = 1024, min_support: int = 1) -> sp.csr_matrix:
    """Sparse item×item cosine of the columns of ``X`` with support shrinkage
    s_ij · n_ij / (n_ij + shrinkage) (co-counts n_ij from binary ``B``), zero diagonal,
    each column pruned to its ``n_neighbors`` largest entries (0 keeps all). Pairs with fewer
    than ``min_support`` co-interactions get 0 (1 keeps all).

    Computed in dense column blocks (items × ``block``): a block product, the shrinkage and a
    :func:`~recutils.evaluation.metrics.top_k` per block (ties by item index, the same on every
    CPU), so memory stays O(n_items · block)."""
    X = sp.csc_matrix(X, dtype=np.float64)
    n = X.shape[1]
    norms = np.sqrt(np.asarray(X.multiply(X).sum(0)).ravel())
    norms[norms == 0] = 1.0
    Xn = (X @ sp.diags(1.0 / norms)).tocsc()
    XnT = Xn.T.tocsr()
    Bc = sp.csc_matrix(B, dtype=np.float64)
    BT = Bc.T.tocsr()
    rows, cols, vals = [], [], []
    for s in range(0, n, block):
        e = min(n, s + block)
        S = (XnT @ Xn[:, s:e]).toarray()  # n × (e − s)
        if shrinkage > 0 or min_support > 1:
            co = (BT @ Bc[:, s:e]).toarray()
            if shrinkage > 0:
                S *= co / (co + shrinkage)
            if min_support > 1:
                S[co < min_support] = 0.0
        S[np.arange(s, e), np.arange(e - s)] = 0.0
        if n_neighbors and n_neighbors < n:
            # each column's largest entries, ties by lower item index (not argpartition's CPU-dependent pick)
            top = top_k(S.T, n_neighbors).T
            v = np.take_along_axis(S, top, axis=0)
            r, c = top.ravel(), np.broadcast_to(np.arange(s, e), top.shape).ravel()
            v = v.ravel()
        else:
            r, c = np.nonzero(S)
            v = S[r, c]
            c = c + s
        keep = v != 0
        rows.append(r[keep]); cols.append(c[keep]); vals.append(v[keep])
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


@dataclass
class EASEConfig:
    #: L2 regularisation λ. 300 is the value chosen on the study split's validation carve-out:
    #: `python -m recutils.tuning --model ease --grid lambda_=50,100,200,300,500,800,1200,2000`
    lambda_: float = param(300.0, gt=0)


@register
class EASE(Recommender):
    """EASE (Steck 2019): B = I − P·diag(1/diag P), P = (XᵀX + λI)⁻¹, B_ii = 0; score = X·B.

    With far fewer users than items (610 ≪ 8,965) the item×item inverse is obtained exactly
    from a users×users solve (Woodbury):
    P = (1/λ)(I − Xᵀ (λI + XXᵀ)⁻¹ X). The training users' scores
    X·B = X − (X·P)·diag(1/diag P) then need only n_users × n_items products, and any
    column of B (for item-to-item similarity) is one more product.
    """

    name = "ease"
    Config = EASEConfig

    def _fit(self, split):
        lam = float(self.config.lambda_)  # > 0: checked when the config was built
        X = split.train_binary.astype(np.float64).tocsr()
        G = (X @ X.T).toarray()
        G[np.diag_indices_from(G)] += lam
        Ginv = np.linalg.inv(G)  # (λI + XXᵀ)⁻¹, users × users
        # Push-through identity: X·P = X(XᵀX + λI)⁻¹ = (XXᵀ + λI)⁻¹X = Ginv·X
        XP = np.asarray((X.T @ Ginv.T).T)  # dense users × items
        # diag P = (1/λ)(1 − Σ_u X_ui (Ginv X)_ui)
        dP = (1.0 - np.asarray(X.multiply(XP).sum(0)).ravel()) / lam
        Xd = X.toarray()
        self.X_ = X
        self.Ginv_ = Ginv
        self.diagP_ = dP
        self.scores_ = (Xd - XP / dP[None, :]).astype(np.float32)

    def score(self, user_indices):
        self._check_fitted()
        return self.scores_[np.atleast_1d(user_indices)]

    def item_weights(self, item_indices) -> np.ndarray:
        """Columns of B for the given items (n_items × len(items)): B[:, j] = e_j − P[:, j] / P_jj."""
        j = np.atleast_1d(item_indices)
        lam = float(self.config.lambda_)
        Xj = self.X_[:, j].toarray()
        Pj = -(self.X_.T @ (self.Ginv_ @ Xj)) / lam
        Pj[j, np.arange(len(j))] += 1.0 / lam
        B = -Pj / self.diagP_[j][None, :]
        B[j, np.arange(len(j))] = 0.0
        return np.asarray(B)
