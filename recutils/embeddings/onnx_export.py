"""Exporting a sentence-transformer to ONNX (fp32, dynamic int8) into a complete, versioned cache
folder — in its own process (:func:`export_in_subprocess`). See :mod:`recutils.embeddings.onnx`."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import RecutilsError
from ..io import write_json
from .resolve import cache_root, canonical_name, model_label

from .onnx_spec import (CALIBRATION_TEXTS, CHECK_TEXTS, EXPORT_FORMAT, FP32_CHECK_ABS, INT8_CHECK_COS,
                        OPSET, QUANTIZATION, _COMPLETE, _INPUTS, _l2, check_backend,
                        model_spec, onnx_versions, require_onnxruntime)

# --- the export folder --------------------------------------------------------------------------
def _slug(s: str, n: int = 48) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(s)).strip("_")[:n] or "x"


def export_recipe(name, backend: str, cache_dir=None) -> dict:
    """Everything an exported graph depends on (its folder's name hashes all of it)."""
    from .identity import weights_identity

    check_backend(backend)
    if backend == "torch":
        raise RecutilsError("backend 'torch' has nothing to export; choose 'onnx-int8' or 'onnx-fp32'")
    spec = model_spec(name, cache_dir)
    return {
        "model": canonical_name(str(name)),
        "weights": weights_identity(str(name), cache_dir),
        "backend": backend,
        "quantization": dict(QUANTIZATION) if backend == "onnx-int8" else None,
        "versions": onnx_versions(),
        "opset": OPSET,
        "format": EXPORT_FORMAT,
        "model_type": spec["model_type"],
        "normalize": spec["normalize"],
    }


def export_dir(name, backend: str, cache_dir=None) -> Path:
    """``<cache>/models/onnx/<model>__<precision>__<weights>__<versions>__<recipe hash>``."""
    recipe = export_recipe(name, backend, cache_dir)
    q = recipe["quantization"]
    precision = "fp32" if q is None else (f"int8-{q['weight_type'].lower()}-{'perchannel' if q['per_channel'] else 'pertensor'}"
                                          f"{'-reduced' if q['reduce_range'] else ''}-outlier{q['outlier_ratio']:g}")
    v = recipe["versions"]
    versions = f"onnx{v['onnx']}-ort{v['onnxruntime']}-torch{v['torch']}-tf{v['transformers']}"
    weights = recipe["weights"].split(":", 1)[-1][:16]
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:10]
    stem = "__".join([_slug(model_label(recipe["model"])), precision, _slug(weights, 16), _slug(versions, 80), digest])
    return cache_root(cache_dir) / "models" / "onnx" / stem


def is_complete(folder: Path) -> bool:
    return (Path(folder) / _COMPLETE).is_file() and (Path(folder) / "model.onnx").is_file()


class _MeanPooled:
    """Builds the torch module that is exported: transformer → mean over the attention mask."""

    @staticmethod
    def build(model, inputs: Sequence[str]):
        import torch

        class MeanPooled(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask, token_type_ids=None):
                kw = {"input_ids": input_ids, "attention_mask": attention_mask}
                if token_type_ids is not None:
                    kw["token_type_ids"] = token_type_ids
                h = self.model(**kw).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(h.dtype)
                return (h * mask).sum(dim=1) / torch.clamp(mask.sum(dim=1), min=1e-9)

        return MeanPooled().eval()


