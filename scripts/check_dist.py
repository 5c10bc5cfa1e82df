"""Install the built wheel as an analyst would, outside the repo, and run the demo with it.

    python scripts/check_dist.py dist

Installs ``dist/qostool-*.whl`` (with the PDF extra) as a tool with
``uv tool install``, constrained to ``dist/constraints.txt`` (the locked
versions), into a temporary folder; then, from another temporary folder, runs
``qostool --version``, ``qostool --help`` and the demo on the bundled samples,
and checks that every report file is there. ``make dist-check`` runs it, and CI
runs that after the test suite. Exits non-zero, saying which step failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"
FORMATS = ("html", "docx", "md", "xlsx", "pdf")


def _uv() -> str:
    scripts = Path(sys.executable).parent
    for name in ("uv", "uv.exe"):
        if (scripts / name).is_file():
            return str(scripts / name)
    found = shutil.which("uv")
    if found is None:
        sys.exit("check_dist: uv not found (make dist-check installs it into .venv)")
    return found


def _step(command: list[str], *, cwd: Path, env: dict[str, str]) -> str:
    print("$", " ".join(command), flush=True)
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8", check=False
    )
    if result.returncode != 0:
        sys.exit(f"check_dist: failed with exit code {result.returncode}:\n{result.stderr}")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path, help="the folder make dist wrote")
    args = parser.parse_args()
    wheels = sorted(args.dist.resolve().glob("qostool-*.whl"))
    constraints = args.dist.resolve() / "constraints.txt"
    if len(wheels) != 1 or not constraints.is_file():
        sys.exit(f"check_dist: expected one wheel and constraints.txt in {args.dist}")
    with tempfile.TemporaryDirectory(prefix="qostool-tool-") as tmp:
        home, work = Path(tmp) / "tools", Path(tmp) / "work folder"
        work.mkdir()
        env = {
            **{k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
            "UV_TOOL_DIR": str(home / "envs"),
            "UV_TOOL_BIN_DIR": str(home / "bin"),
            "NO_COLOR": "1",
        }
        _step(
            [_uv(), "tool", "install", "--quiet", f"{wheels[0]}[pdf]", "-c", str(constraints)],
            cwd=work,
            env=env,
        )
        qostool = shutil.which("qostool", path=str(home / "bin"))
        if qostool is None:
            sys.exit(f"check_dist: no qostool command in {home / 'bin'}")
        print(_step([qostool, "--version"], cwd=work, env=env).strip())
        if "ingest" not in _step([qostool, "--help"], cwd=work, env=env):
            sys.exit("check_dist: qostool --help does not list ingest")
        store = ["--store", "demo-store"]
        _step([qostool, "ingest", str(SAMPLES), *store], cwd=work, env=env)
        _step(
            [qostool, "boundaries", "import", str(SAMPLES / "province.geojson"), *store],
            cwd=work,
            env=env,
        )
        for month in ("2025-09", "2025-10"):
            _step([qostool, "analyze", "--month", month, *store], cwd=work, env=env)
        report = [qostool, "report", "--month", "2025-10", *store, "--out", "demo-reports"]
        _step([*report, "--format", ",".join(FORMATS)], cwd=work, env=env)
        missing = [
            f for f in FORMATS if not (work / "demo-reports" / "2025-10" / f"report.{f}").is_file()
        ]
        if missing:
            sys.exit(f"check_dist: the report has no {', '.join(missing)} file")
        # The storm of the samples: its templates must be in the wheel too.
        event = [qostool, "event", "--from", "2025-11-06", "--to", "2025-11-08", *store]
        _step([*event, "--report", "html,md,docx", "--out", "demo-reports"], cwd=work, env=env)
        folder = work / "demo-reports" / "event-2025-11-06_2025-11-08"
        if not all((folder / f"report.{f}").is_file() for f in ("html", "md", "docx")):
            sys.exit("check_dist: the event report is missing")
        print(
            f"check_dist: {wheels[0].name} installed as a tool; the demo wrote {', '.join(FORMATS)}"
        )


if __name__ == "__main__":
    main()
