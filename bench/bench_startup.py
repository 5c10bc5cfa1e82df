"""Benchmark how long the command line takes to start: help texts and a command that fails fast.

Runs each command N times in a fresh interpreter (``python -m qostool ...``) and reports the
median and the best wall time, and the median CPU time (user + system, from ``os.wait4``),
which a busy machine disturbs less than the wall time. With ``--baseline SRC`` the same
commands also run from another source tree (``SRC`` is put first on ``PYTHONPATH``: a
checkout's ``src/`` folder, e.g. of the commit before a change, made with ``git worktree
add``), the two interleaved run by run, so that both see the same load.

Also reports which heavy libraries each command imported (``-X importtime``).

Run it with the Python of the environment where qostool is installed::

    python bench/bench_startup.py [--runs 20] [--baseline OTHER/src] [--json OUT.json]

See bench/README_startup.md for the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_SRC = BENCH_DIR.parent / "src"
HEAVY = ("pydantic", "pandas", "geopandas", "shapely", "pyproj", "matplotlib", "weasyprint")
HEAVY += ("docxtpl", "polars", "numpy")


def commands(missing_store: Path) -> dict[str, list[str]]:
    return {
        "qostool --help": ["--help"],
        "qostool analyze --help": ["analyze", "--help"],
        "qostool status --help": ["status", "--help"],
        "qostool analyze (no store)": [
            "analyze",
            "--month",
            "2025-10",
            "--store",
            str(missing_store),
        ],
    }


def run_once(src: Path, args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one ``python -m qostool ARGS`` with ``src`` first on the path."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
    }
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "qostool", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, _, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = 0  # reaped by wait4
    return wall, usage.ru_utime + usage.ru_stime


def heavy_imports(src: Path, args: list[str]) -> list[str]:
    """The heavy libraries ``python -X importtime -m qostool ARGS`` imported."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "qostool", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name.split(".")[0] in HEAVY:
                found.add(name.split(".")[0])
    return sorted(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each command and tree")
    parser.add_argument("--baseline", type=Path, help="another source tree to compare with")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    options = parser.parse_args()
    trees = {"this tree": REPO_SRC}
    if options.baseline:
        trees = {"baseline": options.baseline.resolve(), **trees}
    with tempfile.TemporaryDirectory() as tmp:
        cases = commands(Path(tmp) / "no-store")
        results: dict[str, dict[str, Any]] = {}
        for label, args in cases.items():
            times: dict[str, list[tuple[float, float]]] = {tree: [] for tree in trees}
            for src in trees.values():
                run_once(src, args)  # warm the file cache
            for _ in range(options.runs):
                for tree, src in trees.items():
                    times[tree].append(run_once(src, args))
            results[label] = {
                tree: {
                    "wall_median_ms": round(1000 * statistics.median(w for w, _ in runs)),
                    "wall_best_ms": round(1000 * min(w for w, _ in runs)),
                    "cpu_median_ms": round(1000 * statistics.median(c for _, c in runs)),
                    "heavy_imports": heavy_imports(trees[tree], args),
                }
                for tree, runs in times.items()
            }
    print(f"{options.runs} runs each, interleaved; python {sys.version.split()[0]}")
    header = ("command", "tree", "wall median", "wall best", "CPU median", "heavy imports")
    widths = ("<28", "<10", ">12", ">10", ">11", "")
    print(" ".join(f"{name:{width}}" for name, width in zip(header, widths, strict=True)))
    for label, by_tree in results.items():
        for tree, figures in by_tree.items():
            wall, best, cpu = (
                figures[k] for k in ("wall_median_ms", "wall_best_ms", "cpu_median_ms")
            )
            heavy = ", ".join(figures["heavy_imports"]) or "-"
            print(f"{label:<28} {tree:<10} {wall:>9} ms {best:>7} ms {cpu:>8} ms  {heavy}")
    if options.json:
        options.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
