"""From a raw batch (source columns) to canonical rows and a reject reason per row.

Pure functions over Polars frames: no files, no store. The rules are
documented in ``docs/ingest.md``; the reason codes in :class:`qostool.schema.Reason`.

Speed matters here (millions of rows): the source fields are cleaned in one
parallel ``select``; mappings of free text (operators, technologies) run on
the distinct values only; the detail text of a rejection is built for
rejected rows only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import polars as pl

from qostool.ingest import normalize as nz
from qostool.ingest.spec import BoundSpec
from qostool.privacy import Pseudonymiser
from qostool.schema import (
    EARLIEST_TIMESTAMP,
    MAX_PLAUSIBLE_MBPS,
    UTC_DATETIME,
    Operator,
    Reason,
    Technology,
    conform,
)

REASON: Final = "__reason"
#: A workbook's reader marks totals rows in this column (their first cell's text).
TOTALS_COLUMN: Final = "__totals"
FUTURE_TOLERANCE: Final = timedelta(hours=1)
_TRUE_TEXTS: Final = ("true", "t", "1", "yes", "y")
_RAW: Final = "__raw_"
#: Header words of columns that may identify a person: pseudonymised in rejects too.
SENSITIVE_HEADER_WORDS: Final = (
    "device", "imei", "imsi", "msisdn", "phone", "sodienthoai", "thietbi", "uuid", "ip",
    "mac", "androidid", "idfa", "email", "user",
)  # fmt: skip


@dataclass(frozen=True)
class Context:
    """What normalising a batch needs besides the data."""

    timezone: str
    """The store's (province's) time zone: reporting months and naive local times."""
    now: datetime
    """Reference time for future-timestamp checks (timezone-aware)."""
    pseudonymiser: Pseudonymiser = field(compare=False)
    decimal_comma: bool = False
    period_start: datetime | None = None
    """Tiles only: start of the quarter the rows describe (timezone-aware, local)."""
    period: str | None = None
    tile_technology: str = Technology.UNKNOWN.value
    time_formats: tuple[str, ...] | None = None
    naive_timezone: str | None = None
    """The zone of times without an offset, when not the store's (``--naive-timezone``)."""
    """Timestamp formats in the order to try them (decided once per file from a sample)."""
    empty_is_null: bool = False
    """Whether the reader already made empty texts null (the CSV readers do)."""
    serial_dates: bool = False
    """Numbers in the time column are Excel date serial numbers (workbooks)."""


def raw_name(name: str) -> str:
    """Column holding the cleaned source value of canonical field ``name``."""
    return _RAW + name


#: Fields used as text as they are: trimmed here. Every other field goes through a
#: parser (numbers, times, pseudonyms, name mappings) that trims what it reads.
_TRIMMED_FIELDS: Final = frozenset({"test_id", "cell_id", "flagged"})


def _clean(column: str, dtype: pl.DataType, *, trim: bool, empty_is_null: bool) -> pl.Expr:
    if dtype != pl.String:
        return pl.col(column)
    if not trim and empty_is_null:
        return pl.col(column)
    # Parquet and trimmed text may hold "".
    text = pl.col(column).str.strip_chars() if trim else pl.col(column)
    return pl.when(text.str.len_bytes() > 0).then(text)


def raw_fields(frame: pl.DataFrame, bound: BoundSpec, *, empty_is_null: bool) -> pl.DataFrame:
    """The source value of every bound field (trimmed, empty = null, fallback applied)."""
    exprs = []
    for name, column in bound.columns.items():
        trim = name in _TRIMMED_FIELDS
        expr = _clean(column, frame.schema[column], trim=trim, empty_is_null=empty_is_null)
        back = bound.fallbacks.get(name)
        if back is not None:
            fill = _clean(back, frame.schema[back], trim=trim, empty_is_null=empty_is_null)
            expr = pl.coalesce(expr.cast(pl.String), fill.cast(pl.String))
        exprs.append(expr.alias(raw_name(name)))
    return frame.select(exprs)


def map_distinct(values: pl.Series, func: Callable[[pl.Expr], pl.Expr]) -> pl.Series:
    """``func`` applied to each distinct value once, then spread back (for low-cardinality text).

    Text values are trimmed before ``func`` sees them.
    """
    keys = values.drop_nulls().unique()
    arg = pl.col("k").str.strip_chars() if values.dtype == pl.String else pl.col("k")
    table = pl.concat([keys.to_frame("k"), pl.DataFrame({"k": [None]}, schema={"k": values.dtype})])
    mapped = table.select(func(arg).alias("v"))["v"]
    if values.dtype != pl.String:
        spread = values.replace_strict(keys, mapped.head(keys.len()), default=mapped[-1])
        return spread.alias(values.name)
    # Each value's place among the distinct ones, as the code of an enum of them
    # (null stays null, and takes the last entry: what ``func`` makes of null).
    codes = values.cast(pl.Enum(keys)).to_physical().fill_null(keys.len())
    return mapped.gather(codes).alias(values.name)


