"""Qwen3-Embedding as a sentence-transformer: fp16 / NF4 loading, last-token pooling, LoRA.

The hybrid study's rows 4–5 use ``Qwen/Qwen3-Embedding-4B`` (fp16, last-token pooling,
L2-normalised) and a LoRA fine-tune of it (r=16, α=32, dropout 0.1, on ``q_proj``/``v_proj``,
base weights in bitsandbytes 4-bit). Those need the Hugging Face hub and a GPU; the same code
runs on CPU with any Qwen3-architecture checkpoint (the tests build a tiny one from
``transformers.Qwen3Config``).

- :func:`load_qwen` → ``SentenceTransformer`` (a hub / local sentence-transformers folder as is;
  a bare ``transformers`` Qwen3 folder gets ``Transformer → Pooling("lasttoken") → Normalize``
  with left padding, the Qwen3-Embedding layout);
- :func:`add_lora` attaches a fresh LoRA adapter through ``SentenceTransformer.add_adapter``
  (the Transformer module keeps its own ``model``, so ``save`` keeps working);
- :func:`save_adapter` / :func:`load_adapter` write / read only the adapter (safetensors).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import RecutilsError

QWEN3_EMBEDDING_4B = "Qwen/Qwen3-Embedding-4B"


@dataclass(frozen=True)
class LoraSettings:
    """The study's LoRA settings."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.1
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")


def _local_config(path: Path) -> dict | None:
    f = path / "config.json"
    if f.is_file():
        try:
            return json.loads(f.read_text())
        except (OSError, ValueError):
            return None
    return None


def is_qwen(name: str | os.PathLike) -> bool:
    """True for a Qwen3 model: a hub name containing ``qwen`` or a local folder whose
    ``config.json`` has ``model_type`` ``qwen3`` / ``qwen2``."""
    p = Path(str(name)).expanduser()
    if p.is_dir():
        cfg = _local_config(p) or {}
        return str(cfg.get("model_type", "")).startswith("qwen")
    return "qwen" in str(name).lower()


def bnb_4bit_supported(device: str = "cpu") -> tuple[bool, str]:
    """Whether bitsandbytes 4-bit (NF4) layers can run on ``device``; ``(ok, reason)``."""
    try:
        import bitsandbytes  # noqa: F401
    except Exception as exc:  # ImportError or a backend that fails to initialise
        return False, f"bitsandbytes is not importable: {exc}"
    try:
        import torch
        import bitsandbytes.functional as F

        w = torch.randn(8, 16, dtype=torch.float32, device=device)
        q, state = F.quantize_4bit(w, quant_type="nf4")
        back = F.dequantize_4bit(q, state)
        if back.shape != w.shape:
            return False, "bitsandbytes NF4 round trip returned the wrong shape"
    except Exception as exc:
        return False, f"bitsandbytes cannot quantise to NF4 on {device!r}: {type(exc).__name__}: {exc}"
    return True, ""


