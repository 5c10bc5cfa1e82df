"""``qostool run``'s inbox: notes and documents ignored, files still being copied left
for the next run, files that fail set aside until they change, and exit codes that
say so without breaking cron."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from qostool.errors import ExitCode
from qostool.inbox import ignored_name, scan
from qostool.store import HeldFile
from tests.test_run import MONTH, SAMPLES, setup_folder

EXPORTS = ("ispeed_2025-10.csv", "rtr_2025-10.csv")


def age(path: Path, seconds: float) -> None:
    """Make ``path`` look as if it was last written ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def run_json(cli: Any, config: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    result = cli("run", "--config", config, "--month", MONTH, "--json", *extra)
    return result.exit_code, json.loads(result.stdout), result.stderr


@pytest.fixture
def inbox_root(tmp_path: Path) -> Path:
    """An inbox with two exports, a note, a PDF, a file being copied and one that is
    not an export; ``settle_seconds = 30``; every file older than that but the one
    being copied."""
    config = setup_folder(tmp_path, files=EXPORTS)
    text = config.read_text(encoding="utf-8").replace("settle_seconds = 0", "settle_seconds = 30")
    config.write_text(text, encoding="utf-8")
    inbox = tmp_path / "inbox"
    (inbox / "ghi chú.txt").write_text("gửi lại file tháng 10", encoding="utf-8")
    (inbox / "công văn.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    (inbox / "~$bảng tính.xlsx").write_bytes(b"\x00" * 165)  # Excel's lock file
    (inbox / ".DS_Store").write_bytes(b"\x00\x01")
    (inbox / "export.json").write_text('{"not": "an export"}', encoding="utf-8")
    for path in inbox.iterdir():
        age(path, 3600)
    shutil.copy(SAMPLES / "rtr_2025-11.csv", inbox / "rtr_2025-11.csv")  # just arrived
    (inbox / "big.csv.part").write_bytes(b"test_id,")
    return tmp_path


def test_a_run_reads_the_exports_and_leaves_the_rest(inbox_root: Path, cli: Any) -> None:
    config, inbox = inbox_root / "qostool.toml", inbox_root / "inbox"
    code, summary, stderr = run_json(cli, config)
    assert code == ExitCode.OK, stderr
    ingested = sorted(Path(f["file"]).name for f in summary["files"] if f["status"] == "ingested")
    assert ingested == sorted(EXPORTS)
    waiting = {Path(w["file"]).name: w["why"] for w in summary["waiting_files"]}
    assert set(waiting) == {"rtr_2025-11.csv", "big.csv.part"}
    assert "settle_seconds = 30" in waiting["rtr_2025-11.csv"]
    assert "still being written" in waiting["big.csv.part"]
    [held] = summary["held_files"]
    assert (Path(held["file"]).name, held["new"]) == ("export.json", True)
    assert summary["failed_files"] == 1
    ingest = next(s for s in summary["steps"] if s["step"] == "ingest")
    assert (ingest["ignored"], ingest["waiting"], ingest["held"]) == (4, 2, 1)
    assert "set aside until they change" in ingest["reason"]

    # status lists the file set aside, with its reason.
    status = json.loads(cli("status", "--config", config, "--json").stdout)
    assert [Path(h["file"]).name for h in status["held_files"]] == ["export.json"]
    assert "export.json" in status["held_files"][0]["reason"]

    # The next run: the copy has settled and is read; the file set aside is not tried
    # again, nor reported above debug level; nothing is said to be "unchanged".
    age(inbox / "rtr_2025-11.csv", 3600)
    (inbox / "big.csv.part").unlink()
    again = cli("run", "--config", config, "--month", MONTH)
    assert again.exit_code == ExitCode.OK, again.output
    assert "rtr_2025-11.csv: ingested" in again.stdout
    assert "export.json" not in again.stdout  # not retried, not listed as a new failure
    assert "1 inbox file(s) could not be read and are set aside" in " ".join(again.stderr.split())
    assert "nothing changed since the last run" not in again.stdout
    assert "Nothing else to do" not in again.stdout  # the month changed: it was redone

    third = cli("run", "--config", config, "--month", MONTH)
    assert third.exit_code == ExitCode.OK, third.output
    assert "Nothing else to do: the rest is unchanged since the last run." in third.stdout


def test_a_file_set_aside_is_tried_again_when_it_changes(inbox_root: Path, cli: Any) -> None:
    config, inbox = inbox_root / "qostool.toml", inbox_root / "inbox"
    code, first, _ = run_json(cli, config)
    assert code == 0 and [Path(h["file"]).name for h in first["held_files"]] == ["export.json"]
    code, second, _ = run_json(cli, config)
    assert [(Path(h["file"]).name, h["new"]) for h in second["held_files"]] == [
        ("export.json", False)
    ]
    assert second["failed_files"] == 0 and not second["files"]
    # Replaced by a real export under the same name: it is read, and released.
    shutil.copy(SAMPLES / "rtr_2025-11.csv", inbox / "export.json")
    age(inbox / "export.json", 3600)
    age(inbox / "rtr_2025-11.csv", 3600)
    code, third, stderr = run_json(cli, config, "--force")
    assert code == 0, stderr
    statuses = {Path(f["file"]).name: f["status"] for f in third["files"]}
    assert statuses == {"export.json": "ingested"}  # (rtr_2025-11.csv: the same content)
    assert not third["held_files"]
    status = json.loads(cli("status", "--config", config, "--json").stdout)
    assert status["held_files"] == []


def test_strict_exits_6_while_a_file_is_set_aside(inbox_root: Path, cli: Any) -> None:
    config = inbox_root / "qostool.toml"
    text = config.read_text(encoding="utf-8").replace("[ingest]\n", "[ingest]\nstrict = true\n")
    config.write_text(text, encoding="utf-8")
    code, summary, _ = run_json(cli, config)
    assert code == ExitCode.HELD_FILES == 6
    assert [s["action"] for s in summary["steps"] if s["step"] == "report"] == ["done"]
    code, _, _ = run_json(cli, config)
    assert code == 6  # still set aside: still said, for a strict cron
    (inbox_root / "inbox" / "export.json").unlink()
    code, summary, _ = run_json(cli, config)
    assert code == 0 and not summary["held_files"]


def test_ignore_patterns_can_be_configured(inbox_root: Path, cli: Any) -> None:
    config = inbox_root / "qostool.toml"
    text = config.read_text(encoding="utf-8").replace(
        "[ingest]\n", '[ingest]\nignore = ["*.json"]\n'
    )
    config.write_text(text, encoding="utf-8")
    code, summary, _ = run_json(cli, config)
    assert code == 0
    # The note and the PDF are read now (and set aside); the JSON is ignored.
    held = sorted(Path(h["file"]).name for h in summary["held_files"])
    assert held == ["công văn.pdf", "ghi chú.txt"]
    shown = json.loads(cli("config", "show", "--config", config, "--json").stdout)
    assert shown["settings"]["ingest.ignore"] == {
        "value": ["*.json"],
        "source": "file",
        "from": str(config),
        "env": "QOSTOOL_INGEST_IGNORE",
    }


def test_names_that_are_never_read() -> None:
    for name in (".hidden.csv", "~$Book1.xlsx", "Thumbs.db", "DESKTOP.INI"):
        assert ignored_name(name, ()), name
    assert ignored_name("NOTES.TXT", ("*.txt",))  # case does not matter
    assert not ignored_name("ispeed.csv", ("*.txt",))


def test_scan_sorts_the_files(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / ".sync" / "deep").mkdir(parents=True)
    (inbox / ".sync" / "deep" / "x.csv").write_text("a")  # inside a hidden folder
    (inbox / "a.csv").write_text("a")
    (inbox / "b.csv").write_text("bb")
    (inbox / "c.csv.crdownload").write_text("c")
    (inbox / "fresh.csv").write_text("d")
    for name in ("a.csv", "b.csv", "c.csv.crdownload"):
        age(inbox / name, 100)
    age(inbox / "fresh.csv", 5)
    b = (inbox / "b.csv").stat()
    held = {str(inbox / "b.csv"): HeldFile(str(inbox / "b.csv"), b.st_size, b.st_mtime_ns, "x", "")}
    found = scan([inbox], ignore=(), settle_seconds=10, held=held, now=time.time())
    assert [f.path.name for f in found.files] == ["a.csv"]
    assert [h.path for h in found.held] == [str(inbox / "b.csv")]
    assert sorted(p.name for p, _ in found.waiting) == ["c.csv.crdownload", "fresh.csv"]
    # Exactly at the settle time, a file is old enough.
    age(inbox / "fresh.csv", 10)
    now = (inbox / "fresh.csv").stat().st_mtime + 10
    found = scan([inbox], ignore=(), settle_seconds=10, held={}, now=now)
    assert "fresh.csv" in [f.path.name for f in found.files]


# -- per-source settings: [[ingest.source]] ------------------------------------------------

#: An operator's export: its own column names, speeds in kbps, naive times in UTC.
OPERATOR_CSV = (
    "Mã;Lúc;Y;X;DL kbps;Mạng;Nhà mạng;Máy\n"
    "op-1;2025-10-10 01:00:00;21.45;103.35;45000;4G;Viettel;m1\n"
    "op-2;2025-10-10 17:30:00;21.46;103.36;52000;4G;Viettel;m2\n"
    "op-3;2025-10-31 17:30:00;21.47;103.37;38000;4G;VinaPhone;m3\n"
)


def sourced_inbox(root: Path) -> Path:
    """The issue's inbox: a mapped export in its source folder, a workbook, a note, a PDF
    and a file still being copied; the config with a [[ingest.source]] for the export."""
    config = setup_folder(root, files=())
    inbox = root / "inbox"
    operator = inbox / "operator"
    operator.mkdir()
    (operator / "xuat-thang-10.csv").write_text(OPERATOR_CSV, encoding="utf-8")
    shutil.copy(SAMPLES / "ispeed_2026-01.xlsx", inbox / "vnnic.xlsx")
    (inbox / "ghi chú.txt").write_text("gửi lại", encoding="utf-8")
    (inbox / "công văn.pdf").write_bytes(b"%PDF-1.4\n")
    (inbox / "half.csv.part").write_bytes(b"test_id,")
    text = config.read_text(encoding="utf-8") + (
        '[[ingest.source]]\nfolder = "inbox/operator"\nformat = "generic"\n'
        'naive_timezone = "UTC"\ndelimiter = ";"\n'
        'map = { test_id = "Mã", measured_at = "Lúc", lat = "Y", lon = "X", '
        'download_mbps = "DL kbps", technology = "Mạng", operator = "Nhà mạng", '
        'device_id = "Máy" }\nunit = { download_mbps = "kbps" }\n'
    )
    config.write_text(text, encoding="utf-8")
    return config


def test_a_source_folder_is_read_with_its_own_options(tmp_path: Path, cli: Any) -> None:
    config = sourced_inbox(tmp_path)
    code, summary, stderr = run_json(cli, config)
    assert code == ExitCode.OK, stderr
    statuses = {Path(f["file"]).name: f["status"] for f in summary["files"]}
    assert statuses == {"xuat-thang-10.csv": "ingested", "vnnic.xlsx": "ingested"}
    assert not summary["held_files"]
    assert [Path(w["file"]).name for w in summary["waiting_files"]] == ["half.csv.part"]
    operator = next(f for f in summary["files"] if f["file"].endswith("xuat-thang-10.csv"))
    assert (operator["read"], operator["accepted"], operator["format"]) == (3, 3, "generic")
    # Naive times in UTC: 2025-10-31 17:30 UTC is 1 November in Vietnam.
    assert operator["months"] == ["2025-10", "2025-11"]
    from tests.conftest import stored

    rows = stored(tmp_path / "store").filter(pl.col("source") == "generic").sort("measured_at")
    assert rows["download_mbps"].to_list() == pytest.approx([45.0, 52.0, 38.0])  # kbps
    assert rows["measured_at"].dt.hour().to_list() == [1, 17, 17]  # stored in UTC
    # The second run is a no-op.
    code, again, _ = run_json(cli, config)
    assert code == 0 and not again["did_something"] and not again["files"]

    # config show lists the source with where it came from.
    shown = json.loads(cli("config", "show", "--config", config, "--json").stdout)
    [source] = shown["settings"]["ingest.source"]["value"]
    assert source["folder"] == str(tmp_path / "inbox" / "operator")
    assert source["format"] == "generic" and source["naive_timezone"] == "UTC"
    assert shown["settings"]["ingest.source"]["source"] == "file"
    table = " ".join(cli("config", "show", "--config", config).stdout.split())
    assert "ingest.source #1" in table


def test_a_wrong_source_setting_names_the_table_and_stops_before_any_work(
    tmp_path: Path, cli: Any
) -> None:
    config = sourced_inbox(tmp_path)
    text = config.read_text(encoding="utf-8")
    for bad, words in (
        ('fomat = "x"\n', "[[ingest.source]] #1 (inbox/operator): unknown key fomat"),
        ("header_row = 0\n", "header_row = 0: expected a row number >= 1"),
        ('network = "wifi"\n', "network = 'wifi': expected one of: mobile, fixed"),
    ):
        config.write_text(text + bad, encoding="utf-8")
        result = cli("run", "--config", config, "--month", MONTH)
        assert result.exit_code == ExitCode.USAGE, result.output
        assert words in " ".join(result.output.split()), result.output
        assert not (tmp_path / "store").exists()
    config.write_text(text.replace('folder = "inbox/operator"', 'folder = "inbox/nope"'))
    result = cli("run", "--config", config, "--month", MONTH)
    assert result.exit_code == ExitCode.USAGE
    assert "[[ingest.source]] folder" in result.output and "no such folder" in result.output


def test_config_init_shows_a_source_example(tmp_path: Path, cli: Any) -> None:
    written = tmp_path / "qostool.toml"
    assert cli("config", "init", str(written)).exit_code == 0
    text = written.read_text(encoding="utf-8")
    lines = text.splitlines()
    first = lines.index("# [[ingest.source]]")
    block = lines[first : lines.index("", first)]
    # Uncommented, the example is a valid configuration with three sources.
    example = "\n".join(line.removeprefix("# ") for line in block) + "\n"
    config = tmp_path / "example.toml"
    config.write_text(example, encoding="utf-8")
    shown = json.loads(cli("config", "show", "--config", config, "--json").stdout)
    sources = shown["settings"]["ingest.source"]["value"]
    assert [Path(s["folder"]).name for s in sources] == ["vnnic", "operator", "ookla-fixed"]
    assert sources[0]["header_row"] == 4 and sources[2]["network"] == "fixed"


def test_ingest_takes_the_time_zone_of_naive_times(tmp_path: Path, cli: Any) -> None:
    export = tmp_path / "op.csv"
    export.write_text(OPERATOR_CSV, encoding="utf-8")
    maps = [
        "test_id=Mã", "measured_at=Lúc", "lat=Y", "lon=X", "download_mbps=DL kbps",
    ]  # fmt: skip
    args = ["ingest", str(export), "--store", str(tmp_path / "s"), "--format", "generic"]
    args += [part for m in maps for part in ("--map", m)] + ["--unit", "download_mbps=kbps"]
    bad = cli(*args, "--naive-timezone", "Mars/Base")
    assert bad.exit_code == ExitCode.USAGE
    assert "--naive-timezone 'Mars/Base' is not a time zone" in bad.output
    local = json.loads(cli(*args, "--json").stdout)
    assert local["files"][0]["months"] == ["2025-10"]  # 2025-10-31 17:30 in Vietnam
    utc = json.loads(cli(*args, "--naive-timezone", "UTC", "--json", "--store",
                         str(tmp_path / "u")).stdout)  # fmt: skip
    assert utc["files"][0]["months"] == ["2025-10", "2025-11"]


def test_the_help_names_exit_code_6_and_its_setting(cli: Any) -> None:
    from tests.conftest import one_line

    for args in (["--help"], ["run", "--help"]):
        assert "6 (only run with [ingest] strict)" in one_line(cli(*args)), args
