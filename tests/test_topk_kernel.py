"""The compiled top-k (``recutils.evaluation.topk_kernel``) gives exactly the lists of the numpy
path (``metrics._top_k_numpy``): ties by lower item index at every place (the k-th included),
``-inf`` last, NaN as ``-inf``, ``-0.0 == 0.0``, ``k`` ≥ the number of items, float32 and
float64, C and non-contiguous rows, and any number of numba threads."""

import numba
import numpy as np
import pytest

from recutils.evaluation.metrics import _top_k_numpy, top_k


def _cases():
    rng = np.random.default_rng(0)
    yield "ties", rng.integers(0, 4, size=(50, 40)).astype(np.float64)
    yield "float32", rng.normal(size=(30, 100)).astype(np.float32)
    x = rng.integers(0, 3, size=(40, 30)).astype(np.float64)
    x[rng.random(x.shape) < 0.3] = -np.inf
    x[rng.random(x.shape) < 0.1] = np.nan
    yield "inf-nan", x
    yield "all -inf", np.full((3, 9), -np.inf)
    yield "signed zero", np.where(rng.random((20, 12)) < 0.5, -0.0, 0.0)
    yield "strided", rng.integers(0, 2, size=(20, 60)).astype(np.float64)[:, ::2]


@pytest.mark.parametrize("name, scores", list(_cases()), ids=[c[0] for c in _cases()])
@pytest.mark.parametrize("k", [1, 5, 12, 1000])
def test_the_kernel_gives_the_numpy_lists(name, scores, k):
    np.testing.assert_array_equal(top_k(scores, k), _top_k_numpy(scores, k))


def test_thread_count_does_not_change_a_list():
    s = np.random.default_rng(1).integers(0, 5, size=(300, 200)).astype(np.float64)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = top_k(s, 25)
        numba.set_num_threads(max(1, numba.config.NUMBA_NUM_THREADS))
        np.testing.assert_array_equal(top_k(s, 25), one)
    finally:
        numba.set_num_threads(before)


def test_integer_and_empty_inputs_keep_the_numpy_path():
    s = np.array([[3, 1, 3, 2]])
    np.testing.assert_array_equal(top_k(s, 2), [[0, 2]])
    assert top_k(np.zeros((0, 5)), 3).shape == (0, 3)
    assert top_k(np.zeros((2, 5)), 0).shape == (2, 0)
