"""Ingest: files in, canonical rows and rejects out, every row accounted for.

For each source: hash it (skip it when the catalog has that content), find its
format, stream it batch by batch through :func:`canonicalise`, stage accepted
and rejected rows as Parquet, drop test ids already stored or repeated, and
commit the batch. ``read = accepted + rejected + duplicates`` for every file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo

import polars as pl

from qostool.errors import InputError, QostoolError, UsageError, as_user_error
from qostool.ingest import normalize as nz
from qostool.ingest import sources as src
from qostool.ingest import workbook as wb
from qostool.ingest.canonical import (
    REASON,
    TOTALS_COLUMN,
    Context,
    canonicalise,
    detail_expr,
    is_sensitive,
)
from qostool.ingest.spec import GENERIC, BoundSpec, FormatSpec, builtin, detect
from qostool.months import shift_month
from qostool.privacy import Pseudonymiser
from qostool.schema import REJECT_SCHEMA, SCHEMA, Reason, Technology, conform
from qostool.store import Batch, FileRecord, Store, crash_point

FLUSH_ROWS: Final = 500_000
#: Rows are also written when what is held of them reaches this size (long rejected rows).
FLUSH_BYTES: Final = 32 << 20
#: Writes queued for the writer thread at most: the reader waits when the writer lags.
_QUEUED_WRITES: Final = 2
_WORKERS: Final = 2
_QUARTER_IN_NAME: Final = re.compile(r"(?<!\d)(\d{4})[-_ ]?q([1-4])(?![0-9])", re.IGNORECASE)
_DATE_IN_NAME: Final = re.compile(r"(?<!\d)(\d{4})-(\d{2})-01(?!\d)")
#: The network of a tile file, as Ookla names its files (``..._mobile_tiles``, ``..._fixed_...``):
#: the word, not part of a longer word (``prefixed`` says nothing).
_NETWORK_IN_NAME: Final = re.compile(r"(?<![a-z])(mobile|fixed)(?![a-z])", re.IGNORECASE)
#: The networks a tile file can describe, and the technology its rows are stored with.
NETWORKS: Final[dict[str, str]] = {
    "mobile": Technology.UNKNOWN.value,
    "fixed": Technology.WIFI.value,
}
_NETWORK_HINT: Final = (
    "pass --network mobile or --network fixed (or name the file as Ookla does: "
    "2024-10-01_performance_mobile_tiles.parquet, ..._fixed_tiles.parquet)"
)
#: Rows of a file's first batch whose numbers decide its decimal mark.
_DECIMAL_SAMPLE_ROWS: Final = 10_000
_NOTHING_STORED: Final = "nothing from it was stored"


@dataclass(frozen=True)
class IngestOptions:
    """What the user chose on the command line (or a notebook passed in)."""

    format: str | None = None
    mapping: FormatSpec | None = None
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str = "auto"
    period: str | None = None
    network: str | None = None
    """``mobile`` or ``fixed``: what tile files measure (default: from the file name)."""
    sheet: str | None = None
    """The sheet of workbooks to read (default: the only one with a recognised header)."""
    header_row: int | None = None
    """The header's row in workbooks, 1-based (default: the first recognised row)."""
    naive_timezone: str | None = None
    """The time zone of times written without an offset (default: the store's)."""
    now: datetime | None = None
    debug: bool = False
    """Let an unexpected error (a bug) met in one file stop the call, with its traceback."""

    def __post_init__(self) -> None:
        """A wrong ``network`` is refused before any file is read."""
        if self.network is not None and self.network not in NETWORKS:
            raise UsageError(
                f"--network {self.network!r} is not a network",
                hint="use --network mobile or --network fixed (for tile files only)",
            )
        if self.header_row is not None and self.header_row < 1:
            raise UsageError(
                f"--header-row {self.header_row}: rows are numbered from 1, as Excel shows them"
            )


@dataclass
class FileReport:
    """What happened to one input file."""

    file: str
    status: str
    """``ingested``, ``already ingested``, ``empty`` (no rows: not recorded) or ``failed``."""
    format: str | None = None
    sha256: str | None = None
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    months: list[str] = field(default_factory=list)
    message: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "status": self.status,
            "format": self.format,
            "sha256": self.sha256,
            "read": self.read,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "rejected_by_reason": dict(sorted(self.reasons.items())),
            "months": self.months,
            "message": self.message,
        }


