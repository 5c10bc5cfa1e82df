"""``event --report``: an event's statuses -> report files (HTML, Markdown, DOCX).

The context is built once from the :class:`~qostool.analyze.event.EventResult`
(frozen dataclasses of raw numbers; words and formats come from the templates
and :class:`~qostool.report.i18n.Formatter`), the charts are drawn once (SVG for
HTML and Markdown, PNG for DOCX), and each format is written atomically to
``<out>/event-<from>_<to>/report.<ext>``. HTML and Markdown come from the
packaged templates ``event.html`` and ``event.md`` with the monthly report's Jinja
environment (autoescaping, control characters shown, the ``md`` filter); the DOCX
is built with python-docx, whose runs hold text only, never markup.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from qostool.analyze.event import ALL, STATUSES, EventResult
from qostool.errors import QostoolError, UsageError
from qostool.report.event_labels import EVENT_LABELS, EVENT_LIMITS
from qostool.report.i18n import Formatter
from qostool.report.write import parse_generated_at, parse_language, write_atomic
from qostool.text import visible

if TYPE_CHECKING:
    from qostool.report.event_charts import DailySeries, StatusMaps
    from qostool.store import Store

FORMATS: Final = ("html", "md", "docx")
TEMPLATES: Final = {"html": "event.html", "md": "event.md"}
#: The daily chart draws a day's median only from at least this many tests.
CHART_MIN_TESTS: Final = 5


@dataclass(frozen=True)
class CountRow:
    operator: str
    silent: int
    degraded: int
    normal: int
    insufficient_data: int


@dataclass(frozen=True)
class GroupRow:
    """A commune x operator group of the silent or degraded list."""

    commune_code: str
    commune_name: str | None
    operator: str
    baseline_tests: int
    window_tests: int
    expected: float
    p_zero: float
    baseline_median: float | None
    window_median: float | None
    ratio: float | None
    ratio_low: float | None
    ratio_high: float | None


@dataclass(frozen=True)
class DayRow:
    day: date
    tests: dict[str, int]
    medians: dict[str, float | None]


@dataclass(frozen=True)
class EventContext:
    """Everything the event report shows, as raw values."""

    name: str | None
    province_name: str | None
    province_code: str | None
    start: str
    end: str
    days: int
    baseline_start: str
    baseline_end: str
    baseline_days: int
    timezone: str
    generated_at: str
    rule: dict[str, Any]
    counts: dict[str, int]
    operators: list[str]
    communes: int
    headline: dict[str, int]
    status_counts: list[CountRow]
    silent: list[GroupRow]
    degraded: list[GroupRow]
    window_days: list[DayRow]
    warnings: list[dict[str, Any]]
    boundaries: str
    tool_version: str
    limits: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class EventCharts:
    maps_svg: Any
    daily_svg: Any

    @staticmethod
    def data_uri(svg: str | None) -> str | None:
        if svg is None:
            return None
        return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode()

    @property
    def maps_uri(self) -> str | None:
        return self.data_uri(self.maps_svg)

    @property
    def daily_uri(self) -> str | None:
        return self.data_uri(self.daily_svg)


def parse_formats(text: str) -> tuple[str, ...]:
    """``--report html,md`` -> the formats, in the order given, checked."""
    formats: list[str] = []
    for item in (part.strip().lower() for part in text.split(",")):
        if not item:
            continue
        if item not in FORMATS:
            raise UsageError(
                f"--report {item!r} is not a format of the event report",
                hint=f"use one or more of: {', '.join(FORMATS)} (comma-separated)",
            )
        if item not in formats:
            formats.append(item)
    if not formats:
        raise UsageError("--report: give at least one format", hint=f"e.g. {', '.join(FORMATS)}")
    return tuple(formats)


def _group_rows(frame: pl.DataFrame) -> list[GroupRow]:
    return [
        GroupRow(
            commune_code=r["commune_code"],
            commune_name=r["commune_name"],
            operator=r["operator"],
            baseline_tests=r["baseline_tests"],
            window_tests=r["window_tests"],
            expected=r["expected_tests"],
            p_zero=r["p_zero"],
            baseline_median=r["baseline_median_mbps"],
            window_median=r["window_median_mbps"],
            ratio=r["ratio"],
            ratio_low=r["ratio_low"],
            ratio_high=r["ratio_high"],
        )
        for r in frame.iter_rows(named=True)
    ]


def build_context(result: EventResult, lang: str, generated_at: str | None = None) -> EventContext:
    """The report's data, from the event's result."""
    meta = result.meta
    counts = result.status_counts()
    operators = list(meta["operators"])
    window = result.daily.filter(pl.col("period") == "window")
    days = []
    for day in sorted(set(window["date"].to_list())):
        rows = window.filter(pl.col("date") == day)
        days.append(
            DayRow(
                day=day,
                tests=dict(zip(rows["operator"], rows["tests"], strict=True)),
                medians=dict(zip(rows["operator"], rows["median_download_mbps"], strict=True)),
            )
        )
    return EventContext(
        name=meta.get("name"),
        province_name=meta.get("province_name"),
        province_code=meta.get("province_code"),
        start=meta["from"],
        end=meta["to"],
        days=meta["days"],
        baseline_start=meta["baseline_from"],
        baseline_end=meta["baseline_to"],
        baseline_days=meta["baseline_days"],
        timezone=meta["timezone"],
        generated_at=generated_at or meta["generated_at"],
        rule=dict(meta["rule"]),
        counts=dict(meta["counts"]),
        operators=operators,
        communes=meta["communes"],
        headline=counts[ALL],
        status_counts=[CountRow(op, *(counts[op][s] for s in STATUSES)) for op in operators],
        silent=_group_rows(result.listed("silent")),
        degraded=_group_rows(
            result.listed("degraded").sort(["ratio_high", "commune_code"], nulls_last=True)
        ),
        window_days=days,
        warnings=list(meta.get("warnings", [])),
        boundaries=meta["boundaries"],
        tool_version=meta["tool_version"],
        limits=EVENT_LIMITS[lang],
    )


def _map_data(store: Store, result: EventResult) -> StatusMaps | None:
    """The communes' shapes with each operator group's statuses (None if the shapes are gone)."""
    from qostool.geo import versions
    from qostool.report.event_charts import StatusMaps

    try:
        artifact = versions.find_version(store, result.meta["boundaries"])
        communes = versions.load_communes(artifact)
    except (QostoolError, KeyError, OSError):
        return None
    codes = [str(c) for c in communes.table["code"].to_list()]
    statuses: dict[str, list[str]] = {}
    for operator in result.meta["operators"]:
        rows = result.statuses.filter(pl.col("operator") == operator)
        found = dict(zip(rows["commune_code"], rows["status"], strict=True))
        statuses[operator] = [found.get(code, "insufficient_data") for code in codes]
    return StatusMaps(
        names=[str(n) for n in communes.table["name"].to_list()],
        geometries=communes.geometries,
        operators=list(result.meta["operators"]),
        statuses=statuses,
    )


def _series(result: EventResult) -> DailySeries:
    from qostool.report.event_charts import DailySeries

    daily = result.daily
    days = sorted(set(daily["date"].to_list()))
    tests: dict[str, list[int]] = {}
    medians: dict[str, list[float | None]] = {}
    for operator in result.meta["operators"]:
        rows = daily.filter(pl.col("operator") == operator).sort("date")
        tests[operator] = rows["tests"].to_list()
        # A day's median of fewer tests is noise on the chart (the table keeps it).
        medians[operator] = [
            m if n >= CHART_MIN_TESTS else None
            for n, m in zip(rows["tests"], rows["median_download_mbps"], strict=True)
        ]
    return DailySeries(
        days=days,
        operators=list(result.meta["operators"]),
        tests=tests,
        medians=medians,
        start=result.periods.start,
        end=result.periods.end,
    )


def _labels(lang: str) -> dict[str, str]:
    return EVENT_LABELS[lang]


def _environment(lang: str) -> Any:
    """The monthly report's Jinja environment, with the event's words and filters."""
    from types import SimpleNamespace

    from qostool.report.render import make_environment

    env = make_environment(lang)
    labels = _labels(lang)
    fmt = Formatter(lang)
    env.globals["E"] = SimpleNamespace(**labels)
    env.filters["status"] = lambda value: labels.get(f"status_{value}", str(value))
    env.filters["event_notice"] = lambda w: event_notice(w, fmt, labels)
    env.filters["p_value"] = lambda value: p_value(value, fmt)
    return env


def p_value(value: float | None, fmt: Formatter) -> str:
    """A small probability as a percentage readable at a glance: ``0,003%``, ``< 0,001%``."""
    if value is None:
        return fmt.no_data
    percent = value * 100
    if percent < 0.001:
        return "< " + fmt.number(0.001, 3) + "%"
    digits = 1 if percent >= 1 else 3
    return fmt.number(percent, digits) + "%"


def event_notice(warning: dict[str, Any], fmt: Formatter, labels: dict[str, str]) -> str:
    """A warning of the event in the report's language."""
    days = [str(d) for d in warning.get("days", [])]
    key = f"w_{warning.get('check')}"
    if key not in labels:
        return str(warning.get("message", warning))
    return fmt.fill(
        labels[key], days=", ".join(fmt.date(d) for d in days), count=fmt.integer(len(days))
    )


