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
from qostool.report.document import DocumentSettings
from qostool.store import Store
from tests.conftest import REPO, one_line, require_pdf_engine
from tests.test_report import (  # the module-scoped stores, and the independent formatting
    EVIL,
    VERDICTS,
    VI_LABELS,
    change_cell,
    check_commune_rows,
    group_tests,
    num,
    october,
    ordinals,
    sample_store,
    september,
    shown,
    singles_and_devices,
    thin_store,
)

__all__ = ["october", "sample_store", "september", "thin_store"]  # fixtures used here by name

GENERATED = "2025-11-15"
NBSP = "\u00a0"
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


def rule_length_cm(paragraph: Any, column_cm: float) -> float:
    """The length of a header rule: an empty paragraph with a top border, between indents."""
    borders = paragraph._p.pPr.find(qn("w:pBdr"))
    assert borders is not None and borders.find(qn("w:top")).get(qn("w:val")) == "single"
    form = paragraph.paragraph_format
    return float(column_cm - form.left_indent.cm - form.right_indent.cm)


def date_line(document: Any) -> str:
    """The place and date line: the last paragraph of the header's right column."""
    return str(document.tables[0].rows[0].cells[1].paragraphs[-1].text)


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
    # No number given: a blank of spaces to write it in, not dots. The date line is
    # --generated-at's day (the report's own date when it is given).
    assert [p.text for p in left.paragraphs] == [
        "UBND TỈNH SƠN LÂM",
        "SỞ KHOA HỌC VÀ CÔNG NGHỆ",
        "",  # the short rule under the issuing body
        f"Số: {NBSP * 6}/BC-SKHCN",
    ]
    assert [p.text for p in right.paragraphs] == [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "",  # the rule under the motto
        "Sơn Lâm, ngày 15 tháng 11 năm 2025",
    ]
    issuer, motto, sub, date_line = (
        left.paragraphs[1],
        right.paragraphs[0],
        right.paragraphs[1],
        right.paragraphs[3],
    )
    assert all(r.bold for p in (issuer, motto, sub) for r in p.runs)
    assert all(r.italic for r in date_line.runs)
    texts = [p for p in left.paragraphs if p.text]
    assert all(p.alignment == WD_ALIGN_PARAGRAPH.CENTER for p in (*texts, motto))
    # The rules are short: a third of the issuer's 7 cm column, most of the motto's line.
    assert rule_length_cm(left.paragraphs[2], 7.0) == pytest.approx(2.4, abs=0.05)
    assert rule_length_cm(right.paragraphs[2], 9.6) == pytest.approx(5.9, abs=0.05)
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
        "",
        f"No.: {NBSP * 6}/BC-SKHCN",
    ]
    assert [p.text for p in right.paragraphs] == [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",  # the motto stays in Vietnamese,
        "Độc lập - Tự do - Hạnh phúc",
        "",
        "Socialist Republic of Viet Nam",  # with an English line under it
        "Independence - Freedom - Happiness",
        "Sơn Lâm, 15 November 2025",
    ]
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    assert headings == [
        "I. Implementation",
        "II. Measurement results and assessment",
        "III. General assessment",
        "IV. Tasks for next month",
        "V. Proposals and recommendations",
        "Annex I",
        "Annex II",
        "Annex III",
        "Annex IV",
        "Annex V",
    ]
    named = tables(document)
    assert [c.text for c in named["addressees"][0].rows[0].cells] == [
        "To:",
        "- the People's Committee of Sơn Lâm province;\n- the Viet Nam Telecommunications "
        "Authority, Ministry of Science and Technology.",
    ]
    left, right = named["signature"][0].rows[0].cells
    assert [p.text for p in left.paragraphs] == [
        "Recipients:",
        "- As above;",
        "- Archive: records office.",
    ]
    assert right.paragraphs[0].text == "DIRECTOR"
    communes = tables(document)["commune-table"][0]
    assert rows(communes)[0][:5] == ["No.", "Code", "Commune", "Type", "4G tests"]
    text = visible(document).replace("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "")
    text = text.replace("Độc lập - Tự do - Hạnh phúc", "")
    for label in VI_LABELS:
        assert not re.search(rf"(?<!\w){re.escape(label)}(?!\w)", text), label
    assert not re.search(r"\b(nan|NaN|None|null)\b", text)


# -- numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_docx_commune_table_equals_the_analysis(
    lang: str, docx_reports: dict[str, Path], october: Analysis, september: Analysis
) -> None:
    table = tables(open_docx(docx_reports[lang]))["commune-table"][0]
    check_commune_rows(body(table), october, september, lang)


