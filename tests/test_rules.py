"""Rule presets (``--rule``, ``[analyze] rule``), ``report --compare-rule``, and the
report's headline: named after the rule's statistic, and for data without technologies.

Expectations are worked out from the rules as written in docs/methodology.md
(section 7), not from the code's own results.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from qostool.analyze.rules import Rule, Statistic, Verdict, preset_rule
from qostool.analyze.run import load_analysis, made_terms, term_differences, variant_name
from qostool.analyze.stats import statistics
from qostool.config import load_settings, starting_file
from qostool.errors import ConfigError, UsageError
from qostool.report.i18n import LABELS, Formatter
from qostool.run import analysis_terms, rule_of
from qostool.store import Store
from tests.conftest import TZ, one_line
from tests.test_analyze_stats import frame, row
from tests.test_report import Page, sample_store
from tests.test_report_docx_pdf import body, open_docx, tables, visible

__all__ = ["sample_store"]  # the module-scoped store of test_report, used here by name

GENERATED = "2025-11-05"


@pytest.fixture
def store(sample_store: Store, tmp_path: Path) -> Store:
    """A private copy of the sample store (September and October analysed)."""
    shutil.copytree(sample_store.root, tmp_path / "store")
    return Store.open(tmp_path / "store", timezone=TZ)


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "qostool.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- the presets -----------------------------------------------------------------------


def test_vnnic_needs_300_single_tests_and_compares_the_median() -> None:
    """299 single tests: not enough samples; 300: a verdict. Tiles do not count
    towards the 300, since the median is taken over single tests only."""
    rule = preset_rule("vnnic", Rule())
    assert (rule.statistic, rule.min_tests, rule.min_devices) == (Statistic.MEDIAN, 300, 5)
    devices = [f"p{i % 10}" for i in range(300)]
    fast = [60.0 + (i % 7) for i in range(300)]  # median 63, far above 40
    slow = [20.0 + (i % 7) for i in range(300)]  # median 23, far below 40
    data = pl.concat(
        [
            frame(fast[:299], commune="A", devices=devices[:299]),
            frame(fast, commune="B", devices=devices),
            frame(slow, commune="C", devices=devices),
            frame(slow[:299], commune="D", devices=devices[:299]),
            # 299 single tests and a tile of 50 tests: 349 tests, 299 samples for the median.
            frame(fast[:299], commune="E", devices=devices[:299]),
            frame([90.0], commune="E", weight=[50]),
        ]
    )
    stats = statistics(data.lazy(), rule)
    verdict = {c: row(stats, "commune", commune_code=c)["verdict"] for c in "ABCDE"}
    assert verdict == {
        "A": Verdict.INSUFFICIENT,
        "B": Verdict.MEETS,
        "C": Verdict.BELOW,
        "D": Verdict.INSUFFICIENT,
        "E": Verdict.INSUFFICIENT,
    }
    b = row(stats, "commune", commune_code="B")
    assert (b["statistic"], b["statistic_value"]) == ("median", 63.0)
    assert row(stats, "commune", commune_code="E")["tests"] == 349
    # The province's default rule decides all five (mean, 30 tests).
    province = statistics(data.lazy(), Rule())
    assert all(row(province, "commune", commune_code=c)["verdict"] != "insufficient_data"
               for c in "ABCDE")  # fmt: skip


def test_the_province_preset_is_the_defaults() -> None:
    assert preset_rule("province", Rule(min_tests=7, statistic=Statistic.SHARE)) == Rule()
    assert rule_of(load_settings(env={})) == Rule()


def test_options_override_a_preset(tmp_path: Path) -> None:
    """A key given at the preset's level or a later one wins; an earlier one does not."""
    env: dict[str, str] = {}
    chosen = load_settings(
        options={"analyze.rule": ("--rule", "vnnic"), "analyze.min_tests": ("--min-tests", 100)},
        env=env,
    )
    assert (chosen.analyze.statistic, chosen.analyze.min_tests) == ("median", 100)
    assert str(chosen.sources["analyze.min_tests"]) == "option --min-tests"
    assert str(chosen.sources["analyze.statistic"]) == "rule vnnic (option --rule)"

    # The file's own keys lose to the preset of the command line ...
    path = config_file(tmp_path, '[analyze]\nstatistic = "mean"\nmin_tests = 50\n')
    chosen = load_settings(path, options={"analyze.rule": ("--rule", "vnnic")}, env=env)
    assert (chosen.analyze.statistic, chosen.analyze.min_tests) == ("median", 300)
    # ... and win over a preset of the same file.
    path = config_file(tmp_path, '[analyze]\nrule = "vnnic"\nmin_tests = 500\n')
    chosen = load_settings(path, env=env)
    assert (chosen.analyze.statistic, chosen.analyze.min_tests) == ("median", 500)
    # A preset from the environment is later than the file.
    chosen = load_settings(path, env={"QOSTOOL_ANALYZE_RULE": "province"})
    assert (chosen.analyze.statistic, chosen.analyze.min_tests) == ("mean", 30)
    assert rule_of(chosen).preset == "province"


