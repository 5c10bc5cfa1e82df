"""The report's charts: the commune maps by 4G verdict (all operators, then each), and the trend.

Drawn with matplotlib on its Agg canvas (no pyplot, no global backend change),
imported only when a chart is drawn. Each figure is built once by one function
and saved as SVG (HTML, Markdown) or PNG (DOCX). The SVG is deterministic: a
fixed ``svg.hashsalt`` for the element ids, and no date in the metadata. Text
stays text (``svg.fonttype = none``), so names keep their diacritics and can be
searched and copied. The PNG has no metadata but the size and pixels.

Names are data: drawn as they are (control characters shown as escapes, by
:func:`qostool.text.visible`) and never parsed as TeX (``text.parse_math`` off,
``text.usetex`` off), so ``Xã $x^2$`` is drawn with its dollars.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from qostool.report.context import ASSESSMENTS, Trend
from qostool.report.i18n import Formatter
from qostool.text import visible

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

#: Fill colour of each 4G assessment on the map (and of a commune without a verdict):
#: a commune without any test is white, apart from one with too few (grey).
VERDICT_COLOURS: Final = {
    "meets_target": "#2c7bb6",
    "below_target": "#d7191c",
    "inconclusive": "#fdae61",
    "insufficient_data": "#bdbdbd",
    "no_tests": "#ffffff",
}
NO_VERDICT_COLOUR: Final = "#ffffff"
_RC: Final[dict[str, Any]] = {
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "text.usetex": False,
    "text.parse_math": False,  # a name with $...$ is text, not TeX
}
#: Resolution of the PNG charts (a 17 cm wide figure stays sharp when printed).
PNG_DPI: Final = 200


#: ``report --map-labels``: the commune map's labels (default ``auto``, see
#: :func:`label_plan`).
LABEL_MODES: Final = ("names", "numbers", "none")
AUTO: Final = "auto"
#: Inches: two operators' maps side by side on an A4 page.
SMALL_WIDTH: Final = 3.2


@dataclass(frozen=True)
class MapData:
    """Commune shapes (WGS84 shapely polygons) with their names and 4G verdicts."""

    names: list[str]
    verdicts: list[str | None]
    geometries: np.ndarray
    operators: dict[str, list[str | None]] = field(default_factory=dict)
    """Each operator's own 4G verdict of every commune (None: no verdict), by operator
    name: the operators with 4G rows in the month."""


@dataclass(frozen=True)
class KeyEntry:
    """A commune drawn as a number on the map, and its name in the key under it."""

    number: int
    name: str


@dataclass(frozen=True)
class DrawnMap:
    """A drawn commune map (SVG markup or PNG bytes) and the key of its numbers."""

    image: str | bytes
    key: list[KeyEntry]


def _rc(salt: str) -> Any:
    """Settings for one chart: fixed ids (the salt), text kept as text, one font."""
    return {**_RC, "svg.hashsalt": salt}


def _svg(figure: Figure) -> str:
    """The figure as SVG markup without the XML prolog (ready to inline in HTML)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :].strip() + "\n"


def _png(figure: Figure) -> bytes:
    """The figure as PNG bytes, on a white background, without metadata."""
    buffer = io.BytesIO()
    figure.savefig(
        buffer,
        format="png",
        dpi=PNG_DPI,
        metadata={"Software": None},
        bbox_inches="tight",
        facecolor="white",
    )
    return buffer.getvalue()


def _save(figure: Figure, kind: str) -> str | bytes:
    return _svg(figure) if kind == "svg" else _png(figure)


def _rings_path(geometry: Any) -> Any:
    """One matplotlib path for a (multi)polygon, holes included."""
    import numpy as np
    import shapely
    from matplotlib.path import Path

    paths = []
    for polygon in shapely.get_parts(geometry):
        for ring in (polygon.exterior, *polygon.interiors):
            coords = np.asarray(ring.coords)[:, :2]
            if len(coords) >= 3:
                paths.append(Path(coords, closed=True))
    return Path.make_compound_path(*paths)


def commune_map_svg(data: MapData, fmt: Formatter, labels: str = AUTO) -> str:
    """The commune map as SVG markup."""
    svg = commune_map(data, fmt, "svg", labels).image
    assert isinstance(svg, str)
    return svg


