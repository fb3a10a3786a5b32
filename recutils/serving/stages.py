"""Live progress of ``python -m recutils.serving artifacts``: one line per stage, as the notebook
runner shows a notebook's (:mod:`recutils.notebooks.live`).

Each stage of a build (a model's study metrics, its fit on all ratings, the similar-movies table,
each prompt index) is a :func:`recutils.progress.task` named ``[i/n] what`` (:class:`Stages`);
the long work inside reports through its own tasks (torch_cf's epochs, the encoder's chunks, the
top-N lists' users), whose sizes give an ETA. :func:`watch` reads those events as the notebook
runner does (:class:`~recutils.notebooks.live.Watch`) and writes, on ``stream`` (stderr)::

    artifacts [2/7] torch_cf: study metrics · torch_cf epochs 4/20 epochs 20% · 4.1 s/epoch · ETA 1:05 · 0:17 elapsed
      torch_cf epochs: 20 epochs in 1:22
    artifacts [2/7] torch_cf: study metrics: done in 1:25

On a terminal the live line is rewritten in place. In a log (not a TTY) it is a plain line,
printed once a state has lasted :data:`~recutils.notebooks.live.SETTLE` seconds and again at most
every :data:`~recutils.notebooks.live.REPEAT` seconds: no carriage returns, no bars. Every stage
leaves its ``done in`` line; an inner task of :data:`~recutils.notebooks.live.FINISHED_LINE`
seconds or more leaves its own. ``RECUTILS_PROGRESS=0`` turns all of it off.

Nothing here may break a build: the display swallows its own errors (as :mod:`.live`'s does).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sys
import threading
from typing import Iterator

from ..notebooks import live
from ..progress import task

PREFIX = "artifacts"
_STAGE = re.compile(r"^\[\d+/\d+\] ")


class Stages:
    """``with stages("torch_cf: study metrics"):`` → the task ``[i/total] torch_cf: study metrics``."""

    def __init__(self, total: int):
        self.total, self.done = int(total), 0

    def __call__(self, label: str):
        self.done += 1
        return task(f"[{self.done}/{self.total}] {label}")


def is_stage(st: live.TaskState) -> bool:
    return bool(_STAGE.match(st.desc))


def stage_line(tasks: list[live.TaskState], now: float) -> str:
    """``artifacts [2/7] torch_cf: study metrics · torch_cf epochs 4/20 epochs 20% · … · 0:17 elapsed``:
    the outermost running task is the stage, the ones inside it follow (``outer › inner``)."""
    stage, inner = tasks[0], tasks[1:]
    parts = [f"{PREFIX} {stage.desc}"]
    if inner:
        parts.append(" › ".join([live.task_text(t, now, outer=True) for t in inner[:-1]]
                                + [live.task_text(inner[-1], now)]))
    parts.append(f"{live.clock(now - stage.t0)} elapsed")
    return " · ".join(parts)


def done_line(st: live.TaskState) -> str:
    """A finished stage (``artifacts [2/7] …: done in 1:25``) or inner task (as the notebooks show it)."""
    if not is_stage(st):
        return live.finished_line(st)
    how = "FAILED after" if st.ok is False else "done in"
    return f"{PREFIX} {st.desc}: {how} {live.clock(st.seconds or 0.0)}"


class StageDisplay:
    """The lines of one build on ``stream``; ``enabled=None``: on unless ``RECUTILS_PROGRESS=0``.
    Fed by a :class:`~recutils.notebooks.live.Watch` (``status`` and ``finished``)."""

    def __init__(self, stream=None, tty: bool | None = None, enabled: bool | None = None):
        self.stream = sys.stderr if stream is None else stream
        if tty is None:
            try:
                tty = self.stream.isatty()
            except (AttributeError, ValueError):
                tty = False
        self.tty = bool(tty)
        self.enabled = (not live.quiet_from_env()) if enabled is None else bool(enabled)
        self.throttle = live.LogThrottle()
        self._shown = ""
        self._lock = threading.Lock()

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def status(self, _cell, tasks: list[live.TaskState], now: float, _started: float = 0.0) -> None:
        if not self.enabled or not tasks:
            return
        with self._lock:
            if self.tty:
                width = shutil.get_terminal_size((120, 24)).columns - 1
                line = stage_line(tasks, now)
                line = line if len(line) <= width else line[: max(width - 1, 0)] + "…"
                if line != self._shown:
                    self._shown = line
                    self._write(live._CLEAR + line)
            elif self.throttle.due(tuple(t.key for t in tasks), now):
                self._write(stage_line(tasks, now) + "\n")

    def finished(self, st: live.TaskState) -> None:
        if not self.enabled or (not is_stage(st) and (st.seconds or 0.0) < live.FINISHED_LINE):
            return
        with self._lock:
            self._write((live._CLEAR if self.tty else "") + done_line(st) + "\n")
            self._shown = ""

    def close(self) -> None:
        """Clear a live line still on the terminal."""
        with self._lock:
            if self.tty and self._shown:
                self._write(live._CLEAR)
            self._shown = ""


@contextlib.contextmanager
def watch(stream=None, enabled: bool | None = None) -> Iterator[StageDisplay]:
    """Show the stages of the work in the block on ``stream`` (default stderr) while it runs."""
    display = StageDisplay(stream, enabled=enabled)
    if not display.enabled:
        yield display
        return
    try:
        with live.Watch(display=display):
            yield display
    finally:
        display.close()
