"""The ONNX backends' fixed recipe and the checks before an export: which models qualify
(:func:`model_spec`), which backends exist, which onnx / onnxruntime versions are pinned. See
:mod:`recutils.embeddings.onnx` for the whole story."""

from __future__ import annotations

import importlib.metadata as md
import json
from pathlib import Path

import numpy as np

from ..errors import RecutilsError
from .resolve import model_label, resolve_model

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



# --- checks -----------------------------------------------------------------------------------
def check_backend(backend: str) -> str:
    """``backend`` if it is one of :data:`BACKENDS`, else a one-line :class:`RecutilsError`."""
    if backend not in BACKENDS:
        raise RecutilsError(f"unknown encoder backend {backend!r}; choose one of {', '.join(map(repr, BACKENDS))}")
    return backend


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


def _l2(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
