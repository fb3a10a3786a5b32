"""A notebook run's inputs, recorded in ``<output_dir>/inputs.json`` so that ``reproduce`` skips
a notebook whose inputs and outputs are as its last finished run left them.

The inputs (:func:`fingerprint`), kept component by component so a rerun can say why:

- ``source``: SHA-256 of ``notebooks/NN_name.py`` (the reviewed source); ``ipynb``: SHA-256 of
  the code cells of its paired ``.ipynb`` (``run`` syncs the pair first, and an ``.ipynb``
  edited on its own would take over);
- ``params``: SHA-256 of the params file used (``params/NN_name.LEVEL.yaml``);
- ``recutils``: SHA-256 of every file of the ``recutils`` package (``__pycache__`` left out). The
  whole package, not the modules a notebook names: recutils modules import each other, so any
  file may take part in any notebook's numbers; editing one re-runs every notebook;
- ``data``: every registered dataset file (:mod:`recutils.datasets.registry`, opt-in releases
  included) in the notebook's data directory, as the loaders verify it: its SHA-256 (the
  registry's, or the one recorded from a verified archive) when it verifies, else why not
  (``missing``, ``checksum``, ...). The SHA-256 is remembered per file state, so this is cheap;
- ``libraries``: the versions of :data:`LIBRARIES` (``None``: not installed); ``python``: its version.

Caches shared between notebooks (embeddings, fine-tunes, ``$RECUTILS_CACHE_DIR``) are keyed by
what computed them, so they are not inputs here. ``inputs.json`` is written atomically and only
after a run finished; :func:`recutils.notebooks.execution.run` removes it first, so a failed or
interrupted run leaves none and the next ``reproduce`` runs that notebook again.
``inputs.json`` also lists the SHA-256 of every file the run left in its folder: a missing or
altered output makes the notebook run again too.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from pathlib import Path

from ..errors import RecutilsError
from ..fingerprints import LIBRARIES, library_versions, tree_hashes  # noqa: F401 (re-exported)
from .discovery import Notebook, _abs
from .params import load_params
from .sync import code_cells

INPUTS_FILE = "inputs.json"
COMPONENTS = ("source", "ipynb", "params", "recutils", "data", "libraries", "python")


def sha256_path(path: Path) -> str | None:
    """The file's SHA-256 (None when it does not exist)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def ipynb_code(path: Path) -> str | None:
    """SHA-256 of the ``.ipynb``'s code cells (normalised as :mod:`.sync` compares them; None if absent)."""
    import nbformat

    if not Path(path).is_file():
        return None
    try:
        cells = code_cells(nbformat.read(path, as_version=4).cells)
    except (OSError, ValueError, AttributeError) as exc:  # the run syncs it from the .py, or fails
        return f"unreadable: {exc}"
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def package_dir(root: Path) -> Path:
    """The ``recutils`` the notebooks' kernel imports: ``root/recutils`` (the kernel's working
    directory is ``root``) when there is one, else the package this module belongs to."""
    local = Path(root) / "recutils"
    return local if (local / "__init__.py").is_file() else Path(__file__).resolve().parents[1]


def data_checksums(data_dir: Path | None) -> dict[str, str]:
    """Every registered dataset file under the data directory: its verified SHA-256, or why it
    does not verify (``missing``, ``size``, ``checksum``, ...)."""
    from ..datasets.fetch import check
    from ..datasets.integrity import recorded_member
    from ..datasets.registry import DATASETS

    try:
        results = check(list(DATASETS), data_dir, fresh=False)
    except RecutilsError as exc:  # e.g. the data directory is a file
        return {"(data directory)": str(exc)}
    out = {}
    for r in results:
        if r.ok:
            out[r.file.path] = r.file.sha256 or (recorded_member(r.path) or {}).get("sha256", "verified")
        else:
            out[r.file.path] = r.problem.kind
    return out


def fingerprint(nb: Notebook, level: str, root: Path) -> dict:
    """The inputs of ``level``'s run of ``nb`` now (see the module's docstring)."""
    data_dir = load_params(nb, level).get("data_dir")
    return {"source": sha256_path(nb.source), "ipynb": ipynb_code(nb.ipynb), "params": sha256_path(nb.params_file(level)),
            "recutils": tree_hashes(package_dir(root)),
            "data": data_checksums(_abs(str(data_dir), root) if data_dir else None),
            "libraries": library_versions(), "python": platform.python_version()}


def write_record(out_dir: Path, inputs: dict, t0: float) -> Path:
    """``inputs.json`` for a run that started at ``t0`` and finished now: the inputs it ran with
    and the SHA-256 of each file it left in ``out_dir``."""
    from ..io import write_json

    stamp = "%Y-%m-%d %H:%M:%S"
    return write_json(Path(out_dir) / INPUTS_FILE, {
        "started": time.strftime(stamp, time.localtime(t0)), "finished": time.strftime(stamp), "t0": t0,
        "inputs": inputs, "outputs": tree_hashes(out_dir, skip=(INPUTS_FILE,))})


def read_record(out_dir: Path) -> dict | None:
    """``<out_dir>/inputs.json`` (None when absent or unreadable)."""
    from ..io import read_json

    try:
        rec = read_json(Path(out_dir) / INPUTS_FILE)
    except (OSError, ValueError):
        return None
    ok = isinstance(rec, dict) and isinstance(rec.get("inputs"), dict) and isinstance(rec.get("outputs"), dict)
    return rec if ok else None


def _names(keys: list[str], most: int = 3) -> str:
    return ", ".join(keys[:most]) + (f" and {len(keys) - most} more" if len(keys) > most else "")


def changes(old: dict, new: dict, components: tuple[str, ...] = COMPONENTS,
            valued: tuple[str, ...] = ("libraries",)) -> list[str]:
    """What differs between two fingerprints, in words (``["params changed", "recutils changed
    (models/ease.py)", "libraries changed (torch 2.3.0 -> 2.4.0)"]``), component by component
    (``components``; the keys of the ``valued`` ones are shown with their old and new values)."""
    out = []
    for key in components:
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            if key in valued:
                diff = [f"{k} {a.get(k)} -> {b.get(k)}" for k in diff]
            out.append(f"{key} changed ({_names(diff)})")
        else:
            out.append(f"{key} changed")
    return out


def stale_outputs(rec: dict, out_dir: Path) -> list[str]:
    """Why the recorded outputs are not all in place (empty when they are)."""
    now = tree_hashes(out_dir, skip=(INPUTS_FILE,))
    missing = [k for k in rec["outputs"] if k not in now]
    altered = [k for k, v in rec["outputs"].items() if k in now and now[k] != v]
    return ([f"outputs missing ({_names(missing)})"] if missing else []) + \
           ([f"outputs changed ({_names(altered)})"] if altered else [])


def rerun_reason(rec: dict | None, inputs: dict | None, out_dir: Path) -> str | None:
    """Why ``reproduce`` must run a notebook again, or None when its last run stands:
    the record ``rec`` of that run against the ``inputs`` now and the files in ``out_dir``."""
    if rec is None:
        return "no finished run on record"
    if inputs is None:
        return "its inputs cannot be read"
    why = changes(rec["inputs"], inputs) + stale_outputs(rec, out_dir)
    return "; ".join(why) or None


def since(rec: dict) -> str:
    """When the recorded run started, to the minute (``2026-12-05 11:02``)."""
    return str(rec.get("started", "?"))[:16]
