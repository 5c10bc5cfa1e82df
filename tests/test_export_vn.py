"""``analyze --export`` for a spreadsheet in a Vietnamese locale, read back independently.

The boundary file here is the samples' province with commune codes that start
with a zero (``03388`` ...) and names holding what breaks a CSV file or acts in a
spreadsheet: a ``;`` (the excel-vn separator), a ``"``, a newline, formulas. The
files are read back with Python's ``csv`` module, Polars and openpyxl, never with
the code that wrote them; the expected values are the stored analysis's.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from qostool.analyze.export import LABELS, LABELS_VI, csv_safe, export_analysis
from qostool.analyze.run import Analysis, load_analysis
from qostool.cli import app
from qostool.errors import UsageError
from qostool.store import Store
from qostool.text import csv_cell
from tests.conftest import REPO, TZ

SAMPLES = REPO / "data" / "samples"
MONTH = "2025-10"
BOM = "\ufeff".encode()
#: Names that break a naive CSV reader or writer (the separator, a quote, a newline)
#: and names a spreadsheet would run.
AWKWARD = ["Xã Một; Hai", 'Phường "Ba"', "Xã Bốn\ndòng hai", '=HYPERLINK("http://x")', "-2+3"]


@dataclass
class Exported:
    """The store, the stored analysis and the folders of each export."""

    root: Path
    analysis: Analysis
    codes: list[str]
    vn: Path
    raw: Path
    plain: Path


def _boundaries(path: Path) -> list[str]:
    """The samples' communes re-coded 03388, 03389, ... with awkward names first."""
    data = json.loads((SAMPLES / "province.geojson").read_text(encoding="utf-8"))
    codes = []
    for number, feature in enumerate(data["features"]):
        code = f"{3388 + number:05d}"
        feature["properties"]["id"] = code
        if number < len(AWKWARD):
            feature["properties"]["name"] = AWKWARD[number]
        codes.append(code)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return codes


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    root = tmp_path_factory.mktemp("export-vn")
    codes = _boundaries(root / "communes.geojson")
    runner = CliRunner()
    store = ("--store", str(root / "store"))
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("QOSTOOL_")]:
            env.delenv(name)  # no developer's settings (the isolation fixture is per test)
        env.setenv("XDG_CONFIG_HOME", str(root / "xdg"))
        env.chdir(root)

        def run(*args: str) -> None:
            result = runner.invoke(app, list(args), catch_exceptions=False)
            assert result.exit_code == 0, result.output

        run("ingest", str(SAMPLES), *store)
        run("boundaries", "import", str(root / "communes.geojson"), *store)
        month = ("analyze", "--month", MONTH, *store)
        run(*month, "--export", "csv,xlsx", "--lang", "vi", "--csv-dialect", "excel-vn",
            "--out", str(root / "vn"))  # fmt: skip
        run(*month, "--export", "csv", "--csv-dialect", "excel-vn", "--raw-csv",
            "--out", str(root / "raw"))  # fmt: skip
        run(*month, "--export", "csv,xlsx", "--out", str(root / "plain"))
    analysis = load_analysis(Store.open(root / "store", timezone=TZ), MONTH)
    yield Exported(
        root=root,
        analysis=analysis,
        codes=codes,
        vn=root / "vn" / MONTH,
        raw=root / "raw" / MONTH,
        plain=root / "plain" / MONTH,
    )


def _rows(path: Path) -> list[list[str]]:
    """A Vietnamese-Excel CSV file as Python's csv module reads it: ``;``, quotes, BOM."""
    assert path.read_bytes().startswith(BOM)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle, delimiter=";"))


def _decimal(text: str) -> float | None:
    """A number written with a decimal comma; empty is missing."""
    if text == "":
        return None
    assert "." not in text, text  # neither a decimal point nor a thousands separator
    return float(text.replace(",", "."))


