"""Pseudonymisation of device identifiers with a keyed hash.

A raw identifier (IMEI, advertising id, app install id...) never reaches the
store: it is replaced by ``BLAKE2b(key=store secret, raw)``, so the same device
gets the same pseudonym in every file of a store, and nobody without the
store's ``secret.key`` can test a guessed identifier against it.
"""

from __future__ import annotations

import hashlib
from typing import Final

import polars as pl

_DIGEST_BYTES: Final = 16


def pseudonymise(values: pl.Series, key: bytes) -> pl.Series:
    """Replace each non-null value by its keyed hash (32 hex characters).

    Hashes each distinct value once, so the cost grows with the number of
    devices, not of tests.
    """
    text = values.cast(pl.String).str.strip_chars()
    text = pl.select(pl.when(text.str.len_bytes() > 0).then(text)).to_series()
    uniques = text.drop_nulls().unique()
    hashed = [
        hashlib.blake2b(raw.encode("utf-8"), key=key, digest_size=_DIGEST_BYTES).hexdigest()
        for raw in uniques.to_list()
    ]
    mapping = dict(zip(uniques.to_list(), hashed, strict=True))
    return text.replace_strict(mapping, default=None, return_dtype=pl.String).alias(values.name)
