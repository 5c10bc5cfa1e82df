"""Finding input files and reading them as a stream of raw batches.

Handles what real exports look like: gzip and zip compression, UTF-8 with or
without BOM, UTF-16, legacy single-byte encodings, ``,`` ``;`` tab or ``|``
delimiters, quoted fields, ragged rows, empty and header-only files, and
Parquet. Every value of a CSV is read as text, so no row is lost to a type
guess: turning texts into numbers and times is the normaliser's job.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import enum
import glob
import gzip
import hashlib
import io
import re
import threading
import zipfile
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

import polars as pl

from qostool.errors import InputError, UsageError

if TYPE_CHECKING:  # imported where used: plain UTF-8 CSV files are read without them
    import numpy as np
    import pyarrow.csv as pacsv

#: Workbooks calamine reads (Excel 2007+, with macros, binary, Excel 97-2003; OpenDocument).
WORKBOOK_SUFFIXES: Final = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
DATA_SUFFIXES: Final = (
    ".csv", ".tsv", ".txt", ".parquet", ".pq", ".gz", ".zip", *WORKBOOK_SUFFIXES
)  # fmt: skip
#: What ingest reads, for messages about files it does not.
SUPPORTED: Final = "supported: CSV, Parquet, Excel, gzip/zip of them"
_SAMPLE_BYTES: Final = 64 * 1024
#: The sniffer reads up to this much to find the end of the header line (and one row).
_FIRST_LINES_MAX_BYTES: Final = 16 << 20
_BLOCK_BYTES: Final = 16 << 20
_PARQUET_BATCH_ROWS: Final = 250_000
_DELIMITERS: Final = (",", ";", "\t", "|")
ROW_COLUMN: Final = "__row"
#: Archives are read inside archives this deep (a zip in a zip), and no deeper.
_MAX_ARCHIVE_DEPTH: Final = 2
_ZIP_MAGIC: Final = b"PK\x03\x04"
_GZIP_MAGIC: Final = b"\x1f\x8b"
_NOTHING_STORED: Final = "nothing from it was stored"
_TAIL_BYTES: Final = 16


@dataclass(frozen=True)
class Source:
    """One input: a file, or one member of a zip archive (perhaps in another archive)."""

    path: Path
    member: str | None = None
    inner: tuple[str, ...] = ()
    """Members of archives inside ``member``, outermost first (``b.zip!in.csv``)."""
    problem: str | None = None
    """Why this input cannot be read at all, found while listing it (a damaged archive)."""
    hint: str | None = None

    @property
    def members(self) -> tuple[str, ...]:
        """The archive members to open, one inside the other, to reach the data."""
        return (self.member, *self.inner) if self.member is not None else ()

    @property
    def name(self) -> str:
        return "!".join([str(self.path), *self.members])

    @property
    def file_name(self) -> str:
        """The base name of the data (the innermost member's, inside an archive)."""
        return Path(self.members[-1]).name if self.members else self.path.name

    def check(self) -> None:
        """Raise the :class:`InputError` of a source found unreadable while listing it."""
        if self.problem is not None:
            raise InputError(self.name, self.problem, hint=self.hint)

    def open(self) -> IO[bytes]:
        """The decompressed content as a binary stream.

        Archive members are read as streams, never extracted; gzip is recognised
        from the content. An error of the underlying data (truncated, damaged,
        encrypted, a compression method that cannot be read), when opening or
        while reading, is raised as an :class:`InputError` naming this source.
        """
        self.check()
        layers: list[IO[bytes]] = []
        try:
            if self.member is None:
                stream: IO[bytes] = self.path.open("rb")
            else:  # the archive's directory is read once for all its members
                stream = _archive(self.path).open(self.member)
            layers.append(stream)
            for member in self.inner:
                # The archive does not own ``stream``: the member's closing is enough.
                stream = zipfile.ZipFile(stream).open(member)  # noqa: SIM115
                layers.append(stream)
            if _peek(stream, 2) == _GZIP_MAGIC:
                stream = gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[assignment]
                layers.append(stream)
        except Exception as exc:
            for layer in reversed(layers):
                layer.close()
            raise unreadable(self, exc) from None
        return _Guarded(self, layers)  # type: ignore[return-value]

    @property
    def is_plain(self) -> bool:
        """Whether the content is the file itself (not compressed or archived)."""
        return self.member is None and not _is_gzip(self)

    def plain_size(self) -> int | None:
        """The size of the content when it is the file itself."""
        if not self.is_plain:
            return None
        try:
            return self.path.stat().st_size
        except OSError as exc:
            raise unreadable(self, exc) from None

    def sha256(self) -> tuple[str, int]:
        """Content hash of the decompressed data, and its size in bytes."""
        digest = hashlib.sha256()
        size = 0
        with self.open() as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest(), size


_archive_lock: Final = threading.RLock()
_open_archives: dict[Path, tuple[tuple[int, int], zipfile.ZipFile]] = {}


def _archive(path: Path) -> zipfile.ZipFile:
    """The zip archive at ``path``, opened once while it is unchanged.

    Opening an archive reads its whole directory: opened again for each member,
    an archive of n members cost n times n entries read. The last archive opened
    is kept; its members are read each with its own position, and a member still
    open keeps the file open when the archive is released.
    """
    stat = path.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    with _archive_lock:
        kept = _open_archives.get(path)
        if kept is not None and kept[0] == version:
            return kept[1]
        release_archives()
        archive = zipfile.ZipFile(path)
        _open_archives[path] = (version, archive)
        return archive


def release_archives() -> None:
    """Close the archives kept open by :func:`_archive` (at the end of an ingest)."""
    with _archive_lock:
        while _open_archives:
            _, (_, archive) = _open_archives.popitem()
            archive.close()


def _peek(stream: IO[bytes], size: int) -> bytes:
    """The first ``size`` bytes of a stream that has not been read yet, left unread."""
    peek = getattr(stream, "peek", None)
    if peek is not None:
        head: bytes = peek(size)[:size]
        if len(head) == size:
            return head
    head = stream.read(size)
    stream.seek(0)
    return head


def unreadable(source: Source, exc: BaseException) -> InputError:
    """The :class:`InputError` for an error met opening or reading ``source``'s bytes."""
    if isinstance(exc, InputError):
        return exc
    detail = str(exc) or type(exc).__name__
    again = "copy the complete file again; it is read again by the next ingest"
    if isinstance(exc, EOFError):
        what = "is truncated: its compressed data ends too early (still being copied?)"
        hint = again
    elif isinstance(exc, RuntimeError) and "encrypted" in detail:
        what = "is encrypted (the zip archive has a password)"
        hint = "unzip it with its password, then ingest the files it holds"
    elif isinstance(exc, NotImplementedError):
        what = f"is compressed with a compression method that cannot be read ({detail})"
        hint = "unzip it with another tool (e.g. 7-Zip), then ingest the files it holds"
    elif isinstance(exc, zipfile.BadZipFile) and not source.members:
        what = f"is not a readable zip archive ({detail})"
        hint = (
            "copy the complete file again (a zip archive cut short has no directory); "
            "it is read again by the next ingest"
        )
    elif isinstance(exc, zipfile.BadZipFile | zlib.error | gzip.BadGzipFile):
        what = f"is damaged: its compressed data cannot be read ({detail})"
        hint = again
    elif isinstance(exc, OSError):
        what = f"cannot be read ({exc.strerror or detail})"
        hint = "check that the file exists and that you may read it, then ingest it again"
    else:
        what = f"is damaged: its compressed data cannot be read ({type(exc).__name__}: {detail})"
        hint = again
    return InputError(source.name, f"{what}; {_NOTHING_STORED}", hint=hint)


class _Guarded(io.RawIOBase):
    """The innermost stream of a source, with errors of its data as :class:`InputError`.

    Closing it closes every layer (the file, the archive members, the decompressor).
    """

    def __init__(self, source: Source, layers: list[IO[bytes]]) -> None:
        self._source = source
        self._layers = layers
        self._inner = layers[-1]
        self.tail = b""
        """The last bytes read (the end of the content, once it is read to its end)."""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            data = self._inner.read(-1 if size is None else size)
        except Exception as exc:
            raise unreadable(self._source, exc) from None
        if data:
            self.tail = (self.tail + data[-_TAIL_BYTES:])[-_TAIL_BYTES:]
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seekable(self) -> bool:
        return self._inner.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        try:
            return self._inner.seek(offset, whence)
        except Exception as exc:
            raise unreadable(self._source, exc) from None

    def tell(self) -> int:
        return self._inner.tell()

    def close(self) -> None:
        if not self.closed:
            for layer in reversed(self._layers):
                layer.close()
        super().close()


def expand(inputs: list[str]) -> list[Source]:
    """Files, folders (searched recursively for data files) and glob patterns -> sources.

    A damaged archive is not an error here: it becomes a source that fails alone
    when it is ingested (see :attr:`Source.problem`).
    """
    sources: list[Source] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.name.lower().endswith(DATA_SUFFIXES) and not _is_hidden(p.name)
            )
        elif path.exists():
            files = [path]
        elif glob.has_magic(item):
            files = sorted(
                Path(p)
                for p in glob.glob(item, recursive=True)  # noqa: PTH207
                if Path(p).is_file()
            )
            if not files:
                raise UsageError(f"{item}: no file matches this pattern")
        else:
            raise UsageError(f"{item}: no such file or folder", hint="check the path")
        try:
            for file in files:
                sources.extend(_members(Source(file)))
        finally:
            release_archives()
    return sources


