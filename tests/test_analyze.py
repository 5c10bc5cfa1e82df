"""``analyze --month`` end to end on the samples, checked by an independent computation.

The second computation uses plain shapely (prepared polygons, one commune at a
time) and numpy, on the rows read straight from the store's Parquet parts.
"""

from __future__ import annotations

import json
import shutil
import unicodedata
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import polars as pl
import pytest
import shapely

from qostool.analyze.rules import Rule, Verdict
from qostool.analyze.run import (
    AnalyzeOptions,
    _device_bounds_of_old,
    analyze_month,
    load_analysis,
)
from qostool.errors import AnalysisError, ExitCode, StoreError
from qostool.geo.boundaries import BoundaryOptions
from qostool.geo.versions import import_boundaries
from qostool.ingest import ingest_paths
from qostool.store import Store
from tests.conftest import REPO, TZ

SAMPLES = REPO / "data" / "samples"
PROVINCE = SAMPLES / "province.geojson"


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The samples ingested and their province imported (shared, read-only in tests)."""
    root = tmp_path_factory.mktemp("samples") / "store"
    ingest_paths([str(SAMPLES)], store=root)
    import_boundaries(Store.open(root, timezone=TZ), PROVINCE, BoundaryOptions())
    return root


@pytest.fixture
def store(sample_store: Path, tmp_path: Path) -> Store:
    """A private copy of the sample store, so a test may analyse and export freely."""
    root = tmp_path / "store"
    shutil.copytree(sample_store, root)
    return Store.open(root, timezone=TZ)


def independent(store: Store, month: str) -> pl.DataFrame:
    """The month's rows with the commune found by a plain covers test, lowest code first."""
    parts = store.part_paths("tests")
    rows = pl.read_parquet(parts)
    quarter = f"{month[:4]}-Q{(int(month[5:]) - 1) // 3 + 1}"
    rows = rows.filter(
        (~pl.col("aggregate").fill_null(False) & (pl.col("month") == month))
        | (pl.col("aggregate").fill_null(False) & (pl.col("period") == quarter))
    )
    communes = gpd.read_file(PROVINCE).sort_values("id")
    points = shapely.points(rows["lon"].to_numpy(), rows["lat"].to_numpy())
    code = np.full(rows.height, None, dtype=object)
    for commune_code, shape in zip(communes["id"], communes.geometry, strict=True):
        shapely.prepare(shape)
        inside = shapely.covers(shape, points) & (code == None)  # noqa: E711
        code[inside] = commune_code
    return rows.with_columns(commune_code=pl.Series(code, dtype=pl.String))


def test_commune_figures_equal_an_independent_computation(store: Store) -> None:
    analysis = analyze_month(store, AnalyzeOptions(month="2025-10"))
    rows = independent(store, "2025-10")
    inside = rows.filter(pl.col("commune_code").is_not_null())
    assert analysis.meta["counts"]["outside_rows"] == rows.height - inside.height
    assert analysis.meta["counts"]["rows"] == rows.height
    for code in sorted(inside["commune_code"].unique()):
        mine = inside.filter(pl.col("commune_code") == code, pl.col("technology") == "4G")
        got = analysis.commune_rows("4G").filter(pl.col("commune_code") == code).row(0, named=True)
        values = mine["download_mbps"].to_numpy()
        assert got["tests"] == len(values)
        if len(values) == 0:
            continue
        assert got["download_mean_mbps"] == pytest.approx(values.mean())
        assert got["download_median_mbps"] == pytest.approx(np.median(values))
        assert got["download_p10_mbps"] == pytest.approx(np.percentile(values, 10))
        distinct = mine["device_id"].drop_nulls().n_unique()
        assert got["devices_min"] == got["devices_max"] == distinct  # no tiles here


def test_tiles_are_weighted_in_the_unknown_and_all_rows(store: Store) -> None:
    analysis = analyze_month(store, AnalyzeOptions(month="2025-11"))
    rows = independent(store, "2025-11").filter(pl.col("commune_code").is_not_null())
    tiles = rows.filter(pl.col("aggregate"))
    assert tiles.height > 0  # the Q4 tiles stored under October describe November too
    province = analysis.stats.filter(
        pl.col("level") == "province", pl.col("technology") == "unknown"
    )
    got = province.row(0, named=True)
    weights = tiles["weight"].to_numpy()
    assert got["tests"] == weights.sum()
    assert got["tile_tests"] == weights.sum()
    expected = (tiles["download_mbps"].to_numpy() * weights).sum() / weights.sum()
    assert got["download_mean_mbps"] == pytest.approx(expected)
    assert got["download_median_mbps"] is None
    assert analysis.meta["quarter_of_tiles"] == "2025-Q4"


