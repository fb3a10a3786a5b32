"""Training of the torch_cf network: mini-batch loop, early stopping, refit.

Training: MSE + optional per-example L2 on the looked-up embeddings/biases, Adam (weight
decay on the MLP weights), mini-batches from a ``DataLoader`` over index tensors shuffled by an
explicit ``torch.Generator``; early stopping on :func:`recutils.splits.validation_split`
(best weights kept); optionally retrained on the whole training part for the best number of
epochs (``refit``). Dropout draws from torch's global generator, so training runs inside
``torch.random.fork_rng`` seeded from ``config.seed``: deterministic, and the caller's global
RNG state is restored afterwards.

Items without training ratings (cold items, or items that only occur in a validation part)
get the *mean* trained item embedding and bias (:meth:`TorchCFNet.fill_unknown_items`).

Epochs report through :func:`recutils.progress.task` (a bar only with ``config.progress``;
events for the terminal whenever ``$RECUTILS_PROGRESS_FILE`` is set). With
``num_threads="auto"`` the thread count follows the free cores, re-checked every few seconds
between batches (:func:`recutils.torch_threads.adapt_threads`); each history row records the
count at the end of its epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from ...constants import COL_RATING
from ...errors import RecutilsError
from ...progress import task
from ...torch_threads import adapt_threads, torch_threads
from .config import TorchCFConfig
from .features import ItemFeatures, build_item_features, item_text_matrix
from .net import TorchCFNet, predict_clipped

__all__ = ["FitResult", "TrainResult", "fit_net", "known_mask", "train_net"]

#: top-level modules trained without weight decay (and with ``emb_lr``)
EMBEDDINGS = ("user_emb", "item_emb", "user_bias", "item_bias", "implicit_emb")


@dataclass
class TrainResult:
    """One training run: the network (eval mode, best weights) and what it was trained with."""

    net: TorchCFNet
    #: one row per epoch: ``epoch``, ``train_rmse``, [``val_rmse``], ``seconds``, ``torch_threads``
    history: list[dict]
    best_epoch: int  #: epoch of the best validation RMSE (``epochs`` without early stopping)
    features: ItemFeatures  #: the item features in the network's buffers
    rating_range: tuple[float, float]  #: min / max training rating (prediction clipping)


@dataclass
class FitResult(TrainResult):
    """:func:`fit_net`'s result: the final run plus the early-stopping run's best validation RMSE."""

    best_val_rmse: float = float("nan")


def known_mask(split) -> np.ndarray:
    """Boolean mask over ``split``'s items of those with training ratings."""
    return np.bincount(split.train["iidx"].to_numpy(np.int64), minlength=split.n_items) > 0


def train_net(split, item_table: pd.DataFrame, config: TorchCFConfig, val_df: pd.DataFrame | None,
              epochs: int, early_stop: bool, item_text=None) -> TrainResult:
    """Train a fresh network on ``split.train`` for at most ``epochs`` epochs.

    ``val_df`` (optional): ratings (``uidx``, ``iidx``, rating) scored after every epoch; with
    ``early_stop``, training stops after ``config.patience`` epochs without an improvement of
    ``config.min_delta`` and the best weights are restored. Draws from torch's global RNG (the
    caller seeds it). ``item_text`` (with ``config.text_dim`` > 0): the movies' text embeddings
    (:func:`~recutils.models.torch_cf.features.item_text_matrix`).
    """
    c = config
    feats = build_item_features(item_table, split.items, known_mask(split))
    text = item_text_matrix(item_text, split.items) if c.text_dim > 0 else None
    net = TorchCFNet(split.n_users, split.n_items, feats.numeric.shape[1], feats.genres.shape[1], c, len(split.train),
                     n_text=0 if text is None else text.shape[1])
    tr = split.train
    u = torch.as_tensor(tr["uidx"].to_numpy(np.int64, copy=True))
    i = torch.as_tensor(tr["iidx"].to_numpy(np.int64, copy=True))
    y = torch.as_tensor(tr[COL_RATING].to_numpy(np.float32, copy=True))
    with torch.no_grad():
        net.mu.fill_(float(y.double().mean()))
        if c.side_features:
            net.item_numeric.copy_(torch.from_numpy(feats.numeric))
            net.item_genres.copy_(torch.from_numpy(feats.genres))
            if text is not None:
                net.item_text.copy_(torch.from_numpy(text))
        net.known_items.copy_(torch.from_numpy(known_mask(split)))
        if c.implicit:
            net.set_implicit(split)
    rating_range = (float(y.min()), float(y.max()))
    gen = torch.Generator().manual_seed(c.seed)
    loader = DataLoader(TensorDataset(u, i, y), batch_size=c.batch_size, shuffle=True,
                        generator=gen, drop_last=len(y) > c.batch_size)
    emb_params = [p for n, p in net.named_parameters() if n.split(".")[0] in EMBEDDINGS]
    mlp_params = [p for n, p in net.named_parameters() if n.split(".")[0] not in EMBEDDINGS]
    opt = torch.optim.Adam([{"params": emb_params, "weight_decay": 0.0, "lr": c.emb_lr or c.lr},
                            {"params": mlp_params, "weight_decay": c.weight_decay}], lr=c.lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=c.lr_decay)
    if val_df is not None and len(val_df):
        vu = torch.as_tensor(val_df["uidx"].to_numpy(np.int64, copy=True))
        vi = torch.as_tensor(val_df["iidx"].to_numpy(np.int64, copy=True))
        vy = val_df[COL_RATING].to_numpy(np.float64)
    else:
        vu = vi = vy = None
    hist: list[dict] = []
    desc = "torch_cf epochs (early stopping)" if early_stop else "torch_cf epochs"
    with task(desc, total=epochs, unit="epochs", show=c.progress) as bar:
        best_state, best_epoch = _epochs(net, loader, opt, sched, c, epochs, early_stop, vu, vi, vy, rating_range, hist, bar)
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    net.fill_unknown_items()
    return TrainResult(net, hist, best_epoch, feats, rating_range)


