"""Fine-tuning a sentence-transformer on "liked by the same user" movie pairs (the hybrid study).

- :func:`mine_pairs`: from a split's **train** part, for each user the movies they rated
  ≥ ``threshold``; every unordered pair of them is a positive pair; at most ``pairs_per_user``
  pairs per user (sampled without replacement when there are more) and at most ``max_pairs``
  in all (sampled again). Seeded with a numpy ``Generator``.
- :func:`finetune`: ``MultipleNegativesRankingLoss`` (in-batch negatives) with the
  sentence-transformers ``SentenceTransformerTrainer`` on a ``datasets.Dataset`` of
  ``(anchor, positive)`` texts. Defaults mirror the study's ``model.fit`` call
  (batch 16, 2 epochs, AdamW lr 2e-5, weight decay 0.01, linear decay, no warm-up).
  With ``lora`` a LoRA adapter (:mod:`recutils.embeddings.qwen`) is trained instead of all weights.
- :func:`finetuned_item_embeddings`: mine → fine-tune → embed every movie, cached on disk under
  a key naming the texts, the pairs and the settings (a cache hit trains nothing). The thread
  count is not a setting of the result: it is not in the key, so a run with other threads
  reuses the entry.
- Speed without other results: the steps run with the torch threads of the caller's block
  (``torch_threads("auto")`` follows the free cores, :mod:`recutils.torch_threads`) and
  embedding tables get sparse gradients made dense once per step (the same AdamW maths); the
  steps report through :func:`recutils.progress.task`. :func:`recutils.bench.finetune.bench_finetune` measures steps/s
  per variant and thread count on the study's real pairs, and where a step's time goes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import param, validate_config
from ..constants import COL_RATING, RELEVANCE_THRESHOLD, SEED
from ..errors import RecutilsError
from ..io import read_json, write_json


@dataclass
class FinetuneConfig:
    """Pair mining and training settings (defaults: the study's); the one place fine-tuning is
    configured — a content model nests it (``ContentConfig.finetune``)."""

    epochs: float = param(2, gt=0)
    pairs_per_user: int = param(10, ge=1)
    max_pairs: int = param(10_000, ge=1)
    batch_size: int = param(16, ge=2)  #: in-batch negatives need at least one other pair
    learning_rate: float = param(2e-5, gt=0)
    weight_decay: float = param(0.01, ge=0)
    warmup_ratio: float = param(0.0, ge=0, lt=1)
    threshold: float = param(RELEVANCE_THRESHOLD, ge=0)  #: both movies rated ≥ this make a positive pair
    no_duplicates: bool = False  #: batches without repeated texts (the study: plain shuffled batches)
    length_buckets: int = param(4, ge=0)  #: embed each batch column in sub-batches of this many length-sorted texts (0: off)
    bf16: bool = False  #: bfloat16 autocast while training (faster on CPUs with AVX512-BF16; not the study)
    lora: bool = False  #: train a LoRA adapter (r=16, α=32, q/v projections) instead of all weights
    load_in_4bit: bool = False  #: bitsandbytes NF4 base weights (QLoRA; needs lora)
    dtype: str = param("float32", choices=("float32", "float16", "bfloat16"))  #: weights dtype for Qwen models (the study: float16 on GPU)
    seed: int = param(SEED, ge=0)


# --- pair mining ----------------------------------------------------------------------------
def _unrank_pairs(k: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Combination index ``k`` (lexicographic order of ``itertools.combinations(range(n), 2)``) → (i, j)."""
    i_all = np.arange(n - 1)
    offsets = i_all * n - i_all * (i_all + 1) // 2  # index of (i, i+1)
    i = np.searchsorted(offsets, k, side="right") - 1
    j = k - offsets[i] + i + 1
    return i, j


def mine_pairs(split, pairs_per_user: int = 10, max_pairs: int = 10_000,
               threshold: float = RELEVANCE_THRESHOLD, rng: np.random.Generator | int = SEED) -> np.ndarray:
    """Positive pairs of item **indices** ``(n, 2)`` from ``split.train`` (see module docstring).

    Users are visited in index order, each user's liked items in their train-row order, pairs in
    ``itertools.combinations`` order; a user with more than ``pairs_per_user`` pairs contributes
    a uniform sample of them (drawn by unranking sampled combination indices: no pair list is built).
    """
    if pairs_per_user <= 0 or max_pairs <= 0:
        raise RecutilsError("pairs_per_user and max_pairs must be positive")
    rng = np.random.default_rng(rng)
    tr = split.train
    liked = tr[tr[COL_RATING] >= threshold]
    u = liked["uidx"].to_numpy()
    order = np.argsort(u, kind="stable")
    u, items = u[order], liked["iidx"].to_numpy()[order]
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]]) if len(u) else np.zeros(0, int)
    sizes = np.diff(np.r_[starts, len(u)])
    out = []
    for s, n in zip(starts, sizes):
        if n < 2:
            continue
        total = n * (n - 1) // 2
        k = np.arange(total) if total <= pairs_per_user else np.sort(rng.choice(total, pairs_per_user, replace=False))
        i, j = _unrank_pairs(k, n)
        out.append(np.stack([items[s + i], items[s + j]], axis=1))
    pairs = np.concatenate(out) if out else np.zeros((0, 2), dtype=np.int64)
    if len(pairs) > max_pairs:
        pairs = pairs[np.sort(rng.choice(len(pairs), max_pairs, replace=False))]
    return pairs.astype(np.int64)


