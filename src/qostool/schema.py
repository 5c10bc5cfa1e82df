"""The canonical test row: one schema that every source format is mapped into.

This module is the single definition of the stored columns, their types and the
closed vocabularies (technologies, operators, reject reasons). See DESIGN.md.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

import polars as pl

UTC_DATETIME: Final = pl.Datetime("us", "UTC")

#: Columns every stored test row has, in order, with their Polars types.
REQUIRED_COLUMNS: Final[dict[str, pl.DataType]] = {
    "test_id": pl.String(),
    "measured_at": UTC_DATETIME,
    "month": pl.String(),
    "lat": pl.Float64(),
    "lon": pl.Float64(),
    "operator": pl.String(),
    "technology": pl.String(),
    "download_mbps": pl.Float64(),
    "upload_mbps": pl.Float64(),
    "latency_ms": pl.Float64(),
    "device_id": pl.Int64(),
    "weight": pl.Int64(),
    "source": pl.String(),
}

#: Columns kept when the source has them (null otherwise). Always written, so
#: every Parquet part of the store has the same schema.
OPTIONAL_COLUMNS: Final[dict[str, pl.DataType]] = {
    "operator_raw": pl.String(),
    "technology_raw": pl.String(),
    "jitter_ms": pl.Float64(),
    "packet_loss_pct": pl.Float64(),
    "gps_accuracy_m": pl.Float64(),
    "signal_dbm": pl.Float64(),
    "cell_id": pl.String(),
    "aggregate": pl.Boolean(),
    "period": pl.String(),
    "devices": pl.Int64(),
}

SCHEMA: Final[dict[str, pl.DataType]] = {**REQUIRED_COLUMNS, **OPTIONAL_COLUMNS}

#: A rejected row: where it was, why, and its original values as a JSON object.
REJECT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "file": pl.String(),
    "file_sha256": pl.String(),
    "row": pl.Int64(),
    "reason": pl.String(),
    "detail": pl.String(),
    "original": pl.String(),
}

#: Canonical fields a source column can be mapped to (``mcc_mnc`` is an input
#: only: it is turned into ``operator``; ``quadkey`` and ``flag`` likewise).
INPUT_FIELDS: Final[tuple[str, ...]] = (
    "test_id",
    "measured_at",
    "lat",
    "lon",
    "operator",
    "mcc_mnc",
    "asn",
    "technology",
    "download_mbps",
    "upload_mbps",
    "latency_ms",
    "device_id",
    "jitter_ms",
    "packet_loss_pct",
    "gps_accuracy_m",
    "signal_dbm",
    "cell_id",
    "quadkey",
    "tests",
    "devices",
    "flagged",
)


class Technology(StrEnum):
    G2 = "2G"
    G3 = "3G"
    G4 = "4G"
    G5 = "5G"
    WIFI = "wifi"
    UNKNOWN = "unknown"


class Operator(StrEnum):
    VIETTEL = "Viettel"
    VINAPHONE = "VNPT-VinaPhone"
    MOBIFONE = "MobiFone"
    VIETNAMOBILE = "Vietnamobile"
    GMOBILE = "Gmobile"
    ITELECOM = "I-Telecom"
    REDDI = "REDDI"
    FPT = "FPT"
    OTHER = "other"
    """A name or network we recognise as not one of the above (e.g. a foreign MCC)."""
    UNKNOWN = "unknown"
    """No operator information in the row."""


class Reason(StrEnum):
    """Why a row was rejected. The first failing check (in this order) is recorded."""

    SHORT_ROW = "short_row"
    LONG_ROW = "long_row"
    TOTALS_ROW = "totals_row"
    FLAGGED_BY_SOURCE = "flagged_by_source"
    MISSING_TIMESTAMP = "missing_timestamp"
    INVALID_TIMESTAMP = "invalid_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    MISSING_COORDINATES = "missing_coordinates"
    INVALID_COORDINATES = "invalid_coordinates"
    MISSING_DOWNLOAD = "missing_download"
    INVALID_SPEED = "invalid_speed"
    NEGATIVE_SPEED = "negative_speed"
    IMPLAUSIBLE_SPEED = "implausible_speed"
    INVALID_LATENCY = "invalid_latency"
    INVALID_WEIGHT = "invalid_weight"


REASON_HELP: Final[dict[Reason, str]] = {
    Reason.SHORT_ROW: "the row has fewer fields than the header (a truncated line)",
    Reason.LONG_ROW: "the row has more fields than the header (an unquoted delimiter?)",
    Reason.TOTALS_ROW: "a spreadsheet's totals row (its first cell says Tổng cộng, Total, ...)",
    Reason.FLAGGED_BY_SOURCE: "the source itself marks the test as implausible",
    Reason.MISSING_TIMESTAMP: "no test time",
    Reason.INVALID_TIMESTAMP: "the test time cannot be read, or is before 2000",
    Reason.FUTURE_TIMESTAMP: "the test time is in the future",
    Reason.MISSING_COORDINATES: "no latitude or longitude",
    Reason.INVALID_COORDINATES: "latitude/longitude not numbers, out of range, or 0,0",
    Reason.MISSING_DOWNLOAD: "no download speed",
    Reason.INVALID_SPEED: "a download or upload speed that is not a number",
    Reason.NEGATIVE_SPEED: "a negative download or upload speed",
    Reason.IMPLAUSIBLE_SPEED: "a download or upload speed above the plausible maximum",
    Reason.INVALID_LATENCY: "a latency that is not a number, or negative",
    Reason.INVALID_WEIGHT: "an aggregate row whose test count is missing or below 1",
}

#: Speeds above this (Mbps) are rejected as implausible for a mobile speed test.
MAX_PLAUSIBLE_MBPS: Final = 10_000.0
#: Tests before this date are rejected as invalid timestamps (epoch-0 and similar).
EARLIEST_TIMESTAMP: Final = "2000-01-01"


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Select the canonical columns in order, adding missing optional ones as nulls."""
    return frame.select(
        [
            pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype).alias(name)
            for name, dtype in SCHEMA.items()
        ]
    )