def _export_into(name, spec: dict, backend: str, staged: Path, work: Path, cache_dir=None) -> dict:
    """Export (and quantise) into ``staged``; return what the self-check measured.

    Needs torch and transformers but not sentence-transformers (whose import alone takes
    seconds): the pipeline it reproduces is the one :func:`model_spec` checked — the model's
    tokenizer truncating at ``max_seq_length``, the transformer, the mean over the attention
    mask, L2 normalisation. The tests compare the result with the sentence-transformer itself.
    """
    ort = require_onnxruntime(backend, export=True)
    import torch
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tfolder = Path(spec["folder"]) / spec["transformer_path"]
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tfolder))
    tokenizer.save_pretrained(str(staged))
    hf = transformers.AutoModel.from_pretrained(str(tfolder), attn_implementation="eager")
    hf.eval()
    max_len = int(spec["max_seq_length"] or min(tokenizer.model_max_length, hf.config.max_position_embeddings))
    sample = tokenizer(["a short text", "a somewhat longer text to trace with"], padding=True, truncation="longest_first",
                       max_length=max_len, return_tensors="pt")
    inputs = [n for n in _INPUTS if n in sample]
    wrapper = _MeanPooled.build(hf, inputs)
    ratios = _input_outlier_ratios(hf, tokenizer, max_len, inputs) if backend == "onnx-int8" else {}
    # the reference first, before anything is traced
    check_enc = tokenizer(list(CHECK_TEXTS), padding=True, truncation="longest_first", max_length=max_len, return_tensors="pt")
    with torch.inference_mode():
        ref = _l2(wrapper(**{n: check_enc[n] for n in inputs}).numpy())
    fp32 = work / "model-fp32.onnx"
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper, (), str(fp32), kwargs={n: sample[n] for n in inputs},
            input_names=inputs, output_names=["sentence_embedding"],
            dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in inputs}, "sentence_embedding": {0: "batch"}},
            opset_version=OPSET, dynamo=False, do_constant_folding=True,
        )
    del hf, wrapper
    target = staged / "model.onnx"
    if backend == "onnx-int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        keep_fp32 = _matmul_nodes(fp32, [m for m, r in ratios.items() if r > QUANTIZATION["outlier_ratio"]])
        level = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # "consider pre-processing" advice on every call
        try:
            quantize_dynamic(str(fp32), str(target), weight_type=getattr(QuantType, QUANTIZATION["weight_type"]),
                             per_channel=QUANTIZATION["per_channel"], reduce_range=QUANTIZATION["reduce_range"],
                             nodes_to_exclude=sorted(keep_fp32.values()))
        finally:
            logging.getLogger().setLevel(level)
    else:
        os.replace(fp32, target)

    # the self-check: the graph on the check texts against the torch reference
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(target), so, providers=["CPUExecutionProvider"])
    got = _l2(sess.run(None, {n: check_enc[n].numpy().astype(np.int64) for n in inputs})[0])
    cos = (got * ref).sum(axis=1)
    check = {"texts": len(CHECK_TEXTS), "max_abs_diff_to_torch": float(np.abs(got - ref).max()),
             "min_cosine_to_torch": float(cos.min())}
    if backend == "onnx-fp32" and check["max_abs_diff_to_torch"] > FP32_CHECK_ABS:
        raise RecutilsError(f"the ONNX export of {model_label(str(name))} does not reproduce torch: max |diff| "
                            f"{check['max_abs_diff_to_torch']:.2e} > {FP32_CHECK_ABS:g} on {len(CHECK_TEXTS)} check texts")
    if backend == "onnx-int8" and check["min_cosine_to_torch"] < INT8_CHECK_COS:
        raise RecutilsError(f"the int8 ONNX model of {model_label(str(name))} is far from torch: cosine "
                            f"{check['min_cosine_to_torch']:.3f} < {INT8_CHECK_COS} on a check text")
    out = {"inputs": inputs, "max_seq_length": max_len, "dim": int(ref.shape[1]), "check": check}
    if backend == "onnx-int8":
        out["fp32_layers"] = {m: round(ratios[m], 1) for m in sorted(keep_fp32, key=_natural)}
    return out


def _natural(s: str) -> list:
    import re

    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", s)]


def _input_outlier_ratios(hf, tokenizer, max_len: int, inputs) -> dict[str, float]:
    """max |x| / RMS(x) of the input of every linear layer of ``hf`` on :data:`CALIBRATION_TEXTS`
    (the pooler's excepted: the exported graph ends at the last hidden states)."""
    import torch

    ratios: dict[str, float] = {}

    def hook(name):
        def f(_mod, args, _out):
            x = args[0].detach().float()
            rms = float(x.pow(2).mean().sqrt())
            ratios[name] = max(ratios.get(name, 0.0), float(x.abs().max()) / max(rms, 1e-12))
        return f

    handles = [m.register_forward_hook(hook(n)) for n, m in hf.named_modules()
               if isinstance(m, torch.nn.Linear) and not n.startswith("pooler.")]
    try:
        enc = tokenizer(list(CALIBRATION_TEXTS), padding=True, truncation="longest_first", max_length=max_len,
                        return_tensors="pt")
        with torch.inference_mode():
            hf(**{n: enc[n] for n in inputs})
    finally:
        for h in handles:
            h.remove()
    return ratios


