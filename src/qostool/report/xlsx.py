"""The report's XLSX annex: one sheet per report table, headers in the report's language.

Numbers are written as numbers (with a display format), missing values as the
words for "no data", codes (verdicts, technologies, operators) translated.
The workbook is built in memory and is byte-identical for the same context:
its creation date is the report's date.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from qostool.report.context import MINIMUM_TECHNOLOGIES, CommuneRow, ReportContext
from qostool.report.i18n import Formatter

Cell = str | int | float | None

#: Display formats of number cells, by kind.
_FORMATS: Final = {"int": "#,##0", "mbps": "#,##0.0", "ratio": "0.0%", "rate": "#,##0.00"}


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = "text"
    """``text``, ``int``, ``mbps``, ``ratio`` (a share shown as %) or ``rate``."""


@dataclass(frozen=True)
class Sheet:
    name: str
    columns: list[Column]
    rows: list[list[Cell]]


def _reasons(commune: CommuneRow, ctx: ReportContext, fmt: Formatter) -> str:
    parts = []
    for reason in commune.thin_reasons:
        n = ctx.annex.min_devices if reason == "few_devices" else ctx.annex.min_tests
        parts.append(fmt.fill(fmt.labels[f"reason_{reason}"], n=fmt.integer(n)))
    return "; ".join(parts)


def _target(value: float | None, technology: str, fmt: Formatter) -> Cell:
    """A minimum as a number; a reference level (5G) in words that say so, never a
    bare number under the minimum's header."""
    if technology in MINIMUM_TECHNOLOGIES or value is None:
        return value
    return fmt.target(value, technology)


