"""Regression references for the notebooks' recorded numbers, compared with stated tolerances.

Every notebook writes ``metrics.json``. ``make golden`` stores the smoke run's copy as
``tests/golden/NN_name.metrics.json`` (the *reference*); the notebook regression test
re-executes the golden notebook and compares the fresh ``metrics.json`` with the reference,
leaf by leaf:

- a nested ``metrics.json`` is flattened to ``NN_name:path/to/leaf`` keys; a list of row dicts
  is keyed by each row's label (its string fields, e.g. ``[EASE (λ=300)]``) when those are
  unique, else by position (``[3]``);
- strings, booleans and ``null`` must be equal; a key present on one side only is a failure;
- a number's tolerance follows from **what produced it** (:mod:`recutils.provenance`): the
  reference's ``provenance`` section names, per row label, the producing model families and
  whether their results depend on CPU kernels (implicit / Spark ALS, torch, ONNX Runtime,
  SANSA), with the number of evaluated users. A number whose path or row names a
  kernel-dependent producer may move by **two changed list entries** per such producer,
  converted into the metric's own units (:data:`recutils.provenance.UNITS`); everything else
  is exact (1e-6 for floats: closed-form models; integers exact);
- the rules of ``tests/golden/tolerances.yaml`` come first, for the exceptions only (timings
  are ignored; a few measured bounds), each with its ``why``.

The golden comparison belongs to the notebook tooling; ``python -m recutils.regression`` (a thin
entry point) runs this module's command line. ``python -m recutils.regression spread DIR ...`` prints the largest difference of every numeric
leaf across several runs' ``metrics.json``; ``python -m recutils.regression audit NN`` re-runs a
smoke notebook with every kernel-dependent computation perturbed and lists every number that
moved while it is checked exactly (:mod:`recutils.notebooks.audit`).
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

from ..errors import RecutilsError
from ..provenance import Provenance

#: float tolerance when nothing else applies: closed-form and deterministic computations
DEFAULT_FLOAT_ABS = 1e-6
#: integer tolerance when nothing else applies: counts and sizes are exact
DEFAULT_INT_ABS = 0


@functools.lru_cache(maxsize=1024)
def _pattern(glob: str) -> re.Pattern:
    """``*`` any text, ``?`` one character, everything else literal (row labels hold brackets)."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob), re.DOTALL)


@dataclass(frozen=True)
class Rule:
    """One tolerance: keys matching ``match`` (``*`` / ``?`` wildcards) compare within ``abs`` (+ ``rel``
    × |reference|), or are skipped when ``ignore``."""

    match: str
    abs: float = 0.0
    rel: float = 0.0
    ignore: bool = False
    why: str = ""

    def matches(self, key: str) -> bool:
        return _pattern(self.match).fullmatch(key) is not None

    def allows(self, ref: float, new: float) -> bool:
        return abs(new - ref) <= self.limit(ref)

    def limit(self, ref: float) -> float:
        return self.abs + self.rel * abs(ref)


@dataclass(frozen=True)
class Tolerances:
    """An ordered list of exception rules (first match wins) and the exact defaults."""

    rules: tuple[Rule, ...] = ()
    float_abs: float = DEFAULT_FLOAT_ABS
    int_abs: float = DEFAULT_INT_ABS

    def rule_for(self, key: str) -> Rule | None:
        for r in self.rules:
            if r.matches(key):
                return r
        return None

    def default(self, is_int: bool) -> Rule:
        return Rule("(default)", self.int_abs if is_int else self.float_abs, why="default: exact integers, closed-form floats")


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


@dataclass(frozen=True)
class Context:
    """Where a leaf sits: its path segments, the string fields of the dicts that hold it (a row
    keyed by position still names its model), the nearest ``n_users`` / ``n`` above it and the
    ``n_seeds`` of its own dict (a t-interval over seeds)."""

    segments: tuple[str, ...] = ()
    strings: tuple[str, ...] = ()
    n_users: int | None = None
    n_seeds: int | None = None


def _walk(obj: Any, prefix: str, ctx: Context, out: dict[str, tuple[Any, Context]], row: bool = False) -> None:
    """``row``: ``obj`` is an element of a list, whose string fields label everything in it."""
    if isinstance(obj, dict):
        if not obj and prefix:
            out[prefix] = ({}, ctx)
        own = tuple(v for v in obj.values() if isinstance(v, str))
        inherited = ctx.strings + own if row else ctx.strings
        n = obj.get("n_users", obj.get("n_queries", obj.get("n")))
        n_users = int(n) if isinstance(n, int) and not isinstance(n, bool) and n > 0 else ctx.n_users
        s = obj.get("n_seeds")
        n_seeds = int(s) if isinstance(s, int) and not isinstance(s, bool) else None
        for k, v in obj.items():
            key = f"{prefix}/{k}" if prefix else str(k)
            if isinstance(v, list) and not any(isinstance(x, (dict, list)) for x in v):
                # a list of numbers is one field: labelled by its row's strings too
                _walk(v, key, Context(ctx.segments + (str(k),), inherited + own, n_users, n_seeds), out)
            elif isinstance(v, (dict, list)):
                _walk(v, key, Context(ctx.segments + (str(k),), inherited, n_users, n_seeds), out)
            else:  # a field: labelled by its own row's strings too
                out[key] = (v, Context(ctx.segments + (str(k),), inherited + own, n_users, n_seeds))
    elif isinstance(obj, list):
        labels = _row_labels(obj)
        if not obj and prefix:
            out[prefix] = ([], ctx)
        for i, v in enumerate(obj):
            seg = f"[{labels[i] if labels else i}]"
            _walk(v, f"{prefix}/{seg}", Context(ctx.segments + (seg,), ctx.strings, ctx.n_users, ctx.n_seeds), out, row=True)
    else:
        out[prefix] = (obj, ctx)


