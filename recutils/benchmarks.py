"""Speed benchmarks, each reported as a ratio against a baseline run in the same process.

    python -m recutils.benchmarks            # evaluation loop + EASE fit
    python -m recutils.benchmarks --cornac   # also time cornac's EASE (a dense 9k×9k inverse, slow)

Not a test: machines are noisy, so nothing here asserts a wall-clock threshold.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from .constants import COL_ITEM, COL_RATING, COL_USER, K, RELEVANCE_THRESHOLD


def _best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def per_user_loop_eval(model, split, k: int = K) -> dict:
    """The hybrid study's evaluation shape: a pandas filter, a score call and a Python sort per user."""
    test_df, train_df = split.test, split.train
    prec, rec = [], []
    for user_id in test_df[COL_USER].unique():
        user_test = test_df[(test_df[COL_USER] == user_id) & (test_df[COL_RATING] >= RELEVANCE_THRESHOLD)]
        truth = set(user_test[COL_ITEM].values)
        if not truth:
            continue
        rated = set(train_df.loc[train_df[COL_USER] == user_id, COL_ITEM])
        u = split.uidx(user_id)[0]
        scores = model.score([u])[0]
        cands = [(mid, s) for mid, s in zip(split.items, scores) if mid not in rated]
        cands.sort(key=lambda x: x[1], reverse=True)
        recs = [m for m, _ in cands[:k]]
        hits = len(set(recs) & truth)
        prec.append(hits / k)
        rec.append(hits / len(truth))
    return {"precision": float(np.mean(prec)), "recall": float(np.mean(rec)), "n_users": len(prec)}


def bench_evaluation(split, repeat: int = 3) -> dict:
    from .evaluation import evaluate_ranking
    from .models.baselines import EASE

    m = EASE().fit(split.without_test())
    vec = evaluate_ranking(m, split, K)
    loop = per_user_loop_eval(m, split)
    assert abs(vec.metrics["precision"] - loop["precision"]) < 1e-9, (vec.metrics, loop)
    t_vec = _best_of(lambda: evaluate_ranking(m, split, K), repeat)
    t_loop = _best_of(lambda: per_user_loop_eval(m, split), 1)
    return {"what": f"evaluate {vec.metrics['n_users']} users @ {K} (EASE scores)",
            "vectorised_s": round(t_vec, 4), "per_user_loop_s": round(t_loop, 3),
            "speedup": round(t_loop / t_vec, 1), "same_precision": True}


def bench_ease_fit(split, cornac: bool = False, repeat: int = 3) -> dict:
    from .models.baselines import EASE

    lam = EASE.Config().lambda_
    t_wood = _best_of(lambda: EASE(lambda_=lam).fit(split.without_test()), repeat)
    X = split.train_binary.toarray()

    def dense():
        P = np.linalg.inv(X.T @ X + lam * np.eye(X.shape[1]))
        B = -P / np.diag(P)[None, :]
        np.fill_diagonal(B, 0.0)
        return X @ B

    t0 = time.perf_counter()
    ref = dense()
    t_dense = time.perf_counter() - t0
    ours = EASE(lambda_=lam).fit(split.without_test()).scores_
    out = {"what": f"EASE fit, {split.n_users} users × {split.n_items} items, λ={lam}",
           "woodbury_s": round(t_wood, 3), "dense_inverse_s": round(t_dense, 2),
           "speedup_vs_dense": round(t_dense / t_wood, 1),
           "max_abs_score_diff": float(np.abs(ref - ours).max())}
    if cornac:
        import cornac as cn

        from .constants import COL_ITEM as I, COL_RATING as R, COL_USER as U

        tr = split.train
        ds = cn.data.Dataset.from_uir(list(zip(tr[U], tr[I], tr[R])), seed=0)
        t0 = time.perf_counter()
        cn.models.EASE(lamb=lam, verbose=False).fit(ds)
        out["cornac_ease_s"] = round(time.perf_counter() - t0, 2)
        out["speedup_vs_cornac"] = round(out["cornac_ease_s"] / t_wood, 1)
    return out


def main(argv=None) -> int:
    from .datasets import load_ratings
    from .splits import study_split

    ap = argparse.ArgumentParser(prog="python -m recutils.benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cornac", action="store_true", help="also time cornac's EASE (~45 s)")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    split = study_split(load_ratings())
    for r in (bench_evaluation(split, a.repeat), bench_ease_fit(split, a.cornac, a.repeat)):
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
