"""The house's shape: no two modules import each other (directly or round a loop), and the core imports no service.

Every ``import`` counts, inside functions too (a deferred import is still a dependency); imports under
``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import travelbot

ROOT = Path(travelbot.__file__).parent
CORE = ("travelbot.models", "travelbot.store", "travelbot.schema", "travelbot.config", "travelbot.retrieval",
        "travelbot.stats", "travelbot.jsonl", "travelbot.errors", "travelbot.text", "travelbot.limits")
SERVICES = ("travelbot.data", "travelbot.training", "travelbot.evaluation", "travelbot.feedback", "travelbot.analysis",
            "travelbot.chat", "travelbot.space", "travelbot.hosting", "travelbot.bench")
FACES = ("travelbot.ui", "travelbot.cli")


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(("travelbot", *path.relative_to(ROOT).with_suffix("").parts))
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(node) for block in ast.walk(tree)
                   if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                   for node in ast.walk(block)}
    targets = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("travelbot"):
            targets |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                        for a in node.names}
        elif isinstance(node, ast.Import):
            targets |= {a.name for a in node.names if a.name.startswith("travelbot")}
    return targets & set(modules)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_no_module_imports_itself_round_a_loop():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert loops == []


def test_the_core_imports_no_service_and_no_face_and_services_import_no_face():
    graph = _graph()
    upward = [(a, b) for a, targets in graph.items() for b in targets
              if (_within(a, CORE) and _within(b, SERVICES + FACES))
              or (_within(a, SERVICES) and _within(b, FACES))]
    assert upward == []
    assert "travelbot.cli" in graph and "travelbot.stats" in graph  # the walk saw the package
