"""``qostool event`` end to end: planted silent, degraded and thin communes are recovered.

The test data are made here with a fixed seed: the sample province's 30 communes,
tests of three operators on fixed days of a baseline and a window (a known count
per commune x operator x day, so every expected number is known exactly), then
ingested and analysed through the CLI. Every count, expected number, chance of no
test and median ratio is checked against a second computation in plain Python
(``statistics.median``, ``math.exp``) and the intervals against a bootstrap
written here with numpy.
"""

from __future__ import annotations

import json
import math
import statistics
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import polars as pl
import pytest
import shapely

from qostool.analyze.event import bootstrap_medians, median_ratio_interval, periods_of
from qostool.errors import ExitCode, UsageError
from tests.conftest import REPO, one_line

PROVINCE = REPO / "data" / "samples" / "province.geojson"
SAMPLES = REPO / "data" / "samples"
ICT = timezone(timedelta(hours=7))
SEED = 20_251_106

START, END = date(2025, 11, 6), date(2025, 11, 8)
BASELINE = [date(2025, 10, 9) + timedelta(days=k) for k in range(28)]
WINDOW = [START + timedelta(days=k) for k in range(3)]
#: Operator -> (MCC-MNC, network name in the export, canonical name in the store).
OPERATORS = {
    "Viettel": ("452-04", "Viettel", "Viettel"),
    "VinaPhone": ("452-02", "VinaPhone", "VNPT-VinaPhone"),
    "MobiFone": ("452-01", "MobiFone", "MobiFone"),
}
PER_DAY = 3  # tests per commune x operator x day, everywhere usual
#: The plan: commune code -> what happens in it.
SILENT_ALL = "99017"  # no test at all in the window (Wi-Fi tests there are ignored)
SILENT_ONE = ("99010", "Viettel")  # only Viettel silent
DEGRADED_ALL = "99003"  # every window test five times slower
DEGRADED_ONE = ("99026", "MobiFone")  # only MobiFone slower
THIN = ("99001", "99030")  # 4 baseline tests per operator, 1 window test per operator and day
EMPTY = "99006"  # no tests at all
SLOW = 0.2


@dataclass(frozen=True)
class Made:
    """One generated test, as written to the export."""

    code: str
    operator: str  # the store's name
    local: datetime
    download: float
    wifi: bool = False


def _points(rng: np.random.Generator, shape: Any, n: int) -> np.ndarray:
    """``n`` points strictly inside ``shape`` (rejection sampling, away from the border)."""
    inner = shape.buffer(-0.002)
    west, south, east, north = inner.bounds
    found: list[np.ndarray] = []
    while sum(len(f) for f in found) < n:
        xy = rng.uniform((west, south), (east, north), size=(4 * n + 8, 2))
        found.append(xy[shapely.contains_xy(inner, xy[:, 0], xy[:, 1])])
    return np.vstack(found)[:n]


def _plan(code: str, operator: str, day: date) -> tuple[int, float]:
    """How many tests a commune x operator has on a day, and the factor of their speed."""
    in_window = day in WINDOW
    if code == EMPTY:
        return 0, 1.0
    if code in THIN:
        return (1 if day in BASELINE[::7] else 0, 1.0) if not in_window else (1, 1.0)
    if in_window and (code == SILENT_ALL or (code, operator) == SILENT_ONE):
        return 0, 1.0
    if in_window and (code == DEGRADED_ALL or (code, operator) == DEGRADED_ONE):
        return PER_DAY, SLOW
    return PER_DAY, 1.0


def make_tests(seed: int = SEED) -> list[Made]:
    """Every test of the plan, at random times of its local day (some just after midnight)."""
    rng = np.random.default_rng(seed)
    communes = gpd.read_file(PROVINCE).sort_values("id")
    made: list[Made] = []
    for code in communes["id"]:
        level = float(rng.uniform(25, 60))  # the commune's usual median
        for short, (_, _, operator) in OPERATORS.items():
            for day in [*BASELINE, *WINDOW]:
                n, factor = _plan(code, short, day)
                for k in range(n):
                    # The first test of a day at 00:05-00:55 local: the previous day in UTC.
                    hour = 0 if k == 0 else int(rng.integers(7, 23))
                    local = datetime(day.year, day.month, day.day, hour, tzinfo=ICT)
                    local += timedelta(minutes=int(rng.integers(5, 56)))
                    speed = level * float(rng.lognormal(0.0, 0.35)) * factor
                    made.append(Made(code, operator, local, round(speed, 2)))
    # Wi-Fi tests in the silent commune's window, and tests just outside the window there:
    # none of them may make it less silent.
    for hour in (9, 12, 18):
        local = datetime(2025, 11, 7, hour, tzinfo=ICT)
        made.append(Made(SILENT_ALL, "Viettel", local, 30.0, wifi=True))
    made.append(Made(SILENT_ALL, "Viettel", datetime(2025, 11, 5, 23, 50, tzinfo=ICT), 40.0))
    made.append(Made(SILENT_ALL, "Viettel", datetime(2025, 11, 9, 0, 10, tzinfo=ICT), 40.0))
    return made


