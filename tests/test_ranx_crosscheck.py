"""The project's ranking metrics agree with an independent implementation (ranx) to 1e-9.

On a small fixed split (100 users sampled with a fixed seed from ml-latest-small, the study's
per-user 80/20 split), for two models whose lists differ in kind (EASE, MostPop with its
many ties), every evaluable user's P@k, R@k, NDCG@k, MAP@k, MRR@k and hit rate are compared
with ranx's. ranx's AP divides by |R_u| where the project (and the study) divides by
min(|R_u|, k); the comparison converts exactly: ours = ranx · |R_u| / min(|R_u|, k).
"""

import numpy as np
import pytest

ranx = pytest.importorskip("ranx")

K = 25


@pytest.fixture(scope="module")
def small_split(ratings):
    from recutils.splits import sample_users, study_split

    return study_split(sample_users(ratings, 100, rng=7))


@pytest.mark.parametrize("model_name", ["ease", "mostpop"])
def test_metrics_equal_ranx(small_split, model_name):
    import warnings

    from recutils.evaluation import evaluate_ranking, topk_hits
    from recutils.evaluation.beyond import reciprocal_rank_at_k
    from recutils.models import get_model_class

    split = small_split
    model = get_model_class(model_name)().fit(split.without_test())
    res = evaluate_ranking(model, split, K)
    rel = split.relevant()[res.users]
    n_rel = np.diff(rel.indptr)
    assert len(res.users) >= 50 and (n_rel > 0).all()
    ours = dict(res.per_user)
    ours["mrr"] = reciprocal_rank_at_k(topk_hits(res.topk, rel), n_rel)

    qrels = {f"u{u}": {f"i{i}": 1 for i in rel[r].indices} for r, u in enumerate(res.users)}
    # scores K, K-1, …: ranx must see the lists in our order (no ties for it to break)
    run = {f"u{u}": {f"i{i}": float(K - j) for j, i in enumerate(res.topk[r])} for r, u in enumerate(res.users)}
    names = {"precision": f"precision@{K}", "recall": f"recall@{K}", "ndcg": f"ndcg@{K}",
             "map": f"map@{K}", "mrr": f"mrr@{K}", "hit_rate": f"hit_rate@{K}"}
    qr, rn = ranx.Qrels(qrels), ranx.Run(run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's type-safety notes
        ranx.evaluate(qr, rn, list(names.values()), return_mean=False)
    keys = [f"u{u}" for u in res.users]
    for ours_name, ranx_name in names.items():
        theirs = np.array([rn.scores[ranx_name][q] for q in keys])
        if ours_name == "map":
            theirs = theirs * n_rel / np.minimum(n_rel, K)
        np.testing.assert_allclose(ours[ours_name], theirs, rtol=0, atol=1e-9, err_msg=f"{model_name} {ours_name}")
