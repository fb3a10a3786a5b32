"""Pair checks: the ``.py`` source, its ``.ipynb`` and its golden hold the same code cells.

Also the params files and the regression reference are present, no notebook file is orphaned,
and :func:`sync_pair` brings the ``.ipynb`` up to date with ``jupytext --sync``.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from ..errors import RecutilsError
from .discovery import GOLDEN_DIR, NOTEBOOKS_DIR, ROOT, _NAME_RE, Notebook, _rel, discover
from .params import LEVELS, notebook_params, read_source

#: papermill tags the cell it inserts with this; it is not part of the source
INJECTED_TAG = "injected-parameters"


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


def sync_pair(nb: Notebook) -> None:
    """``jupytext --sync`` the pair (creates the .ipynb from the .py when it is missing)."""
    from jupytext.cli import jupytext as jupytext_cli

    try:
        jupytext_cli(["--sync", "--quiet", str(nb.source)])
    except Exception as exc:  # jupytext raises plain exceptions for unsyncable pairs
        raise RecutilsError(f"could not sync {_rel(nb.source, nb.root)} with its .ipynb: {exc}") from None
