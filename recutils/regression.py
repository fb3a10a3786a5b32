"""Regression references for the notebooks' recorded numbers, compared with stated tolerances.

Every notebook writes ``metrics.json``. ``make golden`` stores the smoke run's copy as
``tests/golden/NN_name.metrics.json`` (the *reference*); the notebook regression test
re-executes the golden notebook and compares the fresh ``metrics.json`` with the reference,
leaf by leaf, under the rules of ``tests/golden/tolerances.yaml`` (the one place where every
tolerance is stated and justified):

- a nested ``metrics.json`` is flattened to ``NN_name:path/to/leaf`` keys; a list of row dicts
  is keyed by each row's label (its string fields, e.g. ``[EASE (λ=300)]``) when those are
  unique, else by position (``[3]``);
- strings, booleans and ``null`` must be equal; numbers must agree within the first rule whose
  pattern (``*`` any text, ``?`` one character, the rest literal) matches the key, else within the default (exact for integers, 1e-6 for
  floats: closed-form models);
- a rule with ``ignore: true`` skips keys that are not results (timings, cache state);
- a key present on one side only is a failure (regenerate the reference on purpose).

``python -m recutils.regression spread DIR ...`` prints the largest difference of every
numeric leaf across several runs' ``metrics.json`` (one folder per run): how the tolerances in
``tolerances.yaml`` were measured across instruction sets and thread counts.
"""

from __future__ import annotations

import argparse
import functools
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import RecutilsError

#: float tolerance when no rule matches: closed-form and deterministic computations
DEFAULT_FLOAT_ABS = 1e-6
#: integer tolerance when no rule matches: counts and sizes are exact
DEFAULT_INT_ABS = 0


@functools.lru_cache(maxsize=1024)
def _pattern(glob: str) -> re.Pattern:
    """``*`` any text, ``?`` one character, everything else literal (row labels hold brackets)."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob), re.DOTALL)


@dataclass(frozen=True)
class Rule:
    """One tolerance rule: keys matching ``match`` (``*`` / ``?`` wildcards) compare within ``abs`` (+ ``rel``
    × |reference|), or are skipped when ``ignore``."""

    match: str
    abs: float = 0.0
    rel: float = 0.0
    ignore: bool = False
    why: str = ""

    def matches(self, key: str) -> bool:
        return _pattern(self.match).fullmatch(key) is not None

    def allows(self, ref: float, new: float) -> bool:
        return abs(new - ref) <= self.abs + self.rel * abs(ref)


@dataclass(frozen=True)
class Tolerances:
    """An ordered list of rules (first match wins) and the defaults."""

    rules: tuple[Rule, ...] = ()
    float_abs: float = DEFAULT_FLOAT_ABS
    int_abs: float = DEFAULT_INT_ABS

    def rule_for(self, key: str) -> Rule | None:
        for r in self.rules:
            if r.matches(key):
                return r
        return None


def load_tolerances(path: str | Path) -> Tolerances:
    """Read a ``tolerances.yaml``: ``default: {float: .., int: ..}`` and ``rules: [{match, abs,
    rel, ignore, why}]``; every rule must say ``why``."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RecutilsError(f"cannot read tolerances {path}: {exc}") from None
    default = data.get("default", {}) or {}
    rules = []
    for i, r in enumerate(data.get("rules", []) or []):
        unknown = set(r) - {"match", "abs", "rel", "ignore", "why"}
        if "match" not in r or unknown or not str(r.get("why", "")).strip():
            raise RecutilsError(f"{path}: rule {i + 1} needs 'match' and 'why' (and only abs/rel/ignore besides), got {r}")
        rules.append(Rule(str(r["match"]), float(r.get("abs", 0.0)), float(r.get("rel", 0.0)),
                          bool(r.get("ignore", False)), str(r["why"]).strip()))
    return Tolerances(tuple(rules), float(default.get("float", DEFAULT_FLOAT_ABS)),
                      float(default.get("int", DEFAULT_INT_ABS)))


