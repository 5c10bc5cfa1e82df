"""The report's one Jinja2 environment, and rendering a context into HTML or Markdown.

Templates are packaged in ``report/templates/``; a user folder given with
``--template-dir`` comes first, so any single file can be overridden (the
others are still the packaged ones). Autoescaping is on for ``.html``
templates, undefined names are errors (``StrictUndefined``), and the filters
are the formatting functions of ``report/i18n.py`` in the report's language.

Every text a template prints goes through :func:`qostool.text.visible` (the
environment's ``finalize``), so no format (HTML, Markdown, DOCX, user
templates included) carries a raw control character from the data; the ``md``
filter makes a text from the data inert in Markdown (:func:`qostool.text.markdown`).
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Final

from qostool.report.conclusions import one_line
from qostool.report.i18n import Formatter
from qostool.report.rollout_labels import ROLLOUT_LABELS
from qostool.report.short_labels import short_labels
from qostool.text import markdown, visible

if TYPE_CHECKING:
    import jinja2
    from markupsafe import Markup

    from qostool.report.charts import KeyEntry
    from qostool.report.context import ReportContext

#: The template rendered for each text format.
TEMPLATES: Final = {"html": "report.html", "md": "report.md"}
#: The same for a report of one operator (``report --operator``).
OPERATOR_TEMPLATES: Final = {"html": "operator.html", "md": "operator.md"}
#: The technical file written next to the report (input files and their SHA-256, the
#: rule, versions): kept out of the letter, which says where it is. Its template has
#: the same name.
TECHNICAL_FILE: Final = "technical.md"


@dataclass(frozen=True)
class Charts:
    """The charts of one report: SVG markup for HTML, data URIs for Markdown.

    ``None`` when a chart cannot be drawn (no boundaries, no history).
    """

    map_svg: Markup | None
    trend_svg: Markup | None
    rollout_svgs: dict[str, Markup] = field(default_factory=dict)
    """Each operator's 5G presence map, by operator name (missing: not drawn)."""
    map_key: list[KeyEntry] = field(default_factory=list)
    """The communes drawn as numbers on the map, for the key under it (empty: none)."""
    operator_map_svgs: dict[str, Markup] = field(default_factory=dict)
    """Each operator's map of its own 4G verdicts, by operator name (empty: not drawn)."""
    map_insets_svg: Markup | None = None
    """The commune map's insets, enlarged clusters of small communes (None: none)."""
    map_inset_letters: list[str] = field(default_factory=list)
    """The insets' letters, as their frames on the map are lettered (``A``, ``B``)."""

    def operator_map_uri(self, operator: str) -> str | None:
        """An operator's 4G verdict map as a ``data:`` URI (Markdown), or None."""
        return self.data_uri(self.operator_map_svgs.get(operator))

    def rollout_uri(self, operator: str) -> str | None:
        """An operator's 5G presence map as a ``data:`` URI (Markdown), or None."""
        return self.data_uri(self.rollout_svgs.get(operator))

    @staticmethod
    def data_uri(svg: str | None) -> str | None:
        if svg is None:
            return None
        return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode()

    @property
    def map_uri(self) -> str | None:
        return self.data_uri(self.map_svg)

    @property
    def map_insets_uri(self) -> str | None:
        return self.data_uri(self.map_insets_svg)

    @property
    def trend_uri(self) -> str | None:
        return self.data_uri(self.trend_svg)


def _finalize(value: object) -> object:
    """What a template prints: a text with its control characters shown (markup as it is)."""
    from markupsafe import Markup

    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return value


def _autoescape(name: str | None) -> bool:
    """HTML, and the sentence templates (``.j2``): their text from the data is escaped
    once, whatever format prints it (the ``sentence`` filter, ``report/conclusions.py``)."""
    return name is not None and name.endswith((".html", ".htm", ".xml", ".svg", ".j2"))


def make_environment(
    lang: str,
    template_dir: Path | None = None,
    *,
    statistic: str = "mean",
    min_share: float = 0.8,
    period: bool = False,
) -> jinja2.Environment:
    """The report's Jinja2 environment for one language (user templates first).

    ``statistic`` (and ``min_share``) is the rule's: ``L.headline`` names it, with
    the placeholders it always had, so user templates that fill it keep working.
    """
    import jinja2

    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders.append(jinja2.PackageLoader("qostool.report", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_finalize,
    )
    fmt = Formatter(lang, period=period)  # a period's report: its words (period_labels.py)
    env.filters.update(
        number=fmt.number,
        integer=fmt.integer,
        signed=fmt.signed,
        percent=fmt.percent,
        interval=fmt.interval,
        bounds=fmt.bounds,
        date=fmt.date,
        document_date=fmt.document_date,
        day=fmt.day,
        month=fmt.month,
        month_short=fmt.month_short,
        period=fmt.period,
        period_note=fmt.period_note,
        period_summary=fmt.period_summary,
        data_source=fmt.data_source,
        change=fmt.change,
        trend_label=fmt.trend_label,
        verdict=fmt.verdict,
        tech=fmt.technology,
        operator=fmt.operator,
        commune_type=fmt.commune_type,
        statistic=fmt.statistic,
        reason=fmt.reason,
        yes_no=fmt.yes_no,
        count_label=fmt.count_label,
        text=fmt.text,
        fill=fmt.fill,
        notice=fmt.notice,
        page_label=fmt.page_label,
        target=fmt.target,
        target_name=fmt.target_name,
        quarter_name=fmt.quarter_name,
        timezone=fmt.timezone,
        source=fmt.source,
        sources=fmt.sources,
        map_source=fmt.map_source,
        headline=fmt.headline,
        comparison=fmt.comparison,
        rule_name=fmt.rule_name,
        md=markdown,  # text from the data made inert in Markdown (tables included)
        sentence=one_line,  # a sentence template's output on one line (conclusions)
    )
    labels = {**fmt.labels, "headline": fmt.headline_label(statistic, min_share)}
    env.globals.update(L=SimpleNamespace(**labels), lang=lang)
    env.globals["R"] = SimpleNamespace(**ROLLOUT_LABELS[lang])  # the 5G roll-out's words
    env.globals["SL"] = SimpleNamespace(**short_labels(lang, labels))  # Word tables' short headers
    return env


class TableNumbers:
    """The numbers of the body's tables ("Bảng 1", "Bảng 2", ...), given in the order
    the template asks for them: a table left out (no 5G test, no operator) takes no
    number, so the numbers have no gap. A fresh one for each rendering."""

    def __init__(self) -> None:
        self.count = 0

    def next(self) -> int:
        self.count += 1
        return self.count


def template_variables(context: ReportContext, charts: Charts) -> dict[str, Any]:
    """What a template sees: every field of the context at top level, ``report``,
    ``charts``, ``table_no`` (``table_no.next()`` numbers a table) and ``technical_file``
    (the name of the technical file written next to the report)."""
    fields = {f.name: getattr(context, f.name) for f in dataclasses.fields(context)}
    return {
        **fields,
        "report": context,
        "charts": charts,
        "table_no": TableNumbers(),
        "technical_file": TECHNICAL_FILE,
    }


def render_text(env: jinja2.Environment, fmt: str, context: ReportContext, charts: Charts) -> str:
    """The report as HTML or Markdown text (of one operator with ``report --operator``)."""
    names = OPERATOR_TEMPLATES if context.focus is not None else TEMPLATES
    return env.get_template(names[fmt]).render(template_variables(context, charts))
