"""``analyze --from --to`` and ``report --from --to``: the statistics of a period of days.

The sample store (data/samples) with a few planted tests at the edges of the
period, of an operator the samples do not have (Gmobile), so that its rows rest on
them alone. Every count and mean is checked against a second computation here:
the stored single tests read with Polars, their local date taken in the store's
time zone (UTC+7), each point put in its commune with shapely, then counted and
averaged in plain Python.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import shapely

from qostool.analyze.period import (
    PERIOD_KIND,
    Period,
    PeriodOptions,
    analyze_period,
    load_period_analysis,
    parse_period,
)
from qostool.analyze.run import KIND, AnalyzeOptions, analyze_month, load_analysis
from qostool.errors import ExitCode, UsageError
from qostool.geo.boundaries import BoundaryOptions
from qostool.geo.versions import import_boundaries
from qostool.ingest import ingest_paths
from qostool.report import ReportOptions, write_report
from qostool.report.period import period_checks
from qostool.store import Store
from tests.conftest import REPO, TZ, one_line

SAMPLES = REPO / "data" / "samples"
PROVINCE = SAMPLES / "province.geojson"
ICT = timezone(timedelta(hours=7))
START, END = date(2025, 10, 6), date(2025, 10, 12)
KEY = "2025-10-06_2025-10-12"
EDGE_COMMUNE = "99002"


@dataclass(frozen=True)
class Edge:
    """A planted test: its local time, its speed, and whether the period holds it."""

    local: datetime
    download: float
    inside: bool


EDGES = (
    Edge(datetime(2025, 10, 5, 23, 59, 59, tzinfo=ICT), 11.0, False),
    Edge(datetime(2025, 10, 6, 0, 0, tzinfo=ICT), 22.0, True),  # 2025-10-05 17:00 UTC
    Edge(datetime(2025, 10, 9, 12, 0, tzinfo=ICT), 33.0, True),
    Edge(datetime(2025, 10, 12, 23, 59, tzinfo=ICT), 44.0, True),  # 16:59 UTC, same day
    Edge(datetime(2025, 10, 13, 0, 0, tzinfo=ICT), 55.0, False),  # 2025-10-12 17:00 UTC
)


def _write_edges(path: Path) -> None:
    """The planted tests as an RTR-NetTest style export (UTC times, kbit/s), on 4G."""
    communes = json.loads(PROVINCE.read_text(encoding="utf-8"))["features"]
    shape = next(
        shapely.geometry.shape(f["geometry"])
        for f in communes
        if f["properties"]["id"] == EDGE_COMMUNE
    )
    point = shapely.point_on_surface(shape)
    lines = [
        "open_uuid,open_test_uuid,time_utc,cat_technology,network_type,lat,long,loc_accuracy,"
        "download_kbit,upload_kbit,ping_ms,network_mcc_mnc,network_name,implausible,pinned,"
        "signal_strength"
    ]
    for k, edge in enumerate(EDGES):
        utc = edge.local.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(
            f"P{k:032x},E{k:032x},{utc},4G,LTE,{point.y:.6f},{point.x:.6f},5.0,"
            f"{round(edge.download * 1000)},{round(edge.download * 300)},30.0,452-07,Gmobile,"
            "false,true,-90"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def period_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The samples and the planted edges ingested, the province imported, October analysed."""
    root = tmp_path_factory.mktemp("period")
    _write_edges(root / "edges.csv")
    ingest_paths([str(SAMPLES), str(root / "edges.csv")], store=root / "store")
    store = Store.open(root / "store", timezone=TZ)
    import_boundaries(store, PROVINCE, BoundaryOptions())
    analyze_month(store, AnalyzeOptions(month="2025-10"))
    return store


def _independent(store: Store, start: date, end: date) -> dict[tuple[str, str, str], list[float]]:
    """Downloads by (commune, operator, technology) of the single tests of the local dates,
    ``all`` for all operators and for the cellular technologies together."""
    frame = (
        pl.concat(
            [pl.read_parquet(p) for p in sorted((store.root / "tests").rglob("*.parquet"))],
            how="diagonal_relaxed",
        )
        .filter(~pl.col("aggregate").fill_null(False))
        .with_columns(day=pl.col("measured_at").dt.convert_time_zone(TZ).dt.date())
        .filter(pl.col("day").is_between(start, end))
    )
    communes = json.loads(PROVINCE.read_text(encoding="utf-8"))["features"]
    shapes = [(f["properties"]["id"], shapely.geometry.shape(f["geometry"])) for f in communes]
    out: dict[tuple[str, str, str], list[float]] = {}
    for row in frame.iter_rows(named=True):
        point = shapely.Point(row["lon"], row["lat"])
        code = next((c for c, s in shapes if s.covers(point)), None)
        if code is None:
            continue
        operator = str(row["operator"] or "unknown")
        technology = str(row["technology"] or "unknown")
        for op in (operator, "all"):
            out.setdefault((code, op, technology), []).append(row["download_mbps"])
            if technology != "wifi":
                out.setdefault((code, op, "all"), []).append(row["download_mbps"])
    return out


