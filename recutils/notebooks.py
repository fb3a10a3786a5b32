"""Notebook machinery: discovery, parameters, execution, goldens, pair checks, the report index.

    python -m recutils.notebooks list
    python -m recutils.notebooks run NAME [--params smoke|full] [--output-dir DIR]
    python -m recutils.notebooks reproduce [--params full] [--only NN ...] [--keep-going]
    python -m recutils.notebooks golden [NAME ...]
    python -m recutils.notebooks check-sync

Conventions (nothing is listed by hand):

- a notebook is ``notebooks/NN_name.py`` (jupytext percent format, the reviewed source) paired
  with ``notebooks/NN_name.ipynb`` through ``jupytext.toml``; ``NAME`` is ``NN_name`` (or just
  ``NN``);
- its parameters are ``params/NN_name.smoke.yaml`` (tiny, for tests) and
  ``params/NN_name.full.yaml`` (the real run): literals overriding the cell tagged
  ``parameters``, which always declares ``output_dir``, ``data_dir`` and ``seed``;
- ``run`` executes with papermill (kernel ``python3``, working directory = the repository
  root) into ``<output_dir>/NN_name.ipynb``; the notebook writes ``metrics.json`` and its
  figures (PNG) into ``output_dir`` (default ``reports/NN_name``);
- ``metrics.json`` may hold the notebook's headline table(s) for ``reports/README.md``: a list
  of row dicts under ``"table"`` and/or ``{"title": rows}`` under ``"tables"``;
- ``tests/golden/NN_name.ipynb`` is the smoke run with volatile metadata stripped; pytest's
  nbval plugin re-executes it and compares the cells marked ``# NBVAL_CHECK_OUTPUT``.
"""

from __future__ import annotations

import argparse
import ast
import copy
import difflib
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import RecutilsError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = "notebooks"
PARAMS_DIR = "params"
REPORTS_DIR = "reports"
GOLDEN_DIR = Path("tests") / "golden"
LEVELS = ("smoke", "full")
KERNEL = "python3"
#: papermill tags the cell it inserts with this; it is not part of the source
INJECTED_TAG = "injected-parameters"
PARAMETERS_TAG = "parameters"
REQUIRED_PARAMETERS = ("output_dir", "data_dir", "seed")

_NAME_RE = re.compile(r"^(\d{2})_[A-Za-z0-9_]+$")


# --- discovery ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Notebook:
    """One notebook pair and the files that go with it (paths absolute)."""

    name: str  #: ``NN_name``
    root: Path

    @property
    def number(self) -> str:
        return self.name[:2]

    @property
    def source(self) -> Path:
        return self.root / NOTEBOOKS_DIR / f"{self.name}.py"

    @property
    def ipynb(self) -> Path:
        return self.root / NOTEBOOKS_DIR / f"{self.name}.ipynb"

    @property
    def golden(self) -> Path:
        return self.root / GOLDEN_DIR / f"{self.name}.ipynb"

    @property
    def reference(self) -> Path:
        """The smoke run's ``metrics.json``, kept beside the golden as the regression reference."""
        return self.root / GOLDEN_DIR / f"{self.name}.metrics.json"

    def params_file(self, level: str) -> Path:
        return self.root / PARAMS_DIR / f"{self.name}.{level}.yaml"

    @property
    def default_output_dir(self) -> str:
        return f"{REPORTS_DIR}/{self.name}"


def discover(root: Path = ROOT) -> list[Notebook]:
    """Every ``notebooks/NN_*.py``, in order."""
    d = Path(root) / NOTEBOOKS_DIR
    if not d.is_dir():
        return []
    return [Notebook(p.stem, Path(root)) for p in sorted(d.glob("*.py")) if _NAME_RE.match(p.stem)]


