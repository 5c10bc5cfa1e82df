"""Make a store with a month ``--copies`` times the size of a benchmark setup's month.

For the bounded-memory measurement of ``analyze`` at 100 million tests when generating
and ingesting that many rows would take too long: the store of a kept setup of
``bench_analyze.py`` (``--keep``; its ``store/`` folder) is copied, and its October parts
are written again ``copies - 1`` times, each copy's device pseudonyms and test ids
shifted (device ``abcd...`` of copy 3 becomes ``3bcd...``: most devices differ from copy
to copy, as in a larger population), and recorded in the store's catalog as parts of
the same batch. Locations, speeds and times are those of the setup, repeated: the
statistics differ from the setup's, the work and the memory are those of a month of
that many tests.

Usage::

    python bench/make_large_month.py SETUP_STORE TARGET_STORE --copies 10
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import time
from pathlib import Path

import polars as pl

MONTH = "2025-10"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("setup", type=Path, help="the store of a kept bench_analyze.py setup")
    parser.add_argument("target", type=Path, help="the store to make (must not exist)")
    parser.add_argument("--copies", type=int, default=10, help="times the setup's month")
    args = parser.parse_args(argv)
    if args.target.exists():
        parser.error(f"{args.target} exists: delete it first")
    if args.copies < 1 or args.copies > 16:
        parser.error("--copies must be 1 to 16 (one hex digit shifts the devices)")
    started = time.perf_counter()
    shutil.copytree(args.setup, args.target)
    catalog = args.target / "catalog.sqlite"
    with sqlite3.connect(catalog) as db:
        parts = db.execute(
            "SELECT path, batch_id, rows FROM parts WHERE kind = 'tests' AND month = ?", [MONTH]
        ).fetchall()
        rows = 0
        for copy in range(1, args.copies):
            for path, batch, count in parts:
                source = args.target / path
                name = source.name.replace(".parquet", f"-x{copy:02d}.parquet")
                frame = pl.read_parquet(source).with_columns(
                    device_id=pl.concat_str(pl.lit(f"{copy:x}"), pl.col("device_id").str.slice(1)),
                    test_id=pl.concat_str(pl.col("test_id"), pl.lit(f"-x{copy:02d}")),
                )
                frame.write_parquet(source.with_name(name), compression="zstd")
                relative = str(Path(path).with_name(name))
                db.execute(
                    "INSERT INTO parts (path, batch_id, kind, month, rows) VALUES (?, ?, ?, ?, ?)",
                    [relative, batch, "tests", MONTH, count],
                )
                rows += count
        total = db.execute(
            "SELECT SUM(rows) FROM parts WHERE kind = 'tests' AND month = ?", [MONTH]
        ).fetchone()[0]
    print(f"{args.target}: {total:,} rows in {MONTH} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
