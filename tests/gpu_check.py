"""`make test-gpu`: a short check of the CUDA paths, run where a CUDA GPU is at hand.

    python tests/gpu_check.py [--out reports/gpu.json]

Where ``torch.cuda.is_available()`` is false it prints one line and exits 0 (nothing to check).
Otherwise, in well under five minutes:

1. MiniLM encoding on CUDA agrees with the CPU (cosine ≥ 0.999 per text);
2. a MiniLM fine-tune of a few steps on CUDA runs and changes the embeddings;
3. the Qwen3 path on a tiny Qwen3-architecture model built from a config (no weights are
   downloadable here): NF4 4-bit loading through bitsandbytes' CUDA kernels, a LoRA fine-tune on
   top, adapter save / reload giving the same embeddings;
4. torch_cf: its trainer runs on the CPU only (``TorchCF`` has no device option), recorded as such.

Results (pass/fail, seconds, the numbers behind each check, the device) go to ``--out`` as JSON;
the exit status is 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

TEXTS = ["toy story animation pixar", "jumanji adventure board game", "heat crime thriller",
         "grumpier old men comedy", "the matrix sci-fi", "alien horror space", "casino crime",
         "sabrina romance comedy"]


def _tiny_qwen(folder: Path) -> str:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3Model

    words = sorted({w for t in TEXTS for w in t.split()})
    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(words)}}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="[PAD]", unk_token="[UNK]")
    cfg = Qwen3Config(vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=64,
                      pad_token_id=0)
    torch.manual_seed(0)
    Qwen3Model(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def check_minilm_encode() -> dict:
    import numpy as np

    from recutils.embeddings import encode, load_model

    cpu = encode(load_model("all-MiniLM-L6-v2", device="cpu"), TEXTS)
    gpu = encode(load_model("all-MiniLM-L6-v2", device="cuda"), TEXTS)
    cos = (cpu * gpu).sum(1)
    assert float(cos.min()) >= 0.999, f"MiniLM on CUDA differs from the CPU: min cosine {cos.min():.6f}"
    return {"min_cosine_cpu_vs_cuda": float(cos.min()), "dim": int(cpu.shape[1]), "finite": bool(np.isfinite(gpu).all())}


def check_minilm_finetune() -> dict:
    from recutils.embeddings import encode
    from recutils.embeddings.finetune import FinetuneConfig, finetune, load_for_finetuning

    cfg = FinetuneConfig(epochs=1, batch_size=4, learning_rate=1e-3)
    m = load_for_finetuning("all-MiniLM-L6-v2", cfg, device="cuda")
    before = encode(m, TEXTS)
    info = finetune(m, TEXTS[:4] * 4, TEXTS[4:] * 4, cfg)
    after = encode(m, TEXTS)
    moved = float(abs(after - before).max())
    assert moved > 0, "the fine-tune did not change the embeddings"
    return {"steps": int(info["steps"]), "train_loss": float(info["train_loss"]), "max_change": moved}


def check_qwen_nf4_lora(tmp: Path) -> dict:
    import numpy as np

    from recutils.embeddings.finetune import FinetuneConfig, finetune
    from recutils.embeddings.qwen import bnb_4bit_supported, load_adapter, load_qwen, save_adapter

    ok, why = bnb_4bit_supported("cuda")
    assert ok, f"bitsandbytes 4-bit on CUDA: {why}"
    path = _tiny_qwen(tmp / "tiny-qwen3")
    q = load_qwen(path, device="cuda", dtype="float16", load_in_4bit=True)
    base = q.encode(TEXTS)
    info = finetune(q, TEXTS[:4] * 2, TEXTS[4:] * 2, FinetuneConfig(epochs=1, batch_size=4, learning_rate=1e-2,
                                                                     lora=True, load_in_4bit=True, dtype="float16"))
    tuned = q.encode(TEXTS)
    save_adapter(q, tmp / "adapter")
    fresh = load_qwen(path, device="cuda", dtype="float16", load_in_4bit=True)
    load_adapter(fresh, tmp / "adapter")
    again = fresh.encode(TEXTS)
    assert np.isfinite(tuned).all() and float(abs(tuned - base).max()) > 0, "LoRA on NF4 did not train"
    np.testing.assert_allclose(again, tuned, atol=2e-3)
    return {"steps": int(info["steps"]), "max_change": float(abs(tuned - base).max()),
            "reload_max_diff": float(abs(again - tuned).max())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="reports/gpu.json")
    a = ap.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("test-gpu: skipped — no CUDA device here (torch.cuda.is_available() is False)")
        return 0
    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda, "checks": {}}
    failed = 0
    with tempfile.TemporaryDirectory() as d:
        checks = {"minilm_encode": check_minilm_encode, "minilm_finetune": check_minilm_finetune,
                  "qwen_nf4_lora": lambda: check_qwen_nf4_lora(Path(d))}
        for name, fn in checks.items():
            t0 = time.perf_counter()
            try:
                res = {"ok": True, **fn()}
            except Exception as exc:  # a check's failure is reported, the others still run
                failed += 1
                res = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc(limit=3)}
            res["seconds"] = round(time.perf_counter() - t0, 2)
            out["checks"][name] = res
            print(f"test-gpu: {name}: {'ok' if res['ok'] else 'FAILED ' + res['error']} ({res['seconds']} s)", flush=True)
    out["checks"]["torch_cf"] = {"ok": None, "note": "TorchCF trains on the CPU only (no device option): not checked"}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"test-gpu: {len(checks) - failed} of {len(checks)} checks passed on {out['device']} -> {a.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
