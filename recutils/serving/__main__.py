"""``python -m recutils.serving [--host 127.0.0.1] [--port 8000] [--model ease] [--search tfidf]``.

Every argument is checked before the service is built; a bad one is a one-line
``error: …`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
from pathlib import Path

from ..errors import ConfigError, RecutilsError

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def check_host(host: str) -> str:
    """An IP address or a DNS host name (RFC 1123 labels); checked without any lookup."""
    h = host.strip()
    try:
        ipaddress.ip_address(h.strip("[]"))
        return h
    except ValueError:
        pass
    name = h[:-1] if h.endswith(".") else h
    if not name or len(name) > 253 or not all(_HOST_LABEL.match(p) for p in name.split(".")):
        raise ConfigError(f"--host must be an IP address or a host name, got {host!r}")
    return h


def check_port(port: str) -> int:
    try:
        p = int(str(port).strip())
    except ValueError:
        raise ConfigError(f"--port must be a whole number from 1 to 65535, got {port!r}") from None
    if not 1 <= p <= 65535:
        raise ConfigError(f"--port must be from 1 to 65535, got {p}")
    return p


def parse_args(argv=None):
    """Parsed and checked arguments (raises :class:`~recutils.errors.RecutilsError`)."""
    from ..models import get_model_class
    from .service import SEARCH_METHODS, ServiceConfig

    ap = argparse.ArgumentParser(prog="python -m recutils.serving", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", default="8000", help="1 to 65535 (default 8000)")
    ap.add_argument("--model", default=ServiceConfig.model, help="a registered model (default ease)")
    ap.add_argument("--search", default=ServiceConfig.search, help=f"one of: {', '.join(SEARCH_METHODS)}")
    ap.add_argument("--data-dir", default=None)
    a = ap.parse_args(argv)
    a.host = check_host(a.host)
    a.port = check_port(a.port)
    get_model_class(a.model)  # unknown model: lists the valid names
    if a.search not in SEARCH_METHODS:
        raise ConfigError(f"--search must be one of {', '.join(SEARCH_METHODS)}, got {a.search!r}")
    if a.data_dir is not None and not Path(a.data_dir).is_dir():
        raise ConfigError(f"--data-dir {a.data_dir!r} is not a directory")
    return a


def main(argv=None) -> int:
    from .service import ServiceConfig

    try:
        a = parse_args(argv)
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
