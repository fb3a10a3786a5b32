"""The notebook machinery (recutils.notebooks): discovery, params, code-cell comparison,
golden stripping, README rendering, reproduce's control flow, and one real papermill run."""

import json
import re

import nbformat
import pytest

from recutils import notebooks as nbm
from recutils.errors import RecutilsError

SOURCE = '''# %% [markdown]
# # Toy
# A toy notebook.

# %% tags=["parameters"]
output_dir = "reports/01_toy"
data_dir = None
seed = 42
n: int = 3
fail = False

# %%
import json
from pathlib import Path

out = Path(output_dir)
out.mkdir(parents=True, exist_ok=True)

# %%
# NBVAL_CHECK_OUTPUT
if fail:
    raise ValueError("boom on purpose")
print(n * 2)

# %%
(out / "metrics.json").write_text(json.dumps({"table": [{"model": "toy", "n": n}]}))
'''


def _write_project(root, names=("01_toy",), source=SOURCE, params=True):
    import jupytext

    (root / "notebooks").mkdir(parents=True, exist_ok=True)
    (root / "params").mkdir(exist_ok=True)
    for name in names:
        py = root / "notebooks" / f"{name}.py"
        py.write_text(source.replace("01_toy", name))
        jupytext.write(jupytext.read(py), root / "notebooks" / f"{name}.ipynb")
        if params:
            (root / "params" / f"{name}.smoke.yaml").write_text(f"output_dir: reports/_smoke/{name}\nn: 1\n")
            (root / "params" / f"{name}.full.yaml").write_text(f"output_dir: reports/{name}\n")
    return root


# --- discovery -----------------------------------------------------------------------------
def test_discover_finds_numbered_py_sources_in_order(tmp_path):
    d = tmp_path / "notebooks"
    d.mkdir()
    for f in ("02_b.py", "01_a.py", "helpers.py", "1_bad.py", "03_c.ipynb"):
        (d / f).write_text("")
    assert [nb.name for nb in nbm.discover(tmp_path)] == ["01_a", "02_b"]
    assert nbm.discover(tmp_path / "nowhere") == []


def test_find_by_name_number_or_path(tmp_path):
    nbs = [nbm.Notebook("01_item_cf", tmp_path), nbm.Notebook("02_tfidf", tmp_path)]
    for key in ("01_item_cf", "01", "1", "notebooks/01_item_cf.py", "01_item_cf.ipynb"):
        assert nbm.find(key, nbs).name == "01_item_cf"
    with pytest.raises(RecutilsError, match="valid notebooks: 01_item_cf, 02_tfidf"):
        nbm.find("03", nbs)


def test_notebook_paths(tmp_path):
    nb = nbm.Notebook("01_item_cf", tmp_path)
    assert nb.number == "01"
    assert nb.source == tmp_path / "notebooks" / "01_item_cf.py"
    assert nb.params_file("smoke") == tmp_path / "params" / "01_item_cf.smoke.yaml"
    assert nb.golden == tmp_path / "tests" / "golden" / "01_item_cf.ipynb"
    assert nb.default_output_dir == "reports/01_item_cf"


# --- parameters ----------------------------------------------------------------------------
def test_parameter_names_reads_top_level_assignments():
    src = 'output_dir = "x"  # where = here\ndata_dir = None\nseed: int = 42\nlr = 1e-3\nif True:\n    hidden = 1\n'
    assert nbm.parameter_names(src) == ["output_dir", "data_dir", "seed", "lr"]
    with pytest.raises(RecutilsError, match="does not parse"):
        nbm.parameter_names("x = (")


def test_resolve_params_output_dir_precedence_and_unknown_keys():
    declared = ["output_dir", "data_dir", "seed", "n"]
    assert nbm.resolve_params({"n": 2}, declared, "reports/01_x")["output_dir"] == "reports/01_x"
    assert nbm.resolve_params({"output_dir": "reports/_smoke/01_x"}, declared, "reports/01_x")["output_dir"] == "reports/_smoke/01_x"
    got = nbm.resolve_params({"output_dir": "a", "n": 2}, declared, "reports/01_x", output_dir="/tmp/o")
    assert got == {"output_dir": "/tmp/o", "n": 2}
    with pytest.raises(RecutilsError, match="unknown parameter.*typo"):
        nbm.resolve_params({"typo": 1}, declared, "reports/01_x")
    with pytest.raises(RecutilsError, match="must declare data_dir, seed"):
        nbm.resolve_params({}, ["output_dir"], "reports/01_x")