def method_values(context: EventContext, fmt: Formatter) -> dict[str, str]:
    """The placeholders of the method paragraphs, formatted."""
    rule = context.rule
    return {
        "min_expected": fmt.number(rule["min_expected"], 0),
        "p_max": p_value(_exp(-rule["min_expected"]), fmt),
        "ratio": fmt.number(rule["degraded_ratio"], 2),
        "confidence": fmt.percent(rule["confidence"], 0),
        "resamples": fmt.integer(rule["resamples"]),
        "seed": str(rule["seed"]),
        "min_baseline": fmt.integer(rule["min_baseline_tests"]),
        "min_window": fmt.integer(rule["min_window_tests"]),
        "baseline_days": fmt.integer(context.baseline_days),
        "boundaries": context.boundaries,
    }


def _exp(value: float) -> float:
    import math

    return math.exp(value)


def summary_values(context: EventContext, fmt: Formatter) -> dict[str, str]:
    """The placeholders of the summary lines, formatted."""
    counts = context.counts
    h = context.headline
    return {
        "days": fmt.integer(context.days),
        "silent": fmt.integer(h["silent"]),
        "degraded": fmt.integer(h["degraded"]),
        "normal": fmt.integer(h["normal"]),
        "insufficient": fmt.integer(h["insufficient_data"]),
        "total": fmt.integer(context.communes),
        "baseline": fmt.integer(counts["baseline_tests"]),
        "per_day": fmt.number(counts["baseline_tests"] / context.baseline_days, 1),
        "window": fmt.integer(counts["window_tests"]),
        "window_per_day": fmt.number(counts["window_tests"] / context.days, 1),
        "tiles": fmt.integer(counts["tile_rows_left_out"]),
        "tile_tests": fmt.integer(counts["tile_tests_left_out"]),
        "wifi": fmt.integer(counts["wifi_tests_left_out"]),
        "outside": fmt.integer(counts["outside_tests"]),
    }


