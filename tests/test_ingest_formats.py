"""Each source format, ingested from a small fixture and checked against a plain-Python reading."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from tests.conftest import TZ, all_store_bytes, ingest_json, stored

ISPEED_VI = """\
Mã phép đo;Thời gian đo;Vĩ độ;Kinh độ;Nhà mạng;Loại mạng;Tốc độ tải xuống (Mbps);Tốc độ tải lên (Mbps);Độ trễ (ms);Mã thiết bị;MCC-MNC
V1;01/10/2025 03:00:00;21,512345;103,2;Viettel Telecom;LTE;45,5;12,1;30;imei-356938035643809;452-04
V2;30/09/2025 23:59:59;21,5;103,25;Vinaphone;5G NSA;145,25;42;20,5;imei-356938035643810;
V3;15/10/2025 12:00:00;21,6;103,3;VNPT;4G;39,99;10;;imei-356938035643809;452-02
V4;15/10/2025 19:30:00;21,4;103,1;Mobifone;3G;8,5;2,25;80;imei-000000000000001;452-01
"""


def _reference_ispeed(text: str) -> dict[str, dict[str, Any]]:
    """The expected canonical values, computed with csv + datetime + zoneinfo only."""
    operators = {"45204": "Viettel", "45202": "VNPT-VinaPhone", "45201": "MobiFone"}
    names = {"Viettel Telecom": "Viettel", "Vinaphone": "VNPT-VinaPhone", "VNPT": "VNPT-VinaPhone"}
    tech = {"LTE": "4G", "5G NSA": "5G", "4G": "4G", "3G": "3G"}
    out = {}
    for row in csv.DictReader(io.StringIO(text), delimiter=";"):
        local = datetime.strptime(row["Thời gian đo"], "%d/%m/%Y %H:%M:%S").replace(
            tzinfo=ZoneInfo(TZ)
        )

        def num(value: str) -> float | None:
            return float(value.replace(",", ".")) if value else None

        mcc = row["MCC-MNC"].replace("-", "")
        out[row["Mã phép đo"]] = {
            "measured_at": local.astimezone(UTC),
            "month": local.strftime("%Y-%m"),
            "lat": num(row["Vĩ độ"]),
            "lon": num(row["Kinh độ"]),
            "download_mbps": num(row["Tốc độ tải xuống (Mbps)"]),
            "upload_mbps": num(row["Tốc độ tải lên (Mbps)"]),
            "latency_ms": num(row["Độ trễ (ms)"]),
            "operator": operators.get(mcc) or names.get(row["Nhà mạng"], "other"),
            "technology": tech[row["Loại mạng"]],
            "operator_raw": row["Nhà mạng"],
            "technology_raw": row["Loại mạng"],
        }
    return out


def _check_against(frame: pl.DataFrame, expected: dict[str, dict[str, Any]]) -> None:
    got = {row["test_id"]: row for row in frame.to_dicts()}
    assert set(got) == set(expected)
    for test_id, want in expected.items():
        for key, value in want.items():
            if isinstance(value, float):
                assert got[test_id][key] == pytest.approx(value, rel=1e-12), (test_id, key)
            else:
                assert got[test_id][key] == value, (test_id, key)


def test_ispeed_vietnamese_headers(write: Callable[..., Path], cli: Any, store_dir: Path) -> None:
    path = write("ispeed.csv", "\ufeff" + ISPEED_VI.replace("\n", "\r\n"))
    out = ingest_json(cli, path, "--store", store_dir)
    assert out["files"][0]["format"] == "ispeed"
    assert out["totals"]["accepted"] == 4
    frame = stored(store_dir)
    _check_against(frame, _reference_ispeed(ISPEED_VI))
    # The same device gets the same pseudonym; different devices different ones.
    devices = dict(zip(frame["test_id"], frame["device_id"], strict=True))
    assert devices["V1"] == devices["V3"] != devices["V2"]
    assert frame["device_id"].dtype == pl.Int64  # 64 bits, as tests/test_privacy.py checks
    assert set(frame["weight"]) == {1}
    assert set(frame["source"]) == {"ispeed"}


def test_ispeed_english_headers_iso_times(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    text = (
        "test_id,time,latitude,longitude,operator,network_type,download_mbps,upload_mbps,"
        "latency_ms,device_id\n"
        "E1,2025-10-01T08:00:00+07:00,21.5,103.2,VIETTEL,LTE,50,10,20,d1\n"
        "E2,2025-09-30T18:00:00Z,21.5,103.2,MobiFone,NR,300.5,50,10,d2\n"
        "E3,1759280400,21.5,103.2,MobiFone,NR,300.5,50,10,d2\n"
    )
    out = ingest_json(cli, write("en.csv", text), "--store", store_dir)
    assert out["totals"] == {
        "read": 3,
        "accepted": 3,
        "rejected": 0,
        "duplicates": 0,
        "rejected_by_reason": {},
    }
    rows = {r["test_id"]: r for r in stored(store_dir).to_dicts()}
    assert rows["E1"]["measured_at"] == datetime(2025, 10, 1, 1, tzinfo=UTC)
    # The example: 2025-09-30 18:00 UTC is 01:00 on 1 October in Vietnam.
    assert rows["E2"]["month"] == "2025-10"
    assert rows["E3"]["measured_at"] == datetime.fromtimestamp(1759280400, UTC)
    assert rows["E2"]["technology"] == "5G"


RTR = """\
open_uuid,open_test_uuid,time_utc,cat_technology,network_type,lat,long,loc_accuracy,download_kbit,upload_kbit,ping_ms,network_mcc_mnc,network_name,implausible,pinned,signal_strength
Pabc,O1,2025-09-30 18:00:00,4G,LTE,21.5,103.2,12,45500,12000,25.5,452-04,Viettel,false,true,-95
Pabc,O2,2025-10-31 17:30:00,5G,NR NSA,21.6,103.3,5,250000,60000,12.25,452-02,VinaPhone,false,true,-80
Pdef,O3,2025-10-15 10:00:00,,WLAN,21.6,103.3,5,90000,40000,8,,,false,true,
Pdef,O4,2025-10-15 10:00:00,4G,LTE,21.6,103.3,5,90000,40000,8,452-01,MobiFone,true,true,-100
"""


def test_rtr(write: Callable[..., Path], cli: Any, store_dir: Path) -> None:
    out = ingest_json(cli, write("rtr.csv", RTR), "--store", store_dir)
    file = out["files"][0]
    assert file["format"] == "rtr"
    assert (file["accepted"], file["rejected"]) == (3, 1)
    assert file["rejected_by_reason"] == {"flagged_by_source": 1}
    rows = {r["test_id"]: r for r in stored(store_dir).to_dicts()}
    # time_utc is UTC: 18:00 UTC on 30 Sept is October locally; 17:30 UTC on 31 Oct is November.
    assert (rows["O1"]["month"], rows["O2"]["month"]) == ("2025-10", "2025-11")
    assert rows["O1"]["download_mbps"] == pytest.approx(45.5)
    assert rows["O2"]["upload_mbps"] == pytest.approx(60.0)
    assert rows["O1"]["latency_ms"] == pytest.approx(25.5)
    assert rows["O2"]["operator"] == "VNPT-VinaPhone"
    # cat_technology empty: filled from network_type.
    assert rows["O3"]["technology"] == "wifi"
    assert rows["O3"]["operator"] == "unknown"
    assert rows["O1"]["gps_accuracy_m"] == 12
    assert rows["O1"]["signal_dbm"] == -95
    assert rows["O1"]["device_id"] == rows["O2"]["device_id"] != rows["O3"]["device_id"]


def test_mlab(write: Callable[..., Path], cli: Any, store_dir: Path) -> None:
    text = (
        "a.UUID,a.TestTime,a.MeanThroughputMbps,a.MinRTT,client.Geo.Latitude,"
        "client.Geo.Longitude,client.Network.ASNumber\n"
        "ndt-1,2025-10-01 01:00:00.123456 UTC,40.26,21.5,21.03,105.85,7552\n"
        "ndt-2,2025-10-02T03:04:05Z,12.5,40,10.82,106.63,AS45899\n"
        "ndt-3,2025-10-02T03:04:05Z,12.5,40,10.82,106.63,15169\n"
    )
    out = ingest_json(cli, write("mlab.csv", text), "--store", store_dir)
    assert out["files"][0]["format"] == "mlab"
    rows = {r["test_id"]: r for r in stored(store_dir).to_dicts()}
    assert rows["ndt-1"]["measured_at"] == datetime(2025, 10, 1, 1, 0, 0, 123456, tzinfo=UTC)
    assert rows["ndt-1"]["operator"] == "Viettel"
    assert rows["ndt-2"]["operator"] == "VNPT-VinaPhone"
    assert rows["ndt-3"]["operator"] == "other"
    assert rows["ndt-1"]["download_mbps"] == pytest.approx(40.26)
    assert rows["ndt-1"]["upload_mbps"] is None
    assert rows["ndt-1"]["technology"] == "unknown"


def _tile_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "quadkey": ["1323211203210101", "1323211203210110"],
            "avg_d_kbps": [45000, 12000],
            "avg_u_kbps": [9000, 3000],
            "avg_lat_ms": [25, 0],
            "tests": [12, 1],
            "devices": [5, 1],
        }
    )


def test_ookla_tiles_from_quadkey_with_period_in_name(
    tmp_path: Path, cli: Any, store_dir: Path
) -> None:
    path = tmp_path / "2025-10-01_performance_mobile_tiles.parquet"
    _tile_frame().write_parquet(path)
    out = ingest_json(cli, path, "--store", store_dir)
    assert out["files"][0]["format"] == "ookla"
    assert out["files"][0]["months"] == ["2025-10"]
    rows = {r["test_id"].rsplit(":", 1)[1]: r for r in stored(store_dir).to_dicts()}
    row = rows["1323211203210101"]
    assert row["weight"] == 12 and row["devices"] == 5 and row["aggregate"] is True
    assert row["period"] == "2025-Q4"
    assert row["download_mbps"] == pytest.approx(45.0)
    assert row["latency_ms"] == 25
    assert rows["1323211203210110"]["latency_ms"] == 0  # real Ookla files have 0 ms
    # Tile centre by hand: Bing tile system.
    x = y = 0
    for digit in "1323211203210101":
        x, y = x * 2 + (int(digit) & 1), y * 2 + (int(digit) >> 1)
    lon = (x + 0.5) / 2**16 * 360 - 180
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 0.5) / 2**16))))
    assert (row["lat"], row["lon"]) == pytest.approx((lat, lon), abs=1e-9)
    # The quarter starts at local midnight on 1 October.
    assert row["measured_at"] == datetime(2025, 10, 1, tzinfo=ZoneInfo(TZ)).astimezone(UTC)


def test_ookla_period_option_and_missing_period(tmp_path: Path, cli: Any, store_dir: Path) -> None:
    path = tmp_path / "mobile_tiles.parquet"
    _tile_frame().write_parquet(path)
    result = cli("ingest", path, "--store", store_dir)
    assert result.exit_code == 1
    assert "--period" in result.output
    out = ingest_json(cli, path, "--store", store_dir, "--period", "2024-Q2")
    assert out["files"][0]["months"] == ["2024-04"]
    assert set(stored(store_dir)["period"]) == {"2024-Q2"}


def test_ookla_real_argentina_tiles(shared_data: Path, cli: Any, store_dir: Path) -> None:
    """Real Ookla open data: tile_x/tile_y given; they must agree with the quadkeys."""
    path = shared_data / "speedtests" / "ookla_ar_mobile_2024q4.parquet"
    source = pl.read_parquet(path)
    out = ingest_json(cli, path, "--store", store_dir)
    totals = out["totals"]
    assert totals["read"] == source.height
    assert totals["read"] == totals["accepted"] + totals["rejected"] + totals["duplicates"]
    frame = stored(store_dir)
    assert frame["weight"].sum() == source.filter(pl.col("tests") >= 1)["tests"].sum()
    assert set(frame["period"]) == {"2024-Q4"}
    joined = frame.with_columns(quadkey=pl.col("test_id").str.split(":").list.last()).join(
        source, on="quadkey"
    )
    assert joined.height == frame.height
    # tile_x/tile_y are rounded in the file; the quadkey centre must be within that rounding.
    from qostool.ingest.normalize import quadkey_centre

    q_lat, q_lon = quadkey_centre(pl.col("quadkey"))
    check = joined.select(
        (q_lat - pl.col("tile_y")).abs().max().alias("dlat"),
        (q_lon - pl.col("tile_x")).abs().max().alias("dlon"),
    ).row(0)
    assert max(check) < 1e-3
    # Tests-weighted mean download, computed independently from the source in kbps.
    expected = (source["avg_d_kbps"] * source["tests"]).sum() / source["tests"].sum() / 1000
    got = (frame["download_mbps"] * frame["weight"]).sum() / frame["weight"].sum()
    assert got == pytest.approx(expected, rel=1e-9)


def test_ookla_fixed_tiles_are_not_cellular(shared_data: Path, cli: Any, store_dir: Path) -> None:
    path = shared_data / "speedtests" / "ookla_ar_fixed_2024q4.parquet"
    ingest_json(cli, path, "--store", store_dir)
    assert set(stored(store_dir)["technology"]) == {"wifi"}


def test_generic_mapping_file(write: Callable[..., Path], cli: Any, store_dir: Path) -> None:
    mapping = write(
        "cols.toml",
        """
