"""File-system problems are the user's to fix: a clear error naming the path and the fix.

Permission denied, a read-only disk, a full disk, a file where a folder should
be: exit 1 with "Error: <path>: <what happened>" and a hint, never "Internal
error ... This is a bug in qostool". Real situations where they can be made
(tests run as root, so permissions cannot be taken away): a regular file in the
way of ``--out``, ``/dev/full`` for a full disk; the others by making the write
function a command uses raise the error the system would.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from qostool.errors import (
    ExitCode,
    QostoolError,
    as_user_error,
    from_os_error,
    is_user_os_error,
    os_error_in_message,
)
from qostool.report import write
from qostool.store import Store
from tests.conftest import assert_user_error, one_line
from tests.test_report import sample_store
from tests.test_run import MONTH, setup_folder

__all__ = ["sample_store"]  # the module-scoped store of test_report, used here by name

DEV_FULL = Path("/dev/full")  # every write to it fails with ENOSPC (Linux)
needs_dev_full = pytest.mark.skipif(not DEV_FULL.exists(), reason="no /dev/full here")

PATH = str(Path("reports") / "2025-10" / "report.xlsx")


def windows_error(code: int, winerror: int, path: str) -> OSError:
    """An OSError as Windows makes it: ``winerror`` set (only Windows sets it from args)."""
    exc = OSError(code, os.strerror(code), path, winerror)
    if getattr(exc, "winerror", None) is None:  # not on Windows: the 4th argument is ignored
        setattr(exc, "winerror", winerror)  # noqa: B010
    return exc


# -- the errno table -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "what", "fix"),
    [
        (errno.EACCES, "permission denied", "check the permissions"),
        (errno.EPERM, "operation not permitted", "check the permissions"),
        (errno.EROFS, "the file system is read-only", "a folder on a writable disk"),
        (errno.ENOSPC, "the disk is full", "free space on that disk"),
        (errno.EDQUOT, "the disk quota is used up", "free space on that disk"),
        (errno.ENOENT, "no such file or folder", "create the missing folder"),
        (errno.ENOTDIR, "a part of this path is a file, not a folder", "move away the file"),
        (errno.EISDIR, "this is a folder, not a file", "give the path of a file"),
        (errno.EEXIST, "already exists", "move or rename what is there"),
        (errno.ENAMETOOLONG, "the path is too long", "a shorter path"),
        (errno.EMFILE, "too many open files", "raise the limit of open files"),
        (errno.ENFILE, "too many open files", "close other programs"),
        (errno.EBUSY, "the file is busy (in use by another program)", "close the program"),
    ],
)
def test_each_errno_names_the_path_what_happened_and_the_fix(
    code: int, what: str, fix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    exc = OSError(code, os.strerror(code), PATH)
    error = from_os_error(exc)
    assert isinstance(error, QostoolError)
    assert error.exit_code == ExitCode.ERROR
    assert error.message == f"{PATH}: {what}"
    assert error.hint is not None and fix in error.hint
    assert "Excel" not in error.hint or code == errno.EBUSY  # the Windows advice, on Windows
    assert is_user_os_error(exc)


def test_the_disk_full_hint_says_the_store_kept_nothing_half_written() -> None:
    hint = from_os_error(OSError(errno.ENOSPC, "No space left on device", PATH)).hint
    assert hint is not None
    assert "--store" in hint and "--out" in hint and "never keeps a half-written batch" in hint


def test_both_paths_of_a_rename_are_named() -> None:
    exc = PermissionError(errno.EACCES, "Permission denied", "out/.report.tmp", None, PATH)
    assert from_os_error(exc).message == f"out/.report.tmp -> {PATH}: permission denied"


def test_bytes_paths_are_decoded() -> None:
    exc = FileNotFoundError(errno.ENOENT, "No such file or directory", os.fsencode("thư mục"))
    assert from_os_error(exc).message == "thư mục: no such file or folder"


def test_an_unknown_errno_keeps_the_system_message_and_the_path() -> None:
    exc = OSError(errno.ELOOP, os.strerror(errno.ELOOP), PATH)
    error = from_os_error(exc)
    assert error.message == f"{PATH}: {os.strerror(errno.ELOOP)}"
    assert error.hint == "check the path and the disk, then run again"
    assert is_user_os_error(exc)


@pytest.mark.parametrize("winerror", [32, 33])
def test_a_windows_sharing_violation_says_close_the_file(winerror: int) -> None:
    exc = windows_error(errno.EACCES, winerror, PATH)
    error = from_os_error(exc)
    assert error.message == f"{PATH}: the file is open in another program"
    assert error.hint == "close it (e.g. in Excel), then run again"
    assert is_user_os_error(windows_error(errno.EACCES, winerror, ""))  # even without a path


def test_permission_denied_on_windows_mentions_excel(monkeypatch: pytest.MonkeyPatch) -> None:
    exc = PermissionError(errno.EACCES, "Permission denied", PATH)
    monkeypatch.setattr(sys, "platform", "linux")
    assert "Excel" not in str(from_os_error(exc).hint)
    monkeypatch.setattr(sys, "platform", "win32")
    hint = str(from_os_error(exc).hint)
    assert hint.startswith("check the permissions")
    assert "close the file if it is open in a program such as Excel" in hint
    # WinError 5 (access denied) is what replacing a file open in Excel gives.
    assert "Excel" in str(from_os_error(windows_error(errno.EACCES, 5, PATH)).hint)


@pytest.mark.parametrize(
    ("exc", "user"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
        (OSError(errno.EROFS, "Read-only file system"), True),
        (OSError(errno.EMFILE, "Too many open files"), True),
        (OSError(errno.ENOENT, "No such file or directory"), False),  # which file? a bug
        (PermissionError(errno.EACCES, "Permission denied"), False),
        (OSError("cannot load library 'pango-1.0'"), False),  # no errno, no path
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), False),
    ],
)
def test_without_a_path_only_the_machines_conditions_are_user_errors(
    exc: OSError, user: bool
) -> None:
    assert is_user_os_error(exc) is user
    assert (as_user_error(exc) is not None) is user


def test_the_path_less_disk_full_message_still_says_what_to_do() -> None:
    error = from_os_error(OSError(errno.ENOSPC, "No space left on device"))
    assert error.message == "the disk is full"
    assert error.hint is not None and "free space" in error.hint


# -- what Polars raises ----------------------------------------------------------------


def test_a_polars_os_error_without_errno_gets_its_path_and_errno_back(tmp_path: Path) -> None:
    in_the_way = tmp_path / "afile"
    in_the_way.write_text("", encoding="utf-8")
    target = in_the_way / "stats.csv"
    with pytest.raises(OSError) as raised:
        pl.DataFrame({"a": [1]}).write_csv(target)
    # Polars gives OSError('Not a directory (os error 20): <path>'), no errno, no filename.
    assert is_user_os_error(raised.value)
    error = from_os_error(raised.value)
    assert error.message == f"{target}: a part of this path is a file, not a folder"


@needs_dev_full
def test_a_polars_compute_error_of_a_full_disk_is_a_full_disk() -> None:
    with pytest.raises(pl.exceptions.ComputeError) as raised:
        pl.DataFrame({"a": list(range(100_000))}).write_parquet(DEV_FULL)
    found = os_error_in_message(raised.value)
    assert found is not None and found.errno == errno.ENOSPC
    error = as_user_error(raised.value)
    assert error is not None and error.message == "the disk is full"
    assert os_error_in_message(RuntimeError("no OS error here")) is None
    assert as_user_error(RuntimeError("no OS error here")) is None


def test_a_rust_error_on_windows_is_a_windows_error_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    text = (
        "The process cannot access the file because it is being used by another process. "
        r"(os error 32): results\2025-10\stats.csv"
    )
    error = from_os_error(OSError(text))
    assert error.message == r"results\2025-10\stats.csv: the file is open in another program"
    full = from_os_error(OSError("There is not enough space on the disk. (os error 112)"))
    assert full.message == "the disk is full"


# -- the command line: report --out ----------------------------------------------------


@pytest.fixture
def store_copy(sample_store: Store, tmp_path: Path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(sample_store.root, root)
    return root


def report(cli: Any, store: Path, out: Path, *more: str) -> Any:
    return cli("report", "--month", "2025-10", "--store", store, "--out", out, *more)


def test_report_makes_a_missing_out_folder_and_its_parents(
    cli: Any, store_copy: Path, tmp_path: Path
) -> None:
    out = tmp_path / "reports" / "2025" / "province"
    result = report(cli, store_copy, out)
    assert result.exit_code == 0, result.output
    assert (out / "2025-10" / "report.html").is_file()


def test_report_out_is_a_file(cli: Any, store_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports.txt"
    out.write_text("not a folder\n", encoding="utf-8")
    result = report(cli, store_copy, out)
    assert_user_error(
        result,
        f"{out / '2025-10'}: a part of this path is a file, not a folder",
        "move away the file that is in the way",
    )
    assert out.read_text(encoding="utf-8") == "not a folder\n"


def test_report_month_folder_is_a_file(cli: Any, store_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    (out / "2025-10").write_text("", encoding="utf-8")
    result = report(cli, store_copy, out)
    assert_user_error(result, f"{out / '2025-10'}: already exists", "move or rename what is there")


def test_a_path_with_brackets_is_printed_as_it_is(
    cli: Any, store_copy: Path, tmp_path: Path
) -> None:
    out = tmp_path / "[bold]reports"
    out.write_text("", encoding="utf-8")
    assert_user_error(report(cli, store_copy, out), f"{out / '2025-10'}: a part of this path")


@pytest.mark.parametrize(
    ("exc", "needles"),
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "PATH"),
            ["PATH: the disk is full", "free space on that disk"],
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "PATH"),
            ["PATH: permission denied", "check the permissions of the file and its folder"],
        ),
        (
            OSError(errno.EROFS, "Read-only file system"),  # no path: still the user's
            ["Error: the file system is read-only", "choose a folder on a writable disk"],
        ),
        (
            windows_error(errno.EACCES, 32, "PATH"),
            ["PATH: the file is open in another program", "close it (e.g. in Excel)"],
        ),
    ],
    ids=["ENOSPC", "EACCES", "EROFS-no-path", "winerror-32"],
)
def test_report_write_fails(
    exc: OSError,
    needles: list[str],
    *,
    cli: Any,
    store_copy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "reports"
    target = str(out / "2025-10" / "report.html")
    if exc.filename == "PATH":
        exc.filename = target

    def fail(path: Path, data: bytes) -> None:
        raise exc

    monkeypatch.setattr(write, "write_atomic", fail)
    result = report(cli, store_copy, out)
    assert_user_error(result, *(n.replace("PATH", target) for n in needles))


def test_a_real_bug_is_still_an_internal_error(
    cli: Any, store_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for exc in (RuntimeError("boom"), OSError("cannot load library 'x'")):

        def fail(path: Path, data: bytes, exc: Exception = exc) -> None:
            raise exc

        monkeypatch.setattr(write, "write_atomic", fail)
        result = report(cli, store_copy, tmp_path / "reports")
        assert result.exit_code == ExitCode.ERROR
        text = one_line(result)
        assert f"Internal error: {type(exc).__name__}" in text
        assert "This is a bug in qostool" in text


def test_debug_shows_the_traceback_of_an_os_error(
    cli: Any, store_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(path: Path, data: bytes) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(write, "write_atomic", fail)
    with pytest.raises(PermissionError):  # the CLI runner does not catch it: a traceback
        report(cli, store_copy, tmp_path / "reports", "--debug")


# -- analyze --export --out, the store, the log file -----------------------------------


def test_analyze_export_out_is_a_file(cli: Any, store_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    out.write_text("", encoding="utf-8")
    result = cli(
        "analyze", "--month", "2025-10", "--store", store_copy, "--export", "csv", "--out", out
    )
    assert_user_error(
        result,
        f"{out / '2025-10'}: a part of this path is a file, not a folder",
        "move away the file that is in the way",
    )


def test_analyze_export_makes_missing_parents(cli: Any, store_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "results" / "province"
    result = cli(
        "analyze", "--month", "2025-10", "--store", store_copy, "--export", "csv", "--out", out
    )
    assert result.exit_code == 0, result.output
    assert (out / "2025-10" / "stats.csv").is_file()


def test_analyze_xlsx_export_that_cannot_be_written(
    cli: Any, store_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """xlsxwriter wraps the OSError (e.g. the file open in Excel) in its FileCreateError."""
    out = tmp_path / "results"
    (out / "2025-10" / "qostool-2025-10.xlsx").mkdir(parents=True)  # a folder in the way
    result = cli(
        "analyze", "--month", "2025-10", "--store", store_copy, "--export", "xlsx", "--out", out
    )
    assert_user_error(
        result,
        f"{out / '2025-10' / 'qostool-2025-10.xlsx'}: this is a folder, not a file",
        "give the path of a file",
    )


@needs_dev_full
def test_ingest_into_a_full_disk(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Polars writing a part to a full disk: a ComputeError whose message holds ENOSPC."""
    real = pl.DataFrame.write_parquet

    def to_a_full_disk(frame: pl.DataFrame, path: Any, **kwargs: Any) -> None:
        real(frame, DEV_FULL, **kwargs)

    source = Path(__file__).resolve().parents[1] / "data" / "samples" / "rtr_2025-10.csv"
    monkeypatch.setattr(pl.DataFrame, "write_parquet", to_a_full_disk)
    store = tmp_path / "store"
    result = cli("ingest", source, "--store", store)
    assert_user_error(result, "Error: the disk is full", "free space on that disk")
    monkeypatch.undo()
    assert Store.open(store, timezone="Asia/Ho_Chi_Minh").scan_tests().collect().height == 0


