"""A hostile corpus: names and values from the data are shown as they are, and never act.

Everything is generated here (nothing binary is committed): a GeoJSON of square
communes whose names are hostile, a province name holding an escape sequence and
Rich markup, an RTR export of tests whose file name is hostile too, and an
i-Speed export with rows shifted by unquoted delimiters. One store is made from
them through the command line, and every output is checked: the terminal
(``ingest``, ``boundaries import``, ``analyze``, ``report``, ``status``), the
report in HTML (its SVG map too), Markdown, DOCX and XLSX, the exports in CSV
(safe and ``--raw-csv``), XLSX and GeoPackage, and the store's bytes for raw
device ids.

Categories, with their number of cases:

- spreadsheet formulas: ``=cmd|' /C calc'!A0``, ``+SUM(1,2)``, ``-2+3``, ``@SUM(A1)`` (4)
- links: ``http://evil.example/x`` (1)
- TeX for matplotlib: ``Xã $x^2$`` and ``$\\frac{$`` (not valid mathtext) (2)
- HTML and XML: ``<script>alert(1)</script>``, ``&amp; Phường`` (2)
- terminal escapes: ANSI ``\\x1b[31m``, an OSC 8 hyperlink ``\\x1b]8;;http://x\\x1b\\\\`` (2)
- Rich markup: ``[link=http://x]click[/link]``, ``[bold]B[/bold]`` (2)
- Markdown: ``a | b`` with a newline (1)
- Jinja: ``{{ 7*7 }}`` (1)
- right-to-left override U+202E (1)
- NUL (1; GDAL ends a text at NUL, so the store holds what comes before it)
- a province name with ``\\x1b[1m`` and ``[bold]`` (1), a file name with a formula, Rich
  markup, TeX and (not on Windows, which forbids it) ESC (1)
- device ids shifted by an unquoted delimiter: into a later column (RTR, device first)
  and into the extra fields (i-Speed, device last) (2)
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from typer.testing import CliRunner

from qostool.cli import app
from qostool.report.document import bare_name
from qostool.store import Store
from qostool.text import csv_cell, file_label, markdown, visible
from tests.conftest import TZ, all_store_bytes
from tests.test_report import Page

FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1,2)", "-2+3", "@SUM(A1)"]
LINK = "http://evil.example/x"
TEX = ["Xã $x^2$", "$\\frac{$"]
HTML = ["<script>alert(1)</script>", "&amp; Phường"]
ANSI = "\x1b[31mĐỏ\x1b[0m"
OSC8 = "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"
MARKUP = ["[link=http://x]click[/link]", "[bold]B[/bold]"]
MD_BREAK = "a | b\nc"
JINJA = "{{ 7*7 }}"
RTL = "Xã \u202eevil"
NUL = "nul\x00here"
NAMES = [*FORMULAS, LINK, *TEX, *HTML, ANSI, OSC8, *MARKUP, MD_BREAK, JINJA, RTL, NUL]
#: Communes without tests: their names are in analyze's "no tests" line.
NO_TESTS = {ANSI, OSC8, *MARKUP, RTL, "&amp; Phường"}
PROVINCE = "Tỉnh \x1b[1m[bold]Thử[/bold]"
FILE_NAME = "=HYPERLINK(1) rtr_2025-03 [bold]x[red] $y$" + ("" if os.name == "nt" else " \x1b[31m")
DEVICE = "DEVICE-SECRET"
MONTH = "2025-03"
#: What a terminal must never receive from data: controls but the newline, bidi overrides.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def square(i: int) -> tuple[float, float]:
    """The south-west corner of commune ``i`` (squares of 0.01 degree, 5 a row)."""
    return 105.0 + (i % 5) * 0.01, 21.0 + (i // 5) * 0.01


def boundaries(path: Path) -> Path:
    features = []
    for i, name in enumerate(NAMES):
        x, y = square(i)
        ring = [[x, y], [x + 0.01, y], [x + 0.01, y + 0.01], [x, y + 0.01], [x, y]]
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "id": f"990{i:02d}",
                    "name": name,
                    "population": 1000,
                    "provinceId": "99",
                    "provinceName": PROVINCE,
                    "type": "Xã",
                },
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    collection = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    return path


RTR_HEADER = (
    "open_uuid,open_test_uuid,time_utc,cat_technology,network_type,lat,long,loc_accuracy,"
    "download_kbit,upload_kbit,ping_ms,network_mcc_mnc,network_name,implausible,pinned,"
    "signal_strength"
)


def rtr_tests(path: Path) -> Path:
    """35 tests from 6 devices in every commune with tests; a row shifted by two fields."""
    lines = [RTR_HEADER]
    k = 0
    for i, name in enumerate(NAMES):
        if name in NO_TESTS:
            continue
        x, y = square(i)
        for j in range(35):
            lines.append(
                f"{DEVICE}-{j % 6:02d},T{k:05d},2025-03-{1 + j % 27:02d} 05:00:00,4G,LTE,"
                f"{y + 0.005:.6f},{x + 0.005:.6f},5,{20000 + 1000 * j},10000,30,452-04,Viettel,"
                "false,true,-90"
            )
            k += 1
    # Two unquoted delimiters before the device id: it lands in time_utc's place.
    lines.append(
        f"x,y,{DEVICE}-SHIFTED,T99999,2025-03-02 05:00:00,4G,LTE,21.005,105.005,5,20000,10000,"
        "30,452-04,Viettel,false,true,-90"
    )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ispeed_tests(path: Path) -> Path:
    """An i-Speed export, device id last: an unquoted comma in the operator makes a long row."""
    header = (
        "test_id,time,latitude,longitude,operator,network_type,download_mbps,upload_mbps,"
        "latency_ms,device_id"
    )
    x, y = square(0)
    row = f"S{{}},2025-03-03 08:00:00,{y + 0.002:.6f},{x + 0.002:.6f},{{}},4G,30,10,25,{{}}"
    lines = [header, row.format(1, "Viettel", f"{DEVICE}-ISPEED-1")]
    lines.append(row.format(2, "Viettel, Inc", f"{DEVICE}-IN-EXTRA"))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- the store, made through the command line ------------------------------------------


@dataclass
class Corpus:
    root: Path
    store: Path
    inputs: Path
    outputs: dict[str, str] = field(default_factory=dict)
    """Each command's stdout and stderr together, by name."""
    codes: dict[str, int] = field(default_factory=dict)
    warned: list[str] = field(default_factory=list)
    """The messages of the warnings raised while the report was made."""

    @property
    def reports(self) -> Path:
        return self.root / "reports" / MONTH

    @property
    def results(self) -> Path:
        return self.root / "results" / MONTH

    @property
    def raw_results(self) -> Path:
        return self.root / "raw" / MONTH


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    root = tmp_path_factory.mktemp("hostile")
    inputs = root / "in"
    inputs.mkdir()
    rtr_tests(inputs / f"{FILE_NAME}.csv")
    ispeed_tests(inputs / "ispeed_2025-03.csv")
    found = Corpus(root=root, store=root / "store", inputs=inputs)
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("QOSTOOL_")]:
            env.delenv(name)
        env.setenv("XDG_CONFIG_HOME", str(root / "xdg"))
        env.setenv("COLUMNS", "200")
        env.setenv("NO_COLOR", "1")

        def run(name: str, *args: str | Path) -> None:
            result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
            found.outputs[name] = result.stdout + result.stderr
            found.codes[name] = result.exit_code

        store = ("--store", found.store)
        run("ingest", "ingest", inputs, *store)
        run("ingest again", "ingest", inputs / f"{FILE_NAME}.csv", *store)
        run("boundaries", "boundaries", "import", boundaries(root / "b.geojson"), *store)
        run("boundaries list", "boundaries", "list", *store)
        out = ("--out", root / "results")
        run("analyze", "analyze", "--month", MONTH, *store, "--export", "csv,xlsx,gpkg", *out)
        raw = ("--out", root / "raw", "--raw-csv")
        run("analyze raw", "analyze", "--month", MONTH, *store, "--export", "csv", *raw)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run(
                "report", "report", "--month", MONTH, *store, "--out", root / "reports",
                "--format", "html,md,xlsx,docx", "--generated-at", "2025-04-05",
            )  # fmt: skip
        found.warned = [str(w.message) for w in caught]
        run("status", "status", *store)
    yield found


