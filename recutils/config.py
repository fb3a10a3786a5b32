"""Declarative constraints on config dataclass fields, checked in one place.

A field declares what it accepts in its ``metadata`` (or through :func:`param`, which builds
that metadata)::

    @dataclass
    class EASEConfig:
        lambda_: float = param(300.0, gt=0)

Keys: ``ge`` / ``gt`` / ``le`` / ``lt`` (bounds; for a list or tuple, on every element),
``choices`` (allowed values), ``min_len`` (list / tuple length), ``check`` + ``expect`` (a
predicate and the words describing what it accepts). The annotated type is checked too:
``bool`` fields take booleans, ``int`` fields whole numbers, ``float`` fields any real number,
``str`` fields strings, ``X | None`` also ``None``; **floats must always be finite**.

:func:`validate_config` checks every field of a config and raises one :class:`ConfigError`
naming the owner (e.g. ``model 'ease'``), each bad field, its value and what is allowed.
:class:`~recutils.models.base.Recommender` calls it on every config it is built with, so
``create()``, direct construction and ``dataclasses.replace`` overrides are all covered.
Validation never changes a value: defaults and fits stay exactly as they were.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import types
import typing
from typing import Any, Callable

from .errors import ConfigError

_KEYS = ("ge", "gt", "le", "lt", "choices", "min_len", "check", "expect")


def check_k(k, name: str = "k") -> int:
    """The one rule for a list length: ``k`` as a positive int, else a one-line error naming
    ``name`` (``k``, ``--k``) — models, search, the CLIs and the service's query all use it."""
    import numpy as np

    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"{name} must be a positive whole number, got {k!r}")
    return int(k)


def param(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING,
          ge=None, gt=None, le=None, lt=None, choices=None, min_len: int | None = None,
          check: Callable[[Any], bool] | None = None, expect: str | None = None) -> Any:
    """``dataclasses.field`` with validation constraints in its metadata (see module docstring)."""
    meta = {k: v for k, v in dict(ge=ge, gt=gt, le=le, lt=lt, choices=choices, min_len=min_len,
                                  check=check, expect=expect).items() if v is not None}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=meta)


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # unresolvable annotation: check constraints only
        return {}


def _range_text(m) -> str | None:
    lo = ("[", m["ge"]) if "ge" in m else ("(", m["gt"]) if "gt" in m else None
    hi = (m["le"], "]") if "le" in m else (m["lt"], ")") if "lt" in m else None
    if lo and hi:
        return f"in {lo[0]}{lo[1]:g}, {hi[0]:g}{hi[1]}"
    if lo:
        return f"{'≥' if lo[0] == '[' else '>'} {lo[1]:g}"
    if hi:
        return f"{'≤' if hi[1] == ']' else '<'} {hi[0]:g}"
    return None


def _in_range(v, m) -> bool:
    return (("ge" not in m or v >= m["ge"]) and ("gt" not in m or v > m["gt"])
            and ("le" not in m or v <= m["le"]) and ("lt" not in m or v < m["lt"]))


def _is_bool(v) -> bool:
    return isinstance(v, bool) or type(v).__name__ == "bool_"  # numpy.bool_


def nested_type(t) -> type | None:
    """The config dataclass behind a field annotated ``D`` or ``D | None`` (else None)."""
    origin = typing.get_origin(t)
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        args = [a for a in typing.get_args(t) if a is not type(None)]
        t = args[0] if len(args) == 1 else None
    return t if isinstance(t, type) and dataclasses.is_dataclass(t) else None


def _optional(t) -> bool:
    origin = typing.get_origin(t)
    return (origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType)) \
        and type(None) in typing.get_args(t)


def _describe_type(t) -> str:
    if typing.get_origin(t) is typing.Literal:
        return ", ".join(map(repr, typing.get_args(t)))
    return {bool: "true/false", int: "a whole number", float: "a finite number", str: "a string"}.get(t, str(t))