def test_config_rule_vnnic_and_where_each_value_comes_from(tmp_path: Path, cli: Any) -> None:
    path = config_file(tmp_path, '[analyze]\nrule = "vnnic"\nmin_devices = 8\n')
    shown = cli("config", "show", "--config", path, "--json")
    assert shown.exit_code == 0, shown.output
    settings = json.loads(shown.stdout)["settings"]
    where = f"vnnic (file {path.resolve()})"
    assert settings["analyze.rule"] == {
        "value": "vnnic", "source": "file", "from": str(path.resolve()),
        "env": "QOSTOOL_ANALYZE_RULE",
    }  # fmt: skip
    assert (settings["analyze.statistic"]["value"], settings["analyze.statistic"]["from"]) == (
        "median",
        where,
    )
    assert settings["analyze.min_tests"]["value"] == 300
    assert settings["analyze.min_tests"]["source"] == "rule"
    assert (
        settings["analyze.min_devices"]["value"],
        settings["analyze.min_devices"]["source"],
    ) == (
        8,
        "file",
    )
    table = one_line(cli("config", "show", "--config", path))
    assert "rule vnnic (file" in table


def test_config_init_leaves_the_statistic_and_minimums_to_the_preset(tmp_path: Path) -> None:
    """The starting file names the preset and comments the keys it sets, so that
    changing only ``rule`` changes the rule."""
    text = starting_file()
    assert '\nrule = "province"\n' in text
    for key in ("statistic", "min_tests", "min_devices"):
        assert f"\n# {key} = " in text and f"\n{key} = " not in text
    path = config_file(tmp_path, text.replace('\nrule = "province"\n', '\nrule = "vnnic"\n'))
    chosen = load_settings(path, env={})
    assert (chosen.analyze.rule, chosen.analyze.statistic, chosen.analyze.min_tests) == (
        "vnnic",
        "median",
        300,
    )


