"""Notebook discovery: the ``NN_name`` notebooks under ``notebooks/`` and their files.

The lowest layer of :mod:`recutils.notebooks`: names and paths only (nothing is read or run).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import RecutilsError

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = "notebooks"
PARAMS_DIR = "params"
REPORTS_DIR = "reports"
GOLDEN_DIR = Path("tests") / "golden"

_NAME_RE = re.compile(r"^(\d{2})_[A-Za-z0-9_]+$")


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


def _rel(path: Path, root: Path = ROOT) -> str:
    """``path`` relative to ``root`` for messages (unchanged when it lies outside)."""
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def _abs(path: str, root: Path) -> Path:
    """``path`` as given when absolute, else under ``root``."""
    p = Path(path)
    return p if p.is_absolute() else Path(root) / p