def model_kwargs(dtype: str = "float16", load_in_4bit: bool = False, device: str = "cpu") -> dict:
    """``model_kwargs`` for ``SentenceTransformer``: ``dtype`` and, with ``load_in_4bit``, a
    bitsandbytes NF4 ``quantization_config`` (compute in ``dtype``)."""
    import torch

    dt = getattr(torch, dtype, None)
    if not isinstance(dt, torch.dtype):
        raise RecutilsError(f"unknown torch dtype {dtype!r} (use float16, bfloat16 or float32)")
    kw: dict = {"dtype": dt}
    if load_in_4bit:
        ok, why = bnb_4bit_supported(device)
        if not ok:
            raise RecutilsError(f"4-bit loading is not available here: {why}")
        from transformers import BitsAndBytesConfig

        kw["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                       bnb_4bit_compute_dtype=dt)
        kw["device_map"] = {"": device}  # quantised weights are placed at load time
    return kw


def load_qwen(name: str = QWEN3_EMBEDDING_4B, device: str | None = None, dtype: str = "float16",
              load_in_4bit: bool = False, max_seq_length: int | None = None, progress: bool = False):
    """A Qwen3-Embedding ``SentenceTransformer`` (see module docstring).

    ``device`` defaults to CUDA when available. fp16 on CPU is slow and partly unsupported:
    pass ``dtype="float32"`` there. A hub name needs the internet (the Hugging Face cache is
    tried first).
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers.utils import logging as hf_logging

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    kw = model_kwargs(dtype, load_in_4bit, device)
    if load_in_4bit:
        device_arg = None  # quantised weights are placed by transformers; .to() is not allowed
    else:
        device_arg = device
    was = hf_logging.is_progress_bar_enabled()
    if not progress:
        hf_logging.disable_progress_bar()
    try:
        p = Path(str(name)).expanduser()
        if p.is_dir() and not (p / "modules.json").is_file():
            tr = Transformer(str(p), model_kwargs=kw, processor_kwargs={"padding_side": "left"},
                             max_seq_length=max_seq_length)
            modules = [tr, Pooling(tr.get_embedding_dimension(), "lasttoken"), Normalize()]
            model = SentenceTransformer(modules=modules, device=device_arg)
        else:
            try:
                model = SentenceTransformer(str(name), device=device_arg, model_kwargs=kw,
                                            processor_kwargs={"padding_side": "left"})
            except OSError as exc:
                raise RecutilsError(
                    f"cannot load {name!r}: {exc}. Qwen3-Embedding needs the Hugging Face hub (or a local copy) "
                    "and, at 4B parameters, a GPU; pass a local folder to run elsewhere."
                ) from None
            if max_seq_length:
                model.max_seq_length = max_seq_length
    finally:
        if was:
            hf_logging.enable_progress_bar()
    return model


def add_lora(model, settings: LoraSettings = LoraSettings(), adapter_name: str = "default",
             quantized: bool | None = None):
    """Attach a fresh, trainable LoRA adapter (feature extraction) to ``model`` in place and return it.

    Uses ``SentenceTransformer.add_adapter`` (transformers' PEFT integration): the base weights
    are frozen, only ``lora_A`` / ``lora_B`` train (kept in float32 over a half-precision base). For a 4-bit base, the non-quantised weights
    (norms, embeddings) are cast to float32 first, as in QLoRA (``prepare_model_for_kbit_training``,
    without gradient checkpointing).
    """
    from peft import LoraConfig, TaskType

    hf = model.transformers_model
    if quantized is None:
        quantized = bool(getattr(hf, "is_loaded_in_4bit", False) or getattr(hf, "is_quantized", False))
    if quantized:
        from peft import prepare_model_for_kbit_training

        packed = [n for n, mod in hf.named_modules()
                  if getattr(getattr(getattr(mod, "weight", None), "quant_state", None), "packing_format_for_cpu", False)]
        if packed:
            # bitsandbytes' CPU backend repacks 4-bit weights for inference on the first eval
            # forward; its packed kernel has no backward, so training would silently not learn.
            raise RecutilsError("this 4-bit model already ran inference on CPU (its weights are repacked for "
                                "inference and cannot be trained): load a fresh copy before adding LoRA")
        prepare_model_for_kbit_training(hf, use_gradient_checkpointing=False)
    cfg = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                     target_modules=list(settings.target_modules), bias="none",
                     task_type=TaskType.FEATURE_EXTRACTION)
    model.add_adapter(cfg, adapter_name=adapter_name)
    import torch

    for p in model.parameters():  # fp16/bf16 base: keep the trainable adapter in float32 (stable AdamW)
        if p.requires_grad and p.dtype in (torch.float16, torch.bfloat16):
            p.data = p.data.float()
    return model


def save_adapter(model, path: str | os.PathLike) -> Path:
    """Write only the active LoRA adapter (``adapter_config.json`` + ``adapter_model.safetensors``)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.transformers_model.save_pretrained(str(path), safe_serialization=True)
    if not (path / "adapter_config.json").is_file():
        raise RecutilsError(f"no adapter was written to {path}: does the model carry a LoRA adapter?")
    return path


def load_adapter(model, path: str | os.PathLike, adapter_name: str = "default"):
    """Load an adapter written by :func:`save_adapter` onto a freshly loaded base ``model`` (in place)."""
    path = Path(path)
    if not (path / "adapter_config.json").is_file():
        raise RecutilsError(f"{path} holds no LoRA adapter (adapter_config.json missing)")
    model.load_adapter(str(path), adapter_name=adapter_name)
    model.set_adapter(adapter_name)
    return model
