"""``reproduce`` redoes only what changed: a notebook whose inputs (source, params, recutils, data
checksums, library versions) and outputs are those of its last finished run is skipped; a failed
or interrupted run leaves no record, so the next run resumes there; ``--force`` runs all."""

import io
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from test_notebooks_machinery import _write_project

from recutils import notebooks as nbm
from recutils.notebooks import inputs, timings

NAMES = ("01_a", "02_b", "03_c")
SKIPPED = re.compile(r"^\[\d/\d\] (\S+): unchanged since \d{4}-\d\d-\d\d \d\d:\d\d \(skipped\)$")


class FakeRun:
    """``report.run`` without a kernel: writes what a notebook leaves and counts the calls."""

    def __init__(self):
        self.calls: list[str] = []
        self.fail: set[str] = set()
        self.interrupt: set[str] = set()

    def __call__(self, name, level="full", output_dir=None, root=None, display=None):
        nb = nbm.find(name, nbm.discover(root))
        self.calls.append(nb.name)
        if nb.name in self.interrupt:
            raise KeyboardInterrupt
        if nb.name in self.fail:
            raise nbm.NotebookFailed(f"{nb.name}: cell 3 (In [2]) raised ValueError: boom")
        d = root / "reports" / nb.name
        d.mkdir(parents=True, exist_ok=True)
        (d / "metrics.json").write_text(json.dumps({"table": [{"model": nb.name}]}))
        (d / "fig.png").write_bytes(b"png")
        (d / f"{nb.name}.ipynb").write_text("{}")
        timings.write_timings(d, timings.record(nb.name, 1.0, True, [], time.time()))
        return d / f"{nb.name}.ipynb"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """Three toy notebooks with their own ``recutils`` package and an empty data folder."""
    monkeypatch.setenv("RECUTILS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RECUTILS_CACHE_DIR", str(tmp_path / "cache"))
    _write_project(tmp_path, names=NAMES)
    (tmp_path / "recutils").mkdir()
    (tmp_path / "recutils" / "__init__.py").write_text("")
    (tmp_path / "recutils" / "models.py").write_text("K = 1\n")
    fake = FakeRun()
    monkeypatch.setattr(nbm.report, "run", fake)
    return tmp_path, fake


def _reproduce(project, **kw):
    """Run reproduce; return (notebooks run, the output lines)."""
    root, fake = project
    fake.calls.clear()
    stream = io.StringIO()
    nbm.reproduce("full", root=root, stream=stream, **kw)
    return list(fake.calls), stream.getvalue().splitlines()


def _skipped(lines):
    return [m.group(1) for m in map(SKIPPED.match, lines) if m]


def _why(lines, name):
    """The reason printed before ``name`` ran."""
    hits = [line.split(": ", 1)[1] for line in lines if re.match(rf"^\[\d/\d\] {name}: (re-)?running: ", line)]
    assert len(hits) == 1, lines
    return hits[0]


def test_unchanged_second_run_skips_every_notebook_and_keeps_its_report(project):
    root, _ = project
    ran, lines = _reproduce(project)
    assert ran == list(NAMES) and _why(lines, "02_b") == "running: no finished run on record"
    for name in NAMES:
        rec = json.loads((root / "reports" / name / "inputs.json").read_text())
        assert set(rec["inputs"]) == set(inputs.COMPONENTS)
        assert set(rec["outputs"]) == {"metrics.json", "fig.png", f"{name}.ipynb", "timings.json"}
    ran, lines = _reproduce(project)
    assert ran == []
    assert _skipped(lines) == list(NAMES) and all(SKIPPED.match(line) for line in lines[:3])
    readme = (root / "reports" / "README.md").read_text()
    assert len(re.findall(r"Status: unchanged since \d{4}-\d\d-\d\d \d\d:\d\d ", readme)) == 3
    assert re.search(r"\| 02_b +\|", readme) and "![fig](02_b/fig.png)" in readme  # the last run's report
    assert "from an earlier run" in readme  # its timings row


