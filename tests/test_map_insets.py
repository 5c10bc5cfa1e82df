"""The commune map's insets: the clusters of small communes, found and drawn in every format.

The cluster finder is checked against a second computation that shares none of its code:
areas on the ellipsoid (pyproj's geodesic area, not degrees times a cosine), neighbours
from every pair's distance (not a spatial index) and groups from scipy's connected
components (not a union-find), on hand-made grids with a known dense patch; then on the
real boundaries of Gia Lai (Quy Nhơn and Pleiku) and Lai Châu (no town of wards).
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import docx
import numpy as np
import pytest
import shapely
from pyproj import Geod
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from shapely import box

from qostool.analyze.run import AnalyzeOptions, analyze_month
from qostool.geo.boundaries import BoundaryOptions
from qostool.geo.versions import import_boundaries
from qostool.ingest import ingest_paths
from qostool.report import ReportOptions, write_report
from qostool.report.insets import GAP_KM, MAX_SPAN, MIN_MEMBERS, SMALL_SHARE, find_clusters
from qostool.store import Store
from tests.conftest import TZ, require_pdf_engine
from tests.test_report import PROVINCE, SAMPLES, sample_store

__all__ = ["sample_store"]  # a fixture used here by name

GEOD = Geod(ellps="WGS84")


def grid(
    columns: int = 8, rows: int = 6, size: float = 0.1, x0: float = 107.0, y0: float = 13.0
) -> list[shapely.Geometry]:
    """Large square communes, ``size`` degrees a side, row by row from the south-west."""
    return [
        box(x0 + c * size, y0 + r * size, x0 + (c + 1) * size, y0 + (r + 1) * size)
        for r in range(rows)
        for c in range(columns)
    ]


def split(cell: shapely.Geometry, parts: int) -> list[shapely.Geometry]:
    """A square cut into ``parts`` x ``parts`` tiny squares sharing their edges."""
    x0, y0, x1, _ = cell.bounds
    step = (x1 - x0) / parts
    return [
        box(x0 + i * step, y0 + j * step, x0 + (i + 1) * step, y0 + (j + 1) * step)
        for j in range(parts)
        for i in range(parts)
    ]


def expected_clusters(geometries: list[shapely.Geometry]) -> list[set[int]]:
    """The clusters by the documented rule, computed another way: geodesic areas, every
    pair's distance, scipy's components; largest first, then the smaller total area."""
    areas = np.array([abs(GEOD.geometry_area_perimeter(g)[0]) for g in geometries])
    small = [i for i, a in enumerate(areas) if a < SMALL_SHARE * np.median(areas)]
    n = len(small)
    if n == 0:
        return []
    # Degrees to km at this latitude is near enough: the gaps here are 0 or >> 0.5 km.
    near = np.array(
        [
            [shapely.distance(geometries[a], geometries[b]) * 111.32 <= GAP_KM for b in small]
            for a in small
        ]
    )
    count, labels = connected_components(csr_matrix(near.astype(int)), directed=False)
    everything = shapely.total_bounds(np.asarray(geometries))
    span = everything[2:] - everything[:2]
    out = []
    for label in range(count):
        members = {small[i] for i in range(n) if labels[i] == label}
        bounds = shapely.total_bounds(np.asarray([geometries[i] for i in members]))
        if len(members) >= MIN_MEMBERS and np.all(bounds[2:] - bounds[:2] <= MAX_SPAN * span):
            out.append(members)
    out.sort(key=lambda m: (-len(m), sum(areas[i] for i in m)))
    return out[:2]


def test_a_dense_patch_among_large_communes_is_the_cluster() -> None:
    communes = grid()
    patch = split(communes.pop(19), 4)  # 16 tiny communes where one large one was
    pair = split(communes.pop(40), 2)[:2]  # two small neighbours: fewer than three
    geometries = communes + patch + pair
    clusters = find_clusters(np.asarray(geometries, dtype=object))
    assert [set(c.members) for c in clusters] == expected_clusters(geometries)
    # By construction too: the 16 of the patch, lettered A, their box the patch's.
    first = len(communes)
    assert len(clusters) == 1
    assert clusters[0].letter == "A"
    assert clusters[0].members == tuple(range(first, first + 16))
    assert clusters[0].bounds == pytest.approx(shapely.total_bounds(np.asarray(patch)))


def test_large_communes_alone_have_no_cluster() -> None:
    communes = grid()
    assert expected_clusters(communes) == []
    assert find_clusters(np.asarray(communes, dtype=object)) == []
    # Nor has a province where every commune is small: none is small against the median.
    tiny = split(box(107.0, 13.0, 107.4, 13.4), 8)
    assert find_clusters(np.asarray(tiny, dtype=object)) == []


def test_the_two_largest_clusters_are_kept_largest_first() -> None:
    communes = grid(10, 8)
    nine = split(communes.pop(75), 3)  # popped from the end first: indices stay valid
    sixteen = split(communes.pop(44), 4)
    four = split(communes.pop(11), 2)
    geometries = communes + four + sixteen + nine
    clusters = find_clusters(np.asarray(geometries, dtype=object))
    expected = expected_clusters(geometries)
    assert [set(c.members) for c in clusters] == expected
    assert [len(c.members) for c in clusters] == [16, 9]  # the patch of 4 is the third
    assert [c.letter for c in clusters] == ["A", "B"]


def test_a_cluster_as_large_as_the_province_is_no_inset() -> None:
    """Small communes spread across the whole province: no denser than the map."""
    communes = grid(6, 4, size=0.2)  # 24 large communes, 13.0-13.8 N
    strip = grid(24, 1, size=0.05, y0=13.8)  # 24 small neighbours along the whole width
    geometries = communes + strip
    assert find_clusters(np.asarray(geometries, dtype=object)) == []
    assert expected_clusters(geometries) == []
    # Cut to a third of the width, the strip is a cluster.
    shorter = communes + strip[:6]
    assert [set(c.members) for c in find_clusters(np.asarray(shorter, dtype=object))] == [
        set(range(24, 30))
    ]


def test_gia_lai_insets_are_quy_nhon_and_pleiku(shared_data: Path) -> None:
    import geopandas as gpd

    frame = gpd.read_file(shared_data / "boundaries_2025" / "vn2025_communes_gia_lai.geojson")
    geometries = frame.geometry.to_numpy()
    clusters = find_clusters(geometries)
    names = [{str(frame["name"].iloc[i]) for i in c.members} for c in clusters]
    assert [set(c.members) for c in clusters] == expected_clusters(list(geometries))
    assert {"Quy Nhơn", "Quy Nhơn Bắc", "Quy Nhơn Nam"} <= names[0]  # the coast's city
    assert {"Pleiku", "Thống Nhất", "Diên Hồng", "Hội Phú", "An Phú"} == names[1]
    # The source's own areas (km², from gis.vn) agree that the members are small.
    area = frame["area"].to_numpy()
    assert all(area[i] < SMALL_SHARE * np.median(area) for c in clusters for i in c.members)


def test_lai_chau_has_no_inset(shared_data: Path) -> None:
    import geopandas as gpd

    frame = gpd.read_file(shared_data / "boundaries_2025" / "vn2025_communes_lai_chau.geojson")
    assert find_clusters(frame.geometry.to_numpy()) == []


# -- labels that would overlap become numbers ----------------------------------------------


def test_a_name_that_would_cover_another_label_becomes_a_number() -> None:
    from qostool.report.charts import KeyEntry, label_plan

    names = ["Xã Rộng Lớn", "Xã Bên Cạnh", "Xã Xa Xôi"]
    across = [1.0, 0.9, 1.0]  # inches: every name fits its commune at 6.5 pt
    # The first two are centred 0.3 inch apart on one line: their names (about 0.6 inch
    # wide at 6.5 pt) would overlap; the third is far away.
    positions = np.array([[1.0, 1.0], [1.3, 1.0], [4.0, 4.0]])
    plan, key = label_plan(names, across, 1.0, positions=positions)
    assert plan[0] == ("Xã Rộng Lớn", 6.5)  # the larger commune keeps its name
    assert plan[1] == ("1", 6.0) and key == [KeyEntry(1, "Xã Bên Cạnh")]
    assert plan[2] == ("Xã Xa Xôi", 6.5)
    # Apart on the page, both names stay (and without positions nothing is checked).
    apart = np.array([[1.0, 1.0], [1.0, 2.0], [4.0, 4.0]])
    assert label_plan(names, across, 1.0, positions=apart)[1] == []
    assert label_plan(names, across, 1.0)[1] == []
    # A name reaching past its panel's edge (an inset's frame would cut it): a number.
    panels = np.array([[0.0, 0.0, 5.0, 5.0], [0.0, 0.0, 5.0, 5.0], [3.8, 3.8, 4.2, 4.2]])
    plan, key = label_plan(names, across, 1.0, positions=apart, panels=panels)
    assert [k.name for k in key] == ["Xã Xa Xôi"] and plan[2] == ("1", 6.0)


# -- the insets in the report's formats -----------------------------------------------------


def _with_a_town(folder: Path) -> Path:
    """The sample province with its first urban ward cut into nine small wards."""
    province = json.loads(PROVINCE.read_text(encoding="utf-8"))
    features = []
    for feature in province["features"]:
        props = feature["properties"]
        if props["type"] != "Phường" or any(f["properties"]["id"] >= "99100" for f in features):
            features.append(feature)
            continue
        shape = shapely.geometry.shape(feature["geometry"])
        x0, y0, x1, y1 = shape.bounds
        dx, dy = (x1 - x0) / 3, (y1 - y0) / 3
        for part in range(9):
            i, j = part % 3, part // 3
            cell = box(x0 + i * dx, y0 + j * dy, x0 + (i + 1) * dx, y0 + (j + 1) * dy)
            features.append(
                {
                    "type": "Feature",
                    "properties": {
                        **props,
                        "id": f"99{101 + part}",
                        "name": f"{props['name']} {part + 1}",
                        "population": props["population"] // 9,
                    },
                    "geometry": shapely.geometry.mapping(shapely.intersection(shape, cell)),
                }
            )
    province["features"] = features
    path = folder / "town.geojson"
    path.write_text(json.dumps(province, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def town_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    folder = tmp_path_factory.mktemp("town")
    ingest_paths([str(SAMPLES)], store=folder / "store")
    store = Store.open(folder / "store", timezone=TZ)
    import_boundaries(store, _with_a_town(folder), BoundaryOptions())
    analyze_month(store, AnalyzeOptions(month="2025-10"))
    return store


def _report(store: Store, folder: Path, formats: tuple[str, ...]) -> dict[str, Path]:
    options = ReportOptions(
        month="2025-10", lang="en", formats=formats, out=folder, generated_at="2025-11-05"
    )
    return write_report(store, options).files


def _docx_images(path: Path) -> list[bytes]:
    with zipfile.ZipFile(path) as package:
        return [package.read(n) for n in sorted(package.namelist()) if n.startswith("word/media/")]


def _captions(path: Path) -> list[str]:
    return [p.text for p in docx.Document(str(path)).paragraphs if p.text.startswith("Inset")]


def test_the_town_gets_an_inset_in_html_markdown_and_docx(
    town_store: Store, tmp_path: Path
) -> None:
    from qostool.analyze.run import load_analysis
    from qostool.report.charts import commune_map
    from qostool.report.i18n import Formatter
    from qostool.report.write import load_map

    files = _report(town_store, tmp_path, ("html", "md", "docx"))
    data = load_map(town_store, load_analysis(town_store, "2025-10"))
    assert data is not None
    wards = {i for i, name in enumerate(data.names) if re.search(r" [1-9]$", name)}
    assert len(wards) == 9
    html = files["html"].read_text(encoding="utf-8")
    figure = re.search(r'<figure id="map-insets">(.*?)</figure>', html, flags=re.S)
    assert figure is not None
    assert '<g id="inset-A">' in figure.group(1)
    assert "Inset A: clusters of small communes" in figure.group(1)
    # The frame's letter on the map, and the wards' labels in the inset, not on the map.
    main = re.search(r'<figure id="map">\s*(<svg.*?</svg>)', html, flags=re.S)
    assert main is not None
    texts = [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", main.group(1))]
    inset = [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", figure.group(1))]
    assert "A" in texts and "A" in inset
    for i in wards:
        assert data.names[i] not in texts
    key = dict(re.findall(r'<td class="num">(\d+)</td><td>([^<]*)</td>', html))
    for i in wards:  # each ward: its name in the inset, or its number there and in the key
        name = data.names[i]
        number = next((n for n, k in key.items() if k == name), None)
        assert name in inset or (number is not None and number in inset), name
    markdown = files["md"].read_text(encoding="utf-8")
    assert "*Inset A: clusters of small communes" in markdown
    # The DOCX: the map, then the inset's picture (the same drawing as PNG), captioned.
    drawn = commune_map(data, Formatter("en"), "png")
    assert drawn.insets is not None and drawn.letters == ["A"]
    images = _docx_images(files["docx"])
    assert drawn.image in images and drawn.insets in images
    assert any(c.startswith("Inset A: clusters") for c in _captions(files["docx"]))


def test_the_pdf_carries_the_inset(town_store: Store, tmp_path: Path) -> None:
    """WeasyPrint prints the HTML: the inset's figure is in the PDF as a named place."""
    require_pdf_engine()
    from tests.test_report_docx_pdf import pdf_objects

    data = _report(town_store, tmp_path / "town", ("pdf",))["pdf"].read_bytes()
    assert b"(map-insets)" in pdf_objects(data)


