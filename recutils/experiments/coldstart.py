"""The cold-start study (notebook 06): validation carve-out of warm items, the comparison
table with paired bootstrap CIs and beyond-accuracy columns, CF-space fine-tuning pairs.

- :func:`warm_item_validation`: the cold-item protocol applied to a cold split's *training*
  part — a share of the **warm** items becomes pseudo-cold. Every weight, λ, epoch count and
  projection size is chosen there; the real cold items are never looked at.
- :func:`cold_table`: per scorer P / R / NDCG@k on the cold candidates, the paired bootstrap
  CI of NDCG@k against a reference scorer (same users), catalogue coverage of the cold
  candidates, the average popularity of what is recommended (share of users who rated the
  recommended cold movies in the held-out part: a scorer that surfaces only blockbusters shows
  a high value) and the exposure Gini.
- :func:`cf_space_pairs`: fine-tuning pairs whose aim is the CF space — each sampled warm
  movie with the warm movie that EASE's item–item weights find most predictive of it.
- :func:`cf_finetuned_embeddings`: a sentence-transformer fine-tuned on such pairs
  (:func:`recutils.embeddings.finetune.finetune`), embeddings cached like the study's fine-tune.
- :func:`search_text_embeddings`: embeddings of notebook 03's index text (title, genres, TMDB
  overview), reusing 03's cache entries (whichever backend 03 cached) when they exist.
- :func:`cold_multi_seed`: the cold-item comparison repeated over seeds (another 10 % of the
  movies held out on each), every grid chosen on that seed's own warm-item carve-out; returns a
  :class:`~recutils.experiments.seeds.MultiSeedResult` (t-intervals, pooled paired bootstrap).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd

from ..constants import COL_ITEM, K, SEED
from ..errors import RecutilsError
from ..evaluation import evaluate_ranking, paired_bootstrap_ci
from ..evaluation.beyond import average_popularity, exposure_gini
from ..splits import Split, cold_item_split

from .seeds import Scorer as ColdCandidate  # a cold scorer: make(**params) and the parameter sets tried

__all__ = ["CFFinetunedText", "ColdCandidate", "cold_protocol", "cf_finetuned_embeddings", "cf_space_pairs",
           "cold_multi_seed", "cold_table", "held_out_popularity", "search_text_embeddings", "warm_item_validation"]


def warm_item_validation(split: Split, share: float = 0.1, seed: int = SEED + 1) -> Split:
    """A cold-item split of ``split``'s training ratings: ``share`` of its (warm) items held out
    with all their ratings. ``split``'s own cold items (and its test part) are not in it at all."""
    base = split.train.drop(columns=["uidx", "iidx"])
    if base.empty:
        raise RecutilsError("warm_item_validation: the split has no training ratings")
    val = cold_item_split(base, share=share, rng=seed)
    val.name = f"{split.name}-validation"
    val.info = {**val.info, "parent": split.name, "seed": seed}
    return val


def held_out_popularity(split: Split) -> np.ndarray:
    """Per item: how many users rated it in the held-out (test) part — the popularity a cold
    movie turned out to have."""
    return np.bincount(split.test["iidx"].to_numpy(np.int64), minlength=split.n_items)


