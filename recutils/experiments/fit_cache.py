"""Work shared between notebooks: the evaluated fits of registered models, on disk, by content.

Notebooks 01 and 05 both run :func:`~recutils.experiments.seeds.multi_seed` on the study's
five splits, and some of their candidates are the same registered model with the same
parameters on the same data (MostPop; EASE-r at the grid points the two grids share). With a
:class:`FitCache` the runner evaluates each such fit once: every validation point and every
final test fit of a :class:`~recutils.experiments.seeds.Candidate` is stored as its
:class:`~recutils.evaluation.EvalResult` (the per-user metric arrays, users and top-k lists)
under a key made of everything that decides it:

- the registered model and its parameters, the cut-off ``k`` and the candidate-item mask;
- the **content** of the training and test parts it was fitted and evaluated on (so a change
  of split, seed, validation carve-out or data is another key) and of the movie table when
  the model gets one;
- the SHA-256 of every file of the ``recutils`` package and the versions of the numeric
  libraries (a code change recomputes everything, as in ``make reproduce``).

A changed grid recomputes only its new points. :class:`~recutils.experiments.seeds.Scorer`
candidates (arbitrary factories, e.g. lambdas) and blends are never cached: nothing names what
they compute. Entries are written atomically (``.npz`` without pickle plus a ``.json`` naming
its key and the ``.npz``'s SHA-256); a truncated, altered or misplaced entry is recomputed. ``RECUTILS_FIT_CACHE=0`` turns the cache off.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import weakref
from pathlib import Path

import numpy as np

from ..fingerprints import array_digest

__all__ = ["FIT_CACHE_ENV", "FitCache", "split_digest"]

#: ``0`` turns the fit cache off (every fit is recomputed)
FIT_CACHE_ENV = "RECUTILS_FIT_CACHE"
_FORMAT = 1


def _frame_arrays(df, columns) -> list:
    import pandas as pd

    cols = [c for c in columns if c in df.columns]
    # object columns (the movie table's genre lists) are hashed through their repr
    frame = df[cols].apply(lambda col: col.map(repr) if col.dtype == object else col)
    return [np.frombuffer(repr((cols, len(df))).encode(), np.uint8),
            pd.util.hash_pandas_object(frame, index=False).to_numpy() if len(df) else np.zeros(0, np.uint64)]


#: split (or training data) object → its digest; splits are never changed after they are made
_SPLIT_DIGESTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def split_digest(split) -> str:
    """The content of a split (or of its training data): its user and item universes, training
    (and test) ratings and the cold-item mask — not its name or creation time. Computed once per
    split object (a grid asks for it at every point)."""
    d = _SPLIT_DIGESTS.get(split)
    if d is None:
        test = getattr(split, "test", None)
        cols = ("uidx", "iidx", "rating", "timestamp")
        d = _SPLIT_DIGESTS[split] = array_digest(
            split.users, split.items, np.asarray(split.cold_items, bool), *_frame_arrays(split.train, cols),
            *(_frame_arrays(test, cols) if test is not None else []), has_test=test is not None)
    return d


@functools.cache
def _code_digest() -> str:
    from ..fingerprints import library_versions, tree_hashes

    pkg = Path(__file__).resolve().parents[1]
    return hashlib.sha256(json.dumps([tree_hashes(pkg), library_versions()], sort_keys=True).encode()).hexdigest()


class FitCache:
    """Evaluated fits of registered models under ``directory`` (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.hits = 0
        self.misses = 0

    @classmethod
    def default(cls) -> "FitCache":
        """``$RECUTILS_CACHE_DIR/fits`` (default ``~/.cache/recutils/fits``)."""
        from ..datasets.integrity import cache_dir

        return cls(cache_dir() / "fits")

    @staticmethod
    def enabled() -> bool:
        return os.environ.get(FIT_CACHE_ENV, "1").strip() not in ("0", "false", "no", "off")

    def key(self, model: str, params: dict, split, k: int, candidates=None, item_table=None) -> str:
        parts = {"format": _FORMAT, "model": model, "params": {p: repr(v) for p, v in sorted(params.items())},
                 "k": int(k), "split": split_digest(split), "code": _code_digest(),
                 "candidates": None if candidates is None else array_digest(np.asarray(candidates, bool)),
                 "item_table": None if item_table is None else array_digest(
                     *_frame_arrays(item_table, list(item_table.columns)))}
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def _paths(self, key: str) -> tuple[Path, Path]:
        base = self.directory / key[:2] / key
        return base.with_suffix(".npz"), base.with_suffix(".json")

    def load(self, key: str):
        """The stored :class:`~recutils.evaluation.EvalResult`, or None (absent or unreadable)."""
        from ..evaluation import EvalResult

        npz, meta = self._paths(key)
        try:
            info = json.loads(meta.read_text())
            blob = npz.read_bytes()
            if info.get("key") != key or info.get("sha256") != hashlib.sha256(blob).hexdigest():
                raise ValueError("an entry of another key, or its .npz altered")
            with np.load(io.BytesIO(blob), allow_pickle=False) as z:
                arrays = {name: z[name] for name in z.files}
            result = EvalResult(model=info["model"], protocol=info["protocol"], k=int(info["k"]),
                                metrics=dict(info["metrics"]),
                                per_user={m: arrays[f"per_user__{m}"] for m in info["per_user"]},
                                users=arrays["users"], topk=arrays["topk"], eval_seconds=float(info["eval_seconds"]),
                                determinism=info["determinism"], n_candidates=int(info["n_candidates"]))
        except (OSError, KeyError, ValueError, TypeError):
            self.misses += 1
            return None
        self.hits += 1
        return result

    def save(self, key: str, result) -> None:
        """Store ``result`` (atomically; a cache that cannot be written is skipped)."""
        from ..io import atomic_path

        npz, meta = self._paths(key)
        arrays = {"users": np.asarray(result.users), "topk": np.asarray(result.topk),
                  **{f"per_user__{m}": np.asarray(v) for m, v in result.per_user.items()}}
        info = {"model": result.model, "protocol": result.protocol, "k": int(result.k),
                "metrics": {m: v.item() if isinstance(v, np.generic) else v for m, v in result.metrics.items()},
                "per_user": list(result.per_user),
                "eval_seconds": float(result.eval_seconds), "determinism": result.determinism,
                "n_candidates": int(result.n_candidates)}
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        info.update(key=key, sha256=hashlib.sha256(buf.getvalue()).hexdigest())
        try:
            with atomic_path(npz, suffix=".npz") as tmp:
                tmp.write_bytes(buf.getvalue())
            with atomic_path(meta) as tmp:  # written last: an entry without its .json is not read
                tmp.write_text(json.dumps(info))
        except OSError:
            pass
