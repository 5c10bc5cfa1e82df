"""The monthly report's structure, read back from every format.

An administrative report (Decree 30/2020/NĐ-CP): an opening citing its basis and
ending "... báo cáo như sau:", sections I to V, the closing "./.", the signature,
then the numbered annexes ("Phụ lục I", ...) each with the line naming the report it
goes with; the wide commune tables on landscape pages; body tables numbered
"Bảng N." with "Đơn vị tính: Mbps" over tables of speeds. The expected words are
written here as the agreed wording, not taken from ``report/i18n.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import docx
import pytest
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_COLOR_INDEX
from docx.oxml.ns import qn
from docx.shared import Cm, Mm
from docx.table import Table as DocxTable
from docx.text.paragraph import Paragraph

from qostool.report import ReportOptions, write_report
from qostool.report.document import DocumentSettings
from qostool.store import Store
from tests.conftest import require_pdf_engine
from tests.test_report import sample_store  # the module-scoped store of the samples
from tests.test_report_docx_pdf import pdf_objects

__all__ = ["sample_store"]  # a fixture used here by name

NBSP = "\u00a0"
SECTIONS = {
    "vi": [
        "I. Tình hình triển khai",
        "II. Kết quả đo, đánh giá",
        "III. Đánh giá chung",
        "IV. Nhiệm vụ tháng tới",
        "V. Đề xuất, kiến nghị",
    ],
    "en": [
        "I. Implementation",
        "II. Measurement results and assessment",
        "III. General assessment",
        "IV. Tasks for next month",
        "V. Proposals and recommendations",
    ],
}
ANNEXES = {
    "vi": [f"Phụ lục {n}" for n in ("I", "II", "III", "IV", "V")],
    "en": [f"Annex {n}" for n in ("I", "II", "III", "IV", "V")],
}
SUBSECTIONS = {
    "vi": [
        "1. Kết quả chung trên địa bàn tỉnh Sơn Lâm",
        "2. Kết quả theo doanh nghiệp",
        "3. Kết quả theo xã, phường, đặc khu",
        "4. Mạng 5G (để tham khảo)",
        "5. Diễn biến qua các tháng",
    ],
    "en": [
        "1. Results for Sơn Lâm province as a whole",
        "2. Results by operator",
        "3. Results by commune, ward and special zone",
        "4. 5G (for reference)",
        "5. Month by month",
    ],
}
ENDS = {"vi": "báo cáo như sau:", "en": "reports as follows:"}
#: Given settings: a number and a date, basis documents and next month's tasks.
SIGNED = DocumentSettings(
    number="125",
    date="2025-11-05",
    basis=("Chỉ thị số 05/CT-UBND ngày 10/3/2025 của Ủy ban nhân dân tỉnh Sơn Lâm",),
    next_tasks=("Kiểm tra 3 xã chưa đạt cùng các doanh nghiệp",),
)


@pytest.fixture(scope="module")
def documents(sample_store: Store, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """October in DOCX, HTML and Markdown: ``(lang, "signed"|"default")`` -> files."""
    out: dict[str, Any] = {}
    for lang in ("vi", "en"):
        for kind, settings in (("signed", SIGNED), ("default", DocumentSettings())):
            options = ReportOptions(
                month="2025-10",
                lang=lang,
                formats=("docx", "html", "md"),
                out=tmp_path_factory.mktemp(f"structure-{lang}-{kind}"),
                document=settings,
            )
            out[lang, kind] = write_report(sample_store, options).files
    return out


def blocks(document: Any) -> list[Paragraph | DocxTable]:
    """The body's paragraphs and tables, in the document's order."""
    found: list[Paragraph | DocxTable] = []
    for element in document.element.body.iterchildren():
        if element.tag == qn("w:p"):
            found.append(Paragraph(element, document))
        elif element.tag == qn("w:tbl"):
            found.append(DocxTable(element, document))
    return found


def table_name(table: DocxTable) -> str:
    caption = table._tbl.tblPr.find(qn("w:tblCaption"))
    return "" if caption is None else str(caption.get(qn("w:val")))


def index_of(items: list[Any], test: Any) -> int:
    return next(i for i, item in enumerate(items) if test(item))


def heading_texts(items: list[Any], level: int) -> list[str]:
    style = f"Heading {level}"
    return [b.text for b in items if isinstance(b, Paragraph) and b.style.name == style]


# -- DOCX ------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_docx_sections_then_signature_then_numbered_annexes(
    lang: str, documents: dict[str, Any]
) -> None:
    document = docx.Document(str(documents[lang, "signed"]["docx"]))
    items = blocks(document)
    assert heading_texts(items, 1) == SECTIONS[lang] + ANNEXES[lang]
    assert heading_texts(items, 2)[:5] == SUBSECTIONS[lang]
    texts = [b.text if isinstance(b, Paragraph) else None for b in items]
    last_section = texts.index(SECTIONS[lang][-1])
    closing = texts.index("./.")
    signature = index_of(items, lambda b: isinstance(b, DocxTable) and table_name(b) == "signature")
    first_annex = texts.index(ANNEXES[lang][0])
    assert last_section < closing < signature < first_annex
    assert texts[closing + 1 : signature] == [""] * (signature - closing - 1)  # nothing between
    # The opening cites the basis given, and the issuer "reports as follows".
    opening = next(t for t in texts if t and t.startswith(("Thực hiện", "Pursuant to")))
    assert SIGNED.basis[0] in opening and opening.endswith(ENDS[lang])
    assert "2138/BTTTT-CVT" not in opening  # the placeholder only without a basis
    # Each annex: its number, its title, and the line naming the report it goes with.
    line = (
        "(Kèm theo Báo cáo số 125/BC-SKHCN ngày 05/11/2025 của Sở Khoa học và Công nghệ)"
        if lang == "vi"
        else "(Attached to Report No. 125/BC-SKHCN of 5 November 2025 of the Department of "
        "Science and Technology)"
    )
    for annex in ANNEXES[lang]:
        at = texts.index(annex)
        title = items[at + 1]
        assert isinstance(title, Paragraph) and title.style.name == "Annex Title"
        assert title.text == title.text.upper() and title.text
        assert texts[at + 2] == line
    # The tables that list every commune are in the annexes, not in the letter.
    long_tables = ("commune-table", "five-g-communes", "below", "no-tests", "insufficient")
    for name in (*long_tables, "adoption-table"):
        where = [
            i for i, b in enumerate(items) if isinstance(b, DocxTable) and table_name(b) == name
        ]
        assert where and min(where) > first_annex, name


def test_docx_placeholders_and_blank_number_without_settings(documents: dict[str, Any]) -> None:
    document = docx.Document(str(documents["vi", "default"]["docx"]))
    items = blocks(document)
    texts = [b.text if isinstance(b, Paragraph) else "" for b in items]
    opening = next(b for b in items if isinstance(b, Paragraph) and b.text.startswith("Thực hiện"))
    # No basis given: the directive and the Ministry's letter, marked to check and fill in.
    assert "Văn bản số 2138/BTTTT-CVT ngày 03/6/2024" in opening.text
    assert opening.text.endswith("báo cáo như sau:")
    assert all(r.font.highlight_color == WD_COLOR_INDEX.YELLOW for r in opening.runs)
    tasks = texts.index("IV. Nhiệm vụ tháng tới")
    task = items[tasks + 1]
    assert isinstance(task, Paragraph) and task.text.startswith("[Dự thảo")
    assert all(r.font.highlight_color == WD_COLOR_INDEX.YELLOW for r in task.runs)
    # No number, no date: those parts of the annex line are blank, to fill in by hand.
    blank = NBSP * 6
    line = f"(Kèm theo Báo cáo số {blank}/BC-SKHCN ngày {blank} của Sở Khoa học và Công nghệ)"
    assert texts[texts.index("Phụ lục I") + 2] == line
    signed = docx.Document(str(documents["vi", "signed"]["docx"]))
    given = [p.text for p in signed.paragraphs]
    at = given.index("IV. Nhiệm vụ tháng tới")
    assert given[at + 1] == "- Kiểm tra 3 xã chưa đạt cùng các doanh nghiệp"
    assert not any(t.startswith("[Dự thảo: nêu các nhiệm vụ") for t in given)


def test_docx_wide_annexes_are_in_a_landscape_section(documents: dict[str, Any]) -> None:
    document = docx.Document(str(documents["vi", "signed"]["docx"]))
    sections = list(document.sections)
    assert [s.orientation for s in sections] == [
        WD_ORIENT.PORTRAIT,
        WD_ORIENT.LANDSCAPE,
        WD_ORIENT.PORTRAIT,
    ]
    for section in sections:
        wide = section.orientation == WD_ORIENT.LANDSCAPE
        long_side, short_side = Cm(29.7), Cm(21.0)
        width, height = (long_side, short_side) if wide else (short_side, long_side)
        assert abs(section.page_width - width) < Mm(0.5)
        assert abs(section.page_height - height) < Mm(0.5)
    # Sections end at a paragraph holding their properties: annexes I and II (the wide
    # commune tables) lie between the first section's end and the second's.
    items = blocks(document)
    ends = [
        i
        for i, b in enumerate(items)
        if isinstance(b, Paragraph) and b._p.find(f".//{qn('w:sectPr')}") is not None
    ]
    assert len(ends) == 2
    texts = [b.text if isinstance(b, Paragraph) else None for b in items]
    assert ends[0] < texts.index("Phụ lục I") < texts.index("Phụ lục II") < ends[1]
    assert ends[1] < texts.index("Phụ lục III")
    commune = next(
        b for b in items if isinstance(b, DocxTable) and table_name(b) == "commune-table"
    )
    assert ends[0] < items.index(commune) < ends[1]
    # The table uses the landscape page's width (29.7 cm less the 3 + 2 cm margins).
    width = sum(c.width for c in commune.columns)
    assert Cm(24.7) - Mm(1) < width < Cm(24.7) + Mm(1)
    # The landscape and last sections number their pages from their first page on.
    assert not sections[1].different_first_page_header_footer
    assert not sections[2].different_first_page_header_footer


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_docx_body_tables_are_numbered_with_their_unit(
    lang: str, documents: dict[str, Any]
) -> None:
    document = docx.Document(str(documents[lang, "signed"]["docx"]))
    items = blocks(document)
    first_annex = [b.text if isinstance(b, Paragraph) else None for b in items].index(
        ANNEXES[lang][0]
    )
    word, unit = ("Bảng", "Đơn vị tính: Mbps") if lang == "vi" else ("Table", "Unit: Mbps")
    captions = [
        b.text
        for b in items[:first_annex]
        if isinstance(b, Paragraph) and b.style.name == "Caption" and b.text.startswith(word)
    ]
    numbers = [int(re.findall(rf"^{word} (\d+)\. \S", c)[0]) for c in captions]
    assert numbers == list(range(1, len(captions) + 1)) and len(numbers) >= 8
    # Every table of the body has its numbered caption just before it (or its unit line).
    for i, block in enumerate(items[:first_annex]):
        if isinstance(block, DocxTable) and table_name(block) not in (
            "document-header",
            "addressees",
            "signature",
            "map-key",
        ):
            before = [b for b in items[i - 2 : i] if isinstance(b, Paragraph)]
            assert any(b.text.startswith(word) for b in before), table_name(block)
    # The tables of speeds say their unit just above them; a table of counts does not.
    for name, has_unit in (("province", True), ("operator-table", True), ("verdicts", False)):
        at = index_of(items, lambda b, n=name: isinstance(b, DocxTable) and table_name(b) == n)
        assert (items[at - 1].text == unit) is has_unit, name
    # A reader cites a commune or an operator by its row number: "TT" first.
    for name in ("operator-table", "commune-table", "below", "five-g-communes"):
        table = next(b for b in items if isinstance(b, DocxTable) and table_name(b) == name)
        rows = [[c.text for c in r.cells] for r in table.rows]
        assert rows[0][0] == ("TT" if lang == "vi" else "No.")
        assert [r[0] for r in rows[1:]] == [str(i) for i in range(1, len(rows))], name


# -- HTML and Markdown -----------------------------------------------------------------


def html_headings(html: str) -> list[tuple[str, str]]:
    """The ``<h2>`` of the page (contents and warnings left out), as (tag's classes, text)."""
    body = html[html.index("</nav>") :]
    found = re.findall(r"<h2( class=\"[^\"]*\")?>(.*?)</h2>", body, flags=re.S)
    return [(cls, re.sub(r"<[^>]+>", "", text).strip()) for cls, text in found]


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_html_follows_the_same_structure(lang: str, documents: dict[str, Any]) -> None:
    html = documents[lang, "signed"]["html"].read_text(encoding="utf-8")
    headings = html_headings(html)
    sections = [text for cls, text in headings if not cls]
    annex_titles = [text for cls, text in headings if "annex-title" in cls]
    assert sections == SECTIONS[lang]
    assert len(annex_titles) == 5 and all(t == t.upper() for t in annex_titles)
    numbers = re.findall(r'<p class="annex-number">([^<]*)</p>', html)
    assert numbers == ANNEXES[lang]
    h3 = re.findall(r"<h3>([^<]*)</h3>", html[: html.index('id="assessment"')])
    assert h3 == SUBSECTIONS[lang]
    positions = [
        html.index(f"<h2>{SECTIONS[lang][-1]}</h2>"),
        html.index('<p class="doc-closing">./.</p>'),
        html.index('id="signature"'),
        html.index(f'<p class="annex-number">{ANNEXES[lang][0]}</p>'),
    ]
    assert positions == sorted(positions)
    opening = re.search(r'<p class="doc-opening">(.*?)</p>', html, flags=re.S)
    assert opening and opening.group(1).strip().endswith(ENDS[lang])
    lines = re.findall(r'<p class="annex-line">([^<]*)</p>', html)
    assert len(lines) == 5 and all("125/BC-SKHCN" in line for line in lines)
    # Body tables: "Bảng 1.", "Bảng 2.", ... in order, before the annexes.
    word = "Bảng" if lang == "vi" else "Table"
    letter = html[: html.index('id="signature"')]
    numbers_seen = [int(n) for n in re.findall(rf"<caption>{word} (\d+)\. ", letter)]
    assert numbers_seen == list(range(1, len(numbers_seen) + 1)) and len(numbers_seen) >= 8
    assert "<table" not in html[html.index('id="signature"') :].split('class="annex')[0]


def test_html_wide_annexes_print_on_landscape_pages(documents: dict[str, Any]) -> None:
    html = documents["vi", "signed"]["html"].read_text(encoding="utf-8")
    assert re.search(r"@page landscape \{\s*size: A4 landscape;", html)
    assert re.search(r"section\.landscape \{\s*page: landscape;", html)
    landscape = re.findall(r'<section id="([^"]+)" class="annex landscape">', html)
    assert landscape == ["annex-communes", "annex-below"]
    for name in ("commune-table", "below-"):  # the wide tables are inside them
        at = html.index(f'id="{name}')
        opened = html.rindex("<section", 0, at)
        assert 'class="annex landscape"' in html[opened : opened + 80], name


def test_pdf_prints_the_wide_annexes_on_landscape_pages(
    sample_store: Store, tmp_path: Path
) -> None:
    require_pdf_engine()
    options = ReportOptions(month="2025-10", formats=("pdf",), out=tmp_path)
    data = write_report(sample_store, options).files["pdf"].read_bytes()
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf_objects(data))
    sizes = [(round(float(w)), round(float(h))) for w, h in boxes]
    # A4 is 595 x 842 points; landscape pages are 842 wide (annexes I and II).
    assert set(sizes) == {(595, 842), (842, 595)}
    first = sizes.index((842, 595))
    landscape = [s == (842, 595) for s in sizes]
    assert not any(landscape[first + landscape[first:].index(False) :])  # one run of them
    assert sizes[-1] == (595, 842)  # back to portrait for annexes III to V


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_markdown_follows_the_same_structure(lang: str, documents: dict[str, Any]) -> None:
    text = documents[lang, "signed"]["md"].read_text(encoding="utf-8")
    lines = text.splitlines()
    level2 = [line[3:] for line in lines if line.startswith("## ")]
    assert level2 == SECTIONS[lang] + ANNEXES[lang]
    level3 = [line[4:] for line in lines if line.startswith("### ")]
    assert level3[:5] == SUBSECTIONS[lang]
    closing = lines.index("./.")
    assert lines.index(f"## {SECTIONS[lang][-1]}") < closing < lines.index(f"## {ANNEXES[lang][0]}")
    signer = next(i for i, line in enumerate(lines) if line.startswith("***"))  # Nơi nhận
    assert closing < signer < lines.index(f"## {ANNEXES[lang][0]}")
