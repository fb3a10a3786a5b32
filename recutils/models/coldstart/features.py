"""Content vectors of movies for cold-start models: metadata and/or a text embedding.

:func:`content_matrix` stacks, per movie of a split's universe,

- **metadata** (``metadata=True``): the torch_cf side features
  (:func:`recutils.models.torch_cf.build_item_features`: TMDB ``vote_average``,
  ``log1p(vote_count)``, ``log1p(popularity)``, missing-value indicators — unless
  ``tmdb_numbers=False`` — and the genre multi-hot);
- **text** (``embeddings`` given): the movie's text embedding (a zero row and
  ``missing_text = 1`` for a movie without one), multiplied by ``text_weight`` after scaling;

then standardises every column with the mean / standard deviation of the **warm** items
(``train_items``) only, so nothing about a cold item's ratings — or even its presence —
shapes the scaling. Plain numpy; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import RecutilsError
from ..torch_cf.features import build_item_features, item_text_matrix

__all__ = ["ContentMatrix", "content_matrix"]


@dataclass
class ContentMatrix:
    """Standardised content vectors, rows aligned with the split's items."""

    matrix: np.ndarray  #: (n_items, n_features) float64
    names: list[str]  #: column names (text columns: ``text_0`` …)
    n_text: int  #: how many columns come from the text embedding
    text_coverage: float  #: share of items with a text embedding (1.0 without text)


def content_matrix(items: np.ndarray, train_items: np.ndarray, item_table=None, embeddings=None,
                   metadata: bool = True, text_weight: float = 1.0, tmdb_numbers: bool = True) -> ContentMatrix:
    """Content vectors for ``items`` (raw movie ids, index order); ``train_items``: boolean mask
    of the warm items (with training ratings), the only rows the scaler statistics come from.

    ``item_table`` (needed with ``metadata``): the movie table of
    :func:`recutils.datasets.movie_table`. ``embeddings``: anything with ``movie_ids`` and
    ``matrix`` (:class:`recutils.embeddings.ItemEmbeddings`), or ``None`` for no text.
    ``tmdb_numbers=False`` keeps only the genres of the metadata (a new release has no TMDB vote
    count yet, and TMDB's numbers come from a later snapshot than the ratings).
    """
    items = np.asarray(items)
    train_items = np.asarray(train_items, bool)
    if train_items.shape != items.shape:
        raise RecutilsError(f"train_items mask has shape {train_items.shape}, items {items.shape}")
    if not train_items.any():
        raise RecutilsError("content_matrix: no warm item to fit the scaling on")
    if not metadata and embeddings is None:
        raise RecutilsError("content_matrix: neither metadata nor text embeddings: nothing to describe a movie with")
    blocks, names, n_text, coverage = [], [], 0, 1.0
    if metadata:
        if item_table is None:
            raise RecutilsError("content_matrix: metadata features need the movie table (item_table)")
        f = build_item_features(item_table, items, train_items)
        if tmdb_numbers:
            blocks.append(f.numeric.astype(np.float64))
            names += list(f.numeric_names)
        blocks.append(f.genres.astype(np.float64))
        names += [f"genre_{g}" for g in f.genre_names]
    text_cols = None
    if embeddings is not None:
        T = item_text_matrix(embeddings, items).astype(np.float64)
        has = np.abs(T).sum(1) > 0
        coverage = float(has.mean()) if len(has) else 1.0
        text_cols = slice(sum(b.shape[1] for b in blocks), sum(b.shape[1] for b in blocks) + T.shape[1])
        blocks += [T, (~has).astype(np.float64)[:, None]]
        n_text = T.shape[1]
        names += [*(f"text_{j}" for j in range(n_text)), "missing_text"]
    X = np.hstack(blocks)
    mean = X[train_items].mean(0)
    std = X[train_items].std(0)
    std[~(std > 1e-12)] = 1.0
    Z = (X - mean) / std
    if text_cols is not None:
        Z[:, text_cols] *= float(text_weight)
    return ContentMatrix(Z, names, n_text, coverage)
