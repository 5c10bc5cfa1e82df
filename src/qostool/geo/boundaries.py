"""Read a commune-boundary file into the canonical commune table, and report on it.

GeoJSON, Shapefile (with its .prj and .cpg, plain or zipped), GeoPackage and
GeoParquet, in any CRS, reprojected to WGS84. Invalid geometries are repaired
and reported, names NFC-normalised, the code and name fields detected or
given, one province kept from a national file, duplicate codes refused, and
overlaps and gaps between neighbours measured. Rules and options:
``docs/boundaries.md``. Pure library code: the store and the CLI live elsewhere.
"""

from __future__ import annotations

import codecs
import math
import os
import re
import unicodedata
import zipfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from shapely.errors import GEOSException

from qostool.errors import InputError, QostoolError, UsageError
from qostool.ingest.normalize import fold

#: The canonical columns, in order (``geometry`` follows them).
COLUMNS: Final = ("code", "name", "type", "population", "province_code", "province_name")
WGS84: Final = "EPSG:4326"
#: Overlaps and gaps up to this area are numerical noise, not reported.
MIN_AREA_M2: Final = 1.0
FORMATS: Final = (
    "GeoJSON (.geojson, .json), Shapefile (.shp with its .shx, .dbf, .prj and .cpg, "
    "or a .zip holding them), GeoPackage (.gpkg) or GeoParquet (.parquet, .geoparquet)"
)

_GEOJSON_SUFFIXES: Final = (".geojson", ".json")
_OGR_SUFFIXES: Final = (*_GEOJSON_SUFFIXES, ".shp", ".gpkg")
_PARQUET_SUFFIXES: Final = (".parquet", ".geoparquet")
#: Source fields tried for each canonical column, most specific first; compared folded.
_CANDIDATES: Final[dict[str, tuple[str, ...]]] = {
    "code": (
        "ma_xa", "maxa", "ma_phuong_xa", "ma_px", "commune_code", "ward_code", "commune_id",
        "ward_id", "ma_dvhc", "code", "ma", "id",
    ),
    "name": (
        "ten_xa", "tenxa", "ten_phuong_xa", "ten_px", "commune_name", "ward_name", "ten_dvhc",
        "commune", "ward", "ten", "name",
    ),
    "type": ("loai", "loai_xa", "loai_dvhc", "commune_type", "ward_type", "type"),
    "population": ("population", "dan_so", "danso", "so_dan", "pop"),
    "province_code": ("provinceId", "province_id", "province_code", "ma_tinh", "matinh"),
    "province_name": (
        "provinceName", "province_name", "ten_tinh", "tentinh", "province", "tinh",
    ),
}  # fmt: skip
_OPTION: Final = {
    "code": "--code-field",
    "name": "--name-field",
    "population": "--population-field",
}
_PROVINCE_PREFIXES: Final = ("thanhpho", "tinh", "tp")
_POLYGON, _MULTIPOLYGON = 3, 6  # shapely type ids
_SHOWN: Final = 5  # codes named in a message before "..."
_NEAR_M: Final = 0.01  # a commune this close to a gap is one of the communes around it
_WORKERS: Final = min(4, os.cpu_count() or 1)

_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclass(frozen=True)
class BoundaryOptions:
    """What the user chose for one import (``None``: detect, or keep everything)."""

    layer: str | None = None
    code_field: str | None = None
    name_field: str | None = None
    province: str | None = None
    population_field: str | None = None
    all_provinces: bool = False
    """Keep every province of a file that holds several (otherwise such a file is refused)."""
    credit: str | None = None
    """Who made the boundaries and on what terms, as the report credits them under its
    maps (``boundaries import --credit``); None: the report names the file instead."""


@dataclass
class BoundaryReport:
    """What the import read, which fields it used, what it repaired and found."""

    source: str
    source_crs: str
    features_read: int
    communes: int
    code_field: str
    name_field: str
    population_field: str | None
    province: str | None
    repaired: list[tuple[str, str, str]] = field(default_factory=list)
    """(code, name, what was wrong) of every repaired geometry."""
    overlaps: list[tuple[str, str, float]] = field(default_factory=list)
    """(code_a, code_b, area in m²), code_a < code_b, sorted by codes."""
    gaps: list[tuple[float, list[str]]] = field(default_factory=list)
    """(area in m², codes of the communes around it), largest first."""
    credit: str | None = None
    """The source credit given at import (``BoundaryOptions.credit``)."""

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "credit": self.credit,
            "source_crs": self.source_crs,
            "features_read": self.features_read,
            "communes": self.communes,
            "code_field": self.code_field,
            "name_field": self.name_field,
            "population_field": self.population_field,
            "province": self.province,
            "repaired": [{"code": c, "name": n, "problem": p} for c, n, p in self.repaired],
            "overlap_area_m2": round(sum((m2 for _, _, m2 in self.overlaps), 0.0), 2),
            "gap_area_m2": round(sum((m2 for m2, _ in self.gaps), 0.0), 2),
            "overlaps": [{"code_a": a, "code_b": b, "area_m2": m2} for a, b, m2 in self.overlaps],
            "gaps": [{"area_m2": m2, "codes": codes} for m2, codes in self.gaps],
        }


