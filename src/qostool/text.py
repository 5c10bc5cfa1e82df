"""Text from the data, shown as it is and never acting: each escaping rule in one place.

Names, file names and other values read from inputs reach terminals, reports and
exports. Whatever they hold, they are shown, never obeyed:

- :func:`visible` for every output a person reads (terminal, HTML, Markdown, DOCX,
  charts): control characters (ANSI and OSC escape sequences, NUL, newlines, tabs),
  bidirectional overrides and line separators are shown as escapes (``\\x1b``,
  ``\\u202e``), never sent;
- :func:`markdown` for Markdown: visible, and every ASCII punctuation character
  backslash-escaped, so no name is markup, math, a link or a table cell break;
- :func:`csv_cell` for CSV exports: a text a spreadsheet would run as a formula
  gets a leading ``'`` (see docs/methodology.md, *Exports*);
- :func:`file_label` for file names in outputs: the name without the analyst's folders.

The other rules live where their output is made, each once: HTML and XML
escaping is Jinja's autoescaping (``report/render.py``); Rich markup is never
parsed in data, which reach Rich as ``Text`` (``render.py``, :func:`rich_text`);
XLSX cells are written as strings, never formulas or links (xlsxwriter's options
:data:`XLSX_OPTIONS`); matplotlib never parses text as TeX (``report/charts.py``).
"""

from __future__ import annotations

import re
import string
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from rich.text import Text

#: Characters never sent as they are: C0 controls (NUL, ESC, tab, newline...), DEL and C1
#: controls, the Arabic letter mark and the bidirectional marks, embeddings, overrides and
#: isolates (they reorder what a line shows), line and paragraph separators, and lone
#: surrogates (undecodable bytes of a file name).
_INVISIBLE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
#: Every ASCII punctuation character: CommonMark lets each be backslash-escaped.
_MD_PUNCTUATION: Final = re.compile("([" + re.escape(string.punctuation) + "])")
#: ``archive.zip!member``: how ``ingest`` names a member of a zip archive.
_ARCHIVE_MEMBER: Final = re.compile(r"(.*?\.zip)!(.*)", re.IGNORECASE | re.DOTALL)
#: First characters that make a spreadsheet read a text cell as a formula (OWASP's list).
CSV_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
#: xlsxwriter workbook options: every text is written as a string, never as a formula,
#: a link or a number.
XLSX_OPTIONS: Final = {
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}


#: The common controls as Python writes them; every other one as ``\\xNN`` or ``\\uNNNN``.
_SHORT: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group(0)
    code = ord(char)
    if char in _SHORT:
        return _SHORT[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(value: object) -> str:
    """``value`` as text whose control characters are shown, never sent.

    Parameters
    ----------
    value
        Any value; ``str(value)`` is what is shown.

    Returns
    -------
    str
        The text with each control, bidirectional-control or separator character
        replaced by its escape: ``"\\x1b[31m"`` for ESC ``[31m``, ``"\\u202e"``
        for the right-to-left override. Every other character is kept.
    """
    return _INVISIBLE.sub(_escape_char, str(value))


def markdown(value: object) -> str:
    """Text from the data for Markdown (tables included): visible, and no markup at all.

    Every ASCII punctuation character is backslash-escaped (CommonMark allows it
    for each), so a name can be no emphasis, code, link, image, HTML, math
    (``$``), heading, list or table cell break (``|``); newlines are shown as
    ``\\n`` by :func:`visible`, so a row stays one row.
    """
    return _MD_PUNCTUATION.sub(r"\\\1", visible(value))


def rich_text(value: object, style: str = "") -> Text:
    """Text from the data for Rich: visible, and never read as markup or emoji codes."""
    from rich.text import Text

    return Text(visible(value), style=style)


def csv_cell(value: str) -> str:
    """A text cell of a CSV export: ``'`` before a text a spreadsheet would run as a formula.

    Only texts are given here (numbers are numbers, ``-5.2`` stays as it is):
    a text starting with ``= + - @``, a tab or a carriage return gets a
    leading apostrophe, which spreadsheet programs show as text.
    """
    return "'" + value if value.startswith(CSV_FORMULA_START) else value


def file_label(name: str) -> str:
    """A file's name without its folders: ``/home/an/exports/a.csv`` -> ``a.csv``.

    A member of a zip archive keeps the archive's name: ``exports/x.zip!2025/a.csv``
    -> ``x.zip!2025/a.csv``. Windows and POSIX separators are both understood, so a
    name recorded on one system is shortened on the other too.
    """
    found = _ARCHIVE_MEMBER.match(name)
    archive, member = (found.group(1), "!" + found.group(2)) if found else (name, "")
    path: PurePath = PureWindowsPath(archive) if "\\" in archive else PurePosixPath(archive)
    return path.name + member