def commune_map_png(data: MapData, fmt: Formatter, labels: str = AUTO) -> bytes:
    """The same commune map as PNG bytes."""
    png = commune_map(data, fmt, "png", labels).image
    assert isinstance(png, bytes)
    return png


def trend_svg(trend: Trend, fmt: Formatter) -> str:
    """The trend chart as SVG markup."""
    svg = _trend(trend, fmt, "svg")
    assert isinstance(svg, str)
    return svg


def trend_png(trend: Trend, fmt: Formatter) -> bytes:
    """The same trend chart as PNG bytes."""
    png = _trend(trend, fmt, "png")
    assert isinstance(png, bytes)
    return png


def _base_map(
    geometries: np.ndarray, colours: list[str], *, width: float, heights: tuple[float, float]
) -> tuple[Figure, Any, float]:
    """A figure with the communes filled in their colours, at the map's true proportions.

    Returns the figure, its axes and the aspect (degrees of latitude per degree of
    longitude on the page), which the labels and the scale bar need. ``heights`` bounds
    the figure's height, so that a tall province still fits its page.
    """
    import shapely
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import PathPatch

    xmin, ymin, xmax, ymax = shapely.total_bounds(geometries)
    aspect = 1 / max(math.cos(math.radians((ymin + ymax) / 2)), 0.1)
    height = width * (ymax - ymin) * aspect / max(xmax - xmin, 1e-9)
    figure = Figure(figsize=(width, min(max(height, heights[0]), heights[1])))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for geometry, colour in zip(geometries, colours, strict=True):
        axes.add_patch(
            PathPatch(_rings_path(geometry), facecolor=colour, edgecolor="#404040", linewidth=0.4)
        )
    axes.set_xlim(xmin, xmax)
    axes.set_ylim(ymin, ymax)
    axes.set_aspect(aspect)
    axes.set_axis_off()
    return figure, axes, aspect


def _verdict_legend(axes: Any, verdicts: list[str | None], fmt: Formatter, **options: Any) -> None:
    """The verdicts' colours with the number of communes of each, under the map."""
    from matplotlib.patches import Patch

    counts = {v: verdicts.count(v) for v in ASSESSMENTS}
    handles = [
        Patch(
            facecolor=VERDICT_COLOURS[v],
            edgecolor="#404040",
            label=f"{fmt.verdict(v)} ({fmt.integer(counts[v])})",
        )
        for v in ASSESSMENTS
    ]
    axes.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=2,
        frameon=False,
        **options,
    )


