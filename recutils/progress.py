"""Progress a person can see: a bar in the notebook, and events for the terminal that runs it.

Long work (encoding thousands of texts, fine-tuning, training) goes through :func:`task`::

    with task("encode all-mpnet-base-v2 (onnx-int8)", total=len(texts), unit="texts", show=progress) as bar:
        for chunk in chunks:
            ...
            bar.update(len(chunk))

- ``show=True`` draws a tqdm bar where the code runs (the notebook); smoke runs pass ``False``
  so that checked outputs carry no progress noise.
- When ``$RECUTILS_PROGRESS_FILE`` names a file (``python -m recutils.notebooks run`` /
  ``make reproduce`` set it for the kernel they start), each task appends JSON lines to it —
  ``start``, ``update`` (at most one per :data:`MIN_INTERVAL` seconds, plus the last) and
  ``end`` with the task's seconds — whatever ``show`` says. The runner reads them to draw a live
  line with an ETA in the terminal and to build the table of seconds per long stage.

Writing an event never raises: a progress file that cannot be written is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Iterator

__all__ = ["PROGRESS_ENV", "MIN_INTERVAL", "Task", "no_bars", "task", "read_events"]

#: environment variable naming the JSON-lines file that progress events are appended to
PROGRESS_ENV = "RECUTILS_PROGRESS_FILE"
#: seconds between two ``update`` events of one task in the progress file
MIN_INTERVAL = 1.0


def _emit(event: dict) -> None:
    path = os.environ.get(PROGRESS_ENV)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(event) + "\n")
    except OSError:
        pass


_BARS = {"on": True}


def no_bars() -> None:
    """Draw no bars in this process from now on (a worker process of a parallel run: its
    bars would interleave on the terminal; the parent reports the work as it finishes)."""
    _BARS["on"] = False


class Task:
    """One long piece of work: ``update(n)`` as it advances; closed by :func:`task`."""

    def __init__(self, desc: str, total: int | None = None, unit: str = "it", show: bool = False):
        self.desc, self.total, self.unit = str(desc), (None if total is None else int(total)), str(unit)
        self.n = 0
        self.t0 = time.time()
        self.seconds: float | None = None
        self._last = 0.0
        self._bar = None
        if show and _BARS["on"]:
            import warnings

            with warnings.catch_warnings():  # a kernel without ipywidgets: tqdm falls back to text
                warnings.filterwarnings("ignore", message="IProgress not found")
                from tqdm.auto import tqdm
            self._bar = tqdm(total=self.total, desc=self.desc, unit=self.unit, leave=False)
        self._event("start")

    def _event(self, kind: str, **extra) -> None:
        _emit({"event": kind, "desc": self.desc, "n": self.n, "total": self.total, "unit": self.unit,
               "t": time.time(), "t0": self.t0, "pid": os.getpid(), **extra})

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` units."""
        self.n += int(n)
        if self._bar is not None:
            self._bar.update(int(n))
        now = time.time()
        if now - self._last >= MIN_INTERVAL or (self.total is not None and self.n >= self.total):
            self._last = now
            self._event("update")

    def close(self, ok: bool = True) -> None:
        if self.seconds is not None:
            return
        self.seconds = time.time() - self.t0
        if self._bar is not None:
            self._bar.close()
        self._event("end", seconds=round(self.seconds, 3), ok=bool(ok))


@contextlib.contextmanager
def task(desc: str, total: int | None = None, unit: str = "it", show: bool = False) -> Iterator[Task]:
    """A :class:`Task` for the block; its ``end`` event says whether the block raised."""
    t = Task(desc, total, unit, show)
    try:
        yield t
    except BaseException:
        t.close(ok=False)
        raise
    t.close(ok=True)


def read_events(path, offset: int = 0) -> tuple[list[dict], int]:
    """The complete JSON lines of ``path`` from byte ``offset`` on, and the offset after the last
    complete line (a line still being written is left for the next call). Bad lines are skipped."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1
    events = []
    for line in data[:end].splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict):
            events.append(ev)
    return events, offset + end
