"""Checks made before ``report`` writes anything: a report is never sent by mistake.

Each check is ``ok``, ``failed`` (the report is refused, exit code 5, unless
``--force``) or ``warning`` (the report is written, and says so on page 1):

- ``official`` (warning): the report is of a variant or of an earlier official
  analysis (``report --analysis``), not of the month's official analysis; every
  page of the report says so too;
- ``configured_rule`` (fails): the official analysis was made with another rule,
  tolerance or burst setting than the configuration (defaults < ``qostool.toml``
  < ``QOSTOOL_*``) and not made official on purpose (``analyze --official``); a
  warning, naming the differences, for a variant or an analysis made official on
  purpose;
- ``up_to_date`` (fails): tests or boundaries changed since the analysis was made;
- ``inside_boundaries`` (fails): more than half of the month's single tests fell
  outside the boundaries;
- ``same_boundaries`` (fails): the boundaries version differs from the one last
  month's analysis used, so the two months do not compare;
- ``communes_kept`` (warning): communes with no test this month that had tests
  last month;
- ``month_over`` (warning): the month is not over yet in the store's time zone,
  so the report is preliminary.

With ``--force``, every failed check and every warning is named on page 1 of
every format (the context's ``warnings``); without it, warnings alone are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from qostool.analyze.run import (
    KIND,
    OFFICIAL,
    VARIANT_KIND,
    Analysis,
    describe_differences,
    load_analysis,
    made_terms,
    term_differences,
)
from qostool.errors import ExitCode, QostoolError
from qostool.months import shift_month
from qostool.store import Store

Status = Literal["ok", "failed", "warning"]
#: Names of lost communes given in a message before "...".
_NAMED: Final = 5


class PreflightError(QostoolError):
    """A check before ``report`` failed: the report was not written."""

    exit_code = ExitCode.PREFLIGHT

    def __init__(self, message: str, *, hint: str | None, checks: list[Check]) -> None:
        super().__init__(message, hint=hint)
        self.checks = checks


@dataclass(frozen=True)
class Check:
    """One check before the report, its outcome and its numbers."""

    name: str
    status: Status
    message: str
    """What was found, in English (terminal, ``--json``, logs)."""
    data: dict[str, Any] = field(default_factory=dict)
    """The numbers the report puts in words on page 1."""

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "status": self.status, "message": self.message, **self.data}


def _now() -> datetime:
    return datetime.now(UTC)


def preflight(store: Store, analysis: Analysis, terms: dict[str, Any] | None = None) -> list[Check]:
    """Every check of the report of ``analysis``'s month, in a fixed order.

    ``terms`` are the configured terms of an analysis (``run.analysis_terms`` of the
    settings); without them, the ``configured_rule`` check passes.
    """
    return [
        _official(analysis, store.timezone),
        _configured_rule(analysis, terms),
        _up_to_date(store, analysis),
        _inside_boundaries(analysis),
        *_against_last_month(store, analysis),
        _month_over(store, analysis.month),
    ]


def local_time(moment: str | None, timezone: str) -> str | None:
    """A stored UTC time in the store's time zone, to the minute (None stays None)."""
    if moment is None:
        return None
    local = datetime.fromisoformat(moment).astimezone(ZoneInfo(timezone))
    return local.isoformat(timespec="minutes")


def analysis_identity(analysis: Analysis, timezone: str) -> dict[str, Any]:
    """What the report says of an analysis that is not the month's official one."""
    return {
        "role": analysis.role,
        "name": analysis.name,
        "id": analysis.id,
        "made_at": local_time(analysis.meta["generated_at"], timezone),
        "replaced_at": local_time(analysis.replaced_at, timezone),
        "differs": analysis.differs,
    }


def _official(analysis: Analysis, timezone: str) -> Check:
    if analysis.role == OFFICIAL:
        return Check("official", "ok", f"the official analysis of {analysis.month}")
    data = analysis_identity(analysis, timezone)
    if analysis.role == "variant":
        what = f"the variant {analysis.name} (id {analysis.id}, made {data['made_at']})"
    else:
        what = (
            f"an earlier official analysis (id {analysis.id}, made {data['made_at']}), "
            f"replaced on {analysis.replaced_at}"
        )
    return Check(
        "official",
        "warning",
        f"this report is of {what}, not the official analysis of {analysis.month}; every page "
        "says so",
        data,
    )


def _configured_rule(analysis: Analysis, terms: dict[str, Any] | None) -> Check:
    if analysis.role == "variant":
        differs = analysis.differs
        return Check(
            "configured_rule",
            "warning" if differs else "ok",
            f"the variant differs from the configuration: {describe_differences(differs)}"
            if differs
            else "the variant was made with the configured rule",
            {"differs": differs, "kind": "variant"} if differs else {},
        )
    if terms is None:
        return Check("configured_rule", "ok", "no configured rule to compare with")
    made = made_terms(analysis.meta)
    differs = term_differences({k: made[k] for k in terms}, terms)
    if not differs:
        return Check("configured_rule", "ok", "the analysis was made with the configured rule")
    if analysis.differs and analysis.meta.get("official"):
        return Check(
            "configured_rule",
            "warning",
            "the analysis was made official on purpose (--official) with other terms than the "
            f"configuration: {describe_differences(differs)}",
            {"differs": differs, "kind": "chosen"},
        )
    return Check(
        "configured_rule",
        "failed",
        f"the analysis was made with other terms than the configuration ("
        f"{describe_differences(differs)}): not the month's analysis; run 'qostool analyze "
        f"--month {analysis.month}' without rule options, make it official on purpose with "
        "--official, or change qostool.toml",
        {"differs": differs},
    )