def flatten_with_context(obj: Any) -> dict[str, tuple[Any, Context]]:
    """Leaves of a JSON value keyed by path (``a/b/[label]/c``), each with its :class:`Context`."""
    out: dict[str, tuple[Any, Context]] = {}
    _walk(obj, "", Context(), out)
    return out


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of a JSON value keyed by path (``a/b/[label]/c``)."""
    flat = {k: v for k, (v, _) in flatten_with_context(obj).items()}
    return {f"{prefix}/{k}" if prefix else k: v for k, v in flat.items()}


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Checker:
    """The tolerance of every key of one reference: an exception rule, else the provenance
    rule, else the exact default."""

    def __init__(self, reference: dict, tolerances: Tolerances, name: str = ""):
        self.tolerances = tolerances
        self.pre = f"{name}:" if name else ""
        self.provenance = Provenance.from_metrics(reference)

    def rule(self, key: str, ctx: Context, ref_value, exception: Rule | None = None, looked_up: bool = False) -> Rule:
        """The rule that decides ``key`` (``key`` without the ``NAME:`` prefix); ``looked_up``:
        ``exception`` is already the key's exception rule (or None), no second pattern search."""
        rule = exception if looked_up else self.tolerances.rule_for(self.pre + key)
        if rule is not None:
            return rule
        if self.provenance is not None:
            found = self.provenance.tolerance(ctx.segments, ctx.strings, ctx.n_users, ctx.n_seeds)
            if found is not None:
                abs_tol, rel_tol, why = found
                return Rule("(provenance)", abs_tol, rel_tol, why=why)
        return self.tolerances.default(isinstance(ref_value, int))


def compare(reference: dict, actual: dict, tolerances: Tolerances, name: str = "") -> list[str]:
    """Differences between two ``metrics.json`` values beyond their tolerances (empty: pass).

    ``name`` prefixes every key (``NAME:path``) so that rules can target one notebook."""
    pre = f"{name}:" if name else ""
    checker = Checker(reference, tolerances, name)
    ref = flatten_with_context(reference)
    new = flatten_with_context(actual)
    problems = []
    for key in sorted(set(ref) | set(new), key=lambda k: (k not in ref, k)):
        rule = tolerances.rule_for(pre + key)
        if rule is not None and rule.ignore:
            continue
        if key not in new:
            problems.append(f"{pre}{key}: missing from the new metrics.json (reference: {ref[key][0]!r})")
            continue
        if key not in ref:
            problems.append(f"{pre}{key}: not in the reference (new: {new[key][0]!r}); regenerate it with `make golden`")
            continue
        (a, ctx), (b, _) = ref[key], new[key]
        if _is_number(a) and _is_number(b):
            if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
                continue
            rule = checker.rule(key, ctx, a, rule, looked_up=True)
            ok = a == b if not (math.isfinite(a) and math.isfinite(b)) else rule.allows(float(a), float(b))
            if not ok:
                tol = f"±{rule.abs:.3g}" + (f" + {rule.rel:g}·|ref|" if rule.rel else "")
                why = f", {rule.why}" if rule.match == "(provenance)" else ""
                problems.append(f"{pre}{key}: {b!r} differs from the reference {a!r} by {b - a:+.3g} "
                                f"(tolerance {tol}, rule {rule.match!r}{why})")
        elif a != b or type(a) is not type(b):
            problems.append(f"{pre}{key}: {b!r} != reference {a!r}")
    return problems


def tolerance_table(reference: dict, tolerances: Tolerances, name: str = "") -> dict[str, Rule]:
    """The deciding rule of every numeric leaf of ``reference`` (ignored ones included)."""
    checker = Checker(reference, tolerances, name)
    return {k: checker.rule(k, ctx, v) for k, (v, ctx) in flatten_with_context(reference).items() if _is_number(v)}


def moved_but_exact(reference: dict, actual: dict, tolerances: Tolerances, name: str = "") -> list[str]:
    """Numbers that moved between ``reference`` and ``actual`` (beyond the exact default) while
    their tolerance is exact: what a kernel audit must find empty (see :mod:`recutils.notebooks.audit`)."""
    pre = f"{name}:" if name else ""
    table = tolerance_table(reference, tolerances, name)
    new = flatten(actual)
    ref = flatten(reference)
    out = []
    for key, rule in table.items():
        if rule.ignore or key not in new or not _is_number(new[key]):
            continue
        a, b = ref[key], new[key]
        if not (math.isfinite(a) and math.isfinite(b)):
            continue
        exact = rule.limit(float(a)) <= max(tolerances.float_abs, tolerances.int_abs)
        if exact and abs(b - a) > tolerances.float_abs:
            out.append(f"{pre}{key}: moved by {b - a:+.3g} under the perturbation but is checked exactly "
                       f"(rule {rule.match!r})")
    return out


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
    from ..io import read_json

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
            table = tolerance_table(runs[0], tol, name) if tol is not None else {}
            first = flatten(runs[0])  # the first run stands for the reference (relative tolerances)
            for key, s in spread(runs, name).items():
                if s == 0 and not a.all:
                    continue
                line = f"{s:10.3g}  {key}"
                if tol is not None:
                    r = table.get(key[len(name) + 1:])
                    if r is None or r.ignore:
                        continue  # timings and the like: not results
                    v = first.get(key[len(name) + 1:], 0.0)
                    limit = r.limit(float(v) if _is_number(v) else 0.0)
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
