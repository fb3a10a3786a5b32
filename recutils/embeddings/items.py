"""Embeddings of movie texts, base or fine-tuned: what content models and hybrids consume.

:func:`compute_item_embeddings` builds the texts (:func:`recutils.datasets.text.movie_texts`),
encodes them with a cached sentence-transformer (or a Qwen3 model), optionally after
fine-tuning on pairs mined from a split's training part, and returns :class:`ItemEmbeddings`
(movie ids + L2-normalised rows).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from ..datasets.text import movie_texts, text_key

#: The study's embedding model.
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
#: Weight dtypes a Content config accepts (what :func:`recutils.embeddings.qwen.model_kwargs` knows).
DTYPES = ("float32", "float16", "bfloat16")


def normalize_rows(E: np.ndarray) -> np.ndarray:
    """L2-normalise rows (zero rows stay zero)."""
    E = np.asarray(E, dtype=np.float32)
    n = np.linalg.norm(E, axis=1, keepdims=True)
    return E / np.where(n > 0, n, 1.0)


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
                            movie_ids=None, backend: str = "torch") -> ItemEmbeddings:
    """Embed every movie's text with ``embedding_model`` (cached on disk by model + text hash).

    With ``finetune_split`` the model is first fine-tuned on positive pairs mined from that
    split's *train* part (:mod:`recutils.embeddings.finetune`, ``finetune_config`` a
    :class:`~recutils.embeddings.finetune.FinetuneConfig`) and the fine-tuned model's embeddings
    are cached under a key naming the pairs and the training settings. Qwen models are loaded
    with :func:`~recutils.embeddings.qwen.load_qwen` (``dtype``, last-token pooling).
    ``use_cache=False`` recomputes (and retrains) and overwrites the cache entry. ``movie_ids``
    restricts the embedded movies (e.g. to a split's universe in quick runs); by default every
    MovieLens movie is embedded. ``backend`` (``"torch"``, ``"onnx-int8"``, ``"onnx-fp32"``;
    :mod:`recutils.embeddings.onnx`) picks the encoder of a base model; each backend has its own
    cache entries, and fine-tuning and Qwen models run on torch only.
    """
    from ..errors import RecutilsError
    from .encode import cache_paths, cached_encode, texts_sha256
    from .onnx import check_backend, load_encoder
    from .qwen import is_qwen, load_qwen
    from .resolve import load_model

    check_backend(backend)
    if backend != "torch" and finetune_split is not None:
        raise RecutilsError(f"fine-tuned embeddings are computed with torch; backend {backend!r} serves base models only")

    texts = movie_texts(text, data_dir)
    if movie_ids is not None:
        texts = texts[texts.index.isin(np.asarray(movie_ids))]
    key = text_key(text, texts)
    info: dict = {"embedding_model": embedding_model, "text": text, "text_key": key, "n_items": len(texts)}
    if backend != "torch":  # torch runs record what they always did (notebook metrics stay comparable)
        info["backend"] = backend
    t0 = time.perf_counter()
    if finetune_split is None:
        tlist = [str(t) for t in texts]
        npy, meta = cache_paths(embedding_model, key, texts_sha256(tlist), True, cache_dir, backend)
        hit = use_cache and npy.is_file() and meta.is_file()
        model = None
        if not hit:
            for f in (npy, meta):
                f.unlink(missing_ok=True)
            if is_qwen(embedding_model):
                if backend != "torch":
                    raise RecutilsError(f"{embedding_model} runs on torch only; backend {backend!r} serves "
                                        "BERT-like sentence-transformers (all-MiniLM-L6-v2, all-mpnet-base-v2)")
                model = load_qwen(embedding_model, device=device, dtype=dtype)
            elif backend == "torch":
                model = load_model(embedding_model, device=device)
            else:
                model = load_encoder(embedding_model, backend, device=device, cache_dir=cache_dir)
        M = cached_encode(embedding_model, tlist, key, cache_dir=cache_dir, model=model, batch_size=batch_size,
                          progress=progress, backend=backend)
        info["cached"] = hit
        name = embedding_model
    else:
        from .finetune import finetuned_item_embeddings

        M, ft_info = finetuned_item_embeddings(embedding_model, texts, key, finetune_split, finetune_config,
                                               cache_dir=cache_dir, batch_size=batch_size, progress=progress,
                                               device=device, use_cache=use_cache)
        info.update(ft_info)
        name = f"{embedding_model} (fine-tuned)"
    info["embed_seconds"] = time.perf_counter() - t0
    return ItemEmbeddings(np.asarray(texts.index), normalize_rows(M), name, info)
