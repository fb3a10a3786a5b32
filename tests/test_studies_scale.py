"""recutils.experiments.studies.scale (notebook 07's study) on tiny synthetic data: no Spark, no
real data — two numpy / implicit ALS engines stand in for implicit vs Spark."""

import numpy as np
import pandas as pd
import pytest

from recutils.evaluation import evaluate_ranking, paired_bootstrap_ci
from recutils.experiments.studies import scale
from recutils.experiments.tuning import grid_search
from recutils.models import create
from recutils.splits import study_split

FIXED = {"factors": 4, "iterations": 2, "alpha": 2.0}


@pytest.fixture(scope="module")
def data_sets():
    return scale.load_data_sets([3_000, 4_000], seed=1)


@pytest.fixture(scope="module")
def engines_run(data_sets):
    pytest.importorskip("implicit")
    engines = [scale.Engine("exact_als", [0.05, 5.0], {"weighted_regularization": False}),
               scale.Engine("als", [0.05], {"num_threads": 1})]
    return scale.compare_engines(data_sets, engines, FIXED, k=5, eval_users=10, seed=3, batch_size=7, n_boot=50,
                                 minus=("exact_als", "als"))


def test_data_sets_and_their_shapes(data_sets):
    assert list(data_sets) == ["synthetic 3,000", "synthetic 4,000"]
    rows = scale.shape_rows(data_sets)
    assert [r["ratings"] for r in rows] == [3_000, 4_000]
    r = data_sets["synthetic 3,000"]
    assert rows[0]["users"] == r["userId"].nunique() and rows[0]["movies"] == r["movieId"].nunique()
    assert rows[0]["density"] == round(3_000 / (rows[0]["users"] * rows[0]["movies"]), 5)
    conc = scale.concentration_rows(r, data_sets, reference_label="ref")
    assert [c["data"] for c in conc] == ["ref", *data_sets]
    assert {k: v for k, v in conc[0].items() if k != "data"} == {k: v for k, v in conc[1].items() if k != "data"}


