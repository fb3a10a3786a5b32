"""Issue 23: ``artifacts`` redoes nothing when nothing changed. The manifest records the bundle's
inputs (options, recutils code, data checksums, library versions); an unchanged, verified bundle is
skipped without training, anything else is rebuilt with the reason; the stages show on stderr as
plain lines. Toy tables and a throw-away ``recutils`` tree keep it fast."""

import io
import json
import re

import numpy as np
import pandas as pd
import pytest

from recutils.notebooks import live
from recutils.progress import task
from recutils.serving import artifacts as art
from recutils.serving import rebuild, stages

SKIPPED = re.compile(r"^artifacts: unchanged since \d{4}-\d\d-\d\d \d\d:\d\d \(skipped; --force rebuilds\)$")
TINY_TORCH = {"embedding_dim": 4, "feature_dim": 2, "hidden": [8], "max_epochs": 2, "refit": False,
              "batch_size": 32, "implicit": False}


def _toy_tables():
    rng = np.random.default_rng(0)
    rows = [(u, int(i), float(rng.integers(1, 6)), 1000 + 10 * u + j)
            for u in range(1, 13) for j, i in enumerate(rng.choice(np.arange(10, 30), size=8, replace=False))]
    ratings = pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])
    n = 20
    movies = pd.DataFrame({"movieId": np.arange(10, 10 + n), "title": [f"Movie {i} ({1990 + i})" for i in range(n)],
                           "clean_title": [f"Movie {i}" for i in range(n)], "year": [1990 + i for i in range(n)],
                           "genres": [["Drama", "Comedy"] if i % 2 else ["Action"] for i in range(n)],
                           "tags": [[] for _ in range(n)], "overview": [f"story number {i}" for i in range(n)]})
    return ratings, movies


class Project:
    """A data folder, a ``recutils`` tree standing in for the package's code, and a counter of fits."""

    def __init__(self, tmp_path, monkeypatch):
        self.data = tmp_path / "data"
        self.data.mkdir()
        self.code = tmp_path / "code" / "recutils"
        self.code.mkdir(parents=True)
        (self.code / "__init__.py").write_text("")
        (self.code / "models.py").write_text("K = 1\n")
        monkeypatch.setattr(rebuild, "package_root", lambda: self.code)
        self.out = tmp_path / "artifacts"
        self.ratings, self.movies = _toy_tables()
        self.fits: list[str] = []  #: the models fitted (a spy on each built model's fit)
        self.built: list[str] = []  #: the models built (checked or fitted)
        build_model = art.build_model

        def spying(name, movies, params=None):
            self.built.append(name)
            model = build_model(name, movies, params)
            fit = model.fit

            def fit_spy(*a, **k):
                self.fits.append(name)
                return fit(*a, **k)

            model.fit = fit_spy
            return model

        monkeypatch.setattr(art, "build_model", spying)

    def build(self, models=("mostpop",), params=None, force=False, progress=None, **kw):
        """(manifest or None, the one line it printed on stdout, the fits it made)."""
        self.fits.clear()
        self.built.clear()
        out = io.StringIO()
        m = rebuild.build(self.out, list(models), self.data, params, with_metrics=False, force=force, stream=out,
                          progress=io.StringIO() if progress is None else progress, ratings=self.ratings,
                          movies=self.movies, **kw)
        lines = out.getvalue().splitlines()
        assert len(lines) == 1, lines
        return m, lines[0], list(self.fits)


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("RECUTILS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RECUTILS_PROGRESS", raising=False)
    p = Project(tmp_path, monkeypatch)
    m, line, fits = p.build()
    assert line == f"artifacts: building: no bundle in {p.out}" and fits == ["mostpop"] and m is not None
    return p


