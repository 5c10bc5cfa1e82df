"""A store that defends itself: nothing it holds is deleted because something else looks wrong.

A missing, empty or foreign catalog beside stored data, a part deleted or damaged by
hand, links planted in place of the lock files, a read-only store: each is an error
that names the path and what to do (or, for commands that only read, no error at
all), and after each the store's files are all there, byte for byte.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qostool.analyze.run import AnalyzeOptions, analyze_month
from qostool.errors import ExitCode, StoreError
from qostool.geo.boundaries import BoundaryOptions
from qostool.geo.versions import import_boundaries
from qostool.ingest import ingest_paths
from qostool.store import Store
from tests.conftest import REPO, TZ, assert_user_error

SAMPLES = REPO / "data" / "samples"
OCTOBER = (SAMPLES / "ispeed_2025-10.csv", SAMPLES / "rtr_2025-10.csv")
NOVEMBER = SAMPLES / "rtr_2025-11.csv"
#: One test in June 2025: a month no stored part is near.
JUNE = "test_id,time,latitude,longitude,download_mbps\nj1,2025-06-10T10:00:00+07:00,22.3,103.4,40\n"


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of a store and its bytes (but the lock holder's note, rewritten by a lock)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and p.name != ".lock.holder"
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """October's samples ingested, the province imported, October analysed."""
    root = tmp_path_factory.mktemp("defence") / "store"
    ingest_paths([str(p) for p in OCTOBER], store=root)
    store = Store.open(root, timezone=TZ)
    import_boundaries(store, SAMPLES / "province.geojson", BoundaryOptions())
    analyze_month(store, AnalyzeOptions(month="2025-10"))
    return root


@pytest.fixture
def store_dir(built: Path, tmp_path: Path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(built, root, symlinks=True)
    return root


def data_parts(root: Path) -> list[Path]:
    return sorted((root / "tests").rglob("*.parquet"))


# -- 1. the catalog is the commit record ------------------------------------------------


def _remove(catalog: Path) -> None:
    catalog.unlink()


def _truncate(catalog: Path) -> None:
    catalog.write_bytes(b"")


def _garbage(catalog: Path) -> None:
    catalog.write_bytes(b"this was a catalog before the copy went wrong\n" * 20)


def _no_tables(catalog: Path) -> None:
    catalog.unlink()
    db = sqlite3.connect(catalog)  # a valid SQLite file, but not a catalog
    db.execute("CREATE TABLE other (x)")
    db.commit()
    db.close()


def _fresh(catalog: Path) -> None:
    """What an older qostool's 'status' made after the catalog was deleted: tables, no rows."""
    db = sqlite3.connect(catalog)
    for table in ("files", "parts", "artifacts", "steps", "runs"):
        db.execute(f"DELETE FROM {table}")
    db.commit()
    db.close()


CATALOG_DAMAGE = {
    "missing": (_remove, "the catalog is missing"),
    "zero-bytes": (_truncate, "the catalog is empty (0 bytes)"),
    "not-sqlite": (_garbage, "the catalog is not an SQLite database"),
    "no-tables": (_no_tables, "the catalog lacks its tables"),
    "no-records": (_fresh, "the catalog records no part and no artifact"),
}


@pytest.mark.parametrize("damage", CATALOG_DAMAGE, ids=list(CATALOG_DAMAGE))
@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["ingest", NOVEMBER],
        ["analyze", "--month", "2025-10"],
        ["report", "--month", "2025-10", "--out", "OUT"],
        ["boundaries", "list"],
    ],
    ids=["status", "ingest", "analyze", "report", "boundaries-list"],
)
def test_a_lost_catalog_beside_data_is_an_error_and_nothing_is_deleted(
    damage: str, command: list[Any], store_dir: Path, cli: Any, tmp_path: Path
) -> None:
    make, problem = CATALOG_DAMAGE[damage]
    catalog = store_dir / "catalog.sqlite"
    make(catalog)
    before = snapshot(store_dir)
    out = tmp_path / "out"
    result = cli(*[out if a == "OUT" else a for a in command], "--store", store_dir)
    assert_user_error(
        result,
        f"{catalog}: {problem}",
        "data file(s)",
        "restore catalog.sqlite from a backup",
        "qostool store check",
    )
    assert snapshot(store_dir) == before  # not one file deleted, changed or added
    assert not (tmp_path / "out").exists()