def find(name: str, notebooks: list[Notebook]) -> Notebook:
    """A notebook by full name (``01_item_cf``), file name or number (``01`` / ``1``)."""
    key = Path(str(name)).name
    key = key.removesuffix(".py").removesuffix(".ipynb")
    for nb in notebooks:
        if nb.name == key:
            return nb
    if key.isdigit():
        hits = [nb for nb in notebooks if nb.number == f"{int(key):02d}"]
        if len(hits) == 1:
            return hits[0]
    valid = ", ".join(nb.name for nb in notebooks) or "(none found under notebooks/)"
    raise RecutilsError(f"unknown notebook {name!r}; valid notebooks: {valid}")


# --- parameters --------------------------------------------------------------------------
def parameter_names(source: str) -> list[str]:
    """Names assigned at top level in a parameters cell's source, in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise RecutilsError(f"the parameters cell does not parse: {exc}") from None
    names: list[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Name) and t.id not in names:
                names.append(t.id)
    return names


_NOT_A_LITERAL = object()


def parameter_defaults(source: str) -> dict[str, Any]:
    """Each top-level name of a parameters cell with its literal value (the last assignment);
    a value that is not a literal maps to an opaque marker and is not type-checked."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise RecutilsError(f"the parameters cell does not parse: {exc}") from None
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        try:
            lit = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            lit = _NOT_A_LITERAL
        for t in targets:
            if isinstance(t, ast.Name):
                out[t.id] = lit
    return out


def _type_name(v: Any) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a mapping", tuple: "a list"}.get(type(v), type(v).__name__)


def _fits(default: Any, value: Any) -> bool:
    """Whether ``value`` (from YAML) has the type of the parameters cell's literal ``default``."""
    if default is _NOT_A_LITERAL or default is None:
        return True  # None declares "anything (or nothing)": e.g. data_dir, cache_dir
    if value is None:
        return False
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            return False
        kinds = {type(d) for d in default}
        if len(kinds) == 1 and default:  # a homogeneous list declares its elements' type
            return all(_fits(default[0], v) for v in value)
        return True
    if isinstance(default, dict):
        return isinstance(value, dict)
    return True


def check_param_types(params: dict, defaults: dict[str, Any], where: str = "params") -> None:
    """Every given parameter must have the type of its literal in the parameters cell
    (integers are accepted for numbers); raises one error naming every bad parameter."""
    bad = []
    for key, value in params.items():
        default = defaults.get(key, _NOT_A_LITERAL)
        if not _fits(default, value):
            what = _type_name(default)
            if isinstance(default, (list, tuple)) and default and isinstance(value, (list, tuple)):
                what = f"a list of {_type_name(default[0]).removeprefix('a ').removeprefix('an ')}s"
            bad.append(f"{key} must be {what} like its default {default!r}, got {value!r}")
    if bad:
        raise RecutilsError(f"{where}: " + "; ".join(bad))


def parameters_cell(cells: list[dict]) -> dict | None:
    """The first code cell tagged ``parameters`` (None if there is none)."""
    for c in cells:
        if c.get("cell_type") == "code" and PARAMETERS_TAG in c.get("metadata", {}).get("tags", []):
            return c
    return None


def read_source(nb: Notebook):
    """The notebook as jupytext reads its ``.py`` source."""
    import jupytext

    if not nb.source.is_file():
        raise RecutilsError(f"{_rel(nb.source, nb.root)} does not exist")
    return jupytext.read(nb.source)


def _parameters_source(nb: Notebook) -> str:
    cell = parameters_cell(read_source(nb).cells)
    if cell is None:
        raise RecutilsError(f"{_rel(nb.source, nb.root)} has no code cell tagged parameters (`# %% tags=[\"parameters\"]`)")
    return cell["source"]


def declared_parameters(nb: Notebook) -> list[str]:
    return parameter_names(_parameters_source(nb))


