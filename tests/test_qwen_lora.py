"""Qwen3-Embedding code path on a tiny Qwen3-architecture model built offline: last-token
pooling, LoRA via ``add_adapter``, adapter save/reload, NF4 (bitsandbytes 4-bit) on CPU."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

WORDS = ("toy story animation pixar jumanji adventure board game heat crime thriller grumpier old men "
         "comedy the matrix sci-fi alien horror space casino sabrina romance fun magic robots").split()
TEXTS = ["toy story animation pixar", "jumanji adventure board game", "heat crime thriller",
         "grumpier old men comedy", "the matrix sci-fi", "alien horror space", "casino crime",
         "sabrina romance comedy"]


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory):
    """A 2-layer Qwen3 model (hidden 64: bitsandbytes' CPU 4-bit blocks need ≥ 64 inputs) with a
    word-level tokenizer, saved as a plain transformers folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3Model

    d = tmp_path_factory.mktemp("tiny-qwen3")
    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(dict.fromkeys(WORDS))}}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="[PAD]", unk_token="[UNK]")
    cfg = Qwen3Config(vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=64,
                      pad_token_id=0)
    torch.manual_seed(0)
    Qwen3Model(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    return str(d)


def _ft(lora=True, load_in_4bit=False):
    from recutils.embeddings.finetune import FinetuneConfig

    return FinetuneConfig(epochs=1, batch_size=4, learning_rate=1e-2, lora=lora, load_in_4bit=load_in_4bit)


def test_is_qwen(tiny_qwen, tmp_path):
    from recutils.embeddings.qwen import QWEN3_EMBEDDING_4B, is_qwen

    assert is_qwen(tiny_qwen) and is_qwen(QWEN3_EMBEDDING_4B)
    assert not is_qwen("all-MiniLM-L6-v2") and not is_qwen(tmp_path)


def test_last_token_pooling_normalised(tiny_qwen):
    from transformers import AutoModel, AutoTokenizer

    from recutils.embeddings.qwen import load_qwen

    m = load_qwen(tiny_qwen, device="cpu", dtype="float32")
    e = m.encode(TEXTS)
    assert e.shape == (len(TEXTS), 64)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    # padding (left) must not change a text's embedding, and it is the last token's hidden state
    tok = AutoTokenizer.from_pretrained(tiny_qwen)
    hf = AutoModel.from_pretrained(tiny_qwen).eval()
    with torch.no_grad():
        h = hf(**tok([TEXTS[2]], return_tensors="pt")).last_hidden_state[0, -1].numpy()
    np.testing.assert_allclose(e[2], h / np.linalg.norm(h), atol=1e-5)


def test_lora_train_save_reload_identical(tiny_qwen, tmp_path):
    from recutils.embeddings.finetune import finetune
    from recutils.embeddings.qwen import add_lora, load_adapter, load_qwen, save_adapter

    m = load_qwen(tiny_qwen, device="cpu", dtype="float32")
    base = m.encode(TEXTS)
    add_lora(m)
    trainable = [n for n, p in m.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert {n.split(".")[-4] for n in trainable} == {"q_proj", "v_proj"}
    info = finetune(m, TEXTS[:4] * 2, TEXTS[4:] * 2, _ft())
    assert info["steps"] == 2 and info["n_pairs"] == 8
    tuned = m.encode(TEXTS)
    assert np.abs(tuned - base).max() > 1e-3  # it learned something
    out = save_adapter(m, tmp_path / "adapter")
    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    fresh = load_qwen(tiny_qwen, device="cpu", dtype="float32")
    np.testing.assert_array_equal(fresh.encode(TEXTS), base)
    load_adapter(fresh, out)
    np.testing.assert_array_equal(fresh.encode(TEXTS), tuned)


def test_nf4_lora(tiny_qwen, tmp_path):
    from recutils.embeddings.finetune import finetune
    from recutils.embeddings.qwen import add_lora, bnb_4bit_supported, load_adapter, load_qwen, save_adapter

    ok, why = bnb_4bit_supported("cpu")
    if not ok:
        pytest.skip(f"bitsandbytes 4-bit cannot run on this CPU: {why}")
    import bitsandbytes as bnb

    ref = load_qwen(tiny_qwen, device="cpu", dtype="float32").encode(TEXTS)
    q = load_qwen(tiny_qwen, device="cpu", dtype="float32", load_in_4bit=True)
    assert isinstance(q.transformers_model.layers[0].self_attn.q_proj, bnb.nn.Linear4bit)
    base4 = load_qwen(tiny_qwen, device="cpu", dtype="float32", load_in_4bit=True).encode(TEXTS)
    assert np.abs(base4 - ref).max() < 0.2  # NF4 weights: close to, not equal to, fp32
    add_lora(q)  # before any inference: CPU inference repacks 4-bit weights (no backward)
    finetune(q, TEXTS[:4] * 2, TEXTS[4:] * 2, _ft(load_in_4bit=True))
    tuned = q.encode(TEXTS)
    assert np.abs(tuned - base4).max() > 1e-3
    save_adapter(q, tmp_path / "a4")
    fresh = load_qwen(tiny_qwen, device="cpu", dtype="float32", load_in_4bit=True)
    load_adapter(fresh, tmp_path / "a4")
    np.testing.assert_array_equal(fresh.encode(TEXTS), tuned)


def test_lora_on_repacked_4bit_model_is_a_clear_error(tiny_qwen):
    from recutils.embeddings.qwen import add_lora, bnb_4bit_supported, load_qwen
    from recutils.errors import RecutilsError

    ok, why = bnb_4bit_supported("cpu")
    if not ok:
        pytest.skip(f"bitsandbytes 4-bit cannot run on this CPU: {why}")
    q = load_qwen(tiny_qwen, device="cpu", dtype="float32", load_in_4bit=True)
    q.encode(TEXTS[:2])
    packed = any(getattr(getattr(getattr(m, "weight", None), "quant_state", None), "packing_format_for_cpu", False)
                 for m in q.transformers_model.modules())
    if not packed:
        pytest.skip("this CPU does not repack 4-bit weights for inference")
    with pytest.raises(RecutilsError, match="fresh copy"):
        add_lora(q)


def test_4bit_needs_lora(tiny_qwen):
    from recutils.embeddings.finetune import FinetuneConfig, load_for_finetuning
    from recutils.errors import RecutilsError

    with pytest.raises(RecutilsError, match="lora"):
        load_for_finetuning(tiny_qwen, FinetuneConfig(lora=False, load_in_4bit=True))


def test_finetuned_item_embeddings_cached(tiny_qwen, toy_ratings, tmp_path):
    """Mine pairs on a toy split → LoRA fine-tune the tiny Qwen → embed; a second call is a cache hit."""
    import pandas as pd

    from recutils.embeddings.finetune import finetuned_item_embeddings
    from recutils.splits import make_split

    split = make_split("toy", toy_ratings, toy_ratings.iloc[:0])
    texts = pd.Series([TEXTS[i % len(TEXTS)] + f" {WORDS[i]}" for i in range(len(split.items))],
                      index=pd.Index(split.items, name="movieId"))
    cfg = _ft()
    M, info = finetuned_item_embeddings(tiny_qwen, texts, "toytext", split, cfg, cache_dir=tmp_path)
    assert M.shape == (len(texts), 64) and not info["cached"] and info["n_pairs"] > 0
    M2, info2 = finetuned_item_embeddings(tiny_qwen, texts, "toytext", split, cfg, cache_dir=tmp_path)
    assert info2["cached"] and info2["ft_key"] == info["ft_key"]
    np.testing.assert_array_equal(M, M2)
    # a hit reports what the training run reported (notebook metrics do not depend on the cache)
    assert {k: info2[k] for k in ("steps", "train_loss")} == {k: info[k] for k in ("steps", "train_loss")}
    # an entry without its training record (an older cache) is trained again, not half-reported
    for rec in tmp_path.rglob("*.training.json"):
        rec.unlink()
    M3, info3 = finetuned_item_embeddings(tiny_qwen, texts, "toytext", split, cfg, cache_dir=tmp_path)
    assert not info3["cached"] and "train_loss" in info3


def test_half_precision_base_keeps_float32_adapter(tiny_qwen):
    from recutils.embeddings.finetune import finetune
    from recutils.embeddings.qwen import add_lora, load_qwen

    m = load_qwen(tiny_qwen, device="cpu", dtype="float16")  # the study's dtype (on a GPU)
    base = m.encode(TEXTS)
    add_lora(m)
    assert {p.dtype for p in m.parameters() if p.requires_grad} == {torch.float32}
    assert all(p.dtype == torch.float16 for p in m.parameters() if not p.requires_grad)
    finetune(m, TEXTS[:4] * 2, TEXTS[4:] * 2, _ft())
    assert np.abs(m.encode(TEXTS).astype(np.float32) - base.astype(np.float32)).max() > 1e-3
