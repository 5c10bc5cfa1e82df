"""Ingest: speed-test exports in, canonical rows and rejects in the store out.

Public surface::

    from qostool.ingest import ingest_paths, IngestOptions
    report = ingest_paths(["exports/"], store="qostool-data", timezone="Asia/Ho_Chi_Minh")
    report.totals  # {"read": ..., "accepted": ..., "rejected": ..., "duplicates": ...}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qostool.ingest.pipeline import FileReport, IngestOptions, IngestReport, Progress, ingest
from qostool.ingest.sources import expand
from qostool.ingest.spec import builtin_names, load_mapping
from qostool.store import Store

__all__ = [
    "FileReport",
    "IngestOptions",
    "IngestReport",
    "builtin_names",
    "ingest_paths",
    "load_mapping",
    "make_options",
]


def make_options(
    *,
    format: str | None = None,
    mapping: Path | None = None,
    map_: Sequence[str] = (),
    unit: Sequence[str] = (),
    encoding: str | None = None,
    delimiter: str | None = None,
    decimal: str = "auto",
    period: str | None = None,
    network: str | None = None,
    sheet: str | None = None,
    header_row: int | None = None,
    naive_timezone: str | None = None,
    debug: bool = False,
    where: str = "--",
) -> IngestOptions:
    """The options of ``qostool ingest``, checked: from its command line, or from a
    ``[[ingest.source]]`` table of ``qostool.toml`` (``where`` names it in errors,
    e.g. ``[[ingest.source]] inbox/vnnic: ``; the default names the options).
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from qostool.errors import UsageError
    from qostool.ingest.spec import GENERIC, builtin, from_options

    known = [*builtin_names(), GENERIC]
    if format is not None and format not in known:
        raise UsageError(
            f"{where}format {format!r} is not a known format",
            hint=f"use one of: {', '.join(known)}",
        )
    if decimal not in ("auto", "point", "comma"):
        raise UsageError(f"{where}decimal {decimal!r}: use auto, point or comma")
    if delimiter is not None:
        delimiter = {"\\t": "\t", "tab": "\t"}.get(delimiter, delimiter)
        if len(delimiter) != 1:
            raise UsageError(f"{where}delimiter {delimiter!r}: give one character, or 'tab'")
    if naive_timezone is not None:
        try:
            ZoneInfo(naive_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(
                f"{where}naive-timezone {naive_timezone!r} is not a time zone",
                hint="an IANA name such as Asia/Ho_Chi_Minh or UTC",
            ) from None
    spec = load_mapping(mapping) if mapping else None
    if spec is None and (map_ or unit) and format not in (None, GENERIC):
        spec = builtin(format)
    spec = from_options(spec, list(map_), list(unit))
    return IngestOptions(
        format=format,
        mapping=spec,
        encoding=encoding,
        delimiter=delimiter,
        decimal=decimal,
        period=period,
        network=network.strip().lower() if network is not None else None,
        sheet=sheet,
        header_row=header_row,
        naive_timezone=naive_timezone,
        debug=debug,
    )


def ingest_paths(
    paths: list[str],
    *,
    store: Path | str,
    timezone: str = "Asia/Ho_Chi_Minh",
    options: IngestOptions | None = None,
    progress: Progress | None = None,
    wait_seconds: float = 0.0,
) -> IngestReport:
    """Ingest files, folders or glob patterns into the store at ``store`` (made if absent)."""
    sources = expand(paths)  # a mistyped path fails before any store is made
    opened = Store.open(store, timezone=timezone, create=True)
    with opened.write_lock(wait_seconds=wait_seconds):
        return ingest(sources, opened, options or IngestOptions(), progress=progress)