def cold_table(models: dict, split: Split, reference: str, k: int = K, n_boot: int = 2000,
               seed: int = 0, results: dict | None = None, own_reference: dict | None = None,
               candidates=None) -> tuple[list[dict], dict]:
    """Rows (one per model, in order) and the evaluation results, on the cold candidates.

    ``reference``: the label whose NDCG@k every other row's paired bootstrap CI is against
    (``ndcg_diff``, ``ci_low``, ``ci_high``). ``own_reference`` (optional): label → another
    label, a second CI per row (``own_diff``, ``own_low``, ``own_high``; e.g. metadata + text
    against metadata only within one model family). ``results`` (optional): already computed
    :class:`~recutils.evaluation.evaluator.EvalResult` per label (reused, not recomputed).
    ``candidates``: the items ranked (default: ``split.cold_items``; all items on a warm split,
    where the popularity column counts held-out ratings of every item).
    """
    if candidates is None:
        if not split.cold_items.any():
            raise RecutilsError(f"split {split.name!r} has no cold items")
        candidates = split.cold_items
    candidates = np.asarray(candidates, bool)
    results = dict(results or {})
    for label, m in models.items():
        if label not in results:
            results[label] = evaluate_ranking(m, split, k, candidates=candidates)
    if reference not in results:
        raise RecutilsError(f"reference {reference!r} is not among the models: {list(results)}")
    ref = results[reference]
    pop = held_out_popularity(split)
    rows = []
    for label, r in results.items():
        if not np.array_equal(r.users, ref.users):
            raise RecutilsError(f"{label!r} and {reference!r} were evaluated on different users")
        row = {"model": label, **{f"{x}@{k}": float(r.metrics[x]) for x in ("precision", "recall", "ndcg")}}
        if label == reference:
            row.update({"ndcg_diff": 0.0, "ci_low": None, "ci_high": None, "significant": None})
        else:
            ci = paired_bootstrap_ci(r.per_user["ndcg"], ref.per_user["ndcg"], n_boot=n_boot, rng=seed)
            row.update({"ndcg_diff": ci.mean_diff, "ci_low": ci.low, "ci_high": ci.high, "significant": ci.significant})
        other = (own_reference or {}).get(label)
        if other is not None and other != label:
            if other not in results:
                raise RecutilsError(f"own reference {other!r} of {label!r} is not among the models")
            ci = paired_bootstrap_ci(r.per_user["ndcg"], results[other].per_user["ndcg"], n_boot=n_boot, rng=seed)
            row.update({"own_reference": other, "own_diff": ci.mean_diff, "own_low": ci.low, "own_high": ci.high})
        row["coverage"] = float(r.metrics["coverage"])
        row["avg_popularity"] = float(np.mean(average_popularity(r.topk, pop, split.n_users))) if len(r.topk) else float("nan")
        row["gini"] = exposure_gini(r.topk, split.n_items, candidates)
        row["n_users"] = int(r.metrics["n_users"])
        rows.append(row)
    return rows, results


# --- fine-tuning pairs in the CF space ---------------------------------------------------------
def cf_space_pairs(split, n_pairs: int = 2000, min_ratings: int = 5, ease_lambda: float = 300.0,
                   rng: np.random.Generator | int = SEED) -> np.ndarray:
    """``(n, 2)`` item-index pairs ``(j, i)``: ``j`` a warm item with ≥ ``min_ratings`` training
    ratings (at most ``n_pairs`` of them, drawn without replacement), ``i`` the other warm item
    with the largest EASE weight ``B[i, j]`` (the item that best predicts ``j``), fitted on
    ``split``'s training part only. Unordered duplicates are dropped. Cold items (no training
    rating) never appear."""
    from ..models.baselines import EASE

    rng = np.random.default_rng(rng)
    counts = np.bincount(split.train["iidx"].to_numpy(np.int64), minlength=split.n_items)
    eligible = np.flatnonzero(counts >= min_ratings)
    if len(eligible) < 2:
        raise RecutilsError(f"cf_space_pairs: fewer than two items with ≥ {min_ratings} training ratings")
    anchors = np.sort(rng.choice(eligible, size=min(n_pairs, len(eligible)), replace=False))
    ease = EASE(lambda_=ease_lambda).fit(split)
    out = []
    for s in range(0, len(anchors), 512):
        j = anchors[s:s + 512]
        B = ease.item_weights(j)  # n_items × len(j)
        B[counts == 0, :] = -np.inf  # only warm partners
        B[j, np.arange(len(j))] = -np.inf
        out.append(np.stack([j, np.argmax(B, axis=0)], axis=1))
    pairs = np.concatenate(out).astype(np.int64)
    _, first = np.unique(np.sort(pairs, axis=1), axis=0, return_index=True)
    return pairs[np.sort(first)]


