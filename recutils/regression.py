"""``python -m recutils.regression {compare,spread,audit}``: the notebook regression's command line.

The comparison itself lives with the notebook tooling (:mod:`recutils.notebooks.regression`) and
so does the kernel audit (:mod:`recutils.notebooks.audit`); this module keeps the short import
path and the ``python -m`` form, and joins the two command lines:

    python -m recutils.regression compare REF ACTUAL --name NN_name --tolerances tests/golden/tolerances.yaml
    python -m recutils.regression spread DIR1 DIR2 ... [--tolerances ...]
    python -m recutils.regression audit [NN ...] [--eps 1e-4] [--keep DIR]
"""

import argparse
import sys
from pathlib import Path

from .errors import RecutilsError
from .notebooks.regression import (  # noqa: F401  (re-exported)
    DEFAULT_FLOAT_ABS,
    DEFAULT_INT_ABS,
    Checker,
    Context,
    Rule,
    Tolerances,
    _row_labels,
    compare,
    flatten,
    flatten_with_context,
    load_tolerances,
    moved_but_exact,
    spread,
    tolerance_table,
)
from .notebooks.regression import main as _compare_main


def audit_main(argv) -> int:
    from .notebooks.audit import DEFAULT_EPS, audit
    from .notebooks.discovery import discover, find

    ap = argparse.ArgumentParser(prog="python -m recutils.regression audit",
                                 description="re-run smoke notebooks with every kernel-dependent computation perturbed; "
                                             "list the recorded numbers that moved but are checked exactly")
    ap.add_argument("names", nargs="*", metavar="NN", help="notebooks (default: every one with a reference)")
    ap.add_argument("--eps", type=float, default=DEFAULT_EPS, help=f"relative perturbation (default {DEFAULT_EPS:g})")
    ap.add_argument("--keep", default=None, metavar="DIR", help="keep each perturbed run under DIR/NN_name/")
    a = ap.parse_args(argv)
    try:
        names = [find(n, discover()).name for n in a.names] or [nb.name for nb in discover() if nb.reference.is_file()]
        failed = 0
        for n in names:
            res = audit(n, a.eps, Path(a.keep) / n if a.keep else None)
            print(res.summary(), flush=True)
            failed += not res.ok
    except RecutilsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"audit: {len(names) - failed} of {len(names)} notebook(s) with every moved number covered")
    return 1 if failed else 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["audit"]:
        return audit_main(argv[1:])
    return _compare_main(argv)


if __name__ == "__main__":
    sys.exit(main())
