"""Reading commune boundaries: formats, CRS, encodings, repairs, fields, provinces, topology."""

from __future__ import annotations

import json
import time
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely import box

from qostool.errors import InputError, UsageError
from qostool.geo.boundaries import COLUMNS, BoundaryOptions, read_boundaries, topology

REPO = Path(__file__).resolve().parents[1]
UTM48 = "EPSG:32648"

CODES = ["03388", "03390", "03394", "03424", "03445", "03451"]
NAMES = ["Mường Tè", "Bản Bo", "Nậm Hàng", "Thu Lũm", "Đoàn Kết", "Sìn Hồ"]
TYPES = ["Xã", "Xã", "Xã", "Xã", "Phường", "Xã"]
POPULATION = [9115.0, 9496.0, None, 12000.0, 25000.0, 7000.0]


def base(**columns: Any) -> gpd.GeoDataFrame:
    """Six communes of Lai Châu on a 3 x 2 grid of 0.1° squares: no overlaps, no gaps."""
    cells = [box(103.0 + 0.1 * i, 22.0 + 0.1 * j, 103.1 + 0.1 * i, 22.1 + 0.1 * j)
             for j in range(2) for i in range(3)]  # fmt: skip
    data: dict[str, Any] = {
        "ma_xa": CODES,
        "ten_xa": NAMES,
        "loai": TYPES,
        "dan_so": POPULATION,
        "ma_tinh": ["12"] * 6,
        "ten_tinh": ["Lai Châu"] * 6,
    }
    data.update(columns)
    data = {k: v for k, v in data.items() if v is not None}
    return gpd.GeoDataFrame(data, geometry=cells, crs="EPSG:4326")


