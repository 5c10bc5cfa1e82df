"""Scratch folders: a run killed outright leaves its folder; the next run deletes it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qostool import scratch
from qostool.scratch import OWNER_FILE, remove_left_behind, scratch_folder

#: Holds a scratch folder (with a file of 3 MB in it) until the process is killed.
_HOLDER = """
import sys, time
from qostool.scratch import scratch_folder

with scratch_folder("qostool-test-", notice=print) as folder:
    (folder / "spill.bin").write_bytes(bytes(3 << 20))
    print(folder, flush=True)
    time.sleep(120)
"""


def _holder(tmp: Path) -> tuple[subprocess.Popen[str], Path]:
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER],
        env={**os.environ, "TMPDIR": str(tmp), "TEMP": str(tmp), "TMP": str(tmp)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    return child, Path(child.stdout.readline().strip())


def _kill(child: subprocess.Popen[str]) -> None:
    """SIGKILL on POSIX, TerminateProcess on Windows: no clean-up of the child's runs."""
    child.kill()
    child.communicate(timeout=30)


def _age(folder: Path, seconds: float) -> None:
    """Make ``folder`` look last changed ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(folder, (then, then))


def test_a_killed_runs_folder_goes_and_a_live_ones_stays(tmp_path: Path) -> None:
    killed, left = _holder(tmp_path)
    live, held = _holder(tmp_path)
    try:
        assert left.parent == tmp_path and (left / OWNER_FILE).exists()
        _kill(killed)
        assert (left / "spill.bin").exists()
        for folder in (left, held):
            _age(folder, scratch.FRESH_S + 5)
        removed = remove_left_behind(tmp_path, "qostool-test-")
        assert removed == [(left, 3 << 20)]
        assert not left.exists()
        assert (held / "spill.bin").exists()  # its run still holds the lock
        assert remove_left_behind(tmp_path, "qostool-test-") == []
    finally:
        _kill(live)
    _age(held, scratch.FRESH_S + 5)
    assert remove_left_behind(tmp_path, "qostool-test-") == [(held, 3 << 20)]


def test_fresh_unowned_and_other_folders(tmp_path: Path) -> None:
    """A folder changed within the last minute may be a run's that has not locked its
    file yet; one without the file (an older version's) goes only when a day old."""
    fresh = tmp_path / "qostool-test-fresh"
    (fresh).mkdir()
    (fresh / OWNER_FILE).touch()  # nobody holds it, but it is new
    unowned_young = tmp_path / "qostool-test-young"
    unowned_young.mkdir()
    _age(unowned_young, scratch.UNOWNED_AGE_S - 60)
    unowned_old = tmp_path / "qostool-test-old"
    unowned_old.mkdir()
    (unowned_old / "part.parquet").write_bytes(b"x" * 10)
    _age(unowned_old, scratch.UNOWNED_AGE_S + 60)
    other = tmp_path / "someone-else"
    other.mkdir()
    _age(other, scratch.UNOWNED_AGE_S + 60)
    assert remove_left_behind(tmp_path, "qostool-test-") == [(unowned_old, 10)]
    assert fresh.exists() and unowned_young.exists() and other.exists()
    _age(fresh, scratch.FRESH_S + 1)
    assert remove_left_behind(tmp_path, "qostool-test-") == [(fresh, 0)]


def test_a_new_folder_is_owned_then_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scratch.tempfile, "tempdir", str(tmp_path))
    stale = tmp_path / "qostool-test-stale"
    stale.mkdir()
    (stale / OWNER_FILE).touch()
    _age(stale, scratch.FRESH_S + 5)
    notices: list[str] = []
    with scratch_folder("qostool-test-", notice=notices.append) as folder:
        assert folder.parent == tmp_path and folder.name.startswith("qostool-test-")
        assert not stale.exists()
        _age(folder, scratch.FRESH_S + 5)
        assert remove_left_behind(tmp_path, "qostool-test-") == []  # ours: locked
    assert not folder.exists()
    assert len(notices) == 1 and str(stale) in notices[0] and "killed" in notices[0]
