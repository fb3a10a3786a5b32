"""``python -m recutils.datasets {fetch,verify,where}``; ``... synth --ratings 32M --out DIR`` writes a
synthetic MovieLens-format data set (:mod:`recutils.datasets.synth`)."""

from __future__ import annotations

import argparse
import sys

from ..errors import RecutilsError
from .fetch import check, fetch, resolve_data_dir
from .integrity import hints
from .registry import DATASETS


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["synth"]:  # python -m recutils.datasets synth --ratings 32M ... (its own options)
        from .synth import main as synth_main

        return synth_main(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m recutils.datasets", description=__doc__)
    ap.add_argument("command", choices=["fetch", "verify", "where", "synth"])
    ap.add_argument("--data-dir", default=None, help="data directory (default: $RECUTILS_DATA_DIR or ~/.cache/recutils/data)")
    ap.add_argument("--dataset", action="append", choices=list(DATASETS),
                    help="restrict to these datasets (repeatable; default: "
                         f"{', '.join(n for n, d in DATASETS.items() if d.default)} — the larger MovieLens "
                         "releases only when named)")
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
            return _verify(a, root)
    except RecutilsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not a.quiet:
        for rel in files:
            print(f"ok  {rel}")
        print(f"{len(files)} files verified in {root}")
    return 0


def _verify(a, root) -> int:
    """Hash every file; report each bad one (not only the first), then exit 1 if any was bad."""
    results = check(a.dataset, a.data_dir, fresh=True)
    bad = [r for r in results if not r.ok]
    for r in results:
        if r.ok and not a.quiet:
            print(f"ok  {r.file.path}")
        elif not r.ok:
            print(f"error: {r.problem.describe()}", file=sys.stderr)
    if bad:
        urls = list(dict.fromkeys(r.spec.url for r in bad))
        fix = hints([r.problem for r in bad], root, a.data_dir is not None, urls, with_verify=False)
        print(f"error: {len(bad)} of {len(results)} files failed verification in {root}; {fix}", file=sys.stderr)
        return 1
    if not a.quiet:
        print(f"{len(results)} files verified in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
