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
- ``mapper="mlp"``: a one-hidden-layer MLP trained with MSE on the warm items' vectors (Adam,
  full batch; epochs chosen on a validation carve-out by the caller, or by ``early_stopping``
  inside the fit on warm items; DropoutNet-style input dropout of the text or metadata block:
  :mod:`~recutils.models.coldstart.mlp`). Onto EASE the item vectors are those of the rank-
  ``ease_rank`` SVD of the users × warm items EASE scores ``S ≈ (UΣ^½)(VΣ^½)ᵀ``;
- ``mapper="residual"``: the MLP on the **metadata** columns, then a ridge map (``ridge_lambda``)
  of the **text** columns onto what it misses on the warm items (``y_j − f(meta_j)``); a new
  item gets ``f(meta) + g(text)``.

Content options (:func:`~recutils.models.coldstart.features.content_matrix`): ``text_dim`` (the
text block reduced to its principal components on warm items), ``text_weight``,
``tmdb_numbers``, ``release_day`` (genres, year, runtime and text only: what a movie has before
its release — no TMDB vote count, vote average or popularity).

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
from .mlp import early_stopping_epochs, mlp_curve, mlp_map

__all__ = ["ContentToCF", "ContentToCFConfig", "ease_factors", "mlp_map", "text_columns", "warm_mask"]


