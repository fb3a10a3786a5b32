"""The Makefile stops a recipe at its first failing line (a broken install leaves no stamp)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_failed_install_leaves_no_stamp(tmp_path):
    for f in ("Makefile", "requirements.txt", "requirements-models.txt", "pyproject.toml"):
        shutil.copy(ROOT / f, tmp_path / f)
    # a "python" whose venv works but whose pip always fails (a registry hiccup, a full disk)
    fake = tmp_path / "fakepython"
    fake.write_text('#!/bin/sh\nmkdir -p .venv/bin\nprintf "#!/bin/sh\\nexit 1\\n" > .venv/bin/python\n'
                    'chmod +x .venv/bin/python\n')
    fake.chmod(0o755)
    r = subprocess.run(["make", "venv", f"PYTHON={fake}"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert (tmp_path / ".venv" / "bin" / "python").exists()  # the venv step ran
    assert not (tmp_path / ".venv" / ".installed").exists()  # the stamp was not written
    # the next make retries the install instead of trusting a broken environment
    r2 = subprocess.run(["make", "-n", "venv", f"PYTHON={fake}"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "pip install" in r2.stdout
