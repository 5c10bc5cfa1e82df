"""Progress on a terminal: a bar of rows read, or a spinner naming the current step.

Below the rendering and the run's log (both use it), above nothing but Rich: so
that the log, which the run imports, never imports the rendering of the run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

#: Called with a file's name and the rows read so far.
RowsProgress = Callable[[str, int], None]


@contextlib.contextmanager
def progress_reporter(*, enabled: bool) -> Iterator[RowsProgress | None]:
    """A progress callback drawing a Rich bar on stderr, or None when not on a terminal."""
    if not enabled:
        yield None
        return
    # Rich is imported only to draw: off a terminal (cron, --json) it is not loaded.
    from rich.console import Console
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


@contextlib.contextmanager
def status_reporter(*, enabled: bool) -> Iterator[Callable[[str], None] | None]:
    """A callback showing the current step with a spinner on stderr (None off a terminal)."""
    if not enabled:
        yield None
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("starting") as status:

        def update(message: str) -> None:
            status.update(message)

        yield update
