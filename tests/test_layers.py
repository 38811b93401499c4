"""The package's layers: imports point down only, and no module imports itself back.

Every ``import`` is read, at the top of a file, inside functions and under ``TYPE_CHECKING``, so
a lazy or type-only import cannot hide an upward dependency; cycles are those that can happen at
run time (type-only imports left out). The layers are those of ``architecture.md`` ("Layers").
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "amldebug_jupyter"

LAYERS: List[Tuple[str, ...]] = [
    ("errors", "config", "_process", "instrument"),
    ("core",),
    ("logs", "dap", "docker"),
    ("backends", "bridge"),
    ("deploy",),
    ("api",),
    ("notebook",),
    ("cli", "demo"),  # the command line installs the kernelspec
    ("",),  # the package itself: lazy public API and load_ipython_extension
]
"""Lowest first. A module may import its own unit and units of lower layers."""

THIRD_PARTY_ALLOWED = {
    # Runs on the node, in the user's Python: debugpy (and its pydevd), azureml.core where the node
    # has it (to record the endpoint on the run), and the entry beside the score wrapper.
    "instrument": {"debugpy", "pydevd", "azureml", "_amldebug_entry"},
    "core": {"yaml"},  # no IPython, no SDK
}


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> str:
    """The layer unit a module belongs to: its first level under the package ('' for the package)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_of(unit: str) -> int:
    for rank, units in enumerate(LAYERS):
        if unit in units:
            return rank
    raise AssertionError(f"amldebug_jupyter.{unit} is in no layer: add it to LAYERS in {__file__}")


def type_only_lines(tree: ast.AST) -> Set[int]:
    """Lines of imports under ``if TYPE_CHECKING:``."""
    lines: Set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                for sub in ast.walk(inner):
                    if isinstance(sub, (ast.Import, ast.ImportFrom)):
                        lines.add(sub.lineno)
    return lines


def imports(path: Path, root: Path = PACKAGE) -> Iterator[Tuple[List[str], int]]:
    """For every import in ``path``: the modules it may mean, best first, and its line.

    ``from X import name`` means ``X.name`` when that is a module, else ``X``.
    """
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield [alias.name], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                yield [f"{source}.{alias.name}", source], node.lineno


def graph(root: Path = PACKAGE, type_only: bool = True) -> Dict[str, Dict[str, int]]:
    """Own-module import graph: module -> {imported own module: line} (``type_only``: with the
    imports under ``TYPE_CHECKING``)."""
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    edges: Dict[str, Dict[str, int]] = {}
    for module, path in files.items():
        out: Dict[str, int] = {}
        skip = set() if type_only else type_only_lines(ast.parse(path.read_text(encoding="utf-8")))
        for candidates, line in imports(path, root):
            name = next((c for c in candidates if c in files), None)
            if name is not None and name != module and line not in skip:
                out.setdefault(name, line)
        edges[module] = out
    return edges


def upward_imports(root: Path = PACKAGE) -> List[str]:
    found = []
    for module, targets in graph(root).items():
        unit = unit_of(module)
        for target, line in targets.items():
            other = unit_of(target)
            if other != unit and layer_of(other) >= layer_of(unit):
                found.append(f"{module}:{line} imports {target} (layer {layer_of(other)} >= {layer_of(unit)})")
    return sorted(found)


def cycles(root: Path = PACKAGE) -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan), at run time."""
    edges = graph(root, type_only=False)
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def foreign_imports(unit: str, root: Path = PACKAGE) -> List[str]:
    """Third-party imports in ``unit`` beyond what it may use."""
    allowed = THIRD_PARTY_ALLOWED[unit] | {"amldebug_jupyter", "__future__"}
    found = []
    for path in sorted((root / unit).rglob("*.py")):
        for candidates, line in imports(path, root):
            name = candidates[-1]
            top = name.split(".")[0]
            if top and top not in sys.stdlib_module_names and top not in allowed:
                found.append(f"{module_name(path, root)}:{line} imports {name}")
    return sorted(set(found))


def test_imports_point_down_only() -> None:
    assert upward_imports() == []


def test_no_module_imports_itself_back() -> None:
    assert cycles() == []


@pytest.mark.parametrize("unit", sorted(THIRD_PARTY_ALLOWED))
def test_lower_layers_import_no_sdk(unit: str) -> None:
    assert foreign_imports(unit) == []


def test_the_instrument_imports_nothing_of_the_package() -> None:
    """It is copied next to the user's script and runs where the package is not installed."""
    assert [m for m, targets in graph().items() if unit_of(m) == "instrument" and targets] == []


def test_an_added_upward_import_is_caught(tmp_path: Path) -> None:
    """The checks above can fail: a copy of the package with one upward import and one cycle."""
    import shutil

    copy = tmp_path / "amldebug_jupyter"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("labextension", "__pycache__"))
    pipeline = copy / "core" / "pipeline.py"
    pipeline.write_text(pipeline.read_text() + "\n\ndef _bad():\n    from amldebug_jupyter.notebook import magics\n")
    assert any(f.startswith("amldebug_jupyter.core.pipeline:") and "notebook.magics" in f for f in upward_imports(copy))
    errors = copy / "errors.py"
    errors.write_text(errors.read_text() + "\nfrom amldebug_jupyter import config\n")
    config = copy / "config.py"
    config.write_text(config.read_text() + "\nfrom amldebug_jupyter import errors\n")
    assert ["amldebug_jupyter.config", "amldebug_jupyter.errors"] in cycles(copy)