def is_sensitive(column: str, bound: BoundSpec) -> bool:
    """Whether a source column may identify a device or a person."""
    if column == bound.columns.get("device_id"):
        return True
    if column == bound.columns.get("test_id"):
        return False
    key = nz.fold(column)
    return any(word in key for word in SENSITIVE_HEADER_WORDS)


def ragged_suspects(header: Sequence[str], count: int, bound: BoundSpec) -> list[int]:
    """Positions of a ragged row's values that may hold an identifier.

    In a row with more or fewer fields than the header, a value's position no
    longer says which column it belongs to. An unquoted delimiter in a value
    makes a long row and pushes every later value right, so an identifier can
    be at its column's position or any later one, the extra fields included; a
    line cut short or split makes a short row whose values can only have moved
    left, so an identifier can be at its column's position or any earlier one.

    Parameters
    ----------
    header
        The file's column names.
    count
        How many fields the row has.
    bound
        The file's format bound to its header (which columns are identifiers).

    Returns
    -------
    list[int]
        Positions in the row (0-based) whose values are pseudonymised in the rejects.
    """
    sensitive = [i for i, column in enumerate(header) if is_sensitive(column, bound)]
    if not sensitive:
        return []
    if count > len(header):
        return list(range(min(sensitive), count))
    return list(range(min(max(sensitive) + 1, count)))


def ragged_original(
    header: Sequence[str],
    values: Sequence[str],
    bound: BoundSpec,
    pseudonymise: Callable[[pl.Series], pl.Series],
) -> dict[str, str | list[str] | None]:
    """A ragged row's values by column, for its reject: every possible identifier pseudonymised.

    Values beyond the header are kept, in order, under ``_extra_fields``. The
    values :func:`ragged_suspects` names are replaced by their pseudonyms (the
    same as in the tests), so no raw identifier is stored, wherever the row's
    broken delimiters have put it.
    """
    return ragged_originals(header, [values], bound, pseudonymise)[0]


def ragged_originals(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    bound: BoundSpec,
    pseudonymise: Callable[[pl.Series], pl.Series],
) -> list[dict[str, str | list[str] | None]]:
    """:func:`ragged_original` of many rows, their suspect values pseudonymised in one call."""
    suspects: dict[int, list[int]] = {}
    positions: list[tuple[int, int]] = []
    texts: list[str] = []
    for r, values in enumerate(rows):
        count = len(values)
        if count not in suspects:
            suspects[count] = ragged_suspects(header, count, bound)
        for position in suspects[count]:
            positions.append((r, position))
            texts.append(values[position])
    shown: list[list[str | None]] = [list(values) for values in rows]
    if texts:
        hashed = pseudonymise(pl.Series(texts, dtype=pl.String)).to_list()
        for (r, position), pseudonym in zip(positions, hashed, strict=True):
            shown[r][position] = pseudonym
    width = len(header)
    originals = []
    for row in shown:
        original: dict[str, str | list[str] | None] = dict(zip(header, row, strict=False))
        if len(row) > width:
            original["_extra_fields"] = [v or "" for v in row[width:]]
        originals.append(original)
    return originals


