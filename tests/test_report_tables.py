"""Tables that print: no header word broken, no row left alone on a page.

The Word document is read back with python-docx: each header cell's longest
word is measured here with FreeType (matplotlib's, on the same STIX General
Bold the template script measures with its own reading of the font's tables)
and compared with the cell's width less its margins; the rows' page-break
properties are read from the XML. The HTML is laid out by the PDF engine
(WeasyPrint) and its boxes are inspected: each header cell's lines, each
table's fragments on the pages.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

import docx
import pytest
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph

from qostool.report import ReportOptions, write_report
from qostool.report.i18n import LABELS
from qostool.report.short_labels import SHORT_LABELS
from qostool.store import Store
from tests.conftest import REPO, require_pdf_engine
from tests.test_report import sample_store
from tests.test_report_docx_pdf import load_script, tables

__all__ = ["sample_store"]  # the fixture used here by name

CSS = REPO / "src" / "qostool" / "report" / "templates" / "style.css"
TWIPS_PER_CM = 1440 / 2.54
#: Where a line may break: at a space, after an en dash ("tối thiểu–tối đa").
BREAKS = re.compile(r"\s+|(?<=–)")
#: Times New Roman Bold's "%" (STIX General Bold's is narrower).
WIDER_EM = {"%": 1.0}


@pytest.fixture(scope="module")
def reports(sample_store: Store, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """October in Vietnamese and English, and with ``--compare-rule`` (its commune table
    has one more column), as DOCX and HTML."""
    out: dict[str, Any] = {}
    for name, lang, compare in (("vi", "vi", None), ("en", "en", None), ("cmp", "en", "vnnic")):
        folder = tmp_path_factory.mktemp(f"tables-{name}")
        options = ReportOptions(
            month="2025-10",
            lang=lang,
            formats=("docx", "html"),
            out=folder,
            generated_at="2025-11-15",
            compare_rule=compare,
        )
        out[name] = write_report(sample_store, options).files
    return out


# -- measuring words, apart from the template script -----------------------------------


@cache
def stix_bold() -> Any:
    import matplotlib
    from matplotlib.ft2font import FT2Font

    return FT2Font(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "STIXGeneralBol.ttf"))


def word_cm(word: str, size_pt: float) -> float:
    """A word's advance in bold Times (STIX General Bold's widths), read by FreeType."""
    from matplotlib.ft2font import LoadFlags

    font = stix_bold()
    font.set_size(size_pt, 72)  # one pixel a point
    points = 0.0
    for char in word:
        if char in WIDER_EM:
            points += WIDER_EM[char] * size_pt
            continue
        letter = char
        if font.get_char_index(ord(char)) == 0:  # a precomposed Vietnamese letter
            letter = unicodedata.normalize("NFD", char)[0]
        glyph = font.load_char(ord(letter), flags=LoadFlags.NO_HINTING)
        points += glyph.linearHoriAdvance / 65536
    return points / 72 * 2.54


def test_the_measure_is_times_new_roman() -> None:
    """Known widths of Times New Roman Bold (em of 1000 units): H 778, o 500, n 556."""
    assert word_cm("Hon", 10) == pytest.approx((778 + 500 + 556) / 1000 * 10 / 72 * 2.54, 0.01)
    assert word_cm("phường", 10) > word_cm("phuong", 10)  # ư is wider than u
    assert word_cm("Kết", 10) == pytest.approx(word_cm("Ket", 10))


# -- the Word document -----------------------------------------------------------------


def cell_margins_cm(table: Any) -> float:
    margins = table._tbl.tblPr.find(qn("w:tblCellMar"))
    return sum(int(margins.find(qn(f"w:{side}")).get(qn("w:w"))) for side in ("left", "right")) / (
        TWIPS_PER_CM
    )


def header_size_pt(document: Any, paragraph: Any) -> float:
    sizes = {r.font.size.pt for r in paragraph.runs if r.font.size is not None}
    if sizes:
        return float(sizes.pop())
    style = paragraph.style
    while style.font.size is None:  # the style's, or the one it is based on
        style = style.base_style
    return float(style.font.size.pt)


def grid_tables(document: Any) -> list[Any]:
    """The tables with a repeated header row (not the document's header or signature)."""
    return [t for t in document.tables if t.rows[0]._tr.find(f".//{qn('w:tblHeader')}") is not None]


def too_narrow(document: Any) -> list[str]:
    """Every header word wider than its cell less the cell's margins, with the widths."""
    found = []
    for table in grid_tables(document):
        room = cell_margins_cm(table)
        for cell in table.rows[0].cells:
            width = int(cell._tc.tcPr.find(qn("w:tcW")).get(qn("w:w"))) / TWIPS_PER_CM
            for paragraph in cell.paragraphs:
                size = header_size_pt(document, paragraph)
                for word in filter(None, BREAKS.split(paragraph.text)):
                    if word_cm(word, size) > width - room:
                        found.append(f"{word!r} {word_cm(word, size):.2f} > {width - room:.2f}")
    return found


@pytest.mark.parametrize("name", ["vi", "en", "cmp"])
def test_no_docx_header_word_is_wider_than_its_column(name: str, reports: dict[str, Any]) -> None:
    document = docx.Document(str(reports[name]["docx"]))
    assert len(grid_tables(document)) >= 15
    assert too_narrow(document) == []
    # The known offenders of the earlier widths are whole, each in a cell wide enough.
    headers = {c.text for t in grid_tables(document) for c in t.rows[0].cells}
    if name == "vi":
        assert LABELS["vi"]["c_months_below"] in headers
    else:
        assert "Technology" in headers  # in the commune tables, below target, widened
        assert "Change (Mbps)" in headers


def test_every_table_keeps_its_width(reports: dict[str, Any]) -> None:
    """Columns are widened at the others' expense: a table is as wide as the text (16 cm;
    24.7 cm for the wide commune tables of the landscape annexes)."""
    document = docx.Document(str(reports["en"]["docx"]))
    for table in grid_tables(document):
        cells = table.rows[0]._tr.findall(qn("w:tc"))
        widths = [int(c.find(qn("w:tcPr")).find(qn("w:tcW")).get(qn("w:w"))) for c in cells]
        name = table._tbl.tblPr.find(qn("w:tblCaption")).get(qn("w:val"))
        text = 24.7 if name in ("commune-table", "below") else 16.0
        assert sum(widths) / TWIPS_PER_CM == pytest.approx(text, abs=0.05), name


def test_short_headers_are_spelled_out_under_their_table(reports: dict[str, Any]) -> None:
    for lang in ("en", "vi"):
        document = docx.Document(str(reports[lang]["docx"]))
        table = tables(document)["operator-table"][0]
        headers = [c.text for c in table.rows[0].cells]
        after = table._tbl.getnext()
        assert after.tag == qn("w:p")
        key = "".join(t.text or "" for t in after.iter(qn("w:t")))
        shorts = {v: k for k, v in SHORT_LABELS[lang].items() if k != "key"}
        used = [shorts[h] for h in headers if h in shorts]
        assert used  # the operators' eleven columns cannot all have their full headers
        expected = "; ".join(f"{SHORT_LABELS[lang][k]}: {LABELS[lang][k]}" for k in used)
        assert key == f"{SHORT_LABELS[lang]['key']}: {expected}."
    operators = tables(docx.Document(str(reports["en"]["docx"])))["operator-table"][0]
    english = [c.text for c in operators.rows[0].cells]
    assert english[:3] == ["No.", "Operator", "Tech."] and "P10 (Mbps)" in english


def keeps(row: Any) -> set[bool]:
    """Whether the row's paragraphs keep with the next (python-docx reads w:keepNext)."""
    return {bool(p.paragraph_format.keep_with_next) for c in row.cells for p in c.paragraphs}


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_docx_rows_never_split_headers_repeat_and_no_row_is_left_alone(
    lang: str, reports: dict[str, Any]
) -> None:
    document = docx.Document(str(reports[lang]["docx"]))
    captions = 0
    for table in grid_tables(document):
        for row in table.rows:
            assert row._tr.trPr.find(qn("w:cantSplit")) is not None
        header = table.rows[0]
        assert keeps(header) == {True}  # with the first body row
        previous = Paragraph(table._tbl.getprevious(), table._parent)
        if previous.style.name == "Caption":  # the table's title keeps with it
            assert previous.style.paragraph_format.keep_with_next
            captions += 1
    assert captions >= 8
    # A loop of 30 communes: the first two rows keep with their next, then the rows may
    # break, but not before the last two (the last page holds three rows at least).
    communes = tables(document)["commune-table"][0].rows[1:]
    assert len(communes) == 30
    flags = [keeps(r) for r in communes]
    assert flags[:2] == [{True}, {True}]
    assert flags[2:-3] == [{False}] * 25
    assert flags[-3:-1] == [{True}, {True}]
    key_after = tables(document)["commune-table"][0]._tbl.getnext()
    has_key = "".join(t.text or "" for t in key_after.iter(qn("w:t"))).startswith(
        SHORT_LABELS[lang]["key"] + ":"
    )
    assert flags[-1] == {has_key}  # the last row keeps with the key line, if any
    # Static rows keep with the next, but the last (here, with no key line).
    figures = tables(document)["key-figures"][0].rows[1:]
    assert [keeps(r) for r in figures] == [{True}] * (len(figures) - 1) + [{False}]
    # The adoption table's footer row: the loop's last row keeps with it.
    adoption = tables(document)["adoption-table"][0].rows[1:]
    assert keeps(adoption[-2]) == {True} and keeps(adoption[-1]) == {False}


def test_nested_loops_keep_the_last_block_with_the_one_before(reports: dict[str, Any]) -> None:
    """The operators' table is a loop of operators, each a loop of technologies: the last
    operator's rows never start a page alone."""
    document = docx.Document(str(reports["en"]["docx"]))
    rows = tables(document)["operator-table"][0].rows[1:]
    names = [r.cells[1].text for r in rows]  # after the row's number ("TT")
    last = names[-1]
    first_of_last = names.index(last)
    assert first_of_last > 0
    assert keeps(rows[first_of_last - 1]) == {True}
    blocks = [i for i in range(1, len(names)) if names[i] != names[i - 1]]
    for start in blocks[:-1]:  # a block's end, before a block that is not the last
        assert keeps(rows[start - 1]) == {False}


# -- the template script's sizing --------------------------------------------------------


def test_sizing_widens_shortens_and_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    script = load_script(monkeypatch)
    col, fit = script.Col, script.fit_columns
    # Too narrow for "Technology": widened, the commune column gives the room.
    made = fit("t", [col("{{ L.c_technology }}", 1.0), col("{{ L.c_commune }}", 15.0)])
    assert made.widths[0] >= word_cm("Technology", 10) + 0.2
    assert sum(made.widths) == pytest.approx(16.0)
    assert made.shortened == [] and made.size == 10
    # Ten columns of 1.35 cm cannot all hold "(Mbps)" and "percentile": short headers.
    many = [col("{{ L.c_p10 }}", 1.35), col("{{ L.c_technology }}", 1.35)]
    many += [col("{{ L.c_mean }}", 1.35)] * 8
    made = fit("t", many)
    assert made.shortened == ["c_p10", "c_technology"]
    assert [c.header for c in made.columns[:2]] == ["{{ SL.c_p10 }}", "{{ SL.c_technology }}"]
    # What cannot fit even in 8 pt stops the script, naming the table.
    with pytest.raises(SystemExit, match="table 't': its headers need"):
        fit("t", [col("{{ L.c_mean }}", 0.5)] * 8)


def test_short_labels_are_short_forms_of_labels() -> None:
    for lang, shorts in SHORT_LABELS.items():
        assert shorts["key"]
        for key, short in shorts.items():
            if key != "key":
                assert key in LABELS[lang], key
                assert len(short) < len(LABELS[lang][key]), (lang, key)


# -- HTML and PDF ----------------------------------------------------------------------


def test_the_style_sheet_never_hyphenates_a_header_and_keeps_rows_together() -> None:
    css = CSS.read_text(encoding="utf-8")
    assert "hyphens: auto" not in css
    th = re.search(r"(?m)^th \{([^}]*)\}", css)
    assert th is not None
    rules = " ".join(th.group(1).split())
    assert "hyphens: manual" in rules and "overflow-wrap: normal" in rules
    assert "word-break: normal" in rules
    rows = r"tbody tr:nth-child\(-n\+2\), tbody tr:nth-last-child\(-n\+2\) \{ break-before: avoid;"
    assert re.search(rows, " ".join(css.split()))
    assert re.search(r"caption \{[^}]*break-after: avoid", css)


def layout(html: str) -> Any:
    import weasyprint

    return weasyprint.HTML(string=html).render()


def text_of(box: Any) -> str:
    from weasyprint.formatting_structure import boxes

    return "".join(b.text for b in box.descendants() if isinstance(b, boxes.TextBox))


def broken_headers(document: Any) -> list[list[str]]:
    """The header cells whose lines, joined, do not give back their words: a word broken
    (or hyphenated) across two lines. Each as its lines."""
    from weasyprint.formatting_structure import boxes

    found = []
    for page in document.pages:
        for box in page._page_box.descendants():
            if isinstance(box, boxes.TableCellBox) and box.element_tag == "th":
                lines = [text_of(b) for b in box.descendants() if isinstance(b, boxes.LineBox)]
                words = [w for line in lines for w in BREAKS.split(line) if w]
                whole = [w for w in BREAKS.split(" ".join(box.element.itertext())) if w]
                if words != whole:
                    found.append(lines)
    return found


def table_fragments(document: Any) -> dict[str, list[int]]:
    """For each table split across pages, the number of body rows on each of its pages."""
    from weasyprint.formatting_structure import boxes

    seen: dict[int, tuple[str, list[int]]] = {}
    for page in document.pages:
        for box in page._page_box.descendants():
            if isinstance(box, boxes.TableBox):
                body = [
                    row
                    for group in box.children
                    if isinstance(group, boxes.TableRowGroupBox)
                    and not (group.is_header or group.is_footer)
                    for row in group.children
                ]
                name = box.element.get("id") or box.element.get("class") or "table"
                seen.setdefault(id(box.element), (name, []))[1].append(len(body))
    return {name: counts for name, counts in seen.values() if len(counts) > 1}


def overflowing_tables(document: Any) -> list[str]:
    """The tables wider than the page's text."""
    from weasyprint.formatting_structure import boxes

    found = []
    for page in document.pages:
        right = page._page_box.content_box_x() + page._page_box.width
        for box in page._page_box.descendants():
            if isinstance(box, boxes.TableBox) and box.position_x + box.width > right + 0.5:
                found.append(box.element.get("id") or "table")
    return found


@pytest.mark.parametrize("name", ["vi", "en", "cmp"])
def test_pdf_layout_breaks_no_header_word_and_leaves_no_row_alone(
    name: str, reports: dict[str, Any]
) -> None:
    require_pdf_engine()
    document = layout(reports[name]["html"].read_text(encoding="utf-8"))
    assert broken_headers(document) == []
    assert overflowing_tables(document) == []
    split = table_fragments(document)
    assert split  # the 30 communes do not fit one page
    assert all(min(counts) >= 2 for counts in split.values()), split
    assert all(counts[-1] >= 3 for counts in split.values()), split


def filler_pages(css: str, rows: int = 12) -> list[list[int]]:
    """A block, then a table of ``rows`` rows with English headers, laid out with ``css``
    for block heights that put every row in turn last on the first page: each table's
    body rows on each page."""
    head = "".join(
        f"<th>{LABELS['en'][k]}</th>" for k in ("c_technology", "c_p10", "c_interval", "c_commune")
    )
    body = "".join(f"<tr><td>{i}</td><td>1</td><td>2</td><td>3</td></tr>" for i in range(rows))
    found = []
    for height in range(200, 262, 3):
        html = (
            f"<html lang='en'><style>{css}</style><body><div style='height: {height}mm'></div>"
            f"<table><caption>Table</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></body></html>"
        )
        found.append(next(iter(table_fragments(layout(html)).values()), [rows]))
    return found


def test_the_row_rules_are_what_keeps_rows_together() -> None:
    """Without the style sheet's row rules, some block heights leave one row on a page;
    with them, none does. In narrow columns, the English headers are whole."""
    require_pdf_engine()
    css = CSS.read_text(encoding="utf-8")
    rules = re.search(r"tbody tr:nth-child[^}]*\}", css)
    assert rules is not None
    without = filler_pages(css.replace(rules.group(0), ""))
    assert any(min(counts) == 1 for counts in without), without
    with_rules = filler_pages(css)
    assert all(min(counts) >= 2 and counts[-1] >= 3 for counts in with_rules), with_rules
    narrow = css + " table { width: 40mm; }"
    html = (
        f"<html lang='en'><style>{narrow}</style><body><table><thead><tr>"
        f"<th>{LABELS['en']['c_interval']}</th><th>{LABELS['en']['c_months_below']}</th>"
        "</tr></thead><tbody><tr><td>1</td><td>2</td></tr></tbody></table></body></html>"
    )
    assert broken_headers(layout(html)) == []
    hyphenated = html.replace("hyphens: manual", "hyphens: auto")
    assert broken_headers(layout(hyphenated)) != []
