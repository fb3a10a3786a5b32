"""The one ``recutils`` command: each subcommand is its module's own command line."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from recutils.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_single_sourced(capsys):
    import recutils

    want = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"recutils {want}" == f"recutils {recutils.__version__}"


def test_subcommands_are_the_modules_command_lines(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "ease" in out and "als" in out
    from recutils.models.__main__ import main as models_main

    assert models_main(["list"]) == 0 and capsys.readouterr().out == out


@pytest.mark.parametrize("argv, code, text", [
    (["nope"], 2, "error: unknown command 'nope'; choose from evaluate, tune, data, models, notebooks, serve, regression"),
    ([], 2, "recutils evaluate ..."),
])
def test_bad_use_is_one_line_or_the_usage(capsys, argv, code, text):
    assert main(argv) == code
    cap = capsys.readouterr()
    assert text in (cap.err + cap.out) and "Traceback" not in cap.err


def test_every_command_names_an_importable_module():
    import importlib

    for mod in COMMANDS.values():
        assert callable(importlib.import_module(mod).main)


def test_python_dash_m_form_still_works():
    r = subprocess.run([sys.executable, "-m", "recutils.cli", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.startswith("recutils ")
