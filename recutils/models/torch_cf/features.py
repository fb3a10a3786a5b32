"""Item-side inputs of the torch_cf network: TMDB numeric features and genre multi-hots.

- numeric: TMDB ``vote_average``, ``log1p(vote_count)``, ``log1p(popularity)`` standardised
  with statistics of the *training* items only, missing values imputed with that mean (0
  after scaling) and flagged by explicit indicators (``missing_tmdb``, ``missing_votes``);
- genres: MovieLens genre multi-hot (vocabulary = genres of training items, plus a
  ``no_genre`` indicator).

Plain numpy / pandas; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...constants import COL_GENRES, COL_ITEM
from ...errors import RecutilsError

__all__ = ["MISSING_FEATURES", "NUMERIC_FEATURES", "ItemFeatures", "build_item_features", "item_text_matrix"]

NUMERIC_FEATURES = ("vote_average", "log_vote_count", "log_popularity")
MISSING_FEATURES = ("missing_tmdb", "missing_votes")


@dataclass
class ItemFeatures:
    """Per-item model inputs for one item universe (rows aligned with ``split.items``)."""

    numeric: np.ndarray  #: (n_items, 3 + 2) scaled numeric features then missing indicators
    genres: np.ndarray  #: (n_items, n_genres + 1) multi-hot, last column = no known genre
    numeric_names: list[str]
    genre_names: list[str]
    mean: np.ndarray  #: scaler means of the 3 numeric features (training items)
    std: np.ndarray  #: scaler standard deviations (training items)


def _raw_numeric(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unscaled numeric features (NaN = missing) and the two missing indicators."""
    has = table["has_tmdb"].fillna(False).astype(bool).to_numpy() if "has_tmdb" in table else None
    cols = {c: pd.to_numeric(table[c], errors="coerce").to_numpy(np.float64) if c in table else
            np.full(len(table), np.nan) for c in ("vote_average", "vote_count", "popularity")}
    if has is None:
        has = ~np.isnan(cols["vote_count"])
    va, vc, pop = cols["vote_average"].copy(), cols["vote_count"].copy(), cols["popularity"].copy()
    va[~has], vc[~has], pop[~has] = np.nan, np.nan, np.nan
    no_votes = ~(vc > 0)  # NaN or 0 votes: TMDB's vote_average is then meaningless (0)
    va[no_votes] = np.nan
    with np.errstate(invalid="ignore"):
        X = np.column_stack([va, np.log1p(np.maximum(vc, 0)), np.log1p(np.maximum(pop, 0))])
    return X, ~has, no_votes


def build_item_features(item_table: pd.DataFrame, items: np.ndarray, train_items: np.ndarray) -> ItemFeatures:
    """Model inputs for ``items`` (raw movie ids, in index order).

    ``item_table``: one row per movie with ``movieId``, ``genres`` (list) and optionally
    ``has_tmdb``, ``vote_average``, ``vote_count``, ``popularity`` (as in
    :func:`recutils.datasets.movie_table`); movies absent from it count as missing everything.
    ``train_items``: boolean mask over ``items`` of the items with training ratings; the
    scaler statistics and the genre vocabulary come from those items only.
    """
    items = np.asarray(items)
    train_items = np.asarray(train_items, bool)
    if train_items.shape != items.shape:
        raise RecutilsError(f"train_items mask has shape {train_items.shape}, items {items.shape}")
    if COL_ITEM not in item_table:
        raise RecutilsError(f"item table needs a {COL_ITEM!r} column")
    t = item_table.drop_duplicates(COL_ITEM).set_index(COL_ITEM).reindex(items)
    X, missing_tmdb, missing_votes = _raw_numeric(t)
    fit_rows = X[train_items]
    mean = np.array([np.nanmean(c) if np.isfinite(c).any() else 0.0 for c in fit_rows.T])
    std = np.array([np.nanstd(c) if np.isfinite(c).sum() > 1 else 1.0 for c in fit_rows.T])
    std[~(std > 1e-12)] = 1.0
    Z = (X - mean) / std
    Z[np.isnan(Z)] = 0.0  # imputed with the training mean; flagged by the indicators
    numeric = np.column_stack([Z, missing_tmdb, missing_votes]).astype(np.float32)

    genre_lists = t[COL_GENRES] if COL_GENRES in t else pd.Series([[]] * len(t))
    genre_lists = [g if isinstance(g, (list, tuple, np.ndarray)) else [] for g in genre_lists]
    vocab = sorted({g for g, keep in zip(genre_lists, train_items) if keep for g in g})
    pos = {g: j for j, g in enumerate(vocab)}
    G = np.zeros((len(items), len(vocab) + 1), np.float32)
    rows = [(r, pos[g]) for r, gs in enumerate(genre_lists) for g in gs if g in pos]
    if rows:
        rr, cc = np.array(rows).T
        G[rr, cc] = 1.0
    G[:, -1] = G[:, :-1].sum(1) == 0
    return ItemFeatures(numeric, G, [*NUMERIC_FEATURES, *MISSING_FEATURES], [*vocab, "no_genre"], mean, std)


def item_text_matrix(item_text, items: np.ndarray) -> np.ndarray:
    """Rows of ``item_text`` (anything with ``movie_ids`` and ``matrix``, e.g.
    :class:`recutils.embeddings.ItemEmbeddings`) aligned with ``items`` (raw movie ids, in index
    order); a movie without an embedding gets a zero row. float32 ``(len(items), dim)``.

    The embeddings are fixed inputs computed from movie texts (no ratings), so cold movies get
    theirs like any other; a fine-tuned encoder must have been trained on training pairs only.
    """
    ids = np.asarray(getattr(item_text, "movie_ids", None))
    M = np.asarray(getattr(item_text, "matrix", None), dtype=np.float32)
    if ids.ndim != 1 or M.ndim != 2 or len(ids) != len(M):
        raise RecutilsError("item_text needs movie_ids (n,) and matrix (n, dim) of the same length")
    pos = pd.Index(ids).get_indexer(np.asarray(items))
    out = np.zeros((len(items), M.shape[1]), np.float32)
    found = pos >= 0
    out[found] = M[pos[found]]
    return out
