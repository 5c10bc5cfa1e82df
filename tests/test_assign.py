"""Assigning points to communes: the grid equals the reference, and both follow the rules.

The reference (``assign_reference``) is the oracle for the grid; the rules themselves are
checked independently: GEOS "covered_by" (another predicate and code path than the
reference's), geodesic distances minimised along the edges with pyproj and scipy, and
hand-made communes with known answers.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from scipy.optimize import minimize_scalar
from shapely import MultiPolygon, Polygon, box

from qostool.geo import assign as assign_module
from qostool.geo.assign import (
    INSIDE,
    OUTSIDE,
    SNAPPED,
    Assignment,
    CommuneIndex,
    assign_reference,
)

GEOD = Geod(ellps="WGS84")
BOUNDARIES = "boundaries_2025"


def east(lon: float, lat: float, metres: float) -> float:
    """The longitude ``metres`` east of a point, along its parallel (to place gaps)."""
    lon2, _, _ = GEOD.fwd(lon, lat, 90.0, metres)
    return float(lon2)


# -- hand-made communes near Hà Nội (0.01° is about 1 km) -------------------------------

GAP_50 = east(105.82, 21.005, 50.0)  # F starts 50 m east of B: a gap narrower than 100 m
GAP_300 = east(105.82, 21.015, 300.0)  # G starts 300 m east of C: wider than 100 m
HAND = [
    box(105.805, 21.013, 105.806, 21.014),  # 0 E: an enclave inside C, lower than C
    box(105.80, 21.00, 105.8101, 21.01),  # 1 A: overlaps B by a 0.0001° sliver
    box(105.81, 21.00, 105.82, 21.01),  # 2 B
    box(105.80, 21.01, 105.82, 21.02),  # 3 C: above A and B (shared edges, shared vertex)
    box(GAP_50, 21.00, 105.83, 21.01),  # 4 F
    box(GAP_300, 21.01, 105.83, 21.02),  # 5 G: shares its south edge with F
    Polygon(  # 6 K: a hole, with the island of L inside it
        [(105.84, 21.00), (105.86, 21.00), (105.86, 21.02), (105.84, 21.02)],
        [[(105.845, 21.005), (105.855, 21.005), (105.855, 21.015), (105.845, 21.015)]],
    ),
    MultiPolygon(  # 7 L: an island in K's hole, and a square further east
        [box(105.849, 21.009, 105.851, 21.011), box(105.87, 21.00, 105.88, 21.01)]
    ),
]
HAND_ARRAY = np.asarray(HAND, dtype=object)


def both(
    geometries: list[shapely.Geometry] | np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    tolerance_m: float = 100.0,
) -> Assignment:
    """Assign with the grid and with the reference; check they agree exactly; return it."""
    fast = CommuneIndex.build(geometries, tolerance_m=tolerance_m).assign(lon, lat)
    reference = assign_reference(geometries, lon, lat, tolerance_m=tolerance_m)
    assert_same(fast, reference)
    assert_consistent(fast, tolerance_m)
    return fast


def assert_same(fast: Assignment, reference: Assignment) -> None:
    np.testing.assert_array_equal(fast.index, reference.index)
    np.testing.assert_array_equal(fast.how, reference.how)
    np.testing.assert_array_equal(fast.distance_m, reference.distance_m)  # NaN == NaN here


def assert_consistent(result: Assignment, tolerance_m: float) -> None:
    """index, how and distance tell the same story, in the documented dtypes."""
    assert result.index.dtype == np.int32
    assert result.how.dtype == np.uint8
    assert result.distance_m.dtype == np.float64
    inside, snapped, outside = (result.how == h for h in (INSIDE, SNAPPED, OUTSIDE))
    assert (inside | snapped | outside).all()
    assert (result.index[inside | snapped] >= 0).all()
    assert (result.index[outside] == -1).all()
    assert (result.distance_m[inside] == 0).all()
    assert np.isnan(result.distance_m[outside]).all()
    distance = result.distance_m[snapped]
    assert ((distance >= 0) & (distance <= tolerance_m)).all()
    assert tolerance_m > 0 or not snapped.any()


def lowest_covering(
    geometries: list[shapely.Geometry] | np.ndarray, lon: np.ndarray, lat: np.ndarray
) -> np.ndarray:
    """Per point, the lowest position whose geometry covers it, or -1 (GEOS "covered_by")."""
    tree = shapely.STRtree(np.asarray(geometries, dtype=object))
    point, position = tree.query(shapely.points(lon, lat), predicate="covered_by")
    lowest = np.full(len(lon), len(geometries))
    np.minimum.at(lowest, point, position)
    return np.where(lowest < len(geometries), lowest, -1)


def geodesic_to_boundary(geometry: shapely.Geometry, lon: float, lat: float) -> float:
    """Metres from a point to a geometry's boundary: pyproj's geodesic distance minimised
    with scipy along each edge (straight in lon/lat; one minimum along a short edge).

    Edges are tried nearest first (in degrees); the rest are skipped once their distance
    in degrees, at 99 % of the fewest metres per degree there, exceeds the best so far.
    """

    def metres(edge: np.ndarray, t: float) -> float:
        ax, ay, bx, by = edge
        return float(GEOD.inv(lon, lat, ax + t * (bx - ax), ay + t * (by - ay))[2])

    edges = np.concatenate([
        np.column_stack([xy[:-1], xy[1:]])
        for xy in map(shapely.get_coordinates, shapely.get_parts(shapely.boundary(geometry)))
    ])  # fmt: skip
    degrees = shapely.distance(
        shapely.linestrings(edges.reshape(-1, 2, 2)), shapely.Point(lon, lat)
    )
    per_degree = 0.99 * 110_574 * np.cos(np.radians(abs(lat) + 1))
    best = np.inf
    for i in np.argsort(degrees):
        if degrees[i] * per_degree > best:
            break
        found = minimize_scalar(
            lambda t, edge=edges[i]: metres(edge, t),
            bounds=(0.0, 1.0),
            method="bounded",
            options={"xatol": 1e-12},
        )
        best = min(best, float(found.fun), metres(edges[i], 0.0), metres(edges[i], 1.0))
    return best


# -- the rules, on hand-made communes ---------------------------------------------------


@pytest.mark.parametrize(
    ("lon", "lat", "index", "how"),
    [
        (105.805, 21.005, 1, INSIDE),  # inside A
        (105.8055, 21.0135, 0, INSIDE),  # inside the enclave E, which C covers too
        (105.807, 21.015, 3, INSIDE),  # inside C, off the enclave
        (105.805, 21.013, 0, INSIDE),  # E's corner, inside C
        (105.81, 21.005, 1, INSIDE),  # the A/B sliver: A is lower
        (105.8101, 21.005, 1, INSIDE),  # A's east edge, inside B
        (105.8101 + 1e-9, 21.005, 2, INSIDE),  # just east of it: B only
        (105.805, 21.01, 1, INSIDE),  # A/C shared edge
        (105.815, 21.01, 2, INSIDE),  # B/C shared edge
        (105.81, 21.01, 1, INSIDE),  # vertex shared by A, B and C
        (105.82, 21.01, 2, INSIDE),  # B's and C's common corner
        (105.80, 21.00, 1, INSIDE),  # A's outer corner
        (105.829, 21.01, 4, INSIDE),  # F/G shared edge: F is lower
        (105.842, 21.01, 6, INSIDE),  # K's solid part
        (105.845, 21.01, 6, INSIDE),  # on K's hole edge
        (105.85, 21.01, 7, INSIDE),  # L's island in K's hole
        (105.875, 21.005, 7, INSIDE),  # L's other part
        (105.82 + (GAP_50 - 105.82) / 3, 21.005, 2, SNAPPED),  # narrow gap, nearer B
        (105.82 + 2 * (GAP_50 - 105.82) / 3, 21.005, 4, SNAPPED),  # narrow gap, nearer F
        (east(105.82, 21.015, 60.0), 21.015, 3, SNAPPED),  # wide gap, 60 m from C
        (east(105.82, 21.015, 150.0), 21.015, -1, OUTSIDE),  # wide gap, 150 m from both
        (east(105.845, 21.01, 52.0), 21.01, 6, SNAPPED),  # in K's hole, near its edge
        (east(105.849, 21.01, -52.0), 21.01, 7, SNAPPED),  # in K's hole, near the island
        (105.847, 21.01, -1, OUTSIDE),  # in K's hole, 200 m from everything
        (106.5, 21.5, -1, OUTSIDE),  # far away
        (float("nan"), 21.005, -1, OUTSIDE),
        (105.805, float("nan"), -1, OUTSIDE),
        (float("inf"), 21.005, -1, OUTSIDE),
        (465.805, 21.005, -1, OUTSIDE),  # out of range (A's longitude plus 360°)
        (105.805, 91.0, -1, OUTSIDE),
    ],
)
def test_rules_on_hand_made_communes(lon: float, lat: float, index: int, how: int) -> None:
    result = both(HAND, np.array([lon]), np.array([lat]))
    assert (int(result.index[0]), int(result.how[0])) == (index, how)


@pytest.mark.parametrize(
    ("lon", "lat", "foot"),
    [
        (105.82 + (GAP_50 - 105.82) / 3, 21.005, (105.82, 21.005)),  # to B's east edge
        (east(105.82, 21.015, 60.0), 21.015, (105.82, 21.015)),  # to C's east edge
        (105.815, 21.0205, (105.815, 21.02)),  # north of C's north edge
        (east(105.80, 20.9995, -40.0), 20.9995, (105.80, 21.00)),  # beyond A's corner
    ],
)
def test_snapped_distance_is_geodesic(lon: float, lat: float, foot: tuple[float, float]) -> None:
    """The foot of the perpendicular (same latitude for a meridian edge, same longitude for
    a parallel one, the corner beyond a corner) is the nearest point: pyproj gives the
    distance independently."""
    result = both(HAND, np.array([lon]), np.array([lat]))
    assert result.how[0] == SNAPPED
    expected = GEOD.inv(lon, lat, *foot)[2]
    assert result.distance_m[0] == pytest.approx(expected, rel=1e-6)


def test_equidistant_point_snaps_to_the_lowest_position() -> None:
    """Binary-exact coordinates make the two distances exactly equal."""
    west, gap_east = box(105.5, 21.0, 105.75, 21.25), box(105.7578125, 21.0, 105.875, 21.25)
    lon, lat = np.array([105.75390625]), np.array([21.125])
    assert (
        GEOD.inv(lon[0], lat[0], 105.75, 21.125)[2]
        == GEOD.inv(lon[0], lat[0], 105.7578125, 21.125)[2]
    )
    for order in ([west, gap_east], [gap_east, west]):
        result = both(order, lon, lat, tolerance_m=500.0)
        assert (int(result.index[0]), int(result.how[0])) == (0, SNAPPED)


@pytest.mark.parametrize("seed", range(5))
def test_each_group_s_nearest_edge_is_the_lowest_of_the_nearest(seed: int) -> None:
    """The nearest edge per (point, commune) group, against sorting by group, distance and
    edge at once; distances repeat (ties) and groups come in any order."""
    rng = np.random.default_rng(seed)
    pairs = 5_000
    group = rng.integers(0, 400, pairs)
    distance = rng.integers(0, 6, pairs).astype(np.float64) / 4  # many exact ties
    edge = rng.permutation(50_000)[:pairs]  # a group holds an edge once
    order = np.lexsort((edge, distance, group))
    run_starts = np.concatenate([[True], group[order][1:] != group[order][:-1]])
    expected = order[run_starts]
    found = assign_module._nearest_of_each(group, distance, edge)
    assert found.tolist() == expected.tolist()
    empty = np.zeros(0, dtype=np.int64)
    assert assign_module._nearest_of_each(empty, empty.astype(np.float64), empty).size == 0


def test_zero_tolerance_disables_snapping() -> None:
    lon = np.array([105.82 + (GAP_50 - 105.82) / 3, 105.805])
    lat = np.array([21.005, 21.005])
    result = both(HAND, lon, lat, tolerance_m=0.0)
    assert result.how.tolist() == [OUTSIDE, INSIDE]


def test_hand_made_random_edges_vertices_and_grid_lines() -> None:
    """Random points, and points exactly on edges, vertices and the grid's cell edges."""
    rng = np.random.default_rng(7)
    vertices = shapely.get_coordinates(HAND_ARRAY)
    frame = CommuneIndex.build(HAND)._grid.frame
    columns = frame.x0 + rng.integers(0, frame.nx, 3000) * frame.cell
    rows = frame.y0 + rng.integers(0, frame.ny, 3000) * frame.cell
    uniform_x, uniform_y = (
        rng.uniform(105.795, 105.885, 20_000),
        rng.uniform(20.995, 21.025, 20_000),
    )
    lon = np.concatenate([
        uniform_x,
        vertices[:, 0],
        rng.choice(vertices[:, 0], 5000), uniform_x[:5000],  # on vertical/horizontal edge lines
        columns, columns, rng.uniform(105.795, 105.885, 3000),  # on grid lines and corners
    ])  # fmt: skip
    lat = np.concatenate([
        uniform_y,
        vertices[:, 1],
        uniform_y[:5000], rng.choice(vertices[:, 1], 5000),
        rows, rng.uniform(20.995, 21.025, 3000), rows,
    ])  # fmt: skip
    for tolerance_m in (0.0, 100.0, 400.0):
        result = both(HAND, lon, lat, tolerance_m)
        covering = lowest_covering(HAND, lon, lat)
        assert np.array_equal(np.where(result.how == INSIDE, result.index, -1), covering)
        assert {INSIDE, OUTSIDE} <= set(result.how.tolist())
        assert tolerance_m == 0 or SNAPPED in result.how


