"""Boundaries in the store: import a file as a labelled version, load a version.

A version is the canonical commune table (``geo/boundaries.py``) saved as
GeoParquet with the import report. Its label is the source file's stem and a
hash of the canonical content (codes, names, populations, geometries), so the
same boundaries imported twice are one version, and every analysis can name
exactly the boundaries it used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import polars as pl

from qostool.errors import StoreError, UsageError
from qostool.store import Artifact, Store

if TYPE_CHECKING:
    import geopandas as gpd

    from qostool.geo.assign import CommuneIndex
    from qostool.geo.boundaries import BoundaryOptions, BoundaryReport

KIND: Final = "boundaries"
COMMUNES_FILE: Final = "communes.parquet"
REPORT_FILE: Final = "report.json"
#: Metres within which a point in a gap between communes is snapped to the nearest one.
DEFAULT_TOLERANCE_M: Final = 100.0


@dataclass(frozen=True)
class ImportResult:
    """What ``boundaries import`` did."""

    version: str
    report: BoundaryReport
    already_imported: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "already_imported": self.already_imported,
            **self.report.to_dict(),
        }


def content_label(path: Path, communes: gpd.GeoDataFrame) -> str:
    """``<file stem>-<first 10 hex digits of the content hash>``."""
    import shapely

    digest = hashlib.sha256()
    for column in ("code", "name", "type", "population", "province_code"):
        digest.update(json.dumps([str(v) for v in communes[column].tolist()]).encode())
    for wkb in shapely.to_wkb(communes.geometry.to_numpy(), output_dimension=2):
        digest.update(wkb)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", path.name.split(".")[0]).strip("-") or "boundaries"
    return f"{stem[:40]}-{digest.hexdigest()[:10]}"


def import_boundaries(
    store: Store, path: Path, options: BoundaryOptions, *, wait_seconds: float = 0.0
) -> ImportResult:
    """Read, clean and store a boundary file as a new version (a no-op if already stored)."""
    from qostool.geo.boundaries import read_boundaries

    communes, report = read_boundaries(path, options)
    version = content_label(path, communes)
    with store.write_lock(wait_seconds=wait_seconds):
        if store.artifacts(KIND, version):
            return ImportResult(version, report, already_imported=True)
        staged = store.stage_artifact()
        communes.to_parquet(staged / COMMUNES_FILE, index=False, compression="zstd")
        (staged / REPORT_FILE).write_text(
            json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        _save_default_grid(staged, communes)
        meta = version_summary(report.to_dict())
        store.publish(KIND, version, staged, meta, created_at=_now())
    return ImportResult(version, report, already_imported=False)


def version_summary(report: dict[str, Any]) -> dict[str, Any]:
    """What the catalog records of a version: a summary of its import report."""
    summary = {key: report[key] for key in ("source", "communes", "province", "source_crs")}
    if report.get("credit"):  # reports name the source under their maps
        summary["credit"] = report["credit"]
    return summary


def _save_default_grid(staged: Path, communes: gpd.GeoDataFrame) -> None:
    """Build the grid for the default tolerance now, so the first analysis need not."""
    from qostool.geo.assign import CommuneIndex

    geometries = communes.geometry.to_numpy()
    index = CommuneIndex.build(geometries, tolerance_m=DEFAULT_TOLERANCE_M)
    index.save(grid_file(staged, DEFAULT_TOLERANCE_M))


def find_version(store: Store, version: str | None) -> Artifact:
    """The named boundaries version, or the latest imported one."""
    versions = store.artifacts(KIND)
    if not versions:
        raise StoreError(
            f"{store.root}: no commune boundaries imported yet",
            hint="run 'qostool boundaries import FILE' first",
        )
    if version is None:
        return versions[0]
    for artifact in versions:
        if artifact.key == version:
            return artifact
    raise UsageError(
        f"--boundaries {version!r}: no such boundaries version in {store.root}",
        hint="versions: " + ", ".join(a.key for a in versions),
    )


@dataclass(frozen=True)
class Communes:
    """A stored boundaries version, read without GeoPandas (fast to load)."""

    table: pl.DataFrame
    """``code``, ``name``, ``type``, ``population``, ``province_code``, ``province_name``."""
    geometries: np.ndarray
    """Shapely polygons in WGS84, in the order of ``table`` (sorted by code)."""


def load_communes(artifact: Artifact) -> Communes:
    """The communes of a stored version, sorted by code."""
    import shapely

    frame = pl.read_parquet(artifact.path / COMMUNES_FILE)
    geometries = shapely.from_wkb(frame["geometry"].to_numpy())
    return Communes(frame.drop("geometry"), geometries)


def grid_file(artifact_path: Path, tolerance_m: float) -> Path:
    """Where the prepared assignment grid of a version, for one tolerance, is kept."""
    return artifact_path / f"grid-{tolerance_m:g}m.npz"


def commune_index(artifact: Artifact, communes: Communes, tolerance_m: float) -> CommuneIndex:
    """The version's prepared assignment grid: saved at import, built (and saved) if missing.

    The grid depends only on the geometries and the tolerance, so it is derived data:
    saving it needs no lock (an atomic rename), and a missing, damaged or outdated
    file is simply built again.
    """
    from qostool.geo.assign import CommuneIndex

    path = grid_file(artifact.path, tolerance_m)
    index = CommuneIndex.load(path, communes.geometries, tolerance_m=tolerance_m)
    if index is None:
        index = CommuneIndex.build(communes.geometries, tolerance_m=tolerance_m)
        with contextlib.suppress(OSError):  # a read-only store still analyses, only slower
            index.save(path)
    return index


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
