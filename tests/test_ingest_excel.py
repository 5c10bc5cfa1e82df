"""Excel workbooks, end to end through the command line, and files that are no export.

The workbooks are written here with xlsxwriter the way real exports and
hand-made reports look: title and date rows above the header, a merged title
cell, Vietnamese i-Speed headers, numbers stored as text with decimal commas,
dates as Excel serial numbers (formatted as dates or not) and as dd/mm/yyyy
text, a totals row, and an empty, formatted area below the data. The expected
counts come from the rows the test writes, not from qostool.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
import xlsxwriter

from tests.conftest import TZ, rejects, stored

LOCAL = ZoneInfo(TZ)
HEADER = [
    "Mã phép đo",
    "Thời gian đo",
    "Vĩ độ",
    "Kinh độ",
    "Nhà mạng",
    "Loại mạng",
    "Tốc độ tải xuống (Mbps)",
    "Tốc độ tải lên (Mbps)",
    "Độ trễ (ms)",
    "Mã thiết bị",
]
TITLE_ROWS = 3  # title (merged), date of export, a blank row; the header is row 4
SERIAL_EPOCH = datetime(1899, 12, 30)


@dataclass(frozen=True)
class Planted:
    """One data row of a test workbook and what must become of it."""

    test_id: str
    local: datetime
    lat: float | None
    lon: float | None
    download: str
    """As written in the cell: text with a decimal comma."""
    upload: str
    latency: float
    time_as: str
    """``date`` (a serial formatted as a date), ``serial`` (a bare number) or ``text``."""
    verdict: str
    """``accepted``, ``duplicate`` or a reject reason."""


def comma(value: float) -> str:
    return f"{value:.2f}".replace(".", ",")


def planted_rows(count: int, seed: int = 7) -> list[Planted]:
    """``count`` rows of October 2025 tests, with a few faults planted at known places."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        local = datetime(2025, 10, 1, 7) + timedelta(minutes=97 * i + rng.randrange(60))
        rows.append(
            Planted(
                test_id=f"VN-{i:05d}",
                local=local,
                lat=round(22.3 + rng.random() * 0.3, 6),
                lon=round(103.2 + rng.random() * 0.4, 6),
                download=comma(5 + rng.random() * 90),
                upload=comma(1 + rng.random() * 30),
                latency=float(rng.randrange(12, 90)),
                time_as=("date", "serial", "text")[i % 3],
                verdict="accepted",
            )
        )
    faults = {
        5: {"lat": None, "lon": None, "verdict": "missing_coordinates"},
        11: {"download": "abc", "verdict": "invalid_speed"},
        17: {"download": "-3,5", "verdict": "negative_speed"},
    }
    for index, change in faults.items():
        rows[index] = _replace(rows[index], **change)
    rows.append(_replace(rows[8], verdict="duplicate"))  # the same test exported twice
    return rows


def _replace(row: Planted, **change: Any) -> Planted:
    return Planted(**{**row.__dict__, **change})


def serial(local: datetime) -> float:
    return (local - SERIAL_EPOCH) / timedelta(days=1)


def write_sheet(
    book: xlsxwriter.Workbook,
    name: str,
    rows: list[Planted],
    *,
    title_rows: bool = True,
    totals: bool = True,
) -> None:
    """One i-Speed sheet as a VNNIC-style report: title, header, rows, totals, formatted tail."""
    sheet = book.add_worksheet(name)
    bold = book.add_format({"bold": True, "align": "center"})
    as_date = book.add_format({"num_format": "dd/mm/yyyy hh:mm:ss"})
    top = 0
    if title_rows:
        sheet.merge_range(0, 0, 0, len(HEADER) - 1, "BÁO CÁO KẾT QUẢ ĐO TỐC ĐỘ - LAI CHÂU", bold)
        sheet.write(1, 0, "Ngày xuất: 05/11/2025")
        top = TITLE_ROWS
    sheet.write_row(top, 0, HEADER, bold)
    for offset, row in enumerate(rows, start=top + 1):
        sheet.write_string(offset, 0, row.test_id)
        if row.time_as == "date":
            sheet.write_datetime(offset, 1, row.local, as_date)
        elif row.time_as == "serial":
            sheet.write_number(offset, 1, serial(row.local))
        else:
            sheet.write_string(offset, 1, row.local.strftime("%d/%m/%Y %H:%M:%S"))
        for column, value in ((2, row.lat), (3, row.lon)):
            if value is not None:
                sheet.write_number(offset, column, value)
        sheet.write_string(offset, 4, "Viettel")
        sheet.write_string(offset, 5, "4G")
        sheet.write_string(offset, 6, row.download)  # a number stored as text
        sheet.write_string(offset, 7, row.upload)
        sheet.write_number(offset, 8, row.latency)
        sheet.write_string(offset, 9, f"dev-{row.test_id[-2:]}")
    last = top + len(rows)
    if totals:
        sheet.merge_range(last + 1, 0, last + 1, 3, "Tổng cộng", bold)
        sheet.write_formula(last + 1, 8, f"=SUM(I{top + 2}:I{last + 1})", None, 1234)
    shaded = book.add_format({"bg_color": "#DDEBF7", "border": 1})
    for r in range(last + 2, last + 40):  # the formatted, empty area below the data
        for c in range(len(HEADER) + 3):
            sheet.write_blank(r, c, None, shaded)


