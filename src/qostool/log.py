"""Events of unattended runs: readable on a terminal, plain or JSON lines under cron.

One :class:`EventLog` per command. Each event has a level, a name
(``ingest.file``, ``analyze.done``, ...), a sentence and fields. It goes to
stderr (results go to stdout) and, with a log file, is appended there too:

- on a terminal with ``format = "text"``: the sentence, coloured by level (Rich;
  ``NO_COLOR`` honoured), and progress bars while a step works;
- without a terminal (cron, pipes): ``<time> <LEVEL> <event>: <sentence>``, no
  progress bars, no ANSI codes;
- ``format = "json"``: one JSON object a line:
  ``{"time": ..., "level": ..., "event": ..., "message": ..., <fields>}``.

The log file always gets plain or JSON lines (never colours), whatever the terminal.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Final

from qostool.errors import from_os_error

LEVELS: Final = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_STYLES: Final = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red"}

IngestProgress = Callable[[str, int], None]
StepProgress = Callable[[str], None]


class EventLog:
    """Where a command's events go (see the module docstring)."""

    def __init__(
        self,
        *,
        level: str = "info",
        format: str = "text",
        file: Path | None = None,
        stream: IO[str] | None = None,
        terminal: bool | None = None,
    ) -> None:
        self.level = LEVELS[level]
        self.format = format
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.terminal = terminal if terminal is not None else bool(isatty and isatty())
        self._console: Any = None
        if self.terminal and format == "text":
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False)
        self._file: IO[str] | None = None
        if file is not None:
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
                self._file = file.open("a", encoding="utf-8", buffering=1)
            except OSError as exc:  # e.g. permission denied, or a file in the way
                raise from_os_error(exc) from exc

    @classmethod
    def silent(cls) -> EventLog:
        """A log that drops every event (library calls without a log)."""
        log = cls(level="error", terminal=False)
        log.level = LEVELS["error"] + 1
        return log

    # -- events ------------------------------------------------------------

    def event(self, level: str, event: str, message: str, **fields: Any) -> None:
        """Log one event (dropped when below the log's level)."""
        if LEVELS[level] < self.level:
            return
        record = {
            "time": datetime.now().astimezone().isoformat(timespec="seconds"),
            "level": level,
            "event": event,
            "message": message,
            **fields,
        }
        line = self._line(record)
        if self._console is not None:
            from rich.text import Text

            from qostool.text import rich_text

            labelled = level in ("warning", "error")
            text = Text(f"{level}: ", _STYLES[level]) if labelled else Text()
            text.append_text(rich_text(message, "" if labelled else _STYLES[level]))
            self._console.print(text, soft_wrap=True)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()
        if self._file is not None:
            self._file.write(line + "\n")

    def _line(self, record: dict[str, Any]) -> str:
        if self.format == "json":
            return json.dumps(record, ensure_ascii=False, default=str)
        from qostool.text import visible

        message = visible(record["message"])  # file names may hold escape sequences
        return f"{record['time']} {record['level'].upper()} {record['event']}: {message}"

    def debug(self, event: str, message: str, **fields: Any) -> None:
        self.event("debug", event, message, **fields)

    def info(self, event: str, message: str, **fields: Any) -> None:
        self.event("info", event, message, **fields)

    def warning(self, event: str, message: str, **fields: Any) -> None:
        self.event("warning", event, message, **fields)

    def error(self, event: str, message: str, **fields: Any) -> None:
        self.event("error", event, message, **fields)

    def to_file_only(self, level: str, event: str, message: str, **fields: Any) -> None:
        """An event for the log file only (e.g. the error the CLI prints on stderr itself)."""
        if self._file is not None and LEVELS[level] >= self.level:
            record = {
                "time": datetime.now().astimezone().isoformat(timespec="seconds"),
                "level": level,
                "event": event,
                "message": message,
                **fields,
            }
            self._file.write(self._line(record) + "\n")

    # -- progress ----------------------------------------------------------

    @property
    def shows_progress(self) -> bool:
        """Progress bars only on a terminal, in text format, when info events are shown."""
        return self._console is not None and self.level <= LEVELS["info"]

    @contextlib.contextmanager
    def ingest_progress(self) -> Iterator[IngestProgress | None]:
        """A rows-read callback drawing a bar (None without a terminal)."""
        from qostool.progress import progress_reporter

        with progress_reporter(enabled=self.shows_progress) as progress:
            yield progress

    @contextlib.contextmanager
    def step_progress(self) -> Iterator[StepProgress | None]:
        """A callback showing the current step with a spinner (None without a terminal)."""
        from qostool.progress import status_reporter

        with status_reporter(enabled=self.shows_progress) as progress:
            yield progress

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
