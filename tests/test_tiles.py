"""Ookla tiles: the network each file declares, and tile centres from the quadkey.

The expected values are computed here independently: tile bounds with the
usual slippy-map formulas and the Mercator projection written out, tile
numbers from the quadkey's digits as binary strings, counts straight from the
source files, and communes with a plain shapely test.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import polars as pl
import pytest
import shapely

from qostool.analyze.rules import Rule
from qostool.analyze.run import AnalyzeOptions, analyze_month
from qostool.analyze.stats import month_statistics
from qostool.errors import ExitCode, InputError
from qostool.geo.boundaries import BoundaryOptions
from qostool.geo.versions import import_boundaries
from qostool.ingest.normalize import quadkey_centre
from qostool.ingest.pipeline import tile_network
from qostool.store import Store
from tests.conftest import TZ, ingest_json, one_line, rejects, stored
from tests.test_analyze_stats import frame

SPEEDTESTS = Path("speedtests")
EARTH_RADIUS_M = 6_378_137.0


def assert_file_refused(result: Any, *needles: str) -> None:
    """Exit 1, the file reported as failed with its message and hint, and no traceback."""
    text = one_line(result)
    assert result.exit_code == ExitCode.ERROR, result.output
    assert "Failed:" in text and "Hint:" in text, result.output
    for needle in needles:
        assert needle in text, result.output
    assert "Traceback" not in text and "bug in qostool" not in text, result.output


def _nothing_stored(store_dir: Path) -> None:
    """No test, no reject, and no file recorded in the store."""
    assert stored(store_dir).height == 0
    assert rejects(store_dir).height == 0
    assert Store.open(store_dir, timezone=TZ).files() == []


# -- the network: from the file name or --network -----------------------------------------


def test_a_renamed_fixed_file_is_refused_and_accepted_with_network_fixed(
    shared_data: Path, tmp_path: Path, cli: Any, store_dir: Path
) -> None:
    source = shared_data / SPEEDTESTS / "ookla_ar_fixed_2024q4.parquet"
    renamed = tmp_path / "ar_tiles_2024q4.parquet"
    shutil.copyfile(source, renamed)

    refused = cli("ingest", renamed, "--store", store_dir)
    assert_file_refused(refused, "ar_tiles_2024q4.parquet", "mobile or fixed", "--network fixed")
    assert "nothing from it was stored" in one_line(refused)
    _nothing_stored(store_dir)

    out = ingest_json(cli, renamed, "--store", store_dir, "--network", "fixed")
    report = out["files"][0]
    assert report["status"] == "ingested"
    tiles = pl.read_parquet(source)
    assert report["read"] == tiles.height
    assert report["accepted"] == tiles.filter(pl.col("tests") >= 1).height
    rows = stored(store_dir)
    assert set(rows["technology"]) == {"wifi"}  # fixed: never in the mobile figures
    assert rows["weight"].sum() == tiles.filter(pl.col("tests") >= 1)["tests"].sum()


def test_mobile_and_fixed_tiles_of_the_same_quadkey_are_not_duplicates(
    shared_data: Path, cli: Any, store_dir: Path
) -> None:
    mobile_path = shared_data / SPEEDTESTS / "ookla_ar_mobile_2024q4.parquet"
    fixed_path = shared_data / SPEEDTESTS / "ookla_ar_fixed_2024q4.parquet"
    mobile, fixed = pl.read_parquet(mobile_path), pl.read_parquet(fixed_path)
    shared = set(mobile["quadkey"]) & set(fixed["quadkey"])
    assert len(shared) > 10_000  # the same tiles and quarter in both files

    first = ingest_json(cli, mobile_path, "--store", store_dir)["files"][0]
    second = ingest_json(cli, fixed_path, "--store", store_dir)["files"][0]
    assert first["duplicates"] == second["duplicates"] == 0
    rows = stored(store_dir)
    kept = fixed.filter(pl.col("tests") >= 1)
    assert second["accepted"] == kept.height
    got = rows.group_by("technology").agg(pl.col("weight").sum()).sort("technology").rows()
    expected = [
        ("unknown", mobile.filter(pl.col("tests") >= 1)["tests"].sum()),
        ("wifi", kept["tests"].sum()),
    ]
    assert got == expected  # mobile figures hold mobile tiles only


def test_a_network_option_contradicting_the_name_is_refused(
    shared_data: Path, cli: Any, store_dir: Path
) -> None:
    path = shared_data / SPEEDTESTS / "ookla_ar_mobile_2024q4.parquet"
    result = cli("ingest", path, "--store", store_dir, "--network", "fixed")
    assert_file_refused(
        result, "ookla_ar_mobile_2024q4.parquet", "--network fixed contradicts the file name"
    )
    assert "drop --network" in one_line(result)
    _nothing_stored(store_dir)


def test_network_is_refused_for_files_of_single_tests(
    tmp_path: Path, cli: Any, store_dir: Path
) -> None:
    path = tmp_path / "ispeed_mobile.csv"
    path.write_text(
        "test_id,time,latitude,longitude,network_type,download_mbps\n"
        "a,2025-10-01T08:00:00+07:00,21.5,103.2,LTE,40\n",
        encoding="utf-8",
    )
    result = cli("ingest", path, "--store", store_dir, "--network", "mobile")
    assert_file_refused(result, "ispeed_mobile.csv", "tile files only", "without --network")
    _nothing_stored(store_dir)


def test_a_network_that_is_none_of_the_two_is_a_usage_error(
    tmp_path: Path, cli: Any, store_dir: Path
) -> None:
    result = cli("ingest", tmp_path, "--store", store_dir, "--network", "wifi")
    assert result.exit_code == 2
    assert "--network 'wifi'" in one_line(result)
    assert "--network mobile or --network fixed" in one_line(result)


@pytest.mark.parametrize(
    ("name", "network"),
    [
        ("2024-10-01_performance_mobile_tiles.parquet", "mobile"),
        ("2024-10-01_performance_fixed_tiles.parquet", "fixed"),
        ("ookla_ar_fixed_2024q4.parquet", "fixed"),
        ("Ookla-MOBILE-2024Q4.csv.gz", "mobile"),
        ("fixed2024q4.parquet", "fixed"),
    ],
)
def test_the_network_in_a_file_name(name: str, network: str) -> None:
    assert tile_network(name, name, None) == network
    assert tile_network(name, name, network) == network


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("ar_tiles_2024q4.parquet", "does not say"),
        ("prefixed_tiles_2024q4.parquet", "does not say"),  # a word inside another says nothing
        ("mobile_vs_fixed_2024q4.parquet", "says both"),
    ],
)
def test_a_file_name_that_does_not_decide_needs_the_option(name: str, says: str) -> None:
    with pytest.raises(InputError, match=says) as raised:
        tile_network(f"x.zip!{name}", name, None)
    assert raised.value.message.startswith(f"x.zip!{name}: ")
    assert raised.value.hint is not None and "--network" in raised.value.hint
    assert tile_network(name, name, "fixed") == "fixed"


# -- tile centres -------------------------------------------------------------------------


def _tile_of(quadkey: str) -> tuple[int, int, int]:
    """x, y, zoom: the low bits of the digits spell x in binary, the high bits y."""
    x = int("".join(str(int(d) % 2) for d in quadkey), 2)
    y = int("".join(str(int(d) // 2) for d in quadkey), 2)
    return x, y, len(quadkey)


def _quadkey_of(x: int, y: int, zoom: int) -> str:
    """The quadkey of tile (x, y): digit i is 2 * (bit of y) + (bit of x), from the top."""
    bits_x, bits_y = format(x, f"0{zoom}b"), format(y, f"0{zoom}b")
    return "".join(str(2 * int(b) + int(a)) for a, b in zip(bits_x, bits_y, strict=True))


def _tile_bounds(x: int, y: int, zoom: int) -> tuple[float, float, float, float]:
    """West, south, east, north in degrees, with the slippy-map formulas."""
    n = 2**zoom

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


def _mercator_midpoint(south: float, north: float) -> float:
    """The latitude half way between two others in Web Mercator metres (EPSG:3857)."""

    def forward(lat: float) -> float:
        return EARTH_RADIUS_M * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    middle = (forward(south) + forward(north)) / 2
    return math.degrees(2 * math.atan(math.exp(middle / EARTH_RADIUS_M)) - math.pi / 2)


def _centres(quadkeys: list[str]) -> list[tuple[float, float]]:
    lat, lon = quadkey_centre(pl.col("q"))
    table = pl.DataFrame({"q": quadkeys}).select(lat.alias("lat"), lon.alias("lon"))
    return [(float(a), float(b)) for a, b in table.rows()]


def test_quadkey_centres_are_the_centres_of_the_tile_bounds() -> None:
    rng = np.random.default_rng(7)
    keys = ["".join(map(str, rng.integers(0, 4, zoom))) for zoom in rng.integers(1, 24, 400)]
    keys += ["0", "3", "1323211203210101", "3" * 23, "0" * 23]
    for key, (lat, lon) in zip(keys, _centres(keys), strict=True):
        west, south, east, north = _tile_bounds(*_tile_of(key))
        assert south < lat < north and west < lon < east, key
        assert lon == pytest.approx((west + east) / 2, abs=1e-9)
        assert lat == pytest.approx(_mercator_midpoint(south, north), abs=1e-9)


def test_quadkey_centres_of_known_tiles() -> None:
    """Zoom 1: the four quarters of the world, centred at +-90 deg and +-66.51326 deg
    (the latitude whose Mercator y is a quarter of the map's height)."""
    quarter_lat = math.degrees(math.atan(math.sinh(math.pi / 2)))
    assert quarter_lat == pytest.approx(66.51326044311186)
    got = _centres(["0", "1", "2", "3"])
    expected = [(quarter_lat, -90), (quarter_lat, 90), (-quarter_lat, -90), (-quarter_lat, 90)]
    for (lat, lon), (lat_expected, lon_expected) in zip(got, expected, strict=True):
        assert (lat, lon) == pytest.approx((lat_expected, lon_expected), abs=1e-12)
    # A real Ookla row (see the data's SOURCES.md): its tile_x/tile_y, rounded to 4 decimals.
    [(lat, lon)] = _centres(["2102131113323010"])
    assert (round(lat, 4), round(lon, 4)) == (-27.647, -67.6181)
    assert _quadkey_of(*_tile_of("2102131113323010")) == "2102131113323010"


def test_stored_tiles_are_at_the_quadkey_centre_not_the_rounded_columns(
    shared_data: Path, cli: Any, store_dir: Path
) -> None:
    path = shared_data / SPEEDTESTS / "ookla_ar_mobile_2024q4.parquet"
    source = pl.read_parquet(path)
    ingest_json(cli, path, "--store", store_dir)
    rows = stored(store_dir).with_columns(quadkey=pl.col("test_id").str.split(":").list.last())
    joined = rows.join(source, on="quadkey")
    assert joined.height == rows.height
    sample = joined.sample(500, seed=1)
    for key, lat, lon in sample.select("quadkey", "lat", "lon").rows():
        west, south, east, north = _tile_bounds(*_tile_of(key))
        assert (lat, lon) == pytest.approx(
            (_mercator_midpoint(south, north), (west + east) / 2), abs=1e-9
        )
    # Ookla's tile_x/tile_y are these centres rounded to 4 decimals: not what is stored.
    for name, column in (("lon", "tile_x"), ("lat", "tile_y")):
        off = (joined[name] - joined[column]).abs()
        assert off.max() <= 0.5e-4 + 1e-9
        assert off.max() > 1e-5


def test_a_tile_without_a_quadkey_is_placed_by_its_columns(
    tmp_path: Path, cli: Any, store_dir: Path
) -> None:
    key = _quadkey_of(51625, 28597, 16)
    path = tmp_path / "mobile_tiles_2024q4.csv"
    path.write_text(
        "quadkey,tile_x,tile_y,avg_d_kbps,avg_u_kbps,avg_lat_ms,tests,devices\n"
        f"{key},103.5873,22.3221,40000,9000,30,12,4\n"
        ",103.5,22.3,41000,9000,30,5,2\n"
        ",103.6,22.4,42000,9000,30,6,3\n"
        "12x4,103.7,22.5,43000,9000,30,7,3\n",
        encoding="utf-8",
    )
    report = ingest_json(cli, path, "--store", store_dir)["files"][0]
    assert (report["accepted"], report["rejected"], report["duplicates"]) == (3, 1, 0)
    rows = {r["download_mbps"]: r for r in stored(store_dir).to_dicts()}
    west, south, east, north = _tile_bounds(51625, 28597, 16)
    assert (rows[40.0]["lat"], rows[40.0]["lon"]) == pytest.approx(
        (_mercator_midpoint(south, north), (west + east) / 2), abs=1e-9
    )
    assert (rows[41.0]["lat"], rows[41.0]["lon"]) == (22.3, 103.5)
    assert (rows[42.0]["lat"], rows[42.0]["lon"]) == (22.4, 103.6)
    assert all(r["test_id"].startswith("ookla:unknown:2024-Q4:") for r in rows.values())
    reject = rejects(store_dir).row(0, named=True)
    assert reject["reason"] == "invalid_coordinates"
    assert "quadkey=12x4" in reject["detail"]


# -- a tile next to a commune border, and the commune table ---------------------------------

#: A real zoom-16 tile of Lai Châu whose centre is 3.8 m inside commune 03390, and whose
#: centre rounded to 4 decimals (Ookla's tile_x/tile_y) is 1.6 m inside commune 03430.
BORDER_TILE: tuple[int, int, int] = (51625, 28597, 16)
RIGHT, WRONG = "03390", "03430"


def test_a_tile_near_a_border_is_in_the_commune_of_its_quadkey_centre(
    shared_data: Path, tmp_path: Path
) -> None:
    boundaries = shared_data / "boundaries_2025" / "vn2025_communes_lai_chau.geojson"
    communes = gpd.read_file(boundaries).set_index("id").geometry
    west, south, east, north = _tile_bounds(*BORDER_TILE)
    centre = ((west + east) / 2, _mercator_midpoint(south, north))
    rounded = (round(centre[0], 4), round(centre[1], 4))
    # The premise, checked with shapely: each point is inside one commune only.
    for point, commune in ((centre, RIGHT), (rounded, WRONG)):
        inside = communes.index[shapely.contains_xy(communes.values, *point)].tolist()
        assert inside == [commune], (point, inside)

    key = _quadkey_of(*BORDER_TILE)
    folder = tmp_path / "in"
    folder.mkdir()
    for network, tests, devices in (("mobile", 40, 7), ("fixed", 9, 3)):
        pl.DataFrame(
            {
                "quadkey": [key],
                "tile_x": [rounded[0]],
                "tile_y": [rounded[1]],
                "avg_d_kbps": [52_000],
                "avg_u_kbps": [11_000],
                "avg_lat_ms": [31],
                "tests": [tests],
                "devices": [devices],
            }
        ).write_parquet(folder / f"2024-10-01_performance_{network}_tiles.parquet")
    from qostool.ingest import ingest_paths

    root = tmp_path / "store"
    report = ingest_paths([str(folder)], store=root)
    assert report.totals == {"read": 2, "accepted": 2, "rejected": 0, "duplicates": 0}
    store = Store.open(root, timezone=TZ)
    import_boundaries(store, boundaries, BoundaryOptions())
    table = analyze_month(store, AnalyzeOptions(month="2024-10")).communes
    counts = [
        "tests_mobile", "devices_mobile_min", "devices_mobile_max",
        "tests_fixed", "devices_fixed_min", "devices_fixed_max",
    ]  # fmt: skip
    by_code = {r["commune_code"]: r for r in table.select("commune_code", *counts).to_dicts()}
    assert [by_code[RIGHT][c] for c in counts] == [40, 7, 7, 9, 3, 3]  # one tile each
    assert [by_code[WRONG][c] for c in counts] == [0, 0, 0, 0, 0, 0]
    assert "tests" not in table.columns and "devices" not in table.columns


def test_the_commune_table_counts_mobile_and_fixed_apart() -> None:
    """Single tests on 4G, 5G, unknown and Wi-Fi, mobile and fixed tiles: two networks."""
    rows = pl.concat(
        [
            frame([40.0, 50.0], technology="4G", devices=["a", "b"]),
            frame([150.0], technology="5G", devices=["a"]),
            frame([20.0], technology="unknown", devices=[None]),
            frame([60.0, 70.0, 80.0], technology="wifi", devices=["a", "c", "c"]),
            frame([45.0], technology="unknown", weight=[30]),  # a mobile tile: 15 devices
            frame([90.0], technology="wifi", weight=[12]),  # a fixed tile: 6 devices
            frame([35.0], technology="4G", commune="99002", devices=["d"]),
        ]
    )
    _, usage = month_statistics(rows.lazy(), Rule())
    assert usage is not None
    got = {r.pop("commune_code"): r for r in usage.to_dicts()}
    assert got["99001"] == {
        "tests_mobile": 2 + 1 + 1 + 30,
        # a, b (a's 5G test is the same device) and the one tile's: a range of one value
        "devices_mobile_min": 2 + 15,
        "devices_mobile_max": 2 + 15,
        "tests_fixed": 3 + 12,
        "devices_fixed_min": 2 + 6,
        "devices_fixed_max": 2 + 6,
        # the single tests on the mobile network alone, the tile left out: a, b and no id
        "tests_mobile_single": 2 + 1 + 1,
        "devices_mobile_single": 2,
    }
    assert got["99002"] == {
        "tests_mobile": 1,
        "devices_mobile_min": 1,
        "devices_mobile_max": 1,
        "tests_fixed": 0,
        "devices_fixed_min": 0,
        "devices_fixed_max": 0,
        "tests_mobile_single": 1,
        "devices_mobile_single": 1,
    }


def test_ingest_help_names_the_network_option(cli: Any) -> None:
    text = one_line(cli("ingest", "--help"))
    assert "--network" in text and "mobile or fixed" in text
    assert "centre of the quadkey's tile" in text