def workbook(path: Path, sheets: dict[str, list[Planted]], **options: Any) -> Path:
    book = xlsxwriter.Workbook(str(path))
    for name, rows in sheets.items():
        write_sheet(book, name, rows, **options)
    return _close(book, path)


def _close(book: xlsxwriter.Workbook, path: Path) -> Path:
    book.close()
    return path


def run(cli: Any, *args: str | Path) -> tuple[int, dict[str, Any], str]:
    result = cli("ingest", *args, "--json")
    assert "Traceback" not in result.output and "bug in qostool" not in result.output
    out: dict[str, Any] = json.loads(result.stdout)
    for f in out["files"]:
        assert f["read"] == f["accepted"] + f["rejected"] + f["duplicates"], f
        assert f["rejected"] == sum(f["rejected_by_reason"].values()), f
    return result.exit_code, out, result.output


def expected_counts(rows: list[Planted], *, totals: bool = True) -> dict[str, Any]:
    reasons: dict[str, int] = {}
    for row in rows:
        if row.verdict not in ("accepted", "duplicate"):
            reasons[row.verdict] = reasons.get(row.verdict, 0) + 1
    if totals:
        reasons["totals_row"] = 1
    return {
        "read": len(rows) + totals,
        "accepted": sum(r.verdict == "accepted" for r in rows),
        "rejected": sum(reasons.values()),
        "duplicates": sum(r.verdict == "duplicate" for r in rows),
        "rejected_by_reason": dict(sorted(reasons.items())),
    }


def counts(report: dict[str, Any]) -> dict[str, Any]:
    keys = ("read", "accepted", "rejected", "duplicates", "rejected_by_reason")
    return {key: report[key] for key in keys}


def test_a_report_workbook_ingests_with_exact_counts(
    tmp_path: Path, cli: Any, store_dir: Path
) -> None:
    rows = planted_rows(60)
    notes = tmp_path / "notes"
    path = workbook(tmp_path / "bao_cao_10-2025.xlsx", {"Dữ liệu": rows})
    book_with_notes = xlsxwriter.Workbook(str(notes.with_suffix(".xlsx")))
    write_sheet(book_with_notes, "Dữ liệu", rows)
    book_with_notes.add_worksheet("Ghi chú").write("B2", "Số liệu do VNNIC cung cấp")
    _close(book_with_notes, notes)

    code, out, _ = run(cli, path, "--store", store_dir)
    assert code == 0
    [report] = out["files"]
    assert report["status"] == "ingested" and report["format"] == "ispeed"
    assert counts(report) == expected_counts(rows)
    assert report["months"] == ["2025-10"]
    assert "row 4" in report["message"]

    # Every accepted row as written: decimal commas, each kind of time, local time to UTC.
    tests = stored(store_dir).sort("test_id")
    kept = sorted((r for r in rows if r.verdict == "accepted"), key=lambda r: r.test_id)
    assert tests["test_id"].to_list() == [r.test_id for r in kept]
    assert tests["download_mbps"].to_list() == [
        pytest.approx(float(r.download.replace(",", "."))) for r in kept
    ]
    assert tests["upload_mbps"].to_list() == [
        pytest.approx(float(r.upload.replace(",", "."))) for r in kept
    ]
    assert tests["lat"].to_list() == [pytest.approx(r.lat) for r in kept]
    measured = [t.replace(tzinfo=UTC) for t in tests["measured_at"].dt.replace_time_zone(None)]
    assert measured == [r.local.replace(tzinfo=LOCAL).astimezone(UTC) for r in kept]

    # Rejects: sheet row numbers, the totals row as such (not as bad coordinates), originals.
    found = rejects(store_dir).sort("row")
    header_row = TITLE_ROWS + 1
    expected = {
        (header_row + 1 + i, r.verdict)
        for i, r in enumerate(rows)
        if r.verdict not in ("accepted", "duplicate")
    }
    expected.add((header_row + len(rows) + 1, "totals_row"))
    assert set(zip(found["row"], found["reason"], strict=True)) == expected
    totals = found.filter(pl.col("reason") == "totals_row").row(0, named=True)
    assert "Tổng cộng" in totals["detail"]
    assert json.loads(totals["original"])["Mã phép đo"] == "Tổng cộng"
    speed = found.filter(pl.col("reason") == "invalid_speed").row(0, named=True)
    assert json.loads(speed["original"])["Tốc độ tải xuống (Mbps)"] == "abc"

    # Re-ingest: nothing to do. A second sheet of notes does not stop the only data sheet.
    code, again, _ = run(cli, path, "--store", store_dir)
    assert code == 0 and again["files"][0]["status"] == "already ingested"
    assert stored(store_dir).height == tests.height
    code, other, _ = run(cli, notes.with_suffix(".xlsx"), "--store", tmp_path / "other")
    assert code == 0 and counts(other["files"][0]) == expected_counts(rows)


