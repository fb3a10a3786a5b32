"""Notebook 03's study module on a hand-made corpus of nine movies, with hashing stand-ins for
the sentence encoders (no model is loaded)."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recutils.embeddings.onnx import OnnxEncoder
from recutils.errors import RecutilsError
from recutils.experiments.studies import semantic_search as ss
from recutils.bench import search_latency as sl
from recutils.search import DenseConfig, DenseSearch, TagBenchmark, TfidfSearch, tag_benchmark

ROWS = [  # movieId, title, genres, tags, overview
    (1, "Star Wars (1977)", ["Action", "Sci-Fi"], ["space opera"], "Rebels fight the galactic empire in space."),
    (2, "Clone Wars (2008)", ["Animation", "Sci-Fi"], ["space opera"], "Clone troopers battle droid armies in space."),
    (3, "WALL·E (2008)", ["Animation", "Sci-Fi"], ["space opera", "robots"], "A lonely robot cleans up the Earth."),
    (4, "Amelie (2001)", ["Comedy", "Romance"], ["paris"], "A shy waitress in Paris changes lives."),
    (5, "Midnight in Paris (2011)", ["Comedy", "Romance"], ["paris"], "A writer in Paris travels back in time."),
    (6, "Se7en (1995)", ["Crime", "Thriller"], ["dark"], "Two detectives hunt a serial killer."),
    (7, "Zodiac (2007)", ["Crime", "Thriller"], ["dark"], "A cartoonist tracks down the Zodiac killer."),
    (8, "Toy Story (1995)", ["Animation", "Comedy"], ["paris"], "Toys come to life when their owner leaves."),
    (9, "Toy Story 2 (1999)", ["Animation", "Comedy"], ["dark"], "A toy collector steals Woody."),
]
NAME = "hashing-test"


class Hashing:
    """A deterministic stand-in for a sentence-transformer: hashed bag of words (dim 32)."""

    dim = 32

    def get_embedding_dimension(self):
        return self.dim

    def encode(self, texts, batch_size=32, normalize_embeddings=False, show_progress_bar=None, convert_to_numpy=True):
        out = np.zeros((len(texts), self.dim))
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
            out[i, 0] += 1e-3
        if normalize_embeddings:
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


class Oracle(Hashing):
    """An encoder that knows the answers: a movie's text → its tags (one-hot), a tag → itself.
    ``shift`` moves each query's tag to the next one of the vocabulary: a broken encoder whose
    prompts no longer meet the right movies."""

    VOCAB = sorted({t for row in ROWS for t in row[3]})
    dim = len(VOCAB) + 1

    def __init__(self, shift: int = 0):
        self.shift = shift

    def encode(self, texts, batch_size=32, normalize_embeddings=False, show_progress_bar=None, convert_to_numpy=True):
        out = np.zeros((len(texts), self.dim))
        out[:, -1] = 1e-3
        for i, t in enumerate(texts):
            if t in self.VOCAB:
                out[i, (self.VOCAB.index(t) + self.shift) % len(self.VOCAB)] = 1.0
            for row in ROWS:
                if row[4] in t:
                    out[i, [self.VOCAB.index(tag) for tag in row[3]]] = 1.0
        if normalize_embeddings:
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


class FakeInt8(OnnxEncoder):
    """What :func:`recutils.embeddings.onnx.encoder_backend` takes for an onnx-int8 encoder."""

    def __init__(self, inner):
        self.inner, self.backend = inner, "onnx-int8"

    def get_embedding_dimension(self):
        return self.inner.dim

    def encode(self, texts, **kwargs):
        return self.inner.encode(texts, **kwargs)


@pytest.fixture(scope="module")
def movies() -> pd.DataFrame:
    df = pd.DataFrame(ROWS, columns=["movieId", "title", "genres", "tags", "overview"])
    df["clean_title"] = df["title"].str.replace(r" \(\d{4}\)$", "", regex=True)
    df["tmdb_genres"] = [[] for _ in range(len(df))]
    return df


@pytest.fixture(scope="module")
def tags(movies) -> pd.DataFrame:
    return movies[["movieId", "tags"]].explode("tags").rename(columns={"tags": "tag"})


@pytest.fixture(scope="module")
def bench(movies, tags) -> TagBenchmark:
    return tag_benchmark(tags, movies["movieId"], min_movies=3)


@pytest.fixture(scope="module")
def tfidf(movies) -> TfidfSearch:
    return TfidfSearch.from_movies(movies)


@pytest.fixture()
def dense(movies, tmp_path) -> dict[str, DenseSearch]:
    return {"hashing": DenseSearch.from_movies(movies, DenseConfig(model_name=NAME), model=Hashing(), cache_dir=tmp_path)}


# ------------------------------------------------------------------------- the guard


@pytest.mark.parametrize("requested, passes, expected", [
    ("onnx-int8", True, "onnx-int8"), ("onnx-int8", False, "torch"),
    ("torch", True, "torch"), ("onnx-fp32", False, "onnx-fp32")])
def test_choose_backend_uses_int8_only_where_the_guard_passes(requested, passes, expected):
    assert ss.choose_backend(requested, passes) == expected


@pytest.mark.parametrize("broken", [False, True])
def test_guard_model_compares_int8_with_fp32(movies, bench, tmp_path, broken):
    fp32, int8 = (Oracle(), FakeInt8(Oracle(shift=1))) if broken else (Hashing(), FakeInt8(Hashing()))
    row = ss.guard_model(NAME, movies, bench, {"torch": fp32, "onnx-int8": int8}, k=3, batch_size=4,
                         progress=False, n_bootstrap=200, seed=0, requested="onnx-int8", cache_dir=tmp_path)
    assert row["model"] == NAME and row["n_movies"] == 9 and row["n_queries"] == bench.n_queries == 3
    assert row["int8_passes"] is not broken and row["backend"] == ("torch" if broken else "onnx-int8")
    if broken:  # same movie embeddings, prompts moved: fp32 finds every answer, int8 misses
        assert row["cos_mean"] == pytest.approx(1.0) and row["ndcg@3_fp32"] == pytest.approx(1.0)
        assert row["ndcg@3_int8"] < 0.5 and row["ci_high"] < 0
    else:  # the same encoder twice: identical embeddings and metrics
        assert row["cos_mean"] == pytest.approx(1.0) and row["cos_min"] == pytest.approx(1.0)
        assert row["ndcg@3_diff"] == 0.0 and row["ndcg@3_fp32"] == row["ndcg@3_int8"]
    assert row["fp32_texts_per_s"] > 0 and row["int8_texts_per_s"] > 0  # from the cache entries' records


def test_int8_guard_and_embedding(movies, tags, tmp_path, monkeypatch):
    loaded = []

    def fake_load(name, backend):
        loaded.append((name, backend))
        return Hashing() if backend == "torch" else FakeInt8(Hashing())

    monkeypatch.setattr(ss, "load_encoder", fake_load)
    guard = ss.int8_guard([NAME], movies, tags, guard_movies=0, min_tag_movies=3, max_queries=None, k=3,
                          batch_size=4, progress=False, n_bootstrap=100, seed=0, backend="onnx-int8",
                          cache_dir=tmp_path, log=None)
    assert loaded == [(NAME, "torch"), (NAME, "onnx-int8")]
    assert guard.chosen == {NAME: "onnx-int8"} and guard.backends() == {NAME: "onnx-int8"}
    assert len(guard.rows) == 1 and list(guard.table()["backend"]) == ["onnx-int8"]
    assert isinstance(guard.encoder(NAME), FakeInt8)
    lines = []
    dense = ss.embed_movies(movies, guard, batch_size=4, progress=False, cache_dir=tmp_path, log=lines.append)
    assert list(dense) == [NAME] and dense[NAME].config.backend == "onnx-int8"
    assert dense[NAME].doc_embeddings.shape == (9, Hashing.dim) and "onnx-int8" in lines[0]
    with pytest.raises(ValueError, match="no benchmark query"):
        ss.int8_guard([NAME], movies, tags, guard_movies=2, min_tag_movies=1, max_queries=0, k=3, batch_size=4,
                      progress=False, n_bootstrap=10, seed=0, backend="torch", cache_dir=tmp_path, log=None)


# ------------------------------------------------------------------------- prompts and the benchmark


def test_prompt_search_pads_short_columns(tfidf, dense):
    results, tables = ss.prompt_search({"TF-IDF": tfidf, **dense}, ["paris", "zodiac killer"], k=5, width=6)
    assert list(results) == ["paris", "zodiac killer"] and list(results["paris"]) == ["TF-IDF", "hashing"]
    assert "Amelie (2001)" in results["paris"]["TF-IDF"]
    top = tables["paris"]
    assert top.shape == (5, 2) and all(len(t) <= 6 for t in top["TF-IDF"])
    n_found = len(results["paris"]["TF-IDF"])
    assert n_found < 5 and list(top["TF-IDF"][n_found:]) == [""] * (5 - n_found)


def test_run_benchmark(tfidf, dense, bench):
    run = ss.run_benchmark(tfidf, dense, bench, k=3, rrf_c=60.0, rrf_depth=5)
    labels = ["TF-IDF", "hashing", "RRF(TF-IDF + hashing)"]
    assert list(run.scores) == labels == list(run.per_query) == list(run.seconds)
    assert list(run.fusions) == labels[2:]
    table = run.table()
    assert table["method"].tolist() == labels and set(table["n_queries"]) == {bench.n_queries}
    np.testing.assert_allclose(table["ndcg@3"], [np.nanmean(run.per_query[m]["ndcg@3"]) for m in labels])
    cis = run.paired("TF-IDF", "ndcg", n_boot=200, seed=0)
    assert list(cis) == labels[1:]
    assert cis["hashing"].mean_diff == pytest.approx(table["ndcg@3"][1] - table["ndcg@3"][0])
    bars = run.mean_cis(("ndcg", "recall"), n_boot=200, seed=0)
    assert bars["recall@3"].shape == (3, 3)
    np.testing.assert_allclose(bars["ndcg@3"][:, 0], table["ndcg@3"])
    assert np.all(bars["ndcg@3"][:, 1] <= bars["ndcg@3"][:, 2])
    per_q = run.per_query_values("ndcg")
    assert list(per_q["TF-IDF"]) == bench.queries
    config = ss.methods_config(tfidf, dense, run.fusions)
    assert list(config) == labels and config["hashing"]["dim"] == Hashing.dim


def _hand_run(values: dict[str, list[float]]) -> ss.BenchmarkRun:
    queries = ["a", "b", "c"]
    bench = TagBenchmark(queries, sp.csr_matrix(np.eye(3, dtype=np.float32)), np.arange(3))
    per_query = {m: {"ndcg@3": np.array(v), "recall@3": np.array(v)} for m, v in values.items()}
    return ss.BenchmarkRun(bench, 3, {}, {}, {}, per_query)


def test_best_dense_and_the_gap_table():
    run = _hand_run({"TF-IDF": [0.5, 0.0, 0.2], "m1": [0.1, 0.4, 0.2], "m2": [0.3, 0.2, 0.2], "m3": [0.9, 0.9, 0.9]})
    assert run.best(["m1", "m2"]) == "m1"  # equal means: the first candidate
    assert run.best(["m1", "m3"]) == "m3"
    best, gap = run.gaps(["m2", "m1"])
    assert best == "m2" and gap.columns.tolist() == ["query", "n_relevant", "m2", "TF-IDF", "diff"]
    np.testing.assert_allclose(gap["diff"], [-0.2, 0.2, 0.0])
    assert gap["n_relevant"].tolist() == [1, 1, 1]


# ------------------------------------------------------------------------- latency (recutils.bench.search_latency)


def test_latency_prompts_cycle():
    assert sl.latency_prompts(["p"], ["q1", "q2"], 5) == ["p", "q1", "q2", "p", "q1"]
    with pytest.raises(RecutilsError):
        sl.latency_prompts([], [], 3)


def test_measure_latency_and_breakdown(tfidf, dense, monkeypatch):
    lat = sl.measure_latency(tfidf, dense, ["space", "paris", "toys", "killer"], k=3, threads=[1, 2])
    assert lat.table[["method", "backend", "threads", "n"]].values.tolist() == [
        ["TF-IDF", "-", 1, 4], ["hashing", "torch", 1, 4], ["hashing", "torch", 2, 4]]
    assert list(lat.variants) == [("hashing", 1), ("hashing", 2)]
    assert lat.variants[("hashing", 2)].config.query_threads == 2
    assert set(lat.load_average()) == {"before", "after", "cpus"}
    seen = []

    def fake_breakdown(v, prompts, k):
        seen.append((v.config.query_threads, list(prompts), k))
        return {"tokenize": {"p50": 0.12345}, "forward": {"p50": 1.0}}

    monkeypatch.setattr(sl, "dense_breakdown", fake_breakdown)
    bd = sl.latency_breakdown(lat.variants, ["space"], k=3)
    assert seen == [(1, ["space"], 3), (2, ["space"], 3)]
    assert bd.columns.tolist() == ["model", "backend", "threads", "tokenize_p50_ms", "forward_p50_ms"]
    assert bd["tokenize_p50_ms"].tolist() == [0.123, 0.123]
