"""``make bench-peers``: this project against its peers, on the same data in one process — a
benchmark, not a test (nothing here asserts a wall-clock threshold).

    python -m recutils.bench.peers                               # ml-latest-small and synthetic 1M
    python -m recutils.bench.peers --sizes small,1M,10M,32M      # the larger synthetic sets too
    python -m recutils.bench.peers --sizes 1M --jobs itemknn,eval --repeat 5

One row per job and size, ``ratio`` = this project's time ÷ the peer's (best of ``--repeat``
runs, ours and the peer's interleaved), ``spread`` = the larger of the two sides' (max − min) ÷
min over those runs, and an agreement check on the outputs:

- ``itemknn``: ``ItemKNN(n_neighbors=K, shrinkage=0).fit`` (binary cosine) vs implicit's
  ``CosineRecommender(K=K + 1).fit`` (implicit keeps the item itself in its list: K + 1 gives the
  same K neighbours). Agree: every item's neighbour set is the same, up to items tied at the
  K-th value (implicit's pick among ties is not by item index), values to 1e-9. ItemKNN's
  shrinkage (default 10) has no implicit counterpart and is not in this row.
- ``ease``: ``EASE(lambda_).fit`` vs cornac's ``EASE(lamb, posB=False).fit`` on the same 0/1
  matrix (from 10M on both get the ``--ease-max-items`` most-rated items: 30k items do not fit
  cornac's three dense float64 items × items matrices here). Agree: the item-item weights B,
  max |Δ| ≤ 1e-6 · max |B| (ours are float32).
- ``eval``: P / R / NDCG@25 of one score matrix (implicit ALS's, seen items excluded) for the
  evaluable users: ``evaluate_ranking`` (ranks the scores, then the metrics) vs cornac's
  ``ranking_eval`` (per-user loop, also from the scores); and, since ranx takes ranked lists, not
  a score matrix, both given each user's top-25 with scores: ``ranking_metrics`` vs ranx
  (building its Run / Qrels and scoring them). Agree: each metric to 1e-9; the three use the same definitions here
  (NDCG's ideal DCG over min(|R_u|, 25) relevant items).
- ``als``: this project's ALS (implicit's engine) vs Spark MLlib's (``local[T]``, the session
  started before timing) with the same factors / iterations / alpha / regularisation number.
  Not the same model (Spark's regularisation is scaled per user/item, other initialisation):
  the check reports both NDCG@25 on the evaluation users and is informational.

``--threads`` (default 1) is given to both sides of each pair: numba / implicit threads, BLAS /
LAPACK threads (``ease``), Spark's ``local[T]``. Each size runs in its own process; the data
are generated / split before anything is timed. The machine (cores, CPU model, load) is printed
and saved with the rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

DEFAULT_SIZES = "small,1M"
JOBS = ("itemknn", "ease", "eval", "als")
K_EVAL = 25


# --- data ------------------------------------------------------------------------------------

def load_size(size: str, seed: int = 0):
    """The study split of ml-latest-small (``"small"``) or of a synthetic set (``"1M"``, ...)."""
    from ..splits import study_split

    if size == "small":
        from ..datasets import load_ratings

        ratings = load_ratings()
    else:
        from ..datasets.synth import default_shape, generate, parse_size

        n = parse_size(size)
        ratings, _ = generate(n, *default_shape(n), seed)
    split = study_split(ratings)
    split.train_binary, split.train_ratings  # noqa: B018 (built before anything is timed)
    return split


# --- timing ----------------------------------------------------------------------------------

def interleaved(ours, peer, repeat: int) -> dict:
    """Run ``ours`` and ``peer`` alternately ``repeat`` times, which one goes first alternating
    too (ours, peer, peer, ours, ...: a change of load hits both sides alike); best times,
    ratio, spread and the last outputs of each."""
    fns, times, out = {"ours": ours, "peer": peer}, {"ours": [], "peer": []}, {}
    for r in range(repeat):
        for side in ("ours", "peer")[::1 if r % 2 == 0 else -1]:
            t0 = time.perf_counter()
            out[side] = fns[side]()
            times[side].append(time.perf_counter() - t0)
    t_o, t_p, out_o, out_p = times["ours"], times["peer"], out["ours"], out["peer"]
    spread = max((max(t) - min(t)) / min(t) for t in (t_o, t_p))
    return {"ours_s": round(min(t_o), 4), "peer_s": round(min(t_p), 4), "ratio": round(min(t_o) / min(t_p), 3),
            "spread": round(spread, 3), "repeats": repeat, "_ours": out_o, "_peer": out_p}


def _set_threads(n: int) -> None:
    import numba

    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))


# --- jobs ------------------------------------------------------------------------------------

def knn_agreement(ours, theirs, k: int, tol: float = 1e-9) -> dict:
    """Compare ItemKNN's columns (neighbours of each item, self excluded) with implicit's rows
    (self included): same sets up to ties at the K-th value, values to ``tol``."""
    import scipy.sparse as sp

    A = sp.csc_matrix(ours)
    T = sp.csr_matrix(theirs)
    n = A.shape[1]
    differ = tie_only = 0
    max_diff = 0.0
    for j in range(n):
        a_i = A.indices[A.indptr[j]:A.indptr[j + 1]]
        a_v = A.data[A.indptr[j]:A.indptr[j + 1]]
        t_i = T.indices[T.indptr[j]:T.indptr[j + 1]]
        t_v = T.data[T.indptr[j]:T.indptr[j + 1]]
        keep = (t_i != j) & (t_v > 0)
        t_i, t_v = t_i[keep], t_v[keep]
        if len(t_i) > k:  # implicit kept K + 1 without the item itself: drop its last
            o = np.lexsort((t_i, -t_v))[:k]
            t_i, t_v = t_i[o], t_v[o]
        common, ia, it = np.intersect1d(a_i, t_i, return_indices=True)
        if len(common):
            max_diff = max(max_diff, float(np.abs(a_v[ia] - t_v[it]).max()))
        if len(common) == len(a_i) == len(t_i):
            continue
        # a different pick is fine where the differing items all sit at the K-th value
        kth = min(a_v.min(initial=np.inf), t_v.min(initial=np.inf))
        only = np.r_[a_v[np.setdiff1d(np.arange(len(a_i)), ia)], t_v[np.setdiff1d(np.arange(len(t_i)), it)]]
        if len(a_i) == len(t_i) and np.all(np.abs(only - kth) <= tol):
            tie_only += 1
        else:
            differ += 1
    ok = bool(differ == 0 and max_diff <= tol)
    return {"agree": ok, "check": f"{n - differ - tie_only}/{n} lists identical, {tie_only} differ only among "
                                  f"items tied at the K-th value, {differ} differ otherwise; max |Δsim| {max_diff:.1e}"}


def job_itemknn(split, k: int, threads: int, repeat: int) -> dict:
    import warnings

    from ..models.baselines import ItemKNN

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        from implicit.nearest_neighbours import CosineRecommender
    warnings.filterwarnings("ignore", message="Method expects CSR input")  # implicit's own normalize() returns COO

    _set_threads(threads)
    X = split.train_binary.tocsr().astype(np.float64)

    def ours():
        return ItemKNN(n_neighbors=k, shrinkage=0.0).fit(split).sim_

    def peer():
        m = CosineRecommender(K=k + 1, num_threads=threads)
        m.fit(X, show_progress=False)
        return m.similarity

    ours()  # the kernel's compilation (cached on disk after the first run) is not timed
    r = interleaved(ours, peer, repeat)
    r.update(knn_agreement(r.pop("_ours"), r.pop("_peer"), k))
    r.update(job="itemknn", ours=f"ItemKNN(n_neighbors={k}, shrinkage=0).fit",
             peer=f"implicit CosineRecommender(K={k + 1}).fit")
    return r


def job_ease(split, lam: float, max_items: int, threads: int, repeat: int) -> dict:
    import cornac
    from threadpoolctl import threadpool_limits

    from ..models.baselines import EASE, spd_inverse
    from ..similarity import gram

    X = split.train_binary.tocsr()
    keep = EASE(max_items=max_items)._kept_items(X)  # the items EASE itself keeps (None: all)
    Xk = X if keep is None else X[:, keep].tocsr()
    u, i = Xk.nonzero()
    ds = cornac.data.Dataset.build(list(zip(u.tolist(), i.tolist(), [1.0] * len(u))), seed=0)
    perm = np.array([ds.iid_map[j] for j in range(Xk.shape[1])])  # our column j → cornac's

    def ours():
        return EASE(lambda_=lam, max_items=len(keep) if keep is not None else 0, max_memory_gb=64.0).fit(split)

    def peer():
        return cornac.models.EASE(lamb=lam, posB=False, verbose=False).fit(ds)

    spd_inverse(gram(X[:2, :2]) + np.eye(2))  # the kernels' compilation (cached on disk) is not timed
    with threadpool_limits(threads):  # BLAS / LAPACK threads: the same count on both sides
        r = interleaved(ours, peer, repeat)
    m, c = r.pop("_ours"), r.pop("_peer")
    B_ours = m.item_weights(keep if keep is not None else np.arange(X.shape[1]))
    if keep is not None:
        B_ours = B_ours[keep]
    B_peer = np.asarray(c.B)[np.ix_(perm, perm)]
    diff = float(np.abs(B_ours - B_peer).max())
    scale = float(np.abs(B_peer).max())
    r.update(agree=bool(diff <= 1e-6 * scale), check=f"B: max |Δ| {diff:.1e} (max |B| {scale:.2g}, path {m.path_})",
             job="ease", ours=f"EASE(lambda_={lam:g}).fit" + (f" on {len(keep):,} items" if keep is not None else ""),
             peer="cornac EASE(posB=False).fit" + (f" on {len(keep):,} items" if keep is not None else ""))
    return r


class _Scores:
    """A fixed score matrix behind the Recommender interface (rows for ``users``)."""

    name = "scores"

    def __init__(self, model, users):
        self.users = np.asarray(users)
        self.model = model
        self.split_ = model.split_
        self.S = np.asarray(model.score(self.users), dtype=np.float64)
        self.row = {int(u): r for r, u in enumerate(self.users)}

    def rank(self, user_indices, k, exclude_seen=True, candidates=None, dtype=np.float64):
        from ..evaluation.metrics import top_k

        users = np.atleast_1d(user_indices)
        s = self.S[[self.row[int(u)] for u in users]].astype(dtype, copy=True)
        seen = self.split_.train_binary[users]
        s[np.repeat(np.arange(len(users)), np.diff(seen.indptr)), seen.indices] = -np.inf
        return top_k(s, k)


def job_eval(split, scores: _Scores, repeat: int) -> list[dict]:
    import cornac
    from cornac.eval_methods.base_method import ranking_eval
    from ranx import Qrels, Run, evaluate

    from ..evaluation import evaluate_ranking

    users = scores.users
    rel = split.relevant()
    n_items = split.n_items

    # cornac: train interactions all "positive" (5.0) so that ranking_eval excludes every seen
    # item as our evaluator does; test ratings as they are, positives ≥ 4.0; identity id maps
    umap = {int(u): int(u) for u in range(split.n_users)}
    imap = {int(i): int(i) for i in range(n_items)}
    tr = split.train_binary.tocoo()
    train_set = cornac.data.Dataset.build(list(zip(tr.row.tolist(), tr.col.tolist(), [5.0] * tr.nnz)),
                                          global_uid_map=dict(umap), global_iid_map=dict(imap), seed=0)
    sel = np.isin(np.arange(split.n_users), users)
    te = split.test
    te = te[(te["iidx"].to_numpy() >= 0) & sel[te["uidx"].to_numpy()]]
    test_set = cornac.data.Dataset.build(list(zip(te["uidx"].tolist(), te["iidx"].tolist(), te["rating"].tolist())),
                                         global_uid_map=dict(umap), global_iid_map=dict(imap), seed=0,
                                         exclude_unknowns=True)

    class Fixed(cornac.models.Recommender):
        def __init__(self):
            super().__init__(name="fixed", trainable=False, verbose=False)

        def score(self, user_idx, item_idx=None):
            s = scores.S[scores.row[int(user_idx)]]
            return s if item_idx is None else s[item_idx]

    peer_model = Fixed()
    cornac.models.Recommender.fit(peer_model, train_set)
    metrics = [cornac.metrics.Precision(k=K_EVAL), cornac.metrics.Recall(k=K_EVAL), cornac.metrics.NDCG(k=K_EVAL)]

    def ours():
        return evaluate_ranking(scores, split, K_EVAL, users=users).metrics

    def peer_cornac():
        avg, _ = ranking_eval(peer_model, metrics, train_set, test_set, rating_threshold=4.0, exclude_unknowns=True)
        return dict(zip(("precision", "recall", "ndcg"), avg))

    # ranx gets each user's top-25 with scores (not timed: it is our ranking, handed over)
    top = np.vstack([scores.rank(users[a:a + 2048], K_EVAL) for a in range(0, len(users), 2048)])
    top_s = np.take_along_axis(scores.S, top, axis=1)
    R = rel[users].tocsr()

    def peer_ranx():
        run = Run({str(u): {str(i): float(s) for i, s in zip(ti, ts)} for u, ti, ts in zip(users, top, top_s)})
        qrels = Qrels({str(u): {str(i): 1 for i in R.indices[R.indptr[r]:R.indptr[r + 1]]}
                       for r, u in enumerate(users)})
        m = evaluate(qrels, run, [f"precision@{K_EVAL}", f"recall@{K_EVAL}", f"ndcg@{K_EVAL}"], make_comparable=True)
        return {"precision": m[f"precision@{K_EVAL}"], "recall": m[f"recall@{K_EVAL}"], "ndcg": m[f"ndcg@{K_EVAL}"]}

    def ours_lists():  # ranx is handed the top-25: ours then only scores the same lists
        from ..evaluation.metrics import ranking_metrics

        per = ranking_metrics(top, R, K_EVAL)
        return {m: float(np.nanmean(per[m])) for m in ("precision", "recall", "ndcg")}

    peer_ranx()  # ranx's numba compilation is not timed
    rows = []
    for name, mine, peer in (("cornac ranking_eval", ours, peer_cornac),
                             ("ranx evaluate", ours_lists, peer_ranx)):
        r = interleaved(mine, peer, repeat)
        a, b = r.pop("_ours"), r.pop("_peer")
        d = {m: abs(a[m] - b[m]) for m in ("precision", "recall", "ndcg")}
        what = (f"evaluate_ranking P/R/NDCG@{K_EVAL}, {len(users):,} users (from the scores)" if mine is ours else
                f"ranking_metrics on the same top-{K_EVAL} lists, {len(users):,} users")
        r.update(job="eval", ours=what, peer=name + ("" if mine is ours else f" (given the top-{K_EVAL} lists)"),
                 agree=bool(max(d.values()) <= 1e-9),
                 check="max |Δ| " + ", ".join(f"{m} {v:.1e}" for m, v in d.items())
                       + f" (ours: P {a['precision']:.4f}, NDCG {a['ndcg']:.4f})")
        rows.append(r)
    return rows


def job_als(split, users, threads: int, repeat: int) -> tuple[dict, object]:
    from ..evaluation import evaluate_ranking
    from ..models.als import ALS
    from ..models.spark_als import SparkALS, spark_session, stop_session

    master = f"local[{threads}]"
    spark_session(master)  # the JVM starts here, not in the timed fit

    def ours():
        return ALS(num_threads=threads).fit(split)

    def peer():
        return SparkALS(spark_master=master).fit(split)

    r = interleaved(ours, peer, repeat)
    a, b = r.pop("_ours"), r.pop("_peer")
    na = evaluate_ranking(a, split, K_EVAL, users=users, dtype=np.float32).metrics["ndcg"]
    nb = evaluate_ranking(b, split, K_EVAL, users=users, dtype=np.float32).metrics["ndcg"]
    stop_session()
    r.update(job="als", ours="ALS (implicit engine).fit", peer=f"Spark MLlib ALS {master}.fit", agree=None,
             check=f"different models (informational): NDCG@{K_EVAL} ours {na:.4f}, Spark {nb:.4f}")
    return r, a


# --- driver ----------------------------------------------------------------------------------

def run_size(size: str, jobs: list[str], a) -> list[dict]:
    """Every job on one data set, in this process; prints one JSON row each."""
    t0 = time.perf_counter()
    split = load_size(size, a.seed)
    base = {"size": size, "users": split.n_users, "items": split.n_items, "ratings": int(split.train_binary.nnz),
            "threads": a.threads}
    big = size != "small" and split.n_users * split.n_items > 2e8
    repeat = a.repeat if not big else a.repeat_large
    users = split.evaluable_users()
    if len(users) > a.eval_users:
        users = np.sort(np.random.default_rng(a.seed).choice(users, size=a.eval_users, replace=False))
    print(json.dumps({"size": size, "prepared_s": round(time.perf_counter() - t0, 1), "note": True}), flush=True)
    rows = []

    def emit(r):
        r = {**base, **r}
        rows.append(r)
        print(json.dumps(r), flush=True)

    als_model = None
    for job in jobs:
        try:
            if job == "itemknn":
                emit(job_itemknn(split, a.k, a.threads, repeat))
            elif job == "ease":
                emit(job_ease(split, a.ease_lambda, a.ease_max_items if size not in ("small", "1M") else 0,
                              a.threads, repeat))
            elif job == "als":
                r, als_model = job_als(split, users, a.threads, 1 if big else repeat)
                emit(r)
            elif job == "eval":
                if als_model is None:
                    from ..models.als import ALS

                    als_model = ALS(num_threads=a.threads).fit(split)
                for r in job_eval(split, _Scores(als_model, users), repeat):
                    emit(r)
        except Exception as exc:  # noqa: BLE001 - one job's failure (memory, a JVM) must not end the run
            emit({"job": job, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"})
    return rows


def machine() -> str:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores ({model}), load average {load}"


def table(rows: list[dict]) -> str:
    out = ["| job | size | users × items | ours | ours s | peer | peer s | ratio | spread | agree | check |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        shape = f"{r['users']:,} × {r['items']:,}"
        if "error" in r:
            out.append(f"| {r['job']} | {r['size']} | {shape} | – | – | – | – | – | – | – | failed: {r['error']} |")
            continue
        agree = {True: "yes", False: "NO", None: "n/a"}[r["agree"]]
        out.append(f"| {r['job']} | {r['size']} | {shape} | {r['ours']} | {r['ours_s']:.3f} | {r['peer']} | "
                   f"{r['peer_s']:.3f} | {r['ratio']:.2f} | ±{100 * r['spread']:.0f}% ({r['repeats']}×) | {agree} | "
                   f"{r['check']} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m recutils.bench.peers", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=DEFAULT_SIZES, help="small (ml-latest-small) and/or synthetic sizes: 1M,10M,32M")
    ap.add_argument("--jobs", default=",".join(JOBS), help=f"comma-separated, of {', '.join(JOBS)}")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per side (best is reported)")
    ap.add_argument("--repeat-large", type=int, default=1, help="timed runs per side from 10M on")
    ap.add_argument("--threads", type=int, default=1, help="threads for both sides of every pair")
    ap.add_argument("--k", type=int, default=50, help="ItemKNN / implicit neighbours")
    ap.add_argument("--ease-lambda", type=float, default=300.0)
    ap.add_argument("--ease-max-items", type=int, default=10_000, help="EASE's items from 10M on (both sides)")
    ap.add_argument("--eval-users", type=int, default=10_000, help="evaluable users drawn for eval / als")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="reports/bench_peers.json")
    ap.add_argument("--one-size", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    jobs = [j for j in a.jobs.split(",") if j]
    bad = [j for j in jobs if j not in JOBS]
    if bad:
        ap.error(f"unknown job(s) {bad}; valid: {', '.join(JOBS)}")
    if a.one_size:
        run_size(a.one_size, jobs, a)
        return 0
    start = machine()
    print(f"machine: {start}", flush=True)
    rows = []
    for size in [s for s in a.sizes.split(",") if s]:
        cmd = [sys.executable, "-m", "recutils.bench.peers", "--one-size", size, "--jobs", ",".join(jobs),
               "--repeat", str(a.repeat), "--repeat-large", str(a.repeat_large), "--threads", str(a.threads),
               "--k", str(a.k), "--ease-lambda", str(a.ease_lambda), "--ease-max-items", str(a.ease_max_items),
               "--eval-users", str(a.eval_users), "--seed", str(a.seed)]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        got = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        got = [r for r in got if not r.get("note")]
        if proc.returncode != 0:
            print(f"size {size}: the process exited with {proc.returncode} after {len(got)} rows (memory?)",
                  file=sys.stderr)
        rows += got
        print(table(got).split("\n", 2)[-1], flush=True)
    end = machine()
    print()
    print(f"machine: {start} at the start; {end} at the end")
    print(table(rows))
    from ..io import write_json

    write_json(a.out, {"machine_start": start, "machine_end": end, "command": "python -m recutils.bench.peers "
                       + " ".join(argv if argv is not None else sys.argv[1:]), "rows": rows})
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
