"""One seed of :func:`~recutils.experiments.seeds.multi_seed`: every candidate chosen on the
validation carve-out, refitted and evaluated on test, then the blends on top — in this process
(:func:`run_seed`) or in a worker process (:func:`seed_job`). Evaluated fits of registered
models go through the fit cache when one is given (:mod:`~recutils.experiments.fit_cache`)."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

__all__ = ["run_seed", "seed_job"]


def _scores(model, split) -> np.ndarray:
    return np.asarray(model.score(np.arange(split.n_users)), dtype=np.float64)


def _run_blend(label: str, bc, base, base_params: dict, base_test_model, split, val,
               k: int, metric: str, item_table):
    """Validation choice of α / normalisation for one blend on one split, then its test result
    (:func:`~.blends.tune_blend`; base and content fitted once on each training part)."""
    from ..evaluation import evaluate_ranking
    from .blends import tune_blend

    val = val()
    val_train, train = val.without_test(), split.without_test()
    base_val = base.build(base_params, item_table).fit(val_train)
    content = bc.content().fit(train)
    kernel = "kernel" in (getattr(base_test_model, "determinism", "exact"), getattr(content, "determinism", "exact"))
    tuned = tune_blend(split, val, (_scores(base_val, val), _scores(base_test_model, split)),
                       (_scores(bc.content().fit(val_train), val), _scores(content, split)), bc.alphas, k=k,
                       metric=metric, base_norms=bc.base_norms, name=label, determinism="kernel" if kernel else "exact")
    result = evaluate_ranking(tuned.model, split, k, name=label)
    chosen = {"base": bc.base, "alpha": tuned.choice.alpha, "base_norm": tuned.choice.base_norm}
    return chosen, float(tuned.choice.score), list(tuned.choice.rows), result


def _candidate_items(split):
    cold = getattr(split, "cold_items", None)
    return cold if cold is not None and np.asarray(cold).any() else None


def _evaluated(c, label: str, params: dict, train, test, k: int, item_table, fit_cache, name=None):
    """``(fitted model or None, EvalResult)`` of ``c`` with ``params`` fitted on ``train`` and
    evaluated on ``test``; a :class:`Candidate`'s result comes from ``fit_cache`` when it has it
    (then no model is fitted: None)."""
    from ..evaluation import evaluate_ranking

    cands = _candidate_items(test)
    key = None
    if fit_cache is not None and isinstance(getattr(c, "model", None), str):  # a registered model (Candidate)
        key = fit_cache.key(c.model, params, test, k, cands, item_table)
        hit = fit_cache.load(key)
        if hit is not None:
            return None, dataclasses.replace(hit, model=name or hit.model)
    m = c.build(params, item_table).fit(train)
    result = evaluate_ranking(m, test, k, candidates=cands, **({"name": name} if name else {}))
    if key is not None:
        fit_cache.save(key, result)
    return m, result


@dataclasses.dataclass(frozen=True)
class _Refit:
    """A candidate whose test result came from the fit cache: fitted only if a blend needs it."""

    c: object
    params: dict
    item_table: object
    split: object

    def __call__(self):
        return self.c.build(self.params, self.item_table).fit(self.split.without_test())


def _run_candidate(label: str, c, options: list, split, val, k: int, metric: str, item_table, bar, fit_cache=None):
    """One candidate on one split: its choice on ``val`` (:func:`~.choose.choose_on_validation`),
    then the chosen model refitted on the training part and evaluated on test. Returns the
    fitted model, or — when the result came from ``fit_cache`` — a function that fits it."""
    from .choose import choose_on_validation

    best, score, rows = dict(options[0]), float("nan"), []
    if len(options) > 1 or c.score_alone:
        val = val()
        val_train = val.without_test()

        def on_val(params):
            return c.row(_evaluated(c, label, params, val_train, val, k, item_table, fit_cache)[1], metric)

        choice = choose_on_validation(options, on_val, c.selection_metric(metric),
                                      on_each=lambda _row: bar.update(1) if not c.score_alone else None)
        best, score, rows = {**options[0], **choice.best}, choice.score, choice.rows
    fitted, result = _evaluated(c, label, best, split.without_test(), split, k, item_table, fit_cache, name=label)
    if fitted is None:
        fitted = _Refit(c, dict(best), item_table, split)
    bar.update(1)
    return best, score, rows, fitted, result


def run_seed(protocol, seed: int, candidates, options, blends, k, metric, item_table, fit_cache, bar) -> tuple:
    """Every candidate, then every blend, on one seed's split (see :func:`~.seeds.multi_seed`):
    ``(seed, chosen, validation scores, grid rows, test results)``, the fields of a ``SeedRun``."""
    split = protocol.make_split(seed)
    val = functools.cache(lambda split=split, seed=seed: protocol.validation(split, seed))  # made only when needed
    chosen, val_scores, grids, results, fitted = {}, {}, {}, {}, {}
    for label, c in candidates.items():
        chosen[label], val_scores[label], grids[label], fitted[label], results[label] = _run_candidate(
            label, c, options[label], split, val, k, metric, item_table, bar, fit_cache)
    for label, bc in blends.items():
        base = fitted[bc.base]
        if isinstance(base, _Refit):  # its result came from the fit cache: fitted now, once
            base = fitted[bc.base] = base()
        chosen[label], val_scores[label], grids[label], results[label] = _run_blend(
            label, bc, candidates[bc.base], chosen[bc.base], base, split, val, k, metric, item_table)
        bar.update(1)
    return seed, chosen, val_scores, grids, results


class _Silent:
    def update(self, n: int = 1) -> None:
        pass


def seed_job(*args) -> tuple:
    """:func:`run_seed` in a worker process: its own progress events stay out of the runner's
    stage table and its bars off the terminal (the parent reports each finished job)."""
    import os

    from ..progress import PROGRESS_ENV, no_bars

    os.environ.pop(PROGRESS_ENV, None)
    no_bars()
    return run_seed(*args, _Silent())