def test_docx_summary_province_below_and_trend_equal_the_analysis(
    docx_reports: dict[str, Path], october: Analysis, september: Analysis, sample_store: Store
) -> None:
    named = tables(open_docx(docx_reports["vi"]))
    province = {
        r["technology"]: r
        for r in october.stats.filter(pl.col("level") == "province").iter_rows(named=True)
    }
    figures = dict(body(named["key-figures"][0]))
    singles, devices = singles_and_devices(sample_store, "2025-10")
    assert figures["Lượt đo trên mạng di động (i-Speed và các nguồn đo từng lượt)"] == num(
        singles, "vi", 0
    )
    assert figures["Số thiết bị đã đo"] == num(devices, "vi", 0)
    with_tests = int(october.communes["has_tests"].sum())
    assert figures["Xã, phường, đặc khu có lượt đo"] == f"{with_tests} / 30"
    g4 = october.commune_rows("4G")
    assessed = [shown(v, t) for v, t in zip(g4["verdict"], g4["tests"], strict=True)]
    verdicts = rows(named["verdicts"][0])
    assert verdicts[0][2:7] == list(VERDICTS["vi"].values())
    row_4g = next(r for r in verdicts if r[0] == "4G")
    assert row_4g[2:] == [str(assessed.count(v)) for v in VERDICTS["vi"]] + ["30"]
    before = group_tests(september)
    by_tech = {r[0]: r for r in body(named["province"][0])}
    for tech in ("4G", "5G", "3G"):
        expected, cells = province[tech], by_tech[tech]
        assert cells[1] == num(expected["tests"], "vi", 0)
        assert cells[3] == num(expected["download_mean_mbps"], "vi")
        assert cells[4] == num(expected["download_median_mbps"], "vi")
        assert cells[8] == change_cell(expected, before.get(("province", None, "all", tech)), "vi")
    assert by_tech["5G"][5] == "100 (tham chiếu)" and by_tech["5G"][6] not in ("Đạt", "Chưa đạt")
    operators = october.stats.filter(pl.col("level") == "operator", pl.col("technology") == "4G")
    table = {(r[0], r[1]): r for r in ordinals(body(named["operator-table"][0]))}
    for row in operators.iter_rows(named=True):
        assert table[(row["operator"], "4G")][4] == num(row["download_mean_mbps"], "vi")
    below = october.stats.filter(
        pl.col("level") == "commune_operator",
        pl.col("verdict") == "below_target",
        pl.col("technology") == "4G",  # 5G has a reference level, no minimum
    )
    listed = [(r[0], r[2]) for t in named["below"] for r in ordinals(body(t))]
    assert listed and sorted(listed) == sorted(
        (r["commune_code"], r["technology"]) for r in below.iter_rows(named=True)
    )
    # October holds the quarter's tiles besides its single tests: the cell says so.
    assert [r[0] for r in body(named["trend-table"][0])] == [
        "tháng 9 năm 2025",
        "tháng 10 năm 2025 — gồm dữ liệu ô lưới Ookla của quý IV/2025",
    ]
    footer = rows(named["adoption-table"][0])[-1]
    assert footer[0] == footer[1] == footer[2] == "Toàn tỉnh"  # the label spans three cells
    assert footer[4] == num(singles, "vi", 0)  # citizens' tests: the tiles apart


