"""Excel workbooks (.xlsx, .xlsm, .xlsb, .xls, and OpenDocument .ods) as raw batches.

Read with calamine (through ``fastexcel``), a Rust reader that loads a sheet
several times faster than the Python ones. Real workbooks are made for people,
not programs, so this module finds the data in them:

- the sheet: ``--sheet NAME``, else the only sheet with a recognised header;
- the header row: ``--header-row N``, else the first of the first
  :data:`HEADER_SEARCH_ROWS` rows that a format recognises (title and date rows,
  merged title cells, blank rows above it are passed over);
- rows and columns with nothing in them (the empty, formatted area Excel keeps
  below and right of the data) are left out, and not counted as rows;
- a totals row (its first filled cell says ``Tổng cộng``, ``Total``, ...) is
  marked in :data:`TOTALS_COLUMN`, so that it is rejected as such, not as a row
  with bad coordinates.

Each sheet is loaded once, every cell as text (calamine parses a whole sheet
at each load: loading the top rows to find the header, then the rest typed,
would parse it twice). A column whose every value is a number as calamine
writes numbers (``45.27``, never ``45,27`` or ``0045``) becomes numbers again:
no decimal mark is guessed for it. Any other column is text, as a CSV column
is: numbers stored as text with decimal commas are read as in a CSV. Dates
are ISO texts (``2025-10-03 08:15:00``, local time); Excel date serial numbers
not formatted as dates are understood by the normaliser in the time column
(see ``Context.serial_dates``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import polars as pl

from qostool.errors import InputError
from qostool.ingest import sources as src
from qostool.ingest.canonical import TOTALS_COLUMN
from qostool.ingest.normalize import fold, fold_expr

if TYPE_CHECKING:
    import fastexcel

#: The header is looked for in this many rows at the top of a sheet.
HEADER_SEARCH_ROWS: Final = 30
#: First cells (folded: no case, accents or punctuation) that make a row a totals row.
TOTALS_LABELS: Final = frozenset(
    {"tong", "tongcong", "tongso", "tongcongtatca", "cong", "total", "totals", "grandtotal", "sum"}
)
_BATCH_ROWS: Final = 100_000
#: Integers above this are not exact in a 64-bit float: such a column stays as it is.
_EXACT_INTEGERS: Final = 2.0**53
_NOTHING_STORED: Final = "nothing from it was stored"

Recognises = Callable[[Sequence[str]], bool]
"""Whether a row of cell texts is a header the chosen (or a detected) format reads."""


@dataclass(frozen=True)
class Sheet:
    """The data of one sheet: its header, where it is, and its rows."""

    name: str
    header: tuple[str, ...]
    """Column names, made distinct as a CSV header's are."""
    header_row: int
    """The header's row number as the spreadsheet shows it (1-based)."""
    frame: pl.DataFrame
    """The rows below the header that hold anything, with ``__row`` (the sheet's row
    number) and :data:`TOTALS_COLUMN`."""

    def batches(self) -> Iterator[pl.DataFrame]:
        """The rows in batches, so that they are normalised on several cores."""
        for offset in range(0, self.frame.height, _BATCH_ROWS):
            yield self.frame.slice(offset, _BATCH_ROWS)


def _open(source: src.Source) -> fastexcel.ExcelReader:
    """The workbook of ``source`` (read whole: calamine needs the whole file)."""
    import fastexcel

    try:
        if source.member is None and source.is_plain:
            return fastexcel.read_excel(str(source.path))
        with source.open() as stream:
            return fastexcel.read_excel(stream.read())
    except fastexcel.FastExcelError as exc:
        raise _unreadable(source, exc) from None


def _unreadable(source: src.Source, exc: Exception) -> InputError:
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return InputError(
        source.name,
        f"is not a readable Excel workbook ({detail}); {_NOTHING_STORED}",
        hint="open it in Excel or LibreOffice and save it again as .xlsx "
        "(or copy the complete file again: it is read again by the next ingest)",
    )


def is_workbook(source: src.Source) -> bool:
    """Whether calamine can open ``source`` (an old .xls, or a Word .doc in the same wrapper)."""
    import fastexcel

    try:
        _open(source).sheet_names  # noqa: B018 (opening it is the test)
    except (InputError, fastexcel.FastExcelError):
        return False
    return True


