"""The runner's progress: the live status line, its throttling in logs, the timings table,
and one real execution whose kernel (and a subprocess of it) report tasks to the runner."""

import io
import json
import os
import re
import threading

import nbformat
import pytest

from recutils import notebooks as nbm
from recutils import progress
from recutils.notebooks import live, malloc, timings
from recutils.notebooks.live import Cell, Display, LogThrottle, TaskState, Tracker


def _ev(event, desc="encode m", n=0, total=100, unit="texts", t0=1000.0, t=None, pid=1, **extra):
    return {"event": event, "desc": desc, "n": n, "total": total, "unit": unit, "t0": t0,
            "t": t0 if t is None else t, "pid": pid, **extra}


# --- the status line (pure) ------------------------------------------------------------------
def test_clock_and_rate_text():
    assert [live.clock(s) for s in (0, 5.4, 65, 3599.6, 3725)] == ["0:00", "0:05", "1:05", "1:00:00", "1:02:05"]
    assert live.rate_text(52.3, "texts") == "52 texts/s"
    assert live.rate_text(1234.0, "texts") == "1,234 texts/s"
    assert live.rate_text(2.5, "batches") == "2.5 batches/s"
    assert live.rate_text(0.25, "epochs") == "4.0 s/epochs"


def test_status_line_with_total_rate_and_eta():
    tr = Tracker()
    tr.feed([_ev("start", "encode all-mpnet-base-v2 (onnx-int8)", total=9742),
             _ev("update", "encode all-mpnet-base-v2 (onnx-int8)", n=4512, total=9742, t=1000.0 + 4512 / 52)])
    cell = Cell(7, 24, "§2 Embedding the movies")
    line = live.status_line("[3/5] 03_semantic_search", cell, tr.running(), now=1100.0, started=1100.0 - 185)
    assert line == ("[3/5] 03_semantic_search · cell 7/24 §2 Embedding the movies · "
                    "encode all-mpnet-base-v2 (onnx-int8) 4,512/9,742 texts 46% · 52 texts/s · ETA 1:41 · 3:05 elapsed")


def test_status_line_without_total_before_progress_and_without_tasks():
    st = TaskState("train", "batches", None, 1200, t0=1000.0, t=1030.0, pid=1)
    assert live.task_text(st, now=1031.0) == "train 1,200 batches in 0:31 · 40 batches/s"
    fresh = TaskState("encode m", "texts", 10, 0, t0=1000.0, t=1000.0, pid=1)
    assert live.task_text(fresh, now=1002.0) == "encode m 0/10 texts 0%"
    assert live.status_line("01_x", Cell(2, 5, "import numpy as np"), [], 10.0, 0.0) == "01_x · cell 2/5 import numpy as np · 0:10 elapsed"
    assert live.status_line("01_x", None, [], 3.0, 0.0) == "01_x · starting the kernel · 0:03 elapsed"


def test_nested_and_subprocess_tasks_show_outer_to_inner():
    tr = Tracker()
    tr.feed([_ev("start", "fine-tune", total=3, unit="epochs", t0=1000.0, pid=7),
             _ev("update", "fine-tune", n=1, total=3, unit="epochs", t0=1000.0, t=1060.0, pid=7),
             _ev("start", "batches", total=400, unit="batches", t0=1061.0, pid=7),
             _ev("update", "batches", n=40, total=400, unit="batches", t0=1061.0, t=1071.0, pid=7),
             _ev("start", "encode side", total=None, t0=1050.0, pid=8)])  # another process
    running = tr.running()
    assert [t.desc for t in running] == ["fine-tune", "encode side", "batches"]
    parts = live.status_parts(Cell(3, 9, "§2 Fine-tuning"), running, now=1072.0, started=990.0)
    assert parts[1] == ("fine-tune 1/3 epochs › encode side 0 texts › "
                        "batches 40/400 batches 10% · 4.0 batches/s · ETA 1:30")
    ended = tr.feed([_ev("end", "batches", n=400, total=400, unit="batches", t0=1061.0, t=1161.0, pid=7,
                         seconds=100.0, ok=True)])
    assert [t.desc for t in ended] == ["batches"] and [t.desc for t in tr.running()] == ["fine-tune", "encode side"]


