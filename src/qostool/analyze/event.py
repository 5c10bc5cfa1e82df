"""``qostool event``: an event window (a storm, an outage) against the weeks before it.

For every commune x operator (and all operators together) the window is compared
with a baseline period, from single tests only:

- **activity**: the baseline's tests per day make an expected number of tests in
  the window (``expected = baseline tests per day x window days``). With no test at
  all in the window, the chance of that under the baseline's rate is
  ``p_zero = exp(-expected)`` (Poisson); the commune is ``silent`` when it had no
  test although at least ``min_expected`` (5: ``p_zero`` below 1 %) were expected;
- **speed**: the median download in the window against the baseline's, with a
  bootstrap percentile interval of their ratio; ``degraded`` when the whole
  interval is below ``degraded_ratio`` (0.5).

The rules and their limits are in docs/methodology.md, *Events*. Tiles (Ookla
open data) are left out: each is a quarter's mean and says nothing about a day.
Wi-Fi tests are left out too: they measure the fixed line behind the router.
Nothing is stored: the command reads the store and writes files.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import polars as pl

from qostool import __version__
from qostool.errors import AnalysisError, UsageError
from qostool.geo import versions
from qostool.months import quarter_of, quarter_start
from qostool.schema import Operator, Technology
from qostool.store import Store

#: The operator value of the rows of all operators together.
ALL: Final = "all"
#: Statuses, most urgent first: when several apply, the first wins.
STATUSES: Final = ("silent", "degraded", "normal", "insufficient_data")
#: The baseline is this many days before the window unless given.
DEFAULT_BASELINE_DAYS: Final = 28
#: Seed of the bootstrap; each group draws from its own stream derived from it and
#: its key, so a group's interval does not depend on which other groups exist.
DEFAULT_SEED: Final = 20_251_106
#: Resampled values per block of the bootstrap (bounds memory to ~32 MB per block).
_BLOCK_VALUES: Final = 4_000_000

#: Columns of the status table, in order.
STATUS_COLUMNS: Final = (
    "commune_code",
    "commune_name",
    "operator",
    "status",
    "baseline_tests",
    "window_tests",
    "baseline_days",
    "window_days",
    "baseline_tests_per_day",
    "window_tests_per_day",
    "expected_tests",
    "p_zero",
    "activity_judged",
    "baseline_median_mbps",
    "window_median_mbps",
    "ratio",
    "ratio_low",
    "ratio_high",
    "speed_judged",
)
#: Columns of the daily series.
DAILY_COLUMNS: Final = ("date", "period", "operator", "tests", "median_download_mbps")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class EventRule:
    """The thresholds of the statuses (docs/methodology.md, *Events*)."""

    degraded_ratio: float = 0.5
    """Degraded when the whole interval of window median / baseline median is below this."""
    min_expected: float = 5.0
    """Silent only when at least this many tests were expected (exp(-5) = 0.67 %)."""
    min_baseline_tests: int = 20
    """Fewer baseline tests: the median ratio is not judged."""
    min_window_tests: int = 5
    """Fewer window tests: the median ratio is not judged."""
    confidence: float = 0.95
    resamples: int = 2000
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        checks = (
            (0 < self.degraded_ratio < 1, "--degraded-ratio", "between 0 and 1, e.g. 0.5"),
            (self.min_expected > 0, "--min-expected", "above 0, e.g. 5"),
            (self.min_baseline_tests >= 2, "--min-baseline-tests", "at least 2, e.g. 20"),
            (self.min_window_tests >= 1, "--min-window-tests", "at least 1, e.g. 5"),
            (0.5 <= self.confidence < 1, "--confidence", "from 0.5 to below 1, e.g. 0.95"),
            (100 <= self.resamples <= 100_000, "--resamples", "from 100 to 100000"),
        )
        for ok, option, expected in checks:
            if not ok:
                raise UsageError(f"{option}: a value {expected} is needed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "degraded_ratio": self.degraded_ratio,
            "min_expected": self.min_expected,
            "min_baseline_tests": self.min_baseline_tests,
            "min_window_tests": self.min_window_tests,
            "confidence": self.confidence,
            "resamples": self.resamples,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class Periods:
    """The window and the baseline: local dates of the store's time zone, inclusive."""

    start: date
    end: date
    baseline_start: date
    baseline_end: date

    @property
    def window_days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def baseline_days(self) -> int:
        return (self.baseline_end - self.baseline_start).days + 1

    @property
    def first(self) -> date:
        return min(self.start, self.baseline_start)

    @property
    def last(self) -> date:
        return max(self.end, self.baseline_end)

    @property
    def slug(self) -> str:
        """The name of the folder the event's files go to."""
        return f"event-{self.start.isoformat()}_{self.end.isoformat()}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "days": self.window_days,
            "baseline_from": self.baseline_start.isoformat(),
            "baseline_to": self.baseline_end.isoformat(),
            "baseline_days": self.baseline_days,
        }


