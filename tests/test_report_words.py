"""The words and figures of the monthly report (#16, item 0), read back from every format.

A report signed by a director must not claim more than the data show: no
"Kết luận" (the word of inspection findings), no "chỉ tiêu" (a target no rule
sets for 5G), 5G compared with a reference level and never judged, the 5G
figures of an operator without a commercial 5G network a data question,
communes without any test apart from those with too few, no interval below
zero, quarters and the time zone as a Vietnamese document writes them, and
citizens' tests counted by source with the Ookla tiles apart.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docx
import openpyxl
import polars as pl
import pytest

from qostool.analyze.run import Analysis
from qostool.report import ReportOptions, write_report
from qostool.report.i18n import Formatter
from qostool.store import Store
from qostool.text import markdown as md
from tests.test_report import (  # the module-scoped stores
    Page,
    october,
    sample_store,
    without_data_uris,
)

__all__ = ["october", "sample_store"]  # fixtures used here by name

GENERATED = "2025-11-05"
FORMATS = ("html", "md", "docx", "xlsx")


def docx_text(path: Path) -> str:
    """Every paragraph of a Word document, in its tables too, as one text."""
    document = docx.Document(str(path))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def xlsx_cells(path: Path) -> list[tuple[str, tuple[Any, ...]]]:
    book = openpyxl.load_workbook(path)
    return [(ws.title, row) for ws in book.worksheets for row in ws.iter_rows(values_only=True)]


def texts(files: dict[str, Path]) -> dict[str, str]:
    """The visible text of each format (XLSX: every cell, a line per row)."""
    return {
        "html": Page(files["html"].read_text(encoding="utf-8")).visible(),
        "md": without_data_uris(files["md"].read_text(encoding="utf-8")),
        "docx": docx_text(files["docx"]),
        "xlsx": "\n".join(
            " | ".join("" if v is None else str(v) for v in row)
            for _, row in xlsx_cells(files["xlsx"])
        ),
    }


@pytest.fixture(scope="module")
def vi_files(sample_store: Store, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """October in every format, in Vietnamese, only Viettel selling 5G commercially."""
    options = ReportOptions(
        month="2025-10",
        formats=FORMATS,
        out=tmp_path_factory.mktemp("words"),
        generated_at=GENERATED,
        commercial_5g=("Viettel",),
    )
    return write_report(sample_store, options).files


def test_no_word_of_an_inspection_finding_nor_a_5g_target(vi_files: dict[str, Path]) -> None:
    for name, text in texts(vi_files).items():
        assert "Kết luận" not in text and "kết luận" not in text, name
        assert "chỉ tiêu" not in text.lower(), name
        assert "nhà mạng" not in text.lower() and "phép đo" not in text, name
        # The 5G level is a reference the Department chose.
        assert "Mức tham chiếu" in text, name
    html = Page(vi_files["html"].read_text(encoding="utf-8"))
    five_g = dict(html.body("five-g-figures"))
    assert five_g["Mức tham chiếu (Mbps)"] == "100"
    assert five_g["So với mức tham chiếu"] in (
        "Trên mức tham chiếu",
        "Dưới mức tham chiếu",
        "Sát mức tham chiếu",
    )
    assert "Mức tối thiểu (Mbps)" not in five_g
    # Never "Đạt" / "Chưa đạt" on a 5G row, in any table of any format.
    for fmt_name, rows in (
        ("html", [r for t in html.tables.values() for r in t]),
        ("xlsx", [list(r) for _, r in xlsx_cells(vi_files["xlsx"])]),
        (
            "docx",
            [
                [c.text for c in row.cells]
                for table in docx.Document(str(vi_files["docx"])).tables
                for row in table.rows
            ],
        ),
    ):
        fives = [r for r in rows if "5G" in [str(c) for c in r]]
        assert fives, fmt_name
        for row in fives:
            assert not {"Đạt", "Chưa đạt"} & {str(c) for c in row}, (fmt_name, row)


def test_the_5g_of_an_operator_without_a_commercial_network_is_a_data_question(
    vi_files: dict[str, Path], october: Analysis
) -> None:
    fives = october.stats.filter(
        pl.col("level") == "operator", pl.col("technology") == "5G", pl.col("tests") > 0
    )
    others = sorted(set(fives["operator"].to_list()) - {"Viettel", "unknown"})
    assert others and "Viettel" in fives["operator"].to_list()
    html = Page(vi_files["html"].read_text(encoding="utf-8"))
    table = {(r[1], r[2]): r[1:] for r in html.body("operator-table")}  # "TT" first
    for operator in others:
        assert table[(operator, "5G")][9] == "Cần xác minh dữ liệu"
    assert table[("Viettel", "5G")][9] != "Cần xác minh dữ liệu"
    assert table[("Viettel", "4G")][9] in ("Đạt", "Chưa đạt", "Sát ngưỡng, chưa đủ cơ sở đánh giá")
    sheet = [r for title, r in xlsx_cells(vi_files["xlsx"]) if title == "Doanh nghiệp"]
    flagged = {r[0] for r in sheet if r[1] == "5G" and r[9] == "Cần xác minh dữ liệu"}
    assert flagged == set(others)
    markdown = vi_files["md"].read_text(encoding="utf-8")
    for operator in others:
        middle = f" | {md(operator)} | 5G |"  # after the row's number ("TT")
        line = next(x for x in markdown.splitlines() if middle in x)
        assert "Cần xác minh dữ liệu" in line


def test_communes_without_any_test_are_apart_from_those_with_too_few(
    vi_files: dict[str, Path], october: Analysis
) -> None:
    """Counted a second way, from the commune table: no 4G test at all, or some, too few."""
    communes = october.communes
    none = communes.filter(pl.col("tests_4g") == 0)
    few = communes.filter(pl.col("tests_4g") > 0, pl.col("verdict_4g") == "insufficient_data")
    assert none.height > 0 and few.height > 0  # the samples have both
    html = Page(vi_files["html"].read_text(encoding="utf-8"))
    header, row = html.tables["verdicts"][0], html.tables["verdicts"][1]
    counts = dict(zip(header, row, strict=True))
    assert counts["Không có lượt đo"] == str(none.height)
    assert counts["Chưa đủ dữ liệu"] == str(few.height)
    headline = html.visible()
    assert f"{few.height} chưa đủ dữ liệu; {none.height} không có lượt đo 4G." in headline
    meets = int((communes["verdict_4g"] == "meets_target").sum())
    share = f"{100 * meets / 30:.0f}%"
    assert f"{meets}/30 xã, phường, đặc khu ({share}) đạt mức tối thiểu" in headline
    # The map's legend counts them apart too.
    svg = vi_files["html"].read_text(encoding="utf-8")
    assert f"Không có lượt đo ({none.height})" in svg
    assert f"Chưa đủ dữ liệu ({few.height})" in svg
    sheet = [r for title, r in xlsx_cells(vi_files["xlsx"]) if title == "Đánh giá"]
    assert sheet[0][2:7] == (
        "Đạt",
        "Chưa đạt",
        "Sát ngưỡng, chưa đủ cơ sở đánh giá",
        "Chưa đủ dữ liệu",
        "Không có lượt đo",
    )
    assert sheet[1][5:7] == (few.height, none.height)


def test_citizens_tests_are_counted_by_source_and_the_tiles_apart(
    vi_files: dict[str, Path], october: Analysis, sample_store: Store
) -> None:
    stored = (
        sample_store.scan_tests(["2025-10"])
        .filter(~pl.col("aggregate").fill_null(False), pl.col("technology") != "wifi")
        .group_by("source")
        .agg(pl.len())
        .collect()
    )
    by_source = dict(stored.rows())
    assert set(by_source) == {"ispeed", "rtr"}
    fmt = Formatter("vi")
    html = Page(vi_files["html"].read_text(encoding="utf-8"))
    sources = {r[0]: r[1] for r in html.body("sources")}
    assert sources == {
        "i-Speed (VNNIC)": fmt.integer(by_source["ispeed"]),
        "RTR-NetTest": fmt.integer(by_source["rtr"]),
    }
    tiles = october.stats.filter(pl.col("level") == "province", pl.col("technology") == "all")[
        "tile_tests"
    ][0]
    for name, text in texts(vi_files).items():
        if name == "xlsx":
            continue
        assert "cộng đồng khác" not in text, name
        line = next(x for x in text.splitlines() if "Số liệu từ các lượt đo tốc độ" in x)
        assert f"i-Speed (VNNIC): {fmt.integer(by_source['ispeed'])} lượt đo" in line, name
        assert "dữ liệu tổng hợp theo ô lưới của Ookla" in line, name
        assert f"quý IV/2025: {fmt.integer(tiles)} lượt đo, thống kê riêng" in line, name
        assert "không phải kết quả đo kiểm chất lượng dịch vụ theo QCVN 81:2019/BTTTT" in line
    # The 5G share: of citizens' tests, never of the tiles' (whose technology is unknown).
    g5 = october.stats.filter(pl.col("level") == "province", pl.col("technology") == "5G")
    share = g5["tests"][0] / sum(by_source.values())
    assert dict(html.body("five-g-figures"))[
        "Tỷ lệ lượt đo trên mạng 5G (toàn tỉnh, trong số lượt đo trên mạng di động)"
    ] == fmt.percent(share)


def test_quarters_and_the_time_zone_in_words(vi_files: dict[str, Path]) -> None:
    for name, text in texts(vi_files).items():
        assert "Asia/Ho_Chi_Minh" not in text, name
        assert "2025-Q4" not in text, name
        assert "giờ Việt Nam (UTC+7)" in text, name
    # The names themselves are in the technical file next to the report, not in the letter.
    technical = (vi_files["html"].parent / "technical.md").read_text(encoding="utf-8")
    technical = technical.replace("\\", "")  # Markdown's escapes
    assert "| Múi giờ | Asia/Ho_Chi_Minh |" in technical
    assert "| Quý của dữ liệu ô lưới Ookla | 2025-Q4 |" in technical
    # The data period, in the opening, and the boundaries named under the map.
    html = vi_files["html"].read_text(encoding="utf-8")
    assert "từ ngày 01/10/2025 đến hết ngày 31/10/2025" in html[: html.index('id="uptake"')]
    assert "Ranh giới hành chính: tệp province.geojson (phiên bản province-" in html


def test_the_boundaries_credit_under_the_map() -> None:
    annex = SimpleNamespace(
        boundaries_credit="gis.vn (vietnam-3d-map, MIT)",
        boundaries_file="x.geojson",
        boundaries_version="x-1",
    )
    assert Formatter("vi").map_source(annex) == (
        "Nguồn ranh giới hành chính: gis.vn (vietnam-3d-map, MIT)."
    )
    blank = SimpleNamespace(**{**vars(annex), "boundaries_credit": None})
    assert Formatter("en").map_source(blank) == (
        "Boundaries: file x.geojson (version x-1); their source was not recorded when they "
        "were imported."
    )


NEGATIVE_RANGE = re.compile(r"(?<![\w.,])-\d[\d.,]*\s*–|–\s*-\d")


def test_no_interval_end_below_zero_in_any_format(
    sample_store: Store, october: Analysis, tmp_path: Path
) -> None:
    """An analysis stored before the intervals were taken on the log scale could hold a
    negative lower end (its symmetric interval): no format shows one."""
    from qostool.report.context import build_context
    from qostool.report.render import Charts
    from qostool.report.write import render_formats

    negative = october.stats.with_columns(
        download_mean_ci_low=pl.when(pl.col("download_mean_ci_low").is_not_null()).then(
            pl.col("download_mean_ci_low") - 1000.0
        ),
        statistic_ci_low=pl.when(pl.col("statistic_ci_low").is_not_null()).then(
            pl.col("statistic_ci_low") - 1000.0
        ),
    )
    old = Analysis(october.month, negative, october.communes, october.meta, october.path)
    context = build_context(sample_store, old, generated_at=GENERATED)
    rendered = render_formats(context, Charts(map_svg=None, trend_svg=None), "vi", FORMATS)
    files = {}
    for name, data in rendered.items():
        files[name] = tmp_path / f"report.{name}"
        files[name].write_bytes(data)
    shown = texts(files)
    for name, text in shown.items():
        assert not NEGATIVE_RANGE.search(text), (name, NEGATIVE_RANGE.search(text))
    assert "0,0–" in shown["html"]  # the cut intervals are there, from 0
    book = openpyxl.load_workbook(files["xlsx"])
    lows = 0
    for ws in book.worksheets:
        header = [c.value for c in ws[1]]
        if "Cận dưới khoảng tin cậy (Mbps)" not in header:
            continue
        at = header.index("Cận dưới khoảng tin cậy (Mbps)")
        values = [r[at] for r in ws.iter_rows(min_row=2, values_only=True)]
        numbers = [v for v in values if isinstance(v, int | float)]
        assert numbers and min(numbers) >= 0, ws.title
        lows += len(numbers)
    assert lows > 0
