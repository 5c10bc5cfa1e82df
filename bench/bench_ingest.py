"""Benchmark ``qostool ingest`` against a plain polars CSV -> Parquet floor.

For each size N (``--rows``, 1M and 5M by default) the script generates (or reuses) a
synthetic "ispeed" English-header CSV export of N rows, then runs, each in a fresh
subprocess started through a small launcher so that the peak memory is that process's own:

* the floor: ``polars.read_csv(csv).write_parquet(tmp)``;
* qostool: ``python -m qostool ingest <csv> --store <fresh empty dir> --json``.

Runs are interleaved (floor, qostool, for each size, then again for each repeat), so that
the machine's drift hits both alike, and each pair's ratio is reported as well as the best
times. It prints one table line per size: wall-clock time (best of ``--repeat``), rows per
second, peak RSS (max over the repeats), the qostool/floor rows-per-second ratio, and checks
the targets: ratio >= 0.75, and qostool peak RSS < 2048 MB up to 5M rows.

Exit codes: 0 targets met (or ``--floor-only``), 1 a target missed, 2 a measured run failed
(non-zero exit, unreadable JSON, or ``totals.read`` != N).

Usage::

    python bench/bench_ingest.py [--rows 1000000 5000000] [--workdir DIR] [--json OUT.json]
                                 [--keep] [--repeat 1] [--floor-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_WORKDIR = BENCH_DIR / ".work"

SEED = 20251014
CHUNK_ROWS = 500_000
N_DEVICES = 200_000
MIN_RATIO = 0.75
MAX_RSS_MB = 2048.0
#: The memory target holds up to this many rows (larger files: reported, not checked).
RSS_TARGET_ROWS = 5_000_000
STDERR_TAIL_LINES = 40

HEADER = (
    "test_id,time,latitude,longitude,operator,network_type,"
    "download_mbps,upload_mbps,latency_ms,device_id,mcc_mnc"
)
# Operator -> (weight, MCC-MNC); the MCC-MNC column is consistent with the operator.
OPERATORS: dict[str, tuple[float, str]] = {
    "Viettel": (0.45, "452-04"),
    "VinaPhone": (0.25, "452-02"),
    "MobiFone": (0.22, "452-01"),
    "Vietnamobile": (0.08, "452-05"),
}
NETWORK_TYPES: dict[str, float] = {"4G": 0.35, "LTE": 0.25, "5G": 0.12, "5G NSA": 0.13, "3G": 0.15}

# Local (UTC+07:00) wall-clock seconds, expressed as naive epoch seconds.
SEPT_START = 1_758_067_200  # 2025-09-17T00:00:00
OCT_START = 1_759_276_800  # 2025-10-01T00:00:00
NOV_START = 1_761_955_200  # 2025-11-01T00:00:00
SEPT_SHARE = 0.15

FLOOR_CODE = "import sys, polars; polars.read_csv(sys.argv[1]).write_parquet(sys.argv[2])"

# Linux counts the RSS a process had before exec in the ru_maxrss of its child: a child
# started straight from this process (which generates the CSV files) would report at least
# this process's RSS. So every measured command is started by a small launcher, which times it.
LAUNCHER_CODE = """
import json, os, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
seconds = time.perf_counter() - t0
with open(sys.argv[1], "w") as fh:
    json.dump({"seconds": seconds, "maxrss": usage.ru_maxrss,
               "exit_code": os.waitstatus_to_exitcode(status)}, fh)