def _matmul_nodes(onnx_path: Path, modules: Sequence[str]) -> dict[str, str]:
    """The exported MatMul node of each torch linear layer (``encoder.layer.6.output.dense`` →
    ``/model/encoder/layer.6/output/dense/MatMul``); a layer without one is an error."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    by_path = {n.name.replace("/", ".").strip("."): n.name for n in graph.node if n.op_type == "MatMul"}
    found, missing = {}, []
    for m in modules:
        node = by_path.get(f"model.{m}.MatMul")
        if node is None:
            missing.append(m)
        else:
            found[m] = node
    if missing:
        raise RecutilsError(f"the exported graph has no MatMul for the layers {missing}; cannot keep them in fp32")
    return found


def export_model(name, backend: str = "onnx-int8", cache_dir=None) -> Path:
    """Export ``name`` for ``backend`` **in this process** and return its folder (at once when
    already complete). Use :func:`exported_model` (a separate process) from code that also runs
    torch inference."""
    dest = export_dir(name, backend, cache_dir)
    if is_complete(dest):
        return dest
    recipe = export_recipe(name, backend, cache_dir)
    spec = model_spec(name, cache_dir)
    if dest.exists():  # a leftover without the marker: not ours to trust
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name[:60]}.", suffix=".tmp", dir=dest.parent))
    try:
        staged = tmp / "model"
        staged.mkdir()
        t0 = time.perf_counter()
        info = _export_into(name, spec, backend, staged, tmp, cache_dir)
        write_json(staged / "recipe.json", {**recipe, **info, "source": spec["folder"],
                                            "export_seconds": round(time.perf_counter() - t0, 2),
                                            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        (staged / _COMPLETE).write_text(dest.name + "\n")
        try:
            os.rename(staged, dest)
        except OSError:
            if not is_complete(dest):  # lost a race to a complete copy: fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def exported_model(name, backend: str = "onnx-int8", cache_dir=None, timeout: float = 3600) -> Path:
    """The export folder of ``name`` for ``backend``, exporting it first **in a subprocess**
    (``python -m recutils.embeddings.onnx export``) when it is not complete yet."""
    return export_in_subprocess(name, (backend,), cache_dir, timeout)[0]


def export_in_subprocess(name, backends: Sequence[str] = ("onnx-int8",), cache_dir=None, timeout: float = 3600) -> list[Path]:
    """The export folders of ``name`` for each of ``backends``; those not complete yet are made
    by one ``python -m recutils.embeddings.onnx export`` process (a failure there is one
    :class:`RecutilsError` line: the subprocess's last message)."""
    backends = [check_backend(b) for b in backends]
    for b in backends:
        require_onnxruntime(b)
    dests = [export_dir(name, b, cache_dir) for b in backends]  # also checks that the model is supported
    todo = [b for b, d in zip(backends, dests) if not is_complete(d)]
    if not todo:
        return dests
    require_onnxruntime(todo[0], export=True)
    pkg_parent = str(Path(__file__).resolve().parents[2])  # the recutils this process runs
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([pkg_parent] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    cmd = [sys.executable, "-m", "recutils.embeddings.onnx", "export", str(name), "--cache-dir", str(cache_root(cache_dir))]
    for b in todo:
        cmd += ["--backend", b]
    what = f"{model_label(str(name))} to ONNX ({', '.join(todo)})"
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RecutilsError(f"exporting {what} took over {timeout:.0f} s") from None
    if proc.returncode != 0 or not all(is_complete(d) for d in dests):
        lines = [ln.strip() for ln in (proc.stderr or "").splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit status {proc.returncode}"
        raise RecutilsError(f"exporting {what} failed: {last.removeprefix('error: ')}")
    return dests


