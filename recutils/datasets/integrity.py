"""Verify before use: size on every use, SHA-256 once per file state.

Every loader checks a registered file against :mod:`~recutils.datasets.registry` before
parsing it:

* its size against the registry's expected size, every time (one ``stat``);
* its SHA-256, once per *file state* — resolved path, size, ``mtime_ns``, inode and
  ``ctime_ns``. The digest of a state is remembered in a small JSON file,
  ``$RECUTILS_CACHE_DIR/datasets/sha256-memo.json`` (default ``~/.cache/recutils``),
  written atomically, and in memory for the life of the process. Any write to the file
  changes its ``mtime``/``ctime`` (``ctime`` cannot be set back with ``touch``), and a
  copy or a replacement gets a new inode, so a changed file is hashed again.

A cache folder that cannot be written only means the digest is recomputed next time.
``python -m recutils.datasets verify`` always hashes every file afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..constants import CACHE_DIR_ENV, DATA_DIR_ENV
from ..errors import ChecksumError, DataError
from .registry import MANIFEST

_CHUNK = 1 << 20
_MEMO_VERSION = 1
_MAX_ENTRIES = 256
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")

#: digests already known in this process: (resolved path, size, mtime_ns, inode, ctime_ns) -> sha256
_seen: dict[tuple, str] = {}


def cache_dir() -> Path:
    """``$RECUTILS_CACHE_DIR``, else ``~/.cache/recutils``."""
    env = os.environ.get(CACHE_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "recutils"


def memo_path() -> Path:
    """The JSON file remembering the SHA-256 of each verified file state."""
    return cache_dir() / "datasets" / "sha256-memo.json"


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _state(path: Path) -> tuple[str, dict]:
    st = os.stat(path)
    return str(path.resolve()), {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino,
                                 "ctime_ns": st.st_ctime_ns}


def _read_memo() -> dict:
    try:
        data = json.loads(memo_path().read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _MEMO_VERSION or not isinstance(data.get("files"), dict):
        return {}
    return data["files"]


def _remember(key: str, state: dict, sha: str) -> None:
    from ..io import write_json

    files = _read_memo()
    files[key] = {**state, "sha256": sha}
    # forget files that are gone (temporary copies) and keep the memo small
    files = {k: v for k, v in files.items() if os.path.exists(k)}
    if len(files) > _MAX_ENTRIES:
        files = dict(list(files.items())[-_MAX_ENTRIES:])
    try:
        write_json(memo_path(), {"version": _MEMO_VERSION, "files": files})
    except OSError:  # read-only or missing cache: the digest is just computed again next time
        pass


def sha256_remembered(path: str | os.PathLike, fresh: bool = False) -> str:
    """The file's SHA-256, computed once per file state (``fresh``: always compute, then remember)."""
    path = Path(path)
    key, state = _state(path)
    tkey = (key, *state.values())
    if not fresh:
        sha = _seen.get(tkey)
        if sha is not None:
            return sha
        entry = _read_memo().get(key)
        if (isinstance(entry, dict) and all(entry.get(k) == v for k, v in state.items())
                and isinstance(entry.get("sha256"), str) and _SHA_RE.match(entry["sha256"])):
            _seen[tkey] = entry["sha256"]
            return entry["sha256"]
    sha = sha256_file(path)
    if _state(path) == (key, state):  # unchanged while hashing: safe to remember
        _seen[tkey] = sha
        _remember(key, state, sha)
    return sha


# --------------------------------------------------------------------------- problems

@dataclass(frozen=True)
class Problem:
    """Why one registered file is not usable."""

    path: Path  #: where the file is (or should be)
    rel: str  #: its registry path
    kind: str  #: "missing", "truncated", "size", "checksum", "unreadable" or "unverified"
    detail: str = ""
    expected: str = ""  #: the registry's sha256
    actual: str = ""  #: the file's sha256, when it was computed

    def describe(self) -> str:
        verb = {"missing": "is missing", "truncated": "is truncated", "size": "has the wrong size",
                "checksum": "is corrupt", "unreadable": "cannot be read",
                "unverified": "was not extracted from a verified archive"}[self.kind]
        return f"{self.path} {verb}" + (f" ({self.detail})" if self.detail else "")


