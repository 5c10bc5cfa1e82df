"""The report's charts: the commune map by 4G verdict, and the trend.

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from qostool.report.context import VERDICTS, Trend
from qostool.report.i18n import Formatter
from qostool.text import visible

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

#: Fill colour of each 4G verdict on the map (and of a commune without a verdict).
VERDICT_COLOURS: Final = {
    "meets_target": "#2c7bb6",
    "below_target": "#d7191c",
    "inconclusive": "#fdae61",
    "insufficient_data": "#d9d9d9",
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


@dataclass(frozen=True)
class MapData:
    """Commune shapes (WGS84 shapely polygons) with their names and 4G verdicts."""

    names: list[str]
    verdicts: list[str | None]
    geometries: np.ndarray


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


def commune_map_svg(data: MapData, fmt: Formatter) -> str:
    """The commune map as SVG markup."""
    svg = _commune_map(data, fmt, "svg")
    assert isinstance(svg, str)
    return svg


def commune_map_png(data: MapData, fmt: Formatter) -> bytes:
    """The same commune map as PNG bytes."""
    png = _commune_map(data, fmt, "png")
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


def _commune_map(data: MapData, fmt: Formatter, kind: str) -> str | bytes:
    """A choropleth of the communes coloured by 4G verdict, with a legend and labels."""
    import matplotlib
    import numpy as np
    import shapely
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, PathPatch

    with matplotlib.rc_context(_rc("qostool-map")):
        xmin, ymin, xmax, ymax = shapely.total_bounds(data.geometries)
        aspect = 1 / max(math.cos(math.radians((ymin + ymax) / 2)), 0.1)
        width = 6.7
        height = min(max(width * (ymax - ymin) * aspect / max(xmax - xmin, 1e-9), 3.0), 9.0)
        figure = Figure(figsize=(width, height))
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        for geometry, verdict in zip(data.geometries, data.verdicts, strict=True):
            colour = VERDICT_COLOURS.get(verdict or "", NO_VERDICT_COLOUR)
            axes.add_patch(
                PathPatch(
                    _rings_path(geometry), facecolor=colour, edgecolor="#404040", linewidth=0.4
                )
            )
        axes.set_xlim(xmin, xmax)
        axes.set_ylim(ymin, ymax)
        axes.set_aspect(aspect)
        axes.apply_aspect()  # so that the axes' final width on the page is known
        inches = axes.get_position().width * width
        bounds = shapely.bounds(data.geometries)
        # How wide a label may be: the commune's width, or less for a long thin one.
        across = np.minimum(bounds[:, 2] - bounds[:, 0], np.sqrt(shapely.area(data.geometries)))
        names = [visible(name) for name in data.names]
        sizes = _label_sizes(names, across * aspect**0.5, inches / (xmax - xmin))
        # A light box, not a stroked halo: path effects would turn the text into outlines.
        box: dict[str, Any] = {"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.7}
        box["edgecolor"] = "none"
        points = shapely.point_on_surface(data.geometries)
        for name, point, size in zip(names, points, sizes, strict=True):
            axes.text(
                point.x,
                point.y,
                name,
                ha="center",
                va="center",
                fontsize=size,
                bbox=box,
                parse_math=False,
            )
        axes.set_xlim(xmin, xmax)
        axes.set_ylim(ymin, ymax)
        axes.set_aspect(aspect)
        axes.set_axis_off()
        counts = {v: data.verdicts.count(v) for v in VERDICTS}
        handles = [
            Patch(
                facecolor=VERDICT_COLOURS[v],
                edgecolor="#404040",
                label=f"{fmt.verdict(v)} ({fmt.integer(counts[v])})",
            )
            for v in VERDICTS
        ]
        axes.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=2,
            frameon=False,
            fontsize=8,
        )
        return _save(figure, kind)


#: Label sizes (points): a few communes all get the same size; many get a size each.
_LABEL_PT: Final = 6.5
_LABEL_MIN_PT, _LABEL_MAX_PT = 4.0, 6.5
_FEW_COMMUNES: Final = 40
_CHAR_EM: Final = 0.6  # average width of a character (with the box), in ems


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
        fit = float(width) * inches_per_degree * 72 / (_CHAR_EM * max(len(name), 1))
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
