"""The terminal side of a notebook run: which cell, which long task, how far, how long.

:func:`~recutils.notebooks.execution.execute` runs the kernel inside a :class:`Watch`: a fresh
progress file named by ``$RECUTILS_PROGRESS_FILE`` (the kernel and its subprocesses inherit it;
:mod:`recutils.progress` appends task events to it), the current cell (papermill's engine calls
:meth:`Watch.on_cell`), and a thread that reads new events twice a second and hands the state
to a :class:`Display`::

    [3/5] 03_semantic_search · cell 7/24 §2 Embedding the movies · encode m (onnx-int8) 4,512/9,742 texts 46% · 52 texts/s · ETA 1:40 · 3:05 elapsed

On a terminal the line is rewritten in place; in a log (not a TTY) a line is printed when the cell
or task changes and has lasted :data:`SETTLE` seconds (so quick cells leave no line), and again at
most every :data:`REPEAT` seconds. A task that ends after :data:`FINISHED_LINE` seconds or more
leaves one permanent line. ``RECUTILS_PROGRESS=0`` (or ``--quiet``) turns all of that off; the
finished tasks are still collected for ``timings.json``.

Nothing here may break a run: the display and the watcher swallow their own errors.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

from ..progress import PROGRESS_ENV, read_events

#: environment variable that turns the live display off when "0"
QUIET_ENV = "RECUTILS_PROGRESS"
POLL = 0.5  #: seconds between two reads of the progress file
SETTLE = 2.0  #: not a TTY: a cell/task state is logged once it has lasted this long
REPEAT = 30.0  #: not a TTY: the same state is logged again at most this often
FINISHED_LINE = 5.0  #: tasks at least this long leave a permanent line

_CLEAR = "\r\033[K"
CLOSING = "closing the kernel"  #: the state after the last cell


def clock(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour on)."""
    s = int(round(max(seconds, 0.0)))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def rate_text(rate: float, unit: str) -> str:
    """``52 texts/s``, ``2.5 texts/s``, or ``4.0 s/epoch`` below one per second."""
    if rate >= 10:
        return f"{rate:,.0f} {unit}/s"
    if rate >= 1:
        return f"{rate:.1f} {unit}/s"
    return f"{1 / rate:.1f} s/{unit}"


@dataclass
class TaskState:
    """One task as its last event described it."""

    desc: str
    unit: str
    total: int | None
    n: int
    t0: float
    t: float  #: time of the last event
    pid: int
    seconds: float | None = None  #: set by the ``end`` event
    ok: bool | None = None

    @property
    def key(self) -> tuple:
        return (self.pid, self.desc, self.t0)

    @property
    def rate(self) -> float | None:
        """Units per second since the task started (None before any progress)."""
        dt = (self.seconds if self.seconds is not None else self.t - self.t0)
        return self.n / dt if self.n > 0 and dt > 0 else None