def test_load_params_and_notebook_params(tmp_path):
    _write_project(tmp_path)
    nb = nbm.find("01", nbm.discover(tmp_path))
    assert nbm.load_params(nb, "smoke") == {"output_dir": "reports/_smoke/01_toy", "n": 1}
    assert nbm.declared_parameters(nb) == ["output_dir", "data_dir", "seed", "n", "fail"]
    assert nbm.notebook_params(nb, "full") == {"output_dir": "reports/01_toy"}
    with pytest.raises(RecutilsError, match=r"unknown params level 'huge' for 01_toy; available: full, smoke$"):
        nbm.load_params(nb, "huge")
    with pytest.raises(RecutilsError, match=r"is a path: name a level .*\(full, smoke\)"):
        nbm.load_params(nb, str(tmp_path / "params" / "01_toy.smoke.yaml"))
    (tmp_path / "params" / "01_toy.full.yaml").write_text("- a list\n")
    with pytest.raises(RecutilsError, match="mapping"):
        nbm.load_params(nb, "full")
    (tmp_path / "params" / "01_toy.full.yaml").unlink()
    with pytest.raises(RecutilsError, match="01_toy.full.yaml is missing"):
        nbm.load_params(nb, "full")


def test_notebook_without_parameters_cell_is_a_user_error(tmp_path):
    _write_project(tmp_path, source=SOURCE.replace(' tags=["parameters"]', ""))
    nb = nbm.find("01", nbm.discover(tmp_path))
    with pytest.raises(RecutilsError, match="no code cell tagged parameters"):
        nbm.declared_parameters(nb)


# --- code-cell comparison and check-sync ----------------------------------------------------
def _cells(*sources, injected=None):
    cells = [nbformat.v4.new_code_cell(s) for s in sources]
    if injected is not None:
        c = nbformat.v4.new_code_cell(injected)
        c.metadata["tags"] = ["injected-parameters"]
        cells.insert(1, c)
    return cells


def test_code_cells_skips_injected_parameters_and_normalises_whitespace():
    cells = _cells("a = 1   \n\n", "print(a)", injected="a = 2")
    cells.append(nbformat.v4.new_markdown_cell("# not code"))
    assert nbm.code_cells(cells) == ["a = 1", "print(a)"]
    assert nbm.code_cells(cells, skip_injected=False) == ["a = 1", "a = 2", "print(a)"]


def test_compare_code_cells_reports_count_and_first_differing_cell():
    assert nbm.compare_code_cells(["a", "b"], ["a", "b"], "x.py", "x.ipynb") == []
    probs = nbm.compare_code_cells(["a", "b"], ["a"], "x.py", "x.ipynb")
    assert probs == ["x.ipynb has 1 code cells, x.py has 2"]
    probs = nbm.compare_code_cells(["a = 1", "b = 2"], ["a = 1", "b = 3"], "x.py", "x.ipynb")
    assert len(probs) == 1 and "code cell 2 of x.ipynb differs" in probs[0]
    assert "-b = 2" in probs[0] and "+b = 3" in probs[0]


def _golden_from_ipynb(nb, extra_code=None):
    node = nbformat.read(nb.ipynb, as_version=4)
    inj = nbformat.v4.new_code_cell('# Parameters\noutput_dir = "reports/_smoke/01_toy"\n')
    inj.metadata["tags"] = ["injected-parameters"]
    node.cells.insert(2, inj)
    if extra_code:
        node.cells.append(nbformat.v4.new_code_cell(extra_code))
    nb.golden.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(node, str(nb.golden))
    nb.reference.write_text(json.dumps({"table": [{"model": "toy", "n": 1}]}))


