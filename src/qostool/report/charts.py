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
from qostool.report.insets import Cluster
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
    insets: str | bytes | None = None
    """The insets' panels, side by side in one figure drawn like the map (None: the
    province has no cluster of small communes, :mod:`qostool.report.insets`)."""
    letters: list[str] = field(default_factory=list)
    """The insets' letters (``A``, ``B``), as their frames on the map are lettered."""


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
    scale bar; with its key when some labels are numbers, and its insets when the
    province has clusters of small communes (:func:`qostool.report.insets.find_clusters`).

    ``labels`` is ``names``, ``numbers``, ``none`` or ``auto`` (a name where it fits,
    else a number): see :func:`label_plan`. A commune whose label point lies in an
    inset's frame is labelled in the inset, at the inset's scale, by the same rule
    (one key numbers the communes of the map and of the insets).
    """
    import matplotlib
    import numpy as np
    import shapely

    from qostool.report.insets import find_clusters

    with matplotlib.rc_context(_rc("qostool-map")):
        width = MAP_WIDTH
        colours = [VERDICT_COLOURS.get(v or "", NO_VERDICT_COLOUR) for v in data.verdicts]
        figure, axes, aspect = _base_map(data.geometries, colours, width=width, heights=(3.0, 9.0))
        xmin, ymin, xmax, ymax = shapely.total_bounds(data.geometries)
        axes.apply_aspect()  # so that the axes' final width on the page is known
        per_degree = axes.get_position().width * width / (xmax - xmin)
        layout = inset_layout(find_clusters(data.geometries), aspect, MAP_WIDTH)
        points = shapely.get_coordinates(shapely.point_on_surface(data.geometries))
        panel = layout.panel_of(points)
        # Where each label goes on the page (inches; each inset far to the right of the
        # map, so that labels of different panels never meet) and at which scale.
        scale = np.full(len(points), per_degree)
        place = np.column_stack(
            [(points[:, 0] - xmin) * per_degree, (points[:, 1] - ymin) * aspect * per_degree]
        )
        # The insets' edges cut their labels; the map's labels may reach past its edge.
        edges = np.tile([-np.inf, -np.inf, np.inf, np.inf], (len(points), 1))
        for k, window in enumerate(layout.windows):
            mine = panel == k
            edges[mine] = [1000.0 * (k + 1), 0.0, 1000.0 * (k + 1) + layout.size[0], layout.size[1]]
            scale[mine] = layout.per_degree[k]
            place[mine, 0] = 1000.0 * (k + 1) + (points[mine, 0] - window[0]) * scale[mine]
            place[mine, 1] = (points[mine, 1] - window[1]) * aspect * scale[mine]
        bounds = shapely.bounds(data.geometries)
        # How wide a label may be: the commune's width, or less for a long thin one.
        across = np.minimum(bounds[:, 2] - bounds[:, 0], np.sqrt(shapely.area(data.geometries)))
        names = [visible(name) for name in data.names]
        plan, key = label_plan(
            names, across * aspect**0.5 * scale, 1.0, labels, positions=place, panels=edges
        )
        main = [label if p < 0 else None for label, p in zip(plan, panel, strict=True)]
        _draw_labels(axes, points, main)
        for cluster, window in zip(layout.clusters, layout.windows, strict=True):
            _frame(axes, window, cluster.letter, fontsize=8)
        scale_bar(axes, (xmin, ymin, xmax, ymax), fmt)
        _verdict_legend(axes, data.verdicts, fmt, fontsize=8)
        image = _save(figure, kind)
    insets = None
    if layout.windows:
        with matplotlib.rc_context(_rc("qostool-map-insets")):
            inset_plan = [
                [label if p == k else None for label, p in zip(plan, panel, strict=True)]
                for k in range(len(layout.windows))
            ]
            figure = _insets_figure(data.geometries, colours, layout, fmt, inset_plan)
            insets = _save(figure, kind)
    return DrawnMap(image, key, insets, [c.letter for c in layout.clusters])


#: A label's light box: not a stroked halo, since path effects would turn the text into
#: outlines.
_LABEL_BOX: Final = {
    "boxstyle": "round,pad=0.15",
    "facecolor": "white",
    "alpha": 0.7,
    "edgecolor": "none",
}


def _draw_labels(axes: Any, points: Any, plan: list[tuple[str, float] | None]) -> None:
    """Each planned label at its commune's label point (None: no label)."""
    for label, (x, y) in zip(plan, points, strict=True):
        if label is None:
            continue
        text, size = label
        axes.text(
            x,
            y,
            text,
            ha="center",
            va="center",
            fontsize=size,
            bbox=dict(_LABEL_BOX),
            parse_math=False,
        )


