"""The rules at their edges, each against values worked out by hand from docs/methodology.md.

Every test here was written against a one-line mistake that left the rest of the suite
green; its docstring names the mistake it guards against. Expectations are hand-computed
(or come from the standard library), never from the code under test.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import geopandas as gpd
import polars as pl
import pytest

from qostool.analyze.rules import Rule, Statistic, Verdict
from qostool.analyze.run import Analysis, AnalyzeOptions, analyze_month
from qostool.analyze.stats import add_history, dedupe_bursts, statistics, with_data_period
from qostool.geo.boundaries import BoundaryOptions
from qostool.geo.versions import import_boundaries
from qostool.ingest import ingest_paths
from qostool.ingest import normalize as nz
from qostool.store import Store
from tests.conftest import REPO, TZ, ingest_json, stored

PROVINCE = REPO / "data" / "samples" / "province.geojson"
LOCAL = ZoneInfo(TZ)


def group(
    download: list[float],
    *,
    commune: str = "A",
    technology: str = "4G",
    devices: list[str] | None = None,
) -> pl.DataFrame:
    """Single tests of one commune, operator and technology, in the statistics' input shape."""
    n = len(download)
    return pl.DataFrame(
        {
            "commune_code": [commune] * n,
            "operator": ["Viettel"] * n,
            "technology": [technology] * n,
            "download_mbps": download,
            "upload_mbps": [10.0] * n,
            "latency_ms": [30.0] * n,
            "device_id": devices or [f"{commune}-{i}" for i in range(n)],
            "weight": [1] * n,
            "aggregate": [False] * n,
            "devices": [None] * n,
            "peak": [False] * n,
        },
        schema_overrides={"devices": pl.Int64},
    )


def commune_row(stats: pl.DataFrame, commune: str, technology: str = "4G") -> dict[str, Any]:
    rows = stats.filter(
        pl.col("level") == "commune",
        pl.col("commune_code") == commune,
        pl.col("technology") == technology,
    )
    assert rows.height == 1, rows
    return rows.row(0, named=True)


# -- the analysis of a small store: peak hours and the share of 5G ------------------------

#: Local (Asia/Ho_Chi_Minh, UTC+7) times of the first commune's 4G tests and their speeds.
#: The evening peak is 19:00:00 up to, not including, 22:00:00 local time.
PEAK_ROWS = [
    ("p1", datetime(2025, 10, 10, 19, 0, 0), 10.0),  # first second of the peak
    ("p2", datetime(2025, 10, 10, 21, 59, 59), 20.0),  # last second of the peak
    ("n1", datetime(2025, 10, 10, 22, 0, 0), 40.0),  # the peak is over
    ("n2", datetime(2025, 10, 10, 18, 59, 59), 80.0),  # not yet
    ("n3", datetime(2025, 10, 11, 3, 0, 0), 160.0),  # 20:00 UTC: peak hours in UTC, not here
]
#: The second commune: 3 tests on 5G, 1 on 4G and 2 on Wi-Fi; the third: Wi-Fi only.
SHARE_ROWS = [("NR", 3), ("LTE", 1), ("WIFI", 2)]


@pytest.fixture(scope="module")
def small_analysis(tmp_path_factory: pytest.TempPathFactory) -> tuple[Analysis, list[str]]:
    """October 2025 of a store holding only the tests above, and the three communes' codes."""
    folder = tmp_path_factory.mktemp("edges")
    communes = gpd.read_file(PROVINCE).sort_values("id").head(3)
    codes = [str(c) for c in communes["id"]]
    spots = [g.representative_point() for g in communes.geometry]
    lines = ["test_id,time,latitude,longitude,download_mbps,network_type,device_id"]
    for test_id, local, speed in PEAK_ROWS:
        stamp = local.replace(tzinfo=LOCAL).isoformat()
        lines.append(f"{test_id},{stamp},{spots[0].y},{spots[0].x},{speed},LTE,dev-{test_id}")
    n = 0
    for spot, rows in ((spots[1], SHARE_ROWS), (spots[2], [("WIFI", 2)])):
        for network, count in rows:
            for _ in range(count):
                n += 1
                lines.append(
                    f"s{n},2025-10-12T10:00:00+07:00,{spot.y},{spot.x},50,{network},dev-s{n}"
                )
    csv = folder / "edges.csv"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    root = folder / "store"
    ingest_paths([str(csv)], store=root)
    store = Store.open(root, timezone=TZ)
    import_boundaries(store, PROVINCE, BoundaryOptions())
    return analyze_month(store, AnalyzeOptions(month="2025-10")), codes


