"""Boundary import: formats, CRS, repairs, names, fields, provinces, overlaps and gaps."""

from __future__ import annotations

import json
import unicodedata
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from qostool.errors import InputError, UsageError
from qostool.geo.boundaries import BoundaryOptions, read_boundaries

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples" / "province.geojson"


@pytest.fixture(scope="module")
def sample() -> gpd.GeoDataFrame:
    return gpd.read_file(SAMPLES)


def same_shapes(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, tolerance: float = 1e-7) -> bool:
    distances = shapely.hausdorff_distance(a.geometry.to_numpy(), b.geometry.to_numpy())
    return bool((distances < tolerance).all())


def test_geojson_is_read_sorted_with_detected_fields(sample: gpd.GeoDataFrame) -> None:
    communes, report = read_boundaries(SAMPLES)
    assert list(communes.columns) == [
        "code", "name", "type", "population", "province_code", "province_name", "geometry",
    ]  # fmt: skip
    assert communes["code"].tolist() == sorted(sample["id"])
    assert (report.code_field, report.name_field, report.population_field) == (
        "id",
        "name",
        "population",
    )
    assert report.communes == report.features_read == 30
    expected = sample.set_index("id").loc[communes["code"]]
    assert communes["name"].tolist() == expected["name"].tolist()
    assert communes["population"].tolist() == expected["population"].tolist()
    assert communes.crs.to_epsg() == 4326
    assert same_shapes(communes, expected.reset_index())


@pytest.mark.parametrize(
    ("crs", "suffix"),
    [("EPSG:32648", ".gpkg"), ("EPSG:3405", ".zip"), ("EPSG:32648", ".parquet")],
    ids=["utm48n-geopackage", "vn2000-zipped-shapefile", "utm48n-geoparquet"],
)
def test_projected_files_are_reprojected_to_the_same_shapes(
    sample: gpd.GeoDataFrame, tmp_path: Path, crs: str, suffix: str
) -> None:
    projected = sample.to_crs(crs)
    path = tmp_path / f"communes{suffix}"
    if suffix == ".zip":
        folder = tmp_path / "shp"
        folder.mkdir()
        # Shapefile field names have 10 characters at most: Vietnamese names here.
        short = projected.rename(columns={"provinceId": "ma_tinh", "provinceName": "ten_tinh"})
        short.to_file(folder / "communes.shp", engine="pyogrio")
        with zipfile.ZipFile(path, "w") as archive:
            for member in folder.iterdir():
                archive.write(member, member.name)
    elif suffix == ".parquet":
        projected.to_parquet(path)
    else:
        projected.to_file(path, layer="xa", driver="GPKG")
    original, _ = read_boundaries(SAMPLES)
    communes, report = read_boundaries(path)
    assert report.source_crs == crs
    assert communes["code"].tolist() == original["code"].tolist()
    assert communes["name"].tolist() == original["name"].tolist()
    assert communes["province_name"].tolist() == original["province_name"].tolist()
    assert same_shapes(communes, original, tolerance=1e-6)  # about 0.1 m


def test_decomposed_names_become_the_same_composed_names(
    sample: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    nfd = sample.assign(name=[unicodedata.normalize("NFD", f"  {n} ") for n in sample["name"]])
    assert nfd["name"].tolist() != sample["name"].tolist()
    path = tmp_path / "nfd.geojson"
    nfd.to_file(path)
    original, _ = read_boundaries(SAMPLES)
    communes, _ = read_boundaries(path)
    assert communes["name"].tolist() == original["name"].tolist()
    assert all(unicodedata.is_normalized("NFC", n) for n in communes["name"])


def test_invalid_geometry_is_repaired_and_reported(tmp_path: Path) -> None:
    bowtie = shapely.Polygon([(105, 21), (105.1, 21.1), (105.1, 21), (105, 21.1), (105, 21)])
    square = shapely.box(105.2, 21, 105.3, 21.1)
    frame = gpd.GeoDataFrame(
        {"ma_xa": ["00002", "00001"], "ten_xa": ["Xã Nơ", "Xã Một"]},
        geometry=[bowtie, square],
        crs="EPSG:4326",
    )
    path = tmp_path / "bad.geojson"
    frame.to_file(path)
    communes, report = read_boundaries(path)
    assert communes["code"].tolist() == ["00001", "00002"]
    assert shapely.is_valid(communes.geometry.to_numpy()).all()
    assert [(c, n) for c, n, _ in report.repaired] == [("00002", "Xã Nơ")]
    assert "Self-intersection" in report.repaired[0][2]
    # The repaired bow-tie keeps both triangles: half the bounding square.
    assert communes.geometry[1].area == pytest.approx(0.1 * 0.1 / 2)


def test_duplicate_codes_are_refused_with_the_names(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"code": ["1", "1", "2"], "name": ["A", "B", "C"]},
        geometry=[shapely.box(i, 0, i + 1, 1) for i in range(3)],
        crs="EPSG:4326",
    )
    path = tmp_path / "dup.geojson"
    frame.to_file(path)
    with pytest.raises(InputError, match=r"1 commune codes appear more than once: 1 \(A, B\)"):
        read_boundaries(path)


