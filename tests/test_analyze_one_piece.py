"""The month in one piece without copies: rows outside the boundaries stay in the frame
(``commune_code`` null) and every table leaves them out, as if they had been dropped.

Each shortcut is checked against the plain way of computing the same thing: the
statistics of the month with its outside rows against those of the month without
them, the sorted single tests against a filter and a stable sort, and the sources
against a group-by on their names.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from qostool.analyze import bounded, run, stats
from qostool.analyze.rules import Rule
from tests.bounded_inputs import RULES, seeded_tests


@pytest.fixture(scope="module")
def located() -> pl.DataFrame:
    """Seeded tests, a tenth of them outside (no commune), with sources (one unnamed)."""
    data = stats.encode_keys(seeded_tests(rows=20_000, seed=7))
    rng = np.random.default_rng(11)
    outside = pl.Series(rng.random(data.height) < 0.1)
    source = rng.choice(["ispeed", "ookla", "other"], data.height).astype(object)
    source[rng.random(data.height) < 0.05] = None
    return data.with_columns(
        commune_code=pl.when(outside).then(None).otherwise(pl.col("commune_code")),
        source=pl.Series(source, dtype=pl.String).cast(pl.Categorical),
    )


@pytest.mark.parametrize("name", list(RULES))
def test_statistics_leave_out_the_rows_without_a_commune(located: pl.DataFrame, name: str) -> None:
    rule = RULES[name]
    kept = located.filter(pl.col("commune_code").is_not_null())
    assert kept.height < located.height
    with_outside = stats.month_statistics(located.drop("source").lazy(), rule, usage=True)
    without = stats.month_statistics(kept.drop("source").lazy(), rule, usage=True)
    assert_frame_equal(with_outside[0], without[0], check_exact=True)
    assert with_outside[1] is not None and without[1] is not None
    # The use table's rows come in no set order.
    assert_frame_equal(
        with_outside[1].sort("commune_code"), without[1].sort("commune_code"), check_exact=True
    )


def test_nested_is_a_filter_and_a_stable_sort(located: pl.DataFrame) -> None:
    rule = Rule()
    frame = stats._encoded(located.lazy())
    nested = stats._nested(frame, rule)
    # The plain way: the single tests with a commune, sorted stably by commune code,
    # technology and operator codes (unknown operator last).
    plain = (
        stats._with_flags(frame, rule)
        .filter(pl.col("single") & pl.col("commune_code").is_not_null())
        .with_columns(__op=pl.col("operator").to_physical().fill_null(99))
        .sort(
            pl.col("commune_code").to_physical(),
            pl.col("technology").to_physical(),
            "__op",
            maintain_order=True,
        )
    )
    columns = [c for c in plain.columns if c in nested.columns]
    assert set(columns) >= {*stats._KEYS, *stats._GATHERED, "cellular", "ge_target", "__all"}
    assert_frame_equal(nested.select(columns), plain.select(columns), check_exact=True)
    for name in ("__g_cto", "__g_ct", "__g_c"):
        assert nested[name].is_sorted()
    # Every (commune, technology, operator) is one id, and ids nest.
    groups = nested.group_by("__g_cto").agg(pl.col(*stats._KEYS).n_unique(), pl.len())
    assert groups.select(pl.col(*stats._KEYS).max()).row(0) == (1, 1, 1)


@pytest.mark.parametrize("bound", [1, 2, 1 << 16, (1 << 16) + 1, 1 << 20, (1 << 32) + 5])
def test_stable_order_is_a_stable_sort_in_one_to_three_passes(bound: int) -> None:
    """One 16-bit pass up to 65,536 ids, two up to 2**32, three beyond; ties keep order."""
    rng = np.random.default_rng(bound)
    dtype = np.uint32 if bound <= 1 << 32 else np.uint64
    keys = rng.integers(0, bound, 50_000, dtype=np.uint64).astype(dtype)
    keys[:100] = bound - 1  # the top id (the rows left out), with many ties
    expected = np.argsort(keys, kind="stable")
    assert np.array_equal(stats.stable_order(keys, bound), expected)


# The sample takes every third of these 200,000 rows: 0 and 12,345 are in it, 199,999 not.
@pytest.mark.parametrize("rare_at", [None, 0, 12_345, 199_999])
def test_keys_are_enums_of_every_value_even_one_the_sample_misses(rare_at: int | None) -> None:
    """Key columns become enums of their sorted distinct values: those of a sample of the
    rows when it holds them all, else those of every row (a value met once)."""
    rng = np.random.default_rng(3)
    rows = 200_000
    operator = rng.choice(["Viettel", "MobiFone", "VNPT-VinaPhone"], rows).astype(object)
    if rare_at is not None:
        operator[rare_at] = "Gmobile"
    technology = rng.choice(["4G", "5G", "3G"], rows).astype(object)
    technology[rng.random(rows) < 0.01] = None  # nulls stay nulls (not a value lost)
    frame = pl.DataFrame(
        {
            "operator": pl.Series(operator, dtype=pl.String),
            "technology": pl.Series(technology, dtype=pl.String),
        }
    )
    encoded = stats.encode_keys(frame, ("operator", "technology"))
    for name in ("operator", "technology"):
        values = sorted(frame[name].drop_nulls().unique().to_list())
        assert encoded.schema[name] == pl.Enum(values)
        assert encoded[name].cast(pl.String).equals(frame[name])


def _plain_sources(frame: pl.DataFrame) -> list[dict[str, object]]:
    """The sources counted on their names, over the rows with a commune."""
    counted = (
        frame.filter(pl.col("commune_code").is_not_null())
        .group_by(bounded.source_keys())
        .agg(
            rows=pl.len(),
            tests=pl.col("weight").sum().cast(pl.Int64),
            devices=pl.col("device_id").drop_nulls().n_unique().cast(pl.Int64),
        )
    )
    return bounded.source_items(counted)


def test_sources_are_counted_as_on_their_names(located: pl.DataFrame) -> None:
    got = run.source_counts(located)
    assert got == _plain_sources(located)
    assert {s["source"] for s in got} == {"ispeed", "ookla", "other", "unknown"}
    assert {s["network"] for s in got} == {"fixed", "mobile"}
    assert {s["aggregate"] for s in got} == {True, False}
    inside = located.filter(pl.col("commune_code").is_not_null())
    assert sum(s["rows"] for s in got) == inside.height
    assert list(got[0]) == ["source", "aggregate", "network", "rows", "tests", "devices"]


def test_an_unnamed_source_and_one_named_unknown_are_one(located: pl.DataFrame) -> None:
    renamed = located.with_columns(
        source=pl.col("source").cast(pl.String).replace("other", "unknown").cast(pl.Categorical)
    )
    got = run.source_counts(renamed)
    assert got == _plain_sources(renamed)
    unknown = [s for s in got if s["source"] == "unknown"]
    assert len(unknown) == len({(s["aggregate"], s["network"]) for s in unknown})