def parse_date(text: str, option: str) -> date:
    """A ``YYYY-MM-DD`` date given with ``option``, checked."""
    value = text.strip()
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: not a date; expected YYYY-MM-DD", hint="e.g. 2025-11-06"
        ) from None


def periods_of(
    start: date,
    end: date,
    baseline_start: date | None = None,
    baseline_end: date | None = None,
) -> Periods:
    """The window and its baseline, checked.

    Default baseline: the 28 days before the window. With only ``--baseline-from``,
    it runs to the day before the window; with only ``--baseline-to``, it is the 28
    days up to that day. The baseline may lie after the window (the weeks after a
    storm), but never overlap it.
    """
    if end < start:
        raise UsageError(
            f"--to {end.isoformat()} is before --from {start.isoformat()}",
            hint="both dates are included: --from 2025-11-06 --to 2025-11-08 is 3 days",
        )
    if baseline_start is None and baseline_end is None:
        baseline_end = start - timedelta(days=1)
        baseline_start = start - timedelta(days=DEFAULT_BASELINE_DAYS)
    elif baseline_start is None:
        assert baseline_end is not None
        baseline_start = baseline_end - timedelta(days=DEFAULT_BASELINE_DAYS - 1)
    elif baseline_end is None:
        baseline_end = start - timedelta(days=1)
    if baseline_end < baseline_start:
        raise UsageError(
            f"the baseline ends ({baseline_end.isoformat()}) before it starts "
            f"({baseline_start.isoformat()})",
            hint="give --baseline-from before --baseline-to, both before --from (or after --to)",
        )
    if baseline_start <= end and start <= baseline_end:
        raise UsageError(
            f"the baseline {baseline_start.isoformat()} to {baseline_end.isoformat()} overlaps "
            f"the window {start.isoformat()} to {end.isoformat()}",
            hint="the baseline must be days outside the event; by default it is the 28 days "
            "before --from",
        )
    return Periods(start, end, baseline_start, baseline_end)


@dataclass(frozen=True)
class EventOptions:
    """What the user chose for one event."""

    periods: Periods
    rule: EventRule = field(default_factory=EventRule)
    name: str | None = None
    boundaries: str | None = None
    tolerance_m: float = versions.DEFAULT_TOLERANCE_M
    generated_at: datetime | None = None