def _variables(context: EventContext, charts: EventCharts, lang: str) -> dict[str, Any]:
    fmt = Formatter(lang)
    labels = _labels(lang)
    name = context.name or labels["default_name"]
    return {
        "report": context,
        "charts": charts,
        "title": fmt.fill(labels["title"], name=name),
        "window_span": fmt.fill(
            labels["period_span"],
            start=fmt.date(context.start),
            end=fmt.date(context.end),
            days=fmt.integer(context.days),
        ),
        "baseline_span": fmt.fill(
            labels["period_span"],
            start=fmt.date(context.baseline_start),
            end=fmt.date(context.baseline_end),
            days=fmt.integer(context.baseline_days),
        ),
        "days_note": fmt.fill(labels["days_note"], timezone=context.timezone),
        "summary": {
            k: fmt.fill(labels[k], **summary_values(context, fmt))
            for k in ("headline", "tests_line", "left_out_line")
        },
        "method": {
            k: fmt.fill(labels[k], **method_values(context, fmt))
            for k in (
                "silent_intro",
                "degraded_intro",
                "m_data",
                "m_baseline",
                "m_activity",
                "m_speed",
                "m_status",
            )
        },
    }


def render_text(context: EventContext, charts: EventCharts, lang: str, fmt_name: str) -> str:
    """The report as HTML or Markdown text."""
    env = _environment(lang)
    return str(env.get_template(TEMPLATES[fmt_name]).render(_variables(context, charts, lang)))


