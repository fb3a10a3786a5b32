"""The service, and the artifacts it starts from.

    python -m recutils.serving [--host 127.0.0.1] [--port 8000] [--models ease_r,torch_cf]
                               [--model NAME] [--search tfidf] [--artifacts artifacts]
    python -m recutils.serving artifacts [--out artifacts] [--models ease_r,torch_cf] [--search tfidf] [--force]

The first serves (``make serve``): models found in ``--artifacts`` (when their data checksums
match) are loaded, the others fitted at start-up — the log says which. The second trains the
models once (study-protocol metrics, then a refit on all ratings) and writes them with a
manifest (``make artifacts``; :mod:`recutils.serving.artifacts`), showing each stage on stderr
(:mod:`recutils.serving.stages`); it skips when the bundle there verifies and was built from the
same inputs (options, recutils code, data, library versions: :mod:`recutils.serving.rebuild`)
unless ``--force``.

Every argument is checked before the service is built; a bad one is a one-line
``error: …`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
from pathlib import Path

from ..datasets.validate import add_arguments as add_data_arguments
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


def _check_common(a):
    from ..datasets.validate import policy_from_args
    from .artifacts import parse_models
    from .service import SEARCH_METHODS

    a.policy = policy_from_args(a)
    a.models = parse_models(a.models)  # unknown model: lists the valid names
    if a.search not in SEARCH_METHODS:
        raise ConfigError(f"--search must be one of {', '.join(SEARCH_METHODS)}, got {a.search!r}")
    if a.data_dir is not None and not Path(a.data_dir).is_dir():
        raise ConfigError(f"--data-dir {a.data_dir!r} is not a directory")


def parse_args(argv=None):
    """Parsed and checked arguments (raises :class:`~recutils.errors.RecutilsError`)."""
    from ..models import get_model_class
    from .artifacts import DEFAULT_DIR
    from .service import DEFAULT_MODELS, SEARCH_METHODS, ServiceConfig

    ap = argparse.ArgumentParser(prog="python -m recutils.serving", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (loopback only)")
    ap.add_argument("--port", default="8000", help="1 to 65535 (default 8000)")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS),
                    help=f"comma-separated registered models to load (default {','.join(DEFAULT_MODELS)}); "
                         "a request picks one with ?model=")
    ap.add_argument("--model", default=None,
                    help="the model of requests without ?model= (default: the first of --models; loaded too)")
    ap.add_argument("--search", default=ServiceConfig.search, help=f"one of: {', '.join(SEARCH_METHODS)}")
    ap.add_argument("--artifacts", default=DEFAULT_DIR,
                    help=f"folder written by `make artifacts` (default {DEFAULT_DIR}/; missing: fit at start-up)")
    ap.add_argument("--require-artifacts", action="store_true",
                    help="every model and index must load from --artifacts: any problem is an error (exit 2) "
                         "instead of a WARNING and a fit at start-up")
    ap.add_argument("--data-dir", default=None)
    add_data_arguments(ap)
    a = ap.parse_args(argv)
    a.host = check_host(a.host)
    a.port = check_port(a.port)
    if a.model is not None:
        get_model_class(a.model)  # unknown model: lists the valid names
    _check_common(a)
    return a


def parse_artifact_args(argv):
    from .artifacts import DEFAULT_DIR
    from .service import DEFAULT_MODELS, SEARCH_METHODS, ServiceConfig

    ap = argparse.ArgumentParser(prog="python -m recutils.serving artifacts",
                                 description="Train the served models once and write them, with a manifest.")
    ap.add_argument("--out", default=DEFAULT_DIR, help=f"output folder (default {DEFAULT_DIR}/)")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated registered models")
    ap.add_argument("--search", default=ServiceConfig.search,
                    help=f"which prompt index to write: one of {', '.join(SEARCH_METHODS)}")
    ap.add_argument("--param", action="append", default=[], metavar="MODEL.KEY=VALUE",
                    help="a config override, e.g. torch_cf.max_epochs=2 (repeatable)")
    ap.add_argument("--no-metrics", action="store_true", help="skip the study-protocol evaluation (quick runs)")
    ap.add_argument("--force", action="store_true",
                    help="rebuild even when the bundle in --out verifies and its recorded inputs are unchanged")
    ap.add_argument("--data-dir", default=None)
    add_data_arguments(ap)
    a = ap.parse_args(argv)
    _check_common(a)
    a.params = {}
    for text in a.param:
        key, sep, value = text.partition("=")
        name, dot, field = key.partition(".")
        if not (sep and dot and field):
            raise ConfigError(f"--param must look like MODEL.KEY=VALUE, got {text!r}")
        if name not in a.models:
            raise ConfigError(f"--param {text!r}: {name!r} is not one of --models {','.join(a.models)}")
        a.params.setdefault(name, []).append(f"{field}={value}")
    from ..config import parse_params
    from ..models import get_model_class

    a.params = {n: parse_params(get_model_class(n), kv) for n, kv in a.params.items()}
    return a


def _logging():
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def artifacts_main(argv) -> int:
    from .rebuild import build

    try:
        a = parse_artifact_args(argv)
        _logging()
        m = build(a.out, a.models, a.data_dir, a.params, search=(a.search,), with_metrics=not a.no_metrics,
                  policy=a.policy, force=a.force)
    except RecutilsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if m is None:  # unchanged: skipped
        return 0
    for name, e in m["models"].items():
        met = e["metrics"] or {}
        extra = f", RMSE {met['rmse']:.4f}" if "rmse" in met else ""
        p25 = f"P@25 {met['precision']:.4f}" if met else "no study metrics"
        print(f"{name}: {p25}{extra} ({e['seconds']:.1f} s) -> {Path(a.out) / name}")
    print(f"manifest: {Path(a.out) / 'manifest.json'}")
    return 0


def main(argv=None) -> int:
    from .service import ServiceConfig

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["artifacts"]:
        return artifacts_main(argv[1:])
    try:
        a = parse_args(argv)
        import uvicorn

        from .app import create_app

        _logging()
        config = ServiceConfig(models=a.models, model=a.model, search=a.search, artifacts=a.artifacts,
                               require_artifacts=a.require_artifacts)
        app = create_app(config=config, data_dir=a.data_dir, policy=a.policy)
    except RecutilsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from .edge import http_protocol

    uvicorn.run(app, host=a.host, port=a.port, access_log=False, http=http_protocol())
    return 0


if __name__ == "__main__":
    sys.exit(main())
