"""Implicit-feedback ALS solved exactly, in numpy, with the regularisation's scaling as a switch —
the reference that separates *how* implicit's and Spark's ALS differ (notebook 07, "matched
regularisation").

The two libraries fit the same model family (Hu, Koren & Volinsky 2008) but not the same objective:

============================  ==================================  ==============================
                              implicit 0.7 (``als``)              Spark MLlib (``spark_als``)
============================  ==================================  ==============================
confidence of a rating r > 0  ``alpha · r``                       ``1 + alpha · r``
regularisation of a user u    ``λ``                               ``λ · n_u`` (ALS-WR: n_u = u's ratings)
solver                        3 warm-started conjugate-gradient   exact (Cholesky) solve
                              steps per user and half-iteration
initial factors               uniform [0, 0.01)                   unit-length Gaussian per block
============================  ==================================  ==============================

This model takes Spark's confidence (``1 + alpha · r``, preference 1) and its exact solve;
``weighted_regularization`` picks the regularisation: ``λ · n_u`` (and ``λ · n_i`` per item), as
Spark, or ``λ``, as implicit. Its initial factors are implicit's (the same generator and seed),
so with ``weighted_regularization=False`` it computes what implicit's exact solver
(``use_cg=False``) computes with ``alpha + 1`` — a test holds it to that. Every half-step solves
``(YᵀY + Σ_i alpha·r_ui·y_i y_iᵀ + λ_u I) x_u = Σ_i (1 + alpha·r_ui) y_i`` for every user (rows
without ratings keep a zero factor and score ``-inf`` for items), in float64 from float32 factors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import param
from ..constants import SEED
from ..provenance import perturb
from .base import Recommender
from .registry import register

#: rows solved per batched ``np.linalg.solve``
CHUNK = 512


@dataclass
class ExactALSConfig:
    factors: int = param(64, ge=1)
    regularization: float = param(0.05, ge=0)
    #: λ·n per user / item with n ratings (ALS-WR, as Spark's MLlib) instead of λ (as implicit)
    weighted_regularization: bool = True
    alpha: float = param(2.0, gt=0)  #: confidence = 1 + alpha · r (as Spark's MLlib)
    iterations: int = param(15, ge=1)
    use_ratings: bool = False  #: r = rating/5 instead of 0/1
    seed: int = param(SEED, ge=0)


def solve_side(R, Y: np.ndarray, regularization: float, weighted: bool, alpha: float) -> np.ndarray:
    """The exact least-squares factors of every row of ``R`` (CSR; ``r`` values) given the other
    side's factors ``Y``: one half-iteration of implicit ALS."""
    k = Y.shape[1]
    YtY = Y.T.astype(np.float64) @ Y.astype(np.float64)
    X = np.zeros((R.shape[0], k), dtype=np.float32)
    ptr, idx, val = R.indptr, R.indices, R.data
    for start in range(0, R.shape[0], CHUNK):
        rows = [u for u in range(start, min(start + CHUNK, R.shape[0])) if ptr[u + 1] > ptr[u]]
        if not rows:
            continue
        A = np.repeat(YtY[None], len(rows), axis=0)
        b = np.empty((len(rows), k))
        for j, u in enumerate(rows):
            lo, hi = ptr[u], ptr[u + 1]
            Yu = Y[idx[lo:hi]].astype(np.float64)
            c1 = alpha * val[lo:hi].astype(np.float64)  # confidence − 1
            A[j] += (Yu.T * c1) @ Yu
            A[j].flat[:: k + 1] += regularization * ((hi - lo) if weighted else 1.0)
            b[j] = (1.0 + c1) @ Yu
        X[rows] = np.linalg.solve(A, b[:, :, None])[:, :, 0]
    return X


@register
class ExactALS(Recommender):
    """Implicit-feedback ALS, exact solves, Spark's confidence, ALS-WR on or off; score(u) = x_u · Y."""

    name = "exact_als"
    determinism = "kernel"  # BLAS / LAPACK sums (see Recommender.determinism)
    Config = ExactALSConfig

    def _fit(self, split):
        from threadpoolctl import threadpool_limits

        c = self.config
        X = (split.train_ratings / 5.0 if c.use_ratings else split.train_binary).tocsr().astype(np.float32)
        Xt = X.T.tocsr()
        rng = np.random.default_rng(c.seed)  # implicit's initialisation (implicit.utils.check_random_state)
        U = rng.random((X.shape[0], c.factors), dtype=np.float32) * 0.01
        V = rng.random((X.shape[1], c.factors), dtype=np.float32) * 0.01
        # one BLAS thread: its small products are 10× slower with two threads on a busy machine
        with threadpool_limits(1, "blas"):
            for _ in range(c.iterations):
                U = solve_side(X, V, c.regularization, c.weighted_regularization, c.alpha)
                V = solve_side(Xt, U, c.regularization, c.weighted_regularization, c.alpha)
        self.U_ = perturb(U, "exact_als.U")
        self.V_ = perturb(V, "exact_als.V")
        self.known_ = np.diff(Xt.indptr) > 0

    def score(self, user_indices):
        self._check_fitted()
        s = self.U_[np.atleast_1d(user_indices)] @ self.V_.T
        s[:, ~self.known_] = -np.inf
        return s