def stored_names(corpus: Corpus) -> list[str]:
    """The communes' names as the store holds them, in code order (the reports' order)."""
    from qostool.analyze.run import load_analysis

    analysis = load_analysis(Store.open(corpus.store, timezone=TZ), MONTH)
    return analysis.communes.sort("commune_code")["commune_name"].to_list()


def flat(text: str) -> str:
    """A terminal's text with its line wrapping undone."""
    return " ".join(text.split())


# -- the rules, one place each -----------------------------------------------------------


def test_visible_shows_every_control_and_keeps_everything_else() -> None:
    assert visible(ANSI) == "\\x1b[31mĐỏ\\x1b[0m"
    assert visible(OSC8) == "\\x1b]8;;http://x\\x1b\\link\\x1b]8;;\\x1b\\"
    assert visible(NUL) == "nul\\x00here"
    assert visible("a\nb\tc\rd\x7f\x9b") == "a\\nb\\tc\\rd\\x7f\\x9b"
    assert visible(RTL) == "Xã \\u202eevil"
    assert visible("\u2028\u2066\udcff") == "\\u2028\\u2066\\udcff"  # separators, undecodable
    for name in (*FORMULAS, LINK, *TEX, *HTML, *MARKUP, JINJA, "Xã Mường Tè", "ZWJ \u200d"):
        assert visible(name) == name


