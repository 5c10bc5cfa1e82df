"""Statistics per group of tests, and the verdict of each group.

Pure functions over Polars frames: the input is one row per stored test (or
aggregated tile) with its commune already assigned; the output is the long
statistics table whose columns are listed in ``STATS_COLUMNS`` and explained in
``docs/methodology.md``.

Weighted rows (tiles, ``aggregate = true``) carry the mean of ``weight`` tests:
they enter counts and means with their weight, and are left out of medians,
percentiles, shares and the peak-hour mean, which need single tests. A tile is
one cluster of tests (one place, one quarter), so the interval of the mean is
cluster-robust, and its devices give a range, not a count (``devices_min``,
``devices_max``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from qostool.analyze.rules import ALL, Rule, Statistic, Verdict
from qostool.analyze.tdist import normal_quantile, t_quantiles
from qostool.errors import StoreError
from qostool.months import quarter_of
from qostool.schema import Technology

#: A frame, eager or lazy: what :func:`_runs` and :func:`_by_run` take and give.
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

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
    "devices_min": pl.Int64,
    "devices_max": pl.Int64,
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

_KEYS: Final = ("commune_code", "operator", "technology")
#: Columns :func:`statistics` needs in its input.
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


def encode_keys(tests: pl.DataFrame, keys: Sequence[str] = _KEYS) -> pl.DataFrame:
    """Group keys as enums of their sorted values, device ids as 64-bit integers.

    Grouping on enums and counting integer devices is several times faster than on
    texts, and filtering and copying such rows is cheap. Enums (not categoricals):
    their codes, and so the order in which rows meet in each group, do not depend on
    what this process saw before. Device pseudonyms are 16 hex digits (64 bits) and
    become that integer exactly; any other text is numbered instead. Columns already
    encoded are left as they are.
    """
    if "operator" in tests.columns and tests["operator"].null_count():
        # Stores ingested before tiles were given the "unknown" operator hold nulls.
        tests = tests.with_columns(pl.col("operator").cast(pl.String).fill_null("unknown"))
    texts = [k for k in keys if k in tests.columns and not isinstance(tests.schema[k], pl.Enum)]
    out = _as_enums(tests, texts) if texts else tests
    if "device_id" in out.columns and not out.schema["device_id"].is_integer():
        device = out["device_id"].cast(pl.String)
        number = device.str.to_integer(base=16, dtype=pl.UInt64, strict=False)
        if (number.is_null() & device.is_not_null()).any() or not (
            device.str.len_bytes().fill_null(16) == 16
        ).all():
            number = device.cast(pl.Categorical).to_physical().cast(pl.UInt64)
        out = out.with_columns(device_id=number)
    return out


#: Rows of a key column whose values are tried first as its enum's (:func:`_as_enums`).
_SAMPLE_ROWS: Final = 65_536


def _as_enums(frame: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """``frame`` with its columns ``names`` as enums of their distinct values, sorted.

    The values are first taken from an even sample of the rows: where every value of a
    column is one of them, they are all its values (10 million operators or
    technologies are then not hashed twice: 0.1 s). Otherwise from every row.
    """

    def kinds(values: pl.Series) -> pl.Enum:
        return pl.Enum(values.cast(pl.String).unique().drop_nulls().sort().to_list())

    sample = frame.select(pl.col(names).gather_every(max(frame.height // _SAMPLE_ROWS, 1)))
    encoded = frame.with_columns(
        pl.col(k).cast(pl.String).cast(kinds(sample[k]), strict=False) for k in names
    )
    return encoded.with_columns(
        frame[k].cast(pl.String).cast(kinds(frame[k]))  # a value the sample did not hold
        for k in names
        if encoded[k].null_count() != frame[k].null_count()
    )


def _encoded(tests: pl.LazyFrame) -> pl.DataFrame:
    """The input once, compact (:func:`encode_keys`). The single tests get their flags
    once sorted (:func:`_nested`), the tiles once filtered (:func:`_with_flags`)."""
    frame = encode_keys(
        tests.select(
            *_KEYS,
            "download_mbps",
            "upload_mbps",
            "latency_ms",
            "weight",
            "devices",
            "device_id",
            single=~pl.col("aggregate").fill_null(False),
            peak=pl.col("peak").fill_null(False),
        ).collect()
    )
    if (frame["single"] & (frame["weight"] != 1)).any():
        raise StoreError(
            "single tests (aggregate = false) with a weight other than 1",
            hint="only aggregated tiles carry a weight; re-ingest the files of this month",
        )
    return frame


def _with_flags(frame: pl.DataFrame, rule: Rule) -> pl.DataFrame:
    """``frame`` (encoded) with the per-row flags of every level (:func:`_flags`)."""
    return frame.with_columns(_flags(rule, frame.schema["technology"]))


def _flags(rule: Rule, technology: pl.DataType) -> list[pl.Expr]:
    """The per-row flags the levels group and count by, from the technology's enum
    codes (one lookup per code, not a comparison of texts per row)."""
    assert isinstance(technology, pl.Enum)
    names = technology.categories.to_list()
    code = pl.col("technology").to_physical()

    def per_code(values: list[object], dtype: pl.DataType | type[pl.DataType]) -> pl.Expr:
        return pl.lit(pl.Series(values, dtype=dtype)).gather(code)

    dl = pl.col("download_mbps")
    target = per_code([rule.targets.get(name) for name in names], pl.Float64)
    return [
        pl.lit(0, pl.Int8).alias("__all"),
        per_code([name in CELLULAR for name in names], pl.Boolean)
        .fill_null(False)
        .alias("cellular"),
        (dl >= target).alias("ge_target"),
        (dl >= pl.lit(rule.targets.get(ALL), pl.Float64)).alias("ge_target_all"),
    ]


#: Per-test sums kept for the finest groups, from which every coarser level is summed.
_ADDITIVE: Final = (
    "__singles",
    "__ul_sum",
    "__ul_n",
    "__ge",
    "__ge_n",
    "__ge_all",
    "__ge_all_n",
    "__peak_sum",
    "peak_tests",
)


def _additive() -> list[pl.Expr]:
    """Counts and sums over single tests (each of weight 1), the download mean and spread.

    Only aggregations that Polars computes in one pass per group: the spread is
    ``n * var`` (its variance is numerically stable, and exactly 0 for equal values).
    """
    dl, ul, peak = pl.col("download_mbps"), pl.col("upload_mbps"), pl.col("peak")
    return [
        pl.len().alias("__singles"),
        dl.mean().alias("__mean"),
        (dl.var(ddof=0) * pl.len()).alias("__ss"),
        ul.sum().alias("__ul_sum"),
        ul.count().alias("__ul_n"),
        pl.col("ge_target").sum().alias("__ge"),
        pl.col("ge_target").count().alias("__ge_n"),
        pl.col("ge_target_all").sum().alias("__ge_all"),
        pl.col("ge_target_all").count().alias("__ge_all_n"),
        (dl * peak).sum().alias("__peak_sum"),
        peak.sum().cast(pl.Int64).alias("peak_tests"),
    ]


def _order_statistics(rule: Rule, *, devices: bool = True) -> list[pl.Expr]:
    """What cannot be summed from finer groups: distinct devices (unless not ``devices``),
    medians, percentiles."""
    dl = pl.col("download_mbps")
    exprs = [
        *([pl.col("device_id").drop_nulls().n_unique().alias("__devices")] if devices else []),
        dl.median().alias("download_median_mbps"),
        dl.quantile(0.1, "linear").alias("download_p10_mbps"),
        dl.quantile(0.9, "linear").alias("download_p90_mbps"),
        pl.col("upload_mbps").median().alias("upload_median_mbps"),
        pl.col("latency_ms").median().alias("latency_median_ms"),
    ]
    if rule.statistic is Statistic.MEDIAN:
        exprs += _median_interval(dl, rule.confidence)
    return exprs


def _runs(frame: Frame, keys: list[str]) -> Frame:
    """``frame`` sorted by ``keys`` (stably), each group numbered by a sorted ``__run``.

    Grouped by ``__run`` (:func:`_by_run`), each group is one contiguous slice
    aggregated on its own, so every sum adds the same numbers in the same order on
    every run; a hash group-by may merge partial sums of a group in whatever order
    its threads finish.
    """
    ordered = frame.sort([pl.col(k).cast(pl.String) for k in keys], maintain_order=True)
    return ordered.with_columns(pl.struct(keys).rle_id().set_sorted().alias("__run"))


def _by_run(ordered: Frame, keys: list[str], aggregations: list[pl.Expr]) -> Frame:
    """One row per ``__run`` of :func:`_runs`, with its keys; the run number is kept."""
    firsts = [pl.col(k).first() for k in keys]
    return ordered.group_by("__run").agg(*firsts, *aggregations)


def _roll_up(finest: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """The sums of coarser groups from the finest ones; the spread by the parallel rule.

    Spread about the coarse mean M: the sum over finest groups g of
    ``ss_g + w_g * (mean_g - M)**2``.
    """
    # One sort for both sums: each coarse group is one run of the finest groups, in the
    # same order for its mean and for its spread.
    ordered = _runs(finest, keys)
    sums = _by_run(
        ordered,
        keys,
        [
            *(pl.col(name).sum() for name in _ADDITIVE),
            (pl.col("__mean") * pl.col("__singles")).sum().alias("__wm"),
        ],
    ).sort("__run")
    sums = sums.with_columns(__mean=pl.col("__wm") / pl.col("__singles")).drop("__wm")
    mean = sums["__mean"].gather(ordered["__run"])
    with_mean = ordered.select("__run", "__ss", __w="__singles", __g="__mean").with_columns(
        __mean=mean
    )
    deviation = pl.col("__ss") + pl.col("__w") * (pl.col("__g") - pl.col("__mean")) ** 2
    spread = with_mean.group_by("__run").agg(deviation.sum().alias("__ss"))
    return sums.join(spread, on="__run").drop("__run")


def _tile_aggregations() -> list[pl.Expr]:
    """Aggregations over tiles: each is the mean of ``weight`` tests, so only weighted sums."""
    w = pl.col("weight")
    dl, ul = pl.col("download_mbps"), pl.col("upload_mbps")
    has_ul = ul.is_not_null()
    mean = (dl * w).sum() / w.sum()
    return [
        w.sum().alias("__tw"),
        pl.col("devices").sum().alias("__tdevices"),
        pl.col("devices").max().alias("__tdevices_max"),
        pl.len().alias("__trows"),
        mean.alias("__tmean"),
        (ul * w).filter(has_ul).sum().alias("__tul_sum"),
        w.filter(has_ul).sum().alias("__tul_w"),
    ]


def _combined(keys: list[str]) -> list[pl.Expr]:
    """Single tests and tiles together: counts, device bounds and weighted means, exactly.

    The single tests' spread about their own mean (``__ss``) and that mean are kept:
    :func:`finish` moves the spread to the joint mean for the interval.
    """
    zero = {name: pl.col(name).fill_null(0) for name in ("__tw", "__singles", "__trows")}
    ws, wt = zero["__singles"], zero["__tw"]
    total = ws + wt
    ms, mt = pl.col("__mean").fill_null(0.0), pl.col("__tmean").fill_null(0.0)
    ul_w = pl.col("__ul_n").fill_null(0) + pl.col("__tul_w").fill_null(0)
    ul_sum = pl.col("__ul_sum").fill_null(0.0) + pl.col("__tul_sum").fill_null(0.0)
    return [
        total.alias("tests"),
        wt.alias("tile_tests"),
        *_device_bounds("__devices", "__tdevices_max", "__tdevices"),
        (zero["__singles"] + zero["__trows"]).alias("__rows"),
        zero["__singles"].alias("__singles"),
        ((ms * ws + mt * wt) / total).alias("download_mean_mbps"),
        ms.alias("__mean"),
        pl.col("__ss").fill_null(0.0),
        pl.when(ul_w > 0).then(ul_sum / ul_w).alias("upload_mean_mbps"),
        pl.col("peak_tests").fill_null(0),
    ]


def _device_bounds(singles: str, largest_tile: str, tiles: str) -> list[pl.Expr]:
    """The fewest and the most devices a group's tests can come from.

    Single tests carry device pseudonyms, so their devices are counted exactly. A
    tile only says how many devices ran its tests, and the same phone may appear
    in many tiles (a commuter's phone in every tile on its way): at least the
    largest tile's devices, at most the sum over tiles. Single tests and tiles
    come from different apps, whose devices cannot be matched, and are added.
    """
    own = pl.col(singles).fill_null(0).cast(pl.Int64)
    return [
        (own + pl.col(largest_tile).fill_null(0)).alias("devices_min"),
        (own + pl.col(tiles).fill_null(0)).alias("devices_max"),
    ]


def _cluster_sums(tile_runs: pl.DataFrame, groups: pl.DataFrame) -> pl.DataFrame:
    """Each group's tile terms of the cluster-robust variance and of its degrees of freedom.

    A tile of ``w`` tests with mean ``x`` is one cluster of a group with ``W`` tests
    and mean ``m``; its leverage is ``h = w / W``. Summed over the group's tiles:
    ``__cr_tiles`` = ``w**2 (x - m)**2 / (1 - h)`` (the leverage-adjusted squared
    score, CR2), ``__bm_a`` = ``r**2 (1 - 2 h)`` and ``__bm_b`` = ``h r`` with
    ``r = h / (1 - h)`` (Bell-McCaffrey degrees of freedom). They depend on the
    group's ``W`` and ``m``, so they are summed after those are known: ``tile_runs``
    are the tiles numbered by group (:func:`_runs`), ``groups`` each group's ``__run``,
    ``tests`` and mean. Single tests (``w = 1``) have closed forms, added in
    :func:`finish`.
    """
    joined = tile_runs.join(
        groups.select("__run", __W="tests", __m="download_mean_mbps"),
        on="__run",
        how="left",
        maintain_order="left",
    ).with_columns(pl.col("__run").set_sorted())
    w = pl.col("weight").cast(pl.Float64)
    h = w / pl.col("__W")
    r = h / (1 - h)
    # A group of one tile and nothing else (h = 1) has no interval: its terms are unused.
    alone = h >= 1
    score = (w * (pl.col("download_mbps") - pl.col("__m"))) ** 2 / (1 - h)
    return _by_run(
        joined,
        [],
        [
            pl.when(alone).then(0.0).otherwise(score).sum().alias("__cr_tiles"),
            pl.when(alone).then(0.0).otherwise(r * r * (1 - 2 * h)).sum().alias("__bm_a"),
            pl.when(alone).then(0.0).otherwise(h * r).sum().alias("__bm_b"),
        ],
    )


def _median_interval(values: pl.Expr, confidence: float) -> list[pl.Expr]:
    """Distribution-free interval of the median from order statistics.

    Ranks ``n/2 -/+ z*sqrt(n)/2`` (normal approximation to the binomial), the
    usual non-parametric interval; null when the group has no single tests.
    """
    z = normal_quantile(0.5 + confidence / 2)
    n = values.len().cast(pl.Float64)
    half = z * n.sqrt() / 2
    low = ((n / 2 - half).floor() - 1).clip(0).cast(pl.Int64)
    high = (n / 2 + half).ceil().clip(upper_bound=n - 1).cast(pl.Int64)
    ordered = values.sort()
    return [
        ordered.get(low, null_on_oob=True).alias("__median_low"),
        ordered.get(high, null_on_oob=True).alias("__median_high"),
    ]


def _level_keys(level: str, *, all_technologies: bool) -> list[str]:
    keys = list(LEVELS[level]) + ([] if all_technologies else ["technology"])
    return keys or ["__all"]


def _level_frame(
    sums: pl.DataFrame,
    order: pl.DataFrame,
    tile: pl.DataFrame,
    tile_rows: pl.DataFrame,
    *,
    keys: list[str],
    level: str,
    rule: Rule,
) -> pl.DataFrame:
    """One level's rows: single-test sums, order statistics and tiles joined and combined.

    ``tile`` holds the level's tile aggregations, ``tile_rows`` the tiles themselves,
    both numbered by group (``__run``), for the terms of the interval that need each
    group's joint mean.
    """
    single = sums.join(order, on=keys, nulls_equal=True)
    if tile.height:
        joined = single.join(tile, on=keys, how="full", coalesce=True, nulls_equal=True)
    else:
        absent = {name: dtype for name, dtype in tile.schema.items() if name not in keys}
        joined = single.with_columns(pl.lit(None, t).alias(n) for n, t in absent.items())
    frame = joined.with_columns(pl.col(k).cast(pl.String) for k in keys if k != "__all")
    ge, n = ("__ge", "__ge_n") if "technology" in keys else ("__ge_all", "__ge_all_n")
    if "technology" not in keys:
        frame = frame.with_columns(technology=pl.lit(ALL))
    target = pl.col("technology").replace_strict(
        rule.targets, default=None, return_dtype=pl.Float64
    )
    missing = {
        k: pl.lit(None, pl.String) for k in ("commune_code", "operator") if k not in LEVELS[level]
    }
    if level in ("commune", "province"):
        missing["operator"] = pl.lit(ALL)
    peak = pl.col("peak_tests").fill_null(0)
    frame = frame.with_columns(
        *_combined(keys),
        share_ge_target=pl.when(pl.col(n) > 0).then(pl.col(ge) / pl.col(n)),
        peak_download_mean_mbps=pl.when(peak > 0).then(pl.col("__peak_sum") / peak),
        target_mbps=target,
        level=pl.lit(level),
        **missing,
    )
    cluster = ("__cr_tiles", "__bm_a", "__bm_b")
    if not tile_rows.height:
        return frame.with_columns(pl.lit(0.0).alias(name) for name in cluster)
    sums = _cluster_sums(tile_rows, frame.filter(pl.col("__run").is_not_null()))
    joined = frame.join(sums, on="__run", how="left", maintain_order="left")
    return joined.with_columns(pl.col(name).fill_null(0.0) for name in cluster)


def finish(raw: pl.DataFrame, rule: Rule) -> pl.DataFrame:
    """Intervals and verdicts from the aggregated columns; the final column order."""
    low, high = mean_interval(raw, rule)
    enough = raw["tests"] >= rule.min_tests
    frame = raw.with_columns(
        download_mean_ci_low=pl.when(enough).then(low),
        download_mean_ci_high=pl.when(enough).then(high),
    )
    frame = frame.with_columns(_statistic(frame, rule))
    frame = frame.with_columns(verdict=_verdict(rule))
    return frame.select([pl.col(name).cast(dtype) for name, dtype in STATS_SCHEMA.items()]).sort(
        KEYS, nulls_last=False
    )


def mean_interval(raw: pl.DataFrame, rule: Rule) -> tuple[pl.Series, pl.Series]:
    """The cluster-robust interval of each group's weighted mean download, never below 0.

    Clusters are the rows: a tile (its tests share one place and one quarter, so
    they are not independent draws) or a single test. With ``W`` tests, mean ``m``
    and, for cluster ``g`` of ``w_g`` tests and mean ``x_g``, leverage
    ``h_g = w_g / W``:

    * variance ``V = sum(w_g**2 (x_g - m)**2 / (1 - h_g)) / W**2`` (CR2: the
      sandwich with each cluster's score corrected for its leverage, which is
      unbiased when tests are independent and keeps a large tile from hiding its
      own deviation);
    * degrees of freedom ``1 / (sum(r_g**2 (1 - 2 h_g)) + sum(h_g r_g)**2)`` with
      ``r_g = h_g / (1 - h_g)`` (Bell and McCaffrey), rounded down; it is ``G - 1``
      for ``G`` equal clusters and falls towards 1 as one cluster dominates;
    * the interval is ``m / k .. m * k`` with ``k = exp(t * sqrt(V) / m)``: the
      interval of ``log(m)`` by the delta method, transformed back. It is never
      below 0, and it is longer above the mean than below, as the sampling
      distribution of a mean of skewed speeds is.

    For single tests only, ``V`` is the textbook ``s**2 / n`` with ``n - 1``
    degrees of freedom. A group of one cluster has no interval. Single tests'
    terms have closed forms (``h = 1 / W``); tiles' come from :func:`_cluster_sums`.
    """
    column = {name: raw[name].to_numpy().astype(np.float64) for name in _INTERVAL_INPUTS}
    total, clusters, singles = column["tests"], column["__rows"], column["__singles"]
    mean, own_mean = column["download_mean_mbps"], column["__mean"]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        h = 1 / total  # a single test's leverage
        r = h / (1 - h)
        own = (column["__ss"] + singles * (own_mean - mean) ** 2) / (1 - h)
        own = np.where(singles > 0, own, 0.0)
        variance = (own + column["__cr_tiles"]) / total**2
        a = np.where(singles > 0, singles * r * r * (1 - 2 * h), 0.0) + column["__bm_a"]
        b = np.where(singles > 0, singles * h * r, 0.0) + column["__bm_b"]
        # The rounding guard keeps an exact whole number from falling just below it.
        dof = np.floor(1 / (a + b * b) + 1e-9)
        dof = np.where((clusters > 1) & (dof >= 1), dof, np.nan)
        tq = t_quantiles(0.5 + rule.confidence / 2, dof)
        se = np.sqrt(np.maximum(variance, 0.0))
        factor = np.exp(tq * se / mean)
        # No spread at all: the interval is the mean itself (also for a mean of 0).
        low = np.where(se == 0, mean, mean / factor)
        high = np.where(se == 0, mean, mean * factor)
    missing = np.isnan(dof)
    return (
        pl.Series(np.where(missing, np.nan, low)).fill_nan(None),
        pl.Series(np.where(missing, np.nan, high)).fill_nan(None),
    )


#: Columns :func:`mean_interval` reads.
_INTERVAL_INPUTS: Final = (
    "tests",
    "__rows",
    "__singles",
    "download_mean_mbps",
    "__mean",
    "__ss",
    "__cr_tiles",
    "__bm_a",
    "__bm_b",
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
    # Median and share use single tests only; below the minimum no interval is given.
    counted = frame["tests"] if rule.statistic is Statistic.MEAN else frame["__singles"]
    enough = counted >= rule.min_tests
    return [
        pl.lit(rule.statistic.value).alias("statistic"),
        value.alias("statistic_value"),
        pl.when(enough).then(low).alias("statistic_ci_low"),
        pl.when(enough).then(high).alias("statistic_ci_high"),
    ]


def _wilson(share: pl.Series, n: pl.Series, confidence: float) -> tuple[pl.Series, pl.Series]:
    """Wilson score interval of a proportion (well-behaved near 0 and 1 and for small n)."""
    z = normal_quantile(0.5 + confidence / 2)
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
        .when(
            (counted < rule.min_tests)
            | (pl.col("devices_min") < rule.min_devices)
            | value.is_null()
        )
        .then(pl.lit(Verdict.INSUFFICIENT.value))
        .when(low.is_null() | high.is_null() | ((low < threshold) & (threshold < high)))
        .then(pl.lit(Verdict.INCONCLUSIVE.value))
        .when(value >= threshold)
        .then(pl.lit(Verdict.MEETS.value))
        .otherwise(pl.lit(Verdict.BELOW.value))
    )


def statistics(tests: pl.LazyFrame, rule: Rule) -> pl.DataFrame:
    """Every level, per technology and over all cellular technologies, with verdicts.

    ``tests`` has the columns of ``INPUT_COLUMNS``, one row per test or tile.
    """
    return month_statistics(tests, rule, usage=False)[0]


def month_statistics(
    tests: pl.LazyFrame, rule: Rule, *, usage: bool = True
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The statistics table, and (``usage``) the use of each commune, mobile and fixed apart.

    The use table has ``commune_code``, and for each network (mobile: the cellular
    technologies; fixed: Wi-Fi tests and fixed tiles) ``tests_<network>`` (weighted)
    and the bounds of its devices ``devices_<network>_min`` and ``_max``
    (:func:`_device_bounds`). Sums come from
    one group-by of the finest groups; distinct devices, medians and percentiles
    need one group-by per level, over the single tests.
    """
    frame = _encoded(tests)
    singles = _nested(frame, rule).lazy()
    # Most months have no tiles: no filter over every row for none (0.2 s at 10 M).
    has_tiles = not frame["single"].all()
    inside_tiles = ~pl.col("single") & pl.col("commune_code").is_not_null()
    tiles = _with_flags(frame.filter(inside_tiles) if has_tiles else frame.clear(), rule)
    partials = single_partials(singles, rule, LEVEL_ORDER, usage=usage)
    return assemble(partials, tiles, rule)


#: Every level of the table, and whether it is the roll-up over all technologies, in the
#: order in which :func:`assemble` stacks them.
LEVEL_ORDER: Final = tuple((level, all_tech) for level in LEVELS for all_tech in (False, True))
#: The levels keyed by commune: each of their groups lies within one commune.
COMMUNE_LEVELS: Final = tuple(
    (level, all_tech) for level, all_tech in LEVEL_ORDER if "commune_code" in LEVELS[level]
)
#: The operator and province levels: their distinct devices come from each device's
#: (operator, technology) pairs (:func:`device_marks`), their groups are :func:`coarse_groups`.
COARSE_LEVELS: Final = tuple(
    (level, all_tech) for level, all_tech in LEVEL_ORDER if "commune_code" not in LEVELS[level]
)
#: What :func:`single_partials` computes for a level: the order statistics' columns.
FINEST_KEYS: Final = [*LEVELS["commune_operator"], "technology"]


@dataclass
class Partials:
    """What the single tests give, before tiles and roll-ups: see :func:`single_partials`.

    Every key column is text (or ``__all``), so that partials of different parts of a
    month (whose enums differ) can be stacked.
    """

    finest: pl.DataFrame
    """The finest groups' sums (:func:`_additive`) and whether they are cellular."""
    orders: dict[tuple[str, bool], pl.DataFrame]
    """Per level (of :data:`LEVEL_ORDER`): its groups' order statistics."""
    own_usage: list[pl.DataFrame] | None
    """Per network of :data:`NETWORKS`: each commune's single tests and devices."""

    @classmethod
    def stack(cls, parts: Sequence[Partials]) -> Partials:
        """The partials of a month from those of parts holding whole groups each."""
        levels = parts[0].orders.keys()
        own = [p.own_usage for p in parts]
        return cls(
            pl.concat([p.finest for p in parts]),
            {lv: pl.concat([p.orders[lv] for p in parts]) for lv in levels},
            None if own[0] is None else [pl.concat(o) for o in zip(*own, strict=True)],
        )


def _texts(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its key columns as texts."""
    return frame.with_columns(pl.col(k).cast(pl.String) for k in (*_KEYS,) if k in frame.columns)


def single_partials(
    singles: pl.LazyFrame,
    rule: Rule,
    levels: Sequence[tuple[str, bool]],
    *,
    usage: bool,
) -> Partials:
    """The finest groups' sums, the order statistics of ``levels`` and the communes' use.

    ``singles`` are the single tests, encoded (:func:`_encoded`) and sorted by group
    (:func:`_nested`); all is collected at once. The distinct devices of the levels
    above the communes come from each device's (operator, technology) pairs
    (:func:`device_marks`).
    """
    schema = singles.collect_schema()
    pairs = len(schema["operator"].categories) + 1  # type: ignore[attr-defined]
    pairs *= len(schema["technology"].categories)  # type: ignore[attr-defined]
    by_pairs = [lv for lv in levels if lv in COARSE_LEVELS]
    plans = [_grouped(singles, FINEST_KEYS, [*_additive(), pl.col("cellular").first()])]
    for level, all_tech in levels:
        keys = _level_keys(level, all_technologies=all_tech)
        selected = singles.filter(pl.col("cellular")) if all_tech else singles
        statistics = _order_statistics(rule, devices=(level, all_tech) not in by_pairs)
        plans.append(_grouped(selected, keys, statistics))
    if usage:
        plans += _own_usage(singles)
    # The in-memory engine adds each group's values in row order; the streaming one
    # merges partial sums in whatever order its threads finish, so means would differ
    # in the last bits from run to run (tests/test_analyze_stats.py checks this).
    done = [_texts(d) for d in pl.collect_all(plans, engine="in-memory")]
    orders = dict(zip(levels, done[1 : 1 + len(levels)], strict=True))
    if by_pairs:
        # Bits are or-ed in any order: the streaming engine, twice as fast here.
        marks = device_marks(singles, pl.col("__g_ot"), pairs).collect(engine="streaming")
        for (name, all_tech), devices in _pair_devices(marks, schema, by_pairs).items():
            on = _level_keys(name, all_technologies=all_tech)
            found = orders[(name, all_tech)]
            orders[(name, all_tech)] = found.join(devices, on=on, how="left", nulls_equal=True)
    return Partials(done[0], orders, done[1 + len(levels) :] if usage else None)


#: (operator, technology) pairs a word of a device's bits holds (:func:`device_marks`).
WORD_BITS: Final = 64


def device_marks(rows: pl.LazyFrame, pair: pl.Expr, pairs: int) -> pl.LazyFrame:
    """Each device's (operator, technology) pairs (``pair``, below ``pairs``), as bits:
    pair ``p`` is bit ``p % 64`` of the word ``__w{p // 64}``, one ``UInt64`` column a word.

    Polars counts a group's distinct devices with a hash set of its own, and the
    groups of the operator and province levels are large: their sets miss the cache at
    every row (1.15 CPU-s of the 3.8 of 10 million tests' statistics). One group-by on
    the devices instead (0.27 CPU-s, streaming), and every such group's devices are
    counted from the bits (:func:`devices_with_pairs`), in one piece or, for a month
    analysed in batches, split by split of the devices. A null device is a row too:
    :func:`devices_with_pairs` leaves it out.
    """
    words = pair_words(pairs)
    shift = (np.arange(pairs, dtype=np.uint64) % np.uint64(WORD_BITS)).astype(np.uint64)
    bits = pl.lit(pl.Series(np.left_shift(np.uint64(1), shift), dtype=pl.UInt64))
    word = pair // WORD_BITS
    marks = [
        pl.when(word == w).then(bits.gather(pair)).otherwise(pl.lit(0, pl.UInt64)).alias(f"__w{w}")
        for w in range(words)
    ]
    return (
        rows.select("device_id", *marks)
        .group_by("device_id")
        .agg(pl.col(f"__w{w}").bitwise_or() for w in range(words))
    )


def pair_words(pairs: int) -> int:
    """How many words of bits :func:`device_marks` makes for ``pairs`` pairs."""
    return max(-(-pairs // WORD_BITS), 1)


def pair_mask(pairs: Iterable[int], words: int) -> npt.NDArray[np.uint64]:
    """The bits of ``pairs``, in ``words`` words (as :func:`device_marks` sets them)."""
    mask = np.zeros(words, dtype=np.uint64)
    for p in pairs:
        mask[p // WORD_BITS] |= np.uint64(1) << np.uint64(p % WORD_BITS)
    return mask


def devices_with_pairs(marks: pl.DataFrame, masks: npt.NDArray[np.uint64]) -> list[int]:
    """For each mask (a row of ``masks``, see :func:`pair_mask`): how many devices of
    ``marks`` (:func:`device_marks`) have one of its pairs; a null device is none."""
    known = marks.filter(pl.col("device_id").is_not_null())
    words = known.select(pl.col(r"^__w\d+$")).to_numpy()
    return [int(np.count_nonzero(np.bitwise_or.reduce(words & mask, axis=1))) for mask in masks]


@dataclass(frozen=True)
class CoarseGroup:
    """A group of the operator or province levels, by the codes of its keys."""

    level: tuple[str, bool]
    operator: int | None
    """The operator's code; None where the level is the province's (every operator)."""
    technology: int | None
    """The technology's code; None where the level is over every cellular technology."""
    pairs: tuple[int, ...]
    """The (operator, technology) pairs it holds, each ``operator * technologies + technology``."""

    def keys(
        self, operators: Sequence[str | None], technologies: Sequence[str | None]
    ) -> dict[str, Any]:
        """Its key columns (as :func:`_level_keys` names them) with the codes' names."""
        keys: dict[str, Any] = {}
        if self.operator is not None:
            keys["operator"] = operators[self.operator]
        if self.technology is not None:
            keys["technology"] = technologies[self.technology]
        if not keys:
            keys["__all"] = 0
        return keys


def coarse_groups(operators: int, technologies: int, cellular: Iterable[int]) -> list[CoarseGroup]:
    """Every group of :data:`COARSE_LEVELS`, level by level, each level's by operator and
    then technology code. A month analysed in batches numbers them in this order.

    ``cellular`` are the codes of the cellular technologies: the levels over every
    technology hold those only.
    """
    cellular = sorted(cellular)
    out = []
    for level, all_tech in COARSE_LEVELS:
        for op in range(operators) if level == "operator" else [None]:
            for tech in [None] if all_tech else range(technologies):
                ops = range(operators) if op is None else [op]
                techs = cellular if tech is None else [tech]
                pairs = tuple(o * technologies + t for o in ops for t in techs)
                out.append(CoarseGroup((level, all_tech), op, tech, pairs))
    return out


def _pair_devices(
    marks: pl.DataFrame, schema: pl.Schema, levels: Sequence[tuple[str, bool]]
) -> dict[tuple[str, bool], pl.DataFrame]:
    """``__devices`` of each group of ``levels`` (operator or province levels), keyed
    as its level, from :func:`device_marks`: the devices that have a pair of the group."""
    technologies = schema["technology"].categories.to_list()  # type: ignore[attr-defined]
    operators = [*schema["operator"].categories.to_list(), None]  # type: ignore[attr-defined]
    cellular = [t for t, name in enumerate(technologies) if name in CELLULAR]
    groups = [
        g for g in coarse_groups(len(operators), len(technologies), cellular) if g.level in levels
    ]
    words = pair_words(len(operators) * len(technologies))
    masks = np.array([pair_mask(g.pairs, words) for g in groups], dtype=np.uint64)
    counts = devices_with_pairs(marks, masks.reshape(-1, words))
    names = {"operator": pl.String, "technology": pl.String, "__all": pl.Int8}
    out = {}
    for level in levels:
        rows = [
            g.keys(operators, technologies) | {"__devices": n}
            for g, n in zip(groups, counts, strict=True)
            if g.level == level
        ]
        schema_of = {k: v for k, v in names.items() if k in rows[0]} | {"__devices": pl.UInt32}
        out[level] = pl.DataFrame(rows, schema=schema_of)
    return out


def assemble(
    partials: Partials, tiles: pl.DataFrame, rule: Rule
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The statistics table (and the use table) from the single tests' partials and
    every tile (encoded): tiles are few, so they are grouped here, at once and in order."""
    texts = _texts(tiles).lazy()
    plans: list[pl.LazyFrame] = []
    for level, all_tech in LEVEL_ORDER:
        keys = _level_keys(level, all_technologies=all_tech)
        level_tiles = _runs(texts.filter(pl.col("cellular")) if all_tech else texts, keys)
        plans.append(level_tiles.select("__run", "download_mbps", "weight"))
        plans.append(_by_run(level_tiles, keys, _tile_aggregations()))
    if tiles.height:
        done = pl.collect_all(plans, engine="in-memory")
    else:  # most months: nothing to group (sixteen queries on nothing), only the columns
        done = [pl.DataFrame(schema=plan.collect_schema()) for plan in plans]
    tile_rows, tile_parts = done[0::2], done[1::2]
    # Sorted, so that every sum of the roll-up adds the same numbers in the same order.
    finest = partials.finest.with_columns(__all=pl.lit(0, pl.Int8)).sort(
        [pl.col(k).cast(pl.String) for k in FINEST_KEYS]
    )
    parts = []
    for i, (level, all_tech) in enumerate(LEVEL_ORDER):
        keys = _level_keys(level, all_technologies=all_tech)
        rows = finest.filter(pl.col("cellular")) if all_tech else finest
        sums = rows if keys == FINEST_KEYS else _roll_up(rows, keys)
        order = partials.orders[(level, all_tech)]
        parts.append(
            _level_frame(
                sums, order, tile_parts[i], tile_rows[i], keys=keys, level=level, rule=rule
            )
        )
    internal = ["__rows", "__singles", "__ss", "__mean", "__cr_tiles", "__bm_a", "__bm_b"]
    if rule.statistic is Statistic.MEDIAN:
        internal += ["__median_low", "__median_high"]
    columns = [c for c in STATS_SCHEMA if c in parts[0].columns] + internal
    table = finish(pl.concat([part.select(columns) for part in parts], how="vertical"), rule)
    if partials.own_usage is None:
        return table, None
    return table, _usage(partials.own_usage, _texts(tiles).lazy()).collect()


#: Group-id columns of :func:`_nested`, by the keys they stand for: the first three are
#: sorted (each group one slice); the others are single integers to hash, where the
#: keys they stand for would be hashed as rows of several columns.
_NESTED: Final = {
    ("commune_code", "operator", "technology"): "__g_cto",
    ("commune_code", "technology"): "__g_ct",
    ("commune_code",): "__g_c",
    ("commune_code", "operator"): "__g_co",
    ("operator", "technology"): "__g_ot",
}


def _nested(frame: pl.DataFrame, rule: Rule) -> pl.DataFrame:
    """The single tests with a commune, sorted by commune, technology, operator, with
    nested group ids.

    ``frame`` is encoded (:func:`_encoded`); its tiles, and its rows without a commune
    (outside the boundaries: ``commune_code`` null), are left out. ``__g_cto`` numbers
    (commune, technology, operator); ``__g_ct`` and ``__g_c`` are its integer quotients,
    so all three are sorted, and every group of those levels is one contiguous slice:
    Polars then aggregates each slice in place, several times faster than gathering
    the rows of each group. The sort is stable, so rows keep their order within a
    group (and sums their order of addition). ``__g_co`` (commune, operator) and
    ``__g_ot`` (operator, technology) are not sorted: one integer to hash instead of
    a row of keys.

    Gathering rows in a new order costs a cache miss per value, the dearest step of an
    analysis: only the measures are gathered; the keys come back from the sorted ids,
    and the flags (:func:`_flags`) are computed again from them.
    """
    schema = frame.schema
    kinds = {k: schema[k].categories for k in _KEYS}  # type: ignore[attr-defined]
    n_tech, n_operator = len(kinds["technology"]), len(kinds["operator"]) + 1
    groups = len(kinds["commune_code"]) * n_tech * n_operator
    id_type = pl.UInt32 if groups < 1 << 32 else pl.UInt64
    code = {k: pl.col(k).to_physical().cast(id_type) for k in _KEYS}
    operator = code["operator"].fill_null(n_operator - 1)
    gid = (code["commune_code"] * n_tech + code["technology"]) * n_operator + operator
    wanted = pl.col("single") & pl.col("commune_code").is_not_null()
    # The rows left out get the id ``groups``, after every group's.
    last = pl.lit(groups, id_type)
    ids = frame.select(pl.when(wanted).then(gid).otherwise(last)).to_series().to_numpy()
    counts = np.bincount(ids.astype(np.int64, copy=False), minlength=groups + 1)
    order = stable_order(ids, groups + 1)[: ids.size - counts[groups]]
    g_cto = pl.Series(np.repeat(np.arange(groups, dtype=ids.dtype), counts[:groups])).set_sorted()
    # In one piece: gathering from the many chunks of a month read from its parts
    # costs twice as much as a copy and a gather.
    at = pl.Series(order.astype(np.uint32 if ids.size < 1 << 32 else np.uint64))
    measures = frame.select(_GATHERED).rechunk().select(pl.all().gather(at))

    def key(name: str, value: pl.Series) -> pl.Series:
        names = pl.Series(name, kinds[name], dtype=schema[name])
        return names.gather(value)

    g_ct = (g_cto // n_operator).set_sorted()
    g_c = (g_ct // n_tech).set_sorted()
    op, tech = g_cto % n_operator, g_ct % n_tech
    nested = measures.with_columns(
        key("commune_code", g_c),
        key("operator", op.set(op == n_operator - 1, None)),
        key("technology", tech),
        g_cto.alias("__g_cto"),
        g_ct.alias("__g_ct"),
        g_c.alias("__g_c"),
        (g_c * n_operator + op).alias("__g_co"),
        (op * n_tech + tech).alias("__g_ot"),
    )
    return _with_flags(nested, rule)


def stable_order(keys: npt.NDArray[np.unsignedinteger[Any]], bound: int) -> npt.NDArray[np.intp]:
    """The positions that sort ``keys`` (below ``bound``), equal keys in their order.

    By 16 bits at a time, lowest first: NumPy's stable sort of 16-bit integers is a
    radix sort, linear in the keys; one pass where ``bound`` is at most 65,536 (the
    (commune, technology, operator) groups of the 3,321 communes: 49,815). Four times
    faster than Polars' comparison sort of the 32-bit ids (0.17 against 0.6 s for
    10 million).
    """
    order = np.argsort(keys.astype(np.uint16), kind="stable")  # the cast keeps 16 bits
    for shift in range(16, max(bound - 1, 1).bit_length(), 16):
        order = order[np.argsort((keys[order] >> shift).astype(np.uint16), kind="stable")]
    return order


#: The columns of the single tests gathered in :func:`_nested`'s order.
_GATHERED: Final = ("download_mbps", "upload_mbps", "latency_ms", "device_id", "peak")


def _grouped(frame: pl.LazyFrame, keys: list[str], aggregations: list[pl.Expr]) -> pl.LazyFrame:
    """Group by ``keys``, through their nested id where there is one (:data:`_NESTED`)."""
    nested = _NESTED.get(tuple(keys))
    if nested is None:
        return frame.group_by(keys).agg(aggregations)
    firsts = [pl.col(k).first() for k in keys]
    return frame.group_by(nested).agg(*firsts, *aggregations).drop(nested)


#: The networks of the per-commune use table, and whether their rows are cellular.
NETWORKS: Final = (("mobile", True), ("fixed", False))


def _own_usage(singles: pl.LazyFrame) -> list[pl.LazyFrame]:
    """Per network of :data:`NETWORKS`: each commune's single tests and distinct devices."""
    return [
        _grouped(
            singles.filter(pl.col("cellular") == cellular),
            ["commune_code"],
            [pl.len().alias("__n"), pl.col("device_id").drop_nulls().n_unique().alias("__d")],
        )
        for _, cellular in NETWORKS
    ]


def _usage(own: list[pl.DataFrame], tiles: pl.LazyFrame) -> pl.LazyFrame:
    """Tests and devices per commune, mobile and fixed apart: single tests plus tiles.

    Mobile is every cellular technology (unknown included: mobile Ookla tiles);
    fixed is Wi-Fi tests and fixed-broadband tiles. They are two networks, and
    never added up: ``tests_mobile``, ``devices_mobile_min``, ``devices_mobile_max``,
    and the same for ``fixed``; ``tests_mobile_single`` and ``devices_mobile_single``
    are the mobile single tests alone (tiles left out) and their devices. ``own`` is
    :func:`_own_usage`'s, collected.
    """
    per_network = []
    for (network, cellular), singles in zip(NETWORKS, own, strict=True):
        tile = (
            tiles.filter(pl.col("cellular") == cellular)
            .group_by("commune_code")
            .agg(
                __tn=pl.col("weight").sum(),
                __td=pl.col("devices").sum(),
                __tdm=pl.col("devices").max(),
            )
        )
        joined = singles.lazy().join(tile, on="commune_code", how="full", coalesce=True)
        least, most = _device_bounds("__d", "__tdm", "__td")
        per_network.append(
            joined.select(
                pl.col("commune_code").cast(pl.String),
                (pl.col("__n").fill_null(0).cast(pl.Int64) + pl.col("__tn").fill_null(0)).alias(
                    f"tests_{network}"
                ),
                least.alias(f"devices_{network}_min"),
                most.alias(f"devices_{network}_max"),
                # Single tests alone (exact devices): citizens' uses of the apps.
                *(
                    [
                        pl.col("__n").fill_null(0).cast(pl.Int64).alias("tests_mobile_single"),
                        pl.col("__d").fill_null(0).cast(pl.Int64).alias("devices_mobile_single"),
                    ]
                    if cellular
                    else []
                ),
            )
        )
    mobile, fixed = per_network
    both = mobile.join(fixed, on="commune_code", how="full", coalesce=True)
    return both.with_columns(pl.exclude("commune_code").fill_null(0))


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
            **{
                name: pl.lit(0)
                for name in ("tests", "tile_tests", "devices_min", "devices_max", "peak_tests")
            },
        )
    )
    return frame.select(
        pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in STATS_SCHEMA.items()
    )


#: What a group's change since last month compares (``change_basis``).
CHANGE_BASES: Final = ("distinct", "shared_tiles", "same_data")
#: The quarter of tiles in a data period (``2024-Q4`` in ``2024-10+2024-Q4``).
_QUARTER_IN_PERIOD: Final = r"(\d{4}-Q[1-4])"


def data_period(month: str) -> pl.Expr:
    """The data a group's figures rest on: ``2024-10``, ``2024-Q4`` or ``2024-10+2024-Q4``.

    A group of the month's single tests only rests on that month; a group of tiles
    only rests on the quarter of tiles (the same data in each of its three months);
    a group of both says both. Null for a group without tests. Single tests count 1
    each, so the single tests of a group are ``tests - tile_tests``: the period is
    known from the counts alone, also for tables stored before it was a column.
    """
    quarter = quarter_of(month)
    singles = (pl.col("tests") - pl.col("tile_tests").fill_null(0)) > 0
    tiles = pl.col("tile_tests").fill_null(0) > 0
    return (
        pl.when(singles & tiles)
        .then(pl.lit(f"{month}+{quarter}"))
        .when(tiles)
        .then(pl.lit(quarter))
        .when(singles)
        .then(pl.lit(month))
        .otherwise(pl.lit(None, pl.String))
    )


def with_data_period(stats: pl.DataFrame, month: str) -> pl.DataFrame:
    """``stats`` with its ``data_period`` column (:func:`data_period`), after ``tile_tests``."""
    names = [c for c in stats.columns if c != "data_period"]
    at = names.index("tile_tests") + 1
    return stats.with_columns(data_period=data_period(month)).select(
        *names[:at], "data_period", *names[at:]
    )


def add_history(stats: pl.DataFrame, history: list[pl.DataFrame]) -> pl.DataFrame:
    """Last month's mean, the change, and how many data periods in a row ended below target.

    ``history`` holds the statistics of the previous months, most recent first,
    without gaps (it stops at the first month without data); every table has a
    ``data_period`` column (:func:`with_data_period`). Months compare by the data
    they rest on, not by the calendar: a quarter's tiles are the same data in each
    of its three months, so

    * the change is null when last month's group rests on the same data
      (``change_basis`` ``same_data``): its 0 would be no change of the network,
      only the same tiles twice; when both months hold the same quarter's tiles
      and at least one of them single tests of its own (``shared_tiles``) the
      change is given, since the data differ, and flagged, since the shared
      tiles cancel out and damp it;
      otherwise the data are apart (``distinct``);
    * the run below target counts each data period once: three tile-only months
      of a quarter below target are one period below, not three.
    """
    keys = list(KEYS)
    prev = (
        history[0].select(
            *keys,
            prev_download_mean_mbps="download_mean_mbps",
            prev_data_period="data_period",
        )
        if history
        else pl.DataFrame(
            schema={
                **stats.select(keys).schema,
                "prev_download_mean_mbps": pl.Float64,
                "prev_data_period": pl.String,
            }
        )
    )
    period, before = pl.col("data_period"), pl.col("prev_data_period")
    quarter, quarter_before = (c.str.extract(_QUARTER_IN_PERIOD) for c in (period, before))
    compared = (
        pl.col("download_mean_mbps").is_not_null() & pl.col("prev_download_mean_mbps").is_not_null()
    )
    basis = (
        pl.when(~compared | period.is_null() | before.is_null())
        .then(pl.lit(None, pl.String))
        .when(period == before)
        .then(pl.lit("same_data"))
        .when(quarter.is_not_null() & (quarter == quarter_before))
        .then(pl.lit("shared_tiles"))
        .otherwise(pl.lit("distinct"))
    )
    out = (
        stats.join(prev, on=keys, how="left", nulls_equal=True)
        .with_columns(change_basis=basis)
        .with_columns(
            download_mean_change_mbps=pl.when(pl.col("change_basis") != "same_data").then(
                pl.col("download_mean_mbps") - pl.col("prev_download_mean_mbps")
            )
        )
    )
    below = pl.col("verdict") == Verdict.BELOW.value
    run = out.select(
        *keys,
        streak=below.fill_null(False).cast(pl.Int64),
        seen=pl.concat_list(period.fill_null("")),
    )
    alive = run["streak"] > 0
    for month in history:
        earlier = month.select(*keys, was=below.fill_null(False), period=period.fill_null(""))
        joined = run.join(earlier, on=keys, how="left", nulls_equal=True, maintain_order="left")
        alive = alive & joined["was"].fill_null(False)
        # A period already counted (the same quarter's tiles a month later) adds nothing.
        new = joined.select(~pl.col("seen").list.contains(pl.col("period"))).to_series()
        run = run.with_columns(
            streak=pl.col("streak") + (alive & new.fill_null(True)).cast(pl.Int64),
            seen=pl.concat_list("seen", joined["period"].fill_null("")),
        )
        if not alive.any():
            break
    history_columns = [
        "prev_download_mean_mbps",
        "download_mean_change_mbps",
        "prev_data_period",
        "change_basis",
        "months_below_target",
    ]
    return out.join(
        run.select(*keys, months_below_target="streak"), on=keys, how="left", nulls_equal=True
    ).select(*(c for c in stats.columns if c not in history_columns), *history_columns)


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
