"""Benchmark commune assignment: the grid (``CommuneIndex``) against ``assign_reference``.

Loads the national 2025 commune boundaries (GeoJSON, sorted by ``id``) from ``--boundaries``
(default: ``../shared/data/boundaries_2025/vn2025_communes_all_34prov.geojson`` next to the
repository) or, when that file is absent, builds about 3,300 synthetic communes (a Voronoi
tessellation with 0.002° edges). Generates N points, most clustered around the communes'
representative points (weighted by population when the file has it), the rest uniform over
the communes' extent, from a seeded RNG.

Reports the build time, the assign time (best of ``--repeat``), the share of points that
needed the exact test, where the points went, the reference's time on a subsample (all
points when N <= ``--reference-points``), and the process's peak RSS after each step; checks
that the grid and the reference agree exactly on every compared point.

Run it with the Python of the environment where qostool is installed::

    python bench/bench_assign.py [--points 1000000] [--reference-points 1000000]
                                 [--boundaries PATH] [--repeat 3] [--json OUT.json]

Exit codes: 0 the two methods agree; 1 they disagree on some point.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import shapely

from qostool.geo.assign import INSIDE, OUTSIDE, SNAPPED, Assignment, CommuneIndex, assign_reference

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_BOUNDARIES = (
    REPO_ROOT.parent / "shared" / "data" / "boundaries_2025" / "vn2025_communes_all_34prov.geojson"
)

SEED = 20251101
NOISE_SHARE = 0.05  # points uniform over the extent; the rest are clustered
CLUSTER_SPREAD = 0.25  # a cluster's sigma, as a share of the square root of its commune's area
SYNTHETIC_COMMUNES = 3300
SYNTHETIC_EXTENT = (104.0, 10.0, 108.0, 22.0)
SYNTHETIC_EDGE_DEG = 0.002
TOLERANCE_M = 100.0
_EXACT = -2  # CommuneIndex._lookup's value for "needs the exact test"

T = TypeVar("T")


def peak_rss_mb() -> float:
    """This process's peak resident set so far; ``ru_maxrss`` is KiB on Linux, bytes on macOS."""
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def timed(call: Callable[[], T], repeat: int) -> tuple[T, list[float]]:
    """The result of the last of ``repeat`` calls, and every call's seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return result, times


def load_communes(path: Path) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Geometries sorted by commune code, populations if any, and a description."""
    import geopandas as gpd

    frame = gpd.read_file(path).sort_values("id", kind="stable")
    population = frame["population"].to_numpy(dtype=float) if "population" in frame else None
    return np.asarray(frame.geometry.values, dtype=object), population, path.name


def synthetic_communes(rng: np.random.Generator) -> tuple[np.ndarray, None, str]:
    """Voronoi cells of random seeds over a box, their edges cut to 0.002°."""
    xmin, ymin, xmax, ymax = SYNTHETIC_EXTENT
    seeds = shapely.multipoints(
        np.column_stack(
            [
                rng.uniform(xmin, xmax, SYNTHETIC_COMMUNES),
                rng.uniform(ymin, ymax, SYNTHETIC_COMMUNES),
            ]
        )
    )
    extent = shapely.box(*SYNTHETIC_EXTENT)
    cells = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=extent)), extent
    )
    geometries = shapely.segmentize(cells, SYNTHETIC_EDGE_DEG)
    return geometries, None, f"{len(geometries):,} synthetic Voronoi communes"