def test_check_notebook_pair_params_and_golden(tmp_path):
    _write_project(tmp_path)
    nb = nbm.find("01", nbm.discover(tmp_path))
    assert nbm.check_notebook(nb) == [
        "tests/golden/01_toy.ipynb is missing: run `make golden` (python -m recutils.notebooks golden 01_toy)",
        "tests/golden/01_toy.metrics.json is missing: run `make golden NB=01`"]
    _golden_from_ipynb(nb)
    assert nbm.check_notebook(nb) == []
    # the .py changes but the .ipynb and the golden were not regenerated
    nb.source.write_text(SOURCE.replace("print(n * 2)", "print(n * 3)"))
    probs = nbm.check_notebook(nb)
    assert len(probs) == 2
    assert "01_toy.ipynb differs" in probs[0] and "jupytext --sync" in probs[0]
    assert "tests/golden/01_toy.ipynb differs" in probs[1] and "golden 01_toy" in probs[1]
    nb.source.write_text(SOURCE)
    _golden_from_ipynb(nb, extra_code="x = 1")
    assert "has 5 code cells" in nbm.check_notebook(nb)[0]
    nb.ipynb.unlink()
    nb.params_file("full").unlink()
    probs = nbm.check_notebook(nb)
    assert any("01_toy.ipynb is missing" in p for p in probs)
    assert any("01_toy.full.yaml is missing" in p for p in probs)


def test_orphans_and_check_sync(tmp_path):
    _write_project(tmp_path)
    nb = nbm.find("01", nbm.discover(tmp_path))
    _golden_from_ipynb(nb)
    assert nbm.check_sync(tmp_path) == {"01_toy": [], "(orphans)": []}
    (tmp_path / "notebooks" / "02_gone.ipynb").write_text("{}")
    (tmp_path / "notebooks" / "scratch.py").write_text("")
    (tmp_path / "tests" / "golden" / "03_old.ipynb").write_text("{}")
    probs = nbm.orphans(tmp_path)
    assert len(probs) == 3
    assert "02_gone.ipynb has no paired .py" in probs[0]
    assert "scratch.py does not follow" in probs[1]
    assert "03_old.ipynb has no notebook" in probs[2]


# --- goldens ---------------------------------------------------------------------------------
def test_strip_volatile_drops_timestamps_paths_images_and_fixes_ids():
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"start_time": "2026-01-01T00:00:00", "duration": 3.2, "input_path": "/a/b.ipynb",
                                "parameters": {"n": 1}, "environment_variables": {}}
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.9"}
    c = nbformat.v4.new_code_cell("plt.plot([1])")
    c.metadata.update({"papermill": {"duration": 1.0, "status": "completed"}, "execution": {"iopub.status.busy": "t"},
                       "tags": ["x"]})
    c.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure>"}, metadata={"image/png": {"width": 3}}),
        nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"}),
        nbformat.v4.new_output("stream", name="stdout", text="2\n"),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), c]
    out = nbm.strip_volatile(nb)
    assert out.metadata["papermill"] == {"parameters": {"n": 1}}
    assert out.metadata["kernelspec"]["name"] == "python3"
    assert "version" not in out.metadata["language_info"]
    assert [x["id"] for x in out.cells] == ["cell-000", "cell-001"]
    cell = out.cells[1]
    assert cell.metadata == {"tags": ["x"]}
    assert [o.get("data", {}) for o in cell.outputs[:1]] == [{"text/plain": "<Figure>"}]
    assert len(cell.outputs) == 2 and cell.outputs[1]["text"] == "2\n"
    assert nb.metadata["papermill"]["duration"] == 3.2  # the input is not modified
    nbformat.validate(out)


# --- README rendering ------------------------------------------------------------------------
def _md_rows(md):
    """The cells of each line of a markdown table (split at unescaped ``|``, padding stripped)."""
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in md.splitlines()]


def test_markdown_table_formats_and_escapes():
    md = nbm.markdown_table([{"model": "a|b", "p": 0.123456, "n": 3}, {"model": "c", "extra": None, "flag": True, "p": 10.0}])
    rows = _md_rows(md)
    assert rows[0] == ["model", "p", "n", "extra", "flag"]
    assert len(rows[1]) == 5 and all(c and set(c) == {"-"} for c in rows[1])  # no alignment markers
    assert rows[2] == ["a\\|b", "0.1235", "3", "", ""]
    assert rows[3] == ["c", "10", "", "", "True"]
    assert len(rows) == 4
    assert nbm.markdown_table([]) == "_(empty table)_"


def test_metrics_tables_convention():
    m = {"table": [{"a": 1}], "tables": {"Validation": [{"b": 2}], "bad": "x"}, "other": 3}
    assert nbm.metrics_tables(m) == [(None, [{"a": 1}]), ("Validation", [{"b": 2}])]
    assert nbm.metrics_tables({"precision": 0.1}) == []


