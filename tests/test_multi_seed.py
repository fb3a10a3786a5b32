"""Repeated splits (recutils.experiments.seeds): per-seed tuning on validation, pooled CIs."""

import numpy as np
import pytest

from recutils.errors import RecutilsError
from recutils.experiments import BlendCandidate, Candidate, multi_seed, select_blend, t_interval
from recutils.experiments.seeds import MultiSeedResult, SeedRun
from recutils.splits import sample_users, study_split


@pytest.fixture(scope="module")
def result(ratings):
    small = sample_users(ratings, 60, rng=3)
    cands = {"MostPop": Candidate("mostpop"),
             "EASE": Candidate("ease", grid={"lambda_": [50.0, 500.0]})}
    return multi_seed(lambda seed: study_split(small, seed=seed), [42, 7, 123], cands, k=10)


def test_each_seed_tuned_on_its_own_validation(result, ratings):
    from recutils.experiments import grid_search

    assert result.seeds == [42, 7, 123] and result.labels == ["MostPop", "EASE"]
    small = sample_users(ratings, 60, rng=3)
    for run in result.runs:
        best, rows = grid_search("ease", study_split(small, seed=run.seed), {"lambda_": [50.0, 500.0]}, k=10)
        assert run.chosen["EASE"] == best and run.grids["EASE"] == rows
        assert run.validation["EASE"] == max(r["ndcg"] for r in rows)
        assert len(run.grids["MostPop"]) == 1  # no grid: still scored on validation
    # different seeds are different splits
    assert len({round(r.results["EASE"].metrics["precision"], 9) for r in result.runs}) > 1


def test_table_and_best_on_validation(result):
    rows = {r["model"]: r for r in result.table(("precision",))}
    ease = rows["EASE"]
    vals = ease["precision@10_per_seed"]
    assert ease["precision@10"] == pytest.approx(np.mean(vals))
    assert ease["precision@10_low"] < ease["precision@10"] < ease["precision@10_high"]
    best = result.best_on_validation()
    assert best == max(result.labels, key=lambda lab: np.mean([r.validation[lab] for r in result.runs]))


def test_pooled_comparison(result):
    c = result.compare("EASE", "MostPop", "precision", n_boot=500)
    diffs = [r.results["EASE"].per_user["precision"] - r.results["MostPop"].per_user["precision"] for r in result.runs]
    assert c.mean_diff == pytest.approx(np.concatenate(diffs).mean())
    assert c.per_seed == pytest.approx(tuple(d.mean() for d in diffs))
    assert c.low <= c.mean_diff <= c.high and c.n_pairs == sum(len(d) for d in diffs)
    same = result.compare("EASE", "EASE", "precision", n_boot=100)
    assert same.mean_diff == 0 and not same.holds
    with pytest.raises(RecutilsError, match="unknown model"):
        result.compare("EASE", "ALS")


class _R:  # a stand-in EvalResult: per-user values only
    def __init__(self, v):
        self.per_user = {"precision": np.asarray(v, float)}
        self.users = np.arange(len(v))
        self.metrics = {"precision": float(np.mean(v))}


def test_holds_needs_every_seed():
    rng = np.random.default_rng(0)
    a1, a2 = rng.normal(1.0, 0.1, 200), rng.normal(-0.05, 0.1, 200)  # seed 2 goes the other way
    runs = [SeedRun(s, {}, {"A": 0, "B": 0}, {}, {"A": _R(a), "B": _R(np.zeros(200))}) for s, a in ((1, a1), (2, a2))]
    c = MultiSeedResult(runs, 10, "ndcg").compare("A", "B", "precision", n_boot=300)
    assert c.low > 0 and not c.holds  # pooled CI excludes zero, but not on every seed
    runs[1] = SeedRun(2, {}, {"A": 0, "B": 0}, {}, {"A": _R(a1 + 0.01), "B": _R(np.zeros(200))})
    assert MultiSeedResult(runs, 10, "ndcg").compare("A", "B", "precision", n_boot=300).holds


