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


# --- test tiers (tests/README.md) ------------------------------------------------------------------
#: fixtures that read the real MovieLens / TMDB mirror: a test asking for one is an integration test
REAL_DATA_FIXTURES = frozenset({"data_dir", "ratings", "study"})
#: modules whose every test is an integration test: real services, other runtimes, exports, notebooks
INTEGRATION_MODULES = frozenset({
    "test_spark_als",          # a JVM (local Spark and the loopback cluster)
    "test_serving_browser",    # headless Chromium against the live service
    "test_bench_serve",        # the service over loopback (make bench-serve's script)
    "test_serving_artifacts",  # trains and writes the service's bundle
    "test_onnx_backend",       # ONNX export + ONNX Runtime of the real encoders
    "test_qwen_lora",          # a tiny Qwen3 through peft / bitsandbytes
    "test_finetune_speed",     # MiniLM fine-tuning steps
    "test_torch_cf_threads",   # thread-count timing of torch_cf
    "test_ranx_crosscheck",    # an independent implementation on the real split
    "test_notebooks_machinery",  # papermill kernels
    "test_runner_progress",    # papermill kernels
    "test_audit",              # re-runs a smoke notebook under the kernel perturbation
})


def pytest_collection_modifyitems(config, items):
    """Every test is ``unit`` (toy data, seconds) or ``integration`` (real data, Spark, ONNX, Qwen,
    browser, notebooks): ``make unit`` runs ``-m "not integration"``, ``make test`` both."""
    for item in items:
        module = item.path.stem if hasattr(item, "path") else ""
        if item.get_closest_marker("integration") is None and (
                module in INTEGRATION_MODULES or REAL_DATA_FIXTURES & set(getattr(item, "fixturenames", ()))):
            item.add_marker(pytest.mark.integration)
        if item.get_closest_marker("integration") is None and item.get_closest_marker("gpu") is None:
            item.add_marker(pytest.mark.unit)
