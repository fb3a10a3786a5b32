"""Hybrid study pieces on toy data: study text builder, profile weights, vectorised content
scores vs a hand-written loop, min-max normalisation, the blend, pair mining caps."""

import itertools

import numpy as np
import pandas as pd
import pytest

from recutils.errors import RecutilsError
from recutils.datasets.text import study_movie_texts
from recutils.embeddings.items import ItemEmbeddings, normalize_rows
from recutils.models.content import Content, content_scores, profile_weights
from recutils.experiments import tune_alpha
from recutils.models import create
from recutils.models.hybrid import Hybrid, ScoreMatrix, blend, minmax_rows, seen_mask
from recutils.splits import make_split


@pytest.fixture
def toy_split(toy_ratings):
    tr = toy_ratings.groupby("userId", group_keys=False).head(4)
    te = toy_ratings.drop(tr.index)
    return make_split("toy", tr, te)


@pytest.fixture
def toy_emb(toy_split):
    rng = np.random.default_rng(1)
    ids = np.r_[toy_split.items, 999]  # one movie outside the split: ignored
    return ItemEmbeddings(ids, normalize_rows(rng.normal(size=(len(ids), 5))), "toy")


def test_study_movie_texts():
    movies = pd.DataFrame({"movieId": [1, 2, 3, 4],
                           "title": ["Toy Story (1995)", "City of Lost Children, The (Cité des enfants perdus, La) (1995)",
                                     "Untitled", "(2010)"],
                           "genres": ["Adventure|Animation", "Drama|Mystery", "(no genres listed)", "(no genres listed)"]})
    tags = pd.DataFrame({"userId": [1, 2, 3], "movieId": [1, 3, 1], "tag": ["Pixar", "Weird", "pixar"],
                         "timestamp": [0, 0, 0]})
    t = study_movie_texts(movies, tags)
    assert t[1] == "Toy Story Adventure Animation pixar pixar"  # all tags, lower-cased, file order
    assert t[2] == "City of Lost Children, The (Cité des enfants perdus, La) Drama Mystery"
    assert t[3] == "Untitled  weird"  # the study's f-string keeps the double space
    assert t[4] == "movie"  # empty text → "movie"


def test_profile_weights_formula(toy_split):
    W = profile_weights(toy_split)
    tr = toy_split.train
    for u, g in tr.groupby("uidx"):
        ts = g["timestamp"].to_numpy(float)
        norm = (ts - ts.min()) / (ts.max() - ts.min()) if ts.max() > ts.min() else np.ones_like(ts)
        expected = np.exp(norm) * g["rating"].to_numpy() / 5.0
        np.testing.assert_allclose(W[u, g["iidx"].to_numpy()].toarray().ravel(), expected)
    W0 = profile_weights(toy_split, recency=False)
    assert np.allclose(W0.toarray(), toy_split.train_ratings.toarray() / 5.0)


def test_constant_timestamps_weigh_e(toy_ratings):
    r = toy_ratings.assign(timestamp=7)
    s = make_split("flat", r, r.iloc[:0])
    W = profile_weights(s)
    np.testing.assert_allclose(W.data, np.e * s.train_ratings.data / 5.0)


def test_content_scores_match_loop(toy_split, toy_emb):
    from recutils.models.content import align_embeddings

    E, ok = align_embeddings(toy_emb.movie_ids, toy_emb.matrix, toy_split.items)
    assert ok.all()
    W = profile_weights(toy_split)
    C = content_scores(W, E)
    tr = toy_split.train
    for u in range(toy_split.n_users):
        g = tr[tr["uidx"] == u]
        w = W[u, g["iidx"].to_numpy()].toarray().ravel()
        rated = E[g["iidx"].to_numpy()]
        for j in range(toy_split.n_items):
            sims = rated @ E[j] / (np.linalg.norm(rated, axis=1) * np.linalg.norm(E[j]))
            assert C[u, j] == pytest.approx((sims @ w) / w.sum(), abs=1e-5)
    np.testing.assert_allclose(content_scores(W, E, [2, 0]), C[[2, 0]], atol=1e-6)


def test_minmax_rows():
    S = np.array([[1.0, 3.0, 2.0, -np.inf], [5.0, 5.0, 5.0, 5.0], [0.0, 10.0, 4.0, 2.0]])
    out = minmax_rows(S)
    np.testing.assert_allclose(out[0, :3], [0.0, 1.0, 0.5])
    assert out[0, 3] == -np.inf
    np.testing.assert_allclose(out[1], 0.5)  # constant row → 0.5 (the study)
    mask = np.array([[True] * 4, [True] * 4, [False, False, True, True]])
    out = minmax_rows(S, mask)
    np.testing.assert_allclose(out[2, 2:], [1.0, 0.0])
    assert np.isneginf(out[2, :2]).all()