def _is_hidden(name: str) -> bool:
    """Hidden files, and the lock file (``~$book.xlsx``) Excel keeps beside an open workbook."""
    return name.startswith((".", "~$"))


def _members(archive: Source) -> list[Source]:
    """``archive`` itself when it is not a zip archive, else its data members (recursively)."""
    try:
        with archive.open() as stream:
            if stream.read(4) != _ZIP_MAGIC:
                return [archive]
    except InputError as exc:
        if archive.members:  # a member that cannot be opened fails alone when ingested
            return [archive]
        return [_failing(archive, exc)]
    try:
        with archive.open() as stream, zipfile.ZipFile(stream) as opened:
            if _document(opened.namelist()) is not None:
                return [archive]  # a workbook (or another document): see identify()
            if len(archive.members) >= _MAX_ARCHIVE_DEPTH:
                return [
                    dataclasses.replace(
                        archive,
                        problem="is a zip archive nested too deep (archives inside a zip "
                        "archive are read, but not archives inside those)",
                        hint="unzip it, then ingest the files it holds",
                    )
                ]
            everything = [n for n in opened.namelist() if not n.endswith("/")]
            names = sorted(
                n
                for n in opened.namelist()
                if not n.endswith("/")
                and n.lower().endswith(DATA_SUFFIXES)
                and not _is_hidden(Path(n).name)
            )
            archives = {name for name in names if _is_zip_member(opened, name)}
    except Exception as exc:
        return [_failing(archive, unreadable(archive, exc))]
    if not names:
        held = ", ".join(Path(n).name for n in everything[:5]) + (
            ", ..." if len(everything) > 5 else ""
        )
        return [
            dataclasses.replace(
                archive,
                problem="is not a speed-test export (a zip archive that holds no CSV, Parquet "
                f"or Excel file{': ' + held if held else ''}); {SUPPORTED}",
                hint=f"put the exports ({', '.join(DATA_SUFFIXES)}) in the archive",
            )
        ]
    found: list[Source] = []
    for name in names:
        if archive.member is None:
            member = Source(archive.path, name)
        else:
            member = dataclasses.replace(archive, inner=(*archive.inner, name))
        found.extend(_members(member) if name in archives else [member])
    return found