def _up_to_date(store: Store, analysis: Analysis) -> Check:
    from qostool.status import analysis_staleness

    kind = VARIANT_KIND if analysis.role == "variant" else KIND
    artifact = next(a for a in store.artifacts(kind, analysis.month) if a.path == analysis.path)
    staleness = analysis_staleness(store, artifact)
    reasons = staleness.reasons()
    if not reasons:
        return Check("up_to_date", "ok", "the analysis is up to date")
    return Check(
        "up_to_date",
        "failed",
        f"the analysis is out of date: {'; '.join(reasons)}; run 'qostool analyze --month "
        f"{analysis.month}' again",
        {"new_files": len(staleness.new_files), "new_boundaries": staleness.new_boundaries},
    )


def _inside_boundaries(analysis: Analysis) -> Check:
    found = [w for w in analysis.meta.get("warnings", []) if w["check"] == "outside_boundaries"]
    if not found:
        return Check("inside_boundaries", "ok", "most single tests are inside the boundaries")
    warning = found[0]
    data = {k: warning[k] for k in ("outside_single_tests", "single_tests", "boundaries")}
    return Check("inside_boundaries", "failed", warning["message"], data)


def _against_last_month(store: Store, analysis: Analysis) -> list[Check]:
    previous = shift_month(analysis.month, -1)
    if not store.artifacts(KIND, previous):
        return [
            Check("same_boundaries", "ok", f"no analysis of {previous} to compare with"),
            Check("communes_kept", "ok", f"no analysis of {previous} to compare with"),
        ]
    before = load_analysis(store, previous)
    used = analysis.meta["boundaries"]["version"]
    earlier = before.meta["boundaries"]["version"]
    same = (
        Check("same_boundaries", "ok", f"the boundaries are those of {previous} ({used})")
        if used == earlier
        else Check(
            "same_boundaries",
            "failed",
            f"the boundaries {used} differ from those of {previous}'s analysis ({earlier}): the "
            f"two months do not compare; analyse {previous} again with {used}, or this month "
            f"with --boundaries {earlier}",
            {"boundaries": used, "previous_boundaries": earlier, "previous_month": previous},
        )
    )
    # has_tests: the mobile network's tests (analyses made before the split: any test).
    tested = before.communes.filter(before.communes["has_tests"].fill_null(False))["commune_code"]
    now = analysis.communes
    lost = now.filter(
        ~now["has_tests"].fill_null(False) & now["commune_code"].is_in(tested.to_list())
    )
    if lost.is_empty():
        kept = Check("communes_kept", "ok", f"every commune tested in {previous} has tests")
    else:
        names = lost["commune_name"].cast(str).to_list()
        shown = ", ".join(names[:_NAMED]) + (", ..." if len(names) > _NAMED else "")
        kept = Check(
            "communes_kept",
            "warning",
            f"{len(names)} commune(s) with tests in {previous} have none this month: {shown}",
            {"communes": names, "previous_month": previous},
        )
    return [same, kept]


def _month_over(store: Store, month: str) -> Check:
    zone = ZoneInfo(store.timezone)
    end = datetime.fromisoformat(f"{shift_month(month, 1)}-01T00:00").replace(tzinfo=zone)
    if _now() >= end:
        return Check("month_over", "ok", f"{month} is over")
    return Check(
        "month_over",
        "warning",
        f"{month} is not over yet ({store.timezone}): the report is preliminary",
        {"month": month, "timezone": store.timezone},
    )


def refuse_on_failure(checks: list[Check], month: str) -> None:
    """:class:`PreflightError` naming every failed check (nothing has been written yet)."""
    failed = [c for c in checks if c.status == "failed"]
    if failed:
        raise PreflightError(
            f"report {month}: not written, "
            + ("a check failed: " if len(failed) == 1 else f"{len(failed)} checks failed: ")
            + "; ".join(f"{c.name}: {c.message}" for c in failed),
            hint="fix what the check says; or pass --force to write the report anyway, and "
            "page 1 will name each failed check",
            checks=checks,
        )


def page_one(checks: list[Check]) -> list[dict[str, Any]]:
    """The checks that page 1 names: the failed ones (when forced) and the warnings.

    ``inside_boundaries`` is left out: the analysis's own warning says it already.
    """
    return [
        {**c.to_dict(), "check": f"preflight_{c.name}"}
        for c in checks
        if c.status != "ok" and c.name != "inside_boundaries"
    ]
