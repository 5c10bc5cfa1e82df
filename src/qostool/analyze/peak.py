"""Peak hours: each test's hour in the store's local time, and whether it is a peak hour."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from qostool.analyze.rules import Rule

_MINUTE_US: Final = 60_000_000
_HOUR_US: Final = 3_600_000_000
#: Minutes spanned by the instants beyond which every instant is converted on its own
#: (about eight years: the table of offsets then holds 32 MB).
_MAX_MINUTES: Final = 1 << 22


def with_peak(frame: pl.DataFrame, rule: Rule, timezone: str) -> pl.DataFrame:
    """``frame`` with ``peak``: whether each test ran in the rule's peak hours (local);
    null where ``measured_at`` is."""
    start, end = rule.peak_hours
    hour = local_hour(frame["measured_at"], timezone)
    return frame.with_columns(peak=hour.is_between(start, end, closed="left"))


def local_hour(measured_at: pl.Series, timezone: str) -> pl.Series:
    """The hour (0-23, ``Int8``) in ``timezone`` of each UTC instant; null where null.

    The same as ``measured_at.dt.convert_time_zone(timezone).dt.hour()``, about four
    times faster: that applies the zone's rules to every row (0.14 s for 10 million
    tests, against 0.04 s). Here the offset from UTC is found for each minute the
    instants span, at the minute's first and last microsecond, and each hour is integer
    arithmetic on the instant and its minute's offset. Where some minute's offset
    differs at its two ends (an offset changed within it: only in the zones' early
    history, when offsets had seconds), or the span is very long, every instant is
    converted on its own instead.
    """
    dtype = measured_at.dtype
    if not isinstance(dtype, pl.Datetime) or dtype.time_unit != "us" or dtype.time_zone != "UTC":
        return _converted(measured_at, timezone)
    micros = measured_at.to_physical().to_frame("at")
    at = pl.col("at")
    low, high = micros.select(
        (at.min() // _MINUTE_US).alias("low"), (at.max() // _MINUTE_US).alias("high")
    ).row(0)
    if low is None or high - low >= _MAX_MINUTES:
        return _converted(measured_at, timezone)
    starts = np.arange(low, high + 1, dtype=np.int64) * _MINUTE_US
    offset = _offset_us(starts, timezone)
    if not np.array_equal(offset, _offset_us(starts + (_MINUTE_US - 1), timezone)):
        return _converted(measured_at, timezone)
    if (offset == offset[0]).all():  # one offset (Vietnam's all year): nothing to look up
        minute_offset = pl.lit(int(offset[0]), pl.Int64)
    else:
        minute_offset = pl.lit(pl.Series(offset)).gather(at // _MINUTE_US - low)
    hour = ((at + minute_offset) // _HOUR_US % 24).cast(pl.Int8)
    # Lazily: the eager engine runs the lookup on one thread (three times slower).
    return micros.lazy().select(hour.alias(measured_at.name)).collect().to_series()


def _offset_us(instants: npt.NDArray[np.int64], timezone: str) -> npt.NDArray[np.int64]:
    """Microseconds from UTC to the local time of ``timezone`` at each UTC instant."""
    utc = pl.Series(instants).cast(pl.Datetime("us", "UTC"))
    local = utc.dt.convert_time_zone(timezone).dt.replace_time_zone(None).to_physical()
    return (local - utc.to_physical()).to_numpy()


def _converted(measured_at: pl.Series, timezone: str) -> pl.Series:
    return measured_at.dt.convert_time_zone(timezone).dt.hour()
