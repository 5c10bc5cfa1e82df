"""Settings of every command (``run``, ``status``, ``config``, and the store, rule and
report options of ``ingest``, ``boundaries``, ``analyze`` and ``report``): one validated
object.

Precedence, lowest first: defaults < ``qostool.toml`` < environment (``QOSTOOL_*``)
< command-line options. Every value remembers where it came from
(:attr:`Settings.sources`), so ``qostool config show`` can say why a value is
what it is.

The file is the one given by ``--config``, else ``$QOSTOOL_CONFIG``, else
``./qostool.toml``, else ``$XDG_CONFIG_HOME/qostool/qostool.toml`` (by default
``~/.config/qostool/qostool.toml``; on Windows ``%APPDATA%\\qostool\\qostool.toml``);
without any, the defaults apply. Relative
paths in the file are relative to the file's folder (cron starts in another
folder); relative paths from the environment or options are relative to the
current folder.

Every key is declared once in :data:`FIELDS`: its kind (how it is checked),
default, environment variable and meaning. The starting file written by
``qostool config init`` is made from the same table. No heavy import here.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from qostool.errors import ConfigError

if TYPE_CHECKING:
    from qostool.report.document import DocumentSettings

CONFIG_NAME: Final = "qostool.toml"
CONFIG_ENV: Final = "QOSTOOL_CONFIG"

#: Statistics of the verdict rule (``analyze.rules.Statistic``; a test keeps them equal).
STATISTICS: Final = ("mean", "median", "share")
#: Technologies a target can be set for (``schema.Technology`` and the roll-up ``all``).
TECHNOLOGIES: Final = ("2G", "3G", "4G", "5G", "wifi", "unknown", "all")
#: Download targets in Mbps (``analyze.rules.DEFAULT_TARGETS``).
DEFAULT_TARGETS: Final = {"4G": 40.0, "5G": 100.0}
#: Rule presets (``[analyze] rule``, ``analyze --rule``): the ``[analyze]`` keys each sets.
#: ``province`` is the defaults; ``vnnic`` what the national i-Speed publication states
#: (the median, and at least 300 tests per commune and per group). Everything else,
#: targets included, stays as configured. The sources are in docs/methodology.md.
RULE_PRESETS: Final[dict[str, dict[str, Any]]] = {
    "province": {"statistic": "mean", "min_tests": 30, "min_devices": 5},
    "vnnic": {"statistic": "median", "min_tests": 300, "min_devices": 5},
}
DEFAULT_PRESET: Final = "province"
#: Languages of the readable headers of ``analyze --export`` (``[analyze] export_lang``).
#: English is the default: a workbook read by scripts through its headers keeps them.
EXPORT_LANGUAGES: Final = ("en", "vi")
#: CSV dialects of ``analyze --export csv`` (``[analyze] csv_dialect``): ``plain`` for
#: programs (``,``, decimal point, column names), ``excel-vn`` for a spreadsheet program
#: in a Vietnamese locale (``;``, decimal comma, texts quoted, readable headers).
CSV_DIALECTS: Final = ("plain", "excel-vn")
LOG_FORMATS: Final = ("text", "json")
LOG_LEVELS: Final = ("debug", "info", "warning", "error")


class _BadValueError(ValueError):
    """A value does not fit its kind (the caller names the key)."""


# -- kinds of value ---------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """How one key's value is checked: from TOML or an option, and from a text (env)."""

    expected: str
    """Said in errors: "a whole number >= 1"."""
    check: Callable[[Any, Path | None], Any]
    """Typed value (TOML, option) and the folder relative paths start from -> value."""
    from_text: Callable[[str], Any] = str
    """Environment text -> a typed value for :attr:`check`."""