@dataclass
class EventResult:
    """The statuses per commune x operator, the daily series, and how they were made."""

    periods: Periods
    rule: EventRule
    statuses: pl.DataFrame
    """One row per commune x operator (``all`` included); :data:`STATUS_COLUMNS`."""
    daily: pl.DataFrame
    """Province-wide tests and median download per local day and operator."""
    meta: dict[str, Any]

    @property
    def name(self) -> str | None:
        return self.meta.get("name")

    def listed(self, status: str, operator: str | None = None) -> pl.DataFrame:
        """The rows of one status (of one operator), most expected tests first."""
        rows = self.statuses.filter(pl.col("status") == status)
        if operator is not None:
            rows = rows.filter(pl.col("operator") == operator)
        return rows.sort(["expected_tests", "commune_code"], descending=[True, False])

    def status_counts(self) -> dict[str, dict[str, int]]:
        """Communes per status, for each operator (``all`` first)."""
        counts: dict[str, dict[str, int]] = {
            op: dict.fromkeys(STATUSES, 0) for op in self.meta["operators"]
        }
        for operator, status, n in self.statuses.group_by("operator", "status").len().iter_rows():
            counts[operator][status] = n
        return counts

    def to_dict(self, files: list[str] | None = None) -> dict[str, Any]:
        """Everything a script needs: the run, the counts, the silent and degraded rows."""
        pick = ["commune_code", "commune_name", "operator", *STATUS_COLUMNS[4:]]
        return {
            **self.meta,
            "status_counts": self.status_counts(),
            "silent": self.listed("silent").select(pick).to_dicts(),
            "degraded": self.listed("degraded").select(pick).to_dicts(),
            "files": files or [],
        }


def analyze_event(
    store: Store, options: EventOptions, *, progress: Progress | None = None
) -> EventResult:
    """Compare the event window with its baseline for every commune x operator."""
    say = progress or (lambda _: None)
    periods, rule = options.periods, options.rule
    boundaries = versions.find_version(store, options.boundaries)
    communes = versions.load_communes(boundaries)
    index = versions.commune_index(boundaries, communes, options.tolerance_m)
    codes = [str(c) for c in communes.table["code"].to_list()]
    say(f"reading tests from {periods.first} to {periods.last}")
    tests, counts = _load(store, periods)
    result = index.assign(tests["lon"].to_numpy(), tests["lat"].to_numpy())
    from qostool.geo.assign import OUTSIDE

    inside = result.how != OUTSIDE
    counts["outside_tests"] = int((~inside).sum())
    position = pl.Series(result.index[inside], dtype=pl.Int64)
    tests = tests.filter(pl.Series(inside)).with_columns(
        commune_code=pl.Series(codes, dtype=pl.String).gather(position)
    )
    counts["baseline_tests"] = int((tests["period"] == "baseline").sum())
    counts["window_tests"] = int((tests["period"] == "window").sum())
    _refuse_empty(store, periods, counts, boundaries.key)
    operators = _operators(tests)
    say(f"comparing {len(codes)} communes x {len(operators)} operator groups")
    statuses = _statuses(tests, codes, operators, periods, rule)
    names = communes.table.select(commune_code="code", commune_name="name")
    statuses = statuses.join(names, on="commune_code", how="left").select(STATUS_COLUMNS)
    daily = daily_series(tests, periods, operators)
    generated = options.generated_at or datetime.now(UTC)
    province = communes.table.select("province_code", "province_name").row(0)
    meta = {
        "kind": "event",
        "name": options.name,
        **periods.to_dict(),
        "timezone": store.timezone,
        "rule": rule.to_dict(),
        "boundaries": boundaries.key,
        "province_code": province[0],
        "province_name": province[1],
        "communes": len(codes),
        "operators": operators,
        "counts": counts,
        "warnings": _warnings(daily),
        "generated_at": generated.isoformat(timespec="seconds"),
        "tool_version": __version__,
    }
    return EventResult(periods, rule, statuses, daily, meta)


def _utc_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _months(first: date, last: date) -> list[str]:
    """Reporting months from ``first`` to ``last``, and their quarters' first months."""
    months, year, month = set(), first.year, first.month
    while (year, month) <= (last.year, last.month):
        label = f"{year:04d}-{month:02d}"
        months |= {label, quarter_start(label)}
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return sorted(months)


