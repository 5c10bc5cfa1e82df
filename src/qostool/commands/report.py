"""``qostool report --month`` (or ``--from --to``): the report from the stored analysis
of a month (or of a period of days)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from qostool.app import EXIT_CODES_HELP, DebugOption, JsonOption, app, handle_errors
from qostool.commands.common import ConfigOption, StoreOption, TimezoneOption

REPORT_HELP = r"""Render the monthly report from the stored analysis of a month.

Reads the results of 'qostool analyze --month' (and the stored analyses of
the 11 months before, for the trend) and writes <out>/<YYYY-MM>/report.<ext>:
a self-contained HTML file (charts and map inline, print-ready on A4), a
Markdown file, an XLSX annex with one sheet per table, an editable Word
document (DOCX, in the layout of an administrative report) and/or a PDF
(the HTML printed by WeasyPrint: pip install 'qostool[pdf]'). Vietnamese by
default, English with --lang en. The same store and options give the same
bytes; pass --generated-at to fix the report's date. Templates can be
overridden file by file with --template-dir. See docs/report.md.

A period of days: --from YYYY-MM-DD --to YYYY-MM-DD (instead of --month)
reports the stored analysis of 'qostool analyze --from --to' into
<out>/period-FROM_TO/report.<ext>. It names the dates wherever a month's
report names the month, has no trend and no comparison with last month (a
period is not a month), and its figures rest on single tests only (Ookla tiles
are quarterly aggregates). --analysis and --compare-rule are for months.

[bold]Examples[/]:

  qostool report --month 2025-10 --store ./qostool-data
  qostool report --month 2025-10 --lang en --format html,md,xlsx --out reports/
  qostool report --month 2025-10 --format docx,pdf --generated-at 2025-11-15
  qostool report --month 2025-10 --template-dir my-templates/ --generated-at 2025-11-05
  qostool report --month 2025-10 --force      # although a check failed: page 1 says so
  qostool report --month 2025-10 --analysis target-35   # a variant, labelled on every page
  qostool report --month 2025-10 --compare-rule vnnic   # the national rule's verdicts too
  qostool report --from 2025-11-06 --to 2025-11-08 --format html,md   # a period of days
  qostool report --month 2025-10 --format docx --number 125 \
      --date 2025-11-05 --signer-title 'KT. GIÁM ĐỐC' \
      --signer-title 'PHÓ GIÁM ĐỐC' --signer-name 'Nguyễn Văn An'
  qostool report --month 2025-10 --operator VNPT        # one operator's report

It reports the month's official analysis (see 'qostool analyses'). With
--analysis NAME (a variant) or ID (an earlier official analysis) it reports
that one instead, into <out>/<YYYY-MM>/variant-NAME/ (or analysis-ID/), and
every page says what it is and how its terms differ from the configuration.

Before writing, it checks that the analysis was made with the configured rule
and is up to date, that most tests fell inside the boundaries, that the
boundaries are last month's, that no commune lost all its tests and that the
month is over (see docs/methodology.md).

