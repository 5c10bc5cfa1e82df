"""Make the report's Word template: src/qostool/report/templates/report.docx.

    python scripts/make_docx_template.py            # write the packaged template
    python scripts/make_docx_template.py -o x.docx  # write it elsewhere

The template is a docxtpl document (Jinja tags in Word paragraphs and table
rows, rendered with the report's filters and labels) in the layout of a
Vietnamese administrative report (Decree 30/2020/NĐ-CP): A4, margins 2 cm
top and bottom, 3 cm left, 2 cm right, Times New Roman 13 pt (tables 10 pt);
a borderless header table (issuing body and number on the left, the national
motto and the place and date on the right); the title, the addressees and the
opening citing the basis documents; sections I to V of the HTML report with the
same tables ("Bảng N." captions, "Đơn vị tính: Mbps" over tables of speeds, a
"TT" column where a row is cited); the closing "./." and the signature block;
then the numbered annexes ("Phụ lục I" ...), the wide commune tables of annexes
I and II in a landscape section between portrait ones. Every table is made by
:func:`table`, which sizes its columns so that no header word breaks in either
language (a short header with a key line under the table where the page is too
narrow) and keeps its rows from being left alone on a page. The output
is deterministic (fixed core properties, zip time stamps and order); a test
checks that the committed template is what this script makes. Never edit the
template by hand: change this script and run it again.
"""

from __future__ import annotations

import argparse
import functools
import io
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from docx import Document
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_COLOR_INDEX
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from qostool.config import RULE_PRESETS
from qostool.report.context import ASSESSMENTS
from qostool.report.i18n import LANGUAGES
from qostool.report.render import make_environment
from qostool.report.short_labels import SHORT_LABELS
from qostool.report.word import fixed_zip

OUTPUT = Path(__file__).resolve().parents[1] / "src" / "qostool" / "report" / "templates"
FONT = "Times New Roman"
BODY_PT = 13
TABLE_PT = 10
TEMPLATE_DATE = datetime(2025, 1, 1)
CENTER = WD_ALIGN_PARAGRAPH.CENTER
RIGHT = WD_ALIGN_PARAGRAPH.RIGHT
#: The text's width (cm) on a portrait A4 page and on a landscape one (margins 3 + 2 cm).
TEXT_CM = 16.0
LANDSCAPE_TEXT_CM = 24.7

# -- low-level helpers -----------------------------------------------------------------

_TBLPR_ORDER = (
    "tblStyle",
    "tblpPr",
    "tblOverlap",
    "bidiVisual",
    "tblStyleRowBandSize",
    "tblStyleColBandSize",
    "tblW",
    "jc",
    "tblCellSpacing",
    "tblInd",
    "tblBorders",
    "shd",
    "tblLayout",
    "tblCellMar",
    "tblLook",
    "tblCaption",
    "tblDescription",
)


def _set_tblpr(table: Any, element: Any) -> None:
    """Put ``element`` into the table's properties in schema order (replacing its kind)."""
    tblpr = table._tbl.tblPr
    tag = element.tag.split("}")[1]
    for old in tblpr.findall(qn(f"w:{tag}")):
        tblpr.remove(old)
    rank = _TBLPR_ORDER.index(tag)
    for index, child in enumerate(tblpr):
        name = child.tag.split("}")[1]
        if name in _TBLPR_ORDER and _TBLPR_ORDER.index(name) > rank:
            tblpr.insert(index, element)
            return
    tblpr.append(element)


def _element(tag: str, **attrs: str) -> Any:
    element = OxmlElement(tag)
    for key, value in attrs.items():
        element.set(qn(f"w:{key}"), value)
    return element


def _fonts(rpr: Any) -> None:
    """Times New Roman for every script, with no theme font overriding it."""
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = _element("w:rFonts")
        rpr.insert(0, fonts)
    for theme in ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme"):
        fonts.attrib.pop(qn(f"w:{theme}"), None)
    for script in ("ascii", "hAnsi", "eastAsia", "cs"):
        fonts.set(qn(f"w:{script}"), FONT)


def _no_borders(table: Any) -> None:
    borders = _element("w:tblBorders")
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        borders.append(_element(f"w:{side}", val="nil"))
    _set_tblpr(table, borders)


CELL_MARGIN_CM = 0.1
"""The left and right margins of a table's cells."""


def _cell_margins(table: Any, side_cm: float) -> None:
    margins = _element("w:tblCellMar")
    for side in ("left", "right"):
        margins.append(_element(f"w:{side}", w=str(int(side_cm * 567)), type="dxa"))
    _set_tblpr(table, margins)


def _widths(table: Any, widths: list[float]) -> None:
    table.autofit = False
    _set_tblpr(table, _element("w:tblLayout", type="fixed"))
    for column, width in zip(table.columns, widths, strict=True):
        column.width = Cm(width)
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = Cm(width)


def _row_flags(row: Any, *, header: bool = False) -> None:
    """Rows are never split across pages; the header row repeats on every page."""
    trpr = row._tr.get_or_add_trPr()
    trpr.append(_element("w:cantSplit"))
    if header:
        trpr.append(_element("w:tblHeader"))


def _keep_with_next(row: Any, value: str) -> None:
    """Keep the row on the page of the next one: ``value`` is "true", "false" or a Jinja
    expression that docxtpl fills in each rendered row (its attributes are rendered too)."""
    for p in row._tr.iter(qn("w:p")):  # each cell once, a merged one too
        ppr = p.get_or_add_pPr()
        style = ppr.find(qn("w:pStyle"))  # keepNext comes right after it (the schema)
        ppr.insert(0 if style is None else 1, _element("w:keepNext", val=value))


def _text(paragraph: Any, text: str, **run: Any) -> Any:
    """One run holding the whole text (so docxtpl sees each tag in one piece)."""
    r = paragraph.add_run(text)
    r.bold = run.get("bold")
    r.italic = run.get("italic")
    r.underline = run.get("underline")
    if "size" in run:
        r.font.size = Pt(run["size"])
    return r


def para(
    parent: Any, text: str = "", style: str | None = None, align: Any = None, **run: Any
) -> Any:
    paragraph = parent.add_paragraph(style=style)
    if align is not None:
        paragraph.alignment = align
    if text:
        _text(paragraph, text, **run)
    return paragraph


def cell_para(cell: Any, text: str, *, first: bool, **options: Any) -> Any:
    """A paragraph in a table cell (its first one reuses the cell's empty paragraph)."""
    paragraph = cell.paragraphs[0] if first else cell.add_paragraph()
    paragraph.style = options.pop("style", "Table Text")
    paragraph.paragraph_format.space_after = Pt(0)
    if "align" in options:
        paragraph.alignment = options.pop("align")
    _text(paragraph, text, **options)
    return paragraph


def tag(parent: Any, text: str) -> None:
    """A paragraph holding one docxtpl paragraph tag: ``{%p if ... %}``."""
    para(parent, "{%p " + text + " %}")


# -- tables ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    header: str
    """The header cell (Jinja)."""
    width: float
    """Width in cm (a table's columns add up to the text width, 16 cm)."""
    num: bool = False
    """Right-aligned (numbers)."""


@dataclass(frozen=True)
class Row:
    cells: list[str]
    bold: bool = False
    span: int = 1
    """How many first cells are merged into one (a footer's label)."""


@dataclass(frozen=True)
class Tag:
    text: str
    """A docxtpl row tag: the row is replaced by ``{% <text> %}``."""


@dataclass
class Table:
    name: str
    """The HTML table's id, kept as the Word table's title (alt text)."""
    columns: list[Col]
    rows: list[Row | Tag] = field(default_factory=list)
    caption: str | None = None
    unit: str | None = None
    """The unit line over the table, right-aligned ("Đơn vị tính: Mbps")."""


def numbered(title: str) -> str:
    """A body table's caption, "Bảng N. <title>": N counted as the document is rendered,
    so that a table left out takes no number (``title`` is a Jinja expression)."""
    return "{{ L.t_caption | fill(n=table_no.next(), title=" + title + ") }}"


#: The unit line of the tables of speeds.
MBPS = "{{ L.unit_mbps }}"
#: The ordinal column ("TT") and its cell in a ``loop``'s row.
ORDINAL = Col("{{ L.c_ordinal }}", 0.9, num=True)
ORDINAL_CELL = "{{ loop.index }}"


def widened(columns: list[Col], total: float) -> list[Col]:
    """The same columns, widened in proportion to fill ``total`` cm (a landscape page)."""
    scale = total / sum(c.width for c in columns)
    return [replace(c, width=round(c.width * scale, 2)) for c in columns]


def loop(spec: str, cells: list[str]) -> list[Row | Tag]:
    return [Tag(f"for {spec}"), Row(cells), Tag("endfor")]


# -- column widths: no header word broken -------------------------------------------------

