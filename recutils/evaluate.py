"""Evaluate any registered model on any protocol from the command line.

    python -m recutils.evaluate --model ease --protocol study --k 25
    python -m recutils.evaluate --model pmf --protocol study --format json
    python -m recutils.evaluate --model itemknn --param n_neighbors=50 --param shrinkage=0

Prints a table (or, with ``--format json``, one JSON object with at least ``precision``,
``recall``, ``ndcg``, ``n_users``, ``fit_seconds``, ``eval_seconds``). Unknown models,
protocols or parameters give a clear error listing the valid names; a parameter value outside
its allowed range (e.g. ``lambda_=-5``, ``nan``) is a one-line error too (exit status 2).
"""

from __future__ import annotations

import argparse
import sys
import time

from .constants import K
from .errors import RecutilsError
from .io import dumps_json
from .config import parse_params

__all__ = ["dumps_json", "format_table", "main", "parse_params", "run"]  # parse_params: see models.config


def run(model: str, protocol: str = "study", k: int = K, params: dict | None = None, data_dir=None) -> dict:
    """Fit ``model`` on ``protocol``'s train part and evaluate on its test part."""
    from .datasets import load_ratings
    from .evaluation import evaluate_ranking
    from .models import create
    from .splits import get_protocol

    from .datasets import movie_table
    from .models import get_model_class

    item_table = movie_table(data_dir) if get_model_class(model).needs_item_table else None
    m = create(model, item_table=item_table, **(params or {}))  # validates the name and parameters first
    split = get_protocol(protocol, load_ratings(data_dir))
    t0 = time.perf_counter()
    m.fit(split.without_test())
    fit_s = time.perf_counter() - t0
    cands = split.cold_items if split.cold_items.any() else None
    res = evaluate_ranking(m, split, k, candidates=cands)
    out = {"model": model, "protocol": protocol, "k": k, **res.metrics,
           "fit_seconds": round(fit_s, 3), "eval_seconds": round(res.eval_seconds, 3),
           "config": m.config_dict()}
    return out


def format_table(r: dict) -> str:
    keys = ["precision", "recall", "ndcg", "map", "hit_rate", "coverage", "ndcg_study"]
    k = r["k"]
    head = f"{r['model']} on {r['protocol']} protocol, {r['n_users']} users"
    rows = [f"{m + '@' + str(k):<16}{r[m]:.4f}" for m in keys if m in r]
    rows.append(f"{'fit_seconds':<16}{r['fit_seconds']:.3f}")
    rows.append(f"{'eval_seconds':<16}{r['eval_seconds']:.3f}")
    return "\n".join([head, "-" * len(head), *rows])


def main(argv=None) -> int:
    from .models import available, get_model_class
    from .splits import PROTOCOLS, get_protocol

    ap = argparse.ArgumentParser(prog="python -m recutils.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help=f"one of: {', '.join(available())}")
    ap.add_argument("--protocol", default="study", help=f"one of: {', '.join(PROTOCOLS)} (default: study)")
    ap.add_argument("--k", type=int, default=K, help=f"cut-off (default {K})")
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="override a model config field")
    ap.add_argument("--format", choices=["table", "json"], default="table")
    ap.add_argument("--data-dir", default=None)
    a = ap.parse_args(argv)
    try:
        if a.k <= 0:
            raise RecutilsError(f"--k must be a positive integer, got {a.k}")
        if a.protocol not in PROTOCOLS:
            get_protocol(a.protocol, None)  # raises the one-line error naming the valid protocols
        cls = get_model_class(a.model)
        params = parse_params(cls, a.param)
        r = run(a.model, a.protocol, a.k, params, a.data_dir)
    except RecutilsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(dumps_json(r) if a.format == "json" else format_table(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
