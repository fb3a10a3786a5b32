"""Beyond-accuracy metrics on hand-worked data (recutils.evaluation.beyond)."""

import numpy as np
import pytest
import scipy.sparse as sp

from recutils.evaluation import beyond as ba

# 3 training users × 4 items: user 0 rated items {0, 1}, user 1 {1}, user 2 {1, 2}
TRAIN = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 0, 0], [0, 1, 1, 0]], float))
POP = np.array([1, 3, 1, 0])


def test_reciprocal_rank():
    hits = np.array([[0, 1, 0], [0, 0, 0], [1, 1, 0]], bool)
    rr = ba.reciprocal_rank_at_k(hits, np.array([1, 2, 0]))
    assert rr[0] == 0.5 and rr[1] == 0.0 and np.isnan(rr[2])


def test_popularity_novelty_gini():
    assert ba.item_popularity(TRAIN).tolist() == POP.tolist()
    topk = np.array([[1, 0], [2, 3]])
    np.testing.assert_allclose(ba.average_popularity(topk, POP, 3), [(3 / 3 + 1 / 3) / 2, (1 / 3 + 0) / 2])
    # self-information −log2((pop + 1) / 4) = [1, 0, 1, 2]
    np.testing.assert_allclose(ba.novelty(topk, POP, 3), [0.5, 1.5])
    assert ba.exposure_gini(topk, 4) == 0.0  # every item once
    assert ba.exposure_gini(np.array([[1, 1], [1, 1]]), 4) == pytest.approx(0.75)  # one item: (n − 1) / n
    # restricted to candidates {1, 2}: counts [4, 0] → (−1·0 + 1·4) / (2·4) = 0.5
    assert ba.exposure_gini(np.array([[1, 1], [1, 1]]), 4, np.array([0, 1, 1, 0], bool)) == pytest.approx(0.5)
    assert ba.exposure_gini(np.zeros((0, 2), int), 4) == 0.0
    with pytest.raises(ValueError, match="outside"):
        ba.novelty(np.array([[0, 4]]), POP, 3)


def test_intra_list_diversity():
    genres = np.array([[1, 1], [1, 0], [0, 0], [0, 0]])  # item 0 {A, B}, 1 {A}, 2 and 3 none
    ild = ba.intra_list_diversity(np.array([[0, 1], [2, 3], [0, 1]]), sp.csr_matrix(genres), "jaccard", batch_size=2)
    np.testing.assert_allclose(ild, [0.5, 0.0, 0.5])
    np.testing.assert_allclose(ba.intra_list_diversity(np.array([[0, 1, 2]]), genres), [(0.5 + 1 + 1) / 3])
    emb = np.array([[2.0, 0], [0, 1], [1, 1], [0, 0]])  # unnormalised on purpose
    c = 1 - 1 / np.sqrt(2)
    np.testing.assert_allclose(ba.intra_list_diversity(np.array([[0, 1, 2]]), emb, "cosine"), [(1 + 2 * c) / 3])
    assert np.isnan(ba.intra_list_diversity(np.array([[0]]), genres)).all()
    with pytest.raises(ValueError, match="metric"):
        ba.intra_list_diversity(np.array([[0, 1]]), genres, "euclid")


def test_beyond_accuracy_summary():
    topk = np.array([[1, 0], [2, 3], [1, 2]])
    out = ba.beyond_accuracy(topk, TRAIN, genres=np.eye(4), embeddings=np.eye(4))
    assert out["coverage"] == 1.0
    assert out["novelty"] == pytest.approx(np.mean([0.5, 1.5, 0.5]))
    assert out["ild_genre"] == 1.0 and out["ild_embedding"] == 1.0
    # exposures [1, 2, 2, 1] sorted [1, 1, 2, 2]: (−3 − 1 + 2 + 6) / (4 · 6) = 1/6
    assert out["popularity_gini"] == pytest.approx(1 / 6)


def test_segments():
    res = ba.segment_means([1.0, 2.0, 3.0, np.nan], ["a", "a", "b", "b"], n_boot=200, rng=0)
    assert [(s.segment, s.n, s.mean) for s in res] == [("a", 2, 1.5), ("b", 1, 3.0)]
    assert 1.0 <= res[0].low <= 1.5 <= res[0].high <= 2.0 and res[1].low == res[1].high == 3.0
    X = sp.csr_matrix(np.triu(np.ones((6, 6))).T)  # user u has u + 1 interactions
    assert ba.activity_terciles(X, np.arange(6)).tolist() == ["1 low", "1 low", "2 mid", "2 mid", "3 high", "3 high"]
    bins = ba.popularity_bins(np.array([5, 50, 10, 30, 5, 0]), edges=(0.4, 0.85))
    assert bins.tolist() == ["tail", "head", "mid", "mid", "tail", "tail"]
    with pytest.raises(ValueError, match="shape"):
        ba.segment_means([1.0], ["a", "b"])


def test_genre_matrix():
    import pandas as pd

    movies = pd.DataFrame({"movieId": [1, 2, 3], "genres": ["Comedy|Drama", "(no genres listed)", "Drama"]})
    G = ba.genre_matrix(movies, [3, 1, 2, 99]).toarray()
    assert G.tolist() == [[0, 1], [1, 1], [0, 0], [0, 0]]  # columns: Comedy, Drama


def test_metrics_by_k_matches_single_cutoffs():
    from recutils.evaluation import ranking_metrics

    rng = np.random.default_rng(1)
    dense = (rng.random((30, 50)) < 0.1).astype(float)
    dense[0] = 0  # a user without relevant items is left out
    rel = sp.csr_matrix(dense)
    topk = np.argsort(-rng.random((30, 50)), axis=1)[:, :20]
    out = ba.metrics_by_k(topk, rel, [5, 20])
    keep = np.diff(rel.tocsr().indptr) > 0
    for j, k in enumerate([5, 20]):
        ref = ranking_metrics(topk[keep, :k], rel.tocsr()[keep], k)
        assert out["precision"][j] == pytest.approx(np.mean(ref["precision"]))
        assert out["ndcg"][j] == pytest.approx(np.nanmean(ref["ndcg"]))
    assert out["mrr"][0] <= out["mrr"][1]  # MRR can only grow with k
    with pytest.raises(ValueError, match="fewer"):
        ba.metrics_by_k(topk, rel, [25])


def test_recall_by_item_bin_and_mean_ci():
    rel = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]], float))
    topk = np.array([[0, 3], [2, 1], [0, 1]])
    out = ba.recall_by_item_bin(topk, rel, np.array(["head", "tail", "tail", "head"]))
    np.testing.assert_allclose(out["head"], [1.0, np.nan, np.nan])  # user 0's head item 0 found
    np.testing.assert_allclose(out["tail"], [0.0, 1.0, np.nan])  # user 0 missed item 1; user 1 found 2
    m, lo, hi = ba.mean_ci([1.0, 2.0, 3.0, np.nan], n_boot=300)
    assert m == 2.0 and 1.0 <= lo <= 2.0 <= hi <= 3.0
    with pytest.raises(ValueError, match="labels"):
        ba.recall_by_item_bin(topk, rel, np.array(["a"]))