HEADER_FONT = "STIXGeneralBol.ttf"
"""The font header words are measured in: STIX General Bold, which matplotlib ships (no
system font is needed). Its Latin letters have the widths of Times New Roman Bold (and of
Liberation Serif Bold, which stands for it in LibreOffice); the DejaVu fonts matplotlib
also ships are a quarter wider, too wide to fit an eleven-column table on a portrait page.
STIX has no precomposed Vietnamese letters: one is measured as its base letter (an accent
above or below does not widen a letter in Times), ư and ơ as themselves (STIX has them)."""
WIDER_EM = {"%": 1.0}
"""Letters wider in Times New Roman Bold than in STIX General Bold (em)."""
SAFETY = 1.04
"""Room allowed above the measured width (Word's and LibreOffice's rounding, kerning)."""
MIN_COLUMN_CM = 1.2
"""No column is narrowed below this (or below its given width, if narrower) for another."""
KEEP = 0.9
"""The share of its given width a column keeps when narrowed for another (its body's
words need room too: an operator's name, a commune's)."""
MIN_HEADER_PT = 8.0
"""The smallest type a table's headers are set in, when nothing else makes them fit."""


@functools.cache
def _advances() -> tuple[dict[int, int], int]:
    """The header font's advance width by code point, and its units per em."""
    import matplotlib
    from fontTools.ttLib import TTFont

    font = TTFont(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / HEADER_FONT)
    hmtx = font["hmtx"]
    widths = {code: hmtx[name][0] for code, name in font.getBestCmap().items()}
    return widths, int(font["head"].unitsPerEm)


def word_cm(word: str, size_pt: float = TABLE_PT) -> float:
    """The width of a word in bold Times New Roman of ``size_pt``, in cm (an upper bound)."""
    widths, per_em = _advances()
    em = 0.0
    for char in word:
        if char in WIDER_EM:
            em += WIDER_EM[char]
            continue
        code = ord(char)
        if code not in widths:
            code = ord(unicodedata.normalize("NFD", char)[0])
        em += widths.get(code, per_em) / per_em  # a letter it lacks: a whole em
    return em * size_pt / 72 * 2.54 * SAFETY


_SAY = 'import "conclusions." ~ lang ~ ".j2" as S with context'
"""The conclusions' sentences and their tables' words (``S``), in the report's language."""
_SAY_TAG = "{% " + _SAY + " %}"


@functools.cache
def _environments() -> list[Any]:
    """The report's Jinja environments: every language, a month's and a period's words."""
    return [make_environment(lang, period=period) for lang in LANGUAGES for period in (False, True)]


HEADER_SAMPLES = [
    {
        "summary": SimpleNamespace(verdict_names=list(ASSESSMENTS)),
        "compared": SimpleNamespace(rule=r),
        "month": "2025-12",
        "conclusions": SimpleNamespace(persistent_from=12, previous="2025-11"),
    }
    for r in RULE_PRESETS
]
"""What a header may show of the report's data, besides labels: the verdicts' names,
``report --compare-rule``'s rule, the month and last month, the conclusions' run of
months below (two digits, the widest)."""


@functools.cache
def header_texts(header: str) -> tuple[str, ...]:
    """Every text a header (Jinja) can print: in each language, for each sample above."""
    return tuple(
        sorted(
            {
                env.from_string(_SAY_TAG + header if "S." in header else header).render(**sample)
                for env in _environments()
                for sample in HEADER_SAMPLES
            }
        )
    )


_BREAK = re.compile(r"\s+|(?<=–)")
"""Where a line may break: at a space, after an en dash ("tối thiểu–|tối đa", as Word and
LibreOffice break lines; a hyphen is not taken as one: "SHA-256" stays whole)."""


def header_need_cm(header: str, size_pt: float = TABLE_PT) -> float:
    """The width a column needs for its header's longest word not to break: the word in
    bold type of ``size_pt``, and the cell's margins."""
    words = [w for text in header_texts(header) for w in _BREAK.split(text)]
    return max((word_cm(w, size_pt) for w in words), default=0.0) + 2 * CELL_MARGIN_CM


_LABEL = re.compile(r"\{\{ L\.(\w+) \}\}")


def short_header(header: str) -> str | None:
    """The short form of a header that is one label with a short form (``SL``), or None."""
    match = _LABEL.fullmatch(header)
    if match is None or not any(match.group(1) in table for table in SHORT_LABELS.values()):
        return None
    short = "{{ SL." + match.group(1) + " }}"
    return short if header_texts(short) != header_texts(header) else None


@dataclass(frozen=True)
class Fit:
    """A table's columns as printed: widths, and headers (some short, with a key)."""

    columns: list[Col]
    widths: list[float]
    shortened: list[str]
    """The label names whose short form heads a column (the key line spells them out)."""
    size: float
    """The headers' type size (pt): the table's, smaller only where nothing else fits."""


def fit_columns(name: str, columns: list[Col]) -> Fit:
    """Column widths in which every header's longest word fits, the table's width kept.

    A column too narrow for its header's longest word is widened, and the others give
    the room in proportion to what they have beyond their own need (never below
    :data:`MIN_COLUMN_CM`, or their given width if narrower, nor below :data:`KEEP` of
    their given width: the body's numbers, codes and names need room too).
    When the table is too narrow for every header, the columns whose short header saves
    the most are headed with it, one at a time, until they fit; then, as a last resort,
    the headers' type is made smaller, half a point at a time down to
    :data:`MIN_HEADER_PT`. A table that still cannot fit stops the script, naming its
    columns.
    """
    total = sum(c.width for c in columns)
    chosen = list(columns)
    shortened: list[str] = []
    size = float(TABLE_PT)

    def floors() -> list[float]:
        return [
            max(header_need_cm(c.header, size), min(c.width, MIN_COLUMN_CM), c.width * KEEP)
            for c in chosen
        ]

    while sum(floors()) > total + 1e-9:
        savings = []
        for index, column in enumerate(chosen):
            short = short_header(column.header)
            if short is not None:
                saving = header_need_cm(column.header, size) - header_need_cm(short, size)
                savings.append((saving, -index, short))  # the leftmost of equal savings
        if savings and max(savings)[0] > 0:
            _, minus, short = max(savings)
            match = _LABEL.fullmatch(chosen[-minus].header)
            assert match is not None
            shortened.append(match.group(1))
            chosen[-minus] = replace(chosen[-minus], header=short)
        elif size > MIN_HEADER_PT:
            size -= 0.5
        else:
            needs = ", ".join(f"{c.header} {f:.2f}" for c, f in zip(chosen, floors(), strict=True))
            raise SystemExit(
                f"table {name!r}: its headers need {sum(floors()):.2f} cm, it has "
                f"{total:.2f} cm ({needs}): give a column a short header in "
                "src/qostool/report/short_labels.py, or the table fewer columns"
            )
    needs = floors()
    widths = [max(c.width, n) for c, n in zip(chosen, needs, strict=True)]
    extra = sum(widths) - total
    room = [w - n if w == c.width else 0.0 for c, w, n in zip(chosen, widths, needs, strict=True)]
    if extra > 0:
        widths = [w - extra * r / sum(room) for w, r in zip(widths, room, strict=True)]
    shortened.sort(key=lambda n: [c.header for c in chosen].index("{{ SL." + n + " }}"))
    return Fit(chosen, [round(w, 3) for w in widths], shortened, size)


def _key_shown(shortened: list[str]) -> str:
    """Whether the key line shows (Jinja): some header is short in the report's language."""
    return "(" + " or ".join(f"SL.{n} != L.{n}" for n in shortened) + ")" if shortened else "false"


def key_line(doc: Any, shortened: list[str]) -> None:
    """Under a table, the short headers spelled out (those short in the report's language)."""
    pairs = ", ".join(f"(SL.{n}, L.{n})" for n in shortened)
    tag(doc, f"if {_key_shown(shortened)}")
    para(
        doc,
        "{{ SL.key }}: {% for short, full in [" + pairs + "] if short != full %}"
        "{{ short }}: {{ full }}{{ '; ' if not loop.last else '.' }}{% endfor %}",
        "Table Key",
    )
    tag(doc, "endif")


def _row_tag(t: Any, text: str) -> None:
    """A row replaced by the docxtpl tag ``{% <text> %}``."""
    row = t.add_row()
    _row_flags(row)
    cell_para(row.cells[0], "{%tr " + text + " %}", first=True)


def _caption_and_unit(doc: Any, spec: Table) -> None:
    """Over a table: its caption ("Bảng N. ..."), then its unit line ("Đơn vị tính: Mbps")."""
    if spec.caption:
        para(doc, spec.caption, style="Caption")
    if spec.unit:
        para(doc, spec.unit, style="Table Unit")


