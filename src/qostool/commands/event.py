"""``qostool event``: an event window (a storm) against the weeks before it, per commune."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from qostool.app import EXIT_CODES_HELP, DebugOption, JsonOption, app, handle_errors
from qostool.commands.common import ConfigOption, StoreOption, TimezoneOption

EVENT_HELP = """Compare an event window (a storm, an outage) with the weeks before it.

For every commune x operator (and all operators together), from single mobile
tests (Ookla tiles are quarterly and say nothing about a day; Wi-Fi tests are
the fixed line): tests per day in the window against the baseline's rate, and
the median download against the baseline's with a bootstrap interval of the
ratio. A commune is [bold]silent[/] when it had no test although at least 5 were
expected (Poisson: a chance of zero below 1 %), [bold]degraded[/] when the whole
interval of the median ratio is below 0.5, [bold]normal[/] otherwise, and
[bold]insufficient_data[/] when neither can be judged. Dates are local days of
the store's time zone, both included; the baseline is the 28 days before --from
unless given. Silence is evidence of an outage, not proof: people test less in
a storm. Every rule is in docs/methodology.md, section 12 (Events).

Files go to OUT/event-FROM_TO/: communes.csv and daily.csv, event.xlsx,
communes.gpkg (--export), report.html, report.md, report.docx (--report).

[bold]Examples[/]:

  qostool event --from 2025-11-06 --to 2025-11-08 --name "Bão Kalmaegi"
  qostool event --from 2025-11-06 --to 2025-11-08 --export csv,xlsx,gpkg \\
      --report html,docx,md --out events/
  qostool event --from 2025-11-06 --to 2025-11-08 \\
      --baseline-from 2025-10-01 --baseline-to 2025-10-31
  qostool event --from 2025-11-06 --to 2025-11-08 --report html --lang en
