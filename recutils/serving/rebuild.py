"""``artifacts`` redoes nothing when nothing changed: the inputs of a bundle, recorded in its manifest.

The manifest's ``inputs`` are what determines the bundle, component by component so that a
rebuild can say why — the same kind of fingerprint as a notebook's ``inputs.json``, made by the
same functions (:mod:`recutils.notebooks.inputs`):

- ``options``: the command's own: models, their config overrides (``--param``), the prompt index
  (``--search``), with or without study metrics, the data policy, the dense encoder, the
  similar-movies shrinkage, the top-N length and the bundle format;
- ``recutils``: SHA-256 of every file of the ``recutils`` package that runs (``__pycache__`` left
  out): editing any of them rebuilds;
- ``data``: every registered dataset file, as the loaders verify it (its SHA-256, or why it does
  not verify), and the SHA-256 of the files the service reads where they are found (a flat custom
  data folder too); remembered per file state, so cheap;
- ``libraries``: the versions of :data:`~recutils.notebooks.inputs.LIBRARIES`; ``python``: its version.

:func:`build` skips (one line: ``artifacts: unchanged since <date> (skipped; --force rebuilds)``)
when the bundle in ``out`` verifies — every listed file's size and SHA-256, as the service checks
them before use — and its recorded inputs equal the current ones; otherwise it says why it builds
and builds (:func:`~.artifacts.write_artifacts`, live stages on stderr: :mod:`.stages`). The
inputs are taken as the build starts: a change during the build rebuilds next time.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import platform
import sys
from pathlib import Path

from ..notebooks.inputs import changes, data_checksums, library_versions, tree_hashes
from . import artifacts as art
from .bundle import FORMAT, MANIFEST, ArtifactError, Bundle

COMPONENTS = ("options", "recutils", "data", "libraries", "python")


def options(models, params: dict | None = None, search=("tfidf",), with_metrics: bool = True, policy=None,
            dense_model: str = art.DENSE_MODEL, similar_shrinkage: float = art.SIMILAR_SHRINKAGE) -> dict:
    """The options of a build, flat (``params.torch_cf.max_epochs``, ``policy.dedupe``: a rebuild names
    the one that changed) and as JSON gives them back (tuples as lists)."""
    raw = {"models": list(models), "search": sorted(set(search)), "with_metrics": bool(with_metrics),
           "dense_model": dense_model, "similar_shrinkage": float(similar_shrinkage), "top_n": art.TOP_N,
           "format": FORMAT, "policy": None if policy is None else dataclasses.asdict(policy)}
    for name, overrides in (params or {}).items():
        raw.update({f"params.{name}.{k}": v for k, v in dict(overrides).items()})
    if raw["policy"] is not None:
        raw.update({f"policy.{k}": v for k, v in raw.pop("policy").items()})
    return json.loads(json.dumps(raw, sort_keys=True, default=str))


def package_root() -> Path:
    """The ``recutils`` package that runs (the one this module belongs to)."""
    return Path(__file__).resolve().parents[1]


def data_inputs(data_dir=None) -> dict:
    """Every registered dataset file's verified SHA-256 (or why not), overridden by the SHA-256 of
    the files the service reads where one is found (:func:`~.artifacts.file_checksums`)."""
    return {**data_checksums(data_dir), **art.file_checksums(data_dir)}


def fingerprint(opts: dict, data_dir=None) -> dict:
    """The inputs of a build with options ``opts`` (:func:`options`) now."""
    return {"options": opts, "recutils": tree_hashes(package_root()), "data": data_inputs(data_dir),
            "libraries": library_versions(), "python": platform.python_version()}


def rebuild_reason(out, inputs: dict) -> tuple[str | None, dict | None]:
    """``(why the bundle in out must be built, or None when it stands; its manifest, if readable)``."""
    out = Path(out)
    try:
        bundle = Bundle.open(out)
        if bundle is None:
            return f"no bundle in {out}", None
        for rel in bundle.manifest["files"]:
            bundle.path(rel)
    except ArtifactError as exc:
        return f"the bundle does not verify ({exc})", None
    rec = bundle.manifest.get("inputs")
    if not isinstance(rec, dict):
        return "its manifest records no inputs (written before they were recorded)", bundle.manifest
    why = changes(rec, inputs, COMPONENTS, valued=("options", "libraries"))
    return "; ".join(why) or None, bundle.manifest


def since(manifest: dict) -> str:
    """When the bundle was written, local time to the minute (``2026-12-05 11:02``)."""
    try:
        return _dt.datetime.fromisoformat(manifest["created_at"]).astimezone().strftime("%Y-%m-%d %H:%M")
    except (KeyError, TypeError, ValueError):
        return "?"


def build(out, models, data_dir=None, params: dict | None = None, search=("tfidf",), with_metrics: bool = True,
          policy=None, force: bool = False, stream=None, progress=None, **frames) -> dict | None:
    """Write the bundle into ``out`` unless its inputs are unchanged (``force``: always); one line on
    ``stream`` (stdout) says which and why, the stages show on ``progress`` (stderr; :mod:`.stages`).
    Returns the new manifest, or None when skipped. ``frames``: ``ratings=`` / ``movies=`` tables
    to train on instead of ``data_dir``'s (tests; the fingerprint is still ``data_dir``'s)."""
    from .stages import watch

    stream = sys.stdout if stream is None else stream
    inputs = fingerprint(options(models, params, search, with_metrics, policy), data_dir)
    why, manifest = rebuild_reason(out, inputs)
    if why is None and not force:
        print(f"artifacts: unchanged since {since(manifest)} (skipped; --force rebuilds)", file=stream, flush=True)
        return None
    verb = "building" if manifest is None and not (Path(out) / MANIFEST).exists() else "rebuilding"
    print(f"artifacts: {verb}: {'--force' if force else why}", file=stream, flush=True)
    with watch(progress):
        return art.write_artifacts(out, models, data_dir, params, search=search, with_metrics=with_metrics,
                                   policy=policy, inputs=inputs, **frames)
