"""recutils.torch_threads: the one context manager for torch's intra-op thread count."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from recutils.torch_threads import torch_threads  # noqa: E402


@pytest.mark.parametrize("n", [None, 0])
def test_none_and_zero_leave_the_count_alone(n):
    before = torch.get_num_threads()
    with torch_threads(n):
        assert torch.get_num_threads() == before
    assert torch.get_num_threads() == before


def test_sets_and_restores_even_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(ValueError):
        with torch_threads(1):
            assert torch.get_num_threads() == 1
            raise ValueError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(before):  # the current count: applied and restored, no change
        assert torch.get_num_threads() == before
    assert torch.get_num_threads() == before


def test_one_helper_everywhere():
    import recutils.search as search
    from recutils.search import dense, latency

    assert search.torch_threads is latency.torch_threads is dense.torch_threads is torch_threads
