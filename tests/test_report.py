"""``report --month``: every format rendered from the samples and read back.

The expected texts are formatted here, independently of ``report/i18n.py``:
numbers with Python's own format specification and the separators swapped
for Vietnamese, verdicts from the wording agreed for the report.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
import shapely

from qostool.analyze.run import Analysis, AnalyzeOptions, analyze_month, load_analysis
from qostool.geo.boundaries import BoundaryOptions
from qostool.geo.versions import import_boundaries
from qostool.ingest import ingest_paths
from qostool.report import ReportOptions, write_report
from qostool.report.i18n import LABELS, Formatter
from qostool.store import Store
from tests.conftest import REPO, TZ

SAMPLES = REPO / "data" / "samples"
PROVINCE = SAMPLES / "province.geojson"
GENERATED = "2025-11-05"
NO_DATA = {"vi": "không có dữ liệu", "en": "no data"}
#: The assessments as the report words them (#16: "Đạt"/"Chưa đạt" against a minimum,
#: "no tests" apart from "insufficient data"), in the order of its tables.
VERDICTS = {
    "vi": {
        "meets_target": "Đạt",
        "below_target": "Chưa đạt",
        "inconclusive": "Sát ngưỡng, chưa đủ cơ sở đánh giá",
        "insufficient_data": "Chưa đủ dữ liệu",
        "no_tests": "Không có lượt đo",
    },
    "en": {
        "meets_target": "Meets",
        "below_target": "Below",
        "inconclusive": "Close to the threshold, not enough evidence",
        "insufficient_data": "Insufficient data",
        "no_tests": "No tests",
    },
}
#: A change of either month with fewer tests than a verdict needs is not shown.
FEW_TESTS = {"vi": "không so sánh (ít lượt đo)", "en": "not compared (few tests)"}
EVIL = 'Xã <b>&"Thử"'


# -- independent formatting and parsing ------------------------------------------------


def num(value: float | None, lang: str, digits: int = 1) -> str:
    if value is None:
        return NO_DATA[lang]
    text = f"{value:,.{digits}f}"
    if lang == "vi":
        text = text.translate(str.maketrans({",": ".", ".": ","}))
    return "-" + text[1:] if text.startswith("-") and text.strip("-0.,") else text.lstrip("-")


def device_range(low: int | None, high: int | None, lang: str) -> str:
    """Devices as shown: the range at least–at most, one number when both are the same."""
    if high is None:
        return NO_DATA[lang]
    if low is None:
        return f"≤ {num(high, lang, 0)}"
    return num(low, lang, 0) if low == high else f"{num(low, lang, 0)}–{num(high, lang, 0)}"


def signed(value: float | None, lang: str) -> str:
    text = num(value, lang)
    if value is None or text.startswith("-") or not text.strip("0.,"):
        return text
    return "+" + text


def shown(verdict: str | None, tests: int) -> str | None:
    """The assessment the report shows: a commune without any test is not 'insufficient'."""
    return "no_tests" if verdict == "insufficient_data" and tests == 0 else verdict


def change_cell(row: dict[str, Any], before: int | None, lang: str, minimum: int = 30) -> str:
    """A group's change as shown: none when this month or last has fewer tests than a
    verdict needs (``before``: last month's tests of the group)."""
    change = row["download_mean_change_mbps"]
    if change is not None and (row["tests"] < minimum or (before is not None and before < minimum)):
        return FEW_TESTS[lang]
    return signed(change, lang)


def group_tests(analysis: Analysis) -> dict[tuple[Any, ...], int]:
    """Each group's tests in a stored analysis, by (level, commune, operator, technology)."""
    keys = analysis.stats.select("level", "commune_code", "operator", "technology", "tests")
    return {(lv, c or None, o, t): n for lv, c, o, t, n in keys.iter_rows()}


class Page(HTMLParser):
    """Tables by id (rows of cell texts) and the visible text of an HTML page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self.text: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._hidden = 0
        self._section = ""
        self.sections: dict[str, list[str]] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "svg", "script"):
            self._hidden += 1
        elif tag == "table":
            self._table = dict(attrs).get("id") or f"table-{len(self.tables)}"
            self.tables[self._table] = []
            self.sections[self._table] = []
        elif tag in ("thead", "tbody", "tfoot"):
            self._section = tag
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
            self.sections[self._table].append(self._section)
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "svg", "script"):
            self._hidden -= 1
        elif tag == "table":
            self._table = None
            self._section = ""
        elif tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())

    def body(self, table: str) -> list[list[str]]:
        """The rows of the table's body (not its header or footer)."""
        rows = zip(self.tables[table], self.sections[table], strict=True)
        return [cells for cells, section in rows if section == "tbody"]


def without_data_uris(text: str) -> str:
    return re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "", text)


# -- stores ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The samples ingested, their province imported, September and October analysed."""
    root = tmp_path_factory.mktemp("report") / "store"
    ingest_paths([str(SAMPLES)], store=root)
    store = Store.open(root, timezone=TZ)
    import_boundaries(store, PROVINCE, BoundaryOptions())
    analyze_month(store, AnalyzeOptions(month="2025-09"))
    analyze_month(store, AnalyzeOptions(month="2025-10"))
    return store


@pytest.fixture(scope="module")
def october(sample_store: Store) -> Analysis:
    return load_analysis(sample_store, "2025-10")


@pytest.fixture(scope="module")
def september(sample_store: Store) -> Analysis:
    return load_analysis(sample_store, "2025-09")


