"""``make bench-scale``: synthetic MovieLens-format data at 1M / 10M / 32M ratings → fit time,
evaluation time and peak memory per model (a benchmark, not a test).

    python -m recutils.bench.scale                                   # 1M, 10M, 32M
    python -m recutils.bench.scale --sizes 1M,10M --models mostpop,als,ease:max_items=10000
    python -m recutils.bench.scale --sizes 1M --models als:num_threads=1,als:num_threads=2

Each size runs in its own process (so one size's memory never counts for the next): the data
come from :func:`recutils.datasets.synth.generate` (users and items in MovieLens proportions,
:func:`~recutils.datasets.synth.default_shape`), are split with the study protocol, and each
model is fitted and evaluated in turn (``--eval-users`` evaluable users drawn with a fixed seed,
in batches of ``--batch-size``, float32 scores). Memory is sampled every 20 ms as the resident
set of the process *and its children* (Spark's JVM): ``peak`` is the largest total seen while a
model was fitted and evaluated, ``+model`` that minus the total just before. ``process peak``
is the size's whole process (data, split and every model) — what must fit in 24 GiB. Times are
also given as a ratio to implicit's ALS fitted in the same process (machines are noisy; compare
ratios, and nothing here asserts a threshold). The machine's cores, load and memory are printed
with the table.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

DEFAULT_SIZES = "1M,10M,32M"
DEFAULT_MODELS = ("mostpop,itemknn:n_neighbors=50,als:num_threads=1,als:num_threads=2,"
                  "ease:max_items=10000:max_memory_gb=12,sansa")


class MemorySampler:
    """Peak resident memory (bytes) of this process and its children, sampled in a thread."""

    def __init__(self, interval: float = 0.02):
        import psutil

        self._p = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._t = None

    def rss(self) -> int:
        import psutil

        total = 0
        for p in [self._p, *self._p.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def __enter__(self):
        self.start = self.rss()
        self.peak = self.start
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.rss())


def parse_model(spec: str) -> tuple[str, dict]:
    """``"ease:max_items=10000:max_memory_gb=12"`` → ``("ease", {"max_items": "10000", ...})``."""
    name, *pairs = spec.split(":")
    params = {}
    for p in pairs:
        k, _, v = p.partition("=")
        params[k] = v
    return name, params


def run_size(n_ratings: int, models: list[str], eval_users: int, batch_size: int, seed: int) -> list[dict]:
    """Fit and evaluate every model on one synthetic data set (in this process); one row each."""
    from ..config import parse_params
    from ..datasets.synth import default_shape, generate
    from ..errors import RecutilsError
    from ..evaluation import evaluate_ranking
    from ..models import create, get_model_class
    from ..splits import study_split

    n_users, n_items = default_shape(n_ratings)
    t0 = time.perf_counter()
    ratings, _ = generate(n_ratings, n_users, n_items, seed)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    split = study_split(ratings)
    del ratings
    split.train_binary, split.train_ratings  # noqa: B018 (built once, before any model is timed)
    split_s = time.perf_counter() - t0
    users = split.evaluable_users()
    users = np.sort(np.random.default_rng(seed).choice(users, size=min(eval_users, len(users)), replace=False))
    rows = []
    for spec in models:
        name, raw = parse_model(spec)
        row = {"ratings": n_ratings, "users": split.n_users, "items": split.n_items, "model": spec,
               "generate_s": round(gen_s, 1), "split_s": round(split_s, 1)}
        gc.collect()
        try:
            params = parse_params(get_model_class(name), [f"{k}={v}" for k, v in raw.items()])
            with MemorySampler() as mem:
                t0 = time.perf_counter()
                model = create(name, **params).fit(split)
                fit_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                res = evaluate_ranking(model, split, users=users, batch_size=batch_size, dtype=np.float32)
                eval_s = time.perf_counter() - t0
            row.update(fit_s=round(fit_s, 2), eval_s=round(eval_s, 2), eval_users=len(users),
                       peak_gib=round(mem.peak / 2**30, 2), model_gib=round((mem.peak - mem.start) / 2**30, 2),
                       precision=round(res.metrics["precision"], 4), ndcg=round(res.metrics["ndcg"], 4))
            del model, res
        except (RecutilsError, MemoryError) as exc:
            row.update(error=str(exc).splitlines()[0][:200])
        except Exception as exc:  # noqa: BLE001 - one model's crash (e.g. a JVM error) must not end the run
            row.update(error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}")
        rows.append(row)
        print(json.dumps(row), flush=True)
    import resource

    # the process's own high-water mark, or the sampled peak with its children (Spark's JVM)
    # where that was higher
    peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30, 2)
    peak = max([peak, *(r["peak_gib"] for r in rows if "peak_gib" in r)])
    for r in rows:
        r["process_peak_gib"] = peak
    print(json.dumps({"process_peak_gib": peak, "final": True}), flush=True)
    return rows


def _machine() -> str:
    import psutil

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    vm = psutil.virtual_memory()
    return (f"{os.cpu_count()} cores, load average {load}, {vm.total / 2**30:.0f} GiB RAM "
            f"({vm.available / 2**30:.0f} GiB available at the start)")


def table(rows: list[dict]) -> str:
    """A markdown table; times also as a ratio to implicit's ALS (num_threads=1, else any ALS) of the same size."""
    out = ["| ratings | users × items | model | fit s | eval s (users) | fit / ALS fit | peak GiB (+model) | process peak GiB | P@25 |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['ratings']:,} | {r['users']:,} × {r['items']:,} | {r['model']} | – | – | – | – | – | "
                       f"refused: {r['error']} |")
            continue
        same = [x for x in rows if x["ratings"] == r["ratings"] and "fit_s" in x and x["model"].startswith("als")]
        base = next((x for x in same if "num_threads=1" in x["model"]), same[0] if same else None)
        ratio = f"{r['fit_s'] / base['fit_s']:.2f}×" if base and base["fit_s"] > 0 else "–"
        out.append(f"| {r['ratings']:,} | {r['users']:,} × {r['items']:,} | {r['model']} | {r['fit_s']:.1f} | "
                   f"{r['eval_s']:.1f} ({r['eval_users']:,}) | {ratio} | {r['peak_gib']:.2f} (+{r['model_gib']:.2f}) | "
                   f"{r['process_peak_gib']:.2f} | {r['precision']:.4f} |")
    return "\n".join(out)