def test_markdown_escapes_every_punctuation_and_shows_controls() -> None:
    assert markdown("a | b\nc") == "a \\| b\\\\nc"
    assert markdown("Xã $x^2$") == "Xã \\$x\\^2\\$"
    assert markdown("[link=http://x]") == "\\[link\\=http\\:\\/\\/x\\]"
    assert markdown("Mường Tè") == "Mường Tè"


def test_csv_policy_prefixes_texts_a_spreadsheet_would_run() -> None:
    from qostool.analyze.export import csv_safe

    for text in (*FORMULAS, "\tx", "\rx", "=1+1"):
        assert csv_cell(text) == "'" + text
    for text in (LINK, "Xã", "a=b", "'quoted", ""):
        assert csv_cell(text) == text
    frame = pl.DataFrame({"name": ["-5.2", "=A1", "x", None], "value": [-5.2, 1.0, None, 2.0]})
    safe = csv_safe(frame)
    assert safe["name"].to_list() == ["'-5.2", "'=A1", "x", None]
    assert safe["value"].to_list() == frame["value"].to_list()  # numbers are numbers


def test_file_label_drops_the_folders() -> None:
    assert file_label("/home/an/exports/2025/a.csv") == "a.csv"
    assert file_label("C:\\Users\\An\\exports\\a.csv") == "a.csv"
    assert file_label("/home/an/x!y/exports.zip!2025/a.csv") == "exports.zip!2025/a.csv"
    assert file_label("a.csv") == "a.csv"


# -- the terminal ------------------------------------------------------------------------


def test_every_command_succeeds(corpus: Corpus) -> None:
    assert corpus.codes == dict.fromkeys(corpus.codes, 0), corpus.outputs


def test_the_corpus_reaches_the_store_as_it_is(corpus: Corpus) -> None:
    names = stored_names(corpus)
    assert set(NAMES) - {NUL} <= set(names)
    assert "nul" in names  # GDAL ends a text at NUL