def test_the_sample_province_has_no_inset(sample_store: Store, tmp_path: Path) -> None:
    files = _report(sample_store, tmp_path, ("html", "md", "docx"))
    html = files["html"].read_text(encoding="utf-8")
    assert '<figure id="map">' in html and "map-insets" not in html and "inset-" not in html
    assert "Inset" not in files["md"].read_text(encoding="utf-8")
    assert len(_docx_images(files["docx"])) >= 1 and _captions(files["docx"]) == []


def test_the_pdf_has_no_inset_without_a_cluster(sample_store: Store, tmp_path: Path) -> None:
    require_pdf_engine()
    from tests.test_report_docx_pdf import pdf_objects

    data = _report(sample_store, tmp_path, ("pdf",))["pdf"].read_bytes()
    objects = pdf_objects(data)
    assert b"(map)" in objects and b"(map-insets)" not in objects


def test_the_insets_are_the_same_bytes_every_time(town_store: Store) -> None:
    from qostool.analyze.run import load_analysis
    from qostool.report.charts import commune_map, operator_maps
    from qostool.report.i18n import Formatter
    from qostool.report.write import load_map

    data = load_map(town_store, load_analysis(town_store, "2025-10"))
    assert data is not None
    for kind in ("svg", "png"):
        first, second = (commune_map(data, Formatter("vi"), kind) for _ in range(2))
        assert first.insets is not None and first.insets == second.insets
        assert operator_maps(data, Formatter("vi"), kind) == operator_maps(
            data, Formatter("vi"), kind
        )


def test_each_operators_map_has_the_inset_without_labels(town_store: Store) -> None:
    from qostool.analyze.run import load_analysis
    from qostool.report.charts import operator_maps
    from qostool.report.i18n import Formatter
    from qostool.report.write import load_map

    data = load_map(town_store, load_analysis(town_store, "2025-10"))
    assert data is not None
    for svg in operator_maps(data, Formatter("en"), "svg").values():
        assert isinstance(svg, str)
        inset = svg[svg.index('<g id="inset-A">') :]
        texts = [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", inset)]
        assert "A" in texts
        assert not any(re.search(r" [1-9]$", t) for t in texts)  # no ward's name