name = "operator-portal"
timezone = "UTC"
[fields]
test_id = "Ref"
measured_at = { column = "When", format = "%Y/%m/%d %H:%M" }
lat = "Y"
lon = "X"
download_mbps = { column = "DL", unit = "kbps" }
upload_mbps = { column = "UL", unit = "bps" }
latency_ms = { column = "RTT", unit = "s" }
operator = "Net"
""",
    )
    data = write(
        "odd.tsv",
        "Ref\tWhen\tY\tX\tDL\tUL\tRTT\tNet\nG1\t2025/10/05 17:30\t21.5\t103.2\t40000\t5000000\t0.025\tViettel\n",
    )
    out = ingest_json(cli, data, "--store", store_dir, "--mapping", mapping)
    assert out["files"][0]["format"] == "operator-portal"
    row = stored(store_dir).row(0, named=True)
    assert row["download_mbps"] == pytest.approx(40.0)
    assert row["upload_mbps"] == pytest.approx(5.0)
    assert row["latency_ms"] == pytest.approx(25.0)
    assert row["measured_at"] == datetime(2025, 10, 5, 17, 30, tzinfo=UTC)
    assert row["month"] == "2025-10"
    assert row["source"] == "operator-portal"


def test_generic_map_options_and_generated_ids(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    data = write(
        "odd.csv",
        "When,Lat,Lon,DL\n2025-10-05 10:00,21.5,103.2,40000\n2025-10-05 11:00,21.5,103.2,30000\n",
    )
    args = ["--map", "measured_at=When", "--map", "lat=Lat", "--map", "lon=Lon"]
    args += ["--map", "download_mbps=DL", "--unit", "download_mbps=kbps"]
    out = ingest_json(cli, data, "--store", store_dir, *args)
    assert out["totals"]["accepted"] == 2
    frame = stored(store_dir)
    assert sorted(frame["download_mbps"]) == [30.0, 40.0]
    ids = frame["test_id"].to_list()
    assert all(i.startswith("h:") for i in ids) and len(set(ids)) == 2
    # The same rows in another file (other formatting) are recognised as the same tests.
    again = write("odd2.csv", "When,Lat,Lon,DL\n2025-10-05 10:00:00,21.50,103.20,40000.0\n")
    out = ingest_json(cli, again, "--store", store_dir, *args)
    assert out["totals"]["duplicates"] == 1


def test_raw_device_ids_never_reach_the_store(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    bad_rows = "V9;01/10/2025 03:00:00;;103,2;Viettel;LTE;45,5;12,1;30;imei-999999999999999;452-04\nV10;01/10\n"
    write_path = write("ispeed.csv", ISPEED_VI + bad_rows)
    out = ingest_json(cli, write_path, "--store", store_dir)
    assert out["totals"]["rejected"] == 2
    blob = all_store_bytes(store_dir)
    for raw in ("356938035643809", "356938035643810", "000000000000001", "999999999999999"):
        assert raw.encode() not in blob
