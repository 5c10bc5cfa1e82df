"""The ``qostool`` command line: parse options, call the library, render the result.

No computation here. Errors raised by the library as :class:`QostoolError`
become a message on stderr and the error's exit code; anything else is a bug,
shown with its traceback only under ``--debug``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from qostool import __version__
from qostool.errors import ExitCode, QostoolError

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"

EXIT_CODES_HELP = (
    "Exit codes: 0 done (rejected rows are reported, not errors); 1 error (e.g. a file "
    "could not be read: nothing from it was stored, the other files were); 2 wrong usage; "
    "3 another qostool process is writing to the store (after --wait); 4 (only with "
    "analyze or run --fail-below) some commune is below target. Wrong usage includes a bad "
    "configuration value. See docs/cron.md."
)

app = typer.Typer(
    name="qostool",
    help="Mobile-internet speed statistics per commune, from crowdsourced speed tests.\n\n"
    + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def _version(value: bool) -> None:
    if value:
        typer.echo(f"qostool {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """qostool: speed-test statistics per commune."""


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def handle_errors(func: F) -> F:
    """Turn library errors into a message and an exit code (tracebacks only with --debug)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug")) or os.environ.get("QOSTOOL_DEBUG") == "1"
        try:
            return func(*args, **kwargs)
        except QostoolError as exc:
            if debug:
                raise
            from rich.markup import escape

            err = _stderr()
            # Messages quote user text ("[analyze] min_tests"): never read as markup.
            err.print(f"[bold red]Error:[/] {escape(exc.message)}", soft_wrap=True)
            if exc.hint:
                err.print(f"[yellow]Hint:[/] {escape(exc.hint)}", soft_wrap=True)
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            _stderr().print("Interrupted: nothing of the unfinished file was stored.")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if debug:
                raise
            from rich.markup import escape

            _stderr().print(
                f"[bold red]Internal error:[/] {type(exc).__name__}: {escape(str(exc))}\n"
                "This is a bug in qostool. Run again with --debug for the traceback "
                "and report it."
            )
            raise typer.Exit(int(ExitCode.ERROR)) from None

    return wrapper  # type: ignore[return-value]


# -- shared options -----------------------------------------------------------------