def commune_map(data: MapData, fmt: Formatter, kind: str, labels: str = AUTO) -> DrawnMap:
    """A choropleth of the communes coloured by 4G verdict, with a legend, labels and a
    scale bar; with its key when some labels are numbers.

    ``labels`` is ``names``, ``numbers``, ``none`` or ``auto`` (a name where it fits,
    else a number): see :func:`label_plan`.
    """
    import matplotlib
    import numpy as np
    import shapely

    with matplotlib.rc_context(_rc("qostool-map")):
        width = 6.7
        colours = [VERDICT_COLOURS.get(v or "", NO_VERDICT_COLOUR) for v in data.verdicts]
        figure, axes, aspect = _base_map(data.geometries, colours, width=width, heights=(3.0, 9.0))
        xmin, ymin, xmax, ymax = shapely.total_bounds(data.geometries)
        axes.apply_aspect()  # so that the axes' final width on the page is known
        inches = axes.get_position().width * width
        bounds = shapely.bounds(data.geometries)
        # How wide a label may be: the commune's width, or less for a long thin one.
        across = np.minimum(bounds[:, 2] - bounds[:, 0], np.sqrt(shapely.area(data.geometries)))
        names = [visible(name) for name in data.names]
        plan, key = label_plan(names, across * aspect**0.5, inches / (xmax - xmin), labels)
        # A light box, not a stroked halo: path effects would turn the text into outlines.
        box: dict[str, Any] = {"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.7}
        box["edgecolor"] = "none"
        points = shapely.point_on_surface(data.geometries)
        for label, point in zip(plan, points, strict=True):
            if label is None:
                continue
            text, size = label
            axes.text(
                point.x,
                point.y,
                text,
                ha="center",
                va="center",
                fontsize=size,
                bbox=box,
                parse_math=False,
            )
        scale_bar(axes, (xmin, ymin, xmax, ymax), fmt)
        _verdict_legend(axes, data.verdicts, fmt, fontsize=8)
        return DrawnMap(_save(figure, kind), key)


def operator_maps(data: MapData, fmt: Formatter, kind: str) -> dict[str, str | bytes]:
    """Each operator's map of its own 4G verdicts, half-width, by operator name.

    The directive asks each operator to upgrade where *it* falls short: the pooled
    map cannot show that. These maps carry no names (two side by side leave no room;
    the all-operator map above them and its key name the communes).
    """
    return {
        operator: _operator_map(data, operator, verdicts, fmt, kind, salt=f"qostool-map-{i}")
        for i, (operator, verdicts) in enumerate(data.operators.items())
    }


def _operator_map(
    data: MapData,
    operator: str,
    verdicts: list[str | None],
    fmt: Formatter,
    kind: str,
    *,
    salt: str,
) -> str | bytes:
    import matplotlib
    import shapely

    with matplotlib.rc_context(_rc(salt)):
        colours = [VERDICT_COLOURS.get(v or "", NO_VERDICT_COLOUR) for v in verdicts]
        figure, axes, _aspect = _base_map(
            data.geometries, colours, width=SMALL_WIDTH, heights=(2.0, 4.5)
        )
        title = fmt.fill(fmt.labels["map_operator_title"], operator=visible(operator))
        axes.set_title(title, fontsize=8)
        scale_bar(axes, shapely.total_bounds(data.geometries), fmt, fontsize=6)
        _verdict_legend(axes, verdicts, fmt, fontsize=6)
        return _save(figure, kind)


#: Kilometres in one degree of latitude, and of longitude at the equator.
KM_PER_DEGREE: Final = 111.32
#: The lengths a scale bar may have (km): round numbers a reader can count with.
_SCALE_KM: Final = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0)


def scale_length(xmin: float, xmax: float, latitude: float) -> tuple[float, float]:
    """The scale bar's length: a round number of km, at most a quarter of the map's width,
    and the same length in degrees of longitude at ``latitude``.

    A degree of longitude shrinks with the latitude (111.32 km x cos(latitude)); the map
    is drawn with that same aspect, so the bar is true along the map's middle latitude.
    """
    per_degree = KM_PER_DEGREE * max(math.cos(math.radians(latitude)), 0.1)
    quarter = (xmax - xmin) * per_degree / 4
    km = max((k for k in _SCALE_KM if k <= quarter), default=_SCALE_KM[0])
    return km, km / per_degree


def scale_bar(
    axes: Any, bounds: tuple[float, float, float, float] | Any, fmt: Formatter, fontsize: float = 7
) -> None:
    """A scale bar in the map's lower left corner, its length written above it."""
    xmin, ymin, xmax, ymax = (float(b) for b in bounds)
    km, degrees = scale_length(xmin, xmax, (ymin + ymax) / 2)
    x0 = xmin + 0.02 * (xmax - xmin)
    y0 = ymin + 0.02 * (ymax - ymin)
    tick = 0.012 * (ymax - ymin)
    axes.plot(
        [x0, x0, x0 + degrees, x0 + degrees],
        [y0 + tick, y0, y0, y0 + tick],
        color="#000000",
        linewidth=1.2,
        solid_joinstyle="miter",
    )
    box = {"boxstyle": "round,pad=0.1", "facecolor": "white", "alpha": 0.7, "edgecolor": "none"}
    axes.text(
        x0 + degrees / 2,
        y0 + 1.5 * tick,
        scale_label(km, fmt),
        ha="center",
        va="bottom",
        fontsize=fontsize,
        bbox=box,
        parse_math=False,
    )


def scale_label(km: float, fmt: Formatter) -> str:
    """``20 km``; ``0,5 km`` below one kilometre (the decimal comma in Vietnamese)."""
    return f"{fmt.number(km, 0 if km >= 1 else 1)} km"