#: Inches: the width of the province's map and of the row of its insets.
MAP_WIDTH: Final = 6.7
#: Inches: the space between two insets, and the bounds of their height.
_INSET_GAP: Final = 0.3
_INSET_HEIGHTS: Final = (2.2, 3.4)
FRAME_COLOUR: Final = "#000000"


@dataclass(frozen=True)
class InsetLayout:
    """The insets of a map: their clusters, the window each panel shows, and its size."""

    clusters: list[Cluster]
    windows: list[tuple[float, float, float, float]]
    """What each panel shows: min lon, min lat, max lon, max lat."""
    size: tuple[float, float]
    """Inches: each panel's width and height (every panel has the same)."""
    per_degree: list[float]
    """Inches a degree of longitude in each panel."""

    def panel_of(self, points: Any) -> Any:
        """For each label point (lon, lat), the inset whose window holds it (-1: none;
        the first one where windows overlap)."""
        import numpy as np

        panel = np.full(len(points), -1)
        for k, (x0, y0, x1, y1) in enumerate(self.windows):
            inside = (points[:, 0] >= x0) & (points[:, 0] <= x1)
            inside &= (points[:, 1] >= y0) & (points[:, 1] <= y1)
            panel[inside & (panel < 0)] = k
        return panel


def inset_layout(
    clusters: list[Cluster],
    aspect: float,
    width: float,
    heights: tuple[float, float] = _INSET_HEIGHTS,
) -> InsetLayout:
    """Panels side by side in a row ``width`` inches wide, as tall as the tallest cluster
    needs (within ``heights``), each window widened to its panel's shape."""
    from qostool.report.insets import fit_window

    if not clusters:
        return InsetLayout([], [], (0.0, 0.0), [])
    panel_w = (width - _INSET_GAP * (len(clusters) - 1)) / len(clusters)
    tallest = max(
        (c.bounds[3] - c.bounds[1]) * aspect / max(c.bounds[2] - c.bounds[0], 1e-9)
        for c in clusters
    )
    panel_h = min(max(panel_w * tallest, heights[0]), heights[1])
    windows = [fit_window(c.bounds, aspect, panel_h / panel_w) for c in clusters]
    per_degree = [panel_w / (w[2] - w[0]) for w in windows]
    return InsetLayout(list(clusters), windows, (panel_w, panel_h), per_degree)


def _frame(
    axes: Any, window: tuple[float, float, float, float], letter: str, fontsize: float
) -> None:
    """An inset's frame on a map, its letter at the frame's upper left corner."""
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = window
    axes.add_patch(
        Rectangle(
            (x0, y0),
            x1 - x0,
            y1 - y0,
            fill=False,
            edgecolor=FRAME_COLOUR,
            linewidth=1.0,
            zorder=5,
            clip_on=False,  # a frame reaching past the province's box is drawn whole
        )
    )
    axes.text(
        x0,
        y1,
        letter,
        ha="right",
        va="bottom",
        fontsize=fontsize,
        fontweight="bold",
        bbox={**_LABEL_BOX, "alpha": 0.85},
        parse_math=False,
        zorder=6,
    )