def write(frame: gpd.GeoDataFrame, path: Path, **kwargs: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        pyogrio.write_dataframe(frame, path, **kwargs)
    return path


def same_geometries(a: gpd.GeoSeries, b: gpd.GeoSeries, tolerance: float = 1e-7) -> bool:
    """Equal up to ``tolerance`` degrees (1e-7° is about 1 cm), whatever the vertex order."""
    distances = shapely.hausdorff_distance(np.asarray(a.values), np.asarray(b.values))
    return bool(len(a) == len(b) and np.all(distances < tolerance))


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


# -- the canonical table ------------------------------------------------------------------


def test_geojson_gives_the_canonical_table(tmp_path: Path) -> None:
    path = write(base().iloc[::-1], tmp_path / "lai_chau.geojson")  # the reader sorts by code
    communes, report = read_boundaries(path)

    assert list(communes.columns) == [*COLUMNS, "geometry"]
    assert communes["code"].tolist() == CODES  # sorted, leading zeros kept
    assert communes["name"].tolist() == NAMES
    assert communes["type"].tolist() == TYPES
    assert communes["population"].dtype == "Int64"
    assert communes["population"].isna().tolist() == [False, False, True, False, False, False]
    assert communes["population"].dropna().tolist() == [9115, 9496, 12000, 25000, 7000]
    assert set(communes["province_code"]) == {"12"}
    assert set(communes["province_name"]) == {"Lai Châu"}
    assert communes.crs == "EPSG:4326"
    assert communes.index.tolist() == list(range(6))
    assert communes.geometry.is_valid.all()
    assert same_geometries(communes.geometry, base().geometry)

    assert report.source == str(path)
    assert report.source_crs == "EPSG:4326"
    assert (report.features_read, report.communes) == (6, 6)
    assert (report.code_field, report.name_field, report.population_field) == (
        "ma_xa",
        "ten_xa",
        "dan_so",
    )
    assert report.province == "12 Lai Châu"  # the file holds one province
    assert (report.repaired, report.overlaps, report.gaps) == ([], [], [])
    assert json.loads(json.dumps(report.to_dict()))["communes"] == 6


def test_missing_type_and_province_columns_are_null(tmp_path: Path) -> None:
    frame = base(loai=None, ma_tinh=None, ten_tinh=None, dan_so=None)
    communes, report = read_boundaries(write(frame, tmp_path / "x.geojson"))
    for column in ("type", "population", "province_code", "province_name"):
        assert communes[column].isna().all(), column
    assert report.population_field is None
    assert report.province is None


def test_numeric_codes_become_text_without_decimals(tmp_path: Path) -> None:
    ints = read_boundaries(write(base(ma_xa=[3388, 3390, 3394, 3424, 3445, 3451]),
                                 tmp_path / "int.parquet"))[0]  # fmt: skip
    floats = read_boundaries(write(base(ma_xa=[3388.0, 3390.0, 3394.0, 3424.0, 3445.0, 3451.0]),
                                   tmp_path / "float.gpkg"))[0]  # fmt: skip
    expected = ["3388", "3390", "3394", "3424", "3445", "3451"]
    assert ints["code"].tolist() == expected
    assert floats["code"].tolist() == expected


def test_population_texts(tmp_path: Path) -> None:
    frame = base(dan_so=["9.115", "9,496", " 8881 ", "", "12000.0", "-5"])
    communes = read_boundaries(write(frame, tmp_path / "x.geojson"))[0]
    assert communes["population"].tolist()[:3] == [9115, 9496, 8881]
    assert communes["population"].tolist()[4] == 12000
    assert communes["population"].isna().tolist() == [False, False, False, True, False, True]

    bad = write(base(dan_so=["9115", "nhiều", "1", "2", "3", "4"]), tmp_path / "bad.geojson")
    with pytest.raises(InputError, match="'nhiều'") as caught:
        read_boundaries(bad)
    assert caught.value.field == "dan_so"


# -- formats ------------------------------------------------------------------------------


def test_shapefile_in_windows_1258_with_cpg(tmp_path: Path) -> None:
    path = write(base(), tmp_path / "xa.shp", encoding="cp1258")
    assert path.with_suffix(".cpg").read_text().strip().upper() == "CP1258"
    dbf = path.with_suffix(".dbf").read_bytes()
    assert b"\xd0o\xe0n K\xea\xect" in dbf  # "Đoàn Kết" in Windows-1258: ê + combining acute
    with pytest.raises(UnicodeDecodeError):
        dbf.decode("utf-8")

    communes, _ = read_boundaries(path)
    assert communes["name"].tolist() == NAMES  # every letter, composed (NFC)
    assert communes["type"].tolist() == TYPES
    assert set(communes["province_name"]) == {"Lai Châu"}


def test_shapefile_in_utf8_without_cpg(tmp_path: Path) -> None:
    path = write(base(), tmp_path / "xa.shp", encoding="UTF-8")
    path.with_suffix(".cpg").unlink()
    assert read_boundaries(path)[0]["name"].tolist() == NAMES


def test_shapefile_with_an_unknown_cpg(tmp_path: Path) -> None:
    path = write(base(), tmp_path / "xa.shp", encoding="UTF-8")
    path.with_suffix(".cpg").write_text("TCVN-ABC")
    with pytest.raises(InputError, match="unknown text encoding 'TCVN-ABC'") as caught:
        read_boundaries(path)
    assert "1258" in str(caught.value.hint)


def test_shapefile_whose_cpg_is_wrong(tmp_path: Path) -> None:
    path = write(base(), tmp_path / "xa.shp", encoding="cp1258")
    path.with_suffix(".cpg").write_text("UTF-8")
    with pytest.raises(InputError, match="is not valid utf-8") as caught:
        read_boundaries(path)
    assert caught.value.field == "ten_xa"
    assert ".cpg" in str(caught.value.hint)


def test_zipped_shapefile(tmp_path: Path) -> None:
    shp = write(base(), tmp_path / "shp" / "xa.shp", encoding="cp1258")
    archive = tmp_path / "xa.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for part in sorted(shp.parent.iterdir()):
            out.write(part, f"data/{part.name}")
    communes, report = read_boundaries(archive)
    assert communes["code"].tolist() == CODES
    assert communes["name"].tolist() == NAMES
    assert same_geometries(communes.geometry, read_boundaries(shp)[0].geometry, 1e-12)
    assert report.source_crs == "EPSG:4326"


def test_zip_with_two_shapefiles_needs_a_layer(tmp_path: Path) -> None:
    write(base(), tmp_path / "shp" / "xa.shp")
    write(base().iloc[:2], tmp_path / "shp" / "huyen.shp")
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for part in sorted((tmp_path / "shp").iterdir()):
            out.write(part, part.name)
    with pytest.raises(UsageError, match="huyen, xa") as caught:
        read_boundaries(archive)
    assert "--layer" in str(caught.value.hint)
    assert len(read_boundaries(archive, BoundaryOptions(layer="xa"))[0]) == 6
    assert len(read_boundaries(archive, BoundaryOptions(layer="huyen"))[0]) == 2
    with pytest.raises(UsageError, match="'tinh'"):
        read_boundaries(archive, BoundaryOptions(layer="tinh"))


def test_zip_without_shapefile(tmp_path: Path) -> None:
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("readme.txt", "nothing here")
    with pytest.raises(InputError, match=r"no Shapefile"):
        read_boundaries(archive)


def test_geopackage_with_two_layers(tmp_path: Path) -> None:
    path = write(base(), tmp_path / "vn.gpkg", layer="xa")
    write(base().iloc[:3], path, layer="huyen", append=True)
    with pytest.raises(UsageError, match=r"2 layers: (xa, huyen|huyen, xa)") as caught:
        read_boundaries(path)
    assert "--layer" in str(caught.value.hint)

    communes, _ = read_boundaries(path, BoundaryOptions(layer="xa"))
    assert communes["code"].tolist() == CODES
    assert len(read_boundaries(path, BoundaryOptions(layer="huyen"))[0]) == 3
    with pytest.raises(UsageError, match="'tinh': no such layer") as caught:
        read_boundaries(path, BoundaryOptions(layer="tinh"))
    assert "xa" in str(caught.value.hint)


def test_geoparquet(tmp_path: Path) -> None:
    communes, report = read_boundaries(write(base(), tmp_path / "xa.parquet"))
    assert communes["name"].tolist() == NAMES
    assert report.source_crs == "EPSG:4326"
    with pytest.raises(UsageError, match="no layers"):
        read_boundaries(tmp_path / "xa.parquet", BoundaryOptions(layer="xa"))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.kml", "<kml/>", r"unsupported boundary file type \.kml"),
        ("x.geojson", "{not json", "cannot be read"),
        ("x.parquet", b"PAR1 not really", "cannot be read as GeoParquet"),
        ("x.geojson", '{"type": "FeatureCollection", "features": []}', "holds no features"),
    ],
)
def test_unusable_files(tmp_path: Path, name: str, content: str | bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InputError, match=message) as caught:
        read_boundaries(path)
    assert str(path) in str(caught.value)
    assert caught.value.hint


