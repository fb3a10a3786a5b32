"""Run a command (the notebook regression) under several CPU-kernel / thread settings.

    python tests/portable.py [--collect DIR] default:1 avx2:2 [native:1] -- .venv/bin/python -m pytest ...

Each ``CAPABILITY:THREADS`` pair runs the command once with ``ATEN_CPU_CAPABILITY=CAPABILITY``
(``native``: unset, the CPU's best), ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` /
``OPENBLAS_NUM_THREADS`` = THREADS, and ``RECUTILS_CACHE_DIR`` pointing at a new empty folder
(every embedding and fine-tuned model recomputed under those settings). ``default`` also
sets ``NPY_DISABLE_CPU_FEATURES="X86_V3 X86_V4"``: numpy's baseline kernels instead of its
AVX2 / AVX-512 ones (their sort and partition kernels order tied values differently). Prints each run's
output as it comes, then a table of combination → pass/fail and seconds; exits 1 if any failed.
With ``--collect DIR`` each run's smoke ``reports/_smoke/*/metrics.json`` is copied to
``DIR/<combination>/`` and, at the end, ``python -m recutils.regression spread`` shows how far
every recorded number moved across the combinations, next to its tolerance.
``make test-portable`` uses it (``PORTABLE="default:1 avx2:2"`` to choose the pairs).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import time

CAPABILITIES = ("native", "default", "avx2", "avx512", "avx512_vnni", "avx512_bf16", "amx")


def parse(pair: str) -> tuple[str, int]:
    cap, _, threads = pair.partition(":")
    if cap not in CAPABILITIES or not threads.isdigit() or int(threads) < 1:
        raise SystemExit(f"error: {pair!r} is not CAPABILITY:THREADS with CAPABILITY in {', '.join(CAPABILITIES)}")
    return cap, int(threads)


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") == 0 or argv.index("--") == len(argv) - 1:
        print(__doc__, file=sys.stderr)
        return 2
    i = argv.index("--")
    head, cmd = argv[:i], argv[i + 1:]
    collect = None
    if head[:1] == ["--collect"] and len(head) > 1:
        collect, head = Path(head[1]), head[2:]
        shutil.rmtree(collect, ignore_errors=True)
    combos = [parse(p) for p in head]
    root = Path(__file__).resolve().parents[1]
    rows = []
    for cap, threads in combos:
        env = dict(os.environ)
        env.pop("ATEN_CPU_CAPABILITY", None)
        env.pop("NPY_DISABLE_CPU_FEATURES", None)
        if cap != "native":
            env["ATEN_CPU_CAPABILITY"] = cap
        if cap == "default":
            env["NPY_DISABLE_CPU_FEATURES"] = "X86_V3 X86_V4"
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(threads)
        cache = tempfile.mkdtemp(prefix="recutils-portable-cache-")
        env["RECUTILS_CACHE_DIR"] = cache
        env["PYTHONUNBUFFERED"] = "1"  # progress as it comes, not when the pipe buffer fills
        label = f"ATEN_CPU_CAPABILITY={cap if cap != 'native' else '(unset)'}"
        label += " + numpy baseline kernels" if cap == "default" else ""
        label += f", {threads} thread(s)"
        print(f"\n== {label}, empty cache {cache}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        summary = ""
        for line in proc.stdout:
            print(line, end="", flush=True)
            if re.search(r"\d+ (passed|failed)", line):
                summary = line.strip().strip("=").strip()
        rc = proc.wait()
        shutil.rmtree(cache, ignore_errors=True)
        if collect is not None:
            for m in sorted((root / "reports" / "_smoke").glob("*/metrics.json")):
                dest = collect / f"{cap}_t{threads}" / m.parent.name
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copy2(m, dest / "metrics.json")
        rows.append((label, "pass" if rc == 0 else f"FAIL (exit {rc})", time.perf_counter() - t0, summary))
    print("\n| combination | result | seconds | pytest |\n| --- | --- | --- | --- |")
    for label, res, secs, summary in rows:
        print(f"| {label} | {res} | {secs:.0f} | {summary} |")
    if collect is not None and len(rows) > 1:
        print(f"\nlargest difference of each recorded number across the {len(rows)} runs (not shown: 0), with its tolerance:",
              flush=True)
        runs = [str(d) for d in sorted(collect.iterdir()) if d.is_dir()]
        subprocess.run([sys.executable, "-m", "recutils.regression", "spread", *runs,
                        "--tolerances", str(root / "tests" / "golden" / "tolerances.yaml")], cwd=root)
    return 0 if all(r[1] == "pass" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
