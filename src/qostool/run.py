"""``qostool run``: one unattended pass over the inbox, the month's analysis and its report.

Under one store write lock for the whole pass:

1. **ingest** every file of the inbox folder(s) not ingested yet (by content hash),
   leaving ignored files, files still being copied and files set aside after they
   failed (:mod:`qostool.inbox`);
2. **boundaries**: import ``[boundaries] file`` when its content (or the province
   filter) changed since it was last imported;
3. **analyze** the target month (default: the previous month in the store's time
   zone) when its inputs changed since its stored analysis: the ingested files of
   the month, its quarter's tiles and the months of its trend, the boundaries
   version, or the rule;
4. **report**: render the month's report when the analysis or the report options
   changed since the last report, or its files are gone.

What each step was done from is recorded in the store's catalog (``steps`` table),
and each run's summary in its ``runs`` table, so "changed since" is decided from
stored facts, never from file times. Every step commits on its own (a file, an
artifact, the report files, then the step's record), so a run killed at any moment
leaves the store as it was before the unfinished step, and the next run redoes
that step only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from qostool.config import InboxSource, Settings
from qostool.errors import ConfigError, StoreBusyError
from qostool.inbox import InboxFile, InboxScan
from qostool.log import EventLog
from qostool.months import months_read, quarter_start, shift_month
from qostool.store import Store, crash_point

#: Names of the steps recorded in the catalog.
ANALYSIS_STEP: Final = "analysis"
REPORT_STEP: Final = "report"
BOUNDARIES_STEP: Final = "boundaries-file"
#: Months before the target whose tests the analysis uses (the trend and last month).
HISTORY_MONTHS: Final = 12


@dataclass
class StepResult:
    """What one step of the run did."""

    step: str
    """``ingest``, ``boundaries``, ``history`` (the earlier months), ``analyze`` or ``report``."""
    action: str
    """``done``, ``skipped`` or ``failed``."""
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "action": self.action, "reason": self.reason, **self.details}


@dataclass
class RunSummary:
    """What one ``qostool run`` did, and why."""

    store: str
    month: str
    started_at: str
    steps: list[StepResult] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    """The ingest report of each inbox file (new files; others are only counted)."""
    communes_below_target: int | None = None
    """Communes below target in the month's stored analysis (None: not analysed)."""
    failed_files: int = 0
    """Inbox files that failed in this run (set aside until they change)."""
    held_files: list[dict[str, Any]] = field(default_factory=list)
    """Inbox files set aside: those that failed now and those still unchanged."""
    waiting_files: list[dict[str, Any]] = field(default_factory=list)
    """Inbox files left for the next run (still being copied), and why."""
    finished_at: str = ""

    @property
    def did_something(self) -> bool:
        return any(s.action == "done" for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "month": self.month,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "did_something": self.did_something,
            "steps": [s.to_dict() for s in self.steps],
            "files": self.files,
            "failed_files": self.failed_files,
            "held_files": self.held_files,
            "waiting_files": self.waiting_files,
            "communes_below_target": self.communes_below_target,
        }


def default_month(timezone: str, now: datetime | None = None) -> str:
    """The month before ``now`` (default: the current time) in the store's time zone."""
    from zoneinfo import ZoneInfo

    local = (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone))
    return shift_month(f"{local.year:04d}-{local.month:02d}", -1)


def run(
    settings: Settings,
    *,
    month: str | None = None,
    force: bool = False,
    events: EventLog | None = None,
    now: datetime | None = None,
) -> RunSummary:
    """One unattended pass (see the module docstring); returns what was done and why."""
    events = events or EventLog.silent()
    _check_paths(settings)
    month = month or default_month(settings.store.timezone, now)
    store = Store.open(settings.store.path, timezone=settings.store.timezone, create=True)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    summary = RunSummary(store=str(store.root), month=month, started_at=started)
    events.info("run.start", f"run for {month} on store {store.root}", month=month)
    with _locked(store, settings.lock.wait_seconds, events):
        summary.steps.append(_ingest(store, settings, events, summary))
        crash_point("run-ingested")
        boundaries_step, version = _boundaries(store, settings, events)
        summary.steps.append(boundaries_step)
        summary.steps.append(_history(store, settings, month, version=version, events=events))
        summary.steps.append(
            _analyze(store, settings, month, version=version, force=force, events=events)
        )
        summary.steps.append(_report(store, settings, month, force, events))
        summary.communes_below_target = _below_target(store, month)
        summary.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
        store.record_run(started, summary.to_dict())
    events.info(
        "run.done",
        "run finished: " + ("; ".join(f"{s.step} {s.action}" for s in summary.steps)),
        did_something=summary.did_something,
        failed_files=summary.failed_files,
        communes_below_target=summary.communes_below_target,
    )
    return summary


