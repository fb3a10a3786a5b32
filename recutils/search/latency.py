"""Per-query latency of a searcher (prompt in, top-k out, encoding included).

:func:`query_latency` times whole searches one prompt at a time (what a user waits for);
:func:`dense_breakdown` splits a dense search into its stages (tokenise, transformer
forward pass, cosine + top-k) to show where the time goes. :func:`threads` caps torch's
and the BLAS / OpenMP thread pools for a block: with a batch of one short prompt there is
little to share between threads, and on a busy machine extra threads mostly wait.
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator, Sequence

import numpy as np

from .base import Searcher, clean_prompt


@contextlib.contextmanager
def threads(n: int | None) -> Iterator[None]:
    """Limit torch intra-op threads and BLAS/OpenMP pools to ``n`` inside the block (None: no change)."""
    if n is None:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        with threadpool_limits(limits=int(n)):
            yield
    finally:
        torch.set_num_threads(before)


def _percentiles(ms: np.ndarray) -> dict:
    if not len(ms):
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "mean": float("nan"), "max": float("nan")}
    return {
        "n": int(len(ms)),
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "mean": float(ms.mean()),
        "max": float(ms.max()),
    }


def _time_each(fn: Callable, items: Sequence, warmup: int) -> np.ndarray:
    for x in items[:warmup]:
        fn(x)
    ms = np.empty(len(items))
    for i, x in enumerate(items):
        t0 = time.perf_counter()
        fn(x)
        ms[i] = (time.perf_counter() - t0) * 1e3
    return ms


def query_latency(searcher: Searcher, prompts: Sequence[str], k: int = 10, warmup: int = 3,
                  n_threads: int | None = None) -> dict:
    """Time ``searcher.search(p, k)`` once per prompt (after ``warmup`` untimed calls).

    Returns milliseconds: ``n``, ``p50``, ``p95``, ``mean``, ``max`` (plus ``threads``).
    """
    prompts = list(prompts)
    with threads(n_threads):
        ms = _time_each(lambda p: searcher.search(p, k), prompts, warmup)
    return {**_percentiles(ms), "threads": n_threads}


def dense_breakdown(searcher, prompts: Sequence[str], k: int = 10, warmup: int = 3,
                    n_threads: int | None = None) -> dict[str, dict]:
    """Median / p95 milliseconds per stage of a :class:`~recutils.search.DenseSearch` query.

    Stages: ``tokenize`` (the model's preprocessing), ``forward`` (transformer + pooling +
    normalisation), ``topk`` (cosine against every movie + ``argpartition``), and
    ``encode_call`` (``SentenceTransformer.encode`` on one prompt, i.e. forward plus its
    per-call overhead).
    """
    import torch

    model = searcher.model
    prompts = [clean_prompt(p) for p in prompts]
    prep = getattr(model, "preprocess", None) or model.tokenize

    def forward(features):
        with torch.inference_mode():
            e = model(features)["sentence_embedding"]
            return torch.nn.functional.normalize(e, dim=1)

    with threads(n_threads):
        features = [prep([p]) for p in prompts]
        q = searcher.encode_queries(prompts[:1])[0]
        docs = searcher.doc_embeddings
        out = {
            "tokenize": _time_each(lambda p: prep([p]), prompts, warmup),
            "forward": _time_each(forward, features, warmup),
            "topk": _time_each(lambda _: np.argpartition(-(docs @ q), k)[:k], prompts, warmup),
            "encode_call": _time_each(
                lambda p: model.encode([p], show_progress_bar=False, normalize_embeddings=True), prompts, warmup
            ),
        }
    return {stage: _percentiles(ms) for stage, ms in out.items()}
