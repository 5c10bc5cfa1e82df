"""qostool on Windows as well as Linux: what can be checked from here.

Provincial analysts mostly run Windows 10/11. These tests run on Linux, so they
check the portable paths: every module imports and the CLI starts with the
POSIX-only modules hidden; no POSIX-only call is made outside guarded code; the
store lock goes through ``filelock``'s portable descriptor lock; paths with
Vietnamese letters and spaces work end to end; output is UTF-8 whatever the
console's code page; and third-party deprecation warnings never fail a command.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qostool.store import Store
from qostool.text import markdown
from tests.conftest import REPO, TZ

SRC = REPO / "src" / "qostool"
SAMPLES = REPO / "data" / "samples"

#: Standard-library modules that do not exist on Windows.
#: (``posix`` itself is left: the standard library imports it where ``os.name`` says so.)
POSIX_MODULES = ("fcntl", "termios", "tty", "pty", "pwd", "grp", "resource", "syslog")
#: ``os`` functions and constants that do not exist on Windows.
POSIX_OS_NAMES = frozenset(
    [
        "pread",
        "pwrite",
        "fork",
        "forkpty",
        "setsid",
        "getuid",
        "geteuid",
        "getgid",
        "getegid",
        "getpgid",
        "killpg",
        "nice",
        "sync",
        "statvfs",
        "fchown",
        "chown",
        "lchown",
        "mkfifo",
        "mknod",
        "getloadavg",
        "uname",
        "wait3",
        "wait4",
        "sched_getaffinity",
        "posix_fadvise",
        "sendfile",
        "O_NOFOLLOW",
        "O_DIRECTORY",
        "O_CLOEXEC",
        "WNOHANG",
    ]
)
#: Signals that do not exist on Windows.
POSIX_SIGNALS = frozenset(
    ["SIGKILL", "SIGHUP", "SIGALRM", "SIGUSR1", "SIGUSR2", "SIGCHLD", "SIGPIPE", "alarm"]
)

HIDE_POSIX = f"import sys\nfor name in {POSIX_MODULES!r}:\n    sys.modules[name] = None\n"


def python(code: str, *args: str, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
        check=False,
    )


def test_every_module_imports_without_the_posix_modules() -> None:
    code = HIDE_POSIX + (
        "import importlib, pkgutil, qostool\n"
        "names = [m.name for m in pkgutil.walk_packages(qostool.__path__, 'qostool.')]\n"
        "for name in names:\n"
        "    if name != 'qostool.__main__':\n"
        "        importlib.import_module(name)\n"
        "print(len(names))\n"
    )
    result = python(code)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 40  # every module was walked, not none


def test_the_cli_starts_and_reads_a_store_without_the_posix_modules(tmp_path: Path) -> None:
    Store.open(tmp_path / "s", timezone=TZ, create=True)
    run_cli = HIDE_POSIX + "sys.argv[0] = 'qostool'\nfrom qostool.cli import main\nmain()\n"
    helped = python(run_cli, "--help")
    assert helped.returncode == 0, helped.stderr
    assert "ingest" in helped.stdout
    status = python(run_cli, "status", "--store", str(tmp_path / "s"), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["months"] == []


def test_the_lock_without_fcntl_is_a_clear_error_not_a_bug(tmp_path: Path) -> None:
    # A system with no flock at all (neither POSIX's nor Windows'): the store says so.
    Store.open(tmp_path / "s", timezone=TZ, create=True)
    code = HIDE_POSIX + (
        "import warnings\nwarnings.simplefilter('ignore')\n"  # filelock: 'only soft file lock'
        "sys.argv[0] = 'qostool'\nfrom qostool.cli import main\nmain()\n"
    )
    sample = str(SAMPLES / "ispeed_2025-10.csv")
    result = python(code, "ingest", sample, "--store", str(tmp_path / "s"))
    assert result.returncode == 1, result.stderr
    message = " ".join(result.stderr.split())
    assert "the store's folder does not support file locks" in message
    assert "Internal error" not in message


def _posix_only_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names.append(getattr(node, "module", None) or "")
            found += [f"import {n}" for n in names if n.split(".")[0] in POSIX_MODULES]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "os" and node.attr in POSIX_OS_NAMES:
                found.append(f"os.{node.attr}")
            if node.value.id == "signal" and node.attr in POSIX_SIGNALS:
                found.append(f"signal.{node.attr}")
    return [f"{path.relative_to(REPO)}:{use}" for use in found]


def test_no_posix_only_call_in_the_package() -> None:
    uses = [use for path in sorted(SRC.rglob("*.py")) for use in _posix_only_uses(path)]
    assert uses == []


def test_the_scan_finds_posix_only_calls(tmp_path: Path) -> None:
    # The scan above can fail: it sees each kind of POSIX-only use.
    probe = REPO / "tests" / f".probe-{os.getpid()}.py"
    probe.write_text(
        "import fcntl\nimport os, signal\nos.pread(0, 1, 0)\nsignal.SIGKILL\n", encoding="utf-8"
    )
    try:
        assert sorted(u.split(":", 1)[1] for u in _posix_only_uses(probe)) == [
            "import fcntl",
            "os.pread",
            "signal.SIGKILL",
        ]
    finally:
        probe.unlink()


def test_a_lock_held_by_another_process_names_it(tmp_path: Path) -> None:
    # The holder's note is a file of its own: Windows does not let another process
    # read the locked file.
    from qostool.errors import StoreBusyError

    store = Store.open(tmp_path / "s", timezone=TZ, create=True)
    code = (
        "import sys, time; from qostool.store import Store\n"
        f"lock = Store.open(sys.argv[1], timezone={TZ!r}).write_lock(); lock.__enter__()\n"
        "print('locked', flush=True); sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(store.root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(StoreBusyError, match=f"pid {holder.pid} since"), store.write_lock():
            pass
    finally:
        holder.communicate("", timeout=30)
    with store.write_lock():  # let go when the holder ended
        assert (
            (store.root / ".lock.holder")
            .read_text(encoding="utf-8")
            .startswith(f"pid {os.getpid()} ")
        )


@pytest.mark.slow
def test_paths_with_vietnamese_letters_and_spaces(tmp_path: Path, cli: Any) -> None:
    root = tmp_path / "Sở Khoa học và Công nghệ"
    exports = root / "Dữ liệu i-Speed" / "tháng 10"
    exports.mkdir(parents=True)
    export = exports / "Kết quả đo tháng 10.csv"
    shutil.copy(SAMPLES / "ispeed_2025-10.csv", export)
    communes = root / "Ranh giới xã.geojson"
    shutil.copy(SAMPLES / "province.geojson", communes)
    store, out = root / "kho dữ liệu", root / "Báo cáo tháng"
    steps = [
        ("ingest", exports, "--store", store),
        ("boundaries", "import", communes, "--store", store),
        ("analyze", "--month", "2025-10", "--store", store, "--export", "csv", "--out", out),
        ("report", "--month", "2025-10", "--store", store, "--format", "html,md", "--out", out),
    ]
    for step in steps:
        result = cli(*step)
        assert result.exit_code == 0, (step, result.output)
    technical = (out / "2025-10" / "technical.md").read_text(encoding="utf-8")
    # The technical file names the input file as it is (as Markdown text: its punctuation
    # escaped).
    assert markdown("Kết quả đo tháng 10.csv") in technical
    assert (out / "2025-10" / "report.html").is_file()
    assert any(out.rglob("*.csv"))


@pytest.mark.slow
def test_output_is_utf8_whatever_the_code_page(tmp_path: Path) -> None:
    # Windows encodes redirected output in its ANSI code page (cp1252): no Vietnamese.
    store = tmp_path / "store"
    run_cli = "import sys\nsys.argv[0] = 'qostool'\nfrom qostool.cli import main\nmain()\n"
    for step in (
        ("ingest", str(SAMPLES / "ispeed_2025-10.csv"), "--store", str(store)),
        ("boundaries", "import", str(SAMPLES / "province.geojson"), "--store", str(store)),
    ):
        assert python(run_cli, *step).returncode == 0
    result = subprocess.run(
        [sys.executable, "-c", run_cli, "analyze", "--month", "2025-10", "--store", str(store)],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "cp1252", "COLUMNS": "200", "NO_COLOR": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    names = json.loads((SAMPLES / "province.geojson").read_text(encoding="utf-8"))["features"]
    shown = result.stdout.decode("utf-8")  # strict: every byte is UTF-8
    assert any(f["properties"]["name"] in shown and not f["properties"]["name"].isascii()
               for f in names)  # fmt: skip


QUIET_WARNINGS = """
import sys, warnings
from qostool.cli import quiet_library_warnings
quiet_library_warnings()
raise_in = lambda module, category: exec(
    "import warnings; warnings.warn('old', category)",
    {"__name__": module, "category": category},
)
for module, category in [
    ("weasyprint.text.ffi", DeprecationWarning),
    ("polars.dataframe", PendingDeprecationWarning),
    ("qostoolbox", DeprecationWarning),
]:
    raise_in(module, category)  # quiet, although every warning is an error here
