"""Turning source values into canonical ones: pure functions over Polars data.

Operators, technologies, units, timestamps, decimal commas and tile positions.
Nothing here reads files or knows about formats.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

import polars as pl

from qostool.schema import UTC_DATETIME, Operator, Technology

if TYPE_CHECKING:  # NumPy is imported where tiles need it: files of tests never do
    import numpy as np
    import numpy.typing as npt


def fold(text: str) -> str:
    """Case-, accent- and punctuation-insensitive key: 'Viettel Telecom' -> 'vietteltelecom'."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^0-9a-z]", "", stripped.casefold())


def fold_expr(expr: pl.Expr) -> pl.Expr:
    """:func:`fold` as a Polars expression (for values, not headers)."""
    return (
        expr.cast(pl.String)
        .str.normalize("NFD")
        .str.replace_all("đ", "d", literal=True)
        .str.replace_all("Đ", "D", literal=True)
        .str.replace_all(r"\p{Mn}", "")
        .str.to_lowercase()
        .str.replace_all(r"[^0-9a-z]", "")
    )


# -- operators ---------------------------------------------------------------

_OPERATOR_NAMES: Final[dict[Operator, tuple[str, ...]]] = {
    Operator.VIETTEL: ("viettel", "viettel telecom", "viettel mobile", "vtl", "viettel group"),
    Operator.VINAPHONE: ("vinaphone", "vnpt", "vnpt vinaphone", "vnpt-vinaphone", "vina", "gpc"),
    Operator.MOBIFONE: ("mobifone", "mobi", "mobifone corporation", "vms", "vms mobifone"),
    Operator.VIETNAMOBILE: ("vietnamobile", "vietnam mobile", "vnmobile", "vnmb", "ht mobile"),
    Operator.GMOBILE: ("gmobile", "g-mobile", "beeline", "gtel", "gtel mobile"),
    Operator.ITELECOM: ("itelecom", "i-telecom", "indochina telecom", "itel"),
    Operator.REDDI: ("reddi", "mobicast"),
    Operator.FPT: ("fpt", "fpt telecom"),
}
OPERATOR_BY_NAME: Final[dict[str, str]] = {
    fold(alias): op.value for op, aliases in _OPERATOR_NAMES.items() for alias in aliases
}

#: Vietnamese mobile networks by MCC-MNC (MCC 452).
OPERATOR_BY_MCC_MNC: Final[dict[str, str]] = {
    "45201": Operator.MOBIFONE.value,
    "45202": Operator.VINAPHONE.value,
    "45204": Operator.VIETTEL.value,
    "45205": Operator.VIETNAMOBILE.value,
    "45207": Operator.GMOBILE.value,
    "45208": Operator.ITELECOM.value,
    "45209": Operator.REDDI.value,
}

#: Autonomous systems of Vietnamese operators (for M-Lab rows, which carry an ASN only).
OPERATOR_BY_ASN: Final[dict[str, str]] = {
    "7552": Operator.VIETTEL.value,
    "24086": Operator.VIETTEL.value,
    "45899": Operator.VINAPHONE.value,
    "7643": Operator.VINAPHONE.value,
    "131429": Operator.MOBIFONE.value,
    "18403": Operator.FPT.value,
}


def operator_from_name(raw: pl.Expr) -> pl.Expr:
    """Canonical operator from a free-text name; null where the name is empty."""
    key = fold_expr(raw)
    return (
        pl.when(key.is_null() | (key == ""))
        .then(None)
        .otherwise(key.replace_strict(OPERATOR_BY_NAME, default=Operator.OTHER.value))
    )


def operator_from_mcc_mnc(raw: pl.Expr) -> pl.Expr:
    """Canonical operator from an MCC-MNC like '452-04', '45204' or '452 04'."""
    digits = raw.cast(pl.String).str.replace_all(r"\D", "")
    known = digits.replace_strict(OPERATOR_BY_MCC_MNC, default=None)
    return pl.when(digits.str.len_chars() >= 5).then(known.fill_null(Operator.OTHER.value))


