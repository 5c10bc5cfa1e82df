"""A month of any size in bounded memory: batches, a spill to disk, exact second passes.

A month that fits in the memory limit is read whole and analysed in one piece, the
fastest way. A larger one (a national month of 100 million tests) goes in three steps,
each holding at most a batch of rows, and gives the same figures bit for bit:

1. **Batches.** The month's stored parts are read in batches of rows, in the order the
   whole month would be read. Each batch is assigned to communes; its single tests,
   sorted by commune (stably, so a commune's tests keep their order), go to a spill
   file of the few columns the statistics need; its tiles (a quarter's aggregates, few)
   stay in memory; each (source, operator, technology, device) once goes to a second
   spill split by device, from which the operators' and the sources' devices are
   counted. The counts of where rows went add up.
2. **Communes, a part at a time.** The communes are cut into parts of at most a batch's
   rows (known now from step 1); a part's tests are read back from every batch's spill
   (Parquet row-group statistics skip the rest) and go through the in-memory statistics
   of the commune levels unchanged, so every sum adds the same numbers in the same
   order. The finest groups' sums of all parts give the operator and province sums by
   the roll-up the in-memory path uses.
3. **Operators and the province.** Their medians and percentiles need values from
   every part. They are found by exact radix selection over the spill
   (:mod:`qostool.analyze.ranks`): a few passes, each counting values by digits, then
   collecting the few values around each wanted rank. Their distinct devices are
   counted within each device split (a device is in one split only) and added.

Why selection, not a sort spilled to disk, nor Polars' streaming group-by: a median
needs two ranks, not an order. A province-wide sort of 100 million values would write
and read them all several times; the streaming group-by keeps every value of a group
in memory to take its median, and the province is one group of them all. Selection
reads the spill a few times and holds counts.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from qostool.analyze import ranks
from qostool.analyze.rules import Rule, Statistic
from qostool.analyze.stats import (
    CELLULAR,
    COARSE_LEVELS,
    COMMUNE_LEVELS,
    INPUT_COLUMNS,
    Partials,
    _encoded,
    _level_keys,
    _nested,
    _with_flags,
    assemble,
    coarse_groups,
    device_marks,
    devices_with_pairs,
    pair_mask,
    pair_words,
    single_partials,
)
from qostool.analyze.tdist import normal_quantile
from qostool.months import quarter_of, quarter_start
from qostool.schema import Technology
from qostool.scratch import scratch_folder
from qostool.store import Store

#: The default ``--memory-limit``: a 100-million-test month stays under 4 GB.
DEFAULT_MEMORY_LIMIT: Final = 4 << 30
#: What the process holds besides the month's rows (imports, boundaries, the grid).
FIXED_BYTES: Final = 700 << 20
#: Peak bytes per row of the month analysed in one piece (3.3 GB for 10 million rows).
IN_MEMORY_ROW_BYTES: Final = 330
#: Peak bytes per row of a batch, of a part of communes, or of a selection pass (measured:
#: a peak of 1,050 MB with batches of 1.1 million rows, 4,490 MB with 6.8 million).
BATCH_ROW_BYTES: Final = 700
#: Peak bytes per test of a part of communes (its tests read back, encoded and sorted at
#: once; measured: 4,650 MB with parts of 7.9 million tests).
PART_ROW_BYTES: Final = 700
#: The fewest rows of a batch, and tests of a part of communes. Every part reads every
#: batch's spill file: a 10 M month in batches of 1,000 rows would be 10,000 files, each
#: read by each of 10,000 parts (hours). A limit that leaves room for fewer is exceeded
#: (:attr:`MemoryPlan.keeps_limit`): 10 M in batches of 250,000 take about 30 s.
MIN_BATCH_ROWS: Final = 250_000
#: Columns of the month's rows read for an analysis.
MONTH_COLUMNS: Final = (
    *(c for c in INPUT_COLUMNS if c not in ("commune_code", "peak")),
    "lat",
    "lon",
    "measured_at",
)
#: Columns of the month's rows kept in the spill (with ``commune_code``). The single
#: tests' files hold ``operator`` and ``technology`` as their codes (``__op``,
#: ``__tech``), and the commune's position (``__commune``).
_SPILL_COLUMNS: Final = (
    "operator",
    "technology",
    "download_mbps",
    "upload_mbps",
    "latency_ms",
    "device_id",
    "weight",
    "devices",
    "aggregate",
    "peak",
)
_SPILL_ROW_GROUP: Final = 65_536
_DEVICE_PAIR_BYTES: Final = 400  # per distinct (operator, technology, device) in memory
_MAX_DEVICE_SPLITS: Final = 64
_SELECTION_ROWS: Final = 1 << 20  # rows of the spill per step of a selection pass
#: The spill folders in TMPDIR (:mod:`qostool.scratch`).
SCRATCH_PREFIX: Final = "qostool-analyze-"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class MemoryPlan:
    """How a month of ``rows`` rows is analysed within ``limit`` bytes."""

    rows: int
    limit: int
    in_memory: bool
    batch_rows: int
    """Rows per batch (batches only)."""
    part_rows: int
    """Tests per part of communes (batches only)."""

    def held(self, singles: int) -> tuple[bool, int]:
        """Whether a column of ``singles`` spilled tests is held in memory for the
        operators' and the province's order statistics (:class:`_Held`), and the tests
        per part of communes then.

        A held column needs its share of the limit: it is held where it takes at most
        half the room, and the parts get the rest (Polars' allocator keeps what the
        last part used while the column is read).
        """
        room = max(self.limit - FIXED_BYTES, 0)
        held = singles * HELD_ROW_BYTES
        if held > room // 2:
            return False, self.part_rows
        return True, max((room - held) // PART_ROW_BYTES, MIN_BATCH_ROWS)

    @property
    def keeps_limit(self) -> bool:
        """Whether the limit leaves room for batches of :data:`MIN_BATCH_ROWS` rows."""
        return self.in_memory or self.limit >= needed_for_batches()

    def describe(self) -> str:
        if self.in_memory:
            return f"{self.rows:,} rows in one piece"
        return f"{self.rows:,} rows in batches of {self.batch_rows:,}"

    def short_of_limit(self, month: str) -> str:
        """What a run whose limit is too small for batches is told (on stderr)."""
        mb = 1 << 20
        return (
            f"{month}: the memory limit ({self.limit / mb:,.0f} MB) is less than an "
            f"analysis in batches needs (about {needed_for_batches() / mb:,.0f} MB: "
            f"{FIXED_BYTES / mb:,.0f} MB of its own, and batches of at least "
            f"{MIN_BATCH_ROWS:,} rows): it goes on in batches of {self.batch_rows:,} rows, "
            "and may use that much"
        )


def needed_for_batches() -> int:
    """The smallest limit an analysis in batches keeps (batches of :data:`MIN_BATCH_ROWS`)."""
    return FIXED_BYTES + MIN_BATCH_ROWS * max(BATCH_ROW_BYTES, PART_ROW_BYTES)


def memory_plan(rows: int, limit: int | None) -> MemoryPlan:
    """In one piece if the month fits in ``limit`` (default :data:`DEFAULT_MEMORY_LIMIT`),
    else in batches as large as the limit allows."""
    limit = DEFAULT_MEMORY_LIMIT if limit is None else limit
    room = max(limit - FIXED_BYTES, 0)
    batch = max(room // BATCH_ROW_BYTES, MIN_BATCH_ROWS)
    part = max(room // PART_ROW_BYTES, MIN_BATCH_ROWS)
    return MemoryPlan(rows, limit, rows * IN_MEMORY_ROW_BYTES <= room, int(batch), int(part))


def month_filter(month: str) -> pl.Expr:
    """The month's single tests, and the tiles of its quarter (stored in its first month)."""
    aggregate = pl.col("aggregate").fill_null(False)
    return (~aggregate & (pl.col("month") == month)) | (
        aggregate & (pl.col("period") == quarter_of(month))
    )