for module, category in [
    ("qostool.report.pdf", DeprecationWarning),
    ("qostool", DeprecationWarning),
    ("somelib", UserWarning),
]:
    try:
        raise_in(module, category)
    except Warning:
        print("raised", module, category.__name__)
"""


def test_library_deprecations_are_quiet_and_ours_are_not() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", QUIET_WARNINGS],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "raised qostool.report.pdf DeprecationWarning",
        "raised qostool DeprecationWarning",
        "raised somelib UserWarning",
    ]


def test_the_command_line_installs_the_quiet_filter() -> None:
    code = (
        "import sys\nsys.argv = ['qostool', '--version']\nfrom qostool.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "exec(\"import warnings; warnings.warn('old', DeprecationWarning)\", {'__name__': 'lib'})\n"
        "print('quiet')\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "quiet"


@pytest.mark.slow
def test_no_text_file_is_opened_in_the_platforms_encoding(tmp_path: Path) -> None:
    # Windows' default text encoding is its code page: every text file qostool opens
    # names its encoding. Python says so (EncodingWarning) under -X warn_default_encoding.
    code = (
        "import sys, warnings\n"
        "warnings.filterwarnings('error', category=EncodingWarning, module=r'qostool(\\.|$)')\n"
        "sys.argv[0] = 'qostool'\nfrom qostool.cli import main\nmain()\n"
    )
    store, out = str(tmp_path / "store"), str(tmp_path / "out")
    steps = [
        ("ingest", str(SAMPLES), "--store", store),
        ("boundaries", "import", str(SAMPLES / "province.geojson"), "--store", store),
        ("analyze", "--month", "2025-10", "--store", store, "--export", "csv,xlsx", "--out", out),
        ("report", "--month", "2025-10", "--store", store, "--format", "html,md,docx,xlsx"),
        ("config", "init", str(tmp_path / "qostool.toml")),
        ("status", "--store", store, "--json"),
    ]
    for step in steps:
        result = subprocess.run(
            [sys.executable, "-X", "warn_default_encoding", "-c", code, *step],
            capture_output=True,
            text=True,
            encoding="utf-8",
            cwd=tmp_path,
            check=False,
        )
        assert result.returncode == 0, (step, result.stderr)  # ours are errors
        ours = [line for line in result.stderr.splitlines() if "qostool" in line.split(":")[0]]
        assert not [line for line in ours if "EncodingWarning" in line], step
