"""5G roll-out per operator: the figures against plain Python, and the reports.

The expected figures are computed here from sets of commune codes, without
Polars, month by month: what had 5G this month, what had it in an earlier
month, and the union so far.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import shapely
from docx.oxml.ns import qn

from qostool.analyze.rollout import commune_status, rollout
from qostool.analyze.run import AnalyzeOptions, analyze_month, load_analysis
from qostool.geo.boundaries import BoundaryOptions
from qostool.geo.versions import import_boundaries
from qostool.ingest import ingest_paths
from qostool.report import ReportOptions, write_report
from qostool.report.rollout_labels import ROLLOUT_LABELS
from qostool.store import Store
from tests.conftest import REPO, TZ
from tests.test_report import PROVINCE, Page, num

COMMUNES = ["1", "2", "3", "4", "5"]
POPULATION = {"1": 1000, "2": 2000, "3": 3000, "4": 4000, "5": 10000}
#: The communes with a 5G test of each operator in each month.
FIVE_G = {
    "2025-09": {"A": {"1", "2"}, "B": set()},
    "2025-10": {"A": {"2", "3"}, "B": {"5"}},
    "2025-11": {"A": {"1", "4"}, "B": {"5"}},
}
MEDIANS = {"A": 120.5, "B": 80.0}


def stats_table(month: str, five_g: dict[str, set[str]]) -> pl.DataFrame:
    """A month's statistics: per operator, 5G tests in its 5G communes (as many as the
    commune's number), 4G tests in every commune, and the operator-level rows."""
    rows: list[dict[str, Any]] = []
    for operator, codes in five_g.items():
        tests_5g = 0
        for code in COMMUNES:
            rows.append(_row("commune_operator", code, operator, "4G", 10))
            if code in codes:
                rows.append(_row("commune_operator", code, operator, "5G", int(code)))
                tests_5g += int(code)
            else:  # a row with no test does not count as presence
                rows.append(_row("commune_operator", code, operator, "5G", 0))
        # A 5G test with no operator (never counted) and a row of all operators.
        rows.append(_row("commune", "5", "all", "5G", 99))
        cellular = 10 * len(COMMUNES) + tests_5g
        rows.append(_row("operator", None, operator, "all", cellular))
        median = MEDIANS[operator] if tests_5g else None
        rows.append(_row("operator", None, operator, "5G", tests_5g, median=median))
    rows.append(_row("commune_operator", "4", None, "5G", 7))
    return pl.DataFrame(rows, schema=SCHEMA)


SCHEMA = {
    "level": pl.String,
    "commune_code": pl.String,
    "operator": pl.String,
    "technology": pl.String,
    "tests": pl.Int64,
    "download_median_mbps": pl.Float64,
}


def _row(
    level: str,
    code: str | None,
    operator: str | None,
    technology: str,
    tests: int,
    *,
    median: float | None = None,
) -> dict[str, Any]:
    return {
        "level": level,
        "commune_code": code,
        "operator": operator,
        "technology": technology,
        "tests": tests,
        "download_median_mbps": median,
    }


