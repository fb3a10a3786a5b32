"""Each notebook's parameters as a typed config (recutils.notebooks.schemas), checked before the
first cell: a bad value stops with one line naming the file, the parameter and the rule."""

import dataclasses
import shutil
from pathlib import Path

import pytest

from recutils.errors import RecutilsError
from recutils.notebooks.discovery import discover
from recutils.notebooks.params import declared_parameters, notebook_params
from recutils.notebooks.schemas import SCHEMAS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("nb", discover(), ids=lambda nb: nb.name)
def test_schema_and_parameters_cell_agree(nb):
    assert nb.name in SCHEMAS, f"recutils/notebooks/schemas.py has no schema for {nb.name}"
    fields = {f.name for f in dataclasses.fields(SCHEMAS[nb.name])}
    declared = set(declared_parameters(nb))
    assert declared - fields == set(), f"parameters without a schema field: {sorted(declared - fields)}"
    assert fields - declared == set(), f"schema fields the notebook does not declare: {sorted(fields - declared)}"


@pytest.mark.parametrize("nb", discover(), ids=lambda nb: nb.name)
def test_every_params_file_passes(nb):
    for path in sorted((ROOT / "params").glob(f"{nb.name}.*.yaml")):
        notebook_params(nb, path.name.split(".")[-2])


@pytest.fixture
def root(tmp_path):
    """A copy of the project's notebook 05 pair and its params, to add bad params files to."""
    for d in ("notebooks", "params"):
        (tmp_path / d).mkdir()
    for f in (ROOT / "notebooks").glob("05_hybrid.*"):
        shutil.copy(f, tmp_path / "notebooks" / f.name)
    for f in (ROOT / "params").glob("05_hybrid.*.yaml"):
        shutil.copy(f, tmp_path / "params" / f.name)
    shutil.copy(ROOT / "jupytext.toml", tmp_path / "jupytext.toml")
    return tmp_path


@pytest.mark.parametrize("line, message", [
    ("alphas: [1.5]", "params/05_hybrid.bad.yaml: alphas must list values in [0, 1], got [1.5]"),
    ("alphas: []", "params/05_hybrid.bad.yaml: alphas must have at least 1 element, got []"),
    ("itemknn_grid: {n_neighbors: []}", "params/05_hybrid.bad.yaml: itemknn_grid must be a mapping of parameter name → "
                                        "a non-empty list of values, got {'n_neighbors': []}"),
    ("finetune: {epochs: 0}", "params/05_hybrid.bad.yaml: finetune must be fields of "
                              "recutils.embeddings.finetune.FinetuneConfig with valid values, got {'epochs': 0}"),
    ("torch_threads: lots", "params/05_hybrid.bad.yaml: torch_threads must be 'auto' or a whole number as text"),
    ("k: 0", "params/05_hybrid.bad.yaml: k must be ≥ 1, got 0"),
    ("workers: 0", "params/05_hybrid.bad.yaml: workers must be ≥ 1, got 0"),
])
def test_a_bad_value_stops_before_any_cell_in_one_line(root, monkeypatch, line, message):
    from recutils.notebooks import execution

    monkeypatch.setattr(execution, "execute", lambda *a, **k: pytest.fail("a cell ran"))
    (root / "params" / "05_hybrid.bad.yaml").write_text(line + "\n")
    with pytest.raises(RecutilsError) as e:
        execution.run("05", "bad", root=root)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_a_bad_default_in_the_parameters_cell_is_blamed_on_the_notebook(root):
    py = root / "notebooks" / "05_hybrid.py"
    py.write_text(py.read_text().replace("alpha_study = 0.85", "alpha_study = 1.85"))
    nb = discover(root)[0]
    with pytest.raises(RecutilsError, match=r"^notebooks/05_hybrid.py: alpha_study must be in \[0, 1\], got 1.85$"):
        notebook_params(nb, "smoke")