def _load(store: Store, periods: Periods) -> tuple[pl.DataFrame, dict[str, int]]:
    """The single cellular tests of the baseline and the window, with their local day.

    Reporting months are local months, so the months the dates fall in hold every
    test of those days. Tiles and Wi-Fi tests are counted, then left out.
    """
    zone = ZoneInfo(store.timezone)
    begin = _utc_midnight(periods.first, zone)
    finish = _utc_midnight(periods.last + timedelta(days=1), zone)
    months = _months(periods.first, periods.last)
    quarters = sorted({quarter_of(m) for m in months})
    aggregate = pl.col("aggregate").fill_null(False)
    when = pl.col("measured_at")
    frame = (
        store.scan_tests(months)
        .filter(
            (~aggregate & when.is_between(pl.lit(begin), pl.lit(finish), closed="left"))
            | (aggregate & pl.col("period").is_in(quarters))
        )
        .select(
            "measured_at",
            "lat",
            "lon",
            pl.col("operator").cast(pl.String).fill_null(Operator.UNKNOWN.value),
            pl.col("technology").cast(pl.String),
            "download_mbps",
            "weight",
            aggregate.alias("aggregate"),
        )
        .collect()
    )
    tiles = frame.filter(pl.col("aggregate"))
    singles = frame.filter(~pl.col("aggregate"))
    wifi = singles["technology"] == Technology.WIFI.value
    counts = {
        "tile_rows_left_out": tiles.height,
        "tile_tests_left_out": int(tiles["weight"].sum()),
        "wifi_tests_left_out": int(wifi.sum()),
    }
    day = pl.col("measured_at").dt.convert_time_zone(store.timezone).dt.date()
    in_window = day.is_between(pl.lit(periods.start), pl.lit(periods.end))
    in_baseline = day.is_between(pl.lit(periods.baseline_start), pl.lit(periods.baseline_end))
    cellular = (
        singles.filter(~wifi)
        .with_columns(day=day)
        .with_columns(
            period=pl.when(in_window)
            .then(pl.lit("window"))
            .when(in_baseline)
            .then(pl.lit("baseline"))
        )
        .filter(pl.col("period").is_not_null())
        .drop("aggregate", "weight")
    )
    counts["single_tests_read"] = cellular.height
    return cellular, counts


def _refuse_empty(store: Store, periods: Periods, counts: dict[str, int], version: str) -> None:
    """A window or a baseline without any test cannot be compared: say why it may be."""
    months = ", ".join(store.months()) or "none"
    for part, first, last in (
        ("window", periods.start, periods.end),
        ("baseline", periods.baseline_start, periods.baseline_end),
    ):
        if counts[f"{part}_tests"]:
            continue
        raise AnalysisError(
            f"no single test in the {part} {first.isoformat()} to {last.isoformat()} "
            f"({store.timezone}) inside the boundaries {version}"
            + (
                f" ({counts['outside_tests']:,} read fell outside)"
                if counts["outside_tests"]
                else ""
            ),
            hint="ingest the exports covering these days first (months with tests: "
            f"{months}); a province where no one at all tested is far more likely missing "
            "exports than a province-wide outage",
        )


def _operators(tests: pl.DataFrame) -> list[str]:
    """``all``, then every operator with tests, in the order of the schema (others last)."""
    found = set(tests["operator"].unique().to_list())
    known = [o.value for o in Operator if o.value in found]
    return [ALL, *known, *sorted(found - set(known))]


