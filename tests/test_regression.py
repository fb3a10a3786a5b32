"""The notebook regression machinery (recutils.regression) and its tolerances file.

The last tests perturb the real references (tests/golden/NN_name.metrics.json) under the real
rules (tests/golden/tolerances.yaml): a closed-form metric moved in the 4th decimal, or a trained
one beyond its tolerance, must fail; a move inside the tolerance must pass.
"""

import copy
import json
from pathlib import Path

import pytest

from recutils.errors import RecutilsError
from recutils.regression import Rule, Tolerances, compare, flatten, load_tolerances, spread, tolerance_table

GOLDEN = Path(__file__).resolve().parent / "golden"
TOL = load_tolerances(GOLDEN / "tolerances.yaml")


def test_flatten_keys_rows_by_label_and_position():
    obj = {"table": [{"model": "EASE", "p": 0.1}, {"model": "MostPop", "p": 0.05}],
           "grid": [{"alpha": 0.5, "ndcg": 0.2}, {"alpha": 0.7, "ndcg": 0.3}], "n": 3, "empty": {}}
    f = flatten(obj)
    assert f["table/[EASE]/p"] == 0.1 and f["table/[MostPop]/model"] == "MostPop"
    assert f["grid/[1]/ndcg"] == 0.3  # no string label: by position
    assert f["n"] == 3 and f["empty"] == {}


def test_duplicate_labels_fall_back_to_position():
    f = flatten({"rows": [{"m": "a", "v": 1}, {"m": "a", "v": 2}]})
    assert f["rows/[0]/v"] == 1 and f["rows/[1]/v"] == 2


def test_compare_defaults_exact_ints_and_closed_form_floats():
    tol = Tolerances()
    ref = {"n_users": 98, "p": 0.1241, "label": "EASE", "ok": True}
    assert compare(ref, copy.deepcopy(ref), tol) == []
    assert compare(ref, {**ref, "p": 0.1241 + 5e-7}, tol) == []
    assert len(compare(ref, {**ref, "p": 0.1242}, tol)) == 1
    assert len(compare(ref, {**ref, "n_users": 97}, tol)) == 1
    assert len(compare(ref, {**ref, "label": "EASE2"}, tol)) == 1
    assert len(compare(ref, {**ref, "ok": False}, tol)) == 1
    assert len(compare(ref, {**ref, "n_users": 98.0}, tol)) == 0  # same number


def test_compare_missing_and_new_keys_fail():
    tol = Tolerances()
    probs = compare({"a": 1, "b": 2}, {"a": 1, "c": 2}, tol)
    assert any("b: missing" in p for p in probs) and any("c: not in the reference" in p for p in probs)


def test_rules_first_match_ignore_and_nan():
    tol = Tolerances((Rule("nb:*seconds*", ignore=True, why="timing"), Rule("nb:trained/*", abs=0.01, why="sgd")))
    ref = {"fit_seconds": 1.0, "trained": {"rmse": 0.90}, "x": float("nan")}
    assert compare(ref, {"fit_seconds": 99.0, "trained": {"rmse": 0.909}, "x": float("nan")}, tol, "nb") == []
    assert len(compare(ref, {"fit_seconds": 1.0, "trained": {"rmse": 0.92}, "x": float("nan")}, tol, "nb")) == 1
    assert len(compare(ref, {**ref, "x": 0.0}, tol, "nb")) == 1


def test_spread_is_the_range_of_each_number():
    s = spread([{"a": 1.0, "b": [{"m": "x", "v": 2}]}, {"a": 1.5, "b": [{"m": "x", "v": 2}]}], "nb")
    assert s == {"nb:a": 0.5, "nb:b/[x]/v": 0.0}


def test_tolerances_file_rules_all_say_why(tmp_path):
    assert TOL.rules and all(r.why for r in TOL.rules)
    bad = tmp_path / "t.yaml"
    bad.write_text("rules:\n  - {match: 'x', abs: 1}\n")
    with pytest.raises(RecutilsError, match="why"):
        load_tolerances(bad)


def _references():
    refs = sorted(GOLDEN.glob("*.metrics.json"))
    assert refs, "no tests/golden/*.metrics.json references: run `make golden`"
    return refs


@pytest.mark.parametrize("ref_path", _references(), ids=lambda p: p.name.split(".")[0])
def test_each_reference_number_fails_beyond_and_passes_within_its_tolerance(ref_path):
    """Every checked number of every reference: all moved just beyond their tolerance at once →
    one failure naming each of them; all moved by half their tolerance → a pass."""
    name = ref_path.name.split(".")[0]
    ref = json.loads(ref_path.read_text())
    assert compare(ref, ref, TOL, name) == []
    table = tolerance_table(ref, TOL, name)
    flat = flatten(ref)
    beyond, within = {}, {}
    for key, rule in table.items():
        value = flat[key]
        if value != value or rule.ignore:
            continue
        limit = rule.limit(float(value))
        beyond[key] = value + (2 * limit if limit else 1)
        if limit:
            within[key] = value + limit / 2
    assert len(beyond) > 10
    probs = compare(ref, _set(ref, beyond), TOL, name)
    # each problem names its key first (a key may hold ": ", as movie titles do)
    expected = {f"{name}:{k}: {v!r} differs": k for k, v in beyond.items()}
    named = [next((k for e, k in expected.items() if p.startswith(e)), None) for p in probs]
    assert None not in named and sorted(named) == sorted(beyond), [p for p, k in zip(probs, named) if k is None][:3]
    assert compare(ref, _set(ref, within), TOL, name) == []


def _set(obj, values: dict):
    """A copy of ``obj`` with the leaves at the flattened keys of ``values`` replaced."""
    from recutils.regression import _row_labels

    new = copy.deepcopy(obj)
    left = dict(values)

    def walk(o, prefix=""):
        items = (o.items() if isinstance(o, dict) else
                 ((i, v) for i, v in enumerate(o)) if isinstance(o, list) else ())
        labels = _row_labels(o) if isinstance(o, list) else None
        for k, v in list(items):
            seg = f"[{labels[k] if labels else k}]" if isinstance(o, list) else str(k)
            p = f"{prefix}/{seg}" if prefix else seg
            if p in left:
                o[k] = left.pop(p)
            elif isinstance(v, (dict, list)):
                walk(v, p)
    walk(new)
    assert not left, list(left)[:5]
    return new


def test_closed_form_metric_moved_in_the_4th_decimal_fails():
    ref = json.loads((GOLDEN / "01_item_cf.metrics.json").read_text())
    ease = next(r for r in ref["table"] if r["model"].startswith("EASE"))
    moved = copy.deepcopy(ref)
    next(r for r in moved["table"] if r["model"].startswith("EASE"))["precision"] = ease["precision"] + 1e-4
    probs = compare(ref, moved, TOL, "01_item_cf")
    assert len(probs) == 1 and "precision" in probs[0]


def test_rule_patterns_take_brackets_literally():
    r = Rule("nb:tables/[torch_cf]/*", abs=1.0, why="x")
    assert r.matches("nb:tables/[torch_cf]/rmse")
    assert not r.matches("nb:tables/t/rmse")  # not a character class
    assert Rule("a?c", why="x").matches("abc") and not Rule("a?c", why="x").matches("abbc")
