"""The report as PDF: the HTML report printed by WeasyPrint (the optional ``pdf`` extra).

WeasyPrint is imported only when a PDF is asked for, and only after checking
what it needs: the Python package, the system libraries it loads (Pango,
HarfBuzz with HarfBuzz-Subset, Fontconfig, GLib) and at least one font with
Vietnamese letters. When any is missing, ``--format pdf`` stops before anything
is written, with a message naming what to install (the Debian/Ubuntu package).
WeasyPrint's own reactions to a missing library (a text printed on stdout, a
warning, an ``OSError``) never reach the user. The PDF's creation and
modification dates are the report's date, so the same store and
``--generated-at`` give the same bytes.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Final

from qostool.errors import QostoolError


@dataclass(frozen=True)
class SystemLibrary:
    """A shared library WeasyPrint loads, and the package that brings it."""

    name: str
    """The library's name, as WeasyPrint's loading error quotes it (``pango-1.0``)."""
    debian: str
    """The Debian/Ubuntu package to install."""


#: Every library WeasyPrint loads, most specific name first (``pangoft2`` before ``pango``).
LIBRARIES: Final = (
    SystemLibrary("gobject-2.0", "libglib2.0-0"),
    SystemLibrary("pangoft2-1.0", "libpangoft2-1.0-0"),
    SystemLibrary("pango-1.0", "libpango-1.0-0"),
    SystemLibrary("harfbuzz-subset", "libharfbuzz-subset0"),
    SystemLibrary("harfbuzz", "libharfbuzz0b"),
    SystemLibrary("fontconfig", "libfontconfig1"),
)
#: Fontconfig's file names on Linux, macOS and Windows (the font check opens it itself).
FONTCONFIG_FILES: Final = ("libfontconfig.so.1", "libfontconfig.1.dylib", "libfontconfig-1.dll")
_BY_NAME: Final = {lib.name: lib for lib in LIBRARIES}
#: The fonts the report's style sheet asks for, both with every Vietnamese letter.
FONT_PACKAGES: Final = "fonts-dejavu-core (or fonts-noto-core)"
#: What ``apt install`` needs on a Debian/Ubuntu machine with none of it (the others come
#: with these; docs/report.md and the README name the same).
SYSTEM_PACKAGES: Final = "libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core"

PIP_HINT: Final = (
    "install the PDF engine, WeasyPrint, with: pip install 'qostool[pdf]' (or pip install "
    "weasyprint); it also needs system libraries and fonts (Debian/Ubuntu: apt install "
    f"{SYSTEM_PACKAGES}); see docs/report.md"
)
WINDOWS_HINT: Final = (
    "on Windows, install the libraries with MSYS2 (pacman -S mingw-w64-ucrt-x86_64-pango) "
    "as WeasyPrint's installation guide says; see docs/report.md"
)


class PdfEngineError(QostoolError):
    """``--format pdf`` without a PDF engine, or without what the engine needs."""


def _missing_library_error(library: SystemLibrary, cause: str) -> PdfEngineError:
    hint = f"install it (Debian/Ubuntu: apt install {library.debian})"
    if sys.platform == "win32":
        hint = WINDOWS_HINT
    return PdfEngineError(
        f"--format pdf: the PDF engine (WeasyPrint) needs the system library {library.name}, "
        f"which cannot be loaded ({cause})",
        hint=hint,
    )


def _library_in(message: str) -> SystemLibrary | None:
    """The library a loading error is about (WeasyPrint quotes the first name it tried)."""
    for library in LIBRARIES:
        if library.name in message:
            return library
    return None


def _import_weasyprint() -> Any:
    """``import weasyprint`` with its printed advice and import-time warnings kept quiet.

    When a system library is missing, WeasyPrint prints installation advice on
    stdout (where ``--json`` output goes) and raises ``OSError``; when
    HarfBuzz-Subset is missing it warns. Both become our own error instead.
    """
    with (
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        import weasyprint
    return weasyprint


def _open_fontconfig() -> ctypes.CDLL | None:
    for file in FONTCONFIG_FILES:
        with contextlib.suppress(OSError):
            return ctypes.CDLL(file)
    return None


class _FontSet(ctypes.Structure):
    _fields_ = (
        ("nfont", ctypes.c_int),
        ("sfont", ctypes.c_int),
        ("fonts", ctypes.POINTER(ctypes.c_void_p)),
    )


def vietnamese_fonts() -> list[str]:
    """Families of the installed fonts that Fontconfig says cover Vietnamese (``:lang=vi``).

    Empty when Fontconfig cannot be loaded (the library check reports that).
    """
    fc = _open_fontconfig()
    if fc is None:
        return []
    fc.FcNameParse.restype = ctypes.c_void_p
    fc.FcNameParse.argtypes = (ctypes.c_char_p,)
    fc.FcObjectSetBuild.restype = ctypes.c_void_p
    fc.FcFontList.restype = ctypes.POINTER(_FontSet)
    fc.FcFontList.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
    fc.FcPatternGetString.argtypes = (
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_char_p),
    )
    fc.FcPatternDestroy.argtypes = (ctypes.c_void_p,)
    fc.FcObjectSetDestroy.argtypes = (ctypes.c_void_p,)
    fc.FcFontSetDestroy.argtypes = (ctypes.POINTER(_FontSet),)
    pattern = fc.FcNameParse(b":lang=vi")
    objects = fc.FcObjectSetBuild(b"family", None)
    found = fc.FcFontList(None, pattern, objects)
    families: set[str] = set()
    try:
        if found:
            for i in range(found.contents.nfont):
                family = ctypes.c_char_p()
                if fc.FcPatternGetString(found.contents.fonts[i], b"family", 0, family) == 0:
                    families.add((family.value or b"").decode("utf-8", "replace"))
    finally:
        if found:
            fc.FcFontSetDestroy(found)
        fc.FcObjectSetDestroy(objects)
        fc.FcPatternDestroy(pattern)
    return sorted(families)


def check_pdf_engine() -> str:
    """The PDF engine's name and version, or :class:`PdfEngineError` saying what to install."""
    try:
        weasyprint = _import_weasyprint()
    except OSError as exc:  # a system library WeasyPrint needs cannot be loaded
        library = _library_in(str(exc))
        if library is None:
            raise PdfEngineError(
                f"--format pdf: the PDF engine (WeasyPrint) cannot be loaded ({exc})",
                hint=PIP_HINT,
            ) from None
        raise _missing_library_error(library, str(exc).splitlines()[0]) from None
    except ImportError as exc:
        raise PdfEngineError(
            f"--format pdf: no PDF engine is installed (WeasyPrint could not be loaded: {exc})",
            hint=PIP_HINT,
        ) from None
    from weasyprint.text import ffi

    if getattr(ffi, "harfbuzz_subset", True) is None:
        # WeasyPrint 70 falls back to fontTools and warns that it will need the library.
        raise _missing_library_error(_BY_NAME["harfbuzz-subset"], "WeasyPrint found none")
    if not vietnamese_fonts():
        raise PdfEngineError(
            "--format pdf: no installed font has the Vietnamese letters (Fontconfig finds "
            "none for :lang=vi), so the PDF would show empty boxes",
            hint=f"install one (Debian/Ubuntu: apt install {FONT_PACKAGES})",
        )
    return f"WeasyPrint {weasyprint.__version__}"


def pdf_date(generated_at: str) -> str:
    """The report's date as a PDF metadata date (an ISO date or datetime, as given)."""
    return generated_at if len(generated_at) > 10 else f"{generated_at}T00:00:00"


def render_pdf(html: str, generated_at: str) -> bytes:
    """The HTML report (self-contained) printed to PDF bytes, on A4 as its CSS says.

    Call :func:`check_pdf_engine` first (``write_report`` does, before any work): it
    lists the installed fonts, which need not be done again for every PDF.
    """
    weasyprint = _import_weasyprint()
    document = weasyprint.HTML(string=html).render()
    document.metadata.created = pdf_date(generated_at)
    document.metadata.modified = pdf_date(generated_at)
    pdf: bytes = document.write_pdf()
    return pdf