def _is_zip_member(archive: zipfile.ZipFile, name: str) -> bool:
    """Whether a member is itself a zip archive (False when it cannot be opened)."""
    try:
        with archive.open(name) as member:
            return member.read(4) == _ZIP_MAGIC
    except Exception:
        return False  # it fails alone, with its reason, when it is ingested


def _failing(source: Source, error: InputError) -> Source:
    """``source``, marked to fail with ``error`` when it is ingested."""
    prefix = f"{error.path}: "
    message = error.message[len(prefix) :] if error.message.startswith(prefix) else error.message
    return dataclasses.replace(source, problem=message, hint=error.hint)


# -- what a file is --------------------------------------------------------------------


class Kind(enum.Enum):
    """What a source holds, as far as ingest is concerned."""

    TEXT = "text"
    """CSV (or an empty file): read by :func:`read_csv`."""
    PARQUET = "parquet"
    WORKBOOK = "workbook"
    """An Excel (or OpenDocument) workbook: read by :mod:`qostool.ingest.workbook`."""


_OLE2_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: Leading bytes of files that are certainly no export, and what they are.
_SIGNATURES: Final = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"{\\rtf", "an RTF document"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "a program"),
)
_SHAPE_MAGIC: Final = b"\x00\x00\x27\x0a"
#: Bytes no text file holds (C0 controls but tab, LF, CR, form feed and escape).
_CONTROL_BYTES: Final = frozenset(range(32)) - {9, 10, 12, 13, 27}


def _document(names: list[str]) -> str | None:
    """What an office document stored as a zip archive is (None: a plain zip archive).

    ``workbook`` for the workbooks ingest reads, else what it looks like.
    """
    listed = set(names)
    if "xl/workbook.xml" in listed or "xl/workbook.bin" in listed:
        return "workbook"
    if "[Content_Types].xml" in listed:
        if any(n.startswith("word/") for n in listed):
            return "a Word document"
        if any(n.startswith("ppt/") for n in listed):
            return "a PowerPoint presentation"
        return "an Office document"
    if "mimetype" in listed:
        return "an OpenDocument file"  # its mimetype says which: see _open_document
    return None


def not_an_export(source: Source, looks_like: str, hint: str | None = None) -> InputError:
    """The error of a file that is no speed-test export, saying what it looks like."""
    return InputError(
        source.name,
        f"is not a speed-test export (looks like {looks_like}); {SUPPORTED}",
        hint=hint
        or "ingest the CSV, Parquet or Excel export itself (a folder is searched for "
        f"{', '.join(DATA_SUFFIXES)} files)",
    )


def identify(source: Source) -> Kind:
    """What ``source`` holds, from its content (never its name).

    Raises an :class:`InputError` saying what the file looks like when it is
    no export at all (a PDF, an image, a Word document, GeoJSON, binary data),
    rather than letting it be read as a CSV whose header is ``{`` or binary.
    """
    with source.open() as stream:
        head = stream.read(_SAMPLE_BYTES)
    if head.startswith(b"PAR1"):
        return Kind.PARQUET
    if head.startswith(_ZIP_MAGIC):
        what = _zip_document(source)
        if what == "workbook":
            return Kind.WORKBOOK
        raise not_an_export(source, what or "a zip archive")
    if head.startswith(_OLE2_MAGIC):
        from qostool.ingest.workbook import is_workbook

        if is_workbook(source):  # Excel 97-2003 (.xls)
            return Kind.WORKBOOK
        raise not_an_export(source, "an old Microsoft Office document (Word .doc, ...)")
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            raise not_an_export(source, what)
    if head.startswith(_SHAPE_MAGIC) and len(head) >= 100:
        raise not_an_export(
            source,
            "a Shapefile",
            hint="commune boundaries are imported with 'qostool boundaries import'",
        )
    _check_text(source, head)
    return Kind.TEXT


def _zip_document(source: Source) -> str | None:
    """What a zip-wrapped document is (see :func:`_document`), its OpenDocument kind read."""
    try:
        with source.open() as stream, zipfile.ZipFile(stream) as opened:
            what = _document(opened.namelist())
            if what == "an OpenDocument file":
                mimetype = opened.read("mimetype").decode("ascii", "replace")
                if mimetype.endswith("opendocument.spreadsheet"):
                    return "workbook"
                if mimetype.endswith("opendocument.text"):
                    return "an OpenDocument text (.odt)"
            return what
    except InputError:
        raise
    except Exception as exc:
        raise unreadable(source, exc) from None


