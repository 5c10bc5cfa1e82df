"""Row accounting, every rejection reason, re-ingest, overlaps, and real-world file shapes."""

from __future__ import annotations

import gzip
import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from qostool.schema import Reason
from qostool.store import Store
from tests.conftest import TZ, ingest_json, rejects, stored

HEADER = "test_id,time,latitude,longitude,download_mbps,upload_mbps,latency_ms,device_id"
GOOD = "{id},2025-10-10T10:00:00+07:00,21.5,103.2,40.5,10,20,dev-1"

#: One row per reason a per-test row can be rejected for, and the reason expected.
BAD_ROWS: dict[Reason, str] = {
    Reason.MISSING_TIMESTAMP: "r1,,21.5,103.2,40,10,20,d",
    Reason.INVALID_TIMESTAMP: "r2,32/13/2025 25:00:00,21.5,103.2,40,10,20,d",
    Reason.FUTURE_TIMESTAMP: "r3,2031-01-01T00:00:00Z,21.5,103.2,40,10,20,d",
    Reason.MISSING_COORDINATES: "r4,2025-10-10T10:00:00Z,,103.2,40,10,20,d",
    Reason.INVALID_COORDINATES: "r5,2025-10-10T10:00:00Z,95.1,103.2,40,10,20,d",
    Reason.MISSING_DOWNLOAD: "r6,2025-10-10T10:00:00Z,21.5,103.2,,10,20,d",
    Reason.INVALID_SPEED: "r7,2025-10-10T10:00:00Z,21.5,103.2,fast,10,20,d",
    Reason.NEGATIVE_SPEED: "r8,2025-10-10T10:00:00Z,21.5,103.2,40,-1,20,d",
    Reason.IMPLAUSIBLE_SPEED: "r9,2025-10-10T10:00:00Z,21.5,103.2,25000,10,20,d",
    Reason.INVALID_LATENCY: "r10,2025-10-10T10:00:00Z,21.5,103.2,40,10,-3,d",
    Reason.SHORT_ROW: "r11,2025-10-10T10:00:00Z,21.5",
    Reason.LONG_ROW: "r12,2025-10-10T10:00:00Z,21.5,103.2,40,10,20,d,extra",
}