def communes_table(population: dict[str, int | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {"commune_code": COMMUNES, "population": [population[c] for c in COMMUNES]},
        schema={"commune_code": pl.String, "population": pl.Int64},
    )


def expected(month: str, operator: str, population: dict[str, int | None]) -> dict[str, Any]:
    """The roll-out figures of one month and operator, in plain Python."""
    now = FIVE_G[month][operator]
    before: set[str] = set()
    for earlier in sorted(FIVE_G):
        if earlier < month:
            before |= FIVE_G[earlier][operator]
    ever = now | before
    known = all(p is not None for p in population.values())
    total_population = sum(p or 0 for p in population.values())

    def people(codes: set[str]) -> int | None:
        values = [population[c] for c in codes]
        return None if any(v is None for v in values) else sum(v or 0 for v in values)

    tests_5g = sum(int(c) for c in now)
    tests = 10 * len(COMMUNES) + tests_5g
    return {
        "communes_total": len(COMMUNES),
        "communes_5g": len(now),
        "communes_new": len(now - before),
        "communes_again": len(now & before),
        "communes_ever": len(ever),
        "share_communes_5g": len(now) / len(COMMUNES),
        "share_communes_ever": len(ever) / len(COMMUNES),
        "population_5g": people(now),
        "population_ever": people(ever),
        "share_population_5g": share_of(people(now), total_population) if known else None,
        "share_population_ever": share_of(people(ever), total_population) if known else None,
        "tests": tests,
        "tests_5g": tests_5g,
        "share_tests_5g": tests_5g / tests,
        "median_5g_mbps": MEDIANS[operator] if tests_5g else None,
    }


def share_of(part: int | None, total: int) -> float:
    assert part is not None  # every population known
    return part / total


def months_given(order: list[str]) -> list[tuple[str, pl.DataFrame]]:
    return [(m, stats_table(m, FIVE_G[m])) for m in order]


@pytest.mark.parametrize("order", [sorted(FIVE_G), sorted(FIVE_G, reverse=True)])
def test_rollout_figures_equal_plain_python(order: list[str]) -> None:
    table = rollout(months_given(order), communes_table(dict(POPULATION)))
    assert table.height == len(FIVE_G) * 2
    for row in table.to_dicts():
        want = expected(row["month"], row["operator"], dict(POPULATION))
        for key, value in want.items():
            assert row[key] == pytest.approx(value), (row["month"], row["operator"], key)
    # The example of the issue, spelled out: A has {1,2}, then {2,3}, then {1,4}.
    november = table.filter(pl.col("operator") == "A", pl.col("month") == "2025-11").row(
        0, named=True
    )
    assert (november["communes_new"], november["communes_again"]) == (1, 1)  # 4 new; 1 again
    assert november["communes_ever"] == 4


def test_unknown_population_makes_the_population_share_unknown() -> None:
    population: dict[str, int | None] = {**POPULATION, "3": None}
    table = rollout(months_given(sorted(FIVE_G)), communes_table(population))
    for row in table.to_dicts():
        want = expected(row["month"], row["operator"], population)
        assert row["share_population_5g"] is None and row["share_population_ever"] is None
        assert row["population_5g"] == want["population_5g"]  # known where commune 3 is not in
        assert row["share_communes_5g"] == pytest.approx(want["share_communes_5g"])
    september_b = table.filter(pl.col("operator") == "B", pl.col("month") == "2025-09")
    assert september_b["population_5g"].to_list() == [0]  # no 5G commune: nobody


def test_commune_status_per_operator() -> None:
    months = months_given(sorted(FIVE_G))
    status = commune_status(months, communes_table(dict(POPULATION)), "2025-11")
    got = {(r["operator"], r["commune_code"]): r["status"] for r in status.to_dicts()}
    for operator in ("A", "B"):
        before = FIVE_G["2025-09"][operator] | FIVE_G["2025-10"][operator]
        now = FIVE_G["2025-11"][operator]
        for code in COMMUNES:
            want = (
                ("again" if code in before else "new")
                if code in now
                else ("earlier" if code in before else "never")
            )
            assert got[(operator, code)] == want, (operator, code)
    # A later month does not count for an earlier one.
    october = commune_status(months, communes_table(dict(POPULATION)), "2025-10")
    row = october.filter(pl.col("operator") == "A", pl.col("commune_code") == "4")
    assert row["status"].to_list() == ["never"]


def test_a_commune_no_longer_in_the_boundaries_is_not_counted() -> None:
    table = rollout(
        months_given(sorted(FIVE_G)),
        communes_table(dict(POPULATION)).filter(pl.col("commune_code") != "1"),
    )
    row = table.filter(pl.col("operator") == "A", pl.col("month") == "2025-11").row(0, named=True)
    assert (row["communes_total"], row["communes_5g"], row["communes_ever"]) == (4, 1, 3)


# -- a small store: three months in which communes gain 5G ------------------------------

#: The communes of each operator with a 5G test, per month (the store's own codes).
STORE_5G = {
    "2025-09": {"Viettel": {"99001", "99002"}, "VNPT-VinaPhone": {"99003"}},
    "2025-10": {"Viettel": {"99002", "99003"}, "VNPT-VinaPhone": set()},
    "2025-11": {"Viettel": {"99001", "99004"}, "VNPT-VinaPhone": {"99003", "99005"}},
}
NETWORKS = {"Viettel": ("452-04", "Viettel"), "VNPT-VinaPhone": ("452-02", "VinaPhone")}
FOUR_G = ("99006", "99007", "99008")
"""Communes where both operators have 4G tests every month (and no 5G)."""


def _store_csv(path: Path, month: str) -> Path:
    """A month of single tests: 3 5G tests of an operator in each of its 5G communes,
    12 4G tests of each operator in each commune of ``FOUR_G``."""
    communes = json.loads(PROVINCE.read_text(encoding="utf-8"))["features"]
    points = {
        f["properties"]["id"]: shapely.point_on_surface(shapely.geometry.shape(f["geometry"]))
        for f in communes
    }
    lines = [
        "open_uuid,open_test_uuid,time_utc,cat_technology,network_type,lat,long,loc_accuracy,"
        "download_kbit,upload_kbit,ping_ms,network_mcc_mnc,network_name,implausible,pinned,"
        "signal_strength"
    ]
    rows = []
    for operator, codes in STORE_5G[month].items():
        rows += [
            (operator, code, "5G", "NR NSA", 150000 + 1000 * i) for code in codes for i in range(3)
        ]
        rows += [
            (operator, code, "4G", "LTE", 30000 + 500 * i) for code in FOUR_G for i in range(12)
        ]
    for n, (operator, code, tech, network, kbit) in enumerate(rows):
        p = points[code]
        mcc, name = NETWORKS[operator]
        lines.append(
            f"D{n % 9}{operator[:2]},{month}-T{n:05d},{month}-{1 + n % 27:02d} 05:00:00,{tech},"
            f"{network},{p.y:.6f},{p.x:.6f},5,{kbit},10000,30,{mcc},{name},false,true,-90"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def rollout_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    folder = tmp_path_factory.mktemp("rollout")
    files = [str(_store_csv(folder / f"rtr_{m}.csv", m)) for m in STORE_5G]
    ingest_paths(files, store=folder / "store")
    store = Store.open(folder / "store", timezone=TZ)
    import_boundaries(store, PROVINCE, BoundaryOptions())
    for month in STORE_5G:
        analyze_month(store, AnalyzeOptions(month=month))
    return store


def _population() -> dict[str, int]:
    features = json.loads(PROVINCE.read_text(encoding="utf-8"))["features"]
    return {f["properties"]["id"]: int(f["properties"]["population"]) for f in features}


def store_expected(month: str, operator: str) -> dict[str, Any]:
    """The roll-out of the store's month, in plain Python from ``STORE_5G``."""
    population = _population()
    now = STORE_5G[month][operator]
    before: set[str] = set()
    for earlier in STORE_5G:
        if earlier < month:
            before |= STORE_5G[earlier][operator]
    ever = now | before
    total = sum(population.values())
    tests_5g = 3 * len(now)
    return {
        "now": len(now),
        "new": len(now - before),
        "again": len(now & before),
        "ever": len(ever),
        "share_now": len(now) / len(population),
        "share_ever": len(ever) / len(population),
        "population_now": sum(population[c] for c in now) / total,
        "population_ever": sum(population[c] for c in ever) / total,
        "share_tests": tests_5g / (tests_5g + 12 * len(FOUR_G)),
        "new_names": sorted(now - before),
    }


@pytest.fixture(scope="module")
def rollout_reports(
    rollout_store: Store, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    out = {}
    for lang in ("vi", "en"):
        folder = tmp_path_factory.mktemp(f"rollout-{lang}")
        options = ReportOptions(
            month="2025-11",
            lang=lang,
            formats=("html", "md", "docx"),
            out=folder,
            generated_at="2025-12-05",
            force=True,
        )
        write_report(rollout_store, options)
        out[lang] = folder / "2025-11"
    return out


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_report_section_equals_plain_python(lang: str, rollout_reports: dict[str, Path]) -> None:
    html = Page((rollout_reports[lang] / "report.html").read_text(encoding="utf-8"))
    rows = {r[0]: r for r in html.body("rollout-table")}
    assert sorted(rows) == sorted(NETWORKS)
    for operator, cells in rows.items():
        want = store_expected("2025-11", operator)
        assert cells[1] == f"{want['now']} / 30"
        assert cells[2:5] == [str(want["new"]), str(want["again"]), str(want["ever"])]
        assert cells[5] == f"{pct(want['share_now'], lang)} / {pct(want['share_ever'], lang)}"
        assert cells[6] == (
            f"{pct(want['population_now'], lang)} / {pct(want['population_ever'], lang)}"
        )
        assert cells[7] == pct(want["share_tests"], lang)
        slug = {"Viettel": "viettel", "VNPT-VinaPhone": "vnpt-vinaphone"}[operator]
        series = html.body(f"rollout-series-{slug}")
        assert len(series) == 3  # the three analysed months, oldest first
        for (month, _), row in zip(sorted(STORE_5G.items()), series, strict=True):
            want = store_expected(month, operator)
            assert row[1:4] == [str(want["now"]), str(want["new"]), str(want["ever"])], month
            assert row[4] == pct(want["share_ever"], lang)
    text = html.visible()
    assert PRESENCE[lang] in text  # presence, not coverage
    assert "Mường Kim (99024)" in text  # Viettel's new commune, named
    svg = (rollout_reports[lang] / "report.html").read_text(encoding="utf-8")
    for slug in ("viettel", "vnpt-vinaphone"):
        assert re.search(rf'<figure class="rollout-map" id="rollout-map-{slug}">\s*<svg', svg)


PRESENCE = {
    "vi": "không cho thấy vùng phủ sóng",
    "en": "not that the commune is covered",
}


def pct(share: float, lang: str) -> str:
    return num(share * 100, lang) + "%"


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_markdown_and_docx_have_the_section_and_maps(
    lang: str, rollout_reports: dict[str, Path]
) -> None:
    import docx

    markdown = (rollout_reports[lang] / "report.md").read_text(encoding="utf-8")
    title = ROLLOUT_LABELS[lang]["s_rollout"]
    assert f"## {title}" in markdown
    assert markdown.count("](data:image/svg+xml;base64,") >= 3  # the map, 2 operators' maps
    want = store_expected("2025-11", "Viettel")
    assert f"| Viettel | {want['now']} / 30 | {want['new']} | {want['again']} |" in markdown
    document = docx.Document(str(rollout_reports[lang] / "report.docx"))
    paragraphs = [p.text for p in document.paragraphs]
    assert title in paragraphs
    assert any(PRESENCE[lang] in p for p in paragraphs)
    # map, trend, each operator's 4G map and 5G map
    assert len(document.inline_shapes) == 6
    tables = {
        t._tbl.tblPr.find(qn("w:tblCaption")).get(qn("w:val")): t
        for t in document.tables
        if t._tbl.tblPr.find(qn("w:tblCaption")) is not None
    }
    rows = [[c.text for c in r.cells] for r in tables["rollout-table"].rows[1:]]
    assert [r[:5] for r in rows] == [
        [o, f"{w['now']} / 30", str(w["new"]), str(w["again"]), str(w["ever"])]
        for o in sorted(NETWORKS)
        for w in [store_expected("2025-11", o)]
    ]


def test_operator_report_holds_that_operator_only(
    rollout_store: Store, tmp_path: Path, cli: Any
) -> None:
    out = tmp_path / "out"
    province = out / "2025-11" / "report.html"
    result = cli(
        "report",
        "--month",
        "2025-11",
        "--store",
        str(rollout_store.root),
        "--out",
        str(out),
        "--lang",
        "en",
        "--operator",
        "vnpt",
        "--force",
        "--generated-at",
        "2025-12-05",
    )
    assert result.exit_code == 0, result.output
    assert not province.exists()  # never over the province's report
    path = out / "2025-11" / "operator-vnpt-vinaphone" / "report.html"
    html = Page(path.read_text(encoding="utf-8"))
    text = html.visible()
    assert "Viettel" not in text
    assert "VNPT-VinaPhone" in text and PRESENCE["en"] in text
    operator_columns = {"operator-table": 0, "operator-communes": 2, "rollout-table": 0}
    for table, column in operator_columns.items():
        assert html.body(table), table
        assert {r[column] for r in html.body(table)} == {"VNPT-VinaPhone"}, table
    # Its commune verdicts are its own commune x operator rows, commune by commune.
    stats = load_analysis(rollout_store, "2025-11").stats.filter(
        pl.col("level") == "commune_operator",
        pl.col("operator") == "VNPT-VinaPhone",
        pl.col("verdict").is_not_null(),
    )
    got = sorted((r[0], r[3], r[4]) for r in html.body("operator-communes"))
    want = sorted(
        zip(stats["commune_code"], stats["technology"], map(str, stats["tests"]), strict=True)
    )
    assert got == want
    status = {r[0]: r[2] for r in html.body("rollout-communes")}
    assert status["99005"] == "new this month" and status["99003"] == "this month, seen before"
    assert status["99001"] == "never"
    assert re.search(r'<figure class="rollout-map-full" id="rollout-map">\s*<svg', path.read_text())


def test_unknown_operator_is_a_usage_error_listing_the_month_operators(
    rollout_store: Store, tmp_path: Path, cli: Any
) -> None:
    result = cli(
        "report",
        "--month",
        "2025-11",
        "--store",
        str(rollout_store.root),
        "--out",
        str(tmp_path),
        "--operator",
        "MobiFone",
    )
    assert result.exit_code == 2
    assert "MobiFone" in result.output and "VNPT-VinaPhone, Viettel" in result.output
    assert not any(tmp_path.iterdir())  # nothing written
    result = cli(
        "report",
        "--month",
        "2025-11",
        "--store",
        str(rollout_store.root),
        "--out",
        str(tmp_path),
        "--operator",
        "Viettel",
        "--format",
        "xlsx",
    )
    assert result.exit_code == 2 and "xlsx" in result.output


def test_labels_have_the_same_keys_and_fields_are_documented() -> None:
    import dataclasses

    from qostool.report import focus, rollout

    assert set(ROLLOUT_LABELS["vi"]) == set(ROLLOUT_LABELS["en"])
    docs = (REPO / "docs" / "report.md").read_text(encoding="utf-8")
    for module in (rollout, focus):
        for name in dir(module):
            cls = getattr(module, name)
            if dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__:
                for f in dataclasses.fields(cls):
                    assert f"`{f.name}`" in docs, f"{name}.{f.name}"


def test_slugs_are_folder_safe() -> None:
    from qostool.report.rollout import slug

    assert slug("VNPT-VinaPhone") == "vnpt-vinaphone"
    assert slug("Mạng Đông/../x") == "mang-dong-x"
    assert slug("../") == "operator"


def test_report_says_when_the_population_share_is_unknown(tmp_path: Path) -> None:
    province = json.loads(PROVINCE.read_text(encoding="utf-8"))
    del province["features"][-1]["properties"]["population"]
    boundaries = tmp_path / "province.geojson"
    boundaries.write_text(json.dumps(province, ensure_ascii=False), encoding="utf-8")
    ingest_paths([str(_store_csv(tmp_path / "rtr.csv", "2025-11"))], store=tmp_path / "store")
    store = Store.open(tmp_path / "store", timezone=TZ)
    import_boundaries(store, boundaries, BoundaryOptions())
    analyze_month(store, AnalyzeOptions(month="2025-11"))
    out = tmp_path / "out"
    write_report(store, ReportOptions(month="2025-11", lang="en", out=out, force=True))
    html = Page((out / "2025-11" / "report.html").read_text(encoding="utf-8"))
    assert ROLLOUT_LABELS["en"]["population_unknown"] in html.visible()
    for cells in html.body("rollout-table"):
        assert cells[6] == "no data / no data"
        assert cells[2] == cells[1].split(" / ")[0]  # the first month read: all new
