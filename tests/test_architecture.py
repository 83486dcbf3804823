"""The package's layers import one way only: media -> features -> data -> models -> inference -> training ->
web -> cli. Every import is checked, including those inside functions (a lazy import is still a dependency).
The base modules (config, errors, labels, modality, registry, utils) sit below every layer and import no
layer. Prediction needs no training code (inference sits below training), and no modules import each other in
a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "avemotion"

#: rank of each top-level part of the package; a module may import only parts of its own rank or lower
RANKS = {
    "config": 0, "errors": 0, "labels": 0, "modality": 0, "registry": 0, "utils": 0,
    "media": 1, "features": 2, "data": 3, "models": 4, "inference": 5, "training": 6, "web": 7, "cli": 8,
    "__main__": 9,
}
#: the package's __init__ is its public facade (lazy re-exports of the top layers) and is not ranked
FACADE = "__init__"


def _part(module: str) -> str | None:
    """Top-level part of a dotted ``avemotion.x.y`` name (None for names outside the package)."""
    parts = module.split(".")
    if parts[0] != "avemotion":
        return None
    return parts[1] if len(parts) > 1 else FACADE


def _imports(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text() if source is None else source, filename=str(path))
    package = list(path.relative_to(PACKAGE.parent).parts[:-1])  # e.g. ["avemotion", "media"]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the module's package
                base = package[: len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            if node.module is None or name == "avemotion":  # "from avemotion import x" names a part per alias
                found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _module_name(path: Path) -> str:
    """Dotted name of a module file (a package's ``__init__`` is the package)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (each import resolved to the longest existing module name:
    ``from avemotion.training import trainer`` is the module ``avemotion.training.trainer``)."""
    modules = {_module_name(p): p for p in _modules()}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for _, imported in _imports(path):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                deps.add(imported)
        graph[name] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_part_of_the_package_is_ranked() -> None:
    parts = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in _modules()}
    assert parts - set(RANKS) - {FACADE} == set()


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_the_chain(path: Path) -> None:
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    if own == FACADE:
        return
    upward = []
    for line, name in _imports(path):
        part = _part(name)
        if part is None or part not in RANKS:  # outside the package, or an attribute of the facade
            continue
        if RANKS[part] > RANKS[own]:
            upward.append(f"line {line}: {own} (rank {RANKS[own]}) imports {name} (rank {RANKS[part]})")
    assert not upward, "imports pointing up the chain:\n" + "\n".join(upward)


def test_the_checker_sees_function_level_and_relative_imports() -> None:
    """The check must not be blind: a lazy import inside a function and relative imports are all found."""
    source = ("def f():\n    from avemotion.cli.main import main\n    return main\n"
              "from ..training import trainer\nfrom . import audio\nfrom avemotion import web\n")
    names = [n for _, n in _imports(PACKAGE / "media" / "probe.py", source)]
    assert "avemotion.cli.main" in names and "avemotion.training" in names
    assert "avemotion.media" in names and "avemotion.web" in names


def test_inference_imports_nothing_from_training() -> None:
    offending = [f"{path.relative_to(PACKAGE)} line {line}: {name}"
                 for path in _modules() if path.relative_to(PACKAGE).parts[0] == "inference"
                 for line, name in _imports(path) if _part(name) == "training"]
    assert not offending, "inference imports training:\n" + "\n".join(offending)


def test_no_modules_import_each_other_in_a_cycle() -> None:
    cycles = [" <-> ".join(c) for c in _cycles(_import_graph())]
    assert not cycles, "modules importing each other (directly or through the others):\n" + "\n".join(cycles)


def test_the_cycle_finder_sees_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _cycles(graph) == [["a", "b", "c"]]
