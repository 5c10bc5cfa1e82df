"""The CSV readers: the Polars one gives what the PyArrow ones give, or hands the file over."""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from qostool.ingest import sources as src
from qostool.schema import Reason
from tests.conftest import ingest_json, rejects, stored

#: Files every reader can read whole: they must come out the same from each.
WHOLE_FILES: dict[str, bytes] = {
    "bom and CRLF": "\ufefftest_id,time,x\r\na1,2025-10-10 10:00,1.5\r\na2,2025-10-10,2\r\n".encode(),
    "quoted fields": b'id,name,v\n1,"Viettel, HN",3\n2,"say ""hi""",4\n3,"",5\n',
    "quoted newline": b'id,note,v\n1,"two\nlines",3\n2,x,4\n',
    "null texts": b"id,a,v\n1,NA,3\n2,null,4\n3,N/A,5\n4,,6\n5,-,7\n",
    "semicolon, decimal comma": "id;tốc độ;v\nx1;45,5;Mường Tè\nx2;1.234,5;Hà Nội\n".encode(),
    "tab": b"id\tv\tw\n1\t2\t3\n",
    "no final newline": b"id,v\n1,2\n2,3",
    "header only": b"id,v\n",
}

#: Files the Polars reader must hand over to PyArrow, and what it would get wrong.
HANDED_OVER: dict[str, bytes] = {
    "short row": b"id,v,w\n1,2,3\n4,5\n6,7,8\n",
    "long row": b"id,v,w\n1,2,3\n4,5,6,7\n",
    "blank line": b"id,v,w\n1,2,3\n\n6,7,8\n",
    "empty last field": b"id,v,w\n1,2,\n",
    "bad UTF-8 after the sniffed sample": b"id,v,w\n" + b"1,2,3\n" * 12_000 + b"4,\xff,6\n",
}


def _read(path: Path, mode: src.ReadMode) -> tuple[pl.DataFrame, src.Ragged]:
    source = src.Source(path)
    dialect = src.sniff(source, encoding=None, delimiter=None)
    assert dialect is not None
    ragged = src.Ragged()
    frames = list(src.read_csv(source, dialect, mode=mode, ragged=ragged))
    header = dict.fromkeys(dialect.header, pl.String)
    empty = pl.DataFrame(schema={**header, src.ROW_COLUMN: pl.Int64})
    return pl.concat([empty, *frames]), ragged


