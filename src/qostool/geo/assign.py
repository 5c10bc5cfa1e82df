"""Assign test points to communes: exactly one commune per point, or outside.

Rules (also in ``docs/methodology.md``):

1. A point inside a commune or on its border belongs to it ("covers"); where
   several communes cover it (a shared border, an overlap sliver), the one with
   the lowest position wins. Callers sort communes by code, so the lowest code
   wins.
2. A point covered by no commune but within ``tolerance_m`` metres of one is
   snapped to the nearest (ties: lowest position). The distance is from the
   point to the nearest point of the commune in longitude/latitude, measured
   on the WGS84 ellipsoid.
3. Any other point, and any point with missing coordinates, is outside.

Speed: a grid over the communes answers most points with one array lookup.
A cell is answered by lookup only when one commune alone touches it and holds
the whole (slightly enlarged) cell in its interior, or when no commune comes
within the tolerance of it; every other point goes through the exact method,
:func:`assign_reference`. Both therefore give the same result for every point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import shapely
from pyproj import Geod

INSIDE: Final = 0
SNAPPED: Final = 1
OUTSIDE: Final = 2

_TARGET_CELLS: Final = 16_000_000
_BLOCK: Final = 16
"""Cells per side of a block, the unit for which candidate communes are listed."""
_MIN_CELL: Final = 2e-4
"""Degrees (about 20 m): finer cells would not send fewer points to the exact method."""
_CHUNK: Final = 1_000_000
_SAFE_OUTSIDE: Final = -1
_EXACT: Final = -2
_GEOD: Final = Geod(ellps="WGS84")


@dataclass(frozen=True)
class Assignment:
    """Where each point went."""

    index: np.ndarray
    """int32 position of the commune; -1 outside."""
    how: np.ndarray
    """uint8: INSIDE, SNAPPED or OUTSIDE."""
    distance_m: np.ndarray
    """0 inside, metres to the commune when snapped, NaN outside."""


def _degrees(tolerance_m: float, max_abs_lat: float) -> float:
    """A distance in degrees at least as large as ``tolerance_m`` anywhere up to that latitude."""
    if tolerance_m <= 0:
        return 0.0
    cos = math.cos(math.radians(min(max_abs_lat + 1.0, 89.0)))
    return tolerance_m / (110_000.0 * cos)


class _Exact:
    """The plain method: covering communes, then the nearest within the tolerance."""

    def __init__(self, geometries: np.ndarray, tolerance_m: float) -> None:
        self.geometries = geometries
        shapely.prepare(geometries)
        self.tree = shapely.STRtree(geometries)
        self.tolerance_m = tolerance_m
        bounds = shapely.total_bounds(geometries)
        self.tolerance_deg = _degrees(tolerance_m, float(np.abs(bounds[[1, 3]]).max()))

    def assign(self, lon: np.ndarray, lat: np.ndarray) -> Assignment:
        n = len(lon)
        index = np.full(n, -1, dtype=np.int32)
        how = np.full(n, OUTSIDE, dtype=np.uint8)
        distance = np.full(n, np.nan)
        valid = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        rows = np.flatnonzero(valid)
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            self._chunk(chunk, lon[chunk], lat[chunk], index=index, how=how, distance=distance)
        return Assignment(index, how, distance)

    def _chunk(
        self,
        rows: np.ndarray,
        lon: np.ndarray,
        lat: np.ndarray,
        *,
        index: np.ndarray,
        how: np.ndarray,
        distance: np.ndarray,
    ) -> None:
        points = shapely.points(lon, lat)
        point_idx, geom_idx = self.tree.query(points, predicate="intersects")
        best = np.full(len(rows), np.iinfo(np.int32).max, dtype=np.int64)
        np.minimum.at(best, point_idx, geom_idx)
        covered = best < np.iinfo(np.int32).max
        index[rows[covered]] = best[covered]
        how[rows[covered]] = INSIDE
        distance[rows[covered]] = 0.0
        if self.tolerance_m <= 0 or covered.all():
            return
        loose = np.flatnonzero(~covered)
        near_point, near_geom = self.tree.query(
            points[loose], predicate="dwithin", distance=self.tolerance_deg
        )
        if len(near_point) == 0:
            return
        lines = shapely.shortest_line(self.geometries[near_geom], points[loose][near_point])
        coords = shapely.get_coordinates(lines).reshape(-1, 2, 2)
        # coords[:, 0] is on the commune, coords[:, 1] is the point.
        _, _, metres = _GEOD.inv(coords[:, 1, 0], coords[:, 1, 1], coords[:, 0, 0], coords[:, 0, 1])
        metres = np.asarray(metres, dtype=np.float64)
        ok = metres <= self.tolerance_m
        near_point, near_geom, metres = near_point[ok], near_geom[ok], metres[ok]
        # Nearest first, then the lowest position: the first row of each point wins.
        order = np.lexsort((near_geom, metres, near_point))
        near_point, near_geom, metres = near_point[order], near_geom[order], metres[order]
        first = np.ones(len(near_point), dtype=bool)
        first[1:] = near_point[1:] != near_point[:-1]
        target = rows[loose[near_point[first]]]
        index[target] = near_geom[first]
        how[target] = SNAPPED
        distance[target] = metres[first]


def assign_reference(
    geometries: Sequence[shapely.Geometry] | np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    tolerance_m: float = 100.0,
) -> Assignment:
    """The plain, obviously-correct method: the oracle for tests and benchmarks."""
    exact = _Exact(np.asarray(geometries, dtype=object), tolerance_m)
    return exact.assign(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))


class CommuneIndex:
    """Communes prepared for fast assignment (grid lookup + exact method near borders)."""

    def __init__(
        self,
        exact: _Exact,
        origin: tuple[float, float],
        cell: float,
        cells: np.ndarray,
        candidates: tuple[np.ndarray, np.ndarray],
    ) -> None:
        self._exact = exact
        self._x0, self._y0 = origin
        self._cell = cell
        self._cells = cells
        """int32 per cell: commune position, _SAFE_OUTSIDE, or _EXACT."""
        self._block_start, self._block_polys = candidates
        """Per block of _BLOCK x _BLOCK cells: the communes touching it (CSR arrays)."""

    @classmethod
    def build(
        cls, geometries: Sequence[shapely.Geometry] | np.ndarray, *, tolerance_m: float = 100.0
    ) -> CommuneIndex:
        """Rasterise the communes' borders and label the border-free areas between them.

        Cells a border passes through, and their 8 neighbours, need the exact
        method. Every other cell lies in a connected area that no border
        crosses, so one exact test of one point per area answers all its
        cells. Outside every commune, cells within the tolerance of a border
        need the exact method too (snapping).
        """
        from scipy import ndimage

        exact = _Exact(np.asarray(geometries, dtype=object), tolerance_m)
        x0, y0, x1, y1 = shapely.total_bounds(exact.geometries)
        cell = max(math.sqrt((x1 - x0) * (y1 - y0) / _TARGET_CELLS), _MIN_CELL)
        margin = exact.tolerance_deg + 3 * cell
        x0, y0, x1, y1 = x0 - margin, y0 - margin, x1 + margin, y1 + margin
        nx, ny = math.ceil((x1 - x0) / cell), math.ceil((y1 - y0) / cell)
        borders = shapely.segmentize(shapely.boundary(exact.geometries), cell / 2)
        xy = shapely.get_coordinates(borders)
        border = np.zeros((ny, nx), dtype=bool)
        border[
            ((xy[:, 1] - y0) // cell).astype(np.int64), ((xy[:, 0] - x0) // cell).astype(np.int64)
        ] = True
        near = ndimage.binary_dilation(border, structure=np.ones((3, 3), dtype=bool))
        labels, count = ndimage.label(~near)
        # Any one cell of each area will do (the last written wins; which one does not matter).
        flat = labels.ravel()
        first = np.empty(count + 1, dtype=np.int64)
        first[flat] = np.arange(flat.size)
        first = first[1:]  # label 0 is the border cells
        row, col = np.divmod(first, nx)
        owner = _Exact(exact.geometries, 0.0).assign(
            x0 + (col + 0.5) * cell, y0 + (row + 0.5) * cell
        )
        answer = np.concatenate([[_EXACT], np.where(owner.index >= 0, owner.index, _SAFE_OUTSIDE)])
        cells = answer[labels].astype(np.int32)
        if exact.tolerance_deg > 0:
            reach = math.ceil(exact.tolerance_deg / cell) + 1
            band = ndimage.binary_dilation(
                border, structure=np.ones((3, 3), dtype=bool), iterations=reach
            )
            cells[band & (cells == _SAFE_OUTSIDE)] = _EXACT
        return cls(exact, (x0, y0), cell, cells, _block_candidates(exact, (x0, y0), cell, cells))

    @property
    def exact_share(self) -> float:
        """Share of grid cells that need the exact method (a measure of border density)."""
        return float((self._cells == _EXACT).mean())

    def assign(self, lon: np.ndarray, lat: np.ndarray) -> Assignment:
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        n = len(lon)
        ny, nx = self._cells.shape
        with np.errstate(invalid="ignore"):
            ix = np.floor((lon - self._x0) / self._cell)
            iy = np.floor((lat - self._y0) / self._cell)
        in_grid = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)  # False for NaN
        state = np.full(n, _SAFE_OUTSIDE, dtype=np.int32)
        state[in_grid] = self._cells[iy[in_grid].astype(np.int64), ix[in_grid].astype(np.int64)]
        index = np.where(state >= 0, state, -1).astype(np.int32)
        how = np.where(state >= 0, INSIDE, OUTSIDE).astype(np.uint8)
        distance = np.where(state >= 0, 0.0, np.nan)
        todo = np.flatnonzero(state == _EXACT)
        if len(todo):
            block = (iy[todo].astype(np.int64) // _BLOCK) * self._blocks_x + (
                ix[todo].astype(np.int64) // _BLOCK
            )
            covering = self._covering(lon[todo], lat[todo], block)
            hit = covering >= 0
            index[todo[hit]], how[todo[hit]], distance[todo[hit]] = covering[hit], INSIDE, 0.0
            rest = todo[~hit]
            if len(rest) and self._exact.tolerance_m > 0:
                part = self._exact.assign(lon[rest], lat[rest])
                index[rest], how[rest], distance[rest] = part.index, part.how, part.distance_m
        return Assignment(index, how, distance)

    @property
    def _blocks_x(self) -> int:
        return int(-(-self._cells.shape[1] // _BLOCK))

    def _covering(self, lon: np.ndarray, lat: np.ndarray, block: np.ndarray) -> np.ndarray:
        """Lowest position of a commune covering each point (-1: none), from block candidates."""
        start, stop = self._block_start[block], self._block_start[block + 1]
        counts = stop - start
        point = np.repeat(np.arange(len(lon)), counts)
        offset = np.arange(len(point)) - np.repeat(np.cumsum(counts) - counts, counts)
        poly = self._block_polys[np.repeat(start, counts) + offset]
        order = np.argsort(poly, kind="stable")
        point, poly = point[order], poly[order]
        bounds = np.flatnonzero(np.diff(poly)) + 1
        hits = np.zeros(len(point), dtype=bool)
        for lo, hi in zip(
            np.concatenate([[0], bounds]), np.concatenate([bounds, [len(poly)]]), strict=True
        ):
            if hi > lo:
                at = point[lo:hi]
                hits[lo:hi] = shapely.intersects_xy(
                    self._exact.geometries[poly[lo]], lon[at], lat[at]
                )
        best = np.full(len(lon), np.iinfo(np.int32).max, dtype=np.int64)
        np.minimum.at(best, point[hits], poly[hits])
        return np.where(best < np.iinfo(np.int32).max, best, -1).astype(np.int32)


def _block_candidates(
    exact: _Exact, origin: tuple[float, float], cell: float, cells: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each block of cells holding an exact cell: the communes whose shape touches it."""
    ny, nx = cells.shape
    by, bx = -(-ny // _BLOCK), -(-nx // _BLOCK)
    padded = np.zeros((by * _BLOCK, bx * _BLOCK), dtype=bool)
    padded[:ny, :nx] = cells == _EXACT
    needed = np.flatnonzero(padded.reshape(by, _BLOCK, bx, _BLOCK).any(axis=(1, 3)))
    row, col = np.divmod(needed, bx)
    size = cell * _BLOCK
    left, bottom = origin[0] + col * size, origin[1] + row * size
    pad = 2 * cell  # generous: a point's cell index may round to a neighbouring cell
    boxes = shapely.box(left - pad, bottom - pad, left + size + pad, bottom + size + pad)
    box_idx, poly = exact.tree.query(boxes, predicate="intersects")
    block = needed[box_idx]
    order = np.lexsort((poly, block))
    block, poly = block[order], poly[order]
    start = np.searchsorted(block, np.arange(by * bx + 1))
    return start.astype(np.int64), poly.astype(np.int32)
