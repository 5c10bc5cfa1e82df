"""Read a commune-boundary file into the canonical commune table, and report on it.

Any format GDAL reads through pyogrio (GeoJSON, Shapefile with its .prj and
.cpg, zipped Shapefile, GeoPackage) plus GeoParquet; any CRS, reprojected to
WGS84; invalid geometries repaired; names NFC-normalised; code and name fields
detected or given; one province kept from a national file; overlaps and gaps
between neighbours measured. Rules and options: ``docs/boundaries.md``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from qostool.errors import InputError, UsageError
from qostool.ingest.normalize import fold

COLUMNS: Final = ("code", "name", "type", "population", "province_code", "province_name")
#: Candidate source fields per canonical column, compared folded (accents, case, punctuation).
CANDIDATES: Final = {
    "code": ("id", "code", "ma", "maxa", "ma_xa", "communecode", "wardcode", "maphuongxa"),
    "name": ("name", "ten", "tenxa", "ten_xa", "commune", "communename", "ward", "wardname"),
    "type": ("type", "loai", "cap"),
    "population": ("population", "danso", "dan_so", "pop"),
    "province_code": ("provinceid", "provincecode", "matinh", "ma_tinh"),
    "province_name": ("provincename", "province", "tentinh", "ten_tinh", "tinh"),
}
SUFFIXES: Final = (".geojson", ".json", ".shp", ".zip", ".gpkg", ".parquet", ".geoparquet")
#: Overlaps and gaps smaller than this are numerical noise, not worth reporting.
MIN_AREA_M2: Final = 1.0
_PROVINCE_PREFIXES: Final = ("tinh", "thanhpho", "tp")


@dataclass(frozen=True)
class BoundaryOptions:
    """What the user chose for one import."""

    layer: str | None = None
    code_field: str | None = None
    name_field: str | None = None
    province: str | None = None
    population_field: str | None = None


@dataclass
class BoundaryReport:
    """What the import found and did."""

    source: str
    source_crs: str
    features_read: int
    communes: int
    code_field: str
    name_field: str
    population_field: str | None
    province: str | None
    repaired: list[tuple[str, str, str]] = field(default_factory=list)
    overlaps: list[tuple[str, str, float]] = field(default_factory=list)
    gaps: list[tuple[float, list[str]]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "source_crs": self.source_crs,
            "features_read": self.features_read,
            "communes": self.communes,
            "code_field": self.code_field,
            "name_field": self.name_field,
            "population_field": self.population_field,
            "province": self.province,
            "repaired": [{"code": c, "name": n, "problem": p} for c, n, p in self.repaired],
            "overlaps": [{"codes": [a, b], "area_m2": round(m2, 1)} for a, b, m2 in self.overlaps],
            "gaps": [{"area_m2": round(m2, 1), "codes": codes} for m2, codes in self.gaps],
        }


def read_boundaries(
    path: Path, options: BoundaryOptions | None = None
) -> tuple[gpd.GeoDataFrame, BoundaryReport]:
    """The canonical commune table (WGS84, sorted by code) and the report of the import."""
    options = options or BoundaryOptions()
    frame = _read(path, options.layer)
    features = len(frame)
    if features == 0:
        raise InputError(path, "has no features", hint="check the file or the --layer")
    source_crs = _to_wgs84(path, frame)
    frame = frame.to_crs("EPSG:4326") if frame.crs is not None else frame.set_crs("EPSG:4326")
    fields = _fields(path, list(frame.columns.drop(frame.geometry.name)), options)
    frame, province = _filter_province(path, frame, fields, options.province)
    communes = _canonical(path, frame, fields)
    communes, repaired = _repair(path, communes)
    _check_duplicates(path, communes)
    overlaps, gaps = topology(communes)
    report = BoundaryReport(
        source=path.name,
        source_crs=source_crs,
        features_read=features,
        communes=len(communes),
        code_field=fields["code"] or "",
        name_field=fields["name"] or "",
        population_field=fields["population"],
        province=province,
        repaired=repaired,
        overlaps=overlaps,
        gaps=gaps,
    )
    return communes, report


def _read(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    import pyogrio

    if not path.exists():
        raise InputError(path, "no such file", hint="check the path")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(
            path,
            f"unsupported boundary file type {suffix or '(none)'}",
            hint="use GeoJSON, Shapefile (.shp or zipped), GeoPackage (.gpkg) or GeoParquet",
        )
    try:
        if suffix in (".parquet", ".geoparquet"):
            return gpd.read_parquet(path)
        source = f"zip://{path}" if suffix == ".zip" else str(path)
        layers = [name for name, _ in pyogrio.list_layers(source)]
        if layer is None and len(layers) > 1:
            raise UsageError(
                f"{path}: has {len(layers)} layers: {', '.join(layers)}",
                hint="choose one with --layer",
            )
        if layer is not None and layer not in layers:
            raise UsageError(f"{path}: no layer {layer!r}", hint=f"layers: {', '.join(layers)}")
        return pyogrio.read_dataframe(source, layer=layer)
    except (UsageError, InputError):
        raise
    except Exception as exc:  # GDAL/Arrow raise many types for an unreadable file
        raise InputError(
            path,
            f"cannot be read as a boundary file ({type(exc).__name__}: {exc})",
            hint="use GeoJSON, Shapefile (with .shx/.dbf/.prj), GeoPackage or GeoParquet",
        ) from None


def _to_wgs84(path: Path, frame: gpd.GeoDataFrame) -> str:
    """The source CRS, as text; refuse a missing CRS unless coordinates look like degrees."""
    if frame.crs is not None:
        authority = frame.crs.to_authority()
        return f"{authority[0]}:{authority[1]}" if authority else str(frame.crs.name)
    x0, y0, x1, y1 = frame.total_bounds
    if -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90:
        return "none (assumed WGS84: coordinates are degrees)"
    raise InputError(
        path,
        "has no coordinate reference system, and its coordinates are not degrees",
        hint="add the .prj file next to the .shp, or convert the file to WGS84 (EPSG:4326)",
    )


def _fields(path: Path, columns: list[str], options: BoundaryOptions) -> dict[str, str | None]:
    given = {
        "code": options.code_field,
        "name": options.name_field,
        "population": options.population_field,
    }
    folded = {fold(c): c for c in reversed(columns)}
    found: dict[str, str | None] = {}
    for target, candidates in CANDIDATES.items():
        choice = given.get(target)
        if choice is not None:
            if choice not in columns:
                raise UsageError(
                    f"{path}: no field {choice!r} (for the commune {target})",
                    hint="fields: " + ", ".join(columns),
                )
            found[target] = choice
            continue
        found[target] = next((folded[fold(c)] for c in candidates if fold(c) in folded), None)
    for target in ("code", "name"):
        if found[target] is None:
            raise UsageError(
                f"{path}: cannot tell which field holds the commune {target}",
                hint=f"give --{target}-field; fields: " + ", ".join(columns),
            )
    return found


def _filter_province(
    path: Path, frame: gpd.GeoDataFrame, fields: dict[str, str | None], province: str | None
) -> tuple[gpd.GeoDataFrame, str | None]:
    if province is None:
        return frame, None
    code_field, name_field = fields["province_code"], fields["province_name"]
    if code_field is None and name_field is None:
        raise UsageError(
            f"{path}: --province given, but the file has no province code or name field",
            hint="import a file of one province, or one with a provinceId/ma_tinh field",
        )
    codes = frame[code_field].astype("string").str.strip() if code_field else None
    names = frame[name_field].astype("string") if name_field else None
    wanted = province.strip()
    keep = np.zeros(len(frame), dtype=bool)
    if codes is not None:
        keep |= (codes == wanted).fillna(False).to_numpy()
        if wanted.isdigit():
            keep |= (codes.str.lstrip("0") == wanted.lstrip("0")).fillna(False).to_numpy()
    if names is not None:
        key = _province_key(wanted)
        keep |= names.map(lambda n: _province_key(n) == key if isinstance(n, str) else False)
        keep = keep.astype(bool)
    if not keep.any():
        pairs = sorted(
            {
                f"{c} {n}".strip()
                for c, n in zip(
                    codes if codes is not None else [""] * len(frame),
                    names if names is not None else [""] * len(frame),
                    strict=True,
                )
            }
        )
        raise UsageError(
            f"{path}: no province matches {province!r}",
            hint="provinces in the file: " + "; ".join(str(p) for p in pairs[:40]),
        )
    kept = frame[keep]
    label = " ".join(
        str(kept[f].iloc[0]) for f in (code_field, name_field) if f is not None
    ).strip()
    return kept, label


def _province_key(name: str) -> str:
    key = fold(name)
    for prefix in _PROVINCE_PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            return key[len(prefix) :]
    return key


def _text(values: pd.Series) -> list[str | None]:
    """Strings, NFC-normalised and trimmed; integral floats without '.0'; missing -> None."""
    out: list[str | None] = []
    for value in values.tolist():
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out.append(None)
        elif isinstance(value, float) and value.is_integer():
            out.append(str(int(value)))
        else:
            text = unicodedata.normalize("NFC", str(value)).strip()
            out.append(text or None)
    return out


def _canonical(
    path: Path, frame: gpd.GeoDataFrame, fields: dict[str, str | None]
) -> gpd.GeoDataFrame:
    data: dict[str, Any] = {}
    for column in COLUMNS:
        source = fields.get(column)
        if column == "population":
            values = (
                pd.to_numeric(frame[source], errors="coerce").round()
                if source
                else pd.Series([np.nan] * len(frame))
            )
            data[column] = pd.array(values.to_numpy(), dtype="Int64")
        else:
            data[column] = _text(frame[source]) if source else [None] * len(frame)
    missing = [i for i, code in enumerate(data["code"]) if code is None]
    if missing:
        raise InputError(
            path,
            f"{len(missing)} features have no commune code (field {fields['code']!r})",
            hint="fill in the codes, or choose another --code-field",
            field=fields["code"],
        )
    geometry = frame.geometry.to_numpy()
    empty = shapely.is_missing(geometry) | shapely.is_empty(geometry)
    if empty.any():
        codes = [data["code"][i] for i in np.flatnonzero(empty)[:10]]
        raise InputError(path, f"communes without a geometry: {', '.join(codes)}")
    kinds = set(shapely.get_type_id(geometry).tolist()) - {3, 6}  # Polygon, MultiPolygon
    if kinds:
        raise InputError(
            path,
            "holds geometries that are not polygons",
            hint="commune boundaries must be Polygon or MultiPolygon features",
        )
    table = gpd.GeoDataFrame(data, geometry=geometry, crs="EPSG:4326")
    return table.sort_values("code", kind="stable").reset_index(drop=True)


def _repair(
    path: Path, communes: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, list[tuple[str, str, str]]]:
    geometry = communes.geometry.to_numpy()
    invalid = np.flatnonzero(~shapely.is_valid(geometry))
    repaired: list[tuple[str, str, str]] = []
    for i in invalid:  # a loop over the few invalid communes, not over rows of data
        reason = str(shapely.is_valid_reason(geometry[i]))
        fixed = shapely.make_valid(geometry[i])
        polygons = shapely.get_parts(fixed)
        polygons = polygons[np.isin(shapely.get_type_id(polygons), [3, 6])]
        if len(polygons) == 0:
            raise InputError(
                path, f"commune {communes['code'][i]}: geometry cannot be repaired ({reason})"
            )
        geometry[i] = shapely.union_all(polygons)
        repaired.append((str(communes["code"][i]), str(communes["name"][i]), reason))
    return communes.set_geometry(geometry), repaired


def _check_duplicates(path: Path, communes: gpd.GeoDataFrame) -> None:
    counts = communes["code"].value_counts()
    duplicated = counts[counts > 1]
    if len(duplicated):
        shown = [
            f"{code} ({', '.join(str(n) for n in communes.loc[communes['code'] == code, 'name'])})"
            for code in list(duplicated.index)[:5]
        ]
        raise InputError(
            path,
            f"{len(duplicated)} commune codes appear more than once: {'; '.join(shown)}",
            hint="choose another --code-field, keep one province with --province, or fix the file",
        )


def topology(
    communes: gpd.GeoDataFrame,
) -> tuple[list[tuple[str, str, float]], list[tuple[float, list[str]]]]:
    """Overlaps between neighbours and gaps enclosed by communes, with areas in m²."""
    metric = communes.to_crs(communes.estimate_utm_crs())
    geometry = metric.geometry.to_numpy()
    codes = communes["code"].to_numpy()
    tree = shapely.STRtree(geometry)
    left, right = tree.query(geometry, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    areas = shapely.area(shapely.intersection(geometry[left], geometry[right]))
    big = areas > MIN_AREA_M2
    overlaps = [
        (str(codes[a]), str(codes[b]), float(m2))
        for a, b, m2 in zip(left[big], right[big], areas[big], strict=True)
    ]
    union = shapely.union_all(geometry)
    holes = _holes(shapely.get_parts(union))
    own_holes = shapely.union_all(_holes(shapely.get_parts(geometry)))
    gaps: list[tuple[float, list[str]]] = []
    for hole in holes:
        gap = shapely.difference(hole, own_holes) if not own_holes.is_empty else hole
        area = float(shapely.area(gap))
        if area > MIN_AREA_M2:
            around = tree.query(shapely.buffer(gap, 1.0), predicate="intersects")
            gaps.append((area, sorted(str(c) for c in codes[around])))
    return overlaps, sorted(gaps, key=lambda g: -g[0])


def _holes(polygons: np.ndarray) -> list[shapely.Polygon]:
    """The interior rings of polygons, as polygons."""
    return [shapely.Polygon(ring) for polygon in polygons for ring in polygon.interiors]
