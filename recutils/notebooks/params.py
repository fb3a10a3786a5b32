"""Notebook parameters: the ``parameters`` cell's names and literals, the params files, type checks.

A notebook's ``params/NN_name.LEVEL.yaml`` may set only names its ``parameters`` cell declares,
each with the type of that cell's literal and within its notebook's schema
(:mod:`recutils.notebooks.schemas`: ranges, non-empty grids, valid model-config overrides);
everything is checked before any cell runs.
"""

from __future__ import annotations

import ast
from typing import Any

from ..errors import RecutilsError
from .discovery import Notebook, _rel

LEVELS = ("smoke", "full")
PARAMETERS_TAG = "parameters"
REQUIRED_PARAMETERS = ("output_dir", "data_dir", "seed")


def parameter_names(source: str) -> list[str]:
    """Names assigned at top level in a parameters cell's source, in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise RecutilsError(f"the parameters cell does not parse: {exc}") from None
    names: list[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Name) and t.id not in names:
                names.append(t.id)
    return names


_NOT_A_LITERAL = object()


def parameter_defaults(source: str) -> dict[str, Any]:
    """Each top-level name of a parameters cell with its literal value (the last assignment);
    a value that is not a literal maps to an opaque marker and is not type-checked."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise RecutilsError(f"the parameters cell does not parse: {exc}") from None
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        try:
            lit = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            lit = _NOT_A_LITERAL
        for t in targets:
            if isinstance(t, ast.Name):
                out[t.id] = lit
    return out


def _type_name(v: Any) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a mapping", tuple: "a list"}.get(type(v), type(v).__name__)


def _fits(default: Any, value: Any) -> bool:
    """Whether ``value`` (from YAML) has the type of the parameters cell's literal ``default``."""
    if default is _NOT_A_LITERAL or default is None:
        return True  # None declares "anything (or nothing)": e.g. data_dir, cache_dir
    if value is None:
        return False
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            return False
        kinds = {type(d) for d in default}
        if len(kinds) == 1 and default:  # a homogeneous list declares its elements' type
            return all(_fits(default[0], v) for v in value)
        return True
    if isinstance(default, dict):
        return isinstance(value, dict)
    return True


def check_param_types(params: dict, defaults: dict[str, Any], where: str = "params") -> None:
    """Every given parameter must have the type of its literal in the parameters cell
    (integers are accepted for numbers); raises one error naming every bad parameter."""
    bad = []
    for key, value in params.items():
        default = defaults.get(key, _NOT_A_LITERAL)
        if not _fits(default, value):
            what = _type_name(default)
            if isinstance(default, (list, tuple)) and default and isinstance(value, (list, tuple)):
                what = f"a list of {_type_name(default[0]).removeprefix('a ').removeprefix('an ')}s"
            bad.append(f"{key} must be {what} like its default {default!r}, got {value!r}")
    if bad:
        raise RecutilsError(f"{where}: " + "; ".join(bad))


def parameters_cell(cells: list[dict]) -> dict | None:
    """The first code cell tagged ``parameters`` (None if there is none)."""
    for c in cells:
        if c.get("cell_type") == "code" and PARAMETERS_TAG in c.get("metadata", {}).get("tags", []):
            return c
    return None


def read_source(nb: Notebook):
    """The notebook as jupytext reads its ``.py`` source."""
    import jupytext

    if not nb.source.is_file():
        raise RecutilsError(f"{_rel(nb.source, nb.root)} does not exist")
    return jupytext.read(nb.source)


def _parameters_source(nb: Notebook) -> str:
    cell = parameters_cell(read_source(nb).cells)
    if cell is None:
        raise RecutilsError(f"{_rel(nb.source, nb.root)} has no code cell tagged parameters (`# %% tags=[\"parameters\"]`)")
    return cell["source"]


def declared_parameters(nb: Notebook) -> list[str]:
    return parameter_names(_parameters_source(nb))


def load_params(nb: Notebook, level: str) -> dict:
    """The mapping in ``params/NAME.LEVEL.yaml``."""
    import yaml

    folder = nb.params_file(LEVELS[0]).parent
    have = sorted(p.name.split(".")[-2] for p in folder.glob(f"{nb.name}.*.yaml"))
    if "/" in level or "\\" in level or level.endswith((".yaml", ".yml")):
        raise RecutilsError(f"params level {level!r} is a path: name a level of params/{nb.name}.LEVEL.yaml "
                            f"({', '.join(have)})")
    path = nb.params_file(level)
    if not path.is_file():
        if level not in LEVELS:
            raise RecutilsError(f"unknown params level {level!r} for {nb.name}; available: {', '.join(have)}")
        raise RecutilsError(f"{_rel(path, nb.root)} is missing: every notebook needs params/{nb.name}.{{smoke,full}}.yaml")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise RecutilsError(f"{_rel(path, nb.root)} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RecutilsError(f"{_rel(path, nb.root)} must hold a mapping of parameter: value")
    return data


def resolve_params(params: dict, declared: list[str], default_output_dir: str, output_dir: str | None = None,
                   where: str = "params") -> dict:
    """Validate ``params`` against the ``declared`` names and settle ``output_dir``:
    the ``output_dir`` argument, else the file's, else ``default_output_dir``."""
    missing = [p for p in REQUIRED_PARAMETERS if p not in declared]
    if missing:
        raise RecutilsError(f"the parameters cell must declare {', '.join(missing)} (convention: output_dir, data_dir, seed)")
    unknown = [k for k in params if k not in declared]
    if unknown:
        raise RecutilsError(f"{where}: unknown parameter(s) {', '.join(unknown)}; the parameters cell declares {', '.join(declared)}")
    out = dict(params)
    out["output_dir"] = str(output_dir if output_dir is not None else params.get("output_dir") or default_output_dir)
    return out


def notebook_params(nb: Notebook, level: str, output_dir: str | None = None) -> dict:
    """The checked parameters of ``params/NAME.LEVEL.yaml``: known names, the types of the
    parameters cell's literals (checked before any cell runs)."""
    source = _parameters_source(nb)
    where = _rel(nb.params_file(level), nb.root)
    params = load_params(nb, level)
    resolved = resolve_params(params, parameter_names(source), nb.default_output_dir, output_dir, where=where)
    defaults = parameter_defaults(source)
    check_param_types(params, defaults, where=where)
    # the typed config of the notebook's parameters (recutils.notebooks.schemas): the cell's own
    # defaults, then the params file's values, each blamed on the file it came from
    from .schemas import check_schema

    check_schema(nb.name, {k: v for k, v in defaults.items() if v is not _NOT_A_LITERAL and k not in params},
                 _rel(nb.source, nb.root))
    check_schema(nb.name, params, where)
    return resolved