def pair_texts(pairs: np.ndarray, split, texts) -> tuple[list[str], list[str]]:
    """Anchor / positive texts of item-index pairs (``texts``: a Series indexed by movieId)."""
    ids = split.items[pairs]
    lookup = texts.reindex(ids.ravel())
    if lookup.isna().any():
        missing = ids.ravel()[lookup.isna().to_numpy()][:5]
        raise RecutilsError(f"no text for movies {missing.tolist()} (and maybe more)")
    vals = lookup.to_numpy().reshape(ids.shape)
    return list(vals[:, 0]), list(vals[:, 1])


# --- training --------------------------------------------------------------------------------
def _bucketed_loss(model, bucket: int):
    """``MultipleNegativesRankingLoss`` whose forward embeds each column in sub-batches of ``bucket``
    texts sorted by length, each trimmed to its own longest text.

    The batches, the in-batch negatives and the loss are unchanged; only padding is saved (a
    single long text no longer pads the 31 others of a batch to 256 tokens). For an encoder with
    absolute positions and an attention mask (MiniLM, BERT) each text's embedding is the same
    as in the padded batch up to float rounding.
    """
    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    class BucketedMNRL(MultipleNegativesRankingLoss):
        def forward(self, sentence_features, labels):
            return self.compute_loss_from_embeddings([self._embed(f) for f in sentence_features], labels)

        def _embed(self, features):
            mask = features.get("attention_mask")
            if not isinstance(mask, torch.Tensor) or mask.dim() != 2 or mask.shape[0] <= bucket:
                return self.model(features)["sentence_embedding"]
            n, width = mask.shape
            order = torch.argsort(mask.sum(1), stable=True)
            parts = []
            for i in range(0, n, bucket):
                idx = order[i:i + bucket]
                keep = mask[idx].bool().any(0)  # the columns any of these texts uses (either padding side)
                sub = {}
                for key, v in features.items():
                    if isinstance(v, torch.Tensor) and v.dim() >= 1 and v.shape[0] == n:
                        v = v[idx]
                        if v.dim() >= 2 and v.shape[1] == width:
                            v = v[:, keep]
                    sub[key] = v
                parts.append(self.model(sub)["sentence_embedding"])
            emb = torch.cat(parts)
            return emb[torch.argsort(order)]

    return BucketedMNRL(model)


