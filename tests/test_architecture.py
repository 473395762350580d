"""The layout as a test (docs/architecture.md): the five stages, in data-flow order, and the
rules that keep them readable. Walks ``src/stripe_mirror`` with ``ast`` (nothing is imported)
and builds the import graph from every ``import`` statement, at module level and inside
functions alike; relative imports are resolved. Imports under ``if TYPE_CHECKING:`` are left
out: they never run, so they make no cycle and no dependency at run time.

Fails on: an import cycle; an import pointing backwards (a stage importing an earlier one, or
the foundation importing a stage); the dispatcher importing the mirror (it is plugged in);
a module over the line budget; a function over the length budget; raw SQL outside the
modules designated for it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "src" / "stripe_mirror"
PACKAGE = "stripe_mirror"

#: The stages in data-flow order. A module may import its own stage, the foundation and later
#: stages, never an earlier one.
STAGES = ("endpoint", "verification", "dispatch", "handlers", "sync")

#: Where each module belongs, by the longest matching prefix of its name (without
#: "stripe_mirror.").
PLACES = {
    "endpoint": "endpoint",
    # The public path of the view (subclassing WebhookView is documented): a re-export.
    "views": "endpoint",
    "verification": "verification",
    "dispatch": "dispatch",
    # The hand-off to Django's tasks framework. It stays at this path because queue backends
    # store the task's path ("stripe_mirror.tasks.process_event") with each enqueued task.
    "tasks": "dispatch",
    "handlers": "handlers",
    "sync": "sync",
    # The foundation: imported by any stage, imports nothing but itself.
    "conf": "foundation",
    "errors": "foundation",
    "signals": "foundation",
    "events": "foundation",
    "patterns": "foundation",
    "db": "foundation",
    "prepared": "foundation",
    "session_cursor": "foundation",
    "session_texts": "foundation",
    "models": "foundation",
    "migrations": "foundation",
    "failures": "foundation",
    "logs": "foundation",
    # The Stripe API client (issue 11): the foundation of the API's future snapshots...
    "api": "foundation",
    # ...but configuring webhook endpoints in Stripe is a command's business.
    "api.endpoints": "outside",
    # The outside: wires the stages together and presents them (Django's app, URLs, admin,
    # checks, commands, the public test helpers). It may import anything; nothing imports it.
    "": "outside",
    "apps": "outside",
    "urls": "outside",
    "testing": "outside",
    "checks": "outside",
    "admin": "outside",
    "mirror_admin": "outside",
    "management": "outside",
}

#: The dispatcher runs the mirror without knowing it: the mirror is plugged in.
NOT_IMPORTED_BY_DISPATCH = ("handlers", "sync")

#: The only places that run SQL themselves (``connection.cursor()``, ``cursor.execute``):
#: one module or package per table family, vendor branches included.
SQL_MODULES = frozenset(
    {"db", "prepared", "session_cursor", "sync.sql", "sync.links.sql", "dispatch.sql"}
)

MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 43


@dataclass(frozen=True)
class Module:
    name: str  # without the package prefix: "sync.links.write"; "" for the package itself
    path: Path
    tree: ast.Module
    is_package: bool

    @property
    def lines(self) -> int:
        return len(self.path.read_text().splitlines())


def _modules() -> dict[str, Module]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        name = ".".join(parts)
        found[name] = Module(name, path, ast.parse(path.read_text()), is_package)
    return found


MODULES = _modules()


def place(name: str) -> str:
    best = max((prefix for prefix in PLACES if _under(name, prefix)), key=len)
    return PLACES[best]


def _under(name: str, prefix: str) -> bool:
    return prefix in ("", name) or name.startswith(prefix + ".")


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, but those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    """The absolute name of the module ``from X import ...`` reads from."""
    if node.level == 0:
        return node.module or ""
    base = module.name.split(".") if module.name else []
    if not module.is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([PACKAGE, *base, *([node.module] if node.module else [])])


def _internal(absolute: str) -> str | None:
    if absolute == PACKAGE:
        return ""
    if absolute.startswith(PACKAGE + "."):
        return absolute[len(PACKAGE) + 1 :]
    return None


def imports_of(module: Module) -> set[str]:
    """The package's modules that ``module`` imports, anywhere in its code."""
    targets: set[str] = set()
    for node in _runtime_nodes(module.tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            # "from . import sql" names a submodule when there is one, else an attribute.
            names = [f"{source}.{alias.name}" for alias in node.names]
            names = [n if _internal(n) in MODULES else source for n in names]
        else:
            continue
        for name in names:
            internal = _internal(name)
            if internal is not None and internal in MODULES and internal != module.name:
                targets.add(internal)
    return targets


GRAPH = {name: imports_of(module) for name, module in MODULES.items()}


def _cycles() -> list[str]:
    """Each import cycle (a strongly connected component), as a path through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(GRAPH[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return [" -> ".join([*component, component[0]]) for component in found]


def _edge_problems() -> list[tuple[str, str]]:
    problems = []
    for source, targets in GRAPH.items():
        for target in sorted(targets):
            problem = _edge_problem(place(source), place(target))
            if problem:
                problems.append((problem, f"{source} -> {target}"))
    return problems


def _edge_problem(source: str, target: str) -> str | None:
    problem = None
    if source in ("outside", target):
        pass
    elif target == "outside":
        problem = "imports the outside"
    elif source == "foundation":
        problem = "foundation imports a stage"
    elif target == "foundation":
        pass
    elif source == "dispatch" and target in NOT_IMPORTED_BY_DISPATCH:
        problem = "dispatch imports"
    elif STAGES.index(target) < STAGES.index(source):
        problem = "imports an earlier stage"
    return problem


def _sql_modules() -> list[str]:
    users = []
    for name, module in MODULES.items():
        if name.startswith("migrations") or any(_under(name, place) for place in SQL_MODULES):
            continue
        for node in ast.walk(module.tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("cursor", "execute", "executemany")
            ):
                users.append(name)
                break
    return users


def _violations() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = {("cycle", cycle) for cycle in _cycles()}
    found |= set(_edge_problems())
    found |= {("sql", name) for name in _sql_modules()}
    found |= _long_functions()
    found |= {
        ("size", name)
        for name, module in MODULES.items()
        if not name.startswith("migrations") and module.lines > MAX_MODULE_LINES
    }
    return found


def test_every_module_has_a_place() -> None:
    assert all(place(name) for name in MODULES)
    assert place("sync.links.write") == "sync"
    assert place("views") == "endpoint"
    assert place("") == "outside"


def test_the_graph_sees_function_level_and_relative_imports() -> None:
    """A self-check of the walker on imports known to exist."""
    assert "checks" in GRAPH["apps"]  # inside a function
    assert "sync.sql" in GRAPH["sync.links.write"]  # from ..sql import update
    assert "sync.links.sql" in GRAPH["sync.links.load"]  # from . import sql
    assert "sync.origin" in GRAPH["sync.refetch"]


@pytest.mark.parametrize(
    "kind",
    [
        *("cycle", "imports an earlier stage", "foundation imports a stage"),
        *("imports the outside", "dispatch imports", "sql", "size", "function"),
    ],
)
def test_no_violation(kind: str) -> None:
    found = {v for v in _violations() if v[0] == kind}
    assert not found, "\n".join(sorted(detail for _, detail in found))


def _long_functions() -> set[tuple[str, str]]:
    long = set()
    for name, module in MODULES.items():
        if name.startswith("migrations"):
            continue
        for node in ast.walk(module.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                    long.add(("function", f"{name}.{node.name}"))
    return long


def test_the_sync_does_not_know_the_inbox() -> None:
    """Same-second snapshots come through ``sync.sources``, not from the inbox's table."""
    for name, module in MODULES.items():
        if place(name) == "sync":
            names = {
                alias.name
                for node in ast.walk(module.tree)
                if isinstance(node, ast.ImportFrom)
                for alias in node.names
            }
            assert "InboxEvent" not in names, name
