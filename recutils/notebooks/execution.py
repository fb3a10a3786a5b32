"""Execution: one notebook run with papermill, with its checked params, from the repository root.

Named ``execution`` rather than ``run`` so that the package attribute ``recutils.notebooks.run``
stays the function :func:`run` and never shadows (or is shadowed by) a submodule.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..errors import RecutilsError
from .discovery import ROOT, Notebook, _abs, _rel, discover, find
from .inputs import INPUTS_FILE
from .live import Display, Watch
from .malloc import kernel_environment
from .params import notebook_params
from .sync import _norm, sync_pair
from .timings import load_average, record, write_timings

KERNEL = "python3"
ENGINE = "recutils"  #: papermill's nbclient engine, telling a :class:`~.live.Watch` which cell starts


def _engine():
    """papermill's nbclient engine calling ``on_cell(cells, index, done)`` as each cell starts and
    completes, registered as :data:`ENGINE`."""
    from papermill.engines import NBClientEngine, papermill_engines

    class CellHookEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, on_cell=None, **kwargs):
            if on_cell is not None:
                start, complete = nb_man.cell_start, nb_man.cell_complete

                def cell_start(cell, cell_index=None, **kw):
                    on_cell(nb_man.nb.cells, cell_index, False)
                    return start(cell, cell_index, **kw)

                def cell_complete(cell, cell_index=None, **kw):
                    on_cell(nb_man.nb.cells, cell_index, True)
                    return complete(cell, cell_index, **kw)

                nb_man.cell_start, nb_man.cell_complete = cell_start, cell_complete
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register(ENGINE, CellHookEngine)


class NotebookFailed(RecutilsError):
    """A cell raised while executing a notebook; the message says which."""


def _failure_message(nb: Notebook, exc, out_path: Path) -> str:
    """Which notebook, which cell, which error, and where the partial notebook is."""
    src = _norm(exc.source or "").splitlines()
    first = next((line for line in src if line.strip() and not line.startswith("#")), src[0] if src else "")
    return (f"{nb.name}: cell {exc.cell_index} (In [{exc.exec_count}]) raised {exc.ename}: {exc.evalue}\n"
            f"  cell starts: {first.strip()[:100]}\n"
            f"  partial notebook: {_rel(out_path, nb.root)}")


def execute(nb: Notebook, params: dict, out_path: Path, root: Path = ROOT, display: Display | None = None) -> Path:
    """Sync the pair, then execute it with papermill into ``out_path`` (cwd = ``root``), showing its
    progress on ``display`` and writing ``timings.json`` beside it (:mod:`.live`, :mod:`.timings`).
    Raises :class:`NotebookFailed` naming the failing cell; the partial notebook stays."""
    t0 = time.time()
    import nbformat
    import papermill as pm
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    sync_pair(nb)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    node = nbformat.read(nb.ipynb, as_version=4)
    node.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    # the executed notebook shows its figures inline (make exports MPLBACKEND=Agg for scripts)
    if os.environ.get("MPLBACKEND", "").lower() == "agg":
        os.environ.pop("MPLBACKEND")
    _engine()
    load_before, ok = load_average(), False
    watch = Watch(display)
    try:
        # the kernel (and its subprocesses) inherit $RECUTILS_PROGRESS_FILE and glibc's malloc
        # settings (:mod:`.malloc`) from this process
        with watch, kernel_environment():
            pm.execute_notebook(node, str(out_path), parameters=params, kernel_name=KERNEL, cwd=str(root),
                                progress_bar=False, log_output=False, engine_name=ENGINE, on_cell=watch.on_cell,
                                # quiet kernel start-up (ipykernel warns about local TCP on every start)
                                extra_arguments=["--IPKernelApp.log_level=ERROR"])
        ok = True
    except PapermillExecutionError as exc:
        raise NotebookFailed(_failure_message(nb, exc, out_path)) from None
    except DeadKernelError:
        c = watch.last_cell
        where = f"code cell {c.number}/{c.total} ({c.label})" if c else "start-up"
        raise NotebookFailed(f"{nb.name}: the kernel died during {where} (killed? out of memory?)\n"
                             f"  partial notebook: {_rel(out_path, nb.root)}") from None
    finally:
        try:  # the watcher has read the last events; a failure to write timings is not the run's
            write_timings(out_path.parent, record(nb.name, time.time() - t0, ok, watch.tracker.finished, t0,
                                                  load_before))
        except (OSError, TypeError, ValueError):
            pass
    return out_path


def run(name: str, level: str = "full", output_dir: str | None = None, root: Path = ROOT,
        display: Display | None = None) -> Path:
    """Execute one notebook into ``<output_dir>/NAME.ipynb`` (progress on ``display``); returns that path.
    A previous ``metrics.json`` and ``inputs.json`` in ``output_dir`` are removed first (no stale
    results; no record of a finished run until :func:`~.report.reproduce` writes one after this)."""
    nb = find(name, discover(root))
    params = notebook_params(nb, level, output_dir)
    out_dir = _abs(params["output_dir"], root)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / INPUTS_FILE).unlink(missing_ok=True)
    (out_dir / "metrics.json").unlink(missing_ok=True)
    return execute(nb, params, out_dir / f"{nb.name}.ipynb", root, display)