RTR_HEADER = (
    "open_uuid,open_test_uuid,time_utc,cat_technology,network_type,lat,long,loc_accuracy,"
    "download_kbit,upload_kbit,ping_ms,network_mcc_mnc,network_name,implausible,pinned,"
    "signal_strength"
)


def write_export(made: list[Made], path: Path, seed: int = SEED) -> None:
    """The tests as an RTR-NetTest style export (UTC times, kbit/s)."""
    rng = np.random.default_rng(seed + 1)
    communes = gpd.read_file(PROVINCE).set_index("id")
    by_name = {canonical: (mcc, name) for mcc, name, canonical in OPERATORS.values()}
    places: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for t in made:
        counts[t.code] = counts.get(t.code, 0) + 1
    for code, n in sorted(counts.items()):
        places[code] = _points(rng, communes.loc[code].geometry, n)
    used: dict[str, int] = {}
    lines = [RTR_HEADER]
    for k, t in enumerate(made):
        lon, lat = places[t.code][used.get(t.code, 0)]
        used[t.code] = used.get(t.code, 0) + 1
        mcc, name = by_name[t.operator]
        category, network = ("WLAN", "WLAN") if t.wifi else ("4G", "LTE")
        utc = t.local.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(
            f"P{k % 97:032x},O{k:032x},{utc},{category},{network},{lat:.6f},{lon:.6f},5.0,"
            f"{round(t.download * 1000)},{round(t.download * 300)},30.0,{mcc},{name},false,"
            "true,-90"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Expected:
    """The second computation of one commune x operator group."""

    baseline: int
    window: int
    expected: float
    p_zero: float
    baseline_median: float | None
    window_median: float | None
    baseline_values: list[float]
    window_values: list[float]


def independent(made: list[Made]) -> dict[tuple[str, str], Expected]:
    """Counts, expected tests, chance of none and medians, by plain Python."""
    values: dict[tuple[str, str, str], list[float]] = {}
    for t in made:
        if t.wifi:
            continue
        day = t.local.date()  # the local day (the times were made in local time)
        period = "window" if START <= day <= END else "baseline" if day in BASELINE else None
        if period is None:
            continue
        for operator in (t.operator, "all"):
            values.setdefault((t.code, operator, period), []).append(t.download)
    codes = sorted(gpd.read_file(PROVINCE)["id"])
    out = {}
    for code in codes:
        for operator in ("all", *(o[2] for o in OPERATORS.values())):
            base = values.get((code, operator, "baseline"), [])
            window = values.get((code, operator, "window"), [])
            expected = len(base) / 28 * 3
            out[(code, operator)] = Expected(
                baseline=len(base),
                window=len(window),
                expected=expected,
                p_zero=math.exp(-expected),
                baseline_median=statistics.median(base) if base else None,
                window_median=statistics.median(window) if window else None,
                baseline_values=base,
                window_values=window,
            )
    return out


def planted() -> dict[str, set[tuple[str, str]]]:
    """The statuses the plan makes, with the default rule."""
    ops = [o[2] for o in OPERATORS.values()]
    silent = {(SILENT_ALL, o) for o in ["all", *ops]} | {(SILENT_ONE[0], "Viettel")}
    degraded = {(DEGRADED_ALL, o) for o in ["all", *ops]} | {(DEGRADED_ONE[0], "MobiFone")}
    thin = {(c, o) for c in (*THIN, EMPTY) for o in ["all", *ops]}
    return {"silent": silent, "degraded": degraded, "insufficient_data": thin}


@pytest.fixture(scope="module")
def event_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Made]]:
    """The generated export ingested and the sample province imported."""
    from typer.testing import CliRunner

    from qostool.cli import app

    root = tmp_path_factory.mktemp("event")
    made = make_tests()
    write_export(made, root / "storm.csv")
    runner = CliRunner()
    store = root / "store"
    for args in (
        ["ingest", str(root / "storm.csv"), "--store", str(store)],
        ["boundaries", "import", str(PROVINCE), "--store", str(store)],
    ):
        result = runner.invoke(app, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return store, made


def _event_json(cli: Callable[..., Any], store: Path, *args: str | Path) -> dict[str, Any]:
    result = cli(
        "event", "--from", "2025-11-06", "--to", "2025-11-08", "--store", store, "--json", *args
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_planted_statuses_and_figures_are_recovered(
    cli: Callable[..., Any], event_store: tuple[Path, list[Made]], tmp_path: Path
) -> None:
    store, made = event_store
    out = tmp_path / "out"
    summary = _event_json(
        cli, store, "--name", "Bão số 13", "--export", "csv,xlsx,gpkg", "--out", out
    )
    assert summary["baseline_from"] == "2025-10-09" and summary["baseline_to"] == "2025-11-05"
    assert summary["counts"]["wifi_tests_left_out"] == 3
    folder = out / "event-2025-11-06_2025-11-08"
    table = pl.read_csv(folder / "communes.csv", schema_overrides={"commune_code": pl.String})
    required = {
        "commune_code",
        "commune_name",
        "operator",
        "status",
        "expected_tests",
        "window_tests",
        "p_zero",
        "baseline_median_mbps",
        "window_median_mbps",
        "ratio_low",
        "ratio_high",
    }
    assert required <= set(table.columns)
    assert table.height == 30 * 4  # every commune x (3 operators + all)

    # The planted sets, exactly.
    got: dict[str, set[tuple[str, str]]] = {}
    for code, operator, status in table.select("commune_code", "operator", "status").iter_rows():
        got.setdefault(status, set()).add((code, operator))
    plan = planted()
    for status in ("silent", "degraded", "insufficient_data"):
        assert got.get(status, set()) == plan[status], status
    assert len(got["normal"]) == 120 - sum(len(v) for v in plan.values())
    assert {(r["commune_code"], r["operator"]) for r in summary["silent"]} == plan["silent"]
    assert {(r["commune_code"], r["operator"]) for r in summary["degraded"]} == plan["degraded"]

    # Every figure against the second computation.
    truth = independent(made)
    rng = np.random.default_rng(7)  # another seed than the tool's: a second bootstrap
    diffs = []
    for row in table.iter_rows(named=True):
        mine = truth[(row["commune_code"], row["operator"])]
        assert row["baseline_tests"] == mine.baseline
        assert row["window_tests"] == mine.window
        assert row["expected_tests"] == pytest.approx(mine.expected)
        assert row["p_zero"] == pytest.approx(mine.p_zero)
        assert row["baseline_median_mbps"] == pytest.approx(mine.baseline_median)
        assert row["window_median_mbps"] == pytest.approx(mine.window_median)
        if mine.baseline_median and mine.window_median:
            assert row["ratio"] == pytest.approx(mine.window_median / mine.baseline_median)
        judged = mine.baseline >= 20 and mine.window >= 5
        assert (row["ratio_low"] is not None) == judged
        if judged:
            assert row["ratio_low"] <= row["ratio"] <= row["ratio_high"]
            low, high = _second_bootstrap(rng, mine.baseline_values, mine.window_values)
            diffs.append(
                (row["ratio_low"] - low, row["ratio_high"] - high) / np.float64(row["ratio"])
            )
            if (row["commune_code"], row["operator"]) in plan["degraded"]:
                assert high < 0.5  # the second bootstrap agrees on every degraded group
        if row["status"] == "silent":
            assert mine.window == 0 and mine.expected >= 5 and mine.p_zero < 0.01
        if row["status"] == "degraded":
            assert row["ratio_high"] < 0.5

    # Two Monte Carlo bootstraps of medians of a few tests (a discrete distribution) differ
    # by a step of the order statistics now and then, and by little on average.
    gaps = np.abs(np.array(diffs))
    assert len(gaps) > 60
    assert gaps.mean() < 0.03 and gaps.max() < 0.2
    # The daily series: every day, all operators and each, with the window's days marked.
    daily = pl.read_csv(folder / "daily.csv", try_parse_dates=True)
    assert daily.height == 31 * 4
    window_all = daily.filter(pl.col("operator") == "all", pl.col("period") == "window")
    counted = sum(1 for t in made if not t.wifi and START <= t.local.date() <= END)
    assert window_all["tests"].sum() == counted
    first = daily.filter(pl.col("operator") == "Viettel", pl.col("date") == date(2025, 10, 9))
    on_day = [
        t for t in made if t.operator == "Viettel" and not t.wifi and t.local.date() == BASELINE[0]
    ]
    assert first["tests"].item() == len(on_day)
    assert first["median_download_mbps"].item() == pytest.approx(
        statistics.median(t.download for t in on_day)
    )

    # The GeoPackage: each row has its commune's shape.
    layer = gpd.read_file(folder / "communes.gpkg", layer="event")
    communes = gpd.read_file(PROVINCE).set_index("id")
    assert len(layer) == 120
    for _, row in layer.iterrows():
        assert row.geometry.equals_exact(communes.loc[row["commune_code"]].geometry, 1e-9)
    with zipfile.ZipFile(folder / "event.xlsx") as book:
        sheets = book.read("xl/workbook.xml").decode()
    assert all(f'name="{s}"' in sheets for s in ("Communes", "Daily", "Method"))


def _second_bootstrap(
    rng: np.random.Generator, baseline: list[float], window: list[float], n: int = 4000
) -> tuple[float, float]:
    """A percentile bootstrap of the median ratio, written independently (a plain loop)."""
    base, event = np.array(baseline), np.array(window)
    ratios = [
        np.median(rng.choice(event, len(event))) / np.median(rng.choice(base, len(base)))
        for _ in range(n)
    ]
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


def test_the_report_in_both_languages(
    cli: Callable[..., Any], event_store: tuple[Path, list[Made]], tmp_path: Path
) -> None:
    store, _ = event_store
    texts = {}
    for lang in ("vi", "en"):
        out = tmp_path / lang
        _event_json(
            cli,
            store,
            "--report",
            "html,md,docx",
            "--lang",
            lang,
            "--out",
            out,
            "--generated-at",
            "2025-11-10",
            "--name",
            "Bão số 13",
        )
        folder = out / "event-2025-11-06_2025-11-08"
        html = (folder / "report.html").read_text(encoding="utf-8")
        md = (folder / "report.md").read_text(encoding="utf-8")
        texts[lang] = html
        # The status maps (one panel per operator group) and the daily chart, inline.
        assert html.count("<svg") == 2
        assert 'id="status-maps"' in html and 'id="daily-chart"' in html
        assert md.count("data:image/svg+xml;base64,") == 2
        # The silent and degraded lists name the planted communes.
        for name in ("Ma Quai", "Bình Lư"):
            assert name in html and name in md
        with zipfile.ZipFile(folder / "report.docx") as docx:
            body = docx.read("word/document.xml").decode()
            assert sum(n.startswith("word/media/") for n in docx.namelist()) == 2
        assert "Ma Quai" in body and "Bão số 13" in body
    assert "Báo cáo sự kiện" in texts["vi"] and "im lặng" in texts["vi"]
    # The monthly report's terms (#16): "lượt đo", "doanh nghiệp", never the older words.
    assert "lượt đo" in texts["vi"] and "doanh nghiệp" in texts["vi"]
    assert "phép đo" not in texts["vi"].lower() and "nhà mạng" not in texts["vi"].lower()
    assert "Event report" in texts["en"] and "evidence of an outage, not proof" in texts["en"]
    assert "ngày 6 tháng 11 năm 2025" in texts["vi"] and "6 November 2025" in texts["en"]
    # Same inputs, same bytes.
    again = tmp_path / "again"
    _event_json(
        cli, store, "--report", "html,docx", "--lang", "en", "--out", again,
        "--generated-at", "2025-11-10", "--name", "Bão số 13",
    )  # fmt: skip
    for name in ("report.html", "report.docx"):
        first = (tmp_path / "en" / "event-2025-11-06_2025-11-08" / name).read_bytes()
        assert (again / "event-2025-11-06_2025-11-08" / name).read_bytes() == first


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--from", "2025-11-08", "--to", "2025-11-06"], "--to 2025-11-06 is before --from"),
        (["--from", "2025-13-01", "--to", "2025-11-08"], "--from '2025-13-01': not a date"),
        (["--from", "6/11/2025", "--to", "2025-11-08"], "expected YYYY-MM-DD"),
        (
            ["--from", "2025-11-06", "--to", "2025-11-08", "--baseline-from", "2025-11-07"],
            "before it starts",
        ),
        (
            ["--from", "2025-11-06", "--to", "2025-11-08", "--baseline-to", "2025-11-07"],
            "overlaps the window",
        ),
        (["--from", "2025-11-06", "--to", "2025-11-08", "--degraded-ratio", "2"], "between 0"),
        (["--from", "2025-11-06", "--to", "2025-11-08", "--export", "pdf"], "unknown format"),
        (["--from", "2025-11-06", "--to", "2025-11-08", "--report", "xlsx"], "not a format"),
        (["--from", "2025-11-06", "--to", "2025-11-08", "--lang", "fr"], "not a known language"),
    ],
)
def test_wrong_usage_exits_2(
    cli: Callable[..., Any], tmp_path: Path, args: list[str], needle: str
) -> None:
    result = cli("event", "--store", tmp_path / "nowhere", *args)
    text = one_line(result)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert needle in text and "Traceback" not in text
    assert not (tmp_path / "nowhere").exists()  # checked before the store is opened


