"""Commands run beside the notebooks at the lowest CPU priority: ``make reproduce``'s lane.

The lane runs its steps one after another, each at ``nice 19`` in a scheduler group of its own
(:func:`_lower_priority`), so it uses the core a notebook leaves idle and yields it whenever a
notebook wants it; the notebooks' own timings barely move.

- **the service's artifacts** (``python -m recutils.serving artifacts``): they depend on the data
  only, not on any notebook, and their build is mostly single-threaded (torch_cf epochs, one
  encoder). Run after the notebooks they added about three minutes to a cold ``make reproduce``.
- then **work a notebook will need** (:mod:`.prefetch`: notebook 06's per-split fine-tunes into
  the embedding cache), a step that ends when that notebook starts (:meth:`Lane.notebook_started`):
  what it finished the notebook reads from the cache, the rest the notebook does itself.

:class:`Lane` starts the steps with their output in one log file, :meth:`Lane.finish` waits for
them (a live line says so), prints how each ended and the log's last lines and returns the exit
code; :meth:`Lane.stop` (also on Ctrl-C) ends them. The steps never write to the notebooks'
progress file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..progress import PROGRESS_ENV
from .discovery import _rel

__all__ = ["Lane", "Step", "artifacts_command"]

#: the ``nice`` increment of the lane (19: the lowest priority)
NICE = 19


def artifacts_command(out: str, force: bool = False) -> list[str]:
    """``python -m recutils.serving artifacts --out OUT --search fusion [--force]`` (as ``make artifacts``)."""
    return [sys.executable, "-m", "recutils.serving", "artifacts", "--out", str(out), "--search", "fusion",
            *(["--force"] if force else [])]


def _lower_priority() -> None:
    """In the child before it starts: its own session, whose scheduler autogroup gets ``nice 19``,
    and ``nice 19`` for the process itself.

    Linux groups processes by session (``/proc/sys/kernel/sched_autogroup_enabled``) and shares
    the CPU fairly between *groups* first; ``nice`` alone only ranks processes within one group.
    The notebook kernels run in sessions of their own (jupyter starts them so), so a lane that
    was merely ``nice 19`` in the runner's session still got half of a contended core: the cold
    run of 6d74be6 measured notebook 01's five-seed section 34 → 55 s and 03's torch mpnet
    guard 24 → 51 s beside it. Lowering the lane's own autogroup (``/proc/self/autogroup``,
    proc(5)) makes it yield to every other group."""
    try:
        os.setsid()
    except OSError:
        pass
    try:
        with open("/proc/self/autogroup", "w") as fh:
            fh.write(str(NICE))
    except OSError:
        pass
    try:
        os.nice(NICE)
    except OSError:
        pass


@dataclass
class Step:
    """One command of the lane; ``until``: a notebook whose start ends the step (work done ahead of it)."""

    label: str
    cmd: list
    until: str | None = None
    state: str = "waiting"  #: waiting, running, ok, FAILED (exit code N), stopped ...
    seconds: float | None = None
    code: int = field(default=0, repr=False)


class Lane:
    """``steps`` (:class:`Step`, or one command) started now, one after another at ``nice 19``
    (cwd ``root``), stdout and stderr to ``log``; ``name`` labels a single command."""

    def __init__(self, name: str, steps, log: Path, root: Path, stream=sys.stdout):
        if steps and isinstance(steps[0], str):
            steps = [Step(name, list(steps))]
        self.name, self.steps, self.log, self.stream, self.root = name, list(steps), Path(log), stream, root
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._env = {k: v for k, v in os.environ.items() if k != PROGRESS_ENV}
        self._fh = open(self.log, "w", encoding="utf-8")
        self._lock = threading.Lock()
        self.proc: subprocess.Popen | None = None
        self.current: Step | None = None
        self.stopped = False
        for i, s in enumerate(self.steps):
            then = "" if i == 0 else "then "
            until = f", until {s.until} starts" if s.until else ""
            print(f"{s.label}: {then}building beside the notebooks at low priority{until} (log: {_rel(self.log, root)})",
                  file=stream, flush=True)
        self._thread = threading.Thread(target=self._run, name=f"recutils-lane-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for step in self.steps:
            with self._lock:
                if self.stopped or step.state != "waiting":
                    continue
                self._fh.write(f"== {step.label}: {' '.join(step.cmd[1:])}\n")
                self._fh.flush()
                t0 = time.perf_counter()
                self.proc = subprocess.Popen(step.cmd, cwd=str(self.root), stdout=self._fh, stderr=subprocess.STDOUT,
                                             env=self._env, preexec_fn=_lower_priority if os.name == "posix" else None)
                self.current, step.state = step, "running"
            code = self.proc.wait()
            with self._lock:
                step.seconds = time.perf_counter() - t0
                if step.state == "running":
                    step.code = code
                    step.state = "ok" if code == 0 else f"FAILED (exit code {code})"
                self.current = None

    def notebook_started(self, name: str) -> None:
        """``name`` starts: end the steps that work ahead of it (the running one, and waiting ones)."""
        with self._lock:
            for s in self.steps:
                if s.until == name and s.state == "waiting":
                    s.state = f"not started before {name}"
            s = self.current
            if s is not None and s.until == name and self.proc is not None and self.proc.poll() is None:
                s.state = f"stopped when {name} started"
                self._end(self.proc)

    @staticmethod
    def _end(proc: subprocess.Popen) -> None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def finish(self, tail: int = 6) -> int:
        """Wait for the steps; print how each ended and the log's last ``tail`` lines. Returns the
        first failed step's exit code (0 when none failed; a stopped lane: 0)."""
        from .live import Display

        if self._thread.is_alive():
            display, w0 = Display(self.name, self.stream), time.time()
            while self._thread.is_alive():
                display.status(f"still building (log: {_rel(self.log, self.root)})", [], time.time(), w0)
                time.sleep(1.0)
        self._fh.close()
        lines = [ln for ln in self.log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        for s in self.steps:
            took = "" if s.seconds is None else f", {s.seconds:.0f} s beside the notebooks"
            state = "stopped with the notebooks" if self.stopped and s.state in ("running", "waiting") else s.state
            print(f"{s.label}: {state}{took} (log: {_rel(self.log, self.root)})", file=self.stream, flush=True)
        for ln in lines[-tail:]:
            print("  " + ln[-200:], file=self.stream, flush=True)
        return 0 if self.stopped else next((s.code for s in self.steps if s.code), 0)

    def stop(self) -> None:
        """End the lane if it still runs (Ctrl-C, or the run stopped early)."""
        with self._lock:
            self.stopped = True
            for s in self.steps:
                if s.state == "waiting":
                    s.state = "stopped with the notebooks"
            proc = self.proc if self.current is not None else None
            if proc is not None and proc.poll() is None:
                self.current.state = "stopped with the notebooks"
                self._end(proc)
        self._thread.join()
        if not self._fh.closed:
            self._fh.close()