@pytest.mark.parametrize("cores", [1, 3])
def test_chunks_give_the_same_answer(monkeypatch: pytest.MonkeyPatch, cores: int) -> None:
    """Chunks, on one thread or several (each exact tester with its own geometries)."""
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(105.795, 105.885, 5000), rng.uniform(20.995, 21.025, 5000)
    whole = CommuneIndex.build(HAND).assign(lon, lat)
    monkeypatch.setattr(assign_module, "_CHUNK", 777)
    monkeypatch.setattr(assign_module.os, "cpu_count", lambda: cores)
    index = CommuneIndex.build(HAND)
    assert_same(index.assign(lon, lat), whole)
    assert len(index._exact_copies) == (cores - 1)
    # Each thread's tester has geometries of its own (GEOS's prepared ones are not
    # thread-safe), the same to the last bit.
    for copy in index._exact_copies:
        assert not {id(g) for g in copy.geoms} & {id(g) for g in index._exact.geoms}
        assert shapely.to_wkb(copy.geoms).tolist() == shapely.to_wkb(index._exact.geoms).tolist()


def test_a_saved_index_loads_mapped_and_assigns_the_same(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    lon, lat = rng.uniform(105.795, 105.885, 5000), rng.uniform(20.995, 21.025, 5000)
    built = CommuneIndex.build(HAND_ARRAY, tolerance_m=50)
    path = tmp_path / "grid.npz"
    built.save(path)
    loaded = CommuneIndex.load(path, HAND_ARRAY, tolerance_m=50)
    assert loaded is not None
    assert_same(loaded.assign(lon, lat), built.assign(lon, lat))
    # The mapped arrays are np.load's, value for value, type for type.
    mapped = assign_module._mapped_npz(path)
    with np.load(path, allow_pickle=False) as data:
        assert sorted(mapped) == sorted(data.files)
        for name in data.files:
            assert mapped[name].dtype == data[name].dtype, name
            assert np.array_equal(mapped[name], data[name]), name


def test_the_dense_level_s_table_gives_the_walk_from_the_root(tmp_path: Path) -> None:
    """Lookups start from the table of a level's cells: the values of walking there from
    the root, for every point, whether the table was computed or read from a file."""
    rng = np.random.default_rng(12)
    lon, lat = rng.uniform(105.79, 105.89, 50_000), rng.uniform(20.99, 21.03, 50_000)
    built = CommuneIndex.build(HAND_ARRAY, tolerance_m=50)
    grid = built._grid
    assert grid.dense_level >= 1 and grid.dense is not None
    path = tmp_path / "grid.npz"
    built.save(path)
    loaded = CommuneIndex.load(path, HAND_ARRAY, tolerance_m=50)
    assert loaded is not None and isinstance(loaded._grid.dense, np.memmap)
    expected = grid.lookup(lon, lat)
    grid.dense = None  # from the root, level by level
    assert np.array_equal(grid.lookup(lon, lat), expected)
    assert np.array_equal(loaded._grid.lookup(lon, lat), expected)
    assert set(np.unique(expected)) >= {assign_module._NONE, assign_module._EXACT, 0, 1}


def test_mapped_npz_reads_every_shape_and_refuses_compressed_files(tmp_path: Path) -> None:
    arrays = {
        "scalar": np.array(7, dtype=np.int64),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "fortran": np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4)),
        "flags": np.array([True, False, True]),
    }
    plain, packed = tmp_path / "plain.npz", tmp_path / "packed.npz"
    np.savez(plain, **arrays)
    np.savez_compressed(packed, **arrays)
    mapped = assign_module._mapped_npz(plain)
    for name, array in arrays.items():
        assert mapped[name].shape == array.shape, name
        assert mapped[name].dtype == array.dtype, name
        assert np.array_equal(mapped[name], array), name
    with pytest.raises(ValueError, match="not a stored"):
        assign_module._mapped_npz(packed)


