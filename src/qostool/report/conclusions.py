"""Conclusions and recommendations: what the month's tables say, as numbers to write out.

:func:`derive` reads the report context (the same figures the tables show) and
returns :class:`Conclusions`: the rows of two small tables (each operator's 4G
standing, and the comparison with last month), the communes behind each
finding, and two ordered lists of findings and recommendations. A finding is a
dataclass of numbers and communes with a ``kind``; it is never text. The words
come from the sentence templates ``templates/conclusions.<lang>.j2``, one
macro per kind, which a user's ``--template-dir`` can replace like any other
template (docs/report.md).

Every number a sentence can print is one that a table of the same report
shows: the operator table and the comparison table of the conclusions block,
the campaign list of the recommendations, and the tables of the sections
(5G figures, roll-out, adoption, rule). A change since last month is a finding
only where the two months rest on comparable data: the same boundaries, the
month before, and for the communes meeting the minimum no Ookla tiles shared
and neither month a quarter of tiles alone (methodology.md section 8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Final

from jinja2 import pass_eval_context
from markupsafe import Markup

from qostool.months import shift_month

if TYPE_CHECKING:
    from jinja2.nodes import EvalContext

    from qostool.report.context import CommuneRow, OperatorBlock, ReportContext, TrendPoint

#: Data periods in a row below the minimum from which a shortfall is "persistent".
PERSISTENT: Final = 2
#: A commune's tests per 1,000 inhabitants are low below this share of the province's.
LOW_UPTAKE: Final = 0.5
#: How campaign communes are classed, in the order a commune is given its one class.
CAMPAIGN_CLASSES: Final = ("no_tests", "insufficient", "inconclusive", "low_uptake")
G4: Final = "4G"


@dataclass(frozen=True)
class Place:
    """A commune named in a finding."""

    code: str
    name: str


@dataclass(frozen=True)
class Standing:
    """One operator's 4G verdicts over the province's communes (a row of the operator
    table); ``operator`` None: every operator together (the communes' own verdicts)."""

    operator: str | None
    meets: int
    below: int
    inconclusive: int
    insufficient: int
    """Communes with 4G tests, too few for a verdict."""
    no_tests: int
    """Communes without a 4G test (of the operator)."""
    total: int
    persistent: int
    """Of ``below``, the communes below for ``PERSISTENT`` data periods or more in a row."""
    longest: int
    """The longest run of data periods below (0: none below)."""
    below_communes: list[Place] = field(default_factory=list)
    persistent_communes: list[Place] = field(default_factory=list)

    @property
    def assessed(self) -> int:
        """Communes with enough data for a verdict either way (meets or below)."""
        return self.meets + self.below

    @property
    def share_below(self) -> float | None:
        return self.below / self.assessed if self.assessed else None


@dataclass(frozen=True)
class CampaignCommune:
    """A commune where more tests are needed, with its one class (``CAMPAIGN_CLASSES``)."""

    code: str
    name: str
    reason: str
    population: int | None
    tests: int
    tests_per_1000: float | None


@dataclass(frozen=True)
class Change:
    """A row of the comparison with last month: ``item`` ``meets_4g`` (communes meeting
    the 4G minimum) or ``tests`` (single tests: i-Speed and other per-test sources)."""

    item: str
    now: int
    before: int | None
    difference: int | None
    """None: not compared, for the reason of ``basis``."""
    basis: str
    """``comparable``, or why not: ``same_tiles`` (the months share a quarter's Ookla
    tiles), ``tiles_only`` (a month rests on tiles alone), ``no_tests`` (a month has
    no single test)."""


# -- findings (one sentence each, by kind) ------------------------------------------


@dataclass(frozen=True)
class Finding:
    kind: ClassVar[str] = ""


@dataclass(frozen=True)
class Overall(Finding):
    """The communes' 4G verdicts, every operator together."""

    kind: ClassVar[str] = "overall"
    standing: Standing
    target: float
    persistent_from: int


@dataclass(frozen=True)
class OperatorBelow(Finding):
    """An operator below the minimum in some of the communes it can be judged in."""

    kind: ClassVar[str] = "operator_below"
    standing: Standing
    target: float
    persistent_from: int


@dataclass(frozen=True)
class OperatorMeets(Finding):
    """An operator meeting the minimum in every commune it can be judged in."""

    kind: ClassVar[str] = "operator_meets"
    standing: Standing
    target: float


@dataclass(frozen=True)
class OperatorUnassessed(Finding):
    """An operator with 4G tests but no commune with enough of them for a verdict."""

    kind: ClassVar[str] = "operator_unassessed"
    standing: Standing


@dataclass(frozen=True)
class NoOperator(Finding):
    """Communes where no operator meets the minimum and at least one is below it."""

    kind: ClassVar[str] = "no_operator"
    communes: list[Place]
    total: int
    target: float


@dataclass(frozen=True)
class Campaign(Finding):
    """Communes where tests are missing or few, by class (``CAMPAIGN_CLASSES``)."""

    kind: ClassVar[str] = "campaign"
    no_tests: int
    insufficient: int
    inconclusive: int
    low_uptake: int
    total: int
    """Communes of the province."""
    min_tests: int
    min_devices: int
    province_per_1000: float | None
    """The province's tests per 1,000 inhabitants (None: a population is unknown, and
    no commune is classed ``low_uptake``)."""

    @property
    def communes(self) -> int:
        return self.no_tests + self.insufficient + self.inconclusive + self.low_uptake


@dataclass(frozen=True)
class FiveGOperator:
    operator: str
    communes: int
    new: int


@dataclass(frozen=True)
class FiveG(Finding):
    """5G as a reference: where it was measured and how fast, never a verdict."""

    kind: ClassVar[str] = "five_g"
    tests: int
    share: float | None
    communes: int
    total: int
    median: float | None
    reference: float | None
    """The Department's reference level (Mbps), or None."""
    operators: list[FiveGOperator]


@dataclass(frozen=True)
class NoFiveG(Finding):
    kind: ClassVar[str] = "no_five_g"


@dataclass(frozen=True)
class Changed(Finding):
    """What changed since last month: the rows of the comparison, at least one of them
    comparable; the others are said not to compare, with why (``Change.basis``)."""

    kind: ClassVar[str] = "changed"
    changes: list[Change]


@dataclass(frozen=True)
class NotCompared(Finding):
    """Why nothing is compared with last month: ``no_previous`` (not analysed),
    ``boundaries`` (other boundaries), or the ``Change.basis`` of
    every row."""

    kind: ClassVar[str] = "not_compared"
    reason: str


# -- recommendations ------------------------------------------------------------------


@dataclass(frozen=True)
class Upgrade(Finding):
    """Ask an operator to upgrade its 4G network where it is below the minimum."""

    kind: ClassVar[str] = "upgrade"
    standing: Standing
    target: float
    persistent_from: int


@dataclass(frozen=True)
class Invest(Finding):
    """Ask the operators to invest first where none of them meets the minimum."""

    kind: ClassVar[str] = "invest"
    communes: int
    target: float


@dataclass(frozen=True)
class Persistent(Finding):
    """Ask the Ministry's Telecommunications Authority to follow the persistent shortfalls."""

    kind: ClassVar[str] = "persistent"
    standings: list[Standing]
    """The operators with communes below ``persistent_from`` periods or more in a row."""
    persistent_from: int


@dataclass(frozen=True)
class Campaigns(Finding):
    """Ask the People's Committee to direct the communes to campaign for tests."""

    kind: ClassVar[str] = "campaigns"
    campaign: Campaign


@dataclass(frozen=True)
class Conclusions:
    """What the conclusions block and the recommendations section show (docs/report.md)."""

    target: float | None
    """The 4G minimum (Mbps); None: no 4G target, and no 4G finding."""
    persistent_from: int
    standings: list[Standing]
    """Each named operator with a 4G row, by name (the operator table)."""
    pooled: Standing | None
    """Every operator together: the communes' own 4G verdicts (the table's last row)."""
    no_operator: list[Place]
    campaign: list[CampaignCommune]
    """The campaign list, by class then code."""
    changes: list[Change]
    """The comparison table's rows (empty: no last month to compare with)."""
    previous: str | None
    """The month compared with (None: none)."""
    findings: list[Finding]
    recommendations: list[Finding]


# -- deriving -------------------------------------------------------------------------


def derive(context: ReportContext) -> Conclusions:
    """The conclusions of a report context (the numbers of its tables, nothing new)."""
    target = context.summary.target_4g if context.summary.per_technology else None
    standings = _standings(context.commune_operators, len(context.communes))
    pooled = _pooled(context.communes) if target is not None else None
    no_operator = _no_operator(context.commune_operators)
    campaign = _campaign(context)
    counts = {reason: sum(c.reason == reason for c in campaign) for reason in CAMPAIGN_CLASSES}
    campaign_finding = Campaign(
        no_tests=counts["no_tests"],
        insufficient=counts["insufficient"],
        inconclusive=counts["inconclusive"],
        low_uptake=counts["low_uptake"],
        total=len(context.communes),
        min_tests=context.annex.min_tests,
        min_devices=context.annex.min_devices,
        province_per_1000=context.adoption.tests_per_1000,
    )
    previous, changes, not_compared = _changes(context)

    findings: list[Finding] = []
    recommendations: list[Finding] = []
    if target is not None and pooled is not None:
        findings.append(Overall(pooled, target, PERSISTENT))
        for s in sorted(standings, key=lambda s: (-s.below, s.operator or "")):
            if s.below:
                findings.append(OperatorBelow(s, target, PERSISTENT))
                recommendations.append(Upgrade(s, target, PERSISTENT))
            elif s.assessed:
                findings.append(OperatorMeets(s, target))
            else:
                findings.append(OperatorUnassessed(s))
        if no_operator:
            findings.append(NoOperator(no_operator, len(context.communes), target))
            recommendations.append(Invest(len(no_operator), target))
        stuck = [s for s in standings if s.persistent]
        if stuck:
            recommendations.append(Persistent(stuck, PERSISTENT))
    if campaign_finding.communes:
        findings.append(campaign_finding)
        recommendations.append(Campaigns(campaign_finding))
    findings.append(_five_g(context))
    if changes and any(c.difference is not None for c in changes):
        findings.append(Changed(changes))
    elif not_compared is not None:
        findings.append(NotCompared(not_compared))
    return Conclusions(
        target=target,
        persistent_from=PERSISTENT,
        standings=standings,
        pooled=pooled,
        no_operator=no_operator,
        campaign=campaign,
        changes=changes,
        previous=previous,
        findings=findings,
        recommendations=recommendations,
    )


def _standings(blocks: list[OperatorBlock], total: int) -> list[Standing]:
    """Each named operator's 4G standing, from its commune rows with a verdict."""
    out = []
    for block in blocks:
        if block.operator is None:  # tiles carry no operator: nobody to ask
            continue
        rows = [r for r in block.rows if r.technology == G4 and r.verdict is not None]
        if not rows:
            continue
        below = sorted(
            (r for r in rows if r.verdict == "below_target"), key=lambda r: r.commune_code or ""
        )
        persistent = [r for r in below if r.months_below >= PERSISTENT]
        out.append(
            Standing(
                operator=block.operator,
                meets=sum(r.verdict == "meets_target" for r in rows),
                below=len(below),
                inconclusive=sum(r.verdict == "inconclusive" for r in rows),
                insufficient=sum(r.verdict == "insufficient_data" for r in rows),
                no_tests=total - len(rows),
                total=total,
                persistent=len(persistent),
                longest=max((r.months_below for r in below), default=0),
                below_communes=[_place(r.commune_code, r.commune_name) for r in below],
                persistent_communes=[_place(r.commune_code, r.commune_name) for r in persistent],
            )
        )
    return out


def _pooled(communes: list[CommuneRow]) -> Standing:
    """Every operator together: the communes' own 4G verdicts."""
    below = [c for c in communes if c.verdict_4g == "below_target"]
    persistent = [c for c in below if c.months_below_4g >= PERSISTENT]
    # Without any 4G test a commune's verdict reads "no_tests" (context.assessment), or
    # "insufficient_data" in an analysis stored before that class: counted apart either way.
    thin = [c for c in communes if c.verdict_4g in ("insufficient_data", "no_tests")]
    return Standing(
        operator=None,
        meets=sum(c.verdict_4g == "meets_target" for c in communes),
        below=len(below),
        inconclusive=sum(c.verdict_4g == "inconclusive" for c in communes),
        insufficient=sum(c.tests_4g > 0 for c in thin),
        no_tests=sum(c.tests_4g == 0 for c in thin),
        total=len(communes),
        persistent=len(persistent),
        longest=max((c.months_below_4g for c in below), default=0),
        below_communes=[Place(c.code, c.name) for c in below],
        persistent_communes=[Place(c.code, c.name) for c in persistent],
    )


def _no_operator(blocks: list[OperatorBlock]) -> list[Place]:
    """Communes where at least one operator is below the 4G minimum and none meets it."""
    verdicts: dict[str, set[str]] = {}
    names: dict[str, str] = {}
    for block in blocks:
        for r in block.rows:
            if r.technology != G4 or r.verdict is None or r.commune_code is None:
                continue
            verdicts.setdefault(r.commune_code, set()).add(r.verdict)
            names[r.commune_code] = r.commune_name or r.commune_code
    return [
        Place(code, names[code])
        for code in sorted(verdicts)
        if "below_target" in verdicts[code] and "meets_target" not in verdicts[code]
    ]


def _campaign(context: ReportContext) -> list[CampaignCommune]:
    """Communes where more tests are needed, each in its first class of ``CAMPAIGN_CLASSES``."""
    province = context.adoption.tests_per_1000
    out = []
    for c in context.communes:
        if not c.has_tests:
            reason = "no_tests"
        elif c.verdict_4g in ("insufficient_data", "no_tests"):  # mobile tests, too few 4G
            reason = "insufficient"
        elif c.verdict_4g == "inconclusive":
            reason = "inconclusive"
        elif (
            province is not None
            and c.tests_per_1000 is not None
            and c.tests_per_1000 < LOW_UPTAKE * province
        ):
            reason = "low_uptake"
        else:
            continue
        out.append(CampaignCommune(c.code, c.name, reason, c.population, c.tests, c.tests_per_1000))
    return sorted(out, key=lambda c: (CAMPAIGN_CLASSES.index(c.reason), c.code))


def _five_g(context: ReportContext) -> Finding:
    five_g = context.five_g
    if not five_g.has_tests:
        return NoFiveG()
    section = context.five_g_operators
    operators = [
        FiveGOperator(b.operator, b.current.communes_5g, b.current.communes_new)
        for b in (section.operators if section else [])
        if b.current.communes_5g
    ]
    return FiveG(
        tests=five_g.tests,
        share=five_g.share,
        communes=len(five_g.communes_with),
        total=len(context.communes),
        median=five_g.province.median if five_g.province else None,
        reference=five_g.target,
        operators=operators,
    )


def _changes(context: ReportContext) -> tuple[str | None, list[Change], str | None]:
    """The month compared with, the comparison's rows, and why nothing is compared.

    Only the month just before, analysed on the same boundaries, is compared. The
    communes meeting the minimum are compared only when neither month rests on a
    quarter's tiles alone and the two share no tiles; the single tests whenever
    both months have some (tiles are never counted in them).
    """
    points = context.trend.points
    if context.period is not None:  # a period of days is not compared with a month
        return None, [], None
    if len(points) < 2:
        return None, [], "no_previous"
    now, before = points[-1], points[-2]
    if before.month != shift_month(now.months[0], -1):
        return None, [], "no_previous"
    if before.boundaries != now.boundaries:
        return before.month, [], "boundaries"
    meets_basis = _tiles_basis(now, before)
    singles_now = now.tests - now.tile_tests
    singles_before = before.tests - before.tile_tests
    tests_basis = "comparable" if singles_now > 0 and singles_before > 0 else "no_tests"
    rows = [
        _change("meets_4g", now.meets_4g, before.meets_4g, meets_basis),
        _change("tests", singles_now, singles_before, tests_basis),
    ]
    if context.summary.target_4g is None or not context.summary.per_technology:
        rows = rows[1:]
    usable = [r for r in rows if r.difference is not None]
    return before.month, rows, None if usable else rows[0].basis


def _change(item: str, now: int, before: int, basis: str) -> Change:
    comparable = basis == "comparable"
    return Change(item, now, before, now - before if comparable else None, basis)


def _tiles_basis(now: TrendPoint, before: TrendPoint) -> str:
    """Whether two trend points' verdicts compare: not on tiles alone, no tiles shared."""
    if now.quarterly or before.quarterly:
        return "tiles_only"
    shared = _quarter(now.period) is not None and _quarter(now.period) == _quarter(before.period)
    return "same_tiles" if shared else "comparable"


def _quarter(period: str | None) -> str | None:
    """The quarter of tiles a data period holds (``2025-10+2025-Q4`` -> ``2025-Q4``)."""
    if not period:
        return None
    return next((part for part in period.split("+") if "-Q" in part), None)


@pass_eval_context
def one_line(eval_ctx: EvalContext, value: str) -> str:
    """A sentence template's output on one line (the ``sentence`` filter).

    A template may break its lines anywhere: its spaces are made single. The
    sentence templates (``.j2``) are always escaped as HTML (``render._autoescape``),
    so a name from the data arrives escaped once: kept so in HTML and DOCX (which
    escape), given back as text where the template does not escape (Markdown, whose
    ``md`` filter then makes it inert).
    """
    escaped = Markup(" ".join(str(value).split()))
    return escaped if eval_ctx.autoescape else escaped.unescape()


def _place(code: str | None, name: str | None) -> Place:
    return Place(code or "", name or code or "")
