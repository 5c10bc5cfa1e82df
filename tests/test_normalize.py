"""Normalisation rules, each checked against values worked out by hand or with the stdlib."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qostool.ingest import normalize as nz

TZ = "Asia/Ho_Chi_Minh"


def _expr(func, values: list[object]) -> list[object]:  # type: ignore[no-untyped-def]
    return pl.select(func(pl.lit(pl.Series(values, dtype=pl.String)))).to_series().to_list()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Viettel", "Viettel"),
        ("VIETTEL", "Viettel"),
        ("Viettel Telecom", "Viettel"),
        ("  viettel  ", "Viettel"),
        ("Vinaphone", "VNPT-VinaPhone"),
        ("VNPT", "VNPT-VinaPhone"),
        ("VNPT-VinaPhone", "VNPT-VinaPhone"),
        ("Mobifone", "MobiFone"),
        ("MobiFone", "MobiFone"),
        ("Vietnamobile", "Vietnamobile"),
        ("Gmobile", "Gmobile"),
        ("I-Telecom", "I-Telecom"),
        ("Víettél", "Viettel"),  # stray diacritics from a keyboard
        ("A1 Telekom Austria", "other"),
        ("", None),
        (None, None),
    ],
)
def test_operator_from_name(raw: str | None, expected: str | None) -> None:
    assert _expr(nz.operator_from_name, [raw]) == [expected]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("452-01", "MobiFone"),
        ("452-02", "VNPT-VinaPhone"),
        ("452-04", "Viettel"),
        ("45205", "Vietnamobile"),
        ("452 07", "Gmobile"),
        ("452/08", "I-Telecom"),
        ("452-09", "REDDI"),
        ("232-01", "other"),
        ("", None),
        (None, None),
    ],
)
def test_operator_from_mcc_mnc(raw: str | None, expected: str | None) -> None:
    assert _expr(nz.operator_from_mcc_mnc, [raw]) == [expected]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("LTE", "4G"),
        ("4G", "4G"),
        ("lte-a", "4G"),
        ("NR", "5G"),
        ("5G NSA", "5G"),
        ("NR NSA", "5G"),
        ("5G SA", "5G"),
        ("HSPA+", "3G"),
        ("UMTS", "3G"),
        ("EDGE", "2G"),
        ("GSM", "2G"),
        ("WLAN", "wifi"),
        ("WiFi", "wifi"),
        ("Wi-Fi", "wifi"),
        ("LAN", "wifi"),
        ("satellite", "unknown"),
        (None, "unknown"),
    ],
)
def test_technology(raw: str | None, expected: str) -> None:
    assert _expr(nz.technology, [raw]) == [expected]


def _utc(values: list[str], zone: str = TZ) -> list[datetime | None]:
    return nz.to_utc(pl.Series(values), naive_timezone=zone).to_list()


def test_timestamps_with_offsets_are_converted_to_utc() -> None:
    got = _utc(["2025-10-01T08:00:00+07:00", "2025-09-30T18:00:00Z", "2025-10-01 08:00:00+0700"])
    assert got == [
        datetime(2025, 10, 1, 1, tzinfo=UTC),
        datetime(2025, 9, 30, 18, tzinfo=UTC),
        datetime(2025, 10, 1, 1, tzinfo=UTC),
    ]


def test_naive_timestamps_are_read_in_the_given_zone() -> None:
    # Independent: the stdlib's zoneinfo conversion.
    local = ZoneInfo(TZ)
    texts = ["01/10/2025 03:00:00", "1/9/2025 7:05:00", "2025-10-01 08:00", "31/12/2025 23:59"]
    parsed = [
        datetime(2025, 10, 1, 3, 0, 0, tzinfo=local),
        datetime(2025, 9, 1, 7, 5, 0, tzinfo=local),
        datetime(2025, 10, 1, 8, 0, tzinfo=local),
        datetime(2025, 12, 31, 23, 59, tzinfo=local),
    ]
    assert _utc(texts) == [p.astimezone(UTC) for p in parsed]
    assert _utc(["2025-10-01 08:00:00"], zone="UTC") == [datetime(2025, 10, 1, 8, tzinfo=UTC)]


def test_epoch_seconds_and_milliseconds() -> None:
    stamp = datetime(2025, 10, 1, 1, tzinfo=UTC).timestamp()
    got = _utc([str(int(stamp)), str(int(stamp * 1000)), f"{stamp:.3f}"])
    assert got == [datetime(2025, 10, 1, 1, tzinfo=UTC)] * 3
    numeric = nz.to_utc(pl.Series([stamp * 1000]), naive_timezone=TZ).to_list()
    assert numeric == [datetime(2025, 10, 1, 1, tzinfo=UTC)]


def test_padded_timestamps_are_trimmed_where_they_do_not_read() -> None:
    stamp = int(datetime(2025, 10, 1, 1, tzinfo=UTC).timestamp())
    texts = ["2025-10-01T08:00:00+07:00", " 2025-10-01T08:00:00+07:00 ", f" {stamp}", "x "]
    expected = [datetime(2025, 10, 1, 1, tzinfo=UTC)] * 3 + [None]
    assert _utc(texts) == expected
    assert _utc(["\t01/10/2025 08:00:00 ", "2025-10-01 08:00:00 UTC "]) == [
        datetime(2025, 10, 1, 1, tzinfo=UTC),
        datetime(2025, 10, 1, 8, tzinfo=UTC),
    ]


def test_unreadable_timestamps_become_null() -> None:
    assert _utc(["32/13/2025 25:00:00", "not a time", "", None]) == [None] * 4  # type: ignore[list-item]


def test_bigquery_style_utc_suffix() -> None:
    assert _utc(["2025-10-01 01:00:00.5 UTC"], zone=TZ) == [
        datetime(2025, 10, 1, 1, 0, 0, 500000, tzinfo=UTC)
    ]


def test_reporting_month_is_local() -> None:
    frame = pl.DataFrame(
        {
            "t": [
                datetime(2025, 9, 30, 16, 59, 59, tzinfo=UTC),  # 23:59:59 local, September
                datetime(2025, 9, 30, 17, 0, 0, tzinfo=UTC),  # 00:00 local, October
                datetime(2025, 9, 30, 18, 0, 0, tzinfo=UTC),  # the example
            ]
        }
    )
    got = nz.local_months(frame["t"], TZ).to_list()
    assert got == ["2025-09", "2025-10", "2025-10"]


@pytest.mark.parametrize(
    ("text", "comma", "expected"),
    [
        ("45,27", True, 45.27),
        ("1.234,5", True, 1234.5),
        ("-5,0", True, -5.0),
        ("45.27", False, 45.27),
        ("abc", False, None),
        ("", False, None),
        (" 45.27\t", False, 45.27),
        (" 45,27 ", True, 45.27),
        ("nan", False, None),
        ("-inf", False, None),
    ],
)
def test_numbers(text: str, comma: bool, expected: float | None) -> None:
    got = nz.to_number(pl.Series([text], dtype=pl.String), decimal_comma=comma).item()
    assert got == expected


def test_numbers_padded_among_plain_ones() -> None:
    """Only the values that fail are trimmed and read again, in their places."""
    texts = ["1.5", " 2.5", None, "x", "3.5 ", "NaN", "4"]
    got = nz.to_number(pl.Series(texts, dtype=pl.String), decimal_comma=False).to_list()
    assert got == [1.5, 2.5, None, None, 3.5, None, 4.0]


def test_decimal_comma_detection() -> None:
    def votes(values: list[str]) -> tuple[int, int]:
        return nz.decimal_mark_votes(pl.Series(values), coordinate=False)

    assert nz.is_decimal_comma([votes(["45,27", "12"])])
    assert not nz.is_decimal_comma([votes(["45.27", "12"])])


def test_decimal_comma_numbers_take_points_as_thousands_only() -> None:
    texts = ["1.234,5", "45,5", "45.5", "1.234.567", "12", None]
    got = nz.to_number(pl.Series(texts, dtype=pl.String), decimal_comma=True).to_list()
    assert got == [1234.5, 45.5, None, 1234567.0, 12.0, None]


def _quadkey_centre_reference(quadkey: str) -> tuple[float, float]:
    """Bing tile system, digit by digit in plain Python."""
    x = y = 0
    for digit in quadkey:
        d = int(digit)
        x, y = x * 2 + (d & 1), y * 2 + (d >> 1)
    n = 2.0 ** len(quadkey)
    lon = (x + 0.5) / n * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 0.5) / n))))
    return lat, lon


@given(st.text(alphabet="0123", min_size=1, max_size=20))
def test_quadkey_centre_matches_reference(quadkey: str) -> None:
    lat, lon = nz.quadkey_centre(pl.lit(quadkey))
    got = pl.select(lat.alias("lat"), lon.alias("lon")).row(0)
    expected = _quadkey_centre_reference(quadkey)
    assert got == pytest.approx(expected, abs=1e-9)


def test_quadkey_rejects_non_quadkeys() -> None:
    lat, _ = nz.quadkey_centre(pl.lit(pl.Series(["0123x", "", "45"])))
    assert pl.select(lat).to_series().to_list() == [None, None, None]


def test_fold_ignores_case_accents_and_punctuation() -> None:
    assert nz.fold("Tốc độ tải xuống (Mbps)") == nz.fold("toc_do_tai_xuong_mbps")
    assert nz.fold("Đường") == "duong"


@given(
    st.lists(
        st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2039, 12, 31)),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from([TZ, "UTC", "Europe/Vienna", "America/New_York", "Asia/Kathmandu"]),
)
def test_fast_local_months_match_zoneinfo(moments: list[datetime], zone: str) -> None:
    utc = [m.replace(tzinfo=UTC) for m in moments]
    series = pl.Series([*utc, None], dtype=pl.Datetime("us", "UTC"))
    expected = [u.astimezone(ZoneInfo(zone)).strftime("%Y-%m") for u in utc] + [None]
    assert nz.local_months(series, zone).to_list() == expected


@given(
    st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2039, 12, 31)),
    st.integers(min_value=-12 * 60, max_value=14 * 60),
    st.sampled_from(["T", " "]),
    st.booleans(),
)
def test_iso_offsets_match_stdlib(moment: datetime, minutes: int, sep: str, colon: bool) -> None:
    moment = moment.replace(microsecond=0)
    sign = "+" if minutes >= 0 else "-"
    hh, mm = divmod(abs(minutes), 60)
    suffix = f"{sign}{hh:02d}{':' if colon else ''}{mm:02d}"
    text = moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + suffix
    expected = datetime.fromisoformat(text.replace(" ", "T")).astimezone(UTC)
    assert _utc([text]) == [expected]


def test_mixed_timestamp_forms_in_one_column() -> None:
    texts = [
        "2025-10-01T08:00:00+07:00",
        "2025-10-01T08:00:00.250+07:00",  # fraction: not the fast path
        "2025-10-01T01:00:00Z",
        "01/10/2025 08:00:00",
        "1759280400",
    ]
    got = _utc(texts)
    assert got[0] == got[2] == got[3] == got[4] == datetime(2025, 10, 1, 1, tzinfo=UTC)
    assert got[1] == datetime(2025, 10, 1, 1, 0, 0, 250000, tzinfo=UTC)
