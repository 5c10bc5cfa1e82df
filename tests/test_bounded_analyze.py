"""The month in batches, in bounded memory: the same figures, bit for bit, as in one piece.

The reference figures (``tests/data/*_before_batches.parquet``) were computed by the
statistics before the month could be read in batches; see ``tests/bounded_inputs.py``.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from qostool.analyze import bounded
from qostool.analyze.rules import Rule
from qostool.analyze.run import Analysis, AnalyzeOptions, analyze_month
from qostool.analyze.stats import month_statistics
from qostool.geo.boundaries import BoundaryOptions
from qostool.geo.versions import import_boundaries
from qostool.ingest import ingest_paths
from qostool.store import Store
from tests.bounded_inputs import RULES, STATS_BEFORE, USAGE_BEFORE, seeded_tests
from tests.conftest import REPO, TZ

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
    assert_frame_equal(usage.sort("commune_code"), used, check_exact=True)


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
    monkeypatch.setattr(bounded, "IN_MEMORY_ROW_BYTES", 1 << 40)
    monkeypatch.setattr(bounded, "MIN_BATCH_ROWS", 1)
    return bounded.FIXED_BYTES + rows * (1 << 20)


@pytest.mark.parametrize("case", [("mean", 7, 0), ("median", 60, 12), ("share", 1000, 12)])
def test_batches_give_the_figures_of_one_piece(
    sample_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: tuple[str, int, int]
) -> None:
    """Rule, rows per batch (7: a batch splits communes, parts hold a commune or two, and
    every selection goes down to single values), months of history."""
    name, rows, history = case
    rule = RULES[name]
    whole = analysed(sample_store, tmp_path / "whole", rule, limit=None, history=history)
    limit = tiny_batches(monkeypatch, rows)
    plan = bounded.memory_plan(whole.meta["counts"]["rows"], limit)
    assert not plan.in_memory and plan.batch_rows == rows
    parts = analysed(sample_store, tmp_path / "parts", rule, limit=limit, history=history)
    assert_frame_equal(parts.stats, whole.stats, check_exact=True)
    assert_frame_equal(parts.communes, whole.communes, check_exact=True)
    assert parts.meta["counts"] == whole.meta["counts"]
    assert parts.meta["warnings"] == whole.meta["warnings"]
