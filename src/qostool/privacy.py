"""Pseudonymisation of device identifiers with a keyed hash.

A raw identifier (IMEI, advertising id, app install id...) never reaches the
store: it is replaced by ``BLAKE2b(key=store secret, raw)``, so the same device
gets the same pseudonym in every file of a store, and nobody without the
store's ``secret.key`` can test a guessed identifier against it.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Final

import polars as pl

_DIGEST_BYTES: Final = 8  # 64 bits: collisions need ~4 billion devices


class Pseudonymiser:
    """Keyed hashing of identifiers, each distinct value hashed once per run."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self._known = pl.DataFrame(schema={"raw": pl.String, "pseudonym": pl.String})
        self._lock = threading.Lock()

    def __call__(self, values: pl.Series) -> pl.Series:
        """Replace each non-empty value by its pseudonym (16 hex characters). Thread-safe."""
        text = values.cast(pl.String).str.strip_chars()
        frame = pl.select(pl.when(text.str.len_bytes() > 0).then(text).alias("raw"))
        with self._lock:
            known = self._known
        joined = frame.join(known, on="raw", how="left", maintain_order="left")
        unknown = joined.filter(pl.col("pseudonym").is_null() & pl.col("raw").is_not_null())
        if unknown.height:  # only devices not seen before in this run are hashed
            with self._lock:
                self._learn(unknown.select("raw").unique())
                known = self._known
            joined = frame.join(known, on="raw", how="left", maintain_order="left")
        return joined["pseudonym"].alias(values.name)

    def _learn(self, distinct: pl.DataFrame) -> None:
        new = distinct.join(self._known, on="raw", how="anti")["raw"].to_list()
        if new:
            hashed = [
                hashlib.blake2b(raw.encode(), key=self.key, digest_size=_DIGEST_BYTES).hexdigest()
                for raw in new
            ]
            self._known = pl.concat(
                [self._known, pl.DataFrame({"raw": new, "pseudonym": hashed})], rechunk=True
            )
