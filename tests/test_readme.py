"""The README says what the code does: its model list and layout come from the tree."""

import re
from pathlib import Path

from recutils.models import available

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_points_at_the_registry_instead_of_a_hand_list():
    assert "python -m recutils.models list" in README
    listed = set(re.findall(r"`([a-z_0-9]+)`", README)) & set(available())
    # model names may appear in examples, but never all of them as a hand-kept list
    assert len(listed) < len(available()), "README lists the models by hand; point at the registry instead"


def test_layout_names_every_module_and_package():
    block = README.split("## Layout", 1)[1].split("```")[1]
    for p in sorted((ROOT / "recutils").iterdir()):
        if p.name.startswith("_") or p.name == "__pycache__" or (p.is_file() and p.suffix != ".py"):
            continue
        name = p.name + ("/" if p.is_dir() else "")
        assert name in block, f"README layout does not mention recutils/{name}"