#: Label sizes (points): a few communes all get the same size; many get a size each.
_LABEL_PT: Final = 6.5
_LABEL_MIN_PT, _LABEL_MAX_PT = 4.0, 6.5
_FEW_COMMUNES: Final = 40
_CHAR_EM: Final = 0.6  # average width of a character (with the box), in ems
#: ``auto``: a name is drawn when it fits at this size at least, else a number.
_NAME_FIT_PT: Final = 5.5
_NUMBER_PT: Final = 6.0


def _fit(name: str, width: float, inches_per_degree: float) -> float:
    """The font size (points) at which ``name`` is as wide as ``width`` degrees."""
    return width * inches_per_degree * 72 / (_CHAR_EM * max(len(name), 1))


def label_plan(
    names: list[str], across: Any, inches_per_degree: float, mode: str = AUTO
) -> tuple[list[tuple[str, float] | None], list[KeyEntry]]:
    """What each commune's label says and its size (None: no label), and the key of the
    numbered ones (numbered 1, 2, ... in the order of the communes).

    ``names``: every name, sized by :func:`_label_sizes` (small ones may overlap);
    ``numbers``: every commune a number; ``none``: no label; ``auto``: the name where
    it fits at a readable size (:data:`_NAME_FIT_PT`), else a number. Around dense
    wards a name would shrink to 4 pt, overlap its neighbours and be cut.
    """
    if mode == "none":
        return [None] * len(names), []
    if mode == "names":
        sizes = _label_sizes(names, across, inches_per_degree)
        return list(zip(names, sizes, strict=True)), []
    plan: list[tuple[str, float] | None] = []
    key: list[KeyEntry] = []
    for name, width in zip(names, across, strict=True):
        fit = _fit(name, float(width), inches_per_degree)
        if mode == AUTO and fit >= _NAME_FIT_PT:
            plan.append((name, round(min(fit, _LABEL_MAX_PT), 1)))
        else:
            key.append(KeyEntry(len(key) + 1, name))
            plan.append((str(len(key)), _NUMBER_PT))
    return plan, key


def _label_sizes(names: list[str], across: Any, inches_per_degree: float) -> list[float]:
    """One size per label: with many communes, as large as the commune is wide, within limits.

    ``across`` is the width (degrees of longitude) a commune's label may take. A large
    rural commune then gets a label readable on A4, and a small town ward a small one
    that does not spill over its neighbours.
    """
    if len(names) <= _FEW_COMMUNES:
        return [_LABEL_PT] * len(names)
    sizes = []
    for name, width in zip(names, across, strict=True):
        fit = _fit(name, float(width), inches_per_degree)
        sizes.append(round(min(max(fit, _LABEL_MIN_PT), _LABEL_MAX_PT), 1))
    return sizes


def _trend(trend: Trend, fmt: Formatter, kind: str) -> str | bytes:
    """Province mean download per month (4G and 5G), with the 4G target."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_rc("qostool-trend")):
        figure = Figure(figsize=(6.7, 2.8))
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        x = list(range(len(trend.points)))

        def values(name: str) -> list[float]:
            return [
                math.nan if getattr(p, name) is None else float(getattr(p, name))
                for p in trend.points
            ]

        axes.plot(x, values("mean_4g"), marker="o", color="#2c7bb6", label="4G")
        mean_5g = values("mean_5g")
        if any(not math.isnan(v) for v in mean_5g):
            axes.plot(x, mean_5g, marker="s", color="#7b3294", label="5G")
        if trend.target_4g is not None:
            axes.axhline(
                trend.target_4g,
                color="#d7191c",
                linestyle="--",
                linewidth=1,
                label=fmt.fill(fmt.labels["target_line"], tech="4G"),
            )
        axes.set_xticks(x, [fmt.trend_label_short(p.month, p.period) for p in trend.points])
        axes.set_ylabel(fmt.labels["trend_axis"])
        axes.set_title(fmt.labels["trend_chart_title"], fontsize=9)
        axes.set_ylim(bottom=0)
        axes.yaxis.set_major_formatter(lambda v, _pos: fmt.number(v, 0))
        axes.grid(axis="y", color="#e0e0e0", linewidth=0.5)
        axes.spines[["top", "right"]].set_visible(False)
        axes.margins(x=0.08)
        axes.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _save(figure, kind)
