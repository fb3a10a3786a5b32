"""The shared experiments API on synthetic data: the one choose-on-validation loop, the
experiment, the repeated-split runner (warm and cold), tune_blend and the result record."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from recutils.datasets.synth import generate
from recutils.errors import RecutilsError
from recutils.evaluation import evaluate_ranking
from recutils.experiments import (
    Candidate,
    Experiment,
    Record,
    Scorer,
    SplitProtocol,
    choose_on_validation,
    expand_grid,
    grid_search,
    jsonable,
    multi_seed,
    select_blend,
    tune_blend,
)
from recutils.experiments.coldstart import ColdCandidate, cold_multi_seed, cold_protocol
from recutils.models import create
from recutils.models.hybrid import blend_scores_all
from recutils.splits import cold_item_split, study_split, validation_split


@pytest.fixture(scope="module")
def synth():
    ratings, _ = generate(6000, 120, 300, seed=0)
    return ratings


@pytest.fixture(scope="module")
def split(synth):
    return study_split(synth)


# --- choose_on_validation -----------------------------------------------------------------------
def test_expand_grid_order_and_fixed():
    assert expand_grid({"a": [1, 2], "b": ["x", "y"]}, {"f": 0}) == [
        {"f": 0, "a": 1, "b": "x"}, {"f": 0, "a": 1, "b": "y"}, {"f": 0, "a": 2, "b": "x"}, {"f": 0, "a": 2, "b": "y"}]
    assert expand_grid({}, {"f": 1}) == [{"f": 1}]
    with pytest.raises(RecutilsError, match="'a' must be a non-empty list"):
        expand_grid({"a": []})
    with pytest.raises(RecutilsError, match="'a' must be a non-empty list"):
        expand_grid({"a": "abc"})


def test_choose_first_best_tie_break_and_direction():
    scores = {1: 0.5, 2: 0.7, 3: 0.7, 4: 0.1}
    seen = []
    c = choose_on_validation([{"x": x} for x in scores], lambda o: {"m": scores[o["x"]], "n": -o["x"]}, "m",
                             on_each=seen.append)
    assert (c.best, c.score, c.metric) == ({"x": 2}, 0.7, "m")
    assert [r["x"] for r in c.rows] == [1, 2, 3, 4] and seen == c.rows and c.rows[0] == {"x": 1, "m": 0.5, "n": -1}
    assert choose_on_validation([{"x": x} for x in scores], lambda o: {"m": scores[o["x"]]}, "m",
                                tie_break=lambda r: r["x"]).best == {"x": 3}
    assert choose_on_validation([{"x": x} for x in scores], lambda o: {"m": scores[o["x"]]}, "m",
                                lower_is_better=True).best == {"x": 4}
    best, rows = choose_on_validation([{"x": 1, "fixed": 9}], lambda o: {"m": 1.0}, "m", keys=["x"])
    assert best == {"x": 1} and rows == [{"x": 1, "fixed": 9, "m": 1.0}]


def test_choose_nan_never_wins_and_errors():
    c = choose_on_validation([{"x": 1}, {"x": 2}], lambda o: {"m": math.nan if o["x"] == 1 else 0.0}, "m")
    assert c.best == {"x": 2}
    with pytest.raises(RecutilsError, match="every option scored m=NaN"):
        choose_on_validation([{"x": 1}], lambda o: {"m": math.nan}, "m")
    with pytest.raises(RecutilsError, match="nothing to choose from"):
        choose_on_validation([], lambda o: {"m": 1.0}, "m")
    with pytest.raises(RecutilsError, match="has no 'm'; it has q"):
        choose_on_validation([{"x": 1}], lambda o: {"q": 1.0}, "m")


def test_grid_search_is_the_choice_loop(split):
    best, rows = grid_search("ease", split, {"lambda_": [10.0, 300.0]}, k=10)
    val = validation_split(split)
    want = [evaluate_ranking(create("ease", lambda_=lam).fit(val.without_test()), val, 10).metrics["ndcg"]
            for lam in (10.0, 300.0)]
    assert [r["ndcg"] for r in rows] == pytest.approx(want, abs=1e-12)
    assert best == {"lambda_": [10.0, 300.0][int(np.argmax(want))]}


# --- Experiment ------------------------------------------------------------------------------------
def test_experiment_matches_evaluate_ranking_and_its_views(split):
    res = Experiment(split, {"MostPop": create("mostpop"), "EASE": create("ease", lambda_=100.0)}, k=10).run()
    assert list(res) == ["MostPop", "EASE"]
    want = evaluate_ranking(create("ease", lambda_=100.0).fit(split.without_test()), split, 10)
    assert res["EASE"].metrics["ndcg"] == pytest.approx(want.metrics["ndcg"], abs=1e-12)
    rows = res.table(("precision", "ndcg"), suffix=True)
    assert rows[1] == {"model": "EASE", "precision@10": res["EASE"].metrics["precision"],
                       "ndcg@10": res["EASE"].metrics["ndcg"], "n_users": int(res["EASE"].metrics["n_users"])}
    ci = res.paired("MostPop", "ndcg", n_boot=200)["EASE"]
    assert ci.mean_diff == pytest.approx(res["EASE"].metrics["ndcg"] - res["MostPop"].metrics["ndcg"], abs=1e-12)
    assert set(res.by_k([5, 10])["EASE"]) >= {"precision", "ndcg"}
    assert [r["model"] for r in res.beyond()] == ["MostPop", "EASE"]
    with pytest.raises(RecutilsError, match="reference 'ALS' is not among"):
        res.paired("ALS")
    with pytest.raises(RecutilsError, match="at least one model"):
        Experiment(split, {}).run()


def test_experiment_ranks_only_cold_items_on_a_cold_split(synth):
    cold = cold_item_split(synth, share=0.2, rng=1)
    res = Experiment(cold, {"MostPop": create("mostpop")}, k=5).run()
    assert np.isin(res["MostPop"].topk[res["MostPop"].topk >= 0], np.flatnonzero(cold.cold_items)).all()
    every = Experiment(cold, {"MostPop": create("mostpop")}, k=5, candidates=None).run()
    assert res["MostPop"].n_candidates == cold.cold_items.sum() < every["MostPop"].n_candidates


# --- the repeated-split runner ---------------------------------------------------------------------
def test_multi_seed_warm_candidate_and_scorer(synth):
    cands = {"EASE": Candidate("ease", {"lambda_": [10.0, 300.0]}),
             "MostPop": Scorer(lambda: create("mostpop"))}
    ms = multi_seed(lambda s: study_split(synth, seed=s), [1, 2], cands, k=10)
    assert ms.seeds == [1, 2] and ms.labels == ["EASE", "MostPop"]
    for run in ms.runs:
        split = study_split(synth, seed=run.seed)
        best, rows = grid_search("ease", split, {"lambda_": [10.0, 300.0]}, k=10)
        assert run.chosen["EASE"] == best and run.grids["EASE"] == rows
        assert math.isnan(run.validation["MostPop"]) and run.grids["MostPop"] == []  # one option: not scored
    with pytest.raises(RecutilsError, match="must be a Candidate or a Scorer"):
        multi_seed(lambda s: study_split(synth, seed=s), [1], {"x": "ease"})
    with pytest.raises(RecutilsError, match="distinct integers"):
        multi_seed(lambda s: study_split(synth, seed=s), [1, 1], cands)


def test_cold_runner_chooses_on_warm_items_only(synth):
    made = []

    def make(lambda_):
        made.append(lambda_)
        return create("ease", lambda_=lambda_)

    cands = {"EASE": ColdCandidate(make, ({"lambda_": 10.0}, {"lambda_": 300.0})), "MostPop": Scorer(lambda: create("mostpop"))}
    ms = cold_multi_seed(synth, [3], cands, k=5, cold_share=0.2)
    again = multi_seed(cold_protocol(synth, 0.2), [3], cands, k=5)
    run = ms.runs[0]
    assert run.chosen == again.runs[0].chosen and len(run.grids["EASE"]) == 2 and "val_ndcg" in run.grids["EASE"][0]
    assert made == [10.0, 300.0, run.chosen["EASE"]["lambda_"]] * 2  # two options on validation, one refit on train
    cold = cold_item_split(synth, share=0.2, rng=3)
    top = run.results["EASE"].topk
    assert np.isin(top[top >= 0], np.flatnonzero(cold.cold_items)).all()


def test_split_protocol_validation_is_made_lazily(synth):
    calls = []
    proto = SplitProtocol(lambda s: study_split(synth, seed=s), lambda sp, s: calls.append(s) or validation_split(sp))
    multi_seed(proto, [5], {"MostPop": Scorer(lambda: create("mostpop"))}, k=5)
    assert calls == []  # nothing to choose: no validation split built
    multi_seed(proto, [5], {"MostPop": Candidate("mostpop")}, k=5)
    assert calls == [5]


# --- tune_blend --------------------------------------------------------------------------------------
def test_tune_blend_is_select_blend_then_the_test_blend(split):
    val = validation_split(split)
    rng = np.random.default_rng(0)
    vb, vc = rng.normal(size=(val.n_users, val.n_items)), rng.normal(size=(val.n_users, val.n_items))
    tb, tc = rng.normal(size=(split.n_users, split.n_items)), rng.normal(size=(split.n_users, split.n_items))
    tuned = tune_blend(split, val, (vb, tb), (vc, tc), [0.2, 0.8], k=10, name=lambda c: f"blend α={c.alpha:g}")
    want = select_blend(val, vb, vc, [0.2, 0.8], k=10)
    assert tuned.choice == want and tuned.label == f"blend α={want.alpha:g}"
    S = blend_scores_all(split, tb, tc, want.alpha, want.base_norm)
    assert np.array_equal(tuned.model.score(np.arange(split.n_users)), S)
    reused = tune_blend(split, None, (None, tb), (None, tc), choice=want, name="again", determinism="kernel")
    assert reused.choice is want and reused.model.determinism == "kernel"


# --- Record --------------------------------------------------------------------------------------------
@dataclass
class _Row:
    a: float

    def as_dict(self):
        return {"a": self.a, "twice": 2 * self.a}


def test_jsonable():
    got = jsonable({"df": pd.DataFrame({"x": [1, 2]}), "row": _Row(1.5), "n": np.int64(3), "b": np.bool_(True),
                    "arr": np.arange(2), 4: (1, 2)})
    assert got == {"df": [{"x": 1}, {"x": 2}], "row": {"a": 1.5, "twice": 3.0}, "n": 3, "b": True, "arr": [0, 1],
                   "4": [1, 2]}
    assert type(got["n"]) is int and type(got["b"]) is bool


def test_record_writes_metrics_with_provenance_and_config(tmp_path, split):
    res = Experiment(split, {"MostPop": create("mostpop")}, k=10).run()
    rec = Record(tmp_path / "out", k=10, params={"seed": 42})
    rec["split"] = {"n_users": np.int64(3)}
    rec.table("Test", res.table()).results(res).produced_by("text row", "text", n_users=5)
    rec.configure(models={"MostPop": {}})
    paths = rec.write()
    assert [p.name for p in paths] == ["metrics.json", "config.json"]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert list(metrics) == ["split", "tables", "provenance"] and metrics["tables"]["Test"][0]["model"] == "MostPop"
    assert set(metrics["provenance"]["producers"]) == {"MostPop", "text row"}
    assert json.loads((tmp_path / "out" / "config.json").read_text()) == {"params": {"seed": 42},
                                                                          "models": {"MostPop": {}}}
    with pytest.raises(RecutilsError, match="opened without k"):
        Record(tmp_path).results(res)


def test_record_names_many_producers_and_references(tmp_path, split):
    rec = Record(tmp_path, k=10)
    rec.produced_by_all({"MostPop": create("mostpop"), "ALS": create("als")}, n_users=7).reference("vs ALS", "ALS").column("ild", "ALS")
    prov = rec.provenance.as_dict()
    assert prov["producers"]["ALS"]["determinism"] == "kernel" and prov["producers"]["MostPop"]["n_users"] == 7
    assert prov["references"] == {"vs ALS": ["ALS"]} and prov["columns"] == {"ild": ["ALS"]}


def test_ablations_text_source_choice():
    from recutils.experiments.coldstart_ablations import _best_text

    assert _best_text(["a", "b", "c"], {"a": 0.1, "b": 0.3, "c": 0.3}) == "b"  # the first best
    assert _best_text(["a", "b"], {"a": math.nan, "b": math.nan}) == "a"  # nothing scored: the first
    assert _best_text(["a", "b"], {"a": math.nan, "b": 0.2}) == "b"  # NaN never wins
