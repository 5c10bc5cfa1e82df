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

Cells keep their type where a whole column has one: numbers stay numbers (no
decimal mark to guess), dates stay datetimes. A column mixing types is read as
text, as a CSV column is; Excel date serial numbers in the time column are
understood by the normaliser (see ``Context.serial_dates``).
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
#: Column types a sheet may give that the normaliser reads as they are.
_KEPT_TYPES: Final = (pl.String, pl.Float64, pl.Int64, pl.Boolean)
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
            chosen = sheet
        elif len(names) == 1:
            chosen = names[0]
        else:
            chosen = _only_recognised_sheet(source, reader, names, header_row, recognises)
        top = _top_rows(reader, chosen)
        if not any(any(cell is not None for cell in row) for row in top):
            return None
        row = (
            header_row if header_row is not None else _find_header(source, chosen, top, recognises)
        )
        return _load(source, reader, chosen, top, row)
    except fastexcel.FastExcelError as exc:
        raise _unreadable(source, exc) from None


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _top_rows(reader: fastexcel.ExcelReader, sheet: str) -> list[list[str | None]]:
    """The cells of the first rows of a sheet, as texts (row 1 first)."""
    loaded = reader.load_sheet(
        sheet, header_row=None, skip_rows=0, n_rows=HEADER_SEARCH_ROWS, dtypes="string"
    )
    frame = pl.from_arrow(loaded.to_arrow())
    assert isinstance(frame, pl.DataFrame)
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
) -> str:
    """The one sheet with a recognised header (at ``header_row`` when given)."""
    found = []
    for name in names:
        top = _top_rows(reader, name)
        rows = [top[header_row - 1]] if header_row is not None and header_row <= len(top) else []
        if header_row is None:
            rows = top
        if any(recognises(_header_names(row)) for row in rows if any(row)):
            found.append(name)
    if len(found) == 1:
        return found[0]
    if found:
        what = f"has {len(found)} sheets with a recognised header ({_quoted(found)})"
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


def _load(
    source: src.Source,
    reader: fastexcel.ExcelReader,
    sheet: str,
    top: list[list[str | None]],
    header_row: int,
) -> Sheet:
    """The rows below ``header_row`` (1-based) that hold anything, typed by column."""
    if header_row < 1:
        raise InputError(source.name, f"--header-row {header_row}: rows are numbered from 1")
    cells = top[header_row - 1] if header_row <= len(top) else []
    if header_row > len(top) and header_row > HEADER_SEARCH_ROWS:
        cells = _row_cells(reader, sheet, header_row)
    if not any(cells):
        raise InputError(
            source.name,
            f"sheet {sheet!r}, row {header_row} (--header-row) is empty; {_NOTHING_STORED}",
            hint="give the row of the column names, as Excel numbers it",
        )
    loaded = reader.load_sheet(
        sheet,
        header_row=header_row - 1,
        schema_sample_rows=None,  # every row decides a column's type: none is lost to a guess
        skip_whitespace_tail_rows=True,
        whitespace_as_null=True,
    )
    frame = pl.from_arrow(loaded.to_arrow())
    assert isinstance(frame, pl.DataFrame)
    # The header's cells, kept where a column has a name or a value (the empty,
    # formatted columns right of the data are left out).
    width = frame.width
    cells = [*cells, *[None] * (width - len(cells))][:width]
    frame = frame.rename(dict(zip(frame.columns, [f"c{i}" for i in range(width)], strict=True)))
    frame = frame.with_columns(_typed(frame[c]) for c in frame.columns)
    keep = [
        i for i, cell in enumerate(cells) if cell is not None or frame[f"c{i}"].is_not_null().any()
    ]
    header = src.distinct_names(_header_names([cells[i] for i in keep]))
    columns = [f"c{i}" for i in keep]
    numbered = frame.select(
        *(pl.col(c).alias(name) for c, name in zip(columns, header, strict=True)),
        pl.int_range(header_row + 1, header_row + 1 + frame.height, dtype=pl.Int64).alias(
            src.ROW_COLUMN
        ),
    )
    filled = pl.any_horizontal(pl.col(name).is_not_null() for name in header)
    numbered = numbered.filter(filled).with_columns(_totals_label(header).alias(TOTALS_COLUMN))
    return Sheet(name=sheet, header=header, header_row=header_row, frame=numbered)


def _row_cells(reader: fastexcel.ExcelReader, sheet: str, row: int) -> list[str | None]:
    """The cells of one row (1-based) below the rows searched for the header."""
    loaded = reader.load_sheet(sheet, header_row=None, skip_rows=row - 1, n_rows=1, dtypes="string")
    frame = pl.from_arrow(loaded.to_arrow())
    assert isinstance(frame, pl.DataFrame)
    return [_cell(value) for value in frame.row(0)] if frame.height else []


def _typed(column: pl.Series) -> pl.Series:
    """A sheet's column as the normaliser reads it.

    Numbers are floats in a workbook: a column of whole numbers becomes integers,
    so that codes and ids read as text (``45204``, an IMEI) are not ``45204.0``.
    Dates and times stay datetimes; texts made null when they are one of
    :data:`sources.NULL_TEXTS`, as the CSV readers make them; other types become text.
    """
    dtype = column.dtype
    if dtype == pl.Float64:
        values = column.drop_nulls()
        whole = values.is_finite().all() and (values.abs() < _EXACT_INTEGERS).all()
        if whole and (values.round(0) == values).all():
            return column.cast(pl.Int64)
        return column
    if dtype == pl.String:
        return column.set(column.is_in(src.NULL_TEXTS), None)
    if isinstance(dtype, pl.Datetime):
        return column
    if dtype == pl.Date:
        return column.cast(pl.Datetime("ms"))
    if any(dtype == kept for kept in _KEPT_TYPES):
        return column
    return column.cast(pl.String)


def _totals_label(header: Sequence[str]) -> pl.Expr:
    """A row's first filled cell when it names a total (``Tổng cộng``, ``Total``), else null."""
    first = pl.coalesce([pl.col(name).cast(pl.String) for name in header])
    folded = fold_expr(first)
    totals = folded.is_in(sorted(TOTALS_LABELS)) | folded.str.starts_with(fold("Tổng cộng"))
    return pl.when(totals).then(first.str.strip_chars())
