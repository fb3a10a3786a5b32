"""Per-query latency of a searcher (prompt in, top-k out, encoding included)."""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from .base import Searcher


def query_latency(searcher: Searcher, prompts: Sequence[str], k: int = 10, warmup: int = 3) -> dict:
    """Time ``searcher.search(p, k)`` once per prompt (after ``warmup`` untimed calls).

    Returns milliseconds: ``n``, ``p50``, ``p95``, ``mean``, ``max``.
    """
    prompts = list(prompts)
    for p in prompts[:warmup]:
        searcher.search(p, k)
    ms = np.empty(len(prompts))
    for i, p in enumerate(prompts):
        t0 = time.perf_counter()
        searcher.search(p, k)
        ms[i] = (time.perf_counter() - t0) * 1e3
    if not len(ms):
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "mean": float("nan"), "max": float("nan")}
    return {
        "n": len(ms),
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "mean": float(ms.mean()),
        "max": float(ms.max()),
    }
