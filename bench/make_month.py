"""Make a national month of N tests (100 million by default) over the 3,321 communes, in parts.

The month is the one ``bench_analyze.py --tests N`` would make, row for row (same seed,
same chunks, in the same order), but streamed: nothing holds the whole month in memory.
It is written in ``--parts`` CSV files, as a month of many sources arrives, and so is
everything made from it. In ``<workdir>/analyze-<N>-<boundaries>/`` (the folder
``bench_analyze.py`` reuses when it finds its ``setup.json``):

* ``store/``: the communes imported and the month ingested by one ``qostool ingest`` of
  the folder of parts, timed (wall time, peak RSS) against a floor of Polars'
  ``read_csv`` + ``write_parquet`` of the same parts, one after another in one process;
* ``floor.parquet``: the stored tests with each one's commune code (``CommuneIndex``, a
  sample checked against ``assign_reference``), written part by part with a Parquet writer;
* ``setup.json``: what ``bench_analyze.py`` records of a setup, and the ingest figures.

The CSV parts are deleted at the end unless ``--keep-csv``. Exit codes: 0 done, 2 a step
failed.

Usage::

    python bench/make_month.py [--tests 100000000] [--parts 10] [--boundaries PATH]
                               [--workdir DIR] [--keep-csv] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from bench_analyze import (
    CHUNK_ROWS,
    FLOOR_COLUMNS,
    MONTH,
    SAMPLE_CHECK,
    SEED,
    TIMEZONE,
    BenchError,
    import_communes,
    make_chunk,
    parse_json,
    qostool,
    setup_place,
    stored_communes,
)
from bench_ingest import HEADER, measure_clean, qostool_env, tail

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_WORKDIR = BENCH_DIR / ".work"

#: The floor at this size: each part read whole and written, one after another.
FLOOR_CODE = """
import sys
from pathlib import Path
import polars as pl
target = Path(sys.argv[2])
for part in sorted(Path(sys.argv[1]).glob("*.csv")):
    pl.read_csv(part).write_parquet(target)
    target.unlink()
