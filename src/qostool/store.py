"""Where things live on disk, atomic batches, and the catalog of ingested files.

Layout of a store folder::

    store.json                      layout version and the store's time zone (layout 1
                                    stores are migrated when opened: qostool/migrate.py)
    catalog.sqlite                  ingested files and the Parquet parts of each batch
    secret.key                      key for pseudonymising device ids (made on first use)
    tests/month=YYYY-MM/<batch>-NNN.parquet    canonical rows
    rejects/<batch>-NNN.parquet     rejected rows with their reason and original values
    boundaries/<version>/           imported commune boundaries (GeoParquet) and their report
    results/YYYY-MM/<id>/           an official analysis of a month: Parquet tables and
                                    analysis.json (every one kept; the newest is the month's)
    variants/YYYY-MM/<id>/          a named variant (what-if) analysis of a month, the same files
    periods/FROM_TO/<id>/           the analysis of a period of days (local dates, inclusive),
                                    the same files (a new one of the same dates replaces it)
    staging/<batch>/                a batch being written (never read)
    staging/<batch>.intent.json     the paths a commit in progress is moving into place
    quarantine/<time>/              what 'qostool store repair' set aside (never read)

Commit protocol: a batch writes every part under ``staging/<batch>/``, notes in
``staging/<batch>.intent.json`` the paths it is about to move into place, renames
the parts into place, then records the file and its parts in one SQLite
transaction. That transaction is the commit point: readers list parts from the
catalog only, so a part renamed into place but not yet recorded is invisible,
and the next writer deletes it (with the staging folder) when it takes the lock,
because the note names it. A run killed at any moment therefore leaves either
the whole batch or nothing.

Boundaries and analysis results are *artifacts*: a folder written under
``staging/``, renamed into place, then recorded in the ``artifacts`` table (the
commit point), with the same note first. A new official analysis of a month
replaces nothing: the earlier ones stay, so a report sent earlier can be made
again. A variant replaces the variant of the same name: its record goes in the
same transaction, and its folder (named in the note too) is deleted afterwards.

The catalog is the commit record, so the store defends it: a missing, empty,
foreign or unreadable catalog beside stored data, or one that records nothing
while data is on disk, is an error that changes nothing (never a new empty
catalog, which would make every part look like a leftover). The next writer
deletes only what a note proves to be a killed commit's leftover; anything else
on disk that the catalog does not record is left where it is, for
``qostool store check`` to report and ``qostool store repair`` to set aside in
``quarantine/`` (see :mod:`qostool.storecheck`). Readers check that the parts
they are about to read are there and whole, so a part deleted or damaged by hand
is named, with the way to repair it.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import secrets
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Final

import polars as pl

from qostool import __version__
from qostool.errors import QostoolError, StoreBusyError, StoreError, UsageError, from_os_error
from qostool.schema import REJECT_SCHEMA, SCHEMA

LAYOUT_VERSION: Final = 2
"""The layout this qostool writes. 2: device pseudonyms are 64-bit integers (1: text)."""
#: Layouts that opening a store migrates to :data:`LAYOUT_VERSION` (see qostool/migrate.py).
MIGRATED_LAYOUTS: Final = (1,)
DEFAULT_STORE: Final = "qostool-data"
_SECRET_BYTES: Final = 32
CATALOG: Final = "catalog.sqlite"
QUARANTINE: Final = "quarantine"
STAGING: Final = "staging"
#: Folders holding the store's data: every file in them must be accounted for by the catalog.
DATA_FOLDERS: Final = ("tests", "rejects", "boundaries", "results", "variants", "periods")
#: Tables without which a file is not a catalog (the others are added when missing).
_RECORD_TABLES: Final = ("files", "parts")
_ALL_TABLES: Final = ("files", "parts", "artifacts", "steps", "runs", "inbox_held")
_SQLITE_HEADER: Final = b"SQLite format 3\x00"
_PARQUET_MAGIC: Final = b"PAR1"
_INTENT_SUFFIX: Final = ".intent.json"
#: Never follow a link planted in place of a file the store writes (POSIX; Windows has none).
_NOFOLLOW: Final[int] = getattr(os, "O_NOFOLLOW", 0)
_LINK_ERRNOS: Final = {errno.ELOOP, errno.EMLINK}  # Linux and macOS; FreeBSD
REPAIR_HINT: Final = (
    "run 'qostool store check' to see what is missing or damaged, then 'qostool store "
    "repair' (it shows what it would do; '--apply' does it, and says which files to ingest again)"
)
LOST_CATALOG_HINT: Final = (
    "restore catalog.sqlite from a backup (nothing else of the store was changed), then run "
    "'qostool store check'; without a backup, 'qostool store repair' sets the data aside in "
    "quarantine/ and starts a new catalog (then ingest the exports again)"
)

_CATALOG_DDL: Final = """
CREATE TABLE IF NOT EXISTS files (
    sha256       TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    size         INTEGER NOT NULL,
    format       TEXT,
    batch_id     TEXT NOT NULL,
    ingested_at  TEXT NOT NULL,
    rows_read    INTEGER NOT NULL,
    accepted     INTEGER NOT NULL,
    rejected     INTEGER NOT NULL,
    duplicates   INTEGER NOT NULL,
    reasons      TEXT NOT NULL,
    months       TEXT NOT NULL,
    tool_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS parts (
    path     TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL,
    kind     TEXT NOT NULL,
    month    TEXT,
    rows     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS artifacts (
    path       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    key        TEXT NOT NULL,
    created_at TEXT NOT NULL,
    meta       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
    step    TEXT NOT NULL,
    key     TEXT NOT NULL,
    done_at TEXT NOT NULL,
    facts   TEXT NOT NULL,
    PRIMARY KEY (step, key)
);
CREATE TABLE IF NOT EXISTS runs (
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    summary     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS inbox_held (
    path      TEXT PRIMARY KEY,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    reason    TEXT NOT NULL,
    held_at   TEXT NOT NULL
);
"""
#: Kinds of artifact: imported boundaries, a month's official analyses (every one
#: kept: the newest is the month's), its named variants (what-if analyses), and the
#: analyses of periods of days (never a month's official one).
ARTIFACT_KINDS: Final = ("boundaries", "results", "variants", "periods")


@dataclass(frozen=True)
class Artifact:
    """A committed artifact: imported boundaries, or the analysis of a month."""

    kind: str
    key: str
    """The boundaries' version label, or the month of a result."""
    path: Path
    created_at: str
    meta: dict[str, Any]


@dataclass(frozen=True)
class HeldFile:
    """An inbox file that could not be ingested, set aside until it changes."""

    path: str
    size: int
    mtime_ns: int
    reason: str
    held_at: str


@dataclass(frozen=True)
class PartRecord:
    """One recorded part, with the ingested file of its batch (None if unrecorded)."""

    path: str
    batch_id: str
    kind: str
    month: str | None
    rows: int
    source: str | None
    sha256: str | None
    ingested_at: str | None


@dataclass(frozen=True)
class FileRecord:
    """One ingested file, as the catalog remembers it."""

    sha256: str
    name: str
    size: int
    format: str | None
    batch_id: str
    ingested_at: str
    rows_read: int
    accepted: int
    rejected: int
    duplicates: int
    reasons: dict[str, int]
    months: list[str]
    tool_version: str = __version__


def _write_part_file(frame: pl.DataFrame, path: Path) -> None:
    """Write a part durably. Snappy, no column statistics: the cheapest to write
    (see docs/ingest.md, Speed)."""
    frame.write_parquet(path, compression="snappy", statistics=False)
    _fsync_path(path)


#: Windows flushes a file only through a handle open for writing.
_FSYNC_MODE: Final = os.O_RDWR if os.name == "nt" else os.O_RDONLY


def _fsync_path(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, _FSYNC_MODE)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def crash_point(name: str) -> None:
    """Kill this process here when ``QOSTOOL_CRASH_AT`` names this point.

    Used only by the crash-safety tests to stop a run at an exact step, as a
    power cut or ``kill -9`` would.
    """
    if os.environ.get("QOSTOOL_CRASH_AT") == name:
        os.kill(os.getpid(), 9)


class Store:
    """A qostool store folder. Cheap to open; writing needs :meth:`write_lock`."""

    def __init__(self, root: Path, *, timezone: str) -> None:
        self.root = root
        self.timezone = timezone
        self._locked = False

    # -- opening -----------------------------------------------------------

    @classmethod
    def open(
        cls,
        root: Path | str,
        *,
        timezone: str,
        create: bool = False,
        notice: Callable[[str], None] | None = None,
    ) -> Store:
        """Open (or, with ``create``, make) the store at ``root``.

        The store remembers the time zone it was made with: reporting months
        depend on it, so opening it with another one is refused. The catalog is
        checked against the data on disk (see :meth:`_prepare_catalog`): a store
        whose catalog is lost is refused, and nothing of it is changed.

        A store of an earlier layout is migrated first, once, under the write lock
        (:func:`qostool.migrate.migrate_layout`); ``notice`` is given the sentence that
        says what was migrated (default: printed on stderr).
        """
        root = Path(root)
        meta_path = root / "store.json"
        if not meta_path.exists():
            _refuse_without_description(root, timezone, create=create)
            root.mkdir(parents=True, exist_ok=True)
            meta = {"layout": LAYOUT_VERSION, "timezone": timezone, "created_by": __version__}
            tmp = root / f".store.json.{uuid.uuid4().hex}"
            tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, meta_path)
        meta = _read_description(root)
        if meta.get("timezone") != timezone:
            raise UsageError(
                f"{root}: this store was made with time zone {meta.get('timezone')!r}, "
                f"not {timezone!r}; reporting months would not agree",
                hint=f"pass --timezone {meta.get('timezone')} or use a new --store",
            )
        store = cls(root, timezone=timezone)
        store._prepare_catalog()
        if meta["layout"] != LAYOUT_VERSION:
            from qostool.migrate import migrate_layout

            migrate_layout(store, notice=notice)
        return store

    @classmethod
    def open_unchecked(cls, root: Path | str, *, timezone: str) -> Store:
        """Open a store in its own time zone, without checking its catalog.

        For ``qostool store check`` and ``store repair`` only, which look at a
        damaged catalog themselves; everything else opens with :meth:`open`.
        ``timezone`` (the configured one) is only named in the error for a store
        whose ``store.json`` is lost.
        """
        root = Path(root)
        if not (root / "store.json").exists():
            _refuse_without_description(root, timezone, create=False)
        meta = _read_description(root)
        return cls(root, timezone=str(meta.get("timezone")))

    def _prepare_catalog(self) -> None:
        """Check the catalog against the data on disk; make it only for a store without data.

        Raises :class:`StoreError`, and changes nothing, when data files are on disk
        and the catalog is missing, empty, not SQLite, unreadable, lacks its tables, or
        records no part and no artifact (a new catalog made over a lost one, or one
        restored from before the data): without its commit record the store cannot
        tell committed data from leftovers, and a new empty catalog would make every
        part look like one. A foreign file is never overwritten, even without data.
        """
        path = self.root / CATALOG
        problem = catalog_problem(self.root)
        if problem is None:
            with self._catalog() as db:
                tables = _table_names(db)
                empty = not db.execute("SELECT EXISTS (SELECT 1 FROM parts)").fetchone()[0] and (
                    "artifacts" not in tables
                    or not db.execute("SELECT EXISTS (SELECT 1 FROM artifacts)").fetchone()[0]
                )
            if empty:
                held = data_files(self.root, skip=self.noted_paths())
                if held:
                    raise lost_catalog_error(
                        self.root, "the catalog records no part and no artifact", held
                    )
            if not set(_ALL_TABLES) <= tables:  # a catalog made before some tables existed
                with self._catalog() as db:
                    db.executescript(_CATALOG_DDL)
            return
        held = data_files(self.root)
        if held:
            raise lost_catalog_error(self.root, problem, held)
        if path.exists() and path.stat().st_size > 0:
            raise StoreError(
                f"{path}: {problem}",
                hint="move that file away (or restore the catalog from a backup), then run again",
            )
        with self._catalog() as db:  # a new store (or one that never stored anything)
            db.executescript(_CATALOG_DDL)

    @contextlib.contextmanager
    def _catalog(self) -> Iterator[sqlite3.Connection]:
        path = self.root / CATALOG
        try:
            db = sqlite3.connect(path, timeout=30)
        except sqlite3.Error as exc:
            raise catalog_error(path, exc) from exc
        try:
            with db:
                yield db
        except sqlite3.ProgrammingError:
            raise  # a mistake in qostool's own SQL: a bug, not the user's to fix
        except sqlite3.Error as exc:
            raise catalog_error(path, exc) from exc
        finally:
            db.close()

    def _check_writable(self) -> None:
        """Fail now, before anything is written, when the catalog cannot be written.

        A rolled-back write: SQLite must be able to write the file and make its
        journal beside it (in the store's folder), as every commit will.
        """
        with self._catalog() as db:
            db.execute("BEGIN")
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            db.execute(f"PRAGMA user_version = {version}")
            db.rollback()

    # -- locking and recovery ----------------------------------------------

    @contextlib.contextmanager
    def write_lock(self, *, wait_seconds: float = 0.0, clean_up: bool = True) -> Iterator[None]:
        """Hold the store's exclusive write lock, recovering from any crashed run first.

        The lock is the operating system's lock on ``.lock`` (``flock`` on Linux and
        macOS, ``LockFileEx`` on Windows, through ``filelock``): the system drops it
        when its holder dies, so a crashed run never leaves a stale lock behind. The
        holder writes who it is to ``.lock.holder`` (on Windows the locked file itself
        cannot be read by another process), which a waiting process quotes.

        Re-entrant on this object: a step that takes the lock (``analyze_month``,
        ``import_boundaries``) called while this object already holds it, as
        ``qostool run`` does, runs under the held lock (no second wait, no recovery).

        ``clean_up=False`` takes the lock without :meth:`recover` (which refuses a
        store whose catalog is lost): for ``qostool store repair`` only.
        """
        if self._locked:
            yield
            return
        from filelock import lock_descriptor, unlock_descriptor

        lock_path = self.root / ".lock"
        holder_path = self.root / ".lock.holder"
        fd = _open_own_file(lock_path, os.O_RDWR | os.O_CREAT)
        deadline = time.monotonic() + wait_seconds
        locked = False
        try:
            while True:
                try:
                    locked = lock_descriptor(fd, blocking=False)
                except OSError as exc:
                    raise StoreError(
                        f"{lock_path}: the store's folder does not support file locks ({exc})",
                        hint="put the store on a local disk, or on a network share that "
                        "supports locking",
                    ) from None
                if locked:
                    break
                if time.monotonic() >= deadline:
                    holder = ""
                    with contextlib.suppress(OSError):
                        if not holder_path.is_symlink():  # quote only the holder's own note
                            holder = holder_path.read_text(encoding="utf-8", errors="replace")
                    raise StoreBusyError(
                        f"{self.root}: another qostool process is writing to this store"
                        + (f" ({holder.strip()})" if holder.strip() else ""),
                        hint="wait for it to finish, then run again",
                    ) from None
                time.sleep(0.2)
            note = _open_own_file(holder_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            try:
                os.write(note, f"pid {os.getpid()} since {_now_iso()}".encode())
            finally:
                os.close(note)
            if clean_up:
                self.recover()
            self._locked = True
            yield
        finally:
            self._locked = False
            if locked:  # Windows may release a closed file's lock only later: release it now
                with contextlib.suppress(OSError):
                    unlock_descriptor(fd)
            os.close(fd)

    def recover(self) -> None:
        """Undo what a killed run left half done, deleting only what is provably its own.

        Call under the lock. A commit notes in ``staging/<id>.intent.json``, before it
        moves anything into place, every path it is about to move in (or, replacing a
        result, to drop): such a path that the catalog does not record is a killed
        commit's leftover, and is deleted with ``staging/``. Nothing else is deleted:
        a part or folder on disk that the catalog does not record without a note (a
        leftover of a qostool without notes, or data whose records were lost with a
        restored catalog) stays where it is, invisible to readers, for ``qostool store
        check`` to report and ``store repair`` to move to ``quarantine/``.

        First the catalog is checked (a lost one raises :class:`StoreError` before
        anything is touched) and tried for writing, so a store that cannot be written
        fails here, naming the catalog, rather than halfway through a commit.
        """
        noted = self.noted_paths()
        self._prepare_catalog()
        self._check_writable()
        if noted:
            with self._catalog() as db:
                known = {row[0] for row in db.execute("SELECT path FROM parts")}
                known |= {row[0] for row in db.execute("SELECT path FROM artifacts")}
            for relative in sorted(noted - known):
                target = self.root / relative
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
        staging = self.root / STAGING
        if staging.is_symlink():  # not ours: drop the link, never what it points to
            staging.unlink()
        else:
            shutil.rmtree(staging, ignore_errors=True)

    def noted_paths(self) -> set[str]:
        """Store paths that commits in progress (or killed) noted they were moving into place."""
        staging = self.root / STAGING
        if staging.is_symlink() or not staging.is_dir():
            return set()
        noted: set[str] = set()
        for note in staging.glob("*" + _INTENT_SUFFIX):
            try:
                paths = json.loads(note.read_text(encoding="utf-8")).get("paths", [])
            except (OSError, ValueError, AttributeError):
                continue  # a torn note: written (and flushed) before anything moved
            noted |= {p for p in paths if isinstance(p, str) and _is_data_path(p)}
        return noted

    def _note_intent(self, name: str, paths: Collection[str]) -> Path:
        """Note, durably and before anything moves, the paths a commit will move into place."""
        note = self.root / STAGING / f"{name}{_INTENT_SUFFIX}"
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text(json.dumps({"paths": sorted(paths)}), encoding="utf-8")
        _fsync_path(note)
        _fsync_path(note.parent)
        return note

    # -- secret ------------------------------------------------------------

    def secret(self) -> bytes:
        """The store's pseudonymisation key, made on first use (call under the lock)."""
        path = self.root / "secret.key"
        if not path.exists():
            tmp = self.root / f".secret.{uuid.uuid4().hex}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, secrets.token_bytes(_SECRET_BYTES))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        key = path.read_bytes()
        if len(key) != _SECRET_BYTES:
            raise StoreError(
                f"{path}: the pseudonymisation key is damaged ({len(key)} bytes)",
                hint="restore it from a backup: device ids hashed with another key will not match",
            )
        return key

    # -- catalog queries ---------------------------------------------------

    def find_file(self, sha256: str) -> FileRecord | None:
        """The catalog record of an already ingested file content, if any."""
        with self._catalog() as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM files WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else _record_from_row(row)

    def has_file_of_size(self, size: int) -> bool:
        """Whether any ingested file content had exactly ``size`` bytes."""
        with self._catalog() as db:
            row = db.execute("SELECT 1 FROM files WHERE size = ? LIMIT 1", (size,)).fetchone()
        return row is not None

    def forget_empty_file(self, sha256: str) -> None:
        """Forget a file recorded with no rows (so no parts), to record it again with its rows.

        Empty files were recorded by earlier versions; one that was misread as empty
        (a CSV with CR-only line breaks) must not stay "already ingested" for ever.
        """
        with self._catalog() as db:
            db.execute("DELETE FROM files WHERE sha256 = ? AND rows_read = 0", (sha256,))

    def files(self) -> list[FileRecord]:
        """Every ingested file, oldest first."""
        with self._catalog() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute("SELECT * FROM files ORDER BY ingested_at, name").fetchall()
        return [_record_from_row(row) for row in rows]

    def part_paths(self, kind: str, months: Sequence[str] | None = None) -> list[Path]:
        """Committed Parquet parts of ``kind`` ("tests" or "rejects"), optionally by month.

        Each is checked to be on disk and whole (Parquet's marks at both ends): a part
        deleted or damaged by hand raises :class:`StoreError` naming it and its source
        file, with the way to repair, instead of failing in the middle of a read.
        """
        query = (
            "SELECT parts.path, files.name FROM parts "
            "LEFT JOIN files ON files.batch_id = parts.batch_id WHERE parts.kind = ?"
        )
        args: list[Any] = [kind]
        if months is not None:
            query += f" AND parts.month IN ({','.join('?' * len(months))})"
            args.extend(months)
        with self._catalog() as db:
            rows = db.execute(query + " ORDER BY parts.path", args).fetchall()
        lost = [
            (self.root / path, f"{what} (from {name or 'an unknown file'})")
            for path, name in rows
            if (what := part_damage(self.root / path)) is not None
        ]
        if lost:
            raise lost_data_error(lost)
        return [self.root / row[0] for row in rows]

    def months(self) -> list[str]:
        """Reporting months that have stored tests."""
        with self._catalog() as db:
            rows = db.execute(
                "SELECT DISTINCT month FROM parts WHERE kind = 'tests' ORDER BY month"
            ).fetchall()
        return [row[0] for row in rows]

    def scan_tests(self, months: Sequence[str] | None = None) -> pl.LazyFrame:
        """Stored canonical rows (committed batches only) as a lazy frame."""
        paths = self.part_paths("tests", months)
        if not paths:
            return pl.LazyFrame(schema=SCHEMA)
        return pl.scan_parquet(paths)

    def scan_rejects(self) -> pl.LazyFrame:
        """Rejected rows of every committed batch."""
        paths = self.part_paths("rejects")
        if not paths:
            return pl.LazyFrame(schema=REJECT_SCHEMA)
        return pl.scan_parquet(paths)

    def artifacts(self, kind: str, key: str | None = None) -> list[Artifact]:
        """Committed artifacts of ``kind`` (optionally with ``key``), newest first."""
        query, args = "SELECT * FROM artifacts WHERE kind = ?", [kind]
        if key is not None:
            query += " AND key = ?"
            args.append(key)
        with self._catalog() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(query + " ORDER BY created_at DESC, rowid DESC", args).fetchall()
        found = [
            Artifact(
                kind=row["kind"],
                key=row["key"],
                path=self.root / row["path"],
                created_at=row["created_at"],
                meta=json.loads(row["meta"]),
            )
            for row in rows
        ]
        lost = [
            (a.path, f"this stored {a.kind} folder is missing")
            for a in found
            if not a.path.is_dir()
        ]
        if lost:
            raise lost_data_error(lost)
        return found

    # -- records as they are (for ``qostool store check`` and ``store repair``) --

    def part_records(self) -> list[PartRecord]:
        """Every recorded part with its ingested file, not checked against the disk."""
        with self._catalog() as db:
            rows = db.execute(
                "SELECT parts.path, parts.batch_id, parts.kind, parts.month, parts.rows, "
                "files.name, files.sha256, files.ingested_at FROM parts "
                "LEFT JOIN files ON files.batch_id = parts.batch_id ORDER BY parts.path"
            ).fetchall()
        return [PartRecord(*row) for row in rows]

    def artifact_records(self) -> dict[str, str]:
        """Every recorded artifact folder (store path -> kind), not checked against the disk."""
        with self._catalog() as db:
            return dict(db.execute("SELECT path, kind FROM artifacts ORDER BY path").fetchall())

    def catalog_integrity(self) -> list[str]:
        """SQLite's quick integrity check of the catalog: ``["ok"]``, or what is wrong."""
        with self._catalog() as db:
            return [str(row[0]) for row in db.execute("PRAGMA quick_check")]

    def forget(self, *, batches: Collection[str] = (), artifacts: Collection[str] = ()) -> None:
        """Drop the records of whole batches (file and parts) and of artifacts, at once.

        Call under the lock. The files stay where they are, now unrecorded.
        """
        with self._catalog() as db:
            for batch in batches:
                db.execute("DELETE FROM parts WHERE batch_id = ?", (batch,))
                db.execute("DELETE FROM files WHERE batch_id = ?", (batch,))
            db.executemany("DELETE FROM artifacts WHERE path = ?", [(p,) for p in artifacts])

    def new_catalog(self, artifacts: Sequence[Artifact] = ()) -> None:
        """Make a catalog where there is none, recording ``artifacts`` (call under the lock).

        For ``store repair`` only, after it moved a lost catalog away; it refuses to
        write over any file.
        """
        path = self.root / CATALOG
        if path.exists() or path.is_symlink():
            raise StoreError(f"{path}: a catalog is already there", hint=REPAIR_HINT)
        with self._catalog() as db:
            db.executescript(_CATALOG_DDL)
        with self._catalog() as db:
            db.executemany(
                "INSERT INTO artifacts VALUES (?,?,?,?,?)",
                [
                    (
                        a.path.relative_to(self.root).as_posix(),
                        a.kind,
                        a.key,
                        a.created_at,
                        json.dumps(a.meta, sort_keys=True),
                    )
                    for a in artifacts
                ],
            )

    # -- steps and runs (what ``qostool run`` did) ---------------------------

    def step(self, step: str, key: str) -> tuple[str, dict[str, Any]] | None:
        """When a step (e.g. "analysis" of a month) was last done, and the facts it recorded."""
        with self._catalog() as db:
            row = db.execute(
                "SELECT done_at, facts FROM steps WHERE step = ? AND key = ?", (step, key)
            ).fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    def steps(self, step: str) -> dict[str, tuple[str, dict[str, Any]]]:
        """Every recorded ``step``, by key."""
        with self._catalog() as db:
            rows = db.execute(
                "SELECT key, done_at, facts FROM steps WHERE step = ? ORDER BY key", (step,)
            ).fetchall()
        return {row[0]: (row[1], json.loads(row[2])) for row in rows}

    def record_step(self, step: str, key: str, facts: dict[str, Any]) -> None:
        """Remember that ``step`` was done for ``key`` from these facts (call under the lock)."""
        with self._catalog() as db:
            db.execute(
                "INSERT OR REPLACE INTO steps VALUES (?,?,?,?)",
                (step, key, _now_iso(), json.dumps(facts, sort_keys=True)),
            )

    def record_run(self, started_at: str, summary: dict[str, Any]) -> None:
        """Append the summary of a finished run (call under the lock)."""
        with self._catalog() as db:
            db.execute(
                "INSERT INTO runs VALUES (?,?,?)",
                (started_at, _now_iso(), json.dumps(summary, ensure_ascii=False, sort_keys=True)),
            )

    def last_run(self) -> tuple[str, str, dict[str, Any]] | None:
        """Start, end and summary of the last finished run, if any."""
        with self._catalog() as db:
            row = db.execute(
                "SELECT started_at, finished_at, summary FROM runs "
                "ORDER BY finished_at DESC, rowid DESC LIMIT 1"
            ).fetchone()
        return None if row is None else (row[0], row[1], json.loads(row[2]))

    # -- inbox files that failed (``qostool run``) ------------------------------------

    def held_files(self) -> dict[str, HeldFile]:
        """Inbox files set aside after they failed, by path (see ``qostool/inbox.py``)."""
        with self._catalog() as db:
            rows = db.execute("SELECT * FROM inbox_held ORDER BY path").fetchall()
        return {row[0]: HeldFile(*row) for row in rows}

    def hold_file(self, path: str, size: int, mtime_ns: int, reason: str) -> None:
        """Set an inbox file aside until its size or time changes (call under the lock)."""
        with self._catalog() as db:
            db.execute(
                "INSERT OR REPLACE INTO inbox_held VALUES (?,?,?,?,?)",
                (path, size, mtime_ns, reason, _now_iso()),
            )

    def release_files(self, paths: Collection[str]) -> None:
        """Forget that these inbox files were set aside (call under the lock)."""
        with self._catalog() as db:
            db.executemany("DELETE FROM inbox_held WHERE path = ?", [(p,) for p in paths])

    # -- writing -----------------------------------------------------------

    def stage_artifact(self) -> Path:
        """A fresh, empty staging folder for an artifact (call under the lock)."""
        folder = self.root / "staging" / (_stamp() + "-" + uuid.uuid4().hex[:8])
        folder.mkdir(parents=True)
        return folder

    def publish(
        self,
        kind: str,
        key: str,
        staged: Path,
        meta: dict[str, Any],
        *,
        created_at: str,
        replacing: Sequence[Artifact] = (),
    ) -> Artifact:
        """Move a staged artifact folder into place and record it: the commit point.

        The records of ``replacing`` (a variant of the same name) go in the same
        transaction, and their folders are deleted afterwards; nothing else is.
        """
        if kind not in ARTIFACT_KINDS:
            raise ValueError(f"unknown artifact kind {kind!r}")
        final = f"{kind}/{key}/{staged.name}"
        target = self.root / final
        old = [a.path.relative_to(self.root).as_posix() for a in replacing]
        note = self._note_intent(staged.name, [final, *old])
        target.parent.mkdir(parents=True, exist_ok=True)
        for item in staged.iterdir():
            _fsync_path(item)
        os.replace(staged, target)
        _fsync_path(target.parent)
        crash_point(f"{kind}-moved")
        with self._catalog() as db:
            db.executemany("DELETE FROM artifacts WHERE path = ?", [(path,) for path in old])
            db.execute(
                "INSERT INTO artifacts VALUES (?,?,?,?,?)",
                (final, kind, key, created_at, json.dumps(meta, sort_keys=True)),
            )
        crash_point(f"{kind}-committed")
        for path in old:
            shutil.rmtree(self.root / path, ignore_errors=True)
        note.unlink(missing_ok=True)
        return Artifact(kind, key, target, created_at, meta)

    def new_batch(self) -> Batch:
        """Start a batch: its parts go to staging until :meth:`Batch.commit`."""
        batch_id = _stamp() + "-" + uuid.uuid4().hex[:8]
        staging = self.root / "staging" / batch_id
        staging.mkdir(parents=True)
        return Batch(store=self, batch_id=batch_id, staging=staging)


@dataclass
class Part:
    """A Parquet part staged by a batch, and where it goes on commit."""

    staged: Path
    final: str
    kind: str
    month: str | None
    rows: int


@dataclass
class Batch:
    """Parts written for one input file, committed all at once or not at all."""

    store: Store
    batch_id: str
    staging: Path
    parts: list[Part] = field(default_factory=list)
    _numbers: Iterator[int] = field(default_factory=itertools.count)

    def write_part(self, kind: str, frame: pl.DataFrame, month: str | None = None) -> None:
        """Write one Parquet part to staging; it becomes visible only on commit."""
        number = next(self._numbers)  # never reused, even after rewrite_part drops a part
        name = f"{self.batch_id}-{number:04d}.parquet"
        final = f"{kind}/month={month}/{name}" if month else f"{kind}/{name}"
        staged = self.staging / f"{number:04d}.parquet"
        _write_part_file(frame, staged)
        self.parts.append(Part(staged, final, kind, month, frame.height))

    def rewrite_part(self, part: Part, frame: pl.DataFrame) -> None:
        """Replace a staged part's rows (dropping the part when none are left)."""
        if frame.is_empty():
            part.staged.unlink()
            self.parts.remove(part)
            return
        _write_part_file(frame, part.staged)
        part.rows = frame.height

    def commit(self, record: FileRecord) -> None:
        """Move the parts into place and record them with the file: the commit point."""
        note = self.store._note_intent(self.batch_id, [p.final for p in self.parts])
        for part in self.parts:
            target = self.store.root / part.final
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part.staged, target)
            crash_point("after-part-moved")
        for folder in {(self.store.root / p.final).parent for p in self.parts}:
            _fsync_path(folder)
        with self.store._catalog() as db:
            db.execute(
                "INSERT INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.sha256,
                    record.name,
                    record.size,
                    record.format,
                    self.batch_id,
                    record.ingested_at,
                    record.rows_read,
                    record.accepted,
                    record.rejected,
                    record.duplicates,
                    json.dumps(record.reasons, sort_keys=True),
                    json.dumps(record.months),
                    record.tool_version,
                ),
            )
            db.executemany(
                "INSERT INTO parts VALUES (?,?,?,?,?)",
                [(p.final, self.batch_id, p.kind, p.month, p.rows) for p in self.parts],
            )
        crash_point("after-commit")
        note.unlink(missing_ok=True)
        shutil.rmtree(self.staging, ignore_errors=True)

    def abort(self) -> None:
        """Drop everything this batch staged."""
        shutil.rmtree(self.staging, ignore_errors=True)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S")


def _refuse_without_description(root: Path, timezone: str, *, create: bool) -> None:
    """Raise unless a store may be made at ``root``, which has no ``store.json``.

    It may not when it holds a store's data (``store.json`` was lost: making it
    again, maybe with another time zone, is for the user), or without ``create``.
    """
    held = [*data_files(root), *([CATALOG] if (root / CATALOG).exists() else [])]
    if held:
        # The oldest layout: opening then migrates any part still in it and passes over
        # the others, so the description is right whichever qostool wrote the data.
        description = json.dumps({"layout": MIGRATED_LAYOUTS[0], "timezone": timezone})
        raise StoreError(
            f"{root / 'store.json'}: missing, but {root} holds a store's data ({_some(held)})",
            hint="restore store.json from a backup, or write it again with the store's own "
            f"time zone: {description}",
        )
    if not create:
        raise StoreError(
            f"{root}: no qostool store here",
            hint="run 'qostool ingest' first, or pass the right --store",
        )
    if root.exists() and not root.is_dir():
        raise StoreError(f"{root}: exists and is not a folder", hint="choose another --store")


def _read_description(root: Path) -> dict[str, Any]:
    """``store.json``, checked for the layout this qostool writes or migrates."""
    meta_path = root / "store.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"{meta_path}: cannot read the store's description ({exc})") from exc
    known = (LAYOUT_VERSION, *MIGRATED_LAYOUTS)
    if (
        not isinstance(meta, dict)
        or type(meta.get("layout")) is not int
        or meta["layout"] not in known
    ):
        layout = meta.get("layout") if isinstance(meta, dict) else None
        raise StoreError(
            f"{root}: store layout {layout!r} is not supported by qostool "
            f"{__version__} (expects {LAYOUT_VERSION})",
            hint="use the qostool version that made this store",
        )
    return meta


def _table_names(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def catalog_problem(root: Path) -> str | None:
    """What is wrong with the catalog file of the store at ``root``, in words; None if usable.

    Reads only (a missing catalog is not made here): missing, empty, not SQLite,
    unreadable, or without the ``files`` and ``parts`` tables.
    """
    path = root / CATALOG
    try:
        with path.open("rb") as fh:
            header = fh.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return "the catalog is missing"
    if not header:
        return "the catalog is empty (0 bytes)"
    if header != _SQLITE_HEADER:
        return "the catalog is not an SQLite database"
    try:
        db = sqlite3.connect(path, timeout=30)
        try:
            tables = _table_names(db)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return f"the catalog cannot be read ({exc})"
    missing = [table for table in _RECORD_TABLES if table not in tables]
    if missing:
        return f"the catalog lacks its tables ({', '.join(missing)})"
    return None


def data_files(root: Path, *, skip: Collection[str] = ()) -> list[str]:
    """Files in the store's data folders, as store paths (``tests/...``): tests first.

    ``skip``: store paths (files, or folders with everything in them) left out.
    """
    found = []
    for folder in DATA_FOLDERS:
        base = root / folder
        if not base.is_dir():
            continue
        files = [p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file()]
        found += sorted(f for f in files if not any(f == s or f.startswith(s + "/") for s in skip))
    return found


def part_damage(path: Path) -> str | None:
    """Why the Parquet part at ``path`` cannot be read ("is missing", ...); None if whole.

    Cheap: only the marks Parquet puts at both ends are read (a file cut short, emptied
    or overwritten lacks them). ``qostool store check`` reads every part in full.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_PARQUET_MAGIC))
            size = fh.seek(0, os.SEEK_END)
            tail = b""
            if size >= 12:
                fh.seek(-len(_PARQUET_MAGIC), os.SEEK_END)
                tail = fh.read(len(_PARQUET_MAGIC))
    except FileNotFoundError:
        return "this stored part is missing"
    if size < 12:
        return f"this stored part is damaged ({size} bytes, too short for Parquet)"
    if head != _PARQUET_MAGIC or tail != _PARQUET_MAGIC:
        return "this stored part is damaged (not a whole Parquet file)"
    return None


def _some(names: Sequence[str], shown: int = 3) -> str:
    """``a, b, c and 4 more``."""
    listed = ", ".join(names[:shown])
    return listed + (f" and {len(names) - shown} more" if len(names) > shown else "")


def lost_catalog_error(root: Path, problem: str, held: Sequence[str]) -> StoreError:
    """The error for a catalog that cannot be the commit record of the data on disk."""
    return StoreError(
        f"{root / CATALOG}: {problem}, but the store holds {len(held)} data file(s) "
        f"({_some(held)}); nothing was changed",
        hint=LOST_CATALOG_HINT,
    )


def lost_data_error(lost: Sequence[tuple[Path, str]]) -> StoreError:
    """The error for recorded parts or folders that are missing or damaged on disk."""
    (path, what), more = lost[0], len(lost) - 1
    return StoreError(
        f"{path}: {what}" + (f"; and {more} more part(s) or folder(s)" if more else ""),
        hint=REPAIR_HINT,
    )


def catalog_error(path: Path, exc: sqlite3.Error) -> QostoolError:
    """A user error for SQLite's ``exc`` on the catalog at ``path``, chosen by its error code."""
    name = getattr(exc, "sqlite_errorname", None) or ""
    if name.startswith(("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_CANTOPEN", "SQLITE_AUTH")):
        return from_os_error(PermissionError(errno.EACCES, str(exc), str(path)))
    if name.startswith("SQLITE_FULL"):
        return from_os_error(OSError(errno.ENOSPC, str(exc), str(path)))
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreError(
            f"{path}: the catalog is locked by another program ({exc})",
            hint="close the program that has it open (an SQLite browser, a sync or backup "
            "tool), then run again",
        )
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return StoreError(f"{path}: the catalog is damaged ({exc})", hint=LOST_CATALOG_HINT)
    return StoreError(f"{path}: the catalog cannot be used ({exc})", hint=REPAIR_HINT)


def _link_error(path: Path) -> StoreError:
    return StoreError(
        f"{path}: is a symbolic link, and qostool never writes through one (it would "
        "write to the file it points to, outside the store)",
        hint="delete the link (qostool makes this file itself) and find out who made it, "
        "then run again",
    )


def _open_own_file(path: Path, flags: int) -> int:
    """Open a small file the store keeps for itself (``.lock``, ``.lock.holder``).

    A link planted in its place is refused, never followed: checked first, and on
    POSIX refused by the open itself too, so a link made in between is refused as
    well. Anything else but a plain file there is refused too.
    """
    if path.is_symlink():
        raise _link_error(path)
    if path.exists() and not path.is_file():
        raise StoreError(
            f"{path}: is not a plain file",
            hint="move it away (qostool makes this file itself), then run again",
        )
    try:
        return os.open(path, flags | _NOFOLLOW, 0o644)
    except OSError as exc:
        if _NOFOLLOW and exc.errno in _LINK_ERRNOS:
            raise _link_error(path) from None
        raise


def _is_data_path(path: str) -> bool:
    """Whether ``path`` is where a part or an artifact folder goes (a note names no other)."""
    parts = PurePosixPath(path).parts
    if (
        not parts
        or path.startswith("/")
        or "\\" in path
        or any(p in ("", ".", "..") for p in parts)
    ):
        return False
    shape = {"tests": 3, "rejects": 2, "boundaries": 3, "results": 3, "variants": 3, "periods": 3}
    return shape.get(parts[0]) == len(parts)


def _record_from_row(row: sqlite3.Row) -> FileRecord:
    data = dict(row)
    data["reasons"] = json.loads(data["reasons"])
    data["months"] = json.loads(data["months"])
    return FileRecord(**data)
