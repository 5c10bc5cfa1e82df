"""``analyze --export``: the stored results as CSV, XLSX, GeoPackage or GeoJSON files.

Files go to ``<out>/<month>/``: ``stats.csv`` and ``communes.csv`` (UTF-8 with a
byte-order mark, so spreadsheet programs show Vietnamese names correctly);
``qostool-<month>.xlsx`` with one sheet per table and readable headers;
``communes-<month>.gpkg`` / ``.geojson``: each commune's geometry with its
figures, for QGIS.

Two CSV dialects (:data:`qostool.config.CSV_DIALECTS`): ``plain``, for programs,
has the column names (machine keys) as its header, ``,`` between fields and a
decimal point; ``excel-vn``, for a spreadsheet program set to Vietnamese, has the
readable headers, ``;`` between fields (``,`` is the decimal separator there), a
decimal comma and every text in quotes, so that an import that honours quotes
keeps a commune code such as ``03388`` as text. The readable headers of the
workbook and of the ``excel-vn`` CSV are English or Vietnamese (``lang``); the
values (verdicts, operators, technologies) stay the stored codes in both, so
that filters and formulas written against one language work on the other.

Names are data and never act in a spreadsheet: the XLSX writes every text as a
string (never a formula, a link or a number), and a CSV text cell starting with
``= + - @``, a tab or a carriage return gets a leading ``'`` unless raw CSV is
asked for (:func:`qostool.text.csv_cell`; docs/methodology.md, *Exports*). The
method sheet names input files without the analyst's folders.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from qostool.analyze.run import Analysis
from qostool.config import CSV_DIALECTS, EXPORT_LANGUAGES
from qostool.errors import StoreError, UsageError, from_os_error
from qostool.geo import versions
from qostool.store import Store
from qostool.text import CSV_FORMULA_START, XLSX_OPTIONS, file_label

if TYPE_CHECKING:
    from xlsxwriter import Workbook

FORMATS: Final = ("csv", "xlsx", "gpkg", "geojson")

#: Readable headers (XLSX), for every column of the stored tables.
LABELS: Final = {
    "level": "Level",
    "commune_code": "Commune code",
    "commune_name": "Commune",
    "commune_type": "Type",
    "population": "Population",
    "operator": "Operator",
    "technology": "Technology",
    "tests": "Tests",
    "tile_tests": "Tests in tiles",
    "data_period": "Data period (YYYY-Qn: a quarter's tiles only, quarterly figures; "
    "YYYY-MM+YYYY-Qn: the month's single tests and the quarter's tiles)",
    "devices_min": "Devices, at least (lower bound)",
    "devices_max": "Devices, at most (upper bound)",
    "download_mean_mbps": "Download mean (Mbps)",
    "download_median_mbps": "Download median (Mbps)",
    "download_p10_mbps": "Download p10 (Mbps)",
    "download_p90_mbps": "Download p90 (Mbps)",
    "upload_mean_mbps": "Upload mean (Mbps)",
    "upload_median_mbps": "Upload median (Mbps)",
    "latency_median_ms": "Latency median (ms)",
    "share_ge_target": "Share of tests >= target",
    "download_mean_ci_low": "Download mean, interval low",
    "download_mean_ci_high": "Download mean, interval high",
    "peak_download_mean_mbps": "Peak-hour download mean (Mbps)",
    "peak_tests": "Peak-hour tests",
    "target_mbps": "Target (Mbps)",
    "statistic": "Statistic compared",
    "statistic_value": "Statistic value",
    "statistic_ci_low": "Statistic interval low",
    "statistic_ci_high": "Statistic interval high",
    "verdict": "Verdict",
    "prev_download_mean_mbps": "Last month's download mean (Mbps)",
    "download_mean_change_mbps": "Change of the mean (Mbps; empty when last month rests on "
    "the same data)",
    "prev_data_period": "Last month's data period",
    "change_basis": "Change compares (distinct data, shared_tiles, same_data)",
    "months_below_target": "Data periods in a row below target (a quarter of tiles counts once)",
    "tests_5g": "5G tests",
    "download_median_5g_mbps": "5G download median (Mbps)",
    "download_mean_5g_mbps": "5G download mean (Mbps)",
    "tests_4g": "4G tests",
    "download_mean_4g_mbps": "4G download mean (Mbps)",
    "verdict_4g": "4G verdict",
    "tests_mobile": "Mobile tests",
    "devices_mobile_min": "Mobile devices, at least",
    "devices_mobile_max": "Mobile devices, at most",
    "tests_mobile_single": "Mobile single tests (i-Speed and other per-test sources, tiles "
    "left out)",
    "devices_mobile_single": "Devices of the mobile single tests",
    "tests_fixed": "Fixed tests (Wi-Fi, fixed tiles)",
    "devices_fixed_min": "Fixed devices (Wi-Fi, fixed tiles), at least",
    "devices_fixed_max": "Fixed devices (Wi-Fi, fixed tiles), at most",
    "tests_per_1000": "Mobile tests per 1,000 inhabitants",
    "devices_min_per_1000": "Mobile devices per 1,000 inhabitants, at least",
    "devices_max_per_1000": "Mobile devices per 1,000 inhabitants, at most",
    "share_5g": "Share of tests on 5G",
    "has_tests": "Has mobile tests",
    "has_5g": "Has 5G tests",
}

#: Vietnamese headers, the same keys as :data:`LABELS`, in the report's words.
LABELS_VI: Final = {
    "level": "Cấp",
    "commune_code": "Mã xã, phường, đặc khu",
    "commune_name": "Xã, phường, đặc khu",
    "commune_type": "Loại",
    "population": "Dân số",
    "operator": "Doanh nghiệp",
    "technology": "Công nghệ",
    "tests": "Số lượt đo",
    "tile_tests": "Lượt đo từ dữ liệu tổng hợp theo ô lưới của Ookla",
    "data_period": "Kỳ số liệu (YYYY-Qn: chỉ ô Ookla của quý, số liệu theo quý; "
    "YYYY-MM+YYYY-Qn: lượt đo đơn lẻ của tháng và ô Ookla của quý)",
    "devices_min": "Thiết bị, tối thiểu (cận dưới)",
    "devices_max": "Thiết bị, tối đa (cận trên)",
    "download_mean_mbps": "Tải xuống trung bình (Mbps)",
    "download_median_mbps": "Tải xuống trung vị (Mbps)",
    "download_p10_mbps": "Tải xuống, bách phân vị thứ 10 (P10, Mbps)",
    "download_p90_mbps": "Tải xuống, bách phân vị thứ 90 (P90, Mbps)",
    "upload_mean_mbps": "Tải lên trung bình (Mbps)",
    "upload_median_mbps": "Tải lên trung vị (Mbps)",
    "latency_median_ms": "Độ trễ trung vị (ms)",
    "share_ge_target": "Tỷ lệ lượt đo đạt mức tối thiểu",
    "download_mean_ci_low": "Tải xuống trung bình, cận dưới khoảng tin cậy",
    "download_mean_ci_high": "Tải xuống trung bình, cận trên khoảng tin cậy",
    "peak_download_mean_mbps": "Tải xuống trung bình giờ cao điểm (Mbps)",
    "peak_tests": "Lượt đo giờ cao điểm",
    "target_mbps": "Mức tối thiểu (4G) hoặc mức tham chiếu (5G) (Mbps)",
    "statistic": "Đại lượng so sánh",
    "statistic_value": "Giá trị đại lượng so sánh",
    "statistic_ci_low": "Đại lượng so sánh, cận dưới khoảng tin cậy",
    "statistic_ci_high": "Đại lượng so sánh, cận trên khoảng tin cậy",
    "verdict": "Đánh giá",
    "prev_download_mean_mbps": "Tải xuống trung bình tháng trước (Mbps)",
    "download_mean_change_mbps": "Thay đổi của trung bình (Mbps; để trống khi tháng trước "
    "dựa trên cùng số liệu)",
    "prev_data_period": "Kỳ số liệu tháng trước",
    "change_basis": "Cơ sở so sánh (distinct: số liệu khác nhau, shared_tiles: chung ô, "
    "same_data: cùng số liệu)",
    "months_below_target": "Số kỳ số liệu liên tiếp chưa đạt (một quý ô Ookla tính một lần)",
    "tests_5g": "Lượt đo 5G",
    "download_median_5g_mbps": "Tải xuống trung vị 5G (Mbps)",
    "download_mean_5g_mbps": "Tải xuống trung bình 5G (Mbps)",
    "tests_4g": "Lượt đo 4G",
    "download_mean_4g_mbps": "Tải xuống trung bình 4G (Mbps)",
    "verdict_4g": "Đánh giá 4G",
    "tests_mobile": "Lượt đo di động",
    "devices_mobile_min": "Thiết bị di động, tối thiểu",
    "devices_mobile_max": "Thiết bị di động, tối đa",
    "tests_mobile_single": "Lượt đo đơn lẻ trên mạng di động (i-Speed và các nguồn đo từng "
    "lượt khác, không gồm ô Ookla)",
    "devices_mobile_single": "Thiết bị của các lượt đo đơn lẻ trên mạng di động",
    "tests_fixed": "Lượt đo mạng cố định (Wi-Fi, ô Ookla cố định)",
    "devices_fixed_min": "Thiết bị mạng cố định (Wi-Fi, ô Ookla cố định), tối thiểu",
    "devices_fixed_max": "Thiết bị mạng cố định (Wi-Fi, ô Ookla cố định), tối đa",
    "tests_per_1000": "Lượt đo di động trên 1.000 dân",
    "devices_min_per_1000": "Thiết bị di động trên 1.000 dân, tối thiểu",
    "devices_max_per_1000": "Thiết bị di động trên 1.000 dân, tối đa",
    "share_5g": "Tỷ lệ lượt đo 5G",
    "has_tests": "Có lượt đo di động",
    "has_5g": "Có lượt đo 5G",
}
#: Readable headers per language (:data:`qostool.config.EXPORT_LANGUAGES`).
HEADERS: Final = {"en": LABELS, "vi": LABELS_VI}

#: XLSX sheets: (level of the statistics table, or None for the commune table) and
#: their names per language (at most 31 characters, none of ``[]:*?/\``).
_SHEETS: Final = (
    ("province", {"en": "Province", "vi": "Toàn tỉnh"}),
    ("operator", {"en": "Operators", "vi": "Doanh nghiệp"}),
    (None, {"en": "Communes", "vi": "Xã, phường, đặc khu"}),
    ("commune", {"en": "Commune statistics", "vi": "Thống kê xã, phường, đặc khu"}),
    ("commune_operator", {"en": "Commune x operator", "vi": "Xã, phường x doanh nghiệp"}),
)
#: The other sheets' names and headers per language: the analysis's record, and the
#: column names (machine keys of the CSV and GIS files) behind each readable header.
_WORDS: Final = {
    "en": {
        "method": "Method",
        "item": "item",
        "value": "value",
        "columns": "Columns",
        "header": "Header",
        "key": "Column name (CSV, GeoPackage, GeoJSON)",
    },
    "vi": {
        "method": "Phương pháp",
        "item": "Mục",
        "value": "Giá trị",
        "columns": "Tên cột",
        "header": "Tiêu đề",
        "key": "Tên cột (CSV, GeoPackage, GeoJSON)",
    },
}
#: Display formats of number cells (Excel's codes; Excel shows them in the reader's
#: locale: ``#,##0.00`` is ``1.234,50`` in Vietnamese). Shares (0-1) show as percentages.
_INTEGER: Final = "#,##0"
_DECIMAL: Final = "#,##0.00"
_PERCENT: Final = "0.0%"
_SHARES: Final = frozenset({"share_ge_target", "share_5g"})


def check_export_options(lang: str, csv_dialect: str) -> None:
    """Refuse an unknown header language or CSV dialect (a usage error, exit 2).

    The command's options are checked by the configuration already; this guards
    callers of :func:`export_analysis` from Python.
    """
    if lang not in EXPORT_LANGUAGES:
        raise UsageError(
            f"--lang {lang!r}: unknown language", hint=f"use {' or '.join(EXPORT_LANGUAGES)}"
        )
    if csv_dialect not in CSV_DIALECTS:
        raise UsageError(
            f"--csv-dialect {csv_dialect!r}: unknown CSV dialect",
            hint=f"use {' or '.join(CSV_DIALECTS)}",
        )


def parse_formats(text: str) -> list[str]:
    """``"xlsx,csv"`` -> ``["xlsx", "csv"]``, checked."""
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UsageError(
            f"--export {text!r}: unknown format {', '.join(unknown) or '(none)'}",
            hint=f"use one or more of {', '.join(FORMATS)}, comma-separated",
        )
    return list(dict.fromkeys(formats))


def export_analysis(
    analysis: Analysis,
    store: Store,
    formats: list[str],
    out: Path,
    *,
    raw_csv: bool = False,
    lang: str = "en",
    csv_dialect: str = "plain",
) -> list[Path]:
    """Write the requested files; return their paths.

    ``raw_csv`` writes CSV text cells exactly as stored, without the ``'`` before
    those a spreadsheet would run as formulas (see :func:`csv_safe`). ``lang`` is
    the language of the readable headers (the workbook, the ``excel-vn`` CSV);
    ``csv_dialect`` is ``plain`` or ``excel-vn`` (:func:`write_csv`).
    """
    check_export_options(lang, csv_dialect)
    folder = out / analysis.folder
    if analysis.subfolder:  # a variant's files never overwrite the official ones
        folder /= analysis.subfolder
    try:
        folder.mkdir(parents=True, exist_ok=True)  # and any missing parent, as for reports
    except OSError as exc:
        raise from_os_error(exc) from exc
    written: list[Path] = []
    for fmt in formats:
        if fmt == "csv":
            for name, frame in (("stats", analysis.stats), ("communes", analysis.communes)):
                path = folder / f"{name}.csv"
                table = frame if raw_csv else csv_safe(frame)
                write_csv(table, path, dialect=csv_dialect, lang=lang)
                written.append(path)
        elif fmt == "xlsx":
            written.append(_xlsx(analysis, folder / f"qostool-{analysis.month}.xlsx", lang))
        else:
            written.append(_geo(analysis, store, folder / f"communes-{analysis.month}.{fmt}"))
    return written


def write_csv(frame: pl.DataFrame, path: Path, *, dialect: str = "plain", lang: str = "en") -> None:
    """Write ``frame`` (already guarded, or raw) as a CSV file of ``dialect``.

    ``plain``: the column names as header, ``,`` and a decimal point, texts quoted
    only where needed; what programs read. ``excel-vn``: what a spreadsheet program
    set to Vietnamese opens into the right columns: ``;`` between fields (the
    decimal separator there is ``,``), a decimal comma, floats never in scientific
    notation, every text quoted (a code such as ``03388`` is marked as text, not a
    number), Windows line ends, and the readable headers in ``lang``. Both have the
    byte-order mark that makes spreadsheets read UTF-8.
    """
    if dialect == "plain":
        frame.write_csv(path, include_bom=True)
        return
    headers = HEADERS[lang]
    frame.rename({c: headers.get(c, c) for c in frame.columns}).write_csv(
        path,
        include_bom=True,
        separator=";",
        decimal_comma=True,
        float_scientific=False,
        quote_style="non_numeric",
        line_terminator="\r\n",
    )


def csv_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with each text cell a spreadsheet would run as a formula prefixed with ``'``.

    The rule is :func:`qostool.text.csv_cell`, applied to text columns only:
    numbers (``-5.2``) are numbers and stay as they are.
    """
    texts = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not texts:
        return frame

    def guarded(name: str) -> pl.Expr:
        column = pl.col(name)
        formula = pl.any_horizontal([column.str.starts_with(c) for c in CSV_FORMULA_START])
        return pl.when(formula).then(pl.lit("'") + column).otherwise(column).alias(name)

    return frame.with_columns(guarded(name) for name in texts)


