"""``event --export``: an event's statuses and daily series as CSV, XLSX, GeoPackage, GeoJSON.

Files go to ``<out>/event-<from>_<to>/``: ``communes.csv`` (one row per commune x
operator, ``all`` included) and ``daily.csv`` (UTF-8 with a byte-order mark, text
cells that a spreadsheet would run as formulas prefixed with ``'`` unless raw CSV
is asked for, as for ``analyze --export``); ``event.xlsx`` with one sheet per table
and a ``Method`` sheet; ``communes.gpkg`` / ``communes.geojson``: each commune's
shape once per operator group (filter on ``operator`` in QGIS).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

import polars as pl

from qostool.analyze.event import EventResult
from qostool.analyze.export import (
    csv_safe,
    file_errors_of_xlsx,
    write_commune_shapes,
)
from qostool.errors import from_os_error
from qostool.store import Store
from qostool.text import XLSX_OPTIONS

#: Readable headers of the XLSX sheets.
LABELS: Final = {
    "commune_code": "Commune code",
    "commune_name": "Commune",
    "operator": "Operator",
    "status": "Status",
    "baseline_tests": "Baseline tests",
    "window_tests": "Window tests",
    "baseline_days": "Baseline days",
    "window_days": "Window days",
    "baseline_tests_per_day": "Baseline tests per day",
    "window_tests_per_day": "Window tests per day",
    "expected_tests": "Expected tests in the window",
    "p_zero": "Chance of no test (Poisson)",
    "activity_judged": "Activity judged",
    "baseline_median_mbps": "Baseline median download (Mbps)",
    "window_median_mbps": "Window median download (Mbps)",
    "ratio": "Median ratio (window / baseline)",
    "ratio_low": "Ratio, interval low",
    "ratio_high": "Ratio, interval high",
    "speed_judged": "Speed judged",
    "date": "Date (local)",
    "period": "Period",
    "tests": "Tests",
    "median_download_mbps": "Median download (Mbps)",
}


def event_folder(result: EventResult, out: Path) -> Path:
    """The folder of an event's files (made if missing)."""
    folder = out / result.periods.slug
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise from_os_error(exc) from exc
    return folder


def export_event(
    result: EventResult, store: Store, formats: list[str], out: Path, *, raw_csv: bool = False
) -> list[Path]:
    """Write the requested files; return their paths."""
    folder = event_folder(result, out)
    written: list[Path] = []
    for fmt in formats:
        if fmt == "csv":
            for name, frame in (("communes", result.statuses), ("daily", result.daily)):
                path = folder / f"{name}.csv"
                (frame if raw_csv else csv_safe(frame)).write_csv(path, include_bom=True)
                written.append(path)
        elif fmt == "xlsx":
            written.append(_xlsx(result, folder / "event.xlsx"))
        else:
            written.append(_geo(result, store, folder / f"communes.{fmt}"))
    return written


def _xlsx(result: EventResult, path: Path) -> Path:
    from xlsxwriter import Workbook

    # Every text a string: never a formula (=...), a link (http://...) or a number.
    with file_errors_of_xlsx(), Workbook(path, dict(XLSX_OPTIONS)) as workbook:
        for sheet, frame in (("Communes", result.statuses), ("Daily", result.daily)):
            frame.rename({c: LABELS.get(c, c) for c in frame.columns}).write_excel(
                workbook=workbook,
                worksheet=sheet,
                autofit=True,
                float_precision=3,
                freeze_panes=(1, 0),
            )
        method = pl.DataFrame(
            {
                "item": list(result.meta),
                "value": [
                    v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                    for v in result.meta.values()
                ],
            }
        )
        method.write_excel(workbook=workbook, worksheet="Method", autofit=True)
    return path


def _geo(result: EventResult, store: Store, path: Path) -> Path:
    return write_commune_shapes(
        result.statuses,
        store,
        result.meta["boundaries"],
        path,
        layer="event",
        hint="import them again, then run the event again",
    )
