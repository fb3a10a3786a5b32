"""Batched float32 evaluation equals the unbatched float64 one; EASE's memory guard, its two exact
solvers and item pruning (tiny data, plus ml-latest-small for the equality the issue asks for)."""

import numpy as np
import pytest

from recutils.errors import ConfigError
from recutils.evaluation import evaluate_ranking, recommend_all
from recutils.models import create
from recutils.models.baselines import ease_max_items, ease_memory_gib
from recutils.datasets.synth import generate
from recutils.splits import study_split


@pytest.fixture(scope="module")
def toy():
    r, _ = generate(6_000, 120, 300, seed=2)
    return study_split(r)


@pytest.mark.parametrize("name,params", [("mostpop", {}), ("itemknn", {}), ("ease", {}), ("ease_r", {}),
                                         ("als", {"iterations": 3})])
def test_batched_float32_equals_unbatched_float64_on_ml_latest_small(study, name, params):
    m = create(name, **params).fit(study)
    n = len(study.evaluable_users())
    full = evaluate_ranking(m, study, batch_size=n, dtype=np.float64)
    batched = evaluate_ranking(m, study, batch_size=37, dtype=np.float32)
    np.testing.assert_array_equal(batched.topk, full.topk)
    for key, v in full.metrics.items():
        assert batched.metrics[key] == pytest.approx(v, abs=1e-6), key
    assert n % 37 != 0  # the last batch is a partial one


def test_recommend_all_in_batches_matches_recommend(toy):
    m = create("ease").fit(toy)
    recs = recommend_all(m, k=5, batch_size=7)
    assert list(recs.columns) == ["userId", "movieId", "score", "rank"] and len(recs) == 5 * toy.n_users
    for uid in toy.users[[0, 8, 50]]:
        one = m.recommend(uid, k=5)
        got = recs[recs["userId"] == uid]
        assert list(got["movieId"]) == list(one["movieId"])
        np.testing.assert_allclose(got["score"], one["score"], rtol=1e-6)
    with pytest.raises(ConfigError, match="batch_size must be a positive integer, got 0"):
        recommend_all(m, k=5, batch_size=0)


def test_ease_solvers_agree_and_pruning_scores_minus_inf(toy):
    wood = create("ease", solver="woodbury").fit(toy)
    items = create("ease", solver="items").fit(toy)
    assert (wood.path_, items.path_) == ("woodbury", "items")
    u = np.arange(toy.n_users)
    np.testing.assert_allclose(items.score(u), wood.score(u), atol=1e-4)
    np.testing.assert_allclose(items.item_weights([0, 5]), wood.item_weights([0, 5]), atol=1e-5)
    assert create("ease").fit(toy).path_ == "woodbury"  # fewer users than items: Woodbury is cheaper
    many_users = study_split(generate(3_000, 150, 60, seed=1)[0])
    assert create("ease").fit(many_users).path_ == "items"  # more users than items (every larger release)

    pruned = create("ease", max_items=40).fit(toy)
    counts = np.asarray(toy.train_binary.sum(0)).ravel()
    kept = np.isfinite(pruned.score(u)).all(axis=0)
    assert kept.sum() == 40 and counts[kept].min() >= counts[~kept].max()
    top = pruned.rank(u, 10)
    finite = np.isfinite(np.take_along_axis(pruned.masked_scores(u), top, axis=1))
    assert finite.mean() > 0.9 and kept[top[finite]].all()  # only kept items get a finite score
    w = pruned.item_weights([np.flatnonzero(~kept)[0], np.flatnonzero(kept)[0]])
    assert not w[:, 0].any() and w[:, 1].any() and not w[~kept, 1].any()


def test_ease_memory_guard_is_one_clear_line(toy):
    with pytest.raises(ConfigError) as e:
        create("ease", max_memory_gb=1e-4).fit(toy)
    msg = str(e.value)
    n_fit = ease_max_items(1e-4)
    assert "\n" not in msg and msg.startswith(f"model 'ease': {toy.n_items} items need ")
    assert f"max_memory_gb=0.0001; set max_items={n_fit} (keeps the {n_fit:,} most-rated items" in msg
    assert create("ease", max_memory_gb=1e-4, max_items=n_fit).fit(toy).path_ == "items"
    with pytest.raises(ConfigError, match="the Woodbury solve for 120 users needs"):
        create("ease", solver="woodbury", max_memory_gb=1e-5).fit(toy)
    with pytest.raises(ConfigError, match="solver"):
        create("ease", solver="dense")


def test_ease_memory_estimates():
    # ml-25m (162,541 users, 59,047 movies): the items path needs ~65 GiB, Woodbury far more;
    # the default 8 GiB budget fits ~20.7k items
    need = ease_memory_gib(162_541, 59_047)
    assert 64 < need["items"] < 66 and need["woodbury"] > 300
    assert 20_000 < ease_max_items(8.0) < 21_000
    assert ease_memory_gib(610, 8965)["woodbury"] < 0.15  # ml-latest-small: Woodbury, as before


def test_bench_scale_runs_a_tiny_size_and_prints_its_table(capsys):
    """The benchmark's code path on a tiny size (no timing is asserted: it is not a test of speed)."""
    from recutils.bench.scale import parse_model, run_size, table

    assert parse_model("ease:max_items=50:max_memory_gb=2") == ("ease", {"max_items": "50", "max_memory_gb": "2"})
    rows = run_size(4_000, ["mostpop", "als:num_threads=1:iterations=2", "ease:max_items=50", "ease:max_memory_gb=1e-6"],
                    eval_users=20, batch_size=8, seed=0)
    assert [r["model"] for r in rows][:3] == ["mostpop", "als:num_threads=1:iterations=2", "ease:max_items=50"]
    assert all(r["eval_users"] == 20 and r["peak_gib"] > 0 and r["process_peak_gib"] >= r["peak_gib"] for r in rows[:3])
    assert rows[3]["error"].startswith("model 'ease': ") and "max_items=" in rows[3]["error"]
    text = table(rows)
    assert text.count("\n") == 5 and "| 4,000 | 25 × " in text and "refused: model 'ease'" in text
    assert "| 1.00× |" in text  # implicit's ALS is its own baseline