def report_sheets(ctx: ReportContext, fmt: Formatter) -> list[Sheet]:
    """The report's tables as sheets, in the report's order."""
    lab = fmt.labels
    s = ctx.summary
    c = Column
    sheets = [
        Sheet(
            lab["x_summary"],
            [c(lab["c_item"]), c(lab["c_value"], "int")],
            [
                [lab["k_tests"], s.tests],
                [lab["k_tile_tests"], s.tile_tests],
                [lab["k_wifi_tests"], s.wifi_tests],
                [lab["c_devices_min"], s.devices_min],
                [lab["c_devices_max"], s.devices_max],
                [lab["k_communes_with_data"], s.communes_with_tests],
                [lab["b_communes"], s.communes_total],
                [lab["k_communes_without_data"], s.communes_without_tests],
            ],
        ),
        Sheet(
            lab["x_verdicts"],
            [c(lab["c_technology"]), c(lab["c_target"], "mbps")]
            + [c(fmt.verdict(v), "int") for v in s.verdict_names]
            + [c(lab["c_total"], "int")],
            [
                [
                    fmt.technology(t.technology),
                    _target(t.target, t.technology, fmt),
                    *(n.count for n in t.counts),
                    t.total,
                ]
                for t in s.verdicts
            ],
        ),
        Sheet(
            lab["x_province"],
            [
                c(lab["c_technology"]),
                c(lab["c_tests"], "int"),
                c(lab["c_devices_min"], "int"),
                c(lab["c_devices_max"], "int"),
                c(lab["c_mean"], "mbps"),
                c(lab["c_median"], "mbps"),
                c(lab["c_p10"], "mbps"),
                c(lab["c_p90"], "mbps"),
                c(lab["c_target"], "mbps"),
                c(lab["c_verdict"]),
                c(lab["c_prev"], "mbps"),
                c(lab["c_change"], "mbps"),
                c(lab["c_data_period"]),
            ],
            [
                [
                    fmt.technology(r.technology),
                    r.tests,
                    r.devices_min,
                    r.devices_max,
                    r.mean,
                    r.median,
                    r.p10,
                    r.p90,
                    _target(r.target, r.technology, fmt),
                    fmt.verdict(r.verdict),
                    r.prev_mean,
                    r.change,
                    fmt.data_source(r.data_period),
                ]
                for r in ctx.province_rows
            ],
        ),
        Sheet(
            lab["x_operators"],
            [
                c(lab["c_operator"]),
                c(lab["c_technology"]),
                c(lab["c_tests"], "int"),
                c(lab["c_devices_min"], "int"),
                c(lab["c_devices_max"], "int"),
                c(lab["c_mean"], "mbps"),
                c(lab["c_median"], "mbps"),
                c(lab["c_ci_low"], "mbps"),
                c(lab["c_ci_high"], "mbps"),
                c(lab["c_verdict"]),
                c(lab["c_change"], "mbps"),
                c(lab["c_data_period"]),
            ],
            [
                [
                    fmt.operator(block.operator),
                    fmt.technology(r.technology),
                    r.tests,
                    r.devices_min,
                    r.devices_max,
                    r.mean,
                    r.median,
                    r.ci_low,
                    r.ci_high,
                    fmt.verdict(r.verdict),
                    r.change,
                    fmt.data_source(r.data_period),
                ]
                for block in ctx.operators
                for r in block.rows
            ],
        ),
        Sheet(
            lab["x_communes"],
            [
                c(lab["c_code"]),
                c(lab["c_commune"]),
                c(lab["c_type"]),
                c(lab["c_tests_4g"], "int"),
                c(lab["c_devices_min"], "int"),
                c(lab["c_devices_max"], "int"),
                c(lab["c_mean_4g"], "mbps"),
                c(lab["c_median_4g"], "mbps"),
                c(lab["c_ci_low"], "mbps"),
                c(lab["c_ci_high"], "mbps"),
                c(lab["c_verdict_4g"]),
                c(lab["c_change"], "mbps"),
                c(lab["c_months_below"], "int"),
            ],
            [
                [
                    m.code,
                    m.name,
                    fmt.commune_type(m.type),
                    m.tests_4g,
                    m.devices_4g_min,
                    m.devices_4g_max,
                    m.mean_4g,
                    m.median_4g,
                    m.ci_low_4g,
                    m.ci_high_4g,
                    fmt.verdict(m.verdict_4g),
                    m.change_4g,
                    m.months_below_4g,
                ]
                for m in ctx.communes
            ],
        ),
        Sheet(
            lab["x_below"],
            [
                c(lab["c_operator"]),
                c(lab["c_code"]),
                c(lab["c_commune"]),
                c(lab["c_technology"]),
                c(lab["c_tests"], "int"),
                c(lab["c_mean"], "mbps"),
                c(lab["c_ci_low"], "mbps"),
                c(lab["c_ci_high"], "mbps"),
                c(lab["c_months_below"], "int"),
                c(lab["c_data_period"]),
            ],
            [
                [
                    fmt.operator(block.operator),
                    r.commune_code,
                    r.commune_name,
                    fmt.technology(r.technology),
                    r.tests,
                    r.mean,
                    r.ci_low,
                    r.ci_high,
                    r.months_below,
                    fmt.data_source(r.data_period),
                ]
                for block in ctx.below
                for r in block.rows
            ],
        ),
        Sheet(
            lab["x_thin"],
            [
                c(lab["c_code"]),
                c(lab["c_commune"]),
                c(lab["c_tests_4g"], "int"),
                c(lab["c_devices_min"], "int"),
                c(lab["c_devices_max"], "int"),
                c(lab["c_verdict_4g"]),
                c(lab["c_reason"]),
            ],
            [
                [
                    m.code,
                    m.name,
                    m.tests_4g,
                    m.devices_4g_min,
                    m.devices_4g_max,
                    fmt.verdict(m.verdict_4g),
                    _reasons(m, ctx, fmt) or fmt.verdict(m.verdict_4g),
                ]
                for m in [*ctx.no_tests, *ctx.insufficient, *ctx.inconclusive]
            ],
        ),
        Sheet(
            lab["x_5g"],
            [
                c(lab["c_code"]),
                c(lab["c_commune"]),
                c(lab["c_tests_5g"], "int"),
                c(lab["c_share_5g"], "ratio"),
                c(lab["c_mean_5g"], "mbps"),
                c(lab["c_median_5g"], "mbps"),
            ],
            [
                [m.code, m.name, m.tests_5g, m.share_5g, m.mean_5g, m.median_5g]
                for m in ctx.communes
            ],
        ),
        Sheet(
            lab["x_sources"],
            [c(lab["c_source"]), c(lab["c_tests"], "int"), c(lab["c_device_count"], "int")],
            [
                [
                    fmt.source(m.source)
                    + (f" ({lab['source_apart']})" if m.aggregate else "")
                    + ("" if m.network == "mobile" else f" ({fmt.technology('wifi')})"),
                    m.tests,
                    m.devices,
                ]
                for m in s.sources
            ],
        ),
        Sheet(
            lab["x_adoption"],
            [
                c(lab["c_code"]),
                c(lab["c_commune"]),
                c(lab["c_population"], "int"),
                c(lab["c_tests"], "int"),
                c(lab["c_devices_min"], "int"),
                c(lab["c_devices_max"], "int"),
                c(lab["c_tests_per_1000"], "rate"),
                c(lab["c_devices_min_per_1000"], "rate"),
                c(lab["c_devices_max_per_1000"], "rate"),
            ],
            [
                [
                    m.code,
                    m.name,
                    m.population,
                    m.tests,
                    m.devices_min,
                    m.devices_max,
                    m.tests_per_1000,
                    m.devices_min_per_1000,
                    m.devices_max_per_1000,
                ]
                for m in ctx.adoption.communes
            ],
        ),
        Sheet(
            lab["x_trend"],
            [
                c(lab["c_month"]),
                c(lab["c_tests"], "int"),
                c(lab["c_with_tests"], "int"),
                c(lab["c_mean_4g"], "mbps"),
                c(lab["c_median_4g"], "mbps"),
                c(lab["c_mean_5g"], "mbps"),
                c(lab["c_meets_4g"], "int"),
                c(lab["c_below_4g"], "int"),
                c(lab["c_data_period"]),
            ],
            [
                [
                    fmt.trend_label(p.month, p.period),
                    p.tests,
                    p.communes_with_tests,
                    p.mean_4g,
                    p.median_4g,
                    p.mean_5g,
                    p.meets_4g,
                    p.below_4g,
                    fmt.data_source(p.period),
                ]
                for p in ctx.trend.points
            ],
        ),
        Sheet(
            lab["x_inputs"],
            [
                c(lab["c_file"]),
                c(lab["c_format"]),
                c(lab["c_months"]),
                c(lab["c_read"], "int"),
                c(lab["c_accepted"], "int"),
                c(lab["c_rejected"], "int"),
                c(lab["c_duplicates"], "int"),
                c(lab["c_sha256"]),
            ],
            [
                [
                    f.name,
                    f.format,
                    ", ".join(f.months) or None,
                    f.rows_read,
                    f.accepted,
                    f.rejected,
                    f.duplicates,
                    f.sha256,
                ]
                for f in ctx.annex.inputs
            ],
        ),
        Sheet(
            lab["x_rejects"],
            [c(lab["c_reason"]), c(lab["c_rows"], "int")],
            [[fmt.reason(r.key), r.value] for r in ctx.annex.rejects],
        ),
        Sheet(lab["x_method"], [c(lab["c_item"]), c(lab["c_value"])], _method_rows(ctx, fmt)),
    ]
    return sheets