def operator_from_asn(raw: pl.Expr) -> pl.Expr:
    """Canonical operator from an autonomous system number ('AS7552' or 7552)."""
    digits = raw.cast(pl.String).str.replace_all(r"\D", "")
    known = digits.replace_strict(OPERATOR_BY_ASN, default=None)
    return pl.when(digits.str.len_chars() > 0).then(known.fill_null(Operator.OTHER.value))


# -- technologies -------------------------------------------------------------

_TECHNOLOGY_NAMES: Final[dict[Technology, tuple[str, ...]]] = {
    Technology.G2: ("2g", "gsm", "gprs", "edge", "cdma", "1xrtt", "e", "g"),
    Technology.G3: ("3g", "umts", "wcdma", "hspa", "hspa+", "hsdpa", "hsupa", "h", "h+", "evdo"),
    Technology.G4: ("4g", "lte", "lte-a", "lte+", "4g+", "4g lte", "lte advanced", "lte ca"),
    Technology.G5: ("5g", "nr", "5g nsa", "nr nsa", "5g sa", "nr sa", "5g+", "endc", "en-dc"),
    Technology.WIFI: ("wifi", "wi-fi", "wlan", "lan", "ethernet", "fixed"),
}
TECHNOLOGY_BY_NAME: Final[dict[str, str]] = {
    fold(alias): tech.value for tech, aliases in _TECHNOLOGY_NAMES.items() for alias in aliases
}


def technology(raw: pl.Expr) -> pl.Expr:
    """One of 2G/3G/4G/5G/wifi/unknown from a free-text technology or network type."""
    return fold_expr(raw).replace_strict(
        TECHNOLOGY_BY_NAME, default=Technology.UNKNOWN.value, return_dtype=pl.String
    )


# -- numbers and units -------------------------------------------------------------

#: Factor from each accepted unit to the canonical one (Mbps for speeds, ms for times).
SPEED_UNITS: Final[dict[str, float]] = {
    "bps": 1e-6,
    "kbps": 1e-3,
    "mbps": 1.0,
    "gbps": 1e3,
}
TIME_UNITS: Final[dict[str, float]] = {"ms": 1.0, "s": 1e3, "us": 1e-3}
UNIT_ALIASES: Final[dict[str, str]] = {
    "bit/s": "bps",
    "b/s": "bps",
    "kbit": "kbps",
    "kbit/s": "kbps",
    "kb/s": "kbps",
    "mbit": "mbps",
    "mbit/s": "mbps",
    "mb/s": "mbps",
    "gbit/s": "gbps",
    "msec": "ms",
    "sec": "s",
    "seconds": "s",
}


def canonical_unit(unit: str) -> str:
    """Lower-case unit name with its aliases resolved ('kbit/s' -> 'kbps')."""
    key = unit.strip().lower()
    return UNIT_ALIASES.get(key, key)


#: Numbers whose decimal mark is certain: not ``2,048`` or ``1.234`` (a thousands
#: separator, or three decimals?), but ``45,27``, ``0,5``, ``1.234,5`` (comma) and
#: ``45.27``, ``0.5``, ``1,234.5`` (point).
_CERTAIN_DECIMAL: Final = {
    mark: rf"^[-+]?(\d+{m}(\d{{1,2}}|\d{{4,}})|0{m}\d+|\d{{1,3}}({g}\d{{3}})+{m}\d+)$"
    for mark, m, g in ((",", ",", r"\."), (".", r"\.", ","))
}
#: Coordinates have no thousands: any decimal mark in them is certain.
_COORDINATE_DECIMAL: Final = {",": r"^[-+]?\d{1,3},\d+$", ".": r"^[-+]?\d{1,3}\.\d+$"}
#: A number with thousands points, as a decimal-comma file may write it (``1.234,5``).
_THOUSANDS_POINTS: Final = r"^[-+]?\d{1,3}(\.\d{3})+(,\d+)?$"


