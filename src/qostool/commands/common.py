"""Options shared by the commands that read the configuration, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from qostool.config import Settings

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Configuration file (default: $QOSTOOL_CONFIG, ./qostool.toml, then "
        "~/.config/qostool/qostool.toml).",
        show_default=False,
    ),
]
StoreOption = Annotated[
    Path | None,
    typer.Option("--store", help=r"Store folder (config: \[store] path).", show_default=False),
]
TimezoneOption = Annotated[
    str | None,
    typer.Option(
        "--timezone", help=r"Province time zone (config: \[store] timezone).", show_default=False
    ),
]
InboxOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--inbox", help=r"Inbox folder, repeatable (config: \[ingest] inbox).", show_default=False
    ),
]
WaitOption = Annotated[
    float | None,
    typer.Option(
        "--wait",
        help="Seconds to wait for another qostool process writing to the store, then "
        r"exit 3 (config: \[lock] wait_seconds).",
        show_default=False,
    ),
]
LogFormatOption = Annotated[
    str | None,
    typer.Option(
        "--log-format",
        help=r"Log lines on stderr: text or json (config: \[log] format).",
        show_default=False,
    ),
]
LogFileOption = Annotated[
    Path | None,
    typer.Option(
        "--log-file",
        help=r"Also append the log to this file (config: \[log] file).",
        show_default=False,
    ),
]
QuietOption = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="Only warnings and errors; no summary table."),
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Also debug events (every file looked at).")
]


def build_settings(
    config: Path | None,
    *,
    store: Path | None = None,
    timezone: str | None = None,
    inbox: list[Path] | None = None,
    wait: float | None = None,
    log_format: str | None = None,
    log_file: Path | None = None,
    quiet: bool = False,
    verbose: bool = False,
) -> Settings:
    """The settings from defaults, the file, the environment and these options."""
    from qostool.config import load_settings
    from qostool.errors import UsageError

    if quiet and verbose:
        raise UsageError("--quiet and --verbose: give one of them, not both")
    options: dict[str, tuple[str, Any]] = {
        "store.path": ("--store", store),
        "store.timezone": ("--timezone", timezone),
        "ingest.inbox": ("--inbox", inbox or None),
        "lock.wait_seconds": ("--wait", wait),
        "log.format": ("--log-format", log_format),
        "log.file": ("--log-file", log_file),
        "log.level": ("--quiet", "warning")
        if quiet
        else ("--verbose", "debug" if verbose else None),
    }
    return load_settings(config, options=options)


def store_location(
    config: Path | None, store: Path | None, timezone: str | None
) -> tuple[Path, str]:
    """The store folder and time zone: defaults < qostool.toml < QOSTOOL_* < these options."""
    settings = build_settings(config, store=store, timezone=timezone)
    return settings.store.path, settings.store.timezone
