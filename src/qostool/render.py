"""Terminal rendering of command results (Rich). Results on stdout, progress on stderr."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from rich.console import Console
from rich.table import Table

from qostool.ingest.pipeline import IngestReport, Progress
from qostool.schema import REASON_HELP, Reason

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
    title = f"Ingest into {report.store}" + (f" from {folder}/" if folder else "")
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
            f.file[len(folder) + 1 :] if folder else f.file,
            f.format or "-",
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
            out.print(f"[dim]{f.file}: already ingested ({f.message}); nothing to do.[/]")
    if report.failed:
        err = Console(stderr=True, highlight=False)
        for f in report.failed:
            err.print(f"[bold red]Failed:[/] {f.message}", soft_wrap=True)


@contextlib.contextmanager
def progress_reporter(*, enabled: bool) -> Iterator[Progress | None]:
    """A progress callback drawing a Rich bar on stderr, or None when not on a terminal."""
    if not enabled:
        yield None
        return
    from rich.progress import Progress as Bar
    from rich.progress import SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

    bar = Bar(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def update(name: str, rows: int) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=None)
        bar.update(tasks[name], completed=rows)

    with bar:
        yield update