def _type_problem(v, t) -> str | None:
    """Why ``v`` does not fit annotation ``t`` (None when it does or ``t`` is not checked)."""
    origin = typing.get_origin(t)
    if origin is typing.Literal:
        return None if any(v == a and type(v) is type(a) for a in typing.get_args(t)) else \
            f"must be one of {', '.join(map(repr, typing.get_args(t)))}"
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        args = typing.get_args(t)
        if v is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _type_problem(v, rest[0])
        if any(_type_problem(v, a) is None for a in rest):
            return None
        return "must be " + " or ".join(_describe_type(a) for a in rest)
    if origin in (list, tuple):
        if not isinstance(v, (list, tuple)):
            return "must be a list"
        args = [a for a in typing.get_args(t) if a is not Ellipsis]
        if args:
            for x in v:
                p = _type_problem(x, args[0])
                if p:
                    return f"must be a list ({p.replace('must be ', 'each ')})"
        return None
    if t is bool:
        return None if _is_bool(v) else "must be true or false"
    if t is int:
        return None if isinstance(v, numbers.Integral) and not _is_bool(v) else "must be a whole number"
    if t is float:
        if not isinstance(v, numbers.Real) or _is_bool(v):
            return "must be a number"
        return None if math.isfinite(v) else "must be a finite number"
    if t is str:
        return None if isinstance(v, str) else "must be a string"
    return None


def field_problem(value, ftype, meta) -> str | None:
    """What is wrong with one field value, or ``None``."""
    p = _type_problem(value, ftype)
    if p:
        return p
    if isinstance(value, numbers.Real) and not _is_bool(value) and not math.isfinite(value):
        return "must be a finite number"  # also for fields without a float annotation
    m = {k: meta[k] for k in _KEYS if k in meta}
    if value is None:
        return None
    if "min_len" in m and isinstance(value, (list, tuple)) and len(value) < m["min_len"]:
        return f"must have at least {m['min_len']} element{'s' if m['min_len'] != 1 else ''}"
    rng = _range_text(m)
    if rng:
        items = value if isinstance(value, (list, tuple)) else [value]
        for x in items:
            if not isinstance(x, numbers.Real) or _is_bool(x) or not _in_range(x, m):
                return f"must list values {rng}" if items is value else f"must be {rng}"
    if "choices" in m and value not in m["choices"]:
        return f"must be one of {', '.join(map(repr, m['choices']))}"
    if "check" in m:
        try:
            ok = m["check"](value)
        except Exception:
            ok = False
        if not ok:
            return f"must be {m.get('expect', 'valid')}"
    return None