_DEFAULT_OPTIONS: Final = BoundaryOptions()


def read_boundaries(
    path: Path, options: BoundaryOptions = _DEFAULT_OPTIONS
) -> tuple[gpd.GeoDataFrame, BoundaryReport]:
    """The canonical commune table of a boundary file, and the report of what was done.

    Columns ``code``, ``name``, ``type``, ``population`` (nullable Int64),
    ``province_code``, ``province_name`` and ``geometry`` (valid Polygon or
    MultiPolygon, EPSG:4326), sorted by code. Raises :class:`InputError` for a
    file that cannot be used and :class:`UsageError` for an option that does
    not fit the file.
    """
    path = Path(path)
    frame = _read(path, options.layer)
    if len(frame) == 0:
        raise InputError(path, "holds no features", hint="check the file (and --layer)")
    source_crs = _source_crs(path, frame)
    fields = _fields(path, [str(c) for c in frame.columns if c != frame.geometry.name], options)
    attributes: dict[str, list[str | None]] = {
        column: _texts(frame[source]) if source else [None] * len(frame)
        for column, source in fields.items()
        if column != "population"
    }
    keep, province = _province_rows(path, attributes, options.province, options.all_provinces)
    rows = np.flatnonzero(keep)
    table = {column: [values[i] for i in rows] for column, values in attributes.items()}
    codes = _required(path, "code", table["code"], fields, [str(i + 1) for i in rows])
    names = _required(path, "name", table["name"], fields, codes)
    _check_duplicates(path, codes, names, fields["code"])
    population_field = fields["population"]
    population = (
        _populations(path, frame[population_field].iloc[rows].tolist(), population_field)
        if population_field
        else [None] * len(rows)
    )
    geometry, repaired = _geometries(path, frame, rows, codes, names)

    order = sorted(range(len(rows)), key=codes.__getitem__)
    communes = gpd.GeoDataFrame(
        {
            "code": pd.array([codes[i] for i in order], dtype="str"),
            "name": pd.array([names[i] for i in order], dtype="str"),
            "type": pd.array([table["type"][i] for i in order], dtype="str"),
            "population": pd.array([population[i] for i in order], dtype="Int64"),
            "province_code": pd.array([table["province_code"][i] for i in order], dtype="str"),
            "province_name": pd.array([table["province_name"][i] for i in order], dtype="str"),
        },
        geometry=gpd.GeoSeries(geometry[order], crs=WGS84),
    )
    overlaps, gaps = topology(communes)
    report = BoundaryReport(
        source=str(path),
        source_crs=source_crs,
        features_read=len(frame),
        communes=len(communes),
        code_field=str(fields["code"]),
        name_field=str(fields["name"]),
        population_field=population_field,
        province=province,
        repaired=sorted(repaired),
        overlaps=overlaps,
        gaps=gaps,
        credit=" ".join(options.credit.split()) if options.credit else None,
    )
    return communes, report


# -- reading ---------------------------------------------------------------------------


