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

from dataclasses import dataclass

import numpy as np

from ..errors import RecutilsError
from .base import Recommender
from .registry import register
from .config import param
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
    if not 0.0 <= alpha <= 1.0:
        raise RecutilsError(f"alpha must be in [0, 1], got {alpha}")
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

    def __init__(self, scores: np.ndarray, name: str | None = None):
        super().__init__()
        self.scores_ = np.asarray(scores)
        if name:
            self.name = name

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


def _is_cf_model(name) -> bool:
    from .registry import available

    return name in available() and name not in ("hybrid", "content")


def _parse_base_params(base: str, spec: str) -> dict:
    """``"lambda_=300,n_neighbors=50"`` → typed overrides for model ``base``."""
    from .config import parse_params
    from .registry import get_model_class

    pairs = [p.strip() for p in spec.replace(";", ",").split(",") if p.strip()]
    return parse_params(get_model_class(base), pairs) if pairs else {}


@dataclass
class HybridConfig(ContentConfig):
    """The content part's fields (see :class:`ContentConfig`) plus the CF base and the blend."""

    #: any registered CF model (pmf, ease, als, itemknn, mostpop)
    base: str = param("pmf", check=_is_cf_model, expect="a registered collaborative model (not 'hybrid' or 'content')")
    base_params: str = ""  #: overrides for the base, "key=value,key=value" (e.g. "lambda_=300")
    alpha: float = param(0.85, ge=0, le=1)  #: weight of the normalised CF score (the study's 0.85)
    base_norm: str = param("all", choices=BASE_NORMS)  #: "all" (study: min/max over every item incl. seen) or "candidates"


@register
class Hybrid(Recommender):
    """``α·minmax(CF) + (1 − α)·minmax(content)`` (the study's hybrid, vectorised).

    ``base_model`` / ``content_model`` may be passed already fitted on the same split (they are
    then reused, not refitted); otherwise they are created from the config.
    """

    name = "hybrid"
    Config = HybridConfig

    def __init__(self, config=None, base_model: Recommender | None = None, content_model: Content | None = None,
                 embeddings: ItemEmbeddings | None = None, data_dir=None, progress: bool = False, **overrides):
        super().__init__(config, **overrides)  # validates alpha, base_norm and base
        c = self.config
        if base_model is None:  # the base's own parameters, checked now rather than at fit time
            from ..errors import ConfigError
            from . import check_params

            try:
                check_params(c.base, **_parse_base_params(c.base, c.base_params))
            except RecutilsError as exc:
                raise ConfigError(f"model 'hybrid': base_params={c.base_params!r}: {exc}") from None
        self.base_model = base_model
        self.content_model = content_model
        self._embeddings = embeddings
        self.data_dir = data_dir
        self.progress = progress

    @staticmethod
    def _fitted_on(model: Recommender | None, split) -> bool:
        s = getattr(model, "split_", None)
        return (s is not None and s.n_users == split.n_users and np.array_equal(s.items, split.items)
                and len(s.train) == len(split.train))

    def _fit(self, split):
        from . import create

        c = self.config
        if self.base_model is None:
            self.base_model = create(c.base, **_parse_base_params(c.base, c.base_params))
        if not self._fitted_on(self.base_model, split):
            self.base_model.fit(split)
        if self.content_model is None:
            fields = {f: getattr(c, f) for f in ContentConfig.__dataclass_fields__}
            self.content_model = Content(ContentConfig(**fields), embeddings=self._embeddings,
                                         data_dir=self.data_dir, progress=self.progress)
        if not self._fitted_on(self.content_model, split):
            self.content_model.fit(split)

    def score(self, user_indices):
        self._check_fitted()
        users = np.atleast_1d(np.asarray(user_indices, dtype=np.int64))
        b = self.base_model.score(users)
        ct = self.content_model.score(users)
        return blend(b, ct, self.config.alpha, seen_mask(self.split_, users), self.config.base_norm)