@dataclass(frozen=True)
class EventReport:
    """What ``event --report`` wrote."""

    lang: str
    files: dict[str, Path]

    def to_dict(self) -> dict[str, Any]:
        return {"lang": self.lang, "files": {k: str(v) for k, v in self.files.items()}}


def write_event_report(
    store: Store,
    result: EventResult,
    folder: Path,
    *,
    formats: tuple[str, ...],
    lang: str,
    generated_at: str | None = None,
) -> EventReport:
    """Render the event's report in ``formats`` into ``folder`` (atomic files)."""
    from markupsafe import Markup

    from qostool.report.event_charts import daily_chart, status_maps

    lang = parse_language(lang)
    generated = parse_generated_at(generated_at, store.timezone) if generated_at else None
    context = build_context(result, lang, generated)
    fmt = Formatter(lang)
    labels = _labels(lang)
    maps = _map_data(store, result)
    series = _series(result)
    charts = EventCharts(
        maps_svg=Markup(status_maps(maps, fmt, labels, "svg")) if maps is not None else None,
        daily_svg=Markup(daily_chart(series, fmt, labels, "svg")),
    )
    files: dict[str, Path] = {}
    for name in formats:
        if name == "docx":
            pictures = (
                status_maps(maps, fmt, labels, "png") if maps is not None else None,
                daily_chart(series, fmt, labels, "png"),
            )
            content = render_docx(context, lang, pictures)
        else:
            content = render_text(context, charts, lang, name).encode("utf-8")
        path = folder / f"report.{name}"
        write_atomic(path, content)
        files[name] = path
    return EventReport(lang, files)


def render_docx(
    context: EventContext, lang: str, pictures: tuple[str | bytes | None, str | bytes]
) -> bytes:
    """The report as an editable Word document (headings, tables, the two charts)."""
    from qostool.report.word import fixed_zip

    writer = _DocxWriter(context, lang)
    writer.front()
    writer.summary()
    writer.charts(pictures)
    writer.lists()
    writer.method()
    return fixed_zip(writer.save())


