"""Tolerances from provenance (recutils.provenance, recutils.experiments.provenance) and the
kernel perturbation behind the audit: every rule derived from what produced a number."""

import math

import numpy as np
import pytest

from recutils.experiments.provenance import Provenance, determinism
from recutils.notebooks.audit import audit_metrics
from recutils.provenance import AUDIT_ENV, metric_name, perturb, t_factor
from recutils.provenance import Provenance as Parsed
from recutils.regression import Tolerances, compare, tolerance_table

TOL = Tolerances()


@pytest.mark.parametrize("token, metric", [
    ("precision@25", "precision"), ("precision@25_low", "precision"), ("val_ndcg", "ndcg"), ("nDCG@10", "ndcg"),
    ("ndcg_diff", "ndcg"), ("validation_ndcg@25", "ndcg"), ("popularity_gini", "gini"), ("ild_embedding", "ild"),
    ("train_loss", "loss"), ("val_rmse", "rmse"), ("mrr@25", "mrr"), ("ci_low", "low"), ("factors", "factors")])
def test_metric_names(token, metric):
    assert metric_name(token) == metric


def _metrics():
    prov = Provenance(k=25)
    prov.add("ALS (implicit)", "als", n_users=40, n_items=1000)
    prov.add("Spark ALS", "spark_als", n_users=40)
    prov.add("EASE (λ=300)", "ease", n_users=40, n_items=1000)
    prov.reference("vs EASE", "EASE (λ=300)")
    return {
        "tables": {"Study": [
            {"model": "ALS (implicit)", "precision": 0.1, "ndcg": 0.2, "coverage": 0.3, "n_users": 40, "factors": 64},
            {"model": "EASE (λ=300)", "precision": 0.12, "ndcg": 0.25, "coverage": 0.2, "n_users": 40}],
            "A brand-new table nobody wrote a rule for": [
            {"model": "ALS (implicit)", "ild_genre": 0.8, "novelty": 9.0, "popularity_gini": 0.9, "mrr@25": 0.3}]},
        "validation": {"als": [{"alpha": 2.0, "ndcg": 0.2}]},
        "seeds": {"table": [{"model": "ALS (implicit)", "n_seeds": 2, "ndcg@25": 0.2, "ndcg@25_low": 0.1}]},
        "claims": {"EASE (λ=300) vs ALS (implicit) (precision@25)": {"mean_diff": 0.01, "low": 0.0}},
        "diff": {"Spark ALS vs ALS (implicit) (ndcg@25)": {"mean_diff": 0.01}},
        "vs EASE": {"ALS (implicit)": {"ndcg_diff": 0.01}},
        "provenance": prov.add("als", "als", n_users=38).as_dict(),
    }


def _tol(m, key):
    return tolerance_table(m, TOL)[key]


def test_units_follow_the_metric_and_the_producer():
    m = _metrics()
    assert _tol(m, "tables/Study/[ALS (implicit)]/precision").abs == pytest.approx(2 / (25 * 40))
    assert _tol(m, "tables/Study/[ALS (implicit)]/ndcg").abs == pytest.approx(2 / 40)
    assert _tol(m, "tables/Study/[ALS (implicit)]/coverage").abs == pytest.approx(2 / 1000)
    # settings and counts of a kernel-dependent row stay exact, and so does every number of an exact producer
    assert _tol(m, "tables/Study/[ALS (implicit)]/factors").match == "(default)"
    assert _tol(m, "tables/Study/[ALS (implicit)]/n_users").abs == 0
    assert _tol(m, "tables/Study/[EASE (λ=300)]/ndcg").abs == 1e-6
    # the validation grid under the registry name, with the validation users' n
    assert _tol(m, "validation/als/[0]/ndcg").abs == pytest.approx(2 / 38)
    assert _tol(m, "validation/als/[0]/alpha").match == "(default)"


def test_a_new_table_and_new_beyond_accuracy_columns_need_no_rule():
    """The failure of issue 20: an ALS row in a table written after the rules fell under the exact default."""
    m = _metrics()
    key = "tables/A brand-new table nobody wrote a rule for/[ALS (implicit)]/"
    n = 40  # the row has no n_users: its producer's (smallest) evaluation
    assert _tol(m, key + "ild_genre").abs == pytest.approx(2 * 4 / (25 * n))
    assert _tol(m, key + "novelty").abs == pytest.approx(2 * 20 / (25 * n))
    assert _tol(m, key + "popularity_gini").abs == pytest.approx(2 * 2 / (25 * n))
    assert _tol(m, key + "mrr@25").abs == pytest.approx(2 / n)
    moved = {**m, "tables": {**m["tables"], "A brand-new table nobody wrote a rule for": [
        {"model": "ALS (implicit)", "ild_genre": 0.8 + 1.7e-4, "novelty": 9.0, "popularity_gini": 0.9, "mrr@25": 0.3}]}}
    assert compare(m, moved, TOL) == []
    m_without = {k: v for k, v in m.items() if k != "provenance"}
    moved_without = {k: v for k, v in moved.items() if k != "provenance"}
    assert len(compare(m_without, moved_without, TOL)) == 1  # without provenance: exact