def fix_hint(root: Path, explicit: bool, n: int = 1, urls: list[str] | None = None, with_verify: bool = True) -> str:
    """How to restore ``n`` registered files in ``root``."""
    dd = f" --data-dir {root}" if explicit else ""
    out = f"fetch {'a good copy' if n == 1 else 'good copies'} with `python -m recutils.datasets fetch{dd}`"
    if urls:
        out += f" (downloads {', '.join(urls)}) or, offline, copy good files into {root}"
    if with_verify:
        out += f" (`python -m recutils.datasets verify{dd}` lists every bad file)"
    return out


def missing_hint(urls: list[str], root: Path) -> str:
    return (f"fetch with `make data` (or `python -m recutils.datasets fetch`), which downloads "
            f"{', '.join(urls)}, or, offline, put the files under {root} "
            f"(or point ${DATA_DIR_ENV} at a folder that has them)")


def file_problem(f, path: Path, fresh: bool = False) -> Problem | None:
    """Check ``path`` against the registry entry ``f`` (a FileSpec); None when it is good.

    The size is compared first (no reading); the SHA-256 comes from
    :func:`sha256_remembered` unless ``fresh``.
    """
    path = Path(path)
    if not path.is_file():
        return Problem(path, f.path, "missing")
    try:
        size = path.stat().st_size
        if f.size is not None and size != f.size:
            kind = "truncated" if size < f.size else "size"
            return Problem(path, f.path, kind, f"{size} bytes, expected {f.size}", f.sha256)
        expected = f.sha256
        if not expected:  # a member of an archive checked at fetch time: its recorded digest
            recorded = recorded_member(path)
            if recorded is None:
                return Problem(path, f.path, "unverified",
                               f"no record of a verified archive in {path.parent / MANIFEST}")
            if recorded["size"] != size:
                kind = "truncated" if size < recorded["size"] else "size"
                return Problem(path, f.path, kind, f"{size} bytes, expected {recorded['size']}", recorded["sha256"])
            expected = recorded["sha256"]
        actual = sha256_remembered(path, fresh=fresh)
    except OSError as exc:
        return Problem(path, f.path, "unreadable", exc.strerror or str(exc), f.sha256)
    if actual != expected:
        return Problem(path, f.path, "checksum", f"sha256 {actual}, expected {expected}", expected, actual)
    return None


def recorded_member(path: Path) -> dict | None:
    """``{size, sha256}`` recorded for ``path`` when it was extracted from a verified archive."""
    try:
        data = json.loads((Path(path).parent / MANIFEST).read_text())
        entry = data["files"][Path(path).name]
        if isinstance(entry["size"], int) and _SHA_RE.match(entry["sha256"]):
            return entry
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


class VerificationError(ChecksumError):
    """One or more registered files do not match the registry (size or SHA-256)."""

    def __init__(self, message: str, problems: list[Problem]):
        first = next((p for p in problems if p.kind == "checksum"), problems[0])
        self.path, self.expected, self.actual = first.path, first.expected, first.actual
        self.problems = problems
        DataError.__init__(self, message)


def hints(problems: list[Problem], root: Path, explicit: bool, urls: list[str], with_verify: bool = True) -> str:
    """How to fix these problems, in one line."""
    if all(p.kind == "missing" for p in problems):
        return missing_hint(urls, root)
    n = len(problems)
    if any(p.kind == "missing" for p in problems):  # missing and corrupt files: one fetch restores both
        return fix_hint(root, explicit, n, urls, with_verify)
    return fix_hint(root, explicit, n, None, with_verify)


def problems_error(problems: list[Problem], root: Path, explicit: bool, urls: list[str],
                   total: int | None = None) -> DataError:
    """One DataError (a :class:`VerificationError` when a file is corrupt) describing every problem."""
    if len(problems) == 1:
        head = problems[0].describe()
    else:
        of = f" of {total}" if total else ""
        head = f"{len(problems)}{of} files failed verification in {root}: " + "; ".join(p.describe() for p in problems)
    msg = f"{head}; {hints(problems, root, explicit, urls)}"
    if any(p.kind != "missing" for p in problems):
        return VerificationError(msg, problems)
    return DataError(msg)
