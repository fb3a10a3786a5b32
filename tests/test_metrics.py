"""Metrics on hand-worked toy data (values computed by hand in the comments)."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recutils.evaluation import metrics as M


def rel_matrix(rows, n_items):
    data, r, c = [], [], []
    for u, items in enumerate(rows):
        for i in items:
            r.append(u)
            c.append(i)
            data.append(1.0)
    return sp.csr_matrix((data, (r, c)), shape=(len(rows), n_items))


# user 0: top [3, 1, 4], relevant {1, 4, 5}   -> hits [0, 1, 1]
# user 1: top [0, 2, 5], relevant {0}         -> hits [1, 0, 0]
# user 2: top [1, 2, 3], relevant {}          -> not evaluable
TOPK = np.array([[3, 1, 4], [0, 2, 5], [1, 2, 3]])
REL = rel_matrix([[1, 4, 5], [0], []], 6)
L2 = [1 / math.log2(i + 2) for i in range(3)]  # 1, 0.6309, 0.5


def test_topk_hits():
    assert M.topk_hits(TOPK, REL).tolist() == [[False, True, True], [True, False, False], [False, False, False]]


def test_precision_recall():
    hits = M.topk_hits(TOPK, REL)
    nr = M.n_relevant(REL)
    assert M.precision_at_k(hits).tolist() == pytest.approx([2 / 3, 1 / 3, 0])
    r = M.recall_at_k(hits, nr)
    assert r[:2].tolist() == pytest.approx([2 / 3, 1.0]) and np.isnan(r[2])


def test_ndcg_standard_and_study_variant():
    hits = M.topk_hits(TOPK, REL)
    nr = M.n_relevant(REL)
    dcg0 = L2[1] + L2[2]
    # standard: ideal from min(|R|, k) = 3 relevant at the top
    assert M.ndcg_at_k(hits, nr)[0] == pytest.approx(dcg0 / sum(L2))
    assert M.ndcg_at_k(hits, nr)[1] == pytest.approx(1.0)
    # study variant: ideal from the 2 hits found -> L2[0] + L2[1]
    assert M.ndcg_study_variant_at_k(hits, nr)[0] == pytest.approx(dcg0 / (L2[0] + L2[1]))
    assert np.isnan(M.ndcg_at_k(hits, nr)[2])


def test_map_and_hit_rate():
    hits = M.topk_hits(TOPK, REL)
    nr = M.n_relevant(REL)
    # user 0: precisions at hits: P@2 = 1/2, P@3 = 2/3; / min(3, 3)
    assert M.average_precision_at_k(hits, nr)[0] == pytest.approx((0.5 + 2 / 3) / 3)
    assert M.average_precision_at_k(hits, nr)[1] == pytest.approx(1.0)
    assert M.hit_rate_at_k(hits, nr)[:2].tolist() == [1.0, 1.0]


def test_coverage_and_errors():
    assert M.coverage_at_k(TOPK, 10) == pytest.approx(6 / 10)
    assert M.rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert M.mae([1, 2, 3], [1, 2, 5]) == pytest.approx(2 / 3)


def test_top_k_order_ties_and_inf():
    s = np.array([[0.1, 0.9, 0.5, 0.9, -np.inf], [1, 1, 1, 1, 1.0]])
    assert M.top_k(s, 3).tolist() == [[1, 3, 2], [0, 1, 2]]
    assert M.top_k(s, 10).shape == (2, 5)


def test_top_k_matches_full_sort():
    rng = np.random.default_rng(1)
    s = rng.random((50, 300))
    expected = np.argsort(-s, axis=1)[:, :25]
    assert np.array_equal(M.top_k(s, 25), expected)


def test_ranking_metrics_keys():
    out = M.ranking_metrics(TOPK, REL)
    assert set(out) == set(M.RANKING_METRICS)
    assert all(len(v) == 3 for v in out.values())


# --- top_k: deterministic ties, whatever SIMD kernel numpy dispatches to ----------------------
def _stable_top_k(scores, k):
    s = np.where(np.isnan(scores), -np.inf, scores)
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top_k_breaks_ties_at_the_boundary_by_index(seed):
    from recutils.evaluation import top_k

    rng = np.random.default_rng(seed)
    s = rng.integers(0, 4, size=(50, 300)).astype(np.float64)  # many ties at every cut
    s[:, rng.choice(300, 40, replace=False)] = -np.inf
    s[3, 7] = np.nan
    for k in (1, 5, 25, 299, 300, 400):
        assert np.array_equal(top_k(s, k), _stable_top_k(s, k)), k
    cont = rng.random((20, 100))
    assert np.array_equal(top_k(cont, 10), _stable_top_k(cont, 10))
    assert top_k(s, 0).shape == (50, 0)


def test_top_k_is_the_same_under_numpy_baseline_dispatch(tmp_path):
    """numpy's argpartition picks different tied items under AVX-512, AVX2 and baseline
    kernels; top_k must not. NPY_DISABLE_CPU_FEATURES=X86_V3 turns the AVX2 kernels off."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import numpy as np, sys; from recutils.evaluation import top_k; "
            "s = np.random.default_rng(5).integers(0, 3, size=(40, 2000)).astype(np.float64); "
            "np.save(sys.argv[1], top_k(s, 25))")
    root = str(Path(__file__).resolve().parents[1])
    outs = []
    for disable in ("", "X86_V3 X86_V4"):
        env = {**os.environ, "PYTHONPATH": root, "NPY_DISABLE_CPU_FEATURES": disable}
        out = tmp_path / f"t{len(outs)}.npy"
        subprocess.run([sys.executable, "-c", code, str(out)], env=env, check=True, timeout=120, capture_output=True)
        outs.append(np.load(out))
    assert np.array_equal(outs[0], outs[1])
