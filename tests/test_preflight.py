"""``report`` checks before it writes: out of date, other boundaries, lost communes, a
month not over; exit code 5 and nothing written, or ``--force`` and page 1 says so."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docx
import geopandas as gpd
import polars as pl
import pytest

from qostool.analyze.run import AnalyzeOptions, analyze_month, load_analysis
from qostool.errors import ExitCode
from qostool.geo.boundaries import BoundaryOptions
from qostool.geo.versions import import_boundaries
from qostool.report import preflight
from qostool.store import Store
from qostool.text import markdown
from tests.conftest import REPO, TZ, one_line
from tests.test_report import sample_store

__all__ = ["sample_store"]  # the module-scoped store of test_report, used here by name

PROVINCE = REPO / "data" / "samples" / "province.geojson"


@pytest.fixture
def store(sample_store: Store, tmp_path: Path) -> Store:
    """A private copy of the sample store (September and October analysed)."""
    shutil.copytree(sample_store.root, tmp_path / "store")
    return Store.open(tmp_path / "store", timezone=TZ)


def other_boundaries(tmp_path: Path) -> Path:
    """The same communes under another file (so another boundaries version)."""
    frame = gpd.read_file(PROVINCE)
    frame["name"] = frame["name"] + " "  # trimmed on import: the same names, another hash
    path = tmp_path / "communes-2026.geojson"
    frame.to_file(path, driver="GeoJSON")
    return path


def statuses(output: dict[str, Any]) -> dict[str, str]:
    return {c["check"]: c["status"] for c in output["checks"]}


def test_every_check_passes_on_the_samples(store: Store, tmp_path: Path, cli: Any) -> None:
    result = cli("report", "--month", "2025-10", "--store", store.root, "--out", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    assert statuses(json.loads(result.stdout)) == dict.fromkeys(
        [
            "official",
            "configured_rule",
            "up_to_date",
            "inside_boundaries",
            "same_boundaries",
            "communes_kept",
            "month_over",
        ],
        "ok",
    )


def test_an_out_of_date_analysis_is_refused_then_forced(
    store: Store, tmp_path: Path, cli: Any
) -> None:
    version = import_boundaries(store, other_boundaries(tmp_path), BoundaryOptions()).version
    out = tmp_path / "reports"
    args = ("report", "--month", "2025-10", "--store", store.root, "--out", out)
    refused = cli(*args, "--format", "html,md,docx")
    assert refused.exit_code == ExitCode.PREFLIGHT == 5, refused.output
    said = one_line(refused)
    assert "failed up_to_date" in said and f"boundaries {version} imported after" in said
    assert "not written" in said and "--force" in said
    assert not (out / "2025-10").exists()
    as_json = cli(*args, "--json")
    assert as_json.exit_code == 5
    document = json.loads(as_json.stdout)
    assert document["written"] is False and statuses(document)["up_to_date"] == "failed"

    forced = cli(*args, "--format", "html,md,docx", "--force", "--lang", "en")
    assert forced.exit_code == 0, forced.output
    page_one = (
        f"Written although a check failed: the analysis is out of date (new boundaries {version})."
    )
    html = (out / "2025-10" / "report.html").read_text(encoding="utf-8")
    assert html.index('id="warnings"') < html.index('id="uptake"')
    assert page_one.replace("'", "&#39;") in html
    md = (out / "2025-10" / "report.md").read_text(encoding="utf-8")
    assert md.index("Warnings about the data") < md.index("## I.")
    assert "Written although a check failed" in md
    paragraphs = [p.text for p in docx.Document(str(out / "2025-10" / "report.docx")).paragraphs]
    assert page_one in paragraphs


def test_other_boundaries_than_last_month_are_refused(
    store: Store, tmp_path: Path, cli: Any
) -> None:
    earlier = load_analysis(store, "2025-09").meta["boundaries"]["version"]
    version = import_boundaries(store, other_boundaries(tmp_path), BoundaryOptions()).version
    analyze_month(store, AnalyzeOptions(month="2025-10"))  # with the new version
    result = cli("report", "--month", "2025-10", "--store", store.root, "--out", tmp_path, "--json")
    assert result.exit_code == 5, result.output
    checks = {c["check"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["up_to_date"]["status"] == "ok"
    assert checks["same_boundaries"]["status"] == "failed"
    assert (
        checks["same_boundaries"]["boundaries"],
        checks["same_boundaries"]["previous_boundaries"],
    ) == (version, earlier)
    # Both months analysed with the same version: the reports compare, the check passes.
    analyze_month(store, AnalyzeOptions(month="2025-09"))
    again = cli("report", "--month", "2025-10", "--store", store.root, "--out", tmp_path)
    assert again.exit_code == 0, again.output


def test_a_commune_that_lost_its_tests_is_a_warning_on_page_one(store: Store) -> None:
    october = load_analysis(store, "2025-10")
    september = load_analysis(store, "2025-09")
    tested = set(september.communes.filter(september.communes["has_tests"])["commune_code"])
    # This month's table with one commune tested last month now without tests.
    code = sorted(tested)[0]
    name = october.communes.filter(october.communes["commune_code"] == code)["commune_name"][0]
    lost = pl.col("commune_code") == code
    table = october.communes.with_columns(
        tests_mobile=pl.when(lost).then(0).otherwise(pl.col("tests_mobile")),
        has_tests=pl.when(lost).then(False).otherwise(pl.col("has_tests")),
    )
    changed = type(october)(october.month, october.stats, table, october.meta, october.path)
    [check] = [c for c in preflight.preflight(store, changed) if c.name == "communes_kept"]
    assert check.status == "warning" and check.data["communes"] == [name]
    assert preflight.page_one([check])[0]["check"] == "preflight_communes_kept"


def test_a_month_not_over_is_a_preliminary_warning(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2025-10 ends at 2025-11-01 00:00 in Ho Chi Minh City, 2025-10-31 17:00 UTC.
    monkeypatch.setattr(preflight, "_now", lambda: datetime(2025, 10, 31, 16, 59, tzinfo=UTC))
    [check] = [
        c
        for c in preflight.preflight(store, load_analysis(store, "2025-10"))
        if c.name == "month_over"
    ]
    assert check.status == "warning" and check.data == {"month": "2025-10", "timezone": TZ}
    monkeypatch.setattr(preflight, "_now", lambda: datetime(2025, 10, 31, 17, 0, tzinfo=UTC))
    [check] = [
        c
        for c in preflight.preflight(store, load_analysis(store, "2025-10"))
        if c.name == "month_over"
    ]
    assert check.status == "ok"  # exactly at local midnight the month is over


def test_page_one_words_of_each_check_in_both_languages() -> None:
    from qostool.report.i18n import Formatter

    stale = {"check": "preflight_up_to_date", "status": "failed", "new_files": 1234}
    vi, en = Formatter("vi"), Formatter("en")
    assert vi.notice({**stale, "new_boundaries": "xa-2026"}) == (
        "Báo cáo được lập dù kiểm tra không đạt: số liệu phân tích chưa cập nhật "
        "(1.234 tệp được nạp sau khi phân tích; ranh giới mới xa-2026)."
    )
    assert en.notice({**stale, "new_boundaries": None}) == (
        "Written although a check failed: the analysis is out of date "
        "(1,234 file(s) ingested after it)."
    )
    lost = {"check": "preflight_communes_kept", "status": "warning", "previous_month": "2025-09"}
    assert en.notice({**lost, "communes": ["A", "B"]}) == (
        "2 commune(s), ward(s) or special zone(s) with tests in September 2025 have none this "
        "month: A, B."
    )
    preliminary = {"check": "preflight_month_over", "status": "warning", "month": "2025-10"}
    assert vi.notice({**preliminary, "timezone": TZ}).startswith("Báo cáo sơ bộ: tháng 10 năm 2025")
    # Viet Nam's time zone in words, never its code name.
    assert "chưa kết thúc theo giờ Việt Nam (UTC+7)" in vi.notice({**preliminary, "timezone": TZ})


def test_a_configuration_changed_after_the_analysis_is_refused_then_forced(
    store: Store, tmp_path: Path, cli: Any
) -> None:
    """The official analysis was made with 40 Mbps; the configuration now says 35."""
    config = tmp_path / "qostool.toml"
    config.write_text('[analyze]\ntargets = { "4G" = 35 }\n', encoding="utf-8")
    out = tmp_path / "out"
    args = ("report", "--month", "2025-10", "--store", store.root, "--config", config)
    refused = cli(*args, "--out", out)
    assert refused.exit_code == ExitCode.PREFLIGHT == 5, refused.output
    words = one_line(refused)
    assert "failed configured_rule" in words and "targets_mbps.4G 40 (configured 35)" in words
    assert "--official" in words
    assert not (out / "2025-10").exists()
    forced = cli(*args, "--out", out, "--force", "--format", "md", "--lang", "en")
    assert forced.exit_code == 0, forced.output
    md = (out / "2025-10" / "report.md").read_text(encoding="utf-8")
    assert markdown("4G threshold 40 Mbps (configured 35 Mbps); a what-if") in md
