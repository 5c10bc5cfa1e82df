"""Imports run one way: the commands import the app (never the reverse), and the
run's log imports neither the terminal rendering nor anything that renders the run.

The graph counts every import a module makes at run time (at the top or inside a
function), not those made for type checkers only (``if TYPE_CHECKING:``).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

SOURCE = REPO / "src"


def modules() -> dict[str, Path]:
    found = {}
    for path in (SOURCE / "qostool").rglob("*.py"):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imported(path: Path, known: dict[str, Path]) -> set[str]:
    """The qostool modules ``path`` imports at run time."""
    out: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if "TYPE_CHECKING" in ast.unparse(node.test):
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            out.update(a.name for a in node.names)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.module:
                out.add(node.module)
                out.update(f"{node.module}.{a.name}" for a in node.names)

    Visitor().visit(ast.parse(path.read_text(encoding="utf-8")))
    return {name for name in out if name in known}


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph[name])
    return seen


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(path, known) - {name} for name, path in known.items()}


def test_the_commands_import_the_app_and_nothing_imports_the_command_line() -> None:
    edges = graph()
    commands = {name for name in edges if name.startswith("qostool.commands.")}
    registered = commands - {"qostool.commands.common"}  # the options, no command
    assert registered and all("qostool.app" in edges[c] for c in registered)
    assert not reachable(edges, "qostool.app") & (commands | {"qostool.cli"})
    importers = {name for name, targets in edges.items() if "qostool.cli" in targets}
    assert importers <= {"qostool.__main__"}


def test_the_log_and_the_rendering_are_in_no_circle() -> None:
    edges = graph()
    for module in ("qostool.log", "qostool.render", "qostool.progress", "qostool.app"):
        assert module not in reachable(edges, module), module
    assert "qostool.render" not in reachable(edges, "qostool.log")
    assert "qostool.render" not in reachable(edges, "qostool.run")


def test_the_graph_sees_imports_inside_functions(tmp_path: Path) -> None:
    """The check is not vacuous: an import inside a function is an edge, a type-only one is not."""
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from qostool.render import x\n"
        "def f():\n    from qostool.log import EventLog\n",
        encoding="utf-8",
    )
    known = {"qostool.render": module, "qostool.log": module}
    assert imported(module, known) == {"qostool.log"}
