"""Terminal rendering of command results (Rich). Results on stdout, progress on stderr.

Every text from the data (file names, commune and province names, versions made
from file names, reasons quoting them) reaches Rich as a ``Text`` made by
:func:`qostool.text.rich_text`: its control characters shown as escapes, and never
read as markup (``[link=...]``) or emoji codes. Markup strings here hold only
qostool's own words and numbers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from rich.console import Console
from rich.table import Table
from rich.text import Text

from qostool.schema import REASON_HELP, Reason
from qostool.text import rich_text

if TYPE_CHECKING:
    from qostool.analyze.run import Analysis
    from qostool.geo.versions import ImportResult
    from qostool.ingest.pipeline import IngestReport
    from qostool.report.preflight import Check
    from qostool.run import RunSummary
    from qostool.status import StoreStatus
    from qostool.store import Artifact
    from qostool.storecheck import CheckReport, RepairPlan

_STATUS_STYLE = {
    "ingested": "green",
    "already ingested": "dim",
    "empty": "yellow",
    "failed": "bold red",
}


_COUNTS = ("read", "accepted", "rejected", "duplicates")


def _n(value: int) -> str:
    return f"{value:,}"


def _common_folder(names: list[str]) -> str:
    """The folder all these files are in ("" when they share none, or there is one file)."""
    if len(names) < 2:
        return ""
    folder = (
        os.path.commonpath(names)
        if all(not n.startswith("/") for n in names) or all(n.startswith("/") for n in names)
        else ""
    )
    return folder if folder and all(n.startswith(folder + "/") for n in names) else ""


def print_ingest_report(report: IngestReport, console: Console | None = None) -> None:
    """Per-file table, totals, rejection reasons, and failures (on stderr)."""
    out = console or Console(highlight=False)
    folder = _common_folder([f.file for f in report.files])
    title = rich_text(f"Ingest into {report.store}" + (f" from {folder}/" if folder else ""))
    table = Table(title=title, title_justify="left")
    # Numbers and statuses stay on one line; file names and months may wrap.
    table.add_column("file", overflow="fold", min_width=14)
    table.add_column("format", no_wrap=True)
    table.add_column("status", no_wrap=True)
    narrow = out.width < 100
    headers = ("read", "acc.", "rej.", "dupl.") if narrow else _COUNTS
    for name in headers:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("months")
    for f in report.files:
        style = _STATUS_STYLE.get(f.status, "")
        table.add_row(
            rich_text(f.file[len(folder) + 1 :] if folder else f.file),
            rich_text(f.format or "-"),
            f"[{style}]{f.status}[/]",
            _n(f.read),
            _n(f.accepted),
            _n(f.rejected),
            _n(f.duplicates),
            ", ".join(f.months) or "-",
        )
    totals = report.totals
    table.add_section()
    table.add_row(
        f"[bold]total: {len(report.files)} files[/]",
        "",
        "",
        *(f"[bold]{_n(totals[k])}[/]" for k in _COUNTS),
        "",
    )
    out.print(table)
    if report.reasons:
        reasons = Table(title="Rejected rows by reason", title_justify="left")
        reasons.add_column("reason")
        reasons.add_column("rows", justify="right")
        reasons.add_column("meaning")
        for code, count in report.reasons.items():
            reasons.add_row(code, _n(count), REASON_HELP.get(Reason(code), ""))
        out.print(reasons)
        out.print("Rejected rows are kept with their original values: see docs/ingest.md.")
    for f in report.files:
        if f.status == "already ingested":
            out.print(rich_text(f"{f.file}: already ingested ({f.message}); nothing to do.", "dim"))
    if report.failed:
        err = Console(stderr=True, highlight=False)
        for f in report.failed:
            err.print(Text("Failed: ", "bold red") + rich_text(f.message), soft_wrap=True)


_CHECK_STYLES: Final = {"ok": "green", "failed": "bold red", "warning": "bold yellow"}


def print_checks(checks: Sequence[Check], console: Console | None = None) -> None:
    """One line per check made before a report: its outcome and what was found."""
    out = console or Console(highlight=False)
    for check in checks:
        out.print(
            Text(f"{check.status:<7} ", _CHECK_STYLES[check.status])
            + rich_text(f"{check.name}: {check.message}"),
            soft_wrap=True,
        )


def print_warnings(warnings: list[str]) -> None:
    """Warnings about the data, on stderr, where they show with ``--json`` and in cron mail."""
    err = Console(stderr=True, highlight=False)
    for warning in warnings:
        err.print(Text("Warning: ", "bold yellow") + rich_text(warning), soft_wrap=True)


def print_stored_as(note: tuple[str, str]) -> None:
    """What a variant, or an official analysis made with other terms, was stored as (stderr):
    a ``(label, message)`` pair from :func:`qostool.analyze.run.stored_as_note`."""
    label, message = note
    err = Console(stderr=True, highlight=False)
    err.print(Text(f"{label}: ", "bold yellow") + rich_text(message), soft_wrap=True)


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _bounds(low: int | None, high: int | None) -> str:
    """Devices as the range they are known to lie in (one number when it is exact)."""
    if low is None or high is None:
        return "-" if high is None else f"?-{high:,}"
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def _period(period: str | None) -> str:
    """What a group's figures rest on: ``2025-10``, ``2025-Q4 quarterly tiles``, or both."""
    if not period:
        return "-"
    month, _, quarter = period.partition("+")
    if "-Q" in month:
        return f"{month} quarterly (tiles only)"
    return f"{month} + {quarter} tiles (mixed)" if quarter else month


