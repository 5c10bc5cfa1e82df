"""Statistics per group of tests, and the verdict of each group.

Pure functions over Polars frames: the input is one row per stored test (or
aggregated tile) with its commune already assigned; the output is the long
statistics table whose columns are listed in ``STATS_COLUMNS`` and explained in
``docs/methodology.md``.

Weighted rows (tiles, ``aggregate = true``) carry the mean of ``weight`` tests:
they enter counts and means with their weight, and are left out of medians,
percentiles, shares and the peak-hour mean, which need single tests.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

from qostool.analyze.rules import ALL, Rule, Statistic, Verdict
from qostool.schema import Technology

#: Levels of the statistics table, finest first, with the columns that key them.
LEVELS: Final = {
    "commune_operator": ("commune_code", "operator"),
    "commune": ("commune_code",),
    "operator": ("operator",),
    "province": (),
}
KEYS: Final = ("level", "commune_code", "operator", "technology")
#: Cellular technologies: the roll-up ``technology = "all"`` covers these only.
CELLULAR: Final = tuple(t.value for t in Technology if t is not Technology.WIFI)

STATS_SCHEMA: Final = {
    "level": pl.String,
    "commune_code": pl.String,
    "operator": pl.String,
    "technology": pl.String,
    "tests": pl.Int64,
    "tile_tests": pl.Int64,
    "devices": pl.Int64,
    "download_mean_mbps": pl.Float64,
    "download_median_mbps": pl.Float64,
    "download_p10_mbps": pl.Float64,
    "download_p90_mbps": pl.Float64,
    "upload_mean_mbps": pl.Float64,
    "upload_median_mbps": pl.Float64,
    "latency_median_ms": pl.Float64,
    "share_ge_target": pl.Float64,
    "download_mean_ci_low": pl.Float64,
    "download_mean_ci_high": pl.Float64,
    "peak_download_mean_mbps": pl.Float64,
    "peak_tests": pl.Int64,
    "target_mbps": pl.Float64,
    "statistic": pl.String,
    "statistic_value": pl.Float64,
    "statistic_ci_low": pl.Float64,
    "statistic_ci_high": pl.Float64,
    "verdict": pl.String,
}
STATS_COLUMNS: Final = tuple(STATS_SCHEMA)

EARTH_RADIUS_M: Final = 6_371_008.8

#: Columns :func:`group_stats` needs in its input.
INPUT_COLUMNS: Final = (
    "commune_code",
    "operator",
    "technology",
    "download_mbps",
    "upload_mbps",
    "latency_ms",
    "device_id",
    "weight",
    "aggregate",
    "devices",
    "peak",
)


def _aggregations(target: pl.Expr, rule: Rule) -> list[pl.Expr]:
    """Per-group aggregations; ``target`` is the group's target (null: none)."""
    single = ~pl.col("aggregate").fill_null(False)
    w = pl.col("weight")
    dl, ul = pl.col("download_mbps"), pl.col("upload_mbps")
    dl_single = dl.filter(single)
    mean = (dl * w).sum() / w.sum()
    has_ul = ul.is_not_null()
    n_single = single.sum()
    exprs = [
        w.sum().alias("tests"),
        w.filter(~single).sum().alias("tile_tests"),
        (
            pl.col("device_id").filter(single).drop_nulls().n_unique()
            + pl.col("devices").filter(~single).sum()
        ).alias("devices"),
        pl.len().alias("__rows"),
        n_single.alias("__singles"),
        mean.alias("download_mean_mbps"),
        # Weighted spread about the weighted mean, for the interval of the mean.
        (w * (dl - mean) ** 2).sum().alias("__ss"),
        dl_single.median().alias("download_median_mbps"),
        dl_single.quantile(0.1, "linear").alias("download_p10_mbps"),
        dl_single.quantile(0.9, "linear").alias("download_p90_mbps"),
        ((ul * w).filter(has_ul).sum() / w.filter(has_ul).sum()).alias("upload_mean_mbps"),
        ul.filter(single).median().alias("upload_median_mbps"),
        pl.col("latency_ms").filter(single).median().alias("latency_median_ms"),
        (dl_single >= target.first()).mean().alias("share_ge_target"),
        dl.filter(single & pl.col("peak")).mean().alias("peak_download_mean_mbps"),
        (single & pl.col("peak")).sum().alias("peak_tests"),
        target.first().alias("target_mbps"),
    ]
    if rule.statistic is Statistic.MEDIAN:
        exprs += _median_interval(dl_single, rule.confidence)
    return exprs


