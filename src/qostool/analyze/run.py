"""``analyze --month``: stored tests + stored boundaries -> stored results.

Reads the month's tests (and the quarterly tiles covering it), assigns each to
a commune, computes the statistics and verdicts (``analyze/stats.py``), adds
last month's figures and the run of months below target, and saves the
tables with a description of the run as one results artifact of the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import polars as pl

from qostool import __version__
from qostool.analyze.rules import ALL, Rule, Verdict
from qostool.analyze.stats import (
    INPUT_COLUMNS,
    KEYS,
    add_history,
    dedupe_bursts,
    encode_keys,
    month_statistics,
    zero_rows,
)
from qostool.errors import AnalysisError, StoreError
from qostool.geo import versions
from qostool.months import months_read, quarter_of, quarter_start, shift_month
from qostool.schema import Technology
from qostool.store import Artifact, Store

KIND: Final = "results"
STATS_FILE: Final = "stats.parquet"
COMMUNES_FILE: Final = "communes.parquet"
META_FILE: Final = "analysis.json"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class AnalyzeOptions:
    """What the user chose for one analysis."""

    month: str
    rule: Rule = field(default_factory=Rule)
    boundaries: str | None = None
    """Boundaries version label; default: the latest imported."""
    tolerance_m: float = versions.DEFAULT_TOLERANCE_M
    dedupe_bursts: bool = False
    burst_hours: float = 3.0
    burst_metres: float = 100.0
    history_months: int = 12
    generated_at: datetime | None = None


@dataclass
class Analysis:
    """The results of one month, as stored."""

    month: str
    stats: pl.DataFrame
    communes: pl.DataFrame
    meta: dict[str, Any]
    path: Path | None = None

    def commune_rows(self, technology: str | None = None) -> pl.DataFrame:
        """Commune-level rows (all operators), optionally of one technology."""
        rows = self.stats.filter(pl.col("level") == "commune")
        return rows if technology is None else rows.filter(pl.col("technology") == technology)

    def verdict_counts(self) -> dict[str, dict[str, int]]:
        """Communes per verdict, for each technology that has a target."""
        rows = self.commune_rows().filter(pl.col("verdict").is_not_null())
        counts: dict[str, dict[str, int]] = {}
        for tech, verdict, n in rows.group_by("technology", "verdict").len().iter_rows():
            counts.setdefault(tech, {v.value: 0 for v in Verdict})[verdict] = n
        return dict(sorted(counts.items()))

    def below_target(self) -> bool:
        """Whether any commune (all operators together) is below target."""
        return bool((self.commune_rows()["verdict"] == Verdict.BELOW.value).any())

    def to_dict(self, exports: list[Path] | None = None) -> dict[str, Any]:
        """Everything a script needs: the run, the province rows, the verdicts, each commune."""
        province = self.stats.filter(pl.col("level") == "province")
        return {
            "month": self.month,
            "results": None if self.path is None else str(self.path),
            **{k: v for k, v in self.meta.items() if k != "month"},
            "verdict_counts": self.verdict_counts(),
            "province": province.drop("level", "commune_code", "commune_name").to_dicts(),
            "communes": self.communes.to_dicts(),
            "exports": [str(p) for p in exports or []],
        }


def analyze_month(
    store: Store,
    options: AnalyzeOptions,
    *,
    progress: Progress | None = None,
    wait_seconds: float = 0.0,
) -> Analysis:
    """Analyse one month and store the results (replacing an earlier analysis of it)."""
    say = progress or (lambda _: None)
    boundaries = versions.find_version(store, options.boundaries)
    communes = versions.load_communes(boundaries)
    say(f"boundaries {boundaries.key}: {communes.table.height} communes")
    index = versions.commune_index(boundaries, communes, options.tolerance_m)
    codes = communes.table["code"].to_list()

    current = _load_month(store, options.month)
    if current.is_empty():
        raise StoreError(
            f"{store.root}: no tests stored for {options.month}",
            hint="months with tests: "
            + (", ".join(store.months()) or "none; run 'qostool ingest'"),
        )
    say(f"{options.month}: assigning {current.height:,} rows to communes")
    assigned, counts = _assign(current, index, codes)
    warnings = inside_checks(options.month, counts, boundaries.key, communes.geometries, current)
    if options.dedupe_bursts:
        assigned, counts["burst_duplicates"] = dedupe_bursts(
            assigned, hours=options.burst_hours, metres=options.burst_metres
        )
    say("computing statistics")
    stats, usage = _month_stats(assigned, codes, options.rule, store.timezone, usage=True)
    assert usage is not None

    history = []
    for back in range(1, options.history_months + 1):
        month = shift_month(options.month, -back)
        earlier = _load_month(store, month)
        if earlier.is_empty():
            break
        say(f"{month}: statistics for the trend")
        frame, _ = _assign(earlier, index, codes)
        if options.dedupe_bursts:
            frame, _ = dedupe_bursts(frame, hours=options.burst_hours, metres=options.burst_metres)
        history.append(_month_stats(frame, codes, options.rule, store.timezone, usage=False)[0])
    stats = add_history(stats, history)

    names = communes.table.select(commune_code="code", commune_name="name")
    stats = stats.join(names, on="commune_code", how="left").select(
        *stats.columns[:2], "commune_name", *stats.columns[2:]
    )
    table = commune_table(usage, stats, communes.table)
    meta = _meta(store, options, boundaries, counts, len(history))
    meta["warnings"] = warnings
    analysis = Analysis(options.month, stats, table, meta)
    analysis.path = _save(store, analysis, wait_seconds=wait_seconds)
    return analysis


def _load_month(store: Store, month: str) -> pl.DataFrame:
    """The month's single tests, and the tiles of its quarter (stored in its first month)."""
    months = sorted({month, quarter_start(month)})
    aggregate = pl.col("aggregate").fill_null(False)
    wanted = (~aggregate & (pl.col("month") == month)) | (
        aggregate & (pl.col("period") == quarter_of(month))
    )
    columns = [c for c in INPUT_COLUMNS if c not in ("commune_code", "peak")]
    frame = (
        store.scan_tests(months)
        .filter(wanted)
        .select(*columns, "lat", "lon", "measured_at")
        .with_columns(aggregate)
        .collect()
    )
    return encode_keys(frame)


