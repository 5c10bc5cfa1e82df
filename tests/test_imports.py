"""Imports run one way: the commands import the app (never the reverse), and the
run's log imports neither the terminal rendering nor anything that renders the run;
and the command line's help and first steps import no heavy library (#18).

The graph counts every import a module makes at run time (at the top or inside a
function), not those made for type checkers only (``if TYPE_CHECKING:``).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, get_origin
from unittest.mock import Mock

import pytest
import typer

from qostool.cli import app
from qostool.geo.boundaries import BoundaryOptions
from qostool.geo.versions import import_boundaries
from qostool.ingest import ingest_paths
from qostool.store import Store
from tests.conftest import REPO, TZ

PROVINCE = REPO / "data" / "samples" / "province.geojson"

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


# -- what the command line imports before it works ---------------------------------

#: Libraries a command's help, and its first lines (options, configuration, opening the
#: store), must not import: they take a tenth of a second or more each (bench/README.md).
HEAVY = (
    "pydantic",
    "pandas",
    "geopandas",
    "shapely",
    "pyproj",
    "matplotlib",
    "weasyprint",
    "docxtpl",
)

#: Runs the command line in a fresh interpreter, then prints the heavy modules loaded.
#: ``STOP_AT`` (a function of qostool.analyze.run) ends the run when it is called:
#: where the analysis starts reading the boundaries and the tests.
PROBE = """
import json, os, sys
heavy = set(json.loads(sys.argv[1]))

def loaded():
    return sorted(m for m in sys.modules if m.split(".")[0] in heavy)

stop = os.environ.get("STOP_AT")
if stop:
    import qostool.analyze.run as run

    def probe(*args, **kwargs):
        print(json.dumps({"stopped": stop, "loaded": loaded()}))
        sys.stdout.flush()
        os._exit(0)

    setattr(run, stop, probe)
sys.argv = ["qostool", *sys.argv[2:]]
from qostool.cli import main

try:
    main()
except SystemExit:
    pass
print(json.dumps({"stopped": None, "loaded": loaded()}))
"""


def run_probe(
    *args: str, stop_at: str | None = None, heavy: tuple[str, ...] = HEAVY
) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("STOP_AT", "PYTHONWARNINGS")}
    if stop_at:
        env["STOP_AT"] = stop_at
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(heavy), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_help_imports_no_heavy_library() -> None:
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    names = [name for name, command in commands.items() if not command.hidden]
    assert {"analyze", "ingest", "report", "store"} <= set(names)
    for args in (["--help"], *([name, "--help"] for name in names)):
        assert run_probe(*args) == {"stopped": None, "loaded": []}, args


def one_test_csv(folder: Path) -> Path:
    """An export of one speed test, in October 2025, inside the sample province."""
    csv = folder / "tests.csv"
    csv.write_text(
        "test_id,time,latitude,longitude,download_mbps,network_type,device_id\n"
        "a,2025-10-05T10:00:00+07:00,21.5,103.2,50,LTE,d1\n",
        encoding="utf-8",
    )
    return csv


def test_analyze_parses_its_options_and_opens_the_store_without_heavy_libraries(
    tmp_path: Path,
) -> None:
    """Up to where the analysis reads the boundaries and the tests (typed options,
    the configuration, the store, the boundaries version), and on a usage error."""
    store = tmp_path / "store"
    csv = one_test_csv(tmp_path)
    ingest_paths([str(csv)], store=store)
    options = [
        *("--month", "2025-10", "--store", str(store), "--min-tests", "20"),
        *("--confidence", "0.9", "--target", "4G=35", "--target", "5G=90", "--out", "out"),
        *("--dedupe-bursts", "--tolerance", "50"),
    ]
    # No boundaries imported: the analysis stops at once, with a user error.
    assert run_probe("analyze", *options) == {"stopped": None, "loaded": []}
    Store.open(store, timezone=TZ)
    import_boundaries(Store.open(store, timezone=TZ), PROVINCE, BoundaryOptions())
    got = run_probe("analyze", *options, stop_at="analyze_month")
    assert got == {"stopped": "analyze_month", "loaded": []}
    # The check is not vacuous: the analysis itself loads the geometry libraries.
    got = run_probe("analyze", *options, stop_at="_locate")
    assert got["stopped"] == "_locate" and {"shapely", "pyproj"} <= set(got["loaded"])


def test_json_runs_do_not_load_the_terminal_rendering(tmp_path: Path) -> None:
    """``ingest --json`` and ``analyze --json`` (as cron runs them) print JSON, and load
    no Rich: its import is 0.03 s of a run's fixed cost (bench/README_analyze.md). The
    same commands for a terminal do load it, so the probe sees it when it is there."""
    store = tmp_path / "store"
    csv = one_test_csv(tmp_path)
    rich = ("rich",)
    ingest = ("ingest", str(csv), "--store", str(store))
    assert run_probe(*ingest, "--json", heavy=rich) == {"stopped": None, "loaded": []}
    import_boundaries(Store.open(store, timezone=TZ), PROVINCE, BoundaryOptions())
    analyze = ("analyze", "--month", "2025-10", "--store", str(store), "--out", "out")
    assert run_probe(*analyze, "--json", heavy=rich) == {"stopped": None, "loaded": []}
    assert "rich.console" in run_probe(*analyze, heavy=rich)["loaded"]


@pytest.mark.parametrize(
    ("annotation", "value"),
    [
        (str, "2025-10"),
        (str, " léo "),
        (int, "30"),
        (int, "-2"),
        (int, "0"),
        (float, "0.95"),
        (float, "40"),
        (float, "-0.5"),
        (bool, True),
        (Path, "results"),
        (Path, "."),
        (list[str], ["4G=35", "5G=100"]),
        (list[Path], ["inbox", "more"]),
        (int, 30),  # defaults come as values of their type
        (float, 100.0),
        (Path, Path("results")),
        # Not plain: typer's own conversion decides (and may refuse).
        (int, "1e3"),
        (int, "007"),
        (int, " 30"),
        (int, "abc"),
        (float, "1e3"),
        (float, "inf"),
        (float, "nan"),
        (float, "0,95"),
        (int, ""),
        (Path, ""),
    ],
)
def test_plain_option_values_convert_as_typer_converts_them(
    annotation: Any, value: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lazy conversion (qostool/lazy_options.py) against typer's own, value by value."""
    from typer import core
    from typer._click.exceptions import BadParameter
    from typer._coercion import resolve_type_descriptor
    from typer.models import OptionInfo

    from qostool import lazy_options

    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    descriptor = resolve_type_descriptor(annotation, OptionInfo())
    assert getattr(core.build_runtime_param, "lazy", False)  # installed by qostool.app
    lazy = core.build_runtime_param(descriptor)
    assert type(lazy).__module__ == lazy_options.__name__
    param = Mock(multiple=get_origin(annotation) is list, nargs=1)
    param.get_error_hint.return_value = "'--option'"

    def convert(runtime: Any) -> tuple[str, str, type]:
        try:
            result = runtime.coerce(value, param=param, ctx=None)
        except BadParameter as exc:
            return ("refused", exc.format_message(), BadParameter)
        return ("value", repr(result), type(result))  # repr: nan is not equal to itself

    got = convert(lazy)
    from typer._coercion import build_runtime_param as typer_build

    expected = convert(typer_build(descriptor))
    assert got == expected
