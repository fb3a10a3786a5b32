"""Genre popularity: a cold-item baseline that needs no text and no TMDB numbers.

``score(u, i)`` = the mean, over movie ``i``'s MovieLens genres, of the genre's share of the
training interactions (global), or with ``personal=True`` of the user's own genre shares
shrunk towards the global ones (``shrinkage`` pseudo-interactions). A movie without a genre
gets the mean over genres. Only warm items' training interactions are counted; a cold movie
is scored from its genres alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ...config import param
from ...constants import COL_GENRES, COL_ITEM
from ...errors import RecutilsError
from ..base import Recommender
from ..registry import register

__all__ = ["GenrePopularity", "GenrePopularityConfig"]


@dataclass
class GenrePopularityConfig:
    personal: bool = False  #: the user's own genre shares (shrunk to the global ones) instead of the global shares
    shrinkage: float = param(10.0, ge=0)  #: pseudo-interactions of the global distribution per user (``personal``)


@register
class GenrePopularity(Recommender):
    """Movies scored by how popular their genres are (see module docstring)."""

    name = "genre_pop"
    needs_item_table = True
    Config = GenrePopularityConfig

    def __init__(self, config=None, item_table: pd.DataFrame | None = None, **overrides):
        super().__init__(config, **overrides)
        self.item_table = item_table

    def _fit(self, split):
        if self.item_table is None or COL_GENRES not in self.item_table:
            raise RecutilsError("genre_pop needs the movie table with its genres: pass "
                                "item_table=recutils.datasets.movie_table(data_dir)")
        t = self.item_table.drop_duplicates(COL_ITEM).set_index(COL_ITEM)[COL_GENRES].reindex(split.items)
        lists = [g if isinstance(g, (list, tuple, np.ndarray)) else [] for g in t]
        vocab = sorted({g for gs in lists for g in gs})
        pos = {g: j for j, g in enumerate(vocab)}
        rows = [(r, pos[g]) for r, gs in enumerate(lists) for g in gs]
        G = np.zeros((split.n_items, max(len(vocab), 1)))
        if rows:
            rr, cc = np.array(rows).T
            G[rr, cc] = 1.0
        n_g = G.sum(1)
        G_mean = np.where(n_g[:, None] > 0, G / np.maximum(n_g, 1)[:, None], 1.0 / G.shape[1])
        X = sp.csr_matrix(split.train_binary)
        user_genre = np.asarray(X @ G)  # users × genres interaction counts
        glob = user_genre.sum(0)
        glob = glob / glob.sum() if glob.sum() > 0 else np.full(G.shape[1], 1.0 / G.shape[1])
        if self.config.personal:
            s = self.config.shrinkage
            prof = (user_genre + s * glob[None, :]) / (user_genre.sum(1, keepdims=True) + s + 1e-12)
        else:
            prof = np.broadcast_to(glob, (split.n_users, G.shape[1]))
        self.profile_ = np.asarray(prof)
        self.item_genres_ = G_mean

    def score(self, user_indices):
        self._check_fitted()
        return self.profile_[np.atleast_1d(user_indices)] @ self.item_genres_.T