def month_paths(store: Store, month: str) -> list[Path]:
    """The stored parts that hold the month's rows, in the order they are read."""
    return store.part_paths("tests", sorted({month, quarter_start(month)}))


def stored_rows(paths: list[Path]) -> int:
    """Rows of the parts (from their metadata): at least the month's."""
    return int(pl.scan_parquet(paths).select(pl.len()).collect().item()) if paths else 0


def count_rows(paths: list[Path], month: str) -> int:
    """The month's rows in ``paths`` (Parquet statistics and two columns: no values kept)."""
    if not paths:
        return 0
    counted = (
        pl.scan_parquet(paths)
        .select("aggregate", "month", "period")
        .filter(month_filter(month))
        .select(pl.len())
        .collect(engine="streaming")
    )
    return int(counted.item())


def read_batches(paths: list[Path], month: str, batch_rows: int) -> Iterator[pl.DataFrame]:
    """The month's rows (:data:`MONTH_COLUMNS` and ``source``) in batches of about
    ``batch_rows``, in the order of one read of all ``paths``: part by part, each part's
    rows in order."""
    pending: list[pl.DataFrame] = []
    held = 0
    for path in paths:
        stored = pl.scan_parquet(path).select(pl.len()).collect().item()
        start = 0
        while start < stored:
            # Stored rows: a batch never holds more than asked, whatever the parts' sizes.
            take = min(batch_rows - held, stored - start)
            piece = (
                pl.scan_parquet(path)
                .slice(start, take)
                .filter(month_filter(month))
                .select(*MONTH_COLUMNS, pl.col("source").cast(pl.Categorical))
                .with_columns(pl.col("aggregate").fill_null(False))
                .collect()
            )
            start += take
            pending.append(piece)
            held += take
            if held >= batch_rows:
                yield pl.concat(pending, rechunk=False)
                pending, held = [], 0
    if pending:
        yield pl.concat(pending, rechunk=False)


