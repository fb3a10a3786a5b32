"""The cold-start MLP: content vectors of warm items → their CF vectors (torch).

:func:`mlp_map` trains a one-hidden-layer MLP (Linear → ReLU → Dropout → Linear) with MSE on
the warm items' ``(content, CF vector)`` pairs (targets standardised; Adam, full batch) and
applies it to new items. Options of :class:`~recutils.models.coldstart.mapping.ContentToCFConfig`
it reads:

- ``text_dropout`` / ``metadata_dropout`` (DropoutNet-style input dropout, Volkovs et al. 2017):
  in every epoch each training row has its text block zeroed with probability
  ``text_dropout``, else its metadata block with probability ``metadata_dropout`` (never both;
  zero is the warm items' mean after standardisation), so the network learns to score a movie
  from either block alone;
- ``early_stopping``: the number of epochs (≤ ``mlp_epochs``, checked every
  :data:`ES_EVERY` epochs) is chosen by the MSE on a seeded ``es_share`` of the **warm** items
  held out inside the fit; the network is then retrained on every warm item for that many
  epochs (:func:`early_stopping_epochs`).

:func:`mlp_curve` returns the mapped vectors after several epoch counts of one training run
(learning curves). Deterministic for a seed: one thread, torch's global RNG forked. The ReLU and
the dropout are :class:`~recutils.torch_dropout.ReLUDropout`: ``torch.nn.ReLU`` then
``torch.nn.Dropout`` to the bit, its mask drawn ten times faster and each direction one pass
(``tests/test_torch_dropout.py``).

**Training runs are memoised in the process** (:data:`MEMO_SIZE` runs, least recently used
dropped): a run is identified by the digest of its training rows, targets and every setting
that enters the training loop, and keeps the outputs it recorded and a checkpoint (network,
Adam state, RNG state) at its last epoch. The ablations of notebook 06 train the same network
many times — the metadata MLP is the reference, the blends' and the residual map's first stage
and a point of the wider grid — and an epoch grid (50, 200, 400) is one run continued: a
repeated run is returned from the memo, a longer one continues from the checkpoint. Both are
bit-identical to training from scratch (``tests/test_coldstart_mlp_memo.py``);
:func:`clear_memo` empties it.
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np

from ...fingerprints import array_digest as _digest

__all__ = ["ES_EVERY", "MEMO_SIZE", "clear_memo", "early_stopping_epochs", "memo_stats", "mlp_curve", "mlp_map"]

#: how often (epochs) early stopping measures the held-out MSE
ES_EVERY = 10
#: training runs kept by the memo (each: a checkpoint of a few MB at most, and its outputs)
MEMO_SIZE = 48

_MEMO: OrderedDict = OrderedDict()  # run digest -> {"checkpoints": {epoch: state}, "outputs": {(epoch, digest): array}}
_STATS = {"runs": 0, "hits": 0, "continued": 0, "epochs_trained": 0, "epochs_saved": 0}


def clear_memo() -> None:
    """Forget every memoised training run (and reset :func:`memo_stats`)."""
    _MEMO.clear()
    _STATS.update(dict.fromkeys(_STATS, 0))


def memo_stats() -> dict:
    """Counts since the last :func:`clear_memo`: training requests (``runs``), those answered
    from the memo (``hits``), those continued from a checkpoint (``continued``), epochs trained
    and epochs a fresh run would have trained on top (``epochs_saved``)."""
    return dict(_STATS)


def _train(C_w, Y_w, c, text_cols, epochs: int, evals: dict):
    """Train on ``(C_w, Y_w)`` for ``epochs``; at each epoch ``e`` in ``evals`` (e → inputs)
    record the network's outputs on those inputs. Returns {e: outputs} (standardised units).
    Memoised (module docstring): outputs already recorded are returned, a longer run continues
    from the latest checkpoint not after the first epoch still needed."""
    p_text, p_meta = float(c.text_dropout), float(c.metadata_dropout)
    cols = None if text_cols is None else (text_cols.start, text_cols.stop, text_cols.step)
    key = _digest(C_w, Y_w, seed=int(c.seed), hidden=int(c.mlp_hidden), dropout=float(c.mlp_dropout),
                  lr=float(c.mlp_lr), weight_decay=float(c.mlp_weight_decay), p_text=p_text, p_meta=p_meta, cols=cols)
    by_id = {id(X): _digest(X) for X in evals.values()}  # early stopping evaluates one array at many epochs
    wanted = {int(e): (by_id[id(X)], X) for e, X in evals.items()}
    run = _MEMO.pop(key, None) or {"checkpoints": {}, "outputs": {}}
    _MEMO[key] = run  # most recently used last
    while len(_MEMO) > MEMO_SIZE:
        _MEMO.popitem(last=False)
    _STATS["runs"] += 1
    missing = {e: X for e, (d, X) in wanted.items() if (e, d) not in run["outputs"]}
    if missing:
        start = max((e for e in run["checkpoints"] if e <= min(missing)), default=0)
        end = max(missing)
        _STATS["continued"] += start > 0
        _STATS["epochs_trained"] += end - start
        _STATS["epochs_saved"] += start
        state = _run(C_w, Y_w, c, text_cols, run["checkpoints"].get(start), start, end, missing)
        run["checkpoints"][end] = state.pop("checkpoint")
        for e, out in state.items():
            run["outputs"][(e, wanted[e][0])] = out
    else:
        _STATS["hits"] += 1
        _STATS["epochs_saved"] += max(wanted, default=0)
    return {e: run["outputs"][(e, d)].copy() for e, (d, _) in wanted.items()}


def _run(C_w, Y_w, c, text_cols, checkpoint, start: int, end: int, evals: dict) -> dict:
    """Epochs ``start + 1 … end`` (from ``checkpoint``, or a fresh network seeded with ``c.seed``
    when ``start`` is 0); returns {e: outputs} for ``evals`` and ``"checkpoint"``: the state at ``end``."""
    import torch

    from ...torch_threads import torch_threads
    from ...torch_dropout import ReLUDropout  # torch's ReLU + Dropout: the same floats and RNG state, faster

    out = {}
    with torch_threads(1), torch.random.fork_rng(devices=[]):
        torch.manual_seed(c.seed)
        X = torch.as_tensor(C_w, dtype=torch.float32)
        Y = torch.as_tensor(Y_w, dtype=torch.float32)
        net = torch.nn.Sequential(OrderedDict([  # Linear → ReLU → Dropout → Linear (the keys of those four)
            ("0", torch.nn.Linear(X.shape[1], c.mlp_hidden)), ("1", ReLUDropout(c.mlp_dropout)),
            ("3", torch.nn.Linear(c.mlp_hidden, Y.shape[1]))]))
        opt = torch.optim.Adam(net.parameters(), lr=c.mlp_lr, weight_decay=c.mlp_weight_decay)
        if checkpoint is not None:
            net.load_state_dict(checkpoint["net"])
            opt.load_state_dict(copy.deepcopy(checkpoint["opt"]))
            torch.set_rng_state(checkpoint["rng"])
            if start in evals:  # new inputs at the checkpoint's own epoch
                net.eval()
                with torch.no_grad():
                    out[start] = net(torch.as_tensor(evals[start], dtype=torch.float32)).double().numpy()
        p_text, p_meta = float(c.text_dropout), float(c.metadata_dropout)
        drop = text_cols is not None and (p_text > 0 or p_meta > 0)
        if drop:
            t_mask = torch.zeros(X.shape[1])
            t_mask[text_cols] = 1.0
            m_mask = 1.0 - t_mask
        for epoch in range(start + 1, end + 1):
            net.train()
            Xe = X
            if drop:
                u = torch.rand(X.shape[0], 1)
                Xe = X * (1.0 - (u < p_text).float() * t_mask - ((u >= p_text) & (u < p_text + p_meta)).float() * m_mask)
            loss = torch.mean((net(Xe) - Y) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if epoch in evals:
                net.eval()
                with torch.no_grad():
                    out[epoch] = net(torch.as_tensor(evals[epoch], dtype=torch.float32)).double().numpy()
        out["checkpoint"] = {"net": copy.deepcopy(net.state_dict()), "opt": copy.deepcopy(opt.state_dict()),
                             "rng": torch.get_rng_state()}
    return out


def _standardise(Y_w):
    y_mean, y_std = Y_w.mean(0), Y_w.std(0)
    y_std[~(y_std > 1e-12)] = 1.0
    return (Y_w - y_mean) / y_std, y_mean, y_std


def early_stopping_epochs(C_w: np.ndarray, Y_w: np.ndarray, c, text_cols=None) -> tuple[int, list[tuple[int, float]]]:
    """``(epochs, [(epoch, held-out MSE), …])``: the epoch count (a multiple of
    :data:`ES_EVERY`, at most ``c.mlp_epochs``) with the lowest MSE on a seeded ``c.es_share``
    of the warm items, the network trained on the others. Warm items only."""
    rng = np.random.default_rng(c.seed)
    n = len(C_w)
    held = np.zeros(n, bool)
    held[rng.choice(n, size=max(1, int(round(c.es_share * n))), replace=False)] = True
    Yz, y_mean, y_std = _standardise(Y_w[~held])
    Y_held = (Y_w[held] - y_mean) / y_std
    checks = sorted({*range(ES_EVERY, c.mlp_epochs + 1, ES_EVERY), c.mlp_epochs})
    outs = _train(C_w[~held], Yz, c, text_cols, c.mlp_epochs, {e: C_w[held] for e in checks})
    curve = [(e, float(np.mean((outs[e] - Y_held) ** 2))) for e in checks]
    best = min(curve, key=lambda t: t[1])[0]  # the first lowest wins ties
    return int(best), curve


def mlp_curve(C_w: np.ndarray, Y_w: np.ndarray, C_new: np.ndarray, c, epochs, text_cols=None) -> dict:
    """``{epoch: mapped vectors of C_new}`` after each of ``epochs`` of one training run."""
    Yz, y_mean, y_std = _standardise(Y_w)
    epochs = sorted({int(e) for e in epochs})
    outs = _train(C_w, Yz, c, text_cols, epochs[-1], {e: C_new for e in epochs})
    return {e: outs[e] * y_std + y_mean for e in epochs}


def mlp_map(C_w: np.ndarray, Y_w: np.ndarray, C_new: np.ndarray, c, text_cols=None, epochs: int | None = None) -> np.ndarray:
    """The MLP fitted on ``(C_w, Y_w)`` (``epochs``, default ``c.mlp_epochs``) applied to ``C_new``.
    ``text_cols``: the text block's columns (a slice), needed by the input-dropout options."""
    e = int(epochs or c.mlp_epochs)
    return mlp_curve(C_w, Y_w, C_new, c, [e], text_cols)[e]
