"""The CSV readers against Python's ``csv`` module, on random tables (Hypothesis).

Tables of random text cells (delimiters, quotes, CR, LF and CR LF inside fields,
empty fields, ``NA`` and the other null texts, Vietnamese letters, an emoji, and
the Unicode line separators that ``csv`` does not break lines on) are written by
``csv.writer`` with a random delimiter, quoting and line terminator, in UTF-8 (with
or without BOM) or UTF-16, plain or gzip-compressed. Each of qostool's readers
(the fastest that may read the file, handing over as it does, then the threaded
and the numbered PyArrow readers, with small blocks too) must give exactly the
rows ``csv.reader`` gives, the null texts as nulls, numbered from 2.
"""

from __future__ import annotations

import csv
import gzip
import io
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qostool.ingest import sources as src

#: Characters of the cells: the delimiters, quotes, line breaks, and some unicode.
CELL_CHARS = [
    *"aZ09.- ,;\t|\"'",
    "\r",
    "\n",
    "ệ",
    "Đ",
    "😀",
    "\u2028",  # str.splitlines() breaks lines here, csv does not
    "\x85",
    "\x0c",
]
#: Header names never hold line breaks (a header cell over two lines is no name).
NAME_CHARS = [c for c in CELL_CHARS if c not in "\r\n"]

cells = st.one_of(
    st.text(alphabet=CELL_CHARS, max_size=8),
    st.sampled_from(["", "NA", "null", "N/A", "nan", "-", " ", "x\r\ny", '""']),
)
names = st.text(alphabet=NAME_CHARS, min_size=1, max_size=8).filter(
    lambda name: name.strip() != "" and name.strip() != src.ROW_COLUMN
)


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    header = draw(st.lists(names, min_size=1, max_size=5, unique_by=str.strip))
    rows = draw(st.lists(st.lists(cells, min_size=len(header), max_size=len(header)), max_size=8))
    return header, rows


def _quoted_line_breaks(cell: str, terminator: str) -> str:
    """A cell whose line breaks ``csv.writer`` will quote.

    Python's writer quotes a field holding a character of its line terminator, but
    writes a lone CR in a file of LF lines (or an LF in one of CR lines) unquoted:
    then ``csv.reader`` itself does not read back what was written.
    """
    if ("\r" in cell or "\n" in cell) and not any(c in cell for c in terminator):
        return cell + terminator[0]
    return cell


def _read_all(source: src.Source, dialect: src.Dialect, mode: src.ReadMode) -> pl.DataFrame:
    """Every row of ``source`` read from ``mode`` on, handing over as ingest does."""
    while True:
        ragged = src.Ragged()
        try:
            frames = list(src.read_csv(source, dialect, mode=mode, ragged=ragged))
        except src.ReadAgainError as again:
            mode = again.mode
            continue
        assert not ragged.rows, ragged.rows
        empty = pl.DataFrame(
            schema={**dict.fromkeys(dialect.header, pl.String), src.ROW_COLUMN: pl.Int64}
        )
        return pl.concat([empty, *frames])


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    table=tables(),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
    terminator=st.sampled_from(["\n", "\r\n", "\r"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
    packed=st.booleans(),
    small_blocks=st.booleans(),
)
def test_the_readers_give_what_csv_reader_gives(  # noqa: PLR0917 (Hypothesis draws them)
    table: tuple[list[str], list[list[str]]],
    delimiter: str,
    quoting: int,
    terminator: str,
    encoding: str,
    packed: bool,
    small_blocks: bool,
) -> None:
    header, rows = table
    rows = [[_quoted_line_breaks(cell, terminator) for cell in row] for row in rows]

    def written(*table: list[str]) -> str:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, delimiter=delimiter, quoting=quoting, lineterminator=terminator)
        writer.writerows(table)
        return buffer.getvalue()

    text = written(header, *rows)
    expected = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    assert expected == [header, *rows]  # the generated file is read back as it was written
    data = text.encode(encoding)
    # Small blocks put block ends inside records, quoted line breaks and CR LF pairs (a
    # block must hold the longest record: PyArrow refuses a record over two block ends).
    longest = max(len(written(row).encode()) for row in [header, *rows])
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        if small_blocks:
            patch.setattr(src, "_BLOCK_BYTES", longest + 4)  # a BOM too
            patch.setattr(src, "_POLARS_BATCH_ROWS", 2)
        path = Path(folder) / ("export.csv.gz" if packed else "export.csv")
        path.write_bytes(gzip.compress(data) if packed else data)
        source = src.Source(path)
        dialect = src.sniff(source, encoding=None, delimiter=delimiter)
        assert dialect is not None
        assert dialect.header == tuple(name.strip() for name in header)
        want = [tuple(None if v in src.NULL_TEXTS else v for v in row) for row in expected[1:]]
        fastest = src.first_mode(source, dialect)
        for mode in dict.fromkeys([fastest, src.ReadMode.THREADED, src.ReadMode.NUMBERED]):
            frame = _read_all(source, dialect, mode)
            assert frame.select(dialect.header).rows() == want, mode
            assert frame[src.ROW_COLUMN].to_list() == list(range(2, len(want) + 2)), mode