def _check_paths(settings: Settings) -> None:
    """Configured folders and files exist (checked before the lock is taken)."""
    for folder in settings.ingest.inbox:
        if not folder.is_dir():
            raise ConfigError(
                f"[ingest] inbox {str(folder)!r}: no such folder",
                hint="create it, or fix [ingest] inbox (see 'qostool config show')",
            )
    for source in settings.ingest.sources:
        if not source.folder.is_dir():
            raise ConfigError(
                f"[[ingest.source]] folder {str(source.folder)!r}: no such folder",
                hint="create it, or fix the folder of that [[ingest.source]] "
                "(see 'qostool config show')",
            )
        _source_options(source, debug=False)  # a wrong option or mapping: before any work
    file = settings.boundaries.file
    if file is not None and not file.is_file():
        raise ConfigError(
            f"[boundaries] file {str(file)!r}: no such file",
            hint="fix [boundaries] file (see 'qostool config show')",
        )


@contextlib.contextmanager
def _locked(store: Store, wait_seconds: float, events: EventLog) -> Iterator[None]:
    """The store's write lock: first try at once, then log that we wait, then wait."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(store.write_lock(wait_seconds=0))
        except StoreBusyError as exc:
            if wait_seconds <= 0:
                raise
            events.info(
                "lock.wait",
                f"{exc.message}; waiting up to {wait_seconds:g} s",
                wait_seconds=wait_seconds,
            )
            stack.enter_context(store.write_lock(wait_seconds=wait_seconds))
        events.debug("lock.taken", f"holding the write lock of {store.root}")
        yield


# -- steps ------------------------------------------------------------------------------


def _ingest(store: Store, settings: Settings, events: EventLog, summary: RunSummary) -> StepResult:
    from qostool.ingest.pipeline import IngestReport, ingest
    from qostool.ingest.sources import expand

    if not settings.ingest.folders():
        reason = "no inbox folder configured ([ingest] inbox, [[ingest.source]])"
        events.info("ingest.skipped", reason)
        return StepResult("ingest", "skipped", reason)
    scan = _scan_inbox(store, settings, events, summary)
    report = IngestReport(store=str(store.root))
    debug = os.environ.get("QOSTOOL_DEBUG") == "1"
    with events.ingest_progress() as progress:
        for inbox_source, files in _by_source(settings.ingest.sources, scan.files):
            options = _source_options(inbox_source, debug)
            sources = expand([str(f.path) for f in files])
            report.files += ingest(sources, store, options, progress=progress).files
    counts = {"ingested": 0, "already ingested": 0, "empty": 0, "failed": 0}
    for f in report.files:
        counts[f.status] = counts.get(f.status, 0) + 1
        fields = {"file": f.file, "status": f.status, "format": f.format, "months": f.months}
        if f.status == "failed":
            events.error(
                "ingest.failed",
                (f.message or f"{f.file}: failed") + "; set aside until the file changes",
                **fields,
            )
        elif f.status == "already ingested":
            events.debug("ingest.known", f"{f.file}: already ingested", **fields)
        elif f.status == "empty":
            events.info(
                "ingest.empty",
                f"{f.file}: empty ({f.message}); read again by the next run",
                **fields,
            )
        else:
            events.info(
                "ingest.file",
                f"{f.file}: {f.status} ({f.format}), {f.accepted:,} rows accepted, "
                f"{f.rejected:,} rejected, {f.duplicates:,} duplicates",
                **fields,
                accepted=f.accepted,
                rejected=f.rejected,
                duplicates=f.duplicates,
            )
        if f.status in ("ingested", "failed"):
            summary.files.append(f.to_dict())
    _hold_failed(store, scan.files, report.files, summary)
    summary.failed_files = counts["failed"]
    details = {
        "files": len(report.files),
        **{k.replace(" ", "_"): v for k, v in counts.items()},
        "ignored": len(scan.ignored),
        "waiting": len(scan.waiting),
        "held": len(summary.held_files),
    }
    reason, action = _ingest_reason(counts, report.files, scan)
    events.info(f"ingest.{action}", f"ingest: {reason}", **details)
    return StepResult("ingest", action, reason, details)


def _by_source(
    sources: tuple[InboxSource, ...], files: list[InboxFile]
) -> list[tuple[InboxSource | None, list[InboxFile]]]:
    """The files grouped by the ``[[ingest.source]]`` whose folder is the deepest one
    holding them (None: no source's folder holds them: format detection only)."""
    groups: dict[int, list[InboxFile]] = {}
    for file in files:
        holders = [i for i, s in enumerate(sources) if file.path.is_relative_to(s.folder)]
        best = max(holders, key=lambda i: len(sources[i].folder.parts), default=-1)
        groups.setdefault(best, []).append(file)
    return [(sources[i] if i >= 0 else None, groups[i]) for i in sorted(groups)]


def _source_options(source: InboxSource | None, debug: bool) -> Any:
    """The ingest options of a source's files (``ingest.make_options``, checked)."""
    from qostool.ingest import IngestOptions, make_options

    if source is None:
        return IngestOptions(debug=debug)
    return make_options(
        format=source.format,
        mapping=source.mapping,
        map_=source.map,
        unit=source.unit,
        encoding=source.encoding,
        delimiter=source.delimiter,
        decimal=source.decimal,
        period=source.period,
        network=source.network,
        sheet=source.sheet,
        header_row=source.header_row,
        naive_timezone=source.naive_timezone,
        debug=debug,
        where=f"[[ingest.source]] {source.folder}: ",
    )


def _scan_inbox(
    store: Store, settings: Settings, events: EventLog, summary: RunSummary
) -> InboxScan:
    """The inbox's files to ingest; what is ignored, waiting or still set aside is logged."""
    from qostool import inbox as inboxes

    held = store.held_files()
    store.release_files(inboxes.gone(held))
    chosen = settings.ingest
    scan = inboxes.scan(
        chosen.folders(),
        ignore=chosen.ignore,
        settle_seconds=chosen.settle_seconds,
        held=held,
        now=time.time(),
    )
    for path in scan.ignored:
        events.debug("ingest.ignored", f"{path}: ignored ([ingest] ignore)", file=str(path))
    for path, why in scan.waiting:
        events.info("ingest.waiting", f"{path}: left for the next run ({why})", file=str(path))
        summary.waiting_files.append({"file": str(path), "why": why})
    for still in scan.held:
        events.debug(
            "ingest.held", f"{still.path}: still set aside, unchanged ({still.reason})",
            file=still.path,
        )  # fmt: skip
        summary.held_files.append({"file": still.path, "reason": still.reason, "new": False})
    return scan


def _ingest_reason(counts: dict[str, int], files: list[Any], scan: InboxScan) -> tuple[str, str]:
    """The ingest step's reason in words, and its action."""
    new = counts["ingested"]
    known = f"{counts['already ingested']} already ingested"
    if new:
        accepted = sum(f.accepted for f in files)
        reason = f"{new} new file(s), {accepted:,} rows accepted; {known}"
        action = "done"
    elif counts["failed"]:
        reason, action = f"{counts['failed']} file(s) could not be read; {known}", "failed"
    else:
        reason, action = f"no new files ({known})", "skipped"
    if counts["failed"] and new:
        reason += f"; {counts['failed']} file(s) could not be read"
    if counts["failed"]:
        reason += " (set aside until they change)"
    still = len(scan.held)
    if still:
        reason += f"; {still} file(s) still set aside, unchanged"
    if scan.waiting:
        reason += f"; {len(scan.waiting)} file(s) left for the next run (still being copied)"
    if counts["empty"]:
        reason += f"; {counts['empty']} empty file(s)"
    return reason, action


def _hold_failed(
    store: Store, files: list[InboxFile], reports: list[Any], summary: RunSummary
) -> None:
    """Set aside each inbox file with a failed part (its first reason); release the others."""
    from qostool.inbox import belongs_to

    released = []
    for file in files:
        failed = [r for r in reports if r.status == "failed" and belongs_to(r.file, file.path)]
        if not failed:
            released.append(str(file.path))
            continue
        reason = failed[0].message or "could not be read"
        store.hold_file(str(file.path), file.size, file.mtime_ns, reason)
        summary.held_files.append({"file": str(file.path), "reason": reason, "new": True})
    store.release_files(released)


def file_digest(path: Path) -> str:
    """SHA-256 of a boundary file, with its side files (.dbf, .prj, ... of a Shapefile)."""
    digest = hashlib.sha256()
    siblings = sorted(p for p in path.parent.glob(f"{path.stem}.*") if p.is_file())
    for part in [path, *(p for p in siblings if p != path)] if path.suffix == ".shp" else [path]:
        digest.update(part.name.encode() + b"\0")
        with part.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _boundaries(
    store: Store, settings: Settings, events: EventLog
) -> tuple[StepResult, str | None]:
    """Import the boundary file when it changed; the version the analysis should use."""
    chosen = settings.boundaries
    if chosen.file is None:
        reason = (
            f"version {chosen.version} chosen ([boundaries] version)"
            if chosen.version
            else "no boundary file configured; using the latest imported version"
        )
        events.debug("boundaries.skipped", reason)
        return StepResult("boundaries", "skipped", reason), chosen.version
    from qostool.geo.versions import KIND

    key = str(chosen.file.resolve())
    facts: dict[str, Any] = {"sha256": file_digest(chosen.file), "province": chosen.province}
    if chosen.all_provinces:  # recorded only when set, so earlier runs' facts still match
        facts["all_provinces"] = True
    last = store.step(BOUNDARIES_STEP, key)
    if last is not None:
        done_at, known = last
        same = all(known.get(k) == v for k, v in facts.items())
        if same and store.artifacts(KIND, known["version"]):
            version = chosen.version or known["version"]
            reason = f"{chosen.file.name} unchanged since its import on {done_at}"
            events.info("boundaries.skipped", reason, version=known["version"])
            return StepResult("boundaries", "skipped", reason, {"version": version}), version
    from qostool.geo.boundaries import BoundaryOptions
    from qostool.geo.versions import import_boundaries

    with events.step_progress() as progress:
        if progress:
            progress(f"importing {chosen.file.name}")
        options = BoundaryOptions(province=chosen.province, all_provinces=chosen.all_provinces)
        result = import_boundaries(store, chosen.file, options)
    store.record_step(BOUNDARIES_STEP, key, {**facts, "version": result.version})
    crash_point("run-boundaries-recorded")
    if result.already_imported:
        reason = f"{chosen.file.name}: already stored as version {result.version}"
    else:
        reason = f"{chosen.file.name} imported as version {result.version}"
    events.info("boundaries.done", reason, version=result.version, communes=result.report.communes)
    version = chosen.version or result.version
    return StepResult("boundaries", "done", reason, {"version": version}), version


def analysis_facts(store: Store, settings: Settings, month: str, version: str) -> dict[str, Any]:
    """What an analysis of ``month`` is computed from, as recorded with it."""
    read = months_read(month, HISTORY_MONTHS)
    inputs = sorted(f.sha256 for f in store.files() if read & set(f.months))
    return {"inputs": inputs, "boundaries": version, **analysis_terms(settings)}


def analysis_terms(settings: Settings, rule: Any = None) -> dict[str, Any]:
    """The configured terms of an analysis: its rule, tolerance and burst setting.

    What ``qostool run`` records with an analysis, what ``report`` compares the
    stored analysis with (``configured_rule``, see ``report/preflight.py``), and
    what ``analyze`` compares its options with (a variant differs). ``rule``
    replaces the settings' rule (``analyze --target`` adds to it).
    """
    chosen = settings.analyze
    return {
        "rule": (rule or rule_of(settings)).to_dict(),
        "tolerance_m": chosen.tolerance,
        "dedupe_bursts": chosen.dedupe_bursts,
    }


def rule_of(settings: Settings) -> Any:
    """The verdict rule of these settings (``analyze.rules.Rule``)."""
    from qostool.analyze.rules import Rule, Statistic

    chosen = settings.analyze
    return Rule(
        targets=dict(chosen.targets),
        statistic=Statistic(chosen.statistic),
        min_tests=chosen.min_tests,
        min_devices=chosen.min_devices,
        min_share=chosen.min_share,
        confidence=chosen.confidence,
        preset=chosen.rule,
    )


def _relative(store: Store, path: Path) -> str:
    return path.relative_to(store.root).as_posix()


def _why_analyse(store: Store, month: str, facts: dict[str, Any], force: bool) -> str | None:
    """Why the month must be analysed again (None: its stored analysis is up to date)."""
    from qostool.analyze.run import KIND

    if force:
        return "forced (--force)"
    stored = store.artifacts(KIND, month)
    if not stored:
        return "not analysed yet"
    last = store.step(ANALYSIS_STEP, month)
    if last is None or last[1].get("results") != _relative(store, stored[0].path):
        return "the stored analysis was not made by 'qostool run'"
    known = last[1]
    reasons = []
    new = set(facts["inputs"]) - set(known.get("inputs", []))
    if new:
        reasons.append(f"{len(new)} file(s) ingested since")
    if set(known.get("inputs", [])) - set(facts["inputs"]):
        reasons.append("input files removed")
    if known.get("boundaries") != facts["boundaries"]:
        reasons.append(f"boundaries {known.get('boundaries')} -> {facts['boundaries']}")
    from qostool.analyze.rules import stored_rule

    # A rule recorded before presets had a name is the province preset's.
    if stored_rule(known.get("rule", {})) != facts["rule"]:
        reasons.append("verdict rule changed")
    if (known.get("tolerance_m"), known.get("dedupe_bursts")) != (
        facts["tolerance_m"],
        facts["dedupe_bursts"],
    ):
        reasons.append("tolerance or burst setting changed")
    return "; ".join(reasons) or None


def _analyze(
    store: Store,
    settings: Settings,
    month: str,
    *,
    version: str | None,
    force: bool,
    events: EventLog,
) -> StepResult:
    from qostool.analyze.run import AnalyzeOptions, analyze_month
    from qostool.geo.versions import find_version

    if not _has_tests(store, month):
        reason = f"no tests stored for {month}"
        events.warning("analyze.skipped", reason + "; nothing to analyse", month=month)
        return StepResult("analyze", "skipped", reason)
    boundaries = find_version(store, version)
    facts = analysis_facts(store, settings, month, boundaries.key)
    why = _why_analyse(store, month, facts, force)
    if why is None:
        done_at = store.step(ANALYSIS_STEP, month)
        reason = "inputs, boundaries and rule unchanged since the analysis" + (
            f" of {done_at[0]}" if done_at else ""
        )
        events.info("analyze.skipped", f"{month}: {reason}", month=month)
        return StepResult("analyze", "skipped", reason)
    events.info("analyze.start", f"{month}: analysing ({why})", month=month, reason=why)
    options = AnalyzeOptions(
        month=month,
        rule=rule_of(settings),
        boundaries=boundaries.key,
        tolerance_m=settings.analyze.tolerance,
        dedupe_bursts=settings.analyze.dedupe_bursts,
        memory_limit=settings.analyze.memory_limit,
    )
    with events.step_progress() as progress:
        analysis = analyze_month(store, options, progress=progress)
    assert analysis.path is not None
    crash_point("run-analysed")
    store.record_step(ANALYSIS_STEP, month, {**facts, "results": _relative(store, analysis.path)})
    counts = analysis.meta["counts"]
    events.info(
        "analyze.done",
        f"{month}: analysed {counts['tests']:,} tests with boundaries {boundaries.key}",
        month=month,
        tests=counts["tests"],
        boundaries=boundaries.key,
        verdicts=analysis.verdict_counts(),
    )
    return StepResult(
        "analyze", "done", why, {"tests": counts["tests"], "boundaries": boundaries.key}
    )


def _history(
    store: Store, settings: Settings, month: str, *, version: str | None, events: EventLog
) -> StepResult:
    """Analyse the months the report's trend shows, with the month's rule and boundaries.

    The trend and the "last month" figures of a report come from the stored
    analyses of the 12 months before; each is analysed here when it has tests and
    its stored analysis was not made by a run from the same inputs, rule and
    boundaries (as for the month itself), so the trend agrees with the summary.
    """
    done: list[str] = []
    for back in range(HISTORY_MONTHS, 0, -1):
        earlier = shift_month(month, -back)
        if not _has_tests(store, earlier):
            continue
        step = _analyze(store, settings, earlier, version=version, force=False, events=events)
        if step.action == "done":
            done.append(f"{earlier} ({step.reason})")
    if not done:
        reason = "the earlier months with tests are analysed with this rule and boundaries"
        return StepResult("history", "skipped", reason)
    return StepResult("history", "done", "analysed " + "; ".join(done), {"months": len(done)})


def _has_tests(store: Store, month: str) -> bool:
    """Whether the month has single tests, or tiles of its quarter (what analyze reads)."""
    import polars as pl

    from qostool.months import quarter_of

    months = store.months()
    if month in months:
        return True
    if quarter_start(month) not in months:
        return False
    tiles = store.scan_tests([quarter_start(month)]).filter(
        pl.col("aggregate").fill_null(False) & (pl.col("period") == quarter_of(month))
    )
    return bool(tiles.select(pl.len()).collect().item())


def report_facts(store: Store, settings: Settings, results: Path) -> dict[str, Any]:
    """What a report of a month is rendered from, as recorded with it."""
    chosen = settings.report
    return {
        "results": _relative(store, results),
        "languages": list(chosen.languages),
        "formats": list(chosen.formats),
        "out": str(chosen.out.resolve()),
        "document": chosen.document().to_dict(),
    }


def _why_report(store: Store, month: str, facts: dict[str, Any], force: bool) -> str | None:
    if force:
        return "forced (--force)"
    last = store.step(REPORT_STEP, month)
    if last is None:
        return "no report made by 'qostool run' yet"
    known = last[1]
    if known.get("results") != facts["results"]:
        return "the analysis changed since the last report"
    if any(known.get(k) != facts[k] for k in ("languages", "formats", "out", "document")):
        return "report options changed"
    if not all(Path(p).is_file() for p in known.get("files", [])):
        return "report files are missing"
    return None


def _report(
    store: Store, settings: Settings, month: str, force: bool, events: EventLog
) -> StepResult:
    from qostool.analyze.run import KIND
    from qostool.report.write import ReportOptions, write_report

    stored = store.artifacts(KIND, month)
    if not stored:
        reason = f"{month} has no stored analysis"
        events.info("report.skipped", reason, month=month)
        return StepResult("report", "skipped", reason)
    facts = report_facts(store, settings, stored[0].path)
    why = _why_report(store, month, facts, force)
    if why is None:
        reason = "analysis and report options unchanged since the last report"
        events.info("report.skipped", f"{month}: {reason}", month=month)
        return StepResult("report", "skipped", reason)
    events.info("report.start", f"{month}: writing the report ({why})", month=month, reason=why)
    chosen = settings.report
    files: list[str] = []
    with events.step_progress() as progress:
        for lang in chosen.languages:
            if progress:
                progress(f"report {month} ({lang})")
            options = ReportOptions(
                month=month,
                lang=lang,
                formats=chosen.formats,
                out=chosen.folder(lang),
                terms=analysis_terms(settings),
                document=chosen.document(),
                commercial_5g=chosen.commercial_5g,
            )
            result = write_report(store, options)
            files.extend(str(path.resolve()) for path in result.files.values())
    crash_point("run-reported")
    store.record_step(REPORT_STEP, month, {**facts, "files": files})
    for path in files:
        events.info("report.file", f"wrote {path}", month=month, file=path)
    return StepResult("report", "done", why, {"files": files})


def _below_target(store: Store, month: str) -> int | None:
    """Communes below target (any technology) in the month's stored analysis."""
    from qostool.analyze.rules import Verdict
    from qostool.analyze.run import KIND, load_analysis

    if not store.artifacts(KIND, month):
        return None
    rows = load_analysis(store, month).commune_rows()
    below = rows.filter(rows["verdict"] == Verdict.BELOW.value)
    return int(below["commune_code"].n_unique())