def _interval(low: float | None, high: float | None) -> str:
    """An interval, or one dash where none is given (below the minimum tests)."""
    return "-" if low is None or high is None else f"{_f(low)}-{_f(high)}"


def print_boundaries_import(result: ImportResult, console: Console | None = None) -> None:
    """What was imported: the version, counts, repairs, overlaps and gaps."""
    out = console or Console(highlight=False)
    report = result.report
    verb = "already imported as" if result.already_imported else "imported as"
    out.print(
        rich_text(report.source, "bold")
        + Text(f": {report.communes:,} communes {verb} ")
        + rich_text(result.version, "cyan")
    )
    out.print(
        rich_text(
            f"source CRS {report.source_crs}; code field {report.code_field!r}, "
            f"name field {report.name_field!r}"
            + (f", population field {report.population_field!r}" if report.population_field else "")
            + (f"; province {report.province}" if report.province else "")
        )
    )
    if report.repaired:
        table = Table(title="Repaired geometries", title_justify="left")
        for name in ("code", "name", "problem"):
            table.add_column(name)
        for row in report.repaired:
            table.add_row(*(rich_text(cell) for cell in row))
        out.print(table)
    if report.overlaps or report.gaps:
        overlap_m2 = sum(a for _, _, a in report.overlaps)
        gap_m2 = sum(a for a, _ in report.gaps)
        out.print(
            f"{len(report.overlaps)} overlaps between neighbours ({overlap_m2 / 1e6:,.3f} km²) and "
            f"{len(report.gaps)} gaps ({gap_m2 / 1e6:,.3f} km²): tests there are assigned by "
            "the rules in docs/methodology.md"
        )


def print_boundaries_list(found: list[Artifact], console: Console | None = None) -> None:
    out = console or Console(highlight=False)
    if not found:
        out.print("No boundaries imported yet: run 'qostool boundaries import FILE'.")
        return
    table = Table(title="Boundaries versions (newest first; analyze uses the first)")
    for name in ("version", "imported", "communes", "province", "source"):
        table.add_column(name)
    for a in found:
        table.add_row(
            rich_text(a.key), a.created_at[:19], f"{a.meta.get('communes', 0):,}",
            rich_text(a.meta.get("province") or "-"), rich_text(a.meta.get("source", "")),
        )  # fmt: skip
    out.print(table)


_VERDICT_STYLE = {
    "meets_target": "green",
    "below_target": "bold red",
    "insufficient_data": "yellow",
    "inconclusive": "magenta",
}