def test_peak_hours_are_local_time(small_analysis: tuple[Analysis, list[str]]) -> None:
    """Guards: the hour of a test taken in UTC instead of the store's local time.

    Local 19:00:00 and 21:59:59 are in the peak; in UTC they are 12:00 and 14:59, and
    the only test at a UTC peak hour (20:00 UTC) is 03:00 locally.
    """
    analysis, codes = small_analysis
    for technology in ("4G", "all"):
        row = commune_row(analysis.stats, codes[0], technology)
        assert row["tests"] == 5
        assert row["peak_tests"] == 2
        assert row["peak_download_mean_mbps"] == pytest.approx((10.0 + 20.0) / 2)


def test_the_peak_ends_before_22_00(small_analysis: tuple[Analysis, list[str]]) -> None:
    """Guards: 22:00 counted as peak (the hour range closed on both ends).

    The test at 22:00:00 local is out, the one at 21:59:59 in: 2 peak tests, not 3.
    """
    analysis, _ = small_analysis
    province = analysis.stats.filter(pl.col("level") == "province", pl.col("technology") == "4G")
    assert province["peak_tests"].to_list() == [2]
    assert province["peak_download_mean_mbps"].to_list() == [pytest.approx(15.0)]


def test_share_of_5g_is_out_of_cellular_tests(small_analysis: tuple[Analysis, list[str]]) -> None:
    """Guards: the 5G share divided by every test, Wi-Fi included.

    3 tests on 5G, 1 on 4G, 2 on Wi-Fi: 3 of 4 cellular tests (0.75), not 3 of 6. A
    commune with Wi-Fi tests only has no share at all (no cellular test to divide by).
    """
    analysis, codes = small_analysis
    table = {r["commune_code"]: r for r in analysis.communes.iter_rows(named=True)}
    mixed, wifi_only, peak = table[codes[1]], table[codes[2]], table[codes[0]]
    assert (mixed["tests_mobile"], mixed["tests_fixed"]) == (4, 2)
    assert (mixed["tests_5g"], mixed["tests_4g"]) == (3, 1)
    assert mixed["share_5g"] == pytest.approx(3 / 4)
    assert mixed["has_5g"] is True
    # Wi-Fi is the fixed network: a commune with Wi-Fi tests only has no mobile tests.
    assert (wifi_only["tests_mobile"], wifi_only["tests_fixed"]) == (0, 2)
    assert (wifi_only["tests_5g"], wifi_only["has_tests"]) == (0, False)
    assert wifi_only["share_5g"] is None
    assert wifi_only["has_5g"] is False
    assert peak["share_5g"] == 0.0


# -- verdicts: minimums, shares at the target, the run of months below --------------------


def test_devices_and_tests_exactly_at_the_minimum_are_enough() -> None:
    """Guards: a group with exactly ``--min-devices`` devices (or ``--min-tests`` tests)
    called insufficient data.

    The rule is "fewer than the minimum" is insufficient: 5 devices and 6 tests meet
    minimums of 5 and 6; 4 devices, or 5 tests, do not.
    """
    rule = Rule(min_tests=6, min_devices=5)
    fast = [80.0, 81.0, 82.0, 79.0, 80.5, 81.5]  # well above 40 Mbps, with some spread
    data = pl.concat(
        [
            group(fast, commune="A", devices=["a", "b", "c", "d", "e", "a"]),  # 5 devices
            group(fast, commune="B", devices=["a", "b", "c", "d", "a", "b"]),  # 4 devices
            group(fast[:5], commune="C"),  # 5 tests, 5 devices
        ]
    )
    stats = statistics(data.lazy(), rule)
    a, b, c = (commune_row(stats, code) for code in "ABC")
    # Single tests only: the devices are known exactly (the range is one number).
    assert (a["tests"], a["devices_min"], a["devices_max"], a["verdict"]) == (
        6,
        5,
        5,
        Verdict.MEETS,
    )
    assert (b["devices_min"], b["verdict"]) == (4, Verdict.INSUFFICIENT)
    assert (c["tests"], c["verdict"]) == (5, Verdict.INSUFFICIENT)


def test_a_download_exactly_at_the_target_counts_in_the_share() -> None:
    """Guards: "at or above the target" read as "above" in ``share_ge_target``.

    Three of five tests are exactly 40 Mbps (the 4G target), one is 100 and one 39.999:
    4 of 5 are at or above (0.8). The same holds for a target set on ``all``.
    """
    rule = Rule(targets={"4G": 40.0, "all": 40.0})
    stats = statistics(group([40.0, 40.0, 40.0, 39.999, 100.0]).lazy(), rule)
    assert commune_row(stats, "A")["share_ge_target"] == pytest.approx(0.8)
    assert commune_row(stats, "A", "all")["share_ge_target"] == pytest.approx(0.8)


