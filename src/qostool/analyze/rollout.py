"""5G roll-out per operator: where each operator's 5G has been seen, month by month.

A commune "has 5G" for an operator in a month when the month's statistics hold
at least one 5G test of that operator in it (level ``commune_operator``,
technology ``5G``, ``tests > 0``). That is presence: someone's phone was on
that operator's 5G there once, not coverage of the commune (see
docs/methodology.md, *5G roll-out*).

Everything here is a pure function of a list of ``(month, stats)`` pairs and
the commune table, so it can be checked with small synthetic tables; reading
the store is :func:`stored_months`, apart. "Ever" and "for the first time"
mean within the months given: the report passes every stored official
analysis before the report month, so "first time" is since the first stored
analysis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import polars as pl

from qostool.schema import Operator

if TYPE_CHECKING:
    from qostool.store import Store

G5: Final = "5G"
ALL: Final = "all"
#: Operator values that name no one operator: all together, none known, several others.
NOT_NAMED: Final = (ALL, Operator.UNKNOWN.value, Operator.OTHER.value)
#: A commune's 5G presence for an operator in the month looked at.
NEW: Final = "new"
"""5G this month, and in no month before."""
AGAIN: Final = "again"
"""5G this month, and in an earlier month too."""
EARLIER: Final = "earlier"
"""No 5G this month, but in an earlier month."""
NEVER: Final = "never"
"""No 5G test of the operator there in any month given."""
STATUSES: Final = (NEW, AGAIN, EARLIER, NEVER)
#: The columns :func:`rollout` needs of a month's statistics table.
COLUMNS: Final = ("level", "commune_code", "operator", "technology", "tests")
OPTIONAL: Final = ("download_median_mbps",)

Months = Sequence[tuple[str, pl.DataFrame]]


def _stack(months: Months) -> pl.LazyFrame:
    """The months' statistics as one long frame with a ``month`` column (needed columns only)."""
    if not months:
        raise ValueError("the roll-out needs at least one month")
    frames = []
    for month, stats in months:
        extra = [
            pl.col(c) if c in stats.columns else pl.lit(None, pl.Float64).alias(c) for c in OPTIONAL
        ]
        frames.append(
            stats.lazy().select(
                pl.lit(month).alias("month"),
                pl.col("level").cast(pl.String),
                pl.col("commune_code").cast(pl.String),
                pl.col("operator").cast(pl.String),
                pl.col("technology").cast(pl.String),
                pl.col("tests").cast(pl.Int64),
                *(e.cast(pl.Float64) for e in extra),
            )
        )
    return pl.concat(frames)


def presence(months: Months) -> pl.LazyFrame:
    """One row per month x operator x commune with at least one 5G test of the operator."""
    return (
        _stack(months)
        .filter(
            pl.col("level") == "commune_operator",
            pl.col("technology") == G5,
            pl.col("tests") > 0,
            pl.col("operator").is_not_null(),
            ~pl.col("operator").is_in(NOT_NAMED),
        )
        .group_by("month", "operator", "commune_code")
        .agg(tests_5g=pl.col("tests").sum())
    )


def operators(months: Months) -> list[str]:
    """Every named operator with a cellular test in any of the months, by name."""
    found = (
        _stack(months)
        .filter(
            pl.col("level") == "operator",
            pl.col("technology") == ALL,
            pl.col("tests") > 0,
            pl.col("operator").is_not_null(),
            ~pl.col("operator").is_in(NOT_NAMED),
        )
        .select("operator")
        .unique()
        .collect()
    )
    return sorted(found["operator"].to_list())


