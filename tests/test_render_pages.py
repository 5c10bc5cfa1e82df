"""``scripts/render_pages.py``: the parts that run without LibreOffice, Chromium or poppler.

The options, the check for the system tools (each missing one named with the package
that installs it), the skip without boundaries, and the store and report it sets up
(here from the sample province, so that the real data is not needed).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.conftest import REPO, TZ
from tests.test_report import PROVINCE

SCRIPT = REPO / "scripts" / "render_pages.py"


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(REPO / "scripts"))  # its make_samples import
    spec = importlib.util.spec_from_file_location("render_pages", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    return module


def test_formats_are_checked(script: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert script.parse_args(["--out", "x", "--formats", "pdf,html,pdf"]).formats == (
        "pdf",
        "html",
    )
    assert script.parse_args(["--out", "x"]).formats == ("docx", "pdf", "html")
    with pytest.raises(SystemExit) as exit_info:
        script.parse_args(["--out", "x", "--formats", "odt"])
    assert exit_info.value.code == 2
    assert "'odt' is not a format" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.parse_args(["--out", "x", "--dpi", "5"])


def test_missing_tools_are_named_with_their_packages(
    script: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(script.shutil, "which", lambda name: None)
    with pytest.raises(script.StepError) as error:
        script.check_tools(("docx", "html"))
    text = str(error.value)
    assert "install the libreoffice package" in text and "needed for docx" in text
    assert "install the chromium package" in text and "needed for html" in text
    assert "install the poppler-utils package" in text and "needed for docx, html" in text
    assert "--formats" in text
    # Only what the formats need: the PDF's pages need pdftoppm alone.
    found = {"pdftoppm": "/usr/bin/pdftoppm"}
    monkeypatch.setattr(script.shutil, "which", found.get)
    assert script.check_tools(("pdf",)) == found


def test_without_boundaries_it_says_so_and_stops(
    script: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.geojson"
    assert script.main(["--out", str(tmp_path / "out"), "--boundaries", str(missing)]) == 0
    err = capsys.readouterr().err
    assert "skipped: no boundaries at" in err and str(missing) in err
    assert not (tmp_path / "out").exists()


def test_the_store_and_report_it_sets_up(script: Any, tmp_path: Path) -> None:
    files = script.build_report(PROVINCE, tmp_path, ("docx", "html"), "en", None)
    assert set(files) == {"docx", "html"} and all(p.is_file() for p in files.values())
    assert (tmp_path / "reports" / "2025-10" / "report.md").is_file()
    from qostool.store import Store

    tests = Store.open(tmp_path / "store", timezone=TZ).scan_tests().collect()
    counts = tests.group_by("month").len().sort("month")
    assert counts.to_dicts() == [
        {"month": m, "len": script.TESTS_PER_MONTH} for m in script.MONTHS
    ]  # every synthetic test stored: inside the communes, none rejected
    assert tests["source"].unique().to_list() == ["ispeed"]
    assert tests.filter(pl.col("lat").is_null()).height == 0
