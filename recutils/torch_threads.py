"""Torch's intra-op thread count for one block of code, chosen from the cores that are free.

:func:`torch_threads` is the one helper every torch user in the package goes through (model
fitting and scoring, fine-tuning, per-query search). It imports torch only when it has something
to do, so importing this module stays cheap.

A thread count is a whole number ≥ 1, ``0`` / ``None`` (leave torch's setting alone) or
``"auto"``: as many threads as :func:`free_cores` finds free *now*. On a machine shared with
other busy processes one thread is often several times faster than two (OpenMP threads
spin-wait for each other when a core is taken: a MiniLM fine-tune measured 5× slower with two
threads than with one at a load average of 6 on 2 cores), while on an idle machine every core
helps; "auto" takes the count from the machine instead of from a constant.

How :func:`free_cores` decides (documented choice):

- the **usable** cores are this process's CPU affinity (``os.sched_getaffinity``), capped by a
  cgroup-v2 CPU quota (``/sys/fs/cgroup/cpu.max``) when there is one;
- it reads the per-CPU jiffies of those cores in ``/proc/stat`` twice, ``interval`` seconds
  apart (0.25 s by default): ``busy`` is the number of cores that were not idle (idle and
  iowait count as idle; user, system, irq and hypervisor *steal* as busy), ``own`` the CPU
  seconds this process used meanwhile (``time.process_time``) per second;
- ``others = busy − own``; a core counts as free when other processes left at least 3/4 of it
  (:data:`SLACK`): ``free = ⌊usable − others + SLACK⌋``, clamped to ``[1, usable]``.

The load average is not used where ``/proc/stat`` exists: it averages over a minute (a process
that ended 30 s ago still counts) and it cannot tell this process's threads from others'. It is
the fallback where ``/proc/stat`` is missing (macOS): ``others = loadavg₁ − own``, which is
conservative (this process's own recent work still counts). Without either (Windows), every
usable core counts as free.

An explicit ``OMP_NUM_THREADS`` in the environment (a whole number ≥ 1) wins over the
measurement: "auto" then means that many threads, not re-checked (``tests/portable.py`` runs the
notebooks under ``OMP_NUM_THREADS=1`` and ``=2`` to check that results do not depend on it).

Inside a ``torch_threads("auto")`` block, long loops (fine-tuning steps, training batches) call
:func:`adapt_threads`: every :data:`RECHECK_SECONDS` it compares ``/proc/stat`` with the
previous check (no extra sleep) and moves the count down as soon as other processes take a
core, and up again only when two checks in a row find it free (a core taken back costs far
more than one left idle: a MiniLM step ran 4.7× slower on two threads than on one while other
processes were busy). Results do not depend on the count beyond float rounding (the goldens hold at 1 and 2
threads), so a change mid-run changes speed, not results.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
import os
import time
from dataclasses import dataclass
from typing import Iterator

from .errors import ConfigError

__all__ = ["AUTO", "adapt_threads", "free_cores", "parse_threads", "resolve_threads", "threads_used", "torch_threads",
           "usable_cores", "valid_threads"]

#: the thread-count value that means "as many as are free now"
AUTO = "auto"
#: a core counts as free when other processes left at least 1 − SLACK of it idle
SLACK = 0.25
#: seconds between the two ``/proc/stat`` readings of :func:`free_cores`
SAMPLE_SECONDS = 0.25
#: an "auto" count resolved less than this many seconds ago is reused (a scoring loop that enters
#: ``torch_threads("auto")`` per batch does not sample every time)
AUTO_TTL_SECONDS = 10.0
#: how often :func:`adapt_threads` re-checks the free cores inside an "auto" block
RECHECK_SECONDS = 10.0

PROC_STAT = "/proc/stat"
CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"


# --- how many cores are free -----------------------------------------------------------------
def _allowed_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return list(range(os.cpu_count() or 1))


def _cgroup_limit(path: str | None = None) -> float | None:
    """Cores allowed by a cgroup-v2 quota (``"200000 100000"`` → 2.0; ``"max …"`` → None)."""
    try:
        with open(path or CGROUP_CPU_MAX) as fh:
            quota, period = fh.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota (≥ 1)."""
    n = len(_allowed_cpus())
    limit = _cgroup_limit()
    if limit is not None:
        n = min(n, max(1, math.floor(limit)))
    return max(1, n)