def method_items(meta: dict[str, object]) -> dict[str, object]:
    """The analysis' record for the method sheet: input files by name, not by path."""
    items = dict(meta)
    inputs = items.get("inputs")
    if isinstance(inputs, list):
        items["inputs"] = [
            {**i, "file": file_label(str(i["file"]))} if isinstance(i, dict) and "file" in i else i
            for i in inputs
        ]
    boundaries = items.get("boundaries")
    if isinstance(boundaries, dict) and "source" in boundaries:
        items["boundaries"] = {**boundaries, "source": file_label(str(boundaries["source"]))}
    return items


@contextlib.contextmanager
def file_errors_of_xlsx() -> Iterator[None]:
    """An ``OSError`` that xlsxwriter wraps (e.g. the file open in Excel on Windows),
    as the user error it is (:func:`qostool.errors.from_os_error`)."""
    from xlsxwriter.exceptions import FileCreateError

    try:
        yield
    except FileCreateError as exc:
        cause = exc.args[0] if exc.args else None
        if isinstance(cause, OSError):
            raise from_os_error(cause) from exc
        raise


def _xlsx(analysis: Analysis, path: Path, lang: str = "en") -> Path:
    with file_errors_of_xlsx():
        _write_xlsx(analysis, path, lang)
    return path


