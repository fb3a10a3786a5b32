"""``make lab``: JupyterLab on the notebooks, started wherever the user is.

Bound to loopback (127.0.0.1), no browser launched, and — when run as root, as in containers,
cloud notebooks and this project's machines — with ``--allow-root`` (Jupyter otherwise stops at
once: "Running as root is not recommended"). Jupyter prints the URL with its token; open it in a
browser (or forward the port). jupytext's contents manager opens each ``.py`` pair as a notebook.
"""

from __future__ import annotations

import os
import sys

from .discovery import NOTEBOOKS_DIR, ROOT


def lab_command(port: int | None = None, root_dir: str | os.PathLike = NOTEBOOKS_DIR) -> list[str]:
    """The ``jupyter lab`` command line ``make lab`` runs."""
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={root_dir}", "--ip=127.0.0.1", "--no-browser"]
    if port is not None:
        cmd.append(f"--port={int(port)}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd


def lab(port: int | None = None) -> int:
    import subprocess

    print("JupyterLab on 127.0.0.1 — open the URL with its token printed below (Ctrl-C stops it)", flush=True)
    try:
        return subprocess.call(lab_command(port), cwd=ROOT)
    except KeyboardInterrupt:
        return 0
