"""Migrating a store of an earlier layout, once, when it is opened.

Layout 1 stored device pseudonyms as text, 16 hex digits; layout 2 stores the
same 64 bits as a signed 64-bit integer (:mod:`qostool.privacy`). Every test part
whose ``device_id`` column is still text is rewritten with the integer column,
then ``store.json`` says layout 2. Nothing else of a part changes: the same
rows, in the same order, under the same path, so the catalog stays true as it is.

Safe to stop at any moment. A part is rewritten to a new file in ``staging/``,
flushed to disk, then renamed over the old one (an atomic replace), and the
folder flushed: at every moment each part is whole, in the old form or the new.
``store.json`` is written last, the same way. A migration killed halfway leaves
layout 1 with some parts converted; the next open takes the lock (which clears
``staging/``), passes over the parts already converted and converts the rest.
Readers never see the mixture: every command opens the store, and so migrates
it, before it reads a part.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

import polars as pl

from qostool import __version__
from qostool.privacy import from_stored_text
from qostool.store import (
    LAYOUT_VERSION,
    STAGING,
    Store,
    _fsync_path,
    _read_description,
    _write_part_file,
    crash_point,
)

#: What the pseudonyms' column holds in each layout.
DEVICE_COLUMN: Final = "device_id"


def migrate_layout(store: Store, *, notice: Callable[[str], None] | None = None) -> None:
    """Bring the store at ``store.root`` to :data:`LAYOUT_VERSION` (call without the lock).

    Takes the write lock (another qostool process writing: :class:`StoreBusyError`,
    exit 3, and nothing changed), then converts each test part still in the old
    form. ``notice`` gets one sentence saying what was migrated (default: stderr).
    """
    with store.write_lock():
        meta = _read_description(store.root)
        if meta["layout"] == LAYOUT_VERSION:  # another process migrated it meanwhile
            return
        converted, rows, already = 0, 0, 0
        for path in store.part_paths("tests"):  # each checked whole first (else: repair hint)
            if pl.read_parquet_schema(path).get(DEVICE_COLUMN) != pl.String:
                already += 1
                continue
            frame = pl.read_parquet(path)
            frame = frame.with_columns(from_stored_text(frame[DEVICE_COLUMN], store.secret))
            staged = store.root / STAGING / f"migrate-{uuid.uuid4().hex}.parquet"
            staged.parent.mkdir(parents=True, exist_ok=True)
            _write_part_file(frame, staged)
            os.replace(staged, path)
            _fsync_path(path.parent)
            converted, rows = converted + 1, rows + frame.height
            crash_point("migrate-part-replaced")
        meta = {
            **meta,
            "layout": LAYOUT_VERSION,
            "migrated": [
                *meta.get("migrated", []),
                {
                    "from": meta["layout"],
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "by": __version__,
                },
            ],
        }
        tmp = store.root / f".store.json.{uuid.uuid4().hex}"
        tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        _fsync_path(tmp)
        os.replace(tmp, store.root / "store.json")
        _fsync_path(store.root)
    resumed = f"; {already} part(s) were converted by an interrupted run" if already else ""
    say = notice or (lambda text: print(text, file=sys.stderr))
    say(
        f"{store.root}: store migrated to layout {LAYOUT_VERSION}: device pseudonyms of "
        f"{converted} test part(s) ({rows:,} rows) are now stored as 64-bit integers"
        f"{resumed}. Counts of devices are unchanged; qostool older than this one cannot "
        "read the store any more."
    )
