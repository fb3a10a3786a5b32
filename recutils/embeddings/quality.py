"""How close a faster encoder's embeddings are to the reference ones, and how fast each is.

- :func:`compare_embeddings`: per-row cosine of two embedding matrices of the same texts
  (mean, 1st percentile, minimum) — e.g. onnx-int8 against torch fp32.
- :func:`ci_includes_zero`: the guard's rule for a paired bootstrap interval of a metric
  difference (int8 − fp32): a new backend is used only when its interval includes zero, i.e.
  the benchmark cannot tell it from the reference.
- :func:`interleaved_throughput`: texts/s of several encoders (and thread counts) on the same
  texts, timed round by round in turn in one process, so that the load of a shared machine
  touches them alike; ratios of these numbers are the figure, not the numbers.
"""

from __future__ import annotations

import time
from typing import Mapping, Sequence

import numpy as np

from ..errors import RecutilsError
from ..torch_threads import torch_threads

__all__ = ["compare_embeddings", "ci_includes_zero", "interleaved_throughput"]


def compare_embeddings(ref, other) -> dict:
    """Cosine of each row of ``other`` to the same row of ``ref`` (rows L2-normalised first).

    Returns ``{"n", "mean_cosine", "p1_cosine", "min_cosine"}`` (floats). A zero row has
    cosine 0 with anything. Raises :class:`RecutilsError` for shapes that do not match or no rows.
    """
    a, b = np.asarray(ref, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise RecutilsError(f"compare_embeddings needs two matrices of one shape, got {a.shape} and {b.shape}")
    if a.shape[0] == 0:
        raise RecutilsError("compare_embeddings needs at least one row")
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    denom = na * nb
    cos = np.where(denom > 0, (a * b).sum(axis=1) / np.where(denom > 0, denom, 1.0), 0.0)
    cos = np.clip(cos, -1.0, 1.0)
    return {"n": int(len(cos)), "mean_cosine": float(cos.mean()), "p1_cosine": float(np.percentile(cos, 1)),
            "min_cosine": float(cos.min())}


def ci_includes_zero(ci) -> bool:
    """Whether a paired interval (``.low``, ``.high``; e.g. :class:`~recutils.evaluation.PairedCI`)
    includes zero: the difference is not told apart from noise."""
    low, high = float(ci.low), float(ci.high)
    if not (np.isfinite(low) and np.isfinite(high)) or low > high:
        raise RecutilsError(f"not an interval: [{low}, {high}]")
    return low <= 0.0 <= high


def interleaved_throughput(variants: Mapping[str, tuple], texts: Sequence[str], batch_size: int = 64,
                           rounds: int = 1, block_size: int | None = None, keep_embeddings: bool = False) -> dict[str, dict]:
    """Texts per second of each variant on ``texts``, interleaved.

    ``variants`` maps a label to ``(encoder, threads)``: any object with the
    sentence-transformers ``encode`` and a thread count applied with
    :func:`~recutils.torch_threads.torch_threads` (an :class:`~recutils.embeddings.onnx.OnnxEncoder`
    without a fixed ``threads`` follows it too; ``None`` leaves the count alone).

    Each round goes through the texts in blocks of ``block_size`` (``None``: all at once) and
    encodes every block with every variant in turn, so that a burst of load from other
    processes falls on all variants alike. Returns, per label, ``texts_per_s`` (the best round:
    the least disturbed), ``rounds_texts_per_s`` and, with ``keep_embeddings``, the first round's
    ``embeddings`` (in text order).
    """
    texts = [str(t) for t in texts]
    if not texts:
        raise RecutilsError("interleaved_throughput needs at least one text")
    if int(rounds) < 1:
        raise RecutilsError(f"rounds must be ≥ 1, got {rounds!r}")
    step = len(texts) if not block_size else int(block_size)
    if step < 1:
        raise RecutilsError(f"block_size must be ≥ 1 or None, got {block_size!r}")
    blocks = [texts[i:i + step] for i in range(0, len(texts), step)]
    seen: dict[str, list[float]] = {label: [] for label in variants}
    kept: dict[str, list] = {label: [] for label in variants}
    for r in range(int(rounds)):
        seconds = dict.fromkeys(variants, 0.0)
        for block in blocks:
            for label, (model, threads) in variants.items():
                with torch_threads(threads):
                    t0 = time.perf_counter()
                    emb = model.encode(block, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False,
                                       convert_to_numpy=True)
                    seconds[label] += time.perf_counter() - t0
                if keep_embeddings and r == 0:
                    kept[label].append(np.asarray(emb, dtype=np.float32))
        for label in variants:
            seen[label].append(len(texts) / max(seconds[label], 1e-9))
    out = {}
    for label, v in seen.items():
        out[label] = {"texts_per_s": float(max(v)), "rounds_texts_per_s": [float(x) for x in v]}
        if keep_embeddings:
            out[label]["embeddings"] = np.concatenate(kept[label])
    return out