def test_docx_has_the_map_and_the_trend_as_images(
    docx_reports: dict[str, Path], october: Analysis
) -> None:
    from qostool.report.focus import month_operators

    document = open_docx(docx_reports["vi"])
    shapes = list(document.inline_shapes)
    # Each operator's 4G map (two a row, section II.2), the map of all operators (II.3),
    # each operator's 5G presence map (II.4), then the trend chart (II.5).
    fours = october.stats.filter(
        pl.col("level") == "commune_operator", pl.col("technology") == "4G"
    )["operator"]
    n4 = fours.drop_nulls().n_unique()
    assert n4 >= 2
    assert len(shapes) == 2 + n4 + len(month_operators(october.stats))
    assert abs(shapes[n4].width - Mm(150)) < Mm(1) and abs(shapes[-1].width - Mm(160)) < Mm(1)
    assert all(abs(s.width - Mm(78)) < Mm(1) for s in shapes[:n4])
    assert all(abs(s.width - Mm(80)) < Mm(1) for s in shapes[1 + n4 : -1])
    figures = [p for p in document.paragraphs if p.style.name == "Figure"]
    pairs = [len(p._p.findall(".//" + qn("w:drawing"))) for p in figures[: (n4 + 1) // 2]]
    assert pairs == [2] * (n4 // 2) + [1] * (n4 % 2)  # side by side
    package = zipfile.ZipFile(docx_reports["vi"])
    media = sorted(n for n in package.namelist() if n.startswith("word/media/"))
    assert len(media) == len(shapes)
    assert all(package.read(n).startswith(b"\x89PNG\r\n\x1a\n") for n in media)
    captions = [p.text for p in document.paragraphs if p.style.name == "Caption"]
    assert any(c.startswith("Bản đồ đánh giá 4G theo xã, phường, đặc khu") for c in captions)


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
    assert sorted(p.name for p in (tmp_path / "a" / "2025-10").iterdir()) == [
        "report.docx",
        "technical.md",
    ]


def test_docx_names_survive_as_text(thin_store: Store, tmp_path: Path) -> None:
    path = write_report(
        thin_store, ReportOptions(month="2025-03", formats=("docx",), out=tmp_path)
    ).files["docx"]
    document = open_docx(path)
    communes = ordinals(body(tables(document)["commune-table"][0]))
    assert next(r for r in communes if r[0] == "99001")[1] == EVIL
    assert "&lt;b&gt;&amp;" in zipfile.ZipFile(path).read("word/document.xml").decode("utf-8")
    text = visible(document)
    assert "Không có lượt đo 5G nào trong tháng này." in text
    assert "Đây là tháng đầu tiên được phân tích" in text
    assert "trend-table" not in tables(document)
    assert not re.search(r"\b(nan|NaN|None|null)\b", text)
    # The map, the one operator's 4G and 5G maps; no trend without history.
    assert len(document.inline_shapes) == 3


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
    assert [p.text for p in document.paragraphs] == ["MY REPORT 2025-10: 30 Xã, phường, đặc khu"]

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


# -- the document's settings: issuer, number, date line, addressees, signer -------------

SIGNED = DocumentSettings(
    parent="UBND TỈNH SƠN LÂM",
    issuer="Sở Khoa học và Công nghệ",
    number="125",
    place="Thành Sơn",
    date="2025-11-05",
    signer_title=("KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
    signer_name="Nguyễn Văn An",
    recipients=("Ủy ban nhân dân tỉnh Sơn Lâm", "Cục Viễn thông, Bộ Khoa học và Công nghệ"),
    basis=("Chỉ thị số 05/CT-UBND ngày 10/3/2025 của Ủy ban nhân dân tỉnh",),
    next_tasks=("Kiểm tra 3 xã chưa đạt cùng các doanh nghiệp", "Hướng dẫn người dân đo tốc độ"),
    copies_to=("Như trên", "Giám đốc Sở (để b/c)"),
    drafting_unit="BCVT",
)


def html_part(html: str, css_class: str) -> list[str]:
    """The texts of the HTML elements of one class (tags dropped, spaces kept as they are)."""
    import html as markup

    found = re.findall(rf'<(\w+) class="{css_class}">(.*?)</\1>', html, re.DOTALL)
    return [markup.unescape(re.sub(r"<[^>]+>", " ", inner)).strip(" \n") for _, inner in found]


def test_the_settings_appear_where_they_belong(sample_store: Store, tmp_path: Path) -> None:
    options = ReportOptions(
        month="2025-10",
        formats=("docx", "html", "md"),
        out=tmp_path,
        generated_at="2025-12-05T01:47",  # made later than signed: the setting's date wins
        document=SIGNED,
    )
    files = write_report(sample_store, options).files
    document = open_docx(files["docx"])
    left = document.tables[0].rows[0].cells[0]
    assert [p.text for p in left.paragraphs] == [
        "UBND TỈNH SƠN LÂM",
        "SỞ KHOA HỌC VÀ CÔNG NGHỆ",
        "",
        "Số: 125/BC-SKHCN",
    ]
    assert date_line(document) == "Thành Sơn, ngày 05 tháng 11 năm 2025"
    named = tables(document)
    to, whom = named["addressees"][0].rows[0].cells
    assert to.text == "Kính gửi:"
    assert [p.text for p in whom.paragraphs] == [
        "- Ủy ban nhân dân tỉnh Sơn Lâm;",
        "- Cục Viễn thông, Bộ Khoa học và Công nghệ.",
    ]
    texts = [p.text for p in document.paragraphs]
    opening = next(t for t in texts if t.startswith("Thực hiện "))
    assert opening == (
        "Thực hiện Chỉ thị số 05/CT-UBND ngày 10/3/2025 của Ủy ban nhân dân tỉnh; trên cơ sở "
        "số liệu đo tốc độ Internet di động của người dân trên địa bàn tỉnh Sơn Lâm từ ngày "
        "01/10/2025 đến hết ngày 31/10/2025, Sở Khoa học và Công nghệ báo cáo như sau:"
    )
    tasks = texts.index("IV. Nhiệm vụ tháng tới")
    assert texts[tasks + 1 : tasks + 3] == [
        "- Kiểm tra 3 xã chưa đạt cùng các doanh nghiệp",
        "- Hướng dẫn người dân đo tốc độ",
    ]
    copies, signer = named["signature"][0].rows[0].cells
    assert [p.text for p in copies.paragraphs] == [
        "Nơi nhận:",
        "- Như trên;",
        "- Giám đốc Sở (để b/c);",
        "- Lưu: VT, BCVT.",
    ]
    lines = [p.text for p in signer.paragraphs]
    assert lines[:2] == ["KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"] and lines[-1] == "Nguyễn Văn An"
    assert all(r.bold for p in signer.paragraphs if p.text for r in p.runs)
    # The time the files were made is in the technical file, apart from the date line.
    assert "versions" not in named
    technical = (files["docx"].parent / "technical.md").read_text(encoding="utf-8")
    assert "| Thời điểm qostool lập các tệp báo cáo | ngày 5 tháng 12 năm 2025 lúc 01:47 |" in (
        technical
    )

    html = files["html"].read_text(encoding="utf-8")
    assert html_part(html, "doc-parent") == ["UBND TỈNH SƠN LÂM"]
    assert html_part(html, "doc-number") == ["Số: 125/BC-SKHCN"]
    assert html_part(html, "doc-date") == ["Thành Sơn, ngày 05 tháng 11 năm 2025"]
    assert "Ngày lập" not in html and "01:47" not in html
    assert "từ ngày 01/10/2025 đến hết ngày 31/10/2025" in html_part(html, "doc-opening")[0]
    addressees = " ".join(html_part(html, "doc-addressees")[0].split())
    assert addressees == (
        "Kính gửi: - Ủy ban nhân dân tỉnh Sơn Lâm; - Cục Viễn thông, Bộ Khoa học và Công nghệ."
    )
    block = html.split('id="signature">')[1].split('<section id="annex-communes"')[0]
    signature = " ".join(re.sub(r"<[^>]+>", " ", block).split())
    assert signature.startswith("Nơi nhận: - Như trên; - Giám đốc Sở (để b/c); - Lưu: VT, BCVT.")
    assert signature.endswith("KT. GIÁM ĐỐC PHÓ GIÁM ĐỐC Nguyễn Văn An")
    markdown = files["md"].read_text(encoding="utf-8")
    assert "Số: 125/BC\\-SKHCN" in markdown and "**KT\\. GIÁM ĐỐC**  \n**PHÓ GIÁM ĐỐC**" in markdown


def test_the_date_line_is_blank_unless_a_date_is_given(sample_store: Store, tmp_path: Path) -> None:
    """Rendered today without a date, the date line is left for the signing date: the
    machine's clock never dates an official document."""
    blank = f"Sơn Lâm, ngày{NBSP * 6}tháng{NBSP * 6}năm{NBSP * 6}"
    for lang, expected in (("vi", blank), ("en", "Sơn Lâm, (date of signing)")):
        options = ReportOptions(
            month="2025-10", lang=lang, formats=("docx", "html"), out=tmp_path / lang
        )
        files = write_report(sample_store, options).files
        assert date_line(open_docx(files["docx"])) == expected
        html = files["html"].read_text(encoding="utf-8")
        assert html_part(html, "doc-date") == [expected]
        assert not re.search(r"\d", expected)
    dated = ReportOptions(
        month="2025-10",
        formats=("docx",),
        out=tmp_path / "dated",
        document=DocumentSettings(date="2025-11-03"),
    )
    assert date_line(open_docx(write_report(sample_store, dated).files["docx"])) == (
        "Sơn Lâm, ngày 03 tháng 11 năm 2025"
    )


@pytest.mark.parametrize(
    ("name", "city"),
    [
        ("Hà Nội", True),
        ("Thành phố Hồ Chí Minh", True),
        ("TP. Hải Phòng", True),
        ("Da Nang", True),
        ("Cần Thơ", True),
        ("Thành phố Huế", True),
        ("Sơn Lâm", False),
        ("Tỉnh Lai Châu", False),
        ("Thừa Thiên Huế", False),  # the province before it became the city of Huế
    ],
)
def test_centrally_run_cities(name: str, city: bool) -> None:
    from qostool.report.document import is_central_city

    assert is_central_city(name) is city


def test_a_centrally_run_city_is_thanh_pho(
    sample_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qostool.report import context

    monkeypatch.setattr(context, "_province", lambda store, meta: ("01", "Thành phố Hà Nội"))
    out = {}
    for lang in ("vi", "en"):
        options = ReportOptions(
            month="2025-10", lang=lang, formats=("docx", "html"), out=tmp_path / lang
        )
        out[lang] = write_report(sample_store, options).files
    document = open_docx(out["vi"]["docx"])
    assert document.tables[0].rows[0].cells[0].paragraphs[0].text == "UBND THÀNH PHỐ HÀ NỘI"
    assert date_line(document).startswith("Hà Nội, ngày")
    whom = tables(document)["addressees"][0].rows[0].cells[1]
    assert whom.paragraphs[0].text == "- Ủy ban nhân dân thành phố Hà Nội;"
    text = visible(document)
    assert "TỈNH HÀ NỘI" not in text.upper() and "trên địa bàn thành phố Hà Nội" in text
    html = out["vi"]["html"].read_text(encoding="utf-8")
    assert html_part(html, "doc-parent") == ["UBND THÀNH PHỐ HÀ NỘI"]
    english = open_docx(out["en"]["docx"])
    parent = english.tables[0].rows[0].cells[0].paragraphs[0].text
    assert parent == "PEOPLE'S COMMITTEE OF HÀ NỘI CITY"
    texts = [p.text for p in english.paragraphs]
    assert "Reporting month: October 2025, Hà Nội city" in texts


def test_report_options_override_the_file(
    sample_store: Store, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "qostool.toml"
    config.write_text(
        "[report]\n"
        'number = "7"\n'
        'signer_name = "Trần Thị Bình"\n'
        'signer_title = ["GIÁM ĐỐC"]\n'
        'copies_to = ["Như trên"]\n'
        'drafting_unit = "KHTC"\n'
        "date = 2025-11-04\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("QOSTOOL_REPORT_RECIPIENTS", "Ủy ban nhân dân tỉnh Sơn Lâm|Cục Viễn thông")
    result = cli(
        "report", "--month", "2025-10", "--store", sample_store.root, "--config", config,
        "--out", tmp_path / "out", "--format", "docx",
        "--number", "125", "--date", "2025-11-05", "--drafting-unit", "BCVT",
        "--signer-title", "KT. GIÁM ĐỐC", "--signer-title", "PHÓ GIÁM ĐỐC",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = open_docx(tmp_path / "out" / "2025-10" / "report.docx")
    assert document.tables[0].rows[0].cells[0].paragraphs[-1].text == "Số: 125/BC-SKHCN"
    assert date_line(document) == "Sơn Lâm, ngày 05 tháng 11 năm 2025"
    named = tables(document)
    whom = named["addressees"][0].rows[0].cells[1]
    assert [p.text for p in whom.paragraphs] == [
        "- Ủy ban nhân dân tỉnh Sơn Lâm;",
        "- Cục Viễn thông.",
    ]
    copies, signer = named["signature"][0].rows[0].cells
    # The file's copies and the option's drafting unit (the file said KHTC).
    assert [p.text for p in copies.paragraphs][1:] == ["- Như trên;", "- Lưu: VT, BCVT."]
    lines = [p.text for p in signer.paragraphs]
    assert lines[:2] == ["KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"] and lines[-1] == "Trần Thị Bình"
    bad = cli(
        "report", "--month", "2025-10", "--store", sample_store.root, "--config", config,
        "--out", tmp_path / "bad", "--format", "docx", "--date", "5/11/2025",
    )  # fmt: skip
    assert bad.exit_code == 2
    assert "--date '5/11/2025': expected an ISO date" in one_line(bad)


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
