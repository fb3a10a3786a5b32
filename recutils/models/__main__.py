"""``python -m recutils.models list [--names]``: every registered model with its config fields.

The list comes from the registry (:mod:`recutils.models.registry`), never from a hand-kept
table; ``--names`` prints just the names, one line, as the README quotes them.
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    from ..config import describe_fields
    from .registry import registry

    ap = argparse.ArgumentParser(prog="python -m recutils.models", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("list", help="registered models and their config fields")
    p.add_argument("--names", action="store_true", help="only the names, comma-separated")
    a = ap.parse_args(argv)
    models = registry()
    if a.names:
        print(", ".join(f"`{n}`" for n in models))
        return 0
    for name, cls in models.items():
        doc = (cls.__doc__ or "").strip().splitlines()
        print(f"{name}  ({cls.__module__}.{cls.__qualname__})")
        if doc:
            print(f"    {doc[0]}")
        fields = describe_fields(cls.Config)
        for f in fields:
            print(f"    --param {f}")
        if not fields:
            print("    (no parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
