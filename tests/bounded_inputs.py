"""Seeded inputs of the statistics, shared by the tests of the bounded analysis.

``tests/data/stats_before_batches.parquet`` and ``usage_before_batches.parquet`` hold
what the statistics gave for :func:`seeded_tests` before the month was read in batches
(``month_statistics`` of that time, with the rules of :data:`RULES`): the figures every
later way of computing them must give, bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from qostool.analyze.rules import Rule, Statistic

DATA = Path(__file__).parent / "data"
STATS_BEFORE = DATA / "stats_before_batches.parquet"
USAGE_BEFORE = DATA / "usage_before_batches.parquet"

RULES = {
    "mean": Rule(),
    "median": Rule(statistic=Statistic.MEDIAN, min_tests=20),
    "share": Rule(statistic=Statistic.SHARE, min_tests=10),
}


def seeded_tests(rows: int = 40_000, seed: int = 20251205, communes: int = 60) -> pl.DataFrame:
    """Tests and tiles over ``communes`` communes (skewed), every operator and technology.

    Hex pseudonyms shared across communes; a few rows without operator, upload or
    device; speeds rounded (ties) or not; some communes with a handful of tests.
    """
    rng = np.random.default_rng(seed)
    weights = rng.lognormal(0, 1.2, communes)
    commune = rng.choice(communes, rows, p=weights / weights.sum())
    tile = rng.random(rows) < 0.04
    weight = np.where(tile, rng.integers(2, 60, rows), 1)
    pool = [f"{d:016x}" for d in rng.integers(0, 2**63, max(rows // 4, 1))]
    device = rng.integers(0, len(pool), rows)
    download = rng.lognormal(3.6, 0.8, rows)
    download = np.where(rng.random(rows) < 0.5, np.round(download, 1), download)
    operator = rng.choice(
        ["Viettel", "MobiFone", "VNPT-VinaPhone", "Vietnamobile", "unknown"],
        rows,
        p=[0.4, 0.25, 0.25, 0.05, 0.05],
    )
    return pl.DataFrame(
        {
            "commune_code": [f"{20001 + c}" for c in commune],
            "operator": [
                None if r < 0.002 else o for o, r in zip(operator, rng.random(rows), strict=True)
            ],
            "technology": rng.choice(
                ["4G", "5G", "3G", "2G", "wifi", "unknown"],
                rows,
                p=[0.55, 0.2, 0.1, 0.02, 0.1, 0.03],
            ),
            "download_mbps": download,
            "upload_mbps": np.where(rng.random(rows) < 0.05, np.nan, rng.lognormal(2.5, 0.6, rows)),
            "latency_ms": np.round(rng.lognormal(3.5, 0.4, rows)),
            "device_id": [
                None if t or r < 0.01 else pool[d]
                for t, d, r in zip(tile, device, rng.random(rows), strict=True)
            ],
            "weight": weight,
            "aggregate": tile,
            "devices": np.where(tile, np.maximum(weight // 3, 1), 0),
            "peak": rng.random(rows) < 0.25,
        }
    ).with_columns(
        pl.col("upload_mbps").fill_nan(None),
        devices=pl.when(pl.col("aggregate")).then(pl.col("devices")),
    )