def _read_stat(cpus, path: str | None = None) -> dict[int, tuple[int, int]] | None:
    """``{cpu: (busy, total)}`` jiffies of the given CPUs from ``/proc/stat`` (None if unreadable)."""
    want = set(cpus)
    out = {}
    try:
        with open(path or PROC_STAT) as fh:
            for line in fh:
                if not line.startswith("cpu") or line.startswith("cpu "):
                    continue
                parts = line.split()
                try:
                    cpu = int(parts[0][3:])
                    vals = [int(v) for v in parts[1:9]]  # user nice system idle iowait irq softirq steal
                except (ValueError, IndexError):
                    continue
                if cpu in want:
                    total = sum(vals)
                    out[cpu] = (total - vals[3] - (vals[4] if len(vals) > 4 else 0), total)
    except OSError:
        return None
    return out or None


@dataclass
class _Sample:
    t: float  #: time.monotonic()
    own: float  #: time.process_time(): this process's CPU seconds, all threads
    stat: dict | None  #: _read_stat()


def _sample(cpus) -> _Sample:
    return _Sample(time.monotonic(), time.process_time(), _read_stat(cpus))


def _free_between(a: _Sample, b: _Sample, usable: int) -> int | None:
    """Free cores between two samples (None when ``/proc/stat`` was not readable)."""
    if a.stat is None or b.stat is None or b.t <= a.t:
        return None
    busy = 0.0
    for cpu, (busy1, total1) in b.stat.items():
        if cpu in a.stat:
            d_total = total1 - a.stat[cpu][1]
            if d_total > 0:
                busy += min(1.0, max(0.0, (busy1 - a.stat[cpu][0]) / d_total))
    own = max(0.0, (b.own - a.own) / (b.t - a.t))
    return _clamp(usable - max(0.0, busy - own), usable)


def _clamp(free: float, usable: int) -> int:
    return int(min(usable, max(1, math.floor(free + SLACK))))


def free_cores(interval: float = SAMPLE_SECONDS) -> int:
    """Cores free for this process now, in ``[1, usable_cores()]`` (see the module docstring).

    Sleeps ``interval`` seconds between two ``/proc/stat`` readings (not at all when only one
    core is usable). Falls back to the 1-minute load average where ``/proc/stat`` is missing,
    and to every usable core where that is missing too.
    """
    usable = usable_cores()
    if usable == 1:
        return 1
    cpus = _allowed_cpus()
    a = _sample(cpus)
    if a.stat is not None:
        time.sleep(interval)
        free = _free_between(a, _sample(cpus), usable)
        if free is not None:
            return free
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return usable
    t0, p0 = time.monotonic(), time.process_time()
    time.sleep(min(interval, 0.05))
    own = (time.process_time() - p0) / max(time.monotonic() - t0, 1e-9)
    return _clamp(usable - max(0.0, load - own), usable)


# --- thread-count values ---------------------------------------------------------------------
def valid_threads(value, allow_zero: bool = False) -> bool:
    """Whether ``value`` is a thread count: a whole number ≥ 1 (≥ 0 with ``allow_zero``) or "auto"."""
    if value == AUTO and isinstance(value, str):
        return True
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    if isinstance(value, float) and not value.is_integer():
        return False
    return value >= (0 if allow_zero else 1)


def parse_threads(value):
    """A thread setting from text or a number (a notebook parameter, a CLI option): ``"auto"``,
    ``"2"`` / ``2`` → 2, ``"0"`` / ``0`` / ``None`` → 0 (torch's default). Anything else is a
    one-line :class:`~recutils.errors.ConfigError`."""
    if value is None:
        return 0
    if isinstance(value, str) and value.strip().lower() != AUTO:
        text = value.strip()
        value = int(text) if text.isdigit() else text
    elif isinstance(value, str):
        value = AUTO
    if not valid_threads(value, allow_zero=True):
        raise ConfigError(f"torch threads must be 'auto', a whole number ≥ 1 or 0 (torch's default), got {value!r}")
    return value if value == AUTO else int(value)


_last_auto: tuple[float, int] | None = None


