"""A PyTorch rating model: collaborative embeddings + TMDB numeric features + genres.

The recsys app's "4. PyTorch" network, rebuilt behind the project's interface:

    r̂_ui = μ + b_u + b_i [+ p_u·q_i] + MLP([p_u, q_i, f_num(x_i), f_genre(g_i)])

- ``p_u``, ``q_i``: user / item embeddings (optionally, ``implicit``, SVD++'s user vector
  ``p_u + |N(u)|^-½ Σ_{j∈N(u)} y_j`` over the user's training items N(u));
  ``b_u``, ``b_i``: biases; ``μ``: training mean;
- ``x_i``: TMDB ``vote_average``, ``log1p(vote_count)``, ``log1p(popularity)`` standardised
  with statistics of the *training* items only, missing values imputed with that mean (0
  after scaling) and flagged by explicit indicators (``missing_tmdb``, ``missing_votes``);
- ``g_i``: MovieLens genre multi-hot (vocabulary = genres of training items, plus a
  ``no_genre`` indicator); ``f_num`` / ``f_genre``: Linear → BatchNorm → ReLU → Dropout;
- the final MLP: (Linear → BatchNorm → ReLU → Dropout)* → Linear(·, 1). Its first Linear is
  written as a user part plus an item part (the same map as one Linear on the concatenation),
  so :meth:`TorchCF.score` computes item-side features once and batches the user × item grid
  through the rest of the network in chunks.

Items without training ratings (cold items, or items that only occur in a validation part)
get the *mean* trained item embedding and bias, so their score comes from side features.

Training: MSE + optional per-example L2 on the looked-up embeddings/biases, Adam (weight
decay on the MLP weights), mini-batches from a ``DataLoader`` over index tensors shuffled by an
explicit ``torch.Generator``; early stopping on :func:`recutils.splits.validation_split`
(best weights kept); optionally retrained on the whole training part for the best number of
epochs (``refit``). Dropout draws from torch's global generator, so training runs inside
``torch.random.fork_rng`` seeded from ``config.seed``: deterministic, and the caller's global
RNG state is restored afterwards.

Artifacts (:meth:`TorchCF.save` / :meth:`TorchCF.load`): ``model.safetensors`` (weights,
item-feature buffers, index maps, training triples) + ``config.json`` (the config dataclass
and feature metadata). No pickle.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..constants import COL_GENRES, COL_ITEM, COL_RATING, COL_USER, SEED
from ..errors import RecutilsError
from ..io import atomic_path, write_json
from .base import NotFittedError, Recommender
from .config import param

NUMERIC_FEATURES = ("vote_average", "log_vote_count", "log_popularity")
MISSING_FEATURES = ("missing_tmdb", "missing_votes")
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


# --------------------------------------------------------------------------- config
@dataclass
class TorchCFConfig:
    """Hyper-parameters of :class:`TorchCF` (defaults: chosen on the study validation split)."""

    embedding_dim: int = param(64, ge=1)  #: size of user / item embeddings
    feature_dim: int = param(16, ge=1)  #: output size of the numeric-feature and genre MLPs
    hidden: list[int] = param(default_factory=lambda: [256, 128], min_len=1, ge=1)  #: widths of the final MLP
    dropout: float = param(0.05, ge=0, lt=1)  #: dropout after every hidden block (0.3 as in the app overfits less but fits worse)
    dot: bool = True  #: add the dot product p_u·q_i (a matrix-factorisation term)
    biases: bool = True  #: add μ + b_u + b_i (otherwise μ only)
    side_features: bool = True  #: False: the feature MLPs are bypassed (ablation: a pure CF network)
    implicit: bool = True  #: SVD++-style user term: p_u + |N(u)|^-½ Σ_{j∈N(u)} y_j (N(u): training items of u)
    lr: float = param(1e-3, gt=0)  #: Adam learning rate of the MLP weights
    emb_lr: float | None = param(None, gt=0)  #: Adam learning rate of embeddings and biases (None: ``lr``)
    lr_decay: float = param(1.0, gt=0, le=1)  #: the learning rate is multiplied by this after every epoch
    weight_decay: float = param(1e-4, ge=0)  #: Adam weight decay on MLP weights
    emb_l2: float = param(1e-2, ge=0)  #: L2 penalty on the looked-up embeddings and biases, per example
    batch_size: int = param(1024, ge=2)  #: ≥ 2: BatchNorm needs a batch
    max_epochs: int = param(30, ge=1)
    patience: int = param(3, ge=1)  #: epochs without validation improvement before stopping
    min_delta: float = param(1e-4, ge=0)  #: improvement in validation RMSE that counts
    refit: bool = True  #: after early stopping, retrain on all of split.train for the best epoch count
    num_threads: int = param(1, ge=1)  #: torch intra-op threads in fit / score (restored afterwards); 1 measured faster than 2 here
    score_chunk: int = param(4096, ge=1)  #: user × item pairs per block in ``score`` (small blocks stay in cache)
    progress: bool = False  #: tqdm bar over epochs
    seed: int = param(SEED, ge=0)

    def __post_init__(self):
        # whole-number widths as ints (e.g. from JSON); anything else is left for validation to report
        if isinstance(self.hidden, (list, tuple)) and all(
                isinstance(h, (int, np.integer)) or (isinstance(h, float) and h.is_integer()) for h in self.hidden):
            self.hidden = [int(h) for h in self.hidden]


# --------------------------------------------------------------------------- features
@dataclass
class ItemFeatures:
    """Per-item model inputs for one item universe (rows aligned with ``split.items``)."""

    numeric: np.ndarray  #: (n_items, 3 + 2) scaled numeric features then missing indicators
    genres: np.ndarray  #: (n_items, n_genres + 1) multi-hot, last column = no known genre
    numeric_names: list[str]
    genre_names: list[str]
    mean: np.ndarray  #: scaler means of the 3 numeric features (training items)
    std: np.ndarray  #: scaler standard deviations (training items)


def _raw_numeric(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unscaled numeric features (NaN = missing) and the two missing indicators."""
    has = table["has_tmdb"].fillna(False).astype(bool).to_numpy() if "has_tmdb" in table else None
    cols = {c: pd.to_numeric(table[c], errors="coerce").to_numpy(np.float64) if c in table else
            np.full(len(table), np.nan) for c in ("vote_average", "vote_count", "popularity")}
    if has is None:
        has = ~np.isnan(cols["vote_count"])
    va, vc, pop = cols["vote_average"].copy(), cols["vote_count"].copy(), cols["popularity"].copy()
    va[~has], vc[~has], pop[~has] = np.nan, np.nan, np.nan
    no_votes = ~(vc > 0)  # NaN or 0 votes: TMDB's vote_average is then meaningless (0)
    va[no_votes] = np.nan
    with np.errstate(invalid="ignore"):
        X = np.column_stack([va, np.log1p(np.maximum(vc, 0)), np.log1p(np.maximum(pop, 0))])
    return X, ~has, no_votes