def test_finished_lines_ok_failed_and_without_total():
    tr = Tracker()
    tr.feed([_ev("start"), _ev("end", n=9742, total=9742, t=1187.0, seconds=187.0, ok=True),
             _ev("start", "train", t0=2000.0), _ev("end", "train", n=40, total=100, unit="batches", t0=2000.0,
                                                   t=2062.0, seconds=62.0, ok=False)])
    assert [live.finished_line(t) for t in tr.finished] == [
        "  encode m: 9,742 texts in 3:07", "  train: FAILED after 40/100 batches in 1:02"]
    st = TaskState("scan", "rows", None, 5, 0.0, 9.0, 1, seconds=9.0, ok=True)
    assert live.finished_line(st) == "  scan: 5 rows in 0:09"


def test_tasks_of_a_dead_process_end_as_failed():
    tr = Tracker()
    tr.feed([_ev("start", pid=os.getpid()),
             _ev("start", "gone", pid=2 ** 22 + 12345), _ev("update", "gone", n=40, t=1030.0, pid=2 ** 22 + 12345)])
    assert [t.desc for t in tr.running()] == ["encode m", "gone"]
    assert [(t.desc, t.n, t.seconds, t.ok) for t in tr.reap()] == [("gone", 40, 30.0, False)]
    assert [t.desc for t in tr.running()] == ["encode m"] and tr.finished[-1].desc == "gone"
    assert tr.reap() == []


def test_cell_info_section_from_nearest_heading_else_first_code_line():
    cells = [nbformat.v4.new_markdown_cell("# 03 · Title\nintro"),
             nbformat.v4.new_code_cell("# setup\nimport numpy as np"),
             nbformat.v4.new_markdown_cell("## 2. Embedding the movies\ntext"),
             nbformat.v4.new_code_cell("x = 1"),
             nbformat.v4.new_markdown_cell("Just prose, no heading."),
             nbformat.v4.new_code_cell("y = 2"),
             nbformat.v4.new_markdown_cell("### Query latency"),
             nbformat.v4.new_code_cell("z = 3")]
    assert live.cell_info(cells, 1) == Cell(1, 4, "import numpy as np")
    assert live.cell_info(cells, 3) == Cell(2, 4, "§2 Embedding the movies")
    assert live.cell_info(cells, 5) == Cell(3, 4, "§2 Embedding the movies")
    assert live.cell_info(cells, 7) == Cell(4, 4, "§ Query latency")
    w = live.Watch()  # as papermill's engine calls it: markdown cells are skipped, the end is said
    w.on_cell(cells, 3, False)
    w.on_cell(cells, 4, False)
    w.on_cell(cells, 4, True)
    assert w.cell == Cell(2, 4, "§2 Embedding the movies")
    w.on_cell(cells, 7, True)
    assert w.cell == live.CLOSING
    assert live.status_line("01_x", w.cell, [], 5.0, 0.0) == "01_x · closing the kernel · 0:05 elapsed"
    w.on_cell(None, 0, False)  # never raises


# --- the display ----------------------------------------------------------------------------
def test_log_throttle_settles_then_repeats_every_30_s():
    th = LogThrottle(settle=2.0, repeat=30.0)
    assert not th.due("a", 0.0) and not th.due("a", 1.9) and th.due("a", 2.0)
    assert not th.due("a", 2.5) and not th.due("a", 31.9) and th.due("a", 32.0)
    assert not th.due("b", 33.0)  # a quick cell leaves no line
    assert not th.due("c", 33.5) and th.due("c", 36.0)


