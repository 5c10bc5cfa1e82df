"""Benchmark ``qostool ingest`` on row shapes and archives that once made memory grow.

Each input is generated in a temporary folder, then ingested by
``python -m qostool ingest <input> --store <fresh empty dir> --json`` in a child
process, whose wall time and peak RSS are reported:

* ``short-4k``: 100,000 rows of about 4 kB, each one field short, gzipped;
* ``complete-4k``: the same rows, complete;
* ``short-2.7m`` (``--big`` only): 2,700,000 ordinary rows, each one field short, gzipped;
* ``zip-100`` and ``zip-600``: zip archives of 100 and 600 small CSV members.

The JSON report's totals are checked: every row read, and read = accepted + rejected
+ duplicates. Speed and memory are reported, not asserted (they depend on the machine).

Exit codes: 0 every run succeeded, 2 a run failed or its totals were wrong.

Usage::

    python bench/bench_hostile.py [--big] [--only NAME ...] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench_ingest import qostool_env  # run as a script: bench/ is on the path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent

HEADER = (
    "test_id,time,latitude,longitude,operator,network_type,"
    "download_mbps,upload_mbps,latency_ms,device_id,comment,mcc_mnc"
)
LONG_TEXT = "signal dropped near the market; " * 124  # about 4 kB
CHUNK_ROWS = 5_000
STDERR_TAIL_LINES = 30


def row(i: int, comment: str, *, short: bool, prefix: str = "t") -> str:
    """One ispeed row (the last field, ``mcc_mnc``, left out when ``short``)."""
    values = (
        f"{prefix}{i},2025-10-{1 + i % 28:02d}T10:{i % 60:02d}:00+07:00,21.{i % 1000:03d},"
        f"105.{i % 997:03d},Viettel,4G,{20 + i % 50}.5,{5 + i % 9}.25,{10 + i % 80},"
        f"dev-{i % 5000},{comment}"
    )
    return values if short else f"{values},452-04"


def lines(rows: int, comment: str, *, short: bool, prefix: str = "t") -> Iterator[bytes]:
    """The CSV's text in chunks of :data:`CHUNK_ROWS` rows."""
    yield (HEADER + "\n").encode()
    for start in range(0, rows, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, rows)
        chunk = [row(i, comment, short=short, prefix=prefix) for i in range(start, stop)]
        yield ("\n".join(chunk) + "\n").encode()


def write_gzip(path: Path, rows: int, comment: str, *, short: bool) -> None:
    with gzip.open(path, "wb", compresslevel=6) as out:
        for chunk in lines(rows, comment, short=short):
            out.write(chunk)


def write_zip(path: Path, members: int, rows: int) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for m in range(members):
            text = b"".join(lines(rows, "ok", short=False, prefix=f"m{m}-t"))
            archive.writestr(f"export-{m:04d}.csv", text)


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    rows: int
    make: Callable[[Path], None]
    big: bool = False


CASES = (
    Case(
        "short-4k",
        "short-4k.csv.gz",
        100_000,
        lambda p: write_gzip(p, 100_000, LONG_TEXT, short=True),
    ),
    Case(
        "complete-4k",
        "complete-4k.csv.gz",
        100_000,
        lambda p: write_gzip(p, 100_000, LONG_TEXT, short=False),
    ),
    Case(
        "short-2.7m",
        "short-2.7m.csv.gz",
        2_700_000,
        lambda p: write_gzip(p, 2_700_000, "x", short=True),
        big=True,
    ),
    Case("zip-100", "zip-100.zip", 100 * 20, lambda p: write_zip(p, 100, 20)),
    Case("zip-600", "zip-600.zip", 600 * 20, lambda p: write_zip(p, 600, 20)),
)


@dataclass
class Result:
    name: str
    input_mb: float
    rows: int
    seconds: float
    peak_rss_mb: float | None
    exit_code: int
    totals: dict[str, Any]
    files: int


def peak_rss_mb(maxrss: int) -> float:
    """``ru_maxrss`` is KiB on Linux and bytes on macOS; return MiB."""
    return maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float | None, int, str, str]:
    """Run ``cmd``; its wall time, peak RSS (None where the system cannot tell), exit, output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        wait4 = getattr(os, "wait4", None)
        if wait4 is not None:
            _, status, usage = wait4(proc.pid, 0)
            code = os.waitstatus_to_exitcode(status)
            rss: float | None = peak_rss_mb(usage.ru_maxrss)
        else:  # no per-child resource usage on this system
            code, rss = proc.wait(), None
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        return seconds, rss, code, out.read().decode(errors="replace"), err.read().decode()


def child_env() -> dict[str, str]:
    """The child's environment, as for the ingest benchmark."""
    return qostool_env()


def measure(case: Case, workdir: Path, env: dict[str, str]) -> Result:
    path = workdir / case.file
    if not path.exists():
        # In a child process: a forked child starts with its parent's peak RSS, so the
        # parent must stay small for the figures to be the ingest's own.
        make = [sys.executable, __file__, "--make", case.name, str(path)]
        subprocess.run(make, check=True)
    store = workdir / "store"
    shutil.rmtree(store, ignore_errors=True)
    cmd = [sys.executable, "-m", "qostool", "ingest", str(path), "--store", str(store), "--json"]
    seconds, rss, code, stdout, stderr = run(cmd, env)
    shutil.rmtree(store, ignore_errors=True)
    try:
        report = json.loads(stdout[stdout.find("{") :])
        totals, files = report["totals"], report["files"]
    except (ValueError, KeyError):
        totals, files = {}, []
    if code != 0 or not totals:
        tail = "\n".join(stderr.splitlines()[-STDERR_TAIL_LINES:])
        print(f"{case.name}: qostool exited {code}\n{tail}", file=sys.stderr)
    return Result(
        name=case.name,
        input_mb=path.stat().st_size / (1 << 20),
        rows=case.rows,
        seconds=seconds,
        peak_rss_mb=rss,
        exit_code=code,
        totals=totals,
        files=len(files),
    )


def accounted(result: Result) -> bool:
    t = result.totals
    return (
        result.exit_code == 0
        and t.get("read") == result.rows
        and t["read"] == t["accepted"] + t["rejected"] + t["duplicates"]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="also the 2.7 M short rows")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these inputs")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--workdir", type=Path, help="keep the inputs here (default: a temp dir)")
    parser.add_argument("--make", nargs=2, metavar=("NAME", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.make:
        name, path = args.make
        next(c for c in CASES if c.name == name).make(Path(path))
        return 0
    cases = [c for c in CASES if (args.big or not c.big) and (not args.only or c.name in args.only)]
    env = child_env()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="qostool-bench-") as temp:
        workdir = args.workdir or Path(temp)
        workdir.mkdir(parents=True, exist_ok=True)
        print(f"{'input':<12} {'size':>9} {'rows':>10} {'files':>6} {'time':>9} {'peak RSS':>10}")
        for case in cases:
            result = measure(case, workdir, env)
            results.append(result)
            rss = "?" if result.peak_rss_mb is None else f"{result.peak_rss_mb:,.0f} MB"
            mark = "" if accounted(result) else "  FAILED (see totals)"
            print(
                f"{result.name:<12} {result.input_mb:>6.1f} MB {result.rows:>10,} "
                f"{result.files:>6} {result.seconds:>7.2f} s {rss:>10}{mark}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2), encoding="utf-8")
    return 0 if all(accounted(r) for r in results) else 2


if __name__ == "__main__":
    sys.exit(main())
