"""Encoding texts with a sentence-transformer, and a disk cache of the embeddings.

:func:`cached_encode` keys each cache entry by (model name, the identity of its weights,
the versions of torch / transformers / sentence-transformers, text-builder key, SHA-256 of
the texts, normalisation): an ``.npy`` file plus a small JSON sidecar, both written
atomically. A cache hit reads the array and never loads the model; upgrading one of those
libraries or changing the weights behind a name re-encodes instead of reusing vectors that
other code made.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata as md
import re
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import RecutilsError
from ..io import load_npy, read_json, save_npy, write_json
from .resolve import cache_root, canonical_name, load_model, resolve_model

#: libraries whose version changes the numbers an encoder produces (kernels, tokenisers, pooling)
VERSIONED_LIBRARIES = ("torch", "transformers", "sentence-transformers")
#: files whose bytes identify a model folder's weights and tokenizer
_WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "config.json", "tokenizer.json", "modules.json")


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


def library_versions() -> dict[str, str]:
    """Installed versions of :data:`VERSIONED_LIBRARIES` (``"-"`` when one is missing)."""
    out = {}
    for pkg in VERSIONED_LIBRARIES:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "-"
    return out


@functools.lru_cache(maxsize=64)
def _folder_digest(folder: str, state: tuple) -> str:
    h = hashlib.sha256()
    for rel, _size, _mtime in state:
        h.update(rel.encode() + b"\0")
        with open(Path(folder) / rel, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def weights_identity(model_name: str, cache_dir=None) -> str:
    """What identifies the weights behind ``model_name``: the SHA-256 of its local folder's
    weight, config and tokenizer files (memoised per file state in this process), or, for a
    name that only the hub can resolve, the name itself (the hub's revision is not known
    here). ``"<name>#ft"`` (a fine-tuned copy, keyed further by its settings) uses its base."""
    base = str(model_name).split("#", 1)[0]
    try:
        path = Path(resolve_model(base, cache_dir))
    except RecutilsError:
        path = None
    if path is None or not path.is_dir():
        return f"name:{canonical_name(base)}"
    files = sorted({f for pat in _WEIGHT_PATTERNS for f in path.rglob(pat) if f.is_file()})
    if not files:
        return f"name:{canonical_name(base)}"
    state = tuple((str(f.relative_to(path)), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return f"sha256:{_folder_digest(str(path), state)}"


def cache_paths(model_name: str, key: str, text_hash: str, normalize: bool = True, cache_dir=None) -> tuple[Path, Path]:
    """The ``(.npy, .json)`` paths of one cache entry under ``<cache>/embeddings``; the name
    includes the weights' identity and the library versions (:func:`cache_identity`)."""
    model = canonical_name(model_name)
    ident = hashlib.sha256(f"{model}\0{key}\0{text_hash}\0{bool(normalize)}\0{cache_identity(model_name, cache_dir)}"
                           .encode()).hexdigest()[:16]
    stem = f"{_slug(model.rsplit('/', 1)[-1])}__{_slug(key)}__{'norm' if normalize else 'raw'}__{ident}"
    root = cache_root(cache_dir) / "embeddings"
    return root / f"{stem}.npy", root / f"{stem}.json"


def cache_identity(model_name: str, cache_dir=None) -> str:
    """The part of a cache key that names the code and the weights: library versions and
    :func:`weights_identity`."""
    versions = ",".join(f"{k}={v}" for k, v in library_versions().items())
    return f"{versions};{weights_identity(model_name, cache_dir)}"


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

    The entry is identified by the model name, the bytes of its local weights (a folder's
    weight files are hashed; a hub-only name counts by name) and the versions of torch,
    transformers and sentence-transformers. A fine-tuned model held in memory under a
    ``"<name>#ft"`` name must put what identifies its training (pairs, settings) into ``key``.
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
            "libraries": library_versions(),
            "weights": weights_identity(model_name, cache_dir),
            "encode_seconds": round(seconds, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
    return emb