The administrative document around the figures (issuing body and its
parent, number and symbol, place and date, 'Kính gửi', the opening's basis
documents, next month's tasks, signer, 'Nơi nhận') comes from \[report] in
qostool.toml ('qostool config init' writes a commented example) or the
Document options below; each one missing has a default. The date line stays
blank for the signing date unless --date (or --generated-at) gives one.

--compare-rule vnnic adds the verdicts under the national rule (median, at
least 300 tests per commune): where the province's report and VNNIC's
publication will differ, seen before the report is sent.

--operator NAME writes a report of that operator alone (its verdicts, its
communes below target, its 5G roll-out and map), for following an agreement
with it, into <out>/<YYYY-MM>/operator-<name>/ (HTML, Markdown or PDF). NAME
is the operator's name or one word of it (VNPT for VNPT-VinaPhone); an
unknown name lists the month's operators.
"""


@app.command(help=REPORT_HELP, epilog=EXIT_CODES_HELP)
@handle_errors
def report(
    *,
    month: Annotated[
        str | None,
        typer.Option(help="Reporting month, YYYY-MM (or --from/--to).", show_default=False),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="First day of an analysed period, YYYY-MM-DD (with --to, instead of --month).",
            show_default=False,
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--to", help="Last day of the period, YYYY-MM-DD (included).", show_default=False
        ),
    ] = None,
    config: ConfigOption = None,
    store: StoreOption = None,
    timezone: TimezoneOption = None,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help=r"Language: vi or en (default vi; config: \[report] languages, each one in "
            "its own folder when there are several).",
            show_default=False,
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help=r"html, md, xlsx, docx and/or pdf, comma-separated (default html; config: "
            r"\[report] formats).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help=r"Folder for the reports, one folder per month (default reports; config: "
            r"\[report] out).",
            show_default=False,
        ),
    ] = None,
    template_dir: Annotated[
        Path | None,
        typer.Option(help="Folder of templates overriding the packaged ones, file by file."),
    ] = None,
    generated_at: Annotated[
        str | None,
        typer.Option(
            help="When the report is made, ISO date or datetime (default: now): fixes the "
            "files' bytes, and its day fills the date line unless --date is given."
        ),
    ] = None,
    analysis: Annotated[
        str | None,
        typer.Option(
            help="Report this variant (its name) or earlier analysis (its id) instead of the "
            "month's official analysis; every page then says so ('qostool analyses' lists them).",
            show_default=False,
        ),
    ] = None,
    compare_rule: Annotated[
        str | None,
        typer.Option(
            help="Also show each commune's 4G verdict under this rule preset (e.g. vnnic, "
            "the national rule): a column of the commune table and a count on page 1. "
            "Computed from the month's stored tests; nothing is stored.",
            show_default=False,
        ),
    ] = None,
    operator: Annotated[
        str | None,
        typer.Option(
            "--operator",
            help="Write the report of this operator alone (its name, or one word of it: "
            "VNPT), into <out>/<YYYY-MM>/operator-<name>/; html, md or pdf.",
            show_default=False,
        ),
    ] = None,
    map_labels: Annotated[
        str | None,
        typer.Option(
            "--map-labels",
            help="The commune map's labels: names, numbers (with a key under the map) or "
            "none (default: a name where it fits, else a number in the key).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write the report although a check before it failed (exit code 5 "
            "otherwise); page 1 then names each failed check.",
        ),
    ] = False,
    parent: Annotated[
        str | None,
        typer.Option(
            help=r"Document: the body above the issuer (default UBND TỈNH <province>, UBND "
            r"THÀNH PHỐ <city> for the centrally-run cities; config: \[report] parent).",
            show_default=False,
            rich_help_panel="Document",
        ),
    ] = None,
    issuer: Annotated[
        str | None,
        typer.Option(
            help=r"Document: the issuing body, in sentence case (default Sở Khoa học và Công "
            r"nghệ; config: \[report] issuer).",
            show_default=False,
            rich_help_panel="Document",
        ),
    ] = None,
    number: Annotated[
        str | None,
        typer.Option(
            help=r"Document: its number, 'Số: <number>/<symbol>' (default blank, filled in by "
            r"hand; config: \[report] number).",
            show_default=False,
            rich_help_panel="Document",
        ),
    ] = None,
    symbol: Annotated[
        str | None,
        typer.Option(
            help=r"Document: its symbol (default BC-SKHCN; config: \[report] symbol).",
            show_default=False,
            rich_help_panel="Document",
        ),
    ] = None,
    place: Annotated[
        str | None,
        typer.Option(
            help=r"Document: the place of the date line (default the province's name; "
            r"config: \[report] place).",
            show_default=False,
            rich_help_panel="Document",
        ),
    ] = None,
    date: Annotated[
        str | None,
        typer.Option(
            "--date",
            help=r"Document: the date of the date line, ISO date (default the day of "
            r"--generated-at, else left blank for the signing date; config: \[report] date).",
            show_default=False,
            rich_help_panel="Document",
        ),
    ] = None,
    signer_title: Annotated[
        list[str] | None,
        typer.Option(
            help=r"Document: the signer's title, one line each, repeatable: --signer-title "
            r"'KT. GIÁM ĐỐC' --signer-title 'PHÓ GIÁM ĐỐC' (default GIÁM ĐỐC; config: "
            r"\[report] signer_title).",
            show_default=False,
            rich_help_panel="Document",
        ),
    ] = None,
    signer_name: Annotated[
        str | None,
        typer.Option(
            help=r"Document: the signer's name (default none; config: \[report] signer_name).",
            show_default=False,
            rich_help_panel="Document",
        ),
    ] = None,
    recipient: Annotated[
        list[str] | None,
        typer.Option(
            help=r"Document: 'Kính gửi', repeatable (default the province's People's "
            r"Committee and Cục Viễn thông; config: \[report] recipients).",
            show_default=False,
            rich_help_panel="Document",
        ),
    ] = None,
    basis: Annotated[
        list[str] | None,
        typer.Option(
            help=r"Document: a document the report answers ('Thực hiện ...'), repeatable "
            r"(default: a marked placeholder; config: \[report] basis).",
            show_default=False,
            rich_help_panel="Document",
        ),
    ] = None,
    next_task: Annotated[
        list[str] | None,
        typer.Option(
            help=r"Document: a task for next month (section IV; default: a marked "
            r"placeholder), repeatable (config: \[report] next_tasks).",
            show_default=False,
            rich_help_panel="Document",
        ),
    ] = None,
    copy_to: Annotated[
        list[str] | None,
        typer.Option(
            help=r"Document: a line of 'Nơi nhận' before 'Lưu: VT', repeatable (default Như "
            r"trên; config: \[report] copies_to).",
            show_default=False,
            rich_help_panel="Document",
        ),
    ] = None,
    drafting_unit: Annotated[
        str | None,
        typer.Option(
            help=r"Document: the drafting unit's abbreviation, 'Lưu: VT, <unit>' (config: "
            r"\[report] drafting_unit).",
            show_default=False,
            rich_help_panel="Document",
        ),
    ] = None,
    json_output: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    from qostool.analyze.period import chosen_period
    from qostool.config import load_settings
    from qostool.months import parse_month
    from qostool.render import print_checks
    from qostool.report.preflight import PreflightError
    from qostool.report.write import (
        ReportOptions,
        check_template_dir,
        parse_formats,
        parse_generated_at,
        parse_language,
        parse_map_labels,
        write_report,
    )
    from qostool.run import analysis_terms
    from qostool.store import Store

    period = chosen_period(month, start, end)
    # Checked here first, so that a wrong value gets the report's own message.
    formats = list(parse_formats(format)) if format else None
    languages = [parse_language(lang)] if lang else None
    labels = parse_map_labels(map_labels)
    settings = load_settings(
        config,
        options={
            "store.path": ("--store", store),
            "store.timezone": ("--timezone", timezone),
            "report.languages": ("--lang", languages),
            "report.formats": ("--format", formats),
            "report.out": ("--out", out),
            "report.parent": ("--parent", parent),
            "report.issuer": ("--issuer", issuer),
            "report.number": ("--number", number),
            "report.symbol": ("--symbol", symbol),
            "report.place": ("--place", place),
            "report.date": ("--date", date),
            "report.signer_title": ("--signer-title", signer_title or None),
            "report.signer_name": ("--signer-name", signer_name),
            "report.recipients": ("--recipient", recipient or None),
            "report.basis": ("--basis", basis or None),
            "report.next_tasks": ("--next-task", next_task or None),
            "report.copies_to": ("--copy-to", copy_to or None),
            "report.drafting_unit": ("--drafting-unit", drafting_unit),
        },
    )
    zone = settings.store.timezone
    chosen = settings.report
    reporting_month = period.key if period is not None else parse_month(str(month))
    templates = check_template_dir(template_dir)
    moment = parse_generated_at(generated_at, zone) if generated_at else None
    opened = Store.open(settings.store.path, timezone=zone)
    files: dict[str, list[str]] = {}
    for language in chosen.languages:
        options = ReportOptions(
            month=reporting_month,
            lang=language,
            formats=chosen.formats,
            out=chosen.folder(language),
            template_dir=templates,
            generated_at=moment,
            force=force,
            terms=analysis_terms(settings),
            analysis=analysis,
            compare_rule=compare_rule,
            document=chosen.document(),
            commercial_5g=chosen.commercial_5g,
            operator=operator,
            period=period,
            map_labels=labels,
        )
        try:
            result = write_report(opened, options)
        except PreflightError as exc:
            if json_output:
                refused = {"month": reporting_month, "written": False}
                typer.echo(json.dumps({**refused, "checks": [c.to_dict() for c in exc.checks]}))
            else:
                print_checks(exc.checks)
            raise
        if not json_output:
            print_checks(result.checks)
        if json_output:
            files[language] = [str(path) for path in result.files.values()]
            if len(chosen.languages) == 1:
                typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        else:
            from rich.console import Console

            console = Console(highlight=False)
            for fmt, path in result.files.items():
                console.print(f"[green]wrote[/] {fmt:<4} {path}", soft_wrap=True)
            if result.technical is not None:
                technical = result.technical
                console.print(f"[green]wrote[/] technical details {technical}", soft_wrap=True)
    if json_output and len(chosen.languages) > 1:
        typer.echo(
            json.dumps({"month": reporting_month, "files": files}, ensure_ascii=False, indent=2)
        )
