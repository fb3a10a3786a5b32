"""ONNX Runtime encoders for sentence-transformer models: fp32 and dynamic int8 on the CPU.

Bulk encoding with torch fp32 on one or two CPU threads is the slow part of a cold run
(notebook 03 embeds ~9.7k movie texts with two models). This module exports the model's
transformer, with its mean pooling, to ONNX and runs it with ONNX Runtime:

- ``backend="onnx-fp32"``: the exported graph as is; it reproduces torch to float rounding
  (checked at export, and by the tests to 1e-5): the correctness check of the export;
- ``backend="onnx-int8"``: the same graph after ``onnxruntime.quantization.quantize_dynamic``
  (:data:`QUANTIZATION`: int8 weights with one scale per output channel, activations quantised
  with one scale per batch at run time — so a text's int8 embedding depends a little on the
  texts it is batched with: batches of 32 instead of 64 moved MiniLM's by cosine ≈ 0.993;
  thread counts do not change it). Faster, close to fp32 (cosine ≈ 0.99) but not equal: notebook 03
  guards its use with the tag benchmark (:mod:`recutils.embeddings.quality`). Two choices of
  the recipe come from measurements on an AVX2 CPU without VNNI (tests and notebook 03):

  - ``reduce_range``: 7-bit weights. Full 8-bit signed weights overflow the 16-bit sums of
    AVX2's u8×s8 instruction (``vpmaddubsw``); all-mpnet-base-v2 came out with cosine ≈ 0.05 to
    fp32. CPUs with VNNI do not need it, and it costs little precision (MiniLM: 0.991 either way).
  - outlier layers stay fp32: a linear layer whose input has a few huge features (max |x| over
    RMS above ``outlier_ratio`` on :data:`CALIBRATION_TEXTS`) cannot share one int8 scale per
    batch — the feed-forward output layers of mpnet (ratios up to ~360) drop its cosine to
    ≈ 0.86. Those layers keep fp32 weights (``recipe.json`` lists them); MiniLM has none.

Only BERT-like encoders (:data:`SUPPORTED_MODEL_TYPES`) whose sentence-transformers pipeline is
``Transformer → Pooling(mean) [→ Normalize]`` are supported (all-MiniLM-L6-v2 and
all-mpnet-base-v2 are); anything else stays on ``backend="torch"``.

The export runs **in its own process** (``python -m recutils.embeddings.onnx export NAME``;
:func:`load_encoder` starts it when needed): tracing a model for the exporter was seen to change
later torch outputs in the same process. It writes into a temporary folder under
``<cache>/models/onnx/`` that is renamed into place with a completion marker once the graph,
the tokenizer and ``recipe.json`` are complete, so an interrupted export leaves nothing to
reuse. The folder's name carries the weights' identity, the onnx / onnxruntime / torch /
transformers versions, the quantisation settings and a hash of the whole recipe: a change to
any of them exports anew instead of reusing a stale graph.

:class:`OnnxEncoder` tokenises with the model's own Hugging Face tokenizer (same
``max_seq_length``, padding to the longest text of a batch), runs batches of texts sorted by
length, and L2-normalises like the sentence-transformer's ``Normalize`` module.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import RecutilsError
from ..io import read_json
from .resolve import model_label

from .onnx_export import (  # noqa: F401  (re-exported: the public names stay under recutils.embeddings.onnx)
    _export_into, _input_outlier_ratios, _matmul_nodes, export_dir, export_in_subprocess, export_model,
    export_recipe, exported_model, is_complete,
)
__all__ = [
    "BACKENDS", "ONNX_BACKENDS", "SUPPORTED_MODEL_TYPES", "QUANTIZATION", "OnnxEncoder", "check_backend",
    "encoder_backend", "export_dir", "export_in_subprocess", "export_model", "exported_model", "load_encoder", "model_spec", "onnx_versions",
    "require_onnxruntime",
]

from .onnx_spec import (  # noqa: F401  (re-exported)
    BACKENDS, CALIBRATION_TEXTS, CHECK_TEXTS, EXPORT_FORMAT, EXPORT_LIBRARIES, FP32_CHECK_ABS, INT8_CHECK_COS,
    ONNX_BACKENDS, ONNX_PIN, ONNXRUNTIME_PIN,
    OPSET, QUANTIZATION, SUPPORTED_MODEL_TYPES, _COMPLETE, _INPUTS, _l2, check_backend, model_spec, onnx_versions,
    require_onnxruntime,
)

# --- the encoder --------------------------------------------------------------------------------
class OnnxEncoder:
    """A sentence encoder running an exported model with ONNX Runtime (CPU).

    Offers what :func:`recutils.embeddings.encode` uses of a ``SentenceTransformer``:
    :meth:`encode` and :meth:`get_sentence_embedding_dimension`, plus ``preprocess`` /
    ``__call__`` (tokenise, then run) for per-stage timings.

    ``threads``: ONNX Runtime intra-op threads; ``None`` follows torch's current
    ``torch.get_num_threads()`` at each call (so :func:`recutils.torch_threads.torch_threads`
    governs both backends alike). One session is kept per thread count.
    """

    def __init__(self, folder, threads: int | None = None):
        self.folder = Path(folder)
        if not is_complete(self.folder):
            raise RecutilsError(f"{self.folder} is not a complete ONNX export (no {_COMPLETE} marker)")
        self._ort = require_onnxruntime()
        from transformers import AutoTokenizer

        self.recipe = read_json(self.folder / "recipe.json")
        self.backend = self.recipe["backend"]
        self.name = self.recipe["model"]
        self.inputs = list(self.recipe["inputs"])
        self.max_seq_length = int(self.recipe["max_seq_length"])
        self.normalize = bool(self.recipe["normalize"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.folder))
        if threads is not None and (isinstance(threads, bool) or int(threads) < 1):
            raise RecutilsError(f"threads must be a whole number ≥ 1 or None, got {threads!r}")
        self.threads = None if threads is None else int(threads)
        self._sessions: dict[int, object] = {}
        self.device = "cpu"

    def __repr__(self) -> str:
        return f"OnnxEncoder({model_label(self.name)!r}, backend={self.backend!r}, threads={self.threads})"

    # --- sessions
    def current_threads(self) -> int:
        if self.threads is not None:
            return self.threads
        try:
            import torch

            return max(1, int(torch.get_num_threads()))
        except ImportError:
            return max(1, os.cpu_count() or 1)

    def session(self, threads: int | None = None):
        n = int(threads or self.current_threads())
        if n not in self._sessions:
            ort = self._ort
            so = ort.SessionOptions()
            so.intra_op_num_threads = n
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            so.log_severity_level = 3
            self._sessions[n] = ort.InferenceSession(str(self.folder / "model.onnx"), so, providers=["CPUExecutionProvider"])
        return self._sessions[n]

    @contextlib.contextmanager
    def using_threads(self, n: int | None):
        """Run the block with ``n`` intra-op threads (``None``: unchanged)."""
        before = self.threads
        if n:
            self.threads = int(n)
        try:
            yield self
        finally:
            self.threads = before

    # --- the sentence-transformers surface
    def get_sentence_embedding_dimension(self) -> int:
        return int(self.recipe["dim"])

    get_embedding_dimension = get_sentence_embedding_dimension

    def preprocess(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Token ids and masks of one batch (int64, padded to its longest text)."""
        enc = self.tokenizer([str(t) for t in texts], padding=True, truncation="longest_first",
                             max_length=self.max_seq_length, return_tensors="np")
        return {n: np.asarray(enc[n], dtype=np.int64) for n in self.inputs}

    def forward(self, features: dict) -> np.ndarray:
        """Pooled (and, with a Normalize module, L2-normalised) embeddings of a tokenised batch."""
        out = self.session().run(None, {n: np.asarray(features[n], dtype=np.int64) for n in self.inputs})[0]
        return _l2(out) if self.normalize else out

    def __call__(self, features: dict) -> dict:
        import torch

        return {"sentence_embedding": torch.from_numpy(np.ascontiguousarray(self.forward(features)))}

    def encode(self, texts, batch_size: int = 32, normalize_embeddings: bool = False, show_progress_bar: bool | None = None,
               convert_to_numpy: bool = True, **_ignored):
        """Embeddings ``(len(texts), dim)`` float32 (one text: ``(dim,)``), batches of texts sorted by
        length (longest first, like sentence-transformers), returned in the input order."""
        single = isinstance(texts, str)
        texts = [texts] if single else [str(t) for t in texts]
        if int(batch_size) < 1:
            raise RecutilsError(f"batch_size must be ≥ 1, got {batch_size!r}")
        dim = self.get_sentence_embedding_dimension()
        out = np.zeros((len(texts), dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        starts = range(0, len(texts), int(batch_size))
        bar = None
        if show_progress_bar and len(texts):
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc=f"encode ({self.backend})", unit="texts", leave=False)
        try:
            for s in starts:
                idx = order[s:s + int(batch_size)]
                out[idx] = self.forward(self.preprocess([texts[i] for i in idx]))
                if bar is not None:
                    bar.update(len(idx))
        finally:
            if bar is not None:
                bar.close()
        if normalize_embeddings and not self.normalize:
            out = _l2(out)
        if single:
            return out[0]
        return out if convert_to_numpy else list(out)


def encoder_backend(model) -> str:
    """The backend of a loaded encoder (``"torch"`` for a sentence-transformer or any other model)."""
    return getattr(model, "backend", "torch") if isinstance(model, OnnxEncoder) else "torch"


def load_encoder(name, backend: str = "torch", device: str = "cpu", cache_dir=None, threads: int | None = None, **kwargs):
    """An encoder for ``name``: a ``SentenceTransformer`` (``backend="torch"``, ``kwargs`` go to
    :func:`~recutils.embeddings.resolve.load_model`) or an :class:`OnnxEncoder` for
    ``"onnx-int8"`` / ``"onnx-fp32"`` (exported first, in a subprocess, when needed)."""
    check_backend(backend)
    if backend == "torch":
        from .resolve import load_model

        return load_model(name, device=device, cache_dir=cache_dir, **kwargs)
    if str(device) != "cpu":
        raise RecutilsError(f"backend {backend!r} runs on the CPU only, got device={device!r}; use backend='torch' on {device}")
    if kwargs:
        raise RecutilsError(f"backend {backend!r} takes no model options, got {sorted(kwargs)}")
    return OnnxEncoder(exported_model(name, backend, cache_dir), threads=threads)


# --- command line -------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m recutils.embeddings.onnx",
                                 description="Export a sentence-transformer to ONNX (fp32 or dynamic int8) into the cache.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("export", help="export (and quantise) one model; prints the folder")
    p.add_argument("model", help="hub name with an offline copy (all-MiniLM-L6-v2, all-mpnet-base-v2) or a local folder")
    p.add_argument("--backend", action="append", choices=ONNX_BACKENDS,
                   help="onnx-int8 (default) and/or onnx-fp32; repeat for both")
    p.add_argument("--cache-dir", default=None, help="cache root (default: $RECUTILS_CACHE_DIR or ~/.cache/recutils)")
    p = sub.add_parser("path", help="print the export folder a model would use (exports nothing)")
    p.add_argument("model")
    p.add_argument("--backend", default="onnx-int8", choices=ONNX_BACKENDS)
    p.add_argument("--cache-dir", default=None)
    a = ap.parse_args(argv)
    try:
        if a.cmd == "path":
            d = export_dir(a.model, a.backend, a.cache_dir)
            print(f"{d}{'' if is_complete(d) else '  (not exported yet)'}")
            return 0
        for backend in a.backend or ["onnx-int8"]:
            print(export_model(a.model, backend, a.cache_dir))
        return 0
    except RecutilsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