def _median_interval(values: pl.Expr, confidence: float) -> list[pl.Expr]:
    """Distribution-free interval of the median from order statistics.

    Ranks ``n/2 -/+ z*sqrt(n)/2`` (normal approximation to the binomial), the
    usual non-parametric interval; null when the group has no single tests.
    """
    z = _normal_quantile(0.5 + confidence / 2)
    n = values.len().cast(pl.Float64)
    half = z * n.sqrt() / 2
    low = ((n / 2 - half).floor() - 1).clip(0).cast(pl.Int64)
    high = (n / 2 + half).ceil().clip(upper_bound=n - 1).cast(pl.Int64)
    ordered = values.sort()
    return [
        ordered.get(low, null_on_oob=True).alias("__median_low"),
        ordered.get(high, null_on_oob=True).alias("__median_high"),
    ]


def _normal_quantile(p: float) -> float:
    from scipy.special import ndtri  # scipy.special loads in a fraction of scipy.stats's time

    return float(ndtri(p))


def group_stats(
    tests: pl.LazyFrame, level: str, rule: Rule, *, all_technologies: bool
) -> pl.LazyFrame:
    """Statistics for one level, per technology or (``all_technologies``) over cellular ones."""
    keys = list(LEVELS[level])
    if all_technologies:
        frame = tests.filter(pl.col("technology").is_in(CELLULAR)).with_columns(
            technology=pl.lit(ALL)
        )
    else:
        frame = tests
    target = pl.col("technology").replace_strict(
        rule.targets, default=None, return_dtype=pl.Float64
    )
    out = frame.group_by([*keys, "technology"]).agg(_aggregations(target, rule))
    missing = {k: pl.lit(None, pl.String) for k in ("commune_code", "operator") if k not in keys}
    if level in ("commune", "province"):
        missing["operator"] = pl.lit(ALL)
    return out.with_columns(level=pl.lit(level), **missing)


def finish(raw: pl.DataFrame, rule: Rule) -> pl.DataFrame:
    """Intervals and verdicts from the aggregated columns; the final column order."""
    from scipy.special import stdtrit

    rows = raw["__rows"].to_numpy().astype(np.float64)
    ss = raw["__ss"].to_numpy().astype(np.float64)
    weight = raw["tests"].to_numpy().astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Frequency-weighted variance of a test (tiles are means of `weight` tests),
        # then the standard error of the weighted mean; needs two rows at least.
        variance = np.where(rows > 1, ss / (rows - 1), np.nan)
        se = np.sqrt(variance / weight)
        tq = stdtrit(np.where(rows > 1, rows - 1, np.nan), 0.5 + rule.confidence / 2)
    mean = raw["download_mean_mbps"].to_numpy().astype(np.float64)
    frame = raw.with_columns(
        download_mean_ci_low=pl.Series(mean - tq * se).fill_nan(None),
        download_mean_ci_high=pl.Series(mean + tq * se).fill_nan(None),
    )
    frame = frame.with_columns(_statistic(frame, rule))
    frame = frame.with_columns(verdict=_verdict(rule))
    return frame.select([pl.col(name).cast(dtype) for name, dtype in STATS_SCHEMA.items()]).sort(
        KEYS, nulls_last=False
    )


def _statistic(frame: pl.DataFrame, rule: Rule) -> list[pl.Expr | pl.Series]:
    """The compared statistic and its interval, per the rule."""
    if rule.statistic is Statistic.MEAN:
        value, low, high = (
            frame["download_mean_mbps"],
            frame["download_mean_ci_low"],
            frame["download_mean_ci_high"],
        )
    elif rule.statistic is Statistic.MEDIAN:
        value, low, high = (
            frame["download_median_mbps"],
            frame["__median_low"],
            frame["__median_high"],
        )
    else:
        value = frame["share_ge_target"]
        low, high = _wilson(value, frame["__singles"], rule.confidence)
    return [
        pl.lit(rule.statistic.value).alias("statistic"),
        value.alias("statistic_value"),
        low.alias("statistic_ci_low"),
        high.alias("statistic_ci_high"),
    ]


def _wilson(share: pl.Series, n: pl.Series, confidence: float) -> tuple[pl.Series, pl.Series]:
    """Wilson score interval of a proportion (well-behaved near 0 and 1 and for small n)."""
    z = _normal_quantile(0.5 + confidence / 2)
    p = share.cast(pl.Float64).to_numpy()
    count = n.cast(pl.Float64).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = (p + z * z / (2 * count)) / (1 + z * z / count)
        half = z / (1 + z * z / count) * np.sqrt(p * (1 - p) / count + z * z / (4 * count**2))
    return pl.Series(centre - half).fill_nan(None), pl.Series(centre + half).fill_nan(None)


