"""A PyTorch rating model: collaborative embeddings + TMDB numeric features + genres.

The recsys app's "4. PyTorch" network, rebuilt behind the project's interface:

    r̂_ui = μ + b_u + b_i [+ p_u·q_i] + MLP([p_u, q_i, f_num(x_i), f_genre(g_i)])

One concern per module:

- :mod:`.config`: :class:`TorchCFConfig` (hyper-parameters, declared constraints);
- :mod:`.features`: :func:`build_item_features` → :class:`ItemFeatures` (scaled TMDB
  numbers with missing-value indicators, genre multi-hot);
- :mod:`.net`: :class:`TorchCFNet`, the ``nn.Module`` (its state-dict keys are the saved format);
- :mod:`.train`: the training loop, early stopping and refit (:func:`fit_net`);
- :mod:`.model`: :class:`TorchCF`, the :class:`~recutils.models.base.Recommender`
  (fit / predict / score / save / load);
- its speed per torch thread count is measured by :func:`recutils.bench.torch_cf.thread_benchmark`.

Importing this package does not import torch (:mod:`.net` and :mod:`.train` are loaded when a
model is fitted or loaded; ``TorchCFNet`` / ``fit_net`` here load them on first access).
"""

from __future__ import annotations

from .config import TorchCFConfig
from .features import MISSING_FEATURES, NUMERIC_FEATURES, ItemFeatures, build_item_features
from .model import CONFIG_FILE, WEIGHTS_FILE, TorchCF

_LAZY = {"TorchCFNet": ".net", "fit_net": ".train"}


def __getattr__(name: str):
    """``TorchCFNet`` and ``fit_net`` on first access (they need torch)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# TorchCFNet / fit_net stay out of __all__ so that a star import does not import torch
__all__ = [
    "CONFIG_FILE", "MISSING_FEATURES", "NUMERIC_FEATURES", "WEIGHTS_FILE", "ItemFeatures", "TorchCF",
    "TorchCFConfig", "build_item_features", ]
