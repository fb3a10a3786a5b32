"""Content-based scoring from item text embeddings: the hybrid study's user profile, vectorised.

Definitions (the study's ``scripts/inference.py``, for every user at once):

- a user's **profile weights** over their train ratings are
  ``w_ui = exp(t̃_ui) · r_ui / 5`` where ``t̃_ui`` is the timestamp min-max normalised over
  the user's own train ratings (``t̃ = 1`` when all their timestamps are equal);
- the **content score** of item ``j`` is the weighted mean cosine similarity to the rated items,
  ``c_uj = Σ_i w_ui cos(e_i, e_j) / Σ_i w_ui``.

With ``W`` the sparse users × items weight matrix and ``E`` the L2-normalised item embeddings
this is ``C = (W·E)·Eᵀ / rowsum(W)``: one sparse product and one dense product, no per-user loop.

Item texts: :func:`study_movie_texts` is the study's builder (title without year, genres
space-joined, *all* the movie's tags lower-cased in file order, ``"movie"`` when empty);
:func:`movie_texts` also offers ``"study+overview"`` (study text followed by the TMDB overview)
and any :class:`~recutils.datasets.TextBuilder` field list.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..constants import COL_ITEM, COL_RATING, COL_TIMESTAMP, SEED
from ..errors import RecutilsError
from ..torch_threads import torch_threads
from .base import Recommender
from .registry import register
from .config import param

#: The study's embedding model.
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
#: Weight dtypes a Content config accepts (what :func:`recutils.embeddings.qwen.model_kwargs` knows).
DTYPES = ("float32", "float16", "bfloat16")


# --- item texts --------------------------------------------------------------------------
def study_movie_texts(movies: pd.DataFrame, tags: pd.DataFrame) -> pd.Series:
    """The hybrid study's movie text, indexed by ``movieId`` (``movies`` / ``tags`` are the raw
    MovieLens frames of :func:`~recutils.datasets.load_movies` / :func:`~recutils.datasets.load_tags`).

    ``f"{title} {genres} {tags}".strip()`` with ``title = title.rsplit("(", 1)[0].strip()``,
    ``genres = genres.replace("|", " ").replace("(no genres listed)", "")`` and ``tags`` every
    tag of the movie lower-cased and space-joined in file order (duplicates kept); ``"movie"``
    when the result is empty.
    """
    tag_text = tags.groupby(COL_ITEM, sort=False)["tag"].agg(lambda x: " ".join(x.astype(str).str.lower()))
    titles = movies["title"].astype(str).str.rsplit("(", n=1).str[0].str.strip()
    genres = movies["genres"].astype(str).str.replace("|", " ", regex=False).str.replace(
        "(no genres listed)", "", regex=False)
    tg = movies[COL_ITEM].map(tag_text).fillna("")
    text = (titles + " " + genres + " " + tg).str.strip()
    text = text.where(text != "", "movie")
    return pd.Series(text.to_numpy(), index=pd.Index(movies[COL_ITEM].to_numpy(), name=COL_ITEM), name="text")


TEXT_CHOICES = ("study", "study+overview", "<fields joined by '+' from title, genres, tags, overview>")


def valid_text_spec(text) -> bool:
    """Whether :func:`movie_texts` accepts ``text`` (checked without loading any data)."""
    from ..datasets.text import FIELDS

    if not isinstance(text, str):
        return False
    fields = [f for f in text.split("+") if f]
    return text in ("study", "study+overview") or (bool(fields) and all(f in FIELDS for f in fields))


def movie_texts(text: str = "study", data_dir=None) -> pd.Series:
    """Item texts indexed by ``movieId`` for every MovieLens movie.

    ``text``: ``"study"`` (:func:`study_movie_texts`), ``"study+overview"`` (the study text, then
    the TMDB overview where there is one) or ``TextBuilder`` fields joined by ``+`` (e.g.
    ``"title+genres+tags+overview"``, labelled style).
    """
    from ..datasets import TextBuilder, load_movies, load_tags, movie_table

    if text in ("study", "study+overview"):
        s = study_movie_texts(load_movies(data_dir), load_tags(data_dir))
        if text == "study+overview":
            ov = movie_table(data_dir).set_index(COL_ITEM)["overview"].reindex(s.index).fillna("")
            s = (s + " " + ov.astype(str)).str.strip()
        return s
    fields = tuple(f for f in text.split("+") if f)
    try:
        builder = TextBuilder(fields=fields, style="labelled")
    except ValueError as exc:
        raise RecutilsError(f"invalid text spec {text!r}: {exc}; choose one of {TEXT_CHOICES}") from None
    mt = movie_table(data_dir)
    return pd.Series(builder.build(mt), index=pd.Index(mt[COL_ITEM].to_numpy(), name=COL_ITEM), name="text")


def text_key(text: str, texts: pd.Series) -> str:
    """A cache key naming the text spec and a hash of the exact texts and their movie ids."""
    h = hashlib.sha256()
    h.update(np.asarray(texts.index, dtype=np.int64).tobytes())
    for t in texts:
        h.update(t.encode())
        h.update(b"\0")
    return f"{text.replace('+', '-')}-{h.hexdigest()[:10]}"


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


def normalize_rows(E: np.ndarray) -> np.ndarray:
    """L2-normalise rows (zero rows stay zero)."""
    E = np.asarray(E, dtype=np.float32)
    n = np.linalg.norm(E, axis=1, keepdims=True)
    return E / np.where(n > 0, n, 1.0)


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


# --- item embeddings (base or fine-tuned) ------------------------------------------------
@dataclass
class ItemEmbeddings:
    """Embeddings of movies: ``matrix[k]`` belongs to ``movie_ids[k]`` (rows L2-normalised)."""

    movie_ids: np.ndarray
    matrix: np.ndarray
    name: str = ""
    info: dict = dataclasses.field(default_factory=dict)


def compute_item_embeddings(embedding_model: str = DEFAULT_EMBEDDING_MODEL, text: str = "study",
                            finetune_split=None, finetune_config=None, data_dir=None, cache_dir=None,
                            batch_size: int = 64, progress: bool = False, device: str = "cpu",
                            dtype: str = "float32", use_cache: bool = True,
                            movie_ids=None) -> ItemEmbeddings:
    """Embed every movie's text with ``embedding_model`` (cached on disk by model + text hash).

    With ``finetune_split`` the model is first fine-tuned on positive pairs mined from that
    split's *train* part (:mod:`recutils.embeddings.finetune`, ``finetune_config`` a
    :class:`~recutils.embeddings.finetune.FinetuneConfig`) and the fine-tuned model's embeddings
    are cached under a key naming the pairs and the training settings. Qwen models are loaded
    with :func:`~recutils.embeddings.qwen.load_qwen` (``dtype``, last-token pooling).
    ``use_cache=False`` recomputes (and retrains) and overwrites the cache entry. ``movie_ids``
    restricts the embedded movies (e.g. to a split's universe in quick runs); by default every
    MovieLens movie is embedded.
    """
    from ..embeddings import cache_paths, cached_encode, load_model, texts_sha256
    from ..embeddings.qwen import is_qwen, load_qwen

    texts = movie_texts(text, data_dir)
    if movie_ids is not None:
        texts = texts[texts.index.isin(np.asarray(movie_ids))]
    key = text_key(text, texts)
    info: dict = {"embedding_model": embedding_model, "text": text, "text_key": key, "n_items": len(texts)}
    t0 = time.perf_counter()
    if finetune_split is None:
        tlist = [str(t) for t in texts]
        npy, meta = cache_paths(embedding_model, key, texts_sha256(tlist), True, cache_dir)
        hit = use_cache and npy.is_file() and meta.is_file()
        model = None
        if not hit:
            for f in (npy, meta):
                f.unlink(missing_ok=True)
            model = (load_qwen(embedding_model, device=device, dtype=dtype) if is_qwen(embedding_model)
                     else load_model(embedding_model, device=device))
        M = cached_encode(embedding_model, tlist, key, cache_dir=cache_dir, model=model, batch_size=batch_size,
                          progress=progress)
        info["cached"] = hit
        name = embedding_model
    else:
        from ..embeddings.finetune import finetuned_item_embeddings

        M, ft_info = finetuned_item_embeddings(embedding_model, texts, key, finetune_split, finetune_config,
                                               cache_dir=cache_dir, batch_size=batch_size, progress=progress,
                                               device=device, use_cache=use_cache)
        info.update(ft_info)
        name = f"{embedding_model} (fine-tuned)"
    info["embed_seconds"] = time.perf_counter() - t0
    return ItemEmbeddings(np.asarray(texts.index), normalize_rows(M), name, info)


# --- the content recommender --------------------------------------------------------------
@dataclass
class ContentConfig:
    """Which embedding of which text, and how the user profile is weighted."""

    embedding_model: str = param(DEFAULT_EMBEDDING_MODEL, check=lambda v: bool(v.strip()),
                                 expect="a model name")  #: a name :func:`recutils.embeddings.resolve_model` knows
    #: "study", "study+overview" or TextBuilder fields joined by "+"
    text: str = param("study", check=valid_text_spec,
                      expect="'study', 'study+overview' or fields from title, genres, tags, overview joined by '+'")
    finetune: bool = False  #: fine-tune on positive pairs mined from the train part first
    ft_epochs: int = param(2, ge=1)
    ft_pairs_per_user: int = param(10, ge=1)
    ft_max_pairs: int = param(10_000, ge=1)
    ft_batch_size: int = param(16, ge=1)
    ft_learning_rate: float = param(2e-5, gt=0)
    ft_lora: bool = False  #: LoRA adapters (r=16, α=32, q/v projections) instead of full fine-tuning
    ft_load_in_4bit: bool = False  #: bitsandbytes NF4 base weights (with ft_lora; QLoRA)
    recency: bool = True  #: exp(min-max timestamp) profile weights (the study); False = rating/5 only
    batch_size: int = param(64, ge=1)  #: encoding batch size
    device: str = param("cpu", check=lambda v: bool(v.strip()), expect="a torch device name (cpu, cuda, cuda:0, mps)")
    #: weights dtype for Qwen models (float16 on a GPU, as in the study)
    dtype: str = param("float32", choices=DTYPES)
    num_threads: int = param(0, ge=0)  #: torch threads while encoding / fine-tuning (0: torch's default)
    seed: int = param(SEED, ge=0)


def finetune_config_from(c) -> "object":
    """The :class:`~recutils.embeddings.finetune.FinetuneConfig` named by a Content/Hybrid config."""
    from ..embeddings.finetune import FinetuneConfig

    return FinetuneConfig(epochs=c.ft_epochs, pairs_per_user=c.ft_pairs_per_user, max_pairs=c.ft_max_pairs,
                          batch_size=c.ft_batch_size, learning_rate=c.ft_learning_rate, lora=c.ft_lora,
                          load_in_4bit=c.ft_load_in_4bit, dtype=c.dtype, seed=c.seed)


@register
class Content(Recommender):
    """Pure content recommender: the study's weighted-mean-cosine profile score.

    Pass ``embeddings=ItemEmbeddings(...)`` to reuse precomputed embeddings; otherwise ``fit``
    computes (or loads from cache) the configured model's embeddings, fine-tuning it on the
    split's train pairs first when ``finetune`` is set. Any item with an embedding can be scored,
    cold items included.
    """

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
        ft_split = split if c.finetune else None
        ft_cfg = finetune_config_from(c) if c.finetune else None
        with torch_threads(c.num_threads):
            self.embeddings = compute_item_embeddings(c.embedding_model, c.text, ft_split, ft_cfg,
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
