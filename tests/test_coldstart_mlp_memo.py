"""The cold-start MLP's in-process memo (``recutils.models.coldstart.mlp``): a repeated
training run is answered from the memo and a longer one continues from a checkpoint — each
bit-identical to training from scratch — and anything that enters the training changes the run."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from recutils.models.coldstart import ContentToCF, mlp  # noqa: E402

MLP = dict(target="als", mapper="mlp", als_factors=4, als_iterations=3, mlp_hidden=8, mlp_epochs=30)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    C = rng.normal(size=(120, 9))
    return C, C[:, :4] @ rng.normal(size=(4, 3)) + rng.normal(scale=0.5, size=(120, 3)), rng.normal(size=(7, 9))


def _cfg(**kw):
    return ContentToCF(**{**MLP, **kw}).config


@pytest.fixture(autouse=True)
def _fresh_memo():
    mlp.clear_memo()
    yield
    mlp.clear_memo()


def _scratch(C, Y, X, cfg, epochs, cols=None):
    mlp.clear_memo()
    out = mlp.mlp_map(C, Y, X, cfg, cols, epochs=epochs)
    mlp.clear_memo()
    return out


@pytest.mark.parametrize("kw, cols", [({}, None), ({"mlp_dropout": 0.3}, None),
                                      ({"text_dropout": 0.3, "metadata_dropout": 0.2}, slice(5, 9))])
def test_repeated_and_continued_runs_are_bit_identical_to_fresh_ones(kw, cols):
    C, Y, X = _data()
    cfg = _cfg(**kw)
    fresh = {e: _scratch(C, Y, X, cfg, e, cols) for e in (5, 20, 40)}
    a = mlp.mlp_map(C, Y, X, cfg, cols, epochs=5)
    b = mlp.mlp_map(C, Y, X, cfg, cols, epochs=20)  # continues 5 → 20
    c = mlp.mlp_map(C, Y, X, cfg, cols, epochs=40)  # continues 20 → 40
    d = mlp.mlp_map(C, Y, X, cfg, cols, epochs=20)  # from the memo
    for got, e in ((a, 5), (b, 20), (c, 40), (d, 20)):
        np.testing.assert_array_equal(got, fresh[e])
    s = mlp.memo_stats()
    assert (s["runs"], s["hits"], s["continued"], s["epochs_trained"]) == (4, 1, 2, 40)
    d[:] = 0.0  # the caller's copy: the memo keeps its own
    np.testing.assert_array_equal(mlp.mlp_map(C, Y, X, cfg, cols, epochs=20), fresh[20])


def test_a_shorter_run_after_a_longer_one_and_the_learning_curve_agree():
    C, Y, X = _data()
    cfg = _cfg()
    long_first = mlp.mlp_map(C, Y, X, cfg, epochs=30)
    short = mlp.mlp_map(C, Y, X, cfg, epochs=10)  # before the only checkpoint: trained again from scratch
    np.testing.assert_array_equal(short, _scratch(C, Y, X, cfg, 10))
    np.testing.assert_array_equal(long_first, _scratch(C, Y, X, cfg, 30))
    curve = mlp.mlp_curve(C, Y, X, cfg, [10, 30])
    np.testing.assert_array_equal(curve[10], short)
    np.testing.assert_array_equal(curve[30], long_first)


@pytest.mark.parametrize("change", ["rows", "targets", "new_items", "seed", "hidden", "lr", "weight_decay",
                                    "dropout", "text_dropout", "text_cols"])
def test_anything_that_enters_the_training_is_a_different_run(change):
    C, Y, X = _data()
    cfg, cols = _cfg(text_dropout=0.2), slice(5, 9)
    base = mlp.mlp_map(C, Y, X, cfg, cols, epochs=10)
    C2, Y2, X2, cfg2, cols2 = C.copy(), Y.copy(), X.copy(), cfg, cols
    if change == "rows":
        C2[3, 2] += 0.5
    elif change == "targets":
        Y2[0, 0] += 0.5
    elif change == "new_items":
        X2[0, 0] += 1.0
    elif change == "text_cols":
        cols2 = slice(4, 9)
    else:
        field = {"seed": "seed", "hidden": "mlp_hidden", "lr": "mlp_lr", "weight_decay": "mlp_weight_decay",
                 "dropout": "mlp_dropout", "text_dropout": "text_dropout"}[change]
        cfg2 = _cfg(**{"text_dropout": 0.2, field: {"seed": 1, "mlp_hidden": 9, "mlp_lr": 2e-3, "mlp_weight_decay": 0.0,
                                                 "mlp_dropout": 0.2, "text_dropout": 0.25}[field]})
    got = mlp.mlp_map(C2, Y2, X2, cfg2, cols2, epochs=10)
    assert mlp.memo_stats()["hits"] == 0
    np.testing.assert_array_equal(got, _scratch(C2, Y2, X2, cfg2, 10, cols2))
    assert not np.array_equal(got, base)


def test_the_memo_keeps_at_most_memo_size_runs(monkeypatch):
    monkeypatch.setattr(mlp, "MEMO_SIZE", 2)
    cfg = _cfg()
    for s in range(4):
        C, Y, X = _data(s)
        mlp.mlp_map(C, Y, X, cfg, epochs=3)
    assert len(mlp._MEMO) == 2


def test_new_inputs_at_a_checkpoints_epoch_are_scored_from_the_checkpoint():
    C, Y, X = _data()
    cfg = _cfg()
    mlp.mlp_map(C, Y, X, cfg, epochs=12)
    X2 = X[::-1] + 1.0
    got = mlp.mlp_map(C, Y, X2, cfg, epochs=12)
    assert mlp.memo_stats()["epochs_trained"] == 12
    np.testing.assert_array_equal(got, _scratch(C, Y, X2, cfg, 12))


@pytest.mark.parametrize("kw, cols", [({"mlp_dropout": 0.3}, None),
                                      ({"text_dropout": 0.3, "metadata_dropout": 0.2}, slice(5, 9))])
def test_the_fused_relu_dropout_trains_as_torchs_own_layers(kw, cols, monkeypatch):
    """The network's ReLUDropout (its compiled mask and one-pass loops) against torch's own ReLU and
    dropout (the fallback, forced): the same outputs to the bit, continued runs included."""
    from recutils import torch_dropout as D

    C, Y, X = _data(3)
    cfg = _cfg(**kw)
    assert D.fused_available()
    ours = {e: mlp.mlp_map(C, Y, X, cfg, cols, epochs=e) for e in (10, 30)}  # 30 continues 10
    mlp.clear_memo()
    monkeypatch.setattr(D, "_FUSED", False)
    monkeypatch.setattr(D, "_AVAILABLE", False)
    theirs = {e: _scratch(C, Y, X, cfg, e, cols) for e in (10, 30)}
    for e in ours:
        np.testing.assert_array_equal(ours[e], theirs[e])
