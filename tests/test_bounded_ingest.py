"""Ingest in bounded memory: ragged rows handed on in chunks, archives of many members.

Speed and memory are measured by ``bench/bench_hostile.py``, not here; these tests
check that what is streamed in pieces comes out whole: every ragged row rejected
once, with its number and values, when they come in many chunks, and every
member of a large archive ingested once.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qostool.ingest import pipeline
from qostool.ingest import sources as src
from tests.conftest import ingest_json, rejects, stored

HEADER = "test_id,time,latitude,longitude,download_mbps,upload_mbps,latency_ms,device_id"


def _row(i: int, prefix: str = "r") -> str:
    return f"{prefix}{i},2025-10-10T10:00:00+07:00,21.5,103.2,{40 + i}.5,10,20,dev-{i}"


def _ragged_file(count: int) -> tuple[str, dict[int, str]]:
    """A CSV of ``count`` rows, every third short and every seventh long, and those rows."""
    lines, ragged = [HEADER], {}
    for i in range(count):
        line = _row(i)
        if i % 3 == 1:
            line = line.rsplit(",", 2)[0]  # no latency, no device
        elif i % 7 == 0:
            line = f"{line},extra-{i}"
        if line != _row(i):
            ragged[i + 2] = line  # row numbers: the header is row 1
        lines.append(line)
    return "\n".join(lines) + "\n", ragged


@pytest.mark.parametrize("packing", ["plain", "gzip"])
def test_ragged_rows_in_many_chunks_are_each_rejected_once(
    packing: str, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(src, "RAGGED_CHUNK_ROWS", 7)
    monkeypatch.setattr(pipeline, "FLUSH_ROWS", 50)
    text, ragged = _ragged_file(600)
    path = tmp_path / ("ragged.csv" if packing == "plain" else "ragged.csv.gz")
    path.write_bytes(text.encode() if packing == "plain" else gzip.compress(text.encode()))
    out = ingest_json(cli, path, "--store", tmp_path / "store")
    file = out["files"][0]
    assert (file["read"], file["accepted"], file["rejected"]) == (
        600,
        600 - len(ragged),
        len(ragged),
    )
    short = sum(line.count(",") < 7 for line in ragged.values())
    assert file["rejected_by_reason"] == {"short_row": short, "long_row": len(ragged) - short}
    frame = rejects(tmp_path / "store").sort("row")
    assert frame["row"].to_list() == sorted(ragged)
    for number, original in zip(frame["row"], frame["original"], strict=True):
        values = json.loads(original)
        i = number - 2
        assert f"dev-{i}" not in original  # pseudonymised wherever it may have moved
        if ragged[number].count(",") > 7:  # long: the values before the device's column
            assert values["test_id"] == f"r{i}"
            assert values["download_mbps"] == f"{40 + i}.5"
            # after the device's column: may be the device, shifted, so pseudonymised too
            assert len(values["_extra_fields"]) == 1
            assert f"extra-{i}" not in original
        else:  # short: any value may be the device, shifted left
            assert list(values) == HEADER.split(",")[:6]
            assert f'"r{i}"' not in original
    ids = sorted(stored(tmp_path / "store")["test_id"].to_list())
    assert ids == sorted(f"r{n - 2}" for n in range(2, 602) if n not in ragged)


def test_stray_quotes_read_again_across_chunks(
    write: Callable[..., Path], cli: Any, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines taken in by a stray quote are rows again, whichever chunk they come in."""
    monkeypatch.setattr(src, "RAGGED_CHUNK_ROWS", 2)
    rows = [_row(i) for i in range(40)]
    for i in (5, 17, 30):  # a quote opened in the device id, closed lines later
        rows[i] = rows[i].replace(f"dev-{i}", f'dev "{i}')
    for i in (6, 18, 31):
        rows[i] = rows[i].replace(f"dev-{i}", f'dev {i}"x')
    out = ingest_json(
        cli, write("stray.csv", "\n".join([HEADER, *rows]) + "\n"), "--store", store_dir
    )
    file = out["files"][0]
    assert file["read"] == 40
    assert file["read"] == file["accepted"] + file["rejected"] + file["duplicates"]
    assert sorted(
        stored(store_dir)["test_id"].to_list()
        + [json.loads(o)["test_id"] for o in rejects(store_dir)["original"]]
    ) == sorted(f"r{i}" for i in range(40))


def test_an_error_of_the_ragged_rows_sink_stops_the_reader(tmp_path: Path) -> None:
    """The parser swallows errors of its handler: the reader raises it again."""
    text, _ = _ragged_file(50)
    path = tmp_path / "ragged.csv"
    path.write_text(text, encoding="utf-8")
    source = src.Source(path)
    dialect = src.sniff(source, encoding=None, delimiter=None)
    assert dialect is not None

    def sink(rows: list[src.RaggedRow]) -> None:
        raise OSError(28, "No space left on device")

    ragged = src.Ragged(sink=sink, chunk_rows=3)
    with pytest.raises(OSError, match="No space left"):
        list(src.read_csv(source, dialect, mode=src.ReadMode.NUMBERED, ragged=ragged))


def test_the_threaded_reader_stops_at_the_first_ragged_row(tmp_path: Path) -> None:
    text, _ = _ragged_file(50)
    path = tmp_path / "ragged.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    source = src.Source(path)
    dialect = src.sniff(source, encoding=None, delimiter=None)
    assert dialect is not None
    ragged = src.Ragged()
    with pytest.raises(src.ReadAgainError) as raised:
        list(src.read_csv(source, dialect, mode=src.ReadMode.THREADED, ragged=ragged))
    assert raised.value.mode is src.ReadMode.NUMBERED
    assert not ragged.rows


def _archive(members: int, repeat: int | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for m in range(members):
            rows = [_row(i, f"m{m}-") for i in range(3)]
            if m == repeat:
                rows.append(_row(0, "m0-"))  # a test of the first member, again
            archive.writestr(f"export-{m:03d}.csv", "\n".join([HEADER, *rows]) + "\n")
    return buffer.getvalue()


def test_every_member_of_a_large_archive_is_ingested_once(tmp_path: Path, cli: Any) -> None:
    path = tmp_path / "many.zip"
    path.write_bytes(_archive(120, repeat=77))
    store_dir = tmp_path / "store"
    out = ingest_json(cli, path, "--store", store_dir)
    names = [f["file"].split("!")[1] for f in out["files"]]
    assert names == [f"export-{m:03d}.csv" for m in range(120)]
    assert {f["status"] for f in out["files"]} == {"ingested"}
    assert out["totals"]["read"] == 361
    assert out["totals"]["duplicates"] == 1
    assert out["files"][77]["duplicates"] == 1
    ids = stored(store_dir)["test_id"].to_list()
    assert sorted(ids) == sorted(f"m{m}-{i}" for m in range(120) for i in range(3))
    again = ingest_json(cli, path, "--store", store_dir)
    assert {f["status"] for f in again["files"]} == {"already ingested"}


def test_values_of_ragged_rows_are_pseudonymised_without_being_remembered() -> None:
    """The same pseudonyms, but a run's memory does not grow with every value of such rows."""
    import polars as pl

    from qostool.privacy import Pseudonymiser

    pseudonymiser = Pseudonymiser(b"k" * 32)
    values = pl.Series("v", [" dev-1 ", "", None, "r42", "dev-1"])
    alone = pseudonymiser.unremembered(values)
    assert pseudonymiser._known.is_empty()
    assert alone.to_list() == pseudonymiser.text(values).to_list()  # the rejects' text form
    assert alone.to_list()[1:3] == [None, None]