def test_excel_vn_csv_opens_into_the_right_columns_and_codes(exported: Exported) -> None:
    """Guards: ``,`` between fields, codes losing their zero, a ``;`` or newline in a name
    shifting the row, an unguarded formula.

    Every row has exactly the header's fields; the header is the Vietnamese one in
    the table's column order; the codes are the boundary file's, zeros kept, and
    written in quotes; names with ``;``, ``"`` and a newline come back whole; a
    formula-looking name has its ``'``.
    """
    communes = exported.analysis.communes
    rows = _rows(exported.vn / "communes.csv")
    header, body = rows[0], rows[1:]
    assert header == [LABELS_VI[c] for c in communes.columns]
    assert all(len(row) == len(header) for row in body)
    code_at, name_at = (
        header.index(LABELS_VI["commune_code"]),
        header.index(LABELS_VI["commune_name"]),
    )
    assert sorted(row[code_at] for row in body) == exported.codes
    assert exported.codes[0] == "03388"
    text = (exported.vn / "communes.csv").read_bytes().decode("utf-8-sig")
    assert '\r\n"03388";' in text  # quoted: an import that honours quotes keeps it text
    names = communes["commune_name"].to_list()
    assert [row[name_at] for row in body] == [csv_cell(n) for n in names]
    assert set(AWKWARD[:3]) <= {row[name_at] for row in body}
    assert {"'" + AWKWARD[3], "'" + AWKWARD[4]} <= {row[name_at] for row in body}
    stats = _rows(exported.vn / "stats.csv")
    assert stats[0] == [LABELS_VI[c] for c in exported.analysis.stats.columns]
    assert len(stats) == exported.analysis.stats.height + 1
    assert all(len(row) == len(stats[0]) for row in stats)


def test_excel_vn_numbers_parse_with_the_decimal_comma(exported: Exported) -> None:
    """Guards: decimal points (Excel set to Vietnamese reads ``32.75`` as text or a date).

    Each number cell of communes.csv, read with the decimal comma, is the stored
    value (to the last bit); integers are whole numbers; missing is empty.
    """
    communes = exported.analysis.communes
    body = _rows(exported.vn / "communes.csv")[1:]
    for at, column in enumerate(communes.columns):
        dtype = communes.schema[column]
        if not dtype.is_numeric():
            continue
        for row, expected in zip(body, communes[column].to_list(), strict=True):
            got = _decimal(row[at])
            if expected is None or (isinstance(expected, float) and math.isnan(expected)):
                assert got is None, (column, row[at])
            else:
                assert got == expected, (column, row[at])
                if dtype.is_integer():
                    assert row[at] == str(expected)
    floats = [c for c, t in communes.schema.items() if t.is_float()]
    assert any("," in row[communes.columns.index(c)] for row in body for c in floats)


def test_excel_vn_csv_reads_back_with_polars(exported: Exported) -> None:
    """The whole statistics table, read by Polars with ``;`` and the decimal comma and
    the codes as text, equals the stored one (its formula-looking names guarded)."""
    stats = csv_safe(exported.analysis.stats)
    headers = {c: LABELS_VI[c] for c in stats.columns}
    read = pl.read_csv(
        exported.vn / "stats.csv",
        separator=";",
        decimal_comma=True,
        schema={headers[c]: t for c, t in stats.schema.items()},
    )
    assert_frame_equal(read, stats.rename(headers))
    codes = read[LABELS_VI["commune_code"]].drop_nulls()
    assert codes.str.starts_with("0").all() and codes.str.len_chars().eq(5).all()


def test_excel_vn_raw_csv_keeps_the_stored_texts(exported: Exported) -> None:
    """Guards: ``--raw-csv`` ignored by the excel-vn dialect (or the guard kept)."""
    body = _rows(exported.raw / "communes.csv")[1:]
    names = exported.analysis.communes["commune_name"].to_list()
    assert [row[1] for row in body] == names
    assert AWKWARD[3] in names


def test_plain_csv_stays_the_machine_csv(exported: Exported) -> None:
    """Guards: the default changed under the scripts that read it.

    Without options: UTF-8 with BOM, the column names, ``,`` and a decimal point,
    codes unquoted; Polars reads it back into the stored table (guarded names).
    """
    path = exported.plain / "communes.csv"
    assert path.read_bytes().startswith(BOM)
    text = path.read_text(encoding="utf-8-sig")
    assert text.startswith(",".join(exported.analysis.communes.columns) + "\n")
    assert "\n03388," in text and ";" not in text.splitlines()[0]
    communes = csv_safe(exported.analysis.communes)
    read = pl.read_csv(path, schema=communes.schema)
    assert_frame_equal(read, communes)