def _write_xlsx(analysis: Analysis, path: Path, lang: str = "en") -> None:
    """One sheet per table, a method sheet and a sheet naming each header's column.

    Each sheet is a plain range (not an Excel table) with a worksheet autofilter
    over the whole table and a frozen header row: readers filter a commune or a
    verdict at once, and the filter and frozen row are part of the sheet itself
    (what other programs, and openpyxl, read back).
    """
    from xlsxwriter import Workbook

    headers = HEADERS[lang]
    words = _WORDS[lang]
    # Every text a string: never a formula (=...), a link (http://...) or a number.
    with Workbook(path, dict(XLSX_OPTIONS)) as workbook:
        for level, names in _SHEETS:
            frame = (
                analysis.communes
                if level is None
                else analysis.stats.filter(pl.col("level") == level).drop("level")
            )
            _write_sheet(workbook, names[lang], frame, headers)
        items = method_items(analysis.meta)
        method = pl.DataFrame(
            {
                "item": list(items),
                "value": [
                    v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                    for v in items.values()
                ],
            }
        )
        _write_sheet(workbook, words["method"], method, words)
        keys = list(dict.fromkeys([*analysis.stats.columns, *analysis.communes.columns]))
        columns = pl.DataFrame(
            {"header": [headers.get(k, k) for k in keys], "key": keys},
            schema={"header": pl.String, "key": pl.String},
        )
        _write_sheet(workbook, words["columns"], columns, words)


