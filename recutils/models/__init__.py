"""Every recommender, one interface (:class:`Recommender`), one registry.

``MODELS`` maps a CLI name to ``"module:Class"``; classes are imported lazily so that
``mostpop`` never pays for importing torch.
"""

from __future__ import annotations

import importlib

from ..errors import RecutilsError
from .base import NotFittedError, Recommender

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
    """Instantiate a registered model, overriding config fields by keyword."""
    import dataclasses

    cls = get_model_class(name)
    fields = {f.name: f for f in dataclasses.fields(cls.Config)}
    bad = [k for k in overrides if k not in fields]
    if bad:
        raise RecutilsError(f"model {name!r} has no parameter(s) {bad}; valid: {', '.join(fields) or '(none)'}")
    return cls(**overrides)


__all__ = ["MODELS", "NotFittedError", "Recommender", "create", "get_model_class"]
