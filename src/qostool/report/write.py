"""``report --month``: the stored analysis of a month -> report files.

Builds the context once, draws the charts once (SVG for HTML and Markdown,
PNG for DOCX), renders every requested format with the one Jinja environment
(the PDF is the HTML printed by WeasyPrint), and writes
``<out>/<YYYY-MM>/report.<ext>`` atomically (a temporary file in the same
folder, then ``os.replace``), with the technical file (``technical.md``: input
files and their SHA-256, the rule, versions) next to them, which the letter names.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from qostool.errors import QostoolError, UsageError
from qostool.report.document import DocumentSettings, resolve_document
from qostool.report.i18n import DEFAULT_LANGUAGE, LANGUAGES, Formatter

if TYPE_CHECKING:
    from qostool.analyze.period import Period
    from qostool.analyze.run import Analysis
    from qostool.report.charts import MapData
    from qostool.report.context import ReportContext
    from qostool.report.preflight import Check
    from qostool.report.render import Charts
    from qostool.report.word import Pictures
    from qostool.store import Store

#: Every report format (``pdf`` needs the optional PDF engine: ``qostool[pdf]``).
FORMATS: Final = ("html", "md", "xlsx", "docx", "pdf")
DEFAULT_FORMATS: Final = ("html",)
#: Formats with the map and the trend chart.
_CHART_FORMATS: Final = ("html", "md", "docx", "pdf")
#: What ``render_formats`` calls the technical file (render.TECHNICAL_FILE), rendered
#: with the formats of a province's report.
TECHNICAL: Final = "technical"


@dataclass(frozen=True)
class ReportOptions:
    """What the user chose for one report."""

    month: str
    lang: str = DEFAULT_LANGUAGE
    formats: tuple[str, ...] = DEFAULT_FORMATS
    out: Path = Path("reports")
    template_dir: Path | None = None
    generated_at: str | None = None
    """ISO date or datetime (see :func:`parse_generated_at`); default: now."""
    force: bool = False
    """Write the report although a check failed (page 1 then names each failed check)."""
    terms: dict[str, Any] | None = None
    """The configured terms of the analysis (``run.analysis_terms``), to check."""
    analysis: str | None = None
    """A variant's name or an analysis's id (default: the month's official analysis)."""
    compare_rule: str | None = None
    """A rule preset whose 4G verdicts the report shows next to its own (page 1 and
    the commune table), computed from the month's stored tests."""
    document: DocumentSettings = field(default_factory=DocumentSettings)
    """The administrative document: issuer, number, date line, addressees, signer
    (``[report]`` settings; each one missing takes its default)."""
    operator: str | None = None
    """Write the report of this operator alone (``report --operator``), into
    ``operator-<slug>/`` under the month's folder."""
    period: Period | None = None
    """A period of days (``report --from --to``): its stored analysis is reported, and
    ``month`` is then its key, ``FROM_TO``); None for a month."""
    map_labels: str = "auto"
    """The commune map's labels: ``names``, ``numbers``, ``none`` or ``auto`` (names
    where they fit, else numbers with a key): :func:`parse_map_labels`."""
    commercial_5g: tuple[str, ...] | None = None
    """The operators with a commercial 5G network (``[report] commercial_5g``; None:
    ``context.COMMERCIAL_5G``): any other operator's 5G figures are a data question."""


@dataclass(frozen=True)
class ReportResult:
    """What ``report`` wrote, and the checks made before writing."""

    month: str
    lang: str
    files: dict[str, Path] = field(default_factory=dict)
    generated_at: str = ""
    checks: list[Check] = field(default_factory=list)
    analysis: dict[str, Any] = field(default_factory=dict)
    """Which analysis was reported: its ``role``, ``id`` and ``name``."""
    technical: Path | None = None
    """The technical file written next to the report (None for ``--operator``'s)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "lang": self.lang,
            "analysis": self.analysis,
            "generated_at": self.generated_at,
            "checks": [c.to_dict() for c in self.checks],
            "files": {fmt: str(path) for fmt, path in self.files.items()},
            "technical": None if self.technical is None else str(self.technical),
        }


def parse_language(text: str) -> str:
    """``--lang``: ``vi`` or ``en``."""
    lang = text.strip().lower()
    if lang not in LANGUAGES:
        raise UsageError(
            f"--lang {text!r} is not a known language", hint=f"use one of: {', '.join(LANGUAGES)}"
        )
    return lang


def parse_formats(text: str) -> tuple[str, ...]:
    """``--format html,md,xlsx`` -> the formats, in the order given, without repeats."""
    formats: list[str] = []
    for item in (part.strip().lower() for part in text.split(",")):
        if not item:
            continue
        if item not in FORMATS:
            raise UsageError(
                f"--format {item!r} is not a known report format",
                hint=f"use one or more of: {', '.join(FORMATS)} (comma-separated)",
            )
        if item not in formats:
            formats.append(item)
    if not formats:
        raise UsageError("--format: give at least one format", hint=f"e.g. {', '.join(FORMATS)}")
    return tuple(formats)


def parse_generated_at(text: str, timezone: str) -> str:
    """``--generated-at``: an ISO date (kept as a date) or datetime (in the store's zone)."""
    from zoneinfo import ZoneInfo

    value = text.strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value).isoformat()
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--generated-at {text!r}: expected an ISO date or datetime",
            hint="e.g. 2025-11-05 or 2025-11-05T08:30:00+07:00",
        ) from None
    zone = ZoneInfo(timezone)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(zone).isoformat(timespec="seconds")


