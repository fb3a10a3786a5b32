"""Repeated splits: every model tuned and evaluated per seed, claims checked across seeds.

One random split can crown a model by luck (issue 11: the content blend's +0.0023 P@25 over
EASE-r held on seed 42 only). :func:`multi_seed` runs the same comparison on several splits:

- for each seed, ``make_split(seed)`` builds the split; every candidate model gets the **same
  validation budget** — :func:`~recutils.experiments.tuning.grid_search` over its grid on that
  split's validation carve-out (never test) — and is refitted with the chosen parameters on the
  training part and evaluated on test;
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
(:func:`~recutils.experiments.blends.select_blend`, on score matrices: the base and the content
model are fitted once on the validation training part and once on the training part).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from ..constants import K
from ..errors import RecutilsError

__all__ = ["BlendCandidate", "Candidate", "SeedRun", "MultiSeedResult", "PooledComparison", "multi_seed", "t_interval"]


@dataclass(frozen=True)
class Candidate:
    """A model in a comparison: its registry name, the grid searched on validation (``{}``:
    defaults, still scored on validation) and fixed parameters."""

    model: str
    grid: Mapping[str, Sequence] = field(default_factory=dict)
    fixed: Mapping[str, object] = field(default_factory=dict)


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
        return max(self.labels, key=lambda lab: np.mean([r.validation[lab] for r in self.runs]))

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


def _scores(model, split) -> np.ndarray:
    return np.asarray(model.score(np.arange(split.n_users)), dtype=np.float64)


def _run_blend(label: str, bc: BlendCandidate, base: Candidate, base_params: dict, base_test_model, split, k: int,
               metric: str, item_table):
    """Validation choice of α / normalisation for one blend on one split, then its test result."""
    from ..evaluation import evaluate_ranking
    from ..models import create
    from ..models.hybrid import ScoreMatrix, blend_scores_all
    from ..splits import validation_split
    from .blends import select_blend

    val = validation_split(split)
    val_train, train = val.without_test(), split.without_test()
    base_val = create(base.model, item_table=item_table, **base_params).fit(val_train)
    choice = select_blend(val, _scores(base_val, val), _scores(bc.content().fit(val_train), val), bc.alphas, k=k,
                          metric=metric, base_norms=tuple(bc.base_norms))
    content = bc.content().fit(train)
    S = blend_scores_all(split, _scores(base_test_model, split), _scores(content, split), choice.alpha, choice.base_norm)
    kernel = "kernel" in (getattr(base_test_model, "determinism", "exact"), getattr(content, "determinism", "exact"))
    result = evaluate_ranking(ScoreMatrix(S, label, "kernel" if kernel else "exact").fit(train), split, k, name=label)
    chosen = {"base": bc.base, "alpha": choice.alpha, "base_norm": choice.base_norm}
    return chosen, float(choice.score), list(choice.rows), result


def multi_seed(make_split: Callable[[int], object], seeds: Sequence[int], candidates: Mapping[str, Candidate],
               k: int = K, metric: str = "ndcg", item_table=None, progress: bool = False,
               blends: Mapping[str, BlendCandidate] | None = None) -> MultiSeedResult:
    """Tune (on validation) and evaluate (on test) every candidate on ``make_split(seed)`` for
    each seed. Every candidate is scored on validation even with an empty grid, so each gets the
    same treatment and its validation score is recorded. ``blends`` (label → BlendCandidate) are
    built on top of the candidates named by their ``base``, after them, on the same split."""
    from ..evaluation import evaluate_ranking
    from ..models import create
    from ..progress import task
    from .tuning import grid_search

    seeds = [int(s) for s in seeds]
    blends = dict(blends or {})
    if not seeds or len(set(seeds)) != len(seeds):
        raise RecutilsError(f"seeds must be a non-empty list of distinct integers, got {seeds}")
    if not candidates:
        raise RecutilsError("no candidate models")
    for label, bc in blends.items():
        if bc.base not in candidates:
            raise RecutilsError(f"blend {label!r}: base {bc.base!r} is not a candidate; candidates: "
                                f"{', '.join(candidates)}")
        if label in candidates:
            raise RecutilsError(f"blend {label!r} has the label of a candidate")
        if not len(bc.alphas) or not len(bc.base_norms):
            raise RecutilsError(f"blend {label!r}: alphas and base_norms must not be empty")
    runs = []
    n_fits = len(seeds) * (len(candidates) + len(blends))
    with task(f"{len(seeds)} seeds × {len(candidates) + len(blends)} models", total=n_fits,
              unit="fits", show=progress) as bar:
        for seed in seeds:
            split = make_split(seed)
            chosen, val, grids, results, fitted = {}, {}, {}, {}, {}
            for label, c in candidates.items():
                grid = {key: list(v) for key, v in c.grid.items()}
                best, rows = grid_search(c.model, split, grid, k=k, metric=metric, fixed=dict(c.fixed),
                                         item_table=item_table)
                params = {**dict(c.fixed), **best}
                chosen[label], grids[label] = params, rows
                val[label] = max(r[metric] for r in rows)
                fitted[label] = create(c.model, item_table=item_table, **params).fit(split.without_test())
                results[label] = evaluate_ranking(fitted[label], split, k, name=label)
                bar.update(1)
            for label, bc in blends.items():
                chosen[label], val[label], grids[label], results[label] = _run_blend(
                    label, bc, candidates[bc.base], chosen[bc.base], fitted[bc.base], split, k, metric, item_table)
                bar.update(1)
            runs.append(SeedRun(seed, chosen, val, grids, results))
    return MultiSeedResult(runs, k, metric)