def _method_rows(ctx: ReportContext, fmt: Formatter) -> list[list[Cell]]:
    a, lab = ctx.annex, fmt.labels
    rows: list[list[Cell]] = [[fmt.target_name(t.technology), t.mbps] for t in a.targets]
    rows += [
        [lab["r_statistic"], fmt.statistic(a.statistic)],
        [lab["r_min_tests"], a.min_tests],
        [lab["r_min_devices"], a.min_devices],
        [lab["r_confidence"], fmt.percent(a.confidence, 0)],
        [lab["r_peak_hours"], f"{a.peak_hours[0]:02d}:00–{a.peak_hours[1]:02d}:00"],
        [lab["r_tolerance"], a.tolerance_m],
        [lab["r_bursts"], fmt.yes_no(a.bursts_deduplicated)],
    ]
    rows += [[fmt.count_label(n.key), n.value] for n in a.counts]
    rows += [
        [lab["b_version"], a.boundaries_version],
        [lab["b_communes"], a.boundaries_communes],
        [lab["v_timezone"], fmt.timezone(a.timezone)],
        [lab["v_quarter_of_tiles"], fmt.quarter_name(a.quarter_of_tiles)],
        [lab["v_history_months"], a.history_months],
        [lab["v_analysed_at"], fmt.date(a.analysed_at)],
        [lab["v_tool_analysis"], a.tool_version_analysis],
        [lab["v_tool_report"], a.tool_version_report],
        [lab["d_generated"], fmt.date(ctx.generated_at)],
    ]
    return rows