def _read(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    """The features of the file (of ``layer``), attributes as the source has them."""
    if not path.is_file():
        raise InputError(
            path,
            "no such file" if not path.exists() else "is not a file",
            hint=f"give a boundary file: {FORMATS}",
        )
    suffix = path.suffix.lower()
    if suffix in _PARQUET_SUFFIXES:
        if layer is not None:
            raise UsageError(
                f"{path}: --layer {layer!r}: a GeoParquet file has no layers",
                hint="leave out --layer",
            )
        return _read_parquet(path)
    encoding: str | None = None
    if suffix == ".zip":
        source, encoding = _zipped_shapefile(path, layer)
        layer = None
    elif suffix in _OGR_SUFFIXES:
        source = str(path)
        encoding = _shapefile_encoding(path, *_sidecars(path)) if suffix == ".shp" else None
    else:
        raise InputError(
            path,
            f"unsupported boundary file type {suffix or '(no extension)'}",
            hint=f"use {FORMATS}",
        )
    if suffix in _GEOJSON_SUFFIXES:
        # GDAL refuses a GeoJSON feature over 200 MB parsed ("too complex/large"): a
        # detailed commune of 2 million vertices reaches it, and the same polygon reads
        # fine from a Shapefile. The file's own size bounds the memory: no limit here.
        pyogrio.set_gdal_config_options({"OGR_GEOJSON_MAX_OBJ_SIZE": "0"})
    try:
        if layer is not None or suffix == ".gpkg":  # other files hold one layer
            layer = _layer(path, source, layer)
        frame = pyogrio.read_dataframe(
            source, layer=layer, encoding=None if encoding is None else "ISO-8859-1"
        )
    except QostoolError:
        raise
    except Exception as exc:  # GDAL raises many types for a file it cannot read
        raise _unreadable(path, exc) from None
    if encoding is not None:
        frame = _decode_latin1(path, frame, encoding)
    return frame


def _read_parquet(path: Path) -> gpd.GeoDataFrame:
    try:
        return gpd.read_parquet(path)
    except Exception as exc:  # Arrow raises many types for a file it cannot read
        raise InputError(
            path,
            f"cannot be read as GeoParquet ({_short(exc)})",
            hint="write it with GeoPandas (to_parquet) or GDAL, which add the 'geo' metadata; "
            f"or use {FORMATS}",
        ) from None


def _unreadable(path: Path, exc: Exception) -> InputError:
    if isinstance(exc, UnicodeDecodeError):
        return InputError(
            path,
            f"text is not valid UTF-8 ({_short(exc)})",
            hint="save the file as UTF-8 (GeoJSON and GeoPackage are always UTF-8)",
        )
    suffix = path.suffix.lower()
    hint = "check that the file is complete and opens in QGIS; or export it again"
    if suffix in (".shp", ".zip"):
        hint = "a Shapefile is several files: keep its .shx, .dbf, .prj and .cpg next to the .shp"
    return InputError(path, f"cannot be read ({_short(exc)})", hint=hint)


_SHORT: Final = 300  # characters of a library's message shown (its first line)


def _short(exc: BaseException) -> str:
    """The first line of a library's message, cut after a whole word when it is long."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if len(text) <= _SHORT:
        return text
    return text[:_SHORT].rsplit(" ", 1)[0].rstrip(" ,;:") + " ..."


def _layer(path: Path, source: str, layer: str | None) -> str | None:
    """The layer to read: the given one, or the only layer with geometries."""
    listed = pyogrio.list_layers(source)
    names = [str(name) for name, _ in listed]
    if layer is not None:
        if layer in names:
            return layer
        raise UsageError(
            f"{path}: --layer {layer!r}: no such layer", hint="layers: " + ", ".join(names)
        )
    spatial = [str(name) for name, kind in listed if kind is not None]
    if len(spatial) == 1:
        return spatial[0]
    if not spatial:
        raise InputError(path, "has no layer with geometries", hint=f"use {FORMATS}")
    raise UsageError(
        f"{path}: has {len(spatial)} layers: {', '.join(spatial)}",
        hint=f"choose the communes layer with --layer (for example --layer {spatial[0]})",
    )


def _zipped_shapefile(path: Path, layer: str | None) -> tuple[str, str]:
    """The GDAL path of the Shapefile inside a zip archive, and its text encoding."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name.lower(): name for name in archive.namelist()}
            shapefiles = sorted(
                name
                for lower, name in members.items()
                if lower.endswith(".shp") and not lower.startswith("__macosx/")
            )
            if not shapefiles:
                raise InputError(
                    path,
                    "holds no Shapefile (.shp)",
                    hint="zip the .shp with its .shx, .dbf, .prj and .cpg; give other formats "
                    "unzipped",
                )
            stems = [name[:-4] for name in shapefiles]
            if layer is not None:
                matches = [s for s in stems if layer in (s, s.rsplit("/", 1)[-1])]
                if not matches:
                    raise UsageError(
                        f"{path}: --layer {layer!r}: no such Shapefile in the archive",
                        hint="layers: " + ", ".join(stems),
                    )
                stem = matches[0]
            elif len(stems) > 1:
                raise UsageError(
                    f"{path}: holds {len(stems)} Shapefiles: {', '.join(stems)}",
                    hint=f"choose the communes one with --layer (for example --layer {stems[0]})",
                )
            else:
                stem = stems[0]

            def member(suffix: str) -> bytes | None:
                name = members.get((stem + suffix).lower())
                return archive.read(name) if name else None

            encoding = _shapefile_encoding(path, member(".cpg"), member(".dbf"))
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(path, f"is not a readable zip archive ({_short(exc)})") from None
    return f"/vsizip/{path.resolve().as_posix()}/{stem}.shp", encoding


def _sidecars(shp: Path) -> tuple[bytes | None, bytes | None]:
    """The .cpg and .dbf contents next to a .shp (either case of extension)."""

    def read(suffix: str) -> bytes | None:
        for candidate in (shp.with_suffix(suffix), shp.with_suffix(suffix.upper())):
            if candidate.is_file():
                return candidate.read_bytes()
        return None

    return read(".cpg"), read(".dbf")


#: DBF language driver ids of common code pages (used only without a .cpg).
_LDID: Final = {0x01: "cp437", 0x02: "cp850", 0x03: "cp1252", 0x57: "cp1252", 0xC8: "cp1250"}


def _shapefile_encoding(path: Path, cpg: bytes | None, dbf: bytes | None) -> str:
    """The Python codec of a Shapefile's texts: from the .cpg, else guessed from the .dbf.

    The texts are then read as Latin-1 (byte for byte) and decoded here,
    because GDAL's own conversion loses the last letter of texts in
    Windows-1258, the Vietnamese code page.
    """
    declared = cpg.decode("ascii", errors="replace").strip() if cpg else ""
    if declared:
        codec = _codec(declared)
        if codec is None:
            raise InputError(
                path,
                f"the .cpg names an unknown text encoding {declared!r}",
                hint="write the encoding in the .cpg, e.g. UTF-8, 1258 (Windows-1258) or 1252",
            )
        return codec
    if dbf is None or len(dbf) < 32:
        return "utf-8"
    records = dbf[int.from_bytes(dbf[8:10], "little") :]
    try:
        records.decode("utf-8")
    except UnicodeDecodeError:
        return _LDID.get(dbf[29], "iso8859-1")  # GDAL's default
    return "utf-8"


def _codec(declared: str) -> str | None:
    """Python codec name of a .cpg value ('UTF-8', '1258', '8859_1', 'CP1252', ...)."""
    value = declared.strip().upper().replace(" ", "")
    iso = re.fullmatch(r"(?:ISO)?[-_]?8859[-_]?(\d{1,2})", value)
    if iso:
        value = f"iso8859-{iso.group(1)}"
    elif value.isdigit():
        value = "utf-8" if value == "65001" else f"cp{value}"
    try:
        return codecs.lookup(value).name
    except LookupError:
        return None


def _decode_latin1(path: Path, frame: gpd.GeoDataFrame, codec: str) -> gpd.GeoDataFrame:
    """Re-decode texts read as Latin-1 (one character per byte) with their real codec."""
    if codec == "iso8859-1":
        return frame

    def decode(text: str, column: str) -> str:
        try:
            return text.encode("latin-1").decode(codec)
        except UnicodeError:
            raise InputError(
                path,
                f"text {text!r} is not valid {codec}",
                field=column,
                hint="correct the encoding named in the .cpg (or add one: UTF-8, 1258, 1252, ...)",
            ) from None

    geometry = frame.geometry.name
    renamed = {c: decode(c, c) if c != geometry else c for c in map(str, frame.columns)}
    frame = frame.rename(columns=renamed)
    for column in frame.columns:
        dtype = frame[column].dtype
        if column == geometry or not (
            pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)
        ):
            continue
        values = [decode(v, column) if isinstance(v, str) else v for v in frame[column]]
        frame[column] = pd.array(values, dtype=frame[column].dtype)
    return frame


