"""Fetching: download, verify SHA-256, extract safely, move atomically into the cache.

Resolution of the data directory: an explicit argument, then ``$RECUTILS_DATA_DIR``,
then ``~/.cache/recutils/data``. A directory that already holds verified files (a local
mirror such as ``../shared/data``) is used as is; nothing is downloaded then.

Loading lives in :mod:`recutils.datasets.movielens`; loaders take a directory path and
verify the registered files they read (:mod:`recutils.datasets.integrity`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..constants import DATA_DIR_ENV
from ..errors import ChecksumError, DataError
from .integrity import Problem, VerificationError, file_problem, problems_error, sha256_file  # noqa: F401 (sha256_file: public)
from .registry import DATASETS, MANIFEST, ArchiveSpec, DatasetSpec, FileSpec, get_spec


def default_names() -> list[str]:
    """The datasets handled when none is named (the large MovieLens releases are opt-in)."""
    return [n for n, d in DATASETS.items() if d.default]

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


def _root_source(data_dir) -> str:
    """Where the data directory came from, for messages."""
    if data_dir is not None:
        return "--data-dir"
    if os.environ.get(DATA_DIR_ENV):
        return f"${DATA_DIR_ENV}"
    return "the default data directory"


def check_root(root: Path, data_dir=None) -> None:
    """Refuse a data directory that exists but is not a folder."""
    if root.exists() and not root.is_dir():
        raise DataError(
            f"data directory {root} (from {_root_source(data_dir)}) is a file, not a folder; "
            f"point {'--data-dir' if data_dir is not None else '$' + DATA_DIR_ENV} at a folder "
            f"(or leave it unset to use {default_data_dir()})"
        )


def _missing_message(spec: DatasetSpec, f: FileSpec, root: Path) -> str:
    make, cli = ("make data", "python -m recutils.datasets fetch") if spec.default else (
        f"make data DATASET={spec.name}", f"python -m recutils.datasets fetch --dataset {spec.name}")
    if spec.archive_file is not None:
        return (f"{f.path} is missing from {root}; fetch it with `{make}` (or `{cli}`), which downloads "
                f"{spec.url} (or uses {root / spec.archive_file.name} if you put it there) and checks it "
                f"against its published checksum")
    return (
        f"{f.path} is missing from {root}; "
        f"fetch it with `{make}` (or `{cli}`), which downloads {spec.url}, "
        f"or, offline, put the file at {root / f.path} (or point ${DATA_DIR_ENV} at a folder that has it)"
    )


@dataclass(frozen=True)
class FileCheck:
    """The verification result of one registered file."""

    spec: DatasetSpec
    file: FileSpec
    path: Path
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check(names: list[str] | None = None, data_dir=None, fresh: bool = True) -> list[FileCheck]:
    """Check every file of the named datasets (all of them; nothing is raised for bad files).

    ``fresh``: hash every file again (the default, as ``verify`` does); otherwise reuse the
    SHA-256 remembered for an unchanged file state.
    """
    root = resolve_data_dir(data_dir)
    check_root(root, data_dir)
    out = []
    for name in names or default_names():
        spec = get_spec(name)
        for f in spec.files:
            out.append(FileCheck(spec, f, root / f.path, file_problem(f, root / f.path, fresh=fresh)))
    return out


def verify(names: list[str] | None = None, data_dir=None, fresh: bool = True) -> dict[str, Path]:
    """Hash every file of the named datasets; raise one DataError naming *every* missing or bad file.

    ``fresh=False`` reuses the SHA-256 remembered for unchanged files (see :mod:`.integrity`).
    """
    results = check(names, data_dir, fresh=fresh)
    bad = [r.problem for r in results if not r.ok]
    if bad:
        urls = list(dict.fromkeys(r.spec.url for r in results if not r.ok))
        raise problems_error(bad, resolve_data_dir(data_dir), data_dir is not None, urls, total=len(results))
    return {r.file.path: r.path for r in results}


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


def _make_dirs(root: Path) -> list[Path]:
    """``mkdir -p root``; return the folders it created, deepest first."""
    created = []
    p = root
    while not p.exists() and p != p.parent:
        created.append(p)
        p = p.parent
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_empty(created)
        raise DataError(f"cannot create data directory {root}: {exc.strerror or exc}") from None
    return created


def _remove_empty(dirs: list[Path]) -> None:
    for d in dirs:  # deepest first; stop at the first folder that is not empty
        try:
            d.rmdir()
        except OSError:
            break


def _fetch_dataset(spec: DatasetSpec, todo: list[tuple[FileSpec, Problem | None]], root: Path,
                   progress: bool) -> dict[str, Path]:
    done = {}
    local = [p for _, p in todo if p is not None]
    try:
        tmp_ctx = tempfile.TemporaryDirectory(prefix=".fetch-", dir=root)
    except OSError as exc:
        prefix = "; ".join(p.describe() for p in local) + ", and " if local else ""
        raise DataError(f"{prefix}cannot write to data directory {root}: {exc.strerror or exc}") from None
    with tmp_ctx as tmpdir:
        tmp = Path(tmpdir)
        download = tmp / "download"
        try:
            if spec.archive_file is not None:
                download = _checked_archive(spec, spec.archive_file, root, download, progress)
            else:
                _download(spec.url, download, progress=progress)
            staged: list[tuple[FileSpec, Path]] = []
            if spec.archive == "zip":
                try:
                    zf = zipfile.ZipFile(download)
                except zipfile.BadZipFile:
                    raise DataError(f"{spec.url} did not give a valid zip archive") from None
                with zf:
                    for f, _ in todo:
                        out = tmp / f"member-{len(staged)}"
                        _safe_extract_member(zf, f.member or f.path, out)
                        staged.append((f, out))
            else:
                ((f, _),) = todo
                staged.append((f, download))
            recorded = {}
            for f, p in staged:  # verify all before moving any
                actual = sha256_file(p)
                if not f.sha256:  # member of a verified archive (zip CRC checked on extraction): record it
                    recorded[f.path] = {"size": p.stat().st_size, "sha256": actual}
                elif actual != f.sha256:
                    raise ChecksumError(f"{f.path} (from {spec.url})", f.sha256, actual)
        except DataError as exc:
            corrupt = [p for p in local if p.kind != "missing"]
            if not corrupt:
                raise
            # say first which local file failed verification, then why no fresh copy came
            msg = (f"{'; '.join(p.describe() for p in corrupt)}; fetching a fresh copy failed: {exc}; "
                   f"offline, copy good files into {root} (or point ${DATA_DIR_ENV} at a folder that has them)")
            raise VerificationError(msg, corrupt) from None
        for f, p in staged:
            target = root / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            if f.path in recorded:
                _record_members(target.parent, {Path(f.path).name: recorded[f.path]}, spec.archive_file)
            os.replace(p, target)
            done[f.path] = target
    return done


def _record_members(folder: Path, entries: dict, archive: ArchiveSpec | None) -> None:
    """Add ``{name: {size, sha256}}`` to the folder's record of verified members (atomically)."""
    import json

    from ..io import write_json

    try:
        data = json.loads((folder / MANIFEST).read_text())
        files = data["files"] if isinstance(data.get("files"), dict) else {}
    except (OSError, ValueError, AttributeError, KeyError):
        files = {}
    files.update(entries)
    write_json(folder / MANIFEST, {"archive": archive.name if archive else None,
                                   "checksum_source": archive.source if archive else None, "files": files})


