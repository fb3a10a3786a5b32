"""Every recommender, one interface (:class:`Recommender`), one registry.

``MODELS`` maps a CLI name to ``"module:Class"``; classes are imported lazily so that
``mostpop`` never pays for importing torch.
"""

from __future__ import annotations

import importlib

from ..errors import RecutilsError
from .base import NotFittedError, Recommender
from .config import build_config

MODELS: dict[str, str] = {
    "mostpop": "recutils.models.baselines:MostPop",
    "itemknn": "recutils.models.baselines:ItemKNN",
    "ease": "recutils.models.baselines:EASE",
    "pmf": "recutils.models.pmf:PMF",
    "als": "recutils.models.als:ALS",
    "itemcf": "recutils.models.item_cf:ItemCF",
    "torch_cf": "recutils.models.torch_cf:TorchCF",
    "globalmean": "recutils.models.rating_baselines:GlobalMean",
    "bias": "recutils.models.rating_baselines:BiasBaseline",
    "cornac_mf": "recutils.models.rating_baselines:CornacMF",
    "content": "recutils.models.content:Content",
    "hybrid": "recutils.models.hybrid:Hybrid",
    "ease_r": "recutils.models.rating_ease:RatingEASE",
}


def get_model_class(name: str) -> type[Recommender]:
    if name not in MODELS:
        raise RecutilsError(f"unknown model {name!r}; valid models: {', '.join(sorted(MODELS))}")
    mod, cls = MODELS[name].split(":")
    return getattr(importlib.import_module(mod), cls)


def create(name: str, **overrides) -> Recommender:
    """Instantiate a registered model, overriding config fields by keyword. Unknown fields and
    values outside a field's declared range are a :class:`~recutils.errors.ConfigError`."""
    cls = get_model_class(name)
    return cls(**overrides)  # Recommender.__init__ builds and validates the config


def check_params(name: str, **overrides):
    """The validated config ``create(name, **overrides)`` would use, without building the model
    (e.g. to reject a whole tuning grid before fitting anything)."""
    cls = get_model_class(name)
    return build_config(cls.Config, f"model {cls.name!r}", overrides)


__all__ = ["MODELS", "NotFittedError", "Recommender", "check_params", "create", "get_model_class"]