def test_sheet_and_header_row_options(tmp_path: Path, cli: Any, store_dir: Path) -> None:
    september = [_replace(r, test_id="S" + r.test_id) for r in planted_rows(30, seed=1)]
    october = planted_rows(40, seed=2)
    path = workbook(tmp_path / "two.xlsx", {"Tháng 9": september, "Tháng 10": october})

    code, out, _ = run(cli, path, "--store", store_dir)
    assert code == 1
    [report] = out["files"]
    assert report["status"] == "failed"
    message = " ".join(report["message"].split())
    assert "2 sheets with a recognised header" in message
    assert "'Tháng 9', 'Tháng 10'" in message and "--sheet" in message
    assert str(path) in message

    code, out, _ = run(cli, path, "--sheet", "Tháng 10", "--header-row", "4", "--store", store_dir)
    assert code == 0 and counts(out["files"][0]) == expected_counts(october)
    # The other sheet of the same file is its own input, not "already ingested".
    code, out, _ = run(cli, path, "--sheet", "Tháng 9", "--store", store_dir)
    assert code == 0 and counts(out["files"][0]) == expected_counts(september)
    code, out, _ = run(cli, path, "--sheet", "Tháng 9", "--store", store_dir)
    assert out["files"][0]["status"] == "already ingested"

    code, out, _ = run(cli, path, "--sheet", "Tháng 11", "--store", store_dir)
    assert code == 1 and "has no sheet 'Tháng 11'" in out["files"][0]["message"]
    assert "'Tháng 9', 'Tháng 10'" in out["files"][0]["message"]
    # A header row that is not the header: the usual message, at that row.
    other = tmp_path / "other"
    code, out, _ = run(cli, path, "--sheet", "Tháng 9", "--header-row", "2", "--store", other)
    assert code == 1 and ", row 2: the format cannot be recognised" in out["files"][0]["message"]


def test_header_row_with_a_mapping_and_no_title(tmp_path: Path, cli: Any, store_dir: Path) -> None:
    """A sheet whose columns no format knows: --header-row and --map read it."""
    book = xlsxwriter.Workbook(str(tmp_path / "odd.xlsx"))
    sheet = book.add_worksheet("Export")
    sheet.write("A1", "Kết quả đo")
    sheet.write_row(2, 0, ["Khi", "Y", "X", "DL (kbps)"])
    for i in range(10):
        local = datetime(2025, 10, 2, 9) + timedelta(hours=i)
        sheet.write_row(3 + i, 0, [serial(local), 22.4, 103.3, 20_000 + i])
    book.close()
    maps = ["--map", "measured_at=Khi", "--map", "lat=Y", "--map", "lon=X"]
    maps += ["--map", "download_mbps=DL (kbps)", "--unit", "download_mbps=kbps"]
    code, out, _ = run(cli, tmp_path / "odd.xlsx", *maps, "--store", store_dir)
    assert code == 0 and out["files"][0]["accepted"] == 10  # the header found: row 3
    frame = stored(store_dir).sort("download_mbps")
    assert frame["download_mbps"].to_list()[:2] == [pytest.approx(20.0), pytest.approx(20.001)]
    first = frame["measured_at"][0].replace(tzinfo=UTC)
    assert first == datetime(2025, 10, 2, 9, tzinfo=LOCAL).astimezone(UTC)
    code, out, _ = run(cli, tmp_path / "odd.xlsx", *maps, "--header-row", "3", "--store", store_dir)
    assert out["files"][0]["status"] == "already ingested"


