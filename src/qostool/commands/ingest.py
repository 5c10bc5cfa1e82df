"""``qostool ingest``: load speed-test exports into the store."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from qostool.app import (
    EXIT_CODES_HELP,
    DebugOption,
    JsonOption,
    app,
    handle_errors,
)
from qostool.commands.common import ConfigOption, StoreOption, TimezoneOption, store_location
from qostool.errors import ExitCode

INGEST_HELP = """Load speed-test exports into the store: CSV, Parquet or Excel
(.xlsx, .xlsm, .xlsb, .xls, .ods), each plain, gzip or zip.

Every row is stored in canonical form (partitioned by reporting month) or
rejected with a reason; re-ingesting a file already ingested does nothing; a
test id already stored counts as a duplicate. For every file you get
read = accepted + rejected + duplicates.

[bold]Formats[/] (detected from the header; force one with --format):

  [cyan]ispeed[/]   i-Speed per-test export, English or Vietnamese headers
  [cyan]rtr[/]      RTR-NetTest open data (open_test_uuid, time_utc, download_kbit, ...)
  [cyan]ookla[/]    Ookla open-data tiles (quadkey, avg_d_kbps, tests, ...): aggregates,
           stored with weight = tests at the centre of the quadkey's tile;
           the quarter comes from the file name or --period, the network
           (mobile or fixed) from the file name (..._fixed_tiles) or --network
  [cyan]mlab[/]     M-Lab NDT unified rows, flattened (a.UUID, a.TestTime, ...)
  [cyan]generic[/]  any columns, described by --mapping FILE.toml or --map/--unit options

[bold]Excel workbooks[/]: the sheet is the only one whose header a format
recognises (else --sheet NAME), the header the first such row of the first 30
(else --header-row N, as Excel numbers rows): title rows above it are passed
over. A totals row (Tổng cộng, Total) is rejected as totals_row. Other files
(PDF, images, Word, GeoJSON, binary) are refused as no speed-test export.

[bold]Mapping file[/] (TOML; see docs/ingest.md):

  name = "my-export"
  \\[fields]
  measured_at = { column = "Time", format = "%d/%m/%Y %H:%M:%S" }
  lat = "Lat"
  lon = "Lon"
  download_mbps = { column = "DL", unit = "kbps" }

[bold]Examples[/]:

  qostool ingest exports/2025-10/*.csv exports/extra.parquet --store ./qostool-data
  qostool ingest exports/ --format rtr --json
  qostool ingest odd_export.csv --mapping my-columns.toml
  qostool ingest odd.csv --map measured_at=Time --map lat=Lat --map lon=Lon
      --map download_mbps=DL --unit download_mbps=kbps
  qostool ingest ar_tiles_2024q4.parquet --network fixed
  qostool ingest "bao_cao_thang_10.xlsx" --sheet "Dữ liệu" --header-row 4

"""


@app.command(help=INGEST_HELP, epilog=EXIT_CODES_HELP)
@handle_errors
def ingest(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Files, folders (searched recursively) or glob patterns.", show_default=False
        ),
    ],
    *,
    config: ConfigOption = None,
    store: StoreOption = None,
    timezone: TimezoneOption = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="ispeed, rtr, ookla, mlab or generic (default: detect)."
        ),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option("--mapping", "-m", help="TOML file describing the columns (format generic)."),
    ] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="field=Column, repeatable; overrides the format's columns."),
    ] = None,
    unit: Annotated[
        list[str] | None,
        typer.Option("--unit", help="field=unit (bps, kbps, Mbps, Gbps; ms, s), repeatable."),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="Text encoding (default: detect UTF-8/UTF-16), e.g. cp1258."),
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="Field delimiter (default: detect , ; tab |).")
    ] = None,
    decimal: Annotated[
        str, typer.Option(help="Decimal mark of numbers: auto, point or comma.")
    ] = "auto",
    period: Annotated[
        str | None,
        typer.Option(help="Quarter of tile files, e.g. 2024-Q4 (default: from the file name)."),
    ] = None,
    network: Annotated[
        str | None,
        typer.Option(
            help="Network of tile files: mobile or fixed (default: from the file name, "
            "which must then say it). Tile files only: refused for files of single tests.",
            show_default=False,
        ),
    ] = None,
    sheet: Annotated[
        str | None,
        typer.Option(
            help="Sheet of Excel workbooks to read (default: the only sheet with a "
            "recognised header).",
            show_default=False,
        ),
    ] = None,
    header_row: Annotated[
        int | None,
        typer.Option(
            help="Row of the column names in Excel workbooks, as Excel numbers it "
            "(default: the first recognised row of the first 30).",
            show_default=False,
        ),
    ] = None,
    naive_timezone: Annotated[
        str | None,
        typer.Option(
            help="Time zone of times written without an offset (default: the store's, "
            r"\[store] timezone), e.g. UTC for an export in UTC without saying so.",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    from qostool.ingest import ingest_paths, make_options

    store, timezone = store_location(config, store, timezone)
    options = make_options(
        format=format,
        mapping=mapping,
        map_=map_ or [],
        unit=unit or [],
        encoding=encoding,
        delimiter=delimiter,
        decimal=decimal,
        period=period,
        network=network,
        sheet=sheet,
        header_row=header_row,
        naive_timezone=naive_timezone,
        debug=debug or os.environ.get("QOSTOOL_DEBUG") == "1",
    )
    from qostool.progress import progress_reporter

    with progress_reporter(enabled=not json_output and sys.stderr.isatty()) as progress:
        report = ingest_paths(
            paths, store=store, timezone=timezone, options=options, progress=progress
        )
    if json_output:  # Rich (the rendering) is not loaded for JSON, as from cron
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        from qostool.render import print_ingest_report

        print_ingest_report(report)
    if report.failed:
        raise typer.Exit(int(ExitCode.ERROR))
