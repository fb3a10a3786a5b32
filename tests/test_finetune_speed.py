"""Fine-tuning: the faster path trains the same model (same batches, same maths, float rounding
only), reports its steps through recutils.progress, and a fine-tune is reused whatever the
thread count. On a tiny BERT (dropout on, as in MiniLM) built offline."""

from __future__ import annotations

import dataclasses
import importlib
import json

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")

from recutils import progress  # noqa: E402
ft = importlib.import_module("recutils.embeddings.finetune")  # the package exports a function of that name
from recutils.embeddings.finetune import FinetuneConfig  # noqa: E402
from recutils.torch_threads import torch_threads  # noqa: E402

WORDS = ("toy story animation pixar jumanji adventure board game heat crime thriller grumpier old men "
         "comedy the matrix sci-fi alien horror space casino sabrina romance fun magic robots war drama "
         "western noir musical documentary children fantasy mystery").split()


def _text(i: int, rng) -> str:
    """Texts of very different lengths, so that length buckets trim different widths."""
    n = int(rng.integers(1, 4)) if i % 5 else int(rng.integers(12, 30))
    return " ".join(rng.choice(WORDS, n))


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A 2-layer BERT (hidden 32, dropout 0.1 like MiniLM) with a word-level tokenizer, saved as a
    plain transformers folder (sentence-transformers adds mean pooling)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    d = tmp_path_factory.mktemp("tiny-bert")
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, **{w: i + 4 for i, w in enumerate(dict.fromkeys(WORDS))}}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                  sep_token="[SEP]", model_max_length=64)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=2, max_position_embeddings=64, hidden_dropout_prob=0.1,
                     attention_probs_dropout_prob=0.1, pad_token_id=0)
    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    return str(d)


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    texts = [_text(i, rng) for i in range(96)]
    return texts[:48], texts[48:]


def _model(path):
    from recutils.embeddings import load_model

    return load_model(path)


CFG = FinetuneConfig(epochs=2, batch_size=8, learning_rate=1e-3, length_buckets=2)


def _run(path, pairs, config=CFG, threads=1, **kw):
    """Fine-tune a fresh copy; (per-step losses, final weights, info)."""
    model = _model(path)
    losses = []

    def hook(forward):
        def f(*a, **k):
            out = forward(*a, **k)
            losses.append(float(out.detach()))
            return out
        return f

    with torch_threads(threads):
        info = ft._train(model, *pairs, config, loss_hook=hook, **kw)
    return np.array(losses), {k: v.detach().clone() for k, v in model.state_dict().items()}, info


def _max_weight_diff(a, b):
    return max(float((a[k] - b[k]).abs().max()) for k in a)


# --- the same training, faster ---------------------------------------------------------------
def test_sparse_embedding_grads_train_the_same_model(tiny_bert, pairs, monkeypatch):
    densified = []
    real = ft._densify_grad
    monkeypatch.setattr(ft, "_densify_grad", lambda p: densified.append(p.grad.is_sparse) or real(p))
    old_losses, old_w, old = _run(tiny_bert, pairs, sparse_grads=False)
    assert densified == []
    new_losses, new_w, new = _run(tiny_bert, pairs, sparse_grads=True)
    # the word, position and token-type tables came in sparse, every step (12 steps: 48 pairs / 8, 2 epochs)
    assert new["steps"] == old["steps"] == 12 and len(densified) == 3 * 12 and all(densified)
    assert len(new_losses) == len(old_losses) == 12
    np.testing.assert_allclose(new_losses, old_losses, rtol=1e-5, atol=1e-6)
    assert new["train_loss"] == pytest.approx(old["train_loss"], rel=1e-6)
    assert _max_weight_diff(new_w, old_w) < 1e-4
    # the check can fail: other batches (another seed; dropout masks move with them) train another model
    other_losses, other_w, _ = _run(tiny_bert, pairs, dataclasses.replace(CFG, seed=7), sparse_grads=True)
    assert np.abs(other_losses - old_losses).max() > 1e-2 and _max_weight_diff(other_w, old_w) > 1e-3
    # and so can other maths (AdamW with another learning rate)
    lr_losses, _, _ = _run(tiny_bert, pairs, dataclasses.replace(CFG, learning_rate=2e-3), sparse_grads=True)
    assert np.abs(lr_losses - old_losses).max() > 1e-3


def test_embedding_modules_are_restored(tiny_bert, pairs):
    model = _model(tiny_bert)
    with torch_threads(1):
        ft._train(model, pairs[0][:16], pairs[1][:16], dataclasses.replace(CFG, epochs=1))
    embs = [m for m in model.modules() if isinstance(m, torch.nn.Embedding)]
    assert embs and not any(m.sparse for m in embs)
    assert not any(getattr(m.weight, "_post_accumulate_grad_hooks", None) for m in embs)
    assert all(m.weight.grad is None or not m.weight.grad.is_sparse for m in embs)


def test_thread_count_changes_rounding_only(tiny_bert, pairs):
    few = (pairs[0][:24], pairs[1][:24])  # 6 steps: two threads crawl on a busy machine
    one, w1, info1 = _run(tiny_bert, few, threads=1)
    two, w2, info2 = _run(tiny_bert, few, threads=2)
    assert info1["torch_threads"] == [1] and info2["torch_threads"] == [2]
    np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-6)
    assert _max_weight_diff(w1, w2) < 1e-4