def table(doc: Any, spec: Table) -> None:
    """A table whose headers never break inside a word (see :func:`fit_columns`), whose
    rows never split, whose header row repeats on every page, and which leaves no row
    alone on a page: its caption keeps with it (the style's "keep with next"), the header
    row with the first body rows; in a loop the first two rows and the two before the last
    keep with their next ("keep with next" on their paragraphs, decided in each rendered
    row), so that a page holds at least two rows of a loop, and its last page three; the
    last row of a nested loop keeps with the next block when that one is the last; every
    static row keeps with the next but the table's last, which keeps with its key line."""
    fit = fit_columns(spec.name, spec.columns)
    _caption_and_unit(doc, spec)
    t = doc.add_table(rows=1, cols=len(fit.columns))
    t.style = "Table Grid"
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    _set_tblpr(t, _element("w:tblCaption", val=spec.name))
    _cell_margins(t, CELL_MARGIN_CM)
    header = t.rows[0]
    _row_flags(header, header=True)
    smaller = {"size": fit.size} if fit.size != TABLE_PT else {}
    for cell, column in zip(header.cells, fit.columns, strict=True):
        cell_para(cell, column.header, first=True, style="Table Heading", **smaller)
    _keep_with_next(header, "true")
    depth = 0
    rows = [item for item in spec.rows if isinstance(item, Row)]
    end = _key_shown(fit.shortened)  # the last row keeps with the key line, when shown
    for item in spec.rows:
        if isinstance(item, Tag):
            _row_tag(t, item.text)
            if item.text.startswith("for "):
                depth += 1
                _row_tag(t, f"set loop_{depth} = loop")  # seen by the rows of a nested loop
            depth -= item.text.startswith("endfor")
            continue
        row = t.add_row()
        _row_flags(row)
        cells = list(row.cells)
        for cell, text, column in zip(cells, item.cells, fit.columns, strict=True):
            align = RIGHT if column.num else None
            options: dict[str, Any] = {"bold": item.bold or None}
            if align is not None:
                options["align"] = align
            cell_para(cell, text, first=True, **options)
        last = item is rows[-1]
        if depth:
            # Within its loop: the first two rows and those before the last two keep.
            inside = "(loop.index in (1, 2) or loop.revindex in (2, 3)) and not loop.last"
            if not last:
                after = "true"  # the loop's last row keeps with the rows after the loop
            elif depth == 1:
                after = end
            else:  # a nested loop: its last row keeps with the last block, or the key
                after = f"({end} if loop_{depth - 1}.last else loop_{depth - 1}.revindex == 2)"
            keep = f"({inside}) or (loop.last and {after})"
            _keep_with_next(row, "{{ 'true' if " + keep + " else 'false' }}")
        else:
            _keep_with_next(row, "{{ 'true' if " + end + " else 'false' }}" if last else "true")
        if item.span > 1:
            cells[0].merge(cells[item.span - 1])
    _widths(t, fit.widths)
    if fit.shortened:
        key_line(doc, fit.shortened)


def item_value(
    name: str, rows: list[Row | Tag], caption: str | None = None, item: float = 11.0
) -> Table:
    """A two-column table of labelled values."""
    columns = [Col("{{ L.c_item }}", item), Col("{{ L.c_value }}", 16.0 - item, num=True)]
    return Table(name, columns, rows, caption)


# -- the document ----------------------------------------------------------------------


def structure_styles(doc: Any) -> None:
    """The unit line over a table of speeds, and an annex's title under "Phụ lục I"."""
    from docx.enum.style import WD_STYLE_TYPE

    normal = doc.styles["Normal"]
    unit = doc.styles.add_style("Table Unit", WD_STYLE_TYPE.PARAGRAPH)
    unit.base_style = normal
    unit.font.size = Pt(TABLE_PT + 1)
    unit.font.italic = True
    unit.paragraph_format.alignment = RIGHT
    unit.paragraph_format.space_after = Pt(2)
    unit.paragraph_format.keep_with_next = True
    annex_title = doc.styles.add_style("Annex Title", WD_STYLE_TYPE.PARAGRAPH)
    annex_title.base_style = normal
    annex_title.font.bold = True
    annex_title.paragraph_format.alignment = CENTER
    annex_title.paragraph_format.space_after = Pt(0)
    annex_title.paragraph_format.keep_with_next = True


def styles(doc: Any) -> None:
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    rpr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    _fonts(rpr)
    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(BODY_PT)
    _fonts(normal.element.get_or_add_rPr())
    normal.paragraph_format.space_before = Pt(0)
    normal.paragraph_format.space_after = Pt(6)
    normal.paragraph_format.line_spacing = 1.0
    body = doc.styles["Body Text"]
    body.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    body.paragraph_format.first_line_indent = Cm(1)
    body.paragraph_format.space_after = Pt(6)
    levels = (("Heading 1", 13, False), ("Heading 2", 13, False), ("Heading 3", 13, True))
    for name, size, italic in levels:
        heading = doc.styles[name]
        heading.font.size = Pt(size)
        heading.font.bold = True
        heading.font.italic = italic
        heading.font.color.rgb = RGBColor(0, 0, 0)
        _fonts(heading.element.get_or_add_rPr())
        heading.paragraph_format.space_before = Pt(12)
        heading.paragraph_format.space_after = Pt(6)
        heading.paragraph_format.keep_with_next = True
    caption = doc.styles["Caption"]
    caption.font.size = Pt(12)
    caption.font.bold = True
    caption.font.italic = False
    caption.font.color.rgb = RGBColor(0, 0, 0)
    _fonts(caption.element.get_or_add_rPr())
    caption.paragraph_format.alignment = CENTER
    caption.paragraph_format.space_before = Pt(6)
    caption.paragraph_format.space_after = Pt(3)
    caption.paragraph_format.keep_with_next = True
    from docx.enum.style import WD_STYLE_TYPE

    table_styles(doc)
    structure_styles(doc)
    figure = doc.styles.add_style("Figure", WD_STYLE_TYPE.PARAGRAPH)
    figure.base_style = normal
    figure.paragraph_format.alignment = CENTER
    figure.paragraph_format.keep_with_next = True


def table_styles(doc: Any) -> None:
    """The cells' text, the header cells' (bold, centred) and the key line under a table."""
    from docx.enum.style import WD_STYLE_TYPE

    text = doc.styles.add_style("Table Text", WD_STYLE_TYPE.PARAGRAPH)
    text.base_style = doc.styles["Normal"]
    text.font.size = Pt(TABLE_PT)
    text.paragraph_format.space_after = Pt(0)
    text.paragraph_format.space_before = Pt(0)
    heading = doc.styles.add_style("Table Heading", WD_STYLE_TYPE.PARAGRAPH)
    heading.base_style = text
    heading.font.bold = True
    heading.paragraph_format.alignment = CENTER
    key = doc.styles.add_style("Table Key", WD_STYLE_TYPE.PARAGRAPH)
    key.base_style = text
    key.font.italic = True
    key.paragraph_format.space_after = Pt(6)


def page(doc: Any) -> None:
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    section.top_margin, section.bottom_margin = Cm(2.0), Cm(2.0)
    section.left_margin, section.right_margin = Cm(3.0), Cm(2.0)
    section.header_distance, section.footer_distance = Cm(1.0), Cm(1.0)
    # Page numbers centred at the top, from the second page (Decree 30).
    section.different_first_page_header_footer = True
    number = section.header.paragraphs[0]
    number.alignment = CENTER
    field = _element("w:fldSimple", instr="PAGE")
    run = _element("w:r")
    text = _element("w:t")
    text.text = "2"
    run.append(text)
    field.append(run)
    number._p.append(field)


def heading(doc: Any, text: str, level: int = 1) -> Any:
    return doc.add_paragraph(text, style=f"Heading {level}")


def rule(cell: Any, length_cm: float, column_cm: float) -> None:
    """A short centred line under a header line (Decree 30/2020, Appendix I): an empty
    paragraph with a top border, its indents making the border ``length_cm`` long."""
    paragraph = cell.add_paragraph(style="Normal")
    ppr = paragraph._p.get_or_add_pPr()
    borders = _element("w:pBdr")
    borders.append(_element("w:top", val="single", sz="6", space="1", color="auto"))
    ppr.append(borders)
    side = Cm((column_cm - length_cm) / 2)
    paragraph.paragraph_format.left_indent = side
    paragraph.paragraph_format.right_indent = side
    paragraph.paragraph_format.space_before = Pt(0)
    paragraph.paragraph_format.space_after = Pt(0)
    paragraph.paragraph_format.line_spacing = Pt(6)


HEADER_COLUMNS = (7.0, 9.6)
"""The header's columns (cm): the issuing body and the motto each fit on one line."""


def header_block(doc: Any) -> None:
    t = doc.add_table(rows=1, cols=2)
    _no_borders(t)
    _set_tblpr(t, _element("w:tblCaption", val="document-header"))
    _cell_margins(t, 0.0)
    left, right = t.rows[0].cells
    cell_para(left, "{{ document.parent }}", first=True, style="Normal", align=CENTER, size=12)
    cell_para(
        left,
        "{{ document.issuer | upper }}",
        first=False,
        style="Normal",
        align=CENTER,
        size=12,
        bold=True,
    )
    rule(left, 2.4, HEADER_COLUMNS[0])  # a third to a half of the issuer's line
    cell_para(
        left,
        "{{ L.d_number | fill(number=document.number, symbol=document.symbol) }}",
        first=False,
        style="Normal",
        align=CENTER,
    )
    motto = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    cell_para(right, motto, first=True, style="Normal", align=CENTER, size=12, bold=True)
    sub = "Độc lập - Tự do - Hạnh phúc"
    cell_para(right, sub, first=False, style="Normal", align=CENTER, bold=True)
    rule(right, 5.9, HEADER_COLUMNS[1])  # as long as the line above
    tag(right, "if L.d_motto_gloss")
    cell_para(
        right,
        "{{ L.d_motto_gloss }}",
        first=False,
        style="Normal",
        align=CENTER,
        italic=True,
        size=11,
    )
    cell_para(
        right,
        "{{ L.d_motto_sub_gloss }}",
        first=False,
        style="Normal",
        align=CENTER,
        italic=True,
        size=11,
    )
    tag(right, "endif")
    cell_para(
        right,
        "{{ L.d_place_date | fill(place=document.place, date=document.date | document_date) }}",
        first=False,
        style="Normal",
        align=CENTER,
        italic=True,
    )
    # The issuing body and the motto must each fit on one line (Decree 30/2020,
    # Appendix I): the header reaches 0.6 cm into the left margin, as is usual.
    _widths(t, list(HEADER_COLUMNS))
    _set_tblpr(t, _element("w:tblInd", w=str(int(-0.6 * 567)), type="dxa"))