def test_log_display_header_result_and_a_line_per_change(monkeypatch):
    monkeypatch.delenv(live.QUIET_ENV, raising=False)
    out = io.StringIO()
    d = Display("[1/2] 01_x", out, tty=False)
    d.header("[1/2] 01_x (full) started 12:00:00 ...", now=0.0)
    cell = Cell(2, 5, "§1 Data")
    task = TaskState("encode m", "texts", 100, 50, 0.0, 10.0, 1)
    for now in (1.0, 2.0, 3.5, 4.0):  # first poll starts the clock; a line once it lasted 2 s
        d.status(cell, [task], now, 0.0)
    d.finished(TaskState("encode m", "texts", 100, 100, 0.0, 20.0, 1, seconds=20.0, ok=True))
    d.finished(TaskState("quick", "it", None, 3, 0.0, 1.0, 1, seconds=1.0, ok=True))  # too short for a line
    d.result("ok in 25.0 s")
    assert out.getvalue().splitlines() == [
        "[1/2] 01_x (full) started 12:00:00 ...",
        "[1/2] 01_x · cell 2/5 §1 Data · encode m 50/100 texts 50% · 5.0 texts/s · ETA 0:10 · 0:04 elapsed",
        "  encode m: 100 texts in 0:20",
        "[1/2] 01_x ok in 25.0 s"]
    quick = io.StringIO()
    d = Display("01_x", quick, tty=False)
    d.header("01_x (smoke) started 12:00:00 ...", now=0.0)
    d.status(Cell(1, 3, "a = 1"), [], 0.5, 0.0)
    d.result("ok in 0.9 s")
    assert quick.getvalue() == "01_x (smoke) started 12:00:00 ... ok in 0.9 s\n"


