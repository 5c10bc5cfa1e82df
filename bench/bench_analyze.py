"""Benchmark the first ``qostool analyze`` after ingest against a floor and the tutorial way.

Setup (not timed), in ``<workdir>/analyze-<N>-<communes>/``:

* communes: the 3,321 real communes of ``../shared/data/boundaries_2025/
  vn2025_communes_all_34prov.geojson`` (next to the repository), or ``--boundaries PATH``;
  if neither exists, about 3,300 synthetic Voronoi communes with 5-digit codes;
* ``qostool boundaries import <file> --store S``;
* N synthetic "ispeed" English-header CSV rows (the column set of ``bench_ingest.py``), all
  in October 2025 at +07:00, clustered around the communes' representative points with some
  uniform noise, then ``qostool ingest <csv> --store S``;
* ``floor.parquet``: the stored October tests with each test's commune code, found with
  ``CommuneIndex`` on the stored boundaries (checked on a sample against
  ``assign_reference``).

Timed, each run a fresh child process (wall time and peak RSS from ``os.wait4``):

* analyze: ``python -m qostool analyze --month 2025-10 --store <copy of S> --json`` on a fresh
  copy of the store made right after ingest, so every repeat is a first analysis;
* floor: Polars reads the floor Parquet (commune already known) and runs one group-by
  commune x operator x technology (tests, distinct devices, download mean, median, p10, p90,
  share >= 40 Mbps, upload mean, latency median);
* tutorial: ``geopandas.read_file`` of the boundary file, a points GeoDataFrame from the floor
  Parquet read with pandas, ``geopandas.sjoin(predicate="within")`` and a pandas ``groupby``
  with the same aggregations.

Targets: analyze within 1.6x the floor's time at 10 M tests, 2.5x at 1 M and 100 M
(``FLOOR_RATIOS``), at least 8x faster than the tutorial and 5x faster than DuckDB
spatial, and peak RSS under 4,096 MB. After the timed runs the results are compared
(analyze and floor must give the same groups, counts and figures).

Exit codes: 0 targets met, 1 a target missed, 2 a run failed or the results disagree.

Usage::

    python bench/bench_analyze.py [--tests 1000000] [--boundaries PATH] [--repeat 1]
                                  [--skip-tutorial] [--workdir DIR] [--json OUT] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from bench_duckdb import run_duckdb
from bench_ingest import (
    HEADER,
    N_DEVICES,
    NETWORK_TYPES,
    OPERATORS,
    RunResult,
    fixed_point,
    how_it_ended,
    measure_clean,
    pick,
    qostool_env,
    tail,
    warm_page_cache,
)

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_WORKDIR = BENCH_DIR / ".work"
DEFAULT_BOUNDARIES = (
    REPO_ROOT.parent / "shared" / "data" / "boundaries_2025" / "vn2025_communes_all_34prov.geojson"
)

MONTH = "2025-10"
TIMEZONE = "Asia/Ho_Chi_Minh"
SEED = 20251022
CHUNK_ROWS = 500_000
OCT_START = 1_759_276_800  # 2025-10-01T00:00:00 local wall clock, as naive epoch seconds
NOV_START = 1_761_955_200  # 2025-11-01T00:00:00
NOISE_SHARE = 0.03  # tests placed uniformly over the communes' bounding box
SAMPLE_CHECK = 200_000  # floor commune codes checked against assign_reference
#: The stored columns of each single test that floor.parquet keeps (its commune added),
#: position first: what the floor, the tutorial and DuckDB read.
FLOOR_COLUMNS = [
    "lon",
    "lat",
    "operator",
    "technology",
    "device_id",
    "download_mbps",
    "upload_mbps",
    "latency_ms",
]
SYNTHETIC_COMMUNES = 3_300
SYNTHETIC_BOX = (102.2, 8.6, 109.4, 23.3)  # roughly mainland Vietnam's bounding box

#: analyze / floor time (issue #18): within 1.6x at 10 M tests, 2.5x at 1 M (where a
#: process's fixed costs weigh) and at 100 M (in batches, in bounded memory).
FLOOR_RATIOS = ((5_000_000, 2.5), (50_000_000, 1.6), (None, 2.5))


def max_floor_ratio(tests: int) -> float:
    """The analyze / floor target at ``tests`` tests (:data:`FLOOR_RATIOS`)."""
    return next(ratio for below, ratio in FLOOR_RATIOS if below is None or tests < below)


MIN_TUTORIAL_RATIO = 8.0
MAX_RSS_MB = 4096.0
MIN_DUCKDB_RATIO = 5.0

FLOOR_CODE = """
import json, sys
import polars as pl
dl, ul = pl.col("download_mbps"), pl.col("upload_mbps")
out = (
    pl.scan_parquet(sys.argv[1])
    .select("commune_code", "operator", "technology", "device_id",
            "download_mbps", "upload_mbps", "latency_ms")
    .filter(pl.col("commune_code").is_not_null())
    .group_by("commune_code", "operator", "technology")
    .agg(
        tests=pl.len(),
        devices=pl.col("device_id").drop_nulls().n_unique(),
        download_mean_mbps=dl.mean(),
        download_median_mbps=dl.median(),
        download_p10_mbps=dl.quantile(0.1, "linear"),
        download_p90_mbps=dl.quantile(0.9, "linear"),
        share_ge_40=(dl >= 40).mean(),
        upload_mean_mbps=ul.mean(),
        latency_median_ms=pl.col("latency_ms").median(),
    )
    .collect()
)
out.write_parquet(sys.argv[2])
print(json.dumps({"groups": out.height, "tests": int(out["tests"].sum())}))
"""

TUTORIAL_CODE = """
import json, sys
import geopandas as gpd
import pandas as pd
communes = gpd.read_file(sys.argv[1])[["id", "geometry"]]
tests = pd.read_parquet(sys.argv[2], columns=[
    "lon", "lat", "operator", "technology", "device_id",
    "download_mbps", "upload_mbps", "latency_ms"])
