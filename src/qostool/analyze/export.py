"""``analyze --export``: the stored results as CSV, XLSX, GeoPackage or GeoJSON files.

Files go to ``<out>/<month>/``: ``stats.csv`` and ``communes.csv`` (UTF-8 with a
byte-order mark, so spreadsheet programs show Vietnamese names correctly);
``qostool-<month>.xlsx`` with one sheet per table and readable headers;
``communes-<month>.gpkg`` / ``.geojson``: each commune's geometry with its
figures, for QGIS.

Names are data and never act in a spreadsheet: the XLSX writes every text as a
string (never a formula, a link or a number), and a CSV text cell starting with
``= + - @``, a tab or a carriage return gets a leading ``'`` unless raw CSV is
asked for (:func:`qostool.text.csv_cell`; docs/methodology.md, *Exports*). The
method sheet names input files without the analyst's folders.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

import polars as pl

from qostool.analyze.run import Analysis
from qostool.errors import StoreError, UsageError, from_os_error
from qostool.geo import versions
from qostool.store import Store
from qostool.text import CSV_FORMULA_START, XLSX_OPTIONS, file_label

FORMATS: Final = ("csv", "xlsx", "gpkg", "geojson")

#: Readable headers (XLSX), for every column of the stored tables.
LABELS: Final = {
    "level": "Level",
    "commune_code": "Commune code",
    "commune_name": "Commune",
    "commune_type": "Type",
    "population": "Population",
    "operator": "Operator",
    "technology": "Technology",
    "tests": "Tests",
    "tile_tests": "Tests in tiles",
    "data_period": "Data period (YYYY-Qn: a quarter's tiles only, quarterly figures; "
    "YYYY-MM+YYYY-Qn: the month's single tests and the quarter's tiles)",
    "devices_min": "Devices, at least (lower bound)",
    "devices_max": "Devices, at most (upper bound)",
    "download_mean_mbps": "Download mean (Mbps)",
    "download_median_mbps": "Download median (Mbps)",
    "download_p10_mbps": "Download p10 (Mbps)",
    "download_p90_mbps": "Download p90 (Mbps)",
    "upload_mean_mbps": "Upload mean (Mbps)",
    "upload_median_mbps": "Upload median (Mbps)",
    "latency_median_ms": "Latency median (ms)",
    "share_ge_target": "Share of tests >= target",
    "download_mean_ci_low": "Download mean, interval low",
    "download_mean_ci_high": "Download mean, interval high",
    "peak_download_mean_mbps": "Peak-hour download mean (Mbps)",
    "peak_tests": "Peak-hour tests",
    "target_mbps": "Target (Mbps)",
    "statistic": "Statistic compared",
    "statistic_value": "Statistic value",
    "statistic_ci_low": "Statistic interval low",
    "statistic_ci_high": "Statistic interval high",
    "verdict": "Verdict",
    "prev_download_mean_mbps": "Last month's download mean (Mbps)",
    "download_mean_change_mbps": "Change of the mean (Mbps; empty when last month rests on "
    "the same data)",
    "prev_data_period": "Last month's data period",
    "change_basis": "Change compares (distinct data, shared_tiles, same_data)",
    "months_below_target": "Data periods in a row below target (a quarter of tiles counts once)",
    "tests_5g": "5G tests",
    "download_median_5g_mbps": "5G download median (Mbps)",
    "download_mean_5g_mbps": "5G download mean (Mbps)",
    "tests_4g": "4G tests",
    "download_mean_4g_mbps": "4G download mean (Mbps)",
    "verdict_4g": "4G verdict",
    "tests_mobile": "Mobile tests",
    "devices_mobile_min": "Mobile devices, at least",
    "devices_mobile_max": "Mobile devices, at most",
    "tests_fixed": "Fixed tests (Wi-Fi, fixed tiles)",
    "devices_fixed_min": "Fixed devices (Wi-Fi, fixed tiles), at least",
    "devices_fixed_max": "Fixed devices (Wi-Fi, fixed tiles), at most",
    "tests_per_1000": "Mobile tests per 1,000 inhabitants",
    "devices_min_per_1000": "Mobile devices per 1,000 inhabitants, at least",
    "devices_max_per_1000": "Mobile devices per 1,000 inhabitants, at most",
    "share_5g": "Share of tests on 5G",
    "has_tests": "Has mobile tests",
    "has_5g": "Has 5G tests",
}

#: XLSX sheets: name -> (level of the statistics table, or None for the commune table).
_SHEETS: Final = {
    "Province": "province",
    "Operators": "operator",
    "Communes": None,
    "Commune statistics": "commune",
    "Commune x operator": "commune_operator",
}


def parse_formats(text: str) -> list[str]:
    """``"xlsx,csv"`` -> ``["xlsx", "csv"]``, checked."""
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UsageError(
            f"--export {text!r}: unknown format {', '.join(unknown) or '(none)'}",
            hint=f"use one or more of {', '.join(FORMATS)}, comma-separated",
        )
    return list(dict.fromkeys(formats))


def export_analysis(
    analysis: Analysis, store: Store, formats: list[str], out: Path, *, raw_csv: bool = False
) -> list[Path]:
    """Write the requested files; return their paths.

    ``raw_csv`` writes CSV text cells exactly as stored, without the ``'`` before
    those a spreadsheet would run as formulas (see :func:`csv_safe`).
    """
    folder = out / analysis.month
    if analysis.subfolder:  # a variant's files never overwrite the official ones
        folder /= analysis.subfolder
    try:
        folder.mkdir(parents=True, exist_ok=True)  # and any missing parent, as for reports
    except OSError as exc:
        raise from_os_error(exc) from exc
    written: list[Path] = []
    for fmt in formats:
        if fmt == "csv":
            for name, frame in (("stats", analysis.stats), ("communes", analysis.communes)):
                path = folder / f"{name}.csv"
                (frame if raw_csv else csv_safe(frame)).write_csv(path, include_bom=True)
                written.append(path)
        elif fmt == "xlsx":
            written.append(_xlsx(analysis, folder / f"qostool-{analysis.month}.xlsx"))
        else:
            written.append(_geo(analysis, store, folder / f"communes-{analysis.month}.{fmt}"))
    return written


def csv_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with each text cell a spreadsheet would run as a formula prefixed with ``'``.

    The rule is :func:`qostool.text.csv_cell`, applied to text columns only:
    numbers (``-5.2``) are numbers and stay as they are.
    """
    texts = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not texts:
        return frame

    def guarded(name: str) -> pl.Expr:
        column = pl.col(name)
        formula = pl.any_horizontal([column.str.starts_with(c) for c in CSV_FORMULA_START])
        return pl.when(formula).then(pl.lit("'") + column).otherwise(column).alias(name)

    return frame.with_columns(guarded(name) for name in texts)


