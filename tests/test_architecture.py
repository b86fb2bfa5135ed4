"""The shape of the package, read from the source (nothing is imported).

- No import cycle between reportgen's modules, counting every import that runs: at module
  level and inside functions (a cycle dodged with an import inside a function is still a
  cycle). An import under ``if TYPE_CHECKING:`` never runs; it names a type for an
  annotation, and is left out.
- Inside the collect stage, dependencies point one way: sources (Keras, graph) → tools
  (GraphDef, op-name → layer index, one-line log) ← measurements (graph run, profiler);
  the worker, which wires them together, sits above all three.
- TensorFlow stays in the collect worker: only ``reportgen/collect/`` imports it (the
  reference models in ``reportgen/zoo/`` too, inside the factories the worker calls), and
  what the CLI and the worker load before a model is built imports none of it.
"""

from __future__ import annotations

import ast
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

PACKAGE = Path(__file__).resolve().parent.parent / "reportgen"

TENSORFLOW = frozenset({"tensorflow", "keras", "tf_keras", "keras_hub", "xprof"})
"""Top-level modules that load TensorFlow (or need it to be loaded)."""


When = Literal["load", "call", "typing"]
"""When an import runs: as the module loads, when a function is called, never."""


@dataclass(frozen=True)
class Import:
    source: str
    """The importing module."""
    target: str
    """The imported module (for a name imported from a module, that module)."""
    line: int
    when: When

    def where(self) -> str:
        return f"{self.source.replace('.', '/')}.py:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, when: When = "load") -> list[tuple[ast.AST, When]]:
    """Every Import/ImportFrom node below ``tree``, and when it runs."""
    found: list[tuple[ast.AST, When]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append((node, when))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            found.extend(_imports(node, "typing" if when == "typing" else "call"))
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                found.extend(_imports(ast.Module(body=[child], type_ignores=[]), "typing"))
            for child in node.orelse:
                found.extend(_imports(ast.Module(body=[child], type_ignores=[]), when))
        else:
            found.extend(_imports(node, when))
    return found


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of ``from <level dots><name> import ...`` written in ``module``."""
    if level == 0:
        return name or ""
    base = module.split(".")
    if not is_package:
        base.pop()  # a module's relative imports start from its package
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def all_imports() -> list[Import]:
    """Every import in the package, each resolved to the module it loads."""
    modules = package_modules()
    found: list[Import] = []
    for source, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node, when in _imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(source, is_package, node.level, node.module)
                # ``from pkg import mod`` loads the module pkg.mod; ``from mod import name``
                # loads mod.
                submodules = [
                    f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules
                ]
                targets = submodules or [base]
            line = getattr(node, "lineno", 0)
            found.extend(Import(source, target, line, when) for target in targets)
    return found


def internal_graph() -> dict[str, dict[str, Import]]:
    """Module → {imported reportgen module: the first import of it that runs}."""
    modules = package_modules()
    graph: dict[str, dict[str, Import]] = {name: {} for name in modules}
    for imp in all_imports():
        if imp.target in modules and imp.target != imp.source and imp.when != "typing":
            graph[imp.source].setdefault(imp.target, imp)
    return graph


def find_cycles(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """One cycle through each strongly connected group of modules (Tarjan), as a path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_within(graph, set(group), group[0]) for group in groups]


