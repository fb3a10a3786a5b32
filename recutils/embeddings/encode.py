"""Encoding texts with a sentence-transformer, and a disk cache of the embeddings.

:func:`cached_encode` keys each cache entry by (model name, the identity of its weights,
the versions of torch / transformers / sentence-transformers, text-builder key, SHA-256 of
the texts, normalisation): an ``.npy`` file plus a small JSON sidecar, both written
atomically. A cache hit reads the array and never loads the model; upgrading one of those
libraries or changing the weights behind a name re-encodes instead of reusing vectors that
other code made.

``backend`` picks the encoder (:mod:`recutils.embeddings.onnx`): ``"torch"`` (the
sentence-transformer; its entries keep the keys they always had) or ``"onnx-int8"`` /
``"onnx-fp32"``, whose entries are keyed by the backend, the onnx / onnxruntime versions and
the quantisation settings too. A miss encodes in chunks of :data:`ENCODE_CHUNK` texts, with
progress through :func:`recutils.progress.task`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import re
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import RecutilsError
from ..io import load_npy, read_json, save_npy, write_json
from ..progress import task
from ..provenance import perturb
from .identity import weights_identity
from .resolve import cache_root, canonical_name, load_model, model_label

#: libraries whose version changes the numbers an encoder produces (kernels, tokenisers, pooling)
VERSIONED_LIBRARIES = ("torch", "transformers", "sentence-transformers")
#: files whose bytes identify a model folder's weights and tokenizer
#: texts per ``model.encode`` call of a cache miss (the progress step)
ENCODE_CHUNK = 1024


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


def cache_paths(model_name: str, key: str, text_hash: str, normalize: bool = True, cache_dir=None,
                backend: str = "torch") -> tuple[Path, Path]:
    """The ``(.npy, .json)`` paths of one cache entry under ``<cache>/embeddings``; the name
    includes the weights' identity and the library versions (:func:`cache_identity`), and for a
    backend other than ``"torch"`` the backend (torch entries keep their original names)."""
    from .onnx import check_backend

    check_backend(backend)
    model = canonical_name(model_name)
    ident_src = f"{model}\0{key}\0{text_hash}\0{bool(normalize)}\0{cache_identity(model_name, cache_dir, backend)}"
    if backend != "torch":
        ident_src += f"\0backend={backend}"
    ident = hashlib.sha256(ident_src.encode()).hexdigest()[:16]
    tag = "" if backend == "torch" else f"__{_slug(backend)}"
    stem = f"{_slug(model.rsplit('/', 1)[-1])}__{_slug(key)}__{'norm' if normalize else 'raw'}{tag}__{ident}"
    root = cache_root(cache_dir) / "embeddings"
    return root / f"{stem}.npy", root / f"{stem}.json"


def cache_identity(model_name: str, cache_dir=None, backend: str = "torch") -> str:
    """The part of a cache key that names the code and the weights: library versions and
    :func:`weights_identity`; for an onnx backend also the onnx / onnxruntime versions and the
    quantisation settings."""
    versions = ",".join(f"{k}={v}" for k, v in library_versions().items())
    ident = f"{versions};{weights_identity(model_name, cache_dir)}"
    if backend != "torch":
        from .onnx import QUANTIZATION, onnx_versions

        v = onnx_versions()
        quant = ",".join(f"{k}={val}" for k, val in QUANTIZATION.items()) if backend == "onnx-int8" else "none"
        ident += f";onnx={v['onnx']},onnxruntime={v['onnxruntime']};quant={quant}"
    return ident


def encode_chunked(model, texts: Sequence[str], batch_size: int = 64, normalize: bool = True, progress: bool = False,
                   chunk_size: int = ENCODE_CHUNK, desc: str = "encode") -> np.ndarray:
    """:func:`encode` in chunks, with a :func:`~recutils.progress.task` advancing per chunk.

    Up to ``chunk_size`` texts are one call (exactly what :func:`encode` does). More are
    ordered by length first (longest first, as sentence-transformers orders one call) and the
    chunks, each a whole number of batches, cut from that order: the batches, and so the
    padding, stay those of one big call up to the order of texts of equal length, and the
    embeddings agree with one call to float rounding.
    """
    texts = [str(t) for t in texts]
    n = len(texts)
    step = max(1, int(chunk_size) // max(1, int(batch_size))) * max(1, int(batch_size))
    with task(desc, total=n, unit="texts", show=progress) as bar:
        if n <= step:
            emb = encode(model, texts, batch_size=batch_size, normalize=normalize)
            bar.update(n)
            return emb
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = None
        for s in range(0, n, step):
            idx = order[s:s + step]
            part = encode(model, [texts[i] for i in idx], batch_size=batch_size, normalize=normalize)
            if out is None:
                out = np.empty((n, part.shape[1]), dtype=np.float32)
            out[idx] = part
            bar.update(len(idx))
        return out


def cached_encode(
    model_name: str,
    texts: Sequence[str],
    key: str,
    cache_dir=None,
    model=None,
    batch_size: int = 64,
    normalize: bool = True,
    progress: bool = False,
    backend: str = "torch",
    chunk_size: int = ENCODE_CHUNK,
) -> np.ndarray:
    """:func:`encode` with a disk cache keyed by (model name, ``key``, SHA-256 of ``texts``).

    ``key`` names how the texts were built (e.g. ``TextBuilder.key``). ``model`` is an
    already loaded encoder to use on a miss (else :func:`~recutils.embeddings.onnx.load_encoder`
    loads ``model_name`` for ``backend``); a hit loads nothing. Returns float32 ``(len(texts), dim)``.

    The entry is identified by the model name, the bytes of its local weights (a folder's
    weight files are hashed; a hub-only name counts by name), the versions of torch,
    transformers and sentence-transformers and, for ``backend`` ``"onnx-int8"`` /
    ``"onnx-fp32"``, the backend with its own versions and settings. A fine-tuned model held in
    memory under a ``"<name>#ft"`` name must put what identifies its training (pairs,
    settings) into ``key``. A miss encodes in chunks of ``chunk_size`` texts (:func:`encode_chunked`;
    ``progress`` shows a bar) and records the backend and the seconds in the JSON sidecar.
    """
    from .onnx import check_backend, encoder_backend, load_encoder

    if isinstance(texts, str):
        raise RecutilsError("cached_encode() takes a list of texts, not a single string")
    check_backend(backend)
    if model is not None and encoder_backend(model) != backend:
        raise RecutilsError(f"cached_encode(backend={backend!r}) was given a {encoder_backend(model)!r} encoder; "
                            f"pass a model loaded for {backend!r} (load_encoder) or none")
    texts = [str(t) for t in texts]
    text_hash = texts_sha256(texts)
    npy, meta_path = cache_paths(model_name, key, text_hash, normalize, cache_dir, backend)
    if npy.is_file() and meta_path.is_file():
        try:
            meta = read_json(meta_path)
            arr = load_npy(npy)
            if meta.get("text_sha256") == text_hash and arr.shape[0] == len(texts) == meta.get("n"):
                return perturb(arr.astype(np.float32, copy=False), f"{model_name}:{key}")
        except (OSError, ValueError):
            pass  # unreadable entry: recompute and overwrite
    if model is None:
        model = load_model(model_name) if backend == "torch" else load_encoder(model_name, backend, cache_dir=cache_dir)
    t0 = time.perf_counter()
    emb = encode_chunked(model, texts, batch_size=batch_size, normalize=normalize, progress=progress,
                         chunk_size=chunk_size, desc=f"encode {model_label(model_name)} ({backend})")
    seconds = time.perf_counter() - t0
    save_npy(npy, emb)
    write_json(
        meta_path,
        {
            "model": canonical_name(model_name),
            "key": key,
            "backend": backend,
            "n": int(emb.shape[0]),
            "dim": int(emb.shape[1]),
            "normalize": bool(normalize),
            "text_sha256": text_hash,
            "libraries": library_versions(),
            **({"onnx": cache_identity(model_name, cache_dir, backend).split(";", 2)[-1]} if backend != "torch" else {}),
            "weights": weights_identity(model_name, cache_dir),
            "encode_seconds": round(seconds, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
    # the cache keeps the true embeddings; a kernel audit perturbs what callers get (recutils.provenance)
    return perturb(emb, f"{model_name}:{key}")