@pytest.fixture(scope="module")
def week(period_store: Store) -> Any:
    return analyze_period(period_store, PeriodOptions(period=Period(START, END)))


def test_counts_and_means_equal_an_independent_computation(period_store: Store, week: Any) -> None:
    expected = _independent(period_store, START, END)
    rows = week.stats.filter(pl.col("level").is_in(["commune", "commune_operator"]))
    found = {
        (r["commune_code"], r["operator"], r["technology"]): r
        for r in rows.iter_rows(named=True)
        if r["tests"] > 0
    }
    assert set(found) == set(expected)
    for key, values in expected.items():
        row = found[key]
        assert row["tests"] == len(values), key
        assert row["download_mean_mbps"] == pytest.approx(statistics.fmean(values), rel=1e-9)
    assert len(expected) > 50  # the samples give many groups, not a handful


def test_the_edges_of_the_local_dates(week: Any) -> None:
    """23:59 local on the last day is in, 00:00 local the next day is out (and so at the start)."""
    planted = week.stats.filter(
        pl.col("level") == "commune_operator",
        pl.col("commune_code") == EDGE_COMMUNE,
        pl.col("operator") == "Gmobile",
        pl.col("technology") == "4G",
    )
    inside = [e.download for e in EDGES if e.inside]
    assert planted["tests"].to_list() == [len(inside)]
    assert planted["download_mean_mbps"][0] == pytest.approx(statistics.fmean(inside))
    assert planted["data_period"].to_list() == [KEY]


def test_single_tests_only_and_no_history(week: Any) -> None:
    meta = week.meta
    assert meta["period"] == {"from": "2025-10-06", "to": "2025-10-12", "days": 7}
    assert "Ookla tiles are left out" in meta["tiles"]
    assert meta["counts"]["tile_rows_left_out"] > 0  # the samples' 2025-Q4 tiles
    assert meta["counts"]["tile_rows"] == 0 and meta["month"] is None
    assert week.stats["tile_tests"].fill_null(0).sum() == 0
    history = {"prev_download_mean_mbps", "download_mean_change_mbps", "months_below_target"}
    assert not history & set(week.stats.columns)
    assert week.role == "period" and week.folder == f"period-{KEY}"


def test_the_month_is_untouched_and_the_same_dates_replace(period_store: Store, week: Any) -> None:
    official = load_analysis(period_store, "2025-10")
    officials = [a.path for a in period_store.artifacts(KIND, "2025-10")]
    again = analyze_period(period_store, PeriodOptions(period=Period(START, END)))
    assert [a.path for a in period_store.artifacts(KIND, "2025-10")] == officials
    assert load_analysis(period_store, "2025-10").path == official.path
    stored = period_store.artifacts(PERIOD_KIND, KEY)
    assert [a.path for a in stored] == [again.path]  # the earlier one of the same dates: gone
    assert again.path is not None and again.path.parent == period_store.root / "periods" / KEY
    assert load_period_analysis(period_store, Period(START, END)).path == again.path


def test_a_period_with_no_tests_names_its_dates(period_store: Store) -> None:
    from qostool.errors import AnalysisError

    with pytest.raises(AnalysisError, match="from 2024-03-01 to 2024-03-03"):
        analyze_period(
            period_store, PeriodOptions(period=Period(date(2024, 3, 1), date(2024, 3, 3)))
        )


def test_the_checks_skip_what_is_about_months(period_store: Store, week: Any) -> None:
    checks = {
        c.name: c
        for c in period_checks(period_store, load_period_analysis(period_store, Period(START, END)))
    }
    assert (
        checks["same_boundaries"].status == "ok" and "skipped" in checks["same_boundaries"].message
    )
    assert "skipped" in checks["communes_kept"].message
    assert checks["period_over"].status == "ok" and "month_over" not in checks
    assert all(c.status == "ok" for c in checks.values())


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_the_report_names_the_dates_not_a_month(
    period_store: Store, week: Any, tmp_path: Path, lang: str
) -> None:
    options = ReportOptions(
        month=KEY,
        lang=lang,
        formats=("html", "md"),
        out=tmp_path,
        generated_at="2025-11-20",
        period=Period(START, END),
    )
    result = write_report(period_store, options)
    folder = tmp_path / f"period-{KEY}"
    assert result.files == {"html": folder / "report.html", "md": folder / "report.md"}
    for path in result.files.values():
        text = path.read_text(encoding="utf-8")
        if lang == "en":
            assert "Reporting period: from 6 October 2025 to 12 October 2025" in text
            assert "October 2025," not in text.replace("12 October 2025,", "")
            assert "Reporting month" not in text and "12-month trend" not in text
            assert "A report of a period of days does not follow the change over the months" in text
            assert "Ookla tiles are left out" in text
        else:
            assert "từ ngày 06/10/2025 đến ngày 12/10/2025" in text
            assert "tháng 10 năm 2025" not in text and "Xu hướng 12 tháng" not in text
            assert "không có phần diễn biến qua các tháng" in text