"""


# --------------------------------------------------------------------------------------------
# CSV generation
# --------------------------------------------------------------------------------------------


def fixed_point(values: np.ndarray, decimals: int) -> pl.Expr:
    """Format non-negative floats with exactly ``decimals`` decimals, as a string expression."""
    scale = 10**decimals
    scaled = pl.lit(pl.Series(np.rint(values * scale).astype(np.int64)))
    frac = (scaled % scale).cast(pl.String).str.zfill(decimals)
    return pl.format("{}.{}", scaled // scale, frac)


def pick(rng: np.random.Generator, weights: dict[str, float], n: int) -> np.ndarray:
    """Draw ``n`` indices into ``weights`` (normalised) as category codes."""
    p = np.array(list(weights.values()), dtype=np.float64)
    return rng.choice(len(p), size=n, p=p / p.sum())


def make_chunk(rng: np.random.Generator, start: int, n: int) -> pl.DataFrame:
    """Build rows ``start+1 .. start+n`` of the export as an all-string DataFrame."""
    op_idx = pick(rng, {k: w for k, (w, _) in OPERATORS.items()}, n)
    net_idx = pick(rng, NETWORK_TYPES, n)
    in_sept = rng.random(n) < SEPT_SHARE
    seconds = np.where(
        in_sept,
        rng.integers(SEPT_START, OCT_START, n),
        rng.integers(OCT_START, NOV_START, n),
    )
    download = np.clip(rng.lognormal(np.log(40.0), 0.6, n), 0.1, 1500.0)
    upload = np.clip(download / 3.0 * rng.lognormal(0.0, 0.25, n), 0.05, 800.0)
    latency = 10.0 + 80.0 * rng.beta(2.0, 3.0, n)
    device = rng.integers(1, N_DEVICES + 1, n)
    ids = pl.lit(pl.Series(np.arange(start + 1, start + n + 1, dtype=np.int64)))
    operators = pl.Series(list(OPERATORS))
    mcc_mnc = pl.Series([mm for _, mm in OPERATORS.values()])
    op_codes = pl.Series(op_idx)
    return pl.select(
        test_id=pl.format("T{}", ids.cast(pl.String).str.zfill(9)),
        time=pl.from_epoch(pl.lit(pl.Series(seconds)), time_unit="s").dt.strftime(
            "%Y-%m-%dT%H:%M:%S+07:00"
        ),
        latitude=fixed_point(rng.uniform(21.3, 21.7, n), 6),
        longitude=fixed_point(rng.uniform(103.1, 103.6, n), 6),
        operator=pl.lit(operators.gather(op_codes)),
        network_type=pl.lit(pl.Series(list(NETWORK_TYPES)).gather(pl.Series(net_idx))),
        download_mbps=fixed_point(download, 2),
        upload_mbps=fixed_point(upload, 2),
        latency_ms=fixed_point(latency, 1),
        device_id=pl.format("dev-{}", pl.lit(pl.Series(device))),
        mcc_mnc=pl.lit(mcc_mnc.gather(op_codes)),
    )


def generate_csv(path: Path, rows: int) -> None:
    """Write ``rows`` rows to ``path`` in chunks, atomically (via a ``.partial`` file)."""
    rng = np.random.default_rng(SEED)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as fh:
        fh.write((HEADER + "\n").encode())
        for start in range(0, rows, CHUNK_ROWS):
            chunk = make_chunk(rng, start, min(CHUNK_ROWS, rows - start))
            chunk.write_csv(fh, include_header=False)
    partial.replace(path)


def ensure_csv(workdir: Path, rows: int) -> tuple[Path, bool, float]:
    """Return (csv path, whether it was generated now, generation seconds)."""
    path = workdir / f"ispeed-en-{rows}.csv"
    if path.is_file():
        return path, False, 0.0
    t0 = time.perf_counter()
    generate_csv(path, rows)
    return path, True, time.perf_counter() - t0


def warm_page_cache(path: Path) -> None:
    """Read the file once so that every measured run starts from the same (warm) cache."""
    with path.open("rb") as fh:
        while fh.read(16 * 1024 * 1024):
            pass


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """One child-process run."""

    seconds: float
    peak_rss_mb: float
    exit_code: int
    stdout: str
    stderr: str


@dataclass
class Summary:
    """Best time and max peak RSS over the repeats of one kind of run."""

    name: str
    times_s: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)

    def add(self, run: RunResult) -> None:
        self.times_s.append(run.seconds)
        self.peak_rss_mb.append(run.peak_rss_mb)

    def figures(self, rows: int) -> dict[str, Any]:
        best = min(self.times_s)
        return {
            "times_s": [round(t, 4) for t in self.times_s],
            "best_s": round(best, 4),
            "rows_per_s": round(rows / best, 1),
            "peak_rss_mb": round(max(self.peak_rss_mb), 1),
        }


def maxrss_to_mb(maxrss: int) -> float:
    """``ru_maxrss`` is KiB on Linux and bytes on macOS; return MiB."""
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return maxrss / scale


def measure(cmd: list[str], env: dict[str, str] | None = None) -> RunResult:
    """Run ``cmd`` in a fresh process; time it and read its peak RSS from ``wait4``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        # Files, not pipes: nothing has to be drained while we block in wait4.
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped by wait4
        out.seek(0)
        err.seek(0)
        return RunResult(
            seconds=seconds,
            peak_rss_mb=maxrss_to_mb(usage.ru_maxrss),
            exit_code=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def measure_clean(cmd: list[str], env: dict[str, str] | None = None) -> RunResult:
    """Like :func:`measure`, but the peak RSS is the command's own (see ``LAUNCHER_CODE``)."""
    with tempfile.TemporaryDirectory() as scratch:
        figures = Path(scratch) / "launcher.json"
        run = measure([sys.executable, "-c", LAUNCHER_CODE, str(figures), *cmd], env)
        if not figures.is_file():
            return run  # the launcher itself failed: its exit code and stderr tell why
        measured = json.loads(figures.read_text(encoding="utf-8"))
    run.seconds = measured["seconds"]
    run.peak_rss_mb = maxrss_to_mb(measured["maxrss"])
    run.exit_code = measured["exit_code"]
    return run


def qostool_env() -> dict[str, str]:
    """Child environment; adds ``<repo>/src`` to PYTHONPATH if qostool is not installed.

    qostool's modules are byte-compiled first, as installing its wheel does: a checkout
    never run, or run under ``PYTHONDONTWRITEBYTECODE``, compiles them at every run
    (0.06-0.1 s of a 1 M analysis), which no installed tool does.
    """
    env = dict(os.environ)
    if find_spec("qostool") is None and (REPO_ROOT / "src" / "qostool").is_dir():
        parts = [str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in parts if p)
    compile_package = (
        "import compileall, os, qostool; "
        "compileall.compile_dir(os.path.dirname(qostool.__file__), quiet=1)"
    )
    # Not checked: a read-only install is measured as it is.
    subprocess.run(
        [sys.executable, "-c", compile_package], check=False, env=env, capture_output=True
    )
    return env


def run_floor(csv: Path, workdir: Path) -> RunResult:
    """The floor: a plain ``polars.read_csv(csv).write_parquet(tmp)`` in a child process."""
    target = workdir / "floor.parquet"
    target.unlink(missing_ok=True)
    return measure_clean([sys.executable, "-c", FLOOR_CODE, str(csv), str(target)])


def run_qostool(csv: Path, store: Path, env: dict[str, str]) -> RunResult:
    """``qostool ingest <csv> --store <fresh empty dir> --json`` in a child process."""
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    cmd = [sys.executable, "-m", "qostool", "ingest", str(csv), "--store", str(store), "--json"]
    return measure_clean(cmd, env)


def parse_totals(stdout: str) -> dict[str, int]:
    """Extract ``totals`` from qostool's JSON output; raise ``ValueError`` if malformed."""
    start = stdout.find("{")
    if start < 0:
        raise ValueError("no JSON object on stdout")
    try:
        doc, _ = json.JSONDecoder().raw_decode(stdout[start:])
    except json.JSONDecodeError as exc:
        raise ValueError(f"stdout is not JSON: {exc}") from exc
    totals = doc.get("totals") if isinstance(doc, dict) else None
    if not isinstance(totals, dict):
        raise ValueError('no top-level "totals" object')
    keys = ("read", "accepted", "rejected", "duplicates")
    bad = [k for k in keys if not isinstance(totals.get(k), int) or isinstance(totals[k], bool)]
    if bad:
        raise ValueError(f"totals missing or non-integer: {', '.join(bad)}")
    return {k: int(totals[k]) for k in keys}


def tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def how_it_ended(exit_code: int) -> str:
    """A failed child's end, for its message: its exit code, or the signal that killed it."""
    if exit_code >= 0:
        return f"exit code {exit_code}"
    try:
        name = signal.Signals(-exit_code).name
    except ValueError:
        name = f"signal {-exit_code}"
    why = (
        ": on Linux, most often the kernel's out-of-memory killer (see dmesg)"
        if -exit_code == signal.SIGKILL
        else ""
    )
    return f"killed by {name}{why}"


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def print_table(report: dict[str, Any]) -> None:
    """Print one line per size and the target checks."""
    print(f"qostool ingest benchmark: repeat {report['repeat']}, runs interleaved")
    print(
        f"{'rows':>12}{'CSV':>10}{'floor':>10}{'qostool':>10}{'rows/s':>12}"
        f"{'ratio':>7}{'  pairs':<20}{'floor RSS':>11}{'qostool RSS':>13}"
    )
    ok = {True: "OK", False: "MISSED", None: "-"}
    for size in report["sizes"]:
        floor, qostool, checks = size["floor"], size["qostool"], size["targets"]
        line = f"{size['rows']:>12,}{size['csv']['mb']:>7,.0f} MB{floor['best_s']:>8.2f} s"
        if qostool is None:
            print(f"{line}{'-':>10}{'-':>12}{'-':>7}{'':<20}{floor['peak_rss_mb']:>8,.0f} MB")
            continue
        pairs = " ".join(f"{r:.2f}" for r in size["pair_ratios"])
        print(
            f"{line}{qostool['best_s']:>8.2f} s{qostool['rows_per_s']:>12,.0f}"
            f"{checks['ratio']:>7.2f}  {pairs:<18}{floor['peak_rss_mb']:>8,.0f} MB"
            f"{qostool['peak_rss_mb']:>10,.0f} MB"
        )
    if report["floor_only"]:
        print("floor only: targets not checked")
        return
    print(
        f"targets: ratio qostool/floor rows/s >= {MIN_RATIO:.2f}; qostool peak RSS < "
        f"{MAX_RSS_MB:,.0f} MB up to {RSS_TARGET_ROWS:,} rows"
    )
    for size in report["sizes"]:
        checks = size["targets"]
        print(
            f"{size['rows']:>12,}: ratio {ok[checks['ratio_ok']]}, memory {ok[checks['rss_ok']]}; "
            + ", ".join(f"{k} {v:,}" for k, v in size["qostool"]["totals"].items())
        )


def check_targets(rows: int, floor: dict[str, Any], qostool: dict[str, Any]) -> dict[str, Any]:
    """Compare qostool's figures with the floor and the fixed targets."""
    ratio = qostool["rows_per_s"] / floor["rows_per_s"]
    return {
        "ratio": round(ratio, 4),
        "min_ratio": MIN_RATIO,
        "ratio_ok": ratio >= MIN_RATIO,
        "qostool_peak_rss_mb": qostool["peak_rss_mb"],
        "max_rss_mb": MAX_RSS_MB,
        "rss_ok": qostool["peak_rss_mb"] < MAX_RSS_MB if rows <= RSS_TARGET_ROWS else None,
    }


def missed_targets(report: dict[str, Any]) -> list[str]:
    """Human-readable list of the targets that were not met."""
    missed = []
    for size in report["sizes"]:
        checks = size["targets"]
        if checks is None:
            continue
        if not checks["ratio_ok"]:
            missed.append(f"{size['rows']:,} rows: ratio {checks['ratio']:.2f} < {MIN_RATIO:.2f}")
        if checks["rss_ok"] is False:
            missed.append(
                f"{size['rows']:,} rows: peak RSS {checks['qostool_peak_rss_mb']:,.0f} MB "
                f">= {MAX_RSS_MB:,.0f} MB"
            )
    return missed


def write_json(path: Path | None, report: dict[str, Any]) -> None:
    """Write the report as JSON if ``--json`` was given."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


class RunFailedError(Exception):
    """A measured run failed (exit code 2)."""

    def __init__(self, what: str, run: RunResult) -> None:
        super().__init__(what)
        self.what = what
        self.run = run


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=[1_000_000, 5_000_000],
        help="rows in the CSV export; several sizes give one table line each",
    )
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="scratch dir")
    parser.add_argument("--json", type=Path, default=None, help="write all figures here")
    parser.add_argument(
        "--keep", action="store_true", help="keep the CSV, floor Parquet and store afterwards"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each kind (best time)")
    parser.add_argument("--floor-only", action="store_true", help="skip the qostool run")
    args = parser.parse_args(argv)
    if min(args.rows) < 1 or args.repeat < 1:
        parser.error("--rows and --repeat must be >= 1")
    return args


def size_report(rows: int, csv: Path, generated: bool, gen_s: float) -> dict[str, Any]:
    """Report fields of one size known before any measured run."""
    return {
        "rows": rows,
        "csv": {
            "path": str(csv),
            "mb": round(csv.stat().st_size / 1024 / 1024, 1),
            "generated": generated,
            "generation_s": round(gen_s, 2),
        },
        "floor": None,
        "qostool": None,
        "pair_ratios": [],
        "targets": None,
    }


def measure_size(
    args: argparse.Namespace, size: dict[str, Any], env: dict[str, str]
) -> tuple[RunResult, RunResult | None, dict[str, int]]:
    """One floor run and one qostool run of one size (checked)."""
    csv, rows = Path(size["csv"]["path"]), size["rows"]
    floor = run_floor(csv, args.workdir)
    if floor.exit_code != 0:
        raise RunFailedError("floor run (polars read_csv/write_parquet)", floor)
    if args.floor_only:
        return floor, None, {}
    run = run_qostool(csv, args.workdir / "store", env)
    if run.exit_code != 0:
        raise RunFailedError("qostool ingest", run)
    try:
        totals = parse_totals(run.stdout)
    except ValueError as exc:
        run.stderr += f"\n[stdout head]\n{run.stdout[:2000]}"
        raise RunFailedError(f"qostool --json output: {exc}", run) from None
    if totals["read"] != rows:
        raise RunFailedError(f"totals.read {totals['read']} != {rows}", run)
    return floor, run, totals


def benchmark(args: argparse.Namespace, report: dict[str, Any]) -> int:
    """Run the measured processes, interleaved, fill ``report`` and return the exit code."""
    env = qostool_env()
    sizes = report["sizes"]
    floors = [Summary("floor") for _ in sizes]
    runs = [Summary("qostool") for _ in sizes]
    totals: list[dict[str, int]] = [{} for _ in sizes]
    for _ in range(args.repeat):
        for i, size in enumerate(sizes):
            warm_page_cache(Path(size["csv"]["path"]))
            floor, run, totals[i] = measure_size(args, size, env)
            floors[i].add(floor)
            if run is not None:
                runs[i].add(run)
                size["pair_ratios"].append(round(floor.seconds / run.seconds, 3))
    for i, size in enumerate(sizes):
        size["floor"] = floors[i].figures(size["rows"])
        if not args.floor_only:
            size["qostool"] = runs[i].figures(size["rows"]) | {"totals": totals[i]}
            size["targets"] = check_targets(size["rows"], size["floor"], size["qostool"])
    if not args.floor_only:
        report["passed"] = not missed_targets(report)
    print_table(report)
    write_json(args.json, report)
    if report["passed"] is False:
        print("targets missed: " + "; ".join(missed_targets(report)), file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "repeat": args.repeat,
        "floor_only": args.floor_only,
        "sizes": [],
        "passed": None,
        "env": {
            "python": platform.python_version(),
            "polars": pl.__version__,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }
    generated_csvs: list[Path] = []
    try:
        for rows in args.rows:
            csv, generated, gen_s = ensure_csv(args.workdir, rows)
            if generated:
                generated_csvs.append(csv)
                print(f"generated {csv.name} in {gen_s:.1f} s", file=sys.stderr)
            report["sizes"].append(size_report(rows, csv, generated, gen_s))
        return benchmark(args, report)
    except RunFailedError as exc:
        print(f"FAILED: {exc.what} ({how_it_ended(exc.run.exit_code)})", file=sys.stderr)
        if exc.run.stderr.strip():
            print(f"--- stderr tail ---\n{tail(exc.run.stderr)}", file=sys.stderr)
        report["error"] = {
            "what": exc.what,
            "exit_code": exc.run.exit_code,
            "stderr_tail": tail(exc.run.stderr),
        }
        write_json(args.json, report)
        return 2
    finally:
        if not args.keep:
            (args.workdir / "floor.parquet").unlink(missing_ok=True)
            shutil.rmtree(args.workdir / "store", ignore_errors=True)
            for csv in generated_csvs:
                csv.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