# --- progress --------------------------------------------------------------------------------
def test_steps_report_progress_events_and_nothing_on_screen(tiny_bert, pairs, tmp_path, monkeypatch, capsys):
    f = tmp_path / "events.jsonl"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(f))
    monkeypatch.setattr(progress, "MIN_INTERVAL", 0.0)  # every update is written
    capsys.readouterr()
    with torch_threads(1):
        info = ft.finetune(_model(tiny_bert), *pairs, CFG, progress=False, desc="fine-tune tiny")
    out = capsys.readouterr()
    assert "steps" not in out.out + out.err and "\r" not in out.err and "train_runtime" not in out.out
    events = [e for e in progress.read_events(f)[0] if e["desc"] == "fine-tune tiny"]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("update") == info["steps"] == 12
    assert events[0]["total"] == 12 and events[0]["unit"] == "steps"
    assert [e["n"] for e in events if e["event"] == "update"] == list(range(1, 13))
    assert events[-1]["ok"] is True and events[-1]["n"] == 12


def test_failed_fine_tune_ends_its_task_not_ok(tiny_bert, pairs, tmp_path, monkeypatch):
    f = tmp_path / "events.jsonl"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(f))
    calls = []

    def boom(forward):
        def g(*a, **k):
            calls.append(1)
            if len(calls) == 3:
                raise RuntimeError("boom")
            return forward(*a, **k)
        return g

    with pytest.raises(RuntimeError, match="boom"), torch_threads(1):
        ft._train(_model(tiny_bert), *pairs, CFG, desc="failing", loss_hook=boom)
    events = [e for e in progress.read_events(f)[0] if e["desc"] == "failing"]
    assert events[0]["event"] == "start" and events[-1]["event"] == "end" and events[-1]["ok"] is False
    assert events[-1]["n"] == 2


# --- reuse whatever the thread count --------------------------------------------------------
def test_cache_key_ignores_threads_and_a_second_caller_hits(tiny_bert, toy_ratings, tmp_path, monkeypatch):
    from recutils.embeddings.finetune import finetune_key, finetuned_item_embeddings, mine_pairs
    from recutils.splits import make_split

    split = make_split("toy", toy_ratings, toy_ratings.iloc[:0])
    rng = np.random.default_rng(1)
    texts = pd.Series([_text(i, rng) for i in range(len(split.items))], index=pd.Index(split.items, name="movieId"))
    cfg = FinetuneConfig(epochs=1, batch_size=4, learning_rate=1e-3, length_buckets=2)
    p = mine_pairs(split, cfg.pairs_per_user, cfg.max_pairs, cfg.threshold, np.random.default_rng(cfg.seed))
    key = finetune_key("toytext", p, split.items, cfg)
    trained = []
    real = ft.finetune
    monkeypatch.setattr(ft, "finetune", lambda *a, **k: trained.append(1) or real(*a, **k))
    with torch_threads(1):
        M1, info1 = finetuned_item_embeddings(tiny_bert, texts, "toytext", split, cfg, cache_dir=tmp_path)
    assert not info1["cached"] and info1["ft_key"] == key and info1["torch_threads"] == [1] and trained == [1]
    with torch_threads(2):  # another run, other threads: the same fine-tune, reused
        M2, info2 = finetuned_item_embeddings(tiny_bert, texts, "toytext", split, cfg, cache_dir=tmp_path)
    assert info2["cached"] and info2["ft_key"] == key and trained == [1]
    np.testing.assert_array_equal(M1, M2)
    # a hit reports what the training run did, thread count included
    assert {k: info2[k] for k in ("steps", "train_loss", "torch_threads")} == \
        {k: info1[k] for k in ("steps", "train_loss", "torch_threads")}
    record = next(tmp_path.rglob("*.training.json"))
    assert json.loads(record.read_text())["torch_threads"] == [1]
    # "auto" is a thread count like any other: same key, a hit
    with torch_threads("auto"):
        _, info3 = finetuned_item_embeddings(tiny_bert, texts, "toytext", split, cfg, cache_dir=tmp_path)
    assert info3["cached"] and trained == [1]
    # the key is the texts, the pairs and the settings: another setting is another fine-tune
    assert finetune_key("toytext", p, split.items, dataclasses.replace(cfg, epochs=2)) != key


def test_a_second_notebook_gets_the_cached_fine_tune(tiny_bert, toy_ratings, data_dir, tmp_path, monkeypatch):
    """Notebook 05 embeds through compute_item_embeddings; another caller asking for the same
    fine-tune — here a Content model with its own thread setting — gets the cached embeddings."""
    from recutils.embeddings.items import compute_item_embeddings
    from recutils.models.content import Content
    from recutils.splits import make_split

    monkeypatch.setenv("RECUTILS_CACHE_DIR", str(tmp_path))
    split = make_split("toy", toy_ratings, toy_ratings.iloc[:0])
    cfg = FinetuneConfig(epochs=1, batch_size=4, learning_rate=1e-3, length_buckets=2)
    with torch_threads(1):
        first = compute_item_embeddings(tiny_bert, "study", finetune_split=split, finetune_config=cfg,
                                        data_dir=data_dir)
    assert not first.info["cached"]
    trained = []
    monkeypatch.setattr(ft, "finetune", lambda *a, **k: trained.append(1))
    content = Content(embedding_model=tiny_bert, finetune=cfg, num_threads=2, data_dir=data_dir).fit(split)
    again = content.embeddings
    assert again.info["cached"] and again.info["ft_key"] == first.info["ft_key"] and not trained
    np.testing.assert_array_equal(again.matrix, first.matrix)
