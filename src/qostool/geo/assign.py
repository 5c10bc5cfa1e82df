"""Assign speed-test points to communes: a multi-level grid lookup with an exact fallback.

Millions of points (longitude, latitude in WGS84 degrees) are matched against a few
thousand commune polygons. :class:`CommuneIndex` answers most points with a few array
lookups in a grid built once per boundary set; only the points the grid cannot decide
(in cells a boundary crosses, or in empty cells within the snapping tolerance of a
commune) are tested exactly, by the same code as :func:`assign_reference`, the simple
method the tests use as the oracle. Both give the same answer for every point.

Rules
-----
1. A point inside or on the boundary of one or more communes (shapely "covers") is
   INSIDE the one with the lowest position in the geometries given. Shared borders,
   shared vertices and the overlap slivers of simplified boundaries thus go to the lowest
   position; callers sort communes by code, so the lowest commune code wins.
2. A point inside no commune but within ``tolerance_m`` metres of at least one is
   SNAPPED to the nearest one (ties: lowest position). The distance is geodesic on the
   WGS84 ellipsoid (``pyproj.Geod``), from the point to the nearest point of the
   commune's boundary. ``tolerance_m = 0`` disables snapping.
3. Any other point is OUTSIDE (index -1, distance NaN); so is a point with a NaN, an
   infinite or an out-of-range coordinate.

Edges are straight in longitude/latitude, as in GeoJSON and shapely. The nearest
boundary point is found in the local ellipsoidal metric at the test point (metres per
degree of longitude and of latitude there), and the distance reported is the exact
geodesic distance to that boundary point. It is never less than the true geodesic
distance to the commune, and exceeds it by at most about ``2 * tan(lat) * d / R``
relative (under 2e-5 for d = 100 m in Vietnam); by a second-order amount (about 1e-9)
unless two parts of the boundary are almost equally near.

Why the grid gives exactly the reference's answer
-------------------------------------------------
The grid is a tree of cells: a root grid of at most 65,536 cells, each cell decided or
split into 4 x 4 children, down to a finest cell of a power-of-two fraction of a degree
(about 1/256 of a typical commune's side: 2**-11 degree, about 50 m, for the 3,321
communes of 2025). A point's finest cell is computed once, ``floor((x - x0) / cell)``,
and its coarser cells by integer division, so every level agrees on where a point is.
Every cell of one level (the deepest of at most 8 million cells) is also kept, with its
value there, in one table: a point's walk down the tree starts from it, with the values
that walking from the root gives.
Every test on a cell is made on the cell grown by a margin (1e-7 degree, about 1 cm, far
above the rounding of that floor), so a point counted in a cell lies in the grown cell.

* A cell is decided only if no boundary edge touches the grown cell. Then every
  commune either covers the whole cell or misses it entirely, so all its points have the
  same covering communes, none of them on a boundary. These are read at one point of
  the cell by counting boundary crossings along a row (the winding number, 0 or 1 per
  commune because the polygons are valid); where several communes cover a cell, the
  lowest position is found with the reference's own test.
* A decided cell covered by some commune answers the lowest covering position: what the
  reference answers for each of its points (nothing is snapped inside a commune).
* A decided cell covered by none answers OUTSIDE only if no edge comes within the
  snapping window of the grown cell: a box of longitude and latitude degrees that no
  point within ``tolerance_m`` metres (geodesic or local metric) can leave, computed from
  the fewest metres per degree over the communes' latitudes, with 1 % to spare.
  Otherwise it is split, or left to the exact test once cells are as small as the window.
* A cell an edge touches is split, and at the finest level left to the exact test.
"""

from __future__ import annotations

import copy
import math
import os
import struct
import threading
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Geod

Floats = npt.NDArray[np.floating[Any]]
Ints = npt.NDArray[np.int64]

INSIDE: Final = 0
SNAPPED: Final = 1
OUTSIDE: Final = 2

_NONE: Final = -1  # index of a point outside every commune; grid value "outside"
_EXACT: Final = -2  # grid value: the point needs the exact test
_FIRST_BLOCK: Final = -3  # grid value v <= -3: the cell is split into block -3 - v

_GEOD: Final = Geod(ellps="WGS84")
_POLYGON: Final = 3  # shapely geometry type ids
_MULTIPOLYGON: Final = 6

_MAX_ABS_LAT: Final = 85.0  # communes must lie within this latitude ...
_MAX_WINDOW_LAT: Final = 89.0  # ... and their snapping window within this one
_WINDOW_SPARE: Final = 1.01  # the snapping window is this much wider than needed
_MARGIN_DEG: Final = 1e-7  # cells are grown by this in every test (about 1 cm)
_MAX_REACH: Final = 2  # cells searched around an empty cell for an edge near it ...
#: ... in a level with at most this many cells (a bool each while building: 2**27 lets
#: the 2025 communes' 200 m level tell empty cells far from a boundary, OUTSIDE, from
#: those near one; with 2**25 all 479 k of them were left to the exact test, 95 k now).
_MAX_DENSE_CELLS: Final = 1 << 27

_BRANCH_BITS: Final = 2  # a split cell has 2**2 x 2**2 children
_BRANCH: Final = 1 << _BRANCH_BITS
_ROOT_MAX_CELLS: Final = 1 << 16
_FINE_CELLS_ACROSS: Final = 256  # finest cells across a typical commune
_MAX_BOUNDARY_CELLS: Final = 4_000_000  # cap on finest cells along all boundaries
_MIN_CELL_LOG2: Final = -16  # finest cell between 2**-16 (about 1.7 m) ...
_MAX_CELL_LOG2: Final = -4  # ... and 2**-4 degrees
_EDGES_PER_CHUNK: Final = 16  # snapping finds candidate edges by runs of this many
_CHUNK: Final = 1 << 20  # points per chunk in CommuneIndex.assign, to bound memory ...
_THREAD_POINTS: Final = 1 << 16  # ... and at least these many, if chunks run on threads
_BATCH: Final = 1 << 16  # edges or cells per batch while building, to bound memory
_SNAP_POINTS: Final = 1 << 13  # points per query of the edges near them ...
_SNAP_PAIRS: Final = 1 << 20  # ... and about this many (point, edge) pairs at once
_PRUNE_SPARE: Final = 1.1  # edges this much farther than a known distance are left out
#: Cells of the level whose values are all kept in one table (4 bytes each; for the
#: 2025 communes, the 800 m level: 4.2 million cells, 17 MB).
_DENSE_CELLS: Final = 1 << 23
_CACHE_FORMAT: Final = 4  # of CommuneIndex.save's file; change it when the grid changes


