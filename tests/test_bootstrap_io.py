import numpy as np
import pytest

from recutils.evaluation import paired_bootstrap_ci


def test_ci_contains_true_difference_and_detects_it():
    rng = np.random.default_rng(0)
    b = rng.random(400)
    a = b + 0.05 + rng.normal(0, 0.01, 400)
    ci = paired_bootstrap_ci(a, b, n_boot=500, rng=1)
    assert ci.low < 0.05 < ci.high and ci.significant
    assert ci.n_users == 400


def test_ci_identical_models_is_zero():
    x = np.random.default_rng(0).random(100)
    ci = paired_bootstrap_ci(x, x, n_boot=200)
    assert ci.mean_diff == 0 and not ci.significant


def test_ci_drops_nan_pairs_and_checks_shape():
    a = np.array([1.0, np.nan, 0.5])
    b = np.array([0.0, 1.0, 0.5])
    assert paired_bootstrap_ci(a, b, n_boot=50).n_users == 2
    with pytest.raises(ValueError):
        paired_bootstrap_ci(a, b[:2])


def test_atomic_writes_leave_no_temp_and_normal_permissions(tmp_path):
    import os
    import stat

    from recutils.io import load_npy, read_json, save_npy, write_json

    write_json(tmp_path / "m.json", {"a": np.float32(1.5)})
    save_npy(tmp_path / "e.npy", np.arange(3))
    assert read_json(tmp_path / "m.json") == {"a": 1.5}
    assert load_npy(tmp_path / "e.npy").tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.npy", "m.json"]
    mode = stat.S_IMODE(os.stat(tmp_path / "m.json").st_mode)
    assert mode & 0o044  # readable by group/others under a usual umask
    with pytest.raises(TypeError):
        write_json(tmp_path / "bad.json", {"x": object()})
    assert not (tmp_path / "bad.json").exists() and len(list(tmp_path.iterdir())) == 2