def _cycle_within(graph: dict[str, dict[str, Import]], group: set[str], start: str) -> list[str]:
    """A shortest path from ``start`` back to itself inside one strongly connected group."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for target in sorted(graph[node]):
                if target == start:
                    return [*paths[node], start]
                if target in group and target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"{start} is in no cycle")


def describe(graph: dict[str, dict[str, Import]], cycle: list[str]) -> str:
    steps = [
        f"  {a} → {b}  ({graph[a][b].where()}"
        + (")" if graph[a][b].when == "load" else ", inside a function)")
        for a, b in itertools.pairwise(cycle)
    ]
    return "\n".join([" → ".join(cycle), *steps])


def test_the_package_has_no_import_cycle() -> None:
    graph = internal_graph()
    assert len(graph) > 30 and graph["reportgen.collect.worker"]  # the walk found the package
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n\n".join(describe(graph, c) for c in cycles)


def test_the_import_reader_sees_every_import_and_every_cycle() -> None:
    """The test above would see a cycle dodged with an import inside a function."""
    tree = ast.parse(
        "import a\nfrom .b import x\ndef f():\n    from reportgen.c import y\n"
        "if TYPE_CHECKING:\n    import d\n"
    )
    found = [(type(node).__name__, when) for node, when in _imports(tree)]
    assert found == [
        ("Import", "load"),
        ("ImportFrom", "load"),
        ("ImportFrom", "call"),
        ("Import", "typing"),
    ]
    assert _resolve("reportgen.collect.graph_run", False, 1, "opindex") == (
        "reportgen.collect.opindex"
    )
    assert _resolve("reportgen.collect", True, 1, "log") == "reportgen.collect.log"
    assert _resolve("reportgen.collect.log", False, 2, "facts") == "reportgen.facts"
    imp = Import("m.a", "m.b", 3, "call")
    graph = {"m.a": {"m.b": imp}, "m.b": {"m.c": imp}, "m.c": {"m.a": imp}, "m.d": {"m.a": imp}}
    assert find_cycles(graph) == [["m.a", "m.b", "m.c", "m.a"]]


COLLECT_LAYERS = {
    "tool": ("log", "opindex", "graphdef"),
    "source": ("source", "keras_facts", "graph_facts"),
    "measurement": ("graph_run", "profiler", "tensorboard"),
    "orchestration": ("__init__", "worker", "forkserver"),
}
MAY_IMPORT = {
    "tool": {"tool"},
    "source": {"tool"},
    "measurement": {"tool"},
    "orchestration": {"tool", "source", "measurement", "orchestration"},
}


def test_collect_dependencies_point_one_way() -> None:
    layer_of = {
        "reportgen.collect" + ("" if name == "__init__" else f".{name}"): layer
        for layer, names in COLLECT_LAYERS.items()
        for name in names
    }
    collect = {m for m in package_modules() if m.startswith("reportgen.collect")}
    assert collect == set(layer_of), "a collect module in no layer: place it in COLLECT_LAYERS"
    wrong = [
        f"  {imp.where()}: a {layer_of[imp.source]} imports the {layer_of[imp.target]} {imp.target}"
        for imp in all_imports()
        if imp.source in layer_of
        and imp.target in layer_of
        and imp.target != imp.source
        and layer_of[imp.target] not in MAY_IMPORT[layer_of[imp.source]]
    ]
    assert not wrong, "collect imports against the layering:\n" + "\n".join(wrong)


def tensorflow_imports() -> list[Import]:
    return [imp for imp in all_imports() if imp.target.split(".")[0] in TENSORFLOW]


def test_only_the_collect_stage_imports_tensorflow() -> None:
    found = tensorflow_imports()
    assert any(imp.source == "reportgen.collect.graph_run" for imp in found)  # the walk works
    outside = [
        imp
        for imp in found
        if not imp.source.startswith("reportgen.collect.")
        # A reference model's factory builds a Keras model; only the worker calls it.
        and not (imp.source.startswith("reportgen.zoo") and imp.when == "call")
    ]
    assert not outside, "TensorFlow imported outside the collect stage:\n" + "\n".join(
        f"  {imp.where()}: {imp.target}" for imp in outside
    )


LIGHT_ROOTS = (
    "reportgen.__main__",  # the CLI: list, render, serve, diff and the parent of collect
    "reportgen.collect",  # the parent side of collect
    "reportgen.collect.worker",  # must fail fast on a bad source, before TensorFlow loads
    "reportgen.collect.log",  # pure tools, tested without TensorFlow
    "reportgen.collect.opindex",
)


def test_what_loads_before_a_model_is_built_imports_no_tensorflow() -> None:
    """Module-level imports only: a function may import TensorFlow when it needs it."""
    modules = package_modules()
    loads: dict[str, list[Import]] = {}
    for imp in all_imports():
        if imp.when == "load":
            loads.setdefault(imp.source, []).append(imp)
    seen: dict[str, list[str]] = {root: [root] for root in LIGHT_ROOTS}
    frontier = list(LIGHT_ROOTS)
    heavy: list[str] = []
    while frontier:
        module = frontier.pop()
        for imp in loads.get(module, []):
            chain = [*seen[module], imp.target]
            if imp.target.split(".")[0] in TENSORFLOW:
                heavy.append(f"  {' → '.join(chain)}  ({imp.where()})")
            elif imp.target in modules and imp.target not in seen:
                seen[imp.target] = chain
                frontier.append(imp.target)
    assert not heavy, "TensorFlow loaded at import time:\n" + "\n".join(heavy)