def _sheet(path: Path, name: str) -> Any:
    return load_workbook(path)[name]


@pytest.mark.parametrize(
    ("level", "name"),
    [
        ("province", "Toàn tỉnh"),
        ("operator", "Doanh nghiệp"),
        (None, "Xã, phường, đặc khu"),
        ("commune", "Thống kê xã, phường, đặc khu"),
        ("commune_operator", "Xã, phường x doanh nghiệp"),
    ],
)
def test_vietnamese_workbook_headers_filters_codes_and_formats(
    exported: Exported, level: str | None, name: str
) -> None:
    """Guards: English headers under ``--lang vi``, no filter (or one short of the table),
    no frozen header, codes as numbers, numbers as text or without a format.

    The header row is the Vietnamese one; the worksheet filter covers the header
    and every row of the table; the first row is frozen; codes are text cells with
    their zero; every number is a number cell, the stored value to 15 digits, with a
    thousands format for counts, a percentage for shares and two decimals otherwise.
    """
    analysis = exported.analysis
    frame = (
        analysis.communes
        if level is None
        else analysis.stats.filter(pl.col("level") == level).drop("level")
    )
    sheet = _sheet(exported.vn / f"qostool-{MONTH}.xlsx", name)
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]] == [LABELS_VI[c] for c in frame.columns]
    assert len(rows) == frame.height + 1
    assert sheet.auto_filter.ref == f"A1:{get_column_letter(frame.width)}{frame.height + 1}"
    assert sheet.freeze_panes == "A2"
    for at, column in enumerate(frame.columns):
        dtype = frame.schema[column]
        for cells, expected in zip(rows[1:], frame[column].to_list(), strict=True):
            cell = cells[at]
            if expected is None:
                assert cell.value is None, (column, cell.value)
            elif dtype == pl.String:
                assert (cell.data_type, cell.value) == ("s", expected)
            elif dtype.is_numeric():
                # xlsxwriter writes 16 significant digits (Excel keeps 15).
                assert cell.data_type == "n", (column, cell.value)
                assert math.isclose(cell.value, expected, rel_tol=1e-15), (column, cell.value)
                assert cell.number_format == (
                    "#,##0"
                    if dtype.is_integer()
                    else "0.0%"
                    if column.startswith("share_")
                    else "#,##0.00"
                ), column
    if "commune_code" in frame.columns and frame["commune_code"].drop_nulls().len():
        codes = [r[frame.columns.index("commune_code")].value for r in rows[1:]]
        assert "03388" in codes


def test_vietnamese_workbook_names_the_column_behind_each_header(exported: Exported) -> None:
    """The machine keys (the CSV's and the GeoPackage's column names) stay findable."""
    book = load_workbook(exported.vn / f"qostool-{MONTH}.xlsx")
    assert book.sheetnames[-2:] == ["Phương pháp", "Tên cột"]
    pairs = {key: header for header, key in book["Tên cột"].iter_rows(min_row=2, values_only=True)}
    columns = {*exported.analysis.stats.columns, *exported.analysis.communes.columns}
    assert pairs == {c: LABELS_VI[c] for c in columns}
    method = book["Phương pháp"]
    assert [c.value for c in method[1]] == ["Mục", "Giá trị"]
    assert method.auto_filter.ref is not None and method.freeze_panes == "A2"


def test_vietnamese_headers_use_the_reports_terms(exported: Exported) -> None:
    """The export's words are the report's (#16): "lượt đo", "doanh nghiệp", "Đánh giá",
    "mức tối thiểu", "xã, phường, đặc khu"; never "phép đo", "nhà mạng", "Kết luận" or
    "chỉ tiêu" (a 5G target no rule sets)."""
    book = load_workbook(exported.vn / f"qostool-{MONTH}.xlsx")
    words = " ".join(
        [*book.sheetnames]
        + [str(c.value) for sheet in book.worksheets for c in next(sheet.iter_rows(max_row=1))]
    ).lower()
    for old in ("phép đo", "nhà mạng", "kết luận", "chỉ tiêu"):
        assert old not in words, old
    for new in ("lượt đo", "doanh nghiệp", "đánh giá", "mức tối thiểu", "xã, phường, đặc khu"):
        assert new in words, new


