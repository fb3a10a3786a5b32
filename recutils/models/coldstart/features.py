"""Content vectors of movies for cold-start models: metadata and/or a text embedding.

:func:`content_matrix` stacks, per movie of a split's universe,

- **metadata** (``metadata=True``): the torch_cf side features
  (:func:`recutils.models.torch_cf.build_item_features`: TMDB ``vote_average``,
  ``log1p(vote_count)``, ``log1p(popularity)``, missing-value indicators — unless
  ``tmdb_numbers=False`` — and the genre multi-hot);
- **text** (``embeddings`` given): the movie's text embedding (a zero row and
  ``missing_text = 1`` for a movie without one), multiplied by ``text_weight`` after scaling;
  with ``text_dim`` > 0 the text block is replaced by its first ``text_dim`` principal
  components (fitted on the warm items' rows only; each component scaled to unit variance on
  them) before ``text_weight`` applies;
- **release day** (``release_day=True``): the genres plus what exists before a movie's release —
  its year (MovieLens title, else TMDB ``release_year``) and ``log1p(runtime)`` with missing
  indicators — and none of TMDB's vote count, vote average or popularity;

then standardises every column with the mean / standard deviation of the **warm** items
(``train_items``) only, so nothing about a cold item's ratings — or even its presence —
shapes the scaling. Plain numpy; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...errors import RecutilsError
from ..torch_cf.features import build_item_features, item_text_matrix

__all__ = ["ContentMatrix", "content_matrix", "release_features"]


@dataclass
class ContentMatrix:
    """Standardised content vectors, rows aligned with the split's items."""

    matrix: np.ndarray  #: (n_items, n_features) float64
    names: list[str]  #: column names (text columns: ``text_0`` …)
    n_text: int  #: how many columns come from the text embedding
    text_coverage: float  #: share of items with a text embedding (1.0 without text)


def content_matrix(items: np.ndarray, train_items: np.ndarray, item_table=None, embeddings=None,
                   metadata: bool = True, text_weight: float = 1.0, tmdb_numbers: bool = True,
                   release_day: bool = False, text_dim: int = 0) -> ContentMatrix:
    """Content vectors for ``items`` (raw movie ids, index order); ``train_items``: boolean mask
    of the warm items (with training ratings), the only rows the scaler statistics come from.

    ``item_table`` (needed with ``metadata``): the movie table of
    :func:`recutils.datasets.movie_table`. ``embeddings``: anything with ``movie_ids`` and
    ``matrix`` (:class:`recutils.embeddings.ItemEmbeddings`), or ``None`` for no text.
    ``tmdb_numbers=False`` keeps only the genres of the metadata (a new release has no TMDB vote
    count yet, and TMDB's numbers come from a later snapshot than the ratings);
    ``release_day=True`` keeps the genres and adds year and runtime (no TMDB vote numbers,
    whatever ``tmdb_numbers`` says). ``text_dim`` > 0: the text block reduced to that many
    principal components of the warm items' text rows.
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
        if release_day:
            R, r_names = release_features(item_table, items, train_items)
            blocks.append(R)
            names += r_names
        elif tmdb_numbers:
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
    flat = ~(std > 1e-12)  # constant on the warm items, up to rounding
    std[flat] = 1.0
    Z = (X - mean) / std
    if text_cols is not None and text_dim:
        Z, names, n_text = _reduce_text(Z, names, text_cols, train_items, int(text_dim))
        flat = np.concatenate([flat[:text_cols.start], np.zeros(n_text, bool), flat[text_cols.stop:]])
        text_cols = slice(text_cols.start, text_cols.start + n_text)
    # what such a column keeps within 1e-12 of its constant is rounding, or (MiniLM's two dead
    # dimensions) values of ~1e-32: exactly 0 instead. Those values times a gradient are denormal
    # floats, each a slow path in the CPU: the cold-start MLP's epochs took ~30 % longer. A value
    # that does differ (a cold movie's genre no warm movie has) is kept. (After the PCA, which
    # still sees them as they were: the same components to the bit.)
    residue = Z[:, flat]
    residue[np.abs(residue) <= 1e-12] = 0.0
    Z[:, flat] = residue
    if text_cols is not None:
        Z[:, text_cols] *= float(text_weight)
    return ContentMatrix(Z, names, n_text, coverage)


def _reduce_text(Z: np.ndarray, names: list[str], cols: slice, train_items: np.ndarray, dim: int):
    """The text columns ``cols`` of ``Z`` replaced by their first ``dim`` principal components,
    fitted on the warm rows only and scaled to unit variance there (``missing_text`` is kept)."""
    T = Z[:, cols]
    W = T[train_items]
    mu = W.mean(0)
    _, s, vt = np.linalg.svd(W - mu, full_matrices=False)
    dim = min(dim, len(s))
    P = (T - mu) @ vt[:dim].T
    sd = P[train_items].std(0)
    sd[~(sd > 1e-12)] = 1.0
    P = P / sd
    out = np.hstack([Z[:, :cols.start], P, Z[:, cols.stop:]])
    return out, [*names[:cols.start], *(f"text_pc_{j}" for j in range(dim)), *names[cols.stop:]], dim


def release_features(item_table, items: np.ndarray, train_items: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Unscaled ``year``, ``log1p(runtime)`` and their missing indicators for ``items`` — what a
    movie has on its release day; a missing value is imputed with the warm items' mean
    (``train_items``), and the caller standardises with warm items too."""
    t = item_table.drop_duplicates("movieId").set_index("movieId").reindex(np.asarray(items))
    year = pd.to_numeric(t["year"], errors="coerce") if "year" in t else pd.Series(np.nan, index=t.index)
    if "release_year" in t:
        year = year.fillna(pd.to_numeric(t["release_year"], errors="coerce"))
    runtime = pd.to_numeric(t["runtime"], errors="coerce") if "runtime" in t else pd.Series(np.nan, index=t.index)
    runtime = runtime.where(runtime > 0)
    y, r = year.to_numpy(np.float64), np.log1p(runtime.to_numpy(np.float64))
    no_y, no_r = np.isnan(y), np.isnan(r)
    warm = np.asarray(train_items, bool)
    y = np.where(no_y, np.nanmean(y[warm]) if (~no_y & warm).any() else 0.0, y)
    r = np.where(no_r, np.nanmean(r[warm]) if (~no_r & warm).any() else 0.0, r)
    return np.column_stack([y, r, no_y, no_r]).astype(np.float64), ["year", "log_runtime", "missing_year", "missing_runtime"]