"""


@app.command(help=EVENT_HELP, epilog=EXIT_CODES_HELP)
@handle_errors
def event(
    *,
    date_from: Annotated[
        str,
        typer.Option(
            "--from", help="First day of the event, YYYY-MM-DD (local).", show_default=False
        ),
    ],
    date_to: Annotated[
        str,
        typer.Option(
            "--to", help="Last day of the event, YYYY-MM-DD (included).", show_default=False
        ),
    ],
    baseline_from: Annotated[
        str | None,
        typer.Option(
            help="First day of the baseline (default: 28 days before --from).", show_default=False
        ),
    ] = None,
    baseline_to: Annotated[
        str | None,
        typer.Option(
            help="Last day of the baseline (default: the day before --from).", show_default=False
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            help="The event's name, for the report's title (e.g. \"Bão số 13\").",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    store: StoreOption = None,
    timezone: TimezoneOption = None,
    boundaries: Annotated[
        str | None,
        typer.Option(
            help=r"Boundaries version (default: the latest imported; config: "
            r"\[boundaries] version)."
        ),
    ] = None,
    degraded_ratio: Annotated[
        float,
        typer.Option(help="Degraded when the whole interval of the median ratio is below this."),
    ] = 0.5,
    min_expected: Annotated[
        float, typer.Option(help="Silent only when at least this many tests were expected.")
    ] = 5.0,
    min_baseline_tests: Annotated[
        int, typer.Option(help="Fewer baseline tests: the median ratio is not judged.")
    ] = 20,
    min_window_tests: Annotated[
        int, typer.Option(help="Fewer tests in the window: the median ratio is not judged.")
    ] = 5,
    confidence: Annotated[float, typer.Option(help="Confidence of the ratio's interval.")] = 0.95,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples (fixed seed).")] = 2000,
    export: Annotated[
        str | None,
        typer.Option(
            help="Write csv, xlsx, gpkg and/or geojson (comma-separated).", show_default=False
        ),
    ] = None,
    report: Annotated[
        str | None,
        typer.Option(
            help="Write the report: html, md and/or docx (comma-separated).", show_default=False
        ),
    ] = None,
    lang: Annotated[str, typer.Option(help="Language of the report: vi or en.")] = "vi",
    out: Annotated[Path, typer.Option(help="Folder for --export and --report files.")] = Path(
        "events"
    ),
    generated_at: Annotated[
        str | None,
        typer.Option(
            help="Date printed on the report (ISO date or datetime; default: now).",
            show_default=False,
        ),
    ] = None,
    raw_csv: Annotated[
        bool | None,
        typer.Option(
            help=r"CSV text cells exactly as stored (config: \[analyze] raw_csv).",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    from qostool.analyze.event import EventOptions, EventRule, analyze_event, parse_date, periods_of
    from qostool.analyze.event_export import event_folder, export_event
    from qostool.analyze.export import parse_formats
    from qostool.config import load_settings
    from qostool.progress import status_reporter
    from qostool.render import print_warnings
    from qostool.report.event import parse_formats as parse_report_formats
    from qostool.report.event import write_event_report
    from qostool.report.write import parse_language
    from qostool.store import Store

    # Every option is checked before the store is opened.
    periods = periods_of(
        parse_date(date_from, "--from"),
        parse_date(date_to, "--to"),
        parse_date(baseline_from, "--baseline-from") if baseline_from else None,
        parse_date(baseline_to, "--baseline-to") if baseline_to else None,
    )
    rule = EventRule(
        degraded_ratio=degraded_ratio,
        min_expected=min_expected,
        min_baseline_tests=min_baseline_tests,
        min_window_tests=min_window_tests,
        confidence=confidence,
        resamples=resamples,
    )
    formats = parse_formats(export) if export else []
    report_formats = parse_report_formats(report) if report else ()
    language = parse_language(lang)
    settings = load_settings(
        config,
        options={
            "store.path": ("--store", store),
            "store.timezone": ("--timezone", timezone),
            "boundaries.version": ("--boundaries", boundaries),
            "analyze.raw_csv": ("--raw-csv", raw_csv),
        },
    )
    opened = Store.open(settings.store.path, timezone=settings.store.timezone)
    options = EventOptions(
        periods=periods,
        rule=rule,
        name=name,
        boundaries=settings.boundaries.version,
        tolerance_m=settings.analyze.tolerance,
    )
    with status_reporter(enabled=not json_output and sys.stderr.isatty()) as progress:
        result = analyze_event(opened, options, progress=progress)
        written = (
            export_event(result, opened, formats, out, raw_csv=settings.analyze.raw_csv)
            if formats
            else []
        )
        if report_formats:
            made = write_event_report(
                opened,
                result,
                event_folder(result, out),
                formats=report_formats,
                lang=language,
                generated_at=generated_at,
            )
            written += list(made.files.values())
    print_warnings([w["message"] for w in result.meta["warnings"]])
    summary = result.to_dict([str(p) for p in written])
    if json_output:
        typer.echo(json.dumps(summary, ensure_ascii=False, default=str))
    else:
        _print_event(summary)


def _print_event(summary: dict[str, Any]) -> None:
    """The counts per operator and status, then the silent and degraded groups."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from qostool.text import rich_text

    console = Console(highlight=False)
    title = summary.get("name") or "event"
    console.print(
        rich_text(str(title))
        + Text(
            f": {summary['from']} to {summary['to']} ({summary['days']} days), baseline "
            f"{summary['baseline_from']} to {summary['baseline_to']} ({summary['timezone']}); "
            f"{summary['counts']['baseline_tests']:,} baseline and "
            f"{summary['counts']['window_tests']:,} window tests"
        ),
        soft_wrap=True,
    )
    counts = Table(title="Communes by status")
    statuses = ("silent", "degraded", "normal", "insufficient_data")
    counts.add_column("operator")
    for status in statuses:
        counts.add_column(status, justify="right")
    for operator, row in summary["status_counts"].items():
        counts.add_row(rich_text(operator), *(f"{row[s]:,}" for s in statuses))
    console.print(counts)
    for status in ("silent", "degraded"):
        rows = summary[status]
        if not rows:
            console.print(f"No {status} commune.")
            continue
        table = Table(title=f"{status.capitalize()} communes")
        for column in ("code", "commune", "operator", "baseline", "window", "expected"):
            table.add_column(
                column, justify="right" if column in ("baseline", "window", "expected") else "left"
            )
        if status == "silent":
            table.add_column("p_zero", justify="right")
        else:
            table.add_column("ratio [interval]", justify="right")
        for r in rows:
            last = (
                f"{r['p_zero']:.2g}"
                if status == "silent"
                else f"{r['ratio']:.2f} [{r['ratio_low']:.2f}-{r['ratio_high']:.2f}]"
            )
            table.add_row(
                rich_text(str(r["commune_code"])),
                rich_text(str(r["commune_name"])),
                rich_text(str(r["operator"])),
                f"{r['baseline_tests']:,}",
                f"{r['window_tests']:,}",
                f"{r['expected_tests']:.1f}",
                last,
            )
        console.print(table)
    for path in summary["files"]:
        console.print(Text("Wrote ") + rich_text(path))
