"""``qostool run``: no-op reruns, new inbox files, locking, logs without a terminal, crashes."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from qostool.config import load_settings
from qostool.run import RunSummary, default_month, run
from qostool.store import Store
from tests.conftest import REPO, TZ, stored

SAMPLES = REPO / "data" / "samples"
INBOX = ("ispeed_2025-10.csv", "rtr_2025-10.csv")
MONTH = "2025-10"
HOLD_LOCK = (
    "import sys, time; from qostool.store import Store; "
    f"lock = Store.open(sys.argv[1], timezone={TZ!r}).write_lock(); lock.__enter__(); "
    "print('locked', flush=True); time.sleep(float(sys.argv[2]))"
)


def setup_folder(root: Path, files: tuple[str, ...] = INBOX, boundaries: bool = True) -> Path:
    """An inbox with sample exports and a qostool.toml (paths relative to it); its path."""
    inbox = root / "inbox"
    inbox.mkdir(parents=True)
    for name in files:
        shutil.copy(SAMPLES / name, inbox / name)
    # settle_seconds = 0: the files were just copied, and are whole.
    text = (
        '[store]\npath = "store"\n[ingest]\ninbox = ["inbox"]\nsettle_seconds = 0\n'
        '[report]\nout = "reports"\n'
    )
    if boundaries:
        text += f"[boundaries]\nfile = {json.dumps(str(SAMPLES / 'province.geojson'))}\n"
    config = root / "qostool.toml"
    config.write_text(text, encoding="utf-8")
    return config


def run_library(config: Path, **kwargs: Any) -> RunSummary:
    return run(load_settings(config, env={}), month=MONTH, **kwargs)


def actions(summary: dict[str, Any] | RunSummary) -> dict[str, str]:
    """Step -> action, of a summary or its JSON."""
    if isinstance(summary, RunSummary):
        return {s.step: s.action for s in summary.steps}
    return {s["step"]: s["action"] for s in summary["steps"]}


def clean_env() -> dict[str, str]:
    """The environment of a subprocess: no qostool settings, colours not forced off."""
    drop = ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "CLICOLOR_FORCE")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QOSTOOL_") and k not in drop}
    return {**env, "TERM": "xterm-256color", "COLUMNS": "120"}


def qostool(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "qostool", *map(str, args)]


def results_stats(store: Path) -> pl.DataFrame:
    """The statistics of the month's official analysis (the newest; earlier ones are kept)."""
    found = Store.open(store, timezone=TZ).artifacts("results", MONTH)
    assert found
    return pl.read_parquet(found[0].path / "stats.parquet")


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose inbox was run once (two October exports, the sample province)."""
    root = tmp_path_factory.mktemp("done")
    summary = run_library(setup_folder(root))
    steps = dict.fromkeys(("ingest", "boundaries", "analyze", "report"), "done")
    assert actions(summary) == {**steps, "history": "skipped"}  # no earlier month has tests
    return root


def test_second_run_does_nothing_and_says_so(done: Path, cli: Any) -> None:
    result = cli("run", "--config", done / "qostool.toml", "--month", MONTH, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["did_something"] is False
    assert set(actions(summary).values()) == {"skipped"}
    reasons = {s["step"]: s["reason"] for s in summary["steps"]}
    assert reasons["ingest"] == "no new files (2 already ingested)"
    assert "unchanged" in reasons["boundaries"] and "unchanged" in reasons["analyze"]
    assert summary["files"] == []
    text = cli("run", "--config", done / "qostool.toml", "--month", MONTH)
    assert text.exit_code == 0
    assert "Nothing to do" in text.stdout
    assert "\x1b[" not in text.output


def test_new_inbox_file_is_the_only_one_ingested_and_the_month_is_redone(
    done: Path, tmp_path: Path
) -> None:
    root = tmp_path / "copy"
    shutil.copytree(done, root)
    tiles = "2025-10-01_performance_mobile_tiles.parquet"
    shutil.copy(SAMPLES / tiles, root / "inbox" / tiles)
    before = results_stats(root / "store")
    summary = run_library(root / "qostool.toml")
    assert [f["file"] for f in summary.files] == [str(root / "inbox" / tiles)]
    assert summary.files[0]["status"] == "ingested"
    assert actions(summary) == {
        "ingest": "done",
        "boundaries": "skipped",
        "history": "skipped",
        "analyze": "done",
        "report": "done",
    }
    reasons = {s.step: s.reason for s in summary.steps}
    assert reasons["analyze"] == "1 file(s) ingested since"
    assert reasons["report"] == "the analysis changed since the last report"
    after = results_stats(root / "store")
    assert after["tests"].sum() > before["tests"].sum()  # the tiles count
    assert (root / "reports" / MONTH / "report.html").is_file()
    assert not run_library(root / "qostool.toml").did_something


def test_changed_rule_or_force_redo_analysis_and_report(done: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(done, root)
    settings = load_settings(root / "qostool.toml", env={"QOSTOOL_ANALYZE_MIN_TESTS": "10"})
    summary = run(settings, month=MONTH)
    assert actions(summary)["analyze"] == "done"
    assert {s.step: s.reason for s in summary.steps}["analyze"] == "verdict rule changed"
    forced = run(settings, month=MONTH, force=True)
    assert actions(forced) == {
        "ingest": "skipped",
        "boundaries": "skipped",
        "history": "skipped",
        "analyze": "done",
        "report": "done",
    }


def test_status_shows_what_is_stale(done: Path, tmp_path: Path, cli: Any) -> None:
    root = tmp_path / "copy"
    shutil.copytree(done, root)
    config = root / "qostool.toml"

    def month_status() -> dict[str, Any]:
        result = cli("status", "--config", config, "--json")
        assert result.exit_code == 0, result.output
        status = json.loads(result.stdout)
        return {m["month"]: m for m in status["months"]}[MONTH]  # type: ignore[no-any-return]

    october = month_status()
    assert october["tests"] == 2676
    assert october["analysis_stale"] is None and october["report_stale"] is None
    # A September file, ingested by hand: October's trend changes, so its analysis is stale.
    assert cli("ingest", SAMPLES / "ispeed_2025-09.csv", "--store", root / "store").exit_code == 0
    assert month_status()["analysis_stale"] == "1 file(s) ingested after the analysis"
    summary = run_library(config)
    assert {s.step: s.reason for s in summary.steps}["analyze"] == "1 file(s) ingested since"
    october = month_status()
    assert october["analysis_stale"] is None and october["report_stale"] is None
    Path(october["report_files"][0]).unlink()
    assert month_status()["report_stale"] == "report files are missing"
    table = cli("status", "--config", config)
    assert table.exit_code == 0
    for text in (MONTH, "2025-09", "ispeed", "rtr", "Last run", "stale: report files are missing"):
        assert text in table.stdout.replace("\n", " "), text


def test_fail_below_exits_4_only_when_asked(done: Path, cli: Any) -> None:
    config = done / "qostool.toml"
    plain = cli("run", "--config", config, "--month", MONTH, "--quiet")
    assert plain.exit_code == 0 and plain.stdout == ""
    below = cli("run", "--config", config, "--month", MONTH, "--quiet", "--fail-below")
    assert below.exit_code == 4


def test_default_month_is_the_previous_local_month() -> None:
    # 2025-11-30 17:30 UTC is already 1 December in Vietnam.
    assert default_month(TZ, datetime(2025, 11, 30, 17, 30, tzinfo=UTC)) == "2025-11"
    assert default_month("UTC", datetime(2025, 11, 30, 17, 30, tzinfo=UTC)) == "2025-10"
    assert default_month(TZ, datetime(2026, 1, 15, tzinfo=UTC)) == "2025-12"


def test_config_errors_exit_2(tmp_path: Path, cli: Any) -> None:
    config = setup_folder(tmp_path, files=(), boundaries=False)
    result = cli("run", "--config", config, "--inbox", tmp_path / "nowhere")
    assert result.exit_code == 2
    assert "[ingest] inbox" in result.output and "no such folder" in result.output
    config.write_text("[ingest]\ninbox = 5\n", encoding="utf-8")
    result = cli("run", "--config", config)
    assert result.exit_code == 2
    assert f"{config}: [ingest] inbox = 5: expected a path" in result.output.replace("\n", "")


# -- locking ----------------------------------------------------------------------------


def _hold_lock(store: Path, seconds: float) -> subprocess.Popen[str]:
    Store.open(store, timezone=TZ, create=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(store), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


def _stop(holder: subprocess.Popen[str]) -> None:
    holder.kill()
    holder.wait()
    assert holder.stdout is not None
    holder.stdout.close()


def test_a_second_run_waits_then_exits_3_or_goes_on(tmp_path: Path, cli: Any) -> None:
    config = setup_folder(tmp_path, files=(), boundaries=False)
    holder = _hold_lock(tmp_path / "store", 2.0)
    try:
        start = time.monotonic()
        busy = cli("run", "--config", config, "--month", MONTH, "--wait", "0.5")
        assert time.monotonic() - start >= 0.5
        assert busy.exit_code == 3, busy.output
        assert "another qostool process is writing" in busy.output
        assert f"pid {holder.pid}" in busy.output
        # Waiting long enough: the run goes on when the other process is done.
        waited = cli("run", "--config", config, "--month", MONTH, "--wait", "30", "--json")
        assert waited.exit_code == 0, waited.output
        assert holder.wait(timeout=10) == 0  # the holder let go by finishing
        assert "waiting up to 30 s" in waited.output
    finally:
        _stop(holder)


def test_lock_of_a_sigkilled_process_is_taken_over(tmp_path: Path, cli: Any) -> None:
    config = setup_folder(tmp_path, files=(), boundaries=False)
    holder = _hold_lock(tmp_path / "store", 60)
    holder.send_signal(signal.SIGKILL)
    _stop(holder)
    assert (tmp_path / "store" / ".lock.holder").read_text().startswith(f"pid {holder.pid}")
    result = cli("run", "--config", config, "--month", MONTH, "--wait", "0")
    assert result.exit_code == 0, result.output


# -- without a terminal -----------------------------------------------------------------


def test_no_terminal_no_ansi_codes_and_json_log_lines(tmp_path: Path) -> None:
    config = setup_folder(tmp_path, files=("rtr_2025-10.csv",))
    cmd = qostool("run", "--config", config, "--month", MONTH)
    first = subprocess.run(cmd, capture_output=True, env=clean_env(), timeout=120, check=False)
    assert first.returncode == 0, first.stderr
    assert b"\x1b[" not in first.stdout and b"\x1b[" not in first.stderr
    lines = first.stderr.decode().splitlines()
    assert any(" INFO ingest.file: " in line and "rtr_2025-10.csv" in line for line in lines)
    assert b"qostool run for 2025-10" in first.stdout  # the summary is the result: stdout
    log = tmp_path / "logs" / "qostool.log"
    second = subprocess.run(
        [*cmd, "--log-format", "json", "--log-file", str(log)],
        capture_output=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )
    assert second.returncode == 0, second.stderr
    assert b"\x1b[" not in second.stdout and b"\x1b[" not in second.stderr
    events = [json.loads(line) for line in second.stderr.decode().splitlines()]
    assert events[0]["event"] == "run.start"
    assert events[-1]["event"] == "run.done" and events[-1]["did_something"] is False
    for event in events:
        assert {"time", "level", "event", "message"} <= set(event)
        datetime.fromisoformat(event["time"])
    in_file = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert in_file == events
    assert b"Nothing to do" in second.stdout


# -- crash safety -----------------------------------------------------------------------

CRASH_POINTS = (
    "after-commit",  # the first inbox file committed, the second not read
    "boundaries-committed",  # boundaries recorded, the run's record of them not yet
    "results-moved",  # the results folder in place, not yet recorded
    "run-analysed",  # the results recorded, the run's record of them not yet
    "run-reported",  # the report written, not yet recorded
)


def test_killed_at_each_step_then_rerun_equals_a_clean_run(done: Path, tmp_path: Path) -> None:
    clean_stats = results_stats(done / "store")
    clean_tests = stored(done / "store")
    roots = {point: tmp_path / point for point in CRASH_POINTS}
    killed = {}
    for point, root in roots.items():  # all at once: each has its own store
        config = setup_folder(root)
        env = {**clean_env(), "QOSTOOL_CRASH_AT": point}
        killed[point] = subprocess.Popen(
            qostool("run", "--config", config, "--month", MONTH),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    for point, proc in killed.items():
        assert proc.wait(timeout=120) == -signal.SIGKILL, point
    for point, root in roots.items():
        store = root / "store"
        partial = stored(store)
        assert partial["test_id"].n_unique() == partial.height, point
        if point in ("after-commit", "results-moved"):
            assert not Store.open(store, timezone=TZ).artifacts("results"), point
        summary = run_library(root / "qostool.toml")
        assert summary.failed_files == 0
        tests = stored(store)
        assert tests.height == clean_tests.height, point
        assert tests["test_id"].n_unique() == tests.height, point
        assert_frame_equal(results_stats(store), clean_stats)
        # No folder left behind: each one is a recorded analysis (a run killed after
        # its analysis was stored left an official one, kept as an earlier one).
        recorded = {a.path for a in Store.open(store, timezone=TZ).artifacts("results")}
        assert set((store / "results" / MONTH).iterdir()) == recorded, point
        assert not (store / "staging").exists() or not any((store / "staging").iterdir())
        assert (root / "reports" / MONTH / "report.html").is_file(), point
        assert not run_library(root / "qostool.toml").did_something, point


def test_cron_docs_and_help_explain_every_exit_code_and_section(cli: Any) -> None:
    from qostool.config import SECTIONS
    from qostool.errors import ExitCode

    docs = (REPO / "docs" / "cron.md").read_text(encoding="utf-8")
    for code in ExitCode:
        assert re.search(rf"^\|\s*{int(code)}\s*\|", docs, re.MULTILINE), code
    for section in SECTIONS:
        assert f"[{section}]" in docs, section
    for command in (("run",), ("status",), ("config", "show"), ("config", "init")):
        text = cli(*command, "--help").output
        assert "Exit codes" in text and "4 (only with" in text, command


def test_the_trend_months_are_analysed_before_the_report(tmp_path: Path) -> None:
    # September's export in the inbox too: the run analyses September (with the same rule
    # and boundaries) before October, so the report's trend and summary agree.
    config = setup_folder(tmp_path, files=(*INBOX, "ispeed_2025-09.csv"))
    summary = run_library(config)
    steps = {s.step: s for s in summary.steps}
    assert steps["history"].action == "done" and "2025-09" in steps["history"].reason
    store = Store.open(tmp_path / "store", timezone=TZ)
    [september] = store.artifacts("results", "2025-09")
    [october] = store.artifacts("results", MONTH)
    assert september.meta["boundaries"] == october.meta["boundaries"]
    html = (tmp_path / "reports" / MONTH / "report.html").read_text(encoding="utf-8")
    from qostool.report.i18n import Formatter

    assert Formatter("vi").labels["first_month"] not in html  # the trend has September
    assert 'id="trend"' in html
    again = run_library(config)
    assert {s.step: s.action for s in again.steps}["history"] == "skipped"