class _DocxWriter:
    """Adds the report's parts to a python-docx document; every text is set as text."""

    def __init__(self, context: EventContext, lang: str) -> None:
        from docx import Document
        from docx.shared import Mm, Pt

        self.context = context
        self.fmt = Formatter(lang)
        self.labels = _labels(lang)
        self.variables = _variables(context, EventCharts(None, None), lang)
        self.document = Document()
        section = self.document.sections[0]
        section.page_width, section.page_height = Mm(210), Mm(297)
        section.left_margin = section.right_margin = Mm(20)
        style = self.document.styles["Normal"]
        style.font.name = "Times New Roman"
        style.font.size = Pt(12)

    def paragraph(self, value: object, style: str | None = None) -> None:
        self.document.add_paragraph(visible(str(value)), style=style)

    def heading(self, value: str, level: int = 1) -> None:
        self.document.add_heading(visible(value), level=level)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        grid = self.document.add_table(rows=1, cols=len(header))
        grid.style = "Table Grid"
        for cell, value in zip(grid.rows[0].cells, header, strict=True):
            cell.text = value
        for row in rows:
            for cell, value in zip(grid.add_row().cells, row, strict=True):
                cell.text = visible(str(value))

    def front(self) -> None:
        labels, fmt, context = self.labels, self.fmt, self.context
        self.document.add_heading(visible(self.variables["title"]), level=0)
        self.paragraph(f"{labels['province']}: {context.province_name or fmt.no_data}")
        self.paragraph(f"{labels['window']}: {self.variables['window_span']}")
        self.paragraph(f"{labels['baseline']}: {self.variables['baseline_span']}")
        self.paragraph(self.variables["days_note"])
        self.paragraph(f"{labels['generated']}: {fmt.date(context.generated_at)}")
        if context.warnings:
            self.heading(labels["warnings_title"])
            for w in context.warnings:
                self.paragraph(event_notice(w, fmt, labels), style="List Bullet")

    def summary(self) -> None:
        labels, fmt = self.labels, self.fmt
        self.heading(labels["s_summary"])
        for line in self.variables["summary"].values():
            self.paragraph(line)
        self.table(
            [labels["c_operator"], *(labels[f"status_{s}"] for s in STATUSES)],
            [
                [fmt.operator(r.operator), *(fmt.integer(getattr(r, s)) for s in STATUSES)]
                for r in self.context.status_counts
            ],
        )

    def charts(self, pictures: tuple[str | bytes | None, str | bytes]) -> None:
        from docx.shared import Mm

        labels = self.labels
        self.heading(labels["s_maps"])
        if isinstance(pictures[0], bytes):
            self.document.add_picture(io.BytesIO(pictures[0]), width=Mm(165))
            self.paragraph(labels["maps_caption"])
        else:
            self.paragraph(labels["no_map"])
        self.heading(labels["s_daily"])
        self.paragraph(labels["daily_intro"])
        if isinstance(pictures[1], bytes):
            self.document.add_picture(io.BytesIO(pictures[1]), width=Mm(165))
        self.paragraph(labels["daily_caption"])

    def lists(self) -> None:
        labels, fmt, context = self.labels, self.fmt, self.context
        self.heading(labels["s_silent"])
        self.paragraph(self.variables["method"]["silent_intro"])
        silent_columns = ("c_code", "c_commune", "c_operator", "c_baseline_tests", "c_expected")
        if context.silent:
            self.table(
                [*(labels[k] for k in silent_columns), labels["c_p_zero"]],
                [
                    [
                        r.commune_code,
                        fmt.text(r.commune_name),
                        fmt.operator(r.operator),
                        fmt.integer(r.baseline_tests),
                        fmt.number(r.expected, 1),
                        p_value(r.p_zero, fmt),
                    ]
                    for r in context.silent
                ],
            )
        else:
            self.paragraph(labels["no_silent"])
        self.heading(labels["s_degraded"])
        self.paragraph(self.variables["method"]["degraded_intro"])
        degraded_columns = ("c_code", "c_commune", "c_operator", "c_baseline_median")
        if context.degraded:
            self.table(
                [
                    *(labels[k] for k in degraded_columns),
                    *(labels[k] for k in ("c_window_median", "c_ratio", "c_ratio_interval")),
                ],
                [
                    [
                        r.commune_code,
                        fmt.text(r.commune_name),
                        fmt.operator(r.operator),
                        fmt.number(r.baseline_median),
                        fmt.number(r.window_median),
                        fmt.number(r.ratio, 2),
                        fmt.interval(r.ratio_low, r.ratio_high, 2),
                    ]
                    for r in context.degraded
                ],
            )
        else:
            self.paragraph(labels["no_degraded"])

    def method(self) -> None:
        labels = self.labels
        self.heading(labels["s_method"])
        for key in ("m_data", "m_baseline", "m_activity", "m_speed", "m_status"):
            self.paragraph(self.variables["method"][key])
        self.heading(labels["m_limits_title"], level=2)
        for paragraph in self.context.limits:
            self.paragraph(paragraph, style="List Bullet")

    def save(self) -> bytes:
        core = self.document.core_properties
        core.created = core.modified = _moment(self.context.generated_at)
        core.title = visible(self.variables["title"])
        core.author = core.last_modified_by = "qostool"
        core.revision = 1
        buffer = io.BytesIO()
        self.document.save(buffer)
        return buffer.getvalue()


def _moment(generated_at: str) -> datetime:
    """The document's time stamp: the report's date (so the file is the same on every run)."""
    from qostool.report.word import core_time

    return core_time(generated_at)