def test_tty_display_rewrites_in_place_and_keeps_the_header(monkeypatch):
    monkeypatch.delenv(live.QUIET_ENV, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    out = io.StringIO()
    d = Display("01_x", out, tty=True)
    d.header("01_x (full) started 12:00:00 ...", now=0.0)
    d.status(Cell(1, 3, "§1 Data"), [], 1.0, 0.0)
    d.status(Cell(1, 3, "§1 Data"), [], 1.2, 0.0)  # the same text is not rewritten
    d.finished(TaskState("encode m", "texts", None, 9, 0.0, 9.0, 1, seconds=9.0, ok=True))
    d.status(Cell(2, 3, "§2 Search"), [], 10.0, 0.0)
    d.result("ok in 11.0 s")
    assert out.getvalue() == (
        "01_x (full) started 12:00:00 ..."
        "\r\033[K01_x · cell 1/3 §1 Data · 0:01 elapsed"
        "\r\033[K01_x (full) started 12:00:00 ...\n  encode m: 9 texts in 0:09\n"
        "\r\033[K01_x · cell 2/3 §2 Search · 0:10 elapsed"
        "\r\033[K01_x ok in 11.0 s\n")
    monkeypatch.setenv("COLUMNS", "60")
    narrow = io.StringIO()
    d = Display("01_x", narrow, tty=True)
    d.status(Cell(1, 3, "§1 A rather long section title that will not fit"), [], 1.0, 0.0)
    shown = narrow.getvalue().removeprefix("\r\033[K")
    assert len(shown) == 59 and shown.startswith("01_x · cell 1/3 §1 A rather") and shown.endswith("… · 0:01 elapsed")
    monkeypatch.setenv("COLUMNS", "100")
    tiny = io.StringIO()
    task = TaskState("encode all-mpnet-base-v2 (onnx-int8)", "texts", 9742, 4512, 0.0, 86.8, 1)
    Display("[3/5] 03_s", tiny, tty=True).status(Cell(7, 24, "§2 Embedding the movies"), [task], 100.0, 0.0)
    shown = tiny.getvalue().removeprefix("\r\033[K")  # no room for the section: dropped, then the end cut
    assert shown == "[3/5] 03_s · cell 7/24 · encode all-mpnet-base-v2 (onnx-int8) 4,512/9,742 texts 46% · 52 texts/s ·…"
    assert len(shown) == 99


def test_quiet_keeps_header_and_result_only(monkeypatch):
    monkeypatch.setenv(live.QUIET_ENV, "0")
    out = io.StringIO()
    d = Display("01_x", out, tty=False)
    assert not d.enabled
    d.header("01_x (full) started 12:00:00 ...", now=0.0)
    for now in (1.0, 5.0, 40.0):
        d.status(Cell(1, 3, "§1 Data"), [], now, 0.0)
    d.finished(TaskState("encode m", "texts", None, 9, 0.0, 60.0, 1, seconds=60.0, ok=True))
    d.result("ok in 61.0 s")
    assert out.getvalue() == "01_x (full) started 12:00:00 ... ok in 61.0 s\n"


def test_a_broken_stream_never_raises():
    class Broken(io.StringIO):
        def write(self, s):
            raise OSError("gone")

    d = Display("01_x", Broken(), tty=True, enabled=True)
    d.header("h")
    d.status(Cell(1, 1, "x"), [], 1.0, 0.0)
    d.result("ok")


# --- the timings table ------------------------------------------------------------------------
def _rec(name, seconds, t0, stages, ok=True):
    return {"notebook": name, "started": "2024-05-01 12:00:00", "t0": t0, "seconds": seconds, "ok": ok,
            "machine": {"cpu": "Test CPU", "cores": 4}, "stages": stages}


def test_stages_sum_per_description():
    fin = [TaskState("encode a", "texts", 10, 10, 0.0, 5.0, 1, seconds=5.0, ok=True),
           TaskState("epoch", "batches", None, 100, 5.0, 20.0, 1, seconds=15.0, ok=True),
           TaskState("epoch", "batches", None, 100, 20.0, 40.0, 1, seconds=20.0, ok=False)]
    assert timings.stages(fin) == [
        {"desc": "encode a", "seconds": 5.0, "n": 10, "unit": "texts", "runs": 1, "ok": True},
        {"desc": "epoch", "seconds": 35.0, "n": 200, "unit": "batches", "runs": 2, "ok": False}]


def test_timing_rows_long_stages_share_rate_and_earlier_runs():
    stages = [{"desc": "encode m", "seconds": 187.0, "n": 9742, "unit": "texts", "runs": 1, "ok": True},
              {"desc": "quick", "seconds": 2.0, "n": 5, "unit": "it", "runs": 1, "ok": True},
              {"desc": "epoch", "seconds": 60.0, "n": 0, "unit": "it", "runs": 3, "ok": False}]
    rows = timings.timing_rows([("03_s", _rec("03_s", 374.0, 500.0, stages)),
                                ("04_t", _rec("04_t", 8.25, 100.0, [], ok=False)), ("05_h", None)], since=400.0)
    assert rows[0] == {"notebook": "03_s", "stage": "(whole notebook)", "seconds": "374", "share": "", "count": "",
                       "rate": "", "run": "this run"}
    assert rows[1] == {"notebook": "", "stage": "encode m", "seconds": "187", "share": "50%", "count": "9,742 texts",
                       "rate": "52 texts/s", "run": ""}
    assert rows[2]["stage"] == "epoch (×3) FAILED" and rows[2]["count"] == "" and rows[2]["share"] == "16%"
    assert rows[3]["notebook"] == "04_t" and rows[3]["seconds"] == "8.2"
    assert rows[3]["run"] == "from an earlier run (2024-05-01 12:00:00), FAILED"
    assert rows[4] == {"notebook": "05_h", "stage": "", "seconds": "", "share": "", "count": "", "rate": "",
                       "run": "no timings"}
    assert len(rows) == 5  # the 2 s stage has no row


def test_render_readme_ends_with_timings_and_the_machine():
    entries = [nbm.ReportEntry("01_a", "ok", None, [], 12.0, timings=_rec("01_a", 12.0, 500.0, [])),
               nbm.ReportEntry("02_b", "", None, [], timings=_rec("02_b", 30.0, 100.0, []))]
    run = {"machine": {"cpu": "Test CPU", "cores": 4}, "load_before": 0.5, "load_after": 1.25, "seconds": 75.0,
           "t0": 400.0}
    md = nbm.render_readme(entries, "full", run)
    section = md.split("## Timings\n", 1)[1]
    assert "## 01_a" not in section and "## 02_b" in md
    assert "Machine: 4 cores, Test CPU · load average 0.5 before, 1.25 after · total wall time 1:15" in section
    assert re.search(r"\| 01_a +\| \(whole notebook\) +\| 12 +\|.*\| this run +\|", section)
    assert re.search(r"\| 02_b +\|.*\| from an earlier run \(2024-05-01 12:00:00\) +\|", section)


def test_reproduce_prints_timings_and_keeps_earlier_ones(tmp_path, monkeypatch):
    from test_notebooks_machinery import _write_project

    _write_project(tmp_path, names=("01_a", "02_b"))
    timings.write_timings(tmp_path / "reports" / "02_b", _rec("02_b", 30.0, 100.0, []))

    def fake_run(name, level="full", output_dir=None, root=None, display=None):
        d = root / "reports" / name
        timings.write_timings(d, timings.record(name, 42.0, True, [
            TaskState("encode m", "texts", 500, 500, 0.0, 20.0, 1, seconds=20.0, ok=True)], started=1e12))
        return d / f"{name}.ipynb"

    monkeypatch.setattr(nbm.report, "run", fake_run)
    out = io.StringIO()
    assert nbm.reproduce("full", only=["01"], root=tmp_path, stream=out) == 0
    printed = out.getvalue()
    table = printed.split("\nTimings\n", 1)[1]
    assert re.search(r"\| 01_a +\| \(whole notebook\) +\| 42 ", table) and "| encode m " in table
    assert "25 texts/s" in table and "02_b" not in table  # the terminal shows this run's notebooks
    readme = (tmp_path / "reports" / "README.md").read_text()
    assert "from an earlier run (2024-05-01 12:00:00)" in readme and "total wall time" in readme


# --- one real execution ------------------------------------------------------------------------
TASKS = '''# %% [markdown]
# # 01 · Toy

# %% tags=["parameters"]
output_dir = "reports/01_toy"
data_dir = None
seed = 42
n = 3
fail = False
die = False

# %% [markdown]
# ## 1. Encoding

# %%
import os, subprocess, sys
from recutils import progress
with progress.task("encode toy", total=3, unit="texts") as t:
    t.update(3)
subprocess.run([sys.executable, "-c", "from recutils import progress\\n"
                "with progress.task('child work', unit='rows') as t: t.update(7)"], check=True)
print("no file" if progress.PROGRESS_ENV not in os.environ else "file set")
print("tunables", os.environ.get("GLIBC_TUNABLES"))

# %%
with progress.task("train toy", total=5, unit="batches") as t:
    t.update(2)
    if fail:
        raise RuntimeError("boom")
    if die:
        os.kill(os.getpid(), 9)
'''


def test_execute_reports_kernel_and_subprocess_tasks_and_writes_timings(tmp_path, monkeypatch):
    import tempfile

    from test_notebooks_machinery import _write_project

    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    monkeypatch.delenv(live.QUIET_ENV, raising=False)
    monkeypatch.delenv(malloc.ENV, raising=False)
    monkeypatch.setattr(live, "FINISHED_LINE", 0.0)  # every finished task gets its line
    # the kernel's subprocess imports this checkout's recutils, whatever the venv's editable install points at
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(nbm.ROOT), os.environ.get("PYTHONPATH")])))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where the progress file goes
    _write_project(tmp_path, source=TASKS)
    seen = []  # the cells papermill's engine announced to the watcher
    monkeypatch.setattr(live, "cell_info", lambda cells, i, f=live.cell_info: seen.append(f(cells, i)) or seen[-1])
    out = io.StringIO()
    d = Display("01_toy", out, tty=False)
    path = nbm.run("01", "smoke", root=tmp_path, display=d)
    assert progress.PROGRESS_ENV not in os.environ  # the runner's environment is restored
    assert list((tmp_path / "tmp").iterdir()) == []  # and the progress file removed
    assert seen == [Cell(1, 4, 'output_dir = "reports/01_toy"'), Cell(2, 4, 'output_dir = "reports/_smoke/01_toy"'),
                    Cell(3, 4, "§1 Encoding"), Cell(4, 4, "§1 Encoding")]  # markdown cells are no code cells
    executed = nbformat.read(path, as_version=4)
    assert any("file set" in o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    # the kernel got glibc's malloc settings (recutils.notebooks.malloc); the runner's environment is restored
    assert any(f"tunables {malloc.tunables()}" in o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert malloc.ENV not in os.environ
    lines = out.getvalue().splitlines()
    assert {"  encode toy: 3 texts in 0:00", "  child work: 7 rows in 0:00", "  train toy: 2 batches in 0:00"} <= set(lines)
    rec = json.loads((path.parent / "timings.json").read_text())
    assert rec["notebook"] == "01_toy" and rec["ok"] is True and rec["seconds"] > 0
    assert rec["machine"]["cores"] == os.cpu_count()
    assert [(s["desc"], s["n"], s["ok"]) for s in rec["stages"]] == [
        ("encode toy", 3, True), ("child work", 7, True), ("train toy", 2, True)]
    # a failing cell: reported as before, and the task and the notebook are recorded as failed
    (tmp_path / "params" / "01_toy.smoke.yaml").write_text("output_dir: reports/_smoke/01_toy\nfail: true\n")
    with pytest.raises(nbm.NotebookFailed, match="raised RuntimeError: boom"):
        nbm.run("01", "smoke", root=tmp_path)
    rec = json.loads((path.parent / "timings.json").read_text())
    assert rec["ok"] is False and rec["stages"][-1]["desc"] == "train toy" and rec["stages"][-1]["ok"] is False
    assert progress.PROGRESS_ENV not in os.environ
    # the kernel dies: a NotebookFailed naming the cell, the watcher stopped, its task failed at its last count
    (tmp_path / "params" / "01_toy.smoke.yaml").write_text("output_dir: reports/_smoke/01_toy\ndie: true\n")
    with pytest.raises(nbm.NotebookFailed, match=r"01_toy: the kernel died during code cell 4/4 \(§1 Encoding\)"):
        nbm.run("01", "smoke", root=tmp_path)
    assert not [t for t in threading.enumerate() if t.name == "recutils-progress"]
    rec = json.loads((path.parent / "timings.json").read_text())
    assert rec["ok"] is False and rec["stages"][-1] | {"seconds": 0} == {
        "desc": "train toy", "seconds": 0, "n": 2, "unit": "batches", "runs": 1, "ok": False}
    assert progress.PROGRESS_ENV not in os.environ


def test_cli_run_header_result_and_quiet(monkeypatch, capsys):
    seen = []

    def fake_run(name, level="full", output_dir=None, root=None, display=None):
        seen.append((name, level, display.enabled))
        return nbm.ROOT / "reports" / "_x" / f"{name}.ipynb"

    monkeypatch.setattr(nbm.cli, "run", fake_run)
    monkeypatch.delenv(live.QUIET_ENV, raising=False)
    assert nbm.main(["run", "02", "--params", "smoke"]) == 0
    assert nbm.main(["run", "02", "--params", "smoke", "--quiet"]) == 0
    monkeypatch.setenv(live.QUIET_ENV, "0")
    assert nbm.main(["run", "02", "--params", "smoke"]) == 0
    assert seen == [("02_tfidf_search", "smoke", True), ("02_tfidf_search", "smoke", False),
                    ("02_tfidf_search", "smoke", False)]
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"02_tfidf_search \(smoke\) started \d\d:\d\d:\d\d \.\.\. ok in \d+\.\d s -> "
                        r"reports/_x/02_tfidf_search.ipynb", out[0])