def cf_finetuned_embeddings(model_name: str, texts: pd.Series, text_key: str, split, pairs: np.ndarray,
                            config=None, cache_dir=None, batch_size: int = 64, progress: bool = False,
                            device: str = "cpu", use_cache: bool = True):
    """``(ItemEmbeddings, info)``: every text in ``texts`` (a Series indexed by movieId) embedded
    by ``model_name`` fine-tuned on the item-index ``pairs`` of ``split`` (e.g.
    :func:`cf_space_pairs`) with :class:`~recutils.embeddings.finetune.FinetuneConfig` ``config``.
    Cached under ``"<name>#cfft"`` and a key naming the texts, the exact pairs and the settings."""
    from ..config import validate_config
    from ..embeddings import ItemEmbeddings, cache_paths, cached_encode, model_label, normalize_rows, texts_sha256
    from ..embeddings.finetune import FinetuneConfig, finetune, finetune_key, load_for_finetuning, pair_texts
    from ..io import read_json, write_json

    config = validate_config(config or FinetuneConfig(), "fine-tuning")
    pairs = np.asarray(pairs, np.int64)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or len(pairs) == 0:
        raise RecutilsError("cf_finetuned_embeddings needs a non-empty (n, 2) array of item-index pairs")
    cold = np.asarray(getattr(split, "cold_items", np.zeros(split.n_items, bool)), bool)
    if cold[pairs].any():
        raise RecutilsError("fine-tuning pairs include a cold item: its text may not be trained on its ratings")
    key = "cf-" + finetune_key(text_key, pairs, np.asarray(split.items), config)
    name = f"{model_name}#cfft"
    tlist = [str(t) for t in texts]
    npy, meta = cache_paths(name, key, texts_sha256(tlist), True, cache_dir)
    record = npy.with_name(npy.stem + ".training.json")
    info = {"ft_key": key, "n_pairs": int(len(pairs)), "finetune": dataclasses.asdict(config)}
    M = None
    if use_cache and npy.is_file() and meta.is_file() and record.is_file():
        try:
            info.update(read_json(record))
            M = cached_encode(name, tlist, key, cache_dir=cache_dir)
            info["cached"] = True
        except (OSError, ValueError):
            M = None
    if M is None:
        for f in (npy, meta, record):
            f.unlink(missing_ok=True)
        model = load_for_finetuning(model_name, config, device)
        a, p = pair_texts(pairs, split, texts)
        info.update(finetune(model, a, p, config, progress=progress,
                             desc=f"fine-tune {model_label(model_name)} on CF pairs ({len(pairs)} pairs)"))
        t0 = time.perf_counter()
        M = cached_encode(name, tlist, key, cache_dir=cache_dir, model=model, batch_size=batch_size, progress=progress)
        info["encode_seconds"] = time.perf_counter() - t0
        info["cached"] = False
        write_json(record, {k: info[k] for k in ("steps", "train_seconds", "train_loss", "torch_threads") if k in info})
    return ItemEmbeddings(np.asarray(texts.index), normalize_rows(M), f"{model_name} (CF-pair fine-tuned)", info), info


class CFFinetunedText:
    """Text embeddings learned from the training data they are used with: ``provider(train)``
    fine-tunes ``model_name`` on :func:`cf_space_pairs` of ``train`` (only its warm items: a
    validation carve-out's pseudo-cold items and a split's cold items never appear) and embeds
    ``texts`` with it (:func:`cf_finetuned_embeddings`, cached on disk by the exact pairs).

    Given as ``embeddings`` to :class:`~recutils.models.coldstart.ContentToCF` (or a cold blend),
    it is called with the training data of every fit — so on each seed of a five-split
    comparison the fine-tune is redone on that seed's training part, and a validation fit uses
    one made without the validation items' ratings. Results are kept per training-data content
    in the process (a grid refits nothing)."""

    def __init__(self, model_name: str, texts: pd.Series, text_key: str, n_pairs: int = 2000,
                 ease_lambda: float = 300.0, config=None, seed: int = SEED, cache_dir=None, progress: bool = False):
        self.model_name, self.texts, self.text_key = model_name, texts, text_key
        self.n_pairs, self.ease_lambda, self.config, self.seed = int(n_pairs), float(ease_lambda), config, int(seed)
        self.cache_dir, self.progress = cache_dir, progress
        self.fits = 0  #: fine-tunes resolved (from the disk cache or trained) in this process
        self._memo: dict = {}

    def __call__(self, train):
        from .fit_cache import split_digest

        key = split_digest(train)
        if key not in self._memo:
            pairs = cf_space_pairs(train, n_pairs=self.n_pairs, ease_lambda=self.ease_lambda, rng=self.seed)
            self._memo[key] = cf_finetuned_embeddings(self.model_name, self.texts, self.text_key, train, pairs,
                                                      self.config, cache_dir=self.cache_dir, progress=self.progress)[0]
            self.fits += 1
        return self._memo[key]