def build_item_features(item_table: pd.DataFrame, items: np.ndarray, train_items: np.ndarray) -> ItemFeatures:
    """Model inputs for ``items`` (raw movie ids, in index order).

    ``item_table``: one row per movie with ``movieId``, ``genres`` (list) and optionally
    ``has_tmdb``, ``vote_average``, ``vote_count``, ``popularity`` (as in
    :func:`recutils.datasets.movie_table`); movies absent from it count as missing everything.
    ``train_items``: boolean mask over ``items`` of the items with training ratings; the
    scaler statistics and the genre vocabulary come from those items only.
    """
    items = np.asarray(items)
    train_items = np.asarray(train_items, bool)
    if train_items.shape != items.shape:
        raise RecutilsError(f"train_items mask has shape {train_items.shape}, items {items.shape}")
    if COL_ITEM not in item_table:
        raise RecutilsError(f"item table needs a {COL_ITEM!r} column")
    t = item_table.drop_duplicates(COL_ITEM).set_index(COL_ITEM).reindex(items)
    X, missing_tmdb, missing_votes = _raw_numeric(t)
    fit_rows = X[train_items]
    mean = np.array([np.nanmean(c) if np.isfinite(c).any() else 0.0 for c in fit_rows.T])
    std = np.array([np.nanstd(c) if np.isfinite(c).sum() > 1 else 1.0 for c in fit_rows.T])
    std[~(std > 1e-12)] = 1.0
    Z = (X - mean) / std
    Z[np.isnan(Z)] = 0.0  # imputed with the training mean; flagged by the indicators
    numeric = np.column_stack([Z, missing_tmdb, missing_votes]).astype(np.float32)

    genre_lists = t[COL_GENRES] if COL_GENRES in t else pd.Series([[]] * len(t))
    genre_lists = [g if isinstance(g, (list, tuple, np.ndarray)) else [] for g in genre_lists]
    vocab = sorted({g for g, keep in zip(genre_lists, train_items) if keep for g in g})
    pos = {g: j for j, g in enumerate(vocab)}
    G = np.zeros((len(items), len(vocab) + 1), np.float32)
    rows = [(r, pos[g]) for r, gs in enumerate(genre_lists) for g in gs if g in pos]
    if rows:
        rr, cc = np.array(rows).T
        G[rr, cc] = 1.0
    G[:, -1] = G[:, :-1].sum(1) == 0
    return ItemFeatures(numeric, G, [*NUMERIC_FEATURES, *MISSING_FEATURES], [*vocab, "no_genre"], mean, std)


