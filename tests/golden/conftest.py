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


# --- the recorded numbers: metrics.json against the reference, with tolerances ----------------
# nbval re-executes each golden notebook and compares the exact text of its checked cells
# (# NBVAL_CHECK_OUTPUT: counts, sizes, titles). The numbers a notebook records are compared
# here, after its last cell: its fresh metrics.json against tests/golden/NN_name.metrics.json
# under the rules of tests/golden/tolerances.yaml (see recutils/regression.py).
import time  # noqa: E402

import pytest  # noqa: E402

GOLDEN = Path(__file__).resolve().parent
TOLERANCES = GOLDEN / "tolerances.yaml"
_SESSION_START = time.time()


def _output_dir(golden: Path) -> Path:
    import nbformat

    params = nbformat.read(golden, as_version=4).metadata.get("papermill", {}).get("parameters", {})
    out = Path(params.get("output_dir") or f"reports/{golden.stem}")
    return out if out.is_absolute() else ROOT / out


class MetricsItem(pytest.Item):
    """The notebook's fresh metrics.json agrees with its reference within tolerance."""

    def __init__(self, *, golden: Path, **kwargs):
        super().__init__(**kwargs)
        self.golden = golden

    def runtest(self):
        from recutils.io import read_json
        from recutils.regression import compare, load_tolerances

        name = self.golden.stem
        ref_path = self.golden.with_suffix(".metrics.json")
        if not ref_path.is_file():
            pytest.fail(f"{ref_path.relative_to(ROOT)} is missing: run `make golden NB={name[:2]}`", pytrace=False)
        fresh = _output_dir(self.golden) / "metrics.json"
        if not fresh.is_file() or fresh.stat().st_mtime < _SESSION_START:
            pytest.fail(f"{name} wrote no metrics.json in this run ({fresh}): see the failing cell above",
                        pytrace=False)
        problems = compare(read_json(ref_path), read_json(fresh), load_tolerances(TOLERANCES), name)
        if problems:
            pytest.fail(f"{len(problems)} recorded number(s) of {name} moved beyond tolerance "
                        f"(tests/golden/tolerances.yaml):\n  " + "\n  ".join(problems[:40]), pytrace=False)

    def reportinfo(self):
        return self.golden, None, f"{self.golden.name}::metrics.json"


def pytest_collection_modifyitems(session, config, items):
    """After the last cell of each golden notebook, its metrics.json check."""
    out = []
    for i, item in enumerate(items):
        out.append(item)
        path = Path(str(item.path))
        nxt = Path(str(items[i + 1].path)) if i + 1 < len(items) else None
        if path.parent == GOLDEN and path.suffix == ".ipynb" and nxt != path and not isinstance(item, MetricsItem):
            out.append(MetricsItem.from_parent(item.parent, name="metrics.json", golden=path))
    items[:] = out