def _created(generated_at: str) -> datetime:
    """The workbook's creation date: the report's date, as a naive datetime."""
    moment = (
        datetime.fromisoformat(generated_at)
        if len(generated_at) > 10
        else datetime.combine(date.fromisoformat(generated_at), datetime.min.time())
    )
    return moment.replace(tzinfo=None)


def render_xlsx(ctx: ReportContext, fmt: Formatter) -> bytes:
    """The XLSX annex as bytes."""
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    workbook.set_properties(
        {
            "title": f"{fmt.labels['title']}: {ctx.province_name}, {fmt.month(ctx.month)}",
            "author": "qostool",
            "created": _created(ctx.generated_at),
        }
    )
    header = workbook.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    header.set_bg_color("#EEF2F6")
    header.set_border(1)
    number_formats = {k: workbook.add_format({"num_format": v}) for k, v in _FORMATS.items()}
    missing = workbook.add_format({"italic": True, "font_color": "#777777"})
    # Not the month's official analysis: every sheet's first row and printed page say so.
    label = fmt.page_label(ctx.which)
    alarm = workbook.add_format({"bold": True, "font_color": "#A50F15", "bg_color": "#FDE0DD"})
    top = 1 if label else 0
    for sheet in report_sheets(ctx, fmt):
        ws = workbook.add_worksheet(sheet.name[:31])
        if label:
            ws.write_string(0, 0, label, alarm)
            ws.set_header("&C&B" + label[:200].replace("&", "&&"))  # Excel: 255 at most
        for col, column in enumerate(sheet.columns):
            ws.write_string(top, col, column.header, header)
            width = max(len(column.header) * 0.9, 10)
            if column.kind == "text":
                texts = [len(str(r[col])) for r in sheet.rows if r[col] is not None]
                width = max(width, min(max(texts, default=0) + 2, 70))
            ws.set_column(col, col, min(width, 70))
        for row_no, row in enumerate(sheet.rows, start=top + 1):
            for col, value in enumerate(row):
                kind = sheet.columns[col].kind
                if value is None:
                    ws.write_string(row_no, col, fmt.no_data, missing)
                elif isinstance(value, bool):
                    ws.write_string(row_no, col, fmt.yes_no(value))
                elif isinstance(value, int | float) and kind != "text":
                    ws.write_number(row_no, col, value, number_formats[kind])
                elif isinstance(value, int | float):
                    ws.write_number(row_no, col, value)
                else:
                    ws.write_string(row_no, col, str(value))
        ws.freeze_panes(top + 1, 0)
        if not sheet.rows:
            ws.write_string(top + 1, 0, fmt.labels["none"])
    workbook.close()
    return buffer.getvalue()