def test_a_window_without_tests_is_an_error(
    cli: Callable[..., Any], event_store: tuple[Path, list[Made]]
) -> None:
    store, _ = event_store
    result = cli("event", "--from", "2026-01-05", "--to", "2026-01-07", "--store", store)
    text = one_line(result)
    assert result.exit_code == ExitCode.ERROR, result.output
    assert "no single test in the window 2026-01-05 to 2026-01-07" in text
    assert "Hint:" in text and "ingest the exports" in text and "Traceback" not in text


def test_no_boundaries_is_an_error(cli: Callable[..., Any], tmp_path: Path) -> None:
    made = [t for t in make_tests() if t.code == "99002"]
    write_export(made, tmp_path / "few.csv")
    assert cli("ingest", tmp_path / "few.csv", "--store", tmp_path / "s").exit_code == 0
    result = cli("event", "--from", "2025-11-06", "--to", "2025-11-08", "--store", tmp_path / "s")
    text = one_line(result)
    assert result.exit_code == ExitCode.ERROR, result.output
    assert "no commune boundaries imported" in text and "boundaries import" in text
    assert "Traceback" not in text


def test_periods() -> None:
    default = periods_of(START, END)
    assert (default.baseline_start, default.baseline_end) == (date(2025, 10, 9), date(2025, 11, 5))
    assert (default.window_days, default.baseline_days) == (3, 28)
    only_to = periods_of(START, END, None, date(2025, 10, 31))
    assert only_to.baseline_start == date(2025, 10, 4)
    after = periods_of(START, END, date(2025, 11, 20), date(2025, 11, 30))
    assert after.baseline_days == 11
    with pytest.raises(UsageError, match="ends"):
        periods_of(START, END, date(2025, 10, 20), date(2025, 10, 10))


