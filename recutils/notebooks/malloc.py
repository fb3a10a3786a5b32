"""glibc's malloc settings for the notebook kernels and the artifacts lane (``GLIBC_TUNABLES``).

glibc returns a freed block to the kernel once the free memory at the top of the heap passes
its trim threshold, and serves blocks above its mmap threshold with fresh mappings. Its
defaults adapt up to a 32 MiB mmap threshold and a 64 MiB trim threshold, below what one epoch
of notebook 06's cold-start MLP frees (several 7,900 × 512 float32 tensors, 16 MiB each): each
epoch gave its memory back and took it again, page by page. ``python -m recutils.bench.malloc``
measures it (one thread, the MLP's shapes, with and without the settings below, each in a
process of its own): about 4,000 minor page faults and 5 ms of system time per 60 ms epoch
without, none with, and the same weights to the last bit (the arithmetic does not move, only
where its memory comes from).

:func:`tunables` merges :data:`TUNABLES` into a ``GLIBC_TUNABLES`` value (keys the user already
set win); :func:`kernel_environment` sets it for the kernels a block starts and restores the
runner's environment afterwards. glibc reads the variable when a process starts, so it acts on
the kernels and their children (worker processes, background jobs), not on the runner. Other C
libraries ignore it.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

__all__ = ["ENV", "TUNABLES", "kernel_environment", "tunables"]

ENV = "GLIBC_TUNABLES"
MIB = 1 << 20
#: blocks up to 32 MiB from the heap, 128 MiB of free heap top kept, the heap grown 32 MiB at a time
TUNABLES = {"glibc.malloc.mmap_threshold": 32 * MIB, "glibc.malloc.trim_threshold": 128 * MIB,
            "glibc.malloc.top_pad": 32 * MIB}


def tunables(current: str | None = None) -> str:
    """``current`` (a ``GLIBC_TUNABLES`` value, ``name=value`` pairs joined by ``:``) with every
    key of :data:`TUNABLES` it does not set added."""
    pairs = [p for p in (current or "").split(":") if p]
    have = {p.split("=", 1)[0] for p in pairs}
    return ":".join(pairs + [f"{k}={v}" for k, v in TUNABLES.items() if k not in have])


@contextlib.contextmanager
def kernel_environment() -> Iterator[str]:
    """``$GLIBC_TUNABLES`` with :data:`TUNABLES` while the block runs (the kernels it starts get
    them); the previous value (or none) afterwards. Yields the value set."""
    before = os.environ.get(ENV)
    os.environ[ENV] = value = tunables(before)
    try:
        yield value
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before
