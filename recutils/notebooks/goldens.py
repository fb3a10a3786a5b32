"""Goldens: a notebook's smoke run, stripped of volatile metadata, and its ``metrics.json`` reference.

``tests/golden/NN_name.ipynb`` keeps outputs and execution counts (nbval compares the checked
cells); ``tests/golden/NN_name.metrics.json`` is the regression reference for the recorded numbers.

Notes
-----
:func:`strip_volatile` is not nbstripout's ``strip_output``: with outputs, counts and ids kept
(as nbval needs) that reduces to popping metadata keys, while dropping images inside an output,
keeping papermill's parameters, pinning the kernelspec and the ``cell-NNN`` ids have no
equivalent there (its own ids, ``"0"``, ``"1"``, ..., would rewrite every golden).
"""

from __future__ import annotations

import copy
from pathlib import Path

from ..errors import RecutilsError
from .discovery import ROOT, _abs, _rel, discover, find
from .execution import KERNEL, execute
from .params import notebook_params

_VOLATILE_CELL_KEYS = ("papermill", "execution", "ExecuteTime", "collapsed", "scrolled")


def strip_volatile(node):
    """A copy of an executed notebook without timestamps, durations, paths or images, with
    stable cell ids, so that regenerated goldens differ only where results changed."""
    nb = copy.deepcopy(node)
    md = nb.metadata
    params = md.get("papermill", {}).get("parameters")
    for key in ("papermill", "widgets", "jupytext"):
        md.pop(key, None)
    if params is not None:
        md["papermill"] = {"parameters": params}
    md["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    if "language_info" in md:
        md["language_info"].pop("version", None)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
        for key in _VOLATILE_CELL_KEYS:
            cell.get("metadata", {}).pop(key, None)
        if cell.get("cell_type") != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data is not None:
                for mime in [m for m in data if m.startswith("image/")]:
                    del data[mime]
                if not data:
                    continue
                out.get("metadata", {}).clear()
            outputs.append(out)
        cell["outputs"] = outputs
    return nb


def golden(name: str, root: Path = ROOT) -> Path:
    """Execute ``name`` with its smoke params and store the stripped result as its golden."""
    import nbformat

    from ..io import atomic_path

    nb = find(name, discover(root))
    params = notebook_params(nb, "smoke")
    out_dir = _abs(params["output_dir"], root)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").unlink(missing_ok=True)
    # executed beside the smoke outputs (kept for inspection when a cell fails)
    executed = execute(nb, params, out_dir / f"{nb.name}.ipynb", root)
    node = strip_volatile(nbformat.read(executed, as_version=4))
    metrics_path = out_dir / "metrics.json"
    if not metrics_path.is_file():
        raise RecutilsError(f"{nb.name} wrote no metrics.json into {_rel(out_dir, root)}: every notebook records its numbers there")
    nb.golden.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(nb.golden, suffix=".ipynb") as tmp_path:
        nbformat.write(node, str(tmp_path))
        tmp_path.chmod(0o644)
    # the reference the regression test compares the recorded numbers with (tests/golden/tolerances.yaml)
    with atomic_path(nb.reference, suffix=".json") as tmp_path:
        tmp_path.write_bytes(metrics_path.read_bytes())
        tmp_path.chmod(0o644)
    return nb.golden
