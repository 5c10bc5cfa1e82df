"""The distributed design of docs/scaling.md, run on Dask in local mode and checked against analyze.

On a store made by ``bench_analyze.py --keep`` (or ``make_month.py``), this computes the
commune x operator x technology figures of the month the way a cluster would:

1. **Partitions.** The month's stored Parquet parts, cut into ``--partitions`` pieces: on
   a cluster, one month of one province (or one grid cell) per task.
2. **Broadcast.** ``CommuneIndex`` (the boundary grid) is built once and handed to every
   task as one shared object (a Dask ``delayed`` value: computed once, sent to each worker
   once, not once per task).
3. **Map.** Each partition's tests are assigned to communes with the project's own
   ``CommuneIndex.assign`` in ``map_partitions`` (so the answer is analyze's, snapping
   included), and reduced to partial aggregates per group: tests, sums, and the exact set
   of the group's device pseudonyms.
4. **Merge.** Partial aggregates are added up; device sets are joined (the union of
   exact sets: an exact count of distinct devices, as the regulation's minimum sample is
   judged on it).
5. **Shuffle.** Medians and percentiles cannot be merged from parts: the assigned tests
   are shuffled on the commune (every test of a group lands in one partition) and each
   group's exact quantiles are computed there.

Then ``qostool analyze`` runs on a copy of the same store, and its ``commune_operator``
rows (per technology) must equal Dask's: same groups, tests, distinct devices, and
figures to 1e-9. Exit codes: 0 equal, 1 different, 2 a run failed.

Dask is a benchmark-only dependency (``bench/requirements.txt``)::

    pip install --target bench/.work/pylib -r bench/requirements.txt
    python bench/scaling_dask.py bench/.work/analyze-200000-<boundaries>/ [--partitions 8]
"""

from __future__ import annotations

import argparse
import functools
import shutil
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.append(str(BENCH_DIR / ".work" / "pylib"))  # where bench/requirements.txt may go

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402
from bench_analyze import (  # noqa: E402
    FLOOR_COLUMNS,
    MONTH,
    TIMEZONE,
    BenchError,
    analyze_groups,
    compare,
    run_analyze,
    stored_communes,
)
from bench_ingest import qostool_env  # noqa: E402

KEYS = ["commune", "operator", "technology"]


def read_part(path: str) -> pd.DataFrame:
    """The month's single tests of one stored part (each worker reads its own parts)."""
    return (
        pl.scan_parquet(path)
        .filter(~pl.col("aggregate").fill_null(False), pl.col("month") == MONTH)
        .select(FLOOR_COLUMNS)
        .collect()
        .to_pandas()
    )


def assign(frame: pd.DataFrame, index: Any) -> pd.DataFrame:
    """A partition's tests with their commune's position (tests outside every commune dropped)."""
    found = index.assign(frame["lon"].to_numpy(), frame["lat"].to_numpy()).index
    out = frame.drop(columns=["lon", "lat"]).assign(commune=np.asarray(found, dtype=np.int64))
    return out[out["commune"] >= 0]


def partial(frame: pd.DataFrame) -> pd.DataFrame:
    """One partition's mergeable aggregates per group: counts, sums, exact device sets."""
    frame = frame.assign(ge_40=frame["download_mbps"] >= 40)
    groups = frame.groupby(KEYS, sort=False)
    return pd.DataFrame(
        {
            "tests": groups.size(),
            "download_sum": groups["download_mbps"].sum(),
            "download_n": groups["download_mbps"].count(),
            "ge_40": groups["ge_40"].sum(),
            "upload_sum": groups["upload_mbps"].sum(),
            "upload_n": groups["upload_mbps"].count(),
            "devices": groups["device_id"].agg(lambda ids: frozenset(ids.dropna())),
        }
    ).reset_index()