def main(argv=None) -> int:
    from ..datasets.synth import parse_size
    from ..errors import RecutilsError

    ap = argparse.ArgumentParser(prog="python -m recutils.bench.scale", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=DEFAULT_SIZES, help=f"ratings per data set (default {DEFAULT_SIZES})")
    ap.add_argument("--models", default=DEFAULT_MODELS,
                    help="comma-separated model specs name[:key=value...] (default: %(default)s)")
    ap.add_argument("--eval-users", type=int, default=10_000, help="evaluable users drawn for evaluation")
    ap.add_argument("--batch-size", type=int, default=2048, help="users per scoring batch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="also write the rows as JSON here")
    ap.add_argument("--one-size", default=None, help=argparse.SUPPRESS)  # internal: run one size in this process
    a = ap.parse_args(argv)
    models = [m for m in a.models.split(",") if m]
    try:
        if a.one_size:
            run_size(parse_size(a.one_size), models, a.eval_users, a.batch_size, a.seed)
            return 0
        sizes = [parse_size(s) for s in a.sizes.split(",") if s]
    except RecutilsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"machine: {_machine()}", flush=True)
    rows = []
    for n in sizes:
        cmd = [sys.executable, "-m", "recutils.bench.scale", "--one-size", str(n), "--models", ",".join(models),
               "--eval-users", str(a.eval_users), "--batch-size", str(a.batch_size), "--seed", str(a.seed)]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        got = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        final = [r for r in got if r.get("final")]
        got = [r for r in got if not r.get("final")]
        if proc.returncode != 0:
            print(f"size {n:,}: the process exited with {proc.returncode} after {len(got)} models "
                  "(killed for memory?)", file=sys.stderr)
        for r in got:
            r["process_peak_gib"] = final[0]["process_peak_gib"] if final else float("nan")
        rows += got
        print(table([r for r in rows if r["ratings"] == n]).split("\n", 2)[-1], flush=True)
    print()
    print(f"machine: {_machine()}")
    print(table(rows))
    if a.out:
        from ..io import write_json

        write_json(a.out, {"machine": _machine(), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