def _insets_figure(
    geometries: Any,
    colours: list[str],
    layout: InsetLayout,
    fmt: Formatter,
    plans: list[list[tuple[str, float] | None]],
) -> Figure:
    """The insets side by side in one figure, each with its letter, its scale bar and
    the labels of its communes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panel_w, panel_h = layout.size
    count = len(layout.windows)
    total = panel_w * count + _INSET_GAP * (count - 1)
    figure = Figure(figsize=(total, panel_h))
    FigureCanvasAgg(figure)
    for k in range(count):
        left = k * (panel_w + _INSET_GAP) / total
        rect = (left, 0.0, panel_w / total, 1.0)
        _inset_panel(
            figure,
            rect,
            layout,
            k,
            geometries=geometries,
            colours=colours,
            fmt=fmt,
            plan=plans[k],
            fontsize=8,
        )
    return figure


def _inset_panel(
    figure: Figure,
    rect: tuple[float, float, float, float],
    layout: InsetLayout,
    k: int,
    *,
    geometries: Any,
    colours: list[str],
    fmt: Formatter,
    plan: list[tuple[str, float] | None] | None,
    fontsize: float,
) -> None:
    """Inset ``k`` in ``rect`` of the figure (fractions): every commune it reaches, in
    its colour, framed, lettered, with a scale bar and (``plan``) its labels."""
    import shapely
    from matplotlib.patches import PathPatch

    cluster, window = layout.clusters[k], layout.windows[k]
    axes = figure.add_axes(rect)
    axes.set_gid(f"inset-{cluster.letter}")
    reach = shapely.intersects(geometries, shapely.box(*window))
    for geometry, colour, inside in zip(geometries, colours, reach, strict=True):
        if inside:
            path = _rings_path(geometry)
            axes.add_patch(PathPatch(path, facecolor=colour, edgecolor="#404040", linewidth=0.5))
    axes.set_xlim(window[0], window[2])
    axes.set_ylim(window[1], window[3])
    axes.set_aspect("auto")  # the window has the panel's shape (fit_window)
    axes.set_xticks([])
    axes.set_yticks([])
    for spine in axes.spines.values():
        spine.set_edgecolor(FRAME_COLOUR)
        spine.set_linewidth(1.0)
    if plan is not None:
        _draw_labels(axes, shapely.get_coordinates(shapely.point_on_surface(geometries)), plan)
    axes.text(
        0.015,
        0.985,
        cluster.letter,
        transform=axes.transAxes,
        ha="left",
        va="top",
        fontsize=fontsize + 1,
        fontweight="bold",
        bbox={**_LABEL_BOX, "alpha": 0.85},
        parse_math=False,
    )
    scale_bar(axes, window, fmt, fontsize=fontsize - 1)


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

    from qostool.report.insets import find_clusters

    clusters = find_clusters(data.geometries)
    with matplotlib.rc_context(_rc(salt)):
        colours = [VERDICT_COLOURS.get(v or "", NO_VERDICT_COLOUR) for v in verdicts]
        figure, axes, aspect = _base_map(
            data.geometries, colours, width=SMALL_WIDTH, heights=(2.0, 4.5)
        )
        title = fmt.fill(fmt.labels["map_operator_title"], operator=visible(operator))
        axes.set_title(title, fontsize=8)
        scale_bar(axes, shapely.total_bounds(data.geometries), fmt, fontsize=6)
        _verdict_legend(axes, verdicts, fmt, fontsize=6)
        if clusters:
            _inset_row(
                figure,
                axes,
                aspect=aspect,
                clusters=clusters,
                geometries=data.geometries,
                colours=colours,
                fmt=fmt,
            )
        return _save(figure, kind)


#: Inches: the bounds of a small map's insets' height, and the room its legend takes
#: between the map and them.
_SMALL_INSET_HEIGHTS: Final = (1.1, 1.6)
_SMALL_LEGEND: Final = 0.1


def _inset_row(
    figure: Figure,
    axes: Any,
    *,
    aspect: float,
    clusters: list[Cluster],
    geometries: Any,
    colours: list[str],
    fmt: Formatter,
) -> None:
    """A small map's insets, in a row under its legend, without labels (the map has none);
    and their frames on the map. The figure grows by the row's height."""
    width, height = (float(v) for v in figure.get_size_inches())
    layout = inset_layout(clusters, aspect, width, _SMALL_INSET_HEIGHTS)
    row = layout.size[1] + _SMALL_LEGEND
    figure.set_size_inches(width, height + row)
    axes.apply_aspect()
    x0, y0, w, h = axes.get_position(original=True).bounds
    axes.set_position((x0, (y0 * height + row) / (height + row), w, h * height / (height + row)))
    for cluster, window in zip(layout.clusters, layout.windows, strict=True):
        _frame(axes, window, cluster.letter, fontsize=6)
    panel_w, panel_h = layout.size
    total = height + row
    for k in range(len(layout.windows)):
        left = k * (panel_w + _INSET_GAP) / width
        rect = (left, 0.0, panel_w / width, panel_h / total)
        _inset_panel(
            figure,
            rect,
            layout,
            k,
            geometries=geometries,
            colours=colours,
            fmt=fmt,
            plan=None,
            fontsize=6,
        )


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
    names: list[str],
    across: Any,
    inches_per_degree: float,
    mode: str = AUTO,
    *,
    positions: Any = None,
    panels: Any = None,
) -> tuple[list[tuple[str, float] | None], list[KeyEntry]]:
    """What each commune's label says and its size (None: no label), and the key of the
    numbered ones (numbered 1, 2, ... in the order of the communes).

    ``names``: every name, sized by :func:`_label_sizes` (small ones may overlap);
    ``numbers``: every commune a number; ``none``: no label; ``auto``: the name where
    it fits at a readable size (:data:`_NAME_FIT_PT`) and meets no other label, else a
    number. Around dense wards a name would shrink to 4 pt, overlap its neighbours and
    be cut. ``positions`` (inches on the page, one row per commune) are where the labels
    are centred: with them, ``auto`` checks that no two labels overlap
    (:func:`_overlapping`); without them, only that each name fits its commune.
    ``panels`` (inches, x0, y0, x1, y1 for each commune) is the panel its label is drawn
    in: a name that would reach past its edge, and be cut, is a number too.
    """
    if mode == "none":
        return [None] * len(names), []
    if mode == "names":
        sizes = _label_sizes(names, across, inches_per_degree)
        return list(zip(names, sizes, strict=True)), []
    fits: list[float | None] = []
    for name, width in zip(names, across, strict=True):
        fit = _fit(name, float(width), inches_per_degree)
        fits.append(
            round(min(fit, _LABEL_MAX_PT), 1) if mode == AUTO and fit >= _NAME_FIT_PT else None
        )
    if positions is not None and mode == AUTO:
        for i in _overlapping(names, fits, positions, panels):
            fits[i] = None
    plan: list[tuple[str, float] | None] = []
    key: list[KeyEntry] = []
    for name, size in zip(names, fits, strict=True):
        if size is not None:
            plan.append((name, size))
        else:
            key.append(KeyEntry(len(key) + 1, name))
            plan.append((str(len(key)), _NUMBER_PT))
    return plan, key


