"""ALS-style matrix factorisation for implicit feedback (Hu, Koren & Volinsky 2008),
via the ``implicit`` library's ``AlternatingLeastSquares`` (CPU)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import SEED
from ..provenance import perturb
from .base import Recommender
from .registry import register
from ..config import param


@dataclass
class ALSConfig:
    factors: int = param(64, ge=1)
    regularization: float = param(0.05, ge=0)
    #: confidence = alpha · r (implicit ≥ 0.5; r = 0/1 interactions, or ratings/5). Spark's ALS and
    #: exact_als use 1 + alpha · r: implicit's alpha + 1 is their alpha
    alpha: float = param(2.0, gt=0)
    iterations: int = param(15, ge=1)
    use_ratings: bool = False  #: confidence from ratings/5 instead of 0/1
    seed: int = param(SEED, ge=0)
    num_threads: int = param(1, ge=0)  #: 0: implicit's default (all cores)
    #: implicit's default: 3 warm-started conjugate-gradient steps per row; False: its exact (Cholesky) solve
    use_cg: bool = True


@register
class ALS(Recommender):
    """Implicit-feedback MF: score(u) = x_u · Y. Items with no training data score ``-inf``."""

    name = "als"
    determinism = "kernel"  # see Recommender.determinism
    Config = ALSConfig

    def _fit(self, split):
        import warnings

        from threadpoolctl import threadpool_limits

        with warnings.catch_warnings():  # implicit imports tqdm.auto, which warns in a kernel without ipywidgets
            warnings.filterwarnings("ignore", message="IProgress not found")
            from implicit.cpu.als import AlternatingLeastSquares

        c = self.config
        X = (split.train_ratings / 5.0 if c.use_ratings else split.train_binary).tocsr().astype(np.float32)
        with threadpool_limits(1, "blas"):  # implicit warns (and slows down) otherwise
            model = AlternatingLeastSquares(factors=c.factors, regularization=c.regularization, alpha=c.alpha,
                                            iterations=c.iterations, random_state=c.seed,
                                            num_threads=c.num_threads, calculate_training_loss=False,
                                            use_cg=c.use_cg)
            model.fit(X, show_progress=False)
        self.U_ = perturb(np.asarray(model.user_factors), "als.U")  # identity outside a kernel audit
        self.V_ = perturb(np.asarray(model.item_factors), "als.V")
        self.known_ = np.asarray(X.sum(0)).ravel() > 0

    def score(self, user_indices):
        self._check_fitted()
        s = self.U_[np.atleast_1d(user_indices)] @ self.V_.T
        s[:, ~self.known_] = -np.inf
        return s
