"""Execution: one notebook run with papermill, with its checked params, from the repository root.

Named ``execution`` rather than ``run`` so that the package attribute ``recutils.notebooks.run``
stays the function :func:`run` and never shadows (or is shadowed by) a submodule.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import RecutilsError
from .discovery import ROOT, Notebook, _abs, _rel, discover, find
from .params import notebook_params
from .sync import _norm, sync_pair

KERNEL = "python3"


class NotebookFailed(RecutilsError):
    """A cell raised while executing a notebook; the message says which."""


def _failure_message(nb: Notebook, exc, out_path: Path) -> str:
    """Which notebook, which cell, which error, and where the partial notebook is."""
    src = _norm(exc.source or "").splitlines()
    first = next((line for line in src if line.strip() and not line.startswith("#")), src[0] if src else "")
    return (f"{nb.name}: cell {exc.cell_index} (In [{exc.exec_count}]) raised {exc.ename}: {exc.evalue}\n"
            f"  cell starts: {first.strip()[:100]}\n"
            f"  partial notebook: {_rel(out_path, nb.root)}")


def execute(nb: Notebook, params: dict, out_path: Path, root: Path = ROOT) -> Path:
    """Sync the pair, then execute it with papermill into ``out_path`` (cwd = ``root``).
    Raises :class:`NotebookFailed` naming the failing cell; the partial notebook stays."""
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    sync_pair(nb)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    node = nbformat.read(nb.ipynb, as_version=4)
    node.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    # the executed notebook shows its figures inline (make exports MPLBACKEND=Agg for scripts)
    if os.environ.get("MPLBACKEND", "").lower() == "agg":
        os.environ.pop("MPLBACKEND")
    try:
        pm.execute_notebook(node, str(out_path), parameters=params, kernel_name=KERNEL, cwd=str(root),
                            progress_bar=False, log_output=False,
                            # quiet kernel start-up (ipykernel warns about local TCP on every start)
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    except PapermillExecutionError as exc:
        raise NotebookFailed(_failure_message(nb, exc, out_path)) from None
    return out_path


def run(name: str, level: str = "full", output_dir: str | None = None, root: Path = ROOT) -> Path:
    """Execute one notebook into ``<output_dir>/NAME.ipynb``; returns that path.
    A previous ``metrics.json`` in ``output_dir`` is removed first (no stale results)."""
    nb = find(name, discover(root))
    params = notebook_params(nb, level, output_dir)
    out_dir = _abs(params["output_dir"], root)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").unlink(missing_ok=True)
    return execute(nb, params, out_dir / f"{nb.name}.ipynb", root)
