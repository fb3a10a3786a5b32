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
import hashlib
import importlib.metadata as md
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
from ..io import read_json, write_json
from .resolve import cache_root, canonical_name, model_label, resolve_model

#: every encoder backend: the sentence-transformer itself, and its ONNX exports
BACKENDS = ("torch", "onnx-int8", "onnx-fp32")
ONNX_BACKENDS = ("onnx-int8", "onnx-fp32")
#: the onnx / onnxruntime versions pinned in requirements.txt (named in the install hint)
ONNXRUNTIME_PIN = "1.32.0"
ONNX_PIN = "1.23.2"
#: ``config.json`` model types the export supports (BERT-like encoders: token ids in, hidden states out)
SUPPORTED_MODEL_TYPES = ("bert", "mpnet")
#: the ``onnx-int8`` recipe (part of the export folder's name): ``quantize_dynamic`` settings, and the
#: input max/RMS ratio above which a linear layer keeps fp32 weights (module docstring)
QUANTIZATION = {"weight_type": "QInt8", "per_channel": True, "reduce_range": True, "outlier_ratio": 100.0}
#: ONNX opset of the exported graph
OPSET = 17
#: bump when the export recipe changes in a way the versions above do not show
EXPORT_FORMAT = 1
#: largest |onnx-fp32 − torch| accepted by the export's self-check (float rounding is ~1e-6)
FP32_CHECK_ABS = 1e-4
#: smallest cosine of onnx-int8 to torch accepted by the export's self-check (a broken graph is far below)
INT8_CHECK_COS = 0.9
#: versions that change an exported graph or its outputs
EXPORT_LIBRARIES = ("onnx", "onnxruntime", "torch", "transformers", "sentence-transformers")

_COMPLETE = ".recutils-complete"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: texts the export checks itself on: empty, short, non-ASCII, padded, one past max_seq_length
CHECK_TEXTS = (
    "",
    "Toy Story (1995)",
    "Amélie (2001) | Comedy|Romance | A shy waitress in Montmartre decides to change the lives of those around her.",
    "   a heist with a twist ending   ",
    "Alien (1979) | Horror|Sci-Fi | " + "The crew of a commercial spacecraft meets a deadly lifeform. " * 60,
)

#: texts the outlier ratios of the int8 recipe are measured on (fixed: the recipe must not depend on data files)
CALIBRATION_TEXTS = (
    "Toy Story (1995) | Adventure|Animation|Children|Comedy|Fantasy | Led by Woody, Andy's toys live happily in his room "
    "until Andy's birthday brings Buzz Lightyear onto the scene.",
    "Heat (1995) | Action|Crime|Thriller | Obsessive master thief Neil McCauley leads a top-notch crew on various daring "
    "heists throughout Los Angeles while a mentally unstable detective tracks them down.",
    "Amélie (2001) | Comedy|Romance | At a tiny Parisian café, the adorable yet painfully shy Amélie accidentally "
    "discovers a gift for helping others.",
    "Spirited Away (2001) | Adventure|Animation|Fantasy | A young girl, Chihiro, becomes trapped in a strange new world "
    "of spirits and must free herself and her parents.",
    "The Godfather (1972) | Crime|Drama | Spanning the years 1945 to 1955, a chronicle of the fictional Italian-American "
    "Corleone crime family.",
    "Alien (1979) | Horror|Sci-Fi | During its return to the earth, commercial spaceship Nostromo intercepts a distress "
    "signal from a distant planet.",
    "a space adventure with robots",
    "romantic comedy in paris",
    "serial killer detective thriller",
    "a feel-good movie for a rainy sunday",
    "Pulp Fiction (1994) | Comedy|Crime|Drama|Thriller",
    "Fargo (1996) | Comedy|Crime|Drama|Thriller | Jerry, a small-town Minnesota car salesman, is bursting at the seams "
    "with debt, so he hires two men to kidnap his wife.",
)

__all__ = [
    "BACKENDS", "ONNX_BACKENDS", "SUPPORTED_MODEL_TYPES", "QUANTIZATION", "OnnxEncoder", "check_backend",
    "encoder_backend", "export_dir", "export_in_subprocess", "export_model", "exported_model", "load_encoder", "model_spec", "onnx_versions",
    "require_onnxruntime",
]


# --- checks -----------------------------------------------------------------------------------
def check_backend(backend: str) -> str:
    """``backend`` if it is one of :data:`BACKENDS`, else a one-line :class:`RecutilsError`."""
    if backend not in BACKENDS:
        raise RecutilsError(f"unknown encoder backend {backend!r}; choose one of {', '.join(map(repr, BACKENDS))}")
    return backend


def encoder_backend(model) -> str:
    """The backend of a loaded encoder (``"torch"`` for a sentence-transformer or any other model)."""
    return getattr(model, "backend", "torch") if isinstance(model, OnnxEncoder) else "torch"