def test_blend_study_normalisation():
    base = np.array([[10.0, 4.0, 2.0, 0.0]])  # item 0 is seen and holds the max
    content = np.array([[0.9, 0.1, 0.5, 0.3]])
    seen = np.array([[True, False, False, False]])
    out = blend(base, content, 0.5, seen, base_norm="all")
    # base over all items: (x − 0) / 10; content over candidates 1..3: (c − 0.1) / 0.4
    np.testing.assert_allclose(out[0, 1:], 0.5 * np.array([0.4, 0.2, 0.0]) + 0.5 * np.array([0.0, 1.0, 0.5]))
    assert out[0, 0] == -np.inf
    cand = blend(base, content, 0.5, seen, base_norm="candidates")
    np.testing.assert_allclose(cand[0, 1:], 0.5 * np.array([1.0, 0.5, 0.0]) + 0.5 * np.array([0.0, 1.0, 0.5]))
    with pytest.raises(RecutilsError):
        blend(base, content, 1.5, seen)


def test_blend_part_missing_contributes_zero():
    base = np.array([[1.0, 0.0, -np.inf]])  # item 2: a cold item CF cannot score
    content = np.array([[0.0, 1.0, 0.5]])
    out = blend(base, content, 0.8, np.zeros((1, 3), bool))
    np.testing.assert_allclose(out[0], [0.8, 0.2, 0.2 * 0.5])


def test_alpha_one_equals_base_ranking(toy_split, toy_emb):
    from recutils.models.baselines import MostPop

    rng = np.random.default_rng(3)
    scores = rng.normal(size=(toy_split.n_users, toy_split.n_items))
    base = ScoreMatrix(scores).fit(toy_split)
    users = np.arange(toy_split.n_users)
    content = Content(embeddings=toy_emb).fit(toy_split)
    h1 = Hybrid(base_model=base, content_model=content, alpha=1.0).fit(toy_split)
    np.testing.assert_array_equal(h1.rank(users, 3), base.rank(users, 3))
    h0 = Hybrid(base_model=base, content_model=content, alpha=0.0).fit(toy_split)
    np.testing.assert_array_equal(h0.rank(users, 3), content.rank(users, 3))
    # a registered base, built from the config, with overrides parsed from a string
    h = Hybrid(base="mostpop", embeddings=toy_emb, alpha=0.85).fit(toy_split)
    assert isinstance(h.base_model, MostPop)
    s = h.score(users)
    assert s.shape == (toy_split.n_users, toy_split.n_items)
    assert np.isneginf(s[seen_mask(toy_split, users)]).all()
    assert Hybrid(base={"name": "ease", "params": {"lambda_": 3.0}}, embeddings=toy_emb).fit(toy_split).base_model.config.lambda_ == 3.0
    other = make_split("other", toy_split.train, toy_split.test)
    fitted_elsewhere = create("ease").fit(other)
    with pytest.raises(RecutilsError, match="fitted on another split"):
        Hybrid(base_model=fitted_elsewhere, embeddings=toy_emb).fit(toy_split)


def test_hybrid_config_errors():
    with pytest.raises(RecutilsError):
        Hybrid(alpha=2.0)
    with pytest.raises(RecutilsError):
        Hybrid(base_norm="nope")
    with pytest.raises(RecutilsError):
        Hybrid(base="hybrid")


def test_tune_alpha(toy_split, toy_emb):
    rng = np.random.default_rng(4)
    base = rng.normal(size=(toy_split.n_users, toy_split.n_items))
    content = Content(embeddings=toy_emb).fit(toy_split).score(np.arange(toy_split.n_users))
    best, rows = tune_alpha(toy_split, base, content, [0.0, 0.5, 1.0], k=3)
    assert best in (0.0, 0.5, 1.0) and len(rows) == 3
    assert max(r["ndcg"] for r in rows) == next(r["ndcg"] for r in rows if r["alpha"] == best)


def test_content_scores_cold_items(toy_ratings, toy_emb):
    """Cold items (no training data) get content scores; an item without an embedding gets −inf."""
    cold_id = int(toy_ratings["movieId"].max())
    tr = toy_ratings[toy_ratings["movieId"] != cold_id]
    items = np.r_[np.sort(tr["movieId"].unique()), cold_id, 12345]
    s = make_split("cold", tr, toy_ratings[toy_ratings["movieId"] == cold_id], items=items,
                   cold_items=np.r_[np.zeros(len(items) - 2, bool), True, True])
    m = Content(embeddings=toy_emb).fit(s)
    sc = m.score(np.arange(s.n_users))
    assert np.isfinite(sc[:, -2]).all() and np.isneginf(sc[:, -1]).all()