def addressees(doc: Any) -> None:
    """Kính gửi: the label on the left, one addressee a line on the right, so that
    several addressees stand in a column after the label (Decree 30/2020)."""
    t = doc.add_table(rows=1, cols=2)
    _no_borders(t)
    _set_tblpr(t, _element("w:tblCaption", val="addressees"))
    _cell_margins(t, 0.1)
    left, right = t.rows[0].cells
    cell_para(left, "{{ L.d_recipient }}", first=True, style="Normal", align=RIGHT)
    first = right.paragraphs[0]
    first.style = "Normal"
    first.paragraph_format.space_after = Pt(0)
    _text(first, "{%p if document.recipients | length == 1 %}")
    cell_para(right, "{{ document.recipients[0] }}.", first=False, style="Normal")
    tag(right, "else")
    tag(right, "for item in document.recipients")
    line = cell_para(
        right,
        "- {{ item }}{{ ';' if not loop.last else '.' }}",
        first=False,
        style="Normal",
    )
    line.paragraph_format.left_indent = Cm(0.3)  # a long addressee wraps under its text
    line.paragraph_format.first_line_indent = Cm(-0.3)
    tag(right, "endfor")
    tag(right, "endif")
    _widths(t, [4.6, 11.4])


def placeholder(doc: Any, text: str) -> Any:
    """A paragraph the tool cannot write (the basis, next month's tasks), highlighted to
    be filled in before signing."""
    paragraph = para(doc, text, style="Body Text")
    paragraph.runs[0].font.highlight_color = WD_COLOR_INDEX.YELLOW
    return paragraph


def title_block(doc: Any) -> None:
    para(doc, "", style="Normal")
    para(doc, "{{ L.title | upper }}", style="Normal", align=CENTER, bold=True, size=14)
    para(
        doc,
        "{{ L.d_subtitle | fill(month=month | month, area=document.area) }}",
        style="Normal",
        align=CENTER,
        bold=True,
    )
    addressees(doc)
    para(doc, "", style="Normal")
    # The opening cites the basis documents; without them, a marked placeholder.
    tag(doc, "if document.basis_given")
    para(doc, "{{ document.opening }}", style="Body Text")
    tag(doc, "else")
    placeholder(doc, "{{ document.opening }}")
    tag(doc, "endif")
    para(
        doc,
        "{{ L.source_line | fill(sources=summary | sources(annex.quarter_of_tiles)) }}",
        style="Body Text",
    )
    # Warnings about the data, before anything else is read (page 1).
    tag(doc, "if warnings")
    para(doc, "{{ L.warnings_title | upper }}", style="Normal", bold=True)
    tag(doc, "for w in warnings")
    para(doc, "{{ w | notice }}", style="Body Text", bold=True)
    tag(doc, "endfor")
    tag(doc, "endif")


def uptake(doc: Any) -> None:
    """I. Tình hình triển khai: the tests, devices and communes with tests, against last
    month (the communes' figures are annex IV)."""
    heading(doc, "{{ L.s_uptake }}")
    rows: list[Row | Tag] = [
        Row(["{{ L.k_tests }}", "{{ summary.tests | integer }}"]),
        Row(["{{ L.k_tile_tests }}", "{{ summary.tile_tests | integer }}"]),
        Row(["{{ L.k_wifi_tests }}", "{{ summary.wifi_tests | integer }}"]),
        Row(["{{ L.k_devices }}", "{{ summary.devices_min | bounds(summary.devices_max) }}"]),
        Row(
            [
                "{{ L.k_communes_with_data }}",
                "{{ summary.communes_with_tests | integer }} / {{ summary.communes_total "
                "| integer }}",
            ]
        ),
        Row(["{{ L.k_communes_without_data }}", "{{ summary.communes_without_tests | integer }}"]),
        Row(["{{ L.c_tests_per_1000 }}", "{{ adoption.tests_per_1000 | number(2) }}"]),
        Tag("if summary.prev_tests is not none"),
        Row(
            [
                "{{ L.k_tests }} ({{ summary.prev_month | trend_label(summary.prev_period) }})",
                "{{ summary.prev_tests | integer }}",
            ]
        ),
        Tag("endif"),
    ]
    table(doc, item_value("key-figures", rows, numbered("L.t_key_figures")))
    para(doc, '{{ L.adoption_devices_note }} {{ L.see_annex | fill(n="IV") }}', "Body Text")


def province(doc: Any) -> None:
    """II.1: the province's speeds by technology, against last month."""
    heading(doc, "{{ L.s_province | fill(area=document.area) }}", 2)
    tag(doc, "if summary.data_period | period_summary")
    para(doc, "{{ summary.data_period | period_summary }}", style="Body Text")
    tag(doc, "endif")
    columns = [
        Col("{{ L.c_technology }}", 2.6),
        Col("{{ L.c_tests }}", 1.7, True),
        Col("{{ L.c_devices }}", 1.6, True),
        Col("{{ L.c_mean }}", 1.6, True),
        Col("{{ L.c_median }}", 1.6, True),
        Col("{{ L.c_target }}", 1.4, True),
        Col("{{ L.c_verdict }}", 2.1),
        Col("{{ L.c_prev }}", 1.6, True),
        Col("{{ L.c_change }}", 1.8, True),
    ]
    cells = [
        "{{ r.technology | tech }}",
        "{{ r.tests | integer }}",
        "{{ r.devices_min | bounds(r.devices_max) }}",
        "{{ r.mean | number }}{{ r.data_period | period_note(' — ') }}",
        "{{ r.median | number }}",
        "{{ r.target | target(r.technology) }}",
        "{{ r.verdict | verdict }}",
        "{{ r.prev_mean | number }}",
        "{{ r.change | change(r.change_basis, r.data_period) }}",
    ]
    rows = loop("r in province_rows", cells)
    table(doc, Table("province", columns, rows, numbered("L.t_province"), MBPS))
    para(doc, "{{ L.change_note if summary.has_previous else L.no_previous_month }}", "Body Text")


def operators(doc: Any) -> None:
    """II.2: each operator's speeds, and its own 4G verdict map (the communes below the
    minimum are annex II)."""
    heading(doc, "{{ L.s_operators }}", 2)
    para(doc, "{{ L.operators_note }}", "Body Text")
    columns = [
        ORDINAL,
        Col("{{ L.c_operator }}", 2.2),
        Col("{{ L.c_technology }}", 1.4),
        Col("{{ L.c_tests }}", 1.2, True),
        Col("{{ L.c_devices }}", 1.2, True),
        Col("{{ L.c_mean }}", 1.2, True),
        Col("{{ L.c_median }}", 1.1, True),
        Col("{{ L.c_p10 }}", 1.1, True),
        Col("{{ L.c_p90 }}", 1.1, True),
        Col("{{ L.c_interval }}", 1.8, True),
        Col("{{ L.c_verdict }}", 1.6),
        Col("{{ L.c_change }}", 1.2, True),
    ]
    cells = [
        "{% set row.n = row.n + 1 %}{{ row.n }}",  # one count over the operators' rows
        "{{ block.operator | operator }}",
        "{{ r.technology | tech }}",
        "{{ r.tests | integer }}",
        "{{ r.devices_min | bounds(r.devices_max) }}",
        "{{ r.mean | number }}{{ r.data_period | period_note(' — ') }}",
        "{{ r.median | number }}",
        "{{ r.p10 | number }}",
        "{{ r.p90 | number }}",
        "{{ r.ci_low | interval(r.ci_high) }}",
        "{{ r.verdict | verdict }}",
        "{{ r.change | change(r.change_basis, r.data_period) }}",
    ]
    rows: list[Row | Tag] = [
        Tag("for block in operators"),
        *loop("r in block.rows", cells),
        Tag("endfor"),
    ]
    tag(doc, "set row = namespace(n=0)")
    table(doc, Table("operator-table", columns, rows, numbered("L.t_operators"), MBPS))
    tag(doc, "if operator_map_images")
    heading(doc, "{{ L.map_operators_title }}", 3)
    # Two maps side by side in one paragraph (each 78 mm of the 160 mm line).
    tag(doc, "for pair in operator_map_images | batch(2)")
    para(doc, "{{ pair[0] }}{% if pair | length > 1 %} {{ pair[1] }}{% endif %}", "Figure")
    tag(doc, "endfor")
    para(doc, "{{ L.map_operators_caption }}", "Caption")
    tag(doc, "endif")
    para(doc, '{{ L.see_annex | fill(n="II") }}', "Body Text")