def require_onnxruntime(backend: str = "onnx-int8", export: bool = False):
    """Import onnxruntime (and onnx when ``export``), or say what to install."""
    missing = []
    try:
        import onnxruntime
    except ImportError:
        onnxruntime = None
        missing.append(f"onnxruntime=={ONNXRUNTIME_PIN}")
    if export:
        try:
            import onnx  # noqa: F401
        except ImportError:
            missing.append(f"onnx=={ONNX_PIN}")
    if missing:
        raise RecutilsError(f"backend {backend!r} needs {' and '.join(m.split('==')[0] for m in missing)}, which "
                            f"{'is' if len(missing) == 1 else 'are'} not installed: pip install {' '.join(missing)}")
    return onnxruntime


def onnx_versions() -> dict[str, str]:
    """Installed versions of :data:`EXPORT_LIBRARIES` (``"-"`` when one is missing)."""
    out = {}
    for pkg in EXPORT_LIBRARIES:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "-"
    return out


def _unsupported(name, why: str) -> RecutilsError:
    return RecutilsError(
        f"model {model_label(str(name))!r} cannot use the onnx backends: {why}; they support BERT-like encoders "
        f"({', '.join(SUPPORTED_MODEL_TYPES)}) with mean pooling — use backend='torch' for this model")


def _class_name(module_type: str) -> str:
    return str(module_type).rsplit(".", 1)[-1]


def _local_folder(name, cache_dir=None) -> Path:
    path = Path(resolve_model(str(name), cache_dir))
    if not path.is_dir():
        raise RecutilsError(f"the onnx backends export a local copy of the model, and {name!r} has none: install its "
                            "offline copy or pass a folder holding a sentence-transformers model")
    return path


def _mean_pooling_only(cfg: dict) -> bool:
    mode = cfg.get("pooling_mode")
    if mode is not None:  # newer sentence-transformers: "mean" or a list of modes
        modes = [mode] if isinstance(mode, str) else list(mode)
        return modes == ["mean"]
    flags = {k: bool(v) for k, v in cfg.items() if k.startswith("pooling_mode_")}
    return flags.get("pooling_mode_mean_tokens", False) and not any(v for k, v in flags.items() if k != "pooling_mode_mean_tokens")


def model_spec(name, cache_dir=None) -> dict:
    """What the export needs to know about a model, read from its folder without loading it.

    Raises a one-line :class:`RecutilsError` for a model the onnx backends cannot reproduce:
    a pipeline other than ``Transformer → Pooling(mean) [→ Normalize]``, a model type outside
    :data:`SUPPORTED_MODEL_TYPES`, lower-casing or a default prompt.
    """
    folder = _local_folder(name, cache_dir)
    try:
        modules = json.loads((folder / "modules.json").read_text())
    except (OSError, ValueError):
        raise _unsupported(name, f"{folder} has no readable modules.json (not a sentence-transformers folder)") from None
    kinds = [_class_name(m.get("type", "")) for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise _unsupported(name, f"its modules are {' → '.join(kinds) or 'none'}")
    tpath = folder / modules[0].get("path", "")
    ppath = folder / modules[1].get("path", "")
    try:
        config = json.loads((tpath / "config.json").read_text())
        pooling = json.loads((ppath / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise _unsupported(name, f"cannot read its configuration ({exc})") from None
    if not _mean_pooling_only(pooling):
        raise _unsupported(name, f"its pooling is not the mean of the tokens ({ppath.name}/config.json)")
    model_type = str(config.get("model_type", "?"))
    if model_type not in SUPPORTED_MODEL_TYPES or config.get("is_decoder"):
        raise _unsupported(name, f"its transformer is a {model_type!r} model")
    st_cfg = {}
    for fname in ("sentence_bert_config.json", "config_sentence_transformers.json"):
        f = tpath / fname if (tpath / fname).is_file() else folder / fname
        if f.is_file():
            try:
                st_cfg[fname] = json.loads(f.read_text())
            except ValueError:
                raise _unsupported(name, f"{fname} is not valid JSON") from None
    if st_cfg.get("sentence_bert_config.json", {}).get("do_lower_case"):
        raise _unsupported(name, "it lower-cases its input (do_lower_case)")
    if st_cfg.get("config_sentence_transformers.json", {}).get("default_prompt_name"):
        raise _unsupported(name, "it prepends a default prompt")
    return {
        "folder": str(folder),
        "transformer_path": modules[0].get("path", ""),
        "model_type": model_type,
        "normalize": kinds[-1] == "Normalize",
        "dim": pooling.get("word_embedding_dimension") or config.get("hidden_size"),
        "max_seq_length": st_cfg.get("sentence_bert_config.json", {}).get("max_seq_length"),
    }


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


def _l2(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


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