def load_params(nb: Notebook, level: str) -> dict:
    """The mapping in ``params/NAME.LEVEL.yaml``."""
    import yaml

    path = nb.params_file(level)
    if not path.is_file():
        if level not in LEVELS:
            have = sorted(p.name.split(".")[-2] for p in path.parent.glob(f"{nb.name}.*.yaml"))
            raise RecutilsError(f"unknown params level {level!r} for {nb.name}; available: {', '.join(have)}")
        raise RecutilsError(f"{_rel(path, nb.root)} is missing: every notebook needs params/{nb.name}.{{smoke,full}}.yaml")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise RecutilsError(f"{_rel(path, nb.root)} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RecutilsError(f"{_rel(path, nb.root)} must hold a mapping of parameter: value")
    return data


def resolve_params(params: dict, declared: list[str], default_output_dir: str, output_dir: str | None = None,
                   where: str = "params") -> dict:
    """Validate ``params`` against the ``declared`` names and settle ``output_dir``:
    the ``output_dir`` argument, else the file's, else ``default_output_dir``."""
    missing = [p for p in REQUIRED_PARAMETERS if p not in declared]
    if missing:
        raise RecutilsError(f"the parameters cell must declare {', '.join(missing)} (convention: output_dir, data_dir, seed)")
    unknown = [k for k in params if k not in declared]
    if unknown:
        raise RecutilsError(f"{where}: unknown parameter(s) {', '.join(unknown)}; the parameters cell declares {', '.join(declared)}")
    out = dict(params)
    out["output_dir"] = str(output_dir if output_dir is not None else params.get("output_dir") or default_output_dir)
    return out


def notebook_params(nb: Notebook, level: str, output_dir: str | None = None) -> dict:
    """The checked parameters of ``params/NAME.LEVEL.yaml``: known names, the types of the
    parameters cell's literals (checked before any cell runs)."""
    source = _parameters_source(nb)
    where = _rel(nb.params_file(level), nb.root)
    params = load_params(nb, level)
    resolved = resolve_params(params, parameter_names(source), nb.default_output_dir, output_dir, where=where)
    check_param_types(params, parameter_defaults(source), where=where)
    return resolved


# --- code-cell comparison ----------------------------------------------------------------
def _norm(src) -> str:
    if isinstance(src, list):
        src = "".join(src)
    return "\n".join(line.rstrip() for line in str(src).strip("\n").splitlines())


def code_cells(cells: list[dict], skip_injected: bool = True) -> list[str]:
    """Normalised sources of the code cells (papermill's injected-parameters cell left out)."""
    out = []
    for c in cells:
        if c.get("cell_type") != "code":
            continue
        if skip_injected and INJECTED_TAG in c.get("metadata", {}).get("tags", []):
            continue
        out.append(_norm(c.get("source", "")))
    return out


def compare_code_cells(expected: list[str], actual: list[str], expected_label: str, actual_label: str,
                       max_diff_lines: int = 12) -> list[str]:
    """Differences between two lists of code-cell sources (empty when identical)."""
    problems = []
    if len(expected) != len(actual):
        problems.append(f"{actual_label} has {len(actual)} code cells, {expected_label} has {len(expected)}")
    for i, (a, b) in enumerate(zip(expected, actual), start=1):
        if a != b:
            diff = list(difflib.unified_diff(a.splitlines(), b.splitlines(), expected_label, actual_label, lineterm="", n=1))
            body = "\n".join("    " + line for line in diff[2:2 + max_diff_lines])
            problems.append(f"code cell {i} of {actual_label} differs from {expected_label}:\n{body}")
            break  # later cells usually follow; one diff is enough to act on
    return problems


def check_notebook(nb: Notebook) -> list[str]:
    """Pair, params and golden checks for one notebook; a list of problems."""
    import nbformat

    problems = []
    src = code_cells(read_source(nb).cells)
    if not nb.ipynb.is_file():
        problems.append(f"{_rel(nb.ipynb, nb.root)} is missing: run `jupytext --sync {_rel(nb.source, nb.root)}`")
    else:
        problems += compare_code_cells(src, code_cells(nbformat.read(nb.ipynb, as_version=4).cells),
                                       _rel(nb.source, nb.root), _rel(nb.ipynb, nb.root))
        if problems:
            problems[-1] += f"\n  fix: edit the .py, then `jupytext --sync {_rel(nb.source, nb.root)}`"
    for level in LEVELS:
        if not nb.params_file(level).is_file():
            problems.append(f"{_rel(nb.params_file(level), nb.root)} is missing")
            continue
        try:
            notebook_params(nb, level)
        except RecutilsError as exc:
            problems.append(str(exc))
    if not nb.golden.is_file():
        problems.append(f"{_rel(nb.golden, nb.root)} is missing: run `make golden` (python -m recutils.notebooks golden {nb.name})")
    if not nb.reference.is_file():
        problems.append(f"{_rel(nb.reference, nb.root)} is missing: run `make golden NB={nb.number}`")
    else:
        gold = compare_code_cells(src, code_cells(nbformat.read(nb.golden, as_version=4).cells),
                                  _rel(nb.source, nb.root), _rel(nb.golden, nb.root))
        if gold:
            gold[-1] += f"\n  fix: regenerate it with `python -m recutils.notebooks golden {nb.name}`"
        problems += gold
    return problems


def orphans(root: Path = ROOT) -> list[str]:
    """Notebook files without a source: ``notebooks/*.ipynb`` with no ``.py``, goldens with no
    notebook, ``.py`` files in notebooks/ that do not follow ``NN_name.py``."""
    root = Path(root)
    out = []
    nbdir = root / NOTEBOOKS_DIR
    for p in sorted(nbdir.glob("*.ipynb")) if nbdir.is_dir() else []:
        if not p.with_suffix(".py").is_file():
            out.append(f"{_rel(p, root)} has no paired .py source")
    for p in sorted(nbdir.glob("*.py")) if nbdir.is_dir() else []:
        if not _NAME_RE.match(p.stem):
            out.append(f"{_rel(p, root)} does not follow the NN_name.py convention")
    gdir = root / GOLDEN_DIR
    for p in sorted(gdir.glob("*.ipynb")) if gdir.is_dir() else []:
        if not (nbdir / f"{p.stem}.py").is_file():
            out.append(f"{_rel(p, root)} has no notebook {NOTEBOOKS_DIR}/{p.stem}.py")
    return out


def check_sync(root: Path = ROOT) -> dict[str, list[str]]:
    """Problems per notebook name (plus ``"(orphans)"``); empty lists mean in sync."""
    res = {nb.name: check_notebook(nb) for nb in discover(root)}
    res["(orphans)"] = orphans(root)
    return res


# --- execution ---------------------------------------------------------------------------
class NotebookFailed(RecutilsError):
    """A cell raised while executing a notebook; the message says which."""


def sync_pair(nb: Notebook) -> None:
    """``jupytext --sync`` the pair (creates the .ipynb from the .py when it is missing)."""
    from jupytext.cli import jupytext as jupytext_cli

    try:
        jupytext_cli(["--sync", "--quiet", str(nb.source)])
    except Exception as exc:  # jupytext raises plain exceptions for unsyncable pairs
        raise RecutilsError(f"could not sync {_rel(nb.source, nb.root)} with its .ipynb: {exc}") from None


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


def _abs(path: str, root: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else Path(root) / p


def run(name: str, level: str = "full", output_dir: str | None = None, root: Path = ROOT) -> Path:
    """Execute one notebook into ``<output_dir>/NAME.ipynb``; returns that path.
    A previous ``metrics.json`` in ``output_dir`` is removed first (no stale results)."""
    nb = find(name, discover(root))
    params = notebook_params(nb, level, output_dir)
    out_dir = _abs(params["output_dir"], root)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").unlink(missing_ok=True)
    return execute(nb, params, out_dir / f"{nb.name}.ipynb", root)


# --- goldens -----------------------------------------------------------------------------
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

    from .io import atomic_path

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


# --- the report index --------------------------------------------------------------------
def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if v.is_integer():
            return f"{v:g}"
        return f"{v:.4f}" if abs(v) < 1e5 else f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        v = ", ".join(map(str, v))
    return str(v).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: list[dict]) -> str:
    """A list of row dicts as a markdown table (columns in order of first appearance)."""
    if not rows:
        return "_(empty table)_"
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    lines = ["| " + " | ".join(_cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def metrics_tables(metrics: dict) -> list[tuple[str | None, list[dict]]]:
    """The headline tables a ``metrics.json`` declares: ``"table"`` (rows) and ``"tables"``
    (``{"title": rows}``), as ``(title, rows)`` pairs."""
    out: list[tuple[str | None, list[dict]]] = []
    t = metrics.get("table")
    if isinstance(t, list):
        out.append((None, [r for r in t if isinstance(r, dict)]))
    ts = metrics.get("tables")
    if isinstance(ts, dict):
        out += [(str(k), [r for r in v if isinstance(r, dict)]) for k, v in ts.items() if isinstance(v, list)]
    return out


@dataclass
class ReportEntry:
    name: str
    status: str  #: "ok", "FAILED", "not run", or "" (from an earlier run)
    metrics: dict | None
    figures: list[str]  #: PNG paths relative to reports/
    seconds: float | None = None
    folder: str = ""  #: the run's output folder relative to reports/ (default: name)


def render_readme(entries: list[ReportEntry], level: str = "full") -> str:
    """``reports/README.md``: each notebook's headline tables and figures."""
    lines = ["# Reports", "",
             f"Generated by `python -m recutils.notebooks reproduce` (`make reproduce`), params `{level}`. "
             "Each section gathers the headline tables of one notebook's `metrics.json` and links its figures; "
             "the executed notebook is in the same folder.", ""]
    for e in entries:
        lines += [f"## {e.name}", ""]
        status = e.status or "from an earlier run"
        if e.seconds is not None:
            status += f" ({e.seconds:.0f} s)"
        folder = e.folder or e.name
        lines += [f"Status: {status} · notebook: [{e.name}.ipynb]({folder}/{e.name}.ipynb)", ""]
        if e.metrics is None:
            lines += ["_No metrics.json._", ""]
        else:
            tables = metrics_tables(e.metrics)
            if not tables:
                lines += ["_metrics.json declares no table._", ""]
            for title, rows in tables:
                if title:
                    lines += [f"### {title}", ""]
                lines += [markdown_table(rows), ""]
        for fig in e.figures:
            lines += [f"![{Path(fig).stem}]({fig})", ""]
    return "\n".join(lines).rstrip() + "\n"


def report_dir(nb: Notebook, level: str = "full") -> str:
    """Where ``level``'s run of ``nb`` writes (its params file's ``output_dir``, else the default)."""
    try:
        return str(load_params(nb, level).get("output_dir") or nb.default_output_dir)
    except RecutilsError:
        return nb.default_output_dir


def collect_entry(nb: Notebook, status: str = "", seconds: float | None = None, root: Path = ROOT,
                  level: str = "full") -> ReportEntry:
    from .io import read_json

    d = _abs(report_dir(nb, level), root)
    metrics = None
    if (d / "metrics.json").is_file():
        try:
            metrics = read_json(d / "metrics.json")
        except ValueError:
            metrics = None
    reports = Path(root) / REPORTS_DIR
    figures = [_rel(p, reports) for p in sorted(d.glob("*.png"))] if d.is_dir() else []
    return ReportEntry(nb.name, status, metrics if isinstance(metrics, dict) else None, figures, seconds,
                       _rel(d, reports))


def write_readme(entries: list[ReportEntry], level: str, root: Path = ROOT) -> Path:
    from .io import atomic_path

    path = Path(root) / REPORTS_DIR / "README.md"
    with atomic_path(path, suffix=".md") as tmp:
        tmp.write_text(render_readme(entries, level))
    return path


def reproduce(level: str = "full", only: list[str] | None = None, keep_going: bool = False,
              root: Path = ROOT, stream=sys.stdout) -> int:
    """Run the notebooks in order (all, or ``only``), one progress line each, then write
    ``reports/README.md``. Stops at the first failure unless ``keep_going``. Returns the
    number of failed notebooks."""
    notebooks = discover(root)
    if not notebooks:
        raise RecutilsError(f"no notebooks found under {NOTEBOOKS_DIR}/ (expected NN_name.py files)")
    todo = [find(n, notebooks) for n in only] if only else notebooks
    status: dict[str, tuple[str, float | None]] = {}
    failures = 0
    for i, nb in enumerate(todo, start=1):
        print(f"[{i}/{len(todo)}] {nb.name} ({level}) started {time.strftime('%H:%M:%S')} ...", end=" ", file=stream, flush=True)
        t0 = time.perf_counter()
        try:
            run(nb.name, level, root=root)
        except RecutilsError as exc:
            dt = time.perf_counter() - t0
            failures += 1
            status[nb.name] = ("FAILED", dt)
            print(f"FAILED after {dt:.1f} s", file=stream, flush=True)
            print("  " + str(exc).replace("\n", "\n  "), file=stream, flush=True)
            if not keep_going:
                rest = [n.name for n in todo[i:]]
                if rest:
                    print(f"stopping: not run: {', '.join(rest)} (use --keep-going to continue after a failure)",
                          file=stream, flush=True)
                    status.update({n: ("not run", None) for n in rest})
                break
            continue
        dt = time.perf_counter() - t0
        status[nb.name] = ("ok", dt)
        print(f"ok in {dt:.1f} s", file=stream, flush=True)
    entries = [collect_entry(nb, *status.get(nb.name, ("", None)), root=root, level=level) for nb in notebooks]
    path = write_readme(entries, level, root)
    print(f"wrote {_rel(path, root)}", file=stream, flush=True)
    return failures


# --- CLI ---------------------------------------------------------------------------------
def _rel(path: Path, root: Path = ROOT) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m recutils.notebooks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="the notebooks found, with their params files")
    p = sub.add_parser("run", help="execute one notebook")
    p.add_argument("name", help="NN_name or NN")
    p.add_argument("--params", default="full", metavar="LEVEL",
                   help="smoke, full, or any params/NAME.LEVEL.yaml that exists (e.g. gpu for 05)")
    p.add_argument("--output-dir", default=None, help="default: the params file's output_dir, else reports/NAME")
    p = sub.add_parser("reproduce", help="execute every notebook in order and write reports/README.md")
    p.add_argument("--params", default="full", choices=LEVELS)
    p.add_argument("--only", nargs="+", metavar="NN", help="only these notebooks (numbers or names)")
    p.add_argument("--keep-going", action="store_true", help="continue after a failing notebook")
    p = sub.add_parser("golden", help="regenerate tests/golden/NAME.ipynb from the smoke params")
    p.add_argument("names", nargs="*", metavar="NAME", help="default: every notebook")
    sub.add_parser("check-sync", help="verify .py/.ipynb pairs, params files and goldens agree")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "list":
            for nb in discover():
                have = [lvl for lvl in LEVELS if nb.params_file(lvl).is_file()]
                print(f"{nb.name}\tparams: {', '.join(have) or '-'}\tgolden: {'yes' if nb.golden.is_file() else 'no'}")
            return 0
        if a.cmd == "run":
            t0 = time.perf_counter()
            out = run(a.name, a.params, a.output_dir)
            print(f"{find(a.name, discover()).name}: ok in {time.perf_counter() - t0:.1f} s -> {_rel(out)}")
            return 0
        if a.cmd == "reproduce":
            return 1 if reproduce(a.params, a.only, a.keep_going) else 0
        if a.cmd == "golden":
            names = a.names or [nb.name for nb in discover()]
            if not names:
                raise RecutilsError(f"no notebooks found under {NOTEBOOKS_DIR}/")
            for n in names:
                t0 = time.perf_counter()
                print(f"golden {n} ...", end=" ", flush=True)
                path = golden(n)
                print(f"ok in {time.perf_counter() - t0:.1f} s -> {_rel(path)}", flush=True)
            return 0
        if a.cmd == "check-sync":
            res = check_sync()
            bad = {k: v for k, v in res.items() if v}
            for name, probs in res.items():
                if name == "(orphans)" and not probs:
                    continue
                print(f"{name}: {'ok' if not probs else 'MISMATCH'}")
                for pr in probs:
                    print("  " + pr.replace("\n", "\n  "))
            return 1 if bad else 0
    except NotebookFailed as exc:
        print(f"FAILED {exc}", file=sys.stderr)
        return 1
    except RecutilsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