@pytest.fixture(scope="module")
def reports(sample_store: Store, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """October in every format, in Vietnamese (``vi``) and English (``en``)."""
    out = {}
    for lang in ("vi", "en"):
        folder = tmp_path_factory.mktemp(f"out-{lang}")
        options = ReportOptions(
            month="2025-10",
            lang=lang,
            formats=("html", "md", "xlsx"),
            out=folder,
            generated_at=GENERATED,
        )
        write_report(sample_store, options)
        out[lang] = folder / "2025-10"
    return out


def _thin_csv(path: Path) -> Path:
    """March 2025: 4G only; 40 tests from 8 devices in 99012, 3 tests in 99001, none elsewhere."""
    communes = json.loads(PROVINCE.read_text(encoding="utf-8"))["features"]
    points = {
        f["properties"]["id"]: shapely.point_on_surface(shapely.geometry.shape(f["geometry"]))
        for f in communes
    }
    header = (
        "open_uuid,open_test_uuid,time_utc,cat_technology,network_type,lat,long,loc_accuracy,"
        "download_kbit,upload_kbit,ping_ms,network_mcc_mnc,network_name,implausible,pinned,"
        "signal_strength"
    )
    lines = [header]
    rows = [("99012", i, f"P{i % 8}", 30000 + 500 * i) for i in range(40)]
    rows += [("99001", 100 + i, f"Q{i}", 50000) for i in range(3)]
    for code, i, device, kbit in rows:
        p = points[code]
        lines.append(
            f"{device},T{i:04d},2025-03-{1 + i % 27:02d} 05:00:00,4G,LTE,{p.y:.6f},{p.x:.6f},"
            f"5,{kbit},10000,30,452-04,Viettel,false,true,-90"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def thin_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """One month (March 2025): no 5G, no earlier month, communes without tests, and a
    commune whose name holds HTML special characters."""
    folder = tmp_path_factory.mktemp("thin")
    province = json.loads(PROVINCE.read_text(encoding="utf-8"))
    for feature in province["features"]:
        if feature["properties"]["id"] == "99001":
            feature["properties"]["name"] = EVIL
    boundaries = folder / "province.geojson"
    boundaries.write_text(json.dumps(province, ensure_ascii=False), encoding="utf-8")
    ingest_paths([str(_thin_csv(folder / "rtr_2025-03.csv"))], store=folder / "store")
    store = Store.open(folder / "store", timezone=TZ)
    import_boundaries(store, boundaries, BoundaryOptions())
    analyze_month(store, AnalyzeOptions(month="2025-03"))
    return store


@pytest.fixture(scope="module")
def thin_reports(thin_store: Store, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for lang in ("vi", "en"):
        folder = tmp_path_factory.mktemp(f"thin-{lang}")
        options = ReportOptions(
            month="2025-03", lang=lang, formats=("html", "md", "xlsx"), out=folder
        )
        write_report(thin_store, options)
        out[lang] = folder / "2025-03"
    return out


def page(folder: Path) -> Page:
    return Page((folder / "report.html").read_text(encoding="utf-8"))


# -- HTML: the numbers are the analysis' numbers ---------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_html_commune_table_equals_the_analysis(
    lang: str, reports: dict[str, Path], october: Analysis, september: Analysis
) -> None:
    check_commune_rows(page(reports[lang]).body("commune-table"), october, september, lang)


def ordinals(rows: list[list[str]]) -> list[list[str]]:
    """The rows without their first column, after checking it numbers them 1, 2, 3, ..."""
    assert [r[0] for r in rows] == [str(i) for i in range(1, len(rows) + 1)]
    return [r[1:] for r in rows]


def check_commune_rows(
    rows: list[list[str]], october: Analysis, september: Analysis, lang: str
) -> None:
    """The rows of a rendered 4G commune table (its first column "TT") against the
    analysis, cell by cell."""
    g4 = october.commune_rows("4G")
    before = group_tests(september)
    rows = ordinals(rows)
    assert len(rows) == october.communes.height == 30
    for cells, commune in zip(
        rows, october.communes.sort("commune_code").iter_rows(named=True), strict=True
    ):
        stat = g4.filter(pl.col("commune_code") == commune["commune_code"]).row(0, named=True)
        assert cells[0] == commune["commune_code"]
        assert cells[1] == commune["commune_name"]
        assert cells[3] == num(commune["tests_4g"], lang, 0)
        assert cells[4] == device_range(stat["devices_min"], stat["devices_max"], lang)
        assert cells[5] == num(commune["download_mean_4g_mbps"], lang)
        assert cells[6] == num(stat["download_median_mbps"], lang)
        low, high = stat["download_mean_ci_low"], stat["download_mean_ci_high"]
        interval = NO_DATA[lang] if low is None else f"{num(low, lang)}–{num(high, lang)}"
        assert cells[7] == interval
        assert cells[8] == VERDICTS[lang][shown(commune["verdict_4g"], commune["tests_4g"])]
        key = ("commune", commune["commune_code"], "all", "4G")
        assert cells[9] == change_cell(stat, before.get(key), lang)
        assert cells[10] == num(stat["months_below_target"], lang, 0)


def singles_and_devices(store: Store, month: str) -> tuple[int, int]:
    """Citizens' single tests of the month on the mobile network, and their devices
    (each source's distinct devices, added), from the stored tests themselves (every
    sample test lies inside the province)."""
    rows = (
        store.scan_tests([month])
        .filter(~pl.col("aggregate").fill_null(False), pl.col("technology") != "wifi")
        .select("source", "device_id")
        .collect()
    )
    devices = rows.group_by("source").agg(pl.col("device_id").drop_nulls().n_unique())
    return rows.height, int(devices["device_id"].sum())


def key_figures_vi(html: Page) -> dict[str, str]:
    return dict(html.body("key-figures"))


def test_html_summary_province_and_operators_equal_the_analysis(
    reports: dict[str, Path], october: Analysis, september: Analysis, sample_store: Store
) -> None:
    html = page(reports["vi"])
    province = {
        r["technology"]: r
        for r in october.stats.filter(pl.col("level") == "province").iter_rows(named=True)
    }
    figures = key_figures_vi(html)
    singles, devices = singles_and_devices(sample_store, "2025-10")
    assert october.meta["counts"]["outside_rows"] == 0
    # Citizens' tests and devices; the quarter's Ookla tiles apart, never added in.
    assert figures["Lượt đo trên mạng di động (i-Speed và các nguồn đo từng lượt)"] == num(
        singles, "vi", 0
    )
    tiles = "Dữ liệu tổng hợp theo ô lưới của Ookla (Speedtest), thống kê riêng: số lượt đo"
    assert figures[tiles] == num(province["all"]["tile_tests"], "vi", 0)
    assert (
        province["all"]["tile_tests"] > 0
        and singles + province["all"]["tile_tests"] == (province["all"]["tests"])
    )
    assert figures["Số thiết bị đã đo"] == num(devices, "vi", 0)
    with_tests = int(october.communes["has_tests"].sum())
    assert figures["Xã, phường, đặc khu có lượt đo"] == f"{with_tests} / 30"

    g4 = october.commune_rows("4G")
    assessed = [shown(v, t) for v, t in zip(g4["verdict"], g4["tests"], strict=True)]
    row_4g = next(r for r in html.body("verdicts") if r[0] == "4G")
    assert row_4g[2:] == [str(assessed.count(v)) for v in VERDICTS["vi"]] + ["30"]
    assert [r[0] for r in html.body("verdicts")] == ["4G"]  # 5G is no verdict (#16)

    before = group_tests(september)
    by_tech = {r[0]: r for r in html.body("province")}
    for tech in ("4G", "5G", "3G"):
        expected = province[tech]
        cells = by_tech[tech]
        assert cells[1] == num(expected["tests"], "vi", 0)
        assert cells[3] == num(expected["download_mean_mbps"], "vi")
        assert cells[4] == num(expected["download_median_mbps"], "vi")
        assert cells[7] == num(expected["prev_download_mean_mbps"], "vi")
        assert cells[8] == change_cell(expected, before.get(("province", None, "all", tech)), "vi")
    assert by_tech["4G"][6] == VERDICTS["vi"][province["4G"]["verdict"]]
    # 5G: a reference level the Department chose, compared with, never a verdict.
    assert by_tech["5G"][5] == "100 (tham chiếu)"
    reference = {
        "meets_target": "Trên mức tham chiếu",
        "below_target": "Dưới mức tham chiếu",
        "inconclusive": "Sát mức tham chiếu",
    }
    assert by_tech["5G"][6] == reference.get(province["5G"]["verdict"], "Chưa đủ dữ liệu")
    # A technology without a target says so: it has data, only no target.
    assert province["3G"]["target_mbps"] is None
    assert by_tech["3G"][5] == "không áp dụng" and by_tech["4G"][5] == "40"

    operators = october.stats.filter(pl.col("level") == "operator", pl.col("technology") == "4G")
    # One count over every operator's rows (the operators' blocks do not restart it).
    table = {(r[0], r[1]): r for r in ordinals(html.body("operator-table"))}
    for row in operators.iter_rows(named=True):
        cells = table[(row["operator"], "4G")]
        assert cells[2] == num(row["tests"], "vi", 0)
        assert cells[4] == num(row["download_mean_mbps"], "vi")

    # Below the minimum: 4G only (5G below its reference level is not "below").
    below = october.stats.filter(
        pl.col("level") == "commune_operator",
        pl.col("verdict") == "below_target",
        pl.col("technology") == "4G",
    )
    listed = [
        (r[0], r[2])
        for name in html.tables
        if name.startswith("below-")
        for r in ordinals(html.body(name))
    ]
    assert sorted(listed) == sorted(
        (r["commune_code"], r["technology"]) for r in below.iter_rows(named=True)
    )
    assert listed  # the samples have slow communes


def test_the_technical_file_holds_the_hashes_and_the_letter_does_not(
    reports: dict[str, Path], october: Analysis, sample_store: Store
) -> None:
    """Input files, their SHA-256, time zone names, quarters and versions are in
    technical.md next to the report; the letter names that file and keeps none of them."""
    files = {f.sha256: f for f in sample_store.files()}
    hashes = sorted(
        (i["sha256"] for i in october.meta["inputs"]), key=lambda h: Path(files[h].name).name
    )
    technical = (reports["vi"] / "technical.md").read_text(encoding="utf-8")
    rows = [
        [c.strip() for c in line.strip("|").split(" | ")]
        for line in technical.splitlines()
        if line.startswith("| ") and line.endswith("` |")
    ]
    assert [r[-1].strip("`") for r in rows] == hashes
    for cells in rows:
        record = files[cells[-1].strip("`")]
        assert cells[0].replace("\\", "") == Path(record.name).name
        assert cells[2:6] == [
            num(v, "vi", 0)
            for v in (record.rows_read, record.accepted, record.rejected, record.duplicates)
        ]
    plain = re.sub(r"\\(.)", r"\1", technical)  # Markdown's escapes removed
    assert "Asia/Ho_Chi_Minh" in plain and october.meta["tool_version"] in plain
    for lang in ("vi", "en"):
        letter = (reports[lang] / "report.html").read_text(encoding="utf-8")
        markdown = (reports[lang] / "report.md").read_text(encoding="utf-8")
        for text in (letter, markdown):
            assert not any(h in text for h in hashes), lang
            assert "SHA-256" not in text and "Asia/Ho_Chi_Minh" not in text.replace("\\", "")
            assert "technical.md" in text.replace("\\", "")  # where the details are
        assert "UTC+7" in page(reports[lang]).visible()  # the time zone in words


def test_html_thin_data_tables_and_5g(reports: dict[str, Path], october: Analysis) -> None:
    html = page(reports["en"])
    # Without any 4G test: apart from the communes with too few.
    no_tests = october.communes.filter(pl.col("tests_4g") == 0)
    listed = ordinals(html.body("no-tests"))
    assert [r[0] for r in listed] == no_tests["commune_code"].to_list()
    assert [r[-1] for r in listed] == [
        num(n, "en", 0) for n in no_tests["tests_mobile_single"].to_list()
    ]
    insufficient = october.communes.filter(
        pl.col("tests_4g") > 0, pl.col("verdict_4g") == "insufficient_data"
    )
    rows = ordinals(html.body("insufficient"))
    assert [r[0] for r in rows] == insufficient["commune_code"].to_list()
    assert all("fewer than 30 tests" in r[-1] for r in rows if int(r[2]) < 30)
    with_5g = october.communes.filter(pl.col("has_5g"))
    five_g = {r[0]: r for r in ordinals(html.body("five-g-communes"))}
    assert sorted(five_g) == with_5g["commune_code"].to_list()
    for row in with_5g.iter_rows(named=True):
        cells = five_g[row["commune_code"]]
        assert cells[2] == num(row["tests_5g"], "en", 0)
        # Out of citizens' single tests (the tiles' technology is unknown).
        assert cells[3] == num(row["tests_5g"] / row["tests_mobile_single"] * 100, "en") + "%"
        assert cells[5] == num(row["download_median_5g_mbps"], "en")
    adoption = {r[0]: r for r in ordinals(html.body("adoption-table"))}
    for row in october.communes.iter_rows(named=True):
        cells = adoption[row["commune_code"]]
        # Citizens' single tests on the mobile network: no tile, no Wi-Fi test.
        assert cells[3] == num(row["tests_mobile_single"], "en", 0)
        assert cells[4] == num(row["devices_mobile_single"], "en", 0)
        assert cells[5] == num(row["tests_mobile_single"] * 1000 / row["population"], "en", 2)


def test_html_trend_has_both_months(
    reports: dict[str, Path], october: Analysis, sample_store: Store
) -> None:
    html = page(reports["en"])
    september = load_analysis(sample_store, "2025-09")
    rows = html.body("trend-table")
    assert [r[0] for r in rows] == ["September 2025", "October 2025"]
    for cells, analysis in zip(rows, (september, october), strict=True):
        g4 = analysis.stats.filter(pl.col("level") == "province", pl.col("technology") == "4G")
        assert cells[3] == num(g4["download_mean_mbps"][0], "en")
    text = (reports["en"] / "report.html").read_text(encoding="utf-8")
    rest = re.sub(r'<section id="five-g-operators">.*?</section>', "", text, flags=re.S)
    # The map, each operator's 4G map and the trend, inline (the 5G maps apart).
    assert rest.count("<svg") == 2 + len(operators_4g(october))


def test_html_is_self_contained_and_print_ready(reports: dict[str, Path]) -> None:
    text = (reports["vi"] / "report.html").read_text(encoding="utf-8")
    assert '<html lang="vi">' in text
    assert "@page { size: A4" in text
    assert "tr { break-inside: avoid" in text
    assert "thead { display: table-header-group" in text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
    assert "<link" not in text and "<script" not in text
    svg = pooled_map(text)
    for name in ("Mường Tè", "Sì Lở Lầu", "Hồng Thu"):  # its labels keep their diacritics
        assert re.search(rf"<text[^>]*>\s*{name}\s*</text>", svg), name
    assert "Chưa đạt (3)" in svg  # the legend, with the counts


# -- Markdown and XLSX -----------------------------------------------------------------


def test_markdown_rows_equal_the_analysis(reports: dict[str, Path], october: Analysis) -> None:
    text = (reports["vi"] / "report.md").read_text(encoding="utf-8")
    # The document's header first (issuer, number, motto, date line), then the title.
    assert text.startswith("UBND TỈNH SƠN LÂM  \n**SỞ KHOA HỌC VÀ CÔNG NGHỆ**  \n")
    assert "\n# Báo cáo chất lượng Internet di động\n" in text
    annex = text[text.index("\n## Phụ lục I\n") : text.index("\n## Phụ lục II\n")]
    for number, row in enumerate(october.communes.iter_rows(named=True), start=1):
        prefix = f"| {number} | {row['commune_code']} | {row['commune_name']} | "
        line = next(line for line in annex.splitlines() if line.startswith(prefix))
        cells = [c.strip() for c in line.strip("|").split(" | ")][1:]
        assert cells[3] == num(row["tests_4g"], "vi", 0)
        assert cells[5] == num(row["download_mean_4g_mbps"], "vi")
        assert cells[7] == VERDICTS["vi"][shown(row["verdict_4g"], row["tests_4g"])]
    assert "](data:image/svg+xml;base64," in text  # the map, embedded


def test_xlsx_sheets_and_cells_equal_the_analysis(
    reports: dict[str, Path], october: Analysis
) -> None:
    book = openpyxl.load_workbook(reports["en"] / "report.xlsx")
    assert book.sheetnames == [
        "Summary",
        "Assessments",
        "Province",
        "Operators",
        "Communes",
        "Below minimum by operator",
        "Insufficient data",
        "5G",
        "Sources",
        "Use of i-Speed",
        "Change over months",
        "Input files",
        "Rejected records",
        "Method",
    ]
    sheet = book["Communes"]
    header = [c.value for c in sheet[1]]
    assert header[:4] == ["Code", "Commune", "Type", "4G tests"]
    assert header[4:7] == ["Devices, at least", "Devices, at most", "4G mean (Mbps)"]
    assert header[10] == "4G assessment"
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 30
    g4_rows = {r["commune_code"]: r for r in october.commune_rows("4G").iter_rows(named=True)}
    for cells, row in zip(rows, october.communes.iter_rows(named=True), strict=True):
        assert cells[0] == row["commune_code"]
        assert cells[1] == row["commune_name"]
        assert cells[3] == row["tests_4g"]
        stat = g4_rows[row["commune_code"]]
        assert (cells[4], cells[5]) == (stat["devices_min"], stat["devices_max"])
        if row["download_mean_4g_mbps"] is None:
            assert cells[6] == "no data"
        else:
            assert cells[6] == pytest.approx(row["download_mean_4g_mbps"])
        assert cells[10] == VERDICTS["en"][shown(row["verdict_4g"], row["tests_4g"])]
    province = {r[0]: r for r in book["Province"].iter_rows(min_row=2, values_only=True)}
    g4 = october.stats.filter(pl.col("level") == "province", pl.col("technology") == "4G")
    assert province["4G"][1] == g4["tests"][0]
    assert province["4G"][2:4] == (g4["devices_min"][0], g4["devices_max"][0])
    assert province["4G"][4] == pytest.approx(g4["download_mean_mbps"][0])
    for ws in book.worksheets:
        for line in ws.iter_rows(values_only=True):
            assert all(v is not None and v != "" for v in line), (ws.title, line)
    # Each source credited, citizens' tests apart from the quarter's tiles.
    sources = list(book["Sources"].iter_rows(min_row=2, values_only=True))
    assert sources[0][0] == "i-Speed (VNNIC)"
    tiles = [r for r in sources if r[0].startswith("Ookla (Speedtest) grid-tile aggregates")]
    assert len(tiles) == 1 and tiles[0][0].endswith("(counted apart)")
    all_tests = october.stats.filter(pl.col("level") == "province", pl.col("technology") == "all")
    assert tiles[0][1] == all_tests["tile_tests"][0]
    vi = openpyxl.load_workbook(reports["vi"] / "report.xlsx")
    assert vi.sheetnames[0] == "Tóm tắt" and "Xã phường đặc khu" in vi.sheetnames


# -- thin data, escaping, languages ------------------------------------------------------


def test_thin_month_says_so_in_words(thin_reports: dict[str, Path], thin_store: Store) -> None:
    analysis = load_analysis(thin_store, "2025-03")
    assert not analysis.communes["has_5g"].any()
    assert (~analysis.communes["has_tests"]).sum() == 28
    expected = {
        "vi": ("Không có lượt đo 5G nào trong tháng này.", "Đây là tháng đầu tiên được phân tích"),
        "en": ("No 5G test this month.", "This is the first month analysed"),
    }
    for lang, folder in thin_reports.items():
        html = page(folder)
        visible = html.visible()
        markdown = without_data_uris((folder / "report.md").read_text(encoding="utf-8"))
        for sentence in expected[lang]:
            assert sentence in visible and sentence in markdown
        for text in (visible, markdown):
            assert not re.search(r"\b(nan|NaN|None|null)\b", text), lang
        empty = next(r for r in ordinals(html.body("commune-table")) if r[0] == "99006")
        assert empty[5] == NO_DATA[lang] and empty[3] == "0"
        assert all(cell for table in html.tables.values() for row in table for cell in row[:-1])
        assert "<svg" in (folder / "report.html").read_text(encoding="utf-8")  # the map
        assert "trend-table" not in html.tables
        book = openpyxl.load_workbook(folder / "report.xlsx")
        for ws in book.worksheets:
            for line in ws.iter_rows(values_only=True):
                if line[0] in ("Không có.", "Nothing to list."):  # an empty table
                    continue
                assert all(v is not None and v not in ("", "nan") for v in line), ws.title


def test_names_are_escaped(thin_reports: dict[str, Path]) -> None:
    raw = (thin_reports["vi"] / "report.html").read_text(encoding="utf-8")
    assert EVIL not in raw and "<b>" not in raw
    assert "&lt;b&gt;&amp;" in raw
    rows = ordinals(page(thin_reports["vi"]).body("commune-table"))
    assert next(r for r in rows if r[0] == "99001")[1] == EVIL
    markdown = (thin_reports["vi"] / "report.md").read_text(encoding="utf-8")
    assert EVIL not in markdown and "\\<b\\>\\&" in markdown


VI_LABELS = [
    "Tóm tắt",
    "Kết quả theo doanh nghiệp",
    "Đạt",
    "Chưa đạt",
    "Chưa đủ dữ liệu",
    "Sát ngưỡng, chưa đủ cơ sở đánh giá",
    "Không có lượt đo",
    "không có dữ liệu",
    "Số lượt đo",
    "Doanh nghiệp",
    "Phụ lục",
    "tháng",
    "Xã",
    "Phường",
]
EN_LABELS = [
    "Summary",
    "Results by operator",
    "Meets",
    "Below",
    "Insufficient data",
    "Close to the threshold, not enough evidence",
    "No tests",
    "no data",
    "Tests",
    "Operator",
    "Annex",
    "October",
    "Commune",
    "Ward",
]


def test_one_language_per_report(reports: dict[str, Path]) -> None:
    for lang, foreign in (("en", VI_LABELS), ("vi", EN_LABELS)):
        visible = page(reports[lang]).visible()
        markdown = without_data_uris((reports[lang] / "report.md").read_text(encoding="utf-8"))
        for label in foreign:
            pattern = rf"(?<!\w){re.escape(label)}(?!\w)"
            assert not re.search(pattern, visible), (lang, label)
            assert not re.search(pattern, markdown), (lang, label)
        assert not re.search(r"\b(nan|NaN|None|null)\b", visible + markdown), lang
    assert set(LABELS["vi"]) == set(LABELS["en"])


# -- determinism and templates ------------------------------------------------------------


def test_same_options_give_the_same_bytes(sample_store: Store, tmp_path: Path) -> None:
    outputs = []
    for run in ("a", "b"):
        options = ReportOptions(
            month="2025-10",
            formats=("html", "md", "xlsx"),
            out=tmp_path / run,
            generated_at="2025-11-05T08:30:00+07:00",
        )
        result = write_report(sample_store, options)
        outputs.append({name: path.read_bytes() for name, path in result.files.items()})
        assert result.technical is not None
        outputs[-1]["technical"] = result.technical.read_bytes()
    assert outputs[0] == outputs[1]
    html = outputs[0]["html"].decode()
    assert "<dc:date>" not in html
    # When the files were made is a technical detail, never the letter's date.
    assert "08:30" not in html
    assert "ngày 5 tháng 11 năm 2025 lúc 08:30" in outputs[0]["technical"].decode()
    assert sorted(p.name for p in (tmp_path / "a" / "2025-10").iterdir()) == [
        "report.html",
        "report.md",
        "report.xlsx",
        "technical.md",
    ]  # no temporary file left behind


def test_a_user_template_overrides_one_file(sample_store: Store, tmp_path: Path) -> None:
    templates = tmp_path / "templates" / "html"
    templates.mkdir(parents=True)
    (templates / "five_g.html").write_text(
        '<section id="five-g"><p id="custom">MY 5G {{ five_g.tests | integer }}</p></section>\n',
        encoding="utf-8",
    )
    options = ReportOptions(
        month="2025-10", out=tmp_path / "out", template_dir=tmp_path / "templates"
    )
    html = write_report(sample_store, options).files["html"].read_text(encoding="utf-8")
    october = load_analysis(sample_store, "2025-10")
    tests_5g = october.stats.filter(pl.col("level") == "province", pl.col("technology") == "5G")
    assert f"MY 5G {num(tests_5g['tests'][0], 'vi', 0)}" in html
    assert 'id="five-g-figures"' not in html  # replaced
    assert 'id="commune-table"' in html  # the other templates are the packaged ones


# -- i18n ------------------------------------------------------------------------------


def test_formatter_numbers_and_dates() -> None:
    vi, en = Formatter("vi"), Formatter("en")
    assert vi.number(1234.56) == "1.234,6" and en.number(1234.56) == "1,234.6"
    assert vi.integer(1234567) == "1.234.567" and en.integer(1234567) == "1,234,567"
    assert vi.signed(-0.04) == "0,0" and en.signed(2.25) == "+2.2"
    assert vi.percent(0.125) == "12,5%"
    assert vi.date("2025-11-15") == "ngày 15 tháng 11 năm 2025"
    assert en.date("2025-11-15") == "15 November 2025"
    assert vi.month("2025-10") == "tháng 10 năm 2025" and en.month("2025-10") == "October 2025"
    for value in (None, float("nan"), float("inf")):
        assert vi.number(value) == "không có dữ liệu" and en.percent(value) == "no data"
    assert vi.verdict("inconclusive") == "Sát ngưỡng, chưa đủ cơ sở đánh giá"
    assert en.verdict("no_tests") == "No tests" and vi.verdict("no_tests") == "Không có lượt đo"
    # Quarters in Roman numerals in Vietnamese; Viet Nam's time zone in words.
    assert vi.quarter("2025-Q4") == "quý IV/2025" and vi.quarter_name("2025-Q4") == "Quý IV/2025"
    assert en.quarter("2025-Q4") == "Q4 2025" and en.quarter_name("2025-Q4") == "Q4 2025"
    assert vi.timezone("Asia/Ho_Chi_Minh") == "giờ Việt Nam (UTC+7)"
    assert en.timezone("Asia/Ho_Chi_Minh") == "Viet Nam time (UTC+7)"
    assert vi.timezone("Asia/Bangkok") == "Asia/Bangkok"
    assert en.commune_type("Phường") == "Ward" and vi.commune_type(None) == "không có dữ liệu"
    assert en.operator(None) == "Unknown operator"


# -- the command line ------------------------------------------------------------------


@pytest.fixture
def store_copy(sample_store: Store, tmp_path: Path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(sample_store.root, root)
    return root


def test_cli_writes_every_format(cli: Any, store_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    result = cli(
        "report", "--month", "2025-10", "--store", store_copy, "--out", out,
        "--format", "html,md,xlsx", "--generated-at", GENERATED,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for ext in ("html", "md", "xlsx"):
        path = out / "2025-10" / f"report.{ext}"
        assert path.is_file()
        assert str(path) in result.stdout
    json_result = cli(
        "report", "--month", "2025-10", "--store", store_copy, "--out", out, "--json",
        "--lang", "en",
    )  # fmt: skip
    assert json_result.exit_code == 0
    data = json.loads(json_result.stdout)
    assert data["files"] == {"html": str(out / "2025-10" / "report.html")}
    assert data["lang"] == "en"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lang", "fr"], "--lang 'fr' is not a known language"),
        (["--format", "html,doc"], "--format 'doc' is not a known report format"),
        (["--format", "csv"], "--format 'csv' is not a known report format"),
        (["--generated-at", "yesterday"], "--generated-at 'yesterday'"),
        (["--template-dir", "nowhere"], "--template-dir 'nowhere': no such folder"),
        (["--month", "2025-13"], "--month '2025-13'"),
    ],
)
def test_cli_usage_errors(args: list[str], message: str, cli: Any, store_copy: Path) -> None:
    base = ["report", "--month", "2025-10", "--store", store_copy]
    result = cli(*base, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_follows_the_configuration_under_its_options(
    cli: Any, store_copy: Path, tmp_path: Path
) -> None:
    config = tmp_path / "qostool.toml"
    config.write_text(
        f'[store]\npath = "{store_copy}"\n'
        '[report]\nlanguages = ["vi", "en"]\nformats = ["md"]\nout = "monthly"\n',
        encoding="utf-8",
    )
    day = ["--generated-at", "2025-11-05"]
    result = cli("report", "--month", "2025-10", "--config", config, *day)
    assert result.exit_code == 0, result.output
    both = {lang: tmp_path / "monthly" / lang / "2025-10" / "report.md" for lang in ("vi", "en")}
    assert "Báo cáo" in both["vi"].read_text(encoding="utf-8")
    assert "Báo cáo" not in both["en"].read_text(encoding="utf-8")
    chosen = tmp_path / "chosen"
    result = cli("report", "--month", "2025-10", "--config", config, "--lang", "en",
                 "--format", "html", "--out", chosen, *day)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (chosen / "2025-10").iterdir()) == [
        "report.html",
        "technical.md",
    ]


def test_cli_month_not_analysed(cli: Any, store_copy: Path) -> None:
    result = cli("report", "--month", "2025-11", "--store", store_copy)
    assert result.exit_code == 1
    assert "2025-11 has not been analysed" in result.output
    assert "qostool analyze --month 2025-11" in result.output


def test_cli_broken_user_template(cli: Any, store_copy: Path, tmp_path: Path) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "report.html").write_text("{{ no_such_thing }}\n", encoding="utf-8")
    result = cli(
        "report", "--month", "2025-10", "--store", store_copy, "--out", tmp_path / "o",
        "--template-dir", tmp_path / "tpl",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--template-dir" in result.output and "no_such_thing" in result.output
    assert not (tmp_path / "o" / "2025-10" / "report.html").exists()


def test_cli_import_stays_light() -> None:
    code = (
        "import sys, qostool.cli; "
        "print(sorted(m for m in ('jinja2', 'matplotlib', 'polars') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_context_field_is_documented() -> None:
    import dataclasses

    from qostool.report import context

    docs = (REPO / "docs" / "report.md").read_text(encoding="utf-8")
    for name in dir(context):
        cls = getattr(context, name)
        if dataclasses.is_dataclass(cls) and cls.__module__ == context.__name__:
            for f in dataclasses.fields(cls):
                assert f"`{f.name}`" in docs, f"{name}.{f.name}"


def test_map_labels_grow_with_the_commune_when_there_are_many() -> None:
    from qostool.report.charts import _label_sizes

    assert _label_sizes(["Xã A"] * 30, [0.01] * 30, 20.0) == [6.5] * 30  # a few: one size
    names = ["Ia Grai"] * 60
    widths = [0.001 * (i + 1) for i in range(60)]  # degrees, narrow to wide
    sizes = _label_sizes(names, widths, 20.0)  # 20 inches a degree on the page
    assert sizes == sorted(sizes)
    assert min(sizes) == 4.0 and max(sizes) == 6.5  # never unreadable, never huge
    # In between, the label takes the commune's width: 7 letters of 0.6 em each.
    middle = next(i for i, s in enumerate(sizes) if 4.0 < s < 6.5)
    assert sizes[middle] == pytest.approx(widths[middle] * 20 * 72 / (0.6 * 7), abs=0.05)


def test_the_contents_list_numbers_its_items_once(reports: dict[str, Path]) -> None:
    """The headings carry their numbers ("I. Implementation"): the list adds none (no
    "1. I. ..."), and names the sections I-V and the annexes in the document's order."""
    for lang in ("vi", "en"):
        text = (reports[lang] / "report.html").read_text(encoding="utf-8")
        toc = text[text.index('<nav class="toc">') : text.index("</nav>")]
        assert "<ol" not in toc
        items = re.findall(r'<li><a href="#([^"]+)">([^<]*)</a></li>', toc)
        assert [i[0] for i in items] == [
            "uptake",
            "results",
            "assessment",
            "tasks",
            "proposals",
            "annex-communes",
            "annex-below",
            "annex-thin",
            "annex-adoption",
            "annex",
        ]
        for anchor, label in items:  # the heading's own words, numbered once
            assert f'id="{anchor}"' in text
            assert not re.match(r"\d+\.\s*[IVX]+\.", label), label
        assert items[0][1] == ("I. Tình hình triển khai" if lang == "vi" else "I. Implementation")
        assert items[5][1].startswith("Phụ lục I. " if lang == "vi" else "Annex I. ")
    rule = re.search(r"nav\.toc ul \{([^}]*)\}", text)
    assert rule and "list-style: none" in rule.group(1)


# -- the maps: per operator, scale bar, labels -----------------------------------------


def pooled_map(html: str) -> str:
    """The SVG of the map of every operator's verdicts (section II.3; each operator's own
    maps come before it, in II.2)."""
    start = html.index("<svg", html.index('<figure id="map">'))
    return html[start : html.index("</svg>", start)]


def operators_4g(analysis: Analysis) -> list[str]:
    """The operators with commune x operator 4G rows, by name."""
    rows = analysis.stats.filter(
        pl.col("level") == "commune_operator", pl.col("technology") == "4G"
    )
    return sorted(set(rows["operator"].drop_nulls().to_list()))


def test_html_and_markdown_have_a_4g_map_per_operator(
    reports: dict[str, Path], october: Analysis
) -> None:
    operators = operators_4g(october)
    assert len(operators) >= 2
    text = (reports["en"] / "report.html").read_text(encoding="utf-8")
    figures = re.findall(r'<figure class="operator-map">\s*(<svg.*?</svg>)', text, flags=re.S)
    assert len(figures) == len(operators)
    rows = october.stats.filter(pl.col("level") == "commune_operator", pl.col("technology") == "4G")
    for operator, svg in zip(operators, figures, strict=True):
        assert f"4G assessment: {operator}" in svg  # the title names its operator
        below = rows.filter(pl.col("operator") == operator, pl.col("verdict") == "below_target")
        assert f"Below ({below.height})" in svg  # its own assessments, not the pooled
        # A commune without any 4G test of the operator (no row): "no tests", apart.
        mine = rows.filter(pl.col("operator") == operator)
        untested = 30 - mine.height + mine.filter(pl.col("tests") == 0).height
        assert f"No tests ({untested})" in svg
    markdown = (reports["vi"] / "report.md").read_text(encoding="utf-8")
    alts = re.findall(r"!\[Đánh giá 4G\\: (.*?)\]\(data:image/svg\+xml;base64,", markdown)
    assert [a.replace("\\", "") for a in alts] == operators  # Markdown's escapes removed


def test_scale_bar_length_at_a_known_latitude() -> None:
    from qostool.report.charts import scale_length

    # At 21 degrees north a degree of longitude is 111.32 x cos(21 deg) = 103.93 km: a map
    # one degree wide is 104 km wide, and a quarter of it (26 km) rounds down to 20 km.
    km_per_degree = 111.32 * math.cos(math.radians(21.0))
    assert 103.9 < km_per_degree < 104.0
    km, degrees = scale_length(105.0, 106.0, 21.0)
    assert km == 20
    assert degrees * km_per_degree == pytest.approx(20.0)
    assert scale_length(105.0, 105.1, 21.0)[0] == 2  # 10.4 km wide: a 2 km bar
    assert scale_length(105.0, 109.0, 0.0)[0] == 100  # 445 km wide at the equator


def test_the_maps_scale_bar_is_labelled_for_the_province(
    sample_store: Store, october: Analysis, reports: dict[str, Path]
) -> None:
    from qostool.report.write import load_map

    data = load_map(sample_store, october)
    assert data is not None
    xmin, ymin, xmax, ymax = shapely.total_bounds(data.geometries)
    width_km = (xmax - xmin) * 111.32 * math.cos(math.radians((ymin + ymax) / 2))
    bars = [k for k in (1, 2, 5, 10, 20, 50, 100) if k <= width_km / 4]
    label = f"{bars[-1]} km"
    text = (reports["en"] / "report.html").read_text(encoding="utf-8")
    map_svg = pooled_map(text)
    assert re.search(rf"<text[^>]*>\s*{label}\s*</text>", map_svg)
    for svg in re.findall(r'<figure class="operator-map">\s*(<svg.*?</svg>)', text, flags=re.S):
        assert re.search(rf"<text[^>]*>\s*{label}\s*</text>", svg)  # the small maps too


def test_map_labels_numbers_come_with_a_matching_key(
    sample_store: Store, october: Analysis, tmp_path: Path
) -> None:
    from qostool.report.write import load_map

    options = ReportOptions(
        month="2025-10", lang="en", formats=("html", "md"), out=tmp_path, map_labels="numbers"
    )
    files = write_report(sample_store, options).files
    text = files["html"].read_text(encoding="utf-8")
    data = load_map(sample_store, october)
    assert data is not None
    key = re.search(r'<table id="map-key".*?</table>', text, flags=re.S)
    assert key is not None
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", key.group(0))
    pairs = [(cells[i], cells[i + 1]) for i in range(0, len(cells), 2) if cells[i]]
    # Every commune is numbered, in the boundaries' order.
    assert pairs == [(str(i + 1), name) for i, name in enumerate(data.names)]
    svg = pooled_map(text)
    labels = re.findall(r"<text[^>]*>\s*([^<]*?)\s*</text>", svg)
    numbers = sorted(int(t) for t in labels if t.isdigit())
    assert numbers == list(range(1, len(data.names) + 1))  # the numbers of the key, once each
    assert not any(name in labels for name in data.names)  # no name on the map
    markdown = files["md"].read_text(encoding="utf-8")
    assert "### Key to the numbers on the map" in markdown
    assert f"| 1 | {data.names[0]} |" in markdown


def test_auto_labels_give_dense_wards_numbers() -> None:
    from qostool.report.charts import KeyEntry, label_plan

    names = ["Xã Rộng Lớn", "Phường Hẹp", "Xã Cũng Rộng", "Phường Nhỏ"]
    widths = [0.1, 0.001, 0.1, 0.002]  # degrees
    plan, key = label_plan(names, widths, 20.0)
    assert [p[0] if p else None for p in plan] == ["Xã Rộng Lớn", "1", "Xã Cũng Rộng", "2"]
    assert key == [KeyEntry(1, "Phường Hẹp"), KeyEntry(2, "Phường Nhỏ")]
    assert label_plan(names, widths, 20.0, "names")[1] == []  # every name, no key
    assert label_plan(names, widths, 20.0, "none") == ([None] * 4, [])


def test_cli_unknown_map_labels_is_a_usage_error(
    cli: Any, store_copy: Path, tmp_path: Path
) -> None:
    result = cli(
        "report", "--month", "2025-10", "--store", store_copy, "--out", tmp_path / "o",
        "--map-labels", "initials",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--map-labels 'initials'" in result.output and "numbers" in result.output
    assert not (tmp_path / "o").exists()
