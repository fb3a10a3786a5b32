"""Evaluate any registered model on any protocol from the command line.

    python -m recutils.evaluate --model ease --protocol study --k 25
    python -m recutils.evaluate --model pmf --protocol study --format json
    python -m recutils.evaluate --model itemknn --param n_neighbors=50 --param shrinkage=0
    python -m recutils.evaluate --model ease_r --seeds 42,7,123,2024,31337 --baseline ease

Prints a table (or, with ``--format json``, one JSON object with at least ``precision``,
``recall``, ``ndcg``, ``n_users``, ``fit_seconds``, ``eval_seconds`` and the beyond-accuracy
metrics the notebooks show: ``mrr``, ``avg_popularity``, ``popularity_gini`` (exposure Gini),
``novelty`` and ``ild_genre`` (genre diversity)). Unknown models,
protocols or parameters give a clear error listing the valid names; a parameter value outside
its allowed range (e.g. ``lambda_=-5``, ``nan``) is a one-line error too (exit status 2).

``--seeds`` repeats the evaluation on one split per seed of a seeded protocol (study,
per-user-last, cold-item) and reports each metric's mean with a Student-t 95 % interval across
seeds and the per-seed values. ``--baseline MODEL`` (its default configuration) is evaluated on
the same splits, and the per-user difference is bootstrapped pooled over seeds: "holds" means
the interval excludes zero and every seed agrees in sign (``recutils.experiments.seeds``).
Parameters here are given, not tuned; notebooks 01 and 05 tune every model per seed on
validation.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .constants import K
from .errors import RecutilsError
from .io import dumps_json
from .config import check_k, parse_params

__all__ = ["dumps_json", "format_seeds_table", "format_table", "main", "parse_params", "parse_seeds", "run",
           "run_seeds"]  # parse_params: see models.config


def run(model: str, protocol: str = "study", k: int = K, params: dict | None = None, data_dir=None,
        policy=None) -> dict:
    """Fit ``model`` on ``protocol``'s train part and evaluate on its test part."""
    from .datasets import load_ratings
    from .evaluation import evaluate_ranking
    from .models import create
    from .splits import get_protocol

    from .datasets import movie_table
    from .models import get_model_class

    item_table = movie_table(data_dir) if get_model_class(model).needs_item_table else None
    m = create(model, item_table=item_table, **(params or {}))  # validates the name and parameters first
    split = get_protocol(protocol, load_ratings(data_dir, policy=policy))
    t0 = time.perf_counter()
    m.fit(split.without_test())
    fit_s = time.perf_counter() - t0
    cands = split.cold_items if split.cold_items.any() else None
    res = evaluate_ranking(m, split, k, candidates=cands)
    out = {"model": model, "protocol": protocol, "k": k, **res.metrics,
           **beyond(res, split, data_dir, cands),
           "fit_seconds": round(fit_s, 3), "eval_seconds": round(res.eval_seconds, 3),
           "config": m.config_dict()}
    return out


#: the beyond-accuracy metrics ``run`` adds (recutils.evaluation.beyond; the notebooks show the same)
BEYOND = ("mrr", "avg_popularity", "popularity_gini", "novelty", "ild_genre")


def beyond(res, split, data_dir=None, candidates=None) -> dict:
    """MRR@k, average popularity, exposure Gini, novelty and genre intra-list diversity of the
    evaluated top-k lists (genre diversity only where the movie table can be read)."""
    from .datasets import load_movies
    from .evaluation.beyond import beyond_accuracy, genre_matrix, metrics_by_k

    try:
        genres = genre_matrix(load_movies(data_dir), split.items)
    except (RecutilsError, OSError):
        genres = None  # a data set without movies.csv: no genre diversity
    rel = split.relevant()
    if candidates is not None:
        rel = rel.multiply(np.asarray(candidates, bool)[None, :].astype(float)).tocsr()
    b = beyond_accuracy(res.topk, split.train_binary, genres=genres, candidates=candidates)
    b.pop("coverage", None)  # already among the ranking metrics
    return {"mrr": float(metrics_by_k(res.topk, rel[res.users], [res.k])["mrr"][0]), **b}


