"""Strong, simple baselines: MostPop, ItemKNN, EASE (exact, via the Woodbury identity)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import K
from ..similarity import gram, item_cosine
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

    def rank(self, user_indices, k=K, exclude_seen=True, candidates=None, dtype=np.float64):
        """The same lists as ``Recommender.rank`` without a users × items block: one score for
        everyone, so each user's top-``k`` is the global ranking (count as ``dtype``, ties by
        item index) minus the items the user cannot get. Only the first ``k`` + (most seen items
        in the batch) places are looked at; a user left with fewer than ``k`` items is ranked by
        the dense path (its ``-inf`` tail, in index order)."""
        self._check_fitted()
        users = np.atleast_1d(np.asarray(user_indices, dtype=np.int64))
        n = len(self.popularity_)
        k = min(int(k), n)
        if k <= 0 or not len(users):
            return np.zeros((len(users), max(k, 0)), dtype=np.int64)
        pop = self.popularity_.astype(dtype)
        order = np.lexsort((np.arange(n), -pop))  # count desc, then item index
        if candidates is not None:
            order = order[np.asarray(candidates, bool)[order]]
        if exclude_seen:
            seen = self.split_.train_binary[users]
            depth = min(len(order), k + int(np.diff(seen.indptr).max(initial=0)))
        else:
            seen = None
            depth = min(len(order), k)
        head = order[:depth]
        blocked = np.zeros((len(users), depth), dtype=bool)  # users × depth, not users × items
        if seen is not None:
            place = np.full(n, depth, dtype=np.int64)
            place[head] = np.arange(depth)
            rows = np.repeat(np.arange(len(users)), np.diff(seen.indptr))
            p = place[seen.indices]
            hit = p < depth
            blocked[rows[hit], p[hit]] = True
        # first k unblocked places per row, in ranking order
        pos = np.argsort(blocked, axis=1, kind="stable")[:, :k]
        out = head[pos] if depth >= k else np.zeros((len(users), k), dtype=np.int64)
        short = np.flatnonzero((~blocked).sum(axis=1) < k) if depth >= k else np.arange(len(users))
        if len(short):
            out[short] = super().rank(users[short], k, exclude_seen, candidates, dtype)
        return out


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
    #: keep only the ``max_items`` most-rated training items (ties: lower index); the others score
    #: ``-inf``. 0 keeps every item. EASE's dense matrices grow with items²: this is how it fits at ml-32m.
    max_items: int = param(0, ge=0)
    #: memory EASE may use for its dense matrices (GiB); a fit that would need more stops with
    #: one line saying which ``max_items`` fits (see :func:`ease_memory_gib`)
    max_memory_gb: float = param(8.0, gt=0)
    #: "auto": the cheaper exact path that fits; "woodbury" (users × users solve) or "items"
    #: (items × items inverse) to force one (both give the same scores to float32 precision)
    solver: str = param("auto", choices=("auto", "woodbury", "items"))


_GIB = float(1 << 30)


def ease_memory_gib(n_users: int, n_items: int) -> dict[str, float]:
    """Peak memory (GiB) of EASE's dense matrices for each exact path.

    ``woodbury``: users × users Gram and inverse (float64) + three users × items dense products
    (float64 X·P and X, float32 scores) — the path while users < items;
    ``items``: items × items Gram, its inverse and B (float64, float64, float32).
    """
    m, n = float(n_users), float(n_items)
    return {"woodbury": (16 * m * m + 20 * m * n) / _GIB, "items": 20 * n * n / _GIB}


def spd_inverse(G: np.ndarray) -> np.ndarray:
    """Inverse of the symmetric positive definite ``G`` (C-ordered), computed in its memory
    (``G`` is consumed): Cholesky ``potrf`` + ``potri`` (about n³ flops against the 2n³ of an
    LU inverse), the triangle LAPACK writes mirrored onto the other."""
    from scipy.linalg import lapack

    from ..similarity_kernels import mirror_upper

    a = G.T  # Fortran-ordered view of the same (symmetric) matrix: LAPACK works in place
    c, info = lapack.dpotrf(a, lower=False, overwrite_a=True, clean=False)
    if info == 0:
        c, info = lapack.dpotri(c, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: the regularised Gram matrix is not positive definite (LAPACK info {info})")
    mirror_upper(c)  # c: the Fortran-ordered result, its upper triangle written
    return c.T  # C-ordered, the memory of G


def ease_max_items(budget_gib: float) -> int:
    """The most items the item × item path fits in ``budget_gib``."""
    return int((budget_gib * _GIB / 20) ** 0.5)


@register
class EASE(Recommender):
    """EASE (Steck 2019): B = I − P·diag(1/diag P), P = (XᵀX + λI)⁻¹, B_ii = 0; score = X·B.

    With far fewer users than items (610 ≪ 8,965) the item×item inverse is obtained exactly
    from a users×users solve (Woodbury):
    P = (1/λ)(I − Xᵀ (λI + XXᵀ)⁻¹ X). The training users' scores
    X·B = X − (X·P)·diag(1/diag P) then need only n_users × n_items products, and any
    column of B (for item-to-item similarity) is one more product.

    With more users than items (every larger MovieLens release) B itself is computed from the
    items × items Gram matrix and users are scored on demand (``X[users] · B``, one batch at a
    time). Both paths are exact; the cheaper one that fits ``max_memory_gb`` is taken, else the
    fit stops with a one-line :class:`~recutils.errors.ConfigError` naming the ``max_items``
    that would fit. ``max_items`` keeps the most-rated items only (the rest score ``-inf``).
    """

    name = "ease"
    Config = EASEConfig

    def _fit(self, train):
        self._fit_matrix(train.train_binary)

    def _kept_items(self, X) -> np.ndarray | None:
        """Column indices of the ``max_items`` most-rated items (sorted), or None for all."""
        n_keep = int(getattr(self.config, "max_items", 0) or 0)
        if not n_keep or n_keep >= X.shape[1]:
            return None
        counts = np.diff(X.tocsc().indptr)
        return np.sort(np.argsort(-counts, kind="stable")[:n_keep])

    def _fit_matrix(self, X):
        """EASE on the users × items interaction matrix ``X`` (0/1 here; graded in ease_r)."""
        from ..errors import ConfigError

        lam = float(self.config.lambda_)  # > 0: checked when the config was built
        X = X.astype(np.float64).tocsr()
        self.n_all_items_ = X.shape[1]
        self.keep_ = self._kept_items(X)
        if self.keep_ is not None:
            X = X[:, self.keep_].tocsr()
        m, n = X.shape
        budget = float(getattr(self.config, "max_memory_gb", 8.0))
        need = ease_memory_gib(m, n)
        solver = getattr(self.config, "solver", "auto")
        allowed = [p for p in need if solver in ("auto", p) and need[p] <= budget]
        path = min(allowed, key=lambda p: need[p], default=None)
        if path is None:
            fit_n = ease_max_items(budget)
            if solver == "woodbury":
                raise ConfigError(f"model {self.name!r}: the Woodbury solve for {m:,} users needs "
                                  f"{need['woodbury']:.3g} GiB but max_memory_gb={budget:g}; use solver=auto")
            raise ConfigError(
                f"model {self.name!r}: {n:,} items need {need['items']:.3g} GiB for EASE's dense "
                f"items × items matrices but max_memory_gb={budget:g}; set max_items={fit_n} (keeps the "
                f"{fit_n:,} most-rated items, the rest score -inf) or raise max_memory_gb")
        self.path_ = path
        self.X_ = X
        if path == "woodbury":
            G = gram(X.T)  # XXᵀ, users × users
            G[np.diag_indices_from(G)] += lam
            Ginv = spd_inverse(G)  # (λI + XXᵀ)⁻¹
            # Push-through identity: X·P = X(XᵀX + λI)⁻¹ = (XXᵀ + λI)⁻¹X = Ginv·X
            XP = np.asarray((X.T @ Ginv.T).T)  # dense users × items
            # diag P = (1/λ)(1 − Σ_u X_ui (Ginv X)_ui)
            dP = (1.0 - np.asarray(X.multiply(XP).sum(0)).ravel()) / lam
            Xd = X.toarray()
            self.Ginv_ = Ginv
            self.diagP_ = dP
            self.scores_ = (Xd - XP / dP[None, :]).astype(np.float32)
            self.B_ = None
        else:
            P = gram(X)  # XᵀX, items × items
            P[np.diag_indices_from(P)] += lam
            P = spd_inverse(P)
            dP = np.diag(P).copy()
            P /= -dP[None, :]  # B = I − P·diag(1/diag P) with a zero diagonal
            np.fill_diagonal(P, 0.0)
            self.B_ = P.astype(np.float32)
            del P
            self.scores_ = None

    def _full(self, s: np.ndarray) -> np.ndarray:
        """Scores over the kept items → every item (``-inf`` for pruned ones)."""
        if self.keep_ is None:
            return s
        out = np.full((s.shape[0], self.n_all_items_), -np.inf, dtype=np.float32)
        out[:, self.keep_] = s
        return out

    def score(self, user_indices):
        self._check_fitted()
        u = np.atleast_1d(user_indices)
        if self.scores_ is not None:
            return self._full(self.scores_[u])
        return self._full(np.asarray(self.X_[u].astype(np.float32) @ self.B_))

    def item_weights(self, item_indices) -> np.ndarray:
        """Columns of B for the given items (n_items × len(items)): B[:, j] = e_j − P[:, j] / P_jj
        (zero columns for pruned items)."""
        j_all = np.atleast_1d(item_indices)
        if self.keep_ is not None:
            pos = np.searchsorted(self.keep_, j_all)
            kept = (pos < len(self.keep_)) & (self.keep_[np.minimum(pos, len(self.keep_) - 1)] == j_all)
            Bk = self._weights(pos[kept])
            out = np.zeros((self.n_all_items_, len(j_all)))
            out[np.ix_(self.keep_, np.flatnonzero(kept))] = Bk
            return out
        return self._weights(j_all)

    def _weights(self, j) -> np.ndarray:
        if self.B_ is not None:
            return np.asarray(self.B_[:, j], dtype=np.float64)
        lam = float(self.config.lambda_)
        Xj = self.X_[:, j].toarray()
        Pj = -(self.X_.T @ (self.Ginv_ @ Xj)) / lam
        Pj[j, np.arange(len(j))] += 1.0 / lam
        B = -Pj / self.diagP_[j][None, :]
        B[j, np.arange(len(j))] = 0.0
        return np.asarray(B)