def check_template_dir(path: Path | None) -> Path | None:
    if path is not None and not path.is_dir():
        raise UsageError(
            f"--template-dir {str(path)!r}: no such folder",
            hint="give a folder holding templates named like the packaged ones (docs/report.md)",
        )
    return path


def load_map(store: Store, analysis: Analysis) -> MapData | None:
    """The communes' shapes of the boundaries version the analysis used (None if gone),
    with the pooled 4G verdicts and each operator's own."""
    from qostool.geo import versions
    from qostool.report.charts import MapData

    try:
        artifact = versions.find_version(store, analysis.meta["boundaries"]["version"])
        communes = versions.load_communes(artifact)
    except (QostoolError, KeyError, OSError):
        return None
    from qostool.report.context import G4, assessment

    table = analysis.communes
    verdicts = {
        code: assessment(verdict, int(tests or 0), G4)
        for code, verdict, tests in zip(
            table["commune_code"], table["verdict_4g"], table["tests_4g"], strict=True
        )
    }
    codes = communes.table["code"].to_list()
    return MapData(
        names=[str(n) for n in communes.table["name"].to_list()],
        verdicts=[verdicts.get(code) for code in codes],
        geometries=communes.geometries,
        operators=operator_verdicts(analysis, codes),
    )


def operator_verdicts(analysis: Analysis, codes: list[str]) -> dict[str, list[str | None]]:
    """Each operator's 4G assessment of every commune in ``codes``, for the operators
    with 4G rows in the analysis, by name: ``no_tests`` where the operator has no 4G
    test (no row), when 4G has a target (None: no verdict)."""
    import polars as pl

    from qostool.report.context import G4, assessment

    judged = G4 in analysis.meta.get("rule", {}).get("targets_mbps", {G4: None})

    rows = analysis.stats.filter(
        pl.col("level") == "commune_operator",
        pl.col("technology") == "4G",
        pl.col("operator").is_not_null(),
    )
    out: dict[str, list[str | None]] = {}
    for operator in sorted(set(rows["operator"].to_list())):
        mine = rows.filter(pl.col("operator") == operator)
        verdicts = {
            code: assessment(verdict, int(tests or 0), G4)
            for code, verdict, tests in zip(
                mine["commune_code"], mine["verdict"], mine["tests"], strict=True
            )
        }
        missing = "no_tests" if judged else None
        out[operator] = [verdicts.get(code, missing) for code in codes]
    return out