def decimal_mark_votes(values: pl.Series, *, coordinate: bool) -> tuple[int, int]:
    """How many number texts certainly have a decimal comma, and how many a decimal point.

    ``coordinate``: the values are latitudes or longitudes, where ``21,512`` can
    only be a decimal comma. Elsewhere ``2,048`` could be 2048 with a thousands
    separator, and does not vote.
    """
    patterns = _COORDINATE_DECIMAL if coordinate else _CERTAIN_DECIMAL
    text = values.cast(pl.String).drop_nulls().str.strip_chars()
    return int(text.str.contains(patterns[","]).sum()), int(text.str.contains(patterns["."]).sum())


def is_decimal_comma(votes: list[tuple[int, int]]) -> bool:
    """Whether a file's numbers use a decimal comma: more certain commas than certain points.

    ``votes`` are :func:`decimal_mark_votes` of its number columns. Without any
    certain value, the decimal point (the default) is kept.
    """
    return sum(comma for comma, _ in votes) > sum(point for _, point in votes)


def to_number(values: pl.Series, *, decimal_comma: bool) -> pl.Series:
    """Parse number texts (or pass numbers through); unreadable values become null.

    Texts are read as they are first, and only those that fail are trimmed and
    read again (see :func:`_trimmed_where_unread`). NaN and infinities count as
    unreadable: they are not measurements.
    """
    if values.dtype.is_numeric():
        number = values.cast(pl.Float64)
    elif decimal_comma:
        # Points are thousands separators (``1.234,5``); ``45.5`` is no number here.
        raw = pl.col("text")
        misplaced = raw.str.contains(".", literal=True) & ~raw.str.contains(_THOUSANDS_POINTS)
        plain = raw.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
        number = (
            pl.DataFrame({"text": values.cast(pl.String).str.strip_chars()})
            .select(pl.when(~misplaced).then(plain).cast(pl.Float64, strict=False))
            .to_series()
        )
    else:
        text = values.cast(pl.String)
        number = _trimmed_where_unread(
            text, text.cast(pl.Float64, strict=False), lambda t: t.cast(pl.Float64, strict=False)
        )
    if not number.is_finite().fill_null(True).all():
        number = pl.select(pl.when(number.is_finite()).then(number)).to_series()
    return number.alias(values.name)


# -- timestamps ----------------------------------------------------------------

#: Text forms tried in order; the first that parses a value wins.
_OFFSET_FORMATS: Final = ("%+", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f %z")
_NAIVE_FORMATS: Final = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d-%m-%Y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d",
    "%d/%m/%Y",
)
_EPOCH_MS_THRESHOLD: Final = 1e11  # larger numbers are milliseconds (year > 5138 in seconds)


def to_utc(
    values: pl.Series,
    *,
    naive_timezone: str,
    fmt: str | None = None,
    formats: tuple[str, ...] | None = None,
    serial_dates: bool = False,
) -> pl.Series:
    """Parse timestamps into UTC datetimes; values that cannot be read become null.

    Accepts ISO 8601 with an offset or ``Z``; naive ISO or ``dd/mm/yyyy HH:MM[:SS]``
    texts, taken to be in ``naive_timezone``; epoch seconds or milliseconds; and
    datetime columns (naive ones in ``naive_timezone``). ``fmt`` forces one
    strftime-style format; ``formats`` gives the order to try the known ones in
    (see :func:`time_formats_for`). With ``serial_dates`` (workbooks), numbers below
    :data:`_SERIAL_LIMIT` are Excel date serial numbers in ``naive_timezone``.
    """
    dtype = values.dtype
    if isinstance(dtype, pl.Datetime):
        local = values if dtype.time_zone else values.dt.replace_time_zone(naive_timezone)
        return local.dt.convert_time_zone("UTC").cast(UTC_DATETIME)
    if dtype.is_numeric():
        return _from_number(values.cast(pl.Float64), naive_timezone, serial_dates=serial_dates)
    text = values.cast(pl.String)

    def parse(texts: pl.Series) -> pl.Series:
        return _text_to_utc(
            texts,
            naive_timezone=naive_timezone,
            fmt=fmt,
            formats=formats,
            serial_dates=serial_dates,
        )

    return _trimmed_where_unread(text, parse(text), parse).alias(values.name)


