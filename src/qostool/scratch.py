"""Scratch folders in the temporary folder that no killed run leaves behind for long.

A month analysed in batches spills its tests to a folder in ``TMPDIR`` (gigabytes
for a national month). A run that ends, fails or is stopped by Ctrl-C or SIGTERM
deletes its folder on the way out; a run killed outright (``kill -9``, the
kernel's out-of-memory killer) cannot. So each folder holds a file locked for as
long as its run lives (``owner.lock``: ``flock`` on Linux and macOS, ``LockFileEx``
on Windows, through ``filelock``), and the operating system drops that lock when
the run ends, however it ends. The next run that makes a folder of the same kind
first deletes every folder of that kind whose lock it can take: their runs are
gone. A folder changed in the last minute is left alone (its run may be making
it at this very moment), and so is one without the file (made by a version
before this) unless it is older than :data:`UNOWNED_AGE_S`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

#: The file a live run keeps locked in its scratch folder.
OWNER_FILE: Final = "owner.lock"
#: A folder without an owner file older than this (seconds) is taken as left behind.
UNOWNED_AGE_S: Final = 24 * 3600.0
#: A folder changed less than this long ago (seconds) is never taken as left behind.
FRESH_S: Final = 60.0


@contextlib.contextmanager
def scratch_folder(prefix: str, *, notice: Callable[[str], None]) -> Iterator[Path]:
    """A new folder ``<TMPDIR>/<prefix>...``, owned while the block runs, deleted after.

    Folders of the same ``prefix`` left by runs that were killed are deleted first;
    ``notice`` is told each one, with its size.
    """
    from filelock import lock_descriptor

    root = Path(tempfile.gettempdir())
    for path, size in remove_left_behind(root, prefix):
        notice(
            f"deleted {path} ({size / 2**20:,.0f} MB), left in the temporary folder by "
            "an earlier run that was killed before it could clean up"
        )
    with tempfile.TemporaryDirectory(prefix=prefix, dir=root) as folder:
        fd = os.open(Path(folder) / OWNER_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if not lock_descriptor(fd, blocking=False):  # pragma: no cover - a new file
                raise RuntimeError(f"{folder}: could not lock its new {OWNER_FILE}")
            yield Path(folder)
        finally:
            os.close(fd)  # closing drops the lock (before the folder is deleted: Windows)


def remove_left_behind(root: Path, prefix: str) -> list[tuple[Path, int]]:
    """Delete the folders ``root/<prefix>*`` whose run is gone; their paths and sizes."""
    removed = []
    for path in sorted(root.glob(f"{prefix}*")):
        if path.is_dir() and not path.is_symlink() and _left_behind(path):
            size = _size(path)
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                removed.append((path, size))
    return removed


def _left_behind(folder: Path) -> bool:
    """Whether no live run owns ``folder``: its owner file's lock is free (or, without
    that file, the folder is older than :data:`UNOWNED_AGE_S`). A folder changed in
    the last :data:`FRESH_S` is a run's that may not have locked its file yet."""
    from filelock import lock_descriptor, unlock_descriptor

    try:
        age = time.time() - folder.stat().st_mtime
    except OSError:
        return False
    if age < FRESH_S:
        return False
    try:
        fd = os.open(folder / OWNER_FILE, os.O_RDWR)
    except FileNotFoundError:
        return age > UNOWNED_AGE_S
    except OSError:
        return False  # another user's, or unreadable: not ours to judge
    try:
        try:
            free = lock_descriptor(fd, blocking=False)
        except OSError:
            return False
        if free:
            unlock_descriptor(fd)
        return free
    finally:
        os.close(fd)


def _size(folder: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(dirpath) / name).stat().st_size
    return total
