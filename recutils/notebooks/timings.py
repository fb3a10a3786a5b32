"""Timings: seconds per notebook and per long stage, kept in ``<output_dir>/timings.json``.

:func:`~recutils.notebooks.execution.execute` writes ``timings.json`` beside the executed
notebook: its wall time, whether it finished, the machine, and its stages (the ``end`` events
of :mod:`recutils.progress` tasks, summed per description). ``reproduce`` prints
the table of :func:`timing_rows` at the end and puts it into ``reports/README.md`` (notebooks
not run this time keep the timings of their earlier run, said so).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .live import TaskState, clock, rate_text

TIMINGS_FILE = "timings.json"
STAGE_SECONDS = 10.0  #: stages at least this long get a row in the table


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "unknown"


def load_average() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def machine() -> dict:
    return {"cpu": cpu_model(), "cores": os.cpu_count()}


def stages(finished: list[TaskState]) -> list[dict]:
    """Finished tasks summed per description, in order of first end: seconds, count, runs, ok."""
    out: dict[str, dict] = {}
    for st in finished:
        s = out.setdefault(st.desc, {"desc": st.desc, "seconds": 0.0, "n": 0, "unit": st.unit, "runs": 0, "ok": True})
        s["seconds"] = round(s["seconds"] + (st.seconds or 0.0), 3)
        s["n"] += st.n
        s["runs"] += 1
        s["ok"] = s["ok"] and st.ok is not False
    return list(out.values())


def record(name: str, seconds: float, ok: bool, finished: list[TaskState], started: float,
           load_before: float | None = None) -> dict:
    """The content of one notebook's ``timings.json``."""
    return {"notebook": name, "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)), "t0": started,
            "seconds": round(seconds, 3), "ok": ok, "machine": machine(),
            "load_before": load_before, "load_after": load_average(), "stages": stages(finished)}


def write_timings(out_dir: Path, rec: dict) -> Path:
    from ..io import write_json

    return write_json(Path(out_dir) / TIMINGS_FILE, rec)


def read_timings(out_dir: Path) -> dict | None:
    """``<out_dir>/timings.json`` (None when absent or unreadable)."""
    from ..io import read_json

    try:
        rec = read_json(Path(out_dir) / TIMINGS_FILE)
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def _seconds(s: float) -> str:
    return f"{s:.1f}" if s < 10 else f"{s:,.0f}"


def timing_rows(timings: list[tuple[str, dict | None]], since: float | None = None) -> list[dict]:
    """Table rows from ``(notebook, timings.json content)``: one per notebook, then one per stage
    of :data:`STAGE_SECONDS` or more (count, rate, share of the notebook). Records that started
    before ``since`` (the time ``reproduce`` started) are marked "from an earlier run"."""
    rows = []
    for name, rec in timings:
        if not rec:
            rows.append({"notebook": name, "stage": "", "seconds": "", "share": "", "count": "", "rate": "",
                         "run": "no timings"})
            continue
        this_run = since is not None and float(rec.get("t0") or 0.0) >= since
        total = float(rec.get("seconds") or 0.0)
        started = str(rec.get("started", "?"))
        run = "this run" if this_run else (f"from an earlier run ({started})" if since is not None else started)
        if not rec.get("ok", True):
            run += ", FAILED"
        rows.append({"notebook": name, "stage": "(whole notebook)", "seconds": _seconds(total), "share": "",
                     "count": "", "rate": "", "run": run})
        for s in rec.get("stages") or []:
            sec = float(s.get("seconds") or 0.0)
            if sec < STAGE_SECONDS:
                continue
            n, unit = int(s.get("n") or 0), str(s.get("unit") or "it")
            desc = str(s.get("desc")) + (f" (×{s['runs']})" if s.get("runs", 1) > 1 else "")
            rows.append({"notebook": "", "stage": desc + ("" if s.get("ok", True) else " FAILED"),
                         "seconds": _seconds(sec), "share": f"{100 * sec / total:.0f}%" if total > 0 else "",
                         "count": f"{n:,} {unit}" if n else "", "rate": rate_text(n / sec, unit) if n else "",
                         "run": ""})
    return rows


def machine_line(run: dict) -> str:
    """``Machine: 16 cores, <CPU> · load average 0.5 before, 3.9 after · total wall time 38:12``."""
    m = run.get("machine") or machine()
    parts = [f"Machine: {m.get('cores')} cores, {m.get('cpu')}"]
    if run.get("load_before") is not None or run.get("load_after") is not None:
        parts.append(f"load average {run.get('load_before')} before, {run.get('load_after')} after")
    if run.get("seconds") is not None:
        parts.append(f"total wall time {clock(run['seconds'])}")
    return " · ".join(parts)