def test_differences_t_bounds_and_references():
    m = _metrics()
    # a claim "A vs B": both named; one kernel-dependent ranking → two entries
    assert _tol(m, "claims/EASE (λ=300) vs ALS (implicit) (precision@25)/low").abs == pytest.approx(2 / (25 * 40))
    # two kernel-dependent rankings → four entries
    assert _tol(m, "diff/Spark ALS vs ALS (implicit) (ndcg@25)/mean_diff").abs == pytest.approx(4 / 40)
    # a t-interval bound over two seeds: every seed may move
    f = 1 + 12.7062047 / math.sqrt(1)
    assert t_factor(2) == pytest.approx(f, rel=1e-6)
    assert _tol(m, "seeds/table/[ALS (implicit)]/ndcg@25_low").abs == pytest.approx(2 / 40 * f, rel=1e-6)
    assert _tol(m, "seeds/table/[ALS (implicit)]/ndcg@25").abs == pytest.approx(2 / 40)
    # a declared reference: differences under "vs EASE" also involve EASE (exact: still two entries)
    assert _tol(m, "vs EASE/ALS (implicit)/ndcg_diff").abs == pytest.approx(2 / 40)


def test_rules_in_the_yaml_come_first():
    from recutils.regression import Rule

    m = _metrics()
    tol = Tolerances((Rule("*/[ALS (implicit)]/precision", abs=0.5, why="measured"),))
    assert tolerance_table(m, tol)["tables/Study/[ALS (implicit)]/precision"].abs == 0.5


def test_determinism_is_stated_by_each_family():
    assert determinism("als") == determinism("spark_als") == determinism("torch_cf") == "kernel"
    assert determinism("ease") == determinism("itemknn") == determinism("mostpop") == determinism("pmf") == "exact"
    assert determinism("text") == "kernel"
    from recutils.models.coldstart import ContentToCF

    assert ContentToCF(text=False).determinism == "exact"  # ridge of metadata onto EASE: closed form
    assert ContentToCF(text=False, mapper="mlp", target="als").determinism == "kernel"
    from recutils.errors import RecutilsError

    with pytest.raises(RecutilsError, match="unknown model"):
        determinism("no-such-family")


def test_producers_merge_to_the_smallest_evaluation():
    p = Provenance(k=25).add("ALS", "als", n_users=97, n_items=500).add("ALS", "als", n_users=5)
    d = p.as_dict()["producers"]["ALS"]
    assert d == {"sources": ["als"], "kernel": ["als"], "determinism": "kernel", "n_users": 5, "n_items": 500}
    assert Parsed.from_metrics({"provenance": p.as_dict()}).producers["ALS"].n_users == 5


def test_perturb_is_the_identity_outside_an_audit(monkeypatch):
    x = np.linspace(1, 2, 12, dtype=np.float32).reshape(3, 4)
    monkeypatch.delenv(AUDIT_ENV, raising=False)
    assert perturb(x, "als.U") is x
    monkeypatch.setenv(AUDIT_ENV, "1e-3")
    y = perturb(x, "als.U")
    assert y.dtype == np.float32 and y.shape == x.shape and not np.array_equal(x, y)
    assert np.all(np.abs(y / x - 1) < 1e-2) and np.array_equal(y, perturb(x, "als.U"))  # small, reproducible
    monkeypatch.setenv(AUDIT_ENV, "lots")
    with pytest.raises(ValueError, match=r"RECUTILS_KERNEL_AUDIT='lots': expected a relative perturbation size"):
        perturb(x, "als.U")


def test_audit_lists_what_moved_but_is_checked_exactly():
    ref = _metrics()
    moved = {**ref, "tables": {**ref["tables"], "Study": [
        {**ref["tables"]["Study"][0], "ndcg": 0.2 + 0.02, "precision": 0.1 + 0.01},  # beyond 2 / (25 · 40)
        ref["tables"]["Study"][1]]}}
    res = audit_metrics("nb", ref, moved, TOL, 1e-4)
    assert res.ok and res.moved == 2 and len(res.beyond) == 1
    # a deliberately removed producer: the ALS row falls back to the exact default, and the audit says so
    broken = {**ref, "provenance": {**ref["provenance"], "producers": {
        k: v for k, v in ref["provenance"]["producers"].items() if k != "ALS (implicit)"}}}
    res = audit_metrics("nb", broken, moved, TOL, 1e-4)
    assert not res.ok and len(res.exact) == 2
    assert all("[ALS (implicit)]" in line and "checked exactly" in line for line in res.exact)


def test_columns_and_lists_of_numbers_in_a_row():
    prov = Provenance(k=10).add("MiniLM", "text").add("MLP", "mlp", n_users=20).add("EASE", "ease", n_users=20)
    m = {"beyond": [{"model": "EASE", "ild_embedding": 0.5, "ild_genre": 0.4}],
         "verdict": {"fam": {"model": "MLP", "vs_own": [0.1, 0.0, 0.2]}},
         "provenance": prov.column("ild_embedding", "MiniLM").as_dict()}
    t = tolerance_table({**m, "provenance": {**m["provenance"], "default_metric": "ndcg"}}, TOL)
    # an exact ranking's diversity measured in a text-embedding space moves with the encoder's kernels
    assert t["beyond/[EASE]/ild_embedding"].abs == pytest.approx(2 * 4 / (10 * 20))
    assert t["beyond/[EASE]/ild_genre"].abs == 1e-6
    # a list of numbers under a row is labelled by the row's strings
    assert t["verdict/fam/vs_own/[0]"].abs == pytest.approx(2 / 20)