def search_text_embeddings(model_name: str, data_dir=None, cache_dir=None, movie_ids=None,
                           backends=("onnx-int8", "torch"), batch_size: int = 64, progress: bool = False):
    """Embeddings of notebook 03's index text (title, genres, TMDB overview; no tags) for every
    movie (or ``movie_ids``), as :class:`~recutils.embeddings.ItemEmbeddings`.

    The texts, their order and the key are 03's, so its cache entries are reused: the first of
    ``backends`` with an entry is read; without any, the **last** backend encodes (and caches).
    ``info["backend"]`` says which one was used.
    """
    from ..datasets import movie_table
    from ..embeddings import ItemEmbeddings, cache_paths, cached_encode, normalize_rows, texts_sha256
    from ..search.base import SEARCH_TEXT, corpus_texts
    from ..search.relevance import most_tagged

    movies = most_tagged(movie_table(data_dir), 0)
    if movie_ids is not None:
        movies = movies[movies[COL_ITEM].isin(np.asarray(movie_ids))].reset_index(drop=True)
    texts = corpus_texts(movies, SEARCH_TEXT)
    h = texts_sha256([str(t) for t in texts])
    chosen = next((b for b in backends if cache_paths(model_name, SEARCH_TEXT.key, h, True, cache_dir, b)[0].is_file()),
                  backends[-1])
    t0 = time.perf_counter()
    M = cached_encode(model_name, texts, SEARCH_TEXT.key, cache_dir=cache_dir, batch_size=batch_size,
                      progress=progress, backend=chosen)
    info = {"embedding_model": model_name, "text": SEARCH_TEXT.key, "backend": chosen, "n_items": len(texts),
            "embed_seconds": time.perf_counter() - t0}
    return ItemEmbeddings(movies[COL_ITEM].to_numpy(), normalize_rows(M), model_name, info)


def cold_protocol(ratings: pd.DataFrame, cold_share: float = 0.1, val_share: float = 0.1):
    """The cold-item protocol as a :class:`~recutils.experiments.seeds.SplitProtocol`: per seed
    ``cold_item_split(ratings, cold_share, rng=seed)``, validated on its warm-item carve-out
    (:func:`warm_item_validation` with seed + 1)."""
    from .seeds import SplitProtocol

    return SplitProtocol(lambda seed: cold_item_split(ratings, share=cold_share, rng=seed),
                         lambda split, seed: warm_item_validation(split, share=val_share, seed=seed + 1),
                         name="cold splits")


def cold_multi_seed(ratings: pd.DataFrame, seeds, candidates: dict, k: int = K, cold_share: float = 0.1,
                    val_share: float = 0.1, progress: bool = False, workers: int = 1, on_run=None, groups=None):
    """The cold-item comparison on ``cold_item_split(ratings, cold_share, rng=seed)`` for each
    seed: :func:`~recutils.experiments.seeds.multi_seed` with :func:`cold_protocol`. Per seed
    and candidate (a :class:`ColdCandidate`, i.e. a :class:`~recutils.experiments.seeds.Scorer`),
    every grid entry is fitted on the warm-item carve-out and scored by NDCG@k over its
    pseudo-cold items; the best is refitted on the cold split's training part and evaluated on
    its cold items. The cold test items never reach a fit or a choice.

    Returns a :class:`~recutils.experiments.seeds.MultiSeedResult`: ``table()`` gives means and
    t-intervals over seeds, ``compare(a, b, "ndcg")`` the paired bootstrap pooled over seeds.
    ``workers`` / ``on_run`` / ``groups``: as :func:`~recutils.experiments.seeds.multi_seed`'s.
    """
    from .seeds import multi_seed

    if not candidates:
        raise RecutilsError("no candidate scorers")
    for label, c in candidates.items():
        if not isinstance(c, ColdCandidate) or not len(c.grid):
            raise RecutilsError(f"candidate {label!r} must be a ColdCandidate with at least one parameter set")
    return multi_seed(cold_protocol(ratings, cold_share, val_share), seeds, candidates, k=k, metric="ndcg",
                      progress=progress, workers=workers, on_run=on_run, groups=groups)