def test_editing_one_source_ipynb_or_params_file_reruns_only_that_notebook(project):
    root, _ = project
    _reproduce(project)
    with open(root / "notebooks" / "02_b.py", "a") as fh:
        fh.write("\n# %%\nprint('one more cell')\n")
    ran, lines = _reproduce(project)
    assert ran == ["02_b"] and _why(lines, "02_b") == "re-running: source changed"
    assert _skipped(lines) == ["01_a", "03_c"]
    (root / "params" / "03_c.full.yaml").write_text("output_dir: reports/03_c\nn: 5\n")
    ran, lines = _reproduce(project)
    assert ran == ["03_c"] and _why(lines, "03_c") == "re-running: params changed"
    assert _reproduce(project)[0] == []
    ipynb = root / "notebooks" / "01_a.ipynb"  # edited on its own (the run's sync would take it over)
    node = nbformat.read(ipynb, as_version=4)
    node.cells[-1].source += "\nprint('edited in the .ipynb')"
    nbformat.write(node, ipynb)
    ran, lines = _reproduce(project)
    assert ran == ["01_a"] and _why(lines, "01_a") == "re-running: ipynb changed"


def test_recutils_data_or_library_change_reruns_all_and_says_why(project, monkeypatch):
    root, _ = project
    _reproduce(project)
    (root / "recutils" / "models.py").write_text("K = 2\n")
    ran, lines = _reproduce(project)
    assert ran == list(NAMES) and _why(lines, "01_a") == "re-running: recutils changed (models.py)"
    bad = root / "data" / "ml-1m" / "ratings.dat"  # a registered file appears (and does not verify)
    bad.parent.mkdir(parents=True)
    bad.write_text("1::1::5::0\n")
    ran, lines = _reproduce(project)
    assert ran == list(NAMES) and _why(lines, "03_c") == "re-running: data changed (ml-1m/ratings.dat)"
    versions = inputs.library_versions()
    monkeypatch.setattr(inputs, "library_versions", lambda: {**versions, "numpy": "0.0.1"})
    ran, lines = _reproduce(project)
    assert ran == list(NAMES)
    assert _why(lines, "02_b") == f"re-running: libraries changed (numpy {versions['numpy']} -> 0.0.1)"


def test_force_reruns_every_notebook(project):
    _reproduce(project)
    ran, lines = _reproduce(project, force=True)
    assert ran == list(NAMES) and {_why(lines, n) for n in NAMES} == {"re-running: --force"}


def test_missing_or_altered_outputs_rerun_that_notebook(project):
    root, _ = project
    _reproduce(project)
    (root / "reports" / "01_a" / "fig.png").unlink()
    (root / "reports" / "03_c" / "metrics.json").write_text('{"table": []}')
    ran, lines = _reproduce(project)
    assert ran == ["01_a", "03_c"]
    assert _why(lines, "01_a") == "re-running: outputs missing (fig.png)"
    assert _why(lines, "03_c") == "re-running: outputs changed (metrics.json)"


def test_failed_notebook_leaves_no_record_and_the_next_run_resumes_there(project):
    root, fake = project
    fake.fail = {"02_b"}
    ran, lines = _reproduce(project)
    assert ran == ["01_a", "02_b"] and any(line.startswith("stopping: not run: 03_c") for line in lines)
    assert not (root / "reports" / "02_b" / "inputs.json").exists()
    fake.fail = set()
    ran, lines = _reproduce(project)
    assert ran == ["02_b", "03_c"] and _skipped(lines) == ["01_a"]
    # a notebook that had a record and then fails loses it: the run after redoes it
    (root / "params" / "02_b.full.yaml").write_text("output_dir: reports/02_b\nn: 7\n")
    fake.fail = {"02_b"}
    _reproduce(project, keep_going=True)
    assert not (root / "reports" / "02_b" / "inputs.json").exists()
    fake.fail = set()
    ran, lines = _reproduce(project)
    assert ran == ["02_b"] and _why(lines, "02_b") == "running: no finished run on record"


def test_interrupted_run_resumes_at_the_first_unfinished_notebook(project):
    root, fake = project
    _reproduce(project)
    for name in ("02_b", "03_c"):  # both change; the run is stopped (Ctrl-C) during 02_b
        with open(root / "notebooks" / f"{name}.py", "a") as fh:
            fh.write("\n# edited\n")
    fake.interrupt = {"02_b"}
    with pytest.raises(KeyboardInterrupt):
        _reproduce(project)
    assert not (root / "reports" / "02_b" / "inputs.json").exists()
    fake.interrupt = set()
    ran, lines = _reproduce(project)
    assert ran == ["02_b", "03_c"] and _skipped(lines) == ["01_a"]
    assert _why(lines, "02_b") == "running: no finished run on record"
    assert _why(lines, "03_c") == "re-running: source changed"


