"""Notebook 06's study module (recutils.experiments.studies.cold_start) on tiny synthetic data:
the validation choices (first best on ties, one row per option, provenance per family), the
cold test table, the text comparisons, the verdicts and the metrics entries."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from recutils.embeddings.items import ItemEmbeddings, normalize_rows
from recutils.experiments import Provenance, Record
from recutils.experiments import coldstart_ablations as cs_ref
from recutils.experiments.coldstart import warm_item_validation
from recutils.experiments.seeds import PooledComparison
from recutils.experiments.studies import cold_start as cs
from recutils.splits import cold_item_split

GENRES = ["Action", "Comedy", "Drama", "Horror"]
N_ITEMS = 40


def _ratings(n_users=50, n_items=N_ITEMS, per_user=14, seed=0) -> pd.DataFrame:
    """Users like the items of their genre group."""
    rng = np.random.default_rng(seed)
    taste = rng.choice([-1, 1], n_users)
    group = np.arange(n_items) % 2 * 2 - 1
    rows = []
    for u in range(n_users):
        p = np.exp(1.5 * taste[u] * group)
        for i in rng.choice(n_items, per_user, replace=False, p=p / p.sum()):
            r = 3.0 + taste[u] * group[i] + rng.normal(scale=0.3)
            rows.append((u + 1, int(i) + 101, float(np.clip(np.round(r * 2) / 2, 0.5, 5.0)), u * 100 + len(rows)))
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])


def _movies(n_items=N_ITEMS, seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.arange(101, 101 + n_items)
    return pd.DataFrame({
        "movieId": ids, "title": [f"movie {i}" for i in ids],
        "genres": [[GENRES[k % 2], GENRES[2 + (k // 2) % 2]] for k in range(n_items)],
        "has_tmdb": np.ones(n_items, bool), "vote_average": rng.uniform(4, 8, n_items),
        "vote_count": rng.integers(1, 5000, n_items).astype(float), "popularity": rng.uniform(0.5, 50, n_items),
    })


def _text(seed: int, signal: float) -> ItemEmbeddings:
    rng = np.random.default_rng(seed)
    ids = np.arange(101, 101 + N_ITEMS)
    M = rng.normal(scale=0.3, size=(N_ITEMS, 5))
    M[:, 0] += signal * (np.arange(N_ITEMS) % 2 * 2 - 1)
    return ItemEmbeddings(ids, normalize_rows(M), f"toy {seed}")


@pytest.fixture(scope="module")
def data():
    cold = cold_item_split(_ratings(), share=0.2, rng=0)
    val = warm_item_validation(cold, share=0.2, seed=1)
    embeddings = {"good text": _text(2, 1.0), "noise": _text(3, 0.0), "fine-tuned": _text(4, 0.5)}
    return SimpleNamespace(cold=cold, val=val, movies=_movies(), embeddings=embeddings)


TORCH = {"embedding_dim": 4, "feature_dim": 4, "hidden": [8], "dropout": 0.0, "lr": 0.01, "weight_decay": 0.0,
         "emb_l2": 0.0, "batch_size": 256, "max_epochs": 1, "patience": 1, "implicit": True, "refit": False,
         "num_threads": 1}


@pytest.fixture(scope="module")
def choices(data):
    prov = Provenance(k=5, default_metric="ndcg")
    ch = cs.choose_cold_settings(data.val, data.embeddings, ["good text", "noise"], data.movies, k=5, seed=0,
                                 ease_lambda=10.0, ridge_lambdas=[1.0, 100.0], text_weights=[1.0], als_factors=4,
                                 mlp_grid={"mlp_epochs": [5], "mlp_hidden": [8]}, torch_params=TORCH, text_dims=[2],
                                 prov=prov)
    return ch, prov


def test_choose_family_keeps_one_row_per_option_and_the_first_best_on_ties(data):
    from recutils.models.coldstart import ContentToCF

    prov = Provenance(k=5)
    options = [{"ridge_lambda": 1.0}, {"ridge_lambda": 2.0}, {"ridge_lambda": 3.0}]
    # the model ignores the option: every option scores the same, the first one wins
    choice, rows = cs.choose_family("tie", lambda **p: ContentToCF(text=False, item_table=data.movies, ease_lambda=10.0),
                                    options, data.val, 5, prov)
    assert choice.best == {"ridge_lambda": 1.0}
    assert [r["params"] for r in rows] == options and {r["family"] for r in rows} == {"tie"}
    assert len({r["val_ndcg"] for r in rows}) == 1 and all(r["seconds"] >= 0 for r in rows)
    assert prov.as_dict()["producers"]["tie"]["n_users"] > 0
    # a real grid: the chosen option is the one with the highest validation score (strictly, first)
    choice, rows = cs.choose_family("grid", lambda **p: ContentToCF(text=False, item_table=data.movies, ease_lambda=10.0,
                                                                    **p),
                                    [{"ridge_lambda": lam} for lam in (0.01, 1e4)], data.val, 5)
    best = max(range(len(rows)), key=lambda i: rows[i]["val_ndcg"])
    assert choice.best == rows[best]["params"] and choice.score == rows[best]["val_ndcg"]


def test_choose_cold_settings_rows_choices_and_provenance(choices):
    ch, prov = choices
    # 1 + 3 embeddings × 2 + text only 2 + genres only 2 + genres + text 2 + ALS 2 + 2 + MLP 1 + 1 + torch_cf 1
    assert len(ch.rows) == 2 + 6 + 2 + 2 + 2 + 2 + 2 + 1 + 1 + 1
    assert ch.best_text in ("good text", "noise")  # never the fine-tuned encoder
    scores = {lb: ch.chosen[f"ridge · metadata + {lb}"].score for lb in ("good text", "noise")}
    assert scores[ch.best_text] == max(scores.values())
    assert ch.text is not None and ch.als_base["embeddings"] is ch.text and ch.text_dim == 2
    d = ch.as_dict()
    assert list(d)[:3] == ["text_source", "text_dim", "ridge · metadata"]
    assert d["torch_cf · metadata"] == {} and d["MLP → ALS"] == {"mlp_hidden": 8, "mlp_epochs": 5}
    for name, c in ch.chosen.items():
        if c is not None:
            assert set(d[name]) == set(c.rows[0]) - {"val_ndcg", "seconds"}
    families = {r["family"] for r in ch.rows}
    assert families <= set(prov.as_dict()["producers"])
    assert ch.tc_text == f"torch_cf · metadata + text ({ch.best_text}, 2-d)"


def test_cold_test_table_verdict_and_text_comparisons(data, choices):
    ch, _ = choices
    models = cs.cold_test_models(ch, data.embeddings, "good text", "fine-tuned", seed=0)
    assert list(models)[:2] == ["random", "TMDB vote_count"] and cs.TC_META in models
    assert f"MLP → ALS · metadata + {ch.best_text}" in models
    rows, results = cs.cold_test_table(models, data.cold, 5, n_boot=50, seed=0)
    assert [r["model"] for r in rows] == list(models) and set(results) == set(models)
    assert all(r["fit_seconds"] >= 0 for r in rows)
    by = {r["model"]: r for r in rows}
    assert by[cs.TC_META]["ndcg_diff"] == 0.0 and by["MLP → ALS · metadata + " + ch.best_text]["own_reference"] == \
        "MLP → ALS · metadata"
    text_rows = cs.text_source_table(models, results, data.embeddings, data.cold, 5, n_boot=50)
    assert [r["model"] for r in text_rows] == [f"ridge · metadata + {lb}" for lb in data.embeddings]
    assert text_rows[0]["ndcg_diff"] == 0.0
    prov = Provenance(k=5)
    compared = cs.text_comparisons(results, [("noise", "good text"), ("missing", "good text")], n_boot=50, prov=prov)
    assert len(compared) == 1 and compared[0][0]["a"] == "noise"
    assert set(prov.as_dict()["producers"]) == {"noise", "good text"}
    v = cs.cold_verdict(rows, ch, [{"a": "x", "b": "y", "holds": True}], 5)
    assert len(v["families"]) == 6 and v["across_seeds"] == {"x vs y": True}
    assert v["chosen_text_beats_metadata_torch_cf"] == any(f["vs_torch_cf_metadata"][1] > 0 for f in v["families"].values())


def test_own_references():
    labels = ["random", "torch_cf · metadata", "ridge · metadata + t", "ridge · genres + t (no TMDB numbers)",
              "ridge → ALS · metadata + t", "MLP → ALS · metadata", "MLP → ALS · metadata + t"]
    assert cs.own_references(labels) == {
        "torch_cf · metadata": cs.TC_META, "ridge · metadata + t": "ridge · metadata",
        "ridge · genres + t (no TMDB numbers)": "ridge · genres only (no TMDB numbers)",
        "ridge → ALS · metadata + t": "ridge → ALS · metadata", "MLP → ALS · metadata": "ridge → ALS · metadata",
        "MLP → ALS · metadata + t": "MLP → ALS · metadata"}


class _Multi:
    """What the verdicts read of a MultiSeedResult: ``table`` and ``runs``."""

    def __init__(self, val: dict):
        self.val = val
        self.runs = [SimpleNamespace(seed=7, chosen={"a": {"x": 1}}, grids={"a": [{"x": 1}], "b": []})]
        self.seeds = [7]

    def table(self, metrics=("ndcg",)):
        return [{"model": m, "validation_ndcg@5": v, "ndcg@5": 0.1} for m, v in self.val.items()]


def test_text_verdict_chooses_on_validation_not_on_test():
    multi = _Multi({"metadata": 0.9, "A + text": 0.5, "B + text": 0.5, "C + text": float("nan"), "D + text": 0.2})
    rows = [{"model": "metadata"}, {"model": "A + text", "ndcg_diff": -0.1, "holds": False},
            {"model": "B + text", "ndcg_diff": -0.2, "holds": False}, {"model": "C + text", "ndcg_diff": 0.3, "holds": True},
            {"model": "D + text", "ndcg_diff": 0.0, "holds": False}]
    v = cs.text_verdict(multi, rows, 5)
    assert v["chosen_on_validation"]["model"] == "A + text"  # first of the tied best; NaN and metadata not candidates
    assert v["closest_on_test"]["model"] == "C + text"
    assert "vs_wider_diff" not in v["chosen_on_validation"]
    both = cs.ablation_verdict({"multi": multi, "rows": rows, "release_rows": rows[1:3]}, 5)
    assert set(both) == {"standard", "release_day"}


def test_seed_table_comparisons_and_entries():
    multi = _Multi({"a": float("nan"), "b": 0.5})
    rows = cs.seed_table(multi, ("ndcg",))
    assert rows[0]["validation_ndcg@5"] is None and rows[1]["validation_ndcg@5"] == 0.5
    c = PooledComparison("a", "b", "ndcg", 0.1, 0.05, 0.2, (0.1, 0.12), 30, 100)
    crow = cs.comparison_rows([c])
    assert crow == [{"a": "a", "b": "b", "ndcg_diff": 0.1, "ci_low": 0.05, "ci_high": 0.2, "per_seed": [0.1, 0.12],
                     "holds": True}]
    e = cs.seeds_entry(multi, rows, crow, 12.345)
    assert list(e) == ["seeds", "table", "comparisons", "chosen", "validation", "seconds"]
    assert e["validation"] == {7: {"a": [{"x": 1}]}} and e["seconds"] == 12.3
    abl = {"multi": multi, "text_source": "t", "release_text_source": "t", "rows": [], "release_rows": [],
           "text_rows": [], "cross_protocol": [], "curves": []}
    a = cs.ablations_entry(abl, {"standard": {}}, 1.26)
    assert a["seconds"] == 1.3 and a["verdict"] == {"standard": {}} and a["chosen"] == {7: {"a": {"x": 1}}}


def test_record_ablations_names_the_curves_and_the_references(tmp_path):
    rec = Record(tmp_path, k=5)
    empty = SimpleNamespace(runs=[])
    curves = [{"model": "curve · metadata", "n_users": 9}, {"model": "curve · metadata + text", "n_users": 7}]
    cs.record_ablations(rec, {"multi": empty, "text_multi": empty, "curves": curves})
    prov = rec.provenance.as_dict()
    assert prov["producers"]["curve · metadata + text"]["sources"] == ["als", "mlp", "text"]
    assert prov["producers"]["curve · metadata"]["n_users"] == 7
    assert prov["references"]["ablations"] == sorted([cs_ref.REFERENCE, cs_ref.RELEASE_REFERENCE, "ridge → EASE · metadata"])


def test_text_embedding_pins_the_backend_it_is_given(monkeypatch):
    """A third element of a ``text_embeddings`` entry pins the backend (notebook 03's cache is
    read only in that backend); without it the first cached backend is read, as before."""
    from recutils.config import check_field
    from recutils.errors import ConfigError
    from recutils.experiments import coldstart
    from recutils.embeddings import items
    from recutils.notebooks.schemas import ColdStartParams

    calls = []
    monkeypatch.setattr(coldstart, "search_text_embeddings", lambda *a, **kw: calls.append(("search", kw)) or "S")
    monkeypatch.setattr(items, "compute_item_embeddings", lambda *a, **kw: calls.append(("text", kw)) or "T")
    assert cs.text_embedding("m", "search", "onnx-int8") == "S" and calls[-1][1]["backends"] == ("onnx-int8",)
    assert cs.text_embedding("m", "search") == "S" and "backends" not in calls[-1][1]
    assert cs.text_embedding("m", "overview", "torch") == "T" and calls[-1][1]["backend"] == "torch"
    check_field(ColdStartParams, "text_embeddings", {"a": ["m", "search", "onnx-int8"], "b": ["m", "study"]})
    for bad in ({"a": ["m", "search", "int4"]}, {"a": ["m"]}, {"a": ["m", "search", "torch", "x"]}):
        with pytest.raises(ConfigError, match="text_embeddings must be a mapping"):
            check_field(ColdStartParams, "text_embeddings", bad)