points = gpd.GeoDataFrame(
    tests, geometry=gpd.points_from_xy(tests["lon"], tests["lat"]), crs=communes.crs)
joined = gpd.sjoin(points, communes, how="inner", predicate="within")
joined["ge_40"] = joined["download_mbps"] >= 40
groups = joined.groupby(["id", "operator", "technology"])
out = groups.agg(
    tests=("download_mbps", "size"),
    devices=("device_id", "nunique"),
    download_mean_mbps=("download_mbps", "mean"),
    download_median_mbps=("download_mbps", "median"),
    share_ge_40=("ge_40", "mean"),
    upload_mean_mbps=("upload_mbps", "mean"),
    latency_median_ms=("latency_ms", "median"),
)
out["download_p10_mbps"] = groups["download_mbps"].quantile(0.1)
out["download_p90_mbps"] = groups["download_mbps"].quantile(0.9)
out = out.reset_index().rename(columns={"id": "commune_code"})
out.to_parquet(sys.argv[3])
print(json.dumps({"groups": len(out), "tests": int(out["tests"].sum())}))
"""

RUNS = ("analyze", "floor", "tutorial", "duckdb")
FIGURES = (
    "tests",
    "devices",
    "download_mean_mbps",
    "download_median_mbps",
    "download_p10_mbps",
    "download_p90_mbps",
    "upload_mean_mbps",
    "latency_median_ms",
)


class BenchError(Exception):
    """A setup step or a measured run failed: exit code 2."""

    def __init__(self, what: str, run: RunResult | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.run = run


# --------------------------------------------------------------------------------------------
# Setup: communes, tests, store, floor Parquet
# --------------------------------------------------------------------------------------------


def synthetic_boundaries(path: Path, count: int = SYNTHETIC_COMMUNES) -> None:
    """About ``count`` Voronoi communes clipped to a box, written as GeoJSON (id, name)."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(SEED)
    x0, y0, x1, y1 = SYNTHETIC_BOX
    seeds = shapely.multipoints(
        np.column_stack([rng.uniform(x0, x1, count), rng.uniform(y0, y1, count)])
    )
    box = shapely.box(x0, y0, x1, y1)
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box))
    cells = shapely.intersection(cells, box)
    cells = cells[~shapely.is_empty(cells)]
    # Codes follow a north-to-south, west-to-east order, like the real ones roughly do.
    centre = shapely.get_coordinates(shapely.centroid(cells))
    cells = cells[np.lexsort((centre[:, 0], -centre[:, 1]))]
    codes = [f"{i + 1:05d}" for i in range(len(cells))]
    frame = gpd.GeoDataFrame(
        {"id": codes, "name": [f"Xã {c}" for c in codes], "population": 10_000},
        geometry=list(cells),
        crs="EPSG:4326",
    )
    frame.to_file(path, driver="GeoJSON")


