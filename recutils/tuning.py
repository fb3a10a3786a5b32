"""``python -m recutils.tuning``: hyper-parameter selection on the validation carve-out (never on
test), from the command line; the search itself is :func:`recutils.experiments.grid_search`.

    python -m recutils.tuning --model ease --grid lambda_=100,200,500,1000

Every grid value is checked against the model's config constraints before anything is fitted;
a bad value (``lambda_=-5``, ``nan``, an unknown parameter) is a one-line error (exit status 2).
"""

from __future__ import annotations

import argparse
import sys

from .constants import K
from .errors import RecutilsError
from .experiments.tuning import grid_search

__all__ = ["grid_search", "main"]  # grid_search lives in recutils.experiments.tuning


def main(argv=None) -> int:
    from .datasets import load_ratings, movie_table
    from .io import dumps_json
    from .config import check_k, parse_params
    from .models import check_params, get_model_class
    from .splits import PROTOCOLS, get_protocol

    ap = argparse.ArgumentParser(prog="python -m recutils.tuning", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--protocol", default="study")
    ap.add_argument("--grid", action="append", required=True, metavar="KEY=V1,V2,…")
    ap.add_argument("--metric", default="ndcg", choices=["precision", "recall", "ndcg", "map"])
    ap.add_argument("--k", type=int, default=K)
    a = ap.parse_args(argv)
    try:
        check_k(a.k, "--k")
        if a.protocol not in PROTOCOLS:
            raise RecutilsError(f"unknown protocol {a.protocol!r}; valid protocols: {', '.join(PROTOCOLS)}")
        cls = get_model_class(a.model)
        grid = {}
        for g in a.grid:
            key, eq, vals = g.partition("=")
            key = key.strip()
            if not eq or not key:
                raise RecutilsError(f"--grid takes key=v1,v2,…, got {g!r}")
            if key in grid:
                raise RecutilsError(f"--grid {key} given twice")
            grid[key] = [parse_params(cls, [f"{key}={v.strip()}"])[key] for v in vals.split(",") if v.strip()]
            if not grid[key]:
                raise RecutilsError(f"--grid {key}= lists no values")
            for v in grid[key]:  # each value on its own, so the error names the bad one
                check_params(a.model, **{key: v})
        split = get_protocol(a.protocol, load_ratings())
        item_table = movie_table() if cls.needs_item_table else None
        best, rows = grid_search(a.model, split, grid, a.k, a.metric, item_table=item_table)
    except RecutilsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for r in rows:
        print(dumps_json({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}))
    print(f"best on validation ({a.metric}@{a.k}): {dumps_json(best)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
