"""The kernel audit on a real notebook (integration tier): notebook 04's smoke run with torch_cf's
trained weights perturbed moves its torch_cf numbers, every one of them is covered by its
provenance, and the same perturbed run fails the audit once that provenance is removed."""

import copy
import json
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    from recutils.notebooks.audit import audit

    return audit("04", eps=1e-3, keep=tmp_path_factory.mktemp("audit04"))


def test_notebook_04_moved_numbers_are_all_covered(audited):
    assert audited.moved > 0, "the perturbation moved nothing: the audit would prove nothing"
    assert audited.ok, audited.summary()


def test_removing_the_torch_cf_producer_fails_the_audit(audited):
    from recutils.io import read_json
    from recutils.notebooks.audit import audit_metrics
    from recutils.regression import load_tolerances

    ref = json.loads((GOLDEN / "04_torch_cf.metrics.json").read_text())
    broken = copy.deepcopy(ref)
    del broken["provenance"]["producers"]["torch_cf"]
    res = audit_metrics("04_torch_cf", broken, read_json(audited.metrics_path), load_tolerances(GOLDEN / "tolerances.yaml"), 1e-3)
    assert not res.ok and all("torch_cf" in line for line in res.exact), res.summary()