def _row_labels(rows: list) -> list[str] | None:
    """``[label]`` keys for a list of row dicts (their string fields), None if not unique."""
    if not rows or not all(isinstance(r, dict) for r in rows):
        return None
    labels = [" | ".join(str(v) for v in r.values() if isinstance(v, str)) for r in rows]
    if any(not lab for lab in labels) or len(set(labels)) != len(labels):
        return None
    return labels


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of a JSON value keyed by path (``a/b/[label]/c``)."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        if not obj and prefix:
            out[prefix] = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}/{k}" if prefix else str(k)))
    elif isinstance(obj, list):
        labels = _row_labels(obj)
        if not obj and prefix:
            out[prefix] = []
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}/[{labels[i] if labels else i}]"))
    else:
        out[prefix] = obj
    return out


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def compare(reference: dict, actual: dict, tolerances: Tolerances, name: str = "") -> list[str]:
    """Differences between two ``metrics.json`` values beyond their tolerances (empty: pass).

    ``name`` prefixes every key (``NAME:path``) so that rules can target one notebook."""
    pre = f"{name}:" if name else ""
    ref = {pre + k: v for k, v in flatten(reference).items()}
    new = {pre + k: v for k, v in flatten(actual).items()}
    problems = []
    for key in sorted(set(ref) | set(new), key=lambda k: (k not in ref, k)):
        rule = tolerances.rule_for(key)
        if rule is not None and rule.ignore:
            continue
        if key not in new:
            problems.append(f"{key}: missing from the new metrics.json (reference: {ref[key]!r})")
            continue
        if key not in ref:
            problems.append(f"{key}: not in the reference (new: {new[key]!r}); regenerate it with `make golden`")
            continue
        a, b = ref[key], new[key]
        if _is_number(a) and _is_number(b):
            if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
                continue
            if rule is None:
                is_int = isinstance(a, int) and isinstance(b, int)
                rule = Rule("(default)", tolerances.int_abs if is_int else tolerances.float_abs,
                            why="default: exact integers, closed-form floats")
            if not (math.isfinite(a) and math.isfinite(b)):
                ok = a == b
            else:
                ok = rule.allows(float(a), float(b))
            if not ok:
                tol = f"±{rule.abs:g}" + (f" + {rule.rel:g}·|ref|" if rule.rel else "")
                problems.append(f"{key}: {b!r} differs from the reference {a!r} by {b - a:+.3g} "
                                f"(tolerance {tol}, rule {rule.match!r})")
        elif a != b or type(a) is not type(b):
            problems.append(f"{key}: {b!r} != reference {a!r}")
    return problems


def spread(runs: list[dict], name: str = "") -> dict[str, float]:
    """The largest absolute difference of each numeric leaf across several runs."""
    pre = f"{name}:" if name else ""
    flats = [{pre + k: v for k, v in flatten(r).items()} for r in runs]
    keys = sorted(set().union(*flats)) if flats else []
    out = {}
    for k in keys:
        vals = [f[k] for f in flats if _is_number(f.get(k)) and math.isfinite(f[k])]
        if len(vals) == len(flats) and vals:
            out[k] = float(max(vals) - min(vals))
    return out


def main(argv=None) -> int:
    from .io import read_json

    ap = argparse.ArgumentParser(prog="python -m recutils.regression", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("spread", help="largest difference of every number across runs")
    p.add_argument("runs", nargs="+", help="folders holding NN_name/metrics.json (one per run)")
    p.add_argument("--all", action="store_true", help="also list leaves that did not move")
    p.add_argument("--tolerances", default=None, help="tolerances.yaml: show the rule and flag leaves beyond it")
    p = sub.add_parser("compare", help="compare one metrics.json with a reference")
    p.add_argument("reference")
    p.add_argument("actual")
    p.add_argument("--name", default="", help="notebook name (NN_name) for the rules")
    p.add_argument("--tolerances", required=True)
    a = ap.parse_args(argv)
    try:
        if a.cmd == "compare":
            tol = load_tolerances(a.tolerances)
            probs = compare(read_json(Path(a.reference)), read_json(Path(a.actual)), tol, a.name)
            for pr in probs:
                print(pr)
            print(f"{len(probs)} difference(s) beyond tolerance")
            return 1 if probs else 0
        tol = load_tolerances(a.tolerances) if a.tolerances else None
        names = sorted({p.parent.name for d in a.runs for p in Path(d).glob("*/metrics.json")})
        if not names:
            raise RecutilsError(f"no */metrics.json under {', '.join(a.runs)}")
        beyond = 0
        for name in names:
            runs = [read_json(Path(d) / name / "metrics.json") for d in a.runs if (Path(d) / name / "metrics.json").is_file()]
            print(f"## {name}: {len(runs)} runs")
            for key, s in spread(runs, name).items():
                if s == 0 and not a.all:
                    continue
                line = f"{s:10.3g}  {key}"
                if tol is not None:
                    r = tol.rule_for(key)
                    if r is not None and r.ignore:
                        continue  # timings and the like: not results
                    limit = r.abs if r is not None else tol.float_abs
                    flag = "" if s <= limit else "  BEYOND"
                    beyond += bool(flag)
                    line += f"   (tolerance ±{limit:g}){flag}"
                print(line)
        return 1 if beyond else 0
    except (RecutilsError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