def rollout(months: Months, communes: pl.DataFrame) -> pl.DataFrame:
    """Per month x operator: the communes with 5G this month, for the first time, and so far.

    ``months`` are ``(YYYY-MM, stats)`` pairs (any order); ``communes`` is the
    commune table of the month looked at (``commune_code``, ``population``):
    communes are matched across months by code, and a commune no longer in it
    is not counted. The population shares are null when any commune's
    population is unknown: the province's total is then unknown.

    Columns: ``month``, ``operator``, ``communes_total``, ``communes_5g``,
    ``communes_new``, ``communes_again`` (5G this month, seen before too),
    ``communes_ever`` (5G in this month or any month before), ``share_communes_5g``,
    ``share_communes_ever``, ``population_5g``, ``population_ever`` (null when
    one of those communes has no population), ``share_population_5g``,
    ``share_population_ever``, ``tests``, ``tests_5g``, ``share_tests_5g``
    (the operator's 5G tests out of its cellular tests), ``median_5g_mbps``
    (the operator's province-wide 5G median download).
    """
    base = communes.select(
        pl.col("commune_code").cast(pl.String), pl.col("population").cast(pl.Int64)
    )
    total = base.height
    population_known = base["population"].null_count() == 0
    population_total = int(base["population"].sum()) if population_known else None
    seen = presence(months).join(base.lazy(), on="commune_code", how="inner")
    first = seen.group_by("operator", "commune_code").agg(first_month=pl.col("month").min())
    names = operators(months)
    grid = pl.LazyFrame({"month": sorted({m for m, _ in months})}).join(
        pl.LazyFrame({"operator": names}, schema={"operator": pl.String}), how="cross"
    )
    now = (
        seen.join(first, on=["operator", "commune_code"])
        .join(base.lazy(), on="commune_code")
        .group_by("month", "operator")
        .agg(
            communes_5g=pl.len(),
            communes_new=(pl.col("first_month") == pl.col("month")).sum(),
            population_5g=_population_sum(),
        )
    )
    ever = (
        grid.join(first, on="operator")
        .filter(pl.col("first_month") <= pl.col("month"))
        .join(base.lazy(), on="commune_code")
        .group_by("month", "operator")
        .agg(communes_ever=pl.len(), population_ever=_population_sum())
    )
    stack = _stack(months).filter(pl.col("level") == "operator")
    tests = stack.filter(pl.col("technology") == ALL).select("month", "operator", "tests")
    g5 = stack.filter(pl.col("technology") == G5).select(
        "month", "operator", tests_5g="tests", median_5g_mbps="download_median_mbps"
    )

    def part(column: str, denominator: int | None) -> pl.Expr:
        if not denominator:
            return pl.lit(None, pl.Float64)
        return pl.col(column).cast(pl.Float64) / denominator

    out = (
        grid.join(now, on=["month", "operator"], how="left")
        .join(ever, on=["month", "operator"], how="left")
        .join(tests, on=["month", "operator"], how="left")
        .join(g5, on=["month", "operator"], how="left")
        .with_columns(
            # No 5G commune: a population of nobody, known even where others' are not.
            population_5g=pl.when(pl.col("communes_5g").is_null())
            .then(0)
            .otherwise(pl.col("population_5g")),
            population_ever=pl.when(pl.col("communes_ever").is_null())
            .then(0)
            .otherwise(pl.col("population_ever")),
        )
        .with_columns(
            pl.col("communes_5g", "communes_new", "communes_ever", "tests", "tests_5g")
            .fill_null(0)
            .cast(pl.Int64),
        )
        .with_columns(
            communes_total=pl.lit(total, pl.Int64),
            communes_again=pl.col("communes_5g") - pl.col("communes_new"),
            share_communes_5g=part("communes_5g", total),
            share_communes_ever=part("communes_ever", total),
            share_population_5g=part("population_5g", population_total),
            share_population_ever=part("population_ever", population_total),
            share_tests_5g=pl.when(pl.col("tests") > 0).then(
                pl.col("tests_5g").cast(pl.Float64) / pl.col("tests")
            ),
        )
        .select(
            "month",
            "operator",
            "communes_total",
            "communes_5g",
            "communes_new",
            "communes_again",
            "communes_ever",
            "share_communes_5g",
            "share_communes_ever",
            "population_5g",
            "population_ever",
            "share_population_5g",
            "share_population_ever",
            "tests",
            "tests_5g",
            "share_tests_5g",
            "median_5g_mbps",
        )
        .sort("operator", "month")
    )
    return out.collect()


def _population_sum() -> pl.Expr:
    """The population of a group of communes: null when any of them has none."""
    return pl.when(pl.col("population").null_count() == 0).then(pl.col("population").sum())


def commune_status(months: Months, communes: pl.DataFrame, month: str) -> pl.DataFrame:
    """Per operator x commune of ``communes``: its 5G presence in ``month`` (for the maps).

    Columns: ``operator``, ``commune_code``, ``status`` (``new``, ``again``,
    ``earlier``, ``never``; see :data:`STATUSES`), ``first_month`` (null:
    never), ``tests_5g`` (the month's 5G tests of the operator there). Only
    months up to ``month`` count.
    """
    upto = [(m, s) for m, s in months if m <= month]
    codes = communes.select(pl.col("commune_code").cast(pl.String))
    names = operators(upto) if upto else []
    grid = pl.LazyFrame({"operator": names}, schema={"operator": pl.String}).join(
        codes.lazy(), how="cross"
    )
    if not upto:
        return grid.with_columns(
            status=pl.lit(NEVER), first_month=pl.lit(None, pl.String), tests_5g=pl.lit(0, pl.Int64)
        ).collect()
    seen = presence(upto)
    first = seen.group_by("operator", "commune_code").agg(first_month=pl.col("month").min())
    this = seen.filter(pl.col("month") == month).select("operator", "commune_code", "tests_5g")
    return (
        grid.join(first, on=["operator", "commune_code"], how="left")
        .join(this, on=["operator", "commune_code"], how="left")
        .with_columns(
            status=pl.when(pl.col("first_month") == month)
            .then(pl.lit(NEW))
            .when(pl.col("tests_5g").is_not_null())
            .then(pl.lit(AGAIN))
            .when(pl.col("first_month").is_not_null())
            .then(pl.lit(EARLIER))
            .otherwise(pl.lit(NEVER)),
            tests_5g=pl.col("tests_5g").fill_null(0).cast(pl.Int64),
        )
        .select("operator", "commune_code", "status", "first_month", "tests_5g")
        .sort("operator", "commune_code")
        .collect()
    )


def stored_months(store: Store, month: str) -> list[tuple[str, pl.DataFrame]]:
    """The statistics of every month before ``month`` with a stored official analysis.

    Each month's newest official analysis (``store.artifacts``, newest first) is
    the month's; variants never count. Only the columns the roll-out needs are read.
    """
    from qostool.analyze.run import KIND, STATS_FILE

    found = []
    for key in sorted({a.key for a in store.artifacts(KIND)}):
        if key >= month:
            continue
        path = store.artifacts(KIND, key)[0].path / STATS_FILE
        schema = pl.read_parquet_schema(path)
        columns = [c for c in (*COLUMNS, *OPTIONAL) if c in schema]
        frame = (
            pl.scan_parquet(path)
            .select(columns)
            .filter(pl.col("level").is_in(["commune_operator", "operator"]))
        )
        found.append((key, frame.collect()))
    return found