def merge(partials: list[pd.DataFrame]) -> pd.DataFrame:
    """Partial aggregates of many partitions as one: sums added, device sets joined."""
    whole = pd.concat(partials, ignore_index=True)
    groups = whole.groupby(KEYS, sort=False)
    sums = groups[["tests", "download_sum", "download_n", "ge_40", "upload_sum", "upload_n"]].sum()
    devices = groups["devices"].agg(lambda sets: len(functools.reduce(frozenset.union, sets)))
    return pd.DataFrame(
        {
            "tests": sums["tests"],
            "devices": devices,
            "download_mean_mbps": sums["download_sum"] / sums["download_n"],
            "share_ge_40": sums["ge_40"] / sums["tests"],
            "upload_mean_mbps": sums["upload_sum"] / sums["upload_n"],
        }
    ).reset_index()


def exact_quantiles(frame: pd.DataFrame) -> pd.DataFrame:
    """Median, p10 and p90 of download and the latency median of the groups in one partition.

    Correct only because the shuffle put every test of a group in this partition.
    Linear interpolation between order statistics, as analyze computes them.
    """
    groups = frame.groupby(KEYS, sort=False)
    download = groups["download_mbps"]
    return pd.DataFrame(
        {
            "download_median_mbps": download.quantile(0.5),
            "download_p10_mbps": download.quantile(0.1),
            "download_p90_mbps": download.quantile(0.9),
            "latency_median_ms": groups["latency_ms"].quantile(0.5),
        }
    ).reset_index()


def run_dask(store: Path, partitions: int) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The month's commune x operator x technology figures, computed on Dask (local processes)."""
    import dask
    import dask.dataframe as dd

    from qostool.geo.assign import CommuneIndex
    from qostool.store import Store

    codes, geometries = stored_communes(store)
    paths = [str(p) for p in Store.open(store, timezone=TIMEZONE).part_paths("tests", [MONTH])]
    t0 = time.perf_counter()
    tests = dd.from_map(read_part, paths).repartition(npartitions=partitions)
    index = dask.delayed(CommuneIndex.build)(geometries)  # built once, shared by every task
    meta = {c: tests.dtypes[c] for c in FLOOR_COLUMNS[2:]} | {"commune": np.int64}
    assigned = tests.map_partitions(assign, index, meta=meta)
    partial_meta = partial(pd.DataFrame({c: pd.Series(dtype=t) for c, t in meta.items()}))
    partials = assigned.map_partitions(partial, meta=partial_meta)
    by_commune = assigned.shuffle(on="commune", npartitions=partitions)
    quantile_meta = exact_quantiles(pd.DataFrame({c: pd.Series(dtype=t) for c, t in meta.items()}))
    quantiles = by_commune.map_partitions(exact_quantiles, meta=quantile_meta)
    with dask.config.set(scheduler="processes", num_workers=2):
        parts, exact = dask.compute(partials, quantiles)
    merged = merge([parts]).merge(exact, on=KEYS, how="left")
    seconds = time.perf_counter() - t0
    merged["commune_code"] = np.asarray(codes, dtype=object)[merged["commune"].to_numpy()]
    out = pl.from_pandas(merged.drop(columns=["commune"]))
    return out, {"seconds": round(seconds, 2), "partitions": partitions, "groups": out.height}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("setup", type=Path, help="a bench_analyze.py or make_month.py folder")
    parser.add_argument("--partitions", type=int, default=8, help="partitions of the month")
    args = parser.parse_args(argv)
    try:
        import dask
    except ImportError as exc:
        print(f"Dask is not installed ({exc}): pip install -r bench/requirements.txt")
        return 2
    try:
        got, figures = run_dask(args.setup / "store", args.partitions)
        print(
            f"Dask {dask.__version__}, local processes: {figures['groups']:,} groups from "
            f"{figures['partitions']} partitions in {figures['seconds']:.1f} s"
        )
        _, _, results = run_analyze(args.setup, qostool_env())
        check = compare(analyze_groups(results), got, exact=True)
    except BenchError as exc:
        print(f"FAILED: {exc.what}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(args.setup / "store-analyze", ignore_errors=True)
    print(
        f"analyze vs Dask: {check['groups_expected']:,} and {check['groups_got']:,} groups, "
        f"{check['tests_expected']:,} and {check['tests_got']:,} tests; groups differing in "
        f"tests {check['groups_differing_tests']}, in devices {check['groups_differing_devices']}"
        f"; figures equal: {check['figures_equal_where_tests_equal']}"
    )
    print("same results" if check["ok"] else "DIFFERENT results")
    return 0 if check["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
