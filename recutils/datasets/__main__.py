"""``python -m recutils.datasets {fetch,verify,where}``."""

from __future__ import annotations

import argparse
import sys

from ..errors import RecutilsError
from .fetch import fetch, resolve_data_dir, verify
from .registry import DATASETS


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m recutils.datasets", description=__doc__)
    ap.add_argument("command", choices=["fetch", "verify", "where"])
    ap.add_argument("--data-dir", default=None, help="data directory (default: $RECUTILS_DATA_DIR or ~/.cache/recutils/data)")
    ap.add_argument("--dataset", action="append", choices=list(DATASETS), help="restrict to these datasets (repeatable)")
    ap.add_argument("--force", action="store_true", help="download again even when files verify")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    root = resolve_data_dir(a.data_dir)
    try:
        if a.command == "where":
            print(root)
            return 0
        if a.command == "fetch":
            files = fetch(a.dataset, a.data_dir, progress=not a.quiet, force=a.force)
        else:
            files = verify(a.dataset, a.data_dir)
    except RecutilsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not a.quiet:
        for rel in files:
            print(f"ok  {rel}")
        print(f"{len(files)} files verified in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