class _Quiet:
    """Silence the trainer's info-level chatter (not warnings) while training."""

    def __enter__(self):
        self._levels = {}
        for name in ("transformers.trainer", "sentence_transformers", "transformers.training_args"):
            lg = logging.getLogger(name)
            self._levels[name] = lg.level
            lg.setLevel(logging.WARNING)
        return self

    def __exit__(self, *exc):
        for name, lvl in self._levels.items():
            logging.getLogger(name).setLevel(lvl)


@contextlib.contextmanager
def _sparse_embedding_grads(model, enabled: bool = True):
    """Embedding tables' gradients built sparse during the backward pass, made dense once per step.

    The loss embeds a batch in several forward calls (two columns × length buckets); with dense
    gradients every call's backward zero-fills a full ``vocab × dim`` gradient (30,522 × 384
    floats for MiniLM: 47 MB) and the engine adds them up — 16 % of a step's CPU time in a
    ``torch.profiler`` run; measured without the profiler, a step takes ~10 % less. Built sparse,
    they are concatenated instead, and a hook turns the sum into one dense gradient as soon as
    it is accumulated, before clipping and the optimizer: AdamW sees the same dense gradient (the
    same sums, added in another order: float rounding), so its maths — momentum and weight decay
    on every row — are unchanged. Frozen tables (LoRA) are left alone.
    """
    import torch

    mods = [m for m in model.modules() if isinstance(m, torch.nn.Embedding) and not m.sparse
            and m.weight.requires_grad] if enabled else []
    handles = []
    try:
        for m in mods:
            m.sparse = True
            handles.append(m.weight.register_post_accumulate_grad_hook(_densify_grad))
        yield len(mods)
    finally:
        for h in handles:
            h.remove()
        for m in mods:
            m.sparse = False


def _densify_grad(p) -> None:
    if p.grad is not None and p.grad.is_sparse:
        p.grad = p.grad.to_dense()


def _step_callback(desc: str, show: bool):
    """A ``TrainerCallback``: a :func:`recutils.progress.task` over the optimizer steps (its
    total from the trainer), the "auto" thread re-check (:func:`~recutils.torch_threads.adapt_threads`)
    and the thread counts the steps ran with (``.threads``)."""
    from transformers import TrainerCallback

    from ..progress import Task
    from ..torch_threads import adapt_threads

    class StepCallback(TrainerCallback):
        def __init__(self):
            self.task = None
            self.threads: list[int] = []

        def _note_threads(self):
            import torch

            n = torch.get_num_threads()
            if n not in self.threads:
                self.threads.append(n)

        def on_train_begin(self, args, state, control, **kwargs):
            self.task = Task(desc, total=state.max_steps, unit="steps", show=show)
            self._note_threads()

        def on_step_end(self, args, state, control, **kwargs):
            if self.task is not None:
                self.task.update(1)
            adapt_threads()
            self._note_threads()

        def close(self, ok: bool):
            if self.task is not None:
                self.task.close(ok)

    return StepCallback()


