"""Store safety: a run killed at any point leaves no partial batch, and the next run completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from qostool.errors import StoreBusyError, UsageError
from qostool.store import Store
from tests.conftest import TZ, rejects, stored

ROWS = 300_000


def _export(folder: Path) -> list[Path]:
    """Three files, one with a bad row, the last overlapping the first."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for k, (start, stop) in enumerate([(0, ROWS), (ROWS, 2 * ROWS), (ROWS - 1000, ROWS + 500)]):
        ids = range(start, stop)
        frame = pl.DataFrame(
            {
                "test_id": [f"T{i}" for i in ids],
                "time": ["2025-10-10T10:00:00+07:00"] * len(ids),
                "latitude": [21.5] * len(ids),
                "longitude": [103.2] * len(ids),
                "download_mbps": [float(i % 50) for i in ids],
            }
        )
        path = folder / f"part{k}.csv"
        frame.write_csv(path)
        files.append(path)
    with files[0].open("a") as fh:
        fh.write("bad,2025-10-10T10:00:00+07:00,,103.2,1\n")
    return files


def _run(
    store: Path, files: list[Path], crash_at: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "QOSTOOL_CRASH_AT"}
    if crash_at:
        env["QOSTOOL_CRASH_AT"] = crash_at
    cmd = [
        sys.executable,
        "-m",
        "qostool",
        "ingest",
        *map(str, files),
        "--store",
        str(store),
        "--json",
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)


def _assert_complete(store: Path) -> None:
    frame = stored(store)
    assert frame.height == 2 * ROWS
    assert frame["test_id"].n_unique() == 2 * ROWS
    assert rejects(store)["row"].to_list() == [ROWS + 2]
    assert len(Store.open(store, timezone=TZ).files()) == 3
    assert not (store / "staging").exists() or not any((store / "staging").iterdir())


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return _export(tmp_path_factory.mktemp("export"))


@pytest.mark.slow
@pytest.mark.parametrize("point", ["after-part-moved", "before-commit", "after-commit"])
def test_killed_at_each_commit_step_then_rerun(
    export: list[Path], tmp_path: Path, point: str
) -> None:
    store = tmp_path / "store"
    killed = _run(store, export, crash_at=point)
    assert killed.returncode == -signal.SIGKILL
    # Whatever was visible after the crash is whole batches only: no test twice, nothing partial.
    after_crash = stored(store)
    assert after_crash["test_id"].n_unique() == after_crash.height
    assert after_crash.height in (0, ROWS)  # nothing, or exactly the first file
    rerun = _run(store, export)
    assert rerun.returncode == 0, rerun.stderr
    _assert_complete(store)
    # No orphan part is left on disk either.
    on_disk = {p.relative_to(store).as_posix() for p in store.rglob("*.parquet")}
    listed = {
        p.relative_to(store).as_posix() for p in Store.open(store, timezone=TZ).part_paths("tests")
    }
    listed |= {
        p.relative_to(store).as_posix()
        for p in Store.open(store, timezone=TZ).part_paths("rejects")
    }
    assert on_disk == listed


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.8, 1.6, 2.4])
def test_sigkill_at_a_random_moment_then_rerun(
    export: list[Path], tmp_path: Path, delay: float
) -> None:
    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "qostool", "ingest", *map(str, export), "--store", str(store)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    if store.exists() and (store / "store.json").exists():
        partial = stored(store)
        assert partial["test_id"].n_unique() == partial.height
    rerun = _run(store, export)
    assert rerun.returncode == 0, rerun.stderr
    _assert_complete(store)


def test_second_writer_gets_busy_error(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", timezone=TZ, create=True)
    with store.write_lock():
        other = Store.open(tmp_path / "s", timezone=TZ)
        with pytest.raises(StoreBusyError) as info, other.write_lock(wait_seconds=0.3):
            pass
        assert "another qostool process" in info.value.message
        assert f"pid {os.getpid()}" in info.value.message


def test_lock_of_a_dead_process_is_free(tmp_path: Path) -> None:
    Store.open(tmp_path / "s", timezone=TZ, create=True)
    code = (
        "import os; from qostool.store import Store; "
        f"s = Store.open({str(tmp_path / 's')!r}, timezone={TZ!r}); "
        "lock = s.write_lock(); lock.__enter__(); os.kill(os.getpid(), 9)"
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    with Store.open(tmp_path / "s", timezone=TZ).write_lock():
        pass


def test_store_remembers_its_time_zone(tmp_path: Path) -> None:
    Store.open(tmp_path / "s", timezone=TZ, create=True)
    with pytest.raises(UsageError, match="--timezone Asia/Ho_Chi_Minh"):
        Store.open(tmp_path / "s", timezone="UTC")


def test_secret_is_private_and_stable(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", timezone=TZ, create=True)
    with store.write_lock():
        key = store.secret()
        assert store.secret() == key and len(key) == 32
    assert (tmp_path / "s" / "secret.key").stat().st_mode & 0o077 == 0