@pytest.mark.parametrize(
    "command", ["ingest", "ingest again", "boundaries", "boundaries list", "analyze", "status"]
)
def test_terminal_gets_no_control_character(corpus: Corpus, command: str) -> None:
    output = corpus.outputs[command]
    assert not RAW_CONTROL.search(output), repr(output)


def test_terminal_shows_names_and_markup_as_they_are(corpus: Corpus) -> None:
    again = flat(corpus.outputs["ingest again"])
    assert flat(visible(f"{FILE_NAME}.csv")) + ": already ingested" in again
    imported = flat(corpus.outputs["boundaries"])
    assert f"province 99 {visible(PROVINCE)}" in imported
    analyzed = flat(corpus.outputs["analyze"])
    (line,) = re.findall(r"Communes with no tests \(\d+\): .*?(?= Results stored)", analyzed)
    for name in NO_TESTS:
        assert flat(visible(name)) in line, name
    assert "[link=http://x]click[/link]" in analyzed and "[bold]B[/bold]" in analyzed


def test_terminal_rendering_never_reads_markup_or_sends_escapes() -> None:
    """Rich on a real terminal (colours, hyperlinks): data stay text."""
    from rich.console import Console

    from qostool.ingest.pipeline import FileReport, IngestReport
    from qostool.render import print_ingest_report

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="truecolor", width=200)
    report = IngestReport(store="store")
    for name in (ANSI, OSC8, *MARKUP, ":thumbs_up:"):
        report.files.append(FileReport(file=name, status="already ingested", message=name))
    print_ingest_report(report, console)
    text = buffer.getvalue()
    assert "\x1b]8;" not in text  # no hyperlink, from [link=...] nor from the OSC name
    assert "\x1b[31m" not in text and "\\x1b[31mĐỏ\\x1b[0m" in text
    assert "[link=http://x]click[/link]" in text and "[bold]B[/bold]" in text
    assert ":thumbs_up:" in text and "\N{THUMBS UP SIGN}" not in text


def test_errors_and_failures_show_file_names_as_they_are(
    cli: Any, write: Any, tmp_path: Path
) -> None:
    bad = write(f"{FILE_NAME}.csv", "what,ever\n1,2\n")  # a header of no known format
    result = cli("ingest", bad, "--store", tmp_path / "store")
    assert result.exit_code == 1
    assert not RAW_CONTROL.search(result.output), repr(result.output)
    assert "Failed: " + flat(visible(str(bad))) in flat(result.output)
    missing = tmp_path / f"{FILE_NAME}.geojson"
    result = cli("boundaries", "import", missing, "--store", tmp_path / "store")
    assert result.exit_code == 1 and "Error: " in result.output
    assert not RAW_CONTROL.search(result.output), repr(result.output)
    assert flat(visible(str(missing))) in flat(result.output)


def test_log_lines_show_control_characters() -> None:
    from qostool.log import EventLog

    for terminal in (False, True):
        stream = io.StringIO()
        EventLog(stream=stream, terminal=terminal).warning("ingest", f"{OSC8} [bold]x[/bold]")
        assert "\\x1b]8;;http://x" in stream.getvalue() and "\x1b" not in stream.getvalue()
        assert "[bold]x[/bold]" in stream.getvalue()


# -- the report ----------------------------------------------------------------------------


def test_report_is_made_and_says_nothing_raw(corpus: Corpus) -> None:
    assert corpus.codes["report"] == 0, corpus.outputs["report"]
    assert not RAW_CONTROL.search(corpus.outputs["report"])
    assert not [w for w in corpus.warned if RAW_CONTROL.search(w) or "Glyph" in w]