@dataclass(frozen=True, eq=False)
class Assignment:
    """Where each point went; arrays in the order of the points given."""

    index: npt.NDArray[np.int32]
    """Position of the commune in the geometries given to build(); -1 for OUTSIDE."""
    how: npt.NDArray[np.uint8]
    """INSIDE, SNAPPED or OUTSIDE."""
    distance_m: npt.NDArray[np.float64]
    """0 for INSIDE, geodesic metres to the commune for SNAPPED, NaN for OUTSIDE."""


# -- input checks ---------------------------------------------------------------------


def _polygons(
    geometries: Sequence[shapely.Geometry] | npt.NDArray[np.object_],
) -> npt.NDArray[np.object_]:
    """The geometries as an object array, checked: valid (multi)polygons in lon/lat degrees.

    Validity matters: the grid counts boundary crossings, which gives the covering
    communes only for valid polygons (repair with ``shapely.make_valid`` first).
    """
    geoms = np.asarray(geometries, dtype=object)
    if geoms.ndim != 1 or len(geoms) == 0:
        raise ValueError("geometries must be a non-empty one-dimensional sequence")
    kinds = shapely.get_type_id(geoms)
    wrong = np.flatnonzero((kinds != _POLYGON) & (kinds != _MULTIPOLYGON))
    if wrong.size:
        raise ValueError(f"geometries must be Polygon or MultiPolygon; not at {_positions(wrong)}")
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if invalid.size:
        raise ValueError(
            f"invalid geometries at {_positions(invalid)}; repair them (shapely.make_valid)"
        )
    if shapely.is_empty(geoms).all():
        raise ValueError("every geometry is empty")
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    if xmin < -180 or xmax > 180 or ymin < -_MAX_ABS_LAT or ymax > _MAX_ABS_LAT:
        raise ValueError(
            "geometries must be in WGS84 longitude/latitude degrees within "
            f"±{_MAX_ABS_LAT:g}° latitude; their bounds are {xmin, ymin, xmax, ymax}"
        )
    return geoms


def _positions(where: Ints) -> str:
    shown = ", ".join(str(i) for i in where[:5])
    return f"position {shown}" + (f" and {where.size - 5} more" if where.size > 5 else "")


def _tolerance(tolerance_m: float) -> float:
    if not 0 <= tolerance_m < math.inf:
        raise ValueError(f"tolerance_m must be a distance in metres, 0 or more, not {tolerance_m}")
    return float(tolerance_m)


def _points(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Floats, Floats, npt.NDArray[np.bool_]]:
    """Coordinates as float64 arrays, and which of them are usable (finite, in range)."""
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(
            f"lon and lat must be 1-D arrays of one length, not {x.shape} and {y.shape}"
        )
    with np.errstate(invalid="ignore"):
        usable = (np.abs(x) <= 180) & (np.abs(y) <= 90)  # False for NaN
    return x, y, usable


# -- geometry shared by both methods --------------------------------------------------


def _window_deg(geoms: npt.NDArray[np.object_], tolerance_m: float) -> tuple[float, float]:
    """Half-sides (longitude, latitude degrees) of a box no point within tolerance can leave.

    On the ellipsoid a path covers at least a * (1 - e²) metres per radian of latitude
    and a * cos(lat) per radian of longitude. A point within tolerance of a commune, and
    the geodesic to it, stay within the latitude window of the communes' latitudes, so
    the cosine is taken there; 1 % is added on top. The same bounds hold for the local
    metric used to find the nearest boundary point.
    """
    _, ymin, _, ymax = shapely.total_bounds(geoms)
    spare = tolerance_m * _WINDOW_SPARE
    window_lat = math.degrees(spare / (_GEOD.a * (1 - _GEOD.es)))
    lat_cap = max(abs(ymin), abs(ymax)) + window_lat
    if lat_cap > _MAX_WINDOW_LAT:
        raise ValueError(f"tolerance_m {tolerance_m} reaches beyond {_MAX_WINDOW_LAT}° latitude")
    return math.degrees(spare / (_GEOD.a * math.cos(math.radians(lat_cap)))), window_lat


def _metres_per_degree(lat: Floats) -> tuple[Floats, Floats]:
    """Metres per degree of longitude and of latitude at ``lat`` on the WGS84 ellipsoid."""
    phi = np.radians(lat)
    w = 1 - _GEOD.es * np.sin(phi) ** 2
    prime_vertical = _GEOD.a / np.sqrt(w)
    meridional = _GEOD.a * (1 - _GEOD.es) / w**1.5
    return np.radians(prime_vertical * np.cos(phi)), np.radians(meridional)