def test_render_readme_sections_tables_and_figures():
    entries = [
        nbm.ReportEntry("01_a", "ok", {"table": [{"model": "x", "ndcg": 0.25}], "tables": {"Grid": [{"lam": 1}]}},
                        ["01_a/bars.png"], 12.3),
        nbm.ReportEntry("02_b", "FAILED", None, [], 1.0),
        nbm.ReportEntry("03_c", "", {"precision": 0.1}, []),
    ]
    md = nbm.render_readme(entries, "full")
    assert md.startswith("# Reports\n")
    assert "## 01_a" in md and "Status: ok (12 s)" in md and "[01_a.ipynb](01_a/01_a.ipynb)" in md
    table = nbm.markdown_table([{"model": "x", "ndcg": 0.25}])
    assert table in md and _md_rows(table)[0] == ["model", "ndcg"] and _md_rows(table)[2:] == [["x", "0.2500"]]
    assert "### Grid" in md and "![bars](01_a/bars.png)" in md
    assert "Status: FAILED" in md and "_No metrics.json._" in md
    assert "Status: from an earlier run" in md and "_metrics.json declares no table._" in md


# --- reproduce's control flow (execution faked) ---------------------------------------------
def _fake_run(fail_on):
    def run(name, level="full", output_dir=None, root=None, display=None):
        nb = nbm.find(name, nbm.discover(root))
        if nb.name in fail_on:
            raise nbm.NotebookFailed(f"{nb.name}: cell 3 (In [2]) raised ValueError: boom")
        d = root / "reports" / nb.name
        d.mkdir(parents=True, exist_ok=True)
        (d / "metrics.json").write_text(json.dumps({"table": [{"model": nb.name}]}))
        (d / "fig.png").write_bytes(b"png")
        return d / f"{nb.name}.ipynb"
    return run


def test_reproduce_stops_at_first_failure_and_writes_readme(tmp_path, monkeypatch, capsys):
    import io

    _write_project(tmp_path, names=("01_a", "02_b", "03_c"))
    monkeypatch.setattr(nbm.report, "run", _fake_run({"02_b"}))  # the name reproduce looks up
    stream = io.StringIO()
    assert nbm.reproduce("full", root=tmp_path, stream=stream) == 1
    out = stream.getvalue().splitlines()
    assert out[0] == "[1/3] 01_a: running: no finished run on record"  # why it runs (see test_reproduce_incremental)
    assert out[1].startswith("[1/3] 01_a (full) started") and out[1].endswith("s") and " ok in " in out[1]
    assert out[3].startswith("[2/3] 02_b (full) started") and "FAILED after" in out[3]
    assert "cell 3 (In [2]) raised ValueError: boom" in out[4]
    assert out[5].startswith("stopping: not run: 03_c")
    readme = (tmp_path / "reports" / "README.md").read_text()
    assert "## 01_a" in readme and re.search(r"\| 01_a +\|", readme) and "![fig](01_a/fig.png)" in readme
    assert "Status: FAILED" in readme and "Status: not run" in readme


def test_reproduce_keep_going_and_only(tmp_path, monkeypatch):
    import io

    _write_project(tmp_path, names=("01_a", "02_b", "03_c"))
    monkeypatch.setattr(nbm.report, "run", _fake_run({"01_a"}))
    stream = io.StringIO()
    assert nbm.reproduce("full", only=["1", "03"], keep_going=True, root=tmp_path, stream=stream) == 1
    text = stream.getvalue()
    assert "[1/2] 01_a" in text and "[2/2] 03_c" in text and "02_b" not in text.split("wrote")[0]
    readme = (tmp_path / "reports" / "README.md").read_text()
    assert "## 02_b" in readme  # every notebook has a section, run or not
    assert re.search(r"\| 03_c +\|", readme)


