"""Notebook 05's study module (recutils.experiments.studies.hybrid) on tiny synthetic data: the
study rows, the bases chosen on validation, the blends tuned through tune_blend (the fine-tuned
one reusing the base choice), the paired intervals against each base, the seed claims."""

import numpy as np
import pandas as pd
import pytest

from recutils.embeddings.items import ItemEmbeddings, normalize_rows
from recutils.errors import RecutilsError
from recutils.evaluation import evaluate_ranking, paired_bootstrap_ci
from recutils.experiments import select_blend
from recutils.experiments.seeds import BlendCandidate, MultiSeedResult, SeedRun
from recutils.experiments.studies import hybrid as hs
from recutils.models import create
from recutils.models.content import Content
from recutils.models.hybrid import ScoreMatrix, blend_scores_all
from recutils.splits import study_split, validation_split

K = 5


def _ratings(n_users=40, n_items=50, per_user=14, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(1, n_users + 1):
        for j, i in enumerate(rng.choice(n_items, size=per_user, replace=False)):
            rows.append((u, int(i) + 1, float(rng.choice([2.0, 3.0, 4.0, 4.5, 5.0])), 1000 + 7 * u + j))
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])


def _emb(items, seed, label="toy"):
    rng = np.random.default_rng(seed)
    return ItemEmbeddings(np.asarray(items), normalize_rows(rng.normal(size=(len(items), 6))), label,
                          info={"n_pairs": 12, "finetune": {"epochs": 1}})


@pytest.fixture(scope="module")
def toy():
    split = study_split(_ratings())
    val = validation_split(split)
    emb = {"MiniLM base": _emb(split.items, 1), "MiniLM fine-tuned": _emb(split.items, 2)}
    run = hs.reproduce_study(split, emb, 0.85, K)
    bases = hs.tune_bases(split, K, [10.0, 100.0], [10.0], [1.0, 2.0], {"n_neighbors": [5], "shrinkage": [0.0]},
                          {"factors": [4], "regularization": [0.1], "alpha": [1.0], "iterations": [2]})
    blends = hs.tune_hybrids(split, val, run, bases, emb, [0.5, 1.0], K, shortlist=10)
    return split, val, emb, run, bases, blends


def test_reproduce_study_and_its_table(toy):
    split, _, emb, run, _, _ = toy
    assert list(run.results) == ["PMF", "PMF + MiniLM base (α=0.85)", "PMF + MiniLM fine-tuned (α=0.85)"]
    assert run.first == "PMF + MiniLM base (α=0.85)" and all(b == "PMF" for b, _ in run.hybrids.values())
    by_hand = evaluate_ranking(run.hybrids[run.first][1], split, K)
    np.testing.assert_array_equal(run.results[run.first].per_user["ndcg"], by_hand.per_user["ndcg"])
    published = {"PMF": (0.1, 0.2), "MiniLM base": (0.3, 0.4), "MiniLM fine-tuned": (0.5, 0.6),
                 "Qwen3-Emb-4B base": (0.7, 0.8), "Qwen3-Emb-4B fine-tuned": (0.9, 1.0)}
    rows, measured = hs.study_table(run, emb, 0.85, published, "not run")
    assert [r["study_published_p"] for r in rows] == [0.1, 0.3, 0.5, 0.7, 0.9]
    assert rows[0]["method"] == "PMF (cornac, study config)" and rows[0]["ndcg"] == run.results["PMF"].metrics["ndcg"]
    assert rows[2]["note"] == "row 3, re-run here (12 train pairs, 1 epochs)"
    assert rows[3]["precision"] is None and rows[3]["note"] == "row 4: not run"  # Qwen: published only
    assert list(measured) == ["PMF (cornac, study config)", *list(run.results)[1:]]


def test_bases_are_chosen_on_validation(toy):
    split, _, _, _, bases, _ = toy
    assert list(bases.choices) == ["ease", "ease_r", "itemknn", "als"]
    ease = bases.choices["ease"]
    assert ease.best["lambda_"] == max(ease.rows, key=lambda r: r["ndcg"])["lambda_"]
    assert bases.ease_label == f"EASE (λ={ease.best['lambda_']:g})" and bases.easer_label.startswith("EASE-r (λ=10")
    assert list(bases.results) == list(bases.models) and bases.results.split is split
    assert bases.configs()[bases.ease_label]["lambda_"] == ease.best["lambda_"]