def test_default_workbook_keeps_english_headers_and_gains_filters(exported: Exported) -> None:
    """Guards: the default workbook's headers changed (scripts find columns by them)."""
    book = load_workbook(exported.plain / f"qostool-{MONTH}.xlsx")
    assert book.sheetnames == [
        "Province", "Operators", "Communes", "Commune statistics", "Commune x operator",
        "Method", "Columns",
    ]  # fmt: skip
    communes = book["Communes"]
    frame = exported.analysis.communes
    assert [c.value for c in communes[1]] == [LABELS[c] for c in frame.columns]
    assert communes.auto_filter.ref == f"A1:{get_column_letter(frame.width)}{frame.height + 1}"
    assert communes.freeze_panes == "A2"
    assert communes["A2"].data_type == "s" and communes["A2"].value.startswith("0")


def test_headers_cover_every_column_in_both_languages(exported: Exported) -> None:
    """Guards: a column added to the tables without its headers (it would show its key)."""
    assert set(LABELS) == set(LABELS_VI)
    for table in (exported.analysis.stats, exported.analysis.communes):
        assert set(table.columns) <= set(LABELS)
        for labels in (LABELS, LABELS_VI):
            shown = [labels[c] for c in table.columns]
            assert len(shown) == len(set(shown))  # a CSV header names each column once


def test_every_column_name_is_documented(exported: Exported) -> None:
    """Guards: a column whose name (the plain CSV's header, the GIS field) no page explains."""
    docs = (REPO / "docs" / "methodology.md").read_text(encoding="utf-8")
    columns = {*exported.analysis.stats.columns, *exported.analysis.communes.columns}
    assert sorted(c for c in columns if f"`{c}`" not in docs) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lang", "fr"], "--lang 'fr': expected one of: en, vi"),
        (["--csv-dialect", "excel"], "--csv-dialect 'excel': expected one of: plain, excel-vn"),
    ],
)
def test_unknown_language_or_dialect_is_a_usage_error(
    cli: Any, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    result = cli("analyze", "--month", MONTH, "--store", tmp_path / "s", "--export", "csv",
                 "--out", out, *args)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output and not out.exists()


def test_library_refuses_unknown_language_or_dialect(exported: Exported, tmp_path: Path) -> None:
    store = Store.open(exported.root / "store", timezone=TZ)
    with pytest.raises(UsageError, match="--lang 'fr'"):
        export_analysis(exported.analysis, store, ["csv"], tmp_path, lang="fr")
    with pytest.raises(UsageError, match="--csv-dialect 'excel'"):
        export_analysis(exported.analysis, store, ["csv"], tmp_path, csv_dialect="excel")
    assert not (tmp_path / MONTH).exists()


def test_config_keys_choose_the_export_with_provenance(
    cli: Any, exported: Exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[analyze] export_lang`` and ``csv_dialect``: shown by ``config show`` with where
    they come from (file, environment, option), and used by ``analyze --export``."""
    config = tmp_path / "qostool.toml"
    config.write_text('[analyze]\nexport_lang = "vi"\ncsv_dialect = "excel-vn"\n', "utf-8")
    shown = json.loads(cli("config", "show", "--json", "--config", config).stdout)["settings"]
    assert shown["analyze.export_lang"]["value"] == "vi"
    assert shown["analyze.export_lang"]["source"] == "file"
    assert shown["analyze.csv_dialect"]["from"] == str(config)
    monkeypatch.setenv("QOSTOOL_ANALYZE_CSV_DIALECT", "plain")
    shown = json.loads(cli("config", "show", "--json", "--config", config).stdout)["settings"]
    assert (shown["analyze.csv_dialect"]["value"], shown["analyze.csv_dialect"]["source"]) == (
        "plain",
        "env",
    )
    monkeypatch.delenv("QOSTOOL_ANALYZE_CSV_DIALECT")
    out = tmp_path / "out"
    result = cli("analyze", "--month", MONTH, "--store", exported.root / "store",
                 "--config", config, "--export", "csv", "--out", out, "--lang", "en")  # fmt: skip
    assert result.exit_code == 0, result.output
    header = _rows(out / MONTH / "communes.csv")[0]  # the file's dialect, the option's language
    assert header == [LABELS[c] for c in exported.analysis.communes.columns]