def parse_map_labels(text: str | None) -> str:
    """``--map-labels``: ``names``, ``numbers`` or ``none``; not given: ``auto`` (names
    where they fit, else numbers with a key)."""
    from qostool.report.charts import AUTO, LABEL_MODES

    if text is None:
        return AUTO
    mode = text.strip().lower()
    if mode not in LABEL_MODES:
        raise UsageError(
            f"--map-labels {text!r} is not a way to label the map",
            hint=f"use one of: {', '.join(LABEL_MODES)} (default: names where they fit, "
            "else numbers with a key)",
        )
    return mode


def draw_charts(
    context: ReportContext, data: MapData | None, fmt: Formatter, labels: str = "auto"
) -> Charts:
    """The maps and the trend chart of a report, as SVG markup (with the map's key)."""
    from markupsafe import Markup

    from qostool.report.charts import commune_map, operator_maps, trend_svg
    from qostool.report.render import Charts

    trend = Markup(trend_svg(context.trend, fmt)) if context.trend.has_history else None
    if data is None:
        return Charts(map_svg=None, trend_svg=trend)
    drawn = commune_map(data, fmt, "svg", labels)
    assert isinstance(drawn.image, str)
    operators = {name: Markup(svg) for name, svg in operator_maps(data, fmt, "svg").items()}
    return Charts(
        map_svg=Markup(drawn.image),
        trend_svg=trend,
        map_key=drawn.key,
        operator_map_svgs=operators,
        map_insets_svg=None if drawn.insets is None else Markup(drawn.insets),
        map_inset_letters=drawn.letters,
    )


def draw_pictures(
    context: ReportContext, data: MapData | None, fmt: Formatter, labels: str = "auto"
) -> Pictures:
    """The same maps and trend chart as PNG, for the Word document."""
    from qostool.report.charts import commune_map, operator_maps, trend_png
    from qostool.report.word import Pictures

    trend = trend_png(context.trend, fmt) if context.trend.has_history else None
    if data is None:
        return Pictures(map_png=None, trend_png=trend)
    drawn = commune_map(data, fmt, "png", labels)
    assert isinstance(drawn.image, bytes)
    operators = {}
    for name, png in operator_maps(data, fmt, "png").items():
        assert isinstance(png, bytes)
        operators[name] = png
    insets = drawn.insets
    assert insets is None or isinstance(insets, bytes)
    return Pictures(
        map_png=drawn.image, trend_png=trend, operator_map_pngs=operators, map_insets_png=insets
    )


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _render_one(
    name: str,
    context: ReportContext,
    charts: Charts,
    *,
    pictures: Pictures | None,
    lang: str,
    template_dir: Path | None,
) -> bytes:
    """One format's bytes (every text format from a Jinja environment of the report)."""
    from qostool.report.render import make_environment, render_text, template_variables

    fmt = Formatter(lang, period=context.period is not None)
    if context.document is None:  # a context built without write_report: the defaults
        document = resolve_document(
            DocumentSettings(), province_name=context.province_name, month=context.month, fmt=fmt
        )
        context = dataclasses.replace(context, document=document)
    if name == TECHNICAL:
        from qostool.report.render import TECHNICAL_FILE, make_environment, template_variables

        env = make_environment(lang, template_dir, period=context.period is not None)
        return env.get_template(TECHNICAL_FILE).render(template_variables(context, charts)).encode()
    if name == "xlsx":
        from qostool.report.xlsx import render_xlsx

        return render_xlsx(context, fmt)
    summary = context.summary
    env = make_environment(
        lang,
        template_dir,
        statistic=summary.statistic,
        min_share=summary.min_share,
        period=context.period is not None,
    )
    if name == "docx":
        from qostool.report.word import Pictures, render_docx

        variables = template_variables(context, charts)
        drawn = pictures or Pictures(None, None)
        return render_docx(
            env, variables, context, pictures=drawn, fmt=fmt, template_dir=template_dir
        )
    if name == "pdf":
        from qostool.report.pdf import render_pdf

        return render_pdf(render_text(env, "html", context, charts), context.generated_at)
    return render_text(env, name, context, charts).encode("utf-8")