def commune_table(doc: Any, *, compared: bool) -> None:
    """Annex I's commune table, on a landscape page; ``compared``: with the column of
    ``report --compare-rule``.

    Two whole tables, one shown by a paragraph tag, rather than a column tag: each
    is a plain Word table whose columns fill the text width.
    """
    narrow = 1 if compared else 0  # the extra column's 1.6 cm come from the widest ones
    columns = [
        ORDINAL,
        Col("{{ L.c_code }}", 1.2),
        Col("{{ L.c_commune }}", 2.4 - 0.4 * narrow),
        Col("{{ L.c_type }}", 1.3 - 0.3 * narrow),
        Col("{{ L.c_tests_4g }}", 1.3, True),
        Col("{{ L.c_devices }}", 1.3, True),
        Col("{{ L.c_mean_4g }}", 1.4 - 0.2 * narrow, True),
        Col("{{ L.c_median }}", 1.3 - 0.2 * narrow, True),
        Col("{{ L.c_interval }}", 2.0 - 0.3 * narrow, True),
        Col("{{ L.c_verdict_4g }}", 1.6),
        Col("{{ L.c_change }}", 1.2 - 0.2 * narrow, True),
        Col("{{ L.c_months_below }}", 1.0, True),
    ]
    cells = [
        ORDINAL_CELL,
        "{{ c.code }}",
        "{{ c.name }}",
        "{{ c.type | commune_type }}",
        "{{ c.tests_4g | integer }}",
        "{{ c.devices_4g_min | bounds(c.devices_4g_max) }}",
        "{{ c.mean_4g | number }}{{ c.data_period_4g | period_note(' — ') }}",
        "{{ c.median_4g | number }}",
        "{{ c.ci_low_4g | interval(c.ci_high_4g) }}",
        "{{ c.verdict_4g | verdict }}",
        "{{ c.change_4g | change(c.change_basis_4g, c.data_period_4g) }}",
        "{{ c.months_below_4g | integer }}",
    ]
    if compared:
        header = "{{ L.c_verdict_compared | fill(rule=compared.rule | rule_name) }}"
        columns.insert(10, Col(header, 1.6))
        cells.insert(10, "{{ c.verdict_4g_compared | verdict }}")
    columns = widened(columns, LANDSCAPE_TEXT_CM)
    rows = loop("c in communes", cells)
    table(doc, Table("commune-table", columns, rows, None, MBPS))


def communes(doc: Any) -> None:
    """II.3: the communes per verdict and the map (the communes' rows are annex I, those
    without enough data annex III)."""
    heading(doc, "{{ L.s_communes }}", 2)
    # One column per assessment (context.ASSESSMENTS: five, "no tests" apart).
    verdicts = [Col("{{ L.c_technology }}", 2.0), Col("{{ L.c_target }}", 2.0, num=True)]
    verdicts += [
        Col(f"{{{{ summary.verdict_names[{i}] | verdict }}}}", 2.1, num=True) for i in range(5)
    ]
    verdicts.append(Col("{{ L.c_total }}", 1.5, num=True))
    cells = ["{{ t.technology | tech }}", "{{ t.target | target(t.technology) }}"]
    cells += [f"{{{{ t.counts[{i}].count | integer }}}}" for i in range(5)]
    cells.append("{{ t.total | integer }}")
    rows = loop("t in summary.verdicts", cells)
    table(doc, Table("verdicts", verdicts, rows, numbered("L.t_verdicts")))
    tag(doc, "if map_image is not none")
    para(doc, "{{ map_image }}", "Figure")
    para(doc, "{{ L.map_title }}. {{ L.map_caption }} {{ annex | map_source }}", "Caption")
    tag(doc, "else")
    para(doc, "{{ L.map_unavailable }}", "Body Text", italic=True)
    tag(doc, "endif")
    tag(doc, "if map_insets_image is not none")
    para(doc, "{{ map_insets_image }}", "Figure")
    caption = '{{ L.map_insets_caption | fill(letters=charts.map_inset_letters | join(", ")) }}'
    para(doc, caption, "Caption")
    tag(doc, "endif")
    map_key(doc)
    para(doc, '{{ L.see_annexes | fill(n="I", m="III") }}', "Body Text")


def annex_communes(doc: Any) -> None:
    """Annex I: every commune's 4G results, then the 5G speeds of the communes with 5G
    tests and the communes without (landscape)."""
    annex_head(doc, "I", "L.annex_communes", first=True)
    heading(doc, "{{ L.annex_4g }}", 2)
    tag(doc, "if compared")
    commune_table(doc, compared=True)
    tag(doc, "else")
    commune_table(doc, compared=False)
    tag(doc, "endif")
    heading(doc, "{{ L.annex_5g }}", 2)
    tag(doc, "if five_g.communes_with")
    heading(doc, "{{ L.t_5g_communes }}", 3)
    columns = [
        ORDINAL,
        Col("{{ L.c_code }}", 2.0),
        Col("{{ L.c_commune }}", 3.6),
        Col("{{ L.c_tests_5g }}", 2.2, True),
        Col("{{ L.c_share_5g }}", 2.3, True),
        Col("{{ L.c_mean_5g }}", 2.5, True),
        Col("{{ L.c_median_5g }}", 2.5, True),
    ]
    cells = [
        ORDINAL_CELL,
        "{{ c.code }}",
        "{{ c.name }}",
        "{{ c.tests_5g | integer }}",
        "{{ c.share_5g | percent }}",
        "{{ c.mean_5g | number }}",
        "{{ c.median_5g | number }}",
    ]
    spec = Table(
        "five-g-communes",
        columns,
        loop("c in five_g.communes_with", cells),
        None,
        MBPS,
    )
    table(doc, spec)
    tag(doc, "endif")
    heading(doc, "{{ L.t_no_5g_communes }}", 3)
    tag(doc, "if five_g.communes_without")
    para(
        doc,
        "{% for c in five_g.communes_without %}{{ c.name }} ({{ c.code }})"
        '{{ ", " if not loop.last else "." }}{% endfor %}',
        "Body Text",
    )
    tag(doc, "else")
    para(doc, "{{ L.none }}", "Body Text")
    tag(doc, "endif")


def map_key(doc: Any) -> None:
    """The numbers drawn on the map and their communes, three to a row."""
    tag(doc, "if charts.map_key")
    columns = []
    cells = []
    for i in range(3):
        columns += [Col("{{ L.c_map_number }}", 1.0, True), Col("{{ L.c_commune }}", 4.33)]
        if i == 0:
            cells += ["{{ row[0].number }}", "{{ row[0].name }}"]
        else:
            cells += [
                f"{{% if row | length > {i} %}}{{{{ row[{i}].number }}}}{{% endif %}}",
                f"{{% if row | length > {i} %}}{{{{ row[{i}].name }}}}{{% endif %}}",
            ]
    rows = loop("row in charts.map_key | batch(3)", cells)
    table(doc, Table("map-key", columns, rows, "{{ L.map_key }}"))
    tag(doc, "endif")


def below(doc: Any) -> None:
    """Annex II: each operator's communes below the minimum (landscape, like annex I)."""
    annex_head(doc, "II", "L.annex_below")
    para(doc, "{{ L.below_intro }}", "Body Text")
    tag(doc, 'if not (below | selectattr("rows") | list)')
    para(doc, "{{ L.no_below_any }}", "Body Text")
    tag(doc, "endif")
    tag(doc, "for block in below")
    heading(doc, "{{ block.operator | operator }}", 3)
    tag(doc, "if block.rows")
    columns = [
        ORDINAL,
        Col("{{ L.c_code }}", 1.3),
        Col("{{ L.c_commune }}", 3.7),
        Col("{{ L.c_technology }}", 1.4),
        Col("{{ L.c_tests }}", 1.4, True),
        Col("{{ L.c_devices }}", 1.4, True),
        Col("{{ L.c_mean }}", 1.5, True),
        Col("{{ L.c_interval }}", 2.1, True),
        Col("{{ L.c_target }}", 1.4, True),
        Col("{{ L.c_months_below }}", 1.8, True),
    ]
    cells = [
        ORDINAL_CELL,
        "{{ r.commune_code | text }}",
        "{{ r.commune_name | text }}",
        "{{ r.technology | tech }}",
        "{{ r.tests | integer }}",
        "{{ r.devices_min | bounds(r.devices_max) }}",
        "{{ r.mean | number }}{{ r.data_period | period_note(' — ') }}",
        "{{ r.ci_low | interval(r.ci_high) }}",
        "{{ r.target | target(r.technology) }}",
        "{{ r.months_below | integer }}",
    ]
    columns = widened(columns, LANDSCAPE_TEXT_CM)
    table(doc, Table("below", columns, loop("r in block.rows", cells), None, MBPS))
    tag(doc, "else")
    para(doc, "{{ L.no_below_operator }}", "Body Text")
    tag(doc, "endif")
    tag(doc, "endfor")


