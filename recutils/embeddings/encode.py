"""Encoding texts with a sentence-transformer, and a disk cache of the embeddings.

:func:`cached_encode` keys each cache entry by (model name, text-builder key, SHA-256 of
the texts, normalisation): an ``.npy`` file plus a small JSON sidecar, both written
atomically. A cache hit reads the array and never loads the model.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import RecutilsError
from ..io import load_npy, read_json, save_npy, write_json
from .resolve import cache_root, canonical_name, load_model


def encode(model, texts: Sequence[str], batch_size: int = 64, normalize: bool = True, progress: bool = False) -> np.ndarray:
    """Embed ``texts`` with ``model`` → float32 array ``(len(texts), dim)`` (L2-normalised if asked)."""
    if isinstance(texts, str):
        raise RecutilsError("encode() takes a list of texts, not a single string; wrap it in a list")
    texts = [str(t) for t in texts]
    if not texts:
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = get_dim()
        return np.zeros((0, int(dim or 0)), dtype=np.float32)
    emb = model.encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=normalize,
        show_progress_bar=progress,
        convert_to_numpy=True,
    )
    return np.ascontiguousarray(np.asarray(emb, dtype=np.float32).reshape(len(texts), -1))


def texts_sha256(texts: Sequence[str]) -> str:
    """SHA-256 of a list of texts (length-prefixed, so boundaries count)."""
    h = hashlib.sha256()
    for t in texts:
        b = str(t).encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _slug(s: str, n: int = 60) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_")[:n] or "x"


def cache_paths(model_name: str, key: str, text_hash: str, normalize: bool = True, cache_dir=None) -> tuple[Path, Path]:
    """The ``(.npy, .json)`` paths of one cache entry under ``<cache>/embeddings``."""
    model = canonical_name(model_name)
    ident = hashlib.sha256(f"{model}\0{key}\0{text_hash}\0{bool(normalize)}".encode()).hexdigest()[:16]
    stem = f"{_slug(model.rsplit('/', 1)[-1])}__{_slug(key)}__{'norm' if normalize else 'raw'}__{ident}"
    root = cache_root(cache_dir) / "embeddings"
    return root / f"{stem}.npy", root / f"{stem}.json"


def cached_encode(
    model_name: str,
    texts: Sequence[str],
    key: str,
    cache_dir=None,
    model=None,
    batch_size: int = 64,
    normalize: bool = True,
    progress: bool = False,
) -> np.ndarray:
    """:func:`encode` with a disk cache keyed by (model name, ``key``, SHA-256 of ``texts``).

    ``key`` names how the texts were built (e.g. ``TextBuilder.key``). ``model`` is an
    already loaded model to use on a miss (else :func:`load_model` loads ``model_name``);
    a hit loads nothing. Returns float32 ``(len(texts), dim)``.

    The entry is identified by the model *name*, not its weights: when the weights behind a
    name or local path change (e.g. a fine-tuned model saved again to the same folder), put
    something that identifies them (a config hash, an epoch) into ``key``.
    """
    if isinstance(texts, str):
        raise RecutilsError("cached_encode() takes a list of texts, not a single string")
    texts = [str(t) for t in texts]
    text_hash = texts_sha256(texts)
    npy, meta_path = cache_paths(model_name, key, text_hash, normalize, cache_dir)
    if npy.is_file() and meta_path.is_file():
        try:
            meta = read_json(meta_path)
            arr = load_npy(npy)
            if meta.get("text_sha256") == text_hash and arr.shape[0] == len(texts) == meta.get("n"):
                return arr.astype(np.float32, copy=False)
        except (OSError, ValueError):
            pass  # unreadable entry: recompute and overwrite
    if model is None:
        model = load_model(model_name)
    t0 = time.perf_counter()
    emb = encode(model, texts, batch_size=batch_size, normalize=normalize, progress=progress)
    seconds = time.perf_counter() - t0
    save_npy(npy, emb)
    write_json(
        meta_path,
        {
            "model": canonical_name(model_name),
            "key": key,
            "n": int(emb.shape[0]),
            "dim": int(emb.shape[1]),
            "normalize": bool(normalize),
            "text_sha256": text_hash,
            "encode_seconds": round(seconds, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
    return emb
