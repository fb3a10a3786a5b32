"""The torch_cf network: collaborative embeddings + item side features + an MLP.

    r̂_ui = μ + b_u + b_i [+ p_u·q_i] + MLP([p_u, q_i, f_num(x_i), f_genre(g_i)])

- ``p_u``, ``q_i``: user / item embeddings (optionally, ``implicit``, SVD++'s user vector
  ``p_u + |N(u)|^-½ Σ_{j∈N(u)} y_j`` over the user's training items N(u));
  ``b_u``, ``b_i``: biases; ``μ``: training mean;
- ``x_i`` / ``g_i``: the item's numeric features and genre multi-hot
  (:mod:`~recutils.models.torch_cf.features`); ``f_num`` / ``f_genre``:
  Linear → BatchNorm → ReLU → Dropout (:class:`recutils.torch_dropout.Dropout`: torch's dropout,
  the same numbers, its mask drawn by a compiled copy of torch's generator);
- optionally (``text_dim`` > 0) ``f_text(e_i)``, the same kind of block over the movie's text
  embedding ``e_i``, appended to the item side (``metadata=False`` leaves only the text);
- the final MLP: (Linear → BatchNorm → ReLU → Dropout)* → Linear(·, 1). Its first Linear is
  written as a user part plus an item part (the same map as one Linear on the concatenation),
  so :meth:`TorchCF.score <recutils.models.torch_cf.TorchCF.score>` computes item-side
  features once and batches the user × item grid through the rest of the network.

The item feature tables, μ and N(u) live in buffers, so the state dict is self-contained; its
key names are the on-disk format of saved models (``model.safetensors``) and must not change.
This module imports torch at import time; the package imports it lazily.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...torch_dropout import Dropout
from .config import TorchCFConfig

__all__ = ["TorchCFNet", "predict_clipped"]


def _block(n_in: int, n_out: int, dropout: float) -> nn.Sequential:
    """Linear → BatchNorm → ReLU → Dropout."""
    return nn.Sequential(nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.ReLU(), Dropout(dropout))


class TorchCFNet(nn.Module):
    """The network; item feature tables live in buffers so the state dict is self-contained.

    Parameters
    ----------
    n_users, n_items : int
        Sizes of the split's index spaces.
    n_num, n_genre : int
        Widths of the item numeric-feature and genre tables.
    config : TorchCFConfig
        Layer sizes, dropout and which terms (``dot``, ``biases``, ``side_features``,
        ``implicit``) the model has.
    n_implicit : int
        Number of (user, item) training pairs in N(u) (the ``implicit`` buffers' length).
    n_text : int
        Width of the item text embeddings (the ``item_text`` buffer); used when ``text_dim`` > 0.

    Notes
    -----
    Layers are created in a fixed order: their initialisation draws from torch's global
    generator, so the order (and the attribute names, which are the state-dict keys) is part
    of the model's reproducibility and of the saved-model format.
    """

    def __init__(self, n_users: int, n_items: int, n_num: int, n_genre: int, config: TorchCFConfig,
                 n_implicit: int = 0, n_text: int = 0):
        super().__init__()
        c = self.config = config
        self.n_users = n_users
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
        t = c.text_dim if c.text_dim > 0 else 0
        self.first_item = nn.Linear(d + 2 * f + t, h[0])
        layers: list[nn.Module] = [nn.BatchNorm1d(h[0]), nn.ReLU(), Dropout(c.dropout)]
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
        if t:  # created last: without text the other layers draw the same initial weights as before
            if n_text < 1:
                raise ValueError("text_dim > 0 needs the width of the item text embeddings (n_text)")
            self.text_mlp = _block(n_text, t, c.dropout)
            self.register_buffer("item_text", torch.zeros(n_items, n_text))

    def set_implicit(self, split):
        """Store each user's training items N(u): before training, and after it with every
        training rating of the split the model is fitted on (the validation carve-out's
        training part only differs by the held-out ratings)."""
        tr = split.train.sort_values("uidx", kind="stable")
        items = torch.as_tensor(tr["iidx"].to_numpy(np.int64, copy=True))
        counts = np.bincount(tr["uidx"].to_numpy(np.int64), minlength=self.n_users)
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
        c = self.config
        q = self.item_emb(i)
        t = c.text_dim if c.text_dim > 0 else 0
        if c.side_features:
            if c.metadata:
                parts = [q, self.num_mlp(self.item_numeric[i]), self.genre_mlp(self.item_genres[i])]
            else:  # text only: the metadata MLPs are bypassed like the whole side without side_features
                parts = [q, q.new_zeros(len(q), 2 * c.feature_dim)]
            if t:
                parts.append(self.text_mlp(self.item_text[i]))
            x = torch.cat(parts, 1)
        else:  # bypass the feature MLPs (constant inputs would break BatchNorm's statistics)
            x = torch.cat([q, q.new_zeros(len(q), 2 * c.feature_dim + t)], 1)
        return self.first_item(x), q, self.item_bias(i).squeeze(1)

    def user_side(self, u):
        """First-layer contribution, user vector (with the implicit term) and bias of users ``u``."""
        p = self.user_emb(u)
        if self.config.implicit:
            p = p + self.implicit_vectors()[u]
        return self.first_user(p), p, self.user_bias(u).squeeze(1)

    def combine(self, hu, p, bu, hi, q, bi):
        """Predicted ratings from the user-side and item-side parts."""
        c = self.config
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


def predict_clipped(net: TorchCFNet, u, i, rating_range: tuple[float, float], batch: int = 65536) -> np.ndarray:
    """Predictions of ``net`` (in its current mode) for index tensors ``u``, ``i``, in blocks of
    ``batch`` pairs, clipped to ``rating_range``; float64."""
    lo, hi = rating_range
    out = []
    with torch.no_grad():
        for s in range(0, len(u), batch):
            out.append(net(u[s:s + batch], i[s:s + batch]).clamp(lo, hi).double().numpy())
    return np.concatenate(out) if out else np.zeros(0)