# --------------------------------------------------------------------------- network
def _block(n_in: int, n_out: int, dropout: float):
    import torch.nn as nn

    return nn.Sequential(nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.ReLU(), nn.Dropout(dropout))


def _make_net(n_users: int, n_items: int, n_num: int, n_genre: int, c: TorchCFConfig, n_implicit: int = 0):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Net(nn.Module):
        """The network; item feature tables live in buffers so the state dict is self-contained."""

        def __init__(self):
            super().__init__()
            d, f, h = c.embedding_dim, c.feature_dim, c.hidden
            self.user_emb = nn.Embedding(n_users, d)
            self.item_emb = nn.Embedding(n_items, d)
            nn.init.normal_(self.user_emb.weight, std=0.05)
            nn.init.normal_(self.item_emb.weight, std=0.05)
            self.user_bias = nn.Embedding(n_users, 1)
            self.item_bias = nn.Embedding(n_items, 1)
            nn.init.zeros_(self.user_bias.weight)
            nn.init.zeros_(self.item_bias.weight)
            self.num_mlp = _block(n_num, f, c.dropout)
            self.genre_mlp = _block(n_genre, f, c.dropout)
            # first layer of the final MLP on [p_u, q_i, f_num, f_genre], split by side
            self.first_user = nn.Linear(d, h[0], bias=False)
            self.first_item = nn.Linear(d + 2 * f, h[0])
            layers: list[nn.Module] = [nn.BatchNorm1d(h[0]), nn.ReLU(), nn.Dropout(c.dropout)]
            for a, b in zip(h[:-1], h[1:]):
                layers.append(_block(a, b, c.dropout))
            layers.append(nn.Linear(h[-1], 1))
            self.head = nn.Sequential(*layers)
            self.register_buffer("mu", torch.zeros(()))
            self.register_buffer("item_numeric", torch.zeros(n_items, n_num))
            self.register_buffer("item_genres", torch.zeros(n_items, n_genre))
            self.register_buffer("known_items", torch.zeros(n_items, dtype=torch.bool))
            if c.implicit:  # N(u) as CSR (offsets, items, 1/√|N(u)| weights)
                self.implicit_emb = nn.Embedding(n_items, d)
                nn.init.normal_(self.implicit_emb.weight, std=0.01)
                self.register_buffer("implicit_offsets", torch.zeros(n_users, dtype=torch.long))
                self.register_buffer("implicit_items", torch.zeros(n_implicit, dtype=torch.long))
                self.register_buffer("implicit_weights", torch.zeros(n_implicit))

        def set_implicit(self, split):
            """Store each user's training items N(u): before training, and after it with every
            training rating of the split the model is fitted on (the validation carve-out's
            training part only differs by the held-out ratings)."""
            tr = split.train.sort_values("uidx", kind="stable")
            items = torch.as_tensor(tr["iidx"].to_numpy(np.int64, copy=True))
            counts = np.bincount(tr["uidx"].to_numpy(np.int64), minlength=n_users)
            offsets = np.r_[0, np.cumsum(counts)[:-1]]
            w = np.repeat(1.0 / np.sqrt(np.maximum(counts, 1)), counts)
            self.implicit_offsets = torch.as_tensor(offsets, dtype=torch.long)
            self.implicit_items = items
            self.implicit_weights = torch.as_tensor(w, dtype=torch.float32)

        def implicit_vectors(self):
            """|N(u)|^-½ Σ_{j∈N(u)} y_j for every user (n_users × d)."""
            return F.embedding_bag(self.implicit_items, self.implicit_emb.weight, self.implicit_offsets,
                                   mode="sum", per_sample_weights=self.implicit_weights)

        def item_side(self, i):
            """First-layer contribution, embedding and bias of items ``i``."""
            q = self.item_emb(i)
            if c.side_features:
                x = torch.cat([q, self.num_mlp(self.item_numeric[i]), self.genre_mlp(self.item_genres[i])], 1)
            else:  # bypass the feature MLPs (constant inputs would break BatchNorm's statistics)
                x = torch.cat([q, q.new_zeros(len(q), 2 * c.feature_dim)], 1)
            return self.first_item(x), q, self.item_bias(i).squeeze(1)

        def user_side(self, u):
            p = self.user_emb(u)
            if c.implicit:
                p = p + self.implicit_vectors()[u]
            return self.first_user(p), p, self.user_bias(u).squeeze(1)

        def combine(self, hu, p, bu, hi, q, bi):
            out = self.head(hu + hi).squeeze(-1) + self.mu
            if c.biases:
                out = out + bu + bi
            if c.dot:
                out = out + (p * q).sum(-1)
            return out

        def forward(self, u, i, with_penalty: bool = False):
            """Predicted ratings; with ``with_penalty`` also the mean per-example L2 of the
            user vectors, item embeddings and biases used."""
            hu, p, bu = self.user_side(u)
            hi, q, bi = self.item_side(i)
            out = self.combine(hu, p, bu, hi, q, bi)
            if not with_penalty:
                return out
            return out, (p.pow(2).sum(1) + q.pow(2).sum(1) + bu.pow(2) + bi.pow(2)).mean()

        @torch.no_grad()
        def fill_unknown_items(self):
            """Items without training ratings get the mean embedding and bias of known items."""
            k = self.known_items
            if k.all() or not k.any():
                return
            for emb in (self.item_emb, self.item_bias):
                emb.weight[~k] = emb.weight[k].mean(0)

    return Net()


