"""``qostool store check`` and ``store repair``: the catalog against the files on disk.

:func:`check_store` reads only (no lock) and finds:

- the catalog's own problem: missing, empty, not SQLite, unreadable, without its
  tables, failing SQLite's integrity check, or recording nothing beside data
  (then nothing else can be checked: no data file is accounted for);
- ``missing``: a part or artifact folder the catalog records that is not on disk;
- ``damaged``: a recorded part that cannot be read in full as Parquet, or holds
  other rows than recorded; a recorded artifact folder lacking a file it needs,
  or with one that cannot be read;
- ``extra``: a file or artifact folder in the data folders that the catalog does
  not record (and that no commit in progress noted).

:func:`repair_store` plans what to do about each, and does it only with
``apply=True``, under the write lock. Nothing is ever deleted: what cannot be
used is moved to ``quarantine/<time>/``, under its own store path.

- A batch with a missing or damaged part: the records of its ingested file and
  of all its parts are forgotten, and its remaining parts moved to quarantine, so
  that ingesting that file again (the plan names it) stores it whole again.
- An extra file or folder: moved to quarantine.
- A missing artifact: its record is forgotten (``qostool run`` imports the
  boundaries or analyses the month again); a damaged one also goes to quarantine.
- A lost catalog: the catalog file (if any) goes to quarantine and a new one is
  made. Boundaries and results describe themselves (``report.json``,
  ``analysis.json``): they are recorded again. Test and reject parts go to
  quarantine: the catalog's list of ingested files (which export each batch came
  from, the content hash that stops a second ingest, the counts) cannot be
  rebuilt from them, so the exports must be ingested again.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from qostool.errors import QostoolError
from qostool.store import (
    CATALOG,
    QUARANTINE,
    Artifact,
    Store,
    catalog_problem,
    data_files,
    part_damage,
)

#: Files an artifact folder must hold, by kind (the assignment grid is rebuilt when missing).
REQUIRED_FILES: Final = {
    "boundaries": ("communes.parquet", "report.json"),
    "results": ("analysis.json", "stats.parquet", "communes.parquet"),
    "variants": ("analysis.json", "stats.parquet", "communes.parquet"),
    "periods": ("analysis.json", "stats.parquet", "communes.parquet"),
}
#: What a repair did, kept in its quarantine folder.
REPAIR_RECORD: Final = "repair.json"
#: Files SQLite may keep beside the catalog: they go with it.
_CATALOG_COMPANIONS: Final = ("-journal", "-wal", "-shm")


@dataclass(frozen=True)
class Finding:
    """One thing of the store that is not as the catalog says."""

    problem: str
    """``missing``, ``damaged`` or ``extra``."""
    path: str
    """Store path (``tests/month=2025-10/<batch>-0000.parquet``, ``results/2025-10/<id>``)."""
    detail: str
    source: str | None = None
    """For a part: the name of the ingested file it came from."""


@dataclass(frozen=True)
class CheckReport:
    """What :func:`check_store` found."""

    store: str
    catalog: str | None
    """What is wrong with the catalog itself (None: it is usable)."""
    data_files: int
    """Files in the data folders (tests, rejects, boundaries, results)."""
    parts: int
    """Parts the catalog records (each was checked)."""
    artifacts: int
    """Artifact folders the catalog records (each was checked)."""
    findings: list[Finding] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return self.catalog is None and not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "healthy": self.healthy}


@dataclass(frozen=True)
class Action:
    """One step of a repair."""

    action: str
    """``quarantine`` (move aside), ``forget`` (drop a record), ``record`` (record
    again), or ``new catalog``."""
    path: str
    """A store path, or for ``forget`` of an ingested file, its name."""
    why: str


@dataclass(frozen=True)
class Reingest:
    """An ingested file whose records a repair forgets: ingest it again to get its tests back."""

    name: str
    sha256: str | None
    ingested_at: str | None


@dataclass(frozen=True)
class RepairPlan:
    """What :func:`repair_store` would do (``applied`` False) or did."""

    store: str
    applied: bool
    quarantine: str | None
    """Where what cannot be used is (or would be) moved, as a store path."""
    actions: list[Action]
    reingest: list[Reingest]
    """Files to ingest again after the repair (for a lost catalog: those known from rejects)."""
    advice: list[str]
    check: CheckReport

    @property
    def nothing_to_do(self) -> bool:
        return not self.actions

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "check": self.check.to_dict(), "nothing_to_do": self.nothing_to_do}


@dataclass
class _Work:
    """What applying a plan does, in store terms."""

    new_catalog: bool = False
    forget_batches: set[str] = field(default_factory=set)
    forget_artifacts: list[str] = field(default_factory=list)
    quarantine: list[str] = field(default_factory=list)
    record: list[Artifact] = field(default_factory=list)


# -- check ---------------------------------------------------------------------------------


def check_store(store: Store, *, read_parts: bool = True) -> CheckReport:
    """The catalog of ``store`` against its files. Reads only, takes no lock.

    ``read_parts``: read every part in full (finds damage inside a file, and a
    row count other than recorded); without it, only Parquet's marks at both ends.
    """
    root = store.root
    on_disk = data_files(root, skip=store.noted_paths())
    problem = _catalog_health(store, on_disk)
    if problem is not None:
        return CheckReport(str(root), problem, len(on_disk), 0, 0)
    parts = store.part_records()
    artifacts = store.artifact_records()
    findings: list[Finding] = []
    for part in parts:
        damage = part_damage(root / part.path)
        if damage is None and read_parts:
            damage = _read_damage(root / part.path, part.rows)
        if damage is not None:
            problem_name = "missing" if damage.endswith("missing") else "damaged"
            findings.append(Finding(problem_name, part.path, damage, part.source))
    for path, kind in artifacts.items():
        folder = root / path
        if not folder.is_dir():
            findings.append(Finding("missing", path, f"this stored {kind} folder is missing"))
        elif (damage := _artifact_damage(folder, kind)) is not None:
            findings.append(Finding("damaged", path, damage))
    recorded = {part.path for part in parts}
    for path, what in _extra(on_disk, recorded, set(artifacts)).items():
        findings.append(Finding("extra", path, what))
    return CheckReport(str(root), None, len(on_disk), len(parts), len(artifacts), findings)


def _catalog_health(store: Store, on_disk: list[str]) -> str | None:
    """The catalog's own problem, as the open of a store sees it, and SQLite's integrity check."""
    problem = catalog_problem(store.root)
    if problem is not None:
        return problem
    try:
        verdict = store.catalog_integrity()
    except QostoolError as exc:
        return f"the catalog cannot be read ({exc.message})"
    if verdict != ["ok"]:
        return f"the catalog fails SQLite's integrity check ({'; '.join(verdict[:3])})"
    if not store.part_records() and not store.artifact_records() and on_disk:
        return "the catalog records no part and no artifact"
    return None


def _read_damage(path: Path, rows: int) -> str | None:
    import polars as pl

    try:
        height = pl.read_parquet(path).height
    except Exception as exc:  # any reader error means: cannot be read
        return f"this stored part is damaged ({_first_line(exc)})"
    if height != rows:
        return f"this stored part is damaged ({height:,} rows, the catalog records {rows:,})"
    return None


def _artifact_damage(folder: Path, kind: str) -> str | None:
    import polars as pl

    for name in REQUIRED_FILES.get(kind, ()):
        path = folder / name
        if not path.is_file():
            return f"this stored {kind} folder lacks {name}"
        try:
            if name.endswith(".json"):
                json.loads(path.read_text(encoding="utf-8"))
            else:
                pl.read_parquet(path)
        except Exception as exc:  # any reader error means: cannot be read
            return f"this stored {kind} folder's {name} cannot be read ({_first_line(exc)})"
    return None


def _extra(on_disk: list[str], parts: set[str], artifacts: set[str]) -> dict[str, str]:
    """Files and artifact folders on disk that the catalog does not record."""
    extra: dict[str, str] = {}
    for path in on_disk:
        pieces = path.split("/")
        if pieces[0] in REQUIRED_FILES and len(pieces) >= 4:
            folder = "/".join(pieces[:3])
            if folder not in artifacts:
                extra[folder] = f"this {pieces[0]} folder is not recorded in the catalog"
        elif path not in parts:
            extra[path] = "not recorded in the catalog"
    return extra


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# -- repair --------------------------------------------------------------------------------


def repair_store(store: Store, *, apply: bool = False, wait_seconds: float = 0.0) -> RepairPlan:
    """Plan (and with ``apply``, do) what makes the catalog and the files agree again.

    Nothing is deleted: what cannot be used goes to ``quarantine/<time>/``. A dry
    run reads only. Applying takes the write lock, without the clean-up every
    other writer does first (that clean-up refuses a store whose catalog is
    lost, and repair is the way out of that); when the catalog is usable, the
    clean-up is done first, as by any writer, then the store is checked again.
    """
    if not apply:
        return _plan(store, check_store(store), applied=False)[0]
    with store.write_lock(wait_seconds=wait_seconds, clean_up=False):
        if _catalog_health(store, data_files(store.root, skip=store.noted_paths())) is None:
            store.recover()
        plan, work = _plan(store, check_store(store), applied=True)
        if not plan.nothing_to_do:
            _apply(store, plan, work)
    return plan


def _plan(store: Store, report: CheckReport, *, applied: bool) -> tuple[RepairPlan, _Work]:
    work = _Work()
    actions: list[Action] = []
    reingest: list[Reingest] = []
    advice: list[str] = []
    if report.catalog is not None:
        _plan_new_catalog(store, report.catalog, work, actions)
        reingest = [Reingest(name, sha, None) for name, sha in _files_named_by_rejects(store)]
        advice = [
            "if you have a backup of catalog.sqlite, restore it instead of repairing",
            "after the repair, ingest every export again ('qostool run' does it for the "
            "inbox): the list of ingested files was in the lost catalog",
        ]
        if reingest:
            advice.append("the reject parts name these ingested files (there may be more)")
    else:
        reingest = _plan_records(store, report, work, actions)
        if reingest:
            advice.append("then ingest again the files listed: their tests come back whole")
        if work.forget_artifacts:
            advice.append(
                "forgotten analyses and boundaries are made again by 'qostool run' (or "
                "'qostool analyze', 'qostool boundaries import')"
            )
    quarantine = f"{QUARANTINE}/{_stamp()}" if actions else None
    plan = RepairPlan(str(store.root), applied, quarantine, actions, reingest, advice, report)
    return plan, work


def _plan_records(
    store: Store, report: CheckReport, work: _Work, actions: list[Action]
) -> list[Reingest]:
    """A usable catalog: forget broken batches and artifacts, set aside what is not recorded."""
    parts = {part.path: part for part in store.part_records()}
    findings = {finding.path: finding for finding in report.findings}
    broken = sorted({parts[f.path].batch_id for f in report.findings if f.path in parts})
    reingest = []
    for batch in broken:
        members = [part for part in parts.values() if part.batch_id == batch]
        source = members[0].source
        for part in members:
            finding = findings.get(part.path)
            if finding is not None and finding.problem == "missing":
                actions.append(Action("forget", part.path, finding.detail))
                continue
            why = (
                finding.detail
                if finding
                else (f"another part of the same ingested file ({source or 'unknown'}) is lost")
            )
            actions.append(Action("quarantine", part.path, why))
            work.quarantine.append(part.path)
        name = source or f"batch {batch}"
        actions.append(Action("forget", name, "the record of this ingested file: ingest it again"))
        work.forget_batches.add(batch)
        reingest.append(Reingest(name, members[0].sha256, members[0].ingested_at))
    for finding in report.findings:
        if finding.path in parts:
            continue
        if finding.problem in ("missing", "damaged"):
            actions.append(Action("forget", finding.path, finding.detail))
            work.forget_artifacts.append(finding.path)
        if finding.problem in ("damaged", "extra"):
            actions.append(Action("quarantine", finding.path, finding.detail))
            work.quarantine.append(finding.path)
    return reingest


def _plan_new_catalog(store: Store, problem: str, work: _Work, actions: list[Action]) -> None:
    """A lost catalog: set it aside, make a new one, record what describes itself."""
    root = store.root
    work.new_catalog = True
    for companion in ("", *_CATALOG_COMPANIONS):
        name = CATALOG + companion
        if (root / name).exists() or (root / name).is_symlink():
            actions.append(Action("quarantine", name, problem if not companion else "with it"))
            work.quarantine.append(name)
    actions.append(Action("new catalog", CATALOG, "an empty catalog, for the data below"))
    artifacts, unusable = _artifacts_on_disk(root)
    for artifact in artifacts:
        path = artifact.path.relative_to(root).as_posix()
        actions.append(
            Action("record", path, f"{artifact.kind} {artifact.key}, as it describes itself")
        )
        work.record.append(artifact)
    recorded = {a.path.relative_to(root).as_posix() for a in artifacts}
    for path in data_files(root):
        pieces = path.split("/")
        folder = "/".join(pieces[:3]) if pieces[0] in REQUIRED_FILES and len(pieces) >= 4 else None
        if folder in recorded:
            continue
        target = folder or path
        if target in work.quarantine:
            continue
        if folder is not None:
            why = unusable.get(folder, "cannot be recorded again")
        elif pieces[0] in ("tests", "rejects"):
            why = "the record of the ingested file it came from is lost"
        else:
            why = "not part of the store's layout"
        actions.append(Action("quarantine", target, why))
        work.quarantine.append(target)


def _artifacts_on_disk(root: Path) -> tuple[list[Artifact], dict[str, str]]:
    """Artifact folders that describe themselves well enough to be recorded again.

    Every official analysis of a month is kept; of the variants of one name, only
    the newest (by its ``generated_at``), and so of the analyses of one period. The
    others, and folders that lack a file or cannot be read, are returned with the
    reason.
    """
    usable: dict[tuple[str, str], list[Artifact]] = {}
    unusable: dict[str, str] = {}
    for kind in REQUIRED_FILES:
        base = root / kind
        for key in sorted(base.iterdir()) if base.is_dir() else []:
            for folder in sorted(key.iterdir()) if key.is_dir() else []:
                path = folder.relative_to(root).as_posix()
                damage = _artifact_damage(folder, kind) if folder.is_dir() else "not a folder"
                if damage is None:
                    try:
                        usable.setdefault((kind, key.name), []).append(
                            _described(folder, kind, key.name)
                        )
                        continue
                    except (KeyError, TypeError, ValueError, OSError) as exc:
                        damage = f"its description cannot be read ({_first_line(exc)})"
                unusable[path] = damage
    found = []
    for (kind, _), versions in sorted(usable.items()):
        if kind == "variants":  # one variant of a name: the newest
            newest = sorted(versions, key=lambda a: a.created_at, reverse=True)
            seen: set[object] = set()
            for artifact in newest:
                if artifact.meta.get("name") in seen:
                    unusable[artifact.path.relative_to(root).as_posix()] = (
                        "an older variant of the same name"
                    )
                    continue
                seen.add(artifact.meta.get("name"))
                found.append(artifact)
            continue
        if kind == "periods":  # one analysis of the same dates: the newest
            newest = sorted(versions, key=lambda a: a.created_at, reverse=True)
            found.append(newest[0])
            for artifact in newest[1:]:
                unusable[artifact.path.relative_to(root).as_posix()] = (
                    "an older analysis of the same period"
                )
            continue
        found += versions
    return found, unusable


def _described(folder: Path, kind: str, key: str) -> Artifact:
    """The catalog's record of an artifact folder, made again from the folder's own files."""
    if kind in ("results", "variants", "periods"):
        from qostool.analyze.run import META_FILE, result_summary

        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        return Artifact(kind, key, folder, str(meta["generated_at"]), result_summary(meta))
    from qostool.geo.versions import REPORT_FILE, version_summary

    report = json.loads((folder / REPORT_FILE).read_text(encoding="utf-8"))
    return Artifact(kind, key, folder, _stamp_time(folder.name), version_summary(report))


def _apply(store: Store, plan: RepairPlan, work: _Work) -> None:
    """Do a plan: first write it down, then records before moves (no reader sees a record
    without its files). The plan is kept as ``repair.json`` in the quarantine folder, so
    what to ingest again is known even if the repair is interrupted."""
    root = store.root
    assert plan.quarantine is not None
    aside = root / plan.quarantine
    aside.mkdir(parents=True)
    (aside / REPAIR_RECORD).write_text(
        json.dumps(plan.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    if work.new_catalog:
        for path in work.quarantine:  # the lost catalog first, then the data it lost
            _move(root / path, aside / path)
        store.new_catalog(work.record)
        return
    store.forget(batches=work.forget_batches, artifacts=work.forget_artifacts)
    for path in work.quarantine:
        _move(root / path, aside / path)


def _move(source: Path, target: Path) -> None:
    """Move into quarantine, never over anything (each repair has a new folder)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() or target.is_symlink():
        raise FileExistsError(17, "already exists", str(target))
    os.replace(source, target)


def _stamp_time(name: str) -> str:
    """The time in an artifact folder's name (``20251101T020000-<id>``), as the catalog has it."""
    try:
        made = datetime.strptime(name.split("-", maxsplit=1)[0], "%Y%m%dT%H%M%S").replace(
            tzinfo=UTC
        )
    except ValueError:
        return "1970-01-01T00:00:00+00:00"
    return made.isoformat(timespec="seconds")


def _files_named_by_rejects(store: Store) -> list[tuple[str, str]]:
    """Ingested files (name, sha256) named in reject parts: some of those to ingest again."""
    import polars as pl

    named: set[tuple[str, str]] = set()
    for path in data_files(store.root):
        if not path.startswith("rejects/") or part_damage(store.root / path) is not None:
            continue
        try:
            frame = pl.read_parquet(store.root / path, columns=["file", "file_sha256"])
        except Exception:  # a damaged part names nothing
            continue
        named |= {(str(name), str(sha)) for name, sha in frame.unique().iter_rows()}
    return sorted(named)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
