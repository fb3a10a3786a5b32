"""Prompt search over movies: TF-IDF, dense embeddings, their fusion, fuzzy titles.

- :class:`TfidfSearch`, :class:`DenseSearch`, :class:`FusionSearch` (reciprocal-rank
  fusion): ``.search(prompt, k) -> DataFrame(movieId, title, score)``;
  ``.score_matrix(queries)`` for batches.
- :class:`TitleIndex`: fuzzy title lookup (rapidfuzz).
- :func:`tag_benchmark` / :func:`evaluate_searcher`: the MovieLens-tag retrieval
  benchmark (nDCG@10, Recall@10), indexing texts without tags.
- :func:`clean_prompt`: prompt checks shared by every method (clear errors).
"""

from ..torch_threads import torch_threads
from .base import MAX_PROMPT_CHARS, SEARCH_TEXT, Searcher, check_k, clean_prompt, corpus_texts
from .relevance import TagBenchmark, evaluate_scores, evaluate_searcher, most_tagged, tag_benchmark
from .dense import DenseConfig, DenseSearch
from .fusion import FusionConfig, FusionSearch, rrf_scores
from .tfidf import TfidfConfig, TfidfSearch
from .titles import TitleIndex

__all__ = [
    "MAX_PROMPT_CHARS", "SEARCH_TEXT", "Searcher", "check_k", "clean_prompt", "corpus_texts",
    "TagBenchmark", "evaluate_scores", "evaluate_searcher", "most_tagged", "tag_benchmark",
    "DenseConfig", "DenseSearch", "FusionConfig", "FusionSearch", "rrf_scores", "torch_threads",
    "TfidfConfig", "TfidfSearch", "TitleIndex",
]
