"""SANSA's memory guard: the Gram matrix's nonzeros are estimated from a sample of its rows, and
a fit that would need more than ``max_memory_gb`` is refused in one line (before sansa is even
imported, so this runs without the optional package)."""

import pytest
import scipy.sparse as sp

from recutils.datasets.synth import generate
from recutils.errors import RecutilsError
from recutils.models import create
from recutils.models.sansa_ease import gramian_nonzeros
from recutils.splits import study_split


@pytest.mark.parametrize("density", [0.002, 0.02, 0.2])
def test_gramian_nonzeros_estimate_is_close_to_the_exact_count(density):
    X = sp.random(3000, 800, density=density, format="csr", random_state=1)
    X.data[:] = 1.0
    exact = (X.T @ X).nnz
    est = gramian_nonzeros(X, sample=256, rng=0)
    assert est == pytest.approx(exact, rel=0.15)
    assert gramian_nonzeros(X, sample=800) == pytest.approx(exact)  # every row: exact


def test_sansa_refuses_a_gram_matrix_over_its_memory_budget():
    split = study_split(generate(5_000, 100, 200, seed=3)[0])
    with pytest.raises(RecutilsError, match=r"model 'sansa': the Gram matrix of .* items has ~.* nonzeros .* "
                                            r"max_memory_gb=1e-06; use ease with max_items") as e:
        create("sansa", max_memory_gb=1e-6).fit(split)
    assert "\n" not in str(e.value)