def test_changes_name_what_differs():
    old = {"source": "a", "params": "p", "recutils": {"x.py": "1", "y.py": "2"}, "data": {"f": "h"},
           "libraries": {"torch": "2.3.0"}, "python": "3.11.7"}
    new = {**old, "recutils": {"x.py": "1", "y.py": "3", "z.py": "4"}, "libraries": {"torch": "2.4.0"}}
    assert inputs.changes(old, new) == ["recutils changed (y.py, z.py)", "libraries changed (torch 2.3.0 -> 2.4.0)"]
    assert inputs.changes(old, old) == []
    many = {**old, "recutils": {f"m{i}.py": "0" for i in range(5)}}
    assert inputs.changes(old, many)[0].endswith("and 4 more)")


def test_data_checksums_are_the_verified_ones(tmp_path, monkeypatch):
    from recutils.datasets.registry import DATASETS

    monkeypatch.setenv("RECUTILS_CACHE_DIR", str(tmp_path / "cache"))
    registered = [f.path for d in DATASETS.values() for f in d.files]
    assert inputs.data_checksums(tmp_path / "none") == {p: "missing" for p in registered}
    (tmp_path / "afile").write_text("x")
    assert list(inputs.data_checksums(tmp_path / "afile")) == ["(data directory)"]


@pytest.mark.integration
def test_data_checksums_of_the_mirror(data_dir):
    from recutils.datasets.registry import MOVIELENS_SMALL

    sums = inputs.data_checksums(data_dir)
    assert all(sums[f.path] == f.sha256 for f in MOVIELENS_SMALL.files)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("force, expected", [("FORCE=1", True), ("FORCE=0", False), (None, False)])
def test_make_reproduce_passes_force(tmp_path, force, expected):
    shutil.copy(Path(__file__).resolve().parents[1] / "Makefile", tmp_path / "Makefile")
    args = ["make", "-n", "-o", ".venv/.installed", "reproduce", "ONLY=02"] + ([force] if force else [])
    r = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if "recutils.notebooks reproduce" in x)
    assert ("--force" in line.split()) is expected