def _trimmed_where_unread(
    text: pl.Series, parsed: pl.Series, parse: Callable[[pl.Series], pl.Series]
) -> pl.Series:
    """``parsed`` with the texts it could not read trimmed and parsed again.

    Most exports have no padding, and trimming every value costs more than
    parsing it: so values are read as they are first, and only those left
    unread (and changed by trimming) are tried again.
    """
    unread = (parsed.is_null() & text.is_not_null()).arg_true()
    if not unread.len():
        return parsed
    left = text.gather(unread)
    trimmed = left.str.strip_chars()
    if not (trimmed != left).any():
        return parsed
    return parsed.scatter(unread, parse(trimmed))


def _text_to_utc(
    text: pl.Series,
    *,
    naive_timezone: str,
    fmt: str | None,
    formats: tuple[str, ...] | None,
    serial_dates: bool = False,
) -> pl.Series:
    if text.str.ends_with("UTC").any():
        text = text.str.replace(r"\s*UTC$", "+00:00")
    if fmt:
        out = pl.Series(text.name, dtype=UTC_DATETIME).extend_constant(None, len(text))
        order: tuple[str, ...] = (fmt,)
    else:
        out = _iso_with_offset(text)
        order = formats or time_formats_for(text)
    for candidate in order:
        todo = out.is_null() & text.is_not_null()
        if not todo.any():
            break
        parsed = text.str.to_datetime(candidate, strict=False, time_unit="us", cache=False)
        if parsed.dtype.time_zone is None:  # type: ignore[attr-defined]
            parsed = parsed.dt.replace_time_zone(
                naive_timezone, ambiguous="earliest", non_existent="null"
            )
        out = out.fill_null(parsed.dt.convert_time_zone("UTC").cast(UTC_DATETIME))
    if not fmt and (out.is_null() & text.is_not_null()).any():  # epoch seconds or ms left
        numbers = text.cast(pl.Float64, strict=False)
        out = out.fill_null(_from_number(numbers, naive_timezone, serial_dates=serial_dates))
    return out


def time_formats_for(values: pl.Series) -> tuple[str, ...]:
    """The known timestamp formats, those that read most of a sample of ``values`` first."""
    formats = _OFFSET_FORMATS + _NAIVE_FORMATS
    sample = values.cast(pl.String).drop_nulls().str.strip_chars().head(200)
    misses = {f: sample.str.to_datetime(f, strict=False).null_count() for f in formats}
    return tuple(sorted(formats, key=lambda f: misses[f]))


_ISO_SECONDS: Final = 19  # len("2025-10-01T08:00:00")
_OFFSET: Final = re.compile(r"^(?:Z|([+-])(\d{2}):?(\d{2}))$")


def _offset_minutes(suffix: str | None) -> int | None:
    match = _OFFSET.match(suffix or "")
    if match is None:
        return None
    if match.group(1) is None:
        return 0
    minutes = int(match.group(2)) * 60 + int(match.group(3))
    return -minutes if match.group(1) == "-" else minutes