@dataclass
class BatchedMonth:
    """What the batches gave: the statistics and use tables, and where rows went."""

    stats: pl.DataFrame
    usage: pl.DataFrame | None
    counts: dict[str, int]
    sources: list[dict[str, Any]]
    """The tests of each source (as ``run.source_counts``; the use table's months only)."""


Locate = Callable[[pl.DataFrame, Any, list[str]], tuple[pl.DataFrame, dict[str, int]]]
Peak = Callable[[pl.DataFrame], pl.DataFrame]


def batched_month(
    paths: list[Path],
    month: str,
    *,
    locate: Locate,
    index: Any,
    codes: list[str],
    rule: Rule,
    with_peak: Peak,
    plan: MemoryPlan,
    usage: bool,
    progress: Progress | None = None,
) -> BatchedMonth:
    """The month's statistics (before zero rows and data periods) in bounded memory.

    ``locate`` adds ``commune_code`` (an enum of ``codes``; null outside), as the
    in-memory path does; ``with_peak`` adds the ``peak`` flag from ``measured_at``. The
    sources' rows and tests are added up (``usage``) from each batch's rows inside; their
    devices are counted from the spill's, which keep each device's source. A batch's rows
    inside are copied once, into the single tests and the tiles of the spill.
    """
    say = progress or (lambda _: None)
    if not plan.keeps_limit:  # said even without progress (--json, cron): it is a choice made
        print(plan.short_of_limit(month), file=sys.stderr)
    # A spill left by a run that was killed (kill -9, out of memory) goes first.
    with scratch_folder(
        SCRATCH_PREFIX, notice=lambda text: print(text, file=sys.stderr)
    ) as scratch:
        spill = _Spill(scratch, codes, devices=_device_splits(plan))
        sources = _Sources() if usage else None
        for number, frame in enumerate(read_batches(paths, month, plan.batch_rows), start=1):
            say(f"{month}: batch {number}, {spill.rows + frame.height:,} rows assigned")
            located, counted = locate(frame, index, codes)
            del frame
            if sources is not None:
                sources.add(located)
            kept = with_peak(located).select(*_SPILL_COLUMNS, "commune_code", "source")
            del located
            inside, tile = pl.col("commune_code").is_not_null(), pl.col("aggregate")
            spill.add(kept.filter(inside & ~tile), kept.filter(inside & tile), counted)
            del kept
        spill.close()
        tiles = _with_flags(_encoded(spill.tiles().lazy()), rule)
        hold, part_rows = plan.held(spill.rows)
        parts = spill.commune_parts(part_rows)
        partials = []
        for number, (low, high) in enumerate(parts, start=1):
            say(f"{month}: statistics of communes, part {number} of {len(parts)}")
            singles = _nested(_encoded(spill.read_communes(low, high)), rule).lazy()
            partials.append(single_partials(singles, rule, COMMUNE_LEVELS, usage=usage))
        stacked = Partials.stack(partials) if partials else _empty_partials(tiles, rule, usage)
        say(f"{month}: statistics of operators and the province")
        coarse = _Coarse(spill, rule, plan.batch_rows, hold=hold)
        stacked.orders.update(coarse.orders())
        stats, use = assemble(stacked, tiles, rule)
        return BatchedMonth(
            stats,
            use,
            spill.counts,
            [] if sources is None else sources.items(spill),
        )


def _device_splits(plan: MemoryPlan) -> int:
    """Splits of the (operator, technology, device) spill, each small enough to count
    in about a batch's memory (at most :data:`_MAX_DEVICE_SPLITS`)."""
    room = plan.batch_rows * BATCH_ROW_BYTES
    return min(max(1, math.ceil(plan.rows * _DEVICE_PAIR_BYTES / room)), _MAX_DEVICE_SPLITS)


def _empty_partials(tiles: pl.DataFrame, rule: Rule, usage: bool) -> Partials:
    """The partials of no single test (a month of tiles only), with the right columns."""
    none = _nested(tiles.clear(), rule).lazy()
    return single_partials(none, rule, COMMUNE_LEVELS, usage=usage)


def source_keys() -> list[pl.Expr]:
    """What the tests of each source are counted by: source, kind of row and network."""
    fixed = pl.col("technology").cast(pl.String) == Technology.WIFI.value
    return [source_name(), pl.col("aggregate"), network(fixed)]


def source_name() -> pl.Expr:
    """A row's source as its tests are counted by: ``unknown`` for none."""
    return pl.col("source").cast(pl.String).fill_null("unknown")


