"""``make reproduce``'s lane works ahead of notebook 06: its CF-pair fine-tunes (§2's and §8's
per-split ones) go into the embedding cache under the keys the notebook asks for — also from
§8's worker processes (one torch and one BLAS thread each) — so the notebook trains none of them."""

import io

import pytest

from recutils.notebooks import prefetch
from recutils.notebooks.coldstart_ablations import notebook06_params


@pytest.fixture
def params(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("RECUTILS_CACHE_DIR", str(tmp_path / "other"))  # the params name theirs (loky workers outlive a test)
    return {**notebook06_params("smoke"), "data_dir": str(data_dir), "cache_dir": str(tmp_path / "cache")}


def test_the_parts_are_the_notebooks_in_the_prefetch_order(params):
    from recutils.datasets import load_ratings
    from recutils.experiments.coldstart import cold_protocol
    from recutils.experiments.fit_cache import split_digest
    from recutils.splits import sample_users

    p = {**params, "ablation_seeds": [42, 7]}
    parts = prefetch.cold_start_parts(p)
    assert [name for name, _ in parts] == ["seed 42 training part (§2)", "seed 7 training part",
                                           "seed 7 validation carve-out", "seed 42 validation carve-out"]
    protocol = cold_protocol(sample_users(load_ratings(p["data_dir"]), p["n_users"], rng=42), p["cold_share"],
                             p["val_share"])
    want = {}
    for s in (42, 7):
        split = protocol.make_split(s)
        want[f"seed {s} training part"] = split_digest(split.without_test())
        want[f"seed {s} validation carve-out"] = split_digest(protocol.make_validation(split, s).without_test())
    got = {name.replace(" (§2)", ""): split_digest(train) for name, train in parts}
    assert got == want
    assert [n for n, _ in prefetch.cold_start_parts({**p, "ablation_cf_finetune": False})] == [
        "seed 42 training part (§2)"]


def _notebook_provider_fits(p, part_names):
    """In a loky worker (as §8's seeds run): the notebook's CF-pair text provider on ``part_names``;
    returns (fits, trained)."""
    from recutils.experiments.studies.cold_start import ablation_text_sources

    provider = next(iter(ablation_text_sources({}, [], True, finetune_model=p["finetune_model"], cf_pairs=p["cf_pairs"],
                                               cf_finetune=p["cf_finetune"], ease_lambda=p["ease_lambda"],
                                               seed=p["seed"], data_dir=p["data_dir"], cache_dir=p["cache_dir"],
                                               movie_ids=_movie_ids(p)).values()))
    for name, train in prefetch.cold_start_parts(p):
        if name in part_names:
            provider(train)
    return provider.fits, provider.trained


def _movie_ids(p):
    """The notebook's ``movie_ids`` (smoke: the movies of its three splits)."""
    import numpy as np

    from recutils.datasets import load_ratings
    from recutils.experiments.coldstart import warm_item_validation
    from recutils.splits import cold_item_split, sample_users, study_split

    ratings = sample_users(load_ratings(p["data_dir"]), p["n_users"], rng=p["seed"])
    cold = cold_item_split(ratings, share=p["cold_share"], rng=p["seed"])
    val = warm_item_validation(cold, share=p["val_share"], seed=p["seed"] + 1)
    return np.union1d(np.union1d(cold.items, study_split(ratings).items), val.items)


def test_the_notebook_finds_every_prefetched_fine_tune(params):
    from joblib import Parallel, delayed

    p = {**params, "ablation_seeds": [42]}
    out = io.StringIO()
    assert prefetch.prefetch_cold_start(p, stream=out) == 2
    assert [ln.split(" ", 1)[1].rsplit(" (", 1)[0] for ln in out.getvalue().splitlines()] == [
        "06_cold_start seed 42 training part (§2): fine-tuned and encoded",
        "06_cold_start seed 42 validation carve-out: fine-tuned and encoded"]
    assert prefetch.prefetch_cold_start(p, stream=io.StringIO()) == 0  # a second run trains nothing
    names = ["seed 42 training part (§2)", "seed 42 validation carve-out"]
    [(fits, trained)] = Parallel(n_jobs=2, backend="loky")(delayed(_notebook_provider_fits)(p, names) for _ in [0])
    assert (fits, trained) == (2, 0)  # the same keys in a worker process: read, not trained
