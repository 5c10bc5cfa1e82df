"""``qostool report``: the monthly report from a stored analysis.

- ``context.py`` builds the report's data once (plain dataclasses);
- ``i18n.py`` holds the Vietnamese and English words and number formats;
- ``charts.py`` draws the commune map and the trend (matplotlib, SVG and PNG);
- ``render.py`` is the Jinja2 environment (packaged templates, user overrides);
- ``xlsx.py`` writes the XLSX annex;
- ``word.py`` renders the Word template (docxtpl) into the DOCX report;
- ``pdf.py`` prints the HTML report to PDF (WeasyPrint, the optional ``pdf`` extra);
- ``write.py`` ties them together and writes the files atomically.

Usage from a notebook::

    from qostool.report import ReportOptions, write_report
    write_report(store, ReportOptions(month="2025-10", formats=("html", "xlsx")))
"""

from qostool.report.write import (
    DEFAULT_FORMATS,
    FORMATS,
    ReportOptions,
    ReportResult,
    write_report,
)

__all__ = ["DEFAULT_FORMATS", "FORMATS", "ReportOptions", "ReportResult", "write_report"]
