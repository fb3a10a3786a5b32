"""Hyper-parameters of :class:`~recutils.models.torch_cf.TorchCF`.

Each field declares what it accepts through :func:`recutils.config.param`; the
:class:`~recutils.models.base.Recommender` base class validates every config it is built with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ...constants import SEED
from ...config import param
from ...torch_threads import valid_threads

__all__ = ["TorchCFConfig"]


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
    #: with ``side_features``: feed the TMDB numbers and genres (False, with ``text_dim`` > 0: text only)
    metadata: bool = True
    #: output size of the item-text projection (Linear → BatchNorm → ReLU → Dropout over the movie's
    #: text embedding, given to TorchCF as ``item_text``); 0: no text features (today's model)
    text_dim: int = param(0, ge=0)
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
    #: torch intra-op threads in fit / score (restored afterwards); "auto": the cores free when
    #: fitting starts, re-checked every few seconds (recutils.torch_threads). Default 1: on the
    #: shared 2-core machine two threads trained 1.07–1.25× faster with both cores free and 6–15×
    #: slower when another process took a core back (OpenMP threads wait for each other)
    num_threads: int | Literal["auto"] = param(1, check=valid_threads, expect="a whole number ≥ 1 or 'auto'")
    score_chunk: int = param(4096, ge=1)  #: user × item pairs per block in ``score`` (small blocks stay in cache)
    progress: bool = False  #: a bar over epochs (progress events for the terminal are written whatever this says)
    seed: int = param(SEED, ge=0)

    def __post_init__(self):
        # whole-number widths as ints (e.g. from JSON); anything else is left for validation to report
        if isinstance(self.hidden, (list, tuple)) and all(
                isinstance(h, (int, np.integer)) or (isinstance(h, float) and h.is_integer()) for h in self.hidden):
            self.hidden = [int(h) for h in self.hidden]
