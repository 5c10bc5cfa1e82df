"""The month in batches, in bounded memory: the same figures, bit for bit, as in one piece.

The reference figures (``tests/data/*_before_batches.parquet``) were computed by the
statistics before the month could be read in batches; see ``tests/bounded_inputs.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from qostool.analyze import bounded, ranks, run
from qostool.analyze import stats as stats_module
from qostool.analyze.rules import Rule
from qostool.analyze.run import Analysis, AnalyzeOptions, analyze_month
from qostool.analyze.stats import month_statistics
from qostool.config import MIN_MEMORY_LIMIT, load_settings, parse_size
from qostool.errors import ConfigError, ExitCode
from qostool.geo.boundaries import BoundaryOptions
from qostool.geo.versions import import_boundaries
from qostool.ingest import ingest_paths
from qostool.schema import Technology
from qostool.store import Store
from tests.bounded_inputs import RULES, STATS_BEFORE, USAGE_BEFORE, seeded_tests
from tests.conftest import REPO, TZ, one_line

SAMPLES = REPO / "data" / "samples"
PROVINCE = SAMPLES / "province.geojson"
NOW = datetime(2025, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def data() -> pl.DataFrame:
    return seeded_tests()


@pytest.mark.parametrize("name", list(RULES))
def test_in_memory_statistics_equal_the_figures_before_batches(
    data: pl.DataFrame, name: str
) -> None:
    stats, usage = month_statistics(data.lazy(), RULES[name], usage=True)
    assert usage is not None
    before = pl.read_parquet(STATS_BEFORE).filter(pl.col("rule") == name).drop("rule")
    assert_frame_equal(stats, before, check_exact=True)
    used = pl.read_parquet(USAGE_BEFORE).filter(pl.col("rule") == name).drop("rule")
    # The references predate the single tests' own columns: those are checked below.
    assert_frame_equal(usage.sort("commune_code").select(used.columns), used, check_exact=True)
    wifi = pl.col("technology").cast(pl.String) == Technology.WIFI.value
    singles = data.filter(~pl.col("aggregate") & ~wifi)
    own = singles.group_by(pl.col("commune_code").cast(pl.String)).agg(
        tests_mobile_single=pl.len().cast(pl.Int64),
        devices_mobile_single=pl.col("device_id").drop_nulls().n_unique().cast(pl.Int64),
    )
    got = usage.select("commune_code", "tests_mobile_single", "devices_mobile_single")
    assert_frame_equal(
        got.filter(pl.col("tests_mobile_single") > 0).sort("commune_code"),
        own.sort("commune_code"),
        check_exact=True,
    )


# -- the month in batches, end to end ---------------------------------------------------


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The samples ingested and their province imported (copied before each analysis)."""
    root = tmp_path_factory.mktemp("samples") / "store"
    ingest_paths([str(SAMPLES)], store=root)
    import_boundaries(Store.open(root, timezone=TZ), PROVINCE, BoundaryOptions())
    return root


def analysed(
    sample_store: Path, where: Path, rule: Rule, *, limit: int | None, history: int
) -> Analysis:
    """November 2025 (with the quarter's tiles), and ``history`` months before it."""
    root = where / "store"
    shutil.copytree(sample_store, root)
    options = AnalyzeOptions(
        month="2025-11", rule=rule, memory_limit=limit, generated_at=NOW, history_months=history
    )
    return analyze_month(Store.open(root, timezone=TZ), options)


def tiny_batches(monkeypatch: pytest.MonkeyPatch, rows: int) -> int:
    """A memory limit whose batches hold ``rows`` rows, and no month fits in one piece."""
    monkeypatch.setattr(bounded, "BATCH_ROW_BYTES", 1 << 20)
    monkeypatch.setattr(bounded, "PART_ROW_BYTES", 1 << 20)
    monkeypatch.setattr(bounded, "IN_MEMORY_ROW_BYTES", 1 << 40)
    monkeypatch.setattr(bounded, "MIN_BATCH_ROWS", 1)
    return bounded.FIXED_BYTES + rows * (1 << 20)


