"""Strong, simple baselines: MostPop, ItemKNN, EASE (exact, via the Woodbury identity)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..similarity import item_cosine
from .base import Recommender
from .registry import register
from ..config import param


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

    def _fit(self, train):
        self._fit_matrix(train.train_binary)

    def _fit_matrix(self, X):
        """EASE on the users × items interaction matrix ``X`` (0/1 here; graded in ease_r)."""
        lam = float(self.config.lambda_)  # > 0: checked when the config was built
        X = X.astype(np.float64).tocsr()
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