def describe_fields(config_cls: type, prefix: str = "") -> list[str]:
    """``"name: type = default (constraint)"`` for each init field of a config dataclass; the
    fields of a nested config follow as ``name.field: …``."""
    if not dataclasses.is_dataclass(config_cls):
        return []
    hints = _hints(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        if not f.init:
            continue
        t = hints.get(f.name, f.type)
        nt = nested_type(t)
        if nt is not None:
            off = " (false/none: off; true: these defaults)" if _optional(t) else ""
            out.append(f"{prefix}{f.name}: {nt.__name__}{' | None' if _optional(t) else ''}{off}")
            out += describe_fields(nt, f"{prefix}{f.name}.")
            continue
        tname = getattr(t, "__name__", None) or str(t).replace("typing.", "")
        if f.default is not dataclasses.MISSING:
            default = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = repr(f.default_factory())  # type: ignore[misc]
        else:
            default = "(required)"
        m = f.metadata
        rule = _range_text(m) or (f"one of {', '.join(map(repr, m['choices']))}" if "choices" in m else None) \
            or m.get("expect")
        out.append(f"{prefix}{f.name}: {tname} = {default}" + (f"  ({rule})" if rule else ""))
    return out


def check_field(config_cls: type, name: str, value, owner: str | None = None):
    """``value`` checked against the declared rule of ``config_cls``'s field ``name`` (so a
    function taking that setting directly states no second copy of the rule); a one-line
    :class:`ConfigError` otherwise."""
    f = next((f for f in dataclasses.fields(config_cls) if f.name == name), None)
    if f is None:
        raise ConfigError(f"{config_cls.__name__} has no field {name!r}")
    p = field_problem(value, _hints(config_cls).get(name), f.metadata)
    if p:
        raise ConfigError(f"{owner + ': ' if owner else ''}{name} {p}, got {value!r}")
    return value


def config_problems(config, prefix: str = "") -> list[str]:
    """``"field must be …, got value"`` for every bad field of a config dataclass instance;
    nested configs are checked too (``"finetune.epochs must be ≥ 1, got 0"``)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        return []
    hints = _hints(type(config))
    out = []
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        nt = nested_type(hints.get(f.name))
        if nt is not None and isinstance(v, nt):
            out += config_problems(v, f"{prefix}{f.name}.")
            p = field_problem(v, None, {k: f.metadata[k] for k in ("check", "expect") if k in f.metadata})
        elif nt is not None and v is not None:
            p = f"must be a {nt.__name__}"
        else:
            p = field_problem(v, hints.get(f.name), f.metadata)
        if p:
            out.append(f"{prefix}{f.name} {p}, got {v!r}")
    return out


def validate_config(config, owner: str):
    """Raise :class:`ConfigError` (``"<owner>: <field> must be …, got …; …"``) if any field of
    ``config`` breaks its declared constraints or type; return ``config`` unchanged otherwise."""
    bad = config_problems(config)
    if bad:
        raise ConfigError(f"{owner}: " + "; ".join(bad))
    return config


def _default(config_cls: type, name: str):
    f = next(f for f in dataclasses.fields(config_cls) if f.name == name)
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def _nested_value(config_cls: type, owner: str, name: str, value, base):
    """A nested config field's value from a mapping of its fields (overriding the current or
    default value), ``True`` (the current value, else the defaults), ``False``/``None`` (none,
    for an optional field) or a string its class can ``parse`` (e.g. a model name)."""
    t = _hints(config_cls).get(name)
    nt = nested_type(t)
    if nt is None or isinstance(value, nt):
        return value
    current = getattr(base, name) if base is not None else _default(config_cls, name)
    current = current if isinstance(current, nt) else None
    if value is None or value is False:
        if _optional(t):
            return None
        raise ConfigError(f"{owner}: {name} cannot be turned off")
    if value is True:
        return current if current is not None else new_config(nt, f"{owner} {name}", {})
    if isinstance(value, str) and hasattr(nt, "parse"):
        value = nt.parse(value)
    if isinstance(value, dict):
        return new_config(nt, f"{owner} {name}", value, base=current)
    raise ConfigError(f"{owner}: {name} takes a mapping of its own parameters, got {value!r}")


def new_config(config_cls: type, owner: str, overrides: dict, base=None):
    """``config_cls(**overrides)`` (or ``dataclasses.replace(base, **overrides)``), *not yet
    validated*; nested config fields take a mapping of their own fields (see
    :func:`_nested_value`). An unknown field name, or a value its ``__post_init__`` cannot
    take, is a :class:`ConfigError`."""
    names = [f.name for f in dataclasses.fields(config_cls) if f.init]
    bad = [k for k in overrides if k not in names]
    if bad:
        raise ConfigError(f"{owner} has no parameter(s) {bad}; valid: {', '.join(names) or '(none)'}")
    values = {k: _nested_value(config_cls, owner, k, v, base) for k, v in overrides.items()}
    try:
        return config_cls(**values) if base is None else dataclasses.replace(base, **values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{owner}: {exc}") from None


def coerce_value(value: str, ftype):
    """Turn a ``key=value`` string value (a CLI ``--param``, a ``base_params`` entry) into the
    config field's type; a value that does not convert is a :class:`ConfigError`."""
    t = ftype if not isinstance(ftype, str) else {"int": int, "float": float, "bool": bool, "str": str}.get(ftype.split(" ")[0], str)
    origin = typing.get_origin(t)
    if origin is typing.Literal:
        if value in typing.get_args(t):
            return value
        raise ConfigError(f"expected one of {', '.join(map(repr, typing.get_args(t)))}, got {value!r}")
    if origin is typing.Union or str(t).startswith("typing.Optional") or " | " in str(ftype):
        args = [a for a in typing.get_args(t) if a is not type(None)] if origin else [str]
        if value.lower() in ("none", "null") and (not origin or type(None) in typing.get_args(t)):
            return None
        if len(args) > 1:  # a choice or a number: the first type the text converts to
            for a in args:
                try:
                    return coerce_value(value, a)
                except ConfigError:
                    continue
            raise ConfigError(f"expected {' or '.join(_describe_type(a) for a in args)}, got {value!r}")
        t = args[0] if args else str
    if t is bool:
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"expected true/false, got {value!r}")
    if t in (int, float, str):
        try:
            return t(value)
        except ValueError:
            raise ConfigError(f"expected {t.__name__}, got {value!r}") from None
    if typing.get_origin(t) in (tuple, list):
        args = [a for a in typing.get_args(t) if a is not Ellipsis]
        elem = args[0] if args and args[0] in (int, float, str, bool) else str
        items = [coerce_value(v.strip(), elem) for v in value.split(",") if v.strip()]
        return list(items) if typing.get_origin(t) is list else tuple(items)
    return value


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "none", "null")


