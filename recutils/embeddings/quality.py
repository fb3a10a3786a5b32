"""How close a faster encoder's embeddings are to the reference ones.

- :func:`compare_embeddings`: per-row cosine of two embedding matrices of the same texts
  (mean, 1st percentile, minimum) — e.g. onnx-int8 against torch fp32.
- :func:`ci_includes_zero`: the guard's rule for a paired bootstrap interval of a metric
  difference (int8 − fp32): a new backend is used only when its interval includes zero, i.e.
  the benchmark cannot tell it from the reference.

How fast each encoder is: :func:`recutils.bench.encoders.interleaved_throughput` (benchmark tooling).
"""

from __future__ import annotations


import numpy as np

from ..errors import RecutilsError

__all__ = ["compare_embeddings", "ci_includes_zero"]


def compare_embeddings(ref, other) -> dict:
    """Cosine of each row of ``other`` to the same row of ``ref`` (rows L2-normalised first).

    Returns ``{"n", "mean_cosine", "p1_cosine", "min_cosine"}`` (floats). A zero row has
    cosine 0 with anything. Raises :class:`RecutilsError` for shapes that do not match or no rows.
    """
    a, b = np.asarray(ref, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise RecutilsError(f"compare_embeddings needs two matrices of one shape, got {a.shape} and {b.shape}")
    if a.shape[0] == 0:
        raise RecutilsError("compare_embeddings needs at least one row")
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    denom = na * nb
    cos = np.where(denom > 0, (a * b).sum(axis=1) / np.where(denom > 0, denom, 1.0), 0.0)
    cos = np.clip(cos, -1.0, 1.0)
    return {"n": int(len(cos)), "mean_cosine": float(cos.mean()), "p1_cosine": float(np.percentile(cos, 1)),
            "min_cosine": float(cos.min())}


def ci_includes_zero(ci) -> bool:
    """Whether a paired interval (``.low``, ``.high``; e.g. :class:`~recutils.evaluation.PairedCI`)
    includes zero: the difference is not told apart from noise."""
    low, high = float(ci.low), float(ci.high)
    if not (np.isfinite(low) and np.isfinite(high)) or low > high:
        raise RecutilsError(f"not an interval: [{low}, {high}]")
    return low <= 0.0 <= high