def _if_table(doc: Any, condition: str, spec: Table) -> None:
    tag(doc, f"if {condition}")
    table(doc, spec)
    tag(doc, "else")
    para(doc, "{{ L.none }}", "Body Text")
    tag(doc, "endif")


def thin(doc: Any) -> None:
    """Annex III: communes without tests, with too few, and too close to the minimum."""
    annex_head(doc, "III", "L.annex_thin", first=True)
    para(
        doc,
        "{{ L.thin_rule | fill(tests=annex.min_tests | integer, devices=annex.min_devices "
        "| integer) }}",
        "Body Text",
    )
    heading(doc, "{{ L.t_no_tests }}", 3)
    columns = [
        ORDINAL,
        Col("{{ L.c_code }}", 2.0),
        Col("{{ L.c_commune }}", 5.0),
        Col("{{ L.c_type }}", 2.4),
        Col("{{ L.c_population }}", 2.9, True),
        Col("{{ L.c_tests }}", 2.8, True),
    ]
    cells = [
        ORDINAL_CELL,
        "{{ c.code }}",
        "{{ c.name }}",
        "{{ c.type | commune_type }}",
        "{{ c.population | integer }}",
        "{{ c.tests | integer }}",
    ]
    _if_table(doc, "no_tests", Table("no-tests", columns, loop("c in no_tests", cells)))
    heading(doc, "{{ L.t_insufficient }}", 3)
    columns = [
        ORDINAL,
        Col("{{ L.c_code }}", 1.5),
        Col("{{ L.c_commune }}", 2.6),
        Col("{{ L.c_tests_4g }}", 1.8, True),
        Col("{{ L.c_devices }}", 1.8, True),
        Col("{{ L.c_mean_4g }}", 2.2, True),
        Col("{{ L.c_reason }}", 5.2),
    ]
    reasons = (
        '{% for reason in c.thin_reasons %}{{ L["reason_" ~ reason] | fill(n=(annex.min_devices '
        'if reason == "few_devices" else annex.min_tests) | integer) }}'
        '{{ "; " if not loop.last }}{% endfor %}'
    )
    cells = [
        ORDINAL_CELL,
        "{{ c.code }}",
        "{{ c.name }}",
        "{{ c.tests_4g | integer }}",
        "{{ c.devices_4g_min | bounds(c.devices_4g_max) }}",
        "{{ c.mean_4g | number }}",
        reasons,
    ]
    _if_table(doc, "insufficient", Table("insufficient", columns, loop("c in insufficient", cells)))
    heading(doc, "{{ L.t_inconclusive }}", 3)
    columns = [
        ORDINAL,
        Col("{{ L.c_code }}", 2.0),
        Col("{{ L.c_commune }}", 4.1),
        Col("{{ L.c_tests_4g }}", 2.5, True),
        Col("{{ L.c_mean_4g }}", 3.0, True),
        Col("{{ L.c_interval }}", 3.5, True),
    ]
    cells = [
        ORDINAL_CELL,
        "{{ c.code }}",
        "{{ c.name }}",
        "{{ c.tests_4g | integer }}",
        "{{ c.mean_4g | number }}",
        "{{ c.ci_low_4g | interval(c.ci_high_4g) }}",
    ]
    _if_table(doc, "inconclusive", Table("inconclusive", columns, loop("c in inconclusive", cells)))


def five_g(doc: Any) -> None:
    """II.4: 5G, for reference, and each operator's roll-out."""
    heading(doc, "{{ L.s_5g }}", 2)
    tag(doc, "if not five_g.has_tests")
    para(doc, "{{ L.no_5g }}", "Body Text", bold=True)
    tag(doc, "endif")
    tag(doc, "if five_g.target is not none")
    para(doc, "{{ L.five_g_reference | fill(target=five_g.target | target) }}", "Body Text")
    tag(doc, "endif")
    rows: list[Row | Tag] = [
        Row(["{{ L.k_tests_5g }}", "{{ five_g.tests | integer }}"]),
        Row(["{{ L.k_share_5g }}", "{{ five_g.share | percent }}"]),
        Row(
            [
                "{{ L.k_communes_5g }}",
                "{{ five_g.communes_with | length | integer }} / {{ communes | length | integer }}",
            ]
        ),
        Row(["{{ L.k_communes_no_5g }}", "{{ five_g.communes_without | length | integer }}"]),
        Tag("if five_g.province is not none"),
        Row(["{{ L.k_mean_5g }}", "{{ five_g.province.mean | number }}"]),
        Row(["{{ L.k_median_5g }}", "{{ five_g.province.median | number }}"]),
        Row(["{{ L.c_reference }}", "{{ five_g.target | target }}"]),
        Row(["{{ L.c_reference_compare }}", "{{ five_g.province.verdict | verdict }}"]),
        Tag("endif"),
    ]
    table(doc, item_value("five-g-figures", rows, numbered("L.t_5g_figures")))
    para(doc, '{{ L.see_annex | fill(n="I") }}', "Body Text")


def five_g_operators(doc: Any) -> None:
    """In II.4: each operator's 5G roll-out, its presence map and its 12 months."""
    heading(doc, "{{ R.s_rollout }}", 3)
    para(doc, "{{ R.presence_note }}", "Body Text", italic=True)
    tag(doc, "if five_g_operators is none or not five_g_operators.operators")
    para(doc, "{{ R.no_operators }}", "Body Text")
    tag(doc, "else")
    para(doc, "{{ R.since_note | fill(since=five_g_operators.since | month) }}", "Body Text")
    tag(doc, "if not five_g_operators.population_known")
    para(doc, "{{ R.population_unknown }}", "Body Text")
    tag(doc, "endif")
    now = "{{ b.current."
    columns = [
        Col("{{ R.c_operator }}", 2.6),
        Col("{{ R.c_5g_now }}", 1.9, True),
        Col("{{ R.c_5g_new }}", 1.4, True),
        Col("{{ R.c_5g_again }}", 1.4, True),
        Col("{{ R.c_5g_ever }}", 1.4, True),
        Col("{{ R.c_share_communes }} ({{ R.now_ever }})", 2.0, True),
        Col("{{ R.c_share_population }} ({{ R.now_ever }})", 2.0, True),
        Col("{{ R.c_share_tests_5g }}", 1.5, True),
        Col("{{ R.c_median_5g }}", 1.8, True),
    ]
    cells = [
        "{{ b.operator | operator }}",
        now + "communes_5g | integer }} / {{ five_g_operators.communes_total | integer }}",
        now + "communes_new | integer }}",
        now + "communes_again | integer }}",
        now + "communes_ever | integer }}",
        now + "share_communes_5g | percent }} / " + now + "share_communes_ever | percent }}",
        now + "share_population_5g | percent }} / " + now + "share_population_ever | percent }}",
        now + "share_tests_5g | percent }}",
        now + "median_5g | number }}",
    ]
    caption = numbered("R.t_rollout | fill(month=month | month)")
    rows = loop("b in five_g_operators.operators", cells)
    table(doc, Table("rollout-table", columns, rows, caption))
    para(doc, "{{ R.legend_note }}", "Body Text")
    tag(doc, "for b in five_g_operators.operators")
    heading(doc, "{{ b.operator | operator }}", 3)
    tag(doc, "if b.operator not in commercial_5g")
    para(doc, "{{ R.not_commercial | fill(operator=b.operator | operator) }}", "Body Text")
    tag(doc, "endif")
    tag(doc, "if b.operator in rollout_images")
    para(doc, "{{ rollout_images[b.operator] }}", "Figure")
    tag(doc, "endif")
    columns = [
        Col("{{ R.c_month }}", 2.6),
        Col("{{ R.c_5g_now }}", 2.0, True),
        Col("{{ R.c_5g_new }}", 1.6, True),
        Col("{{ R.c_5g_ever }}", 1.6, True),
        Col("{{ R.c_share_communes }} ({{ R.c_5g_ever }})", 2.2, True),
        Col("{{ R.c_share_population }} ({{ R.c_5g_ever }})", 2.2, True),
        Col("{{ R.c_share_tests_5g }}", 1.8, True),
        Col("{{ R.c_median_5g }}", 2.0, True),
    ]
    cells = [
        "{{ p.month | month }}",
        "{{ p.communes_5g | integer }}",
        "{{ p.communes_new | integer }}",
        "{{ p.communes_ever | integer }}",
        "{{ p.share_communes_ever | percent }}",
        "{{ p.share_population_ever | percent }}",
        "{{ p.share_tests_5g | percent }}",
        "{{ p.median_5g | number }}",
    ]
    caption = numbered("R.t_series | fill(operator=b.operator | operator)")
    table(doc, Table("rollout-series", columns, loop("p in b.series", cells), caption))
    tag(doc, "if b.new_communes")
    para(
        doc,
        "{{ R.new_communes | fill(operator=b.operator | operator) }} "
        "{% for c in b.new_communes %}{{ c.name }} ({{ c.code }})"
        '{{ ", " if not loop.last else "." }}{% endfor %}',
        "Body Text",
    )
    tag(doc, "else")
    para(doc, "{{ R.no_new_communes | fill(operator=b.operator | operator) }}", "Body Text")
    tag(doc, "endif")
    tag(doc, "endfor")
    para(doc, "{{ R.series_note }}", "Body Text", italic=True)
    tag(doc, "endif")


