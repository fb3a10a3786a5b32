"""cornac's PMF behind the project's interface (the hybrid study's MF)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import COL_ITEM, COL_RATING, COL_USER, SEED
from .base import Recommender
from .registry import register
from ..config import param


@dataclass
class PMFConfig:
    """The hybrid study's configuration by default."""

    k: int = param(100, ge=1)
    max_iter: int = param(200, ge=1)
    learning_rate: float = param(0.005, gt=0)
    lambda_reg: float = param(0.001, ge=0)
    seed: int = param(SEED, ge=0)


@register
class PMF(Recommender):
    """Probabilistic MF (cornac ``PMF``) fitted on the explicit train ratings.

    Items never rated in train (cold items) get ``-inf``: MF cannot score them.
    """

    name = "pmf"
    Config = PMFConfig

    def _fit(self, split):
        import cornac

        c = self.config
        triples = list(zip(split.train[COL_USER].to_numpy(), split.train[COL_ITEM].to_numpy(),
                           split.train[COL_RATING].to_numpy(dtype=float)))
        ds = cornac.data.Dataset.from_uir(triples, seed=c.seed)
        model = cornac.models.PMF(k=c.k, max_iter=c.max_iter, learning_rate=c.learning_rate,
                                  lambda_reg=c.lambda_reg, seed=c.seed, verbose=False)
        model.fit(ds)
        self.model_ = model
        self.cornac_train_ = ds
        # cornac index → our index
        self.user_map_ = np.array([ds.uid_map.get(u, -1) for u in split.users])
        item_pos = np.array([ds.iid_map.get(i, -1) for i in split.items])
        self.item_cols_ = item_pos
        U, V = model.U, model.V
        self.U_ = np.asarray(U, dtype=np.float64)
        # scores as cornac computes them (U·Vᵀ, no sigmoid: ranking-equivalent to model.score)
        V_full = np.zeros((len(split.items), V.shape[1]))
        V_full[item_pos >= 0] = V[item_pos[item_pos >= 0]]
        self.V_ = V_full
        self.known_ = item_pos >= 0

    def score(self, user_indices):
        self._check_fitted()
        u = self.user_map_[np.atleast_1d(user_indices)]
        s = self.U_[u] @ self.V_.T
        s[:, ~self.known_] = -np.inf
        s[u < 0] = -np.inf
        return s
