"""Repeated splits: every model tuned and evaluated per seed, claims checked across seeds.

One random split can crown a model by luck (issue 11: the content blend's +0.0023 P@25 over
EASE-r held on seed 42 only). :func:`multi_seed` runs the same comparison on several splits:

- for each seed, ``make_split(seed)`` builds the split (warm or cold-item: a
  :class:`SplitProtocol` says how its validation carve-out is made); every candidate — a
  :class:`Candidate` (registered model + grid) or a :class:`Scorer` (any factory + parameter
  sets) — gets the **same validation budget**: :func:`~recutils.experiments.choose.choose_on_validation`
  over its options on that split's validation carve-out (never test), then it is refitted with
  the chosen parameters on the training part and evaluated on test;
- :meth:`MultiSeedResult.table`: per model, the mean test metric over seeds with a Student-t
  interval across seeds, the per-seed values, and the mean validation score;
- :meth:`MultiSeedResult.compare`: a paired per-user bootstrap **pooled over seeds** (users are
  resampled within each seed, so every seed keeps its weight), plus the per-seed differences;
  ``holds`` is true only when the pooled interval excludes zero **and** every seed's difference
  has the same sign — the rule for writing "A beats B";
- :meth:`MultiSeedResult.best_on_validation`: the model called best is the one with the best
  mean *validation* score, never the best test row.

A :class:`BlendCandidate` is a CF + content blend on top of another candidate of the same run:
on each seed its base keeps the parameters chosen for that candidate, and the blend weight α
and the base normalisation are chosen on the same validation carve-out
(:func:`~recutils.experiments.blends.tune_blend`, on score matrices: the base and the content
model are fitted once on the validation training part and once on the training part).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from ..constants import K
from ..errors import RecutilsError
from .fit_cache import FitCache

__all__ = ["BlendCandidate", "Candidate", "Scorer", "SplitProtocol", "SeedRun", "MultiSeedResult", "PooledComparison", "multi_seed", "t_interval"]


@dataclass(frozen=True)
class Candidate:
    """A registered model in a comparison: its registry name, the grid searched on validation
    (``{}``: defaults, still scored on validation) and fixed parameters. Validation rows hold
    the parameters and P/R/NDCG/MAP@k."""

    model: str
    grid: Mapping[str, Sequence] = field(default_factory=dict)
    fixed: Mapping[str, object] = field(default_factory=dict)

    score_alone = True  #: a single option is still scored on validation

    def options(self) -> list[dict]:
        from ..models import check_params
        from .choose import expand_grid

        opts = expand_grid({key: list(v) for key, v in self.grid.items()}, self.fixed)
        for params in opts:  # every config first: a bad value fails before anything is fitted
            check_params(self.model, **params)
        return opts

    def build(self, params: dict, item_table=None):
        from ..models import create

        return create(self.model, item_table=item_table, **params)

    def row(self, result, metric: str) -> dict:
        return {x: result.metrics[x] for x in ("precision", "recall", "ndcg", "map")}

    def selection_metric(self, metric: str) -> str:
        return metric


@dataclass(frozen=True)
class Scorer:
    """Any scorer in a comparison: ``make(**params)`` builds an unfitted model and ``grid``
    lists the parameter sets tried on validation. One set: nothing to choose, so it is not
    scored there and its validation score is NaN. Validation rows hold the parameters and
    ``val_<metric>``."""

    make: Callable[..., object]
    grid: tuple = ({},)

    score_alone = False

    def options(self) -> list[dict]:
        if not len(self.grid):
            raise RecutilsError("a Scorer needs at least one parameter set")
        return [dict(p) for p in self.grid]

    def build(self, params: dict, item_table=None):
        return self.make(**params)

    def row(self, result, metric: str) -> dict:
        return {f"val_{metric}": float(result.metrics[metric])}

    def selection_metric(self, metric: str) -> str:
        return f"val_{metric}"


@dataclass(frozen=True)
class BlendCandidate:
    """``α·norm(base) + (1 − α)·minmax(content)`` on top of the candidate labelled ``base``.

    ``content`` builds an unfitted content model (e.g. ``lambda: Content(embeddings=e)``; it is
    fitted on each training part it is used with); ``alphas`` and ``base_norms`` are searched on
    validation — one α and one normalisation fix the blend (the study's α = 0.85)."""

    base: str
    content: Callable[[], object]
    alphas: Sequence[float]
    base_norms: Sequence[str] = ("all", "candidates")


@dataclass
class SeedRun:
    seed: int
    chosen: dict  #: label → the parameters chosen on validation
    validation: dict  #: label → validation score of the chosen parameters (the selection metric)
    grids: dict  #: label → every grid row (parameters + validation metrics)
    results: dict  #: label → EvalResult on test


def t_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval of ``values`` (the seeds are the sample); with one value the
    bounds are NaN (one seed says nothing about the spread)."""
    from scipy import stats

    v = np.asarray(values, float)
    m = float(v.mean())
    if len(v) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return m, m - half, m + half


@dataclass(frozen=True)
class PooledComparison:
    a: str
    b: str
    metric: str
    mean_diff: float  #: mean over all (seed, user) pairs of a − b
    low: float
    high: float
    per_seed: tuple  #: mean difference on each seed, in seed order
    n_pairs: int
    n_boot: int

    @property
    def holds(self) -> bool:
        """"a beats b" (or loses) on the pooled interval and on every seed alike."""
        d = np.asarray(self.per_seed)
        return bool((self.low > 0 and (d > 0).all()) or (self.high < 0 and (d < 0).all()))

    def as_dict(self) -> dict:
        """The fields and ``holds``, for ``metrics.json``."""
        return {**asdict(self), "holds": self.holds}

    def __str__(self) -> str:
        seeds = ", ".join(f"{x:+.4f}" for x in self.per_seed)
        return (f"{self.a} − {self.b} ({self.metric}): {self.mean_diff:+.4f} [{self.low:+.4f}, {self.high:+.4f}] "
                f"pooled over seeds; per seed {seeds}; {'holds' if self.holds else 'does not hold'} across seeds")


@dataclass
class MultiSeedResult:
    runs: list  #: SeedRun per seed, in order
    k: int
    metric: str  #: the selection metric (validation)

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.runs]

    @property
    def labels(self) -> list[str]:
        return list(self.runs[0].results) if self.runs else []

    def table(self, metrics: Sequence[str] = ("precision", "recall", "ndcg"), level: float = 0.95) -> list[dict]:
        """One row per model: mean test metric over seeds with its t-interval, the per-seed
        values, and the mean validation score that chose it."""
        rows = []
        for label in self.labels:
            row = {"model": label, "n_seeds": len(self.runs),
                   f"validation_{self.metric}@{self.k}": float(np.mean([r.validation[label] for r in self.runs]))}
            for m in metrics:
                vals = [r.results[label].metrics[m] for r in self.runs]
                mean, lo, hi = t_interval(vals, level)
                row[f"{m}@{self.k}"] = mean
                row[f"{m}@{self.k}_low"] = lo
                row[f"{m}@{self.k}_high"] = hi
                row[f"{m}@{self.k}_per_seed"] = [float(v) for v in vals]
            rows.append(row)
        return rows

    def plot(self, metric: str = "precision", ax=None, title: str | None = None, wrap: int = 22):
        """Per model: each seed's test value (grey) and the mean with its t-interval (blue);
        returns the figure."""
        import textwrap

        import matplotlib.pyplot as plt

        rows = self.table((metric,))
        key = f"{metric}@{self.k}"
        if ax is None:
            _, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(rows)), 4.2))
        for i, row in enumerate(rows):
            per = row[f"{key}_per_seed"]
            ax.scatter(np.full(len(per), i) + np.linspace(-0.15, 0.15, len(per)), per, s=12, color="grey", zorder=3)
            mean, lo, hi = row[key], row[f"{key}_low"], row[f"{key}_high"]
            ax.errorbar(i, mean, yerr=[[mean - lo], [hi - mean]] if np.isfinite(lo) else None, fmt="o", color="C0",
                        capsize=4, zorder=4)
        ax.set_xticks(range(len(rows)), [textwrap.fill(r["model"], wrap) for r in rows], fontsize=8)
        ax.set_ylabel(key)
        ax.set_title(title or f"{len(self.runs)} seeds: each seed (grey), mean and t-interval (blue)")
        ax.figure.tight_layout()
        return ax.figure

    def best_on_validation(self) -> str:
        """The label with the highest mean validation score (first on ties)."""
        if not self.runs:
            raise RecutilsError("no seeds were run")
        from .choose import best_label

        return best_label({lab: float(np.mean([r.validation[lab] for r in self.runs])) for lab in self.labels},
                          self.metric)

    def compare(self, a: str, b: str, metric: str = "precision", n_boot: int = 2000, level: float = 0.95,
                rng: np.random.Generator | int | None = 0) -> PooledComparison:
        """Paired per-user bootstrap of ``a − b`` pooled over seeds (users resampled within each
        seed; NaN users dropped pairwise)."""
        for lab in (a, b):
            if lab not in self.labels:
                raise RecutilsError(f"unknown model {lab!r}; models: {', '.join(self.labels)}")
        rng = np.random.default_rng(rng)
        diffs = []
        for r in self.runs:
            ra, rb = r.results[a], r.results[b]
            if not np.array_equal(ra.users, rb.users):
                raise RecutilsError(f"seed {r.seed}: {a} and {b} were evaluated on different users")
            d = np.asarray(ra.per_user[metric], float) - np.asarray(rb.per_user[metric], float)
            diffs.append(d[~np.isnan(d)])
        n = np.array([len(d) for d in diffs])
        if (n == 0).any():
            raise RecutilsError("a seed has no user with a value for both models")
        total = np.zeros(n_boot)
        for d in diffs:  # sum of each seed's resampled differences
            for s in range(0, n_boot, 256):
                e = min(n_boot, s + 256)
                total[s:e] += d[rng.integers(0, len(d), size=(e - s, len(d)))].sum(axis=1)
        means = total / n.sum()
        alpha = (1 - level) / 2
        lo, hi = np.quantile(means, [alpha, 1 - alpha])
        pooled = float(np.concatenate(diffs).mean())
        return PooledComparison(a, b, metric, pooled, float(lo), float(hi),
                                tuple(float(d.mean()) for d in diffs), int(n.sum()), n_boot)


@dataclass(frozen=True)
class SplitProtocol:
    """How a seed becomes a test split and its validation split.

    ``make_split(seed)``: the split evaluated on test; ``make_validation(split, seed)``: the
    carve-out of its training part every choice is made on (default:
    :func:`~recutils.splits.validation_split`). On a split with cold items (the cold-item
    protocol) only those are ranked, on test and on validation alike."""

    make_split: Callable[[int], object]
    make_validation: Callable[[object, int], object] | None = None
    name: str = "splits"

    def validation(self, split, seed: int):
        from ..splits import validation_split

        return validation_split(split) if self.make_validation is None else self.make_validation(split, seed)


def _tagged(seed: int, gi: int, protocol, *args) -> tuple:
    """A worker job: one seed, one group of candidates (``args``: :func:`run_seed`'s after the seed)."""
    from .seed_run import seed_job

    return seed, gi, seed_job(protocol, seed, *args)


def _groups(groups, candidates: Mapping, blends: Mapping) -> list[tuple[list, list]]:
    """``[(candidate labels, blend labels)]``: ``groups`` checked (each candidate in exactly one;
    a blend joins its base's group); None: one group of everything."""
    if groups is None:
        return [(list(candidates), list(blends))]
    groups = [list(g) for g in groups]
    flat = [lab for g in groups for lab in g]
    unknown = sorted(set(flat) - set(candidates))
    missing = [lab for lab in candidates if lab not in flat]
    if unknown or missing or len(flat) != len(set(flat)) or not all(groups):
        raise RecutilsError(f"groups must list every candidate exactly once in non-empty groups "
                            f"(unknown: {unknown}, missing: {missing})")
    return [([lab for lab in candidates if lab in g], [b for b, bc in blends.items() if bc.base in g]) for g in groups]


def multi_seed(make_split, seeds: Sequence[int], candidates: Mapping[str, object], k: int = K, metric: str = "ndcg",
               item_table=None, progress: bool = False, blends: Mapping[str, BlendCandidate] | None = None,
               make_validation: Callable[[object, int], object] | None = None, workers: int = 1,
               on_run: Callable[[MultiSeedResult], None] | None = None, fit_cache=None,
               groups: Sequence[Sequence[str]] | None = None) -> MultiSeedResult:
    """The one repeated-split runner, for the warm and the cold protocols.

    For each seed: ``make_split(seed)`` (or a :class:`SplitProtocol`) builds the split and its
    validation carve-out (``make_validation(split, seed)``; default
    :func:`~recutils.splits.validation_split`); every candidate — a :class:`Candidate` (a
    registered model and its grid) or a :class:`Scorer` (any factory and its parameter sets) —
    is chosen on validation with :func:`~.choose.choose_on_validation`, refitted on the
    training part and evaluated on test (on a split with cold items, ranking only those).
    ``blends`` (label → BlendCandidate) are built on top of the candidates named by their
    ``base``, after them, on the same split.

    ``workers`` > 1 runs the seeds in that many worker processes (joblib's loky backend; the
    candidates, split protocol and data are sent to them with cloudpickle). Every seed is
    computed as in one process — its own split, validation carve-out and fits — and the runs are
    kept in the order of ``seeds``, so the result does not depend on ``workers``
    (``tests/test_multi_seed_workers.py``). ``on_run(result so far)`` is called after each seed.
    ``groups`` (lists of candidate labels, together every candidate once; blends go with their
    base) splits each seed into that many jobs — so that two workers are busy to the end (list
    the most expensive group first); the runs are the same.

    ``fit_cache`` (a :class:`~.fit_cache.FitCache`, its directory, or True:
    ``$RECUTILS_CACHE_DIR/fits``): every validation point
    and final fit of a :class:`Candidate` is read from it when another run (another notebook)
    already evaluated the same model and parameters on the same data, and stored otherwise —
    the same numbers, computed once (:mod:`~recutils.experiments.fit_cache`).
    """
    from ..progress import task
    from .seed_run import run_seed

    protocol = make_split if isinstance(make_split, SplitProtocol) else SplitProtocol(make_split, make_validation)
    seeds = [int(s) for s in seeds]
    blends = dict(blends or {})
    if not seeds or len(set(seeds)) != len(seeds):
        raise RecutilsError(f"seeds must be a non-empty list of distinct integers, got {seeds}")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise RecutilsError(f"workers must be an integer ≥ 1, got {workers!r}")
    if not candidates:
        raise RecutilsError("no candidate models")
    for label, c in candidates.items():
        if not isinstance(c, (Candidate, Scorer)):
            raise RecutilsError(f"candidate {label!r} must be a Candidate or a Scorer, got {type(c).__name__}")
    options = {label: c.options() for label, c in candidates.items()}  # a bad grid fails before any split is built
    for label, bc in blends.items():
        if bc.base not in candidates:
            raise RecutilsError(f"blend {label!r}: base {bc.base!r} is not a candidate; candidates: "
                                f"{', '.join(candidates)}")
        if not isinstance(candidates[bc.base], Candidate):
            raise RecutilsError(f"blend {label!r}: its base must be a Candidate (a registered model)")
        if label in candidates:
            raise RecutilsError(f"blend {label!r} has the label of a candidate")
        if not len(bc.alphas) or not len(bc.base_norms):
            raise RecutilsError(f"blend {label!r}: alphas and base_norms must not be empty")
    if fit_cache is True:
        fit_cache = FitCache.default()
    elif fit_cache is False:
        fit_cache = None
    elif fit_cache is not None and not isinstance(fit_cache, FitCache):
        fit_cache = FitCache(fit_cache)
    if fit_cache is not None and not FitCache.enabled():
        fit_cache = None
    parts = _groups(groups, candidates, blends)
    fits = [sum(1 + (0 if candidates[lab].score_alone else len(options[lab]) * (len(options[lab]) > 1))
                for lab in labs) + len(bls) for labs, bls in parts]

    def args(gi):
        labs, bls = parts[gi]
        return ({lab: candidates[lab] for lab in labs}, {lab: options[lab] for lab in labs},
                {lab: blends[lab] for lab in bls}, k, metric, item_table, fit_cache)

    order = list(candidates) + list(blends)
    runs, done_parts = [], {seed: {} for seed in seeds}

    def finished(seed, gi, fields):
        done_parts[seed][gi] = fields
        if len(done_parts[seed]) < len(parts):
            return
        merged = []
        for i in range(1, 5):  # chosen, validation, grids, results: in the candidates' order
            field_ = {}
            for f in done_parts[seed].values():
                field_.update(f[i])
            merged.append({lab: field_[lab] for lab in order})
        runs.append(SeedRun(seed, *merged))
        runs.sort(key=lambda r: seeds.index(r.seed))
        if on_run is not None:
            on_run(MultiSeedResult(list(runs), k, metric))

    with task(f"{len(seeds)} {protocol.name} × {len(candidates) + len(blends)} models",
              total=len(seeds) * sum(fits), unit="fits", show=progress) as bar:
        if workers == 1:
            for seed in seeds:
                for gi in range(len(parts)):
                    finished(seed, gi, run_seed(protocol, seed, *args(gi), bar))
        else:
            from joblib import Parallel, delayed

            jobs = [(seed, gi) for gi in range(len(parts)) for seed in seeds]  # the first (largest) group first
            out = Parallel(n_jobs=min(workers, len(jobs)), backend="loky", return_as="generator_unordered")(
                delayed(_tagged)(seed, gi, protocol, *args(gi)) for seed, gi in jobs)
            for seed, gi, fields in out:
                bar.update(fits[gi])
                finished(seed, gi, fields)
    return MultiSeedResult(runs, k, metric)