def test_a_saved_index_that_does_not_fit_is_not_used(tmp_path: Path) -> None:
    """None (so the caller builds anew) for another tolerance, other communes, a damaged,
    compressed or missing file."""
    path = tmp_path / "grid.npz"
    CommuneIndex.build(HAND_ARRAY, tolerance_m=50).save(path)
    assert CommuneIndex.load(path, HAND_ARRAY, tolerance_m=100) is None
    assert CommuneIndex.load(path, HAND_ARRAY[:-1], tolerance_m=50) is None
    with np.load(path, allow_pickle=False) as data:
        np.savez_compressed(tmp_path / "packed.npz", **{n: data[n] for n in data.files})
    assert CommuneIndex.load(tmp_path / "packed.npz", HAND_ARRAY, tolerance_m=50) is None
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert CommuneIndex.load(damaged, HAND_ARRAY, tolerance_m=50) is None
    assert CommuneIndex.load(tmp_path / "missing.npz", HAND_ARRAY, tolerance_m=50) is None


def test_empty_and_list_inputs() -> None:
    index = CommuneIndex.build(HAND_ARRAY)
    assert len(index.assign(np.array([]), np.array([])).index) == 0
    assert index.assign([105.805], [21.005]).index.tolist() == [1]


@pytest.mark.parametrize(
    ("geometries", "message"),
    [
        ([], "non-empty"),
        ([shapely.Point(105, 21)], "Polygon or MultiPolygon"),
        ([None], "Polygon or MultiPolygon"),
        ([Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])], "invalid geometries at position 0"),
        ([Polygon()], "every geometry is empty"),
        ([box(300, 10, 301, 11)], "longitude/latitude"),
        ([box(105, 88, 106, 89)], "longitude/latitude"),
    ],
)
def test_unusable_geometries_are_refused(geometries: list[shapely.Geometry], message: str) -> None:
    for call in (
        lambda: CommuneIndex.build(geometries),
        lambda: assign_reference(geometries, np.array([1.0]), np.array([1.0])),
    ):
        with pytest.raises(ValueError, match=message):
            call()


