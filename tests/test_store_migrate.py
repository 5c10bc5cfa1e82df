"""Stores of layout 1 (device pseudonyms as text) migrated when opened: same rows, same
analyses, safe to stop, said once.

A layout-1 store is made from a store of today's code by writing each part's
pseudonyms back as the text layout 1 stored: the 16 hex digits of the same keyed
BLAKE2b digest (``tests/test_privacy.py`` checks that the two forms are the same
64 bits), with ``store.json`` saying layout 1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from qostool import privacy
from qostool.analyze.run import AnalyzeOptions, analyze_month
from qostool.errors import StoreBusyError
from qostool.geo.boundaries import BoundaryOptions
from qostool.geo.versions import import_boundaries
from qostool.ingest import ingest_paths
from qostool.store import LAYOUT_VERSION, Store
from tests.conftest import REPO, TZ

SAMPLES = REPO / "data" / "samples"


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The samples ingested and their province imported by today's code (read-only)."""
    root = tmp_path_factory.mktemp("migrate") / "store"
    ingest_paths([str(SAMPLES)], store=root)
    import_boundaries(
        Store.open(root, timezone=TZ), SAMPLES / "province.geojson", BoundaryOptions()
    )
    return root


def copy_store(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def parts(root: Path) -> list[Path]:
    return sorted((root / "tests").rglob("*.parquet"))


def as_layout_1(root: Path, text: Callable[[pl.Series], pl.Series] = privacy.as_text) -> None:
    """Write the store back as layout 1 wrote it: pseudonyms as text (default: 16 hex digits)."""
    for path in parts(root):
        frame = pl.read_parquet(path)
        frame.with_columns(text(frame["device_id"]).alias("device_id")).write_parquet(path)
    meta = json.loads((root / "store.json").read_text(encoding="utf-8"))
    (root / "store.json").write_text(json.dumps({**meta, "layout": 1}), encoding="utf-8")


def layout(root: Path) -> int:
    return int(json.loads((root / "store.json").read_text(encoding="utf-8"))["layout"])


def device_types(root: Path) -> set[pl.DataType]:
    return {pl.read_parquet_schema(p)["device_id"] for p in parts(root)}


def test_a_layout_1_store_is_migrated_once_and_its_parts_are_as_today(
    sample_store: Path, tmp_path: Path
) -> None:
    old = copy_store(sample_store, tmp_path / "old")
    as_layout_1(old)
    assert device_types(old) == {pl.String()} and layout(old) == 1
    said: list[str] = []
    Store.open(old, timezone=TZ, notice=said.append)
    assert layout(old) == LAYOUT_VERSION == 2
    assert device_types(old) == {pl.Int64()}
    for before, after in zip(parts(sample_store), parts(old), strict=True):
        assert before.name == after.name
        assert pl.read_parquet(after).equals(pl.read_parquet(before))  # every row, every column
    assert len(said) == 1
    assert f"device pseudonyms of {len(parts(old))} test part(s)" in said[0]
    assert "64-bit integers" in said[0] and "interrupted" not in said[0]
    Store.open(old, timezone=TZ, notice=said.append)
    assert len(said) == 1  # said once: the next open has nothing to migrate


def test_analyses_are_identical_after_the_migration(sample_store: Path, tmp_path: Path) -> None:
    """Every table of every month's analysis, with and without bursts removed."""
    today = Store.open(copy_store(sample_store, tmp_path / "today"), timezone=TZ)
    old = copy_store(sample_store, tmp_path / "old")
    as_layout_1(old)
    migrated = Store.open(old, timezone=TZ, notice=lambda _: None)
    assert today.months() == migrated.months()
    for month in today.months():
        for bursts in (False, True):
            options = AnalyzeOptions(month=month, dedupe_bursts=bursts)
            expected, got = analyze_month(today, options), analyze_month(migrated, options)
            assert got.stats.equals(expected.stats), (month, bursts)
            assert got.communes.equals(expected.communes), (month, bursts)
            assert got.meta["counts"] == expected.meta["counts"]
            assert got.meta["history_months"] == expected.meta["history_months"]


def test_other_texts_are_hashed_and_every_device_count_is_kept(
    sample_store: Path, tmp_path: Path
) -> None:
    """Pseudonyms of the first versions (32 hex digits) and any other text: distinct
    texts stay distinct devices, the same text in two parts the same device."""
    old = copy_store(sample_store, tmp_path / "old")
    frame = Store.open(old, timezone=TZ).scan_tests().collect()
    assert frame["device_id"].n_unique() > 50
    # One text per device: some short labels, the rest 32 hex digits.

    def text(ids: pl.Series) -> pl.Series:
        hexed = privacy.as_text(ids)
        label = ids.hash(seed=1) % 5 == 0
        return pl.select(
            pl.when(label).then(pl.lit("dev-") + hexed).otherwise(hexed + hexed)
        ).to_series()

    as_layout_1(old, text)
    texts = text(frame["device_id"])
    assert (texts.str.len_bytes() == 32).any() and texts.str.starts_with("dev-").any()
    groups = ["month", "operator", "technology"]

    def counts(rows: pl.DataFrame) -> pl.DataFrame:
        return rows.group_by(groups).agg(pl.col("device_id").n_unique()).sort(groups)

    expected = counts(frame.with_columns(device_id=texts))  # counted on the texts themselves
    migrated = Store.open(old, timezone=TZ, notice=lambda _: None).scan_tests().collect()
    assert migrated["device_id"].dtype == pl.Int64
    assert counts(migrated).equals(expected)
    key = (old / "secret.key").read_bytes()
    first = texts.drop_nulls()[0]
    row = frame.with_columns(text=texts).filter(pl.col("text") == first).row(0, named=True)
    stored = migrated.filter(pl.col("test_id") == row["test_id"])["device_id"][0]
    assert stored == privacy.pseudonym_numbers([first], key)[0]


def test_a_migration_stopped_halfway_is_finished_by_the_next_open(
    sample_store: Path, tmp_path: Path
) -> None:
    """Killed (as by a power cut) after its first part: every part stays whole, the
    description still says layout 1, and the next open converts the rest."""
    old = copy_store(sample_store, tmp_path / "old")
    as_layout_1(old)
    code = f"from qostool.store import Store; Store.open({str(old)!r}, timezone={TZ!r})"
    env = {**os.environ, "QOSTOOL_CRASH_AT": "migrate-part-replaced"}
    killed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=False)
    assert killed.returncode == -9, killed.stderr
    assert layout(old) == 1
    kinds = [pl.read_parquet_schema(p)["device_id"] for p in parts(old)]
    assert kinds.count(pl.Int64()) == 1 and kinds.count(pl.String()) == len(kinds) - 1
    said: list[str] = []
    Store.open(old, timezone=TZ, notice=said.append)
    assert layout(old) == 2 and device_types(old) == {pl.Int64()}
    assert "1 part(s) were converted by an interrupted run" in said[0]
    for before, after in zip(parts(sample_store), parts(old), strict=True):
        assert pl.read_parquet(after).equals(pl.read_parquet(before))
    assert not (old / "staging").exists() or not any((old / "staging").iterdir())


def test_a_store_being_written_is_not_migrated_under_the_writer(
    sample_store: Path, tmp_path: Path
) -> None:
    old = copy_store(sample_store, tmp_path / "old")
    as_layout_1(old)
    before = {p: p.read_bytes() for p in parts(old)}
    writer = Store(old, timezone=TZ)
    with writer.write_lock(), pytest.raises(StoreBusyError):
        Store.open(old, timezone=TZ)
    assert {p: p.read_bytes() for p in parts(old)} == before and layout(old) == 1


def test_the_command_line_says_what_was_migrated(sample_store: Path, tmp_path: Path) -> None:
    old = copy_store(sample_store, tmp_path / "old")
    as_layout_1(old)
    result = subprocess.run(
        [sys.executable, "-m", "qostool", "status", "--store", str(old), "--json"],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("QOSTOOL_")},
    )
    assert result.returncode == 0, result.stderr
    assert "store migrated to layout 2" in result.stderr
    json.loads(result.stdout)  # stdout stays the JSON alone
    again = subprocess.run(
        [sys.executable, "-m", "qostool", "status", "--store", str(old), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "migrated" not in again.stderr