def archive_problem(a: ArchiveSpec, path: Path) -> str | None:
    """Why ``path`` is not the published archive ``a`` (size, then SHA-256 or MD5), or None."""
    import hashlib

    size = path.stat().st_size
    if a.size is not None and size != a.size:
        return f"{size} bytes, expected {a.size}"
    algo, expected = ("sha256", a.sha256) if a.sha256 else ("md5", a.md5)
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    if h.hexdigest() != expected:
        return f"{algo} {h.hexdigest()}, expected {expected} ({a.source})"
    return None


def _checked_archive(spec: DatasetSpec, a: ArchiveSpec, root: Path, download: Path, progress: bool) -> Path:
    """The archive, verified against its published checksum: ``<root>/<name>`` when the user put
    it there (offline), else downloaded into ``download``."""
    local = root / a.name
    if local.is_file():
        problem = archive_problem(a, local)
        if problem is None:
            return local
        raise DataError(f"{local} is not the published {a.name} ({problem}); delete it or replace it with "
                        f"a good copy of {spec.url}")
    _download(spec.url, download, progress=progress)
    problem = archive_problem(a, download)
    if problem is not None:
        raise DataError(f"the download of {spec.url} does not match its published checksum ({problem}); "
                        "nothing was extracted")
    return download


def fetch(names: list[str] | None = None, data_dir=None, progress: bool = True, force: bool = False) -> dict[str, Path]:
    """Make every file of the named datasets present and verified under the data directory.

    Files already present with the right size and checksum are left alone (unless ``force``).
    Everything is downloaded and checked inside a temporary folder first; only files whose
    SHA-256 matches are renamed into place, so a corrupt download never poisons the cache.
    Folders created for a fetch that fails are removed again.
    """
    root = resolve_data_dir(data_dir)
    check_root(root, data_dir)
    names = names or default_names()
    specs = [get_spec(n) for n in names]  # unknown names fail before anything is created
    done: dict[str, Path] = {}
    created: list[Path] | None = None
    try:
        for spec in specs:
            todo: list[tuple[FileSpec, Problem | None]] = []
            for f in spec.files:
                problem = file_problem(f, root / f.path)
                if problem is None and not force:
                    done[f.path] = root / f.path
                else:
                    todo.append((f, problem))
            if not todo:
                continue
            if created is None:
                created = _make_dirs(root)
            done.update(_fetch_dataset(spec, todo, root, progress))
    except BaseException:
        _remove_empty(created or [])
        raise
    return done