@dataclass
class ContentToCFConfig:
    target: Literal["ease", "als"] = param("ease", choices=("ease", "als"))  #: the warm CF model mapped onto
    #: linear (closed form), a small MLP, or the metadata MLP + a text ridge map of its residuals
    mapper: Literal["ridge", "mlp", "residual"] = param("ridge", choices=("ridge", "mlp", "residual"))
    metadata: bool = True  #: TMDB numbers + genres in the content vector
    #: with ``metadata``: the TMDB numbers too (False: genres only — a new release has no vote count yet)
    tmdb_numbers: bool = True
    #: the release-day protocol's metadata: genres + year + runtime, no TMDB vote numbers (needs ``metadata``)
    release_day: bool = False
    text: bool = True  #: the text embedding in the content vector (``embeddings``, else computed from the two fields below)
    #: encoder of the movie texts when no ``embeddings`` are given (cached on disk like notebook 05's)
    embedding_model: str = param("all-MiniLM-L6-v2", check=lambda v: bool(v.strip()), expect="a model name")
    #: the movie text then: "study", "study+overview" or TextBuilder fields joined by "+"
    text_spec: str = param("study", check=valid_text_spec,
                           expect="'study', 'study+overview' or fields from title, genres, tags, overview joined by '+'")
    text_weight: float = param(1.0, gt=0)  #: scale of the (standardised) text columns against metadata
    text_dim: int = param(0, ge=0)  #: > 0: the text block reduced to this many principal components (warm items)
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
    text_dropout: float = param(0.0, ge=0, lt=1)  #: MLP: probability of zeroing a training row's text block
    metadata_dropout: float = param(0.0, ge=0, lt=1)  #: MLP: probability of zeroing its metadata block instead
    early_stopping: bool = False  #: MLP: epochs (≤ mlp_epochs) chosen on held-out warm items inside the fit
    es_share: float = param(0.1, gt=0, lt=1)  #: share of the warm items held out for early stopping
    ease_rank: int = param(64, ge=1)  #: MLP onto EASE: rank of the SVD of the warm EASE scores
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
    embeddings (:class:`recutils.embeddings.ItemEmbeddings`), or a callable ``(training data) →
    ItemEmbeddings`` for embeddings that are themselves learned from ratings (a fine-tune on the
    training data's CF pairs: called with the training data of every fit, so a validation fit
    gets embeddings that never saw the validation items' ratings); without them and with
    ``text=True`` they are computed (and cached) from ``embedding_model`` and ``text_spec`` when
    fitting.
    """

    name = "content_to_cf"
    needs_item_table = True
    Config = ContentToCFConfig

    @property
    def determinism(self) -> str:
        """"kernel" with text embeddings (torch / ONNX Runtime), the torch MLP or the ALS target;
        "exact" for the ridge map of metadata onto EASE (closed form)."""
        c = self.config
        return "kernel" if (c.text or c.mapper != "ridge" or c.target == "als") else "exact"

    def __init__(self, config: ContentToCFConfig | None = None, item_table: pd.DataFrame | None = None,
                 embeddings=None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        if not (c.metadata or c.text):
            raise ConfigError("model 'content_to_cf': metadata and text are both off: nothing to map from")
        problem = _config_problem(c)
        if problem:
            raise ConfigError(f"model 'content_to_cf': {problem}")
        self.item_table = item_table
        self.embeddings = embeddings

    def _prepare(self, split):
        """Warm mask, content matrix, CF user vectors, warm scores and warm item vectors."""
        c = self.config
        if c.text and self.embeddings is None:
            from ...embeddings.items import compute_item_embeddings

            self.embeddings = compute_item_embeddings(c.embedding_model, c.text_spec)
        if c.metadata and self.item_table is None:
            raise RecutilsError("content_to_cf: metadata=True needs the movie table (item_table=...)")
        warm = warm_mask(split)
        if warm.sum() < 2:
            raise RecutilsError("content_to_cf: fewer than two warm items to learn the map from")
        E = self.embeddings
        if c.text and callable(E) and not hasattr(E, "matrix"):  # learned from this training data
            E = E(split)
        C = content_matrix(split.items, warm, self.item_table, E if c.text else None,
                           metadata=c.metadata, text_weight=c.text_weight, tmdb_numbers=c.tmdb_numbers,
                           release_day=c.release_day, text_dim=c.text_dim)
        self.content_ = C
        U, S_w, Y_w = self._target(split, warm)
        if c.mapper != "ridge" and c.target == "ease":
            U, Y_w = ease_factors(S_w, c.ease_rank)
        return warm, C, U, S_w, Y_w

    def _fit(self, split):
        c = self.config
        warm, C, U, S_w, Y_w = self._prepare(split)
        new = ~warm
        mapped = np.zeros((split.n_users, int(new.sum())))
        if new.any():
            if c.mapper == "ridge":
                mapped = ridge_cold_scores(S_w, C.matrix[warm], C.matrix[new], c.ridge_lambda)
            else:
                Y_new = perturb(self._map(C, warm, Y_w), "mlp")  # identity outside an audit
                mapped = U @ Y_new.T
        scores = np.zeros((split.n_users, split.n_items), np.float32)
        scores[:, warm] = S_w
        scores[:, new] = mapped
        self.scores_ = scores
        self.warm_ = warm

    def _map(self, C, warm, Y_w):
        """The MLP (or residual) map of the new items' content onto CF item vectors."""
        c = self.config
        tcols = text_columns(C)
        if c.mapper == "residual":
            meta = np.ones(C.matrix.shape[1], bool)
            meta[tcols] = False
            M = C.matrix[:, meta]
            epochs = early_stopping_epochs(M[warm], Y_w, c)[0] if c.early_stopping else c.mlp_epochs
            both = mlp_map(M[warm], Y_w, M, c, epochs=epochs)
            self.mlp_epochs_ = int(epochs)
            T = C.matrix[:, tcols]
            R = Y_w - both[warm]  # what the metadata MLP misses on the warm items
            return both[~warm] + _ridge_map(T[warm], R, T[~warm], c.ridge_lambda)
        epochs = early_stopping_epochs(C.matrix[warm], Y_w, c, tcols)[0] if c.early_stopping else c.mlp_epochs
        self.mlp_epochs_ = int(epochs)
        return mlp_map(C.matrix[warm], Y_w, C.matrix[~warm], c, tcols, epochs=epochs)

    def learning_curve(self, split, epochs) -> dict:
        """``{epoch: users × items scores}`` of the MLP map after each of ``epochs`` (one training
        run; ``mapper="mlp"``, no early stopping): for learning curves on a validation split."""
        c = self.config
        if c.mapper != "mlp" or c.early_stopping:
            raise ConfigError("model 'content_to_cf': learning_curve needs mapper='mlp' without early_stopping")
        warm, C, U, S_w, Y_w = self._prepare(split)
        curve = mlp_curve(C.matrix[warm], Y_w, C.matrix[~warm], c, epochs, text_columns(C))
        out = {}
        for e, Y_new in curve.items():
            S = np.zeros((split.n_users, split.n_items), np.float32)
            S[:, warm] = S_w
            S[:, ~warm] = U @ Y_new.T
            out[e] = S
        return out

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


def _ridge_map(X_w: np.ndarray, Y_w: np.ndarray, X_new: np.ndarray, lam: float) -> np.ndarray:
    """Centred ridge regression of ``Y_w`` on ``X_w`` (warm rows) applied to ``X_new``."""
    x_bar, y_bar = X_w.mean(0), Y_w.mean(0)
    Xt = X_w - x_bar
    M = np.linalg.solve(Xt.T @ Xt + lam * np.eye(Xt.shape[1]), Xt.T @ (Y_w - y_bar))
    return y_bar + (X_new - x_bar) @ M


def ease_factors(S_w: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """User and warm-item vectors of the rank-``rank`` SVD of the users × warm items EASE scores:
    ``S_w ≈ (U Σ^½)(V Σ^½)ᵀ`` (the MLP's target onto EASE; an EASE column itself has one value per
    item, too wide a target)."""
    u, s, vt = np.linalg.svd(np.asarray(S_w, np.float64), full_matrices=False)
    r = min(rank, len(s))
    root = np.sqrt(s[:r])
    return u[:, :r] * root, vt[:r].T * root


def text_columns(C) -> slice | None:
    """The text block of a content matrix (text columns then ``missing_text``: the last block)."""
    if not C.n_text:
        return None
    n = C.matrix.shape[1]
    return slice(n - C.n_text - 1, n)


def _config_problem(c) -> str | None:
    """What is wrong with a combination of settings (one line), or None."""
    if not (c.metadata or c.text):
        return "metadata and text are both off: nothing to map from"
    if c.release_day and not c.metadata:
        return "release_day=True describes the metadata a new release has: it needs metadata=True"
    if c.text_dim and not c.text:
        return f"text_dim={c.text_dim} reduces the text block, but text=False"
    if c.mapper == "residual" and not (c.metadata and c.text):
        return "mapper='residual' fits the text to the metadata MLP's residuals: it needs metadata and text"
    if c.mapper == "ridge" and (c.text_dropout or c.metadata_dropout or c.early_stopping):
        return "text_dropout, metadata_dropout and early_stopping are MLP options (mapper='mlp' or 'residual')"
    if (c.text_dropout or c.metadata_dropout) and not (c.metadata and c.text and c.mapper == "mlp"):
        return "input dropout zeroes the text or the metadata block: it needs mapper='mlp' with both blocks"
    if c.text_dropout + c.metadata_dropout >= 1:
        return (f"text_dropout + metadata_dropout = {c.text_dropout + c.metadata_dropout:g}: "
                "must be < 1 (a row keeps at least one block)")
    return None
