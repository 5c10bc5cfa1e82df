"""Data periods: a quarter's tiles are one set of data, not three months of it.

Ookla tiles are quarterly aggregates, used for each month of their quarter. The
history (change since last month, the run below target) and the trend compare
the data the months rest on, not calendar months. The expectations here are
computed apart: the tiles' weighted means with shapely and numpy from the
stored rows, and the history rule by plain loops over the months' own tables.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from qostool.analyze.rules import Rule, Verdict
from qostool.analyze.run import (
    STATS_FILE,
    Analysis,
    AnalyzeOptions,
    analyze_month,
    load_analysis,
)
from qostool.geo.boundaries import BoundaryOptions
from qostool.geo.versions import import_boundaries
from qostool.ingest import ingest_paths
from qostool.report import ReportOptions, write_report
from qostool.report.context import build_context
from qostool.store import Store
from tests.conftest import TZ
from tests.test_analyze import PROVINCE, SAMPLES, independent
from tests.test_report import Page

TILES = SAMPLES / "2025-10-01_performance_mobile_tiles.parquet"
QUARTER_MONTHS = ("2025-10", "2025-11", "2025-12")
#: A target every commune of tiles misses, with minimums low enough for verdicts.
BELOW_ALL = Rule(targets={"all": 1000.0}, min_tests=1, min_devices=1)


def _store(root: Path, paths: list[Path]) -> Store:
    ingest_paths([str(p) for p in paths], store=root)
    store = Store.open(root, timezone=TZ)
    import_boundaries(store, PROVINCE, BoundaryOptions())
    return store


@pytest.fixture(scope="module")
def tiles_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only the Q4 2025 tiles: each month of the quarter rests on them alone."""
    return _store(tmp_path_factory.mktemp("tiles") / "store", [TILES]).root


@pytest.fixture
def tiles_only(tiles_store: Path, tmp_path: Path) -> Store:
    root = tmp_path / "store"
    shutil.copytree(tiles_store, root)
    return Store.open(root, timezone=TZ)


@pytest.fixture(scope="module")
def mixed_months(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Analysis]:
    """Every sample analysed month by month: September of single tests only, October
    and November of single tests and the Q4 tiles, December of the tiles alone."""
    store = _store(tmp_path_factory.mktemp("mixed") / "store", [SAMPLES])
    return {
        month: analyze_month(store, AnalyzeOptions(month=month, rule=BELOW_ALL))
        for month in ("2025-09", *QUARTER_MONTHS)
    }


def _tile_means(store: Store, month: str) -> dict[str, tuple[float, int]]:
    """Each commune's weighted mean of the quarter's tiles and their tests, apart."""
    rows = independent(store, month).filter(
        pl.col("commune_code").is_not_null(), pl.col("aggregate")
    )
    out = {}
    for code in rows["commune_code"].unique().sort():
        mine = rows.filter(pl.col("commune_code") == code)
        weights = mine["weight"].to_numpy().astype(float)
        mean = float((mine["download_mbps"].to_numpy() * weights).sum() / weights.sum())
        out[str(code)] = (mean, int(weights.sum()))
    return out


def _rows(analysis: Analysis) -> dict[str, dict]:
    return {r["commune_code"]: r for r in analysis.commune_rows("all").iter_rows(named=True)}


def test_a_quarter_of_tiles_analysed_for_its_three_months(tiles_only: Store) -> None:
    analyses = [
        analyze_month(tiles_only, AnalyzeOptions(month=m, rule=BELOW_ALL)) for m in QUARTER_MONTHS
    ]
    december = analyses[-1]
    assert december.meta["history_months"] == 2  # October and November, on the same tiles
    expected = _tile_means(tiles_only, "2025-12")
    assert len(expected) > 20
    rows = _rows(december)
    below = 0
    for code, (mean, tests) in expected.items():
        row = rows[code]
        assert row["data_period"] == "2025-Q4"
        assert row["tests"] == row["tile_tests"] == tests
        assert row["download_mean_mbps"] == pytest.approx(mean)
        # November is the same tiles: the same mean, and no change (not a change of 0).
        assert row["prev_download_mean_mbps"] == pytest.approx(mean)
        assert row["prev_data_period"] == "2025-Q4"
        assert row["change_basis"] == "same_data"
        assert row["download_mean_change_mbps"] is None
        # Below target in each of the three months, on one quarter's data: one period.
        below += row["verdict"] == Verdict.BELOW
        assert row["months_below_target"] == int(row["verdict"] == Verdict.BELOW)
    assert below > 10
    for code, row in rows.items():
        if code not in expected:  # no tile in the commune: no data, nothing compared
            assert row["data_period"] is None and row["change_basis"] is None

    # The trend shows the quarter once: one point, its tests counted once.
    context = build_context(tiles_only, december, generated_at="2026-01-05")
    (point,) = context.trend.points
    assert point.months == list(QUARTER_MONTHS)
    assert point.quarterly and point.period == "2025-Q4"
    assert point.tests == sum(tests for _, tests in expected.values())
    assert not context.trend.has_history
    assert context.summary.prev_tests is None  # no earlier period analysed
    assert context.summary.data_period == "2025-Q4"