def canonicalise(frame: pl.DataFrame, bound: BoundSpec, ctx: Context) -> pl.DataFrame:
    """Canonical columns, the cleaned source fields (``__raw_*``) and ``__reason``.

    A null ``__reason`` means the row is accepted.
    """
    raw = raw_fields(frame, bound, empty_is_null=ctx.empty_is_null)
    has = set(bound.columns)

    def number(name: str) -> pl.Series | pl.Expr:
        if name not in has:
            return pl.lit(None, pl.Float64)
        parsed = nz.to_number(raw[raw_name(name)], decimal_comma=ctx.decimal_comma)
        factor = bound.factor(name)
        return parsed if factor == 1 else parsed * factor

    always = ("lat", "lon", "download_mbps", "upload_mbps", "latency_ms")
    optional = ("jitter_ms", "packet_loss_pct", "gps_accuracy_m", "signal_dbm")
    exprs = {name: number(name) for name in (*always, *(o for o in optional if o in has))}
    if "cell_id" in has:
        exprs["cell_id"] = pl.col(raw_name("cell_id")).cast(pl.String)
    out = raw.with_columns(**exprs)
    if TOTALS_COLUMN in frame.columns:  # a workbook's totals rows, as its reader found them
        out = out.with_columns(frame[TOTALS_COLUMN])

    extra = (
        _tile_columns(raw, bound, ctx)
        if bound.spec.kind == "tiles"
        else _test_columns(raw, bound, ctx)
    )
    extra.update(_operator(raw, has))
    out = out.with_columns(series.alias(name) for name, series in extra.items())
    if bound.spec.kind == "tiles":
        out = out.with_columns(**_tile_position(bound))
    else:
        out = out.with_columns(weight=pl.lit(1, pl.Int64))
    out = out.with_columns(
        nz.local_months(out["measured_at"], ctx.timezone), source=pl.lit(bound.spec.name)
    )
    totals = TOTALS_COLUMN in out.columns
    out = out.with_columns(reason_expr(bound, ctx, totals=totals).alias(REASON))
    if "test_id" not in out.columns:
        out = out.with_columns(test_id=_test_id(out, has, ctx.pseudonymiser.key))
    elif bound.spec.kind == "tiles" and out["test_id"].has_nulls():  # rows without a quadkey
        hashed = _test_id(out, has, ctx.pseudonymiser.key)
        out = out.with_columns(test_id=pl.coalesce("test_id", _tile_id_prefix(bound, ctx) + hashed))
    raw_columns = [c for c in out.columns if c.startswith(_RAW) or c == TOTALS_COLUMN]
    canonical = conform(out).with_columns(out.select(*raw_columns, REASON))
    if "device_id" in has:  # the raw id stays in __raw_device_id, never written
        pseudonyms = ctx.pseudonymiser(raw[raw_name("device_id")])
        canonical = canonical.with_columns(pseudonyms.alias("device_id"))
    return canonical


def _test_columns(raw: pl.DataFrame, bound: BoundSpec, ctx: Context) -> dict[str, pl.Series]:
    spec = bound.spec
    field_spec = spec.fields["measured_at"]
    zone = field_spec.timezone or spec.timezone
    zone = (ctx.naive_timezone or ctx.timezone) if zone == "local" else zone
    cols = {
        "measured_at": nz.to_utc(
            raw[raw_name("measured_at")],
            naive_timezone=zone,
            fmt=field_spec.format,
            formats=ctx.time_formats,
            serial_dates=ctx.serial_dates,
        ),
    }
    if "technology" in bound.columns:
        tech = raw[raw_name("technology")].cast(pl.String)
        cols["technology_raw"] = tech
        cols["technology"] = map_distinct(tech, nz.technology)
    else:
        cols["technology"] = pl.repeat(Technology.UNKNOWN.value, raw.height, eager=True)
    if "test_id" in bound.columns:
        cols["test_id"] = raw[raw_name("test_id")].cast(pl.String)
    return cols


def _tile_columns(raw: pl.DataFrame, bound: BoundSpec, ctx: Context) -> dict[str, pl.Series]:
    """Aggregated tile rows: the tile centre, weight = tests, the quarter."""
    assert ctx.period_start is not None
    quadkey = pl.col(raw_name("quadkey")).cast(pl.String)
    q_lat, q_lon = nz.quadkey_centre(quadkey)
    start = pl.Series([ctx.period_start]).dt.convert_time_zone("UTC").cast(UTC_DATETIME)[0]
    tests = pl.col(raw_name("tests")).cast(pl.Float64, strict=False).round(0)
    devices = (
        pl.col(raw_name("devices")).cast(pl.Float64, strict=False).round(0)
        if "devices" in bound.columns
        else pl.lit(None)
    )
    frame = raw.select(
        test_id=_tile_id_prefix(bound, ctx) + quadkey,
        measured_at=pl.lit(start, UTC_DATETIME),
        quad_lat=q_lat,
        quad_lon=q_lon,
        weight=tests.cast(pl.Int64, strict=False),
        devices=devices.cast(pl.Int64, strict=False),
        aggregate=pl.lit(True),
        period=pl.lit(ctx.period, pl.String),
        technology=pl.lit(ctx.tile_technology),
    )
    return {name: frame[name] for name in frame.columns}


