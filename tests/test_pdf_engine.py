"""``--format pdf`` checks what the PDF engine needs and names the package to install.

The missing pieces are made missing for real where that can be done without
touching the machine: WeasyPrint's own library loader (cffi's ``dlopen``) is
made to fail for one library in a fresh process, and Fontconfig is pointed at
an empty font folder. The report never says "Internal error", and WeasyPrint's
printed advice never reaches stdout (where ``--json`` output goes).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qostool.report import pdf
from qostool.store import Store
from tests.conftest import require_pdf_engine
from tests.test_report import sample_store

__all__ = ["sample_store"]  # the module-scoped store, used here by name

#: Run qostool in a fresh process where cffi cannot open the libraries whose file name
#: contains argv[1] (WeasyPrint loads every system library through cffi).
WITHOUT_LIBRARY = """
import sys
import cffi

hidden = sys.argv.pop(1)
real = cffi.FFI.dlopen

def dlopen(self, name, *args, **kwargs):
    if hidden in str(name):
        raise OSError(f"cannot load library {name!r}: hidden by the test")
    return real(self, name, *args, **kwargs)

cffi.FFI.dlopen = dlopen
sys.argv[0] = "qostool"
from qostool.cli import main
main()
"""


def report_pdf(
    store: Store, out: Path, *, hidden: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``qostool report --format html,pdf --json`` in a fresh process."""
    args = ["report", "--month", "2025-10", "--store", str(store.root), "--out", str(out)]
    args += ["--format", "html,pdf", "--json"]
    code = [sys.executable, "-c", WITHOUT_LIBRARY, hidden or "no-library-is-hidden"]
    return subprocess.run(
        [*code, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
        check=False,
    )


def assert_refused(result: subprocess.CompletedProcess[str], out: Path, *needles: str) -> None:
    assert result.returncode == 1, result.stderr
    message = " ".join(result.stderr.split())  # Rich may wrap a long line
    for needle in needles:
        assert needle in message, result.stderr
    assert "Internal error" not in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # neither a report nor WeasyPrint's printed advice
    assert not (out / "2025-10").exists()  # nothing written, not even the HTML


@pytest.mark.slow
@pytest.mark.parametrize(
    ("hidden", "library", "package"),
    [
        ("pango-1.0", "pango-1.0", "libpango-1.0-0"),
        ("pangoft2", "pangoft2-1.0", "libpangoft2-1.0-0"),
        ("harfbuzz-subset", "harfbuzz-subset", "libharfbuzz-subset0"),
        ("gobject", "gobject-2.0", "libglib2.0-0"),
    ],
)
def test_a_missing_system_library_is_named_with_its_package(
    sample_store: Store, tmp_path: Path, hidden: str, library: str, package: str
) -> None:
    result = report_pdf(sample_store, tmp_path, hidden=hidden)
    assert_refused(
        result,
        tmp_path,
        f"needs the system library {library}, which cannot be loaded",
        f"apt install {package}",
    )


@pytest.mark.slow
def test_no_font_with_vietnamese_letters_is_refused(sample_store: Store, tmp_path: Path) -> None:
    empty = tmp_path / "no-fonts"
    empty.mkdir()
    config = tmp_path / "fonts.conf"
    config.write_text(
        f"<?xml version='1.0'?><fontconfig><dir>{empty}</dir>"
        f"<cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    result = report_pdf(sample_store, tmp_path / "out", env={"FONTCONFIG_FILE": str(config)})
    assert_refused(
        result,
        tmp_path / "out",
        "no installed font has the Vietnamese letters",
        "apt install fonts-dejavu-core",
    )


def test_the_fonts_fontconfig_finds_for_vietnamese_are_listed() -> None:
    require_pdf_engine()
    fonts = pdf.vietnamese_fonts()
    assert fonts == sorted(set(fonts)) and fonts  # the check passed, so some font covers vi


def test_a_library_in_weasyprints_error_is_recognised() -> None:
    # WeasyPrint quotes the first file name it tried; the most specific name wins.
    cases = {
        "cannot load library 'libpangoft2-1.0-0': error 0x7e": "pangoft2-1.0",
        "cannot load library 'libpango-1.0-0': ...": "pango-1.0",
        "cannot load library 'libharfbuzz-subset-0'": "harfbuzz-subset",
        "cannot load library 'libharfbuzz-0'": "harfbuzz",
        "cannot load library 'libfontconfig-1'": "fontconfig",
        "cannot load library 'libgobject-2.0-0'": "gobject-2.0",
    }
    for message, name in cases.items():
        found = pdf._library_in(message)
        assert found is not None and found.name == name, message
    assert pdf._library_in("something else went wrong") is None


def test_on_windows_the_hint_points_to_msys2(monkeypatch: pytest.MonkeyPatch) -> None:
    library = pdf._library_in("libpango-1.0-0")
    assert library is not None
    monkeypatch.setattr(sys, "platform", "win32")
    error = pdf._missing_library_error(library, "not found")
    assert error.hint is not None and "MSYS2" in error.hint and "apt" not in error.hint
    monkeypatch.setattr(sys, "platform", "linux")
    assert "apt install libpango-1.0-0" in (pdf._missing_library_error(library, "x").hint or "")


def test_the_declared_system_packages_are_the_documented_ones() -> None:
    readme = Path(__file__).resolve().parents[1] / "README.md"
    report_doc = readme.parent / "docs" / "report.md"
    ci = readme.parent / ".ci" / "run"
    for path in (readme, report_doc, ci):
        text = " ".join(path.read_text(encoding="utf-8").split())
        assert pdf.SYSTEM_PACKAGES in text, path