def sources(doc: Any) -> None:
    """The month's sources: each per-test source credited with its tests and devices,
    the quarter's tiles in a sentence of their own (counted apart)."""
    tag(doc, "if summary.sources")
    mobile = 'summary.sources | selectattr("network", "equalto", "mobile")'
    columns = [
        Col("{{ L.c_source }}", 8.0),
        Col("{{ L.c_tests }}", 4.0, True),
        Col("{{ L.c_device_count }}", 4.0, True),
    ]
    cells = ["{{ s.source | source }}", "{{ s.tests | integer }}", "{{ s.devices | integer }}"]
    rows = loop(f"s in {mobile} | rejectattr('aggregate')", cells)
    table(doc, Table("sources", columns, rows, "{{ L.t_sources }}"))
    tag(doc, f"for s in {mobile} | selectattr('aggregate')")
    para(
        doc,
        "{{ L.tiles_line | fill(source=s.source | source, quarter=annex.quarter_of_tiles "
        "| quarter_name(false), tests=s.tests | integer, tiles=s.rows | integer) }}",
        "Body Text",
    )
    tag(doc, "endfor")
    para(doc, "{{ L.sources_intro }}", "Body Text")
    tag(doc, "else")
    para(doc, "{{ L.sources_unknown }}", "Body Text")
    tag(doc, "endif")


def adoption(doc: Any) -> None:
    """Annex IV: the tests and devices of each commune, and per 1,000 inhabitants."""
    annex_head(doc, "IV", "L.annex_adoption")
    para(doc, "{{ L.adoption_intro }} {{ L.adoption_devices_note }}", "Body Text")
    sources(doc)
    columns = [
        ORDINAL,
        Col("{{ L.c_code }}", 1.5),
        Col("{{ L.c_commune }}", 2.4),
        Col("{{ L.c_population }}", 2.0, True),
        Col("{{ L.c_tests }}", 2.0, True),
        Col("{{ L.c_devices }}", 2.2, True),
        Col("{{ L.c_tests_per_1000 }}", 2.5, True),
        Col("{{ L.c_devices_per_1000 }}", 2.5, True),
    ]
    cells = [
        ORDINAL_CELL,
        "{{ c.code }}",
        "{{ c.name }}",
        "{{ c.population | integer }}",
        "{{ c.tests | integer }}",
        "{{ c.devices_min | bounds(c.devices_max) }}",
        "{{ c.tests_per_1000 | number(2) }}",
        "{{ c.devices_min_per_1000 | bounds(c.devices_max_per_1000, 2) }}",
    ]
    footer = Row(
        [
            "{{ L.whole_province }}",
            "",
            "",
            "{{ adoption.population | integer }}",
            "{{ adoption.tests | integer }}",
            "{{ L.not_summed }}",
            "{{ adoption.tests_per_1000 | number(2) }}",
            "{{ L.not_summed }}",
        ],
        bold=True,
        span=3,
    )
    rows = [*loop("c in adoption.communes", cells), footer]
    table(doc, Table("adoption-table", columns, rows))


def trend(doc: Any) -> None:
    """II.5: month by month."""
    heading(doc, "{{ L.s_trend }}", 2)
    tag(doc, "if trend.has_history")
    para(
        doc,
        "{{ L.trend_intro }}{% if not trend.same_boundaries %} {{ L.trend_boundaries_changed }}"
        "{% endif %}",
        "Body Text",
    )
    tag(doc, "if trend_image is not none")
    para(doc, "{{ trend_image }}", "Figure")
    para(doc, "{{ L.trend_chart_title }}", "Caption")
    tag(doc, "endif")
    columns = [
        Col("{{ L.c_month }}", 3.2),
        Col("{{ L.c_tests }}", 1.8, True),
        Col("{{ L.c_with_tests }}", 1.7, True),
        Col("{{ L.c_mean_4g }}", 1.9, True),
        Col("{{ L.c_median }} 4G", 1.9, True),
        Col("{{ L.c_mean_5g }}", 1.9, True),
        Col("{{ L.c_meets_4g }}", 1.8, True),
        Col("{{ L.c_below_4g }}", 1.8, True),
    ]
    cells = [
        "{{ p.month | trend_label(p.period) }}{{ p.period | period_note(' — ') }}",
        "{{ p.tests | integer }}",
        "{{ p.communes_with_tests | integer }}",
        "{{ p.mean_4g | number }}",
        "{{ p.median_4g | number }}",
        "{{ p.mean_5g | number }}",
        "{{ p.meets_4g | integer }}",
        "{{ p.below_4g | integer }}",
    ]
    rows = loop("p in trend.points", cells)
    table(doc, Table("trend-table", columns, rows, numbered("L.t_trend")))
    tag(doc, "else")
    para(
        doc,
        "{{ L.first_month if trend.points[-1].months | length == 1 else L.first_period }}",
        "Body Text",
        bold=True,
    )
    tag(doc, "endif")


def assessment(doc: Any) -> None:
    """III. Đánh giá chung: the headline, then the conclusions written from the numbers
    (:func:`conclusions`); without them, the two parts a drafter fills in (section V,
    :func:`proposals`, likewise)."""
    heading(doc, "{{ L.s_assessment }}")
    tag(doc, "if not conclusions")
    heading(doc, "{{ L.s_achieved }}", 2)
    tag(doc, "endif")
    para(doc, "{{ summary | headline }}", style="Body Text", bold=True)
    tag(doc, "if compared")
    para(doc, "{{ compared | comparison }}", style="Body Text")
    tag(doc, "endif")
    tag(doc, "if conclusions")
    conclusions(doc)
    tag(doc, "else")
    heading(doc, "{{ L.s_shortcomings }}", 2)
    placeholder(doc, "{{ L.placeholder_shortcomings }}")
    tag(doc, "endif")


def tasks(doc: Any) -> None:
    """IV. Next month's tasks, from the settings; none given: a placeholder to fill in."""
    heading(doc, "{{ L.s_tasks }}")
    tag(doc, "for item in document.next_tasks")
    para(doc, "- {{ item }}", "Body Text")
    tag(doc, "else")
    placeholder(doc, "{{ L.placeholder_tasks }}")
    tag(doc, "endfor")


def proposals(doc: Any) -> None:
    """V. Đề xuất, kiến nghị: the recommendations written from the numbers
    (:func:`recommendations`); a placeholder to fill in only when there are none."""
    heading(doc, "{{ L.s_proposals }}")
    tag(doc, "if conclusions")
    recommendations(doc)
    tag(doc, "else")
    placeholder(doc, "{{ L.placeholder_proposals }}")
    tag(doc, "endif")
    para(doc, "{{ L.closing }}", style="Normal", align=RIGHT)  # the end of the letter's text


"""The sentence templates of the conclusions (``templates/conclusions.<lang>.j2``)."""
_CLASSES = '["no_tests", "insufficient", "inconclusive", "low_uptake"]'


def conclusions(doc: Any) -> None:
    """The body of section III when there are conclusions: the findings' sentences, each
    operator's 4G standing and the comparison with last month (``html/conclusions.html``)."""
    tag(doc, _SAY)
    tag(doc, "for f in conclusions.findings")
    para(doc, "- {{ S[f.kind](f) | sentence }}", "Body Text")
    tag(doc, "endfor")
    tag(doc, "if conclusions.standings")
    columns = [Col("{{ S.c_operator }}", 2.6)] + [
        Col(header, 1.49, num=True)
        for header in (
            "{{ S.c_meets }}",
            "{{ S.c_below }}",
            "{{ S.c_assessed }}",
            "{{ S.c_share_below }}",
            "{{ S.c_persistent | fill(n=conclusions.persistent_from | integer) }}",
            "{{ S.c_inconclusive }}",
            "{{ S.c_insufficient }}",
            "{{ S.c_no_tests }}",
            "{{ S.c_total }}",
        )
    ]
    cells = [
        "{{ S.pooled if s.operator is none else s.operator | operator }}",
        "{{ s.meets | integer }}",
        "{{ s.below | integer }}",
        "{{ s.assessed | integer }}",
        "{{ S.share_none if s.share_below is none else s.share_below | percent(0) }}",
        "{{ s.persistent | integer }}",
        "{{ s.inconclusive | integer }}",
        "{{ s.insufficient | integer }}",
        "{{ s.no_tests | integer }}",
        "{{ s.total | integer }}",
    ]
    caption = numbered('S.t_operators ~ " (" ~ conclusions.target | number(0) ~ " Mbps)"')
    rows = loop("s in conclusions.standings + [conclusions.pooled]", cells)
    table(doc, Table("conclusions-operators", columns, rows, caption))
    para(doc, "{{ S.operators_note }}", "Body Text", italic=True)
    tag(doc, "endif")
    tag(doc, "if conclusions.changes")
    columns = [
        Col("{{ S.c_item }}", 7.0),
        Col("{{ month | month }}", 3.0, True),
        Col("{{ conclusions.previous | month }}", 3.0, True),
        Col("{{ S.c_change }}", 3.0, True),
    ]
    cells = [
        '{{ S["change_" ~ c.item] }}',
        "{{ c.now | integer }}",
        "{{ c.before | integer }}",
        '{{ c.difference | signed(0) if c.difference is not none else S["basis_" ~ c.basis] }}',
    ]
    rows = loop("c in conclusions.changes", cells)
    table(doc, Table("conclusions-changes", columns, rows, numbered("S.t_changes")))
    tag(doc, "endif")


