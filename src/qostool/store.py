"""Where things live on disk, atomic batches, and the catalog of ingested files.

Layout of a store folder::

    store.json                      layout version and the store's time zone
    catalog.sqlite                  ingested files and the Parquet parts of each batch
    secret.key                      key for pseudonymising device ids (made on first use)
    tests/month=YYYY-MM/<batch>-NNN.parquet    canonical rows
    rejects/<batch>-NNN.parquet     rejected rows with their reason and original values
    boundaries/<version>/           imported commune boundaries (GeoParquet) and their report
    results/YYYY-MM/<run>/          one analysis of a month: Parquet tables and analysis.json
    staging/<batch>/                a batch being written (never read)

Commit protocol: a batch writes every part under ``staging/<batch>/``, renames
the parts into place, then records the file and its parts in one SQLite
transaction. That transaction is the commit point: readers list parts from the
catalog only, so a part renamed into place but not yet recorded is invisible,
and the next writer deletes it (with any staging folder) when it takes the lock.
A run killed at any moment therefore leaves either the whole batch or nothing.

Boundaries and analysis results are *artifacts*: a folder written under
``staging/``, renamed into place, then recorded in the ``artifacts`` table (the
commit point). Recording a new result for a month replaces the old record in
the same transaction; the old folder is deleted afterwards, and unrecorded
folders are deleted by the next writer, as for parts.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import polars as pl

from qostool import __version__
from qostool.errors import StoreBusyError, StoreError, UsageError
from qostool.schema import REJECT_SCHEMA, SCHEMA

LAYOUT_VERSION: Final = 1
DEFAULT_STORE: Final = "qostool-data"
_SECRET_BYTES: Final = 32

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
"""
#: Kinds of artifact, and whether a new one replaces the one with the same key.
ARTIFACT_KINDS: Final = {"boundaries": False, "results": True}


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
    def open(cls, root: Path | str, *, timezone: str, create: bool = False) -> Store:
        """Open (or, with ``create``, make) the store at ``root``.

        The store remembers the time zone it was made with: reporting months
        depend on it, so opening it with another one is refused.
        """
        root = Path(root)
        meta_path = root / "store.json"
        if not meta_path.exists():
            if not create:
                raise StoreError(
                    f"{root}: no qostool store here",
                    hint="run 'qostool ingest' first, or pass the right --store",
                )
            if root.exists() and not root.is_dir():
                raise StoreError(
                    f"{root}: exists and is not a folder", hint="choose another --store"
                )
            root.mkdir(parents=True, exist_ok=True)
            meta = {"layout": LAYOUT_VERSION, "timezone": timezone, "created_by": __version__}
            tmp = root / f".store.json.{uuid.uuid4().hex}"
            tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, meta_path)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreError(f"{meta_path}: cannot read the store's description ({exc})") from exc
        if meta.get("layout") != LAYOUT_VERSION:
            raise StoreError(
                f"{root}: store layout {meta.get('layout')!r} is not supported by qostool "
                f"{__version__} (expects {LAYOUT_VERSION})",
                hint="use the qostool version that made this store",
            )
        if meta.get("timezone") != timezone:
            raise UsageError(
                f"{root}: this store was made with time zone {meta.get('timezone')!r}, "
                f"not {timezone!r}; reporting months would not agree",
                hint=f"pass --timezone {meta.get('timezone')} or use a new --store",
            )
        store = cls(root, timezone=timezone)
        with store._catalog() as db:
            db.executescript(_CATALOG_DDL)
        return store

    @contextlib.contextmanager
    def _catalog(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.root / "catalog.sqlite", timeout=30)
        try:
            with db:
                yield db
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.root / 'catalog.sqlite'}: catalog cannot be used ({exc})"
            ) from exc
        finally:
            db.close()

    # -- locking and recovery ----------------------------------------------

    @contextlib.contextmanager
    def write_lock(self, *, wait_seconds: float = 0.0) -> Iterator[None]:
        """Hold the store's exclusive write lock, recovering from any crashed run first.

        The lock is the operating system's lock on ``.lock`` (``flock`` on Linux and
        macOS, ``LockFileEx`` on Windows, through ``filelock``): the system drops it
        when its holder dies, so a crashed run never leaves a stale lock behind. The
        holder writes who it is to ``.lock.holder`` (on Windows the locked file itself
        cannot be read by another process), which a waiting process quotes.

        Re-entrant on this object: a step that takes the lock (``analyze_month``,
        ``import_boundaries``) called while this object already holds it, as
        ``qostool run`` does, runs under the held lock (no second wait, no recovery).
        """
        if self._locked:
            yield
            return
        from filelock import lock_descriptor, unlock_descriptor

        lock_path = self.root / ".lock"
        holder_path = self.root / ".lock.holder"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
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
                        holder = holder_path.read_text(encoding="utf-8", errors="replace")
                    raise StoreBusyError(
                        f"{self.root}: another qostool process is writing to this store"
                        + (f" ({holder.strip()})" if holder.strip() else ""),
                        hint="wait for it to finish, then run again",
                    ) from None
                time.sleep(0.2)
            holder_path.write_text(f"pid {os.getpid()} since {_now_iso()}", encoding="utf-8")
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
        """Delete what a killed run left behind: staging, unrecorded parts and artifacts."""
        shutil.rmtree(self.root / "staging", ignore_errors=True)
        with self._catalog() as db:
            known = {row[0] for row in db.execute("SELECT path FROM parts")}
            known |= {row[0] for row in db.execute("SELECT path FROM artifacts")}
        for kind in ("tests", "rejects"):
            for part in (self.root / kind).rglob("*.parquet"):
                if part.relative_to(self.root).as_posix() not in known:
                    part.unlink(missing_ok=True)
        for kind in ARTIFACT_KINDS:
            for folder in _artifact_folders(self.root / kind):
                if folder.relative_to(self.root).as_posix() not in known:
                    shutil.rmtree(folder, ignore_errors=True)

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
        """Committed Parquet parts of ``kind`` ("tests" or "rejects"), optionally by month."""
        query = "SELECT path FROM parts WHERE kind = ?"
        args: list[Any] = [kind]
        if months is not None:
            query += f" AND month IN ({','.join('?' * len(months))})"
            args.extend(months)
        with self._catalog() as db:
            rows = db.execute(query + " ORDER BY path", args).fetchall()
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
            rows = db.execute(query + " ORDER BY created_at DESC, path DESC", args).fetchall()
        return [
            Artifact(
                kind=row["kind"],
                key=row["key"],
                path=self.root / row["path"],
                created_at=row["created_at"],
                meta=json.loads(row["meta"]),
            )
            for row in rows
        ]

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

    # -- writing -----------------------------------------------------------

    def stage_artifact(self) -> Path:
        """A fresh, empty staging folder for an artifact (call under the lock)."""
        folder = self.root / "staging" / (_stamp() + "-" + uuid.uuid4().hex[:8])
        folder.mkdir(parents=True)
        return folder

    def publish(
        self, kind: str, key: str, staged: Path, meta: dict[str, Any], *, created_at: str
    ) -> Artifact:
        """Move a staged artifact folder into place and record it: the commit point.

        For kinds that replace (results), the older record of the same key goes
        in the same transaction, and its folder is deleted afterwards.
        """
        replaces = ARTIFACT_KINDS[kind]
        final = f"{kind}/{key}/{staged.name}"
        target = self.root / final
        target.parent.mkdir(parents=True, exist_ok=True)
        for item in staged.iterdir():
            _fsync_path(item)
        os.replace(staged, target)
        _fsync_path(target.parent)
        crash_point(f"{kind}-moved")
        with self._catalog() as db:
            old = []
            if replaces:
                old = [
                    row[0]
                    for row in db.execute(
                        "SELECT path FROM artifacts WHERE kind = ? AND key = ?", (kind, key)
                    )
                ]
                db.execute("DELETE FROM artifacts WHERE kind = ? AND key = ?", (kind, key))
            db.execute(
                "INSERT INTO artifacts VALUES (?,?,?,?,?)",
                (final, kind, key, created_at, json.dumps(meta, sort_keys=True)),
            )
        crash_point(f"{kind}-committed")
        for path in old:
            shutil.rmtree(self.root / path, ignore_errors=True)
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
        shutil.rmtree(self.staging, ignore_errors=True)

    def abort(self) -> None:
        """Drop everything this batch staged."""
        shutil.rmtree(self.staging, ignore_errors=True)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S")


def _artifact_folders(root: Path) -> list[Path]:
    """Folders that hold one artifact each: ``<kind>/<key>/<id>/``."""
    if not root.is_dir():
        return []
    return [leaf for key in root.iterdir() if key.is_dir() for leaf in key.iterdir()]


def _record_from_row(row: sqlite3.Row) -> FileRecord:
    data = dict(row)
    data["reasons"] = json.loads(data["reasons"])
    data["months"] = json.loads(data["months"])
    return FileRecord(**data)