def _tile_id_prefix(bound: BoundSpec, ctx: Context) -> pl.Expr:
    """``ookla:<technology>:<quarter>:``, the start of a tile's test id.

    The technology stands for the network (``unknown`` for mobile tiles, ``wifi``
    for fixed ones), so a mobile and a fixed tile of the same quadkey and quarter
    never have the same id: neither is ever dropped as a duplicate of the other.
    """
    return pl.lit(f"{bound.spec.name}:{ctx.tile_technology}:{ctx.period}:")


def _tile_position(bound: BoundSpec) -> dict[str, pl.Expr]:
    """``lat`` and ``lon`` of tile rows: the quadkey's exact centre wherever it has one.

    Ookla rounds ``tile_x``/``tile_y`` to 4 decimals (up to about 5 m off), enough
    to put a tile near a border in the neighbouring commune; the quadkey is exact.
    Only a row without a quadkey is placed by its coordinate columns; a quadkey
    that cannot be read leaves no position (the row is rejected, never placed by
    the rounded columns as if nothing were wrong).
    """
    quadkey = pl.col(raw_name("quadkey"))
    has_key = quadkey.is_not_null() if "quadkey" in bound.columns else pl.lit(False)
    return {
        axis: pl.when(has_key).then(pl.col(f"quad_{axis}")).otherwise(pl.col(axis))
        for axis in ("lat", "lon")
    }


def _operator(raw: pl.DataFrame, has: set[str]) -> dict[str, pl.Series]:
    """Operator from MCC-MNC, else ASN, else name; the raw name (or code) kept."""
    sources = [
        ("mcc_mnc", nz.operator_from_mcc_mnc),
        ("asn", nz.operator_from_asn),
        ("operator", nz.operator_from_name),
    ]
    found = [(name, func) for name, func in sources if name in has]
    if not found:  # e.g. Ookla tiles: no operator information at all
        return {"operator": pl.repeat(Operator.UNKNOWN.value, raw.height, eager=True)}
    mapped: list[pl.Series] = []
    for name, func in found:  # the later sources only matter where the earlier say nothing
        mapped.append(map_distinct(raw[raw_name(name)].cast(pl.String), func))
        if not mapped[-1].has_nulls():
            break
    operator = pl.select(
        pl.coalesce([pl.lit(s) for s in mapped] + [pl.lit(Operator.UNKNOWN.value)])
    ).to_series()
    order = [n for n in ("operator", "mcc_mnc", "asn") if n in has]
    texts = [pl.lit(raw[raw_name(n)].cast(pl.String)) for n in order]
    operator_raw = pl.select(pl.coalesce(texts)).to_series()
    return {"operator": operator, "operator_raw": operator_raw}


def _checks(
    bound: BoundSpec, ctx: Context, *, totals: bool = False
) -> list[tuple[Reason, pl.Expr, tuple[str, ...]]]:
    """Each check: its reason, the failing condition, and the fields its detail shows.

    ``totals``: the rows carry :data:`TOTALS_COLUMN` (a workbook's), and its totals
    rows are rejected first, before their empty times or coordinates are looked at.
    """
    has = set(bound.columns)

    def raw(name: str) -> pl.Expr:
        return pl.col(raw_name(name)) if name in has else pl.lit(None, pl.String)

    m = pl.col
    lat, lon = m("lat"), m("lon")
    dl, ul = m("download_mbps"), m("upload_mbps")
    tiles = bound.spec.kind == "tiles"
    checks: list[tuple[Reason, pl.Expr, tuple[str, ...]]] = []
    if totals:
        checks.append((Reason.TOTALS_ROW, pl.col(TOTALS_COLUMN).is_not_null(), (TOTALS_COLUMN,)))
    if "flagged" in has:
        flagged = raw("flagged").cast(pl.String).str.to_lowercase().is_in(_TRUE_TEXTS)
        checks.append((Reason.FLAGGED_BY_SOURCE, flagged, ("flagged",)))
    if tiles:
        checks.append(
            (Reason.INVALID_WEIGHT, m("weight").is_null() | (m("weight") < 1), ("tests",))
        )
        # No quadkey and no coordinates; an unreadable quadkey is an invalid position.
        missing_position = raw("quadkey").is_null() & (raw("lat").is_null() | raw("lon").is_null())
        position_fields: tuple[str, ...] = ("quadkey", "lat", "lon")
    else:
        earliest = pl.lit(EARLIEST_TIMESTAMP).str.to_datetime().dt.replace_time_zone("UTC")
        future = pl.lit(ctx.now + FUTURE_TOLERANCE).cast(UTC_DATETIME)
        time = m("measured_at")
        checks += [
            (Reason.MISSING_TIMESTAMP, raw("measured_at").is_null(), ("measured_at",)),
            (Reason.INVALID_TIMESTAMP, time.is_null() | (time < earliest), ("measured_at",)),
            (Reason.FUTURE_TIMESTAMP, time > future, ("measured_at",)),
        ]
        missing_position = raw("lat").is_null() | raw("lon").is_null()
        position_fields = ("lat", "lon")
    bad_position = lat.is_null() | lon.is_null() | (lat.abs() > 90) | (lon.abs() > 180)
    checks += [
        (Reason.MISSING_COORDINATES, missing_position, position_fields),
        (Reason.INVALID_COORDINATES, bad_position | ((lat == 0) & (lon == 0)), position_fields),
        (Reason.MISSING_DOWNLOAD, raw("download_mbps").is_null(), ("download_mbps",)),
        (
            Reason.INVALID_SPEED,
            dl.is_null() | (raw("upload_mbps").is_not_null() & ul.is_null()),
            ("download_mbps", "upload_mbps"),
        ),
        (Reason.NEGATIVE_SPEED, (dl < 0) | (ul < 0), ("download_mbps", "upload_mbps")),
        (
            Reason.IMPLAUSIBLE_SPEED,
            (dl > MAX_PLAUSIBLE_MBPS) | (ul > MAX_PLAUSIBLE_MBPS),
            ("download_mbps", "upload_mbps"),
        ),
        (
            Reason.INVALID_LATENCY,
            (raw("latency_ms").is_not_null() & m("latency_ms").is_null()) | (m("latency_ms") < 0),
            ("latency_ms",),
        ),
    ]
    return checks


