"""``analyze --from --to``: the month's statistics, over a period of days instead.

A province may want the figures of a few days or weeks (a storm, a holiday, the
first weeks of 5G): the same statistics and verdicts per commune x operator x
technology as a month's analysis (``analyze/run.py``), over the single tests whose
local date (the store's time zone) lies from the first to the last day, both
included. What differs, and why:

- Ookla tiles are left out (counted, and said so in ``analysis.json``): each is
  a quarter's aggregate and says nothing about days within it;
- there are no history columns (last month's mean, the run below target): a
  period has no "last month", and the months' figures are not its own kind;
- it is stored as a period analysis (kind ``periods``, key ``FROM_TO``), never as
  a month's official analysis: a new analysis of the same dates replaces the
  earlier one, as a variant of the same name does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import polars as pl

from qostool.analyze.peak import with_peak
from qostool.analyze.rules import ALL, Rule
from qostool.analyze.run import (
    COMMUNES_FILE,
    META_FILE,
    STATS_FILE,
    Analysis,
    Progress,
    StoredAnalysis,
    _assign,
    _read,
    commune_table,
    inside_checks,
    result_summary,
    source_counts,
)
from qostool.analyze.stats import (
    INPUT_COLUMNS,
    KEYS,
    dedupe_bursts,
    encode_keys,
    month_statistics,
    zero_rows,
)
from qostool.errors import AnalysisError, StoreError, UsageError
from qostool.geo import versions
from qostool.months import quarter_of, quarter_start
from qostool.schema import Technology
from qostool.store import Store

PERIOD_KIND: Final = "periods"
"""Artifact kind of the analyses of periods of days (one kept per period)."""
#: :attr:`Analysis.role` of a period analysis.
PERIOD_ROLE: Final = "period"
#: Why a period analysis leaves the Ookla tiles out (in its ``analysis.json``).
TILES_LEFT_OUT: Final = (
    "Ookla tiles are left out: each is the aggregate of a quarter and says nothing "
    "about the days of a period; the figures rest on single tests only"
)


@dataclass(frozen=True)
class Period:
    """Local dates of the store's time zone, both included."""

    start: date
    end: date

    @property
    def key(self) -> str:
        """The store's key of its analysis: ``2025-11-06_2025-11-08``."""
        return f"{self.start.isoformat()}_{self.end.isoformat()}"

    @property
    def folder(self) -> str:
        """The folder its exports and reports go to, under ``--out``."""
        return f"period-{self.key}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def months(self) -> list[str]:
        """Reporting months the dates fall in (local months hold every test of their days)."""
        found, year, month = [], self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            found.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return found

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(), "days": self.days}


def parse_period(start: str, end: str) -> Period:
    """``--from`` and ``--to``, checked: dates, and the end not before the start."""
    from qostool.analyze.event import parse_date

    first, last = parse_date(start, "--from"), parse_date(end, "--to")
    if last < first:
        raise UsageError(
            f"--to {last.isoformat()} is before --from {first.isoformat()}",
            hint="both dates are included: --from 2025-11-06 --to 2025-11-08 is 3 days",
        )
    return Period(first, last)


def chosen_period(month: str | None, start: str | None, end: str | None) -> Period | None:
    """The period of ``--from``/``--to`` (None for ``--month``), or a usage error.

    ``--month`` and a period exclude each other, and both dates are needed: a
    period given by one day would be a guess.
    """
    if month is not None and (start is not None or end is not None):
        raise UsageError(
            "--month and --from/--to exclude each other",
            hint="give --month YYYY-MM for a month, or --from YYYY-MM-DD --to YYYY-MM-DD for a "
            "period of days",
        )
    if start is None and end is None:
        if month is None:
            raise UsageError(
                "give --month YYYY-MM, or --from YYYY-MM-DD --to YYYY-MM-DD",
                hint="e.g. --month 2025-10, or --from 2025-11-06 --to 2025-11-08",
            )
        return None
    if start is None or end is None:
        given, missing = ("--from", "--to") if start is not None else ("--to", "--from")
        raise UsageError(f"{given} needs {missing}", hint="e.g. --from 2025-11-06 --to 2025-11-08")
    return parse_period(start, end)


