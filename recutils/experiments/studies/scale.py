"""The study behind notebook 07 (scale): the same models from ml-latest-small to 32M ratings.

What the notebook would otherwise hold in loops:

- :func:`load_data_sets`, :func:`shape_rows`, :func:`concentration_rows`: the (synthetic or
  real) data sets and how they look;
- :func:`batched_equals_unbatched`, :func:`memory_rows`: evaluation in user batches (float32)
  against everyone at once (float64), and what each needs in memory;
- :func:`compare_engines`: implicit's ALS and Spark's ALS (any :class:`Engine`) on every data
  set — each chosen on validation (:func:`~recutils.experiments.tuning.grid_search`, i.e.
  :func:`~recutils.experiments.choose.choose_on_validation`), refitted and timed, evaluated on
  sampled users, with paired bootstrap intervals;
- :func:`matched_variants`, :func:`matched_regularisation`: the matched-regularisation rows of
  §3b on the last data set, and their paired intervals;
- :func:`ease_variants`, :func:`fit_measured`, :func:`compare_ease`: full EASE, pruned EASE and
  SANSA, each fit timed and its allocation peak measured;
- :class:`SparkEngine`: the Spark master (local, a cluster, or a loopback cluster started here)
  and its shutdown;
- :func:`ci_fields`: the fields of a paired interval a ``metrics.json`` keeps.
"""

from __future__ import annotations

import time
import tracemalloc
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ...evaluation import PairedCI, evaluate_ranking, paired_bootstrap_ci
from ..experiment import ExperimentResult
from ..tuning import grid_search, in_workers

__all__ = ["RELEASES", "EngineComparison", "Engine", "EaseComparison", "MatchedComparison", "MatchedVariant",
           "SparkEngine", "batched_equals_unbatched", "ci_fields", "compare_ease", "compare_engines",
           "concentration_rows", "ease_variants", "fit_measured", "load_data_sets", "matched_regularisation",
           "matched_variants", "memory_rows", "sample_users", "shape_rows", "stored_floats", "BatchCheck"]

#: (name, users, items) of the releases whose memory needs the notebook spells out
RELEASES = (("ml-latest-small", 610, 9742), ("ml-25m", 162541, 59047), ("ml-32m", 200948, 87585))


# --- §1 the data ---------------------------------------------------------------------------------
def load_data_sets(sizes: Sequence[int], seed: int, dataset: str = "", data_dir=None) -> dict[str, pd.DataFrame]:
    """``{label: ratings}``: the release ``dataset`` from ``data_dir`` (one set), or a synthetic set
    of each size in ``sizes`` (users and movies in MovieLens proportions, generated with ``seed``)."""
    from ...datasets import load_ratings
    from ...datasets.synth import default_shape, generate

    if dataset:
        return {dataset: load_ratings(data_dir, dataset=dataset)}
    return {f"synthetic {size:,}": generate(size, *default_shape(size), seed)[0] for size in sizes}


def shape_rows(data_sets: Mapping[str, pd.DataFrame]) -> list[dict]:
    """Per data set: ratings, users, movies, density and the share of ratings ≥ 4."""
    rows = []
    for label, r in data_sets.items():
        n_users, n_items = r["userId"].nunique(), r["movieId"].nunique()
        rows.append({"data": label, "ratings": len(r), "users": int(n_users), "movies": int(n_items),
                     "density": round(len(r) / (n_users * n_items), 5),
                     "share rated >= 4": round(float((r["rating"] >= 4).mean()), 3)})
    return rows


def concentration_rows(reference: pd.DataFrame, data_sets: Mapping[str, pd.DataFrame],
                       reference_label: str = "ml-latest-small") -> list[dict]:
    """:func:`~recutils.datasets.synth.concentration` of ``reference`` and of every data set."""
    from ...datasets.synth import concentration

    return [{"data": reference_label, **concentration(reference)}] + [
        {"data": label, **concentration(r)} for label, r in data_sets.items()]


