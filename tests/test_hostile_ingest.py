"""Hostile inputs that once broke ingest, all made here by the tests (no binary is committed).

Each case checks that every row is stored or rejected with a reason, that
``read = accepted + rejected + duplicates`` holds, and that one bad file never
stops the others. Categories and cases:

- line breaks (3): CR-only line breaks (Excel's "CSV (Macintosh)"), plain, gzip
  and zipped;
- empty files (2): empty and header-only files are not recorded, so never stuck;
  a store that once recorded a file as empty (a CR-only CSV) reads it again;
- long first lines (2): a header of 5,000 realistic column names (over 64 kB); a
  first line without end, refused without reading the whole file;
- archives (2): a zip holding a CSV, a zip and a ``.csv.gz``; archives nested too
  deep, or holding no data file;
- bombs (1): 512 MiB of zeros, gzip in a zip in a zip, stays bounded in memory
  and is never extracted to disk;
- decimal marks (3): one ``"2,048"`` in a decimal-point file; one ``45.5`` in a
  decimal-comma file; the vote on coordinates and speeds;
- unreadable files (11): a truncated gzip, a gzip whose data is damaged, an
  encrypted zip member (real ZipCrypto, encrypted here: ``zipfile`` cannot write
  it, and a test checks that its password opens it), a damaged zip member, a
  member in a compression method that cannot be read, a half-uploaded zip, a
  truncated Parquet file, each between two good files (``ingest``), and one in
  the library; a bug met in one file; and in ``qostool run``, a half-uploaded
  ``.gz`` in the inbox, retried when complete;
- block ends (4): line breaks inside quoted values, and a CR LF inside one split
  between two reads, where PyArrow cuts its blocks (threaded and numbered);
- stray quotes (4): a stray quote that would take more than 128 KiB of the file
  into one field, and the rows numbered right after it; a quote never closed in
  the last field, plain and gzip; a closed quoted value over lines stays one value;
- internal names (1): a column named ``__row``, in CSV and in Parquet.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from qostool.ingest import ingest_paths
from qostool.ingest import normalize as nz
from qostool.ingest import sources as src
from qostool.store import FileRecord, Store
from tests.conftest import TZ, rejects, stored

HEADER = "test_id,time,latitude,longitude,download_mbps,upload_mbps,latency_ms,device_id"


def good_rows(prefix: str, count: int) -> list[str]:
    """``count`` acceptable per-test rows with ids ``<prefix>0``, ``<prefix>1``, ..."""
    return [
        f"{prefix}{i},2025-10-10T10:00:00+07:00,21.5,103.2,{40 + i}.5,10,20,dev-{i % 3}"
        for i in range(count)
    ]


def csv_bytes(prefix: str, count: int, line_break: str = "\n") -> bytes:
    return (line_break.join([HEADER, *good_rows(prefix, count)]) + line_break).encode()


def ingest(cli: Any, *args: str | Path) -> tuple[int, dict[str, Any]]:
    """``qostool ingest --json``: the exit code and the report, whose counts must add up."""
    result = cli("ingest", *args, "--json")
    assert "Internal error" not in result.output and "Traceback" not in result.output
    out: dict[str, Any] = json.loads(result.stdout)
    for f in out["files"]:
        assert f["read"] == f["accepted"] + f["rejected"] + f["duplicates"], f
        assert f["rejected"] == sum(f["rejected_by_reason"].values()), f
    return result.exit_code, out


def statuses(out: dict[str, Any]) -> list[tuple[str, str]]:
    """(file name after the input folder, status) of each file of a report."""
    return [(Path(f["file"].split("!")[0]).name, f["status"]) for f in out["files"]]


def stored_ids(store_dir: Path) -> list[str]:
    return sorted(stored(store_dir)["test_id"].to_list())


def catalog(store_dir: Path) -> list[FileRecord]:
    return Store.open(store_dir, timezone=TZ).files()


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# -- line breaks and empty files -----------------------------------------------------------


@pytest.mark.parametrize("packing", ["plain", "gzip", "zip"])
def test_cr_only_line_breaks_are_read(packing: str, tmp_path: Path, cli: Any) -> None:
    """Excel's "CSV (Macintosh)" ends lines with CR alone: read, not taken for an empty file."""
    data = csv_bytes("m", 5, "\r")
    path = tmp_path / {"plain": "mac.csv", "gzip": "mac.csv.gz", "zip": "mac.zip"}[packing]
    path.write_bytes(
        {"plain": data, "gzip": gzip.compress(data), "zip": zip_bytes({"mac.csv": data})}[packing]
    )
    code, out = ingest(cli, path, "--store", tmp_path / "store")
    assert code == 0
    assert [(f["status"], f["read"], f["accepted"]) for f in out["files"]] == [("ingested", 5, 5)]
    assert stored_ids(tmp_path / "store") == [f"m{i}" for i in range(5)]