def make_chunk(
    rng: np.random.Generator,
    start: int,
    n: int,
    *,
    centres: np.ndarray,
    spread: np.ndarray,
    weights: np.ndarray,
    bounds: tuple[float, float, float, float],
) -> pl.DataFrame:
    """Rows ``start+1 .. start+n`` of the export, all in October 2025, as strings."""
    commune = rng.choice(len(centres), size=n, p=weights)
    lon = centres[commune, 0] + rng.normal(0.0, 1.0, n) * spread[commune]
    lat = centres[commune, 1] + rng.normal(0.0, 1.0, n) * spread[commune]
    noise = rng.random(n) < NOISE_SHARE
    lon[noise] = rng.uniform(bounds[0], bounds[2], int(noise.sum()))
    lat[noise] = rng.uniform(bounds[1], bounds[3], int(noise.sum()))
    op_idx = pick(rng, {k: w for k, (w, _) in OPERATORS.items()}, n)
    net_idx = pick(rng, NETWORK_TYPES, n)
    seconds = rng.integers(OCT_START, NOV_START, n)
    download = np.clip(rng.lognormal(np.log(40.0), 0.6, n), 0.1, 1500.0)
    upload = np.clip(download / 3.0 * rng.lognormal(0.0, 0.25, n), 0.05, 800.0)
    latency = 10.0 + 80.0 * rng.beta(2.0, 3.0, n)
    device = rng.integers(1, N_DEVICES + 1, n)
    ids = pl.lit(pl.Series(np.arange(start + 1, start + n + 1, dtype=np.int64)))
    op_codes = pl.Series(op_idx)
    # Longitudes and latitudes are all positive here (Vietnam), as fixed_point needs.
    return pl.select(
        test_id=pl.format("T{}", ids.cast(pl.String).str.zfill(9)),
        time=pl.from_epoch(pl.lit(pl.Series(seconds)), time_unit="s").dt.strftime(
            "%Y-%m-%dT%H:%M:%S+07:00"
        ),
        latitude=fixed_point(lat, 6),
        longitude=fixed_point(lon, 6),
        operator=pl.lit(pl.Series(list(OPERATORS)).gather(op_codes)),
        network_type=pl.lit(pl.Series(list(NETWORK_TYPES)).gather(pl.Series(net_idx))),
        download_mbps=fixed_point(download, 2),
        upload_mbps=fixed_point(upload, 2),
        latency_ms=fixed_point(latency, 1),
        device_id=pl.format("dev-{}", pl.lit(pl.Series(device))),
        mcc_mnc=pl.lit(pl.Series([mm for _, mm in OPERATORS.values()]).gather(op_codes)),
    )