@dataclass(frozen=True)
class _Edges:
    """Every edge of every ring, with its commune and its winding sign.

    ``winding`` is what crossing the edge eastwards adds to the number of times the
    commune winds around a point: +1 entering, -1 leaving, 0 for horizontal edges.
    """

    xa: Floats
    ya: Floats
    xb: Floats
    yb: Floats
    commune: Ints
    winding: Ints
    chunks: Ints
    """Where runs of up to _EDGES_PER_CHUNK edges of one ring begin, and the edge count."""

    @classmethod
    def of(cls, geoms: npt.NDArray[np.object_]) -> _Edges:
        parts, part_commune = shapely.get_parts(geoms, return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
        exterior = np.ones(len(rings), dtype=bool)
        exterior[1:] = ring_part[1:] != ring_part[:-1]  # get_rings lists the shell first
        # +1 where the commune lies left of the ring's direction (ccw shell, cw hole).
        left = np.where(shapely.is_ccw(rings) == exterior, 1, -1)
        start = np.flatnonzero(coord_ring[1:] == coord_ring[:-1])
        ring = coord_ring[start]
        xa, ya = coords[start, 0], coords[start, 1]
        xb, yb = coords[start + 1, 0], coords[start + 1, 1]
        # Eastwards across a downward edge is from its right to its left side.
        direction = (yb < ya).astype(np.int64) - (yb > ya).astype(np.int64)
        in_ring = np.arange(len(ring)) - np.searchsorted(ring, ring)
        chunks = np.append(np.flatnonzero(in_ring % _EDGES_PER_CHUNK == 0), len(ring))
        commune = part_commune[ring_part[ring]]
        return cls(xa, ya, xb, yb, commune, left[ring] * direction, chunks)


_EDGE_FIELDS: Final = tuple(f.name for f in fields(_Edges))


class _Exact:
    """The simple method: STRtree candidates, prepared covers, then nearest within tolerance."""

    def __init__(self, geoms: npt.NDArray[np.object_], edges: _Edges, tolerance_m: float) -> None:
        shapely.prepare(geoms)
        self.geoms = geoms
        self.tree = shapely.STRtree(geoms)
        self.edges = edges
        self.tolerance_m = tolerance_m
        self.window = _window_deg(geoms, tolerance_m)
        first = edges.chunks[:-1]
        self.chunk_bounds = (
            np.minimum.reduceat(np.minimum(edges.xa, edges.xb), first),
            np.minimum.reduceat(np.minimum(edges.ya, edges.yb), first),
            np.maximum.reduceat(np.maximum(edges.xa, edges.xb), first),
            np.maximum.reduceat(np.maximum(edges.ya, edges.yb), first),
        )
        self.chunk_tree = shapely.STRtree(shapely.box(*self.chunk_bounds))
        # GEOS builds a tree at its first query, which two threads must not do at once;
        # a built tree is only read: build both now, and copies (:meth:`twin`) share them.
        origin = shapely.points(0.0, 0.0)
        self.tree.query(origin)
        self.chunk_tree.query(origin)

    def twin(self) -> _Exact:
        """A tester for another thread: the same trees and edges, its own geometries.

        GEOS's prepared geometries fill caches as they are used, so two threads may not
        use one at once (glibc aborts with heap corruption); the trees only map boxes to
        positions (they are built: see ``__init__``), and the edges are read-only arrays.
        """
        twin = copy.copy(self)
        # New geometries with the same coordinates (an identity transform: 2.5 times
        # faster than a round trip through WKB, and the main thread waits for it).
        twin.geoms = shapely.transform(self.geoms, lambda coordinates: coordinates)
        shapely.prepare(twin.geoms)
        return twin

    def covering(self, x: Floats, y: Floats) -> Ints:
        """Lowest position of a commune covering each point, or -1.

        ``intersects_xy`` is "covers" for a point: both hold when the point is in the
        polygon or on its boundary.
        """
        point, commune = self.tree.query(shapely.points(x, y))
        hit = shapely.intersects_xy(self.geoms[commune], x[point], y[point])
        lowest = np.full(len(x), len(self.geoms), dtype=np.int64)
        np.minimum.at(lowest, point[hit], commune[hit])
        return np.where(lowest < len(self.geoms), lowest, _NONE)

    def nearest(self, x: Floats, y: Floats) -> tuple[Ints, Floats]:
        """Nearest commune within tolerance (ties: lowest position) and the metres to it.

        -1 and NaN where no commune is that near. The candidates are the edges whose
        bounding box meets the snapping window around the point, found by chunks of
        edges; points go a few thousand at a time, fewer when their windows hold many
        edges, so that memory stays bounded.
        """
        index = np.full(len(x), _NONE, dtype=np.int64)
        metres = np.full(len(x), np.nan)
        if self.tolerance_m == 0:
            return index, metres
        wx, wy = self.window
        chunks = self.edges.chunks
        for batch in _batches(len(x), _SNAP_POINTS):
            bx, by = x[batch], y[batch]
            point, chunk = self.chunk_tree.query(shapely.box(bx - wx, by - wy, bx + wx, by + wy))
            point, chunk = self._unpruned(bx, by, point, chunk)
            count = chunks[chunk + 1] - chunks[chunk]
            load = np.bincount(point, weights=count, minlength=len(bx))
            for part in _parts(load, _SNAP_PAIRS):
                keep = (point >= part.start) & (point < part.stop)
                edge = np.repeat(chunks[chunk[keep]], count[keep]) + _ramp(count[keep])
                found, commune, distance = self._nearest_edge(
                    bx, by, np.repeat(point[keep], count[keep]), edge
                )
                index[batch.start + found] = commune
                metres[batch.start + found] = distance
        return index, metres

    def _unpruned(self, x: Floats, y: Floats, point: Ints, chunk: Ints) -> tuple[Ints, Ints]:
        """The (point, chunk) pairs left once chunks that cannot hold the nearest edge go.

        In the local metric at the point, a chunk whose bounding box is farther than the
        tolerance, or than the nearest chunk's first vertex, by more than _PRUNE_SPARE
        (far above the local metric's error) cannot hold the nearest edge.
        """
        xmin, ymin, xmax, ymax = (bound[chunk] for bound in self.chunk_bounds)
        px, py = x[point], y[point]
        kx, ky = _metres_per_degree(py)
        gap_x = np.maximum(np.maximum(xmin - px, px - xmax), 0) * kx
        gap_y = np.maximum(np.maximum(ymin - py, py - ymax), 0) * ky
        lower = np.hypot(gap_x, gap_y)
        vertex = self.edges.chunks[chunk]
        reach = np.hypot((self.edges.xa[vertex] - px) * kx, (self.edges.ya[vertex] - py) * ky)
        upper = np.full(len(x), self.tolerance_m)
        np.minimum.at(upper, point, reach)
        keep = lower <= upper[point] * _PRUNE_SPARE
        return point[keep], chunk[keep]

    def _nearest_edge(
        self, x: Floats, y: Floats, point: Ints, edge: Ints
    ) -> tuple[Ints, Ints, Floats]:
        """Given (point, edge) pairs: the points with a commune within tolerance, the
        nearest such commune (ties: lowest position) and the metres to it."""
        e = self.edges
        px, py = x[point], y[point]
        kx, ky = _metres_per_degree(py)
        ax, ay = (e.xa[edge] - px) * kx, (e.ya[edge] - py) * ky
        dx, dy = (e.xb[edge] - e.xa[edge]) * kx, (e.yb[edge] - e.ya[edge]) * ky
        length2 = dx * dx + dy * dy
        t = np.clip(-(ax * dx + ay * dy) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
        local2 = (ax + t * dx) ** 2 + (ay + t * dy) ** 2
        commune = e.commune[edge]
        first = _nearest_of_each(point * len(self.geoms) + commune, local2, edge)
        tf, ef = t[first], edge[first]
        qx = np.where(tf == 1, e.xb[ef], e.xa[ef] + tf * (e.xb[ef] - e.xa[ef]))
        qy = np.where(tf == 1, e.yb[ef], e.ya[ef] + tf * (e.yb[ef] - e.ya[ef]))
        _, _, geodesic = _GEOD.inv(px[first], py[first], qx, qy)
        near = geodesic <= self.tolerance_m
        candidate, commune, geodesic = point[first][near], commune[first][near], geodesic[near]
        best = _nearest_of_each(candidate, geodesic, commune)  # ties: the lowest position
        return candidate[best], commune[best], geodesic[best]

    def assign(self, x: Floats, y: Floats) -> tuple[Ints, npt.NDArray[np.uint8], Floats]:
        """Index, how and distance for usable points (finite, in range)."""
        index = self.covering(x, y)
        how = np.full(len(x), INSIDE, dtype=np.uint8)
        distance = np.zeros(len(x))
        outside = np.flatnonzero(index == _NONE)
        near_index, near_metres = self.nearest(x[outside], y[outside])
        index[outside] = near_index
        how[outside] = np.where(near_index == _NONE, OUTSIDE, SNAPPED)
        distance[outside] = near_metres
        return index, how, distance


def _mapped_npz(path: Path) -> dict[str, npt.NDArray[Any]]:
    """The arrays of an uncompressed ``.npz`` file (as ``np.savez`` writes), memory-mapped.

    ``np.load`` reads every array of an ``.npz`` into memory and checks its CRC: about
    0.1 s for the 90 MB grid of the 3,321 communes, where an analysis touches only the
    cells its points fall in. Mapped, only those pages are read. Raises ``ValueError``
    for a member that is compressed or not a plain ``.npy`` array.
    """
    arrays: dict[str, npt.NDArray[Any]] = {}
    with zipfile.ZipFile(path) as archive, path.open("rb") as raw:
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
                raise ValueError(f"{info.filename}: not a stored .npy member")
            raw.seek(info.header_offset)
            local = raw.read(_ZIP_LOCAL_HEADER)
            if len(local) != _ZIP_LOCAL_HEADER or local[:4] != b"PK\x03\x04":
                raise ValueError(f"{info.filename}: bad zip entry")
            name_length, extra_length = struct.unpack("<HH", local[26:30])
            raw.seek(info.header_offset + _ZIP_LOCAL_HEADER + name_length + extra_length)
            version = np.lib.format.read_magic(raw)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(raw)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(raw)
            if dtype.hasobject:
                raise ValueError(f"{info.filename}: object arrays are not read")
            name = info.filename.removesuffix(".npy")
            if not shape or 0 in shape:  # a memmap cannot be empty: read small ones
                arrays[name] = np.fromfile(raw, dtype=dtype, count=math.prod(shape)).reshape(
                    shape, order="F" if fortran else "C"
                )
                continue
            arrays[name] = np.memmap(
                path, dtype=dtype, mode="r", offset=raw.tell(), shape=shape,
                order="F" if fortran else "C",
            )  # fmt: skip
    return arrays


_ZIP_LOCAL_HEADER: Final = 30


def _ramp(counts: Ints) -> Ints:
    """0, 1, ..., n - 1 for each n in ``counts``, end to end (to expand runs)."""
    return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)


def _nearest_of_each(group: Ints, distance: Floats, tie: Ints) -> Ints:
    """Per group (in ascending order): the position of its item nearest by ``distance``,
    of the lowest ``tie`` among equally near ones (a group holds each ``tie`` once).

    One sort by group and minima over each run: ten times faster than sorting by
    group, distance and tie at once (``np.lexsort`` of a million pairs: 0.4 s).
    """
    if not group.size:
        return np.zeros(0, dtype=np.int64)
    order: Ints = np.argsort(group, kind="stable")
    ordered = group[order]
    starts = np.concatenate([[0], np.flatnonzero(ordered[1:] != ordered[:-1]) + 1])
    sizes = np.diff(np.append(starts, group.size))
    near, ties = distance[order], tie[order]
    nearest = near == np.repeat(np.minimum.reduceat(near, starts), sizes)
    lowest = np.minimum.reduceat(np.where(nearest, ties, np.iinfo(ties.dtype).max), starts)
    first: Ints = order[nearest & (ties == np.repeat(lowest, sizes))]
    return first


def assign_reference(
    geometries: Sequence[shapely.Geometry] | npt.NDArray[np.object_],
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    tolerance_m: float = 100.0,
) -> Assignment:
    """The simple, obviously-correct method (STRtree candidates + prepared contains/covers,
    then nearest within tolerance): the oracle for tests and the benchmark."""
    geoms = _polygons(geometries)
    exact = _Exact(geoms, _Edges.of(geoms), _tolerance(tolerance_m))
    x, y, usable = _points(lon, lat)
    result = _outside(len(x))
    usable_at = np.flatnonzero(usable)
    for batch in _batches(len(usable_at), _CHUNK):
        where = usable_at[batch]
        _fill(result, where, *exact.assign(x[where], y[where]))
    return result


def _outside(n: int) -> Assignment:
    return Assignment(
        np.full(n, _NONE, dtype=np.int32), np.full(n, OUTSIDE, dtype=np.uint8), np.full(n, np.nan)
    )


def _fill(
    result: Assignment,
    where: Ints,
    index: Ints,
    how: npt.NDArray[np.uint8],
    distance: Floats,
) -> None:
    result.index[where] = index
    result.how[where] = how
    result.distance_m[where] = distance


# -- the grid ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """Where the cells are: origin, finest side (a power of two, degrees), levels, shape."""

    x0: float
    y0: float
    cell: float
    levels: int
    """Splits from a root cell down to a finest cell."""
    nx: int
    """Finest cells across (a multiple of the root cells across)."""
    ny: int

    @classmethod
    def around(cls, geoms: npt.NDArray[np.object_], window: tuple[float, float]) -> _Frame:
        """A frame over the communes and their snapping window.

        The finest side is about 1/256 of a typical commune's (the square root of the
        mean area), coarser if the boundaries would cross more than 4 million finest
        cells; the root grid has at most 65,536 cells.
        """
        xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
        typical = math.sqrt(shapely.area(geoms).sum() / np.count_nonzero(~shapely.is_empty(geoms)))
        log2 = max(
            round(math.log2(typical / _FINE_CELLS_ACROSS)),
            math.ceil(math.log2(shapely.length(geoms).sum() / _MAX_BOUNDARY_CELLS)),
        )
        cell = 2.0 ** min(max(log2, _MIN_CELL_LOG2), _MAX_CELL_LOG2)
        pad_x, pad_y = window[0] + 2 * _MARGIN_DEG, window[1] + 2 * _MARGIN_DEG
        x0 = math.floor((xmin - pad_x) / cell) * cell
        y0 = math.floor((ymin - pad_y) / cell) * cell
        width, height = (xmax + pad_x - x0) / cell, (ymax + pad_y - y0) / cell
        levels = 0
        while math.ceil(width / _BRANCH**levels) * math.ceil(height / _BRANCH**levels) > (
            _ROOT_MAX_CELLS
        ):
            levels += 1
        root = _BRANCH**levels
        return cls(
            x0, y0, cell, levels, math.ceil(width / root) * root, math.ceil(height / root) * root
        )

    def shift(self, level: int) -> int:
        """Bits from a finest cell's column or row to its column or row at ``level``."""
        return _BRANCH_BITS * (self.levels - level)


def _touched(edges: _Edges, frame: _Frame) -> Ints:
    """Finest cells (row * nx + column, sorted) that an edge touches, cells grown by the margin.

    Each edge is cut into pieces no longer than a cell; a piece can touch only the
    cells its bounding box, grown by the margin, overlaps: at most 3 x 3. Work is in
    finest-cell units east and north of the origin, a batch of edges at a time.
    """
    inv = 1 / frame.cell
    margin = _MARGIN_DEG * inv
    found = []
    for batch in _batches(len(edges.xa)):
        u0, v0 = (edges.xa[batch] - frame.x0) * inv, (edges.ya[batch] - frame.y0) * inv
        du, dv = (edges.xb[batch] - frame.x0) * inv - u0, (edges.yb[batch] - frame.y0) * inv - v0
        pieces = np.maximum(np.ceil(np.maximum(np.abs(du), np.abs(dv))), 1).astype(np.int64)
        k = _ramp(pieces)
        step_u, step_v = np.repeat(du / pieces, pieces), np.repeat(dv / pieces, pieces)
        u, v = np.repeat(u0, pieces) + k * step_u, np.repeat(v0, pieces) + k * step_v
        col = np.floor(u + np.minimum(step_u, 0) - margin).astype(np.int64)
        cols = np.floor(u + np.maximum(step_u, 0) + margin).astype(np.int64) - col
        row = np.floor(v + np.minimum(step_v, 0) - margin).astype(np.int64)
        rows = np.floor(v + np.maximum(step_v, 0) + margin).astype(np.int64) - row
        first = row * frame.nx + col
        cells = [
            (first + i * frame.nx + j)[(rows >= i) & (cols >= j)]
            for i in range(int(rows.max(initial=0)) + 1)
            for j in range(int(cols.max(initial=0)) + 1)
        ]
        found.append(_unique(np.concatenate(cells)))
    return _unique(np.concatenate(found))


def _batches(n: int, size: int = _BATCH) -> list[slice]:
    """Slices of ``size`` items covering ``range(n)``, to bound memory."""
    return [slice(start, start + size) for start in range(0, n, size)]


def _parts(load: npt.NDArray[np.number[Any]], cap: int) -> list[slice]:
    """Consecutive ranges of items whose loads add up to about ``cap`` (at most the cap
    plus one item's load)."""
    group = (np.cumsum(load) - load) // cap
    starts = np.flatnonzero(np.diff(group, prepend=-1))
    return [slice(a, b) for a, b in zip(starts, [*starts[1:], len(load)], strict=True)]


@dataclass(frozen=True)
class _Crossings:
    """Where edges cross the centre lines of the finest rows, ordered by row then eastwards.

    ``depth`` and ``positions`` are cumulative sums over the crossings (with a leading
    0) of the winding and of the winding times the commune's position: west of a point
    of a row line, they count the communes covering the point and sum their positions.
    Each ring's crossings of one line sum to 0, so earlier rows add nothing.
    """

    key: Floats
    depth: Ints
    positions: Ints
    stride: int

    @classmethod
    def of(cls, edges: _Edges, frame: _Frame) -> _Crossings:
        inv = 1 / frame.cell
        stride = frame.nx + 2
        keys, windings, communes = [], [], []
        for batch in _batches(len(edges.xa)):
            xa, ya, xb, yb = edges.xa[batch], edges.ya[batch], edges.xb[batch], edges.yb[batch]
            low, high = np.minimum(ya, yb), np.maximum(ya, yb)
            slanted = np.flatnonzero(low < high)
            first = np.floor((low[slanted] - frame.y0) * inv - 0.5).astype(np.int64)
            count = np.floor((high[slanted] - frame.y0) * inv - 0.5).astype(np.int64) + 2 - first
            edge = np.repeat(slanted, count)
            row = np.repeat(first, count) + _ramp(count)
            line = frame.y0 + (row + 0.5) * frame.cell
            keep = (low[edge] <= line) & (line < high[edge])  # half-open: vertices count once
            edge, row, line = edge[keep], row[keep], line[keep]
            x = xa[edge] + (line - ya[edge]) * (xb[edge] - xa[edge]) / (yb[edge] - ya[edge])
            keys.append(row * stride + ((x - frame.x0) * inv + 1))
            windings.append(edges.winding[batch][edge])
            communes.append(edges.commune[batch][edge])
        key = np.concatenate(keys)
        order = np.argsort(key)
        winding = np.concatenate(windings)[order]
        zero = np.zeros(1, dtype=np.int64)
        return cls(
            key[order],
            np.concatenate([zero, np.cumsum(winding)]),
            np.concatenate([zero, np.cumsum(winding * np.concatenate(communes)[order])]),
            stride,
        )

    def covering(self, row: Ints, column: Floats) -> tuple[Ints, Ints]:
        """Communes covering, and the sum of their positions, at points of finest row lines.

        ``column`` is in finest cells east of the origin; no boundary may be near the points.
        """
        at = np.searchsorted(self.key, row * self.stride + column + 1)
        return self.depth[at], self.positions[at]


class _Grid:
    """The tree of cells: a root grid; every cell a commune, outside, exact, or split.

    ``dense`` holds every cell of one level (``dense_level``) with its value there: a
    point's walk down the tree starts at that level, one lookup instead of one per
    level above it (root, 1 and 2 for the 2025 communes: a third of the lookups' time).
    """

    def __init__(
        self,
        frame: _Frame,
        root: npt.NDArray[np.int32],
        blocks: list[npt.NDArray[np.int32]],
        dense: npt.NDArray[np.int32] | None = None,
    ) -> None:
        self.frame = frame
        self.root = root
        self.blocks = blocks
        """Per level below the root: the children of each split cell, 4 x 4 row-major."""
        self.dense_level = _dense_level(frame, len(blocks))
        self.dense: npt.NDArray[np.int32] | None = None
        if dense is None and self.dense_level:
            shift = frame.shift(self.dense_level)
            wide, high = frame.nx >> shift, frame.ny >> shift
            row, col = np.divmod(np.arange(wide * high, dtype=np.int64), wide)
            dense = self._walk(row << shift, col << shift, last=self.dense_level)
        self.dense = dense

    def lookup(self, x: Floats, y: Floats) -> npt.NDArray[np.int32]:
        """Per point: a commune's position, -1 (outside) or _EXACT."""
        frame = self.frame
        inv = 1 / frame.cell
        u, v = (x - frame.x0) * inv, (y - frame.y0) * inv
        with np.errstate(invalid="ignore"):
            inside = np.flatnonzero((u >= 0) & (u < frame.nx) & (v >= 0) & (v < frame.ny))
        col, row = u[inside].astype(np.int64), v[inside].astype(np.int64)  # floor: u, v >= 0
        out = np.full(len(x), _NONE, dtype=np.int32)
        out[inside] = self._walk(row, col)
        return out

    def _walk(self, row: Ints, col: Ints, last: int | None = None) -> npt.NDArray[np.int32]:
        """The value of finest cells (``row``, ``col``) at level ``last`` (the finest if
        None): from the dense level's table where there is one, else from the root."""
        frame = self.frame
        start = self.dense_level if self.dense is not None else 0
        shift = frame.shift(start)
        table = self.root if self.dense is None else self.dense
        value = table[(row >> shift) * (frame.nx >> shift) + (col >> shift)]
        for level in range(start + 1, len(self.blocks) + 1 if last is None else last + 1):
            split = np.flatnonzero(value <= _FIRST_BLOCK)
            shift = frame.shift(level)
            local = ((row[split] >> shift) & (_BRANCH - 1)) << _BRANCH_BITS | (
                (col[split] >> shift) & (_BRANCH - 1)
            )
            block = (_FIRST_BLOCK - value[split]).astype(np.int64)
            value[split] = self.blocks[level - 1][block << (2 * _BRANCH_BITS) | local]
        return value


def _dense_level(frame: _Frame, depth: int) -> int:
    """The deepest level (below the root, above the finest) of at most _DENSE_CELLS
    cells, or 0 (no dense table) when there is none."""
    level = 0
    while (
        level + 1 < depth
        and (frame.nx >> frame.shift(level + 1)) * (frame.ny >> frame.shift(level + 1))
        <= _DENSE_CELLS
    ):
        level += 1
    return level


class _GridBuilder:
    """Decides the cells level by level, from the root down, splitting undecided ones."""

    def __init__(self, edges: _Edges, exact: _Exact, frame: _Frame) -> None:
        self.exact = exact
        self.frame = frame
        self.crossings = _Crossings.of(edges, frame)
        touched = _touched(edges, frame)
        self.touched_rows, self.touched_cols = np.divmod(touched, frame.nx)

    def build(self) -> _Grid:
        """Decide the root cells, then the children of every split cell, down to the finest.

        ``at`` follows each touched finest cell down the tree: the position, in the
        current level's cells, of the cell holding it (always a split cell).
        """
        frame = self.frame
        shift = frame.shift(0)
        wide = frame.nx >> shift
        rows, cols = (
            c.astype(np.int32) for c in np.divmod(np.arange(wide * (frame.ny >> shift)), wide)
        )
        at = (self.touched_rows >> shift) * wide + (self.touched_cols >> shift)
        values = []
        for level in range(frame.levels + 1):
            touched = np.zeros(len(rows), dtype=bool)
            touched[at] = True
            near = self.near(level)
            value = np.empty(len(rows), dtype=np.int32)
            split = np.empty(len(rows), dtype=bool)
            for batch in _batches(len(rows)):
                value[batch], split[batch] = self.decide(
                    level,
                    rows[batch].astype(np.int64),
                    cols[batch].astype(np.int64),
                    touched[batch],
                    near,
                )
            values.append(value)
            if level == frame.levels:
                value[split] = _EXACT
                break
            parents = np.flatnonzero(split)
            value[parents] = _FIRST_BLOCK - np.arange(len(parents))
            rows, cols = _children(rows[parents], cols[parents])
            block = np.full(len(value), -1, dtype=np.int64)
            block[parents] = np.arange(len(parents))
            shift = frame.shift(level + 1)
            local = ((self.touched_rows >> shift) & (_BRANCH - 1)) << _BRANCH_BITS | (
                (self.touched_cols >> shift) & (_BRANCH - 1)
            )
            at = block[at] << (2 * _BRANCH_BITS) | local
        return _Grid(frame, values[0], values[1:])

    def decide(
        self,
        level: int,
        rows: Ints,
        cols: Ints,
        touched: npt.NDArray[np.bool_],
        near: _Near | None,
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
        """Each cell's value at a level (a commune, outside, exact), and which to split.

        Cells an edge touches are split. The others are covered, all over, by the same
        communes: one point tells which. Uncovered ones within the snapping window of a
        boundary are split, or left to the exact test once cells are about as small as
        the window, or when nearness cannot be checked (no ``near``).
        """
        frame, shift = self.frame, self.frame.shift(level)
        free = np.flatnonzero(~touched)
        # A free cell just east of another is covered like it (no edge between them):
        # only the first cell of each run is looked at.
        follows = np.zeros(len(free), dtype=bool)
        follows[1:] = (rows[free[1:]] == rows[free[:-1]]) & (cols[free[1:]] == cols[free[:-1]] + 1)
        first = free[~follows]
        row = (rows[first] << shift) + ((1 << shift) >> 1)  # a finest row line through the cell
        column = (cols[first] << shift) + (1 << shift) / 2  # the cell's centre on it
        depth, positions = self.crossings.covering(row, column)
        label = np.where(depth == 1, positions, _NONE)
        several = np.flatnonzero((depth != 0) & (depth != 1))  # overlaps: ask the exact test
        if several.size:
            label[several] = self.exact.covering(
                frame.x0 + column[several] * frame.cell,
                frame.y0 + (row[several] + 0.5) * frame.cell,
            )
        value = np.full(len(rows), _NONE, dtype=np.int32)
        value[free] = label[np.cumsum(~follows) - 1]
        split = touched.copy()
        empty = free[value[free] == _NONE]
        if self.exact.tolerance_m == 0 or empty.size == 0:
            return value, split
        if near is None:
            value[empty] = _EXACT
            return value, split
        close = near.cells(rows[empty], cols[empty])
        if level < frame.levels and frame.cell * (1 << shift) > 2 * max(self.exact.window):
            split[empty[close]] = True
        else:
            value[empty[close]] = _EXACT
        return value, split

    def near(self, level: int) -> _Near | None:
        """The level's touched cells, to tell which cells an edge may come near.

        None (cannot tell) when the snapping window spans more than _MAX_REACH cells,
        or the level has more than _MAX_DENSE_CELLS cells.
        """
        frame, shift = self.frame, self.frame.shift(level)
        side = frame.cell * (1 << shift)
        reach_x = math.ceil((self.exact.window[0] + _MARGIN_DEG) / side)
        reach_y = math.ceil((self.exact.window[1] + _MARGIN_DEG) / side)
        wide, high = frame.nx >> shift, frame.ny >> shift
        if (
            self.exact.tolerance_m == 0
            or max(reach_x, reach_y) > _MAX_REACH
            or wide * high > _MAX_DENSE_CELLS
        ):
            return None
        touched = np.zeros((high + 2 * reach_y, wide + 2 * reach_x), dtype=bool)
        touched[(self.touched_rows >> shift) + reach_y, (self.touched_cols >> shift) + reach_x] = (
            True
        )
        return _Near(touched, reach_y, reach_x)


@dataclass(frozen=True)
class _Near:
    """A level's touched cells, padded by ``reach`` cells on every side.

    An edge point within the snapping window of a cell lies in a touched cell of the
    same level at most ``reach`` cells away (``reach`` = window / cell side, rounded up).
    """

    touched: npt.NDArray[np.bool_]
    reach_y: int
    reach_x: int

    def cells(self, rows: Ints, cols: Ints) -> npt.NDArray[np.bool_]:
        """Whether an edge may come within the snapping window of each cell."""
        near = np.zeros(len(rows), dtype=bool)
        for dr in range(2 * self.reach_y + 1):
            for dc in range(2 * self.reach_x + 1):
                near |= self.touched[rows + dr, cols + dc]
        return near


def _unique(values: Ints) -> Ints:
    """Sorted distinct values (numpy's hash-based unique is much slower on millions)."""
    ordered: Ints = np.sort(values)
    distinct = np.ones(len(ordered), dtype=bool)
    distinct[1:] = ordered[1:] != ordered[:-1]
    return ordered[distinct]


def _children(
    rows: npt.NDArray[np.int32], cols: npt.NDArray[np.int32]
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """The 4 x 4 children of each cell, cell by cell, row-major within a cell."""
    down = np.repeat(np.arange(_BRANCH, dtype=np.int32), _BRANCH)
    across = np.tile(np.arange(_BRANCH, dtype=np.int32), _BRANCH)
    return (
        ((rows << _BRANCH_BITS)[:, None] + down).ravel(),
        ((cols << _BRANCH_BITS)[:, None] + across).ravel(),
    )


class CommuneIndex:
    """Communes prepared for fast assignment; the rules are in the module docstring."""

    def __init__(self, exact: _Exact, grid: _Grid) -> None:
        self._exact = exact
        self._exact_copies: list[_Exact] = []
        self._grid = grid

    @classmethod
    def build(
        cls,
        geometries: Sequence[shapely.Geometry] | npt.NDArray[np.object_],
        *,
        tolerance_m: float = 100.0,
    ) -> CommuneIndex:
        """Check the communes and build the grid (valid (multi)polygons, WGS84 degrees)."""
        geoms = _polygons(geometries)
        edges = _Edges.of(geoms)
        exact = _Exact(geoms, edges, _tolerance(tolerance_m))
        return cls(exact, _GridBuilder(edges, exact, _Frame.around(geoms, exact.window)).build())

    @property
    def tolerance_m(self) -> float:
        return self._exact.tolerance_m

    def save(self, path: Path) -> None:
        """Write the built grid and edges to ``path`` (``.npz``), atomically.

        :meth:`load` then skips the build, which costs about a second for the
        national boundaries. The file holds no geometry: it is valid only with the
        same geometries, in the same order, as the index was built from.
        """
        frame, edges, grid = self._grid.frame, self._exact.edges, self._grid
        arrays = {
            "format": np.array([_CACHE_FORMAT]),
            "tolerance_m": np.array([self._exact.tolerance_m]),
            "communes": np.array([len(self._exact.geoms)]),
            "frame": np.array([frame.x0, frame.y0, frame.cell]),
            "shape": np.array([frame.levels, frame.nx, frame.ny, len(grid.blocks)]),
            "root": grid.root,
            **({} if grid.dense is None else {"dense": grid.dense}),
            **{f"block{i}": block for i, block in enumerate(grid.blocks)},
            **{f"edge_{name}": getattr(edges, name) for name in _EDGE_FIELDS},
        }
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        with partial.open("wb") as out:
            np.savez(out, allow_pickle=False, **arrays)
        os.replace(partial, path)

    @classmethod
    def load(
        cls,
        path: Path,
        geometries: Sequence[shapely.Geometry] | npt.NDArray[np.object_],
        *,
        tolerance_m: float,
    ) -> CommuneIndex | None:
        """The index saved at ``path`` for these geometries, or None if it does not fit.

        None when the file is missing, unreadable, of another format version, or made
        for another tolerance or number of communes: the caller then builds anew.
        """
        geoms = np.asarray(geometries, dtype=object)
        try:
            arrays = _mapped_npz(path)
            if (
                arrays["format"][0] != _CACHE_FORMAT
                or arrays["tolerance_m"][0] != _tolerance(tolerance_m)
                or arrays["communes"][0] != len(geoms)
            ):
                return None
            levels, nx, ny, depth = (int(v) for v in arrays["shape"])
            x0, y0, cell = (float(v) for v in arrays["frame"])
            blocks = [arrays[f"block{i}"] for i in range(depth)]
            edges = _Edges(*(arrays[f"edge_{name}"] for name in _EDGE_FIELDS))
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
            return None
        frame = _Frame(x0, y0, cell, levels, nx, ny)
        exact = _Exact(geoms, edges, float(arrays["tolerance_m"][0]))
        dense = arrays.get("dense")
        if (dense is None) != (_dense_level(frame, depth) == 0):
            return None  # pragma: no cover - a file of this format always agrees
        return cls(exact, _Grid(frame, arrays["root"], blocks, dense))

    def assign(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> Assignment:
        """Assign every point; the same result as :func:`assign_reference`, faster."""
        x, y, usable = _points(lon, lat)
        result = _outside(len(x))

        def look(start: int) -> Ints:
            """Grid values of a chunk; the points left to the exact test (positions)."""
            part = slice(start, min(start + size, len(x)))
            value = self._lookup(x[part], y[part], usable[part])
            inside = value >= 0
            result.index[part][inside] = value[inside]
            result.how[part][inside] = INSIDE
            result.distance_m[part][inside] = 0.0
            return start + np.flatnonzero(value == _EXACT)

        def test(exact: _Exact, todo: Ints) -> None:
            _fill(result, todo, *exact.assign(x[todo], y[todo]))

        # NumPy, shapely and pyproj release the GIL in their loops: chunks run on every
        # core at once, each writing its own part of the result. GEOS's prepared
        # geometries may not be used by two threads at once: each thread of exact tests
        # has its own copy of the communes (:meth:`_copies`).
        cores = os.cpu_count() or 1
        size = min(_CHUNK, max(_THREAD_POINTS, -(-len(x) // cores)))
        starts = range(0, len(x), size)
        workers = min(len(starts), cores)
        if workers <= 1:
            for start in starts:
                test(self._exact, look(start))
            return result
        with ThreadPoolExecutor(max_workers=workers) as pool:
            todo = np.concatenate(list(pool.map(look, starts)))
            # Small pieces, taken in turn: the first thread starts at once with this
            # index's tester while the others' copies are made.
            pieces = iter(np.array_split(todo, max(workers * 8, -(-len(todo) // _CHUNK))))
            taking = threading.Lock()

            def tests(exact: _Exact) -> None:
                while True:
                    with taking:
                        piece = next(pieces, None)
                    if piece is None:
                        return
                    test(exact, piece)

            running = [pool.submit(tests, self._exact)]
            running += [pool.submit(tests, exact) for exact in self._copies(workers)[1:]]
            for done in running:
                done.result()
        return result

    def _copies(self, count: int) -> list[_Exact]:
        """``count`` exact testers, one per thread (the first is this index's)."""
        while len(self._exact_copies) < count - 1:
            self._exact_copies.append(self._exact.twin())
        return [self._exact, *self._exact_copies[: count - 1]]

    def _lookup(self, x: Floats, y: Floats, usable: npt.NDArray[np.bool_]) -> npt.NDArray[np.int32]:
        """Grid value per point: a commune's position, -1 (outside) or -2 (exact test)."""
        value = self._grid.lookup(x, y)
        value[~usable] = _NONE
        return value