@pytest.mark.parametrize("name", WHOLE_FILES)
def test_every_reader_gives_the_same_rows(name: str, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(WHOLE_FILES[name])
    source = src.Source(path)
    dialect = src.sniff(source, encoding=None, delimiter=None)
    assert dialect is not None
    assert src.first_mode(source, dialect) is src.ReadMode.POLARS
    fast, _ = _read(path, src.ReadMode.POLARS)
    for mode in (src.ReadMode.THREADED, src.ReadMode.NUMBERED):
        other, ragged = _read(path, mode)
        assert not ragged.rows
        assert_frame_equal(fast, other)


def test_null_texts_and_quotes_read_as_pyarrow_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(WHOLE_FILES["null texts"] + b'6,"NA",8\n')
    fast, _ = _read(path, src.ReadMode.POLARS)
    assert fast["a"].to_list() == [None, None, None, None, "-", None]
    assert fast[src.ROW_COLUMN].to_list() == [2, 3, 4, 5, 6, 7]
    quoted, _ = _read(_written(tmp_path, WHOLE_FILES["quoted fields"]), src.ReadMode.POLARS)
    assert quoted["name"].to_list() == ["Viettel, HN", 'say "hi"', None]


def test_the_polars_reader_hands_on_each_batch_in_one_chunk(tmp_path: Path) -> None:
    # The streaming reader makes a batch of many chunks; normalising would copy its
    # columns again each time one met a column of one chunk (see sources._read_polars).
    rows = b"".join(b"t%d,2025-10-10T10:00:00+07:00,%d.5\n" % (i, i) for i in range(60_000))
    source = src.Source(_written(tmp_path, b"id,time,v\n" + rows))
    dialect = src.sniff(source, encoding=None, delimiter=None)
    assert dialect is not None
    frames = list(src.read_csv(source, dialect, mode=src.ReadMode.POLARS, ragged=src.Ragged()))
    assert sum(frame.height for frame in frames) == 60_000
    assert all(frame.n_chunks("all") == [1] * frame.width for frame in frames)


def _written(tmp_path: Path, content: bytes, name: str = "other.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("name", HANDED_OVER)
def test_the_polars_reader_hands_over_what_it_cannot_read(name: str, tmp_path: Path) -> None:
    path = _written(tmp_path, HANDED_OVER[name])
    with pytest.raises(src.ReadAgainError) as raised:
        _read(path, src.ReadMode.POLARS)
    assert raised.value.mode is src.ReadMode.THREADED


def test_compressed_and_transcoded_files_skip_the_polars_reader(tmp_path: Path) -> None:
    plain = b"id,v\n1,2\n"
    cases = {
        "export.csv.gz": gzip.compress(plain),
        "utf16.csv": "id,v\n1,2\n".encode("utf-16"),
    }
    for file_name, content in cases.items():
        source = src.Source(_written(tmp_path, content, file_name))
        dialect = src.sniff(source, encoding=None, delimiter=None)
        assert dialect is not None
        assert src.first_mode(source, dialect) is src.ReadMode.THREADED, file_name
    source = src.Source(_written(tmp_path, "id¦v\n1¦2\n".encode(), "pipe.csv"))
    dialect = src.sniff(source, encoding=None, delimiter="¦")
    assert dialect is not None
    assert src.first_mode(source, dialect) is src.ReadMode.THREADED


HEADER = "test_id,time,latitude,longitude,download_mbps,upload_mbps,latency_ms,device_id"


@pytest.mark.parametrize(
    "bad", ["r9,2025-10-10T10:00:00Z,21.5", "r9,2025-10-10T10:00:00Z,21.5,103.2,40,10,20,d,x"]
)
def test_a_file_handed_over_late_is_stored_once(
    bad: str,
    write: Callable[..., Path],
    cli: Any,
    store_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batches read before the hand-over are dropped: each test is stored exactly once."""
    monkeypatch.setattr(src, "_POLARS_BATCH_ROWS", 2)
    rows = [
        f"g{i},2025-10-10T10:00:00+07:00,21.5,103.2,{40 + i},10,20,dev-{i % 3}" for i in range(9)
    ]
    rows.insert(8, bad)  # after four batches of two rows
    path = write("late.csv", "\n".join([HEADER, *rows]) + "\n")
    out = ingest_json(cli, path, "--store", store_dir)
    assert out["totals"] == {
        "read": 10,
        "accepted": 9,
        "rejected": 1,
        "duplicates": 0,
        "rejected_by_reason": {
            (Reason.SHORT_ROW if bad.count(",") < 7 else Reason.LONG_ROW).value: 1
        },
    }
    frame = stored(store_dir)
    assert sorted(frame["test_id"].to_list()) == sorted(f"g{i}" for i in range(9))
    assert sorted(frame["download_mbps"].to_list()) == [40.0 + i for i in range(9)]
    assert frame["device_id"].n_unique() == 3
    assert rejects(store_dir)["row"].to_list() == [10]


def test_null_texts_are_pyarrows_defaults() -> None:
    import pyarrow.csv as pacsv

    assert tuple(pacsv.ConvertOptions().null_values) == src.NULL_TEXTS


def test_a_plain_csv_is_ingested_without_numpy_or_pyarrow(tmp_path: Path) -> None:
    """Their imports cost a noticeable share of a large ingest: only other files need them."""
    path = _written(
        tmp_path, (HEADER + "\nz1,2025-10-10T10:00:00Z,21.5,103.2,40,10,20,d\n").encode()
    )
    code = (
        "import sys\n"
        "from qostool.cli import app\n"
        f"try: app(['ingest', {str(path)!r}, '--store', {str(tmp_path / 's')!r}, '--json'])\n"
        "except SystemExit as done: assert done.code == 0, done.code\n"
        "print(sorted(m for m in ('numpy', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "s" / "tests").is_dir()