StoreOption = Annotated[
    Path,
    typer.Option(
        "--store",
        envvar="QOSTOOL_STORE",
        help="Store folder (made on first ingest).",
        show_default=True,
    ),
]
TimezoneOption = Annotated[
    str,
    typer.Option(
        "--timezone",
        envvar="QOSTOOL_TIMEZONE",
        help="Province time zone: decides each test's reporting month.",
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON on stdout (for scripts).")
]
DebugOption = Annotated[
    bool, typer.Option("--debug", help="Show tracebacks of unexpected errors.", hidden=True)
]


def _check_timezone(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from qostool.errors import UsageError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"--timezone {name!r} is not a known time zone",
            hint="use an IANA name such as Asia/Ho_Chi_Minh or UTC",
        ) from None
    return name


# -- ingest -------------------------------------------------------------------------

INGEST_HELP = """Load speed-test exports (CSV or Parquet, plain, gzip or zip) into the store.

Every row is stored in canonical form (partitioned by reporting month) or
rejected with a reason; re-ingesting a file already ingested does nothing; a
test id already stored counts as a duplicate. For every file you get
read = accepted + rejected + duplicates.

[bold]Formats[/] (detected from the header; force one with --format):

  [cyan]ispeed[/]   i-Speed per-test export, English or Vietnamese headers
  [cyan]rtr[/]      RTR-NetTest open data (open_test_uuid, time_utc, download_kbit, ...)
  [cyan]ookla[/]    Ookla open-data tiles (quadkey, avg_d_kbps, tests, ...): aggregates,
           stored with weight = tests; the quarter comes from the file name or --period
  [cyan]mlab[/]     M-Lab NDT unified rows, flattened (a.UUID, a.TestTime, ...)
  [cyan]generic[/]  any columns, described by --mapping FILE.toml or --map/--unit options

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
    store: StoreOption = Path("qostool-data"),
    timezone: TimezoneOption = DEFAULT_TIMEZONE,
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
    json_output: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    from qostool.errors import UsageError
    from qostool.ingest import IngestOptions, builtin_names, ingest_paths, load_mapping
    from qostool.ingest.spec import GENERIC, builtin, from_options

    _check_timezone(timezone)
    if format is not None and format not in [*builtin_names(), GENERIC]:
        raise UsageError(
            f"--format {format!r} is not a known format",
            hint=f"use one of: {', '.join([*builtin_names(), GENERIC])}",
        )
    if decimal not in ("auto", "point", "comma"):
        raise UsageError(f"--decimal {decimal!r}: use auto, point or comma")
    if delimiter is not None:
        delimiter = {"\\t": "\t", "tab": "\t"}.get(delimiter, delimiter)
        if len(delimiter) != 1:
            raise UsageError(f"--delimiter {delimiter!r}: give one character, or 'tab'")
    spec = load_mapping(mapping) if mapping else None
    if spec is None and (map_ or unit) and format not in (None, GENERIC):
        spec = builtin(format)
    spec = from_options(spec, map_ or [], unit or [])
    options = IngestOptions(
        format=format,
        mapping=spec,
        encoding=encoding,
        delimiter=delimiter,
        decimal=decimal,
        period=period,
    )
    from qostool.render import print_ingest_report, progress_reporter

    with progress_reporter(enabled=not json_output and sys.stderr.isatty()) as progress:
        report = ingest_paths(
            paths, store=store, timezone=timezone, options=options, progress=progress
        )
    if json_output:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_ingest_report(report)
    if report.failed:
        raise typer.Exit(int(ExitCode.ERROR))


# -- boundaries ---------------------------------------------------------------------

boundaries_app = typer.Typer(
    help="Commune boundaries: import them into the store, list the stored versions.",
    no_args_is_help=True,
)
app.add_typer(boundaries_app, name="boundaries")

BOUNDARIES_IMPORT_HELP = """Import commune boundaries into the store as a new version.

Reads GeoJSON, Shapefile (.shp with its .prj/.cpg, or zipped), GeoPackage
(--layer) and GeoParquet, in any CRS (reprojected to WGS84). Invalid
geometries are repaired and reported; names are Unicode-normalised (NFC);
the code and name fields are detected or given; duplicate codes are refused.
Overlaps and gaps between neighbouring communes are reported. The version
label (file stem + content hash) is recorded by every analysis that uses it;
importing the same boundaries again changes nothing. See docs/boundaries.md.

[bold]Examples[/]:

  qostool boundaries import laichau_communes.shp --store ./qostool-data
  qostool boundaries import vietnam_communes.geojson --province "Lai Châu"
  qostool boundaries import communes.gpkg --layer xa --code-field ma_xa --name-field ten_xa
"""


@boundaries_app.command("import", help=BOUNDARIES_IMPORT_HELP, epilog=EXIT_CODES_HELP)
@handle_errors
def boundaries_import(
    path: Annotated[Path, typer.Argument(help="Boundary file.", show_default=False)],
    *,
    store: StoreOption = Path("qostool-data"),
    timezone: TimezoneOption = DEFAULT_TIMEZONE,
    province: Annotated[
        str | None,
        typer.Option(help="Keep one province of a national file: its code or name."),
    ] = None,
    layer: Annotated[str | None, typer.Option(help="Layer of a GeoPackage.")] = None,
    code_field: Annotated[
        str | None, typer.Option(help="Field holding the commune code (default: detect).")
    ] = None,
    name_field: Annotated[
        str | None, typer.Option(help="Field holding the commune name (default: detect).")
    ] = None,
    population_field: Annotated[
        str | None, typer.Option(help="Field holding the population (default: detect).")
    ] = None,
    json_output: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    from qostool.geo.boundaries import BoundaryOptions
    from qostool.geo.versions import import_boundaries
    from qostool.render import print_boundaries_import
    from qostool.store import Store

    options = BoundaryOptions(
        layer=layer,
        code_field=code_field,
        name_field=name_field,
        province=province,
        population_field=population_field,
    )
    opened = Store.open(store, timezone=_check_timezone(timezone), create=True)
    result = import_boundaries(opened, path, options)
    if json_output:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_boundaries_import(result)


@boundaries_app.command("list", epilog=EXIT_CODES_HELP)
@handle_errors
def boundaries_list(
    *,
    store: StoreOption = Path("qostool-data"),
    timezone: TimezoneOption = DEFAULT_TIMEZONE,
    json_output: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """List the boundaries versions in the store, newest first (analyze uses the newest)."""
    from qostool.geo.versions import KIND
    from qostool.render import print_boundaries_list
    from qostool.store import Store

    found = Store.open(store, timezone=_check_timezone(timezone)).artifacts(KIND)
    if json_output:
        rows = [{"version": a.key, "imported_at": a.created_at, **a.meta} for a in found]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        print_boundaries_list(found)


# -- analyze ------------------------------------------------------------------------

ANALYZE_HELP = """Compute the month's statistics and verdicts per commune, operator and technology.

Assigns every stored test of the month (and the quarter's tiles) to a commune
of the latest imported boundaries (or --boundaries VERSION), then computes,
per commune x operator x technology and the roll-ups (commune, operator,
province): tests, devices, mean/median/p10/p90 download, upload, latency,
share of tests at or above the target, a confidence interval, and a verdict:
meets target, below target, insufficient data or inconclusive; plus last
month's mean and the months in a row below target. Results are stored (a new
analysis of a month replaces the old one) and can be exported. The rules are
explained in docs/methodology.md.

[bold]Examples[/]:

  qostool analyze --month 2025-10 --store ./qostool-data
  qostool analyze --month 2025-10 --export xlsx --out results/
  qostool analyze --month 2025-10 --statistic median --target 5G=150 --min-tests 50
"""


@app.command(help=ANALYZE_HELP, epilog=EXIT_CODES_HELP)
@handle_errors
def analyze(
    *,
    month: Annotated[str, typer.Option(help="Reporting month, YYYY-MM.", show_default=False)],
    store: StoreOption = Path("qostool-data"),
    timezone: TimezoneOption = DEFAULT_TIMEZONE,
    boundaries: Annotated[
        str | None, typer.Option(help="Boundaries version (default: the latest imported).")
    ] = None,
    statistic: Annotated[
        str, typer.Option(help="Compared with the target: mean, median or share.")
    ] = "mean",
    target: Annotated[
        list[str] | None,
        typer.Option(help="TECH=MBPS download target, repeatable (default 4G=40, 5G=100)."),
    ] = None,
    min_tests: Annotated[int, typer.Option(help="Fewer tests: insufficient data.")] = 30,
    min_devices: Annotated[int, typer.Option(help="Fewer devices: insufficient data.")] = 5,
    min_share: Annotated[
        float, typer.Option(help="With --statistic share: share of tests >= target needed.")
    ] = 0.8,
    confidence: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
    tolerance: Annotated[
        float, typer.Option(help="Snap points in gaps to a commune within this many metres.")
    ] = 100.0,
    dedupe_bursts: Annotated[
        bool,
        typer.Option(help="Count a burst of tests from one device (3 h, 100 m) once."),
    ] = False,
    export: Annotated[
        str | None,
        typer.Option(help="Also write csv, xlsx, gpkg and/or geojson (comma-separated)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for --export files.")] = Path("results"),
    fail_below: Annotated[
        bool, typer.Option(help="Exit with code 4 when any commune is below target.")
    ] = False,
    json_output: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    from qostool.analyze.export import export_analysis, parse_formats
    from qostool.analyze.rules import Rule, Statistic, parse_targets
    from qostool.analyze.run import AnalyzeOptions, analyze_month
    from qostool.errors import UsageError
    from qostool.months import parse_month
    from qostool.render import print_analysis, status_reporter
    from qostool.store import Store

    if statistic not in [s.value for s in Statistic]:
        raise UsageError(f"--statistic {statistic!r}: use mean, median or share")
    formats = parse_formats(export) if export else []
    rule = Rule(
        targets=parse_targets(target or []),
        statistic=Statistic(statistic),
        min_tests=min_tests,
        min_devices=min_devices,
        min_share=min_share,
        confidence=confidence,
    )
    if tolerance < 0:
        raise UsageError(f"--tolerance {tolerance}: give a distance in metres, 0 or more")
    options = AnalyzeOptions(
        month=parse_month(month),
        rule=rule,
        boundaries=boundaries,
        tolerance_m=tolerance,
        dedupe_bursts=dedupe_bursts,
    )
    opened = Store.open(store, timezone=_check_timezone(timezone))
    with status_reporter(enabled=not json_output and sys.stderr.isatty()) as progress:
        analysis = analyze_month(opened, options, progress=progress)
        written = export_analysis(analysis, opened, formats, out) if formats else []
    if json_output:
        # Compact: the encoder's fast path, for thousands of communes.
        typer.echo(json.dumps(analysis.to_dict(written), ensure_ascii=False))
    else:
        print_analysis(analysis, written)
    if fail_below and analysis.below_target():
        raise typer.Exit(int(ExitCode.BELOW_TARGET))


# -- report -------------------------------------------------------------------------

REPORT_HELP = """Render the monthly report from the stored analysis of a month.

Reads the results of 'qostool analyze --month' (and the stored analyses of
the 11 months before, for the trend) and writes <out>/<YYYY-MM>/report.<ext>:
a self-contained HTML file (charts and map inline, print-ready on A4), a
Markdown file, an XLSX annex with one sheet per table, an editable Word
document (DOCX, in the layout of an administrative report) and/or a PDF
(the HTML printed by WeasyPrint: pip install 'qostool[pdf]'). Vietnamese by
default, English with --lang en. The same store and options give the same
bytes; pass --generated-at to fix the report's date. Templates can be
overridden file by file with --template-dir. See docs/report.md.

[bold]Examples[/]:

  qostool report --month 2025-10 --store ./qostool-data
  qostool report --month 2025-10 --lang en --format html,md,xlsx --out reports/
  qostool report --month 2025-10 --format docx,pdf --generated-at 2025-11-15
  qostool report --month 2025-10 --template-dir my-templates/ --generated-at 2025-11-05
"""


@app.command(help=REPORT_HELP, epilog=EXIT_CODES_HELP)
@handle_errors
def report(
    *,
    month: Annotated[str, typer.Option(help="Reporting month, YYYY-MM.", show_default=False)],
    store: StoreOption = Path("qostool-data"),
    timezone: TimezoneOption = DEFAULT_TIMEZONE,
    lang: Annotated[str, typer.Option("--lang", help="Language: vi or en.")] = "vi",
    format: Annotated[
        str,
        typer.Option("--format", "-f", help="html, md, xlsx, docx and/or pdf (comma-separated)."),
    ] = "html",
    out: Annotated[Path, typer.Option(help="Folder for the reports (one folder per month).")] = (
        Path("reports")
    ),
    template_dir: Annotated[
        Path | None,
        typer.Option(help="Folder of templates overriding the packaged ones, file by file."),
    ] = None,
    generated_at: Annotated[
        str | None,
        typer.Option(help="Date of the report, ISO date or datetime (default: now)."),
    ] = None,
    json_output: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    from qostool.months import parse_month
    from qostool.report.write import (
        ReportOptions,
        check_template_dir,
        parse_formats,
        parse_generated_at,
        parse_language,
        write_report,
    )
    from qostool.store import Store

    zone = _check_timezone(timezone)
    options = ReportOptions(
        month=parse_month(month),
        lang=parse_language(lang),
        formats=parse_formats(format),
        out=out,
        template_dir=check_template_dir(template_dir),
        generated_at=parse_generated_at(generated_at, zone) if generated_at else None,
    )
    result = write_report(Store.open(store, timezone=zone), options)
    if json_output:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        from rich.console import Console

        console = Console(highlight=False)
        for fmt, path in result.files.items():
            console.print(f"[green]wrote[/] {fmt:<4} {path}", soft_wrap=True)


# -- commands with their own module (they register themselves on ``app``) -------------

from qostool.commands import config as _config  # noqa: E402, F401
from qostool.commands import run as _run  # noqa: E402, F401
from qostool.commands import status as _status  # noqa: E402, F401


def main() -> None:
    """Console-script entry point."""
    app()
