"""The house's shape: no two modules import each other (directly or round a loop), the core imports no service,
and only the database's doors (the store, the schema and one repository module per service) touch SQL.

Every ``import`` counts, inside functions too (a deferred import is still a dependency); for the loops and
the layers, imports under ``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Mapping
from pathlib import Path

import travelbot
import travelbot.schema

ROOT = Path(travelbot.__file__).parent
CORE = ("travelbot.models", "travelbot.store", "travelbot.schema", "travelbot.config", "travelbot.retrieval",
        "travelbot.jobs", "travelbot.format",
        "travelbot.stats", "travelbot.jsonl", "travelbot.errors", "travelbot.text", "travelbot.limits")
SERVICES = ("travelbot.data", "travelbot.training", "travelbot.evaluation", "travelbot.feedback", "travelbot.analysis",
            "travelbot.chat", "travelbot.space", "travelbot.hosting", "travelbot.bench")
FACES = ("travelbot.ui", "travelbot.cli")
# The only modules that may import sqlalchemy or a table: every other module asks one of these.
DATABASE_DOORS = {"travelbot.store", "travelbot.schema", "travelbot.jobs", "travelbot.analysis.repository",
                  "travelbot.feedback.repository", "travelbot.evaluation.repository"}


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


def _schema_tables() -> set[str]:
    """The names in travelbot.schema that reach a table: each table, the metadata, and any mapping of tables."""
    from sqlalchemy import MetaData, Table

    return {name for name, value in vars(travelbot.schema).items()
            if isinstance(value, (Table, MetaData))
            or (isinstance(value, Mapping) and value and all(isinstance(v, Table) for v in value.values()))}


def _database_imports(source: str, module: str, *, package: bool = False) -> list[str]:
    """What the source imports that only a door to the database may: sqlalchemy (any part of it), the schema
    module itself, or a table from it (its constants such as WINNERS and ``utc_now`` are for everyone)."""
    tables = _schema_tables()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names
                      if a.name.partition(".")[0] == "sqlalchemy" or a.name == "travelbot.schema"]
        elif isinstance(node, ast.ImportFrom):
            target = importlib.util.resolve_name("." * node.level + (node.module or ""),
                                                 module if package else module.rpartition(".")[0])
            if target.partition(".")[0] == "sqlalchemy":
                found.append(target)
            elif target == "travelbot.schema":
                found += [f"{target}.{a.name}" for a in node.names if a.name in tables or a.name == "*"]
            elif target == "travelbot":
                found += [f"{target}.{a.name}" for a in node.names if a.name == "schema"]
    return found


def test_only_the_database_doors_import_sqlalchemy_or_tables():
    modules = _modules()
    assert DATABASE_DOORS <= set(modules)
    trespass = {name: found for name, path in sorted(modules.items()) if name not in DATABASE_DOORS
                for found in [_database_imports(path.read_text(encoding="utf-8"), name,
                                                package=path.name == "__init__.py")] if found}
    assert trespass == {}


def test_the_door_check_sees_every_way_in():
    assert {"votes", "eval_answers", "judgments", "metadata", "TABLES"} <= _schema_tables()
    assert not {"WINNERS", "JOB_STATUSES", "utc_now"} & _schema_tables()
    source = """
from travelbot.schema import WINNERS, utc_now
from travelbot.schema import votes
import sqlalchemy.orm
def deferred():
    from sqlalchemy import select
from .. import schema
from ..schema import judgments
"""
    assert sorted(_database_imports(source, "travelbot.feedback.arena")) == [
        "sqlalchemy", "sqlalchemy.orm", "travelbot.schema", "travelbot.schema.judgments", "travelbot.schema.votes"]
