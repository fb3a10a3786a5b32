"""The one "choose on validation" loop of the project.

Every choice a study makes — a model's grid, a blend's α and base normalisation, a cold-start
mapper's settings, a cold scorer's parameters — is :func:`choose_on_validation`: try each
option, score it on a *validation* split (the caller's ``score`` fits on the validation
training part and evaluates on the carve-out; test is never seen), keep one row per option and
return the best as a :class:`Choice`. Ties keep the earliest option unless ``tie_break`` says
otherwise (e.g. the blend weight: the larger α, closer to the base).

    choice = choose_on_validation(expand_grid({"lambda_": [100, 300]}), score, "ndcg")
    choice.best, choice.score, choice.rows
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from ..errors import RecutilsError

__all__ = ["Choice", "best_label", "choose_on_validation", "expand_grid"]


@dataclass(frozen=True)
class Choice:
    """The chosen option (``best``: its parameters), its validation ``score`` under ``metric``,
    and one row per option tried (its parameters, then what ``score`` returned), in order.

    Unpacks as ``best, rows = choice`` (the shape of the older ``GridResult``)."""

    best: dict
    score: float
    rows: list
    metric: str

    def __iter__(self):
        return iter((self.best, self.rows))


def expand_grid(grid: Mapping[str, Sequence], fixed: Mapping | None = None) -> list[dict]:
    """Every combination of ``grid`` (in its key order, the last key varying fastest), each with
    ``fixed`` first; an empty ``grid`` is one option (``fixed`` alone)."""
    keys = list(grid)
    for key in keys:
        if isinstance(grid[key], (str, bytes)) or not len(grid[key]):
            raise RecutilsError(f"grid {key!r} must be a non-empty list of values, got {grid[key]!r}")
    return [{**dict(fixed or {}), **dict(zip(keys, combo))} for combo in itertools.product(*(grid[k] for k in keys))]


def choose_on_validation(options: Iterable[Mapping], score: Callable[[dict], Mapping[str, float]], metric: str,
                         *, lower_is_better: bool = False, tie_break: Callable[[dict], object] | None = None,
                         keys: Sequence[str] | None = None, on_each: Callable[[dict], None] | None = None) -> Choice:
    """Score every option with ``score(option) → {metric: value, …}`` and choose the best by
    ``metric`` (highest, or lowest with ``lower_is_better``).

    ``tie_break(row)``: a second sort key among rows equal to 12 decimals (larger wins); without
    it the earliest best row wins. ``keys``: the parameter names the chosen ``best`` keeps
    (default: every key of the option). ``on_each(row)``: called after each option (progress).
    NaN scores never win; every option scoring NaN is an error."""
    options = [dict(o) for o in options]
    if not options:
        raise RecutilsError("nothing to choose from: the grid is empty")
    rows = []
    for opt in options:
        got = dict(score(opt))
        if metric not in got:
            raise RecutilsError(f"the validation score has no {metric!r}; it has {', '.join(got) or 'nothing'}")
        rows.append({**opt, **got})
        if on_each is not None:
            on_each(rows[-1])
    sign = -1.0 if lower_is_better else 1.0

    def key(i: int):
        v = float(rows[i][metric])
        if not np.isfinite(v):
            return (-np.inf,) if tie_break is None else (-np.inf, -np.inf)
        if tie_break is None:
            return (sign * v,)
        return (round(sign * v, 12), tie_break(rows[i]))

    best_i = max(range(len(rows)), key=key)  # max keeps the first of equal keys
    if not np.isfinite(float(rows[best_i][metric])):
        raise RecutilsError(f"every option scored {metric}=NaN on validation: nothing to choose")
    names = list(options[best_i]) if keys is None else list(keys)
    return Choice({k: rows[best_i][k] for k in names}, float(rows[best_i][metric]), rows, metric)


def best_label(scores: Mapping[str, float], metric: str = "score") -> str:
    """The label with the best validation score of ``{label: score}`` (the first on ties; NaN
    never wins): :func:`choose_on_validation` over labels whose scores are already known."""
    return choose_on_validation([{"label": lab} for lab in scores], lambda o: {metric: scores[o["label"]]},
                                metric).best["label"]