class SvgTexts(HTMLParser):
    """The texts of the ``<text>`` elements of an SVG (the map's labels)."""

    def __init__(self, svg: str) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._inside = False
        self.feed(svg)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._inside = tag == "text"
        if self._inside:
            self.texts.append("")

    def handle_endtag(self, tag: str) -> None:
        self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.texts[-1] += data


def test_html_shows_names_as_they_are(corpus: Corpus) -> None:
    raw = (corpus.reports / "report.html").read_text(encoding="utf-8")
    assert not RAW_CONTROL.search(raw.replace("\t", ""))
    assert "<script>" not in raw and "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    names = stored_names(corpus)
    cells = [row[2] for row in Page(raw).body("commune-table")]  # after "TT" and the code
    assert cells == [" ".join(visible(n).split()) for n in names]
    start = raw.index("<svg", raw.index('<figure id="map">'))  # the map of every operator
    svg = raw[start : raw.index("</svg>", start)]
    labels = [" ".join(t.split()) for t in SvgTexts(svg).texts]
    # A name too long for its commune is a number, and the key under the map names it.
    key = [c for row in Page(raw).body("map-key") for c in row[1::2]] if "map-key" in raw else []
    for name in names:  # drawn with their dollars: no TeX
        assert " ".join(visible(name).split()) in labels + key, name
    assert visible(PROVINCE) in Page(raw).visible()


def test_markdown_shows_names_as_they_are(corpus: Corpus) -> None:
    from markdown_it import MarkdownIt

    text = (corpus.reports / "report.md").read_text(encoding="utf-8")
    assert not RAW_CONTROL.search(text)
    html = MarkdownIt("commonmark").enable("table").render(text)
    names = stored_names(corpus)
    codes = [f"990{i:02d}" for i in range(len(NAMES))]
    communes = next(t for t in Page(html).tables.values() if [r[1] for r in t[1:]] == codes)
    assert [row[2] for row in communes[1:]] == [" ".join(visible(n).split()) for n in names]
    assert "<a " not in html and "<script" not in html
    assert not re.search(r"<strong>B(?!ảng \d)", html)  # a name never bold (captions are)
    # The document names the province with its word: "tỉnh <name>" ("Tỉnh" dropped).
    assert f"tỉnh {visible(bare_name(PROVINCE))}" in Page(html).visible()


def test_docx_shows_names_as_they_are(corpus: Corpus) -> None:
    from tests.test_report_docx_pdf import body, open_docx, tables

    path = corpus.reports / "report.docx"
    cells = [row[2] for row in body(tables(open_docx(path))["commune-table"][0])]
    assert cells == [visible(n) for n in stored_names(corpus)]  # <script>, &amp; included
    assert "<script>alert(1)</script>" in cells
    core = zipfile.ZipFile(path).read("docProps/core.xml").decode("utf-8")
    assert "Tỉnh \\x1b[1m[bold]Thử[/bold]" in core


def test_report_xlsx_writes_strings(corpus: Corpus) -> None:
    book = openpyxl.load_workbook(corpus.reports / "report.xlsx")
    sheet = book.worksheets[4]  # the communes
    cells = [row[1] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in cells if c.value in (*FORMULAS, LINK)] == [*FORMULAS, LINK]
    assert all(c.data_type == "s" and c.hyperlink is None for c in cells)


# -- the exports -----------------------------------------------------------------------------