def _write_sheet(
    workbook: Workbook, name: str, frame: pl.DataFrame, headers: Mapping[str, str]
) -> None:
    """``frame`` as a sheet: readable headers, texts as strings, numbers with a format.

    Texts (commune codes included) are written as strings, so ``03388`` keeps its
    zero; integers and decimals as numbers with a display format; booleans as
    booleans; missing and non-finite values as empty cells (what a filter shows as
    blanks, never ``nan``).
    """
    sheet = workbook.add_worksheet(name)
    header = workbook.add_format(
        {"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#EEF2F6", "border": 1}
    )
    formats = {kind: workbook.add_format({"num_format": kind}) for kind in _NUMBER_FORMATS}
    for col, column in enumerate(frame.columns):
        label = headers.get(column, column)
        sheet.write_string(0, col, label, header)
        series = frame[column]
        width = min(max(len(label) // 2, 10), 24)  # a long header wraps onto more lines
        if series.dtype == pl.String:
            values: list[Any] = series.to_list()
            for row, text in enumerate(values, start=1):
                if text is not None:
                    sheet.write_string(row, col, text)
            longest = max((len(t) for t in values if t is not None), default=0)
            width = max(width, min(longest + 2, 60))
        elif series.dtype == pl.Boolean:
            for row, flag in enumerate(series.to_list(), start=1):
                if flag is not None:
                    sheet.write_boolean(row, col, flag)
        elif series.dtype.is_numeric():
            kind = _number_format(column, series.dtype)
            if series.dtype.is_float():
                series = series.set(~series.is_finite().fill_null(False), None)
            for row, number in enumerate(series.to_list(), start=1):
                if number is not None:
                    sheet.write_number(row, col, number, formats[kind])
            width = max(width, 12)
        else:  # no other type is stored; shown as text rather than lost
            for row, value in enumerate(series.to_list(), start=1):
                if value is not None:
                    sheet.write_string(row, col, str(value))
        sheet.set_column(col, col, width)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, frame.height, max(frame.width - 1, 0))


#: Every display format :func:`_number_format` gives.
_NUMBER_FORMATS: Final = (_INTEGER, _DECIMAL, _PERCENT)


def _number_format(column: str, dtype: pl.DataType) -> str:
    """A count with thousands separators, a share as a percentage, else two decimals."""
    if dtype.is_integer():
        return _INTEGER
    return _PERCENT if column in _SHARES else _DECIMAL


def _geo(analysis: Analysis, store: Store, path: Path) -> Path:
    return write_commune_shapes(
        analysis.communes,
        store,
        analysis.meta["boundaries"]["version"],
        path,
        layer="communes",
        hint="import them again, or analyse the month again",
    )


def write_commune_shapes(
    table: pl.DataFrame, store: Store, version: str, path: Path, *, layer: str, hint: str
) -> Path:
    """``table`` (one row per commune, ``commune_code``) with each commune's shape of
    the boundaries ``version``, as a GeoPackage layer or GeoJSON (by ``path``'s suffix)."""
    import geopandas as gpd

    found = store.artifacts(versions.KIND, version)
    if not found:
        raise StoreError(
            f"{store.root}: boundaries {version} used here are no longer stored", hint=hint
        )
    communes = versions.load_communes(found[0])
    order = communes.table.select("code").with_row_index("__shape")
    joined = table.join(
        order, left_on="commune_code", right_on="code", how="left", maintain_order="left"
    )
    merged = gpd.GeoDataFrame(
        joined.drop("__shape").to_pandas(),
        geometry=communes.geometries[joined["__shape"].to_numpy()],
        crs="EPSG:4326",
    )
    if path.exists():
        path.unlink()
    driver = "GPKG" if path.suffix == ".gpkg" else "GeoJSON"
    merged.to_file(path, driver=driver, layer=layer if driver == "GPKG" else None)
    return path
