"""``python -m recutils.serving [--host 127.0.0.1] [--port 8000] [--model ease] [--search tfidf]``."""

from __future__ import annotations

import argparse
import sys

from ..errors import RecutilsError


def main(argv=None) -> int:
    from .service import ServiceConfig

    ap = argparse.ArgumentParser(prog="python -m recutils.serving", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--model", default=ServiceConfig.model)
    ap.add_argument("--search", default=ServiceConfig.search, choices=["tfidf", "dense", "fusion"])
    ap.add_argument("--data-dir", default=None)
    a = ap.parse_args(argv)
    try:
        import uvicorn

        from .app import create_app

        app = create_app(config=ServiceConfig(model=a.model, search=a.search), data_dir=a.data_dir)
    except RecutilsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=a.host, port=a.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
