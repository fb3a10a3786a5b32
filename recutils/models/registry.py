"""One registry of recommenders, filled by the :func:`register` class decorator.

A model is a :class:`~recutils.models.base.Recommender` subclass in any module of
``recutils.models`` (a module, or a package for a larger model), decorated with
``@register``; its key is the class's ``name``. Nothing else lists models: the CLIs, the
service, ``python -m recutils.models list``, the README check and the contract test suite
all ask this registry. Modules are imported on demand, in name order, until the asked-for
model is found (``mostpop`` never pays for importing torch); :func:`available` imports them all.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import ClassVar

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


@dataclasses.dataclass
class ModelSpec:
    """A registered model by ``name`` with overrides of its config (``params``): e.g. a hybrid's
    CF base. From ``key=value`` strings (``--param base=ease --param base.lambda_=300``) the
    params arrive as strings and are converted to the named model's field types by
    :meth:`config`; a bad name or value is a :class:`~recutils.errors.ConfigError` naming it."""

    name: str = "pmf"
    params: dict = dataclasses.field(default_factory=dict)

    #: keys that are not ModelSpec fields go into ``params`` (recutils.config.parse_params)
    EXTRA_FIELD: ClassVar[str] = "params"

    @classmethod
    def parse(cls, text: str) -> dict:
        return {"name": text.strip()}

    def config(self, owner: str = "model"):
        """The named model's validated config with ``params`` applied."""
        from ..config import build_config, parse_params
        from ..errors import ConfigError

        model_cls = get_model_class(self.name)
        raw = {k: v for k, v in self.params.items() if isinstance(v, str)}
        typed = parse_params(model_cls, [f"{k}={v}" for k, v in raw.items()]) if raw else {}
        # a string given for a str field stays as given
        values = {**self.params, **typed}
        try:
            return build_config(model_cls.Config, f"model {self.name!r}", values)
        except ConfigError as exc:
            raise ConfigError(f"{owner}: {exc}") from None

    def build(self, owner: str = "model"):
        """A new, unfitted instance of the named model with ``params``."""
        return get_model_class(self.name)(self.config(owner))
