"""The months of an analysis's trend: each stored month read once, the same rows and
results as reading every month on its own with its quarter's first month.

A store of 16 months (August 2024 to November 2025), with single tests in every
month but February 2025 and Ookla tiles for every quarter but the first of 2025,
so that the trend of November 2025 crosses quarters and stops at a month without
data.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import polars as pl
import pytest

from qostool.analyze import run
from qostool.analyze.run import AnalyzeOptions, MonthReader, _load_month, analyze_month
from qostool.errors import StoreError
from qostool.geo.boundaries import BoundaryOptions
from qostool.geo.versions import import_boundaries
from qostool.ingest import ingest_paths
from qostool.months import months_read, quarter_start, shift_month
from qostool.store import Store
from tests.conftest import REPO, TZ

SAMPLES = REPO / "data" / "samples"
PROVINCE = SAMPLES / "province.geojson"
MONTH = "2025-11"
GAP = "2025-02"
FIRST = "2024-08"
TILE_QUARTERS = ("2024-07", "2024-10", "2025-04", "2025-07", "2025-10")


def _months() -> list[str]:
    months, month = [], FIRST
    while month <= MONTH:
        months.append(month)
        month = shift_month(month, 1)
    return months


@pytest.fixture(scope="module")
def history_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("history")
    rng = np.random.default_rng(18)
    spots = gpd.read_file(PROVINCE).sort_values("id").geometry.representative_point()[:6]
    for month in _months():
        if month == GAP:
            continue
        lines = ["test_id,time,latitude,longitude,download_mbps,network_type,device_id"]
        for i in range(120):
            spot = spots.iloc[i % len(spots)]
            day, hour = 1 + i % 27, i % 24
            speed = rng.lognormal(3.5, 0.5)
            lines.append(
                f"{month}-{i},{month}-{day:02d}T{hour:02d}:00:00+07:00,{spot.y},{spot.x},"
                f"{speed:.2f},{'LTE' if i % 4 else 'NR'},dev-{int(rng.integers(40))}"
            )
        (folder / f"ispeed_{month}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    tiles = pl.read_parquet(SAMPLES / "2025-10-01_performance_mobile_tiles.parquet")
    for k, quarter in enumerate(TILE_QUARTERS):  # each quarter's tiles a little different
        name = f"{quarter}-01_performance_mobile_tiles.parquet"
        tiles.with_columns(pl.col("avg_d_kbps") + 100 * k).write_parquet(folder / name)
    root = folder / "store"
    ingest_paths([str(folder)], store=root)
    import_boundaries(Store.open(root, timezone=TZ), PROVINCE, BoundaryOptions())
    return root


def _fingerprint(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(buffer, float_precision=None)
    return buffer.getvalue()


def test_the_store_has_what_the_trend_must_cross(history_store: Path) -> None:
    store = Store.open(history_store, timezone=TZ)
    assert set(store.months()) == {*_months(), "2024-07"} - {GAP}  # July 2024: tiles only
    tiles = store.scan_tests().filter(pl.col("aggregate")).collect()
    assert sorted(tiles["month"].unique()) == list(TILE_QUARTERS)


def test_a_month_s_rows_are_those_of_reading_it_with_its_quarter_s_first_month(
    history_store: Path,
) -> None:
    store = Store.open(history_store, timezone=TZ)
    for month in _months():
        expected = _load_month(store, month)
        got = MonthReader(store).rows(month)
        assert got.equals(expected), month  # the same rows, in the same order
    # One reader for every month, newest first (as the trend reads them).
    reader = MonthReader(store, early=lambda *_: None)
    for month in reversed(_months()):
        assert reader.rows(month).equals(_load_month(store, month)), month


def test_a_month_read_ahead_is_read_once_and_raises_its_error_when_its_rows_are_asked(
    history_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(history_store, timezone=TZ)
    first = quarter_start(MONTH)
    expected = {month: _load_month(store, month) for month in (MONTH, first)}
    reads: list[str] = []
    fail = [False]
    read = run._rows

    def counted(store: Store, folders: list[str], month: str) -> pl.DataFrame:
        reads.append(month)
        if fail[0]:
            fail[0] = False
            raise StoreError("a part is damaged")
        return read(store, folders, month)

    monkeypatch.setattr(run, "_rows", counted)
    reader = MonthReader(store)
    reader.read_ahead(MONTH)
    assert reader.rows(MONTH).equals(expected[MONTH])
    assert reads == [MONTH, first]  # the month once (ahead), then its quarter's tiles
    # The read ahead fails on its thread: the rows raise that error (a second read,
    # which would succeed, is not made).
    reads.clear()
    fail[0] = True
    reader = MonthReader(store)
    reader.read_ahead(first)
    with pytest.raises(StoreError, match="damaged"):
        reader.rows(first)
    assert reads == [first]
    assert reader.rows(first).equals(expected[first])  # asked again: read again


def test_each_stored_month_is_read_once(
    history_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(history_store, timezone=TZ)
    reads: list[tuple[str, ...]] = []
    scan = Store.scan_tests

    def counting(self: Store, months: Sequence[str] | None = None) -> pl.LazyFrame:
        reads.append(tuple(months or ()))
        return scan(self, months)

    monkeypatch.setattr(Store, "scan_tests", counting)
    analysis = analyze_month(store, AnalyzeOptions(month=MONTH))
    # The trend stops at February 2025, which has no tests and no tiles of its quarter.
    assert analysis.meta["history_months"] == 8
    assert all(len(months) == 1 for months in reads), reads  # one month's folder a scan
    counted = Counter(months[0] for months in reads)
    assert max(counted.values()) == 1, counted
    # Every month back to February, and January for February's tiles; nothing more.
    assert set(counted) == months_read(MONTH, 9) - {"2024-10"}


def test_the_results_are_those_of_reading_every_month_on_its_own(
    history_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As before the months were read once: each month read with its quarter's first
    month, every time it is needed."""
    store = Store.open(history_store, timezone=TZ)
    for month in (MONTH, "2025-10", "2025-03", "2024-12"):
        for bursts in (False, True):
            options = AnalyzeOptions(month=month, dedupe_bursts=bursts)
            once = analyze_month(store, options)
            with monkeypatch.context() as patch:
                patch.setattr(run.MonthReader, "rows", lambda self, m: _load_month(self.store, m))
                each = analyze_month(store, options)
            assert _fingerprint(once.stats) == _fingerprint(each.stats), (month, bursts)
            assert once.communes.equals(each.communes), (month, bursts)
            assert once.meta["history_months"] == each.meta["history_months"]
    assert once.stats["months_below_target"].drop_nulls().len() > 0
