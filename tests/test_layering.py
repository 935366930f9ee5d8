"""The architecture as a test: every module of textvae sits in a layer, imports only from its own
layer and the layers below, and no two modules import each other, however indirectly.

LAYERS is the one place the order is written (docs/ARCHITECTURE.md describes each layer). Every
import counts: at the top of a module, inside a function, under `if TYPE_CHECKING:`. A module's
implicit import of its parent package (Python runs `textvae/data/__init__.py` before
`textvae/data/vocab.py`) is not an edge; `from textvae.data import vocab` is one, to
`textvae.data.vocab`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import textvae

# Lowest first. A module belongs to the entry with the longest prefix of its dotted name.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("textvae.version", "textvae.errors", "textvae.options", "textvae.registry")),
    ("runtime", ("textvae.runtime", "textvae.progress", "textvae.serialization", "textvae.locking",
                 "textvae.precision", "textvae.distributed", "textvae.plotting")),
    ("data", ("textvae.data",)),
    ("models", ("textvae.models",)),
    ("objectives", ("textvae.objectives",)),
    ("evaluation and generation", ("textvae.evaluation", "textvae.generation")),
    ("training", ("textvae.training",)),
    ("api", ("textvae.api",)),
    ("services", ("textvae.explore", "textvae.workbench")),
    ("experiments", ("textvae.experiments",)),
    ("cli", ("textvae.cli",)),
    ("package", ("textvae",)),  # textvae/__init__.py: the public names, from every layer
]


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module under `root` (the package's directory) by dotted name."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join([package, *parts])] = path
    return names


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of the package that `name` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..data import y
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {module for module in found if module in modules and module != name}


def layer_of(name: str) -> int:
    matches = [(len(prefix), index) for index, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
               if name == prefix or name.startswith(prefix + ".")]
    if not matches:
        raise AssertionError(f"{name} is in no layer: add it to LAYERS in tests/test_layering.py (and to "
                             "docs/ARCHITECTURE.md)")
    return max(matches)[1]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
            for name, targets in sorted(graph.items()) for target in sorted(targets)
            if layer_of(target) > layer_of(name)]


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each group of modules that import each other (Tarjan's strongly
    connected components, then a path around each)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(group, graph) for group in groups]


def _cycle_in(group: list[str], graph: dict[str, set[str]]) -> list[str]:
    """The shortest path from the group's first module back to itself, within the group."""
    start, members = group[0], set(group)
    paths = [[start]]
    while paths:
        path = paths.pop(0)
        for target in sorted(graph[path[-1]] & members):
            if target == start:
                return [*path, start]
            if target not in path:
                paths.append([*path, target])
    raise AssertionError(f"no cycle through {start}")  # a strongly connected group always has one


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    modules = module_names(root, package)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def test_no_module_imports_from_a_layer_above_it():
    graph = import_graph(Path(textvae.__file__).parent, "textvae")
    assert not upward_imports(graph), "\n".join(upward_imports(graph))


def test_no_modules_import_each_other():
    graph = import_graph(Path(textvae.__file__).parent, "textvae")
    assert not import_cycles(graph), "\n".join(" -> ".join(cycle) for cycle in import_cycles(graph))


def test_the_checks_catch_an_upward_import_and_a_circle(tmp_path):
    """The two checks above can fail: a copy of textvae's layout with one upward import added
    (the model config reading a training constant), and two data modules importing each other."""
    root = tmp_path / "textvae"
    for name in ("models/config.py", "training/config.py", "data/vocab.py", "data/files.py", "errors.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).parent.joinpath("__init__.py").touch()
        (root / name).write_text("", encoding="utf-8")
    (root / "models" / "config.py").write_text("from textvae.training.config import DEFAULT_MAX_LENGTH\n")
    (root / "data" / "vocab.py").write_text("from textvae.data import files\nfrom textvae.errors import DataError\n")
    (root / "data" / "files.py").write_text("def read():\n    from textvae.data.vocab import Vocabulary\n")
    graph = import_graph(root, "textvae")
    assert upward_imports(graph) == ["textvae.models.config (models) imports textvae.training.config (training)"]
    assert import_cycles(graph) == [["textvae.data.files", "textvae.data.vocab", "textvae.data.files"]]


def test_every_module_has_a_layer():
    for name in module_names(Path(textvae.__file__).parent, "textvae"):
        layer_of(name)


@pytest.mark.parametrize("name, layer", [("textvae.data.synthetic.grammar", "data"), ("textvae.cli.train", "cli"),
                                         ("textvae", "package"), ("textvae.version", "foundation")])
def test_a_module_is_in_the_layer_of_its_longest_prefix(name, layer):
    assert LAYERS[layer_of(name)][0] == layer
