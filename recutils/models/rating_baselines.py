"""Rating-prediction baselines: global mean, regularised user+item biases, cornac's biased MF.

Each has ``predict(uidx, iidx)`` (used by :func:`recutils.evaluation.evaluate_rating`) and a
``score`` for ranking (the predicted rating of every item). Predictions are clipped to the
training rating range; items (users) without training ratings get a zero bias / factor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import COL_RATING, SEED
from ..errors import RecutilsError
from .base import Recommender
from .registry import register
from ..config import param


def _train_arrays(split):
    t = split.train
    return (t["uidx"].to_numpy(np.int64), t["iidx"].to_numpy(np.int64),
            t[COL_RATING].to_numpy(np.float64))


class _RatingModel(Recommender):
    """Shared ``predict`` / ``score`` for models of the form ``mu + b_u + b_i (+ p_u·q_i)``."""

    def _set_range(self, y: np.ndarray) -> None:
        self.rating_min_, self.rating_max_ = float(y.min()), float(y.max())

    def _raw(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, user_indices, item_indices) -> np.ndarray:
        """Predicted ratings for (user, item) index pairs, clipped to the training range."""
        self._check_fitted()
        u = np.asarray(user_indices, dtype=np.int64)
        i = np.asarray(item_indices, dtype=np.int64)
        if u.shape != i.shape:
            raise RecutilsError(f"predict: {u.shape[0]} users but {i.shape[0]} items")
        return np.clip(self._raw(u, i), self.rating_min_, self.rating_max_)


@dataclass
class GlobalMeanConfig:
    pass


@register
class GlobalMean(_RatingModel):
    """Predicts the mean training rating for every pair (ranking: all ties)."""

    name = "globalmean"
    Config = GlobalMeanConfig

    def _fit(self, split):
        y = _train_arrays(split)[2]
        self.mu_ = float(y.mean())
        self._set_range(y)

    def _raw(self, u, i):
        return np.full(len(u), self.mu_)

    def score(self, user_indices):
        self._check_fitted()
        return np.full((len(np.atleast_1d(user_indices)), self.n_items), self.mu_)


@dataclass
class BiasConfig:
    reg_user: float = param(2.0, ge=0)  #: λ_u in b_u = Σ_i (r_ui − μ − b_i) / (λ_u + n_u)
    reg_item: float = param(2.0, ge=0)  #: λ_i in b_i = Σ_u (r_ui − μ − b_u) / (λ_i + n_i)
    n_sweeps: int = param(10, ge=1)  #: alternating closed-form sweeps (item biases first)


@register
class BiasBaseline(_RatingModel):
    """r̂_ui = μ + b_u + b_i with ridge-regularised biases, fitted by alternating exact
    least-squares sweeps (each sweep solves every b_i, then every b_u, in closed form)."""

    name = "bias"
    Config = BiasConfig

    def _fit(self, split):
        c = self.config
        u, i, y = _train_arrays(split)
        self._set_range(y)
        mu = float(y.mean())
        n_u = np.bincount(u, minlength=split.n_users)
        n_i = np.bincount(i, minlength=split.n_items)
        bu = np.zeros(split.n_users)
        bi = np.zeros(split.n_items)
        for _ in range(c.n_sweeps):
            bi = np.bincount(i, y - mu - bu[u], minlength=split.n_items) / (c.reg_item + n_i + 1e-12)
            bu = np.bincount(u, y - mu - bi[i], minlength=split.n_users) / (c.reg_user + n_u + 1e-12)
        self.mu_, self.bu_, self.bi_ = mu, bu, bi

    def _raw(self, u, i):
        return self.mu_ + self.bu_[u] + self.bi_[i]

    def score(self, user_indices):
        self._check_fitted()
        u = np.atleast_1d(user_indices)
        return self.mu_ + self.bu_[u][:, None] + self.bi_[None, :]


@dataclass
class CornacMFConfig:
    """cornac ``MF`` (SGD, ``use_bias=True``); defaults chosen on the study validation split."""

    k: int = param(100, ge=1)
    max_iter: int = param(100, ge=1)
    learning_rate: float = param(0.005, gt=0)
    lambda_reg: float = param(0.05, ge=0)
    use_bias: bool = True
    shuffle: bool = True  #: shuffle the training triples once (cornac's SGD visits them in order)
    seed: int = param(SEED, ge=0)


@register
class CornacMF(_RatingModel):
    """cornac's biased matrix factorisation: r̂_ui = μ + b_u + b_i + p_u·q_i (SGD, one thread
    so that a seed gives the same model). Items without training ratings: μ + b_u."""

    name = "cornac_mf"
    Config = CornacMFConfig

    def _fit(self, split):
        import cornac

        c = self.config
        u, i, y = _train_arrays(split)
        self._set_range(y)
        order = np.random.default_rng(c.seed).permutation(len(y)) if c.shuffle else np.arange(len(y))
        triples = list(zip(split.users[u[order]], split.items[i[order]], y[order]))
        ds = cornac.data.Dataset.from_uir(triples, seed=c.seed)
        model = cornac.models.MF(k=c.k, max_iter=c.max_iter, learning_rate=c.learning_rate,
                                 lambda_reg=c.lambda_reg, use_bias=c.use_bias, early_stop=False,
                                 num_threads=1, seed=c.seed, verbose=False)
        model.fit(ds)
        upos = np.array([ds.uid_map.get(x, -1) for x in split.users])
        ipos = np.array([ds.iid_map.get(x, -1) for x in split.items])
        k = c.k
        self.mu_ = float(model.global_mean)
        self.P_ = np.zeros((split.n_users, k))
        self.Q_ = np.zeros((split.n_items, k))
        self.bu_ = np.zeros(split.n_users)
        self.bi_ = np.zeros(split.n_items)
        ku, ki = upos >= 0, ipos >= 0
        self.P_[ku] = model.u_factors[upos[ku]]
        self.Q_[ki] = model.i_factors[ipos[ki]]
        if c.use_bias:
            self.bu_[ku] = model.u_biases[upos[ku]]
            self.bi_[ki] = model.i_biases[ipos[ki]]

    def _raw(self, u, i):
        return self.mu_ + self.bu_[u] + self.bi_[i] + np.einsum("nk,nk->n", self.P_[u], self.Q_[i])

    def score(self, user_indices):
        self._check_fitted()
        u = np.atleast_1d(user_indices)
        return self.mu_ + self.bu_[u][:, None] + self.bi_[None, :] + self.P_[u] @ self.Q_.T