def test_cli_analyze_export_and_report(
    cli: Callable[..., Any], period_store: Store, tmp_path: Path
) -> None:
    store = period_store.root
    result = cli(
        "analyze", "--from", "2025-10-06", "--to", "2025-10-12", "--store", store,
        "--export", "csv", "--out", tmp_path / "res", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["role"] == "period" and data["month"] is None
    assert data["period"]["from"] == "2025-10-06"
    assert sorted(p.name for p in (tmp_path / "res" / f"period-{KEY}").iterdir()) == [
        "communes.csv",
        "stats.csv",
    ]
    assert not (tmp_path / "res" / "2025-10").exists()
    result = cli(
        "report", "--from", "2025-10-06", "--to", "2025-10-12", "--store", store,
        "--format", "html,md", "--lang", "en", "--out", tmp_path / "rep",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "rep" / f"period-{KEY}" / "report.html").is_file()
    assert cli("store", "check", "--store", store).exit_code == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["analyze", "--month", "2025-10", "--from", "2025-10-06", "--to", "2025-10-07"],
         "--month and --from/--to exclude each other"),
        (["analyze", "--from", "2025-10-09", "--to", "2025-10-07"],
         "--to 2025-10-07 is before --from 2025-10-09"),
        (["analyze", "--from", "2025-10-09"], "--from needs --to"),
        (["analyze", "--to", "2025-10-09"], "--to needs --from"),
        (["analyze", "--from", "2025-10-9", "--to", "2025-10-12"], "not a date"),
        (["analyze"], "give --month YYYY-MM, or --from"),
        (["analyze", "--from", "2025-10-06", "--to", "2025-10-07", "--name", "x"],
         "--name is for a month's analyses"),
        (["report", "--month", "2025-10", "--to", "2025-10-07"],
         "--month and --from/--to exclude each other"),
        (["report", "--from", "2025-10-09", "--to", "2025-10-01"], "is before --from"),
    ],
)  # fmt: skip
def test_wrong_usage_exits_2(
    cli: Callable[..., Any], tmp_path: Path, args: list[str], needle: str
) -> None:
    result = cli(*args, "--store", tmp_path / "nowhere")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert needle in one_line(result) and "Traceback" not in result.output
    assert not (tmp_path / "nowhere").exists()


def test_cli_a_period_without_tests_exits_1(cli: Callable[..., Any], period_store: Store) -> None:
    result = cli(
        "analyze", "--from", "2024-03-01", "--to", "2024-03-03", "--store", period_store.root
    )
    assert result.exit_code == ExitCode.ERROR, result.output
    assert "2024-03-01 to 2024-03-03" in one_line(result)


def test_compare_rule_is_refused_for_a_period(
    period_store: Store, week: Any, tmp_path: Path
) -> None:
    options = ReportOptions(
        month=KEY, out=tmp_path, compare_rule="vnnic", period=Period(START, END)
    )
    with pytest.raises(UsageError, match="--compare-rule is for a month's report"):
        write_report(period_store, options)
    # Nor does a period follow one operator's roll-out over months.
    options = ReportOptions(month=KEY, out=tmp_path, operator="Viettel", period=Period(START, END))
    with pytest.raises(UsageError, match="--operator is for a month's report"):
        write_report(period_store, options)
    assert not any(tmp_path.iterdir())


def test_parse_period() -> None:
    assert parse_period("2025-11-06", "2025-11-08").key == "2025-11-06_2025-11-08"
    assert parse_period("2025-11-06", "2025-11-06").days == 1
    assert Period(date(2025, 12, 30), date(2026, 1, 2)).months() == ["2025-12", "2026-01"]
    with pytest.raises(UsageError):
        parse_period("2025-11-08", "2025-11-06")


def test_analyses_lists_the_periods(
    cli: Callable[..., Any], period_store: Store, week: Any
) -> None:
    result = cli("analyses", "--store", period_store.root, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["analyses"]
    periods = [r for r in rows if r["role"] == "period"]
    assert [r["period"] for r in periods] == [KEY] and periods[0]["month"] is None
    assert any(r["month"] == "2025-10" and r["role"] == "official" for r in rows)
    text = one_line(cli("analyses", "--store", period_store.root))
    assert "the period 2025-10-06 to 2025-10-12" in text and "report --from" in text
    only_month = cli("analyses", "--store", period_store.root, "--month", "2025-10", "--json")
    assert all(r["role"] != "period" for r in json.loads(only_month.stdout)["analyses"])
