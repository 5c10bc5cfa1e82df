"""Where a commune map needs an inset: the densest clusters of small communes.

A province's towns are cut into wards a few kilometres wide: on a map of the whole
province, which fits an A4 page, their colours shrink to a few millimetres and their
labels overlap (the wards of Quy Nhơn and Pleiku in Gia Lai). Such a cluster is drawn
again at a larger scale beside the map. It is found from the shapes alone, by a rule
that gives the same clusters for the same boundaries:

1. a commune is *small* when its area is below :data:`SMALL_SHARE` of the median area
   of the province's communes (the area of a shape in degrees, times the cosine of its
   latitude: the ratio to the median is what counts);
2. small communes that touch, or lie within :data:`GAP_KM` of each other (simplified
   boundaries leave slivers between neighbours), are grouped, and so on transitively
   (the connected groups of the "neighbours" relation);
3. a group is a cluster when it has at least :data:`MIN_MEMBERS` communes and its
   bounding box spans at most :data:`MAX_SPAN` of the province's in each direction (a
   larger group is no denser than the province, and an inset would hardly enlarge it);
4. the clusters with the most communes are drawn, at most :data:`MAX_INSETS` (ties: the
   smaller total area first, then the first commune in the boundaries' order), and
   lettered A, B in that order.

A province of large communes, or with no three small neighbours, has no cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import numpy as np

#: A commune is small below this share of the median commune area.
SMALL_SHARE: Final = 0.5
#: Small communes this close (km) are neighbours: the gaps of simplified boundaries.
GAP_KM: Final = 0.5
#: Communes a cluster needs at least.
MIN_MEMBERS: Final = 3
#: A cluster's box spans at most this share of the province's width and height.
MAX_SPAN: Final = 1 / 3
#: Insets a map has at most.
MAX_INSETS: Final = 2
_KM_PER_DEGREE: Final = 111.32


@dataclass(frozen=True)
class Cluster:
    """A cluster of small communes: its letter on the map, its communes and their box."""

    letter: str
    members: tuple[int, ...]
    """Indices of the cluster's communes in the map's order, ascending."""
    bounds: tuple[float, float, float, float]
    """The members' bounding box: min lon, min lat, max lon, max lat (WGS84 degrees)."""


def relative_areas(geometries: np.ndarray) -> np.ndarray:
    """Each commune's area as a share of the median commune area (1.0: the median)."""
    import numpy as np
    import shapely

    latitudes = shapely.get_coordinates(shapely.centroid(geometries))[:, 1]
    areas = shapely.area(geometries) * np.cos(np.radians(latitudes))
    median = float(np.median(areas)) if len(areas) else 0.0
    return areas / median if median > 0 else np.ones(len(areas))


def small_communes(geometries: np.ndarray) -> list[int]:
    """The indices of the small communes (rule 1), ascending."""
    import numpy as np

    return [int(i) for i in np.flatnonzero(relative_areas(geometries) < SMALL_SHARE)]


def _groups(geometries: np.ndarray, indices: list[int]) -> list[list[int]]:
    """The connected groups of neighbours among ``indices`` (rule 2), each ascending."""
    import shapely

    parent = list(range(len(indices)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    shapes = geometries[indices]
    tree = shapely.STRtree(shapes)
    left, right = tree.query(shapes, predicate="dwithin", distance=GAP_KM / _KM_PER_DEGREE)
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for i, index in enumerate(indices):
        groups.setdefault(root(i), []).append(index)
    return list(groups.values())


def find_clusters(geometries: np.ndarray, limit: int = MAX_INSETS) -> list[Cluster]:
    """The clusters of small communes an inset shows, densest first (see the module)."""
    import numpy as np
    import shapely

    if len(geometries) < MIN_MEMBERS:
        return []
    small = small_communes(geometries)
    if len(small) < MIN_MEMBERS:
        return []
    xmin, ymin, xmax, ymax = (float(v) for v in shapely.total_bounds(geometries))
    width, height = max(xmax - xmin, 1e-12), max(ymax - ymin, 1e-12)
    areas = shapely.area(geometries)
    found: list[tuple[tuple[int, float, int], list[int], tuple[float, float, float, float]]] = []
    for group in _groups(geometries, small):
        if len(group) < MIN_MEMBERS:
            continue
        x0, y0, x1, y1 = (float(v) for v in shapely.total_bounds(geometries[group]))
        if (x1 - x0) > MAX_SPAN * width or (y1 - y0) > MAX_SPAN * height:
            continue
        rank = (-len(group), float(np.sum(areas[group])), group[0])
        found.append((rank, group, (x0, y0, x1, y1)))
    found.sort(key=lambda item: item[0])
    return [
        Cluster(chr(ord("A") + i), tuple(group), box)
        for i, (_rank, group, box) in enumerate(found[:limit])
    ]


def fit_window(
    bounds: tuple[float, float, float, float], aspect: float, ratio: float, pad: float = 0.08
) -> tuple[float, float, float, float]:
    """A cluster's box, padded by ``pad`` of its size on each side and widened (or made
    taller) about its centre to a panel's height / width ``ratio`` on the page.

    ``aspect`` is the map's degrees of latitude per degree of longitude on the page
    (1 / cos(latitude)), so that the panel shows the ground undistorted, as the map does.
    """
    x0, y0, x1, y1 = bounds
    w = max(x1 - x0, 1e-6) * (1 + 2 * pad)
    h = max(y1 - y0, 1e-6) * (1 + 2 * pad)
    if h * aspect / w > ratio:  # taller than the panel: widen
        w = h * aspect / ratio
    else:
        h = w * ratio / aspect
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def magnification(
    window: tuple[float, float, float, float], panel_inches: float, map_per_degree: float
) -> float:
    """How many times larger a panel ``panel_inches`` wide draws ``window`` than a map
    drawn at ``map_per_degree`` inches a degree of longitude."""
    return panel_inches / max(window[2] - window[0], 1e-12) / max(map_per_degree, 1e-12)
