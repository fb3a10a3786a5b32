"""The fit cache shared between notebooks (``recutils.experiments.fit_cache``): a second run
of the same registered model, parameters and data reads every result (nothing is fitted) and
gets the same numbers; a new grid point, another split or other code recomputes; blends on a
cached base refit it once; damaged entries are recomputed; Scorers are never cached."""

import functools

import numpy as np
import pytest

from recutils.experiments import BlendCandidate, Candidate, Scorer, multi_seed
from recutils.experiments import fit_cache as fc
from recutils.experiments import seeds as seeds_mod
from recutils.splits import sample_users, study_split


@pytest.fixture(scope="module")
def small(ratings):
    return sample_users(ratings, 50, rng=5)


@pytest.fixture
def fits(monkeypatch):
    """Counts the models built (= fitted) by the runner, per registered model name."""
    counts = {}
    real = Candidate.build

    def build(self, params, item_table=None):
        counts[self.model] = counts.get(self.model, 0) + 1
        return real(self, params, item_table)

    monkeypatch.setattr(Candidate, "build", build)
    return counts


def _run(small, cands, cache, seeds=(42, 7), **kw):
    return multi_seed(lambda s: study_split(small, seed=s), list(seeds), cands, k=10, fit_cache=cache, **kw)


def _same(a, b):
    for ra, rb in zip(a.runs, b.runs):
        assert ra.chosen == rb.chosen and ra.grids == rb.grids and ra.validation == rb.validation
        for label in a.labels:
            x, y = ra.results[label], rb.results[label]
            assert x.model == y.model == label and x.metrics == y.metrics
            np.testing.assert_array_equal(x.users, y.users)
            np.testing.assert_array_equal(x.topk, y.topk)
            for m in x.per_user:
                np.testing.assert_array_equal(x.per_user[m], y.per_user[m])


CANDS = {"MostPop": Candidate("mostpop"), "EASE-r": Candidate("ease_r", {"lambda_": [50.0, 100.0], "power": [1.0]})}


def test_a_second_run_reads_every_fit_and_gets_the_same_numbers(small, tmp_path, fits):
    plain = _run(small, CANDS, None)
    n_fits = dict(fits)
    assert n_fits == {"mostpop": 2 * 2, "ease_r": 2 * 3}  # per seed: validation points + the final fit
    first = _run(small, CANDS, tmp_path)
    fits.clear()
    second = _run(small, {"Popular": CANDS["MostPop"], "EASE-r": CANDS["EASE-r"]}, tmp_path)  # labels may differ
    assert fits == {}
    _same(plain, first)
    assert second.labels == ["Popular", "EASE-r"]
    for ra, rb in zip(first.runs, second.runs):
        np.testing.assert_array_equal(ra.results["MostPop"].topk, rb.results["Popular"].topk)
        assert rb.results["Popular"].model == "Popular"
    _same(first, _run(small, CANDS, tmp_path))


def test_a_changed_grid_split_or_code_recomputes_only_what_changed(small, tmp_path, fits, monkeypatch):
    _run(small, CANDS, tmp_path)
    fits.clear()
    wider = {"EASE-r": Candidate("ease_r", {"lambda_": [50.0, 100.0, 400.0], "power": [1.0]})}
    res = _run(small, wider, tmp_path)
    won = sum(r.chosen["EASE-r"]["lambda_"] == 400.0 for r in res.runs)
    assert fits == {"ease_r": 2 + won}  # the new point on each seed, and the final fit where it won
    fits.clear()
    _run(small, CANDS, tmp_path, seeds=(123,))  # another split
    assert fits == {"mostpop": 2, "ease_r": 3}
    fits.clear()
    monkeypatch.setattr(fc, "_code_digest", lambda: "other code")
    _run(small, CANDS, tmp_path, seeds=(42,))
    assert fits == {"mostpop": 2, "ease_r": 3}


def test_blends_on_a_cached_base_refit_it_once_with_the_same_result(small, tmp_path, fits, ratings):
    from recutils.embeddings.items import ItemEmbeddings
    from recutils.models.content import Content

    items = np.unique(small["movieId"])
    v = np.random.default_rng(0).normal(size=(len(items), 6)).astype(np.float32)
    emb = ItemEmbeddings(movie_ids=items, matrix=v / np.linalg.norm(v, axis=1, keepdims=True), name="random")
    blends = {"EASE-r + text": BlendCandidate("EASE-r", functools.partial(Content, embeddings=emb), alphas=[0.5, 0.9])}
    plain = _run(small, CANDS, None, blends=blends)
    _run(small, CANDS, tmp_path, blends=blends)
    fits.clear()
    cached = _run(small, CANDS, tmp_path, blends=blends)
    assert fits == {"ease_r": 2 * 2}  # per seed: the base on the validation part (as always) + its refit
    _same(plain, cached)


def test_damaged_entries_are_recomputed_and_scorers_never_cached(small, tmp_path, fits):
    from recutils.models.baselines import EASE

    first = _run(small, CANDS, tmp_path)
    for f in list(tmp_path.rglob("*.npz"))[:3]:
        f.write_bytes(b"not an npz")
    fits.clear()
    again = _run(small, CANDS, tmp_path)
    assert 1 <= sum(fits.values()) <= 3
    _same(first, again)
    n = len(list(tmp_path.rglob("*.json")))
    _run(small, {"EASE": Scorer(lambda lambda_: EASE(lambda_=lambda_), ({"lambda_": 30.0}, {"lambda_": 300.0}))}, tmp_path)
    assert len(list(tmp_path.rglob("*.json"))) == n


def test_the_environment_switch_turns_it_off(small, tmp_path, fits, monkeypatch):
    monkeypatch.setenv(fc.FIT_CACHE_ENV, "0")
    _run(small, CANDS, tmp_path)
    assert not list(tmp_path.rglob("*.json"))
    assert seeds_mod.FitCache.enabled() is False


def test_altered_or_misplaced_entries_are_recomputed(small, tmp_path, fits):
    """A valid .npz with other numbers, or an entry copied under another key, is never read."""
    import shutil

    first = _run(small, CANDS, tmp_path, seeds=(42,))
    entries = sorted(tmp_path.rglob("*.npz"))
    z = dict(np.load(entries[0]))
    z = {n: (v + 1 if v.dtype.kind == "f" else v) for n, v in z.items()}
    with open(entries[0], "wb") as fh:
        np.savez(fh, **z)  # well-formed, other numbers
    a, b = entries[1], entries[2]
    shutil.copy(b, a)
    shutil.copy(b.with_suffix(".json"), a.with_suffix(".json"))  # another key's entry under this name
    fits.clear()
    again = _run(small, CANDS, tmp_path, seeds=(42,))
    assert sum(fits.values()) == 2
    _same(first, again)


def test_the_key_covers_a_movie_table_with_list_columns(small, tmp_path):
    """A model given the movie table (genre lists) gets a key, another table another key."""
    import pandas as pd

    cache = fc.FitCache(tmp_path)
    split = study_split(small, seed=42)
    table = pd.DataFrame({"movieId": [1, 2], "genres": [["Drama"], ["Comedy", "Drama"]], "year": [1990.0, None]})
    k1 = cache.key("mostpop", {}, split, 10, None, table)
    other = table.assign(genres=[["Drama"], ["Comedy"]])
    assert k1 == cache.key("mostpop", {}, split, 10, None, table.copy()) != cache.key("mostpop", {}, split, 10, None, other)
