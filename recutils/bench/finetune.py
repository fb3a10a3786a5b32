"""Where a fine-tune's time goes: steps/s of the hybrid study's MiniLM fine-tune per variant
(dense vs sparse embedding gradients, flushed denormals, other length buckets) and thread count,
interleaved in one process, with the time per phase of a step.

    python -m recutils.bench.finetune [--steps 40] [--threads 1,2] [--repeats 2]

Not a test: the numbers mean something on an idle machine only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

from ..config import validate_config
from ..embeddings.finetune import FinetuneConfig, _train, mine_pairs, pair_texts
from ..errors import RecutilsError

# --- where a fine-tune's time goes -----------------------------------------------------------
#: :func:`bench_finetune` variants: name → keyword arguments of ``_train`` (+ ``flush_denormal``:
#: ``torch.set_flush_denormal(True)`` during the run; ``length_buckets``: another bucket size)
BENCH_VARIANTS = {
    "before: dense embedding grads": {"sparse_grads": False},
    "sparse embedding grads (now)": {"sparse_grads": True},
    "sparse grads + flush denormals": {"sparse_grads": True, "flush_denormal": True},
    # other sub-batch shapes draw other dropout masks: not the same loss, only for comparison
    "bucket 2 (other dropout draws)": {"sparse_grads": True, "length_buckets": 2},
    "bucket 8 (other dropout draws)": {"sparse_grads": True, "length_buckets": 8},
}
#: the variants :func:`bench_finetune` runs by default (same batches and maths as the study's run)
DEFAULT_BENCH_VARIANTS = ("before: dense embedding grads", "sparse embedding grads (now)", "sparse grads + flush denormals")


def _phase_timer():
    """A ``TrainerCallback`` timing each optimizer step (wall and this process's CPU seconds) and
    its phases: ``data`` (the data loader: tokenising and padding the batch, plus the trainer's
    bookkeeping between steps), ``forward`` (set by the loss hook), ``backward`` (with gradient
    clipping), ``optimizer`` (AdamW) and ``scheduler`` (the LR step and ``zero_grad``)."""
    from transformers import TrainerCallback

    class PhaseTimer(TrainerCallback):
        def __init__(self):
            self.ends: list[tuple[float, float]] = []  # (wall, cpu) at the end of each step
            self.phases: list[dict] = []
            self.forward = 0.0
            self.losses: list[float] = []
            self._t = {}

        def loss_hook(self, forward):
            def timed(*a, **k):
                t0 = time.perf_counter()
                out = forward(*a, **k)
                self.forward += time.perf_counter() - t0
                self.losses.append(float(out.detach()))
                return out
            return timed

        def on_step_begin(self, args, state, control, **kw):
            self._t = {"begin": time.perf_counter()}
            self.forward = 0.0

        def on_pre_optimizer_step(self, args, state, control, **kw):
            self._t["pre_opt"] = time.perf_counter()

        def on_optimizer_step(self, args, state, control, **kw):
            self._t["opt"] = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            now = time.perf_counter()
            t = self._t
            prev = self.ends[-1][0] if self.ends else None
            self.phases.append({"data": (t["begin"] - prev) if prev is not None else float("nan"),
                                "forward": self.forward,
                                "backward": t["pre_opt"] - t["begin"] - self.forward,
                                "optimizer": t["opt"] - t["pre_opt"], "scheduler": now - t["opt"]})
            self.ends.append((now, time.process_time()))

    return PhaseTimer()


def bench_finetune(model_name: str = "all-MiniLM-L6-v2", threads=(1, 2), variants=None, steps: int = 40,
                   warmup: int = 5, repeats: int = 2, data_dir=None, config: FinetuneConfig | None = None) -> dict:
    """Steps per second of the hybrid study's fine-tune, per variant × thread count, interleaved
    in this process (so that load from other processes hits every setting alike).

    The real workload: the study's movie texts (``movie_texts("study")``), pairs mined from the
    training part of ``study_split(load_ratings())`` with ``config`` (the study's by default),
    the real run's first ``steps`` batches (same sampler and seed). Each run starts from a copy of
    the same loaded model; the first ``warmup`` steps are not timed. ``variants``: names of
    :data:`BENCH_VARIANTS` (default: :data:`DEFAULT_BENCH_VARIANTS`).

    Returns ``{"rows", "phases_ms", "setup"}``: per (variant, threads) the median over
    ``repeats`` of steps/s (wall) and CPU seconds per step (this process, all its threads), the
    thread counts the runs used (``threads`` may hold ``"auto"``),
    ratio of steps/s to the first variant at 1 thread and at the same threads, and the largest
    difference of a per-step loss from the first variant's (same batches and maths: float
    rounding only); ``phases_ms`` the median milliseconds per step of each phase (see
    ``_phase_timer``).
    """
    import copy

    import torch

    from ..datasets import load_ratings
    from ..datasets.text import movie_texts
    from ..embeddings.resolve import load_model
    from ..splits import study_split
    from ..torch_threads import torch_threads

    config = validate_config(config or FinetuneConfig(), "fine-tuning")
    names = list(variants or DEFAULT_BENCH_VARIANTS)
    unknown = [v for v in names if v not in BENCH_VARIANTS]
    if unknown:
        raise RecutilsError(f"unknown fine-tuning benchmark variant(s) {unknown}; known: {list(BENCH_VARIANTS)}")
    if steps <= warmup:
        raise RecutilsError("bench_finetune needs more steps than warm-up steps")
    train = study_split(load_ratings(data_dir)).without_test()
    pairs = mine_pairs(train, config.pairs_per_user, config.max_pairs, config.threshold, np.random.default_rng(config.seed))
    anchors, positives = pair_texts(pairs, train, movie_texts("study", data_dir))
    base = load_model(model_name)
    runs: dict[tuple[str, int], list[dict]] = {}
    ref_losses = None
    for _ in range(repeats):
        for name in names:
            kw = dict(BENCH_VARIANTS[name])
            flush = kw.pop("flush_denormal", False)
            cfg = dataclasses.replace(config, length_buckets=kw.pop("length_buckets", config.length_buckets))
            for n in threads:
                model = copy.deepcopy(base)
                timer = _phase_timer()
                was = torch.set_flush_denormal(False)  # returns whether the CPU supports it
                try:
                    torch.set_flush_denormal(bool(flush and was))
                    with torch_threads(n):
                        info = _train(model, anchors, positives, cfg, max_steps=steps, callbacks=[timer],
                                      loss_hook=timer.loss_hook, **kw)
                finally:
                    torch.set_flush_denormal(False)
                (w0, c0), (w1, c1) = timer.ends[warmup - 1], timer.ends[-1]
                if ref_losses is None:
                    ref_losses = timer.losses
                diff = max(abs(a - b) for a, b in zip(timer.losses, ref_losses))
                runs.setdefault((name, n), []).append({
                    "steps_per_s": (steps - warmup) / (w1 - w0), "cpu_s_per_step": (c1 - c0) / (steps - warmup),
                    "loss_diff": diff, "phases": timer.phases[warmup:], "threads_used": info["torch_threads"]})
    first = (names[0], threads[0])
    med = {k: float(np.median([r["steps_per_s"] for r in v])) for k, v in runs.items()}
    rows = []
    for (name, n), rs in runs.items():
        rows.append({"variant": name, "threads": n, "steps_per_s": round(med[(name, n)], 4),
                     "cpu_s_per_step": round(float(np.median([r["cpu_s_per_step"] for r in rs])), 4),
                     "ratio_to_first": round(med[(name, n)] / med[first], 3),
                     "ratio_same_threads": round(med[(name, n)] / med[(names[0], n)], 3),
                     "max_loss_diff": float(max(r["loss_diff"] for r in rs)), "runs": len(rs),
                     "threads_used": sorted({t for r in rs for t in r["threads_used"]})})
    phases = {f"{name} @ {n}": {p: round(1000 * float(np.nanmedian([ph[p] for r in rs for ph in r["phases"]])), 1)
                                for p in ("data", "forward", "backward", "optimizer", "scheduler")}
              for (name, n), rs in runs.items()}
    setup = {"model": model_name, "steps": steps, "warmup": warmup, "repeats": repeats, "n_pairs": int(len(pairs)),
             "batch_size": config.batch_size, "length_buckets": config.length_buckets,
             "full_run_steps": int(np.ceil(len(pairs) / config.batch_size) * config.epochs),
             "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None}
    return {"rows": rows, "phases_ms": phases, "setup": setup}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m recutils.bench.finetune", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts ('auto' allowed)")
    ap.add_argument("--variants", default=None, help=f"comma-separated, from: {', '.join(BENCH_VARIANTS)}")
    a = ap.parse_args(argv)
    try:
        threads = tuple(t if t == "auto" else int(t) for t in a.threads.split(","))
        res = bench_finetune(a.model, threads, a.variants.split(",") if a.variants else None, a.steps, a.warmup, a.repeats)
    except (RecutilsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