def period_of_key(key: str) -> Period | None:
    """The period a stored key or an :attr:`Analysis.month` names; None for a month."""
    first, sep, last = key.partition("_")
    if not sep:
        return None
    try:
        return Period(date.fromisoformat(first), date.fromisoformat(last))
    except ValueError:
        return None


@dataclass(frozen=True)
class PeriodOptions:
    """What the user chose for one period analysis (the month's terms, no history)."""

    period: Period
    rule: Rule = field(default_factory=Rule)
    boundaries: str | None = None
    tolerance_m: float = versions.DEFAULT_TOLERANCE_M
    dedupe_bursts: bool = False
    burst_hours: float = 3.0
    burst_metres: float = 100.0
    generated_at: datetime | None = None
    differs: tuple[dict[str, Any], ...] = ()
    """How its terms differ from the configuration (``run.term_differences``)."""


def analyze_period(
    store: Store,
    options: PeriodOptions,
    *,
    progress: Progress | None = None,
    wait_seconds: float = 0.0,
) -> Analysis:
    """Analyse a period of days and store it, replacing an earlier one of the same dates."""
    say = progress or (lambda _: None)
    period = options.period
    boundaries = versions.find_version(store, options.boundaries)
    communes = versions.load_communes(boundaries)
    say(f"boundaries {boundaries.key}: {communes.table.height} communes")
    index = versions.commune_index(boundaries, communes, options.tolerance_m)
    codes = communes.table["code"].to_list()

    tests, left_out = load_period(store, period)
    if tests.is_empty():
        raise AnalysisError(
            f"{store.root}: no single test stored from {period.start.isoformat()} to "
            f"{period.end.isoformat()} ({store.timezone})",
            hint="ingest the exports covering these days first; months with tests: "
            + (", ".join(store.months()) or "none"),
        )
    say(f"{period.key}: assigning {tests.height:,} tests to communes")
    assigned, counts = _assign(tests, index, codes)
    label = f"{period.start.isoformat()} to {period.end.isoformat()}"
    warnings = inside_checks(label, counts, boundaries.key, communes.geometries, tests)
    if options.dedupe_bursts:
        assigned, counts["burst_duplicates"] = dedupe_bursts(
            assigned, hours=options.burst_hours, metres=options.burst_metres
        )
    counts |= left_out
    sources = source_counts(assigned)
    assigned = assigned.drop("source")
    say("computing statistics")
    stats, usage = period_statistics(assigned, codes, options.rule, store.timezone, period.key)
    names = communes.table.select(commune_code="code", commune_name="name")
    stats = stats.join(names, on="commune_code", how="left").select(
        *stats.columns[:2], "commune_name", *stats.columns[2:]
    )
    table = commune_table(usage, stats, communes.table)
    meta = _meta(store, options, boundaries.key, boundaries.meta, counts)
    meta["warnings"] = warnings
    meta["sources"] = sources
    analysis = Analysis(period.key, stats, table, meta, role=PERIOD_ROLE)
    analysis.path = _save(store, analysis, wait_seconds=wait_seconds)
    return analysis


def load_period(store: Store, period: Period) -> tuple[pl.DataFrame, dict[str, int]]:
    """The single tests whose local date lies in the period; the tiles it leaves out.

    The bounds are the local midnights of the first day and of the day after the
    last, in UTC, as the tests' times are stored: a test at 23:59 local on the last
    day is in, one at 00:00 local the next day is out.
    """
    zone = ZoneInfo(store.timezone)

    def midnight(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)

    begin, finish = midnight(period.start), midnight(period.end + timedelta(days=1))
    months = period.months()
    quarters = sorted({quarter_of(m) for m in months})
    scanned = sorted({*months, *(quarter_start(m) for m in months)})
    aggregate = pl.col("aggregate").fill_null(False)
    when = pl.col("measured_at")
    columns = [c for c in INPUT_COLUMNS if c not in ("commune_code", "peak")]
    frame = (
        store.scan_tests(scanned)
        .filter(
            (~aggregate & when.is_between(pl.lit(begin), pl.lit(finish), closed="left"))
            | (aggregate & pl.col("period").is_in(quarters))
        )
        .select(*columns, "lat", "lon", "measured_at", pl.col("source").cast(pl.Categorical))
        .with_columns(aggregate)
        .collect()
    )
    tiles = frame.filter(pl.col("aggregate"))
    left_out = {
        "tile_rows_left_out": tiles.height,
        "tile_tests_left_out": int(tiles["weight"].sum()),
    }
    return encode_keys(frame.filter(~pl.col("aggregate"))), left_out