def _csv(rows: list[str]) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def test_every_rejection_reason_with_row_numbers(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    rows = [GOOD.format(id="ok1")]
    expected_rows: dict[int, Reason] = {}
    for reason, row in BAD_ROWS.items():
        rows.append(row)
        expected_rows[len(rows) + 1] = reason  # header is row 1
        rows.append(GOOD.format(id=f"ok-after-{reason.value}"))
    path = write("bad.csv", _csv(rows))
    out = ingest_json(cli, path, "--store", store_dir)
    file = out["files"][0]
    assert file["read"] == len(rows)
    assert file["rejected"] == len(BAD_ROWS)
    assert file["accepted"] == len(rows) - len(BAD_ROWS)
    assert file["rejected_by_reason"] == {r.value: 1 for r in BAD_ROWS}
    got = {row["row"]: Reason(row["reason"]) for row in rejects(store_dir).to_dicts()}
    assert got == expected_rows
    # Good rows after the ragged ones were numbered right too (they are stored).
    assert stored(store_dir).height == file["accepted"]


def test_reject_details_name_the_column_and_value(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    ingest_json(cli, write("bad.csv", _csv([BAD_ROWS[Reason.INVALID_SPEED]])), "--store", store_dir)
    row = rejects(store_dir).row(0, named=True)
    assert row["detail"] == "download_mbps=fast, upload_mbps=10"
    original = json.loads(row["original"])
    assert original["test_id"] == "r7" and original["download_mbps"] == "fast"
    assert original["device_id"] != "d"  # pseudonymised in rejects too


def test_flagged_and_tile_weight_reasons(tmp_path: Path, cli: Any, store_dir: Path) -> None:
    tiles = pl.DataFrame(
        {"quadkey": ["1323211203210101", "1323211203210110"], "avg_d_kbps": [1, 2], "tests": [0, 3]}
    )
    path = tmp_path / "2025-10-01_performance_mobile_tiles.parquet"
    tiles.write_parquet(path)
    out = ingest_json(cli, path, "--store", store_dir)
    assert out["files"][0]["rejected_by_reason"] == {"invalid_weight": 1}
    assert rejects(store_dir)["row"].to_list() == [1]


def test_first_failing_check_wins(write: Callable[..., Path], cli: Any, store_dir: Path) -> None:
    # Missing coordinates and a negative speed: the coordinate check comes first.
    out = ingest_json(
        cli, write("x.csv", _csv(["z,2025-10-10T10:00:00Z,,,-5,10,20,d"])), "--store", store_dir
    )
    assert out["files"][0]["rejected_by_reason"] == {"missing_coordinates": 1}


def test_null_island_is_invalid(write: Callable[..., Path], cli: Any, store_dir: Path) -> None:
    out = ingest_json(
        cli, write("x.csv", _csv(["z,2025-10-10T10:00:00Z,0,0,5,10,20,d"])), "--store", store_dir
    )
    assert out["files"][0]["rejected_by_reason"] == {"invalid_coordinates": 1}


def test_reingest_is_a_no_op(write: Callable[..., Path], cli: Any, store_dir: Path) -> None:
    path = write(
        "a.csv", _csv([GOOD.format(id="a1"), GOOD.format(id="a2"), BAD_ROWS[Reason.SHORT_ROW]])
    )
    first = ingest_json(cli, path, "--store", store_dir)
    before = sorted(p.relative_to(store_dir) for p in store_dir.rglob("*.parquet"))
    second = ingest_json(cli, path, "--store", store_dir)
    assert first["totals"]["accepted"] == 2
    assert second["files"][0]["status"] == "already ingested"
    assert second["totals"] == {
        "read": 0,
        "accepted": 0,
        "rejected": 0,
        "duplicates": 0,
        "rejected_by_reason": {},
    }
    assert sorted(p.relative_to(store_dir) for p in store_dir.rglob("*.parquet")) == before
    result = cli("ingest", path, "--store", store_dir)
    assert "already ingested" in result.output


def test_content_hash_of_plain_and_compressed_files(
    write: Callable[..., Path], cli: Any, store_dir: Path, tmp_path: Path
) -> None:
    """The catalog, the report and the rejects carry the SHA-256 of the (decompressed) content."""
    text = _csv([GOOD.format(id="h1"), BAD_ROWS[Reason.MISSING_DOWNLOAD]])
    plain = write("plain.csv", text)
    packed = tmp_path / "packed.csv.gz"
    packed.write_bytes(gzip.compress(_csv([GOOD.format(id="h2")]).encode()))
    out = ingest_json(cli, plain, packed, "--store", store_dir)
    expected = [
        hashlib.sha256(plain.read_bytes()).hexdigest(),
        hashlib.sha256(gzip.decompress(packed.read_bytes())).hexdigest(),
    ]
    assert [f["sha256"] for f in out["files"]] == expected
    catalog = {f.name: f.sha256 for f in Store.open(store_dir, timezone=TZ).files()}
    assert catalog == {str(plain): expected[0], str(packed): expected[1]}
    assert rejects(store_dir)["file_sha256"].to_list() == [expected[0]]
    # Another content of the same size is new; the same content again is not.
    twin = write("twin.csv", text.replace("h1", "h9"))
    assert twin.stat().st_size == plain.stat().st_size
    again = ingest_json(cli, twin, plain, "--store", store_dir)
    assert [f["status"] for f in again["files"]] == ["ingested", "already ingested"]
    assert again["files"][1]["sha256"] == expected[0]


def test_repeated_column_names_get_a_suffix(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    """A header naming a column twice is read, not refused: the second is ``note~2``."""
    header = "test_id,time,latitude,longitude,download_mbps,note,note"
    path = write(
        "twice.csv",
        f"{header}\nn1,2025-10-10T10:00:00Z,21.5,103.2,40,a,b\nn2,2025-10-10T10:00:00Z,,103.2,40,c,d\n",
    )
    out = ingest_json(cli, path, "--store", store_dir)
    assert (out["totals"]["accepted"], out["totals"]["rejected"]) == (1, 1)
    original = json.loads(rejects(store_dir)["original"][0])
    assert (original["note"], original["note~2"]) == ("c", "d")


def test_overlapping_files_store_each_test_once(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    first = write("oct.csv", _csv([GOOD.format(id=f"t{i}") for i in range(10)]))
    second = write("oct-late.csv", _csv([GOOD.format(id=f"t{i}") for i in range(6, 15)]))
    out = ingest_json(cli, first, second, "--store", store_dir)
    a, b = out["files"]
    assert (a["accepted"], a["duplicates"]) == (10, 0)
    assert (b["read"], b["accepted"], b["duplicates"]) == (9, 5, 4)
    frame = stored(store_dir)
    assert frame.height == 15
    assert frame["test_id"].n_unique() == 15


def test_duplicate_ids_within_one_file_keep_the_first(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    rows = [GOOD.format(id="x"), GOOD.format(id="x").replace("40.5", "99"), GOOD.format(id="y")]
    out = ingest_json(cli, write("d.csv", _csv(rows)), "--store", store_dir)
    assert out["totals"]["duplicates"] == 1
    frame = stored(store_dir).sort("test_id")
    assert frame["download_mbps"].to_list() == [40.5, 40.5]


def test_counts_add_up_across_many_batches(tmp_path: Path, cli: Any, store_dir: Path) -> None:
    """Enough rows for several read batches and a flush, with bad and duplicate rows mixed in."""
    n = 400_000
    frame = pl.DataFrame(
        {
            "test_id": [f"T{i % 390_000}" for i in range(n)],  # 10,000 repeats
            "time": ["2025-10-10T10:00:00+07:00"] * n,
            "latitude": [21.5 if i % 1000 else 95.0 for i in range(n)],  # 400 invalid
            "longitude": [103.2] * n,
            "download_mbps": [float(i % 97) for i in range(n)],
        }
    )
    path = tmp_path / "big.csv"
    frame.write_csv(path)
    out = ingest_json(cli, path, "--store", store_dir)
    t = out["totals"]
    invalid = n // 1000
    # Rows rejected for coordinates are not in the duplicate count: count independently.
    kept = frame.filter(pl.col("latitude") < 90)
    dupes = kept.height - kept["test_id"].n_unique()
    assert (t["read"], t["rejected"], t["duplicates"]) == (n, invalid, dupes)
    assert t["accepted"] == n - invalid - dupes == stored(store_dir).height


def test_empty_and_header_only_files(write: Callable[..., Path], cli: Any, store_dir: Path) -> None:
    empty = write("empty.csv", "")
    header = write("header.csv", HEADER + "\n")
    out = ingest_json(cli, empty, header, "--store", store_dir)
    assert [f["status"] for f in out["files"]] == ["empty", "empty"]
    assert out["totals"]["read"] == 0
    assert out["failed_files"] == 0


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", b""),
        ("utf-8", b"\xef\xbb\xbf"),
        ("utf-16-le", b"\xff\xfe"),
        ("utf-16-be", b"\xfe\xff"),
    ],
)
def test_unicode_encodings(
    encoding: str, bom: bytes, write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    text = "Mã phép đo,Thời gian đo,Vĩ độ,Kinh độ,Tốc độ tải xuống (Mbps),Nhà mạng\nu1,2025-10-10 10:00,21.5,103.2,40,Mobifone\n"
    path = write("u.csv", bom + text.encode(encoding))
    out = ingest_json(cli, path, "--store", store_dir)
    assert out["files"][0]["accepted"] == 1, out
    assert stored(store_dir)["operator"].to_list() == ["MobiFone"]


def test_legacy_encoding_needs_option_and_gets_a_hint(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    text = "test_id,time,latitude,longitude,download_mbps,operator\nc1,2025-10-10 10:00,21.5,103.2,40,Viettel Télécom\n"
    path = write("legacy.csv", text.encode("cp1252"))
    result = cli("ingest", path, "--store", store_dir)
    assert result.exit_code == 1
    assert "legacy.csv" in result.output and "--encoding" in result.output
    out = ingest_json(cli, path, "--store", store_dir, "--encoding", "cp1252")
    assert out["files"][0]["accepted"] == 1
    assert stored(store_dir)["operator_raw"].to_list() == ["Viettel Télécom"]


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiters(sep: str, write: Callable[..., Path], cli: Any, store_dir: Path) -> None:
    text = _csv([GOOD.format(id="d1"), GOOD.format(id="d2")]).replace(",", sep)
    out = ingest_json(cli, write("d.csv", text), "--store", store_dir)
    assert out["files"][0]["accepted"] == 2


def test_decimal_comma_and_quoted_fields(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    text = 'test_id;time;latitude;longitude;download_mbps;operator\n"q;1";10/10/2025 10:00;21,5;103,25;1.234,5;"Viettel; HN"\n'
    out = ingest_json(cli, write("q.csv", text), "--store", store_dir)
    assert out["files"][0]["accepted"] == 1
    row = stored(store_dir).row(0, named=True)
    assert (row["test_id"], row["lat"], row["lon"]) == ("q;1", 21.5, 103.25)
    assert row["download_mbps"] == 1234.5
    assert row["operator_raw"] == "Viettel; HN"


def test_gzip_and_zip(tmp_path: Path, cli: Any, store_dir: Path) -> None:
    text = _csv([GOOD.format(id="g1")]).encode()
    gz = tmp_path / "a.csv.gz"
    gz.write_bytes(gzip.compress(text))
    zp = tmp_path / "b.zip"
    with zipfile.ZipFile(zp, "w") as archive:
        archive.writestr("exports/b1.csv", _csv([GOOD.format(id="z1")]))
        archive.writestr("exports/b2.csv", _csv([GOOD.format(id="z2")]))
        archive.writestr("readme.pdf", "not data")
    out = ingest_json(cli, gz, zp, "--store", store_dir)
    assert [f["file"] for f in out["files"]] == [
        str(gz),
        f"{zp}!exports/b1.csv",
        f"{zp}!exports/b2.csv",
    ]
    assert sorted(stored(store_dir)["test_id"]) == ["g1", "z1", "z2"]
    # The gzip file's content equals the plain file's: ingesting the plain one is a no-op.
    plain = tmp_path / "a.csv"
    plain.write_bytes(text)
    assert ingest_json(cli, plain, "--store", store_dir)["files"][0]["status"] == "already ingested"


def test_folder_and_glob_inputs(
    write: Callable[..., Path], cli: Any, store_dir: Path, tmp_path: Path
) -> None:
    write("f/one.csv", _csv([GOOD.format(id="f1")]))
    write("f/sub/two.csv", _csv([GOOD.format(id="f2")]))
    write("f/notes.md", "ignored")
    out = ingest_json(cli, tmp_path / "in" / "f", "--store", store_dir)
    assert len(out["files"]) == 2
    out = ingest_json(cli, str(tmp_path / "in" / "f" / "**" / "*.csv"), "--store", store_dir)
    assert {f["status"] for f in out["files"]} == {"already ingested"}


def test_unknown_format_names_the_file_and_header(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    path = write("odd.csv", "A,B,C\n1,2,3\n")
    result = cli("ingest", path, "--store", store_dir)
    assert result.exit_code == 1
    assert "odd.csv, row 1" in result.output
    assert "A, B, C" in result.output
    assert "--mapping" in result.output
    assert "Traceback" not in result.output


def test_one_bad_file_does_not_stop_the_others(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    bad = write("odd.csv", "A,B,C\n1,2,3\n")
    good = write("good.csv", _csv([GOOD.format(id="k1")]))
    out = ingest_json(cli, bad, good, "--store", store_dir)
    assert [f["status"] for f in out["files"]] == ["failed", "ingested"]
    assert out["failed_files"] == 1
    assert stored(store_dir)["test_id"].to_list() == ["k1"]


def test_typed_parquet_export_of_per_test_format(tmp_path: Path, cli: Any, store_dir: Path) -> None:
    """Parquet with real datetime and number columns: naive times are local, aware ones kept."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = ZoneInfo("Asia/Ho_Chi_Minh")
    frame = pl.DataFrame(
        {
            "test_id": ["p1", "p2", "p3"],
            "time": [datetime(2025, 10, 1, 3, 0), datetime(2025, 10, 15, 12, 0), None],
            "latitude": [21.5, 21.6, 21.7],
            "longitude": [103.2, 103.3, 103.4],
            "download_mbps": [45.5, None, 12.0],
            "device_id": ["imei-111", "imei-222", "imei-111"],
        }
    )
    path = tmp_path / "export.parquet"
    frame.write_parquet(path)
    out = ingest_json(cli, path, "--store", store_dir)
    f = out["files"][0]
    assert (f["format"], f["accepted"], f["rejected"]) == ("ispeed", 1, 2)
    assert f["rejected_by_reason"] == {"missing_download": 1, "missing_timestamp": 1}
    row = stored(store_dir).row(0, named=True)
    assert row["measured_at"] == datetime(2025, 10, 1, 3, 0, tzinfo=local)
    assert row["month"] == "2025-10"
    assert sorted(rejects(store_dir)["row"]) == [2, 3]  # Parquet rows count from 1


def test_bad_bytes_after_the_sample_fail_the_file_cleanly(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    good = "".join(GOOD.format(id=f"b{i}") + "\n" for i in range(3000))  # > 64 KB sample
    path = write(
        "late.csv",
        (HEADER + "\n" + good).encode() + b"x\xff\xfe,2025-10-10T10:00:00Z,21,103,1,1,1,d\n",
    )
    result = cli("ingest", path, "--store", store_dir)
    assert result.exit_code == 1
    assert "late.csv" in result.output and "--encoding" in result.output
    assert "nothing from it was stored" in result.output
    assert stored(store_dir).height == 0


def test_forced_format_that_does_not_fit(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    path = write("a.csv", _csv([GOOD.format(id="f1")]))
    result = cli("ingest", path, "--store", store_dir, "--format", "rtr")
    assert result.exit_code == 1
    assert "format 'rtr' needs columns" in result.output
    assert "time_utc" in result.output and "the header has: test_id" in result.output


def test_map_overrides_one_column_of_a_builtin_format(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    text = "test_id,time,lat_wgs84,longitude,download_mbps\nm1,2025-10-10T10:00:00Z,21.5,103.2,40\n"
    path = write("m.csv", text)
    out = ingest_json(
        cli, path, "--store", store_dir, "--format", "ispeed", "--map", "lat=lat_wgs84"
    )
    assert out["files"][0]["accepted"] == 1
    assert stored(store_dir)["lat"].to_list() == [21.5]


def test_tab_delimiter_option(write: Callable[..., Path], cli: Any, store_dir: Path) -> None:
    # One column only would be ambiguous to detect: the option says it.
    text = _csv([GOOD.format(id="t1")]).replace(",", "\t")
    out = ingest_json(cli, write("t.txt", text), "--store", store_dir, "--delimiter", "tab")
    assert out["files"][0]["accepted"] == 1


def test_nan_and_infinity_are_not_numbers(tmp_path: Path, cli: Any, store_dir: Path) -> None:
    nan, inf = float("nan"), float("inf")
    frame = pl.DataFrame(
        {
            "test_id": ["a", "b", "c", "d"],
            "time": ["2025-10-10T10:00:00Z"] * 4,
            "latitude": [21.5, nan, 21.5, 21.5],
            "longitude": [103.2, 103.2, 103.2, 103.2],
            "download_mbps": [nan, 40.0, inf, 40.0],
        }
    )
    path = tmp_path / "nan.parquet"
    frame.write_parquet(path)
    out = ingest_json(cli, path, "--store", store_dir)
    assert out["files"][0]["rejected_by_reason"] == {"invalid_coordinates": 1, "invalid_speed": 2}
    assert stored(store_dir)["test_id"].to_list() == ["d"]
