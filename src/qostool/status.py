"""``qostool status``: what a store holds, and what is out of date.

Read only (no lock). Staleness is decided from stored facts, not from file times:

- an analysis is stale when a file ingested for its month (or its quarter's
  tiles) is not among the inputs its ``analysis.json`` lists (for an analysis
  made by ``qostool run``: among the inputs ``run`` recorded, which include the
  months of the trend, as ``run`` decides), or when a newer boundaries version
  was imported after it;
- a report is stale when the analysis it was rendered from (as recorded by
  ``qostool run``) is no longer the month's stored analysis, or its files are gone.

Reports written by ``qostool report`` by hand are not recorded, so they are not shown.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from qostool.months import months_read
from qostool.store import Artifact, FileRecord, Store


@dataclass(frozen=True)
class MonthStatus:
    """One reporting month of the store."""

    month: str
    rows: int
    """Stored rows (a tile row stands for many tests)."""
    tests: int
    """Tests the rows stand for (rows weighted)."""
    files: int
    """Ingested files with rows in this month."""
    last_ingest: str | None
    analysed_at: str | None = None
    boundaries: str | None = None
    analysis_stale: str | None = None
    """Why the stored analysis is out of date (None: up to date, or none)."""
    reported_at: str | None = None
    report_files: list[str] = field(default_factory=list)
    report_stale: str | None = None
    earlier_analyses: int = 0
    """Official analyses of the month that a newer one replaced (kept)."""
    variants: list[str] = field(default_factory=list)
    """Names of the month's variants (what-if analyses)."""


@dataclass(frozen=True)
class SourceStatus:
    """Ingested files of one source format."""

    format: str
    files: int
    accepted: int
    rejected: int
    last_ingest: str


@dataclass(frozen=True)
class StoreStatus:
    """The whole store at a glance."""

    store: str
    timezone: str
    months: list[MonthStatus]
    sources: list[SourceStatus]
    boundaries: list[dict[str, Any]]
    """Versions, newest first: ``version``, ``imported_at``, ``communes``."""
    last_ingest: str | None
    last_run: dict[str, Any] | None
    """``started_at``, ``finished_at``, ``month``, ``did_something`` and each step's action."""
    held_files: list[dict[str, Any]] = field(default_factory=list)
    """Inbox files set aside by ``run`` because they could not be read: ``file``,
    ``reason``, ``held_at``; tried again when they change."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def store_status(store: Store) -> StoreStatus:
    """Months, sources, boundaries, the last run, and what is stale."""
    import polars as pl

    from qostool.analyze.run import KIND, VARIANT_KIND
    from qostool.geo.versions import KIND as BOUNDARIES
    from qostool.run import ANALYSIS_STEP, REPORT_STEP

    files = store.files()
    counts = (
        store.scan_tests()
        .group_by("month")
        .agg(rows=pl.len(), tests=pl.col("weight").sum())
        .collect()
    )
    by_month = {row["month"]: row for row in counts.iter_rows(named=True)}
    officials = store.artifacts(KIND)  # newest first: the first of a month is its own
    results: dict[str, Artifact] = {}
    for artifact in officials:
        results.setdefault(artifact.key, artifact)
    variants: dict[str, list[str]] = {}
    for artifact in store.artifacts(VARIANT_KIND):
        variants.setdefault(artifact.key, []).append(str(artifact.meta.get("name")))
    versions = store.artifacts(BOUNDARIES)
    reports = store.steps(REPORT_STEP)
    analyses = store.steps(ANALYSIS_STEP)
    months = []
    for month in sorted(set(by_month) | set(results) | set(variants)):
        touching = [f for f in files if month in f.months]
        row = by_month.get(month, {"rows": 0, "tests": 0})
        status: dict[str, Any] = {
            "month": month,
            "rows": int(row["rows"]),
            "tests": int(row["tests"] or 0),
            "files": len(touching),
            "last_ingest": max((f.ingested_at for f in touching), default=None),
            "earlier_analyses": sum(a.key == month for a in officials) - (month in results),
            "variants": sorted(variants.get(month, [])),
        }
        analysis = results.get(month)
        if analysis is not None:
            staleness = analysis_staleness(store, analysis, files, versions, analyses)
            status |= {
                "analysed_at": analysis.created_at,
                "boundaries": staleness.boundaries,
                "analysis_stale": "; ".join(staleness.reasons()) or None,
            }
        if month in reports:
            done_at, facts = reports[month]
            report_stale = None
            if analysis is None or facts.get("results") != _relative(store, analysis.path):
                report_stale = "the analysis changed after the report"
            elif not all(Path(p).is_file() for p in facts.get("files", [])):
                report_stale = "report files are missing"
            status |= {
                "reported_at": done_at,
                "report_files": list(facts.get("files", [])),
                "report_stale": report_stale,
            }
        months.append(MonthStatus(**status))
    return StoreStatus(
        store=str(store.root),
        timezone=store.timezone,
        months=months,
        sources=_sources(files),
        boundaries=[
            {"version": a.key, "imported_at": a.created_at, "communes": a.meta.get("communes")}
            for a in versions
        ],
        last_ingest=max((f.ingested_at for f in files), default=None),
        last_run=_last_run(store),
        held_files=[
            {"file": h.path, "reason": h.reason, "held_at": h.held_at}
            for h in store.held_files().values()
        ],
    )


@dataclass(frozen=True)
class Staleness:
    """What changed since a month's stored analysis was made."""

    boundaries: str | None
    """The boundaries version the analysis used."""
    new_files: list[str]
    """Names of the files ingested since, with tests the analysis would read."""
    new_boundaries: str | None
    """A boundaries version imported since, if any."""

    def reasons(self) -> list[str]:
        found = []
        if self.new_files:
            found.append(f"{len(self.new_files)} file(s) ingested after the analysis")
        if self.new_boundaries:
            found.append(f"boundaries {self.new_boundaries} imported after the analysis")
        return found