def recommendations(doc: Any) -> None:
    """The body of section V when there are conclusions: the recommendations, with the
    lists they point to (``html/recommendations.html``)."""
    tag(doc, _SAY)
    tag(doc, "for f in conclusions.recommendations")
    para(doc, "{{ loop.index }}. {{ S[f.kind](f) | sentence }}", "Body Text")
    tag(doc, "else")
    para(doc, "{{ L.none }}", "Body Text")
    tag(doc, "endfor")
    tag(doc, "if conclusions.no_operator")
    columns = [
        Col("{{ S.c_code }}", 2.0),
        Col("{{ S.c_commune }}", 6.0),
        Col("{{ S.c_operators_below }}", 8.0),
    ]
    cells = [
        "{{ p.code }}",
        "{{ p.name }}",
        '{% for s in conclusions.standings if s.below_communes | selectattr("code", '
        '"equalto", p.code) | list %}{{ s.operator | operator }}'
        '{{ ", " if not loop.last }}{% endfor %}',
    ]
    # Footer labels stand in a wide column: a merged cell would keep the empty
    # paragraphs of the cells merged into it.
    count = "{{ conclusions.no_operator | length | integer }}"
    total = Row(["", "{{ S.campaign_total }}", count], bold=True)
    rows = [*loop("p in conclusions.no_operator", cells), total]
    table(doc, Table("no-operator", columns, rows, numbered("S.t_no_operator")))
    tag(doc, "endif")
    tag(doc, "if conclusions.campaign")
    columns = [
        Col("{{ S.c_code }}", 1.6),
        Col("{{ S.c_commune }}", 3.4),
        Col("{{ S.c_reason }}", 4.4),
        Col("{{ S.c_population }}", 2.0, True),
        Col("{{ S.c_tests }}", 2.0, True),
        Col("{{ S.c_per_1000 }}", 2.6, True),
    ]
    cells = [
        "{{ c.code }}",
        "{{ c.name }}",
        '{{ S["reason_" ~ c.reason] }}',
        "{{ c.population | integer }}",
        "{{ c.tests | integer }}",
        "{{ c.tests_per_1000 | number(2) }}",
    ]
    by_class = Row(["", "", '{{ S["reason_" ~ reason] }}', "", "", "{{ n | integer }}"])
    count = "{{ conclusions.campaign | length | integer }}"
    total = Row(["", "", "{{ S.campaign_total }}", "", "", count], bold=True)
    rows = [
        *loop("c in conclusions.campaign", cells),
        Tag(f"for reason in {_CLASSES}"),
        Tag(
            'set n = conclusions.campaign | selectattr("reason", "equalto", reason) | list | length'
        ),
        Tag("if n"),
        by_class,
        Tag("endif"),
        Tag("endfor"),
        total,
    ]
    table(doc, Table("campaign", columns, rows, numbered("S.t_campaign")))
    tag(doc, "endif")


def signature(doc: Any) -> None:
    para(doc, "", style="Normal")
    t = doc.add_table(rows=1, cols=2)
    _no_borders(t)
    _set_tblpr(t, _element("w:tblCaption", val="signature"))
    _cell_margins(t, 0.0)
    left, right = t.rows[0].cells
    cell_para(
        left,
        "{{ L.d_recipients_title }}",
        first=True,
        style="Normal",
        bold=True,
        italic=True,
        size=12,
    )
    tag(left, "for item in document.copies_to")
    cell_para(
        left,
        "- {{ item }}{{ ';' if not loop.last else '.' }}",
        first=False,
        style="Normal",
        size=11,
    )
    tag(left, "endfor")
    first = right.paragraphs[0]
    first.style = "Normal"
    first.paragraph_format.space_after = Pt(0)
    _text(first, "{%p for line in document.signer_title %}")
    cell_para(right, "{{ line }}", first=False, style="Normal", align=CENTER, bold=True)
    tag(right, "endfor")
    for _ in range(4):  # room to sign and stamp
        cell_para(right, "", first=False, style="Normal")
    cell_para(
        right, "{{ document.signer_name }}", first=False, style="Normal", align=CENTER, bold=True
    )
    _widths(t, [7.0, 9.0])


def annex_head(doc: Any, number: str, title: str, *, first: bool = False) -> None:
    """An annex's head: "Phụ lục I" (a heading, on a new page unless ``first`` in its
    section, which starts one), its title in capitals and the line naming the report
    it goes with (``title`` is a Jinja expression)."""
    head = heading(doc, '{{ L.annex | fill(n="' + number + '") }}')
    head.alignment = CENTER
    head.paragraph_format.page_break_before = not first
    head.paragraph_format.space_before = Pt(0)
    head.paragraph_format.space_after = Pt(0)
    para(doc, "{{ " + title + " | upper }}", style="Annex Title")
    line = para(doc, "{{ document.annex_line }}", style="Normal", align=CENTER, italic=True)
    line.paragraph_format.space_after = Pt(12)


def section_break(doc: Any, *, landscape: bool) -> None:
    """A new section on a new page, landscape or portrait A4, numbered like the others
    (its header, with the page number, is the first section's)."""
    section = doc.add_section(WD_SECTION.NEW_PAGE)
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    wide, tall = Cm(29.7), Cm(21.0)
    section.page_width, section.page_height = (wide, tall) if landscape else (tall, wide)
    section.different_first_page_header_footer = False  # the number on every page


def annex(doc: Any) -> None:
    """Annex V: the method in plain words; the technical details are in a file apart."""
    annex_head(doc, "V", "L.annex_method")
    para(
        doc,
        "{{ L.method_plain | fill(timezone=annex.timezone | timezone, statistic=annex.statistic "
        "| statistic, confidence=annex.confidence | percent(0), min_tests=annex.min_tests "
        "| integer, min_devices=annex.min_devices | integer) }}",
        "Body Text",
    )
    para(
        doc,
        "{{ L.thin_rule | fill(tests=annex.min_tests | integer, devices=annex.min_devices "
        "| integer) }}",
        "Body Text",
    )
    # The rule in figures: the sentences of sections III and V cite its minimums.
    heading(doc, "{{ L.a_rule }}", 2)
    rows: list[Row | Tag] = [
        *loop(
            "t in annex.targets",
            ["{{ t.technology | target_name }}", "{{ t.mbps | number(0) }}"],
        ),
        Row(["{{ L.r_statistic }}", "{{ annex.statistic | statistic }}"]),
        Row(["{{ L.r_min_tests }}", "{{ annex.min_tests | integer }}"]),
        Row(["{{ L.r_min_devices }}", "{{ annex.min_devices | integer }}"]),
        Tag('if annex.statistic == "share"'),
        Row(["{{ L.r_min_share }}", "{{ annex.min_share | percent(0) }}"]),
        Tag("endif"),
        Row(["{{ L.r_confidence }}", "{{ annex.confidence | percent(0) }}"]),
    ]
    table(doc, item_value("rule", rows))
    para(doc, "{{ L.technical_note | fill(file=technical_file) }}", "Body Text")


def _drop_thumbnail(doc: Any) -> None:
    """python-docx's default package has a thumbnail of an empty page: leave it out."""
    rels = doc.part.package.rels
    for key in [k for k, rel in rels.items() if rel.reltype.endswith("/thumbnail")]:
        del rels[key]


def build() -> bytes:
    """The template's bytes (the same on every run)."""
    doc = Document()
    _drop_thumbnail(doc)
    styles(doc)
    page(doc)
    body = doc.element.body
    for paragraph in list(body.iterchildren(qn("w:p"))):
        body.remove(paragraph)
    header_block(doc)
    title_block(doc)
    uptake(doc)
    heading(doc, "{{ L.s_results }}")
    for section in (province, operators, communes, five_g, five_g_operators, trend):
        section(doc)
    assessment(doc)
    tasks(doc)
    proposals(doc)
    signature(doc)
    # The annexes after the signature: the wide commune tables on landscape pages.
    section_break(doc, landscape=True)
    annex_communes(doc)
    below(doc)
    section_break(doc, landscape=False)
    thin(doc)
    adoption(doc)
    annex(doc)
    props = doc.core_properties
    props.title = "{{ L.title }}"
    props.author = "qostool"
    props.last_modified_by = "qostool"
    props.comments = ""
    props.revision = 1
    props.created = TEMPLATE_DATE
    props.modified = TEMPLATE_DATE
    buffer = io.BytesIO()
    doc.save(buffer)
    return fixed_zip(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT / "report.docx")
    args = parser.parse_args()
    args.output.write_bytes(build())
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
