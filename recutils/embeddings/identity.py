"""What identifies a model's weights (the encoders' cache keys and the ONNX exports' manifests).

Its own module so that :mod:`.encode` and :mod:`.onnx` both use it without importing each other.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from ..errors import RecutilsError
from .resolve import canonical_name, resolve_model

#: the files whose bytes identify a model folder
_WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "config.json", "tokenizer.json", "modules.json")


@functools.lru_cache(maxsize=64)
def _folder_digest(folder: str, state: tuple) -> str:
    h = hashlib.sha256()
    for rel, _size, _mtime in state:
        h.update(rel.encode() + b"\0")
        with open(Path(folder) / rel, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def weights_identity(model_name: str, cache_dir=None) -> str:
    """What identifies the weights behind ``model_name``: the SHA-256 of its local folder's
    weight, config and tokenizer files (memoised per file state in this process), or, for a
    name that only the hub can resolve, the name itself (the hub's revision is not known
    here). ``"<name>#ft"`` (a fine-tuned copy, keyed further by its settings) uses its base."""
    base = str(model_name).split("#", 1)[0]
    try:
        path = Path(resolve_model(base, cache_dir))
    except RecutilsError:
        path = None
    if path is None or not path.is_dir():
        return f"name:{canonical_name(base)}"
    files = sorted({f for pat in _WEIGHT_PATTERNS for f in path.rglob(pat) if f.is_file()})
    if not files:
        return f"name:{canonical_name(base)}"
    state = tuple((str(f.relative_to(path)), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return f"sha256:{_folder_digest(str(path), state)}"