def print_analysis(
    analysis: Analysis, exports: list[Path], console: Console | None = None, worst: int = 10
) -> None:
    """Province figures, verdict counts, the slowest communes, and where things went."""
    import polars as pl

    out = console or Console(highlight=False)
    meta = analysis.meta
    counts = meta["counts"]
    period = analysis.role == "period"
    out.print(
        Text(analysis.month.replace("_", " to ") if period else analysis.month, "bold")
        + rich_text(
            f": {counts['rows']:,} rows ({counts['tests']:,} tests) "
            f"with boundaries {meta['boundaries']['version']}"
        )
    )
    if period:  # a period of days rests on single tests only, and has no history
        out.print(
            f"  Ookla tiles left out: {counts.get('tile_rows_left_out', 0):,} rows "
            f"({counts.get('tile_tests_left_out', 0):,} tests; a tile is a quarter's aggregate)"
        )
    out.print(
        f"  outside the province: {counts['outside_rows']:,} rows; snapped from gaps: "
        f"{counts['snapped_rows']:,}"
        + (
            f"; burst duplicates removed: {counts['burst_duplicates']:,}"
            if "burst_duplicates" in counts
            else ""
        )
    )
    province = analysis.stats.filter(pl.col("level") == "province")
    cellular = province.filter(pl.col("technology") == "all")
    data = (
        cellular["data_period"][0]
        if "data_period" in cellular.columns and cellular.height
        else None
    )
    if data and "-Q" in data:
        quarter = data.partition("+")[2] or data
        out.print(
            rich_text(
                f"  data: {'only ' if quarter == data else ''}the Ookla tiles of {quarter} "
                + ("" if quarter == data else f"besides the single tests of {analysis.month} ")
                + "(quarterly: the same tiles for each month of the quarter; no change is "
                "computed against a month on the same data, and a quarter counts once in the "
                "periods below target)"
            )
        )
    table = Table(title="Province, all operators", title_justify="left")
    devices = "devices (min-max)"  # tiles give counts only: at least and at most
    columns = ("technology", "tests", devices, "mean", "median", "p10", "p90", "verdict", "data")
    for name in columns:
        table.add_column(
            name, justify="left" if name in ("technology", "verdict", "data") else "right"
        )
    for row in province.iter_rows(named=True):
        verdict = row["verdict"] or "-"
        style = _VERDICT_STYLE.get(verdict, "")
        table.add_row(
            rich_text(row["technology"]), f"{row['tests']:,}",
            _bounds(row["devices_min"], row["devices_max"]),
            _f(row["download_mean_mbps"]), _f(row["download_median_mbps"]),
            _f(row["download_p10_mbps"]), _f(row["download_p90_mbps"]),
            f"[{style}]{verdict}[/]" if style else verdict,
            _period(row.get("data_period")),
        )  # fmt: skip
    out.print(table)
    verdicts = Table(title="Communes by verdict (all operators)", title_justify="left")
    verdicts.add_column("technology")
    names = list(_VERDICT_STYLE)
    for name in names:
        verdicts.add_column(name.replace("_", " "), justify="right")
    for tech, by in analysis.verdict_counts().items():
        verdicts.add_row(rich_text(tech), *(f"{by.get(n, 0):,}" for n in names))
    out.print(verdicts)
    slow = (
        analysis.commune_rows("4G")
        .filter(pl.col("download_mean_mbps").is_not_null())
        .sort("download_mean_mbps")
        .head(worst)
    )
    if slow.height:
        table = Table(title=f"Slowest communes on 4G (up to {worst})", title_justify="left")
        slow_columns = ("commune", "tests", "mean", "interval", "verdict", "periods below", "data")
        for name in slow_columns:
            left = name in ("commune", "verdict", "data")
            table.add_column(name, justify="left" if left else "right")
        for row in slow.iter_rows(named=True):
            verdict = row["verdict"] or "-"
            table.add_row(
                rich_text(f"{row['commune_name']} ({row['commune_code']})"), f"{row['tests']:,}",
                _f(row["download_mean_mbps"]),
                _interval(row["download_mean_ci_low"], row["download_mean_ci_high"]),
                f"[{_VERDICT_STYLE.get(verdict, '')}]{verdict}[/]",
                str(row.get("months_below_target") or 0),
                _period(row.get("data_period")),
            )  # fmt: skip
        out.print(table)
    no_tests = analysis.communes.filter(~pl.col("has_tests"))
    if no_tests.height:
        out.print(
            rich_text(
                f"Communes with no tests ({no_tests.height}): "
                + ", ".join(no_tests["commune_name"].to_list())
            )
        )
    out.print(rich_text(f"Results stored in {analysis.path}"))
    for path in exports:
        out.print(rich_text(f"Exported {path}"))


_ACTION_STYLE = {"done": "green", "skipped": "dim", "failed": "bold red"}


