"""Notebooks orchestrate and explain; the study logic lives in ``recutils.experiments``.

Read from each notebook's jupytext source (its syntax tree, not its text):

- no loop (``for``, ``while`` or a comprehension) fits, evaluates or chooses anything, and none
  runs over seeds, grids or a blend's weights — the repeated-split runner, the experiment and
  the choose-on-validation loop do that (loops that print or plot what came back are fine);
- no ``metrics.json`` / ``config.json`` is built or written by hand: one
  :class:`recutils.experiments.Record` per notebook, written once.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))

#: calls that fit, evaluate or choose: never inside a notebook's loop
STUDY_CALLS = {
    "fit", "fit_transform", "evaluate_ranking", "evaluate_rating", "grid_search", "rating_grid_search",
    "choose_on_validation", "select_blend", "tune_alpha", "tune_blend", "multi_seed", "cold_multi_seed",
    "paired_bootstrap_ci", "fit_learned_blend", "apply_learned_blend", "fit_and_evaluate", "cold_table",
    "run_ablations", "mean_ci", "segment_means", "beyond_accuracy", "metrics_by_k",
}
#: names a loop may not run over: the seeds, a grid, a blend's weights, a penalty list
STUDY_ITERABLES = re.compile(r"^(seeds|\w*grids?|alphas|\w*_alphas|\w*lambdas)$", re.IGNORECASE)
#: writing results by hand
WRITERS = {"write_json", "dump", "dumps", "write_text"}


def _calls(node: ast.AST) -> set[str]:
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            out.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return out


def _names(node: ast.AST) -> set[str]:
    return {n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(node)
            if isinstance(n, (ast.Name, ast.Attribute))}


def _loops(tree: ast.AST):
    """``(line, iterables, body)`` of every loop and comprehension."""
    for n in ast.walk(tree):
        if isinstance(n, (ast.For, ast.AsyncFor)):
            yield n.lineno, [n.iter], n
        elif isinstance(n, ast.While):
            yield n.lineno, [n.test], n
        elif isinstance(n, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            yield n.lineno, [g.iter for g in n.generators], n


def study_loops(source: str) -> list[str]:
    """Every loop of ``source`` that does study work, as ``line N: why``."""
    problems = []
    for line, iters, node in _loops(ast.parse(source)):
        called = sorted(_calls(node) & STUDY_CALLS)
        if called:
            problems.append(f"line {line}: a loop calls {', '.join(called)}")
            continue
        over = sorted({name for it in iters for name in _names(it) if STUDY_ITERABLES.match(name)})
        if over:
            problems.append(f"line {line}: a loop runs over {', '.join(over)}")
    return problems


def hand_written_results(source: str) -> list[str]:
    problems = []
    tree = ast.parse(source)
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            f = n.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in WRITERS:
                problems.append(f"line {n.lineno}: writes a file by hand ({name})")
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Dict):
            targets = {t.id for t in n.targets if isinstance(t, ast.Name)}
            if targets & {"metrics", "config", "run_config"}:
                problems.append(f"line {n.lineno}: builds {', '.join(sorted(targets))} by hand")
    records = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Record"]
    if len(records) != 1:
        problems.append(f"{len(records)} Record(...) calls: a notebook keeps one result record")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_study_loops(path):
    problems = study_loops(path.read_text())
    assert not problems, f"{path.name}: study logic belongs in recutils.experiments:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_result_record(path):
    problems = hand_written_results(path.read_text())
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def test_the_checks_can_fail():
    """The rules catch what they are for, and let plotting loops be."""
    bad = "for s in seeds:\n    r = evaluate_ranking(m, split, 25)\n"
    assert study_loops(bad) == ["line 1: a loop calls evaluate_ranking"]
    assert study_loops("rows = {a: tune(a) for a in alphas}\n") == ["line 1: a loop runs over alphas"]
    assert study_loops("for ax, m in zip(axes, metrics):\n    ax.plot(curves[m])\n") == []
    assert hand_written_results("metrics = {'k': 25}\nwrite_json(p, metrics)\n") == [
        "line 1: builds metrics by hand", "line 2: writes a file by hand (write_json)",
        "0 Record(...) calls: a notebook keeps one result record"]
    assert hand_written_results("rec = Record('out', k=25)\nrec.write()\n") == []