def _first_match(
    checks: list[tuple[Reason, pl.Expr, tuple[str, ...]]], value: Callable[[Reason], pl.Expr]
) -> pl.Expr:
    result: pl.Expr = pl.lit(None, pl.String)
    for code, failed, _ in reversed(checks):
        result = pl.when(failed.fill_null(False)).then(value(code)).otherwise(result)
    return result


def reason_expr(bound: BoundSpec, ctx: Context, *, totals: bool = False) -> pl.Expr:
    """The code of the first failing check of each row (null when the row passes)."""
    return _first_match(_checks(bound, ctx, totals=totals), lambda code: pl.lit(code.value))


def detail_expr(bound: BoundSpec, ctx: Context, *, totals: bool = False) -> pl.Expr:
    """For rejected rows: the source columns and values the failing check looked at."""
    has = set(bound.columns)
    fields_by_reason = {code: fields for code, _, fields in _checks(bound, ctx, totals=totals)}

    def shown(code: Reason) -> pl.Expr:
        parts: list[pl.Expr] = []
        if code is Reason.TOTALS_ROW:
            return pl.lit("first cell: ") + pl.col(TOTALS_COLUMN)
        for name in fields_by_reason[code]:
            if name not in has:
                continue
            prefix = (", " if parts else "") + f"{bound.columns[name]}="
            value = pl.col(raw_name(name)).cast(pl.String).fill_null("(empty)")
            parts += [pl.lit(prefix), value]
        return pl.concat_str(parts) if parts else pl.lit("")

    checks = [(code, pl.col(REASON) == code.value, f) for code, f in fields_by_reason.items()]
    return _first_match(checks, shown)


def _test_id(out: pl.DataFrame, has: set[str], key: bytes) -> pl.Series:
    """A keyed hash of the canonical values, for sources without test ids.

    Keyed with the store's secret, because the values include the raw device id:
    without the key, nobody can confirm a guessed device from a stored id.
    """
    device = pl.col(raw_name("device_id")) if "device_id" in has else pl.lit(None, pl.String)
    keys = out.select(
        pl.concat_str(
            [
                pl.col("source"),
                pl.col("measured_at").dt.epoch("us").cast(pl.String),
                pl.col("lat").round(6).cast(pl.String),
                pl.col("lon").round(6).cast(pl.String),
                pl.col("download_mbps").round(4).cast(pl.String),
                pl.col("upload_mbps").round(4).cast(pl.String),
                device,
            ],
            separator="|",
            ignore_nulls=True,
        )
    ).to_series()

    distinct = keys.drop_nulls().unique()
    table = pl.DataFrame(
        {
            "k": distinct,
            "v": [
                "h:" + hashlib.blake2b(k.encode(), key=key, digest_size=12).hexdigest()
                for k in distinct.to_list()
            ],
        },
        schema={"k": pl.String, "v": pl.String},
    )
    joined = keys.to_frame("k").join(table, on="k", how="left", maintain_order="left")
    return joined["v"]
