"""SANSA (Spišák et al., RecSys 2023): a sparse approximate EASE, through the ``sansa`` package.

EASE's B = I − P·diag(1/diag P) with P = (XᵀX + λI)⁻¹ is dense (items² floats). SANSA factors
the sparse Gram matrix (sparse LDLᵀ, Cholesky or incomplete Cholesky), inverts the triangular
factor approximately and keeps ``density`` of its entries, so the model is two sparse
matrices and memory grows with the kept entries, not with items². Scores are
``(X[users] · W₁) · W₂``.

Memory grows with the nonzeros of the Gram matrix XᵀX, which can approach items² on dense
data (35 % of 30k² at 10M synthetic ratings): ``fit`` estimates them first
(:func:`gramian_nonzeros`) and refuses in one line when the estimate exceeds ``max_memory_gb``.

``sansa`` needs scikit-sparse, which compiles against SuiteSparse (CHOLMOD): it is not in
requirements.txt (``make venv`` must work on a bare machine) but in ``requirements-sansa.txt``
(``apt install libsuitesparse-dev`` first on Debian / Ubuntu). Without it this model's ``fit``
says so in one line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import param
from ..errors import RecutilsError
from ..provenance import perturb
from .base import Recommender
from .registry import register


@dataclass
class SANSAConfig:
    lambda_: float = param(300.0, gt=0)  #: L2 regularisation λ, as EASE's
    density: float = param(0.005, gt=0, le=1)  #: share of the items² weights kept
    factorizer: str = param("icf", choices=("icf", "cholmod"))  #: incomplete Cholesky (less memory) or exact
    scans: int = param(3, ge=1)  #: refinement scans of the approximate inverse
    finetune_steps: int = param(10, ge=0)
    #: refuse a fit whose Gram matrix is estimated to need more (see GRAM_BYTES_PER_NONZERO)
    max_memory_gb: float = param(8.0, gt=0)


#: bytes of process memory per Gram-matrix nonzero during SANSA's fit: measured 16.5 at 10M
#: synthetic ratings (``make bench-scale``: +4.89 GiB for 3.2e8 nonzeros — the float64 Gram
#: matrix with its indices, ~12 bytes, plus the factor's working copies)
GRAM_BYTES_PER_NONZERO = 16.5


def gramian_nonzeros(X, sample: int = 256, rng: int = 0) -> float:
    """Estimated nonzeros of XᵀX (items × items) from ``sample`` random items' rows of it — an
    unbiased estimate that costs ``sample`` sparse row products instead of the whole matrix."""
    import scipy.sparse as sp

    X = sp.csr_matrix(X)  # no copy when it already is one (the model passes CSR)
    n = X.shape[1]
    if n == 0:
        return 0.0
    cols = np.random.default_rng(rng).choice(n, size=min(sample, n), replace=False)
    B = (X[:, cols].T.tocsr() @ X).tocsr()  # sample × items
    return float(np.diff(B.indptr).mean() * n)


def _require_sansa():
    try:
        import sansa
    except ImportError as exc:
        raise RecutilsError(f"model 'sansa' needs the sansa package ({exc.name} is missing): "
                            "apt install libsuitesparse-dev && pip install -r requirements-sansa.txt") from None
    return sansa


@register
class SANSA(Recommender):
    """Sparse approximate EASE (see module docstring)."""

    name = "sansa"
    determinism = "kernel"  # see Recommender.determinism
    Config = SANSAConfig

    def _fit(self, split):
        import logging

        c = self.config
        X = split.train_binary.tocsr().astype(np.float32)
        nnz = gramian_nonzeros(X)
        need = nnz * GRAM_BYTES_PER_NONZERO / 2**30
        if need > c.max_memory_gb:
            raise RecutilsError(
                f"model 'sansa': the Gram matrix of {X.shape[1]:,} items has ~{nnz:.3g} nonzeros "
                f"({nnz / max(X.shape[1], 1) ** 2:.0%} dense, estimated), ~{need:.1f} GiB to factor, but "
                f"max_memory_gb={c.max_memory_gb:g}; use ease with max_items, or raise max_memory_gb")
        sansa = _require_sansa()
        logging.getLogger("sansa").setLevel(logging.WARNING)  # its INFO lines narrate every step
        fac = (sansa.ICFGramianFactorizerConfig() if c.factorizer == "icf"
               else sansa.CHOLMODGramianFactorizerConfig())
        inv = sansa.UMRUnitLowerTriangleInverterConfig(scans=c.scans, finetune_steps=c.finetune_steps)
        model = sansa.SANSA(sansa.SANSAConfig(l2=float(c.lambda_), weight_matrix_density=float(c.density),
                                              gramian_factorizer_config=fac, lower_triangle_inverter_config=inv))
        model.fit(X)
        self.X_ = X
        self.W1_, self.W2_ = (w.astype(np.float32).tocsr() for w in model.weights)
        self.W1_.data = perturb(self.W1_.data, "sansa.W1")  # identity outside a kernel audit
        self.W2_.data = perturb(self.W2_.data, "sansa.W2")

    @property
    def n_weights(self) -> int:
        """Stored entries of the two sparse weight matrices (EASE: items²)."""
        return int(self.W1_.nnz + self.W2_.nnz)

    def score(self, user_indices):
        self._check_fitted()
        return ((self.X_[np.atleast_1d(user_indices)] @ self.W1_) @ self.W2_).toarray()