def _iso_with_offset(text: pl.Series) -> pl.Series:
    """Fast path for ``YYYY-MM-DD[T ]HH:MM:SS`` + ``Z``/``+07:00``/``+0700`` (null otherwise).

    Parsing the fixed-width date-time and the few distinct offsets apart is
    about three times faster than a general offset-aware parse.
    """
    base = text.str.slice(0, _ISO_SECONDS)
    naive = base.str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False, time_unit="us", cache=False)
    if naive.null_count() > text.null_count():  # some with a space between date and time
        spaced = base.str.to_datetime(
            "%Y-%m-%d %H:%M:%S", strict=False, time_unit="us", cache=False
        )
        naive = naive.fill_null(spaced)
    suffix = text.str.slice(_ISO_SECONDS)
    suffixes = suffix.drop_nulls().unique()
    minutes = [_offset_minutes(v) for v in suffixes.to_list()]
    if len(minutes) == 1 and minutes[0] is not None:  # the usual case: one offset in a batch
        offset: pl.Series | int = minutes[0]
    else:
        offset = suffix.replace_strict(suffixes, pl.Series(minutes, dtype=pl.Int64), default=None)
    shifted = pl.select(
        (pl.lit(naive) - pl.duration(minutes=pl.lit(offset))).dt.replace_time_zone("UTC")
    ).to_series()
    return shifted.cast(UTC_DATETIME).alias(text.name)


#: Excel counts days from 1899-12-30 (its 1900 leap-year bug included, as the 1 is 1900-01-01).
_SERIAL_EPOCH: Final = datetime(1899, 12, 30)
#: Serial numbers below this are dates up to the year 4637; epoch seconds of this century
#: are above 9e8. So the two never meet.
_SERIAL_LIMIT: Final = 1e6


def _from_number(numbers: pl.Series, naive_timezone: str, *, serial_dates: bool) -> pl.Series:
    """Epoch seconds or milliseconds; with ``serial_dates``, small numbers are Excel serials.

    A serial number is the local date and time as a spreadsheet shows it (days,
    the fraction the time of day): it is taken in ``naive_timezone``, and rounded
    to the millisecond (a serial holds about 10 µs of float noise).
    """
    epoch = _from_epoch(numbers)
    if not serial_dates:
        return epoch
    is_serial = numbers.abs() < _SERIAL_LIMIT
    if not is_serial.any():
        return epoch
    millis = (numbers * 86_400_000.0).round(0).cast(pl.Int64, strict=False)
    local = (
        pl.select(pl.lit(_SERIAL_EPOCH) + pl.duration(milliseconds=pl.lit(millis)))
        .to_series()
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone(naive_timezone, ambiguous="earliest", non_existent="null")
    )
    serial = local.dt.convert_time_zone("UTC")
    return (
        pl.select(pl.when(pl.lit(is_serial)).then(pl.lit(serial)).otherwise(pl.lit(epoch)))
        .to_series()
        .alias(numbers.name)
    )


def _from_epoch(numbers: pl.Series) -> pl.Series:
    micros = (
        pl.select(
            pl.when(numbers.abs() >= _EPOCH_MS_THRESHOLD)
            .then(numbers * 1e3)
            .otherwise(numbers * 1e6)
            .round(0)
            .cast(pl.Int64, strict=False)
        )
        .to_series()
        .alias(numbers.name)
    )
    return micros.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def local_months(measured_at: pl.Series, timezone: str) -> pl.Series:
    """Reporting month ``YYYY-MM`` of each UTC datetime, in the given local time zone.

    Fast: finds the UTC instants at which each local month begins (zoneinfo
    handles any offset or daylight-saving rule) and places every value between
    them by binary search, instead of converting every value to local time.
    Null where the time is null.
    """
    valid = measured_at.drop_nulls()
    if valid.is_empty():
        return pl.Series(measured_at.name, [None] * len(measured_at), dtype=pl.String)
    zone = ZoneInfo(timezone)
    first = valid.min().astimezone(zone)  # type: ignore[union-attr]
    last = valid.max().astimezone(zone)  # type: ignore[union-attr]
    labels: list[str] = []
    starts: list[datetime] = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        labels.append(f"{year:04d}-{month:02d}")
        starts.append(datetime(year, month, 1, tzinfo=zone).astimezone(UTC))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    bounds = pl.Series(starts, dtype=UTC_DATETIME)
    # search_sorted gives u32: cast before subtracting (nulls sort first, to 0).
    index = bounds.search_sorted(measured_at.cast(UTC_DATETIME), side="right").cast(pl.Int64) - 1
    months = pl.Series(labels, dtype=pl.String).gather(index.clip(0))
    return pl.select(pl.when(measured_at.is_not_null()).then(months)).to_series().alias("month")