def _train(model, anchors: list[str], positives: list[str], config: FinetuneConfig, progress: bool = False,
           output_dir: str | None = None, desc: str = "fine-tune", sparse_grads: bool = True,
           max_steps: int | None = None, callbacks=(), loss_hook=None) -> dict:
    """:func:`finetune`'s body, with the knobs :func:`recutils.bench.finetune.bench_finetune` and the tests use:
    ``sparse_grads`` (:func:`_sparse_embedding_grads`), ``max_steps`` (stop early: the first
    batches of the real run, under a schedule for that many steps), more trainer ``callbacks``
    and ``loss_hook`` (wraps the loss module's ``forward``)."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers.trainer_callback import PrinterCallback

    ds = Dataset.from_dict({"anchor": list(anchors), "positive": list(positives)})
    loss = _bucketed_loss(model, config.length_buckets) if config.length_buckets > 0 else MultipleNegativesRankingLoss(model)
    if loss_hook is not None:
        loss.forward = loss_hook(loss.forward)
    steps = _step_callback(desc, progress)
    with tempfile.TemporaryDirectory(prefix="recutils-ft-") as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=output_dir or tmp,
            num_train_epochs=config.epochs,
            max_steps=-1 if max_steps is None else int(max_steps),
            per_device_train_batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            weight_decay=config.weight_decay,
            warmup_steps=float(config.warmup_ratio),  # a float < 1 is a ratio (transformers 5)
            lr_scheduler_type="linear",
            seed=config.seed,
            data_seed=config.seed,
            batch_sampler=BatchSamplers.NO_DUPLICATES if config.no_duplicates else BatchSamplers.BATCH_SAMPLER,
            save_strategy="no",
            logging_strategy="no",
            report_to="none",
            disable_tqdm=True,  # the progress task draws the bar (and writes the events)
            use_cpu=str(model.device) == "cpu",
            bf16=config.bf16,
            dataloader_num_workers=0,
        )
        if not progress and not model.model_card_data.widget:
            # the model card's widget examples are otherwise computed under a progress bar
            model.model_card_data.widget = [{"text": anchors[0]}]
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=ds, loss=loss,
                                             callbacks=[steps, *callbacks])
        trainer.remove_callback(PrinterCallback)  # prints the final metrics dict otherwise
        t0 = time.perf_counter()
        try:
            with _Quiet(), _sparse_embedding_grads(model, sparse_grads):
                out = trainer.train()
        except BaseException:
            steps.close(ok=False)
            raise
        secs = time.perf_counter() - t0
        steps.close(ok=True)
    model.eval()
    return {"n_pairs": len(anchors), "steps": int(out.global_step), "train_seconds": secs,
            "train_loss": float(out.training_loss), "torch_threads": steps.threads}


def finetune(model, anchors: list[str], positives: list[str], config: FinetuneConfig | None = None,
             progress: bool = False, output_dir: str | None = None, desc: str = "fine-tune") -> dict:
    """Train ``model`` in place with ``MultipleNegativesRankingLoss`` on (anchor, positive) texts.

    Returns ``{"n_pairs", "steps", "train_seconds", "train_loss", "torch_threads"}``
    (``torch_threads``: the thread counts the steps ran with, in order of first use — one unless
    an "auto" block moved it). Nothing is written to disk unless ``output_dir`` is given
    (checkpoints are off; the trainer needs a folder, a temporary one is used).

    The steps report through :func:`recutils.progress.task` (``desc``; a bar only with
    ``progress``). Inside ``torch_threads("auto")`` the thread count follows the free cores
    (:func:`recutils.torch_threads.adapt_threads`, every few seconds): speed, not results, depends
    on it. Embedding tables get their gradient sparse, then dense once per step
    (:func:`_sparse_embedding_grads`): the same optimizer maths, less time.
    """
    config = validate_config(config or FinetuneConfig(), "fine-tuning")
    if len(anchors) != len(positives) or not anchors:
        raise RecutilsError("fine-tuning needs a non-empty list of (anchor, positive) pairs")
    if config.lora and not model.has_peft_compatible_model():
        raise RecutilsError("LoRA fine-tuning needs a model with a transformers Transformer module")
    return _train(model, anchors, positives, config, progress=progress, output_dir=output_dir, desc=desc)


def load_for_finetuning(model_name: str, config: FinetuneConfig, device: str = "cpu"):
    """The model to fine-tune: Qwen models through :func:`~recutils.embeddings.qwen.load_qwen`
    (LoRA / 4-bit as configured), others through :func:`~recutils.embeddings.load_model`."""
    from . import load_model
    from .qwen import add_lora, is_qwen, load_qwen

    if config.load_in_4bit and not config.lora:
        raise RecutilsError("load_in_4bit needs lora=True: 4-bit base weights cannot be trained directly")
    if is_qwen(model_name):
        model = load_qwen(model_name, device=device, dtype=config.dtype, load_in_4bit=config.load_in_4bit)
    else:
        if config.load_in_4bit:
            raise RecutilsError("4-bit loading is only wired for Qwen models")
        model = load_model(model_name, device=device)
    if config.lora:
        add_lora(model)
    return model


def finetune_key(text_key: str, pairs: np.ndarray, items: np.ndarray, config: FinetuneConfig) -> str:
    """Cache key of a fine-tuned embedding: texts, the exact pairs (as movie ids) and the settings."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(items[pairs], dtype=np.int64).tobytes())
    h.update(json.dumps(dataclasses.asdict(config), sort_keys=True).encode())
    return f"{text_key}-ft-{h.hexdigest()[:12]}"


