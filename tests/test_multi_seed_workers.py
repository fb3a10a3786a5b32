"""``multi_seed(..., workers=N)``: seeds run in worker processes give the same result as one
process — choices, validation scores and every per-user test value, in the order of ``seeds`` —
with a lambda factory (sent with cloudpickle), blends and the cold protocol; ``on_run`` sees
each finished seed; a bad ``workers`` is a one-line error."""

import functools

import numpy as np
import pytest

from recutils.errors import RecutilsError
from recutils.experiments import BlendCandidate, Candidate, Scorer, multi_seed
from recutils.splits import sample_users, study_split


def _same(a, b):
    assert a.seeds == b.seeds and a.labels == b.labels
    for ra, rb in zip(a.runs, b.runs):
        assert ra.chosen == rb.chosen and ra.grids == rb.grids
        assert ra.validation == pytest.approx(rb.validation, nan_ok=True, rel=0, abs=0)
        for label in a.labels:
            x, y = ra.results[label], rb.results[label]
            np.testing.assert_array_equal(x.users, y.users)
            for m, v in x.per_user.items():
                np.testing.assert_array_equal(v, y.per_user[m])
            np.testing.assert_array_equal(x.topk, y.topk)


@pytest.fixture(scope="module")
def small(ratings):
    return sample_users(ratings, 60, rng=3)


def test_workers_give_the_result_of_one_process(small):
    from recutils.models.baselines import EASE
    from recutils.models.content import Content

    rng = np.random.default_rng(0)
    items = np.unique(small["movieId"])
    from recutils.embeddings.items import ItemEmbeddings

    v = rng.normal(size=(len(items), 8)).astype(np.float32)
    emb = ItemEmbeddings(movie_ids=items, matrix=v / np.linalg.norm(v, axis=1, keepdims=True), name="random")
    cands = {"MostPop": Candidate("mostpop"),
             "EASE-r": Candidate("ease_r", {"lambda_": [50.0, 200.0], "power": [1.0, 2.0]}),
             "EASE (lambda)": Scorer(lambda lambda_: EASE(lambda_=lambda_), ({"lambda_": 30.0}, {"lambda_": 300.0}))}
    blends = {"EASE-r + random text": BlendCandidate("EASE-r", functools.partial(Content, embeddings=emb),
                                                     alphas=[0.5, 0.9])}
    seeds = [42, 7, 123]
    seen = []
    one = multi_seed(lambda s: study_split(small, seed=s), seeds, cands, k=10, blends=blends)
    two = multi_seed(lambda s: study_split(small, seed=s), seeds, cands, k=10, blends=blends, workers=2,
                     on_run=lambda partial: seen.append(partial.seeds))
    _same(one, two)
    # on_run after each finished seed (workers finish in any order), the runs so far in seed order
    assert [len(s) for s in seen] == [1, 2, 3] and seen[-1] == seeds
    assert all(s == sorted(s, key=seeds.index) and set(s) < set(t) for s, t in zip(seen, seen[1:]))


def test_bad_workers_is_a_one_line_error(small):
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(RecutilsError, match="workers must be an integer"):
            multi_seed(lambda s: study_split(small, seed=s), [1], {"MostPop": Candidate("mostpop")}, workers=bad)


def test_groups_split_each_seed_into_jobs_with_the_same_result(small):
    from recutils.models.baselines import EASE

    cands = {"MostPop": Candidate("mostpop"),
             "EASE-r": Candidate("ease_r", {"lambda_": [50.0, 200.0], "power": [1.0]}),
             "EASE (lambda)": Scorer(lambda lambda_: EASE(lambda_=lambda_), ({"lambda_": 30.0}, {"lambda_": 300.0}))}
    one = multi_seed(lambda s: study_split(small, seed=s), [42, 7], cands, k=10)
    groups = [["EASE (lambda)", "MostPop"], ["EASE-r"]]
    seen = []
    for workers in (1, 2):
        got = multi_seed(lambda s: study_split(small, seed=s), [42, 7], cands, k=10, workers=workers, groups=groups,
                         on_run=lambda partial: seen.append(partial.seeds))
        _same(one, got)
        assert list(got.runs[0].results) == list(cands)  # the candidates' order, not the groups'
    assert seen[:2] == [[42], [42, 7]] and sorted(map(tuple, seen[2:])) in ([(42,), (42, 7)], [(7,), (42, 7)])
    for bad in ([["MostPop"]], [["MostPop", "EASE-r", "EASE (lambda)", "ALS"]], [["MostPop", "MostPop"], ["EASE-r"]],
                [[], list(cands)]):
        with pytest.raises(RecutilsError, match="groups must list every candidate exactly once"):
            multi_seed(lambda s: study_split(small, seed=s), [42], cands, groups=bad)