def read_sheet(
    source: src.Source,
    *,
    sheet: str | None,
    header_row: int | None,
    recognises: Recognises,
) -> Sheet | None:
    """The sheet of ``source`` to ingest, with its header found; None when it holds nothing.

    Parameters
    ----------
    source
        A workbook (see :func:`sources.identify`).
    sheet
        ``--sheet``: the sheet's name. Without it, the only sheet of the workbook,
        or else the only one with a header ``recognises`` accepts.
    header_row
        ``--header-row``: the header's row number (1-based, as the spreadsheet
        shows it). Without it, the first row ``recognises`` accepts.
    recognises
        Whether a row of cell texts is a header of the format to read.

    Raises
    ------
    InputError
        No such sheet; several (or no) sheets with a recognised header; no header
        row found. Each message lists what the workbook has.
    """
    import fastexcel

    reader = _open(source)
    try:
        names = list(reader.sheet_names)
        if sheet is not None:
            if sheet not in names:
                raise InputError(
                    source.name,
                    f"has no sheet {sheet!r}; its sheets: {_quoted(names)}; {_NOTHING_STORED}",
                    hint="pass --sheet with one of these names (in quotes if it has spaces)",
                )
            chosen, cells = sheet, _cells(reader, sheet)
        elif len(names) == 1:
            chosen, cells = names[0], _cells(reader, names[0])
        else:
            chosen, cells = _only_recognised_sheet(source, reader, names, header_row, recognises)
    except fastexcel.FastExcelError as exc:
        raise _unreadable(source, exc) from None
    if (
        cells.height == 0
        or not cells.select(pl.any_horizontal(pl.all().is_not_null()).any()).item()
    ):
        return None
    top = _rows(cells.head(HEADER_SEARCH_ROWS))
    row = header_row if header_row is not None else _find_header(source, chosen, top, recognises)
    return _load(source, chosen, cells, row)


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _cells(reader: fastexcel.ExcelReader, sheet: str) -> pl.DataFrame:
    """Every cell of a sheet as text, row 1 first (columns from the first one used)."""
    loaded = reader.load_sheet(
        sheet,
        header_row=None,
        skip_rows=0,  # keep the empty rows at the top: row numbers stay the sheet's
        dtypes="string",
        whitespace_as_null=True,
        skip_whitespace_tail_rows=True,
    )
    frame = pl.from_arrow(loaded.to_arrow())
    assert isinstance(frame, pl.DataFrame)
    return frame.rename({name: f"c{i}" for i, name in enumerate(frame.columns)})


def _rows(frame: pl.DataFrame) -> list[list[str | None]]:
    return [[_cell(value) for value in row] for row in frame.rows()]


