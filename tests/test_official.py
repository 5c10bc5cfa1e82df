"""The official analysis of a month, its variants and the earlier official ones.

A what-if (``analyze --target 4G=35``) is stored as a variant and never changes
what ``report`` writes for the month; ``report --analysis NAME`` writes the
variant, labelled on every page of every format; a new official analysis keeps
the earlier ones, whose reports can be written again.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import docx
import openpyxl
import polars as pl
import pytest

from qostool.analyze.run import (
    check_name,
    describe_differences,
    load_analysis,
    term_differences,
    variant_name,
)
from qostool.errors import UsageError
from qostool.report.i18n import Formatter
from qostool.store import Store
from qostool.text import markdown
from tests.conftest import TZ, one_line
from tests.test_report import sample_store

__all__ = ["sample_store"]  # the module-scoped store of test_report, used here by name

GENERATED = "2025-11-05"
WHAT_IF = {"term": "targets_mbps.4G", "value": 35.0, "configured": 40.0}


@pytest.fixture
def store(sample_store: Store, tmp_path: Path) -> Store:
    """A private copy of the sample store (September and October analysed)."""
    shutil.copytree(sample_store.root, tmp_path / "store")
    return Store.open(tmp_path / "store", timezone=TZ)


def meeting_communes(store: Store, target: float) -> int:
    """Communes whose 4G mean meets ``target``: the rule of docs/methodology.md §7
    applied by hand (devices: the lower bound) to the official analysis's 4G rows,
    whose means and intervals do not depend on the target; not through the verdicts."""
    rows = load_analysis(store, "2025-10").commune_rows("4G").to_dicts()
    return sum(
        1
        for r in rows
        if r["tests"] >= 30
        and r["devices_min"] >= 5
        and r["statistic_value"] is not None
        and r["statistic_ci_low"] is not None
        and not r["statistic_ci_low"] < target < r["statistic_ci_high"]
        and r["statistic_value"] >= target
    )


def headline(md: str) -> tuple[int, int, str]:
    """``(meets, total, target)`` of a Markdown report's English headline."""
    found = re.search(
        r"(\d+)/(\d+) communes, wards and special zones \(\d+%\) meet the minimum 4G average "
        r"download speed \((\d+)",
        md,
    )
    assert found, md[:2000]
    return int(found[1]), int(found[2]), found[3]


def report(cli: Any, store: Store, out: Path, *extra: Any) -> Any:
    return cli(
        "report", "--month", "2025-10", "--store", store.root, "--out", out,
        "--lang", "en", "--generated-at", GENERATED, *extra,
    )  # fmt: skip


