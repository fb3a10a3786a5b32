"""Per-query latency of a searcher (prompt in, top-k out, encoding included).

:func:`query_latency` times whole searches one prompt at a time (what a user waits for);
:func:`dense_breakdown` splits a dense search into its stages (tokenise, transformer
forward pass, cosine + top-k) to show where the time goes. :func:`torch_threads` (re-exported
from :mod:`recutils.torch_threads`) sets torch's intra-op thread count for a block.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import RecutilsError
from ..torch_threads import torch_threads
from ..search.base import Searcher, clean_prompt


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


def query_latency(searcher: Searcher, prompts: Sequence[str], k: int = 10, warmup: int = 3) -> dict:
    """Time ``searcher.search(p, k)`` once per prompt (after ``warmup`` untimed calls).

    Returns milliseconds: ``n``, ``p50``, ``p95``, ``mean``, ``max``.
    """
    return _percentiles(_time_each(lambda p: searcher.search(p, k), list(prompts), warmup))


def dense_breakdown(searcher, prompts: Sequence[str], k: int = 10, warmup: int = 3) -> dict[str, dict]:
    """Milliseconds per stage of a :class:`~recutils.search.DenseSearch` query (percentiles).

    Stages, run with the searcher's ``config.query_threads``: ``tokenize`` (the model's
    preprocessing), ``forward`` (transformer + pooling + normalisation on the tokenised
    prompt), ``topk`` (cosine against every movie + ``argpartition``), and ``encode_call``
    (``SentenceTransformer.encode`` on one prompt: the forward pass plus its per-call overhead).
    """
    import torch

    model = searcher.model
    prompts = [clean_prompt(p) for p in prompts]
    prep = getattr(model, "preprocess", None) or model.tokenize

    def forward(features):
        with torch.inference_mode():
            return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=1)

    def topk(_):
        with torch.inference_mode():
            s = (docs @ q).numpy()
        return np.argpartition(-s, k)[:k]

    with torch_threads(searcher.config.query_threads):
        features = [prep([p]) for p in prompts]
        q = torch.from_numpy(searcher.encode_queries(prompts[:1])[0])
        docs = searcher._doc_tensor()
        out = {
            "tokenize": _time_each(lambda p: prep([p]), prompts, warmup),
            "forward": _time_each(forward, features, warmup),
            "topk": _time_each(topk, prompts, warmup),
            "encode_call": _time_each(
                lambda p: model.encode([p], batch_size=1, show_progress_bar=False, normalize_embeddings=True),
                prompts, warmup,
            ),
        }
    return {stage: _percentiles(ms) for stage, ms in out.items()}


# --- notebook 03, section 6: the latency table and the per-stage breakdown ----------------------
def latency_prompts(prompts: Sequence[str], queries: Sequence[str], n: int) -> list[str]:
    """``n`` prompts: the demo prompts, then the benchmark's queries, cycled."""
    pool = list(prompts) + list(queries)
    if not pool:
        raise RecutilsError("no prompts to time")
    return [pool[i % len(pool)] for i in range(n)]


@dataclass
class LatencyRun:
    """The latency table, the dense searchers timed (``(label, threads) → searcher``) and the
    load average before and after."""

    table: pd.DataFrame
    variants: dict  #: (label, threads) → DenseSearch
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]

    def load_average(self) -> dict:
        return {"before": list(self.load_before), "after": list(self.load_after), "cpus": os.cpu_count()}


def _latency_row(method: str, backend: str, threads: int, lat: dict) -> dict:
    return {"method": method, "backend": backend, "threads": threads, "n": lat["n"], "p50_ms": round(lat["p50"], 2),
            "p95_ms": round(lat["p95"], 2), "mean_ms": round(lat["mean"], 2)}


def measure_latency(tfidf, dense: Mapping[str, object], prompts: Sequence[str], *, k: int,
                    threads: Sequence[int], reference: str = "TF-IDF") -> LatencyRun:
    """Per-query latency of TF-IDF, then of each dense model with each thread count."""
    load_before = os.getloadavg()
    rows = [_latency_row(reference, "-", 1, query_latency(tfidf, prompts, k=k))]
    from ..search import DenseSearch

    variants = {}
    for label, s in dense.items():
        for n_threads in threads:
            v = DenseSearch(s.doc_embeddings, s.movie_ids, s.titles,
                            dataclasses.replace(s.config, query_threads=n_threads), model=s.model)
            variants[(label, n_threads)] = v
            rows.append(_latency_row(label, s.config.backend, n_threads, query_latency(v, prompts, k=k)))
    table = pd.DataFrame(rows)
    return LatencyRun(table, variants, load_before, os.getloadavg())


def latency_breakdown(variants: Mapping, prompts: Sequence[str], *,
                      k: int) -> pd.DataFrame:
    """Median ms per stage of one dense query, per model × thread count."""
    rows = []
    for (label, n_threads), v in variants.items():
        bd = dense_breakdown(v, prompts, k=k)
        rows.append({"model": label, "backend": v.config.backend, "threads": n_threads,
                     **{f"{stage}_p50_ms": round(m["p50"], 3) for stage, m in bd.items()}})
    return pd.DataFrame(rows)
