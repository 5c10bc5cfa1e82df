"""Conclusions and recommendations: the findings against a second computation over the
stored analysis tables, and the rendered sentences against the report's own tables.

The fixture is a month made to hold every kind of finding: Viettel below the 4G
minimum for three months running in four communes, MobiFone below in two of them
(so no operator meets there), two communes below for the first time, a commune with
too few tests, one whose interval straddles the minimum, communes without a test,
and the months before it for the runs and the comparison.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import shapely
from docx import Document

from qostool.analyze.run import Analysis, AnalyzeOptions, analyze_month, load_analysis
from qostool.geo.boundaries import BoundaryOptions
from qostool.geo.versions import import_boundaries
from qostool.ingest import ingest_paths
from qostool.report import ReportOptions, write_report
from qostool.report.conclusions import (
    Changed,
    Conclusions,
    NotCompared,
    derive,
)
from qostool.report.context import ReportContext, build_context
from qostool.store import Store
from tests.conftest import REPO, TZ
from tests.test_report import Page

SAMPLES = REPO / "data" / "samples"
PROVINCE = SAMPLES / "province.geojson"
GENERATED = "2025-11-05"
VIETTEL = ("452-04", "Viettel")
MOBIFONE = ("452-01", "MobiFone")
#: Viettel below in these communes for three months running, MobiFone meets in the
#: first two and is below in the other two.
PERSISTENT = ("99001", "99002", "99003", "99004")
#: Viettel below for the first time in October (it met in August and September).
FRESH = ("99005", "99006")
#: Viettel meets every month; MobiFone too in the first two.
GOOD = ("99007", "99008", "99009", "99010", "99011", "99012")
FEW = "99013"
CLOSE = "99014"
#: No test in October (99015 and 99016 had some in September).
SILENT = ("99015", "99016", "99017", "99018", "99019", "99020")
#: Viettel meets in October, with many tests in 99021 and 31 elsewhere.
BUSY = ("99021", "99022", "99023", "99024", "99025", "99026", "99027", "99028", "99029", "99030")


def _groups(month: str) -> list[tuple[str, tuple[str, str], int, list[int]]]:
    """(commune, operator, devices, download kbit per test) of one month's tests."""
    fast = [80000 + 100 * (i % 5) for i in range(35)]
    slow = [10000 + 100 * (i % 5) for i in range(35)]
    out: list[tuple[str, tuple[str, str], int, list[int]]] = []
    for code in PERSISTENT:
        out.append((code, VIETTEL, 7, slow))
        mobifone = fast if code in PERSISTENT[:2] else slow
        out.append((code, MOBIFONE, 7, mobifone))
    for code in FRESH:
        out.append((code, VIETTEL, 7, slow if month == "2025-10" else fast))
    for code in GOOD:
        out.append((code, VIETTEL, 7, fast))
        if code in GOOD[:2]:
            out.append((code, MOBIFONE, 7, fast))
    if month == "2025-10":
        out.append((FEW, VIETTEL, 3, [60000, 61000, 62000]))
        out.append((CLOSE, VIETTEL, 7, [20000 if i % 2 else 60000 for i in range(35)]))
        for code in BUSY:
            out.append((code, VIETTEL, 7, fast * (12 if code == BUSY[0] else 1)))
    else:
        for code in SILENT[:2]:
            out.append((code, VIETTEL, 7, fast))
    return out


def _csv(path: Path, months: list[str]) -> Path:
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
    n = 0
    for month in months:
        for code, (mcc, name), devices, speeds in _groups(month):
            p = points[code]
            for i, kbit in enumerate(speeds):
                n += 1
                lines.append(
                    f"D{code}{name}{i % devices},T{n:06d},{month}-{1 + i % 27:02d} "
                    f"{i % 20:02d}:00:00,4G,LTE,{p.y:.6f},{p.x:.6f},5,{kbit},10000,30,{mcc},"
                    f"{name},false,true,-90"
                )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """August to October 2025 of the made-up month, each analysed."""
    folder = tmp_path_factory.mktemp("conclusions")
    months = ["2025-08", "2025-09", "2025-10"]
    ingest_paths([str(_csv(folder / "rtr_2025.csv", months))], store=folder / "store")
    store = Store.open(folder / "store", timezone=TZ)
    import_boundaries(store, PROVINCE, BoundaryOptions())
    for month in months:
        analyze_month(store, AnalyzeOptions(month=month))
    return store


@pytest.fixture(scope="module")
def october(store: Store) -> Analysis:
    return load_analysis(store, "2025-10")


