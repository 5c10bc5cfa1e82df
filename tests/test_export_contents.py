"""What ``analyze --export`` writes, file by file, checked against the inputs themselves.

The existing export tests check that the files exist and have the right number of
rows; these check that each holds the right rows: each commune's own shape, each
sheet its own level, each CSV file its own table. Every test names the mistake it
guards against (each left the rest of the suite green).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import polars as pl
import pytest
import shapely
from openpyxl import load_workbook

from qostool.analyze.export import export_analysis
from qostool.analyze.run import Analysis, AnalyzeOptions, analyze_month
from qostool.geo.boundaries import BoundaryOptions
from qostool.geo.versions import import_boundaries
from qostool.ingest import ingest_paths
from qostool.store import Store
from tests.conftest import REPO, TZ

SAMPLES = REPO / "data" / "samples"
PROVINCE = SAMPLES / "province.geojson"
MONTH = "2025-10"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Analysis, Path]:
    """October of the samples analysed and exported in every format (read-only in tests)."""
    root = tmp_path_factory.mktemp("export") / "store"
    ingest_paths([str(SAMPLES)], store=root)
    store = Store.open(root, timezone=TZ)
    import_boundaries(store, PROVINCE, BoundaryOptions())
    analysis = analyze_month(store, AnalyzeOptions(month=MONTH))
    out = root.parent / "out"
    export_analysis(analysis, store, ["csv", "xlsx", "gpkg", "geojson"], out)
    return analysis, out / MONTH


@pytest.fixture(scope="module")
def source_communes() -> gpd.GeoDataFrame:
    """The boundary file as read by GeoPandas: the commune codes and shapes to expect."""
    return gpd.read_file(PROVINCE)


@pytest.mark.parametrize("name", [f"communes-{MONTH}.gpkg", f"communes-{MONTH}.geojson"])
def test_each_exported_shape_is_its_own_communes(
    exported: tuple[Analysis, Path], source_communes: gpd.GeoDataFrame, name: str
) -> None:
    """Guards: geometries matched to the wrong commune rows (shapes in another order).

    For every exported feature, the commune of the boundary file its shape overlaps
    most is the feature's own commune code, and the two shapes are the same (their
    symmetric difference is a rounding error of their area). The feature's figures
    are the commune table's row of that code.
    """
    analysis, folder = exported
    layer = gpd.read_file(folder / name)
    assert len(layer) == len(source_communes) == 30
    source = list(zip(source_communes["id"].astype(str), source_communes.geometry, strict=True))
    by_code = dict(source)
    table = {r["commune_code"]: r for r in analysis.communes.iter_rows(named=True)}
    for feature in layer.itertuples():
        code = str(feature.commune_code)
        overlaps = {c: shapely.intersection(feature.geometry, s).area for c, s in source}
        assert max(overlaps, key=overlaps.__getitem__) == code
        own = by_code[code]
        assert shapely.symmetric_difference(feature.geometry, own).area <= 1e-9 * own.area
        assert feature.commune_name == table[code]["commune_name"]
        assert feature.tests_mobile == table[code]["tests_mobile"]


def _sheet(path: Path, name: str) -> list[dict[str, Any]]:
    """One sheet's rows as dictionaries keyed by its header row."""
    book = load_workbook(path, read_only=True)
    try:
        rows = list(book[name].iter_rows(values_only=True))
    finally:
        book.close()
    header = [str(h) for h in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def test_each_sheet_holds_its_own_level(exported: tuple[Analysis, Path]) -> None:
    """Guards: the Operators sheet (or another) filled with the rows of another level.

    Operators: one row per operator and technology, whole province (no commune, no
    "all" operator), and for each technology the operators' tests add up to the
    Province sheet's. Communes: one row per commune of the boundary file. Commune
    statistics: every commune, all operators; Commune x operator: commune and operator.
    """
    analysis, folder = exported
    path = folder / f"qostool-{MONTH}.xlsx"
    province = _sheet(path, "Province")
    assert province and {r["Operator"] for r in province} == {"all"}
    assert all(r["Commune code"] is None for r in province)
    operators = _sheet(path, "Operators")
    assert operators and all(r["Commune code"] is None for r in operators)
    assert "all" not in {r["Operator"] for r in operators}
    pairs = [(r["Operator"], r["Technology"]) for r in operators]
    assert len(pairs) == len(set(pairs))  # one row per operator and technology
    for total in province:
        parts = [r["Tests"] for r in operators if r["Technology"] == total["Technology"]]
        assert sum(parts) == total["Tests"], total["Technology"]
    communes = _sheet(path, "Communes")
    codes = sorted(str(c) for c in gpd.read_file(PROVINCE)["id"])
    assert sorted(r["Commune code"] for r in communes) == codes
    assert "Share of tests on 5G" in communes[0]
    per_commune = _sheet(path, "Commune statistics")
    assert {r["Operator"] for r in per_commune} == {"all"}
    assert {r["Commune code"] for r in per_commune} == set(codes)
    crossed = _sheet(path, "Commune x operator")
    assert crossed and all(r["Commune code"] and r["Operator"] != "all" for r in crossed)
    expected = analysis.stats.filter(pl.col("level") == "operator").height
    assert len(operators) == expected


def test_each_csv_file_holds_its_own_table(exported: tuple[Analysis, Path]) -> None:
    """Guards: communes.csv written with the statistics table (or stats.csv with the other).

    communes.csv: one row per commune of the boundary file, with the commune table's
    columns (population, 5G share ...), no level or technology. stats.csv: the long
    table, every level.
    """
    analysis, folder = exported
    communes = pl.read_csv(folder / "communes.csv", infer_schema_length=None)
    codes = sorted(str(c) for c in gpd.read_file(PROVINCE)["id"])
    assert communes.columns == analysis.communes.columns
    assert {"population", "share_5g", "has_tests"} <= set(communes.columns)
    assert "level" not in communes.columns and "technology" not in communes.columns
    assert sorted(communes["commune_code"].cast(pl.String).to_list()) == codes
    stats = pl.read_csv(folder / "stats.csv", infer_schema_length=None)
    assert stats.columns == analysis.stats.columns
    assert set(stats["level"]) == {"commune_operator", "commune", "operator", "province"}
    assert stats.height == analysis.stats.height


def test_the_json_summary_names_the_exported_files(exported: tuple[Analysis, Path]) -> None:
    """Guards: ``analyze --json --export`` listing no files (found by the mutation run).

    Scripts read the paths of what was written from the ``exports`` list.
    """
    analysis, folder = exported
    files = sorted(folder.iterdir())
    assert len(files) == 5  # two CSV files, the workbook, the GeoPackage, the GeoJSON
    assert json.loads(analysis.to_json(files))["exports"] == [str(f) for f in files]
    assert json.loads(analysis.to_json())["exports"] == []