@pytest.mark.parametrize("held", [True, False], ids=["held", "radix"])
@pytest.mark.parametrize("case", [("mean", 7, 0), ("median", 200, 12), ("share", 1000, 12)])
def test_batches_give_the_figures_of_one_piece(
    sample_store: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[str, int, int],
    held: bool,
) -> None:
    """Rule, rows per batch (7: a batch splits communes, parts hold a commune or two, and
    every selection goes down to single values), months of history; the operators' and
    the province's order statistics from a column held in memory, or by radix selection
    over the spill (a column too large for the limit)."""
    name, rows, history = case
    rule = RULES[name]
    whole = analysed(sample_store, tmp_path / "whole", rule, limit=None, history=history)
    limit = tiny_batches(monkeypatch, rows)
    if name == "share":  # each device's (operator, technology) pairs in words of 2 bits
        monkeypatch.setattr(stats_module, "WORD_BITS", 2)
    if not held:
        monkeypatch.setattr(bounded, "HELD_ROW_BYTES", 1 << 40)
    used = {"held": 0}
    real_held = bounded._Held

    def counting(*args: Any) -> bounded._Held:
        used["held"] += 1
        return real_held(*args)

    monkeypatch.setattr(bounded, "_Held", counting)
    plan = bounded.memory_plan(whole.meta["counts"]["rows"], limit)
    assert not plan.in_memory and plan.batch_rows == plan.part_rows == rows
    parts = analysed(sample_store, tmp_path / "parts", rule, limit=limit, history=history)
    assert_frame_equal(parts.stats, whole.stats, check_exact=True)
    assert_frame_equal(parts.communes, whole.communes, check_exact=True)
    assert parts.meta["counts"] == whole.meta["counts"]
    assert parts.meta["warnings"] == whole.meta["warnings"]
    assert parts.meta["sources"] == whole.meta["sources"]
    assert bool(used["held"]) == held
    # What the sources and the single tests' columns are compared on is there.
    assert {"tests_mobile_single", "devices_mobile_single"} <= set(whole.communes.columns)
    assert whole.communes["devices_mobile_single"].sum() > 0
    assert any(s["devices"] for s in whole.meta["sources"] if not s["aggregate"])


