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
import dataclasses
import json
import math
import sys
import time
import typing

from .constants import K
from .errors import RecutilsError


def _coerce(value: str, ftype):
    """Turn a ``--param`` string into the config field's type."""
    t = ftype if not isinstance(ftype, str) else {"int": int, "float": float, "bool": bool, "str": str}.get(ftype.split(" ")[0], str)
    origin = typing.get_origin(t)
    if origin is typing.Union or str(t).startswith("typing.Optional") or " | " in str(ftype):
        if value.lower() in ("none", "null"):
            return None
        args = [a for a in typing.get_args(t) if a is not type(None)] if origin else [str]
        t = args[0] if args else str
    if t is bool:
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise RecutilsError(f"expected true/false, got {value!r}")
    if t in (int, float, str):
        try:
            return t(value)
        except ValueError:
            raise RecutilsError(f"expected {t.__name__}, got {value!r}") from None
    if typing.get_origin(t) in (tuple, list):
        args = [a for a in typing.get_args(t) if a is not Ellipsis]
        elem = args[0] if args and args[0] in (int, float, str, bool) else str
        items = [_coerce(v.strip(), elem) for v in value.split(",") if v.strip()]
        return list(items) if typing.get_origin(t) is list else tuple(items)
    return value


def _finite(obj):
    """``obj`` with every non-finite float (NaN, ±inf) replaced by ``None`` (JSON ``null``)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def dumps_json(obj) -> str:
    """Strict JSON (never ``NaN`` / ``Infinity``, which JSON does not have): non-finite floats
    become ``null``."""
    return json.dumps(_finite(obj), allow_nan=False)


def parse_params(model_cls, pairs: list[str]) -> dict:
    fields = {f.name: f for f in dataclasses.fields(model_cls.Config)}
    hints = typing.get_type_hints(model_cls.Config)
    out = {}
    for p in pairs:
        if "=" not in p:
            raise RecutilsError(f"--param takes key=value, got {p!r}")
        k, v = p.split("=", 1)
        k = k.strip()
        if k not in fields:
            raise RecutilsError(
                f"model {model_cls.name!r} has no parameter {k!r}; valid: {', '.join(fields) or '(none)'}"
            )
        try:
            out[k] = _coerce(v.strip(), hints.get(k, str))
        except RecutilsError as exc:
            raise RecutilsError(f"model {model_cls.name!r}: {k}: {exc}") from None
    return out


def run(model: str, protocol: str = "study", k: int = K, params: dict | None = None, data_dir=None) -> dict:
    """Fit ``model`` on ``protocol``'s train part and evaluate on its test part."""
    from .datasets import load_ratings
    from .evaluation import evaluate_ranking
    from .models import create
    from .splits import get_protocol

    m = create(model, **(params or {}))  # validates the name and parameters first
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
    from .models import MODELS, get_model_class
    from .splits import PROTOCOLS

    ap = argparse.ArgumentParser(prog="python -m recutils.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help=f"one of: {', '.join(sorted(MODELS))}")
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
            raise RecutilsError(f"unknown protocol {a.protocol!r}; valid protocols: {', '.join(PROTOCOLS)}")
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