# -- coordinate reference systems ----------------------------------------------------------


def _source_crs(path: Path, frame: gpd.GeoDataFrame) -> str:
    """The CRS the file declares, as text; a missing one is allowed only for lon/lat values."""
    crs = frame.crs
    if crs is not None:
        authority = crs.to_authority()
        return f"{authority[0]}:{authority[1]}" if authority else str(crs.name)
    geometry = frame.geometry.to_numpy()
    x0, y0, x1, y1 = shapely.total_bounds(geometry[~shapely.is_empty(geometry)])
    if math.isnan(x0) or (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        return f"none (assumed {WGS84})"  # (no coordinates at all: refused later, by code)
    raise InputError(
        path,
        f"declares no coordinate reference system, and its coordinates (x {x0:.0f} to "
        f"{x1:.0f}, y {y0:.0f} to {y1:.0f}) are not longitude/latitude",
        hint="add the .prj that came with the data, or convert the file to EPSG:4326 "
        "(e.g. ogr2ogr -s_srs EPSG:32648 -t_srs EPSG:4326 out.geojson in.shp)",
    )


def _to_wgs84(path: Path, geometry: np.ndarray, crs: Any) -> np.ndarray:
    """Geometries reprojected to EPSG:4326, refusing coordinates that are not on the Earth.

    Unchanged when the file is in EPSG:4326 or has no CRS (then it has
    longitude/latitude values, see :func:`_source_crs`).
    """
    out: np.ndarray = geometry
    if not _is_wgs84(crs):
        try:
            out = gpd.GeoSeries(geometry, crs=crs).to_crs(WGS84).to_numpy()
        except Exception as exc:  # pyproj raises several types for a CRS it cannot convert
            raise InputError(
                path, f"cannot convert from {crs.name} to {WGS84} ({_short(exc)})"
            ) from None
    x0, y0, x1, y1 = shapely.total_bounds(out)
    finite = all(math.isfinite(v) for v in (x0, y0, x1, y1))
    if not (finite and -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        converted = f" after conversion from {crs.name}" if not _is_wgs84(crs) else ""
        raise InputError(
            path,
            f"coordinates{converted} are not longitude/latitude (x {x0:.6g} to {x1:.6g}, "
            f"y {y0:.6g} to {y1:.6g}): the CRS the file declares does not match its coordinates",
            hint="check the .prj (or the CRS the file declares) against the data",
        )
    return out


def _is_wgs84(crs: Any) -> bool:
    """Whether coordinates in ``crs`` are already WGS84 longitude/latitude (or no CRS)."""
    return crs is None or bool(crs.equals(WGS84, ignore_axis_order=True))


# -- fields --------------------------------------------------------------------------------


def _fields(path: Path, columns: list[str], options: BoundaryOptions) -> dict[str, str | None]:
    """The source column of each canonical column (``None``: not in the file)."""
    given = {
        "code": options.code_field,
        "name": options.name_field,
        "population": options.population_field,
    }
    by_key: dict[str, str] = {}
    for column in columns:
        by_key.setdefault(fold(column), column)
    found: dict[str, str | None] = {}
    for target, candidates in _CANDIDATES.items():
        wanted = given.get(target)
        if wanted is not None:
            found[target] = _given_field(path, wanted, _OPTION[target], columns)
            continue
        taken = set(found.values())
        found[target] = next(
            (
                by_key[fold(c)]
                for c in candidates
                if fold(c) in by_key and by_key[fold(c)] not in taken
            ),
            None,
        )
    for target in ("code", "name"):
        if found[target] is None:
            looked = ", ".join(_CANDIDATES[target])
            raise UsageError(
                f"{path}: no commune {target} column found (looked for {looked})",
                hint=f"name it with {_OPTION[target]}; the file's columns are: "
                + _listing(columns),
            )
    return found


def _given_field(path: Path, wanted: str, option: str, columns: list[str]) -> str:
    if wanted in columns:
        return wanted
    folded = [c for c in columns if fold(c) == fold(wanted)]
    if len(folded) == 1:
        return folded[0]
    raise UsageError(
        f"{path}: {option}: no field {wanted!r} in the file",
        hint="its columns are: " + _listing(columns),
    )


def _listing(values: Sequence[str], limit: int = 60) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


# -- values --------------------------------------------------------------------------------


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _texts(values: pd.Series) -> list[str | None]:
    """Trimmed NFC texts; whole numbers without '.0'; missing or blank -> None."""
    out: list[str | None] = []
    for value in values.tolist():
        if _missing(value):
            out.append(None)
        elif isinstance(value, float) and value.is_integer():
            out.append(str(int(value)))
        else:
            text = unicodedata.normalize("NFC", str(value)).strip().strip("\ufeff\u200b")
            out.append(text or None)
    return out


_THOUSANDS: Final = re.compile(r"\d{1,3}(?:[.,]\d{3})+")


def _populations(path: Path, values: list[object], column: str) -> list[int | None]:
    """Whole non-negative numbers (texts like '9,496' or '9.496' too); else None."""
    out: list[int | None] = []
    bad: list[str] = []
    for value in values:
        number: float | None = None
        if _missing(value):
            pass
        elif isinstance(value, int | float | np.integer | np.floating):
            number = float(value)
        else:
            text = re.sub(r"\s", "", str(value))
            if _THOUSANDS.fullmatch(text):
                text = re.sub(r"[.,]", "", text)
            try:
                number = float(text.replace(",", ".")) if text else None
            except ValueError:
                bad.append(repr(str(value)))
        ok = number is not None and math.isfinite(number) and number >= 0
        out.append(round(number) if ok and number is not None else None)
    if bad:
        raise InputError(
            path,
            f"{len(bad)} population values are not numbers: {_listing(bad, _SHOWN)}",
            field=column,
            hint="correct them, or name the population column with --population-field",
        )
    return out


def _required(
    path: Path,
    target: str,
    values: list[str | None],
    fields: dict[str, str | None],
    labels: Sequence[str],
) -> list[str]:
    """The values of the code or name column, refusing communes without one.

    ``labels`` name the features in the message: feature numbers (1-based, in
    the file) for missing codes, codes for missing names.
    """
    empty = [i for i, v in enumerate(values) if v is None]
    if empty:
        what = "features" if target == "code" else "communes"
        where = f"{what} " + _listing([labels[i] for i in empty], _SHOWN)
        raise InputError(
            path,
            f"{len(empty)} features have no commune {target}: {where}",
            field=fields[target],
            hint=f"fill them in, or choose another column with {_OPTION[target]}",
        )
    return [v for v in values if v is not None]


def _check_duplicates(path: Path, codes: list[str], names: list[str], column: str | None) -> None:
    seen: dict[str, list[str]] = defaultdict(list)
    for code, name in zip(codes, names, strict=True):
        seen[code].append(name)
    duplicated = {code: names for code, names in seen.items() if len(names) > 1}
    if duplicated:
        shown = [f"{code} ({', '.join(n)})" for code, n in sorted(duplicated.items())]
        raise InputError(
            path,
            f"{len(duplicated)} commune codes appear more than once: {_listing(shown, _SHOWN)}",
            field=column,
            hint="choose the column of unique commune codes with --code-field, "
            "keep one province with --province, or fix the file",
        )


# -- province ------------------------------------------------------------------------------


def _province_rows(
    path: Path,
    attributes: dict[str, list[str | None]],
    province: str | None,
    all_provinces: bool = False,
) -> tuple[np.ndarray, str | None]:
    """Which features to keep, and the label ('12 Lai Châu') of the province kept.

    Without ``province``, a file whose communes belong to several provinces is
    refused unless ``all_provinces`` says that is meant: a national file imported
    by mistake would make a provincial report of every commune of the country.
    """
    codes, names = attributes["province_code"], attributes["province_name"]
    count = len(codes)
    has_columns = any(c is not None for c in codes) or any(n is not None for n in names)
    pairs = list(zip(codes, names, strict=True))
    if province is None:
        distinct = set(pairs)
        labels = sorted({_province_label(c, n) or "" for c, n in distinct} - {""})
        if len(labels) > 1 and not all_provinces:
            raise UsageError(
                f"{path}: the communes belong to {len(labels)} provinces "
                f"({_listing(labels, 10)}); a provincial report needs one",
                hint="keep one with --province CODE_OR_NAME (in qostool.toml: [boundaries] "
                "province), or pass --all-provinces ([boundaries] all_provinces = true) "
                "to import them all on purpose",
            )
        label = _province_label(*next(iter(distinct))) if len(distinct) == 1 else None
        return np.ones(count, dtype=bool), label
    if not has_columns:
        raise UsageError(
            f"{path}: --province {province!r}: the file has no province code or name column "
            "(looked for "
            + ", ".join(_CANDIDATES["province_code"] + _CANDIDATES["province_name"])
            + ")",
            hint="leave out --province for a file of one province",
        )
    wanted = unicodedata.normalize("NFC", province).strip()
    key = _province_key(wanted)

    def matches(code: str | None, name: str | None) -> bool:
        if code is not None and (
            code == wanted or (code.isdigit() and wanted.isdigit() and int(code) == int(wanted))
        ):
            return True
        return bool(key) and name is not None and _province_key(name) == key

    keep = np.array([matches(c, n) for c, n in pairs], dtype=bool)
    found = sorted({p for p, k in zip(pairs, keep, strict=True) if k}, key=str)
    available = [_province_label(c, n) or "" for c, n in sorted(set(pairs), key=str)]
    if not found:
        raise UsageError(
            f"{path}: --province: no province matches {province!r}",
            hint="its provinces are: " + _listing(available, 100),
        )
    if len(found) > 1:
        raise UsageError(
            f"{path}: --province {province!r} matches several provinces: "
            + ", ".join(_province_label(c, n) or "" for c, n in found),
            hint="give the province code",
        )
    return keep, _province_label(*found[0])


def _province_key(name: str) -> str:
    """Folded province name without a leading 'Tỉnh', 'Thành phố' or 'TP'."""
    key = fold(name)
    for prefix in _PROVINCE_PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            return key[len(prefix) :]
    return key


def _province_label(code: str | None, name: str | None) -> str | None:
    label = " ".join(v for v in (code, name) if v)
    return label or None


# -- geometries ----------------------------------------------------------------------------


def _geometries(
    path: Path, frame: gpd.GeoDataFrame, rows: np.ndarray, codes: list[str], names: list[str]
) -> tuple[np.ndarray, list[tuple[str, str, str]]]:
    """Valid polygonal WGS84 geometries of the kept rows, and what was repaired."""
    geometry = frame.geometry.to_numpy()[rows]
    empty = np.flatnonzero(shapely.is_missing(geometry) | shapely.is_empty(geometry))
    if len(empty):
        raise InputError(
            path,
            f"{len(empty)} communes have no geometry: "
            + _listing([codes[i] for i in empty], _SHOWN),
            hint="draw their boundaries, or remove them from the file",
        )
    kinds = shapely.get_type_id(geometry)
    other = np.flatnonzero((kinds != _POLYGON) & (kinds != _MULTIPOLYGON))
    if len(other):
        types = sorted({geometry[i].geom_type for i in other})
        raise InputError(
            path,
            f"{len(other)} communes are not polygons ({', '.join(types)}): "
            + _listing([codes[i] for i in other], _SHOWN),
            hint="commune boundaries must be Polygon or MultiPolygon features "
            "(choose the polygon layer with --layer)",
        )
    geometry = shapely.force_2d(geometry)
    repaired = _repair(path, geometry, codes, names)
    # flat: all vertices on a line (up to rounding), so no area compared with its extent
    flat = np.flatnonzero(shapely.area(geometry) <= 1e-9 * shapely.area(shapely.envelope(geometry)))
    if len(flat):
        raise InputError(
            path,
            f"{len(flat)} communes have a geometry without area: "
            + _listing([f"{codes[i]} ({names[i]})" for i in flat], _SHOWN),
            hint="redraw their boundaries, or remove them from the file",
        )
    geometry = _to_wgs84(path, geometry, frame.crs)
    if not _is_wgs84(frame.crs):
        repaired += _repair(path, geometry, codes, names, note=f" (after conversion to {WGS84})")
    return geometry, repaired


def _repair(
    path: Path,
    geometry: np.ndarray,
    codes: list[str],
    names: list[str],
    *,
    note: str = "",
) -> list[tuple[str, str, str]]:
    """Make invalid geometries valid in place (polygonal parts only); (code, name, why)."""
    repaired: list[tuple[str, str, str]] = []
    for i in np.flatnonzero(~shapely.is_valid(geometry)):
        reason = str(shapely.is_valid_reason(geometry[i]))
        made = shapely.make_valid(geometry[i], method="structure", keep_collapsed=False)
        fixed = _polygonal(made)
        if fixed.is_empty:
            raise InputError(
                path,
                f"commune {codes[i]} ({names[i]}): the geometry has no area ({reason})",
                hint="redraw its boundary, or remove it from the file",
            )
        geometry[i] = fixed
        repaired.append((codes[i], names[i], reason + note))
    return repaired


def _polygonal(geometry: Any) -> Any:
    """The polygonal parts of a geometry, as one valid Polygon or MultiPolygon."""
    if shapely.get_type_id(geometry) in (_POLYGON, _MULTIPOLYGON):
        return geometry
    parts = shapely.get_parts(shapely.get_parts(geometry))
    polygons = parts[(shapely.get_type_id(parts) == _POLYGON) & ~shapely.is_empty(parts)]
    if len(polygons) == 0:
        return shapely.Polygon()
    return polygons[0] if len(polygons) == 1 else shapely.union_all(polygons)


# -- overlaps and gaps ---------------------------------------------------------------------


def topology(
    communes: gpd.GeoDataFrame, *, tiles: int | None = None
) -> tuple[list[tuple[str, str, float]], list[tuple[float, list[str]]]]:
    """Overlaps between communes and gaps enclosed by them, in m² (above ``MIN_AREA_M2``).

    Measured in the UTM zone of the data. Overlaps: pairs of communes whose
    intersection has an area. Gaps: areas covered by no commune but enclosed
    by communes (holes of their union), except where a single commune has a
    hole of its own there (a lake, an enclave), even if another commune fills
    part of it. ``tiles`` (per side) is for tests; by default it grows with
    the count.
    """
    codes = [str(c) for c in communes["code"]]
    geometry = communes.geometry.to_crs(_metric_crs(communes)).to_numpy()
    bad = np.flatnonzero(~shapely.is_valid(geometry))  # rare: projection moved a vertex
    for i in bad:
        geometry[i] = _polygonal(shapely.make_valid(geometry[i], method="structure"))
    tree = shapely.STRtree(geometry)
    overlaps = _overlaps(geometry, tree, codes)
    if tiles is None:
        tiles = max(1, round(math.sqrt(len(geometry) / 6)))
    free = _without_own_holes(_enclosed_free_space(geometry, tree, tiles), geometry)
    areas = shapely.area(free)
    free, areas = free[areas > MIN_AREA_M2], areas[areas > MIN_AREA_M2]
    around: dict[int, set[str]] = defaultdict(set)
    for gap, commune in zip(*tree.query(free, predicate="dwithin", distance=_NEAR_M), strict=True):
        around[int(gap)].add(codes[commune])
    gaps = [(round(float(area), 2), sorted(around[i])) for i, area in enumerate(areas)]
    gaps.sort(key=lambda g: (-g[0], g[1]))
    return overlaps, gaps


def _without_own_holes(free: np.ndarray, geometry: np.ndarray) -> np.ndarray:
    """``free`` minus the holes of single communes (few: national files have a handful)."""
    parts = shapely.get_parts(geometry)
    rings = [
        shapely.get_interior_ring(part, k)
        for part, count in zip(parts, shapely.get_num_interior_rings(parts), strict=True)
        for k in range(count)
    ]
    if not rings or len(free) == 0:
        return free
    holes = shapely.polygons(rings)
    piece, hole = shapely.STRtree(holes).query(free, predicate="intersects")
    out = free.copy()
    for i in np.unique(piece):
        out[i] = _robust(shapely.difference, free[i], shapely.union_all(holes[hole[piece == i]]))
    return out


def _metric_crs(communes: gpd.GeoDataFrame) -> Any:
    """The UTM zone of the data; near the poles (no UTM), an equal-area CRS around it."""
    try:
        return communes.estimate_utm_crs()
    except RuntimeError:
        x0, y0, x1, y1 = communes.total_bounds
        lat, lon = (y0 + y1) / 2, (x0 + x1) / 2
        return f"+proj=laea +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs"


def _overlaps(
    geometry: np.ndarray, tree: shapely.STRtree, codes: list[str]
) -> list[tuple[str, str, float]]:
    left, right = tree.query(geometry, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    chunks = np.array_split(np.arange(len(left)), max(1, min(len(left) // 500, 4 * _WORKERS)))
    areas = np.concatenate(
        [np.zeros(0), *_parallel(lambda c: _areas(geometry[left[c]], geometry[right[c]]), chunks)]
    )
    found = [
        (*sorted((codes[a], codes[b])), round(float(m2), 2))
        for a, b, m2 in zip(left, right, areas, strict=True)
        if m2 > MIN_AREA_M2
    ]
    return sorted((a, b, m2) for a, b, m2 in found)


def _areas(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Areas of the intersections of ``a[i]`` and ``b[i]``."""
    try:
        return np.asarray(shapely.area(shapely.intersection(a, b)), dtype=float)
    except GEOSException:  # a robustness failure: retry pair by pair, snapped to 1 mm
        pairs = zip(a, b, strict=True)
        return np.array([_robust(shapely.intersection, x, y).area for x, y in pairs])


def _robust(operation: Callable[..., Any], *args: Any) -> Any:
    try:
        return operation(*args)
    except GEOSException:
        return operation(*args, grid_size=1e-3)


def _enclosed_free_space(geometry: np.ndarray, tree: shapely.STRtree, tiles: int) -> np.ndarray:
    """The areas covered by no polygon that are enclosed by polygons (not open to the outside).

    The same as the holes of the union of all polygons, without building that
    union (slow for thousands of communes): the extent, padded so that the
    outside is connected around it, is cut into tiles; each tile's free space
    is the tile minus its communes. Pieces that do not reach their tile's edge
    are enclosed; the others are joined across tile edges, and the groups
    that never reach the outer frame are enclosed too.
    """
    if len(geometry) == 0:
        return np.array([], dtype=object)
    x0, y0, x1, y1 = shapely.total_bounds(geometry)
    pad = max(1.0, 1e-3 * max(x1 - x0, y1 - y0))
    xs = np.linspace(x0 - pad, x1 + pad, tiles + 1)
    ys = np.linspace(y0 - pad, y1 + pad, tiles + 1)
    cells = [(xs[a], ys[b], xs[a + 1], ys[b + 1]) for a in range(tiles) for b in range(tiles)]
    boxes = shapely.box(*np.array(cells).T)
    cell_of, member = tree.query(boxes)
    order = np.argsort(cell_of, kind="stable")
    cell_of, member = cell_of[order], member[order]
    members = np.split(member, np.searchsorted(cell_of, np.arange(1, len(cells))))

    def free_space(
        task: tuple[tuple[float, float, float, float], np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray]:
        """(pieces inside the cell, pieces reaching its edge) of the cell's free space."""
        cell, inside = task
        box = shapely.box(*cell)
        if len(inside) == 0:
            return np.array([], dtype=object), np.array([box], dtype=object)
        clipped = shapely.clip_by_rect(geometry[inside], *cell)
        covered = _robust(shapely.union_all, clipped)
        free = shapely.get_parts(_robust(shapely.difference, box, covered))
        free = free[shapely.get_type_id(free) == _POLYGON]
        reaching = shapely.intersects(free, box.exterior)
        return free[~reaching], free[reaching]

    pieces = _parallel(free_space, list(zip(cells, members, strict=True)))
    enclosed = [inside for inside, _ in pieces]
    reaching = np.concatenate([np.array([], dtype=object)] + [edge for _, edge in pieces])
    return np.concatenate([*enclosed, _closed_groups(reaching, xs, ys)])


def _closed_groups(pieces: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Unions of pieces joined along tile edges, for the groups not reaching the frame."""
    if len(pieces) == 0:
        return np.array([], dtype=object)
    parent = list(range(len(pieces)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    left, right = shapely.STRtree(pieces).query(pieces, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    shared_edge = shapely.relate_pattern(pieces[left], pieces[right], "****1****")
    for a, b in zip(left[shared_edge], right[shared_edge], strict=True):
        parent[root(int(a))] = root(int(b))
    frame = shapely.box(xs[0], ys[0], xs[-1], ys[-1]).exterior
    outside = {root(int(i)) for i in np.flatnonzero(shapely.intersects(pieces, frame))}
    groups: dict[int, list[Any]] = defaultdict(list)
    for i, piece in enumerate(pieces):
        if root(i) not in outside:
            groups[root(i)].append(piece)
    return np.array([_robust(shapely.union_all, g) for g in groups.values()], dtype=object)


def _parallel(function: Callable[[_T], _R], tasks: Sequence[_T]) -> list[_R]:
    """``function`` over ``tasks`` in threads (Shapely releases the GIL), in order."""
    if _WORKERS == 1 or len(tasks) < 2:
        return [function(t) for t in tasks]
    with ThreadPoolExecutor(_WORKERS) as pool:
        return list(pool.map(function, tasks))
