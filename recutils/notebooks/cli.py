"""Notebook machinery: discovery, parameters, execution, goldens, pair checks, the report index.

    python -m recutils.notebooks list
    python -m recutils.notebooks run NAME [--params smoke|full] [--output-dir DIR] [--quiet]
    python -m recutils.notebooks reproduce [--params full] [--only NN ...] [--keep-going] [--force] [--quiet]
                                           [--artifacts DIR]
    python -m recutils.notebooks golden [NAME ...]
    python -m recutils.notebooks check-sync
    python -m recutils.notebooks lab [--port N]

Conventions (nothing is listed by hand):

- a notebook is ``notebooks/NN_name.py`` (jupytext percent format, the reviewed source) paired
  with ``notebooks/NN_name.ipynb`` through ``jupytext.toml``; ``NAME`` is ``NN_name`` (or just
  ``NN``);
- its parameters are ``params/NN_name.smoke.yaml`` (tiny, for tests) and
  ``params/NN_name.full.yaml`` (the real run): literals overriding the cell tagged
  ``parameters``, which always declares ``output_dir``, ``data_dir`` and ``seed``;
- ``run`` executes with papermill (kernel ``python3``, working directory = the repository
  root) into ``<output_dir>/NN_name.ipynb``; the notebook writes ``metrics.json`` and its
  figures (PNG) into ``output_dir`` (default ``reports/NN_name``); the runner adds
  ``timings.json`` (seconds per notebook and per long ``recutils.progress`` task);
- ``reproduce`` skips a notebook whose inputs did not change since its last finished run (its
  ``.py`` and ``.ipynb`` code cells, its params file, the ``recutils`` package, the verified
  data checksums, the key libraries' and Python's versions; recorded in
  ``<output_dir>/inputs.json``) and whose outputs are all in place: it keeps that run's report
  ("unchanged since <date>") and says why any other notebook runs; a run stopped part-way
  resumes at the first notebook that had not finished; ``--force`` runs them all;
- ``run`` and ``reproduce`` show a live line (cell, section, running task with its ETA): rewritten
  in place on a terminal, a line per change (at most every 30 s) in a log; ``--quiet`` or
  ``RECUTILS_PROGRESS=0`` turns it off;
- ``metrics.json`` may hold the notebook's headline table(s) for ``reports/README.md``: a list
  of row dicts under ``"table"`` and/or ``{"title": rows}`` under ``"tables"``;
- ``tests/golden/NN_name.ipynb`` is the smoke run with volatile metadata stripped; pytest's
  nbval plugin re-executes it and compares the cells marked ``# NBVAL_CHECK_OUTPUT``.
"""

# The docstring above is the --help text of `python -m recutils.notebooks` (argparse description).

from __future__ import annotations

import argparse
import sys
import time

from ..errors import RecutilsError
from .discovery import NOTEBOOKS_DIR, _rel, discover, find
from .execution import NotebookFailed, run
from .goldens import golden
from .live import Display
from .params import LEVELS
from .report import reproduce
from .sync import check_sync


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m recutils.notebooks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="the notebooks found, with their params files")
    p = sub.add_parser("run", help="execute one notebook")
    p.add_argument("name", help="NN_name or NN")
    p.add_argument("--params", default="full", metavar="LEVEL",
                   help="smoke, full, or any params/NAME.LEVEL.yaml that exists (e.g. gpu for 05)")
    p.add_argument("--output-dir", default=None, help="default: the params file's output_dir, else reports/NAME")
    p.add_argument("--quiet", action="store_true", help="no live progress line (also: RECUTILS_PROGRESS=0)")
    p = sub.add_parser("reproduce", help="execute every notebook in order (skipping those whose inputs did not "
                       "change) and write reports/README.md")
    p.add_argument("--params", default="full", choices=LEVELS)
    p.add_argument("--only", nargs="+", metavar="NN", help="only these notebooks (numbers or names)")
    p.add_argument("--keep-going", action="store_true", help="continue after a failing notebook")
    p.add_argument("--force", action="store_true",
                   help="run every notebook, even those whose inputs did not change since their last finished run")
    p.add_argument("--quiet", action="store_true", help="no live progress line (also: RECUTILS_PROGRESS=0)")
    p.add_argument("--artifacts", metavar="DIR", default=None,
                   help="also build the service's artifacts into DIR, beside the notebooks at the lowest CPU priority "
                        "(log: reports/artifacts.log)")
    p = sub.add_parser("golden", help="regenerate tests/golden/NAME.ipynb from the smoke params")
    p.add_argument("names", nargs="*", metavar="NAME", help="default: every notebook")
    sub.add_parser("check-sync", help="verify .py/.ipynb pairs, params files and goldens agree")
    p = sub.add_parser("lab", help="JupyterLab on the notebooks (loopback, as root too; prints the URL with its token)")
    p.add_argument("--port", type=int, default=None)
    a = ap.parse_args(argv)
    try:
        if a.cmd == "list":
            for nb in discover():
                have = [lvl for lvl in LEVELS if nb.params_file(lvl).is_file()]
                print(f"{nb.name}\tparams: {', '.join(have) or '-'}\tgolden: {'yes' if nb.golden.is_file() else 'no'}")
            return 0
        if a.cmd == "run":
            name = find(a.name, discover()).name
            display = Display(name, sys.stdout, enabled=False if a.quiet else None)
            display.header(f"{name} ({a.params}) started {time.strftime('%H:%M:%S')} ...")
            t0 = time.perf_counter()
            try:
                out = run(name, a.params, a.output_dir, display=display)
            except RecutilsError:
                display.result(f"FAILED after {time.perf_counter() - t0:.1f} s")
                raise
            display.result(f"ok in {time.perf_counter() - t0:.1f} s -> {_rel(out)}")
            return 0
        if a.cmd == "reproduce":
            return 1 if reproduce(a.params, a.only, a.keep_going, quiet=a.quiet, force=a.force,
                                  artifacts=a.artifacts) else 0
        if a.cmd == "golden":
            names = a.names or [nb.name for nb in discover()]
            if not names:
                raise RecutilsError(f"no notebooks found under {NOTEBOOKS_DIR}/")
            for n in names:
                t0 = time.perf_counter()
                print(f"golden {n} ...", end=" ", flush=True)
                path = golden(n)
                print(f"ok in {time.perf_counter() - t0:.1f} s -> {_rel(path)}", flush=True)
            return 0
        if a.cmd == "lab":
            from .lab import lab

            return lab(a.port)
        if a.cmd == "check-sync":
            res = check_sync()
            bad = {k: v for k, v in res.items() if v}
            for name, probs in res.items():
                if name == "(orphans)" and not probs:
                    continue
                print(f"{name}: {'ok' if not probs else 'MISMATCH'}")
                for pr in probs:
                    print("  " + pr.replace("\n", "\n  "))
            return 1 if bad else 0
    except NotebookFailed as exc:
        print(f"FAILED {exc}", file=sys.stderr)
        return 1
    except RecutilsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2