def test_the_share_statistic_counts_tests_at_the_target() -> None:
    """Guards: the same mistake seen through the verdict of ``--statistic share``.

    Every test is exactly at the target: the share is 1, and the group meets 80 %.
    """
    rule = Rule(statistic=Statistic.SHARE, min_tests=10, min_devices=1)
    row = commune_row(statistics(group([40.0] * 30).lazy(), rule), "A")
    assert row["statistic_value"] == 1.0
    assert row["verdict"] == Verdict.MEETS


def test_no_run_of_months_below_when_this_month_meets() -> None:
    """Guards: the months below target counted from earlier months when this one meets.

    The run ends with this month: a month that meets the target has 0, however many
    months before it were below.
    """
    rule = Rule(min_tests=3, min_devices=1)

    def month(values: list[float], label: str) -> pl.DataFrame:
        """A month of single tests: its own data period."""
        return with_data_period(statistics(group(values).lazy(), rule), label)

    below = [10.0, 11.0, 12.0]
    meets = month([80.0, 81.0, 82.0], "2025-10")
    assert commune_row(meets, "A")["verdict"] == Verdict.MEETS
    result = add_history(meets, [month(below, "2025-09"), month(below, "2025-08")])
    assert commune_row(result, "A")["months_below_target"] == 0
    # A month without a verdict (too few tests) ends the run as a month that meets does.
    thin = month([10.0], "2025-09")
    result = add_history(month(below, "2025-10"), [thin, month(below, "2025-08")])
    assert commune_row(result, "A")["months_below_target"] == 1


# -- bursts -------------------------------------------------------------------------------


def test_a_burst_gap_of_exactly_the_window_is_a_burst() -> None:
    """Guards: a device's test exactly ``hours`` after its previous one counted as new.

    A burst is a test at most 3 hours (and 100 m) after the device's previous one:
    3 h 0 min 0 s is in it; 3 h and one second is not.
    """
    start = datetime(2025, 10, 10, 5, 0, tzinfo=UTC)
    tests = pl.DataFrame(
        {
            "device_id": ["a", "a", "b", "b"],
            "measured_at": [
                start,
                start + timedelta(hours=3),
                start,
                start + timedelta(hours=3, seconds=1),
            ],
            "lat": [21.0] * 4,
            "lon": [105.0] * 4,
            "aggregate": [False] * 4,
            "download_mbps": [1.0, 2.0, 3.0, 4.0],
        },
        schema_overrides={"measured_at": pl.Datetime("us", "UTC")},
    )
    kept, dropped = dedupe_bursts(tests, hours=3, metres=100)
    assert dropped == 1
    assert kept["download_mbps"].to_list() == [1.0, 3.0, 4.0]


# -- ingest: units and local times ----------------------------------------------------------