def generate_csv(path: Path, rows: int, geometries: np.ndarray) -> None:
    """``rows`` tests around the communes' representative points (busier communes get more)."""
    import shapely

    rng = np.random.default_rng(SEED + 1)
    centres = shapely.get_coordinates(shapely.point_on_surface(geometries))
    # A commune's tests spread over about a quarter of its width; few of them cross a border.
    spread = 0.25 * np.sqrt(shapely.area(geometries))
    weights = rng.lognormal(0.0, 1.0, len(geometries))
    weights /= weights.sum()
    x0, y0, x1, y1 = (float(v) for v in shapely.total_bounds(geometries))
    bounds = (x0, y0, x1, y1)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as fh:
        fh.write((HEADER + "\n").encode())
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            chunk = make_chunk(
                rng, start, n, centres=centres, spread=spread, weights=weights, bounds=bounds
            )
            chunk.write_csv(fh, include_header=False)
    partial.replace(path)


def qostool(args: list[str | Path], env: dict[str, str], what: str) -> RunResult:
    """Run a qostool command for the setup; raise BenchError if it fails."""
    run = measure_clean([sys.executable, "-m", "qostool", *[str(a) for a in args]], env)
    if run.exit_code != 0:
        raise BenchError(what, run)
    return run


def stored_communes(store: Path) -> tuple[list[str], np.ndarray]:
    """Codes and geometries of the store's boundaries, as analyze loads them."""
    from qostool.geo import versions
    from qostool.store import Store

    communes = versions.load_communes(
        versions.find_version(Store.open(store, timezone=TIMEZONE), None)
    )
    return communes.table["code"].to_list(), communes.geometries


def write_floor_parquet(store: Path, target: Path) -> dict[str, Any]:
    """The month's stored tests with their commune code (null outside), for floor and tutorial."""
    from qostool.geo.assign import CommuneIndex, assign_reference
    from qostool.store import Store

    codes, geometries = stored_communes(store)
    tests = (
        Store.open(store, timezone=TIMEZONE)
        .scan_tests([MONTH])
        .filter(~pl.col("aggregate").fill_null(False), pl.col("month") == MONTH)
        .select(FLOOR_COLUMNS)
        .collect()
    )
    lon, lat = tests["lon"].to_numpy(), tests["lat"].to_numpy()
    t0 = time.perf_counter()
    index = CommuneIndex.build(geometries)
    result = index.assign(lon, lat)
    assign_s = time.perf_counter() - t0
    rng = np.random.default_rng(SEED + 2)
    sample = rng.choice(len(lon), size=min(SAMPLE_CHECK, len(lon)), replace=False)
    t0 = time.perf_counter()
    reference = assign_reference(geometries, lon[sample], lat[sample])
    reference_s = time.perf_counter() - t0
    differ = int((reference.index != result.index[sample]).sum())
    if differ:
        raise BenchError(f"CommuneIndex and assign_reference differ on {differ} sample points")
    # The code of each commune, and null for "outside" (index len(codes)); a gather, not
    # a Series from a NumPy object array (Polars fails to read some of those).
    code_of = pl.Series([*codes, None], dtype=pl.String)
    tests.with_columns(commune_code=code_of.gather(result.index)).write_parquet(
        target, compression="zstd"
    )
    how = np.bincount(result.how, minlength=3)
    return {
        "rows": len(lon),
        "inside": int(how[0]),
        "snapped": int(how[1]),
        "outside": int(how[2]),
        "commune_index_s": round(assign_s, 2),
        "reference_sample": len(sample),
        "reference_sample_s": round(reference_s, 2),
    }


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()[:16]


