"""What produced a recorded number, and so how far it may move on another CPU.

A notebook's ``metrics.json`` carries a ``provenance`` section (written by
:func:`recutils.experiments.provenance.record`)::

    "provenance": {"k": 25, "producers": {
        "ALS (implicit; 128 factors)": {"sources": ["als"], "kernel": ["als"], "n_users": 38, "n_items": 2005},
        "EASE (λ=300)": {"sources": ["ease"], "kernel": [], "n_users": 38, "n_items": 2005}}}

Each producer is a row label (or a dict key) as it appears in the metrics, the model families
behind it, which of them are **kernel-dependent** (their results move in the last digits with
the CPU's BLAS / oneDNN / ONNX Runtime kernels: implicit's and Spark's ALS, torch models and
encoders, ONNX Runtime, SANSA — each family states its class where it is defined) and how many
users (or queries) its evaluation averaged over.

:meth:`Provenance.tolerance` turns that into a tolerance for any number whose path or row
names a kernel-dependent producer, without a rule per table: such a ranking may change by
**two list entries** (two hits: the largest move seen across CPUs, one hit on an AVX-512
EPYC, with a margin of one) per kernel-dependent ranking involved (a difference of two such
rankings: four), converted into the metric's own units by :data:`UNITS`; a t-interval's bound
over ``S`` seeds moves by at most ``1 + t(0.975, S−1)/√(S−1)`` times that (every seed may move);
rating errors and losses of torch models by 1e-3 (+ 1e-3 relative). Anything else — settings
(λ, factors, chosen grid points), counts, numbers of exact producers — stays exact.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

#: list entries a kernel-dependent ranking may change on another CPU (one was seen; one more of margin)
ENTRIES = 2
#: bits of self-information an item can carry in ``novelty`` (−log2 of 1 / (U + 1) for U ≤ 2^20 users)
NOVELTY_MAX_BITS = 20.0
#: absolute and relative tolerance of a torch model's rating error or training loss (moved ≤ 8.4e-6
#: across ATen kernels here: more than 100× margin, still far below a change of model, ≥ 0.01)
ERROR_ABS, ERROR_REL = 1e-3, 1e-3


def _unit(metric: str, n: int, k: int, n_items: int | None) -> float | None:
    """How much one changed list entry (in one of ``n`` users' top-``k`` lists) can move ``metric``."""
    if metric == "precision":
        return 1.0 / (k * n)
    if metric in ("recall", "ndcg", "map", "mrr", "hit_rate"):
        return 1.0 / n  # a user's value is in [0, 1]; one entry can move it all the way
    if metric == "coverage":
        return 1.0 / n_items if n_items else None  # one entry brings in (or drops) one item
    if metric == "avg_popularity":
        return 1.0 / (k * n)  # an entry's popularity share is in [0, 1]
    if metric == "novelty":
        return NOVELTY_MAX_BITS / (k * n)
    if metric == "gini":
        return 2.0 / (k * n)  # moving one exposure changes Σ|x_i − x_j| / (2 m T) by < 2 / T, T = k·n
    if metric == "ild":
        return 4.0 / (k * n)  # an entry is in k−1 of k(k−1)/2 pairs; a distance is in [0, 2]
    return None


#: the metrics :func:`_unit` knows (names after :func:`metric_name`), for documentation and tests
UNITS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate", "coverage", "avg_popularity", "novelty", "gini", "ild")
#: rating errors and losses (torch training): tolerance ERROR_ABS + ERROR_REL·|ref|
ERRORS = ("rmse", "mae", "mse", "loss")
#: names of statistics of a metric (the metric itself is named further up the path)
STATS = frozenset({"mean", "low", "high", "diff", "mean_diff", "value", "per_seed"})
#: statistics that compare two rankings (a difference, its interval): they also involve the
#: reference a table's rows are compared with (``Provenance.references``)
_DIFF = re.compile(r"^(diff|mean_diff|low|high|ci_low|ci_high|per_seed|own_.*|vs_.*|.*_diff)$")


def is_stat(segment: str) -> bool:
    """A statistic of a metric named further up (``mean``, ``ci_low``, ``own_diff``, ``vs_torch_cf``)."""
    s = segment.lower()
    return s in STATS or _DIFF.match(s) is not None

_ALIASES = {"popularity_gini": "gini", "exposure_gini": "gini", "ild_genre": "ild", "ild_embedding": "ild",
            "hr": "hit_rate", "hitrate": "hit_rate"}


def metric_name(token: str) -> str:
    """``precision@25_low`` → ``precision``, ``val_ndcg`` → ``ndcg``, ``ci_low`` → ``low``,
    ``ndcg_diff`` → ``ndcg``, ``nDCG@10`` → ``ndcg``."""
    t = re.sub(r"@\d+", "", token.strip().lower())
    for err in ERRORS:
        if t == err or t.endswith("_" + err):
            return err  # train_loss, val_rmse
    for pre in ("validation_", "val_", "ci_", "test_"):
        if t.startswith(pre) and len(t) > len(pre):
            t = t[len(pre):]
    for suf in ("_per_seed", "_low", "_high", "_diff"):
        if t.endswith(suf) and len(t) > len(suf):
            t = t[: -len(suf)]
            break
    return _ALIASES.get(t, t)


def _tokens(segment: str) -> list[str]:
    """A path segment's names: a row label ``[a | b]`` names a and b; ``A vs B (m)`` names A, B and m."""
    seg = segment[1:-1] if segment.startswith("[") and segment.endswith("]") else segment
    out = []
    for part in seg.split(" | "):
        m = re.fullmatch(r"(.*\S)\s+\(([^()]*)\)", part)
        body, hint = (m.group(1), m.group(2)) if m else (part, None)
        out.append(part)
        if " vs " in body:
            out.extend(p.strip() for p in body.split(" vs "))
        if m and " vs " in body:
            out.append(hint)
    return out


def _is_index(segment: str) -> bool:
    return re.fullmatch(r"\[\d+\]", segment) is not None


def t_factor(n_seeds: int) -> float:
    """How much a bound of a t-interval over ``n_seeds`` can move when every seed's value moves
    by δ: the mean by δ, the sample sd by δ·√(S/(S−1)), the half-width t·sd/√S by t·δ/√(S−1)."""
    from scipy.stats import t

    s = int(n_seeds)
    return 1.0 + float(t.ppf(0.975, s - 1)) / math.sqrt(s - 1) if s >= 2 else 1.0


@dataclass(frozen=True)
class Producer:
    label: str
    sources: tuple[str, ...]
    kernel: tuple[str, ...]
    n_users: int | None = None
    n_items: int | None = None
    k: int | None = None


@dataclass(frozen=True)
class Provenance:
    k: int
    producers: dict
    default_metric: str | None = None
    #: path names (a table, a section) → labels every difference under them is taken against
    references: dict | None = None
    #: field names → labels whose output every such field uses, whatever the row (e.g. a diversity
    #: measured with text embeddings: kernel-dependent even for an exact ranking)
    columns: dict | None = None

    @classmethod
    def from_metrics(cls, metrics: dict) -> "Provenance | None":
        p = metrics.get("provenance") if isinstance(metrics, dict) else None
        if not isinstance(p, dict) or not isinstance(p.get("producers"), dict):
            return None
        prods = {}
        for label, d in p["producers"].items():
            if not isinstance(d, dict):
                continue
            prods[str(label)] = Producer(str(label), tuple(d.get("sources") or ()), tuple(d.get("kernel") or ()),
                                         d.get("n_users"), d.get("n_items"), d.get("k"))
        def lists(key):
            d = p.get(key) if isinstance(p.get(key), dict) else {}
            return {str(a): [str(x) for x in (b if isinstance(b, list) else [b])] for a, b in d.items()}

        return cls(int(p.get("k") or 0), prods, p.get("default_metric"), lists("references"), lists("columns"))

    def producers_in(self, segments, strings=()) -> list[Producer]:
        """The producers named by a key's path segments or by the string fields of its rows, and
        for a difference (``is_stat``-style names such as ``ci_low``, ``ndcg_diff``, ``vs_x``) the
        references declared for a table or section on its path."""
        names = set(strings)
        for seg in segments[:-1]:  # the last segment is the field itself, not a label
            names.update(_tokens(seg))
        if self.references and any(_DIFF.match(seg.lower()) for seg in segments[-2:] if not _is_index(seg)):
            for seg in segments:
                names.update(self.references.get(seg, ()))
        if self.columns:
            field = next((s for s in reversed(segments) if not _is_index(s)), "")
            names.update(self.columns.get(field, ()))
        return [p for lab, p in self.producers.items() if lab in names]

    def _metric(self, segments) -> str | None:
        """The metric a leaf measures: its own name, or — for a statistic (mean, low, diff, a
        per-seed entry) — the nearest metric named above it; None for a setting or a count."""
        leaf_seen = False
        for seg in reversed(segments):
            if _is_index(seg):
                continue
            names = [metric_name(t) for t in _tokens(seg)]
            hit = next((n for n in names if n in UNITS or n in ERRORS), None)
            if hit:
                return hit
            if not leaf_seen:
                leaf_seen = True
                if not is_stat(seg):
                    return None  # a setting (alpha, factors), a count (n_users) or an unknown field
        return self.default_metric

    def tolerance(self, segments, strings=(), n_users: int | None = None, n_seeds: int | None = None):
        """``(abs, rel, why)`` for a numeric leaf, or None when no kernel-dependent producer is involved
        (then the exact default applies)."""
        involved = self.producers_in(segments, strings)
        kernel = [p for p in involved if p.kernel]
        if not kernel:
            return None
        metric = self._metric(segments)
        if metric is None:
            return None
        fams = ", ".join(sorted({f for p in kernel for f in p.kernel}))
        if metric in ERRORS:
            return ERROR_ABS, ERROR_REL, f"{metric} of a kernel-dependent model ({fams})"
        # the evaluation's size: the row's own, else the smallest of the rankings involved (a column
        # producer such as an encoder has none of its own)
        n = n_users or min((p.n_users for p in involved if p.n_users), default=None)
        k = min((p.k for p in involved if p.k), default=None) or self.k
        n_items = min((p.n_items for p in involved if p.n_items), default=None)
        if not n or not k:
            return None
        unit = _unit(metric, n, k, n_items)
        if unit is None:
            return None
        entries = ENTRIES * len(kernel)
        factor = t_factor(n_seeds) if n_seeds and segments and re.search(r"_(low|high)$", segments[-1]) else 1.0
        why = (f"{entries} changed list entries of {len(kernel)} kernel-dependent ranking(s) ({fams}) "
               f"in {metric} units (n={n}, k={k})" + (f" × t-bound factor {factor:.3g}" if factor != 1.0 else ""))
        return entries * unit * factor, 0.0, why


# --- the kernel audit: perturb every kernel-dependent computation a little ---------------------
#: environment variable: a relative size ε turns the perturbation on (python -m recutils.regression audit)
AUDIT_ENV = "RECUTILS_KERNEL_AUDIT"


def audit_eps() -> float:
    """ε of a running kernel audit, 0.0 otherwise (an unreadable value is an error, not a silent 0)."""
    import os

    raw = os.environ.get(AUDIT_ENV, "").strip()
    if not raw:
        return 0.0
    try:
        eps = float(raw)
    except ValueError:
        raise ValueError(f"{AUDIT_ENV}={raw!r}: expected a relative perturbation size such as 1e-4") from None
    if not (0.0 <= eps < 1.0):
        raise ValueError(f"{AUDIT_ENV}={raw!r}: expected 0 ≤ ε < 1")
    return eps


def perturb(x, what: str):
    """``x`` itself, or — during a kernel audit (:data:`AUDIT_ENV` = ε) — ``x · (1 + ε·z)`` with
    ``z`` standard normal from a seed derived from ``what``: the stand-in for another CPU's
    summation order, applied where a kernel-dependent model hands over its numbers (ALS and
    Spark factors, SANSA weights, torch weights, text embeddings, the cold-start MLP's output).
    Deterministic, so an audit run is reproducible."""
    eps = audit_eps()
    if not eps:
        return x
    import zlib

    import numpy as np

    arr = np.asarray(x)
    z = np.random.default_rng(zlib.crc32(what.encode())).standard_normal(arr.shape)
    return (arr * (1.0 + eps * z)).astype(arr.dtype, copy=False)