def test_cli_unknown_notebook_is_a_clean_error(capsys):
    assert nbm.main(["run", "99_nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown notebook '99_nope'") and "Traceback" not in err


# --- parameter types -------------------------------------------------------------------------
def test_parameter_defaults_reads_literals():
    src = 'a = 1\nb: float = 0.5\nc = "x"\nd = [1, 2]\ne = None\nf = some_call()\ng = True\n'
    d = nbm.parameter_defaults(src)
    assert (d["a"], d["b"], d["c"], d["d"], d["e"], d["g"]) == (1, 0.5, "x", [1, 2], None, True)
    assert d["f"] is nbm._NOT_A_LITERAL


@pytest.mark.parametrize("params, fragment", [
    ({"n_users": "abc"}, "n_users must be an integer like its default 0, got 'abc'"),
    ({"k": "twenty"}, "k must be an integer like its default 25, got 'twenty'"),
    ({"alpha": "high"}, "alpha must be a number like its default 0.5"),
    ({"progress": "yes"}, "progress must be true/false"),
    ({"alphas": [0.5, "x"]}, "alphas must be a list of numbers"),
    ({"alphas": 0.5}, "alphas must be a list"),
    ({"text": 3}, "text must be a string"),
    ({"n_users": 1.5}, "n_users must be an integer"),
    ({"n_users": True}, "n_users must be an integer"),
])
def test_check_param_types_names_each_bad_parameter(params, fragment):
    defaults = nbm.parameter_defaults('n_users = 0\nk = 25\nalpha = 0.5\nprogress = True\nalphas = [0.5, 0.7]\n'
                                      'text = "study"\ndata_dir = None\n')
    with pytest.raises(RecutilsError, match="params/x.yaml: ") as exc:
        nbm.check_param_types(params, defaults, where="params/x.yaml")
    assert fragment in str(exc.value)


def test_check_param_types_accepts_right_types():
    defaults = nbm.parameter_defaults('n = 0\nalpha = 0.5\nalphas = [0.5]\ndata_dir = None\ngrid = {"a": 1}\n')
    nbm.check_param_types({"n": 3, "alpha": 1, "alphas": [1, 0.5], "data_dir": "/x", "grid": {}}, defaults)
    nbm.check_param_types({"data_dir": None}, defaults)


def test_bad_param_type_fails_before_any_cell_runs(tmp_path, capsys):
    _write_project(tmp_path)
    (tmp_path / "params" / "01_toy.smoke.yaml").write_text('output_dir: reports/_smoke/01_toy\nn: "abc"\n')
    with pytest.raises(RecutilsError, match=r"params/01_toy.smoke.yaml: n must be an integer like its default 3, got 'abc'"):
        nbm.run("01", "smoke", root=tmp_path)
    assert not (tmp_path / "reports" / "_smoke" / "01_toy").exists()  # nothing executed
    nb = nbm.find("01", nbm.discover(tmp_path))
    assert any("n must be an integer" in p for p in nbm.check_notebook(nb))


def test_cli_bad_param_type_is_one_line(tmp_path, monkeypatch, capsys):
    _write_project(tmp_path)
    (tmp_path / "params" / "01_toy.smoke.yaml").write_text('output_dir: reports/_smoke/01_toy\nn: "abc"\n')
    monkeypatch.setattr(nbm.discovery, "ROOT", tmp_path)
    monkeypatch.setattr(nbm.discover, "__defaults__", (tmp_path,))
    monkeypatch.setattr(nbm.run, "__defaults__", ("full", None, tmp_path, None))
    assert nbm.main(["run", "01", "--params", "smoke"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: params/01_toy.smoke.yaml: n must be") and "Traceback" not in err


def test_real_params_files_have_the_declared_types():
    for nb in nbm.discover():
        for level in ("smoke", "full"):
            nbm.notebook_params(nb, level)


# --- one real execution (papermill + a kernel) ------------------------------------------------
def test_run_executes_and_reports_the_failing_cell(tmp_path, monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)
    _write_project(tmp_path)
    out = nbm.run("01", "smoke", root=tmp_path)
    assert out == tmp_path / "reports" / "_smoke" / "01_toy" / "01_toy.ipynb"
    metrics = json.loads((out.parent / "metrics.json").read_text())
    assert metrics == {"table": [{"model": "toy", "n": 1}]}  # smoke params injected
    executed = nbformat.read(out, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    # a failing cell: clear message, partial notebook kept, no stale metrics.json left behind
    (tmp_path / "params" / "01_toy.smoke.yaml").write_text("output_dir: reports/_smoke/01_toy\nfail: true\n")
    with pytest.raises(nbm.NotebookFailed) as exc:
        nbm.run("01_toy", "smoke", root=tmp_path)
    msg = str(exc.value)
    assert msg.startswith("01_toy: cell ") and "raised ValueError: boom on purpose" in msg
    assert "partial notebook: reports/_smoke/01_toy/01_toy.ipynb" in msg
    assert out.is_file() and not (out.parent / "metrics.json").exists()
