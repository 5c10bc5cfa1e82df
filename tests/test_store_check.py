"""``qostool store check`` and ``store repair``: find what does not agree, set it aside, never delete.

Every repair here is checked for what matters most: each file the store held
before is still there, byte for byte, either in place or under
``quarantine/<time>/`` at the same store path; and ingesting again the files the
repair names brings back exactly the tests that were stored before.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from qostool.errors import ExitCode
from qostool.store import Store
from tests.conftest import REPO, TZ, one_line, rejects, stored
from tests.test_store_defence import (
    CATALOG_DAMAGE,
    OCTOBER,
    built,
    snapshot,
    store_dir,
)

__all__ = ["built", "store_dir"]  # fixtures of test_store_defence, used here by name


def quarantined(root: Path) -> dict[str, bytes]:
    """Files set aside by repairs, by their store path (without the quarantine folder)."""
    found: dict[str, bytes] = {}
    for folder in sorted((root / "quarantine").glob("*")):
        for path in folder.rglob("*"):
            if path.is_file() and path.name != "repair.json":
                found[path.relative_to(folder).as_posix()] = path.read_bytes()
    return found


def assert_nothing_lost(before: dict[str, bytes], root: Path, *, changed: set[str]) -> None:
    """Every file of ``before`` is in place or in quarantine, with the same bytes.

    ``changed``: files a repair may rewrite in place (the catalog it repairs).
    """
    now, aside = snapshot(root), quarantined(root)
    for name, data in before.items():
        if name in changed and name in now:
            continue
        assert now.get(name) == data or aside.get(name) == data, name


def check_json(cli: Any, root: Path) -> tuple[int, dict[str, Any]]:
    result = cli("store", "check", "--store", root, "--json")
    return result.exit_code, json.loads(result.stdout)


def repair_json(cli: Any, root: Path, *more: str) -> dict[str, Any]:
    result = cli("store", "repair", "--store", root, "--json", *more)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def parts_of(root: Path, source: Path, kind: str = "tests") -> list[Path]:
    """The recorded parts of ``kind`` that came from the ingested file ``source``."""
    records = Store.open(root, timezone=TZ).part_records()
    return [root / r.path for r in records if r.source == str(source) and r.kind == kind]


def sorted_tests(root: Path) -> pl.DataFrame:
    return stored(root).sort("test_id")


# -- check -------------------------------------------------------------------------------


def test_a_healthy_store_checks_clean_and_repair_changes_nothing(store_dir: Path, cli: Any) -> None:
    before = snapshot(store_dir)
    result = cli("store", "check", "--store", store_dir)
    assert result.exit_code == 0, result.output
    assert "the catalog and the files agree" in one_line(result)
    code, report = check_json(cli, store_dir)
    assert code == 0 and report["healthy"] and report["findings"] == []
    assert report["parts"] == 5 and report["artifacts"] == 2
    result = cli("store", "repair", "--store", store_dir, "--apply")
    assert result.exit_code == 0, result.output
    assert "nothing to repair" in one_line(result)
    assert snapshot(store_dir) == before
    assert not (store_dir / "quarantine").exists()


def test_check_lists_every_kind_of_problem_and_changes_nothing(store_dir: Path, cli: Any) -> None:
    ispeed, rtr = OCTOBER
    lost = parts_of(store_dir, ispeed)[0]
    lost.unlink()
    damaged = parts_of(store_dir, rtr)[0]
    damaged.write_bytes(damaged.read_bytes()[:-50] + b"PAR1")  # its end mark kept: read in full
    extra = store_dir / "tests" / "month=2025-10" / "20250101T000000-0badc0de-0000.parquet"
    shutil.copy(parts_of(store_dir, rtr)[1], extra)
    (results,) = (store_dir / "results" / "2025-10").iterdir()
    copy = results.with_name("20250101T000000-0badc0de")
    shutil.copytree(results, copy)
    (results / "stats.parquet").unlink()
    before = snapshot(store_dir)
    code, report = check_json(cli, store_dir)
    assert code == ExitCode.ERROR and not report["healthy"]
    found = {(f["problem"], f["path"], f["source"]) for f in report["findings"]}

    def rel(path: Path) -> str:
        return path.relative_to(store_dir).as_posix()

    assert found == {
        ("missing", rel(lost), str(ispeed)),
        ("damaged", rel(damaged), str(rtr)),
        ("extra", rel(extra), None),
        ("extra", rel(copy), None),
        ("damaged", rel(results), None),
    }
    details = {f["path"]: f["detail"] for f in report["findings"]}
    assert details[rel(results)] == "this stored results folder lacks stats.parquet"
    table = cli("store", "check", "--store", store_dir)
    assert table.exit_code == ExitCode.ERROR
    assert "5 problem(s)" in one_line(table) and "qostool store repair" in one_line(table)
    assert snapshot(store_dir) == before


@pytest.mark.parametrize("damage", CATALOG_DAMAGE, ids=list(CATALOG_DAMAGE))
def test_check_names_a_lost_catalog(damage: str, store_dir: Path, cli: Any) -> None:
    make, problem = CATALOG_DAMAGE[damage]
    make(store_dir / "catalog.sqlite")
    before = snapshot(store_dir)
    code, report = check_json(cli, store_dir)
    assert code == ExitCode.ERROR
    assert report["catalog"].startswith(problem) and report["data_files"] == 11
    result = cli("store", "check", "--store", store_dir)
    assert problem in one_line(result) and "Restore catalog.sqlite from a backup" in one_line(
        result
    )
    assert snapshot(store_dir) == before


# -- repair: a usable catalog ------------------------------------------------------------


@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_repair_of_a_lost_part_then_ingest_again_gives_the_same_tests(
    damage: str, store_dir: Path, cli: Any
) -> None:
    ispeed, _ = OCTOBER
    tests, reject_count = sorted_tests(store_dir), rejects(store_dir).height
    part = parts_of(store_dir, ispeed)[0]
    if damage == "deleted":
        part.unlink()
    else:
        part.write_bytes(part.read_bytes()[:300])
    before = snapshot(store_dir)

    plan = repair_json(cli, store_dir)  # a dry run first: nothing changes
    assert not plan["applied"] and [r["name"] for r in plan["reingest"]] == [str(ispeed)]
    assert snapshot(store_dir) == before
    shown = cli("store", "repair", "--store", store_dir)
    assert "run again with --apply" in one_line(shown) and str(ispeed) in one_line(shown)

    done = repair_json(cli, store_dir, "--apply")
    assert done["applied"] and [r["name"] for r in done["reingest"]] == [str(ispeed)]
    assert_nothing_lost(before, store_dir, changed={"catalog.sqlite"})
    record = json.loads((store_dir / done["quarantine"] / "repair.json").read_text("utf-8"))
    assert record["reingest"] == done["reingest"]  # written down where the parts went
    assert check_json(cli, store_dir)[0] == 0
    assert cli("status", "--store", store_dir).exit_code == 0
    assert str(ispeed) not in {f.name for f in Store.open(store_dir, timezone=TZ).files()}

    again = cli("ingest", ispeed, "--store", store_dir)
    assert again.exit_code == 0, again.output
    assert_frame_equal(sorted_tests(store_dir), tests)
    assert rejects(store_dir).height == reject_count
    assert check_json(cli, store_dir)[0] == 0


def test_repair_sets_aside_what_the_catalog_does_not_record(store_dir: Path, cli: Any) -> None:
    _, rtr = OCTOBER
    extra = store_dir / "rejects" / "20250101T000000-0badc0de-0000.parquet"
    shutil.copy(parts_of(store_dir, rtr, "rejects")[0], extra)
    (results,) = (store_dir / "results" / "2025-10").iterdir()
    copy = results.with_name("20250101T000000-0badc0de")
    shutil.copytree(results, copy)
    tests = sorted_tests(store_dir)
    before = snapshot(store_dir)
    done = repair_json(cli, store_dir, "--apply")
    assert {(a["action"], a["path"]) for a in done["actions"]} == {
        ("quarantine", extra.relative_to(store_dir).as_posix()),
        ("quarantine", copy.relative_to(store_dir).as_posix()),
    }
    assert done["reingest"] == []
    assert not extra.exists() and not copy.exists()
    assert_nothing_lost(before, store_dir, changed={"catalog.sqlite"})
    assert check_json(cli, store_dir)[0] == 0
    assert_frame_equal(sorted_tests(store_dir), tests)


def test_repair_forgets_a_missing_results_folder_and_analyze_makes_it_again(
    store_dir: Path, cli: Any
) -> None:
    (results,) = (store_dir / "results" / "2025-10").iterdir()
    shutil.rmtree(results)
    assert cli("status", "--store", store_dir).exit_code == ExitCode.ERROR
    done = repair_json(cli, store_dir, "--apply")
    assert [(a["action"], a["path"]) for a in done["actions"]] == [
        ("forget", results.relative_to(store_dir).as_posix())
    ]
    assert cli("status", "--store", store_dir).exit_code == 0
    analysed = cli("analyze", "--month", "2025-10", "--store", store_dir)
    assert analysed.exit_code == 0, analysed.output
    assert check_json(cli, store_dir)[0] == 0


def test_repair_waits_for_a_writer(store_dir: Path, cli: Any) -> None:
    (store_dir / "tests" / "month=2025-10" / "stray.parquet").write_bytes(b"x")
    before = snapshot(store_dir)
    with Store.open(store_dir, timezone=TZ).write_lock():
        result = cli("store", "repair", "--store", store_dir, "--apply")
    assert result.exit_code == ExitCode.STORE_BUSY, result.output
    assert snapshot(store_dir) == before


# -- repair: a lost catalog --------------------------------------------------------------


@pytest.mark.parametrize("damage", CATALOG_DAMAGE, ids=list(CATALOG_DAMAGE))
def test_repair_of_a_lost_catalog_keeps_everything_and_ingest_again_restores_it(
    damage: str, store_dir: Path, cli: Any, tmp_path: Path
) -> None:
    tests, reject_count = sorted_tests(store_dir), rejects(store_dir).height
    make, _ = CATALOG_DAMAGE[damage]
    make(store_dir / "catalog.sqlite")
    before = snapshot(store_dir)

    plan = repair_json(cli, store_dir)
    assert not plan["applied"] and snapshot(store_dir) == before
    assert {r["name"] for r in plan["reingest"]} == {str(p) for p in OCTOBER}  # from rejects

    done = repair_json(cli, store_dir, "--apply")
    actions = {(a["action"], a["path"].split("/")[0]) for a in done["actions"]}
    assert ("new catalog", "catalog.sqlite") in actions
    assert ("record", "boundaries") in actions and ("record", "results") in actions
    assert ("quarantine", "tests") in actions and ("quarantine", "rejects") in actions
    assert_nothing_lost(before, store_dir, changed=set())  # the old catalog too, set aside
    assert check_json(cli, store_dir)[0] == 0

    # Boundaries and results are back: the month's report can be written at once.
    listed = cli("boundaries", "list", "--store", store_dir, "--json")
    assert [v["communes"] for v in json.loads(listed.stdout)] == [30]
    report = cli("report", "--month", "2025-10", "--store", store_dir, "--out", tmp_path / "r")
    assert report.exit_code == 0, report.output

    again = cli("ingest", *OCTOBER, "--store", store_dir)
    assert again.exit_code == 0, again.output
    assert_frame_equal(sorted_tests(store_dir), tests)
    assert rejects(store_dir).height == reject_count
    assert check_json(cli, store_dir)[0] == 0


def _copy_analysis(folder: Path, target: Path, made_at: str, **changes: Any) -> Path:
    """A copy of an analysis folder as if it were made at ``made_at``, with ``changes``."""
    shutil.copytree(folder, target)
    meta = json.loads((target / "analysis.json").read_text(encoding="utf-8"))
    meta |= {"generated_at": made_at, **changes}
    (target / "analysis.json").write_text(json.dumps(meta), encoding="utf-8")
    return target


def test_a_lost_catalog_is_rebuilt_with_every_official_analysis_and_the_newest_variant(
    store_dir: Path, cli: Any
) -> None:
    """Earlier official analyses are kept (a report sent earlier can be made again);
    of two variants of one name, only the newest is the variant."""
    (results,) = (store_dir / "results" / "2025-10").iterdir()
    older = _copy_analysis(
        results, results.with_name("20200101T000000-0badc0de"), "2020-01-01T00:00:00+00:00"
    )
    variants = store_dir / "variants" / "2025-10"
    variants.mkdir(parents=True)
    named = {"official": False, "name": "4G-35"}
    old_variant = _copy_analysis(
        results, variants / "20200101T000000-0ldc0de0", "2020-01-01T00:00:00+00:00", **named
    )
    new_variant = _copy_analysis(
        results, variants / "20200102T000000-0ewc0de0", "2020-01-02T00:00:00+00:00", **named
    )
    (store_dir / "catalog.sqlite").unlink()
    done = repair_json(cli, store_dir, "--apply")
    why = {a["path"]: (a["action"], a["why"]) for a in done["actions"]}
    assert why[old_variant.relative_to(store_dir).as_posix()] == (
        "quarantine",
        "an older variant of the same name",
    )
    for kept in (results, older, new_variant):
        assert why[kept.relative_to(store_dir).as_posix()][0] == "record"
    store = Store.open(store_dir, timezone=TZ)
    assert [a.path for a in store.artifacts("results")] == [results, older]
    (variant,) = store.artifacts("variants")
    assert variant.path == new_variant and variant.meta["name"] == "4G-35"
    listed = json.loads(
        cli("analyses", "--month", "2025-10", "--store", store_dir, "--json").stdout
    )
    assert [(a["role"], a["name"]) for a in listed["analyses"]] == [
        ("official", None),
        ("earlier", None),
        ("variant", "4G-35"),
    ]


def test_repair_help_says_nothing_is_deleted(cli: Any) -> None:
    words = " ".join(cli("store", "repair", "--help").output.split())
    assert "Nothing is ever deleted" in words and "--apply" in words
    words = " ".join(cli("store", "check", "--help").output.split())
    assert "Exit codes: 0 the catalog and the files agree" in words


def test_the_docs_say_what_to_do_when_the_store_is_damaged() -> None:
    cron = (REPO / "docs" / "cron.md").read_text(encoding="utf-8")
    assert "## When the store is damaged" in cron
    for words in ("the catalog is missing", "this stored part is missing", "is a symbolic link"):
        assert words in cron, words
    for command in ("qostool store check", "qostool store repair --apply", "quarantine/"):
        assert command in cron, command
    architecture = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert "## The store defends itself" in architecture and "storecheck.py" in architecture
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "qostool store check" in readme and "docs/cron.md#when-the-store-is-damaged" in readme