def test_an_unknown_preset_is_a_usage_error_listing_the_presets(
    store: Store, tmp_path: Path, cli: Any
) -> None:
    result = cli("analyze", "--month", "2025-10", "--store", store.root, "--rule", "national")
    assert result.exit_code == 2, result.output
    assert "--rule 'national': expected one of: province, vnnic" in one_line(result)
    path = config_file(tmp_path, '[analyze]\nrule = "VNNIC-2024"\n')
    with pytest.raises(ConfigError, match="expected one of: province, vnnic"):
        load_settings(path, env={})
    result = cli(
        "report", "--month", "2025-10", "--store", store.root, "--out", tmp_path / "out",
        "--compare-rule", "national",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "unknown rule preset; presets: province, vnnic" in one_line(result)
    assert not (tmp_path / "out").exists()
    with pytest.raises(UsageError, match="presets: province, vnnic"):
        Rule(preset="national")


def test_rule_vnnic_is_a_variant_named_after_it(store: Store, cli: Any) -> None:
    result = cli("analyze", "--month", "2025-10", "--store", store.root, "--rule", "vnnic")
    assert result.exit_code == 0, result.output
    assert "stored as the variant vnnic of 2025-10" in one_line(result)
    variant = load_analysis(store, "2025-10", "vnnic")
    assert variant.meta["rule"]["preset"] == "vnnic"
    assert (variant.meta["rule"]["statistic"], variant.meta["rule"]["min_tests"]) == (
        "median",
        300,
    )
    assert {d["term"] for d in variant.differs} == {"preset", "statistic", "min_tests"}
    # The official analysis is still the month's, and says its preset only when made so.
    assert load_analysis(store, "2025-10").role == "official"

    result = cli(
        "analyze", "--month", "2025-10", "--store", store.root, "--rule", "vnnic",
        "--min-tests", "100",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "stored as the variant vnnic_min-tests-100 of 2025-10" in one_line(result)


def test_variant_names_of_presets() -> None:
    vnnic = [
        {"term": "min_tests", "value": 300, "configured": 30},
        {"term": "preset", "value": "vnnic", "configured": "province"},
        {"term": "statistic", "value": "median", "configured": "mean"},
    ]
    assert variant_name(vnnic) == "vnnic"
    vnnic[0]["value"] = 100
    assert variant_name(vnnic) == "vnnic_min-tests-100"
    back = [{"term": "preset", "value": "province", "configured": "vnnic"}]
    assert variant_name(back) == "province"


def test_an_analysis_stored_before_presets_has_the_configured_rule() -> None:
    """Its rule has no preset: it was made from the defaults, the province preset."""
    meta = {
        "rule": {k: v for k, v in Rule().to_dict().items() if k != "preset"},
        "tolerance_m": 100.0,
        "bursts": {"deduplicated": False},
        "boundaries": {"version": "b1"},
    }
    configured = analysis_terms(load_settings(env={})) | {"boundaries": "b1"}
    assert term_differences(made_terms(meta), configured) == []
    vnnic = analysis_terms(load_settings(env={"QOSTOOL_ANALYZE_RULE": "vnnic"}))
    assert {d["term"] for d in term_differences(made_terms(meta), vnnic)} == {
        "preset",
        "statistic",
        "min_tests",
    }


# -- report --compare-rule -------------------------------------------------------------


def expected_under_vnnic(store: Store) -> dict[str, str]:
    """Each commune's 4G verdict under the vnnic preset, from the official analysis's
    4G rows by the rule of methodology.md section 7: fewer than 300 single tests
    (``tests - tile_tests``) or 5 devices at least is not enough samples."""
    rows = load_analysis(store, "2025-10").commune_rows("4G").to_dicts()
    thin = {
        r["commune_code"]
        for r in rows
        if r["tests"] - r["tile_tests"] < 300 or (r["devices_min"] or 0) < 5
    }
    # The samples have no commune with 300 4G tests: every one is thin under vnnic.
    assert len(thin) == len(rows) == 30
    return {r["commune_code"]: "insufficient_data" for r in rows}


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_compare_rule_in_the_html_and_docx(
    store: Store, tmp_path: Path, cli: Any, lang: str
) -> None:
    expected = expected_under_vnnic(store)
    official = dict(
        load_analysis(store, "2025-10").commune_rows("4G").select("commune_code", "verdict").rows()
    )
    differ = sum(official[c] != v for c, v in expected.items())
    assert differ > 0
    out = tmp_path / "out"
    result = cli(
        "report", "--month", "2025-10", "--store", store.root, "--out", out, "--lang", lang,
        "--format", "html,docx", "--generated-at", GENERATED, "--compare-rule", "vnnic",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    fmt = Formatter(lang)
    rule = LABELS[lang]["rule_vnnic"]
    column = LABELS[lang]["c_verdict_compared"].replace("{rule}", rule)
    if lang == "en":
        line = (
            "Under the national rule (VNNIC) (median, at least 300 tests and 5 devices): 0 "
            "communes meet the 4G minimum, 0 below, 0 close to the threshold, 30 with "
            f"insufficient data or no tests; {differ}/30 communes get another assessment than "
            "in this report"
        )
    else:
        line = (
            "Theo quy tắc quốc gia (VNNIC) (trung vị, tối thiểu 300 lượt đo và 5 thiết bị): 0 "
            "xã, phường, đặc khu đạt mức tối thiểu 4G, 0 chưa đạt, 0 sát ngưỡng, 30 chưa đủ "
            f"dữ liệu hoặc không có lượt đo; {differ}/30 xã, phường, đặc khu có đánh giá khác "
            "báo cáo này"
        )
    communes = load_analysis(store, "2025-10").communes
    tests_4g = dict(communes.select("commune_code", "tests_4g").rows())

    def shown(verdict: str | None, code: str) -> str | None:
        """The report's assessment: a commune without any 4G test is "no tests"."""
        return "no_tests" if verdict == "insufficient_data" and tests_4g[code] == 0 else verdict

    page = Page((out / "2025-10" / "report.html").read_text(encoding="utf-8"))
    assert line in page.visible()
    header = page.tables["commune-table"][0]
    assert column in header
    at = header.index(column)
    verdict_at = header.index(LABELS[lang]["c_verdict_4g"])
    for cells in page.body("commune-table"):  # "TT", then the commune's code
        assert cells[at] == fmt.verdict(shown(expected[cells[1]], cells[1]))
        assert cells[verdict_at] == fmt.verdict(shown(official[cells[1]], cells[1]))

    document = open_docx(out / "2025-10" / "report.docx")
    assert line in visible(document)
    (commune_table,) = tables(document)["commune-table"]
    head = [" ".join(c.text.split()) for c in commune_table.rows[0].cells]
    assert column in head
    for cells in body(commune_table):
        assert cells[head.index(column)] == fmt.verdict(shown(expected[cells[1]], cells[1]))

    # Without the option, neither the line nor the column.
    plain = cli(
        "report", "--month", "2025-10", "--store", store.root, "--out", tmp_path / "plain",
        "--lang", lang, "--format", "html,docx", "--generated-at", GENERATED,
    )  # fmt: skip
    assert plain.exit_code == 0, plain.output
    page = Page((tmp_path / "plain" / "2025-10" / "report.html").read_text(encoding="utf-8"))
    assert column not in page.tables["commune-table"][0] and rule not in page.visible()
    document = open_docx(tmp_path / "plain" / "2025-10" / "report.docx")
    assert rule not in visible(document)


# -- the headline ----------------------------------------------------------------------


def test_the_headline_names_the_median_and_old_templates_still_work(
    store: Store, tmp_path: Path, cli: Any
) -> None:
    made = cli("analyze", "--month", "2025-10", "--store", store.root, "--statistic", "median")
    assert made.exit_code == 0, made.output
    mine = tmp_path / "mine" / "md"
    mine.mkdir(parents=True)
    # A user template of an earlier version: the label filled with its old placeholders
    # (in the file of section III, which holds the headline).
    (mine / "assessment.md").write_text(
        "OLD {{ L.headline | fill(meets=summary.meets_4g | integer, total=summary.communes_total"
        " | integer, target=summary.target_4g | number(0), below=summary.below_4g | integer, "
        "insufficient=summary.insufficient_4g | integer, inconclusive=summary.inconclusive_4g "
        "| integer) }}\n",
        encoding="utf-8",
    )
    for lang, word, other in (
        ("en", "minimum 4G median download speed", "average"),
        ("vi", "tốc độ tải xuống trung vị 4G", "trung bình 4G"),
    ):
        for folder, extra in (("packaged", ()), ("user", ("--template-dir", mine.parent))):
            out = tmp_path / f"{folder}-{lang}"
            result = cli(
                "report", "--month", "2025-10", "--store", store.root, "--out", out,
                "--lang", lang, "--format", "html,md", "--generated-at", GENERATED,
                "--analysis", "median", *extra,
            )  # fmt: skip
            assert result.exit_code == 0, result.output
            md = (out / "2025-10" / "variant-median" / "report.md").read_text(encoding="utf-8")
            headline = md[md.index("OLD " if folder == "user" else "\n## III.") :][:600]
            assert word in headline and other not in headline, (lang, folder)
            if folder == "user":
                assert "OLD " in md
    # The official analysis keeps saying average.
    result = cli(
        "report", "--month", "2025-10", "--store", store.root, "--out", tmp_path / "mean",
        "--lang", "en", "--format", "md", "--generated-at", GENERATED,
    )  # fmt: skip
    md = (tmp_path / "mean" / "2025-10" / "report.md").read_text(encoding="utf-8")
    assert "meet the minimum 4G average download speed (40 Mbps)" in md


def test_the_share_headline_names_the_share() -> None:
    fmt = Formatter("en")
    label = fmt.headline_label("share", 0.8)
    assert "at least 80% of tests at {target} Mbps or more" in label
    assert "{share}" not in label
    assert "ít nhất 80% số lượt đo" in Formatter("vi").headline_label("share", 0.8)


def test_a_month_of_tiles_only_says_a_4g_verdict_needs_technologies(
    store: Store, tmp_path: Path, cli: Any
) -> None:
    """December 2025 has no single test: only the quarter's Ookla tiles (technology
    unknown). Its headline gives the all-cellular figures, not '0 of 30 meet'."""
    made = cli("analyze", "--month", "2025-12", "--store", store.root)
    assert made.exit_code == 0, made.output
    december = load_analysis(store, "2025-12")
    province = december.stats.filter(pl.col("level") == "province")
    known = province.filter(pl.col("technology").is_in(["2G", "3G", "4G", "5G"]))["tests"].sum()
    assert known == 0
    cellular = province.filter(pl.col("technology") == "all").row(0, named=True)
    with_tests = int(december.communes["has_tests"].sum())
    assert cellular["tests"] > 0 and with_tests > 0
    for lang, says, not_said in (
        ("en", "nothing can be assessed against the 4G minimum", "meet the minimum 4G"),
        ("vi", "nên chưa đánh giá được theo mức tối thiểu 4G", "đạt mức tối thiểu về tốc"),
    ):
        out = tmp_path / lang
        result = cli(
            "report", "--month", "2025-12", "--store", store.root, "--out", out, "--lang", lang,
            "--format", "html,md,docx", "--generated-at", "2026-01-05", "--force",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        fmt = Formatter(lang)
        figures = (
            f"{fmt.integer(cellular['tests'])} "
            + ("tests in" if lang == "en" else "lượt đo tại")
            + f" {fmt.integer(with_tests)}/30 "
            + (
                "communes, wards and special zones; mean download"
                if lang == "en"
                else "xã, phường, đặc khu;"
            )
        )
        mean = fmt.number(cellular["download_mean_mbps"])
        page = Page((out / "2025-12" / "report.html").read_text(encoding="utf-8"))
        md = (out / "2025-12" / "report.md").read_text(encoding="utf-8")
        document = visible(open_docx(out / "2025-12" / "report.docx"))
        for text in (page.visible(), md, document):
            assert says in text and figures in text and f"{mean} Mbps" in text, lang
            assert not_said not in text.split(says)[0][-300:], lang