def make_points(
    geometries: np.ndarray, population: np.ndarray | None, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Points clustered around representative points (by population), plus uniform noise."""
    centres = shapely.get_coordinates(shapely.point_on_surface(geometries))
    spread = np.sqrt(shapely.area(geometries)) * CLUSTER_SPREAD
    weights = (
        np.nan_to_num(population, nan=0.0) if population is not None else np.ones(len(geometries))
    )
    noise = int(n * NOISE_SHARE)
    commune = rng.choice(len(geometries), n - noise, p=weights / weights.sum())
    xmin, ymin, xmax, ymax = shapely.total_bounds(geometries)
    lon = np.concatenate(
        [
            centres[commune, 0] + rng.normal(0, 1, n - noise) * spread[commune],
            rng.uniform(xmin, xmax, noise),
        ]
    )
    lat = np.concatenate(
        [
            centres[commune, 1] + rng.normal(0, 1, n - noise) * spread[commune],
            rng.uniform(ymin, ymax, noise),
        ]
    )
    order = rng.permutation(n)
    return lon[order], lat[order]


def agree(fast: Assignment, reference: Assignment) -> int:
    """Number of points where the two results differ in index, how or distance."""
    same_distance = (fast.distance_m == reference.distance_m) | (
        np.isnan(fast.distance_m) & np.isnan(reference.distance_m)
    )
    same = (fast.index == reference.index) & (fast.how == reference.how) & same_distance
    return int((~same).sum())


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed)
    if args.boundaries.is_file():
        geometries, population, source = load_communes(args.boundaries)
    else:
        print(f"{args.boundaries} not found: using synthetic communes", file=sys.stderr)
        geometries, population, source = synthetic_communes(rng)
    lon, lat = make_points(geometries, population, args.points, rng)
    report: dict[str, Any] = {
        "communes": len(geometries),
        "source": source,
        "points": args.points,
        "rss_after_loading_mb": round(peak_rss_mb(), 1),
    }

    index, build_s = timed(
        lambda: CommuneIndex.build(geometries, tolerance_m=TOLERANCE_M), args.repeat
    )
    report["build_s"] = [round(t, 4) for t in build_s]
    report["rss_after_build_mb"] = round(peak_rss_mb(), 1)

    fast, assign_s = timed(lambda: index.assign(lon, lat), args.repeat)
    report["assign_s"] = [round(t, 4) for t in assign_s]
    report["rss_after_assign_mb"] = round(peak_rss_mb(), 1)
    exact = index._lookup(lon, lat, np.ones(len(lon), dtype=bool)) == _EXACT
    report["exact_share"] = float(exact.mean())
    report["how_share"] = {
        name: float((fast.how == code).mean())
        for name, code in (("inside", INSIDE), ("snapped", SNAPPED), ("outside", OUTSIDE))
    }

    compared = np.arange(args.points)
    if args.points > args.reference_points:
        compared = np.sort(rng.choice(args.points, args.reference_points, replace=False))
    reference, reference_s = timed(
        lambda: assign_reference(geometries, lon[compared], lat[compared], tolerance_m=TOLERANCE_M),
        1,
    )
    report["reference_points"] = len(compared)
    report["reference_s"] = round(reference_s[0], 4)
    report["rss_peak_mb"] = round(peak_rss_mb(), 1)
    subset = Assignment(fast.index[compared], fast.how[compared], fast.distance_m[compared])
    report["disagreements"] = agree(subset, reference)
    return report


def print_report(report: dict[str, Any]) -> None:
    points, communes = report["points"], report["communes"]
    build, assign = min(report["build_s"]), min(report["assign_s"])
    reference_rate = report["reference_points"] / report["reference_s"]
    runs = {key: ", ".join(f"{t:.3f}" for t in report[key]) for key in ("build_s", "assign_s")}
    how = ", ".join(f"{name} {share:.2%}" for name, share in report["how_share"].items())
    verdict = (
        "all agree" if report["disagreements"] == 0 else f"{report['disagreements']:,} DISAGREE"
    )
    lines = [
        f"commune assignment: {communes:,} communes ({report['source']}), {points:,} points",
        f"build        {build:8.3f} s   (runs: {runs['build_s']})",
        f"assign       {assign:8.3f} s   {points / assign / 1e6:.2f} M points/s "
        f"(runs: {runs['assign_s']})",
        f"exact test   {report['exact_share']:8.2%}     of the points (cells not decided)",
        f"where        {how}",
        f"reference    {report['reference_s']:8.3f} s   on {report['reference_points']:,} points, "
        f"{reference_rate / 1e6:.2f} M points/s ({points / assign / reference_rate:.1f}x slower)",
        f"grid = reference: {verdict} on {report['reference_points']:,} points",
        f"peak RSS     {report['rss_peak_mb']:8.0f} MB   (after loading and points "
        f"{report['rss_after_loading_mb']:.0f}, after build {report['rss_after_build_mb']:.0f}, "
        f"after assign {report['rss_after_assign_mb']:.0f})",
    ]
    print("\n".join(lines))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="points to assign")
    parser.add_argument(
        "--reference-points",
        type=int,
        default=1_000_000,
        help="at most this many points (a random subset) go through the reference",
    )
    parser.add_argument(
        "--boundaries", type=Path, default=DEFAULT_BOUNDARIES, help="GeoJSON of communes"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="builds and assigns to time (best counts)"
    )
    parser.add_argument(
        "--seed", type=int, default=SEED, help="seed of the points (and synthetic communes)"
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write every figure to this file"
    )
    args = parser.parse_args(argv)
    if args.points < 1 or args.reference_points < 1 or args.repeat < 1:
        parser.error("--points, --reference-points and --repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0 if report["disagreements"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