# -- Ookla tiles --------------------------------------------------------------------


#: Deepest zoom a quadkey may have: 23 levels, 46 bits of a base-4 number (Bing's limit).
MAX_QUADKEY_ZOOM: Final = 23
#: Masks that gather every other bit of a 64-bit word into its low half, step by step
#: (shift, mask after the step); the first mask keeps the bits at even places.
_EVEN_BITS: Final = 0x5555555555555555
_GATHER_STEPS: Final = (
    (1, 0x3333333333333333),
    (2, 0x0F0F0F0F0F0F0F0F),
    (4, 0x00FF00FF00FF00FF),
    (8, 0x0000FFFF0000FFFF),
    (16, 0x00000000FFFFFFFF),
)


def _even_bits(words: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The bits of each word at even places (0, 2, 4, ...), packed together.

    A quadkey read as a base-4 number interleaves the tile's column and row:
    each digit is ``2 * row_bit + column_bit``. So the column is the even bits
    and the row the odd ones.
    """
    import numpy as np

    packed = words & np.uint64(_EVEN_BITS)
    for shift, mask in _GATHER_STEPS:
        packed = (packed | (packed >> np.uint64(shift))) & np.uint64(mask)
    return packed


def _column_and_row(numbers: pl.Series) -> pl.Series:
    """Tile column ``x`` and row ``y`` of quadkeys read as base-4 numbers (a struct)."""
    import numpy as np

    words = numbers.fill_null(0).cast(pl.UInt64).to_numpy()
    return pl.DataFrame(
        {"x": _even_bits(words), "y": _even_bits(words >> np.uint64(1))},
        schema={"x": pl.UInt64, "y": pl.UInt64},
    ).to_struct(numbers.name)


def quadkey_tile(quadkey: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(x, y, zoom) of each Bing-style quadkey tile, vectorised; null for a non-quadkey.

    A quadkey is 1 to 23 digits 0-3, one per zoom level from the coarsest.
    """
    key = quadkey.cast(pl.String).str.strip_chars()
    valid = key.str.contains(rf"^[0-3]{{1,{MAX_QUADKEY_ZOOM}}}$")
    number = pl.when(valid).then(key.str.to_integer(base=4, dtype=pl.UInt64, strict=False))
    tile = number.map_batches(
        _column_and_row, return_dtype=pl.Struct({"x": pl.UInt64, "y": pl.UInt64})
    )
    zoom = pl.when(valid).then(key.str.len_bytes().cast(pl.Int64))
    return (
        pl.when(valid).then(tile.struct.field("x")),
        pl.when(valid).then(tile.struct.field("y")),
        zoom,
    )


def quadkey_centre(quadkey: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(lat, lon) of the exact centre of each quadkey tile, vectorised; null for a non-quadkey.

    The centre in Web Mercator (EPSG:3857), the projection of the tiles, taken
    back to WGS84 degrees: the point Ookla's ``tile_x``/``tile_y`` round to 4
    decimals. A latitude half way between the tile's edges would be off by
    up to a few centimetres at zoom 16; this is the tile grid's own centre.
    """
    x, y, zoom = quadkey_tile(quadkey)
    size = pl.lit(2.0).pow(zoom.cast(pl.Float64))  # tiles across the world at this zoom
    lon = (x.cast(pl.Float64) + 0.5) / size * 360.0 - 180.0
    mercator_y = math.pi * (1.0 - 2.0 * (y.cast(pl.Float64) + 0.5) / size)
    lat = mercator_y.sinh().arctan().degrees()
    return lat, lon