def network(fixed: pl.Expr) -> pl.Expr:
    """``fixed`` where ``fixed`` (Wi-Fi), else ``mobile`` (every cellular technology)."""
    return pl.when(fixed).then(pl.lit("fixed")).otherwise(pl.lit("mobile")).alias("network")


def fixed_network(schema: pl.Schema) -> pl.Expr:
    """Whether a row's technology is Wi-Fi: read from the codes of an enum without
    turning each row into text."""
    dtype = schema["technology"]
    if not isinstance(dtype, pl.Enum):
        return (pl.col("technology").cast(pl.String) == Technology.WIFI.value).fill_null(False)
    return pl.col("technology").to_physical().is_in(wifi_codes(dtype.categories)).fill_null(False)


def wifi_codes(names: Iterable[str | None]) -> list[int]:
    """The positions of Wi-Fi among technology names (an enum's, or the spill's codes)."""
    return [i for i, name in enumerate(names) if name == Technology.WIFI.value]


def source_items(counted: pl.DataFrame) -> list[dict[str, Any]]:
    """Each source's counts (``rows``, ``tests``, ``devices``) as stored in the analysis:
    sorted, and without devices for tiles (a tile's devices are another app's)."""
    return [
        {**row, "devices": None if row["aggregate"] else row["devices"]}
        for row in counted.sort("source", "aggregate", "network").to_dicts()
    ]


class _Sources:
    """The tests of each source, a batch at a time: rows and tests add up; distinct
    devices are counted exactly from the spill's devices (:attr:`_Spill.device_files`),
    split by device as the operators' are (a device is in one split only)."""

    def __init__(self) -> None:
        self.sums: list[pl.DataFrame] = []

    def add(self, located: pl.DataFrame) -> None:
        """A batch's rows; those outside the communes (``commune_code`` null) are left out."""
        inside = located.lazy().filter(pl.col("commune_code").is_not_null())
        sums = inside.group_by(*source_keys()).agg(
            rows=pl.len(), tests=pl.col("weight").sum().cast(pl.Int64)
        )
        self.sums.append(sums.collect())

    def items(self, spill: _Spill) -> list[dict[str, Any]]:
        """The counts of the whole month (as ``run.source_counts``)."""
        keys = ["source", "aggregate", "network"]
        if not self.sums:
            return []
        summed = pl.concat(self.sums).group_by(keys).agg(pl.col("rows", "tests").sum())
        fixed = pl.col("__tech").is_in(wifi_codes(spill.technologies))  # in the codes' order
        devices = [
            pl.scan_parquet(files)
            .select("source", network(fixed), "device_id")
            .unique()
            .group_by("source", "network")
            .agg(devices=pl.len())
            for files in spill.device_files
            if files
        ]
        counted = (
            pl.concat(pl.collect_all(devices))
            .group_by("source", "network")
            .agg(pl.col("devices").sum())
            if devices
            else pl.DataFrame(
                schema={"source": pl.String, "network": pl.String, "devices": pl.UInt32}
            )
        )
        out = summed.join(counted, on=["source", "network"], how="left").with_columns(
            pl.col("devices").fill_null(0).cast(pl.Int64)
        )
        return source_items(out.select(*keys, "rows", "tests", "devices"))


