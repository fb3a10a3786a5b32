"""The study behind notebook 02 (``02_tfidf_search``): TF-IDF prompt search, fuzzy title lookup
and the MovieLens tag benchmark.

What the notebook would otherwise hold in loops and hand-built dicts:

- :func:`search_prompts` / :func:`prompt_hits`: every example prompt searched, and its hits as
  recorded in ``metrics.json``;
- :func:`find_titles` / :func:`title_hits`: every title query looked up;
- :func:`benchmark_table` / :func:`per_query_table` / :func:`hit_share`: the benchmark row and
  the per-query view of one searcher;
- :func:`text_builder_config`: the index-text builder as written to ``config.json``.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["benchmark_table", "find_titles", "hit_share", "per_query_table", "prompt_hits", "search_prompts",
           "text_builder_config", "title_hits"]


# --- prompts and titles --------------------------------------------------------------------------
def search_prompts(searcher, prompts: Sequence[str], k: int = 5) -> dict[str, pd.DataFrame]:
    """``{prompt: searcher.search(prompt, k)}`` (``movieId``, ``title``, ``score``), in order."""
    return {p: searcher.search(p, k=k) for p in prompts}


def prompt_hits(results: Mapping[str, pd.DataFrame], decimals: int = 3) -> dict[str, list[dict]]:
    """Each prompt's hits as plain rows: ``movieId``, ``title`` and the score to ``decimals``."""
    return {p: [{"movieId": int(r.movieId), "title": r.title, "score": round(float(r.score), decimals)}
                for r in res.itertuples()] for p, res in results.items()}


def find_titles(index, queries: Sequence[str], k: int = 3) -> dict[str, pd.DataFrame]:
    """``{query: index.find(query, k)}`` (``movieId``, ``title``, ``score`` 0–100), in order."""
    return {q: index.find(q, k=k) for q in queries}


def title_hits(results: Mapping[str, pd.DataFrame]) -> dict[str, list[str]]:
    """Each title query's matching titles, best first."""
    return {q: hits["title"].tolist() for q, hits in results.items()}


# --- the tag benchmark ---------------------------------------------------------------------------
def benchmark_table(row: Mapping, k: int, method: str = "TF-IDF") -> list[dict]:
    """The benchmark table (one row, full precision: the regression test compares it) from
    :func:`recutils.search.evaluate_searcher`'s ``row``."""
    return [{"method": method, "n_queries": row["n_queries"], f"ndcg@{k}": float(row[f"ndcg@{k}"]),
             f"recall@{k}": float(row[f"recall@{k}"])}]


def per_query_table(bench, per_query: Mapping[str, np.ndarray], k: int) -> pd.DataFrame:
    """One row per query: the query, its number of relevant movies, nDCG@k and Recall@k
    (``per_query``: :func:`recutils.search.evaluate_scores`)."""
    return pd.DataFrame({"query": bench.queries, "n_relevant": np.diff(bench.relevant.indptr),
                         f"ndcg@{k}": per_query[f"ndcg@{k}"], f"recall@{k}": per_query[f"recall@{k}"]})


def hit_share(per_query: pd.DataFrame, k: int, decimals: int = 3) -> float:
    """The share of queries with at least one relevant movie in the top ``k``."""
    return round(float((per_query[f"recall@{k}"] > 0).mean()), decimals)


# --- configuration -------------------------------------------------------------------------------
def text_builder_config(builder) -> dict:
    """A :class:`recutils.search.TextBuilder`'s fields and its ``key``."""
    return {**dataclasses.asdict(builder), "key": builder.key}
