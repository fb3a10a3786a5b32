"""``CFFinetunedText``: text embeddings fine-tuned on the CF pairs of the training data they are
used with. Given to ``ContentToCF`` it is called with the training data of every fit — the cold
split's training part for the test fit, the warm-item carve-out's for a validation fit — so no
pair ever holds a cold or pseudo-cold movie; it is resolved once per training-data content; and
the notebook's ``ablation_text_sources`` adds it (or not) beside the fixed texts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recutils.embeddings.items import ItemEmbeddings, normalize_rows
from recutils.experiments import coldstart
from recutils.experiments.coldstart import CFFinetunedText, cold_multi_seed, ColdCandidate, warm_item_validation
from recutils.models.coldstart import ContentToCF
from recutils.splits import cold_item_split

from test_coldstart import _ratings, _table, _text


@pytest.fixture
def calls(monkeypatch):
    """Stands in for the fine-tune: records (training data, pairs) and returns embeddings that
    depend on the pairs (a different training part gives different vectors)."""
    seen = []

    def fake(model_name, texts, text_key, split, pairs, config=None, cache_dir=None, progress=False, **kw):
        seen.append((split, np.asarray(pairs)))
        rng = np.random.default_rng(int(np.asarray(pairs).sum()) % 2**32)
        ids = np.asarray(texts.index)
        return ItemEmbeddings(ids, normalize_rows(rng.normal(size=(len(ids), 5))), "fake"), {}

    monkeypatch.setattr(coldstart, "cf_finetuned_embeddings", fake)
    return seen


def _provider():
    ids = np.arange(101, 131)
    texts = pd.Series([f"movie {i}" for i in ids], index=ids)
    return CFFinetunedText("toy-model", texts, "study-toy", n_pairs=10, ease_lambda=5.0, seed=3)


def test_each_fit_fine_tunes_on_its_own_training_data_without_held_out_movies(calls):
    cold = cold_item_split(_ratings(), share=0.2, rng=0)
    val = warm_item_validation(cold, share=0.2, seed=1)
    prov = _provider()
    for split in (cold, val):
        train = split.without_test()
        ContentToCF(item_table=_table(), embeddings=prov, target="ease", ease_lambda=5.0).fit(train)
        got, pairs = calls[-1]
        assert got is train
        assert not np.asarray(split.cold_items)[pairs].any()  # no cold / pseudo-cold movie in a pair
        counts = np.bincount(train.train["iidx"].to_numpy(), minlength=train.n_items)
        assert (counts[pairs] > 0).all()
    assert prov.fits == 2
    a, b = calls[0][1], calls[1][1]
    assert not (len(a) == len(b) and (a == b).all())  # the two training parts give other pairs


def test_resolved_once_per_training_data_content(calls):
    cold = cold_item_split(_ratings(), share=0.2, rng=0)
    prov = _provider()
    for lam in (1.0, 10.0, 100.0):  # a grid: the same training data each time
        ContentToCF(item_table=_table(), embeddings=prov, target="ease", ease_lambda=5.0, ridge_lambda=lam).fit(
            cold.without_test())
    assert prov.fits == 1 and len(calls) == 1


def test_five_split_comparison_refits_it_per_seed_and_per_carve_out(calls):
    prov = _provider()
    cands = {"ridge → EASE · metadata + cf": ColdCandidate(
        lambda ridge_lambda: ContentToCF(item_table=_table(), embeddings=prov, target="ease", ease_lambda=5.0,
                                         ridge_lambda=ridge_lambda), ({"ridge_lambda": 1.0}, {"ridge_lambda": 100.0}))}
    cold_multi_seed(_ratings(), [0, 1], cands, k=5, cold_share=0.2, val_share=0.2)
    assert prov.fits == 4  # per seed: its carve-out's training part and its training part


def test_ablation_text_sources_adds_the_per_split_fine_tune(monkeypatch, tmp_path):
    from recutils.datasets import text as text_mod
    from recutils.errors import RecutilsError
    from recutils.experiments.studies import cold_start as cs

    ids = np.arange(101, 131)
    monkeypatch.setattr(text_mod, "movie_texts", lambda spec, data_dir=None: pd.Series([f"t{i}" for i in ids], index=ids))
    fixed = {"A": _text(), "B": _text(seed=5)}
    kw = dict(finetune_model="all-MiniLM-L6-v2", cf_pairs=10, cf_finetune={"epochs": 1}, ease_lambda=5.0, seed=0)
    assert list(cs.ablation_text_sources(fixed, ["A"], False, **kw)) == ["A"]
    out = cs.ablation_text_sources(fixed, ["A", "B"], True, movie_ids=ids[:20], **kw)
    label = "MiniLM fine-tuned per split, CF pairs · title+genres+tags"
    assert list(out) == ["A", "B", label] and isinstance(out[label], CFFinetunedText)
    assert len(out[label].texts) == 20 and out[label].n_pairs == 10
    with pytest.raises(RecutilsError, match="labels of text_embeddings"):
        cs.ablation_text_sources(fixed, ["C"], True, **kw)
