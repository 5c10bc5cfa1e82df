"""5G roll-out per operator: the figures against plain Python, and the reports.

The expected figures are computed here from sets of commune codes, without
Polars, month by month: what had 5G this month, what had it in an earlier
month, and the union so far.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from qostool.analyze.rollout import commune_status, rollout

COMMUNES = ["1", "2", "3", "4", "5"]
POPULATION = {"1": 1000, "2": 2000, "3": 3000, "4": 4000, "5": 10000}
#: The communes with a 5G test of each operator in each month.
FIVE_G = {
    "2025-09": {"A": {"1", "2"}, "B": set()},
    "2025-10": {"A": {"2", "3"}, "B": {"5"}},
    "2025-11": {"A": {"1", "4"}, "B": {"5"}},
}
MEDIANS = {"A": 120.5, "B": 80.0}


def stats_table(month: str, five_g: dict[str, set[str]]) -> pl.DataFrame:
    """A month's statistics: per operator, 5G tests in its 5G communes (as many as the
    commune's number), 4G tests in every commune, and the operator-level rows."""
    rows: list[dict[str, Any]] = []
    for operator, codes in five_g.items():
        tests_5g = 0
        for code in COMMUNES:
            rows.append(_row("commune_operator", code, operator, "4G", 10))
            if code in codes:
                rows.append(_row("commune_operator", code, operator, "5G", int(code)))
                tests_5g += int(code)
            else:  # a row with no test does not count as presence
                rows.append(_row("commune_operator", code, operator, "5G", 0))
        # A 5G test with no operator (never counted) and a row of all operators.
        rows.append(_row("commune", "5", "all", "5G", 99))
        cellular = 10 * len(COMMUNES) + tests_5g
        rows.append(_row("operator", None, operator, "all", cellular))
        median = MEDIANS[operator] if tests_5g else None
        rows.append(_row("operator", None, operator, "5G", tests_5g, median=median))
    rows.append(_row("commune_operator", "4", None, "5G", 7))
    return pl.DataFrame(rows, schema=SCHEMA)


SCHEMA = {
    "level": pl.String,
    "commune_code": pl.String,
    "operator": pl.String,
    "technology": pl.String,
    "tests": pl.Int64,
    "download_median_mbps": pl.Float64,
}


def _row(
    level: str,
    code: str | None,
    operator: str | None,
    technology: str,
    tests: int,
    *,
    median: float | None = None,
) -> dict[str, Any]:
    return {
        "level": level,
        "commune_code": code,
        "operator": operator,
        "technology": technology,
        "tests": tests,
        "download_median_mbps": median,
    }


def communes_table(population: dict[str, int | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {"commune_code": COMMUNES, "population": [population[c] for c in COMMUNES]},
        schema={"commune_code": pl.String, "population": pl.Int64},
    )


def expected(month: str, operator: str, population: dict[str, int | None]) -> dict[str, Any]:
    """The roll-out figures of one month and operator, in plain Python."""
    now = FIVE_G[month][operator]
    before: set[str] = set()
    for earlier in sorted(FIVE_G):
        if earlier < month:
            before |= FIVE_G[earlier][operator]
    ever = now | before
    known = all(p is not None for p in population.values())
    total_population = sum(p or 0 for p in population.values())

    def people(codes: set[str]) -> int | None:
        values = [population[c] for c in codes]
        return None if any(v is None for v in values) else sum(v or 0 for v in values)

    tests_5g = sum(int(c) for c in now)
    tests = 10 * len(COMMUNES) + tests_5g
    return {
        "communes_total": len(COMMUNES),
        "communes_5g": len(now),
        "communes_new": len(now - before),
        "communes_again": len(now & before),
        "communes_ever": len(ever),
        "share_communes_5g": len(now) / len(COMMUNES),
        "share_communes_ever": len(ever) / len(COMMUNES),
        "population_5g": people(now),
        "population_ever": people(ever),
        "share_population_5g": people(now) / total_population if known else None,  # type: ignore[operator]
        "share_population_ever": people(ever) / total_population if known else None,  # type: ignore[operator]
        "tests": tests,
        "tests_5g": tests_5g,
        "share_tests_5g": tests_5g / tests,
        "median_5g_mbps": MEDIANS[operator] if tests_5g else None,
    }


def months_given(order: list[str]) -> list[tuple[str, pl.DataFrame]]:
    return [(m, stats_table(m, FIVE_G[m])) for m in order]


@pytest.mark.parametrize("order", [sorted(FIVE_G), sorted(FIVE_G, reverse=True)])
def test_rollout_figures_equal_plain_python(order: list[str]) -> None:
    table = rollout(months_given(order), communes_table(dict(POPULATION)))
    assert table.height == len(FIVE_G) * 2
    for row in table.to_dicts():
        want = expected(row["month"], row["operator"], dict(POPULATION))
        for key, value in want.items():
            assert row[key] == pytest.approx(value), (row["month"], row["operator"], key)
    # The example of the issue, spelled out: A has {1,2}, then {2,3}, then {1,4}.
    november = table.filter(pl.col("operator") == "A", pl.col("month") == "2025-11").row(
        0, named=True
    )
    assert (november["communes_new"], november["communes_again"]) == (1, 1)  # 4 new; 1 again
    assert november["communes_ever"] == 4


def test_unknown_population_makes_the_population_share_unknown() -> None:
    population: dict[str, int | None] = {**POPULATION, "3": None}
    table = rollout(months_given(sorted(FIVE_G)), communes_table(population))
    for row in table.to_dicts():
        want = expected(row["month"], row["operator"], population)
        assert row["share_population_5g"] is None and row["share_population_ever"] is None
        assert row["population_5g"] == want["population_5g"]  # known where commune 3 is not in
        assert row["share_communes_5g"] == pytest.approx(want["share_communes_5g"])
    september_b = table.filter(pl.col("operator") == "B", pl.col("month") == "2025-09")
    assert september_b["population_5g"].to_list() == [0]  # no 5G commune: nobody


def test_commune_status_per_operator() -> None:
    months = months_given(sorted(FIVE_G))
    status = commune_status(months, communes_table(dict(POPULATION)), "2025-11")
    got = {(r["operator"], r["commune_code"]): r["status"] for r in status.to_dicts()}
    for operator in ("A", "B"):
        before = FIVE_G["2025-09"][operator] | FIVE_G["2025-10"][operator]
        now = FIVE_G["2025-11"][operator]
        for code in COMMUNES:
            want = (
                ("again" if code in before else "new")
                if code in now
                else ("earlier" if code in before else "never")
            )
            assert got[(operator, code)] == want, (operator, code)
    # A later month does not count for an earlier one.
    october = commune_status(months, communes_table(dict(POPULATION)), "2025-10")
    row = october.filter(pl.col("operator") == "A", pl.col("commune_code") == "4")
    assert row["status"].to_list() == ["never"]


def test_a_commune_no_longer_in_the_boundaries_is_not_counted() -> None:
    table = rollout(
        months_given(sorted(FIVE_G)),
        communes_table(dict(POPULATION)).filter(pl.col("commune_code") != "1"),
    )
    row = table.filter(pl.col("operator") == "A", pl.col("month") == "2025-11").row(0, named=True)
    assert (row["communes_total"], row["communes_5g"], row["communes_ever"]) == (4, 1, 3)
