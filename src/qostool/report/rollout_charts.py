"""Maps of each operator's 5G presence (new this month, seen before, never).

Drawn like the commune map of ``report/charts.py`` (Agg canvas, fixed SVG ids,
text kept as text, no metadata), with one colour per presence status. The
province report draws a small map per operator without names (the tables name
the communes); ``report --operator`` draws its operator's map at full width
with the names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from qostool.report.charts import _label_sizes, _rc, _rings_path, _save
from qostool.report.i18n import Formatter
from qostool.report.rollout_labels import ROLLOUT_LABELS
from qostool.text import visible

if TYPE_CHECKING:
    import numpy as np

    from qostool.analyze.run import Analysis
    from qostool.report.rollout import OperatorRollout
    from qostool.store import Store

#: Fill colour of each presence status: the month's news stands out in orange.
STATUS_COLOURS: Final = {
    "new": "#e66101",
    "again": "#5e3c99",
    "earlier": "#b2abd2",
    "never": "#ffffff",
}
SMALL_WIDTH: Final = 3.2
"""Inches: two maps side by side on an A4 page."""
FULL_WIDTH: Final = 6.7


@dataclass(frozen=True)
class Shapes:
    """The communes of the boundaries an analysis used: codes, names, WGS84 shapes."""

    codes: list[str]
    names: list[str]
    geometries: np.ndarray


def load_shapes(store: Store, analysis: Analysis) -> Shapes | None:
    """The communes' shapes of the analysis's boundaries version (None if gone)."""
    from qostool.errors import QostoolError
    from qostool.geo import versions

    try:
        artifact = versions.find_version(store, analysis.meta["boundaries"]["version"])
        communes = versions.load_communes(artifact)
    except (QostoolError, KeyError, OSError):
        return None
    return Shapes(
        codes=[str(c) for c in communes.table["code"].to_list()],
        names=[str(n) for n in communes.table["name"].to_list()],
        geometries=communes.geometries,
    )


def presence_map(
    shapes: Shapes,
    block: OperatorRollout,
    month: str,
    fmt: Formatter,
    *,
    kind: str,
    full: bool,
    salt: str,
) -> str | bytes:
    """One operator's map: each commune coloured by its 5G presence, with a legend.

    ``kind`` is ``svg`` (markup) or ``png`` (bytes); ``full`` draws it page-wide with
    the commune names, else half-width without them.
    """
    import matplotlib
    import shapely
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, PathPatch

    words = ROLLOUT_LABELS[fmt.lang]
    status = {c.code: c.status for c in block.communes}
    with matplotlib.rc_context(_rc(salt)):
        xmin, ymin, xmax, ymax = shapely.total_bounds(shapes.geometries)
        aspect = 1 / max(math.cos(math.radians((ymin + ymax) / 2)), 0.1)
        width = FULL_WIDTH if full else SMALL_WIDTH
        height = width * (ymax - ymin) * aspect / max(xmax - xmin, 1e-9)
        height = min(max(height, 2.0), 9.0 if full else 4.5)
        figure = Figure(figsize=(width, height))
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        for code, geometry in zip(shapes.codes, shapes.geometries, strict=True):
            colour = STATUS_COLOURS[status.get(code, "never")]
            axes.add_patch(
                PathPatch(
                    _rings_path(geometry), facecolor=colour, edgecolor="#404040", linewidth=0.4
                )
            )
        axes.set_xlim(xmin, xmax)
        axes.set_ylim(ymin, ymax)
        axes.set_aspect(aspect)
        if full:
            _names(axes, shapes, width, aspect, (xmin, xmax))
        axes.set_axis_off()
        title = fmt.fill(
            words["map_title"], operator=visible(block.operator), month=fmt.month(month)
        )
        axes.set_title(title, fontsize=9 if full else 8)
        counts = {s: sum(c.status == s for c in block.communes) for s in STATUS_COLOURS}
        handles = [
            Patch(
                facecolor=colour,
                edgecolor="#404040",
                label=f"{words['status_' + name]} ({fmt.integer(counts[name])})",
            )
            for name, colour in STATUS_COLOURS.items()
        ]
        axes.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=2 if full else 1,
            frameon=False,
            fontsize=7 if full else 6.5,
        )
        return _save(figure, kind)


def _names(axes: Any, shapes: Shapes, width: float, aspect: float, x: tuple[float, float]) -> None:
    """The commune names on a full-width map, sized as on the report's commune map."""
    import numpy as np
    import shapely

    axes.apply_aspect()
    inches = axes.get_position().width * width
    bounds = shapely.bounds(shapes.geometries)
    across = np.minimum(bounds[:, 2] - bounds[:, 0], np.sqrt(shapely.area(shapes.geometries)))
    names = [visible(n) for n in shapes.names]
    sizes = _label_sizes(names, across * aspect**0.5, inches / (x[1] - x[0]))
    box: dict[str, Any] = {"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.7}
    box["edgecolor"] = "none"
    points = shapely.point_on_surface(shapes.geometries)
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


def presence_maps(
    shapes: Shapes | None,
    blocks: list[OperatorRollout],
    month: str,
    fmt: Formatter,
    *,
    kind: str,
    full: bool = False,
) -> dict[str, Any]:
    """Every operator's map, by operator name (empty without shapes)."""
    if shapes is None:
        return {}
    return {
        block.operator: presence_map(
            shapes, block, month, fmt, kind=kind, full=full, salt=f"qostool-5g-{index}"
        )
        for index, block in enumerate(blocks)
    }