# --- one real execution: the second reproduce starts no kernel --------------------------------
@pytest.mark.integration
def test_real_reproduce_twice_runs_once(tmp_path, monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.setenv("RECUTILS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RECUTILS_CACHE_DIR", str(tmp_path / "cache"))
    _write_project(tmp_path)
    stream = io.StringIO()
    assert nbm.reproduce("smoke", root=tmp_path, stream=stream, quiet=True) == 0
    out = tmp_path / "reports" / "_smoke" / "01_toy"
    assert json.loads((out / "metrics.json").read_text()) == {"table": [{"model": "toy", "n": 1}]}
    executed = (out / "01_toy.ipynb").stat().st_mtime_ns
    rec = nbm.read_record(out)
    assert {"01_toy.ipynb", "metrics.json", "timings.json"} <= set(rec["outputs"])
    stream = io.StringIO()
    assert nbm.reproduce("smoke", root=tmp_path, stream=stream, quiet=True) == 0
    assert _skipped(stream.getvalue().splitlines()) == ["01_toy"]
    assert (out / "01_toy.ipynb").stat().st_mtime_ns == executed


def test_a_complete_full_run_writes_docs_results_page(project):
    root, fake = project
    _, lines = _reproduce(project)
    page = root / "docs" / "results.md"
    assert "wrote docs/results.md" in lines and page.is_file()
    text = page.read_text()
    assert text.startswith("# Results of the last full run") and "do not edit by hand" in text
    for name in NAMES:
        assert f"## {name}" in text and (root / "docs" / "figures" / name / "fig.png").read_bytes() == b"png"
        assert f"![fig](figures/{name}/fig.png)" in text
    # an unchanged rerun is complete too: the page is rewritten with "unchanged since"
    _reproduce(project)
    assert "Status: unchanged since" in page.read_text()


def test_a_failed_or_partial_run_leaves_the_results_page(project):
    root, fake = project
    _reproduce(project)
    page = root / "docs" / "results.md"
    before = page.read_text()
    (root / "notebooks" / "02_b.py").write_text((root / "notebooks" / "02_b.py").read_text() + "\n# edited\n")
    fake.fail = {"02_b"}
    _, lines = _reproduce(project)
    assert "docs/results.md left as it was (not every notebook finished)" in lines and page.read_text() == before
    fake.fail = set()
    _, lines = _reproduce(project, only=["01"])  # a partial run never writes it
    assert not any("docs/results.md" in line for line in lines)


# --- the artifacts lane: built beside the notebooks at the lowest priority -------------------------
def _lane_script(root, body):
    script = root / "lane_cmd.py"
    script.write_text(body)
    return lambda out, force=False: [sys.executable, str(script), str(out), *(["--force"] if force else [])]


def test_artifacts_build_beside_the_notebooks_at_low_priority(project, monkeypatch):
    from recutils.notebooks import lane, malloc

    root, fake = project
    monkeypatch.setenv("RECUTILS_PROGRESS_FILE", str(root / "events.jsonl"))
    monkeypatch.delenv(malloc.ENV, raising=False)
    monkeypatch.setattr(lane, "artifacts_command", _lane_script(root, (
        "import os, sys\n"
        "print('niceness', os.nice(0))\n"
        "print('own session', os.getsid(0) == os.getpid())\n"
        "print('autogroup', open('/proc/self/autogroup').read().split()[-1] if os.path.exists('/proc/self/autogroup') "
        "else 'none')\n"
        "print('progress file', os.environ.get('RECUTILS_PROGRESS_FILE'))\n"
        "print('threads', os.environ.get('OMP_NUM_THREADS'), os.environ.get('OPENBLAS_NUM_THREADS'))\n"
        "print('tunables', os.environ.get('GLIBC_TUNABLES'))\n"
        "print('manifest: ' + sys.argv[1] + '/manifest.json', sys.argv[2:])\n")))
    slow = nbm.report.run

    def run_slowly(*a, **kw):  # the notebooks take longer than the lane: it reports its own time
        time.sleep(1.0)
        return slow(*a, **kw)

    monkeypatch.setattr(nbm.report, "run", run_slowly)
    ran, lines = _reproduce(project, artifacts="artifacts", force=True)
    assert ran == list(NAMES)
    assert lines[0] == "artifacts: building beside the notebooks at low priority (log: reports/artifacts.log)"
    log = (root / "reports" / "artifacts.log").read_text()
    assert "niceness 19" in log or "niceness" in log and int(log.split("niceness ")[1].split()[0]) >= 19
    assert "progress file None" in log  # the lane never writes to the notebooks' live line
    assert "threads 1 1" in log  # one thread: a preempted OpenMP thread would keep the others spinning
    assert f"tunables {malloc.tunables()}" in log  # the kernels' malloc settings (recutils.notebooks.malloc)
    # its own session and scheduler autogroup, lowered too: nice alone ranks only within a group
    assert "own session True" in log
    assert "autogroup 19" in log or "autogroup none" in log
    done = [ln for ln in lines if ln.startswith("artifacts: ok")]
    assert len(done) == 1 and "beside the notebooks" in done[0]
    assert int(done[0].split("artifacts: ok, ")[1].split(" s")[0]) < 3  # its own time, not the notebooks' 3+ s
    assert "  manifest: artifacts/manifest.json ['--force']" in lines


def test_a_failed_artifacts_build_is_a_failure_with_its_log(project, monkeypatch):
    from recutils.notebooks import lane

    root, fake = project
    monkeypatch.setattr(lane, "artifacts_command", _lane_script(root, "import sys\nprint('no data')\nsys.exit(3)\n"))
    stream = io.StringIO()
    assert nbm.reproduce("full", root=root, stream=stream, artifacts="artifacts") == 1
    out = stream.getvalue()
    assert "artifacts: FAILED (exit code 3)" in out and "  no data" in out


def test_a_failing_notebook_stops_the_artifacts_build_too(project, monkeypatch):
    from recutils.notebooks import lane

    root, fake = project
    monkeypatch.setattr(lane, "artifacts_command", _lane_script(root, "import time\ntime.sleep(60)\n"))
    fake.fail = {"01_a"}
    stream = io.StringIO()
    t0 = time.perf_counter()
    assert nbm.reproduce("full", root=root, stream=stream, artifacts="artifacts") == 1
    assert time.perf_counter() - t0 < 30
    assert "artifacts: stopped with the notebooks" in stream.getvalue()
