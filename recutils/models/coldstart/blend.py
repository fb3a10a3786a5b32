"""A score-level blend of two content → CF maps for cold items (registered as ``cold_blend``).

``meta`` and ``text_side`` are :class:`~recutils.models.coldstart.mapping.ContentToCF` settings
(by default the metadata-only MLP onto ALS factors, and the ridge map of metadata + text onto
EASE's columns). Both are fitted on the same training data; on the **new** items (no training
rating) each user's scores of each map are standardised (mean 0, standard deviation 1 over the
new items) and blended::

    score(u, j) = (1 − blend_weight) · z_meta(u, j) + blend_weight · z_text(u, j)

so the two maps' different scales do not matter; ``blend_weight`` is chosen on a validation
carve-out by the caller. Warm items keep the ``meta`` map's warm (CF) scores. A fitted map is
reused across blend weights for the same training data object and settings (weakly held), so
a weight grid costs one fit per map.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...config import param
from ...errors import ConfigError
from ..base import Recommender
from ..registry import register
from .mapping import ContentToCF, warm_mask

__all__ = ["ColdBlend", "ColdBlendConfig"]


def _overrides(v) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) for k in v)


@dataclass
class ColdBlendConfig:
    blend_weight: float = param(0.5, ge=0, le=1)  #: weight of the ``text_side`` map's standardised scores
    #: ContentToCF settings of the first map (default: the metadata-only MLP onto ALS factors)
    meta: dict = param(default_factory=lambda: {"target": "als", "mapper": "mlp", "text": False},
                       check=_overrides, expect="a mapping of content_to_cf settings")
    #: ContentToCF settings of the second map (default: ridge of metadata + text onto EASE columns)
    text_side: dict = param(default_factory=lambda: {"target": "ease", "mapper": "ridge"},
                            check=_overrides, expect="a mapping of content_to_cf settings")


#: fitted maps per training data object (weakly held) and settings
_FITTED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _zscore(S: np.ndarray) -> np.ndarray:
    sd = S.std(1, keepdims=True)
    return (S - S.mean(1, keepdims=True)) / np.where(sd > 1e-12, sd, 1.0)


@register
class ColdBlend(Recommender):
    """``(1 − w)·z(meta map) + w·z(text map)`` on new items (see :mod:`recutils.models.coldstart.blend`)."""

    name = "cold_blend"
    needs_item_table = True
    determinism = "kernel"  # the MLP / ALS / text embeddings behind the maps
    Config = ColdBlendConfig

    def __init__(self, config: ColdBlendConfig | None = None, item_table: pd.DataFrame | None = None,
                 embeddings=None, **overrides):
        super().__init__(config, **overrides)
        self.item_table, self.embeddings = item_table, embeddings
        try:
            self.maps_ = [ContentToCF(item_table=item_table, embeddings=embeddings, **dict(d))
                          for d in (self.config.meta, self.config.text_side)]
        except (TypeError, ConfigError) as exc:
            raise ConfigError(f"model 'cold_blend': a map's settings are invalid: {exc}") from None

    def _map_scores(self, m: ContentToCF, data) -> np.ndarray:
        key = (repr(m.config), id(self.item_table), id(self.embeddings) if m.config.text else None)
        per = _FITTED.setdefault(data, {})
        if key not in per or per[key][0] is not self.item_table or (m.config.text and per[key][1] is not self.embeddings):
            per[key] = (self.item_table, self.embeddings, m.fit(data).scores_)
        return per[key][2]

    def _fit(self, split):
        warm = warm_mask(split)
        S_meta, S_text = (self._map_scores(m, split) for m in self.maps_)
        w = float(self.config.blend_weight)
        scores = np.array(S_meta, np.float32)
        if (~warm).any():
            z = (1 - w) * _zscore(np.asarray(S_meta[:, ~warm], np.float64)) + w * _zscore(np.asarray(S_text[:, ~warm], np.float64))
            scores[:, ~warm] = z
        self.scores_ = scores
        self.warm_ = warm

    def score(self, user_indices):
        self._check_fitted()
        return self.scores_[np.atleast_1d(user_indices)]
