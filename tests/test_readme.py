"""The README says what the code does: its model list and layout come from the tree."""

import re
from pathlib import Path

from recutils.models import available

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_registered_models_line_matches_the_registry():
    m = re.search(r"`python -m recutils.models list --names`\):\n(.+?)\.\n", README, re.S)
    assert m, "README: the registered-models line is missing"
    listed = re.findall(r"`([a-z_0-9]+)`", m.group(1))
    assert listed == available(), f"README lists {listed}; the registry has {available()}"


def test_layout_names_every_module_and_package():
    block = README.split("## Layout", 1)[1].split("```")[1]
    for p in sorted((ROOT / "recutils").iterdir()):
        if p.name.startswith("_") or p.name == "__pycache__" or (p.is_file() and p.suffix != ".py"):
            continue
        name = p.name + ("/" if p.is_dir() else "")
        assert name in block, f"README layout does not mention recutils/{name}"
