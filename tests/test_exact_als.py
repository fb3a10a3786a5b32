"""exact_als: the reference implicit ALS with ALS-WR as a switch (notebook 07's matched-regularisation
comparison). Without the weighting it must be implicit's exact solver with alpha + 1 (the same
initial factors); with it, every half-step must solve Spark's weighted normal equations."""

import numpy as np
import pytest

from recutils.datasets.synth import generate
from recutils.models import create
from recutils.models.exact_als import solve_side
from recutils.splits import study_split


@pytest.fixture(scope="module")
def split():
    return study_split(generate(6_000, 120, 300, seed=2)[0])


def test_without_weighting_it_is_implicits_exact_solver_with_alpha_plus_one(split):
    pytest.importorskip("implicit")
    kw = dict(factors=8, iterations=3, regularization=0.1, seed=3)
    ours = create("exact_als", alpha=2.0, weighted_regularization=False, **kw).fit(split)
    theirs = create("als", alpha=3.0, use_cg=False, **kw).fit(split)  # implicit: confidence alpha · r
    scale = np.abs(theirs.U_).max()
    assert np.abs(ours.U_ - theirs.U_).max() < 1e-4 * scale
    assert np.abs(ours.V_ - theirs.V_).max() < 1e-4 * np.abs(theirs.V_).max()
    # and not by accident: implicit's default CG solver or its own alpha give other factors
    assert np.abs(create("als", alpha=2.0, use_cg=False, **kw).fit(split).U_ - theirs.U_).max() > 1e-2 * scale


@pytest.mark.parametrize("weighted", [True, False])
def test_a_half_step_solves_the_regularised_normal_equations(split, weighted):
    X = split.train_binary.tocsr().astype(np.float32)
    Y = np.random.default_rng(0).standard_normal((X.shape[1], 6)).astype(np.float32)
    lam, alpha = 0.3, 2.0
    U = solve_side(X, Y, lam, weighted, alpha)
    Yd = Y.astype(np.float64)
    for u in np.flatnonzero(np.diff(X.indptr))[:40]:
        items = X.indices[X.indptr[u]:X.indptr[u + 1]]
        c = np.ones(X.shape[1])
        c[items] += alpha
        p = np.zeros(X.shape[1])
        p[items] = 1.0
        n = len(items) if weighted else 1
        A = Yd.T @ (c[:, None] * Yd) + lam * n * np.eye(6)
        np.testing.assert_allclose(U[u], np.linalg.solve(A, Yd.T @ (c * p)), rtol=1e-4, atol=1e-5)
    # rows without ratings keep a zero factor
    empty = np.flatnonzero(np.diff(X.indptr) == 0)
    assert not U[empty].any()


def test_weighting_changes_the_model(split):
    kw = dict(factors=8, iterations=3, regularization=0.5)
    a = create("exact_als", weighted_regularization=True, **kw).fit(split)
    b = create("exact_als", weighted_regularization=False, **kw).fit(split)
    assert np.abs(a.U_ - b.U_).max() > 1e-2 * np.abs(b.U_).max()
    assert np.isneginf(a.score([0])[0, ~a.known_]).all()