def test_a_what_if_is_a_variant_and_the_official_report_does_not_change(
    store: Store, tmp_path: Path, cli: Any
) -> None:
    before = report(cli, store, tmp_path / "before", "--format", "md,html,xlsx")
    assert before.exit_code == 0, before.output
    official_md = (tmp_path / "before" / "2025-10" / "report.md").read_text(encoding="utf-8")
    meets_40 = meeting_communes(store, 40)
    assert headline(official_md) == (meets_40, 30, "40")

    what_if = cli("analyze", "--month", "2025-10", "--store", store.root, "--target", "4G=35")
    assert what_if.exit_code == 0, what_if.output
    words = one_line(what_if)
    assert "stored as the variant 4G-35 of 2025-10" in words
    assert "targets_mbps.4G 35 (configured 40)" in words
    assert "--analysis 4G-35" in words

    # The month's report is the official one, byte for byte.
    after = report(cli, store, tmp_path / "after", "--format", "md,html,xlsx")
    assert after.exit_code == 0, after.output
    for name in ("report.md", "report.html", "report.xlsx"):
        old = (tmp_path / "before" / "2025-10" / name).read_bytes()
        assert (tmp_path / "after" / "2025-10" / name).read_bytes() == old, name

    listed = cli("analyses", "--month", "2025-10", "--store", store.root, "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)["analyses"]
    assert [(r["role"], r["name"], r["differs"]) for r in rows] == [
        ("official", None, []),
        ("variant", "4G-35", [WHAT_IF]),
    ]
    assert rows[1]["boundaries"] == rows[0]["boundaries"]
    assert rows[1]["inputs"] == rows[0]["inputs"] and rows[1]["inputs"]

    status = json.loads(cli("status", "--store", store.root, "--json").stdout)
    october = next(m for m in status["months"] if m["month"] == "2025-10")
    assert october["variants"] == ["4G-35"] and october["earlier_analyses"] == 0


def test_the_variant_report_says_what_it_is_on_every_page(
    store: Store, tmp_path: Path, cli: Any
) -> None:
    made = cli("analyze", "--month", "2025-10", "--store", store.root, "--target", "4G=35")
    assert made.exit_code == 0, made.output
    out = tmp_path / "out"
    written = report(cli, store, out, "--analysis", "4G-35", "--format", "md,html,docx,xlsx")
    assert written.exit_code == 0, written.output
    assert not (out / "2025-10" / "report.md").exists()  # never over the official report
    folder = out / "2025-10" / "variant-4G-35"
    label = "VARIANT “4G-35”, not the official analysis: 4G threshold 35 Mbps (configured 40 Mbps)"

    md = (folder / "report.md").read_text(encoding="utf-8")
    assert headline(md) == (meeting_communes(store, 35), 30, "35")
    assert meeting_communes(store, 35) != meeting_communes(store, 40)  # the samples tell
    first, *_, last = [line for line in md.splitlines() if line.strip()]
    assert first.startswith("> **VARIANT") and last.startswith("> **VARIANT")
    assert markdown(label) in md
    assert markdown("NOT the month's official analysis") in md  # and page 1 names it too

    html = (folder / "report.html").read_text(encoding="utf-8")
    assert f'<div class="page-label" role="note">{label}</div>' in html
    assert "string-set: pagelabel" in html and "content: string(pagelabel)" in html

    document = docx.Document(str(folder / "report.docx"))
    # The first section has a first page of its own (no number); the annexes' sections
    # (landscape, then portrait) take its header, label and number, on every page.
    assert len(document.sections) == 3
    for number, section in enumerate(document.sections):
        assert section.different_first_page_header_footer is (number == 0)
        for header in (section.header, section.first_page_header):
            assert header.paragraphs[0].text == label
    assert document.sections[0].header.paragraphs[1]._p.xpath(".//w:fldSimple")  # page number

    workbook = openpyxl.load_workbook(io.BytesIO((folder / "report.xlsx").read_bytes()))
    for sheet in workbook.worksheets:
        assert sheet["A1"].value == label, sheet.title
        assert label[:50] in sheet.oddHeader.center.text


def test_the_variant_report_in_vietnamese_and_pdf_words(
    store: Store, tmp_path: Path, cli: Any
) -> None:
    made = cli("analyze", "--month", "2025-10", "--store", store.root, "--target", "4G=35")
    assert made.exit_code == 0, made.output
    out = tmp_path / "out"
    args = ("report", "--month", "2025-10", "--store", store.root, "--out", out)
    written = cli(*args, "--analysis", "4G-35", "--format", "md", "--lang", "vi")
    assert written.exit_code == 0, written.output
    md = (out / "2025-10" / "variant-4G-35" / "report.md").read_text(encoding="utf-8")
    assert markdown("PHƯƠNG ÁN THỬ «4G-35»") in md
    assert markdown("ngưỡng 4G 35 Mbps (cấu hình: 40 Mbps)") in md


def test_an_earlier_official_analysis_is_kept_and_reported_again(
    store: Store, tmp_path: Path, cli: Any
) -> None:
    first = report(cli, store, tmp_path / "first", "--format", "md")
    assert first.exit_code == 0, first.output
    earlier = load_analysis(store, "2025-10")

    chosen = cli(
        "analyze", "--month", "2025-10", "--store", store.root, "--target", "4G=35", "--official"
    )
    assert chosen.exit_code == 0, chosen.output
    assert "stored as the official analysis of 2025-10 on purpose" in one_line(chosen)

    # The new official analysis is reported, and page 1 says it was chosen on purpose.
    now = report(cli, store, tmp_path / "now", "--format", "md", "--json")
    assert now.exit_code == 0, now.output
    checks = {c["check"]: c for c in json.loads(now.stdout)["checks"]}
    assert checks["configured_rule"]["status"] == "warning"
    assert checks["configured_rule"]["differs"] == [WHAT_IF]
    md = (tmp_path / "now" / "2025-10" / "report.md").read_text(encoding="utf-8")
    assert headline(md)[2] == "35"
    assert markdown("made official on purpose with other terms than the configuration") in md

    # The earlier one is kept, listed with when it was replaced, and reported again.
    rows = json.loads(
        cli("analyses", "--month", "2025-10", "--store", store.root, "--json").stdout
    )["analyses"]
    assert [r["role"] for r in rows] == ["official", "earlier"]
    assert rows[1]["id"] == earlier.id and rows[1]["replaced_at"] == rows[0]["made_at"]
    again = report(cli, store, tmp_path / "again", "--format", "md", "--analysis", earlier.id)
    assert again.exit_code == 0, again.output
    folder = tmp_path / "again" / "2025-10" / f"analysis-{earlier.id}"
    reproduced = (folder / "report.md").read_text(encoding="utf-8")
    sent = (tmp_path / "first" / "2025-10" / "report.md").read_text(encoding="utf-8")
    assert headline(reproduced) == headline(sent)
    assert "> **" + markdown(f"EARLIER OFFICIAL ANALYSIS (id {earlier.id})") in reproduced
    # Every table of the report sent is in the report made again.
    tables = [line for line in sent.splitlines() if line.startswith("|")]
    assert tables and all(line in reproduced for line in tables)


def test_a_name_without_other_terms_is_a_variant_and_names_are_checked(
    store: Store, tmp_path: Path, cli: Any
) -> None:
    args = ("analyze", "--month", "2025-10", "--store", store.root)
    named = cli(*args, "--name", "bản-nháp", "--json", "--export", "csv", "--out", tmp_path)
    assert named.exit_code == 0, named.output
    result = json.loads(named.stdout)
    assert (result["role"], result["name"], result["differs"]) == ("variant", "bản-nháp", [])
    assert (tmp_path / "2025-10" / "variant-bản-nháp" / "communes.csv").is_file()
    assert not (tmp_path / "2025-10" / "communes.csv").exists()
    # A second run of the same name replaces that variant only.
    assert cli(*args, "--name", "bản-nháp").exit_code == 0
    (variant,) = store.artifacts("variants", "2025-10")
    assert variant.meta["name"] == "bản-nháp"
    assert len(store.artifacts("results", "2025-10")) == 1

    for bad in ("../x", "", "official", "-x", "a" * 65):
        refused = cli(*args, "--name", bad)
        assert refused.exit_code == 2, (bad, refused.output)
        assert "not a usable name" in one_line(refused)
    unknown = cli("report", "--month", "2025-10", "--store", store.root, "--analysis", "nope")
    assert unknown.exit_code == 1, unknown.output
    assert "no variant or analysis 'nope'" in one_line(unknown)
    assert "bản-nháp" in one_line(unknown)


def test_term_differences_and_names() -> None:
    configured = {"rule": {"targets_mbps": {"4G": 40.0, "5G": 100.0}, "statistic": "mean"}}
    made = {"rule": {"targets_mbps": {"4G": 35.0, "5G": 100.0}, "statistic": "median"}}
    differs = term_differences(made, configured)
    assert differs == [
        {"term": "statistic", "value": "median", "configured": "mean"},
        WHAT_IF,
    ]
    assert term_differences(configured, configured) == []
    assert variant_name(differs) == "median_4G-35"
    assert variant_name([{"term": "dedupe_bursts", "value": True, "configured": False}]) == (
        "dedupe-bursts-on"
    )
    assert variant_name([{"term": "boundaries", "value": "xa/2026 v2", "configured": "x"}]) == (
        "boundaries-xa-2026-v2"
    )
    assert len(variant_name([WHAT_IF] * 20)) <= 64
    assert describe_differences(differs) == (
        "statistic median (configured mean); targets_mbps.4G 35 (configured 40)"
    )
    assert Formatter("vi").differences(differs) == (
        "đại lượng so sánh trung vị (cấu hình: trung bình); ngưỡng 4G 35 Mbps (cấu hình: 40 Mbps)"
    )
    assert check_name("target-35") == "target-35"
    with pytest.raises(UsageError):
        check_name("a b")


def test_stored_analyses_of_older_stores_are_official(store: Store) -> None:
    """An analysis stored before variants existed has no ``official`` key: it is official."""
    (path,) = (store.root / "results" / "2025-10").iterdir()
    meta = json.loads((path / "analysis.json").read_text(encoding="utf-8"))
    for key in ("official", "name", "differs", "id"):
        meta.pop(key, None)
    (path / "analysis.json").write_text(json.dumps(meta), encoding="utf-8")
    analysis = load_analysis(store, "2025-10")
    assert (analysis.role, analysis.name, analysis.differs, analysis.subfolder) == (
        "official",
        None,
        [],
        None,
    )
    assert isinstance(analysis.stats, pl.DataFrame)


def pdf_pages(html: str, footers: list[str] | None = None) -> list[tuple[str, str]]:
    """Each page of the HTML as the PDF engine lays it out: (header text, body text);
    each page's footer is appended to ``footers`` when given."""
    import weasyprint

    def text(box: Any) -> str:
        return " ".join(b.text for b in box.descendants() if hasattr(b, "text"))

    pages = []
    for page in weasyprint.HTML(string=html).render().pages:
        boxes = page._page_box.children
        header = " ".join(text(b) for b in boxes if getattr(b, "at_keyword", "") == "@top-center")
        body = " ".join(text(b) for b in boxes if not hasattr(b, "at_keyword"))
        pages.append((header, body))
        (footers if footers is not None else []).append(
            " ".join(text(b) for b in boxes if getattr(b, "at_keyword", "") == "@bottom-center")
        )
    return pages


def test_the_pdf_of_a_variant_says_so_on_every_page_and_names_forced_checks(
    store: Store, tmp_path: Path, cli: Any
) -> None:
    """The PDF is the HTML printed: every page's header carries the variant's line, and
    page 1 names each check that failed when the report was forced."""
    from tests.conftest import require_pdf_engine

    require_pdf_engine()
    made = cli("analyze", "--month", "2025-10", "--store", store.root, "--target", "4G=35")
    assert made.exit_code == 0, made.output
    out = tmp_path / "out"
    written = report(cli, store, out, "--analysis", "4G-35", "--format", "pdf,html")
    assert written.exit_code == 0, written.output
    folder = out / "2025-10" / "variant-4G-35"
    assert (folder / "report.pdf").read_bytes().startswith(b"%PDF-")
    pages = pdf_pages((folder / "report.html").read_text(encoding="utf-8"))
    label = "VARIANT “4G-35”, not the official analysis: 4G threshold 35 Mbps (configured 40 Mbps)"
    assert len(pages) >= 5 and all(header == label for header, _ in pages)
    assert "NOT the month's official analysis" in pages[0][1]

    # The official report, forced past a failed check: page 1 of the PDF names it.
    config = tmp_path / "qostool.toml"
    config.write_text('[analyze]\ntargets = { "4G" = 35 }\n', encoding="utf-8")
    forced = report(cli, store, out, "--config", config, "--force", "--format", "pdf,html")
    assert forced.exit_code == 0, forced.output
    footers: list[str] = []
    pages = pdf_pages((out / "2025-10" / "report.html").read_text(encoding="utf-8"), footers)
    assert all(header == "" for header, _ in pages)  # the official analysis: no label
    # Every printed page is numbered, out of the whole.
    assert footers == [f"{n} / {len(pages)}" for n in range(1, len(pages) + 1)]
    first = " ".join(pages[0][1].split())
    assert "Written although a check failed: the analysis was made with other terms" in first
