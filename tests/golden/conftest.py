"""Golden notebooks (tests/golden/NN_name.ipynb) re-executed by nbval.

Collected only when asked: ``pytest --nbval-lax tests/golden --nbval-sanitize-with
tests/nbval_sanitize.cfg`` (``make nbval``); plain ``pytest tests`` ignores ``.ipynb`` files.

Notebooks run as ``python -m recutils.notebooks run`` runs them: with the repository root as
the working directory (nbval would start the kernel in this folder, so that ``recutils``
would not import and relative ``output_dir`` values would land here) and with the offline
data mirror when ``$RECUTILS_DATA_DIR`` is not set.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"

if not os.environ.get("RECUTILS_DATA_DIR") and (SHARED / "SHA256SUMS").exists():
    os.environ["RECUTILS_DATA_DIR"] = str(SHARED)
# scripts get Agg from the Makefile; the notebooks' own inline backend is fine here too
os.environ.setdefault("MPLBACKEND", "Agg")

try:
    import nbval.plugin as _nbval_plugin
except ImportError:  # nbval not installed: nothing to configure
    _nbval_plugin = None

if _nbval_plugin is not None and not getattr(_nbval_plugin.RunningKernel, "_recutils_root_cwd", False):
    _Base = _nbval_plugin.RunningKernel

    class _RootKernel(_Base):
        """nbval 0.11 starts the kernel in the notebook's folder; start it at the repository root."""

        _recutils_root_cwd = True

        def __init__(self, kernel_name, cwd=None, *args, **kwargs):
            super().__init__(kernel_name, str(ROOT), *args, **kwargs)

    _nbval_plugin.RunningKernel = _RootKernel