def _statuses(
    tests: pl.DataFrame,
    codes: list[str],
    operators: list[str],
    periods: Periods,
    rule: EventRule,
) -> pl.DataFrame:
    """One row per commune x operator group: counts, expected tests, medians, status."""
    both = pl.concat([tests, tests.with_columns(operator=pl.lit(ALL))])
    grid = pl.DataFrame(
        {
            "commune_code": [c for c in codes for _ in operators],
            "operator": [o for _ in codes for o in operators],
        }
    )
    per_period = both.group_by("commune_code", "operator", "period").agg(
        n=pl.len(), median=pl.col("download_mbps").median()
    )

    def part(name: str) -> pl.DataFrame:
        return per_period.filter(pl.col("period") == name).select(
            "commune_code",
            "operator",
            pl.col("n").alias(f"{name}_tests"),
            pl.col("median").alias(f"{name}_median_mbps"),
        )

    table = (
        grid.join(part("baseline"), on=["commune_code", "operator"], how="left")
        .join(part("window"), on=["commune_code", "operator"], how="left")
        .with_columns(
            pl.col("baseline_tests", "window_tests").fill_null(0).cast(pl.Int64),
            baseline_days=pl.lit(periods.baseline_days, pl.Int64),
            window_days=pl.lit(periods.window_days, pl.Int64),
        )
        .with_columns(
            baseline_tests_per_day=pl.col("baseline_tests") / pl.col("baseline_days"),
            window_tests_per_day=pl.col("window_tests") / pl.col("window_days"),
        )
        .with_columns(expected_tests=pl.col("baseline_tests_per_day") * pl.col("window_days"))
        .with_columns(
            p_zero=(-pl.col("expected_tests")).exp(),
            activity_judged=pl.col("expected_tests") >= rule.min_expected,
            speed_judged=(pl.col("baseline_tests") >= rule.min_baseline_tests)
            & (pl.col("window_tests") >= rule.min_window_tests)
            & (pl.col("baseline_median_mbps") > 0),
        )
        .with_columns(
            ratio=pl.when(pl.col("baseline_median_mbps") > 0).then(
                pl.col("window_median_mbps") / pl.col("baseline_median_mbps")
            )
        )
    )
    low, high = _intervals(tests, table, rule)
    table = table.with_columns(ratio_low=low, ratio_high=high)
    silent = pl.col("activity_judged") & (pl.col("window_tests") == 0)
    degraded = pl.col("speed_judged") & (pl.col("ratio_high") < rule.degraded_ratio)
    status = (
        pl.when(silent)
        .then(pl.lit("silent"))
        .when(degraded)
        .then(pl.lit("degraded"))
        .when(pl.col("activity_judged") | pl.col("speed_judged"))
        .then(pl.lit("normal"))
        .otherwise(pl.lit("insufficient_data"))
    )
    return table.with_columns(status=status)


def _intervals(
    tests: pl.DataFrame, table: pl.DataFrame, rule: EventRule
) -> tuple[pl.Series, pl.Series]:
    """The bootstrap interval of the median ratio of each group whose speed is judged."""
    judged = table.filter(pl.col("speed_judged")).select("commune_code", "operator")
    low = np.full(table.height, np.nan)
    high = np.full(table.height, np.nan)
    if judged.height:
        # Each group's downloads, sorted: the bootstrap then does not depend on row order.
        values = (
            pl.concat([tests, tests.with_columns(operator=pl.lit(ALL))])
            .join(judged, on=["commune_code", "operator"], how="semi")
            .group_by("commune_code", "operator", "period")
            .agg(pl.col("download_mbps").sort())
        )
        samples = {
            (code, operator, period): np.asarray(v, dtype=np.float64)
            for code, operator, period, v in values.iter_rows()
        }
        row_of = {
            key: i
            for i, key in enumerate(zip(table["commune_code"], table["operator"], strict=True))
        }
        for code, operator in judged.iter_rows():
            key = f"{code}|{operator}"
            lo, hi = median_ratio_interval(
                samples[(code, operator, "baseline")],
                samples[(code, operator, "window")],
                resamples=rule.resamples,
                confidence=rule.confidence,
                seed=(rule.seed, zlib.crc32(key.encode("utf-8"))),
            )
            low[row_of[(code, operator)]], high[row_of[(code, operator)]] = lo, hi
    return (
        pl.Series("ratio_low", low).fill_nan(None),
        pl.Series("ratio_high", high).fill_nan(None),
    )