def setup_place(args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    """The setup's folder for ``--tests`` and ``--boundaries`` (synthetic communes made
    if neither the given nor the shared boundaries exist), and the start of its
    description: the boundary file and where it came from."""
    if args.boundaries is not None:
        boundaries, kind = args.boundaries.resolve(), "given"
        if not boundaries.is_file():
            raise BenchError(f"--boundaries {boundaries}: no such file")
    elif DEFAULT_BOUNDARIES.is_file():
        boundaries, kind = DEFAULT_BOUNDARIES, "real"
    else:
        boundaries, kind = args.workdir / f"synthetic-communes-{SEED}.geojson", "synthetic"
        if not boundaries.is_file():
            print("real boundaries not found: generating synthetic communes", file=sys.stderr)
            synthetic_boundaries(boundaries)
    tag = f"{boundaries.stem[:40]}-{file_digest(boundaries)[:8]}"
    return args.workdir / f"analyze-{args.tests}-{tag}", {
        "boundaries": str(boundaries),
        "communes_source": kind,
    }


def import_communes(store: Path, info: dict[str, Any], env: dict[str, str]) -> list[Any]:
    """Import ``info``'s boundaries into ``store`` (timed into ``info``); their shapes."""
    t0 = time.perf_counter()
    qostool(
        ["boundaries", "import", info["boundaries"], "--store", store, "--all-provinces"],
        env,
        "boundaries import",
    )
    info["boundaries_import_s"] = round(time.perf_counter() - t0, 2)
    codes, geometries = stored_communes(store)
    info["communes"] = len(codes)
    return geometries


def setup(args: argparse.Namespace, env: dict[str, str]) -> tuple[Path, dict[str, Any], bool]:
    """Make (or reuse) the setup directory; return it, its description, and whether made now."""
    folder, info = setup_place(args)
    done = folder / "setup.json"
    if done.is_file():
        info = json.loads(done.read_text(encoding="utf-8"))
        print(f"reusing the setup in {folder}", file=sys.stderr)
        return folder, info, False
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    store, csv = folder / "store", folder / f"ispeed-en-oct-{args.tests}.csv"
    geometries = import_communes(store, info, env)
    t0 = time.perf_counter()
    generate_csv(csv, args.tests, geometries)
    info["csv_mb"] = round(csv.stat().st_size / 1024 / 1024, 1)
    info["csv_generation_s"] = round(time.perf_counter() - t0, 2)
    run = qostool(["ingest", csv, "--store", store, "--json"], env, "ingest")
    info["ingest_s"] = round(run.seconds, 2)
    info["ingest_peak_rss_mb"] = round(run.peak_rss_mb, 1)
    totals = parse_json(run.stdout).get("totals", {})
    if totals.get("accepted") != args.tests:
        raise BenchError(f"ingest accepted {totals.get('accepted')} rows, not {args.tests}", run)
    csv.unlink()  # the store holds the tests now
    info["assignment"] = write_floor_parquet(store, folder / "floor.parquet")
    done.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return folder, info, True


# --------------------------------------------------------------------------------------------
# Measured runs
# --------------------------------------------------------------------------------------------


def parse_json(stdout: str) -> dict[str, Any]:
    start = stdout.find("{")
    if start < 0:
        raise ValueError("no JSON object on stdout")
    value = json.loads(stdout[start:])
    if not isinstance(value, dict):
        raise ValueError("stdout JSON is not an object")
    return value


def _link_parts(source: str, target: str) -> None:
    """Copy a store's file; its Parquet parts, which an analysis only reads, are linked.

    A copy of every part would hold the month's store twice in the page cache (10 GB at
    100 M on a 24 GB machine) beside the floor's file and the spill, and the memory the
    kernel then reclaims would be charged to analyze alone. The catalog and every other
    file are copied, so the analysis writes to its own.
    """
    if source.endswith(".parquet"):
        try:
            os.link(source, target)
            return
        except OSError:
            pass  # another file system, or no hard links: copied
    shutil.copy2(source, target)


def run_analyze(folder: Path, env: dict[str, str]) -> tuple[RunResult, dict[str, Any], Path]:
    """``qostool analyze`` on a fresh copy of the store as it was right after ingest."""
    fresh = folder / "store-analyze"
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(folder / "store", fresh, copy_function=_link_parts)
    for path in sorted(fresh.rglob("*.parquet")):
        warm_page_cache(path)
    cmd = [
        sys.executable,
        "-m",
        "qostool",
        "analyze",
        "--month",
        MONTH,
        "--store",
        str(fresh),
        "--json",
    ]
    run = measure_clean(cmd, env)
    if run.exit_code != 0:
        raise BenchError("qostool analyze", run)
    try:
        output = parse_json(run.stdout)
    except ValueError as exc:
        raise BenchError(f"qostool analyze --json output: {exc}", run) from None
    return run, output, Path(output["results"])


def run_child(code: str, args: list[Path], what: str) -> tuple[RunResult, dict[str, Any]]:
    run = measure_clean([sys.executable, "-c", code, *[str(a) for a in args]])
    if run.exit_code != 0:
        raise BenchError(what, run)
    try:
        return run, parse_json(run.stdout)
    except ValueError as exc:
        raise BenchError(f"{what} output: {exc}", run) from None


def compare(expected: pl.DataFrame, got: pl.DataFrame, *, exact: bool) -> dict[str, Any]:
    """Groups and figures of ``got`` against ``expected`` (keys: commune, operator, technology)."""
    keys = ["commune_code", "operator", "technology"]
    joined = expected.select(*keys, *FIGURES).join(
        got.select(*keys, *FIGURES), on=keys, how="full", coalesce=True, suffix="_got"
    )
    same_tests = joined["tests"].fill_null(0) == joined["tests_got"].fill_null(0)
    figures_ok = True
    for name in FIGURES[2:]:
        a, b = joined[name].to_numpy(), joined[f"{name}_got"].to_numpy()
        both = same_tests.to_numpy() & ~np.isnan(a) & ~np.isnan(b)
        figures_ok &= bool(np.allclose(a[both], b[both], rtol=1e-9, atol=1e-9))
    out = {
        "groups_expected": expected.height,
        "groups_got": got.height,
        "groups_differing_tests": int((~same_tests).sum()),
        "tests_expected": int(expected["tests"].sum()),
        "tests_got": int(got["tests"].sum()),
        "figures_equal_where_tests_equal": figures_ok,
    }
    if exact:
        devices = joined["devices"].fill_null(0) == joined["devices_got"].fill_null(0)
        out["groups_differing_devices"] = int((~devices).sum())
        out["ok"] = out["groups_differing_tests"] == 0 and devices.all() and figures_ok
    return out


def analyze_groups(results: Path) -> pl.DataFrame:
    """analyze's commune x operator x technology rows (technologies, not the "all" roll-up).

    The benchmark's tests are single tests, so both bounds of the devices are the
    distinct devices the floor counts; the lower one is compared.
    """
    return (
        pl.read_parquet(results / "stats.parquet")
        .filter(pl.col("level") == "commune_operator", pl.col("technology") != "all")
        .with_columns(devices=pl.col("devices_min"))
    )


class Best:
    """Best time and highest peak RSS over the repeats of one kind of run."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.rss: list[float] = []

    def add(self, run: RunResult) -> None:
        self.times.append(run.seconds)
        self.rss.append(run.peak_rss_mb)

    def figures(self) -> dict[str, Any]:
        return {
            "times_s": [round(t, 3) for t in self.times],
            "best_s": round(min(self.times), 3),
            "peak_rss_mb": round(max(self.rss), 1),
        }


def benchmark(args: argparse.Namespace, folder: Path, report: dict[str, Any]) -> None:
    env = qostool_env()
    best = {name: Best() for name in RUNS}
    floor_out, tutorial_out = folder / "floor-result.parquet", folder / "tutorial-result.parquet"
    duckdb_out = folder / "duckdb-result.parquet"
    report["duckdb_skipped"] = None if args.duckdb else "not asked for (--duckdb)"
    boundaries = Path(report["setup"]["boundaries"])
    warm_page_cache(folder / "floor.parquet")
    warm_page_cache(boundaries)
    output: dict[str, Any] = {}
    results = folder
    for _ in range(args.repeat):
        run, output, results = run_analyze(folder, env)
        best["analyze"].add(run)
        run, _ = run_child(FLOOR_CODE, [folder / "floor.parquet", floor_out], "floor")
        best["floor"].add(run)
        if not args.skip_tutorial:
            run, _ = run_child(
                TUTORIAL_CODE, [boundaries, folder / "floor.parquet", tutorial_out], "tutorial"
            )
            best["tutorial"].add(run)
        if report["duckdb_skipped"] is None:
            try:
                run, _, report["duckdb_skipped"] = run_duckdb(
                    boundaries, folder / "floor.parquet", duckdb_out
                )
            except RuntimeError as exc:
                raise BenchError(str(exc)) from None
            if report["duckdb_skipped"] is None:
                best["duckdb"].add(run)
    for name in RUNS:
        report[name] = best[name].figures() if best[name].times else None
    counts = output.get("counts", {})
    assignment = report["setup"]["assignment"]
    if counts.get("rows") != args.tests or counts.get("outside_rows") != assignment["outside"]:
        raise BenchError(
            f"analyze counted {counts.get('rows')} rows, {counts.get('outside_rows')} outside; "
            f"expected {args.tests}, {assignment['outside']}"
        )
    report["analyze"]["counts"] = counts
    floor = pl.read_parquet(floor_out)
    report["check_floor_vs_analyze"] = compare(analyze_groups(results), floor, exact=True)
    if not report["check_floor_vs_analyze"]["ok"]:
        raise BenchError(
            "analyze and the floor disagree: " + json.dumps(report["check_floor_vs_analyze"])
        )
    if not args.skip_tutorial:
        report["check_tutorial_vs_floor"] = compare(
            floor, pl.read_parquet(tutorial_out), exact=False
        )
    if report["duckdb"] is not None:
        report["check_duckdb_vs_floor"] = compare(floor, pl.read_parquet(duckdb_out), exact=False)
    report["targets"] = targets(report)


def targets(report: dict[str, Any]) -> dict[str, Any]:
    analyze, floor, tutorial, duckdb = (report[name] for name in RUNS)
    max_ratio = max_floor_ratio(report["tests"])
    out: dict[str, Any] = {
        "analyze_over_floor": round(analyze["best_s"] / floor["best_s"], 2),
        "max_analyze_over_floor": max_ratio,
        "analyze_peak_rss_mb": analyze["peak_rss_mb"],
        "max_rss_mb": MAX_RSS_MB,
        "min_tutorial_over_analyze": MIN_TUTORIAL_RATIO,
        "tutorial_over_analyze": None,
        "min_duckdb_over_analyze": MIN_DUCKDB_RATIO,
        "duckdb_over_analyze": None,
        "duckdb_ok": None,
    }
    out["floor_ok"] = out["analyze_over_floor"] <= max_ratio
    out["rss_ok"] = analyze["peak_rss_mb"] < MAX_RSS_MB
    out["tutorial_ok"] = None
    if tutorial is not None:
        out["tutorial_over_analyze"] = round(tutorial["best_s"] / analyze["best_s"], 2)
        out["tutorial_ok"] = out["tutorial_over_analyze"] >= MIN_TUTORIAL_RATIO
    if duckdb is not None:
        out["duckdb_over_analyze"] = round(duckdb["best_s"] / analyze["best_s"], 2)
        out["duckdb_ok"] = out["duckdb_over_analyze"] >= MIN_DUCKDB_RATIO
    return out


def print_table(report: dict[str, Any]) -> None:
    setup_info = report["setup"]
    assignment = setup_info["assignment"]
    print(
        f"qostool analyze benchmark: {report['tests']:,} tests, {setup_info['communes']:,} "
        f"{setup_info['communes_source']} communes, repeat {report['repeat']}"
    )
    print(
        f"assignment: {assignment['inside']:,} inside, {assignment['snapped']:,} snapped, "
        f"{assignment['outside']:,} outside"
    )
    print(f"{'run':<10}{'best time':>12}{'peak RSS':>14}")
    for name in RUNS:
        fig = report[name]
        if fig is None:
            why = f"  ({report['duckdb_skipped']})" if name == "duckdb" else ""
            print(f"{name:<10}{'skipped':>12}{why}")
        else:
            print(f"{name:<10}{fig['best_s']:>10.2f} s{fig['peak_rss_mb']:>11,.0f} MB")
    t = report["targets"]
    ok = {True: "OK", False: "MISSED", None: "not measured"}
    print(
        f"analyze / floor time: {t['analyze_over_floor']:.2f} "
        f"(target <= {t['max_analyze_over_floor']:g})  {ok[t['floor_ok']]}"
    )
    ratio = t["tutorial_over_analyze"]
    print(
        f"tutorial / analyze time: {'-' if ratio is None else f'{ratio:.2f}'} "
        f"(target >= {MIN_TUTORIAL_RATIO:g})  {ok[t['tutorial_ok']]}"
    )
    ratio = t["duckdb_over_analyze"]
    print(
        f"duckdb / analyze time: {'-' if ratio is None else f'{ratio:.2f}'} "
        f"(target >= {MIN_DUCKDB_RATIO:g})  {ok[t['duckdb_ok']]}"
    )
    print(
        f"analyze peak RSS: {t['analyze_peak_rss_mb']:,.0f} MB "
        f"(target < {MAX_RSS_MB:,.0f} MB)  {ok[t['rss_ok']]}"
    )
    check = report.get("check_tutorial_vs_floor")
    if check is not None:
        print(
            f"tutorial vs floor: {check['tests_got']:,} of {check['tests_expected']:,} tests "
            f"joined; {check['groups_differing_tests']:,} groups differ in count "
            "(within excludes border points and snapping)"
        )
    check = report.get("check_duckdb_vs_floor")
    if check is not None:
        print(
            f"duckdb vs floor: {check['tests_got']:,} of {check['tests_expected']:,} tests "
            f"joined; {check['groups_differing_tests']:,} groups differ in count "
            "(ST_Contains excludes border points and snapping)"
        )


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=1_000_000, help="synthetic tests (rows)")
    parser.add_argument(
        "--boundaries", type=Path, default=None, help="commune boundary file (default: real 2025)"
    )
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="scratch dir")
    parser.add_argument("--json", type=Path, default=None, help="write all figures here")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each kind (best time)")
    parser.add_argument(
        "--skip-tutorial", action="store_true", help="do not run the geopandas/pandas tutorial"
    )
    parser.add_argument(
        "--duckdb",
        action="store_true",
        help="also run DuckDB spatial (bench/requirements.txt; skipped, saying why, if absent)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the store and Parquet files for the next run"
    )
    args = parser.parse_args(argv)
    if args.tests < 1 or args.repeat < 1:
        parser.error("--tests and --repeat must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    env = qostool_env()
    report: dict[str, Any] = {
        "tests": args.tests,
        "repeat": args.repeat,
        "env": {
            "python": platform.python_version(),
            "polars": pl.__version__,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }
    folder: Path | None = None
    made = False
    try:
        folder, report["setup"], made = setup(args, env)
        benchmark(args, folder, report)
    except BenchError as exc:
        ended = f" ({how_it_ended(exc.run.exit_code)})" if exc.run is not None else ""
        print(f"FAILED: {exc.what}{ended}", file=sys.stderr)
        report["error"] = {"what": exc.what}
        if exc.run is not None:
            print(f"--- stderr tail ---\n{tail(exc.run.stderr)}", file=sys.stderr)
            report["error"] |= {"exit_code": exc.run.exit_code, "stderr_tail": tail(exc.run.stderr)}
        write_json(args.json, report)
        return 2
    finally:
        if folder is not None:
            shutil.rmtree(folder / "store-analyze", ignore_errors=True)
            if made and not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
    print_table(report)
    write_json(args.json, report)
    t = report["targets"]
    missed = [
        name for name in ("floor_ok", "tutorial_ok", "duckdb_ok", "rss_ok") if t[name] is False
    ]
    if missed:
        print("targets missed: " + ", ".join(missed), file=sys.stderr)
        return 1
    return 0


def write_json(path: Path | None, report: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