def test_blends_go_through_tune_blend_and_the_finetuned_reuses_the_base_choice(toy):
    split, val, emb, run, bases, blends = toy
    assert list(blends.tuned) == ["PMF", "EASE", "EASE-r"] and blends.content_label == "MiniLM base"
    # the EASE-r choice by hand: the same validation scores, select_blend
    n = split.n_users
    vt = val.without_test()
    val_base = hs.full_scores(create("ease_r", **bases.chosen()["ease_r"]).fit(vt), n)
    val_content = hs.full_scores(Content(embeddings=emb["MiniLM base"]).fit(vt), n)
    choice = select_blend(val, val_base, val_content, [0.5, 1.0], k=K)
    assert (blends.tuned["EASE-r"].choice.alpha, blends.tuned["EASE-r"].choice.base_norm) == (choice.alpha,
                                                                                            choice.base_norm)
    # the fine-tuned blend: EASE-r's choice, applied to the fine-tuned content
    assert blends.ft.choice is blends.tuned["EASE-r"].choice and "α from base MiniLM" in blends.ft.label
    S = blend_scores_all(split, hs.full_scores(bases.models[bases.easer_label], n),
                         hs.full_scores(run.contents["MiniLM fine-tuned"], n), choice.alpha, choice.base_norm)
    by_hand = evaluate_ranking(ScoreMatrix(S).fit(split.without_test()), split, K)
    np.testing.assert_array_equal(blends.results[blends.ft.label].topk, by_hand.topk)
    assert [b for b, _ in blends.hybrids.values()] == ["PMF", "EASE", "EASE-r", "EASE-r", "EASE-r"]
    assert list(blends.results) == list(blends.hybrids) and blends.learned.names == ["EASE-r", "content", "PMF"]
    assert len(blends.alpha_rows()) == 3 * 2 * 2 and blends.chosen()["EASE-r"]["alpha"] == choice.alpha
    rows = hs.beyond_rows(bases, blends)
    assert [r["note"] for r in rows[:5]] == ["CF baseline"] * 5 and len(rows) == 10


def test_paired_vs_base_and_beyond_table(toy):
    split, _, emb, run, bases, blends = toy
    results = hs.merge_results(split, K, run.results, bases.results, blends.results)
    with pytest.raises(RecutilsError, match="twice"):
        hs.merge_results(split, K, run.results, run.results)
    hybrids = {**run.hybrids, **blends.hybrids}
    rows = hs.paired_vs_base(results, hybrids, blends.base_labels, n_boot=100, rng=3)
    assert len(rows) == 3 * len(hybrids)
    r = next(r for r in rows if r["hybrid"] == blends.ft.label and r["metric"] == f"ndcg@{K}")
    ci = paired_bootstrap_ci(results[blends.ft.label].per_user["ndcg"], results[bases.easer_label].per_user["ndcg"],
                             n_boot=100, rng=3)
    assert r["base"] == bases.easer_label and (r["low"], r["high"]) == (float(ci.low), float(ci.high))
    beyond = hs.beyond_table(results, pd.DataFrame({"movieId": split.items, "genres": "Drama|Comedy"}), emb)
    assert [b["method"] for b in beyond] == list(results) and f"mrr@{K}" in beyond[0]


def test_item_vectors_align_and_zero_fill():
    e = ItemEmbeddings(np.array([3, 1]), np.array([[1.0, 0.0], [0.0, 1.0]]), "toy")
    np.testing.assert_array_equal(hs.item_vectors(e, np.array([1, 2, 3])), [[0, 1], [0, 0], [1, 0]])