@contextlib.contextmanager
def _torch_threads(n: int):
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# --------------------------------------------------------------------------- model
class TorchCF(Recommender):
    """Hybrid rating model (see the module docstring). ``item_table`` (optional): the movie
    table with TMDB columns and genres; ``None`` loads :func:`recutils.datasets.movie_table`."""

    name = "torch_cf"
    Config = TorchCFConfig

    def __init__(self, config: TorchCFConfig | None = None, item_table: pd.DataFrame | None = None, **overrides):
        super().__init__(config, **overrides)
        self.item_table = item_table
        self.net_ = None
        self.history_: list[dict] = []

    # --- fitting ---------------------------------------------------------------
    def _check_fitted(self):
        if self.net_ is None or self.split_ is None:
            raise NotFittedError(f"{self.name}: call fit() (or TorchCF.load) before scoring")

    def _fit(self, split):
        import torch

        from ..splits import validation_split

        c = self.config
        if len(split.train) == 0:
            raise RecutilsError("torch_cf: the split has no training ratings")
        table = self.item_table
        if table is None:
            from ..datasets import movie_table

            table = movie_table()
        t0 = time.perf_counter()
        val = validation_split(split, seed=c.seed + 1)
        if len(val.test) == 0:
            raise RecutilsError("torch_cf: the validation carve-out for early stopping is empty "
                                "(it holds out 20 % of the ratings of users with ≥ 5 training ratings)")
        with _torch_threads(c.num_threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed)
            net, hist, best_epoch = self._train(val, table, val.test, c.max_epochs, early_stop=True)
            self.best_epoch_ = best_epoch
            self.best_val_rmse_ = min(h["val_rmse"] for h in hist)
            if c.refit:
                torch.manual_seed(c.seed)
                net, hist2, _ = self._train(split, table, None, best_epoch, early_stop=False)
                hist = hist + [{**h, "phase": "refit"} for h in hist2]
            elif c.implicit:
                net.set_implicit(split)  # N(u) from every training rating the model may use
        self.net_ = net.eval()
        self.history_ = hist
        self.fit_seconds_ = time.perf_counter() - t0

    def _train(self, split, table, val_df, epochs: int, early_stop: bool):
        """Train a fresh network on ``split.train``; returns (net, history, best epoch)."""
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        c = self.config
        feats = build_item_features(table, split.items, self._known_mask(split))
        self.features_ = feats
        net = _make_net(split.n_users, split.n_items, feats.numeric.shape[1], feats.genres.shape[1], c, len(split.train))
        tr = split.train
        u = torch.as_tensor(tr["uidx"].to_numpy(np.int64, copy=True))
        i = torch.as_tensor(tr["iidx"].to_numpy(np.int64, copy=True))
        y = torch.as_tensor(tr[COL_RATING].to_numpy(np.float32, copy=True))
        with torch.no_grad():
            net.mu.fill_(float(y.double().mean()))
            if c.side_features:
                net.item_numeric.copy_(torch.from_numpy(feats.numeric))
                net.item_genres.copy_(torch.from_numpy(feats.genres))
            net.known_items.copy_(torch.from_numpy(self._known_mask(split)))
            if c.implicit:
                net.set_implicit(split)
        self.rating_range_ = (float(y.min()), float(y.max()))
        gen = torch.Generator().manual_seed(c.seed)
        loader = DataLoader(TensorDataset(u, i, y), batch_size=c.batch_size, shuffle=True,
                            generator=gen, drop_last=len(y) > c.batch_size)
        emb_names = ("user_emb", "item_emb", "user_bias", "item_bias", "implicit_emb")
        emb_params = [p for n, p in net.named_parameters() if n.split(".")[0] in emb_names]
        mlp_params = [p for n, p in net.named_parameters() if n.split(".")[0] not in emb_names]
        opt = torch.optim.Adam([{"params": emb_params, "weight_decay": 0.0, "lr": c.emb_lr or c.lr},
                                {"params": mlp_params, "weight_decay": c.weight_decay}], lr=c.lr)
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=c.lr_decay)
        if val_df is not None and len(val_df):
            vu = torch.as_tensor(val_df["uidx"].to_numpy(np.int64, copy=True))
            vi = torch.as_tensor(val_df["iidx"].to_numpy(np.int64, copy=True))
            vy = val_df[COL_RATING].to_numpy(np.float64)
        else:
            vu = None
        hist, best, best_state, best_epoch, bad = [], np.inf, None, epochs, 0
        bar = _epoch_bar(epochs, c.progress)
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
            sched.step()
            row = {"epoch": epoch, "train_rmse": float(np.sqrt(se / max(n, 1)))}
            if vu is not None:
                net.eval()
                net.fill_unknown_items()
                p = self._predict_net(net, vu, vi)
                row["val_rmse"] = float(np.sqrt(np.mean((p - vy) ** 2)))
            row["seconds"] = time.perf_counter() - t0
            hist.append(row)
            bar.update(1)
            bar.set_postfix({k: f"{v:.4f}" for k, v in row.items() if k.endswith("rmse")})
            if vu is not None and early_stop:
                if row["val_rmse"] < best - c.min_delta:
                    best, best_epoch, bad = row["val_rmse"], epoch, 0
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                else:
                    bad += 1
                    if bad >= c.patience:
                        break
        bar.close()
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        net.fill_unknown_items()
        return net, hist, best_epoch

    @staticmethod
    def _known_mask(split) -> np.ndarray:
        return np.bincount(split.train["iidx"].to_numpy(np.int64), minlength=split.n_items) > 0

    def _predict_net(self, net, u, i, batch: int = 65536) -> np.ndarray:
        import torch

        lo, hi = self.rating_range_
        out = []
        with torch.no_grad():
            for s in range(0, len(u), batch):
                out.append(net(u[s:s + batch], i[s:s + batch]).clamp(lo, hi).double().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    # --- inference -------------------------------------------------------------
    def predict(self, user_indices, item_indices) -> np.ndarray:
        """Predicted ratings for (user, item) index pairs, clipped to the training range."""
        import torch

        self._check_fitted()
        u = np.array(user_indices, dtype=np.int64)
        i = np.array(item_indices, dtype=np.int64)
        if u.shape != i.shape:
            raise RecutilsError(f"predict: {u.shape} user indices but {i.shape} item indices")
        with _torch_threads(self.config.num_threads):
            return self._predict_net(self.net_, torch.from_numpy(u), torch.from_numpy(i))

    def score(self, user_indices) -> np.ndarray:
        """Unclipped predicted ratings of every item for each user: (n_users, n_items) float32.

        Item-side first-layer activations are computed once; the user × item grid goes through
        the rest of the network in chunks of ``config.score_chunk`` pairs.
        """
        import torch

        self._check_fitted()
        users = torch.as_tensor(np.atleast_1d(np.asarray(user_indices, dtype=np.int64)))
        net, n_items = self.net_, self.n_items
        out = np.empty((len(users), n_items), np.float32)
        with _torch_threads(self.config.num_threads), torch.no_grad():
            hi, q, bi = net.item_side(torch.arange(n_items))
            hu, p, bu = net.user_side(users)
            chunk = self.config.score_chunk
            if self.config.biases:
                base = bu[:, None] + bi[None, :] + net.mu
            else:
                base = net.mu.expand(len(users), n_items).clone()
            if self.config.dot:
                base += p @ q.T
            # blocks of ≤ score_chunk pairs: several users × all items, or one user × an item slice
            u_step = max(1, chunk // max(n_items, 1))
            i_step = min(n_items, chunk) if u_step == 1 else n_items
            for s in range(0, len(users), u_step):
                hs = hu[s:s + u_step]
                for j in range(0, n_items, i_step):
                    hj = hi[j:j + i_step]
                    grid = (hs[:, None, :] + hj[None, :, :]).reshape(-1, hj.shape[1])
                    base[s:s + u_step, j:j + i_step] += net.head(grid).reshape(len(hs), len(hj))
            out[:] = base.numpy()
        return out

    # --- persistence -----------------------------------------------------------
    def save(self, directory) -> Path:
        """Write ``model.safetensors`` + ``config.json`` into ``directory`` (atomically)."""
        import torch
        from safetensors.torch import save_file

        self._check_fitted()
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        sp = self.split_
        tensors = {f"net.{k}": v.detach().contiguous() for k, v in self.net_.state_dict().items()}
        tensors["known_items"] = tensors["net.known_items"].to(torch.uint8)
        del tensors["net.known_items"]
        tensors.update({
            "split.users": torch.as_tensor(np.asarray(sp.users, np.int64)),
            "split.items": torch.as_tensor(np.asarray(sp.items, np.int64)),
            "split.cold_items": torch.as_tensor(np.asarray(sp.cold_items, np.uint8)),
            "train.uidx": torch.as_tensor(sp.train["uidx"].to_numpy(np.int64, copy=True)),
            "train.iidx": torch.as_tensor(sp.train["iidx"].to_numpy(np.int64, copy=True)),
            "train.rating": torch.as_tensor(sp.train[COL_RATING].to_numpy(np.float64, copy=True)),
        })
        with atomic_path(d / WEIGHTS_FILE, suffix=".safetensors") as tmp:
            save_file(tensors, str(tmp))
        f = self.features_
        meta = {
            "model": self.name,
            "config": dataclasses.asdict(self.config),
            "split_name": sp.name,
            "n_users": int(sp.n_users), "n_items": int(sp.n_items),
            "numeric_features": f.numeric_names, "genre_features": f.genre_names,
            "scaler_mean": f.mean.tolist(), "scaler_std": f.std.tolist(),
            "rating_range": list(self.rating_range_),
            "best_epoch": int(self.best_epoch_), "best_val_rmse": float(self.best_val_rmse_),
            "history": self.history_,
        }
        write_json(d / CONFIG_FILE, meta)
        return d

    @classmethod
    def load(cls, directory) -> "TorchCF":
        """Rebuild a fitted model from :meth:`save`'s folder (identical predictions)."""
        import torch
        from safetensors.torch import load_file

        from ..splits import Split

        d = Path(directory)
        if not (d / CONFIG_FILE).is_file() or not (d / WEIGHTS_FILE).is_file():
            raise RecutilsError(f"{d} is not a saved torch_cf model (needs {CONFIG_FILE} and {WEIGHTS_FILE})")
        meta = json.loads((d / CONFIG_FILE).read_text())
        if meta.get("model") != cls.name:
            raise RecutilsError(f"{d / CONFIG_FILE} describes model {meta.get('model')!r}, not {cls.name!r}")
        config = TorchCFConfig(**meta["config"])
        t = load_file(str(d / WEIGHTS_FILE))
        users, items = t.pop("split.users").numpy(), t.pop("split.items").numpy()
        cold = t.pop("split.cold_items").numpy().astype(bool)
        uidx, iidx = t.pop("train.uidx").numpy(), t.pop("train.iidx").numpy()
        rating = t.pop("train.rating").numpy()
        state = {k.removeprefix("net."): v for k, v in t.items() if k.startswith("net.")}
        state["known_items"] = t["known_items"].bool()
        n_implicit = state["implicit_items"].shape[0] if "implicit_items" in state else 0
        net = _make_net(len(users), len(items), state["item_numeric"].shape[1], state["item_genres"].shape[1],
                        config, n_implicit)
        net.load_state_dict(state)
        model = cls(config)
        model.net_ = net.eval()
        train = pd.DataFrame({COL_USER: users[uidx], COL_ITEM: items[iidx], COL_RATING: rating,
                              "uidx": uidx, "iidx": iidx})
        model.split_ = Split(meta.get("split_name", "loaded"), train, train.iloc[:0].copy(), users, items, cold)
        model.rating_range_ = tuple(meta["rating_range"])
        model.features_ = ItemFeatures(state["item_numeric"].numpy(), state["item_genres"].numpy(),
                                       meta["numeric_features"], meta["genre_features"],
                                       np.asarray(meta["scaler_mean"]), np.asarray(meta["scaler_std"]))
        model.best_epoch_, model.best_val_rmse_ = meta["best_epoch"], meta["best_val_rmse"]
        model.history_ = meta["history"]
        return model

    def config_dict(self) -> dict[str, Any]:
        return {"model": self.name, **dataclasses.asdict(self.config)}


def _epoch_bar(total: int, enabled: bool):
    """A tqdm bar over epochs (a no-op object when disabled)."""
    from tqdm import tqdm

    return tqdm(total=total, desc="torch_cf epochs", unit="epoch", disable=not enabled, leave=False)


def thread_benchmark(model: TorchCF, threads=(1, 2), repeats: int = 3, n_batches: int = 40,
                     n_score_users: int = 64) -> dict:
    """Time a fitted model's two workloads under each torch thread count, interleaved in one
    process (so that load from other processes hits every setting alike).

    Workloads: ``n_batches`` training steps (forward + backward + Adam, on a copy of the network)
    and one ``score`` of ``n_score_users`` users. Returns the median seconds per setting and
    the ratios to the first setting (< 1: faster than ``threads[0]``).
    """
    import copy

    import torch

    model._check_fitted()
    c = model.config
    tr = model.split_.train
    g = torch.Generator().manual_seed(c.seed)
    n = len(tr)
    idx = torch.randint(n, (n_batches, c.batch_size), generator=g)
    u_all = torch.as_tensor(tr["uidx"].to_numpy(np.int64, copy=True))
    i_all = torch.as_tensor(tr["iidx"].to_numpy(np.int64, copy=True))
    y_all = torch.as_tensor(tr[COL_RATING].to_numpy(np.float32, copy=True))
    users = np.arange(min(n_score_users, model.split_.n_users))
    times = {"train": {t: [] for t in threads}, "score": {t: [] for t in threads}}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(c.seed)
        for _ in range(repeats):
            for t in threads:
                net = copy.deepcopy(model.net_).train()
                opt = torch.optim.Adam(net.parameters(), lr=c.lr)
                with _torch_threads(t):
                    t0 = time.perf_counter()
                    for b in idx:
                        loss = torch.mean((net(u_all[b], i_all[b]) - y_all[b]) ** 2)
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()
                    times["train"][t].append(time.perf_counter() - t0)
                model_t = copy.copy(model)
                model_t.config = dataclasses.replace(c, num_threads=t)
                t0 = time.perf_counter()
                model_t.score(users)
                times["score"][t].append(time.perf_counter() - t0)
    out = {}
    for w, d in times.items():
        med = {t: float(np.median(v)) for t, v in d.items()}
        out[w] = {"seconds": {str(t): round(s, 4) for t, s in med.items()},
                  "ratio_to_" + str(threads[0]): {str(t): round(med[t] / med[threads[0]], 3) for t in threads}}
    out["setup"] = {"repeats": repeats, "n_batches": n_batches, "batch_size": c.batch_size,
                    "n_score_users": int(len(users)), "n_items": int(model.split_.n_items)}
    return out