def test_communes_without_tests_and_thin_ones(store: Store) -> None:
    analysis = analyze_month(store, AnalyzeOptions(month="2025-10"))
    table = analysis.communes
    empty = table.filter(~pl.col("has_tests"))["commune_code"].to_list()
    assert sorted(empty) == ["99006", "99025"]  # planted in scripts/make_samples.py
    for code in empty:
        row = analysis.commune_rows("4G").filter(pl.col("commune_code") == code).row(0, named=True)
        assert row["tests"] == 0
        assert row["verdict"] == Verdict.INSUFFICIENT
    population = table["population"].to_numpy().astype(float)
    per_1000 = table["tests_mobile"].to_numpy() * 1000 / population
    assert table["tests_per_1000"].to_numpy() == pytest.approx(per_1000)
    assert set(analysis.verdict_counts()["4G"]) == {v.value for v in Verdict}
    assert sum(analysis.verdict_counts()["4G"].values()) == 30


def test_history_and_the_months_below_target(store: Store) -> None:
    analysis = analyze_month(store, AnalyzeOptions(month="2025-10"))
    september = analyze_month(store, AnalyzeOptions(month="2025-09"))
    october = (
        analysis.commune_rows("4G").filter(pl.col("commune_code") == "99012").row(0, named=True)
    )
    before = (
        september.commune_rows("4G").filter(pl.col("commune_code") == "99012").row(0, named=True)
    )
    assert october["prev_download_mean_mbps"] == pytest.approx(before["download_mean_mbps"])
    assert october["download_mean_change_mbps"] == pytest.approx(
        october["download_mean_mbps"] - before["download_mean_mbps"]
    )
    both_below = before["verdict"] == october["verdict"] == Verdict.BELOW
    assert october["months_below_target"] == (
        2 if both_below else int(october["verdict"] == Verdict.BELOW)
    )
    assert analysis.meta["history_months"] == 1  # September; August has no data


def test_a_new_official_analysis_is_the_months_and_the_earlier_one_is_kept(
    store: Store,
) -> None:
    first = analyze_month(store, AnalyzeOptions(month="2025-10"))
    second = analyze_month(store, AnalyzeOptions(month="2025-10", rule=Rule(min_tests=10)))
    assert first.path is not None and second.path is not None
    loaded = load_analysis(store, "2025-10")
    assert (loaded.path, loaded.role) == (second.path, "official")
    assert loaded.stats.equals(second.stats)
    assert loaded.meta["rule"]["min_tests"] == 10
    assert [a.path for a in store.artifacts("results", "2025-10")] == [second.path, first.path]
    earlier = load_analysis(store, "2025-10", first.path.name)
    assert (earlier.role, earlier.replaced_at) == ("earlier", second.meta["generated_at"])
    assert earlier.stats.equals(first.stats)


def test_a_month_without_tests_is_a_clear_error(store: Store) -> None:
    with pytest.raises(StoreError, match="no tests stored for 2024-01") as info:
        analyze_month(store, AnalyzeOptions(month="2024-01"))
    assert "2025-09, 2025-10, 2025-11" in str(info.value.hint)


def test_projected_and_decomposed_boundaries_give_the_same_results(
    store: Store, tmp_path: Path
) -> None:
    plain = analyze_month(store, AnalyzeOptions(month="2025-10"))
    odd = gpd.read_file(PROVINCE).to_crs("EPSG:32648")
    odd["name"] = [unicodedata.normalize("NFD", n) for n in odd["name"]]
    path = tmp_path / "projected.gpkg"
    odd.to_file(path, driver="GPKG")
    version = import_boundaries(store, path, BoundaryOptions()).version
    other = analyze_month(store, AnalyzeOptions(month="2025-10", boundaries=version))
    assert other.meta["boundaries"]["version"] == version
    columns = [
        c for c in plain.stats.columns if c not in ("download_mean_ci_low", "download_mean_ci_high")
    ]
    assert other.stats.select(columns).equals(plain.stats.select(columns))