def test_fields_not_found_or_wrong_say_which_fields_exist(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"foo": ["1"], "bar": ["A"]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:4326"
    )
    path = tmp_path / "odd.geojson"
    frame.to_file(path)
    with pytest.raises(UsageError, match="commune code") as info:
        read_boundaries(path)
    assert "foo, bar" in str(info.value.hint)
    with pytest.raises(UsageError, match="no field 'nope'"):
        read_boundaries(path, BoundaryOptions(code_field="nope", name_field="bar"))
    communes, _ = read_boundaries(path, BoundaryOptions(code_field="foo", name_field="bar"))
    assert communes[["code", "name"]].values.tolist() == [["1", "A"]]


def test_geopackage_with_several_layers_needs_a_layer(
    sample: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "two.gpkg"
    sample.to_file(path, layer="xa", driver="GPKG")
    sample.head(3).to_file(path, layer="other", driver="GPKG")
    with pytest.raises(UsageError, match="2 layers: xa, other"):
        read_boundaries(path)
    communes, _ = read_boundaries(path, BoundaryOptions(layer="other"))
    assert len(communes) == 3


def test_unreadable_and_unknown_files_name_the_file(tmp_path: Path) -> None:
    text = tmp_path / "communes.txt"
    text.write_text("hello")
    with pytest.raises(InputError, match=r"unsupported boundary file type \.txt"):
        read_boundaries(text)
    broken = tmp_path / "broken.geojson"
    broken.write_text("{not json")
    with pytest.raises(InputError, match=r"broken\.geojson: cannot be read"):
        read_boundaries(broken)


def test_overlaps_and_gaps_are_measured(tmp_path: Path) -> None:
    # Built in metres (UTM 48N), then stored in WGS84.
    x, y = 500_000.0, 2_300_000.0
    a = shapely.box(x, y, x + 1000, y + 1000)
    b = shapely.box(x + 990, y, x + 2000, y + 1000)  # overlaps a by 10 m x 1000 m
    c = shapely.box(x, y + 1000, x + 2000, y + 2000)
    # d has a 100 m x 100 m hole of its own, half filled by e: not a gap between communes.
    d = shapely.box(x + 2000, y, x + 3000, y + 2000).difference(
        shapely.box(x + 2400, y + 900, x + 2500, y + 1000)
    )
    e = shapely.box(x + 2400, y + 900, x + 2450, y + 1000)
    f = shapely.box(x - 1000, y, x, y + 2000)
    frame = gpd.GeoDataFrame(
        {"code": list("abcdef"), "name": list("ABCDEF")},
        geometry=[a, b, c, d, e, f],
        crs=32648,
    ).to_crs(4326)
    path = tmp_path / "topology.geojson"
    frame.to_file(path)
    _, report = read_boundaries(path)
    overlaps = {(p, q): m2 for p, q, m2 in report.overlaps}
    assert set(overlaps) == {("a", "b")}
    assert overlaps["a", "b"] == pytest.approx(10 * 1000, rel=1e-3)
    assert report.gaps == []
    # A real gap: a 20 m wide strip between c and a/b, closed by f and d at its ends.
    c_short = shapely.box(x, y + 1020, x + 2000, y + 2000)
    gap_frame = frame.to_crs(32648)
    gap_frame.loc[2, "geometry"] = c_short
    gap_frame = gap_frame.to_crs(4326)
    gap_frame.to_file(path)
    _, report = read_boundaries(path)
    assert len(report.gaps) == 1
    area, around = report.gaps[0]
    assert area == pytest.approx(2000 * 20, rel=1e-3)
    assert around == ["a", "b", "c", "d", "f"]


def test_report_is_json_serialisable() -> None:
    _, report = read_boundaries(SAMPLES)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["communes"] == 30
    assert data["code_field"] == "id"
