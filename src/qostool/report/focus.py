"""``report --operator NAME``: a report of one operator's figures alone.

For following an agreement with an operator (Gia Lai asked VNPT in October
2025 to bring 5G to the whole province): its province-wide results, its
verdict in each commune (from its own tests: level ``commune_operator``), its
communes below target and its 5G roll-out. Everything comes from the same
context as the province report (``build_context``), filtered to the operator;
nothing is computed anew. The templates are ``operator.html`` and
``operator.md``; the files go to ``<out>/<YYYY-MM>/operator-<slug>/``, never
over the province report.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from qostool.errors import UsageError
from qostool.report.rollout import slug

if TYPE_CHECKING:
    import polars as pl

    from qostool.analyze.run import Analysis
    from qostool.report.context import CommuneRow, ReportContext, StatRow, VerdictTable
    from qostool.report.rollout import OperatorRollout

#: The formats a focused report is written in (the PDF is its HTML printed).
FORMATS: Final = ("html", "md", "pdf")


@dataclass(frozen=True)
class OperatorFocus:
    operator: str
    slug: str
    """The folder's name is ``operator-<slug>``."""
    rows: list[StatRow]
    """The operator's province-wide rows: technologies with a target, and ``all``."""
    verdicts: list[VerdictTable]
    """Its communes per verdict, for each technology with a target (its own tests)."""
    communes: list[StatRow]
    """Its commune x operator rows with a verdict, by commune code then technology."""
    no_tests: list[CommuneRow]
    """Communes without any test of the operator this month."""
    below: list[StatRow]
    """Its commune rows whose verdict is ``below_target``."""
    rollout: OperatorRollout | None
    """Its 5G roll-out (None: no test of it in any month read)."""


def month_operators(stats: pl.DataFrame) -> list[str]:
    """The named operators with a cellular test in the month, by name."""
    from qostool.analyze.rollout import operators

    return operators([("", stats)])


def match_operator(stats: pl.DataFrame, month: str, name: str) -> str:
    """The month's operator called ``name``: its whole name, or one word of it when that
    names only one operator (``VNPT`` for ``VNPT-VinaPhone``); case is ignored.

    An unknown or ambiguous name is a usage error that lists the month's operators.
    """
    known = month_operators(stats)
    wanted = name.strip().casefold()
    found = [o for o in known if o.strip().casefold() == wanted]
    found = found or [o for o in known if wanted in re.split(r"[^\w]+", o.casefold())]
    if len(found) != 1:
        what = "names several operators" if found else "names no operator with tests"
        raise UsageError(
            f"--operator {name!r} {what} in {month}",
            hint="the operators of the month: " + (", ".join(known) or "none"),
        )
    return found[0]


def check_formats(formats: tuple[str, ...]) -> None:
    """A focused report is written as HTML, Markdown or PDF only: say so before any work."""
    other = [f for f in formats if f not in FORMATS]
    if other:
        raise UsageError(
            f"--operator: a report of one operator is not written as {', '.join(other)}",
            hint=f"use --format with {', '.join(FORMATS)}",
        )


def focus_context(context: ReportContext, analysis: Analysis, operator: str) -> ReportContext:
    """The context with the operator's figures as ``focus``."""
    import polars as pl

    from qostool.report.context import _stat_row, _tech_rank, assessed, verdict_tables

    block = next((b for b in context.operators if b.operator == operator), None)
    below = next((b for b in context.below if b.operator == operator), None)
    rows = list(block.rows) if block else []
    pairs = analysis.stats.filter(
        pl.col("level") == "commune_operator", pl.col("operator") == operator
    )
    commercial = set(context.commercial_5g)
    communes = sorted(
        (
            assessed(_stat_row(r), commercial)
            for r in pairs.filter(pl.col("verdict").is_not_null()).to_dicts()
        ),
        key=lambda r: (r.commune_code or "", _tech_rank(r.technology)),
    )
    targets = {t.technology: t.mbps for t in context.annex.targets}
    verdicts = verdict_tables(communes, targets)
    tested = pairs.filter(pl.col("technology") == "all", pl.col("tests") > 0)
    with_tests = set(tested["commune_code"].to_list())
    rollout = context.five_g_operators
    mine = next((b for b in rollout.operators if b.operator == operator), None) if rollout else None
    focus = OperatorFocus(
        operator=operator,
        slug=slug(operator),
        rows=rows,
        verdicts=verdicts,
        communes=communes,
        no_tests=[c for c in context.communes if c.code not in with_tests],
        below=list(below.rows) if below else [],
        rollout=mine,
    )
    return dataclasses.replace(context, focus=focus)
