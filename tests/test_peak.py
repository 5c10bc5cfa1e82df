"""Local hours of UTC instants (the peak-hour flag): the same as converting every row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_series_equal

from qostool.analyze import peak
from qostool.analyze.peak import local_hour, with_peak
from qostool.analyze.rules import Rule

#: Zones with whole-hour, half-hour and 45-minute offsets, daylight saving time of an
#: hour and of half an hour, both hemispheres, and offsets with seconds in their past.
ZONES = (
    "Asia/Ho_Chi_Minh",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Pacific/Chatham",
    "Africa/Monrovia",
)


def _instants(values: list[datetime | None]) -> pl.Series:
    return pl.Series("measured_at", values, dtype=pl.Datetime("us", "UTC"))


def _per_row(measured_at: pl.Series, timezone: str) -> pl.Series:
    return measured_at.dt.convert_time_zone(timezone).dt.hour()


def _changes(timezone: str, year: int) -> list[datetime]:
    """The instants (to the microsecond) at which the zone's UTC offset changes in
    ``year``, found hour by hour with the standard library and halved down."""
    zone = ZoneInfo(timezone)

    def offset(instant: datetime) -> timedelta | None:
        return instant.astimezone(zone).utcoffset()

    start = datetime(year, 1, 1, tzinfo=UTC)
    found = []
    for hours in range(366 * 24):
        low, high = start + timedelta(hours=hours), start + timedelta(hours=hours + 1)
        if offset(low) == offset(high):
            continue
        before = offset(low)
        while high - low > timedelta(microseconds=1):  # the change lies in (low, high]
            middle = low + (high - low) / 2
            low, high = (middle, high) if offset(middle) == before else (low, middle)
        found.append(high)
    return found


def _around(changes: list[datetime]) -> list[datetime | None]:
    """A microsecond, a second and a minute either side of each change, and the change."""
    steps = (timedelta(microseconds=1), timedelta(seconds=1), timedelta(minutes=1))
    return [t + sign * step for t in changes for step in steps for sign in (-1, 0, 1)]


@pytest.mark.parametrize("timezone", ZONES)
def test_local_hours_agree_with_converting_every_row(timezone: str) -> None:
    rng = np.random.default_rng(7)
    spread = rng.integers(0, 400 * 24 * 3600 * 10**6, 20_000)
    random = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(v)) for v in spread]
    changes = _around(_changes(timezone, 2024) + _changes(timezone, 2025))
    measured = _instants([*random, *changes, None])
    hours = local_hour(measured, timezone)
    assert_series_equal(hours, _per_row(measured, timezone))
    assert hours.dtype == pl.Int8
    assert hours.null_count() == 1
    # A second, independent way: the standard library's rules, row by row.
    zone = ZoneInfo(timezone)
    expected = [v.astimezone(zone).hour for v in [*random[:500], *changes]]
    assert hours[:500].to_list() + hours[len(random) : -1].to_list() == expected


@pytest.mark.parametrize(
    ("timezone", "local", "hour"),
    [
        ("Asia/Ho_Chi_Minh", "2025-10-01 18:59:59.999999", 18),
        ("Asia/Ho_Chi_Minh", "2025-10-01 19:00:00", 19),
        ("Asia/Kathmandu", "2025-10-01 00:00:00", 0),
        ("Asia/Kathmandu", "2025-09-30 23:59:59.999999", 23),
    ],
)
def test_hours_change_exactly_at_the_local_hour(timezone: str, local: str, hour: int) -> None:
    instant = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)
    assert local_hour(_instants([instant]), timezone).to_list() == [hour]


def test_an_offset_changing_within_a_minute() -> None:
    """Saigon's offset of 7:06:30 gave way to 7:00 in 1911, 30 seconds into a minute:
    that minute's offset differs at its two ends, and every row is converted."""
    (change,) = _changes("Asia/Ho_Chi_Minh", 1911)
    assert change.second != 0
    measured = _instants([change + timedelta(seconds=s) for s in range(-3000, 3000, 7)])
    assert_series_equal(
        local_hour(measured, "Asia/Ho_Chi_Minh"), _per_row(measured, "Asia/Ho_Chi_Minh")
    )


def test_instants_spanning_decades_or_before_1970(monkeypatch: pytest.MonkeyPatch) -> None:
    values = [datetime(y, 3, 30, 1, 30, tzinfo=UTC) for y in (1950, 1969, 1970, 1996, 2025)]
    measured = _instants(values)
    assert_series_equal(local_hour(measured, "Europe/London"), _per_row(measured, "Europe/London"))
    # Beyond the table's span every row is converted: the same hours.
    monkeypatch.setattr(peak, "_MAX_MINUTES", 10)
    assert_series_equal(local_hour(measured, "Europe/London"), _per_row(measured, "Europe/London"))


def test_nothing_but_nulls() -> None:
    measured = _instants([None, None])
    assert local_hour(measured, "Asia/Ho_Chi_Minh").to_list() == [None, None]
    assert local_hour(measured.clear(), "Asia/Ho_Chi_Minh").len() == 0


def test_peak_is_the_rules_hours_in_local_time() -> None:
    saigon = ZoneInfo("Asia/Ho_Chi_Minh")
    local = [datetime(2025, 10, 3, h, m, tzinfo=saigon) for h in (18, 19, 21, 22) for m in (0, 59)]
    frame = pl.DataFrame({"measured_at": _instants([t.astimezone(UTC) for t in local] + [None])})
    flagged = with_peak(frame, Rule(peak_hours=(19, 22)), "Asia/Ho_Chi_Minh")
    assert flagged["peak"].to_list() == [False, False, True, True, True, True, False, False, None]