def parse_seeds(text: str) -> list[int]:
    """``"42,7,123"`` → ``[42, 7, 123]``; anything else (empty, not integers, repeats) is a one-line error."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        seeds = [int(p) for p in parts]
    except ValueError:
        raise RecutilsError(f"--seeds must be comma-separated integers, e.g. 42,7,123; got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise RecutilsError(f"--seeds must list distinct integers, e.g. 42,7,123; got {text!r}")
    return seeds


SEED_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "coverage")


def run_seeds(model: str, seeds, protocol: str = "study", k: int = K, params: dict | None = None,
              baseline: str | None = None, data_dir=None, n_boot: int = 2000, policy=None) -> dict:
    """``model`` (and ``baseline``) fitted and evaluated on one ``protocol`` split per seed: the
    per-seed metrics, their mean and t-interval across seeds, and the pooled paired bootstrap of
    model − baseline."""
    from .datasets import load_ratings, movie_table
    from .experiments.seeds import Scorer, SplitProtocol, multi_seed, t_interval
    from .models import create, get_model_class
    from .splits import get_protocol

    seeds = [int(s) for s in seeds]
    specs = {model: (model, dict(params or {}))}  # label → (registry name, parameters)
    if baseline is not None:
        if baseline == model and not params:
            raise RecutilsError("--baseline is the same model with the same parameters; nothing to compare")
        specs[f"{baseline} (baseline)" if baseline == model else baseline] = (baseline, {})
    labels = list(specs)
    needs = any(get_model_class(m).needs_item_table for m, _ in specs.values())
    item_table = movie_table(data_dir) if needs else None
    for m, p in specs.values():
        create(m, item_table=item_table, **p)  # validates names and parameters before any fitting
    ratings = load_ratings(data_dir, policy=policy)
    scorers = {lab: Scorer(lambda m=m, **p: create(m, item_table=item_table, **p), (dict(p),))
               for lab, (m, p) in specs.items()}  # one parameter set each: nothing is chosen
    res = multi_seed(SplitProtocol(lambda seed: get_protocol(protocol, ratings, seed), name=f"{protocol} splits"),
                     seeds, scorers, k=k)
    runs = res.runs
    per_seed = [{"seed": r.seed, **{lab: {x: float(r.results[lab].metrics[x]) for x in SEED_METRICS
                                          if x in r.results[lab].metrics} for lab in labels}} for r in runs]
    summary = {}
    for lab in labels:
        summary[lab] = {}
        for x in SEED_METRICS:
            vals = [row[lab][x] for row in per_seed if x in row[lab]]
            if len(vals) == len(seeds):
                mean, lo, hi = t_interval(vals)
                summary[lab][x] = {"mean": mean, "low": lo, "high": hi}
    out = {"model": model, "protocol": protocol, "k": k, "seeds": seeds, "n_users": [int(r.results[model].metrics["n_users"]) for r in runs],
           "across_seeds": summary, "per_seed": per_seed, "config": create(model, item_table=item_table, **(params or {})).config_dict()}
    if baseline is not None:
        out["comparison"] = []
        for x in ("precision", "ndcg"):
            c = res.compare(labels[0], labels[1], x, n_boot=n_boot)
            out["comparison"].append({"a": c.a, "b": c.b, "metric": f"{x}@{k}", "mean_diff": c.mean_diff,
                                      "low": c.low, "high": c.high, "per_seed": list(c.per_seed), "holds": c.holds,
                                      "n_pairs": c.n_pairs})
    return out


def format_seeds_table(r: dict) -> str:
    k = r["k"]
    head = (f"{r['model']} on {r['protocol']} protocol, {len(r['seeds'])} seeds ({', '.join(map(str, r['seeds']))}): "
            f"mean [95 % t-interval across seeds]")
    lines = [head, "-" * len(head)]
    for lab, metrics in r["across_seeds"].items():
        lines.append(lab)
        for x, v in metrics.items():
            per = "  ".join(f"{row[lab][x]:.4f}" for row in r["per_seed"])
            lines.append(f"  {x + '@' + str(k):<14}{v['mean']:.4f} [{v['low']:.4f}, {v['high']:.4f}]   per seed: {per}")
    for c in r.get("comparison", []):
        per = ", ".join(f"{d:+.4f}" for d in c["per_seed"])
        verdict = "holds across seeds" if c["holds"] else "does not hold across seeds"
        lines.append(f"{c['a']} − {c['b']} {c['metric']}: {c['mean_diff']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}] "
                     f"(paired bootstrap pooled over seeds; per seed {per}): {verdict}")
    return "\n".join(lines)


def format_table(r: dict) -> str:
    keys = ["precision", "recall", "ndcg", "map", "hit_rate", "coverage", *BEYOND, "ndcg_study"]
    k = r["k"]
    head = f"{r['model']} on {r['protocol']} protocol, {r['n_users']} users"
    rows = [f"{m + '@' + str(k) if m not in BEYOND[1:] else m:<18}{r[m]:.4f}" for m in keys if m in r]
    rows.append(f"{'fit_seconds':<18}{r['fit_seconds']:.3f}")
    rows.append(f"{'eval_seconds':<18}{r['eval_seconds']:.3f}")
    return "\n".join([head, "-" * len(head), *rows])


def main(argv=None) -> int:
    from .datasets.validate import add_arguments as add_data_arguments
    from .datasets.validate import policy_from_args
    from .models import available, get_model_class
    from .splits import PROTOCOLS, SEEDED_PROTOCOLS, get_protocol

    ap = argparse.ArgumentParser(prog="python -m recutils.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help=f"one of: {', '.join(available())}")
    ap.add_argument("--protocol", default="study", help=f"one of: {', '.join(PROTOCOLS)} (default: study)")
    ap.add_argument("--k", type=int, default=K, help=f"cut-off (default {K})")
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="override a model config field")
    ap.add_argument("--format", choices=["table", "json"], default="table")
    ap.add_argument("--data-dir", default=None)
    add_data_arguments(ap)
    ap.add_argument("--seeds", default=None, metavar="S1,S2,...",
                    help="one split per seed (study, per-user-last, cold-item); mean and t-interval across seeds")
    ap.add_argument("--baseline", default=None, metavar="MODEL",
                    help="with --seeds: also evaluate MODEL (defaults) and bootstrap the difference pooled over seeds")
    a = ap.parse_args(argv)
    try:
        check_k(a.k, "--k")
        if a.protocol not in PROTOCOLS:
            get_protocol(a.protocol, None)  # raises the one-line error naming the valid protocols
        cls = get_model_class(a.model)
        params = parse_params(cls, a.param)
        policy = policy_from_args(a)
        if a.baseline is not None and a.seeds is None:
            raise RecutilsError("--baseline needs --seeds (e.g. --seeds 42,7,123)")
        if a.seeds is not None:
            seeds = parse_seeds(a.seeds)
            if a.baseline is not None:
                get_model_class(a.baseline)  # unknown name: the one-line error listing the models
            if a.protocol not in SEEDED_PROTOCOLS:
                get_protocol(a.protocol, None, seeds[0])  # the one-line error: no seed for this protocol
            r = run_seeds(a.model, seeds, a.protocol, a.k, params, a.baseline, a.data_dir, policy=policy)
        else:
            r = run(a.model, a.protocol, a.k, params, a.data_dir, policy)
    except RecutilsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if a.seeds is not None:
        print(dumps_json(r) if a.format == "json" else format_seeds_table(r))
        return 0
    print(dumps_json(r) if a.format == "json" else format_table(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