def _verdict(rule: Rule) -> pl.Expr:
    """meets / below / insufficient data / inconclusive (null where no target applies)."""
    threshold = (
        pl.lit(rule.min_share) if rule.statistic is Statistic.SHARE else pl.col("target_mbps")
    )
    # Median and share are computed from single tests only: they must be numerous enough.
    counted = pl.col("tests") if rule.statistic is Statistic.MEAN else pl.col("__singles")
    value, low, high = (
        pl.col("statistic_value"),
        pl.col("statistic_ci_low"),
        pl.col("statistic_ci_high"),
    )
    return (
        pl.when(pl.col("target_mbps").is_null())
        .then(pl.lit(None, pl.String))
        .when((counted < rule.min_tests) | (pl.col("devices") < rule.min_devices) | value.is_null())
        .then(pl.lit(Verdict.INSUFFICIENT.value))
        .when(low.is_null() | high.is_null() | ((low < threshold) & (threshold < high)))
        .then(pl.lit(Verdict.INCONCLUSIVE.value))
        .when(value >= threshold)
        .then(pl.lit(Verdict.MEETS.value))
        .otherwise(pl.lit(Verdict.BELOW.value))
    )


def statistics(tests: pl.LazyFrame, rule: Rule) -> pl.DataFrame:
    """Every level, per technology and over all cellular technologies, with verdicts."""
    plans = [
        group_stats(tests, level, rule, all_technologies=all_tech)
        for level in LEVELS
        for all_tech in (False, True)
    ]
    frames = pl.collect_all(plans)
    columns = frames[0].columns
    raw = pl.concat([f.select(columns) for f in frames], how="vertical")
    return finish(raw, rule)


def zero_rows(codes: list[str], technologies: list[str], rule: Rule) -> pl.DataFrame:
    """Commune-level rows with no tests, for communes (and technologies) without data."""
    target = pl.col("technology").replace_strict(
        rule.targets, default=None, return_dtype=pl.Float64
    )
    frame = (
        pl.DataFrame({"commune_code": codes}, schema={"commune_code": pl.String})
        .join(pl.DataFrame({"technology": technologies}), how="cross")
        .with_columns(
            level=pl.lit("commune"),
            operator=pl.lit(ALL),
            statistic=pl.lit(rule.statistic.value),
            target_mbps=target,
            verdict=pl.when(target.is_not_null()).then(pl.lit(Verdict.INSUFFICIENT.value)),
            **{name: pl.lit(0) for name in ("tests", "tile_tests", "devices", "peak_tests")},
        )
    )
    return frame.select(
        pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in STATS_SCHEMA.items()
    )


def add_history(stats: pl.DataFrame, history: list[pl.DataFrame]) -> pl.DataFrame:
    """Last month's mean, the change, and how many months in a row ended below target.

    ``history`` holds the statistics of the previous months, most recent first,
    without gaps (it stops at the first month without data).
    """
    keys = list(KEYS)
    prev = (
        history[0].select(*keys, prev_download_mean_mbps="download_mean_mbps")
        if history
        else pl.DataFrame(
            schema={**stats.select(keys).schema, "prev_download_mean_mbps": pl.Float64}
        )
    )
    out = stats.join(prev, on=keys, how="left", nulls_equal=True).with_columns(
        download_mean_change_mbps=pl.col("download_mean_mbps") - pl.col("prev_download_mean_mbps")
    )
    below = pl.col("verdict") == Verdict.BELOW.value
    run = out.select(*keys, streak=below.fill_null(False).cast(pl.Int64))
    alive = run["streak"] > 0
    for month in history:
        earlier = month.select(*keys, was=below.fill_null(False))
        joined = run.join(earlier, on=keys, how="left", nulls_equal=True)
        alive = alive & joined["was"].fill_null(False)
        run = run.with_columns(streak=pl.col("streak") + alive.cast(pl.Int64))
        if not alive.any():
            break
    return out.join(
        run.rename({"streak": "months_below_target"}), on=keys, how="left", nulls_equal=True
    )


def dedupe_bursts(tests: pl.DataFrame, *, hours: float, metres: float) -> tuple[pl.DataFrame, int]:
    """Keep one test per burst: a device's test within ``hours`` and ``metres`` of its previous one.

    Tiles and tests without a device id are kept as they are. Returns the rows
    kept and how many were dropped.
    """
    single = ~pl.col("aggregate") & pl.col("device_id").is_not_null()
    ordered = tests.with_row_index("__order").sort("device_id", "measured_at", "__order")
    previous = {
        name: pl.col(name).shift(1).over("device_id", order_by=["measured_at", "__order"])
        for name in ("measured_at", "lat", "lon")
    }
    lat1, lat2 = previous["lat"].radians(), pl.col("lat").radians()
    dlat = lat2 - lat1
    dlon = (pl.col("lon") - previous["lon"]).radians()
    a = (dlat / 2).sin() ** 2 + lat1.cos() * lat2.cos() * (dlon / 2).sin() ** 2
    distance = 2 * EARTH_RADIUS_M * a.sqrt().arcsin()
    gap = pl.col("measured_at") - previous["measured_at"]
    continues = (
        single
        & previous["measured_at"].is_not_null()
        & (gap <= pl.duration(microseconds=int(hours * 3_600_000_000)))
        & (distance <= metres)
    )
    kept = ordered.filter(~continues.fill_null(False)).sort("__order").drop("__order")
    return kept, tests.height - kept.height
