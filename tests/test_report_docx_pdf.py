"""``report --format docx,pdf``: the Word document and the PDF, read back.

The DOCX is opened with python-docx and its tables are compared with the
stored analysis, the numbers formatted here with the independent helpers of
``test_report.py``. The PDF is checked for its pages and its dates, and for a
clear error when no PDF engine can be loaded.
"""

from __future__ import annotations

import importlib.util
import io
import re
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docx
import polars as pl
import pytest
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt

from qostool.analyze.run import Analysis
from qostool.report import ReportOptions, write_report
from qostool.store import Store
from tests.conftest import REPO, require_pdf_engine
from tests.test_report import (  # the module-scoped stores, and the independent formatting
    EVIL,
    VERDICTS,
    VI_LABELS,
    check_commune_rows,
    device_range,
    num,
    october,
    sample_store,
    signed,
    thin_store,
)

__all__ = ["october", "sample_store", "thin_store"]  # fixtures used here by name

GENERATED = "2025-11-15"
FONT = "Times New Roman"
SCRIPT = REPO / "scripts" / "make_docx_template.py"
TEMPLATE = REPO / "src" / "qostool" / "report" / "templates" / "report.docx"


# -- helpers ---------------------------------------------------------------------------


def open_docx(path: Path) -> Any:
    return docx.Document(str(path))


def tables(document: Any) -> dict[str, list[Any]]:
    """The document's tables by their title (the HTML table's id), in document order."""
    named: dict[str, list[Any]] = {}
    for table in document.tables:
        caption = table._tbl.tblPr.find(qn("w:tblCaption"))
        named.setdefault(caption.get(qn("w:val")) if caption is not None else "", []).append(table)
    return named


def rows(table: Any) -> list[list[str]]:
    """Every row's cell texts (a merged cell is repeated, as python-docx reads it)."""
    return [[" ".join(c.text.split()) for c in row.cells] for row in table.rows]


def body(table: Any) -> list[list[str]]:
    """The rows after the header row."""
    return rows(table)[1:]


def visible(document: Any) -> str:
    """Every paragraph of the body and of the tables, as one text."""
    texts = [p.text for p in document.paragraphs]
    texts += [c.text for t in document.tables for r in t.rows for c in r.cells]
    return " ".join(" ".join(texts).split())


def pdf_objects(data: bytes) -> bytes:
    """A PDF's bytes with every Flate stream decompressed next to them."""
    import zlib

    parts = [data]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.DOTALL):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue  # an image or font stream that is not a plain Flate stream
    return b"\n".join(parts)


