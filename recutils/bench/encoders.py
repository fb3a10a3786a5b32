"""Encoder throughput: texts/s of several encoders (and thread counts) on the same texts, timed
round by round in turn in one process, so that the load of a shared machine touches them alike;
ratios of these numbers are the figure, not the numbers (``python -m recutils.bench.micro
--encoders`` uses it)."""

from __future__ import annotations

import time
from typing import Mapping, Sequence

import numpy as np

from ..errors import RecutilsError
from ..torch_threads import torch_threads

__all__ = ["interleaved_throughput"]


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