def test_cli_analyze_json_exports_and_fail_below(
    sample_store: Path, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    root = tmp_path / "store"
    shutil.copytree(sample_store, root)
    out = tmp_path / "out"
    result = cli(
        "analyze", "--month", "2025-10", "--store", root, "--json",
        "--export", "csv,xlsx,gpkg,geojson", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    stored = load_analysis(Store.open(root, timezone=TZ), "2025-10")
    assert data["communes"] == json.loads(json.dumps(stored.communes.to_dicts(), default=str))
    assert data["verdict_counts"] == stored.verdict_counts()
    folder = out / "2025-10"
    csv = pl.read_csv(folder / "stats.csv", infer_schema_length=None)
    assert csv.height == stored.stats.height
    with zipfile.ZipFile(folder / "qostool-2025-10.xlsx") as book:
        workbook = book.read("xl/workbook.xml").decode()
    for sheet in ("Province", "Operators", "Communes", "Commune statistics", "Method"):
        assert f'name="{sheet}"' in workbook
    layer = gpd.read_file(folder / "communes-2025-10.gpkg")
    assert len(layer) == 30
    assert layer.geometry.notna().all()
    assert "Mường So" in set(layer["commune_name"])
    assert gpd.read_file(folder / "communes-2025-10.geojson").shape == layer.shape

    below = cli("analyze", "--month", "2025-10", "--store", root, "--fail-below")
    assert below.exit_code == ExitCode.BELOW_TARGET
    assert "Slowest communes on 4G" in below.stdout


def test_cli_analyze_takes_the_rule_from_the_configuration_under_its_options(
    sample_store: Path, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    root = tmp_path / "store"
    shutil.copytree(sample_store, root)
    config = tmp_path / "qostool.toml"
    config.write_text(
        f'[store]\npath = "{root}"\n[analyze]\nmin_tests = 100000\ntargets = {{ "4G" = 45.0 }}\n',
        encoding="utf-8",
    )

    def rule(*args: str | Path) -> dict[str, Any]:
        result = cli("analyze", "--month", "2025-10", "--config", config, "--json", *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["rule"]  # type: ignore[no-any-return]

    from_file = rule()
    assert from_file["min_tests"] == 100000
    assert from_file["targets_mbps"] == {"4G": 45.0, "5G": 100.0}  # over the defaults
    stored = load_analysis(Store.open(root, timezone=TZ), "2025-10")
    assert stored.verdict_counts()["4G"]["insufficient_data"] == 30  # nobody has 100,000 tests
    overridden = rule("--min-tests", "10", "--target", "5G=150")
    assert overridden["min_tests"] == 10
    assert overridden["targets_mbps"] == {"4G": 45.0, "5G": 150.0}  # options over the file
    bad = cli("analyze", "--month", "2025-10", "--config", config, "--min-tests", "0")
    assert bad.exit_code == ExitCode.USAGE
    assert "--min-tests 0: expected" in bad.stderr


def test_cli_boundaries_import_twice_and_list(tmp_path: Path, cli: Callable[..., Any]) -> None:
    root = tmp_path / "store"
    first = cli("boundaries", "import", PROVINCE, "--store", root)
    assert first.exit_code == 0, first.output
    assert "30 communes imported as province-" in first.stdout
    again = cli("boundaries", "import", PROVINCE, "--store", root, "--json")
    assert json.loads(again.stdout)["already_imported"] is True
    listed = json.loads(cli("boundaries", "list", "--store", root, "--json").stdout)
    assert [v["communes"] for v in listed] == [30]


def test_cli_usage_errors_name_the_option(tmp_path: Path, cli: Callable[..., Any]) -> None:
    root = tmp_path / "store"
    cli("boundaries", "import", PROVINCE, "--store", root)
    for args, message in [
        (("--month", "2025-13"), "expected a month as YYYY-MM"),
        (("--month", "2025-10", "--statistic", "mode"), "expected one of: mean, median, share"),
        (("--month", "2025-10", "--target", "4G=fast"), "not a number"),
        (("--month", "2025-10", "--export", "pdf"), "unknown format pdf"),
        (("--month", "2025-10", "--boundaries", "nope"), "no such boundaries version"),
    ]:
        result = cli("analyze", *args, "--store", root)
        assert result.exit_code == ExitCode.USAGE, (args, result.output)
        assert message in result.stderr


def test_the_month_edge_is_in_local_time(tmp_path: Path) -> None:
    """18:00 UTC on 30 September is 01:00 on 1 October in Vietnam: an October test."""
    communes = gpd.read_file(PROVINCE).sort_values("id")
    spot = communes.geometry.iloc[0].representative_point()
    lines = ["test_id,time,latitude,longitude,download_mbps,network_type,device_id"]
    times = {"a": "2025-09-30T18:00:00Z", "b": "2025-09-30T16:59:59Z", "c": "2025-10-31T16:59:59Z"}
    lines += [f"{k},{t},{spot.y},{spot.x},50,LTE,dev-{k}" for k, t in times.items()]
    csv = tmp_path / "edge.csv"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    root = tmp_path / "store"
    ingest_paths([str(csv)], store=root)
    store = Store.open(root, timezone=TZ)
    import_boundaries(store, PROVINCE, BoundaryOptions())
    october = analyze_month(store, AnalyzeOptions(month="2025-10"))
    row = october.commune_rows("4G").filter(pl.col("commune_code") == communes["id"].iloc[0])
    assert row["tests"].to_list() == [2]  # a and c; b is 23:59:59 on 30 September locally
    assert analyze_month(store, AnalyzeOptions(month="2025-09")).meta["counts"]["rows"] == 1


def test_boundaries_of_another_place_are_refused(store: Store, tmp_path: Path) -> None:
    far = gpd.read_file(PROVINCE)
    far["geometry"] = far.geometry.translate(xoff=5.0, yoff=-8.0)  # far from every test
    far.to_file(tmp_path / "elsewhere.geojson", driver="GeoJSON")
    version = import_boundaries(store, tmp_path / "elsewhere.geojson", BoundaryOptions()).version
    before = store.artifacts("results", "2025-10")
    with pytest.raises(AnalysisError, match=r"none of the .* rows .* falls inside") as info:
        analyze_month(store, AnalyzeOptions(month="2025-10"))
    assert version in info.value.message and "°N" in info.value.message
    assert "qostool boundaries import" in (info.value.hint or "")
    assert store.artifacts("results", "2025-10") == before  # nothing stored


def import_four_communes(store: Store, tmp_path: Path) -> gpd.GeoDataFrame:
    """Boundaries of four of the sample's communes: most of the month's tests are outside."""
    communes = gpd.read_file(PROVINCE).sort_values("id").head(4)
    communes.to_file(tmp_path / "part.geojson", driver="GeoJSON")
    import_boundaries(store, tmp_path / "part.geojson", BoundaryOptions())
    return communes


def test_most_tests_outside_the_boundaries_is_a_warning(
    store: Store, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    communes = import_four_communes(store, tmp_path)
    result = cli("analyze", "--month", "2025-10", "--store", store.root, "--json")
    assert result.exit_code == 0, result.output
    meta = json.loads(result.stdout)
    # Independently: single tests of the month farther than the 100 m tolerance from the four.
    rows = pl.read_parquet(store.part_paths("tests"))
    singles = rows.filter(~pl.col("aggregate").fill_null(False) & (pl.col("month") == "2025-10"))
    points = gpd.GeoSeries(gpd.points_from_xy(singles["lon"], singles["lat"]), crs=4326)
    union = communes.to_crs(32648).union_all()
    outside = int((points.to_crs(32648).distance(union) > 100).sum())
    assert meta["counts"]["outside_single_tests"] == outside
    assert outside * 2 > singles.height  # the case the warning is for
    [warning] = meta["warnings"]
    assert warning["check"] == "outside_boundaries"
    assert (warning["outside_single_tests"], warning["single_tests"]) == (outside, singles.height)
    assert f"{outside:,} of the month's {singles.height:,}" in warning["message"]
    assert "Warning:" in result.stderr and f"{outside:,} of the month's" in result.stderr
    stored = load_analysis(store, "2025-10")
    assert stored.meta["warnings"] == meta["warnings"]


def test_a_province_of_tiles_only_outside_is_no_warning() -> None:
    from qostool.analyze.run import inside_checks

    counts = {"rows": 10, "tests": 500, "tile_rows": 10, "outside_rows": 9}
    tests = pl.DataFrame({"lat": [21.0] * 10, "lon": [103.0] * 10})
    square = [shapely.box(103, 21, 104, 22)]
    # Tiles of a quarter cover the whole country: most outside a province is normal.
    assert inside_checks("2025-10", {**counts, "outside_single_tests": 0}, "v", square, tests) == []
    half = {"rows": 10, "tests": 10, "tile_rows": 0, "outside_rows": 5, "outside_single_tests": 5}
    assert inside_checks("2025-10", half, "v", square, tests) == []  # exactly half: no warning
    more = {**half, "outside_rows": 6, "outside_single_tests": 6}
    assert len(inside_checks("2025-10", more, "v", square, tests)) == 1


def test_the_warning_is_on_page_one_of_every_report(
    store: Store, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    import docx

    import_four_communes(store, tmp_path)
    analyzed = cli("analyze", "--month", "2025-10", "--store", store.root, "--json")
    [warning] = json.loads(analyzed.stdout)["warnings"]
    outside, singles = warning["outside_single_tests"], warning["single_tests"]
    # Vietnamese number format, computed here: 1.234 and a whole percentage.
    vi = f"{outside:,}".replace(",", ".") + " trong số " + f"{singles:,}".replace(",", ".")
    share = f"({round(100 * outside / singles)}%)"
    out = tmp_path / "reports"
    result = cli(
        "report", "--month", "2025-10", "--store", store.root, "--out", out,
        "--format", "html,md,docx", "--generated-at", "2025-11-05",
    )  # fmt: skip
    assert result.exit_code == ExitCode.PREFLIGHT, result.output  # refused: most tests outside
    assert not (out / "2025-10").exists()
    result = cli(
        "report", "--month", "2025-10", "--store", store.root, "--out", out,
        "--format", "html,md,docx", "--generated-at", "2025-11-05", "--force",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    html = (out / "2025-10" / "report.html").read_text(encoding="utf-8")
    assert html.index('id="warnings"') < html.index('id="uptake"')  # before section I
    section = html[
        html.index('id="warnings"') : html.index("</section>", html.index('id="warnings"'))
    ]
    assert "Cảnh báo về số liệu" in section and vi in section and share in section
    md = (out / "2025-10" / "report.md").read_text(encoding="utf-8")
    assert md.index("## Cảnh báo về số liệu") < md.index("## I.")
    assert vi.replace(".", "\\.") in md  # Markdown escapes the points of a number from data
    text = [p.text for p in docx.Document(str(out / "2025-10" / "report.docx")).paragraphs]
    title = text.index("CẢNH BÁO VỀ SỐ LIỆU")
    assert vi in text[title + 1] and share in text[title + 1]
    assert title < next(i for i, t in enumerate(text) if t.startswith("I."))


def test_an_analysis_stored_before_device_bounds_reads_with_them() -> None:
    """Its ``devices`` added the tiles' devices: the upper bound; the lower one is only
    known (the same number) where no tile was used."""
    stats = pl.DataFrame(
        {"level": ["commune", "commune"], "tests": [40, 60], "tile_tests": [0, 25]},
    ).with_columns(devices=pl.Series([7, 19]), verdict=pl.lit("meets_target"))
    got = _device_bounds_of_old(stats)
    assert got.columns == ["level", "tests", "tile_tests", "devices_min", "devices_max", "verdict"]
    assert got["devices_min"].to_list() == [7, None]
    assert got["devices_max"].to_list() == [7, 19]
    communes = pl.DataFrame({"commune_code": ["1"], "devices": [5], "devices_per_1000": [0.5]})
    old = _device_bounds_of_old(communes)
    assert old.columns == [
        "commune_code",
        "devices_min",
        "devices_max",
        "devices_min_per_1000",
        "devices_max_per_1000",
    ]
    assert old.row(0) == ("1", None, 5, None, 0.5)
    assert _device_bounds_of_old(got).equals(got)  # a current table is left as it is
