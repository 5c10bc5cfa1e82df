"""DuckDB with its spatial extension as a comparator of ``qostool analyze``.

One query does what analyze and the floor do: it joins every test to the commune
that contains it (``ST_Contains`` in a join, which DuckDB runs as a spatial join
over an R-tree it builds of the communes) and computes, per commune x operator x
technology, the floor's aggregates (tests, distinct devices, download mean, median,
p10, p90, share >= 40 Mbps, upload mean, latency median), written to Parquet.

DuckDB is a benchmark-only dependency (``bench/requirements.txt``), never part of
qostool's install. Its spatial extension comes from the ``duckdb-ext-spatial``
package when that is installed (no network needed), else from DuckDB's own
``INSTALL spatial``, which downloads it. Where neither works, the run is skipped
with the reason (the DuckDB error) and the other runs go on.

Like the tutorial, ``ST_Contains`` leaves out points on a border and points in the
gaps between communes (analyze snaps those), so its groups are compared with the
floor's, and reported, not required to be equal.

Run on its own against a setup of ``bench_analyze.py`` (``--keep``)::

    python bench/bench_duckdb.py bench/.work/analyze-1000000-<boundaries>/

``bench_analyze.py --duckdb`` runs it alongside analyze and the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from bench_ingest import RunResult, measure_clean, tail

BENCH_DIR = Path(__file__).resolve().parent
#: Where ``pip install --target`` puts the benchmark-only packages (see bench/README.md).
BENCH_LIB = BENCH_DIR / ".work" / "pylib"
#: The exit code of the DuckDB child when DuckDB or its spatial extension cannot be loaded.
SKIPPED = 3

DUCKDB_CODE = """
import json, sys
try:
    import duckdb
except ImportError as exc:
    print(json.dumps({"skipped": f"duckdb is not installed ({exc}): "
                      "pip install -r bench/requirements.txt"}))
    sys.exit(3)
boundaries, points, target = sys.argv[1:4]
con = duckdb.connect()
try:
    try:
        import duckdb_ext  # the duckdb-ext-spatial package: the extension without a download
        directory = next(iter(duckdb_ext.__path__)) + "/extensions"
        con.execute("SET extension_directory = ?", [directory])
        con.execute("SET autoinstall_known_extensions = false")
    except ImportError:
        con.execute("INSTALL spatial")
    con.execute("LOAD spatial")
except duckdb.Error as exc:
    print(json.dumps({"skipped": f"DuckDB {duckdb.__version__}: the spatial extension "
                      f"cannot be loaded: {exc}".replace(chr(10), " ")}))
    sys.exit(3)
con.execute(
    "CREATE TABLE communes AS SELECT id AS commune_code, geom FROM ST_Read(?)", [boundaries]
)
query = '''
COPY (
    SELECT c.commune_code, t.operator, t.technology,
        count(*) AS tests,
        count(DISTINCT t.device_id) AS devices,
        avg(t.download_mbps) AS download_mean_mbps,
        quantile_cont(t.download_mbps, 0.5) AS download_median_mbps,
        quantile_cont(t.download_mbps, 0.1) AS download_p10_mbps,
        quantile_cont(t.download_mbps, 0.9) AS download_p90_mbps,
        avg(CASE WHEN t.download_mbps >= 40 THEN 1.0 ELSE 0.0 END) AS share_ge_40,
        avg(t.upload_mbps) AS upload_mean_mbps,
        quantile_cont(t.latency_ms, 0.5) AS latency_median_ms
    FROM read_parquet(?) AS t
    JOIN communes AS c ON ST_Contains(c.geom, ST_Point(t.lon, t.lat))
    GROUP BY ALL
) TO '%s' (FORMAT parquet)
''' % target.replace("'", "''")
plan = con.execute("EXPLAIN " + query.split("COPY (", 1)[1].rsplit(") TO", 1)[0], [points])
spatial_join = "SPATIAL_JOIN" in str(plan.fetchall())
con.execute(query, [points])
groups, tests = con.execute("SELECT count(*), sum(tests) FROM read_parquet(?)", [target]).fetchone()
print(json.dumps({"groups": groups, "tests": int(tests or 0), "duckdb": duckdb.__version__,
                  "spatial_join": spatial_join}))
"""


def duckdb_env() -> dict[str, str]:
    """The child's environment: the packages in ``bench/.work/pylib`` on its path, if there."""
    env = dict(os.environ)
    if BENCH_LIB.is_dir():
        parts = [env.get("PYTHONPATH", ""), str(BENCH_LIB)]
        env["PYTHONPATH"] = os.pathsep.join(p for p in parts if p)
    return env


def run_duckdb(
    boundaries: Path, points: Path, target: Path
) -> tuple[RunResult, dict[str, Any] | None, str | None]:
    """One DuckDB run: (the run, its JSON output, None) or (the run, None, why it was skipped).

    Raises ``RuntimeError`` when DuckDB itself fails (not when it cannot be loaded).
    """
    cmd = [sys.executable, "-c", DUCKDB_CODE, str(boundaries), str(points), str(target)]
    run = measure_clean(cmd, duckdb_env())
    start = run.stdout.find("{")
    output = json.loads(run.stdout[start:]) if start >= 0 else {}
    if run.exit_code == SKIPPED:
        return run, None, str(output.get("skipped", "DuckDB could not be loaded"))
    if run.exit_code != 0 or "groups" not in output:
        raise RuntimeError(f"DuckDB failed (exit code {run.exit_code}):\n{tail(run.stderr)}")
    return run, output, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("setup", type=Path, help="a bench_analyze.py setup folder (--keep)")
    args = parser.parse_args(argv)
    info = json.loads((args.setup / "setup.json").read_text(encoding="utf-8"))
    target = args.setup / "duckdb-result.parquet"
    try:
        run, output, skipped = run_duckdb(
            Path(info["boundaries"]), args.setup / "floor.parquet", target
        )
    except RuntimeError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 2
    if skipped is not None:
        print(f"DuckDB skipped: {skipped}")
        return 0
    assert output is not None
    print(
        f"DuckDB {output['duckdb']}: {run.seconds:.2f} s, peak RSS {run.peak_rss_mb:,.0f} MB, "
        f"{output['groups']:,} groups, {output['tests']:,} tests joined "
        f"(spatial join operator: {'yes' if output['spatial_join'] else 'no'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