def test_batched_check_and_memory_rows(data_sets):
    split = study_split(data_sets["synthetic 3,000"])
    check = scale.batched_equals_unbatched(create("mostpop").fit(split), split, k=5, batch_size=4)
    assert check.identical_topk and check.max_metric_difference < 1e-9
    assert check.n_users == len(split.evaluable_users()) and check.n_batches == -(-check.n_users // 4)
    assert set(check.as_dict()) == {"identical_topk", "n_users", "max_metric_difference"}
    rows = {r["data"]: r for r in scale.memory_rows(2048)}
    assert rows["ml-25m"]["all users at once, float64 (GiB)"] == 71.5
    assert rows["ml-32m"]["one batch of 2048, float32 (GiB)"] == 0.67


def test_sample_users_is_seeded_sorted_and_zero_means_all(data_sets):
    split = study_split(data_sets["synthetic 3,000"])
    every = split.evaluable_users()
    assert np.array_equal(scale.sample_users(split, 0, 1), every)
    a, b = scale.sample_users(split, 5, 1), scale.sample_users(split, 5, 1)
    assert np.array_equal(a, b) and len(a) == 5 and np.all(np.diff(a) > 0) and np.isin(a, every).all()
    assert not np.array_equal(a, scale.sample_users(split, 5, 2))


def test_engines_chosen_on_validation_refitted_and_paired(engines_run, data_sets):
    run = engines_run
    assert [(r["data"], r["model"]) for r in run.rows] == [(d, m) for d in data_sets for m in ("exact_als", "als")]
    assert [(t["data"], t["model"]) for t in run.times] == [(r["data"], r["model"]) for r in run.rows]
    assert all(t["fit_seconds"] >= 0 and t["eval_seconds"] >= 0 for t in run.times)
    assert run.label == "synthetic 4,000" and np.array_equal(run.users, scale.sample_users(run.split, 10, 3))
    best = grid_search("exact_als", run.split, {"regularization": [0.05, 5.0]}, k=5,
                       fixed={**FIXED, "weighted_regularization": False}).best["regularization"]
    assert run.chosen(run.label) == {"exact_als": best, "als": 0.05}
    model = create("exact_als", **FIXED, weighted_regularization=False, regularization=best).fit(run.split)
    again = evaluate_ranking(model, run.split, k=5, users=run.users, batch_size=7, dtype=np.float32)
    res = run.results[run.label]
    assert again.metrics["ndcg"] == pytest.approx(res["exact_als"].metrics["ndcg"], abs=1e-12)
    ci = paired_bootstrap_ci(res["exact_als"].per_user["ndcg"], res["als"].per_user["ndcg"], n_boot=50, rng=3)
    assert run.pairs[run.label]["ndcg"] == ci and set(run.pairs[run.label]) == {"precision", "ndcg"}


def test_matched_rows_reuse_the_engines_and_pair_as_asked(engines_run):
    variants = [scale.MatchedVariant("wr_fixed", "exact_als", [0.1], {"weighted_regularization": True}),
                scale.MatchedVariant("flat", "exact_als", [0.05, 5.0], {"weighted_regularization": False})]
    m = scale.matched_regularisation(engines_run, variants, FIXED, k=5, batch_size=7, n_boot=50, seed=3,
                                     pairs=["wr_fixed vs flat", "exact_als vs als"], reused=("exact_als", "als"))
    assert [r["model"] for r in m.rows] == ["exact_als", "als", "wr_fixed", "flat"]
    chosen = engines_run.chosen(engines_run.label)
    assert [r["regularization"] for r in m.rows] == [chosen["exact_als"], chosen["als"], 0.1, chosen["exact_als"]]
    assert m.rows[0]["fit_seconds"] == engines_run.fit_seconds(engines_run.label)["exact_als"]
    assert list(m.new_results) == ["wr_fixed", "flat"]
    assert m.cis["exact_als vs als"] == engines_run.pairs[engines_run.label]
    assert all(r["n_users"] == 10 for r in m.rows)
    names = [v.name for v in scale.matched_variants(0.2, [0.1, 1.0], [8.0])]
    assert names == ["exact_als_wr", "als_wr_on", "als_wr_off", "implicit_tuned"]
    assert scale.matched_variants(0.2, [0.1], [8.0])[0].grid == [0.2]


def test_matched_rows_in_workers_equal_one_process(engines_run):
    """workers=2: the grids' points and the final fits in loky processes give the rows (λ, P/R/NDCG)
    and the per-user results of one process, exact_als and implicit's ALS alike."""
    variants = [scale.MatchedVariant("wr_fixed", "exact_als", [0.1], {"weighted_regularization": True}),
                scale.MatchedVariant("flat", "exact_als", [0.05, 5.0], {"weighted_regularization": False}),
                scale.MatchedVariant("implicit", "als", [0.05, 5.0], {"num_threads": 1})]
    kw = dict(k=5, batch_size=7, n_boot=50, seed=3, pairs=["wr_fixed vs flat", "implicit vs als"],
              reused=("exact_als", "als"))
    one = scale.matched_regularisation(engines_run, variants, FIXED, workers=1, **kw)
    two = scale.matched_regularisation(engines_run, variants, FIXED, workers=2, **kw)
    untimed = lambda rows: [{k: v for k, v in r.items() if k != "fit_seconds"} for r in rows]  # noqa: E731
    assert untimed(one.rows) == untimed(two.rows) and [r["model"] for r in two.rows][2:] == ["wr_fixed", "flat", "implicit"]
    for name in ("wr_fixed", "flat", "implicit"):
        for m in ("precision", "ndcg"):
            np.testing.assert_array_equal(one.results[name].per_user[m], two.results[name].per_user[m])
    assert one.cis == two.cis


def test_ease_variants_guard_and_measured_fits(data_sets):
    split = study_split(data_sets["synthetic 3,000"])
    variants, full, notes = scale.ease_variants(split, 50.0, 20, 0.05, use_sansa=False)
    assert list(variants) == ["EASE (all items)", "EASE (top 20 items)"] and full == "EASE (all items)" and not notes
    pruned, ref, notes = scale.ease_variants(split, 50.0, 20, 0.05, use_sansa=False, budget_gib=1e-9)
    assert list(pruned) == ["EASE (top 20 items)"] and ref == "EASE (top 20 items)" and "left out" in notes[0]
    users = scale.sample_users(split, 0, 0)
    ease = scale.compare_ease(split, variants, users, k=5, batch_size=16)
    rows = {r["model"]: r for r in ease.rows}
    assert rows["EASE (all items)"]["stored_floats"] > rows["EASE (top 20 items)"]["stored_floats"]
    assert all(r["peak_alloc_mib"] > 0 and r["fit_seconds"] >= 0 for r in ease.rows)
    cis = ease.results.paired(full, "ndcg", n_boot=50, rng=0)
    assert list(cis) == ["EASE (top 20 items)"] and cis["EASE (top 20 items)"].n_users == len(users)


def test_ci_fields_flattens_nested_intervals():
    ci = paired_bootstrap_ci(np.array([1.0, 0.0, 1.0]), np.array([0.0, 0.0, 0.0]), n_boot=20, rng=0)
    got = scale.ci_fields({"a": {"p": ci}, "b": ci}, "mean_diff", "significant")
    assert got == {"a": {"p": {"mean_diff": ci.mean_diff, "significant": ci.significant}},
                   "b": {"mean_diff": ci.mean_diff, "significant": ci.significant}}


def test_spark_engine_passes_a_master_through():
    assert scale.SparkEngine("local[2]").master == "local[2]"


def test_load_data_sets_is_seeded():
    a = scale.load_data_sets([2_000], seed=5)["synthetic 2,000"]
    b = scale.load_data_sets([2_000], seed=5)["synthetic 2,000"]
    assert isinstance(a, pd.DataFrame) and a.equals(b)
    assert not a.equals(scale.load_data_sets([2_000], seed=6)["synthetic 2,000"])