def _check_text(source: Source, head: bytes) -> None:
    """Raise for content that is no CSV: JSON or GeoJSON, HTML or XML, binary data."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] == b"{" or re.match(rb"\[\s*[\[{\]\"0-9]", text[:64]):
        _check_json(source, text)
    lowered = text[:256].lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        raise not_an_export(source, "a web page (HTML)")
    if lowered.startswith(b"<?xml") or (lowered.startswith(b"<") and b">" in lowered):
        raise not_an_export(source, "an XML file")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)):
        return  # UTF-16 text: its NUL bytes are half of its characters
    sample = head[:4096]
    zeros = sample.count(0)
    if zeros > len(sample) // 4 and (
        sample[0::2].count(0) > 0.9 * zeros or sample[1::2].count(0) > 0.9 * zeros
    ):
        return  # UTF-16 without BOM: the NUL bytes on one side
    controls = sum(sample.count(byte) for byte in _CONTROL_BYTES)
    if sample and controls > max(2, len(sample) // 100):
        raise not_an_export(source, "binary data, not text")


def _check_json(source: Source, text: bytes) -> None:
    """Raise for JSON and GeoJSON (tiles from Ookla's GeoJSON get a hint of their own)."""
    squeezed = re.sub(rb"\s+", b"", text[:_SAMPLE_BYTES])
    if b'"FeatureCollection"' in squeezed or b'"geometry":' in squeezed:
        if b'"quadkey"' in squeezed and b'"avg_d_kbps"' in squeezed:
            raise not_an_export(
                source,
                "a GeoJSON of Ookla tiles",
                hint="ingest Ookla's Parquet files of the same tiles "
                "(e.g. 2025-10-01_performance_mobile_tiles.parquet): they hold the same "
                "columns, and each tile is placed at the centre of its quadkey",
            )
        raise not_an_export(
            source,
            "a GeoJSON map",
            hint="commune boundaries are imported with 'qostool boundaries import'; "
            "speed tests are ingested from CSV, Parquet or Excel exports",
        )
    raise not_an_export(source, "JSON")


# -- CSV dialect ---------------------------------------------------------------------


@dataclass(frozen=True)
class Dialect:
    """How a text file is written."""

    encoding: str
    delimiter: str
    header: tuple[str, ...]
    bare_cr: bool = False
    """Lines end with a carriage return alone (Excel's "CSV (Macintosh)"), at least some."""


_LINE_BREAK: Final = re.compile(r"\r\n|\r|\n")
_BARE_CR: Final = re.compile(r"\r(?!\n)")


def sniff(source: Source, *, encoding: str | None, delimiter: str | None) -> Dialect | None:
    """Encoding, delimiter and header of a CSV source; None for an empty file."""
    sample, whole = _first_lines(source)
    if not sample.strip():
        return None
    enc = encoding or _guess_encoding(source, sample)
    try:
        decoder = codecs.getincrementaldecoder(_python_codec(enc))(errors="strict")
        text = decoder.decode(sample, final=whole)
    except (UnicodeDecodeError, LookupError) as exc:
        raise InputError(
            source.name,
            f"cannot be decoded as {enc} ({exc})",
            hint=_encoding_hint(sample),
        ) from None
    text = text.lstrip("\ufeff")
    pieces = _LINE_BREAK.split(text)
    if not whole:
        pieces = pieces[:-1]  # the last line of a sample may be cut
    lines = [line for line in pieces if line.strip()][:50]
    if not lines:
        raise _first_line_too_long(source)
    sep = delimiter or _guess_delimiter(lines)
    try:
        header = next(csv.reader(lines, delimiter=sep))
    except csv.Error as exc:
        raise InputError(
            source.name,
            f"the header cannot be read as CSV ({exc})",
            row=1,
            hint="check the quotes of the first row",
        ) from None
    header = [h.strip() for h in header]
    if any(not h for h in header):
        blank = header.index("") + 1
        raise InputError(
            source.name,
            f"header column {blank} has no name",
            row=1,
            hint="give every column a name in the first row",
        )
    return Dialect(
        encoding=enc,
        delimiter=sep,
        header=distinct_names(header),
        bare_cr=_BARE_CR.search(text) is not None,
    )


def _first_lines(source: Source) -> tuple[bytes, bool]:
    """The first bytes of a source, enough for its header line and a row or more.

    64 kB, or more when the header is longer (read in doubling steps, up to
    16 MB: a first line longer than that is not a header). Also whether that
    is the whole content.
    """
    with source.open() as stream:
        sample = stream.read(_SAMPLE_BYTES)
        whole = len(sample) < _SAMPLE_BYTES
        while not whole and max(sample.count(b"\n"), sample.count(b"\r")) < 2:
            if len(sample) >= _FIRST_LINES_MAX_BYTES:
                raise _first_line_too_long(source)
            more = stream.read(len(sample))
            whole = len(more) < len(sample)
            sample += more
    return sample, whole


def _first_line_too_long(source: Source) -> InputError:
    return InputError(
        source.name,
        f"the first line (the header) is longer than {_FIRST_LINES_MAX_BYTES >> 20} MB; "
        f"{_NOTHING_STORED}",
        hint="check that this is a CSV export: lines must end with a line break (LF, CR LF or CR)",
    )


def distinct_names(header: list[str]) -> tuple[str, ...]:
    """Column names made distinct: a repeated name gets ``~2``, ``~3``... (the first keeps it).

    :data:`ROW_COLUMN`, the row number the readers add, counts as taken before the
    first column: a column of that name is read as ``__row~2``.
    """
    taken = set(header)  # a suffixed name must not take a later column's own name
    seen: set[str] = {ROW_COLUMN}
    names = []
    for name in header:
        unique, copy = name, 1
        while unique in seen or (unique != name and unique in taken):
            copy += 1
            unique = f"{name}~{copy}"
        seen.add(unique)
        names.append(unique)
    return tuple(names)


def _python_codec(encoding: str) -> str:
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def _guess_encoding(source: Source, sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    head = sample[:200]
    if head and head.count(0) > len(head) // 4:
        return "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample)
    except UnicodeDecodeError as exc:
        raise InputError(
            source.name,
            f"is not UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start})",
            hint=_encoding_hint(sample),
        ) from None
    return "utf-8"


def _encoding_hint(sample: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    guess = f"it looks like {best.encoding}; " if best is not None else ""
    return (
        f"{guess}pass the file's encoding with --encoding, e.g. --encoding cp1258 "
        "(Windows Vietnamese), --encoding cp1252 or --encoding utf-16"
    )


def _guess_delimiter(lines: list[str]) -> str:
    best, best_fields = ",", 1
    for sep in _DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=sep)]
        except csv.Error:  # a field longer than csv's limit: a stray quote with this delimiter
            continue
        if not counts:
            continue
        width = counts[0]
        consistent = sum(c == width for c in counts) >= max(1, int(0.8 * len(counts)))
        if width > best_fields and consistent:
            best, best_fields = sep, width
    return best


# -- reading -------------------------------------------------------------------------


class ReadMode(enum.Enum):
    """Ways of reading a CSV source, fastest first; each reads what the one before cannot."""

    POLARS = "polars"
    """Polars' streaming reader: plain UTF-8 files whose every row is whole."""
    THREADED = "threaded"
    """PyArrow's multi-threaded reader: any encoding and compression, ragged rows found."""
    NUMBERED = "numbered"
    """PyArrow in one thread, after a first pass that numbers the ragged rows."""


class ReadAgainError(Exception):
    """The source must be read again from the start, in ``mode``."""

    def __init__(self, mode: ReadMode) -> None:
        super().__init__(mode.value)
        self.mode = mode


#: Texts read as empty (null) values: PyArrow's defaults (a test checks), so both readers agree.
NULL_TEXTS: Final = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
)  # fmt: skip
_LONGEST_NULL_TEXT: Final = max(len(text.encode()) for text in NULL_TEXTS)
_POLARS_BATCH_ROWS: Final = 200_000


