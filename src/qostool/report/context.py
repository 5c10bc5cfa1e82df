"""The report context: everything a template shows, built once from the stored analysis.

:func:`build_context` reads the month's stored analysis (and the stored
analyses of up to 11 earlier months, for the trend) and returns plain data:
frozen dataclasses of numbers, strings, booleans and lists, never Polars
objects. Numbers are raw (``None`` when missing); the templates format them
with the filters of ``report/i18n.py``. Every field is documented in
``docs/report.md``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Final

from qostool import __version__
from qostool.months import shift_month

if TYPE_CHECKING:
    from qostool.analyze.run import Analysis
    from qostool.report.conclusions import Conclusions
    from qostool.report.focus import OperatorFocus
    from qostool.report.rollout import FiveGOperators
    from qostool.store import Store

#: Order of technologies in every table.
TECHNOLOGIES: Final = ("4G", "5G", "3G", "2G", "unknown", "all", "wifi")
#: The verdicts an analysis stores (``analyze/rules.py``).
VERDICTS: Final = ("meets_target", "below_target", "insufficient_data", "inconclusive")
#: What the report shows for a group against a minimum (4G), in the order of every table:
#: the stored verdicts, with the groups without any test apart (``no_tests``), which the
#: analysis stores as ``insufficient_data``.
ASSESSMENTS: Final = (
    "meets_target",
    "below_target",
    "inconclusive",
    "insufficient_data",
    "no_tests",
)
#: Technologies whose target is the directive's minimum ("tối thiểu 40 Mbps"): their
#: groups are assessed ``meets_target`` or ``below_target``. The target of any other
#: technology (5G) is a reference level the Department chose, which no rule sets: its
#: groups are compared with it (``reference_above``, ``reference_below``,
#: ``reference_close``), never judged.
MINIMUM_TECHNOLOGIES: Final = ("4G",)
REFERENCE: Final = {
    "meets_target": "reference_above",
    "below_target": "reference_below",
    "inconclusive": "reference_close",
}
#: An operator's 5G figures when the operator sells no 5G (``commercial_5g``): a data
#: question (a phone's wrong network type, roaming, a trial network), never judged.
UNVERIFIED: Final = "unverified"
#: The operators with a commercial 5G network, when the settings do not say
#: (``[report] commercial_5g``).
COMMERCIAL_5G: Final = ("Viettel", "VNPT-VinaPhone", "MobiFone")
TREND_MONTHS: Final = 12
G4: Final = "4G"
G5: Final = "5G"
ALL: Final = "all"


@dataclass(frozen=True)
class StatRow:
    """One row of the statistics table (a group: commune/operator/province x technology)."""

    level: str
    commune_code: str | None
    commune_name: str | None
    operator: str | None
    technology: str
    tests: int
    tile_tests: int
    data_period: str | None
    """The data the figures rest on: ``2024-10`` (the month's single tests), ``2024-Q4``
    (a quarter's tiles only: quarterly figures, the same in each month of the quarter),
    ``2024-10+2024-Q4`` (both); None without tests."""
    devices_min: int | None
    """At least this many devices (None: an analysis stored before devices were a range)."""
    devices_max: int
    """At most this many: tiles' devices are added, though one device may test in many."""
    mean: float | None
    median: float | None
    p10: float | None
    p90: float | None
    upload_mean: float | None
    upload_median: float | None
    latency_median: float | None
    share_ge_target: float | None
    ci_low: float | None
    ci_high: float | None
    peak_mean: float | None
    peak_tests: int
    target: float | None
    statistic: str | None
    statistic_value: float | None
    statistic_ci_low: float | None
    statistic_ci_high: float | None
    verdict: str | None
    """What the report shows (:func:`assessment`): a stored verdict, ``no_tests``, a
    reference comparison (``reference_above`` ...) or ``unverified``; None: no target."""
    prev_mean: float | None
    change: float | None
    """None also when last month rests on the same data (``change_basis`` ``same_data``),
    and when either month has fewer tests than a verdict needs (``few_tests``)."""
    prev_data_period: str | None
    change_basis: str | None
    """``distinct``, ``shared_tiles`` (both months hold the same quarter's tiles: the
    change is damped by them), ``same_data`` (no change is computed), ``few_tests``
    (either month has fewer tests than the rule's minimum: a change of a handful of
    tests is noise, not shown); None: nothing compared, or an analysis stored before
    data periods."""
    months_below: int
    """Data periods in a row below target (a quarter of tiles counts once)."""


@dataclass(frozen=True)
class CommuneRow:
    """One commune: its 4G figures and verdict, 5G, adoption."""

    code: str
    name: str
    type: str | None
    population: int | None
    tests: int
    """Single tests of the mobile network: citizens' uses of the speed-test apps
    (fixed-broadband and Wi-Fi tests, and a quarter's Ookla tiles, are not counted)."""
    devices_min: int | None
    """The devices of those tests (exact: pseudonyms; ``devices_max`` the same); None:
    not known (an analysis stored before single tests were counted apart, in a
    commune with tiles)."""
    devices_max: int | None
    tests_per_1000: float | None
    devices_min_per_1000: float | None
    devices_max_per_1000: float | None
    has_tests: bool
    tests_4g: int
    devices_4g_min: int | None
    devices_4g_max: int
    mean_4g: float | None
    median_4g: float | None
    ci_low_4g: float | None
    ci_high_4g: float | None
    verdict_4g: str | None
    data_period_4g: str | None
    verdict_4g_compared: str | None
    """The 4G verdict under ``report --compare-rule``'s rule (None without it)."""
    prev_mean_4g: float | None
    change_4g: float | None
    change_basis_4g: str | None
    months_below_4g: int
    thin_reasons: list[str]
    """Why the 4G verdict is ``insufficient_data``: ``no_tests``, ``few_tests``,
    ``few_devices``, ``no_statistic`` (empty otherwise)."""
    tests_5g: int
    share_5g: float | None
    mean_5g: float | None
    median_5g: float | None
    has_5g: bool
    tile_tests: int = 0
    """Tests of the quarter's mobile Ookla tiles in the commune, counted apart."""


@dataclass(frozen=True)
class SourceCount:
    """The tests of one source of the month inside the province (``analysis.json``
    ``sources``): single tests of an app, or a quarter's tiles (``aggregate``)."""

    source: str
    """The source format's name (``ispeed``, ``ookla``, ...): the ``source`` filter
    credits it (``i-Speed (VNNIC)``)."""
    aggregate: bool
    network: str
    """``mobile`` (every cellular technology) or ``fixed`` (Wi-Fi)."""
    rows: int
    tests: int
    devices: int | None
    """Distinct devices of single tests; None for tiles."""


@dataclass(frozen=True)
class VerdictCount:
    verdict: str
    count: int


@dataclass(frozen=True)
class VerdictTable:
    """Communes per verdict for one technology with a target."""

    technology: str
    target: float | None
    counts: list[VerdictCount]
    total: int

    def count(self, verdict: str) -> int:
        return next((c.count for c in self.counts if c.verdict == verdict), 0)


@dataclass(frozen=True)
class Summary:
    tests: int
    """Citizens' single tests on the mobile network (every cellular technology; Wi-Fi
    and the quarter's Ookla tiles apart)."""
    tile_tests: int
    """Tests of the quarter's mobile Ookla tiles: another app's aggregates, reported
    apart and never added to ``tests``."""
    devices_min: int | None
    devices_max: int
    wifi_tests: int
    communes_total: int
    communes_with_tests: int
    communes_without_tests: int
    target_4g: float | None
    meets_4g: int
    below_4g: int
    insufficient_4g: int
    """Communes with some 4G tests, too few for a verdict (``no_tests_4g`` apart)."""
    inconclusive_4g: int
    verdicts: list[VerdictTable]
    """The assessments of the communes, for each technology with a minimum (4G)."""
    verdict_names: list[str]
    """The assessment codes, in table order (:data:`ASSESSMENTS`)."""
    has_previous: bool
    """Whether last month's figures are known (the change columns are filled)."""
    data_period: str | None
    """The data of the province's cellular figures (see ``StatRow.data_period``)."""
    prev_month: str
    """The last month of the data period before this one (the trend's previous point)."""
    prev_period: str | None
    """That period (``2025-09``, or ``2025-Q3`` for a quarter of tiles shown once)."""
    prev_tests: int | None
    """Its single tests on the mobile network, from its stored analysis (None when not
    analysed)."""
    statistic: str = "mean"
    """The statistic compared with the target (``mean``, ``median``, ``share``): the
    headline names it."""
    min_share: float = 0.8
    """With ``statistic = share``: the share of tests needed."""
    per_technology: bool = True
    """Whether any mobile test of the month says its technology. False when the
    mobile data is only tiles (technology ``unknown``): no 4G verdict can be made,
    and the headline gives the figures of all cellular tests instead."""
    mean_all: float | None = None
    """Mean download of all cellular tests (every technology and tiles together)."""
    no_tests_4g: int = 0
    """Communes without any 4G test (the analysis stores them as insufficient data)."""
    devices: int | None = None
    """Distinct devices of the single tests, added over the sources (one app's devices
    cannot be matched with another's); None when the analysis did not count them."""
    tile_rows: int = 0
    """The quarter's mobile Ookla tiles inside the province."""
    sources: list[SourceCount] = field(default_factory=list)
    """The month's sources, single tests first (empty: an analysis stored before it
    counted them)."""


@dataclass(frozen=True)
class Comparison:
    """The 4G verdicts of the communes under a second rule (``report --compare-rule``)."""

    rule: str
    """The rule preset compared with (``vnnic``)."""
    statistic: str
    min_tests: int
    min_devices: int
    total: int
    """Communes with a 4G target."""
    meets: int
    below: int
    insufficient: int
    inconclusive: int
    differ: int
    """Communes whose verdict under the second rule is not the report's."""


@dataclass(frozen=True)
class OperatorBlock:
    operator: str | None
    rows: list[StatRow]


@dataclass(frozen=True)
class FiveG:
    has_tests: bool
    tests: int
    share: float | None
    """5G tests out of the province's cellular tests."""
    target: float | None
    province: StatRow | None
    communes_with: list[CommuneRow]
    communes_without: list[CommuneRow]


@dataclass(frozen=True)
class Adoption:
    communes: list[CommuneRow]
    tests: int
    population: int | None
    tests_per_1000: float | None


@dataclass(frozen=True)
class TrendPoint:
    month: str
    """The last month of the point (the month whose stored analysis gives its figures)."""
    months: list[str]
    """Every month the point stands for: one, or the months of a quarter analysed on
    its tiles alone (the same data, shown once)."""
    period: str | None
    """The data period of the province's cellular figures (``StatRow.data_period``)."""
    quarterly: bool
    """Whether the point is a quarter of tiles only (its label is the quarter)."""
    tests: int
    """Cellular tests, the quarter's tiles included (the data behind the means)."""
    mean_4g: float | None
    median_4g: float | None
    mean_5g: float | None
    meets_4g: int
    below_4g: int
    communes_with_tests: int
    boundaries: str
    tile_tests: int = 0
    """Of ``tests``, those of Ookla tiles (the rest are single tests)."""

    @property
    def single_tests(self) -> int:
        """Citizens' single tests on the mobile network (the tiles left out)."""
        return self.tests - self.tile_tests


@dataclass(frozen=True)
class Trend:
    points: list[TrendPoint]
    """Analysed months within the last 12, oldest first (the report month last); the
    months of a quarter analysed on the same tiles alone are one point."""
    has_history: bool
    same_boundaries: bool
    target_4g: float | None


@dataclass(frozen=True)
class InputFile:
    name: str
    """The file's name (without its folder)."""
    format: str | None
    sha256: str
    rows_read: int | None
    accepted: int | None
    rejected: int | None
    duplicates: int | None
    months: list[str]


@dataclass(frozen=True)
class Count:
    key: str
    value: int


@dataclass(frozen=True)
class Target:
    technology: str
    mbps: float


@dataclass(frozen=True)
class Annex:
    inputs: list[InputFile]
    input_totals: dict[str, int]
    """``rows_read``, ``accepted``, ``rejected``, ``duplicates`` over the input files."""
    rejects: list[Count]
    counts: list[Count]
    targets: list[Target]
    statistic: str
    min_tests: int
    min_devices: int
    min_share: float
    confidence: float
    peak_hours: list[int]
    tolerance_m: float | None
    bursts_deduplicated: bool
    boundaries_version: str
    boundaries_communes: int
    boundaries_credit: str | None
    """Who made the boundaries (``boundaries import --credit``); None: not recorded."""
    boundaries_file: str
    """The name of the file the boundaries were imported from (without its folder)."""
    tool_version_analysis: str
    tool_version_report: str
    analysed_at: str
    timezone: str
    quarter_of_tiles: str | None
    history_months: int


@dataclass(frozen=True)
class DocumentInfo:
    """The administrative document around the figures, in the report's language
    (``report/document.py``: the ``[report]`` settings, each missing one defaulted)."""

    parent: str
    """The body above the issuer, as printed: ``UBND TỈNH SƠN LÂM``, ``UBND THÀNH PHỐ HÀ NỘI``."""
    issuer: str
    """The issuing body in sentence case (``Sở Khoa học và Công nghệ``); headers upper it."""
    number: str
    """The document number, or a blank of non-breaking spaces to fill in by hand."""
    symbol: str
    place: str
    date: str | None
    """ISO date of the date line; None: the line is left blank for the signing date."""
    city: bool
    """The province is a centrally-run city (``thành phố``)."""
    area: str
    """``tỉnh Sơn Lâm`` / ``thành phố Hà Nội`` (``Sơn Lâm province`` in English)."""
    period_start: str
    period_end: str
    """The data period the report states: the month's first and last day (ISO)."""
    recipients: list[str]
    """Kính gửi: one line each."""
    basis: list[str]
    """The documents the report answers (the opening's ``Thực hiện ...``), maybe none."""
    opening: str
    """The opening sentence: basis, data period, area, and the issuer who "báo cáo như sau:"."""
    basis_given: bool
    """Whether the basis documents were given; if not, the opening cites a marked placeholder."""
    next_tasks: list[str]
    """Section IV, one paragraph each; empty: a marked placeholder to fill in."""
    annex_line: str
    """The line under each annex's title: ``(Kèm theo Báo cáo số .../BC-SKHCN ngày ... của
    ...)``, its number and date blank when not given."""
    signer_title: list[str]
    """One line each: ``KT. GIÁM ĐỐC``, ``PHÓ GIÁM ĐỐC``."""
    signer_name: str
    """Empty when not given (the name is then written by hand)."""
    copies_to: list[str]
    """Nơi nhận: one line each, the archive line (``Lưu: VT, ...``) last."""


@dataclass(frozen=True)
class ReportContext:
    """Everything the templates can use (see docs/report.md)."""

    month: str
    generated_at: str
    """ISO date or datetime of the report (``--generated-at``, default now)."""
    province_name: str
    province_code: str
    summary: Summary
    province_rows: list[StatRow]
    operators: list[OperatorBlock]
    communes: list[CommuneRow]
    below: list[OperatorBlock]
    """Per operator (every operator with a verdict), its communes below target."""
    no_tests: list[CommuneRow]
    insufficient: list[CommuneRow]
    inconclusive: list[CommuneRow]
    five_g: FiveG
    adoption: Adoption
    trend: Trend
    annex: Annex
    warnings: list[dict[str, Any]] = field(default_factory=list)
    """Warnings of the analysis about its data (``notice`` filter: in words), for page 1."""
    compared: Comparison | None = None
    """The verdicts under ``report --compare-rule`` (None without it): a line on
    page 1 and a column of the commune table."""
    which: dict[str, Any] | None = None
    """None for the month's official analysis; else what the analysis is (``role``
    ``variant`` or ``earlier``, ``name``, ``id``, ``made_at``, ``replaced_at``,
    ``differs``): every page says so (``page_label`` filter)."""
    document: DocumentInfo | None = None
    """The administrative document (issuer, number, date line, addressees, signer);
    set by ``write_report`` for the report's language."""
    period: dict[str, Any] | None = None
    """A report of a period of days: its ``from``, ``to`` and ``days`` (``month`` is
    then its key, ``FROM_TO``); None for a month's."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free room for user templates (empty by default)."""
    five_g_operators: FiveGOperators | None = None
    """Each operator's 5G roll-out (section "5G by operator"; ``report/rollout.py``)."""
    focus: OperatorFocus | None = None
    """The operator of ``report --operator`` and its figures (None: the province report)."""
    commune_operators: list[OperatorBlock] = field(default_factory=list)
    """Per operator, its communes' rows with a verdict (every technology with a target)."""
    conclusions: Conclusions | None = None
    """The findings and recommendations drawn from the tables (``report/conclusions.py``)."""
    commercial_5g: list[str] = field(default_factory=lambda: list(COMMERCIAL_5G))
    """The operators with a commercial 5G network (``[report] commercial_5g``): the 5G
    figures of any other operator are a data question, never judged."""


# -- building -------------------------------------------------------------------------


def build_context(
    store: Store,
    analysis: Analysis,
    *,
    generated_at: datetime | str | None = None,
    compared: tuple[str, dict[str, Any], Any] | None = None,
    commercial_5g: tuple[str, ...] | None = None,
) -> ReportContext:
    """The report context of a stored analysis (and the earlier analyses of the store).

    ``compared`` is ``(preset, rule, verdicts)`` of ``report --compare-rule``: the
    second rule's name, its ``Rule.to_dict()`` and the commune-level verdicts of
    ``analyze.run.rule_verdicts``. ``commercial_5g`` names the operators with a
    commercial 5G network (default :data:`COMMERCIAL_5G`).
    """
    import polars as pl

    stats = analysis.stats
    meta = analysis.meta
    rule = meta.get("rule", {})
    targets = {str(k): float(v) for k, v in rule.get("targets_mbps", {}).items()}
    min_tests = int(rule.get("min_tests", 30))
    min_devices = int(rule.get("min_devices", 5))
    commercial = canonical_operators(COMMERCIAL_5G if commercial_5g is None else commercial_5g)
    previous = None if analysis.role == "period" else _previous_tests(store, analysis.month)

    def assess(row: dict[str, Any]) -> StatRow:
        return assessed(_stat_row(row), commercial, min_tests=min_tests, previous=previous)

    province_rows = _sorted_rows(
        [assess(r) for r in stats.filter(pl.col("level") == "province").to_dicts()]
    )
    by_tech = {r.technology: r for r in province_rows}
    commune_level = [assess(r) for r in stats.filter(pl.col("level") == "commune").to_dicts()]
    commune_4g = {r.commune_code: r for r in commune_level if r.technology == G4}
    commune_all = {r.commune_code: r for r in commune_level if r.technology == ALL}
    other: dict[str, str | None] = {}
    if compared is not None:
        rows = compared[2].filter(pl.col("technology") == G4)
        other = dict(zip(rows["commune_code"].to_list(), rows["verdict"].to_list(), strict=True))
    communes = [
        _commune_row(
            r,
            commune_4g.get(r["commune_code"]),
            min_tests,
            min_devices,
            other,
            cellular=commune_all.get(r["commune_code"]),
        )
        for r in analysis.communes.sort("commune_code").to_dicts()
    ]
    verdicts = verdict_tables(commune_level, targets)
    period = meta.get("period") if analysis.role == "period" else None
    if period is not None:  # a period of days: no trend, no last month (report/period.py)
        from qostool.report.period import period_trend

        trend = period_trend(analysis, targets.get(G4))
    else:
        trend = _trend(store, analysis, targets.get(G4))
    summary = dataclasses.replace(
        _summary(by_tech, communes, verdicts, targets, trend),
        statistic=str(rule.get("statistic", "mean")),
        min_share=float(rule.get("min_share", 0.8)),
    )
    summary = _with_sources(summary, meta.get("sources"))
    if period is not None:
        summary = dataclasses.replace(summary, prev_month="", has_previous=False)

    operator_rows = [assess(r) for r in stats.filter(pl.col("level") == "operator").to_dicts()]
    shown = {*targets, ALL} - {"wifi"}
    operators = _by_operator([r for r in operator_rows if r.technology in shown])
    pair_rows = [
        assess(r)
        for r in stats.filter(
            pl.col("level") == "commune_operator", pl.col("verdict").is_not_null()
        ).to_dicts()
    ]
    commune_operators = [
        OperatorBlock(
            block.operator,
            sorted(block.rows, key=lambda r: (r.commune_code or "", _tech_rank(r.technology))),
        )
        for block in _by_operator(pair_rows)
    ]
    below = [
        OperatorBlock(block.operator, [r for r in block.rows if r.verdict == "below_target"])
        for block in commune_operators
    ]

    g5 = by_tech.get(G5)
    g5_tests = g5.tests if g5 else 0
    five_g = FiveG(
        has_tests=g5_tests > 0,
        tests=g5_tests,
        # Out of citizens' single tests: the tiles' technology is not known.
        share=g5_tests / summary.tests if summary.tests > 0 else None,
        target=targets.get(G5),
        province=g5 if g5_tests > 0 else None,
        communes_with=[c for c in communes if c.has_5g],
        communes_without=[c for c in communes if not c.has_5g],
    )
    population = [c.population for c in communes]
    known_population = (
        None if any(p is None for p in population) else sum(p or 0 for p in population)
    )
    tests_total = sum(c.tests for c in communes)
    adoption = Adoption(
        communes=communes,
        tests=tests_total,
        population=known_population,
        tests_per_1000=tests_total * 1000 / known_population if known_population else None,
    )
    province_code, province_name = _province(store, meta)
    context = ReportContext(
        month=analysis.month,
        generated_at=_generated_at(generated_at, store.timezone),
        province_name=province_name,
        province_code=province_code,
        summary=summary,
        province_rows=province_rows,
        operators=operators,
        communes=communes,
        below=below,
        no_tests=[
            c
            for c in communes
            if c.verdict_4g == "no_tests" or (c.verdict_4g is None and not c.has_tests)
        ],
        insufficient=[c for c in communes if c.verdict_4g == "insufficient_data"],
        inconclusive=[c for c in communes if c.verdict_4g == "inconclusive"],
        five_g=five_g,
        adoption=adoption,
        trend=trend,
        annex=_annex(store, meta, targets),
        warnings=list(meta.get("warnings", [])),
        compared=None if compared is None else _comparison(compared[0], compared[1], communes),
        # A period of days has no months to follow a roll-out over.
        five_g_operators=None
        if period is not None
        else _five_g_operators(store, analysis, communes),
        period=period,
        commune_operators=commune_operators,
        commercial_5g=sorted(commercial),
    )
    from qostool.report.conclusions import derive

    return replace(context, conclusions=derive(context))


def _five_g_operators(
    store: Store, analysis: Analysis, communes: list[CommuneRow]
) -> FiveGOperators:
    """The "5G by operator" section (read here: it needs the earlier months' statistics)."""
    from qostool.report.rollout import five_g_operators

    return five_g_operators(store, analysis, communes)


def _comparison(preset: str, rule: dict[str, Any], communes: list[CommuneRow]) -> Comparison:
    """The counts of the page-1 line of ``report --compare-rule``."""
    judged = [c for c in communes if c.verdict_4g is not None or c.verdict_4g_compared]

    def count(verdict: str) -> int:
        return sum(c.verdict_4g_compared == verdict for c in judged)

    return Comparison(
        rule=preset,
        statistic=str(rule["statistic"]),
        min_tests=int(rule["min_tests"]),
        min_devices=int(rule["min_devices"]),
        total=len(judged),
        meets=count("meets_target"),
        below=count("below_target"),
        insufficient=count("insufficient_data") + count("no_tests"),
        inconclusive=count("inconclusive"),
        differ=sum(c.verdict_4g_compared != c.verdict_4g for c in judged),
    )


def _province(store: Store, meta: dict[str, Any]) -> tuple[str, str]:
    """Code and name of the province, from the boundaries version the analysis used."""
    import polars as pl

    from qostool.errors import QostoolError
    from qostool.geo import versions

    boundaries = meta.get("boundaries", {})
    try:
        artifact = versions.find_version(store, boundaries.get("version"))
        table = pl.read_parquet(
            artifact.path / versions.COMMUNES_FILE, columns=["province_code", "province_name"]
        )
    except (QostoolError, OSError, pl.exceptions.PolarsError):
        return "", str(boundaries.get("province") or "")
    pairs = table.unique().drop_nulls().sort("province_code").rows()
    if len(pairs) != 1:
        return "", str(boundaries.get("province") or "")
    return str(pairs[0][0]), str(pairs[0][1])


def _num(value: Any) -> float | None:
    """A finite float, or None."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def _count(value: Any) -> int | None:
    """A count that may be unknown (kept as None, never shown as 0)."""
    return None if value is None else int(value)


def _stat_row(row: dict[str, Any]) -> StatRow:
    return StatRow(
        level=row["level"],
        commune_code=row.get("commune_code") or None,
        commune_name=row.get("commune_name") or None,
        operator=row.get("operator"),
        technology=row["technology"],
        tests=_int(row.get("tests")),
        tile_tests=_int(row.get("tile_tests")),
        data_period=row.get("data_period"),
        devices_min=_count(row.get("devices_min")),
        devices_max=_int(row.get("devices_max")),
        mean=_num(row.get("download_mean_mbps")),
        median=_num(row.get("download_median_mbps")),
        p10=_num(row.get("download_p10_mbps")),
        p90=_num(row.get("download_p90_mbps")),
        upload_mean=_num(row.get("upload_mean_mbps")),
        upload_median=_num(row.get("upload_median_mbps")),
        latency_median=_num(row.get("latency_median_ms")),
        share_ge_target=_num(row.get("share_ge_target")),
        ci_low=_num(row.get("download_mean_ci_low")),
        ci_high=_num(row.get("download_mean_ci_high")),
        peak_mean=_num(row.get("peak_download_mean_mbps")),
        peak_tests=_int(row.get("peak_tests")),
        target=_num(row.get("target_mbps")),
        statistic=row.get("statistic"),
        statistic_value=_num(row.get("statistic_value")),
        statistic_ci_low=_num(row.get("statistic_ci_low")),
        statistic_ci_high=_num(row.get("statistic_ci_high")),
        verdict=row.get("verdict"),
        prev_mean=_num(row.get("prev_download_mean_mbps")),
        change=_num(row.get("download_mean_change_mbps")),
        prev_data_period=row.get("prev_data_period"),
        change_basis=row.get("change_basis"),
        months_below=_int(row.get("months_below_target")),
    )


def _tech_rank(technology: str) -> int:
    return TECHNOLOGIES.index(technology) if technology in TECHNOLOGIES else len(TECHNOLOGIES)


def _sorted_rows(rows: list[StatRow]) -> list[StatRow]:
    return sorted(rows, key=lambda r: (_tech_rank(r.technology), r.technology))


def _by_operator(rows: list[StatRow]) -> list[OperatorBlock]:
    """Rows grouped per operator: named operators by name, then the unknown one."""
    names = sorted({r.operator for r in rows}, key=lambda o: (o is None, o or ""))
    return [
        OperatorBlock(name, _sorted_rows([r for r in rows if r.operator == name]))
        for name in names
        if name != ALL
    ]


def _commune_row(
    row: dict[str, Any],
    g4: StatRow | None,
    min_tests: int,
    min_devices: int,
    compared: dict[str, str | None],
    *,
    cellular: StatRow | None = None,
) -> CommuneRow:
    tests_4g = _int(row.get("tests_4g"))
    verdict = assessment(row.get("verdict_4g"), tests_4g, G4)
    reasons: list[str] = []
    if verdict == "no_tests":
        reasons.append("no_tests")
    elif verdict == "insufficient_data":
        if tests_4g < min_tests:
            reasons.append("few_tests")
        if g4 is not None:
            # The rule counts devices at least (an old analysis: the only count it has).
            counted = g4.devices_max if g4.devices_min is None else g4.devices_min
            if counted < min_devices:
                reasons.append("few_devices")
        if not reasons:
            reasons.append("no_statistic")
    population = row.get("population")
    tiles = cellular.tile_tests if cellular else 0
    if "tests_mobile_single" in row:
        singles, devices = _int(row["tests_mobile_single"]), _count(row["devices_mobile_single"])
    else:  # an analysis stored before single tests were counted apart
        singles = max(_int(_mobile(row, "tests")) - tiles, 0)
        devices = _count(_mobile(row, "devices", "_max")) if tiles == 0 else None
    people = None if population is None else int(population)
    per_1000 = 1000 / people if people else None
    compared_verdict = compared.get(str(row["commune_code"]))
    return CommuneRow(
        code=str(row["commune_code"]),
        name=str(row["commune_name"]),
        type=row.get("commune_type"),
        population=people,
        tests=singles,
        devices_min=devices,
        devices_max=devices,
        tests_per_1000=None if per_1000 is None else singles * per_1000,
        devices_min_per_1000=None if per_1000 is None or devices is None else devices * per_1000,
        devices_max_per_1000=None if per_1000 is None or devices is None else devices * per_1000,
        has_tests=bool(row.get("has_tests")),
        tests_4g=_int(row.get("tests_4g")),
        devices_4g_min=g4.devices_min if g4 else 0,
        devices_4g_max=g4.devices_max if g4 else 0,
        mean_4g=_num(row.get("download_mean_4g_mbps")),
        median_4g=g4.median if g4 else None,
        ci_low_4g=g4.ci_low if g4 else None,
        ci_high_4g=g4.ci_high if g4 else None,
        verdict_4g=verdict,
        data_period_4g=g4.data_period if g4 else None,
        verdict_4g_compared=assessment(compared_verdict, tests_4g, G4),
        prev_mean_4g=g4.prev_mean if g4 else None,
        change_4g=g4.change if g4 else None,
        change_basis_4g=g4.change_basis if g4 else None,
        months_below_4g=g4.months_below if g4 else 0,
        thin_reasons=reasons,
        tests_5g=_int(row.get("tests_5g")),
        # Out of the single tests: the tiles' technology is not known.
        share_5g=_int(row.get("tests_5g")) / singles if singles else None,
        mean_5g=_num(row.get("download_mean_5g_mbps")),
        median_5g=_num(row.get("download_median_5g_mbps")),
        has_5g=bool(row.get("has_5g")),
        tile_tests=tiles,
    )


def _mobile(row: dict[str, Any], name: str, bound: str = "") -> Any:
    """A commune's mobile ``tests`` or devices (``bound`` ``_min`` or ``_max``); an
    analysis made before the networks were counted apart has only the column of
    both together."""
    mobile = f"{name}_mobile{bound}"
    return row[mobile] if mobile in row else row.get(f"{name}{bound}")


def verdict_tables(rows: list[StatRow], targets: dict[str, float]) -> list[VerdictTable]:
    """Communes per assessment (``rows``: assessed commune-level rows), for each
    technology whose target is a minimum (:data:`MINIMUM_TECHNOLOGIES`); a reference
    level's comparisons are not verdicts and are not counted as such."""
    technologies = [t for t in MINIMUM_TECHNOLOGIES if t in targets]
    tables = []
    for tech in technologies:
        shown = [r.verdict for r in rows if r.technology == tech]
        counts = [VerdictCount(v, shown.count(v)) for v in ASSESSMENTS]
        tables.append(VerdictTable(tech, targets.get(tech), counts, sum(c.count for c in counts)))
    return tables


def canonical_operators(names: tuple[str, ...] | list[str]) -> set[str]:
    """Operators' names as the store writes them: ``VNPT`` -> ``VNPT-VinaPhone``
    (the names ingest recognises; any other kept as given)."""
    from qostool.ingest.normalize import OPERATOR_BY_NAME, fold

    return {OPERATOR_BY_NAME.get(fold(name), name.strip()) for name in names}


def assessment(
    verdict: str | None,
    tests: int,
    technology: str,
    operator: str | None = ALL,
    commercial: set[str] | None = None,
) -> str | None:
    """What the report shows for a group: its stored verdict, told apart when it has
    no test at all (``no_tests``); against a reference level (5G) a comparison, never
    a verdict; 5G figures of an operator without a commercial 5G network
    (``commercial``, when given) ``unverified``, whatever its verdict."""
    named = operator not in (None, ALL)
    if technology == G5 and named and commercial is not None and operator not in commercial:
        return UNVERIFIED if tests > 0 else None
    if verdict is None:
        return None
    if verdict == "insufficient_data" and tests == 0:
        return "no_tests"
    if technology not in MINIMUM_TECHNOLOGIES:
        return REFERENCE.get(verdict, verdict)
    return verdict


def assessed(
    row: StatRow,
    commercial: set[str],
    *,
    min_tests: int | None = None,
    previous: dict[tuple[str, str | None, str | None, str], int] | None = None,
) -> StatRow:
    """A stored row as the report shows it: its :func:`assessment`; an interval's lower
    end at least 0 (an analysis stored before the intervals were taken on the log
    scale could hold a negative one; a speed's mean is never below 0, so the cut
    interval holds it whenever the stored one did); no change when either month has
    fewer than ``min_tests`` tests (``previous``: last month's tests per group, from
    its stored analysis, when there is one)."""
    change, basis = row.change, row.change_basis
    if min_tests is not None and change is not None:
        key = (row.level, row.commune_code, row.operator, row.technology)
        before = None if previous is None else previous.get(key)
        if row.tests < min_tests or (before is not None and before < min_tests):
            change, basis = None, "few_tests"
    return replace(
        row,
        verdict=assessment(row.verdict, row.tests, row.technology, row.operator, commercial),
        ci_low=_floor(row.ci_low),
        statistic_ci_low=_floor(row.statistic_ci_low),
        change=change,
        change_basis=basis,
    )


def _floor(value: float | None) -> float | None:
    return None if value is None else max(value, 0.0)


def _previous_tests(
    store: Store, month: str
) -> dict[tuple[str, str | None, str | None, str], int] | None:
    """Each group's tests in last month's stored analysis (None: not analysed)."""
    from qostool.analyze.run import KIND, load_analysis
    from qostool.errors import QostoolError

    before = shift_month(month, -1)
    try:
        if not store.artifacts(KIND, before):
            return None
        stats = load_analysis(store, before).stats
    except (QostoolError, OSError):
        return None
    keys = stats.select("level", "commune_code", "operator", "technology", "tests")
    return {
        (level, code or None, operator, technology): int(tests or 0)
        for level, code, operator, technology, tests in keys.iter_rows()
    }


def _with_sources(summary: Summary, stored: list[dict[str, Any]] | None) -> Summary:
    """The month's sources (``analysis.json`` ``sources``), single tests first; the
    devices of single tests added over the sources."""
    if not stored:
        return summary
    sources = sorted(
        (
            SourceCount(
                source=str(item["source"]),
                aggregate=bool(item["aggregate"]),
                network=str(item["network"]),
                rows=int(item["rows"]),
                tests=int(item["tests"]),
                devices=None if item.get("devices") is None else int(item["devices"]),
            )
            for item in stored
        ),
        key=lambda s: (s.aggregate, s.network != "mobile", -s.tests, s.source),
    )
    singles = [s for s in sources if not s.aggregate and s.network == "mobile"]
    tiles = [s for s in sources if s.aggregate and s.network == "mobile"]
    devices = sum(s.devices or 0 for s in singles)
    return dataclasses.replace(
        summary,
        sources=sources,
        devices=devices,
        # The devices of citizens' tests, exact: the tiles' are another app's.
        devices_min=devices,
        devices_max=devices,
        tile_rows=sum(s.rows for s in tiles),
    )


def _summary(
    by_tech: dict[str, StatRow],
    communes: list[CommuneRow],
    verdicts: list[VerdictTable],
    targets: dict[str, float],
    trend: Trend,
) -> Summary:
    cellular = by_tech.get(ALL)
    wifi = by_tech.get("wifi")
    g4 = next((t for t in verdicts if t.technology == G4), None)
    with_tests = sum(c.has_tests for c in communes)
    # The data period before this one: the trend's previous point, if it ends the
    # month before this point's first month (a quarter of tiles is one point).
    previous = None
    if len(trend.points) > 1:
        first = trend.points[-1].months[0]
        candidate = trend.points[-2]
        previous = candidate if candidate.month == shift_month(first, -1) else None
    current = trend.points[-1].months[0] if trend.points else ""
    # Rows of a known technology: without any (tiles only), there is no 4G verdict.
    known = [r for t, r in by_tech.items() if t not in (ALL, "unknown", "wifi")]
    return Summary(
        tests=cellular.tests - cellular.tile_tests if cellular else 0,
        tile_tests=cellular.tile_tests if cellular else 0,
        devices_min=cellular.devices_min if cellular else 0,
        devices_max=cellular.devices_max if cellular else 0,
        wifi_tests=wifi.tests if wifi else 0,
        communes_total=len(communes),
        communes_with_tests=with_tests,
        communes_without_tests=len(communes) - with_tests,
        target_4g=targets.get(G4),
        meets_4g=g4.count("meets_target") if g4 else 0,
        below_4g=g4.count("below_target") if g4 else 0,
        insufficient_4g=g4.count("insufficient_data") if g4 else 0,
        inconclusive_4g=g4.count("inconclusive") if g4 else 0,
        verdicts=verdicts,
        verdict_names=list(ASSESSMENTS),
        has_previous=any(r.prev_mean is not None for r in by_tech.values()),
        data_period=cellular.data_period if cellular else None,
        prev_month=previous.month if previous else (shift_month(current, -1) if current else ""),
        prev_period=previous.period if previous else None,
        prev_tests=previous.single_tests if previous else None,
        per_technology=not (cellular and cellular.tests > 0) or any(r.tests > 0 for r in known),
        mean_all=cellular.mean if cellular else None,
        no_tests_4g=g4.count("no_tests") if g4 else 0,
    )


def _trend_point(analysis: Analysis) -> TrendPoint:
    import polars as pl

    province = {
        r["technology"]: _stat_row(r)
        for r in analysis.stats.filter(pl.col("level") == "province").to_dicts()
    }
    g4 = analysis.verdict_counts().get(G4, {})
    cellular, p4, p5 = province.get(ALL), province.get(G4), province.get(G5)
    period = cellular.data_period if cellular else None
    return TrendPoint(
        month=analysis.month,
        months=[analysis.month],
        period=period,
        quarterly=period is not None and "+" not in period and "-Q" in period,
        tests=cellular.tests if cellular else 0,
        mean_4g=p4.mean if p4 else None,
        median_4g=p4.median if p4 else None,
        mean_5g=p5.mean if p5 and p5.tests > 0 else None,
        meets_4g=int(g4.get("meets_target", 0)),
        below_4g=int(g4.get("below_target", 0)),
        communes_with_tests=int(analysis.communes["has_tests"].sum()),
        boundaries=str(analysis.meta.get("boundaries", {}).get("version", "")),
        tile_tests=cellular.tile_tests if cellular else 0,
    )


def _trend(store: Store, analysis: Analysis, target_4g: float | None) -> Trend:
    """The report month and every stored analysis of the 11 months before it."""
    from qostool.analyze.run import KIND, load_analysis

    window = {shift_month(analysis.month, -back) for back in range(1, TREND_MONTHS)}
    earlier = sorted({a.key for a in store.artifacts(KIND)} & window)
    points = [_trend_point(load_analysis(store, month)) for month in earlier]
    points = _one_point_per_quarter([*points, _trend_point(analysis)])
    return Trend(
        points=points,
        has_history=len(points) > 1,
        same_boundaries=len({p.boundaries for p in points}) == 1,
        target_4g=target_4g,
    )


def _one_point_per_quarter(points: list[TrendPoint]) -> list[TrendPoint]:
    """The trend with consecutive months of a quarter's tiles alone as one point.

    Those months rest on the same tiles: their figures are one quarter's, and
    showing them once per month would triple the quarter's tests in the trend. The
    point takes the figures of its latest month's analysis (the report month's,
    when it is one of them) and lists every month it stands for.
    """
    merged: list[TrendPoint] = []
    for point in points:
        last = merged[-1] if merged else None
        if (
            last is not None
            and point.quarterly
            and last.period == point.period
            and shift_month(last.month, 1) == point.months[0]
        ):
            merged[-1] = replace(point, months=[*last.months, *point.months])
        else:
            merged.append(point)
    return merged


def _annex(store: Store, meta: dict[str, Any], targets: dict[str, float]) -> Annex:
    catalog = {f.sha256: f for f in store.files()}
    inputs = []
    rejects: dict[str, int] = {}
    for item in sorted(meta.get("inputs", []), key=lambda i: PurePath(str(i["file"])).name):
        record = catalog.get(item["sha256"])
        inputs.append(
            InputFile(
                name=PurePath(str(item["file"])).name,
                format=item.get("format"),
                sha256=str(item["sha256"]),
                rows_read=record.rows_read if record else None,
                accepted=record.accepted if record else None,
                rejected=record.rejected if record else None,
                duplicates=record.duplicates if record else None,
                months=list(record.months) if record else [],
            )
        )
        for reason, n in (record.reasons if record else {}).items():
            rejects[reason] = rejects.get(reason, 0) + int(n)
    totals = {
        key: sum(getattr(f, key) or 0 for f in inputs)
        for key in ("rows_read", "accepted", "rejected", "duplicates")
    }
    rule = meta.get("rule", {})
    boundaries = meta.get("boundaries", {})
    bursts = meta.get("bursts", {})
    return Annex(
        inputs=inputs,
        input_totals=totals,
        rejects=[Count(k, v) for k, v in sorted(rejects.items())],
        counts=[Count(str(k), int(v)) for k, v in meta.get("counts", {}).items()],
        targets=[Target(t, v) for t, v in sorted(targets.items(), key=lambda i: _tech_rank(i[0]))],
        statistic=str(rule.get("statistic", "mean")),
        min_tests=int(rule.get("min_tests", 30)),
        min_devices=int(rule.get("min_devices", 5)),
        min_share=float(rule.get("min_share", 0.8)),
        confidence=float(rule.get("confidence", 0.95)),
        peak_hours=[int(h) for h in rule.get("peak_hours", [19, 22])],
        tolerance_m=_num(meta.get("tolerance_m")),
        bursts_deduplicated=bool(bursts.get("deduplicated", False)),
        boundaries_version=str(boundaries.get("version", "")),
        boundaries_communes=int(boundaries.get("communes", 0)),
        boundaries_credit=boundaries.get("credit") or None,
        # The name alone: the folder is the analyst's machine's, not the report's.
        boundaries_file=PurePath(str(boundaries.get("source", ""))).name,
        tool_version_analysis=str(meta.get("tool_version", "")),
        tool_version_report=__version__,
        analysed_at=_local(str(meta.get("generated_at", "")), store.timezone),
        timezone=str(meta.get("timezone", store.timezone)),
        quarter_of_tiles=meta.get("quarter_of_tiles"),
        history_months=int(meta.get("history_months", 0)),
    )


def _local(moment: str, timezone: str) -> str:
    """An ISO datetime in the store's time zone (kept as given when it cannot be read)."""
    from zoneinfo import ZoneInfo

    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        return moment
    if parsed.tzinfo is None:
        return moment
    return parsed.astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds")


def _generated_at(value: datetime | str | None, timezone: str) -> str:
    """The report's date: an ISO date kept as given, a datetime in the store's time zone."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)
    if value is None:
        return datetime.now(UTC).astimezone(zone).isoformat(timespec="seconds")
    if isinstance(value, str):
        return value
    moment = value if value.tzinfo else value.replace(tzinfo=zone)
    return moment.astimezone(zone).isoformat(timespec="seconds")