def test_a_workbook_in_a_folder_and_in_a_zip(tmp_path: Path, cli: Any, store_dir: Path) -> None:
    rows = planted_rows(25, seed=3)
    folder = tmp_path / "exports"
    folder.mkdir()
    path = workbook(folder / "thang10.xlsx", {"Sheet1": rows})
    (folder / "~$thang10.xlsx").write_bytes(b"\x0bowner\x00" * 10)  # Excel's lock file: left out
    code, out, _ = run(cli, folder, "--store", store_dir)
    assert code == 0 and [Path(f["file"]).name for f in out["files"]] == ["thang10.xlsx"]
    assert counts(out["files"][0]) == expected_counts(rows)

    archive = tmp_path / "exports.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(path, "thang10.xlsm")
    code, out, _ = run(cli, archive, "--store", tmp_path / "other")
    assert code == 0 and out["files"][0]["file"] == f"{archive}!thang10.xlsm"
    assert counts(out["files"][0]) == expected_counts(rows)
    # A CSV is no workbook: --header-row is refused for it, by name.
    csv = tmp_path / "x.csv"
    csv.write_text("time,lat,lon,download\n2025-10-01 08:00,22.4,103.3,5\n", encoding="utf-8")
    code, out, _ = run(cli, csv, "--header-row", "2", "--store", store_dir)
    assert (
        code == 1 and "--header-row applies to Excel workbooks only" in out["files"][0]["message"]
    )


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


UNSUPPORTED: dict[str, tuple[bytes, str]] = {
    "communes.geojson": (
        b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
        b'{"name": "A"}, "geometry": {"type": "Point", "coordinates": [103.3, 22.4]}}]}',
        "looks like a GeoJSON map",
    ),
    "tiles.geojson": (
        b'{\n "type": "FeatureCollection",\n "features": [\n  {"type": "Feature", "properties": '
        b'{"quadkey": "1322303", "avg_d_kbps": 51234, "tests": 3}, "geometry": {"type": '
        b'"Polygon", "coordinates": [[[103.3, 22.4], [103.4, 22.4], [103.4, 22.5], '
        b"[103.3, 22.4]]]}}\n ]\n}\n",
        "looks like a GeoJSON of Ookla tiles",
    ),
    "report.pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "looks like a PDF"),
    "map.png": (_png(), "looks like a PNG image"),
    "letter.docx": (_docx(), "looks like a Word document"),
    "dump.bin": (random.Random(5).randbytes(5000), "looks like binary data"),
}


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_files_that_are_no_export_are_named_and_refused(
    tmp_path: Path, cli: Any, store_dir: Path, name: str
) -> None:
    content, looks = UNSUPPORTED[name]
    path = tmp_path / name
    path.write_bytes(content)
    good = tmp_path / "ok.xlsx"
    workbook(good, {"Sheet1": planted_rows(20, seed=4)}, title_rows=False, totals=False)
    code, out, _ = run(cli, path, good, "--store", store_dir)
    assert code == 1
    files = {f["file"]: f for f in out["files"]}
    assert files[str(good)]["status"] == "ingested"  # the other file is ingested
    message = " ".join(files[str(path)]["message"].split())
    assert files[str(path)]["status"] == "failed"
    assert message.startswith(f"{path}: is not a speed-test export ({looks}")
    assert "supported: CSV, Parquet, Excel, gzip/zip of them" in message
    assert "header" not in message and "{" not in message  # no header of `{` or bytes
    if name == "tiles.geojson":
        assert "Parquet" in message.split("Hint:")[1]
    # The table output (not --json) says the same, with no traceback.
    result = cli("ingest", path, "--store", store_dir)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "not a speed-test export" in " ".join(result.output.split())