def first_mode(source: Source, dialect: Dialect) -> ReadMode:
    """The fastest reader that may read ``source``; it hands over to the next when it cannot."""
    utf8 = codecs.lookup(dialect.encoding).name in ("utf-8", "utf-8-sig")
    one_byte = len(dialect.delimiter.encode()) == 1
    polars = source.is_plain and utf8 and one_byte and not dialect.bare_cr
    return ReadMode.POLARS if polars else ReadMode.THREADED


def _is_gzip(source: Source) -> bool:
    try:
        with source.path.open("rb") as probe:
            return probe.read(2) == _GZIP_MAGIC
    except OSError as exc:
        raise unreadable(source, exc) from None


def _read_polars(source: Source, dialect: Dialect) -> Iterator[pl.DataFrame]:
    """Stream a plain UTF-8 CSV file with Polars, as :func:`read_csv` would give it.

    Polars pads short rows with empty fields, where PyArrow reports them. Fields
    are read with empty ones kept as ``""`` so that a row whose last field is
    empty (a short row, or only an empty last value) can be seen: then, or when
    Polars fails on the file (a long row, bad UTF-8), the file is handed to
    PyArrow. Empty fields and :data:`NULL_TEXTS` then become null, as PyArrow makes them.
    """
    names = [f"c{i}" for i in range(len(dialect.header))]
    scan = pl.scan_csv(
        source.path,
        has_header=False,
        skip_rows=1,
        new_columns=names,
        separator=dialect.delimiter,
        infer_schema=False,
        empty_string_is_null=False,
        row_index_name=ROW_COLUMN,
        row_index_offset=2,
        raise_if_empty=False,
    )
    batches = scan.collect_batches(chunk_size=_POLARS_BATCH_ROWS)
    while True:
        try:
            frame = next(batches)
        except StopIteration:
            return
        except pl.exceptions.PolarsError:
            raise ReadAgainError(ReadMode.THREADED) from None
        if frame.is_empty():
            continue
        if (frame[names[-1]].str.len_bytes() == 0).any():
            raise ReadAgainError(ReadMode.THREADED)
        # Only columns with a value short enough can hold one of NULL_TEXTS (the
        # lengths are read from the string views, not from the texts: cheap).
        shortest = frame.select(pl.col(names).str.len_bytes().min()).row(0)
        values = [
            pl.when(~pl.col(name).is_in(NULL_TEXTS)).then(pl.col(name)).alias(header)
            if length is not None and length <= _LONGEST_NULL_TEXT
            else pl.col(name).alias(header)
            for name, header, length in zip(names, dialect.header, shortest, strict=True)
        ]
        # One chunk: the streaming reader hands a batch on in a dozen chunks, and the
        # columns normalising derives from them would otherwise be realigned (copied)
        # each time they meet a column of one chunk.
        yield frame.select(*values, pl.col(ROW_COLUMN).cast(pl.Int64)).rechunk()


RaggedRow = tuple[int | None, str, int, int]
"""A row whose field count differs from the header's: its number, text, expected and actual."""
#: Ragged rows are handed on in chunks of at most this many rows, or this much text.
RAGGED_CHUNK_ROWS: Final = 50_000
RAGGED_CHUNK_BYTES: Final = 8 << 20


