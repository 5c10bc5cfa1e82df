"""The command line: help texts, versions, exit codes, and agreement with the library."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qostool import __version__
from qostool.cli import ALLOCATOR_SETTINGS
from qostool.ingest import ingest_paths
from qostool.schema import Reason
from tests.conftest import REPO

GOOD = "test_id,time,latitude,longitude,download_mbps\nc1,2025-10-10T10:00:00+07:00,21.5,103.2,40\n"


def test_version(cli: Any) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"qostool {__version__}"


def test_ingest_help_documents_formats_mapping_and_exit_codes(cli: Any) -> None:
    text = cli("ingest", "--help").output
    for word in ("ispeed", "rtr", "ookla", "mlab", "generic", "--mapping", "--map", "--unit"):
        assert word in text
    assert "Exit codes" in text and "3 another qostool process" in text
    assert "[fields]" in text


def test_every_command_and_option_has_help(cli: Any) -> None:
    from typer.main import get_command

    from qostool.cli import app

    def walk(group: Any, prefix: str) -> list[tuple[str, Any]]:
        found = []
        for name, command in group.commands.items():
            found.append((f"{prefix}{name}", command))
            if hasattr(command, "commands"):  # boundaries, config, store: their commands too
                found += walk(command, f"{prefix}{name} ")
        return found

    commands = walk(get_command(app), "")
    assert {"store check", "store repair", "boundaries import"} <= {n for n, _ in commands}
    for name, command in commands:
        assert command.help, name
        for param in command.params:
            if param.param_type_name == "option" and not param.hidden:
                assert param.help, f"{name} {param.name}"


def test_a_run_builds_only_its_command_and_says_the_same() -> None:
    """``invoked`` keeps the one command named (Typer builds every command's options
    before running one): each command's help, and its usage error, are the same
    through it as through the whole application; anything else keeps them all."""
    from typer.main import get_command
    from typer.testing import CliRunner

    from qostool.cli import app, invoked

    runner = CliRunner()
    names = list(get_command(app).commands)  # type: ignore[attr-defined]
    assert {"ingest", "analyze", "report", "store", "boundaries"} <= set(names)
    for name in names:
        one = invoked(app, [name, "--help"])
        kept = [*one.registered_commands, *one.registered_groups]
        assert len(kept) == 1, name
        for args in ([name, "--help"], [name, "--no-such-option"]):
            alone, whole = runner.invoke(one, args), runner.invoke(app, args)
            assert (alone.exit_code, alone.output) == (whole.exit_code, whole.output), args
    for args in ([], ["--help"], ["--version"], ["anlyze"]):
        assert invoked(app, args) is app, args
    assert "Did you mean 'analyze'" in runner.invoke(invoked(app, ["anlyze"]), ["anlyze"]).output
    # The entry point goes through it: one command built for a run of one.
    probe = (
        "import sys, typer.main as tm\n"
        "built = []\n"
        "build = tm.get_command_from_info\n"
        "tm.get_command_from_info = lambda *a, **k: built.append(1) or build(*a, **k)\n"
        "sys.argv = ['qostool', 'status', '--help']\n"
        "from qostool.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('built', len(built), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], check=False, capture_output=True, text=True
    )
    assert done.stderr.strip().splitlines()[-1] == "built 1", done.stderr


def _commands() -> list[tuple[str, Any]]:
    from typer.main import get_command

    from qostool.cli import app

    def walk(group: Any, prefix: str) -> list[tuple[str, Any]]:
        found = []
        for name, command in group.commands.items():
            found.append((f"{prefix}{name}", command))
            if hasattr(command, "commands"):  # boundaries, config, store: their commands too
                found += walk(command, f"{prefix}{name} ")
        return found

    return walk(get_command(app), "")


def test_bracketed_config_names_survive_in_help(cli: Any) -> None:
    # Help is Rich markup: an unescaped "[store]" would be read as a tag and vanish
    # ("comes from  in qostool.toml"). Every section name written in a command's help
    # or its options' help must be printed as many times by --help.
    section = re.compile(r"\\?\[(store|ingest|analyze|report|boundaries)\]")
    checked = 0
    for name, command in _commands():
        if hasattr(command, "commands"):
            continue
        texts = [command.help or "", command.epilog or ""] + [
            getattr(p, "help", None) or "" for p in command.params
        ]
        written = sum(len(section.findall(text)) for text in texts)
        words = " ".join(cli(*name.split(), "--help").stdout.split())
        assert "( " not in words and "()" not in words, name
        shown = len(re.findall(r"\[(?:store|ingest|analyze|report|boundaries)\]", words))
        assert shown == written, f"{name}: {written} section names in its help, {shown} shown"
        checked += written
    assert checked > 20


def test_readme_documents_every_reason_and_exit_code() -> None:
    docs = (REPO / "docs" / "ingest.md").read_text(encoding="utf-8")
    for reason in Reason:
        assert f"`{reason.value}`" in docs, reason
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for code in ("0", "1", "2", "3"):
        assert re.search(rf"^\|\s*{code}\s*\|", readme, re.MULTILINE), code


def test_json_output_equals_library_result(
    write: Callable[..., Path], cli: Any, tmp_path: Path
) -> None:
    path = write("a.csv", GOOD + "c2,2025-10-10T10:00:00+07:00,,103.2,40\n")
    result = cli("ingest", path, "--store", tmp_path / "cli-store", "--json")
    assert result.exit_code == 0
    library = ingest_paths([str(path)], store=tmp_path / "lib-store").to_dict()
    cli_out = json.loads(result.stdout)
    for out in (cli_out, library):
        out.pop("store")
        for f in out["files"]:  # type: ignore[attr-defined]
            f.pop("message")
    assert cli_out == library


def test_table_output_on_stdout(write: Callable[..., Path], cli: Any, store_dir: Path) -> None:
    result = cli("ingest", write("a.csv", GOOD), "--store", store_dir)
    assert result.exit_code == 0
    assert "a.csv" in result.stdout and "ingested" in result.stdout
    assert "\x1b[" not in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "nope"], "--format 'nope' is not a known format"),
        (["--decimal", "dot"], "--decimal 'dot'"),
        (["--timezone", "Mars/Base"], "--timezone 'Mars/Base'"),
        (["--map", "download"], "expected field=value"),
        (["--map", "speed=DL"], "'speed' is not a field"),
        (["--format", "generic"], "--format generic needs a column map"),
    ],
)
def test_usage_errors_exit_2_without_traceback(
    args: list[str], message: str, write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    result = cli("ingest", write("a.csv", GOOD), "--store", store_dir, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_input_is_a_usage_error(cli: Any, store_dir: Path) -> None:
    result = cli("ingest", "nowhere/*.csv", "--store", store_dir)
    assert result.exit_code == 2
    assert "nowhere/*.csv: no file matches" in result.output
    assert not store_dir.exists()  # nothing made for a mistyped path


def test_bad_mapping_file_names_the_key(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    mapping = write(
        "m.toml",
        '[fields]\nlat = "Y"\nlon = "X"\nmeasured_at = "T"\ndownload_mbps = { column = "DL", unit = "kbit/h" }\n',
    )
    result = cli("ingest", write("a.csv", GOOD), "--store", store_dir, "--mapping", mapping)
    assert result.exit_code == 2
    assert "fields.download_mbps.unit" in result.output and "kbit/h" in result.output


def test_store_from_environment(
    write: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    monkeypatch.setenv("QOSTOOL_STORE", str(tmp_path / "env-store"))
    assert cli("ingest", write("a.csv", GOOD)).exit_code == 0
    assert (tmp_path / "env-store" / "store.json").exists()


def test_console_script_starts_fast_without_heavy_imports() -> None:
    code = "import sys, qostool.cli; print(sorted(m for m in ('polars', 'pyarrow', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_module_entry_point(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "qostool", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"qostool {__version__}"


def test_allocator_setting_comes_before_polars_and_yields_to_the_environment() -> None:
    name, value = ALLOCATOR_SETTINGS
    code = (
        "import os, sys\n"
        "from qostool import cli\n"
        "assert 'polars' not in sys.modules\n"
        "cli.tune_allocator()\n"
        f"print(os.environ[{name!r}])"
    )
    env = {k: v for k, v in os.environ.items() if k != name}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == value, out.stderr
    env[name] = "dirty_decay_ms:0"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "dirty_decay_ms:0", out.stderr