def test_gbps_and_microseconds_are_converted(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    """Guards: wrong factors for Gbps (speeds) and µs (latency).

    1 Gbps is 1,000 Mbps (1.5 Gbps: 1,500 Mbps; 0.25 Gbit/s: 250 Mbps); 1 µs is
    1/1,000 ms (25,000 µs: 25 ms).
    """
    data = write(
        "units.csv",
        "When,Lat,Lon,DL,UL,RTT\n2025-10-05 10:00,21.5,103.2,1.5,0.25,25000\n",
    )
    args = ["--map", "measured_at=When", "--map", "lat=Lat", "--map", "lon=Lon"]
    args += ["--map", "download_mbps=DL", "--unit", "download_mbps=Gbps"]
    args += ["--map", "upload_mbps=UL", "--unit", "upload_mbps=gbit/s"]
    args += ["--map", "latency_ms=RTT", "--unit", "latency_ms=us"]
    out = ingest_json(cli, data, "--store", store_dir, *args)
    assert out["totals"]["accepted"] == 1, out
    row = stored(store_dir).row(0, named=True)
    assert row["download_mbps"] == pytest.approx(1500.0)
    assert row["upload_mbps"] == pytest.approx(250.0)
    assert row["latency_ms"] == pytest.approx(25.0)


def test_an_ambiguous_local_time_is_the_earlier_one() -> None:
    """Guards: the other choice for a local time that happens twice (a clock set back).

    In Berlin 02:30 on 26 October 2025 happens first in summer time (00:30 UTC), then
    an hour later in winter time (01:30 UTC); the earlier is taken, as the standard
    library does (``fold=0``). A time that never happens (the clock set forward on 30
    March) cannot be placed and is unreadable.
    """
    zone = "Europe/Berlin"
    first = datetime(2025, 10, 26, 2, 30, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    assert first == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)  # the zone data agrees
    got = nz.to_utc(
        pl.Series(["2025-10-26 02:30:00", "26/10/2025 02:30", "2025-03-30 02:30:00"]),
        naive_timezone=zone,
    ).to_list()
    assert got == [first, first, None]


# -- found by the mutation run (bench/mutation.py) -------------------------------------------


def test_the_documented_defaults() -> None:
    """Guards: a default changed away from docs/methodology.md (30 tests, 5 devices, ...).

    The page gives every default and why; a changed default would change every
    analysis without an option in sight.
    """
    assert Rule().to_dict() == {
        "preset": "province",
        "targets_mbps": {"4G": 40.0, "5G": 100.0},
        "statistic": "mean",
        "min_tests": 30,
        "min_devices": 5,
        "min_share": 0.8,
        "confidence": 0.95,
        "peak_hours": [19, 22],
    }


def test_rule_limits_accept_their_own_edges() -> None:
    """Guards: an allowed value refused at the edge of its range.

    Any positive target (0.5 Mbps too), ``--min-devices 0``, ``--min-tests 1``,
    ``--min-share 1``, ``--confidence 0.5`` and peak hours starting at 0 or ending
    at 24 are all allowed.
    """
    Rule(targets={"2G": 0.5}, min_tests=1, min_devices=0, min_share=1.0, confidence=0.5)
    Rule(peak_hours=(0, 6))
    Rule(peak_hours=(18, 24))


def test_a_group_without_an_interval_is_inconclusive() -> None:
    """Guards: a verdict given on a statistic whose interval cannot be computed.

    One test (with ``--min-tests 1``) has a mean but no interval: inconclusive, not
    meets or below (methodology section 7).
    """
    rule = Rule(min_tests=1, min_devices=1)
    stats = statistics(pl.concat([group([90.0]), group([10.0], commune="B")]).lazy(), rule)
    for code in "AB":
        row = commune_row(stats, code)
        assert row["download_mean_ci_low"] is None and row["download_mean_ci_high"] is None
        assert row["verdict"] == Verdict.INCONCLUSIVE


#: Degrees of latitude per metre along a meridian, on the sphere of the methodology's
#: great-circle distances (mean Earth radius 6,371,008.8 m).
DEG_PER_M = 180 / (3.141592653589793 * 6_371_008.8)


def test_burst_distances_and_a_microsecond_past_the_window() -> None:
    """Guards: a wrong distance scale in the burst rule, and a window a little too long.

    80 m north of the previous test is within 100 m (a burst); 120 m is not. A test
    3 hours and 1 microsecond after the previous one is past the window.
    """
    start = datetime(2025, 10, 10, 5, 0, tzinfo=UTC)
    minute = timedelta(minutes=1)
    tests = pl.DataFrame(
        {
            "device_id": ["near", "near", "far", "far", "late", "late"],
            "measured_at": [
                start,
                start + minute,
                start,
                start + minute,
                start,
                start + timedelta(hours=3, microseconds=1),
            ],
            "lat": [21.0, 21.0 + 80 * DEG_PER_M, 21.0, 21.0 + 120 * DEG_PER_M, 21.0, 21.0],
            "lon": [105.0] * 6,
            "aggregate": [False] * 6,
            "download_mbps": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        },
        schema_overrides={"measured_at": pl.Datetime("us", "UTC")},
    )
    kept, dropped = dedupe_bursts(tests, hours=3, metres=100)
    assert dropped == 1
    assert kept["download_mbps"].to_list() == [1.0, 3.0, 4.0, 5.0, 6.0]


def test_a_tie_of_decimal_marks_keeps_the_decimal_point() -> None:
    """Guards: a file whose certain decimal commas and points are as many read with commas.

    The comma wins only with more certain commas than certain points; with none of
    either (``1.234`` could be either) the point is kept, as docs/ingest.md says.
    """
    assert nz.is_decimal_comma([(0, 0)]) is False
    assert nz.is_decimal_comma([(2, 1), (0, 1)]) is False  # 2 against 2
    assert nz.is_decimal_comma([(2, 1), (1, 0)]) is True


def test_an_epoch_number_out_of_range_is_unreadable() -> None:
    """Guards: a time number too large for a timestamp stopping the ingest with an error.

    ``1e30`` seconds is no time: it becomes null (rejected as an invalid timestamp),
    and the other values of the column are still read.
    """
    got = nz.to_utc(pl.Series(["1e30", "1759280400"]), naive_timezone=TZ).to_list()
    assert got == [None, datetime(2025, 10, 1, 1, 0, tzinfo=UTC)]