def period_statistics(
    tests: pl.DataFrame, codes: list[str], rule: Rule, timezone: str, key: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The statistics of the period's tests, as a month's (a zero row for each commune
    without tests), each group's ``data_period`` the period's key (single tests only)."""
    stats, usage = month_statistics(with_peak(tests, rule, timezone).lazy(), rule, usage=True)
    assert usage is not None
    technologies = sorted({*rule.targets, ALL} - {Technology.WIFI.value})
    present = stats.filter(pl.col("level") == "commune").select("commune_code", "technology")
    missing = zero_rows(codes, technologies, rule).join(
        present, on=["commune_code", "technology"], how="anti"
    )
    table = pl.concat([stats, missing]).sort(KEYS, nulls_last=False)
    names = list(table.columns)
    at = names.index("tile_tests") + 1
    table = table.with_columns(
        data_period=pl.when(pl.col("tests") > 0).then(pl.lit(key)).otherwise(pl.lit(None))
    ).select(*names[:at], "data_period", *names[at:])
    return table, usage


def _meta(
    store: Store,
    options: PeriodOptions,
    version: str,
    boundaries_meta: dict[str, Any],
    counts: dict[str, int],
) -> dict[str, Any]:
    from qostool import __version__

    generated = options.generated_at or datetime.now(UTC)
    months = set(options.period.months())
    inputs = [
        {"file": f.name, "sha256": f.sha256, "format": f.format, "ingested_at": f.ingested_at}
        for f in store.files()
        if months & set(f.months)
    ]
    return {
        "month": None,
        "period": options.period.to_dict(),
        "tiles": TILES_LEFT_OUT,
        "quarter_of_tiles": None,
        "generated_at": generated.isoformat(timespec="seconds"),
        "tool_version": __version__,
        "timezone": store.timezone,
        "boundaries": {"version": version, **boundaries_meta},
        "rule": options.rule.to_dict(),
        "tolerance_m": options.tolerance_m,
        "bursts": {
            "deduplicated": options.dedupe_bursts,
            "hours": options.burst_hours,
            "metres": options.burst_metres,
        },
        "counts": counts,
        "history_months": 0,
        "inputs": inputs,
        "official": False,
        "name": None,
        "differs": list(options.differs),
    }


def _save(store: Store, analysis: Analysis, *, wait_seconds: float) -> Path:
    with store.write_lock(wait_seconds=wait_seconds):
        staged = store.stage_artifact()
        analysis.meta["id"] = staged.name
        earlier = store.artifacts(PERIOD_KIND, analysis.month)
        analysis.stats.write_parquet(staged / STATS_FILE, compression="zstd")
        analysis.communes.write_parquet(staged / COMMUNES_FILE, compression="zstd")
        (staged / META_FILE).write_text(
            json.dumps(analysis.meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        artifact = store.publish(
            PERIOD_KIND,
            analysis.month,
            staged,
            result_summary(analysis.meta),
            created_at=analysis.meta["generated_at"],
            replacing=earlier,
        )
    return artifact.path


def stored_periods(store: Store) -> list[StoredAnalysis]:
    """Every stored period analysis, by its dates."""
    found = sorted(store.artifacts(PERIOD_KIND), key=lambda a: a.key)
    return [StoredAnalysis(a, PERIOD_ROLE) for a in found]


def load_period_analysis(store: Store, period: Period) -> Analysis:
    """The stored analysis of ``period`` (the newest: an analysis of the same dates
    replaces the earlier one)."""
    found = store.artifacts(PERIOD_KIND, period.key)
    if not found:
        raise StoreError(
            f"{store.root}: the period {period.start.isoformat()} to "
            f"{period.end.isoformat()} has not been analysed",
            hint=f"run 'qostool analyze --from {period.start.isoformat()} --to "
            f"{period.end.isoformat()}' first",
        )
    return _read(period.key, StoredAnalysis(found[0], PERIOD_ROLE))
