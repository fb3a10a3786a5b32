"""How much a low-priority neighbour slows a notebook: the reason ``make reproduce``'s artifacts
lane runs in a session (scheduler autogroup) of its own.

    python -m recutils.bench.lane [--notebook 01] [--hogs 2]

Runs the notebook (full params, fit cache off, through ``python -m recutils.notebooks run``)
alone, beside ``--hogs`` busy loops at ``nice 19`` in this session, beside the same loops in an
autogroup of their own lowered to nice 19 (what :mod:`recutils.notebooks.lane` does), and alone
again; prints the wall seconds of each and of the notebook's stages. Linux shares the CPU between
autogroups first (``/proc/sys/kernel/sched_autogroup_enabled``) and the notebook kernel runs in
a session of its own, so ``nice`` alone does not make the loops yield to it. Not a test: the
numbers mean something on an otherwise idle machine only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..notebooks.lane import NICE, _lower_priority

#: a busy loop; "nice": ``nice 19`` in this session; "group": as the lane (:func:`_lower_priority`)
HOG = "while True:\n    pass\n"


def _nice_only() -> None:
    os.nice(NICE)


def run_once(notebook: str, mode: str, hogs: int, out: Path) -> dict:
    procs = []
    if mode in ("nice", "group"):
        lower = _lower_priority if mode == "group" else _nice_only
        procs = [subprocess.Popen([sys.executable, "-c", HOG], preexec_fn=lower) for _ in range(hogs)]
        time.sleep(1.0)
    env = {**os.environ, "RECUTILS_FIT_CACHE": "0"}
    t0 = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-m", "recutils.notebooks", "run", notebook, "--params", "full",
                        "--output-dir", str(out), "--quiet"], check=True, env=env, stdout=subprocess.DEVNULL)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    seconds = time.perf_counter() - t0
    t = json.loads((out / "timings.json").read_text())
    return {"mode": mode, "seconds": round(seconds, 1),
            "stages": {s["desc"]: round(s["seconds"], 1) for s in t.get("stages", [])}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notebook", default="01")
    ap.add_argument("--hogs", type=int, default=2)
    a = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("alone", "nice", "group", "alone"):
            row = run_once(a.notebook, mode, a.hogs, Path(tmp) / f"{mode}{len(rows)}")
            rows.append(row)
            print(f"{row['mode']:<6} {row['seconds']:7.1f} s  {row['stages']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