# --- pair mining ------------------------------------------------------------------------------
def test_unrank_pairs_matches_combinations():
    from recutils.embeddings.finetune import _unrank_pairs

    for n in (2, 3, 7):
        i, j = _unrank_pairs(np.arange(n * (n - 1) // 2), n)
        assert list(zip(i.tolist(), j.tolist())) == list(itertools.combinations(range(n), 2))


def _liked_split(n_users=30, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        n = int(rng.integers(1, 12))
        for i in rng.choice(40, size=n, replace=False):
            rows.append((u, int(i), float(rng.choice([2.0, 4.0, 5.0])), 0))
    r = pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])
    return make_split("liked", r, r.iloc[:0])


def test_mine_pairs_caps_and_validity():
    from recutils.embeddings.finetune import mine_pairs

    s = _liked_split()
    pairs = mine_pairs(s, pairs_per_user=4, max_pairs=10_000, rng=np.random.default_rng(0))
    tr = s.train
    liked = {(u, i) for u, i, r in zip(tr["uidx"], tr["iidx"], tr["rating"]) if r >= 4}
    owner = {}
    for u, i in liked:
        owner.setdefault(i, set()).add(u)
    # each pair: two distinct items liked by a common user
    assert (pairs[:, 0] != pairs[:, 1]).all()
    assert all(owner[a] & owner[b] for a, b in pairs)
    # per-user cap and exact counts: min(C(n, 2), cap) per user
    n_liked = pd.Series([u for u, _ in liked]).value_counts()
    expected = sum(min(n * (n - 1) // 2, 4) for n in n_liked)
    assert len(pairs) == expected
    capped = mine_pairs(s, pairs_per_user=4, max_pairs=7, rng=0)
    assert len(capped) == 7
    np.testing.assert_array_equal(mine_pairs(s, 4, 50, rng=5), mine_pairs(s, 4, 50, rng=5))
    with pytest.raises(RecutilsError):
        mine_pairs(s, pairs_per_user=0)


def test_mine_pairs_uses_train_only(toy_split):
    from recutils.embeddings.finetune import mine_pairs

    pairs = mine_pairs(toy_split, 10, 100, rng=0)
    train_keys = set(zip(toy_split.train["uidx"], toy_split.train["iidx"]))
    items_by_user = {}
    for u, i in train_keys:
        items_by_user.setdefault(u, set()).add(i)
    assert all(any({a, b} <= its for its in items_by_user.values()) for a, b in pairs)


def test_registered_and_cli_params():
    from recutils.config import parse_params
    from recutils.models import available, create, get_model_class

    assert {"content", "hybrid"} <= set(available())
    p = parse_params(get_model_class("hybrid"), ["alpha=0.7", "content.finetune=true", "base=ease", "base.lambda_=300"])
    h = create("hybrid", **p)
    assert h.config.alpha == 0.7 and h.config.content.finetune is not None and h.config.base.name == "ease"


def test_rating_ease(toy_split):
    from recutils.models.baselines import EASE
    from recutils.models.ease_r import RatingEASE

    users = np.arange(toy_split.n_users)
    plain = EASE(lambda_=2.0).fit(toy_split).score(users)
    np.testing.assert_allclose(RatingEASE(lambda_=2.0, power=0).fit(toy_split).score(users), plain, rtol=1e-5)
    graded = RatingEASE(lambda_=2.0, power=2).fit(toy_split)
    assert graded.score(users).shape == plain.shape and not np.allclose(graded.score(users), plain)
    np.testing.assert_allclose(graded.X_.toarray(), (toy_split.train_ratings.toarray() / 5.0) ** 2)


def test_learned_blend(toy_split, toy_emb):
    from recutils.experiments import apply_learned_blend, fit_learned_blend

    users = np.arange(toy_split.n_users)
    rng = np.random.default_rng(0)
    base = rng.normal(size=(toy_split.n_users, toy_split.n_items))
    content = Content(embeddings=toy_emb).fit(toy_split).score(users)
    lb = fit_learned_blend(toy_split, {"base": base, "content": content}, shortlist=4)
    assert lb.names == ["base", "content"] and len(lb.coef) == 2
    S = apply_learned_blend(lb, toy_split, {"base": base, "content": content})
    assert S.shape == base.shape
    finite = np.isfinite(S)
    assert (finite.sum(1) <= 4).all()  # only the shortlist is scored
    assert not (finite & seen_mask(toy_split, users)).any()
    with pytest.raises(RecutilsError):
        apply_learned_blend(lb, toy_split, {"content": content, "base": base})


def test_length_bucketed_loss_embeds_like_padded_batch():
    """Sub-batching a column by length saves padding without changing any text's embedding."""
    torch = pytest.importorskip("torch")
    from recutils.embeddings import load_model, minilm_path
    from recutils.embeddings.finetune import _bucketed_loss

    if minilm_path() is None:
        pytest.skip("offline MiniLM not installed")
    m = load_model("all-MiniLM-L6-v2")
    texts = ["a", "a much longer movie text " * 12, "toy story pixar", "heat", "the matrix sci-fi cyberpunk",
             "b c", "casino crime drama mafia", "x"]
    feats = m.preprocess(texts)
    with torch.no_grad():
        ref = m(dict(feats))["sentence_embedding"]
        got = _bucketed_loss(m, 3)._embed(dict(feats))
    np.testing.assert_allclose(got.numpy(), ref.numpy(), atol=1e-5)
