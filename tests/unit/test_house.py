"""The shape of the code: imports flow one way (no circle, imports inside functions included),
objectives/ knows nothing of Optuna, MLflow or argparse, only the CLI uses argparse or builds a
tuner command line, and no module touches pyplot or process-wide warning filters
(tests/e2e/test_packaging.py checks the wheel)."""

from __future__ import annotations

import ast
from pathlib import Path

from paths import ROOT

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




STUDY_FLAGS = {"--set", "--dataset", "--trials", "--seed", "--storage", "--tracking-uri",
               "--no-tracking", "--data-dir", "--checkpoint-dir", "--no-checkpoints", "--jobs",
               "--cluster", "--threads", "--final"}


def _argv_lists(tree: ast.Module) -> list[str]:
    """Lists and tuples in `tree` that spell a tuner command line: `-m tuner`, or a flag of
    the study commands."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            pairs = zip(items, items[1:], strict=False)
            runs_tuner = any(a == "-m" and b == "tuner" for a, b in pairs)
            if runs_tuner or set(items) & STUDY_FLAGS:
                found.append(f"{node.lineno}: {items}")
    return found


def test_no_command_line_is_built_outside_the_cli() -> None:
    """Workers get the study's name and the run options as data (engine/worker_process.py), so
    nothing outside tuner/cli builds a `tuner` command line: no second argv builder to keep in
    step with the parser."""
    from tuner.cli.parser import build_parser

    assert build_parser().parse_args(["study", "x", "--set", "a=1", "--jobs", "2"])
    spelled = {name: found for name, path in _modules().items()
               if not name.startswith("tuner.cli")
               and (found := _argv_lists(ast.parse(path.read_text())))}
    assert spelled == {}
    old = 'argv = [str(spec.path), "--dataset", spec.dataset]\nargv += ["--set", "a=1"]'
    assert len(_argv_lists(ast.parse(old))) == 2  # the finder finds what it looks for
    assert _argv_lists(ast.parse('[sys.executable, "-m", "tuner", "worker"]'))


def test_test_modules_have_unique_names() -> None:
    """pytest imports test modules by their file name (rootdir-relative, no packages): two
    test_x.py in different folders collide ("import file mismatch")."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert len(names) > 40 and len(names) == len(set(names))


def _restarting_tests(source: str) -> dict[str, bool]:
    """Each test function that restarts (or stops) the test PostgreSQL server: whether it is marked
    restarts_postgres (make test-e2e runs those alone, after the parallel run)."""
    found = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_") and \
                any(cmd in ast.unparse(node) for cmd in ("restart_postgres", "stop_postgres")):
            found[node.name] = "restarts_postgres" in ast.unparse(node.decorator_list)
    return found


def test_tests_that_restart_postgres_are_run_alone() -> None:
    """A test that stops the shared PostgreSQL server cuts every other test's connections
    (an xdist group does not help: pytest 9 ignores the node id xdist's loadgroup rewrites)."""
    found = {name: marked for path in (ROOT / "tests" / "e2e").rglob("test_*.py")
             for name, marked in _restarting_tests(path.read_text()).items()}
    assert found and all(found.values()), found
    bare = 'def test_x():\n    subprocess.run(["bash", "-c", "restart_postgres 1"])\n'
    assert _restarting_tests(bare) == {"test_x": False}  # the finder finds what it looks for


def test_no_module_imports_the_worker_entry_point() -> None:
    """`python -m tuner.engine.worker_process` imports the tuner package first; a module of ours
    importing worker_process would make runpy warn on every worker's stderr ("found in
    sys.modules ... unpredictable behaviour")."""
    graph = _graph()
    assert "tuner.engine.worker_protocol" in graph["tuner.engine.jobs"]  # the graph sees it
    assert [name for name, imported in graph.items()
            if "tuner.engine.worker_process" in imported] == []
