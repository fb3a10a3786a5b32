"""torch_cf training: progress events per epoch, the thread count recorded per epoch, "auto"
threads, and results that do not depend on the thread count beyond float rounding."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from recutils import progress  # noqa: E402
from recutils import torch_threads as tt  # noqa: E402
from recutils.models.torch_cf import TorchCF  # noqa: E402
from recutils.splits import make_split  # noqa: E402

from test_torch_cf import FAST, _ratings, _table  # noqa: E402


@pytest.fixture(scope="module")
def split():
    r = _ratings()
    test = np.zeros(len(r), bool)
    test[np.random.default_rng(3).choice(len(r), len(r) // 5, replace=False)] = True
    return make_split("toy", r[~test], r[test])


def _fit(split, **kw):
    return TorchCF(item_table=_table(), **{**FAST, "refit": True, "dropout": 0.1, **kw}).fit(split.without_test())


def test_epochs_report_progress_and_threads(split, tmp_path, monkeypatch, capsys):
    f = tmp_path / "events.jsonl"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(f))
    monkeypatch.setattr(progress, "MIN_INTERVAL", 0.0)
    capsys.readouterr()
    m = _fit(split, num_threads=1, progress=False)
    out = capsys.readouterr()
    assert out.out == "" and "epoch" not in out.err  # progress=False: nothing on screen
    events, _ = progress.read_events(f)
    by = {}
    for e in events:
        by.setdefault(e["desc"], []).append(e)
    es, rf = by["torch_cf epochs (early stopping)"], by["torch_cf epochs"]
    n_es = sum(1 for h in m.history_ if "phase" not in h)
    assert es[0]["event"] == "start" and es[0]["total"] == FAST["max_epochs"] and es[0]["unit"] == "epochs"
    assert [e["n"] for e in es if e["event"] == "update"] == list(range(1, n_es + 1))
    assert es[-1]["event"] == "end" and es[-1]["ok"] is True
    assert rf[0]["total"] == m.best_epoch_ and rf[-1]["event"] == "end" and rf[-1]["n"] == m.best_epoch_
    assert all(h["torch_threads"] == 1 for h in m.history_)


def test_auto_threads_fit(split, monkeypatch):
    monkeypatch.setattr(tt, "_last_auto", None)
    m = _fit(split, num_threads="auto")
    assert m.config.num_threads == "auto" and m.config_dict()["num_threads"] == "auto"
    assert all(1 <= h["torch_threads"] <= len(tt._allowed_cpus()) for h in m.history_)


def test_results_do_not_depend_on_threads(split):
    one, two = _fit(split, num_threads=1), _fit(split, num_threads=2)
    assert one.best_epoch_ == two.best_epoch_
    for a, b in zip(one.history_, two.history_):
        assert a["train_rmse"] == pytest.approx(b["train_rmse"], abs=1e-5)
    t = split.test
    np.testing.assert_allclose(one.predict(t["uidx"], t["iidx"]), two.predict(t["uidx"], t["iidx"]), atol=1e-4)
    assert {h["torch_threads"] for h in two.history_} == {2}