#: A label's height on the page, in ems (the text and its box).
_LINE_EM: Final = 1.45


def _extent(text: str, size: float) -> tuple[float, float]:
    """Inches: the half width and half height of a label drawn at ``size`` points."""
    return _CHAR_EM * max(len(text), 1) * size / 144, _LINE_EM * size / 144


def _overlapping(
    names: list[str], fits: list[float | None], positions: Any, panels: Any = None
) -> list[int]:
    """The names that would overlap another label, or reach past their panel (``panels``,
    None: no edge): they become numbers.

    Numbers are placed first (they stay, small, on their communes); then the names, the
    largest first (ties in the communes' order), each kept only when its box meets no
    label kept before it and lies inside its panel. A name turned into a number keeps
    its number's box.
    """
    import numpy as np

    count = len(names)
    digits = "0" * len(str(max(count, 1)))  # the widest number of the key
    boxes = np.zeros((count, 4))  # x0, y0, x1, y1 of each kept label
    kept = np.zeros(count, dtype=bool)

    def box(i: int, text: str, size: float) -> Any:
        half_w, half_h = _extent(text, size)
        x, y = float(positions[i][0]), float(positions[i][1])
        return np.array([x - half_w, y - half_h, x + half_w, y + half_h])

    def meets(candidate: Any) -> bool:
        others = boxes[kept]
        return bool(
            np.any(
                (others[:, 0] < candidate[2])
                & (candidate[0] < others[:, 2])
                & (others[:, 1] < candidate[3])
                & (candidate[1] < others[:, 3])
            )
        )

    def inside(candidate: Any, panel: Any) -> bool:
        return bool(
            candidate[0] >= panel[0]
            and candidate[1] >= panel[1]
            and candidate[2] <= panel[2]
            and candidate[3] <= panel[3]
        )

    numbers = [i for i in range(count) if fits[i] is None]
    for i in numbers:
        boxes[i] = box(i, digits, _NUMBER_PT)
        kept[i] = True
    demoted = []
    for i in sorted(
        (i for i in range(count) if fits[i] is not None), key=lambda i: (-(fits[i] or 0), i)
    ):
        candidate = box(i, names[i], fits[i] or 0.0)
        if meets(candidate) or (panels is not None and not inside(candidate, panels[i])):
            candidate = box(i, digits, _NUMBER_PT)
            demoted.append(i)
        boxes[i] = candidate
        kept[i] = True
    return sorted(demoted)


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