def _cell(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _header_names(cells: Sequence[str | None]) -> list[str]:
    """Names of a header row's cells; a cell without one is named by its position."""
    return [cell if cell is not None else f"column {i + 1}" for i, cell in enumerate(cells)]


def _only_recognised_sheet(
    source: src.Source,
    reader: fastexcel.ExcelReader,
    names: list[str],
    header_row: int | None,
    recognises: Recognises,
) -> tuple[str, pl.DataFrame]:
    """The one sheet with a recognised header (at ``header_row`` when given), and its cells."""
    found = []
    for name in names:
        cells = _cells(reader, name)
        top = _rows(cells.head(HEADER_SEARCH_ROWS))
        if header_row is not None:
            top = _rows(cells.slice(header_row - 1, 1)) if header_row >= 1 else []
        if any(recognises(_header_names(row)) for row in top if any(row)):
            found.append((name, cells))
    if len(found) == 1:
        return found[0]
    if found:
        listed = _quoted([name for name, _ in found])
        what = f"has {len(found)} sheets with a recognised header ({listed})"
        hint = "pass --sheet NAME for the sheet to ingest (one command per sheet)"
    else:
        what = "has no sheet with a header qostool recognises"
        hint = (
            "pass --sheet NAME, and --header-row N (the row of the column names) with --format "
            "or --map field=Column if the columns are not recognised"
        )
    raise InputError(
        source.name,
        f"{what}; its sheets: {_quoted(names)}; {_NOTHING_STORED}",
        hint=hint,
    )


def _find_header(
    source: src.Source, sheet: str, top: list[list[str | None]], recognises: Recognises
) -> int:
    """The row number (1-based) of the first row of ``top`` that is a recognised header."""
    for number, row in enumerate(top, start=1):
        if any(row) and recognises(_header_names(row)):
            return number
    filled = next((i for i, row in enumerate(top) if sum(c is not None for c in row) > 1), None)
    shown = ""
    if filled is not None:
        cells = [c for c in top[filled] if c is not None]
        more = ", ..." if len(cells) > 12 else ""
        shown = f" (row {filled + 1}: {', '.join(cells[:12])}{more})"
    raise InputError(
        source.name,
        f"sheet {sheet!r}: none of its first {HEADER_SEARCH_ROWS} rows is a header qostool "
        f"recognises{shown}; {_NOTHING_STORED}",
        hint="pass --header-row N (the row of the column names, as Excel numbers it) with "
        "--format (ispeed, rtr, ookla, mlab), or describe the columns with --mapping FILE.toml "
        "or --map field=Column",
    )


def _load(source: src.Source, sheet: str, cells: pl.DataFrame, header_row: int) -> Sheet:
    """The rows below ``header_row`` (1-based) that hold anything, numbers typed by column."""
    header_cells = _rows(cells.slice(header_row - 1, 1))
    if header_row < 1 or not header_cells or not any(header_cells[0]):
        raise InputError(
            source.name,
            f"sheet {sheet!r}, row {header_row} (--header-row) is empty; {_NOTHING_STORED}",
            hint="give the row of the column names, as Excel numbers it (from 1)",
        )
    names = header_cells[0]
    rows = cells.slice(header_row)
    # Columns with a name or a value (not the empty, formatted ones right of the data).
    keep = [
        i
        for i, name in enumerate(names)
        if name is not None or rows[f"c{i}"].null_count() < rows.height
    ]
    header = src.distinct_names(_header_names([names[i] for i in keep]))
    numbered = rows.select(
        *(_typed(rows[f"c{i}"]).alias(name) for i, name in zip(keep, header, strict=True)),
        pl.int_range(header_row + 1, header_row + 1 + rows.height, dtype=pl.Int64).alias(
            src.ROW_COLUMN
        ),
    )
    filled = pl.any_horizontal(pl.col(name).is_not_null() for name in header)
    numbered = numbered.filter(filled).with_columns(_totals_label(header).alias(TOTALS_COLUMN))
    return Sheet(name=sheet, header=header, header_row=header_row, frame=numbered)


def _typed(column: pl.Series) -> pl.Series:
    """A sheet's column of texts as the normaliser reads it.

    The texts of :data:`sources.NULL_TEXTS` become null, as the CSV readers make
    them. A column whose every value is a number written as calamine writes
    numbers (``45.27``, ``-3``, ``45933.5``: no decimal comma, no leading zero, no
    exponent) becomes numbers: integers when they are all whole, so that codes
    and ids read as text stay ``45204``, not ``45204.0``. A column with any other
    value stays text, whose numbers the normaliser reads as a CSV's.
    """
    texts = column.set(column.is_in(src.NULL_TEXTS), None)
    present = texts.len() - texts.null_count()
    if present == 0:
        return texts
    numbers = texts.cast(pl.Float64, strict=False)
    if numbers.len() - numbers.null_count() != present:
        return texts
    shown = numbers.cast(pl.String)
    if not ((shown == texts) | (shown.str.strip_suffix(".0") == texts)).all():
        return texts
    values = numbers.drop_nulls()
    exact = values.is_finite().all() and (values.abs() < _EXACT_INTEGERS).all()
    if exact and (values.round(0) == values).all():
        return numbers.cast(pl.Int64)
    return numbers


def _totals_label(header: Sequence[str]) -> pl.Expr:
    """A row's first filled cell when it names a total (``Tổng cộng``, ``Total``), else null."""
    first = pl.coalesce([pl.col(name).cast(pl.String) for name in header])
    folded = fold_expr(first)
    totals = folded.is_in(sorted(TOTALS_LABELS)) | folded.str.starts_with(fold("Tổng cộng"))
    return pl.when(totals).then(first.str.strip_chars())
