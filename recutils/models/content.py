"""Content-based scoring from item text embeddings: the hybrid study's user profile, vectorised.

Definitions (the study's ``scripts/inference.py``, for every user at once):

- a user's **profile weights** over their train ratings are
  ``w_ui = exp(t̃_ui) · r_ui / 5`` where ``t̃_ui`` is the timestamp min-max normalised over
  the user's own train ratings (``t̃ = 1`` when all their timestamps are equal);
- the **content score** of item ``j`` is the weighted mean cosine similarity to the rated items,
  ``c_uj = Σ_i w_ui cos(e_i, e_j) / Σ_i w_ui``.

With ``W`` the sparse users × items weight matrix and ``E`` the L2-normalised item embeddings
this is ``C = (W·E)·Eᵀ / rowsum(W)``: one sparse product and one dense product, no per-user loop.

Item texts come from :mod:`recutils.datasets.text` (``"study"``: the study's exact builder),
embeddings from :mod:`recutils.embeddings.items`; this module holds the profile maths and the
recommender.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..constants import COL_RATING, COL_TIMESTAMP
from ..datasets.text import valid_text_spec
from ..embeddings.finetune import FinetuneConfig
from ..embeddings.items import DEFAULT_EMBEDDING_MODEL, DTYPES, ItemEmbeddings, compute_item_embeddings, normalize_rows
from ..torch_threads import torch_threads, valid_threads
from .base import Recommender
from .registry import register
from ..config import param



# --- profile and content scores ----------------------------------------------------------
def profile_weights(split, recency: bool = True, rating_scale: float = 5.0) -> sp.csr_matrix:
    """Users × items CSR of the study's profile weights ``exp(t̃_ui) · r_ui / rating_scale``
    over ``split.train`` (``recency=False`` drops the ``exp(t̃)`` factor)."""
    tr = split.train
    r = tr[COL_RATING].to_numpy(np.float64) / rating_scale
    if recency:
        ts = tr[COL_TIMESTAMP].to_numpy(np.float64)
        g = tr.groupby("uidx", sort=False)[COL_TIMESTAMP]
        lo = g.transform("min").to_numpy(np.float64)
        hi = g.transform("max").to_numpy(np.float64)
        span = hi - lo
        norm = np.divide(ts - lo, span, out=np.ones_like(ts), where=span > 0)
        w = np.exp(norm) * r
    else:
        w = r
    W = sp.csr_matrix((w, (tr["uidx"].to_numpy(), tr["iidx"].to_numpy())), shape=(split.n_users, split.n_items))
    W.sum_duplicates()
    return W


def content_scores(W: sp.csr_matrix, E: np.ndarray, users=None, profile: np.ndarray | None = None) -> np.ndarray:
    """``C[u, j] = Σ_i W_ui cos(e_i, e_j) / Σ_i W_ui`` for the given users (all when None).

    ``E`` must be L2-normalised (rows = items, aligned with ``W``'s columns). Users with no
    weight get ``-inf`` rows. ``profile`` may pass a precomputed ``(W·E) / rowsum(W)``.
    """
    users = np.arange(W.shape[0]) if users is None else np.atleast_1d(np.asarray(users, dtype=np.int64))
    P = user_profiles(W, E)[users] if profile is None else profile[users]
    C = P @ np.asarray(E, dtype=np.float32).T
    empty = np.asarray(W[users].sum(1)).ravel() <= 0
    C = C.astype(np.float64)
    C[empty] = -np.inf
    return C


def user_profiles(W: sp.csr_matrix, E: np.ndarray) -> np.ndarray:
    """``(W·E) / rowsum(W)``: each user's weighted mean item embedding (zero rows without weight)."""
    s = np.asarray(W.sum(1)).ravel()
    P = np.asarray(W @ np.asarray(E, dtype=np.float64))
    return (P / np.where(s > 0, s, 1.0)[:, None]).astype(np.float32)


def align_embeddings(movie_ids: np.ndarray, E: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``E`` (one per ``movie_ids``) reordered to ``items``; missing items get zero rows.
    Returns ``(E_items, has_embedding_mask)``."""
    pos = pd.Index(np.asarray(movie_ids)).get_indexer(np.asarray(items))
    out = np.zeros((len(items), E.shape[1]), dtype=np.float32)
    ok = pos >= 0
    out[ok] = E[pos[ok]]
    return out, ok


# --- the content recommender --------------------------------------------------------------
@dataclass
class ContentConfig:
    """Which embedding of which text, and how the user profile is weighted."""

    embedding_model: str = param(DEFAULT_EMBEDDING_MODEL, check=lambda v: bool(v.strip()),
                                 expect="a model name")  #: a name :func:`recutils.embeddings.resolve_model` knows
    #: "study", "study+overview" or TextBuilder fields joined by "+"
    text: str = param("study", check=valid_text_spec,
                      expect="'study', 'study+overview' or fields from title, genres, tags, overview joined by '+'")
    #: fine-tune on pairs mined from the train part first (None: use the model as it is)
    finetune: FinetuneConfig | None = None
    recency: bool = True  #: exp(min-max timestamp) profile weights (the study); False = rating/5 only
    batch_size: int = param(64, ge=1)  #: encoding batch size
    device: str = param("cpu", check=lambda v: bool(v.strip()), expect="a torch device name (cpu, cuda, cuda:0, mps)")
    #: weights dtype for Qwen models (float16 on a GPU, as in the study)
    dtype: str = param("float32", choices=DTYPES)
    #: torch threads while encoding / fine-tuning (0: torch's default; "auto": the free cores,
    #: re-checked while fine-tuning — recutils.torch_threads)
    num_threads: int | Literal["auto"] = param(0, check=lambda v: valid_threads(v, allow_zero=True),
                                               expect="a whole number ≥ 0 (0: torch's default) or 'auto'")


@register
class Content(Recommender):
    """Pure content recommender: the study's weighted-mean-cosine profile score.

    Pass ``embeddings=ItemEmbeddings(...)`` to reuse precomputed embeddings; otherwise ``fit``
    computes (or loads from cache) the configured model's embeddings, fine-tuning it on the
    split's train pairs first when ``finetune`` holds a
    :class:`~recutils.embeddings.finetune.FinetuneConfig`. Any item with an embedding can be scored,
    cold items included.
    """

    determinism = "kernel"  # ranks with text embeddings (recutils.embeddings.DETERMINISM)
    name = "content"
    Config = ContentConfig

    def __init__(self, config=None, embeddings: ItemEmbeddings | None = None, data_dir=None,
                 progress: bool = False, **overrides):
        super().__init__(config, **overrides)
        self.embeddings = embeddings
        self.data_dir = data_dir
        self.progress = progress

    def _embeddings_for(self, split) -> ItemEmbeddings:
        if self.embeddings is not None:
            return self.embeddings
        c = self.config
        ft_split = split if c.finetune is not None else None
        with torch_threads(c.num_threads):
            self.embeddings = compute_item_embeddings(c.embedding_model, c.text, ft_split, c.finetune,
                                                      data_dir=self.data_dir, batch_size=c.batch_size,
                                                      progress=self.progress, device=c.device, dtype=c.dtype)
        return self.embeddings

    def _fit(self, split):
        emb = self._embeddings_for(split)
        E, ok = align_embeddings(emb.movie_ids, emb.matrix, split.items)
        self.E_ = normalize_rows(E)
        self.has_embedding_ = ok
        self.W_ = profile_weights(split, recency=self.config.recency)
        self.profile_ = user_profiles(self.W_, self.E_)

    def score(self, user_indices):
        self._check_fitted()
        C = content_scores(self.W_, self.E_, user_indices, profile=self.profile_)
        C[:, ~self.has_embedding_] = -np.inf
        return C