# --- §2 batched evaluation -----------------------------------------------------------------------
@dataclass(frozen=True)
class BatchCheck:
    identical_topk: bool
    n_users: int
    max_metric_difference: float
    batch_size: int

    @property
    def n_batches(self) -> int:
        return -(-self.n_users // self.batch_size)

    def as_dict(self) -> dict:
        return {"identical_topk": self.identical_topk, "n_users": self.n_users,
                "max_metric_difference": self.max_metric_difference}


def batched_equals_unbatched(model, split, k: int, batch_size: int = 64) -> BatchCheck:
    """``model`` (fitted on ``split``) evaluated on every evaluable user at once in float64 and in
    batches of ``batch_size`` users in float32: are the top-k lists identical, and how far apart
    are the metrics?"""
    n = len(split.evaluable_users())
    at_once = evaluate_ranking(model, split, k=k, batch_size=n, dtype=np.float64)
    batched = evaluate_ranking(model, split, k=k, batch_size=batch_size, dtype=np.float32)
    diff = max(abs(at_once.metrics[m] - batched.metrics[m]) for m in at_once.metrics)
    return BatchCheck(bool((at_once.topk == batched.topk).all()), n, diff, batch_size)


def memory_rows(batch_size: int, releases=RELEASES) -> list[dict]:
    """Per release: the dense users × items scores at once (float64) and one batch (float32), GiB."""
    return [{"data": name, "users x items": f"{u:,} x {i:,}",
             "all users at once, float64 (GiB)": round(u * i * 8 / 2**30, 1),
             f"one batch of {batch_size}, float32 (GiB)": round(batch_size * i * 4 / 2**30, 2)}
            for name, u, i in releases]


def sample_users(split, eval_users: int, seed: int) -> np.ndarray:
    """The evaluable users, or ``eval_users`` of them drawn with ``seed`` (sorted); 0: all."""
    users = split.evaluable_users()
    if eval_users and len(users) > eval_users:
        users = np.sort(np.random.default_rng(seed).choice(users, eval_users, replace=False))
    return users


def ci_fields(cis, *fields: str):
    """``{field: value}`` of a paired interval (``significant`` included when named), or the same
    mapping with every interval in it (at any depth) replaced so — what ``metrics.json`` keeps."""
    if isinstance(cis, PairedCI):
        return {f: getattr(cis, f) for f in fields}
    return {key: ci_fields(value, *fields) for key, value in cis.items()}


# --- §3 implicit's ALS vs Spark's ALS -------------------------------------------------------------
class SparkEngine:
    """The Spark master the ALS runs use: ``spark_master`` as given, or with ``"local-cluster"`` a
    master and 2 workers started on 127.0.0.1 (:func:`~recutils.models.spark_cluster.local_cluster`).
    :meth:`close` stops the loopback cluster (if any) and Spark's session, removing its folders."""

    def __init__(self, spark_master: str, workers: int = 2, cores_per_worker: int = 1):
        self._stack = ExitStack()
        self.master = spark_master
        if spark_master == "local-cluster":
            from ...models.spark_cluster import local_cluster

            self.master = self._stack.enter_context(local_cluster(workers=workers,
                                                                  cores_per_worker=cores_per_worker)).url

    def close(self) -> None:
        from ...models.spark_als import shutdown

        self._stack.close()  # the loopback cluster, if this run started one
        shutdown()  # Spark's folders go now, not whenever the kernel is shut down


@dataclass(frozen=True)
class Engine:
    """A registered ALS model, its regularisation grid (chosen on validation) and its own fixed
    parameters (threads, the Spark master)."""

    name: str
    grid: Sequence[float]
    extra: Mapping[str, object] = field(default_factory=dict)


@dataclass
class EngineComparison:
    rows: list  #: per data set and engine: the chosen λ, users and P / R / NDCG
    times: list  #: per data set and engine: fit, evaluation and split seconds
    pairs: dict  #: data set → {metric: PairedCI of minus[0] − minus[1]}
    results: dict  #: data set → {engine: EvalResult}
    split: object  #: the last data set's split
    users: np.ndarray  #: ... and its evaluated users

    @property
    def label(self) -> str:
        """The last data set (the one §3b and §4 look at)."""
        return list(self.results)[-1]

    def chosen(self, label: str) -> dict:
        """``{engine: λ}`` chosen on validation for data set ``label``."""
        return {r["model"]: r["regularization"] for r in self.rows if r["data"] == label}

    def fit_seconds(self, label: str) -> dict:
        return {t["model"]: t["fit_seconds"] for t in self.times if t["data"] == label}


def _fit_timed(name: str, params: dict, split):
    from ...models import create

    t0 = time.perf_counter()
    model = create(name, **params).fit(split)
    return model, time.perf_counter() - t0


def _evaluate_timed(model, split, k: int, users, batch_size: int):
    t0 = time.perf_counter()
    res = evaluate_ranking(model, split, k=k, users=users, batch_size=batch_size, dtype=np.float32)
    return res, time.perf_counter() - t0


def compare_engines(data_sets: Mapping[str, pd.DataFrame], engines: Sequence[Engine], fixed: Mapping, k: int,
                    eval_users: int, seed: int, batch_size: int, n_boot: int,
                    minus: tuple[str, str] = ("spark_als", "als"),
                    metrics: Sequence[str] = ("precision", "ndcg")) -> EngineComparison:
    """On each data set's study split: every engine's λ chosen on validation (NDCG@k), refitted on
    the split with ``fixed`` (timed), evaluated on :func:`sample_users` (float32, timed); then the
    paired bootstrap of ``minus[0] − minus[1]`` on ``metrics``."""
    from ...splits import study_split

    rows, times, pairs, results = [], [], {}, {}
    split = users = None
    for label, r in data_sets.items():
        t0 = time.perf_counter()
        split = study_split(r)
        split_s = time.perf_counter() - t0
        users = sample_users(split, eval_users, seed)
        res = {}
        for e in engines:
            params = {**fixed, **e.extra}
            chosen = grid_search(e.name, split, {"regularization": list(e.grid)}, k=k, fixed=params)
            model, fit_s = _fit_timed(e.name, {**params, **chosen.best}, split)
            res[e.name], eval_s = _evaluate_timed(model, split, k, users, batch_size)
            rows.append({"data": label, "model": e.name, "regularization": chosen.best["regularization"],
                         "n_users": res[e.name].metrics["n_users"],
                         **{m: res[e.name].metrics[m] for m in ("precision", "recall", "ndcg")}})
            times.append({"data": label, "model": e.name, "fit_seconds": fit_s, "eval_seconds": eval_s,
                          "split_seconds": split_s})
            del model
        results[label] = res
        a, b = minus
        pairs[label] = {m: paired_bootstrap_ci(res[a].per_user[m], res[b].per_user[m], n_boot=n_boot, rng=seed)
                        for m in metrics}
    return EngineComparison(rows, times, pairs, results, split, users)


# --- §3b matched regularisation -------------------------------------------------------------------
@dataclass(frozen=True)
class MatchedVariant:
    """A row of §3b: the registered ``family``, its λ grid (one value: taken as is, not chosen)
    and its fixed parameters beyond the shared ones."""

    name: str
    family: str
    grid: Sequence[float]
    extra: Mapping[str, object] = field(default_factory=dict)


def matched_variants(spark_lambda: float, wr_grid: Sequence[float], flat_grid: Sequence[float]) -> list[MatchedVariant]:
    """§3b's four rows: Spark's objective at Spark's λ, ALS-WR on / off on their wide grids, and
    implicit on the wide flat grid."""
    return [MatchedVariant("exact_als_wr", "exact_als", [spark_lambda], {"weighted_regularization": True}),
            MatchedVariant("als_wr_on", "exact_als", list(wr_grid), {"weighted_regularization": True}),
            MatchedVariant("als_wr_off", "exact_als", list(flat_grid), {"weighted_regularization": False}),
            MatchedVariant("implicit_tuned", "als", list(flat_grid), {"num_threads": 1})]


@dataclass
class MatchedComparison:
    label: str  #: the data set
    rows: list  #: model, λ, fit seconds, users, P / R / NDCG
    results: dict  #: model → EvalResult (§3's two first)
    cis: dict  #: "a vs b" → {metric: PairedCI of a − b}

    @property
    def new_results(self) -> dict:
        """The results this comparison produced (not §3's)."""
        return {r["model"]: self.results[r["model"]] for r in self.rows[2:]}


def matched_regularisation(als: EngineComparison, variants: Sequence[MatchedVariant], fixed: Mapping, k: int,
                           batch_size: int, pairs: Sequence[str], n_boot: int, seed: int,
                           metrics: Sequence[str] = ("precision", "ndcg"),
                           reused: Sequence[str] = ("spark_als", "als"), workers: int = 1) -> MatchedComparison:
    """On ``als``'s last data set: §3's ``reused`` results next to each variant (λ chosen on
    validation when its grid has several values, its points in ``workers`` processes), each
    fitted on the split (timed; with ``workers`` > 1 the fits too run in that many processes,
    each at one thread) and evaluated in this process on §3's users; then the paired bootstrap
    of every ``"a vs b"`` in ``pairs``."""
    label, split = als.label, als.split
    chosen, secs = als.chosen(label), als.fit_seconds(label)
    results = {m: als.results[label][m] for m in reused}
    rows = [{"model": m, "regularization": chosen[m], "fit_seconds": secs[m]} for m in reused]
    fits = []
    for v in variants:
        params = {**fixed, **v.extra}
        lam = (grid_search(v.family, split, {"regularization": list(v.grid)}, k=k, fixed=params,
                           workers=workers).best["regularization"] if len(v.grid) > 1 else v.grid[0])
        fits.append((v, lam, {**params, "regularization": lam}))
    # in workers: the models pin one BLAS thread (exact_als) or get num_threads=1
    fitted = in_workers(_fit_timed, [(v.family, params, split) for v, _, params in fits], workers)
    for (v, lam, _), (model, fit_s) in zip(fits, fitted):
        results[v.name] = evaluate_ranking(model, split, k=k, users=als.users, batch_size=batch_size,
                                           dtype=np.float32)
        rows.append({"model": v.name, "regularization": lam, "fit_seconds": fit_s})
        del model
    for row in rows:
        row.update({"n_users": results[row["model"]].metrics["n_users"],
                    **{m: results[row["model"]].metrics[m] for m in ("precision", "recall", "ndcg")}})
    cis = {}
    for pair in pairs:
        a, b = pair.split(" vs ")
        cis[pair] = {m: paired_bootstrap_ci(results[a].per_user[m], results[b].per_user[m], n_boot=n_boot, rng=seed)
                     for m in metrics}
    return MatchedComparison(label, rows, results, cis)


# --- §4 EASE: full, pruned, SANSA -----------------------------------------------------------------
def ease_variants(split, ease_lambda: float, max_items: int, sansa_density: float, use_sansa: bool,
                  budget_gib: float = 8.0) -> tuple[dict, str, list[str]]:
    """``(variants, reference, notes)``: label → (model, parameters) for full EASE (only where it
    fits ``budget_gib``), EASE pruned to ``max_items`` and SANSA (when asked for and installed);
    the reference label (full EASE, else the pruned one); what was left out and why."""
    from ...models.baselines import ease_memory_gib

    full = "EASE (all items)"
    variants = {f"EASE (top {max_items} items)": ("ease", {"lambda_": ease_lambda, "max_items": max_items})}
    notes = []
    need = min(ease_memory_gib(split.n_users, split.n_items).values())
    if need <= budget_gib:  # full EASE only where it fits the default budget (not at ml-25m / ml-32m)
        variants = {full: ("ease", {"lambda_": ease_lambda}), **variants}
    else:
        notes.append(f"full EASE needs {need:.0f} GiB for {split.n_items:,} movies: left out; "
                     "the pruned EASE is the reference")
        full = next(iter(variants))
    if use_sansa:
        try:
            import sansa  # noqa: F401 (optional: requirements-sansa.txt)

            variants[f"SANSA (density {sansa_density})"] = ("sansa", {"lambda_": ease_lambda, "density": sansa_density})
        except ImportError:
            notes.append("sansa is not installed (requirements-sansa.txt): its row is left out")
    return variants, full, notes


def fit_measured(name: str, params: Mapping, split):
    """``(model, seconds, peak bytes)``: ``name`` fitted on ``split``, timed, with the peak of
    Python's allocations during the fit (``tracemalloc``)."""
    from ...models import create

    tracemalloc.start()
    t0 = time.perf_counter()
    model = create(name, **params).fit(split)
    secs = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return model, secs, peak


def stored_floats(model, name: str) -> int:
    """What a fitted ``name`` model keeps: SANSA's sparse weights, EASE's B (items path) or its
    users × items scores (Woodbury)."""
    if name == "sansa":
        return int(model.n_weights)
    return int(model.B_.size if model.B_ is not None else model.scores_.size)


@dataclass
class EaseComparison:
    rows: list  #: model, stored floats, allocation peak (MiB), fit seconds, P / NDCG
    results: ExperimentResult  #: label → EvalResult (``.paired(reference, …)``)


def compare_ease(split, variants: Mapping[str, tuple[str, Mapping]], users, k: int, batch_size: int) -> EaseComparison:
    """Every variant fitted on ``split`` (:func:`fit_measured`) and evaluated on ``users`` (float32)."""
    results, rows = {}, []
    for label, (name, params) in variants.items():
        model, secs, peak = fit_measured(name, params, split)
        results[label] = evaluate_ranking(model, split, k=k, users=users, batch_size=batch_size, dtype=np.float32)
        rows.append({"model": label, "stored_floats": stored_floats(model, name), "peak_alloc_mib": peak / 2**20,
                     "fit_seconds": secs, **{m: results[label].metrics[m] for m in ("precision", "ndcg")}})
        del model
    return EaseComparison(rows, ExperimentResult(results, split, k))