def test_unsupported_format_hint_lists_formats(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        read_boundaries(tmp_path / "missing.geojson")
    assert "no such file" in str(caught.value)
    path = tmp_path / "x.csv"
    path.write_text("a,b\n")
    with pytest.raises(InputError) as caught:
        read_boundaries(path)
    for fmt in ("GeoJSON", "Shapefile", "GeoPackage", "GeoParquet"):
        assert fmt in str(caught.value.hint)


def test_directories_and_broken_archives(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not a file"):
        read_boundaries(tmp_path)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(InputError, match="not a readable zip archive"):
        read_boundaries(broken)


def test_plain_parquet_without_geo_metadata(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pd.DataFrame({"ma_xa": ["1"], "ten_xa": ["A"]}).to_parquet(path)
    with pytest.raises(InputError, match="GeoParquet") as caught:
        read_boundaries(path)
    assert "geo" in str(caught.value.hint)


def test_shapefile_without_its_shx(tmp_path: Path) -> None:
    path = write(base(), tmp_path / "xa.shp")
    path.with_suffix(".shx").unlink()
    with pytest.raises(InputError, match="cannot be read") as caught:
        read_boundaries(path)
    assert ".shx" in str(caught.value.hint)


# -- coordinate reference systems ------------------------------------------------------------


@pytest.mark.parametrize(
    ("crs", "name"),
    [(UTM48, "utm.shp"), ("EPSG:3405", "vn2000_utm.gpkg"), ("EPSG:9210", "vn2000_tm3.parquet")],
)
def test_projected_copies_give_the_same_communes(tmp_path: Path, crs: str, name: str) -> None:
    original = read_boundaries(write(base(), tmp_path / "lonlat.geojson"))[0]
    projected = base().to_crs(crs)
    assert projected.total_bounds[0] > 1000  # metres, really projected
    communes, report = read_boundaries(write(projected, tmp_path / name))
    assert report.source_crs == crs
    assert communes.crs == "EPSG:4326"
    assert communes["code"].tolist() == original["code"].tolist()
    assert communes["name"].tolist() == original["name"].tolist()
    assert same_geometries(communes.geometry, original.geometry)
    assert report.overlaps == []
    assert report.gaps == []


def test_no_crs_with_degrees_is_taken_as_wgs84(tmp_path: Path) -> None:
    path = write(base(), tmp_path / "xa.shp")
    path.with_suffix(".prj").unlink()
    communes, report = read_boundaries(path)
    assert report.source_crs == "none (assumed EPSG:4326)"
    assert same_geometries(communes.geometry, base().geometry)


def test_no_crs_with_metres_is_refused(tmp_path: Path) -> None:
    path = write(base().to_crs(UTM48), tmp_path / "xa.shp")
    path.with_suffix(".prj").unlink()
    with pytest.raises(InputError, match="no coordinate reference system") as caught:
        read_boundaries(path)
    assert ".prj" in str(caught.value.hint)


def test_wrong_crs_is_refused(tmp_path: Path) -> None:
    # metres declared as degrees: WGS84 with x in the hundreds of thousands
    frame = base().to_crs(UTM48).set_crs("EPSG:4326", allow_override=True)
    with pytest.raises(InputError, match="are not longitude/latitude"):
        read_boundaries(write(frame, tmp_path / "x.gpkg"))


# -- names -------------------------------------------------------------------------------


def test_decomposed_names_give_composed_names(tmp_path: Path) -> None:
    decomposed = base(
        ten_xa=[nfd(n) for n in NAMES],
        loai=[nfd(t) for t in TYPES],
        ten_tinh=[nfd("Lai Châu")] * 6,
    )
    assert decomposed["ten_xa"].tolist() != base()["ten_xa"].tolist()
    original = read_boundaries(write(base(), tmp_path / "nfc.geojson"))[0]
    communes, report = read_boundaries(
        write(decomposed, tmp_path / "nfd.geojson"), BoundaryOptions(province="Lai Châu")
    )
    assert communes["name"].tolist() == original["name"].tolist() == NAMES
    assert communes["type"].tolist() == TYPES
    assert set(communes["province_name"]) == {"Lai Châu"}
    assert all(unicodedata.is_normalized("NFC", n) for n in communes["name"])
    assert report.province == "12 Lai Châu"


def test_names_and_codes_are_trimmed(tmp_path: Path) -> None:
    frame = base(ma_xa=[f" {c}\t" for c in CODES], ten_xa=[f"  {n} " for n in NAMES])
    communes = read_boundaries(write(frame, tmp_path / "x.geojson"))[0]
    assert communes["code"].tolist() == CODES
    assert communes["name"].tolist() == NAMES


# -- geometries ----------------------------------------------------------------------------


def test_bow_tie_is_repaired_and_reported(tmp_path: Path) -> None:
    x0, y0, x1, y1 = 103.4, 22.0, 103.6, 22.1
    bow_tie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
    overlapping = shapely.MultiPolygon(
        [box(103.0, 22.5, 103.2, 22.7), box(103.1, 22.6, 103.3, 22.8)]
    )
    frame = base()
    frame.loc[5, "geometry"] = bow_tie  # 03451 Sìn Hồ
    frame.loc[4, "geometry"] = overlapping  # 03445 Đoàn Kết
    communes, report = read_boundaries(write(frame, tmp_path / "x.geojson"))

    problems = {code: (name, why) for code, name, why in report.repaired}
    assert set(problems) == {"03445", "03451"}
    assert problems["03451"][0] == "Sìn Hồ"
    assert problems["03451"][1] == "Self-intersection[103.5 22.05]"
    assert problems["03445"][1].startswith("Self-intersection")
    assert communes.geometry.is_valid.all()
    assert set(communes.geom_type) <= {"Polygon", "MultiPolygon"}
    by_code = communes.set_index("code").geometry
    # a bow tie is two triangles, half of its bounding box
    assert by_code["03451"].area == pytest.approx((x1 - x0) * (y1 - y0) / 2, rel=1e-9)
    # overlapping parts are merged (the union), not cut out: 0.04 + 0.04 - 0.01
    assert by_code["03445"].area == pytest.approx(0.07, rel=1e-9)


def test_missing_geometry_is_refused(tmp_path: Path) -> None:
    frame = base()
    frame.loc[3, "geometry"] = None  # 03424
    with pytest.raises(InputError, match="1 communes have no geometry: 03424"):
        read_boundaries(write(frame, tmp_path / "x.geojson"))


def test_lines_are_refused(tmp_path: Path) -> None:
    frame = base()
    frame.loc[2, "geometry"] = shapely.LineString([(103, 22), (103.1, 22.1)])  # 03394
    with pytest.raises(InputError, match=r"not polygons \(LineString\): 03394"):
        read_boundaries(write(frame, tmp_path / "x.geojson"))


def test_polygons_without_area_are_refused(tmp_path: Path) -> None:
    frame = base()
    frame.loc[5, "geometry"] = shapely.Polygon([(103, 22), (103.1, 22.1), (103.2, 22.2)])
    with pytest.raises(InputError, match=r"1 communes have a geometry without area: 03451 \(Sìn"):
        read_boundaries(write(frame, tmp_path / "flat.geojson"))
    frame.loc[5, "geometry"] = shapely.Polygon([(103, 22), (103.1, 22.1), (103, 22)])
    with pytest.raises(InputError, match=r"03451 \(Sìn Hồ\): the geometry has no area \(Too few"):
        read_boundaries(write(frame, tmp_path / "collapsed.geojson"))


# -- fields --------------------------------------------------------------------------------


def test_fields_are_detected_whatever_their_case_and_accents(tmp_path: Path) -> None:
    frame = base().rename(
        columns={"ma_xa": "Mã xã", "ten_xa": "TÊN_XÃ", "dan_so": "Dân số", "ma_tinh": "MA_TINH"}
    )
    communes, report = read_boundaries(write(frame, tmp_path / "x.geojson"))
    assert (report.code_field, report.name_field, report.population_field) == (
        "Mã xã",
        "TÊN_XÃ",
        "Dân số",
    )
    assert communes["code"].tolist() == CODES
    assert set(communes["province_code"]) == {"12"}


def test_given_fields_win(tmp_path: Path) -> None:
    frame = base(ma_hc=[f"X{i}" for i in range(6)], ten_khac=[f"N{i}" for i in range(6)])
    options = BoundaryOptions(code_field="ma_hc", name_field="TEN_KHAC", population_field="dan_so")
    communes, report = read_boundaries(write(frame, tmp_path / "x.geojson"), options)
    assert communes["code"].tolist() == [f"X{i}" for i in range(6)]
    assert communes["name"].tolist() == [f"N{i}" for i in range(6)]
    assert (report.code_field, report.name_field) == ("ma_hc", "ten_khac")


def test_undetectable_fields(tmp_path: Path) -> None:
    frame = base().rename(columns={"ma_xa": "ref", "ten_xa": "label"})
    path = write(frame, tmp_path / "x.geojson")
    with pytest.raises(UsageError, match="no commune code column") as caught:
        read_boundaries(path)
    assert "--code-field" in str(caught.value.hint)
    assert "ref, label" in str(caught.value.hint)
    with pytest.raises(UsageError, match="no commune name column") as caught:
        read_boundaries(path, BoundaryOptions(code_field="ref"))
    assert "--name-field" in str(caught.value.hint)
    assert len(read_boundaries(path, BoundaryOptions(code_field="ref", name_field="label"))[0]) == 6


def test_given_field_that_does_not_exist(tmp_path: Path) -> None:
    path = write(base(), tmp_path / "x.geojson")
    with pytest.raises(UsageError, match="--code-field: no field 'MaXa2' in the file") as caught:
        read_boundaries(path, BoundaryOptions(code_field="MaXa2"))
    assert "ma_xa, ten_xa" in str(caught.value.hint)
    with pytest.raises(UsageError, match="--population-field: no field 'pop'"):
        read_boundaries(path, BoundaryOptions(population_field="pop"))


def test_missing_codes_and_names_are_refused(tmp_path: Path) -> None:
    frame = base(ma_xa=["03388", "", "03394", "03424", "03445", "03451"])
    with pytest.raises(InputError, match="1 features have no commune code: features 2") as caught:
        read_boundaries(write(frame, tmp_path / "a.geojson"))
    assert caught.value.field == "ma_xa"
    frame = base(ten_xa=["A", "B", None, "D", "E", "F"])
    with pytest.raises(InputError, match="1 features have no commune name: communes 03394"):
        read_boundaries(write(frame, tmp_path / "b.geojson"))


def test_duplicate_codes_are_refused(tmp_path: Path) -> None:
    frame = base(ma_xa=["03390", "03390", "03424", "03424", "03445", "03451"])
    with pytest.raises(InputError, match="2 commune codes appear more than once") as caught:
        read_boundaries(write(frame, tmp_path / "x.geojson"))
    message = str(caught.value)
    assert "03390 (Mường Tè, Bản Bo)" in message
    assert "03424 (Nậm Hàng, Thu Lũm)" in message
    assert "--code-field" in str(caught.value.hint)


# -- province ------------------------------------------------------------------------------


def two_provinces(tmp_path: Path) -> Path:
    frame = base(
        ma_tinh=["12", "12", "12", "12", "01", "01"],
        ten_tinh=["Lai Châu", "Lai Châu", "Lai Châu", "Lai Châu", "Hà Nội", "Hà Nội"],
    )
    return write(frame, tmp_path / "two.geojson")


@pytest.mark.parametrize(
    "wanted", ["12", " 12 ", "Lai Châu", "lai chau", "LAI CHÂU", "Tỉnh Lai Châu"]
)
def test_province_filter(tmp_path: Path, wanted: str) -> None:
    communes, report = read_boundaries(two_provinces(tmp_path), BoundaryOptions(province=wanted))
    assert communes["code"].tolist() == CODES[:4]
    assert report.province == "12 Lai Châu"
    assert (report.features_read, report.communes) == (6, 4)


@pytest.mark.parametrize("wanted", ["1", "01", "Thành phố Hà Nội", "ha noi", "TP Hà Nội"])
def test_province_filter_other_province(tmp_path: Path, wanted: str) -> None:
    communes, report = read_boundaries(two_provinces(tmp_path), BoundaryOptions(province=wanted))
    assert communes["code"].tolist() == CODES[4:]
    assert report.province == "01 Hà Nội"


def test_unknown_province(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--province: no province matches 'Gia Lai'") as caught:
        read_boundaries(two_provinces(tmp_path), BoundaryOptions(province="Gia Lai"))
    assert "01 Hà Nội, 12 Lai Châu" in str(caught.value.hint)


def test_province_filter_without_province_columns(tmp_path: Path) -> None:
    path = write(base(ma_tinh=None, ten_tinh=None), tmp_path / "x.geojson")
    with pytest.raises(UsageError, match="no province code or name column"):
        read_boundaries(path, BoundaryOptions(province="12"))


def test_duplicates_are_checked_after_the_province_filter(tmp_path: Path) -> None:
    frame = base(ma_xa=["1", "2", "3", "4", "1", "2"], ma_tinh=["12"] * 4 + ["01"] * 2)
    path = write(frame, tmp_path / "x.geojson")
    assert len(read_boundaries(path, BoundaryOptions(province="12"))[0]) == 4
    with pytest.raises(InputError, match="appear more than once"):
        read_boundaries(path, BoundaryOptions(all_provinces=True))


def test_a_file_of_several_provinces_needs_a_province_or_all_provinces(
    tmp_path: Path, cli: Any
) -> None:
    frame = base(ma_tinh=["12"] * 4 + ["52"] * 2, ten_tinh=["Lai Châu"] * 4 + ["Gia Lai"] * 2)
    path = write(frame, tmp_path / "national.geojson")
    with pytest.raises(UsageError, match=r"belong to 2 provinces \(12 Lai Châu, 52 Gia Lai\)"):
        read_boundaries(path)
    assert len(read_boundaries(path, BoundaryOptions(all_provinces=True))[0]) == 6
    assert len(read_boundaries(path, BoundaryOptions(province="52"))[0]) == 2
    refused = cli("boundaries", "import", path, "--store", tmp_path / "s")
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.output.split())
    assert "12 Lai Châu, 52 Gia Lai" in said and "--province" in said and "--all-provinces" in said
    assert not (tmp_path / "s" / "boundaries").exists()  # nothing imported
    meant = cli("boundaries", "import", path, "--store", tmp_path / "s", "--all-provinces")
    assert meant.exit_code == 0, meant.output
    # One province with no province column at all is a provincial file, as before.
    single = write(base().drop(columns=["ma_tinh", "ten_tinh"]), tmp_path / "one.geojson")
    assert len(read_boundaries(single)[0]) == 6


# -- overlaps and gaps ---------------------------------------------------------------------

#: A hand-made layout in UTM 48N metres (origin near 105°E 21.7°N):
#:  - A, B, C, D: four 1 km squares around a 40 m x 30 m gap at their common corner;
#:  - B starts 5 m inside A: overlap 5 m x 985 m (below the gap);
#:  - D leaves a 2 m x 900 m sliver along C, closed by D below and E above: a gap;
#:  - E, a strip on top, has a 50 m x 50 m lake: a hole of one commune, not a gap, even
#:    where F, an island commune, leaves part of it uncovered.
X0, Y0 = 500_000.0, 2_400_000.0
GAP_BOX = box(980, 985, 1020, 1015)
LAYOUT = {
    "A": box(0, 0, 1000, 1000).difference(GAP_BOX),
    "B": box(995, 0, 2000, 1000).difference(GAP_BOX),
    "C": box(0, 1000, 1000, 2000).difference(GAP_BOX),
    "D": box(1000, 1000, 2000, 2000).difference(GAP_BOX).difference(box(1000, 1100, 1002, 2000)),
    "E": box(0, 2000, 2000, 2500).difference(box(500, 2200, 550, 2250)),
    "F": box(500, 2200, 520, 2250),
}
EXPECTED_OVERLAP = 5 * 985
EXPECTED_GAPS = {40 * 30: ["A", "B", "C", "D"], 2 * 900: ["C", "D", "E"]}


def layout_file(tmp_path: Path) -> Path:
    frame = gpd.GeoDataFrame(
        {"code": list(LAYOUT), "name": [f"Xã {c}" for c in LAYOUT]},
        geometry=[
            shapely.transform(g, lambda xy: xy + np.array([X0, Y0])) for g in LAYOUT.values()
        ],
        crs=UTM48,
    ).to_crs("EPSG:4326")
    return write(frame, tmp_path / "layout.geojson")


def test_overlaps_and_gaps_of_a_hand_made_layout(tmp_path: Path) -> None:
    assert all(g.is_valid for g in LAYOUT.values())
    _, report = read_boundaries(layout_file(tmp_path))

    assert [(a, b) for a, b, _ in report.overlaps] == [("A", "B")]
    assert report.overlaps[0][2] == pytest.approx(EXPECTED_OVERLAP, rel=1e-4)
    assert len(report.gaps) == 2
    for (area, codes), (expected_area, expected_codes) in zip(
        report.gaps, sorted(EXPECTED_GAPS.items(), reverse=True), strict=True
    ):
        assert area == pytest.approx(expected_area, rel=1e-4)
        assert codes == expected_codes
    as_dict = report.to_dict()
    assert as_dict["overlaps"] == [{"code_a": "A", "code_b": "B", "area_m2": report.overlaps[0][2]}]
    assert as_dict["gap_area_m2"] == pytest.approx(sum(EXPECTED_GAPS), rel=1e-4)


@pytest.mark.parametrize("tiles", [1, 2, 3, 5, 8])
def test_gaps_do_not_depend_on_the_tiling(tmp_path: Path, tiles: int) -> None:
    communes, report = read_boundaries(layout_file(tmp_path))
    overlaps, gaps = topology(communes, tiles=tiles)
    assert overlaps == report.overlaps
    assert [codes for _, codes in gaps] == [codes for _, codes in report.gaps]
    assert [a for a, _ in gaps] == pytest.approx([a for a, _ in report.gaps], abs=0.01)


def test_the_synthetic_province_is_a_clean_coverage() -> None:
    communes, report = read_boundaries(REPO / "data" / "samples" / "province.geojson")
    assert communes["code"].tolist() == [str(c) for c in range(99001, 99031)]
    assert report.province == "99 Sơn Lâm"
    assert (report.overlaps, report.gaps, report.repaired) == ([], [], [])
    assert communes["population"].notna().all()


# -- real data (tests/conftest.py: shared_data) ------------------------------------------------


def test_national_file_filtered_gives_the_lai_chau_file(shared_data: Path) -> None:
    folder = shared_data / "boundaries_2025"
    lai_chau, report = read_boundaries(folder / "vn2025_communes_lai_chau.geojson")
    national = folder / "vn2025_communes_all_34prov.geojson"
    by_name, by_name_report = read_boundaries(national, BoundaryOptions(province="lai chau"))
    by_code, _ = read_boundaries(national, BoundaryOptions(province="12"))

    assert len(lai_chau) == 38
    assert report.province == by_name_report.province == "12 Lai Châu"
    assert by_name_report.features_read == 3321
    for other in (by_name, by_code):
        assert other["code"].tolist() == lai_chau["code"].tolist()
        assert other["name"].tolist() == lai_chau["name"].tolist()
        assert other.geometry.geom_equals_exact(lai_chau.geometry, tolerance=0).all()
    assert "03445" in set(lai_chau["code"])  # the leading zero is kept
    assert by_name_report.overlaps == report.overlaps
    assert by_name_report.gaps == report.gaps
    with pytest.raises(UsageError, match="no province matches 'Atlantis'") as info:
        read_boundaries(national, BoundaryOptions(province="Atlantis"))
    assert "52 Gia Lai" in str(info.value.hint)


def test_lai_chau_overlaps_and_gaps_match_an_independent_computation(shared_data: Path) -> None:
    communes, report = read_boundaries(
        shared_data / "boundaries_2025" / "vn2025_communes_lai_chau.geojson"
    )
    metric = communes.to_crs(UTM48).geometry.to_numpy()  # Lai Châu is in UTM zone 48
    # overlaps by inclusion-exclusion over every pair: area(a) + area(b) - area(a ∪ b)
    expected_overlaps = {}
    for i in range(len(metric)):
        for j in range(i + 1, len(metric)):
            a, b = metric[i], metric[j]
            if a.intersects(b):
                m2 = a.area + b.area - shapely.union(a, b).area
                if m2 > 1:
                    expected_overlaps[(communes["code"][i], communes["code"][j])] = m2
    found = {(a, b): m2 for a, b, m2 in report.overlaps}
    assert found.keys() == expected_overlaps.keys()
    for pair, m2 in expected_overlaps.items():
        assert found[pair] == pytest.approx(m2, rel=1e-6, abs=0.05)
    # gaps: the holes of the union of all communes
    union = shapely.union_all(metric)
    holes = [shapely.Polygon(r) for p in shapely.get_parts(union) for r in p.interiors]
    big = sorted((h.area for h in holes if h.area > 1), reverse=True)
    assert len(report.gaps) == len(big)
    assert [a for a, _ in report.gaps] == pytest.approx(big, rel=1e-6, abs=0.05)
    assert all(len(codes) >= 2 for _, codes in report.gaps)
    assert sum(m2 for _, _, m2 in report.overlaps) / 1e6 == pytest.approx(1.69, abs=0.01)
    assert sum(m2 for m2, _ in report.gaps) / 1e6 == pytest.approx(1.66, abs=0.01)


def test_national_file(shared_data: Path) -> None:
    started = time.perf_counter()
    national = shared_data / "boundaries_2025" / "vn2025_communes_all_34prov.geojson"
    with pytest.raises(UsageError, match="belong to 34 provinces"):
        read_boundaries(national)  # a national file is not taken for a province's by mistake
    started = time.perf_counter()
    communes, report = read_boundaries(national, BoundaryOptions(all_provinces=True))
    elapsed = time.perf_counter() - started
    assert len(communes) == report.communes == 3321
    assert communes["code"].is_unique
    assert communes["code"].is_monotonic_increasing
    assert communes.geometry.is_valid.all()
    assert communes["province_code"].nunique() == 34
    assert communes["type"].value_counts().to_dict() == {"Xã": 2621, "Phường": 687, "Đặc khu": 13}
    assert report.province is None
    assert report.overlaps and report.gaps
    assert elapsed < 30, f"read_boundaries took {elapsed:.1f} s on the national file"


@pytest.mark.slow
def test_a_geojson_commune_of_two_million_vertices_imports(tmp_path: Path, cli: Any) -> None:
    # GDAL's default refuses a GeoJSON feature this large; the same polygon as a
    # Shapefile always read. Written as text directly: json.dump of lists is slow.
    n = 2_000_000
    turn = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.column_stack([105 + 0.05 * np.cos(turn), 21 + 0.05 * np.sin(turn)])
    ring = np.vstack([ring, ring[:1]])
    points = ",".join(f"[{x:.7f},{y:.7f}]" for x, y in ring.tolist())
    path = tmp_path / "detailed.geojson"
    path.write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
        '{"ma_xa":"00001","ten_xa":"Xã Chi Tiết"},"geometry":{"type":"Polygon",'
        f'"coordinates":[[{points}]]}}}}]}}',
        encoding="utf-8",
    )
    result = cli("boundaries", "import", path, "--store", tmp_path / "store")
    assert result.exit_code == 0, result.output
    assert "1 communes imported" in result.output


def test_a_long_library_message_is_cut_after_a_whole_word() -> None:
    from qostool.geo.boundaries import _short

    words = "GeoJSON object too complex/large. You may define the option to allow for larger"
    text = _short(RuntimeError(" ".join([words] * 6)))
    assert len(text) <= 304 and text.endswith(" ...")
    kept = text.removesuffix(" ...")
    assert " ".join([words] * 6).startswith(kept)
    assert " ".join([words] * 6)[len(kept)] == " "  # the cut falls between two words
    assert _short(RuntimeError("short\nsecond line")) == "short"
