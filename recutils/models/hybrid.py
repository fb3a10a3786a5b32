"""Hybrid CF + content: the study's normalise-and-blend, for all users at once.

For each user, over the *candidates* (items not rated in train that both parts can rank):

- ``b̃`` = the CF base's scores min-max normalised per user. ``base_norm="all"`` takes min and max
  over every item the base scores, seen ones included — exactly what the study does
  (``normalize_scores`` over the whole ``mf_model.score(u)`` dict); ``"candidates"`` over
  unseen items only;
- ``c̃`` = the content score (:mod:`recutils.models.content`) min-max normalised over the
  candidates;
- ``final = α·b̃ + (1 − α)·c̃`` (a constant row normalises to 0.5; a part that cannot score an
  item contributes 0 there, as the study's ``dict.get(mid, 0)``). ``α = 1`` ranks exactly like
  the base; ``α = 0`` like the content model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import RecutilsError
from .base import Recommender
from .registry import ModelSpec, register
from ..config import check_field, param
from ..embeddings.items import ItemEmbeddings
from .content import Content, ContentConfig

BASE_NORMS = ("all", "candidates")


def minmax_rows(S: np.ndarray, mask: np.ndarray | None = None, constant: float = 0.5) -> np.ndarray:
    """Per-row min-max normalisation to [0, 1] over the entries where ``mask`` (and ``S``) is finite.

    Entries outside the mask come back ``-inf``; a row whose masked entries are all equal maps
    them to ``constant`` (the study's 0.5).
    """
    S = np.asarray(S, dtype=np.float64)
    ok = np.isfinite(S) if mask is None else (np.asarray(mask, bool) & np.isfinite(S))
    lo = np.where(ok, S, np.inf).min(axis=1, keepdims=True)
    hi = np.where(ok, S, -np.inf).max(axis=1, keepdims=True)
    span = hi - lo
    good = np.isfinite(span) & (span > 0)
    with np.errstate(invalid="ignore"):
        out = np.where(good, (S - lo) / np.where(good, span, 1.0), constant)
    out[~ok] = -np.inf
    return out


def blend(base: np.ndarray, content: np.ndarray, alpha: float, seen: np.ndarray | None = None,
          base_norm: str = "all") -> np.ndarray:
    """``α·minmax(base) + (1 − α)·minmax(content)`` over the candidates (see module docstring).

    ``base`` / ``content``: users × items scores (``-inf`` where a part cannot score);
    ``seen``: users × items boolean of train items (never candidates). Non-candidates get ``-inf``.
    """
    check_field(HybridConfig, "alpha", alpha)  # the rule HybridConfig declares, stated once
    if base_norm not in BASE_NORMS:
        raise RecutilsError(f"base_norm must be one of {BASE_NORMS}, got {base_norm!r}")
    base = np.asarray(base, dtype=np.float64)
    content = np.asarray(content, dtype=np.float64)
    if base.shape != content.shape:
        raise ValueError(f"base {base.shape} and content {content.shape} scores differ in shape")
    cand = np.ones(base.shape, bool) if seen is None else ~np.asarray(seen, bool)
    fb, fc = np.isfinite(base), np.isfinite(content)
    cand &= fb | fc
    b = minmax_rows(base, fb if base_norm == "all" else cand & fb)
    c = minmax_rows(content, cand & fc)
    out = alpha * np.where(np.isfinite(b), b, 0.0)
    out += (1.0 - alpha) * np.where(np.isfinite(c), c, 0.0)
    out[~cand] = -np.inf
    return out


def seen_mask(split, users) -> np.ndarray:
    """Dense users × items boolean of the given users' train items."""
    return split.train_binary[np.atleast_1d(users)].toarray() > 0


class ScoreMatrix(Recommender):
    """A fixed users × items score matrix behind the Recommender interface (for evaluating
    precomputed or blended scores with :func:`~recutils.evaluation.evaluate_ranking`)."""

    name = "scores"

    def __init__(self, scores: np.ndarray, name: str | None = None, determinism: str = "exact"):
        super().__init__()
        self.scores_ = np.asarray(scores)
        if name:
            self.name = name
        #: of whatever computed the scores ("kernel" for a blend with text embeddings)
        self.determinism = determinism

    def _fit(self, split):
        if self.scores_.shape != (split.n_users, split.n_items):
            raise ValueError(f"score matrix {self.scores_.shape} does not match the split "
                             f"({split.n_users}, {split.n_items})")

    def score(self, user_indices):
        self._check_fitted()
        return self.scores_[np.atleast_1d(user_indices)]


def blend_scores_all(split, base_scores: np.ndarray, content_scores: np.ndarray, alpha: float,
                     base_norm: str = "all", users=None) -> np.ndarray:
    """:func:`blend` for ``users`` (all users when None) of full users × items score matrices;
    rows of other users are ``-inf``. Returns a full matrix usable with :class:`ScoreMatrix`."""
    users = np.arange(split.n_users) if users is None else np.asarray(users, dtype=np.int64)
    out = np.full((split.n_users, split.n_items), -np.inf)
    out[users] = blend(base_scores[users], content_scores[users], alpha, seen_mask(split, users), base_norm)
    return out


def _is_cf_spec(spec) -> bool:
    from .registry import available

    return isinstance(spec, ModelSpec) and spec.name in available() and spec.name not in ("hybrid", "content")


@dataclass
class HybridConfig:
    """A CF base (any registered collaborative model with its own parameters), a content part
    (:class:`~recutils.models.content.ContentConfig`) and the blend between them."""

    base: ModelSpec = param(default_factory=ModelSpec, check=_is_cf_spec,
                            expect="a registered collaborative model (not 'hybrid' or 'content')")
    content: ContentConfig = field(default_factory=ContentConfig)
    alpha: float = param(0.85, ge=0, le=1)  #: weight of the normalised CF score (the study's 0.85)
    base_norm: str = param("all", choices=BASE_NORMS)  #: "all" (study: min/max over every item incl. seen) or "candidates"


@register
class Hybrid(Recommender):
    """``α·minmax(CF) + (1 − α)·minmax(content)`` (the study's hybrid, vectorised).

    ``base_model`` / ``content_model`` may be passed in: unfitted (``fit`` fits them) or already
    fitted on the very split ``fit`` receives (reused); a part fitted on another split is an
    error. Otherwise both are created from the config.
    """

    determinism = "kernel"  # its content part ranks with text embeddings
    name = "hybrid"
    Config = HybridConfig

    def __init__(self, config=None, base_model: Recommender | None = None, content_model: Content | None = None,
                 embeddings: ItemEmbeddings | None = None, data_dir=None, progress: bool = False, **overrides):
        super().__init__(config, **overrides)  # validates alpha, base_norm, the base's name and the content part
        if base_model is None:  # the base's own parameters, checked (and typed) now rather than at fit time
            base_cfg = self.config.base.config("model 'hybrid' base")
            self.config.base.params = {k: getattr(base_cfg, k) for k in self.config.base.params}
        self.base_model = base_model
        self.content_model = content_model
        self._embeddings = embeddings
        self.data_dir = data_dir
        self.progress = progress

    @staticmethod
    def _fit_part(model: Recommender, split, what: str) -> None:
        fitted_on = getattr(model, "split_", None)
        if fitted_on is None:
            model.fit(split)
        elif fitted_on is not split:
            raise RecutilsError(f"hybrid: the {what} passed in was fitted on another split; pass it unfitted "
                                "or fitted on the split given to fit()")

    def _fit(self, split):
        c = self.config
        if self.base_model is None:
            self.base_model = c.base.build("model 'hybrid' base")
        self._fit_part(self.base_model, split, "base model")
        if self.content_model is None:
            self.content_model = Content(c.content, embeddings=self._embeddings, data_dir=self.data_dir,
                                         progress=self.progress)
        self._fit_part(self.content_model, split, "content model")

    def score(self, user_indices):
        self._check_fitted()
        users = np.atleast_1d(np.asarray(user_indices, dtype=np.int64))
        b = self.base_model.score(users)
        ct = self.content_model.score(users)
        return blend(b, ct, self.config.alpha, seen_mask(self.split_, users), self.config.base_norm)
