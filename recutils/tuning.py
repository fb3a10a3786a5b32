"""Hyper-parameter selection on the validation carve-out (never on test).

    python -m recutils.tuning --model ease --grid lambda_=100,200,500,1000
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys

from .constants import K
from .errors import RecutilsError


def grid_search(model: str, split, grid: dict[str, list], k: int = K, metric: str = "ndcg",
                fixed: dict | None = None) -> tuple[dict, list[dict]]:
    """Fit ``model`` for every combination in ``grid`` on ``validation_split(split)``'s train part
    and score on its validation part. Returns ``(best_params, rows)``; ties keep the first."""
    from .evaluation import evaluate_ranking
    from .models import create
    from .splits import validation_split

    val = validation_split(split)
    keys = list(grid)
    rows = []
    for combo in itertools.product(*(grid[k_] for k_ in keys)):
        params = {**(fixed or {}), **dict(zip(keys, combo))}
        m = create(model, **params).fit(val.without_test())
        r = evaluate_ranking(m, val, k)
        rows.append({**params, **{x: r.metrics[x] for x in ("precision", "recall", "ndcg", "map")}})
    if not rows:
        raise RecutilsError("empty grid")
    best = max(rows, key=lambda r: r[metric])
    return {k_: best[k_] for k_ in keys}, rows


def main(argv=None) -> int:
    from .datasets import load_ratings
    from .evaluate import parse_params
    from .models import get_model_class
    from .splits import get_protocol

    ap = argparse.ArgumentParser(prog="python -m recutils.tuning", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--protocol", default="study")
    ap.add_argument("--grid", action="append", required=True, metavar="KEY=V1,V2,…")
    ap.add_argument("--metric", default="ndcg", choices=["precision", "recall", "ndcg", "map"])
    ap.add_argument("--k", type=int, default=K)
    a = ap.parse_args(argv)
    try:
        cls = get_model_class(a.model)
        grid = {}
        for g in a.grid:
            key, _, vals = g.partition("=")
            grid[key] = [parse_params(cls, [f"{key}={v}"])[key] for v in vals.split(",") if v]
        split = get_protocol(a.protocol, load_ratings())
        best, rows = grid_search(a.model, split, grid, a.k, a.metric)
    except RecutilsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for r in rows:
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}))
    print(f"best on validation ({a.metric}@{a.k}): {json.dumps(best)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