def median_ratio_interval(
    baseline: npt.NDArray[np.float64],
    window: npt.NDArray[np.float64],
    *,
    resamples: int,
    confidence: float,
    seed: int | tuple[int, int],
) -> tuple[float, float]:
    """Percentile bootstrap interval of median(window) / median(baseline).

    The two periods are resampled independently (they are independent samples of
    different days), ``resamples`` times each, with a generator seeded by ``seed``
    so the interval is the same on every run. The medians of all resamples are
    computed at once in blocks (no Python loop per resample).
    """
    rng = np.random.default_rng(seed)
    base = bootstrap_medians(rng, baseline, resamples)
    event = bootstrap_medians(rng, window, resamples)
    ratios = event / base
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_medians(
    rng: np.random.Generator, values: npt.NDArray[np.float64], resamples: int
) -> npt.NDArray[np.float64]:
    """The medians of ``resamples`` resamples (with replacement) of ``values``."""
    n = len(values)
    block = max(1, _BLOCK_VALUES // max(n, 1))
    out = np.empty(resamples)
    for first in range(0, resamples, block):
        rows = min(block, resamples - first)
        picks = rng.integers(0, n, size=(rows, n))
        out[first : first + rows] = np.median(values[picks], axis=1)
    return out


def daily_series(tests: pl.DataFrame, periods: Periods, operators: list[str]) -> pl.DataFrame:
    """Tests and median download per local day and operator (``all`` too), every day listed."""
    days = [
        periods.first + timedelta(days=k) for k in range((periods.last - periods.first).days + 1)
    ]
    kept = [
        d
        for d in days
        if periods.start <= d <= periods.end or periods.baseline_start <= d <= periods.baseline_end
    ]
    grid = pl.DataFrame(
        {
            "date": [d for d in kept for _ in operators],
            "operator": [o for _ in kept for o in operators],
        },
        schema={"date": pl.Date, "operator": pl.String},
    )
    both = pl.concat([tests, tests.with_columns(operator=pl.lit(ALL))])
    per_day = both.group_by(pl.col("day").alias("date"), "operator").agg(
        tests=pl.len().cast(pl.Int64), median_download_mbps=pl.col("download_mbps").median()
    )
    in_window = pl.col("date").is_between(pl.lit(periods.start), pl.lit(periods.end))
    return (
        grid.join(per_day, on=["date", "operator"], how="left")
        .with_columns(
            tests=pl.col("tests").fill_null(0),
            period=pl.when(in_window).then(pl.lit("window")).otherwise(pl.lit("baseline")),
        )
        .select(DAILY_COLUMNS)
        .sort("date", pl.col("operator").replace_strict(operators, list(range(len(operators)))))
    )


def _warnings(daily: pl.DataFrame) -> list[dict[str, Any]]:
    """Days without any test in the province: most likely exports not yet ingested."""
    totals = daily.filter(pl.col("operator") == ALL)
    empty = totals.filter(pl.col("tests") == 0)
    found: list[dict[str, Any]] = []
    window_empty = [d.isoformat() for d in empty.filter(pl.col("period") == "window")["date"]]
    if window_empty:
        found.append(
            {
                "check": "empty_window_days",
                "days": window_empty,
                "message": f"no test at all in the province on {', '.join(window_empty)}: "
                "if the exports of those days are not ingested yet, every commune looks "
                "quieter than it was",
            }
        )
    baseline_empty = [d.isoformat() for d in empty.filter(pl.col("period") == "baseline")["date"]]
    if baseline_empty:
        found.append(
            {
                "check": "empty_baseline_days",
                "days": baseline_empty,
                "message": f"{len(baseline_empty)} baseline day(s) without any test in the "
                "province: the expected numbers may be too low (missing exports?)",
            }
        )
    return found
