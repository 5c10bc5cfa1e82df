"""Configuration: precedence and provenance, file lookup, validation messages, config init."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from qostool.config import (
    DEFAULT_TARGETS,
    FIELDS,
    STATISTICS,
    TECHNOLOGIES,
    find_config_file,
    load_settings,
    starting_file,
)
from qostool.errors import ConfigError


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _show(cli: Any, *args: str | Path) -> dict[str, Any]:
    result = cli("config", "show", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["settings"]  # type: ignore[no-any-return]


def test_precedence_default_file_env_option_with_provenance(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _write(
        tmp_path / "etc" / "qostool.toml",
        '[store]\npath = "data"\n[analyze]\nmin_tests = 10\nmin_devices = 2\n'
        "[lock]\nwait_seconds = 5\n",
    )
    monkeypatch.setenv("QOSTOOL_ANALYZE_MIN_TESTS", "20")
    monkeypatch.setenv("QOSTOOL_LOCK_WAIT_SECONDS", "7")
    shown = _show(cli, "--config", config, "--wait", "9")

    def got(key: str) -> tuple[Any, str, str | None]:
        return shown[key]["value"], shown[key]["source"], shown[key]["from"]

    assert got("store.timezone") == ("Asia/Ho_Chi_Minh", "default", None)
    # A relative path in the file is relative to the file's folder.
    assert got("store.path") == (str(tmp_path / "etc" / "data"), "file", str(config))
    assert got("analyze.min_devices") == (2, "file", str(config))
    assert got("analyze.min_tests") == (20, "env", "QOSTOOL_ANALYZE_MIN_TESTS")
    assert got("lock.wait_seconds") == (9.0, "option", "--wait")
    assert shown["lock.wait_seconds"]["env"] == "QOSTOOL_LOCK_WAIT_SECONDS"
    assert shown["store.path"]["env"] == "QOSTOOL_STORE"


def test_show_table_names_every_key_and_source(cli: Any, tmp_path: Path) -> None:
    config = _write(tmp_path / "q.toml", '[report]\nformats = ["html", "md"]\n')
    result = cli("config", "show", "--config", config)
    assert result.exit_code == 0, result.output
    for f in FIELDS:
        assert f.name in result.stdout
    assert f"file {config}" in result.stdout.replace("\n", "")
    assert "\x1b[" not in result.stdout


def test_file_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    xdg = tmp_path / "xdg"
    env = {"XDG_CONFIG_HOME": str(xdg)}
    assert find_config_file(None, env) == (None, "")
    user = _write(xdg / "qostool" / "qostool.toml", "")
    assert find_config_file(None, env) == (user, "user config folder")
    local = _write(tmp_path / "qostool.toml", "")
    assert find_config_file(None, env) == (Path("qostool.toml"), "current folder")
    named = _write(tmp_path / "named.toml", "")
    assert find_config_file(None, {**env, "QOSTOOL_CONFIG": str(named)}) == (
        named,
        "QOSTOOL_CONFIG",
    )
    given = _write(tmp_path / "given.toml", "")
    assert find_config_file(given, {**env, "QOSTOOL_CONFIG": str(named)})[0] == given
    assert local.exists()
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home.parent / "xdg")
    fallback = _write(home / ".config" / "qostool" / "qostool.toml", "")
    assert find_config_file(None, {}) == (fallback, "user config folder")


def test_environment_values_of_every_kind(tmp_path: Path) -> None:
    env = {
        "QOSTOOL_INGEST_INBOX": f"{tmp_path / 'a'}:{tmp_path / 'b'}",
        "QOSTOOL_REPORT_FORMATS": "html, md",
        "QOSTOOL_REPORT_LANGUAGES": "vi,en",
        "QOSTOOL_ANALYZE_TARGETS": "4G=30,5g=150",
        "QOSTOOL_ANALYZE_DEDUPE_BURSTS": "yes",
        "QOSTOOL_ANALYZE_CONFIDENCE": "0.9",
        "QOSTOOL_LOG_FORMAT": "JSON",
        "QOSTOOL_BOUNDARIES_VERSION": "province-0123456789",
    }
    settings = load_settings(env=env)
    assert settings.ingest.inbox == (tmp_path / "a", tmp_path / "b")
    assert settings.report.formats == ("html", "md")
    assert settings.report.languages == ("vi", "en")
    assert settings.analyze.targets == {"4G": 30.0, "5G": 150.0}
    assert settings.analyze.dedupe_bursts is True
    assert settings.analyze.confidence == 0.9
    assert settings.log.format == "json"
    assert settings.boundaries.version == "province-0123456789"
    assert settings.sources["report.formats"].detail == "QOSTOOL_REPORT_FORMATS"


def test_targets_in_the_file_add_to_the_defaults(tmp_path: Path) -> None:
    config = _write(tmp_path / "q.toml", '[analyze.targets]\n"4G" = 50\n')
    assert load_settings(config, env={}).analyze.targets == {"4G": 50.0, "5G": 100.0}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[analyze]\nmin_tests = "abc"\n',
            "[analyze] min_tests = 'abc': expected a whole number >= 1",
        ),
        ("[analyze]\nmin_tests = 0\n", "[analyze] min_tests = 0: expected a whole number >= 1"),
        ("[analyze]\nmin_tests = true\n", "[analyze] min_tests = True: expected a whole number"),
        (
            "[analyze]\nconfidence = 1.5\n",
            "[analyze] confidence = 1.5: expected a number in [0.5, 1)",
        ),
        (
            '[analyze]\nstatistic = "mode"\n',
            "[analyze] statistic = 'mode': expected one of: mean, median, share",
        ),
        (
            '[analyze.targets]\n"6G" = 40\n',
            "[analyze] targets = {'6G': 40}: expected a table of TECHNOLOGY",
        ),
        ('[analyze.targets]\n"4G" = -1\n', "[analyze] targets = {'4G': -1}"),
        (
            '[report]\nformats = ["html", "pptx"]\n',
            "[report] formats = ['html', 'pptx']: expected a list",
        ),
        ('[report]\nlanguages = ["fr"]\n', "[report] languages = ['fr']"),
        (
            '[store]\ntimezone = "Mars/Base"\n',
            "[store] timezone = 'Mars/Base': expected an IANA time zone",
        ),
        ("[lock]\nwait_seconds = -1\n", "[lock] wait_seconds = -1: expected a number >= 0"),
        ('[log]\nformat = "xml"\n', "[log] format = 'xml': expected one of: text, json"),
        ("[ingest]\ninbox = 3\n", "[ingest] inbox = 3: expected a path or a list of paths"),
    ],
)
def test_bad_values_exit_2_naming_the_key(
    cli: Any, tmp_path: Path, text: str, message: str
) -> None:
    config = _write(tmp_path / "qostool.toml", text)
    result = cli("config", "show", "--config", config)
    assert result.exit_code == 2, result.output
    assert f"{config}: {message}" in result.output.replace("\n", "")
    assert "Traceback" not in result.output


def test_bad_environment_and_option_values_name_them(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QOSTOOL_ANALYZE_MIN_TESTS", "many")
    result = cli("config", "show")
    assert result.exit_code == 2
    assert "QOSTOOL_ANALYZE_MIN_TESTS='many': expected a whole number >= 1" in result.output
    monkeypatch.delenv("QOSTOOL_ANALYZE_MIN_TESTS")
    result = cli("config", "show", "--log-format", "xml")
    assert result.exit_code == 2
    assert "--log-format 'xml': expected one of: text, json" in result.output


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[analyze]\nmin_test = 3\n", ["unknown key [analyze] min_test", "min_tests, min_devices"]),
        ("[analyse]\nmin_tests = 3\n", ["unknown section [analyse]", "[analyze]", "[report]"]),
        ('store = "x"\n', ["unknown key 'store'", "[store]"]),
    ],
)
def test_unknown_keys_are_errors_naming_the_known_ones(
    cli: Any, tmp_path: Path, text: str, names: list[str]
) -> None:
    config = _write(tmp_path / "qostool.toml", text)
    result = cli("config", "show", "--config", config)
    assert result.exit_code == 2, result.output
    for name in names:
        assert name in result.output.replace("\n", ""), name


def test_broken_toml_and_missing_files_exit_2(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = _write(tmp_path / "broken.toml", "[analyze\nmin_tests = 3\n")
    result = cli("config", "show", "--config", broken)
    assert result.exit_code == 2
    assert f"{broken}: not valid TOML" in result.output.replace("\n", "")
    result = cli("config", "show", "--config", tmp_path / "nowhere.toml")
    assert result.exit_code == 2 and "no such file" in result.output
    monkeypatch.setenv("QOSTOOL_CONFIG", str(tmp_path / "gone.toml"))
    result = cli("config", "show")
    assert result.exit_code == 2 and "QOSTOOL_CONFIG=" in result.output


def test_config_init_writes_a_valid_commented_file(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("config", "init")
    assert result.exit_code == 0, result.output
    written = tmp_path / "qostool.toml"
    text = written.read_text(encoding="utf-8")
    for f in FIELDS:
        assert f"{f.key} = " in text, f.name
        assert f.env_var in text, f.name
    tomllib.loads(text)
    # Found in the current folder; the values are the defaults (paths from the file's folder).
    shown = _show(cli)
    assert shown["store.path"] == {
        "value": str(tmp_path / "qostool-data"),
        "source": "file",
        "from": str(written),
        "env": "QOSTOOL_STORE",
    }
    assert shown["analyze.min_tests"]["value"] == 30
    assert shown["boundaries.file"]["source"] == "default"
    # Refuses to overwrite, unless --force.
    written.write_text("# mine\n", encoding="utf-8")
    result = cli("config", "init", written)
    assert result.exit_code == 2 and "already exists" in result.output
    assert written.read_text(encoding="utf-8") == "# mine\n"
    assert cli("config", "init", written, "--force").exit_code == 0
    assert written.read_text(encoding="utf-8") == starting_file()


def test_known_values_agree_with_the_library() -> None:
    from qostool.analyze.rules import ALL, Statistic
    from qostool.analyze.rules import DEFAULT_TARGETS as RULE_TARGETS
    from qostool.schema import Technology

    assert set(STATISTICS) == {s.value for s in Statistic}
    assert set(TECHNOLOGIES) == {t.value for t in Technology} | {ALL}
    assert DEFAULT_TARGETS == RULE_TARGETS


def test_library_errors_are_config_errors(tmp_path: Path) -> None:
    config = _write(tmp_path / "q.toml", "[analyze]\nmin_devices = -1\n")
    with pytest.raises(ConfigError, match=r"min_devices = -1: expected a whole number >= 0"):
        load_settings(config, env={})


def test_user_config_file_per_platform(tmp_path: Path) -> None:
    from qostool.config import user_config_file

    appdata = str(tmp_path / "AppData" / "Roaming")
    xdg = str(tmp_path / "xdg")
    tail = Path("qostool") / "qostool.toml"
    assert user_config_file({"APPDATA": appdata}, "win32") == Path(appdata) / tail
    assert user_config_file({"APPDATA": appdata}, "linux") == Path("~/.config").expanduser() / tail
    assert (
        user_config_file({"XDG_CONFIG_HOME": xdg, "APPDATA": appdata}, "win32") == Path(xdg) / tail
    )
    assert user_config_file({}, "win32") == Path("~/.config").expanduser() / tail


def test_document_settings_in_config_init_and_show(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = starting_file()
    report = text[text.index("[report]") : text.index("[lock]")]
    for line in (
        "# those of a provincial Department of Science and Technology",
        '# issuer = "Sở Khoa học và Công nghệ"',
        'symbol = "BC-SKHCN"',
        '# signer_title = ["KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"]',
        '# recipients = ["Ủy ban nhân dân tỉnh Lai Châu", "Cục Viễn thông, Bộ Khoa học và Công '
        'nghệ"]',
        '# drafting_unit = "BCVT"',
        '# date = "2025-11-05"',
    ):
        assert line in report, line
    # The example, uncommented, is a valid file.
    example = "\n".join(
        line[2:] if line.startswith("# ") and " = " in line else line
        for line in report.splitlines()
    )
    config = _write(tmp_path / "q.toml", example)
    settings = load_settings(config, env={})
    assert settings.report.signer_title == ("KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC")
    assert settings.report.date == "2025-11-05" and settings.report.number == "125"
    document = settings.report.document()
    assert document.copies_to is not None and document.copies_to[0] == "Như trên"

    config = _write(
        tmp_path / "qostool.toml",
        '[report]\nnumber = "125"\nsigner_name = "Nguyễn Văn An"\ndate = 2025-11-05\n',
    )
    monkeypatch.setenv("QOSTOOL_REPORT_RECIPIENTS", "UBND tỉnh Lai Châu|Cục Viễn thông")
    shown = _show(cli, "--config", config)
    assert shown["report.number"] == {
        "value": "125",
        "source": "file",
        "from": str(config),
        "env": "QOSTOOL_REPORT_NUMBER",
    }
    assert shown["report.date"]["value"] == "2025-11-05"  # a TOML date, or a text
    assert (shown["report.recipients"]["value"], shown["report.recipients"]["source"]) == (
        ["UBND tỉnh Lai Châu", "Cục Viễn thông"],
        "env",
    )
    assert shown["report.issuer"] == {
        "value": None,
        "source": "default",
        "from": None,
        "env": "QOSTOOL_REPORT_ISSUER",
    }
    table = cli("config", "show", "--config", config)
    assert "report.signer_name" in table.stdout and "Nguyễn Văn An" in table.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[report]\ndate = "05/11/2025"\n', "[report] date = '05/11/2025': expected an ISO date"),
        ("[report]\nrecipients = []\n", "[report] recipients = []: expected a list of texts"),
        ("[report]\nsigner_title = 3\n", "[report] signer_title = 3: expected a list of texts"),
        ('[report]\nsymbol = ""\n', "[report] symbol = '': expected a text"),
    ],
)
def test_bad_document_settings_name_the_key(
    cli: Any, tmp_path: Path, text: str, message: str
) -> None:
    config = _write(tmp_path / "qostool.toml", text)
    result = cli("config", "show", "--config", config)
    assert result.exit_code == 2, result.output
    assert f"{config}: {message}" in result.output.replace("\n", "")
