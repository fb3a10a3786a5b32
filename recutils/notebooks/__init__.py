"""Notebook machinery: discovery, parameters, pair checks, execution, goldens, the report index.

One concern per module, each importing only the ones listed before it:

- :mod:`.discovery` -- :class:`Notebook`, :func:`discover`, :func:`find` (names and paths);
- :mod:`.params` -- the ``parameters`` cell, ``params/NN_name.LEVEL.yaml``, type checks;
- :mod:`.inputs` -- a run's inputs (source, params, recutils, data, libraries) in ``inputs.json``;
- :mod:`.sync` -- code-cell comparison of ``.py`` / ``.ipynb`` / golden, orphans, ``jupytext --sync``;
- :mod:`.live` -- the terminal's live line: the kernel's progress file, the current cell, :class:`Display`;
- :mod:`.timings` -- ``timings.json`` (seconds per notebook and long stage), the machine, table rows;
- :mod:`.execution` -- :func:`run` / :func:`execute` with papermill, :class:`NotebookFailed`;
- :mod:`.goldens` -- :func:`strip_volatile`, :func:`golden` and its ``metrics.json`` reference;
- :mod:`.report` -- :func:`reproduce` and ``reports/README.md``;
- :mod:`.cli` -- ``python -m recutils.notebooks list|run|reproduce|golden|check-sync``
  (its docstring states the conventions).

The public names of every module are re-exported here (``from recutils import notebooks as nbm;
nbm.run(...)``); patch a name in the module that looks it up (e.g. ``report.run`` for
:func:`reproduce`), not here.
"""

from .discovery import GOLDEN_DIR, NOTEBOOKS_DIR, PARAMS_DIR, REPORTS_DIR, ROOT, Notebook, discover, find
from .params import (
    _NOT_A_LITERAL,
    LEVELS,
    PARAMETERS_TAG,
    REQUIRED_PARAMETERS,
    check_param_types,
    declared_parameters,
    load_params,
    notebook_params,
    parameter_defaults,
    parameter_names,
    parameters_cell,
    read_source,
    resolve_params,
)
from .inputs import INPUTS_FILE, fingerprint, read_record, rerun_reason, write_record
from .sync import INJECTED_TAG, check_notebook, check_sync, code_cells, compare_code_cells, orphans, sync_pair
from .live import Display, Watch, status_line
from .timings import TIMINGS_FILE, read_timings, timing_rows
from .execution import KERNEL, NotebookFailed, execute, run
from .goldens import golden, strip_volatile
from .report import (
    ReportEntry,
    collect_entry,
    markdown_table,
    metrics_tables,
    render_readme,
    report_dir,
    reproduce,
    timings_text,
    write_readme,
)
from .cli import main

__all__ = [
    "_NOT_A_LITERAL", "GOLDEN_DIR", "INJECTED_TAG", "INPUTS_FILE", "KERNEL", "LEVELS", "NOTEBOOKS_DIR",
    "PARAMETERS_TAG", "PARAMS_DIR", "REPORTS_DIR", "REQUIRED_PARAMETERS", "ROOT", "TIMINGS_FILE", "Display",
    "Notebook", "NotebookFailed", "ReportEntry", "Watch", "check_notebook", "check_param_types", "check_sync",
    "code_cells", "collect_entry", "compare_code_cells", "declared_parameters", "discover", "execute", "find",
    "fingerprint", "golden", "load_params", "main", "markdown_table", "metrics_tables", "notebook_params", "orphans",
    "parameter_defaults", "parameter_names", "parameters_cell", "read_record", "read_source", "read_timings",
    "rerun_reason", "render_readme", "report_dir", "reproduce", "resolve_params", "run", "status_line",
    "strip_volatile", "sync_pair", "timing_rows", "timings_text", "write_readme", "write_record",
]