def _env_threads() -> int | None:
    """``$OMP_NUM_THREADS`` when it is a whole number ≥ 1 (an explicit request), else None."""
    v = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(v) if v.isdigit() and int(v) >= 1 else None


def resolve_threads(n) -> int | None:
    """The thread count for ``n``: ``None`` / ``0`` → ``None`` (leave torch alone), ``"auto"`` →
    ``$OMP_NUM_THREADS`` when set, else :func:`free_cores` (reused for :data:`AUTO_TTL_SECONDS`),
    a whole number ≥ 1 → itself.
    Anything else raises a one-line :class:`~recutils.errors.ConfigError`."""
    global _last_auto
    if n is None:
        return None
    if not valid_threads(n, allow_zero=True):
        raise ConfigError(f"torch threads must be a whole number ≥ 1, 0 / None (torch's default) or 'auto', got {n!r}")
    if n != AUTO:
        return int(n) or None
    if _env_threads():
        return _env_threads()
    now = time.monotonic()
    if _last_auto is not None and now - _last_auto[0] < AUTO_TTL_SECONDS:
        return _last_auto[1]
    free = free_cores()
    _last_auto = (time.monotonic(), free)
    return free


# --- the context manager and the in-loop re-check ----------------------------------------------
class _AutoBlock:
    """State of one ``torch_threads("auto")`` block: the current count and the last sample."""

    def __init__(self, n: int):
        self.n = n
        self.used = [n]
        self.cpus = _allowed_cpus()
        self.usable = usable_cores()
        self.last = _sample(self.cpus)
        self.up = 0  # a higher count seen at the last check (applied when the next one agrees)

    def recheck(self, force: bool = False) -> int:
        if self.usable == 1 or (not force and time.monotonic() - self.last.t < RECHECK_SECONDS):
            return self.n
        s = _sample(self.cpus)
        free = _free_between(self.last, s, self.usable)
        self.last = s
        if free is None or free == self.n:
            self.up = 0
        elif free < self.n:  # a core was taken: fewer threads at once
            self.up = 0
            self._apply(free)
        elif self.up:  # free again for two checks in a row: more threads
            self._apply(min(free, self.up))
            self.up = 0
        else:
            self.up = free
        return self.n

    def _apply(self, n: int) -> None:
        import torch

        torch.set_num_threads(n)
        self.n = n
        if n not in self.used:
            self.used.append(n)


_auto_block: contextvars.ContextVar[_AutoBlock | None] = contextvars.ContextVar("recutils_auto_threads", default=None)


def adapt_threads(force: bool = False) -> int | None:
    """Inside a ``torch_threads("auto")`` block: re-check the free cores (at most every
    :data:`RECHECK_SECONDS`, unless ``force``) and move torch's count to it; returns the count.
    Outside such a block: does nothing and returns None. Cheap enough to call every step."""
    block = _auto_block.get()
    return None if block is None else block.recheck(force)


def threads_used() -> list[int] | None:
    """The thread counts used so far in the current "auto" block, in order of first use (None
    outside one)."""
    block = _auto_block.get()
    return None if block is None else list(block.used)


@contextlib.contextmanager
def torch_threads(n) -> Iterator[int | None]:
    """Run the block with ``torch.set_num_threads``, then restore the previous count; yields the
    count applied (None when torch's setting is left alone).

    Parameters
    ----------
    n : int, "auto" or None
        Intra-op threads for the block. ``None`` or ``0`` leaves torch's setting alone (and
        does not import torch). ``"auto"``: :func:`free_cores`, re-checked by
        :func:`adapt_threads` while the block runs. A whole number ≥ 1: that many. Anything else
        is a :class:`~recutils.errors.ConfigError`.

    Notes
    -----
    The count is applied, and the previous one re-applied on exit (also on an exception),
    even when it already equals ``n``: ``torch.set_num_threads`` also pins MKL's thread
    count, and applying it unconditionally keeps that identical for every caller.
    """
    count = resolve_threads(n)
    if count is None:
        yield None
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    token = _auto_block.set(_AutoBlock(count) if n == AUTO and not _env_threads() else None)
    try:
        yield count
    finally:
        _auto_block.reset(token)
        torch.set_num_threads(before)