def analysis_staleness(
    store: Store,
    analysis: Artifact,
    files: list[FileRecord] | None = None,
    versions: list[Artifact] | None = None,
    analyses: dict[str, tuple[str, dict[str, Any]]] | None = None,
) -> Staleness:
    """Whether the stored analysis of a month is out of date, and why (for status and report).

    The analysis is out of date when a file with tests it would read was ingested
    after it (for an analysis made by ``qostool run``, whose record lists the
    trend's months' files too, the files of those months count), or a newer
    boundaries version was imported after it.
    """
    from qostool.analyze.run import META_FILE
    from qostool.geo.versions import KIND as BOUNDARIES
    from qostool.run import ANALYSIS_STEP, HISTORY_MONTHS

    month = analysis.key
    files = store.files() if files is None else files
    versions = store.artifacts(BOUNDARIES) if versions is None else versions
    analyses = store.steps(ANALYSIS_STEP) if analyses is None else analyses
    meta = json.loads((analysis.path / META_FILE).read_text(encoding="utf-8"))
    read = months_read(month, int(meta.get("history_months", 0)))
    inputs = [f for f in files if read & set(f.months)]
    used = {i["sha256"] for i in meta.get("inputs", [])}
    recorded = analyses.get(month, ("", {}))[1]
    if recorded.get("results") == _relative(store, analysis.path):
        # Made by 'qostool run': its record lists the trend's months' files too.
        read = months_read(month, HISTORY_MONTHS)
        inputs = [f for f in files if read & set(f.months)]
        used = set(recorded.get("inputs", []))
    boundaries = meta.get("boundaries", {}).get("version")
    made = analysis.created_at
    newer = (
        versions[0].key
        if versions
        and versions[0].key != boundaries
        and versions[0].created_at > analysis.created_at
        else None
    )
    return Staleness(
        boundaries=boundaries,
        # Ingested after it: an analysis made by an older qostool listed only the month's
        # own files, so an earlier file of a history month is not news.
        new_files=[
            f.name
            for f in inputs
            if f.sha256 not in used
            and datetime.fromisoformat(f.ingested_at) >= datetime.fromisoformat(made)
        ],
        new_boundaries=newer,
    )


def _relative(store: Store, path: Path) -> str:
    return path.relative_to(store.root).as_posix()


def _sources(files: list[Any]) -> list[SourceStatus]:
    out: dict[str, dict[str, Any]] = {}
    for f in files:
        name = f.format or "unknown"
        entry = out.setdefault(
            name, {"format": name, "files": 0, "accepted": 0, "rejected": 0, "last_ingest": ""}
        )
        entry["files"] += 1
        entry["accepted"] += f.accepted
        entry["rejected"] += f.rejected
        entry["last_ingest"] = max(entry["last_ingest"], f.ingested_at)
    return [SourceStatus(**entry) for _, entry in sorted(out.items())]


def _last_run(store: Store) -> dict[str, Any] | None:
    found = store.last_run()
    if found is None:
        return None
    started, finished, summary = found
    return {
        "started_at": started,
        "finished_at": finished,
        "month": summary.get("month"),
        "did_something": summary.get("did_something"),
        "steps": {s["step"]: s["action"] for s in summary.get("steps", [])},
    }
