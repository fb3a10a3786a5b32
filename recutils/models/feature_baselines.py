"""Baselines that need no training ratings for an item: metadata popularity and random.

For cold items (no training interactions) MostPop has nothing to count, so "popularity among
cold items" must come from outside the ratings: :class:`MetadataPopularity` ranks by a movie
table column (TMDB ``vote_count`` or ``popularity``). :class:`RandomScores` is the floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..constants import COL_ITEM, SEED
from ..errors import RecutilsError
from .base import Recommender
from .registry import register
from ..config import param


@dataclass
class MetadataPopularityConfig:
    column: str = param("vote_count", check=lambda v: bool(v.strip()), expect="a column name")  #: movie-table column to rank by (TMDB vote_count / popularity)


@register
class MetadataPopularity(Recommender):
    """Same list for everyone: items by ``item_table[column]`` (descending); items with no value
    (no TMDB metadata) come last (score −1, values are log1p-transformed and ≥ 0)."""

    name = "metadata_pop"
    needs_item_table = True
    Config = MetadataPopularityConfig

    def __init__(self, config=None, item_table: pd.DataFrame | None = None, **overrides):
        super().__init__(config, **overrides)
        self.item_table = item_table

    def _fit(self, split):
        table = self.item_table
        if table is None:
            raise RecutilsError("metadata_pop ranks by a movie-table column: pass "
                                "item_table=recutils.datasets.movie_table(data_dir) (the CLIs and create() do)")
        col = self.config.column
        if col not in table:
            raise RecutilsError(f"metadata_pop: the item table has no column {col!r}")
        v = pd.to_numeric(table.drop_duplicates(COL_ITEM).set_index(COL_ITEM)[col], errors="coerce")
        v = v.reindex(split.items).to_numpy(np.float64)
        self.popularity_ = np.where(np.isfinite(v), np.log1p(np.maximum(v, 0)), -1.0)

    def score(self, user_indices):
        self._check_fitted()
        return np.broadcast_to(self.popularity_, (len(np.atleast_1d(user_indices)), len(self.popularity_)))


@dataclass
class RandomScoresConfig:
    seed: int = param(SEED, ge=0)


@register
class RandomScores(Recommender):
    """Uniform random scores, a fixed draw per (user, item) for a given seed."""

    name = "random"
    Config = RandomScoresConfig

    def _fit(self, split):
        self.scores_ = np.random.default_rng(self.config.seed).random((split.n_users, split.n_items))

    def score(self, user_indices):
        self._check_fitted()
        return self.scores_[np.atleast_1d(user_indices)]
