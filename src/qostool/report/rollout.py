"""The report's "5G by operator" section: the roll-out figures as plain data.

:func:`five_g_operators` reads the stored official analyses of every month
before the report month (``analyze.rollout.stored_months``), adds the report
month's own statistics, and turns the roll-out table and each commune's
presence (``analyze/rollout.py``) into frozen dataclasses for the templates.
Every field is documented in docs/report.md.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from qostool.months import shift_month

if TYPE_CHECKING:
    from qostool.analyze.run import Analysis
    from qostool.report.context import CommuneRow
    from qostool.store import Store

#: Months of the series (the report month and the 11 before).
SERIES_MONTHS: Final = 12


@dataclass(frozen=True)
class RolloutPoint:
    """One operator's 5G roll-out in one month (see ``analyze.rollout.rollout``)."""

    month: str
    communes_5g: int
    """Communes with at least one 5G test of the operator this month."""
    communes_new: int
    """Of them, with 5G for the first time (none in any earlier stored month)."""
    communes_again: int
    """Of them, with 5G in an earlier month too."""
    communes_ever: int
    """Communes with 5G this month or in any earlier stored month (so far)."""
    share_communes_5g: float | None
    share_communes_ever: float | None
    population_5g: int | None
    """Inhabitants of this month's 5G communes (None: one of them has no population)."""
    population_ever: int | None
    share_population_5g: float | None
    """None when any commune's population is unknown: the province's total is."""
    share_population_ever: float | None
    tests: int
    """The operator's cellular tests in the province."""
    tests_5g: int
    share_tests_5g: float | None
    median_5g: float | None
    """The operator's province-wide median 5G download (Mbps)."""


@dataclass(frozen=True)
class PresenceCommune:
    """A commune's 5G presence for one operator in the report month."""

    code: str
    name: str
    status: str
    """``new`` (5G for the first time), ``again`` (5G, seen before too), ``earlier``
    (no 5G this month, seen before), ``never``."""
    first_month: str | None
    """The first month with a 5G test of the operator there (None: never)."""
    tests_5g: int


@dataclass(frozen=True)
class OperatorRollout:
    operator: str
    slug: str
    """The operator's name for a file or folder (``report --operator``: ``operator-<slug>``)."""
    current: RolloutPoint
    """The report month."""
    series: list[RolloutPoint]
    """The report month and the analysed months of the 11 before, oldest first."""
    new_communes: list[PresenceCommune]
    """Communes with the operator's 5G for the first time this month, by code."""
    communes: list[PresenceCommune]
    """Every commune, by code, with its status."""


@dataclass(frozen=True)
class FiveGOperators:
    operators: list[OperatorRollout]
    """Every named operator with a cellular test in any month read, by name."""
    communes_total: int
    population_known: bool
    """False when a commune has no population: the population shares are unknown."""
    since: str
    """The first month read (the first stored official analysis): "for the first time"
    means since then."""
    months: list[str]
    """The months of the series, oldest first."""
    statuses: list[str]
    """The presence statuses in legend order."""


def slug(name: str) -> str:
    """A folder-safe, lower-case ASCII form of an operator's name (``Vietnamobile`` ->
    ``vietnamobile``, ``Mạng X`` -> ``mang-x``); never empty."""
    flat = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
    ascii_name = flat.encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-") or "operator"


def five_g_operators(
    store: Store, analysis: Analysis, communes: list[CommuneRow]
) -> FiveGOperators:
    """The section's data: the report month's analysis and every earlier official one."""
    import polars as pl

    from qostool.analyze.rollout import STATUSES, commune_status, rollout, stored_months

    months = [*stored_months(store, analysis.month), (analysis.month, analysis.stats)]
    table = pl.DataFrame(
        {
            "commune_code": [c.code for c in communes],
            "population": [c.population for c in communes],
        },
        schema={"commune_code": pl.String, "population": pl.Int64},
    )
    figures = rollout(months, table)
    status = commune_status(months, table, analysis.month)
    first = shift_month(analysis.month, -(SERIES_MONTHS - 1))
    shown = sorted(m for m, _ in months if m >= first)
    names = {c.code: c.name for c in communes}
    blocks = []
    for operator in figures["operator"].unique(maintain_order=True).to_list():
        points = [
            _point(r)
            for r in figures.filter(
                pl.col("operator") == operator, pl.col("month").is_in(shown)
            ).to_dicts()
        ]
        presence = [
            PresenceCommune(
                code=r["commune_code"],
                name=names.get(r["commune_code"], r["commune_code"]),
                status=r["status"],
                first_month=r["first_month"],
                tests_5g=int(r["tests_5g"]),
            )
            for r in status.filter(pl.col("operator") == operator).to_dicts()
        ]
        blocks.append(
            OperatorRollout(
                operator=operator,
                slug=slug(operator),
                current=points[-1],
                series=points,
                new_communes=[c for c in presence if c.status == "new"],
                communes=presence,
            )
        )
    return FiveGOperators(
        operators=blocks,
        communes_total=len(communes),
        population_known=all(c.population is not None for c in communes),
        since=min(m for m, _ in months),
        months=shown,
        statuses=list(STATUSES),
    )


def _point(row: dict[str, Any]) -> RolloutPoint:
    def share(name: str) -> float | None:
        value = row[name]
        return None if value is None else float(value)

    def count(name: str) -> int | None:
        value = row[name]
        return None if value is None else int(value)

    return RolloutPoint(
        month=row["month"],
        communes_5g=int(row["communes_5g"]),
        communes_new=int(row["communes_new"]),
        communes_again=int(row["communes_again"]),
        communes_ever=int(row["communes_ever"]),
        share_communes_5g=share("share_communes_5g"),
        share_communes_ever=share("share_communes_ever"),
        population_5g=count("population_5g"),
        population_ever=count("population_ever"),
        share_population_5g=share("share_population_5g"),
        share_population_ever=share("share_population_ever"),
        tests=int(row["tests"]),
        tests_5g=int(row["tests_5g"]),
        share_tests_5g=share("share_tests_5g"),
        median_5g=share("median_5g_mbps"),
    )