def finetuned_item_embeddings(model_name: str, texts, text_key: str, split, config: FinetuneConfig | None = None,
                              cache_dir=None, batch_size: int = 64, progress: bool = False, device: str = "cpu",
                              use_cache: bool = True, save_model_dir: str | Path | None = None):
    """Embeddings of every text in ``texts`` (Series indexed by movieId) by ``model_name``
    fine-tuned on pairs mined from ``split.train``; returns ``(matrix, info)``.

    Cached like :func:`~recutils.embeddings.cached_encode` under model ``"<name>#ft"`` and
    :func:`finetune_key`; ``use_cache=False`` retrains and overwrites. ``save_model_dir`` also
    saves the fine-tuned model there (the adapter only for LoRA; safetensors).
    """
    from . import cache_paths, cached_encode, model_label, texts_sha256
    from .qwen import save_adapter

    config = validate_config(config or FinetuneConfig(), "fine-tuning")
    rng = np.random.default_rng(config.seed)
    pairs = mine_pairs(split, config.pairs_per_user, config.max_pairs, config.threshold, rng)
    if len(pairs) == 0:
        raise RecutilsError("no positive pairs to fine-tune on: no user liked two training movies")
    key = finetune_key(text_key, pairs, split.items, config)
    ft_name = f"{model_name}#ft"
    tlist = [str(t) for t in texts]
    npy, meta = cache_paths(ft_name, key, texts_sha256(tlist), True, cache_dir)
    info = {"ft_key": key, "n_pairs": int(len(pairs)), "finetune": dataclasses.asdict(config)}
    # what training reported (steps, loss, seconds), kept beside the cached embeddings so that a
    # cache hit reports the same numbers as the run that trained (an entry without it is redone)
    record = npy.with_name(npy.stem + ".training.json")
    if use_cache and npy.is_file() and meta.is_file() and record.is_file():
        try:
            trained = read_json(record)
        except (OSError, ValueError):
            trained = None
        if isinstance(trained, dict):
            info.update(trained)
            info["cached"] = True
            return cached_encode(ft_name, tlist, key, cache_dir=cache_dir), info
    for f in (npy, meta, record):
        f.unlink(missing_ok=True)
    model = load_for_finetuning(model_name, config, device)
    a, p = pair_texts(pairs, split, texts)
    info.update(finetune(model, a, p, config, progress=progress,
                         desc=f"fine-tune {model_label(model_name)} ({len(pairs)} pairs)"))
    info["cached"] = False
    if save_model_dir is not None:
        if config.lora:
            save_adapter(model, save_model_dir)
        else:
            model.save(str(save_model_dir), safe_serialization=True)
    t0 = time.perf_counter()
    M = cached_encode(ft_name, tlist, key, cache_dir=cache_dir, model=model, batch_size=batch_size, progress=progress)
    info["encode_seconds"] = time.perf_counter() - t0
    write_json(record, {k: info[k] for k in ("steps", "train_seconds", "train_loss", "torch_threads") if k in info})
    return M, info
