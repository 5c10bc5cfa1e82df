"""The month in batches, in bounded memory: the same figures, bit for bit, as in one piece.

The reference figures (``tests/data/*_before_batches.parquet``) were computed by the
statistics before the month could be read in batches; see ``tests/bounded_inputs.py``.
"""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from qostool.analyze.stats import month_statistics
from tests.bounded_inputs import RULES, STATS_BEFORE, USAGE_BEFORE, seeded_tests


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
