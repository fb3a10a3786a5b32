"""``python -m recutils.notebooks``: the command line of :mod:`recutils.notebooks.cli`."""

import sys

from .cli import main

sys.exit(main())
