"""The report as an editable Word document (DOCX), rendered from a docxtpl template.

The template ``templates/report.docx`` is made by ``scripts/make_docx_template.py``
(never edited by hand): a Vietnamese administrative report (header table with
the issuing body and the national motto, title, sections, signature block)
whose paragraphs and table rows hold Jinja tags. It is rendered with the
report's Jinja environment (the same filters and labels as the HTML), with
autoescaping on, since the template is XML. A ``report.docx`` in
``--template-dir`` replaces it.

The output is deterministic: the core properties' dates are the report's date,
and the zip is written again with a fixed time stamp and order for every member.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from qostool.errors import UsageError
from qostool.report.i18n import Formatter
from qostool.text import visible

if TYPE_CHECKING:
    import jinja2

    from qostool.report.context import ReportContext

#: The template's file name, packaged and in ``--template-dir``.
TEMPLATE: Final = "report.docx"
#: Width of the map and of the trend chart on the page (the text is 160 mm wide).
MAP_WIDTH_MM: Final = 150
TREND_WIDTH_MM: Final = 160
#: Width of each operator's 5G presence map (two side by side would not leave room for
#: its legend in Word's table cells: one under the other, each 80 mm wide).
ROLLOUT_WIDTH_MM: Final = 80
#: Width of each operator's 4G verdict map: two side by side in one paragraph (their
#: legend is a short one, unlike the 5G maps').
OPERATOR_MAP_WIDTH_MM: Final = 78
#: The time stamp of every zip member (the earliest a zip can hold).
ZIP_TIME: Final = (1980, 1, 1, 0, 0, 0)
_FIRST: Final = ("[Content_Types].xml", "_rels/.rels")


@dataclass(frozen=True)
class Pictures:
    """The charts as PNG bytes for the Word document (None: not drawn)."""

    map_png: bytes | None
    trend_png: bytes | None
    rollout_pngs: dict[str, bytes] = field(default_factory=dict)
    """Each operator's 5G presence map, by operator name."""
    operator_map_pngs: dict[str, bytes] = field(default_factory=dict)
    """Each operator's map of its own 4G verdicts, by operator name."""
    map_insets_png: bytes | None = None
    """The commune map's insets (None: the province has no cluster of small communes)."""


def fixed_zip(data: bytes) -> bytes:
    """The same OOXML package with a fixed time stamp and order for every member.

    ``[Content_Types].xml`` and the package relationships come first (as Office
    writes them), then every other part by name.
    """
    source = zipfile.ZipFile(io.BytesIO(data))
    names = sorted(source.namelist(), key=lambda n: (_FIRST.index(n) if n in _FIRST else 2, n))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, source.read(name))
    return out.getvalue()


def template_bytes(template_dir: Path | None) -> bytes:
    """The user's ``report.docx`` when ``--template-dir`` has one, else the packaged one."""
    if template_dir is not None and (template_dir / TEMPLATE).is_file():
        return (template_dir / TEMPLATE).read_bytes()
    return resources.files("qostool.report").joinpath("templates", TEMPLATE).read_bytes()


def core_time(generated_at: str) -> datetime:
    """The document's creation time: the report's date (a datetime in UTC, a date at 00:00)."""
    if len(generated_at) <= 10:
        day = date.fromisoformat(generated_at)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    moment = datetime.fromisoformat(generated_at)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _open_template(template_dir: Path | None) -> Any:
    from docx.opc.exceptions import PackageNotFoundError
    from docxtpl import DocxTemplate

    document = DocxTemplate(io.BytesIO(template_bytes(template_dir)))
    try:
        document.init_docx()  # opens the package now, to name the file if it is not one
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError) as exc:
        raise UsageError(
            f"--template-dir {str(template_dir)!r}: {TEMPLATE} is not a Word document ({exc})",
            hint="save it from Word as .docx, or remove it to use the packaged one",
        ) from None
    return document


def label_every_page(docx: Any, text: str) -> None:
    """Put ``text`` at the top of every page: in each section's headers, the first
    page's too (the template gives page 1 its own, empty, header), above what they hold.

    The header parts are reached through the document's relationships: docxtpl
    replaced them when it rendered, and python-docx's section headers may still
    point at the parts it read before.
    """
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt, RGBColor
    from docx.text.paragraph import Paragraph

    for section in docx.sections:
        if section.different_first_page_header_footer:
            section.first_page_header.is_linked_to_previous = False  # made when missing
        for reference in section._sectPr.findall(qn("w:headerReference")):
            header = docx.part.rels[reference.get(qn("r:id"))].target_part.element
            first = Paragraph(header.find(qn("w:p")), None)  # type: ignore[arg-type]
            empty = not first.text and not first._p.findall(f".//{qn('w:fldSimple')}")
            paragraph = first if empty else first.insert_paragraph_before()
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            run = paragraph.add_run(text)
            run.bold = True
            run.font.size = Pt(10)
            run.font.color.rgb = RGBColor(0xA5, 0x0F, 0x15)


def render_docx(
    env: jinja2.Environment,
    variables: dict[str, Any],
    context: ReportContext,
    *,
    pictures: Pictures,
    fmt: Formatter,
    template_dir: Path | None = None,
) -> bytes:
    """The report as DOCX bytes.

    ``env`` is the report's Jinja environment for this document alone: its
    autoescaping is turned on for every template (the template is XML).
    ``variables`` are the templates' variables (``render.template_variables``);
    ``map_image``, ``map_insets_image`` and ``trend_image`` are added (None when not
    drawn), and
    ``rollout_images`` (each operator's 5G presence map, by operator name) and
    ``operator_map_images`` (each operator's 4G verdict map, in the operators' order).
    """
    from docx.shared import Mm
    from docxtpl import InlineImage

    document = _open_template(template_dir)

    def picture(png: bytes | None, width_mm: int) -> Any:
        return None if png is None else InlineImage(document, io.BytesIO(png), width=Mm(width_mm))

    names = {
        "map_image": picture(pictures.map_png, MAP_WIDTH_MM),
        "map_insets_image": picture(pictures.map_insets_png, MAP_WIDTH_MM),
        "trend_image": picture(pictures.trend_png, TREND_WIDTH_MM),
        "rollout_images": {
            name: picture(png, ROLLOUT_WIDTH_MM) for name, png in pictures.rollout_pngs.items()
        },
        "operator_map_images": [
            picture(png, OPERATOR_MAP_WIDTH_MM) for png in pictures.operator_map_pngs.values()
        ],
    }
    document.render({**variables, **names}, env, autoescape=True)
    if context.which:
        label_every_page(document.docx, visible(fmt.page_label(context.which)))
    props = document.docx.core_properties
    moment = core_time(context.generated_at).replace(tzinfo=None)
    props.created = moment
    props.modified = moment
    props.revision = 1
    props.author = "qostool"
    props.last_modified_by = "qostool"
    province = visible(context.province_name)  # XML holds no control characters
    props.title = f"{fmt.labels['title']}: {province}, {fmt.month(context.month)}"
    props.language = fmt.lang
    buffer = io.BytesIO()
    document.save(buffer)
    return fixed_zip(buffer.getvalue())