def render_formats(
    context: ReportContext,
    charts: Charts,
    lang: str,
    formats: tuple[str, ...],
    template_dir: Path | None = None,
    *,
    pictures: Pictures | None = None,
) -> dict[str, bytes]:
    """Every requested format's bytes, from one context (and the report's Jinja templates);
    ``technical`` among the formats: the technical file's."""
    import jinja2

    out: dict[str, bytes] = {}
    for name in formats:
        try:
            out[name] = _render_one(
                name, context, charts, pictures=pictures, lang=lang, template_dir=template_dir
            )
        except jinja2.TemplateError as exc:
            if template_dir is None:
                raise
            where = getattr(exc, "name", None) or getattr(exc, "filename", None)
            line = getattr(exc, "lineno", None)
            place = f"{where}" + (f", line {line}" if line else "") if where else "a template"
            raise UsageError(
                f"--template-dir {str(template_dir)!r}: {place}: {exc.message or exc}",
                hint="fix the template, or remove it to use the packaged one (docs/report.md)",
            ) from None
    return out


def _check_operator_formats(options: ReportOptions) -> None:
    """``--operator`` with a format its report is not written in: refused before any work."""
    if options.operator is not None:
        from qostool.report.focus import check_formats

        check_formats(options.formats)


def _operator(options: ReportOptions, analysis: Analysis) -> str | None:
    """The month's operator named by ``--operator`` (None without it)."""
    if options.operator is None:
        return None
    from qostool.report.focus import match_operator

    return match_operator(analysis.stats, options.month, options.operator)


def _focus(context: ReportContext, analysis: Analysis, operator: str | None) -> ReportContext:
    """The context of one operator's report, or the province's as it is."""
    if operator is None:
        return context
    from qostool.report.focus import focus_context

    return focus_context(context, analysis, operator)


def _with_rollout_maps(
    store: Store,
    analysis: Analysis,
    context: ReportContext,
    *,
    fmt: Formatter,
    charts: Charts,
    pictures: Pictures | None,
) -> tuple[Charts, Pictures | None]:
    """The 5G presence maps: every operator's, small, for the province report; the
    operator's own, page-wide with the commune names, for ``report --operator``."""
    from markupsafe import Markup

    from qostool.report.rollout_charts import load_shapes, presence_maps

    section = context.five_g_operators
    if section is None or not section.operators:
        return charts, pictures
    shapes = load_shapes(store, analysis)
    focus = context.focus
    blocks = [focus.rollout] if focus and focus.rollout else section.operators
    if focus is not None and focus.rollout is None:
        blocks = []
    full = focus is not None
    svgs = presence_maps(shapes, blocks, context.month, fmt, kind="svg", full=full)
    charts = dataclasses.replace(
        charts, rollout_svgs={name: Markup(svg) for name, svg in svgs.items()}
    )
    if pictures is not None:
        pngs = presence_maps(shapes, blocks, context.month, fmt, kind="png", full=full)
        pictures = dataclasses.replace(pictures, rollout_pngs=pngs)
    return charts, pictures


def _no_charts() -> Charts:
    from qostool.report.render import Charts

    return Charts(map_svg=None, trend_svg=None)


def _check_options(options: ReportOptions) -> None:
    """Options that do not go together, or name no rule: refused before any work."""
    if options.period is not None and (
        options.compare_rule or options.analysis or options.operator
    ):
        given = (
            "--compare-rule"
            if options.compare_rule
            else "--analysis"
            if options.analysis
            else "--operator"
        )
        raise UsageError(
            f"{given} is for a month's report",
            hint="a period has one analysis, of its own rule, and no months to follow an "
            "operator over: report the month, or analyse the period again with other options",
        )
    if options.compare_rule is not None:
        from qostool.config import RULE_PRESETS

        if options.compare_rule not in RULE_PRESETS:
            raise UsageError(
                f"--compare-rule {options.compare_rule!r}: unknown rule preset; presets: "
                + ", ".join(RULE_PRESETS),
                hint="e.g. --compare-rule vnnic (docs/methodology.md, section 7)",
            )
    _check_operator_formats(options)