def test_log_file_under_a_regular_file(cli: Any, tmp_path: Path) -> None:
    config = setup_folder(tmp_path, files=())
    in_the_way = tmp_path / "logs"
    in_the_way.write_text("", encoding="utf-8")
    log = in_the_way / "qostool.log"
    result = cli("run", "--config", config, "--month", MONTH, "--log-file", log)
    assert_user_error(result, f"{log.parent}: already exists", "move or rename what is there")


def test_log_file_is_made_with_its_folders(cli: Any, tmp_path: Path) -> None:
    config = setup_folder(tmp_path, files=(), boundaries=False)
    log = tmp_path / "logs" / "qostool" / "run.log"
    result = cli("run", "--config", config, "--month", MONTH, "--log-file", log)
    assert result.exit_code == 0, result.output
    assert "run.start" in log.read_text(encoding="utf-8")


def test_run_with_json_logs_reports_a_full_disk_as_a_json_event(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = setup_folder(tmp_path, files=("rtr_2025-10.csv",))
    monkeypatch.chdir(tmp_path)
    target = str(Path("reports") / "2025-10" / "report.html")

    def fail(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", target)

    monkeypatch.setattr(write, "write_atomic", fail)
    log = tmp_path / "run.log"
    result = cli(
        "run", "--config", config, "--month", MONTH, "--log-format", "json", "--log-file", log
    )
    assert result.exit_code == ExitCode.ERROR, result.output
    events = [json.loads(line) for line in result.stderr.splitlines()]  # JSON, every line
    failed = events[-1]
    assert failed["event"] == "run.failed" and failed["level"] == "error"
    assert failed["message"] == f"{target}: the disk is full"
    assert "free space on that disk" in failed["hint"] and failed["exit_code"] == 1
    assert json.loads(log.read_text(encoding="utf-8").splitlines()[-1]) == failed