def method_items(meta: dict[str, object]) -> dict[str, object]:
    """The analysis' record for the method sheet: input files by name, not by path."""
    items = dict(meta)
    inputs = items.get("inputs")
    if isinstance(inputs, list):
        items["inputs"] = [
            {**i, "file": file_label(str(i["file"]))} if isinstance(i, dict) and "file" in i else i
            for i in inputs
        ]
    boundaries = items.get("boundaries")
    if isinstance(boundaries, dict) and "source" in boundaries:
        items["boundaries"] = {**boundaries, "source": file_label(str(boundaries["source"]))}
    return items


def _xlsx(analysis: Analysis, path: Path) -> Path:
    from xlsxwriter.exceptions import FileCreateError

    try:
        _write_xlsx(analysis, path)
    except FileCreateError as exc:
        # xlsxwriter wraps the OSError of writing the file (e.g. open in Excel on Windows).
        cause = exc.args[0] if exc.args else None
        if isinstance(cause, OSError):
            raise from_os_error(cause) from exc
        raise
    return path


def _write_xlsx(analysis: Analysis, path: Path) -> None:
    from xlsxwriter import Workbook

    # Every text a string: never a formula (=...), a link (http://...) or a number.
    with Workbook(path, dict(XLSX_OPTIONS)) as workbook:
        for sheet, level in _SHEETS.items():
            frame = (
                analysis.communes
                if level is None
                else analysis.stats.filter(pl.col("level") == level).drop("level")
            )
            frame.rename({c: LABELS.get(c, c) for c in frame.columns}).write_excel(
                workbook=workbook,
                worksheet=sheet,
                autofit=True,
                float_precision=2,
                freeze_panes=(1, 0),
            )
        items = method_items(analysis.meta)
        method = pl.DataFrame(
            {
                "item": list(items),
                "value": [
                    v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                    for v in items.values()
                ],
            }
        )
        method.write_excel(workbook=workbook, worksheet="Method", autofit=True)


def _geo(analysis: Analysis, store: Store, path: Path) -> Path:
    import geopandas as gpd

    version = analysis.meta["boundaries"]["version"]
    found = store.artifacts(versions.KIND, version)
    if not found:
        raise StoreError(
            f"{store.root}: boundaries {version} used by this analysis are no longer stored",
            hint="import them again, or analyse the month again",
        )
    communes = versions.load_communes(found[0])
    order = communes.table.select("code").with_row_index("__shape")
    table = analysis.communes.join(
        order, left_on="commune_code", right_on="code", how="left", maintain_order="left"
    )
    merged = gpd.GeoDataFrame(
        table.drop("__shape").to_pandas(),
        geometry=communes.geometries[table["__shape"].to_numpy()],
        crs="EPSG:4326",
    )
    if path.exists():
        path.unlink()
    driver = "GPKG" if path.suffix == ".gpkg" else "GeoJSON"
    merged.to_file(path, driver=driver, layer="communes" if driver == "GPKG" else None)
    return path
