"""recutils.experiments.studies.tfidf_search (notebook 02's study logic), on a tiny hand-made corpus."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from recutils.experiments.studies.tfidf_search import (benchmark_table, find_titles, hit_share, per_query_table,
                                                       prompt_hits, search_prompts, text_builder_config, title_hits)
from recutils.search import SEARCH_TEXT, TfidfSearch, TitleIndex, evaluate_scores, evaluate_searcher, tag_benchmark

ROWS = [  # movieId, title, clean_title, year, genres, overview
    (1, "Star Wars (1977)", "Star Wars", 1977, ["Sci-Fi"], "Rebels fight the galactic empire in space."),
    (2, "WALL·E (2008)", "WALL·E", 2008, ["Animation"], "A lonely robot cleans up an abandoned Earth in space."),
    (3, "Amelie (2001)", "Amelie", 2001, ["Romance"], "A shy waitress in Paris changes the lives around her."),
    (4, "Se7en (1995)", "Se7en", 1995, ["Thriller"], "Two detectives hunt a serial killer."),
    (5, "Toy Story (1995)", "Toy Story", 1995, ["Animation"], "Toys come to life when their owner leaves."),
    (6, "Toy Story 2 (1999)", "Toy Story 2", 1999, ["Animation"], "A toy collector steals Woody."),
]


@pytest.fixture(scope="module")
def movies() -> pd.DataFrame:
    df = pd.DataFrame(ROWS, columns=["movieId", "title", "clean_title", "year", "genres", "overview"])
    df["year"] = df["year"].astype(float)
    df["tmdb_genres"] = [[] for _ in range(len(df))]
    df["tags"] = [[] for _ in range(len(df))]
    return df


@pytest.fixture(scope="module")
def tfidf(movies):
    return TfidfSearch.from_movies(movies)


@pytest.fixture(scope="module")
def bench(movies):
    tags = pd.DataFrame({"movieId": [1, 2, 5, 3, 4, 6, 5], "tag": ["Space", "space ", "space", "paris", "dark",
                                                                  "pixar", "pixar"]})
    return tag_benchmark(tags, movies["movieId"], min_movies=2)


def test_search_prompts_and_their_recorded_hits(tfidf):
    res = search_prompts(tfidf, ["robot in space", "paris"], k=2)
    assert list(res) == ["robot in space", "paris"]
    assert res["robot in space"]["movieId"].iloc[0] == 2 and len(res["paris"]) == 1  # one movie mentions paris
    hits = prompt_hits(res)
    first = hits["robot in space"][0]
    assert first["movieId"] == 2 and first["title"] == "WALL·E (2008)" and type(first["movieId"]) is int
    assert first["score"] == round(float(res["robot in space"]["score"].iloc[0]), 3)
    assert prompt_hits(res, decimals=1)["paris"][0]["score"] == round(float(res["paris"]["score"].iloc[0]), 1)


def test_find_titles_keeps_query_order_and_best_first(movies):
    index = TitleIndex.from_movies(movies, popularity=np.arange(len(movies), dtype=float))
    res = find_titles(index, ["toy story 2", "star wars", "zzzzzz"], k=2)
    assert list(res) == ["toy story 2", "star wars", "zzzzzz"]
    got = title_hits(res)
    assert got["toy story 2"][0] == "Toy Story 2 (1999)" and got["star wars"][0] == "Star Wars (1977)"
    assert got["zzzzzz"] == []


def test_benchmark_and_per_query_tables(tfidf, bench):
    row = evaluate_searcher(tfidf, bench, k=3)
    table = benchmark_table(row, 3)
    assert table == [{"method": "TF-IDF", "n_queries": bench.n_queries, "ndcg@3": float(row["ndcg@3"]),
                      "recall@3": float(row["recall@3"])}]
    per_query = evaluate_scores(tfidf.score_matrix(bench.queries), bench, k=3)
    pq = per_query_table(bench, per_query, 3)
    assert list(pq.columns) == ["query", "n_relevant", "ndcg@3", "recall@3"]
    assert pq["query"].tolist() == bench.queries and pq["n_relevant"].sum() == bench.relevant.nnz
    assert pq["ndcg@3"].mean() == pytest.approx(row["ndcg@3"])
    space = pq.set_index("query").loc["space"]
    assert space["n_relevant"] == 3 and space["recall@3"] > 0  # "space" is in two overviews
    assert hit_share(pq, 3) == round(float((pq["recall@3"] > 0).mean()), 3)
    assert 0 < hit_share(pq, 3) <= 1
    assert hit_share(pd.DataFrame({"recall@3": [0.0, 0.5, 1.0]}), 3, decimals=2) == 0.67


def test_text_builder_config_has_fields_and_key():
    cfg = text_builder_config(SEARCH_TEXT)
    assert cfg == {**dataclasses.asdict(SEARCH_TEXT), "key": SEARCH_TEXT.key}
    assert "tags" not in cfg["fields"] and list(cfg)[-1] == "key"