def test_t_interval_and_bad_seeds():
    m, lo, hi = t_interval([1.0, 2.0, 3.0])
    assert m == 2.0 and hi - m == pytest.approx(4.302653 * 1.0 / np.sqrt(3), rel=1e-6)
    assert np.isnan(t_interval([1.0])[1])
    with pytest.raises(RecutilsError, match="distinct"):
        multi_seed(lambda s: None, [1, 1], {"x": Candidate("mostpop")})


@pytest.fixture(scope="module")
def blend_setup(ratings):
    from recutils.embeddings.items import ItemEmbeddings, normalize_rows
    from recutils.models.content import Content

    small = sample_users(ratings, 50, rng=5)
    ids = np.sort(small["movieId"].unique())
    emb = ItemEmbeddings(ids, normalize_rows(np.random.default_rng(0).normal(size=(len(ids), 8))), "toy")
    cands = {"EASE": Candidate("ease", grid={"lambda_": [50.0, 500.0]})}
    blends = {"EASE + toy": BlendCandidate("EASE", lambda: Content(embeddings=emb), alphas=[0.5, 0.9, 1.0])}
    res = multi_seed(lambda seed: study_split(small, seed=seed), [42, 7], cands, k=10, blends=blends)
    return small, emb, res


def test_blend_candidate_tuned_on_validation_on_top_of_the_chosen_base(blend_setup):
    """The blend's α / normalisation are select_blend's choice on the validation carve-out, with
    the base at the parameters chosen for the base candidate on that seed, and the test result
    is the blend of the test-fitted base and content."""
    from recutils.evaluation import evaluate_ranking
    from recutils.models import create
    from recutils.models.content import Content
    from recutils.models.hybrid import ScoreMatrix, blend_scores_all
    from recutils.splits import validation_split

    small, emb, res = blend_setup
    assert res.labels == ["EASE", "EASE + toy"]
    for run in res.runs:
        split = study_split(small, seed=run.seed)
        val = validation_split(split)
        users = np.arange(split.n_users)
        base_params = run.chosen["EASE"]
        vb = create("ease", **base_params).fit(val.without_test()).score(np.arange(val.n_users))
        vc = Content(embeddings=emb).fit(val.without_test()).score(np.arange(val.n_users))
        choice = select_blend(val, np.asarray(vb, float), np.asarray(vc, float), [0.5, 0.9, 1.0], k=10)
        assert run.chosen["EASE + toy"] == {"base": "EASE", "alpha": choice.alpha, "base_norm": choice.base_norm}
        assert run.validation["EASE + toy"] == pytest.approx(choice.score)
        tb = create("ease", **base_params).fit(split.without_test()).score(users)
        tc = Content(embeddings=emb).fit(split.without_test()).score(users)
        S = blend_scores_all(split, np.asarray(tb, float), np.asarray(tc, float), choice.alpha, choice.base_norm)
        want = evaluate_ranking(ScoreMatrix(S, "x").fit(split.without_test()), split, 10)
        assert run.results["EASE + toy"].metrics["ndcg"] == pytest.approx(want.metrics["ndcg"], abs=1e-12)
    c = res.compare("EASE + toy", "EASE", "precision", n_boot=200)
    assert len(c.per_seed) == 2


def test_blend_candidate_errors(ratings):
    small = sample_users(ratings, 20, rng=1)
    cands = {"MostPop": Candidate("mostpop")}
    make = lambda seed: study_split(small, seed=seed)  # noqa: E731
    with pytest.raises(RecutilsError, match="base 'EASE' is not a candidate; candidates: MostPop"):
        multi_seed(make, [1], cands, blends={"b": BlendCandidate("EASE", lambda: None, alphas=[0.5])})
    with pytest.raises(RecutilsError, match="label of a candidate"):
        multi_seed(make, [1], cands, blends={"MostPop": BlendCandidate("MostPop", lambda: None, alphas=[0.5])})
    with pytest.raises(RecutilsError, match="must not be empty"):
        multi_seed(make, [1], cands, blends={"b": BlendCandidate("MostPop", lambda: None, alphas=[])})
