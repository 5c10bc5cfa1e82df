"""The report as PDF: the HTML report printed by WeasyPrint (the optional ``pdf`` extra).

WeasyPrint is imported only when a PDF is asked for. When it is missing (or
its system libraries, Pango, cannot be loaded), ``--format pdf`` stops before
anything is written, with a message saying how to install it. The PDF's
creation and modification dates are the report's date, so the same store and
``--generated-at`` give the same bytes.
"""

from __future__ import annotations

from typing import Final

from qostool.errors import QostoolError

INSTALL_HINT: Final = (
    "install the PDF engine, WeasyPrint, with: pip install 'qostool[pdf]' (or pip install "
    "weasyprint); it also needs the Pango library (Debian/Ubuntu: apt install "
    "libpango-1.0-0 libpangoft2-1.0-0); see docs/report.md"
)


class PdfEngineError(QostoolError):
    """``--format pdf`` without a PDF engine."""


def check_pdf_engine() -> str:
    """The PDF engine's name and version, or :class:`PdfEngineError`."""
    try:
        import weasyprint
    except (ImportError, OSError) as exc:
        raise PdfEngineError(
            f"--format pdf: no PDF engine is installed (WeasyPrint could not be loaded: {exc})",
            hint=INSTALL_HINT,
        ) from None
    return f"WeasyPrint {weasyprint.__version__}"


def pdf_date(generated_at: str) -> str:
    """The report's date as a PDF metadata date (an ISO date or datetime, as given)."""
    return generated_at if len(generated_at) > 10 else f"{generated_at}T00:00:00"


def render_pdf(html: str, generated_at: str) -> bytes:
    """The HTML report (self-contained) printed to PDF bytes, on A4 as its CSS says."""
    check_pdf_engine()
    import weasyprint

    document = weasyprint.HTML(string=html).render()
    document.metadata.created = pdf_date(generated_at)
    document.metadata.modified = pdf_date(generated_at)
    pdf: bytes = document.write_pdf()
    return pdf
