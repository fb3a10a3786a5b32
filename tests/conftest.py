import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

# Tests read the offline mirror; they never touch the network (the Hugging Face hub included).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
if not os.environ.get("RECUTILS_DATA_DIR") and (SHARED / "SHA256SUMS").exists():
    os.environ["RECUTILS_DATA_DIR"] = str(SHARED)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = Path(os.environ.get("RECUTILS_DATA_DIR", SHARED))
    if not (d / "ml-latest-small" / "ratings.csv").exists():
        pytest.fail(f"dataset mirror not found at {d}: set RECUTILS_DATA_DIR or run `make data`")
    return d


@pytest.fixture(scope="session")
def ratings(data_dir):
    from recutils.datasets import load_ratings

    return load_ratings(data_dir)


@pytest.fixture(scope="session")
def study(ratings):
    from recutils.splits import study_split

    return study_split(ratings)


@pytest.fixture
def toy_ratings() -> pd.DataFrame:
    """6 users × 8 items, hand-made, with timestamps."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(1, 7):
        items = rng.choice(np.arange(10, 18), size=6, replace=False)
        for j, i in enumerate(items):
            rows.append((u, int(i), float(rng.integers(1, 6)), 1000 + 10 * u + j))
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: runs on ml-latest-small (slower; the real data)")