@dataclass
class Ragged:
    """Rows whose field count differs from the header's, as the parser skipped them.

    Without a ``sink`` they are kept in ``rows``. With one, they are handed to it
    in chunks as they come (``chunk_rows`` rows or ``chunk_bytes`` of text, the
    rest by :meth:`flush`), so that a file of ragged rows, or of long ones, is
    read in bounded memory as a file of good rows is. The sink is called while
    the reader parses, and an error it raises stops the reader and is raised from
    it (see :attr:`error`).
    """

    rows: list[RaggedRow] = field(default_factory=list)
    sink: Callable[[list[RaggedRow]], None] | None = None
    chunk_rows: int = RAGGED_CHUNK_ROWS
    chunk_bytes: int = RAGGED_CHUNK_BYTES
    error: BaseException | None = None
    """An error the sink raised inside the parser (which swallows it), to raise again."""
    _text_bytes: int = 0

    def add(self, row: RaggedRow) -> None:
        self.rows.append(row)
        self._text_bytes += len(row[1])
        full = len(self.rows) >= self.chunk_rows or self._text_bytes >= self.chunk_bytes
        if self.sink is not None and full:
            self.flush()

    def flush(self) -> None:
        """Hand the rows kept so far to the sink (when there is one)."""
        if self.sink is None or not self.rows:
            return
        rows, self.rows, self._text_bytes = self.rows, [], 0
        self.sink(rows)


def read_csv(
    source: Source, dialect: Dialect, *, mode: ReadMode, ragged: Ragged
) -> Iterator[pl.DataFrame]:
    """Stream a CSV source as text-only batches with a ``__row`` column.

    ``__row`` is the row number a spreadsheet would show (the header is row 1).
    Rows with too few or too many fields are not in the batches: they are added
    to ``ragged`` (numbered), which hands them to its sink in chunks as they come
    (the threaded reader stops at the first). A reader that cannot go on raises
    :class:`ReadAgainError` with the mode to read the file again in (start with
    :func:`first_mode`): the Polars reader hands over to the threaded one, which
    cannot number ragged rows and hands over to the numbered one.
    """
    if mode is ReadMode.POLARS:
        yield from _read_polars(source, dialect)
        return
    import numpy as np
    import pyarrow as pa

    numbered = mode is ReadMode.NUMBERED
    layout = _Layout.first_pass(source, dialect) if numbered else None
    on_invalid = _OnInvalid(layout, ragged)

    names = dialect.header
    stream = source.open()
    reader: pacsv.CSVStreamingReader | None = None
    seen = 0
    last_row: tuple[object, ...] = ()
    try:
        # open_csv reads the first block at once (and on, while it finds no whole row)
        reader = _open_csv(stream, dialect, numbered=numbered, on_invalid=on_invalid)
        for record_batch in reader:
            frame = pl.from_arrow(record_batch)
            assert isinstance(frame, pl.DataFrame)
            frame = frame.rename(dict(zip(frame.columns, names, strict=True)))
            index = np.arange(seen, seen + frame.height, dtype=np.int64)
            seen += frame.height
            rows = _row_numbers(index, layout)
            swallowed = layout.swallowed if layout is not None else None
            if swallowed is not None and seen - frame.height <= swallowed < seen:
                # The last record, whose last field took in the lines after it: ragged.
                at = swallowed - (seen - frame.height)
                text = _record_text(frame.row(at), dialect)
                ragged.add((int(rows[at]), text, len(names), len(names)))
                frame, rows = frame.filter(pl.int_range(pl.len()) != at), np.delete(rows, at)
            if frame.height:
                last_row = frame.row(-1)
            yield frame.with_columns(pl.Series(ROW_COLUMN, rows))
        if ragged.error is not None:
            raise ragged.error
        if not numbered and _swallows_lines(last_row, dialect, stream):
            raise ReadAgainError(ReadMode.NUMBERED)
    except pa.ArrowInvalid as exc:
        if ragged.error is not None:
            raise ragged.error from None
        if on_invalid.met:
            raise ReadAgainError(ReadMode.NUMBERED) from None
        raise _arrow_error(source, dialect, exc) from None
    finally:
        if reader is not None:
            reader.close()
        stream.close()


class _OnInvalid:
    """PyArrow's handler of rows with the wrong number of fields (it skips them).

    Exceptions raised in it are swallowed by PyArrow: it returns "error" instead,
    which stops the reader (``pa.ArrowInvalid``), and the reader's caller says why.
    """

    def __init__(self, layout: _Layout | None, ragged: Ragged) -> None:
        self.layout = layout
        self.ragged = ragged
        self.met = False
        """A ragged row was met by the threaded reader, which cannot number it."""

    def __call__(self, row: pacsv.InvalidRow) -> str:
        if self.layout is None:  # read again, numbered
            self.met = True
            return "error"
        number = self.layout.row_number(row.number)
        try:
            self.ragged.add((number, row.text, row.expected_columns, row.actual_columns))
        except BaseException as exc:
            self.ragged.error = exc
            return "error"
        return "skip"


