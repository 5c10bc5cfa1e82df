"""From a raw batch (source columns) to canonical rows and a reject reason per row.

Pure functions over Polars frames: no files, no store. The rules are
documented in ``docs/ingest.md``; the reason codes in :class:`qostool.schema.Reason`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import polars as pl

from qostool.ingest import normalize as nz
from qostool.ingest.spec import BoundSpec
from qostool.privacy import pseudonymise
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
DETAIL: Final = "__detail"
FUTURE_TOLERANCE: Final = timedelta(hours=1)
_TRUE_TEXTS: Final = ("true", "t", "1", "yes", "y")
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
    key: bytes
    """Pseudonymisation key."""
    decimal_comma: bool = False
    period_start: datetime | None = None
    """Tiles only: start of the quarter the rows describe (timezone-aware, local)."""
    period: str | None = None
    tile_technology: str = Technology.UNKNOWN.value


def _raw(frame: pl.DataFrame, bound: BoundSpec, name: str) -> pl.Series | None:
    column = bound.columns.get(name)
    series = frame.get_column(column) if column is not None else None
    back = bound.fallbacks.get(name)
    if back is not None:
        fill = frame.get_column(back)
        series = fill if series is None else series.fill_null(fill.cast(series.dtype))
    return series


def _number(frame: pl.DataFrame, bound: BoundSpec, name: str, ctx: Context) -> pl.Series | None:
    raw = _raw(frame, bound, name)
    if raw is None:
        return None
    value = pl.select(nz.to_number(pl.lit(raw), raw.dtype, decimal_comma=ctx.decimal_comma))
    return (value.to_series() * bound.factor(name)).alias(name)


def _text(series: pl.Series | None) -> pl.Series | None:
    if series is None:
        return None
    text = series.cast(pl.String).str.strip_chars()
    return pl.select(pl.when(text.str.len_bytes() > 0).then(text)).to_series().alias(series.name)


def is_sensitive(column: str, bound: BoundSpec) -> bool:
    """Whether a source column may identify a device or a person."""
    if column == bound.columns.get("device_id"):
        return True
    key = nz.fold(column)
    return any(word in key for word in SENSITIVE_HEADER_WORDS) and column not in {
        bound.columns.get("test_id"),
    }


def canonicalise(frame: pl.DataFrame, bound: BoundSpec, ctx: Context) -> pl.DataFrame:
    """Canonical columns plus ``__reason``/``__detail`` (null reason = accepted)."""
    n = frame.height
    if bound.spec.kind == "tiles":
        cols, raw_time = _tile_columns(frame, bound, ctx)
    else:
        cols, raw_time = _test_columns(frame, bound, ctx)
    for name in ("download_mbps", "upload_mbps", "latency_ms"):
        cols[name] = _as_float(_number(frame, bound, name, ctx), n)
    cols.update(_operator(frame, bound))

    out = pl.DataFrame([s.alias(name) for name, s in cols.items()])
    out = out.with_columns(
        month=nz.local_month(pl.col("measured_at"), ctx.timezone),
        source=pl.lit(bound.spec.name),
    )
    reasons = _reasons(frame, bound, out, raw_time=raw_time, ctx=ctx)
    out = conform(out)
    if "test_id" not in cols:
        out = out.with_columns(test_id=_test_id(frame, bound, out))
    return out.with_columns(reasons)


def _test_columns(
    frame: pl.DataFrame, bound: BoundSpec, ctx: Context
) -> tuple[dict[str, pl.Series], pl.Series]:
    """Columns of per-test rows, and the raw time column (for its reject detail)."""
    spec = bound.spec
    n = frame.height
    raw_time = _raw(frame, bound, "measured_at")
    assert raw_time is not None
    field = spec.fields["measured_at"]
    zone = field.timezone or spec.timezone
    zone = ctx.timezone if zone == "local" else zone
    cols: dict[str, pl.Series] = {
        "measured_at": nz.to_utc(raw_time, naive_timezone=zone, fmt=field.format),
        "lat": _as_float(_number(frame, bound, "lat", ctx), n),
        "lon": _as_float(_number(frame, bound, "lon", ctx), n),
        "weight": pl.repeat(1, n, eager=True, dtype=pl.Int64),
    }
    tech_raw = _text(_raw(frame, bound, "technology"))
    if tech_raw is not None:
        cols["technology_raw"] = tech_raw
        cols["technology"] = pl.select(nz.technology(pl.lit(tech_raw))).to_series()
    else:
        cols["technology"] = pl.repeat(Technology.UNKNOWN.value, n, eager=True)
    device = _raw(frame, bound, "device_id")
    if device is not None:
        cols["device_id"] = pseudonymise(device, ctx.key)
    for name in ("jitter_ms", "packet_loss_pct", "gps_accuracy_m", "signal_dbm"):
        value = _number(frame, bound, name, ctx)
        if value is not None:
            cols[name] = value
    cell = _text(_raw(frame, bound, "cell_id"))
    if cell is not None:
        cols["cell_id"] = cell
    return cols, raw_time


def _tile_columns(
    frame: pl.DataFrame, bound: BoundSpec, ctx: Context
) -> tuple[dict[str, pl.Series], pl.Series]:
    """Columns of aggregated tile rows: tile centre, weight = tests, the quarter."""
    n = frame.height
    quadkey = _text(_raw(frame, bound, "quadkey"))
    tests = _number(frame, bound, "tests", ctx)
    assert quadkey is not None and tests is not None and ctx.period_start is not None
    q_lat, q_lon = nz.quadkey_centre(pl.lit(quadkey))
    centre = pl.select(q_lat.alias("lat"), q_lon.alias("lon"))
    lat, lon = _number(frame, bound, "lat", ctx), _number(frame, bound, "lon", ctx)
    start = pl.Series([ctx.period_start]).dt.convert_time_zone("UTC").cast(UTC_DATETIME)
    measured_at = pl.repeat(start[0], n, eager=True, dtype=UTC_DATETIME)
    cols: dict[str, pl.Series] = {
        "test_id": pl.select(
            pl.lit(f"{bound.spec.name}:{ctx.tile_technology}:{ctx.period}:") + pl.lit(quadkey)
        ).to_series(),
        "measured_at": measured_at,
        "lat": centre["lat"] if lat is None else lat.fill_null(centre["lat"]),
        "lon": centre["lon"] if lon is None else lon.fill_null(centre["lon"]),
        "weight": tests.round(0).cast(pl.Int64, strict=False),
        "aggregate": pl.repeat(True, n, eager=True),
        "period": pl.repeat(ctx.period, n, eager=True, dtype=pl.String),
        "technology": pl.repeat(ctx.tile_technology, n, eager=True),
    }
    devices = _number(frame, bound, "devices", ctx)
    if devices is not None:
        cols["devices"] = devices.round(0).cast(pl.Int64, strict=False)
    return cols, measured_at


def _as_float(series: pl.Series | None, n: int) -> pl.Series:
    if series is None:
        return pl.repeat(None, n, eager=True, dtype=pl.Float64)
    return series.cast(pl.Float64)


def _operator(frame: pl.DataFrame, bound: BoundSpec) -> dict[str, pl.Series]:
    """Operator from MCC-MNC, else ASN, else name; the raw name (or code) kept."""
    name = _text(_raw(frame, bound, "operator"))
    mcc = _text(_raw(frame, bound, "mcc_mnc"))
    asn = _text(_raw(frame, bound, "asn"))
    candidates: list[pl.Expr] = []
    if mcc is not None:
        candidates.append(nz.operator_from_mcc_mnc(pl.lit(mcc)))
    if asn is not None:
        candidates.append(nz.operator_from_asn(pl.lit(asn)))
    if name is not None:
        candidates.append(nz.operator_from_name(pl.lit(name)))
    raws = [s for s in (name, mcc, asn) if s is not None]
    if not candidates:
        return {}
    operator = pl.select(
        pl.coalesce([*candidates, pl.lit(Operator.UNKNOWN.value)]).alias("operator")
    ).to_series()
    raw = pl.select(pl.coalesce([pl.lit(s) for s in raws]).alias("operator_raw")).to_series()
    return {"operator": operator, "operator_raw": raw}


def _reasons(
    frame: pl.DataFrame, bound: BoundSpec, out: pl.DataFrame, *, raw_time: pl.Series, ctx: Context
) -> list[pl.Series]:
    """The first failing check of each row, and a detail naming the columns and values."""
    col = bound.columns
    flagged = _raw(frame, bound, "flagged")

    def raw(name: str) -> pl.Expr:
        series = _raw(frame, bound, name)
        return pl.lit(None, pl.String) if series is None else pl.lit(_text(series))

    def shown(*names: str) -> pl.Expr:
        parts: list[pl.Expr] = []
        for i, name in enumerate(names):
            label = col.get(name, name)
            prefix = ("" if i == 0 else ", ") + f"{label}="
            parts += [pl.lit(prefix), raw(name).fill_null("(empty)")]
        return pl.concat_str(parts)

    m = pl.col
    lat, lon = m("lat"), m("lon")
    earliest = pl.lit(EARLIEST_TIMESTAMP).str.to_datetime().dt.replace_time_zone("UTC")
    speeds = (m("download_mbps"), m("upload_mbps"))
    raw_upload = raw("upload_mbps")
    raw_latency = raw("latency_ms")
    checks: list[tuple[Reason, pl.Expr, pl.Expr]] = []
    if flagged is not None:
        is_flagged = pl.lit(_text(flagged)).str.to_lowercase().is_in(_TRUE_TEXTS)
        checks.append((Reason.FLAGGED_BY_SOURCE, is_flagged, shown("flagged")))
    if bound.spec.kind == "tests":
        time_raw = pl.lit(_text(raw_time.cast(pl.String)))
        checks += [
            (Reason.MISSING_TIMESTAMP, time_raw.is_null(), shown("measured_at")),
            (
                Reason.INVALID_TIMESTAMP,
                m("measured_at").is_null() | (m("measured_at") < earliest),
                shown("measured_at"),
            ),
            (
                Reason.FUTURE_TIMESTAMP,
                m("measured_at") > pl.lit(ctx.now + FUTURE_TOLERANCE).cast(UTC_DATETIME),
                shown("measured_at"),
            ),
        ]
    else:
        checks.append(
            (
                Reason.INVALID_WEIGHT,
                m("weight").is_null() | (m("weight") < 1),
                shown("tests"),
            )
        )
    checks += [
        (
            Reason.MISSING_COORDINATES,
            raw("lat").is_null() | raw("lon").is_null()
            if bound.spec.kind == "tests"
            else lat.is_null() | lon.is_null(),
            shown("lat", "lon") if bound.spec.kind == "tests" else shown("quadkey"),
        ),
        (
            Reason.INVALID_COORDINATES,
            lat.is_null()
            | lon.is_null()
            | (lat.abs() > 90)
            | (lon.abs() > 180)
            | ((lat == 0) & (lon == 0)),
            shown("lat", "lon"),
        ),
        (Reason.MISSING_DOWNLOAD, raw("download_mbps").is_null(), shown("download_mbps")),
        (
            Reason.INVALID_SPEED,
            speeds[0].is_null() | (raw_upload.is_not_null() & speeds[1].is_null()),
            shown("download_mbps", "upload_mbps"),
        ),
        (
            Reason.NEGATIVE_SPEED,
            (speeds[0] < 0) | (speeds[1] < 0),
            shown("download_mbps", "upload_mbps"),
        ),
        (
            Reason.IMPLAUSIBLE_SPEED,
            (speeds[0] > MAX_PLAUSIBLE_MBPS) | (speeds[1] > MAX_PLAUSIBLE_MBPS),
            shown("download_mbps", "upload_mbps"),
        ),
        (
            Reason.INVALID_LATENCY,
            (raw_latency.is_not_null() & m("latency_ms").is_null()) | (m("latency_ms") < 0),
            shown("latency_ms"),
        ),
    ]
    reason = pl.lit(None, pl.String)
    detail = pl.lit(None, pl.String)
    for code, failed, text in reversed(checks):
        hit = failed.fill_null(False)
        reason = pl.when(hit).then(pl.lit(code.value)).otherwise(reason)
        detail = pl.when(hit).then(text).otherwise(detail)
    result = out.select(reason.alias(REASON), detail.alias(DETAIL))
    return [result[REASON], result[DETAIL]]


def _test_id(frame: pl.DataFrame, bound: BoundSpec, out: pl.DataFrame) -> pl.Series:
    """The source's id where it has one, else a stable hash of the canonical values."""
    given = _text(_raw(frame, bound, "test_id"))
    keys = out.select(
        pl.concat_str(
            [
                pl.col("source"),
                pl.col("measured_at").dt.epoch("us").cast(pl.String),
                pl.col("lat").round(6).cast(pl.String),
                pl.col("lon").round(6).cast(pl.String),
                pl.col("download_mbps").round(4).cast(pl.String),
                pl.col("upload_mbps").round(4).cast(pl.String),
                pl.col("device_id"),
            ],
            separator="|",
            ignore_nulls=True,
        )
    ).to_series()
    need = keys if given is None else keys.filter(given.is_null())
    hashed = {
        k: "h:" + hashlib.blake2b(k.encode(), digest_size=12).hexdigest()
        for k in need.unique().to_list()
        if k is not None
    }
    generated = keys.replace_strict(hashed, default=None, return_dtype=pl.String)
    return generated if given is None else given.fill_null(generated)
