"""Shared fixtures: an isolated environment, a store, file writers, and the CLI runner."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from qostool.cli import app
from qostool.store import Store

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TZ = "Asia/Ho_Chi_Minh"
#: CI sets this (.ci/run): there the PDF engine must be usable, and its tests never skip.
#: Read at import, before the isolation fixture removes every QOSTOOL_* variable.
PDF_ENGINE_REQUIRED = os.environ.get("QOSTOOL_TEST_PDF") == "required"


def require_pdf_engine() -> None:
    """Skip, saying what is missing, where the PDF engine cannot run (fail under CI)."""
    from qostool.report.pdf import PdfEngineError, check_pdf_engine

    try:
        check_pdf_engine()
    except PdfEngineError as exc:
        reason = f"the PDF engine is not usable here: {exc.message} ({exc.hint})"
        if PDF_ENGINE_REQUIRED:
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's qostool settings, config file, colours or terminal width."""
    for name in [n for n in os.environ if n.startswith("QOSTOOL_")]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write text (or bytes) to a file under tmp_path/in and return its path."""

    def _write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode(encoding))
        return path

    return _write


@pytest.fixture
def cli() -> Callable[..., Any]:
    """Run the real qostool app in-process; returns the click Result."""
    runner = CliRunner()

    def _run(*args: str | Path) -> Any:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return _run


def one_line(result: Any) -> str:
    """A CLI result's output as one line (Rich may wrap a long one)."""
    return " ".join(result.output.split())


def assert_user_error(result: Any, *needles: str) -> None:
    """Exit 1 with "Error:" and "Hint:", every needle in the output, and no word of a bug."""
    from qostool.errors import ExitCode

    text = one_line(result)
    assert result.exit_code == ExitCode.ERROR, result.output
    assert "Error:" in text and "Hint:" in text, result.output
    for needle in needles:
        assert needle in text, result.output
    assert "Internal error" not in text and "bug in qostool" not in text, result.output
    assert "Traceback" not in text, result.output


def stored(store_dir: Path) -> pl.DataFrame:
    """Every committed test row of a store."""
    return Store.open(store_dir, timezone=TZ).scan_tests().collect()


def rejects(store_dir: Path) -> pl.DataFrame:
    """Every committed reject of a store."""
    return Store.open(store_dir, timezone=TZ).scan_rejects().collect()


def ingest_json(cli: Callable[..., Any], *args: str | Path) -> dict[str, Any]:
    """Run ``qostool ingest --json`` and return its parsed output (exit code checked <= 1)."""
    result = cli("ingest", *args, "--json")
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def all_store_bytes(store_dir: Path) -> bytes:
    """The content of every file of a store except its key, for privacy checks."""
    return b"".join(
        p.read_bytes()
        for p in sorted(store_dir.rglob("*"))
        if p.is_file() and p.name != "secret.key"
    )


@pytest.fixture
def shared_data() -> Iterator[Path]:
    """The shared real-data folder; tests needing it skip with the reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real public test data not found at ../shared/data (expected {SHARED_DATA})")
    yield SHARED_DATA