"""


def generate_parts(folder: Path, tests: int, parts: int, geometries: np.ndarray) -> list[Path]:
    """The tests as ``parts`` CSV files, each a run of whole chunks (see bench_analyze)."""
    import shapely

    # The same draws, in the same order, as bench_analyze.generate_csv.
    rng = np.random.default_rng(SEED + 1)
    centres = shapely.get_coordinates(shapely.point_on_surface(geometries))
    spread = 0.25 * np.sqrt(shapely.area(geometries))
    weights = rng.lognormal(0.0, 1.0, len(geometries))
    weights /= weights.sum()
    x0, y0, x1, y1 = (float(v) for v in shapely.total_bounds(geometries))
    chunks = math.ceil(tests / CHUNK_ROWS)
    per_part = math.ceil(chunks / parts)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for first in range(0, chunks, per_part):
        path = folder / f"ispeed-en-oct-part{len(written) + 1:03d}.csv"
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as fh:
            fh.write((HEADER + "\n").encode())
            for chunk in range(first, min(first + per_part, chunks)):
                start = chunk * CHUNK_ROWS
                n = min(CHUNK_ROWS, tests - start)
                frame = make_chunk(
                    rng,
                    start,
                    n,
                    centres=centres,
                    spread=spread,
                    weights=weights,
                    bounds=(x0, y0, x1, y1),
                )
                frame.write_csv(fh, include_header=False)
        partial.replace(path)
        written.append(path)
    return written


def write_floor_parquet(store: Path, target: Path) -> dict[str, Any]:
    """``bench_analyze.write_floor_parquet``, one stored part at a time."""
    import pyarrow.parquet as pq

    from qostool.geo.assign import CommuneIndex, assign_reference
    from qostool.store import Store

    codes, geometries = stored_communes(store)
    # The code of each commune, and null for "outside" (index len(codes)); a gather, not
    # a Series from a NumPy object array (Polars fails to read some of those).
    code_of = pl.Series([*codes, None], dtype=pl.String)
    index = CommuneIndex.build(geometries)
    counts = np.zeros(3, dtype=np.int64)
    rows, assign_s, checked, reference_s = 0, 0.0, 0, 0.0
    rng = np.random.default_rng(SEED + 2)
    writer: pq.ParquetWriter | None = None
    try:
        for path in Store.open(store, timezone=TIMEZONE).part_paths("tests", [MONTH]):
            tests = (
                pl.scan_parquet(path)
                .filter(~pl.col("aggregate").fill_null(False), pl.col("month") == MONTH)
                .select(FLOOR_COLUMNS)
                .collect()
            )
            lon, lat = tests["lon"].to_numpy(), tests["lat"].to_numpy()
            t0 = time.perf_counter()
            result = index.assign(lon, lat)
            assign_s += time.perf_counter() - t0
            if checked < SAMPLE_CHECK:  # the first parts' points, a sample of each
                sample = rng.choice(len(lon), size=min(20_000, len(lon)), replace=False)
                t0 = time.perf_counter()
                reference = assign_reference(geometries, lon[sample], lat[sample])
                reference_s += time.perf_counter() - t0
                differ = int((reference.index != result.index[sample]).sum())
                if differ:
                    raise BenchError(f"CommuneIndex and assign_reference differ on {differ} points")
                checked += len(sample)
            table = tests.with_columns(commune_code=code_of.gather(result.index)).to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(target, table.schema, compression="zstd")
            writer.write_table(table)
            counts += np.bincount(result.how, minlength=3)
            rows += len(lon)
    finally:
        if writer is not None:
            writer.close()
    return {
        "rows": rows,
        "inside": int(counts[0]),
        "snapped": int(counts[1]),
        "outside": int(counts[2]),
        "commune_index_s": round(assign_s, 2),
        "reference_sample": checked,
        "reference_sample_s": round(reference_s, 2),
    }


def folder_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


def generate(
    args: argparse.Namespace,
    folder: Path,
    info: dict[str, Any],
    env: dict[str, str],
) -> None:
    """Import the communes and write the CSV parts, unless a stopped run left them whole."""
    store, csv_dir = folder / "store", folder / "csv"
    done = folder / "generated.json"  # the parts are whole: a run stopped after this goes on
    if done.is_file() and not (store / "tests").exists():
        info |= json.loads(done.read_text(encoding="utf-8"))
        print(f"reusing the {info['csv_parts']} CSV parts in {csv_dir}", file=sys.stderr)
    else:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        geometries = import_communes(store, info, env)
        t0 = time.perf_counter()
        parts = generate_parts(csv_dir, args.tests, args.parts, geometries)
        info["csv_parts"] = len(parts)
        info["csv_mb"] = folder_mb(csv_dir)
        info["csv_generation_s"] = round(time.perf_counter() - t0, 2)
        done.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        print(f"generated {len(parts)} parts, {info['csv_mb']:,.0f} MB", file=sys.stderr)


def make_month(args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    """Make the folder (see the module's docstring); return it and its setup.json."""
    env = qostool_env()
    folder, info = setup_place(args)
    if (folder / "setup.json").is_file():
        raise BenchError(f"{folder} is made already: delete it to make it again")
    store, csv_dir = folder / "store", folder / "csv"
    generate(args, folder, info, env)
    floor = measure_clean(
        [sys.executable, "-c", FLOOR_CODE, str(csv_dir), str(folder / "floor-tmp.parquet")]
    )
    if floor.exit_code != 0:
        raise BenchError("floor (polars read_csv/write_parquet of each part)", floor)
    run = qostool(["ingest", csv_dir, "--store", store, "--json"], env, "ingest")
    totals = parse_json(run.stdout).get("totals", {})
    if totals.get("accepted") != args.tests:
        raise BenchError(f"ingest accepted {totals.get('accepted')} rows, not {args.tests}", run)
    info["ingest_s"] = round(run.seconds, 2)
    info["ingest_peak_rss_mb"] = round(run.peak_rss_mb, 1)
    info["ingest_floor_s"] = round(floor.seconds, 2)
    info["ingest_floor_peak_rss_mb"] = round(floor.peak_rss_mb, 1)
    info["ingest_ratio"] = round(floor.seconds / run.seconds, 3)
    info["store_mb"] = folder_mb(store)
    if not args.keep_csv:
        shutil.rmtree(csv_dir)
    t0 = time.perf_counter()
    info["assignment"] = write_floor_parquet(store, folder / "floor.parquet")
    info["floor_parquet_s"] = round(time.perf_counter() - t0, 2)
    info["floor_parquet_mb"] = round((folder / "floor.parquet").stat().st_size / 2**20, 1)
    (folder / "setup.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return folder, info


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=100_000_000, help="tests in the month")
    parser.add_argument("--parts", type=int, default=10, help="CSV files the month comes in")
    parser.add_argument(
        "--boundaries", type=Path, default=None, help="commune boundary file (default: real 2025)"
    )
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="scratch dir")
    parser.add_argument("--keep-csv", action="store_true", help="keep the CSV parts")
    parser.add_argument("--json", type=Path, default=None, help="write setup.json here too")
    args = parser.parse_args(argv)
    if args.tests < 1 or args.parts < 1:
        parser.error("--tests and --parts must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    try:
        folder, info = make_month(args)
    except BenchError as exc:
        print(f"FAILED: {exc.what}", file=sys.stderr)
        if exc.run is not None:
            print(f"--- stderr tail ---\n{tail(exc.run.stderr)}", file=sys.stderr)
        return 2
    print(f"month of {args.tests:,} tests in {folder}")
    print(
        f"CSV {info['csv_mb']:,.0f} MB in {info['csv_parts']} parts "
        f"(generated in {info['csv_generation_s']:,.0f} s); store {info['store_mb']:,.0f} MB; "
        f"floor.parquet {info['floor_parquet_mb']:,.0f} MB"
    )
    print(
        f"ingest {info['ingest_s']:,.1f} s, peak RSS {info['ingest_peak_rss_mb']:,.0f} MB; "
        f"floor {info['ingest_floor_s']:,.1f} s, peak RSS "
        f"{info['ingest_floor_peak_rss_mb']:,.0f} MB; ratio floor/ingest time "
        f"{info['ingest_ratio']:.2f}"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
