"""What a report of a period of days does differently from a month's.

A period's report uses the month's context and templates (``report --from
--to``); only what rests on months changes:

- the trend compares months: a period has none, and the report says why;
- the checks before writing (``preflight``) that compare with last month
  (``same_boundaries``, ``communes_kept``) are skipped with the reason, and
  ``month_over`` becomes ``period_over`` (the last day is over in the store's
  time zone); ``up_to_date`` looks at the files of the period's months.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from qostool.report.preflight import Check, _configured_rule, _inside_boundaries, _now

if TYPE_CHECKING:
    from qostool.analyze.period import Period
    from qostool.analyze.run import Analysis
    from qostool.report.context import Trend
    from qostool.store import Store

#: Why the checks against last month are not made for a period.
NOT_A_MONTH = "skipped: a period of days is not compared with last month"


def period_trend(analysis: Analysis, target_4g: float | None) -> Trend:
    """The trend of a period: its one point, and no history (months are not its kind)."""
    from qostool.report.context import Trend, _trend_point

    return Trend(
        points=[_trend_point(analysis)],
        has_history=False,
        same_boundaries=True,
        target_4g=target_4g,
    )


def period_checks(
    store: Store, analysis: Analysis, terms: dict[str, Any] | None = None
) -> list[Check]:
    """The checks before a period's report, in the order of a month's."""
    return [
        Check("official", "ok", f"the analysis of the period {_words(analysis.month)}"),
        _configured_rule(analysis, terms),
        _up_to_date(store, analysis),
        _inside_boundaries(analysis),
        Check("same_boundaries", "ok", NOT_A_MONTH),
        Check("communes_kept", "ok", NOT_A_MONTH),
        _period_over(store, analysis.month),
    ]


def _words(key: str) -> str:
    return key.replace("_", " to ")


def _period(key: str) -> Period:
    from qostool.analyze.period import period_of_key

    period = period_of_key(key)
    assert period is not None, key
    return period


def _up_to_date(store: Store, analysis: Analysis) -> Check:
    """Out of date when a file with tests of the period's months, or a newer boundaries
    version, came after the analysis was made."""
    from qostool.geo.versions import KIND as BOUNDARIES

    period = _period(analysis.month)
    months = set(period.months())
    used = {i["sha256"] for i in analysis.meta.get("inputs", [])}
    new_files = [f for f in store.files() if months & set(f.months) and f.sha256 not in used]
    versions = store.artifacts(BOUNDARIES)
    made = str(analysis.meta.get("generated_at", ""))
    version = analysis.meta.get("boundaries", {}).get("version")
    newer = bool(versions) and versions[0].key != version and versions[0].created_at > made
    reasons = [f"{len(new_files)} file(s) with tests of these days ingested since"] * bool(
        new_files
    ) + [f"newer boundaries {versions[0].key} imported since"] * newer
    if not reasons:
        return Check("up_to_date", "ok", "the analysis is up to date")
    return Check(
        "up_to_date",
        "failed",
        f"the analysis is out of date: {'; '.join(reasons)}; run 'qostool analyze --from "
        f"{period.start.isoformat()} --to {period.end.isoformat()}' again",
        {"new_files": len(new_files), "new_boundaries": versions[0].key if newer else None},
    )


def _period_over(store: Store, key: str) -> Check:
    period = _period(key)
    zone = ZoneInfo(store.timezone)
    after = period.end + timedelta(days=1)
    end = datetime(after.year, after.month, after.day, tzinfo=zone).astimezone(UTC)
    if _now() >= end:
        return Check("period_over", "ok", f"the period {_words(key)} is over")
    return Check(
        "period_over",
        "warning",
        f"the period {_words(key)} is not over yet ({store.timezone}): the report is preliminary",
        {"month": key, "timezone": store.timezone},
    )
