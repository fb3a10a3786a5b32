"""Issue 24's cold-start options on tiny synthetic data: release-day metadata, the text block
reduced by PCA, DropoutNet-style input dropout, early stopping on warm items, the MLP onto
EASE, the residual map and the score-level blend — shapes, determinism, that each option
changes what it says it changes, one-line config errors, and no cold-item leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recutils.errors import ConfigError, RecutilsError
from recutils.models.coldstart import ColdBlend, ContentToCF, content_matrix, ease_factors, text_columns
from recutils.splits import cold_item_split

from test_coldstart import _ratings, _table, _text, _with_test

pytest.importorskip("torch")

MLP = dict(target="als", mapper="mlp", als_factors=4, als_iterations=3, mlp_hidden=8, mlp_epochs=30)


@pytest.fixture(scope="module")
def cold():
    return cold_item_split(_ratings(), share=0.2, rng=0)


def _release_table():
    t = _table()
    t["year"] = np.where(t["movieId"] % 5 == 0, np.nan, 1980 + (t["movieId"] % 30).astype(float))
    t["release_year"] = t["year"].fillna(1999.0)
    t["runtime"] = np.where(t["movieId"] % 4 == 0, np.nan, 80.0 + t["movieId"] % 50)
    return t


def _scores(cold, **p):
    return ContentToCF(item_table=_release_table(), embeddings=_text(), **p).fit(cold).score(np.arange(cold.n_users))


# --- content options ------------------------------------------------------------------------
def test_release_day_drops_the_tmdb_vote_numbers_and_keeps_year_and_runtime(cold):
    warm = ~cold.cold_items
    C = content_matrix(cold.items, warm, _release_table(), _text(), release_day=True)
    assert not any(n in C.names for n in ("vote_average", "log_vote_count", "log_popularity", "missing_tmdb"))
    assert {"year", "log_runtime", "missing_year", "missing_runtime"} <= set(C.names)
    assert any(n.startswith("genre_") for n in C.names) and C.n_text == 6
    # vote numbers can change at will: release-day content stays the same
    t = _release_table()
    t["vote_count"], t["popularity"] = t["vote_count"] * 7, t["popularity"][::-1].to_numpy()
    np.testing.assert_array_equal(content_matrix(cold.items, warm, t, _text(), release_day=True).matrix, C.matrix)
    # a cold movie's missing year is imputed from warm items only
    t2 = _release_table()
    t2.loc[t2["movieId"].isin(cold.items[cold.cold_items]), "year"] += 500
    C2 = content_matrix(cold.items, warm, t2, _text(), release_day=True)
    changed = np.flatnonzero(np.abs(C2.matrix - C.matrix).sum(1) > 1e-12)
    assert cold.cold_items[changed].all()


def test_text_dim_is_a_pca_of_the_warm_text_rows(cold):
    warm = ~cold.cold_items
    full = content_matrix(cold.items, warm, _table(), _text())
    C = content_matrix(cold.items, warm, _table(), _text(), text_dim=3, text_weight=0.5)
    assert C.n_text == 3 and C.matrix.shape[1] == full.matrix.shape[1] - 6 + 3
    assert [n for n in C.names if n.startswith("text_pc_")] == ["text_pc_0", "text_pc_1", "text_pc_2"]
    pcs = C.matrix[warm][:, text_columns(C)][:, :3]
    np.testing.assert_allclose(pcs.std(0), 0.5, rtol=1e-9)  # unit variance on warm rows, times text_weight
    np.testing.assert_allclose(np.corrcoef(pcs.T), np.eye(3), atol=1e-9)  # uncorrelated components
    # the PCA is fitted on warm rows: a cold movie's embedding changes only its own row
    e = _text()
    e.matrix[np.flatnonzero(np.isin(e.movie_ids, cold.items[cold.cold_items]))[0]] *= -1
    changed = np.flatnonzero(np.abs(content_matrix(cold.items, warm, _table(), e, text_dim=3).matrix
                                    - content_matrix(cold.items, warm, _table(), _text(), text_dim=3).matrix).sum(1) > 1e-12)
    assert len(changed) == 1 and cold.cold_items[changed[0]]


def test_ease_factors_reproduce_the_scores_at_full_rank():
    S = np.random.default_rng(0).normal(size=(7, 12))
    U, Y = ease_factors(S, 7)
    np.testing.assert_allclose(U @ Y.T, S, atol=1e-10)
    assert ease_factors(S, 3)[1].shape == (12, 3)


# --- MLP options -----------------------------------------------------------------------------
@pytest.mark.parametrize("extra", [
    {},
    {"text_dim": 3},
    {"text_dropout": 0.5},
    {"metadata_dropout": 0.3, "text_dropout": 0.3},
    {"early_stopping": True, "mlp_epochs": 40},
    {"target": "ease", "ease_lambda": 5.0, "ease_rank": 4},
    {"mapper": "residual", "ridge_lambda": 3.0},
    {"release_day": True},
])
def test_mlp_options_score_cold_items_deterministically(cold, extra):
    p = {**MLP, **extra}
    a = _scores(cold, **p)
    assert a.shape == (cold.n_users, cold.n_items) and np.isfinite(a).all()
    assert np.unique(np.round(a[0, cold.cold_items], 7)).size > 1
    np.testing.assert_array_equal(a, _scores(cold, **p))  # same seed, same scores
    warm = ~cold.cold_items
    same_target = {kk: v for kk, v in p.items() if kk in ("target", "ease_lambda", "als_factors", "als_iterations")}
    ridge = _scores(cold, **same_target, mapper="ridge", text=False)
    np.testing.assert_array_equal(a[:, warm], ridge[:, warm])  # warm items keep the CF target's own scores


@pytest.mark.parametrize("extra", [{"text_dropout": 0.5}, {"metadata_dropout": 0.5}, {"text_dim": 2},
                                   {"early_stopping": True}, {"mapper": "residual"}])
def test_each_option_changes_the_cold_scores(cold, extra):
    if "early_stopping" in extra:  # a large step and many epochs: it stops before mlp_epochs
        extra = {**extra, "mlp_epochs": 300, "mlp_lr": 0.05, "mlp_hidden": 64}
        m = ContentToCF(item_table=_release_table(), embeddings=_text(), **{**MLP, **extra}).fit(cold)
        assert m.mlp_epochs_ < 300
    base = _scores(cold, **{**MLP, **{kk: v for kk, v in extra.items() if kk.startswith("mlp_")}})
    assert not np.allclose(base[:, cold.cold_items], _scores(cold, **{**MLP, **extra})[:, cold.cold_items])


def test_input_dropout_zeroes_whole_blocks_of_training_rows(monkeypatch):
    """The network sees rows with the text block zeroed (or the metadata block), never both."""
    import torch

    from recutils.models.coldstart import mlp

    seen = []
    real = torch.nn.Sequential.forward
    monkeypatch.setattr(torch.nn.Sequential, "forward", lambda self, x: seen.append(x.detach().numpy().copy()) or real(self, x))
    rng = np.random.default_rng(0)
    C, Y = rng.normal(size=(400, 7)) + 3.0, rng.normal(size=(400, 2))  # no exact zeros in the inputs
    cfg = ContentToCF(**{**MLP, "text_dropout": 0.3, "metadata_dropout": 0.2, "mlp_epochs": 5}).config
    mlp.mlp_map(C, Y, C[:3], cfg, slice(4, 7))
    train = [x for x in seen if len(x) == 400]
    assert len(train) == 5
    text_off = np.concatenate([(x[:, 4:] == 0).all(1) for x in train])
    meta_off = np.concatenate([(x[:, :4] == 0).all(1) for x in train])
    assert not (text_off & meta_off).any()
    assert text_off.mean() == pytest.approx(0.3, abs=0.05) and meta_off.mean() == pytest.approx(0.2, abs=0.05)
    assert not (seen[-1] == 0).any()  # the mapped new items are never dropped


def test_early_stopping_chooses_epochs_on_held_out_warm_items(cold):
    from recutils.models.coldstart.mlp import ES_EVERY, early_stopping_epochs

    m = ContentToCF(item_table=_table(), embeddings=_text(), **{**MLP, "early_stopping": True, "mlp_epochs": 50}).fit(cold)
    assert 1 <= m.mlp_epochs_ <= 50 and (m.mlp_epochs_ % ES_EVERY == 0 or m.mlp_epochs_ == 50)
    rng = np.random.default_rng(1)
    C = rng.normal(size=(200, 5))
    Y = C @ rng.normal(size=(5, 3)) + rng.normal(scale=2.0, size=(200, 3))
    cfg = ContentToCF(**{**MLP, "mlp_epochs": 300, "mlp_lr": 0.05, "mlp_hidden": 64, "mlp_dropout": 0.0}).config
    best, curve = early_stopping_epochs(C, Y, cfg)
    assert [e for e, _ in curve][:3] == [10, 20, 30] and best == min(curve, key=lambda t: t[1])[0]
    assert best < 300  # noisy targets, a wide net and a large step: it overfits, so it stops early


def test_learning_curve_matches_separate_fits(cold):
    m = ContentToCF(item_table=_table(), embeddings=_text(), **MLP)
    curve = m.learning_curve(cold.without_test(), [10, 30])
    assert sorted(curve) == [10, 30]
    one = ContentToCF(item_table=_table(), embeddings=_text(), **{**MLP, "mlp_epochs": 10}).fit(cold).score(np.arange(cold.n_users))
    np.testing.assert_allclose(curve[10], one, rtol=1e-6, atol=1e-6)
    with pytest.raises(ConfigError, match="learning_curve"):
        ContentToCF(item_table=_table(), text=False, early_stopping=True, **{**MLP, "mapper": "mlp"}).learning_curve(cold, [5])


def test_residual_map_is_the_metadata_mlp_plus_text(cold):
    """With an enormous ridge λ the text part shrinks to the mean warm residual: the residual map
    is the metadata-only MLP plus one offset per user (the same ranking); a usable λ moves it."""
    c = cold.cold_items
    meta_only = _scores(cold, **MLP, text=False)[:, c]
    d = _scores(cold, **{**MLP, "mapper": "residual", "ridge_lambda": 1e12})[:, c] - meta_only
    np.testing.assert_allclose(d, np.broadcast_to(d[:, :1], d.shape), atol=1e-5)
    d = _scores(cold, **{**MLP, "mapper": "residual", "ridge_lambda": 1.0})[:, c] - meta_only
    assert np.abs(d - d[:, :1]).max() > 1e-3


@pytest.mark.parametrize("kw, msg", [
    ({"text_dropout": 0.6, "metadata_dropout": 0.4, "mapper": "mlp", "target": "als"}, "must be < 1"),
    ({"text_dropout": 0.3}, "MLP options"),
    ({"early_stopping": True}, "MLP options"),
    ({"text_dropout": 0.3, "mapper": "mlp", "text": False}, "both blocks"),
    ({"mapper": "residual", "text": False}, "needs metadata and text"),
    ({"release_day": True, "metadata": False}, "needs metadata=True"),
    ({"text_dim": 4, "text": False}, "text=False"),
    ({"text_dim": -1}, "text_dim"),
    ({"text_dropout": 1.0, "mapper": "mlp"}, "text_dropout"),
    ({"es_share": 0.0}, "es_share"),
    ({"mapper": "lasso"}, "mapper"),
])
def test_bad_option_values_are_one_line_config_errors(kw, msg):
    with pytest.raises(ConfigError, match=msg) as e:
        ContentToCF(**kw)
    assert "\n" not in str(e.value)


# --- the blend ----------------------------------------------------------------------------------
BLEND = dict(meta={**MLP, "text": False}, text_side={"ease_lambda": 5.0, "ridge_lambda": 1.0})


def test_blend_is_a_weighted_sum_of_per_user_standardised_scores(cold):
    def z(S):
        return (S - S.mean(1, keepdims=True)) / S.std(1, keepdims=True)

    m = ContentToCF(item_table=_table(), embeddings=_text(), **BLEND["meta"]).fit(cold).score(np.arange(cold.n_users))
    t = ContentToCF(item_table=_table(), embeddings=_text(), **BLEND["text_side"]).fit(cold).score(np.arange(cold.n_users))
    c = cold.cold_items
    for w in (0.0, 0.3, 1.0):
        b = ColdBlend(item_table=_table(), embeddings=_text(), blend_weight=w, **BLEND).fit(cold).score(np.arange(cold.n_users))
        np.testing.assert_allclose(b[:, c], (1 - w) * z(m[:, c]) + w * z(t[:, c]), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(b[:, ~c], m[:, ~c], rtol=1e-6)


def test_blend_fits_each_map_once_per_training_data(cold, monkeypatch):
    calls = []
    real = ContentToCF.fit
    monkeypatch.setattr(ContentToCF, "fit", lambda self, d: calls.append(self.config.mapper) or real(self, d))
    train = cold.without_test()
    table, e = _table(), _text()
    for w in (0.1, 0.5, 0.9):
        ColdBlend(item_table=table, embeddings=e, blend_weight=w, **BLEND).fit(train)
    assert sorted(calls) == ["mlp", "ridge"]
    with pytest.raises(ConfigError, match="blend_weight"):
        ColdBlend(blend_weight=1.5)
    with pytest.raises(ConfigError, match="a map's settings are invalid"):
        ColdBlend(meta={"mapper": "lasso"})


# --- no cold-item leakage -------------------------------------------------------------------
NEW_SCORERS = {
    "pca": (ContentToCF, {**MLP, "text_dim": 3}),
    "dropout": (ContentToCF, {**MLP, "text_dropout": 0.4, "metadata_dropout": 0.2}),
    "early": (ContentToCF, {**MLP, "early_stopping": True}),
    "ease-mlp": (ContentToCF, {**MLP, "target": "ease", "ease_lambda": 5.0, "ease_rank": 4}),
    "residual": (ContentToCF, {**MLP, "mapper": "residual"}),
    "release": (ContentToCF, {**MLP, "release_day": True}),
    "release-ridge": (ContentToCF, {"ease_lambda": 5.0, "ridge_lambda": 1.0, "release_day": True}),
    "blend": (ColdBlend, {**BLEND, "blend_weight": 0.4}),
}


@pytest.mark.parametrize("label", list(NEW_SCORERS))
def test_new_scorers_do_not_depend_on_the_cold_items_held_out_ratings(cold, label):
    cls, p = NEW_SCORERS[label]
    a = cls(item_table=_release_table(), embeddings=_text(), **p).fit(cold).score(np.arange(cold.n_users))
    t = cold.test.copy()
    t["rating"] = 6.0 - t["rating"]
    t = pd.concat([t, t.assign(uidx=(t["uidx"] + 1) % cold.n_users)])
    b = cls(item_table=_release_table(), embeddings=_text(), **p).fit(_with_test(cold, t)).score(np.arange(cold.n_users))
    np.testing.assert_array_equal(a, b)


def test_every_new_scorer_is_fitted_and_chosen_without_a_cold_test_movie(monkeypatch):
    """cold_multi_seed with every new scorer (a grid each): every fit — validation grid, the
    refit, the blend's inner maps — sees training data with no cold test movie of its seed."""
    from recutils.experiments.coldstart import ColdCandidate, cold_multi_seed

    ratings, table = _ratings(n_users=60), _release_table()
    seen = []
    for cls in (ContentToCF, ColdBlend):
        real = cls.fit
        monkeypatch.setattr(cls, "fit", lambda self, d, _real=real: seen.append(set(d.train["movieId"])) or _real(self, d))
    grids = {"pca": [{"text_dim": 2}, {"text_dim": 4}], "dropout": [{"text_dropout": 0.2}, {"text_dropout": 0.5}],
             "early": [{"mlp_epochs": 20}, {"mlp_epochs": 40}], "ease-mlp": [{"ease_rank": 2}, {"ease_rank": 4}],
             "residual": [{"ridge_lambda": 1.0}, {"ridge_lambda": 100.0}], "release": [{"mlp_epochs": 10}, {"mlp_epochs": 30}],
             "release-ridge": [{"ridge_lambda": 1.0}, {"ridge_lambda": 100.0}],
             "blend": [{"blend_weight": 0.2}, {"blend_weight": 0.8}]}
    cands = {lb: ColdCandidate(lambda cls=cls, p=p, **g: cls(item_table=table, embeddings=_text(), **{**p, **g}), tuple(grids[lb]))
             for lb, (cls, p) in NEW_SCORERS.items()}
    res = cold_multi_seed(ratings, [3, 4], cands, k=3, cold_share=0.2, val_share=0.2)
    assert res.labels == list(NEW_SCORERS) and all(seen)
    per_seed = len(seen) // 2
    for s, movies in zip((3, 4), [seen[:per_seed], seen[per_seed:]]):
        held = set(cold_item_split(ratings, share=0.2, rng=s).items[cold_item_split(ratings, share=0.2, rng=s).cold_items])
        assert all(not (m & held) for m in movies)