class _Spill:
    """The assigned single tests on disk, batch by batch; the tiles in memory."""

    def __init__(self, folder: Path, codes: list[str], *, devices: int) -> None:
        self.folder = folder
        self.codes = codes
        self.files: list[Path] = []
        self.device_splits = devices
        self.device_files: list[list[Path]] = [[] for _ in range(devices)]
        self.tile_frames: list[pl.DataFrame] = []
        self.per_commune = np.zeros(len(codes), dtype=np.int64)
        self.counts: dict[str, int] = {}
        self.operators: dict[str | None, int] = {}
        self.technologies: dict[str | None, int] = {}
        self.pairs: dict[tuple[int, int], dict[str, int]] = {}
        """Per (operator, technology) code: its single tests (``__rows``) and those with
        a value of each column of the order statistics (:data:`_QUANTILES`)."""
        self.rows = 0

    def add(self, singles: pl.DataFrame, tiles: pl.DataFrame, counted: dict[str, int]) -> None:
        """A batch's single tests and tiles inside the communes, and where its rows went.

        The single tests' ``source`` goes to the device files only (with the device, its
        operator and technology codes), which count the operators' devices and the
        sources'.
        """
        for name, value in counted.items():
            self.counts[name] = self.counts.get(name, 0) + value
        self.rows += counted["rows"]
        if tiles.height:
            self.tile_frames.append(tiles)
        # As encode_keys: stores from before tiles had the "unknown" operator hold nulls.
        singles = singles.with_columns(pl.col("operator").cast(pl.String).fill_null("unknown"))
        if singles.is_empty():
            return
        position = singles["commune_code"].to_physical()
        self.per_commune += np.bincount(position.to_numpy(), minlength=len(self.codes))
        singles = singles.with_columns(
            __op=self._codes(singles["operator"], self.operators),
            __tech=self._codes(singles["technology"], self.technologies),
            __commune=position,
        )
        pairs = singles.filter(pl.col("device_id").is_not_null()).select(
            source_name(), "__op", "__tech", "device_id"
        )
        # The texts are written as their codes only (0.17 s a batch of 5 M less to write).
        singles = singles.drop("source", "operator", "technology").sort(
            "__commune", maintain_order=True
        )
        path = self.folder / f"batch-{len(self.files):05d}.parquet"
        singles.write_parquet(path, compression="lz4", row_group_size=_SPILL_ROW_GROUP)
        per_pair = singles.group_by("__op", "__tech").agg(
            pl.len().alias("__rows"), *(pl.col(c).count() for c in _QUANTILES)
        )
        for row in per_pair.iter_rows(named=True):
            known = self.pairs.setdefault((row["__op"], row["__tech"]), {})
            for name in ("__rows", *_QUANTILES):
                known[name] = known.get(name, 0) + row[name]
        self.files.append(path)
        split = (pl.col("device_id").hash(seed=18) % self.device_splits).alias("__split")
        for (number, *_), part in (
            pairs.with_columns(split).partition_by("__split", as_dict=True).items()
        ):
            target = self.folder / f"devices-{number:04d}-{len(self.files):05d}.parquet"
            part.drop("__split").unique().write_parquet(target, compression="lz4")
            self.device_files[int(number)].append(target)

    @staticmethod
    def _codes(values: pl.Series, known: dict[str | None, int]) -> pl.Series:
        """A number per distinct value, the same in every batch (``known``: each value
        met so far and its number; a value met for the first time gets the next)."""
        text = values.cast(pl.String)
        # Looking the values up in the known ones hashes each once; only values not
        # met before are made distinct (a join on the distinct values hashed each twice).
        coded = _known_codes(text, known)
        new = coded.is_null() & text.is_not_null()
        if None not in known:
            new = new | text.is_null()
        if new.any():
            for value in text.filter(new).unique().to_list():
                known.setdefault(value, len(known))
            coded = _known_codes(text, known)
        return coded.fill_null(known[None]) if None in known else coded

    def close(self) -> None:
        """Nothing more is added."""

    def tiles(self) -> pl.DataFrame:
        columns = [*_SPILL_COLUMNS, "commune_code"]
        if not self.tile_frames:
            return pl.DataFrame(
                schema={
                    **dict.fromkeys(("download_mbps", "upload_mbps", "latency_ms"), pl.Float64),
                    "operator": pl.String,
                    "technology": pl.String,
                    "device_id": pl.String,
                    "weight": pl.Int64,
                    "devices": pl.Int64,
                    "aggregate": pl.Boolean,
                    "peak": pl.Boolean,
                    "commune_code": pl.Enum(self.codes),
                }
            ).select(columns)
        return pl.concat([f.select(columns) for f in self.tile_frames])

    def commune_parts(self, rows: int) -> list[tuple[int, int]]:
        """Ranges of commune positions ``[low, high)`` of at most ``rows`` tests each (a
        commune with more is a part alone), covering every commune with tests."""
        parts: list[tuple[int, int]] = []
        low, held = 0, 0
        for position, count in enumerate(self.per_commune.tolist()):
            if count and held and held + count > rows:
                parts.append((low, position))
                low, held = position, 0
            held += count
        if held:
            parts.append((low, len(self.per_commune)))
        return parts

    def read_communes(self, low: int, high: int) -> pl.LazyFrame:
        """The single tests of communes ``low`` to ``high - 1``, in the month's order."""

        def names(known: dict[str | None, int]) -> pl.Expr:  # known: in the order of the codes
            return pl.lit(pl.Series(list(known), dtype=pl.String))

        frame = (
            pl.scan_parquet(self.files)
            .filter(pl.col("__commune").is_between(low, high - 1))
            .with_columns(
                operator=names(self.operators).gather(pl.col("__op")),
                technology=names(self.technologies).gather(pl.col("__tech")),
            )
            .select(*_SPILL_COLUMNS, "commune_code")
            .collect()
        )
        return frame.lazy()

    def scan(self, columns: list[str]) -> Iterator[pl.DataFrame]:
        """The single tests' ``columns``, a batch's spill at a time; the next one is read
        on a thread while this one is used (Polars reads without the GIL)."""
        if not self.files:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qostool-spill") as pool:
            ahead = pool.submit(pl.read_parquet, self.files[0], columns=columns)
            for path in self.files[1:]:
                frame = ahead.result()
                ahead = pool.submit(pl.read_parquet, path, columns=columns)
                yield frame
                del frame
            yield ahead.result()