@dataclass
class IngestReport:
    """The outcome of one ``ingest`` call: a report per file and the totals."""

    store: str
    files: list[FileReport] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        keys = ("read", "accepted", "rejected", "duplicates")
        return {key: sum(getattr(f, key) for f in self.files) for key in keys}

    @property
    def reasons(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for report in self.files:
            total.update(report.reasons)
        return dict(sorted(total.items()))

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "failed"]

    def to_dict(self) -> dict[str, object]:
        return {
            "store": self.store,
            "files": [f.to_dict() for f in self.files],
            "totals": {**self.totals, "rejected_by_reason": self.reasons},
            "failed_files": len(self.failed),
        }


Progress = Callable[[str, int], None]
"""Called as ``progress(file_name, rows_read_so_far)`` while a file is read."""


def ingest(
    sources: list[src.Source],
    store: Store,
    options: IngestOptions,
    *,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest sources (see :func:`sources.expand`) into ``store`` (call under its write lock).

    A file that cannot be read is reported as ``failed`` (nothing from it is
    stored, and it is not recorded, so the next call tries it again), and the
    other files are ingested. So is a file on which qostool meets a bug, unless
    ``options.debug``. Problems of the store itself (disk full, ...) stop the call.
    """
    report = IngestReport(store=str(store.root))
    # One pseudonymiser for the whole call: each device is hashed once, whatever the files.
    pseudonymiser = Pseudonymiser(store.secret())
    stored = _StoredIds(store)
    with ThreadPoolExecutor(max_workers=1) as hasher, _archives_released():
        for source in sources:
            try:
                source.check()
                content = _ContentHash(source, store, hasher)
                result = _ingest_source(
                    source, store, options, pseudonymiser, progress, content=content, stored=stored
                )
            except InputError as exc:
                result = FileReport(file=source.name, status="failed", message=str(exc))
            except Exception as exc:
                if options.debug or as_user_error(exc) is not None:
                    raise
                result = FileReport(file=source.name, status="failed", message=_bug(source, exc))
            report.files.append(result)
    return report


@contextmanager
def _archives_released() -> Iterator[None]:
    """Archives opened while ingesting are closed at the end."""
    try:
        yield
    finally:
        src.release_archives()


def _bug(source: src.Source, exc: Exception) -> str:
    """The message of a file on which qostool failed unexpectedly (a bug, not the file's fault)."""
    error = QostoolError(
        f"{source.name}: qostool failed on this file ({type(exc).__name__}: {exc}); "
        "nothing from it was stored",
        hint="this is a bug in qostool: please report it, with the file's first lines if you "
        "can (run again with --debug for the traceback); the other files were ingested",
    )
    return str(error)


class _ContentHash:
    """A source's SHA-256 and size, the identity of its content in the catalog.

    Hashed before anything else when the catalog may hold that content already.
    When no ingested file ever had this file's size, it cannot: then it is
    hashed alongside the ingest (a large export is read twice at once, not one
    after the other), and the hash is needed only to commit.
    """

    def __init__(self, source: src.Source, store: Store, hasher: ThreadPoolExecutor) -> None:
        size = source.plain_size()
        self._later: Future[tuple[str, int]] | None = None
        self._now: tuple[str, int] | None = None
        if size is not None and not store.has_file_of_size(size):
            self._later = hasher.submit(source.sha256)
            self.size = size
        else:
            self._now = source.sha256()
            self.size = self._now[1]

    @property
    def known(self) -> str | None:
        """The hash if it is known before ingesting (else the content is new for sure)."""
        return self._now[0] if self._now else None

    def digest(self) -> str:
        """The hash (waiting for it when it is computed alongside)."""
        if self._now is None:
            assert self._later is not None
            self._now = self._later.result()
        return self._now[0]


def _ingest_source(
    source: src.Source,
    store: Store,
    options: IngestOptions,
    pseudonymiser: Pseudonymiser,
    progress: Progress | None,
    *,
    content: _ContentHash,
    stored: _StoredIds,
) -> FileReport:
    previous = store.find_file(content.known) if content.known else None
    if previous is not None and previous.rows_read > 0:
        return _already_ingested(source, previous, content.known)
    size = content.size
    kind = src.identify(source) if size > 0 else src.Kind.TEXT
    _check_header_row(source, kind, options)
    dialect, sheet, digest = None, None, content.digest
    header_row = 1
    if kind is src.Kind.PARQUET:
        header = src.parquet_columns(source)
    elif kind is src.Kind.WORKBOOK:
        sheet = wb.read_sheet(
            source,
            sheet=options.sheet,
            header_row=options.header_row,
            recognises=_recognises(options),
        )
        header = list(sheet.header) if sheet is not None and sheet.frame.height else []
        if sheet is not None:
            header_row = sheet.header_row
            digest = _sheet_digest(content.digest(), sheet.name)
            previous = store.find_file(digest())
            if previous is not None and previous.rows_read > 0:
                return _already_ingested(source, previous, digest(), sheet=sheet.name)
    else:
        dialect = src.sniff(source, encoding=options.encoding, delimiter=options.delimiter)
        header = list(dialect.header) if dialect else []
    bound = _bind(source, header, options, row=header_row) if header else None
    if bound is None:  # not recorded: nothing to store, and read again if it is ingested again
        report = FileReport(file=source.name, status="empty", sha256=digest())
        report.message = "no header and no rows" if sheet is None else "no rows below the header"
        return report
    ctx = _context(source, bound, options, store, pseudonymiser)
    ctx = dataclasses.replace(
        ctx, empty_is_null=dialect is not None, serial_dates=sheet is not None
    )
    mode = src.first_mode(source, dialect) if dialect else src.ReadMode.NUMBERED
    while True:
        batch = store.new_batch()
        report = FileReport(file=source.name, status="ingested", format=bound.spec.name)
        if sheet is not None:
            report.message = f"sheet {sheet.name!r}, header in row {sheet.header_row}"
        job = _FileJob(source, dialect, bound, ctx, report, digest, stored, sheet)
        try:
            _load(job, batch, options=options, mode=mode, progress=progress)
            break
        except src.ReadAgainError as again:
            # A faster reader met what it cannot read (see sources.ReadMode): start over.
            batch.abort()
            mode = again.mode
        except BaseException:
            batch.abort()
            raise
    report.sha256 = digest()
    if report.read == 0:  # a header and no rows: not recorded, as an empty file
        batch.abort()
        report.status, report.message = "empty", "a header and no rows"
        return report
    if previous is not None:  # recorded with no rows by an older version: recorded again
        store.forget_empty_file(previous.sha256)
    _commit(store, batch, source, report, size)
    return report


def _already_ingested(
    source: src.Source, previous: FileRecord, sha256: str | None, *, sheet: str | None = None
) -> FileReport:
    """The report of a file (or a workbook's sheet) whose content the catalog has."""
    which = f" (sheet {sheet!r})" if sheet is not None else ""
    return FileReport(
        file=source.name,
        status="already ingested",
        format=previous.format,
        sha256=sha256,
        message=f"same content as {previous.name}{which}, ingested {previous.ingested_at}",
    )


def _check_header_row(source: src.Source, kind: src.Kind, options: IngestOptions) -> None:
    """``--header-row`` is for workbooks: a CSV's or Parquet file's header is its first row."""
    if kind is src.Kind.WORKBOOK or options.header_row is None:
        return
    raise InputError(
        source.name,
        "--header-row applies to Excel workbooks only, and this is a "
        f"{'Parquet' if kind is src.Kind.PARQUET else 'CSV'} file, whose header is its "
        f"first row; {_NOTHING_STORED}",
        hint="ingest this file without --header-row (and workbooks with it, apart)",
    )


def _commit(store: Store, batch: Batch, source: src.Source, report: FileReport, size: int) -> None:
    assert report.sha256 is not None
    record = FileRecord(
        sha256=report.sha256,
        name=source.name,
        size=size,
        format=report.format,
        batch_id=batch.batch_id,
        ingested_at=datetime.now(UTC).isoformat(timespec="seconds"),
        rows_read=report.read,
        accepted=report.accepted,
        rejected=report.rejected,
        duplicates=report.duplicates,
        reasons=report.reasons,
        months=report.months,
    )
    crash_point("before-commit")
    batch.commit(record)


def _recognises(options: IngestOptions) -> wb.Recognises:
    """Whether a row of a workbook is a header of the format chosen (or of any format)."""
    if options.mapping is not None:
        spec: FormatSpec | None = options.mapping
    elif options.format is not None and options.format != GENERIC:
        spec = builtin(options.format)
    else:
        spec = None

    def recognises(header: Sequence[str]) -> bool:
        if spec is None:
            return detect(header) is not None
        return not spec.bind(header).missing

    return recognises


def _sheet_digest(file_digest: str, sheet: str) -> Callable[[], str]:
    """The identity of one sheet of a workbook in the catalog.

    The SHA-256 of the file's SHA-256 and the sheet's name: each sheet of a
    workbook is ingested (and recognised as already ingested) on its own.
    """
    identity = hashlib.sha256(f"{file_digest}!{sheet}".encode()).hexdigest()
    return lambda: identity


def _bind(
    source: src.Source, header: list[str], options: IngestOptions, *, row: int = 1
) -> BoundSpec:
    if options.mapping is not None:
        spec = options.mapping
    elif options.format is not None and options.format != GENERIC:
        spec = builtin(options.format)
    elif options.format == GENERIC:
        raise UsageError(
            "--format generic needs a column map",
            hint="give --mapping FILE.toml or --map field=Column options",
        )
    else:
        detected = detect(header)
        if detected is None:
            raise InputError(
                source.name,
                f"the format cannot be recognised from its header ({', '.join(header[:12])}"
                f"{', ...' if len(header) > 12 else ''})",
                row=row,
                hint="pass --format (ispeed, rtr, ookla, mlab), or describe the columns with "
                "--mapping FILE.toml or --map field=Column",
            )
        return detected
    bound = spec.bind(header)
    if bound.missing:
        wanted = {name: list(spec.fields[name].columns) for name in bound.missing}
        raise InputError(
            source.name,
            f"format {spec.name!r} needs columns that are not in the header: "
            + "; ".join(f"{name} (one of {cols})" for name, cols in wanted.items()),
            row=row,
            hint=f"the header has: {', '.join(header[:20])}. Choose another --format, "
            "or map the columns with --map field=Column",
        )
    return bound


def _context(
    source: src.Source,
    bound: BoundSpec,
    options: IngestOptions,
    store: Store,
    pseudonymiser: Pseudonymiser,
) -> Context:
    ctx = Context(
        timezone=store.timezone,
        now=options.now or datetime.now(UTC),
        pseudonymiser=pseudonymiser,
        decimal_comma=options.decimal == "comma",
        naive_timezone=options.naive_timezone,
    )
    if bound.spec.kind != "tiles":
        if options.network is not None:
            raise InputError(
                source.name,
                f"--network {options.network} applies to tile files only, and this is a "
                f"file of single tests (format {bound.spec.name!r}), whose rows say their own "
                "technology (Wi-Fi tests are kept apart from mobile ones); nothing from it "
                "was stored",
                hint="ingest this file without --network (and tile files with it, apart)",
            )
        return ctx
    network = tile_network(source.name, source.file_name, options.network)
    period, start = tile_period(source.file_name, options.period, store.timezone)
    return dataclasses.replace(
        ctx, period=period, period_start=start, tile_technology=NETWORKS[network]
    )


def tile_network(name: str, file_name: str, option: str | None) -> str:
    """Whether a tile file measures the ``mobile`` or the ``fixed`` network.

    Tile rows say nothing about it: a fixed file taken for a mobile one would
    add fixed-broadband tests to the mobile figures, unnoticed. So the file
    name (Ookla's own ``..._mobile_tiles``, ``..._fixed_tiles``) or ``--network``
    must say it; a file where neither does, or where they disagree, is refused.

    Parameters
    ----------
    name
        The source's full name, for messages (``archive.zip!member.parquet``).
    file_name
        The base name of the data, whose words are looked at.
    option
        ``--network``, or None.
    """
    said: set[str] = {str(found).lower() for found in _NETWORK_IN_NAME.findall(file_name)}
    named = next(iter(said)) if len(said) == 1 else None
    if option is not None:
        if named is not None and named != option:
            raise InputError(
                name,
                f"--network {option} contradicts the file name, which says {named}; "
                "nothing from it was stored",
                hint=f"check which network the file holds: drop --network if it is {named}, "
                f"or rename the file if it really holds {option} tiles",
            )
        return option
    if named is None:
        why = (
            "says both mobile and fixed"
            if said
            else "does not say whether its tiles are mobile or fixed"
        )
        raise InputError(
            name,
            f"is a tile file whose name {why}, and no --network was given; "
            "nothing from it was stored",
            hint=_NETWORK_HINT,
        )
    return named


def tile_period(file_name: str, option: str | None, timezone: str) -> tuple[str, datetime]:
    """The quarter of a tile file (``2024-Q4``) and its local start time.

    Taken from ``--period`` when given, else from the file name, as in Ookla's
    own names (``2024-10-01_performance_mobile_tiles.parquet``) or ``2024q4``.
    """
    text = option or file_name
    quarter = _QUARTER_IN_NAME.search(text)
    date = _DATE_IN_NAME.search(text)
    if quarter:
        year, q = int(quarter.group(1)), int(quarter.group(2))
    elif date and int(date.group(2)) in (1, 4, 7, 10):
        year, q = int(date.group(1)), (int(date.group(2)) - 1) // 3 + 1
    elif option:
        raise UsageError(
            f"--period {option!r}: expected a quarter like 2024-Q4 or its first day 2024-10-01"
        )
    else:
        raise InputError(
            file_name,
            "tile files carry no test times, and the quarter is not in the file name",
            hint="pass --period 2024-Q4 (or name the file like Ookla: "
            "2024-10-01_performance_mobile_tiles.parquet)",
        )
    start = datetime(year, 3 * (q - 1) + 1, 1, tzinfo=ZoneInfo(timezone))
    return f"{year}-Q{q}", start


@dataclass
class _FileJob:
    """Everything known about one source while it is being loaded."""

    source: src.Source
    dialect: src.Dialect | None
    """None for Parquet."""
    bound: BoundSpec
    ctx: Context
    report: FileReport
    digest: Callable[[], str]
    """The source's content hash (may wait for it): rejected rows carry it."""
    stored: _StoredIds
    sheet: wb.Sheet | None = None
    """The sheet read, for a workbook."""

    def batches(self, *, mode: src.ReadMode, ragged: src.Ragged) -> Iterator[pl.DataFrame]:
        if self.sheet is not None:
            return self.sheet.batches()
        if self.dialect is None:
            return src.read_parquet(self.source)
        return src.read_csv(self.source, self.dialect, mode=mode, ragged=ragged)


@dataclass
class _Rows:
    """Rows of one file on their way to staged Parquet parts, with their accounting."""

    job: _FileJob
    batch: Batch
    writer: ThreadPoolExecutor
    accepted: list[pl.DataFrame] = field(default_factory=list)
    rejected: list[pl.DataFrame] = field(default_factory=list)
    id_hashes: list[pl.DataFrame] = field(default_factory=list)
    """``month`` and ``hash`` (of the test id) of the accepted rows, in file order."""
    reasons: Counter[str] = field(default_factory=Counter)
    writes: list[Future[None]] = field(default_factory=list)
    pending: int = 0
    pending_bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Ragged rows are added from the reader's parsing (see :class:`sources.Ragged`)."""

    def add(self, raw: pl.DataFrame, canon: pl.DataFrame) -> None:
        """Split a normalised batch into accepted and rejected rows, and count them."""
        bad = canon[REASON].is_not_null()
        rejects = _rejects(raw.filter(bad), canon.filter(bad), self.job) if bad.any() else None
        good = canon.filter(~bad).select(list(SCHEMA))
        with self.lock:
            if rejects is not None:
                self._add_rejects(rejects)
            self.accepted.append(good)
            self.id_hashes.append(good.select("month", hash=pl.col("test_id").hash(seed=0)))
            self._count(raw.height, int(good.estimated_size()))

    def add_ragged(self, rejects: pl.DataFrame) -> None:
        """Add rejects of rows the reader skipped (not in any batch: counted as read here)."""
        with self.lock:
            self._add_rejects(rejects)
            self._count(rejects.height, 0)

    def _add_rejects(self, rejects: pl.DataFrame) -> None:
        self.reasons.update(rejects["reason"].to_list())
        self.rejected.append(rejects)
        self.pending_bytes += int(rejects.estimated_size())

    def _count(self, read: int, size: int) -> None:
        self.job.report.read += read
        self.pending += read
        self.pending_bytes += size
        if self.pending >= FLUSH_ROWS or self.pending_bytes >= FLUSH_BYTES:
            self.flush(wait=False)

    def flush(self, *, wait: bool) -> None:
        """Hand the rows gathered so far to the writer thread (and wait for all writes).

        At most :data:`_QUEUED_WRITES` writes wait for the writer: rows are not
        gathered faster than they are written.
        """
        args = (self.batch, self.accepted, self.rejected, self.job.digest)
        self.writes.append(self.writer.submit(_flush, *args))
        self.accepted, self.rejected, self.pending, self.pending_bytes = [], [], 0, 0
        waited = self.writes if wait else self.writes[:-_QUEUED_WRITES]
        for write in waited:
            write.result()  # re-raises a failed write
        self.writes = [] if wait else self.writes[-_QUEUED_WRITES:]


def _load(
    job: _FileJob,
    batch: Batch,
    *,
    options: IngestOptions,
    mode: src.ReadMode,
    progress: Progress | None,
) -> None:
    report = job.report
    decided = False

    def decide(raw: pl.DataFrame) -> None:
        """The first rows read decide the decimal mark and time formats of the file."""
        nonlocal decided
        if not decided:
            job.ctx = _decide_from_sample(raw, job.bound, job.ctx, options)
            decided = True

    # Batches are normalised two at a time (Polars releases the GIL) while this
    # thread reads the next one and another writes finished rows to Parquet (one
    # writer, so parts keep the file's order: the first occurrence of a test wins).
    inflight: deque[tuple[pl.DataFrame, Future[pl.DataFrame]]] = deque()
    with (
        ThreadPoolExecutor(max_workers=_WORKERS) as pool,
        ThreadPoolExecutor(max_workers=1) as writer,
    ):
        rows = _Rows(job, batch, writer)

        def drain(chunk: list[src.RaggedRow]) -> None:
            """Rows the reader skipped, as they come: reread, or rejected as short or long."""
            assert job.dialect is not None
            still = src.Ragged()
            # Lines of a record opened by a stray quote: rows again.
            for lines in src.reread_ragged(chunk, job.dialect, still):
                decide(lines)
                rows.add(lines, canonicalise(lines, job.bound, job.ctx))
            if still.rows:
                rows.add_ragged(_ragged_rejects(still.rows, job))

        ragged = src.Ragged(
            sink=drain, chunk_rows=src.RAGGED_CHUNK_ROWS, chunk_bytes=src.RAGGED_CHUNK_BYTES
        )

        def collect(keep: int) -> None:
            """Take finished batches in order, leaving at most ``keep`` in flight."""
            while len(inflight) > keep or (inflight and inflight[0][1].done()):
                raw_done, work = inflight.popleft()
                rows.add(raw_done, work.result())
                if progress:
                    progress(job.source.name, report.read)

        try:
            for raw in job.batches(mode=mode, ragged=ragged):
                decide(raw)
                inflight.append((raw, pool.submit(canonicalise, raw, job.bound, job.ctx)))
                collect(keep=_WORKERS)
            collect(keep=0)
        finally:
            for _, work in inflight:
                work.cancel()
        ragged.flush()
        rows.flush(wait=True)
    report.rejected = sum(rows.reasons.values())
    report.reasons = dict(rows.reasons)
    report.duplicates = _drop_duplicates(batch, batch.store, rows.id_hashes, job.stored)
    report.accepted = report.read - report.rejected - report.duplicates
    report.months = sorted({p.month for p in batch.parts if p.kind == "tests" and p.month})


def _decide_from_sample(
    raw: pl.DataFrame, bound: BoundSpec, ctx: Context, options: IngestOptions
) -> Context:
    """Decimal mark and timestamp formats of a file, from its first rows."""
    time_column = bound.columns.get("measured_at")
    if time_column is not None and raw.schema[time_column] == pl.String:
        ctx = dataclasses.replace(ctx, time_formats=nz.time_formats_for(raw[time_column]))
    if options.decimal != "auto":
        return ctx
    # Each value whose decimal mark is certain votes (see normalize.decimal_mark_votes):
    # the mark of most of them wins, so a few odd values cannot switch the whole file.
    votes = []
    for name in ("download_mbps", "upload_mbps", "latency_ms", "lat", "lon"):
        column = bound.columns.get(name)
        if column is not None and raw.schema[column] == pl.String:
            values = raw[column].head(_DECIMAL_SAMPLE_ROWS)
            votes.append(nz.decimal_mark_votes(values, coordinate=name in ("lat", "lon")))
    if nz.is_decimal_comma(votes):
        return dataclasses.replace(ctx, decimal_comma=True)
    return ctx


def _flush(
    batch: Batch,
    accepted: list[pl.DataFrame],
    rejected: list[pl.DataFrame],
    digest: Callable[[], str],
) -> None:
    """Write accepted rows (one part per month) and rejects as staged Parquet parts."""
    if accepted:
        # A filter per month, not partition_by: nearly all rows of an export are in one
        # or two months, and partition_by gathers every row anew (0.12 CPU-s a million
        # rows, a fifth of the write); a month that holds all the rows is written as it is.
        frame = pl.concat(accepted)
        months = frame["month"].unique(maintain_order=True)
        for month in months:
            part = frame if months.len() == 1 else frame.filter(pl.col("month").eq_missing(month))
            batch.write_part("tests", part, month=str(month))
    if rejected:
        rejects = pl.concat(rejected).with_columns(file_sha256=pl.lit(digest(), pl.String))
        batch.write_part("rejects", rejects)


def _rejects(raw: pl.DataFrame, canon: pl.DataFrame, job: _FileJob) -> pl.DataFrame:
    """Rejected rows: where, why, and the original values (identifiers pseudonymised)."""
    original = raw.drop(src.ROW_COLUMN, TOTALS_COLUMN, strict=False)
    hidden = [c for c in original.columns if is_sensitive(c, job.bound)]
    if hidden:
        original = original.with_columns(job.ctx.pseudonymiser.text(original[c]) for c in hidden)
    encoded = original.select(pl.struct(pl.all()).struct.json_encode().alias("original"))
    return pl.DataFrame(
        {
            "file": pl.repeat(job.source.name, raw.height, eager=True),
            "file_sha256": pl.repeat(None, raw.height, eager=True, dtype=pl.String),  # at flush
            "row": raw[src.ROW_COLUMN].cast(pl.Int64),
            "reason": canon[REASON],
            "detail": canon.select(
                detail_expr(job.bound, job.ctx, totals=TOTALS_COLUMN in canon.columns)
            ).to_series(),
            "original": encoded["original"],
        }
    )


def _ragged_rejects(ragged: list[src.RaggedRow], job: _FileJob) -> pl.DataFrame:
    """Rows with too few or too many fields, split by the delimiter as far as they go."""
    from qostool.ingest.canonical import ragged_originals

    dialect, bound = job.dialect, job.bound
    assert dialect is not None
    split = [src.split_fields(text, dialect.delimiter) for _, text, _, _ in ragged]
    # Shifted values: an identifier may be in any column, or in the extra fields.
    pseudonymise = job.ctx.pseudonymiser.unremembered
    originals = ragged_originals(dialect.header, split, bound, pseudonymise)
    short, long = Reason.SHORT_ROW.value, Reason.LONG_ROW.value
    return pl.DataFrame(
        {
            "file": [job.source.name] * len(ragged),
            "file_sha256": [None] * len(ragged),  # filled in at flush
            "row": [number for number, _, _, _ in ragged],
            "reason": [short if actual < expected else long for _, _, expected, actual in ragged],
            "detail": [
                f"{actual} fields where the header has {expected}"
                for _, _, expected, actual in ragged
            ],
            "original": [json.dumps(original, ensure_ascii=False) for original in originals],
        },
        schema=REJECT_SCHEMA,
    )


def _adjacent_months(months: set[str]) -> list[str]:
    return sorted({shift_month(month, delta) for month in months for delta in (-1, 0, 1)})


class _StoredIds:
    """64-bit hashes of the test ids stored in each month, for one ingest call.

    Each month's parts are read once, and the ids of each file ingested are added
    (all of them: more hashes only send a file to the exact comparison), so a file
    whose ids hash like no stored one needs no stored part read again: an archive
    of many members is ingested in time linear in their number.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._months: dict[str, list[pl.Series]] = {}
        self._added: list[pl.DataFrame] = []
        """Files' ids not yet split by month: split when a next file asks (the last
        file's never are, a tenth of a second at 5 million rows)."""

    def clash(self, months: list[str], hashes: pl.Series) -> bool:
        """Whether any of ``hashes`` is among the stored ids' hashes of ``months``.

        The lookup set is made of ``hashes`` (one file's), and the stored hashes are
        looked up in it a month's series at a time: a month of 100 million stored tests
        is never copied into one series, nor made into a hash set (gigabytes).
        """
        self._split_added()
        missing = [month for month in months if month not in self._months]
        if missing:
            ids = self._store.scan_tests(missing).select(
                "month", hash=pl.col("test_id").hash(seed=0)
            )
            found = ids.collect().partition_by("month", as_dict=True)
            for month in missing:
                frame = found.get((month,))
                self._months[month] = [] if frame is None else [frame["hash"]]
        wanted = hashes.implode()
        return any(
            bool(known.is_in(wanted).any()) for month in months for known in self._months[month]
        )

    def add(self, id_hashes: pl.DataFrame) -> None:
        """Ids of a file being stored (``month``, ``hash``)."""
        self._added.append(id_hashes)

    def _split_added(self) -> None:
        """The added ids, in the months already read (others are read from the store later)."""
        for id_hashes in self._added:
            for (month,), frame in id_hashes.partition_by("month", as_dict=True).items():
                if month in self._months:
                    self._months[str(month)].append(frame["hash"])
        self._added = []


def _drop_duplicates(
    batch: Batch, store: Store, id_hashes: list[pl.DataFrame], stored: _StoredIds
) -> int:
    """Drop test ids repeated in this batch or already stored; return how many.

    ``id_hashes`` are 64-bit hashes of the accepted test ids, in file order:
    when none repeats and none is among the stored ids' (``stored``), no id
    repeats, and no part need be read (a repeated hash may be a collision: then
    the ids themselves are compared).
    """
    parts = [p for p in batch.parts if p.kind == "tests"]
    if not parts:
        return 0
    months = {p.month for p in parts if p.month}
    nearby = _adjacent_months(months)
    new = pl.concat(id_hashes)
    hashes = new["hash"]
    clash = stored.clash(nearby, hashes)
    stored.add(new)
    if not clash and hashes.n_unique() == hashes.len():  # much cheaper than is_duplicated
        return 0
    stored_nearby = bool(store.part_paths("tests", nearby))
    ids = pl.concat(
        [
            pl.scan_parquet(p.staged)
            .select("test_id")
            .with_columns(part=pl.lit(i), pos=pl.int_range(pl.len()))
            for i, p in enumerate(parts)
        ]
    )
    drop_if = ~pl.col("test_id").is_first_distinct()
    if stored_nearby:
        stored_ids = store.scan_tests(nearby).select("test_id").collect()["test_id"]
        drop_if = drop_if | pl.col("test_id").is_in(stored_ids.implode())
    drop = ids.filter(drop_if).select("part", "pos").collect()
    if drop.is_empty():
        return 0
    for (i,), positions in drop.partition_by("part", as_dict=True).items():
        part = parts[int(i)]
        frame = pl.read_parquet(part.staged)
        keep = frame.with_row_index("__pos").filter(
            ~pl.col("__pos").is_in(positions["pos"].cast(pl.UInt32).implode())
        )
        batch.rewrite_part(part, conform(keep.drop("__pos")))
    return drop.height
