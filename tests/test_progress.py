"""recutils.progress: events for the terminal, bars only when asked, never raising."""

import json

import pytest

from recutils import progress


def test_events_start_updates_end(tmp_path, monkeypatch):
    f = tmp_path / "p.jsonl"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(f))
    monkeypatch.setattr(progress, "MIN_INTERVAL", 3600.0)  # only the first and the last update are written
    with progress.task("encode x", total=10, unit="texts") as t:
        for _ in range(10):
            t.update(1)
    events, off = progress.read_events(f)
    assert [e["event"] for e in events] == ["start", "update", "update", "end"]
    assert events[1]["n"] == 1 and events[2]["n"] == 10 and events[-1]["ok"] is True
    assert events[-1]["seconds"] >= 0 and events[-1]["desc"] == "encode x" and events[-1]["total"] == 10
    assert off == f.stat().st_size


def test_failure_is_recorded_and_reraised(tmp_path, monkeypatch):
    f = tmp_path / "p.jsonl"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(f))
    with pytest.raises(ValueError):
        with progress.task("train", total=None):
            raise ValueError("boom")
    events, _ = progress.read_events(f)
    assert events[-1]["event"] == "end" and events[-1]["ok"] is False


def test_partial_line_left_for_next_read(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"event": "start"}) + "\nnot json\n" + '{"event": "upd')
    events, off = progress.read_events(f)
    assert events == [{"event": "start"}] and off == len(f.read_text()) - len('{"event": "upd')
    with open(f, "a") as fh:
        fh.write('ate"}\n')
    more, _ = progress.read_events(f, off)
    assert more == [{"event": "update"}]


def test_unwritable_file_and_no_env_are_silent(tmp_path, monkeypatch):
    monkeypatch.setenv(progress.PROGRESS_ENV, str(tmp_path / "missing-dir" / "p.jsonl"))
    with progress.task("x", total=1) as t:
        t.update()
    monkeypatch.delenv(progress.PROGRESS_ENV)
    with progress.task("x", total=1) as t:
        t.update()
    assert t.seconds is not None
    assert progress.read_events(tmp_path / "nope") == ([], 0)


def test_no_bars_in_a_worker_process_keeps_the_events(tmp_path, monkeypatch):
    """A parallel run's worker calls ``no_bars()``: ``show=True`` then draws nothing, events still go."""
    from recutils import progress

    monkeypatch.setitem(progress._BARS, "on", True)
    with progress.task("drawn", total=2, show=True) as t:
        assert t._bar is not None
    progress.no_bars()
    monkeypatch.setenv(progress.PROGRESS_ENV, str(tmp_path / "events.jsonl"))
    with progress.task("quiet", total=2, show=True) as t:
        t.update(2)
        assert t._bar is None
    kinds = [e["event"] for e in progress.read_events(tmp_path / "events.jsonl")[0]]
    assert kinds[0] == "start" and kinds[-1] == "end"
