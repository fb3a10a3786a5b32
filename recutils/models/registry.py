"""One registry of recommenders, filled by the :func:`register` class decorator.

A model is a :class:`~recutils.models.base.Recommender` subclass in any module of
``recutils.models`` (a module, or a package for a larger model), decorated with
``@register``; its key is the class's ``name``. Nothing else lists models: the CLIs, the
service, ``python -m recutils.models list``, the README check and the contract test suite
all ask this registry. Modules are imported on demand, in name order, until the asked-for
model is found (``mostpop`` never pays for importing torch); :func:`available` imports them all.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..errors import RecutilsError

_REGISTRY: dict[str, type] = {}
#: modules of recutils.models that hold infrastructure, not models
_INFRASTRUCTURE = frozenset({"base", "config", "registry", "__main__"})
_discovered = False


def register(cls: type) -> type:
    """Class decorator: add ``cls`` to the registry under ``cls.name``."""
    from .base import Recommender

    if not (isinstance(cls, type) and issubclass(cls, Recommender)):
        raise TypeError(f"@register takes a Recommender subclass, got {cls!r}")
    name = cls.__dict__.get("name")
    if not isinstance(name, str) or not name or name == Recommender.name:
        raise TypeError(f"{cls.__qualname__} must set its own `name` to be registered")
    other = _REGISTRY.get(name)
    if other is not None and other is not cls and (other.__module__, other.__qualname__) != (cls.__module__, cls.__qualname__):
        raise TypeError(f"two models named {name!r}: {other.__module__}.{other.__qualname__} and "
                        f"{cls.__module__}.{cls.__qualname__}")
    _REGISTRY[name] = cls
    return cls


def _model_modules() -> list[str]:
    from . import __path__ as models_path

    return sorted(m.name for m in pkgutil.iter_modules(models_path) if m.name not in _INFRASTRUCTURE)


def _discover(until: str | None = None) -> None:
    """Import model modules in name order (all of them, or until ``until`` is registered)."""
    global _discovered
    if _discovered:
        return
    for mod in _model_modules():
        if until is not None and until in _REGISTRY:
            return
        importlib.import_module(f"{__package__}.{mod}")
    _discovered = True


def available() -> list[str]:
    """Every registered model name, sorted."""
    _discover()
    return sorted(_REGISTRY)


def registry() -> dict[str, type]:
    """Name → class for every registered model, sorted by name."""
    _discover()
    return {name: _REGISTRY[name] for name in sorted(_REGISTRY)}


def get_model_class(name: str) -> type:
    """The class registered as ``name``; an unknown name lists the valid ones."""
    if not isinstance(name, str) or name not in _REGISTRY:
        _discover(until=name if isinstance(name, str) else None)
    if not isinstance(name, str) or name not in _REGISTRY:
        raise RecutilsError(f"unknown model {name!r}; valid models: {', '.join(available())}")
    return _REGISTRY[name]