def _text(value: Any, base: Path | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _BadValueError
    return value.strip()


def _optional_text(value: Any, base: Path | None) -> str | None:
    if not isinstance(value, str):
        raise _BadValueError
    return value.strip() or None


def _path(value: Any, base: Path | None) -> Path:
    if not isinstance(value, str | Path) or not str(value).strip():
        raise _BadValueError
    path = Path(str(value).strip()).expanduser()
    if base is None or path.is_absolute():
        return path
    return Path(os.path.normpath(base / path))


def _optional_path(value: Any, base: Path | None) -> Path | None:
    if isinstance(value, str) and not value.strip():
        return None
    return _path(value, base)


def _paths(value: Any, base: Path | None) -> tuple[Path, ...]:
    items = [value] if isinstance(value, str | Path) else value
    if not isinstance(items, list | tuple):
        raise _BadValueError
    return tuple(_path(item, base) for item in items)


def _whole(minimum: int) -> Kind:
    def check(value: Any, base: Path | None) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise _BadValueError
        return value

    def from_text(text: str) -> Any:
        try:
            return int(text.strip())
        except ValueError:
            return text

    return Kind(f"a whole number >= {minimum}", check, from_text)


def _number(low: float, high: float | None, *, low_open: bool, high_open: bool) -> Kind:
    def check(value: Any, base: Path | None) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _BadValueError
        number = float(value)
        if number < low or (low_open and number == low):
            raise _BadValueError
        if high is not None and (number > high or (high_open and number == high)):
            raise _BadValueError
        return number

    def from_text(text: str) -> Any:
        try:
            return float(text.strip())
        except ValueError:
            return text

    if high is None:
        expected = f"a number {'>' if low_open else '>='} {low:g}"
    else:
        expected = (
            f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        )
    return Kind(expected, check, from_text)


def _choice(values: tuple[str, ...]) -> Kind:
    def check(value: Any, base: Path | None) -> str:
        if not isinstance(value, str) or value.strip().lower() not in values:
            raise _BadValueError
        return value.strip().lower()

    return Kind("one of: " + ", ".join(values), check)


def _choices(values: Callable[[], tuple[str, ...]], example: str) -> Kind:
    def check(value: Any, base: Path | None) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise _BadValueError
        out: list[str] = []
        for item in items:
            if not isinstance(item, str) or item.strip().lower() not in values():
                raise _BadValueError
            if item.strip().lower() not in out:
                out.append(item.strip().lower())
        if not out:
            raise _BadValueError
        return tuple(out)

    return Kind(f"a list of one or more of: {example}", check)


def _boolean_text(text: str) -> Any:
    return {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}.get(
        text.strip().lower(), text
    )


def _boolean(value: Any, base: Path | None) -> bool:
    if not isinstance(value, bool):
        raise _BadValueError
    return value


def _timezone(value: Any, base: Path | None) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = _text(value, base)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _BadValueError from None
    return name


def _targets(value: Any, base: Path | None) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise _BadValueError
    known = {t.lower(): t for t in TECHNOLOGIES}
    targets = dict(DEFAULT_TARGETS)
    for tech, speed in value.items():
        name = known.get(str(tech).strip().lower())
        if name is None or isinstance(speed, bool) or not isinstance(speed, int | float):
            raise _BadValueError
        if not speed > 0:
            raise _BadValueError
        targets[name] = float(speed)
    return dict(sorted(targets.items()))


def _targets_text(text: str) -> Any:
    out: dict[str, Any] = {}
    for item in text.split(","):
        tech, sep, speed = item.partition("=")
        if not sep:
            return text
        try:
            out[tech.strip()] = float(speed)
        except ValueError:
            return text
    return out


def _report_formats() -> tuple[str, ...]:
    from qostool.report.write import FORMATS

    return tuple(FORMATS)


def _languages() -> tuple[str, ...]:
    from qostool.report.i18n import LANGUAGES

    return tuple(LANGUAGES)


def _list_text(text: str) -> Any:
    return [item for item in text.split(",") if item.strip()]


def _patterns(value: Any, base: Path | None) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise _BadValueError
    return tuple(i.strip() for i in items if i.strip())


def _paths_text(text: str) -> Any:
    return [item for item in text.split(os.pathsep) if item.strip()]


def _texts(*, empty: bool) -> Kind:
    """A list of texts (one line each in the document); a single text is a list of one.

    In the environment the items are separated by ``|``: document names and
    recipients hold commas and semicolons, never a vertical bar.
    """

    def check(value: Any, base: Path | None) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise _BadValueError
        out = tuple(" ".join(i.split()) for i in items if i.strip())
        if not out and not empty:
            raise _BadValueError
        return out

    def from_text(text: str) -> Any:
        return [item for item in text.split("|") if item.strip()]

    expected = "a list of texts" + ("" if empty else " (at least one)")
    return Kind(expected + ', e.g. ["first line", "second line"]', check, from_text)


def _iso_date(value: Any, base: Path | None) -> str | None:
    from datetime import date

    if isinstance(value, date):  # TOML reads 2025-11-05 unquoted as a date
        return value.isoformat()[:10]
    if not isinstance(value, str):
        raise _BadValueError
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise _BadValueError from None


#: Units of a size (``[analyze] memory_limit``): powers of 1024, as memory is counted.
SIZE_UNITS: Final = {
    "b": 1,
    **{
        f"{p}{suffix}": 1 << (10 * (i + 1))
        for i, p in enumerate("kmgt")
        for suffix in ("", "b", "ib")
    },
}
MIN_MEMORY_LIMIT: Final = 256 << 20
#: The default ``[analyze] memory_limit`` (``analyze/bounded.py`` has the same).
DEFAULT_MEMORY_LIMIT: Final = 4 << 30


def parse_size(text: str) -> int:
    """Bytes of a size such as ``500MB``, ``2GB``, ``1.5 GiB`` or ``800m``; ValueError if not."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    unit = SIZE_UNITS.get(match.group(2).lower() or "b") if match else None
    if match is None or unit is None:
        raise ValueError(text)
    return round(float(match.group(1)) * unit)


def _size(value: Any, base: Path | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _BadValueError
    try:
        size = value if isinstance(value, int) else parse_size(value)
    except ValueError:
        raise _BadValueError from None
    if size < MIN_MEMORY_LIMIT:
        raise _BadValueError
    return size


def show_size(size: int) -> str:
    """``4GB``, ``512MB``: a size in the largest unit that divides it (else in bytes)."""
    for unit in ("TB", "GB", "MB", "KB"):
        if size % SIZE_UNITS[unit.lower()] == 0:
            return f"{size // SIZE_UNITS[unit.lower()]}{unit}"
    return f"{size}B"


SIZE = Kind(
    "a size such as 500MB or 2GB (B, KB, MB, GB, TB: powers of 1024), at least 256MB", _size
)

TEXT = Kind("a text", _text)
OPTIONAL_TEXT = Kind('a text ("" for none)', _optional_text)
PATH = Kind("a path", _path)
OPTIONAL_PATH = Kind('a path ("" for none)', _optional_path)
PATHS = Kind("a path or a list of paths", _paths, _paths_text)
BOOLEAN = Kind("true or false", _boolean, _boolean_text)
PATTERNS = Kind('a list of file name patterns such as ["*.txt", "scan*"]', _patterns, _list_text)
TIMEZONE = Kind("an IANA time zone such as Asia/Ho_Chi_Minh or UTC", _timezone)
TEXTS = _texts(empty=False)
OPTIONAL_TEXTS = _texts(empty=True)
DATE = Kind('an ISO date such as 2025-11-05 ("" for none)', _iso_date)
TARGETS = Kind(
    "a table of TECHNOLOGY = MBPS (a positive number; technologies: "
    + ", ".join(TECHNOLOGIES)
    + '), e.g. { "4G" = 40, "5G" = 100 }',
    _targets,
    _targets_text,
)


def _entries(value: Any, base: Path | None) -> tuple[str, ...]:
    """``{ download_mbps = "Tốc độ" }`` or ``["download_mbps=Tốc độ"]`` -> ``field=value`` texts."""
    if isinstance(value, Mapping):
        items = [f"{k}={v}" for k, v in value.items() if isinstance(v, str)]
        if len(items) != len(value):
            raise _BadValueError
        return tuple(items)
    if isinstance(value, list) and all(isinstance(i, str) and "=" in i for i in value):
        return tuple(value)
    raise _BadValueError


def _header_row(value: Any, base: Path | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _BadValueError
    return value


ENTRIES = Kind('a table such as { download_mbps = "Column" }, or ["field=Column"]', _entries)
#: The keys of a ``[[ingest.source]]`` table besides ``folder``: ``ingest``'s options.
SOURCE_KEYS: Final = {
    "format": Kind("a format name: ispeed, rtr, ookla, mlab or generic", _text),
    "mapping": PATH,
    "map": ENTRIES,
    "unit": Kind('a table such as { download = "kbps" }, or ["field=unit"]', _entries),
    "encoding": TEXT,
    "delimiter": TEXT,
    "decimal": _choice(("auto", "point", "comma")),
    "naive_timezone": TIMEZONE,
    "period": TEXT,
    "network": _choice(("mobile", "fixed")),
    "sheet": TEXT,
    "header_row": Kind("a row number >= 1", _header_row),
}


# -- the keys ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One key of the configuration."""

    section: str
    key: str
    kind: Kind
    default: Any
    help: str
    env: str = ""
    example: str | None = None
    """For ``config init``: a commented example instead of the default value."""
    env_help: str = ""
    """How a value is written in the environment variable, when not plain."""
    intro: str = ""
    """For ``config init``: comment lines before the key (a group of keys starts)."""

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"

    @property
    def env_var(self) -> str:
        return self.env or f"QOSTOOL_{self.section.upper()}_{self.key.upper()}"


FIELDS: Final = (
    Field("store", "path", PATH, Path("qostool-data"), "the store folder", env="QOSTOOL_STORE"),
    Field(
        "store",
        "timezone",
        TIMEZONE,
        "Asia/Ho_Chi_Minh",
        "the province's time zone: decides each test's reporting month",
        env="QOSTOOL_TIMEZONE",
    ),
    Field(
        "ingest",
        "inbox",
        PATHS,
        (),
        "folder(s) of new exports, searched recursively; files already ingested are skipped",
        example='["inbox"]',
        env_help=f"folders separated by {os.pathsep!r}",
    ),
    Field(
        "ingest",
        "ignore",
        PATTERNS,
        ("*.txt", "*.pdf", "*.doc", "*.docx", "*.png", "*.jpg", "*.jpeg", "*.md", "*.log"),
        "inbox file names never read (besides hidden files, ~$* lock files, Thumbs.db and "
        "desktop.ini, always); [] to read every file",
        env_help="patterns separated by ','",
    ),
    Field(
        "ingest",
        "settle_seconds",
        _number(0, None, low_open=False, high_open=False),
        60.0,
        "an inbox file changed less than this many seconds ago is still being copied: "
        "left for the next run (so are *.part, *.tmp, *.crdownload)",
    ),
    Field(
        "ingest",
        "strict",
        BOOLEAN,
        False,
        "exit with code 6 while an inbox file is set aside because it could not be read "
        "(default: exit 0 with a warning)",
    ),
    Field(
        "boundaries",
        "file",
        OPTIONAL_PATH,
        None,
        "commune boundary file, imported again when its content changed",
        example='"communes.geojson"',
    ),
    Field(
        "boundaries",
        "version",
        OPTIONAL_TEXT,
        None,
        "boundaries version to analyse with (default: that of [boundaries] file, else the "
        "latest imported)",
        example='"communes-0123456789"',
    ),
    Field(
        "boundaries",
        "province",
        OPTIONAL_TEXT,
        None,
        "keep one province of a national boundary file: its code or name",
        example='"Lai Châu"',
    ),
    Field(
        "boundaries",
        "all_provinces",
        BOOLEAN,
        False,
        "import every province of a file that holds several (a national analysis); "
        "without it or province, such a file is refused",
    ),
    Field(
        "analyze",
        "targets",
        TARGETS,
        DEFAULT_TARGETS,
        "download targets in Mbps, on top of the defaults",
        env_help="as 4G=40,5G=100",
    ),
    Field(
        "analyze",
        "rule",
        _choice(tuple(RULE_PRESETS)),
        DEFAULT_PRESET,
        "rule preset: province (mean, 30 tests, 5 devices) or vnnic (median, 300 tests, as "
        "the national i-Speed publication); statistic, min_tests and min_devices set here "
        "override it",
    ),
    Field(
        "analyze",
        "statistic",
        _choice(STATISTICS),
        "mean",
        "what is compared with the target (default: the rule preset's)",
        example='"mean"',
    ),
    Field(
        "analyze",
        "min_tests",
        _whole(1),
        30,
        "fewer tests: insufficient data (default: the rule preset's)",
        example="30",
    ),
    Field(
        "analyze",
        "min_devices",
        _whole(0),
        5,
        "fewer devices (at least): insufficient data (default: the rule preset's)",
        example="5",
    ),
    Field(
        "analyze",
        "min_share",
        _number(0, 1, low_open=True, high_open=False),
        0.8,
        "with statistic = share: the share of tests at or above the target needed",
    ),
    Field(
        "analyze",
        "confidence",
        _number(0.5, 1, low_open=False, high_open=True),
        0.95,
        "confidence level of the intervals",
    ),
    Field(
        "analyze",
        "tolerance",
        _number(0, None, low_open=False, high_open=False),
        100.0,
        "metres within which a point in a gap between communes is snapped to one",
    ),
    Field(
        "analyze",
        "memory_limit",
        SIZE,
        DEFAULT_MEMORY_LIMIT,
        "memory an analysis may use: a month too large for it is read in batches and "
        "spilled to the temporary folder (TMPDIR), with the same results",
        example='"4GB"',
    ),
    Field(
        "analyze",
        "dedupe_bursts",
        BOOLEAN,
        False,
        "count a burst of tests from one device (3 h, 100 m) once",
    ),
    Field(
        "analyze",
        "raw_csv",
        BOOLEAN,
        False,
        "analyze --export csv: text cells exactly as stored, without the ' put before those "
        "starting with = + - @ (formulas in a spreadsheet)",
    ),
    Field(
        "analyze",
        "export_lang",
        _choice(EXPORT_LANGUAGES),
        "en",
        "analyze --export: language of the XLSX headers and sheet names and of the excel-vn "
        "CSV's headers (en or vi); the plain CSV and the GIS files keep the column names",
    ),
    Field(
        "analyze",
        "csv_dialect",
        _choice(CSV_DIALECTS),
        "plain",
        "analyze --export csv: plain (',' and '.', column names: for programs) or excel-vn "
        "(';', decimal comma, texts quoted, readable headers: for a spreadsheet in a "
        "Vietnamese locale)",
    ),
    Field(
        "report",
        "languages",
        _choices(_languages, "vi, en"),
        ("vi",),
        "report languages; with more than one, each gets a subfolder of out (out/en/...)",
    ),
    Field(
        "report",
        "formats",
        _choices(_report_formats, "html, md, xlsx, ..."),
        ("html",),
        "report formats",
    ),
    Field("report", "out", PATH, Path("reports"), "folder of the reports (one folder per month)"),
    Field(
        "report",
        "commercial_5g",
        TEXTS,
        ("Viettel", "VNPT-VinaPhone", "MobiFone"),
        "operators with a commercial 5G network in the province: the 5G figures of any other "
        "operator are shown as a data question ('cần xác minh dữ liệu'), never judged",
        example='["Viettel", "VNPT", "MobiFone"]',
        env_help="names separated by '|'",
    ),
    # The administrative document (report/document.py).
    Field(
        "report",
        "parent",
        OPTIONAL_TEXT,
        None,
        "body above the issuer, first line of the header (default: UBND TỈNH <province> from "
        "the boundaries, UBND THÀNH PHỐ <city> for Hà Nội, Hồ Chí Minh, Hải Phòng, Đà Nẵng, "
        "Cần Thơ, Huế)",
        example='"UBND TỈNH LAI CHÂU"',
        intro="The report's administrative document (Decree 30/2020/NĐ-CP). The examples are\n"
        "those of a provincial Department of Science and Technology: uncomment and edit\n"
        "them. A key left commented takes the default it names; report options override.",
    ),
    Field(
        "report",
        "issuer",
        OPTIONAL_TEXT,
        None,
        "issuing body, in sentence case: the header prints it in capitals (default: Sở Khoa "
        "học và Công nghệ)",
        example='"Sở Khoa học và Công nghệ"',
    ),
    Field(
        "report",
        "number",
        OPTIONAL_TEXT,
        None,
        "document number, 'Số: <number>/<symbol>' (default: blank, filled in by hand)",
        example='"125"',
    ),
    Field("report", "symbol", TEXT, "BC-SKHCN", "document symbol after the number"),
    Field(
        "report",
        "place",
        OPTIONAL_TEXT,
        None,
        "place of the date line (default: the province's name)",
        example='"Lai Châu"',
    ),
    Field(
        "report",
        "date",
        DATE,
        None,
        "date of the date line, an ISO date (default: the day of report --generated-at, "
        "else blank for the signing date, never today's)",
        example='"2025-11-05"',
    ),
    Field(
        "report",
        "signer_title",
        TEXTS,
        None,
        "signer's title, one item a line (default: GIÁM ĐỐC)",
        example='["KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"]',
        env_help="lines separated by '|'",
    ),
    Field(
        "report",
        "signer_name",
        OPTIONAL_TEXT,
        None,
        "signer's name, under the room to sign (default: none, written by hand)",
        example='"Nguyễn Văn An"',
    ),
    Field(
        "report",
        "recipients",
        TEXTS,
        None,
        "'Kính gửi', one item a line (default: the province's People's Committee and Cục Viễn "
        "thông, Bộ Khoa học và Công nghệ)",
        example='["Ủy ban nhân dân tỉnh Lai Châu", "Cục Viễn thông, Bộ Khoa học và Công nghệ"]',
        env_help="items separated by '|'",
    ),
    Field(
        "report",
        "basis",
        OPTIONAL_TEXTS,
        None,
        "documents the report answers, in the opening 'Thực hiện ...; ' (default: none, "
        "a marked placeholder citing the directive and letter 2138/BTTTT-CVT)",
        example='["Chỉ thị số …/CT-UBND ngày … của Ủy ban nhân dân tỉnh về nâng cao chất '
        'lượng dịch vụ viễn thông", "Công văn số …/CVT ngày … của Cục Viễn thông"]',
        env_help="items separated by '|'",
    ),
    Field(
        "report",
        "next_tasks",
        OPTIONAL_TEXTS,
        None,
        "section IV, next month's tasks, one item a paragraph (default: none, a marked "
        "placeholder to fill in)",
        example='["Phối hợp với các doanh nghiệp viễn thông kiểm tra các xã chưa đạt chỉ '
        'tiêu", "Tuyên truyền, hướng dẫn người dân đo tốc độ bằng ứng dụng i-Speed"]',
        env_help="items separated by '|'",
    ),
    Field(
        "report",
        "copies_to",
        OPTIONAL_TEXTS,
        None,
        "'Nơi nhận', one item a line, before 'Lưu: VT, <drafting_unit>' (default: Như trên)",
        example='["Như trên", "Giám đốc, các Phó Giám đốc Sở", "Các doanh nghiệp viễn '
        'thông trên địa bàn tỉnh"]',
        env_help="items separated by '|'",
    ),
    Field(
        "report",
        "drafting_unit",
        OPTIONAL_TEXT,
        None,
        "the drafting unit's abbreviation, last line of 'Nơi nhận': 'Lưu: VT, <unit>' "
        "(default: 'Lưu: VT' alone)",
        example='"BCVT"',
    ),
    Field(
        "lock",
        "wait_seconds",
        _number(0, None, low_open=False, high_open=False),
        0.0,
        "how long to wait for another qostool process writing to the store, then exit 3",
    ),
    Field("log", "format", _choice(LOG_FORMATS), "text", "text lines, or one JSON object a line"),
    Field(
        "log",
        "file",
        OPTIONAL_PATH,
        None,
        "also append the log to this file",
        example='"qostool.log"',
    ),
    Field("log", "level", _choice(LOG_LEVELS), "info", "least important events logged"),
)
_BY_NAME: Final = {f.name: f for f in FIELDS}
SECTIONS: Final = tuple(dict.fromkeys(f.section for f in FIELDS))


# -- the settings -----------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where a value came from: ``default``, ``file``, ``env``, ``option``, or ``rule``
    (the rule preset set it; the detail says which preset and where it was given)."""

    kind: str
    detail: str | None = None
    """The file's path, the variable's name or the option's flag."""

    def __str__(self) -> str:
        return self.kind if self.detail is None else f"{self.kind} {self.detail}"


@dataclass(frozen=True)
class StoreSettings:
    path: Path
    timezone: str


@dataclass(frozen=True)
class InboxSource:
    """A ``[[ingest.source]]`` table: an inbox folder and the ``ingest`` options its
    files need (a mapping, an encoding, a sheet, ...), so that cron reads them as an
    analyst would by hand. Unset options are those of ``ingest`` without options."""

    folder: Path
    format: str | None = None
    mapping: Path | None = None
    map: tuple[str, ...] = ()
    """``field=Column`` entries, as ``--map``."""
    unit: tuple[str, ...] = ()
    """``field=unit`` entries, as ``--unit``."""
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str = "auto"
    naive_timezone: str | None = None
    period: str | None = None
    network: str | None = None
    sheet: str | None = None
    header_row: int | None = None

    def options(self) -> dict[str, Any]:
        """The set options, by name (for ``config show``)."""
        out: dict[str, Any] = {"folder": str(self.folder)}
        for name in SOURCE_KEYS:
            value = getattr(self, name)
            if value not in (None, (), "auto"):
                out[name] = _plain(value)
        return out


@dataclass(frozen=True)
class IngestSettings:
    inbox: tuple[Path, ...]
    ignore: tuple[str, ...] = ()
    settle_seconds: float = 60.0
    strict: bool = False
    sources: tuple[InboxSource, ...] = ()
    """The ``[[ingest.source]]`` tables: folders read with their own options."""

    def folders(self) -> tuple[Path, ...]:
        """Every folder ``run`` reads: the inbox folders and the sources' folders."""
        return tuple(dict.fromkeys([*self.inbox, *(s.folder for s in self.sources)]))


@dataclass(frozen=True)
class BoundariesSettings:
    file: Path | None
    version: str | None
    province: str | None
    all_provinces: bool


@dataclass(frozen=True)
class AnalyzeSettings:
    targets: dict[str, float]
    rule: str
    """The rule preset (:data:`RULE_PRESETS`) the statistic and minimums start from."""
    statistic: str
    min_tests: int
    min_devices: int
    min_share: float
    confidence: float
    tolerance: float
    memory_limit: int
    """Bytes (:func:`parse_size`)."""
    dedupe_bursts: bool
    raw_csv: bool
    export_lang: str
    """Language of the export's readable headers (:data:`EXPORT_LANGUAGES`)."""
    csv_dialect: str
    """How CSV exports are written (:data:`CSV_DIALECTS`)."""


@dataclass(frozen=True)
class ReportSettings:
    languages: tuple[str, ...]
    formats: tuple[str, ...]
    out: Path
    commercial_5g: tuple[str, ...] = ("Viettel", "VNPT-VinaPhone", "MobiFone")
    parent: str | None = None
    issuer: str | None = None
    number: str | None = None
    symbol: str = "BC-SKHCN"
    place: str | None = None
    date: str | None = None
    signer_title: tuple[str, ...] | None = None
    signer_name: str | None = None
    recipients: tuple[str, ...] | None = None
    basis: tuple[str, ...] | None = None
    next_tasks: tuple[str, ...] | None = None
    copies_to: tuple[str, ...] | None = None
    drafting_unit: str | None = None

    def document(self) -> DocumentSettings:
        """The administrative document's settings (report/document.py)."""
        from qostool.report.document import DocumentSettings

        return DocumentSettings(
            parent=self.parent,
            issuer=self.issuer,
            number=self.number,
            symbol=self.symbol,
            place=self.place,
            date=self.date,
            signer_title=self.signer_title,
            signer_name=self.signer_name,
            recipients=self.recipients,
            basis=self.basis or (),
            next_tasks=self.next_tasks,
            copies_to=self.copies_to,
            drafting_unit=self.drafting_unit,
        )

    def folder(self, lang: str) -> Path:
        """Where the reports in ``lang`` go: ``out``, or ``out/<lang>`` with several languages."""
        return self.out if len(self.languages) == 1 else self.out / lang


@dataclass(frozen=True)
class LockSettings:
    wait_seconds: float


@dataclass(frozen=True)
class LogSettings:
    format: str
    file: Path | None
    level: str


@dataclass(frozen=True)
class Settings:
    """The effective settings, and where each value came from."""

    store: StoreSettings
    ingest: IngestSettings
    boundaries: BoundariesSettings
    analyze: AnalyzeSettings
    report: ReportSettings
    lock: LockSettings
    log: LogSettings
    config_file: Path | None = None
    sources: dict[str, Source] = field(default_factory=dict)
    """``"analyze.min_tests"`` -> where its value came from."""

    def value(self, name: str) -> Any:
        section, key = name.split(".")
        return getattr(getattr(self, section), key)

    def to_dict(self) -> dict[str, Any]:
        """Every key's value (JSON-ready) and its source."""
        return {
            "config_file": None if self.config_file is None else str(self.config_file),
            "settings": {
                f.name: {
                    "value": _plain(self.value(f.name)),
                    "source": self.sources[f.name].kind,
                    "from": self.sources[f.name].detail,
                    "env": f.env_var,
                }
                for f in FIELDS
            }
            | {
                SOURCES_KEY: {
                    "value": [source.options() for source in self.ingest.sources],
                    "source": self.sources[SOURCES_KEY].kind,
                    "from": self.sources[SOURCES_KEY].detail,
                    "env": None,
                }
            },
        }


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def show_value(value: Any) -> str:
    """A value as written in ``qostool.toml`` (for tables and the starting file)."""
    return _toml(_plain(value))


def _toml(value: Any) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON escapes are TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    return repr(value)


# -- loading ----------------------------------------------------------------------------


def find_config_file(option: Path | None, env: Mapping[str, str]) -> tuple[Path | None, str]:
    """The configuration file to read, and how it was found ("" when there is none)."""
    if option is not None:
        if not option.is_file():
            raise ConfigError(
                f"--config {str(option)!r}: no such file",
                hint="check the path, or write a starting file with 'qostool config init'",
            )
        return option, "--config"
    if env.get(CONFIG_ENV):
        named = Path(env[CONFIG_ENV]).expanduser()
        if not named.is_file():
            raise ConfigError(
                f"{CONFIG_ENV}={str(named)!r}: no such file",
                hint=f"check the path, or unset {CONFIG_ENV}",
            )
        return named, CONFIG_ENV
    local = Path(CONFIG_NAME)
    if local.is_file():
        return local, "current folder"
    user = user_config_file(env)
    if user.is_file():
        return user, "user config folder"
    return None, ""


def user_config_file(env: Mapping[str, str], platform: str = sys.platform) -> Path:
    """``$XDG_CONFIG_HOME/qostool/qostool.toml``, or ``~/.config/qostool/qostool.toml``.

    On Windows, ``%APPDATA%\\qostool\\qostool.toml`` where ``XDG_CONFIG_HOME`` is not set.
    """
    base = env.get("XDG_CONFIG_HOME")
    if not base and platform == "win32" and env.get("APPDATA"):
        base = env["APPDATA"]
    return Path(base or Path("~/.config").expanduser()) / "qostool" / CONFIG_NAME


def read_config_file(path: Path) -> dict[str, Any]:
    """The file's values by dotted key (checked against :data:`FIELDS`, not yet typed)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text", hint="save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid TOML ({exc})",
            hint="see 'qostool config init' for a correct starting file",
        ) from None
    found: dict[str, Any] = {}
    for section, table in data.items():
        if section not in SECTIONS or not isinstance(table, dict):
            raise ConfigError(
                f"{path}: unknown "
                + (f"section [{section}]" if isinstance(table, dict) else f"key {section!r}")
                + f"; known sections: {', '.join(f'[{s}]' for s in SECTIONS)}",
                hint="every key goes in its section, e.g. [analyze] min_tests = 30",
            )
        for key, value in table.items():
            if section == "ingest" and key == "source":
                found[SOURCES_KEY] = value  # [[ingest.source]] tables: checked when loaded
                continue
            if f"{section}.{key}" not in _BY_NAME:
                known = [f.key for f in FIELDS if f.section == section]
                known += ["[[ingest.source]]"] if section == "ingest" else []
                raise ConfigError(
                    f"{path}: unknown key [{section}] {key}; known keys of [{section}]: "
                    + ", ".join(known),
                    hint="check the spelling (an unknown key is never ignored)",
                )
            found[f"{section}.{key}"] = value
    return found


def load_settings(
    config: Path | None = None,
    *,
    options: Mapping[str, tuple[str, Any]] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """The effective settings: defaults < file < environment < ``options``.

    ``options`` maps a dotted key (``"store.path"``) to ``(flag, value)`` for the
    options given on the command line (``None`` values are ignored).
    """
    env = os.environ if env is None else env
    path, _ = find_config_file(config, env)
    path = path.absolute() if path is not None else None
    from_file = read_config_file(path) if path is not None else {}
    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for f in FIELDS:
        values[f.name], sources[f.name] = f.default, Source("default")
        if f.name in from_file:
            raw = from_file[f.name]
            base = path.parent if path else None
            given = f"{path}: [{f.section}] {f.key} = {_repr(raw)}"
            values[f.name] = _check(f, raw, base, given)
            sources[f.name] = Source("file", str(path))
        if env.get(f.env_var) is not None and env[f.env_var] != "":
            text = env[f.env_var]
            given = f"{f.env_var}={text!r}"
            values[f.name] = _check(f, f.kind.from_text(text), None, given)
            sources[f.name] = Source("env", f.env_var)
        option = (options or {}).get(f.name)
        if option is not None and option[1] is not None:
            flag, value = option
            values[f.name] = _check(f, value, None, f"{flag} {_repr(value)}")
            sources[f.name] = Source("option", flag)
    _apply_preset(values, sources)
    sections = {
        name: {k.split(".")[1]: v for k, v in values.items() if k.startswith(name + ".")}
        for name in SECTIONS
    }
    if SOURCES_KEY in from_file:
        assert path is not None
        sections["ingest"]["sources"] = _inbox_sources(from_file[SOURCES_KEY], path)
        sources[SOURCES_KEY] = Source("file", str(path))
    else:
        sources[SOURCES_KEY] = Source("default")
    return Settings(
        store=StoreSettings(**sections["store"]),
        ingest=IngestSettings(**sections["ingest"]),
        boundaries=BoundariesSettings(**sections["boundaries"]),
        analyze=AnalyzeSettings(**sections["analyze"]),
        report=ReportSettings(**sections["report"]),
        lock=LockSettings(**sections["lock"]),
        log=LogSettings(**sections["log"]),
        config_file=path,
        sources=sources,
    )


#: Where the ``[[ingest.source]]`` tables are, among the dotted keys.
SOURCES_KEY: Final = "ingest.source"


def _inbox_sources(tables: Any, path: Path) -> tuple[InboxSource, ...]:
    """The ``[[ingest.source]]`` tables of the file at ``path``, checked.

    Each needs a ``folder`` (relative to the file's folder, as every path of the
    file); two tables may not name the same folder. Each error names the table by
    its number and folder, the key and the fix.
    """
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(
            f"{path}: [ingest] source must be tables written [[ingest.source]]",
            hint='e.g.\n[[ingest.source]]\nfolder = "inbox/vnnic"\nformat = "ispeed"',
        )
    found: list[InboxSource] = []
    for number, table in enumerate(tables, start=1):
        name = f"{path}: [[ingest.source]] #{number}"
        if "folder" not in table:
            raise ConfigError(
                f"{name}: no folder", hint='each source names its folder: folder = "inbox/vnnic"'
            )
        folder = _check_key(name, "folder", PATH, table["folder"], path.parent)
        name += f" ({table['folder']})"
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key == "folder":
                continue
            kind = SOURCE_KEYS.get(key)
            if kind is None:
                raise ConfigError(
                    f"{name}: unknown key {key}; known keys: folder, {', '.join(SOURCE_KEYS)}",
                    hint="check the spelling (an unknown key is never ignored)",
                )
            values[key] = _check_key(name, key, kind, value, path.parent)
        if any(s.folder == folder for s in found):
            raise ConfigError(
                f"{name}: the folder {folder} is named by an earlier [[ingest.source]] too",
                hint="one table per folder, with all its options",
            )
        found.append(InboxSource(folder=folder, **values))
    return tuple(found)


def _check_key(name: str, key: str, kind: Kind, value: Any, base: Path) -> Any:
    try:
        return kind.check(value, base)
    except _BadValueError:
        raise ConfigError(
            f"{name}: {key} = {_repr(value)}: expected {kind.expected}",
            hint="see 'qostool config init' for an example of [[ingest.source]]",
        ) from None


#: How strongly a source holds, for the rule preset against the keys it sets.
_RANK: Final = {"default": 0, "file": 1, "env": 2, "option": 3}


def _apply_preset(values: dict[str, Any], sources: dict[str, Source]) -> None:
    """Give the keys the rule preset sets its values, where the preset was given later.

    The preset stands where it was given in the precedence: ``--rule vnnic`` overrides
    a ``min_tests`` of the file, but a ``min_tests`` given at the same level or a
    later one (``rule = "vnnic"`` and ``min_tests = 500`` in the file, or
    ``--min-tests`` on the command line) overrides the preset. Such keys say where
    they came from: ``rule vnnic (file ...)``.
    """
    name = values["analyze.rule"]
    given = sources["analyze.rule"]
    for key, value in RULE_PRESETS[name].items():
        full = f"analyze.{key}"
        if _RANK[sources[full].kind] < _RANK[given.kind]:
            values[full] = value
            sources[full] = Source("rule", f"{name} ({given})")


def _check(f: Field, value: Any, base: Path | None, given: str) -> Any:
    """The checked value, or an error naming where it was given, the value and the kind."""
    try:
        return f.kind.check(value, base)
    except _BadValueError:
        raise ConfigError(
            f"{given}: expected {f.kind.expected}", hint=f"{f.name}: {f.help}"
        ) from None


def _repr(value: Any) -> str:
    return repr(str(value)) if isinstance(value, Path) else repr(value)


# -- the starting file ------------------------------------------------------------------

_HEADER: Final = """\
# qostool configuration (qostool run, qostool status). See docs/cron.md.
#
# Precedence: defaults < this file < QOSTOOL_* environment variables < options.
# Relative paths are relative to the folder of this file.
# 'qostool config show' prints the effective settings and where each comes from.
"""


_SOURCE_EXAMPLE: Final = """\
# Folders whose files need options of 'qostool ingest' (each also read by 'qostool run'
# besides [ingest] inbox; a file takes the options of the deepest source folder it is in).
# Keys: folder, and format, mapping, map, unit, encoding, delimiter, decimal
# (auto, point, comma), naive_timezone (of times without an offset), period (tiles'
# quarter), network (mobile or fixed, for tiles), sheet and header_row (Excel).
# [[ingest.source]]
# folder = "inbox/vnnic"                 # VNNIC portal workbooks
# format = "ispeed"
# sheet = "Dữ liệu"
# header_row = 4
# [[ingest.source]]
# folder = "inbox/operator"              # an operator's own CSV export
# format = "generic"
# mapping = "operator-mapping.toml"
# encoding = "cp1258"
# naive_timezone = "UTC"
# [[ingest.source]]
# folder = "inbox/ookla-fixed"           # Ookla's fixed-broadband tiles, renamed
# network = "fixed"
"""


def starting_file() -> str:
    """The commented ``qostool.toml`` written by ``qostool config init``."""
    lines = [_HEADER]
    for section in SECTIONS:
        lines.append(f"[{section}]")
        for f in (f for f in FIELDS if f.section == section):
            lines.extend(f"# {line}" for line in f.intro.splitlines())
            env = f.env_var + (f", {f.env_help}" if f.env_help else "")
            lines.append(f"# {f.help} (environment: {env})")
            if f.example is not None:
                lines.append(f"# {f.key} = {f.example}")
            else:
                lines.append(f"{f.key} = {show_value(f.default)}")
        lines.append("")
        if section == "ingest":
            lines.append(_SOURCE_EXAMPLE)
    return "\n".join(lines)


def write_starting_file(path: Path, *, force: bool = False) -> Path:
    """Write :func:`starting_file` to ``path`` (refusing to overwrite without ``force``)."""
    if path.exists() and not force:
        raise ConfigError(
            f"{path}: already exists; not overwritten",
            hint="pass --force to replace it, or choose another path",
        )
    if path.exists() and path.is_dir():
        raise ConfigError(f"{path}: is a folder", hint=f"give a file path, e.g. {CONFIG_NAME}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(starting_file(), encoding="utf-8")
    os.replace(tmp, path)
    return path
