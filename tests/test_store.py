"""Store safety: a run killed at any point leaves no partial batch, and the next run completes.

Every kill is proven to have landed mid-run: the child died of the signal (a run that
had already finished exits 0), and the store it left holds fewer files than the run
was given. Kills are timed by what the child writes (a part staged, a part moved into
place), never by a fixed sleep, which a fast or slow machine turns into a kill before
the run starts or after it ended.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
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


def _orphans(store: Path) -> set[str]:
    """Parts on disk in the store's tables that its catalog does not list (leftovers)."""
    opened = Store.open(store, timezone=TZ)
    listed = {
        p.relative_to(store).as_posix() for k in ("tests", "rejects") for p in opened.part_paths(k)
    }
    on_disk = {
        p.relative_to(store).as_posix()
        for k in ("tests", "rejects")
        if (store / k).is_dir()
        for p in (store / k).rglob("*.parquet")
    }
    return on_disk - listed


#: Per crash point: the files committed when the run dies there, and whether a part
#: was moved into place without being recorded (a leftover the next run removes).
CRASHED_AT = {
    "after-part-moved": (0, True),  # the first file's first part moved, nothing recorded
    "before-commit": (0, False),  # the first file staged, nothing moved
    "after-commit": (1, False),  # the first file recorded; its staging not yet cleaned
}


@pytest.mark.slow
@pytest.mark.parametrize("point", list(CRASHED_AT))
def test_killed_at_each_commit_step_then_rerun(
    export: list[Path], tmp_path: Path, point: str
) -> None:
    store = tmp_path / "store"
    killed = _run(store, export, crash_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr  # died at the point, mid-run
    committed, leftover = CRASHED_AT[point]
    assert bool(_orphans(store)) is leftover
    # Whatever was visible after the crash is whole batches only: no test twice, nothing partial.
    after_crash = stored(store)
    assert after_crash["test_id"].n_unique() == after_crash.height
    assert len(Store.open(store, timezone=TZ).files()) == committed
    assert after_crash.height == committed * ROWS  # nothing, or exactly the first file
    rerun = _run(store, export)
    assert rerun.returncode == 0, rerun.stderr
    _assert_complete(store)
    assert not _orphans(store)  # no orphan part is left on disk either


def _batches(folder: Path, *, staged: bool) -> set[str]:
    """Batch ids with a part in ``folder``: staging folders holding a file, or moved parts.

    The child creates and removes these while the parent looks: anything gone by the
    time it is listed is simply not counted.
    """
    found: set[str] = set()
    try:
        if staged:
            for batch in folder.iterdir():
                if batch.is_dir() and any(batch.iterdir()):
                    found.add(batch.name)
        else:
            found = {p.name.rsplit("-", 1)[0] for p in folder.rglob("*.parquet")}
    except FileNotFoundError:
        pass
    return found


#: Moments of an ingest run of three files, each seen in what the child has written.
EVENTS: dict[str, Callable[[Path], bool]] = {
    # The first file's parts are being written to staging.
    "part-staged": lambda s: bool(_batches(s / "staging", staged=True)),
    # The first file's commit has begun: a part is in place (recorded or not yet).
    "part-moved": lambda s: bool(_batches(s / "tests", staged=False)),
    # The first file is committed and the next one is being staged.
    "next-file-staged": lambda s: bool(
        _batches(s / "tests", staged=False)
        and _batches(s / "staging", staged=True) - _batches(s / "tests", staged=False)
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("event", list(EVENTS))
def test_sigkill_mid_run_then_rerun(export: list[Path], tmp_path: Path, event: str) -> None:
    """SIGKILL as soon as the child is seen at a moment of its run, then run again.

    The kill lands wherever the child has got to by then (writing a part, moving one,
    recording a file), not at a crash point; the test fails, rather than passing
    without testing anything, when the run ended before the kill.
    """
    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "qostool", "ingest", *map(str, export), "--store", str(store)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen = EVENTS[event]
    deadline = time.monotonic() + 120
    try:
        while not seen(store) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)  # a poll, not a delay: the kill follows the event at once
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the run ended ({proc.returncode}) before {event}"
    committed = len(Store.open(store, timezone=TZ).files())
    assert committed < len(export)  # mid-run: not every file was recorded
    if event == "next-file-staged":
        assert committed >= 1
    partial = stored(store)
    assert partial["test_id"].n_unique() == partial.height
    assert partial.height == committed * ROWS  # whole files only (the third adds none)
    rerun = _run(store, export)
    assert rerun.returncode == 0, rerun.stderr
    _assert_complete(store)
    assert not _orphans(store)


def test_second_writer_gets_busy_error(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", timezone=TZ, create=True)
    with store.write_lock():
        other = Store.open(tmp_path / "s", timezone=TZ)
        with pytest.raises(StoreBusyError) as info, other.write_lock(wait_seconds=0.3):
            pass
        assert "another qostool process" in info.value.message
        assert f"pid {os.getpid()}" in info.value.message


def test_lock_of_a_dead_process_is_free(tmp_path: Path) -> None:
    """A child that took the lock and was killed holding it leaves it free.

    The child must really have died holding the lock: killed by the signal (a child
    that failed before locking exits 1, and proves nothing), after writing its pid
    as the lock's holder.
    """
    Store.open(tmp_path / "s", timezone=TZ, create=True)
    code = (
        "import os; from qostool.store import Store; "
        f"s = Store.open({str(tmp_path / 's')!r}, timezone={TZ!r}); "
        "lock = s.write_lock(); lock.__enter__(); os.kill(os.getpid(), 9)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stderr=subprocess.PIPE, text=True, encoding="utf-8"
    )
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, stderr
    holder = (tmp_path / "s" / ".lock.holder").read_text(encoding="utf-8")
    assert holder.split()[:2] == ["pid", str(child.pid)]
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