def test_a_file_once_recorded_as_empty_is_read_again(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    """A store that recorded a CR-only file as empty (no rows, no parts) is not stuck with it."""
    path = write("mac.csv", csv_bytes("m", 3, "\r"))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    store = Store.open(store_dir, timezone=TZ, create=True)
    with store.write_lock():
        batch = store.new_batch()
        batch.commit(
            FileRecord(
                sha256=digest,
                name=str(path),
                size=path.stat().st_size,
                format=None,
                batch_id=batch.batch_id,
                ingested_at="2025-11-01T00:00:00+00:00",
                rows_read=0,
                accepted=0,
                rejected=0,
                duplicates=0,
                reasons={},
                months=[],
            )
        )
    code, out = ingest(cli, path, "--store", store_dir)
    assert code == 0
    assert [(f["status"], f["accepted"]) for f in out["files"]] == [("ingested", 3)]
    assert [(f.sha256, f.rows_read) for f in catalog(store_dir)] == [(digest, 3)]
    assert ingest(cli, path, "--store", store_dir)[1]["files"][0]["status"] == "already ingested"


def test_empty_files_are_not_recorded(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    """An empty file is said to be empty each time, and never stops the same content later."""
    empty = write("empty.csv", b"")
    header_only = write("header.csv", HEADER + "\n")
    for _ in range(2):
        code, out = ingest(cli, empty, header_only, "--store", store_dir)
        assert code == 0
        assert statuses(out) == [("empty.csv", "empty"), ("header.csv", "empty")]
    assert catalog(store_dir) == []


# -- long first lines ----------------------------------------------------------------------


def test_a_header_of_5000_columns(write: Callable[..., Path], cli: Any, store_dir: Path) -> None:
    """A header longer than the sniffer's first read (64 kB) is read whole."""
    measures = ("rsrp_dbm", "rsrq_db", "sinr_db", "earfcn")
    extra = [f"neighbour_cell_{i:04d}_{m}" for i in range(1250) for m in measures]
    names = HEADER.split(",") + extra[: 5000 - len(HEADER.split(","))]
    assert len(names) == 5000
    header = ",".join(names)
    assert len(header.encode()) > 64 * 1024
    values = ",".join(str(-80 - i % 40) for i in range(len(names) - 8))
    rows = [f"{row},{values}" for row in good_rows("w", 30)]
    rows.append(f"w-bad,2025-10-10T10:00:00+07:00,21.5,103.2,,10,20,dev-1,{values}")
    path = write("wide.csv", "\n".join([header, *rows]) + "\n")
    code, out = ingest(cli, path, "--store", store_dir)
    assert code == 0
    file = out["files"][0]
    assert (file["status"], file["read"], file["accepted"]) == ("ingested", 31, 30)
    assert file["rejected_by_reason"] == {"missing_download": 1}
    original = json.loads(rejects(store_dir)["original"][0])
    assert original[names[-1]] == values.rsplit(",", 1)[1]


def test_a_first_line_without_end_fails_alone(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    """A "header" of 17 MB with no line break is refused (not read to its end), the rest go on."""
    endless = write("endless.csv", b"a," * (17 << 19))
    good = write("good.csv", csv_bytes("g", 2))
    code, out = ingest(cli, endless, good, "--store", store_dir)
    assert code == 1
    assert statuses(out) == [("endless.csv", "failed"), ("good.csv", "ingested")]
    assert "endless.csv" in out["files"][0]["message"]
    assert "first line" in out["files"][0]["message"]
    assert stored_ids(store_dir) == ["g0", "g1"]


# -- archives ------------------------------------------------------------------------------


def test_a_zip_holding_a_csv_a_zip_and_a_csv_gz(tmp_path: Path, cli: Any, store_dir: Path) -> None:
    """Every data member is read, nested archives too, without extracting anything."""
    inner = zip_bytes({"in.csv": csv_bytes("b", 2)})
    path = tmp_path / "exports.zip"
    path.write_bytes(
        zip_bytes(
            {
                "a.csv": csv_bytes("a", 2),
                "b.zip": inner,
                "c.csv.gz": gzip.compress(csv_bytes("c", 2)),
                "stored/d.zip": zip_bytes({"d.csv": csv_bytes("d", 1)}, zipfile.ZIP_STORED),
            }
        )
    )
    before = sorted(tmp_path.rglob("*"))
    code, out = ingest(cli, path, "--store", store_dir)
    assert code == 0
    assert [(f["file"], f["status"], f["accepted"]) for f in out["files"]] == [
        (f"{path}!a.csv", "ingested", 2),
        (f"{path}!b.zip!in.csv", "ingested", 2),
        (f"{path}!c.csv.gz", "ingested", 2),
        (f"{path}!stored/d.zip!d.csv", "ingested", 1),
    ]
    assert stored_ids(store_dir) == ["a0", "a1", "b0", "b1", "c0", "c1", "d0"]
    after = sorted(tmp_path.rglob("*"))
    assert [p for p in after if p != store_dir and store_dir not in p.parents] == before


def test_archives_nested_too_deep_fail_alone(tmp_path: Path, cli: Any, store_dir: Path) -> None:
    deep = zip_bytes({"level2.zip": zip_bytes({"level3.zip": zip_bytes({"x.csv": b"x"})})})
    path = tmp_path / "deep.zip"
    path.write_bytes(zip_bytes({"ok.csv": csv_bytes("k", 1), "level1.zip": deep}))
    empty = tmp_path / "nodata.zip"
    empty.write_bytes(zip_bytes({"readme.pdf": b"%PDF"}))
    code, out = ingest(cli, path, empty, "--store", store_dir)
    assert code == 1
    files = {f["file"]: f for f in out["files"]}
    assert files[f"{path}!ok.csv"]["status"] == "ingested"
    nested = files[f"{path}!level1.zip!level2.zip"]  # a zip in a zip in the zip
    assert nested["status"] == "failed"
    assert "nested" in nested["message"] and "unzip" in nested["message"]
    assert files[str(empty)]["status"] == "failed"
    assert "holds no CSV, Parquet or Excel file: readme.pdf" in files[str(empty)]["message"]
    assert stored_ids(store_dir) == ["k0"]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak memory is read in /proc")
def test_a_bomb_in_nested_archives_stays_bounded(tmp_path: Path) -> None:
    """512 MiB of zeros, gzip in a zip in a zip (0.5 MB): read as a stream, never to disk."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    chunk = bytes(1 << 20)
    bomb = b"".join(compressor.compress(chunk) for _ in range(512)) + compressor.flush()
    path = tmp_path / "bomb.zip"
    path.write_bytes(zip_bytes({"inner.zip": zip_bytes({"zeros.csv.gz": bomb})}))
    code = (
        "import json, re, sys\n"
        "from pathlib import Path\n"
        "from qostool.ingest import ingest_paths\n"
        "report = ingest_paths([sys.argv[1]], store=sys.argv[2])\n"
        # The peak resident memory of this process (ru_maxrss would count pytest's too).
        "status = Path('/proc/self/status').read_text(encoding='utf-8')\n"
        "peak = int(re.search(r'VmHWM:\\s+(\\d+) kB', status)[1]) << 10\n"
        "print(json.dumps({'peak': peak, 'files': [f.to_dict() for f in report.files]}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path / "store")],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    [file] = result["files"]
    # Hashed whole as a stream, and refused for what its first bytes are (NUL bytes).
    assert file["status"] == "failed" and "looks like binary data" in file["message"]
    assert result["peak"] < 256 << 20, result["peak"]  # about 90 MB, of which 16 MB of sample
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip", "store"]
    assert not [p for p in (tmp_path / "store").rglob("*") if p.stat().st_size > 1 << 20]


# -- decimal marks -------------------------------------------------------------------------


def test_one_thousands_separator_does_not_make_a_file_decimal_comma(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    rows = good_rows("p", 20)
    rows.insert(2, 'p-odd,2025-10-10T10:00:00+07:00,21.5,103.2,"2,048",10,20,dev-1')
    path = write("point.csv", "\n".join([HEADER, *rows]) + "\n")
    code, out = ingest(cli, path, "--store", store_dir)
    assert code == 0
    assert (out["totals"]["accepted"], out["totals"]["rejected_by_reason"]) == (
        20,
        {"invalid_speed": 1},
    )
    assert rejects(store_dir)["row"].to_list() == [4]
    assert stored(store_dir).sort("test_id")["lat"].unique().to_list() == [21.5]


def test_one_decimal_point_does_not_make_a_decimal_comma_file_point(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    rows = [
        f"c{i};10/10/2025 10:00;21,{500 + i};103,2;{40 + i},5;1.234,5;20;dev" for i in range(10)
    ]
    rows.insert(1, "c-odd;10/10/2025 10:00;21,5;103,2;45.5;10;20;dev")
    path = write("comma.csv", "\n".join([HEADER.replace(",", ";"), *rows]) + "\n")
    code, out = ingest(cli, path, "--store", store_dir)
    assert code == 0
    # "45.5" is not a number with a decimal comma (nor 455 with a thousands point): rejected.
    assert (out["totals"]["accepted"], out["totals"]["rejected_by_reason"]) == (
        10,
        {"invalid_speed": 1},
    )
    frame = stored(store_dir).sort("test_id")
    assert frame["download_mbps"].to_list() == [40.5 + i for i in range(10)]
    assert frame["upload_mbps"].unique().to_list() == [1234.5]


def test_decimal_comma_votes() -> None:
    """Coordinates and speeds vote; values that could be thousands separators do not."""

    def votes(values: list[str], *, coordinate: bool) -> tuple[int, int]:
        return nz.decimal_mark_votes(pl.Series(values, dtype=pl.String), coordinate=coordinate)

    assert votes(["2,048", "1.234", "12", "1,234,567"], coordinate=False) == (0, 0)
    assert votes(["45,27", "0,5", "1.234,5", "45.27", "1,234.5"], coordinate=False) == (3, 2)
    assert votes(["21,512", "-103,2", "21.512", "105.25"], coordinate=True) == (2, 2)
    assert nz.is_decimal_comma([(1, 0)]) and not nz.is_decimal_comma([(1, 1), (0, 0)])
    assert not nz.is_decimal_comma([(2, 30)])


# -- unreadable files ----------------------------------------------------------------------


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return table


def zipcrypto_zip(member: str, data: bytes, password: bytes) -> bytes:
    """A zip archive of one stored member encrypted with the traditional PKWARE cipher."""
    table = _crc_table()
    keys = [0x12345678, 0x23456789, 0x34567890]

    def update(byte: int) -> None:
        keys[0] = (keys[0] >> 8) ^ table[(keys[0] ^ byte) & 0xFF]
        keys[1] = ((keys[1] + (keys[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = (keys[2] >> 8) ^ table[(keys[2] ^ (keys[1] >> 24)) & 0xFF]

    for byte in password:
        update(byte)
    crc = zlib.crc32(data)
    cipher = bytearray()
    for byte in bytes(11) + bytes([crc >> 24]) + data:  # 12-byte header, then the data
        k = keys[2] | 2
        cipher.append(byte ^ (((k * (k ^ 1)) >> 8) & 0xFF))
        update(byte)
    name, flags = member.encode(), 0x1  # bit 0: encrypted
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, flags, 0, 0, 0x21, crc, len(cipher), len(data), len(name), 0
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50, 20, 20, flags, 0, 0, 0x21, crc, len(cipher), len(data), len(name), 0, 0, 0, 0, 0, 0,
    )  # fmt: skip
    body = local + name + bytes(cipher)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central) + len(name), len(body), 0)
    return body + central + name + end


def _damaged_member() -> bytes:
    data = zip_bytes({"big.csv": csv_bytes("x", 2000)})
    start = 30 + len("big.csv")
    damaged = bytearray(data)
    for offset in range(start + 2000, start + 2040):
        damaged[offset] ^= 0x5A
    return bytes(damaged)


def _unsupported_method() -> bytes:
    data = bytearray(zip_bytes({"x.csv": csv_bytes("x", 2)}, zipfile.ZIP_STORED))
    struct.pack_into("<H", data, 8, 9)  # Deflate64, in the local header
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 10, 9)  # and in the central directory
    return bytes(data)


def _parquet() -> bytes:
    buffer = io.BytesIO()
    pl.read_csv(csv_bytes("q", 50), infer_schema=False).write_parquet(buffer)
    return buffer.getvalue()


#: Files that cannot be read, by name, and a word their failure message must hold.
UNREADABLE: dict[str, tuple[Callable[[], bytes], str]] = {
    "truncated.csv.gz": (lambda: gzip.compress(csv_bytes("t", 500))[:-300], "truncated"),
    "damaged.csv.gz": (
        lambda: gzip.compress(csv_bytes("t", 500))[:40] + bytes(200) + b"\xff" * 64,
        "damaged",
    ),
    "encrypted.zip": (lambda: zipcrypto_zip("e.csv", csv_bytes("e", 3), b"secret"), "encrypted"),
    "damaged-member.zip": (_damaged_member, "damaged"),
    "deflate64.zip": (_unsupported_method, "compression method"),
    "half-uploaded.zip": (
        lambda: zip_bytes({"h.csv": csv_bytes("h", 500)})[:1500],
        "not a readable zip archive",
    ),
    "truncated.parquet": (lambda: _parquet()[:-200], "Parquet"),
}


def test_the_encrypted_zip_is_real() -> None:
    """The crafted archive is what an encrypting zip tool writes: its password opens it."""
    data = UNREADABLE["encrypted.zip"][0]()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.infolist()[0].flag_bits & 0x1
        assert archive.read("e.csv", pwd=b"secret") == csv_bytes("e", 3)


@pytest.mark.parametrize("name", UNREADABLE)
def test_an_unreadable_file_fails_alone(name: str, tmp_path: Path, cli: Any) -> None:
    make, word = UNREADABLE[name]
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "a-first.csv").write_bytes(csv_bytes("a", 3))
    (inbox / name).write_bytes(make())
    (inbox / "z-last.csv").write_bytes(csv_bytes("z", 3))
    store_dir = tmp_path / "store"
    code, out = ingest(cli, inbox, "--store", store_dir)
    assert code == 1
    assert statuses(out) == [
        ("a-first.csv", "ingested"),
        (name, "failed"),
        ("z-last.csv", "ingested"),
    ]
    assert out["failed_files"] == 1
    message = out["files"][1]["message"]
    assert name in message and word in message, message
    assert "nothing from it was stored" in message
    assert stored_ids(store_dir) == ["a0", "a1", "a2", "z0", "z1", "z2"]
    # Not recorded: it is tried again (and fails again) the next time.
    assert len(catalog(store_dir)) == 2
    text = cli("ingest", inbox, "--store", store_dir)
    assert text.exit_code == 1
    assert "Failed:" in text.output and name in text.output
    assert "Internal error" not in text.output


def test_the_library_reports_an_unreadable_file(tmp_path: Path, store_dir: Path) -> None:
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(UNREADABLE["truncated.csv.gz"][0]())
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes("g", 2))
    report = ingest_paths([str(broken), str(good)], store=store_dir, timezone=TZ)
    assert [f.status for f in report.files] == ["failed", "ingested"]
    assert report.to_dict()["failed_files"] == 1
    assert report.totals["accepted"] == 2


def test_a_bug_met_in_one_file_does_not_stop_the_others(
    write: Callable[..., Path], cli: Any, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qostool.ingest import pipeline

    real = pipeline.canonicalise

    def canonicalise(raw: pl.DataFrame, *args: Any) -> pl.DataFrame:
        if raw["test_id"].str.starts_with("boom").any():
            raise ZeroDivisionError("a bug")
        return real(raw, *args)

    monkeypatch.setattr(pipeline, "canonicalise", canonicalise)
    first = write("a.csv", csv_bytes("boom", 2))
    second = write("b.csv", csv_bytes("fine", 2))
    code, out = ingest(cli, first, second, "--store", store_dir)
    assert code == 1
    assert statuses(out) == [("a.csv", "failed"), ("b.csv", "ingested")]
    assert "ZeroDivisionError: a bug" in out["files"][0]["message"]
    assert "a bug in qostool" in out["files"][0]["message"]
    assert stored_ids(store_dir) == ["fine0", "fine1"]
    # With --debug the traceback is shown instead.
    with pytest.raises(ZeroDivisionError):
        cli("ingest", first, "--store", store_dir, "--debug")


@pytest.mark.slow
def test_run_goes_on_past_a_half_uploaded_gzip_and_retries_it(tmp_path: Path, cli: Any) -> None:
    from tests.test_run import MONTH, SAMPLES, setup_folder

    config = setup_folder(tmp_path)
    complete = gzip.compress((SAMPLES / "rtr_2025-10.csv").read_bytes())
    half = tmp_path / "inbox" / "late.csv.gz"
    shutil.move(tmp_path / "inbox" / "rtr_2025-10.csv", tmp_path / "rtr.csv")
    half.write_bytes(complete[: len(complete) // 2])
    result = cli("run", "--config", config, "--month", MONTH, "--json")
    assert result.exit_code == 0, result.output  # set aside, with a warning ([ingest] strict)
    summary = json.loads(result.stdout)
    steps = {s["step"]: s["action"] for s in summary["steps"]}
    done = dict.fromkeys(("ingest", "boundaries", "analyze", "report"), "done")
    assert steps == {**done, "history": "skipped"}
    assert summary["failed_files"] == 1
    [failed] = [f for f in summary["files"] if f["status"] == "failed"]
    assert failed["file"] == str(half) and "truncated" in failed["message"]
    [held] = summary["held_files"]
    assert held["file"] == str(half) and held["new"] and "truncated" in held["reason"]
    assert str(half) not in {f.name for f in catalog(tmp_path / "store")}
    half.write_bytes(complete)  # the upload completes: the file changed, so it is tried again
    again = cli("run", "--config", config, "--month", MONTH, "--json")
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert [(f["file"], f["status"]) for f in summary["files"]] == [(str(half), "ingested")]
    assert {s["step"]: s["action"] for s in summary["steps"]}["analyze"] == "done"


# -- block ends ----------------------------------------------------------------------------


def _read_rows(path: Path, mode: src.ReadMode) -> list[tuple[Any, ...]]:
    source = src.Source(path)
    dialect = src.sniff(source, encoding=None, delimiter=None)
    assert dialect is not None
    ragged = src.Ragged()
    frames = list(src.read_csv(source, dialect, mode=mode, ragged=ragged))
    assert not ragged.rows
    return pl.concat(frames).rows()


@pytest.mark.parametrize("mode", [src.ReadMode.THREADED, src.ReadMode.NUMBERED])
def test_quoted_line_breaks_at_block_ends(
    mode: src.ReadMode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyArrow cuts blocks where no quote is open: a note over two lines stays one value."""
    monkeypatch.setattr(src, "_BLOCK_BYTES", 64)
    path = tmp_path / "notes.csv"
    path.write_bytes(b"id,note\n" + b"".join(b'%d,"x\ny %d"\n' % (i, i) for i in range(50)))
    rows = _read_rows(path, mode)
    assert rows == [(str(i), f"x\ny {i}", i + 2) for i in range(50)]


@pytest.mark.parametrize("mode", [src.ReadMode.THREADED, src.ReadMode.NUMBERED])
def test_a_quoted_cr_lf_split_by_a_block_end_keeps_its_lf(
    mode: src.ReadMode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that ends between the CR and the LF inside a quoted value (apache/arrow#51368)."""
    data = b'id,note\n1,"' + b"x" * 40 + b'\r\ny"\n2,z\n'
    monkeypatch.setattr(src, "_BLOCK_BYTES", data.index(b"\r") + 1)
    path = tmp_path / "notes.csv"
    path.write_bytes(data)
    assert _read_rows(path, mode) == [("1", "x" * 40 + "\r\ny", 2), ("2", "z", 3)]


# -- stray quotes --------------------------------------------------------------------------


def test_a_stray_quote_does_not_swallow_the_rest_of_the_file(
    write: Callable[..., Path], cli: Any, store_dir: Path
) -> None:
    """Its line is read with the quote as a plain character; the lines after it are rows."""
    rows = good_rows("s", 3000)  # about 200 kB after the quote: over csv's field limit
    rows[10] = 's-stray,2025-10-10T10:00:00+07:00,21.5,103.2,"40,10,20,dev-1'
    rows[20] = "s-short,2025-10-10T10:00:00+07:00,21.5"
    path = write("stray.csv", "\n".join([HEADER, *rows]) + "\n")
    code, out = ingest(cli, path, "--store", store_dir)
    assert code == 0
    file = out["files"][0]
    assert (file["read"], file["accepted"]) == (3000, 2998)
    assert file["rejected_by_reason"] == {"invalid_speed": 1, "short_row": 1}
    found = rejects(store_dir).sort("row")
    assert found["row"].to_list() == [12, 22]
    assert json.loads(found["original"][0])["download_mbps"] == '"40'
    assert stored(store_dir).height == 2998


@pytest.mark.parametrize("packing", ["plain", "gzip"])
def test_a_quote_never_closed_in_the_last_field(packing: str, tmp_path: Path, cli: Any) -> None:
    """The last field of a row opens a quote that runs to the end of the file: rows again."""
    rows = good_rows("s", 3000)
    rows[5] = rows[5].rsplit(",", 1)[0] + ',"Galaxy S10'
    data = ("\n".join([HEADER, *rows]) + "\n").encode()
    path = tmp_path / ("stray.csv.gz" if packing == "gzip" else "stray.csv")
    path.write_bytes(gzip.compress(data) if packing == "gzip" else data)
    code, out = ingest(cli, path, "--store", tmp_path / "store")
    assert code == 0
    assert (out["totals"]["read"], out["totals"]["accepted"]) == (3000, 3000)


def test_a_closed_quoted_value_over_lines_stays_one_value(tmp_path: Path, cli: Any) -> None:
    """A last value that holds line breaks and delimiters, quoted and closed, is one value."""
    note = "first line\nr9,2025-10-10T10:00:00+07:00,21.5,103.2,1,1,1,d\nlast"
    rows = [f'{row},"{note}"' for row in good_rows("n", 3)]
    path = tmp_path / "notes.csv.gz"
    path.write_bytes(gzip.compress(("\n".join([HEADER + ",note", *rows]) + "\n").encode()))
    code, out = ingest(cli, path, "--store", tmp_path / "store")
    assert (code, out["totals"]["read"], out["totals"]["accepted"]) == (0, 3, 3)


# -- internal names ------------------------------------------------------------------------


def test_a_column_named_like_the_row_number(
    write: Callable[..., Path], cli: Any, store_dir: Path, tmp_path: Path
) -> None:
    """``__row`` is read as ``__row~2``, as a repeated name is: the rows keep their numbers."""
    text = "\n".join(
        [HEADER + ",__row", *(r + ",x" for r in good_rows("r", 2)), "r-bad,,21.5,103.2,1,1,1,d,y"]
    )
    parquet = tmp_path / "rows.parquet"
    pl.DataFrame(
        {
            "test_id": ["p1", "p2"],
            "time": ["2025-10-10T10:00:00Z", ""],
            "latitude": ["21.5", "21.5"],
            "longitude": ["103.2", "103.2"],
            "download_mbps": ["40", "40"],
            "__row": [7, 8],
        }
    ).write_parquet(parquet)
    code, out = ingest(cli, write("rows.csv", text + "\n"), parquet, "--store", store_dir)
    assert code == 0
    assert [(f["status"], f["accepted"], f["rejected"]) for f in out["files"]] == [
        ("ingested", 2, 1),
        ("ingested", 1, 1),
    ]
    found = rejects(store_dir).sort("file")
    assert found["row"].to_list() == [4, 2]  # the CSV's fourth row, the Parquet file's second
    assert [json.loads(o)["__row~2"] for o in found["original"]] == ["y", 8]
