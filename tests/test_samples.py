"""The bundled samples: reproducible from their script, and ingested with the planted faults found."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl

from tests.conftest import REPO, ingest_json, rejects, stored

SAMPLES = REPO / "data" / "samples"


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_samples_are_what_the_script_makes(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_samples.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    assert _digests(tmp_path) == _digests(SAMPLES)
    assert sum(p.stat().st_size for p in SAMPLES.iterdir()) < 3_000_000


def test_samples_ingest(cli: Any, store_dir: Path) -> None:
    out = ingest_json(cli, SAMPLES, "--store", store_dir)
    files = {Path(f["file"]).name: f for f in out["files"]}
    assert out["failed_files"] == 0
    for f in files.values():
        assert f["read"] == f["accepted"] + f["rejected"] + f["duplicates"]
    # The faults the generator planted (see data/samples/README.md).
    for name in ("ispeed_2025-09.csv", "ispeed_2025-10.csv"):
        assert files[name]["rejected_by_reason"] == {
            "future_timestamp": 1,
            "implausible_speed": 1,
            "invalid_coordinates": 1,
            "invalid_timestamp": 1,
            "missing_coordinates": 1,
            "negative_speed": 1,
            "short_row": 1,
        }
        assert files[name]["duplicates"] == 1
    for name in ("rtr_2025-10.csv", "rtr_2025-11.csv"):
        assert files[name]["rejected_by_reason"] == {
            "flagged_by_source": 3,
            "invalid_coordinates": 2,
            "invalid_latency": 1,
            "invalid_timestamp": 1,
            "long_row": 1,
            "missing_download": 1,
        }
    assert files["rtr_2025-11.csv"]["duplicates"] == 50
    # The workbook: title rows, text numbers with decimal commas, serial dates, a totals row.
    book = files["ispeed_2026-01.xlsx"]
    assert (book["read"], book["accepted"], book["duplicates"]) == (301, 298, 0)
    assert book["rejected_by_reason"] == {
        "invalid_speed": 1,
        "missing_coordinates": 1,
        "totals_row": 1,
    }
    assert book["months"] == ["2026-01"]
    tiles = pl.read_parquet(SAMPLES / "2025-10-01_performance_mobile_tiles.parquet")
    assert files["2025-10-01_performance_mobile_tiles.parquet"]["accepted"] == tiles.height
    # Every stored test is inside the province's bounding box, and unique.
    frame = stored(store_dir)
    assert frame["test_id"].n_unique() == frame.height
    assert frame["lat"].is_between(21.2, 21.8).all() and frame["lon"].is_between(103.0, 103.7).all()
    assert set(frame["month"]) == {"2025-09", "2025-10", "2025-11", "2026-01"}
    # The rtr row with an unquoted comma in network_name is kept whole in the rejects.
    long_row = rejects(store_dir).filter(pl.col("reason") == "long_row")
    assert long_row.height == 2 and long_row["original"].str.contains("_extra_fields").all()


def test_sample_reject_rows_match_the_planted_ones(cli: Any, store_dir: Path) -> None:
    ingest_json(
        cli, SAMPLES / "ispeed_2025-09.csv", SAMPLES / "rtr_2025-10.csv", "--store", store_dir
    )
    found = {(Path(r["file"]).name, r["row"], r["reason"]) for r in rejects(store_dir).to_dicts()}
    ispeed = [
        (92, "missing_coordinates"),
        (273, "invalid_coordinates"),
        (454, "negative_speed"),
        (650, "invalid_timestamp"),
        (831, "implausible_speed"),
        (1027, "future_timestamp"),
        (1223, "short_row"),
    ]
    rtr = [
        (62, "invalid_coordinates"),
        (158, "flagged_by_source"),
        (267, "invalid_coordinates"),
        (436, "missing_download"),
        (544, "flagged_by_source"),
        (629, "invalid_latency"),
        (797, "long_row"),
        (894, "flagged_by_source"),
        (1051, "invalid_timestamp"),
    ]
    expected = {("ispeed_2025-09.csv", r, why) for r, why in ispeed}
    expected |= {("rtr_2025-10.csv", r, why) for r, why in rtr}
    assert found == expected