def _assign(
    tests: pl.DataFrame, index: Any, codes: list[str]
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Add ``commune_code``; keep the rows inside the province; count where rows went."""
    from qostool.geo.assign import OUTSIDE, SNAPPED

    result = index.assign(tests["lon"].to_numpy(), tests["lat"].to_numpy())
    weights = tests["weight"].to_numpy()
    outside = result.how == OUTSIDE
    tile = tests["aggregate"].to_numpy()
    counts = {
        "rows": tests.height,
        "tests": int(weights.sum()),
        "tile_rows": int(tile.sum()),
        "tile_tests": int(weights[tile].sum()),
        "snapped_rows": int((result.how == SNAPPED).sum()),
        "outside_rows": int(outside.sum()),
        "outside_tests": int(weights[outside].sum()),
        "outside_single_tests": int((outside & ~tile).sum()),
    }
    inside = pl.Series(~outside)
    position = pl.Series(result.index, dtype=pl.Int32).filter(inside)
    frame = tests.filter(inside).with_columns(
        commune_code=pl.Series(codes, dtype=pl.Enum(codes)).gather(position)
    )
    return frame, counts


def inside_checks(
    month: str, counts: dict[str, int], version: str, geometries: Any, tests: pl.DataFrame
) -> list[dict[str, Any]]:
    """Refuse a month none of whose tests is inside the boundaries; warn when most are not.

    Single tests decide the warning: a quarter's Ookla tiles often cover the whole
    country, most of it outside any one province. Returns the warnings (empty when
    fine), each with its numbers and an English ``message``; raises
    :class:`AnalysisError` when no row at all falls inside.
    """
    import shapely

    singles = counts["rows"] - counts["tile_rows"]
    outside = counts["outside_single_tests"]
    if counts["outside_rows"] < counts["rows"] and outside * 2 <= singles:
        return []
    west, south, east, north = shapely.total_bounds(geometries)
    lat, lon = tests.select(pl.col("lat").median(), pl.col("lon").median()).row(0)
    where = (
        f"the tests lie around {lat:.2f}°N {lon:.2f}°E; "
        f"the communes of {version} cover {south:.2f}-{north:.2f}°N {west:.2f}-{east:.2f}°E"
    )
    if counts["outside_rows"] == counts["rows"]:
        raise AnalysisError(
            f"{month}: none of the {counts['rows']:,} rows ({counts['tests']:,} tests) falls "
            f"inside the boundaries {version} ({where})",
            hint="the boundaries are probably of another province: import the province's "
            "file with 'qostool boundaries import FILE --province ...', or choose a version "
            "with --boundaries (see 'qostool boundaries list')",
        )
    message = (
        f"{outside:,} of the month's {singles:,} single tests ({outside / singles:.0%}) fall "
        f"outside the boundaries {version} ({where}): are these the province's boundaries, "
        "and are the exports the province's?"
    )
    return [
        {
            "check": "outside_boundaries",
            "outside_single_tests": outside,
            "single_tests": singles,
            "boundaries": version,
            "message": message,
        }
    ]


def _month_stats(
    tests: pl.DataFrame, codes: list[str], rule: Rule, timezone: str, *, usage: bool
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The month's statistics (with a zero row for each commune without tests), and
    (``usage``) the use of each commune."""
    start, end = rule.peak_hours
    hour = pl.col("measured_at").dt.convert_time_zone(timezone).dt.hour()
    frame = tests.lazy().with_columns(peak=hour.is_between(start, end, closed="left"))
    stats, use = month_statistics(frame, rule, usage=usage)
    technologies = sorted({*rule.targets, ALL} - {Technology.WIFI.value})
    present = stats.filter(pl.col("level") == "commune").select("commune_code", "technology")
    missing = zero_rows(codes, technologies, rule).join(
        present, on=["commune_code", "technology"], how="anti"
    )
    return pl.concat([stats, missing]).sort(KEYS, nulls_last=False), use


def commune_table(usage: pl.DataFrame, stats: pl.DataFrame, communes: pl.DataFrame) -> pl.DataFrame:
    """One row per commune: adoption, 5G, and the headline 4G figures and verdict.

    ``usage`` is the second table of :func:`month_statistics`: tests and the bounds
    of the devices per commune, every technology counted.
    """
    base = communes.select(
        commune_code="code",
        commune_name="name",
        commune_type=pl.col("type").cast(pl.String),
        population=pl.col("population").cast(pl.Int64),
    )
    commune = stats.filter(pl.col("level") == "commune")

    def pick(technology: str, **columns: str) -> pl.DataFrame:
        return commune.filter(pl.col("technology") == technology).select(
            "commune_code", **{new: pl.col(old) for new, old in columns.items()}
        )

    out = (
        base.join(usage, on="commune_code", how="left")
        .join(pick(ALL, cellular_tests="tests"), on="commune_code", how="left")
        .join(
            pick(
                Technology.G5.value,
                tests_5g="tests",
                download_median_5g_mbps="download_median_mbps",
                download_mean_5g_mbps="download_mean_mbps",
            ),
            on="commune_code",
            how="left",
        )
        .join(
            pick(
                Technology.G4.value,
                tests_4g="tests",
                download_mean_4g_mbps="download_mean_mbps",
                verdict_4g="verdict",
            ),
            on="commune_code",
            how="left",
        )
    )
    per_thousand = 1000 / pl.col("population").cast(pl.Float64)
    positive = pl.col("population") > 0
    return (
        out.with_columns(
            tests=pl.col("tests").fill_null(0),
            devices_min=pl.col("devices_min").fill_null(0),
            devices_max=pl.col("devices_max").fill_null(0),
            tests_5g=pl.col("tests_5g").fill_null(0),
            tests_4g=pl.col("tests_4g").fill_null(0),
        )
        .with_columns(
            tests_per_1000=pl.when(positive).then(pl.col("tests") * per_thousand),
            devices_min_per_1000=pl.when(positive).then(pl.col("devices_min") * per_thousand),
            devices_max_per_1000=pl.when(positive).then(pl.col("devices_max") * per_thousand),
            share_5g=pl.when(pl.col("cellular_tests") > 0).then(
                pl.col("tests_5g") / pl.col("cellular_tests")
            ),
            has_tests=pl.col("tests") > 0,
            has_5g=pl.col("tests_5g") > 0,
        )
        .drop("cellular_tests")
        .sort("commune_code")
    )


def _meta(
    store: Store,
    options: AnalyzeOptions,
    boundaries: Artifact,
    counts: dict[str, int],
    history_months: int,
) -> dict[str, Any]:
    generated = options.generated_at or datetime.now(UTC)
    quarter = quarter_of(options.month)
    # The files of every month read: this month (and its quarter's tiles), and the
    # earlier months its history columns and trend come from.
    read = months_read(options.month, history_months)
    inputs = [
        {"file": f.name, "sha256": f.sha256, "format": f.format, "ingested_at": f.ingested_at}
        for f in store.files()
        if read & set(f.months)
    ]
    return {
        "month": options.month,
        "quarter_of_tiles": quarter,
        "generated_at": generated.isoformat(timespec="seconds"),
        "tool_version": __version__,
        "timezone": store.timezone,
        "boundaries": {"version": boundaries.key, **boundaries.meta},
        "rule": options.rule.to_dict(),
        "tolerance_m": options.tolerance_m,
        "bursts": {
            "deduplicated": options.dedupe_bursts,
            "hours": options.burst_hours,
            "metres": options.burst_metres,
        },
        "counts": counts,
        "history_months": history_months,
        "inputs": inputs,
    }


def _save(store: Store, analysis: Analysis, *, wait_seconds: float) -> Path:
    with store.write_lock(wait_seconds=wait_seconds):
        staged = store.stage_artifact()
        analysis.stats.write_parquet(staged / STATS_FILE, compression="zstd")
        analysis.communes.write_parquet(staged / COMMUNES_FILE, compression="zstd")
        (staged / META_FILE).write_text(
            json.dumps(analysis.meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        artifact = store.publish(
            KIND,
            analysis.month,
            staged,
            result_summary(analysis.meta),
            created_at=analysis.meta["generated_at"],
        )
    return artifact.path


def result_summary(meta: dict[str, Any]) -> dict[str, Any]:
    """What the catalog records of a result: a summary of its ``analysis.json``."""
    summary = {k: meta[k] for k in ("generated_at", "tool_version", "counts")}
    summary["boundaries"] = meta["boundaries"]["version"]
    return summary


def load_analysis(store: Store, month: str) -> Analysis:
    """The stored results of a month."""
    found = store.artifacts(KIND, month)
    if not found:
        raise StoreError(
            f"{store.root}: {month} has not been analysed",
            hint=f"run 'qostool analyze --month {month}' first",
        )
    path = found[0].path
    meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    return Analysis(
        month,
        _device_bounds_of_old(pl.read_parquet(path / STATS_FILE)),
        _device_bounds_of_old(pl.read_parquet(path / COMMUNES_FILE)),
        meta,
        path,
    )


def _device_bounds_of_old(table: pl.DataFrame) -> pl.DataFrame:
    """An analysis stored before devices were a range, with the range's columns.

    Its ``devices`` added the tiles' devices: the upper bound. The lower bound is
    known only where no tile was used (then both are the same count of distinct
    devices); elsewhere it is left empty rather than guessed.
    """
    if "devices" not in table.columns or "devices_min" in table.columns:
        return table
    exact = pl.col("tile_tests") == 0 if "tile_tests" in table.columns else pl.lit(False)
    bounds = {
        "devices_min": pl.when(exact).then(pl.col("devices")),
        "devices_max": pl.col("devices"),
    }
    if "devices_per_1000" in table.columns:
        bounds["devices_max_per_1000"] = pl.col("devices_per_1000")
        bounds["devices_min_per_1000"] = pl.lit(None, pl.Float64)
    names = list(table.columns)
    at = names.index("devices")
    order = [*names[:at], "devices_min", "devices_max", *names[at + 1 :]]
    if "devices_per_1000" in names:
        at = order.index("devices_per_1000")
        order[at : at + 1] = ["devices_min_per_1000", "devices_max_per_1000"]
    return table.with_columns(**bounds).select(order)