def load_script(monkeypatch: pytest.MonkeyPatch) -> Any:
    spec = importlib.util.spec_from_file_location("make_docx_template", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def docx_reports(sample_store: Store, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """October as DOCX, in Vietnamese and English."""
    out = {}
    for lang in ("vi", "en"):
        folder = tmp_path_factory.mktemp(f"docx-{lang}")
        options = ReportOptions(
            month="2025-10", lang=lang, formats=("docx",), out=folder, generated_at=GENERATED
        )
        out[lang] = write_report(sample_store, options).files["docx"]
    return out


# -- the template ----------------------------------------------------------------------


def test_the_packaged_template_is_what_the_script_makes(monkeypatch: pytest.MonkeyPatch) -> None:
    made = zipfile.ZipFile(io.BytesIO(load_script(monkeypatch).build()))
    committed = zipfile.ZipFile(TEMPLATE)
    assert made.namelist() == committed.namelist()
    for name in made.namelist():
        assert made.read(name) == committed.read(name), (
            f"{name} differs: run python scripts/make_docx_template.py"
        )


# -- layout ----------------------------------------------------------------------------


def test_docx_header_title_page_and_font(docx_reports: dict[str, Path]) -> None:
    document = open_docx(docx_reports["vi"])
    header = document.tables[0]
    left, right = header.rows[0].cells
    assert [p.text for p in left.paragraphs] == [
        "UBND TỈNH SƠN LÂM",
        "SỞ KHOA HỌC VÀ CÔNG NGHỆ",
        "Số: ..../BC-SKHCN",
    ]
    assert [p.text for p in right.paragraphs] == [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Sơn Lâm, ngày 15 tháng 11 năm 2025",
    ]
    issuer, motto, sub, date_line = (
        left.paragraphs[1],
        right.paragraphs[0],
        right.paragraphs[1],
        right.paragraphs[2],
    )
    assert all(r.bold for p in (issuer, motto, sub) for r in p.runs)
    assert all(r.underline for r in sub.runs)
    assert all(r.italic for r in date_line.runs)
    assert all(p.alignment == WD_ALIGN_PARAGRAPH.CENTER for p in (*left.paragraphs, motto))
    borders = header._tbl.tblPr.find(qn("w:tblBorders"))
    assert {b.get(qn("w:val")) for b in borders} == {"nil"}  # no borders

    title = next(p for p in document.paragraphs if p.text)
    assert title.text == "BÁO CÁO CHẤT LƯỢNG INTERNET DI ĐỘNG"
    assert title.alignment == WD_ALIGN_PARAGRAPH.CENTER and all(r.bold for r in title.runs)

    section = document.sections[0]
    assert abs(section.page_width - Cm(21.0)) < Mm(0.5)
    assert abs(section.page_height - Cm(29.7)) < Mm(0.5)
    assert abs(section.top_margin - Cm(2)) < Mm(0.5) and abs(section.bottom_margin - Cm(2)) < Mm(
        0.5
    )
    assert abs(section.left_margin - Cm(3)) < Mm(0.5)
    assert Cm(1.5) - Mm(0.5) < section.right_margin < Cm(2) + Mm(0.5)

    normal = document.styles["Normal"]
    assert normal.font.name == FONT and normal.font.size == Pt(13)
    assert document.styles["Table Text"].font.size == Pt(10)
    xml = zipfile.ZipFile(docx_reports["vi"])
    for part in ("word/document.xml", "word/styles.xml"):
        text = xml.read(part).decode("utf-8")
        used = set(re.findall(r'w:(?:ascii|hAnsi|eastAsia|cs)="([^"]+)"', text))
        if part == "word/document.xml":
            assert used <= {FONT}, used
        else:
            assert FONT in used
    defaults = document.styles.element.find(qn("w:docDefaults"))
    fonts = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr")).find(qn("w:rFonts"))
    assert fonts.get(qn("w:ascii")) == FONT and fonts.get(qn("w:asciiTheme")) is None


def test_docx_in_english(docx_reports: dict[str, Path]) -> None:
    document = open_docx(docx_reports["en"])
    left, right = document.tables[0].rows[0].cells
    assert [p.text for p in left.paragraphs] == [
        "PEOPLE'S COMMITTEE OF SƠN LÂM PROVINCE",
        "DEPARTMENT OF SCIENCE AND TECHNOLOGY",
        "No.: ..../BC-SKHCN",
    ]
    assert [p.text for p in right.paragraphs] == [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",  # the motto stays in Vietnamese,
        "Độc lập - Tự do - Hạnh phúc",
        "Socialist Republic of Viet Nam",  # with an English line under it
        "Independence - Freedom - Happiness",
        "Sơn Lâm, 15 November 2025",
    ]
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    assert headings == [
        "1. Summary",
        "2. Results by operator",
        "3. Results by commune",
        "4. Communes below target, by operator",
        "5. Communes with insufficient or no data",
        "6. 5G",
        "6.1. 5G roll-out by operator",
        "7. Adoption",
        "8. 12-month trend",
        "Annex: method and data quality",
    ]
    communes = tables(document)["commune-table"][0]
    assert rows(communes)[0][:4] == ["Code", "Commune", "Type", "4G tests"]
    text = visible(document).replace("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "")
    text = text.replace("Độc lập - Tự do - Hạnh phúc", "")
    for label in VI_LABELS:
        assert not re.search(rf"(?<!\w){re.escape(label)}(?!\w)", text), label
    assert not re.search(r"\b(nan|NaN|None|null)\b", text)


# -- numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_docx_commune_table_equals_the_analysis(
    lang: str, docx_reports: dict[str, Path], october: Analysis
) -> None:
    table = tables(open_docx(docx_reports[lang]))["commune-table"][0]
    check_commune_rows(body(table), october, lang)


def test_docx_summary_province_below_and_trend_equal_the_analysis(
    docx_reports: dict[str, Path], october: Analysis
) -> None:
    named = tables(open_docx(docx_reports["vi"]))
    province = {
        r["technology"]: r
        for r in october.stats.filter(pl.col("level") == "province").iter_rows(named=True)
    }
    figures = dict(body(named["key-figures"][0]))
    assert figures["Số phép đo di động"] == num(province["all"]["tests"], "vi", 0)
    assert figures["Số thiết bị (tối thiểu–tối đa)"] == device_range(
        province["all"]["devices_min"], province["all"]["devices_max"], "vi"
    )
    assert figures["Xã, phường có dữ liệu"] == f"{int(october.communes['has_tests'].sum())} / 30"
    counts = october.verdict_counts()["4G"]
    verdicts = rows(named["verdicts"][0])
    assert verdicts[0][2:6] == list(VERDICTS["vi"].values())
    row_4g = next(r for r in verdicts if r[0] == "4G")
    assert row_4g[2:] == [str(counts[v]) for v in VERDICTS["vi"]] + ["30"]
    by_tech = {r[0]: r for r in body(named["province"][0])}
    for tech in ("4G", "5G", "3G"):
        expected, cells = province[tech], by_tech[tech]
        assert cells[1] == num(expected["tests"], "vi", 0)
        assert cells[3] == num(expected["download_mean_mbps"], "vi")
        assert cells[4] == num(expected["download_median_mbps"], "vi")
        assert cells[8] == signed(expected["download_mean_change_mbps"], "vi")
    operators = october.stats.filter(pl.col("level") == "operator", pl.col("technology") == "4G")
    table = {(r[0], r[1]): r for r in body(named["operator-table"][0])}
    for row in operators.iter_rows(named=True):
        assert table[(row["operator"], "4G")][4] == num(row["download_mean_mbps"], "vi")
    below = october.stats.filter(
        pl.col("level") == "commune_operator", pl.col("verdict") == "below_target"
    )
    listed = [(r[0], r[2]) for t in named["below"] for r in body(t)]
    assert listed and sorted(listed) == sorted(
        (r["commune_code"], r["technology"]) for r in below.iter_rows(named=True)
    )
    # October holds the quarter's tiles besides its single tests: the cell says so.
    assert [r[0] for r in body(named["trend-table"][0])] == [
        "tháng 9 năm 2025",
        "tháng 10 năm 2025 — gồm ô Ookla Q4/2025 theo quý",
    ]
    footer = rows(named["adoption-table"][0])[-1]
    assert footer[0] == footer[1] == "Toàn tỉnh"  # the label spans two cells
    assert footer[3] == num(int(october.communes["tests_mobile"].sum()), "vi", 0)


def test_docx_has_the_map_and_the_trend_as_images(
    docx_reports: dict[str, Path], october: Analysis
) -> None:
    from qostool.report.focus import month_operators

    document = open_docx(docx_reports["vi"])
    shapes = list(document.inline_shapes)
    # The map, each operator's 5G presence map (section 6.1), then the trend chart.
    assert len(shapes) == 2 + len(month_operators(october.stats))
    assert abs(shapes[0].width - Mm(150)) < Mm(1) and abs(shapes[-1].width - Mm(160)) < Mm(1)
    assert all(abs(s.width - Mm(80)) < Mm(1) for s in shapes[1:-1])
    package = zipfile.ZipFile(docx_reports["vi"])
    media = sorted(n for n in package.namelist() if n.startswith("word/media/"))
    assert len(media) == len(shapes)
    assert all(package.read(n).startswith(b"\x89PNG\r\n\x1a\n") for n in media)
    captions = [p.text for p in document.paragraphs if p.style.name == "Caption"]
    assert any(c.startswith("Bản đồ kết luận 4G theo xã, phường") for c in captions)


# -- determinism, escaping, templates ----------------------------------------------------


def test_docx_same_options_give_the_same_bytes(sample_store: Store, tmp_path: Path) -> None:
    outputs = []
    for run in ("a", "b"):
        options = ReportOptions(
            month="2025-10",
            formats=("docx",),
            out=tmp_path / run,
            generated_at="2025-11-05T08:30:00+07:00",
        )
        outputs.append(write_report(sample_store, options).files["docx"].read_bytes())
    assert outputs[0] == outputs[1]
    package = zipfile.ZipFile(io.BytesIO(outputs[0]))
    assert {i.date_time for i in package.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert package.namelist()[0] == "[Content_Types].xml"
    props = docx.Document(io.BytesIO(outputs[0])).core_properties
    moment = datetime(2025, 11, 5, 1, 30)
    assert props.created.replace(tzinfo=None) == moment == props.modified.replace(tzinfo=None)
    assert sorted(p.name for p in (tmp_path / "a" / "2025-10").iterdir()) == ["report.docx"]


def test_docx_names_survive_as_text(thin_store: Store, tmp_path: Path) -> None:
    path = write_report(
        thin_store, ReportOptions(month="2025-03", formats=("docx",), out=tmp_path)
    ).files["docx"]
    document = open_docx(path)
    communes = body(tables(document)["commune-table"][0])
    assert next(r for r in communes if r[0] == "99001")[1] == EVIL
    assert "&lt;b&gt;&amp;" in zipfile.ZipFile(path).read("word/document.xml").decode("utf-8")
    text = visible(document)
    assert "Không có phép đo 5G nào trong tháng này." in text
    assert "Đây là tháng đầu tiên được phân tích" in text
    assert "trend-table" not in tables(document)
    assert not re.search(r"\b(nan|NaN|None|null)\b", text)
    # The map and the one operator's 5G presence map; no trend without history.
    assert len(document.inline_shapes) == 2


def test_a_user_docx_template_replaces_the_packaged_one(
    sample_store: Store, tmp_path: Path, cli: Any
) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    mine = docx.Document()
    mine.add_paragraph("MY REPORT {{ month }}: {{ communes | length }} {{ L.c_commune }}")
    mine.save(str(folder / "report.docx"))
    options = ReportOptions(month="2025-10", formats=("docx",), out=tmp_path, template_dir=folder)
    document = open_docx(write_report(sample_store, options).files["docx"])
    assert [p.text for p in document.paragraphs] == ["MY REPORT 2025-10: 30 Xã, phường"]

    broken = docx.Document()
    broken.add_paragraph("{{ no_such_thing }}")
    broken.save(str(folder / "report.docx"))
    result = cli(
        "report", "--month", "2025-10", "--store", sample_store.root, "--out", tmp_path / "o",
        "--format", "docx", "--template-dir", folder,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "--template-dir" in result.output and "no_such_thing" in result.output
    (folder / "report.docx").write_text("not a zip", encoding="utf-8")
    result = cli(
        "report", "--month", "2025-10", "--store", sample_store.root, "--out", tmp_path / "o",
        "--format", "docx", "--template-dir", folder,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "report.docx is not a Word document" in result.output
    assert not (tmp_path / "o" / "2025-10" / "report.docx").exists()


# -- PDF -------------------------------------------------------------------------------


def test_pdf_with_the_engine(sample_store: Store, tmp_path: Path, cli: Any) -> None:
    require_pdf_engine()
    outputs = []
    for run in ("a", "b"):
        result = cli(
            "report", "--month", "2025-10", "--store", sample_store.root,
            "--out", tmp_path / run, "--format", "pdf,docx", "--generated-at", "2025-11-05T08:30",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        outputs.append((tmp_path / run / "2025-10" / "report.pdf").read_bytes())
        assert (tmp_path / run / "2025-10" / "report.docx").is_file()
    data = outputs[0]
    assert data.startswith(b"%PDF-")
    objects = pdf_objects(data)
    pages = len(re.findall(rb"/Type\s*/Page\b", objects))
    assert pages >= 5, pages  # the sections, the map, the annex on its own page
    assert b"/CreationDate (D:20251105083000+07'00)" in objects
    assert outputs[0] == outputs[1]  # the same bytes for the same --generated-at


def test_pdf_without_an_engine_says_how_to_install_one(
    sample_store: Store, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # `import weasyprint` fails
    result = cli(
        "report", "--month", "2025-10", "--store", sample_store.root, "--out", tmp_path,
        "--format", "html,pdf",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "--format pdf: no PDF engine is installed" in result.output
    assert "pip install 'qostool[pdf]'" in result.output  # brackets kept, not read as markup
    assert "Traceback" not in result.output
    assert not (tmp_path / "2025-10").exists()  # nothing written, not even the HTML


def test_core_time_of_a_date_is_midnight_utc() -> None:
    from qostool.report.word import core_time

    assert core_time("2025-11-15") == datetime(2025, 11, 15, tzinfo=UTC)
    assert core_time("2025-11-15T08:30:00+07:00") == datetime(2025, 11, 15, 1, 30, tzinfo=UTC)
