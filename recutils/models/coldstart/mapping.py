"""Content → CF mapping for cold items (the "content-to-CF regression" / DropoutNet family).

A warm collaborative model gives each user ``u`` a vector ``x_u`` and each warm item ``j`` a
vector ``y_j`` with ``score(u, j) = x_u · y_j``:

- ``target="ease"``: ``x_u`` = the user's 0/1 training row, ``y_j`` = EASE's item–item column
  ``B[:, j]`` (Steck 2019);
- ``target="als"``: ALS user / item factors (Hu, Koren & Volinsky 2008).

:class:`ContentToCF` learns ``f(c_j) ≈ y_j`` from the content vectors ``c_j``
(:func:`~recutils.models.coldstart.features.content_matrix`: metadata and/or a text embedding)
of **warm items only**, and scores a cold item as ``x_u · f(c_j)``:

- ``mapper="ridge"``: ``f(c) = ȳ + Mᵀ(c − c̄)``, ``M = (C̃ᵀC̃ + λI)⁻¹ C̃ᵀ Ỹ`` (centred). Because
  ``x_u · y_j`` is the warm model's score ``s_uj``, the cold scores need only the users × warm
  items score matrix ``S``: ``x_u · f(c) = s̄_u + (s_u − s̄_u) C̃ (C̃ᵀC̃ + λI)⁻¹ (c − c̄)``, i.e.
  per user the ridge regression of their CF scores on content (no ``n_items²`` target matrix);
- ``mapper="mlp"`` (``target="als"``): a one-hidden-layer MLP trained with MSE on the warm
  items' factors (Adam, full batch, fixed epochs — chosen on a validation carve-out by the caller).

Warm items keep the CF model's own scores; cold items (no training rating) get the mapped
score. Both sets are on different scales, so compare within one set (the cold-item protocol
ranks cold candidates only). Fitting refuses a split in which an item flagged cold has a
training rating (a leak), and nothing else about cold items is used: their content vectors
are scaled with warm-item statistics only.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ...config import param
from ...constants import SEED
from ...provenance import perturb
from ...datasets.text import valid_text_spec
from ...errors import ConfigError, RecutilsError
from ..base import Recommender
from ..registry import register
from .features import content_matrix

__all__ = ["ContentToCF", "ContentToCFConfig", "warm_mask"]


@dataclass
class ContentToCFConfig:
    target: Literal["ease", "als"] = param("ease", choices=("ease", "als"))  #: the warm CF model mapped onto
    mapper: Literal["ridge", "mlp"] = param("ridge", choices=("ridge", "mlp"))  #: linear (closed form) or a small MLP
    metadata: bool = True  #: TMDB numbers + genres in the content vector
    #: with ``metadata``: the TMDB numbers too (False: genres only — a new release has no vote count yet)
    tmdb_numbers: bool = True
    text: bool = True  #: the text embedding in the content vector (``embeddings``, else computed from the two fields below)
    #: encoder of the movie texts when no ``embeddings`` are given (cached on disk like notebook 05's)
    embedding_model: str = param("all-MiniLM-L6-v2", check=lambda v: bool(v.strip()), expect="a model name")
    #: the movie text then: "study", "study+overview" or TextBuilder fields joined by "+"
    text_spec: str = param("study", check=valid_text_spec,
                           expect="'study', 'study+overview' or fields from title, genres, tags, overview joined by '+'")
    text_weight: float = param(1.0, gt=0)  #: scale of the (standardised) text columns against metadata
    ridge_lambda: float = param(100.0, gt=0)  #: λ of the ridge map
    ease_lambda: float = param(300.0, gt=0)  #: λ of the EASE target
    als_factors: int = param(64, ge=1)
    als_regularization: float = param(0.05, ge=0)
    als_iterations: int = param(15, ge=1)
    mlp_hidden: int = param(256, ge=1)
    mlp_epochs: int = param(200, ge=1)
    mlp_lr: float = param(1e-3, gt=0)
    mlp_weight_decay: float = param(1e-4, ge=0)
    mlp_dropout: float = param(0.1, ge=0, lt=1)
    seed: int = param(SEED, ge=0)


def warm_mask(split) -> np.ndarray:
    """Items with training ratings; raises if an item flagged cold has any (a leak)."""
    known = np.bincount(split.train["iidx"].to_numpy(np.int64), minlength=split.n_items) > 0
    leaked = known & np.asarray(split.cold_items, bool)
    if leaked.any():
        ids = np.asarray(split.items)[leaked][:5].tolist()
        raise RecutilsError(f"{int(leaked.sum())} item(s) flagged cold have training ratings (e.g. movieIds {ids}): "
                            "a cold item's ratings reached training")
    return known


#: fitted CF targets per training data object (weakly held) and target settings: a grid over the
#: map's own settings (λ, text weight, text source) refits no EASE / ALS model
_TARGETS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@register
class ContentToCF(Recommender):
    """Cold items scored through a content → CF map (see :mod:`recutils.models.coldstart.mapping`).

    ``item_table``: the movie table (metadata features); ``embeddings``: the movies' text
    embeddings (:class:`recutils.embeddings.ItemEmbeddings`); without them and with ``text=True``
    they are computed (and cached) from ``embedding_model`` and ``text_spec`` when fitting.
    """

    name = "content_to_cf"
    needs_item_table = True
    Config = ContentToCFConfig

    @property
    def determinism(self) -> str:
        """"kernel" with text embeddings (torch / ONNX Runtime), the torch MLP or the ALS target;
        "exact" for the ridge map of metadata onto EASE (closed form)."""
        c = self.config
        return "kernel" if (c.text or c.mapper == "mlp" or c.target == "als") else "exact"

    def __init__(self, config: ContentToCFConfig | None = None, item_table: pd.DataFrame | None = None,
                 embeddings=None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        if not (c.metadata or c.text):
            raise ConfigError("model 'content_to_cf': metadata and text are both off: nothing to map from")
        if c.mapper == "mlp" and c.target != "als":
            raise ConfigError("model 'content_to_cf': mapper='mlp' needs target='als' (an EASE column has one "
                              "value per item: too wide a target for the MLP)")
        self.item_table = item_table
        self.embeddings = embeddings

    def _fit(self, split):
        c = self.config
        if c.text and self.embeddings is None:
            from ...embeddings.items import compute_item_embeddings

            self.embeddings = compute_item_embeddings(c.embedding_model, c.text_spec)
        if c.metadata and self.item_table is None:
            raise RecutilsError("content_to_cf: metadata=True needs the movie table (item_table=...)")
        warm = warm_mask(split)
        if warm.sum() < 2:
            raise RecutilsError("content_to_cf: fewer than two warm items to learn the map from")
        C = content_matrix(split.items, warm, self.item_table, self.embeddings if c.text else None,
                           metadata=c.metadata, text_weight=c.text_weight, tmdb_numbers=c.tmdb_numbers)
        self.content_ = C
        U, S_w, Y_w = self._target(split, warm)
        new = ~warm
        mapped = np.zeros((split.n_users, int(new.sum())))
        if new.any():
            if c.mapper == "ridge":
                mapped = ridge_cold_scores(S_w, C.matrix[warm], C.matrix[new], c.ridge_lambda)
            else:
                Y_new = perturb(mlp_map(C.matrix[warm], Y_w, C.matrix[new], c), "mlp")  # identity outside an audit
                mapped = U @ Y_new.T
        scores = np.zeros((split.n_users, split.n_items), np.float32)
        scores[:, warm] = S_w
        scores[:, new] = mapped
        self.scores_ = scores
        self.warm_ = warm

    def _target(self, split, warm):
        """(user vectors or None, users × warm-items CF scores, warm item vectors or None),
        computed once per training data object and target settings (see ``_TARGETS``)."""
        c = self.config
        key = (c.target, c.ease_lambda) if c.target == "ease" else (
            c.target, c.als_factors, c.als_regularization, c.als_iterations, c.seed)
        per_split = _TARGETS.setdefault(split, {})
        if key not in per_split:
            per_split[key] = self._fit_target(split, warm)
        return per_split[key]

    def _fit_target(self, split, warm):
        c = self.config
        if c.target == "ease":
            from ..baselines import EASE

            ease = EASE(lambda_=c.ease_lambda).fit(split)
            # every training user's EASE scores (the solver EASE picks may not keep them stored)
            S = ease.score(np.arange(split.n_users))
            return None, np.asarray(S, np.float64)[:, warm], None
        from ..als import ALS

        als = ALS(factors=c.als_factors, regularization=c.als_regularization, iterations=c.als_iterations,
                  seed=c.seed).fit(split)
        U, V = np.asarray(als.U_, np.float64), np.asarray(als.V_, np.float64)
        return U, U @ V[warm].T, V[warm]

    def score(self, user_indices):
        self._check_fitted()
        return self.scores_[np.atleast_1d(user_indices)]


def ridge_cold_scores(S_w: np.ndarray, C_w: np.ndarray, C_new: np.ndarray, lam: float) -> np.ndarray:
    """Scores of new items: ``s̄_u + (s_u − s̄_u) C̃ (C̃ᵀC̃ + λI)⁻¹ (c − c̄)`` for every user ``u``
    (``S_w``: users × warm items CF scores, ``C_w`` / ``C_new``: content rows of warm / new items).
    Equal to mapping each new item's content to a CF item vector by centred ridge regression
    fitted on the warm items, then taking the dot product with the user vector."""
    S_w = np.asarray(S_w, np.float64)
    c_bar = C_w.mean(0)
    Ct = C_w - c_bar
    s_bar = S_w.mean(1, keepdims=True)
    A = Ct.T @ Ct + lam * np.eye(Ct.shape[1])
    W = np.linalg.solve(A, ((S_w - s_bar) @ Ct).T)  # d × users: each user's content weights
    return s_bar + ((C_new - c_bar) @ W).T


def mlp_map(C_w: np.ndarray, Y_w: np.ndarray, C_new: np.ndarray, c: ContentToCFConfig) -> np.ndarray:
    """A one-hidden-layer MLP (Linear → ReLU → Dropout → Linear) fitted with MSE on the warm
    items' ``(content, CF vector)`` pairs (targets standardised), applied to ``C_new``.
    Deterministic for a seed (one thread, torch's global RNG forked)."""
    import torch

    from ...torch_threads import torch_threads

    y_mean, y_std = Y_w.mean(0), Y_w.std(0)
    y_std[~(y_std > 1e-12)] = 1.0
    with torch_threads(1), torch.random.fork_rng(devices=[]):
        torch.manual_seed(c.seed)
        X = torch.as_tensor(C_w, dtype=torch.float32)
        Y = torch.as_tensor((Y_w - y_mean) / y_std, dtype=torch.float32)
        net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], c.mlp_hidden), torch.nn.ReLU(),
                                  torch.nn.Dropout(c.mlp_dropout), torch.nn.Linear(c.mlp_hidden, Y.shape[1]))
        opt = torch.optim.Adam(net.parameters(), lr=c.mlp_lr, weight_decay=c.mlp_weight_decay)
        net.train()
        for _ in range(c.mlp_epochs):
            loss = torch.mean((net(X) - Y) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            out = net(torch.as_tensor(C_new, dtype=torch.float32)).double().numpy()
    return out * y_std + y_mean
