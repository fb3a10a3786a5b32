"""The one interface every model implements (in the spirit of cornac's ``Recommender``).

- ``fit(data) -> self`` learns from a :class:`~recutils.splits.TrainData` only (a
  :class:`~recutils.splits.Split` is reduced to its ``without_test()`` first), so a model
  cannot see a test or validation part by construction;
- ``score(user_indices) -> ndarray (len(users), n_items)``: higher is better, for every item
  of the split's universe (``-inf`` where a model cannot score an item);
- ``rank`` / ``recommend`` are shared: seen-item exclusion, optional candidate masks and the
  raw-id mapping live here once.

Each model has a dataclass ``Config``; ``config_dict()`` is saved next to its metrics. Its
fields declare what they accept (:mod:`recutils.config`); every config a model is built
with is validated once, here, so a bad value is a clear :class:`~recutils.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..constants import COL_ITEM, K
from ..errors import NotFoundError, RecutilsError
from ..evaluation.metrics import top_k
from ..config import check_k, new_config, validate_config


class NotFittedError(RecutilsError):
    pass


@dataclasses.dataclass
class EmptyConfig:
    pass


class Recommender:
    """Base class. Subclasses set ``name``, ``Config`` and implement ``_fit`` and ``score``."""

    name: ClassVar[str] = "recommender"
    Config: ClassVar[type] = EmptyConfig
    #: the model reads item metadata (the movie table), given to its constructor as ``item_table``
    #: by whoever loads the data (CLIs, experiments, the service) — never loaded inside ``fit``
    needs_item_table: ClassVar[bool] = False
    #: how reproducible the model's results are across CPUs (recutils.provenance): "exact" for
    #: closed-form and compiled-loop models (same numbers on every CPU up to 1e-6), "kernel" when
    #: they come from CPU-dispatched kernels (OpenBLAS / oneDNN / JVM summation order) that move
    #: the last digits, and so rankings by a near-tie or two, from one CPU to another
    determinism: ClassVar[str] = "exact"

    def __init__(self, config: Any = None, **overrides):
        owner = f"model {self.name!r}"
        if config is None or overrides:
            config = new_config(self.Config if config is None else type(config), owner, overrides, base=config)
        self.config = validate_config(config, owner)
        self.split_ = None

    # --- to implement --------------------------------------------------------------
    def _fit(self, split) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def score(self, user_indices) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # --- shared --------------------------------------------------------------------
    def fit(self, data) -> "Recommender":
        """Learn from the training data; returns ``self``.

        ``data`` is a :class:`~recutils.splits.TrainData`, or a :class:`~recutils.splits.Split`
        whose :meth:`~recutils.splits.Split.without_test` is used: ``_fit`` only ever receives
        the training part, so nothing held out can leak into a model."""
        from ..splits import Split, TrainData

        train = data.without_test() if isinstance(data, Split) else data
        if not isinstance(train, TrainData):
            raise RecutilsError(f"{self.name}.fit() takes a Split or TrainData, got {type(data).__name__}")
        self.split_ = train
        self._fit(train)
        return self

    def _check_fitted(self):
        if self.split_ is None:
            raise NotFittedError(f"{self.name}: call fit() before scoring")

    @property
    def n_items(self) -> int:
        self._check_fitted()
        return self.split_.n_items

    def config_dict(self) -> dict:
        return {"model": self.name, **dataclasses.asdict(self.config)}

    def masked_scores(self, user_indices, exclude_seen: bool = True, candidates: np.ndarray | None = None,
                      dtype=np.float64) -> np.ndarray:
        """``score`` with seen train items (and non-candidates) set to ``-inf``, as ``dtype``
        (float32 halves the memory of a batch; the evaluator uses it)."""
        self._check_fitted()
        users = np.atleast_1d(np.asarray(user_indices, dtype=np.int64))
        s = np.array(self.score(users), dtype=dtype, copy=True)
        if s.shape != (len(users), self.n_items):
            raise ValueError(f"{self.name}.score returned shape {s.shape}, expected {(len(users), self.n_items)}")
        s[np.isnan(s)] = -np.inf
        if exclude_seen:
            seen = self.split_.train_binary[users]
            rows = np.repeat(np.arange(len(users)), np.diff(seen.indptr))
            s[rows, seen.indices] = -np.inf
        if candidates is not None:
            s[:, ~np.asarray(candidates, bool)] = -np.inf
        return s

    def rank(self, user_indices, k: int = K, exclude_seen: bool = True, candidates: np.ndarray | None = None,
             dtype=np.float64) -> np.ndarray:
        """Top-``k`` item indices per user (best first); scores ranked as ``dtype``."""
        return top_k(self.masked_scores(user_indices, exclude_seen, candidates, dtype), k)

    def recommend(self, user_id, k: int = K, exclude_seen: bool = True) -> pd.DataFrame:
        """Top-``k`` movies for one raw user id: ``movieId, score, rank``."""
        self._check_fitted()
        u = self.split_.uidx(user_id)[0]
        if u < 0:
            raise NotFoundError(f"unknown user {user_id!r}: not in the training data")
        k = check_k(k)
        s = self.masked_scores([u], exclude_seen)
        idx = top_k(s, k)[0]
        sc = s[0, idx]
        keep = np.isfinite(sc)
        idx, sc = idx[keep], sc[keep]
        return pd.DataFrame({COL_ITEM: self.split_.items[idx], "score": sc, "rank": np.arange(1, len(idx) + 1)})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"
