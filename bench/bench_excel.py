"""Benchmark ingesting an Excel workbook against the same rows as CSV.

Writes one synthetic i-Speed export of N rows (Vietnamese headers, two title
rows above the header, times as Excel dates, speeds as numbers) twice: as an
.xlsx workbook (xlsxwriter, constant memory) and as a UTF-8 CSV. Then runs
``python -m qostool ingest FILE --store <fresh dir> --json`` on each, in a
fresh subprocess, best of ``--repeat``, and checks that both store the same
number of tests and that the workbook takes at most ``MAX_RATIO`` times the
CSV's time.

Exit codes: 0 target met, 1 target missed, 2 a run failed or the counts differ.

Usage::

    python bench/bench_excel.py [--rows 200000] [--repeat 3] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import xlsxwriter

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED = 20251104
MAX_RATIO = 3.0
HEADER = [
    "Mã phép đo",
    "Thời gian đo",
    "Vĩ độ",
    "Kinh độ",
    "Nhà mạng",
    "Loại mạng",
    "Tốc độ tải xuống (Mbps)",
    "Tốc độ tải lên (Mbps)",
    "Độ trễ (ms)",
    "Mã thiết bị",
]
OPERATORS = ("Viettel", "VinaPhone", "MobiFone", "Vietnamobile")
TECHNOLOGIES = ("4G", "5G", "LTE", "3G")


def make_rows(count: int) -> list[list[Any]]:
    """``count`` plausible October 2025 tests in Lai Châu (local times)."""
    rng = np.random.default_rng(SEED)
    start = datetime(2025, 10, 1)
    minutes = np.sort(rng.integers(0, 30 * 24 * 60, count))
    lat = np.round(22.0 + rng.random(count) * 0.8, 6)
    lon = np.round(102.8 + rng.random(count) * 0.9, 6)
    down = np.round(rng.gamma(2.0, 20.0, count), 2)
    up = np.round(rng.gamma(2.0, 6.0, count), 2)
    latency = rng.integers(10, 120, count)
    operators = rng.integers(0, len(OPERATORS), count)
    technologies = rng.integers(0, len(TECHNOLOGIES), count)
    devices = rng.integers(0, count // 5 + 1, count)
    return [
        [
            f"VN{i:08d}",
            start + timedelta(minutes=int(minutes[i])),
            float(lat[i]),
            float(lon[i]),
            OPERATORS[operators[i]],
            TECHNOLOGIES[technologies[i]],
            float(down[i]),
            float(up[i]),
            int(latency[i]),
            f"dev{devices[i]:07d}",
        ]
        for i in range(count)
    ]


def write_workbook(path: Path, rows: list[list[Any]]) -> None:
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Dữ liệu")
    as_date = book.add_format({"num_format": "dd/mm/yyyy hh:mm:ss"})
    sheet.write(0, 0, "BÁO CÁO KẾT QUẢ ĐO TỐC ĐỘ")
    sheet.write(1, 0, "Ngày xuất: 05/11/2025")
    sheet.write_row(2, 0, HEADER)
    for number, row in enumerate(rows, start=3):
        sheet.write_string(number, 0, row[0])
        sheet.write_datetime(number, 1, row[1], as_date)
        sheet.write_row(number, 2, row[2:])
    book.close()


def write_csv(path: Path, rows: list[list[Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for row in rows:
            writer.writerow([row[0], row[1].strftime("%d/%m/%Y %H:%M:%S"), *row[2:]])


def ingest(path: Path, workdir: Path) -> tuple[float, dict[str, Any]]:
    """Seconds ``qostool ingest`` takes on ``path`` into a fresh store, and its report."""
    store = Path(tempfile.mkdtemp(prefix="store-", dir=workdir))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    command = [sys.executable, "-m", "qostool", "ingest", str(path), "--store", str(store)]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "--json"], check=False, capture_output=True, text=True, env=env
    )
    seconds = time.perf_counter() - started
    shutil.rmtree(store, ignore_errors=True)
    if done.returncode != 0:
        print(done.stderr[-4000:], file=sys.stderr)
        raise SystemExit(2)
    report: dict[str, Any] = json.loads(done.stdout)
    return seconds, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (best time)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-excel-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        rows = make_rows(args.rows)
        book, text = workdir / "ispeed_2025-10.xlsx", workdir / "ispeed_2025-10.csv"
        write_workbook(book, rows)
        write_csv(text, rows)
        print(
            f"{args.rows:,} rows: workbook {book.stat().st_size / 1e6:.1f} MB, "
            f"CSV {text.stat().st_size / 1e6:.1f} MB "
            f"(written in {time.perf_counter() - started:.1f} s)"
        )
        times: dict[str, float] = {}
        for name, path in (("csv", text), ("xlsx", book)):
            best = None
            for _ in range(args.repeat):
                seconds, report = ingest(path, workdir)
                accepted = report["totals"]["accepted"]
                if accepted != args.rows:
                    print(f"{name}: {accepted:,} tests stored, not {args.rows:,}", file=sys.stderr)
                    return 2
                best = seconds if best is None else min(best, seconds)
            assert best is not None
            times[name] = best
            print(f"{name:>5}: {best:6.2f} s  ({args.rows / best:,.0f} rows/s)")
        ratio = times["xlsx"] / times["csv"]
        met = ratio <= MAX_RATIO
        verdict = "met" if met else "MISSED"
        print(f"ratio xlsx/csv: {ratio:.2f} (target <= {MAX_RATIO:.0f}): {verdict}")
        return 0 if met else 1
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
