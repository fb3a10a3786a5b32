"""Speed benchmarks, each reported as a ratio against a baseline run in the same process.

    python -m recutils.bench.micro            # evaluation loop + EASE fit
    python -m recutils.bench.micro --cornac   # also time cornac's EASE (a dense 9k×9k inverse, slow)
    python -m recutils.bench.micro --encoders # also sentence encoders: torch fp32 vs onnx-int8, 1 and 2 threads

The encoder benchmark embeds the same movie texts (``--encoder-texts``, sampled with a fixed
seed from the search corpus) with each model as torch fp32 and ONNX Runtime int8, each with 1
and 2 threads, interleaved block by block in one process, and prints texts/s, the ratio of each
to torch fp32 on 1 thread, and the int8 embeddings' cosine to fp32. The int8 export (first use
only) runs in its own process before any timing. It is not in the default run: with 500 texts it
took 15 min on this project's shared 2-core machine (about 3 min for all-MiniLM-L6-v2, 12 for
all-mpnet-base-v2); ``--encoder-models all-MiniLM-L6-v2`` times one model.

Not a test: machines are noisy, so nothing here asserts a wall-clock threshold.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ..constants import COL_ITEM, COL_RATING, COL_USER, K, RELEVANCE_THRESHOLD


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
    from ..evaluation import evaluate_ranking
    from ..models.baselines import EASE

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
    from ..models.baselines import EASE

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

        from ..constants import COL_ITEM as I, COL_RATING as R, COL_USER as U

        tr = split.train
        ds = cn.data.Dataset.from_uir(list(zip(tr[U], tr[I], tr[R])), seed=0)
        t0 = time.perf_counter()
        cn.models.EASE(lamb=lam, verbose=False).fit(ds)
        out["cornac_ease_s"] = round(time.perf_counter() - t0, 2)
        out["speedup_vs_cornac"] = round(out["cornac_ease_s"] / t_wood, 1)
    return out


def bench_encoders(model_names=("all-MiniLM-L6-v2", "all-mpnet-base-v2"), n_texts: int = 500, threads=(1, 2),
                   batch_size: int = 64, block_size: int = 100, rounds: int = 1, seed: int = 0):
    """texts/s of torch fp32 and onnx-int8 per model and thread count, interleaved (see module
    docstring); yields one result per model as soon as it is measured."""
    from ..datasets import movie_table
    from ..embeddings import compare_embeddings, load_encoder, model_label
    from .encoders import interleaved_throughput
    from ..embeddings.onnx import export_in_subprocess
    from ..search import SEARCH_TEXT, corpus_texts

    corpus = corpus_texts(movie_table(), SEARCH_TEXT)
    rng = np.random.default_rng(seed)
    texts = [corpus[i] for i in rng.choice(len(corpus), size=min(n_texts, len(corpus)), replace=False)]
    for name in model_names:
        export_in_subprocess(name, ("onnx-int8",))  # before anything is timed, in its own process
        encoders = {"torch": load_encoder(name, "torch"), "onnx-int8": load_encoder(name, "onnx-int8")}
        variants = {f"{b}_{t}t": (enc, t) for b, enc in encoders.items() for t in threads}
        res = interleaved_throughput(variants, texts, batch_size=batch_size, rounds=rounds, block_size=block_size,
                                     keep_embeddings=True)
        base = res[f"torch_{threads[0]}t"]["texts_per_s"]
        cos = compare_embeddings(res[f"torch_{threads[0]}t"]["embeddings"], res[f"onnx-int8_{threads[0]}t"]["embeddings"])
        yield {
            "what": f"encode {len(texts)} movie texts with {model_label(name)} (batch {batch_size}, interleaved blocks of {block_size})",
            "texts_per_s": {k: round(v["texts_per_s"], 2) for k, v in res.items()},
            f"ratio_vs_torch_{threads[0]}t": {k: round(v["texts_per_s"] / base, 2) for k, v in res.items()},
            "int8_cosine_to_fp32": {k: round(v, 4) for k, v in cos.items() if k != "n"},
        }
        del encoders, variants, res


def main(argv=None) -> int:
    from ..datasets import load_ratings
    from ..splits import study_split

    ap = argparse.ArgumentParser(prog="python -m recutils.bench.micro", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cornac", action="store_true", help="also time cornac's EASE (~45 s)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--encoders", action="store_true",
                    help="also time sentence encoders: torch fp32 vs onnx-int8, 1 and 2 threads (minutes; see above)")
    ap.add_argument("--encoder-models", default="all-MiniLM-L6-v2,all-mpnet-base-v2", help="comma-separated model names")
    ap.add_argument("--encoder-texts", type=int, default=500, help="movie texts to encode per variant")
    ap.add_argument("--only-encoders", action="store_true", help="skip the evaluation and EASE benchmarks")
    a = ap.parse_args(argv)
    if not a.only_encoders:
        split = study_split(load_ratings())
        for r in (bench_evaluation(split, a.repeat), bench_ease_fit(split, a.cornac, a.repeat)):
            print(json.dumps(r), flush=True)
    if a.encoders or a.only_encoders:
        from ..errors import RecutilsError

        if a.encoder_texts < 1:
            ap.error("--encoder-texts must be ≥ 1")
        try:
            for r in bench_encoders([m.strip() for m in a.encoder_models.split(",") if m.strip()], a.encoder_texts):
                print(json.dumps(r), flush=True)
        except RecutilsError as exc:
            print(f"error: {exc}", flush=True)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