@pytest.fixture(scope="module")
def context(store: Store, october: Analysis) -> ReportContext:
    return build_context(store, october, generated_at=GENERATED)


@pytest.fixture(scope="module")
def conclusions(context: ReportContext) -> Conclusions:
    assert context.conclusions is not None
    return context.conclusions


@pytest.fixture(scope="module")
def reports(store: Store, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for lang in ("vi", "en"):
        folder = tmp_path_factory.mktemp(f"conclusions-{lang}")
        options = ReportOptions(
            month="2025-10",
            lang=lang,
            formats=("html", "md", "docx"),
            out=folder,
            generated_at=GENERATED,
        )
        write_report(store, options)
        out[lang] = folder / "2025-10"
    return out


# -- the findings, computed a second way from the stored tables ----------------------


def _pairs(analysis: Analysis) -> pl.DataFrame:
    return analysis.stats.filter(
        pl.col("level") == "commune_operator",
        pl.col("technology") == "4G",
        pl.col("verdict").is_not_null(),
        pl.col("operator").is_not_null(),
    )


def test_each_operators_standing_is_the_stored_verdicts(
    conclusions: Conclusions, october: Analysis
) -> None:
    total = october.communes.height
    expected = (
        _pairs(october)
        .group_by("operator")
        .agg(
            meets=(pl.col("verdict") == "meets_target").sum(),
            below=(pl.col("verdict") == "below_target").sum(),
            inconclusive=(pl.col("verdict") == "inconclusive").sum(),
            insufficient=(pl.col("verdict") == "insufficient_data").sum(),
            rows=pl.len(),
            persistent=(
                (pl.col("verdict") == "below_target") & (pl.col("months_below_target") >= 2)
            ).sum(),
        )
        .sort("operator")
    )
    got = {s.operator: s for s in conclusions.standings}
    assert sorted(got) == expected["operator"].to_list() == ["MobiFone", "Viettel"]
    for row in expected.iter_rows(named=True):
        s = got[row["operator"]]
        assert (s.meets, s.below, s.inconclusive, s.insufficient) == (
            row["meets"],
            row["below"],
            row["inconclusive"],
            row["insufficient"],
        )
        assert s.no_tests == total - row["rows"]
        assert s.persistent == row["persistent"]
        assert s.share_below == pytest.approx(row["below"] / (row["meets"] + row["below"]))
    # As the month was made: Viettel below in six communes, four of them for three
    # months running; MobiFone below in two, also for three months.
    viettel, mobifone = got["Viettel"], got["MobiFone"]
    assert [p.code for p in viettel.below_communes] == [*PERSISTENT, *FRESH]
    assert [p.code for p in viettel.persistent_communes] == list(PERSISTENT)
    assert viettel.longest == 3
    assert [p.code for p in mobifone.persistent_communes] == list(PERSISTENT[2:])


def test_all_operators_together_are_the_communes_verdicts(
    conclusions: Conclusions, october: Analysis
) -> None:
    communes = october.communes
    pooled = conclusions.pooled
    assert pooled is not None and pooled.operator is None

    def count(verdict: str) -> int:
        return communes.filter(pl.col("verdict_4g") == verdict).height

    thin = communes.filter(pl.col("verdict_4g") == "insufficient_data")
    assert pooled.meets == count("meets_target")
    assert pooled.below == count("below_target") > 0
    assert pooled.inconclusive == count("inconclusive")
    assert pooled.insufficient == thin.filter(pl.col("tests_4g") > 0).height
    assert pooled.no_tests == thin.filter(pl.col("tests_4g") == 0).height == len(SILENT)
    assert pooled.total == communes.height


def test_communes_where_no_operator_meets(conclusions: Conclusions, october: Analysis) -> None:
    expected = (
        _pairs(october)
        .group_by("commune_code")
        .agg(
            below=(pl.col("verdict") == "below_target").any(),
            meets=(pl.col("verdict") == "meets_target").any(),
        )
        .filter(pl.col("below") & ~pl.col("meets"))
        .sort("commune_code")["commune_code"]
        .to_list()
    )
    assert [p.code for p in conclusions.no_operator] == expected
    assert expected == [*PERSISTENT[2:], *FRESH]


def test_campaign_communes_by_class(conclusions: Conclusions, october: Analysis) -> None:
    communes = october.communes
    rate = communes["tests_mobile"].sum() * 1000 / communes["population"].sum()
    classed = communes.with_columns(
        reason=pl.when(~pl.col("has_tests"))
        .then(pl.lit("no_tests"))
        .when(pl.col("verdict_4g") == "insufficient_data")
        .then(pl.lit("insufficient"))
        .when(pl.col("verdict_4g") == "inconclusive")
        .then(pl.lit("inconclusive"))
        .when(pl.col("tests_mobile") * 1000 / pl.col("population") < rate / 2)
        .then(pl.lit("low_uptake"))
    ).filter(pl.col("reason").is_not_null())
    got = {c.code: c.reason for c in conclusions.campaign}
    assert got == dict(classed.select("commune_code", "reason").iter_rows())
    assert {code for code, r in got.items() if r == "no_tests"} == set(SILENT)
    assert got[FEW] == "insufficient" and got[CLOSE] == "inconclusive"
    # 99021's many tests raise the province's rate: the communes with 31... 35 tests
    # and a large population fall under half of it.
    assert "low_uptake" in got.values()


def test_the_change_since_last_month_is_the_stored_months(
    conclusions: Conclusions, store: Store, october: Analysis
) -> None:
    september = load_analysis(store, "2025-09")

    def singles(analysis: Analysis) -> int:
        row = analysis.stats.filter(pl.col("level") == "province", pl.col("technology") == "all")
        return int(row["tests"][0] - row["tile_tests"][0])

    def meets(analysis: Analysis) -> int:
        return analysis.communes.filter(pl.col("verdict_4g") == "meets_target").height

    rows = {c.item: c for c in conclusions.changes}
    assert conclusions.previous == "2025-09"
    assert (rows["meets_4g"].now, rows["meets_4g"].before) == (meets(october), meets(september))
    assert rows["meets_4g"].difference == meets(october) - meets(september)
    assert rows["tests"].difference == singles(october) - singles(september)
    assert any(isinstance(f, Changed) for f in conclusions.findings)


# -- no change claimed where the months do not compare -------------------------------


def _with_points(context: ReportContext, **changes: Any) -> ReportContext:
    """The context with its last two trend points changed (``now_*`` / ``before_*``)."""
    points = list(context.trend.points)
    now = {k[4:]: v for k, v in changes.items() if k.startswith("now_")}
    before = {k[7:]: v for k, v in changes.items() if k.startswith("before_")}
    points[-1] = dataclasses.replace(points[-1], **now)
    points[-2] = dataclasses.replace(points[-2], **before)
    return dataclasses.replace(context, trend=dataclasses.replace(context.trend, points=points))


@pytest.mark.parametrize(
    ("changes", "meets_basis", "reason"),
    [
        # Both months hold the fourth quarter's Ookla tiles.
        (
            {"now_period": "2025-11+2025-Q4", "before_period": "2025-10+2025-Q4"},
            "same_tiles",
            None,
        ),
        # Last month rests on a quarter's tiles alone.
        ({"before_period": "2025-Q3", "before_quarterly": True}, "tiles_only", None),
        # Other boundaries: nothing is compared.
        ({"before_boundaries": "other"}, None, "boundaries"),
        # The month before last, not last month.
        ({"before_month": "2025-08", "before_months": ["2025-08"]}, None, "no_previous"),
    ],
)
def test_no_change_where_the_data_do_not_compare(
    context: ReportContext,
    changes: dict[str, Any],
    meets_basis: str | None,
    reason: str | None,
) -> None:
    found = derive(_with_points(context, **changes))
    meets = [c for c in found.changes if c.item == "meets_4g"]
    if meets_basis is None:
        assert found.changes == []
        assert [f for f in found.findings if isinstance(f, NotCompared)] == [NotCompared(reason)]
    else:
        assert meets[0].difference is None and meets[0].basis == meets_basis
        changed = [f for f in found.findings if isinstance(f, Changed)]
        # Only the single tests are still compared (tiles never count in them).
        assert [c.item for c in changed[0].changes if c.difference is not None] == ["tests"]
    assert not any(isinstance(f, Changed) for f in found.findings) or meets_basis is not None


def test_no_change_when_last_month_has_no_single_test(context: ReportContext) -> None:
    before = context.trend.points[-2]
    found = derive(
        _with_points(
            context,
            now_period="2025-10+2025-Q4",
            before_period="2025-09+2025-Q4",
            before_tile_tests=before.tests,
        )
    )
    assert all(c.difference is None for c in found.changes)
    assert not any(isinstance(f, Changed) for f in found.findings)
    assert NotCompared("same_tiles") in found.findings


def test_the_samples_november_compares_single_tests_only(tmp_path: Path) -> None:
    """October and November of the samples both hold the Ookla tiles of the fourth
    quarter: their communes meeting the minimum are not compared, nor said to change."""
    ingest_paths([str(SAMPLES)], store=tmp_path / "store")
    store = Store.open(tmp_path / "store", timezone=TZ)
    import_boundaries(store, PROVINCE, BoundaryOptions())
    analyze_month(store, AnalyzeOptions(month="2025-10"))
    november = analyze_month(store, AnalyzeOptions(month="2025-11"))
    context = build_context(store, november, generated_at=GENERATED)
    assert context.conclusions is not None
    rows = {c.item: c for c in context.conclusions.changes}
    assert rows["meets_4g"].basis == "same_tiles" and rows["meets_4g"].difference is None
    options = ReportOptions(month="2025-11", formats=("html",), out=tmp_path / "out")
    write_report(store, options)
    page = Sentences((tmp_path / "out" / "2025-11" / "report.html").read_text(encoding="utf-8"))
    said = " ".join(page.items)
    assert "đạt mức tối thiểu 4G không so sánh được" in said
    assert not re.search(r"đạt mức tối thiểu 4G (tăng|giảm|không đổi)", said)


# -- the sentences: numbers of the tables, in both languages -------------------------

#: A number in a text: digits with separators, not part of a word such as "4G".
_NUMBER = re.compile(r"(?<![^\W\d_])\d(?:[\d.,]*\d)?(?![^\W\d_])")


def _numbers(text: str, lang: str, *, strict: bool = True) -> list[float]:
    """The numbers of a text, read in the report's language; ``strict``: a token that
    is no number (a version such as 0.1.0) is an error, else it is left out."""
    out = []
    for token in _NUMBER.findall(text):
        plain = token.replace(".", "").replace(",", ".") if lang == "vi" else token.replace(",", "")
        try:
            out.append(float(plain))
        except ValueError:
            if strict:
                raise
    return out


class Sentences(Page):
    """A report page with the list items of its conclusions and recommendations."""

    def __init__(self, html: str) -> None:
        self.items: list[str] = []
        self._item: list[str] | None = None
        self._where: list[str] = []
        super().__init__(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self._where.append(dict(attrs).get("id") or "")
        if tag == "li" and self._where and self._where[-1] in ("conclusions", "recommendations"):
            self._item = []
        super().handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and self._where:
            self._where.pop()
        if tag == "li" and self._item is not None:
            self.items.append(" ".join("".join(self._item).split()))
            self._item = None
        super().handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if self._item is not None:
            self._item.append(data)
        super().handle_data(data)


def _page(reports: dict[str, Path], lang: str) -> Sentences:
    return Sentences((reports[lang] / "report.html").read_text(encoding="utf-8"))


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_number_in_the_sentences_is_in_a_table(reports: dict[str, Path], lang: str) -> None:
    page = _page(reports, lang)
    sentences = page.items
    assert len(sentences) >= 8, sentences
    in_tables = {
        n
        for rows in page.tables.values()
        for row in rows
        for n in _numbers(" ".join(row), lang, strict=False)
    }
    # Stricter: the tables the sentences point to, not the long commune tables.
    named = ("conclusions-operators", "conclusions-changes", "no-operator", "campaign")
    named += ("five-g-figures", "rollout-table", "rule")
    pointed = {
        n
        for t in named
        if t in page.tables
        for r in page.tables[t]
        for n in _numbers(" ".join(r), lang)
    }
    adoption = page.tables["adoption-table"]
    pointed |= set(_numbers(" ".join(adoption[-1]), lang))  # the province's row
    for sentence in sentences:
        numbers = _numbers(sentence, lang)
        assert set(numbers) <= in_tables, (sentence, set(numbers) - in_tables)
        assert set(numbers) <= pointed, (sentence, set(numbers) - pointed)


def test_english_sentences_have_the_same_numbers(reports: dict[str, Path]) -> None:
    vi, en = _page(reports, "vi").items, _page(reports, "en").items
    assert len(vi) == len(en)
    for one, other in zip(vi, en, strict=True):
        assert sorted(_numbers(one, "vi")) == sorted(_numbers(other, "en")), (one, other)


def test_the_sentences_say_the_findings(reports: dict[str, Path]) -> None:
    said = _page(reports, "vi").items
    text = "\n".join(said)
    # Viettel: 6 of the 6 + its communes meeting, with the 4 persistent ones.
    assert re.search(r"Viettel: chưa đạt mức tối thiểu 40 Mbps tại 6/\d+ xã, phường, đặc khu", text)
    assert "trong đó 4 xã, phường, đặc khu chưa đạt liên tiếp từ 2 kỳ số liệu trở lên" in text
    assert "Tại 4/30 xã, phường, đặc khu, không doanh nghiệp nào đạt mức tối thiểu" in text
    assert "6 xã, phường, đặc khu không có lượt đo nào trên mạng di động" in text
    assert "Mạng 5G: chưa ghi nhận lượt đo 5G nào." in text
    assert "Đề nghị Viettel rà soát, nâng cấp mạng 4G tại 6 xã, phường, đặc khu" in text
    assert "Kính đề nghị Ủy ban nhân dân tỉnh Sơn Lâm chỉ đạo" in text
    assert not re.search(r"5G[^.]*(Chưa đạt|chưa đạt) (mức|chỉ tiêu)", text)


def test_word_and_markdown_say_the_same_sentences(reports: dict[str, Path]) -> None:
    for lang in ("vi", "en"):
        said = _page(reports, lang).items
        paragraphs = [p.text for p in Document(str(reports[lang] / "report.docx")).paragraphs]
        word = [p[2:] for p in paragraphs if p.startswith("- ")]
        word += [re.sub(r"^\d+\. ", "", p) for p in paragraphs if re.match(r"^\d+\. [A-ZĐK]", p)]
        for sentence in said:
            assert sentence in word, sentence
        markdown = (reports[lang] / "report.md").read_text(encoding="utf-8")
        unescaped = re.sub(r"\\(.)", r"\1", markdown)
        for sentence in said:
            assert sentence in unescaped, sentence


def test_a_user_template_replaces_the_sentences(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    packaged = REPO / "src" / "qostool" / "report" / "templates" / "conclusions.vi.j2"
    text = packaged.read_text(encoding="utf-8")
    start = text.index("{% macro campaigns(f) -%}")
    text = (
        text[:start] + "{% macro campaigns(f) -%}\nXin vận động đo tại "
        "{{ f.campaign.communes | integer }} địa bàn.\n{%- endmacro %}\n"
    )
    (folder / "conclusions.vi.j2").write_text(text, encoding="utf-8")
    options = ReportOptions(
        month="2025-10",
        formats=("html", "docx"),
        out=tmp_path / "out",
        template_dir=folder,
        generated_at=GENERATED,
    )
    write_report(store, options)
    page = Sentences((tmp_path / "out" / "2025-10" / "report.html").read_text(encoding="utf-8"))
    mine = [s for s in page.items if s.startswith("Xin vận động đo tại")]
    campaign = page.tables["campaign"]
    assert mine == [f"Xin vận động đo tại {campaign[-1][-1]} địa bàn."]
    assert not any(s.startswith("Kính đề nghị Ủy ban nhân dân") for s in page.items)
    word = Document(str(tmp_path / "out" / "2025-10" / "report.docx"))
    assert any(p.text.endswith(mine[0]) for p in word.paragraphs)


def test_names_in_sentences_are_data(store: Store, tmp_path: Path) -> None:
    """A commune named like markup stays text in every format's sentences."""
    evil = 'Xã <b>&"Thử"'
    copy = tmp_path / "store"
    shutil.copytree(store.root, copy)
    shapes = json.loads(PROVINCE.read_text(encoding="utf-8"))
    for feature in shapes["features"]:
        if feature["properties"]["id"] == PERSISTENT[2]:
            feature["properties"]["name"] = evil
    boundaries = tmp_path / "province.geojson"
    boundaries.write_text(json.dumps(shapes, ensure_ascii=False), encoding="utf-8")
    other = Store.open(copy, timezone=TZ)
    import_boundaries(other, boundaries, BoundaryOptions())
    analyze_month(other, AnalyzeOptions(month="2025-10"))
    # Other boundaries than September's: the check says so, the report is forced.
    options = ReportOptions(month="2025-10", formats=("html",), out=tmp_path / "out", force=True)
    write_report(other, options)
    html = (tmp_path / "out" / "2025-10" / "report.html").read_text(encoding="utf-8")
    assert "<b>&" not in html
    page = Sentences(html)
    assert any(evil in s for s in page.items)


def test_a_period_of_days_is_not_compared_with_a_month(store: Store, tmp_path: Path) -> None:
    from qostool.analyze.period import PeriodOptions, analyze_period, parse_period

    shutil.copytree(store.root, tmp_path / "store")
    copy = Store.open(tmp_path / "store", timezone=TZ)
    analysis = analyze_period(copy, PeriodOptions(parse_period("2025-10-01", "2025-10-31")))
    found = build_context(copy, analysis, generated_at=GENERATED).conclusions
    assert found is not None
    assert found.changes == [] and found.previous is None
    assert not any(isinstance(f, Changed | NotCompared) for f in found.findings)
    # The rest is the month's: the same tests, the same verdicts.
    assert [s.below for s in found.standings] == [2, 6]
