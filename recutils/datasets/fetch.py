"""Fetching: download, verify SHA-256, extract safely, move atomically into the cache.

Resolution of the data directory: an explicit argument, then ``$RECUTILS_DATA_DIR``,
then ``~/.cache/recutils/data``. A directory that already holds verified files (a local
mirror such as ``../shared/data``) is used as is; nothing is downloaded then.

Loading lives in :mod:`recutils.datasets.movielens`; loaders take a directory path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from ..constants import DATA_DIR_ENV
from ..errors import ChecksumError, DataError
from .registry import DATASETS, DatasetSpec, FileSpec, get_spec

_CHUNK = 1 << 20


def default_data_dir() -> Path:
    return Path.home() / ".cache" / "recutils" / "data"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Argument, then ``$RECUTILS_DATA_DIR``, then ``~/.cache/recutils/data``."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return default_data_dir()


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _missing_message(spec: DatasetSpec, f: FileSpec, root: Path) -> str:
    return (
        f"{f.path} is missing from {root}.\n"
        f"  Fetch it with `make data` (or `python -m recutils.datasets fetch`), which downloads\n"
        f"  {spec.url}\n"
        f"  or, offline, put the file at {root / f.path} (or point ${DATA_DIR_ENV} at a folder that has it)."
    )


def verify_file(spec: DatasetSpec, f: FileSpec, root: Path) -> Path:
    path = root / f.path
    if not path.is_file():
        raise DataError(_missing_message(spec, f, root))
    actual = sha256_file(path)
    if actual != f.sha256:
        raise ChecksumError(path, f.sha256, actual)
    return path


def verify(names: list[str] | None = None, data_dir=None) -> dict[str, Path]:
    """Check every file of the named datasets; raise on the first missing or bad file."""
    root = resolve_data_dir(data_dir)
    out = {}
    for name in names or list(DATASETS):
        spec = get_spec(name)
        for f in spec.files:
            out[f.path] = verify_file(spec, f, root)
    return out


def _download(url: str, dest: Path, progress: bool = True, timeout: float = 60.0) -> None:
    """Stream ``url`` into ``dest`` (a temp path), with a progress bar when asked."""
    try:
        resp = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - URL comes from the registry
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DataError(f"cannot download {url}: {exc}") from None
    total = int(resp.headers.get("Content-Length") or 0) or None
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1])
        except ImportError:  # pragma: no cover
            bar = None
    try:
        with resp, open(dest, "wb") as out:
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                out.write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(f"download of {url} broke off: {exc}") from None
    finally:
        if bar is not None:
            bar.close()


def _safe_extract_member(zf: zipfile.ZipFile, member: str, dest: Path) -> None:
    """Extract one archive member to ``dest`` after refusing absolute / ``..`` names."""
    p = PurePosixPath(member)
    if p.is_absolute() or ".." in p.parts:
        raise DataError(f"refusing unsafe path in archive: {member!r}")
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise DataError(f"archive lacks expected member {member!r}") from None
    with zf.open(info) as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, _CHUNK)


def fetch(names: list[str] | None = None, data_dir=None, progress: bool = True, force: bool = False) -> dict[str, Path]:
    """Make every file of the named datasets present and verified under the data directory.

    Files already present with the right checksum are left alone (unless ``force``).
    Everything is downloaded and checked inside a temporary folder first; only files whose
    SHA-256 matches are renamed into place, so a corrupt download never poisons the cache.
    """
    root = resolve_data_dir(data_dir)
    done: dict[str, Path] = {}
    for name in names or list(DATASETS):
        spec = get_spec(name)
        todo = []
        for f in spec.files:
            path = root / f.path
            if not force and path.is_file() and sha256_file(path) == f.sha256:
                done[f.path] = path
            else:
                todo.append(f)
        if not todo:
            continue
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=root) as tmpdir:
            tmp = Path(tmpdir)
            download = tmp / "download"
            _download(spec.url, download, progress=progress)
            staged: list[tuple[FileSpec, Path]] = []
            if spec.archive == "zip":
                try:
                    zf = zipfile.ZipFile(download)
                except zipfile.BadZipFile:
                    raise DataError(f"{spec.url} did not give a valid zip archive") from None
                with zf:
                    for f in todo:
                        out = tmp / f"member-{len(staged)}"
                        _safe_extract_member(zf, f.member or f.path, out)
                        staged.append((f, out))
            else:
                (f,) = todo
                staged.append((f, download))
            for f, p in staged:  # verify all before moving any
                actual = sha256_file(p)
                if actual != f.sha256:
                    raise ChecksumError(f"{f.path} (from {spec.url})", f.sha256, actual)
            for f, p in staged:
                target = root / f.path
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(p, target)
                done[f.path] = target
    return done


def ensure(names: list[str] | None = None, data_dir=None) -> Path:
    """Return the data directory after verifying the named datasets (no download)."""
    verify(names, data_dir)
    return resolve_data_dir(data_dir)
