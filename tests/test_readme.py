"""The README says what the code does: its model list and (in docs/architecture.md) the layout
come from the tree; it stays a short user's guide with working links."""

import re
from pathlib import Path

from recutils.models import available

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()


def test_readme_points_at_the_registry_instead_of_a_hand_list():
    assert "python -m recutils.models list" in README
    listed = set(re.findall(r"`([a-z_0-9]+)`", README)) & set(available())
    # model names may appear in examples, but never all of them as a hand-kept list
    assert len(listed) < len(available()), "README lists the models by hand; point at the registry instead"


def test_layout_names_every_module_and_package():
    block = ARCHITECTURE.split("## Layout", 1)[1].split("```")[1]
    for p in sorted((ROOT / "recutils").iterdir()):
        if p.name.startswith("_") or p.name == "__pycache__" or (p.is_file() and p.suffix != ".py"):
            continue
        name = p.name + ("/" if p.is_dir() else "")
        assert name in block, f"docs/architecture.md's layout does not mention recutils/{name}"


def test_readme_is_a_short_guide():
    assert len(README.splitlines()) <= 200, "the README is a user's guide: measurements and long tables go to docs/"


def test_local_links_resolve():
    """Every relative link of the README and of docs/*.md points at a file that exists."""
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", page.read_text()):
            if re.match(r"^(https?|mailto):", target):
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to a missing {target}"
