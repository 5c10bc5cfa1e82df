"""What ``qostool run`` takes from its inbox folders, and what it leaves there.

An inbox is a folder people and scripts drop files into, and cron reads. Not
everything in it is an export, and not everything is whole yet:

- **ignored**: hidden files and folders (``.*``), Office's lock files (``~$*``),
  ``Thumbs.db`` and ``desktop.ini`` always; and the names matching ``[ingest]
  ignore`` (by default notes, documents and pictures: ``*.txt``, ``*.pdf``, ...);
- **waiting**: a file still being copied is left for the next run: its name ends
  as a partial download does (``.part``, ``.tmp``, ``.crdownload``, ...) or it was
  changed less than ``[ingest] settle_seconds`` ago;
- **held**: a file that failed once is set aside (recorded in the store's catalog
  with its reason, never moved: the inbox may be a read-only share) and not tried
  again until its size or modification time changes; it is reported once, when it
  fails, and ``qostool status`` lists it;
- everything else is ingested (a file already ingested is skipped by its content).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from qostool.store import HeldFile

#: Names never read: hidden files, Office lock files, folder thumbnails and settings.
ALWAYS_IGNORED: Final = (".*", "~$*", "Thumbs.db", "desktop.ini")
#: The endings of files a browser, a copy tool or a sync client is still writing.
PARTIAL_SUFFIXES: Final = (".part", ".partial", ".tmp", ".crdownload", ".download", ".filepart")


@dataclass(frozen=True)
class InboxFile:
    """A file of the inbox with what says whether it changed since it failed."""

    path: Path
    size: int
    mtime_ns: int


@dataclass
class InboxScan:
    """An inbox folder's files, sorted into what to ingest and what to leave."""

    files: list[InboxFile] = field(default_factory=list)
    """To ingest now."""
    ignored: list[Path] = field(default_factory=list)
    waiting: list[tuple[Path, str]] = field(default_factory=list)
    """Left for the next run, and why."""
    held: list[HeldFile] = field(default_factory=list)
    """Set aside by an earlier run and unchanged since."""


def ignored_name(name: str, patterns: Sequence[str]) -> bool:
    """Whether a file (or folder) name is never read, or matches ``[ingest] ignore``.

    Case-insensitive, as names are on the Windows shares inboxes often are.
    """
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, p.lower()) for p in (*ALWAYS_IGNORED, *patterns))


def scan(
    folders: Sequence[Path],
    *,
    ignore: Sequence[str],
    settle_seconds: float,
    held: dict[str, HeldFile],
    now: float,
) -> InboxScan:
    """Every file under ``folders`` (recursively), sorted (see the module docstring).

    ``held`` are the store's held files by path; ``now`` is the time (seconds since
    the epoch) the waiting rule measures from.
    """
    found = InboxScan()
    seen: set[Path] = set()  # a source's folder may be inside an inbox folder
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path in seen:
                continue
            seen.add(path)
            relative = path.relative_to(folder).parts
            if any(ignored_name(part, ()) for part in relative[:-1]):
                continue  # inside a hidden folder
            if not path.is_file():
                continue
            if ignored_name(path.name, ignore):
                found.ignored.append(path)
                continue
            status = path.stat()
            if path.name.lower().endswith(PARTIAL_SUFFIXES):
                found.waiting.append((path, "its name says it is still being written"))
                continue
            age = now - status.st_mtime
            if age < settle_seconds:
                found.waiting.append(
                    (path, f"changed {max(age, 0):.0f} s ago (settle_seconds = {settle_seconds:g})")
                )
                continue
            file = InboxFile(path, status.st_size, status.st_mtime_ns)
            before = held.get(str(path))
            if before is not None and (before.size, before.mtime_ns) == (file.size, file.mtime_ns):
                found.held.append(before)
                continue
            found.files.append(file)
    return found


def belongs_to(report_file: str, path: Path) -> bool:
    """Whether an ingest report's ``file`` is ``path`` or a member of it (``path!member``)."""
    text = str(path)
    return report_file == text or report_file.startswith(text + "!")


def gone(held: Collection[str]) -> list[str]:
    """Held paths whose file is no longer there: nothing is left to set aside."""
    return [path for path in held if not Path(path).is_file()]
