"""Every recommender, one interface (:class:`Recommender`), one registry.

Models register themselves with the :func:`register` class decorator (key: the class's
``name``); :func:`get_model_class` imports model modules on demand, so ``mostpop`` never pays
for importing torch. ``python -m recutils.models list`` prints every model with its config.
"""

from __future__ import annotations

from .base import NotFittedError, Recommender
from ..config import build_config
from .registry import available, get_model_class, register, registry


def create(name: str, item_table=None, **overrides) -> Recommender:
    """Instantiate a registered model, overriding config fields by keyword. Unknown fields and
    values outside a field's declared range are a :class:`~recutils.errors.ConfigError`.
    ``item_table`` (the movie table) is handed to models that declare ``needs_item_table``."""
    cls = get_model_class(name)
    if cls.needs_item_table:
        return cls(item_table=item_table, **overrides)
    return cls(**overrides)  # Recommender.__init__ builds and validates the config


def check_params(name: str, **overrides):
    """The validated config ``create(name, **overrides)`` would use, without building the model
    (e.g. to reject a whole tuning grid before fitting anything)."""
    cls = get_model_class(name)
    return build_config(cls.Config, f"model {cls.name!r}", overrides)


__all__ = ["NotFittedError", "Recommender", "available", "check_params", "create", "get_model_class",
           "register", "registry"]
