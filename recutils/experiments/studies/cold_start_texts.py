"""Notebook 06's text embeddings (part of :mod:`.cold_start`, which re-exports these): the base
encoders (:func:`text_embedding`, a backend may be pinned), the study-pair and CF-pair
fine-tunes on the cold split's training part (:func:`embed_texts`), and section 8's text sources
with the CF-pair fine-tune redone per training part (:func:`ablation_text_sources`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ...errors import RecutilsError

__all__ = ["TextEmbeddings", "ablation_text_sources", "embed_texts", "finetune_config", "text_embedding"]


@dataclass
class TextEmbeddings:
    embeddings: dict  #: label → ItemEmbeddings, the base encoders first, then the two fine-tunes
    info: dict  #: label → model, text, seconds and what the encoder reported (backend, cached, pairs, ...)
    base_labels: list  #: the labels of the base (not fine-tuned) encoders, in parameter order
    ft_label: str  #: the study-pair fine-tune
    cf_label: str  #: the CF-pair fine-tune
    pairs: np.ndarray  #: the CF-space pairs (item indices of the cold split)


def finetune_config(overrides: Mapping, seed: int):
    """A validated :class:`~recutils.embeddings.finetune.FinetuneConfig` (``seed`` unless overridden)."""
    from ...config import build_config
    from ...embeddings.finetune import FinetuneConfig

    return build_config(FinetuneConfig, "params finetune", {"seed": seed, **overrides})


def _info(model_name: str, text: str, t0: float, info: Mapping, keys: Sequence[str]) -> dict:
    return {"model": model_name, "text": text, "seconds": time.perf_counter() - t0, **{kk: info[kk] for kk in keys if kk in info}}


def text_embedding(model_name: str, text: str, backend: str | None = None, data_dir=None, cache_dir=None,
                   movie_ids=None, progress: bool = False):
    """One entry of notebook 06's ``text_embeddings``: ``text`` ``"search"`` is notebook 03's
    index text (its cache reused: without ``backend``, the first of int8 ONNX / torch that 03
    cached); any other text is a :func:`~recutils.datasets.text.movie_texts` spec. A
    ``backend`` ("torch", "onnx-int8", "onnx-fp32") pins the encoder's backend, so the numbers
    do not depend on what the cache holds."""
    from ...embeddings.items import compute_item_embeddings
    from ..coldstart import search_text_embeddings

    if text == "search":
        return search_text_embeddings(model_name, data_dir, cache_dir, movie_ids=movie_ids, progress=progress,
                                      **({"backends": (backend,)} if backend else {}))
    return compute_item_embeddings(model_name, text, data_dir=data_dir, cache_dir=cache_dir, progress=progress,
                                   movie_ids=movie_ids, **({"backend": backend} if backend else {}))


def embed_texts(specs: Mapping[str, Sequence[str]], cold_train, *, seed: int, finetune_model: str, finetune: Mapping,
                cf_pairs: int, cf_finetune: Mapping, ease_lambda: float, data_dir=None, cache_dir=None, movie_ids=None,
                progress: bool = False, threads=None) -> TextEmbeddings:
    """``specs`` (label → [model, text]; text ``"search"``: notebook 03's index text) embedded, then
    ``finetune_model`` fine-tuned on the study's user pairs and on CF-space pairs of ``cold_train``."""
    from ...datasets.text import movie_texts, text_key
    from ...embeddings import model_label
    from ...embeddings.items import compute_item_embeddings
    from ...torch_threads import torch_threads as use_threads
    from ..coldstart import cf_finetuned_embeddings, cf_space_pairs

    embeddings, info = {}, {}
    short = model_label(finetune_model, short=True)
    ft_label = f"{short} fine-tuned, user pairs · title+genres+tags"
    cf_label = f"{short} fine-tuned, CF pairs · title+genres+tags"
    with use_threads(threads):
        for label, (model_name, text, *backend) in specs.items():
            t0 = time.perf_counter()
            e = text_embedding(model_name, text, backend[0] if backend else None, data_dir, cache_dir, movie_ids, progress)
            embeddings[label], info[label] = e, _info(model_name, text, t0, e.info, ("backend", "cached"))
        t0 = time.perf_counter()
        e = compute_item_embeddings(finetune_model, "study", finetune_split=cold_train,
                                    finetune_config=finetune_config(finetune, seed), data_dir=data_dir,
                                    cache_dir=cache_dir, progress=progress, movie_ids=movie_ids)
        ft_keys = ("n_pairs", "cached", "steps", "train_seconds")
        embeddings[ft_label], info[ft_label] = e, _info(finetune_model, "study", t0, e.info, ft_keys)
        study_texts = movie_texts("study", data_dir)
        if movie_ids is not None:
            study_texts = study_texts[study_texts.index.isin(movie_ids)]
        pairs = cf_space_pairs(cold_train, n_pairs=cf_pairs, ease_lambda=ease_lambda, rng=seed)
        t0 = time.perf_counter()
        e, cf_info = cf_finetuned_embeddings(finetune_model, study_texts, text_key("study", study_texts), cold_train,
                                             pairs, finetune_config(cf_finetune, seed), cache_dir=cache_dir,
                                             progress=progress)
        embeddings[cf_label], info[cf_label] = e, _info(finetune_model, "study", t0, cf_info, ft_keys)
    return TextEmbeddings(embeddings, info, list(specs), ft_label, cf_label, pairs)


def ablation_text_sources(embeddings: Mapping, labels: Sequence[str], cf_finetune_per_split: bool, *,
                          finetune_model: str, cf_pairs: int, cf_finetune: Mapping, ease_lambda: float, seed: int,
                          data_dir=None, cache_dir=None, movie_ids=None, progress: bool = False) -> dict:
    """The texts §8 compares (label → embeddings): ``labels`` of ``embeddings`` and, with
    ``cf_finetune_per_split``, ``finetune_model`` fine-tuned on the CF pairs of **each training
    part it is fitted on** (:class:`~recutils.experiments.coldstart.CFFinetunedText`: per seed,
    and again on each validation carve-out), on the study text — the base vs fine-tune question
    on five splits instead of one (a single fine-tune on seed 42's training part would have seen
    the other seeds' cold movies' ratings)."""
    from ...datasets.text import movie_texts, text_key
    from ...embeddings import model_label
    from ..coldstart import CFFinetunedText

    missing = [lb for lb in labels if lb not in embeddings]
    if missing:
        raise RecutilsError(f"ablation_texts must be labels of text_embeddings: {missing}")
    out = {lb: embeddings[lb] for lb in labels}
    if cf_finetune_per_split:
        texts = movie_texts("study", data_dir)
        if movie_ids is not None:
            texts = texts[texts.index.isin(movie_ids)]
        out[f"{model_label(finetune_model, short=True)} fine-tuned per split, CF pairs · title+genres+tags"] = \
            CFFinetunedText(finetune_model, texts, text_key("study", texts), n_pairs=cf_pairs, ease_lambda=ease_lambda,
                            config=finetune_config(cf_finetune, seed), seed=seed, cache_dir=cache_dir, progress=progress)
    return out