def test_the_manifest_records_the_inputs(project):
    m = json.loads((project.out / "manifest.json").read_text())
    inputs = m["inputs"]
    assert set(inputs) == set(rebuild.COMPONENTS)
    assert inputs["options"]["models"] == ["mostpop"] and inputs["options"]["with_metrics"] is False
    assert inputs["options"]["search"] == ["tfidf"] and inputs["options"]["format"] == art.FORMAT
    assert set(inputs["recutils"]) == {"__init__.py", "models.py"}
    assert inputs["data"]["ml-latest-small/ratings.csv"] == "missing"
    assert "numpy" in inputs["libraries"]


def test_unchanged_is_skipped_without_training(project):
    before = {p: p.stat().st_mtime_ns for p in project.out.rglob("*")}
    m, line, fits = project.build()
    assert m is None and SKIPPED.match(line), line
    assert fits == [] and project.built == []  # no model fitted, not even built
    assert {p: p.stat().st_mtime_ns for p in project.out.rglob("*")} == before  # the bundle untouched


def _edit_code(p):
    (p.code / "models.py").write_text("K = 2\n")


def _edit_data(p):
    (p.data / "ml-latest-small").mkdir()
    (p.data / "ml-latest-small" / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")


def _bump_torch(p, monkeypatch):
    versions = rebuild.library_versions()
    monkeypatch.setattr(rebuild, "library_versions", lambda: {**versions, "torch": "0.0.1"})
    return versions["torch"]


@pytest.mark.parametrize("change", ["option", "code", "data", "library"])
def test_a_change_rebuilds_and_says_why(project, change, monkeypatch):
    kw = {}
    if change == "option":
        kw["models"], why = ("mostpop", "ease"), "options changed (models ['mostpop'] -> ['mostpop', 'ease'])"
    elif change == "code":
        _edit_code(project)
        why = "recutils changed (models.py)"
    elif change == "data":
        _edit_data(project)
        why = "data changed (ml-latest-small/ratings.csv)"
    else:
        why = f"libraries changed (torch {_bump_torch(project, monkeypatch)} -> 0.0.1)"
    m, line, fits = project.build(**kw)
    assert m is not None and fits == list(kw.get("models", ["mostpop"]))
    assert line == f"artifacts: rebuilding: {why}"
    assert m["inputs"] == json.loads((project.out / "manifest.json").read_text())["inputs"]
    m, line, fits = project.build(**kw)  # the new inputs are on record: unchanged again
    assert m is None and SKIPPED.match(line) and fits == []


def test_a_changed_model_param_rebuilds_naming_it(project):
    assert project.build(models=("ease",), params={"ease": {"lambda_": 300.0}})[0] is not None
    assert project.build(models=("ease",), params={"ease": {"lambda_": 300.0}})[0] is None
    m, line, fits = project.build(models=("ease",), params={"ease": {"lambda_": 10.0}})
    assert line == "artifacts: rebuilding: options changed (params.ease.lambda_ 300.0 -> 10.0)" and fits == ["ease"]
    assert m["models"]["ease"]["config"]["lambda_"] == 10.0


def test_force_rebuilds(project):
    m, line, fits = project.build(force=True)
    assert m is not None and line == "artifacts: rebuilding: --force" and fits == ["mostpop"]


def test_a_bundle_that_does_not_verify_is_rebuilt(project):
    topn = project.out / "mostpop" / "topn.npz"
    topn.write_bytes(topn.read_bytes() + b"x")
    m, line, fits = project.build()
    assert m is not None and fits == ["mostpop"]
    assert line.startswith("artifacts: rebuilding: the bundle does not verify (") and "mostpop/topn.npz" in line, line
    assert project.build()[0] is None  # whole again


def test_a_bundle_without_recorded_inputs_is_rebuilt(project):
    path = project.out / "manifest.json"
    m = json.loads(path.read_text())
    del m["inputs"]
    path.write_text(json.dumps(m))
    assert project.build()[1] == "artifacts: rebuilding: its manifest records no inputs (written before they were recorded)"


def test_stage_lines_on_stderr_are_plain_lines(project):
    err = io.StringIO()
    m, _, fits = project.build(models=("mostpop", "torch_cf"), params={"torch_cf": TINY_TORCH}, progress=err)
    assert m is not None and fits == ["mostpop", "torch_cf"]
    text = err.getvalue()
    assert "\r" not in text and "\x1b" not in text  # no bar, no in-place rewriting: not a terminal
    done = [ln for ln in text.splitlines() if " done in " in ln]
    assert [re.sub(r" done in \d+:\d\d$", "", ln) for ln in done] == [
        "artifacts [1/5] mostpop: fit on all ratings, top-N, save:",
        "artifacts [2/5] torch_cf: fit on all ratings, top-N, save:",
        "artifacts [3/5] similar movies:", "artifacts [4/5] TF-IDF prompt index:",
        "artifacts [5/5] checksums, manifest, read-back check:"]


def test_quiet_means_no_stage_lines(project, monkeypatch):
    monkeypatch.setenv("RECUTILS_PROGRESS", "0")
    err = io.StringIO()
    project.build(force=True, progress=err)
    assert err.getvalue() == ""


# --- the live line, fed events at chosen times -------------------------------------------------
def _events(tmp_path, monkeypatch):
    """A stage holding a torch_cf epoch task, 4 of 20 epochs done: the events recutils.progress writes."""
    path = tmp_path / "events.jsonl"
    monkeypatch.setenv("RECUTILS_PROGRESS_FILE", str(path))
    with task("[2/7] torch_cf: study metrics") as stage:
        with task("torch_cf epochs", total=20, unit="epochs") as ep:
            ep.update(4)
            evs = live.read_events(path)[0]
            ep.update(16)
    return stage, ep, evs, live.read_events(path)[0]


def test_the_live_line_in_a_log(tmp_path, monkeypatch):
    stage, ep, evs, evs_all = _events(tmp_path, monkeypatch)
    tracker = live.Tracker()
    tracker.feed(evs)
    running = tracker.running()
    assert [t.desc for t in running] == ["[2/7] torch_cf: study metrics", "torch_cf epochs"]
    # pretend the 4 epochs took 16 s, from 1 s into the stage
    st, inner = running
    st.t0, inner.t0, inner.t = 100.0, 101.0, 117.0
    out = io.StringIO()
    d = stages.StageDisplay(out, tty=False, enabled=True)
    d.status(None, running, now=117.0)  # a new state: printed once it has lasted SETTLE seconds
    assert out.getvalue() == ""
    d.status(None, running, now=117.0 + live.SETTLE)
    d.status(None, running, now=118.0 + live.SETTLE)  # the same state: not again until REPEAT
    line = "artifacts [2/7] torch_cf: study metrics · torch_cf epochs 4/20 epochs 20% · 4.0 s/epochs · ETA 1:04 · 0:19 elapsed"
    assert out.getvalue() == line + "\n"
    for st in tracker.feed(evs_all[len(evs):]):
        d.finished(st)
    assert out.getvalue().splitlines()[1:] == ["artifacts [2/7] torch_cf: study metrics: done in 0:00"]  # epochs < 5 s


def test_the_live_line_on_a_terminal_is_rewritten_in_place(tmp_path, monkeypatch):
    _, _, evs, evs_all = _events(tmp_path, monkeypatch)
    tracker = live.Tracker()
    tracker.feed(evs)
    out = io.StringIO()
    d = stages.StageDisplay(out, tty=True, enabled=True)
    now = tracker.running()[0].t0
    d.status(None, tracker.running(), now=now)
    assert out.getvalue().startswith("\r\033[Kartifacts [2/7] torch_cf: study metrics · torch_cf epochs 4/20 epochs")
    for st in tracker.feed(evs_all[len(evs):]):
        d.finished(st)
    assert out.getvalue().endswith("\r\033[Kartifacts [2/7] torch_cf: study metrics: done in 0:00\n")