def _epochs(net, loader, opt, sched, c: TorchCFConfig, epochs: int, early_stop: bool, vu, vi, vy, rating_range,
            hist: list, bar) -> tuple[dict | None, int]:
    """The epoch loop of :func:`train_net`; appends to ``hist``, returns (best state, best epoch)."""
    best, best_state, best_epoch, bad = np.inf, None, epochs, 0
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        net.train()
        se, n = 0.0, 0
        for bu, bi, by in loader:
            pred, pen = net(bu, bi, with_penalty=True)
            mse = torch.mean((pred - by) ** 2)
            loss = mse + c.emb_l2 * pen if c.emb_l2 > 0 else mse
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            se += float(mse.detach()) * len(by)
            n += len(by)
            adapt_threads()  # under num_threads="auto": follow the free cores (a clock read between checks)
        sched.step()
        row = {"epoch": epoch, "train_rmse": float(np.sqrt(se / max(n, 1)))}
        if vu is not None:
            net.eval()
            net.fill_unknown_items()
            p = predict_clipped(net, vu, vi, rating_range)
            row["val_rmse"] = float(np.sqrt(np.mean((p - vy) ** 2)))
        row["seconds"] = time.perf_counter() - t0
        row["torch_threads"] = torch.get_num_threads()  # a setting, not a result (may move under "auto")
        hist.append(row)
        bar.update(1)
        if vu is not None and early_stop:
            if row["val_rmse"] < best - c.min_delta:
                best, best_epoch, bad = row["val_rmse"], epoch, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                bad += 1
                if bad >= c.patience:
                    break
    return best_state, best_epoch


def fit_net(split, item_table: pd.DataFrame, config: TorchCFConfig, item_text=None) -> FitResult:
    """Early stopping on a validation carve-out of ``split``, then (``config.refit``) a retrain
    on all of ``split.train`` for the best number of epochs.

    Runs with ``config.num_threads`` torch threads, inside ``torch.random.fork_rng`` seeded
    with ``config.seed`` (the caller's RNG state is left as it was). Without ``refit``, the
    early-stopped network is kept and its N(u) is rebuilt from every rating of ``split.train``.
    """
    from ...splits import validation_split

    c = config
    val = validation_split(split, seed=c.seed + 1)
    if len(val.test) == 0:
        raise RecutilsError("torch_cf: the validation carve-out for early stopping is empty "
                            "(it holds out 20 % of the ratings of users with ≥ 5 training ratings)")
    with torch_threads(c.num_threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(c.seed)
        run = train_net(val, item_table, c, val.test, c.max_epochs, early_stop=True, item_text=item_text)
        best_epoch = run.best_epoch
        best_val_rmse = min(h["val_rmse"] for h in run.history)
        hist = run.history
        if c.refit:
            torch.manual_seed(c.seed)
            run = train_net(split, item_table, c, None, best_epoch, early_stop=False, item_text=item_text)
            hist = hist + [{**h, "phase": "refit"} for h in run.history]
        elif c.implicit:
            run.net.set_implicit(split)  # N(u) from every training rating the model may use
    return FitResult(run.net.eval(), hist, best_epoch, run.features, run.rating_range, best_val_rmse)