def _load_and_check(store: Store, options: ReportOptions) -> tuple[Analysis, Any, list[Check]]:
    """The analysis to report, the operator of ``--operator`` (an unknown name is refused
    before any check or file), and the checks before the report."""
    from qostool.analyze.run import load_analysis
    from qostool.report.preflight import preflight

    if options.period is not None:  # a period of days (report/period.py)
        from qostool.analyze.period import load_period_analysis
        from qostool.report.period import period_checks

        analysis = load_period_analysis(store, options.period)
        operator = _operator(options, analysis)
        return analysis, operator, period_checks(store, analysis, options.terms)
    analysis = load_analysis(store, options.month, options.analysis)
    operator = _operator(options, analysis)
    return analysis, operator, preflight(store, analysis, options.terms)


def write_report(store: Store, options: ReportOptions) -> ReportResult:
    """Render the stored analysis of ``options.month`` into report files."""
    from qostool.report.context import build_context
    from qostool.report.preflight import analysis_identity, page_one, refuse_on_failure

    lang = parse_language(options.lang)
    template_dir = check_template_dir(options.template_dir)
    if "pdf" in options.formats:
        from qostool.report.pdf import check_pdf_engine

        check_pdf_engine()  # before any work, and before any file is written
    _check_options(options)
    analysis, operator, checks = _load_and_check(store, options)
    if not options.force:
        refuse_on_failure(checks, options.month)  # before anything is written
    generated = (
        parse_generated_at(options.generated_at, store.timezone) if options.generated_at else None
    )
    compared = None
    if options.compare_rule is not None:
        from qostool.analyze.rules import Rule, preset_rule
        from qostool.analyze.run import rule_verdicts

        other = preset_rule(options.compare_rule, Rule.from_dict(analysis.meta.get("rule", {})))
        compared = (other.preset, other.to_dict(), rule_verdicts(store, analysis, other))
    context = build_context(
        store,
        analysis,
        generated_at=generated,
        compared=compared,
        commercial_5g=options.commercial_5g,
    )
    which = None if analysis.subfolder is None else analysis_identity(analysis, store.timezone)
    fmt = Formatter(lang, period=options.period is not None)
    document = resolve_document(
        options.document,
        province_name=context.province_name,
        month=context.month,
        fmt=fmt,
        generated_day=generated[:10] if generated else None,
    )
    context = dataclasses.replace(
        context, warnings=[*context.warnings, *page_one(checks)], which=which, document=document
    )
    context = _focus(context, analysis, operator)
    needs_charts = any(f in _CHART_FORMATS for f in options.formats)
    data = load_map(store, analysis) if needs_charts and operator is None else None
    labels = options.map_labels
    charts = draw_charts(context, data, fmt, labels) if data is not None else _no_charts()
    pictures = draw_pictures(context, data, fmt, labels) if "docx" in options.formats else None
    if needs_charts and options.period is None:  # a period has no roll-out over months
        charts, pictures = _with_rollout_maps(
            store, analysis, context, fmt=fmt, charts=charts, pictures=pictures
        )
    wanted = options.formats if context.focus is not None else (*options.formats, TECHNICAL)
    rendered = render_formats(context, charts, lang, wanted, template_dir, pictures=pictures)
    folder = options.out / analysis.folder
    if analysis.subfolder:  # never over the official report
        folder /= analysis.subfolder
    if context.focus is not None:  # never over the province's report
        folder /= f"operator-{context.focus.slug}"
    from qostool.report.render import TECHNICAL_FILE

    files: dict[str, Path] = {}
    technical = None
    for name, content in rendered.items():
        path = folder / (TECHNICAL_FILE if name == TECHNICAL else f"report.{name}")
        write_atomic(path, content)
        if name == TECHNICAL:
            technical = path
        else:
            files[name] = path
    reported = {"role": analysis.role, "id": analysis.id, "name": analysis.name}
    return ReportResult(
        options.month, lang, files, context.generated_at, checks, reported, technical
    )