def test_bootstrap_is_deterministic_and_equals_a_loop() -> None:
    values = np.array([3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0, 6.0])
    vectorised = bootstrap_medians(np.random.default_rng(1), values, 500)
    rng = np.random.default_rng(1)
    picks = rng.integers(0, len(values), size=(500, len(values)))
    looped = [float(np.median(values[row])) for row in picks]
    assert vectorised.tolist() == looped
    args = {"resamples": 1000, "confidence": 0.95, "seed": (1, 2)}
    base, window = np.arange(1.0, 41.0), np.arange(1.0, 11.0)
    assert median_ratio_interval(base, window, **args) == median_ratio_interval(
        base, window, **args
    )
    # Blocks of resamples (large samples) give the same medians as one block.
    big = np.random.default_rng(3).lognormal(size=9000)
    one = bootstrap_medians(np.random.default_rng(5), big, 600)
    assert len(one) == 600 and np.all(np.isfinite(one))


def test_the_samples_storm(cli: Callable[..., Any], tmp_path: Path) -> None:
    """The storm planted in the samples (data/samples/README.md) is what the command finds."""
    store = tmp_path / "store"
    assert cli("ingest", SAMPLES, "--store", store).exit_code == 0
    assert cli("boundaries", "import", PROVINCE, "--store", store).exit_code == 0
    summary = _event_json(cli, store)
    silent = {(r["commune_code"], r["operator"]) for r in summary["silent"]}
    degraded = {(r["commune_code"], r["operator"]) for r in summary["degraded"]}
    assert {(c, o) for c, o in silent if o == "all"} == {("99017", "all"), ("99028", "all")}
    assert ("99010", "VNPT-VinaPhone") in silent
    assert ("99010", "all") not in silent
    assert degraded == {("99003", "all"), ("99026", "all")}


def test_both_languages_have_every_label() -> None:
    from qostool.report.event_labels import EVENT_LABELS, EVENT_LIMITS

    assert set(EVENT_LABELS["vi"]) == set(EVENT_LABELS["en"])
    assert len(EVENT_LIMITS["vi"]) == len(EVENT_LIMITS["en"])