def test_bad_points_and_tolerances_are_refused() -> None:
    with pytest.raises(ValueError, match="1-D arrays of one length"):
        CommuneIndex.build(HAND).assign(np.zeros(3), np.zeros(2))
    for tolerance in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="tolerance_m"):
            CommuneIndex.build(HAND, tolerance_m=tolerance)
    with pytest.raises(ValueError, match="beyond"):
        CommuneIndex.build([box(105, 84, 106, 85)], tolerance_m=1_000_000.0)


# -- property-based: random small communes and points ----------------------------------

STEP = 2.0**-10  # about 100 m; coordinates on this lattice also lie on the grid's cell edges
LON0, LAT0 = 105.75, 21.0


def lattice(i: float, j: float) -> tuple[float, float]:
    return LON0 + i * STEP, LAT0 + j * STEP


@st.composite
def lattice_commune(draw: st.DrawFn) -> shapely.Geometry:
    """A box, a box with a hole, two boxes, or a convex hull, on the lattice."""
    kind = draw(st.sampled_from(["box", "holed", "two", "hull"]))
    i, j = draw(st.integers(0, 24)), draw(st.integers(0, 24))
    w, h = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    outer = box(*lattice(i, j), *lattice(i + w, j + h))
    if kind == "holed" and w >= 3 and h >= 3:
        return outer.difference(box(*lattice(i + 1, j + 1), *lattice(i + w - 1, j + h - 1)))
    if kind == "two":
        k, m = draw(st.integers(0, 30)), draw(st.integers(0, 30))
        return shapely.union(outer, box(*lattice(k, m), *lattice(k + 2, m + 1)))
    if kind == "hull":
        corners = draw(
            st.lists(st.tuples(st.integers(0, 32), st.integers(0, 32)), min_size=3, max_size=6)
        )
        hull = shapely.convex_hull(shapely.multipoints([lattice(*c) for c in corners]))
        if isinstance(hull, Polygon):
            return hull
    return outer


