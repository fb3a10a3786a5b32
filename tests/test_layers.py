"""Layers only point down: a module may import its own layer or lower ones, never higher.

    constants, errors, io, config, torch_threads, torch_dropout, progress, provenance, fingerprints   (0: no recutils imports but each other)
    datasets                                  (1)
    splits                                    (2)
    evaluation, similarity, similarity_kernels, embeddings   (3: top-k, metrics, item similarity; encoders)
    models                                    (4)
    search                                    (5)
    experiments                               (6)
    evaluate, tuning, serving, notebooks, regression, bench, cli   (7: CLIs, service, runner, benchmarks)

Every ``import`` / ``from … import`` anywhere in a module counts, inside functions too (an
import hidden in a function is still a dependency). A new top-level module or package must
be placed in a layer here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "recutils"

LAYERS = [
    {"constants", "errors", "io", "config", "torch_threads", "torch_dropout", "progress", "provenance", "fingerprints"},
    {"datasets"},
    {"splits"},
    {"evaluation", "similarity", "similarity_kernels", "embeddings"},
    {"models"},
    {"search"},
    {"experiments"},
    {"evaluate", "tuning", "serving", "notebooks", "regression", "bench", "cli"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _imported(path: Path, package_root: Path) -> list[tuple[int, list[str]]]:
    """(line, ["recutils", "top", ...]) for every recutils import in ``path``."""
    rel_dir = list(path.relative_to(package_root).parent.parts)
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["recutils", *rel_dir]
                base = base[: len(base) - (node.level - 1)]
                if node.module:
                    out.append((node.lineno, base + node.module.split(".")))
                else:
                    out += [(node.lineno, base + [a.name]) for a in node.names]
            elif node.module and node.module.split(".")[0] == "recutils":
                out.append((node.lineno, node.module.split(".")))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name.split(".")) for a in node.names if a.name.split(".")[0] == "recutils"]
    return out


def violations(package_root: Path = ROOT) -> list[str]:
    """Upward imports, and modules in no layer, under ``package_root`` (a ``recutils`` folder)."""
    problems = []
    for path in sorted(package_root.rglob("*.py")):
        parts = path.relative_to(package_root).parts
        top = Path(parts[0]).stem
        if top == "__init__" and len(parts) == 1:
            continue  # the package's own __init__ imports nothing heavy by design
        if top not in RANK:
            problems.append(f"{path.relative_to(package_root.parent)}: module {top!r} is in no layer (tests/test_layers.py)")
            continue
        for line, target in _imported(path, package_root):
            if len(target) < 2:
                continue
            dep = Path(target[1]).stem
            if dep not in RANK:
                continue  # reported above when its own file is checked
            if RANK[dep] > RANK[top]:
                problems.append(f"{path.relative_to(package_root.parent)}:{line}: {top} (layer {RANK[top]}) imports "
                                f"{'.'.join(target)} (layer {RANK[dep]})")
    return problems


def test_layers_only_point_down():
    assert violations() == []


def test_a_planted_upward_import_is_caught(tmp_path):
    pkg = tmp_path / "recutils"
    (pkg / "models").mkdir(parents=True)
    (pkg / "evaluate.py").write_text("")
    (pkg / "models" / "__init__.py").write_text("")
    (pkg / "models" / "bad.py").write_text("def f():\n    from ..evaluate import parse_params\n")
    (pkg / "splits.py").write_text("import recutils.experiments.tuning\n")
    found = violations(pkg)
    assert any("models/bad.py:2: models (layer 4) imports recutils.evaluate" in p for p in found), found
    assert any("splits.py:1: splits (layer 2) imports recutils.experiments.tuning" in p for p in found), found


def test_an_unplaced_module_is_reported(tmp_path):
    pkg = tmp_path / "recutils"
    pkg.mkdir()
    (pkg / "newthing.py").write_text("x = 1\n")
    assert any("'newthing' is in no layer" in p for p in violations(pkg))


@pytest.mark.parametrize("name", sorted(RANK))
def test_every_layer_entry_exists(name):
    assert (ROOT / f"{name}.py").is_file() or (ROOT / name / "__init__.py").is_file(), name


def import_cycles(package_root: Path = ROOT) -> list[list[str]]:
    """Circles among recutils' modules (every import counts, inside functions too; a package's
    ``__init__`` re-exporting its modules is not an edge back to it)."""
    modules = {}
    for path in sorted(package_root.rglob("*.py")):
        rel = path.relative_to(package_root.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        modules[name] = path
    graph = {}
    for name, path in modules.items():
        if path.name == "__init__.py":
            continue  # re-exports: importing a package runs it, but it is no dependency of its modules
        deps = set()
        for _, target in _imported(path, package_root):
            for n in range(len(target), 1, -1):  # the longest prefix that is a module
                cand = ".".join(target[:n])
                if cand in modules and not modules[cand].name == "__init__.py":
                    deps.add(cand)
                    break
        graph[name] = deps - {name}
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return cycles


def test_no_import_circles():
    assert import_cycles() == []


def test_an_import_circle_is_found(tmp_path):
    pkg = tmp_path / "recutils"
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "models" / "__init__.py").write_text("")
    (pkg / "models" / "a.py").write_text("def f():\n    from .b import g\n")
    (pkg / "models" / "b.py").write_text("from .a import f\n")
    assert import_cycles(pkg) == [["recutils.models.a", "recutils.models.b", "recutils.models.a"]]


MAX_LINES = 450


def long_files(package_root: Path = ROOT, limit: int = MAX_LINES) -> list[str]:
    """Modules longer than ``limit`` lines: split them by concern."""
    return [f"{p.relative_to(package_root.parent)}: {n} lines"
            for p in sorted(package_root.rglob("*.py")) if (n := len(p.read_text().splitlines())) > limit]


def test_no_module_over_450_lines():
    assert long_files() == []


def test_the_length_check_can_fail(tmp_path):
    pkg = tmp_path / "recutils"
    pkg.mkdir()
    (pkg / "big.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (pkg / "ok.py").write_text("x = 1\n" * MAX_LINES)
    assert long_files(pkg) == [f"recutils/big.py: {MAX_LINES + 1} lines"]


def test_no_benchmark_code_under_models_or_embeddings():
    """Speed benchmarks live in recutils/bench/ (tooling), not beside the models."""
    for sub in ("models", "embeddings"):
        for p in (ROOT / sub).rglob("*.py"):
            assert "bench" not in p.stem, f"{p.relative_to(ROOT.parent)}: benchmarks belong in recutils/bench/"
            tree = ast.parse(p.read_text())
            defs = [n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
            assert not [d for d in defs if "bench" in d.lower()], f"{p.relative_to(ROOT.parent)} defines {defs}"
