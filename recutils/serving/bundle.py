"""The artifacts folder as a verified, self-contained bundle: nothing outside it is read, nothing
altered in it is served.

``manifest.json`` lists every file of the bundle with its size and SHA-256 (``files``). Before
the service uses a file, :meth:`Bundle.path` checks that

* its name in the manifest is a relative, normalised POSIX path (no ``..``, no absolute path,
  no backslash) that resolves inside the folder (a symlink out of it is refused);
* it is listed in ``files``, is a regular file, and its size and SHA-256 match — the digest is
  computed once per file state and remembered, like the data files' (:mod:`recutils.datasets.integrity`).

The arrays are then checked against the data served before any request sees them
(:func:`check_top`, :func:`check_tfidf`, :func:`check_embeddings`): one row per user (or
movie), movie ids in the catalogue, finite scores in descending order, TF-IDF vocabulary in
range. Any failure is an :class:`ArtifactError`: one line naming the file and what is wrong;
the service logs it as one WARNING and fits that model (or index) instead, or, with
``--require-artifacts``, stops with ``error: …`` (exit 2).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path, PurePosixPath

import numpy as np

from ..errors import RecutilsError

MANIFEST = "manifest.json"
#: the manifest format this service reads and writes (1: without the ``files`` list)
FORMAT = 2
MAX_MANIFEST_BYTES = 16 << 20
_SHA = re.compile(r"^[0-9a-f]{64}$")


class ArtifactError(RecutilsError):
    """An artifact is missing, outside the folder, altered or inconsistent with the data served."""


def check_rel(rel, where: str = "a file name") -> str:
    """``rel`` if it is a relative, normalised POSIX path inside the folder, else ArtifactError."""
    if not isinstance(rel, str) or not rel:
        raise ArtifactError(f"{where} must be a non-empty relative path, got {_short(rel)}")
    p = PurePosixPath(rel)
    if ("\\" in rel or "\x00" in rel or p.is_absolute() or any(part in ("..", ".") for part in rel.split("/"))
            or p.as_posix() != rel or len(rel) > 1024):
        raise ArtifactError(f"{where} {rel!r} is not a plain relative path inside the artifacts folder")
    return rel


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _typed(obj, key: str, kinds, where: str, required: bool = True):
    """``obj[key]`` if it has one of the JSON types ``kinds`` (``where``: its path in the manifest)."""
    if not isinstance(obj, dict):
        raise ArtifactError(f"{MANIFEST}: {where} must be an object, got {_short(obj)}")
    name = key if where == "manifest" else f"{where}.{key}"
    if key not in obj:
        if required:
            raise ArtifactError(f"{MANIFEST}: {name} is missing")
        return None
    v = obj[key]
    if not isinstance(v, kinds) or (isinstance(v, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,))):
        raise ArtifactError(f"{MANIFEST}: {name} must be {_kind_name(kinds)}, got {_short(v)}")
    return v


def _kind_name(kinds) -> str:
    names = {dict: "an object", str: "a string", int: "a whole number", float: "a number", list: "a list",
             type(None): "null"}
    ks = kinds if isinstance(kinds, tuple) else (kinds,)
    return " or ".join(names.get(k, k.__name__) for k in ks)


def check_manifest(m) -> dict:
    """The manifest's structure (types of every section the service reads), or ArtifactError."""
    if not isinstance(m, dict):
        raise ArtifactError(f"{MANIFEST} must hold a JSON object, got {type(m).__name__}")
    fmt = m.get("format")
    if fmt != FORMAT or isinstance(fmt, bool):
        raise ArtifactError(f"{MANIFEST} is format {_short(fmt)}, this service reads format {FORMAT} "
                            "(`python -m recutils.serving artifacts` rewrites it)")
    data = _typed(m, "data", dict, "manifest")
    for k in ("ratings_sha256", "movies_sha256"):
        _typed(data, k, str, "data")
    for k in ("n_ratings", "n_movies"):
        _typed(data, k, int, "data", required=False)
    _typed(m, "created_at", (str, type(None)), "manifest", required=False)
    files = _typed(m, "files", dict, "manifest")
    for rel, entry in files.items():
        check_rel(rel, f"{MANIFEST}: files entry")
        size = _typed(entry, "size", int, f"files[{rel!r}]")
        sha = _typed(entry, "sha256", str, f"files[{rel!r}]")
        if size < 0 or not _SHA.match(sha):
            raise ArtifactError(f"{MANIFEST}: files[{rel!r}] needs a size ≥ 0 and a 64-hex-digit sha256")
    for name, entry in _typed(m, "models", dict, "manifest").items():
        where = f"models.{name}"
        for key, rel in _typed(entry, "files", dict, where).items():
            check_rel(rel, f"{MANIFEST}: {where}.files.{key}")
        _typed(entry, "config", dict, where, required=False)
        _typed(entry, "metrics", (dict, type(None)), where, required=False)
    search = _typed(m, "search", dict, "manifest")
    sim = _typed(search, "similar", dict, "search", required=False)
    if sim is not None:
        check_rel(_typed(sim, "file", str, "search.similar"), f"{MANIFEST}: search.similar.file")
        shrink = _typed(sim, "shrinkage", (int, float), "search.similar")
        if not math.isfinite(shrink):
            raise ArtifactError(f"{MANIFEST}: search.similar.shrinkage must be finite")
    tfidf = _typed(search, "tfidf", dict, "search", required=False)
    if tfidf is not None:
        check_rel(_typed(tfidf, "dir", str, "search.tfidf"), f"{MANIFEST}: search.tfidf.dir")
    dense = _typed(search, "dense", dict, "search", required=False)
    if dense is not None:
        check_rel(_typed(dense, "file", str, "search.dense"), f"{MANIFEST}: search.dense.file")
        _typed(dense, "model_name", str, "search.dense")
    return m