def _open_csv(
    stream: IO[bytes], dialect: Dialect, *, numbered: bool, on_invalid: object
) -> pacsv.CSVStreamingReader:
    """PyArrow's streaming reader of a CSV stream (``pa.ArrowInvalid`` if it cannot start)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # Column names are given (not read) so that duplicate or odd headers are kept as they are.
    names = [f"c{i}" for i in range(len(dialect.header))]
    encoding = "utf8" if codecs.lookup(dialect.encoding).name == "utf-8" else dialect.encoding
    if encoding != "utf8":
        stream = io.BufferedReader(_Transcoder(stream, dialect.encoding), buffer_size=_BLOCK_BYTES)
    # The first block must hold the header (which the sniffer reads up to 16 MB).
    header_bytes = len(dialect.delimiter.join(dialect.header).encode())
    return pacsv.open_csv(
        _NoTrailingCR(stream),
        read_options=pacsv.ReadOptions(
            use_threads=not numbered,
            block_size=max(_BLOCK_BYTES, 4 * header_bytes),
            column_names=names,
            skip_rows=1,
        ),
        # Blocks are cut where no quote is open: else a quoted value over lines is
        # split at a block's end, and its lines read as rows (a few % slower).
        parse_options=pacsv.ParseOptions(
            delimiter=dialect.delimiter,
            invalid_row_handler=on_invalid,
            newlines_in_values=True,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )


class _NoTrailingCR(io.RawIOBase):
    """A stream whose reads never end between the CR and the LF of a CR LF.

    PyArrow's CSV reader drops the LF of a CR LF inside a quoted value when one
    read ends between the two (apache/arrow#51368): the CR is then held back, and
    returned at the start of the next read.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._held = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            data, self._held = self._held + self._raw.read(), b""
            return data
        data = self._held + self._raw.read(max(size - len(self._held), 0))
        self._held = b""
        if data.endswith(b"\r"):
            self._held = self._raw.read(1)
            if self._held == b"\n" and len(data) > 1:
                data, self._held = data[:-1], b"\r\n"
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Transcoder(io.RawIOBase):
    """A binary stream of UTF-8, decoded incrementally from another encoding."""

    def __init__(self, raw: IO[bytes], encoding: str) -> None:
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder(_python_codec(encoding))(errors="strict")
        self._pending = b""
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = self._raw.read(1 << 20)
            final = not chunk
            try:
                text = self._decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                import pyarrow as pa

                raise pa.ArrowInvalid(
                    f"invalid {exc.encoding} data near byte {self._offset + exc.start}"
                ) from None
            self._offset += len(chunk)
            self._pending = text.encode("utf-8")
            if final:
                break
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        self._raw.close()
        super().close()


@dataclass(frozen=True)
class _Layout:
    """Where the ragged records of a file are, from a first pass over it (numbered mode)."""

    ragged: np.ndarray
    """The parser's numbers of the ragged records (header = 1), sorted."""
    lines_before: np.ndarray
    """For each ragged record, the lines beyond their first of the ragged records before
    it (a record that runs over several lines is read again line by line: see
    :func:`reread_ragged`), and at the end those of them all."""
    swallowed: int | None
    """The index of the last valid record when its last field took in the lines after
    it (a quote never closed): it is read again line by line too."""

    @classmethod
    def first_pass(cls, source: Source, dialect: Dialect) -> _Layout:
        import numpy as np
        import pyarrow as pa

        # Two numbers a ragged record, 8 bytes each (not a tuple of Python ints: a file
        # of millions of ragged rows is numbered in tens of MB).
        numbers, extras = array("q"), array("q")

        def collect(row: pacsv.InvalidRow) -> str:
            text = row.text
            lines = len(record_lines(text)) - 1 if "\n" in text or "\r" in text else 0
            numbers.append(row.number)
            extras.append(max(lines, 0))
            return "skip"

        valid = 0
        last_row: tuple[object, ...] = ()
        with source.open() as stream:
            reader: pacsv.CSVStreamingReader | None = None
            try:
                reader = _open_csv(stream, dialect, numbered=True, on_invalid=collect)
                for record_batch in reader:
                    valid += record_batch.num_rows
                    if record_batch.num_rows:
                        last_row = tuple(column[-1].as_py() for column in record_batch.columns)
            except pa.ArrowInvalid as exc:
                raise _arrow_error(source, dialect, exc) from None
            finally:
                if reader is not None:
                    reader.close()
            swallowed = valid - 1 if _swallows_lines(last_row, dialect, stream) else None
        order = np.argsort(np.frombuffer(numbers, dtype=np.int64), kind="stable")
        ragged = np.frombuffer(numbers, dtype=np.int64)[order]
        extra = np.frombuffer(extras, dtype=np.int64)[order]
        lines_before = np.concatenate([[0], np.cumsum(extra)]).astype(np.int64)
        return cls(ragged=ragged, lines_before=lines_before, swallowed=swallowed)

    def row_number(self, number: int) -> int:
        """The row number of the ragged record the parser numbered ``number``."""
        import numpy as np

        before = int(np.searchsorted(self.ragged, number, side="left"))
        return number + int(self.lines_before[before])


def _row_numbers(index: np.ndarray, layout: _Layout | None) -> np.ndarray:
    """Spreadsheet row numbers (header = 1) of the valid records ``index`` (0-based).

    Each ragged record before a valid one takes one row, and one more for each
    line beyond its first.
    """
    import numpy as np

    if layout is None or layout.ragged.size == 0:
        return index + 2
    ragged = layout.ragged
    # Valid records before ragged row i: ragged[i] - 2 - i.
    before = np.searchsorted(ragged - 2 - np.arange(ragged.size), index, side="right")
    numbers: np.ndarray = index + 2 + before + layout.lines_before[before]
    return numbers


def record_lines(text: str) -> list[str]:
    """The lines of a record's text (empty ones left out, as the parser leaves them out)."""
    return [line for line in _LINE_BREAK.split(text) if line]


def split_fields(line: str, delimiter: str) -> list[str]:
    """The fields of one line of CSV, as far as they go (whatever their length)."""
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:  # a field longer than csv's limit (131,072 characters)
        return line.split(delimiter)


def _swallows_lines(row: tuple[object, ...], dialect: Dialect, stream: IO[bytes]) -> bool:
    """Whether a file's last record ends in a quote never closed, that took in lines after it.

    Its last value then holds a line break and more after it, and the content,
    read to its end, does not end with the closing quote.
    """
    if not row or not isinstance(row[-1], str):
        return False
    after = _LINE_BREAK.split(row[-1], maxsplit=1)[1:]
    if not after or not after[0].strip("\r\n"):
        return False
    tail = getattr(stream, "tail", b"")
    end = codecs.decode(tail[-(len(tail) // 4 * 4) :], _python_codec(dialect.encoding), "ignore")
    return not end.rstrip("\r\n").endswith('"')


def _record_text(row: tuple[object, ...], dialect: Dialect) -> str:
    """The text of a record whose last field was opened by a quote and never closed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=dialect.delimiter, lineterminator="")
    writer.writerow(["" if value is None else str(value) for value in row[:-1]])
    return f'{buffer.getvalue()}{dialect.delimiter}"{row[-1]}'


_REREAD_BATCH_ROWS: Final = 100_000


def reread_ragged(
    ragged: Iterable[RaggedRow], dialect: Dialect, still: Ragged
) -> Iterator[pl.DataFrame]:
    """Ragged records that run over several lines, read again line by line.

    A quote that is never closed (a stray quote, as in ``Galaxy "S10``) makes the
    parser read on, over line breaks, to the next quote as one field: the record
    has the wrong number of fields and holds the lines after it. Each of its
    lines is read on its own, its quotes taken as plain characters when that gives
    it the header's number of fields. Yields the lines that are whole rows, as
    numbered batches; appends the rows still ragged to ``still``.
    """
    width = len(dialect.header)
    rows: list[list[str]] = []
    numbers: list[int | None] = []
    for number, text, expected, actual in ragged:
        lines = record_lines(text) if "\n" in text or "\r" in text else [text]
        if len(lines) < 2:
            still.rows.append((number, text, expected, actual))
            continue
        for offset, line in enumerate(lines):
            values = split_fields(line, dialect.delimiter)
            if len(values) != width and '"' in line:
                plain = line.split(dialect.delimiter)
                values = plain if len(plain) == width else values
            row = None if number is None else number + offset
            if len(values) == width:
                rows.append(values)
                numbers.append(row)
            else:
                still.rows.append((row, line, width, len(values)))
            if len(rows) >= _REREAD_BATCH_ROWS:
                yield _text_batch(rows, numbers, dialect)
                rows, numbers = [], []
    if rows:
        yield _text_batch(rows, numbers, dialect)


def _text_batch(rows: list[list[str]], numbers: list[int | None], dialect: Dialect) -> pl.DataFrame:
    """Rows of texts as a batch like the readers', null texts as nulls."""
    frame = pl.DataFrame(rows, schema=dict.fromkeys(dialect.header, pl.String), orient="row")
    values = frame.select(
        pl.when(~pl.col(name).is_in(NULL_TEXTS)).then(pl.col(name)).alias(name)
        for name in dialect.header
    )
    return values.with_columns(pl.Series(ROW_COLUMN, numbers, dtype=pl.Int64))


def _arrow_error(source: Source, dialect: Dialect, exc: Exception) -> InputError:
    message = str(exc).splitlines()[0]
    if (
        "UTF8" in message
        or "utf-8" in message.lower()
        or ("invalid" in message and "data" in message)
    ):
        with source.open() as stream:
            sample = stream.read(_SAMPLE_BYTES)
        return InputError(
            source.name,
            f"cannot be decoded as {dialect.encoding}: {message}; nothing from it was stored",
            hint=_encoding_hint(sample),
        )
    if "straddl" in message:  # a record longer than a block
        return InputError(
            source.name,
            f"cannot be read as CSV: a row is longer than {_BLOCK_BYTES >> 20} MB "
            f"(a quote never closed?); {_NOTHING_STORED}",
            hint='find the stray quote (") that opens a value where the rows stop making '
            'sense; remove it or double it (""), then ingest the file again',
        )
    return InputError(source.name, f"cannot be read as CSV: {message}; {_NOTHING_STORED}")


def parquet_columns(source: Source) -> list[str]:
    """Column names of a Parquet source (made distinct as a CSV header's are)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with source.open() as stream:
            return list(distinct_names(pq.ParquetFile(stream).schema_arrow.names))
    except (pa.ArrowInvalid, OSError) as exc:
        raise _parquet_error(source, exc) from None


def read_parquet(source: Source) -> Iterator[pl.DataFrame]:
    """Stream a Parquet source in batches, with a 1-based ``__row`` column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    seen = 0
    with source.open() as stream:
        try:
            parquet = pq.ParquetFile(stream)
            names = list(distinct_names(parquet.schema_arrow.names))
            for record_batch in parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS):
                frame = pl.from_arrow(record_batch.rename_columns(names))
                assert isinstance(frame, pl.DataFrame)
                rows = pl.int_range(seen + 1, seen + frame.height + 1, eager=True)
                seen += frame.height
                yield frame.with_columns(rows.alias(ROW_COLUMN))
        except (pa.ArrowInvalid, OSError) as exc:
            raise _parquet_error(source, exc) from None


def _parquet_error(source: Source, exc: Exception) -> InputError:
    return InputError(
        source.name,
        f"is not a readable Parquet file ({exc}); {_NOTHING_STORED}",
        hint="copy the complete file again (a Parquet file cut short has no footer), "
        "or export it again",
    )


def is_parquet(source: Source) -> bool:
    with source.open() as stream:
        return stream.read(4) == b"PAR1"
