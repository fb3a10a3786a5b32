"""Torch's intra-op thread count for one block of code.

:func:`torch_threads` is the one helper every torch user in the package goes through (model
fitting and scoring, per-query search). It imports torch only when it has something to do, so
importing this module stays cheap.

On a machine shared with other busy processes, one thread is often several times faster than
two: OpenMP threads spin-wait for each other when a core is taken.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

__all__ = ["torch_threads"]


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``, then restore the previous count.

    Parameters
    ----------
    n : int or None
        Intra-op threads for the block. ``None`` or ``0`` leaves torch's setting alone (and
        does not import torch). Any other value is passed to torch as ``int(n)``, so a
        negative count raises torch's own error.

    Notes
    -----
    The count is applied, and the previous one re-applied on exit (also on an exception),
    even when it already equals ``n``: ``torch.set_num_threads`` also pins MKL's thread
    count, and applying it unconditionally keeps that identical for every caller.
    """
    if not n:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)
