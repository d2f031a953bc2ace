"""The shape of the code: imports flow one way (no circle, imports inside functions included),
objectives/ knows nothing of Optuna, MLflow or argparse, only the CLI uses argparse, and the
built-in studies ship inside the wheel and are found from an installed copy."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tuner", "objectives")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """Every module of ours that `path` imports, anywhere in the file (functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        out.update(t for t in targets if t in modules and t != name)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def test_no_import_circle_in_tuner_or_objectives() -> None:
    graph = _graph()
    assert len(graph) > 50
    assert "tuner.engine.context" in graph["tuner.engine.stage"]  # the graph sees real edges
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_lazy_import_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _third_party(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_objectives_never_import_optuna_mlflow_or_the_tuner() -> None:
    for name, path in _modules().items():
        if name.startswith("objectives"):
            assert not _third_party(path) & {"optuna", "mlflow", "tuner", "argparse"}, name


def test_only_the_cli_uses_argparse() -> None:
    users = {name for name, path in _modules().items() if "argparse" in _third_party(path)}
    assert users and all(name.startswith("tuner.cli") for name in users), users


def _global_state_calls(tree: ast.Module) -> list[str]:
    """What in `tree` changes matplotlib's or the warnings module's process-wide state: an
    import of pyplot (or of Optuna's pyplot-based plots), a call of matplotlib.use, and a
    warnings.filterwarnings / simplefilter that runs at import (outside any function or
    `with` block). Each as "LINE: what"."""
    found = []

    def visit(node: ast.AST, scoped: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(f"{node.lineno}: import {a.name}" for a in node.names
                         if a.name.startswith(("matplotlib.pyplot", "optuna.visualization")))
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{a.name}" for a in node.names]
            found.extend(f"{node.lineno}: from {name}" for name in names
                         if name.startswith(("matplotlib.pyplot", "matplotlib.use",
                                             "optuna.visualization")))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
            call = f"{owner}.{node.func.attr}"
            if call == "matplotlib.use" or (
                    call in ("warnings.filterwarnings", "warnings.simplefilter") and not scoped):
                found.append(f"{node.lineno}: {call}")
        inner = scoped or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                            ast.With, ast.AsyncWith))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return found


def test_no_module_touches_pyplot_backends_or_process_wide_warning_filters() -> None:
    """A library changes no global state on import or behind the user: figures are drawn on
    Figure objects (no pyplot, no matplotlib.use), warnings are silenced in
    warnings.catch_warnings() scopes, never by a filter installed at import."""
    found = {name: calls for name, path in _modules().items()
             if (calls := _global_state_calls(ast.parse(path.read_text())))}
    assert found == {}


def test_the_global_state_finder_finds_what_it_looks_for() -> None:
    source = """
import warnings
import matplotlib
import matplotlib.pyplot as plt
from matplotlib import pyplot
from optuna.visualization import matplotlib as vis
matplotlib.use("Agg")
warnings.filterwarnings("ignore", message="x")
if True:
    warnings.simplefilter("ignore")

def scoped():
    warnings.simplefilter("ignore")

with warnings.catch_warnings():
    warnings.filterwarnings("ignore")
"""
    assert [line.split(": ")[0] for line in _global_state_calls(ast.parse(source))] == [
        "4", "5", "6", "7", "8", "10"]


def test_wheel_holds_the_studies_and_an_installed_copy_finds_them(tmp_path: Path) -> None:
    """`pip wheel --no-deps .` packs the top-level studies/*.toml as tuner/studies/*.toml (the
    two kept in step); installed outside the checkout, the built-in studies load from the
    installed package."""
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    if build.returncode != 0:
        pytest.fail(f"pip wheel failed: {build.stderr[-2000:]}")
    (wheel,) = wheels.glob("tuner-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n for n in names if n.startswith("tuner/studies/") and n.endswith(".toml"))
    assert shipped == sorted(f"tuner/studies/{p.name}"
                             for p in (ROOT / "studies").glob("*.toml"))
    assert len(shipped) >= 7
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(wheel)], check=True, capture_output=True, timeout=600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = ("import tuner; spec = tuner.load_study_spec('lambda_search'); "
             "print(tuner.__file__); print(spec.path); print(len(spec.stages))")
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    module, study, stages = done.stdout.split()
    assert Path(module).is_relative_to(site) and Path(study).is_relative_to(site)
    assert Path(study).name == "lambda_search.toml" and int(stages) == 2


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")))
def test_every_benchmark_still_imports(script: str) -> None:
    """`--help` imports everything a benchmark uses: a module moved away breaks this test, not
    the next person who runs the benchmark."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--help"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
