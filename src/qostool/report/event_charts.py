"""The event report's charts: status maps per operator (small multiples) and the daily series.

Drawn like the monthly report's charts (``report/charts.py``: matplotlib's Agg
canvas, deterministic SVG with text kept as text, PNG without metadata, names
never parsed as TeX), whose helpers they reuse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Final

from qostool.report.charts import _png, _rc, _rings_path, _svg
from qostool.report.i18n import Formatter
from qostool.text import visible

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

#: Fill colour of each status.
STATUS_COLOURS: Final = {
    "silent": "#b2182b",
    "degraded": "#f4a582",
    "normal": "#92c5de",
    "insufficient_data": "#e0e0e0",
}
#: Line colour per operator in the daily chart (``all`` is black and thicker).
_LINE_COLOURS: Final = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02")
_PANELS_ACROSS: Final = 3
_MONTHS_EN: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


@dataclass(frozen=True)
class StatusMaps:
    """Commune shapes with each operator group's status per commune."""

    names: list[str]
    geometries: np.ndarray
    operators: list[str]
    statuses: dict[str, list[str]]
    """Operator -> the status of every commune, in the order of ``geometries``."""


@dataclass(frozen=True)
class DailySeries:
    """Province-wide tests and median download per day, per operator."""

    days: list[date]
    operators: list[str]
    tests: dict[str, list[int]]
    medians: dict[str, list[float | None]]
    start: date
    end: date


def _save(figure: Figure, kind: str) -> str | bytes:
    return _svg(figure) if kind == "svg" else _png(figure)


def status_maps(data: StatusMaps, fmt: Formatter, labels: dict[str, str], kind: str) -> str | bytes:
    """One small map per operator group, coloured by status, sharing one legend."""
    import matplotlib
    import shapely
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, PathPatch

    paths = [_rings_path(g) for g in data.geometries]
    points = shapely.point_on_surface(data.geometries)
    with matplotlib.rc_context(_rc("qostool-event-maps")):
        xmin, ymin, xmax, ymax = shapely.total_bounds(data.geometries)
        aspect = 1 / max(math.cos(math.radians((ymin + ymax) / 2)), 0.1)
        panels = len(data.operators)
        across = min(_PANELS_ACROSS, panels)
        down = math.ceil(panels / across)
        width = 6.9
        cell = width / across
        height = cell * min(max((ymax - ymin) * aspect / max(xmax - xmin, 1e-9), 0.5), 1.6)
        figure = Figure(figsize=(width, height * down + 0.5))
        FigureCanvasAgg(figure)
        for k, operator in enumerate(data.operators):
            axes = figure.add_subplot(down, across, k + 1)
            statuses = data.statuses[operator]
            for path, status in zip(paths, statuses, strict=True):
                axes.add_patch(
                    PathPatch(
                        path,
                        facecolor=STATUS_COLOURS.get(status, "#ffffff"),
                        edgecolor="#404040",
                        linewidth=0.3,
                    )
                )
            for name, point, status in zip(data.names, points, statuses, strict=True):
                if status in ("silent", "degraded"):
                    axes.text(
                        point.x,
                        point.y,
                        visible(name),
                        ha="center",
                        va="center",
                        fontsize=5,
                        bbox={
                            "boxstyle": "round,pad=0.1",
                            "facecolor": "white",
                            "alpha": 0.75,
                            "edgecolor": "none",
                        },
                        parse_math=False,
                    )
            axes.set_xlim(xmin, xmax)
            axes.set_ylim(ymin, ymax)
            axes.set_aspect(aspect)
            axes.set_axis_off()
            axes.set_title(visible(fmt.operator(operator)), fontsize=8)
        handles = [
            Patch(facecolor=colour, edgecolor="#404040", label=labels[f"status_{status}"])
            for status, colour in STATUS_COLOURS.items()
        ]
        figure.legend(handles=handles, loc="lower center", ncol=4, frameon=False, fontsize=7)
        figure.subplots_adjust(bottom=0.5 / (height * down + 0.5) + 0.02, wspace=0.05, hspace=0.15)
        return _save(figure, kind)


def daily_chart(
    data: DailySeries, fmt: Formatter, labels: dict[str, str], kind: str
) -> str | bytes:
    """Tests per day (top) and median download per day (bottom), one line per operator."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_rc("qostool-event-daily")):
        figure = Figure(figsize=(6.9, 4.6))
        FigureCanvasAgg(figure)
        top, bottom = figure.subplots(2, 1, sharex=True)
        x = list(range(len(data.days)))
        first = data.days.index(data.start) if data.start in data.days else 0
        last = data.days.index(data.end) if data.end in data.days else len(x) - 1
        for axes in (top, bottom):
            axes.axvspan(first - 0.5, last + 0.5, color="#fddbc7", alpha=0.8, linewidth=0)
            axes.grid(axis="y", color="#e0e0e0", linewidth=0.5)
            axes.spines[["top", "right"]].set_visible(False)
        colours = iter(_LINE_COLOURS)
        for operator in data.operators:
            main = operator == "all"
            style: dict[str, Any] = {
                "color": "#000000" if main else next(colours, "#999999"),
                "linewidth": 1.6 if main else 0.9,
                "label": visible(fmt.operator(operator)),
            }
            top.plot(x, data.tests[operator], **style)
            medians = [math.nan if v is None else v for v in data.medians[operator]]
            bottom.plot(x, medians, marker="." if main else None, markersize=3, **style)
        top.set_ylabel(labels["axis_tests"])
        bottom.set_ylabel(labels["axis_median"])
        top.set_ylim(bottom=0)
        bottom.set_ylim(bottom=0)
        for axes in (top, bottom):
            axes.yaxis.set_major_formatter(lambda v, _pos: fmt.number(v, 0))
        step = max(1, len(x) // 10)
        ticks = [k for k in x if (len(x) - 1 - k) % step == 0]
        bottom.set_xticks(ticks, [_day(data.days[k], fmt) for k in ticks])
        handles, names = top.get_legend_handles_labels()
        from matplotlib.patches import Patch

        handles.append(Patch(facecolor="#fddbc7", label=labels["window_band"]))
        names.append(labels["window_band"])
        top.legend(
            handles, names, frameon=False, fontsize=6.5, loc="upper left", bbox_to_anchor=(1.0, 1.0)
        )
        return _save(figure, kind)


def _day(day: date, fmt: Formatter) -> str:
    """A day on the chart's axis: ``06/11`` (vi) or ``6 Nov`` (en)."""
    if fmt.lang == "vi":
        return f"{day.day:02d}/{day.month:02d}"
    return f"{day.day} {_MONTHS_EN[day.month - 1]}"
