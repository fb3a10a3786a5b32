"""Work started now in a lower-priority background process, collected where it is needed.

Notebook 06's §8 ablations need only the parameters and §2's text embeddings, and they take most
of the notebook's time in worker processes, while §3–§7 fit one model after another and leave a
core idle. :class:`Background` starts such work early in a spawned process with a lower CPU
priority (``nice``): it takes the cores the notebook leaves idle and yields them as soon as the
notebook wants them. :meth:`Background.result` waits for it (showing the wait as a progress
task) and returns what the call returned.

- ``enabled=False`` (one worker: the smoke runs and the goldens) defers the call to
  :meth:`~Background.result`: the result, and what the cells print, are those of a plain call.
- The function and its arguments travel with cloudpickle (lambdas and closures included); so
  does the result. Nothing is written to disk.
- The child runs in its own process group with its bars off (its progress events still reach
  the live line of ``python -m recutils.notebooks run``); :meth:`~Background.cancel`, also
  called when this process exits, stops it and its worker processes.
- An error in the child is raised here as a :class:`~recutils.errors.RecutilsError` with the
  child's message (and its traceback, unless it was a ``RecutilsError``: a user's mistake).
"""

from __future__ import annotations

import atexit
import os
import signal
import time

from ..errors import RecutilsError

__all__ = ["Background", "NICE"]

#: how much lower the background's CPU priority is (``nice`` increment; 19 is the lowest). It
#: stays in the caller's session (the kernel's scheduler autogroup), where ``nice`` ranks it below
#: the caller: at 10 (weight 110 against 1024) the cold run of 6d74be6 still found notebook 06's
#: §3–§7 about 100 s slower beside the §8 ablations (three background processes against one
#: kernel thread, whose BLAS calls wait on each other); 19 (weight 15) takes only what is idle
NICE = 19


def _child(conn, niceness: int, payload: bytes) -> None:
    import pickle
    import traceback

    from ..progress import no_bars

    try:
        os.setpgid(0, 0)  # its own group: cancel() stops the child and its workers together
    except OSError:
        pass
    if niceness:
        try:
            os.nice(niceness)
        except OSError:
            pass
    no_bars()
    import warnings

    # joblib's worker processes restart now and then (loky's memory check); its warning would land
    # on the terminal of a notebook run, where this process's stderr goes
    warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given to the executor")
    try:
        fn, args, kwargs = pickle.loads(payload)
        reply = ("ok", fn(*args, **kwargs))
    except BaseException as exc:  # handed to the parent
        reply = ("error", type(exc).__name__, str(exc), isinstance(exc, RecutilsError), traceback.format_exc())
    import cloudpickle

    try:
        conn.send_bytes(cloudpickle.dumps(reply))
    except Exception as exc:  # an unpicklable result
        conn.send_bytes(cloudpickle.dumps(("error", type(exc).__name__, f"its result could not be sent back: {exc}",
                                           False, "")))
    finally:
        conn.close()
    _shutdown_workers()


def _shutdown_workers() -> None:
    """Stop joblib's reusable worker processes now (they would idle for minutes before timing out),
    so that this process exits on its own and cleans up after them."""
    try:
        from joblib.externals.loky import reusable_executor
    except ImportError:
        return
    ex = getattr(reusable_executor, "_executor", None)
    if ex is not None:
        ex.shutdown(wait=True)


class Background:
    """``fn(*args, **kwargs)`` started now in a spawned process ``nice`` steps lower in CPU
    priority (module docstring); ``enabled=False`` runs it at :meth:`result` instead."""

    def __init__(self, fn, *args, enabled: bool = True, name: str | None = None, nice: int = NICE, **kwargs):
        self.name = name or getattr(fn, "__name__", "background work")
        self.enabled = bool(enabled)
        self._call = (fn, args, kwargs)
        self._done: tuple | None = None
        self._proc = None
        self.started = time.time()
        #: seconds the work took: the call's own when deferred, start → result received in the background
        self.seconds: float | None = None
        if not self.enabled:
            return
        import multiprocessing

        import cloudpickle

        ctx = multiprocessing.get_context("spawn")
        self._conn, child_end = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child, args=(child_end, int(nice), cloudpickle.dumps(self._call)),
                                 name=f"recutils-{self.name}", daemon=False)
        self._proc.start()
        child_end.close()
        self._call = None  # the child has its own copy
        atexit.register(self.cancel)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._done is None and self._proc.is_alive()

    def result(self, progress: bool = False):
        """What the call returned (waiting for the child, or calling it now when not enabled)."""
        if self._done is None:
            t0 = time.perf_counter()
            if not self.enabled:
                fn, args, kwargs = self._call
                self._done = ("ok", fn(*args, **kwargs))
                self.seconds = time.perf_counter() - t0
            else:
                self._done = self._wait(progress)
                self.seconds = time.time() - self.started
        if self._done[0] == "ok":
            return self._done[1]
        _, kind, msg, user_error, tb = self._done
        if user_error:
            raise RecutilsError(f"{self.name} (in the background): {msg}")
        raise RecutilsError(f"{self.name} failed in the background: {kind}: {msg}\n{tb}".rstrip())

    def _wait(self, progress: bool) -> tuple:
        import pickle

        from ..progress import task

        with task(f"waiting for {self.name} (started in the background)", total=1, unit="job", show=progress) as t:
            while not self._conn.poll(1.0):
                if not self._proc.is_alive() and not self._conn.poll(0.1):
                    return self._no_result()
            try:
                reply = pickle.loads(self._conn.recv_bytes())
            except EOFError:  # the child ended without sending anything
                return self._no_result()
            t.update(1)
        self._proc.join(30)  # its result is here: it stops its worker processes and exits
        if self._proc.is_alive():
            self._stop()
        self._conn.close()
        atexit.unregister(self.cancel)
        return reply

    def _no_result(self) -> tuple:
        self._proc.join()
        self._conn.close()
        return ("error", "ProcessExit", f"the background process ended with exit code {self._proc.exitcode} "
                "and no result (killed, or out of memory?)", False, "")

    def cancel(self) -> None:
        """Stop the child and its worker processes (its process group) if it still runs."""
        if self._proc is None or self._done is not None:
            return
        self._stop()
        self._done = ("error", "Cancelled", "cancelled before it finished", True, "")

    def _stop(self) -> None:
        """SIGTERM to the child's process group (the child and the worker processes it started),
        SIGKILL after 5 s."""
        p = self._proc
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except (OSError, AttributeError):
            if p.exitcode is not None:
                return
            p.terminate()
        p.join(5)
        if p.is_alive():
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (OSError, AttributeError):
                p.kill()
            p.join(5)