def test_a_cron_run_on_a_lost_catalog_fails_with_the_hint_and_deletes_nothing(
    store_dir: Path, cli: Any, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(NOVEMBER, inbox)
    (store_dir / "catalog.sqlite").unlink()
    before = snapshot(store_dir)
    result = cli(
        "run", "--store", store_dir, "--inbox", inbox, "--month", "2025-10", "--log-format", "json"
    )
    assert result.exit_code == ExitCode.ERROR, result.output
    failed = json.loads(result.stderr.splitlines()[-1])
    assert failed["event"] == "run.failed"
    assert failed["message"].startswith(f"{store_dir / 'catalog.sqlite'}: the catalog is missing")
    assert "restore catalog.sqlite from a backup" in failed["hint"]
    assert snapshot(store_dir) == before


def test_a_lost_catalog_then_a_lock_deletes_nothing(store_dir: Path) -> None:
    # The library's own way in: a store object opened before the catalog went away.
    store = Store.open(store_dir, timezone=TZ)
    (store_dir / "catalog.sqlite").write_bytes(b"")
    before = snapshot(store_dir)
    with pytest.raises(StoreError, match="the catalog is empty"), store.write_lock():
        pass
    assert snapshot(store_dir) == before


def test_a_lost_store_description_beside_data_is_not_made_again(store_dir: Path, cli: Any) -> None:
    (store_dir / "store.json").unlink()
    before = snapshot(store_dir)
    result = cli("ingest", NOVEMBER, "--store", store_dir)
    assert_user_error(result, f"{store_dir / 'store.json'}: missing", '"layout": 1')
    assert snapshot(store_dir) == before


def test_a_new_store_is_still_made(cli: Any, tmp_path: Path) -> None:
    root = tmp_path / "new"
    assert cli("status", "--store", root).exit_code == 1  # no store here: nothing made
    assert not root.exists()
    result = cli("ingest", NOVEMBER, "--store", root)
    assert result.exit_code == 0, result.output
    assert cli("status", "--store", root).exit_code == 0
    assert data_parts(root)


def test_an_unrecorded_part_is_kept_by_the_next_writer(
    store_dir: Path, cli: Any, write: Callable[..., Path]
) -> None:
    # Not a leftover a killed commit noted: a part whose record was lost. Kept on disk
    # (reported by 'store check', set aside by 'store repair'), never deleted.
    stray = store_dir / "tests" / "month=2025-10" / "20250101T000000-0badc0de-0000.parquet"
    shutil.copy(data_parts(store_dir)[0], stray)
    before = snapshot(store_dir)
    result = cli("ingest", write("june.csv", JUNE), "--store", store_dir)
    assert result.exit_code == 0, result.output
    after = snapshot(store_dir)
    assert all(after[name] == data for name, data in before.items() if name != "catalog.sqlite")
    assert stray.read_bytes() == before[stray.relative_to(store_dir).as_posix()]


def _unrecorded_parts(root: Path) -> set[str]:
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*.parquet")}
    store = Store.open(root, timezone=TZ)
    listed = {
        p.relative_to(root).as_posix() for k in ("tests", "rejects") for p in store.part_paths(k)
    }
    return {p for p in on_disk if p.split("/")[0] in ("tests", "rejects")} - listed


@pytest.mark.slow
def test_a_killed_commits_leftovers_are_deleted_and_nothing_else(
    store_dir: Path, cli: Any, write: Callable[..., Path]
) -> None:
    # A commit killed after moving a part into place leaves it unrecorded, with the note
    # it wrote in staging/ before moving it: the next writer deletes that part, and only it.
    before = snapshot(store_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QOSTOOL_")}
    killed = subprocess.run(
        [sys.executable, "-m", "qostool", "ingest", str(NOVEMBER), "--store", str(store_dir)],
        env={**env, "QOSTOOL_CRASH_AT": "after-part-moved"},
        capture_output=True,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(_unrecorded_parts(store_dir)) == 1  # the part moved before the kill
    stray = store_dir / "rejects" / "20250101T000000-0badc0de-0000.parquet"
    shutil.copy(data_parts(store_dir)[0], stray)
    assert cli("ingest", write("june.csv", JUNE), "--store", store_dir).exit_code == 0
    assert _unrecorded_parts(store_dir) == {stray.relative_to(store_dir).as_posix()}
    after = snapshot(store_dir)
    assert all(after[name] == data for name, data in before.items() if name != "catalog.sqlite")


# -- 2. links planted in place of the lock files ----------------------------------------


@pytest.mark.parametrize("name", [".lock", ".lock.holder"])
def test_a_linked_lock_file_is_refused_and_its_target_untouched(
    name: str, store_dir: Path, cli: Any, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    (store_dir / name).unlink(missing_ok=True)
    (store_dir / name).symlink_to(victim)
    before = snapshot(store_dir)
    result = cli("ingest", NOVEMBER, "--store", store_dir)
    assert_user_error(result, f"{store_dir / name}: is a symbolic link", "delete the link")
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert snapshot(store_dir) == before


@pytest.mark.parametrize("name", [".lock", ".lock.holder"])
def test_a_dangling_link_makes_no_file_where_it_points(
    name: str, store_dir: Path, cli: Any, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere" / "made-by-qostool"
    target.parent.mkdir()
    (store_dir / name).unlink(missing_ok=True)
    (store_dir / name).symlink_to(target)
    result = cli("ingest", NOVEMBER, "--store", store_dir)
    assert_user_error(result, f"{store_dir / name}: is a symbolic link")
    assert not target.exists()


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="no O_NOFOLLOW here")
def test_a_link_made_after_the_check_is_not_followed_either(
    store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A link made between the check and the open (a race): the open itself refuses it.
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    (store_dir / ".lock.holder").unlink()
    (store_dir / ".lock.holder").symlink_to(victim)
    monkeypatch.setattr(Path, "is_symlink", lambda self: False)
    store = Store.open(store_dir, timezone=TZ)
    with pytest.raises(StoreError, match="is a symbolic link"), store.write_lock():
        pass
    assert victim.read_text(encoding="utf-8") == "precious\n"


@pytest.mark.parametrize("name", [".lock", ".lock.holder"])
def test_without_o_nofollow_the_check_alone_refuses_a_link(
    name: str, store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Windows has no O_NOFOLLOW: there the check before the open is the guard.
    import qostool.store

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    (store_dir / name).unlink()
    (store_dir / name).symlink_to(victim)
    monkeypatch.setattr(qostool.store, "_NOFOLLOW", 0)
    store = Store.open(store_dir, timezone=TZ)
    with pytest.raises(StoreError, match="is a symbolic link"), store.write_lock():
        pass
    assert victim.read_text(encoding="utf-8") == "precious\n"


def test_a_waiting_process_does_not_quote_a_linked_holder(store_dir: Path, tmp_path: Path) -> None:
    from qostool.errors import StoreBusyError

    secret = tmp_path / "secret.txt"
    secret.write_text("not for the error message", encoding="utf-8")
    store = Store.open(store_dir, timezone=TZ)
    with store.write_lock():
        (store_dir / ".lock.holder").unlink()
        (store_dir / ".lock.holder").symlink_to(secret)
        other = Store.open(store_dir, timezone=TZ)
        with pytest.raises(StoreBusyError) as info, other.write_lock():
            pass
    assert "not for the error message" not in str(info.value)


# -- 3. a part deleted or damaged by hand -----------------------------------------------


def _delete(part: Path) -> None:
    part.unlink()


def _empty(part: Path) -> None:
    part.write_bytes(b"")


def _cut(part: Path) -> None:
    part.write_bytes(part.read_bytes()[:300])


PART_DAMAGE = {
    "deleted": (_delete, "is missing"),
    "emptied": (_empty, "is damaged"),
    "truncated": (_cut, "is damaged"),
}


@pytest.mark.parametrize("damage", PART_DAMAGE, ids=list(PART_DAMAGE))
@pytest.mark.parametrize(
    "command",
    [["status"], ["analyze", "--month", "2025-10"], ["ingest", NOVEMBER]],
    ids=["status", "analyze", "ingest"],
)
def test_a_part_lost_by_hand_is_named_with_the_way_to_repair(
    damage: str, command: list[Any], store_dir: Path, cli: Any
) -> None:
    make, problem = PART_DAMAGE[damage]
    part = data_parts(store_dir)[0]
    make(part)
    before = snapshot(store_dir)
    result = cli(*command, "--store", store_dir)
    relative = part.relative_to(store_dir).as_posix()
    assert_user_error(result, relative, problem, "qostool store check", "qostool store repair")
    assert snapshot(store_dir) == before


def test_a_part_lost_by_hand_does_not_stop_an_unrelated_ingest(
    store_dir: Path, cli: Any, write: Callable[..., Path]
) -> None:
    data_parts(store_dir)[0].unlink()
    result = cli("ingest", write("june.csv", JUNE), "--store", store_dir)
    assert result.exit_code == 0, result.output


def test_a_results_folder_deleted_by_hand_is_named(store_dir: Path, cli: Any) -> None:
    (folder,) = (store_dir / "results" / "2025-10").iterdir()
    shutil.rmtree(folder)
    result = cli("status", "--store", store_dir)
    assert_user_error(
        result, folder.relative_to(store_dir).as_posix(), "is missing", "qostool store repair"
    )


# -- 4. a read-only store ---------------------------------------------------------------


@pytest.fixture
def read_only_catalog(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every catalog opened read-only, as SQLite opens a file it may not write.

    Tests run as root, whom file permissions do not stop: this is what SQLite does
    for a user who may read the catalog but not write it (or its folder).
    """
    real = sqlite3.connect

    def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        uri = Path(database).resolve().as_uri() + "?mode=ro"
        return real(uri, *args, **{**kwargs, "uri": True})

    monkeypatch.setattr(sqlite3, "connect", connect)
    yield


@pytest.mark.usefixtures("read_only_catalog")
def test_a_read_only_catalog_still_reads(store_dir: Path, cli: Any, tmp_path: Path) -> None:
    before = snapshot(store_dir)
    status = cli("status", "--store", store_dir, "--json")
    assert status.exit_code == 0, status.output
    report = cli("report", "--month", "2025-10", "--store", store_dir, "--out", tmp_path / "out")
    assert report.exit_code == 0, report.output
    listed = cli("boundaries", "list", "--store", store_dir)
    assert listed.exit_code == 0, listed.output
    checked = cli("store", "check", "--store", store_dir)
    assert checked.exit_code == 0, checked.output
    planned = cli("store", "repair", "--store", store_dir)
    assert planned.exit_code == 0, planned.output
    assert snapshot(store_dir) == before


@pytest.mark.usefixtures("read_only_catalog")
@pytest.mark.parametrize(
    "command",
    [["ingest", NOVEMBER], ["analyze", "--month", "2025-10"]],
    ids=["ingest", "analyze"],
)
def test_a_read_only_catalog_stops_a_writer_before_it_writes(
    command: list[Any], store_dir: Path, cli: Any
) -> None:
    before = snapshot(store_dir)
    result = cli(*command, "--store", store_dir)
    assert_user_error(
        result,
        f"{store_dir / 'catalog.sqlite'}: permission denied",
        "check the permissions of the file and its folder",
    )
    assert snapshot(store_dir) == before


def test_a_store_folder_that_cannot_be_written(
    store_dir: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lock file cannot be opened for writing: a read-only folder or disk.
    real = os.open
    lock = str(store_dir / ".lock")

    def no_write(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.fspath(path) == lock and flags & (os.O_WRONLY | os.O_RDWR):
            raise OSError(errno.EROFS, "Read-only file system", lock)
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_write)
    before = snapshot(store_dir)
    assert cli("status", "--store", store_dir).exit_code == 0
    result = cli("ingest", NOVEMBER, "--store", store_dir)
    assert_user_error(
        result, f"{lock}: the file system is read-only", "choose a folder on a writable disk"
    )
    assert snapshot(store_dir) == before