def test_a_quarter_s_first_month_in_batches_gives_its_tiles_to_the_next_in_one_piece(
    sample_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """November in one piece needs October's tiles; October, too large to read whole,
    gives them alone and is analysed for the trend in batches: the same results."""
    rule = RULES["median"]
    whole = analysed(sample_store, tmp_path / "whole", rule, limit=None, history=12)
    batched: list[str] = []
    batched_month = bounded.batched_month

    def spy(paths: list[Path], month: str, **kwargs: Any) -> bounded.BatchedMonth:
        batched.append(month)
        return batched_month(paths, month, **kwargs)

    monkeypatch.setattr(bounded, "batched_month", spy)
    monkeypatch.setattr(run._Months, "_in_one_piece", lambda _, month: month != "2025-10")
    mixed = analysed(sample_store, tmp_path / "mixed", rule, limit=None, history=12)
    assert batched == ["2025-10"]
    assert whole.meta["history_months"] > 0
    assert_frame_equal(mixed.stats, whole.stats, check_exact=True)
    assert_frame_equal(mixed.communes, whole.communes, check_exact=True)
    assert mixed.meta["sources"] == whole.meta["sources"]


def test_cli_memory_limit_reads_in_batches_with_the_same_results(
    sample_store: Path, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    """256MB (below what the process itself needs) gives the smallest batches, and the
    run says, even with --json, that it cannot keep the limit."""
    outputs, notices = [], []
    for limit in ([], ["--memory-limit", "256MB"]):
        root = tmp_path / f"store{len(outputs)}"
        shutil.copytree(sample_store, root)
        result = cli("analyze", "--month", "2025-11", "--store", root, "--json", *limit)
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        outputs.append(
            {k: v for k, v in data.items() if k not in ("results", "id", "generated_at")}
        )
        notices.append(result.stderr)
    plan = bounded.memory_plan(outputs[0]["counts"]["rows"], 256 << 20)
    assert not plan.in_memory and plan.batch_rows == bounded.MIN_BATCH_ROWS
    assert outputs[1] == outputs[0]
    assert "less than an analysis in batches needs" not in notices[0]
    assert "2025-11: the memory limit (256 MB) is less than an analysis in batches" in notices[1]
    assert f"batches of {bounded.MIN_BATCH_ROWS:,} rows" in notices[1]


def test_a_limit_keeps_its_batches_down_to_the_smallest_and_no_further() -> None:
    """Batches fill the room a limit leaves, down to MIN_BATCH_ROWS: a smaller limit gets
    those, and is said not to be kept (a 10 M month in batches of 1,000 rows took hours)."""
    row = max(bounded.BATCH_ROW_BYTES, bounded.PART_ROW_BYTES)
    least = bounded.FIXED_BYTES + bounded.MIN_BATCH_ROWS * row
    assert bounded.needed_for_batches() == least
    at = bounded.memory_plan(100_000_000, least)
    assert at.keeps_limit and at.batch_rows == at.part_rows == bounded.MIN_BATCH_ROWS
    below = bounded.memory_plan(100_000_000, least - 1)
    assert not below.keeps_limit and below.batch_rows == bounded.MIN_BATCH_ROWS
    above = bounded.memory_plan(100_000_000, least + 10 * row)
    assert above.keeps_limit and above.batch_rows == bounded.MIN_BATCH_ROWS + 10
    whole = bounded.memory_plan(1_000, None)
    assert whole.in_memory and whole.keeps_limit
    # At the smallest limit accepted, a 10 M month is a few dozen batches, not thousands.
    smallest = bounded.memory_plan(10_000_000, MIN_MEMORY_LIMIT)
    assert -(-10_000_000 // smallest.batch_rows) <= 50


def test_a_held_column_takes_its_share_of_the_limit_from_the_parts() -> None:
    """Held where it takes at most half the room the limit leaves; the parts of
    communes then get the rest, so that the two never add up past the limit."""
    plan = bounded.memory_plan(100_000_000, None)
    room = plan.limit - bounded.FIXED_BYTES
    at_most = room // 2 // bounded.HELD_ROW_BYTES
    hold, part_rows = plan.held(at_most)
    assert hold and part_rows < plan.part_rows
    assert (
        bounded.FIXED_BYTES
        + at_most * bounded.HELD_ROW_BYTES
        + part_rows * (bounded.PART_ROW_BYTES)
        <= plan.limit
    )
    assert plan.held(at_most + 1) == (False, plan.part_rows)
    assert plan.held(96_000_000)[0]  # the national month under the default 4GB
    assert not bounded.memory_plan(100_000_000, 2 << 30).held(96_000_000)[0]


class _SpillOf:
    """The parts of a spill that :class:`bounded._Coarse` and :class:`bounded._Held` read."""

    def __init__(self, frames: list[pl.DataFrame], operators: list[str], techs: list[str]) -> None:
        self.frames = frames
        self.rows = sum(f.height for f in frames)
        self.operators = {name: code for code, name in enumerate(operators)}
        self.technologies = {name: code for code, name in enumerate(techs)}
        whole = pl.concat(frames)
        counted = whole.group_by("__op", "__tech").agg(pl.len(), pl.col("download_mbps").count())
        self.pairs = {
            (op, tech): {"__rows": rows, "download_mbps": n}
            for op, tech, rows, n in counted.iter_rows()
        }

    def scan(self, columns: list[str]) -> Iterator[pl.DataFrame]:
        for frame in self.frames:
            yield frame.select(columns)


def test_a_held_column_gives_each_group_its_own_values_whatever_was_partitioned() -> None:
    """The held keys lie by (operator, technology) segment, cellular ones first; every
    group's range or copy holds exactly its values at the moment it is selected, after
    the partitions of the levels before it (which move values within their ranges)."""
    rng = np.random.default_rng(29)
    n = 6000
    techs = ["4G", "wifi", "5G", "3G"]  # Wi-Fi not last: the layout puts it last
    op = rng.integers(0, 3, n).astype(np.uint16)
    tech = rng.choice(4, n, p=[0.4, 0.2, 0.3, 0.1]).astype(np.uint16)
    download = rng.lognormal(3, 1, n)
    frame = pl.DataFrame({"__op": op, "__tech": tech, "download_mbps": download})
    frame = frame.with_columns(
        pl.when(pl.Series(rng.random(n) < 0.1))
        .then(None)
        .otherwise(pl.col("download_mbps"))
        .alias("download_mbps")
    )
    assert 0 < frame["download_mbps"].null_count() < n // 5  # values missing, as in a spill
    spill = _SpillOf([frame[:2500], frame[2500:2501], frame[2501:]], ["a", "b", "c"], techs)
    coarse = bounded._Coarse(spill, Rule(), 1000, hold=True)  # type: ignore[arg-type]
    total = sum(size for *_, size in coarse.groups())
    held = bounded._Held(coarse, "download_mbps")
    counts = coarse.roll_up(coarse.pair_counts("download_mbps"))
    valid = frame.filter(pl.col("download_mbps").is_not_null())
    starts = [start for _, start, _ in coarse.groups()]
    assert starts == [0, 3 * 4, 3 * 4 + 3, 3 * 4 + 3 + 4]
    row_op, row_tech = valid["__op"].to_numpy().astype(np.int64), valid["__tech"].to_numpy()
    cellular = np.array([t != "wifi" for t in techs])[row_tech]

    def level_ids(level: int) -> np.ndarray:
        """Each row's group at a level, written out: (operator, technology); operator,
        cellular only; technology; the province, cellular only."""
        ids = [row_op * 4 + row_tech, row_op, row_tech, np.zeros_like(row_op)][level]
        return np.where(cellular | (level in (0, 2)), starts[level] + ids, -1)

    checked = 0
    for level in (0, 2, 1, 3):  # the order select() takes
        ids = level_ids(level)
        for group in range(starts[level], starts[level] + coarse.groups()[level][2]):
            expected = np.sort(valid["download_mbps"].to_numpy()[ids == group])
            keys = held._keys(group)
            assert np.array_equal(np.sort(ranks.unsortable(keys)), expected), (level, group)
            assert counts[group] == len(expected)
            if len(keys):  # as select() does: values move within the range
                keys.partition(rng.integers(0, len(keys), 3))
            checked += len(expected) > 0
    assert checked == 3 * 4 + 3 + 4 + 1
    # select() against a plain sort of each group's values.
    wanted = [(g, int(r)) for g in range(total) for r in rng.integers(0, counts[g], 2)]
    fresh = bounded._Held(coarse, "download_mbps")
    got = fresh.select(wanted)
    for (group, rank), value in zip(wanted, got, strict=True):
        ids = level_ids(max(i for i, start in enumerate(starts) if start <= group))
        assert value == np.sort(valid["download_mbps"].to_numpy()[ids == group])[rank]


#: Runs ``qostool analyze`` with the coarse step held until the process is signalled.
_HELD_ANALYSIS = """
import sys, time
from qostool.analyze import bounded
from qostool.cli import main

def held(self):
    print("spilled", flush=True)
    time.sleep(60)

bounded._Coarse.orders = held
sys.argv = ["qostool", *sys.argv[1:]]
main()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is POSIX's")
def test_a_terminated_analysis_deletes_its_spill(sample_store: Path, tmp_path: Path) -> None:
    """Cron and service managers stop a job with SIGTERM: the spill (gigabytes at a
    national month) must not stay in the temporary folder, nor the store's lock."""
    root = tmp_path / "store"
    shutil.copytree(sample_store, root)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    args = ["analyze", "--month", "2025-11", "--store", str(root), "--memory-limit", "256MB"]
    child = subprocess.Popen(
        [sys.executable, "-c", _HELD_ANALYSIS, *args],
        env={**os.environ, "TMPDIR": str(scratch)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "spilled"
    spills = list(scratch.glob("qostool-analyze-*"))
    assert len(spills) == 1 and any(spills[0].iterdir())
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "Interrupted" in err and "Traceback" not in err
    assert list(scratch.iterdir()) == []
    # The store is free: the next analysis runs.
    subprocess.run(
        [sys.executable, "-m", "qostool", *args[:5], "--json"], check=True, capture_output=True
    )


def test_the_spill_of_a_killed_analysis_is_deleted_by_the_next(
    sample_store: Path, tmp_path: Path
) -> None:
    """``kill -9`` or the out-of-memory killer leaves no chance to clean up: the next
    analysis in batches deletes the spill, and says so on stderr."""
    root = tmp_path / "store"
    shutil.copytree(sample_store, root)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    args = ["analyze", "--month", "2025-11", "--store", str(root), "--memory-limit", "256MB"]
    env = {**os.environ, "TMPDIR": str(scratch), "TEMP": str(scratch), "TMP": str(scratch)}
    child = subprocess.Popen(
        [sys.executable, "-c", _HELD_ANALYSIS, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "spilled"
    child.kill()
    child.communicate(timeout=60)
    [left] = scratch.glob("qostool-analyze-*")
    assert any(left.iterdir())
    then = time.time() - 120  # a spill is judged once unchanged for a minute
    os.utime(left, (then, then))
    done = subprocess.run(
        [sys.executable, "-m", "qostool", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"deleted {left} (" in done.stderr and "killed" in done.stderr
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "size"),
    [("500MB", 500 << 20), ("2GB", 2 << 30), ("1.5 GiB", 3 << 29), ("800m", 800 << 20),
     ("2gb", 2 << 30), ("1TB", 1 << 40), ("268435456", 256 << 20)],
)  # fmt: skip
def test_memory_limits_are_read_in_powers_of_1024(text: str, size: int) -> None:
    assert parse_size(text) == size
    assert (
        load_settings(
            options={"analyze.memory_limit": ("--memory-limit", text)}
        ).analyze.memory_limit
        == size
    )


@pytest.mark.parametrize("text", ["2 gigs", "", "GB", "-1GB", "1e9", "2GB RAM", "100MB", "0"])
def test_a_bad_memory_limit_is_a_usage_error_naming_the_value(
    text: str, cli: Callable[..., Any], tmp_path: Path
) -> None:
    result = cli("analyze", "--month", "2025-10", "--store", tmp_path, "--memory-limit", text)
    assert result.exit_code == ExitCode.USAGE, result.output
    message = one_line(result)
    assert f"--memory-limit {text!r}: expected a size such as 500MB or 2GB" in message
    assert "at least 256MB" in message and "Traceback" not in message


def test_the_memory_limit_setting_comes_from_the_file_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "qostool.toml"
    config.write_text('[analyze]\nmemory_limit = "3GB"\n', encoding="utf-8")
    assert load_settings(config).analyze.memory_limit == 3 << 30
    monkeypatch.setenv("QOSTOOL_ANALYZE_MEMORY_LIMIT", "512MB")
    assert load_settings(config).analyze.memory_limit == 512 << 20
    config.write_text("[analyze]\nmemory_limit = 1.5\n", encoding="utf-8")
    monkeypatch.delenv("QOSTOOL_ANALYZE_MEMORY_LIMIT")
    with pytest.raises(ConfigError, match=r"memory_limit = 1.5: expected a size"):
        load_settings(config)
    assert load_settings().analyze.memory_limit == bounded.DEFAULT_MEMORY_LIMIT


# -- exact selection ---------------------------------------------------------------------


def test_sortable_keys_sort_as_the_floats_do() -> None:
    """Over several slices of the computation: negatives, zeros of both signs,
    infinities, subnormals and the largest floats keep their order, and come back."""
    rng = np.random.default_rng(7)
    special = [-np.inf, np.inf, -0.0, 0.0, 5e-324, -5e-324, 1.7976931348623157e308, -1.0]
    values = np.concatenate([rng.normal(0, 1e3, 150_001), special * 1_000])
    values = values[rng.permutation(len(values))]
    keys = ranks.sortable(values)
    assert keys.dtype == np.uint64
    assert np.array_equal(values[np.argsort(keys, kind="stable")], np.sort(values))
    assert np.array_equal(ranks.unsortable(keys).view(np.uint64), values.view(np.uint64))
    zero = values == 0
    assert keys[zero & np.signbit(values)].max() < keys[zero & ~np.signbit(values)].min()


@pytest.mark.parametrize("cap", [1, 50, 10**9])
def test_selection_finds_the_value_at_each_rank_as_a_sort_does(cap: int) -> None:
    """Continuous values, long runs of ties, negatives and values in no group; a cap of 1
    makes every query go down to all 64 bits."""
    rng = np.random.default_rng(cap)
    n = 30_000
    group = rng.integers(-1, 6, n)
    values = np.concatenate([rng.lognormal(3, 1, n // 3), np.round(rng.normal(0, 50, n // 3))])
    values = np.concatenate([values, np.full(n - len(values), 30.0)])[rng.permutation(n)]
    assert (ranks.unsortable(ranks.sortable(values)) == values).all()

    def passes() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, n, 7_000):
            yield group[start : start + 7_000], values[start : start + 7_000]

    counted = [int((group == g).sum()) for g in range(6)]
    wanted = [(g, int(r)) for g in range(6) for r in {0, counted[g] // 2, counted[g] - 1, 17}]
    expected = [float(np.sort(values[group == g])[r]) for g, r in wanted]
    assert ranks.select(passes, 6, wanted, cap) == expected


def test_the_spill_numbers_each_value_once_whatever_the_batch() -> None:
    """Operators and technologies are spilled as numbers: each value keeps the number it
    got in the batch that first had it (null too), and the numbers are 0, 1, 2..."""
    known: dict[str | None, int] = {}
    batches = [["4G", "5G", "4G"], ["5G", None, "3G", "4G"], [], ["wifi", None, "3G", None]]
    first: dict[str | None, int] = {}
    for values in batches:
        codes = bounded._Spill._codes(pl.Series(values, dtype=pl.String), known)
        assert codes.dtype == pl.UInt16
        assert codes.to_list() == [known[value] for value in values]
        first = {**known, **first}  # a value's number when it was first met
    assert known == first
    assert set(known) == {"4G", "5G", "3G", "wifi", None}
    assert sorted(known.values()) == list(range(len(known)))