# --- the study's helpers ----------------------------------------------------------------------
TINY = {"mlp_hidden": [4], "mlp_epochs": [5, 10], "variant_epochs": 5, "text_dims": [2], "mlp_text_weights": [0.3],
        "input_dropouts": [[0.5, 0.0]], "es_max_epochs": 10, "ease_rank": 3, "residual_lambdas": [1.0],
        "blend_weights": [0.5], "blend_ridge_lambdas": [1.0], "ridge_lambdas": [1.0], "text_weights": [1.0]}
BASE = {"als": {"als_factors": 3, "seed": 0}, "ease_lambda": 5.0}


def test_ablation_rows_and_the_stronger_reference_recheck():
    """run_ablations: every scorer on every seed, rows against the protocol's metadata-only MLP;
    stronger_reference refits the chosen text scorers (same numbers) against a wider grid."""
    from recutils.experiments.coldstart_ablations import (REFERENCE, RELEASE_REFERENCE, ablation_candidates,
                                                          release_candidates, run_ablations, stronger_reference)

    ratings, table = _ratings(n_users=60), _release_table()
    saved = []
    wide = {**TINY, "wider_reference": {"mlp_hidden": [4], "mlp_epochs": [5, 20]}}
    texts = {"toy": _text(), "no tags": _text(seed=5)}
    res = run_ablations(ratings, table, texts, BASE, [3, 4], wide, k=3, cold_share=0.2, val_share=0.2,
                        curve_hiddens=[4], curve_epochs=[2, 4], n_boot=100, on_seed=lambda r: saved.append(r["multi"].seeds),
                        release_texts=["no tags"])
    assert saved == [[3], [3, 4]] and res["release_text_source"] == "no tags"
    assert res["text_source"] == max(texts, key=lambda lb: res["text_validation"][lb])
    labels = set(ablation_candidates(table, _text(), BASE, wide)) | set(release_candidates(table, _text(), BASE, wide))
    assert {r["model"] for r in res["rows"] + res["release_rows"]} == labels
    assert {f"{REFERENCE} (wider grid)", f"{RELEASE_REFERENCE} (wider grid)"} <= labels
    for r in res["rows"] + res["release_rows"]:
        wider = r["model"] in {REFERENCE, RELEASE_REFERENCE} or r["model"].endswith("(wider grid)")
        assert ("vs_wider_diff" in r) != wider
        if not wider:
            assert r["vs_wider_reference"] == f"{'release · ' if r['model'].startswith('release') else ''}{REFERENCE} (wider grid)"
    with pytest.raises(RecutilsError, match="release_texts"):
        run_ablations(ratings, table, texts, BASE, [3], TINY, release_texts=["nope"])
    for rows, ref in ((res["rows"], REFERENCE), (res["release_rows"], RELEASE_REFERENCE)):
        for r in rows:
            assert r["n_seeds"] == 2 and ("ndcg_diff" not in r if r["model"] == ref else r["reference"] == ref)
            if "ndcg_diff" in r:
                assert r["ci_low"] <= r["ndcg_diff"] <= r["ci_high"] and len(r["per_seed_diff"]) == 2
    assert len(res["curves"]) == 2 * 2 and {c["mlp_epochs"] for c in res["curves"]} == {2, 4}
    chosen = {str(run.seed): run.chosen for run in res["multi"].runs}
    label = "MLP → ALS · metadata + text (PCA)"
    again = stronger_reference(ratings, table, texts[res["text_source"]], BASE, chosen, [label],
                               {"mlp_hidden": [4], "mlp_epochs": [5, 20]}, k=3, cold_share=0.2, val_share=0.2, n_boot=100,
                               grids=TINY)["rows"]
    by = {r["model"]: r for r in again}
    assert by[label]["reference"] == "MLP → ALS · metadata (wider grid)"
    assert by[label]["ndcg@3_per_seed"] == pytest.approx(next(r for r in res["rows"] if r["model"] == label)["ndcg@3_per_seed"])