def read_manifest(directory: Path) -> dict | None:
    """The checked manifest in ``directory``; None when there is none; ArtifactError when it is unusable."""
    p = Path(directory) / MANIFEST
    if not p.exists() and not p.is_symlink():
        return None
    if p.is_symlink() or not p.is_file():
        raise ArtifactError(f"{p} is not a regular file")
    try:
        if p.stat().st_size > MAX_MANIFEST_BYTES:
            raise ArtifactError(f"{p} is larger than {MAX_MANIFEST_BYTES >> 20} MiB")
        m = json.loads(p.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise ArtifactError(f"{p} is not readable JSON ({' '.join(str(exc).split())[:200]})") from None
    try:
        return check_manifest(m)
    except ArtifactError as exc:
        raise ArtifactError(f"{Path(directory)}/{exc}") from None
    except RecursionError:
        raise ArtifactError(f"{p} is nested too deeply") from None


def file_entries(root: Path, sha256) -> dict:
    """``{relative path: {"size", "sha256"}}`` for every regular file under ``root`` (for writing)."""
    out = {}
    for p in sorted(Path(root).rglob("*")):
        if p.is_file() and not p.is_symlink() and p.name != MANIFEST:
            out[p.relative_to(root).as_posix()] = {"size": p.stat().st_size, "sha256": sha256(p)}
    return out


class Bundle:
    """A folder + its checked manifest; every file is verified before it is used."""

    def __init__(self, root, manifest: dict):
        self.root = Path(root)
        self.manifest = manifest
        self._real = self.root.resolve()
        self._ok: set[str] = set()

    @classmethod
    def open(cls, root) -> "Bundle | None":
        m = read_manifest(root)
        return None if m is None else cls(root, m)

    def path(self, rel, fresh: bool = False) -> Path:
        """The verified file ``rel`` (contained, listed, size and SHA-256 as in the manifest)."""
        from ..datasets.integrity import sha256_remembered

        rel = check_rel(rel)
        shown = self.root / rel
        entry = self.manifest["files"].get(rel)
        if entry is None:
            raise ArtifactError(f"{shown}: not listed in {MANIFEST}'s files (size and SHA-256 unknown)")
        p = self.root / rel
        try:
            real = p.resolve(strict=True)
        except (OSError, RuntimeError):
            raise ArtifactError(f"{shown}: missing") from None
        if not real.is_relative_to(self._real):
            raise ArtifactError(f"{shown}: resolves to {real}, outside the artifacts folder")
        if not real.is_file():
            raise ArtifactError(f"{shown}: not a regular file")
        size = real.stat().st_size
        if size != entry["size"]:
            raise ArtifactError(f"{shown}: {size:,} bytes, the manifest says {entry['size']:,} (cut short or replaced?)")
        try:
            sha = sha256_remembered(real, fresh=fresh)
        except OSError as exc:
            raise ArtifactError(f"{shown}: cannot read it ({exc.strerror or exc})") from None
        if sha != entry["sha256"]:
            raise ArtifactError(f"{shown}: SHA-256 {sha[:12]}… differs from the manifest's {entry['sha256'][:12]}… "
                                "(edited or replaced?)")
        return real

    def verify_all(self) -> None:
        """Every listed file, hashed afresh (after writing a bundle)."""
        for rel in self.manifest["files"]:
            self.path(rel, fresh=True)

    def arrays(self, rel, names) -> dict:
        """Named arrays of a verified ``.npz`` (numeric only: never unpickled)."""
        p = self.path(rel)
        try:
            with np.load(p, allow_pickle=False) as z:
                missing = [n for n in names if n not in z.files]
                if missing:
                    raise ArtifactError(f"{self.root / rel}: no array {', '.join(missing)}")
                return {n: z[n] for n in names}
        except ArtifactError:
            raise
        except Exception as exc:  # a corrupt archive: zipfile / numpy say it in many ways
            raise ArtifactError(f"{self.root / rel}: not a readable .npz ({_reason(exc)})") from None

    def array(self, rel) -> np.ndarray:
        p = self.path(rel)
        try:
            return np.load(p, allow_pickle=False)
        except Exception as exc:
            raise ArtifactError(f"{self.root / rel}: not a readable .npy ({_reason(exc)})") from None

    def json(self, rel):
        p = self.path(rel)
        try:
            return json.loads(p.read_bytes())
        except (ValueError, RecursionError, OSError) as exc:
            raise ArtifactError(f"{self.root / rel}: not readable JSON ({_reason(exc)})") from None


def _reason(exc) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


# --------------------------------------------------------------------------- array checks

def check_top(where, users, items, scores, rows: np.ndarray, catalogue: np.ndarray, min_cols: int,
              row_name: str = "user") -> None:
    """A top-N table fit to serve: one row per entry of ``rows`` (same ids, same order), integer
    movie ids from ``catalogue`` (``-1`` only as padding at a row's end), no repeats, finite
    scores in descending order; at least ``min_cols`` columns."""
    def bad(what):
        return ArtifactError(f"{where}: {what}")

    users, items, scores = np.asarray(users), np.asarray(items), np.asarray(scores)
    if users.ndim != 1 or users.dtype.kind not in "iu":
        raise bad(f"{row_name} ids must be a 1-D integer array, got {users.dtype} {users.shape}")
    if len(users) != len(rows) or not np.array_equal(users, rows):
        raise bad(f"{len(users):,} rows for {len(rows):,} {row_name}s served" if len(users) != len(rows)
                  else f"its {row_name} ids differ from those served")
    if items.ndim != 2 or items.dtype.kind not in "iu" or items.shape[0] != len(rows):
        raise bad(f"items must be an integer ({len(rows)}, N) array, got {items.dtype} {items.shape}")
    if scores.shape != items.shape or scores.dtype.kind != "f":
        raise bad(f"scores must be a float array shaped like items {items.shape}, got {scores.dtype} {scores.shape}")
    if items.shape[1] < min_cols:
        raise bad(f"{items.shape[1]} movies per {row_name}, the service needs {min_cols} (max_k)")
    valid = items >= 0
    if (items[~valid] != -1).any() or (~valid[:, :-1] & valid[:, 1:]).any():
        raise bad("negative movie ids other than -1 padding at the end of a row")
    known = np.isin(items[valid], catalogue)
    if not known.all():
        raise bad(f"{int((~known).sum()):,} movie ids not in the catalogue (e.g. {int(items[valid][~known][0])})")
    if not np.isfinite(scores[valid]).all():
        raise bad("scores that are not finite (NaN or infinite)")
    both = valid[:, 1:] & valid[:, :-1]
    s = np.where(valid, scores, 0.0)  # padding may hold -inf: compare only the listed movies' scores
    rising = both & (s[:, 1:] > s[:, :-1] + 1e-6 * np.maximum(1.0, np.abs(s[:, :-1])))
    if rising.any():
        r = int(np.flatnonzero(rising.any(1))[0])
        raise bad(f"scores not in descending order ({row_name} {int(rows[r])})")
    srt = np.sort(np.where(valid, items, -1 - np.arange(items.shape[1])), axis=1)
    if (srt[:, 1:] == srt[:, :-1]).any():
        raise bad("a movie listed twice in one row")
    if row_name == "movie" and (items == rows[:, None]).any():
        raise bad("a movie listed as similar to itself")


def check_tfidf(where, vocab, idf, docs: dict, movie_ids: np.ndarray) -> None:
    """Vocabulary indices unique and in range of ``idf``; the document matrix well-formed, one row per movie."""
    def bad(what):
        return ArtifactError(f"{where}: {what}")

    if not isinstance(vocab, dict) or not all(isinstance(t, str) and isinstance(i, int) and not isinstance(i, bool)
                                              for t, i in vocab.items()):
        raise bad("vocabulary.json must map terms to whole numbers")
    idf = np.asarray(idf)
    if idf.ndim != 1 or idf.dtype.kind != "f" or not np.isfinite(idf).all():
        raise bad("idf.npy must be a 1-D array of finite numbers")
    idx = np.fromiter(vocab.values(), np.int64, len(vocab))
    if len(idx) != len(idf) or (idx < 0).any() or (idx >= len(idf)).any() or len(np.unique(idx)) != len(idx):
        raise bad(f"vocabulary indices must be 0…{len(idf) - 1}, each once ({len(idx):,} terms, {len(idf):,} idf values)")
    ids = np.asarray(docs["movie_ids"])
    if ids.shape != movie_ids.shape or not np.array_equal(ids, movie_ids):
        raise bad("docs.npz was built for other movies")
    shape = np.asarray(docs["shape"])
    data, ind, ptr = (np.asarray(docs[k]) for k in ("data", "indices", "indptr"))
    if shape.shape != (2,) or shape.dtype.kind not in "iu" or tuple(int(s) for s in shape) != (len(movie_ids), len(idf)):
        raise bad(f"docs.npz shape {shape.tolist()} is not ({len(movie_ids)}, {len(idf)})")
    if (ind.ndim != 1 or ptr.ndim != 1 or data.ndim != 1 or ind.dtype.kind not in "iu" or ptr.dtype.kind not in "iu"
            or data.dtype.kind != "f" or len(ptr) != len(movie_ids) + 1 or len(data) != len(ind)
            or ptr[0] != 0 or ptr[-1] != len(ind) or (np.diff(ptr) < 0).any()):
        raise bad("docs.npz is not a well-formed sparse matrix")
    if len(ind) and ((ind < 0).any() or (ind >= len(idf)).any()):
        raise bad(f"docs.npz has term indices outside 0…{len(idf) - 1}")
    if not np.isfinite(data).all():
        raise bad("docs.npz has values that are not finite")


def check_embeddings(where, emb, n_movies: int) -> None:
    emb = np.asarray(emb)
    if emb.ndim != 2 or emb.dtype.kind != "f" or emb.shape[0] != n_movies or not np.isfinite(emb).all():
        raise ArtifactError(f"{where}: must be {n_movies} rows of finite numbers, got {emb.dtype} {emb.shape}")
