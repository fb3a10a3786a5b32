"""The kernel audit: does every number a CPU's kernels can move have a tolerance?

A machine without AVX-512 cannot show that the references hold on one with it, so the proof is
by design: :func:`audit` re-runs a notebook's smoke parameters with every kernel-dependent
computation perturbed (``RECUTILS_KERNEL_AUDIT=ε``: implicit's and Spark's ALS factors, SANSA's
weights, torch_cf's trained weights, text embeddings, the cold-start MLP's output — each
multiplied by ``1 + ε·z``, :func:`recutils.provenance.perturb`), then lists every recorded number
that moved while the regression test checks it exactly (:func:`recutils.regression.moved_but_exact`).
The list must be empty: a number that a perturbation moves comes from a kernel-dependent producer,
so its provenance must give it a tolerance. Numbers that moved beyond a (non-exact) tolerance are
counted too — the perturbation is larger than a real kernel change, so that is expected, not a failure.

    python -m recutils.regression audit 05 [--eps 1e-4] [--keep DIR]
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RecutilsError
from ..provenance import AUDIT_ENV
from .discovery import ROOT, discover, find

#: default relative perturbation: far above float rounding (1e-7), enough to flip near-ties
DEFAULT_EPS = 1e-4


@dataclass
class AuditResult:
    name: str
    eps: float
    moved: int  #: numbers that moved at all (beyond 1e-6)
    beyond: list = field(default_factory=list)  #: moved beyond a non-exact tolerance (expected: ε ≫ a kernel change)
    exact: list = field(default_factory=list)  #: moved while checked exactly: the audit's failures
    metrics_path: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.exact

    def summary(self) -> str:
        head = (f"{self.name}: ε={self.eps:g}: {self.moved} recorded number(s) moved; {len(self.beyond)} beyond their "
                f"tolerance (expected for ε ≫ a kernel change); {len(self.exact)} moved but checked exactly")
        return "\n  ".join([head, *self.exact])


def audit_metrics(name: str, reference: dict, perturbed: dict, tolerances, eps: float) -> AuditResult:
    """Compare a perturbed run's ``metrics.json`` with the reference (no re-run)."""
    from .regression import compare, flatten, moved_but_exact

    ref, new = flatten(reference), flatten(perturbed)
    moved = sum(1 for k, v in ref.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                and isinstance(new.get(k), (int, float)) and abs(new[k] - v) > 1e-6)
    beyond = [p for p in compare(reference, perturbed, tolerances, name) if "tolerance" in p]
    return AuditResult(name, eps, moved, beyond, moved_but_exact(reference, perturbed, tolerances, name))


def audit(name: str, eps: float = DEFAULT_EPS, keep: str | os.PathLike | None = None, root: Path = ROOT,
          display=None) -> AuditResult:
    """Run notebook ``name`` (smoke params) under the perturbation and audit its numbers."""
    from ..io import read_json
    from .regression import load_tolerances
    from .execution import execute
    from .params import notebook_params

    if not (0 < eps < 1):
        raise RecutilsError(f"--eps must be in (0, 1), got {eps!r}")
    nb = find(name, discover(root))
    if not nb.reference.is_file():
        raise RecutilsError(f"{nb.reference} is missing: run `make golden NB={nb.name[:2]}` first")
    out = Path(keep) if keep else Path(tempfile.mkdtemp(prefix=f"recutils-audit-{nb.name}-"))
    out.mkdir(parents=True, exist_ok=True)
    params = {**notebook_params(nb, "smoke"), "output_dir": str(out.resolve())}
    old = os.environ.get(AUDIT_ENV)
    os.environ[AUDIT_ENV] = repr(float(eps))  # the kernel inherits it
    try:
        execute(nb, params, out / f"{nb.name}.ipynb", root, display=display)
    finally:
        if old is None:
            os.environ.pop(AUDIT_ENV, None)
        else:
            os.environ[AUDIT_ENV] = old
    metrics = out / "metrics.json"
    if not metrics.is_file():
        raise RecutilsError(f"{nb.name} wrote no metrics.json into {out}")
    tol = load_tolerances(root / "tests" / "golden" / "tolerances.yaml")
    result = audit_metrics(nb.name, read_json(nb.reference), read_json(metrics), tol, eps)
    result.metrics_path = metrics
    return result