@st.composite
def float_commune(draw: st.DrawFn) -> shapely.Geometry:
    """A convex hull of points anywhere in a 0.03° square (no lattice)."""
    coordinate = st.tuples(
        st.floats(LON0, LON0 + 0.03, allow_nan=False), st.floats(LAT0, LAT0 + 0.03, allow_nan=False)
    )
    corners = draw(st.lists(coordinate, min_size=3, max_size=7))
    hull = shapely.convex_hull(shapely.multipoints(corners))
    if isinstance(hull, Polygon) and hull.area > 1e-9:
        return hull
    x, y = corners[0]
    return box(x, y, x + 0.003, y + 0.002)


lattice_points = st.lists(
    st.tuples(st.integers(-8, 72), st.integers(-8, 72)).map(
        lambda ij: lattice(ij[0] / 2, ij[1] / 2)
    ),
    min_size=1,
    max_size=60,
)
float_points = st.lists(
    st.tuples(
        st.floats(LON0 - 0.005, LON0 + 0.04, allow_nan=False),
        st.floats(LAT0 - 0.005, LAT0 + 0.04, allow_nan=False),
    ),
    min_size=1,
    max_size=60,
)
tolerances = st.sampled_from([0.0, 30.0, 100.0, 250.0])


def check_properties(
    communes: list[shapely.Geometry], xy: list[tuple[float, float]], tolerance_m: float
) -> None:
    lon, lat = np.array([p[0] for p in xy]), np.array([p[1] for p in xy])
    rng = np.random.default_rng(len(xy))
    lon = np.concatenate([lon, rng.uniform(LON0 - 0.005, LON0 + 0.04, 400)])
    lat = np.concatenate([lat, rng.uniform(LAT0 - 0.005, LAT0 + 0.04, 400)])
    result = both(communes, lon, lat, tolerance_m)
    covering = lowest_covering(communes, lon, lat)
    assert np.array_equal(np.where(result.how == INSIDE, result.index, -1), covering)
    # The nearest point in degrees is an upper bound of the distance to the commune.
    snapped = np.flatnonzero(result.how == SNAPPED)
    geoms = np.asarray(communes, dtype=object)[result.index[snapped]]
    near = shapely.get_coordinates(
        shapely.shortest_line(geoms, shapely.points(lon[snapped], lat[snapped]))
    )[::2]
    upper = GEOD.inv(lon[snapped], lat[snapped], near[:, 0], near[:, 1])[2]
    assert (result.distance_m[snapped] <= upper * (1 + 1e-4) + 1e-9).all()


