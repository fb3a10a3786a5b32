"""A command run beside the notebooks at the lowest CPU priority: ``make reproduce``'s artifacts.

The service's artifacts (``python -m recutils.serving artifacts``) depend on the data only, not
on any notebook, and their build is mostly single-threaded (torch_cf epochs, one encoder). Run
after the notebooks they added about three minutes to a cold ``make reproduce``; run beside them
at ``nice 19`` they use the core a notebook leaves idle and yield it whenever the notebook wants
it, so the notebooks' own timings barely move.

:class:`Lane` starts the command with its output in a log file, :meth:`Lane.finish` waits for it
(a live line says so), prints the log's last lines and returns the exit code; :meth:`Lane.stop`
(also on Ctrl-C) ends it. The command never writes to the notebooks' progress file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..progress import PROGRESS_ENV
from .discovery import _rel
from .malloc import ENV as MALLOC_ENV, tunables

__all__ = ["Lane", "artifacts_command"]

#: the ``nice`` increment of the lane (19: the lowest priority)
NICE = 19
#: the lane's thread settings (as joblib gives its worker processes): one OpenMP / BLAS / numba
#: thread. A multi-threaded step at the lowest priority keeps being preempted, and its OpenMP
#: threads then spin at every barrier waiting for the one that is not running: the cold run of
#: 00ed46c measured a 2-thread MiniLM fine-tune in the lane at 400 CPU-seconds without finishing
#: (84 s alone), taking its core from the notebooks' own work.
ONE_THREAD = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                               "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS", "NUMEXPR_NUM_THREADS")}


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


class Lane:
    """``cmd`` started now at ``nice 19`` with one thread (:data:`ONE_THREAD`; cwd ``root``),
    stdout and stderr to ``log``."""

    def __init__(self, name: str, cmd: list[str], log: Path, root: Path, stream=sys.stdout):
        self.name, self.cmd, self.log, self.stream = name, list(cmd), Path(log), stream
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = {**{k: v for k, v in os.environ.items() if k != PROGRESS_ENV}, **ONE_THREAD,
               MALLOC_ENV: tunables(os.environ.get(MALLOC_ENV))}  # as the notebook kernels (.malloc)
        self._fh = open(self.log, "w", encoding="utf-8")
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.cmd, cwd=str(root), stdout=self._fh, stderr=subprocess.STDOUT, env=env,
                                     preexec_fn=_lower_priority if os.name == "posix" else None)
        self.ended: float | None = None  # perf_counter() when the command exited (a thread waits for it)
        threading.Thread(target=self._watch, name=f"recutils-lane-{name}", daemon=True).start()
        print(f"{name}: building beside the notebooks at low priority (log: {_rel(self.log, root)})",
              file=stream, flush=True)
        self.root, self.stopped = root, False

    def _watch(self) -> None:
        self.proc.wait()
        self.ended = time.perf_counter()

    def finish(self, tail: int = 6) -> int:
        """Wait for the command; print how it ended and the log's last ``tail`` lines. Returns its exit code."""
        from .live import Display

        if self.proc.poll() is None:
            display, w0 = Display(self.name, self.stream), time.time()
            while self.proc.poll() is None:
                display.status(f"still building (log: {_rel(self.log, self.root)})", [], time.time(), w0)
                time.sleep(1.0)
        self._fh.close()
        code = 0 if self.stopped else self.proc.returncode
        took = (self.ended or time.perf_counter()) - self.t0  # the build's own time, not the notebooks'

        lines = [ln for ln in self.log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        state = "stopped with the notebooks" if self.stopped else "ok" if code == 0 else f"FAILED (exit code {code})"
        print(f"{self.name}: {state}, {took:.0f} s beside the notebooks (log: {_rel(self.log, self.root)})",
              file=self.stream, flush=True)
        for ln in lines[-tail:]:
            print("  " + ln[-200:], file=self.stream, flush=True)
        return code

    def stop(self) -> None:
        """End the command if it still runs (Ctrl-C, or the run stopped early)."""
        if self.proc.poll() is None:
            self.stopped = True
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._fh.closed:
            self._fh.close()