def test_the_report_of_a_month_of_tiles_says_quarterly_next_to_the_numbers(
    tiles_only: Store, tmp_path: Path
) -> None:
    for month in QUARTER_MONTHS:
        analyze_month(tiles_only, AnalyzeOptions(month=month))
    pages = {}
    for lang in ("vi", "en"):
        options = ReportOptions(
            month="2025-12",
            lang=lang,
            formats=("html", "md"),
            out=tmp_path / lang,
            generated_at="2026-01-05",
        )
        write_report(tiles_only, options)
        folder = tmp_path / lang / "2025-12"
        pages[lang] = (
            Page((folder / "report.html").read_text(encoding="utf-8")),
            (folder / "report.md").read_text(encoding="utf-8"),
        )
    html, markdown = pages["vi"]
    province = {r[0]: r for r in html.body("province")}
    cellular = province["Tất cả (di động)"]
    assert cellular[3].endswith("theo quý (dữ liệu ô lưới Ookla của quý IV/2025)")
    assert cellular[8] == "không tính (cùng dữ liệu ô lưới Ookla của quý IV/2025)"
    assert "là số liệu theo quý" in " ".join(html.text)
    (trend,) = html.body("trend-table")  # the quarter once, named as a quarter
    assert trend[0] == "quý IV/2025"
    assert trend[-1] == "theo quý (dữ liệu ô lưới Ookla của quý IV/2025)"
    assert "theo quý (dữ liệu ô lưới Ookla của quý IV/2025)" in markdown
    html_en, markdown_en = pages["en"]
    cellular_en = {r[0]: r for r in html_en.body("province")}["All cellular"]
    assert cellular_en[3].endswith("quarterly (Ookla tiles Q4 2025)")
    assert cellular_en[8] == "none (same Ookla tiles Q4 2025)"
    assert [r[0] for r in html_en.body("trend-table")] == ["Q4 2025"]
    assert "| Q4 2025 |" in markdown_en


def _expected_history(months: list[Analysis], code: str) -> tuple[str | None, int]:
    """The change basis and the run below target of ``code``, by plain loops.

    ``months`` is the month analysed, then the months before it, each with its own
    verdicts and data periods as its analysis stored them.
    """
    rows = [_rows(a).get(code, {}) for a in months]
    now, before = rows[0].get("data_period"), rows[1].get("data_period")
    basis = None
    if now and before and rows[1].get("download_mean_mbps") is not None:
        quarter = now.split("+")[-1] if "Q" in now else None
        if now == before:
            basis = "same_data"
        elif quarter and quarter == (before.split("+")[-1] if "Q" in before else None):
            basis = "shared_tiles"
        else:
            basis = "distinct"
    seen: set[str] = set()
    for row in rows:
        if row.get("verdict") != Verdict.BELOW:
            break
        seen.add(row["data_period"])
    return basis, len(seen)


@pytest.mark.parametrize("month", ["2025-10", "2025-11", "2025-12"])
def test_mixed_months_compare_their_data_periods(
    month: str, mixed_months: dict[str, Analysis]
) -> None:
    order = ["2025-12", "2025-11", "2025-10", "2025-09"]
    months = [mixed_months[m] for m in order[order.index(month) :]]
    analysis = months[0]
    rows = _rows(analysis)
    kinds = set()
    for code, row in rows.items():
        basis, run = _expected_history(months, code)
        assert row["change_basis"] == basis, code
        assert row["months_below_target"] == run, code
        if basis in ("distinct", "shared_tiles"):
            assert row["download_mean_change_mbps"] == pytest.approx(
                row["download_mean_mbps"] - row["prev_download_mean_mbps"]
            )
        else:
            assert row["download_mean_change_mbps"] is None
        kinds.add((row["data_period"], basis))
    if month == "2025-10":
        # Single tests and tiles, against September's single tests: apart.
        assert ("2025-10+2025-Q4", "distinct") in kinds
    elif month == "2025-11":
        # Both months hold their own single tests and the same tiles: a change,
        # flagged, since the shared tiles damp it.
        assert ("2025-11+2025-Q4", "shared_tiles") in kinds
    else:
        # December's tiles alone, against November's tests and tiles.
        assert ("2025-Q4", "shared_tiles") in kinds
    runs = [r["months_below_target"] for r in rows.values()]
    assert max(runs) <= len(months)


def test_data_periods_follow_from_the_tests_of_each_group(
    mixed_months: dict[str, Analysis],
) -> None:
    november = mixed_months["2025-11"]
    stats = november.stats.filter(pl.col("tests") > 0)
    singles = (stats["tests"] - stats["tile_tests"]).to_numpy()
    tiles = stats["tile_tests"].to_numpy()
    expected = np.where(
        (singles > 0) & (tiles > 0),
        "2025-11+2025-Q4",
        np.where(tiles > 0, "2025-Q4", "2025-11"),
    )
    assert stats["data_period"].to_list() == expected.tolist()
    empty = november.stats.filter(pl.col("tests") == 0)
    assert empty["data_period"].null_count() == empty.height


def test_an_analysis_stored_before_data_periods_reads_and_reports(
    tiles_only: Store, tmp_path: Path
) -> None:
    for month in QUARTER_MONTHS:
        analyze_month(tiles_only, AnalyzeOptions(month=month))
    for month in QUARTER_MONTHS:  # as stored before: no period columns
        path = load_analysis(tiles_only, month).path
        assert path is not None
        table = pl.read_parquet(path / STATS_FILE)
        table.drop("data_period", "prev_data_period", "change_basis").write_parquet(
            path / STATS_FILE
        )
    old = load_analysis(tiles_only, "2025-12")
    cellular = old.stats.filter(pl.col("level") == "province", pl.col("technology") == "all")
    assert cellular["data_period"].to_list() == ["2025-Q4"]
    assert cellular["change_basis"].to_list() == [None]
    context = build_context(tiles_only, old, generated_at="2026-01-05")
    assert [p.months for p in context.trend.points] == [list(QUARTER_MONTHS)]
    options = ReportOptions(
        month="2025-12", formats=("html",), out=tmp_path, generated_at="2026-01-05"
    )
    write_report(tiles_only, options)
    assert (tmp_path / "2025-12" / "report.html").is_file()
