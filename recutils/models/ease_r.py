"""EASE on graded interactions: the item–item model fitted to ``X_ui = (r_ui / 5)^power`` instead of 0/1.

Relevance in this project is "rated ≥ 4"; weighting the input by the rating lets EASE reconstruct
*liked* co-occurrences more than merely *seen* ones. ``power = 0`` is plain (binary) EASE.
Everything else (Woodbury solve, zero diagonal, scoring) is :class:`~recutils.models.baselines.EASE`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .baselines import EASE
from ..config import param
from .registry import register


@dataclass
class RatingEASEConfig:
    lambda_: float = param(100.0, gt=0)  #: L2 regularisation λ (tuned on the validation split)
    power: float = param(2.0, ge=0)  #: X = (rating / 5) ** power (0 = binary EASE); tuned on the validation split
    rating_scale: float = param(5.0, gt=0)
    max_items: int = param(0, ge=0)  #: as EASE: keep the most-rated items only (0: all)
    max_memory_gb: float = param(8.0, gt=0)  #: as EASE: refuse a fit that needs more
    solver: str = param("auto", choices=("auto", "woodbury", "items"))  #: as EASE


@register
class RatingEASE(EASE):
    """EASE fitted on rating-weighted interactions (see module docstring)."""

    name = "ease_r"
    Config = RatingEASEConfig

    def _fit(self, split):
        c = self.config  # power ≥ 0, rating_scale > 0: checked when the config was built
        X = split.train_ratings.tocsr().astype(np.float64)
        X.data = (X.data / c.rating_scale) ** c.power if c.power > 0 else np.ones_like(X.data)
        self._fit_matrix(X)