def _assign(config_cls: type, path: list[str], text: str, out: dict, owner: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(config_cls) if f.init}
    name = path[0]
    if name not in fields:
        extra = getattr(config_cls, "EXTRA_FIELD", None)  # e.g. ModelSpec: unknown keys are the model's own
        if extra:
            out.setdefault(extra, {})[".".join(path)] = text
            return
        raise ConfigError(f"{owner} has no parameter {'.'.join(path)!r}; valid: {', '.join(fields) or '(none)'}")
    t = _hints(config_cls).get(name, str)
    nt = nested_type(t)
    if nt is None:
        if len(path) > 1:
            raise ConfigError(f"{owner}: {name} has no parameter {'.'.join(path[1:])!r}")
        try:
            out[name] = coerce_value(text, t)
        except ConfigError as exc:
            raise ConfigError(f"{owner}: {name}: {exc}") from None
        return
    sub = out.get(name)
    if len(path) == 1:
        low = text.strip().lower()
        if low in _FALSE:
            out[name] = None
        elif low in _TRUE:
            out[name] = sub if isinstance(sub, dict) else {}
        elif hasattr(nt, "parse"):
            out[name] = {**(sub if isinstance(sub, dict) else {}), **nt.parse(text)}
        else:
            raise ConfigError(f"{owner}: {name} takes true/false or {name}.<parameter>=value, got {text!r}")
        return
    if not isinstance(sub, dict):
        sub = out[name] = {}
    _assign(nt, path[1:], text, sub, f"{owner} {name}")


def parse_params(model_cls, pairs: list[str]) -> dict:
    """``["key=value", …]`` → typed overrides for ``model_cls.Config`` (not yet validated:
    :func:`build_config` does that, once, where the config is built). ``a.b=value`` sets field
    ``b`` of the nested config ``a`` (``content.finetune.epochs=1``); ``a=true`` / ``a=false``
    turns an optional nested config on (its defaults) or off."""
    out: dict = {}
    for p in pairs:
        if "=" not in p:
            raise ConfigError(f"--param takes key=value, got {p!r}")
        k, v = p.split("=", 1)
        path = [x.strip() for x in k.strip().split(".")]
        if not all(path):
            raise ConfigError(f"--param key {k!r} is not a name or dotted path")
        _assign(model_cls.Config, path, v.strip(), out, f"model {model_cls.name!r}")
    return out


def build_config(config_cls: type, owner: str, overrides: dict):
    """:func:`new_config` then :func:`validate_config`."""
    return validate_config(new_config(config_cls, owner, overrides), owner)


__all__ = ["build_config", "coerce_value", "nested_type", "parse_params", "new_config", "config_problems", "describe_fields", "field_problem", "param",
           "validate_config"]
