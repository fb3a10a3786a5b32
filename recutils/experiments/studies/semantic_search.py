"""The semantic prompt-search study (notebook 03): sentence embeddings against TF-IDF on the
MovieLens tag benchmark, the int8 quality guard, and query latency.

- :func:`int8_guard`: per model, fp32 (torch) and onnx-int8 embeddings of the most-tagged movies
  compared on the tag benchmark restricted to them (cosines, nDCG / Recall, the paired interval
  of int8 − fp32, encode rates from the cache entries) → a :class:`Guard` whose ``chosen``
  backend per model is :func:`choose_backend` (int8 only where the interval includes zero);
- :func:`embed_movies`: one :class:`~recutils.search.DenseSearch` per model, on its chosen backend;
- :func:`prompt_search`: the top titles of each method for each demo prompt;
- :func:`run_benchmark`: every method's score matrix on the benchmark's queries, reciprocal-rank
  fusion of TF-IDF with each dense model, per-query metrics → a :class:`BenchmarkRun` (table,
  paired intervals against a reference, bar-chart intervals, the per-query gap of the best
  dense model);
- :func:`measure_latency` / :func:`latency_breakdown`: per-query latency per method × thread
  count and where a dense query's time goes (:mod:`recutils.bench.search_latency`).

Relevance comes from :mod:`recutils.search.relevance`; latency from
:mod:`recutils.bench.search_latency`; nothing here is tuned: the backend follows the guard's rule, and
the "best" dense model only picks which per-query gap table is shown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ...embeddings import (cache_paths, cached_encode, ci_includes_zero, compare_embeddings, load_encoder,
                           model_label, resolve_model, texts_sha256)
from ...evaluation import PairedCI, paired_bootstrap_ci
from ...evaluation.beyond import mean_ci
from ...io import read_json
from ...search import (SEARCH_TEXT, DenseConfig, DenseSearch, FusionConfig, FusionSearch, Searcher, TagBenchmark,
                       TfidfSearch, corpus_texts, evaluate_scores, most_tagged, tag_benchmark)

__all__ = ["BenchmarkRun", "Guard", "choose_backend", "embed_movies", "encode_rate", "guard_model",
           "int8_guard", "methods_config",
           "prompt_search", "run_benchmark"]

Log = Callable[[str], None] | None
REFERENCE = "TF-IDF"


def _log(log: Log, message: str) -> None:
    if log is not None:
        log(message)


# --- section 2: the int8 quality guard -----------------------------------------------------------

def encode_rate(name: str, texts: Sequence[str], backend: str, cache_dir=None) -> float:
    """texts/s recorded in the cache entry of one encode (the export is not counted)."""
    meta = read_json(cache_paths(name, SEARCH_TEXT.key, texts_sha256(texts), True, cache_dir=cache_dir,
                                 backend=backend)[1])
    return meta["n"] / max(meta["encode_seconds"], 1e-9)


def choose_backend(requested: str, int8_passes: bool) -> str:
    """The backend a model runs on: what was asked for, except that ``"onnx-int8"`` is used only
    where the guard passes (else torch fp32) — among the admissible backends, int8 is preferred."""
    if requested != "onnx-int8":
        return requested
    return "onnx-int8" if int8_passes else "torch"


def guard_model(name: str, guard_set: pd.DataFrame, guard_bench: TagBenchmark, models: Mapping[str, object], *,
                k: int, batch_size: int, progress: bool, n_bootstrap: int, seed: int, requested: str,
                cache_dir=None) -> dict:
    """One guard row for model ``name``: ``models`` holds its ``"torch"`` and ``"onnx-int8"`` encoders."""
    texts = corpus_texts(guard_set, SEARCH_TEXT)
    emb = {b: cached_encode(name, texts, SEARCH_TEXT.key, cache_dir=cache_dir, model=m, batch_size=batch_size,
                            progress=progress, backend=b) for b, m in models.items()}
    per_q = {}
    for b, m in models.items():
        g = DenseSearch(emb[b], guard_set["movieId"], guard_set["title"],
                        DenseConfig(model_name=name, batch_size=batch_size, backend=b), model=m)
        per_q[b] = evaluate_scores(g.score_matrix(guard_bench.queries), guard_bench, k=k)
    ci = paired_bootstrap_ci(per_q["onnx-int8"][f"ndcg@{k}"], per_q["torch"][f"ndcg@{k}"], n_boot=n_bootstrap, rng=seed)
    passes = ci_includes_zero(ci)
    cos = compare_embeddings(emb["torch"], emb["onnx-int8"])
    rate = {b: encode_rate(name, texts, b, cache_dir) for b in emb}
    return {
        "model": model_label(name), "n_movies": len(guard_set), "n_queries": guard_bench.n_queries,
        "cos_mean": cos["mean_cosine"], "cos_p1": cos["p1_cosine"], "cos_min": cos["min_cosine"],
        f"ndcg@{k}_fp32": float(np.nanmean(per_q["torch"][f"ndcg@{k}"])),
        f"ndcg@{k}_int8": float(np.nanmean(per_q["onnx-int8"][f"ndcg@{k}"])),
        f"ndcg@{k}_diff": ci.mean_diff, "ci_low": ci.low, "ci_high": ci.high,
        f"recall@{k}_fp32": float(np.nanmean(per_q["torch"][f"recall@{k}"])),
        f"recall@{k}_int8": float(np.nanmean(per_q["onnx-int8"][f"recall@{k}"])),
        "fp32_texts_per_s": round(rate["torch"], 2), "int8_texts_per_s": round(rate["onnx-int8"], 2),
        "int8_speedup": round(rate["onnx-int8"] / rate["torch"], 2),
        "int8_passes": passes, "requested": requested, "backend": choose_backend(requested, passes),
    }


@dataclass
class Guard:
    """The guard's movies and benchmark, one row per model, the backend chosen per model (hub
    name → backend) and the loaded encoders (hub name → backend → encoder)."""

    guard_set: pd.DataFrame
    bench: TagBenchmark
    rows: list[dict]
    chosen: dict[str, str]
    encoders: dict[str, dict[str, object]]
    requested: str

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def backends(self) -> dict[str, str]:
        """Model label → chosen backend (``backends`` in metrics.json)."""
        return {model_label(name): b for name, b in self.chosen.items()}

    def encoder(self, name: str):
        """The encoder of ``name`` on its chosen backend (loaded here for ``"onnx-fp32"``)."""
        backend = self.chosen[name]
        loaded = self.encoders[name]
        return loaded[backend] if backend in loaded else load_encoder(name, backend)


def int8_guard(models: Sequence[str], movies: pd.DataFrame, tags: pd.DataFrame, *, guard_movies: int,
               min_tag_movies: int, max_queries: int | None, k: int, batch_size: int, progress: bool,
               n_bootstrap: int, seed: int, backend: str, cache_dir=None, log: Log = print) -> Guard:
    """The quality guard of every model in ``models`` on the ``guard_movies`` most-tagged movies."""
    guard_set = most_tagged(movies, guard_movies)
    guard_bench = tag_benchmark(tags, guard_set["movieId"], min_movies=min_tag_movies, max_queries=max_queries)
    if guard_bench.n_queries == 0:
        raise ValueError(f"guard_movies={guard_movies} leaves no benchmark query; use more movies (0: all)")
    rows, chosen, encoders = [], {}, {}
    for name in models:
        t0 = time.perf_counter()
        encoders[name] = {"torch": load_encoder(name, "torch"),
                          "onnx-int8": load_encoder(name, "onnx-int8")}  # exported once, in its own process
        row = guard_model(name, guard_set, guard_bench, encoders[name], k=k, batch_size=batch_size,
                          progress=progress, n_bootstrap=n_bootstrap, seed=seed, requested=backend,
                          cache_dir=cache_dir)
        rows.append(row)
        chosen[name] = row["backend"]
        _log(log, f"{row['model']}: guard done in {time.perf_counter() - t0:.1f} s")
    return Guard(guard_set, guard_bench, rows, chosen, encoders, backend)


# --- section 3: the movies' embeddings -------------------------------------------------------------

def embed_movies(movies: pd.DataFrame, guard: Guard, *, batch_size: int, progress: bool, cache_dir=None,
                 log: Log = print) -> dict[str, DenseSearch]:
    """Model label → dense search over ``movies``, each on the backend the guard chose for it."""
    dense = {}
    for name, backend in guard.chosen.items():
        t0 = time.perf_counter()
        searcher = DenseSearch.from_movies(movies, DenseConfig(model_name=name, batch_size=batch_size, backend=backend),
                                           model=guard.encoder(name), cache_dir=cache_dir, progress=progress)
        dense[model_label(name)] = searcher
        if log is not None:  # resolve_model only to say where the model came from
            log(f"{model_label(name)}: {resolve_model(name)} | {backend} | embeddings {searcher.doc_embeddings.shape}, "
                f"ready in {time.perf_counter() - t0:.1f} s")
    return dense


# --- section 4: prompts side by side ---------------------------------------------------------------

def prompt_search(methods: Mapping[str, Searcher], prompts: Sequence[str], k: int = 5,
                  width: int = 45) -> tuple[dict[str, dict[str, list[str]]], dict[str, pd.DataFrame]]:
    """Per prompt: each method's top-``k`` titles (``prompt → label → titles``) and a table of
    them side by side (titles cut to ``width`` characters, short columns padded with "")."""
    results, tables = {}, {}
    for p in prompts:
        cols = {}
        for label, s in methods.items():
            res = s.search(p, k=k)
            results.setdefault(p, {})[label] = res["title"].tolist()
            cols[label] = pd.Series(res["title"].str.slice(0, width).tolist() + [""] * (k - len(res)))
        tables[p] = pd.DataFrame(cols)
    return results, tables


# --- section 5: the tag benchmark -----------------------------------------------------------------

@dataclass
class BenchmarkRun:
    """Score matrices, scoring seconds and per-query metrics of every method on one benchmark."""

    bench: TagBenchmark
    k: int
    scores: dict[str, np.ndarray]
    seconds: dict[str, float]
    fusions: dict[str, FusionSearch]
    per_query: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """One row per method: n_queries, mean nDCG@k and Recall@k."""
        k = self.k
        return pd.DataFrame([{"method": label, "n_queries": self.bench.n_queries,
                              f"ndcg@{k}": float(np.nanmean(m[f"ndcg@{k}"])),
                              f"recall@{k}": float(np.nanmean(m[f"recall@{k}"]))}
                             for label, m in self.per_query.items()])

    def paired(self, reference: str = REFERENCE, metric: str = "ndcg", n_boot: int = 2000,
               seed: int = 0) -> dict[str, PairedCI]:
        """Paired bootstrap interval of each other method − ``reference`` (per-query ``metric@k``)."""
        col = f"{metric}@{self.k}"
        ref = self.per_query[reference][col]
        return {label: paired_bootstrap_ci(m[col], ref, n_boot=n_boot, rng=seed)
                for label, m in self.per_query.items() if label != reference}

    def mean_cis(self, metrics: Sequence[str] = ("ndcg", "recall"), n_boot: int = 1000,
                 seed: int = 0) -> dict[str, np.ndarray]:
        """``metric@k → (n_methods, 3)`` array of mean, low, high (bootstrap over queries), methods in table order."""
        return {f"{m}@{self.k}": np.array([mean_ci(pq[f"{m}@{self.k}"], n_boot=n_boot, rng=seed)
                                           for pq in self.per_query.values()]) for m in metrics}

    def per_query_values(self, metric: str = "ndcg") -> dict[str, dict[str, float]]:
        """``label → query → metric@k`` (metrics.json's per-query record)."""
        col = f"{metric}@{self.k}"
        return {label: dict(zip(self.bench.queries, map(float, m[col]))) for label, m in self.per_query.items()}

    def best(self, candidates: Sequence[str], metric: str = "ndcg") -> str:
        """The candidate with the highest mean ``metric@k`` (the first of equals)."""
        col = f"{metric}@{self.k}"  # which gap table to show: a display choice on the benchmark, not a tuned setting
        return max(candidates, key=lambda c: float(np.nanmean(self.per_query[c][col])))  # max keeps the first of equals

    def gaps(self, candidates: Sequence[str], reference: str = REFERENCE, metric: str = "ndcg") -> tuple[str, pd.DataFrame]:
        """The best of ``candidates`` and, per query, its ``metric@k`` next to the reference's and their ``diff``."""
        best, col = self.best(candidates, metric), f"{metric}@{self.k}"
        gap = pd.DataFrame({"query": self.bench.queries, "n_relevant": np.diff(self.bench.relevant.indptr),
                            best: self.per_query[best][col], reference: self.per_query[reference][col]})
        gap["diff"] = gap[best] - gap[reference]
        return best, gap


def run_benchmark(tfidf: TfidfSearch, dense: Mapping[str, DenseSearch], bench: TagBenchmark, *, k: int,
                  rrf_c: float, rrf_depth: int) -> BenchmarkRun:
    """Score every method on ``bench`` (TF-IDF first, then each dense model, then the fusion of
    TF-IDF with each, from the matrices already computed) and its per-query metrics."""
    methods = {REFERENCE: tfidf, **dense}
    scores, seconds, fusions = {}, {}, {}
    for label, s in methods.items():
        t0 = time.perf_counter()
        scores[label] = s.score_matrix(bench.queries)
        seconds[label] = time.perf_counter() - t0
    for label, s in dense.items():
        name = f"RRF({REFERENCE} + {label})"
        fusions[name] = FusionSearch([tfidf, s], FusionConfig(c=rrf_c, depth=rrf_depth))
        t0 = time.perf_counter()
        scores[name] = fusions[name].fuse([scores[REFERENCE], scores[label]])
        seconds[name] = time.perf_counter() - t0
    run = BenchmarkRun(bench, k, scores, seconds, fusions)
    run.per_query = {label: evaluate_scores(S, bench, k=k) for label, S in scores.items()}
    return run


def methods_config(tfidf: TfidfSearch, dense: Mapping[str, DenseSearch],
                   fusions: Mapping[str, FusionSearch]) -> dict[str, dict]:
    """Label → ``config_dict()`` of every method (config.json's ``methods``)."""
    return {REFERENCE: tfidf.config_dict(), **{label: s.config_dict() for label, s in dense.items()},
            **{label: f.config_dict() for label, f in fusions.items()}}
