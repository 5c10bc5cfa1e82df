"""Ingest: speed-test exports in, canonical rows and rejects in the store out.

Public surface::

    from qostool.ingest import ingest_paths, IngestOptions
    report = ingest_paths(["exports/"], store="qostool-data", timezone="Asia/Ho_Chi_Minh")
    report.totals  # {"read": ..., "accepted": ..., "rejected": ..., "duplicates": ...}
"""

from __future__ import annotations

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
]


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
