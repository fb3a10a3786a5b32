"""What :mod:`recutils.notebooks.malloc`'s glibc settings change: notebook 06's cold-start MLP
trained with and without them, each run in a process of its own (glibc reads them at start).

    python -m recutils.bench.malloc [--epochs 100] [--hidden 512] [--inputs 25] [--repeats 2]

Prints, per setting, the milliseconds per epoch (median over ``repeats`` processes, run
alternately), the minor page faults and system milliseconds per epoch, and whether the trained
network's outputs are bit-identical. One torch thread (as the notebooks train it); random
data of the shapes of 06's metadata MLP (7,900 warm movies, 64 ALS factors).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

__all__ = ["child", "main"]


def child(epochs: int, hidden: int, inputs: int) -> dict:
    """Train once in this process; ``{"ms_per_epoch", "faults_per_epoch", "sys_ms_per_epoch", "digest"}``."""
    import resource
    import time
    from types import SimpleNamespace

    import numpy as np

    from ..fingerprints import array_digest
    from ..models.coldstart import mlp

    rng = np.random.default_rng(0)
    C, Y = rng.standard_normal((7_900, inputs)), rng.standard_normal((7_900, 64))
    c = SimpleNamespace(seed=42, mlp_hidden=hidden, mlp_dropout=0.1, mlp_lr=1e-3, mlp_weight_decay=1e-4,
                        text_dropout=0.0, metadata_dropout=0.0, mlp_epochs=epochs)
    mlp.mlp_map(C[:500], Y[:500], C[:10], SimpleNamespace(**{**vars(c), "mlp_epochs": 3}))  # imports, warm-up
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    out = mlp.mlp_map(C, Y, C[:1000], c)
    secs, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    return {"ms_per_epoch": 1000 * secs / epochs, "faults_per_epoch": (r1.ru_minflt - r0.ru_minflt) / epochs,
            "sys_ms_per_epoch": 1000 * (r1.ru_stime - r0.ru_stime) / epochs, "digest": array_digest(out)}


def main(argv=None) -> int:
    from ..notebooks.malloc import ENV, tunables

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--inputs", type=int, default=25)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if min(a.epochs, a.hidden, a.inputs, a.repeats) < 1:
        ap.error("--epochs, --hidden, --inputs and --repeats must be ≥ 1")
    if a.child:
        print(json.dumps(child(a.epochs, a.hidden, a.inputs)))
        return 0
    base = {k: v for k, v in os.environ.items() if k != ENV}
    envs = {"glibc defaults": base, "notebooks' settings": {**base, ENV: tunables()}}
    cmd = [sys.executable, "-m", "recutils.bench.malloc", "--child", "--epochs", str(a.epochs),
           "--hidden", str(a.hidden), "--inputs", str(a.inputs)]
    runs: dict[str, list[dict]] = {k: [] for k in envs}
    for _ in range(a.repeats):
        for name, env in envs.items():
            env = {**env, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            runs[name].append(json.loads(res.stdout.strip().splitlines()[-1]))
    print(f"cold-start MLP, 7,900 × {a.inputs} → {a.hidden} → 64, {a.epochs} epochs, one thread, "
          f"{a.repeats} process(es) each:")
    for name, rs in runs.items():
        med = sorted(r["ms_per_epoch"] for r in rs)[len(rs) // 2]
        print(f"  {name:20s} {med:6.1f} ms/epoch · {rs[-1]['faults_per_epoch']:7.0f} minor faults/epoch · "
              f"{rs[-1]['sys_ms_per_epoch']:5.1f} ms system/epoch")
    digests = {r["digest"] for rs in runs.values() for r in rs}
    print("outputs bit-identical:", "yes" if len(digests) == 1 else f"NO ({len(digests)} different)")
    return 0 if len(digests) == 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