def test_seed_models_claims_and_summary():
    emb = {"MiniLM base": _emb([1, 2], 0), "MiniLM fine-tuned": _emb([1, 2], 1)}
    cands, blends = hs.seed_models(emb, 0.85, [0.5, 1.0], [10.0], [2.0])
    assert list(cands) == ["MostPop", "PMF", "EASE-r"] and dict(cands["EASE-r"].grid) == {"lambda_": [10.0], "power": [2.0]}
    assert list(blends) == ["PMF + MiniLM base (α=0.85, the study's)", "EASE-r + MiniLM base (α tuned)"]
    assert blends["EASE-r + MiniLM base (α tuned)"].content().embeddings is emb["MiniLM base"]
    _, other = hs.seed_models({"Qwen3 base": _emb([1], 0), "Other base": _emb([1], 1)}, 0.85, [1.0], [1.0], [1.0])
    assert list(other) == ["EASE-r + Qwen3 base (α tuned)"]  # another encoder list: its first base only

    class R:
        def __init__(self, v):
            self.per_user = {m: np.asarray(v, float) for m in hs.METRICS}
            self.users, self.metrics = np.arange(len(v)), {m: float(np.mean(v)) for m in hs.METRICS}

    rng = np.random.default_rng(0)
    runs = [SeedRun(s, {"A": {"x": 1}, "EASE-r": {}, "C": {}, "PMF": {}}, {"A": 0.2, "EASE-r": 0.1, "C": 0.3, "PMF": 0},
                    {}, {"A": R(rng.normal(1, 0.1, 50)), "EASE-r": R(np.zeros(50)), "C": R(rng.normal(0, 0.1, 50)),
                         "PMF": R(np.zeros(50))}) for s in (1, 2)]
    ms = MultiSeedResult(runs, K, "ndcg")
    bl = {"A": BlendCandidate("EASE-r", lambda: None, [1.0]), "C": BlendCandidate("PMF", lambda: None, [1.0])}
    pairs = [f"A vs EASE-r (precision@{K})", f"A vs EASE-r (ndcg@{K})", f"C vs PMF (precision@{K})", f"C vs PMF (ndcg@{K})"]
    assert list(hs.claims_across_seeds(ms, bl, "A", n_boot=50, rng=0)) == pairs  # the best is on EASE-r already
    claims = hs.claims_across_seeds(ms, bl, "C", n_boot=50, rng=0)
    assert list(claims) == pairs + [f"C vs EASE-r (precision@{K})"]  # a blend on another base: also vs EASE-r
    assert claims[pairs[0]].holds and not claims[pairs[2]].holds
    assert claims[pairs[0]].low == ms.compare("A", "EASE-r", "precision", n_boot=50, rng=0).low
    summary = hs.seed_summary(ms, "C", claims)
    assert summary["seeds"] == [1, 2] and summary["chosen"]["A"] == [{"x": 1}, {"x": 1}]
    assert summary["best_on_validation"] == "C" and summary["validation_ndcg"]["A"] == [0.2, 0.2]
    assert set(summary["claims"][pairs[1]]) == {"mean_diff", "low", "high", "per_seed", "holds"}
    assert all(not any(k.endswith("_per_seed") for k in r) for r in hs.seed_rows(ms))


def test_encoders_finetune_config_and_embedding_labels():
    enc = hs.Encoders("study", 7, {"epochs": 1}, qwen_batch_size=2, dtype="float16")
    plain, qwen = enc.finetune_config("all-MiniLM-L6-v2"), enc.finetune_config("Qwen/Qwen3-Embedding-4B")
    assert (plain.seed, plain.epochs, plain.lora) == (7, 1, False)
    assert (qwen.lora, qwen.batch_size, qwen.dtype, qwen.load_in_4bit) == (True, 2, "float16", True)
    assert enc.finetune_configs(["all-MiniLM-L6-v2"])["all-MiniLM-L6-v2"]["epochs"] == 1

    calls = []

    class Fake:  # records what would be embedded
        def embed(self, m, finetune_on=None, text_spec=None):
            calls.append((m, finetune_on, text_spec))
            return _emb([1, 2], len(calls), m)

    emb = hs.study_embeddings(Fake(), ["all-MiniLM-L6-v2"], ["all-MiniLM-L6-v2"], "train", overview_text=True)
    assert list(emb) == ["MiniLM base", "MiniLM fine-tuned", "MiniLM base, +overview"]
    assert calls == [("all-MiniLM-L6-v2", None, None), ("all-MiniLM-L6-v2", "train", None),
                     ("all-MiniLM-L6-v2", None, "study+overview")]
    assert hs.embedding_infos(emb)["MiniLM fine-tuned"] == {"n_pairs": 12}
    models, info = hs.cold_item_models(Fake(), emb, ["all-MiniLM-L6-v2"], "cold train", pd.DataFrame(), seed=0)
    assert list(models) == ["random", "TMDB vote_count (MostPop among cold)", "content, MiniLM base",
                            "content, MiniLM base, +overview", "content, MiniLM fine-tuned (cold-split train pairs)"]
    assert calls[-1] == ("all-MiniLM-L6-v2", "cold train", None) and info == {"MiniLM": {"n_pairs": 12}}


def test_demo_tops(toy):
    split, _, _, run, bases, blends = toy
    user = hs.demo_user_id(split)
    assert user == int(split.train["userId"].value_counts().index[0]) and hs.demo_user_id(split, 5) == 5
    tops = hs.demo_tops(split, user, run, bases, blends, 0.85, pd.Series(dtype=object))
    assert list(tops)[:3] == ["PMF", "PMF + MiniLM base (α=0.85)", bases.easer_label]
    assert list(tops)[3:] == [name for name, (b, _) in blends.hybrids.items() if b == "EASE-r"]
    assert all(len(t) == 5 for t in tops.values())