def csv_names(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [row["commune_name"] for row in csv.DictReader(handle)]


def test_csv_export_prefixes_formulas_and_raw_keeps_them(corpus: Corpus) -> None:
    names = stored_names(corpus)
    safe = csv_names(corpus.results / "communes.csv")
    assert safe == [csv_cell(n) for n in names]
    assert {n for n in safe if n.startswith("'")} == {"'" + f for f in FORMULAS}
    assert csv_names(corpus.raw_results / "communes.csv") == names
    stats = corpus.results / "stats.csv"
    with stats.open(encoding="utf-8-sig", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["commune_name"]]
    assert {r["commune_name"] for r in rows} <= {csv_cell(n) for n in names}


def test_xlsx_export_writes_strings_never_formulas_or_links(corpus: Corpus) -> None:
    path = corpus.results / f"qostool-{MONTH}.xlsx"
    package = zipfile.ZipFile(path)
    for member in package.namelist():
        if member.startswith("xl/worksheets/"):
            xml = package.read(member).decode("utf-8")
            assert "<f>" not in xml and "<hyperlink" not in xml, member
    book = openpyxl.load_workbook(path)
    sheet = book["Communes"]
    header = [c.value for c in sheet[1]]
    column = header.index("Commune")
    cells = [row[column] for row in sheet.iter_rows(min_row=2)]
    assert all(c.data_type == "s" for c in cells)
    assert [c.value for c in cells if c.value in (*FORMULAS, LINK)] == [*FORMULAS, LINK]
    method = {row[0]: row[1] for row in book["Method"].iter_rows(min_row=2, values_only=True)}
    assert str(corpus.root) not in json.dumps(method, ensure_ascii=False)
    files = [i["file"] for i in json.loads(method["inputs"])]
    assert sorted(files) == sorted([f"{FILE_NAME}.csv", "ispeed_2025-03.csv"])
    assert json.loads(method["boundaries"])["source"] == "b.geojson"


def test_gpkg_export_keeps_names_as_data(corpus: Corpus) -> None:
    import pyogrio

    frame = pyogrio.read_dataframe(corpus.results / f"communes-{MONTH}.gpkg")
    assert sorted(frame["commune_name"]) == sorted(stored_names(corpus))


# -- identifiers ---------------------------------------------------------------------------


def test_no_raw_device_id_anywhere_in_the_store(corpus: Corpus) -> None:
    store = Store.open(corpus.store, timezone=TZ)
    rejects = store.scan_rejects().collect()
    assert sorted(rejects["reason"].to_list()) == ["long_row", "long_row"]
    shifted = [json.loads(r) for r in rejects["original"]]
    extra = next(r for r in shifted if "device_id" in r)["_extra_fields"]
    assert len(extra) == 1 and re.fullmatch("[0-9a-f]{16}", extra[0])  # a pseudonym
    assert DEVICE.encode() not in all_store_bytes(corpus.store)


ISPEED = ["test_id", "time", "latitude", "longitude", "operator", "download_mbps", "device_id"]
RTR = ["open_uuid", "time_utc", "lat", "long", "download_kbit", "network_name"]


@pytest.mark.parametrize(
    ("header", "values", "hidden"),
    [
        # Long rows: the device's place, every later one and the extra fields.
        (ISPEED, ["t", "2025", "x", "y", "viettel", " inc", "30", "dev"], [6, 7]),
        (RTR, ["x", "y", "dev", "2025", "1", "2", "3", "viettel"], [0, 1, 2, 3, 4, 5, 6, 7]),
        # Short rows (cut, or a line split in two): the device's place and every earlier one.
        (ISPEED, ["t", "2025", "x"], [0, 1, 2]),
        (RTR, ["2025", "1", "2"], [0]),
        # No identifier column: nothing to hide.
        (ISPEED[:-1], ["t", "2025", "x", "y", "viettel", " inc", "30", "dev"], []),
    ],
)
def test_ragged_rows_hide_every_value_that_may_be_the_device(
    header: list[str], values: list[str], hidden: list[int]
) -> None:
    from qostool.ingest.canonical import ragged_original
    from qostool.ingest.spec import builtin

    bound = builtin("ispeed" if header[0] == "test_id" else "rtr").bind(header)
    original = ragged_original(
        header, values, bound, lambda s: pl.Series(["#" + v for v in s.to_list()])
    )
    shown: list[Any] = [original[c] for c in header if c in original]
    shown += original.get("_extra_fields") or []
    assert len(shown) == len(values)
    assert [i for i, v in enumerate(values) if shown[i] != v] == hidden
