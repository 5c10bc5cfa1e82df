"""Ingest stores the same rows and rejects as before its speed work (issue #18, item 3).

The golden files in ``tests/golden/ingest/`` were written by the ingest code as it
was before that work, from the inputs :func:`make_inputs` generates (seeded): a
clean file read by the fast reader and a file with ragged rows that is handed on
to the numbered one, with rejects of most reasons, padded values, times with and
without offsets on both sides of a month's end, and test ids repeated within a
file and across the two. Batches and flushes are made small, so that many of each
are met. A change of stored results must be deliberate: write the files again
with ``python -m tests.test_ingest_identical DIR`` and say why in the commit.

Device pseudonyms depend on each store's secret (and on how they are stored), so
they are compared as a grouping: the same tests share a device, before and after.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from qostool.cli import app
from qostool.ingest import pipeline
from qostool.ingest import sources as src
from qostool.store import Store

GOLDEN = Path(__file__).resolve().parent / "golden" / "ingest"
TZ = "Asia/Ho_Chi_Minh"
HEADER = (
    "test_id,time,latitude,longitude,operator,network_type,"
    "download_mbps,upload_mbps,latency_ms,device_id,mcc_mnc"
)
OPERATORS = (("Viettel", "452-04"), ("VinaPhone", "452-02"), ("MobiFone", "452-01"), ("", ""))
NETWORKS = ("4G", "LTE", "5G", "5G NSA", "3G", "wifi", "")
#: Small batches and flushes: the sample's 6,000 rows come in many of each.
READ_BATCH_ROWS = 700
FLUSH_ROWS = 1_900
RAGGED_CHUNK_ROWS = 3
#: Columns compared as they are; device_id is compared as a grouping.
SORT_KEY = ["test_id"]


def _time(rng: random.Random) -> str:
    """A time near the end of September 2025 in one of the forms exports use."""
    day = rng.choice((29, 30, 30, 30))
    hour, minute, second = rng.randrange(24), rng.randrange(60), rng.randrange(60)
    form = rng.random()
    if form < 0.6:
        return f"2025-09-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}+07:00"
    if form < 0.8:  # UTC: 17:00 or later on the 30th is October in Vietnam
        return f"2025-09-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"
    if form < 0.9:
        return f"2025-09-{day:02d} {hour:02d}:{minute:02d}:{second:02d}+0700"
    return f"2025-10-01T{hour:02d}:{minute:02d}:{second:02d}+07:00"


def _row(rng: random.Random, i: int, prefix: str) -> list[str]:
    operator, mcc_mnc = rng.choice(OPERATORS)
    values = [
        f"{prefix}{i}",
        _time(rng),
        f"{rng.uniform(21.3, 21.7):.6f}",
        f"{rng.uniform(103.1, 103.6):.6f}",
        operator,
        rng.choice(NETWORKS),
        f"{rng.lognormvariate(3.6, 0.6):.2f}",
        f"{rng.lognormvariate(2.5, 0.5):.2f}",
        f"{rng.uniform(10, 90):.1f}",
        f"dev-{rng.randrange(400)}",
        mcc_mnc,
    ]
    kind = rng.random()
    if kind < 0.02:
        values[2] = ""  # missing coordinates
    elif kind < 0.03:
        values[6] = "-3.5"  # negative speed
    elif kind < 0.04:
        values[1] = "not a time"
    elif kind < 0.05:
        values[6] = "fast"  # invalid speed
    elif kind < 0.06:
        values[8] = "-1"  # invalid latency
    elif kind < 0.07:
        values[2], values[3] = "0", "0"  # null island
    elif kind < 0.08:
        values[6] = " 12.50 "  # padded: read after trimming
    elif kind < 0.085:
        values[1] = "2031-01-01T00:00:00+07:00"  # in the future
    elif kind < 0.09:
        values[9] = ""  # no device
    return values


def make_inputs(folder: Path) -> list[Path]:
    """Two seeded CSV exports: a clean-shaped one and one with ragged rows."""
    rng = random.Random(18)
    folder.mkdir(parents=True, exist_ok=True)
    first: list[str] = [HEADER]
    for i in range(4_000):
        values = _row(rng, i, "a")
        if i % 97 == 0 and i:  # the same id again, other values: the first stays
            values[0] = f"a{i - 50}"
        first.append(",".join(values))
    second: list[str] = [HEADER]
    for i in range(2_000):
        values = _row(rng, i, "b")
        if i % 89 == 0:  # an id of the first file: stored already
            values[0] = f"a{i}"
        line = ",".join(values)
        if i % 331 == 5:
            line += ",extra"  # a long row
        elif i % 331 == 9:
            line = ",".join(values[:7])  # a short row
        second.append(line)
    paths = [folder / "ispeed-clean.csv", folder / "ispeed-ragged.csv"]
    for path, lines in zip(paths, (first, second), strict=True):
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


@contextmanager
def _small_batches() -> Iterator[None]:
    saved = (src._POLARS_BATCH_ROWS, pipeline.FLUSH_ROWS, src.RAGGED_CHUNK_ROWS)
    src._POLARS_BATCH_ROWS, pipeline.FLUSH_ROWS = READ_BATCH_ROWS, FLUSH_ROWS
    src.RAGGED_CHUNK_ROWS = RAGGED_CHUNK_ROWS
    try:
        yield
    finally:
        src._POLARS_BATCH_ROWS, pipeline.FLUSH_ROWS, src.RAGGED_CHUNK_ROWS = saved


def ingest_sample(folder: Path) -> tuple[dict[str, Any], pl.DataFrame, pl.DataFrame]:
    """Ingest the sample into a new store; return the totals, tests and rejects as compared."""
    inputs = make_inputs(folder / "in")
    store = folder / "store"
    with _small_batches():
        result = CliRunner().invoke(
            app, ["ingest", *map(str, inputs), "--store", str(store), "--json"]
        )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    opened = Store.open(store, timezone=TZ)
    tests = opened.scan_tests().collect().sort(SORT_KEY)
    rejected = (
        opened.scan_rejects()
        .collect()
        .select(pl.col("file").str.split("/").list.last(), "row", "reason", "detail", "original")
        .sort("file", "row")
    )
    return report["totals"], tests, rejected


def _without_devices(rejected: pl.DataFrame) -> pl.DataFrame:
    """Rejects with every pseudonymised value left out of ``original``.

    A whole row's device id is pseudonymised; so is every value of a ragged row
    that may be one (see canonical.ragged_suspects): those values are dropped.
    """
    kept: list[str] = []
    for reason, original in zip(rejected["reason"], rejected["original"], strict=True):
        values = json.loads(original)
        if reason in ("short_row", "long_row"):
            values = {k: _unhidden(v) for k, v in values.items() if not _is_pseudonym(v)}
        else:
            values.pop("device_id", None)
        kept.append(json.dumps(values, sort_keys=True, ensure_ascii=False))
    return rejected.with_columns(original=pl.Series(kept, dtype=pl.String))


def _unhidden(value: object) -> object:
    """A list of values (``_extra_fields``) without its pseudonyms; another value as it is."""
    if isinstance(value, list):
        return [v for v in value if not _is_pseudonym(v)]
    return value


def _is_pseudonym(value: object) -> bool:
    text = str(value)
    return len(text) == 16 and all(c in "0123456789abcdef" for c in text)


def _device_groups(tests: pl.DataFrame) -> list[list[str]]:
    """The test ids of each device (and of no device), sorted: a grouping free of pseudonyms."""
    groups = (
        tests.group_by(pl.col("device_id").is_null().alias("none"), "device_id")
        .agg(pl.col("test_id").sort())
        .get_column("test_id")
        .to_list()
    )
    return sorted(groups)


def write_golden(target: Path, scratch: Path) -> None:
    """Write the golden files from the code as it is now (see the module's docstring)."""
    totals, tests, rejected = ingest_sample(scratch)
    target.mkdir(parents=True, exist_ok=True)
    tests.drop("device_id").write_parquet(target / "tests.parquet")
    _without_devices(rejected).write_parquet(target / "rejects.parquet")
    groups = _device_groups(tests)
    (target / "totals.json").write_text(json.dumps(totals, indent=1) + "\n", encoding="utf-8")
    (target / "devices.json").write_text(json.dumps(groups) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, pl.DataFrame, pl.DataFrame]:
    return ingest_sample(tmp_path_factory.mktemp("identical"))


def test_the_sample_meets_what_it_is_for(sample: tuple[Any, pl.DataFrame, pl.DataFrame]) -> None:
    """Many batches, two months, duplicates, ragged rows and most reasons: else it proves little."""
    totals, tests, rejected = sample
    assert totals["duplicates"] > 40 and totals["read"] == 6_000
    assert set(tests["month"].unique()) == {"2025-09", "2025-10"}
    assert {"short_row", "long_row", "missing_coordinates", "negative_speed"} <= set(
        rejected["reason"]
    )
    assert tests.height > 2 * FLUSH_ROWS


def test_totals_are_as_before(sample: tuple[Any, pl.DataFrame, pl.DataFrame]) -> None:
    expected = json.loads((GOLDEN / "totals.json").read_text(encoding="utf-8"))
    assert sample[0] == expected


def test_stored_tests_are_as_before(sample: tuple[Any, pl.DataFrame, pl.DataFrame]) -> None:
    expected = pl.read_parquet(GOLDEN / "tests.parquet")
    got = sample[1].drop("device_id")
    assert got.schema == expected.schema
    assert got.equals(expected), _first_difference(expected, got)


def test_devices_group_the_same_tests(sample: tuple[Any, pl.DataFrame, pl.DataFrame]) -> None:
    expected = json.loads((GOLDEN / "devices.json").read_text(encoding="utf-8"))
    assert _device_groups(sample[1]) == expected


def test_rejects_are_as_before(sample: tuple[Any, pl.DataFrame, pl.DataFrame]) -> None:
    """Same rows (by number), reasons, details and original values."""
    expected = pl.read_parquet(GOLDEN / "rejects.parquet")
    got = _without_devices(sample[2])
    assert got.equals(expected), _first_difference(expected, got)


def _first_difference(expected: pl.DataFrame, got: pl.DataFrame) -> str:
    if expected.height != got.height:
        return f"{got.height} rows where {expected.height} were"
    for name in expected.columns:
        differ = (~expected[name].eq_missing(got[name])).arg_true()
        if differ.len():
            at = int(differ[0])
            return f"column {name}, row {at}: {got[name][at]!r}, was {expected[name][at]!r}"
    return "same values"


def main(argv: list[str]) -> int:
    """``python -m tests.test_ingest_identical DIR``: write the golden files into DIR."""
    import tempfile

    if len(argv) != 1:
        print(main.__doc__, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        write_golden(Path(argv[0]), Path(scratch))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
