"""``recutils``: one command for the project's tools (``[project.scripts]`` in pyproject.toml).

    recutils evaluate ...     any registered model on any protocol   (python -m recutils.evaluate)
    recutils tune ...         a grid search on validation            (python -m recutils.tuning)
    recutils data ...         fetch / verify / locate the datasets   (python -m recutils.datasets)
    recutils models ...       the model registry                     (python -m recutils.models)
    recutils notebooks ...    run / reproduce / golden / check-sync  (python -m recutils.notebooks)
    recutils serve ...        the service and its artifacts          (python -m recutils.serving)
    recutils regression ...   golden comparison, spread, kernel audit (python -m recutils.regression)
    recutils --version

Each subcommand is the module's own command line (same options, same exit codes); ``recutils
CMD --help`` shows them. The ``python -m`` forms keep working.
"""

from __future__ import annotations

import importlib
import sys

#: subcommand → (module, its ``main``)
COMMANDS = {
    "evaluate": "recutils.evaluate",
    "tune": "recutils.tuning",
    "data": "recutils.datasets.__main__",
    "models": "recutils.models.__main__",
    "notebooks": "recutils.notebooks.cli",
    "serve": "recutils.serving.__main__",
    "regression": "recutils.regression",
}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    if argv[0] == "--version":
        from . import __version__

        print(f"recutils {__version__}")
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        print(f"error: unknown command {cmd!r}; choose from {', '.join(COMMANDS)} (recutils --help)", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[cmd])
    sys.argv[0] = f"recutils {cmd}"
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