@pytest.mark.parametrize(
    ("communes", "points", "examples"),
    [(lattice_commune(), lattice_points, 60), (float_commune(), float_points, 40)],
    ids=["lattice", "random"],
)
def test_grid_equals_reference(
    communes: st.SearchStrategy[shapely.Geometry],
    points: st.SearchStrategy[list[tuple[float, float]]],
    examples: int,
) -> None:
    @settings(max_examples=examples, deadline=None)
    @given(st.lists(communes, min_size=1, max_size=6), points, tolerances)
    def check(
        geoms: list[shapely.Geometry], xy: list[tuple[float, float]], tolerance_m: float
    ) -> None:
        check_properties(geoms, xy, tolerance_m)

    check()


# -- the real 2025 boundaries -------------------------------------------------------------


def communes_of(shared_data: Path, name: str) -> np.ndarray:
    frame = gpd.read_file(shared_data / BOUNDARIES / name).sort_values("id", kind="stable")
    return np.asarray(frame.geometry.values, dtype=object)


def boundary_points(
    geoms: np.ndarray, rng: np.random.Generator, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Points on the boundaries: vertices, and interpolated along random edges' rings."""
    lines = shapely.get_parts(shapely.boundary(geoms))
    picked = rng.choice(lines, n)
    on = shapely.line_interpolate_point(picked, rng.uniform(0, 1, n), normalized=True)
    xy = np.concatenate([shapely.get_coordinates(on), shapely.get_coordinates(geoms)])
    return xy[:, 0], xy[:, 1]


def overlap_points(geoms: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points inside the overlap slivers between neighbours: points near the boundaries
    that two communes cover."""
    x, y = boundary_points(geoms, rng, 100_000)
    x, y = x + rng.uniform(-5e-4, 5e-4, len(x)), y + rng.uniform(-5e-4, 5e-4, len(y))
    points = shapely.points(x, y)
    point, position = shapely.STRtree(geoms).query(points)
    shapely.prepare(geoms)
    covered = shapely.covers(geoms[position], points[point])
    twice = np.bincount(point[covered], minlength=len(x)) >= 2
    assert twice.sum() > 100
    return x[twice], y[twice]


def test_lai_chau_grid_equals_reference(shared_data: Path) -> None:
    geoms = communes_of(shared_data, "vn2025_communes_lai_chau.geojson")
    assert len(geoms) == 38
    rng = np.random.default_rng(12)
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    index = CommuneIndex.build(geoms)
    frame = index._grid.frame
    on_x, on_y = boundary_points(geoms, rng, 20_000)
    sliver_x, sliver_y = overlap_points(geoms, rng)
    grid_x = frame.x0 + rng.integers(0, frame.nx, 20_000) * frame.cell
    grid_y = frame.y0 + rng.integers(0, frame.ny, 20_000) * frame.cell
    lon = np.concatenate(
        [rng.uniform(xmin - 0.01, xmax + 0.01, 200_000), on_x, sliver_x, grid_x, on_x[:5000]]
    )
    lat = np.concatenate(
        [rng.uniform(ymin - 0.01, ymax + 0.01, 200_000), on_y, sliver_y, grid_y, grid_y[:5000]]
    )
    fast = index.assign(lon, lat)
    assert_same(fast, assign_reference(geoms, lon, lat))
    assert_consistent(fast, 100.0)
    assert {INSIDE, SNAPPED, OUTSIDE} <= set(fast.how.tolist())
    # Every sliver point is covered by two communes: the lower one wins.
    first = 200_000 + len(on_x)
    slivers = slice(first, first + len(sliver_x))
    assert np.array_equal(fast.index[slivers], lowest_covering(geoms, lon[slivers], lat[slivers]))
    # The grid sends few points to the exact test.
    exact = index._lookup(lon[:200_000], lat[:200_000], np.ones(200_000, dtype=bool)) == -2
    assert exact.mean() < 0.1


@pytest.mark.parametrize("tolerance_m", [100.0, 1500.0])
def test_lai_chau_snapping_distances_are_geodesic(shared_data: Path, tolerance_m: float) -> None:
    """Snapped points: the reported commune is the nearest and the distance is pyproj's
    minimum along its edges; outside points near communes are really beyond tolerance."""
    geoms = communes_of(shared_data, "vn2025_communes_lai_chau.geojson")
    rng = np.random.default_rng(5)
    on_x, on_y = boundary_points(geoms, rng, 4000)
    angle = rng.uniform(0, 360, len(on_x))
    lon, lat, _ = GEOD.fwd(on_x, on_y, angle, rng.uniform(0.01, 1.4, len(on_x)) * tolerance_m)
    result = both(geoms, lon, lat, tolerance_m)
    snapped = np.flatnonzero(result.how == SNAPPED)[:25]
    outside = np.flatnonzero(result.how == OUTSIDE)[:15]
    assert len(snapped) == 25 and len(outside) == 15
    candidates = shapely.STRtree(geoms)
    reach = 2 * tolerance_m / 100_000  # degrees
    for i in np.concatenate([snapped, outside]):
        around = shapely.box(lon[i] - reach, lat[i] - reach, lon[i] + reach, lat[i] + reach)
        metres = {
            int(c): geodesic_to_boundary(geoms[c], lon[i], lat[i]) for c in candidates.query(around)
        }
        nearest = min(metres.values())
        if result.how[i] == OUTSIDE:
            assert nearest > tolerance_m
            continue
        assert result.distance_m[i] == pytest.approx(nearest, rel=1e-6)
        assert metres[int(result.index[i])] == pytest.approx(nearest, rel=1e-6)


def test_lai_chau_representative_points(shared_data: Path) -> None:
    geoms = communes_of(shared_data, "vn2025_communes_lai_chau.geojson")
    xy = shapely.get_coordinates(shapely.point_on_surface(geoms))
    result = both(geoms, xy[:, 0], xy[:, 1])
    assert (result.how == INSIDE).all()
    assert np.array_equal(result.index, np.arange(len(geoms)))


def test_national_grid_equals_reference(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    geoms = communes_of(shared_data, "vn2025_communes_all_34prov.geojson")
    assert len(geoms) == 3321
    rng = np.random.default_rng(34)
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    centres = shapely.get_coordinates(shapely.point_on_surface(geoms))
    spread = np.sqrt(shapely.area(geoms))[:, None] / 4
    around = rng.integers(0, len(geoms), 100_000)
    clustered = centres[around] + rng.normal(0, 1, (100_000, 2)) * spread[around]
    on_x, on_y = boundary_points(geoms, rng, 20_000)
    sliver_x, sliver_y = overlap_points(geoms, rng)
    picked = rng.choice(len(on_x), 20_000)
    lon = np.concatenate([rng.uniform(xmin, xmax, 80_000), clustered[:, 0], on_x[picked], sliver_x])
    lat = np.concatenate([rng.uniform(ymin, ymax, 80_000), clustered[:, 1], on_y[picked], sliver_y])
    index = CommuneIndex.build(geoms)
    # Chunks on several threads, as a month of millions of tests is assigned.
    monkeypatch.setattr(assign_module, "_CHUNK", 20_000)
    monkeypatch.setattr(assign_module.os, "cpu_count", lambda: 3)
    fast = index.assign(lon, lat)
    assert len(index._exact_copies) == 2
    assert_same(fast, assign_reference(geoms, lon, lat))
    assert_consistent(fast, 100.0)
    result = index.assign(centres[:, 0], centres[:, 1])
    lower = lowest_covering(geoms, centres[:, 0], centres[:, 1])
    assert np.array_equal(result.index, lower)
    assert (lower == np.arange(len(geoms))).mean() > 0.99