def _known_codes(text: pl.Series, known: dict[str | None, int]) -> pl.Series:
    """The number of each text in ``known`` (null for null, and for a text not in it)."""
    names = [name for name in known if name is not None]
    position = text.cast(pl.Enum(names), strict=False).to_physical()
    return pl.Series([known[name] for name in names], dtype=pl.UInt16).gather(position)


#: The quantiles of :func:`stats._order_statistics`, by column.
_QUANTILES: Final = {
    "download_mbps": {"median": 0.5, "p10": 0.1, "p90": 0.9},
    "upload_mbps": {"median": 0.5},
    "latency_ms": {"median": 0.5},
}


class _Held:
    """One column of every single test in memory, for exact selection by partition.

    Radix selection (:mod:`ranks`) reads the spill three to six times a column and
    holds little; when one column of the month fits in the memory limit
    (:data:`HELD_ROW_BYTES` a test), it is read once, as the sortable keys of
    :func:`ranks.sortable`, and each group's ranks are picked by a partition of its
    keys: the same values, bit for bit, as radix selection orders them (tested).

    The keys are laid out by (operator, technology) segment: the cellular
    technologies' segments first, operator by operator, then the others'. An
    operator's cellular tests, and the province's, are then one range each. A range
    is partitioned in place (values move only within it), level by level in an order
    in which no level needs a range that an earlier one mixed: the (operator,
    technology) segments; each technology over the operators (its segments lie apart:
    gathered into a copy); each operator's cellular range; the province's. So the
    memory is the keys (8 bytes a test) and the copy of the largest technology.
    """

    def __init__(self, coarse: _Coarse, column: str) -> None:
        self.coarse = coarse
        n_op, n_tech = coarse.n_op, coarse.n_tech
        cellular = coarse.cellular_tech
        pair = np.arange(n_op * n_tech)
        # Segment order: cellular first, then by operator, then by technology.
        order = pair[np.lexsort((pair % n_tech, pair // n_tech, ~cellular[pair % n_tech]))]
        sizes = coarse.pair_counts(column)
        ends = np.cumsum(sizes[order])
        self.start = np.empty_like(sizes)
        self.start[order] = ends - sizes[order]
        self.end = self.start + sizes
        self.keys = np.empty(int(ends[-1]) if len(ends) else 0, dtype=np.uint64)
        cursor = self.start.copy()
        small = np.uint8 if n_op * n_tech <= 1 << 8 else np.uint16  # holds every pair code
        for batch in coarse.spill.scan(["__op", "__tech", column]):
            values = batch.filter(pl.col(column).is_not_null())
            # Pair codes are few: as 8 or 16 bits, numpy's stable sort is a radix sort.
            pairs = values["__op"].to_numpy().astype(small)
            np.multiply(pairs, n_tech, out=pairs)
            np.add(pairs, values["__tech"].to_numpy().astype(small), out=pairs)
            by_pair = np.argsort(pairs, kind="stable")
            keys = ranks.sortable(values[column].to_numpy())[by_pair]
            counts = np.bincount(pairs, minlength=n_op * n_tech)
            taken = 0
            for p in np.flatnonzero(counts):
                self.keys[cursor[p] : cursor[p] + counts[p]] = keys[taken : taken + counts[p]]
                cursor[p] += counts[p]
                taken += counts[p]
        if not np.array_equal(cursor, self.end):  # pragma: no cover - the spill changed
            raise RuntimeError(f"the spill's {column} values differ from those counted")

    def _keys(self, group: int) -> np.ndarray:
        """The keys of one group, partitioned in place where they are one range."""
        coarse_group = self.coarse.all_groups[group]
        pairs = list(coarse_group.pairs)
        if not pairs:
            return self.keys[:0]
        if coarse_group.level == ("province", False):  # a technology: apart, so a copy
            return np.concatenate([self.keys[self.start[p] : self.end[p]] for p in pairs])
        # An (operator, technology) segment; an operator's cellular technologies, or the
        # province's: adjacent segments.
        return self.keys[self.start[pairs].min() : self.end[pairs].max()]

    def select(self, wanted: list[tuple[int, int]]) -> list[float]:
        """The value at each ``(group, rank)``, as :func:`ranks.select` gives it."""
        by_group: dict[int, list[int]] = {}
        for group, rank in wanted:
            by_group.setdefault(group, []).append(rank)
        chosen: dict[tuple[int, int], float] = {}

        def pick(group: int) -> dict[tuple[int, int], float]:
            picked = sorted(set(by_group[group]))
            keys = self._keys(group)
            keys.partition(picked)
            found = ranks.unsortable(keys[picked]).tolist()
            return {(group, r): v for r, v in zip(picked, found, strict=True)}

        # A level's groups are apart (ranges that do not overlap, or copies), and NumPy
        # partitions without the GIL: they go on every core at once. Copies of every
        # technology at once take at most as much as the keys (HELD_ROW_BYTES).
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            levels = self.coarse.groups()
            for level in (0, 2, 1, 3):  # no level partitions a range a later one needs whole
                _, start, size = levels[level]
                groups = sorted(g for g in by_group if start <= g < start + size)
                for found in pool.map(pick, groups):
                    chosen |= found
        return [float(chosen[key]) for key in wanted]


#: Bytes of the limit a row of the month needs for :class:`_Held`: its key, and the
#: copies of the technologies' keys (at most as many, even all at once). A column is
#: held where this takes at most half the room the limit leaves (:meth:`MemoryPlan.held`):
#: under the default 4GB, a month of up to about 110 M rows.
HELD_ROW_BYTES: Final = 16


def _interval_ranks(lengths: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """The ranks of :func:`stats._median_interval`, computed as it computes them."""
    z = normal_quantile(0.5 + confidence / 2)
    n = lengths.astype(np.float64)
    half = z * np.sqrt(n) / 2
    low = np.maximum(np.floor(n / 2 - half) - 1, 0)
    high = np.minimum(np.ceil(n / 2 + half), n - 1)
    return low.astype(np.int64), high.astype(np.int64)


class _Coarse:
    """Distinct devices, medians and percentiles of the operator and province levels."""

    def __init__(self, spill: _Spill, rule: Rule, batch_rows: int, *, hold: bool) -> None:
        self.spill = spill
        self.rule = rule
        self.cap = max(batch_rows // 4, 1)
        self.hold = hold
        """Whether a column of every single test is held in memory (:class:`_Held`)."""
        self.n_op = max(len(spill.operators), 1)
        self.n_tech = max(len(spill.technologies), 1)
        cellular = set(CELLULAR)
        self.cellular_tech = np.array([t in cellular for t in spill.technologies], dtype=bool)
        self.all_groups = coarse_groups(
            self.n_op, self.n_tech, np.flatnonzero(self.cellular_tech).tolist()
        )
        """Every coarse group; a group's id is its position (:func:`stats.coarse_groups`)."""
        # Per coarse level, the group id of each (operator, technology) pair, -1 for none.
        self._ids = np.full((len(COARSE_LEVELS), self.n_op * self.n_tech), -1, dtype=np.int64)
        for gid, group in enumerate(self.all_groups):
            self._ids[COARSE_LEVELS.index(group.level), list(group.pairs)] = gid

    def groups(self) -> list[tuple[tuple[str, bool], int, int]]:
        """Each coarse level, the first group id of its groups, and how many it has."""
        out, start = [], 0
        for level in COARSE_LEVELS:
            size = sum(group.level == level for group in self.all_groups)
            out.append((level, start, size))
            start += size
        return out

    def ids(self, op: np.ndarray, tech: np.ndarray) -> np.ndarray:
        """Per row, its group id at each coarse level (-1 where it has none: the
        all-technology levels count cellular tests only): 4 x rows."""
        pair = op.astype(np.int64) * self.n_tech + tech.astype(np.int64)
        return self._ids[:, pair].ravel()

    def orders(self) -> dict[tuple[str, bool], pl.DataFrame]:
        """Each coarse level's order statistics, as :func:`stats._order_statistics` gives."""
        levels = self.groups()
        total = levels[-1][1] + levels[-1][2]
        lengths = self.roll_up(self.pair_counts("__rows"))  # single tests, nulls included
        found: dict[str, dict[str, np.ndarray]] = {}
        for column, quantiles in _QUANTILES.items():
            passes = self._passes(column)
            held = _Held(self, column) if self.hold else None
            n = self.roll_up(self.pair_counts(column))  # values per group, as the spill holds
            has = np.flatnonzero(n)
            wanted: set[tuple[int, int]] = set()
            spots = {}
            for name, q in quantiles.items():
                # Polars' linear quantile: between ranks floor(q (n - 1)) and the next.
                pos = q * (n - 1).astype(np.float64)
                low = np.floor(pos).astype(np.int64)
                high = np.minimum(low + 1, n - 1)
                spots[name] = (pos, low, high)
                wanted |= {(int(g), int(low[g])) for g in has}
                wanted |= {(int(g), int(high[g])) for g in has}
            bounds: dict[str, np.ndarray] = {}
            if column == "download_mbps" and self.rule.statistic is Statistic.MEDIAN:
                # The interval's ranks count the nulls, which sort first.
                nulls = lengths - n
                for name, bound in zip(
                    ("low", "high"), _interval_ranks(lengths, self.rule.confidence), strict=True
                ):
                    bounds[name] = bound - nulls
                    wanted |= {(int(g), int(bounds[name][g])) for g in has if bounds[name][g] >= 0}
            keys = sorted(wanted)
            values = (
                ranks.select(passes, total, keys, self.cap) if held is None else held.select(keys)
            )
            del held
            chosen = dict(zip(keys, values, strict=True))
            found[column] = {}
            for name, (pos, low, high) in spots.items():
                out = np.full(total, np.nan)
                for g in has:
                    lo, hi = chosen[(int(g), int(low[g]))], chosen[(int(g), int(high[g]))]
                    out[g] = lo + (hi - lo) * (pos[g] - low[g])
                found[column][name] = out
            for name, at in bounds.items():
                out = np.full(total, np.nan)
                for g in has:
                    if at[g] >= 0:
                        out[g] = chosen[(int(g), int(at[g]))]
                found[column][name] = out
        devices = self._devices(total)
        return {
            level: self._frame(
                level, start=start, size=size, lengths=lengths, found=found, devices=devices
            )
            for level, start, size in levels
        }

    def pair_counts(self, name: str) -> np.ndarray:
        """Per (operator, technology) pair, ``operator * n_tech + technology``: its count
        ``name`` of :attr:`_Spill.pairs`."""
        counts = np.zeros(self.n_op * self.n_tech, dtype=np.int64)
        for (op, tech), counted in self.spill.pairs.items():
            counts[op * self.n_tech + tech] = counted[name]
        return counts

    def roll_up(self, pair_counts: np.ndarray) -> np.ndarray:
        """Per coarse group (by :meth:`groups`' order): the counts of its pairs, added."""
        sums = [int(pair_counts[list(group.pairs)].sum()) for group in self.all_groups]
        return np.array(sums, dtype=np.int64)

    def _passes(self, column: str) -> ranks.Passes:
        def passes() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for batch in self.spill.scan(["__op", "__tech", column]):
                # A selection step holds about ten arrays of four ids a row: by slices.
                for frame in batch.iter_slices(_SELECTION_ROWS):
                    valid = frame[column].is_not_null().to_numpy()
                    ids = self.ids(frame["__op"].to_numpy(), frame["__tech"].to_numpy())
                    values = frame[column].fill_null(0.0).to_numpy()
                    ids = np.where(np.tile(valid, 4), ids, -1)
                    yield ids, np.tile(values, 4)

        return passes

    def _devices(self, total: int) -> np.ndarray:
        """Distinct devices per coarse group: from each device's (operator, technology)
        pairs, as bits (:func:`stats.device_marks`), split by split of the devices
        (each device is in one split, so the splits' counts add up)."""
        pairs = self.n_op * self.n_tech
        words = pair_words(pairs)
        masks = np.array([pair_mask(g.pairs, words) for g in self.all_groups], dtype=np.uint64)
        code = pl.col("__op").cast(pl.Int64) * self.n_tech + pl.col("__tech").cast(pl.Int64)
        out = np.zeros(total, dtype=np.int64)
        for split in self.spill.device_files:
            if split:
                marks = device_marks(pl.scan_parquet(split), code, pairs)
                out += devices_with_pairs(marks.collect(engine="streaming"), masks)
        return out

    def _frame(
        self,
        level: tuple[str, bool],
        *,
        start: int,
        size: int,
        lengths: np.ndarray,
        found: dict[str, dict[str, np.ndarray]],
        devices: np.ndarray,
    ) -> pl.DataFrame:
        name, all_tech = level
        operators = list(self.spill.operators)
        technologies = list(self.spill.technologies)
        rows = [
            (self.all_groups[gid].keys(operators, technologies), gid)
            for gid in range(start, start + size)
            if lengths[gid]
        ]
        data: dict[str, list[Any]] = {
            k: [r[0][k] for r in rows] for k in _level_keys(name, all_technologies=all_tech)
        }
        pick = [gid for _, gid in rows]

        def column(values: np.ndarray) -> list[float | None]:
            return [None if math.isnan(v) else float(v) for v in values[pick]]

        data |= {
            "__devices": devices[pick].tolist(),
            "download_median_mbps": column(found["download_mbps"]["median"]),
            "download_p10_mbps": column(found["download_mbps"]["p10"]),
            "download_p90_mbps": column(found["download_mbps"]["p90"]),
            "upload_median_mbps": column(found["upload_mbps"]["median"]),
            "latency_median_ms": column(found["latency_ms"]["median"]),
        }
        schema: dict[str, Any] = dict.fromkeys(("operator", "technology"), pl.String)
        schema |= {"__all": pl.Int8, "__devices": pl.UInt32}
        if self.rule.statistic is Statistic.MEDIAN:
            data["__median_low"] = column(found["download_mbps"]["low"])
            data["__median_high"] = column(found["download_mbps"]["high"])
        return pl.DataFrame(data, schema_overrides={k: v for k, v in schema.items() if k in data})