def print_run_summary(summary: RunSummary, console: Console | None = None) -> None:
    """One table: what each step of ``qostool run`` did or skipped, and why."""
    out = console or Console(highlight=False)
    title = rich_text(f"qostool run for {summary.month} on {summary.store}")
    table = Table(title=title, title_justify="left")
    table.add_column("step", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("why", overflow="fold")
    for step in summary.steps:
        table.add_row(
            step.step,
            Text(step.action, _ACTION_STYLE.get(step.action, "")),
            rich_text(step.reason),
        )
    out.print(table)
    for f in summary.files:
        out.print(
            rich_text(
                f"{f['file']}: {f['status']}"
                + (f", {f['accepted']:,} rows accepted" if f["status"] != "failed" else "")
                + (f" ({f['message']})" if f["status"] == "failed" and f.get("message") else "")
            )
        )
    for step in summary.steps:
        for path in step.details.get("files", []) if step.step == "report" else []:
            out.print(rich_text(f"wrote {path}"))
    for waiting in summary.waiting_files:
        out.print(rich_text(f"{waiting['file']}: left for the next run ({waiting['why']})"))
    if summary.communes_below_target is not None:
        out.print(f"{summary.month}: {summary.communes_below_target} commune(s) below target")
    held = summary.held_files
    if held:
        err = Console(stderr=True, highlight=False)
        new = [h for h in held if h["new"]]
        err.print(
            Text("Warning: ", "bold yellow")
            + rich_text(
                f"{len(held)} inbox file(s) could not be read and are set aside until they "
                f"change ({len(new)} new this run; 'qostool status' lists them): "
                + "; ".join(h["file"] for h in held[:5])
                + ("; ..." if len(held) > 5 else "")
            ),
            soft_wrap=True,
        )
    if not summary.did_something:
        out.print(
            "Nothing else to do: the rest is unchanged since the last run."
            if held or summary.waiting_files
            else "Nothing to do: nothing changed since the last run."
        )


def _when(stamp: str | None) -> str:
    return "-" if not stamp else stamp[:19].replace("T", " ")


def print_status(status: StoreStatus, console: Console | None = None) -> None:
    """Months (rows, tests, last ingest, analysis, report, staleness), sources, last run."""
    out = console or Console(highlight=False)
    out.print(rich_text(f"Store {status.store} (time zone {status.timezone})", "bold"))
    table = Table(title="Months (times in UTC)", title_justify="left")
    for name in ("month", "rows", "tests", "files", "last ingest", "analysed", "report"):
        table.add_column(name, justify="right" if name in ("rows", "tests", "files") else "left")
    for m in status.months:
        analysed = Text(_when(m.analysed_at))
        if m.analysis_stale:
            analysed.append("\n").append_text(rich_text(f"stale: {m.analysis_stale}", "yellow"))
        if m.earlier_analyses:
            analysed.append(f"\n+{m.earlier_analyses} earlier official", "dim")
        if m.variants:
            analysed.append("\n").append_text(rich_text("variants: " + ", ".join(m.variants)))
        report = Text(_when(m.reported_at))
        if m.report_stale:
            report.append("\n").append_text(rich_text(f"stale: {m.report_stale}", "yellow"))
        table.add_row(
            m.month, _n(m.rows), _n(m.tests), _n(m.files), _when(m.last_ingest), analysed, report
        )
    if status.months:
        out.print(table)
    else:
        out.print("No tests stored yet: run 'qostool run' or 'qostool ingest'.")
    if status.sources:
        sources = Table(title="Sources", title_justify="left")
        for name in ("format", "files", "accepted", "rejected", "last ingest"):
            sources.add_column(
                name, justify="left" if name in ("format", "last ingest") else "right"
            )
        for s in status.sources:
            sources.add_row(
                rich_text(s.format),
                _n(s.files),
                _n(s.accepted),
                _n(s.rejected),
                _when(s.last_ingest),
            )
        out.print(sources)
    if status.boundaries:
        latest = status.boundaries[0]
        out.print(
            rich_text(
                f"Boundaries: {len(status.boundaries)} version(s); latest {latest['version']} "
                f"({latest['communes']} communes, imported {_when(latest['imported_at'])})"
            )
        )
    else:
        out.print("Boundaries: none imported yet.")
    if any(m.variants or m.earlier_analyses for m in status.months):
        out.print("Every analysis of a month: 'qostool analyses --month YYYY-MM'.")
    if status.held_files:
        held = Table(
            title="Inbox files set aside (tried again when they change)", title_justify="left"
        )
        for name in ("file", "why", "since"):
            held.add_column(name, overflow="fold")
        for h in status.held_files:
            held.add_row(rich_text(h["file"]), rich_text(h["reason"]), _when(h["held_at"]))
        out.print(held)
    run = status.last_run
    if run is None:
        out.print("Last run: none ('qostool run' has not run on this store).")
    else:
        steps = ", ".join(f"{step} {action}" for step, action in run["steps"].items())
        out.print(rich_text(f"Last run: {_when(run['finished_at'])} for {run['month']}: {steps}"))


def print_analyses(listed: dict[str, list[dict[str, Any]]], console: Console | None = None) -> None:
    """Each month's analyses: official, earlier official ones, variants; when and from what."""
    from qostool.analyze.run import describe_differences

    out = console or Console(highlight=False)
    if not listed:
        out.print("No analysis stored yet: run 'qostool analyze --month YYYY-MM'.")
        return
    roles = {
        "official": "official",
        "earlier": "earlier official",
        "variant": "variant",
        "period": "period",
    }
    for month, entries in listed.items():
        table = Table(title=f"Analyses of {month} (times in UTC)", title_justify="left")
        table.add_column("analysis / id", no_wrap=True)
        for name in ("made", "boundaries", "tests", "files"):
            table.add_column(name, justify="right" if name in ("tests", "files") else "left")
        terms: list[Text] = []
        for entry in entries:
            what = Text(roles[entry["role"]], "bold" if entry["role"] == "official" else "")
            if entry["name"]:
                what.append(" ").append_text(rich_text(entry["name"]))
            what.append(f"\n{entry['id']}", "dim")
            made = Text(_when(entry["made_at"]))
            if entry["replaced_at"]:
                made.append(f"\nreplaced {_when(entry['replaced_at'])}", "yellow")
            table.add_row(
                what, made, rich_text(entry["boundaries"]), _n(entry["tests"]),
                _n(len(entry["inputs"])),
            )  # fmt: skip
            if entry["differs"]:
                label = entry["name"] or entry["id"]
                terms.append(rich_text(f"  {label}: {describe_differences(entry['differs'])}"))
        if not entries:
            table.add_row("none", "", "", "", "")
        out.print(table)
        if terms:
            out.print("Terms other than the configuration:")
            for line in terms:
                out.print(line, soft_wrap=True)
    out.print(
        "Report a variant or an earlier analysis with 'qostool report --month YYYY-MM "
        "--analysis NAME|ID'; its pages say what it is."
    )
    if any(e["role"] == "period" for entries in listed.values() for e in entries):
        out.print("Report a period with 'qostool report --from YYYY-MM-DD --to YYYY-MM-DD'.")


def print_store_check(report: CheckReport, console: Console | None = None) -> None:
    """The catalog's own problem, or every part and folder that does not agree with it."""
    out = console or Console(highlight=False)
    if report.catalog is not None:
        out.print(rich_text(f"Store {report.store}: {report.catalog}.", style="bold red"))
        out.print(
            f"The store holds {_n(report.data_files)} data file(s) that no catalog accounts "
            "for. Restore catalog.sqlite from a backup if you have one; 'qostool store "
            "repair' shows what it can do without."
        )
        return
    checked = (
        f"{_n(report.parts)} part(s) and {_n(report.artifacts)} boundaries and results "
        f"folder(s) recorded, {_n(report.data_files)} data file(s) on disk"
    )
    if report.healthy:
        out.print(rich_text(f"Store {report.store}: the catalog and the files agree ({checked})."))
        return
    table = Table(title=rich_text(f"Store {report.store}: {checked}"), title_justify="left")
    for name in ("problem", "path", "what", "from file"):
        table.add_column(name, overflow="fold")
    for f in report.findings:
        style = "bold red" if f.problem != "extra" else "yellow"
        table.add_row(
            rich_text(f.problem, style=style),
            rich_text(f.path),
            rich_text(f.detail),
            rich_text(f.source or ""),
        )
    out.print(table)
    out.print(
        f"{len(report.findings)} problem(s): 'qostool store repair' shows what it would do "
        "about them (it deletes nothing)."
    )


def print_repair_plan(plan: RepairPlan, console: Console | None = None) -> None:
    """What a repair would do (dry run) or did, the files to ingest again, and advice."""
    out = console or Console(highlight=False)
    if plan.nothing_to_do:
        out.print(
            rich_text(f"Store {plan.store}: the catalog and the files agree; nothing to repair.")
        )
        return
    title = f"Repaired {plan.store}" if plan.applied else f"Repair of {plan.store} (plan)"
    table = Table(title=rich_text(title), title_justify="left")
    for name in ("action", "path", "why"):
        table.add_column(name, overflow="fold")
    for a in plan.actions:
        table.add_row(a.action, rich_text(a.path), rich_text(a.why))
    out.print(table)
    where = f"{plan.store}/{plan.quarantine}/"
    out.print(
        rich_text(
            f"Set aside in {where} (nothing is deleted)."
            if plan.applied
            else f"Would set aside in {where} (nothing is deleted)."
        )
    )
    if plan.reingest:
        files = Table(title="Ingested files to ingest again", title_justify="left")
        for name in ("file", "sha256", "ingested"):
            files.add_column(name, overflow="fold")
        for r in plan.reingest:
            files.add_row(rich_text(r.name), (r.sha256 or "-")[:16], _when(r.ingested_at))
        out.print(files)
    for line in plan.advice:
        out.print(rich_text(f"- {line[:1].upper()}{line[1:]}."))
    if not plan.applied:
        out.print(
            rich_text("Nothing was changed: run again with --apply to do this.", style="bold")
        )