def _state(ev: dict) -> TaskState | None:
    try:
        total = ev.get("total")
        return TaskState(str(ev["desc"]), str(ev.get("unit") or "it"), None if total is None else int(total),
                         int(ev.get("n") or 0), float(ev["t0"]), float(ev.get("t", ev["t0"])), int(ev.get("pid", 0)),
                         None if ev.get("seconds") is None else float(ev["seconds"]),
                         None if ev.get("ok") is None else bool(ev["ok"]))
    except (KeyError, TypeError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


class Tracker:
    """The running and finished tasks that a stream of progress events describes."""

    def __init__(self):
        self.active: dict[tuple, TaskState] = {}
        self.finished: list[TaskState] = []

    def feed(self, events: list[dict]) -> list[TaskState]:
        """Apply ``events``; returns the tasks they ended."""
        ended = []
        for ev in events:
            st = _state(ev)
            if st is None:
                continue
            if ev.get("event") == "end":
                self.active.pop(st.key, None)
                if st.seconds is None:
                    st.seconds = st.t - st.t0
                self.finished.append(st)
                ended.append(st)
            elif ev.get("event") in ("start", "update"):
                self.active[st.key] = st
        return ended

    def reap(self) -> list[TaskState]:
        """End the tasks of processes that are gone (a dead kernel or subprocess): failed, at
        their last event. Returns them."""
        ended = []
        for k in [k for k, st in self.active.items() if not _alive(st.pid)]:
            st = self.active.pop(k)
            st.seconds, st.ok = st.t - st.t0, False
            self.finished.append(st)
            ended.append(st)
        return ended

    def running(self) -> list[TaskState]:
        """The tasks started and not ended, oldest first."""
        return sorted(self.active.values(), key=lambda st: st.t0)


@dataclass(frozen=True)
class Cell:
    """The cell being executed: ``number`` of ``total`` code cells, and what it is about."""

    number: int
    total: int
    label: str


_HEADING = re.compile(r"^(#{2,6})\s+(.*\S)\s*$")
_NUMBERED = re.compile(r"^(\d+(?:\.\d+)*)\.?\s+(.*)$")


def _first_line(source: str) -> str:
    lines = [ln.strip() for ln in source.splitlines()]
    return next((ln for ln in lines if ln and not ln.startswith("#")), next((ln for ln in lines if ln), ""))


def cell_info(cells, index: int) -> Cell:
    """The :class:`Cell` for ``cells[index]``: its section (``## 2. Embedding`` → ``§2 Embedding``,
    from the nearest markdown heading above it, level 2 or deeper), else its first line of code."""
    code = [i for i, c in enumerate(cells) if c.get("cell_type") == "code"]
    number = sum(1 for i in code if i <= index)
    label = ""
    for c in reversed(cells[:index]):
        if c.get("cell_type") != "markdown":
            continue
        heads = [m for m in map(_HEADING.match, c.get("source", "").splitlines()) if m]
        if heads:
            title = heads[-1].group(2)
            num = _NUMBERED.match(title)
            label = f"§{num.group(1)} {num.group(2)}" if num else f"§ {title}"
            break
    if not label:
        label = _first_line(cells[index].get("source", ""))[:60]
    return Cell(number, len(code), label)


def task_text(st: TaskState, now: float, outer: bool = False) -> str:
    """``encode m 4,512/9,742 texts 46% · 52 texts/s · ETA 1:40``; without a total
    ``train 1,200 batches in 0:30 · 40 batches/s``; an ``outer`` (nesting) task: ``desc n/total``."""
    if st.total is not None:
        head = f"{st.desc} {st.n:,}/{st.total:,} {st.unit}"
        if outer:
            return head
        head += f" {100 * st.n / st.total:.0f}%" if st.total > 0 else ""
    else:
        head = f"{st.desc} {st.n:,} {st.unit}"
        if outer:
            return head
        head += f" in {clock(now - st.t0)}"
    rate = st.rate
    if rate is None:
        return head
    parts = [head, rate_text(rate, st.unit)]
    if st.total is not None and st.n < st.total:
        parts.append(f"ETA {clock((st.total - st.n) / rate)}")
    return " · ".join(parts)


def status_parts(cell: Cell | str | None, tasks: list[TaskState], now: float, started: float) -> list[str]:
    """The live line without its prefix: cell (or a state such as :data:`CLOSING`; None: the
    kernel is starting), running tasks (nested ones as ``outer › inner``), elapsed."""
    if isinstance(cell, Cell):
        parts = [f"cell {cell.number}/{cell.total} {cell.label}".rstrip()]
    else:
        parts = [cell or "starting the kernel"]
    if tasks:
        parts.append(" › ".join([task_text(t, now, outer=True) for t in tasks[:-1]] + [task_text(tasks[-1], now)]))
    parts.append(f"{clock(now - started)} elapsed")
    return parts


def status_line(prefix: str, cell: Cell | str | None, tasks: list[TaskState], now: float, started: float) -> str:
    """``[3/5] 03_semantic_search · cell 7/24 §2 Embedding the movies · encode … · 3:05 elapsed``."""
    return " · ".join([prefix, *status_parts(cell, tasks, now, started)])


def finished_line(st: TaskState) -> str:
    """``  encode m (onnx-int8): 9,742 texts in 3:07`` (``FAILED after …`` when it raised)."""
    count = f"{st.n:,}/{st.total:,} {st.unit}" if st.ok is False and st.total is not None else f"{st.n:,} {st.unit}"
    if st.ok is False:
        return f"  {st.desc}: FAILED after {count} in {clock(st.seconds or 0.0)}"
    return f"  {st.desc}: {count} in {clock(st.seconds or 0.0)}"


class LogThrottle:
    """When a log (not a TTY) gets a new status line: a state (cell, tasks) once it has lasted
    ``settle`` seconds, then again every ``repeat`` seconds while it lasts."""

    def __init__(self, settle: float | None = None, repeat: float | None = None):
        self.settle = SETTLE if settle is None else settle
        self.repeat = REPEAT if repeat is None else repeat
        self._key = self._printed = None
        self._since = self._last = 0.0

    def due(self, key, now: float) -> bool:
        if key != self._key:
            self._key, self._since = key, now
        if now - self._since < self.settle:
            return False
        if key != self._printed or now - self._last >= self.repeat:
            self._printed, self._last = key, now
            return True
        return False


def quiet_from_env() -> bool:
    return os.environ.get(QUIET_ENV, "").strip().lower() in ("0", "false", "no", "off")


class Display:
    """One notebook's lines on ``stream``: the header (``… started 12:00:00 ...``), the live
    status, finished tasks, and the result (``ok in 3.1 s``) — on the header's line when
    nothing came in between (on a terminal the live line stands in the header's place until
    then). ``enabled=False`` keeps only the header and the result."""

    def __init__(self, prefix: str, stream=None, tty: bool | None = None, enabled: bool | None = None):
        self.prefix = prefix
        self.stream = stream if stream is not None else sys.stdout
        if tty is None:
            try:
                tty = self.stream.isatty()
            except (AttributeError, ValueError):
                tty = False
        self.tty = bool(tty)
        self.enabled = (not quiet_from_env()) if enabled is None else bool(enabled)
        self.throttle = LogThrottle()
        self._header = ""
        self._pending = False  # the current line starts with the header
        self._shown = ""  # the live line on the terminal now
        self._t0: float | None = None  # when the header was printed: "elapsed" counts from there
        self._lock = threading.Lock()

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def header(self, text: str, now: float | None = None) -> None:
        with self._lock:
            self._header, self._pending, self._shown = text, True, ""
            self._t0 = time.time() if now is None else now
            self._write(text)

    def _break(self) -> None:
        """End the current line (keeping the header, dropping a live status) before a new one."""
        if self.tty:
            self._write(_CLEAR + (self._header + "\n" if self._pending else ""))
        elif self._pending:
            self._write("\n")
        self._pending, self._shown = False, ""

    def status(self, cell: Cell | str | None, tasks: list[TaskState], now: float, started: float) -> None:
        if not self.enabled:
            return
        started = self._t0 if self._t0 is not None else started
        with self._lock:
            if self.tty:
                text = self._fit(cell, tasks, now, started, shutil.get_terminal_size((120, 24)).columns - 1)
                if text != self._shown:
                    self._shown = text
                    self._write(_CLEAR + text)
            elif isinstance(cell, Cell) and self.throttle.due((cell, tuple(t.key for t in tasks)), now):
                self._break()
                self._write(status_line(self.prefix, cell, tasks, now, started) + "\n")

    def _fit(self, cell: Cell | str | None, tasks: list[TaskState], now: float, started: float, width: int) -> str:
        """The live line for a terminal ``width`` wide: the section label shortened (then dropped)
        first, then the end cut."""
        line = status_line(self.prefix, cell, tasks, now, started)
        over = len(line) - width
        if over > 0 and isinstance(cell, Cell) and cell.label:
            keep = len(cell.label) - over - 1
            short = Cell(cell.number, cell.total, cell.label[:keep] + "…" if keep >= 10 else "")
            line = status_line(self.prefix, short, tasks, now, started)
        return line if len(line) <= width else line[: max(width - 1, 0)] + "…"

    def finished(self, st: TaskState) -> None:
        if not self.enabled or (st.seconds or 0.0) < FINISHED_LINE:
            return
        with self._lock:
            self._break()
            self._write(finished_line(st) + "\n")

    def result(self, text: str) -> None:
        with self._lock:
            if self.tty:
                self._write(_CLEAR + (self._header if self._pending else self.prefix) + " " + text + "\n")
            else:
                self._write((" " if self._pending else self.prefix + " ") + text + "\n")
            self._pending, self._shown = False, ""


class Watch:
    """For the duration of one notebook's execution: a progress file for the kernel to write
    (``$RECUTILS_PROGRESS_FILE``, restored afterwards), the current cell, and a thread that
    reads the events into :attr:`tracker` and shows them on ``display`` (may be None)."""

    def __init__(self, display: Display | None = None, poll: float = POLL):
        self.display, self.poll = display, poll
        self.tracker = Tracker()
        self.cell: Cell | str | None = None  #: what the live line shows (None before the first cell)
        self.last_cell: Cell | None = None  #: the code cell started last
        self.started = time.time()
        self.path: str | None = None
        self._offset = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved_env: str | None = None

    def on_cell(self, cells, index: int, done: bool) -> None:
        """Called by the engine as cell ``index`` starts and as it completes (never raises):
        the current code cell, then "closing the kernel" after the last cell."""
        try:
            if done and index == len(cells) - 1:
                self.cell = CLOSING
            elif not done and cells[index].get("cell_type") == "code":
                self.cell = self.last_cell = cell_info(cells, index)
        except Exception:  # noqa: BLE001 -- a progress display never breaks a run
            pass

    def check(self, now: float | None = None, final: bool = False) -> None:
        """Read new events, report ended tasks, refresh the status (never raises)."""
        try:
            ended = []
            if self.path:
                events, self._offset = read_events(self.path, self._offset)
                ended = self.tracker.feed(events)
            ended += self.tracker.reap()
            running = self.tracker.running()
            if self.display is None:
                return
            for st in ended:
                self.display.finished(st)
            if not final:
                self.display.status(self.cell, running, time.time() if now is None else now, self.started)
        except Exception:  # noqa: BLE001 -- a progress display never breaks a run
            pass

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            self.check()

    def __enter__(self) -> Watch:
        self.started = time.time()
        self._saved_env = os.environ.get(PROGRESS_ENV)
        try:
            fd, self.path = tempfile.mkstemp(prefix="recutils-progress-", suffix=".jsonl")
            os.close(fd)
            os.environ[PROGRESS_ENV] = self.path
        except OSError:
            self.path = None
        self._thread = threading.Thread(target=self._loop, name="recutils-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.check(final=True)
        if self._saved_env is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = self._saved_env
        if self.path:
            try:
                os.unlink(self.path)
            except OSError:
                pass
